#!/bin/bash
# Lab self-check: lab_topology as the gateway tests get it, without gateways.
# Every link works, nothing is routed around the (absent) gateways, the
# per-namespace sysctls and hosts files are in place, and lab_capture_*
# records traffic on the WAN.
set -u
. "$(dirname "$0")/lib.sh"
lab_init topo
lab_topology

# reach NS ADDR: a TCP connect to the discard port, where nothing
# listens: "Connection refused" (a RST came back) proves the path; a timeout or
# "No route" means unreachable.  (No ping needed: iputils may be absent.)
reach() {
	local out
	out=$(lab_exec "$1" timeout 2 bash -c "exec 3<>/dev/tcp/$2/9" 2>&1)
	[[ $out == *"Connection refused"* ]]
}

# links
reach phones $LAB_GWA_IN || lab_fail "phones -> gwa lan"
reach gwa $LAB_PHONE_B || lab_fail "gwa -> phone B"
reach gwa $LAB_PHONE_A || lab_fail "gwa -> phone A"
reach gwa $LAB_GWB_WAN || lab_fail "gwa -> gwb wan"
reach gwb $LAB_PBX || lab_fail "gwb -> pbx"
# isolation: the gateways forward nothing
reach phones $LAB_GWB_WAN && lab_fail "phones reach the WAN"
reach pbx $LAB_GWA_WAN && lab_fail "pbx reaches the far side of the WAN (forwarding in gwb?)"
# (an address of the gateway itself answers from any side: Linux weak host model)
reach gwa $LAB_PBX && lab_fail "gwa reaches the PBX LAN"
# sysctls
for ns in phones gwa gwb pbx; do
	[ "$(lab_exec $ns sysctl -n net.ipv4.ip_forward)" = 0 ] || lab_fail "$ns: ip_forward on"
	[ "$(lab_exec $ns sysctl -n net.ipv4.ip_local_port_range | tr -s '\t ' ' ')" = "40000 60999" ] ||
		lab_fail "$ns: ip_local_port_range"
	[ "$(lab_exec $ns sysctl -n net.ipv4.tcp_tw_reuse)" = 1 ] || lab_fail "$ns: tcp_tw_reuse"
done
# names, as seen from each namespace
want() { local got; got=$(lab_exec "$1" getent hosts "$2" | awk '{print $1}')
	[ "$got" = "$3" ] || lab_fail "$1: $2 is '$got', want $3"; }
want phones gw-a.lab.test $LAB_GWA_IN
want phones pbx.lab.test $LAB_GWA_IN
want gwa gw-b.lab.test $LAB_GWB_WAN
want gwb gw-a.lab.test $LAB_GWA_WAN
want gwb pbx.lab.test $LAB_PBX
want pbx gw-b.lab.test $LAB_GWB_IN
# capture
lab_capture_start gwa wan "$LAB_DIR/wan.pcapng"
for i in 1 2 3; do lab_exec gwa bash -c "echo probe$i >/dev/udp/$LAB_GWB_WAN/9"; done
lab_capture_stop "$LAB_DIR/wan.pcapng"
n=$(tshark -r "$LAB_DIR/wan.pcapng" -Y "udp.dstport == 9 && !icmp" 2>/dev/null | wc -l)
[ "$n" -ge 3 ] || lab_fail "capture on gwa:wan holds $n probe datagrams, want 3"
lab_log "capture ok: $n probe datagrams on gwa:wan"
lab_pass
