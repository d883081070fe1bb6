#!/usr/bin/env bash
# Interop with a real SIPS + SRTP phone (issue item 4(b)): a call with
# baresip configured with mandatory SRTP over TLS, audio both ways.
#   phone A (sipp, plain UDP/RTP) -> gwa (client) ==TLS/SRTP==> Kamailio
#   (pbx-tls.cfg on pbx2) <==TLS== baresip (bob, SDES-SRTP mandatory)
# in lab_topology_direct + lab_wan_host bob:
#   phones 198.18.1.10 (A) -- gwa 198.18.1.1 | 198.18.2.1 -- WAN switch
#   in pbx2: pbx2 198.18.2.10 (Kamailio tls:5061), bob 198.18.2.11
# baresip (tests/lab/baresip.sh): account sip:bob@pbx.lab.test over TLS via
# Kamailio, client certificate bob.pem (lab CA; Kamailio requires and
# verifies it), sip_cafile = the lab CA (but baresip 1.0.0 does not verify
# the server: it registers with a rogue-CA Kamailio too), TLS listener
# 198.18.2.11:5061, mediaenc=srtp-mand, answermode=auto, PCMU only; audio
# source: bob.wav (8 s chirp 300 -> 3500 Hz, 8 kHz: longer than
# any call, so baresip never reaches its end, after which it encodes silence); what it encodes and
# decodes goes to WAV dumps (sndfile).  Kamailio relays only signalling:
# the media goes gwa <-> baresip directly as SRTP, keyed by the SDES
# a=crypto inside the TLS-protected SDP.  gwa offers
# AES_CM_128_HMAC_SHA1_80 first (PEERS.md: baresip 1.0.0 picks an offered
# AEAD_AES_256_GCM but answers without a=crypto), then _32 and the two GCM.
#
# Call 1: A calls bob (sipp media_uac: streams 3.4 s of a chirp as PCMU,
#   hangs up 3.5 s after its ACK); baresip answers at once.
# Call 2: bob calls A (ctrl_tcp "dial sip:alice@pbx.lab.test"); A registered
#   first (sipp register.xml), then answers with media_uas_any.xml (streams
#   another chirp); baresip hangs up 4 s after the answer.
#
# Proof, per call:
#  1. SRTP negotiated: gwa's status during the call lists it with
#     AES_CM_128_HMAC_SHA1_80 and SRTP moving both ways
#     (srtp_in_outside, srtp_out_outside > 0); baresip reports the same
#     suite (CALL_MENC event); on the WAN, decrypted with gwa's TLS key log,
#     offer and answer are RTP/SAVP with that a=crypto (gwa's offer: the
#     four suites in the configured order), on A's LAN RTP/AVP without
#     a=crypto; srtp_auth_fail moves only for baresip's own plain RTCP
#     (below), never for an SRTP/SRTCP packet;
#  2. audio both ways (audio_verdict.py check): what A received from gwa is
#     the PCMU of bob.wav byte for byte (libre's G.711 tables), in order,
#     >= 90 % of what baresip sent, not silence; what baresip decoded is A's
#     stream sample for sample, >= 90 %; baresip's own RTP counts agree;
#  3. the WAN carries only TLS and SRTP/SRTCP: every datagram between gwa
#     and baresip, SRTP of the AES_CM_128_HMAC_SHA1_80 size or SRTCP; no
#     16-byte piece of either plain stream in any WAN frame (the same search
#     finds them on A's LAN); every TCP stream is TLS records (wan_verdict.py
#     --udp-allowed); gwa's counters for the call equal the captures.
#     Exception, baresip's and not gwa's: baresip 1.0.0 itself sends an
#     RTCP APP "PING"/"PONG" in clear when its RTCP starts (next to the SRTCP
#     copy) and an RTCP BYE + SDES (CNAME sip:bob@pbx.lab.test) in clear at
#     hangup; the verdict names them, gwa drops them (the first is too short
#     for an SRTCP trailer: gwa counts it in srtp_auth_fail when its leg is
#     keyed; the last finds gwa's port closed) and relays nothing plain.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/gw.sh"
. "$(dirname "$0")/baresip.sh"

command -v baresip >/dev/null || { echo "baresip not installed" >&2; exit 77; }

LAB_BOB=198.18.2.11
SUITES="AES_CM_128_HMAC_SHA1_80 AES_CM_128_HMAC_SHA1_32 AEAD_AES_128_GCM AEAD_AES_256_GCM"

