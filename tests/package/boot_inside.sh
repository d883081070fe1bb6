#!/bin/sh
# Runs inside the systemd container of test_package_boot.py, as a oneshot
# unit once the container has booted: installs the package, then drives
# sipsgate.service and sipsgate@.service through systemctl. One line per
# check in /sgout/result ("ok ..." or "FAIL ..."), details in /sgout/log.
# $1: the .deb.
set -u
DEB=$1
OUT=/sgout/result
LOG=/sgout/log
: >"$OUT"
exec >>"$LOG" 2>&1

ok() { echo "ok $*" >>"$OUT"; }
fail() { echo "FAIL $*" >>"$OUT"; }
t() {	# t "what" command...: ok if the command succeeds
	what=$1; shift
	echo "== $what: $*"
	if "$@"; then ok "$what"; else fail "$what"; fi
}
prop() { systemctl show -P "$2" "$1"; }
status_as() {	# status_as USER [ARGS]: sipsgate status as that user
	u=$1; shift
	runuser -u "$u" -- /usr/sbin/sipsgate "$@" status
}

# The container's root is an overlay of the host's: start from no sipsgate
# whatever the host has (this changes only the container's copy).
dpkg -P sipsgate >/dev/null 2>&1
rm -rf /etc/sipsgate

t "dpkg -i" dpkg -i "$DEB"
t "user sipsgate exists" id sipsgate
t "units are loaded" sh -c \
    'systemctl cat sipsgate.service sipsgate@x.service >/dev/null'

# The container boots what the host has installed: SIP servers that the
# test machine carries as test peers (Kamailio) would hold 5060 here.
systemctl stop kamailio.service rtpengine-daemon.service 2>/dev/null || true

# Certificates as the man page says; the key belongs to the unit's user.
C=/etc/sipsgate/certs
sipsgate-certs --dir $C ca &&
    sipsgate-certs --dir $C server gw --ip 127.0.0.1 &&
    sipsgate-certs --dir $C client peer --ip 127.0.0.1
chown sipsgate: $C/gw.key
sed -i '1i metrics = 127.0.0.1:9363' /etc/sipsgate/sipsgate.conf
cat >/etc/sipsgate/conf.d/lab.conf <<EOF
[lab]
accept = udp:127.0.0.1:5060
accept = tls:127.0.0.1:5061
connect = udp:127.0.0.1:5070
trusted = 127.0.0.1
cert = $C/gw.crt
key = $C/gw.key
ca = $C/ca.crt
media-inside = 127.0.0.1
media-outside = 127.0.0.1
EOF

t "systemctl start sipsgate" systemctl start sipsgate.service
t "active" systemctl is-active --quiet sipsgate.service
pid=$(prop sipsgate.service MainPID)
echo "MainPID $pid"
grep -E '^(Uid|Gid|Cap(Inh|Prm|Eff|Bnd|Amb)|NoNewPrivs|Seccomp):' \
    /proc/"$pid"/status
t "runs as user sipsgate" sh -c "ps -o user= -p $pid | grep -qx sipsgate"
# 0x400 = CAP_NET_BIND_SERVICE, and nothing else.
t "only CAP_NET_BIND_SERVICE" sh -c \
    "grep -q '^CapEff:.*0000000000000400$' /proc/$pid/status"
t "no new privileges" sh -c "grep -q '^NoNewPrivs:.*1$' /proc/$pid/status"
t "seccomp filter on" sh -c "grep -q '^Seccomp:.*2$' /proc/$pid/status"
t "bound 5060 and 5061 as non-root" sh -c \
    "ss -lnup | grep -q '127.0.0.1:5060' && ss -lntp | grep -q '127.0.0.1:5061'"
# shellcheck disable=SC2016
t "control socket 0660 in /run/sipsgate 0750" sh -c \
    'test "$(stat -c %a:%U:%G /run/sipsgate)" = 750:sipsgate:sipsgate &&
     test "$(stat -c %a:%U:%G /run/sipsgate/control.sock)" = \
         660:sipsgate:sipsgate'

