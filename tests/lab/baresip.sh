# shellcheck shell=bash
# tests/lab/baresip.sh — baresip 1.0.0 as a headless SIPS + SDES-SRTP phone in
# the lab (source after lib.sh).
#
#   lab_baresip_conf NAME USER ADDR PROXY WAV [EXTRA ACCOUNT PARAMS]
#                               write $LAB_DIR/NAME/{config,accounts}
#   lab_baresip_start NS NAME   run it in NS (log $LAB_DIR/NAME.log, events
#                               and command answers $LAB_DIR/NAME-events.log)
#   lab_baresip_cmd NAME CMD [PARAMS]       one ctrl_tcp command
#   lab_baresip_wait_event NAME TYPE [N] [TIMEOUT]
#   lab_baresip_take_dumps NAME PREFIX      the last call's audio dumps
#   lab_baresip_stop NAME                   quit (un-REGISTER), then stop
#
# What it runs (PEERS.md, baresip): modules g711 (PCMU/PCMA: the libre
# G.711 tables), srtp (SDES: mediaenc=srtp-mand = RTP/SAVP with a=crypto,
# no plain fallback), aufile (audio source: an 8 kHz mono S16 WAV; the
# ausine source does not work headless), aubridge (a player that needs no
# sound card), sndfile (writes what it encodes and what it decodes to
# $LAB_DIR/NAME/dump-TIME-enc.wav / -dec.wav, one pair per call), account,
# menu (the commands), ctrl_tcp (commands and events over TCP on
# 127.0.0.1:$LAB_BARESIP_CTRL, default 4444, inside NS).  SIP: one account
# sip:USER@pbx.lab.test over TLS through the outbound proxy PROXY
# (ip:port), with the client certificate $LAB_CERTS/USER.pem (key + cert,
# certs/sipsgate-certs phone) and the lab CA as sip_cafile; it listens on
# ADDR:5060 (UDP/TCP) and, baresip's rule, TLS on ADDR:5061 (sip_listen port
# + 1): Kamailio opens its requests to the Contact there.  net_interface
# ADDR pins the address it puts into SDP; RTP on ports 30000-30999, RTCP on
# port + 1 (no rtcp-mux).  answermode=auto: it answers every call.
# Started with -s (SIP trace into the log) and -v.

LAB_BARESIP_CTRL=${LAB_BARESIP_CTRL:-4444}

lab_baresip_conf() {
	local name=$1 user=$2 addr=$3 proxy=$4 wav=$5 extra=${6:-}
	local d=$LAB_DIR/$name c=${LAB_CERTS:-$LAB_DIR/certs}
	mkdir -p "$d"
	[ -r "$c/$user.pem" ] || lab_fail "baresip $name: no phone certificate $c/$user.pem"
	cat >"$d/config" <<EOC
# baresip 1.0.0, written by tests/lab/baresip.sh lab_baresip_conf
poll_method		epoll
sip_listen		$addr:5060
sip_certificate		$c/$user.pem
sip_cafile		$c/ca.crt
net_interface		$addr
call_local_timeout	30
call_max_calls		4
audio_path		$LAB_DIR
audio_source		aufile,$wav
audio_player		aubridge,$name
audio_alert		aubridge,$name-alert
audio_level		no
ausrc_format		s16
auplay_format		s16
auenc_format		s16
audec_format		s16
audio_buffer		20-160
rtp_ports		30000-30999
rtp_tos			0
rtcp_mux		no
jitter_buffer_delay	5-10
rtp_stats		yes
module_path		/usr/lib/baresip/modules
module			g711.so
module			aufile.so
module			aubridge.so
module			sndfile.so
module			srtp.so
module_tmp		account.so
module_app		menu.so
module_app		ctrl_tcp.so
ctrl_tcp_listen		127.0.0.1:$LAB_BARESIP_CTRL
snd_path		$d
EOC
	echo "<sip:$user@pbx.lab.test;transport=tls>;outbound=\"sip:$proxy;transport=tls\";mediaenc=srtp-mand;answermode=auto;audio_codecs=PCMU/8000/1;regint=600${extra}" \
		>"$d/accounts"
}