lab_init interop-baresip
lab_certs
lab_topology_direct
lab_wan_host bob $LAB_BOB

lab_gw_direct_conf "media = srtp
srtp-suites = $SUITES"

verdict=$LAB_LIB_DIR/audio_verdict.py
python3 "$verdict" wav "$LAB_DIR/bob.wav" 8 300 3500 8000 &&
	python3 "$verdict" wav "$LAB_DIR/call1-a.wav" 3.4 3000 400 6000 &&
	python3 "$verdict" wav "$LAB_DIR/call2-a.wav" 3.4 500 2500 10000 &&
	python3 "$verdict" ulaw "$LAB_DIR/call1-a.wav" "$LAB_DIR/call1-a.raw" &&
	python3 "$verdict" ulaw "$LAB_DIR/call2-a.wav" "$LAB_DIR/call2-a.raw" ||
	lab_fail "cannot write the audio files"

lab_kamailio pbx2 pbx-tls kamailio
lab_baresip_conf bob bob $LAB_BOB $LAB_PBX2:5061 "$LAB_DIR/bob.wav"

keys=$LAB_DIR/tls-keys.txt   # gwa's TLS secrets: the test reads the SDP on the WAN
lab_capture_start gwa wan "$LAB_DIR/wan.pcapng"
SSLKEYLOGFILE=$keys lab_gw_start gwa gwa "$LAB_DIR/gwa.conf"
lab_gw_wait_link gwa
lab_baresip_start bob bob

# bob's registration, as Kamailio holds it: over TLS, Contact on its TLS
# listener.
for _ in $(seq 1 50); do
	lab_kamcmd kamailio ul.dump >"$LAB_DIR/ul.dump" 2>&1
	grep -q "AoR: bob" "$LAB_DIR/ul.dump" && break
	sleep 0.1
done
ct=$(awk '$1 == "AoR:" { on = ($2 == "bob") } on && $1 == "Address:" { print $2; exit }' "$LAB_DIR/ul.dump")
echo "$ct" | grep -qE "@$LAB_BOB:5061;transport=tls" ||
	lab_fail "bob is not registered over TLS with its TLS listener as Contact: '$ct'"
lab_log "baresip registered over TLS: bob -> $ct"

st() { awk -v k="$2" '$1 == k { print $2; exit }' "$1"; }
# during_call N: gwa's status in the middle of call N.
during_call() {
	local s=$LAB_DIR/gwa-status-call$1-during.txt n
	lab_gw_status gwa >"$s" 2>&1
	echo "gwa status during call $1 (media):"
	grep -E '^ *(calls_|srtp_|rtp_|latched|call )' "$s"
	[ "$(st "$s" srtp_out_outside)" -gt 0 ] 2>/dev/null || lab_fail "call $1: srtp_out_outside $(st "$s" srtp_out_outside)"
	[ "$(st "$s" srtp_in_outside)" -gt 0 ] 2>/dev/null || lab_fail "call $1: srtp_in_outside $(st "$s" srtp_in_outside)"
	n=$(grep -c "^ *call .*AES_CM_128_HMAC_SHA1_80" "$s")
	[ "$n" = 1 ] || lab_fail "call $1: $n active calls with AES_CM_128_HMAC_SHA1_80 in gwa's status, want 1"
}
# rtp_stats N: baresip's "packets: TX RX" of its Nth call (printed at hangup).
rtp_stats() {
	awk -v n="$1" '$1 == "packets:" { if (++i == n) { print $2 ":" $3; exit } }' "$LAB_DIR/bob.log"
}
call_captures() {
	lab_capture_start phones lan "$LAB_DIR/lan-$1.pcapng"
	lab_capture_start gwa wan "$LAB_DIR/wan-$1.pcapng"
}
call_end() {   # call_end N: after baresip closed call N
	lab_baresip_wait_event bob CALL_CLOSED "$1" 10 || lab_fail "call $1: baresip did not close it"
	sleep 0.5   # in-flight media and RTCP
	lab_capture_stop "$LAB_DIR/lan-call$1.pcapng"
	lab_capture_stop "$LAB_DIR/wan-call$1.pcapng"
	lab_gw_status gwa >"$LAB_DIR/gwa-status-call$1-after.txt" 2>&1
	lab_baresip_take_dumps bob "call$1-bob"
	[ -n "$(rtp_stats "$1")" ] || lab_fail "call $1: baresip printed no RTP statistics"
}

