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

lab_gw_direct_conf

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
# GnuTLS writes gwa's TLS session secrets here, so the test can read the
# SDP that crossed the WAN (c).  Every other check runs without it.
keys=$LAB_DIR/tls-keys.txt   # not *.log: lab_fail prints those
SSLKEYLOGFILE=$keys lab_gw_start gwa gwa "$LAB_DIR/gwa.conf"
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
grep -E '^ *(calls_|srtp_|rtp_|media_|latched|relatched|refused_488|sdp_errors)' "$s"
[ "$(st "$s" calls_srtp)" -ge 2 ] 2>/dev/null || lab_fail "calls_srtp $(st "$s" calls_srtp) after two calls, want >= 2"
[ "$(st "$s" calls_plain_rtp)" = 0 ] || lab_fail "calls_plain_rtp $(st "$s" calls_plain_rtp)"
[ "$(st "$s" calls_active)" = 0 ] || lab_fail "calls_active $(st "$s" calls_active) after both BYEs"
for k in srtp_auth_fail srtp_replay refused_488 sdp_errors; do
	[ "$(st "$s" $k)" = 0 ] || lab_fail "gwa $k = $(st "$s" $k)"
done

# a, b, d: the captures (and gwa's counters against them).  Phone "B" of the
# verdict is C, on its own LAN, fed by rtpengine's lan interface.
python3 "$verdict" check --phones "$LAB_DIR/phones.pcapng" \
	--far "$LAB_DIR/phonec.pcapng" --b $LAB_PHONE_C --b-from $LAB_PBX2_LAN \
	--wan "$LAB_DIR/wan.pcapng" --plain "$LAB_DIR/phonec.pcapng" --crossings 1 \
	--reorder-ok \
	--call "answer:$id1:$LAB_DIR/call1-a.raw:$LAB_DIR/call1-c.raw" \
	--call "answer:$id2:$LAB_DIR/call2-a.raw:$LAB_DIR/call2-c.raw" \
	--status "$s" || lab_fail "the media is not what the phones sent, or not only SRTP crossed the WAN"
python3 "$LAB_LIB_DIR/wan_verdict.py" "$LAB_DIR/wan.pcapng" --udp-allowed ||
	lab_fail "the WAN's TCP streams are not only TLS"
# The WAN's datagrams are all between gwa and rtpengine's wan interface.
n=$(tshark -r "$LAB_DIR/wan.pcapng" -Y "udp && !(ip.addr == $LAB_GWA_WAN && ip.addr == $LAB_PBX2)" 2>/dev/null | wc -l)
[ "$n" = 0 ] || lab_fail "$n WAN datagrams not between gwa and rtpengine"

# c: the SDP each side saw.  sdp_of CAP [TSHARK OPTS] -> one line per SIP
# message with SDP: Call-ID, source, request method or status, m= lines,
# the a=crypto suites ("-" if none).
sdp_of() {
	local cap=$1; shift
	tshark -r "$cap" "$@" -Y 'sdp' -T fields -E separator='|' -E occurrence=a \
		-E aggregator=';' -e sip.Call-ID -e ip.src -e sip.Method -e sip.Status-Code \
		-e sdp.media -e sdp.media_attr 2>/dev/null |
		awk -F'|' '{ n = split($6, a, ";"); c = ""
			for (i = 1; i <= n; i++) if (a[i] ~ /^crypto:/) { split(a[i], f, " "); c = c (c ? "," : "") f[2] }
			printf "%s %s %s %s %s\n", $1, $2, ($3 != "" ? $3 : $4), $5, (c ? c : "-") }'
}
sdp_of "$LAB_DIR/phonec.pcapng" >"$LAB_DIR/sdp-lan-c.txt"
sdp_of "$LAB_DIR/wan.pcapng" -o "tls.keylog_file:$keys" -d tcp.port==5061,tls \
	>"$LAB_DIR/sdp-wan.txt"
