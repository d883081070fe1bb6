#!/usr/bin/env bash
# bench/signalling.sh — figures for the "Signalling core" issue (a benchmark,
# not a test: it reports numbers and pass/miss against the targets; run it by
# hand, as root, on an otherwise idle machine).  See bench/README.md.
#
#   1. calls/s through a gateway pair with zero failed calls, and the CPU
#      time both gateways spend per call:
#        sipp UAC (phones) -> gwa -> TLS -> gwb -> sipp UAS (pbx)
#      INVITE/200/ACK/BYE/200 over UDP, no media; the rate is stepped up until
#      a step loses a call.
#   2. median added latency per gateway: request -> 200 round trip through
#      the pair, minus the same round trip over the same three links with the
#      kernel forwarding instead of the gateways (bench/sipprobe.py).
#   3. resident memory of the client gateway per registered phone: 1,000
#      phones (distinct users, each from its own UDP port) REGISTER through
#      gwa to a sipp registrar behind gwb.
#   4. full and resumed TLS handshakes/s that sipsgate accepts on one core,
#      side by side with stunnel4 in the same run (bench/tlsload.c).
#
# Everything runs in network namespaces this script makes (tests/lab/lib.sh);
# traffic goes nowhere else.  Every load loop is bounded in count and time.
#
# Environment (defaults in brackets):
#   SIPSGATE            daemon binary [build/sipsgate]; copied, so a rebuild
#                       during the run does not change what is measured
#   BENCH_STEP_SECS     seconds per call-rate step, 2..10 [6]
#   BENCH_RATES         call rates to step through, calls/s
#                       ["500 1000 2000 3000 4000 5000 6000 7000 8000"]
#   BENCH_PHONES        phones to register, 1..5000 [1000]
#   BENCH_PROBES        latency probes per path and method, 1..5000 [1000]
#   BENCH_TLS_SECS      seconds per TLS run, 2..10 [5] (2 runs per figure)
#   BENCH_TLS_INFLIGHT  handshakes in flight, 1..256 [32]
#   BENCH_SDP           0: INVITEs without SDP only (signalling only);
#                       1: INVITEs with an SDP offer and 200s with an answer
#                       only (the gateways then also set up and tear down
#                       media relays per call); both: first 0, then 1 with
#                       fresh gateways [both]
#   BENCH_TXN           5. the transaction layer's cost (calls with
#                       transactions = no and = yes on fresh gateways, the
#                       same binary, alternating): 1: with the rest [1];
#                       only: section 5 alone; 0: skip it
#   BENCH_TXN_RATES     call rates of section 5 ["1000 2000"]
#   BENCH_TXN_REPS      runs per mode and rate in section 5, 0..9 [3]
#                       (0: instructions per call only)
#   BENCH_TXN_IR        1: section 5 also counts the instructions per call
#                       of both gateways under valgrind (callgrind): a
#                       figure other jobs on the machine cannot move [1]
#   BENCH_BASELINE      an older sipsgate binary (e.g. one built from the
#                       branch before the transaction layer) measured in
#                       section 5 too [none]
#   BENCH_KEEP=1        keep the run directory (logs, sipp stats) afterwards
set -u
BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
SRC_DIR=$(cd "$BENCH_DIR/.." && pwd)
. "$SRC_DIR/tests/lab/lib.sh"
. "$SRC_DIR/tests/lab/gw.sh"

STEP_SECS=${BENCH_STEP_SECS:-6}
RATES=${BENCH_RATES:-500 1000 2000 3000 4000 5000 6000 7000 8000}
PHONES=${BENCH_PHONES:-1000}
PROBES=${BENCH_PROBES:-1000}
TLS_SECS=${BENCH_TLS_SECS:-5}
TLS_INFLIGHT=${BENCH_TLS_INFLIGHT:-32}
TLS_BURST=1000          # concurrent handshakes of the survival check
# shellcheck disable=SC2034  # read by lab_cleanup (tests/lab/lib.sh)
LAB_KEEP=${BENCH_KEEP:-0}
SDP=${BENCH_SDP:-both}
TXN=${BENCH_TXN:-1}
TXN_RATES=${BENCH_TXN_RATES:-1000 2000}
TXN_REPS=${BENCH_TXN_REPS:-3}
TXN_IR=${BENCH_TXN_IR:-1}
BASELINE=${BENCH_BASELINE:-}

# Targets (the issue's numbers).
T_CPS=4000 T_US_CALL=100 T_KIB_PHONE=40 T_HS_FULL=1000

die() { echo "signalling.sh: $*" >&2; exit 2; }
between() { [[ $1 =~ ^[0-9]+$ ]] && [ "$1" -ge "$2" ] && [ "$1" -le "$3" ]; }
between "$STEP_SECS" 2 10 || die "BENCH_STEP_SECS must be 2..10"
between "$PHONES" 1 5000 || die "BENCH_PHONES must be 1..5000"
between "$PROBES" 1 5000 || die "BENCH_PROBES must be 1..5000"
between "$TLS_SECS" 2 10 || die "BENCH_TLS_SECS must be 2..10"
between "$TLS_INFLIGHT" 1 256 || die "BENCH_TLS_INFLIGHT must be 1..256"
for r in $RATES; do between "$r" 1 20000 || die "BENCH_RATES: $r is not 1..20000"; done
case $TXN in 0|1|only) ;; *) die "BENCH_TXN must be 0, 1 or only" ;; esac
for r in $TXN_RATES; do between "$r" 1 20000 || die "BENCH_TXN_RATES: $r is not 1..20000"; done
between "$TXN_REPS" 0 9 || die "BENCH_TXN_REPS must be 0..9"
[ -z "$BASELINE" ] || [ -x "$BASELINE" ] || die "BENCH_BASELINE: $BASELINE is not an executable"
case $SDP in
0) CALL_VARIANTS=nosdp ;;
1) CALL_VARIANTS=sdp ;;
both) CALL_VARIANTS="nosdp sdp" ;;
*) die "BENCH_SDP must be 0, 1 or both" ;;
esac
[ "$(id -u)" = 0 ] || die "needs root (network namespaces)"
for t in sipp stunnel4 cc python3 taskset ss ip; do
	command -v $t >/dev/null || die "$t missing (apt-get install sip-tester stunnel4 gcc python3 util-linux iproute2)"
done
[ -x "$SIPSGATE" ] || die "no daemon at $SIPSGATE: cmake --build build -j2 first"
[ -r /usr/include/gnutls/gnutls.h ] || die "libgnutls28-dev missing"

NCPU=$(nproc)
CLK_TCK=$(getconf CLK_TCK)
if [ "$NCPU" -ge 2 ]; then PIN_SRV=(taskset -c 0); PIN_CLI=(taskset -c 1)
else PIN_SRV=(); PIN_CLI=(); fi
SIPP_DIR=$BENCH_DIR/sipp

lab_init signalling
cp "$SIPSGATE" "$LAB_DIR/sipsgate" || lab_fail "cannot copy $SIPSGATE"
SG_BIN_SUM=$(sha256sum "$SIPSGATE" | cut -c1-12)
SG_REV=$(git -C "$SRC_DIR" describe --always --dirty 2>/dev/null || echo "?")
SIPSGATE=$LAB_DIR/sipsgate
if [ -n "$BASELINE" ]; then
	cp "$BASELINE" "$LAB_DIR/sipsgate-baseline" || lab_fail "cannot copy $BASELINE"
	BASE_SUM=$(sha256sum "$BASELINE" | cut -c1-12)