# Call 1: A -> bob.
lab_gw_status gwa >"$LAB_DIR/gwa-status-call1-before.txt" 2>&1
call_captures call1
cp "$LAB_DIR/call1-a.raw" "$LAB_DIR/media-a.raw"
LAB_CALL_ID=$LAB_PFX-1-$RANDOM
id1=call///$LAB_CALL_ID
lab_sipp phones call1-alice media_uac $LAB_PHONE_A $LAB_GWA_IN:5060 alice -s bob
lab_baresip_wait_event bob CALL_ESTABLISHED 1 10 || lab_fail "call 1: baresip did not answer"
for _ in $(seq 1 40); do
	grep -q '^streaming' "$LAB_DIR/call1-alice.actions" 2>/dev/null && break
	sleep 0.1
done
sleep 1.5
during_call 1
lab_wait call1-alice 20 || lab_fail "call 1 (A -> bob): sipp exit $?"
call_end 1
lab_log "call 1 (alice -> bob): ok, baresip RTP TX:RX $(rtp_stats 1)"

# Call 2: bob -> A.
LAB_CALL_ID=$LAB_PFX-2-$RANDOM
lab_sipp phones call2-reg register $LAB_PHONE_A $LAB_GWA_IN:5060 alice
lab_wait call2-reg 15 || lab_fail "call 2: alice did not register"
cp "$LAB_DIR/call2-a.raw" "$LAB_DIR/media-b.raw"
lab_sipp phones call2-alice media_uas_any $LAB_PHONE_A $LAB_GWA_IN:5060 alice
lab_wait_port phones udp 5060 $LAB_PHONE_A
lab_gw_status gwa >"$LAB_DIR/gwa-status-call2-before.txt" 2>&1
call_captures call2
lab_baresip_cmd bob dial sip:alice@pbx.lab.test >"$LAB_DIR/dial.out" 2>&1 ||
	lab_fail "baresip refused to dial: $(cat "$LAB_DIR/dial.out")"
lab_baresip_wait_event bob CALL_ESTABLISHED 2 10 || lab_fail "call 2: not established"
sleep 1.5
during_call 2
sleep 2.5
lab_baresip_cmd bob hangup >/dev/null 2>&1 || lab_fail "baresip refused to hang up"
lab_wait call2-alice 20 || lab_fail "call 2 (bob -> A): sipp exit $?"
call_end 2
grep -q '^bye' "$LAB_DIR/call2-alice.actions" || lab_fail "call 2: A got no BYE"
lab_log "call 2 (bob -> alice): ok, baresip RTP TX:RX $(rtp_stats 2)"
id2=$(awk -F'"' '/"type": "CALL_ESTABLISHED"/ { n++; if (n == 2) { for (i = 1; i < NF; i++) if ($i == "id") { print $(i + 2); exit } } }' \
	"$LAB_DIR/bob-events.log")

lab_baresip_stop bob
sleep 0.3
lab_capture_stop "$LAB_DIR/wan.pcapng"
lab_gw_status gwa >"$LAB_DIR/gwa-status.txt" 2>&1
[ "$(st "$LAB_DIR/gwa-status.txt" calls_active)" = 0 ] ||
	lab_fail "calls_active $(st "$LAB_DIR/gwa-status.txt" calls_active) after both calls"

# 1. The suite, as baresip saw it, and the SDP on both sides of gwa.
n=$(grep -c '"type": "CALL_MENC".*"0,audio,AES_CM_128_HMAC_SHA1_80"' "$LAB_DIR/bob-events.log")
[ "$n" = 2 ] || lab_fail "baresip reported AES_CM_128_HMAC_SHA1_80 for $n calls, want 2"
grep -F "srtp: audio: SRTP is Enabled (cryptosuite=AES_CM_128_HMAC_SHA1_80)" "$LAB_DIR/bob.log" |
	sed 's/^/baresip: /' | sort | uniq -c
sdp_fields=(-T fields -E 'separator=|' -E occurrence=a -e ip.src -e ip.dst -e sip.Call-ID
	-e sip.Method -e sip.Status-Code -e sip.CSeq.method -e sdp.media.proto
	-e sdp.crypto.crypto_suite)
tshark -r "$LAB_DIR/wan.pcapng" -o "tls.keylog_file:$keys" -d tcp.port==5061,tls \
	-Y 'sdp' "${sdp_fields[@]}" >"$LAB_DIR/wan-sdp.txt" 2>/dev/null
