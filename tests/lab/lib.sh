# shellcheck shell=bash
# tests/lab/lib.sh — helpers for sipsgate's lab tests (network namespaces,
# background peers, captures).  Source it from a bash test script:
#
#   . "$(dirname "$0")/lib.sh"
#   lab_init mytest            # LAB_DIR, unique prefix, cleanup trap on EXIT
#   lab_topology               # phones | gwa | gwb | pbx  (see below)
#   lab_certs                  # lab certificates into $LAB_DIR/certs
#   lab_kamailio pbx pbx-udp   # Kamailio registrar on 198.18.3.10:5060
#   lab_start phones alice sipp ...
#   lab_wait NAME              # wait for a background job, return its status
#   lab_pass
#
# Namespaces are named "$LAB_PFX-<short name>"; every function that takes NS
# takes the short name (phones, gwa, gwb, pbx, pbx2, or one made with
# lab_ns_add).  Interface names inside the namespaces are fixed and short:
#   lab_topology:         phones:lan  gwa:lan,wan  gwb:wan,lan  pbx:lan
#   lab_topology_direct:  phones:lan  gwa:lan,wan  pbx2:wan
#   + lab_pbx2_lan:       pbx2:lan  phonec:lan
#   + lab_wan_host NS:    pbx2:wan (a bridge),wan0,NS  NS:wan
#   + lab_lan_host NS:    phones:lan (a bridge),lan0,NS  NS:lan
# Addresses (198.18.0.0/15 only, RFC 2544):
#   phones  lan 198.18.1.10 (phone A) + 198.18.1.11 (phone B), default via .1.1
#   gwa     lan 198.18.1.1/24, wan 198.18.2.1/24      (no forwarding)
#   gwb     wan 198.18.2.2/24, lan 198.18.3.1/24      (no forwarding)
#   pbx     lan 198.18.3.10/24, default via 198.18.3.1
#   pbx2    wan 198.18.2.10/24, default via 198.18.2.1 (direct/interop case)
#           lan 198.18.4.1/24 (lab_pbx2_lan: a plain LAN behind the PBX)
#   phonec  lan 198.18.4.10 (phone C, straight to pbx2), default via .4.1
# Every namespace has lo up, ip_forward=0, IPv6 off (keeps captures clean),
# ip_local_port_range 40000-60999, tcp_tw_reuse=1, and its own
# /etc/netns/<ns>/hosts (pbx.lab.test, gw-a.lab.test, gw-b.lab.test resolved
# to the address that is reachable from that namespace) and resolv.conf
# (nameserver 127.0.0.1: no lookup leaves the lab).
#
# Environment a test may set before lab_init:
#   LAB_KEEP=1      keep $LAB_DIR even when the test passes
#   LAB_VERBOSE=1   echo every lab_exec / lab_start command line

LAB_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LAB_SRC_DIR=${SG_SOURCE_DIR:-$(cd "$LAB_LIB_DIR/../.." && pwd)}

# Well-known lab addresses.
LAB_PHONE_A=198.18.1.10
LAB_PHONE_B=198.18.1.11
LAB_GWA_IN=198.18.1.1
LAB_GWA_WAN=198.18.2.1
LAB_GWB_WAN=198.18.2.2
LAB_GWB_IN=198.18.3.1
LAB_PBX=198.18.3.10
LAB_PBX2=198.18.2.10
LAB_PBX2_LAN=198.18.4.1
LAB_PHONE_C=198.18.4.10

LAB_NAME=
LAB_PFX=
LAB_DIR=
LAB_NSS=()          # short names of namespaces made by this lab
LAB_PIDS=()         # PIDs started by lab_start
declare -A LAB_PID_OF=()   # NAME -> PID
LAB_CAPS=()         # "PID FILE" of running captures
declare -A LAB_CAP_ROLE=()   # FILE -> lan | wan | none (lab_capture_verdict)
LAB_KEYLOGS=()      # TLS key logs the lab gateways write (gw.sh)
LAB_GW_SRTP_ADDRS=()   # WAN addresses of lab gateways with media = srtp
LAB_GW_IN_ADDRS=()  # LAN addresses of the lab gateways (their inside)
LAB_CAP_PENDING=()  # captures stopped, verdict not run yet
LAB_RESULT=1        # set to 0 by lab_pass

lab_log() { echo "[lab ${LAB_NAME:-?} $(date +%T.%3N)] $*" >&2; }

# lab_init NAME — make $LAB_DIR (mktemp -d), a unique short prefix $LAB_PFX
# (e.g. "sg4f1c": namespaces "sg4f1c-gwa"; short so interface names fit in
# 15 characters), and a trap on EXIT that stops everything and removes the
# namespaces and /etc/netns dirs.  Must run as root.
lab_init() {
	LAB_NAME=${1:?lab_init NAME}
	[ "$(id -u)" = 0 ] || { echo "lab: $LAB_NAME needs root (network namespaces)" >&2; exit 77; }
	command -v ip >/dev/null || { echo "lab: iproute2 (ip) missing" >&2; exit 77; }
	local try
	for _ in 1 2 3 4 5 6 7 8 9 10; do
		LAB_PFX=sg$(printf '%04x' $(( (RANDOM ^ $$) & 0xffff )))
		ip netns list 2>/dev/null | grep -q "^$LAB_PFX-" || break
	done
	LAB_DIR=$(mktemp -d "${TMPDIR:-/tmp}/sglab-$LAB_NAME.XXXXXX")
	chmod 755 "$LAB_DIR"
	trap lab_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	lab_log "prefix $LAB_PFX, files in $LAB_DIR"
}

