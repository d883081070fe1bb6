#!/usr/bin/env python3
"""The media policy for every SDP that crosses, and the smaller items of
issue 7, on loopback (media = srtp; the phone a Python UDP socket, the peer
a Python TLS socket):
  - SDP inside multipart/mixed is rewritten like a plain SDP body, the other
    parts kept; two SDPs in multipart/alternative are refused (488);
  - an OPTIONS 200 with SDP (a=crypto) reaches the phone without its body;
  - a DTLS-SRTP offer (UDP/TLS/RTP/SAVP, a=fingerprint, a=setup) with
    a=crypto reaches the phone as RTP/AVP without any of them;
  - after a BYE: the peer's retransmitted 200 OK (a=crypto) is dropped, its
    re-INVITE refused with 481 (counted);
  - CANCEL racing a 200: the 200 still crosses (plain toward the phone);
  - calls refused with 400 (malformed SDP) and 488 (a=crypto inside) and
    never ACKed are not left in calls_active;
  - a request with a NUL byte in a header gets 400;
  - a REGISTER 200 reaches the phone with its own Contact only, though the
    registrar listed another phone's flow token, a forged token and an
    inside address;
  - policy_violations_blocked stays 0: the session logic handled it all.
Every message the phone receives is searched for a=crypto, a=fingerprint
and RTP/SAVP; every one the peer receives for RTP/AVP."""
import os
import re
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gwfixture import Gateway, key, sdp
from sipmsg import (FAILURES, UdpPhone, build, check, finish, lab_certs,
                    response_to)

SRC = os.environ.get("SG_SOURCE_DIR", ".")
SECRET = re.compile(rb"a=crypto|a=fingerprint|a=key-mgmt|RTP/SAVP", re.I)
KEYLINE = re.compile(rb"a=(?:crypto|fingerprint|key-mgmt):", re.I)
PLAIN = re.compile(rb"(?m)^m=\S+ \d+ RTP/AVPF?\b")


class Watch:
    """Wrap recv() of the phone and the peer: everything they receive is
    checked against the invariant."""

    def __init__(self, g):
        self.phone_msgs, self.peer_msgs = [], []
        pr, qr = g.phone.recv, g.peer.recv

        def phone_recv(timeout=3.0):
            m = pr(timeout)
            if m is not None:
                self.phone_msgs.append(m)
            return m

        def peer_recv(timeout=3.0):
            m = qr(timeout)
            if m is not None:
                self.peer_msgs.append(m)
            return m
        g.phone.recv, g.peer.recv = phone_recv, peer_recv


def savp(port, extra=""):
    return sdp(port, [f"1 AES_CM_128_HMAC_SHA1_80 inline:{key(30)}"],
               "RTP/SAVP", extra=extra)


def phone_invite(g, cid, body=None, ctype="application/sdp", extra=()):
    ph = g.phone
    return build("INVITE sip:bob@pbx.lab.test SIP/2.0", [
        ("Via", f"SIP/2.0/UDP 127.0.0.1:{ph.port};branch=z9hG4bK{cid};rport"),
        ("Max-Forwards", "70"), ("From", f"<sip:alice@pbx.lab.test>;tag=a{cid}"),
        ("To", "<sip:bob@pbx.lab.test>"), ("Call-ID", cid),
        ("CSeq", "1 INVITE"), ("Contact", f"<sip:alice@127.0.0.1:{ph.port}>"),
        ("Content-Type", ctype)] + list(extra),
        sdp(40000) if body is None else body)


