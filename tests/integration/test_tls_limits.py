#!/usr/bin/env python3
"""The TLS listener's limits and its answers to misbehaving clients, on
loopback against a running daemon (issue 7):

- every connection accepted on a TLS listener counts in tls_accepted, also
  those that close at once, in the middle of a ClientHello, or right after
  the handshake;
- tls-handshake-timeout closes connections that send nothing or half a
  ClientHello, on time (not before, not much after);
- tls-max-handshakes-per-source and tls-max-handshakes refuse what is over
  at once, counted apart;
- tls-idle-timeout: an established client that says nothing gets one CRLF
  ping at half the deadline and is closed at the deadline; one that answers
  the ping stays;
- alerts: a client without a certificate under verify = require gets
  certificate_required (TLS 1.3) or handshake_failure (TLS 1.2), seen by
  openssl s_client; a client that rejects our certificate with unknown_ca
  is logged by that alert's name, not as "no certificate";
- client-initiated renegotiation is refused (no_renegotiation, closed);
- `sipsgate status` exits 1 with a message when the socket is missing, or
  when the daemon is out of file descriptors and closes without answering.

Limits in this test are short and small (2 s, 4 s, 5 and 12 connections),
so it runs in about half a minute."""
import os
import re
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sipmsg import (stop_daemon, FAILURES, check, die_with_parent, finish,
                    free_ports, lab_certs)

SIPSGATE = os.environ.get("SIPSGATE", "build/sipsgate")
SRC = os.environ.get("SG_SOURCE_DIR", ".")
HS_TIMEOUT = 2
IDLE_TIMEOUT = 4
PER_SOURCE = 5
TOTAL = 12


def status(ctl):
    out = subprocess.run([SIPSGATE, "-s", ctl, "status"], capture_output=True,
                         text=True).stdout
    return dict((k, int(v)) for k, v in
                re.findall(r"^\s+(\w+)\s+(\d+)$", out, re.M))


def wait_status(ctl, cond, timeout=8):
    deadline = time.time() + timeout
    st = status(ctl)
    while time.time() < deadline and not cond(st):
        time.sleep(0.1)
        st = status(ctl)
    return st


def wait_log(path, pattern, timeout=5):
    deadline = time.time() + timeout
    while time.time() < deadline:
        with open(path, errors="replace") as f:
            m = re.search(pattern, f.read())
        if m:
            return m.group(0)
        time.sleep(0.1)
    return None


def client_hello():
    """The bytes of a real ClientHello (OpenSSL's), without a connection."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname="gw-b.lab.test")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return out.read()


def tcp(port, src="127.0.0.1"):
    s = socket.socket()
    s.bind((src, 0))
    s.connect(("127.0.0.1", port))
    return s


def closed_by_server(s, timeout):
    """Wait up to timeout for the server to close s; True if it did."""
    s.settimeout(timeout)
    try:
        while True:
            if s.recv(4096) == b"":
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False


def tls_client(certs, port, src="127.0.0.1", cert="gw-a"):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(f"{certs}/ca.crt")
    ctx.check_hostname = False
    ctx.load_cert_chain(f"{certs}/{cert}.crt", f"{certs}/{cert}.key")
    t = ctx.wrap_socket(tcp(port, src))
    # TLS 1.3: the server checks our certificate after our Finished; a
    # CRLF ping answered proves the connection is established.
    t.sendall(b"\r\n\r\n")
    t.settimeout(3)
    assert t.recv(16) == b"\r\n"
    return t


def s_client(args, stdin=b"", wait=1.0):
    """openssl s_client ARGS; stdin is fed after `wait` seconds."""
    p = subprocess.Popen(["openssl", "s_client"] + args,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    time.sleep(wait)
    try:
        out, _ = p.communicate(stdin, timeout=8)
    except subprocess.TimeoutExpired:
        p.kill()
        out, _ = p.communicate()
    return out.decode(errors="replace")


def main():
    tmp = tempfile.mkdtemp(prefix="sg-tlslim-")
    certs = lab_certs(tmp, SRC)
    p_in, p_tls, p_pbx = free_ports(3)
    ctl = os.path.join(tmp, "ctl.sock")
    conf = os.path.join(tmp, "gw.conf")
    with open(conf, "w") as f:
        f.write(f"""control = {ctl}