# lab_nsname NS — the full namespace name of short name NS.
lab_nsname() { echo "$LAB_PFX-$1"; }

lab_cleanup() {
	local rc=$? pid i ns
	trap - EXIT INT TERM
	[ "$LAB_RESULT" = 0 ] || [ "$rc" != 0 ] || rc=1
	# captures first so their files are complete
	lab_capture_stop >/dev/null 2>&1 || true
	for pid in "${LAB_PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for i in $(seq 1 30); do
		local alive=0
		for pid in "${LAB_PIDS[@]}"; do
			kill -0 "$pid" 2>/dev/null && alive=1
		done
		[ $alive = 0 ] && break
		sleep 0.1
	done
	for pid in "${LAB_PIDS[@]}"; do
		kill -KILL "$pid" 2>/dev/null || true
	done
	# Anything still running inside our namespaces (children of what we
	# started, e.g. Kamailio workers) — by PID, only in our namespaces.
	for ns in "${LAB_NSS[@]}"; do
		for pid in $(ip netns pids "$LAB_PFX-$ns" 2>/dev/null); do
			kill -KILL "$pid" 2>/dev/null || true
		done
	done
	for ns in "${LAB_NSS[@]}"; do
		ip netns del "$LAB_PFX-$ns" 2>/dev/null || true
		rm -rf "/etc/netns/$LAB_PFX-$ns"
	done
	if [ "$rc" = 0 ] && [ "${LAB_KEEP:-0}" != 1 ]; then
		rm -rf "$LAB_DIR"
	elif [ -n "$LAB_DIR" ]; then
		echo "lab: $LAB_NAME: files kept in $LAB_DIR" >&2
	fi
	exit "$rc"
}

# lab_ns_add NS — make namespace NS (short name) with lo up and the lab
# sysctls.  Used by the topologies; a test may build its own with it and
# lab_link.
lab_ns_add() {
	local ns=$1 full=$LAB_PFX-$1
	ip netns add "$full" || lab_fail "cannot create namespace $full"
	LAB_NSS+=("$ns")
	mkdir -p "/etc/netns/$full"
	echo "nameserver 127.0.0.1" >"/etc/netns/$full/resolv.conf"
	printf '127.0.0.1\tlocalhost\n' >"/etc/netns/$full/hosts"
	ip -n "$full" link set lo up
	ip netns exec "$full" sysctl -qw \
		net.ipv4.ip_forward=0 \
		net.ipv4.conf.all.forwarding=0 \
		net.ipv4.ip_local_port_range="40000 60999" \
		net.ipv4.tcp_tw_reuse=1 \
		net.ipv6.conf.all.disable_ipv6=1 \
		net.ipv6.conf.default.disable_ipv6=1 >/dev/null ||
		lab_fail "sysctl failed in $full"
}

# lab_link NS1 IF1 ADDR1/LEN NS2 IF2 ADDR2/LEN — a veth pair between two
# namespaces, created directly inside them (no name clash in the root
# namespace), addressed and up.  ADDR may be "-" for none.
lab_link() {
	local n1=$LAB_PFX-$1 i1=$2 a1=$3 n2=$LAB_PFX-$4 i2=$5 a2=$6
	ip -n "$n1" link add "$i1" type veth peer name "$i2" netns "$n2" ||
		lab_fail "cannot create veth $1:$i1 <-> $4:$i2"
	ip -n "$n1" link set "$i1" up
	ip -n "$n2" link set "$i2" up
	[ "$a1" = - ] || ip -n "$n1" addr add "$a1" dev "$i1"
	[ "$a2" = - ] || ip -n "$n2" addr add "$a2" dev "$i2"
}

# lab_addr NS IF ADDR/LEN — add one more address.
lab_addr() { ip -n "$LAB_PFX-$1" addr add "$3" dev "$2"; }

# lab_route NS VIA — default route.
lab_route() { ip -n "$LAB_PFX-$1" route add default via "$2"; }

# lab_hosts NS "ADDR NAME..." ... — append lines to NS's /etc/hosts.
lab_hosts() {
	local ns=$1 line; shift
	for line in "$@"; do
		echo "$line" >>"/etc/netns/$LAB_PFX-$ns/hosts"
	done
}

