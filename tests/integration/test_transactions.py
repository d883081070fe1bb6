#!/usr/bin/env python3
"""RFC 3261 transactions where reliability changes (gateway/txn.c), on
loopback: a TLS peer (Python ssl, OpenSSL) outside, a UDP phone and a UDP
"PBX" (the inside connect) inside, timer-t1 = 60 ms. Every check is on what
crossed the sockets, with the clock:

  TLS -> UDP  retransmissions (A, E capped at T2), 100 Trying after 200 ms,
              A stops on a provisional, 408 after 64*T1 (B, F), hop-by-hop
              ACK for non-2xx (also for its retransmissions), the sender's ACK
              absorbed, 2xx and its ACK end to end, CANCEL before any
              response (held until a provisional; 487 when none comes);
  UDP -> TLS  100 Trying after 200 ms (at once to a retransmission),
              retransmitted INVITE/REGISTER absorbed and
              the last response resent, Timer G until the ACK, CANCEL after
              a provisional (§16.10), the 200 to our CANCEL not forwarded;
  §18.1.1     a request > 1300 bytes goes by TCP where the inside takes TCP
              (over UDP after all when the next hop refuses TCP), 513
              where the inside has no TCP;
  bounds      max-transactions (cap hits counted), all state gone after the
              linger timers; transactions = no (SIGHUP) forwards statelessly:
              the negative control that shows these checks can fail.
"""
import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sipmsg import (FAILURES, Msg, StreamPeer, UdpPhone, build, check,
                    die_with_parent, finish, free_ports, lab_certs, param,
                    response_to, stop_daemon)

SIPSGATE = os.environ.get("SIPSGATE", "build/sipsgate")
SRC = os.environ.get("SG_SOURCE_DIR", ".")
T1 = 0.060
T2 = 0.400
B = 64 * T1                     # 3.84 s


class Pbx:
    """The inside next hop: UDP (and optionally TCP) on one port; every
    datagram is logged with its arrival time by a thread."""

    def __init__(self, port, tcp=False):
        self.port = port
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind(("127.0.0.1", port))
        self.log = []           # (time, Msg)
        self.lock = threading.Lock()
        self.stop = False
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()
        self.ls = None
        if tcp:
            self.ls = socket.socket()
            self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.ls.bind(("127.0.0.1", port))
            self.ls.listen(2)

    def _run(self):
        self.s.settimeout(0.1)
        while not self.stop:
            try:
                data, _ = self.s.recvfrom(70000)
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.log.append((time.time(), Msg(data)))

    def got(self, pred, since=0.0):
        with self.lock:
            return [(t, m) for t, m in self.log if t >= since and pred(m)]

    def wait(self, pred, timeout=3.0, since=0.0, n=1):
        end = time.time() + timeout
        while time.time() < end:
            g = self.got(pred, since)
            if len(g) >= n:
                return g[n - 1][1]
            time.sleep(0.01)
        return None

    def send(self, data, gw_port):
        self.s.sendto(data, ("127.0.0.1", gw_port))


