#!/usr/bin/env bash
# test_lab_dns.sh — RFC 3263 server location (gateway/resolve.c) against a
# real DNS server: dnsmasq in namespace "dns" on 127.0.0.1:53 (that
# namespace's resolv.conf points there), and tests/tools/resolve_probe
# calling sg_resolve() on a libuv loop.  Checks: NAPTR -> SRV -> A with
# priorities and NAPTR order, a NAPTR of another transport ignored, SRV
# weights 90/10 over 200 resolutions, SRV without NAPTR, A-only fallback
# (5061 for tls, 5060 for udp), explicit port (no NAPTR/SRV), AAAA, IP
# literals, NXDOMAIN -> ENOENT, a name only in the hosts file, a server that
# never answers -> ETIMEDOUT within 500 ms x 2 tries (namespace "dead"), and
# cancellation.  ~5 s.
. "$(dirname "$0")/lib.sh"

PROBE=${SG_BUILD_DIR:+$SG_BUILD_DIR/tests/resolve_probe}
[ -x "${PROBE:-}" ] || PROBE=$(ls -t "$LAB_SRC_DIR"/build*/tests/resolve_probe 2>/dev/null | head -1)
[ -x "${PROBE:-}" ] || { echo "lab: resolve_probe not built" >&2; exit 77; }
command -v dnsmasq >/dev/null || { echo "lab: dnsmasq missing (apt-get install dnsmasq-base)" >&2; exit 77; }

lab_init dns
lab_ns_add dns
lab_ns_add dead
# lone_veth NS IF ADDR/LEN — a veth pair inside NS, IF addressed, its peer
# (IF-x) up with no address: a route that leads nowhere (no dummy module
# needed).
lone_veth() {
	local n=$LAB_PFX-$1
	ip -n "$n" link add "$2" type veth peer name "$2-x" &&
		ip -n "$n" addr add "$3" dev "$2" &&
		ip -n "$n" link set "$2" up && ip -n "$n" link set "$2-x" up ||
		lab_fail "cannot make veth $2 in $1"
}
# A black hole for "dead": its name server's address has a permanent
# neighbour entry to a MAC nobody has, so queries leave and vanish (no ARP
# failure, no ICMP).
lone_veth dead hole 198.18.77.1/24
ip -n "$(lab_nsname dead)" neigh add 198.18.77.53 lladdr 02:00:00:00:00:53 \
	dev hole nud permanent || lab_fail "neigh add"
echo "nameserver 198.18.77.53" >"/etc/netns/$(lab_nsname dead)/resolv.conf"
lab_hosts dns "198.18.9.60 hostsonly.lab.test"
# A route to the lab's IPv4 addresses in "dns" (IPv6 is off there), so
# c-ares' RFC 6724 sort of A + AAAA answers puts IPv4 first.
lone_veth dns lan 198.18.9.254/24

