#!/usr/bin/env python3
"""bench/mediactl.py — the control half of bench/media.sh (a benchmark, not a
test): it starts one media relay pinned to CPU 0, sets up calls through it
without any SIP load generator, hands their ports and SRTP keys to
bench/rtpload (pinned to CPU 1) and steps the number of calls up until the
relay loses packets.

Relays (one per run of this script):
  sipsgate   one gateway; SIP over its inside UDP from a Python "phone",
             its outside TLS to a Python peer (ssl) that answers the
             gateway's RTP/SAVP offer with a key of its own (as
             tests/integration/test_media_srtp.py does)
  rtpengine  rtpengine-daemon, userspace (--table=-1), --num-threads=1,
             driven over its ng protocol (bencode over UDP): offer from the
             plain side with transport-protocol RTP/SAVP, answer with an
             RTP/SAVP SDP carrying one of the offered a=crypto tags
  udprelay   bench/udprelay (the floor: no SRTP), one socket pair for all
             calls (--pairs 1) or one per call (--pairs 0)
  direct     no relay: rtpload's two sockets send to each other (the
             loopback baseline of the latency figures)

Every step: the calls are set up (cumulative), then rtpload sends PPS packets/s
per call and direction (172-byte RTP, both directions, so 2 x PPS x calls
packets/s) for --secs seconds and reports what came out; a step holds when
fewer than --max-loss of the packets were lost or later than 50 ms. A step
during which the rest of the machine used more than --idle-max % of a CPU is
run again (at most twice; the quietest attempt counts). Stepping stops at
the first step that does not hold.

Output: a table on stdout and one line per step ("step ...") plus one
"phase ..." line of key=value pairs appended to --results.
"""
import argparse
import base64
import os
import random
import re
import socket
import ssl
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from sipmsg import Msg, StreamPeer, build, die_with_parent, response_to  # noqa: E402

PHONE_MEDIA = ("127.0.0.2", 5004)   # rtpload's phone socket
PEER_MEDIA = ("127.0.0.3", 5004)    # rtpload's SRTP peer socket
SUITE = "AES_CM_128_HMAC_SHA1_80"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(*a):
    print(*a, flush=True)


def sdp(addr, port, proto, crypto=()):
    s = (f"v=0\r\no=- 1 1 IN IP4 {addr}\r\ns=-\r\nc=IN IP4 {addr}\r\nt=0 0\r\n"
         f"m=audio {port} {proto} 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n")
    for c in crypto:
        s += f"a=crypto:{c}\r\n"
    return s


def crypto_lines(body):
    return [(int(t), s, base64.b64decode(k + "=" * (-len(k) % 4)))
            for t, s, k in re.findall(
                r"^a=crypto:(\d+) (\S+) inline:([A-Za-z0-9+/=]+)", body, re.M)]


def media_of(body):
    c = re.search(r"^c=IN IP4 (\S+)", body, re.M)
    m = re.search(r"^m=audio (\d+) (\S+)", body, re.M)
    return c.group(1), int(m.group(1)), m.group(2)


def free_tcp_udp_port():
    while True:
        u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        u.bind(("127.0.0.1", 0))
        p = u.getsockname()[1]
        t = socket.socket()
        try:
            t.bind(("127.0.0.1", p))
            return p
        except OSError:
            continue
        finally:
            t.close()
            u.close()


# --- rtpload ------------------------------------------------------------------

class RtpLoad:
    def __init__(self, exe, pin, logf):
        self.p = subprocess.Popen(pin + [exe, "drive"], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=logf, text=True,
                                  bufsize=1, preexec_fn=die_with_parent)
        self.cmd(f"bind {PHONE_MEDIA[0]}:{PHONE_MEDIA[1]} {PEER_MEDIA[0]}:{PEER_MEDIA[1]}")
        self.ncalls = 0

    def _reply(self, what):
        r = self.p.stdout.readline()
        if not r:
            raise RuntimeError(f"rtpload died ({what})")
        parts = r.split()
        if parts[0] != "ok":
            raise RuntimeError(f"rtpload: {what}: {r.strip()}")
        return dict(kv.split("=", 1) for kv in parts[1:] if "=" in kv)

    def cmd(self, line):
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        return self._reply(line.split()[0])

    def add_calls(self, calls):
        """calls: (suite|"plain", gwkey bytes, peerkey bytes, (in host, port), (out host, port))"""
        for suite, gk, pk, i, o in calls:
            self.p.stdin.write(f"call {suite} {gk.hex() or '-'} {pk.hex() or '-'} "
                               f"{i[0]}:{i[1]} {o[0]}:{o[1]}\n")
        self.p.stdin.flush()
        for _ in calls:
            self._reply("call")
        self.ncalls += len(calls)

    def run(self, n, pps, secs, pid, direct=False):
        return self.cmd(f"run {n} {pps} {secs} {pid}" + (" direct" if direct else ""))

    def close(self):
        try:
            self.p.stdin.write("quit\n")
            self.p.stdin.flush()
            self.p.wait(5)
        except Exception:
            self.p.kill()


