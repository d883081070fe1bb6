#!/usr/bin/env bash
# linphone 5.1 as a SIPS + SRTP softphone beside a client-role gateway
# (issue 8, "what must be shown" 1, client role):
#   phone A (sipp, plain UDP/RTP, 198.18.1.10) -> gwa (client, 198.18.1.1 |
#   198.18.2.1) ==TLS/SRTP==> Kamailio pbx-tls.cfg (pbx2, 198.18.2.10:5061,
#   GRUU on) <==TLS== linphone bob (198.18.2.11, client certificate bob,
#   SRTP mandatory)
# in lab_topology_direct + lab_wan_host lp. bob registers with a
# +sip.instance: Kamailio gives it a GRUU, which it uses as its Contact.
# What belle-sip does to gwa (issue 8, seen 1): it copies the Record-Route
# values into its 180/200 with the last one repeated, so A's ACK arrives at
# gwa with gwa's entry several times; gwa must remove them all and never
# send to itself (before, the ACK went over TLS to gwa itself and bob
# dropped the call at 32 s).
#   1. A -> bob: A streams 2100 Hz (sipp media_uac) and hangs up after
#      3.5 s; bob (1300 Hz) records 2100 Hz; the RTP gwa sent A (captured on
#      A's LAN) carries 1300 Hz.
#   2. bob -> A: A answers (media_uas_hold: streams 2100 Hz); bob holds and
#      resumes (two re-INVITEs through gwa), then hangs up; the same tones
#      checked both ways.
# And gwa never refused, dropped or sent to itself, and the calls lasted as
# long as the test said (no 32 s timeout: every ACK arrived).
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/gw.sh"
. "$(dirname "$0")/linphone.sh"

command -v linphonec >/dev/null || { echo "linphone-cli not installed" >&2; exit 77; }

LP=198.18.2.11
TONE=$LAB_LIB_DIR/tone.py

lab_init linphone-client
lab_certs
lab_topology_direct
lab_wan_host lp $LP
LAB_GW_LOG=debug lab_gw_direct_conf "media = srtp
srtp-suites = AES_CM_128_HMAC_SHA1_80
rtp-ports = 20000-20999"

python3 "$TONE" gen "$LAB_DIR/bob.wav" 1300 60 &&
	python3 "$TONE" gen "$LAB_DIR/a.wav" 2100 3.4 &&
	python3 "$TONE" ulaw "$LAB_DIR/a.wav" "$LAB_DIR/media-a.raw" &&
	cp "$LAB_DIR/media-a.raw" "$LAB_DIR/media-b.raw" ||
	lab_fail "cannot write the tones"

lab_kamailio pbx2 pbx-tls kamailio
lab_gw_start gwa gwa "$LAB_DIR/gwa.conf"
lab_gw_wait_link gwa
lab_linphone_conf bob bob pbx.lab.test:5061 5071 7078
lab_linphone_start lp bob
lab_linphone_cmd bob "play $LAB_DIR/bob.wav"
for _ in $(seq 1 100); do
	grep -q "pub-gruu=" "$LAB_DIR/bob.log" 2>/dev/null && break
	sleep 0.1
done
grep -q "pub-gruu=\"sip:bob@pbx.lab.test;gr=urn:uuid:" "$LAB_DIR/bob.log" ||
	lab_fail "bob did not register with a GRUU"
lab_sipp phones reg register $LAB_PHONE_A $LAB_GWA_IN:5060 alice
lab_wait reg 10 || lab_fail "phone A did not register through gwa"
lab_log "bob (linphone) and A (through gwa) registered"

# Call 1: A -> bob; A hangs up.
lab_linphone_cmd bob "record $LAB_DIR/call1-bob.wav"
lab_capture_start phones lan "$LAB_DIR/call1.pcapng"
LAB_CALL_ID=$LAB_PFX-1-$RANDOM
t0=$(date +%s)
lab_sipp phones call1-a media_uac $LAB_PHONE_A $LAB_GWA_IN:5060 alice -s bob
lab_wait call1-a 25 || lab_fail "call 1 (A -> bob): sipp exit $?"
lab_linphone_wait bob "ended \\(" 1 5 || lab_fail "call 1: bob never got A's BYE"
[ $(($(date +%s) - t0)) -lt 15 ] || lab_fail "call 1 took $(($(date +%s) - t0)) s"
lab_capture_stop "$LAB_DIR/call1.pcapng"
python3 "$TONE" check "$LAB_DIR/call1-bob.wav" 2100 2 1300 || lab_fail "call 1: bob did not hear A"
python3 "$TONE" check-rtp "$LAB_DIR/call1.pcapng" $LAB_PHONE_A 1300 2 2100 ||
	lab_fail "call 1: A did not hear bob"
lab_log "call 1 (A -> bob, BYE by A): ok"

# Call 2: bob -> A, hold and resume, bob hangs up.
lab_linphone_cmd bob "record $LAB_DIR/call2-bob.wav"
lab_capture_start phones lan "$LAB_DIR/call2.pcapng"
lab_sipp phones call2-a media_uas_hold $LAB_PHONE_A $LAB_GWA_IN:5060 alice
sleep 0.3
lab_linphone_cmd bob "call sip:alice@pbx.lab.test"
lab_linphone_wait bob "Media streams established" 2 10 || lab_fail "call 2 (bob -> A): not established"
sleep 2.5
lab_linphone_cmd bob pause
for _ in $(seq 1 50); do grep -q '^held' "$LAB_DIR/call2-a.actions" 2>/dev/null && break; sleep 0.1; done
grep -q '^held' "$LAB_DIR/call2-a.actions" || lab_fail "call 2: the hold re-INVITE did not reach A"
lab_linphone_wait bob "Call 2 .*paused" 1 5 || lab_fail "call 2: bob could not hold"
sleep 1
lab_linphone_cmd bob resume
for _ in $(seq 1 50); do grep -q '^resumed' "$LAB_DIR/call2-a.actions" 2>/dev/null && break; sleep 0.1; done
grep -q '^resumed' "$LAB_DIR/call2-a.actions" || lab_fail "call 2: the resume re-INVITE did not reach A"
sleep 1
lab_linphone_cmd bob terminate
lab_wait call2-a 10 || lab_fail "call 2: A's sipp exit $?"
lab_linphone_wait bob "ended \\(No error\\)" 2 5 || lab_fail "call 2: bob did not end it"
lab_capture_stop "$LAB_DIR/call2.pcapng"
python3 "$TONE" check "$LAB_DIR/call2-bob.wav" 2100 2 1300 || lab_fail "call 2: bob did not hear A"
python3 "$TONE" check-rtp "$LAB_DIR/call2.pcapng" $LAB_PHONE_A 1300 2 2100 ||
	lab_fail "call 2: A did not hear bob"
lab_log "call 2 (bob -> A, hold/resume, BYE by bob): ok"

if grep -E "refused with|no usable Via|not in trusted|dropped (datagram|[0-9]+ response)" "$LAB_DIR/gwa.log"; then
	lab_fail "gwa refused or dropped messages (above)"
fi
for k in loops own_socket_refused token_bad; do
	v=$(lab_gw_counter gwa $k)
	[ "$v" = 0 ] || lab_fail "gwa $k = $v"
done
n=$(grep -c "^Route: .*gw-a\|^Route: .*$LAB_GWA_WAN" "$LAB_DIR/bob.log")
lab_log "bob's requests and responses named gwa in $n Route rows"
lab_gw_status gwa | grep -E "calls_total|calls_srtp|srtp_(in|out)"
lab_pass
