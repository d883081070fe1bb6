#!/usr/bin/env bash
# bench/media.sh — figures for the "Media" issue (a benchmark, not a test:
# it reports numbers and pass/miss against the targets; run it by hand, as
# root, on an otherwise idle machine).  See bench/README.md.
#
# Paced G.711-sized RTP (172-byte packets, PPS packets/s per call and
# direction) through one media relay on CPU 0, from bench/rtpload on CPU 1,
# which plays both ends of every call: the phone (plain RTP to the relay's
# inside port) and the SRTP peer (AES_CM_128_HMAC_SHA1_80 to its outside
# port).  The relay unprotects one direction and protects the other.
#
#   0. the floor on this machine: libsrtp2's protect/unprotect per packet
#      (a tight loop, 172-byte packets), the same cryptography with nettle,
#      and a bare recvmmsg/sendmmsg UDP relay (bench/udprelay.c) per packet,
#      with one socket pair for all calls and with one pair per call;
#   1. sipsgate: one gateway, calls set up over SIP (a Python phone on its
#      inside UDP, a Python TLS peer on its outside, bench/mediactl.py);
#   2. rtpengine (rtpengine-daemon, userspace --table=-1, --num-threads=1),
#      the same calls set up over its ng protocol (RTP/AVP <-> RTP/SAVP);
#   for each: the highest packet rate with < 0.1 % loss (the number of calls
#   stepped up, a few seconds a step), CPU time per packet (utime + stime of
#   the relay from /proc/PID/stat), p50/p99 added latency at 20,000
#   packets/s (200 calls), resident memory per media session, and the ratio
#   sipsgate / rtpengine.
#
# Everything runs in one network namespace this script makes (loopback
# only; tests/lab/lib.sh removes it); traffic goes nowhere else.  Every load
# loop is bounded in count and time.
#
# Environment (defaults in brackets):
#   SIPSGATE            daemon binary [build/sipsgate]; copied, so a rebuild
#                       during the run does not change what is measured
#   BENCH_STEP_SECS     seconds per step, 2..10 [5]
#   BENCH_CALLS         calls per step (2 x BENCH_PPS x calls packets/s);
#                       200 (the latency figure) and 300 (the comparison
#                       at one rate) are always among them
#                       ["100 200 300 400 500 600 800 1000 1200 1600 2000"]
#   BENCH_PPS           packets/s per call and direction, 10..100 [50]
#   BENCH_IDLE_MAX      % of one CPU the rest of the machine may use during a
#                       step before the step is run again (twice at most) [25]
#   BENCH_PERF          1: after the steps, one more run at 300 calls (or
#                       the highest held step if lower) with perf stat on
#                       the relay's system calls and perf record -g (needs
#                       linux-perf), 0: no [1 if perf works]
#   BENCH_NICE          nice value for the relays and rtpload, -20..0 [0]:
#                       below 0 other jobs on the machine disturb less (and
#                       are disturbed more)
#   BENCH_RELAYS        which relays ["sipsgate rtpengine"]
#   BENCH_KEEP=1        keep the run directory (logs, results) afterwards
set -u
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
SRC_DIR=$(cd "$BENCH_DIR/.." && pwd)
. "$SRC_DIR/tests/lab/lib.sh"

SIPSGATE=${SIPSGATE:-$SRC_DIR/build/sipsgate}
STEP_SECS=${BENCH_STEP_SECS:-5}
CALLS=${BENCH_CALLS:-100 200 300 400 500 600 800 1000 1200 1600 2000}
PPS=${BENCH_PPS:-50}
IDLE_MAX=${BENCH_IDLE_MAX:-25}
RELAYS=${BENCH_RELAYS:-sipsgate rtpengine}
# shellcheck disable=SC2034  # read by lab_cleanup (tests/lab/lib.sh)
LAB_KEEP=${BENCH_KEEP:-0}
NICE=${BENCH_NICE:-0}
LAT_CALLS=200		# 2 x 50 x 200 = 20,000 packets/s
CMP_CALLS=300		# every relay holds this: CPU per packet compared here
FLOOR_CALLS=1000	# 100,000 packets/s: the target rate