lab_baresip_start() {
	local ns=$1 name=$2 i
	lab_start "$ns" "$name" baresip -f "$LAB_DIR/$name" -s -v
	for i in $(seq 1 50); do
		grep -q 'baresip is ready' "$LAB_DIR/$name.log" 2>/dev/null && break
		kill -0 "${LAB_PID_OF[$name]}" 2>/dev/null || lab_fail "baresip $name died at start"
		sleep 0.1
	done
	grep -q 'baresip is ready' "$LAB_DIR/$name.log" || lab_fail "baresip $name not ready after 5 s"
	rm -f "$LAB_DIR/$name.ctl"
	lab_start "$ns" "$name-events" python3 "$LAB_LIB_DIR/baresip_ctl.py" \
		"127.0.0.1:$LAB_BARESIP_CTRL" serve "$LAB_DIR/$name.ctl"
	for i in $(seq 1 50); do
		grep -q '"connected"' "$LAB_DIR/$name-events.log" 2>/dev/null && return 0
		sleep 0.1
	done
	lab_fail "baresip $name: no ctrl_tcp connection after 5 s"
}

# lab_baresip_cmd NAME COMMAND [PARAMS] — one command (dial, hangup,
# callstat, ...) through the connection lab_baresip_start holds (ctrl_tcp
# keeps only one); prints baresip's answer, returns 0 if it said ok, 1 if
# not, 2 if no answer came within 5 s.
LAB_BARESIP_SEQ=0
lab_baresip_cmd() {
	local name=$1 tok i line; shift
	LAB_BARESIP_SEQ=$((LAB_BARESIP_SEQ + 1))
	tok=$LAB_PFX-$LAB_BARESIP_SEQ
	echo "$tok $*" >"$LAB_DIR/$name.ctl"
	for i in $(seq 1 50); do
		line=$(grep -F "\"token\": \"$tok\"" "$LAB_DIR/$name-events.log" 2>/dev/null)
		if [ -n "$line" ]; then
			python3 -c 'import json, sys; m = json.loads(sys.argv[1]); sys.stdout.write(m.get("data", "")); sys.exit(0 if m.get("ok") else 1)' "$line"
			return
		fi
		sleep 0.1
	done
	return 2
}

# lab_baresip_wait_event NAME TYPE [N] [TIMEOUT] — wait until NAME has sent
# at least N (default 1) events of TYPE (CALL_ESTABLISHED, CALL_CLOSED, ...)
# since it started; fails after TIMEOUT seconds (default 15) with return 1.
lab_baresip_wait_event() {
	local name=$1 type=$2 n=${3:-1} t=${4:-15} i
	for ((i = 0; i < t * 10; i++)); do
		[ "$(grep -c "\"type\": \"$type\"" "$LAB_DIR/$name-events.log" 2>/dev/null)" -ge "$n" ] &&
			return 0
		sleep 0.1
	done
	return 1
}

# lab_baresip_take_dumps NAME PREFIX — move the sndfile dumps of the call that
# just ended to $LAB_DIR/PREFIX-enc.wav (what baresip encoded and sent) and
# PREFIX-dec.wav (what it received and decoded); they are complete once the
# call is closed (libsndfile writes the WAV header at close).
lab_baresip_take_dumps() {
	local name=$1 prefix=$2 k f i
	for k in enc dec; do
		f=
		for i in $(seq 1 30); do
			f=$(ls "$LAB_DIR/$name"/dump-*-$k.wav 2>/dev/null | head -n 1)
			[ -n "$f" ] && break
			sleep 0.1
		done
		[ -n "$f" ] || lab_fail "baresip $name wrote no $k dump"
		mv "$f" "$LAB_DIR/$prefix-$k.wav"
	done
}

# lab_baresip_stop NAME — "quit" (baresip un-REGISTERs first: call it while
# the registrar still runs), wait up to 3 s, then lab_stop.
lab_baresip_stop() {
	local name=$1 pid=${LAB_PID_OF[$1]:-} i
	[ -n "$pid" ] || return 0
	# Straight into the FIFO: it may exit before it answers.
	echo "$LAB_PFX-quit quit" >"$LAB_DIR/$name.ctl"
	for i in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	lab_stop "$name"
	lab_stop "$name-events"
}
