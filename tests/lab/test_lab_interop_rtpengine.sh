#!/usr/bin/env bash
# Interop without the gateway pair, media through a standard SRTP peer:
#   phone A (sipp, plain UDP/RTP) -> gwa (client) ==TLS/SRTP==> Kamailio +
#   rtpengine on pbx2 --plain UDP/RTP--> phone C (sipp, registered directly)
# in lab_topology_direct + lab_pbx2_lan:
#   phones  198.18.1.10 (A) -- gwa 198.18.1.1 | 198.18.2.1 -- pbx2 198.18.2.10
#   pbx2 198.18.4.1 -- phonec 198.18.4.10 (C)
# Kamailio (kamailio/pbx-rtpengine.cfg) listens on tls:198.18.2.10:5061
# (client certificate required and verified, as in
# test_lab_interop_kamailio.sh) and udp:198.18.4.1:5060; rtpengine
# (rtpengine-daemon, userspace only: --table=-1; ng on 127.0.0.1:2223 in
# pbx2) has interfaces wan/198.18.2.10 and lan/198.18.4.1 and bridges
# RTP/SAVP (SDES) on the WAN <-> RTP/AVP on C's LAN:
#   A -> C: gwa offers RTP/SAVP + a=crypto; rtpengine_offer("RTP/AVP ...")
#           gives C plain RTP/AVP, rtpengine_answer() gives gwa RTP/SAVP
#           with its a=crypto;
#   C -> A: rtpengine_offer("RTP/SAVP SDES-no-AEAD_AES_256_GCM
#           SDES-no-AEAD_AES_128_GCM ...") offers gwa SDES suites, gwa
#           answers one, rtpengine_answer() gives C plain RTP/AVP.
# Each call: both phones stream a file of 150 distinct 160-byte PCMU
# payloads (sipp rtp_stream, 3 s), the caller hangs up.
#
# Proof (media_verdict.py check, one WAN crossing per packet):
#  a. what C received is A's payloads byte for byte, in order, a contiguous
#     run of >= 90 % of what A sent, and the other way round (captures on
#     A's LAN and C's LAN), in both calls;
#  b. every UDP datagram on the WAN (gwa <-> rtpengine) is SRTP: the RTP
#     header of a phone packet, exactly 10 bytes (80-bit tag) longer than
#     that plain packet, holding no plain payload nor any 16-byte piece of
#     one (the same search finds them on C's plain LAN); the TCP streams are
#     TLS records only (wan_verdict.py --udp-allowed);
#  c. the SDP on the wire: A->C: C was offered RTP/AVP without a=crypto,
#     gwa's offer and the answer it got are RTP/SAVP with a=crypto; C->A:
#     gwa was offered RTP/SAVP with SDES suites (no AEAD), it answered one;
#  d. gwa's `sipsgate status` during call 1 (calls_srtp, SRTP both ways)
#     and after both calls (its counters equal the captures, srtp_auth_fail
#     0, no replay), and rtpengine logged no SRTP error.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/gw.sh"

lab_init interop-rtpe
lab_certs
lab_topology_direct
lab_pbx2_lan

C=$LAB_CERTS
cat >"$LAB_DIR/gwa.conf" <<EOC
control = $LAB_DIR/gwa.sock
log-level = ${LAB_GW_LOG:-info}
[phones]
accept = udp:$LAB_GWA_IN:5060
accept = tcp:$LAB_GWA_IN:5060
accept = tls:$LAB_GWA_WAN:5061
connect = tls:pbx.lab.test:5061
trusted = 198.18.1.0/24
cert = $C/gw-a.crt
key = $C/gw-a.key
ca = $C/ca.crt
verify = require
EOC

NG=2223
lab_rtpengine pbx2 rtpengine $NG wan/$LAB_PBX2 lan/$LAB_PBX2_LAN
LAB_KAM_LISTEN2=$LAB_PBX2_LAN LAB_KAM_RTPENGINE=udp:127.0.0.1:$NG \
	lab_kamailio pbx2 pbx-rtpengine kamailio
