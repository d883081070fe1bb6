"""Scripted SIP user agents for the lab, with sockets in any lab namespace.

One Python process plays several hosts: a socket made while the thread is in
a network namespace stays in that namespace (setns(2), CLONE_NEWNET), so a
test can be the plain phone on the phone LAN and the TLS far end on the WAN
at once and see exactly what each one receives.  Used by late_sdp.py (seen
item 2 of issue 7) and seqfuzz.py (the stateful sequence fuzzer).

The SIP helpers (Msg, build, response_to) are the loopback tests' own
(tests/integration/sipmsg.py).
"""
import ctypes
import os
import re
import select
import socket
import ssl
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integration"))
from sipmsg import Msg, build, response_to, split_list, param  # noqa: E402,F401

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def in_netns(name, fn):
    """Run fn() with this thread in network namespace `name` (the full
    name under /var/run/netns), then come back; returns what fn returned."""
    here = os.open("/proc/self/ns/net", os.O_RDONLY)
    there = os.open(f"/var/run/netns/{name}", os.O_RDONLY)
    try:
        if _libc.setns(there, CLONE_NEWNET) != 0:
            e = ctypes.get_errno()
            raise OSError(e, f"setns {name}: {os.strerror(e)}")
        try:
            return fn()
        finally:
            if _libc.setns(here, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns back")
    finally:
        os.close(there)
        os.close(here)


# What the media invariant forbids (DESIGN §4), as the capture checkers see it.
SECRET_RE = re.compile(rb"a=crypto|a=fingerprint|a=key-mgmt|RTP/SAVP", re.I)
PLAIN_M_RE = re.compile(rb"(?m)^m=\S+ +\d+(?:/\d+)? +RTP/AVPF?(?:\s|$)", re.I)


def secrets_in(data: bytes):
    """The inside invariant on a whole message (sipcap.leaks: the secret
    words in the body, an attribute with its value anywhere)."""
    from sipcap import leaks
    return leaks(data)


def plain_rtp_in(data: bytes):
    return len(PLAIN_M_RE.findall(data))


def sdp(addr, port, proto="RTP/AVP", crypto=(), extra="", media="audio",
        fmts="0 101", sess_id=1):
    """An SDP body: one m= line; crypto: a=crypto values."""
    s = (f"v=0\r\no=- {sess_id} {sess_id} IN IP4 {addr}\r\ns=-\r\n"
         f"c=IN IP4 {addr}\r\nt=0 0\r\n"
         f"m={media} {port} {proto} {fmts}\r\na=rtpmap:0 PCMU/8000\r\n"
         f"a=rtpmap:101 telephone-event/8000\r\n{extra}")
    for c in crypto:
        s += f"a=crypto:{c}\r\n"
    return s.encode()


def key_b64(n=30):
    import base64
    return base64.b64encode(os.urandom(n)).decode()


class Endpoint:
    """A SIP endpoint: sends to one next hop, collects what it receives.
    Subclasses: UdpEndpoint, TlsEndpoint."""

    def __init__(self, name):
        self.name = name
        self.got = []		# every message received, in order

    def poll(self, timeout):
        """Receive what arrives within timeout; returns the new messages."""
        raise NotImplementedError

    def fileno(self):
        return self.sock.fileno()

    def wait_for(self, pred, timeout=3.0):
        """The first message (new or already collected and not taken) for
        which pred holds, within timeout; None otherwise."""
        deadline = time.time() + timeout
        while True:
            for m in self.pending:
                if pred(m):
                    self.pending.remove(m)
                    return m
            left = deadline - time.time()
            if left <= 0:
                return None
            self.poll(min(left, 0.2))

    def take_all(self):
        out, self.pending = self.pending, []
        return out


class UdpEndpoint(Endpoint):
    def __init__(self, name, netns, addr, port, peer):
        super().__init__(name)
        self.addr, self.port, self.peer = addr, port, peer
        self.pending = []

        def mk():
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((addr, port))
            return s
        self.sock = in_netns(netns, mk)
        self.transport = "UDP"

    def send(self, data: bytes, to=None):
        self.sock.sendto(data, to or self.peer)

    def poll(self, timeout):
        new = []
        end = time.time() + timeout
        while True:
            left = end - time.time()
            r, _, _ = select.select([self.sock], [], [], max(left, 0))
            if not r:
                break
            data, _ = self.sock.recvfrom(70000)
            m = Msg(data)
            new.append(m)
            if left <= 0:
                break
        self.got += new
        self.pending += new
        return new


class TlsEndpoint(Endpoint):
    """A TLS client connection to `peer` from addr:port (so that a registrar
    that reuses connections by Contact finds it), with a client certificate."""

    def __init__(self, name, netns, addr, port, peer, cert, key, ca,
                 server_name=None):
        super().__init__(name)
        self.addr, self.port, self.peer = addr, port, peer
        self.pending = []
        self.buf = b""

        def mk():
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((addr, port))
            s.settimeout(5)
            s.connect(peer)
            return s
        raw = in_netns(netns, mk)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_cert_chain(cert, key)
        ctx.load_verify_locations(ca)
        ctx.check_hostname = server_name is not None
        self.sock = ctx.wrap_socket(raw, server_hostname=server_name or peer[0])
        self.sock.setblocking(False)
        self.transport = "TLS"

    def send(self, data: bytes, to=None):
        self.sock.setblocking(True)
        self.sock.sendall(data)
        self.sock.setblocking(False)

    def _frames(self):
        out = []
        while True:
            while self.buf.startswith(b"\r\n"):
                self.buf = self.buf[2:]
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                break
            m = re.search(rb"(?im)^(?:content-length|l)\s*:\s*(\d+)",
                          self.buf[:end])
            n = int(m.group(1)) if m else 0
            if len(self.buf) < end + 4 + n:
                break
            out.append(Msg(self.buf[:end + 4 + n]))
            self.buf = self.buf[end + 4 + n:]
        return out

    def poll(self, timeout):
        end = time.time() + timeout
        new = []
        while True:
            try:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                self.buf += chunk
                continue
            except (ssl.SSLWantReadError, BlockingIOError):
                pass
            new += self._frames()
            left = end - time.time()
            if left <= 0 or (new and left < timeout / 2):
                break
            select.select([self.sock], [], [], min(left, 0.05))
        new += self._frames()
        self.got += new
        self.pending += new
        return new


def route_set(m, uac):
    """The route set of a dialog from a message's Record-Route (RFC 3261
    §12.1.1/§12.1.2): reversed for the UAC (from the response)."""
    rr = m.all("Record-Route")
    return list(reversed(rr)) if uac else rr


def uri_of(naddr):
    m = re.search(r"<([^>]*)>", naddr)
    return m.group(1) if m else naddr.split(";")[0].strip()


def tag_of(naddr):
    return param(naddr, "tag")
