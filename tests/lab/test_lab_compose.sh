#!/usr/bin/env bash
# The compose lab (lab/docker/compose.yaml) running for real, on Debian's
# docker.io (dockerd 20.10) and docker-compose (1.29): the images are built,
# the lab comes up, alice calls bob through gwa -> gwb -> Kamailio -> gwb ->
# gwa with 3 s of audio each way, the captures prove what crossed, and
# everything but the images is removed.
#
#  1. Engine: lab/docker/engine.sh start, a dockerd of the lab's own (data
#     root /var/lib/sipsgate-lab/docker, so images stay between runs) that
#     leaves the host's firewall and forwarding alone. If dockerd cannot
#     start here, the test is skipped (77) with dockerd's reason; a missing
#     package is a failure (./run deps installs docker.io, docker-compose,
#     debootstrap).
#  2. Base image: debian:12 from Debian's archive (engine.sh base:
#     debootstrap --variant=minbase bookworm, docker import) when missing.
#  3. Images: the Dockerfile's stages, built on the host's network
#     (build: network: host); sipsgate is compiled inside the image from
#     this source tree (the image is what people run; the host's build is
#     not copied in). The build stage is tagged sipsgate-lab-build so that
#     removing dangling images (older builds) keeps its layer cache.
#  4. Up, in steps so that the captures see everything: "up --no-deps
#     certs" makes the networks, volumes and certificates; dumpcap starts on
#     the host's bridges sglab-phones, sglab-wan, sglab-pbx; "up gwa" starts
#     pbx, gwb and gwa (healthy = gwa's TLS link to gwb is up); dumpcap
#     starts on gwb's loopback (nsenter into its network namespace: the
#     call's two crossings of gwb meet there, plain); "up phone-b phone-a"
#     makes the call; both phones must exit 0.
#  5. Proof, with the namespace lab's verdicts:
#     media_verdict.py: what each phone received is what the other sent,
#     payload by payload, in order (>= 90 %, contiguous); every WAN datagram
#     is SRTP (plain + 10-byte tag, no plain payload nor 16-byte piece of
#     one, each packet twice under two keys); the same search finds the
#     payloads on gwb's plain loopback legs; gwa's counters (sipsgate
#     status in its container) equal the captures;
#     wan_verdict.py: every TCP stream on the WAN is TLS records from first
#     to last byte, no plaintext SIP; the SIP detector finds SIP on the
#     phones' LAN and none on the WAN; the PBX LAN carries SIP only.
#  6. Down: "down -v --remove-orphans" (containers, networks, volumes),
#     checked; the dockerd stopped; dangling images removed; the host's
#     ip_forward and iptables as they were. Also on failure (EXIT trap); a
#     run killed before its trap is cleaned up by the next one.
#
# Timings (2 cores): first run ~3-4 min (debootstrap ~50 s, images ~2 min
# from the archive); later runs ~40 s (images from cache; a changed source
# tree recompiles sipsgate in the image, ~40 s more).
set -u
. "$(dirname "$0")/lib.sh"

lab_init compose
SRC=$LAB_SRC_DIR
DOCKER_DIR=$SRC/lab/docker
ENGINE=$DOCKER_DIR/engine.sh
PROJECT=sglab
# Debian's client first: /usr/local/bin may hold another docker CLI, whose
# build context differs (and so misses the build cache).
export PATH=/usr/bin:/usr/sbin:$PATH
export DOCKER_HOST=unix://${SGLAB_DOCKER_RUN:-/run/sipsgate-lab}/docker.sock
export COMPOSE_PROJECT_NAME=$PROJECT COMPOSE_DOCKER_CLI_BUILD=1
unset DOCKER_BUILDKIT
T0=$(date +%s)

for c in dockerd docker docker-compose debootstrap dumpcap tshark nsenter flock; do
	command -v "$c" >/dev/null ||
	    lab_fail "$c is missing (./run deps installs docker.io, docker-compose, debootstrap, tshark)"
done