# --- relays -------------------------------------------------------------------

class Relay:
    pid = 0
    proc = None
    name = "?"

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def alive(self):
        return self.proc is None or self.proc.poll() is None


class Direct(Relay):
    name = "direct"

    def setup(self, first, last):
        return [("plain", b"", b"", PEER_MEDIA, PHONE_MEDIA)
                for _ in range(first, last)]


class UdpRelay(Relay):
    def __init__(self, a):
        self.pairs = a.pairs
        self.base = 10000   # below ip_local_port_range (lab: 40000-60999)
        self.name = ("udprelay" if a.pairs == 1 else "udprelay-percall") + ("-spin" if a.spin else "")
        n = 1 if a.pairs == 1 else max(int(x) for x in a.steps.split() + [str(a.cmp_calls)])
        self.logf = open(os.path.join(a.dir, f"{self.name}.log"), "w")
        # Peers known from the start (as from SDP); with one pair for all
        # calls, that pair gets the buffer space of many.
        extra = ["-A", "%s:%d" % PHONE_MEDIA, "-B", "%s:%d" % PEER_MEDIA]
        if a.pairs == 1:
            extra += ["-r", str(8 << 20)]
        if a.spin:
            extra += ["-s"]
        self.proc = subprocess.Popen(a.pin_relay + [a.udprelay, "-a", "127.0.0.1", "-p",
                                     str(self.base), "-n", str(n), "-t", "900"] + extra,
                                     stdout=self.logf, stderr=self.logf,
                                     preexec_fn=die_with_parent)
        self.pid = self.proc.pid
        time.sleep(0.3)

    def setup(self, first, last):
        out = []
        for i in range(first, last):
            j = 0 if self.pairs == 1 else i
            out.append(("plain", b"", b"", ("127.0.0.1", self.base + 2 * j),
                        ("127.0.0.1", self.base + 2 * j + 1)))
        return out


