#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""sipprobe.py: SIP round-trip probe for bench/signalling.sh (not a test).

  sipprobe.py answer --bind IP:PORT --seconds S
      A minimal UAS: answers every request but ACK with 200 OK (Via list,
      Record-Route, From, To (+tag), Call-ID, CSeq copied; Contact set; an
      SDP answer (RTP/AVP, PCMU) to an INVITE that carries an offer), to
      the source address of the datagram; for at most S seconds.

  sipprobe.py probe --bind IP:PORT --to IP:PORT --count N --gap MS
                    [--method OPTIONS|INVITE] [--timeout MS] [--no-sdp]
      Sends N requests one at a time (a new Call-ID and branch each) and
      times each request -> 200 with time.perf_counter_ns(), waiting GAP ms
      between them (so every request finds an idle path, as at low load).
      INVITE carries an SDP offer (RTP/AVP; no media is sent; --no-sdp:
      none); after its 200 the probe sends the ACK and a BYE along the
      Record-Route set to the 200's Contact, as a phone would, and waits
      for the BYE's 200 (not timed), so that every call ends and a gateway
      can free what it set up for it.  Prints one line of key=value: sent, ok, lost,
      min/median/p90/p99 in microseconds (request -> 200 only).

The probe's own overhead (Python) is the same with and without the gateways
in the path, so it cancels out in (through pair - direct).
"""
import argparse
import os
import socket
import statistics
import sys
import time


def hostport(s):
    h, p = s.rsplit(":", 1)
    return h, int(p)


def answer(args):
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    sock.bind(hostport(args.bind))
    local = args.bind
    deadline = time.monotonic() + args.seconds
    n = 0
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        sock.settimeout(min(left, 0.5))
        try:
            data, src = sock.recvfrom(65535)
        except socket.timeout:
            continue
        try:
            text = data.decode("utf-8", "replace")
        except Exception:
            continue
        head = text.split("\r\n\r\n", 1)[0].split("\r\n")
        if not head or head[0].startswith("SIP/2.0") or head[0].startswith("ACK "):
            continue
        keep = []
        for line in head[1:]:
            name = line.split(":", 1)[0].strip().lower()
            if name in ("via", "v", "record-route", "from", "f", "call-id",
                        "i", "cseq"):
                keep.append(line)
            elif name in ("to", "t"):
                keep.append(line if ";tag=" in line else line + ";tag=probe%d" % n)
        body = ""
        if head[0].startswith("INVITE ") and "\r\n\r\nv=0" in text:
            ip = local.rsplit(":", 1)[0]
            body = ANSWER.format(ip=ip, port=30000 + 2 * (n % 10000))
        resp = ("SIP/2.0 200 OK\r\n" + "\r\n".join(keep) +
                "\r\nContact: <sip:probe@%s>\r\n" % local +
                ("Content-Type: application/sdp\r\n" if body else "") +
                "Content-Length: %d\r\n\r\n%s" % (len(body), body))
        sock.sendto(resp.encode(), src)
        n += 1
    print("answered=%d" % n)


SDP = ("v=0\r\no=probe 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n"
       "m=audio 40000 RTP/AVP 0 8 101\r\na=rtpmap:0 PCMU/8000\r\n"
       "a=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
       "a=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n")


ANSWER = ("v=0\r\no=answer 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\n"
          "m=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
          "a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-15\r\n"
          "a=ptime:20\r\na=sendrecv\r\n")


def headers(data):
    """(name lower-case, value) of each header line of a message."""
    out = []
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        if b":" in line:
            k, v = line.split(b":", 1)
            out.append((k.strip().lower().decode(), v.strip().decode()))
    return out


def split_list(v):
    """Split a header value at the commas between name-addrs."""
    out, depth, cur = [], 0, ""
    for ch in v:
        if ch == "<":
            depth += 1
        elif ch == ">":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur.strip())
    return out


def end_call(sock, to, ip, port, resp, cid, tag, i, timeout_s):
    """ACK the 200 and send a BYE along its route set; wait for the BYE's 200."""
    hs = headers(resp)
    rr = []
    for k, v in hs:
        if k == "record-route":
            rr += split_list(v)
    contact = next((v for k, v in hs if k in ("contact", "m")), None)
    to_hdr = next((v for k, v in hs if k in ("to", "t")), None)
    if contact is None or to_hdr is None:
        return False
    ruri = contact[contact.find("<") + 1:contact.find(">")] if "<" in contact else contact
    route = ("Route: %s\r\n" % ", ".join(reversed(rr))) if rr else ""
    for method, cseq in (("ACK", 1), ("BYE", 2)):
        msg = ("{m} {ruri} SIP/2.0\r\n"
               "Via: SIP/2.0/UDP {ip}:{port};branch=z9hG4bK-probe-{tag}-{i}-{m};rport\r\n"
               "{route}Max-Forwards: 70\r\n"
               "From: <sip:probe@pbx.lab.test>;tag={tag}\r\n"
               "To: {to}\r\nCall-ID: {cid}\r\nCSeq: {cseq} {m}\r\n"
               "Content-Length: 0\r\n\r\n").format(
                   m=method, ruri=ruri, ip=ip, port=port, tag=tag, i=i,
                   route=route, to=to_hdr, cid=cid, cseq=cseq).encode()
        sock.sendto(msg, to)
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        try:
            data = sock.recv(65535)
        except socket.timeout:
            break
        if cid.encode() in data and data.startswith(b"SIP/2.0 200") and b" BYE\r\n" in data:
            return True
    return False


