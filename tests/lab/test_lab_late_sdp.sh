#!/usr/bin/env bash
# Issue 7, seen item 2: no SRTP key on the plain LAN after the gateway ended
# a call.
#   phone (plain UDP) -> gwa (client role, media = srtp) ==TLS==> Kamailio
#   (pbx-tls.cfg on pbx2) ==TLS==> far end (SRTP mandatory, 198.18.2.20)
# in lab_topology_direct + lab_wan_host far.  The phone and the far end are
# tests/lab/late_sdp.py (one process, a socket in each namespace; the far
# end is a TLS client with bob's certificate, registered over its own
# connection).  The sequence: a call (RTP/SAVP + a=crypto on the WAN, RTP/AVP
# on the LAN), the phone's BYE answered 503 by the far end (gwa ends the
# call), then the far end's retransmitted 200 OKs with RTP/SAVP and a=crypto
# and its hold re-INVITE (RTP/SAVP, a=crypto, a=sendonly).
#
# Shows: the phone receives none of the late messages (the 200 OKs are
# dropped and counted in sdp_no_call_dropped, the re-INVITE gets 481 from
# the gateway: sdp_no_call_refused); lan_verdict.py finds 0 SIP messages
# with a=crypto / RTP/SAVP / a=fingerprint on gwa's LAN capture;
# wan_sdp_verdict.py, decrypting gwa's TLS with its key log, finds 0 SDP
# from gwa with RTP/AVP on the WAN capture; the backstop counter
# policy_violations_blocked stays 0 (the session logic handled it all);
# calls_active is back to 0.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/gw.sh"

LAB_FAR=198.18.2.20

lab_init late-sdp
lab_certs
lab_topology_direct
lab_wan_host far $LAB_FAR
lab_gw_direct_conf "media = srtp
srtp-suites = AES_CM_128_HMAC_SHA1_80"

lab_kamailio pbx2 pbx-tls kamailio
lab_capture_start gwa lan "$LAB_DIR/lan.pcapng"
lab_capture_start gwa wan "$LAB_DIR/wan.pcapng"
lab_gw_start gwa gwa "$LAB_DIR/gwa.conf"
lab_gw_wait_link gwa

python3 "$LAB_LIB_DIR/late_sdp.py" --pfx "$LAB_PFX" --far-ns far --far $LAB_FAR \
	--certs "$LAB_CERTS" --retransmissions 4 --out "$LAB_DIR/late_sdp.json" \
	>"$LAB_DIR/late_sdp.txt" 2>&1
rc=$?
cat "$LAB_DIR/late_sdp.txt"
[ $rc = 0 ] || lab_fail "late_sdp.py: the sequence of seen item 2 leaked or was not refused"

lab_gw_status gwa >"$LAB_DIR/gwa.status" || lab_fail "sipsgate status failed"
cnt() { awk -v k="$1" '$1 == k { print $2; exit }' "$LAB_DIR/gwa.status"; }
echo "gwa: sdp_no_call_dropped=$(cnt sdp_no_call_dropped)" \
	"sdp_no_call_refused=$(cnt sdp_no_call_refused)" \
	"policy_violations_blocked=$(cnt policy_violations_blocked)" \
	"calls_active=$(cnt calls_active)"
[ "$(cnt sdp_no_call_dropped)" -ge 4 ] ||
	lab_fail "want the 4 late 200 OKs dropped and counted: $(cnt sdp_no_call_dropped)"
[ "$(cnt sdp_no_call_refused)" -ge 1 ] ||
	lab_fail "want the late re-INVITE refused and counted: $(cnt sdp_no_call_refused)"
[ "$(cnt policy_violations_blocked)" = 0 ] ||
	lab_fail "the egress backstop fired: the session logic let something through"
[ "$(cnt calls_active)" = 0 ] || lab_fail "calls_active = $(cnt calls_active) after the call"
grep -q "late SDP" "$LAB_DIR/gwa.log" ||
	lab_fail "gwa logged nothing about the late messages"

lab_capture_stop
lab_capture_verdicts
# lab_capture_stop ran both verdicts; show them, and insist that they saw
# the call (the LAN check found gwa's SIP: at least the 200 OK, the answer to
# the BYE and one more; the WAN check decrypted gwa's SDP).
cat "$LAB_DIR/verdict-lan.pcapng.txt" "$LAB_DIR/verdict-wan.pcapng.txt"
n=$(sed -n 's/.* \([0-9]*\) sent by .*/\1/p' "$LAB_DIR/verdict-lan.pcapng.txt")
[ "${n:-0}" -ge 3 ] || lab_fail "the LAN verdict saw only ${n:-0} messages from gwa"
n=$(sed -n 's/.* \([0-9]*\) of them with SDP.*/\1/p' "$LAB_DIR/verdict-wan.pcapng.txt")
[ "${n:-0}" -ge 1 ] || lab_fail "the WAN verdict decrypted no SDP of gwa's"
lab_pass
