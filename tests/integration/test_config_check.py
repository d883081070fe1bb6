#!/usr/bin/env python3
"""`sipsgate -t`: every example in conf.d/ passes once its certificates
exist; broken configurations fail with file, line, key and what is valid."""
import glob
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sipmsg import FAILURES, check, finish, lab_certs  # noqa: E402

SIPSGATE = os.environ.get("SIPSGATE", "build/sipsgate")
SRC = os.environ.get("SG_SOURCE_DIR", ".")


def t(path):
    return subprocess.run([SIPSGATE, "-t", "-c", path], capture_output=True,
                          text=True)


def main():
    tmp = tempfile.mkdtemp(prefix="sg-conf-")
    certs = lab_certs(tmp, SRC)
    # The examples name gw.crt/gw.key; give them the lab's gateway pair.
    for ext in ("crt", "key"):
        os.link(f"{certs}/gw-a.{ext}", f"{certs}/gw.{ext}")
    examples = sorted(glob.glob(os.path.join(SRC, "conf.d", "*.conf")))
    check(len(examples) >= 4, "conf.d holds the examples")
    for ex in examples:
        text = open(ex).read().replace("/etc/sipsgate/certs", certs)
        path = os.path.join(tmp, os.path.basename(ex))
        open(path, "w").write(text)
        r = t(path)
        check(r.returncode == 0 and "configuration OK" in r.stdout,
              f"{os.path.basename(ex)} passes -t: {r.stdout}{r.stderr}")

    bad = os.path.join(tmp, "bad.conf")
    open(bad, "w").write(f"""log-level = chatty
[gw]
accept = udp:198.18.1.1:5060
accept = tls:198.18.2.1:5061
verify = maybe
cert = {certs}/gw-a.crt
key = {certs}/gw-a.key
ca = {certs}/ca.crt
colour = blue
""")
    r = t(bad)
    check(r.returncode == 1, "a broken configuration exits 1")
    for want in (f"{bad}:1: key 'log-level'", f"{bad}:5: key 'verify'",
                 "none, optional, require", f"{bad}:9: key 'colour'"):
        check(want in r.stderr, f"error names '{want}': {r.stderr}")

    missing = os.path.join(tmp, "missing.conf")
    open(missing, "w").write(f"""[gw]
accept = udp:198.18.1.1:5060
accept = tls:198.18.2.1:5061
cert = {tmp}/nope.crt
key = {certs}/gw-a.key
ca = {certs}/ca.crt
""")
    r = t(missing)
    check(r.returncode == 1 and "nope.crt" in r.stderr,
          f"a missing certificate is named: {r.stderr}")
    wild = os.path.join(tmp, "wild.conf")
    open(wild, "w").write(f"""[gw]
accept = udp:0.0.0.0:5060
accept = tls:198.18.2.1:5061
cert = {certs}/gw-a.crt
key = {certs}/gw-a.key
ca = {certs}/ca.crt
""")
    r = t(wild)
    check(r.returncode == 1 and f"{wild}:1: [gw]" in r.stderr and
          "sip-inside" in r.stderr,
          f"-t refuses what the daemon would: a wildcard inside with no"
          f" sip-inside: {r.stderr}")
    r = t(os.path.join(tmp, "does-not-exist.conf"))
    check(r.returncode == 1 and "does-not-exist.conf" in r.stderr,
          "a missing file is named")
    finish()


if __name__ == "__main__":
    main()
