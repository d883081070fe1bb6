#!/usr/bin/env python3
"""A SIP caller over one TLS connection that never retransmits (RFC 3261
§17.1.1.2: timers A and E do not run on a reliable transport), for the loss
tests (test_lab_loss_tls.sh). Per call: INVITE (no SDP) -> final; on a 2xx
an ACK along the Record-Route set (and the same ACK again for every
retransmitted 2xx, §13.2.2.4), HOLD seconds, BYE -> final. A call is
complete when the INVITE and the BYE both got a 2xx. Calls start at RATE
per second, up to CALLS. Prints one JSON object with the outcome.

  tls_caller.py --connect 198.18.2.2:5061 --name gw-b.lab.test \
      --cert C --key K --ca CA --calls 1000 --rate 25 --hold 0.3 \
      --ruri sip:bob@pbx.lab.test [--wait 30]
"""
import argparse
import asyncio
import json
import os
import re
import ssl
import sys
import time


def parse(data):
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    hdrs = []
    for ln in lines[1:]:
        n, _, v = ln.partition(":")
        hdrs.append((n.strip().lower(), v.strip()))
    return lines[0], hdrs, body


def hget(hdrs, name, compact=None):
    for n, v in hdrs:
        if n == name or (compact and n == compact):
            return v
    return None


def hall(hdrs, name):
    out = []
    for n, v in hdrs:
        if n == name:
            out += [x.strip() for x in re.split(r",(?=\s*<)", v)]
    return out