class Gw:
    def __init__(self, tmp, certs, name, extra, tcp_inside=True):
        self.p_in, self.p_out, self.p_peer, self.p_pbx = free_ports(4)
        self.ctl = os.path.join(tmp, f"ctl-{name}.sock")
        self.conf = os.path.join(tmp, f"{name}.conf")
        self.certs = certs
        self.extra = extra
        self.tcp_inside = tcp_inside
        self.write_conf(extra)
        sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        sctx.load_cert_chain(f"{certs}/pbx.crt", f"{certs}/pbx.key")
        sctx.load_verify_locations(f"{certs}/ca.crt")
        sctx.verify_mode = ssl.CERT_REQUIRED
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", self.p_peer))
        ls.listen(2)
        self.pbx = Pbx(self.p_pbx, tcp=tcp_inside)
        self.logpath = os.path.join(tmp, f"{name}.log")
        self.log = open(self.logpath, "w")
        self.proc = subprocess.Popen([SIPSGATE, "-c", self.conf],
                                     stderr=self.log, preexec_fn=die_with_parent)
        ls.settimeout(5)
        c, _ = ls.accept()
        self.peer = StreamPeer(sctx.wrap_socket(c, server_side=True))
        ls.close()
        self.phone = UdpPhone(self.p_in)
        self.phone.absorb = False   # this test counts retransmissions
        self.peer_seen = []

    def write_conf(self, extra):
        c = self.certs
        tcp = f"accept = tcp:127.0.0.1:{self.p_in}\n" if self.tcp_inside else ""
        with open(self.conf, "w") as f:
            f.write(f"""control = {self.ctl}
log-level = debug
[gw]
accept = udp:127.0.0.1:{self.p_in}
{tcp}accept = tls:127.0.0.1:{self.p_out}
connect = tls:127.0.0.1:{self.p_peer}
connect = udp:127.0.0.1:{self.p_pbx}
trusted = 127.0.0.1/32
cert = {c}/gw-a.crt
key = {c}/gw-a.key
ca = {c}/ca.crt
media = relay
rtp-ports = 33000-33099
timer-t1 = {int(T1 * 1000)}
timer-t2 = {int(T2 * 1000)}
timer-t4 = 200
{extra}
""")

    def status(self):
        out = subprocess.run([SIPSGATE, "-s", self.ctl, "status"],
                             capture_output=True, text=True).stdout
        return dict((k, int(v)) for k, v in
                    re.findall(r"^\s+(\w+)\s+(\d+)$", out, re.M))

    def peer_wait(self, pred, timeout=3.0):
        """The next message at the peer that pred accepts; others are kept
        in self.peer_seen."""
        end = time.time() + timeout
        while time.time() < end:
            m = self.peer.recv(max(end - time.time(), 0.01))
            if m is None:
                return None
            self.peer_seen.append((time.time(), m))
            if pred(m):
                return m
        return None

    def peer_quiet(self, pred, secs):
        """Messages pred accepts that reach the peer within secs."""
        got = []
        end = time.time() + secs
        while time.time() < end:
            m = self.peer.recv(max(end - time.time(), 0.01))
            if m is None:
                break
            self.peer_seen.append((time.time(), m))
            if pred(m):
                got.append(m)
        return got


def is_req(method, cid):
    return lambda m: m.is_request and m.method == method and m.get("Call-ID") == cid


def is_resp(status, cid, method=None):
    return lambda m: (not m.is_request and m.status == status and
                      m.get("Call-ID") == cid and
                      (method is None or m.get("CSeq").split()[1] == method))


def req(method, cid, via, cseq=1, extra=(), body=b"", to_tag=None,
        ruri="sip:bob@pbx.lab.test"):
    hdrs = [("Via", via), ("Max-Forwards", "70"),
            ("From", f"<sip:alice@pbx.lab.test>;tag=f{cid}"),
            ("To", "<sip:bob@pbx.lab.test>" + (f";tag={to_tag}" if to_tag else "")),
            ("Call-ID", cid), ("CSeq", f"{cseq} {method}")]
    if method == "INVITE":
        hdrs.append(("Contact", "<sip:alice@127.0.0.1:5999>"))
    hdrs += list(extra)
    return build(f"{method} {ruri} SIP/2.0", hdrs, body)


def peer_via(gw, cid):
    return f"SIP/2.0/TLS 127.0.0.1:{gw.p_peer};branch=z9hG4bK{cid}"


def phone_via(gw, cid):
    return f"SIP/2.0/UDP 127.0.0.1:{gw.phone.port};branch=z9hG4bK{cid};rport"


def ack_for(resp, via, ruri="sip:bob@pbx.lab.test"):
    """The ACK a UAC sends for a non-2xx final (§17.1.1.3)."""
    return build(f"ACK {ruri} SIP/2.0", [
        ("Via", via), ("Max-Forwards", "70"), ("From", resp.get("From")),
        ("To", resp.get("To")), ("Call-ID", resp.get("Call-ID")),
        ("CSeq", resp.get("CSeq").split()[0] + " ACK")])


def gaps(times):
    return [round(b - a, 3) for a, b in zip(times, times[1:])]