[ -s "$LAB_DIR/sdp-wan.txt" ] || lab_fail "cannot read the SDP on the WAN with $keys"
echo "SDP on C's LAN (Call-ID src request/status m= crypto):"
sed 's/^/  /' "$LAB_DIR/sdp-lan-c.txt"
echo "SDP on the WAN (decrypted with gwa's key log):"
sed 's/^/  /' "$LAB_DIR/sdp-wan.txt"
# want FILE CALLID SRC WHAT PROFILE CRYPTO-REGEX DESCRIPTION
want() {
	awk -v id="$2" -v src="$3" -v what="$4" -v prof="$5" -v re="$6" '
		$1 == id && $2 == src && $3 == what {
			seen = 1
			if (index($0, " " prof " ") == 0 || $NF !~ re) bad = 1 }
		END { exit !(seen && !bad) }' "$1" || lab_fail "SDP: $7 (see $1)"
}
offer_re='AES_CM_128_HMAC_SHA1_80'
want "$LAB_DIR/sdp-wan.txt" "$id1" $LAB_GWA_WAN INVITE RTP/SAVP "$offer_re" \
	"call 1: gwa's offer on the WAN is not RTP/SAVP with a=crypto"
want "$LAB_DIR/sdp-wan.txt" "$id1" $LAB_PBX2 200 RTP/SAVP '^[A-Z0-9_]+$' \
	"call 1: the answer to gwa is not RTP/SAVP with exactly one a=crypto"
want "$LAB_DIR/sdp-lan-c.txt" "$id1" $LAB_PBX2_LAN INVITE RTP/AVP '^-$' \
	"call 1: C was not offered plain RTP/AVP without a=crypto"
want "$LAB_DIR/sdp-lan-c.txt" "$id1" $LAB_PHONE_C 200 RTP/AVP '^-$' \
	"call 1: C's answer is not plain RTP/AVP"
want "$LAB_DIR/sdp-lan-c.txt" "$id2" $LAB_PHONE_C INVITE RTP/AVP '^-$' \
	"call 2: C's offer is not plain RTP/AVP"
want "$LAB_DIR/sdp-wan.txt" "$id2" $LAB_PBX2 INVITE RTP/SAVP '_' \
	"call 2: gwa was not offered RTP/SAVP with a=crypto"
grep -E "^$id2 $LAB_PBX2 INVITE .*AEAD" "$LAB_DIR/sdp-wan.txt" &&
	lab_fail "call 2: rtpengine offered AEAD suites despite SDES-no-AEAD_*"
want "$LAB_DIR/sdp-wan.txt" "$id2" $LAB_GWA_WAN 200 RTP/SAVP '^[A-Z0-9_]+_80$' \
	"call 2: gwa's answer is not RTP/SAVP with one a=crypto of an 80-bit tag suite"
want "$LAB_DIR/sdp-lan-c.txt" "$id2" $LAB_PBX2_LAN 200 RTP/AVP '^-$' \
	"call 2: C got no plain RTP/AVP answer"
suite2=$(awk -v id="$id2" -v g=$LAB_GWA_WAN '$1 == id && $2 == g && $3 == 200 { print $NF; exit }' \
	"$LAB_DIR/sdp-wan.txt")
echo "call 2: gwa chose $suite2 among rtpengine's SDES offers"

# rtpengine: no SRTP/crypto trouble, and both calls bridged SAVP <-> AVP.
if grep -E 'ERR|WARNING|SRTP output wanted|[Aa]uthentication|[Ff]ailed' "$LAB_DIR/rtpengine.log" |
	grep -v 'Generating new DTLS certificate'; then
	lab_fail "rtpengine logged the errors above"
fi
n=$(grep -c 'Media #1 (audio over RTP/SAVP)' "$LAB_DIR/rtpengine.log")
[ "$n" = 2 ] || lab_fail "rtpengine: $n RTP/SAVP legs in its final stats, want 2"
grep -E -- '--- Port .* [0-9]+ p, [0-9]+ b, [0-9]+ e' "$LAB_DIR/rtpengine.log" |
	sed 's/^.*\] //' | sed 's/^/rtpengine: /'
grep -qE -- '--- Port .*, [1-9][0-9]* e, ' "$LAB_DIR/rtpengine.log" &&
	lab_fail "rtpengine counted errors on a port"
lab_pass
