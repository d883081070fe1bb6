#!/usr/bin/env python3
"""SIGHUP reload mid-call: the call and its SRTP audio go on, the TLS link
stays up, a registration made before still routes, the next handshake
gets the new certificate, a service added to the file starts, and a
broken file changes nothing."""
import hashlib
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gwfixture import Gateway, sdp  # noqa: E402
from sipmsg import (FAILURES, build, check, finish, free_ports,  # noqa: E402
                    lab_certs)
from test_media_srtp import Call, drain, m_port  # noqa: E402

SRC = os.environ.get("SG_SOURCE_DIR", ".")


def served_cert(port):
    """SHA-256 of the certificate the gateway presents on a new handshake."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=3) as s:
        try:
            with ctx.wrap_socket(s) as t:
                return hashlib.sha256(t.getpeercert(binary_form=True)).hexdigest()
        except (ssl.SSLError, OSError):
            return None


def hup_and_wait(g, marker, timeout=5):
    before = open(g.logpath).read().count(marker)
    g.proc.send_signal(signal.SIGHUP)
    deadline = time.time() + timeout
    while time.time() < deadline:
        if open(g.logpath).read().count(marker) > before:
            return True
        time.sleep(0.05)
    return False


def main():
    tmp = tempfile.mkdtemp(prefix="sg-reload-")
    certs = lab_certs(tmp, SRC)
    live = os.path.join(tmp, "live")		# the files the config names
    os.mkdir(live)
    for f in ("gw-a.crt", "gw-a.key"):
        shutil.copy2(os.path.join(certs, f), live)
    g = Gateway(tmp, certs, "srtp", "AES_CM_128_HMAC_SHA1_80", name="reload")
    try:
        text = open(g.conf).read().replace(f"{certs}/gw-a.", f"{live}/gw-a.")
        open(g.conf, "w").write(text)
        # The running daemon read the original paths; reload to the copies
        # first so that the swap below is a real certificate change.
        check(hup_and_wait(g, "reload: done"), "first reload done")
        token = g.register_phone()
        c = Call(g, "r1")
        c.setup_from_phone()
        sent = c.ph_send(20)
        got, _ = c.peer_recv_plain()
        check([p for _, p in got] == sent, "audio before the reload")
        old_cert = served_cert(g.p_out)
        _, before = g.status()

        # New certificate for the same name, and a new service.
        newdir = os.path.join(tmp, "new")
        subprocess.run([os.path.join(SRC, "certs/sipsgate-certs"), "--dir",
                        newdir, "--ca", "ca", "server", "gw-a.lab.test",
                        "--ip", "127.0.0.1"], check=False,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       env=dict(os.environ))
        if not os.path.exists(os.path.join(newdir, "gw-a.lab.test.crt")):
            # The script signs with DIR/ca.*: give it the lab CA.
            os.makedirs(newdir, exist_ok=True)
            for f in ("ca.crt", "ca.key"):
                shutil.copy2(os.path.join(certs, f), newdir)
            subprocess.run([os.path.join(SRC, "certs/sipsgate-certs"),
                            "--dir", newdir, "server", "gw-a.lab.test",
                            "--ip", "127.0.0.1"], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.copy2(os.path.join(newdir, "gw-a.lab.test.crt"),
                     os.path.join(live, "gw-a.crt"))
        shutil.copy2(os.path.join(newdir, "gw-a.lab.test.key"),
                     os.path.join(live, "gw-a.key"))
        os.chmod(os.path.join(live, "gw-a.key"), 0o600)
        p_raw, p_echo = free_ports(2)
        with open(g.conf, "a") as f:
            f.write(f"""[added]
protocol = raw
accept = tcp:127.0.0.1:{p_raw}
connect = tls:127.0.0.1:{g.p_out}
cert = {live}/gw-a.crt
key = {live}/gw-a.key
verify = none
""")
        check(hup_and_wait(g, "reload: done"), "reload with a new certificate")
        check(g.proc.poll() is None, "daemon alive after the reload")

        # The call and its audio go on, both ways, on the same link.
        sent = c.ph_send(20)
        got, bad = c.peer_recv_plain()
        check([p for _, p in got] == sent and bad == 0,
              f"audio phone -> peer after the reload: {len(got)}/20")
        sent = c.peer_send(20)
        check(drain(c.ph_rtp) == sent, "audio peer -> phone after the reload")
        out, after = g.status()
        check(after["tls_connected"] == before["tls_connected"] and
              after["remote_close"] == before["remote_close"] and
              after["calls_active"] == 1,
              f"the TLS link and the call survived: {out}")
        # The registration made before still routes to the phone.
        g.peer.send(build(f"OPTIONS {token} SIP/2.0", [
            ("Via", f"SIP/2.0/TLS 127.0.0.1:{g.p_peer};branch=z9hG4bKro1"),
            ("Max-Forwards", "70"), ("From", "<sip:x@pbx.lab.test>;tag=1"),
            ("To", "<sip:alice@pbx.lab.test>"), ("Call-ID", "ro1"),
            ("CSeq", "1 OPTIONS")]))
        m = g.phone.recv()
        check(m is not None and m.method == "OPTIONS",
              "a flow token issued before the reload still routes")
        # The next handshake presents the new certificate.
        new_cert = served_cert(g.p_out)
        check(new_cert is not None and new_cert != old_cert,
              "the next handshake gets the new certificate")
        # The added service listens.
        try:
            socket.create_connection(("127.0.0.1", p_raw), timeout=2).close()
            listening = True
        except OSError:
            listening = False
        check(listening, "the service added by the reload listens")

        # A broken file changes nothing.
        good = open(g.conf).read()
        open(g.conf, "w").write(good + "\n[broken]\nverify = maybe\n")
        check(hup_and_wait(g, "nothing changed"), "a broken file is refused")
        check(served_cert(g.p_out) == new_cert and g.proc.poll() is None,
              "after a refused reload the daemon serves as before")
        sent = c.ph_send(10)
        got, _ = c.peer_recv_plain()
        check(len(got) == 10, "and the call still has audio")
    finally:
        g.stop(check, FAILURES)
    finish()


if __name__ == "__main__":
    main()
