#!/usr/bin/env python3
"""The inside half of the media invariant (DESIGN §4), on a capture of a LAN
inside a gateway: no SIP message (UDP datagrams, and TCP streams put back in
order and cut by Content-Length) carries a=crypto, a=fingerprint,
a=key-mgmt or RTP/SAVP (which also matches RTP/SAVPF and UDP/TLS/RTP/SAVP),
in any case, anywhere in its body, nor an a=crypto:, a=fingerprint: or
a=key-mgmt: attribute with a value anywhere in the message (a Warning
header that names a=crypto is not a leak).

usage: lan_verdict.py CAPTURE [--from ADDRESS]... [--min-sip N]
With --from, only messages sent from those addresses (the gateways' inside
addresses: what a gateway sends toward the inside) are checked; a phone may
send anything, the gateway must not pass it on.
Prints a summary and every offending message; exit 0 when none, 1 otherwise
(also when fewer than N SIP messages were found: the check saw nothing)."""
import argparse
import sys

from sipcap import leaks, stream_messages, udp_messages


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("capture")
    ap.add_argument("--min-sip", type=int, default=0)
    ap.add_argument("--from", dest="src", action="append", default=[])
    a = ap.parse_args()
    msgs = udp_messages(a.capture)
    tcp, _, _ = stream_messages(a.capture, "tcp")
    msgs += tcp
    src = set(a.src)
    checked = [m for m in msgs if not src or m.src.rsplit(":", 1)[0] in src]
    bad = [m for m in checked if leaks(m.data)]
    sdps = sum(1 for m in msgs if b"\nm=" in m.body or m.body.startswith(b"m="))
    print(f"lan_verdict {a.capture}: {len(msgs)} SIP messages "
          f"({len(msgs) - len(tcp)} UDP, {len(tcp)} TCP), {sdps} with SDP,"
          f" {len(checked)} sent by {sorted(src) or 'anyone'},"
          f" {len(bad)} of those carrying a=crypto/a=fingerprint/a=key-mgmt/RTP/SAVP")
    for m in bad[:20]:
        found = leaks(m.data)
        print(f"  LEAK {m.where} {m.src} -> {m.dst}: {m.start!r}: {found}")
    ok = not bad and len(msgs) >= a.min_sip
    if len(msgs) < a.min_sip:
        print(f"  only {len(msgs)} SIP messages, want >= {a.min_sip}")
    print("verdict:", "no secret reached the LAN" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
