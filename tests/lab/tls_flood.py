#!/usr/bin/env python3
"""Slowloris against a TLS listener, for tests/lab/test_lab_tls_flood.sh.

  tls_flood.py HOST PORT --idle N --half M --sources A,B,... --deadline S
               --ready FILE --out FILE [--max-seconds T]

Opens N TCP connections that never send a byte and M that send the first
half of a real ClientHello (OpenSSL's), round-robin from the given source
addresses (the two kinds interleaved), R a second (default: as fast as
the kernel takes them); then waits until the server
has closed every one (EOF or reset), at most T seconds (default
deadline + 15). Writes FILE (--ready) once all are open. It never opens a
connection again: the load is bounded by N + M in count and by T in time.

The result (--out, JSON): how many connected, how many the server closed
within 1 s (refused at accept), how many it closed later and when (the
longest life of a connection, from its connect to its close), and how many
were still open when it gave up. Exit status 0 if it ran (the caller judges
the figures)."""
import argparse
import errno
import json
import os
import resource
import selectors
import socket
import ssl
import sys
import time


def client_hello():
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


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("--idle", type=int, default=2000)
    ap.add_argument("--half", type=int, default=200)
    ap.add_argument("--sources", required=True)
    ap.add_argument("--deadline", type=float, required=True)
    ap.add_argument("--ready", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--max-seconds", type=float)
    ap.add_argument("--rate", type=float, default=0,
                    help="connections per second (0: as fast as it can)")
    a = ap.parse_args()
    limit = a.max_seconds or a.deadline + 15
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    need = a.idle + a.half + 64
    if soft < need:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(need, hard), hard))
    srcs = a.sources.split(",")
    half = client_hello()
    half = half[:len(half) // 2]
    sel = selectors.DefaultSelector()
    conns = {}		# fd -> dict(kind, t_open, t_conn, t_close)
    t0 = time.monotonic()
    failed = 0
    # Both kinds spread evenly over the run, so both meet every limit.
    kinds = sorted([(k / a.idle, "idle") for k in range(a.idle)] +
                   [((k + 0.5) / a.half, "half") for k in range(a.half)])
    for i, (_, kind) in enumerate(kinds):
        if a.rate > 0:
            ahead = t0 + i / a.rate - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
        s = socket.socket()
        s.setblocking(False)
        try:
            s.bind((srcs[i % len(srcs)], 0))
            s.connect((a.host, a.port))
        except BlockingIOError:
            pass
        except OSError as e:
            if e.errno != errno.EINPROGRESS:
                failed += 1
                s.close()
                continue
        conns[s.fileno()] = dict(sock=s, kind=kind, t_open=time.monotonic(),
                                 t_conn=None, t_close=None)
        sel.register(s, selectors.EVENT_WRITE | selectors.EVENT_READ)
    with open(a.ready, "w") as f:
        f.write(f"{len(conns)} opened in {time.monotonic() - t0:.2f} s\n")
    open_n = len(conns)
    while open_n > 0 and time.monotonic() - t0 < limit:
        for key, ev in sel.select(timeout=0.2):
            c = conns[key.fd]
            s = c["sock"]
            now = time.monotonic()
            if c["t_conn"] is None:
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    c["t_close"] = now
                    c["connect_error"] = err
                    sel.unregister(s)
                    open_n -= 1
                    continue
                c["t_conn"] = now
                sel.modify(s, selectors.EVENT_READ)
                if c["kind"] == "half":
                    try:
                        s.send(half)
                    except OSError:
                        pass
                continue
            try:
                d = s.recv(4096)
            except BlockingIOError:
                continue
            except OSError:
                d = b""
            if d == b"":
                c["t_close"] = now
                sel.unregister(s)
                open_n -= 1
    res = dict(opened=len(conns), connect_failed=failed,
               connected=sum(1 for c in conns.values() if c["t_conn"]),
               connect_errors=sum(1 for c in conns.values()
                                  if c.get("connect_error")),
               refused_fast=0, closed_late=0, still_open=0,
               longest_life=0.0, shortest_late=None,
               by_kind={"idle": 0, "half": 0},
               seconds=round(time.monotonic() - t0, 2))
    for c in conns.values():
        if c.get("connect_error"):
            continue
        if c["t_close"] is None:
            res["still_open"] += 1
            continue
        life = c["t_close"] - (c["t_conn"] or c["t_open"])
        res["longest_life"] = max(res["longest_life"], round(life, 2))
        if life < 1.0:
            res["refused_fast"] += 1
        else:
            res["closed_late"] += 1
            res["by_kind"][c["kind"]] += 1
            if res["shortest_late"] is None or life < res["shortest_late"]:
                res["shortest_late"] = round(life, 2)
        c["sock"].close()
    with open(a.out, "w") as f:
        json.dump(res, f)
    print(json.dumps(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
