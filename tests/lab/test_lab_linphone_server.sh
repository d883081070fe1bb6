#!/usr/bin/env bash
# linphone 5.1 as a SIPS + SRTP softphone in front of a server-role gateway
# (issue 8, "what must be shown" 1, server role):
#   linphone alice, linphone bob (namespace soft, 198.18.2.20, TLS to
#   gw-b.lab.test:5061 with client certificates, SRTP mandatory)
#     ==TLS/SRTP==> gwb (198.18.2.2 | 198.18.3.1, verify = require)
#     --UDP/RTP--> Kamailio pbx-udp.cfg (198.18.3.10, registrar with GRUU
#     left ON, record-routes) --> carol (sipp, plain, 198.18.3.20)
# What belle-sip does that a stateless edge proxy must survive: it registers
# with a +sip.instance and uses the GRUU Kamailio hands out
# (sip:alice@pbx.lab.test;gr=urn:uuid:...) as its Contact, so in-dialog
# requests toward it carry an unresolvable Request-URI and are routed by the
# flow token in gwb's Record-Route entry; it copies Record-Route values into
# its responses (issue 8, seen 1); a call between alice and bob crosses gwb
# twice (a spiral: out to Kamailio and back in).
#
# Calls (each: tone recorded at the far end, checked by frequency):
#   1. alice -> bob: alice 700 Hz, bob 1300 Hz; alice holds and resumes;
#      bob (the callee) hangs up;
#   2. bob -> alice: bob (the caller) hangs up; so BYE comes from both
#      ends, and from each of the two softphones;
#   3. alice -> carol (sipp answers, streams 2100 Hz PCMU): alice records
#      2100 Hz; the RTP gwb sent carol (captured on the PBX LAN) carries
#      700 Hz; alice hangs up;
#   4. carol -> alice (sipp calls, streams 2100 Hz, hangs up after 3.5 s):
#      the same checks both ways.
# And: the REGISTER 200 reached each softphone with pub-gruu/temp-gruu
# intact; gwb answered nothing with 404/482 and never dropped a request
# ("refused" in its log); every call's ACK reached the callee.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/gw.sh"
. "$(dirname "$0")/linphone.sh"

command -v linphonec >/dev/null || { echo "linphone-cli not installed" >&2; exit 77; }
command -v script >/dev/null || { echo "script (bsdutils) missing" >&2; exit 77; }

SOFT=198.18.2.20
CAROL=198.18.3.20
TONE=$LAB_LIB_DIR/tone.py

lab_init linphone-server
lab_certs
for ns in soft gwb pbx; do lab_ns_add $ns; done
lab_link soft wan $SOFT/24 gwb wan $LAB_GWB_WAN/24
lab_link gwb lan $LAB_GWB_IN/24 pbx lan $LAB_PBX/24
lab_addr pbx lan $CAROL/24
lab_route soft $LAB_GWB_WAN		# linphone needs a default route
lab_route pbx $LAB_GWB_IN
lab_hosts soft "$LAB_GWB_WAN gw-b.lab.test" "$LAB_GWB_WAN pbx.lab.test"
lab_hosts gwb "$LAB_GWB_WAN gw-b.lab.test" "$LAB_PBX pbx.lab.test"
lab_hosts pbx "$LAB_GWB_IN gw-b.lab.test" "$LAB_PBX pbx.lab.test"

c=$LAB_DIR/certs
cat >"$LAB_DIR/gwb.conf" <<EOC
control = $LAB_DIR/gwb.sock
log-level = ${LAB_GW_LOG:-debug}
[pbx]
accept = tls:$LAB_GWB_WAN:5061
accept = udp:$LAB_GWB_IN:5060
connect = udp:$LAB_PBX:5060
trusted = 198.18.3.0/24
cert = $c/gw-b.crt
key = $c/gw-b.key
ca = $c/ca.crt
verify = require
media = srtp
srtp-suites = AES_CM_128_HMAC_SHA1_80
rtp-ports = 20000-20999
EOC

