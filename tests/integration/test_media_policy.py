#!/usr/bin/env python3
"""Media policy on loopback (DESIGN §4): what the gateway offers on the
outside, what it accepts, and what it refuses, for media = srtp and
srtp-optional; plain RTP relayed both ways where the policy allows it.
The phone is a Python UDP socket, the peer a Python TLS (OpenSSL) socket."""
import base64
import os
import re
import socket
import ssl
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gwfixture import Gateway, key, sdp
from sipmsg import FAILURES, check, finish, lab_certs, response_to

SIPSGATE = os.environ.get("SIPSGATE", "build/sipsgate")
SRC = os.environ.get("SG_SOURCE_DIR", ".")


def m_line(body):
    return re.search(r"^m=audio (\d+) (\S+)", body, re.M)


def cryptos(body):
    return re.findall(r"^a=crypto:(\d+) (\S+) inline:(\S+)", body, re.M)


def test_srtp(tmp, certs):
    g = Gateway(tmp, certs, "srtp", "AES_CM_128_HMAC_SHA1_80 AEAD_AES_128_GCM")
    try:
        # 1. What leaves toward the outside: RTP/SAVP, a key per suite.
        g.phone.send(g.invite_from_phone("s1", 40000))
        m = g.peer.recv()
        check(m is not None and m.method == "INVITE", "INVITE crossed")
        body = m.body.decode()
        ml = m_line(body)
        check(ml and ml.group(2) == "RTP/SAVP" and
              32000 <= int(ml.group(1)) <= 32999 and
              "c=IN IP4 127.0.0.1" in body, f"outside offer is RTP/SAVP at the relay: {body}")
        cr = cryptos(body)
        check([(t, s) for t, s, _ in cr] == [("1", "AES_CM_128_HMAC_SHA1_80"),
                                            ("2", "AEAD_AES_128_GCM")],
              f"one a=crypto per configured suite, in order: {cr}")
        check(len(cr) == 2 and len(base64.b64decode(cr[0][2])) == 30 and
              len(base64.b64decode(cr[1][2])) == 28, "key lengths 30 and 28")
        # 2. The peer answers without crypto: 488 to the phone, and the
        #    peer's dialog is torn down with ACK and BYE.
        g.peer.send(response_to(m, 200, "OK", [
            ("Contact", f"<sip:bob@127.0.0.1:{g.p_peer};transport=tls>"),
            ("Content-Type", "application/sdp")], sdp(41000)))
        r = g.phone.recv()
        check(r is not None and r.status == 488 and r.body == b"" and
              "a=crypto" in (r.get("Warning") or ""),
              f"phone gets 488 instead of 200, with a Warning saying why:"
              f" {r.start if r else None} {r.get('Warning') if r else ''}")
        got = [g.peer.recv(timeout=2), g.peer.recv(timeout=2)]
        meths = [x.method for x in got if x is not None]
        check(meths == ["ACK", "BYE"], f"peer gets ACK and BYE: {meths}")
        if len(got) == 2 and got[1] is not None:
            check(got[1].get("CSeq") == "2 BYE" and
                  "488" in (got[1].get("Reason") or ""),
                  "BYE has CSeq 2 and a Reason")
            g.peer.send(response_to(got[1], 200, "OK"))
        # 3. An offer from the outside without crypto: 488 back.
        token = g.register_phone()
        g.peer.send(g.invite_from_peer("s3", token, sdp(42000)))
        r = g.peer.recv()
        check(r is not None and r.status == 488 and
              "a=crypto" in (r.get("Warning") or ""),
              f"plain offer from the outside -> 488 with a Warning naming"
              f" a=crypto: {r.start if r else None} {r.get('Warning') if r else ''}")
        # 4. Several a=crypto: the first acceptable one is chosen.
        offer = sdp(43000, proto="RTP/SAVP", crypto=[
            f"1 AES_CM_128_HMAC_SHA1_80 inline:{key(30)}|2^20",
            f"2 F8_128_HMAC_SHA1_80 inline:{key(30)}",
            f"3 AES_CM_128_HMAC_SHA1_80 inline:{key(30)}",
            f"4 AEAD_AES_128_GCM inline:{key(28)}"])
        g.peer.send(g.invite_from_peer("s4", token, offer))
        m = g.phone.recv()
        check(m is not None and m.method == "INVITE", "SRTP offer reached the phone")
        if m:
            body = m.body.decode()
            ml = m_line(body)
            check(ml and ml.group(2) == "RTP/AVP" and "a=crypto" not in body,
                  f"phone sees plain RTP/AVP: {body}")
            g.phone.send(response_to(m, 200, "OK", [
                ("Contact", f"<sip:alice@127.0.0.1:{g.phone.port}>"),
                ("Content-Type", "application/sdp")], sdp(44000)))
            r = g.peer.recv()
            check(r is not None and r.status == 200, "200 reached the peer")
            if r:
                cr = cryptos(r.body.decode())
                check(len(cr) == 1 and cr[0][0] == "3" and
                      cr[0][1] == "AES_CM_128_HMAC_SHA1_80" and
                      len(base64.b64decode(cr[0][2])) == 30,
                      f"answer names tag 3 (lifetime and unknown suite declined): {cr}")
                check(m_line(r.body.decode()).group(2) == "RTP/SAVP",
                      "answer is RTP/SAVP")
        out, st = g.status()
        check(st.get("refused_488", 0) == 2, f"two refusals counted: {out}")
        check("AES_CM_128_HMAC_SHA1_80" in out, "status shows the suite of the call")
    finally:
        g.stop(check, FAILURES)