class Sipsgate(Relay):
    """One gateway: phone (UDP, inside) -> sipsgate -> TLS peer (outside)."""
    name = "sipsgate"

    def __init__(self, a):
        self.a = a
        self.p_in, self.p_out, self.p_peer = (free_tcp_udp_port() for _ in range(3))
        self.ctl = os.path.join(a.dir, "sipsgate.sock")
        conf = os.path.join(a.dir, "sipsgate.conf")
        with open(conf, "w") as f:
            f.write(f"""control = {self.ctl}
log-level = warning
[gw]
accept = udp:127.0.0.1:{self.p_in}
accept = tls:127.0.0.1:{self.p_out}
connect = tls:127.0.0.1:{self.p_peer}
cert = {a.certs}/gw-a.crt
key = {a.certs}/gw-a.key
ca = {a.certs}/ca.crt
media = srtp
srtp-suites = {SUITE}
media-inside = 127.0.0.1
media-outside = 127.0.0.1
rtp-ports = 20000-39999
media-timeout = 3600
""")
        sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        sctx.load_cert_chain(f"{a.certs}/pbx.crt", f"{a.certs}/pbx.key")
        sctx.load_verify_locations(f"{a.certs}/ca.crt")
        sctx.verify_mode = ssl.CERT_REQUIRED
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", self.p_peer))
        ls.listen(4)
        self.logf = open(os.path.join(a.dir, "sipsgate.log"), "w")
        self.proc = subprocess.Popen(a.pin_relay + [a.sipsgate, "-c", conf],
                                     stdout=self.logf, stderr=self.logf,
                                     preexec_fn=die_with_parent)
        self.pid = self.proc.pid
        ls.settimeout(10)
        c, _ = ls.accept()
        ls.close()
        self.peer = StreamPeer(sctx.wrap_socket(c, server_side=True))
        self.ph = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.ph.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.ph.bind(("127.0.0.1", 0))
        self.ph_port = self.ph.getsockname()[1]
        self.gw = ("127.0.0.1", self.p_in)
        self.run_id = "%06x" % random.getrandbits(24)
        self._register()

    def _ph_recv(self, timeout):
        self.ph.settimeout(timeout)
        try:
            return Msg(self.ph.recvfrom(70000)[0])
        except socket.timeout:
            return None

    def _peer_recv(self, want, timeout=5.0):
        """The next request `want` from the gateway over TLS (others skipped)."""
        end = time.time() + timeout
        while time.time() < end:
            m = self.peer.recv(timeout=max(0.05, end - time.time()))
            if m is None:
                continue
            if m.is_request and m.method == want:
                return m
            if m.is_request and m.method not in ("ACK",):
                self.peer.send(response_to(m, 200, "OK"))
        raise RuntimeError(f"sipsgate: no {want} reached the peer within {timeout} s")

    def _register(self):
        self.ph.sendto(build("REGISTER sip:pbx.lab.test SIP/2.0", [
            ("Via", f"SIP/2.0/UDP 127.0.0.1:{self.ph_port};branch=z9hG4bKreg{self.run_id};rport"),
            ("Max-Forwards", "70"), ("From", "<sip:alice@pbx.lab.test>;tag=r"),
            ("To", "<sip:alice@pbx.lab.test>"), ("Call-ID", f"reg{self.run_id}"),
            ("CSeq", "1 REGISTER"),
            ("Contact", f"<sip:alice@127.0.0.1:{self.ph_port}>")]), self.gw)
        m = self._peer_recv("REGISTER")
        self.peer.send(response_to(m, 200, "OK"))
        r = self._ph_recv(5)
        if r is None or r.status != 200:
            raise RuntimeError(f"sipsgate: REGISTER got {r}")

    def setup(self, first, last, batch=100):
        out = []
        for b0 in range(first, last, batch):
            out += self._setup_batch(range(b0, min(last, b0 + batch)))
        return out

    def _setup_batch(self, idxs):
        cids = {}
        for i in idxs:
            cid = f"m{self.run_id}-{i}"
            cids[cid] = i
            self.ph.sendto(build("INVITE sip:bob@pbx.lab.test SIP/2.0", [
                ("Via", f"SIP/2.0/UDP 127.0.0.1:{self.ph_port};branch=z9hG4bK{cid};rport"),
                ("Max-Forwards", "70"),
                ("From", f"<sip:alice@pbx.lab.test>;tag=a{cid}"),
                ("To", "<sip:bob@pbx.lab.test>"),
                ("Call-ID", cid), ("CSeq", "1 INVITE"),
                ("Contact", f"<sip:alice@127.0.0.1:{self.ph_port}>"),
                ("Content-Type", "application/sdp")],
                sdp(PHONE_MEDIA[0], PHONE_MEDIA[1], "RTP/AVP").encode()), self.gw)
        keys, routes, outs = {}, {}, {}
        for _ in idxs:
            m = self._peer_recv("INVITE")
            cid = m.get("Call-ID")
            body = m.body.decode()
            host, port, proto = media_of(body)
            if proto != "RTP/SAVP":
                raise RuntimeError(f"sipsgate offered {proto}")
            cl = [c for c in crypto_lines(body) if c[1] == SUITE]
            if not cl:
                raise RuntimeError(f"sipsgate offered no {SUITE}: {body}")
            tag, _, gwkey = cl[0]
            peerkey = os.urandom(len(gwkey))
            keys[cid] = (gwkey, peerkey)
            outs[cid] = (host, port)
            routes[cid] = list(reversed(m.all("Record-Route")))
            line = f"{tag} {SUITE} inline:{base64.b64encode(peerkey).decode()}"
            self.peer.send(response_to(m, 200, "OK", [
                ("Contact", f"<sip:bob@127.0.0.1:{self.p_peer};transport=tls>"),
                ("Content-Type", "application/sdp")],
                sdp(PEER_MEDIA[0], PEER_MEDIA[1], "RTP/SAVP", [line]).encode(),
                to_tag="b" + cid))
        ins = {}
        end = time.time() + 10
        while len(ins) < len(idxs) and time.time() < end:
            r = self._ph_recv(max(0.05, end - time.time()))
            if r is None or r.is_request or r.status < 200:
                continue
            cid = r.get("Call-ID")
            if r.status != 200 or cid not in cids:
                raise RuntimeError(f"sipsgate: phone got {r.start} for {cid}")
            host, port, proto = media_of(r.body.decode())
            ins[cid] = (host, port)
            hdrs = [("Via", f"SIP/2.0/UDP 127.0.0.1:{self.ph_port};branch=z9hG4bK{cid}ack;rport"),
                    ("Max-Forwards", "70")]
            hdrs += [("Route", x) for x in routes[cid]]
            hdrs += [("From", f"<sip:alice@pbx.lab.test>;tag=a{cid}"),
                     ("To", r.get("To")), ("Call-ID", cid), ("CSeq", "1 ACK")]
            self.ph.sendto(build(f"ACK sip:bob@127.0.0.1:{self.p_peer};transport=tls SIP/2.0",
                                 hdrs), self.gw)
        if len(ins) < len(idxs):
            raise RuntimeError(f"sipsgate: only {len(ins)} of {len(idxs)} calls answered")
        return [(SUITE, keys[c][0], keys[c][1], ins[c], outs[c])
                for c in sorted(cids, key=cids.get)]

    def status(self):
        return subprocess.run([self.a.sipsgate, "-s", self.ctl, "status"],
                              capture_output=True, text=True, timeout=10).stdout