fi
cc -O2 -Wall -o "$LAB_DIR/tlsload" "$BENCH_DIR/tlsload.c" -lgnutls \
	>"$LAB_DIR/tlsload-build.log" 2>&1 || lab_fail "cannot build bench/tlsload.c: $(cat "$LAB_DIR/tlsload-build.log")"

# The call scenarios without SDP are derived from the same files.
for f in uac uas; do
	python3 - "$SIPP_DIR/$f.xml" "$LAB_DIR/$f-nosdp.xml" <<'PY' || lab_fail "cannot derive $f-nosdp.xml"
import re, sys
s = open(sys.argv[1]).read()
s = re.sub(r"\n *Content-Type: application/sdp", "", s)
s = re.sub(r"Content-Length: \[len\]\n\n.*?\n( *\]\]>)", "Content-Length: 0\n\n\\1", s, flags=re.S)
assert "v=0" not in s
open(sys.argv[2], "w").write(s)
PY
done

say() { echo "$*"; }
section() { echo; echo "== $*"; }

# --- measuring helpers ------------------------------------------------------

# cpu_ticks PID — "UTIME STIME" in clock ticks (whole process, all threads).
cpu_ticks() { awk '{print $14, $15}' "/proc/$1/stat" 2>/dev/null || echo "0 0"; }
# busy_ticks — CPU ticks spent not idle, all CPUs, since boot.
busy_ticks() { awk '/^cpu /{print $2+$3+$4+$7+$8+$9; exit}' /proc/stat; }
# rss_kib PID FIELD — a /proc/PID/status field in KiB (VmRSS, VmHWM, RssAnon).
rss_kib() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"; }
# udp_drops NS ADDR:PORT — kernel drop counter of that UDP socket (ss -m d).
udp_drops() {
	lab_exec "$1" ss -uanmH 2>/dev/null | awk -v a="$2" '
		$0 ~ /skmem/ { if (hit) { match($0, /d[0-9]+/); print substr($0, RSTART + 1, RLENGTH - 1); exit } next }
		{ hit = ($4 == a) }'
}
# run_rusage FILE CMD... — run CMD; FILE gets its "USER SYS" CPU seconds.
run_rusage() {
	local f=$1; shift
	python3 -c '
import resource, subprocess, sys
rc = subprocess.call(sys.argv[2:])
u = resource.getrusage(resource.RUSAGE_CHILDREN)
open(sys.argv[1], "w").write("%.3f %.3f\n" % (u.ru_utime, u.ru_stime))
sys.exit(rc)' "$f" "$@"
}
# sipp_stat FILE — "OK FAILED RETRANS DEAD" from the last line of a -trace_stat CSV.
sipp_stat() {
	python3 - "$1" <<'PY'
import csv, sys
try:
    rows = list(csv.reader(open(sys.argv[1]), delimiter=";"))
    d = dict(zip(rows[0], rows[-1]))
    print(d["SuccessfulCall(C)"], d["FailedCall(C)"], d["Retransmissions(C)"],
          d["DeadCallMsgs(C)"])
except Exception:
    print("0 -1 0 0")
PY
}
now() { date +%s.%N; }
fcalc() { awk "BEGIN { printf \"$1\", $2 }"; }

gw_alive() { kill -0 "${LAB_PID_OF[$1]}" 2>/dev/null; }
# gw_death NAME — the last lines of a dead gateway's log (the evidence).
gw_death() { say "  $1 log, last lines:"; tail -n 3 "$LAB_DIR/$1.log" | sed 's/^/    /'; }
gw_pid() { echo "${LAB_PID_OF[$1]}"; }

direct_on() {	# the same three links, the kernel forwarding in gwa and gwb
	local ns
	for ns in gwa gwb; do
		lab_exec $ns sysctl -qw net.ipv4.ip_forward=1 net.ipv4.conf.all.forwarding=1
	done
	ip -n "$(lab_nsname gwa)" route add 198.18.3.0/24 via $LAB_GWB_WAN
	ip -n "$(lab_nsname gwb)" route add 198.18.1.0/24 via $LAB_GWA_WAN
}
direct_off() {
	local ns
	ip -n "$(lab_nsname gwa)" route del 198.18.3.0/24 2>/dev/null
	ip -n "$(lab_nsname gwb)" route del 198.18.1.0/24 2>/dev/null
	for ns in gwa gwb; do
		lab_exec $ns sysctl -qw net.ipv4.ip_forward=0 net.ipv4.conf.all.forwarding=0
	done
}

# --- the lab ------------------------------------------------------------------

section "sipsgate signalling benchmark"
say "host: $NCPU CPUs ($(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)), kernel $(uname -r)"
say "sipsgate: $SG_REV (binary sha256 $SG_BIN_SUM...), sipp $(sipp -v 2>&1 | awk '/SIPp v/{print $2; exit}'), $(stunnel4 -version 2>&1 | awk '/^stunnel/{print $1, $2; exit}'), GnuTLS $(pkg-config --modversion gnutls 2>/dev/null || echo ?)"
say "run directory: $LAB_DIR"
LOAD0=$(busy_ticks); T_START=$(now)

lab_topology
lab_certs
lab_gw_pair_conf
lab_gw_start gwb gwb "$LAB_DIR/gwb.conf"
lab_gw_start gwa gwa "$LAB_DIR/gwa.conf"
lab_gw_wait_link gwa
GWA=$(gw_pid gwa) GWB=$(gw_pid gwb)

if [ "$TXN" != only ]; then
# --- 3. memory per registered phone (fresh gateways) ------------------------

section "3. resident memory of gwa with $PHONES phones registered through it"
lab_start pbx registrar sipp -sf "$SIPP_DIR/registrar.xml" -i $LAB_PBX -p 5060 \
	-nostdin -buff_size 4194304 -trace_msg -message_file "$LAB_DIR/registrar.msg"