class Caller:
    def __init__(self, a):
        self.a = a
        self.calls = {}           # Call-ID -> state dict
        self.stats = {"started": 0, "complete": 0, "invite_fail": {},
                      "bye_fail": {}, "invite_timeout": 0, "bye_timeout": 0,
                      "retransmitted_2xx": 0, "provisional": 0,
                      "invite_ms": []}
        self.branch = 0

    def next_branch(self):
        self.branch += 1
        return "z9hG4bK-tc%d-%d" % (os.getpid(), self.branch)

    def build(self, start, hdrs):
        s = start + "\r\n" + "".join("%s: %s\r\n" % h for h in hdrs)
        return (s + "Content-Length: 0\r\n\r\n").encode("latin-1")

    async def reader(self):
        buf = b""
        while True:
            while buf.startswith(b"\r\n"):
                buf = buf[2:]
            end = buf.find(b"\r\n\r\n")
            if end >= 0:
                m = re.search(rb"(?im)^(?:content-length|l)\s*:\s*(\d+)", buf[:end])
                n = int(m.group(1)) if m else 0
                if len(buf) >= end + 4 + n:
                    msg, buf = buf[:end + 4 + n], buf[end + 4 + n:]
                    self.on_msg(msg)
                    continue
            chunk = await self.r.read(65536)
            if not chunk:
                return
            buf += chunk

    def on_msg(self, data):
        start, hdrs, _ = parse(data)
        if not start.startswith("SIP/2.0 "):
            return              # no requests come to this caller
        code = int(start.split()[1])
        cid = hget(hdrs, "call-id", "i")
        c = self.calls.get(cid)
        if c is None:
            return
        cseq = hget(hdrs, "cseq").split()
        if 100 <= code < 200:
            self.stats["provisional"] += 1
            return
        if cseq[1] == "INVITE":
            if c["inv_final"] is None:
                c["inv_final"] = (code, start, hdrs)
                c["inv_ev"].set()
            elif 200 <= code < 300 and c.get("ack"):
                # §13.2.2.4: every 2xx retransmission gets the ACK again.
                self.stats["retransmitted_2xx"] += 1
                self.w.write(c["ack"])
        elif cseq[1] == "BYE" and c["bye_final"] is None:
            c["bye_final"] = (code, start)
            c["bye_ev"].set()

    async def call(self, i):
        a = self.a
        cid = "tc-%d-%d-%d" % (os.getpid(), int(time.time()), i)
        ftag = "f%d" % i
        via = "SIP/2.0/TLS %s:%d;branch=%%s;alias" % self.local
        c = {"inv_final": None, "bye_final": None, "inv_ev": asyncio.Event(),
             "bye_ev": asyncio.Event()}
        self.calls[cid] = c
        self.stats["started"] += 1
        common = [("From", "<sip:alice@pbx.lab.test>;tag=" + ftag),
                  ("Call-ID", cid)]
        t0 = time.time()
        inv_via = via % self.next_branch()
        self.w.write(self.build("INVITE %s SIP/2.0" % a.ruri, [
            ("Via", inv_via), ("Max-Forwards", "70")] + common + [
            ("To", "<%s>" % a.ruri), ("CSeq", "1 INVITE"),
            ("Contact", "<sip:alice@%s:%d;transport=tls>" % self.local)]))
        try:
            await asyncio.wait_for(c["inv_ev"].wait(), a.wait)
        except asyncio.TimeoutError:
            self.stats["invite_timeout"] += 1
            return
        code, _, hdrs = c["inv_final"]
        self.stats["invite_ms"].append((time.time() - t0) * 1000)
        to = hget(hdrs, "to", "t")
        if code >= 300:
            k = str(code)
            self.stats["invite_fail"][k] = self.stats["invite_fail"].get(k, 0) + 1
            # §17.1.1.3: the ACK for a non-2xx final, the INVITE's branch.
            self.w.write(self.build("ACK %s SIP/2.0" % a.ruri, [
                ("Via", inv_via), ("Max-Forwards", "70")] + common + [
                ("To", to), ("CSeq", "1 ACK")]))
            return
        contact = hget(hdrs, "contact", "m")
        target = re.search(r"<([^>]+)>", contact).group(1) if contact else a.ruri
        routes = list(reversed(hall(hdrs, "record-route")))
        rh = [("Route", ", ".join(routes))] if routes else []
        c["ack"] = self.build("ACK %s SIP/2.0" % target, [
            ("Via", via % self.next_branch()), ("Max-Forwards", "70")] + rh +
            common + [("To", to), ("CSeq", "1 ACK")])
        self.w.write(c["ack"])
        await asyncio.sleep(a.hold)
        self.w.write(self.build("BYE %s SIP/2.0" % target, [
            ("Via", via % self.next_branch()), ("Max-Forwards", "70")] + rh +
            common + [("To", to), ("CSeq", "2 BYE")]))
        try:
            await asyncio.wait_for(c["bye_ev"].wait(), a.wait)
        except asyncio.TimeoutError:
            self.stats["bye_timeout"] += 1
            return
        code = c["bye_final"][0]
        if code >= 300:
            k = str(code)
            self.stats["bye_fail"][k] = self.stats["bye_fail"].get(k, 0) + 1
            return
        self.stats["complete"] += 1

    async def run(self):
        a = self.a
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_cert_chain(a.cert, a.key)
        ctx.load_verify_locations(a.ca)
        host, port = a.connect.rsplit(":", 1)
        self.r, self.w = await asyncio.open_connection(
            host, int(port), ssl=ctx, server_hostname=a.name)
        self.local = self.w.get_extra_info("sockname")[:2]
        rd = asyncio.ensure_future(self.reader())
        tasks = []
        t0 = time.time()
        for i in range(a.calls):
            delay = t0 + i / a.rate - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.ensure_future(self.call(i)))
        await asyncio.gather(*tasks)
        self.stats["seconds"] = round(time.time() - t0, 1)
        rd.cancel()
        self.w.close()
        ms = sorted(self.stats.pop("invite_ms"))
        if ms:
            self.stats["invite_ms_p50"] = round(ms[len(ms) // 2], 1)
            self.stats["invite_ms_p99"] = round(ms[int(len(ms) * 0.99)], 1)
            self.stats["invite_ms_max"] = round(ms[-1], 1)
        print(json.dumps(self.stats, sort_keys=True))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--connect", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--ca", required=True)
    p.add_argument("--calls", type=int, default=1000)
    p.add_argument("--rate", type=float, default=25)
    p.add_argument("--hold", type=float, default=0.3)
    p.add_argument("--wait", type=float, default=30)
    p.add_argument("--ruri", default="sip:bob@pbx.lab.test")
    a = p.parse_args()
    asyncio.run(Caller(a).run())
    sys.exit(0)


if __name__ == "__main__":
    main()