# bencode (BEP 3) for rtpengine's ng protocol
def benc(x):
    if isinstance(x, int):
        return b"i%de" % x
    if isinstance(x, str):
        x = x.encode()
    if isinstance(x, bytes):
        return b"%d:%s" % (len(x), x)
    if isinstance(x, list):
        return b"l" + b"".join(benc(v) for v in x) + b"e"
    if isinstance(x, dict):
        return b"d" + b"".join(benc(k) + benc(x[k]) for k in sorted(x)) + b"e"
    raise TypeError(x)


def bdec(b, i=0):
    c = b[i:i + 1]
    if c == b"i":
        j = b.index(b"e", i)
        return int(b[i + 1:j]), j + 1
    if c in (b"l", b"d"):
        i += 1
        out = [] if c == b"l" else {}
        while b[i:i + 1] != b"e":
            v, i = bdec(b, i)
            if c == b"l":
                out.append(v)
            else:
                w, i = bdec(b, i)
                out[v.decode()] = w
        return out, i + 1
    j = b.index(b":", i)
    n = int(b[i:j])
    return b[j + 1:j + 1 + n], j + 1 + n


class Rtpengine(Relay):
    name = "rtpengine"

    def __init__(self, a):
        self.ng_port = free_tcp_udp_port()
        self.logf = open(os.path.join(a.dir, "rtpengine.log"), "w")
        cmd = a.pin_relay + ["rtpengine", "--config-file=none", "--foreground", "--log-stderr",
                             "--table=-1", f"--pidfile={a.dir}/rtpengine.pid",
                             f"--listen-ng=127.0.0.1:{self.ng_port}", "--interface=127.0.0.1",
                             "--port-min=20000", "--port-max=39999", "--num-threads=1",
                             "--log-level=4", "--delete-delay=0", "--timeout=3600",
                             "--silent-timeout=3600", "--offer-timeout=3600"]
        self.proc = subprocess.Popen(cmd, stdout=self.logf, stderr=self.logf,
                                     preexec_fn=die_with_parent)
        self.pid = self.proc.pid
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.s.bind(("127.0.0.1", 0))
        self.run_id = "%06x" % random.getrandbits(24)
        self.seq = 0
        for _ in range(100):
            try:
                if self._ng_many([{"command": "ping"}], 0.1)[0].get("result") == b"pong":
                    return
            except (RuntimeError, OSError):
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise RuntimeError("rtpengine does not answer ng ping")

    def _ng_many(self, cmds, timeout=10.0):
        want = {}
        for c in cmds:
            self.seq += 1
            ck = f"{self.run_id}_{self.seq}"
            want[ck] = len(want)
            self.s.sendto(ck.encode() + b" " + benc(c), ("127.0.0.1", self.ng_port))
        out = [None] * len(cmds)
        end = time.time() + timeout
        left = len(cmds)
        while left and time.time() < end:
            self.s.settimeout(max(0.01, end - time.time()))
            try:
                data = self.s.recv(65536)
            except socket.timeout:
                break
            ck, _, rest = data.partition(b" ")
            i = want.pop(ck.decode(), None)
            if i is None:
                continue
            out[i] = bdec(rest)[0]
            left -= 1
        if left:
            raise RuntimeError(f"rtpengine: {left} of {len(cmds)} ng commands unanswered")
        return out

    def setup(self, first, last, batch=100):
        out = []
        for b0 in range(first, last, batch):
            idxs = range(b0, min(last, b0 + batch))
            cids = [f"r{self.run_id}-{i}" for i in idxs]
            offers = self._ng_many([{
                "command": "offer", "call-id": c, "from-tag": "a" + c,
                "sdp": sdp(PHONE_MEDIA[0], PHONE_MEDIA[1], "RTP/AVP"),
                "transport-protocol": "RTP/SAVP", "ICE": "remove", "DTLS": "off",
                "flags": ["trust-address"]} for c in cids])
            answers, keys, outs = [], [], []
            for c, r in zip(cids, offers):
                if r.get("result") != b"ok":
                    raise RuntimeError(f"rtpengine offer: {r}")
                body = r["sdp"].decode()
                host, port, proto = media_of(body)
                cl = [x for x in crypto_lines(body) if x[1] == SUITE]
                if proto != "RTP/SAVP" or not cl:
                    raise RuntimeError(f"rtpengine offered {proto} without {SUITE}")
                tag, _, gwkey = cl[0]
                peerkey = os.urandom(len(gwkey))
                keys.append((gwkey, peerkey))
                outs.append((host, port))
                line = f"{tag} {SUITE} inline:{base64.b64encode(peerkey).decode()}"
                answers.append({
                    "command": "answer", "call-id": c, "from-tag": "a" + c, "to-tag": "b" + c,
                    "sdp": sdp(PEER_MEDIA[0], PEER_MEDIA[1], "RTP/SAVP", [line]),
                    "ICE": "remove", "DTLS": "off", "flags": ["trust-address"]})
            for k, o, r in zip(keys, outs, self._ng_many(answers)):
                if r.get("result") != b"ok":
                    raise RuntimeError(f"rtpengine answer: {r}")
                host, port, proto = media_of(r["sdp"].decode())
                if proto != "RTP/AVP":
                    raise RuntimeError(f"rtpengine answered the phone with {proto}")
                out.append((SUITE, k[0], k[1], (host, port), o))
        return out