python3 "$TONE" gen "$LAB_DIR/alice.wav" 700 60 &&
	python3 "$TONE" gen "$LAB_DIR/bob.wav" 1300 60 &&
	python3 "$TONE" gen "$LAB_DIR/carol.wav" 2100 3.4 &&
	python3 "$TONE" ulaw "$LAB_DIR/carol.wav" "$LAB_DIR/carol.raw" ||
	lab_fail "cannot write the tones"

lab_kamailio pbx pbx-udp
lab_gw_start gwb gwb "$LAB_DIR/gwb.conf"
lab_capture_start pbx lan "$LAB_DIR/pbx-lan.pcapng"
lab_linphone_conf alice alice gw-b.lab.test:5061 5071 7078
lab_linphone_conf bob bob gw-b.lab.test:5061 5072 7088
lab_linphone_start soft alice
lab_linphone_start soft bob
for u in alice bob; do
	lab_linphone_cmd $u "play $LAB_DIR/$u.wav"
done

# Registration: over TLS through gwb; Kamailio's GRUUs reach the phone.
for u in alice bob; do
	for _ in $(seq 1 100); do
		grep -q "pub-gruu=" "$LAB_DIR/$u.log" 2>/dev/null && break
		sleep 0.1
	done
	grep -q "pub-gruu=\"sip:$u@pbx.lab.test;gr=urn:uuid:" "$LAB_DIR/$u.log" &&
		grep -q "temp-gruu=\"sip:.*@pbx.lab.test;gr\"" "$LAB_DIR/$u.log" ||
		lab_fail "$u: no pub-gruu/temp-gruu in the REGISTER 200 it got"
done
lab_kamcmd kamailio ul.dump >"$LAB_DIR/ul.dump" 2>&1
grep -q "Instance: <urn:uuid:" "$LAB_DIR/ul.dump" ||
	lab_fail "Kamailio holds no +sip.instance (no GRUU): $(head -40 "$LAB_DIR/ul.dump")"
lab_log "alice and bob registered through gwb with GRUUs"

# lp_call N CALLER CALLEE: the caller dials, the callee auto-answers.
lp_call() {
	local n=$1 from=$2 to=$3
	lab_linphone_cmd "$from" "record $LAB_DIR/call$n-$from.wav"
	lab_linphone_cmd "$to" "record $LAB_DIR/call$n-$to.wav"
	lab_linphone_cmd "$from" "call sip:$to@pbx.lab.test"
	lab_linphone_wait "$from" "Media streams established" "$n" 10 ||
		lab_fail "call $n ($from -> $to): not established"
	lab_linphone_wait "$to" "Media streams established" "$n" 5 ||
		lab_fail "call $n ($from -> $to): no media at $to"
}
# lp_hangup N WHO OTHER: WHO terminates; both see the call end.
lp_hangup() {
	local n=$1 who=$2 other=$3
	lab_linphone_cmd "$who" terminate
	lab_linphone_wait "$who" "ended \\(No error\\)" "$n" 5 ||
		lab_fail "call $n: $who did not end it"
	lab_linphone_wait "$other" "ended \\(" "$n" 5 ||
		lab_fail "call $n: $other never got $who's BYE"
}
tone_ok() { python3 "$TONE" "$@" || lab_fail "tone: $*"; }

# Call 1: alice -> bob, hold and resume by alice, BYE by bob.
lp_call 1 alice bob
sleep 2
lab_linphone_cmd alice pause
lab_linphone_wait alice "Call 1 .*paused" 1 5 || lab_fail "call 1: alice could not hold"
lab_linphone_wait bob "Call 1 .*(paused by|pausing)" 1 5 ||
	lab_fail "call 1: bob did not learn of the hold"
sleep 1
lab_linphone_cmd alice resume
lab_linphone_wait alice "Call 1 .*resumed|Media streams established" 2 5 ||
	lab_fail "call 1: alice could not resume"
