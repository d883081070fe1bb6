#!/usr/bin/env bash
# RFC 3263 in the daemon: `connect = tls:pbx.lab.test` (no port) is
# resolved with c-ares against dnsmasq (NAPTR -> SRV -> A): two targets,
# p1 (priority 10) and p2 (priority 20). Nothing listens on p1, so the
# link fails over to p2. Then p2 goes away and a peer appears on p1: the
# link comes back on p1 (the list is walked, then looked up again).
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/gw.sh"
command -v dnsmasq >/dev/null || { echo "lab: dnsmasq missing" >&2; exit 77; }

lab_init dns_failover
lab_ns_add dns
ns=$(lab_nsname dns)
ip -n "$ns" addr add 198.18.9.1/32 dev lo
ip -n "$ns" addr add 198.18.9.2/32 dev lo
lab_certs
lab_start dns dnsmasq dnsmasq --no-daemon --no-resolv --no-hosts \
	--conf-file=/dev/null --user=root --group=root --pid-file= \
	--listen-address=127.0.0.1 --bind-interfaces --port=53 --local-ttl=5 \
	--log-queries --log-facility=- --local=/lab.test/ \
	--naptr-record=pbx.lab.test,10,50,s,SIPS+D2T,,_sips._tcp.pbx.lab.test \
	--srv-host=_sips._tcp.pbx.lab.test,p1.lab.test,5061,10,0 \
	--srv-host=_sips._tcp.pbx.lab.test,p2.lab.test,5061,20,0 \
	--host-record=p1.lab.test,198.18.9.1 \
	--host-record=p2.lab.test,198.18.9.2
lab_wait_port dns udp 53 127.0.0.1

c=$LAB_CERTS
peer_conf() {	# peer_conf ADDR: a server-role gateway as the TLS peer
	cat >"$LAB_DIR/peer-$1.conf" <<EOC
control = $LAB_DIR/peer-$1.sock
[pbx]
accept = tls:$1:5061
accept = udp:127.0.0.$2:5060
connect = udp:127.0.0.9:5060
cert = $c/pbx.crt
key = $c/pbx.key
ca = $c/ca.crt
EOC
}
peer_conf 198.18.9.2 2
peer_conf 198.18.9.1 3
cat >"$LAB_DIR/gw.conf" <<EOC
control = $LAB_DIR/gw.sock
[phones]
accept = udp:127.0.0.1:5060
connect = tls:pbx.lab.test
cert = $c/gw-a.crt
key = $c/gw-a.key
ca = $c/ca.crt
keepalive = 1
EOC
lab_gw_start dns peer2 "$LAB_DIR/peer-198.18.9.2.conf"
lab_gw_start dns gw "$LAB_DIR/gw.conf"

link_to() {	# link_to ADDR: wait until gw's link is up to ADDR:5061
	local i
	for i in $(seq 1 100); do
		lab_gw_status gw 2>/dev/null | grep -q "tls to $1:5061 up .*(connect target)" &&
			return 0
		sleep 0.1
	done
	return 1
}
link_to 198.18.9.2 || lab_fail "the link did not fail over to p2 (198.18.9.2)"
grep -q "target 1 of 2: 198.18.9.1:5061 (p1.lab.test)" "$LAB_DIR/gw.log" &&
	grep -q "target 2 of 2: 198.18.9.2:5061 (p2.lab.test)" "$LAB_DIR/gw.log" ||
	lab_fail "the SRV order is not in the log"
grep -q "query\[NAPTR\] pbx.lab.test" "$LAB_DIR/dnsmasq.log" ||
	lab_fail "no NAPTR query reached dnsmasq"
n=$(lab_gw_counter gw conn_fail)
[ "${n:-0}" -ge 1 ] || lab_fail "conn_fail $n: p1 was not tried first"
echo "failover to p2 after $n failed connect(s) to p1"
lab_gw_status gw | grep connection

# p2 goes away, p1 comes up: the list is walked again, then re-resolved.
lab_stop peer2
lab_gw_start dns peer1 "$LAB_DIR/peer-198.18.9.1.conf"
link_to 198.18.9.1 || lab_fail "the link did not come back on p1 (198.18.9.1)"
echo "back on p1 after p2 went away"
lab_gw_status gw | grep connection
lab_pass
