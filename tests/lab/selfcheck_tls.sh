#!/bin/bash
# Lab self-check without sipsgate: Kamailio with pbx-tls.cfg (TLS 5061 only,
# client certificates required and verified against the lab CA) on pbx2 in
# lab_topology_direct; gnutls-cli in gwa plays the gateway's outside.
#   1. gw-a's certificate: handshake (name pbx.lab.test checked), REGISTER -> 200
#   2. no client certificate, rogue-CA certificate, expired certificate:
#      no REGISTER gets through
#   3. connection reuse: alice registers with Contact = her connection's own
#      source ip:port; a MESSAGE to alice (sent by bob on another connection)
#      comes back over alice's connection (PEERS.md: Kamailio reuses a TLS
#      connection only in that case)
#   4. informational: wrong-name certificate (Kamailio checks no names)
set -u
. "$(dirname "$0")/lib.sh"
lab_init tls
lab_certs
lab_topology_direct
lab_kamailio pbx2 pbx-tls kamailio

C=$LAB_CERTS
SRV=pbx.lab.test      # resolved by gwa's /etc/netns hosts to 198.18.2.10

# sip_msg METHOD RURI USER CONTACT_PORT CALLID -> a SIP request with CRLFs
sip_msg() {
	local m=$1 ruri=$2 user=$3 port=$4 cid=$5
	printf '%s %s SIP/2.0\r\n' "$m" "$ruri"
	printf 'Via: SIP/2.0/TLS %s:%s;branch=z9hG4bK-%s;rport\r\n' $LAB_GWA_WAN "$port" "$cid"
	printf 'Max-Forwards: 70\r\n'
	printf 'From: <sip:%s@pbx.lab.test>;tag=t%s\r\n' "$user" "$cid"
	if [ "$m" = REGISTER ]; then
		printf 'To: <sip:%s@pbx.lab.test>\r\n' "$user"
		printf 'Contact: <sip:%s@%s:%s;transport=tls>\r\nExpires: 300\r\n' "$user" $LAB_GWA_WAN "$port"
	else
		printf 'To: <%s>\r\n' "$ruri"
	fi
	printf 'Call-ID: %s@lab\r\nCSeq: 1 %s\r\nContent-Length: 0\r\n\r\n' "$cid" "$m"
}

# tls_once NAME CERT(or -) : one connection from gwa, send a REGISTER for
# NAME, wait 1.5 s for the answer; output in $LAB_DIR/tls-NAME.log
tls_once() {
	local name=$1 cert=$2 args=(--x509cafile "$C/ca.crt" -p 5061)
	[ "$cert" = - ] || args+=(--x509certfile "$C/$cert.crt" --x509keyfile "$C/$cert.key")
	{ sip_msg REGISTER sip:pbx.lab.test "$name" 5061 "$name-$RANDOM"; sleep 1.5; } |
		lab_exec gwa timeout 10 gnutls-cli "${args[@]}" $SRV >"$LAB_DIR/tls-$name.log" 2>&1
	return 0
}
got_200() { grep -q '^SIP/2.0 200' "$LAB_DIR/tls-$1.log"; }

# 1. the good certificate
tls_once good gw-a
grep -q 'Handshake was completed' "$LAB_DIR/tls-good.log" || lab_fail "handshake with gw-a's certificate failed"
got_200 good || lab_fail "REGISTER over TLS with gw-a's certificate got no 200"
lab_log "gw-a certificate: handshake ok, REGISTER 200"

# 2. refused clients
# (TLS 1.3: the alert reaches the client after its Finished, on first read)
for c in "nocert:-:Certificate is required" "rogue:rogue:CA is unknown" \
	"expired:expired:Certificate is expired"; do
	IFS=: read -r n cert alert <<<"$c"
	tls_once "$n" "$cert"
	got_200 "$n" && lab_fail "client with $n certificate was accepted (REGISTER 200)"
	grep -q "Received alert \[[0-9]*\]: $alert" "$LAB_DIR/tls-$n.log" ||
		lab_fail "$n: refused, but not with the alert '$alert'"
	lab_log "$n: refused with alert '$alert'"
done

# 3. connection reuse toward a registered TLS user
fifo=$LAB_DIR/alice.fifo
mkfifo "$fifo"
lab_start gwa tls-alice bash -c "exec timeout 30 gnutls-cli --x509cafile '$C/ca.crt' \
	--x509certfile '$C/gw-a.crt' --x509keyfile '$C/gw-a.key' -p 5061 $SRV <'$fifo'"
exec 3>"$fifo"
for i in $(seq 1 50); do
	grep -q 'Handshake was completed' "$LAB_DIR/tls-alice.log" && break
	sleep 0.1
done
grep -q 'Handshake was completed' "$LAB_DIR/tls-alice.log" || lab_fail "alice: no handshake"
port=$(lab_exec gwa ss -Htn state established dst $LAB_PBX2:5061 |
	awk '{print $3}' | sed 's/.*://' | head -1)
[ -n "$port" ] || lab_fail "alice: cannot find her connection's source port"
sip_msg REGISTER sip:pbx.lab.test alice "$port" "alice-$RANDOM" >&3
for i in $(seq 1 30); do grep -q '^SIP/2.0 200' "$LAB_DIR/tls-alice.log" && break; sleep 0.1; done
grep -q '^SIP/2.0 200' "$LAB_DIR/tls-alice.log" || lab_fail "alice: REGISTER from port $port got no 200"
lab_log "alice registered with Contact $LAB_GWA_WAN:$port (her connection)"
{ sip_msg MESSAGE sip:alice@pbx.lab.test bob 5061 "bob-$RANDOM"; sleep 1; } |
	lab_exec gwa timeout 10 gnutls-cli --x509cafile "$C/ca.crt" --x509certfile "$C/gw-b.crt" \
		--x509keyfile "$C/gw-b.key" -p 5061 $SRV >"$LAB_DIR/tls-bob.log" 2>&1
for i in $(seq 1 30); do grep -q "^MESSAGE sip:alice@$LAB_GWA_WAN:$port" "$LAB_DIR/tls-alice.log" && break; sleep 0.1; done
grep -q "^MESSAGE sip:alice@$LAB_GWA_WAN:$port" "$LAB_DIR/tls-alice.log" ||
	lab_fail "the MESSAGE to alice did not come back over her TLS connection"
lab_log "MESSAGE to alice came back over her own TLS connection"
exec 3>&-

# 4. informational
tls_once wrongname wrong-name
if got_200 wrongname; then lab_log "wrong-name client certificate: accepted (Kamailio checks no names, as PEERS.md says)"
else lab_log "wrong-name client certificate: refused"; fi

lab_pass
