#!/usr/bin/env bash
# bench/fuzz.sh — fuzzing deep enough to matter (issue 13).  A benchmark,
# not a test: it runs every libFuzzer target for a fixed number of
# executions and reports what it reached and what it found; CTest only
# replays the corpora and `./run test` fuzzes 20 s a target.  See
# bench/README.md.
#
#   1. builds the libFuzzer targets (clang, -fsanitize=fuzzer,address,
#      undefined) into build-fuzz/, as `./run fuzz` does;
#   2. runs each target (tests/fuzz/fuzz_*.c) for RUNS executions (-runs=),
#      on its seed corpus tests/fuzz/corpus/WHAT and a work corpus
#      build-fuzz/corpus-WHAT that it grows (kept between runs); a finding
#      (crash, leak, timeout, out-of-memory) is kept under
#      build-fuzz/findings/ and the target goes on with the executions left,
#      up to FINDINGS_MAX findings;
#   3. runs the stateful sequence fuzzer through gateways in network
#      namespaces (tests/lab/fuzz_sequences.sh), when it exists;
#   4. prints, per target: executions, executions/s, coverage (libFuzzer's
#      cov: edges and ft: features at the end), corpus size (libFuzzer's
#      corp: units at the end), findings, and the time it took.
#
# Usage: bench/fuzz.sh [-n RUNS] [-j JOBS] [TARGET...]
#   TARGET is a name such as sdp or fuzz_sdp (default: all of them)
#   -n RUNS   executions per target [1e7, i.e. 10000000]
#   -j JOBS   targets run at the same time [1]
# Environment (defaults in brackets):
#   BENCH_FUZZ_TIMEOUT       seconds one input may take before it is a
#                            finding (-timeout=) [10]
#   BENCH_FUZZ_MAX_LEN       longest input, bytes (-max_len=) [4096]
#   BENCH_FUZZ_FINDINGS_MAX  findings per target before it stops [5]
#   BENCH_SEQ_COUNT          sequences for the stateful fuzzer [RUNS/10000,
#                            at least 100]
#   BENCH_KEEP_CORPUS=0      start every target from its seeds only
# Run it niced on a shared machine: `nice -n 19 bench/fuzz.sh`.
set -u
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
SRC_DIR=$(cd "$BENCH_DIR/.." && pwd)
BUILD=$SRC_DIR/build-fuzz

RUNS=10000000
JOBS=1
while getopts "n:j:h" o; do
	case $o in
	n) RUNS=$(python3 -c "print(int(float('$OPTARG')))" 2>/dev/null) ||
	       { echo "fuzz.sh: -n: not a number: $OPTARG" >&2; exit 2; } ;;
	j) JOBS=$OPTARG ;;
	*) sed -n '2,37p' "$0" | sed 's/^# \{0,1\}//'; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
TIMEOUT=${BENCH_FUZZ_TIMEOUT:-10}
MAX_LEN=${BENCH_FUZZ_MAX_LEN:-4096}
FINDINGS_MAX=${BENCH_FUZZ_FINDINGS_MAX:-5}
SEQ_COUNT=${BENCH_SEQ_COUNT:-$(( RUNS / 10000 > 100 ? RUNS / 10000 : 100 ))}

echo "== build: libFuzzer targets (clang) in $BUILD"
if ! { CC=clang cmake -S "$SRC_DIR" -B "$BUILD" -DSG_WERROR=ON -DSG_FUZZ=ON \
    -DSG_LAB_TESTS=OFF >/dev/null &&
    cmake --build "$BUILD" -j"$(nproc)" >"$BUILD/build.log" 2>&1; }; then
	tail -20 "$BUILD/build.log"
	echo "fuzz.sh: build failed (clang, libFuzzer: see $BUILD/build.log)" >&2
	exit 1
fi

