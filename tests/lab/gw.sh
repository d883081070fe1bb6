# shellcheck shell=bash
# tests/lab/gw.sh — start sipsgate gateways in the lab (source after lib.sh).
#
#   lab_gw_pair_conf            write $LAB_DIR/gwa.conf and gwb.conf for
#                               lab_topology: gwa = client beside the phones,
#                               gwb = server beside the Kamailio PBX
#   lab_gw_start NS NAME CONF   run sipsgate in NS (log $LAB_DIR/NAME.log)
#   lab_gw_status NAME          `sipsgate status` of gateway NAME
#   lab_gw_counter NAME KEY     one counter of the first service

SIPSGATE=${SIPSGATE:-$LAB_SRC_DIR/build/sipsgate}

lab_gw_pair_conf() {
	local c=${LAB_CERTS:-$LAB_DIR/certs}
	cat >"$LAB_DIR/gwa.conf" <<EOC
control = $LAB_DIR/gwa.sock
log-level = ${LAB_GW_LOG:-info}
[phones]
accept = udp:$LAB_GWA_IN:5060
accept = tcp:$LAB_GWA_IN:5060
accept = tls:$LAB_GWA_WAN:5061
connect = tls:gw-b.lab.test:5061
trusted = 198.18.1.0/24
cert = $c/gw-a.crt
key = $c/gw-a.key
ca = $c/ca.crt
verify = require
keepalive = 10
EOC
	cat >"$LAB_DIR/gwb.conf" <<EOC
control = $LAB_DIR/gwb.sock
log-level = ${LAB_GW_LOG:-info}
[pbx]
accept = tls:$LAB_GWB_WAN:5061
accept = udp:$LAB_GWB_IN:5060
connect = udp:$LAB_PBX:5060
trusted = 198.18.3.0/24
cert = $c/gw-b.crt
key = $c/gw-b.key
ca = $c/ca.crt
verify = require
EOC
}

# lab_gw_direct_conf [EXTRA LINES] — $LAB_DIR/gwa.conf for
# lab_topology_direct: the client gateway beside the phones, straight to a
# SIPS peer (pbx.lab.test:5061), listening for TLS on its outside too for
# peers that open their own connection; EXTRA LINES are appended.
lab_gw_direct_conf() {
	local c=${LAB_CERTS:-$LAB_DIR/certs}
	cat >"$LAB_DIR/gwa.conf" <<EOC
control = $LAB_DIR/gwa.sock
log-level = ${LAB_GW_LOG:-info}
[phones]
accept = udp:$LAB_GWA_IN:5060
accept = tcp:$LAB_GWA_IN:5060
accept = tls:$LAB_GWA_WAN:5061
connect = tls:pbx.lab.test:5061
trusted = 198.18.1.0/24
cert = $c/gw-a.crt
key = $c/gw-a.key
ca = $c/ca.crt
verify = require
${1:-}
EOC
}

# lab_gw_start NS NAME CONF — run sipsgate in NS.  Its TLS secrets go to the
# key log $SSLKEYLOGFILE (default $LAB_DIR/tls-keys.txt: GnuTLS honours the
# variable) so that lab_capture_verdict can read the SDP on the WAN; with
# media = srtp in every service, NS's "wan" addresses join LAB_GW_SRTP_ADDRS;
# its "lan" addresses join LAB_GW_IN_ADDRS.
lab_gw_start() {
	local ns=$1 name=$2 conf=$3 keys=${SSLKEYLOGFILE:-$LAB_DIR/tls-keys.txt} a
	"$SIPSGATE" -t -c "$conf" >"$LAB_DIR/$name-check.log" 2>&1 ||
		lab_fail "sipsgate -t rejects $conf: $(cat "$LAB_DIR/$name-check.log")"
	[[ " ${LAB_KEYLOGS[*]} " == *" $keys "* ]] || LAB_KEYLOGS+=("$keys")
	for a in $(ip -n "$LAB_PFX-$ns" -4 -o addr show dev lan 2>/dev/null |
		awk '{sub("/.*", "", $4); print $4}'); do
		LAB_GW_IN_ADDRS+=("$a")
	done
	if ! grep -qE '^[[:space:]]*media[[:space:]]*=[[:space:]]*(srtp-optional|relay)' "$conf"; then
		for a in $(ip -n "$LAB_PFX-$ns" -4 -o addr show dev wan 2>/dev/null |
			awk '{sub("/.*", "", $4); print $4}'); do
			LAB_GW_SRTP_ADDRS+=("$a")
		done
	fi
	SSLKEYLOGFILE=$keys lab_start "$ns" "$name" "$SIPSGATE" -c "$conf"
	local i
	for i in $(seq 1 50); do
		grep -q 'ready:' "$LAB_DIR/$name.log" 2>/dev/null && return 0
		kill -0 "${LAB_PID_OF[$name]}" 2>/dev/null ||
			lab_fail "sipsgate $name died at start"
		sleep 0.1
	done
	lab_fail "sipsgate $name not ready after 5 s"
}

lab_gw_status() {
	"$SIPSGATE" -s "$LAB_DIR/$1.sock" status
}

lab_gw_counter() {
	lab_gw_status "$1" | awk -v k="$2" '$1 == k { print $2; exit }'
}

# lab_gw_wait_link NAME — wait until gateway NAME has its TLS link up.
lab_gw_wait_link() {
	local i
	for i in $(seq 1 50); do
		lab_gw_status "$1" 2>/dev/null | grep -q '(connect target)' &&
			lab_gw_status "$1" | grep '(connect target)' | grep -q ' up ' &&
			return 0
		sleep 0.1
	done
	lab_fail "gateway $1: TLS link not up after 5 s"
}

# lab_wan_only_tls WAN PLAIN WHERE — the SIP proof on a capture: the SIP
# detector must see plain SIP in PLAIN (captured WHERE), or it proves
# nothing; on WAN it must find none, TLS must be there, and wan_verdict.py
# must find every TCP stream TLS records from start to end.
lab_wan_only_tls() {
	local cap=$1 plain=$2 where=$3 f='sip.Request-Line || sip.Status-Line'
	local lan tls sip
	lan=$(tshark -r "$plain" -Y "$f" 2>/dev/null | wc -l)
	[ "$lan" -gt 20 ] || lab_fail "the SIP detector saw only $lan SIP frames on $where"
	tls=$(tshark -r "$cap" -Y 'tls' 2>/dev/null | wc -l)
	sip=$(tshark -r "$cap" -d tcp.port==5061,sip -Y "$f" 2>/dev/null | wc -l)
	echo "$where: $lan SIP frames; WAN capture: $tls TLS records, $sip frames that parse as SIP"
	[ "$tls" -gt 0 ] || lab_fail "no TLS on the WAN"
	[ "$sip" -eq 0 ] || lab_fail "$sip frames on the WAN parse as plain SIP"
	python3 "$LAB_LIB_DIR/wan_verdict.py" "$cap" || lab_fail "not only TLS crossed the WAN"
}
