#!/usr/bin/env bash
# `sipsgate pair` in the lab (docs/pairing.md), from two fresh installs to a
# call through the pair, then the attacks, then revocation:
#   phones (sipp) -> gwa (client, joins) ==TLS==> gwb (server, pair = yes)
#                                                  -> Kamailio (UDP)
# Fresh installs: gwb's directory holds its own configuration with
# `pair = yes` and its own certificate (chain) and key, nothing about gwa;
# gwa's holds a global sipsgate.conf with `include = conf.d` and an empty
# conf.d: no certificate, no key, no service.
#
# Proved:
#  1. refused before the wire: a mistyped code (check character);
#  2. man in the middle: gwa is sent to a TLS-PSK server (gnutls-serv) that
#     knows the public id of gwa's code and the key of another valid code:
#     refused; nothing written on gwa; gwa's code still pending on gwb;
#  3. expired code (--ttl 2s): refused, counted (pair_expired), nothing
#     written on either side;
#  4. wrong code (right id, wrong secret, valid check character): refused,
#     and the right code is refused after it (one try), counted;
#  4b. a pairing session never carries SIP: a REGISTER sent over one gets
#     the pairing exchange's 400 and does not reach the proxy (msg_in);
#  5. the pairing: `pair offer` on gwb, `pair join` on gwa (two commands);
#     gwa reloads itself, its link comes up (mutual certificates: gwa's from
#     gwb's pairing CA, gwb's pinned and verified by gwa), and a call from
#     phone A to phone B crosses the pair; the WAN capture (pairing session
#     included) holds TLS only; the seconds are printed (README, pairing.md);
#  6. replayed code: refused, nothing written on either side;
#  7. `pair revoke gw-a.lab.test` on gwb: gwa's live link is closed at once
#     (pair_revoked_drops), its reconnections fail ("revoked"), no link;
#  8. with no daemon on the server, `pair offer` serves one pairing itself;
#     the daemon started afterwards trusts that peer (link up) and still
#     refuses the revoked one.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/gw.sh"

lab_init pairing
# Every TLS end in this test logs its keys (GnuTLS honours SSLKEYLOGFILE:
# the daemons, `sipsgate pair`, gnutls-cli/-serv), so that the WAN verdict
# can read every stream that carried anything, pairing sessions included.
export SSLKEYLOGFILE=$LAB_DIR/tls-keys.txt
lab_topology
lab_certs
A=$LAB_DIR/gwa
B=$LAB_DIR/gwb
CODE_RE='([0-9A-Z]{4}-){5}[0-9A-Z]{4}'

# Two fresh installs.
mkdir -p "$A/conf.d" "$B"
cat "$LAB_CERTS/gw-b.crt" "$LAB_CERTS/ca.crt" >"$B/gw-b.crt"
install -m 600 "$LAB_CERTS/gw-b.key" "$B/gw-b.key"
cat >"$B/sipsgate.conf" <<EOC
control = $LAB_DIR/gwb.sock
pair-dir = pair
[pbx]
accept = tls:$LAB_GWB_WAN:5061
accept = udp:$LAB_GWB_IN:5060
connect = udp:$LAB_PBX:5060
trusted = 198.18.3.0/24
cert = gw-b.crt
key = gw-b.key
pair = yes
EOC
cat >"$A/sipsgate.conf" <<EOC
control = $LAB_DIR/gwa.sock
pair-dir = pair
include = conf.d
EOC

