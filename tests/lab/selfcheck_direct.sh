#!/bin/bash
# Lab self-check without sipsgate: two sipp phones talk straight to Kamailio
# (pbx-udp.cfg) over plain UDP, both call variants.  Validates lib.sh, the
# Kamailio template and the sipp scenarios before any gateway is inserted.
#   phones ns: lan 198.18.1.10 (alice), 198.18.1.11 (bob)
#   pbx ns:    lan 198.18.1.20 and 198.18.1.21 (two listen addresses)
# Run 1: both phones use .20 (single Record-Route).  Run 2: alice uses .20 and
# bob registers via .21, so Kamailio forwards between two sockets and
# double-record-routes: the scenarios' route-set handling is checked with two
# Route entries, as it will be behind a gateway.
set -u
. "$(dirname "$0")/lib.sh"
lab_init direct

lab_ns_add phones
lab_ns_add pbx
lab_link phones lan $LAB_PHONE_A/24 pbx lan 198.18.1.20/24
lab_addr phones lan $LAB_PHONE_B/24
lab_addr pbx lan 198.18.1.21/24
lab_hosts phones "198.18.1.20 pbx.lab.test"
lab_hosts pbx "198.18.1.20 pbx.lab.test"

lab_kamailio pbx pbx-udp kamailio 198.18.1.20
# a second listener for the double Record-Route run
sed -i 's|^listen=udp:198.18.1.20:5060$|&\nlisten=udp:198.18.1.21:5060|' "$LAB_DIR/kamailio.cfg"
lab_stop kamailio
lab_start pbx kamailio kamailio -DD -E -f "$LAB_DIR/kamailio.cfg" \
	-P "$LAB_DIR/kamailio.run/kamailio.pid" -Y "$LAB_DIR/kamailio.run" \
	-w "$LAB_DIR/kamailio.run" -m 64 -M 8
lab_wait_port pbx udp 5060 198.18.1.21
sleep 0.3

P=198.18.1.20:5060
lab_call phones $P alice $LAB_PHONE_A bob $LAB_PHONE_B caller ||
	lab_fail "alice -> bob, BYE by caller"
lab_call phones $P bob $LAB_PHONE_B alice $LAB_PHONE_A callee ||
	lab_fail "bob -> alice, BYE by callee"

# double Record-Route: callee bob registers and is reached via .21, caller
# alice talks to .20; BYE by the callee.
LAB_CALL_ID=$LAB_PFX-drr-$RANDOM
lab_sipp phones drr-bob reg_uas_bye $LAB_PHONE_B 198.18.1.21:5060 bob
lab_sipp_wait_registered drr-bob || lab_fail "bob did not register via .21"
lab_sipp phones drr-alice reg_uac_byein $LAB_PHONE_A $P alice -s bob
lab_wait drr-alice 45 || lab_fail "double-RR call: caller failed"
lab_wait drr-bob 15 || lab_fail "double-RR call: callee failed"
n=$(awk '/^INVITE sip:bob/{f=1} f&&/^Record-Route:/{c++} f&&/^$/{exit} END{print c+0}' "$LAB_DIR/drr-bob.msg")
[ "$n" -ge 2 ] || lab_fail "expected a double Record-Route in bob's INVITE, saw $n"
lab_log "double Record-Route call ok ($n Record-Route headers)"

lab_pass