def tls_to_udp(gw):
    """A, 100 after 200 ms, A stops on 180, hop-by-hop ACK, 2xx end to end."""
    pbx = gw.pbx
    t0 = time.time()
    gw.peer.send(req("INVITE", "a1", peer_via(gw, "a1")))
    first = pbx.wait(is_req("INVITE", "a1"))
    check(first is not None, "A: INVITE reached the UDP PBX")
    if first is None:
        return
    time.sleep(0.45)
    copies = pbx.got(is_req("INVITE", "a1"))
    ts = [t for t, _ in copies]
    check(len(copies) >= 3 and all(m.raw == first.raw for _, m in copies),
          f"A: the INVITE is retransmitted on UDP, the same bytes: {len(copies)} copies, gaps {gaps(ts)}")
    g = gaps(ts)
    check(len(g) >= 2 and g[0] >= T1 * 0.8 and g[1] >= 1.5 * g[0],
          f"A: starts at T1 = {T1} s and doubles: {g}")
    t100 = gw.peer_wait(is_resp(100, "a1"), 1)
    check(t100 is not None and time.time() - t0 >= 0.2,
          "A: no provisional within 200 ms: the gateway sends 100 Trying over TLS")
    pbx.send(response_to(first, 180, "Ringing", to_tag="pa1"), gw.p_in)
    r = gw.peer_wait(lambda m: not m.is_request and m.get("Call-ID") == "a1" and m.status != 100)
    check(r is not None and r.status == 180, f"A: 180 reaches the TLS caller: {r and r.start}")
    n180 = len(pbx.got(is_req("INVITE", "a1")))
    time.sleep(0.5)
    check(len(pbx.got(is_req("INVITE", "a1"))) == n180,
          "A: retransmissions stop on a provisional")
    # A non-2xx final: ACKed hop by hop by the gateway.
    since = time.time()
    busy = response_to(first, 486, "Busy Here", to_tag="pa1")
    pbx.send(busy, gw.p_in)
    ack = pbx.wait(is_req("ACK", "a1"), 2, since)
    check(ack is not None and ack.get("CSeq") == "1 ACK" and
          ack.all("Via") == [first.all("Via")[0]] and "tag=pa1" in ack.get("To") and
          ack.ruri == first.ruri,
          f"ACK for the 486 from the gateway (same branch, one Via, To tag): {ack}")
    r = gw.peer_wait(lambda m: m.get("Call-ID") == "a1" and m.status == 486)
    check(r is not None, "486 reaches the TLS caller")
    since = time.time()
    pbx.send(busy, gw.p_in)         # a retransmitted final
    check(pbx.wait(is_req("ACK", "a1"), 2, since) is not None,
          "a retransmitted 486 is ACKed again")
    check(gw.peer_quiet(is_resp(486, "a1"), 0.3) == [],
          "the retransmitted 486 is not forwarded")
    if r:
        since = time.time()
        gw.peer.send(ack_for(r, peer_via(gw, "a1")))
        time.sleep(0.3)
        check(pbx.got(is_req("ACK", "a1"), since) == [],
              "the caller's ACK for the 486 is absorbed (hop by hop)")

    # 2xx and its ACK end to end.
    gw.peer.send(req("INVITE", "j1", peer_via(gw, "j1")))
    inv = pbx.wait(is_req("INVITE", "j1"))
    check(inv is not None, "J: INVITE reached the PBX")
    if inv is None:
        return
    ok = response_to(inv, 200, "OK", [("Contact", f"<sip:bob@127.0.0.1:{gw.p_pbx}>")],
                     to_tag="pj1")
    pbx.send(ok, gw.p_in)
    r1 = gw.peer_wait(is_resp(200, "j1"))
    pbx.send(ok, gw.p_in)
    r2 = gw.peer_wait(is_resp(200, "j1"))
    check(r1 is not None and r2 is not None,
          "J: the 200 and its retransmission both reach the caller (2xx end to end)")
    if r1:
        since = time.time()
        route = ", ".join(reversed(r1.all("Record-Route")))
        gw.peer.send(build(f"ACK sip:bob@127.0.0.1:{gw.p_pbx} SIP/2.0", [
            ("Via", peer_via(gw, "j1ack")), ("Route", route),
            ("Max-Forwards", "70"), ("From", r1.get("From")), ("To", r1.get("To")),
            ("Call-ID", "j1"), ("CSeq", "1 ACK")]))
        check(pbx.wait(is_req("ACK", "j1"), 2, since) is not None,
              "J: the ACK for the 2xx is forwarded (end to end)")