[gw]
accept = tls:127.0.0.1:{p_tls}
accept = udp:127.0.0.1:{p_in}
connect = udp:127.0.0.1:{p_pbx}
cert = {certs}/gw-b.crt
key = {certs}/gw-b.key
ca = {certs}/ca.crt
verify = require
tls-handshake-timeout = {HS_TIMEOUT}
tls-idle-timeout = {IDLE_TIMEOUT}
tls-max-handshakes = {TOTAL}
tls-max-handshakes-per-source = {PER_SOURCE}
""")
    logpath = os.path.join(tmp, "sipsgate.log")
    log = open(logpath, "w")
    gw = subprocess.Popen([SIPSGATE, "-c", conf], stderr=log,
                          preexec_fn=die_with_parent)
    try:
        for _ in range(50):
            if os.path.exists(ctl):
                break
            time.sleep(0.1)
        run(certs, gw, p_tls, ctl, logpath)
    finally:
        stop_daemon(gw)
        log.close()
        if FAILURES:
            print(open(logpath).read()[-6000:])
    finish()


def short_connections(certs, port, ctl):
    """Item 4: tls_accepted counts every accepted connection."""
    hello = client_hello()
    n = 0
    # In batches below the caps: a burst of accepts is handled before
    # the closes that follow them.
    for i in range(8):		# TCP only, closed at once
        tcp(port, f"127.0.1.{i + 1}").close()
        n += 1
        if n % 4 == 0:
            wait_status(ctl, lambda s: s.get("tls_accepted") == n and
                        s.get("tls_handshaking") == 0)
    for i in range(8):		# half a ClientHello, then closed
        s = tcp(port, f"127.0.2.{i + 1}")
        s.sendall(hello[:len(hello) // 2])
        s.close()
        n += 1
        if n % 4 == 0:
            wait_status(ctl, lambda s: s.get("tls_accepted") == n and
                        s.get("tls_handshaking") == 0)
    for i in range(4):		# a whole handshake, then a reset
        t = tls_client(certs, port, f"127.0.3.{i + 1}")
        t.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                     b"\x01\x00\x00\x00\x00\x00\x00\x00")
        t.close()
        n += 1
    st = wait_status(ctl, lambda s: s.get("tls_accepted") == n and
                     s.get("tls_handshaking") == 0 and
                     s.get("remote_close") == n)
    check(st.get("tls_accepted") == n,
          f"tls_accepted counts all {n} short connections: {st.get('tls_accepted')}")
    check(st.get("hs_fail_server") == 16,
          f"hs_fail_server = 16 (closed before the handshake ended): {st.get('hs_fail_server')}")
    check(st.get("remote_close") == n,
          f"remote_close counts each of the {n} once: {st.get('remote_close')}")
    check(st.get("tls_active") == 0, f"none active: {st.get('tls_active')}")
    return st


def handshake_deadline(port, ctl, base, logpath):
    """Idle and half-ClientHello connections closed on time."""
    hello = client_hello()
    socks = [tcp(port, "127.0.4.1") for _ in range(2)]
    for i in range(2):
        s = tcp(port, "127.0.4.2")
        s.sendall(hello[:len(hello) // 2])
        socks.append(s)
    t0 = time.time()
    st = wait_status(ctl, lambda s: s.get("tls_handshaking") == 4, 3)
    check(st.get("tls_handshaking") == 4,
          f"4 connections in handshake: {st.get('tls_handshaking')}")
    times = []
    for s in socks:
        closed = closed_by_server(s, HS_TIMEOUT + 3 - (time.time() - t0))
        times.append(time.time() - t0 if closed else None)
        s.close()
    check(all(t is not None for t in times),
          f"all 4 closed by the server within {HS_TIMEOUT} s + 3 s: {times}")
    check(all(t is None or t >= HS_TIMEOUT - 0.6 for t in times),
          f"none closed before the deadline ({HS_TIMEOUT} s): {times}")
    st = wait_status(ctl, lambda s: s.get("tls_hs_timeout", 0) -
                     base.get("tls_hs_timeout", 0) == 4)
    check(st.get("tls_hs_timeout", 0) - base.get("tls_hs_timeout", 0) == 4,
          f"tls_hs_timeout counts 4: {st.get('tls_hs_timeout')}")
    check(wait_log(logpath, r"tls handshake from 127\.0\.4\.1:\d+ timed out "
                   rf"after {HS_TIMEOUT} s \(nothing received\)") is not None,
          "the log says an idle connection sent nothing")
    check(wait_log(logpath, r"tls handshake from 127\.0\.4\.2:\d+ timed out "
                   rf"after {HS_TIMEOUT} s \(handshake incomplete\)")
          is not None, "the log says a half ClientHello was incomplete")
    return st


def closed_set(socks, wait):
    """After `wait` seconds: which of socks the server has closed."""
    time.sleep(wait)
    closed = set()
    for s in socks:
        s.setblocking(False)
        try:
            if s.recv(4096) == b"":
                closed.add(s)
        except (BlockingIOError, socket.timeout):
            pass
        except OSError:
            closed.add(s)
    return closed


def caps(port, ctl, logpath):
    """Per-source and total caps refuse at once; both counted apart. All
    connections are opened within a fraction of the handshake deadline."""
    one = [tcp(port, "127.0.5.1") for _ in range(PER_SOURCE + 3)]
    many = [tcp(port, f"127.0.6.{i + 1}")
            for i in range(TOTAL - PER_SOURCE + 2)]
    closed = closed_set(one + many, 0.7)
    held1 = [s for s in one if s not in closed]
    held2 = [s for s in many if s not in closed]
    check(held1 == one[:PER_SOURCE],
          f"one source: the first {PER_SOURCE} held, the next 3 refused at once: {len(held1)} held")
    check(held2 == many[:TOTAL - PER_SOURCE],
          f"then {TOTAL} in handshake in total, the next 2 refused at once: {len(held2)} + {len(held1)} held")
    st = status(ctl)
    check(st.get("tls_refused_source") == 3,
          f"tls_refused_source = 3: {st.get('tls_refused_source')}")
    check(st.get("tls_refused_total") == 2,
          f"tls_refused_total = 2: {st.get('tls_refused_total')}")
    check(wait_log(logpath, r"refused tls connection from 127\.0\.5\.1:\d+: "
                   r"5 connections from that address in handshake "
                   r"\(tls-max-handshakes-per-source\)") is not None,
          "the log names the per-source limit")
    check(wait_log(logpath, r"refused tls connection from 127\.0\.6\.\d+:\d+: "
                   r"12 connections in handshake \(tls-max-handshakes\)")
          is not None, "the log names the total limit")
    for s in one + many:
        s.close()
    wait_status(ctl, lambda s: s.get("tls_handshaking") == 0)


def idle(certs, port, ctl, base):
    """tls-idle-timeout: a silent client is pinged, then closed; one that
    answers the ping stays."""
    silent = tls_client(certs, port, "127.0.7.1")
    alive = tls_client(certs, port, "127.0.7.2")
    result = {}
    th = threading.Thread(target=answer_pings, args=(alive, result))
    th.start()
    t0 = time.time()
    silent.settimeout(IDLE_TIMEOUT + 3)
    got = b""
    try:
        got = silent.recv(16)
    except (socket.timeout, OSError):
        pass
    t_ping = time.time() - t0
    check(got == b"\r\n\r\n" and IDLE_TIMEOUT / 2 - 1 <= t_ping <= IDLE_TIMEOUT / 2 + 2,
          f"a silent client gets a CRLF ping at about {IDLE_TIMEOUT / 2} s: {got!r} after {t_ping:.1f} s")
    closed = False
    try:
        closed = silent.recv(16) == b""
    except (socket.timeout, ssl.SSLError, OSError):
        closed = True
    t_close = time.time() - t0
    check(closed and IDLE_TIMEOUT - 1 <= t_close <= IDLE_TIMEOUT + 2.5,
          f"it is closed at about {IDLE_TIMEOUT} s: closed={closed} after {t_close:.1f} s")
    silent.close()
    th.join()
    check(result.get("ok") and result.get("pings", 0) >= 1,
          f"a client that answers the ping stays beyond {IDLE_TIMEOUT} s: {result}")
    alive.close()
    st = wait_status(ctl, lambda s: s.get("tls_active") == 0)
    check(st.get("tls_idle_close", 0) - base.get("tls_idle_close", 0) == 1,
          f"tls_idle_close = 1: {st.get('tls_idle_close')}")
    check(st.get("keepalive_probes", 0) >= 2,
          f"keepalive_probes counted: {st.get('keepalive_probes')}")


def answer_pings(t, result):
    """A client that answers CRLF pings, for IDLE_TIMEOUT + 2 s."""
    t.settimeout(0.3)
    end = time.time() + IDLE_TIMEOUT + 2
    result.update(ok=True, pings=0)
    while time.time() < end:
        try:
            d = t.recv(16)
        except socket.timeout:
            continue
        except OSError:
            result["ok"] = False
            return
        if d == b"":
            result["ok"] = False
            return
        if d == b"\r\n\r\n":
            result["pings"] += 1
            t.sendall(b"\r\n")	# the pong (RFC 5626 4.4.1)


def alerts(certs, port, logpath):
    common = ["-connect", f"127.0.0.1:{port}", "-CAfile", f"{certs}/ca.crt"]
    out = s_client(["-tls1_3"] + common, b"\r\n\r\n")
    check("alert certificate required" in out and "alert number 116" in out,
          "TLS 1.3 client without a certificate gets certificate_required (116): "
          + " ".join(re.findall(r"[^\n]*alert[^\n]*", out)))
    out = s_client(["-tls1_2"] + common, b"\r\n\r\n")
    check("alert handshake failure" in out and "alert number 40" in out,
          "TLS 1.2 client without a certificate gets handshake_failure (40): "
          + " ".join(re.findall(r"[^\n]*alert[^\n]*", out)))
    check("decode error" not in out, "no decode_error for a missing certificate")
    for v in ("-tls1_3", "-tls1_2"):
        mark = sum(1 for _ in open(logpath))
        s_client([v, "-connect", f"127.0.0.1:{port}", "-CAfile",
                  f"{certs}/rogue-ca.crt", "-verify_return_error", "-cert",
                  f"{certs}/gw-a.crt", "-key", f"{certs}/gw-a.key"], b"", 0.5)
        line = None
        for _ in range(30):
            new = open(logpath).readlines()[mark:]
            hits = [x for x in new if "tls handshake from" in x]
            if hits:
                line = hits[0].strip()
                break
            time.sleep(0.1)
        check(line is not None and "peer sent alert unknown_ca (48)" in line
              and "no certificate" not in line,
              f"{v}: a client's unknown_ca alert is logged by name: {line}")


def renegotiation(certs, port, ctl, logpath):
    out = s_client(["-tls1_2", "-connect", f"127.0.0.1:{port}", "-CAfile",
                    f"{certs}/ca.crt", "-cert", f"{certs}/gw-a.crt", "-key",
                    f"{certs}/gw-a.key"], b"R\n", 1.0)
    check("RENEGOTIATING" in out, "s_client asked to renegotiate")
    check(re.search(r"no renegotiation|closed|errno|unexpected eof", out,
                    re.I) is not None,
          "the connection ended instead: " +
          " | ".join(out.strip().splitlines()[-3:]))
    st = wait_status(ctl, lambda s: s.get("tls_reneg_refused") == 1)
    check(st.get("tls_reneg_refused") == 1,
          f"tls_reneg_refused = 1: {st.get('tls_reneg_refused')}")
    check(wait_log(logpath, r"asked to renegotiate: refused") is not None,
          "the refusal is logged")


def status_fails_loudly(gw, ctl, tmp):
    """Item 5: `sipsgate status` exits 1 with a message when it cannot
    answer; never an empty success."""
    r = subprocess.run([SIPSGATE, "-s", os.path.join(tmp, "nothing.sock"),
                        "status"], capture_output=True, text=True)
    check(r.returncode == 1 and "cannot reach the daemon" in r.stderr,
          f"no socket: exit 1 and a message: {r.returncode} {r.stderr.strip()}")
    # The daemon out of file descriptors: lower its limit to what it has
    # open. Its accept() fails (EMFILE); libuv closes the connection.
    # Only the soft limit: raising a hard limit needs CAP_SYS_RESOURCE.
    nfd = len(os.listdir(f"/proc/{gw.pid}/fd"))
    hard = subprocess.run(["prlimit", f"--pid={gw.pid}", "--nofile",
                           "--output=HARD", "--noheadings"],
                          capture_output=True, text=True).stdout.strip()
    subprocess.run(["prlimit", f"--pid={gw.pid}", f"--nofile={nfd}:{hard}"],
                   check=True)
    try:
        r = subprocess.run([SIPSGATE, "-s", ctl, "status"],
                           capture_output=True, text=True, timeout=15)
    finally:
        subprocess.run(["prlimit", f"--pid={gw.pid}",
                        f"--nofile={hard}:{hard}"], check=True)
    check(r.returncode == 1 and r.stdout == "" and
          "without an answer" in r.stderr,
          f"daemon out of fds: exit 1, nothing on stdout, a message: "
          f"rc={r.returncode} out={r.stdout[:60]!r} err={r.stderr.strip()}")
    r = subprocess.run([SIPSGATE, "-s", ctl, "status"], capture_output=True,
                       text=True)
    check(r.returncode == 0 and "tls_accepted" in r.stdout,
          "with descriptors again, status answers")


def run(certs, gw, port, ctl, logpath):
    base = short_connections(certs, port, ctl)
    base = handshake_deadline(port, ctl, base, logpath)
    caps(port, ctl, logpath)
    base = status(ctl)
    idle(certs, port, ctl, base)
    alerts(certs, port, logpath)
    renegotiation(certs, port, ctl, logpath)
    status_fails_loudly(gw, ctl, os.path.dirname(ctl))
    check(gw.poll() is None, "daemon still running")


if __name__ == "__main__":
    main()