lab_wait_port pbx udp 5060 $LAB_PBX
{ echo SEQUENTIAL; for ((i = 0; i < 20; i++)); do printf 'warm%04d\n' $i; done; } >"$LAB_DIR/warm.csv"
{ echo SEQUENTIAL; for ((i = 0; i < PHONES; i++)); do printf 'phone%04d\n' $i; done; } >"$LAB_DIR/phones.csv"
reg_run() {	# CSV COUNT NAME
	(cd "$LAB_DIR" && timeout 60 ip netns exec "$(lab_nsname phones)" \
		sipp -sf "$SIPP_DIR/reg.xml" -inf "$2" -i $LAB_PHONE_A -t un \
		-max_socket $(($3 + 100)) -nostdin -r 500 -m "$3" -l "$3" \
		-recv_timeout 5000 -trace_stat -stf "$LAB_DIR/$1.stat" \
		-trace_err -error_file "$LAB_DIR/$1.err" $LAB_GWA_IN:5060 \
		>"$LAB_DIR/$1.log" 2>&1)
}
RSS_COLD=$(rss_kib $GWA VmRSS)
reg_run warm "$LAB_DIR/warm.csv" 20 || lab_fail "warm-up registrations failed (see warm.log)"
sleep 0.3
RSS0=$(rss_kib $GWA VmRSS) ANON0=$(rss_kib $GWA RssAnon) RSSB0=$(rss_kib $GWB VmRSS)
reg_run phones "$LAB_DIR/phones.csv" "$PHONES"; REG_RC=$?
sleep 0.3
RSS1=$(rss_kib $GWA VmRSS) ANON1=$(rss_kib $GWA RssAnon) HWM1=$(rss_kib $GWA VmHWM) RSSB1=$(rss_kib $GWB VmRSS)
read -r REG_OK REG_FAIL _ _ < <(sipp_stat "$LAB_DIR/phones.stat")
# the Contacts of the REGISTER requests the registrar received (not of its 200s)
awk '/^REGISTER sip/ { req = 1 } /^SIP\/2\.0 / { req = 0 } req && /^Contact:/ { print; req = 0 }' \
	"$LAB_DIR/registrar.msg" >"$LAB_DIR/registrar.contacts"
REG_FLOWS=$(wc -l <"$LAB_DIR/registrar.contacts")
REG_FLOWS_U=$(sort -u "$LAB_DIR/registrar.contacts" | wc -l)
lab_stop registrar
KIB_PHONE=$(fcalc %.2f "($RSS1 - $RSS0) / $PHONES")
say "registrations: $REG_OK ok, $REG_FAIL failed (sipp exit $REG_RC), from $PHONES distinct UDP ports;"
say "  the registrar saw $REG_FLOWS REGISTERs (20 warm-up + $PHONES) with $REG_FLOWS_U distinct Contacts (a flow token each)"
say "gwa VmRSS: $RSS_COLD KiB at start, $RSS0 KiB after 20 warm-up registrations, $RSS1 KiB after $PHONES (VmHWM $HWM1 KiB; RssAnon $ANON0 -> $ANON1 KiB)"
say "gwb VmRSS: $RSSB0 -> $RSSB1 KiB"
say "per phone (gwa): ($RSS1 - $RSS0) KiB / $PHONES = $KIB_PHONE KiB  [the gateway keeps no per-registration state: the phone's address is in the HMAC-signed flow token in the Contact]"
[ "$REG_OK" = "$PHONES" ] || KIB_PHONE_NOTE="(only $REG_OK of $PHONES registered)"

# --- 2. added latency per gateway ---------------------------------------------

section "2. added latency: request -> 200 round trip, one request at a time, $PROBES probes, 1 ms apart"
say "INVITE (with or without an SDP offer; the 200 answers it), ACKed and ended with a BYE; OPTIONS: no body"
lab_start pbx probe-uas python3 "$BENCH_DIR/sipprobe.py" answer --bind $LAB_PBX:5060 --seconds 150
lab_wait_port pbx udp 5060 $LAB_PBX
probe() {	# TO METHOD [--no-sdp] -> "min median p90 p99 lost"
	local out
	out=$(timeout 60 ip netns exec "$(lab_nsname phones)" python3 "$BENCH_DIR/sipprobe.py" probe \
		--bind $LAB_PHONE_A:5070 --to "$1" --count "$PROBES" --gap 1 --method "$2" ${3:-} 2>&1)
	echo "$1 $out" >>"$LAB_DIR/probe.log"
	echo "$out" | awk '{for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		printf "%s %s %s %s %s\n", v["min_us"]+0, v["median_us"]+0, v["p90_us"]+0, v["p99_us"]+0, v["lost"]+0 + v["bye_unanswered"]+0 }'
}
declare -A LAT
PROBE_KINDS="INVITE-nosdp OPTIONS"
[[ " $CALL_VARIANTS " = *" sdp "* ]] && PROBE_KINDS="INVITE-nosdp INVITE-sdp OPTIONS"
[ "$CALL_VARIANTS" = sdp ] && PROBE_KINDS="INVITE-sdp OPTIONS"
probe_args() { case $1 in INVITE-nosdp) echo "INVITE --no-sdp" ;; INVITE-sdp) echo INVITE ;; *) echo "$1" ;; esac; }
# shellcheck disable=SC2046  # probe_args is meant to split
for m in $PROBE_KINDS; do LAT[pair-$m]=$(probe $LAB_GWA_IN:5060 $(probe_args $m)); done
direct_on
# shellcheck disable=SC2046
for m in $PROBE_KINDS; do LAT[direct-$m]=$(probe $LAB_PBX:5060 $(probe_args $m)); done
direct_off
lab_stop probe-uas
printf '%-13s %-34s %8s %8s %8s %8s %5s\n' request path min_us median p90 p99 lost
for m in $PROBE_KINDS; do
	for p in pair direct; do
		read -r a b c d e <<<"${LAT[$p-$m]}"
		printf '%-13s %-34s %8s %8s %8s %8s %5s\n' $m \
			"$([ $p = pair ] && echo "phones -> gwa => gwb -> uas" || echo "phones -> uas, kernel forwarding")" $a $b $c $d $e
	done
	read -r _ mp _ _ _ <<<"${LAT[pair-$m]}"; read -r _ md _ _ _ <<<"${LAT[direct-$m]}"
	LAT[hop-$m]=$(fcalc %.0f "($mp - $md) / 2")
	say "  $m: added per gateway (request + its response) = ($mp - $md) / 2 = ${LAT[hop-$m]} us"
done
for g in gwa gwb; do gw_alive $g || { say "gateway $g DIED during the latency probes"; gw_death $g; CRASH=1; }; done

fi	# [ "$TXN" != only ]
# --- 1. calls/s through the pair ------------------------------------------------