# Targets (the issue's numbers).
T_PPS=100000 T_P50=20 T_P99=200 T_KIB=2

die() { echo "media.sh: $*" >&2; exit 2; }
between() { [[ $1 =~ ^[0-9]+$ ]] && [ "$1" -ge "$2" ] && [ "$1" -le "$3" ]; }
between "$STEP_SECS" 2 10 || die "BENCH_STEP_SECS must be 2..10"
between "$PPS" 10 100 || die "BENCH_PPS must be 10..100"
between "$IDLE_MAX" 1 200 || die "BENCH_IDLE_MAX must be 1..200"
[[ $NICE =~ ^-?[0-9]+$ ]] && [ "$NICE" -ge -20 ] && [ "$NICE" -le 0 ] || die "BENCH_NICE must be -20..0"
for c in $CALLS; do between "$c" 1 5000 || die "BENCH_CALLS: $c is not 1..5000"; done
for r in $RELAYS; do case $r in sipsgate|rtpengine) ;; *) die "BENCH_RELAYS: $r?" ;; esac; done
# 200 (latency) and 300 (comparison) calls: always there, in order.
CALLS=$(printf '%s\n' $CALLS $LAT_CALLS $CMP_CALLS | sort -nu | tr '\n' ' ')
[ "$(id -u)" = 0 ] || die "needs root (network namespace, taskset, SO_RCVBUFFORCE)"
for t in cc python3 taskset ip; do
	command -v $t >/dev/null || die "$t missing (apt-get install gcc python3 util-linux iproute2)"
done
[[ " $RELAYS " = *" rtpengine "* ]] && { command -v rtpengine >/dev/null ||
	die "rtpengine missing (apt-get install rtpengine-daemon)"; }
[ -x "$SIPSGATE" ] || die "no daemon at $SIPSGATE: cmake --build build -j2 first"
[ -r /usr/include/srtp2/srtp.h ] || die "libsrtp2-dev missing"
[ -r /usr/include/nettle/aes.h ] || die "nettle-dev missing (libgnutls28-dev pulls it in)"
if [ -z "${BENCH_PERF:-}" ]; then
	BENCH_PERF=0
	command -v perf >/dev/null && perf record -e cpu-clock -o /dev/null -- true >/dev/null 2>&1 && BENCH_PERF=1
fi

NCPU=$(nproc)
CLK_TCK=$(getconf CLK_TCK)
if [ "$NCPU" -ge 2 ]; then PIN_RELAY=0 PIN_LOAD=1
else PIN_RELAY=- PIN_LOAD=-; fi

lab_init media
cp "$SIPSGATE" "$LAB_DIR/sipsgate" || lab_fail "cannot copy $SIPSGATE"
SG_BIN_SUM=$(sha256sum "$SIPSGATE" | cut -c1-12)
SG_REV=$(git -C "$SRC_DIR" describe --always --dirty 2>/dev/null || echo "?")
SIPSGATE=$LAB_DIR/sipsgate
cc -O2 -Wall -I"$SRC_DIR/gateway" -o "$LAB_DIR/rtpload" "$BENCH_DIR/rtpload.c" \
	"$SRC_DIR/gateway/srtp.c" -lsrtp2 -lnettle -lpthread >"$LAB_DIR/build.log" 2>&1 &&
cc -O2 -Wall -o "$LAB_DIR/udprelay" "$BENCH_DIR/udprelay.c" >>"$LAB_DIR/build.log" 2>&1 ||
	lab_fail "cannot build bench/rtpload.c or bench/udprelay.c: $(cat "$LAB_DIR/build.log")"

