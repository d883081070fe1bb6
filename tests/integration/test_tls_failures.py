#!/usr/bin/env python3
"""TLS failures, both roles, against Python's ssl (OpenSSL): a peer with a
certificate from the wrong CA, for the wrong name, or expired; a client
without a certificate or with an untrusted one under verify = require.
Each is refused, counted and logged with the reason; the gateway keeps
serving. Start-up refuses a key others can read and an expired own
certificate, saying how to fix it."""
import os
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sipmsg import (stop_daemon, FAILURES, StreamPeer, UdpPhone, build, check,
                    die_with_parent, finish, free_ports, lab_certs, response_to)

SIPSGATE = os.environ.get("SIPSGATE", "build/sipsgate")
SRC = os.environ.get("SG_SOURCE_DIR", ".")


def status(ctl):
    out = subprocess.run([SIPSGATE, "-s", ctl, "status"], capture_output=True,
                         text=True).stdout
    return dict((k, int(v)) for k, v in
                re.findall(r"^\s+(\w+)\s+(\d+)$", out, re.M))


def server_ctx(certs, name):
    c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    c.load_cert_chain(f"{certs}/{name}.crt", f"{certs}/{name}.key")
    c.load_verify_locations(f"{certs}/ca.crt")
    c.verify_mode = ssl.CERT_REQUIRED
    return c


def register(phone, cid):
    return build("REGISTER sip:pbx.lab.test SIP/2.0", [
        ("Via", f"SIP/2.0/UDP 127.0.0.1:{phone.port};branch=z9hG4bK{cid};rport"),
        ("Max-Forwards", "70"),
        ("From", f"<sip:alice@pbx.lab.test>;tag={cid}"),
        ("To", "<sip:alice@pbx.lab.test>"),
        ("Call-ID", cid), ("CSeq", "1 REGISTER"),
        ("Contact", f"<sip:alice@127.0.0.1:{phone.port}>")])


def wait_log(path, pattern, timeout=8):
    deadline = time.time() + timeout
    while time.time() < deadline:
        with open(path, errors="replace") as f:
            m = re.search(pattern, f.read())
        if m:
            return m.group(0)
        time.sleep(0.1)
    return None


def startup_checks(tmp, certs):
    """sipsgate -t on a bad key mode and on an expired certificate."""
    base = """[gw]
accept = udp:127.0.0.1:5999
connect = tls:127.0.0.1:5998
cert = {cert}
key = {key}
ca = {certs}/ca.crt
"""
    loose = os.path.join(tmp, "loose.key")
    shutil.copy(f"{certs}/gw-a.key", loose)
    os.chmod(loose, 0o644)
    conf = os.path.join(tmp, "t1.conf")
    with open(conf, "w") as f:
        f.write(base.format(cert=f"{certs}/gw-a.crt", key=loose, certs=certs))
    r = subprocess.run([SIPSGATE, "-t", "-c", conf], capture_output=True,
                       text=True)
    check(r.returncode == 1, "-t refuses a key readable by others")
    check(f"chmod 600 {loose}" in r.stderr and "0644" in r.stderr,
          f"the error gives the fix: {r.stderr.strip()}")
    with open(conf, "w") as f:
        f.write(base.format(cert=f"{certs}/expired.crt",
                            key=f"{certs}/expired.key", certs=certs))
    r = subprocess.run([SIPSGATE, "-t", "-c", conf], capture_output=True,
                       text=True)
    check(r.returncode == 1 and "expired" in r.stderr and "2020-01-01" in
          r.stderr and "local clock is" in r.stderr,
          f"-t names an expired certificate's dates: {r.stderr.strip()}")


def main():
    tmp = tempfile.mkdtemp(prefix="sg-tlsfail-")
    certs = lab_certs(tmp, SRC)
    startup_checks(tmp, certs)
    p_in, p_out, p_peer = free_ports(3)
    ctl = os.path.join(tmp, "ctl.sock")
    conf = os.path.join(tmp, "gw.conf")
    with open(conf, "w") as f:
        f.write(f"""control = {ctl}
[gw]
accept = udp:127.0.0.1:{p_in}
accept = tls:127.0.0.1:{p_out}
connect = tls:127.0.0.1:{p_peer}
cert = {certs}/gw-a.crt
key = {certs}/gw-a.key
ca = {certs}/ca.crt
verify = require
""")
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", p_peer))
    lsock.listen(8)
    logpath = os.path.join(tmp, "sipsgate.log")
    log = open(logpath, "w")
    gw = subprocess.Popen([SIPSGATE, "-c", conf], stderr=log,
                             preexec_fn=die_with_parent)
    try:
        run(certs, lsock, gw, p_in, p_out, ctl, logpath)
    finally:
        stop_daemon(gw, "daemon exits cleanly on SIGTERM (sanitizers quiet)")
        log.close()
        if FAILURES:
            print(open(logpath).read()[-5000:])
    finish()