# The daemon works under its sandbox: a TLS client with a certificate the
# CA signed, then the counters over the control socket and as Prometheus.
t "TLS handshake with the daemon" python3 - <<'EOF'
import socket, ssl
c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
c.load_verify_locations("/etc/sipsgate/certs/ca.crt")
d = "/etc/sipsgate/certs/"
c.load_cert_chain(d + "peer.crt", d + "peer.key")
c.check_hostname = False
s = c.wrap_socket(socket.create_connection(("127.0.0.1", 5061), timeout=5))
s.sendall(b"\r\n\r\n")
print(s.version(), s.cipher())
s.close()
EOF
useradd -M -G sipsgate ops
useradd -M other
sleep 1
status_as ops >/tmp/status 2>&1
cat /tmp/status
t "status as a member of group sipsgate" \
    grep -Eq '^  tls_accepted +[1-9]' /tmp/status
t "status refused to others" sh -c \
    '! runuser -u other -- /usr/sbin/sipsgate status'
t "metrics under the sandbox" python3 -c '
import urllib.request
b = urllib.request.urlopen("http://127.0.0.1:9363/metrics", timeout=5).read()
assert b"sipsgate_uptime_seconds" in b and b"sipsgate_tls_accepted_total" in b'

# Watchdog: systemd sees the pings.
w1=$(prop sipsgate.service WatchdogTimestampMonotonic)
sleep 2
w2=$(prop sipsgate.service WatchdogTimestampMonotonic)
echo "watchdog $w1 -> $w2, WatchdogUSec $(prop sipsgate.service WatchdogUSec)"
t "WATCHDOG=1 reaches systemd" test "$w2" -gt "$w1"

# Journal: our fields.
t "journal carries SIPSGATE_SERVICE" sh -c \
    'journalctl -q -u sipsgate.service SIPSGATE_SERVICE=lab | grep -q .'

# Reload: same process, still active; a broken file is refused and the
# daemon goes on; a restart with it fails in ExecStartPre, naming the line.
t "systemctl reload" systemctl reload sipsgate.service
sleep 1
t "same MainPID after reload" test "$(prop sipsgate.service MainPID)" = "$pid"
t "active after reload" systemctl is-active --quiet sipsgate.service
cp /etc/sipsgate/conf.d/lab.conf /tmp/lab.conf
echo 'verify = maybe' >>/etc/sipsgate/conf.d/lab.conf
systemctl reload sipsgate.service
sleep 1
t "a broken file on reload: still running" sh -c \
    "systemctl is-active --quiet sipsgate.service &&
     test \"\$(systemctl show -P MainPID sipsgate.service)\" = $pid"
t "a broken file: restart fails in ExecStartPre" sh -c \
    '! systemctl restart sipsgate.service'
t "the journal names file, line and key" sh -c \
    "journalctl -q -u sipsgate.service | grep -q \"lab.conf:11: key 'verify'\""
cp /tmp/lab.conf /etc/sipsgate/conf.d/lab.conf
t "starts again once fixed" systemctl restart sipsgate.service

# The template: its own file, runtime directory and socket.
mkdir -p /etc/sipsgate/site-b.d
cat >/etc/sipsgate/site-b.conf <<EOF
control = /run/sipsgate-site-b/control.sock
include = site-b.d
EOF
sed -e 's/\[lab\]/[site-b]/' -e 's/5060/5160/; s/5061/5161/' \
    /etc/sipsgate/conf.d/lab.conf >/etc/sipsgate/site-b.d/b.conf
t "systemctl start sipsgate@site-b" systemctl start sipsgate@site-b.service
t "instance status" sh -c \
    'runuser -u ops -- /usr/sbin/sipsgate -c /etc/sipsgate/site-b.conf \
        status | grep -q "^service site-b"'
t "instance runtime directory" test -S /run/sipsgate-site-b/control.sock
t "main unit unaffected" sh -c \
    'runuser -u ops -- /usr/sbin/sipsgate status | grep -q "^service lab"'
t "stop the instance" systemctl stop sipsgate@site-b.service
t "its runtime directory is gone" test ! -e /run/sipsgate-site-b

systemd-analyze security sipsgate.service | tail -1 >/sgout/exposure
t "systemctl stop" systemctl stop sipsgate.service
t "stopped cleanly" test "$(prop sipsgate.service Result)" = success
t "/run/sipsgate removed" test ! -e /run/sipsgate
journalctl -q -u sipsgate.service -u sipsgate@site-b.service --no-pager
echo "done" >>"$OUT"