say() { echo "$*"; }
section() { echo; echo "== $*"; }
now() { date +%s.%N; }
fcalc() { awk "BEGIN { printf \"$1\", $2 }"; }
busy_ticks() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9; exit}' /proc/stat; }
RES=$LAB_DIR/results.txt
: >"$RES"
# res KIND RELAY KEY [CALLS] — a value from the results file ("-" if none):
# KIND phase: the relay's phase line; step: its step line at CALLS calls.
res() {
	awk -v kind="$1" -v r="$2" -v k="$3" -v n="${4:-}" '
		$1 != kind { next }
		{ delete v; for (i = 2; i <= NF; i++) { p = index($i, "="); v[substr($i, 1, p - 1)] = substr($i, p + 1) } }
		v["relay"] != r { next }
		kind == "step" && v["calls"] != n { next }
		(k in v) { val = v[k] }
		END { print (val == "" ? "-" : val) }' "$RES"
}
mediactl() {	# RELAY [ARGS...] — one phase; the table goes to stdout
	timeout 900 ip netns exec "$(lab_nsname media)" python3 "$BENCH_DIR/mediactl.py" "$@" \
		--dir "$LAB_DIR" --results "$RES" --rtpload "$LAB_DIR/rtpload" \
		--udprelay "$LAB_DIR/udprelay" --sipsgate "$SIPSGATE" --certs "$LAB_CERTS" \
		--pps "$PPS" --secs "$STEP_SECS" --idle-max "$IDLE_MAX" \
		--pin-relay "$PIN_RELAY" --pin-load "$PIN_LOAD" --nice "$NICE"
}

section "sipsgate media benchmark"
say "host: $NCPU CPUs ($(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)), kernel $(uname -r)"
say "sipsgate: $SG_REV (binary sha256 $SG_BIN_SUM...), rtpengine $(rtpengine --version 2>&1 | awk '{print $2; exit}'), libsrtp2 $(pkg-config --modversion libsrtp2 2>/dev/null || echo ?) (crypto: $(ldd /usr/lib/x86_64-linux-gnu/libsrtp2.so.1 2>/dev/null | grep -q libnss3 && echo NSS || echo own/OpenSSL)), nettle $(pkg-config --modversion nettle 2>/dev/null || echo ?)"
say "run directory: $LAB_DIR"
say "relay on CPU $PIN_RELAY, rtpload on CPU $PIN_LOAD (nice $NICE); $PPS packets/s per call and direction, 172-byte RTP, ${STEP_SECS} s per step"
LOAD0=$(busy_ticks); T_START=$(now)
lab_ns_add media
lab_certs

# --- 0. the floor -------------------------------------------------------------

