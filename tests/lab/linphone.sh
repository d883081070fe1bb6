# shellcheck shell=bash
# tests/lab/linphone.sh — linphone 5.1 (Debian linphone-cli: linphonec,
# belle-sip, mbedTLS) as a headless SIPS + SDES-SRTP softphone in the lab
# (source after lib.sh).
#
#   lab_linphone_conf NAME USER PROXY SIP_PORT RTP_PORT
#                               write $LAB_DIR/NAME/rc: account USER@pbx.lab.test
#                               over TLS to PROXY (a DNS name: linphone shows
#                               an IP SAN as <unsupported>), client
#                               certificate $LAB_CERTS/USER.{crt,key}, the
#                               lab CA, server certificate and name verified,
#                               SRTP (SDES) mandatory, PCMU only, no video
#   lab_linphone_start NS NAME  run it in NS with auto answer; commands go
#                               through $LAB_DIR/NAME.in (a FIFO), what it
#                               prints to $LAB_DIR/NAME.out, its debug log
#                               (SIP messages) to $LAB_DIR/NAME.log
#   lab_linphone_cmd NAME CMD   one linphonec command line
#   lab_linphone_wait NAME ERE [N] [TIMEOUT]
#                               wait until NAME.out has N lines matching ERE
#
# PEERS.md traps: linphonec wants a terminal (script -qfec gives it a pty);
# it creates no SIP listening point unless its namespace has a default route;
# `soundcard use files` makes it play the WAV given by `play` (16-bit) and
# record what it receives into the WAV given by `record`; TLS 1.2 only.
# HOME is $LAB_DIR/NAME so that its call-log database stays in the lab.

lab_linphone_conf() {
	local name=$1 user=$2 proxy=$3 sport=$4 rport=$5
	local d=$LAB_DIR/$name c=${LAB_CERTS:-$LAB_DIR/certs}
	mkdir -p "$d/.local/share/linphone"	# its call-log database
	[ -r "$c/$user.crt" ] || lab_fail "linphone $name: no certificate $c/$user.crt"
	cat >"$d/rc" <<EOC
[sip]
sip_port=-1
sip_tcp_port=-1
sip_tls_port=$sport
default_proxy=0
media_encryption=srtp
media_encryption_mandatory=1
verify_server_certs=1
verify_server_cn=1
root_ca=$c/ca.crt
client_cert_chain=$c/$user.crt
client_cert_key=$c/$user.key
guess_hostname=1
inc_timeout=60
in_call_timeout=0
delayed_timeout=30
use_ipv6=0

[net]
firewall_policy=0
mtu=1300

[rtp]
audio_rtp_port=$rport
audio_jitt_comp=60
nortp_timeout=30
rtcp_mux=0

[sound]
echocancellation=0
mic_gain_db=0
playback_gain_db=0

[video]
enabled=0
display=0
capture=0

[misc]
enable_basic_to_client_group_chat_room_migration=0
hide_chat_rooms_from_removed_proxies=1

[proxy_0]
reg_proxy=<sip:$proxy;transport=tls>
reg_route=<sip:$proxy;transport=tls;lr>
reg_identity="$user" <sip:$user@pbx.lab.test>
reg_expires=600
reg_sendregister=1
publish=0
dial_escape_plus=0
quality_reporting_enabled=0
avpf=0

[audio_codec_0]
mime=PCMU
rate=8000
channels=1
enabled=1

[audio_codec_1]
mime=opus
rate=48000
channels=2
enabled=0

[audio_codec_2]
mime=speex
rate=8000
channels=1
enabled=0

[audio_codec_3]
mime=PCMA
rate=8000
channels=1
enabled=0

[audio_codec_4]
mime=GSM
rate=8000
channels=1
enabled=0

[audio_codec_5]
mime=speex
rate=16000
channels=1
enabled=0
EOC
}

lab_linphone_start() {
	local ns=$1 name=$2 d=$LAB_DIR/$2
	rm -f "$LAB_DIR/$name.in"
	mkfifo "$LAB_DIR/$name.in" || lab_fail "linphone $name: mkfifo"
	: >"$LAB_DIR/$name.out"
	# script(1) gives linphonec its pty. Its stdin is the FIFO opened
	# read-write: it never sees EOF, and each command is one short write.
	(cd "$d" && exec env HOME="$d" ip netns exec "$LAB_PFX-$ns" \
		script -qfec "linphonec -c $d/rc -d 6 -l $LAB_DIR/$name.log -a" \
		/dev/null) <>"$LAB_DIR/$name.in" >>"$LAB_DIR/$name.out" 2>&1 &
	LAB_PIDS+=("$!")
	LAB_PID_OF[$name]=$!
	lab_linphone_cmd "$name" "soundcard use files"
}

lab_linphone_cmd() {
	[ "${LAB_VERBOSE:-0}" = 1 ] && lab_log "linphone $1: $2"
	printf '%s\n' "$2" >"$LAB_DIR/$1.in"
}

lab_linphone_wait() {
	local name=$1 re=$2 n=${3:-1} t=${4:-10} i
	for ((i = 0; i < t * 10; i++)); do
		[ "$(tr -d '\r' <"$LAB_DIR/$name.out" | grep -cE "$re")" -ge "$n" ] &&
			return 0
		sleep 0.1
	done
	return 1
}