# lab_topology — phones <-> gwa <-> gwb <-> pbx (see the header).
lab_topology() {
	local ns
	for ns in phones gwa gwb pbx; do lab_ns_add $ns; done
	lab_link phones lan $LAB_PHONE_A/24 gwa lan $LAB_GWA_IN/24
	lab_addr phones lan $LAB_PHONE_B/24
	lab_link gwa wan $LAB_GWA_WAN/24 gwb wan $LAB_GWB_WAN/24
	lab_link gwb lan $LAB_GWB_IN/24 pbx lan $LAB_PBX/24
	lab_route phones $LAB_GWA_IN
	lab_route pbx $LAB_GWB_IN
	lab_hosts phones "$LAB_GWA_IN gw-a.lab.test"
	lab_hosts gwa "$LAB_GWA_WAN gw-a.lab.test" "$LAB_GWB_WAN gw-b.lab.test"
	lab_hosts gwb "$LAB_GWA_WAN gw-a.lab.test" "$LAB_GWB_WAN gw-b.lab.test" \
		"$LAB_PBX pbx.lab.test"
	lab_hosts pbx "$LAB_GWB_IN gw-b.lab.test" "$LAB_PBX pbx.lab.test"
	# The phones see the PBX's domain name; it resolves to their gateway
	# (the only next hop they have).
	lab_hosts phones "$LAB_GWA_IN pbx.lab.test"
	lab_log "topology: phones($LAB_PHONE_A,$LAB_PHONE_B) - gwa($LAB_GWA_IN|$LAB_GWA_WAN) - gwb($LAB_GWB_WAN|$LAB_GWB_IN) - pbx($LAB_PBX)"
}

# lab_topology_direct — phones <-> gwa <-> pbx2, where pbx2 (198.18.2.10) is
# on the WAN: the client gateway talks TLS straight to Kamailio.
lab_topology_direct() {
	local ns
	for ns in phones gwa pbx2; do lab_ns_add $ns; done
	lab_link phones lan $LAB_PHONE_A/24 gwa lan $LAB_GWA_IN/24
	lab_addr phones lan $LAB_PHONE_B/24
	lab_link gwa wan $LAB_GWA_WAN/24 pbx2 wan $LAB_PBX2/24
	lab_route phones $LAB_GWA_IN
	lab_route pbx2 $LAB_GWA_WAN
	lab_hosts phones "$LAB_GWA_IN gw-a.lab.test" "$LAB_GWA_IN pbx.lab.test"
	lab_hosts gwa "$LAB_GWA_WAN gw-a.lab.test" "$LAB_PBX2 pbx.lab.test"
	lab_hosts pbx2 "$LAB_GWA_WAN gw-a.lab.test" "$LAB_PBX2 pbx.lab.test"
	lab_log "topology: phones($LAB_PHONE_A,$LAB_PHONE_B) - gwa($LAB_GWA_IN|$LAB_GWA_WAN) - pbx2($LAB_PBX2)"
}

# lab_wan_host NS ADDR — after lab_topology_direct, before any peer starts:
# one more host on the WAN (e.g. a real SIPS phone beside Kamailio), in its
# own namespace NS with interface "wan" at ADDR/24, default route via gwa's
# WAN address (gwa does not forward: the route only gives the host a
# source address), hosts file like pbx2's.  The WAN becomes a switch: in
# pbx2 the veth to gwa is renamed "wan0" and, with the veth to NS (named NS
# in pbx2), made a port of a bridge named "wan" that carries 198.18.2.10, so
# pbx2's address and interface name stay what they were.  Traffic between NS
# and gwa crosses gwa:wan (captured there); NS <-> pbx2 stays in pbx2's
# bridge.  Why not a second address on pbx2: a UA there binds its media to
# the wildcard and the kernel sends it from pbx2's primary address.
lab_wan_host() {
	local ns=$1 addr=$2 p=$LAB_PFX-pbx2
	ip netns list | grep -q "^$p\b" || lab_fail "lab_wan_host: no pbx2 (lab_topology_direct first)"
	if ! ip -n "$p" link show wan0 >/dev/null 2>&1; then
		ip -n "$p" addr flush dev wan &&
			ip -n "$p" link set wan down &&
			ip -n "$p" link set wan name wan0 &&
			ip -n "$p" link add wan type bridge stp_state 0 forward_delay 0 &&
			ip -n "$p" link set wan0 master wan &&
			ip -n "$p" link set wan0 up &&
			ip -n "$p" addr add "$LAB_PBX2/24" dev wan &&
			ip -n "$p" link set wan up &&
			ip -n "$p" route add default via "$LAB_GWA_WAN" ||
			lab_fail "lab_wan_host: cannot make pbx2's WAN a bridge"
	fi
	lab_ns_add "$ns"
	lab_link "$ns" wan "$addr/24" pbx2 "$ns" -
	ip -n "$p" link set "$ns" master wan || lab_fail "lab_wan_host: cannot bridge $ns"
	lab_route "$ns" "$LAB_GWA_WAN"
	lab_hosts "$ns" "$LAB_GWA_WAN gw-a.lab.test" "$LAB_PBX2 pbx.lab.test"
	lab_log "WAN host $ns ($addr) bridged in pbx2"
}