section "0. the floor on this machine"
FLOOR=$(taskset -c "${PIN_RELAY/-/0}" "$LAB_DIR/rtpload" floor 3 2>&1)
fl() { echo "$FLOOR" | tr ' ' '\n' | awk -F= -v k="$1" '$1 == k {print $2}'; }
F_PROT=$(fcalc %.2f "$(fl protect_ns) / 1000") F_UNPROT=$(fcalc %.2f "$(fl unprotect_ns) / 1000")
F_NETTLE=$(fcalc %.2f "$(fl nettle_ns) / 1000")
say "libsrtp2 srtp_protect, AES_CM_128_HMAC_SHA1_80, 172-byte RTP, tight loop on CPU $PIN_RELAY: $F_PROT us/packet"
say "libsrtp2 srtp_unprotect, the same packets:                                    $F_UNPROT us/packet"
say "the same protect with nettle (AES-NI, SHA-NI; bench/rtpload.c nsrtp):          $F_NETTLE us/packet (byte-identical to libsrtp2: selftest $(fl selftest))"
F_RR=$(fcalc %.2f "$(fl protect_rr500_ns) / 1000") F_NRR=$(fcalc %.2f "$(fl nettle_rr500_ns) / 1000")
say "protect round robin over 500 streams (a relay's access pattern): libsrtp2 $F_RR us/packet, nettle $F_NRR us/packet"
F_MEM=$(fl libsrtp_pair_kib) F_NMEM=$(fl nettle_pair_bytes)
say "memory of one stream's SRTP contexts (tx + rx, one packet each): libsrtp2 $F_MEM KiB (500 pairs, VmRSS), nettle $F_NMEM bytes"
say
say "bare UDP relay (bench/udprelay.c: epoll, recvmmsg, sendmmsg, no SRTP), plain RTP both ways,"
say "at $LAT_CALLS calls ($((LAT_CALLS * 2 * PPS)) packets/s) and $FLOOR_CALLS calls ($((FLOOR_CALLS * 2 * PPS)) packets/s):"
say "columns: calls; pps = offered packets/s (both directions); out_pps = delivered; loss% = lost or later"
say "  than 50 ms; p50/p99 = latency from rtpload's send to the relay's send (kernel timestamps);"
say "  relay% = share of one CPU; us/pk = relay CPU (utime + stime) per delivered packet, usr/sys;"
say "  RSS = relay VmRSS; gen% = rtpload's CPU (it never sleeps during a step); other = the rest of the"
say "  machine (not ours), % of one CPU; lagms = how far rtpload fell behind its schedule"
mediactl direct --all-steps --steps "$LAT_CALLS"
mediactl udprelay --pairs 1 --all-steps --steps "$LAT_CALLS $FLOOR_CALLS"
PROF=()
[ "$BENCH_PERF" = 1 ] && PROF=(--profile-calls "$CMP_CALLS")
mediactl udprelay --pairs 0 --all-steps --steps "$LAT_CALLS $CMP_CALLS $FLOOR_CALLS" "${PROF[@]}"
say "the same, never sleeping (epoll_wait timeout 0; what waking the relay up adds to its latency):"
mediactl udprelay --pairs 0 --spin --all-steps --steps "$LAT_CALLS"

# --- 1, 2. the relays -----------------------------------------------------------

for relay in $RELAYS; do
	if [ $relay = sipsgate ]; then
		section "1. sipsgate: RTP (inside) <-> SRTP AES_CM_128_HMAC_SHA1_80 (outside), one gateway"
		say "calls: INVITE from a Python phone (UDP, inside) -> sipsgate -> TLS -> a Python peer that answers"
		say "the gateway's RTP/SAVP offer with its own key; then plain RTP phone <-> gateway <-> SRTP peer"
	else
		section "2. rtpengine: the same calls over its ng protocol (offer RTP/AVP -> RTP/SAVP, answer SAVP)"
		say "rtpengine --table=-1 (userspace) --num-threads=1, pinned to CPU $PIN_RELAY with all its threads"
	fi
	extra=(--cmp-calls "$CMP_CALLS")
	[ "$BENCH_PERF" = 1 ] && extra+=(--profile-calls "$CMP_CALLS" --perf "$LAB_DIR/$relay.perf")
	mediactl $relay --steps "$CALLS" "${extra[@]}"
done

# perf_dso RELAY — self time by library, NSS's libraries summed
perf_dso() {
	perf report -i "$LAB_DIR/$1.perf" --no-children --sort dso --stdio -g none 2>/dev/null |
		awk '/^ +[0-9.]+%/ { p = $1; sub("%", "", p); d = $2
			if (d ~ /^lib(softokn3|freeblpriv3|freebl3|nss3|nspr4|plds4|plc4|nssutil3)\./) { nss += p; nd = nd " " d; next }
			printf "    %6.2f%%  %s\n", p, d }
			END { if (nss) printf "    %6.2f%%  NSS, libsrtp2'"'"'s crypto (%s )\n", nss, nd }' | sort -rn | head -10
}
for relay in $RELAYS; do
	[ "$BENCH_PERF" = 1 ] && [ -s "$LAB_DIR/$relay.perf" ] || continue
	section "where $relay spends its time (perf record -g, cpu-clock, at $(res profile $relay calls) calls)"
	say "self time by library:"
	perf_dso $relay
	say "hottest symbols (self time; NSS and libsrtp2 have no symbols for their internals):"
	perf report -i "$LAB_DIR/$relay.perf" --no-children --sort dso,symbol --stdio -g none 2>/dev/null |
		grep -E '^ +[0-9.]+%' | head -14 | sed 's/ *$//; s/  *-  *-$//' | cut -c1-100
