#!/usr/bin/env bash
# Media through the gateway pair (DESIGN §4), proved on the wire:
#   phones (sipp, UDP, RTP) -> gwa (client) ==TLS/SRTP==> gwb (server) -> Kamailio
# Phone A (alice) calls phone B (bob); both stream a file of distinct
# 160-byte PCMU payloads (3 s, 150 packets, sipp's rtp_stream) and A hangs
# up.  Call 1: B answers 200 and both stream after the ACK.  Call 2 (early
# media): B answers 183 with SDP and streams at once, the 200 follows 1 s
# later, A streams after its ACK.
#
# Where the media goes.  Kamailio relays no media, and the call crosses the
# pair twice (A -> gwa -> gwb -> Kamailio -> gwb -> gwa -> B), so media
# follows the SDP each gateway wrote, crossing by crossing:
#   A <-> gwa inside (crossing 1)                  phones' LAN, plain RTP
#   gwa outside (1) <-> gwb outside (1)            WAN, SRTP
#   gwb inside (1) <-> gwb inside (2)              gwb's own inside address
#       (198.18.3.1) to itself: the kernel sends it over gwb's loopback
#       interface, not over the PBX LAN; plain RTP (the PBX side is inside)
#   gwb outside (2) <-> gwa outside (2)            WAN, SRTP
#   gwa inside (2) <-> B                           phones' LAN, plain RTP
# So each packet crosses the WAN twice, once per crossing, under two
# different keys; each gateway uses an inside and an outside port pair per
# crossing; the PBX LAN carries SIP only.  The captures show exactly this:
# phones' LAN (ns phones, lan), WAN (ns gwa, wan), PBX LAN (ns pbx, lan) and
# gwb's loopback (ns gwb, lo).
#
# Proof (tests/lab/media_verdict.py, tshark with heuristic RTP):
#  a. what B received is A's payloads byte for byte, in order, a contiguous
#     run of >= 90 % of what A sent (losses only at the start/end), and the
#     other way round; in call 2 B's packets sent before its 200 reached A
#     before the 200 did;
#  b. every WAN datagram is SRTP: an RTP header of a phone packet, exactly
#     10 bytes (the AES_CM_128_HMAC_SHA1_80 tag) longer than that plain
#     packet, holding no plain payload nor any 16-byte piece of one (the
#     same search finds them on gwb's plain loopback legs); RTCP would have
#     to be SRTCP; the two WAN crossings of one packet differ; the TCP
#     streams are TLS records only (wan_verdict.py --udp-allowed);
#  c. gwa's `sipsgate status` during call 1 (calls_srtp >= 2, SRTP flowing
#     both ways, the suite on each active call) and after both calls (its
#     media counters equal what the captures saw, no auth failure, no
#     replay).
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/gw.sh"

lab_init pair_media
lab_topology
lab_certs
lab_gw_pair_conf
lab_kamailio pbx pbx-udp
lab_capture_start phones lan "$LAB_DIR/phones.pcapng"
lab_capture_start gwa wan "$LAB_DIR/wan.pcapng"
lab_capture_start pbx lan "$LAB_DIR/pbx-lan.pcapng"
lab_capture_start gwb lo "$LAB_DIR/gwb-lo.pcapng"
lab_gw_start gwb gwb "$LAB_DIR/gwb.conf"
lab_gw_start gwa gwa "$LAB_DIR/gwa.conf"
lab_gw_wait_link gwa

verdict=$LAB_LIB_DIR/media_verdict.py
# Distinct payloads per call and phone; the scenarios stream media-a.raw
# (caller) and media-b.raw (callee) from $LAB_DIR, read when sipp starts.
for f in call1-a call1-b call2-a call2-b; do
	python3 "$verdict" gen "$LAB_DIR/$f.raw" "$LAB_PFX-$f" 150 ||
		lab_fail "cannot write $f.raw"
done
media_files() {
	cp "$LAB_DIR/$1-a.raw" "$LAB_DIR/media-a.raw"
	cp "$LAB_DIR/$1-b.raw" "$LAB_DIR/media-b.raw"
}

# Call 1: answer, then media both ways; gwa's status in the middle of it.
media_files call1
lab_call_start media_uac media_uas phones $LAB_GWA_IN:5060 \
	alice $LAB_PHONE_A bob $LAB_PHONE_B || lab_fail "call 1: bob did not register"