sleep 3
lp_hangup 1 bob alice
tone_ok check "$LAB_DIR/call1-bob.wav" 700 3 1300
tone_ok check "$LAB_DIR/call1-alice.wav" 1300 3 700
lab_log "call 1 (alice -> bob, hold/resume, BYE by callee): ok"

# Call 2: bob -> alice, BYE by the caller.
lp_call 2 bob alice
sleep 3
lp_hangup 2 bob alice
tone_ok check "$LAB_DIR/call2-alice.wav" 1300 2 700
tone_ok check "$LAB_DIR/call2-bob.wav" 700 2 1300
lab_log "call 2 (bob -> alice, BYE by caller): ok"

# Call 3: alice -> carol (plain sipp behind Kamailio).
cp "$LAB_DIR/carol.raw" "$LAB_DIR/media-b.raw"
lab_sipp pbx call3-reg register $CAROL $LAB_PBX:5060 carol
lab_wait call3-reg 10 || lab_fail "call 3: carol did not register"
lab_capture_start pbx lan "$LAB_DIR/call3.pcapng"
lab_sipp pbx call3-carol media_uas_any $CAROL $LAB_PBX:5060 carol
sleep 0.3
lab_linphone_cmd alice "record $LAB_DIR/call3-alice.wav"
lab_linphone_cmd alice "call sip:carol@pbx.lab.test"
lab_linphone_wait alice "Media streams established" 3 10 || lab_fail "call 3: not established"
sleep 4
lab_linphone_cmd alice terminate
lab_wait call3-carol 15 || lab_fail "call 3 (alice -> carol): sipp exit $?"
lab_capture_stop "$LAB_DIR/call3.pcapng"
tone_ok check "$LAB_DIR/call3-alice.wav" 2100 2 1300,700
tone_ok check-rtp "$LAB_DIR/call3.pcapng" $CAROL 700 2 2100
lab_log "call 3 (alice -> carol, BYE by alice): ok"

# Call 4: carol -> alice; carol hangs up.
cp "$LAB_DIR/carol.raw" "$LAB_DIR/media-a.raw"
lab_linphone_cmd alice "record $LAB_DIR/call4-alice.wav"
lab_capture_start pbx lan "$LAB_DIR/call4.pcapng"
LAB_CALL_ID=$LAB_PFX-4-$RANDOM
lab_sipp pbx call4-carol media_uac $CAROL $LAB_PBX:5060 carol -s alice
lab_wait call4-carol 25 || lab_fail "call 4 (carol -> alice): sipp exit $?"
lab_linphone_wait alice "ended \\(" 4 5 || lab_fail "call 4: alice never got carol's BYE"
lab_capture_stop "$LAB_DIR/call4.pcapng"
tone_ok check "$LAB_DIR/call4-alice.wav" 2100 2 1300,700
tone_ok check-rtp "$LAB_DIR/call4.pcapng" $CAROL 700 2 2100
lab_log "call 4 (carol -> alice, BYE by carol): ok"

lab_capture_stop
# gwb refused nothing and never sent to itself; every in-dialog request of
# a softphone (GRUU target) went by the Record-Route flow token.
if grep -E "refused with|no usable Via|not in trusted|dropped (datagram|[0-9]+ response)" "$LAB_DIR/gwb.log"; then
	lab_fail "gwb refused or dropped messages (above)"
fi
n=$(tshark -r "$LAB_DIR/pbx-lan.pcapng" -Y 'sip.Method == "ACK" || sip.Method == "BYE"' 2>/dev/null | wc -l)
[ "$n" -ge 8 ] || lab_fail "only $n ACK/BYE on the PBX LAN"
for k in loops own_socket_refused token_bad; do
	v=$(lab_gw_counter gwb $k)
	[ "$v" = 0 ] || lab_fail "gwb $k = $v"
done
lab_gw_status gwb | grep -E "calls_total|calls_srtp|srtp_(in|out)"
lab_pass