def timeouts(gw):
    """B and F (408), E capped at T2, CANCEL before any response (487)."""
    pbx = gw.pbx
    t0 = time.time()
    gw.peer.send(req("INVITE", "b1", peer_via(gw, "b1")))
    gw.peer.send(req("OPTIONS", "f1", peer_via(gw, "f1")))
    gw.peer.send(req("INVITE", "g1", peer_via(gw, "g1")))
    pbx.wait(is_req("INVITE", "g1"))
    gw.peer.send(req("CANCEL", "g1", peer_via(gw, "g1")))
    c200 = gw.peer_wait(is_resp(200, "g1", "CANCEL"), 1)
    check(c200 is not None, "G: CANCEL before any response: 200 at once")
    got = {}
    end = t0 + B + 2.5
    while time.time() < end and len(got) < 3:
        m = gw.peer.recv(max(end - time.time(), 0.01))
        if m is None:
            break
        if not m.is_request and m.status >= 400:
            got[m.get("Call-ID")] = (time.time() - t0, m)
    for cid, code in (("b1", 408), ("f1", 408), ("g1", 487)):
        t, m = got.get(cid, (None, None))
        check(m is not None and m.status == code and B * 0.95 <= t <= B + 2.0,
              f"{cid}: {code} after 64*T1 = {B:.2f} s: {m and m.status} at {t and round(t, 2)} s")
    inv = [t for t, _ in pbx.got(is_req("INVITE", "b1"))]
    check(6 <= len(inv) <= 7, f"B: INVITE sent {len(inv)} times (6..7 within 64*T1), gaps {gaps(inv)}")
    opt = [t for t, _ in pbx.got(is_req("OPTIONS", "f1"))]
    g = gaps(opt)
    check(10 <= len(opt) <= 13 and max(g) <= T2 + 0.15 and max(g) >= T2 * 0.8,
          f"E/F: OPTIONS sent {len(opt)} times, intervals capped at T2 = {T2}: {g}")
    check(pbx.got(is_req("CANCEL", "g1")) == [],
          "G: no CANCEL went to a next hop that never sent a provisional")
    if "b1" in got:
        since = time.time()
        gw.peer.send(ack_for(got["b1"][1], peer_via(gw, "b1")))
        time.sleep(0.3)
        check(pbx.got(is_req("ACK", "b1"), since) == [], "B: the ACK for our 408 stops here")


def cancel_tls_to_udp(gw):
    """CANCEL before any response, then a provisional: CANCEL goes then."""
    pbx = gw.pbx
    gw.peer.send(req("INVITE", "c1", peer_via(gw, "c1")))
    inv = pbx.wait(is_req("INVITE", "c1"))
    check(inv is not None, "C: INVITE reached the PBX")
    if inv is None:
        return
    gw.peer.send(req("CANCEL", "c1", peer_via(gw, "c1")))
    check(gw.peer_wait(is_resp(200, "c1", "CANCEL"), 1) is not None,
          "C: the CANCEL is answered 200 by the gateway")
    time.sleep(0.3)
    check(pbx.got(is_req("CANCEL", "c1")) == [],
          "C: no CANCEL before a provisional (RFC 3261 9.1)")
    since = time.time()
    pbx.send(response_to(inv, 180, "Ringing", to_tag="pc1"), gw.p_in)
    can = pbx.wait(is_req("CANCEL", "c1"), 2, since)
    check(can is not None and can.get("CSeq") == "1 CANCEL" and
          can.all("Via") == [inv.all("Via")[0]] and can.ruri == inv.ruri,
          f"C: CANCEL follows the 180, with the INVITE's branch: {can}")
    if can is None:
        return
    pbx.send(response_to(can, 200, "OK", to_tag="pc1"), gw.p_in)
    since = time.time()
    pbx.send(response_to(inv, 487, "Request Terminated", to_tag="pc1"), gw.p_in)
    r = gw.peer_wait(lambda m: m.get("Call-ID") == "c1" and m.status >= 200 and
                     m.get("CSeq").endswith("INVITE"), 2)
    check(r is not None and r.status == 487, f"C: 487 reaches the caller: {r and r.start}")
    check([m for _, m in gw.peer_seen if m.get("Call-ID") == "c1" and
           m.status == 200 and m.get("CSeq").endswith("CANCEL")].__len__() == 1,
          "C: the PBX's 200 to our CANCEL is not forwarded (the caller has ours)")
    check(pbx.wait(is_req("ACK", "c1"), 2, since) is not None, "C: the 487 is ACKed hop by hop")


