#!/usr/bin/env python3
"""sipsgate's routing on the bytes (issue 8): Route stripping (repeated
entries, comma lists and rows, addresses, ports, certificate names), the
loop guard, Record-Route rows with flow tokens, rows of one header name kept
together, GRUU Contacts through registration and GRUU remote targets,
preloaded Route, flow tokens that name a TLS peer's identity across its
reconnection, and the keep-alive pong timeout.

One gateway on loopback: a UDP phone inside; outside, the TLS peer it
connects to (Python's ssl = OpenSSL, certificate pbx) and TLS clients that
connect to it (certificates alice and bob). Every check reads what crossed
the sockets."""
import os
import re
import socket
import ssl
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sipmsg import (stop_daemon, FAILURES, StreamPeer, UdpPhone, build, check,
                    die_with_parent, finish, free_ports, lab_certs,
                    response_to)

SIPSGATE = os.environ.get("SIPSGATE", "build/sipsgate")
SRC = os.environ.get("SG_SOURCE_DIR", ".")
KEEPALIVE = 4
SDP = (b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\n"
       b"t=0 0\r\nm=audio 4000 RTP/AVP 0\r\n")


def names(m):
    """Header names in order, as rows."""
    return [n.lower() for n, _ in m.headers]


def rows(m, name):
    return [v for n, v in m.headers if n.lower() == name.lower()]


class Env:
    pass


def main():
    tmp = tempfile.mkdtemp(prefix="sg-routing-")
    certs = lab_certs(tmp, SRC)
    e = Env()
    e.certs = certs
    e.p_in, e.p_out, e.p_peer, e.p_wild = free_ports(4)
    e.ctl = os.path.join(tmp, "ctl.sock")
    conf = os.path.join(tmp, "gw.conf")
    with open(conf, "w") as f:
        f.write(f"""control = {e.ctl}
log-level = debug
[gw]
accept = udp:127.0.0.1:{e.p_in}
accept = tls:127.0.0.1:{e.p_out}
accept = tcp:0.0.0.0:{e.p_wild}
connect = tls:127.0.0.1:{e.p_peer}
trusted = 127.0.0.0/8
cert = {certs}/gw-a.crt
key = {certs}/gw-a.key
ca = {certs}/ca.crt
verify = require
keepalive = {KEEPALIVE}
media = relay
rtp-ports = 33000-33099
""")
    e.sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    e.sctx.load_cert_chain(f"{certs}/pbx.crt", f"{certs}/pbx.key")
    e.sctx.load_verify_locations(f"{certs}/ca.crt")
    e.sctx.verify_mode = ssl.CERT_REQUIRED
    e.lsock = socket.socket()
    e.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    e.lsock.bind(("127.0.0.1", e.p_peer))
    e.lsock.listen(4)
    logpath = os.path.join(tmp, "sipsgate.log")
    log = open(logpath, "w")
    gw = subprocess.Popen([SIPSGATE, "-c", conf], stderr=log,
                          preexec_fn=die_with_parent)
    try:
        e.peer, e.tsock = accept_peer(e)
        e.phone = UdpPhone(e.p_in)
        tests(e)
        check(gw.poll() is None, "daemon still running")
    finally:
        stop_daemon(gw)
        log.close()
        if FAILURES:
            print(open(logpath).read()[-8000:])
    finish()


def accept_peer(e, timeout=5):
    e.lsock.settimeout(timeout)
    c, _ = e.lsock.accept()
    t = e.sctx.wrap_socket(c, server_side=True)
    return StreamPeer(t), t


