#!/usr/bin/env python3
"""Media through a gateway pair, from captures (tshark): what the phones sent
arrived, byte for byte and in order, and nothing plain crossed the WAN.

usage:
  media_verdict.py gen FILE LABEL PACKETS
      write PACKETS distinct 160-byte payloads (raw PCMU, 20 ms each):
      payload i = SHA-256("LABEL:i:0") .. SHA-256("LABEL:i:4"), so every
      payload of every file is unique and reproducible.
  media_verdict.py check --phones CAP --wan CAP --plain CAP
                         --call KIND:CALLID:A_RAW:B_RAW [--call ...]
                         [--status FILE] [--a IP] [--b IP] [--gw-in IP]
                         [--far CAP --b-from IP] [--crossings N]
      KIND is "answer" (media after the 200) or "early" (B streams from its
      183 on).  Checks, per call and direction (A->B, B->A), on --phones (the
      phones' LAN):
        - the sender put its whole file on the wire, payload by payload;
        - what the other phone received (from the gateway) is that file's
          payloads in their order: a contiguous run (losses only at the
          start and the end), at least 90 % of what was sent;
        - early: B's packets sent before its 200 reached A before the 200 did.
      --far: phone B is not on the phones' LAN but on another one, captured
      in CAP, where it talks to --b-from (e.g. a media relay beside the
      PBX); A stays on --phones with the gateway --gw-in.
      On --wan: every UDP datagram is SRTP (or SRTCP): an RTP header whose
      (SSRC, seq, timestamp) is one of the phones' packets, 10 bytes longer
      than that plain packet (an 80-bit tag: AES_CM_128_HMAC_SHA1_80 or
      AES_256_CM_HMAC_SHA1_80), and not one plain payload -- nor any 16-byte
      piece of one -- inside it; each phone packet crosses the WAN
      --crossings times (default 2: the call crosses the pair twice) and no
      ciphertext repeats (one key per crossing).
      --plain is a capture where the relayed media is plain (gwb's inside
      legs): the same search must find the payloads there, or it proves
      nothing.  --status (gwa's `sipsgate status` after the calls): its
      media counters must equal what the captures saw (its inside from
      --phones: the phones' datagrams to --gw-in and back).
Prints a summary; exit 0 if everything holds, 1 otherwise."""
import argparse
import hashlib
import subprocess
import sys
from collections import defaultdict

PAYLOAD = 160
PIECE = 16
SRTP_TAG = 10       # AES_CM_128_HMAC_SHA1_80: 80-bit auth tag, no MKI


REORDER_OK = False

def gen(path, label, packets):
    with open(path, "wb") as f:
        for i in range(packets):
            f.write(payload_of(label, i))


def payload_of(label, i):
    return b"".join(hashlib.sha256(f"{label}:{i}:{k}".encode()).digest()
                    for k in range(5))[:PAYLOAD]


def chunks(path):
    data = open(path, "rb").read()
    return [data[i:i + PAYLOAD] for i in range(0, len(data), PAYLOAD)]


FIELDS = ["frame.number", "frame.time_epoch", "ip.src", "udp.srcport",
          "ip.dst", "udp.dstport", "udp.length", "udp.payload",
          "rtp.version", "rtp.ssrc", "rtp.seq", "rtp.timestamp", "rtp.p_type",
          "rtp.payload", "rtcp.pt"]


def datagrams(cap):
    """Every UDP datagram that is not SIP, as a dict of FIELDS."""
    cmd = ["tshark", "-r", cap, "-o", "rtp.heuristic_rtp:TRUE",
           "-o", "rtcp.heuristic_rtcp:TRUE", "-Y", "udp && !sip",
           "-T", "fields", "-E", "separator=\t", "-E", "occurrence=f"]
    for f in FIELDS:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True,
                         check=True).stdout
    res = []
    for line in out.splitlines():
        v = line.split("\t")
        v += [""] * (len(FIELDS) - len(v))
        d = dict(zip(FIELDS, v))
        d["time"] = float(d["frame.time_epoch"])
        d["udp"] = bytes.fromhex(d["udp.payload"].replace(":", ""))
        d["rtp"] = bytes.fromhex(d["rtp.payload"].replace(":", ""))
        d["len"] = int(d["udp.length"])
        res.append(d)
    return res


