#!/usr/bin/env bash
# Loss on both UDP legs of the pair (issue 8, seen 6 and "what must be
# shown" 3): sipp phones (loss_uac.xml, T1 = 500 ms as a phone) -> gwa
# (client) ==TLS==> gwb (server) -> a sipp UAS as the PBX, with 5 % of the
# packets dropped at random in each direction of the phones' LAN and of the
# PBX's LAN (iptables -m statistic on INPUT in phones, gwa, gwb and pbx).
#   1. 1,000 calls at 25/s: >= 999 complete at the phones;
#   2. the phones did retransmit (sipp's counter) and gwa absorbed (its
#      counter); yet on the WAN, decrypted (GnuTLS writes SSLKEYLOGFILE,
#      tshark decrypts the capture), every INVITE and BYE transaction
#      crossed exactly once: a phone's retransmission never crosses the WAN.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/gw.sh"

CALLS=${LAB_LOSS_CALLS:-1000}
RATE=25

lab_init loss-pair
lab_topology
lab_certs
lab_gw_pair_conf
lab_start pbx uas sipp -sf "$LAB_LIB_DIR/sipp/loss_uas.xml" -i $LAB_PBX -p 5060 \
	-nostdin -buff_size 4194304
lab_wait_port pbx udp 5060 $LAB_PBX
lab_capture_start gwa wan "$LAB_DIR/wan.pcapng" "tcp port 5061"
lab_gw_start gwb gwb "$LAB_DIR/gwb.conf"
export SSLKEYLOGFILE=$LAB_DIR/keys.log
lab_gw_start gwa gwa "$LAB_DIR/gwa.conf"
unset SSLKEYLOGFILE
lab_gw_wait_link gwa

for ns in phones gwa gwb pbx; do
	lab_exec $ns iptables -A INPUT -i lan -p udp -m statistic --mode random \
		--probability 0.05 -j DROP || lab_fail "iptables in $ns"
done
drops() { lab_exec "$1" iptables -L INPUT -v -n -x | awk '/statistic/ {print $1; exit}'; }

lab_start phones uac sipp -sf "$LAB_LIB_DIR/sipp/loss_uac.xml" -i $LAB_PHONE_A -p 5060 \
	-s bob -m "$CALLS" -r $RATE -l 200 -nostdin -buff_size 4194304 \
	-recv_timeout 30000 -timeout 200s -trace_stat -stf "$LAB_DIR/uac.stat" -fd 1 \
	-trace_err -error_file "$LAB_DIR/uac.err" $LAB_GWA_IN:5060
lab_wait uac 220
sleep 1
lab_capture_stop

read -r ok failed retrans < <(python3 - "$LAB_DIR/uac.stat" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1]), delimiter=";"))
d = dict(zip(rows[0], rows[-1]))
print(d["SuccessfulCall(C)"], d["FailedCall(C)"], d["Retransmissions(C)"])
PY
)
echo "phones (sipp UAC): $ok complete, $failed failed, $retrans retransmissions"
echo "dropped by the rules: phones $(drops phones), gwa $(drops gwa), gwb $(drops gwb), pbx $(drops pbx)"
for g in gwa gwb; do
	lab_gw_status $g | grep -E ' (txn_|msg_)' | sed "s/^/$g: /"
done
absorbed=$(lab_gw_counter gwa txn_absorbed)
[ "$ok" -ge $((CALLS - CALLS / 1000)) ] ||
	lab_fail "$ok of $CALLS calls complete through the pair with 5 % loss"
[ "$retrans" -gt 0 ] && [ "$absorbed" -gt 0 ] ||
	lab_fail "no phone retransmission was absorbed ($retrans sent, $absorbed absorbed): nothing was tested"

[ -s "$LAB_DIR/keys.log" ] || lab_fail "gwa wrote no TLS key log (SSLKEYLOGFILE)"
wan=$(python3 "$LAB_LIB_DIR/wan_requests.py" "$LAB_DIR/wan.pcapng" "$LAB_DIR/keys.log" $LAB_GWA_WAN) ||
	lab_fail "could not decrypt the WAN capture: $wan"
echo "WAN, decrypted: $wan"
python3 - "$wan" "$CALLS" <<'PY' || lab_fail "a request crossed the WAN more than once"
import json, sys
w, calls = json.loads(sys.argv[1]), int(sys.argv[2])
up = w["up"]
inv, bye = up["requests"].get("INVITE", 0), up["requests"].get("BYE", 0)
print(f"gwa -> gwb: {inv} INVITE, {bye} BYE, {up['requests'].get('ACK', 0)} ACK "
      f"({up['repeated_ack']} ACKs again for retransmitted 2xx, end to end); "
      f"transactions seen twice: {len(up['repeated'])}")
assert inv == calls, f"{inv} INVITEs crossed for {calls} calls"
assert bye >= calls - calls // 1000, f"only {bye} BYEs crossed"
assert not up["repeated"], f"crossed more than once: {list(up['repeated'].items())[:5]}"
assert not w["down"]["repeated"]
PY
lab_pass