def test_srtp_optional(tmp, certs):
    g = Gateway(tmp, certs, "srtp-optional", "AES_CM_128_HMAC_SHA1_80")
    try:
        rtp_phone = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rtp_phone.bind(("127.0.0.1", 0))
        rtp_peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rtp_peer.bind(("127.0.0.1", 0))
        g.phone.send(g.invite_from_phone("o1", rtp_phone.getsockname()[1]))
        m = g.peer.recv()
        body = m.body.decode()
        ml = m_line(body)
        check(ml and ml.group(2) == "RTP/AVP" and len(cryptos(body)) == 1,
              f"best-effort SRTP: RTP/AVP with a=crypto: {body}")
        out_port = int(ml.group(1))
        g.peer.send(response_to(m, 200, "OK", [
            ("Contact", f"<sip:bob@127.0.0.1:{g.p_peer};transport=tls>"),
            ("Content-Type", "application/sdp")],
            sdp(rtp_peer.getsockname()[1])))
        r = g.phone.recv()
        check(r is not None and r.status == 200, "plain answer accepted")
        in_port = int(m_line(r.body.decode()).group(1))
        # Plain RTP both ways through the relay, byte for byte.
        sent_a, sent_b = [], []
        rtp_peer.settimeout(1)
        rtp_phone.settimeout(1)
        got_b, got_a = [], []
        for i in range(20):
            pa = bytes([0x80, 0, 0, i]) + b"\0\0\0\0" + b"\x11\x22\x33\x44" + os.urandom(160)
            pb = bytes([0x80, 0, 1, i]) + b"\0\0\0\0" + b"\x55\x66\x77\x88" + os.urandom(160)
            rtp_phone.sendto(pa, ("127.0.0.1", in_port))
            rtp_peer.sendto(pb, ("127.0.0.1", out_port))
            sent_a.append(pa)
            sent_b.append(pb)
            try:
                got_b.append(rtp_peer.recv(2000))
            except socket.timeout:
                pass
            try:
                got_a.append(rtp_phone.recv(2000))
            except socket.timeout:
                pass
        check(got_b == sent_a, f"phone -> peer: {len(got_b)}/20 identical")
        check(got_a == sent_b, f"peer -> phone: {len(got_a)}/20 identical")
        out, st = g.status()
        check(st.get("calls_plain_rtp") == 1 and st.get("calls_srtp") == 0,
              f"counted as a plain call: {out}")
        warned = "without SRTP: relaying plain RTP" in open(g.logpath).read()
        check(warned, "a warning says plain RTP is relayed")
    finally:
        g.stop(check, FAILURES)


def test_pool_full(tmp, certs):
    """A full port pool refuses the call (503), never crashes; ports come
    back when a call ends."""
    g = Gateway(tmp, certs, "relay", "AES_CM_128_HMAC_SHA1_80", name="pool",
                extra="rtp-ports = 33000-33007")
    try:
        answers = []
        for i in range(3):
            g.phone.send(g.invite_from_phone(f"p{i}", 40000 + 2 * i))
            if i < 2:
                m = g.peer.recv()
                check(m is not None and m.method == "INVITE",
                      f"call {i + 1} fits in the pool")
                if m:
                    g.peer.send(response_to(m, 200, "OK", [
                        ("Contact", f"<sip:bob@127.0.0.1:{g.p_peer};transport=tls>"),
                        ("Content-Type", "application/sdp")], sdp(41000 + 2 * i),
                        to_tag=f"t{i}"))
                    answers.append(g.phone.recv())
            else:
                r = g.phone.recv()
                check(r is not None and r.status == 503,
                      f"call 3: pool full -> 503: {r.start if r else None}")
        check(g.proc.poll() is None, "still running with a full pool")
    finally:
        g.stop(check, FAILURES)


def main():
    tmp = tempfile.mkdtemp(prefix="sg-media-")
    certs = lab_certs(tmp, SRC)
    test_srtp(tmp, certs)
    test_srtp_optional(tmp, certs)
    test_pool_full(tmp, certs)
    finish()


if __name__ == "__main__":
    main()
