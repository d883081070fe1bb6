#!/usr/bin/env python3
"""lab/docker: the compose lab is the namespace lab in containers.

This checks what can be checked without a Docker engine (the lab running
for real is tests/lab/test_lab_compose.sh): `docker-compose config -q` (Debian 12's docker-compose
1.29) accepts lab/docker/compose.yaml, and the configuration it prints
(parsed with PyYAML) has the topology of tests/lab/lib.sh (lab_topology):
every service on the right networks with the lab's addresses, gwa the only
service on both phone-lan and wan, gwb the only one on both wan and
pbx-lan, internal networks in 198.18.0.0/15, nothing published on the
host, images built on the host's network (no registry, no NAT: only
Debian's archive). Also: the gateway configurations are lab_gw_pair_conf's and pass
`sipsgate -t`, the Dockerfile installs ./run's DEB_BUILD, and the scripts
the images run parse."""
import ipaddress
import os
import re
import shutil
import subprocess
import sys
import tempfile

try:
    import yaml
except ImportError:
    # CI may run a python3 without PyYAML first on PATH; Debian's
    # /usr/bin/python3 has it (python3-yaml: docker-compose depends on it).
    if (os.path.exists("/usr/bin/python3") and
            os.path.realpath(sys.executable) !=
            os.path.realpath("/usr/bin/python3")):
        sys.exit(subprocess.call(["/usr/bin/python3", os.path.abspath(__file__)]
                                 + sys.argv[1:]))
    print("FAIL: PyYAML is missing (apt-get install python3-yaml)")
    sys.exit(1)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sipmsg import check, finish, lab_certs  # noqa: E402