def in_dialog_from_peer(g, inv, method, cseq, body=b"", ctype=None):
    """A request of the peer (the callee of the phone's INVITE inv, as the
    peer received it) in that dialog: Route = its Record-Route."""
    hdrs = [("Via", f"SIP/2.0/TLS 127.0.0.1:{g.p_peer};branch=z9hG4bKp{method}{cseq}"),
            ("Max-Forwards", "70")]
    hdrs += [("Route", r) for r in inv.all("Record-Route")]
    hdrs += [("From", inv.get("To") + ";tag=uas1"), ("To", inv.get("From")),
             ("Call-ID", inv.get("Call-ID")), ("CSeq", f"{cseq} {method}"),
             ("Contact", f"<sip:bob@127.0.0.1:{g.p_peer};transport=tls>")]
    if ctype:
        hdrs.append(("Content-Type", ctype))
    return build(f"{method} {inv.get('Contact').strip('<>')} SIP/2.0", hdrs, body)


def phone_in_dialog(g, resp, method, cseq):
    routes = list(reversed(resp.all("Record-Route")))
    return build(f"{method} {resp.get('Contact').strip('<>')} SIP/2.0", [
        ("Via", f"SIP/2.0/UDP 127.0.0.1:{g.phone.port};branch=z9hG4bK{method}{cseq}x{resp.get('Call-ID')};rport"),
        ("Max-Forwards", "70")] + [("Route", r) for r in routes] + [
        ("From", resp.get("From")), ("To", resp.get("To")),
        ("Call-ID", resp.get("Call-ID")), ("CSeq", f"{cseq} {method}")])


def established_call(g, cid):
    """Phone calls the peer; returns (INVITE at the peer, 200 it sent, 200
    at the phone)."""
    g.phone.send(phone_invite(g, cid))
    inv = g.peer.recv()
    if inv is None or inv.method != "INVITE":
        return None, None, None
    ok = response_to(inv, 200, "OK", [
        ("Contact", f"<sip:bob@127.0.0.1:{g.p_peer};transport=tls>"),
        ("Content-Type", "application/sdp")], savp(41000))
    g.peer.send(ok)
    r = g.phone.recv()
    while r is not None and r.status < 200:
        r = g.phone.recv()
    if r is not None:
        g.phone.send(phone_in_dialog(g, r, "ACK", 1))
        g.peer.recv(timeout=1)
    return inv, ok, r