done

# --- the end --------------------------------------------------------------------

T_END=$(now); LOAD1=$(busy_ticks)
pm() { awk "BEGIN { exit !($1) }" && echo pass || echo MISS; }
num() { [[ $1 =~ ^-?[0-9.e+]+$ ]]; }
f2() { if num "$1"; then fcalc %.2f "$1"; else echo -; fi; }
row() { printf '%-68s %-24s %-12s %s\n' "$@"; }

declare -A BEST_PPS BEST_CALLS US KIB P50 P99 ADD50 ADD99 UCMP UCMP_U UCMP_S SC FAIL
D50=$(res step direct p50_us $LAT_CALLS) D99=$(res step direct p99_us $LAT_CALLS)
for r in udprelay udprelay-percall udprelay-percall-spin $RELAYS; do
	P50[$r]=$(res step $r p50_us $LAT_CALLS) P99[$r]=$(res step $r p99_us $LAT_CALLS)
	if num "${P50[$r]}" && num "$D50"; then
		ADD50[$r]=$(fcalc %.1f "${P50[$r]} - $D50") ADD99[$r]=$(fcalc %.1f "${P99[$r]} - $D99")
	else ADD50[$r]=- ADD99[$r]=-; fi
	# CPU per packet at CMP_CALLS: the step, else the profile run at that rate
	UCMP[$r]=$(f2 "$(res step $r us_pkt $CMP_CALLS)")
	UCMP_U[$r]=$(f2 "$(res step $r us_pkt_usr $CMP_CALLS)")
	UCMP_S[$r]=$(f2 "$(res step $r us_pkt_sys $CMP_CALLS)")
	SC[$r]=$(f2 "$(res profile $r sc_sys_enter)")
done
for r in $RELAYS; do
	BEST_CALLS[$r]=$(res phase $r best_calls); BEST_PPS[$r]=$(res phase $r best_rate)
	num "${BEST_PPS[$r]}" && BEST_PPS[$r]=$(fcalc %.0f "${BEST_PPS[$r]}") || BEST_PPS[$r]=0
	US[$r]=$(res phase $r best_us_pkt)
	num "${US[$r]}" && US[$r]=$(fcalc %.2f "${US[$r]}")
	FAIL[$r]=$(res phase $r fail_calls)
	r0=$(res phase $r rss0_kib) s0=$(res phase $r sessions0) r1=$(res phase $r best_rss_kib)
	if num "$r0" && num "$r1" && num "${BEST_CALLS[$r]}" && [ "${BEST_CALLS[$r]}" -gt "$s0" ]; then
		KIB[$r]=$(fcalc %.2f "($r1 - $r0) / (${BEST_CALLS[$r]} - $s0)")
	else KIB[$r]=-; fi
done
FLOOR_US=$(res step udprelay us_pkt $FLOOR_CALLS) FLOOR_PC_US=$(res step udprelay-percall us_pkt $FLOOR_CALLS)
ratio() { num "$1" && num "$2" && awk "BEGIN { exit !($2 > 0) }" && fcalc %.2fx "$1 / $2" || echo -; }
CMP_PPS=$((CMP_CALLS * 2 * PPS))
SRTP_FLOOR=$(fcalc %.2f "($F_PROT + $F_UNPROT) / 2")	# one SRTP operation per packet