# Every file of a directory with its checksum: "nothing written" is this
# listing unchanged.
snapshot() { (cd "$1" && find . -type f ! -name '*.sock' -exec sha256sum {} + | sort); }
gwa() { lab_exec gwa "$SIPSGATE" -c "$A/sipsgate.conf" "$@"; }
gwb() { lab_exec gwb "$SIPSGATE" -c "$B/sipsgate.conf" "$@"; }
counter() { lab_gw_status "$1" | awk -v k="$2" '$1 == k { print $2; exit }'; }
offer() {	# offer FILE ARGS...: a code from gwb into $LAB_DIR/FILE
	local f=$LAB_DIR/$1; shift
	gwb pair offer "$@" >"$f" 2>&1 || lab_fail "pair offer $*: $(cat "$f")"
	grep -oE "$CODE_RE" "$f" | head -1
}
# The code with its secret changed and a valid check character again.
wrong_secret() {
	python3 - "$1" <<'EOF'
import sys
A = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
c = sys.argv[1].replace("-", "")
s = list(c[:23]); s[12] = "A" if s[12] != "A" else "B"; s = "".join(s)
t, f = 0, 2
for ch in reversed(s):
    v = A.index(ch) * f; t += v // 32 + v % 32; f = 3 - f
s += A[(32 - t % 32) % 32]
print("-".join(s[i:i + 4] for i in range(0, 24, 4)))
EOF
}
# join CODE [URL]: gwa joins; its output in $LAB_DIR/join.out.
JOIN_ARGS=(--accept "udp:$LAB_GWA_IN:5060" --accept "tcp:$LAB_GWA_IN:5060"
	--trusted 198.18.1.0/24 --set "keepalive = 10")
join() {
	gwa pair join "${2:-sips://gw-b.lab.test:5061}" "$1" "${JOIN_ARGS[@]}" \
		${JOIN_EXTRA:-} >"$LAB_DIR/join.out" 2>&1
}
expect_refused() {	# expect_refused WHAT CODE [URL]
	local before_a before_b
	before_a=$(snapshot "$A"); before_b=$(snapshot "$B")
	if join "$2" "${3:-}"; then
		lab_fail "$1: pair join succeeded: $(cat "$LAB_DIR/join.out")"
	fi
	[ "$(snapshot "$A")" = "$before_a" ] || lab_fail "$1: gwa wrote files"
	[ "$(snapshot "$B")" = "$before_b" ] || lab_fail "$1: gwb wrote files"
	lab_log "$1: refused, nothing written: $(head -1 "$LAB_DIR/join.out")"
}

lab_kamailio pbx pbx-udp
lab_capture_start gwa wan "$LAB_DIR/wan.pcapng"
lab_capture_start pbx lan "$LAB_DIR/pbx-lan.pcapng"
lab_gw_start gwb gwb "$B/sipsgate.conf"
lab_gw_start gwa gwa "$A/sipsgate.conf"

# 1. A typo never leaves the machine.
code=$(offer offer-a.txt --ttl 5m)
[ -n "$code" ] || lab_fail "no code in: $(cat "$LAB_DIR/offer-a.txt")"
url=$(grep -oE 'sips://[^ ]+' "$LAB_DIR/offer-a.txt" | head -1)
[ "$url" = "sips://gw-b.lab.test:5061" ] || lab_fail "offer names $url"
last=${code: -1}; typo=${code%?}$([ "$last" = 0 ] && echo 1 || echo 0)
expect_refused "typo" "$typo"
grep -q 'mistyped' "$LAB_DIR/join.out" || lab_fail "typo: $(cat "$LAB_DIR/join.out")"

# 2. Man in the middle with another code.
mcode=$(offer offer-m.txt --name mallory.lab.test)
key=$(python3 -c "import hashlib,sys; print(hashlib.sha256(b'sipsgate pairing code v1:' + sys.argv[1].replace('-', '').encode()).hexdigest())" "$mcode")
echo "sipsgate-pair-${code:0:4}:$key" >"$LAB_DIR/mitm.psk"
lab_start gwb mitm gnutls-serv --port 5098 --pskpasswd "$LAB_DIR/mitm.psk" \
	--priority 'NORMAL:+ECDHE-PSK:+DHE-PSK' --echo
lab_wait_port gwb tcp 5098
expect_refused "man in the middle" "$code" "sips://$LAB_GWB_WAN:5098"
lab_stop mitm
grep -q 'Error in handshake' "$LAB_DIR/mitm.log" ||
	lab_fail "the MITM saw no failed handshake"
