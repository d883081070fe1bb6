#!/usr/bin/env python3
"""certs/sipsgate-certs, checked with certtool itself: the lab set chains
to its CA (and the rogue one does not), names and addresses are in the
SANs, both TLS key purposes are there, the expired and wrong-name
certificates are what they say, the CRL revokes, keys are 0600, and
nothing is overwritten without --force."""
import os
import re
import stat
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sipmsg import check, finish  # noqa: E402

SRC = os.environ.get("SG_SOURCE_DIR", ".")
SCRIPT = os.path.join(SRC, "certs/sipsgate-certs")


def certtool(*args):
    return subprocess.run(["certtool", *args], capture_output=True, text=True)


def verify(d, ca, crt, crl=None):
    args = ["--verify", "--load-ca-certificate", f"{d}/{ca}.crt",
            "--infile", f"{d}/{crt}.crt"]
    if crl:
        args += ["--load-crl", f"{d}/{crl}"]
    r = certtool(*args)
    return r.returncode == 0 and "Chain verification output: Verified" in r.stdout, r.stdout


def main():
    d = tempfile.mkdtemp(prefix="sg-certs-")
    r = subprocess.run([SCRIPT, "--help"], capture_output=True, text=True)
    check(r.returncode == 0 and "lab" in r.stdout and "server NAME" in r.stdout,
          "--help explains the commands")
    r = subprocess.run([SCRIPT, "--dir", d, "lab"], capture_output=True,
                       text=True)
    check(r.returncode == 0, f"lab: {r.stderr[-300:]}")
    for name in ("ca", "gw-a", "gw-b", "pbx", "alice", "bob", "rogue-ca",
                 "rogue", "expired", "wrong-name", "revoked"):
        key = os.stat(f"{d}/{name}.key")
        crt = os.stat(f"{d}/{name}.crt")
        check(stat.S_IMODE(key.st_mode) == 0o600 and
              stat.S_IMODE(crt.st_mode) == 0o644,
              f"{name}: key 0600, certificate 0644")
    for name in ("gw-a", "gw-b", "pbx", "alice", "bob"):
        ok, out = verify(d, "ca", name)
        check(ok, f"{name} chains to the lab CA: {out[-200:]}")
    ok, _ = verify(d, "ca", "rogue")
    check(not ok, "rogue does not chain to the lab CA")
    ok, _ = verify(d, "rogue-ca", "rogue")
    check(ok, "rogue chains to rogue-ca")
    info = certtool("-i", "--infile", f"{d}/gw-a.crt").stdout
    check("DNSname: gw-a.lab.test" in info and "IPAddress: 198.18.2.1" in info
          and "IPAddress: 198.18.1.1" in info, "gw-a: SAN DNS and both lab IPs")
    check("TLS WWW Server" in info and "TLS WWW Client" in info,
          "gw-a: server and client key purposes")
    info = certtool("-i", "--infile", f"{d}/ca.crt").stdout
    check(re.search(r"Certificate Authority \(CA\): TRUE", info) is not None,
          "ca is a CA")
    info = certtool("-i", "--infile", f"{d}/expired.crt").stdout
    check("Not After: " in info and "2020" in info.split("Not After: ")[1][:40],
          "expired: valid until 2020")
    info = certtool("-i", "--infile", f"{d}/wrong-name.crt").stdout
    check("other.lab.test" in info and "gw-a.lab.test" not in info,
          "wrong-name names only other.lab.test")
    ok, out = verify(d, "ca", "revoked", "ca.crl")
    check(not ok and "revoked" in out.lower(),
          f"the CRL revokes revoked.crt: {out[-200:]}")
    r = subprocess.run([SCRIPT, "--dir", d, "server", "gw-a"],
                       capture_output=True, text=True)
    check(r.returncode != 0, "an existing certificate is not overwritten")
    r = subprocess.run([SCRIPT, "--dir", d, "phone", "carol"],
                       capture_output=True, text=True)
    pem = f"{d}/carol.pem"
    check(r.returncode == 0 and os.path.exists(pem) and
          stat.S_IMODE(os.stat(pem).st_mode) == 0o600 and
          "PRIVATE KEY" in open(pem).read() and
          "CERTIFICATE" in open(pem).read(),
          "phone: key + certificate in one 0600 .pem (baresip)")
    finish()


if __name__ == "__main__":
    main()