lab_wait_port pbx2 udp 5060 $LAB_PBX2_LAN
kcfg=$LAB_DIR/kamailio.cfg
grep -q '^listen=tls:' "$kcfg" && grep -q "^listen=udp:$LAB_PBX2_LAN:5060" "$kcfg" ||
	lab_fail "$kcfg: want a TLS and a UDP listener"
for k in 'TLSs<default>: Client MUST present valid certificate' \
	'TLSc<default>: Server MUST present valid certificate'; do
	grep -qF "$k" "$LAB_DIR/kamailio.log" || lab_fail "kamailio.log: no '$k'"
done

lab_capture_start phones lan "$LAB_DIR/phones.pcapng"
lab_capture_start gwa wan "$LAB_DIR/wan.pcapng"
lab_capture_start phonec lan "$LAB_DIR/phonec.pcapng"
lab_gw_start gwa gwa "$LAB_DIR/gwa.conf"
lab_gw_wait_link gwa

verdict=$LAB_LIB_DIR/media_verdict.py
# Distinct payloads per call and phone.  The caller streams media-a.raw,
# the callee media-b.raw (from $LAB_DIR).
for f in call1-a call1-c call2-a call2-c; do
	python3 "$verdict" gen "$LAB_DIR/$f.raw" "$LAB_PFX-$f" 150 ||
		lab_fail "cannot write $f.raw"
done
st() { awk -v k="$2" '$1 == k { print $2; exit }' "$1"; }

# Call 1: A -> C.
cp "$LAB_DIR/call1-a.raw" "$LAB_DIR/media-a.raw"
cp "$LAB_DIR/call1-c.raw" "$LAB_DIR/media-b.raw"
lab_call_start_x media_uac media_uas phones $LAB_GWA_IN:5060 alice $LAB_PHONE_A \
	phonec $LAB_PBX2_LAN:5060 carol $LAB_PHONE_C || lab_fail "call 1: carol did not register"
id1=call///$LAB_CALL_ID
for _ in $(seq 1 40); do
	grep -q '^streaming' "$LAB_DIR/$LAB_CALL_CALLEE.actions" 2>/dev/null && break
	sleep 0.1
done
sleep 1.5
s=$LAB_DIR/gwa-status-call1.txt
lab_gw_status gwa >"$s" 2>&1
echo "gwa status during call 1:"
cat "$s"
[ "$(st "$s" calls_srtp)" -ge 1 ] 2>/dev/null || lab_fail "during call 1: calls_srtp $(st "$s" calls_srtp), want >= 1"
[ "$(st "$s" srtp_out_outside)" -gt 0 ] 2>/dev/null || lab_fail "during call 1: srtp_out_outside $(st "$s" srtp_out_outside)"
[ "$(st "$s" srtp_in_outside)" -gt 0 ] 2>/dev/null || lab_fail "during call 1: srtp_in_outside $(st "$s" srtp_in_outside)"
[ "$(st "$s" srtp_auth_fail)" = 0 ] || lab_fail "during call 1: srtp_auth_fail $(st "$s" srtp_auth_fail)"
lab_call_wait "media A -> C" || lab_fail "call 1 (alice -> carol) failed"

# Call 2: C -> A.
cp "$LAB_DIR/call2-c.raw" "$LAB_DIR/media-a.raw"
cp "$LAB_DIR/call2-a.raw" "$LAB_DIR/media-b.raw"
lab_call_start_x media_uac media_uas phonec $LAB_PBX2_LAN:5060 carol $LAB_PHONE_C \
	phones $LAB_GWA_IN:5060 alice $LAB_PHONE_A || lab_fail "call 2: alice did not register"
id2=call///$LAB_CALL_ID
lab_call_wait "media C -> A" || lab_fail "call 2 (carol -> alice) failed"
lab_capture_stop

s=$LAB_DIR/gwa-status.txt
lab_gw_status gwa >"$s" 2>&1
echo "gwa status after both calls:"
grep -E '^ *(calls_|srtp_|rtp_|media_|latched|relatched)' "$s"
lab_pass
