#!/usr/bin/env python3
"""The Debian package, end to end on this machine (root): cpack -G DEB from
the build; control fields (a dependency for every shared library the
daemon links, conffiles for everything under /etc); dpkg -i; the files,
the sipsgate user, the installed configuration passing `sipsgate -t` as
root and as that user, the documented certificate steps, man pages that
render, units that verify; a reinstall keeps an edited conffile; remove,
then purge leave nothing. Skipped (77) when not root, or when sipsgate is
already installed or /etc/sipsgate exists: it never touches an operator's
installation. The machine is left as it was found (the user is removed
again if the test made it)."""
import glob
import os
import pwd
import grp
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integration"))
from sipmsg import check, finish  # noqa: E402

BUILD = os.path.abspath(os.environ.get("SG_BUILD_DIR", "build"))
SIPSGATE = os.environ.get("SIPSGATE", os.path.join(BUILD, "sipsgate"))
ETC = "/etc/sipsgate"
UNITDIR = "/usr/lib/systemd/system"
DSH_STATE = "/var/lib/systemd/deb-systemd-helper-enabled"
ENV = dict(os.environ, DEBIAN_FRONTEND="noninteractive", LC_ALL="C.UTF-8",
           SYSTEMD_LOG_COLOR="0", SYSTEMD_PAGER="cat", MANWIDTH="80")
ENV.pop("MAN_KEEP_FORMATTING", None)
# What the package must install (besides the examples under conf.d/).
FILES = ["/usr/sbin/sipsgate", "/usr/sbin/sipsgate-certs",
         "/usr/share/man/man8/sipsgate.8.gz",
         "/usr/share/man/man5/sipsgate.conf.5.gz",
         f"{UNITDIR}/sipsgate.service", f"{UNITDIR}/sipsgate@.service",
         "/usr/lib/sysusers.d/sipsgate.conf",
         "/usr/share/doc/sipsgate/README.md",
         "/usr/share/doc/sipsgate/configuration.md",
         f"{ETC}/sipsgate.conf"]


def run(*cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, env=ENV, **kw)


def skip(why):
    print(f"SKIP: {why}")
    sys.exit(77)


def pkg_state():
    r = run("dpkg-query", "-W", "-f=${Status}", "sipsgate")
    return r.stdout.strip() if r.returncode == 0 else "unknown"


def lib_packages(binary):
    """The Debian package of every shared library the binary links."""
    r = run("objdump", "-p", binary)
    needed = re.findall(r"^\s+NEEDED\s+(\S+)", r.stdout, re.M)
    out = {}
    for lib in needed:
        q = run("dpkg", "-S", f"*/{lib}")
        pkgs = {ln.split(":")[0] for ln in q.stdout.splitlines()
                if ln.strip()}
        out[lib] = sorted(pkgs)
    return out


def man_excluded():
    """Docker-style images tell dpkg not to install man pages."""
    for f in glob.glob("/etc/dpkg/dpkg.cfg.d/*"):
        try:
            if re.search(r"^path-exclude.*/usr/share/man", open(f).read(),
                         re.M):
                return True
        except OSError:
            pass
    return False


def verify_unit(path, manpath=None):
    env = dict(ENV)
    if manpath:
        env["MANPATH"] = manpath
    r = subprocess.run(["systemd-analyze", "verify", path],
                       capture_output=True, text=True, env=env)
    return r.returncode, [ln for ln in (r.stdout + r.stderr).splitlines()
                          if "sipsgate" in ln]


