#!/usr/bin/env python3
"""SRTP through one gateway on loopback, checked packet by packet: a Python
phone sends and receives plain RTP inside, a Python peer speaks SRTP (the
project's libsrtp2 wrapper through ctypes) outside, with the keys it reads
from the SDP. Covers the relay and the SRTP regression matrix of the media
issue (names test_* below follow its letters a-i), plus tampered and
replayed packets."""
import base64
import os
import re
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gwfixture import Gateway, key, sdp
from sipmsg import FAILURES, check, finish, lab_certs, build, response_to
from srtp_ctypes import Srtp, SrtpError, rtcp_sr, rtp

SRC = os.environ.get("SG_SOURCE_DIR", ".")


def udp():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(0.5)
    return s


def drain(s, n=200, timeout=0.3):
    out = []
    s.settimeout(timeout)
    for _ in range(n):
        try:
            out.append(s.recv(4000))
        except socket.timeout:
            break
    return out


def crypto_lines(body):
    return [(int(t), s, base64.b64decode(k + "=" * (-len(k) % 4)), rest)
            for t, s, k, rest in re.findall(
                r"^a=crypto:(\d+) (\S+) inline:([A-Za-z0-9+/=]+)(.*?)\r?$",
                body.decode(), re.M)]


def m_port(body):
    m = re.search(rb"^m=audio (\d+) (\S+)", body, re.M)
    return int(m.group(1)), m.group(2).decode()


