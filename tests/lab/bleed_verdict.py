#!/usr/bin/env python3
"""RTP bleed and injection, from a capture of the gateway's inside LAN.

usage:
  bleed_verdict.py --lan CAP --gw-in IP [--attacker IP]...
                   --call A_IP:B_IP:A_RAW:B_RAW [--call ...]

Checks (tshark, heuristic RTP, as media_verdict.py):
  - no UDP datagram reached an --attacker address (the relay sent the
    attacker nothing: no bleed);
  - every datagram the gateway (--gw-in) sent to a phone carries one of the
    payloads the other phone of its call sent, none carries the attack
    marker (b"SGATTACK", tests/lab/rtp_attack.py) and none arrives twice
    (no injection, no replay got through);
  - per call and direction: the phone sent its whole file, and the other
    phone received every one of those payloads, in order (no loss: the
    attack cost the phones nothing).
Prints a summary; exit 0 if everything holds, 1 otherwise."""
import argparse
import os
import subprocess
import sys
from collections import Counter

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from media_verdict import chunks, datagrams  # noqa: E402

MARK = b"SGATTACK"


def icmp_frames(cap):
    out = subprocess.run(["tshark", "-r", cap, "-Y", "icmp", "-T", "fields",
                          "-e", "frame.number"], capture_output=True,
                         text=True, check=True).stdout
    return out.split()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lan", required=True)
    ap.add_argument("--gw-in", required=True)
    ap.add_argument("--attacker", action="append", default=[])
    ap.add_argument("--call", action="append", required=True)
    a = ap.parse_args()
    bad = []

    def need(ok, what):
        if not ok:
            bad.append(what)
            print("FAIL:", what)
        return ok

    lan = datagrams(a.lan)
    index, calls = {}, []
    for c, spec in enumerate(a.call):
        ipa, ipb, fa, fb = spec.split(":")
        calls.append((ipa, ipb, chunks(fa), chunks(fb)))
        for who, f in (("A", fa), ("B", fb)):
            for i, p in enumerate(chunks(f)):
                index[p] = (c, who, i)
    phones = {ip for ipa, ipb, _, _ in calls for ip in (ipa, ipb)}
    atk_in = sum(1 for d in lan if d["ip.src"] in a.attacker)
    # "udp" matches the UDP header quoted in an ICMP error too: the
    # kernel's port unreachable for ports nobody has open carries no media.
    icmp = set(icmp_frames(a.lan))
    to_atk = [d for d in lan if d["ip.dst"] in a.attacker and
              d["frame.number"] not in icmp]
    n_icmp = sum(1 for d in lan if d["ip.dst"] in a.attacker and
                 d["frame.number"] in icmp)
    print(f"{a.lan}: {len(lan)} non-SIP datagrams; {atk_in} from the "
          f"attacker{'s' if len(a.attacker) > 1 else ''}, {len(to_atk)} to"
          f" (and {n_icmp} ICMP errors from the kernel for closed ports)")
    need(not to_atk, f"{len(to_atk)} datagrams reached the attacker (first:"
         f" frame {to_atk[0]['frame.number'] if to_atk else '-'}, from "
         f"{to_atk[0]['ip.src'] if to_atk else '-'})")
    to_ph = [d for d in lan if d["ip.src"] == a.gw_in and d["ip.dst"] in
             phones]
    marked = [d for d in to_ph if MARK in d["udp"]]
    unknown = [d for d in to_ph if d["rtp"] not in index]
    dup = sum(n - 1 for n in Counter(d["udp"] for d in to_ph).values()
              if n > 1)
    print(f"gateway -> phones: {len(to_ph)} datagrams, {len(marked)} with the"
          f" attack marker, {len(unknown)} with no phone's payload, {dup}"
          " duplicates")
    need(not marked, f"{len(marked)} attacker payloads reached the phones")
    need(not unknown, f"{len(unknown)} datagrams to the phones carry no "
         "payload a phone sent")
    need(dup == 0, f"{dup} datagrams reached a phone twice (a replay?)")
    for c, (ipa, ipb, pa, pb) in enumerate(calls):
        ip = {"A": ipa, "B": ipb}
        for who, peer, files in (("A", "B", pa), ("B", "A", pb)):
            sent = [index[d["rtp"]][2] for d in lan
                    if d["ip.src"] == ip[who] and d["ip.dst"] == a.gw_in and
                    index.get(d["rtp"], (None,))[:2] == (c, who)]
            got = [index[d["rtp"]][2] for d in to_ph
                   if d["ip.dst"] == ip[peer] and
                   index.get(d["rtp"], (None,))[:2] == (c, who)]
            print(f"call {c + 1}: {who} ({ip[who]}) sent {len(sent)} of "
                  f"{len(files)}, {peer} ({ip[peer]}) received {len(got)}")
            need(sent == list(range(len(files))),
                 f"call {c + 1}: {who} did not send its whole file in order")
            need(got == sent, f"call {c + 1}: {peer} did not receive every "
                 f"payload {who} sent, in order ({len(got)}/{len(sent)})")
    print("verdict:", "no bleed, no injection, no loss" if not bad else
          f"{len(bad)} failures")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
