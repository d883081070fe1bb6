#!/usr/bin/env python3
"""The SDP grammar on the wire (issue 13, RFC 4566 §5 and §9): an SDP with
an m= line lacking proto or format, or with a CR inside a line, is refused
where it arrives and never crosses, in either direction, rewritten or not.
One gateway on loopback: a Python UDP phone inside, a Python TLS peer
(OpenSSL) outside (tests/integration/gwfixture.py)."""
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gwfixture import Gateway, key, sdp
from sipmsg import FAILURES, build, check, finish, lab_certs, response_to

SRC = os.environ.get("SG_SOURCE_DIR", ".")


def invite_from_phone(g, cid, body):
    ph = g.phone
    return build("INVITE sip:bob@pbx.lab.test SIP/2.0", [
        ("Via", f"SIP/2.0/UDP 127.0.0.1:{ph.port};branch=z9hG4bK{cid};rport"),
        ("Max-Forwards", "70"),
        ("From", f"<sip:alice@pbx.lab.test>;tag=a{cid}"),
        ("To", "<sip:bob@pbx.lab.test>"),
        ("Call-ID", cid), ("CSeq", "1 INVITE"),
        ("Contact", f"<sip:alice@127.0.0.1:{ph.port}>"),
        ("Content-Type", "application/sdp")], body)


def main():
    tmp = tempfile.mkdtemp(prefix="sg-sdpgram-")
    certs = lab_certs(tmp, SRC)
    g = Gateway(tmp, certs, "srtp", "AES_CM_128_HMAC_SHA1_80", name="grammar")
    try:
        # 1. The m= line of issue 13 ("m=audio 4000 " then a bare CR, no
        #    proto, no format) from the phone: 400 back, nothing crosses.
        bad = (b"v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\n"
               b"c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 4000 \r\r\n"
               b"a=rtpmap:0 PCMU/8000\r\n")
        g.phone.send(invite_from_phone(g, "g1", bad))
        r = g.phone.recv()
        check(r is not None and r.status == 400 and
              "malformed SDP" in (r.get("Warning") or ""),
              f"m= without proto -> 400 with a Warning: {r.start if r else None}")
        check(g.peer.recv(timeout=1) is None, "nothing reached the outside")

        # 2. An m= line with a proto but no format: 400 too.
        g.phone.send(invite_from_phone(g, "g2", sdp(40000).replace(
            b"RTP/AVP 0 101", b"RTP/AVP")))
        r = g.phone.recv()
        check(r is not None and r.status == 400,
              f"m= without format -> 400: {r.start if r else None}")
        check(g.peer.recv(timeout=1) is None, "nothing reached the outside")

        # 3. A good offer crosses; the peer's 200 hides a second a=crypto
        #    behind a bare CR on an attribute line. The old parser took
        #    "a=x\ra=crypto:..." for one unknown attribute and copied it,
        #    key and all, to the phone. Now the answer is refused: the
        #    phone gets 500 and no key, the peer's dialog gets ACK + BYE.
        g.phone.send(g.invite_from_phone("g3", 40002))
        m = g.peer.recv()
        check(m is not None and m.method == "INVITE", "good offer crossed")
        if m is not None:
            tag = m.body.decode().split("a=crypto:")[1].split()[0]
            secret = key(30)
            answer = sdp(41000, proto="RTP/SAVP",
                         crypto=[f"{tag} AES_CM_128_HMAC_SHA1_80 inline:{key(30)}"],
                         extra=f"a=x\ra=crypto:{tag} AES_CM_128_HMAC_SHA1_80"
                               f" inline:{secret}\r\n")
            g.peer.send(response_to(m, 200, "OK", [
                ("Contact", f"<sip:bob@127.0.0.1:{g.p_peer};transport=tls>"),
                ("Content-Type", "application/sdp")], answer))
            r = g.phone.recv()
            check(r is not None and r.status == 500 and r.body == b"" and
                  "malformed SDP" in (r.get("Warning") or ""),
                  f"answer with a bare CR -> 500 to the phone, no body: "
                  f"{r.raw[:400] if r else None}")
            check(r is None or (b"crypto" not in r.raw and
                                secret.encode() not in r.raw),
                  "no a=crypto and no key reached the inside")
            got = [g.peer.recv(timeout=2), g.peer.recv(timeout=2)]
            meths = [x.method for x in got if x is not None]
            check(meths == ["ACK", "BYE"], f"peer gets ACK and BYE: {meths}")
            if len(got) == 2 and got[1] is not None:
                g.peer.send(response_to(got[1], 200, "OK"))

        # 4. An offer from the outside with a bare CR: 400 to the peer,
        #    nothing reaches the phone.
        token = g.register_phone()
        offer = sdp(42000, proto="RTP/SAVP",
                    crypto=[f"1 AES_CM_128_HMAC_SHA1_80 inline:{key(30)}"],
                    extra="a=ptime:20\rc=IN IP4 192.0.2.99\r\n")
        g.peer.send(g.invite_from_peer("g4", token, offer))
        r = g.peer.recv()
        check(r is not None and r.status == 400,
              f"outside offer with a bare CR -> 400: {r.start if r else None}")
        check(g.phone.recv(timeout=1) is None, "nothing reached the phone")

        out, st = g.status()
        check(st.get("sdp_errors") == 4, f"four SDP errors counted: {out}")
        check(g.proc.poll() is None, "the gateway still runs")
    finally:
        g.stop(check, FAILURES)
    finish()


if __name__ == "__main__":
    main()