gwb pair list | grep -q "pending code ${code:0:4}-" ||
	lab_fail "gwa's code is gone from gwb after the MITM"

# 3. An expired code.
ecode=$(offer offer-e.txt --name late.lab.test --ttl 2s)
sleep 3
expect_refused "expired code" "$ecode"
[ "$(counter gwb pair_expired)" = 1 ] || lab_fail "pair_expired != 1"

# 4. A wrong code voids the right one.
wcode=$(offer offer-w.txt --name w.lab.test)
expect_refused "wrong code" "$(wrong_secret "$wcode")"
expect_refused "right code after a wrong one" "$wcode"
n=$(counter gwb pair_refused)
[ "$n" -ge 2 ] || lab_fail "pair_refused $n, want >= 2"

# 4b. A pairing session never carries SIP: a REGISTER sent over one (with
# a valid code) gets the pairing protocol's 400, and reaches nothing.
scode=$(offer offer-s.txt --name sip.lab.test)
skey=$(python3 -c "import hashlib,sys; print(hashlib.sha256(b'sipsgate pairing code v1:' + sys.argv[1].replace('-', '').encode()).hexdigest())" "$scode")
msg0=$(counter gwb msg_in)
{ printf 'REGISTER sip:pbx.lab.test SIP/2.0\r\nVia: SIP/2.0/TLS 198.18.2.1:5061;branch=z9hG4bK-pair\r\nFrom: <sip:eve@pbx.lab.test>;tag=1\r\nTo: <sip:eve@pbx.lab.test>\r\nCall-ID: pair-sip@lab\r\nCSeq: 1 REGISTER\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n'; sleep 1; } |
	lab_exec gwa timeout 10 gnutls-cli --pskusername "sipsgate-pair-${scode:0:4}" \
		--pskkey "$skey" --priority 'NORMAL:-KX-ALL:+ECDHE-PSK' \
		-p 5061 "$LAB_GWB_WAN" >"$LAB_DIR/psk-sip.out" 2>&1
grep -q 'SIPSGATE-PAIR/1 400' "$LAB_DIR/psk-sip.out" ||
	lab_fail "SIP over a pairing session: $(cat "$LAB_DIR/psk-sip.out")"
[ "$(counter gwb msg_in)" = "$msg0" ] || lab_fail "SIP over a pairing session reached the proxy"
lab_log "SIP over a pairing session: answered 400 by the pairing exchange, msg_in unchanged"

# 5. The pairing, timed from the offer to the end of the first call.
t0=$(date +%s.%N)
code=$(offer offer-a2.txt --name gw-a.lab.test --ttl 15m)
t1=$(date +%s.%N)
join "$code" || lab_fail "pair join: $(cat "$LAB_DIR/join.out")"
t2=$(date +%s.%N)
cat "$LAB_DIR/join.out"
lab_gw_wait_link gwa
t3=$(date +%s.%N)
lab_call phones $LAB_GWA_IN:5060 alice $LAB_PHONE_A bob $LAB_PHONE_B caller ||
	lab_fail "call alice -> bob through the new pair failed"
t4=$(date +%s.%N)
conf=$A/conf.d/pair-gw-b.lab.test.conf
for k in "cert = " "key = " "ca = " "verify = require" \
	"verify-name = gw-b.lab.test" "pin-sha256 = " "connect = tls:gw-b.lab.test:5061"; do
	grep -q "^$k" "$conf" || lab_fail "$conf has no '$k'"
done
keyf=$(awk '$1 == "key" { print $3 }' "$conf")
[ "$(stat -c %a "$keyf")" = 600 ] || lab_fail "$keyf is not 0600"
[ "$(stat -c %a "$B/pair/ca.key")" = 600 ] || lab_fail "the pairing CA key is not 0600"
lab_gw_status gwa | grep '(connect target)' | grep -q "CN=gw-b.lab.test" ||
	lab_fail "gwa's link is not to gw-b"
