#!/usr/bin/env python3
"""Started as root with user/group set, sipsgate binds and reads its keys,
then runs as that user: checked in /proc, and it still answers on the
sockets it bound (a port below 1024 included) and on its control socket."""
import grp
import os
import pwd
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sipmsg import (build, check, die_with_parent, finish,  # noqa: E402
                    free_ports, lab_certs)

SIPSGATE = os.environ.get("SIPSGATE", "build/sipsgate")
SRC = os.environ.get("SG_SOURCE_DIR", ".")


def main():
    if os.geteuid() != 0:
        print("not root: skipped\n0 passed, 0 failed")
        sys.exit(0)
    user = pwd.getpwnam("nobody")
    group = grp.getgrgid(user.pw_gid).gr_name
    tmp = tempfile.mkdtemp(prefix="sg-priv-")
    os.chmod(tmp, 0o755)
    certs = lab_certs(tmp, SRC)
    (p_tls,) = free_ports(1)
    ctl = os.path.join(tmp, "ctl.sock")
    conf = os.path.join(tmp, "p.conf")
    with open(conf, "w") as f:
        f.write(f"""user = nobody
group = {group}
control = {ctl}
[gw]
accept = udp:127.0.0.1:506
accept = tls:127.0.0.1:{p_tls}
cert = {certs}/gw-a.crt
key = {certs}/gw-a.key
ca = {certs}/ca.crt
""")
    gw = subprocess.Popen([SIPSGATE, "-c", conf], stderr=subprocess.PIPE,
                          preexec_fn=die_with_parent, text=True)
    try:
        for _ in range(50):
            if os.path.exists(ctl):
                break
            time.sleep(0.1)
        time.sleep(0.2)
        st = open(f"/proc/{gw.pid}/status").read()
        uids = [int(x) for x in st.split("Uid:")[1].split("\n")[0].split()]
        gids = [int(x) for x in st.split("Gid:")[1].split("\n")[0].split()]
        check(set(uids) == {user.pw_uid}, f"all uids are nobody's: {uids}")
        check(set(gids) == {user.pw_gid}, f"all gids are {group}'s: {gids}")
        groups = st.split("Groups:")[1].split("\n")[0].split()
        check(groups == [], f"supplementary groups dropped: {groups}")
        ph = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        ph.bind(("127.0.0.1", 0))
        ph.settimeout(2)
        ph.sendto(build("OPTIONS sip:x@pbx.lab.test SIP/2.0", [
            ("Via", f"SIP/2.0/UDP 127.0.0.1:{ph.getsockname()[1]};branch=z9hG4bKp1"),
            ("Max-Forwards", "70"), ("From", "<sip:a@x>;tag=1"),
            ("To", "<sip:b@x>"), ("Call-ID", "priv1"), ("CSeq", "1 OPTIONS")]),
            ("127.0.0.1", 506))
        try:
            r = ph.recv(2000)
        except socket.timeout:
            r = b""
        check(r.startswith(b"SIP/2.0 404"),
              f"still answers on port 506 after the drop: {r[:40]!r}")
        out = subprocess.run([SIPSGATE, "-s", ctl, "status"],
                             capture_output=True, text=True).stdout
        check("service gw" in out, "control socket answers")
    finally:
        gw.terminate()
        try:
            rc = gw.wait(10)
        except subprocess.TimeoutExpired:
            gw.kill()
            rc = "hung"
        err = gw.stderr.read()
        check("running as user nobody" in err, "the drop is logged")
        check(rc == 0, f"exits cleanly: {rc} {err[-500:]}")
    finish()


if __name__ == "__main__":
    main()