# calls_step NAME RATE REMOTE LABEL — one bounded sipp UAC run (STEP_SECS at
# RATE, at most RATE calls at once); sets S_* and prints a table row.
calls_step() {
	local name=$1 rate=$2 remote=$3 n=$(($2 * STEP_SECS))
	local a0 b0 s0 l0 t0 a1 b1 s1 l1 t1 da0 db0 da1 db1 rc u us
	read -r -a a0 <<<"$(cpu_ticks $GWA)"; read -r -a b0 <<<"$(cpu_ticks $GWB)"
	read -r -a s0 <<<"$(cpu_ticks $UAS)"; l0=$(busy_ticks)
	da0=$(udp_drops gwa $LAB_GWA_IN:5060); db0=$(udp_drops gwb $LAB_GWB_IN:5060)
	t0=$(now)
	(cd "$LAB_DIR" && run_rusage "$LAB_DIR/$name.rusage" timeout $((STEP_SECS + 40)) \
		ip netns exec "$(lab_nsname phones)" sipp -sf "$UAC_XML" \
		-i $LAB_PHONE_A -p 5060 -s bob -nostdin -r "$rate" -m "$n" -l "$rate" \
		-recv_timeout 4000 -timeout $((STEP_SECS + 30))s -buff_size 4194304 \
		-trace_stat -stf "$LAB_DIR/$name.stat" -fd 1 \
		-trace_err -error_file "$LAB_DIR/$name.err" "$remote" >"$LAB_DIR/$name.log" 2>&1)
	rc=$?
	t1=$(now)
	read -r -a a1 <<<"$(cpu_ticks $GWA)"; read -r -a b1 <<<"$(cpu_ticks $GWB)"
	read -r -a s1 <<<"$(cpu_ticks $UAS)"; l1=$(busy_ticks)
	da1=$(udp_drops gwa $LAB_GWA_IN:5060); db1=$(udp_drops gwb $LAB_GWB_IN:5060)
	read -r u us <"$LAB_DIR/$name.rusage"
	read -r S_OK S_FAIL S_RETR _ < <(sipp_stat "$LAB_DIR/$name.stat")
	S_WALL=$(fcalc %.2f "$t1 - $t0")
	S_ACH=$(fcalc %.0f "$S_OK / $S_WALL")
	local k=$CLK_TCK w=$S_WALL ok=$S_OK
	[ "$ok" -gt 0 ] || ok=1
	local gu=$(( (a1[0] - a0[0]) + (b1[0] - b0[0]) )) gs=$(( (a1[1] - a0[1]) + (b1[1] - b0[1]) ))
	S_US=$(fcalc %.0f "($gu + $gs) * 1e6 / $k / $ok")
	S_USU=$(fcalc %.0f "$gu * 1e6 / $k / $ok")
	S_USS=$(fcalc %.0f "$gs * 1e6 / $k / $ok")
	S_GWA=$(fcalc %.0f "(${a1[0]} + ${a1[1]} - ${a0[0]} - ${a0[1]}) * 100 / $k / $w")
	S_GWB=$(fcalc %.0f "(${b1[0]} + ${b1[1]} - ${b0[0]} - ${b0[1]}) * 100 / $k / $w")
	S_UAC=$(fcalc %.0f "($u + $us) * 100 / $w")
	S_UAS=$(fcalc %.0f "(${s1[0]} + ${s1[1]} - ${s0[0]} - ${s0[1]}) * 100 / $k / $w")
	S_SIPP_US=$(fcalc %.0f "(($u + $us) + (${s1[0]} + ${s1[1]} - ${s0[0]} - ${s0[1]}) / $k) * 1e6 / $ok")
	S_OTHER=$(fcalc %.0f "($l1 - $l0) * 100 / $k / $w - $S_GWA - $S_GWB - $S_UAC - $S_UAS")
	[ "${S_OTHER#-}" = "$S_OTHER" ] || S_OTHER=0	# tick sampling: approximate
	S_DROPA=$(( ${da1:-0} - ${da0:-0} )) S_DROPB=$(( ${db1:-0} - ${db0:-0} ))
	if [ "$4" = pair ] && { ! gw_alive gwa || ! gw_alive gwb; }; then
		# a gateway died: its CPU figures are meaningless
		S_US=- S_USU=- S_USS=- S_GWA=- S_GWB=- S_OTHER=- S_DROPA=- S_DROPB=-
	fi
	S_WHY=
	[ "$S_FAIL" = 0 ] || S_WHY="$S_FAIL failed calls"
	[ "$S_OK" = "$n" ] || [ "$S_FAIL" != 0 ] || S_WHY="only $S_OK of $n calls completed"
	awk "BEGIN { exit !($S_ACH < 0.95 * $rate) }" &&
		S_WHY="${S_WHY:+$S_WHY, }achieved $S_ACH calls/s < 95% of $rate (retransmissions stretched the step)"
	[ "$rc" = 0 ] || [ -n "$S_WHY" ] || S_WHY="sipp exit status $rc"
	if [ -z "$S_WHY" ]; then S_VERDICT=pass; else S_VERDICT=FAIL; fi
	printf '%-7s %6s %6s %6s %7s %7s %6s %5s %5s %5s %4s %4s %4s %4s %5s %6s %6s  %s\n' \
		"$4" "$rate" "$S_OK" "$S_FAIL" "$S_RETR" "$S_ACH" "$S_US" "$S_USU" "$S_USS" \
		"$S_SIPP_US" "$S_GWA" "$S_GWB" "$S_UAC" "$S_UAS" "$S_OTHER" "$S_DROPA" "$S_DROPB" "$S_VERDICT"
}
hdr() {
	printf '%-7s %6s %6s %6s %7s %7s %6s %5s %5s %5s %4s %4s %4s %4s %5s %6s %6s  %s\n' \
		path cps ok failed retrans achvd gw_us usr sys sipp gwa% gwb% uac% uas% other dropA dropB verdict
}

# calls_phase V — step the call rate with scenario variant V (nosdp | sdp);
# results in C_<name>[V].
declare -A C_BEST C_US C_SIPP C_LOAD C_FAIL C_FAILINFO C_DIRECT C_US4000 C_CRASH
calls_phase() {
	local v=$1 r
	if [ "$v" = sdp ]; then UAC_XML=$SIPP_DIR/uac.xml UAS_XML=$SIPP_DIR/uas.xml
	else UAC_XML=$LAB_DIR/uac-nosdp.xml UAS_XML=$LAB_DIR/uas-nosdp.xml; fi
	say
	say "-- variant '$v': INVITE and 200 $([ "$v" = sdp ] && echo "carry SDP (offer/answer): the gateways set up and tear down media relays per call" || echo "carry no SDP: signalling only")"
	lab_start pbx uas sipp -sf "$UAS_XML" -i $LAB_PBX -p 5060 -nostdin \
		-buff_size 4194304 -trace_err -error_file "$LAB_DIR/uas-$v.err"
	lab_wait_port pbx udp 5060 $LAB_PBX
	UAS=${LAB_PID_OF[uas]}
	# warm-up (not counted): the first calls after start pay page faults.
	(cd "$LAB_DIR" && timeout 30 ip netns exec "$(lab_nsname phones)" sipp -sf "$UAC_XML" \
		-i $LAB_PHONE_A -p 5060 -s bob -nostdin -r 200 -m 200 -recv_timeout 4000 $LAB_GWA_IN:5060 \
		>"$LAB_DIR/calls-$v-warmup.log" 2>&1) || say "(warm-up run reported failures: see calls-$v-warmup.log)"
	hdr
	C_BEST[$v]=0 C_US[$v]=- C_SIPP[$v]=- C_FAIL[$v]=
	for r in $RATES; do
		calls_step "calls-$v-$r" "$r" $LAB_GWA_IN:5060 pair
		[ "$r" = 4000 ] && C_US4000[$v]=$S_US
		if ! gw_alive gwa || ! gw_alive gwb; then
			say "A GATEWAY DIED during the $r calls/s step"
			C_FAIL[$v]=$r C_CRASH[$v]=1 CRASH=1
			for g in gwa gwb; do gw_alive $g || gw_death $g; done
			break
		fi
		if [ "$S_VERDICT" = pass ]; then
			C_BEST[$v]=$r C_US[$v]=$S_US C_SIPP[$v]=$S_SIPP_US
			C_LOAD[$v]="gwa $S_GWA%, gwb $S_GWB%, sipp UAC $S_UAC% + UAS $S_UAS%, other $S_OTHER% of one CPU"
		else
			C_FAIL[$v]=$r
			C_FAILINFO[$v]="$S_WHY; $S_RETR retransmissions, kernel drops at gwa/gwb inside sockets $S_DROPA/$S_DROPB"
			break
		fi
		sleep 1
	done
	if [ -n "${C_FAIL[$v]}" ] && [ -z "${C_CRASH[$v]:-}" ]; then
		local why
		[ -e "$LAB_DIR/calls-$v-${C_FAIL[$v]}.err" ] &&
		why=$(tr '\r' '\n' <"$LAB_DIR/calls-$v-${C_FAIL[$v]}.err" |
			grep -oE 'UDP retransmission timeout|receive timeout|unexpected message|Dead call' | sort | uniq -c |
			awk '{c = $1; $1 = ""; printf "%s%s x%s", (n++ ? ", " : ""), substr($0, 2), c}')
		say "failed step ${C_FAIL[$v]} calls/s: ${C_FAILINFO[$v]}${why:+; sipp: $why}"
		say "calibration: the same sipp pair at ${C_FAIL[$v]} calls/s without the gateways (kernel forwarding):"
		sleep 2
		direct_on
		calls_step "direct-$v-${C_FAIL[$v]}" "${C_FAIL[$v]}" $LAB_PBX:5060 direct
		direct_off
		C_DIRECT[$v]=$S_VERDICT
	fi
	lab_stop uas
	for g in gwa gwb; do
		say "$g status: $("$SIPSGATE" -s "$LAB_DIR/$g.sock" status 2>&1 | awk '$1 ~ /^(msg_in|msg_out|parse_err|send_fail|conn_fail|remote_close|calls_total|calls_active|media_streams|media_timeouts|refused_488|sdp_errors)$/ {printf "%s=%s ", $1, $2} /cannot reach/ {print "NOT ANSWERING"}')"
	done
}

