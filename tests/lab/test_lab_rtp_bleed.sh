#!/usr/bin/env bash
# RTP bleed and hijack (issue 7, seen item 1), played as an attacker would:
#   phones (sipp) + attacker atk (198.18.1.66) on one LAN (a bridge, all
#   inside gwa's `trusted`) -> gwa ==TLS/SRTP==> gwb -> Kamailio
# gwa relays from a small range (rtp-ports = 20000-20039) so the attacker
# can hit every port.
#
# Phase 1, the LAN: atk sprays well-formed RTP (payloads marked SGATTACK)
# at every port of gwa's inside range, RTP and RTCP ports alike, 500
# datagrams a second for 20 s: 5 s before any call, then through two calls
# (alice -> bob, 150 distinct payloads each way; media as in
# test_lab_pair_media.sh) and after them.  Proved on the capture of gwa's
# LAN interface (tests/lab/bleed_verdict.py and media_verdict.py):
#   - atk received nothing (its own count and the capture: 0 datagrams to it);
#   - the phones received only each other's payloads, each once, in order,
#     every one of them (no loss), none of the attacker's;
#   - the whole media proof of test_lab_pair_media.sh holds (SRTP on the WAN,
#     counters equal to the captures);
#   - gwa counted the attack (media_foreign_drop > 0, relatched 0), logged
#     it (one summary line a second, naming 198.18.1.66) and shows the last
#     foreign source in `sipsgate status`.
# Phase 2, the WAN: an attacker with a WAN address (198.18.2.66, in gwb's
# namespace: it sees the SRTP gwb sends) sprays plain RTP and random bytes
# at every port of gwa's outside range and replays every third genuine SRTP
# packet it sees, from its own address and forged from gwb's, during a
# third call: the phones get every payload once and nothing else, atk gets
# nothing, and gwa counts the replays (srtp_replay) and the forgeries
# (srtp_auth_fail); nothing moves (relatched 0).
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/gw.sh"

ATK=198.18.1.66
WATK=198.18.2.66
RANGE=20000-20039

lab_init rtp_bleed
lab_topology
lab_lan_host atk $ATK
ip -n "$LAB_PFX-gwb" addr add $WATK/24 dev wan || lab_fail "cannot add $WATK"
lab_certs
lab_gw_pair_conf
echo "rtp-ports = $RANGE" >>"$LAB_DIR/gwa.conf"
lab_kamailio pbx pbx-udp
# gwa's LAN: everything but the spray itself (which the verdicts need not
# dissect: it is counted on the wire apart, and by gwa), and the spray.
lab_capture_start gwa lan "$LAB_DIR/lan1.pcapng" "not (src host $ATK and dst host $LAB_GWA_IN and udp)"
lab_capture_start gwa lan "$LAB_DIR/spray1.pcapng" "src host $ATK and dst host $LAB_GWA_IN and udp"
lab_capture_start gwa wan "$LAB_DIR/wan1.pcapng"
lab_capture_start gwb lo "$LAB_DIR/gwb-lo1.pcapng"
lab_gw_start gwb gwb "$LAB_DIR/gwb.conf"
lab_gw_start gwa gwa "$LAB_DIR/gwa.conf"
lab_gw_wait_link gwa

verdict=$LAB_LIB_DIR/media_verdict.py
for f in call1-a call1-b call2-a call2-b call3-a call3-b; do
	python3 "$verdict" gen "$LAB_DIR/$f.raw" "$LAB_PFX-$f" 150 ||
		lab_fail "cannot write $f.raw"
done
media_files() {
	cp "$LAB_DIR/$1-a.raw" "$LAB_DIR/media-a.raw"
	cp "$LAB_DIR/$1-b.raw" "$LAB_DIR/media-b.raw"
}
st() { awk -v k="$2" '$1 == k { print $2; exit }' "$1"; }
call() {	# call N: alice -> bob with callN-{a,b}.raw; sets ID
	media_files "call$1"
	lab_call_start media_uac media_uas phones $LAB_GWA_IN:5060 \
		alice $LAB_PHONE_A bob $LAB_PHONE_B || lab_fail "call $1: bob did not register"
	ID=call///$LAB_CALL_ID
	lab_call_wait "media under attack" || lab_fail "call $1 failed under attack"
}

# Phase 1: the LAN attacker, before, during and after two calls.
lab_start atk spray python3 "$LAB_LIB_DIR/rtp_attack.py" --bind $ATK \
	--to $LAB_GWA_IN --ports $RANGE --rate 500 --seconds 20 --label lan \
	--out "$LAB_DIR/spray-lan.json"