section "summary (sipsgate $SG_REV, $NCPU CPUs, nice $NICE, $(fcalc %.0f "$T_END - $T_START") s)"
row figure measured target result
row "floor: libsrtp2 protect / unprotect per 172-byte packet" "$F_PROT / $F_UNPROT us" "-" "floor"
row "floor: the same protect with nettle (AES-NI, SHA-NI)" "$F_NETTLE us" "-" "floor"
row "floor: protect round robin over 500 streams: libsrtp2 / nettle" "$F_RR / $F_NRR us" "-" "floor"
row "floor: one stream's SRTP contexts (tx + rx): libsrtp2 / nettle" "$F_MEM KiB / $F_NMEM B" "-" "floor"
row "floor: bare relay, 1 socket pair, CPU/packet at $((FLOOR_CALLS * 2 * PPS))/s" "$(f2 "$FLOOR_US") us" "-" "floor"
row "floor: bare relay, a pair per call, CPU/packet at $((FLOOR_CALLS * 2 * PPS))/s" "$(f2 "$FLOOR_PC_US") us ($(res step udprelay-percall loss_pct $FLOOR_CALLS)% lost)" "-" "floor"
for r in $RELAYS; do
	if [ $r = sipsgate ]; then t=">= $T_PPS"; v=$(pm "${BEST_PPS[$r]} >= $T_PPS"); else t=-; v=anchor; fi
	why="lost packets"
	[ "$(res phase $r genlim)" = 1 ] && why="rtpload could not keep up"
	row "$r: highest packet rate, loss < 0.1 %, one core" "${BEST_PPS[$r]}/s (${BEST_CALLS[$r]} calls)" "$t" \
		"$v$([ "${FAIL[$r]}" != - ] && echo "; at ${FAIL[$r]} calls: $why")"
done
for r in $RELAYS udprelay-percall; do
	lbl=$r; [ $r = udprelay-percall ] && lbl="floor (bare relay, a pair per call)"
	row "$lbl: CPU/packet at $CMP_PPS/s (usr + sys)" "${UCMP[$r]} us (${UCMP_U[$r]} + ${UCMP_S[$r]})" "-" \
		"$([ $r = udprelay-percall ] && echo floor || echo info)"
done
for r in $RELAYS; do
	num "${UCMP[$r]}" && num "${UCMP[udprelay-percall]}" &&
	row "  $r above the bare relay at $CMP_PPS/s" \
		"$(fcalc %.2f "${UCMP[$r]} - ${UCMP[udprelay-percall]}") us" "-" \
		"$([ $r = sipsgate ] && echo "libsrtp2 alone: $SRTP_FLOOR hot, $F_RR cold" || echo info)"
	row "  $r: system calls per packet at $CMP_PPS/s" "${SC[$r]}" "-" "floor: ${SC[udprelay-percall]}"
	row "  $r: CPU/packet at its highest held rate (${BEST_PPS[$r]}/s)" "${US[$r]} us" "-" "info"
	num "${US[$r]}" && row "  $r: packets/s one core could carry at that cost (1 / CPU per packet)" \
		"$(fcalc %.0f "1e6 / ${US[$r]}")/s" "-" "estimate"
done
for r in $RELAYS; do
	if [ $r = sipsgate ]; then
		t50="<= $T_P50 us" t99="<= $T_P99 us"
		v50=$(num "${ADD50[$r]}" && pm "${ADD50[$r]} <= $T_P50" || echo MISS)
		v99=$(num "${ADD99[$r]}" && pm "${ADD99[$r]} <= $T_P99" || echo MISS)
	else t50=- t99=- v50=anchor v99=anchor; fi
	row "$r: added latency p50 at $((LAT_CALLS * 2 * PPS)) packets/s" "${ADD50[$r]} us" "$t50" "$v50"
	row "$r: added latency p99 at $((LAT_CALLS * 2 * PPS)) packets/s" "${ADD99[$r]} us" "$t99" "$v99"
