#!/usr/bin/env python3
"""The package under a real systemd: a container (systemd-nspawn, booted,
its root an overlay of this machine's, private network) installs the .deb
and drives the units with systemctl (tests/package/boot_inside.sh): the
hardened sipsgate.service starts (Type=notify), runs as sipsgate with
only CAP_NET_BIND_SERVICE and a seccomp filter, binds 5060/5061, serves
TLS, `sipsgate status` to group sipsgate and metrics; watchdog pings
arrive; journald gets SIPSGATE_SERVICE; reload keeps the process; a broken
file fails ExecStartPre naming its line; sipsgate@.service runs beside it
with its own socket; stop is clean. Prints the exposure systemd-analyze
security gives the loaded unit. Root only (77 otherwise); nothing of the
container stays on this machine."""
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integration"))
from sipmsg import check, finish  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.path.abspath(os.environ.get("SG_BUILD_DIR", "build"))
TIMEOUT = 240

PROBE = """[Unit]
Description=sipsgate package test inside the container
After=multi-user.target
SuccessAction=poweroff-force
FailureAction=poweroff-force

[Service]
Type=oneshot
ExecStart=/bin/sh /sgin/boot_inside.sh /sgin/{deb}
StandardOutput=journal+console
TimeoutStartSec={timeout}
"""


def run(*cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def main():
    if os.geteuid() != 0:
        print("SKIP: needs root (overlay mount, systemd-nspawn)")
        sys.exit(77)
    check(shutil.which("systemd-nspawn"),
          "systemd-nspawn is installed (package systemd-container)")
    if not shutil.which("systemd-nspawn"):
        finish()
    tmp = tempfile.mkdtemp(prefix="sg-boot-")
    sgin, sgout = f"{tmp}/in", f"{tmp}/out"
    up, root = f"{tmp}/up", f"{tmp}/root"
    for d in (sgin, sgout, up, root):
        os.mkdir(d)
    mounted = []
    try:
        r = run("cpack", "-G", "DEB", "--config",
                f"{BUILD}/CPackConfig.cmake", "-B", f"{tmp}/pkg")
        debs = glob.glob(f"{tmp}/pkg/sipsgate_*.deb")
        check(r.returncode == 0 and len(debs) == 1, f"cpack: {r.stderr}")
        if not debs:
            finish()
        deb = os.path.basename(debs[0])
        shutil.copy(debs[0], sgin)
        shutil.copy(f"{HERE}/boot_inside.sh", sgin)
        open(f"{sgin}/sgtest.service", "w").write(
            PROBE.format(deb=deb, timeout=TIMEOUT - 60))

        # The container's root: this machine's, writes kept in memory.
        r = run("mount", "-t", "tmpfs", "tmpfs", up)
        check(r.returncode == 0, f"tmpfs: {r.stderr}")
        mounted.append(up)
        os.mkdir(f"{up}/u")
        os.mkdir(f"{up}/w")
        r = run("mount", "-t", "overlay", "overlay", "-o",
                f"lowerdir=/,upperdir={up}/u,workdir={up}/w", root)
        check(r.returncode == 0, f"overlay of /: {r.stderr}")
        if r.returncode != 0:
            finish()
        mounted.insert(0, root)

        t0 = time.monotonic()
        with open(f"{tmp}/console.log", "w") as con:
            r = subprocess.run(
                ["timeout", "-k", "10", str(TIMEOUT), "systemd-nspawn", "-q",
                 "-D", root, "--machine=sipsgate-test", "--register=no",
                 "--keep-unit", "--link-journal=no", "--private-network",
                 f"--uuid={uuid.uuid4().hex}",
                 f"--bind-ro={sgin}:/sgin", f"--bind={sgout}:/sgout",
                 f"--bind-ro={sgin}/sgtest.service:"
                 "/etc/systemd/system/sgtest.service",
                 "-b", "systemd.wants=sgtest.service"],
                stdout=con, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        print(f"container booted, ran and powered off in "
              f"{time.monotonic() - t0:.1f} s (rc {r.returncode})")
        result = open(f"{sgout}/result").read().splitlines() \
            if os.path.exists(f"{sgout}/result") else []
        for ln in result:
            if ln.startswith(("ok ", "FAIL ")):
                check(ln.startswith("ok "), ln[5:] if ln[0] == "F" else ln)
        check(len(result) >= 30 and result[-1:] == ["done"],
              f"the script inside ran to its end ({len(result)} lines)")
        if os.path.exists(f"{sgout}/exposure"):
            print(open(f"{sgout}/exposure").read().strip()
                  .replace("→ ", "loaded unit: "))
        if any(not ln.startswith("ok ") for ln in result[:-1]) or \
                result[-1:] != ["done"]:
            if os.path.exists(f"{sgout}/log"):
                print("---- inside log (tail)")
                print("".join(open(f"{sgout}/log").readlines()[-80:]))
            print("---- console (tail)")
            print("".join(open(f"{tmp}/console.log",
                               errors="replace").readlines()[-40:]))
    finally:
        for m in mounted:
            run("umount", m)
        if os.environ.get("SG_KEEP"):
            print(f"kept: {tmp}")
        elif not any(os.path.ismount(m) for m in (root, up)):
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"note: could not unmount under {tmp}")
    finish()


if __name__ == "__main__":
    main()
