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
from sipmsg import (StreamPeer, UdpPhone, build, free_ports, param,
                    response_to)

SIPSGATE = os.environ.get("SIPSGATE", "build/sipsgate")
SRC = os.environ.get("SG_SOURCE_DIR", ".")
failures = []
passed = 0


def check(cond, what):
    global passed
    if cond:
        passed += 1
    else:
        failures.append(what)
        print("FAIL:", what, flush=True)


def sdp(port, crypto=(), proto="RTP/AVP", addr="127.0.0.1"):
    s = (f"v=0\r\no=- 1 1 IN IP4 {addr}\r\ns=-\r\nc=IN IP4 {addr}\r\nt=0 0\r\n"
         f"m=audio {port} {proto} 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
         f"a=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n")
    for c in crypto:
        s += f"a=crypto:{c}\r\n"
    return s.encode()


def key(n):
    return base64.b64encode(os.urandom(n)).decode()


class Gateway:
    def __init__(self, tmp, certs, policy, suites):
        self.p_in, self.p_out, self.p_peer = free_ports(3)
        self.ctl = os.path.join(tmp, f"ctl-{policy}.sock")
        conf = os.path.join(tmp, f"gw-{policy}.conf")
        with open(conf, "w") as f:
            f.write(f"""control = {self.ctl}
log-level = debug
[gw]
accept = udp:127.0.0.1:{self.p_in}
accept = tls:127.0.0.1:{self.p_out}
connect = tls:127.0.0.1:{self.p_peer}
cert = {certs}/gw-a.crt
key = {certs}/gw-a.key
ca = {certs}/ca.crt
media = {policy}
srtp-suites = {suites}
rtp-ports = 32000-32999
""")
        sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        sctx.load_cert_chain(f"{certs}/pbx.crt", f"{certs}/pbx.key")
        sctx.load_verify_locations(f"{certs}/ca.crt")
        sctx.verify_mode = ssl.CERT_REQUIRED
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", self.p_peer))
        ls.listen(2)
        self.logpath = os.path.join(tmp, f"gw-{policy}.log")
        self.log = open(self.logpath, "w")
        self.proc = subprocess.Popen([SIPSGATE, "-c", conf], stderr=self.log)
        ls.settimeout(5)
        c, _ = ls.accept()
        self.peer = StreamPeer(sctx.wrap_socket(c, server_side=True))
        ls.close()
        self.phone = UdpPhone(self.p_in)

    def status(self):
        out = subprocess.run([SIPSGATE, "-s", self.ctl, "status"],
                             capture_output=True, text=True).stdout
        return out, dict((k, int(v)) for k, v in
                         re.findall(r"^\s+(\w+)\s+(\d+)$", out, re.M))

    def stop(self):
        self.proc.terminate()
        try:
            rc = self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = "hung"
        self.log.close()
        check(rc == 0, f"daemon exits cleanly: {rc}")
        if failures:
            print(open(self.logpath).read()[-4000:])

    def invite_from_phone(self, cid, media_port):
        ph = self.phone
        return build("INVITE sip:bob@pbx.lab.test SIP/2.0", [
            ("Via", f"SIP/2.0/UDP 127.0.0.1:{ph.port};branch=z9hG4bK{cid};rport"),
            ("Max-Forwards", "70"),
            ("From", f"<sip:alice@pbx.lab.test>;tag=a{cid}"),
            ("To", "<sip:bob@pbx.lab.test>"),
            ("Call-ID", cid), ("CSeq", "1 INVITE"),
            ("Contact", f"<sip:alice@127.0.0.1:{ph.port}>"),
            ("Content-Type", "application/sdp")], sdp(media_port))

    def register_phone(self):
        ph = self.phone
        ph.send(build("REGISTER sip:pbx.lab.test SIP/2.0", [
            ("Via", f"SIP/2.0/UDP 127.0.0.1:{ph.port};branch=z9hG4bKr;rport"),
            ("Max-Forwards", "70"), ("From", "<sip:alice@pbx.lab.test>;tag=r"),
            ("To", "<sip:alice@pbx.lab.test>"), ("Call-ID", "reg"),
            ("CSeq", "1 REGISTER"),
            ("Contact", f"<sip:alice@127.0.0.1:{ph.port}>")]))
        m = self.peer.recv()
        self.peer.send(response_to(m, 200, "OK"))
        self.phone.recv()
        return m.get("Contact").strip("<>")

    def invite_from_peer(self, cid, ruri, body):
        return build(f"INVITE {ruri} SIP/2.0", [
            ("Via", f"SIP/2.0/TLS 127.0.0.1:{self.p_peer};branch=z9hG4bK{cid}"),
            ("Max-Forwards", "70"),
            ("From", f"<sip:carol@pbx.lab.test>;tag=c{cid}"),
            ("To", "<sip:alice@pbx.lab.test>"),
            ("Call-ID", cid), ("CSeq", "1 INVITE"),
            ("Contact", f"<sip:carol@127.0.0.1:{self.p_peer};transport=tls>"),
            ("Content-Type", "application/sdp")], body)


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
        check(r is not None and r.status == 488 and r.body == b"",
              f"phone gets 488 instead of 200: {r.start if r else None}")
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
              "a=crypto" in (r.get("Warning") or "") or
              (r is not None and r.status == 488),
              f"plain offer from the outside -> 488: {r.start if r else None}")
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
        g.stop()


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
        g.stop()


def main():
    tmp = tempfile.mkdtemp(prefix="sg-media-")
    certs = os.path.join(tmp, "certs")
    subprocess.run([os.path.join(SRC, "certs/sipsgate-certs"), "--dir", certs,
                    "lab"], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    test_srtp(tmp, certs)
    test_srtp_optional(tmp, certs)
    print(f"{passed} passed, {len(failures)} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
