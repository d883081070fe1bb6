"""Small helpers for sipsgate's loopback tests: SIP over UDP and TLS."""
import ctypes
import re
import socket
import ssl
import time


def free_port(kind=socket.SOCK_DGRAM):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def free_ports(n):
    """n ports free for both UDP and TCP."""
    out = []
    while len(out) < n:
        p = free_port()
        t = socket.socket()
        try:
            t.bind(("127.0.0.1", p))
        except OSError:
            continue
        finally:
            t.close()
        if p not in out:
            out.append(p)
    return out


class Msg:
    """A parsed SIP message; headers keep their order and raw values."""

    def __init__(self, data: bytes):
        self.raw = data
        head, _, self.body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.start = lines[0]
        self.headers = []
        for ln in lines[1:]:
            if ln[:1] in (" ", "\t") and self.headers:
                n, v = self.headers[-1]
                self.headers[-1] = (n, v + " " + ln.strip())
                continue
            n, _, v = ln.partition(":")
            self.headers.append((n.strip(), v.strip()))

    def all(self, name):
        compact = {"via": "v", "contact": "m", "from": "f", "to": "t",
                   "call-id": "i", "content-length": "l"}
        names = {name.lower(), compact.get(name.lower(), name.lower())}
        out = []
        for n, v in self.headers:
            if n.lower() in names:
                out.extend(split_list(v))
        return out

    def get(self, name):
        vals = self.all(name)
        return vals[0] if vals else None

    @property
    def is_request(self):
        return not self.start.startswith("SIP/2.0 ")

    @property
    def status(self):
        return int(self.start.split()[1]) if not self.is_request else 0

    @property
    def method(self):
        return self.start.split()[0]

    @property
    def ruri(self):
        return self.start.split()[1]

    def __repr__(self):
        return self.raw.decode("latin-1")


def split_list(v):
    out, cur, q, ang = [], "", False, False
    for ch in v:
        if ch == '"':
            q = not q
        elif ch == "<" and not q:
            ang = True
        elif ch == ">" and not q:
            ang = False
        if ch == "," and not q and not ang:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur.strip())
    return out


def build(start, headers, body=b""):
    s = start + "\r\n"
    for n, v in headers:
        s += "%s: %s\r\n" % (n, v)
    if not any(n.lower() in ("content-length", "l") for n, _ in headers):
        s += "Content-Length: %d\r\n" % len(body)
    return s.encode("latin-1") + b"\r\n" + body


def response_to(req: Msg, code, reason, extra=(), body=b"", to_tag="uas1"):
    hdrs = [("Via", v) for v in req.all("Via")]
    hdrs += [("Record-Route", v) for v in req.all("Record-Route")]
    hdrs += [("From", req.get("From"))]
    to = req.get("To")
    if "tag=" not in to:
        to += ";tag=" + to_tag
    hdrs += [("To", to), ("Call-ID", req.get("Call-ID")),
             ("CSeq", req.get("CSeq"))]
    hdrs += list(extra)
    return build("SIP/2.0 %d %s" % (code, reason), hdrs, body)


def param(value, name):
    m = re.search(r";\s*%s(?:=([^;>,\s]*))?" % re.escape(name), value, re.I)
    if not m:
        return None
    return m.group(1) if m.group(1) is not None else ""