class Call:
    """One call between the phone and the peer through the gateway."""

    def __init__(self, g, cid):
        self.g, self.cid = g, cid
        self.ph_rtp, self.peer_rtp = udp(), udp()
        self.ph_rtcp, self.peer_rtcp = None, None
        self.cseq_ph, self.cseq_peer = 1, 1
        self.seq_ph, self.seq_peer = 100, 5000
        self.in_port = self.out_port = None
        self.tx = self.rx = None	# the peer's SRTP contexts
        self.routes_peer = self.routes_ph = []
        self.tag_ph, self.tag_peer = "ph" + cid, "pe" + cid

    # Signalling helpers.
    def ph_req(self, method, ruri, body=b"", extra=()):
        ph = self.g.phone
        hdrs = [("Via", f"SIP/2.0/UDP 127.0.0.1:{ph.port};branch=z9hG4bK{self.cid}{method}{self.cseq_ph};rport"),
                ("Max-Forwards", "70")]
        hdrs += [("Route", r) for r in self.routes_ph]
        hdrs += [("From", f"<sip:alice@pbx.lab.test>;tag={self.tag_ph}"),
                 ("To", f"<sip:bob@pbx.lab.test>" + (f";tag={self.tag_peer}" if self.routes_ph else "")),
                 ("Call-ID", self.cid), ("CSeq", f"{self.cseq_ph} {method}"),
                 ("Contact", f"<sip:alice@127.0.0.1:{ph.port}>")] + list(extra)
        if body:
            hdrs.append(("Content-Type", "application/sdp"))
        if method != "ACK":
            self.cseq_ph += 1
        self.g.phone.send(build(f"{method} {ruri} SIP/2.0", hdrs, body))

    def peer_req(self, method, ruri, body=b""):
        g = self.g
        hdrs = [("Via", f"SIP/2.0/TLS 127.0.0.1:{g.p_peer};branch=z9hG4bKp{self.cid}{method}{self.cseq_peer}"),
                ("Max-Forwards", "70")]
        hdrs += [("Route", r) for r in self.routes_peer]
        hdrs += [("From", f"<sip:bob@pbx.lab.test>;tag={self.tag_peer}"),
                 ("To", f"<sip:alice@pbx.lab.test>;tag={self.tag_ph}"),
                 ("Call-ID", self.cid), ("CSeq", f"{self.cseq_peer} {method}"),
                 ("Contact", f"<sip:bob@127.0.0.1:{g.p_peer};transport=tls>")]
        if body:
            hdrs.append(("Content-Type", "application/sdp"))
        self.cseq_peer += 1
        g.peer.send(build(f"{method} {ruri} SIP/2.0", hdrs, body))

    def peer_answer_keys(self, offer_body, suite=None, tag=None,
                         params="", peer_key=None):
        """Pick a crypto of the gateway's offer; return (answer crypto
        line, our tx key). Sets self.rx to decrypt what the gateway sends."""
        cl = crypto_lines(offer_body)
        for t, s, k, rest in cl:
            if (suite is None or s == suite) and (tag is None or t == tag):
                break
        else:
            raise AssertionError(f"no {suite} in {cl}")
        self.rx = Srtp(s, k, False, rtcp_plain="UNENCRYPTED_SRTCP" in rest)
        self.gw_key = k
        klen = len(k)
        peer_key = peer_key or os.urandom(klen)
        self.tx = Srtp(s, peer_key, True, rtcp_plain="UNENCRYPTED_SRTCP" in params)
        line = f"{t} {s} inline:{base64.b64encode(peer_key).decode()}{params}"
        return line, peer_key, s

    def setup_from_phone(self, suite=None):
        """Phone calls peer; the peer answers with SRTP."""
        g = self.g
        self.ph_req("INVITE", "sip:bob@pbx.lab.test", sdp(self.ph_rtp.getsockname()[1]))
        m = g.peer.recv()
        assert m is not None and m.method == "INVITE", "INVITE to peer"
        self.out_port, proto = m_port(m.body)
        self.offer1 = m.body
        line, self.peer_key, self.suite = self.peer_answer_keys(m.body, suite)
        self.routes_peer = m.all("Record-Route")
        self.routes_ph = list(reversed(self.routes_peer))
        g.peer.send(response_to(m, 200, "OK", [
            ("Contact", f"<sip:bob@127.0.0.1:{g.p_peer};transport=tls>"),
            ("Content-Type", "application/sdp")],
            sdp(self.peer_rtp.getsockname()[1], [line], "RTP/SAVP"),
            to_tag=self.tag_peer))
        r = g.phone.recv()
        assert r is not None and r.status == 200, f"200 to phone: {r}"
        self.in_port, _ = m_port(r.body)
        self.ph_req("ACK", f"sip:bob@127.0.0.1:{g.p_peer};transport=tls")
        g.peer.recv(timeout=1)
        return proto

    # Media helpers.
    def ph_send(self, n, ssrc=0x1111, seq=None):
        sent = []
        if seq is not None:
            self.seq_ph = seq
        for _ in range(n):
            p = rtp(self.seq_ph & 0xffff, ssrc)
            self.seq_ph += 1
            self.ph_rtp.sendto(p, ("127.0.0.1", self.in_port))
            sent.append(p)
            time.sleep(0.001)
        return sent

    def peer_send(self, n, ssrc=0x2222, seq=None, tx=None, keep=None):
        sent = []
        if seq is not None:
            self.seq_peer = seq
        for _ in range(n):
            p = rtp(self.seq_peer & 0xffff, ssrc)
            self.seq_peer += 1
            s = (tx or self.tx).protect(p)
            if keep is not None:
                keep.append(s)
            self.peer_rtp.sendto(s, ("127.0.0.1", self.out_port))
            sent.append(p)
            time.sleep(0.001)
        return sent

    def peer_recv_plain(self, timeout=0.3):
        out, bad = [], 0
        for s in drain(self.peer_rtp, timeout=timeout):
            try:
                out.append((len(s), self.rx.unprotect(s)))
            except SrtpError:
                bad += 1
        return out, bad


