#!/usr/bin/env python3
"""Talk to a headless baresip (1.0.0) through its ctrl_tcp module: JSON
objects in netstrings over TCP (ctrl_tcp_listen in baresip's config).

usage:
  baresip_ctl.py HOST:PORT cmd COMMAND [PARAMS...]
      send one command (a menu command without the slash: dial, hangup,
      callstat, reginfo, ...), print the text baresip answers; exit 0 if it
      answered ok, 1 if not, 2 if it did not answer within 5 s.
  baresip_ctl.py HOST:PORT events
      print every event baresip sends, one JSON object a line (flushed),
      after a first line {"connected": true}; runs until baresip closes the
      connection.  Event objects look like
      {"event": true, "type": "CALL_ESTABLISHED", "id": CALL-ID,
       "peeruri": ..., "param": ...}; "CALL_MENC" has param
      "0,audio,SUITE" once SRTP is on.
"""
import json
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


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    sock = connect(sys.argv[1])
    if sys.argv[2] == "events":
        sock.settimeout(None)
        print(json.dumps({"connected": True}), flush=True)
        buf = b""
        try:
            while True:
                m, buf = read_one(sock, buf)
                if m.get("event"):
                    print(json.dumps(m), flush=True)
        except (EOFError, OSError):
            return 0
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
