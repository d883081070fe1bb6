#!/usr/bin/env bash
# The README's demo: a call with audio through a gateway pair in network
# namespaces, and proof of what crossed the WAN link between the gateways.
#
#   alice --SIP/UDP, RTP--> gwa ==SIP/TLS, SRTP==> gwb --SIP/UDP--> Kamailio
#                                                                      |
#   bob   <--SIP/UDP, RTP-- gwa <==SIP/TLS, SRTP== gwb <--SIP/UDP------'
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/gw.sh"

say() { printf '\n== %s\n' "$*"; }
st() { awk -v k="$2" '$1 == k { print $2; exit }' "$1"; }

lab_init demo
say "building the lab: phones | gwa (client) | WAN | gwb (server) | PBX (Kamailio)"
lab_topology
lab_certs
lab_gw_pair_conf
lab_kamailio pbx pbx-udp 2>/dev/null
lab_capture_start phones lan "$LAB_DIR/phones.pcapng"
lab_capture_start gwa wan "$LAB_DIR/wan.pcapng"
lab_capture_start gwb lo "$LAB_DIR/gwb-lo.pcapng"
lab_gw_start gwb gwb "$LAB_DIR/gwb.conf"
lab_gw_start gwa gwa "$LAB_DIR/gwa.conf"
lab_gw_wait_link gwa
echo "gwa: $(grep -c '' "$LAB_DIR/gwa.conf") config lines, gwb: $(grep -c '' "$LAB_DIR/gwb.conf"); both verify each other's certificate"

verdict=$LAB_LIB_DIR/media_verdict.py
python3 "$verdict" gen "$LAB_DIR/media-a.raw" "$LAB_PFX-a" 150 &&
	python3 "$verdict" gen "$LAB_DIR/media-b.raw" "$LAB_PFX-b" 150 ||
	lab_fail "cannot write the audio files"
cp "$LAB_DIR/media-a.raw" "$LAB_DIR/a.raw"
cp "$LAB_DIR/media-b.raw" "$LAB_DIR/b.raw"

say "alice (198.18.1.10) calls bob (198.18.1.11): REGISTER, INVITE, 3 s of audio each way, BYE"
lab_call_start media_uac media_uas phones $LAB_GWA_IN:5060 \
	alice $LAB_PHONE_A bob $LAB_PHONE_B 2>/dev/null || lab_fail "bob did not register"
id=call///$LAB_CALL_ID
for _ in $(seq 1 40); do
	grep -q '^streaming' "$LAB_DIR/$LAB_CALL_CALLEE.actions" 2>/dev/null && break
	sleep 0.1
done
sleep 1.5
lab_gw_status gwa >"$LAB_DIR/during.txt" 2>&1
lab_call_wait "media" 2>/dev/null || lab_fail "the call failed"
echo "call: completed (both sipp phones report success)"
lab_capture_stop

say "what the phones sent to gwa (plain SIP on the LAN), first lines"
grep -E '^(INVITE|REGISTER|BYE|ACK) sip' "$LAB_DIR/$LAB_CALL_CALLER.msg" | head -4 | sed 's/^/  /'

say "gwa during the call (sipsgate status): the TLS link and the SRTP suite per crossing"
grep -E 'connection|^ *call ' "$LAB_DIR/during.txt" | sed 's/^ */  /'
lab_gw_status gwa >"$LAB_DIR/after.txt" 2>&1
grep -E '^ *(calls_srtp|rtp_in_inside|srtp_out_outside|srtp_in_outside|rtp_out_inside|srtp_auth_fail) ' \
	"$LAB_DIR/after.txt" | sed 's/^ */  /'

say "what crossed the WAN (captured on gwa's WAN interface)"
cap=$LAB_DIR/wan.pcapng
tshark -r "$cap" -q -z io,phs 2>/dev/null | grep -E '^ *(eth|ip|tcp|tls|udp|data) ' | sed 's/^/  /'
tshark -r "$cap" -Y 'tls.handshake.type == 2' -T fields \
	-e tls.handshake.extensions.supported_version -e tls.handshake.ciphersuite 2>/dev/null |
	head -1 | awk '{ printf "  TLS server hello: version %s (0x0304 = TLS 1.3), cipher suite %s\n", $1, $2 }'
sip=$(tshark -r "$cap" -d tcp.port==5061,sip -Y 'sip.Request-Line || sip.Status-Line' 2>/dev/null | wc -l)
echo "  SIP messages readable on the WAN: $sip"
python3 "$LAB_LIB_DIR/wan_verdict.py" "$cap" --udp-allowed | sed 's/^/  /'
[ "${PIPESTATUS[0]}" = 0 ] && [ "$sip" = 0 ] || lab_fail "plain SIP crossed the WAN"
python3 "$verdict" check --phones "$LAB_DIR/phones.pcapng" --wan "$cap" \
	--plain "$LAB_DIR/gwb-lo.pcapng" --call "answer:$id:$LAB_DIR/a.raw:$LAB_DIR/b.raw" \
	>"$LAB_DIR/media-verdict.txt" 2>&1
rc=$?
sed 's/^/  /' "$LAB_DIR/media-verdict.txt" | tail -12
[ $rc = 0 ] || lab_fail "the audio is not what the phones sent, or plain RTP crossed the WAN"
echo
echo "  verdict: the audio arrived byte for byte; only TLS and SRTP crossed the WAN"
lab_pass