SRC = os.environ.get("SG_SOURCE_DIR") or os.path.normpath(
    os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
SIPSGATE = os.environ.get("SIPSGATE", os.path.join(SRC, "build", "sipsgate"))
LAB = os.path.join(SRC, "lab", "docker")
COMPOSE = os.path.join(LAB, "compose.yaml")
LAB_NET = ipaddress.ip_network("198.18.0.0/15")

# service -> the networks it must be on (the namespaces of lab_topology).
NETWORKS = {
    "phone-a": {"phone-lan"},
    "phone-b": {"phone-lan"},
    "gwa": {"phone-lan", "wan"},
    "gwb": {"wan", "pbx-lan"},
    "pbx": {"pbx-lan"},
    "certs": set(),
}
# (service, network) -> the lib.sh variable that holds its address.
ADDRESSES = {
    ("phone-a", "phone-lan"): "LAB_PHONE_A",
    ("phone-b", "phone-lan"): "LAB_PHONE_B",
    ("gwa", "phone-lan"): "LAB_GWA_IN",
    ("gwa", "wan"): "LAB_GWA_WAN",
    ("gwb", "wan"): "LAB_GWB_WAN",
    ("gwb", "pbx-lan"): "LAB_GWB_IN",
    ("pbx", "pbx-lan"): "LAB_PBX",
}
GATEWAYS = ("gwa", "gwb")


def lib_addresses():
    """LAB_X=198.18.y.z assignments of tests/lab/lib.sh."""
    text = open(os.path.join(SRC, "tests", "lab", "lib.sh")).read()
    return dict(re.findall(r"^(LAB_[A-Z0-9_]+)=(198\.18\.\d+\.\d+)$", text,
                           re.M))


def run_list(name):
    """A package list of ./run (DEB_BUILD, DEB_PEERS) as a set."""
    text = open(os.path.join(SRC, "run")).read()
    m = re.search(name + r'="([^"]*)"', text)
    return set(m.group(1).split()) if m else set()


def dockerfile_build_packages():
    """The packages the Dockerfile's build stage installs."""
    text = open(os.path.join(LAB, "Dockerfile")).read()
    stage = text.split("FROM ", 2)[1]		# the first FROM: build
    m = re.search(r"apt-get install -y --no-install-recommends\s*\\\n(.*?)"
                  r"\n *&&", stage, re.S)
    if not m:
        return set()
    return set(m.group(1).replace("\\", " ").split())


def service_sections(path):
    """{section: [(key, value), ...]} of an INI file, comments dropped."""
    out, cur = {}, None
    for line in open(path):
        line = line.strip()
        if not line or line[0] in ";#":
            continue
        m = re.match(r"^\[(.+)\]$", line)
        if m:
            cur = out.setdefault(m.group(1), [])
            continue
        if cur is not None:
            k, _, v = line.partition("=")
            out_v = v.split(" ;")[0].strip()
            cur.append((k.strip(), out_v))
    return out


def compose(*args):
    env = dict(os.environ)
    env.pop("DOCKER_HOST", None)
    return subprocess.run(["docker-compose", "-f", COMPOSE] + list(args),
                          capture_output=True, text=True, env=env, cwd=SRC)


def check_topology(cfg, lib):
    services = cfg.get("services", {})
    nets = cfg.get("networks", {})
    check(set(services) == set(NETWORKS),
          f"services are {sorted(NETWORKS)}: {sorted(services)}")
    on = {}
    for name, svc in services.items():
        got = set((svc.get("networks") or {}).keys())
        want = NETWORKS.get(name, set())
        check(got == want, f"{name} is on {sorted(want)}: {sorted(got)}")
        mode = svc.get("network_mode")
        if name == "certs":
            check(mode == "none", f"certs has no network: {mode}")
        else:
            check(mode is None, f"{name}: no network_mode ({mode})")
        check(not svc.get("ports") and not svc.get("expose"),
              f"{name} publishes nothing on the host")
        check(not svc.get("privileged") and not svc.get("cap_add"),
              f"{name}: not privileged, no added capabilities")
        build = svc.get("build") or {}
        check(build.get("network") == "host",
              f"{name}: its image builds on the host's network: {build}")
        check(bool(svc.get("image")), f"{name}: a named image")
        for n in got:
            on.setdefault(n, set()).add(name)
    # No way around the gateways.
    both = lambda a, b: on.get(a, set()) & on.get(b, set())  # noqa: E731
    check(both("phone-lan", "wan") == {"gwa"},
          f"only gwa is on phone-lan and wan: {sorted(both('phone-lan', 'wan'))}")
    check(both("wan", "pbx-lan") == {"gwb"},
          f"only gwb is on wan and pbx-lan: {sorted(both('wan', 'pbx-lan'))}")
    check(not both("phone-lan", "pbx-lan"),
          f"nothing is on phone-lan and pbx-lan: {sorted(both('phone-lan', 'pbx-lan'))}")

    # Networks: internal bridges with one fixed subnet in 198.18.0.0/15.
    check(set(nets) == {"phone-lan", "wan", "pbx-lan"},
          f"networks are phone-lan, wan, pbx-lan: {sorted(nets)}")
    subnet = {}
    for name, n in nets.items():
        n = n or {}
        check(n.get("internal") is True,
              f"network {name} is internal (no route to the host or beyond)")
        check(n.get("driver", "bridge") == "bridge", f"network {name}: bridge")
        conf = ((n.get("ipam") or {}).get("config") or [])
        check(len(conf) == 1, f"network {name}: one ipam config: {conf}")
        if not conf:
            continue
        try:
            net = ipaddress.ip_network(conf[0].get("subnet", ""))
        except ValueError:
            check(False, f"network {name}: subnet {conf[0].get('subnet')!r}")
            continue
        subnet[name] = net
        check(net.subnet_of(LAB_NET), f"network {name}: {net} is in {LAB_NET}")
        gw = conf[0].get("gateway")
        check(gw is not None and ipaddress.ip_address(gw) in net,
              f"network {name}: gateway {gw} in {net}")
        fixed = {lib.get(v) for (s, nn), v in ADDRESSES.items() if nn == name}
        check(gw not in fixed, f"network {name}: the host's address {gw} is"
              f" none of the lab's")
    nets_in = list(subnet.values())
    check(all(not a.overlaps(b) for i, a in enumerate(nets_in)
              for b in nets_in[i + 1:]), f"subnets do not overlap: {nets_in}")

    # Fixed addresses, those of lib.sh.
    for (name, net), var in ADDRESSES.items():
        want = lib.get(var)
        got = (((services.get(name) or {}).get("networks") or {})
               .get(net) or {}).get("ipv4_address")
        check(want is not None and got == want,
              f"{name} on {net} is {var} = {want}: {got}")
        if got and net in subnet:
            check(ipaddress.ip_address(got) in subnet[net],
                  f"{name}: {got} is in {net} {subnet[net]}")

    # Gateways do not forward (as in the namespaces).
    for g in GATEWAYS:
        sc = (services.get(g) or {}).get("sysctls") or {}
        check(str(sc.get("net.ipv4.ip_forward")) == "0",
              f"{g}: net.ipv4.ip_forward = 0: {sc}")

    # What the services are told agrees with the addresses.
    def env(s):
        return (services.get(s) or {}).get("environment") or {}

    def addr(s, n):
        return (((services.get(s) or {}).get("networks") or {}).get(n)
                or {}).get("ipv4_address")
    check(env("pbx").get("PBX_LISTEN") == addr("pbx", "pbx-lan"),
          f"pbx listens on its address: {env('pbx').get('PBX_LISTEN')}")
    for p in ("phone-a", "phone-b"):
        check(env(p).get("PHONE_IP") == addr(p, "phone-lan"),
              f"{p}: PHONE_IP is its address: {env(p).get('PHONE_IP')}")
        check(env(p).get("PHONE_PROXY") == f"{addr('gwa', 'phone-lan')}:5060",
              f"{p} sends to gwa: {env(p).get('PHONE_PROXY')}")
    check(env("phone-a").get("PHONE_ROLE") == "caller" and
          env("phone-b").get("PHONE_ROLE") == "callee" and
          env("phone-a").get("PHONE_CALLEE") == env("phone-b").get("PHONE_USER"),
          "phone-a calls phone-b")
    hosts = (services.get("gwa") or {}).get("extra_hosts") or []
    check(f"gw-b.lab.test:{addr('gwb', 'wan')}" in hosts,
          f"gwa resolves gw-b.lab.test (its connect) to gwb's wan address: {hosts}")

    # Certificates: one volume, written by the certs service, read-only in
    # the gateways.
    for g in GATEWAYS:
        vols = (services.get(g) or {}).get("volumes") or []
        check(any(str(v).startswith("certs:/etc/sipsgate/certs") and
                  str(v).endswith(":ro") for v in vols),
              f"{g} mounts the certs volume read-only: {vols}")
        deps = (services.get(g) or {}).get("depends_on") or {}
        check((deps.get("certs") or {}).get("condition") ==
              "service_completed_successfully",
              f"{g} starts once the certificates are made: {deps}")
    cmd = " ".join((services.get("certs") or {}).get("command") or [])
    check("sipsgate-certs" in cmd and " lab" in cmd,
          f"certs runs sipsgate-certs lab: {cmd}")


def check_gateway_confs(tmp):
    """gwa.conf and gwb.conf are lab_gw_pair_conf's services, and pass -t."""
    gen = os.path.join(tmp, "gen")
    os.mkdir(gen)
    r = subprocess.run(["bash", "-c", '. "$1/tests/lab/lib.sh" && '
                        '. "$1/tests/lab/gw.sh" && LAB_DIR=$2 && '
                        'LAB_CERTS=/etc/sipsgate/certs && lab_gw_pair_conf',
                        "-", SRC, gen], capture_output=True, text=True)
    check(r.returncode == 0, f"lab_gw_pair_conf runs: {r.stderr}")
    certs = lab_certs(tmp, SRC)
    for g in GATEWAYS:
        mine = os.path.join(LAB, f"{g}.conf")
        if not os.path.exists(mine):
            check(False, f"{mine} exists")
            continue
        if r.returncode == 0:
            want = service_sections(os.path.join(gen, f"{g}.conf"))
            got = service_sections(mine)
            check(got == want, f"{g}.conf has lab_gw_pair_conf's service:"
                  f" {got} != {want}")
        if not os.access(SIPSGATE, os.X_OK):
            check(False, f"no sipsgate binary at {SIPSGATE}")
            continue
        conf = os.path.join(tmp, f"{g}.conf")
        with open(conf, "w") as f:
            f.write(open(mine).read().replace("/etc/sipsgate/certs", certs))
        t = subprocess.run([SIPSGATE, "-t", "-c", conf], capture_output=True,
                           text=True)
        check(t.returncode == 0, f"sipsgate -t {g}.conf: {t.stdout}{t.stderr}")


def check_images():
    check("docker-compose" in run_list("DEB_PEERS"),
          "./run installs docker-compose (DEB_PEERS)")
    want, got = run_list("DEB_BUILD"), dockerfile_build_packages()
    check(want and got == want, f"the Dockerfile installs ./run's DEB_BUILD:"
          f" missing {sorted(want - got)}, extra {sorted(got - want)}")
    text = open(os.path.join(LAB, "Dockerfile")).read()
    for src in re.findall(r"^COPY (?!--from)(\S+)", text, re.M):
        if src != ".":
            check(os.path.exists(os.path.join(SRC, src)),
                  f"the Dockerfile copies {src}: it exists")
    for stage in ("build", "phone", "pbx", "sipsgate"):
        check(re.search(rf"^FROM \S+ AS {stage}$", text, re.M) is not None,
              f"the Dockerfile has a stage {stage}")
    check(re.search(r"^USER (?!root)\S+", text.split("AS sipsgate")[-1], re.M)
          is not None, "the gateway image runs as a user, not root")
    for s in ("phone.sh", "pbx.sh"):
        p = os.path.join(LAB, s)
        r = subprocess.run(["sh", "-n", p], capture_output=True, text=True)
        check(r.returncode == 0, f"{s} parses: {r.stderr}")
    for scen in ("media_uac", "media_uas"):
        check(os.path.exists(os.path.join(SRC, "tests", "lab", "sipp",
                                          scen + ".xml")),
              f"the phones' scenario {scen}.xml exists")


def main():
    tmp = tempfile.mkdtemp(prefix="sg-compose-")
    try:
        if shutil.which("docker-compose") is None:
            check(False, "docker-compose is installed (./run deps)")
        else:
            r = compose("config", "-q")
            check(r.returncode == 0 and r.stdout == "",
                  f"docker-compose config -q: exit {r.returncode}: "
                  f"{r.stdout}{r.stderr}")
            r = compose("config")
            check(r.returncode == 0, f"docker-compose config: {r.stderr}")
            if r.returncode == 0:
                check_topology(yaml.safe_load(r.stdout), lib_addresses())
        check_gateway_confs(tmp)
        check_images()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    finish()


if __name__ == "__main__":
    main()
