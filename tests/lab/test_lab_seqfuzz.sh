#!/usr/bin/env bash
# The stateful sequence fuzzer (tests/lab/seqfuzz.py) against one running
# gateway, for a bounded time (issue 7, DESIGN §4 invariants):
#   phone side (seqfuzz.py, UDP 198.18.1.10) -> gwa (client role,
#   media = srtp) ==TLS==> gwa's peer (seqfuzz.py, TLS server 198.18.2.10)
# in lab_topology_direct.  First the corpus tests/fuzz/corpus/sequences/ is
# replayed, then new sequences from a seed (SG_SEQFUZZ_SEED, default: from
# the clock, printed) for SG_SEQFUZZ_SECONDS (default 30).
#
# Shows: 0 findings (no message reaching the phone carries a=crypto,
# a=fingerprint, a=key-mgmt or RTP/SAVP; none reaching the peer offers or
# accepts RTP/AVP; gwa alive after every sequence); the same on the
# captures (lab_capture_verdict: gwa's LAN, and the WAN decrypted with
# gwa's key log); policy_violations_blocked = 0 (the session logic, not the
# egress backstop, kept the invariant); gwa exits cleanly.
# A failing seed is printed; replay it with
#   SG_SEQFUZZ_SEED=S SG_SEQFUZZ_COUNT=1 bash tests/lab/test_lab_seqfuzz.sh
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/gw.sh"

lab_init seqfuzz
lab_certs
lab_topology_direct
lab_gw_direct_conf "media = srtp
srtp-suites = AES_CM_128_HMAC_SHA1_80 AEAD_AES_128_GCM
rtp-ports = 20000-29999"

corpus=$LAB_SRC_DIR/tests/fuzz/corpus/sequences
args=(--pfx "$LAB_PFX" --certs "$LAB_CERTS" --gw-pidfile "$LAB_DIR/gwa.pid"
	--ready "$LAB_DIR/fuzz.ready" --findings "$LAB_DIR/findings"
	--seconds "${SG_SEQFUZZ_SECONDS:-30}")
[ -n "${SG_SEQFUZZ_COUNT:-}" ] && args+=(--count "$SG_SEQFUZZ_COUNT")
[ -n "${SG_SEQFUZZ_SEED:-}" ] && args+=(--seed "$SG_SEQFUZZ_SEED")
[ -d "$corpus" ] && [ -z "${SG_SEQFUZZ_SEED:-}" ] && args+=(--replay "$corpus")

lab_capture_start gwa lan "$LAB_DIR/lan.pcapng"
lab_capture_start gwa wan "$LAB_DIR/wan.pcapng"
python3 "$LAB_LIB_DIR/seqfuzz.py" "${args[@]}" >"$LAB_DIR/seqfuzz.txt" 2>&1 &
fuzz=$!
LAB_PIDS+=("$fuzz")
for _ in $(seq 1 100); do
	[ -e "$LAB_DIR/fuzz.ready" ] && break
	kill -0 $fuzz 2>/dev/null || lab_fail "seqfuzz.py died: $(cat "$LAB_DIR/seqfuzz.txt")"
	sleep 0.1
done
lab_gw_start gwa gwa "$LAB_DIR/gwa.conf"
echo "${LAB_PID_OF[gwa]}" >"$LAB_DIR/gwa.pid"
wait $fuzz
rc=$?
cat "$LAB_DIR/seqfuzz.txt"
[ $rc = 0 ] || lab_fail "seqfuzz: findings (sequences in $LAB_DIR/findings)"
grep -q "^seqfuzz: [1-9][0-9]* sequences" "$LAB_DIR/seqfuzz.txt" ||
	lab_fail "seqfuzz ran no sequence"

lab_gw_status gwa >"$LAB_DIR/gwa.status" || lab_fail "sipsgate status failed"
cnt() { awk -v k="$1" '$1 == k { print $2; exit }' "$LAB_DIR/gwa.status"; }
echo "gwa: calls_total=$(cnt calls_total) sdp_no_call_dropped=$(cnt sdp_no_call_dropped)" \
	"sdp_no_call_refused=$(cnt sdp_no_call_refused) sdp_policy_refused=$(cnt sdp_policy_refused)" \
	"refused_488=$(cnt refused_488) sdp_errors=$(cnt sdp_errors)" \
	"policy_violations_blocked=$(cnt policy_violations_blocked)"
[ "$(cnt policy_violations_blocked)" = 0 ] ||
	lab_fail "the egress backstop fired $(cnt policy_violations_blocked) times: the session logic let something through"
[ "$(cnt calls_total)" -gt 0 ] || lab_fail "no call reached the session layer"
lab_capture_stop
lab_capture_verdicts
cat "$LAB_DIR"/verdict-*.txt
lab_stop gwa
grep -qiE "AddressSanitizer|runtime error" "$LAB_DIR/gwa.log" && lab_fail "sanitizer report in gwa.log"
lab_pass