def sip_times(cap, callid, status, dst):
    """Times at which responses STATUS to the INVITE of CALLID reached DST."""
    out = subprocess.run(
        ["tshark", "-r", cap, "-Y",
         f'sip.Status-Code == {status} && sip.CSeq.method == "INVITE"'
         f' && sip.Call-ID == "{callid}" && ip.dst == {dst}',
         "-T", "fields", "-e", "frame.time_epoch"],
        capture_output=True, text=True, check=True).stdout
    return [float(t) for t in out.split()]


def sip_times_from(cap, callid, status, src):
    out = subprocess.run(
        ["tshark", "-r", cap, "-Y",
         f'sip.Status-Code == {status} && sip.CSeq.method == "INVITE"'
         f' && sip.Call-ID == "{callid}" && ip.src == {src}',
         "-T", "fields", "-e", "frame.time_epoch"],
        capture_output=True, text=True, check=True).stdout
    return [float(t) for t in out.split()]


class Verdict:
    def __init__(self):
        self.bad = []

    def need(self, ok, what):
        if not ok:
            self.bad.append(what)
            print("  FAIL:", what)
        return ok


def hkey(d):
    return (d["rtp.ssrc"], d["rtp.seq"], d["rtp.timestamp"])


def check(args):
    v = Verdict()
    lan = datagrams(args.phones)
    far = datagrams(args.far) if args.far else None
    wan = datagrams(args.wan)
    plaincap = datagrams(args.plain)
    calls = []
    for spec in args.call:
        kind, callid, fa, fb = spec.split(":")
        calls.append((kind, callid, chunks(fa), chunks(fb)))
    # payload -> (call, who, index); every payload is unique by construction
    index = {}
    for c, (_, _, pa, pb) in enumerate(calls):
        for who, pl in (("A", pa), ("B", pb)):
            for i, p in enumerate(pl):
                assert p not in index, "payload files are not distinct"
                index[p] = (c, who, i)
    ip = {"A": args.a, "B": args.b}
    cap_of = {"A": lan, "B": far if far is not None else lan}
    capfile = {"A": args.phones, "B": args.far or args.phones}
    relay = {"A": args.gw_in, "B": args.b_from or args.gw_in}
    other = {"A": "B", "B": "A"}
    stats = defaultdict(int)
    plain_len = {}      # RTP header key -> plain udp.length (phones' LAN)

    print(f"phones' LAN ({args.phones}): {len(lan)} non-SIP datagrams")
    if far is not None:
        print(f"B's LAN ({args.far}): {len(far)} non-SIP datagrams")
    for d in lan + (far or []):
        if d["rtp.version"] == "2":
            plain_len[hkey(d)] = d["len"]
    from_phone = {w: [d for d in cap_of[w] if d["ip.src"] == ip[w]]
                  for w in ip}
    to_phone = {w: [d for d in cap_of[w] if d["ip.dst"] == ip[w]
                    and d["ip.src"] == relay[w]] for w in ip}
    # the gateway's inside: the phones' datagrams to it and back
    phones = (args.a, args.b)
    stats["lan_from_phones"] = sum(1 for d in lan if d["ip.src"] in phones
                                   and d["ip.dst"] == args.gw_in)
    stats["lan_to_phones"] = sum(1 for d in lan if d["ip.dst"] in phones
                                 and d["ip.src"] == args.gw_in)
    for w in ip:
        unknown = [d for d in to_phone[w] if d["rtp"] not in index]
        v.need(not unknown, f"{w} received {len(unknown)} datagrams that "
               "carry none of the payloads sent (first: frame "
               f"{unknown[0]['frame.number'] if unknown else '-'})")
    for c, (kind, callid, pa, pb) in enumerate(calls):
        files = {"A": pa, "B": pb}
        print(f"call {c + 1} ({kind}, Call-ID {callid}):")
        t200_at_a = sip_times(args.phones, callid, 200, args.a)
        t200_from_b = sip_times_from(capfile["B"], callid, 200, args.b)
        t183_at_a = sip_times(args.phones, callid, 183, args.a)
        for who in ("A", "B"):
            peer = other[who]
            sent = [d for d in from_phone[who]
                    if index.get(d["rtp"], (None,))[:2] == (c, who)]
            sidx = [index[d["rtp"]][2] for d in sent]
            v.need(sidx == list(range(len(files[who]))),
                   f"call {c + 1}: {who} sent {len(sidx)} of its "
                   f"{len(files[who])} payloads (or out of order)")
            by_payload = {d["rtp"]: d for d in sent}
            recv = [d for d in to_phone[peer]
                    if index.get(d["rtp"], (None,))[0] == c]
            ridx = [index[d["rtp"]][2] for d in recv
                    if index[d["rtp"]][1] == who]
            wrong = len(recv) - len(ridx)   # its own payloads came back
            # With a third-party relay in the path (--reorder-ok) the order
            # may change; every payload must still arrive once, no gaps.
            got = sorted(ridx) if REORDER_OK else ridx
            contiguous = bool(ridx) and \
                got == list(range(got[0], got[0] + len(got)))
            reordered = sum(1 for i in range(1, len(ridx))
                            if ridx[i] < ridx[i - 1])
            if reordered:
                print(f"  {who}->{peer}: {reordered} packets arrived out of"
                      f" order{' (allowed: --reorder-ok)' if REORDER_OK else ''}")
            same_hdr = sum(
                1 for d in recv if d["rtp"] in by_payload and
                (d["rtp.ssrc"], d["rtp.seq"], d["rtp.timestamp"]) ==
                hkey(by_payload[d["rtp"]]))
            lens = sorted(set(d["len"] for d in sent))
            print(f"  {who}->{peer}: sent {len(sent)} (udp.length {lens}),"
                  f" {peer} received {len(ridx)} of them; in order and "
                  f"contiguous: {contiguous} (payloads "
                  f"#{ridx[0] if ridx else '-'}..#{ridx[-1] if ridx else '-'}"
                  f"), RTP header (SSRC, seq, timestamp) unchanged: "
                  f"{same_hdr}")
            v.need(wrong == 0, f"call {c + 1}: {peer} received {wrong} of "
                   "its own payloads back")
            v.need(contiguous, f"call {c + 1}: {who}->{peer}: the delivered "
                   "payloads are not an in-order run of the sent ones")
            v.need(len(sent) > 0 and len(ridx) >= 0.9 * len(sent),
                   f"call {c + 1}: {who}->{peer}: {len(ridx)} of "
                   f"{len(sent)} delivered (< 90 %)")
            if kind == "early" and who == "B":
                ok = v.need(len(t183_at_a) > 0 and len(t200_at_a) > 0 and
                            len(t200_from_b) > 0,
                            f"call {c + 1}: no 183/200 to A or 200 from B "
                            "in the capture")
                if ok:
                    before = [d for d in sent if d["time"] < t200_from_b[0]]
                    early = [d for d in recv if d["time"] < t200_at_a[0]]
                    print(f"  early media: the 183 reached A "
                          f"{t200_at_a[0] - t183_at_a[0]:.3f} s before the "
                          f"200; B sent {len(before)} packets before its 200,"
                          f" A received {len(early)} of B's before the 200 "
                          "reached it")
                    v.need(len(before) > 0 and
                           len(early) >= 0.9 * len(before),
                           f"call {c + 1}: early media: A received "
                           f"{len(early)} of B's {len(before)} pre-200 packets")
            if kind == "early" and who == "A" and t200_at_a and sent:
                v.need(sent[0]["time"] > t200_at_a[0],
                       f"call {c + 1}: A streamed before the 200")

    # The WAN: SRTP only.
    plain = set(index)
    pieces = set()
    for p in plain:
        for k in range(0, PAYLOAD, PIECE):
            pieces.add(p[k:k + PIECE])

    def leaks(d):
        u = d["udp"]
        full = sum(1 for k in range(len(u) - PAYLOAD + 1)
                   if u[k:k + PAYLOAD] in plain)
        part = sum(1 for k in range(len(u) - PIECE + 1)
                   if u[k:k + PIECE] in pieces)
        return full, part

    print(f"WAN ({args.wan}): {len(wan)} UDP datagrams")
    wl = defaultdict(int)
    srtp = srtcp = other_dg = full_hits = piece_hits = 0
    unmatched = wrong_len = 0
    by_hdr = defaultdict(list)
    for d in wan:
        full, part = leaks(d)
        full_hits += full
        piece_hits += part
        wl[d["len"]] += 1
        if d["rtcp.pt"] and not d["rtp.version"]:
            # SRTCP: RTCP header, encrypted rest, E|index (E set), 10-byte tag
            u = d["udp"]
            if len(u) >= 8 + 4 + SRTP_TAG and u[-SRTP_TAG - 4] & 0x80:
                srtcp += 1
            else:
                other_dg += 1
                v.need(False, f"WAN frame {d['frame.number']}: RTCP that is "
                       "not SRTCP (E flag clear or too short)")
            continue
        if d["rtp.version"] != "2":
            other_dg += 1
            v.need(False, f"WAN frame {d['frame.number']}: a datagram that "
                   "is neither SRTP nor SRTCP")
            continue
        srtp += 1
        by_hdr[hkey(d)].append(d["rtp"])
        pl = plain_len.get(hkey(d))
        if pl is None:
            unmatched += 1
        elif d["len"] != pl + SRTP_TAG:
            wrong_len += 1
    # Through the pair the call crosses it twice: each phone packet crosses
    # the WAN twice (once per crossing), under two keys, so no ciphertext
    # repeats.  A single gateway facing a media relay: once.
    n_x = args.crossings
    sent_keys = defaultdict(int)
    for w in ip:
        for d in from_phone[w]:
            if d["rtp.version"] == "2":
                sent_keys[hkey(d)] += 1
    twice = sum(n for h, n in sent_keys.items()
                if len(by_hdr.get(h, ())) == n_x * n)
    cts = [c for cs in by_hdr.values() for c in cs]
    repeated = len(cts) - len(set(cts))
    times = {1: "once", 2: "twice"}.get(n_x, f"{n_x} times")
    print(f"  SRTP {srtp}, SRTCP {srtcp}, other {other_dg}; udp.length "
          f"{dict(sorted(wl.items()))}")
    print(f"  phone packets that crossed the WAN exactly {times}: {twice} of "
          f"{sum(sent_keys.values())}; ciphertexts seen more than once: "
          f"{repeated}")
    v.need(srtp > 0, "no SRTP on the WAN")
    v.need(full_hits == 0 and piece_hits == 0, "plain payload on the WAN")
    v.need(unmatched == 0, f"{unmatched} WAN RTP packets match no phone packet")
    v.need(wrong_len == 0, f"{wrong_len} WAN packets are not plain + "
           f"{SRTP_TAG} bytes")
    v.need(twice >= 0.9 * sum(sent_keys.values()),
           f"fewer than 90 % of the phone packets crossed the WAN {times}")
    v.need(repeated == 0, f"{repeated} WAN ciphertexts repeat (one key for "
           "both crossings, or replayed packets?)")
    stats["wan_srtp"] = srtp

    # The detector must see plain media where it is plain.
    ph = sum(leaks(d)[0] for d in plaincap)
    print(f"plain relay legs ({args.plain}): {len(plaincap)} datagrams, "
          f"{ph} plain payloads found by the same search")
    v.need(ph >= 0.9 * sum(len(a) + len(b) for _, _, a, b in calls),
           "the plain-payload search does not find the payloads on the "
           "plain legs: it proves nothing")

    if args.status:
        st = {}
        for line in open(args.status):
            f = line.split()
            if len(f) == 2 and f[1].isdigit():
                st.setdefault(f[0], int(f[1]))
        from_gwa = sum(1 for d in wan if d["ip.src"] == args.gwa_wan)
        to_gwa = len(wan) - from_gwa
        want = {"rtp_in_inside": stats["lan_from_phones"],
                "rtp_out_inside": stats["lan_to_phones"],
                "srtp_out_outside": from_gwa,
                "srtp_in_outside": to_gwa,
                "srtp_auth_fail": 0, "srtp_replay": 0}
        print("gwa's counters vs the captures: " + ", ".join(
            f"{k} {st.get(k)}/{w}" for k, w in want.items()))
        for k, w in want.items():
            v.need(st.get(k) == w, f"gwa {k} = {st.get(k)}, the captures "
                   f"say {w}")

    print("verdict:", "media OK" if not v.bad else f"{len(v.bad)} failures")
    return 0 if not v.bad else 1


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "gen":
        gen(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return 0
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["check"])
    ap.add_argument("--phones", required=True)
    ap.add_argument("--wan", required=True)
    ap.add_argument("--plain", required=True)
    ap.add_argument("--call", action="append", required=True)
    ap.add_argument("--status")
    ap.add_argument("--a", default="198.18.1.10")
    ap.add_argument("--b", default="198.18.1.11")
    ap.add_argument("--gw-in", default="198.18.1.1")
    ap.add_argument("--gwa-wan", default="198.18.2.1")
    ap.add_argument("--far")
    ap.add_argument("--b-from")
    ap.add_argument("--crossings", type=int, default=2)
    ap.add_argument("--reorder-ok", action="store_true",
                    help="a third-party relay is in the path: order may change")
    args = ap.parse_args()
    global REORDER_OK
    REORDER_OK = args.reorder_ok
    return check(args)


if __name__ == "__main__":
    sys.exit(main())