# Zone lab.test (all local: --local makes unknown names NXDOMAIN).
#  naptr  NAPTR order 5 SIP+D2U -> _sip._udp.naptr (UDP only)
#         NAPTR order 10 SIPS+D2T -> _sips._tcp.prim (a 5071 prio 10,
#               b 5072 prio 20), order 20 SIPS+D2T -> _sips._tcp.alt (c 5073)
#         _sips._tcp.naptr (direct SRV) -> wrong 5099: must not be used
#         A 198.18.9.30 (explicit port)
#  w      _sips._tcp.w: h90 prio 10 weight 90, h10 prio 10 weight 10
#  srv    _sips._tcp.srv: s1 5081 (no NAPTR); s1 has A and AAAA
#  plain  A only; v6 AAAA only; dual A + AAAA
#  gone   _sips._tcp.gone: "." (service decidedly not available)
#  viahosts _sips._tcp.viahosts: missing 5091 prio 5 (NXDOMAIN: skipped),
#         hostsonly 5090 prio 10 (only in the probe's hosts file)
# dnsmasq puts the targets' A/AAAA it knows into the additional section
# (then the probe asks nothing more); hostsonly and missing are looked up.
lab_start dns dnsmasq dnsmasq --no-daemon --no-resolv --no-hosts \
	--conf-file=/dev/null --user=root --group=root --pid-file= \
	--listen-address=127.0.0.1 --bind-interfaces --port=53 --local-ttl=60 \
	--log-queries --log-facility=- --local=/lab.test/ \
	--naptr-record=naptr.lab.test,5,10,s,SIP+D2U,,_sip._udp.naptr.lab.test \
	--naptr-record=naptr.lab.test,10,50,s,SIPS+D2T,,_sips._tcp.prim.lab.test \
	--naptr-record=naptr.lab.test,20,50,s,SIPS+D2T,,_sips._tcp.alt.lab.test \
	--srv-host=_sip._udp.naptr.lab.test,u.lab.test,5070,10,0 \
	--srv-host=_sips._tcp.prim.lab.test,b.lab.test,5072,20,0 \
	--srv-host=_sips._tcp.prim.lab.test,a.lab.test,5071,10,0 \
	--srv-host=_sips._tcp.alt.lab.test,c.lab.test,5073,10,0 \
	--srv-host=_sips._tcp.naptr.lab.test,wrong.lab.test,5099,10,0 \
	--srv-host=_sips._tcp.w.lab.test,h90.lab.test,5061,10,90 \
	--srv-host=_sips._tcp.w.lab.test,h10.lab.test,5062,10,10 \
	--srv-host=_sips._tcp.srv.lab.test,s1.lab.test,5081,0,0 \
	--srv-host=_sips._tcp.gone.lab.test \
	--srv-host=_sips._tcp.viahosts.lab.test,missing.lab.test,5091,5,0 \
	--srv-host=_sips._tcp.viahosts.lab.test,hostsonly.lab.test,5090,10,0 \
	--host-record=naptr.lab.test,198.18.9.30 \
	--host-record=a.lab.test,198.18.9.1 \
	--host-record=b.lab.test,198.18.9.2 \
	--host-record=c.lab.test,198.18.9.3 \
	--host-record=u.lab.test,198.18.9.4 \
	--host-record=wrong.lab.test,198.18.9.99 \
	--host-record=h90.lab.test,198.18.9.90 \
	--host-record=h10.lab.test,198.18.9.10 \
	--host-record=s1.lab.test,198.18.9.81,2001:db8::81 \
	--host-record=plain.lab.test,198.18.9.20 \
	--host-record=v6.lab.test,2001:db8::6 \
	--host-record=dual.lab.test,198.18.9.40,2001:db8::40
lab_wait_port dns udp 53 127.0.0.1

OUT=$LAB_DIR/probe.out
# probe NS ARGS... — run resolve_probe in NS; output in $OUT (and the log).
probe() {
	local ns=$1; shift
	lab_exec "$ns" "$PROBE" "$@" >"$OUT" 2>&1
	local rc=$?
	{ echo "## [$ns] resolve_probe $* (exit $rc)"; cat "$OUT"; } >>"$LAB_DIR/probe.log"
	[ $rc = 0 ] || lab_fail "resolve_probe $* exited $rc: $(cat "$OUT")"
}
# expect NAME EXPECTED — the target lines ("ADDR PORT TARGET" each, joined
# by "; ") must equal EXPECTED.
expect() {
	local got
	grep -q '^status ok' "$OUT" || lab_fail "$1: $(head -1 "$OUT")"
	got=$(awk '$1 == "target" { printf "%s%s %s %s", sep, $4, $5, $7; sep = "; " }' "$OUT")
	[ "$got" = "$2" ] || lab_fail "$1: got '$got', want '$2'"
	lab_log "$1: $got"
}
expect_status() {
	grep -q "^status $2 " "$OUT" || lab_fail "$1: $(head -1 "$OUT"), want $2"
	lab_log "$1: $(head -1 "$OUT")"
}

probe dns tls naptr.lab.test
expect "NAPTR -> SRV -> A, priorities, NAPTR order" \
	"198.18.9.1 5071 a.lab.test; 198.18.9.2 5072 b.lab.test; 198.18.9.3 5073 c.lab.test"
