#!/usr/bin/env bash
# A gateway pair in network namespaces (DESIGN §9):
#   phones (sipp, UDP) -> gwa (client) ==TLS==> gwb (server) -> Kamailio (UDP)
# Both phones register through the pair; A calls B and B calls A (so a call
# reaches a phone through the tunnel by its flow token); re-INVITE from both
# ends and BYE from either end. A capture on the WAN link shows only TLS:
# not one plaintext SIP byte.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/gw.sh"

lab_init pair
lab_topology
lab_certs
lab_gw_pair_conf
lab_kamailio pbx pbx-udp
lab_capture_start gwa wan "$LAB_DIR/wan.pcapng"
lab_capture_start pbx lan "$LAB_DIR/pbx-lan.pcapng"
lab_gw_start gwb gwb "$LAB_DIR/gwb.conf"
lab_gw_start gwa gwa "$LAB_DIR/gwa.conf"
lab_gw_wait_link gwa

lab_call phones $LAB_GWA_IN:5060 alice $LAB_PHONE_A bob $LAB_PHONE_B caller ||
	lab_fail "call alice -> bob (BYE by caller) failed"
lab_call phones $LAB_GWA_IN:5060 bob $LAB_PHONE_B alice $LAB_PHONE_A callee ||
	lab_fail "call bob -> alice (BYE by callee) failed"
lab_call phones $LAB_GWA_IN:5060 alice $LAB_PHONE_A bob $LAB_PHONE_B callee ||
	lab_fail "call alice -> bob (BYE by callee) failed"
lab_call phones $LAB_GWA_IN:5060 bob $LAB_PHONE_B alice $LAB_PHONE_A caller ||
	lab_fail "call bob -> alice (BYE by caller) failed"
lab_capture_stop

# What crossed the WAN. The same SIP detector must see plain SIP on the PBX
# LAN, or it proves nothing.
sipfilter='sip.Request-Line || sip.Status-Line'
lan=$(tshark -r "$LAB_DIR/pbx-lan.pcapng" -Y "$sipfilter" 2>/dev/null | wc -l)
[ "$lan" -gt 20 ] || lab_fail "the SIP detector saw only $lan SIP frames on the PBX LAN"
cap=$LAB_DIR/wan.pcapng
tls=$(tshark -r "$cap" -Y 'tls' 2>/dev/null | wc -l)
sip=$(tshark -r "$cap" -d tcp.port==5061,sip -Y "$sipfilter" 2>/dev/null | wc -l)
echo "WAN capture: $tls TLS records, $sip frames that parse as SIP"
[ "$tls" -gt 0 ] || lab_fail "no TLS on the WAN"
[ "$sip" -eq 0 ] || lab_fail "$sip frames on the WAN parse as plain SIP"
# Byte for byte: every TCP stream is TLS records from start to end, no
# datagram crossed, no plaintext SIP anywhere.
python3 "$LAB_LIB_DIR/wan_verdict.py" "$cap" || lab_fail "not only TLS crossed the WAN"
python3 "$LAB_LIB_DIR/wan_verdict.py" "$LAB_DIR/pbx-lan.pcapng" >/dev/null &&
	lab_fail "wan_verdict.py passed the plain PBX LAN capture: it proves nothing"

# One persistent connection carried everything.
n=$(lab_gw_counter gwb tls_accepted)
[ "$n" = 1 ] || lab_fail "gwb accepted $n TLS connections, want 1"
lab_gw_status gwa
lab_pass
