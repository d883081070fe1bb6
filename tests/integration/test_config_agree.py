#!/usr/bin/env python3
"""`sipsgate -t` and the start give the same verdict (issue 9): one check
decides both. Every example of conf.d/ (its addresses moved to this test's
own loopback addresses and ports) and a set of edge configurations are
checked with -t and then started for real; a configuration -t accepts must
start, one it refuses must not. Before the check was one, -t accepted
rtp-ports = 20000-20001, a TLS listener on 0.0.0.0 without media-outside,
a SIP host by name without a media address, an inside connect by name and
a token-key file others can read, all of which the start then refused."""
import glob
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sipmsg import check, finish, lab_certs  # noqa: E402

SIPSGATE = os.environ.get("SIPSGATE", "build/sipsgate")
SRC = os.environ.get("SG_SOURCE_DIR", ".")
# 127.0.0.0/8 is all loopback on Linux: a block of our own for this run.
NET = f"127.{random.randint(64, 250)}.{random.randint(1, 250)}"


def free_port():
    """A port free for both UDP and TCP on NET.1 right now."""
    for _ in range(100):
        p = random.randint(20000, 60000)
        try:
            for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                s = socket.socket(socket.AF_INET, kind)
                s.bind((f"{NET}.1", p))
                s.close()
            return p
        except OSError:
            continue
    raise RuntimeError("no free port")


def verdict_t(path):
    r = subprocess.run([SIPSGATE, "-t", "-c", path], capture_output=True,
                       text=True, timeout=30)
    return r.returncode == 0, r.stdout + r.stderr