done
row "  floor (bare relay, a pair per call), added latency p50 / p99" "${ADD50[udprelay-percall]} / ${ADD99[udprelay-percall]} us" "-" "floor"
row "  the same relay never sleeping, added latency p50 / p99" "${ADD50[udprelay-percall-spin]} / ${ADD99[udprelay-percall-spin]} us" "-" "floor"
row "  loopback baseline (no relay) p50 / p99, subtracted above" "$D50 / $D99 us" "-" "info"
for r in $RELAYS; do
	if [ $r = sipsgate ]; then t="<= $T_KIB KiB"; v=$(num "${KIB[$r]}" && pm "${KIB[$r]} <= $T_KIB" || echo MISS)
	else t=-; v=anchor; fi
	row "$r: resident memory per media session (${BEST_CALLS[$r]} sessions)" "${KIB[$r]} KiB" "$t" "$v"
done
if [[ " $RELAYS " = *" sipsgate "* ]] && [[ " $RELAYS " = *" rtpengine "* ]]; then
	row "ratio sipsgate / rtpengine: highest packet rate" "$(ratio "${BEST_PPS[sipsgate]}" "${BEST_PPS[rtpengine]}")" "-" "info"
	row "ratio sipsgate / rtpengine: CPU per packet at $CMP_PPS/s" "$(ratio "${UCMP[sipsgate]}" "${UCMP[rtpengine]}")" "-" "info"
	row "ratio sipsgate / rtpengine: added latency p50 / p99" "$(ratio "${ADD50[sipsgate]}" "${ADD50[rtpengine]}") / $(ratio "${ADD99[sipsgate]}" "${ADD99[rtpengine]}")" "-" "info"
	row "ratio sipsgate / rtpengine: memory per session" "$(ratio "${KIB[sipsgate]}" "${KIB[rtpengine]}")" "-" "info"
fi
say
say "notes:"
say "- a step holds when < 0.1 % of its packets are lost or later than 50 ms (both directions together)."
say "  Every relay latches each leg to one of rtpload's two sockets (the phone's, the peer's): what the"
say "  relay does per packet is the same as with a socket per phone, rtpload is cheaper."
say "- rtpload protects and unprotects with nettle (checked byte for byte against libsrtp2 at start), so"
say "  that it outruns the relays; a step where it fell > 20 ms behind its schedule says so."
say "- CPU per packet includes the kernel: over loopback the receiver's network stack runs in the sender's"
say "  context, so the relay pays for delivering into rtpload's sockets and rtpload for delivering into"
say "  the relay's.  At low rates it is dominated by waking the relay up (in this VM a sleep + wakeup costs"
say "  tens of us of CPU): compare relays at the same rate."
say "- latency: from just before rtpload's sendmmsg to the kernel timestamp of the relay's datagram"
say "  (SO_TIMESTAMPNS), minus the same without a relay (rtpload's sockets to each other)."
say "- memory: (VmRSS at the highest held step - VmRSS after $(res phase sipsgate sessions0) warm-up calls) / the calls"
say "  between; kernel socket buffers are not in VmRSS."
say "- 'other' = CPU used during a step by processes this script did not start; whole run:"
say "  $(fcalc %.0f "($LOAD1 - $LOAD0) * 100 / $CLK_TCK / ($T_END - $T_START)")% of one CPU busy on average, ours included."
for r in $RELAYS; do
	e=$(res phase $r error)
	[ "$e" = - ] || { say "- $r: ERROR ${e//_/ }"; CRASH=1; }
	[ "$(res phase $r alive_at_end)" = 0 ] && { say "- $r DIED during the run: see $LAB_DIR/$r.log"; CRASH=1; }
done
if [[ " $RELAYS " = *" sipsgate "* ]]; then
	say "- sipsgate counters at the end: srtp_auth_fail=$(res phase sipsgate st_srtp_auth_fail) srtp_replay=$(res phase sipsgate st_srtp_replay) media_tx_drop=$(res phase sipsgate st_media_tx_drop) (rtpload's bad packets: see the steps in $RES)"
fi
[ -n "${CRASH:-}" ] && { say "A RELAY FAILED: files kept in $LAB_DIR"; exit 1; }
# shellcheck disable=SC2034
LAB_RESULT=0
exit 0