def check_installed(deb_dir):
    check(pkg_state() == "install ok installed", f"installed: {pkg_state()}")
    for f in FILES:
        if f.startswith("/usr/share/man/") and man_excluded():
            continue
        check(os.path.exists(f), f"{f} installed")
    examples = glob.glob(f"{ETC}/conf.d/*.conf.example")
    check(len(examples) >= 3, f"examples in conf.d: {examples}")
    r = run("dpkg", "--verify", "sipsgate")
    check(r.returncode == 0 and r.stdout == "",
          f"dpkg --verify: {r.stdout}{r.stderr}")

    # The user and group the unit runs as.
    try:
        pw = pwd.getpwnam("sipsgate")
        check(pw.pw_uid < 1000 and pw.pw_dir == "/nonexistent" and
              pw.pw_shell.endswith(("nologin", "false")),
              f"sipsgate is a system user: {pw}")
        check(grp.getgrgid(pw.pw_gid).gr_name == "sipsgate",
              "its primary group is sipsgate")
    except KeyError:
        check(False, "the postinst made user sipsgate")

    # The installed configuration: checked as root, and as the unit's user
    # (its ExecStartPre); it reads conf.d/, where the examples are skipped.
    conf = open(f"{ETC}/sipsgate.conf").read()
    check(re.search(r"^include = /etc/sipsgate/conf.d$", conf, re.M),
          "the installed sipsgate.conf includes conf.d/")
    r = run("/usr/sbin/sipsgate", "-t", "-c", f"{ETC}/sipsgate.conf")
    check(r.returncode == 0 and "configuration OK (0 services)" in r.stdout,
          f"sipsgate -t on the installed configuration: {r.stdout}{r.stderr}")
    r = run("runuser", "-u", "sipsgate", "--", "/usr/sbin/sipsgate", "-t",
            "-c", f"{ETC}/sipsgate.conf")
    check(r.returncode == 0, f"sipsgate -t as user sipsgate: "
          f"{r.stdout}{r.stderr}")

    # The man page's steps: certificates with the installed sipsgate-certs,
    # an example copied to a .conf; the key is refused to user sipsgate
    # until it owns it.
    certs = f"{ETC}/certs"
    for args in (["ca"], ["server", "gw", "--dns", "pbx.example.net"]):
        r = run("/usr/sbin/sipsgate-certs", "--dir", certs, *args)
        check(r.returncode == 0, f"sipsgate-certs {args}: {r.stderr}")
    shutil.copy(f"{ETC}/conf.d/client-phones.conf.example",
                f"{ETC}/conf.d/client-phones.conf")
    r = run("/usr/sbin/sipsgate", "-t", "-c", f"{ETC}/sipsgate.conf")
    check(r.returncode == 0 and "(1 service)" in r.stdout,
          f"client-phones example with fresh certificates passes -t: "
          f"{r.stdout}{r.stderr}")
    r = run("runuser", "-u", "sipsgate", "--", "/usr/sbin/sipsgate", "-t",
            "-c", f"{ETC}/sipsgate.conf")
    # (GnuTLS names the pair by its certificate when the key is unreadable.)
    check(r.returncode == 1 and "certs/gw." in r.stderr,
          f"a root-owned key is refused to user sipsgate: {r.stderr}")
    os.chown(f"{certs}/gw.key", pwd.getpwnam("sipsgate").pw_uid, -1)
    r = run("runuser", "-u", "sipsgate", "--", "/usr/sbin/sipsgate", "-t",
            "-c", f"{ETC}/sipsgate.conf")
    check(r.returncode == 0, f"once owned by sipsgate (chown sipsgate:), "
          f"the key is read: {r.stdout}{r.stderr}")
    shutil.rmtree(certs)
    os.unlink(f"{ETC}/conf.d/client-phones.conf")

    # Man pages: found by man(1), rendered without a warning.
    if man_excluded():
        print("note: dpkg excludes /usr/share/man here; rendering the "
              "pages from the package instead")
        x = os.path.join(deb_dir, "x")
        run("dpkg-deb", "-x", glob.glob(f"{deb_dir}/*.deb")[0], x)
        pages = [f"{x}/usr/share/man/man8/sipsgate.8.gz",
                 f"{x}/usr/share/man/man5/sipsgate.conf.5.gz"]
        manpath = f"{x}/usr/share/man"
    else:
        r = run("man", "-w", "sipsgate", "sipsgate.conf")
        check(r.stdout.split() == ["/usr/share/man/man8/sipsgate.8.gz",
                                   "/usr/share/man/man5/sipsgate.conf.5.gz"],
              f"man -w finds both pages: {r.stdout}{r.stderr}")
        pages = ["8 sipsgate", "5 sipsgate.conf"]
        manpath = None
    for p in pages:
        args = ["-l", p] if p.startswith("/") else p.split()
        env = dict(ENV, MANPATH=manpath) if manpath else ENV
        r = subprocess.run(["man", "--warnings=w", *args], capture_output=True,
                           text=True, env=env)
        check(r.returncode == 0 and r.stderr == "" and "SYNOPSIS" in r.stdout,
              f"man {p} renders without a warning: {r.stderr}")

    # Units: verify as installed (ExecStart exists now; Documentation= is
    # looked up with man), the template through an instance.
    tmp = tempfile.mkdtemp(prefix="sg-deb-units-")
    inst = os.path.join(tmp, "sipsgate@pkg.service")
    shutil.copy(f"{UNITDIR}/sipsgate@.service", inst)
    for u in (f"{UNITDIR}/sipsgate.service", inst):
        rc, ours = verify_unit(u, manpath)
        check(rc == 0 and not ours, f"systemd-analyze verify {u}: {ours}")
    shutil.rmtree(tmp)
    if shutil.which("deb-systemd-helper"):
        check(os.path.exists(f"{DSH_STATE}/sipsgate.service.dsh-also"),
              "deb-systemd-helper knows the unit (purge will clean up)")


