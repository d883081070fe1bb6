#!/usr/bin/env python3
"""sipsgate as a proxy on loopback, against a real TLS peer (Python's ssl,
i.e. OpenSSL) and a UDP phone: Via/rport/received, Record-Route, flow-token
Contacts, routing both ways, hostile input, keep-alive and reconnect.
Every check is on the bytes that crossed the sockets."""
import os
import re
import socket
import ssl
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sipmsg import (stop_daemon, FAILURES, Msg, StreamPeer, UdpPhone, build, check,
                    die_with_parent, finish, free_ports, lab_certs, param,
                    response_to)

SIPSGATE = os.environ.get("SIPSGATE", "build/sipsgate")
SRC = os.environ.get("SG_SOURCE_DIR", ".")


def main():
    tmp = tempfile.mkdtemp(prefix="sg-proxy-")
    certs = lab_certs(tmp, SRC)
    p_in, p_out, p_peer, p_metrics = free_ports(4)
    ctl = os.path.join(tmp, "ctl.sock")
    conf = os.path.join(tmp, "gw.conf")
    with open(conf, "w") as f:
        f.write(f"""control = {ctl}
log-level = debug
metrics = 127.0.0.1:{p_metrics}
[gw]
accept = udp:127.0.0.1:{p_in}
accept = tcp:127.0.0.1:{p_in}
accept = tls:127.0.0.1:{p_out}
connect = tls:127.0.0.1:{p_peer}
trusted = 127.0.0.1/32
cert = {certs}/gw-a.crt
key = {certs}/gw-a.key
ca = {certs}/ca.crt
verify = require
keepalive = 1
media = relay
rtp-ports = 31000-31099
""")
    # The peer: a TLS server that requires the gateway's certificate.
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(f"{certs}/pbx.crt", f"{certs}/pbx.key")
    sctx.load_verify_locations(f"{certs}/ca.crt")
    sctx.verify_mode = ssl.CERT_REQUIRED
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", p_peer))
    lsock.listen(4)
    log = open(os.path.join(tmp, "sipsgate.log"), "w")
    gw = subprocess.Popen([SIPSGATE, "-c", conf], stderr=log,
                             preexec_fn=die_with_parent)
    try:
        run(sctx, lsock, gw, p_in, p_out, p_peer, ctl, certs)
        scrape(p_metrics, ctl)
    finally:
        stop_daemon(gw, "daemon exits cleanly on SIGTERM (sanitizers quiet)")
        log.close()
        if FAILURES:
            print(open(os.path.join(tmp, "sipsgate.log")).read()[-6000:])
    finish()


def http_get(port, path):
    s = socket.create_connection(("127.0.0.1", port), timeout=3)
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return head.decode(), body.decode()


def scrape(port, ctl):
    """The Prometheus listener: the same counters as `sipsgate status`."""
    head, body = http_get(port, "/metrics")
    check(head.startswith("HTTP/1.1 200") and "text/plain; version=0.0.4" in head,
          f"scrape answers 200 text/plain 0.0.4: {head}")
    out = subprocess.run([SIPSGATE, "-s", ctl, "status"], capture_output=True,
                         text=True).stdout
    st = dict(re.findall(r"^\s+(\w+)\s+(\d+)$", out, re.M))
    m = dict(re.findall(r'^sipsgate_(\w+)\{service="gw"\} (\d+)$', body, re.M))
    check(m.get("msg_in_total") == st.get("msg_in") and
          m.get("token_bad_total") == st.get("token_bad") and
          m.get("tls_active") == st.get("tls_active") and
          m.get("calls_total") == st.get("calls_total"),
          f"scraped values equal the status counters: {len(m)} metrics")
    check("# TYPE sipsgate_tls_active gauge" in body and
          "# TYPE sipsgate_hs_fail_server_total counter" in body and
          "# HELP sipsgate_msg_in_total" in body and
          re.search(r"^sipsgate_uptime_seconds \d+$", body, re.M),
          "HELP and TYPE lines, gauges and counters")
    head, _ = http_get(port, "/other")
    check(head.startswith("HTTP/1.1 404"), "other paths: 404")


def accept_peer(sctx, lsock, timeout=5):
    lsock.settimeout(timeout)
    c, _ = lsock.accept()
    t = sctx.wrap_socket(c, server_side=True)
    return StreamPeer(t), t


def register(phone, user, cid, cseq=1, extra=()):
    return build(f"REGISTER sip:pbx.lab.test SIP/2.0", [
        ("Via", f"SIP/2.0/UDP 127.0.0.1:{phone.port};branch=z9hG4bK{cid}{cseq};rport"),
        ("Max-Forwards", "70"),
        ("From", f"<sip:{user}@pbx.lab.test>;tag=ph{cid}"),
        ("To", f"<sip:{user}@pbx.lab.test>"),
        ("Call-ID", cid), ("CSeq", f"{cseq} REGISTER"),
        ("Contact", f"<sip:{user}@127.0.0.1:{phone.port}>;expires=300"),
    ] + list(extra))


