#!/usr/bin/env python3
"""systemd/: both units pass `systemd-analyze verify` without a word about
them, keep their sandbox (`systemd-analyze security --offline`, exposure
2.0 at most; the figure is printed), and share every setting but the
instance's paths; the sysusers file parses."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integration"))
from sipmsg import check, finish  # noqa: E402

SRC = os.environ.get("SG_SOURCE_DIR", ".")
SIPSGATE = os.path.abspath(os.environ.get("SIPSGATE", "build/sipsgate"))
MAX_EXPOSURE = 20       # --threshold is on a 0..100 scale: 2.0
# Settings the sandbox must keep (names as systemd-analyze security says).
MUST = ["NoNewPrivileges=", "ProtectSystem=", "ProtectHome=", "PrivateTmp=",
        "PrivateDevices=", "ProtectKernelTunables=", "ProtectKernelModules=",
        "ProtectKernelLogs=", "ProtectControlGroups=", "ProtectClock=",
        "ProtectHostname=", "RestrictRealtime=", "RestrictSUIDSGID=",
        "LockPersonality=", "MemoryDenyWriteExecute=",
        "SystemCallArchitectures=", "SystemCallFilter=~@privileged",
        "SystemCallFilter=~@resources", "RestrictNamespaces=~user",
        "RestrictAddressFamilies=~AF_PACKET",
        "RestrictAddressFamilies=~AF_NETLINK",
        "CapabilityBoundingSet=~CAP_SYS_ADMIN",
        "CapabilityBoundingSet=~CAP_SET(UID|GID|PCAP)", "User=/DynamicUser=",
        "NotifyAccess=", "UMask="]
ENV = dict(os.environ, SYSTEMD_LOG_COLOR="0", SYSTEMD_PAGER="cat",
           SYSTEMD_COLORS="0")


def analyze(*args, env=ENV):
    return subprocess.run(["systemd-analyze", *args], capture_output=True,
                          text=True, env=env)


def about_us(text):
    """Lines of systemd-analyze's output that concern our units."""
    return [ln for ln in text.splitlines() if "sipsgate" in ln]


def verify(path, env):
    r = analyze("verify", path, env=env)
    ours = about_us(r.stdout + r.stderr)
    for ln in (r.stdout + r.stderr).splitlines():
        if ln not in ours:
            print("note (another unit):", ln)
    return r.returncode, ours


def service_keys(path):
    keys, section = {}, None
    for ln in open(path):
        ln = ln.strip()
        if ln.startswith("["):
            section = ln
        elif section == "[Service]" and "=" in ln and ln[0] not in "#;":
            k, v = ln.split("=", 1)
            keys.setdefault(k, []).append(v)
    return keys


def main():
    r = analyze("--version")
    check(r.returncode == 0, "systemd-analyze runs (package systemd)")
    if r.returncode != 0:
        finish()
    print(r.stdout.splitlines()[0])
    tmp = tempfile.mkdtemp(prefix="sg-units-")
    # Documentation=man:... is checked with man(1): our pages, from docs/.
    for page, sec in (("sipsgate.8", "8"), ("sipsgate.conf.5", "5")):
        os.makedirs(f"{tmp}/man/man{sec}", exist_ok=True)
        shutil.copy(f"{SRC}/docs/{page}", f"{tmp}/man/man{sec}/{page}")
    env = dict(ENV, MANPATH=f"{tmp}/man")
    # verify wants ExecStart's binary to exist: point it at the build.
    units = {}
    for name in ("sipsgate.service", "sipsgate@.service"):
        text = open(f"{SRC}/systemd/{name}").read()
        check("/usr/sbin/sipsgate -c /etc/sipsgate/" in text,
              f"{name}: ExecStart is /usr/sbin/sipsgate")
        os.makedirs(f"{tmp}/units", exist_ok=True)
        path = f"{tmp}/units/{name}"
        open(path, "w").write(text.replace("/usr/sbin/sipsgate", SIPSGATE))
        units[name] = path
    inst = f"{tmp}/units/sipsgate@lab.service"
    shutil.copy(units["sipsgate@.service"], inst)

    for path in (units["sipsgate.service"], units["sipsgate@.service"], inst):
        rc, ours = verify(path, env)
        name = os.path.basename(path)
        check(rc == 0 and not ours,
              f"systemd-analyze verify {name}: rc {rc}, {ours}")

    # The check above fails on what it must fail on.
    bad = f"{tmp}/bad/sipsgate.service"
    os.makedirs(os.path.dirname(bad))
    open(bad, "w").write(open(units["sipsgate.service"]).read().replace(
        "UMask=0077", "UMask=0077\nProtectSystem=sometimes\nFrobnicate=yes"))
    rc, ours = verify(bad, env)
    check(len(ours) >= 2, f"a unit with bad keys is caught: {ours}")

    for path in (units["sipsgate.service"], inst):
        name = os.path.basename(path)
        r = analyze("security", "--offline=yes",
                    f"--threshold={MAX_EXPOSURE}", path)
        overall = [ln for ln in r.stdout.splitlines() if "Overall" in ln]
        print(overall[0] if overall else r.stdout + r.stderr)
        m = re.search(r"level for \S+: (\d+\.\d+)", overall[0]) \
            if overall else None
        check(r.returncode == 0 and m and float(m.group(1)) <= 2.0,
              f"{name}: exposure {m and m.group(1)} (at most 2.0): "
              f"{r.stderr}")
        r = analyze("security", "--offline=yes", "--json=short", path)
        got = {e["name"]: e["set"] for e in json.loads(r.stdout)}
        for want in MUST:
            check(got.get(want) is True, f"{name}: {want} holds")

    # The template is the unit with per-instance paths.
    a = service_keys(f"{SRC}/systemd/sipsgate.service")
    b = service_keys(f"{SRC}/systemd/sipsgate@.service")
    for k in sorted(set(a) | set(b)):
        if k in ("ExecStartPre", "ExecStart", "RuntimeDirectory"):
            continue
        check(a.get(k) == b.get(k),
              f"[Service] {k}: sipsgate.service {a.get(k)}, "
              f"sipsgate@.service {b.get(k)}")
    check(b.get("RuntimeDirectory") == ["sipsgate-%i"] and
          b.get("ExecStart") ==
          ["/usr/sbin/sipsgate -c /etc/sipsgate/%i.conf"],
          f"the template's instance paths: {b.get('RuntimeDirectory')} "
          f"{b.get('ExecStart')}")
    check(a.get("Type") == ["notify"] and a.get("WatchdogSec") == ["30"] and
          a.get("ExecReload") == ["/bin/kill -HUP $MAINPID"] and
          a.get("User") == ["sipsgate"] and
          a.get("ExecStartPre") ==
          ["/usr/sbin/sipsgate -t -c /etc/sipsgate/sipsgate.conf"],
          "notify, watchdog, reload by SIGHUP, user, check before start")

    r = subprocess.run(["systemd-sysusers", "--dry-run",
                        f"{SRC}/systemd/sipsgate.sysusers"],
                       capture_output=True, text=True, env=ENV)
    check(r.returncode == 0 and "Failed" not in r.stderr and
          "sipsgate" in open(f"{SRC}/systemd/sipsgate.sysusers").read(),
          f"sysusers file parses: {r.stdout}{r.stderr}")
    shutil.rmtree(tmp)
    finish()


if __name__ == "__main__":
    main()