def verdict_start(path):
    """Start the daemon: True once it says it is ready (or still runs after
    the wait), False when it exits first."""
    log = path + ".log"
    with open(log, "w") as errf:
        p = subprocess.Popen([SIPSGATE, "-c", path],
                             stdout=subprocess.DEVNULL, stderr=errf)
    deadline = time.time() + 8
    while time.time() < deadline:
        if " ready: " in open(log).read():
            break
        if p.poll() is not None:
            return False, open(log).read()
        time.sleep(0.05)
    p.terminate()
    try:
        p.wait(10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    return True, open(log).read()


def agree(name, path, want):
    t, tout = verdict_t(path)
    s, sout = verdict_start(path)
    check(t == s, f"{name}: -t says {'OK' if t else 'refused'}, the start "
          f"{'ran' if s else 'refused'}\n-t: {tout.strip()}\nstart: "
          f"{sout.strip()[-600:]}")
    check(t == want, f"{name}: verdict {'OK' if t else 'refused'} (want "
          f"{'OK' if want else 'refused'}): {tout.strip()}")


def localize(text, certs, tmp):
    """An example on this test's loopback block and free ports, with the
    lab's certificates; user/group (machine state, not configuration) and
    the control socket dropped or moved."""
    addrs = {}

    def addr(m):
        a = m.group(0)
        if a == "0.0.0.0" or re.match(r"\d+\.\d+\.\d+\.\d+/", a):
            return a
        addrs.setdefault(a, f"{NET}.{len(addrs) + 1}")
        return addrs[a]

    ports = {}

    def port(m):
        ports.setdefault(m.group(1), free_port())
        return f":{ports[m.group(1)]}"

    text = text.replace("/etc/sipsgate/certs", certs)
    text = re.sub(r"\d+\.\d+\.\d+\.\d+(?:/\d+)?", addr, text)
    text = re.sub(r":(506[01])\b", port, text)
    text = re.sub(r"^(user|group) =.*$", "", text, flags=re.M)
    text = re.sub(r"^control =.*$", f"control = {tmp}/ctl.sock", text,
                  flags=re.M)
    return text


def main():
    tmp = tempfile.mkdtemp(prefix="sg-agree-")
    certs = lab_certs(tmp, SRC)
    for ext in ("crt", "key"):
        os.link(f"{certs}/gw-a.{ext}", f"{certs}/gw.{ext}")
    n = 0

    def conf(text):
        nonlocal n
        n += 1
        path = os.path.join(tmp, f"c{n}.conf")
        open(path, "w").write(f"control = {tmp}/ctl{n}.sock\n" + text)
        return path

    examples = sorted(glob.glob(os.path.join(SRC, "conf.d", "*.conf")))
    check(len(examples) >= 4, "conf.d holds the examples")
    for ex in examples:
        path = os.path.join(tmp, "ex-" + os.path.basename(ex))
        open(path, "w").write(localize(open(ex).read(), certs, tmp))
        agree(os.path.basename(ex), path, True)

    tls = f"cert = {certs}/gw-a.crt\nkey = {certs}/gw-a.key\n" \
          f"ca = {certs}/ca.crt\n"

    def svc(extra, inside=None, outside=None):
        inside = inside or f"accept = udp:{NET}.1:{free_port()}\n"
        outside = outside or f"accept = tls:{NET}.1:{free_port()}\n"
        return "[gw]\n" + inside + outside + tls + extra

    key_ok = os.path.join(tmp, "token.key")
    open(key_ok, "wb").write(os.urandom(32))
    os.chmod(key_ok, 0o600)
    key_open = os.path.join(tmp, "token-open.key")
    open(key_open, "wb").write(os.urandom(32))
    os.chmod(key_open, 0o644)
    key_short = os.path.join(tmp, "token-short.key")
    open(key_short, "wb").write(os.urandom(8))
    os.chmod(key_short, 0o600)

    edges = [
        ("plain service", svc(""), True),
        ("rtp-ports = 20000-20001 (one pair)",
         svc("rtp-ports = 20000-20001\n"), False),
        ("rtp-ports = 20000-20003 (two pairs)",
         svc("rtp-ports = 20000-20003\n"), True),
        ("TLS on 0.0.0.0, no media-outside",
         svc("", outside=f"accept = tls:0.0.0.0:{free_port()}\n"), False),
        ("TLS on 0.0.0.0 with media-outside",
         svc("media-outside = 198.51.100.7\n",
             outside=f"accept = tls:0.0.0.0:{free_port()}\n"), True),
        ("sip-inside by name, no media-inside",
         svc("sip-inside = gw.lab.invalid\n"), False),
        ("sip-inside by name with media-inside",
         svc(f"sip-inside = gw.lab.invalid\nmedia-inside = {NET}.1\n"), True),
        ("inside connect by name, wildcard inside accept",
         svc("connect = udp:pbx.lab.invalid\n",
             inside=f"accept = udp:0.0.0.0:{free_port()}\n"), True),
        ("flow-timeout (removed)", svc("flow-timeout = 3600\n"), False),
        ("tls-idle-timeout = 1", svc("tls-idle-timeout = 1\n"), False),
        ("verify = require without ca",
         svc("").replace(f"ca = {certs}/ca.crt\n", ""), False),
        ("expired certificate",
         svc("").replace("gw-a.crt", "expired.crt").replace(
             "gw-a.key", "expired.key"), False),
        ("token-key readable by others",
         f"token-key = {key_open}\n" + svc(""), False),
        ("token-key of 8 bytes", f"token-key = {key_short}\n" + svc(""),
         False),
        ("token-key 0600, 32 bytes", f"token-key = {key_ok}\n" + svc(""),
         True),
        ("no outside", "[gw]\n" + f"accept = udp:{NET}.1:{free_port()}\n",
         False),
    ]
    key_world = os.path.join(tmp, "world.key")
    open(key_world, "w").write(open(f"{certs}/gw-a.key").read())
    os.chmod(key_world, 0o644)
    edges.append(("private key readable by others",
                  svc("").replace(f"{certs}/gw-a.key", key_world), False))
    for name, text, want in edges:
        agree(name, conf(text), want)
    finish()


if __name__ == "__main__":
    main()
