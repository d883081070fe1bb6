#!/usr/bin/env bash
# Slowloris against the server gateway's TLS listener (issue 7, seen item 3):
#   phones (sipp) -> gwa (client) ==TLS==> gwb (server) -> Kamailio (UDP)
#   atk (198.18.5.10-53, its own link to gwb) ---> gwb 198.18.2.2:5061
#
# gwb runs under `ulimit -n 1024`: it keeps the top quarter of its file
# descriptors (from 768 up) out of reach of TLS accepts. Its handshake
# deadline is 6 s (test-short), tls-max-handshakes is set above the
# descriptor budget (so the reserve is what bites), per-source is the
# default 32. The attacker opens 2,000 TCP connections that send nothing
# and 200 that send half a ClientHello, from 44 addresses, once, and waits
# until gwb has closed each; a tenth come from one address (tests/lab/tls_flood.py: bounded to 2,200
# connections, 4,000 a second, and 21 s).
#
# Shows, during the attack: a call through the pair completes (register,
# INVITE, re-INVITEs, BYE: inside SIP, media relays and the established
# link all still get what they need); `sipsgate status` answers; gwb never
# holds more than 1024 descriptors, and accept() never fails. Then: every
# attacking connection was closed, at once (refused, counted by reason) or
# at the deadline (not before, not more than 2.5 s after); the counters
# match what the attacker saw; the log lines about it are rate-limited; the
# gateway link (which pings) was never touched; a second call works.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/gw.sh"

DEADLINE=6
lab_init tlsflood
lab_topology
lab_certs
lab_gw_pair_conf
cat >>"$LAB_DIR/gwb.conf" <<EOF
tls-handshake-timeout = $DEADLINE
tls-max-handshakes = 2000
EOF

lab_ns_add atk
lab_link atk wan 198.18.5.10/24 gwb atk 198.18.5.1/24
# One heavy source (a tenth of the connections come from 198.18.5.10: the
# per-source cap bites there) and 43 light ones (the reserve bites).
srcs=198.18.5.10
for i in $(seq 1 4); do srcs="$srcs,198.18.5.10"; done
for i in $(seq 11 53); do
	lab_addr atk wan "198.18.5.$i/24"
	srcs="$srcs,198.18.5.$i"
done
lab_route atk 198.18.5.1

lab_kamailio pbx pbx-udp
"$SIPSGATE" -t -c "$LAB_DIR/gwb.conf" >"$LAB_DIR/gwb-check.log" 2>&1 ||
	lab_fail "sipsgate -t rejects gwb.conf: $(cat "$LAB_DIR/gwb-check.log")"
lab_start gwb gwb bash -c "ulimit -n 1024 && exec '$SIPSGATE' -c '$LAB_DIR/gwb.conf'"
GWB=${LAB_PID_OF[gwb]}
for i in $(seq 1 50); do
	grep -q 'ready:' "$LAB_DIR/gwb.log" && break
	kill -0 "$GWB" 2>/dev/null || lab_fail "gwb died at start"
	sleep 0.1
done
grep -q 'use only those below 768' "$LAB_DIR/gwb.log" ||
	lab_fail "gwb does not keep descriptors 768..1023 from TLS: $(grep 'file descriptors' "$LAB_DIR/gwb.log")"
lab_gw_start gwa gwa "$LAB_DIR/gwa.conf"
lab_gw_wait_link gwa

# The attack.
lab_start atk flood python3 "$LAB_LIB_DIR/tls_flood.py" $LAB_GWB_WAN 5061 \
	--idle 2000 --half 200 --sources "$srcs" --deadline $DEADLINE --rate 4000 \
	--ready "$LAB_DIR/flood.ready" --out "$LAB_DIR/flood.json"
for i in $(seq 1 100); do
	[ -s "$LAB_DIR/flood.ready" ] && break
	sleep 0.1
done
[ -s "$LAB_DIR/flood.ready" ] || lab_fail "the attacker did not open its connections in 10 s"
t_open=$(date +%s.%N)
lab_log "attacker: $(cat "$LAB_DIR/flood.ready")"
sleep 0.5

# During it: status answers, and a call goes through.
lab_gw_status gwb >"$LAB_DIR/gwb.during1" 2>"$LAB_DIR/gwb.during1.err" ||
	lab_fail "status did not answer during the attack: $(cat "$LAB_DIR/gwb.during1.err")"
hs=$(awk '$1 == "tls_handshaking" { print $2 }' "$LAB_DIR/gwb.during1")
nfd=$(ls "/proc/$GWB/fd" | wc -l)	# lab_start execs: $GWB is sipsgate
lab_log "during the attack: $hs connections in handshake, gwb holds $nfd descriptors"
[ "${hs:-0}" -gt 500 ] || lab_fail "only ${hs:-0} attacking connections held: the attack does not fill the budget"
[ "$nfd" -le 1024 ] || lab_fail "gwb holds $nfd descriptors"
lab_call phones $LAB_GWA_IN:5060 alice $LAB_PHONE_A bob $LAB_PHONE_B caller ||
	lab_fail "a call during the attack failed"
