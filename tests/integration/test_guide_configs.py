#!/usr/bin/env python3
"""The configurations in docs/guide-*.md are complete and use real keys.

Every fenced block of a guide whose first line is `; HOST: /etc/sipsgate/FILE`
is one file of one host. Per host, the files are written under a scratch
directory standing in for /etc/sipsgate, the certificates, keys, CRLs and
token keys they name are put there (from certs/sipsgate-certs lab), and
`sipsgate -t` must accept the host's sipsgate.conf (a host without one gets
`include = conf.d`)."""
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sipmsg import check, finish, lab_certs  # noqa: E402

SRC = os.environ.get("SG_SOURCE_DIR") or os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SIPSGATE = os.environ.get("SIPSGATE", os.path.join(SRC, "build", "sipsgate"))
MARK = re.compile(r"^; (?P<host>[^:]+): (?P<path>/etc/sipsgate/\S+)$")
# Guides that must carry checked configurations.
WANT = {"guide-phones.md", "guide-trunk.md"}
FILE_KEYS = {"cert": "gw-a.crt", "key": "gw-a.key", "ca": "ca.crt",
             "crl": "ca.crl", "token-key": None}


def blocks(path):
    """(host, file, text) of every marked fenced block."""
    out, cur = [], None
    for line in open(path):
        if cur is None:
            if line.startswith("```"):
                cur = []
            continue
        if line.startswith("```"):
            m = MARK.match(cur[0].rstrip("\n")) if cur else None
            if m:
                out.append((m.group("host"), m.group("path"), "".join(cur)))
            cur = None
            continue
        cur.append(line)
    return out


def main():
    tmp = tempfile.mkdtemp(prefix="sg-guides-")
    try:
        certs = lab_certs(tmp, SRC)
        guides = sorted(f for f in os.listdir(os.path.join(SRC, "docs"))
                        if f.startswith("guide-") and f.endswith(".md"))
        hosts = {}
        for g in guides:
            for host, path, text in blocks(os.path.join(SRC, "docs", g)):
                files = hosts.setdefault((g, host), {})
                check(path not in files, f"{g}: {host}: {path} given once")
                files[path] = text
        have = {g for g, _ in hosts}
        check(WANT <= have, f"configurations found in {sorted(WANT)}: "
              f"{sorted(have)}")
        check(os.access(SIPSGATE, os.X_OK), f"sipsgate binary at {SIPSGATE}")
        for n, ((g, host), files) in enumerate(sorted(hosts.items())):
            root = os.path.join(tmp, f"h{n}")
            etc = root + "/etc/sipsgate"
            os.makedirs(etc + "/conf.d")
            if "/etc/sipsgate/sipsgate.conf" not in files:
                files["/etc/sipsgate/sipsgate.conf"] = "include = conf.d\n"
            for path, text in files.items():
                text = text.replace("/etc/sipsgate", etc)
                dst = root + path
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                with open(dst, "w") as f:
                    f.write(text)
                # The files it names: lab certificates, a token key.
                for k, v in re.findall(r"^([a-z-]+) *= *(\S+)", text, re.M):
                    if k not in FILE_KEYS or not v.startswith(etc):
                        continue
                    os.makedirs(os.path.dirname(v), exist_ok=True)
                    if FILE_KEYS[k] is None:
                        with open(v, "wb") as f:
                            f.write(os.urandom(32))
                    else:
                        shutil.copyfile(os.path.join(certs, FILE_KEYS[k]), v)
                    os.chmod(v, 0o600 if k in ("key", "token-key") else 0o644)
            r = subprocess.run([SIPSGATE, "-t", "-c", etc + "/sipsgate.conf"],
                               capture_output=True, text=True)
            check(r.returncode == 0 and "configuration OK" in r.stdout + r.stderr,
                  f"{g}: {host}: sipsgate -t: {r.stdout}{r.stderr}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
