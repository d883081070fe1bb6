#!/usr/bin/env python3
"""docs/sipsgate.8 and docs/sipsgate.conf.5: groff and man(1) render them
without a warning; sipsgate(8) documents every option of `sipsgate -h`;
sipsgate.conf(5) documents every key the parser knows (gateway/cfg.c) and
docs/configuration.md lists, with the same defaults; its examples pass
`sipsgate -t`."""
import os
import re
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                "..", "integration"))
from sipmsg import check, finish, lab_certs  # noqa: E402

SRC = os.environ.get("SG_SOURCE_DIR", ".")
SIPSGATE = os.environ.get("SIPSGATE", "build/sipsgate")
PAGES = {"sipsgate.8": ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS",
                        "COMMANDS", "STATUS OUTPUT", "SIGNALS", "SYSTEMD",
                        "EXIT STATUS", "FILES", "EXAMPLES", "SEE ALSO"],
         "sipsgate.conf.5": ["NAME", "SYNOPSIS", "DESCRIPTION", "SYNTAX",
                             "ENDPOINTS", "GLOBAL KEYS", "SERVICE KEYS",
                             "RULES CHECKED FOR EACH SERVICE",
                             "PEER VERIFICATION", "MEDIA POLICIES",
                             "EXAMPLES", "FILES", "SEE ALSO"]}


def render(page):
    """man -l at 80 columns, groff's warnings on: (text, warnings)."""
    env = dict(os.environ, MANWIDTH="80", LC_ALL="C.UTF-8")
    env.pop("MAN_KEEP_FORMATTING", None)
    r = subprocess.run(["man", "--warnings=w", "-l", page],
                       capture_output=True, text=True, env=env)
    return r.returncode, r.stdout, r.stderr


def unescape(s):
    """troff source to plain text, enough for the checks below."""
    s = re.sub(r"\\f[BIRP]|\\&|\\c$", "", s, flags=re.M)
    s = s.replace("\\-", "-").replace("\\(aq", "'").replace("\\e", "\\")
    return s


def entries(src):
    """sipsgate.conf.5's key entries: {key: text of the entry}, from the
    GLOBAL KEYS and SERVICE KEYS sections."""
    out, key, keys = {}, None, False
    for ln in unescape(src).splitlines():
        if ln.startswith(".SH"):
            keys = ln in (".SH GLOBAL KEYS", ".SH SERVICE KEYS")
        m = re.match(r'^\.B[IR]? "?([a-z0-9-]+) = ', ln)
        if m and keys and m.group(1) not in out:
            key = m.group(1)
            out[key] = ""
            continue
        if ln.startswith((".TP", ".SS", ".SH")):
            key = None
        elif key:
            out[key] += " " + re.sub(r"^\.[A-Z]+ ?", "", ln)
    return out