def udp_to_tls(gw):
    """100 at once, absorption with resend, Timer G until the ACK."""
    ph = gw.phone
    inv = req("INVITE", "d1", phone_via(gw, "d1"))
    t0 = time.time()
    ph.send(inv)
    m = gw.peer_wait(is_req("INVITE", "d1"))
    check(m is not None, "D: INVITE crossed to TLS")
    if m is None:
        return
    r = ph.recv(2, keep_100=True)
    dt = time.time() - t0
    check(r is not None and r.status == 100 and 0.18 <= dt <= 0.45,
          f"D: no provisional within 200 ms: 100 Trying to the UDP phone, before its T1 (500 ms): {r and r.start} after {dt:.3f} s")
    for _ in range(3):
        ph.send(inv)
        r = ph.recv(1, keep_100=True)
        check(r is not None and r.status == 100, "D: a retransmitted INVITE gets the 100 again")
    check(gw.peer_quiet(is_req("INVITE", "d1"), 0.3) == [],
          "D: retransmitted INVITEs do not cross the TLS link")
    gw.peer.send(response_to(m, 180, "Ringing", to_tag="pd1"))
    r = ph.recv(2)
    check(r is not None and r.status == 180, "D: 180 reaches the phone")
    ph.send(inv)
    r = ph.recv(1)
    check(r is not None and r.status == 180, "D: a retransmission now gets the 180")
    gw.peer.send(response_to(m, 486, "Busy Here", to_tag="pd1"))
    t0 = time.time()
    finals = []
    while time.time() - t0 < 0.5:
        x = ph.recv(0.6 - (time.time() - t0))
        if x is None:
            break
        if x.status == 486:
            finals.append(time.time() - t0)
    check(len(finals) >= 3, f"D: Timer G retransmits the 486 until the ACK: {len(finals)} in 0.5 s at {[round(t, 2) for t in finals]}")
    ack = gw.peer_wait(is_req("ACK", "d1"), 1)
    check(ack is not None and ack.get("CSeq") == "1 ACK" and "tag=pd1" in ack.get("To"),
          "D: the gateway ACKs the 486 over TLS, hop by hop")
    if finals:
        ph.send(ack_for(Msg(response_to(m, 486, "Busy Here", to_tag="pd1")),
                        phone_via(gw, "d1")))
        time.sleep(0.05)
        while ph.recv(0.05):
            pass
        check(ph.recv(0.7) is None, "D: the phone's ACK stops Timer G")
        check(gw.peer_quiet(is_req("ACK", "d1"), 0.2) == [],
              "D: the phone's ACK does not cross (hop by hop)")

    # An INVITE retransmitted before the 200 ms are up gets the 100 at once.
    inv2 = req("INVITE", "d2", phone_via(gw, "d2"))
    ph.send(inv2)
    m2 = gw.peer_wait(is_req("INVITE", "d2"))
    t0 = time.time()
    ph.send(inv2)
    r = ph.recv(1, keep_100=True)
    dt = time.time() - t0
    check(r is not None and r.status == 100 and dt < 0.1,
          f"D: a retransmission before 200 ms brings the 100 at once ({dt:.3f} s)")
    if m2:
        gw.peer.send(response_to(m2, 603, "Decline", to_tag="pd2"))
        r = ph.recv(2)
        if r is not None:
            ph.send(ack_for(r, phone_via(gw, "d2")))

    # REGISTER: absorbed, the 200 resent.
    reg = req("REGISTER", "e1", phone_via(gw, "e1"), ruri="sip:pbx.lab.test",
              extra=[("Contact", f"<sip:alice@127.0.0.1:{ph.port}>")])
    ph.send(reg)
    m = gw.peer_wait(is_req("REGISTER", "e1"))
    check(m is not None, "E: REGISTER crossed")
    if m:
        gw.peer.send(response_to(m, 200, "OK"))
        check(ph.recv(2) is not None, "E: 200 to the phone")
        ph.send(reg)
        r = ph.recv(1)
        check(r is not None and r.status == 200, "E: a retransmitted REGISTER gets the 200 again")
        check(gw.peer_quiet(is_req("REGISTER", "e1"), 0.3) == [],
              "E: ... and does not cross the TLS link")

    # CANCEL after a provisional (§16.10), from the UDP side.
    inv = req("INVITE", "h1", phone_via(gw, "h1"))
    ph.send(inv)
    m = gw.peer_wait(is_req("INVITE", "h1"))
    if m is None:
        check(False, "H: INVITE crossed")
        return
    gw.peer.send(response_to(m, 180, "Ringing", to_tag="ph1"))
    r = ph.recv(2)
    check(r is not None and r.status == 180, "H: 180 to the phone")
    ph.send(req("CANCEL", "h1", phone_via(gw, "h1")))
    r = ph.recv(2)
    check(r is not None and r.status == 200 and r.get("CSeq") == "1 CANCEL",
          f"H: the gateway answers the CANCEL: {r and r.start}")
    can = gw.peer_wait(is_req("CANCEL", "h1"), 2)
    check(can is not None and can.all("Via") == [m.all("Via")[0]],
          "H: CANCEL crosses with the INVITE's branch and only our Via")
    if can is None:
        return
    gw.peer.send(response_to(can, 200, "OK", to_tag="ph1"))
    gw.peer.send(response_to(m, 487, "Request Terminated", to_tag="ph1"))
    r = ph.recv(2)
    check(r is not None and r.status == 487,
          f"H: the next thing the phone gets is the 487, not a second 200 to CANCEL: {r and r.start}")
    check(gw.peer_wait(is_req("ACK", "h1"), 2) is not None, "H: the 487 is ACKed over TLS")
    if r:
        ph.send(ack_for(r, phone_via(gw, "h1")))