# gw_restart — fresh gateways (the logs of the previous ones are kept).
gw_restart() {
	local g
	for g in gwa gwb; do
		lab_stop $g
		mv "$LAB_DIR/$g.log" "$LAB_DIR/$g-$1.log"
	done
	lab_gw_start gwb gwb "$LAB_DIR/gwb.conf"
	lab_gw_start gwa gwa "$LAB_DIR/gwa.conf"
	lab_gw_wait_link gwa
	GWA=$(gw_pid gwa) GWB=$(gw_pid gwb)
}

if [ "$TXN" != only ]; then
section "1. calls/s through the pair (INVITE/200/ACK/BYE/200, UDP, no media sent), ${STEP_SECS} s per step"
say "sipp UAC and UAS run on the same $NCPU CPUs as the gateways (nothing pinned): their CPU is in the table."
say "columns: cps = target rate; ok/failed/retrans = sipp UAC; achvd = ok calls / wall time;"
say "  gw_us = CPU us per call of gwa + gwb together (usr + sys); sipp = CPU us per call of UAC + UAS;"
say "  gwa% .. uas% = share of one CPU during the step; other = the rest of the machine (not ours; approximate);"
say "  dropA/dropB = datagrams the kernel dropped at gwa's / gwb's inside UDP socket (receive buffer full)"
say "gateway inside UDP socket: receive buffer $(lab_exec gwa ss -uanmH | awk -v a=$LAB_GWA_IN:5060 '$4 == a {hit = 1; next} hit && /skmem/ {match($0, /rb[0-9]+/); print substr($0, RSTART + 2, RLENGTH - 2); exit}') bytes (the kernel default, net.core.rmem_default = $(cat /proc/sys/net/core/rmem_default))"
V_FIRST=1
for v in $CALL_VARIANTS; do
	[ -n "$V_FIRST" ] || gw_restart "before-$v"
	V_FIRST=
	calls_phase $v
done

# --- 4. TLS handshakes/s on one core, sipsgate and stunnel4 -------------------

section "4. TLS handshakes/s on one core: sipsgate vs stunnel4 (servers on CPU 0, client on CPU 1)"
lab_ns_add tls
lab_exec tls sysctl -qw net.ipv4.ip_local_port_range="10000 65000"
C=$LAB_CERTS
cat >"$LAB_DIR/sgtls.conf" <<EOC
control = $LAB_DIR/sgtls.sock
log-level = info
[tlsbench]
accept = tls:127.0.0.1:25061
connect = udp:127.0.0.1:25060
cert = $C/gw-b.crt
key = $C/gw-b.key
ca = $C/ca.crt
verify = require
EOC
cat >"$LAB_DIR/stunnel.conf" <<EOC
; stunnel4 with the same certificate, key and client check as sipsgate
foreground = yes
pid =
syslog = no
[tlsbench]
accept = 127.0.0.1:25062
connect = 127.0.0.1:25063
cert = $C/gw-b.crt
key = $C/gw-b.key
CAfile = $C/ca.crt
verifyChain = yes
sslVersionMin = TLSv1.2
EOC
"$SIPSGATE" -t -c "$LAB_DIR/sgtls.conf" >"$LAB_DIR/sgtls-check.log" 2>&1 || lab_fail "sgtls.conf: $(cat "$LAB_DIR/sgtls-check.log")"
lab_start tls sink "${PIN_CLI[@]}" "$LAB_DIR/tlsload" sink -a 127.0.0.1 -p 25063 -t 200
lab_start tls sgtls "${PIN_SRV[@]}" "$SIPSGATE" -c "$LAB_DIR/sgtls.conf"
lab_start tls stunnel "${PIN_SRV[@]}" stunnel4 "$LAB_DIR/stunnel.conf"
lab_wait_port tls tcp 25061 127.0.0.1
lab_wait_port tls tcp 25062 127.0.0.1
lab_wait_port tls tcp 25063 127.0.0.1
SGT=${LAB_PID_OF[sgtls]} STT=${LAB_PID_OF[stunnel]}
say "sipsgate: accept = tls:127.0.0.1:25061, verify = require, log-level = info (logs 2 lines per connection);"
say "stunnel4: accept 127.0.0.1:25062 -> a local TCP sink, verifyChain = yes + CAfile (needs a client certificate), default log level;"
say "both: $(basename "$C")/gw-b ECDSA P-256 certificate; client (bench/tlsload, GnuTLS, TLS 1.3) presents gw-a's and does not check theirs;"
say "  $TLS_INFLIGHT handshakes in flight, ${TLS_SECS} s per run, 2 runs per figure (interleaved); a full handshake counts once the"
say "  server's session ticket (sent after it checked our certificate) arrived; a resumed one when the client's handshake ends"
tls_run() {	# TARGET PORT PID MODE [INFLIGHT SECS]
	local c0 c1 l0 l1 t0 t1 out cli srv k=${5:-$TLS_INFLIGHT} s=${6:-$TLS_SECS}
	read -r -a c0 <<<"$(cpu_ticks $3)"; l0=$(busy_ticks); t0=$(now)
	out=$(timeout $((s + 20)) ip netns exec "$(lab_nsname tls)" "${PIN_CLI[@]}" "$LAB_DIR/tlsload" client \
		-a 127.0.0.1 -p "$2" -c "$C/gw-a.crt" -k "$C/gw-a.key" -m "$4" -K "$k" -t "$s" 2>&1)
	read -r -a c1 <<<"$(cpu_ticks $3)"; l1=$(busy_ticks); t1=$(now)
	srv=$(fcalc %.2f "(${c1[0]} + ${c1[1]} - ${c0[0]} - ${c0[1]}) / $CLK_TCK")
	cli=$(echo "$out" | sed -n 's/.*client_cpu_s=\([0-9.]*\).*/\1/p')
	out="$out server_cpu_s=$srv other_pct=$(fcalc %.0f "(($l1 - $l0) / $CLK_TCK - $srv - ${cli:-0}) * 100 / ($t1 - $t0)")"
	echo "$1 $out" >>"$LAB_DIR/tls.results"
	echo "  $1 $out" | sed 's/ inflight=[0-9]*//; s/ started=[0-9]*//; s/ tls12=0//'
}
: >"$LAB_DIR/tls.results"
for rep in 1 2; do
	for mode in full resume; do
		if [ $rep = 1 ]; then
			tls_run sipsgate 25061 $SGT $mode; tls_run stunnel 25062 $STT $mode
		else
			tls_run stunnel 25062 $STT $mode; tls_run sipsgate 25061 $SGT $mode
		fi
	done