# lab_lan_host NS ADDR — after lab_topology (or _direct), before any peer
# starts: one more host on the phones' LAN (inside gwa's `trusted`, e.g. an
# attacker), in its own namespace NS with interface "lan" at ADDR/24,
# default route via gwa's inside address, hosts file like the phones'.  The
# LAN becomes a switch, as in lab_wan_host: in phones the veth to gwa is
# renamed "lan0" and, with the veth to NS (named NS in phones), made a port
# of a bridge named "lan" that carries the phones' addresses, so their
# interface name and addresses stay.  Traffic between NS and gwa crosses
# gwa:lan (capture there to see it with the phones' traffic).
lab_lan_host() {
	local ns=$1 addr=$2 p=$LAB_PFX-phones
	if ! ip -n "$p" link show lan0 >/dev/null 2>&1; then
		ip -n "$p" addr flush dev lan &&
			ip -n "$p" link set lan down &&
			ip -n "$p" link set lan name lan0 &&
			ip -n "$p" link add lan type bridge stp_state 0 forward_delay 0 &&
			ip -n "$p" link set lan0 master lan &&
			ip -n "$p" link set lan0 up &&
			ip -n "$p" addr add "$LAB_PHONE_A/24" dev lan &&
			ip -n "$p" addr add "$LAB_PHONE_B/24" dev lan &&
			ip -n "$p" link set lan up &&
			ip -n "$p" route add default via "$LAB_GWA_IN" ||
			lab_fail "lab_lan_host: cannot make the phones' LAN a bridge"
	fi
	lab_ns_add "$ns"
	lab_link "$ns" lan "$addr/24" phones "$ns" -
	ip -n "$p" link set "$ns" master lan || lab_fail "lab_lan_host: cannot bridge $ns"
	lab_route "$ns" "$LAB_GWA_IN"
	lab_hosts "$ns" "$LAB_GWA_IN gw-a.lab.test" "$LAB_GWA_IN pbx.lab.test"
	lab_log "LAN host $ns ($addr) bridged in phones"
}

# lab_pbx2_lan — after lab_topology_direct: a plain LAN behind pbx2, with
# phone C (namespace phonec, 198.18.4.10, default via 198.18.4.1) that talks
# to the PBX directly, not through any gateway.  pbx2 does not forward: the
# LAN and the WAN meet only in what runs on pbx2 (Kamailio, rtpengine).
lab_pbx2_lan() {
	lab_ns_add phonec
	lab_link pbx2 lan $LAB_PBX2_LAN/24 phonec lan $LAB_PHONE_C/24
	lab_route phonec $LAB_PBX2_LAN
	lab_hosts phonec "$LAB_PBX2_LAN pbx.lab.test"
	lab_log "topology: pbx2($LAB_PBX2|$LAB_PBX2_LAN) - phonec($LAB_PHONE_C)"
}

# lab_exec NS CMD... — run CMD in namespace NS, in the foreground.
lab_exec() {
	local ns=$1; shift
	[ "${LAB_VERBOSE:-0}" = 1 ] && lab_log "exec[$ns] $*"
	ip netns exec "$LAB_PFX-$ns" "$@"
}

# lab_start NS NAME CMD... — run CMD in NS in the background, stdout and
# stderr to $LAB_DIR/NAME.log; its PID goes to $LAB_LAST_PID and
# ${LAB_PID_OF[NAME]}, and is killed by the cleanup.  CMD runs with
# $LAB_DIR as working directory.
lab_start() {
	local ns=$1 name=$2; shift 2
	[ "${LAB_VERBOSE:-0}" = 1 ] && lab_log "start[$ns] $name: $*"
	echo "# [$ns] $*" >"$LAB_DIR/$name.log"
	(cd "$LAB_DIR" && exec ip netns exec "$LAB_PFX-$ns" "$@") \
		>>"$LAB_DIR/$name.log" 2>&1 </dev/null &
	LAB_LAST_PID=$!
	LAB_PIDS+=("$LAB_LAST_PID")
	LAB_PID_OF[$name]=$LAB_LAST_PID
}

# lab_wait NAME [TIMEOUT] — wait for the job lab_start NAME started; return
# its exit status (124 and kill it if it outlives TIMEOUT seconds, default 60).
lab_wait() {
	local name=$1 t=${2:-60} pid=${LAB_PID_OF[$1]:-} i
	[ -n "$pid" ] || lab_fail "lab_wait: no job named $name"
	for ((i = 0; i < t * 10; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null; sleep 0.2; kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		return 124
	fi
	wait "$pid"
}

# lab_stop NAME — stop one background job (TERM, then KILL after 3 s).
lab_stop() {
	local pid=${LAB_PID_OF[$1]:-} i
	[ -n "$pid" ] || return 0
	kill -TERM "$pid" 2>/dev/null || return 0
	for i in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

# lab_wait_port NS PROTO PORT [ADDR] — poll ss in NS until something listens
# on PORT (PROTO udp, tcp or tls (= tcp)); fails the test after 10 s.
lab_wait_port() {
	local ns=$1 proto=$2 port=$3 addr=${4:-} flag i
	case $proto in
	udp) flag=-uln ;;
	tcp|tls) flag=-tln ;;
	*) lab_fail "lab_wait_port: protocol $proto?" ;;
	esac
	for i in $(seq 1 100); do
		if ip netns exec "$LAB_PFX-$ns" ss -H $flag 2>/dev/null |
			awk '{print $4}' | grep -qE "^${addr:-.*}:$port\$"; then
			return 0
		fi
		sleep 0.1
	done
	lab_fail "nothing listens on $proto ${addr:-*}:$port in $ns after 10 s"
}