# --- stepping -----------------------------------------------------------------

def busy_ticks():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    return v[0] + v[1] + v[2] + v[5] + v[6] + v[7]


def wait_quiet(limit_pct, max_wait):
    """Wait (at most max_wait s) for 0.5 s in which the machine, ours idle,
    used less than limit_pct % of one CPU; returns the seconds waited."""
    t0 = time.time()
    while True:
        b0 = busy_ticks()
        time.sleep(0.5)
        pct = (busy_ticks() - b0) * 100 / CLK_TCK / 0.5
        if pct < limit_pct or time.time() - t0 > max_wait:
            return time.time() - t0 - 0.5

def busy_other(r, wall):
    """% of one CPU used by neither the relay nor rtpload during a run."""
    busy = int(r["busy_ticks"]) / CLK_TCK
    ours = (int(r["relay_ut"]) + int(r["relay_st"])) / CLK_TCK + float(r["self_cpu_s"])
    return max(0.0, (busy - ours) * 100 / wall)


def derive(r):
    """Figures of one rtpload run."""
    d = {}
    sent = int(r["sent_i2o"]) + int(r["sent_o2i"])
    recv = int(r["recv_i2o"]) + int(r["recv_o2i"])
    wall = float(r["secs"])
    send = float(r.get("send_secs", wall)) or wall
    d["calls"] = int(r["calls"])
    d["rate"] = float(r["rate"])
    d["sent"], d["recv"] = sent, recv
    d["delivered_pps"] = recv / send
    d["loss_pct"] = (sent - recv) * 100.0 / sent if sent else 100.0
    d["late"] = int(r["late"])
    d["bad"] = int(r["bad"]) + int(r["wrong"])
    d["txfail"] = int(r["txfail"])
    cpu_t = (int(r["relay_ut"]) + int(r["relay_st"])) / CLK_TCK
    d["relay_cpu_pct"] = cpu_t * 100 / wall
    d["us_pkt"] = cpu_t * 1e6 / recv if recv else 0
    d["us_pkt_usr"] = int(r["relay_ut"]) / CLK_TCK * 1e6 / recv if recv else 0
    d["us_pkt_sys"] = int(r["relay_st"]) / CLK_TCK * 1e6 / recv if recv else 0
    d["us_pkt_sched"] = int(r["relay_sched_ns"]) / 1e3 / recv if recv else 0
    d["rss_kib"] = int(r["relay_rss_kib"])
    d["gen_pct"] = float(r["self_cpu_s"]) * 100 / wall
    d["other_pct"] = busy_other(r, wall)
    d["steal_pct"] = int(r["steal_ticks"]) / CLK_TCK * 100 / wall
    d["lag_ms"] = float(r["lag_ms"])
    for k in ("p50_us", "p90_us", "p99_us", "p999_us", "max_us"):
        d[k] = float(r[k])
    d["wall"] = wall
    return d