lab_gw_status gwb | grep -q "CN=gw-a.lab.test" || lab_fail "gwb sees no gw-a link"
[ "$(counter gwb pair_ok)" = 1 ] || lab_fail "pair_ok != 1"
awk -v a="$t0" -v b="$t1" -v c="$t2" -v d="$t3" -v e="$t4" 'BEGIN {
	printf "PAIRING: 2 commands (pair offer, pair join); %.2f s offer, %.2f s join and reload, %.2f s from the offer to the link up, %.2f s to the end of the first call\n", b - a, c - b, d - a, e - a }' | tee "$LAB_DIR/pairing-time.txt"

# 6. The same code again (as another service: it reaches the server).
JOIN_EXTRA="--service again" expect_refused "replayed code" "$code"
grep -q 'refused the code' "$LAB_DIR/join.out" || lab_fail "replay: $(cat "$LAB_DIR/join.out")"

# 7. Revocation: the live link drops, and stays down.
drops0=$(counter gwb pair_revoked_drops)
fail0=$(counter gwb hs_fail_server)
gwb pair revoke gw-a.lab.test | tee "$LAB_DIR/revoke.out"
grep -q "1 live link closed" "$LAB_DIR/revoke.out" || lab_fail "revoke: $(cat "$LAB_DIR/revoke.out")"
[ "$(counter gwb pair_revoked_drops)" = $((drops0 + 1)) ] || lab_fail "pair_revoked_drops"
sleep 3.5
lab_gw_status gwb | grep -q "CN=gw-a.lab.test" && lab_fail "gw-a still has a link to gwb"
lab_gw_status gwa | grep '(connect target)' | grep -q ' up ' &&
	lab_fail "gwa's link is up again after the revocation"
n=$(counter gwb hs_fail_server)
[ "$n" -gt "$fail0" ] || lab_fail "gwa did not try again, or was not refused"
grep -q 'revoked' "$LAB_DIR/gwb.log" || lab_fail "gwb logged no revocation refusal"

# 8. No daemon on the server: `pair offer` serves one pairing itself on the
# service's TLS address; the daemon, started again, trusts the new peer and
# still refuses the revoked one (its CRL is a file).
lab_stop gwb
lab_start gwb solo "$SIPSGATE" -c "$B/sipsgate.conf" pair offer --name gw-c.lab.test --ttl 1m
for i in $(seq 1 50); do
	scode=$(grep -oE "$CODE_RE" "$LAB_DIR/solo.log" | head -1)
	[ -n "$scode" ] && break
	sleep 0.1
done
[ -n "$scode" ] || lab_fail "standalone pair offer printed no code"
gwa pair join sips://gw-b.lab.test:5061 "$scode" --service solo \
	--accept "udp:$LAB_GWA_IN:5070" >"$LAB_DIR/join.out" 2>&1 ||
	lab_fail "join (standalone): $(cat "$LAB_DIR/join.out")"
lab_wait solo 10 || lab_fail "standalone pair offer did not exit 0"
[ -f "$B/pair/peers/gw-c.lab.test.crt" ] || lab_fail "no record of gw-c"
lab_gw_start gwb gwb "$B/sipsgate.conf"
for i in $(seq 1 100); do
	lab_gw_status gwb | grep -q "CN=gw-c.lab.test" && break
	sleep 0.1
done
lab_gw_status gwb | grep -q "CN=gw-c.lab.test" || lab_fail "gw-c has no link after the daemon's start"
lab_gw_status gwb | grep -q "CN=gw-a.lab.test" && lab_fail "revoked gw-a has a link after the daemon's start"
lab_log "standalone pairing: gw-c paired with no daemon, its link up once the daemon runs; gw-a still refused"
lab_capture_stop

# The whole WAN, pairing sessions included, carried TLS only.
lab_wan_only_tls "$LAB_DIR/wan.pcapng" "$LAB_DIR/pbx-lan.pcapng" "the PBX LAN"
lab_pass
