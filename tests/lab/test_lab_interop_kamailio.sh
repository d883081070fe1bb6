#!/usr/bin/env bash
# Interop without the gateway pair (DESIGN §1: "one gateway must work on its
# own against any standard peer"):
#   phones (sipp, UDP) -> gwa (client) ==TLS==> Kamailio (tls module, TLS only)
# in lab_topology_direct (Kamailio on pbx2, 198.18.2.10:5061).
#
# Kamailio runs tests/lab/kamailio/pbx-tls.cfg: a plain registrar/proxy with no
# nathelper alias tricks and tcp_accept_aliases=no, requiring AND verifying
# the gateway's client certificate against the lab CA (tls.cfg
# [server:default], verify/require = yes).  Calls toward the phones are the
# gateway's job: it registers flow-token Contacts
# sip:sgw-...@198.18.2.1:5061;transport=tls and listens for TLS there, so
# Kamailio either reuses the gateway's connection or opens a new one to
# 198.18.2.1:5061 as a TLS client with the pbx certificate (tls.cfg
# [client:default]), which the gateway verifies (verify = require, lab CA).
#
# Shows: both phones register over TLS; A->B and B->A complete with BYE from
# either end; ul.dump has flow-token contacts with transport=tls; the WAN
# capture holds only TLS (and the same detector sees plain SIP on the LAN);
# `sipsgate status` lists the TLS connections with the peer's subject; which
# path Kamailio took toward the phones (tls_accepted) is printed.
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/gw.sh"

lab_init interop-kam
lab_certs
lab_topology_direct

C=$LAB_CERTS
lab_gw_direct_conf

lab_kamailio pbx2 pbx-tls kamailio
# The template must stay what this test claims: TLS only, client
# certificates required and verified, no alias tricks.
kcfg=$LAB_DIR/kamailio.cfg ktls=$LAB_DIR/kamailio-tls.cfg
grep -q '^tcp_accept_aliases=no' "$kcfg" || lab_fail "$kcfg: tcp_accept_aliases is not no"
grep -qE '^[^#]*(nathelper|set_contact_alias|handle_ruri_alias|add_path|fix_nated)' "$kcfg" &&
	lab_fail "$kcfg uses nathelper/alias/Path tricks"
[ "$(grep -c '^listen=' "$kcfg")" = 1 ] || lab_fail "$kcfg: more than one listen="
grep -q '^listen=tls:' "$kcfg" || lab_fail "$kcfg does not listen on TLS only"
awk '/^\[server:default\]/{s=1;next} /^\[/{s=0} s' "$ktls" >"$LAB_DIR/tls-server.txt"
awk '/^\[client:default\]/{s=1;next} /^\[/{s=0} s' "$ktls" >"$LAB_DIR/tls-client.txt"
for k in 'verify_certificate = yes' 'require_certificate = yes' "ca_list = $C/ca.crt"; do
	grep -qx "$k" "$LAB_DIR/tls-server.txt" || lab_fail "$ktls [server:default]: no '$k'"
done
for k in "certificate = $C/pbx.crt" "private_key = $C/pbx.key" "ca_list = $C/ca.crt" \
	'verify_certificate = yes'; do
	grep -qx "$k" "$LAB_DIR/tls-client.txt" || lab_fail "$ktls [client:default]: no '$k'"
done

# What Kamailio's tls module actually loaded (it logs it at start).
for k in 'TLSs<default>: Client MUST present valid certificate' \
	'TLSc<default>: Server MUST present valid certificate' \
	"TLSc<default>: certificate='$C/pbx.crt'"; do
	grep -qF "$k" "$LAB_DIR/kamailio.log" || lab_fail "kamailio.log: no '$k'"
done

lab_capture_start gwa wan "$LAB_DIR/wan.pcapng"
lab_capture_start gwa lan "$LAB_DIR/lan.pcapng"
# GnuTLS writes the session secrets of both the gateway's connections (client
# and server side) here, so the test can read the WAN afterwards and tell
# which connection carried what.  The all-TLS checks below run without it.
keys=$LAB_DIR/tls-keys.txt   # not *.log: lab_fail prints those
SSLKEYLOGFILE=$keys lab_gw_start gwa gwa "$LAB_DIR/gwa.conf"
lab_gw_wait_link gwa

lab_call phones $LAB_GWA_IN:5060 alice $LAB_PHONE_A bob $LAB_PHONE_B caller ||
	lab_fail "call alice -> bob (BYE by caller) failed"
lab_call phones $LAB_GWA_IN:5060 bob $LAB_PHONE_B alice $LAB_PHONE_A callee ||
	lab_fail "call bob -> alice (BYE by callee) failed"
lab_call phones $LAB_GWA_IN:5060 alice $LAB_PHONE_A bob $LAB_PHONE_B callee ||
	lab_fail "call alice -> bob (BYE by callee) failed"
lab_call phones $LAB_GWA_IN:5060 bob $LAB_PHONE_B alice $LAB_PHONE_A caller ||
	lab_fail "call bob -> alice (BYE by caller) failed"