def main():
    if os.geteuid() != 0:
        skip("needs root (dpkg -i)")
    if pkg_state() != "unknown" and "not-installed" not in pkg_state():
        skip(f"sipsgate is already known to dpkg here ({pkg_state()})")
    if os.path.exists(ETC):
        skip(f"{ETC} exists: not touching an operator's configuration")
    for tool in ("cpack", "dpkg-deb", "dpkg-shlibdeps", "objdump",
                 "systemd-analyze", "man"):
        check(shutil.which(tool), f"{tool} is installed")
    had_user = True
    try:
        pwd.getpwnam("sipsgate")
    except KeyError:
        had_user = False
    had_group = True
    try:
        grp.getgrnam("sipsgate")
    except KeyError:
        had_group = False

    tmp = tempfile.mkdtemp(prefix="sg-deb-")
    try:
        t0 = time.monotonic()
        r = run("cpack", "-G", "DEB", "--config",
                f"{BUILD}/CPackConfig.cmake", "-B", tmp)
        debs = glob.glob(f"{tmp}/sipsgate_*.deb")
        check(r.returncode == 0 and len(debs) == 1,
              f"cpack -G DEB: {r.stdout[-2000:]}{r.stderr[-2000:]}")
        if not debs:
            finish()
        deb = debs[0]
        print(f"{os.path.basename(deb)}: {os.path.getsize(deb)} bytes, "
              f"made in {time.monotonic() - t0:.1f} s")

        f = run("dpkg-deb", "-f", deb, "Package", "Depends", "Recommends")
        print(f.stdout.strip())
        fields = dict(ln.split(": ", 1) for ln in f.stdout.splitlines()
                      if ": " in ln)
        check(fields.get("Package") == "sipsgate", f"Package: {fields}")
        deps = {d.strip().split()[0] for alt in
                fields.get("Depends", "").split(",") for d in alt.split("|")}
        for lib, pkgs in lib_packages(SIPSGATE).items():
            check(pkgs and any(p in deps for p in pkgs),
                  f"Depends covers {lib} (package {pkgs}): {deps}")
        check("adduser" in deps and "systemd" in deps,
              f"Depends: systemd | adduser, for the postinst: {deps}")
        listing = run("dpkg-deb", "-c", deb).stdout
        etc_files = re.findall(r"^-\S+\s+\S+\s+\d+ \S+ \S+ \.(/etc/\S+)$",
                               listing, re.M)
        conffiles = run("dpkg-deb", "-I", deb, "conffiles").stdout.split()
        check(f"{ETC}/sipsgate.conf" in conffiles and
              sorted(etc_files) == sorted(conffiles),
              f"every file under /etc is a conffile: {etc_files} "
              f"vs {conffiles}")
        for script in ("postinst", "prerm", "postrm"):
            r = run("dpkg-deb", "-I", deb, script)
            check(r.returncode == 0 and r.stdout.startswith("#!/bin/sh"),
                  f"maintainer script {script} is in the package")
        x = os.path.join(tmp, "x")
        run("dpkg-deb", "-x", deb, x)
        r = run("file", f"{x}/usr/sbin/sipsgate")
        check("stripped" in r.stdout and "not stripped" not in r.stdout,
              f"the binary is stripped: {r.stdout}")
        shutil.rmtree(x)

        t0 = time.monotonic()
        r = run("dpkg", "-i", deb)
        check(r.returncode == 0, f"dpkg -i: {r.stdout}{r.stderr}")
        print(f"dpkg -i: {time.monotonic() - t0:.1f} s")
        if r.returncode == 0:
            check_installed(tmp)

            # A reinstall (the upgrade path) keeps an edited conffile.
            conf = f"{ETC}/sipsgate.conf"
            text = open(conf).read()
            check("log-level = info" in text, "log-level = info installed")
            open(conf, "w").write(text.replace("log-level = info",
                                               "log-level = warning"))
            r = run("dpkg", "-i", deb)
            check(r.returncode == 0, f"dpkg -i again: {r.stdout}{r.stderr}")
            check("log-level = warning" in open(conf).read(),
                  "the edited conffile survives a reinstall")
            r = run("/usr/sbin/sipsgate", "-t", "-c", conf)
            check(r.returncode == 0, f"and still passes -t: {r.stderr}")

            r = run("dpkg", "-r", "sipsgate")
            check(r.returncode == 0 and
                  pkg_state() == "deinstall ok config-files" and
                  not os.path.exists("/usr/sbin/sipsgate") and
                  os.path.exists(conf),
                  f"dpkg -r removes the files, keeps the configuration: "
                  f"{pkg_state()} {r.stderr}")
            r = run("dpkg", "-P", "sipsgate")
            check(r.returncode == 0, f"dpkg -P: {r.stdout}{r.stderr}")
            left = [f for f in FILES if os.path.exists(f)]
            check(not left and not os.path.exists(ETC) and
                  pkg_state() in ("unknown", "unknown ok not-installed"),
                  f"purge leaves nothing: {left}, {ETC} "
                  f"{os.path.exists(ETC)}, {pkg_state()}")
            check(not os.path.exists(f"{DSH_STATE}/sipsgate.service.dsh-also"),
                  "purge forgets the unit's state")
    finally:
        if pkg_state() not in ("unknown", "unknown ok not-installed"):
            run("dpkg", "-P", "sipsgate")
        if os.path.exists(ETC):
            shutil.rmtree(ETC)
        if not had_user:
            run("userdel", "sipsgate")
        if not had_group:
            try:
                grp.getgrnam("sipsgate")
                run("groupdel", "sipsgate")
            except KeyError:
                pass
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