dc() { timeout "${DC_TIMEOUT:-180}" docker-compose -f "$DOCKER_DIR/compose.yaml" "$@"; }
since() { echo "$(($(date +%s) - $1)) s"; }

# One compose lab at a time on this machine (fixed bridge names and subnets).
exec 9>/run/lock/sipsgate-lab-compose.lock
flock -w 900 9 || lab_fail "another compose lab holds /run/lock/sipsgate-lab-compose.lock"

HOST_FWD=$(sysctl -n net.ipv4.ip_forward)
HOST_IPT=$(iptables -S 2>/dev/null | sort | md5sum)
ENGINE_UP=0

compose_down() {
	local left
	[ "$ENGINE_UP" = 1 ] || return 0
	if [ "$LAB_RESULT" != 0 ] && [ -n "$LAB_DIR" ]; then
		dc logs --no-color >"$LAB_DIR/compose-all.txt" 2>&1 || true
	fi
	DC_TIMEOUT=120 dc down -v --remove-orphans >"$LAB_DIR/compose-down.txt" 2>&1 ||
	    { echo "compose lab: down failed:" >&2; cat "$LAB_DIR/compose-down.txt" >&2; return 1; }
	left=$( (docker ps -aq --filter "label=com.docker.compose.project=$PROJECT"
		docker network ls -q --filter "label=com.docker.compose.project=$PROJECT"
		docker volume ls -q --filter "label=com.docker.compose.project=$PROJECT") | wc -l)
	[ "$left" = 0 ] || { echo "compose lab: $left containers/networks/volumes left after down" >&2; return 1; }
	if ip -br link 2>/dev/null | grep -q '^sglab-'; then
		echo "compose lab: bridges left after down: $(ip -br link | grep '^sglab-')" >&2
		return 1
	fi
	docker image prune -f >/dev/null 2>&1 || true
	return 0
}

compose_cleanup() {
	local rc=$? ok=0
	lab_capture_stop >/dev/null 2>&1 || true
	compose_down || ok=1
	"$ENGINE" stop || ok=1
	if [ "$(sysctl -n net.ipv4.ip_forward)" != "$HOST_FWD" ] ||
	    [ "$(iptables -S 2>/dev/null | sort | md5sum)" != "$HOST_IPT" ]; then
		echo "compose lab: the host's ip_forward or iptables changed during the test" >&2
		ok=1
	fi
	[ $ok = 0 ] || { [ "$rc" != 0 ] || rc=1; LAB_RESULT=1; }
	[ "$rc" = 0 ] && echo "compose lab: torn down; total $(since "$T0")" >&2
	(exit "$rc")
	lab_cleanup
}
trap compose_cleanup EXIT

# compose_fail MSG: the services' logs into $LAB_DIR/compose.log (lab_fail
# prints the tail of every log), then fail.
compose_fail() {
	dc logs --no-color --tail 40 >"$LAB_DIR/compose.log" 2>&1 || true
	lab_fail "$*"
}

# capture IFACE FILE [PREFIX...]: dumpcap on IFACE (of the host, or of
# the namespace PREFIX enters) into FILE; stopped by lab_capture_stop.
capture() {
	local ifc=$1 file=$2 name i; shift 2
	name=capture-$ifc-$(basename "$file" .pcapng)
	rm -f "$file"
	(cd "$LAB_DIR" && exec "$@" dumpcap -q -i "$ifc" -w "$file") \
	    >"$LAB_DIR/$name.log" 2>&1 </dev/null &
	LAB_PIDS+=("$!")
	LAB_CAPS+=("$! $file")
	for i in $(seq 1 100); do
		[ -s "$file" ] && grep -q "Capturing on" "$LAB_DIR/$name.log" && return 0
		kill -0 "$!" 2>/dev/null || lab_fail "capture on $ifc died: $(cat "$LAB_DIR/$name.log")"
		sleep 0.1
	done
	lab_fail "capture on $ifc did not start within 10 s"
}

