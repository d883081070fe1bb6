#!/usr/bin/env python3
"""A media stream that cannot open (issue 7, seen item 4): the offer is
answered 503, the call and its audio go on, nothing is freed twice or read
after free (run it in the ASan build), and no socket leaks.

  A. Port pool used up: rtp-ports has room for one stream (4 ports); one
     call, then two re-INVITEs from the phone adding m=video. Each gets 503
     from the gateway and never reaches the peer; the audio stream stays.
  B. EMFILE: the daemon's open-files limit (prlimit) is set to exactly what
     it has open, then to 3 more (the inside pair and one outside socket
     bind, the fourth fails): 503 each time, the descriptors it had are
     all it has. With the limit back, the same re-INVITE opens the video
     stream and crosses.
"""
import base64
import os
import random
import re
import resource
import socket
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gwfixture import Gateway, sdp  # noqa: E402
from sipmsg import FAILURES, check, finish, lab_certs, response_to  # noqa: E402
from test_media_srtp import Call, crypto_lines, drain  # noqa: E402

SRC = os.environ.get("SG_SOURCE_DIR", ".")


def free_range(n=4):
    """n consecutive UDP ports (first even) free on 127.0.0.1 right now:
    other tests may run beside this one."""
    for _ in range(200):
        base = random.randrange(33000, 39000, 2)
        socks = []
        try:
            for p in range(base, base + n):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free port range")


def av_sdp(c):
    """The phone's offer with audio (unchanged) and a new video line."""
    vport = c.ph_rtp.getsockname()[1] + 2
    return sdp(c.ph_rtp.getsockname()[1]) + (
        f"m=video {vport} RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
        "a=sendrecv\r\n").encode()


def nfds(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1	# the daemon is gone


def reinvite_refused(g, c, what):
    """Phone re-INVITE adding video: 503 from the gateway, nothing to the peer."""
    c.ph_req("INVITE", f"sip:bob@127.0.0.1:{g.p_peer};transport=tls", av_sdp(c))
    r = g.phone.recv()
    check(r is not None and r.status == 503,
          f"{what}: the re-INVITE adding video is answered 503: {r}")
    if r is not None:
        check("sipsgate" in (r.get("Warning") or ""),
              f"{what}: the 503 says why in a Warning: {r.get('Warning')}")
    m = g.peer.recv(timeout=0.3)
    check(m is None or m.method != "INVITE",
          f"{what}: the refused re-INVITE did not reach the peer")
    check(g.proc.poll() is None, f"{what}: the daemon is alive")


def audio_both_ways(c, what):
    sent = c.ph_send(10)
    got, bad = c.peer_recv_plain()
    check([p for _, p in got] == sent and bad == 0,
          f"{what}: phone -> peer audio: {len(got)}/10")
    sent = c.peer_send(10)
    check(drain(c.ph_rtp) == sent, f"{what}: peer -> phone audio")


def sanitizer_quiet(g, what):
    log = open(g.logpath, errors="replace").read()
    check("AddressSanitizer" not in log and "runtime error" not in log,
          f"{what}: no sanitizer report in the log")


def part_a(tmp, certs):
    base = free_range()
    g = Gateway(tmp, certs, "srtp", "AES_CM_128_HMAC_SHA1_80", name="poolfull",
                extra=f"rtp-ports = {base}-{base + 3}")
    try:
        g.register_phone()
        c = Call(g, "pf1")
        c.setup_from_phone()
        audio_both_ways(c, "A: before")
        reinvite_refused(g, c, "A: first re-INVITE")
        reinvite_refused(g, c, "A: second re-INVITE")
        audio_both_ways(c, "A: after two refused re-INVITEs")
        out, st = g.status()
        check(st.get("calls_active") == 1 and st.get("media_streams") == 1,
              f"A: the call and its one stream are still there: {out}")
        log = open(g.logpath).read()
        check("no free port pair" in log, "A: the log names the used-up range")
        sanitizer_quiet(g, "A")
    finally:
        g.stop(check, FAILURES)


def part_b(tmp, certs):
    g = Gateway(tmp, certs, "srtp", "AES_CM_128_HMAC_SHA1_80", name="emfile")
    pid = g.proc.pid
    try:
        g.register_phone()
        c = Call(g, "em1")
        c.setup_from_phone()
        audio_both_ways(c, "B: before")
        soft, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
        n0 = nfds(pid)
        for extra in (0, 3):
            resource.prlimit(pid, resource.RLIMIT_NOFILE, (n0 + extra, hard))
            reinvite_refused(g, c, f"B: open-files limit = open + {extra}")
            check(nfds(pid) == n0, f"B: limit +{extra}: no descriptor leaked "
                  f"({nfds(pid)} open, {n0} before)")
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (soft, hard))
        log = open(g.logpath).read()
        check("cannot open sockets" in log, "B: the log says the open-files limit")
        audio_both_ways(c, "B: after the refused re-INVITEs")
        # With the limit back, video opens and crosses.
        c.ph_req("INVITE", f"sip:bob@127.0.0.1:{g.p_peer};transport=tls", av_sdp(c))
        m = g.peer.recv()
        check(m is not None and m.method == "INVITE" and
              len(re.findall(rb"^m=", m.body, re.M)) == 2,
              "B: with the limit back the re-INVITE crosses with two streams")
        if m is not None:
            lines = crypto_lines(m.body)
            body = sdp(c.peer_rtp.getsockname()[1], [
                f"1 {c.suite} inline:" + base64.b64encode(c.peer_key).decode()], "RTP/SAVP") + \
                b"m=video 0 RTP/SAVP 96\r\n"
            g.peer.send(response_to(m, 200, "OK", [
                ("Contact", f"<sip:bob@127.0.0.1:{g.p_peer};transport=tls>"),
                ("Content-Type", "application/sdp")], body, to_tag=c.tag_peer))
            r = g.phone.recv()
            check(r is not None and r.status == 200 and lines,
                  f"B: the answer reaches the phone: {r}")
            c.ph_req("ACK", f"sip:bob@127.0.0.1:{g.p_peer};transport=tls")
            g.peer.recv(timeout=0.5)
        audio_both_ways(c, "B: after video was added and declined")
        c.ph_req("BYE", f"sip:bob@127.0.0.1:{g.p_peer};transport=tls")
        m = g.peer.recv()
        if m is not None:
            g.peer.send(response_to(m, 200, "OK", to_tag=c.tag_peer))
            g.phone.recv()
        deadline = time.time() + 3
        while time.time() < deadline and g.status()[1].get("media_streams"):
            time.sleep(0.05)
        out, st = g.status()
        check(st.get("media_streams") == 0 and st.get("calls_active") == 0,
              f"B: after BYE no stream and no call remain: {out}")
        sanitizer_quiet(g, "B")
    finally:
        g.stop(check, FAILURES)


def main():
    tmp = tempfile.mkdtemp(prefix="sg-openfail-")
    certs = lab_certs(tmp, SRC)
    part_a(tmp, certs)
    part_b(tmp, certs)
    finish()


if __name__ == "__main__":
    main()