def test_relay_and_matrix(tmp, certs):
    g = Gateway(tmp, certs, "srtp",
                "AES_CM_128_HMAC_SHA1_80 AEAD_AES_256_GCM AES_256_CM_HMAC_SHA1_80",
                name="srtp-matrix")
    try:
        g.register_phone()
        c = Call(g, "m1")
        proto = c.setup_from_phone("AES_CM_128_HMAC_SHA1_80")
        check(proto == "RTP/SAVP", "the outside offer is RTP/SAVP")
        # Relay both ways, byte for byte.
        sent = c.ph_send(50)
        got, bad = c.peer_recv_plain()
        check([p for _, p in got] == sent and bad == 0,
              f"phone -> peer: {len(got)}/50 decrypt to the sent packets")
        check(all(n == 172 + 10 for n, _ in got),
              "each SRTP packet is 10 bytes longer (AES_CM_128_HMAC_SHA1_80)")
        sent = c.peer_send(50)
        got = drain(c.ph_rtp)
        check(got == sent, f"peer -> phone: {len(got)}/50 plain packets identical")
        # Tampered and replayed packets are dropped and counted.
        keep = []
        c.peer_send(1, keep=keep)
        drain(c.ph_rtp)
        t = bytearray(c.tx.protect(rtp(c.seq_peer, 0x2222)))	# never sent
        c.seq_peer += 1
        t[20] ^= 0x55
        c.peer_rtp.sendto(bytes(t), ("127.0.0.1", c.out_port))
        c.peer_rtp.sendto(keep[0], ("127.0.0.1", c.out_port))
        check(drain(c.ph_rtp) == [], "tampered and replayed packets not delivered")
        sent = c.peer_send(10)
        check(drain(c.ph_rtp) == sent, "audio goes on after the attack")
        out, st = g.status()
        check(st.get("srtp_auth_fail") == 1 and st.get("srtp_replay") == 1,
              f"one auth failure and one replay counted: {out}")

        # a. Re-INVITE refresh, nothing changed: same key, no new context.
        before = g.status()[1]
        c.ph_req("INVITE", f"sip:bob@127.0.0.1:{g.p_peer};transport=tls",
                 sdp(c.ph_rtp.getsockname()[1]))
        m = g.peer.recv()
        check(m is not None and m.method == "INVITE", "a: re-INVITE reached the peer")
        old = dict((s, k) for _, s, k, _ in crypto_lines(c.offer1))
        new = dict((s, k) for _, s, k, _ in crypto_lines(m.body))
        check(new.get(c.suite) == old.get(c.suite),
              "a: the refresh offers the same key for the suite in use")
        line = f"1 {c.suite} inline:{base64.b64encode(c.peer_key).decode()}"
        g.peer.send(response_to(m, 200, "OK", [("Contact", f"<sip:bob@127.0.0.1:{g.p_peer};transport=tls>"),
                                               ("Content-Type", "application/sdp")],
                                sdp(c.peer_rtp.getsockname()[1], [line], "RTP/SAVP"),
                                to_tag=c.tag_peer))
        g.phone.recv()
        c.ph_req("ACK", f"sip:bob@127.0.0.1:{g.p_peer};transport=tls")
        g.peer.recv(timeout=0.5)
        after = g.status()[1]
        check(after["srtp_tx_contexts"] == before["srtp_tx_contexts"] and
              after["srtp_rx_contexts"] == before["srtp_rx_contexts"],
              f"a: no SRTP context replaced (ROC kept): {before['srtp_tx_contexts']} -> {after['srtp_tx_contexts']}")
        sent = c.ph_send(20)
        got, bad = c.peer_recv_plain()
        check([p for _, p in got] == sent, "a: audio continues in the same context")

        # b. Re-INVITE from the peer with a new key: installed, no gap.
        new_key = os.urandom(30)
        old_tx = c.tx
        c.peer_req("INVITE", f"sip:alice@127.0.0.1:{g.phone.port}",
                   sdp(c.peer_rtp.getsockname()[1],
                       [f"7 AES_CM_128_HMAC_SHA1_80 inline:{base64.b64encode(new_key).decode()}"],
                       "RTP/SAVP"))
        m = g.phone.recv()
        check(m is not None and m.method == "INVITE" and b"a=crypto" not in m.body,
              "b: peer's re-INVITE reaches the phone as plain RTP/AVP")
        g.phone.send(response_to(m, 200, "OK", [("Contact", f"<sip:alice@127.0.0.1:{g.phone.port}>"),
                                                ("Content-Type", "application/sdp")],
                                 sdp(c.ph_rtp.getsockname()[1]), to_tag=c.tag_ph))
        r = g.peer.recv()
        cl = crypto_lines(r.body) if r else []
        check(len(cl) == 1 and cl[0][0] == 7 and cl[0][2] == c.gw_key,
              f"b: answer: one a=crypto, tag 7, our unchanged key: {cl}")
        # Packets still in flight with the old key, then the new one.
        sent_old = c.peer_send(5, tx=old_tx)
        c.tx = Srtp("AES_CM_128_HMAC_SHA1_80", new_key, True)
        sent_new = c.peer_send(20)
        got = drain(c.ph_rtp)
        check(got == sent_old + sent_new,
              f"b: no gap across the re-key ({len(got)}/25 delivered)")
        check(g.status()[1].get("srtp_peer_rekeys") == 1, "b: re-key counted")

        # c/d. SSRC change and sequence wrap through the relay, both ways.
        sent = c.peer_send(12, ssrc=0x3333, seq=65530)
        sent += c.peer_send(10, ssrc=0x4444, seq=100)
        got = drain(c.ph_rtp)
        check(got == sent, f"c/d: wrap and new SSRC from the peer: {len(got)}/22")
        sent = c.ph_send(12, ssrc=0x5555, seq=65530)
        sent += c.ph_send(10, ssrc=0x6666, seq=7)
        got, bad = c.peer_recv_plain()
        check([p for _, p in got] == sent and bad == 0,
              f"c/d: wrap and new SSRC from the phone: {len(got)}/22")

        # RTCP -> SRTCP and back (port + 1).
        # The peer's RTCP port is its RTP port + 1 (no a=rtcp): listen there.
        sr = rtcp_sr(0x1111)
        c.peer_rtcp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            c.peer_rtcp.bind(("127.0.0.1", c.peer_rtp.getsockname()[1] + 1))
        except OSError:
            c.peer_rtcp = None
        if c.peer_rtcp:
            c.ph_rtp.sendto(sr, ("127.0.0.1", c.in_port + 1))
            got = drain(c.peer_rtcp, timeout=0.3)
            check(drain(c.peer_rtp, timeout=0.1) == [],
                  "RTCP goes to port+1, not to the RTP port")
            ok = len(got) == 1 and c.rx.unprotect_rtcp(got[0]) == sr
            check(ok, "RTCP from the phone arrives as SRTCP and decrypts")
        c.ph_req("BYE", f"sip:bob@127.0.0.1:{g.p_peer};transport=tls")
        m = g.peer.recv()
        check(m is not None and m.method == "BYE", "BYE crossed")
        if m:
            g.peer.send(response_to(m, 200, "OK"))
            g.phone.recv()
        time.sleep(0.2)
        check(g.status()[1].get("media_streams") == 0, "ports released after BYE")
    finally:
        g.stop(check, FAILURES)