# 1. The engine.
t=$(date +%s)
# 9>&-: dockerd outlives a killed test (the next run stops it); it must
# not hold the lock.
"$ENGINE" start >"$LAB_DIR/engine.txt" 2>&1 9>&-
rc=$?
cat "$LAB_DIR/engine.txt" >&2
case $rc in
0) ENGINE_UP=1 ;;
3) echo "SKIP: compose lab: $(grep -m1 'cannot start' "$LAB_DIR/engine.txt" |
	sed 's/^engine: //')" >&2
   rm -rf "$LAB_DIR"; LAB_DIR=
   exit 77 ;;
*) lab_fail "engine.sh start: exit $rc" ;;
esac
lab_log "engine up in $(since "$t")"
# Leftovers of a run killed before its trap ran.
if [ -n "$( (docker ps -aq --filter "label=com.docker.compose.project=$PROJECT"
	docker network ls -q --filter "label=com.docker.compose.project=$PROJECT"
	docker volume ls -q --filter "label=com.docker.compose.project=$PROJECT") 2>&1)" ]; then
	lab_log "removing what a killed run left"
	DC_TIMEOUT=120 dc down -v --remove-orphans >/dev/null 2>&1 || true
fi

# 2, 3. Base image, images.
t=$(date +%s)
"$ENGINE" base || lab_fail "no base image debian:12"
lab_log "base image debian:12 ready in $(since "$t")"
t=$(date +%s)
timeout 1200 docker build --network host --target build -t sipsgate-lab-build \
    -f "$DOCKER_DIR/Dockerfile" "$SRC" >"$LAB_DIR/build-stage.log" 2>&1 ||
    lab_fail "docker build --target build failed (build-stage.log)"
DC_TIMEOUT=1200 dc build >"$LAB_DIR/images.log" 2>&1 ||
    lab_fail "docker-compose build failed (images.log)"
lab_log "images built in $(since "$t") ($(grep -c 'Running in' "$LAB_DIR/images.log") steps not from the cache)"
docker image prune -f >/dev/null 2>&1 || true

# 4. Up: networks, volumes, certificates first.
t=$(date +%s)
dc up -d --no-deps certs >"$LAB_DIR/up-certs.txt" 2>&1 ||
    compose_fail "up certs: $(cat "$LAB_DIR/up-certs.txt")"
rc=$(timeout 60 docker wait "${PROJECT}_certs_1") ||
    compose_fail "the certs service did not finish within 60 s"
[ "$rc" = 0 ] || compose_fail "the certs service exited $rc"
for b in sglab-phones sglab-wan sglab-pbx; do
	ip link show "$b" >/dev/null 2>&1 || compose_fail "no bridge $b after up"
done
capture sglab-phones "$LAB_DIR/phones.pcapng"
capture sglab-wan "$LAB_DIR/wan.pcapng"
capture sglab-pbx "$LAB_DIR/pbx-lan.pcapng"
dc up -d gwa >"$LAB_DIR/up-gw.txt" 2>&1 ||
    compose_fail "up gwa (pbx, gwb, gwa healthy): $(tail -n 5 "$LAB_DIR/up-gw.txt")"
lab_log "pbx, gwb, gwa up and healthy in $(since "$t")"
gwb_pid=$(docker inspect -f '{{.State.Pid}}' "${PROJECT}_gwb_1") && [ "$gwb_pid" -gt 0 ] ||
    compose_fail "no PID for gwb"
capture lo "$LAB_DIR/gwb-lo.pcapng" nsenter -t "$gwb_pid" -n
dc exec -T gwa sipsgate status >"$LAB_DIR/gwa-status-before.txt" 2>&1 ||
    compose_fail "sipsgate status in gwa: $(cat "$LAB_DIR/gwa-status-before.txt")"
grep '(connect target)' "$LAB_DIR/gwa-status-before.txt" >&2

