#!/usr/bin/env bash
# The README's demo: a call through a gateway pair in network namespaces,
#   phone alice --UDP--> gwa ==TLS==> gwb --UDP--> Kamailio --> ... --> phone bob
# and proof of what crossed the WAN link between the gateways.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/gw.sh"

say() { printf '\n== %s\n' "$*"; }

lab_init demo
say "building the lab: phones | gwa (client) | WAN | gwb (server) | PBX (Kamailio)"
lab_topology
lab_certs
lab_gw_pair_conf
lab_kamailio pbx pbx-udp 2>/dev/null
lab_capture_start gwa wan "$LAB_DIR/wan.pcapng"
lab_gw_start gwb gwb "$LAB_DIR/gwb.conf"
lab_gw_start gwa gwa "$LAB_DIR/gwa.conf"
lab_gw_wait_link gwa

say "alice (198.18.1.10) calls bob (198.18.1.11): REGISTER, INVITE, re-INVITE both ways, BYE"
if lab_call phones $LAB_GWA_IN:5060 alice $LAB_PHONE_A bob $LAB_PHONE_B caller 2>/dev/null; then
	echo "call: completed (both sipp phones report success)"
else
	lab_fail "the call failed"
fi
lab_capture_stop

say "what the phones sent (plain SIP on the LAN), first lines"
grep -E '^(INVITE|REGISTER|BYE|ACK) sip' "$LAB_DIR/call1-alice.msg" | head -4 | sed 's/^/  /'

say "the TLS link between the gateways (sipsgate status on gwa)"
lab_gw_status gwa | grep -E "connection|tls_active|msg_(in|out)|calls_|srtp_|rtp_" | sed "s/^/  /"

say "what crossed the WAN (tshark on gwa's WAN interface)"
cap=$LAB_DIR/wan.pcapng
tshark -r "$cap" -q -z io,phs 2>/dev/null | grep -E 'eth|ip|tcp|tls|udp' | sed 's/^/  /'
tshark -r "$cap" -Y 'tls.handshake.type == 2' -T fields \
	-e tls.handshake.extensions.supported_version -e tls.handshake.ciphersuite 2>/dev/null |
	head -1 | awk '{ printf "  server hello: version %s, cipher suite %s\n", $1, $2 }'
sip=$(tshark -r "$cap" -d tcp.port==5061,sip -Y 'sip.Request-Line || sip.Status-Line' 2>/dev/null | wc -l)
echo "  SIP messages tshark can read on the WAN: $sip"
python3 "$LAB_LIB_DIR/wan_verdict.py" "$cap" | sed 's/^/  /'
[ "${PIPESTATUS[0]}" = 0 ] || lab_fail "plain SIP crossed the WAN"
[ "$sip" = 0 ] || lab_fail "plain SIP crossed the WAN"
echo
echo "  (media: RTP is not relayed or encrypted yet; this demo carries signalling only)"
lab_pass