# lab_capture_start NS IFACE FILE [FILTER] — dumpcap on IFACE in NS into FILE
# (pcapng); returns once the capture is running (file header written).
# The capture gets a role for lab_capture_verdict (run when it stops): "lan"
# for the LAN interface of phones, gwa, gwb and pbx (a gateway's inside),
# "wan" for any "wan" interface, none otherwise; lab_capture_role changes it.
lab_capture_start() {
	local ns=$1 ifc=$2 file=$3 filter=${4:-} i name
	case $ns:$ifc in
	phones:lan|gwa:lan|gwb:lan|pbx:lan) LAB_CAP_ROLE[$file]=lan ;;
	*:wan) LAB_CAP_ROLE[$file]=wan ;;
	*) LAB_CAP_ROLE[$file]=none ;;
	esac
	name=capture-$ns-$ifc-$(basename "$file")
	local tool=(dumpcap -q -i "$ifc" -w "$file")
	[ -n "$filter" ] && tool+=(-f "$filter")
	command -v dumpcap >/dev/null || tool=(tshark -q -i "$ifc" -w "$file" ${filter:+-f "$filter"})
	rm -f "$file"
	lab_start "$ns" "$name" "${tool[@]}"
	LAB_CAPS+=("$LAB_LAST_PID $file")
	for i in $(seq 1 100); do
		if [ -s "$file" ] && grep -q "Capturing on" "$LAB_DIR/$name.log" 2>/dev/null; then
			sleep 0.2   # let the socket settle before traffic starts
			return 0
		fi
		kill -0 "$LAB_LAST_PID" 2>/dev/null || lab_fail "capture on $ns:$ifc died"
		sleep 0.1
	done
	lab_fail "capture on $ns:$ifc did not start within 10 s"
}