def probe(args):
    ip, port = hostport(args.bind)
    to = hostport(args.to)
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((ip, port))
    sock.settimeout(args.timeout / 1000.0)
    tag = "%x" % os.getpid()
    rtts = []
    lost = 0
    unended = 0
    for i in range(args.count):
        cid = "probe-%s-%d@%s" % (tag, i, ip)
        branch = "z9hG4bK-probe-%s-%d" % (tag, i)
        body = SDP.format(ip=ip) if args.method == "INVITE" and not args.no_sdp else ""
        msg = ("{m} sip:bob@pbx.lab.test SIP/2.0\r\n"
               "Via: SIP/2.0/UDP {ip}:{port};branch={br};rport\r\n"
               "Max-Forwards: 70\r\n"
               "From: <sip:probe@pbx.lab.test>;tag={tag}\r\n"
               "To: <sip:bob@pbx.lab.test>\r\n"
               "Call-ID: {cid}\r\n"
               "CSeq: 1 {m}\r\n"
               "Contact: <sip:probe@{ip}:{port}>\r\n"
               "{ct}"
               "Content-Length: {cl}\r\n\r\n{body}").format(
                   m=args.method, ip=ip, port=port, br=branch, tag=tag, cid=cid,
                   ct="Content-Type: application/sdp\r\n" if body else "",
                   cl=len(body), body=body).encode()
        t0 = time.perf_counter_ns()
        sock.sendto(msg, to)
        got = None
        while True:
            try:
                data = sock.recv(65535)
            except socket.timeout:
                break
            if cid.encode() in data and data.startswith(b"SIP/2.0 200"):
                got = data
                break
        t1 = time.perf_counter_ns()
        if got is not None:
            rtts.append((t1 - t0) / 1000.0)
            if args.method == "INVITE" and not end_call(
                    sock, to, ip, port, got, cid, tag, i, args.timeout / 1000.0):
                unended += 1
        else:
            lost += 1
        time.sleep(args.gap / 1000.0)
    if not rtts:
        print("method=%s sent=%d ok=0 lost=%d" % (args.method, args.count, lost))
        return 1
    rtts.sort()
    q = lambda f: rtts[min(len(rtts) - 1, int(f * len(rtts)))]
    print("method=%s sent=%d ok=%d lost=%d bye_unanswered=%d min_us=%.1f "
          "median_us=%.1f p90_us=%.1f p99_us=%.1f" % (
              args.method, args.count, len(rtts), lost, unended, rtts[0],
              statistics.median(rtts), q(0.90), q(0.99)))
    return 0 if lost == 0 and unended == 0 else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("answer")
    a.add_argument("--bind", required=True)
    a.add_argument("--seconds", type=float, default=60)
    p = sub.add_parser("probe")
    p.add_argument("--bind", required=True)
    p.add_argument("--to", required=True)
    p.add_argument("--count", type=int, default=500)
    p.add_argument("--gap", type=float, default=2.0)
    p.add_argument("--method", default="OPTIONS", choices=["OPTIONS", "INVITE"])
    p.add_argument("--timeout", type=float, default=1000)
    p.add_argument("--no-sdp", action="store_true",
                   help="INVITE without an SDP offer (signalling only)")
    args = ap.parse_args()
    if args.cmd == "answer":
        if not 0 < args.seconds <= 600:
            ap.error("--seconds must be in (0, 600]")
        answer(args)
        return 0
    if not 0 < args.count <= 100000:
        ap.error("--count must be in 1..100000")
    return probe(args)


if __name__ == "__main__":
    sys.exit(main())
