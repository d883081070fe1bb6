#!/bin/sh
# lab/docker/phone.sh: one sipp phone of the compose lab, run the way
# tests/lab/lib.sh (lab_sipp, lab_call_start) runs the namespace lab's
# phones, with the scenarios of tests/lab/sipp/.
#
# Environment (set in lab/docker/compose.yaml):
#   PHONE_ROLE      callee: registers, answers one call (media_uas.xml)
#                   caller: waits for the callee, registers, calls
#                   PHONE_CALLEE (media_uac.xml), hangs up after 3.5 s
#   PHONE_USER      own user name (alice, bob)
#   PHONE_IP        own address (sipp -i), as in compose.yaml
#   PHONE_PROXY     where every request goes: gwa, 198.18.1.1:5060
#   PHONE_CALLEE    the user the caller calls
#   PHONE_DOMAIN    SIP domain (default pbx.lab.test)
#   PHONE_SCENARIO  another scenario of tests/lab/sipp/ (default by role)
#   PHONE_CALLS     the shared directory (default /calls)
#   PHONE_SIPP_DIR  the scenarios (default /usr/share/sipsgate-lab/sipp)
#
# The two phones share the volume /calls. Caller and callee must give sipp
# the same -cid_str (see tests/lab/sipp/reg_uac.xml): the callee picks one,
# and once its REGISTER got its 200 it writes it to /calls/ready; the
# caller waits for that file (at most 60 s, written less than 15 s ago),
# takes it and starts. Each phone's sipp files are in /calls/USER/:
# sipp.log (screen), USER.msg (every message), USER.err, USER.actions,
# call-id (the INVITE's Call-ID, for tests/lab/test_lab_compose.sh).
# Exit status: sipp's (0 = the call completed).
set -eu

role=${PHONE_ROLE:?PHONE_ROLE (caller or callee)}
user=${PHONE_USER:?PHONE_USER}
ip=${PHONE_IP:?PHONE_IP}
proxy=${PHONE_PROXY:?PHONE_PROXY}
domain=${PHONE_DOMAIN:-pbx.lab.test}
calls=${PHONE_CALLS:-/calls}
scen_dir=${PHONE_SIPP_DIR:-/usr/share/sipsgate-lab/sipp}
case $role in
callee) scen=${PHONE_SCENARIO:-media_uas} ;;
caller) scen=${PHONE_SCENARIO:-media_uac}; : "${PHONE_CALLEE:?PHONE_CALLEE}" ;;
*) echo "phone: PHONE_ROLE must be caller or callee, not '$role'" >&2; exit 2 ;;
esac

dir=$calls/$user
mkdir -p "$dir"
cd "$dir"
rm -f "$user.msg" "$user.err" "$user.actions" sipp.log call-id

# 150 RTP payloads of 160 bytes (3 s of PCMU at 20 ms), readable text, so
# that a capture shows at once whether audio crossed a link in the clear:
# "sipsgate compose lab: alice packet 007 ...". The scenarios read
# media-a.raw (caller) and media-b.raw (callee) from the working directory.
payload() {
	awk -v l="sipsgate compose lab: $2" 'BEGIN {
		for (i = 0; i < 150; i++) {
			s = sprintf("%s packet %03d ", l, i)
			while (length(s) < 160) s = s "."
			printf "%s", substr(s, 1, 160)
		}
	}' >"$1"
}
payload media-a.raw "$user"
payload media-b.raw "$user"

# sipp as lab_sipp starts it: media port 10000 + 10 * last octet.
last=${ip##*.}
run_sipp() {	# run_sipp CID [ARGS...]
	cid=$1; shift
	# The scenarios' INVITE carries Call-ID "call///CID" (reg_uac.xml).
	echo "call///$cid" >"$dir/call-id"
	sipp -sf "$scen_dir/$scen.xml" -i "$ip" -p 5060 -mp $((10000 + 10 * last)) \
		-m 1 -nostdin -key user "$user" -key domain "$domain" \
		-cid_str "$cid" -timeout 60s -timeout_error \
		-trace_msg -message_file "$dir/$user.msg" \
		-trace_err -error_file "$dir/$user.err" \
		-trace_logs -log_file "$dir/$user.actions" \
		"$@" "$proxy" >"$dir/sipp.log" 2>&1
}

verdict() {	# verdict RC
	if [ "$1" = 0 ]; then
		echo "phone $user ($role): call completed"
	else
		echo "phone $user ($role): sipp exit $1; last lines of $dir:" >&2
		tail -n 20 "$dir/sipp.log" "$dir/$user.err" 2>/dev/null >&2 || true
	fi
	exit "$1"
}

if [ "$role" = callee ]; then
	rm -f "$calls/ready"
	cid=compose-$(date +%s)-$$
	echo "phone $user: registering through $proxy, waiting for a call (Call-ID base $cid)"
	run_sipp "$cid" &
	pid=$!
	i=0
	while [ $i -lt 100 ]; do
		if grep -q '^registered' "$user.actions" 2>/dev/null; then
			echo "$cid" >"$calls/ready.tmp" && mv "$calls/ready.tmp" "$calls/ready"
			echo "phone $user: registered"
			break
		fi
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
		i=$((i + 1))
	done
	rc=0
	wait "$pid" || rc=$?
	verdict "$rc"
fi

# caller
echo "phone $user: waiting for $PHONE_CALLEE to register"
i=0
cid=
while [ $i -lt 600 ]; do
	mtime=$(stat -c %Y "$calls/ready" 2>/dev/null) || mtime=0
	if [ $(($(date +%s) - mtime)) -lt 15 ] &&
	    cid=$(cat "$calls/ready" 2>/dev/null) && [ -n "$cid" ]; then
		rm -f "$calls/ready"
		break
	fi
	cid=
	sleep 0.1
	i=$((i + 1))
done
[ -n "$cid" ] || { echo "phone $user: $PHONE_CALLEE did not register within 60 s" >&2; exit 1; }
echo "phone $user: calling $PHONE_CALLEE through $proxy"
rc=0
run_sipp "$cid" -s "$PHONE_CALLEE" || rc=$?
verdict "$rc"