def tls_client(e, user):
    """A TLS UA connecting to the gateway's outside with USER's certificate."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(f"{e.certs}/ca.crt")
    ctx.check_hostname = False
    ctx.load_cert_chain(f"{e.certs}/{user}.crt", f"{e.certs}/{user}.key")
    s = socket.create_connection(("127.0.0.1", e.p_out), timeout=3)
    t = ctx.wrap_socket(s)
    return StreamPeer(t), t


def status(e):
    out = subprocess.run([SIPSGATE, "-s", e.ctl, "status"],
                         capture_output=True, text=True).stdout
    return dict((k, int(v)) for k, v in re.findall(r"^\s+(\w+)\s+(\d+)$", out, re.M))


def phone_req(e, method, ruri, cid, extra=(), to_tag=None, body=b"",
              branch=None, cseq=1):
    ph = e.phone
    hdrs = [("Via", f"SIP/2.0/UDP 127.0.0.1:{ph.port};branch=z9hG4bK{branch or cid + method};rport"),
            ("Max-Forwards", "70"),
            ("From", f"<sip:alice@pbx.lab.test>;tag=a{cid}"),
            ("To", "<sip:bob@pbx.lab.test>" + (f";tag={to_tag}" if to_tag else "")),
            ("Call-ID", cid), ("CSeq", f"{cseq} {method}")]
    hdrs += list(extra)
    if body:
        hdrs.append(("Content-Type", "application/sdp"))
    return build(f"{method} {ruri} SIP/2.0", hdrs, body)


def tests(e):
    ph, peer = e.phone, e.peer
    P_IN, P_OUT = e.p_in, e.p_out

    # 1. Header placement and Record-Route rows. The phone's INVITE has two
    # Via rows and a Record-Route of a proxy before it, with other headers
    # in between; ours must sit right above the first row of each.
    inv = build(f"INVITE sip:bob@pbx.lab.test SIP/2.0", [
        ("Via", f"SIP/2.0/UDP 127.0.0.1:{ph.port};branch=z9hG4bKrr1;rport"),
        ("Via", "SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bKup1"),
        ("Max-Forwards", "70"),
        ("Record-Route", "<sip:proxy1.example.net;lr>"),
        ("From", "<sip:alice@pbx.lab.test>;tag=arr1"),
        ("To", "<sip:bob@pbx.lab.test>"), ("Call-ID", "rr1"),
        ("CSeq", "1 INVITE"),
        ("Contact", "<sip:alice@pbx.lab.test;gr=urn:uuid:0000-a1>"),
        ("Content-Type", "application/sdp")], SDP)
    ph.send(inv)
    m = peer.recv()
    check(m is not None and m.method == "INVITE", "INVITE crossed")
    if m is None:
        return
    n = names(m)
    check(n[:3] == ["via", "via", "via"] and n[3] == "max-forwards",
          f"our Via right above the Via rows, rows together: {n}")
    i = n.index("record-route")
    check(n[i:i + 3] == ["record-route"] * 3 and n.count("record-route") == 3,
          f"our two Record-Route rows right above the proxy's: {n}")
    rr = rows(m, "Record-Route")
    check(len(rr) == 3 and "," not in rr[0] and "," not in rr[1] and
          rr[2] == "<sip:proxy1.example.net;lr>",
          f"one entry per row, the proxy's last: {rr}")
    check(re.fullmatch(rf"<sip:sgw-[^@,]+@127\.0\.0\.1:{P_OUT};transport=tls;lr>", rr[0])
          is not None and re.fullmatch(rf"<sip:sgw-[^@,]+@127\.0\.0\.1:{P_IN};lr>", rr[1])
          is not None, f"outside entry on top, each with a flow token: {rr[:2]}")
    check(m.get("Contact") == "<sip:alice@pbx.lab.test;gr=urn:uuid:0000-a1>",
          "a GRUU Contact in an INVITE passes unchanged")
    # Without a Record-Route in the request: ours after the last Via row.
    inv2 = phone_req(e, "INVITE", "sip:bob@pbx.lab.test", "rr2", body=SDP,
                     extra=[("Via", "SIP/2.0/UDP 192.0.2.7:5060;branch=z9hG4bKup2")])
    # move the extra Via up next to the first one? No: keep it after the
    # other headers, so "after the last Via row" is tested apart from "after
    # the first".
    ph.send(inv2)
    m2 = peer.recv()
    if m2:
        n2 = names(m2)
        lv = max(i for i, x in enumerate(n2) if x == "via")
        check(n2[lv + 1:lv + 3] == ["record-route", "record-route"] and
              n2[0:2] == ["via", "via"],
              f"no Record-Route in the request: ours after the last Via row: {n2}")
        peer.send(response_to(m2, 486, "Busy Here"))
        r = ph.recv()
        check(r is not None and r.status == 486, "486 back to the phone")
        # The gateway keeps a transaction for the UDP phone: it ACKs the
        # 486 itself, hop by hop (RFC 3261 17.1.1.3).
        a = peer.recv()
        check(a is not None and a.method == "ACK" and
              a.get("Call-ID") == "rr2", f"the 486 ACKed hop by hop: {a}")

    # The 200 copies the Record-Route; the phone's ACK carries our entries
    # the way belle-sip does (issue 8, seen 1): the last value repeated, in a
    # comma list and in a row of its own.
    peer.send(response_to(m, 200, "OK", [("Contact", f"<sip:bob@127.0.0.1:{e.p_peer};transport=tls>")],
                          body=SDP, to_tag="b1"))
    r = ph.recv()
    check(r is not None and r.status == 200, "200 to the phone")
    if r is None:
        return
    rr_in = rows(r, "Record-Route")
    check(rr_in[:2] == rr[:2], "the 200 carries the same Record-Route rows back")
    ours_in, ours_out = rr[1], rr[0]
    ack = phone_req(e, "ACK", f"sip:bob@127.0.0.1:{e.p_peer};transport=tls", "rr1",
                    to_tag="b1", branch="rr1ack",
                    extra=[("Route", f"{ours_in}, {ours_out}"), ("Route", ours_out),
                           ("Route", ours_out)])
    ph.send(ack.replace(b"tag=arr1", b"tag=arr1"))
    m = peer.recv()
    check(m is not None and m.method == "ACK" and m.get("Route") is None,
          f"ACK with our entry three times: every one removed, ACK delivered: {m}")
    check(status(e).get("own_socket_refused", 0) == 0, "no send to ourselves")

    # 2. Route naming the gateway by the DNS name in its certificate
    # (gw-a.lab.test; no sip-outside configured), with and without port,
    # and by address; a name with a port we do not have is not us.
    for i, route in enumerate([f"<sip:gw-a.lab.test:{P_IN};lr>",
                               "<sip:GW-A.lab.test;lr>",
                               f"<sip:127.0.0.1:{P_IN};lr>, <sip:gw-a.lab.test:{P_OUT};transport=tls;lr>"]):
        ph.send(phone_req(e, "OPTIONS", "sip:pbx.lab.test", f"nm{i}",
                          extra=[("Route", route)]))
        m = peer.recv()
        check(m is not None and m.method == "OPTIONS" and m.get("Route") is None,
              f"Route {route}: ours, removed, request delivered to connect: {m and m.start}")
    ph.send(phone_req(e, "OPTIONS", "sip:pbx.lab.test", "nmx",
                      extra=[("Route", "<sip:gw-a.lab.test:9;lr>")]))
    r = ph.recv()
    check(r is not None and r.status == 404 and peer.recv(timeout=0.3) is None,
          "gw-a.lab.test on a port we do not have is not us: next hop, unresolvable: 404")
    # Two of ours across a comma list and a row, then the next hop.
    ph.send(phone_req(e, "OPTIONS", "sip:pbx.lab.test", "nm5", extra=[
        ("Route", f"<sip:127.0.0.1:{P_IN};lr>,<sip:127.0.0.1:{P_OUT};transport=tls;lr>"),
        ("Route", f"<sip:127.0.0.1:{P_IN};lr>"),
        ("Route", f"<sip:127.0.0.1:{e.p_peer};transport=tls;lr>, <sip:other.example;lr>")]))
    m = peer.recv()
    check(m is not None and rows(m, "Route") == [
        f"<sip:127.0.0.1:{e.p_peer};transport=tls;lr>, <sip:other.example;lr>"],
        f"three leading entries of ours removed, the rest kept as it was: {m and rows(m, 'Route')}")

    # 3. Preloaded Route: a dialog-initiating INVITE whose Route names only
    # us and whose Request-URI is a domain goes to connect.
    ph.send(phone_req(e, "INVITE", "sip:carol@example.org", "pre1", body=SDP,
                      extra=[("Route", f"<sip:127.0.0.1:{P_IN};lr>")]))
    m = peer.recv()
    check(m is not None and m.method == "INVITE" and m.ruri == "sip:carol@example.org"
          and m.get("Route") is None, "preloaded Route: to connect, Route removed")
    if m:
        peer.send(response_to(m, 480, "Temporarily Unavailable"))
        ph.recv()
        a = peer.recv()
        check(a is not None and a.method == "ACK" and
              a.get("Call-ID") == "pre1", f"the 480 ACKed hop by hop: {a}")

    # 4. Loop guard: an in-dialog request whose target is one of our own
    # sockets (its Route names us without a flow token, its Request-URI
    # our inside UDP port; or our wildcard TCP listener on another local
    # address) is refused with 482 and never sent.
    before = status(e)
    for i, ruri in enumerate([f"sip:x@127.0.0.1:{P_IN}",
                              f"sip:x@127.0.0.2:{e.p_wild};transport=tcp"]):
        peer.send(build(f"BYE {ruri} SIP/2.0", [
            ("Via", f"SIP/2.0/TLS 127.0.0.1:{e.p_peer};branch=z9hG4bKloop{i}"),
            ("Max-Forwards", "70"),
            ("Route", f"<sip:127.0.0.1:{P_OUT};transport=tls;lr>"),
            ("Route", f"<sip:127.0.0.1:{P_IN};lr>"),
            ("From", "<sip:bob@pbx.lab.test>;tag=b9"),
            ("To", "<sip:x@pbx.lab.test>;tag=x9"), ("Call-ID", f"loop{i}"),
            ("CSeq", "2 BYE")]))
        r = peer.recv()
        check(r is not None and r.status == 482, f"request to our own socket {ruri}: 482: {r and r.start}")
        check(ph.recv(timeout=0.3) is None, "nothing reached the phone")
    after = status(e)
    check(after["own_socket_refused"] - before["own_socket_refused"] == 2,
          "both counted in own_socket_refused")

    # 5. GRUU through registration, and a GRUU remote target.
    ph.send(phone_req(e, "REGISTER", "sip:pbx.lab.test", "reg1", extra=[
        ("Contact", f'<sip:alice@127.0.0.1:{ph.port}>;+sip.instance="<urn:uuid:0000-a1>";reg-id=1'),
        ("Supported", "gruu, outbound")]).replace(b"<sip:bob@pbx.lab.test>", b"<sip:alice@pbx.lab.test>"))
    m = peer.recv()
    check(m is not None and m.method == "REGISTER", "REGISTER crossed")
    if m is None:
        return
    tok = m.get("Contact")
    check('+sip.instance="<urn:uuid:0000-a1>";reg-id=1' in tok,
          f"instance and reg-id kept on the token Contact: {tok}")
    tok_uri = tok.split(">")[0].lstrip("<")
    gruu = "sip:alice@pbx.lab.test;gr=urn:uuid:0000-a1"
    c200 = (f'<{tok_uri}>;expires=600;pub-gruu="{gruu}";'
            f'temp-gruu="sip:tgruu.7deaa9@pbx.lab.test;gr";+sip.instance="<urn:uuid:0000-a1>";reg-id=1')
    peer.send(response_to(m, 200, "OK", [("Contact", c200)]))
    r = ph.recv()
    want = (f'<sip:alice@127.0.0.1:{ph.port}>;expires=600;pub-gruu="{gruu}";'
            f'temp-gruu="sip:tgruu.7deaa9@pbx.lab.test;gr";+sip.instance="<urn:uuid:0000-a1>";reg-id=1')
    check(r is not None and r.status == 200 and r.get("Contact") == want,
          f"the phone gets its Contact back with pub-gruu/temp-gruu intact: {r and r.get('Contact')}")
    # An INVITE from the peer to the registered flow; the phone answers
    # with its GRUU as Contact; the peer's BYE targets the GRUU.
    peer.send(build(f"INVITE {tok_uri} SIP/2.0", [
        ("Via", f"SIP/2.0/TLS 127.0.0.1:{e.p_peer};branch=z9hG4bKg1"),
        ("Max-Forwards", "70"), ("From", "<sip:bob@pbx.lab.test>;tag=bg1"),
        ("To", "<sip:alice@pbx.lab.test>"), ("Call-ID", "gruu1"),
        ("CSeq", "1 INVITE"), ("Contact", f"<sip:bob@127.0.0.1:{e.p_peer};transport=tls>"),
        ("Content-Type", "application/sdp")], SDP))
    m = ph.recv()
    check(m is not None and m.method == "INVITE", "INVITE by flow token to the phone")
    if m is None:
        return
    rr = rows(m, "Record-Route")
    ph.send(response_to(m, 200, "OK", [("Contact", f"<{gruu}>")], body=SDP, to_tag="ag1"))
    r = peer.recv()
    check(r is not None and r.status == 200 and rows(r, "Record-Route") == rr,
          "200 back to the peer with our Record-Route rows")
    route = [("Route", v) for v in rows(r, "Record-Route")]
    bye = build(f"BYE {gruu} SIP/2.0", [
        ("Via", f"SIP/2.0/TLS 127.0.0.1:{e.p_peer};branch=z9hG4bKg2"),
        ("Max-Forwards", "70")] + route + [
        ("From", "<sip:bob@pbx.lab.test>;tag=bg1"),
        ("To", "<sip:alice@pbx.lab.test>;tag=ag1"), ("Call-ID", "gruu1"),
        ("CSeq", "2 BYE")])
    peer.send(bye)
    m = ph.recv()
    check(m is not None and m.method == "BYE" and m.ruri == gruu and m.get("Route") is None,
          f"BYE to a GRUU remote target reached the phone by the Record-Route token: {m and m.start}")
    if m:
        ph.send(response_to(m, 200, "OK"))
        r = peer.recv()
        check(r is not None and r.status == 200, "200 to the BYE")
    # A forged token in an entry naming us: 403, not a relay.
    forged = route[0][1].replace("sgw-", "sgw-AAAA", 1)
    peer.send(bye.replace(route[0][1].encode(), forged.encode()).replace(b"z9hG4bKg2", b"z9hG4bKg3"))
    r = peer.recv()
    check(r is not None and r.status == 403 and ph.recv(timeout=0.3) is None,
          "forged flow token in a Route entry of ours: 403")

    # 6. Peer identity over connections: a TLS UA (certificate alice)
    # calls the phone; the Record-Route token names alice's key, not her
    # connection; alice reconnects from another port, bob (another
    # certificate) is connected too: the phone's BYE reaches alice's new
    # connection.
    ua, ut = tls_client(e, "alice")
    ua.send(build(f"INVITE {tok_uri} SIP/2.0", [
        ("Via", "SIP/2.0/TLS 127.0.0.1:5999;branch=z9hG4bKid1"),
        ("Max-Forwards", "70"), ("From", "<sip:carol@pbx.lab.test>;tag=cid1"),
        ("To", "<sip:alice@pbx.lab.test>"), ("Call-ID", "ident1"),
        ("CSeq", "1 INVITE"), ("Contact", "<sip:carol@carol.invalid;transport=tls>"),
        ("Content-Type", "application/sdp")], SDP))
    m = ph.recv()
    check(m is not None and m.method == "INVITE", "INVITE from a TLS UA reached the phone")
    if m is None:
        return
    ph.send(response_to(m, 200, "OK", [("Contact", f"<sip:alice@127.0.0.1:{ph.port}>")],
                        body=SDP, to_tag="aid1"))
    r = ua.recv()
    check(r is not None and r.status == 200, "200 back to the TLS UA")
    old_port = ut.getsockname()[1]
    ut.close()
    time.sleep(0.3)
    ub, _ = tls_client(e, "bob")
    ua2, ut2 = tls_client(e, "alice")
    check(ut2.getsockname()[1] != old_port, "alice reconnected from another port")
    time.sleep(0.3)
    route = [("Route", v) for v in reversed(rows(m, "Record-Route"))]
    ph.send(build("BYE sip:carol@carol.invalid;transport=tls SIP/2.0", [
        ("Via", f"SIP/2.0/UDP 127.0.0.1:{ph.port};branch=z9hG4bKid2;rport"),
        ("Max-Forwards", "70")] + route + [
        ("From", "<sip:alice@pbx.lab.test>;tag=aid1"),
        ("To", "<sip:carol@pbx.lab.test>;tag=cid1"), ("Call-ID", "ident1"),
        ("CSeq", "1 BYE")]))
    m = ua2.recv()
    check(m is not None and m.method == "BYE" and m.ruri == "sip:carol@carol.invalid;transport=tls",
          f"BYE went over alice's new connection (the token names her key): {m and m.start}")
    check(ub.recv(timeout=0.3) is None, "nothing went to bob's connection")
    if m:
        ua2.send(response_to(m, 200, "OK"))
        r = ph.recv()
        check(r is not None and r.status == 200, "200 to the BYE back to the phone")

    # 7. Keep-alive (RFC 5626 §4.4.1): the peer answers a ping once, then
    # stops: the link is declared dead and opened again within twice the
    # keep-alive interval of the last byte the peer sent.
    tsock = e.tsock
    tsock.settimeout(KEEPALIVE + 3)
    got = b""
    try:
        while b"\r\n\r\n" not in got:
            got += tsock.recv(100)
    except socket.timeout:
        pass
    check(b"\r\n\r\n" in got, "CRLF ping on the link")
    tsock.sendall(b"\r\n")              # the pong; then silence
    t_last = time.time()
    try:
        peer2, t2 = accept_peer(e, timeout=3 * KEEPALIVE)
        dt = time.time() - t_last
        check(dt < 2 * KEEPALIVE, f"dead link replaced {dt:.1f} s after the last pong"
              f" (keepalive {KEEPALIVE} s)")
    except socket.timeout:
        check(False, "no new link after the missing pong")
        return
    st = status(e)
    check(st.get("keepalive_timeouts") == 1, f"keepalive_timeouts = {st.get('keepalive_timeouts')}")
    # The link is back: a request to the connect goes over it.
    ph.send(phone_req(e, "OPTIONS", "sip:pbx.lab.test", "after-ka"))
    m = peer2.recv()
    check(m is not None and m.method == "OPTIONS", "requests go over the new link")
    tsock.close()


if __name__ == "__main__":
    main()