def run(certs, lsock, gw, p_in, p_out, ctl, logpath):
    phone = UdpPhone(p_in)
    lsock.settimeout(10)
    # Gateway as TLS client: three bad servers in a row, then a good one.
    bad = [("rogue", r"handshake to 127\.0\.0\.1:\d+ failed: .*(issuer|signer|not trusted)[^\n]*"),
           ("wrong-name", r"handshake to 127\.0\.0\.1:\d+ failed: .*(hostname|name)[^\n]*"),
           ("expired", r"handshake to 127\.0\.0\.1:\d+ failed: .*expired[^\n]*")]
    for i, (name, pattern) in enumerate(bad):
        c, _ = lsock.accept()
        if i == 0:
            # A request while the peer is unusable: 503 at once, not silence.
            phone.send(register(phone, "early"))
        err = ""
        try:
            t = server_ctx(certs, name).wrap_socket(c, server_side=True)
            t.recv(10)
            t.close()
        except (ssl.SSLError, OSError) as e:
            err = str(e)
        c.close()
        # The gateway tells the peer why with a TLS alert.
        check("alert" in err.lower(), f"{name}: the peer got a TLS alert: {err}")
        line = wait_log(logpath, pattern)
        check(line is not None, f"client side refuses a {name} certificate"
              f" with a clear log line")
        if line:
            print("  log:", line.strip())
    r = phone.recv(timeout=3)
    check(r is not None and r.status == 503,
          f"request during failures answered 503: {r.start if r else None}")
    st = status(ctl)
    check(st.get("hs_fail_client") == 3, f"hs_fail_client = 3: {st}")
    check(st.get("tls_active") == 0, "no TLS connection counted as active")

    # The good peer: the link comes up and serves.
    c, _ = lsock.accept()
    good = server_ctx(certs, "pbx").wrap_socket(c, server_side=True)
    peer = StreamPeer(good)
    phone.send(register(phone, "good1"))
    m = peer.recv(timeout=5)
    check(m is not None and m.method == "REGISTER",
          "after the failures the link to a good peer carries SIP")

    # Gateway as TLS server with verify = require.
    def client(cert):
        cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        cctx.load_verify_locations(f"{certs}/ca.crt")
        cctx.check_hostname = False
        if cert:
            cctx.load_cert_chain(f"{certs}/{cert}.crt", f"{certs}/{cert}.key")
        s = socket.create_connection(("127.0.0.1", p_out), timeout=3)
        try:
            t = cctx.wrap_socket(s)
            t.sendall(b"\r\n\r\n")
            data = t.recv(10)	# TLS 1.3: the alert comes on first read
            return data == b"\r\n"
        except (ssl.SSLError, OSError):
            return False
        finally:
            s.close()

    check(not client(None), "client without a certificate refused")
    line = wait_log(logpath, r"handshake from [^\n]*no certificate[^\n]*")
    check(line is not None, "log says the peer presented no certificate")
    check(not client("rogue"), "client with an untrusted certificate refused")
    line = wait_log(logpath, r"handshake from [^\n]*failed[^\n]*(signer|issuer|not trusted)[^\n]*")
    check(line is not None, f"log names the untrusted certificate: {line}")
    check(client("gw-b"), "client with a good certificate gets a CRLF pong")
    st = status(ctl)
    check(st.get("hs_fail_server") == 2, f"hs_fail_server = 2: {st}")

    # Still serving the phone over the good link.
    if m:
        peer.send(response_to(m, 200, "OK"))
        r = phone.recv()
        check(r is not None and r.status == 200, "phone still served")
    check(gw.poll() is None, "daemon still running")


if __name__ == "__main__":
    main()
