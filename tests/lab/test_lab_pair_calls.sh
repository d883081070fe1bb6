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

cap=$LAB_DIR/wan.pcapng
lab_wan_only_tls "$cap" "$LAB_DIR/pbx-lan.pcapng" "the PBX LAN"
python3 "$LAB_LIB_DIR/wan_verdict.py" "$LAB_DIR/pbx-lan.pcapng" >/dev/null &&
	lab_fail "wan_verdict.py passed the plain PBX LAN capture: it proves nothing"

# One persistent connection carried everything.
n=$(lab_gw_counter gwb tls_accepted)
[ "$n" = 1 ] || lab_fail "gwb accepted $n TLS connections, want 1"
lab_gw_status gwa
lab_pass