done
# tls_sum TARGET MODE — "rate per_cpu_s server_util% resumed_fraction failures"
tls_sum() {
	awk -v t="$1" -v m="$2" '$1 == t {
		for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
		if (v["mode"] != m) next
		hs += v["handshakes"]; s += v["secs"]; cpu += v["server_cpu_s"]; res += v["resumed"]
		f += v["fail_connect"] + v["fail_handshake"] + v["fail_closed"] + v["fail_timeout"]
	} END { if (s == 0) { print "0 0 0 0 0"; exit }
		printf "%.0f %.0f %.0f %.3f %d\n", hs / s, (cpu > 0 ? hs / cpu : 0), cpu * 100 / s, (hs ? res / hs : 0), f }' "$LAB_DIR/tls.results"
}
declare -A TLS
for t in sipsgate stunnel; do for m in full resume; do TLS[$t-$m]=$(tls_sum $t $m); done; done
# the survival check: many concurrent full handshakes against sipsgate
say "burst: $TLS_BURST full handshakes in flight against sipsgate for 3 s:"
tls_run sipsgate-burst 25061 $SGT full $TLS_BURST 3
sleep 1
if gw_alive sgtls && "$SIPSGATE" -s "$LAB_DIR/sgtls.sock" status >"$LAB_DIR/sgtls.status" 2>&1; then
	SG_ALIVE=yes
else
	SG_ALIVE=no; CRASH=1
fi
gw_alive stunnel && ST_ALIVE=yes || ST_ALIVE=no
sg_ctr() { awk -v k="$1" '$1 == k {print $2; exit}' "$LAB_DIR/sgtls.status"; }
say "sipsgate after all TLS runs: alive=$SG_ALIVE, status answers: $SG_ALIVE; tls_accepted=$(sg_ctr tls_accepted) tls_resumed=$(sg_ctr tls_resumed) hs_fail_server=$(sg_ctr hs_fail_server) tls_active=$(sg_ctr tls_active) remote_close=$(sg_ctr remote_close)"
say "stunnel4 alive=$ST_ALIVE, threads now $(ps -o nlwp= -p $STT 2>/dev/null | tr -d ' ')"
printf '\n%-10s %12s %10s %9s   %14s %10s %9s %8s\n' server "full hs/s" "per CPU-s" "CPU0 use" "resumed hs/s" "per CPU-s" "CPU0 use" resumed
for t in sipsgate stunnel; do
	read -r fr fc fu _ _ <<<"${TLS[$t-full]}"; read -r rr rc ru rf _ <<<"${TLS[$t-resume]}"
	printf '%-10s %12s %10s %8s%%   %14s %10s %8s%% %7.0f%%\n' $t $fr $fc $fu $rr $rc $ru "$(fcalc %.1f "$rf * 100")"
done
read -r sgf sgfc _ _ sgff <<<"${TLS[sipsgate-full]}"; read -r stf stfc _ _ stff <<<"${TLS[stunnel-full]}"
read -r sgr sgrc _ sgrf sgrff <<<"${TLS[sipsgate-resume]}"; read -r str strc _ strf strff <<<"${TLS[stunnel-resume]}"
RATIO_F=$(fcalc %.2f "$sgf / ($stf > 0 ? $stf : 1)") RATIO_R=$(fcalc %.2f "$sgr / ($str > 0 ? $str : 1)")
printf '%-10s %12s %10s %9s   %14s %10s\n' "ratio" "${RATIO_F}x" "$(fcalc %.2fx "$sgfc / ($stfc > 0 ? $stfc : 1)")" "" "${RATIO_R}x" "$(fcalc %.2fx "$sgrc / ($strc > 0 ? $strc : 1)")"
say "client-side failures: sipsgate full $sgff, resumed $sgrff; stunnel full $stff, resumed $strff"
SG_WARN=$(grep -c 'warning:' "$LAB_DIR/sgtls.log")
[ "$SG_WARN" -gt 0 ] && { say "sipsgate TLS log: $SG_WARN warnings, e.g.:"; grep 'warning:' "$LAB_DIR/sgtls.log" | sed 's/^[0-9:.]* //; s/[0-9]\{2,\}/N/g' | sort | uniq -c | sort -rn | head -5; }
lab_stop stunnel; lab_stop sgtls; lab_stop sink

fi	# [ "$TXN" != only ]

# --- 5. what the transaction layer costs ----------------------------------------

# txn_gw MODE — fresh gateways: stateless (transactions = no), txn (the
# default) or main (the BENCH_BASELINE binary, configured as before).
TXN_N=0
txn_gw() {
	local g bin=$SIPSGATE
	[ "$1" = main ] && bin=$LAB_DIR/sipsgate-baseline
	TXN_N=$((TXN_N + 1))
	for g in gwa gwb; do
		lab_stop $g
		[ -e "$LAB_DIR/$g.log" ] && mv "$LAB_DIR/$g.log" "$LAB_DIR/$g-t$TXN_N.log"
	done
	lab_gw_pair_conf
	if [ "$1" = stateless ]; then
		for g in gwa gwb; do echo "transactions = no" >>"$LAB_DIR/$g.conf"; done
	fi
	SIPSGATE=$bin lab_gw_start gwb gwb "$LAB_DIR/gwb.conf"
	SIPSGATE=$bin lab_gw_start gwa gwa "$LAB_DIR/gwa.conf"
	lab_gw_wait_link gwa
	GWA=$(gw_pid gwa) GWB=$(gw_pid gwb)
	(cd "$LAB_DIR" && timeout 30 ip netns exec "$(lab_nsname phones)" sipp -sf "$UAC_XML" \
		-i $LAB_PHONE_A -p 5060 -s bob -nostdin -r 200 -m 200 -recv_timeout 4000 $LAB_GWA_IN:5060 \
		>"$LAB_DIR/txn-warmup-$TXN_N.log" 2>&1) || say "(warm-up run $TXN_N reported failures)"
}
declare -A X_US X_OK X_RSS
TXN_MODES="stateless txn"
[ -n "$BASELINE" ] && TXN_MODES="main stateless txn"
if [ "$TXN" != 0 ]; then
section "5. the transaction layer: CPU per call with transactions = no and = yes (and the baseline binary)"
say "the same calls as in 1 (no SDP), ${STEP_SECS} s per step, fresh gateways per step, $TXN_REPS runs per mode and rate in"
say "alternating order, the median taken; 'txn' keeps RFC 3261 state for every request (both gateways have a UDP leg), sends 100"
say "Trying to the phones and retransmits on UDP; 'stateless' is the same binary with transactions = no$([ -n "$BASELINE" ] && echo ";
'main' is $BASELINE (sha256 $BASE_SUM...), without the transaction layer")."
say "rss = VmRSS of gwa + gwb after the step (KiB): finished transactions linger up to 64*T1 = 32 s."
UAC_XML=$LAB_DIR/uac-nosdp.xml UAS_XML=$LAB_DIR/uas-nosdp.xml
lab_start pbx uas sipp -sf "$UAS_XML" -i $LAB_PBX -p 5060 -nostdin \
	-buff_size 4194304 -trace_err -error_file "$LAB_DIR/uas-txn.err"