id1=call///$LAB_CALL_ID
for _ in $(seq 1 40); do
	grep -q '^streaming' "$LAB_DIR/$LAB_CALL_CALLEE.actions" 2>/dev/null && break
	sleep 0.1
done
sleep 1.5
lab_gw_status gwa >"$LAB_DIR/gwa-status-call1.txt" 2>&1
echo "gwa status during call 1:"
cat "$LAB_DIR/gwa-status-call1.txt"
st() { awk -v k="$2" '$1 == k { print $2; exit }' "$1"; }
s=$LAB_DIR/gwa-status-call1.txt
[ "$(st "$s" calls_srtp)" -ge 2 ] 2>/dev/null || lab_fail "during call 1: calls_srtp $(st "$s" calls_srtp), want >= 2"
[ "$(st "$s" srtp_out_outside)" -gt 0 ] 2>/dev/null || lab_fail "during call 1: srtp_out_outside $(st "$s" srtp_out_outside)"
[ "$(st "$s" srtp_in_outside)" -gt 0 ] 2>/dev/null || lab_fail "during call 1: srtp_in_outside $(st "$s" srtp_in_outside)"
[ "$(st "$s" srtp_auth_fail)" = 0 ] || lab_fail "during call 1: srtp_auth_fail $(st "$s" srtp_auth_fail)"
n=$(grep -c "^ *call .*AES_CM_128_HMAC_SHA1_80" "$s")
[ "$n" -ge 2 ] || lab_fail "during call 1: $n active calls with AES_CM_128_HMAC_SHA1_80 in gwa's status, want 2 (one per crossing)"
lab_call_wait "media" || lab_fail "call 1 (alice -> bob, media after the answer) failed"

# Call 2: early media (183 + SDP, B streams, 200 a second later).
media_files call2
lab_call_start media_uac media_uas_early phones $LAB_GWA_IN:5060 \
	alice $LAB_PHONE_A bob $LAB_PHONE_B || lab_fail "call 2: bob did not register"
id2=call///$LAB_CALL_ID
lab_call_wait "early media" || lab_fail "call 2 (alice -> bob, early media) failed"
grep -q '^early' "$LAB_DIR/$LAB_CALL_CALLER.actions" ||
	lab_fail "call 2: alice got no 183"
lab_capture_stop

lab_gw_status gwa >"$LAB_DIR/gwa-status.txt" 2>&1
s=$LAB_DIR/gwa-status.txt
echo "gwa status after both calls:"
grep -E '^ *(calls_|srtp_|rtp_|media_|latched|relatched)' "$s"
[ "$(st "$s" calls_srtp)" -ge 4 ] 2>/dev/null || lab_fail "calls_srtp $(st "$s" calls_srtp) after two calls, want >= 4 (two crossings each)"
[ "$(st "$s" calls_active)" = 0 ] || lab_fail "calls_active $(st "$s" calls_active) after both BYEs"

# a, b, c: the captures (and gwa's counters against them).
python3 "$verdict" check --phones "$LAB_DIR/phones.pcapng" \
	--wan "$LAB_DIR/wan.pcapng" --plain "$LAB_DIR/gwb-lo.pcapng" \
	--call "answer:$id1:$LAB_DIR/call1-a.raw:$LAB_DIR/call1-b.raw" \
	--call "early:$id2:$LAB_DIR/call2-a.raw:$LAB_DIR/call2-b.raw" \
	--status "$s" || lab_fail "the media is not what the phones sent, or not only SRTP crossed the WAN"
python3 "$LAB_LIB_DIR/wan_verdict.py" "$LAB_DIR/wan.pcapng" --udp-allowed ||
	lab_fail "the WAN's TCP streams are not only TLS"
# The PBX LAN carries SIP only (gwb relays between its own inside ports).
n=$(tshark -r "$LAB_DIR/pbx-lan.pcapng" -Y 'udp && !sip' 2>/dev/null | wc -l)
echo "PBX LAN: $n non-SIP datagrams"
[ "$n" = 0 ] || lab_fail "$n non-SIP datagrams on the PBX LAN"
lab_pass
