#!/usr/bin/env bash
# A client gateway behind NAT (issue 8, seen 7 and "what must be shown" 4):
#   phone A (sipp, 198.18.1.10) -- gwa (198.18.1.1 | 198.18.5.2)
#     -- nat (198.18.5.1 | 198.18.2.1: iptables MASQUERADE to public ports
#        41000-41999) ==TLS/SRTP==> gwb (198.18.2.2 | 198.18.3.1)
#     -- Kamailio pbx-udp (198.18.3.10) -- carol (sipp, 198.18.3.20)
# gwb has no route to 198.18.5.0/24: everything from gwa reaches it from the
# NAT's public address. Phone A registers once, through gwa and gwb.
# Then the link is cut: the NAT drops everything for 2 keep-alive intervals
# (gwa's ping goes unanswered: it must close the dead flow), and comes back
# with another public port range (41000 -> 42000, conntrack flushed), as a
# NAT that lost its bindings does. gwa opens the link again from a new
# public port; gwb's registration binding still names A's flow through gwa
# by gwa's certificate (the flow token names the peer's key, not its
# address), so:
#   - gwa finds the dead flow by a missing pong within 2 x keepalive;
#   - carol calls A at once when the link is back: the call is answered
#     within 5 s of the path returning, with no REGISTER from A since;
#   - media flows both ways through the NAT: what carol received (captured
#     on the PBX LAN) is A's 700 Hz tone, what A received is carol's 2100 Hz
#     tone, and gwa counts SRTP both ways on its outside.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/gw.sh"

for t in iptables conntrack; do
	command -v $t >/dev/null || { echo "$t not installed" >&2; exit 77; }
done

KA=4
GWA_PRIV=198.18.5.2
NAT_IN=198.18.5.1
NAT_OUT=198.18.2.1
CAROL=198.18.3.20
TONE=$LAB_LIB_DIR/tone.py

lab_init nat-link
lab_certs
for ns in phones gwa nat gwb pbx; do lab_ns_add $ns; done
lab_link phones lan $LAB_PHONE_A/24 gwa lan $LAB_GWA_IN/24
lab_link gwa wan $GWA_PRIV/24 nat in $NAT_IN/24
lab_link nat wan $NAT_OUT/24 gwb wan $LAB_GWB_WAN/24
lab_link gwb lan $LAB_GWB_IN/24 pbx lan $LAB_PBX/24
lab_addr pbx lan $CAROL/24
lab_route phones $LAB_GWA_IN
lab_route gwa $NAT_IN
lab_route pbx $LAB_GWB_IN
lab_hosts gwa "$LAB_GWB_WAN gw-b.lab.test"
lab_hosts gwb "$LAB_GWB_WAN gw-b.lab.test" "$LAB_PBX pbx.lab.test"
lab_hosts pbx "$LAB_GWB_IN gw-b.lab.test" "$LAB_PBX pbx.lab.test"
nat() { lab_exec nat "$@"; }
since() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a - b }'; }
less() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a < b) }'; }
nat sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.forwarding=1
nat iptables -t nat -A POSTROUTING -o wan -p tcp -j MASQUERADE --to-ports 41000-41999 &&
	nat iptables -t nat -A POSTROUTING -o wan -p udp -j MASQUERADE --to-ports 41000-41999 ||
	lab_fail "cannot set up the NAT"

c=$LAB_DIR/certs
cat >"$LAB_DIR/gwa.conf" <<EOC
control = $LAB_DIR/gwa.sock
log-level = ${LAB_GW_LOG:-debug}
[phones]
accept = udp:$LAB_GWA_IN:5060
connect = tls:gw-b.lab.test:5061
trusted = 198.18.1.0/24
cert = $c/gw-a.crt
key = $c/gw-a.key
ca = $c/ca.crt
verify = require
keepalive = $KA
media = srtp
rtp-ports = 20000-20999
EOC
cat >"$LAB_DIR/gwb.conf" <<EOC
control = $LAB_DIR/gwb.sock
log-level = ${LAB_GW_LOG:-debug}
[pbx]
accept = tls:$LAB_GWB_WAN:5061
accept = udp:$LAB_GWB_IN:5060
connect = udp:$LAB_PBX:5060
trusted = 198.18.3.0/24
cert = $c/gw-b.crt
key = $c/gw-b.key
ca = $c/ca.crt
verify = require
media = srtp
rtp-ports = 20000-20999
EOC
python3 "$TONE" gen "$LAB_DIR/a.wav" 700 3.4 && python3 "$TONE" ulaw "$LAB_DIR/a.wav" "$LAB_DIR/media-b.raw" &&
	python3 "$TONE" gen "$LAB_DIR/c.wav" 2100 3.4 && python3 "$TONE" ulaw "$LAB_DIR/c.wav" "$LAB_DIR/media-a.raw" ||
	lab_fail "cannot write the tones"