class UdpPhone:
    def __init__(self, gw_port):
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind(("127.0.0.1", 0))
        self.port = self.s.getsockname()[1]
        self.gw = ("127.0.0.1", gw_port)
        self.auto_ack = False   # ACK non-2xx finals to INVITE (17.1.1.3)
        self.absorb = True      # skip retransmissions (see recv)

    def send(self, data: bytes):
        if data.startswith(b"SIP/2.0 ") and self.absorb:
            m = Msg(data)
            if m.status >= 300 and (m.get("CSeq") or "").endswith("INVITE"):
                self.__dict__.setdefault("_finals", set()).add(
                    param(m.all("Via")[0], "branch"))
        self.s.sendto(data, self.gw)

    def ack_final(self, r):
        """RFC 3261 17.1.1.3: the ACK a UA's INVITE client transaction
        sends for a non-2xx final: its own top Via, the response's To."""
        to = r.get("To") or ""
        uri = re.search(r"<([^>]*)>", to)
        self.send(build("ACK %s SIP/2.0" % (uri.group(1) if uri else
                                            to.split(";")[0]),
                        [("Via", r.all("Via")[0]), ("Max-Forwards", "70"),
                         ("From", r.get("From")), ("To", to),
                         ("Call-ID", r.get("Call-ID")),
                         ("CSeq", r.get("CSeq").split()[0] + " ACK")]))

    def recv(self, timeout=3.0, keep_100=False, keep_retrans=False):
        """The next message; the gateway's own 100 Trying (it keeps an
        INVITE transaction for a UDP phone) is counted in self.trying and
        skipped unless keep_100; a request received byte for byte before
        (the gateway's UDP retransmission) is counted in self.retrans and
        skipped unless keep_retrans."""
        deadline = time.time() + timeout
        while True:
            self.s.settimeout(max(deadline - time.time(), 0.001))
            try:
                data, _ = self.s.recvfrom(70000)
            except socket.timeout:
                return None
            m = Msg(data)
            if (not m.is_request and m.status >= 300 and self.auto_ack and
                    (m.get("CSeq") or "").split()[-1:] == ["INVITE"]):
                self.ack_final(m)
            if (self.absorb and m.is_request and m.method == "ACK" and
                    m.all("Via") and param(m.all("Via")[0], "branch") in
                    self.__dict__.get("_finals", ())):
                # RFC 3261 17.2.1: the INVITE server transaction absorbs the
                # ACK for its non-2xx final (the gateway's, hop by hop).
                self.acks_absorbed = getattr(self, "acks_absorbed", 0) + 1
                continue
            if ((m.is_request or m.status >= 300) and self.absorb and
                    not keep_retrans):
                # A UA's transactions absorb retransmissions (RFC 3261
                # 17): the gateway retransmits requests and non-2xx
                # finals on UDP.
                seen = self.__dict__.setdefault("_seen", set())
                if data in seen:
                    self.retrans = getattr(self, "retrans", 0) + 1
                    continue
                if len(seen) > 4096:
                    seen.clear()
                seen.add(data)
            if keep_100 or m.is_request or m.status != 100:
                return m
            self.trying = getattr(self, "trying", 0) + 1


class StreamPeer:
    """One TCP or TLS connection carrying SIP framed by Content-Length."""

    def __init__(self, sock):
        self.s = sock
        self.buf = b""

    def send(self, data: bytes):
        self.s.sendall(data)

    def recv(self, timeout=3.0):
        deadline = time.time() + timeout
        while True:
            while self.buf.startswith(b"\r\n"):
                self.buf = self.buf[2:]
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0:
                m = re.search(rb"(?im)^(?:content-length|l)\s*:\s*(\d+)",
                              self.buf[:end])
                n = int(m.group(1)) if m else 0
                if len(self.buf) >= end + 4 + n:
                    data = self.buf[:end + 4 + n]
                    self.buf = self.buf[end + 4 + n:]
                    return Msg(data)
            left = deadline - time.time()
            if left <= 0:
                return None
            self.s.settimeout(left)
            try:
                chunk = self.s.recv(65536)
            except (socket.timeout, ssl.SSLWantReadError, ConnectionResetError):
                return None
            if not chunk:
                return None
            self.buf += chunk


def die_with_parent():
    """preexec_fn for daemons a test starts: SIGTERM when the test dies
    (prctl PR_SET_PDEATHSIG), so a killed test leaves nothing running."""
    ctypes.CDLL(None).prctl(1, 15)


# Test bookkeeping shared by the loopback tests.
FAILURES = []
_passed = [0]


def check(cond, what):
    """Record one check; print it when it fails."""
    if cond:
        _passed[0] += 1
    else:
        FAILURES.append(what)
        print("FAIL:", what, flush=True)


def finish():
    """Print the closing line CTest logs show, and exit 0 or 1."""
    import sys
    print(f"{_passed[0]} passed, {len(FAILURES)} failed")
    sys.exit(1 if FAILURES else 0)


def lab_certs(tmp, src):
    """Make the lab certificates (certs/sipsgate-certs lab) in tmp/certs."""
    import os
    import subprocess
    certs = os.path.join(tmp, "certs")
    subprocess.run([os.path.join(src, "certs/sipsgate-certs"), "--dir", certs,
                    "lab"], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return certs


def stop_daemon(proc, what="daemon exits cleanly on SIGTERM (sanitizers quiet)"):
    """SIGTERM, then check exit status 0 (a sanitizer report or a hang is a
    failure); returns the status."""
    import subprocess
    proc.terminate()
    try:
        rc = proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        rc = "hung"
    check(rc == 0, f"{what}: {rc}")
    return rc