lab_wait_port pbx udp 5060 $LAB_PBX
UAS=${LAB_PID_OF[uas]}
hdr
for r in $TXN_RATES; do
	for rep in $(seq 1 "$TXN_REPS"); do
		order=$TXN_MODES
		[ $((rep % 2)) = 0 ] && order=$(echo "$TXN_MODES" | tr ' ' '\n' | tac | tr '\n' ' ')
		for m in $order; do
			txn_gw $m
			calls_step "txn-$m-$r-$rep" "$r" $LAB_GWA_IN:5060 "$m"
			X_US[$m-$r]="${X_US[$m-$r]:-} $S_US" X_OK[$m-$r]="${X_OK[$m-$r]:-} $S_OK/$S_FAIL"
			X_RSS[$m-$r]="${X_RSS[$m-$r]:-} $(( $(rss_kib $GWA VmRSS) + $(rss_kib $GWB VmRSS) ))"
			[ "$m" = txn ] && say "  txn counters: gwa $(lab_gw_status gwa | awk '$1 ~ /^txn_(created|absorbed|retransmissions|evicted|cap_hits)$/ {printf "%s=%s ", $1, $2}')"
			sleep 1
		done
	done
done
# 5b. Instructions per call, under callgrind: deterministic where CPU time
# on a shared machine is not. 100 calls to warm up, counters zeroed, 500
# calls at 50/s, counters dumped.
declare -A X_IR
if [ "$TXN_IR" = 1 ] && command -v valgrind >/dev/null && command -v callgrind_control >/dev/null; then
	say
	say "5b. instructions per call (valgrind --tool=callgrind), gwa + gwb: 100 calls to warm up, then 500 at 50/s"
	for m in $TXN_MODES; do
		bin=$SIPSGATE
		[ "$m" = main ] && bin=$LAB_DIR/sipsgate-baseline
		printf '#!/bin/sh\nexec valgrind -q --tool=callgrind --callgrind-out-file=%s/cg-%s-%%p.out "%s" "$@"\n' \
			"$LAB_DIR" "$m" "$bin" >"$LAB_DIR/vg-$m.sh"
		chmod +x "$LAB_DIR/vg-$m.sh"
		for g in gwa gwb; do
			lab_stop $g
			[ -e "$LAB_DIR/$g.log" ] && mv "$LAB_DIR/$g.log" "$LAB_DIR/$g-ir-$m.log"
		done
		lab_gw_pair_conf
		[ "$m" = stateless ] && for g in gwa gwb; do echo "transactions = no" >>"$LAB_DIR/$g.conf"; done
		for g in gwb gwa; do
			lab_start $g $g "$LAB_DIR/vg-$m.sh" -c "$LAB_DIR/$g.conf"
			for i in $(seq 1 200); do grep -q 'ready:' "$LAB_DIR/$g.log" 2>/dev/null && break; sleep 0.1; done
		done
		lab_gw_wait_link gwa
		run_calls() {	# N
			(cd "$LAB_DIR" && timeout 120 ip netns exec "$(lab_nsname phones)" sipp -sf "$UAC_XML" \
				-i $LAB_PHONE_A -p 5060 -s bob -nostdin -r 50 -m "$1" -recv_timeout 10000 \
				-trace_stat -stf "$LAB_DIR/ir-$m-$1.stat" $LAB_GWA_IN:5060 >"$LAB_DIR/ir-$m-$1.log" 2>&1)
		}
		run_calls 100
		ir=0
		for g in gwa gwb; do callgrind_control -z "${LAB_PID_OF[$g]}" >/dev/null 2>&1; done
		run_calls 500; rc=$?
		read -r IR_OK IR_FAIL _ _ < <(sipp_stat "$LAB_DIR/ir-$m-500.stat")
		for g in gwa gwb; do
			callgrind_control -d "ir-$m" "${LAB_PID_OF[$g]}" >/dev/null 2>&1
			sleep 0.5
			f=$(ls -t "$LAB_DIR"/cg-$m-"${LAB_PID_OF[$g]}"*.out* 2>/dev/null | head -1)
			n=$(awk '/^(summary|totals):/ {print $2; exit}' "$f" 2>/dev/null)
			X_IR[$m-$g]=$(( ${n:-0} / 500 ))
			ir=$(( ir + ${n:-0} ))
		done
		X_IR[$m]=$(( ir / 500 ))
		say "  $m: ${X_IR[$m]} instructions per call (gwa ${X_IR[$m-gwa]}, gwb ${X_IR[$m-gwb]}); sipp: $IR_OK ok, $IR_FAIL failed"
	done
	for g in gwa gwb; do lab_stop $g; mv "$LAB_DIR/$g.log" "$LAB_DIR/$g-ir-last.log"; done