def main():
    for page, sections in PAGES.items():
        path = os.path.join(SRC, "docs", page)
        r = subprocess.run(["groff", "-t", "-man", "-Tutf8", "-ww", "-z",
                            path], capture_output=True, text=True)
        check(r.returncode == 0 and r.stderr == "",
              f"groff -t -man -ww {page}: no warning: {r.stderr}")
        rc, text, err = render(path)
        check(rc == 0 and err == "", f"man -l {page} at 80 columns: {err}")
        heads = [ln for ln in text.splitlines() if re.match(r"^[A-Z]", ln)]
        for s in sections:
            check(s in heads, f"{page} has a {s} section")
        wide = [ln for ln in text.splitlines() if len(ln) > 80]
        check(not wide, f"{page}: lines wider than 80 columns: {wide}")

    # Both pages carry the project's version.
    cml = open(os.path.join(SRC, "CMakeLists.txt")).read()
    version = re.search(r"project\(sipsgate VERSION (\S+)", cml).group(1)
    for page in PAGES:
        th = re.search(r"^\.TH .*$", open(os.path.join(SRC, "docs", page))
                       .read(), re.M).group(0)
        check(f'"sipsgate {version}"' in th,
              f"{page}: .TH names sipsgate {version}: {th}")

    # sipsgate(8): every option of the usage text, and the status command.
    src8 = unescape(open(os.path.join(SRC, "docs/sipsgate.8")).read())
    r = subprocess.run([SIPSGATE, "-h"], capture_output=True, text=True)
    opts = sorted(set(re.findall(r"^\s+(-[a-zA-Z])\b", r.stderr, re.M)))
    check(r.returncode == 2 and len(opts) >= 4, f"usage lists options: {opts}")
    for o in opts + ["-h"]:
        check(re.search(rf"^\.BI? {o}\b", src8, re.M),
              f"sipsgate.8 documents {o} in OPTIONS")
    check(re.search(r"^\.B status$", src8, re.M), "sipsgate.8: status")

    # sipsgate.conf(5): every key of the parser and of configuration.md.
    src5 = open(os.path.join(SRC, "docs/sipsgate.conf.5")).read()
    ent = entries(src5)
    cfg_c = open(os.path.join(SRC, "gateway/cfg.c")).read()
    # The key table's rows: FUNC("name", ...), UINT("name", ...) and so
    # on, or { "name", S, ... }; REMOVED("name", ...) keys are refused and
    # listed under REMOVED KEYS / "Removed keys" instead.
    parser = set(re.findall(r'^\t(?:\{ "([a-z0-9-]+)", [GS],|'
                            r'(?:FUNC|UINT|BOOL|ENUM)\("([a-z0-9-]+)")',
                            cfg_c, re.M))
    parser = {a or b for a, b in parser}
    removed = set(re.findall(r'^\tREMOVED\("([a-z0-9-]+)"', cfg_c, re.M))
    check(len(parser) >= 30, f"keys found in cfg.c: {len(parser)}")
    check("flow-timeout" in removed, f"removed keys found: {removed}")
    for key in removed:
        check(re.search(r"^\.SH REMOVED KEYS\n(.*\n)*\.B " +
                        key.replace("-", r"\\-"), src5, re.M) is not None,
              f"sipsgate.conf.5 lists removed key '{key}'")
    md = open(os.path.join(SRC, "docs/configuration.md")).read()
    rows = [r for r in re.findall(r"^\| `([a-z0-9-]+)` \| ([^|]*) \|", md,
                                  re.M) if r[0] not in removed]
    check(len(rows) >= 30, f"keys found in configuration.md: {len(rows)}")
    for key in sorted(parser | {k for k, _ in rows}):
        check(key in ent, f"sipsgate.conf.5 documents key '{key}'")
    for key, default in rows:
        m = re.fullmatch(r"`([^`]+)`\s*", default)
        if m and key in ent:
            check("Default:" in ent[key] and m.group(1) in ent[key],
                  f"sipsgate.conf.5 '{key}': default {m.group(1)}: "
                  f"{ent[key][:120]}")
        elif key in ent:
            check("Default:" in ent[key] or "Required" in ent[key] or
                  "at least one" in ent[key],
                  f"sipsgate.conf.5 '{key}' says its default")

    # Its examples are valid: the global one including the services.
    tmp = tempfile.mkdtemp(prefix="sg-man-")
    certs = lab_certs(tmp, SRC)
    for ext in ("crt", "key"):
        os.link(f"{certs}/gw-a.{ext}", f"{certs}/gw.{ext}")
    blocks = re.findall(r"^\.EX\n(.*?)^\.EE", unescape(src5), re.M | re.S)
    conf_d = os.path.join(tmp, "conf.d")
    os.mkdir(conf_d)
    main_conf = None
    nsvc = 0
    for b in blocks:
        b = b.replace("/etc/sipsgate/certs", certs)
        if b.startswith("["):
            name = re.match(r"\[([^]]+)\]", b).group(1)
            open(f"{conf_d}/{name}.conf", "w").write(b)
            nsvc += 1
        elif b.startswith("user ="):
            main_conf = b.replace("/etc/sipsgate/conf.d", conf_d)
        elif b.startswith("control ="):
            inst = os.path.join(tmp, "site-b.conf")
            open(inst, "w").write(b)
            os.mkdir(os.path.join(tmp, "site-b.d"))
            r = subprocess.run([SIPSGATE, "-t", "-c", inst],
                               capture_output=True, text=True)
            check(r.returncode == 0, f"instance example passes -t: "
                  f"{r.stdout}{r.stderr}")
    # [lab] names its files relative to its own directory.
    for ext in ("crt", "key"):
        shutil.copy(f"{certs}/gw.{ext}", f"{conf_d}/gw.{ext}")
    check(main_conf is not None and nsvc >= 4,
          f"examples found: global {main_conf is not None}, {nsvc} services")
    if main_conf:
        path = os.path.join(tmp, "sipsgate.conf")
        open(path, "w").write(main_conf)
        r = subprocess.run([SIPSGATE, "-t", "-c", path], capture_output=True,
                           text=True)
        check(r.returncode == 0 and f"({nsvc} services)" in r.stdout,
              f"sipsgate.conf.5 examples pass -t: {r.stdout}{r.stderr}")
    shutil.rmtree(tmp)
    finish()


if __name__ == "__main__":
    main()