sleep 5
call 1; id1=$ID
call 2; id2=$ID
lab_wait spray 30 || lab_fail "the LAN attacker failed (spray.log)"
lab_capture_stop
lab_gw_status gwa >"$LAB_DIR/gwa-status1.txt" 2>&1
s=$LAB_DIR/gwa-status1.txt
echo "gwa status after the LAN attack:"
grep -E '^ *(calls_|srtp_|rtp_|media_|latched|relatched)' "$s"
grep 'media foreign' "$s" || true
echo "attacker: $(cat "$LAB_DIR/spray-lan.json")"
python3 - "$LAB_DIR/spray-lan.json" <<'EOF' || lab_fail "the LAN attacker received media (or sent nothing)"
import json, sys
r = json.load(open(sys.argv[1]))
sys.exit(0 if r["received"] == 0 and r["sent"]["rtp"] > 9000 else 1)
EOF
wire=$(capinfos -c -M "$LAB_DIR/spray1.pcapng" | awk '/Number of packets/ { print $NF }')
echo "the attacker's datagrams to gwa on the wire: $wire"
[ "${wire:-0}" -gt 9000 ] 2>/dev/null || lab_fail "only '${wire:-}' attack datagrams on gwa's LAN"
fd=$(st "$s" media_foreign_drop)
[ "${fd:-0}" -gt 0 ] 2>/dev/null || lab_fail "media_foreign_drop is '${fd:-}' after the LAN attack"
[ "$(st "$s" relatched)" = 0 ] || lab_fail "relatched $(st "$s" relatched): a source moved"
[ "$(st "$s" calls_srtp)" -ge 4 ] 2>/dev/null || lab_fail "calls_srtp $(st "$s" calls_srtp), want >= 4"
grep -q "media foreign last $ATK:[0-9]* -> inside port 200[0-3][0-9]" "$s" ||
	lab_fail "sipsgate status does not show the attacker as the last foreign source"
grep -q "packets from a source that is not the peer's address dropped; the last: $ATK:" "$LAB_DIR/gwa.log" ||
	lab_fail "gwa logged no foreign-source line naming $ATK"
n=$(grep -c "not the peer's address dropped" "$LAB_DIR/gwa.log")
echo "gwa logged $n summary lines for $fd refused packets"
[ "$n" -le 30 ] || lab_fail "$n foreign-source log lines in ~25 s: not rate-limited"
python3 "$LAB_LIB_DIR/bleed_verdict.py" --lan "$LAB_DIR/lan1.pcapng" \
	--gw-in $LAB_GWA_IN --attacker $ATK \
	--call "$LAB_PHONE_A:$LAB_PHONE_B:$LAB_DIR/call1-a.raw:$LAB_DIR/call1-b.raw" \
	--call "$LAB_PHONE_A:$LAB_PHONE_B:$LAB_DIR/call2-a.raw:$LAB_DIR/call2-b.raw" ||
	lab_fail "phase 1: media bled to the attacker, or the attacker's reached the phones, or the phones lost packets"
python3 "$verdict" check --phones "$LAB_DIR/lan1.pcapng" \
	--wan "$LAB_DIR/wan1.pcapng" --plain "$LAB_DIR/gwb-lo1.pcapng" \
	--call "answer:$id1:$LAB_DIR/call1-a.raw:$LAB_DIR/call1-b.raw" \
	--call "answer:$id2:$LAB_DIR/call2-a.raw:$LAB_DIR/call2-b.raw" \
	--status "$s" || lab_fail "phase 1: the media proof of the pair does not hold under attack"

# Phase 2: the WAN attacker during a third call.
lab_capture_start gwa lan "$LAB_DIR/lan2.pcapng"
replay0=$(st "$s" srtp_replay); auth0=$(st "$s" srtp_auth_fail)
lab_start gwb wanatk python3 "$LAB_LIB_DIR/rtp_attack.py" --bind $WATK \
	--to $LAB_GWA_WAN --ports $RANGE --rate 500 --seconds 9 \
	--kinds rtp,random --label wan --replay-iface wan \
	--replay-from $LAB_GWB_WAN --out "$LAB_DIR/spray-wan.json"
sleep 2
call 3
lab_wait wanatk 20 || lab_fail "the WAN attacker failed (wanatk.log)"
lab_capture_stop
lab_gw_status gwa >"$LAB_DIR/gwa-status2.txt" 2>&1
s=$LAB_DIR/gwa-status2.txt
echo "gwa status after the WAN attack:"
grep -E '^ *(calls_|srtp_|rtp_|media_|latched|relatched)' "$s"
echo "WAN attacker: $(cat "$LAB_DIR/spray-wan.json")"
replays=$(python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); s=r["sent"]; print(s["replay_own"] + s["replay_forged"] if r["received"] == 0 and s["rtp"] > 1500 and s["random"] > 1500 else -1)' "$LAB_DIR/spray-wan.json")
[ "$replays" -gt 20 ] 2>/dev/null || lab_fail "the WAN attacker received media, or did not send or replay ($replays)"
dr=$(( $(st "$s" srtp_replay) - replay0 )); da=$(( $(st "$s" srtp_auth_fail) - auth0 ))
echo "WAN: $replays replayed SRTP packets sent, srtp_replay +$dr; srtp_auth_fail +$da"
[ "$dr" -ge $(( replays * 9 / 10 )) ] || lab_fail "srtp_replay +$dr for $replays replays"
[ "$da" -gt 0 ] || lab_fail "srtp_auth_fail did not count the plain and random datagrams"
[ "$(st "$s" relatched)" = 0 ] || lab_fail "relatched $(st "$s" relatched) after the WAN attack"
python3 "$LAB_LIB_DIR/bleed_verdict.py" --lan "$LAB_DIR/lan2.pcapng" \
	--gw-in $LAB_GWA_IN --attacker $ATK --attacker $WATK \
	--call "$LAB_PHONE_A:$LAB_PHONE_B:$LAB_DIR/call3-a.raw:$LAB_DIR/call3-b.raw" ||
	lab_fail "phase 2: something of the WAN attacker's reached the phones, or they lost packets"
[ "$(st "$s" calls_active)" = 0 ] || lab_fail "calls_active $(st "$s" calls_active) after the BYEs"
lab_pass
