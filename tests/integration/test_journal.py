#!/usr/bin/env python3
"""Logging when systemd runs the daemon: with JOURNAL_STREAM naming its
stderr, lines go to journald's native socket with PRIORITY and the
structured fields SIPSGATE_SERVICE, SIPSGATE_CALL_ID and SIPSGATE_PEER.
Without a journald on this machine the test listens on the journal socket
itself (root only; it removes what it made). Also: tls-trace = yes logs
the handshake of that service at debug priority while the level is info."""
import os
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sipmsg import (stop_daemon, FAILURES, build, check, die_with_parent, finish,  # noqa: E402
                    free_ports, lab_certs)

SIPSGATE = os.environ.get("SIPSGATE", "build/sipsgate")
SRC = os.environ.get("SG_SOURCE_DIR", ".")
JDIR = "/run/systemd/journal"
JSOCK = JDIR + "/socket"


def parse_native(d):
    """journald's native protocol: FIELD=value lines (no binary fields
    from us)."""
    out = {}
    for line in d.decode(errors="replace").split("\n"):
        k, sep, v = line.partition("=")
        if sep:
            out[k] = v
    return out


def main():
    if os.path.exists(JSOCK) or os.geteuid() != 0:
        print("a journald runs here (or not root): this test needs the"
              " socket to itself; skipped")
        print("0 passed, 0 failed")
        sys.exit(0)
    tmp = tempfile.mkdtemp(prefix="sg-journal-")
    certs = lab_certs(tmp, SRC)
    made_dir = not os.path.isdir(JDIR)
    os.makedirs(JDIR, exist_ok=True)
    js = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    js.bind(JSOCK)
    js.settimeout(0.5)
    p_in, p_out = free_ports(2)
    conf = os.path.join(tmp, "j.conf")
    with open(conf, "w") as f:
        f.write(f"""[gw]
accept = udp:127.0.0.1:{p_in}
accept = tls:127.0.0.1:{p_out}
cert = {certs}/gw-a.crt
key = {certs}/gw-a.key
ca = {certs}/ca.crt
verify = none
tls-trace = yes
""")
    # Read like journald does, all the time (a full datagram queue would
    # block the sender).
    entries = []
    stop = threading.Event()

    def reader():
        while not stop.is_set():
            try:
                entries.append(parse_native(js.recv(65536)))
            except socket.timeout:
                pass
    th = threading.Thread(target=reader, daemon=True)
    th.start()
    r, w = os.pipe()
    st = os.fstat(w)
    env = dict(os.environ, JOURNAL_STREAM=f"{st.st_dev}:{st.st_ino}")
    gw = subprocess.Popen([SIPSGATE, "-c", conf], stderr=w, env=env,
                          preexec_fn=die_with_parent)
    os.close(w)
    try:
        time.sleep(0.5)
        ph = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        ph.bind(("127.0.0.1", 0))
        ph.sendto(build("OPTIONS sip:nowhere@pbx.lab.test SIP/2.0", [
            ("Via", f"SIP/2.0/UDP 127.0.0.1:{ph.getsockname()[1]};branch=z9hG4bKj1"),
            ("Max-Forwards", "70"), ("From", "<sip:a@x>;tag=1"),
            ("To", "<sip:b@x>"), ("Call-ID", "journal-call-1"),
            ("CSeq", "1 OPTIONS")]), ("127.0.0.1", p_in))
        ph.settimeout(2)
        try:
            ph.recv(2000)
        except socket.timeout:
            pass
        # A TLS handshake, for the trace.
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with socket.create_connection(("127.0.0.1", p_out), timeout=3) as s:
            with ctx.wrap_socket(s) as t:
                t.sendall(b"\r\n\r\n")
                t.recv(10)
        time.sleep(0.5)
        check(len(entries) > 0, f"lines reached the journal socket: {len(entries)}")
        check(all(e.get("SYSLOG_IDENTIFIER") == "sipsgate" and "PRIORITY" in e
                  and "MESSAGE" in e for e in entries),
              "every entry has MESSAGE, PRIORITY and SYSLOG_IDENTIFIER")
        refused = [e for e in entries if "refused with 404" in e.get("MESSAGE", "")]
        check(len(refused) == 1, f"the refused OPTIONS was logged: {refused}")
        if refused:
            e = refused[0]
            check(e.get("SIPSGATE_SERVICE") == "gw" and
                  e.get("SIPSGATE_CALL_ID") == "journal-call-1" and
                  e.get("SIPSGATE_PEER") == f"127.0.0.1:{ph.getsockname()[1]}" and
                  e.get("PRIORITY") == "6",
                  f"structured fields: {e}")
        trace = [e["MESSAGE"] for e in entries if "tls trace" in e.get("MESSAGE", "")]
        check(any("<- CLIENT HELLO" in m for m in trace) and
              any("-> SERVER HELLO" in m for m in trace) and
              all(e.get("PRIORITY") == "7" for e in entries
                  if "tls trace" in e.get("MESSAGE", "")),
              f"tls-trace: the handshake at debug priority: {trace[:4]}")
    finally:
        stop_daemon(gw, "daemon exits cleanly")
        stop.set()
        th.join(2)
        js.close()
        os.unlink(JSOCK)
        if made_dir:
            os.rmdir(JDIR)
            try:
                os.rmdir("/run/systemd")
            except OSError:
                pass
    finish()


if __name__ == "__main__":
    main()