awk '$1 == "target" && $6 != "naptr.lab.test" { exit 1 }' "$OUT" ||
	lab_fail "host (the name to verify) is not the SIP domain"
probe dns udp naptr.lab.test
expect "NAPTR SIP+D2U for udp" "198.18.9.4 5070 u.lab.test"
probe dns tls srv.lab.test
expect "SRV without NAPTR" \
	"198.18.9.81 5081 s1.lab.test; 2001:db8::81 5081 s1.lab.test"
probe dns tls plain.lab.test
expect "A only: 5061 for tls" "198.18.9.20 5061 plain.lab.test"
probe dns udp plain.lab.test
expect "A only: 5060 for udp" "198.18.9.20 5060 plain.lab.test"
probe dns tls -p 5099 naptr.lab.test
expect "explicit port: A only, no NAPTR/SRV" "198.18.9.30 5099 naptr.lab.test"
probe dns tls v6.lab.test
expect "AAAA" "2001:db8::6 5061 v6.lab.test"
probe dns tcp dual.lab.test
expect "A + AAAA" "198.18.9.40 5060 dual.lab.test; 2001:db8::40 5060 dual.lab.test"
probe dns tls hostsonly.lab.test
expect "hosts file" "198.18.9.60 5061 hostsonly.lab.test"
probe dns tls viahosts.lab.test
expect "SRV target looked up, one without address skipped" \
	"198.18.9.60 5090 hostsonly.lab.test"
grep -q 'query\[A\] missing.lab.test' "$LAB_DIR/dnsmasq.log" ||
	lab_fail "SRV target missing.lab.test was not looked up"
! grep -q 'query\[A\] [abc].lab.test' "$LAB_DIR/dnsmasq.log" ||
	lab_fail "SRV targets were looked up despite the additional section"
probe dns tls 198.18.9.7
expect "IPv4 literal" "198.18.9.7 5061 198.18.9.7"
probe dns udp -p 5080 "[2001:db8::7]"
expect "IPv6 literal, port" "2001:db8::7 5080 2001:db8::7"
probe dns tls nope.lab.test
expect_status "NXDOMAIN" ENOENT
probe dns tls gone.lab.test
expect_status "SRV \".\"" ENOENT

probe dns -n 200 tls w.lab.test
grep -q '^runs 200 ok 200 n=2..2$' "$OUT" || lab_fail "weights: $(tail -1 "$OUT")"
n90=$(awk '$1 == "first" && $2 == "198.18.9.90" { print $4 }' "$OUT")
n10=$(awk '$1 == "first" && $2 == "198.18.9.10" { print $4 }' "$OUT")
# Binomial(200, 0.9): mean 180, sd 4.2; 160..198 is > 4 sd either side.
[ "${n90:-0}" -ge 160 ] && [ "${n90:-0}" -le 198 ] && [ $((n90 + ${n10:-0})) = 200 ] ||
	lab_fail "weights 90/10: heavier first $n90/200, lighter $n10/200"
lab_log "weights 90/10: heavier first $n90/200, lighter first $n10/200"

probe dead -t 500 -r 2 tls pbx.example.test
expect_status "silent server" ETIMEDOUT
ms=$(sed -n 's/^status .* ms=\([0-9]*\)$/\1/p' "$OUT")
# c-ares doubles the time-out per try: 500 + 1000 ms.
[ "$ms" -ge 1000 ] && [ "$ms" -le 2500 ] || lab_fail "ETIMEDOUT after $ms ms, want 1500"

probe dns -C tls naptr.lab.test
grep -q '^free: ECANCELED$' "$OUT" || lab_fail "sg_resolver_free: $(cat "$OUT")"
grep -q '^cancel: 1$' "$OUT" || lab_fail "sg_resolve_cancel: $(cat "$OUT")"
lab_log "cancellation: $(tr '\n' ' ' <"$OUT")"
# The same while the queries hang on the silent server (time-outs to come).
probe dead -C -t 300 -r 1 tls pbx.example.test
grep -q '^free: ECANCELED$' "$OUT" && grep -q '^cancel: 1$' "$OUT" ||
	lab_fail "cancellation, silent server: $(cat "$OUT")"

lab_pass