fi
lab_stop uas
txn_gw txn	# the end checks a running pair
fi
# mean "A B C" -> the median of the numbers (ignores "-"): one step slowed
# by another job on the machine does not move it
mean() { echo "$1" | tr ' ' '\n' | grep -E '^[0-9.]+$' | sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else if (NR % 2) printf "%.0f", v[(NR + 1) / 2]; else printf "%.0f", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# --- the end --------------------------------------------------------------------

for g in gwa gwb; do
	gw_alive $g || { say "gateway $g is NOT running at the end"; gw_death $g; CRASH=1; }
	w=$(grep -c 'warning:' "$LAB_DIR/$g.log")
	[ "$w" -gt 0 ] && { say "$g log: $w warnings, e.g.:"; grep 'warning:' "$LAB_DIR/$g.log" | sed 's/^[0-9:.]* //' | sort | uniq -c | sort -rn | head -5; }
done
T_END=$(now); LOAD1=$(busy_ticks)

pm() { awk "BEGIN { exit !($1) }" && echo pass || echo MISS; }
row() { printf '%-60s %-16s %-12s %s\n' "$@"; }
vname() { [ "$1" = sdp ] && echo "with SDP" || echo "no SDP"; }
section "summary (sipsgate $SG_REV, $NCPU CPUs, $(fcalc %.0f "$T_END - $T_START") s)"
row figure measured target result
if [ "$TXN" != 0 ]; then
	if [ -n "${X_IR[txn]:-}" ] && [ "${X_IR[stateless]:-0}" -gt 0 ]; then
		[ -n "$BASELINE" ] && row "instructions per call, gwa + gwb, baseline binary" "${X_IR[main]}" "-" "info"
		row "instructions per call, gwa + gwb, transactions = no" "${X_IR[stateless]}" "-" "info"
		row "instructions per call, gwa + gwb, transactions = yes" "${X_IR[txn]}" "-" "info"
		row "  transactions cost, instructions" "$(fcalc %+.1f "(${X_IR[txn]} - ${X_IR[stateless]}) * 100 / ${X_IR[stateless]}") %" "<= +20 %" "$(pm "${X_IR[txn]} <= 1.2 * ${X_IR[stateless]}")"
		[ -n "$BASELINE" ] && [ "${X_IR[main]:-0}" -gt 0 ] &&
			row "  transactions = yes vs the baseline binary, instructions" "$(fcalc %+.1f "(${X_IR[txn]} - ${X_IR[main]}) * 100 / ${X_IR[main]}") %" "<= +20 %" "$(pm "${X_IR[txn]} <= 1.2 * ${X_IR[main]}")"
	fi
	for r in $TXN_RATES; do
		us=$(mean "${X_US[stateless-$r]}") ut=$(mean "${X_US[txn-$r]}")
		[ -n "$BASELINE" ] && row "CPU per call at $r calls/s, baseline binary (ok/failed:${X_OK[main-$r]})" "$(mean "${X_US[main-$r]}") us" "-" "info"
		row "CPU per call at $r calls/s, transactions = no (ok/failed:${X_OK[stateless-$r]})" "$us us" "-" "info"
		row "CPU per call at $r calls/s, transactions = yes (ok/failed:${X_OK[txn-$r]})" "$ut us" "-" "info"
		if [ "$us" != - ] && [ "$ut" != - ]; then
			row "  transactions cost, at $r calls/s" "$(fcalc %+.0f "($ut - $us) * 100 / $us") %" "<= +20 %" "$(pm "$ut <= 1.2 * $us")"
		fi
		[ -n "$BASELINE" ] && [ "$ut" != - ] && [ "$(mean "${X_US[main-$r]}")" != - ] &&
			row "  transactions = yes vs the baseline binary, at $r calls/s" "$(fcalc %+.0f "($ut - $(mean "${X_US[main-$r]}")) * 100 / $(mean "${X_US[main-$r]}")") %" "<= +20 %" "$(pm "$ut <= 1.2 * $(mean "${X_US[main-$r]}")")"
		row "  VmRSS gwa + gwb after a step: no / yes" "$(mean "${X_RSS[stateless-$r]}") / $(mean "${X_RSS[txn-$r]}") KiB" "-" "info"
	done
fi
if [ "$TXN" != only ]; then
for v in $CALL_VARIANTS; do
	b=${C_BEST[$v]:-0} u=${C_US[$v]:--}
	row "calls/s through the pair, 0 failed, rate held ($(vname $v))" "$b" ">= $T_CPS" \
		"$(pm "$b >= $T_CPS")$([ -n "${C_CRASH[$v]:-}" ] && echo ": gateway crashed at ${C_FAIL[$v]}/s")"
	row "  CPU per call, gwa + gwb together, at $b calls/s" "$u us" "<= $T_US_CALL us" \
		"$([ "$u" = - ] && echo MISS || pm "$u <= $T_US_CALL")"
	if [ -n "${C_US4000[$v]:-}" ] && [ "$b" != 4000 ] && [ "${C_US4000[$v]}" != - ]; then
		row "  CPU per call at 4000 calls/s (the target rate)" "${C_US4000[$v]} us" "<= $T_US_CALL us" "$(pm "${C_US4000[$v]} <= $T_US_CALL")"
	fi
done
for m in $PROBE_KINDS; do
	row "added latency per gateway, $m -> 200, median" "${LAT[hop-$m]} us" "-" "info"
done
row "gwa resident memory per registered phone ($REG_OK phones)" "$KIB_PHONE KiB" "<= $T_KIB_PHONE KiB" \
	"$([ "$REG_OK" = "$PHONES" ] && pm "$KIB_PHONE <= $T_KIB_PHONE" || echo "MISS ${KIB_PHONE_NOTE:-}")"
row "full TLS handshakes/s, sipsgate, 1 core (per CPU-second)" "$sgf ($sgfc)" ">= $T_HS_FULL" "$(pm "$sgfc >= $T_HS_FULL") (per CPU-s)"
row "full TLS handshakes/s, stunnel4, 1 core (per CPU-second)" "$stf ($stfc)" "-" "anchor"
row "  ratio sipsgate / stunnel4, full" "${RATIO_F}x" "-" "info"
row "resumed TLS handshakes/s, sipsgate, 1 core (per CPU-second)" "$sgr ($sgrc)" "-" "$(fcalc %.0f "$sgrf * 100")% resumed"
row "resumed TLS handshakes/s, stunnel4, 1 core (per CPU-second)" "$str ($strc)" "-" "$(fcalc %.0f "$strf * 100")% resumed"
row "  ratio sipsgate / stunnel4, resumed" "${RATIO_R}x" "-" "info"
row "sipsgate alive + status after $TLS_BURST concurrent handshakes" "$SG_ALIVE" "yes" "$([ $SG_ALIVE = yes ] && echo pass || echo MISS)"
row "  hs_fail_server / tls_accepted" "$(sg_ctr hs_fail_server) / $(sg_ctr tls_accepted)" "-" "info"
fi	# [ "$TXN" != only ]
say
say "notes:"
[ "$TXN" = only ] && CALL_VARIANTS=
for v in $CALL_VARIANTS; do
	say "- calls $(vname $v): at ${C_BEST[$v]:-0} calls/s sipp UAC + UAS spent ${C_SIPP[$v]:--} us of CPU per call"
	say "  (${C_LOAD[$v]:-?}); first failing step: ${C_FAIL[$v]:-none}$([ -n "${C_CRASH[$v]:-}" ] && echo " (gateway crash)")$([ -n "${C_DIRECT[$v]:-}" ] && echo "; sipp alone (kernel forwarding) at that rate: ${C_DIRECT[$v]}")."
done
say "- $NCPU CPUs for everything in the call test: the load generator competes with the gateways, so calls/s is a"
say "  floor for the gateways. CPU per call includes the kernel: UDP/TCP over veth runs the receiver's softirq in the"
say "  sender's context, so part of sipp's receive work is charged to the gateways and the other way round."
say "- TLS: 'per CPU-second' = handshakes / CPU time of the server process (all threads): the figure per core"
say "  even when the server did not have its core to itself (the target is judged on it)."
say "- 'other' = CPU used during a step or run by processes this script did not start (another job on the machine"
say "  skews every figure; whole run: $(fcalc %.0f "($LOAD1 - $LOAD0) * 100 / $CLK_TCK / ($T_END - $T_START)")% of one CPU busy on average, ours included)."
# LAB_RESULT: read by lab_cleanup (tests/lab/lib.sh), which keeps $LAB_DIR unless 0
[ -n "${CRASH:-}" ] && { say "A GATEWAY CRASHED OR STOPPED ANSWERING: files kept in $LAB_DIR"; exit 1; }
# shellcheck disable=SC2034
LAB_RESULT=0
exit 0
