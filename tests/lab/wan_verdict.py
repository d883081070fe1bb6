#!/usr/bin/env python3
"""What crossed a link, from a capture: every TCP byte stream must be a run of
well-formed TLS records (content type, version, length) from its first byte
to its last, and no datagram may be plain. Retransmitted and out-of-order
segments are put back in order first, so the verdict is about the bytes,
not about how a dissector labelled packets.

usage: wan_verdict.py CAPTURE [--udp-allowed]
Prints a summary; exit 0 when only TLS crossed, 1 otherwise."""
import re
import subprocess
import sys
from collections import defaultdict


def main():
    cap = sys.argv[1]
    udp_allowed = "--udp-allowed" in sys.argv
    out = subprocess.run(
        ["tshark", "-r", cap, "-Y", "tcp.len > 0 || udp", "-T", "fields",
         "-E", "separator=\t", "-e", "ip.src", "-e", "tcp.srcport",
         "-e", "ip.dst", "-e", "tcp.dstport", "-e", "tcp.seq_raw",
         "-e", "tcp.payload", "-e", "udp.length"],
        capture_output=True, text=True, check=True).stdout
    segs = defaultdict(dict)	# (src, sport, dst, dport) -> seq -> bytes
    udp = 0
    for line in out.splitlines():
        f = line.split("\t")
        f += [""] * (7 - len(f))
        src, sport, dst, dport, seq, payload, ulen = f[:7]
        if ulen:
            udp += 1
            continue
        if not payload:
            continue
        data = bytes.fromhex(payload.replace(":", ""))
        key = (src, sport, dst, dport)
        old = segs[key].get(int(seq))
        if old is None or len(data) > len(old):
            segs[key][int(seq)] = data
    records = 0
    total = 0
    bad = []
    leaks = 0
    for key, parts in segs.items():
        stream = b""
        pos = None
        for seq in sorted(parts):
            data = parts[seq]
            if pos is None:
                pos = seq
            if seq > pos:
                bad.append(f"{key}: {seq - pos} bytes missing from the capture")
                break
            stream += data[pos - seq:]
            pos = max(pos, seq + len(data))
        total += len(stream)
        if re.search(rb"SIP/2\.0|INVITE sip|REGISTER sip", stream):
            leaks += 1
        i = 0
        while i < len(stream):
            if len(stream) - i < 5:
                bad.append(f"{key}: {len(stream) - i} trailing bytes")
                break
            ctype, major, minor = stream[i], stream[i + 1], stream[i + 2]
            length = int.from_bytes(stream[i + 3:i + 5], "big")
            if ctype not in (20, 21, 22, 23) or major != 3 or minor > 4 \
                    or length > 16384 + 2048:
                bad.append(f"{key}: byte {i} is not a TLS record header"
                           f" ({stream[i:i + 8]!r})")
                break
            if i + 5 + length > len(stream):
                # The capture ended inside the last record.
                break
            records += 1
            i += 5 + length
    print(f"TCP streams: {len(segs)}, TLS records: {records}, bytes: {total},"
          f" streams with plaintext SIP: {leaks}, streams not TLS: {len(bad)},"
          f" datagrams: {udp}")
    for b in bad:
        print("  not TLS:", b)
    ok = records > 0 and not bad and not leaks and (udp == 0 or udp_allowed)
    if udp_allowed:
        print("verdict:", "every TCP stream is TLS (datagrams are checked"
              " separately)" if ok else "NOT only TLS on TCP")
    else:
        print("verdict:", "only TLS crossed" if ok else "NOT only TLS")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