# lab_capture_stop [FILE] — stop the capture writing FILE (default: all),
# wait until the file is complete; its media invariant check
# (lab_capture_verdict) runs in lab_capture_verdicts / lab_pass.
lab_capture_stop() {
	local want=${1:-} c pid file rest=() done=() i
	for c in "${LAB_CAPS[@]}"; do
		pid=${c%% *}; file=${c#* }
		if [ -z "$want" ] || [ "$want" = "$file" ]; then
			sleep 0.2   # packets in flight
			kill -INT "$pid" 2>/dev/null || true
			for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
			kill -KILL "$pid" 2>/dev/null || true
			wait "$pid" 2>/dev/null || true
			done+=("$file")
		else
			rest+=("$c")
		fi
	done
	LAB_CAPS=(${rest[@]+"${rest[@]}"})
	LAB_CAP_PENDING+=(${done[@]+"${done[@]}"})
}

# lab_capture_verdicts — run lab_capture_verdict on every capture stopped
# since the last call (lab_pass does; a test that reads the verdict files
# calls it first).  Deferred to here so that a verdict's tshark runs never
# sit between the steps of a test.
lab_capture_verdicts() {
	local file
	for file in ${LAB_CAP_PENDING[@]+"${LAB_CAP_PENDING[@]}"}; do
		lab_capture_verdict "$file"
	done
	LAB_CAP_PENDING=()
}

# lab_capture_role FILE lan|wan|none — override the role lab_capture_start
# gave the capture FILE.
lab_capture_role() { LAB_CAP_ROLE[$1]=$2; }

# lab_capture_verdict FILE — the media invariant of DESIGN §4, checked on
# every capture (docs/security.md):
#   lan: no SIP message a lab gateway sends on its inside LAN (all of them
#        when no gateway was started) carries a=crypto, a=fingerprint,
#        a=key-mgmt or RTP/SAVP (lan_verdict.py);
#   wan: decrypted with the lab gateways' TLS key logs, no SDP sent by a lab
#        gateway with media = srtp offers or accepts RTP/AVP
#        (wan_sdp_verdict.py); skipped when no lab gateway wrote a key log.
# Fails the test on a violation.  Output in $LAB_DIR/verdict-NAME.txt.
lab_capture_verdict() {
	local file=$1 role=${LAB_CAP_ROLE[$1]:-none} out args=() k a
	[ -s "$file" ] || return 0
	out=$LAB_DIR/verdict-$(basename "$file").txt
	case $role in
	lan)
		for a in ${LAB_GW_IN_ADDRS[@]+"${LAB_GW_IN_ADDRS[@]}"}; do
			args+=(--from "$a")
		done
		python3 "$LAB_LIB_DIR/lan_verdict.py" "$file" ${args[@]+"${args[@]}"} >"$out" 2>&1 ||
			lab_fail "media invariant broken on the LAN ($file): $(cat "$out")"
		lab_log "$(head -n 1 "$out")"
		;;
	wan)
		[ ${#LAB_KEYLOGS[@]} -gt 0 ] || return 0
		for k in "${LAB_KEYLOGS[@]}"; do [ -s "$k" ] && args+=(--keylog "$k"); done
		[ ${#args[@]} -gt 0 ] || return 0
		for a in ${LAB_GW_SRTP_ADDRS[@]+"${LAB_GW_SRTP_ADDRS[@]}"}; do
			args+=(--srtp-from "$a")
		done
		python3 "$LAB_LIB_DIR/wan_sdp_verdict.py" "$file" "${args[@]}" >"$out" 2>&1 ||
			lab_fail "media invariant broken on the WAN ($file): $(cat "$out")"
		lab_log "$(head -n 1 "$out")"
		;;
	esac
}

# lab_certs [DIR] — make the lab certificates (certs/sipsgate-certs lab) into
# DIR (default $LAB_DIR/certs) and set LAB_CERTS to it.
lab_certs() {
	LAB_CERTS=${1:-$LAB_DIR/certs}
	"$LAB_SRC_DIR/certs/sipsgate-certs" --dir "$LAB_CERTS" lab \
		>"$LAB_DIR/certs.log" 2>&1 || lab_fail "sipsgate-certs lab failed"
}

# lab_kamailio NS TEMPLATE [NAME] [ADDR] — generate $LAB_DIR/NAME.cfg from
# tests/lab/kamailio/TEMPLATE.cfg (and NAME-tls.cfg from
# tests/lab/kamailio/tls.cfg) and start Kamailio in NS in the foreground.
# Placeholders: @LISTEN@ (ADDR; default 198.18.3.10 in pbx, 198.18.2.10 in
# pbx2, else the first global address of NS), @CERTS@ ($LAB_CERTS),
# @TLSCFG@, @RUNDIR@, @DOMAIN@ (pbx.lab.test), and from the environment
# @TCPALIAS@ ($LAB_TCP_ALIASES, default no), @LISTEN2@ ($LAB_KAM_LISTEN2, a
# second listen address, default 127.0.0.1), @RTPENGINE@ ($LAB_KAM_RTPENGINE,
# rtpengine's ng socket, default udp:127.0.0.1:2223), in tls.cfg @VERIFY@/@REQUIRE@
# ($LAB_TLS_VERIFY/$LAB_TLS_REQUIRE, default yes/yes) and @CERT@ ($LAB_TLS_CERT,
# default pbx: the certificate Kamailio presents).  Waits until it listens.
# Command: kamailio -DD -E -f CFG -P RUNDIR/kamailio.pid -Y RUNDIR -w RUNDIR -m 64 -M 8
lab_kamailio() {
	local ns=$1 tpl=$2 name=${3:-kamailio} addr=${4:-} src cfg rundir port proto
	src=$LAB_LIB_DIR/kamailio/$tpl.cfg
	[ -r "$src" ] || lab_fail "no Kamailio template $src"
	if [ -z "$addr" ]; then
		case $ns in
		pbx) addr=$LAB_PBX ;;
		pbx2) addr=$LAB_PBX2 ;;
		*) addr=$(ip -n "$LAB_PFX-$ns" -4 -o addr show scope global | awk '{sub("/.*","",$4); print $4; exit}') ;;
		esac
	fi
	cfg=$LAB_DIR/$name.cfg
	rundir=$LAB_DIR/$name.run
	mkdir -p "$rundir"
	local subst=(-e "s|@LISTEN@|$addr|g" -e "s|@CERTS@|${LAB_CERTS:-$LAB_DIR/certs}|g"
		-e "s|@TLSCFG@|$LAB_DIR/$name-tls.cfg|g" -e "s|@RUNDIR@|$rundir|g"
		-e "s|@DOMAIN@|pbx.lab.test|g" -e "s|@TCPALIAS@|${LAB_TCP_ALIASES:-no}|g"
		-e "s|@VERIFY@|${LAB_TLS_VERIFY:-yes}|g" -e "s|@REQUIRE@|${LAB_TLS_REQUIRE:-yes}|g"
		-e "s|@CERT@|${LAB_TLS_CERT:-pbx}|g"
		-e "s|@LISTEN2@|${LAB_KAM_LISTEN2:-127.0.0.1}|g"
		-e "s|@RTPENGINE@|${LAB_KAM_RTPENGINE:-udp:127.0.0.1:2223}|g")
	sed "${subst[@]}" "$src" >"$cfg"
	sed "${subst[@]}" "$LAB_LIB_DIR/kamailio/tls.cfg" >"$LAB_DIR/$name-tls.cfg"
	lab_exec "$ns" kamailio -c -f "$cfg" -Y "$rundir" >"$LAB_DIR/$name-check.log" 2>&1 ||
		lab_fail "Kamailio config $cfg does not check (see $name-check.log)"
	lab_start "$ns" "$name" kamailio -DD -E -f "$cfg" -P "$rundir/kamailio.pid" \
		-Y "$rundir" -w "$rundir" -m 64 -M 8
	if grep -q '^listen=tls:' "$cfg"; then proto=tcp; port=5061
	else proto=udp; port=5060; fi
	lab_wait_port "$ns" $proto $port "$addr"
	sleep 0.3   # workers
	lab_log "kamailio $name ($tpl) on $addr ${proto}/$port in $ns"
}