def test_offer_from_outside(tmp, certs):
    """e (early media), g (256-bit keys, padding), h (late offer), i."""
    g = Gateway(tmp, certs, "srtp",
                "AES_CM_128_HMAC_SHA1_80 AEAD_AES_256_GCM AES_256_CM_HMAC_SHA1_80",
                name="srtp-outside")
    try:
        token = g.register_phone()
        for suite, klen, pad in (("AEAD_AES_256_GCM", 44, False),
                                 ("AES_256_CM_HMAC_SHA1_80", 46, True),
                                 ("AEAD_AES_256_GCM", 44, True)):
            c = Call(g, f"g{suite[:8]}{pad}")
            c.tag_peer, c.tag_ph = "pe" + c.cid, "ph" + c.cid
            peer_key = os.urandom(klen)
            b64 = base64.b64encode(peer_key).decode()
            if not pad:
                b64 = b64.rstrip("=")
            g.peer.send(build(f"INVITE {token} SIP/2.0", [
                ("Via", f"SIP/2.0/TLS 127.0.0.1:{g.p_peer};branch=z9hG4bK{c.cid}"),
                ("Max-Forwards", "70"),
                ("From", f"<sip:bob@pbx.lab.test>;tag={c.tag_peer}"),
                ("To", "<sip:alice@pbx.lab.test>"), ("Call-ID", c.cid),
                ("CSeq", "1 INVITE"),
                ("Contact", f"<sip:bob@127.0.0.1:{g.p_peer};transport=tls>"),
                ("Content-Type", "application/sdp")],
                sdp(c.peer_rtp.getsockname()[1], [f"1 {suite} inline:{b64}"], "RTP/SAVP")))
            m = g.phone.recv()
            check(m is not None and m.method == "INVITE",
                  f"g: {suite} offer ({'padded' if pad else 'unpadded'}) accepted")
            if m is None:
                continue
            c.in_port, _ = m_port(m.body)
            # e: early media: 183 with SDP, media before the 200.
            g.phone.send(response_to(m, 183, "Session Progress", [
                ("Contact", f"<sip:alice@127.0.0.1:{g.phone.port}>"),
                ("Content-Type", "application/sdp")],
                sdp(c.ph_rtp.getsockname()[1]), to_tag=c.tag_ph))
            r = g.peer.recv()
            cl = crypto_lines(r.body) if r else []
            check(r is not None and r.status == 183 and len(cl) == 1 and
                  cl[0][1] == suite and len(cl[0][2]) == klen,
                  f"e/g: 183 answers with our {suite} key")
            if not cl:
                continue
            c.out_port, _ = m_port(r.body)
            c.rx = Srtp(suite, cl[0][2], False)
            c.tx = Srtp(suite, peer_key, True)
            sent = c.ph_send(10)
            got, bad = c.peer_recv_plain()
            check([p for _, p in got] == sent,
                  f"e: early media from the first packet ({len(got)}/10)")
            sent = c.peer_send(10)
            check(drain(c.ph_rtp) == sent, "e: early media toward the phone")
            acks = getattr(g.phone, "acks_absorbed", 0)
            g.phone.send(response_to(m, 486, "Busy Here", to_tag=c.tag_ph))
            g.peer.recv()
            # The INVITE left on UDP: the gateway ACKs the 486 itself, hop
            # by hop (RFC 3261 17.1.1.3); the phone's server transaction
            # takes it (sipmsg.UdpPhone absorbs it and counts it).
            g.phone.recv(timeout=0.5)
            check(getattr(g.phone, "acks_absorbed", 0) == acks + 1,
                  "g: the gateway ACKs the 486 on the UDP leg")

        # h. Late offer: INVITE without SDP, offer in 200, answer in ACK.
        c = Call(g, "h1")
        g.peer.send(build(f"INVITE {token} SIP/2.0", [
            ("Via", f"SIP/2.0/TLS 127.0.0.1:{g.p_peer};branch=z9hG4bKh1"),
            ("Max-Forwards", "70"),
            ("From", f"<sip:bob@pbx.lab.test>;tag={c.tag_peer}"),
            ("To", "<sip:alice@pbx.lab.test>"), ("Call-ID", c.cid),
            ("CSeq", "1 INVITE"),
            ("Contact", f"<sip:bob@127.0.0.1:{g.p_peer};transport=tls>")]))
        m = g.phone.recv()
        check(m is not None and m.body == b"", "h: SDP-less INVITE reaches the phone")
        g.phone.send(response_to(m, 200, "OK", [
            ("Contact", f"<sip:alice@127.0.0.1:{g.phone.port}>"),
            ("Content-Type", "application/sdp")], sdp(c.ph_rtp.getsockname()[1]),
            to_tag=c.tag_ph))
        r = g.peer.recv()
        port, proto = m_port(r.body) if r else (0, "")
        check(proto == "RTP/SAVP" and len(crypto_lines(r.body)) >= 1,
              f"h: the offer in the 200 is RTP/SAVP with keys, never RTP/AVP: {proto}")
        if r and proto == "RTP/SAVP":
            c.out_port = port
            line, peer_key, suite = c.peer_answer_keys(r.body, "AES_CM_128_HMAC_SHA1_80")
            c.routes_peer = r.all("Record-Route")
            g.peer.send(build(f"ACK sip:alice@127.0.0.1:{g.phone.port} SIP/2.0", [
                ("Via", f"SIP/2.0/TLS 127.0.0.1:{g.p_peer};branch=z9hG4bKh1ack"),
                ("Max-Forwards", "70")] + [("Route", x) for x in c.routes_peer] + [
                ("From", f"<sip:bob@pbx.lab.test>;tag={c.tag_peer}"),
                ("To", f"<sip:alice@pbx.lab.test>;tag={c.tag_ph}"), ("Call-ID", c.cid),
                ("CSeq", "1 ACK"), ("Content-Type", "application/sdp")],
                sdp(c.peer_rtp.getsockname()[1], [line], "RTP/SAVP")))
            a = g.phone.recv()
            check(a is not None and a.method == "ACK" and b"a=crypto" not in a.body
                  and m_port(a.body)[1] == "RTP/AVP", "h: the answer in the ACK reaches the phone plain")
            c.in_port, _ = m_port(r.body) if False else (None, None)
            # The phone's media port is in its own offer; send from it.
            c.in_port = m_port(a.body)[0] if a else None
            sent = c.peer_send(10)
            check(drain(c.ph_rtp) == sent, "h: media flows after a late offer")
            # An SDP-less re-INVITE from the peer: the phone's offer goes
            # out RTP/SAVP again.
            c.cseq_peer = 2
            c.peer_req("INVITE", f"sip:alice@127.0.0.1:{g.phone.port}")
            m = g.phone.recv()
            g.phone.send(response_to(m, 200, "OK", [
                ("Contact", f"<sip:alice@127.0.0.1:{g.phone.port}>"),
                ("Content-Type", "application/sdp")], sdp(c.ph_rtp.getsockname()[1]),
                to_tag=c.tag_ph))
            r = g.peer.recv()
            check(r is not None and m_port(r.body)[1] == "RTP/SAVP",
                  "h: SDP-less re-INVITE: the 200's offer is RTP/SAVP")

        # i. UNENCRYPTED_SRTCP: accepted when declared, dropped otherwise.
        for declared in (True, False):
            c = Call(g, f"i{int(declared)}")
            c.peer_rtcp = udp()
            params = " UNENCRYPTED_SRTCP" if declared else ""
            peer_key = os.urandom(30)
            g.peer.send(build(f"INVITE {token} SIP/2.0", [
                ("Via", f"SIP/2.0/TLS 127.0.0.1:{g.p_peer};branch=z9hG4bK{c.cid}"),
                ("Max-Forwards", "70"),
                ("From", f"<sip:bob@pbx.lab.test>;tag={c.tag_peer}"),
                ("To", "<sip:alice@pbx.lab.test>"), ("Call-ID", c.cid),
                ("CSeq", "1 INVITE"),
                ("Contact", f"<sip:bob@127.0.0.1:{g.p_peer};transport=tls>"),
                ("Content-Type", "application/sdp")],
                sdp(c.peer_rtp.getsockname()[1],
                    [f"1 AES_CM_128_HMAC_SHA1_80 inline:{base64.b64encode(peer_key).decode()}{params}"],
                    "RTP/SAVP", extra=f"a=rtcp:{c.peer_rtcp.getsockname()[1]}\r\n")))
            m = g.phone.recv()
            ph_rtcp = udp()
            g.phone.send(response_to(m, 200, "OK", [
                ("Contact", f"<sip:alice@127.0.0.1:{g.phone.port}>"),
                ("Content-Type", "application/sdp")],
                sdp(c.ph_rtp.getsockname()[1], extra=f"a=rtcp:{ph_rtcp.getsockname()[1]}\r\n"),
                to_tag=c.tag_ph))
            r = g.peer.recv()
            cl = crypto_lines(r.body)
            check(("UNENCRYPTED_SRTCP" in cl[0][3]) == declared,
                  f"i: our answer {'echoes' if declared else 'does not add'} UNENCRYPTED_SRTCP")
            c.out_port, _ = m_port(r.body)
            rtcp_port = int(re.search(rb"a=rtcp:(\d+)", r.body).group(1))
            tx = Srtp("AES_CM_128_HMAC_SHA1_80", peer_key, True, rtcp_plain=True)
            sr = rtcp_sr(0x7777)
            pkt = tx.protect_rtcp(sr)
            check(pkt[:len(sr)] == sr, "i: the peer's SRTCP is unencrypted (E=0)")
            before = g.status()[1].get("srtcp_plain_dropped", 0)
            c.peer_rtcp.sendto(pkt, ("127.0.0.1", rtcp_port))
            got = drain(ph_rtcp, timeout=0.3)
            if declared:
                check(got == [sr], "i: declared UNENCRYPTED_SRTCP is accepted")
            else:
                after = g.status()[1].get("srtcp_plain_dropped", 0)
                check(got == [] and after == before + 1,
                      "i: undeclared unencrypted SRTCP is dropped and counted")
    finally:
        g.stop(check, FAILURES)