t_call=$(date +%s.%N)
lab_gw_status gwb >"$LAB_DIR/gwb.during2" 2>"$LAB_DIR/gwb.during2.err" ||
	lab_fail "status did not answer after the call: $(cat "$LAB_DIR/gwb.during2.err")"
hs2=$(awk '$1 == "tls_handshaking" { print $2 }' "$LAB_DIR/gwb.during2")
[ "${hs2:-0}" -gt 0 ] || lab_fail "the attack was over before the call ended: the call proves nothing"
lab_log "call done $(awk -v a="$t_open" -v b="$t_call" 'BEGIN { printf "%.1f", b - a }') s after the attack opened; still $hs2 in handshake"

lab_wait flood 40 || lab_fail "the attacker failed or hung"
cat "$LAB_DIR/flood.json"; echo
# A connection the kernel's full accept queue dropped is retried by its
# sender seconds later: its life as the attacker sees it would not be the
# deadline's doing. There must be none.
ovf=$(lab_exec gwb nstat -az TcpExtListenOverflows | awk '$1 == "TcpExtListenOverflows" { print $2 }')
[ "${ovf:-0}" = 0 ] || lab_fail "gwb's accept queue overflowed $ovf times"
lab_gw_status gwb >"$LAB_DIR/gwb.after"
ctr() { awk -v k="$1" '$1 == k { print $2; exit }' "$LAB_DIR/gwb.after"; }
read -r opened connected refused late still longest shortest < <(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
print(r["opened"], r["connected"], r["refused_fast"], r["closed_late"],
      r["still_open"], r["longest_life"], r["shortest_late"])' "$LAB_DIR/flood.json")
[ "$opened" = 2200 ] && [ "$connected" = 2200 ] ||
	lab_fail "attacker opened $opened, connected $connected of 2200"
[ "$still" = 0 ] || lab_fail "$still attacking connections were still open after 21 s"
python3 -c "import sys; sys.exit(not ($longest <= $DEADLINE + 2.5))" ||
	lab_fail "a connection lived $longest s, deadline $DEADLINE s"
python3 -c "import sys; sys.exit(not ($shortest >= $DEADLINE - 1))" ||
	lab_fail "a held connection was closed after $shortest s, before the deadline"
[ "$refused" -gt 0 ] && [ "$late" -gt 0 ] ||
	lab_fail "want both refusals and deadline closes: $refused refused, $late at the deadline"

acc=$(ctr tls_accepted) to=$(ctr tls_hs_timeout) rfd=$(ctr tls_refused_fd)
rsrc=$(ctr tls_refused_source) rtot=$(ctr tls_refused_total) af=$(ctr accept_fail)
lab_log "gwb: tls_accepted=$acc tls_hs_timeout=$to tls_refused_fd=$rfd tls_refused_source=$rsrc tls_refused_total=$rtot accept_fail=$af hs_fail_server=$(ctr hs_fail_server) tls_handshaking=$(ctr tls_handshaking)"
[ "$acc" -ge 2200 ] || lab_fail "tls_accepted = $acc, want >= 2200"
[ "$to" = "$late" ] || lab_fail "tls_hs_timeout = $to, the attacker saw $late closed at the deadline"
[ "$((rfd + rsrc + rtot))" = "$refused" ] ||
	lab_fail "refusals counted $rfd + $rsrc + $rtot, the attacker saw $refused"
[ "$rfd" -gt 0 ] || lab_fail "the descriptor reserve never bit (tls_refused_fd = 0)"
[ "$rsrc" -gt 0 ] || lab_fail "the per-source cap never bit (tls_refused_source = 0)"
[ "$af" = 0 ] || lab_fail "accept() failed $af times: descriptors ran out"
[ "$(ctr tls_handshaking)" = 0 ] || lab_fail "tls_handshaking = $(ctr tls_handshaking) after the attack"
n=$(grep -c 'refused tls connection' "$LAB_DIR/gwb.log")
lab_log "log: $n 'refused tls connection' lines for $refused refusals; $(grep -c 'similar messages suppressed' "$LAB_DIR/gwb.log") 'suppressed' lines"
[ "$n" -lt 200 ] || lab_fail "$n log lines for refusals: not rate-limited"
# Rate-limited too: the first few of a burst, then how many were not
# logged (test_tls_limits.py checks both kinds of timeout line).
grep -qE 'timed out after 6 s \((nothing received|handshake incomplete)\)' \
	"$LAB_DIR/gwb.log" || lab_fail "no log line for a handshake timeout"
n=$(grep -c 'timed out after 6 s' "$LAB_DIR/gwb.log")
[ "$n" -lt 100 ] || lab_fail "$n log lines for $late timeouts: not rate-limited"

# The link between the gateways was never touched, and still serves.
[ "$(lab_gw_counter gwa tls_connected)" = 1 ] ||
	lab_fail "gwa opened $(lab_gw_counter gwa tls_connected) TLS connections: the link dropped"
lab_call phones $LAB_GWA_IN:5060 bob $LAB_PHONE_B alice $LAB_PHONE_A callee ||
	lab_fail "a call after the attack failed"
lab_pass