# The call.
t=$(date +%s)
dc up -d phone-b phone-a >"$LAB_DIR/up-phones.txt" 2>&1 ||
    compose_fail "up phone-b phone-a: $(tail -n 5 "$LAB_DIR/up-phones.txt")"
codes=$(timeout 90 docker wait "${PROJECT}_phone-a_1" "${PROJECT}_phone-b_1" | tr '\n' ' ') ||
    compose_fail "the phones did not finish within 90 s"
dc logs --no-color phone-a phone-b >"$LAB_DIR/phones.log" 2>&1
grep -h 'phone ' "$LAB_DIR/phones.log" >&2
[ "$codes" = "0 0 " ] || compose_fail "the phones exited with '$codes' (want 0 0)"
lab_log "call completed in $(since "$t")"
dc exec -T gwa sipsgate status >"$LAB_DIR/gwa-status.txt" 2>&1 ||
    compose_fail "sipsgate status in gwa after the call"
dc exec -T gwb sipsgate status >"$LAB_DIR/gwb-status.txt" 2>&1 || true
lab_capture_stop

# What the phones sent, and the call's Call-ID, from the volume "calls".
for f in alice/media-a.raw bob/media-b.raw alice/call-id; do
	docker cp "${PROJECT}_phone-a_1:/calls/$f" "$LAB_DIR/$(basename "$f")" ||
	    compose_fail "cannot copy /calls/$f out of phone-a"
done
callid=$(cat "$LAB_DIR/call-id")
[ -n "$callid" ] || lab_fail "no Call-ID recorded by the caller"

# 5. Proof.
st() { awk -v k="$2" '$1 == k { print $2; exit }' "$1"; }
s=$LAB_DIR/gwa-status.txt
echo "gwa after the call:"
grep -E '^ *(calls_|srtp_|rtp_)' "$s"
[ "$(st "$s" calls_srtp)" -ge 2 ] 2>/dev/null ||
    lab_fail "gwa calls_srtp $(st "$s" calls_srtp), want >= 2 (two crossings)"
[ "$(st "$s" calls_active)" = 0 ] || lab_fail "gwa calls_active $(st "$s" calls_active) after the BYE"
python3 "$LAB_LIB_DIR/media_verdict.py" check --phones "$LAB_DIR/phones.pcapng" \
    --wan "$LAB_DIR/wan.pcapng" --plain "$LAB_DIR/gwb-lo.pcapng" \
    --call "answer:$callid:$LAB_DIR/media-a.raw:$LAB_DIR/media-b.raw" \
    --status "$s" ||
    lab_fail "the audio is not what the phones sent, or not only SRTP crossed the WAN"
python3 "$LAB_LIB_DIR/wan_verdict.py" "$LAB_DIR/wan.pcapng" --udp-allowed ||
    lab_fail "the WAN's TCP streams are not only TLS"
f='sip.Request-Line || sip.Status-Line'
lan=$(tshark -r "$LAB_DIR/phones.pcapng" -Y "$f" 2>/dev/null | wc -l)
sip=$(tshark -r "$LAB_DIR/wan.pcapng" -d tcp.port==5061,sip -Y "$f" 2>/dev/null | wc -l)
tls=$(tshark -r "$LAB_DIR/wan.pcapng" -Y tls 2>/dev/null | wc -l)
echo "phones' LAN: $lan SIP frames; WAN: $tls TLS frames, $sip frames that parse as SIP"
[ "$lan" -ge 10 ] || lab_fail "the SIP detector saw only $lan SIP frames on the phones' LAN"
[ "$tls" -gt 0 ] && [ "$sip" = 0 ] || lab_fail "WAN: $tls TLS frames, $sip plain SIP frames"
n=$(tshark -r "$LAB_DIR/pbx-lan.pcapng" -Y 'udp && !sip' 2>/dev/null | wc -l)
echo "PBX LAN: $n non-SIP datagrams"
[ "$n" = 0 ] || lab_fail "$n non-SIP datagrams on the PBX LAN"
lab_log "verdicts done; $(since "$T0") so far"
lab_pass