# lab_rtpengine NS NAME NG_PORT IFACE... — start rtpengine in NS in the
# foreground (lab_start NAME: stopped by PID like every lab peer), userspace
# only (--table=-1, no kernel module), no config file, ng control on
# 127.0.0.1:NG_PORT, media ports 30000-30999 (below ip_local_port_range),
# one --interface per IFACE ("NAME/ADDR"); log level $LAB_RTPENGINE_LOG
# (default 6), extra options from $LAB_RTPENGINE_ARGS.  Waits until the ng
# port is bound.  Command:
#   rtpengine --config-file=none --foreground --log-stderr --table=-1
#     --pidfile=LAB_DIR/NAME.pid --listen-ng=127.0.0.1:NG_PORT
#     --port-min=30000 --port-max=30999 --log-level=N --delete-delay=0
#     --interface=IFACE... [$LAB_RTPENGINE_ARGS]
lab_rtpengine() {
	local ns=$1 name=$2 port=$3 i; shift 3
	local cmd=(rtpengine --config-file=none --foreground --log-stderr --table=-1
		--pidfile="$LAB_DIR/$name.pid" --listen-ng="127.0.0.1:$port"
		--port-min=30000 --port-max=30999 --log-level="${LAB_RTPENGINE_LOG:-6}"
		--delete-delay=0)
	command -v rtpengine >/dev/null || { echo "lab: rtpengine missing (apt-get install rtpengine-daemon)" >&2; exit 77; }
	for i in "$@"; do cmd+=(--interface="$i"); done
	# shellcheck disable=SC2206
	cmd+=(${LAB_RTPENGINE_ARGS:-})
	lab_start "$ns" "$name" "${cmd[@]}"
	lab_wait_port "$ns" udp "$port" 127.0.0.1
	lab_log "rtpengine $name in $ns: ng 127.0.0.1:$port, interfaces $*"
}

# lab_kamcmd NAME CMD... — kamcmd against the Kamailio lab_kamailio started
# as NAME (default name "kamailio"), e.g. lab_kamcmd kamailio ul.dump
lab_kamcmd() {
	local name=$1; shift
	kamcmd -s "unix:$LAB_DIR/$name.run/kamailio_ctl" "$@"
}