targets=()
for f in "$SRC_DIR"/tests/fuzz/fuzz_*.c; do
	t=$(basename "$f" .c)
	if [ $# -gt 0 ]; then
		want=0
		for a in "$@"; do
			[ "$a" = "$t" ] || [ "fuzz_$a" = "$t" ] && want=1
		done
		[ $want = 1 ] || continue
	fi
	targets+=("$t")
done
if [ ${#targets[@]} -eq 0 ] && [ "$*" != sequences ]; then
	echo "fuzz.sh: no such target: $* (or: sequences)" >&2
	exit 2
fi

RES=$BUILD/bench-results
FIND=$BUILD/findings
mkdir -p "$RES" "$FIND"

# One target: run libFuzzer until RUNS executions are done, starting again
# after each finding with the executions left. Writes $RES/T.txt:
# "execs secs cov ft corpus findings".
run_target() {
	local t=$1 what=${1#fuzz_} left=$RUNS done=0 found=0 cov=0 ft=0
	local log=$RES/$t.log corpus=$BUILD/corpus-${1#fuzz_} seeds
	local dict=() start end n art corp
	seeds=$SRC_DIR/tests/fuzz/corpus/$what
	[ "${BENCH_KEEP_CORPUS:-1}" = 0 ] && rm -rf "$corpus"
	mkdir -p "$corpus" "$FIND/$what"
	[ -f "$SRC_DIR/tests/fuzz/$what.dict" ] &&
		dict=(-dict="$SRC_DIR/tests/fuzz/$what.dict")
	: >"$log"
	start=$(date +%s)
	while [ "$left" -gt 0 ]; do
		before=$(ls "$FIND/$what" | wc -l)
		(cd "$FIND/$what" && "$BUILD/tests/$t" -runs="$left" \
		    -timeout="$TIMEOUT" -max_len="$MAX_LEN" \
		    -print_final_stats=1 -artifact_prefix="$FIND/$what/" \
		    "${dict[@]}" "$corpus" "$seeds") >"$log.cur" 2>&1
		cat "$log.cur" >>"$log"
		n=$(grep -a 'stat::number_of_executed_units:' "$log.cur" |
		    tail -1 | awk '{ print $2 }')
		# A target killed by a finding prints no final stats: take
		# its last status line ("#N ... cov: C ft: F ...").
		if [ -z "$n" ] || [ "$(ls "$FIND/$what" | wc -l)" != "$before" ]; then
			n=$(grep -aoE '^#[0-9]+' "$log.cur" | tail -1 | tr -d '#')
		fi
		n=${n:-0}
		rm -f "$log.cur"
		done=$((done + n))
		left=$((RUNS - done))
		if [ "$(ls "$FIND/$what" | wc -l)" != "$before" ]; then
			found=$((found + 1))
			for art in $(ls -t "$FIND/$what" | head -1); do
				echo "   $t: finding $FIND/$what/$art"
			done
			[ "$found" -ge "$FINDINGS_MAX" ] && break
			[ "$n" -gt 0 ] || break		# a seed itself fails
		elif [ "$n" -eq 0 ]; then
			echo "   $t: ran nothing:" >&2	# give up
			tail -3 "$log" | sed 's/^/      /' >&2
			break
		fi
		echo "--- next run: $left executions left" >>"$log"
	done
	end=$(date +%s)
	cov=$(grep -aoE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' "$log" | tail -1)
	ft=$(echo "$cov" | awk '{ print $4 }')
	corp=$(echo "$cov" | awk '{ print $6 }')
	cov=$(echo "$cov" | awk '{ print $2 }')
	echo "$done $((end - start)) ${cov:-0} ${ft:-0} ${corp:-0} $found" \
	    >"$RES/$t.txt"
	echo "   $t: done, $done executions in $((end - start)) s"
}

echo "== libFuzzer: ${#targets[@]} targets, $RUNS executions each," \
    "$JOBS at a time"
rm -f "$RES"/*.txt
running=0
for t in "${targets[@]}"; do
	echo "   $t: started $(date +%H:%M:%S)"
	run_target "$t" &
	running=$((running + 1))
	if [ "$running" -ge "$JOBS" ]; then
		wait -n
		running=$((running - 1))
	fi
done
wait

# The stateful sequence fuzzer of the fail-closed issue (issue 7): SIP
# message sequences through a gateway in network namespaces, the DESIGN §4
# invariants checked on every message and on the LAN and WAN captures
# (tests/lab/test_lab_seqfuzz.sh, seqfuzz.py). Needs root (namespaces).
# SEQ_COUNT sequences, the corpus replayed first, the daemon of this tree.
SEQ=$SRC_DIR/tests/lab/test_lab_seqfuzz.sh
seq_line="sequences      not run"
if [ -z "${*:-}" ] || [[ " $* " == *" sequences "* ]]; then
	if [ "$(id -u)" -ne 0 ]; then
		seq_line="sequences      not run: needs root (network namespaces)"
	elif [ -f "$SEQ" ] && [ -x "$BUILD/sipsgate" ]; then
		echo "== stateful sequence fuzzer: $SEQ_COUNT sequences"
		s0=$(date +%s)
		SIPSGATE=$BUILD/sipsgate SG_SOURCE_DIR=$SRC_DIR \
		    SG_SEQFUZZ_COUNT=$SEQ_COUNT \
		    SG_SEQFUZZ_SECONDS=$((SEQ_COUNT * 10)) \
		    bash "$SEQ" >"$RES/sequences.log" 2>&1
		rc=$?
		s1=$(date +%s)
		grep -E "sequences|findings|seed" "$RES/sequences.log" | tail -5 |
		    sed 's/^/   /'
		seq_line=$(printf "%-14s %12s %9s %7s %7s %7s %8s %6ss" sequences \
		    "$SEQ_COUNT seq" - - - - "$([ $rc = 0 ] && echo 0 || echo "exit $rc")" \
		    "$((s1 - s0))")
	else
		seq_line="sequences      not run ($SEQ or $BUILD/sipsgate missing)"
	fi
fi

echo
echo "== results ($(nproc) CPUs, load at the end: $(cut -d' ' -f1-3 /proc/loadavg))"
printf "%-14s %12s %9s %7s %7s %7s %8s %7s\n" target executions exec/s \
    cov ft corpus findings time
for t in "${targets[@]}"; do
	[ -f "$RES/$t.txt" ] || { printf "%-14s %s\n" "${t#fuzz_}" "no result";
		continue; }
	read -r n secs cov ft corp found <"$RES/$t.txt"
	printf "%-14s %12d %9d %7s %7s %7s %8s %6ss\n" "${t#fuzz_}" "$n" \
	    $((secs > 0 ? n / secs : n)) "$cov" "$ft" "$corp" "$found" "$secs"
done
echo "$seq_line"
echo
echo "Findings are under $FIND/TARGET/ (reproduce with"
echo "build/tests/fuzz_TARGET_replay FILE); each becomes a corpus entry in"
echo "tests/fuzz/corpus/TARGET/ and a unit test, and gets fixed."
total=0
for t in "${targets[@]}"; do
	[ -f "$RES/$t.txt" ] && total=$((total + $(awk '{ print $6 }' "$RES/$t.txt")))
done
exit $((total > 0))