def test_policy(tmp, certs):
    g = Gateway(tmp, certs, "srtp", "AES_CM_128_HMAC_SHA1_80", name="policy")
    w = Watch(g)
    try:
        token = g.register_phone()

        # 1. multipart/mixed from the outside: the SDP part is rewritten.
        isup = b"\x01\x02ISUP\x00\x03"
        body = (b"--b1\r\nContent-Type: application/isup;version=itu-t92+\r\n"
                b"\r\n" + isup + b"\r\n--b1\r\nContent-Type: application/sdp\r\n"
                b"\r\n" + savp(42000) + b"\r\n--b1--\r\n")
        inv = g.invite_from_peer("mp1", token, body).replace(
            b"Content-Type: application/sdp",
            b"Content-Type: multipart/mixed;boundary=b1", 1)
        g.peer.send(inv)
        m = g.phone.recv()
        ok = m is not None and m.method == "INVITE"
        check(ok, "multipart INVITE crossed to the phone")
        if ok:
            check("multipart/mixed" in m.get("Content-Type") and
                  isup in m.body and b"m=audio" in m.body and
                  b"RTP/AVP" in m.body and not SECRET.search(m.body),
                  f"SDP part rewritten to RTP/AVP, ISUP part kept: {m.body!r}")
            g.phone.send(response_to(m, 486, "Busy Here"))
            g.peer.recv()

        # 2. multipart/alternative with two SDPs: 488.
        body = (b"--q\r\nContent-Type: application/sdp\r\n\r\n" + savp(42002) +
                b"\r\n--q\r\nContent-Type: application/sdp\r\n\r\n" +
                sdp(42004) + b"\r\n--q--\r\n")
        g.peer.send(g.invite_from_peer("mp2", token, body).replace(
            b"Content-Type: application/sdp",
            b"Content-Type: multipart/alternative; boundary=q", 1))
        r = g.peer.recv()
        check(r is not None and r.status == 488,
              f"two SDPs in multipart/alternative -> 488: {r.start if r else None}")

        # 3. OPTIONS from the phone, 200 with SDP: body stripped.
        ph = g.phone
        g.phone.send(build("OPTIONS sip:bob@pbx.lab.test SIP/2.0", [
            ("Via", f"SIP/2.0/UDP 127.0.0.1:{ph.port};branch=z9hG4bKo1;rport"),
            ("Max-Forwards", "70"), ("From", "<sip:alice@pbx.lab.test>;tag=o1"),
            ("To", "<sip:bob@pbx.lab.test>"), ("Call-ID", "opt1"),
            ("CSeq", "1 OPTIONS")]))
        m = g.peer.recv()
        if m is not None:
            g.peer.send(response_to(m, 200, "OK", [
                ("Content-Type", "application/sdp")], savp(43000)))
        r = g.phone.recv()
        check(r is not None and r.status == 200 and r.body == b"" and
              r.get("Content-Type") is None,
              f"OPTIONS 200 reaches the phone without its SDP: {r!r}")

        # 4. A DTLS-SRTP offer that also carries SDES.
        dtls = sdp(44000, [f"1 AES_CM_128_HMAC_SHA1_80 inline:{key(30)}"],
                   "UDP/TLS/RTP/SAVP", extra="a=fingerprint:sha-256 AB:CD:EF\r\n"
                   "a=setup:actpass\r\na=tls-id:abc\r\na=key-mgmt:mikey AQE\r\n")
        g.peer.send(g.invite_from_peer("dt1", token, dtls))
        m = g.phone.recv()
        ok = m is not None and m.method == "INVITE"
        check(ok, "DTLS+SDES offer crossed")
        if ok:
            check(b"m=audio" in m.body and b" RTP/AVP " in m.body and
                  not re.search(rb"fingerprint|setup|tls-id|key-mgmt|SAVP",
                                m.body),
                  f"phone sees RTP/AVP without DTLS or MIKEY lines: {m.body!r}")
            g.phone.send(response_to(m, 486, "Busy Here"))
            g.peer.recv()

        # 5. After the BYE: late 200 OKs dropped, a re-INVITE refused.
        inv, ok200, r = established_call(g, "late1")
        check(r is not None and r.status == 200, "call late1 established")
        if r is not None:
            g.phone.send(phone_in_dialog(g, r, "BYE", 2))
            bye = g.peer.recv()
            if bye is not None:
                g.peer.send(response_to(bye, 500, "Server Error"))
            g.phone.recv()
            for _ in range(3):
                g.peer.send(ok200)
            late = g.phone.recv(timeout=1.5)
            check(late is None, f"late 200 OKs do not reach the phone: {late!r}")
            g.peer.send(in_dialog_from_peer(g, inv, "INVITE", 7,
                                            savp(41000, "a=sendonly\r\n"),
                                            "application/sdp"))
            r2 = g.peer.recv()
            check(r2 is not None and r2.status == 481,
                  f"late re-INVITE -> 481: {r2.start if r2 else None}")
            check(g.phone.recv(timeout=1) is None, "nothing reached the phone")

        # 6. CANCEL racing the 200: the 200 crosses, plain.
        g.phone.send(phone_invite(g, "race1"))
        inv = g.peer.recv()
        if inv is not None:
            ph = g.phone
            g.phone.send(build("CANCEL sip:bob@pbx.lab.test SIP/2.0", [
                ("Via", f"SIP/2.0/UDP 127.0.0.1:{ph.port};branch=z9hG4bKrace1;rport"),
                ("Max-Forwards", "70"), ("From", "<sip:alice@pbx.lab.test>;tag=arace1"),
                ("To", "<sip:bob@pbx.lab.test>"), ("Call-ID", "race1"),
                ("CSeq", "1 CANCEL")]))
            g.peer.send(response_to(inv, 200, "OK", [
                ("Contact", f"<sip:bob@127.0.0.1:{g.p_peer};transport=tls>"),
                ("Content-Type", "application/sdp")], savp(45000)))
            can = g.peer.recv()
            if can is not None and can.method == "CANCEL":
                g.peer.send(response_to(can, 481, "No Transaction"))
            got = [g.phone.recv(timeout=1.5) for _ in range(2)]
            oks = [x for x in got if x is not None and x.status == 200 and
                   "INVITE" in x.get("CSeq")]
            check(len(oks) == 1 and b"RTP/AVP" in oks[0].body,
                  f"the 200 that won the race reaches the phone, plain: {got!r}")
            if oks:
                g.phone.send(phone_in_dialog(g, oks[0], "ACK", 1))
                g.phone.send(phone_in_dialog(g, oks[0], "BYE", 2))
                for _ in range(2):
                    x = g.peer.recv(timeout=1)
                    if x is not None and x.method == "BYE":
                        g.peer.send(response_to(x, 200, "OK"))
                g.phone.recv(timeout=1)

        # 6b. Forked: a 180 from one branch (tag fk1), the 200 from another
        #     (uas1); a re-INVITE from the answering branch still crosses.
        g.phone.send(phone_invite(g, "fork1"))
        inv = g.peer.recv()
        if inv is not None:
            g.peer.send(response_to(inv, 180, "Ringing", [
                ("Contact", f"<sip:bob2@127.0.0.1:{g.p_peer};transport=tls>")],
                to_tag="fk1"))
            g.phone.recv()
            g.peer.send(response_to(inv, 200, "OK", [
                ("Contact", f"<sip:bob@127.0.0.1:{g.p_peer};transport=tls>"),
                ("Content-Type", "application/sdp")], savp(45100)))
            r = g.phone.recv()
            if r is not None:
                g.phone.send(phone_in_dialog(g, r, "ACK", 1))
                g.peer.recv(timeout=1)
            g.peer.send(in_dialog_from_peer(g, inv, "INVITE", 5,
                                            savp(45100, "a=sendonly\r\n"),
                                            "application/sdp"))
            m = g.phone.recv()
            check(m is not None and m.method == "INVITE" and
                  b"RTP/AVP" in m.body,
                  f"re-INVITE of the answering fork reaches the phone: {m!r}")
            if m is not None:
                g.phone.send(response_to(m, 200, "OK", [
                    ("Contact", f"<sip:alice@127.0.0.1:{g.phone.port}>"),
                    ("Content-Type", "application/sdp")], sdp(40000)))
                g.peer.recv()
            if r is not None:
                g.phone.send(phone_in_dialog(g, r, "BYE", 2))
                x = g.peer.recv(timeout=1)
                if x is not None and x.method == "BYE":
                    g.peer.send(response_to(x, 200, "OK"))
                g.phone.recv(timeout=1)

        # 7. Refused and never ACKed: not left in calls_active.
        g.phone.send(phone_invite(g, "bad1", b"v=0\r\nthis is not sdp\r\n"))
        r = g.phone.recv()
        check(r is not None and r.status == 400, f"malformed SDP -> 400: {r!r}")
        g.phone.send(phone_invite(g, "sec1", savp(46000)))
        r = g.phone.recv()
        check(r is not None and r.status == 488, f"a=crypto inside -> 488: {r!r}")
        _, st = g.status()
        check(st.get("calls_active") == 0,
              f"refused calls are not active: calls_active={st.get('calls_active')}")

        # 8. NUL byte in a header: 400.
        req = phone_invite(g, "nul1").replace(b"Max-Forwards: 70",
                                              b"Subject: a\x00b\r\nMax-Forwards: 70")
        g.phone.send(req)
        r = g.phone.recv()
        check(r is not None and r.status == 400 and "nul1" == r.get("Call-ID"),
              f"NUL byte in a header -> 400: {r!r}")

        # 9. REGISTER 200: the phone's own Contact only.
        other = UdpPhone(g.p_in)
        other.send(build("REGISTER sip:pbx.lab.test SIP/2.0", [
            ("Via", f"SIP/2.0/UDP 127.0.0.1:{other.port};branch=z9hG4bKr2;rport"),
            ("Max-Forwards", "70"), ("From", "<sip:alice@pbx.lab.test>;tag=r2"),
            ("To", "<sip:alice@pbx.lab.test>"), ("Call-ID", "reg2"),
            ("CSeq", "1 REGISTER"),
            ("Contact", f"<sip:alice@127.0.0.1:{other.port}>")]))
        m2 = g.peer.recv()
        other_tok = m2.get("Contact") if m2 else "<sip:x@y>"
        if m2 is not None:
            g.peer.send(response_to(m2, 200, "OK", [("Contact", other_tok)]))
            other.recv()
        ph = g.phone
        ph.send(build("REGISTER sip:pbx.lab.test SIP/2.0", [
            ("Via", f"SIP/2.0/UDP 127.0.0.1:{ph.port};branch=z9hG4bKr3;rport"),
            ("Max-Forwards", "70"), ("From", "<sip:alice@pbx.lab.test>;tag=r3"),
            ("To", "<sip:alice@pbx.lab.test>"), ("Call-ID", "reg"),
            ("CSeq", "2 REGISTER"),
            ("Contact", f"<sip:alice@127.0.0.1:{ph.port}>")]))
        m = g.peer.recv()
        if m is not None:
            own = m.get("Contact")
            forged = re.sub(r"sgw-(.)", lambda x: "sgw-" + ("A" if x.group(1) != "A" else "B"),
                            own, count=1)
            g.peer.send(response_to(m, 200, "OK", [
                ("Contact", f"{other_tok};expires=3600"),
                ("Contact", f"{own};expires=3600"),
                ("Contact", f"{forged};expires=3600"),
                ("Contact", "<sip:carol@198.18.1.99:5060>;expires=60")]))
        r = ph.recv()
        cts = r.all("Contact") if r else []
        check(r is not None and r.status == 200 and
              cts == [f"<sip:alice@127.0.0.1:{ph.port}>;expires=3600"],
              f"REGISTER 200 carries the phone's own Contact only: {cts}")
        _, st = g.status()
        check(st.get("register_contacts_removed") == 3,
              f"3 Contacts removed: {st.get('register_contacts_removed')}")

        # The invariant on everything received, and the counters.
        leaks = [m.start for m in w.phone_msgs if SECRET.search(m.body) or
                 KEYLINE.search(m.raw)]
        check(not leaks, f"no secret reached the phone: {leaks}")
        plain = [m.start for m in w.peer_msgs if PLAIN.search(m.raw)]
        check(not plain, f"no RTP/AVP reached the peer: {plain}")
        out, st = g.status()
        check(st.get("sdp_no_call_dropped", 0) >= 3 and
              st.get("sdp_no_call_refused", 0) >= 1,
              f"late SDP counted: {st.get('sdp_no_call_dropped')} dropped,"
              f" {st.get('sdp_no_call_refused')} refused")
        check(st.get("sdp_stripped") == 1, f"sdp_stripped: {st.get('sdp_stripped')}")
        check(st.get("sdp_policy_refused", 0) >= 1, "sdp_policy_refused counted")
        check(st.get("policy_violations_blocked") == 0,
              f"the egress backstop never fired: {st.get('policy_violations_blocked')}")
        check(st.get("calls_active") == 0, f"calls_active: {st.get('calls_active')}")
        check(g.proc.poll() is None, "daemon alive")
    finally:
        g.stop(check, FAILURES)


def main():
    tmp = tempfile.mkdtemp(prefix="sg-policy-")
    certs = lab_certs(tmp, SRC)
    test_policy(tmp, certs)
    finish()


if __name__ == "__main__":
    main()