HDR = ("%-9s %6s %7s %7s %8s %6s %7s %7s %6s %5s %5s %6s %6s %6s %5s %5s  %s" %
       ("relay", "calls", "pps", "out_pps", "loss%", "late", "p50us", "p99us",
        "relay%", "us/pk", "usr", "sys", "RSS_MiB", "gen%", "other", "lagms", "verdict"))


def row(name, d, verdict):
    return ("%-9s %6d %7.0f %7.0f %8.3f %6d %7.1f %7.1f %6.0f %5.2f %5.2f %6.2f %6.1f %6.0f %5.0f %5.1f  %s" %
            (name, d["calls"], d["rate"], d["delivered_pps"], d["loss_pct"], d["late"],
             d["p50_us"], d["p99_us"], d["relay_cpu_pct"], d["us_pkt"], d["us_pkt_usr"],
             d["us_pkt_sys"], d["rss_kib"] / 1024, d["gen_pct"], d["other_pct"],
             d["lag_ms"], verdict))


def kv(prefix, d):
    return prefix + " " + " ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in d.items())


SYSCALLS = ("recvmmsg", "recvmsg", "recvfrom", "sendmsg", "sendmmsg", "sendto",
            "epoll_wait", "epoll_pwait", "epoll_pwait2", "epoll_ctl", "read", "write",
            "futex", "clock_gettime", "gettimeofday", "ioctl", "poll", "ppoll")


