#!/usr/bin/env python3
"""An attacker on a network next to a sipsgate relay (tests only).

usage:
  rtp_attack.py --bind IP --to IP --ports LO-HI --rate PPS --seconds S
                --out JSON [--kinds rtp,random] [--label L] [--socks N]
                [--replay-iface IF --replay-from IP [--replay-every K]]

Sprays every port LO..HI of --to (RTP and RTCP ports alike) round-robin at
--rate datagrams a second for --seconds, from --socks UDP sockets bound on
--bind:
  rtp     a well-formed RTP packet (V=2, PT 0, 160-byte payload that starts
          with b"SGATTACK" + the label and a counter: findable in captures);
  random  random bytes of RTP size.
With --replay-iface it also sniffs (AF_PACKET) the UDP datagrams that
--replay-from sends to --to on those ports (genuine SRTP) and sends every
K-th one again, twice: once from its own socket and once with the source
address and port forged to be --replay-from's (a raw socket), i.e. the
exact packet again from where it came.
Every datagram that arrives on its own sockets is counted: a relay that
fails closed sends it nothing.  Writes JSON: sent per kind, received,
received_from (the first few sources)."""
import argparse
import json
import os
import random
import select
import socket
import struct
import threading
import time

MARK = b"SGATTACK"


def rtp_packet(label, n, ssrc):
    body = MARK + label + b":%d:" % n
    body = body + b"\x00" * (160 - len(body))
    return struct.pack("!BBHII", 0x80, 0, n & 0xffff, (n * 160) & 0xffffffff,
                       ssrc) + body[:160]


def ip_udp(src, sport, dst, dport, payload):
    """An IPv4 + UDP datagram (UDP checksum 0: allowed for IPv4; the kernel
    fills the IP checksum and id for IPPROTO_RAW)."""
    ulen = 8 + len(payload)
    udp = struct.pack("!HHHH", sport, dport, ulen, 0)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + ulen, 0, 0, 64, 17, 0,
                     socket.inet_aton(src), socket.inet_aton(dst))
    return ip + udp + payload


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bind", required=True)
    ap.add_argument("--to", required=True)
    ap.add_argument("--ports", required=True)
    ap.add_argument("--rate", type=float, default=1000)
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--out", required=True)
    ap.add_argument("--kinds", default="rtp")
    ap.add_argument("--label", default="x")
    ap.add_argument("--socks", type=int, default=4)
    ap.add_argument("--replay-iface")
    ap.add_argument("--replay-from")
    ap.add_argument("--replay-every", type=int, default=3)
    a = ap.parse_args()
    lo, hi = (int(x) for x in a.ports.split("-"))
    ports = list(range(lo, hi + 1))
    kinds = a.kinds.split(",") if a.kinds else []
    label = a.label.encode()
    socks = []
    for _ in range(a.socks):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((a.bind, 0))
        s.setblocking(False)
        socks.append(s)
    sent = {k: 0 for k in kinds}
    sent.update(replay_own=0, replay_forged=0, replay_seen=0, send_errors=0)
    received, received_from = [0], []
    stop = threading.Event()
    lock = threading.Lock()

    def receiver():
        while not stop.is_set():
            r, _, _ = select.select(socks, [], [], 0.1)
            for s in r:
                try:
                    _, src = s.recvfrom(4096)
                except OSError:
                    continue	# ICMP port unreachable, reported as an error
                received[0] += 1
                if len(received_from) < 5:
                    received_from.append(f"{src[0]}:{src[1]}")

    def replayer():
        # ETH_P_ALL: a tap bound to ETH_P_IP sees only what arrives, and
        # the genuine packets leave this host.
        ps = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM,
                           socket.htons(0x0003))
        ps.bind((a.replay_iface, 0x0003))
        ps.settimeout(0.1)
        raw = socket.socket(socket.AF_INET, socket.SOCK_RAW,
                            socket.IPPROTO_RAW)
        want_src = socket.inet_aton(a.replay_from)
        want_dst = socket.inet_aton(a.to)
        done, n = set(), 0
        while not stop.is_set():
            try:
                pkt, where = ps.recvfrom(65536)
            except socket.timeout:
                continue
            if where[1] != 0x0800 or len(pkt) < 28 or pkt[9] != 17 or pkt[12:16] != want_src or \
                    pkt[16:20] != want_dst:
                continue
            ihl = (pkt[0] & 0x0f) * 4
            sport, dport = struct.unpack("!HH", pkt[ihl:ihl + 4])
            payload = pkt[ihl + 8:]
            if not lo <= dport <= hi or payload in done:
                continue
            done.add(payload)	# our own copies come by here too
            n += 1
            if n % a.replay_every:
                continue
            with lock:
                sent["replay_seen"] += 1
                try:
                    socks[0].sendto(payload, (a.to, dport))
                    sent["replay_own"] += 1
                    raw.sendto(ip_udp(a.replay_from, sport, a.to, dport,
                                      payload), (a.to, 0))
                    sent["replay_forged"] += 1
                except OSError:
                    sent["send_errors"] += 1

    threads = [threading.Thread(target=receiver, daemon=True)]
    if a.replay_iface:
        threads.append(threading.Thread(target=replayer, daemon=True))
    for t in threads:
        t.start()
    ssrc = random.getrandbits(32)
    t0 = time.time()
    n = 0
    while kinds and time.time() - t0 < a.seconds:
        due = int((time.time() - t0) * a.rate)
        while n < due:
            kind = kinds[n % len(kinds)]
            port = ports[(n // len(kinds)) % len(ports)]
            data = rtp_packet(label, n, ssrc) if kind == "rtp" else \
                os.urandom(172)
            with lock:
                try:
                    socks[n % len(socks)].sendto(data, (a.to, port))
                    sent[kind] += 1
                except OSError:
                    sent["send_errors"] += 1	# an ICMP error came back
            n += 1
        time.sleep(0.005)
    if not kinds:
        time.sleep(a.seconds)
    time.sleep(0.5)		# what the relay might still send back
    stop.set()
    for t in threads:
        t.join(1)
    res = dict(sent=sent, received=received[0], received_from=received_from,
               seconds=round(time.time() - t0, 1))
    with open(a.out, "w") as f:
        json.dump(res, f)
    print(json.dumps(res))


if __name__ == "__main__":
    main()
