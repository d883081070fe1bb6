#!/usr/bin/env python3
"""Count the SIP requests that crossed the WAN, decrypted: tshark decrypts
every TLS stream of a capture with the gateways' key log (GnuTLS writes
SSLKEYLOGFILE), `-z follow,tls,raw` gives each direction's plaintext, and
the messages are framed by Content-Length as a SIP stack would.

  wan_requests.py CAPTURE KEYLOG CLIENT_ADDR

Prints one JSON object: per direction ("up" = from CLIENT_ADDR, the gateway
that connected), requests by method, and the transactions seen more than
once (same Call-ID, CSeq and sender's branch, the Via below the gateway's:
a retransmission crossing again). ACK
is listed apart: an ACK for a 2xx is end to end and is legitimately sent
again for every retransmitted 2xx. Exit 2 if nothing could be decrypted.
"""
import json
import re
import subprocess
import sys


def tshark(*args):
    return subprocess.run(["tshark", "-n", *args], capture_output=True,
                          text=True, check=False).stdout


def frame(data):
    """Split a byte stream into SIP messages (CRLF keep-alives skipped)."""
    out, i = [], 0
    while i < len(data):
        while data[i:i + 2] == b"\r\n":
            i += 2
        end = data.find(b"\r\n\r\n", i)
        if end < 0:
            break
        m = re.search(rb"(?im)^(?:content-length|l)\s*:\s*(\d+)", data[i:end])
        n = int(m.group(1)) if m else 0
        out.append(data[i:end + 4 + n])
        i = end + 4 + n
    return out


def header(msg, names):
    for ln in msg.split(b"\r\n\r\n")[0].split(b"\r\n")[1:]:
        n, _, v = ln.partition(b":")
        if n.strip().lower() in names:
            return v.strip().decode("latin-1")
    return ""


def main():
    cap, keys, client = sys.argv[1:4]
    streams = sorted(set(
        int(x) for x in tshark("-r", cap, "-Y", "tcp.port == 5061",
                               "-T", "fields", "-e", "tcp.stream").split()))
    result = {"streams": len(streams)}
    for d in ("up", "down"):
        result[d] = {"requests": {}, "responses": 0, "repeated": {},
                     "repeated_ack": 0}
    seen = {"up": {}, "down": {}}
    for s in streams:
        out = tshark("-r", cap, "-o", f"tls.keylog_file:{keys}", "-q",
                     "-z", f"follow,tls,raw,{s}")
        node0 = re.search(r"^Node 0: (\S+):\d+$", out, re.M)
        data = {0: b"", 1: b""}
        body = out.split("=" * 10)
        for ln in "\n".join(body[1:]).splitlines():
            if not ln.strip() or ln.startswith(("Follow:", "Filter:", "Node ", "=")):
                continue
            who = 1 if ln.startswith("\t") else 0
            try:
                data[who] += bytes.fromhex(ln.strip())
            except ValueError:
                continue
        for who in (0, 1):
            is_up = (node0 and node0.group(1) == client) == (who == 0)
            d = "up" if is_up else "down"
            for msg in frame(data[who]):
                start = msg.split(b"\r\n", 1)[0].decode("latin-1")
                if start.startswith("SIP/2.0 "):
                    result[d]["responses"] += 1
                    continue
                method = start.split(" ", 1)[0]
                r = result[d]["requests"]
                r[method] = r.get(method, 0) + 1
                # The sender's transaction: its branch (the Via below the
                # gateway's), Call-ID and CSeq. A new request with the same
                # CSeq (sipp's BYE when it aborts a call) is another one.
                vias = [v for ln in msg.split(b"\r\n\r\n")[0].split(b"\r\n")[1:]
                        if ln.split(b":")[0].strip().lower() in (b"via", b"v")
                        for v in ln.partition(b":")[2].split(b",")]
                br = re.search(rb"branch=([^;\s]+)", vias[1] if len(vias) > 1 else b"")
                key = (header(msg, (b"call-id", b"i")), header(msg, (b"cseq",)),
                       br.group(1).decode("latin-1") if br else "")
                seen[d][key] = seen[d].get(key, 0) + 1
    for d in ("up", "down"):
        for (cid, cseq, _), n in seen[d].items():
            if n < 2:
                continue
            if cseq.endswith(" ACK"):
                result[d]["repeated_ack"] += n - 1
            else:
                result[d]["repeated"][f"{cid} {cseq}"] = n
    print(json.dumps(result, sort_keys=True))
    total = sum(sum(result[d]["requests"].values()) for d in ("up", "down"))
    sys.exit(0 if total > 0 else 2)


if __name__ == "__main__":
    main()