lab_kamailio pbx pbx-udp
lab_gw_start gwb gwb "$LAB_DIR/gwb.conf"
lab_gw_start gwa gwa "$LAB_DIR/gwa.conf"
lab_gw_wait_link gwa
port1=$(lab_gw_status gwb | awk '/connection .* tls from/ { split($5, a, ":"); print a[2]; exit }')
case $port1 in 41???) ;; *) lab_fail "gwb does not see gwa from a NAT port: '$port1'" ;; esac

lab_sipp phones reg register $LAB_PHONE_A $LAB_GWA_IN:5060 alice
lab_wait reg 10 || lab_fail "phone A did not register"
regs=$(grep -c "REQ REGISTER .* from udp:$LAB_GWB_IN" "$LAB_DIR/kamailio.log")
lab_log "phone A registered through the NAT (gwa public port $port1)"
sleep $((KA + 2))	# a ping and its pong: gwb answers pings

# The cut.
nat iptables -I FORWARD -j DROP
t_cut=$(date +%s.%N)
for _ in $(seq 1 $((30 * KA))); do
	grep -q "no pong" "$LAB_DIR/gwa.log" && break
	sleep 0.1
done
t_dead=$(date +%s.%N)
grep -q "no pong" "$LAB_DIR/gwa.log" || lab_fail "gwa did not notice the dead flow"
dt=$(since "$t_dead" "$t_cut")
lab_log "gwa closed the dead flow $dt s after the cut (keepalive $KA s)"
less "$dt" $((2 * KA)) || lab_fail "dead flow found after $dt s, want < $((2 * KA))"
sleep 2
# The path returns, through a NAT that lost its bindings.
nat iptables -t nat -R POSTROUTING 1 -o wan -p tcp -j MASQUERADE --to-ports 42000-42999 &&
	nat iptables -t nat -R POSTROUTING 2 -o wan -p udp -j MASQUERADE --to-ports 42000-42999 &&
	nat conntrack -F >/dev/null 2>&1 &&
	nat iptables -D FORWARD -j DROP || lab_fail "cannot restore the path"
t_back=$(date +%s.%N)

# carol calls A as soon as gwa's link is up again.
for _ in $(seq 1 100); do
	lab_gw_status gwb | grep -qE "connection .* tls from $NAT_OUT:42[0-9]{3} up" && break
	sleep 0.05
done
lab_gw_status gwb | grep -qE "connection .* tls from $NAT_OUT:42[0-9]{3} up" ||
	lab_fail "gwa did not come back from a new public port: $(lab_gw_status gwb | grep connection)"
t_link=$(date +%s.%N)
lab_capture_start phones lan "$LAB_DIR/phones.pcapng"
lab_capture_start pbx lan "$LAB_DIR/pbx.pcapng"
sleep 0.3
lab_sipp phones callee media_uas_any $LAB_PHONE_A $LAB_GWA_IN:5060 alice
sleep 0.2
LAB_CALL_ID=$LAB_PFX-nat-$RANDOM
lab_sipp pbx caller media_uac $CAROL $LAB_PBX:5060 carol -s alice
for _ in $(seq 1 100); do
	grep -q '^answered' "$LAB_DIR/caller.actions" 2>/dev/null && break
	sleep 0.05
done
t_ans=$(date +%s.%N)
grep -q '^answered' "$LAB_DIR/caller.actions" || lab_fail "carol's call to A was not answered"
sleep 1.5
lab_gw_status gwa >"$LAB_DIR/gwa-during.txt"
lab_wait caller 20 || lab_fail "carol's call: sipp exit $?"
lab_wait callee 10 || lab_fail "A's side of the call: sipp exit $?"
lab_capture_stop
d_link=$(since "$t_link" "$t_back")
d_ans=$(since "$t_ans" "$t_back")
lab_log "link back $d_link s, call answered $d_ans s after the path returned"
less "$d_ans" 5 || lab_fail "call answered $d_ans s after the path returned, want < 5"
[ "$(grep -c "REQ REGISTER .* from udp:$LAB_GWB_IN" "$LAB_DIR/kamailio.log")" = "$regs" ] ||
	lab_fail "a REGISTER through the gateways reached Kamailio after the cut"

st() { awk -v k="$1" '$1 == k { print $2; exit }' "$LAB_DIR/gwa-during.txt"; }
for k in srtp_in_outside srtp_out_outside; do
	[ "$(st $k)" -gt 20 ] 2>/dev/null || lab_fail "gwa $k = $(st $k) during the call"
done
python3 "$TONE" check-rtp "$LAB_DIR/phones.pcapng" $LAB_PHONE_A 2100 2 700 ||
	lab_fail "A did not receive carol's tone through the NAT"
python3 "$TONE" check-rtp "$LAB_DIR/pbx.pcapng" $CAROL 700 2 2100 ||
	lab_fail "carol did not receive A's tone through the NAT"
[ "$(lab_gw_counter gwa keepalive_timeouts)" -ge 1 ] || lab_fail "keepalive_timeouts not counted"
lab_gw_status gwb | grep -E "connection|token_bad"
lab_pass