def profile(a, relay, load, n, secs=4):
    """One more run at n calls: which system calls the relay makes per packet
    (perf stat on syscall tracepoints) and, with --perf, where its CPU time
    goes (perf record -g, cpu-clock)."""
    name = relay.name
    what = "system calls per packet (perf stat)" + (", perf record -g" if a.perf else "")
    log(f"{name}: {what} at {n} calls ({n * 2 * a.pps:.0f} packets/s), {secs} s")
    stat_out = os.path.join(a.dir, f"{name}.syscalls.csv")
    evs = ["raw_syscalls:sys_enter"] + [f"syscalls:sys_enter_{x}" for x in SYSCALLS]
    procs = [subprocess.Popen(["perf", "stat", "-x,", "-e", ",".join(evs), "-p", str(relay.pid),
                               "-o", stat_out, "--", "sleep", str(secs)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    if a.perf:
        procs.append(subprocess.Popen(["perf", "record", "-e", "cpu-clock", "-F", "2000", "-g",
                                       "-p", str(relay.pid), "-o", a.perf, "--", "sleep", str(secs)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    time.sleep(0.2)
    d = derive(load.run(n, a.pps, secs + 0.3, relay.pid))
    for p in procs:
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill()
    pkts = d["delivered_pps"] * secs
    counts = {}
    try:
        for ln in open(stat_out):
            f = ln.strip().split(",")
            if len(f) >= 3 and f[0].replace(".", "").isdigit():
                counts[f[2].split(":")[-1].replace("sys_enter_", "")] = int(float(f[0]))
    except OSError:
        pass
    per = {k: v / pkts for k, v in counts.items() if v and pkts}
    d.update({"sc_" + k: round(v, 3) for k, v in per.items()})
    log(row(name, d, "profile run"))
    if per:
        tot = per.pop("sys_enter", 0)
        log(f"{name}: system calls per relayed packet: {tot:.2f} in all: " +
            ", ".join(f"{k} {v:.2f}" for k, v in sorted(per.items(), key=lambda x: -x[1]) if v >= 0.01))
    with open(a.results, "a") as f:
        print(kv(f"profile relay={name}", d), file=f)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("relay", choices=["sipsgate", "rtpengine", "udprelay", "direct"])
    ap.add_argument("--dir", required=True)
    ap.add_argument("--results", required=True)
    ap.add_argument("--rtpload", required=True)
    ap.add_argument("--udprelay")
    ap.add_argument("--sipsgate")
    ap.add_argument("--certs")
    ap.add_argument("--steps", default="100 200 400 800 1000 1200 1600")
    ap.add_argument("--pps", type=float, default=50)
    ap.add_argument("--secs", type=float, default=5)
    ap.add_argument("--max-loss", type=float, default=0.1, help="percent")
    ap.add_argument("--idle-max", type=float, default=25, help="percent of one CPU")
    ap.add_argument("--quiet-wait", type=float, default=10,
                    help="before a step, wait at most this long for a quiet machine")
    ap.add_argument("--spin", action="store_true", help="udprelay: never sleep")
    ap.add_argument("--pairs", type=int, default=1, help="udprelay: 1 = one pair, 0 = one per call")
    ap.add_argument("--pin-relay", default="0")
    ap.add_argument("--pin-load", default="1")
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--nice", type=int, default=0, help="nice value of the relay and rtpload")
    ap.add_argument("--all-steps", action="store_true", help="do not stop at a failing step")
    ap.add_argument("--cmp-calls", type=int, default=0,
                    help="after stepping, a run at this many calls if the steps did not "
                    "get there (the rate at which relays are compared)")
    ap.add_argument("--profile-calls", type=int, default=0,
                    help="after stepping: a run at this many calls with perf stat on the "
                    "relay's system calls")
    ap.add_argument("--perf", help="in that run, also perf record -g the relay into this file")
    a = ap.parse_args()
    a.pin_relay = ["taskset", "-c", a.pin_relay] if a.pin_relay != "-" else []
    a.pin_load = ["taskset", "-c", a.pin_load] if a.pin_load != "-" else []
    if a.nice:
        a.pin_relay = ["nice", "-n", str(a.nice)] + a.pin_relay
        a.pin_load = ["nice", "-n", str(a.nice)] + a.pin_load
    steps = [int(x) for x in a.steps.split()]
    res = open(a.results, "a")

    relay = None
    load = None
    phase = {"relay": a.relay}
    try:
        t0 = time.time()
        relay = {"sipsgate": Sipsgate, "rtpengine": Rtpengine, "udprelay": UdpRelay,
                 "direct": lambda _a: Direct()}[a.relay](a)
        name = relay.name
        phase["relay"] = name
        load = RtpLoad(a.rtpload, a.pin_load, open(os.path.join(a.dir, f"rtpload-{name}.log"), "w"))
        have = 0
        direct = a.relay == "direct"
        pid = relay.pid
        # Warm-up: a few calls with traffic, then the memory baseline.
        if a.warmup and a.relay in ("sipsgate", "rtpengine"):
            ts = time.time()
            load.add_calls(relay.setup(0, a.warmup))
            have = a.warmup
            load.run(a.warmup, a.pps, 1, pid)
            time.sleep(0.2)
            phase["rss0_kib"] = load.run(a.warmup, a.pps, 0.5, pid)["relay_rss_kib"]
            phase["sessions0"] = a.warmup
            log(f"{name}: warm-up {a.warmup} calls in {time.time() - ts:.1f} s, "
                f"VmRSS {int(phase['rss0_kib']) / 1024:.1f} MiB")
        log(HDR)
        best = None
        fails = None
        def step(n, label=""):
            """One step at n calls (set up first), run again while disturbed."""
            nonlocal have
            setup_s = 0
            if n > have:
                ts = time.time()
                load.add_calls(relay.setup(have, n))
                setup_s = time.time() - ts
                have = n
            tries = []
            for attempt in range(3):
                waited = wait_quiet(a.idle_max, a.quiet_wait)
                d = derive(load.run(n, a.pps, a.secs, pid, direct))
                d.update(setup_s=setup_s, attempt=attempt + 1, waited_s=round(waited, 1))
                d["disturbed"] = int(d["other_pct"] > a.idle_max or d["lag_ms"] > 20)
                tries.append(d)
                if not relay.alive() or not d["disturbed"]:
                    break
                why = (f"the rest of the machine used {d['other_pct']:.0f}% of a CPU"
                       if d["other_pct"] > a.idle_max else
                       f"rtpload fell {d['lag_ms']:.0f} ms behind its schedule")
                log(f"{'':9} {n:6d}  {why} during this step: again")
                time.sleep(1)
            d = min(tries, key=lambda x: (x["disturbed"], x["other_pct"]))
            d["attempts"] = len(tries)
            held = d["loss_pct"] < a.max_loss and d["bad"] == 0
            genlim = d["lag_ms"] > 20
            verdict = label + ("held" if held else "LOST")
            if genlim:
                verdict += f" (generator {d['lag_ms']:.0f} ms behind schedule)"
            if d["other_pct"] > a.idle_max:
                verdict += f" (busy machine: other {d['other_pct']:.0f}%)"
            if not relay.alive():
                verdict = "RELAY DIED"
            log(row(name, d, verdict))
            print(kv(f"step relay={name} held={int(held)} genlim={int(genlim)} extra={int(bool(label))}",
                     d), file=res, flush=True)
            return d, held, genlim

        done = set()
        for n in steps:
            d, held, genlim = step(n)
            done.add(n)
            if held and not genlim:
                best = d
            if not relay.alive():
                fails = n
                phase["died"] = 1
                break
            if (not held or genlim) and not a.all_steps:
                fails = n
                if genlim:
                    phase["genlim"] = 1
                break
        # The same rate for every relay, held or not: CPU per packet compared there.
        if a.cmp_calls and a.cmp_calls not in done and relay.alive():
            step(a.cmp_calls, label="(comparison run) ")
        if best:
            for k in ("calls", "rate", "us_pkt", "us_pkt_usr", "us_pkt_sys", "us_pkt_sched",
                      "rss_kib", "p50_us", "p99_us", "relay_cpu_pct", "other_pct"):
                phase["best_" + k] = best[k]
        if fails:
            phase["fail_calls"] = fails
        if isinstance(relay, Sipsgate):
            st = relay.status()
            with open(os.path.join(a.dir, "sipsgate-status.txt"), "w") as f:
                f.write(st)
            keep = ("calls_active", "media_streams", "rtp_in_inside", "rtp_out_inside",
                    "srtp_in_outside", "srtp_out_outside", "srtp_auth_fail", "srtp_replay",
                    "media_tx_drop", "latched", "relatched")
            got = dict(re.findall(r"^\s+(\w+)\s+(\d+)$", st, re.M))
            log("sipsgate status: " + " ".join(f"{k}={got.get(k, '?')}" for k in keep))
            for k in keep:
                phase["st_" + k] = got.get(k, "?")
        if a.profile_calls and relay.pid:
            if a.profile_calls > have:
                load.add_calls(relay.setup(have, a.profile_calls))
                have = a.profile_calls
            profile(a, relay, load, a.profile_calls)
        phase["alive_at_end"] = int(relay.alive())
        phase["secs"] = round(time.time() - t0, 1)
    except Exception as e:  # report, do not hide: the phase line says why
        phase["error"] = str(e).replace(" ", "_")[:200]
        log(f"{a.relay}: ERROR {e}")
    finally:
        print(kv("phase", phase), file=res, flush=True)
        if load:
            load.close()
        if relay:
            relay.stop()


if __name__ == "__main__":
    main()