# lab_sipp NS NAME SCENARIO LOCAL_IP PROXY USER [SIPP ARGS...] — start one
# sipp phone from tests/lab/sipp/SCENARIO.xml in the background (lab_start
# NAME).  Files: $LAB_DIR/NAME.log (screen), NAME.msg (every message),
# NAME.err (unexpected messages), NAME.actions ("registered USER" once the
# REGISTER got its 200).  The Call-ID base is $LAB_CALL_ID (caller and callee
# must share it, see the scenario headers).  Command line:
#   sipp -sf SCENARIO.xml -i LOCAL_IP -p ${LAB_SIPP_PORT:-5060}
#        -mp 10000+10*(last octet of LOCAL_IP) -m 1 -nostdin
#        -key user USER -key domain pbx.lab.test -cid_str $LAB_CALL_ID
#        -timeout 60s -timeout_error -trace_msg -message_file NAME.msg
#        -trace_err -error_file NAME.err -trace_logs -log_file NAME.actions
#        [SIPP ARGS...] PROXY
# e.g. the callee of a call is "-s CALLEE" among SIPP ARGS.
lab_sipp() {
	local ns=$1 name=$2 scen=$3 ip=$4 proxy=$5 user=$6; shift 6
	local f=$LAB_LIB_DIR/sipp/$scen.xml
	[ -r "$f" ] || lab_fail "no sipp scenario $f"
	rm -f "$LAB_DIR/$name.msg" "$LAB_DIR/$name.err" "$LAB_DIR/$name.actions"
	lab_start "$ns" "$name" sipp -sf "$f" -i "$ip" -p "${LAB_SIPP_PORT:-5060}" \
		-mp $((10000 + 10 * ${ip##*.})) -m 1 -nostdin \
		-key user "$user" -key domain "${LAB_DOMAIN:-pbx.lab.test}" \
		-cid_str "${LAB_CALL_ID:-$LAB_PFX-call}" -timeout 60s -timeout_error \
		-trace_msg -message_file "$LAB_DIR/$name.msg" \
		-trace_err -error_file "$LAB_DIR/$name.err" \
		-trace_logs -log_file "$LAB_DIR/$name.actions" \
		"$@" "$proxy"
}

# lab_sipp_wait_registered NAME [TIMEOUT] — wait until sipp phone NAME logged
# its 200 to REGISTER (default 10 s); returns 1 if it did not or died.
lab_sipp_wait_registered() {
	local name=$1 t=${2:-10} i pid=${LAB_PID_OF[$1]:-}
	for ((i = 0; i < t * 10; i++)); do
		grep -q '^registered' "$LAB_DIR/$name.actions" 2>/dev/null && return 0
		kill -0 "$pid" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# lab_call NS PROXY CALLER CALLER_IP CALLEE CALLEE_IP [BYE_BY] — one complete
# call between two sipp phones in NS that both send everything to PROXY
# (ip[:port]: Kamailio, or the gateway in front of it):
#   callee registers (reg_uas, or reg_uas_bye if BYE_BY=callee), the caller
#   starts once the callee's registration got its 200, registers, calls CALLEE,
#   both re-INVITE (caller first), then BYE_BY (caller, default, or callee)
#   hangs up.
# Returns 0 if both sipp exit 0; otherwise prints why and returns 1.  Logs:
# $LAB_DIR/callN-USER.{log,msg,err,actions}.  Sets LAB_CALL_ID, LAB_CALL_TAG.
LAB_CALL_N=0
lab_call() {
	local ns=$1 proxy=$2 caller=$3 cip=$4 callee=$5 eip=$6 by=${7:-caller}
	local uas=reg_uas uac=reg_uac
	[ "$by" = callee ] && { uas=reg_uas_bye; uac=reg_uac_byein; }
	lab_call_start $uac $uas "$ns" "$proxy" "$caller" "$cip" "$callee" "$eip" ||
		return 1
	lab_call_wait "BYE by $by"
}

# lab_call_start UAC UAS NS PROXY CALLER CALLER_IP CALLEE CALLEE_IP — start
# one call with any pair of scenarios that follow the reg_uac/reg_uas
# conventions (REGISTER first, "registered USER" in the action log, shared
# -cid_str): the callee (sipp/UAS.xml) registers, then the caller
# (sipp/UAC.xml, -s CALLEE) starts; returns at once (1 if the callee did not
# register).  Finish with lab_call_wait.  Sets LAB_CALL_ID, LAB_CALL_TAG,
# LAB_CALL_CALLER, LAB_CALL_CALLEE (the lab_start names of the two sipp).
lab_call_start() {
	local uac=$1 uas=$2 ns=$3 proxy=$4 caller=$5 cip=$6 callee=$7 eip=$8
	lab_call_start_x "$uac" "$uas" "$ns" "$proxy" "$caller" "$cip" \
		"$ns" "$proxy" "$callee" "$eip"
}

# lab_call_start_x UAC UAS CALLER_NS CALLER_PROXY CALLER CALLER_IP
#                  CALLEE_NS CALLEE_PROXY CALLEE CALLEE_IP
# — lab_call_start for two phones in different namespaces that send to
# different next hops (e.g. one behind a gateway, one straight to the PBX).
lab_call_start_x() {
	local uac=$1 uas=$2 cns=$3 cproxy=$4 caller=$5 cip=$6
	local ens=$7 eproxy=$8 callee=$9 eip=${10}
	LAB_CALL_N=$((LAB_CALL_N + 1))
	LAB_CALL_TAG=call$LAB_CALL_N
	LAB_CALL_ID=$LAB_PFX-$LAB_CALL_N-$RANDOM
	LAB_CALL_CALLER=$LAB_CALL_TAG-$caller
	LAB_CALL_CALLEE=$LAB_CALL_TAG-$callee
	if [ "$cproxy" = "$eproxy" ]; then
		LAB_CALL_DESC="$caller($cip) -> $callee($eip) via $cproxy"
	else
		LAB_CALL_DESC="$caller($cip) via $cproxy -> $callee($eip) via $eproxy"
	fi
	lab_sipp "$ens" "$LAB_CALL_CALLEE" "$uas" "$eip" "$eproxy" "$callee"
	if ! lab_sipp_wait_registered "$LAB_CALL_CALLEE" 10; then
		echo "lab_call: $callee ($eip) did not register through $eproxy" >&2
		lab_stop "$LAB_CALL_CALLEE"
		return 1
	fi
	lab_sipp "$cns" "$LAB_CALL_CALLER" "$uac" "$cip" "$cproxy" "$caller" -s "$callee"
}

# lab_call_wait [NOTE] — wait for the call lab_call_start started (caller up
# to 45 s, then callee up to 15 s).  Returns 0 if both sipp exit 0;
# otherwise prints why and returns 1.
lab_call_wait() {
	local note=${1:+, $1} rc1 rc2
	lab_wait "$LAB_CALL_CALLER" 45; rc1=$?
	lab_wait "$LAB_CALL_CALLEE" 15; rc2=$?
	if [ $rc1 != 0 ] || [ $rc2 != 0 ]; then
		echo "lab_call: $LAB_CALL_TAG $LAB_CALL_DESC$note: caller sipp exit $rc1, callee sipp exit $rc2" >&2
		return 1
	fi
	lab_log "$LAB_CALL_TAG $LAB_CALL_DESC$note: ok"
}

# lab_fail MSG — print MSG and the tail of every log in $LAB_DIR, exit 1
# ($LAB_DIR is kept).
lab_fail() {
	local f
	echo "FAIL: ${LAB_NAME:-lab}: $*" >&2
	if [ -n "$LAB_DIR" ] && [ -d "$LAB_DIR" ]; then
		for f in "$LAB_DIR"/*.log; do
			[ -e "$f" ] || continue
			echo "----- tail of $f" >&2
			tail -n 25 "$f" >&2
		done
	fi
	LAB_RESULT=1
	exit 1
}

# lab_pass — print PASS and exit 0 (cleanup removes $LAB_DIR).
lab_pass() {
	lab_capture_stop   # the captures still running get their verdict too
	lab_capture_verdicts
	echo "PASS: ${LAB_NAME:-lab}" >&2
	LAB_RESULT=0
	exit 0
}