def too_large(gw, expect_tcp):
    """§18.1.1: > 1300 bytes toward UDP: TCP where the inside takes it."""
    body = b"x" * 1400
    gw.peer.send(req("MESSAGE", "l1", peer_via(gw, "l1"),
                     extra=[("Content-Type", "text/plain")], body=body))
    if expect_tcp:
        gw.pbx.ls.settimeout(3)
        try:
            c, _ = gw.pbx.ls.accept()
        except socket.timeout:
            check(False, "18.1.1: the gateway connects by TCP for a large request")
            return
        sp = StreamPeer(c)
        m = sp.recv(3)
        check(m is not None and m.method == "MESSAGE" and
              m.all("Via")[0].startswith(f"SIP/2.0/TCP 127.0.0.1:{gw.p_in};branch=z9hG4bK-sg") and
              m.body == body,
              f"18.1.1: the large MESSAGE went by TCP, our Via says TCP: {m and m.all('Via')[0]}")
        check(gw.pbx.got(is_req("MESSAGE", "l1")) == [], "18.1.1: not by UDP")
        if m:
            sp.send(response_to(m, 200, "OK"))
            check(gw.peer_wait(is_resp(200, "l1")) is not None,
                  "18.1.1: the answer on the TCP connection reaches the caller")
        c.close()
        # A next hop without TCP (connection refused): §18.1.1 says retry
        # over UDP, with the Via back to UDP; then UDP for that next hop.
        gw.pbx.ls.close()
        time.sleep(0.2)
        for cid in ("l2", "l3"):
            gw.peer.send(req("MESSAGE", cid, peer_via(gw, cid),
                             extra=[("Content-Type", "text/plain")], body=body))
            m = gw.pbx.wait(is_req("MESSAGE", cid), 3)
            check(m is not None and m.body == body and
                  m.all("Via")[0].startswith(f"SIP/2.0/UDP 127.0.0.1:{gw.p_in};branch=z9hG4bK-sg"),
                  f"18.1.1: {cid}: no TCP at the next hop: over UDP after all, our Via says UDP")
            if m:
                time.sleep(T1 * 2)
                n = len(gw.pbx.got(is_req("MESSAGE", cid)))
                check(n >= 2, f"18.1.1: {cid}: retransmitted on UDP ({n} copies)")
                gw.pbx.send(response_to(m, 200, "OK"), gw.p_in)
                check(gw.peer_wait(is_resp(200, cid)) is not None, f"18.1.1: {cid}: answered")
        st = gw.status()
        check(st.get("udp_too_large_tcp") == 2 and st.get("udp_too_large_udp") == 2,
              f"18.1.1: TCP tried twice, then UDP remembered: {st.get('udp_too_large_tcp')} {st.get('udp_too_large_udp')}")
    else:
        r = gw.peer_wait(lambda x: x.get("Call-ID") == "l1", 3)
        check(r is not None and r.status == 513,
              f"18.1.1: no TCP on the inside: 513 Message Too Large: {r and r.start}")
        time.sleep(0.2)
        check(gw.pbx.got(is_req("MESSAGE", "l1")) == [], "18.1.1: nothing oversized on UDP")