# Kamailio's location table: both phones as flow tokens on TLS.
lab_kamcmd kamailio ul.dump >"$LAB_DIR/ul.dump" 2>&1 || lab_fail "kamcmd ul.dump failed"
for u in alice bob; do
	contacts=$(awk -v u="$u" '$1 == "AoR:" { on = ($2 == u) } on && $1 == "Address:" { print $2 }' \
		"$LAB_DIR/ul.dump")
	sockets=$(awk -v u="$u" '$1 == "AoR:" { on = ($2 == u) } on && $1 == "Socket:" { print $2 }' \
		"$LAB_DIR/ul.dump")
	sockets=$(echo "$sockets" | sort -u | paste -sd' ')
	[ -n "$contacts" ] || lab_fail "ul.dump: $u is not registered ($(cat "$LAB_DIR/ul.dump"))"
	while read -r ct; do
		echo "$ct" | grep -qE "^sip:sgw-[^@]+@$LAB_GWA_WAN:5061;transport=tls$" ||
			lab_fail "ul.dump: $u has contact $ct, want sip:sgw-...@$LAB_GWA_WAN:5061;transport=tls"
	done <<<"$contacts"
	[ "$sockets" = "tls:$LAB_PBX2:5061" ] ||
		lab_fail "ul.dump: $u was registered on socket(s) '$sockets', want tls:$LAB_PBX2:5061"
	lab_log "Kamailio location: $u -> $(echo "$contacts" | paste -sd' ')"
done

# Which path Kamailio took toward the phones.
lab_gw_status gwa >"$LAB_DIR/gwa.status" || lab_fail "sipsgate status failed"
acc=$(awk '$1 == "tls_accepted" { print $2; exit }' "$LAB_DIR/gwa.status")
con=$(awk '$1 == "tls_connected" { print $2; exit }' "$LAB_DIR/gwa.status")
if [ "${acc:-0}" -gt 0 ]; then
	path="opened $acc new TLS connection(s) to the Contact $LAB_GWA_WAN:5061 (as a TLS client, pbx certificate verified by the gateway)"
else
	path="reused the gateway's own connection"
fi
echo "Kamailio -> phones: $path (gwa tls_connected=$con tls_accepted=$acc)"
cat "$LAB_DIR/gwa.status"
grep -qE "connection [0-9]+ tls to $LAB_PBX2:5061 up .* peer '[^']*pbx\.lab\.test[^']*' \(connect target\)" \
	"$LAB_DIR/gwa.status" || lab_fail "status: no TLS connection to Kamailio with its subject"
if [ "${acc:-0}" -gt 0 ]; then
	grep -qE "connection [0-9]+ tls from $LAB_PBX2:[0-9]+ up .* peer '[^']*pbx\.lab\.test[^']*'" \
		"$LAB_DIR/gwa.status" || lab_fail "status: no accepted TLS connection from Kamailio with its subject"
	grep -q "tls connection .* from $LAB_PBX2:[0-9]* established: .*peer '[^']*pbx\.lab\.test" \
		"$LAB_DIR/gwa.log" || lab_fail "gwa accepted TLS but logged no verified pbx peer"
fi
for k in hs_fail_server hs_fail_client token_bad; do
	v=$(awk -v k=$k '$1 == k { print $2; exit }' "$LAB_DIR/gwa.status")
	[ "$v" = 0 ] || lab_fail "gwa $k = $v"
done

lab_capture_stop

cap=$LAB_DIR/wan.pcapng
lab_wan_only_tls "$cap" "$LAB_DIR/lan.pcapng" "gwa's LAN"

# Decrypted (gateway key log): which connection carried the requests Kamailio
# sent toward the phones, and where the gateway answered them.
tshark -r "$cap" -o "tls.keylog_file:$keys" -d tcp.port==5061,tls -Y sip \
	-T fields -E occurrence=f -e tcp.stream -e ip.src -e tcp.dstport \
	-e sip.Method -e sip.Status-Code -e sip.Via.branch -e sip.r-uri.user \
	2>/dev/null >"$LAB_DIR/wan-sip.txt"
[ -s "$LAB_DIR/wan-sip.txt" ] || lab_fail "cannot decrypt the WAN capture with $keys"
read -r inv_own inv_new req_new rsp_same rsp_other < <(awk -F "\t" -v k=$LAB_PBX2 -v g=$LAB_GWA_WAN '
	# requests from Kamailio; dstport 5061 = on a connection Kamailio opened
	$2 == k && $4 != "" {
		if ($7 ~ /^sgw-/) { if ($3 == 5061) inv_new++; else inv_own++ }
		if ($3 == 5061) { req_new++; want[$6] = $1 }
	}
	$2 == g && $5 != "" && ($6 in want) { if (want[$6] == $1) same++; else other++ }
	END { printf "%d %d %d %d %d\n", inv_own, inv_new, req_new, same, other }' \
	"$LAB_DIR/wan-sip.txt")
echo "Kamailio -> gateway: $inv_own INVITE(s) to a flow token on the gateway's connection, $inv_new on Kamailio's own new connection(s); $req_new request(s) in all on Kamailio's connection(s)"
[ $((inv_own + inv_new)) -eq 4 ] ||
	lab_fail "want 4 INVITEs from Kamailio to a flow token on the WAN, saw $((inv_own + inv_new))"
if [ "$req_new" -gt 0 ]; then
	echo "gateway's answers to them: $rsp_same on the connection the request came in on, $rsp_other on another connection"
	[ "$rsp_same" -gt 0 ] || lab_fail "no answer on the connection the requests came in on"
	[ "$rsp_other" -eq 0 ] ||
		lab_fail "the gateway answered $rsp_other request(s) over a different connection than the one they arrived on (RFC 3261 §18.2.2)"
fi
lab_pass