for i in 1 2; do
	tshark -r "$LAB_DIR/lan-call$i.pcapng" -Y 'sdp' "${sdp_fields[@]}" 2>/dev/null
done >"$LAB_DIR/lan-sdp.txt"
echo "SDP on the WAN (decrypted with gwa's key log): src/dst/Call-ID/method/status/CSeq/proto/suites"
cat "$LAB_DIR/wan-sdp.txt"
echo "SDP on A's LAN:"
cat "$LAB_DIR/lan-sdp.txt"
for id in "$id1" "$id2"; do
	offer=$(grep -F "|$id|INVITE|" "$LAB_DIR/wan-sdp.txt" | head -n 1)
	answer=$(grep -F "|$id||200|INVITE|" "$LAB_DIR/wan-sdp.txt" | head -n 1)
	[ -n "$offer" ] && [ -n "$answer" ] || lab_fail "Call-ID $id: no offer/answer on the decrypted WAN"
	echo "$offer" | grep -q '|RTP/SAVP|.*AES_CM_128_HMAC_SHA1_80' ||
		lab_fail "Call-ID $id: the WAN offer is not RTP/SAVP with AES_CM_128_HMAC_SHA1_80: $offer"
	echo "$answer" | grep -qE '\|RTP/SAVP\|AES_CM_128_HMAC_SHA1_80$' ||
		lab_fail "Call-ID $id: the WAN answer is not RTP/SAVP with exactly AES_CM_128_HMAC_SHA1_80: $answer"
done
grep -F "|$id1|INVITE|" "$LAB_DIR/wan-sdp.txt" | head -n 1 |
	grep -qE "\|RTP/SAVP\|${SUITES// /,}$" ||
	lab_fail "call 1: gwa's offer does not carry the suites in the configured order ($SUITES)"
[ "$(grep -c . "$LAB_DIR/lan-sdp.txt")" -ge 4 ] || lab_fail "fewer than 4 SDP bodies on A's LAN"
grep -vqE '\|RTP/AVP\|$' "$LAB_DIR/lan-sdp.txt" &&
	lab_fail "SDP on A's LAN that is not RTP/AVP without a=crypto"

# 2, 3. Audio both ways, SRTP only on the WAN, per call.
for i in 1 2; do
	python3 "$verdict" check --label "call $i" \
		--lan "$LAB_DIR/lan-call$i.pcapng" --wan "$LAB_DIR/wan-call$i.pcapng" \
		--to-ua "$LAB_DIR/call$i-a.raw:$LAB_DIR/call$i-bob-dec.wav" \
		--from-ua "$LAB_DIR/bob.wav:$LAB_DIR/call$i-bob-enc.wav" \
		--ua-stats "$(rtp_stats $i)" \
		--status-before "$LAB_DIR/gwa-status-call$i-before.txt" \
		--status-after "$LAB_DIR/gwa-status-call$i-after.txt" \
		--ua $LAB_BOB || lab_fail "call $i: the audio is not what the phones sent, or not only SRTP crossed the WAN"
done
python3 "$verdict" wan "$LAB_DIR/wan.pcapng" --ua $LAB_BOB --plain "$LAB_DIR/bob.wav" \
	--plain "$LAB_DIR/call1-a.raw" --plain "$LAB_DIR/call2-a.raw" ||
	lab_fail "the whole run's WAN carries more than SRTP"
python3 "$LAB_LIB_DIR/wan_verdict.py" "$LAB_DIR/wan.pcapng" --udp-allowed ||
	lab_fail "the WAN's TCP streams are not only TLS"
s=$LAB_DIR/gwa-status.txt
for k in srtp_replay media_tx_drop hs_fail_server hs_fail_client refused_488 sdp_errors; do
	[ "$(st "$s" $k)" = 0 ] || lab_fail "gwa $k = $(st "$s" $k)"
done
# srtp_auth_fail: audio_verdict.py accounted for every increment, call by
# call: none is an SRTP/SRTCP packet (every SRTP packet was relayed, the
# runs are complete); gwa counts baresip's 16-byte plain RTCP APP "PING"
# there when it arrives on a keyed leg (too short for an SRTCP trailer, so
# not "srtcp_plain_dropped").
echo "gwa after both calls: srtp_auth_fail $(st "$s" srtp_auth_fail) (baresip's plain RTCP PING, see above), srtcp_plain_dropped $(st "$s" srtcp_plain_dropped), srtp_replay $(st "$s" srtp_replay)"
lab_pass