def run(sctx, lsock, gw, p_in, p_out, p_peer, ctl, certs):
    peer, tsock = accept_peer(sctx, lsock)
    check(tsock.getpeercert() is not None, "gateway presented its certificate")
    phone = UdpPhone(p_in)

    # 1. REGISTER inside -> outside.
    phone.send(register(phone, "alice", "reg1"))
    m = peer.recv()
    check(m is not None and m.method == "REGISTER", "REGISTER crossed to TLS")
    vias = m.all("Via")
    check(len(vias) == 2, "two Vias after the gateway")
    top = vias[0]
    check(top.startswith(f"SIP/2.0/TLS 127.0.0.1:{p_out};branch=z9hG4bK-sgi"),
          f"gateway Via on top: {top}")
    check(param(top, "rport") == "" and param(top, "alias") == "",
          "rport and alias (RFC 5923) on the gateway's Via")
    check(param(vias[1], "received") == "127.0.0.1" and
          param(vias[1], "rport") == str(phone.port),
          f"received/rport filled in the phone's Via: {vias[1]}")
    check(m.get("Max-Forwards") == "69", "Max-Forwards decremented")
    contact = m.get("Contact")
    mm = re.match(r"<sip:(sgw-[^@]+)@127\.0\.0\.1:(\d+);transport=tls>;expires=300$",
                  contact or "")
    check(mm is not None and int(mm.group(2)) == p_out,
          f"Contact is a flow token on the outside: {contact}")
    token_contact = contact.split(";expires")[0].strip("<>")
    check("127.0.0.1:%d" % phone.port not in m.raw.decode("latin-1").split(
        "Contact")[1].split("\r\n")[0], "phone address not visible in Contact")
    peer.send(response_to(m, 200, "OK", [("Contact", f"<{token_contact}>;expires=300")]))
    r = phone.recv()
    check(r is not None and r.status == 200, "200 to REGISTER reached the phone")
    if r:
        check(len(r.all("Via")) == 1, "gateway Via popped from the response")
        check(r.get("Contact") == f"<sip:alice@127.0.0.1:{phone.port}>;expires=300",
              f"phone gets back its own Contact: {r.get('Contact')}")

    # 2. Re-REGISTER gives the same token (no pile of bindings).
    phone.send(register(phone, "alice", "reg1", 2))
    m2 = peer.recv()
    check(m2 is not None and m2.get("Contact") == contact,
          "re-REGISTER carries the same flow token")
    if m2:
        peer.send(response_to(m2, 200, "OK"))
        phone.recv()

    # 3. Incoming INVITE outside -> inside by flow token.
    sdp = b"v=0\r\no=- 1 1 IN IP4 198.51.100.7\r\ns=-\r\nc=IN IP4 198.51.100.7\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n"
    inv = build(f"INVITE {token_contact} SIP/2.0", [
        ("Via", f"SIP/2.0/TLS 127.0.0.1:{p_peer};branch=z9hG4bKpeer1"),
        ("Max-Forwards", "70"),
        ("From", "<sip:bob@pbx.lab.test>;tag=bob1"),
        ("To", "<sip:alice@pbx.lab.test>"),
        ("Call-ID", "call1"), ("CSeq", "1 INVITE"),
        ("Contact", f"<sip:bob@127.0.0.1:{p_peer};transport=tls>"),
        ("Content-Type", "application/sdp")], sdp)
    peer.send(inv)
    m = phone.recv()
    check(m is not None and m.method == "INVITE", "INVITE reached the phone")
    if m is None:
        return
    check(m.ruri == f"sip:alice@127.0.0.1:{phone.port}",
          f"Request-URI restored from the token: {m.ruri}")
    rr = m.all("Record-Route")
    check(len(rr) == 2 and
          re.fullmatch(rf"<sip:sgw-[^@]+@127\.0\.0\.1:{p_in};lr>", rr[0]) and
          re.fullmatch(rf"<sip:sgw-[^@]+@127\.0\.0\.1:{p_out};transport=tls;lr>",
                       rr[1]),
          f"double Record-Route with flow tokens, inside first: {rr}")
    check(len([h for h in m.headers if h[0] == "Record-Route"]) == 2,
          "each Record-Route entry is its own header row")
    # media = relay: the gateway puts itself in the media path.
    body = m.body.decode()
    mport = re.search(r"^m=audio (\d+) RTP/AVP 0\r$", body, re.M)
    check("c=IN IP4 127.0.0.1\r\n" in body and mport and
          31000 <= int(mport.group(1)) <= 31099 and "a=crypto" not in body,
          f"SDP points at the gateway's relay port: {body}")
    check(m.all("Via")[0].startswith(f"SIP/2.0/UDP 127.0.0.1:{p_in};branch=z9hG4bK-sgo"),
          "gateway Via toward the phone")
    ok = response_to(m, 200, "OK", [("Contact", f"<sip:alice@127.0.0.1:{phone.port}>")])
    phone.send(ok)
    r = peer.recv()
    check(r is not None and r.status == 200 and len(r.all("Via")) == 1,
          "200 back over TLS with only the peer's Via")

    # 4. In-dialog BYE from the phone, routed by the Record-Route set.
    bye = build(f"BYE sip:bob@127.0.0.1:{p_peer};transport=tls SIP/2.0", [
        ("Via", f"SIP/2.0/UDP 127.0.0.1:{phone.port};branch=z9hG4bKbye1;rport"),
        ("Max-Forwards", "70"),
        ("Route", f"<sip:127.0.0.1:{p_in};lr>, <sip:127.0.0.1:{p_out};transport=tls;lr>"),
        ("From", "<sip:alice@pbx.lab.test>;tag=uas1"),
        ("To", "<sip:bob@pbx.lab.test>;tag=bob1"),
        ("Call-ID", "call1"), ("CSeq", "1 BYE")])
    phone.send(bye)
    m = peer.recv()
    check(m is not None and m.method == "BYE", "in-dialog BYE crossed to TLS")
    if m:
        check(m.get("Route") is None, "both gateway Route entries popped")
        peer.send(response_to(m, 200, "OK"))
        r = phone.recv()
        check(r is not None and r.status == 200, "200 to BYE reached the phone")

    # 5. Forged and hostile requests from the outside.
    forged = token_contact.replace("sgw-", "sgw-AAAA", 1)
    peer.send(inv.replace(token_contact.encode(), forged.encode()))
    r = peer.recv()
    check(r is not None and r.status == 403, "forged flow token -> 403")

    # 6. Hostile input from the inside: each gets its answer or a drop.
    def req(method="OPTIONS", ruri="sip:pbx.lab.test", drop=(), extra=(),
            mf="70", cseq=None, branch="h"):
        hdrs = [("Via", f"SIP/2.0/UDP 127.0.0.1:{phone.port};branch=z9hG4bK{branch};rport"),
                ("Max-Forwards", mf),
                ("From", "<sip:alice@pbx.lab.test>;tag=a"),
                ("To", "<sip:x@pbx.lab.test>"),
                ("Call-ID", "bad-" + branch),
                ("CSeq", cseq or f"1 {method}")]
        hdrs = [h for h in hdrs if h[0] not in drop] + list(extra)
        return build(f"{method} {ruri} SIP/2.0", hdrs)

    cases = [
        ("bad start line (version)", req().replace(b"SIP/2.0\r\n", b"SIP/3.0\r\n", 1), 400),
        ("missing Call-ID", req(drop=("Call-ID",)), None),
        ("missing CSeq", req(drop=("CSeq",)), None),
        ("missing Via", req(drop=("Via",)), None),
        ("Content-Length larger than the datagram",
         req(extra=(("Content-Length", "500"),)), 400),
        ("non-numeric Content-Length",
         req(extra=(("Content-Length", "abc"),)), 400),
        ("NUL byte in a header", req().replace(b"tag=a", b"tag=\0a"), None),
        ("Max-Forwards 0", req(mf="0"), 483),
        ("Max-Forwards not a number", req(mf="many"), 400),
        ("CSeq method mismatch", req(cseq="1 INVITE"), 400),
        ("forged flow token from the inside",
         req(ruri="sip:sgw-Zm9yZ2VkdG9rZW4xMjM0NTY3ODkwMTIzNDU2Nzg5@127.0.0.1"), 403),
        ("Proxy-Require of an unknown extension",
         req(extra=(("Proxy-Require", "foo-ext"),)), 420),
        ("too many headers", req(extra=[("X-H%d" % i, "v") for i in range(200)]), 400),
        ("binary garbage", os.urandom(300), None),
        ("response with a Via that is not ours",
         b"SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKx\r\n"
         b"From: <sip:a@b>;tag=1\r\nTo: <sip:b@b>\r\nCall-ID: r\r\nCSeq: 1 OPTIONS\r\n"
         b"Content-Length: 0\r\n\r\n", None),
    ]
    for name, data, want in cases:
        phone.send(data)
        r = phone.recv(timeout=0.5 if want is None else 3)
        if want is None:
            # Missing mandatory headers: a 400 is fine when the reply can be
            # built, a drop otherwise; never anything forwarded.
            check(r is None or r.status == 400, f"{name}: dropped or 400")
        else:
            check(r is not None and r.status == want,
                  f"{name}: want {want}, got {r.status if r else 'nothing'}")
        leak = peer.recv(timeout=0.05)
        check(leak is None, f"{name}: nothing forwarded to the outside")

    # Header injection: a bare CR inside Contact must not become a header.
    inj = register(phone, "mallory", "inj1").replace(
        b"expires=300", b"expires=300\rInjected: yes")
    phone.send(inj)
    r = phone.recv(timeout=1)
    m = peer.recv(timeout=0.5)
    check(m is None or b"\nInjected:" not in m.raw,
          "no injected header crossed to the outside")
    check(m is None or r is not None or True, "header injection handled")

    # Oversized message on inside TCP: 413 or a counted close, never a crash.
    t = socket.create_connection(("127.0.0.1", p_in))
    big = req(extra=(("X-Big", "x" * 70000),))
    try:
        t.sendall(big)
    except OSError:
        pass
    sp = StreamPeer(t)
    r = sp.recv(timeout=2)
    check(r is None or r.status in (400, 413), "oversized TCP message refused")
    t.close()

    # Still serving: a fresh REGISTER goes through.
    phone.send(register(phone, "alice", "reg2"))
    m = peer.recv()
    check(m is not None and m.method == "REGISTER",
          "still serving after hostile input")
    if m:
        peer.send(response_to(m, 200, "OK"))
        phone.recv()
    check(gw.poll() is None, "daemon still running")

    # 7. CRLF keep-alive (keepalive = 1 s): the gateway pings, we pong.
    tsock.settimeout(3)
    got = b""
    deadline = time.time() + 3
    while b"\r\n\r\n" not in got and time.time() < deadline:
        try:
            got += tsock.recv(100)
        except socket.timeout:
            break
    check(b"\r\n\r\n" in got, "CRLF keep-alive ping on the TLS link")

    # 8. The link drops: re-established at once.
    tsock.close()
    t0 = time.time()
    try:
        peer, tsock = accept_peer(sctx, lsock, timeout=5)
        check(time.time() - t0 < 3, "link re-established within 3 s")
    except socket.timeout:
        check(False, "link re-established")
        return
    phone.send(register(phone, "alice", "reg3"))
    m = peer.recv()
    check(m is not None and m.method == "REGISTER", "REGISTER over the new link")
    check(tsock.session_reused, "the new link resumed the TLS session")

    # 8b. Only trusted sources on the inside (trusted = 127.0.0.1/32).
    outsider = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    outsider.bind(("127.0.0.2", 0))
    outsider.settimeout(0.5)
    outsider.sendto(b"OPTIONS sip:pbx.lab.test SIP/2.0\r\nVia: SIP/2.0/UDP "
                    b"127.0.0.2;branch=z9hG4bKout\r\nMax-Forwards: 70\r\n"
                    b"From: <sip:o@x>;tag=1\r\nTo: <sip:p@x>\r\nCall-ID: out\r\n"
                    b"CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
                    ("127.0.0.1", p_in))
    try:
        outsider.recv(1000)
        check(False, "untrusted source got an answer")
    except socket.timeout:
        pass
    check(peer.recv(timeout=0.3) is None, "untrusted datagram not forwarded")
    t = socket.socket()
    t.bind(("127.0.0.2", 0))
    t.connect(("127.0.0.1", p_in))
    t.settimeout(2)
    try:
        closed = t.recv(10) == b""
    except OSError:
        closed = True
    check(closed, "TCP connection from an untrusted source closed")
    t.close()

    # 9. Counters through the control socket.
    out = subprocess.run([SIPSGATE, "-s", ctl, "status"], capture_output=True,
                         text=True).stdout
    counters = dict(re.findall(r"^\s+(\w+)\s+(\d+)$", out, re.M))
    check(int(counters.get("parse_err", 0)) >= 6, f"parse errors counted: {out}")
    check(int(counters.get("token_bad", 0)) >= 2, "bad tokens counted")
    check(int(counters.get("too_many_hops", 0)) == 1, "483 counted")
    check(int(counters.get("remote_close", 0)) >= 1, "remote close counted")
    check(int(counters.get("tls_active", 0)) == 1, "one TLS connection active")
    check(int(counters.get("tls_resumed", 0)) == 1, "resumption counted")
    check(int(counters.get("untrusted_drop", 0)) == 2, "untrusted sources counted")
    check("(connect target)" in out and "TLS1.3" in out,
          "status lists the link with its TLS version")


if __name__ == "__main__":
    main()
