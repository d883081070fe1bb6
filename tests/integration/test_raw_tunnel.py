#!/usr/bin/env python3
"""protocol = raw: a TCP <-> TLS byte tunnel exactly like stunnel. Two
services in one daemon form a pair (tcp in -> TLS -> tcp out) in front of
an echo server; 10 MB of random bytes make a byte-exact round trip, with
several clients at once, and the TLS hop is verified both ways."""
import hashlib
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
from sipmsg import (FAILURES, check, die_with_parent, finish,  # noqa: E402
                    free_ports, lab_certs)

SIPSGATE = os.environ.get("SIPSGATE", "build/sipsgate")
SRC = os.environ.get("SG_SOURCE_DIR", ".")
SIZE = 10 * 1024 * 1024


def echo_server(port, stop):
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", port))
    ls.listen(8)
    ls.settimeout(0.2)

    def serve(c):
        with c:
            while True:
                d = c.recv(65536)
                if not d:
                    return
                c.sendall(d)
    while not stop.is_set():
        try:
            c, _ = ls.accept()
        except socket.timeout:
            continue
        threading.Thread(target=serve, args=(c,), daemon=True).start()
    ls.close()


def round_trip(port, size, result, idx):
    data = os.urandom(size)
    got = bytearray()
    s = socket.create_connection(("127.0.0.1", port), timeout=20)

    def reader():
        while len(got) < size:
            d = s.recv(262144)
            if not d:
                break
            got.extend(d)
    t = threading.Thread(target=reader)
    t.start()
    s.sendall(data)
    t.join(60)
    s.close()
    result[idx] = (hashlib.sha256(data).hexdigest() ==
                   hashlib.sha256(bytes(got)).hexdigest(), len(got))


def main():
    tmp = tempfile.mkdtemp(prefix="sg-raw-")
    certs = lab_certs(tmp, SRC)
    p_in, p_tls, p_echo, p_bad = free_ports(4)
    ctl = os.path.join(tmp, "ctl.sock")
    conf = os.path.join(tmp, "raw.conf")
    with open(conf, "w") as f:
        f.write(f"""control = {ctl}
[tunnel-in]
protocol = raw
accept = tcp:127.0.0.1:{p_in}
connect = tls:127.0.0.1:{p_tls}
verify-name = gw-b.lab.test
cert = {certs}/gw-a.crt
key = {certs}/gw-a.key
ca = {certs}/ca.crt
[tunnel-out]
protocol = raw
accept = tls:127.0.0.1:{p_tls}
connect = tcp:127.0.0.1:{p_echo}
cert = {certs}/gw-b.crt
key = {certs}/gw-b.key
ca = {certs}/ca.crt
verify = require
""")
    r = subprocess.run([SIPSGATE, "-t", "-c", conf], capture_output=True,
                       text=True)
    check(r.returncode == 0, f"raw services pass -t: {r.stderr}")
    stop = threading.Event()
    threading.Thread(target=echo_server, args=(p_echo, stop),
                     daemon=True).start()
    logpath = os.path.join(tmp, "sipsgate.log")
    log = open(logpath, "w")
    gw = subprocess.Popen([SIPSGATE, "-c", conf], stderr=log,
                          preexec_fn=die_with_parent)
    try:
        for _ in range(50):
            if os.path.exists(ctl):
                break
            time.sleep(0.1)
        # 10 MB, one client.
        res = [None]
        t0 = time.time()
        round_trip(p_in, SIZE, res, 0)
        dt = time.time() - t0
        check(res[0] == (True, SIZE),
              f"10 MB byte-exact round trip: {res[0]} in {dt:.1f} s")
        # Four clients at once, 2 MB each.
        res = [None] * 4
        ts = [threading.Thread(target=round_trip, args=(p_in, 2 << 20, res, i))
              for i in range(4)]
        for t in ts:
            t.start()
        for t in ts:
            t.join(60)
        check(all(x == (True, 2 << 20) for x in res),
              f"four concurrent tunnels: {res}")
        # The TLS hop itself: a client without a certificate is refused by
        # the outer service (verify = require), and TLS is what it speaks.
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(f"{certs}/ca.crt")
        ctx.check_hostname = False
        s = socket.create_connection(("127.0.0.1", p_tls), timeout=3)
        try:
            t = ctx.wrap_socket(s)
            t.sendall(b"x")
            refused = t.recv(10) == b""
        except (ssl.SSLError, OSError):
            refused = True
        check(refused, "no client certificate: refused on the TLS hop")
        s.close()
        out = subprocess.run([SIPSGATE, "-s", ctl, "status"],
                             capture_output=True, text=True).stdout
        bi = [int(x) for x in re.findall(r"raw_bytes_in\s+(\d+)", out)]
        check(bi and bi[0] >= SIZE + 4 * (2 << 20),
              f"tunnel bytes counted: {bi}")
        check(re.search(r"tunnel-out\n(.*\n)*?\s+hs_fail_server\s+1", out)
              is not None, "the refused handshake is counted")
    finally:
        stop.set()
        gw.terminate()
        try:
            rc = gw.wait(10)
        except subprocess.TimeoutExpired:
            gw.kill()
            rc = "hung"
        log.close()
        check(rc == 0, f"daemon exits cleanly: {rc}")
        if FAILURES:
            print(open(logpath).read()[-4000:])
    finish()


if __name__ == "__main__":
    main()
