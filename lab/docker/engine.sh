#!/usr/bin/env bash
# lab/docker/engine.sh: a Docker engine of the compose lab's own (Debian's
# docker.io, dockerd 20.10), and the base image debian:12 made from
# Debian's archive when no registry is reachable. Used by
# tests/lab/test_lab_compose.sh; usable by hand (as root):
#
#   lab/docker/engine.sh start     # dockerd in the background; prints DOCKER_HOST=...
#   lab/docker/engine.sh base      # debian:12 if missing (debootstrap, docker import)
#   export DOCKER_HOST=unix:///run/sipsgate-lab/docker.sock
#   docker-compose -f lab/docker/compose.yaml up -d --build ...
#   lab/docker/engine.sh stop      # stop that dockerd (images stay on disk)
#
# start: dockerd with its own data root (images kept between runs), exec
# root, socket and pidfile, so that it never meets a system engine. It
# changes nothing on the host's firewall or forwarding: --iptables=false,
# --ip-forward=false, --ip-masq=false, --bridge=none. (With its defaults,
# dockerd 20.10 turns on the host's net.ipv4.ip_forward and then sets the
# host's iptables FORWARD policy to DROP, which would break whatever else
# on the machine routes through the host.) The lab needs neither: its
# networks are internal, and image builds use the host's network
# (compose.yaml: build: network: host). Storage driver: dockerd's choice
# (overlay2 where the kernel has it); if dockerd does not start, once more
# with vfs. Exit 0 when the engine answers; 3 when dockerd cannot start
# (why, and the end of its log, on stderr).
#
# Environment:
#   SGLAB_DOCKER_ROOT     data root (default /var/lib/sipsgate-lab/docker)
#   SGLAB_DOCKER_RUN      exec root, socket, pidfile, log (default /run/sipsgate-lab)
#   SGLAB_STORAGE_DRIVER  force a storage driver (overlay2, vfs, ...)
#   SGLAB_MIRROR          Debian mirror for debootstrap (default: the host's
#                         first apt source, else http://deb.debian.org/debian)
#   DOCKER                the docker client (default /usr/bin/docker, Debian's)
set -euo pipefail

root=${SGLAB_DOCKER_ROOT:-/var/lib/sipsgate-lab/docker}
rundir=${SGLAB_DOCKER_RUN:-/run/sipsgate-lab}
sock=$rundir/docker.sock
pidfile=$rundir/dockerd.pid
log=$rundir/dockerd.log
host=unix://$sock
if [ -z "${DOCKER:-}" ]; then
	DOCKER=docker
	[ -x /usr/bin/docker ] && DOCKER=/usr/bin/docker
fi

dk() { DOCKER_HOST=$host "$DOCKER" "$@"; }

answers() { dk version --format '{{.Server.Version}}' >/dev/null 2>&1; }

# pid of the dockerd this script started, if it still runs
ours() {
	local pid
	pid=$(cat "$pidfile" 2>/dev/null) || return 1
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null &&
	    grep -q dockerd "/proc/$pid/comm" 2>/dev/null && echo "$pid"
}

launch() {	# launch [--storage-driver X]
	local pid i
	mkdir -p "$root" "$rundir"
	rm -f "$pidfile"
	# setsid: its own session, so that a test's process group ending
	# does not take it down before "stop" (which waits for it).
	setsid dockerd --data-root "$root" --exec-root "$rundir/exec" \
	    --pidfile "$pidfile" -H "$host" --group root \
	    --iptables=false --ip-forward=false --ip-masq=false \
	    --bridge=none "$@" >>"$log" 2>&1 </dev/null &
	pid=$!
	for ((i = 0; i < 300; i++)); do
		answers && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	return 1
}

start() {
	command -v dockerd >/dev/null ||
	    { echo "engine: dockerd is missing (apt-get install docker.io; ./run deps)" >&2; exit 2; }
	[ "$(id -u)" = 0 ] || { echo "engine: dockerd needs root" >&2; exit 3; }
	if ours >/dev/null && answers; then
		echo "DOCKER_HOST=$host"
		return 0
	fi
	mkdir -p "$rundir"
	: >"$log"
	if [ -n "${SGLAB_STORAGE_DRIVER:-}" ]; then
		launch --storage-driver "$SGLAB_STORAGE_DRIVER" || fail_start
	elif ! launch; then
		echo "engine: dockerd did not start with its own storage driver choice; trying vfs" >&2
		launch --storage-driver vfs || fail_start
	fi
	echo "engine: dockerd $(dk version --format '{{.Server.Version}}'), storage driver $(dk info --format '{{.Driver}}'), data root $root" >&2
	echo "DOCKER_HOST=$host"
}