def cap_and_control(gw):
    """max-transactions = 16, then transactions = no by SIGHUP."""
    for i in range(20):
        gw.peer.send(req("OPTIONS", f"m{i}", peer_via(gw, f"m{i}")))
    gw.pbx.wait(is_req("OPTIONS", "m19"))
    time.sleep(0.1)
    st = gw.status()
    check(st.get("txn_active") == 16 and st.get("txn_cap_hits") == 4,
          f"cap: 16 transactions held, 4 requests stateless: {st.get('txn_active')}, {st.get('txn_cap_hits')}")
    # Negative control: the same checks fail without transactions.
    gw.write_conf(gw.extra.replace("max-transactions = 16", "transactions = no"))
    gw.proc.send_signal(signal.SIGHUP)
    end = time.time() + 5
    while time.time() < end and "reload: done" not in open(gw.logpath).read():
        time.sleep(0.05)
    time.sleep(B + 0.5)         # the held ones time out
    gw.peer.send(req("INVITE", "n1", peer_via(gw, "n1")))
    gw.pbx.wait(is_req("INVITE", "n1"))
    time.sleep(0.5)
    n = len(gw.pbx.got(is_req("INVITE", "n1")))
    check(n == 1, f"control (transactions = no): the INVITE is not retransmitted ({n} copy)")
    ph = gw.phone
    inv = req("INVITE", "n2", phone_via(gw, "n2"))
    ph.send(inv)
    ph.send(inv)
    got = gw.peer_quiet(is_req("INVITE", "n2"), 0.5)
    check(len(got) == 2, f"control: a phone's retransmission crosses again ({len(got)} INVITEs)")


def main():
    tmp = tempfile.mkdtemp(prefix="sg-txn-")
    certs = lab_certs(tmp, SRC)
    gw = Gw(tmp, certs, "gw1", "")
    gw2 = None
    try:
        tls_to_udp(gw)
        cancel_tls_to_udp(gw)
        udp_to_tls(gw)
        too_large(gw, True)
        timeouts(gw)
        st = gw.status()
        print("gw1 after the calls:", {k: v for k, v in st.items() if k.startswith(("txn", "udp_too"))})
        check(st.get("txn_retransmissions", 0) > 20 and st.get("txn_absorbed", 0) >= 6 and
              st.get("txn_timeouts") == 3 and st.get("txn_acks", 0) >= 3 and
              st.get("txn_cancels") == 3 and st.get("udp_too_large_tcp") == 2,
              f"counters: {st}")
        # Everything lingers at most 64*T1 after it ended.
        end = time.time() + B + 3
        while time.time() < end and gw.status().get("txn_active") != 0:
            time.sleep(0.2)
        check(gw.status().get("txn_active") == 0, "no transaction left after the linger timers")
        gw2 = Gw(tmp, certs, "gw2", "max-transactions = 16", tcp_inside=False)
        too_large(gw2, False)
        cap_and_control(gw2)
    finally:
        for g in (gw, gw2):
            if g is None:
                continue
            g.pbx.stop = True
            stop_daemon(g.proc, f"{g.conf}: daemon exits cleanly (sanitizers quiet)")
            g.log.close()
            if FAILURES:
                print(open(g.logpath).read()[-5000:])
    finish()


if __name__ == "__main__":
    main()