def test_mux_and_timeout(tmp, certs):
    """a=rtcp-mux kept working (RFC 5761); media inactivity ends a call."""
    g = Gateway(tmp, certs, "srtp", "AES_CM_128_HMAC_SHA1_80", name="srtp-mux",
                extra="media-timeout = 2")
    try:
        c = Call(g, "x1")
        mux = "a=rtcp-mux\r\n"
        c.ph_req("INVITE", "sip:bob@pbx.lab.test",
                 sdp(c.ph_rtp.getsockname()[1], extra=mux))
        m = g.peer.recv()
        check(m is not None and b"a=rtcp-mux" in m.body, "a=rtcp-mux offered outside")
        c.out_port, _ = m_port(m.body)
        line, c.peer_key, c.suite = c.peer_answer_keys(m.body)
        g.peer.send(response_to(m, 200, "OK", [
            ("Contact", f"<sip:bob@127.0.0.1:{g.p_peer};transport=tls>"),
            ("Content-Type", "application/sdp")],
            sdp(c.peer_rtp.getsockname()[1], [line], "RTP/SAVP", extra=mux),
            to_tag=c.tag_peer))
        r = g.phone.recv()
        c.in_port, _ = m_port(r.body)
        check(b"a=rtcp-mux" in r.body, "a=rtcp-mux answered inside")
        sr = rtcp_sr(0x1111)
        sent = c.ph_send(5)
        c.ph_rtp.sendto(sr, ("127.0.0.1", c.in_port))
        got = drain(c.peer_rtp)
        check(len(got) == 6 and c.rx.unprotect_rtcp(got[5]) == sr and
              [c.rx.unprotect(x) for x in got[:5]] == sent,
              "RTP and RTCP share the port; RTCP leaves as SRTCP")
        back = c.tx.protect_rtcp(rtcp_sr(0x2222))
        c.peer_rtp.sendto(back, ("127.0.0.1", c.out_port))
        check(drain(c.ph_rtp) == [rtcp_sr(0x2222)], "SRTCP in on the RTP port")
        time.sleep(3.5)
        out, st = g.status()
        check(st.get("calls_active") == 0 and st.get("media_streams") == 0 and
              st.get("media_timeouts") == 1,
              f"media-timeout = 2 ended the silent call: {out}")
    finally:
        g.stop(check, FAILURES)


def main():
    tmp = tempfile.mkdtemp(prefix="sg-srtp-")
    certs = lab_certs(tmp, SRC)
    for t in (test_relay_and_matrix, test_offer_from_outside,
              test_mux_and_timeout):
        try:
            t(tmp, certs)
        except (AssertionError, TypeError, AttributeError) as e:
            check(False, f"{t.__name__}: {e!r}")
    finish()


if __name__ == "__main__":
    main()