fail_start() {
	local why
	why=$(grep -E '^failed to start daemon|level=fatal' "$log" | tail -n 1)
	echo "engine: dockerd cannot start here: ${why:-it exited or did not answer within 30 s}" >&2
	echo "engine: its errors ($log):" >&2
	grep -E 'level=(error|fatal)' "$log" | tail -n 10 >&2 || true
	exit 3
}

stop() {
	local pid i
	if pid=$(ours); then
		kill -TERM "$pid"
		for ((i = 0; i < 200; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			echo "engine: dockerd $pid still runs after 20 s; killing it" >&2
			kill -KILL "$pid" 2>/dev/null || true
			sleep 0.5
		fi
	fi
	unmount_ours
}

# What a stopped dockerd leaves mounted: its data root (mounted on itself)
# and the network namespace file under the exec root. Deepest first.
unmount_ours() {
	local m
	ours >/dev/null && return 0
	awk -v r="$root" -v x="$rundir/exec" '$5 == r || index($5, r "/") == 1 ||
	    index($5, x "/") == 1 { print $5 }' /proc/self/mountinfo | sort -r |
	while read -r m; do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
	done
}

# The host's Debian mirror (deb822 or one-line sources), as ./run finds it.
mirror() {
	local uri
	uri=${SGLAB_MIRROR:-}
	[ -n "$uri" ] || uri=$(awk '$1 == "URIs:" && $2 !~ /security/ { print $2; exit }' \
	    /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
	[ -n "$uri" ] || uri=$(awk '$1 == "deb" && $2 !~ /security/ { print $2; exit }' \
	    /etc/apt/sources.list 2>/dev/null || true)
	echo "${uri:-http://deb.debian.org/debian}"
}

base_dir=
base() {
	local uri t0
	answers || { echo "engine: no engine at $host (engine.sh start)" >&2; exit 3; }
	if dk image inspect debian:12 >/dev/null 2>&1; then
		echo "engine: debian:12 is there" >&2
		return 0
	fi
	command -v debootstrap >/dev/null ||
	    { echo "engine: debootstrap is missing (apt-get install debootstrap; ./run deps)" >&2; exit 2; }
	uri=$(mirror)
	base_dir=$(mktemp -d "${TMPDIR:-/tmp}/sglab-debian12.XXXXXX")
	trap 'rm -rf "$base_dir" "$base_dir.log"' EXIT
	local dir=$base_dir
	t0=$(date +%s)
	echo "engine: debian:12 is missing: debootstrap --variant=minbase bookworm from $uri" >&2
	if ! debootstrap --variant=minbase bookworm "$dir" "$uri" >"$dir.log" 2>&1; then
		echo "engine: debootstrap failed; the end of its log:" >&2
		tail -n 20 "$dir.log" >&2
		rm -f "$dir.log"
		exit 1
	fi
	rm -f "$dir.log"
	# What Debian's official images have: no service starts in a build
	# (policy-rc.d), no apt caches or translations kept in the layers.
	printf '#!/bin/sh\nexit 101\n' >"$dir/usr/sbin/policy-rc.d"
	chmod 0755 "$dir/usr/sbin/policy-rc.d"
	printf 'Acquire::Languages "none";\n' >"$dir/etc/apt/apt.conf.d/docker-no-languages"
	printf 'DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb || true"; };\nDir::Cache::pkgcache "";\nDir::Cache::srcpkgcache "";\n' \
	    >"$dir/etc/apt/apt.conf.d/docker-clean"
	rm -rf "$dir/var/cache/apt/archives/"*.deb "$dir/var/lib/apt/lists/"*
	tar --numeric-owner -C "$dir" -c . |
	    dk import --change 'CMD ["bash"]' - debian:12 >/dev/null
	echo "engine: debian:12 imported ($(dk image inspect --format '{{.Size}}' debian:12) bytes) in $(($(date +%s) - t0)) s" >&2
}

case "${1:-}" in
start)	start ;;
stop)	stop ;;
base)	base ;;
status)	if answers; then echo "engine: up at $host (pid $(ours || echo '?'))"; else echo "engine: down"; exit 1; fi ;;
env)	echo "export DOCKER_HOST=$host" ;;
*)	sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
