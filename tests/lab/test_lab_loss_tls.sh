#!/usr/bin/env bash
# Loss on the UDP leg (issue 8, seen 6): a TLS caller that never retransmits
# (tests/lab/tls_caller.py, one TLS connection from the gwa namespace, no
# gateway there) -> gwb (server role, default timers) -> a sipp UAS as the
# PBX over UDP, with 5 % of the packets dropped at random in each direction
# of that link (iptables -m statistic on INPUT in gwb and in pbx: no netem
# on these machines).
#   1. 1,000 calls (INVITE/200/ACK/BYE/200) at 25/s: >= 999 complete; gwb
#      retransmitted (its counter) and both drop rules dropped (theirs).
#   2. The control: the same with transactions = no (SIGHUP), 100 calls:
#      calls fail, so check 1 can fail.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/gw.sh"

CALLS=${LAB_LOSS_CALLS:-1000}
CONTROL_CALLS=100
RATE=25

lab_init loss-tls
lab_topology
lab_certs
c=$LAB_CERTS
write_gwb() {	# EXTRA LINE
	cat >"$LAB_DIR/gwb.conf" <<EOC
control = $LAB_DIR/gwb.sock
log-level = info
[pbx]
accept = tls:$LAB_GWB_WAN:5061
accept = udp:$LAB_GWB_IN:5060
connect = udp:$LAB_PBX:5060
trusted = 198.18.3.0/24
cert = $c/gw-b.crt
key = $c/gw-b.key
ca = $c/ca.crt
verify = require
media = relay
$1
EOC
}
write_gwb ""
lab_start pbx uas sipp -sf "$LAB_LIB_DIR/sipp/loss_uas.xml" -i $LAB_PBX -p 5060 \
	-nostdin -buff_size 4194304 -trace_stat -stf "$LAB_DIR/uas.stat" -fd 1
lab_wait_port pbx udp 5060 $LAB_PBX
lab_gw_start gwb gwb "$LAB_DIR/gwb.conf"
lab_wait_port gwb tcp 5061 $LAB_GWB_WAN

# 5 % random loss each way on the gwb <-> PBX link.
for ns in gwb pbx; do
	lab_exec $ns iptables -A INPUT -i lan -p udp -m statistic --mode random \
		--probability 0.05 -j DROP || lab_fail "iptables in $ns"
done
drops() { lab_exec "$1" iptables -L INPUT -v -n -x | awk '/statistic/ {print $1; exit}'; }
udp_in() { lab_exec "$1" cat /proc/net/snmp | awk '/^Udp: [0-9]/ {print $2; exit}'; }

caller() {	# NAME CALLS WAIT
	lab_start gwa "$1" python3 "$LAB_LIB_DIR/tls_caller.py" \
		--connect $LAB_GWB_WAN:5061 --name gw-b.lab.test \
		--cert "$c/gw-a.crt" --key "$c/gw-a.key" --ca "$c/ca.crt" \
		--calls "$2" --rate $RATE --hold 0.3 --wait "$3"
	lab_wait "$1" $(( $2 / RATE + 3 * $3 + 30 )) || lab_fail "tls_caller $1 failed"
	tail -n 1 "$LAB_DIR/$1.log"
}
field() { python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(d[sys.argv[2]])' "$1" "$2"; }

# 1. With transactions.
out=$(caller calls "$CALLS" 40) || exit 1
echo "caller: $out"
ok=$(field "$out" complete)
lab_gw_status gwb | grep -E ' (txn_|msg_|local_replies)' | sed 's/^/gwb: /'
d_gwb=$(drops gwb) d_pbx=$(drops pbx)
echo "dropped by the rules: $d_gwb at gwb (PBX -> gwb), $d_pbx at the PBX (gwb -> PBX)"
retx=$(lab_gw_counter gwb txn_retransmissions)
[ "$d_gwb" -gt 50 ] && [ "$d_pbx" -gt 50 ] ||
	lab_fail "the loss rules dropped too little ($d_gwb, $d_pbx): no loss was tested"
[ "$retx" -gt 0 ] || lab_fail "gwb retransmitted nothing"
[ "$ok" -ge $((CALLS - CALLS / 1000)) ] ||
	lab_fail "$ok of $CALLS calls complete with 5 % loss (want >= $((CALLS - CALLS / 1000)))"
lab_log "$ok of $CALLS calls complete through 5 % loss each way; gwb retransmitted $retx times"

# 2. The control: transactions = no, the same loss.
write_gwb "transactions = no"
kill -HUP "${LAB_PID_OF[gwb]}"
for i in $(seq 1 50); do grep -q 'reload: done' "$LAB_DIR/gwb.log" && break; sleep 0.1; done
grep -q 'reload: done' "$LAB_DIR/gwb.log" || lab_fail "gwb did not reload"
sleep 1
r0=$(lab_gw_counter gwb txn_retransmissions)
out=$(caller control "$CONTROL_CALLS" 8) || exit 1
echo "control caller (transactions = no): $out"
cok=$(field "$out" complete)
r1=$(lab_gw_counter gwb txn_retransmissions)
[ "$cok" -lt "$CONTROL_CALLS" ] ||
	lab_fail "control: all $CONTROL_CALLS calls completed without transactions: the loss test proves nothing"
[ "$r1" = "$r0" ] || lab_fail "control: gwb retransmitted with transactions = no"
lab_log "control: $cok of $CONTROL_CALLS complete without transactions"
lab_pass
