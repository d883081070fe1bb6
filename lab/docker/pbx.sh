#!/bin/sh
# lab/docker/pbx.sh: the compose lab's PBX, Kamailio with the namespace
# lab's tests/lab/kamailio/pbx-udp.cfg (a registrar and proxy on UDP 5060,
# no database, no authentication). Its placeholders are filled in as
# tests/lab/lib.sh (lab_kamailio) fills them, from the environment:
#   PBX_LISTEN    @LISTEN@: the address on pbx-lan (compose.yaml sets it to
#                 the service's ipv4_address; default: the container's
#                 address from its hosts file)
#   PBX_DOMAIN    @DOMAIN@ (default pbx.lab.test)
#   PBX_RUNDIR    @RUNDIR@: pid file, control socket (default /run/kamailio-lab)
#   PBX_TEMPLATE  the template (default /usr/share/sipsgate-lab/kamailio/pbx-udp.cfg)
# Then: kamailio -c (the check), and kamailio -DD -E in the foreground, as
# lab_kamailio runs it.
set -eu

listen=${PBX_LISTEN:-$(hostname -i | awk '{ print $1 }')}
domain=${PBX_DOMAIN:-pbx.lab.test}
run=${PBX_RUNDIR:-/run/kamailio-lab}
tpl=${PBX_TEMPLATE:-/usr/share/sipsgate-lab/kamailio/pbx-udp.cfg}
cfg=$run/kamailio.cfg

mkdir -p "$run"
sed -e "s|@LISTEN@|$listen|g" -e "s|@DOMAIN@|$domain|g" -e "s|@RUNDIR@|$run|g" \
	"$tpl" >"$cfg"
if grep -q '@[A-Z0-9]*@' "$cfg"; then
	echo "pbx: placeholders left in $cfg:" >&2
	grep -n '@[A-Z0-9]*@' "$cfg" >&2
	exit 1
fi
kamailio -c -f "$cfg" -Y "$run" >"$run/check.log" 2>&1 || {
	echo "pbx: kamailio -c rejects $cfg:" >&2
	cat "$run/check.log" >&2
	exit 1
}
echo "pbx: Kamailio on udp:$listen:5060, domain $domain"
exec kamailio -DD -E -f "$cfg" -P "$run/kamailio.pid" -Y "$run" -w "$run" -m 64 -M 8
