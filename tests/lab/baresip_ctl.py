#!/usr/bin/env python3
"""Talk to a headless baresip (1.0.0) through its ctrl_tcp module: JSON
objects in netstrings over TCP (ctrl_tcp_listen in baresip's config).

usage:
  baresip_ctl.py HOST:PORT cmd COMMAND [PARAMS...]
      send one command (a menu command without the slash: dial, hangup,
      callstat, reginfo, ...), print the text baresip answers; exit 0 if it
      answered ok, 1 if not, 2 if it did not answer.  Not while a
      "serve" holds the connection (it would be cut off).
  baresip_ctl.py HOST:PORT serve FIFO
      hold the one connection ctrl_tcp keeps (baresip 1.0.0 drops the
      previous connection when a new one comes: a second client would cut
      the first off from the events), print every event and every response
      as one JSON object a line (flushed), after a first line
      {"connected": true}, and send the commands written to FIFO (made if
      missing), one a line: "TOKEN COMMAND [PARAMS]"; the response carries
      "token": TOKEN.  Runs until baresip closes the connection.  Event
      objects look like {"event": true, "type": "CALL_ESTABLISHED",
      "id": CALL-ID, "peeruri": ..., "param": ...}; "CALL_MENC" has param
      "0,audio,SUITE" once SRTP is on.
"""
import json
import os
import selectors
import socket
import sys
import time


def netstring(b):
    return str(len(b)).encode() + b":" + b + b","


def read_one(sock, buf):
    """Next netstring payload as a JSON object, and what is left of buf."""
    while True:
        i = buf.find(b":")
        if i > 0:
            n = int(buf[:i])
            if len(buf) >= i + 1 + n + 1:
                return json.loads(buf[i + 1:i + 1 + n]), buf[i + 2 + n:]
        d = sock.recv(65536)
        if not d:
            raise EOFError
        buf += d


def connect(hostport, tries=50):
    host, port = hostport.rsplit(":", 1)
    for _ in range(tries):
        try:
            return socket.create_connection((host, int(port)), timeout=5)
        except OSError:
            time.sleep(0.1)
    sys.exit(f"baresip_ctl: cannot connect to {hostport}")


def serve(sock, fifo):
    if not os.path.exists(fifo):
        os.mkfifo(fifo, 0o600)
    # O_RDWR: never EOF when a writer closes, and open does not block.
    fd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)
    sock.settimeout(None)
    sock.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(sock, selectors.EVENT_READ, "sock")
    sel.register(fd, selectors.EVENT_READ, "fifo")
    print(json.dumps({"connected": True}), flush=True)
    buf = b""
    lines = b""
    while True:
        for key, _ in sel.select():
            if key.data == "fifo":
                lines += os.read(fd, 65536)
                while b"\n" in lines:
                    line, lines = lines.split(b"\n", 1)
                    f = line.decode().split(None, 2)
                    if len(f) < 2:
                        continue
                    msg = {"command": f[1], "params": f[2] if len(f) > 2
                           else "", "token": f[0]}
                    sock.setblocking(True)
                    sock.sendall(netstring(json.dumps(msg).encode()))
                    sock.setblocking(False)
                continue
            try:
                d = sock.recv(65536)
            except BlockingIOError:
                continue
            if not d:
                return 0
            buf += d
            while True:
                i = buf.find(b":")
                if i <= 0:
                    break
                n = int(buf[:i])
                if len(buf) < i + 2 + n:
                    break
                m = json.loads(buf[i + 1:i + 1 + n])
                buf = buf[i + 2 + n:]
                print(json.dumps(m), flush=True)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    sock = connect(sys.argv[1])
    if sys.argv[2] == "serve" and len(sys.argv) == 4:
        return serve(sock, sys.argv[3])
    if sys.argv[2] != "cmd" or len(sys.argv) < 4:
        sys.exit(__doc__)
    token = f"t{time.monotonic_ns()}"
    sock.sendall(netstring(json.dumps({
        "command": sys.argv[3], "params": " ".join(sys.argv[4:]),
        "token": token}).encode()))
    buf = b""
    try:
        while True:
            m, buf = read_one(sock, buf)
            if m.get("response"):
                sys.stdout.write(m.get("data", ""))
                return 0 if m.get("ok") else 1
    except (EOFError, OSError) as e:
        print(f"baresip_ctl: no answer ({e})", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
