#!/usr/bin/env python3
"""Audio through the gateway to and from a real phone (baresip), from
captures and the phone's own audio dumps.

The phone's G.711 is libre's: baresip's g711 module encodes with
g711_pcm2ulaw() (re_g711.h: |x| < 4 -> 0xff, else g711_l2u[(|x| - 4) >> 3],
sign by mask) and decodes with g711_u2l[]; the tables are read from the
installed librem.so.0, so the expected bytes are exactly what the phone
makes.  (Python's audioop rounds differently: 1 in 3 bytes differ.)

usage:
  audio_verdict.py wav FILE SECONDS F0 F1 [AMPLITUDE]
      an 8 kHz mono S16 WAV: a linear chirp from F0 to F1 Hz (non-periodic,
      so every 20 ms frame of it is unique and a stream of them can only
      match at one place).
  audio_verdict.py ulaw WAV RAW
      WAV -> raw PCMU bytes with libre's encoder (a sipp rtp_stream file).
  audio_verdict.py check --label L --lan CAP --wan CAP
                         --to-ua A_RAW:DEC_WAV --from-ua UA_WAV:ENC_WAV
                         --ua-stats TX:RX [--status-before F --status-after F]
                         [--phone IP] [--gw-in IP] [--gw-wan IP] [--ua IP]
      One call between phone A (sipp on the LAN, plain RTP) and the UA
      (baresip on the WAN, SRTP), captured on A's LAN and on the WAN during
      that call only.  A streamed A_RAW (160-byte PCMU payloads); the UA's
      source was UA_WAV; DEC_WAV and ENC_WAV are the UA's sndfile dumps of
      what it decoded and what it encoded; TX:RX are the RTP packet counts
      the UA printed at hangup.  Checks:
        A -> UA: A sent all of A_RAW, in order; what the UA decoded is the
          G.711 decoding of A_RAW, sample for sample, a contiguous run of
          >= 90 % of it; the UA counted as received every SRTP packet gwa
          sent it;
        UA -> A: the UA encoded UA_WAV from its start; what A received from
          gwa is libre's PCMU of UA_WAV, byte for byte, in order, RTP seq
          contiguous, >= 90 % of what the UA sent, and not silence;
        WAN: every UDP datagram is between gwa and the UA, SRTP (an RTP
          header, 160 + 12 + 10 bytes: AES_CM_128_HMAC_SHA1_80's 80-bit tag)
          or SRTCP (E flag); gwa sent the UA one SRTP packet per RTP packet
          A sent, the UA's packets all crossed; no 16-byte piece of any
          plain payload of the call (either way) appears in any frame of
          the capture (TLS and ICMP included), while the same search finds
          them in the LAN capture;
        gwa's counters (status after minus before) equal the captures:
          rtp_in_inside, rtp_out_inside, srtp_out_outside, and
          srtp_in_outside up to what the UA sent after the last packet gwa
          relayed (it raced the hangup); srtp_replay did not move;
          srtp_auth_fail + srtcp_plain_dropped only for the UA's own plain
          RTCP.
  audio_verdict.py wan CAP --plain RAW|WAV [--plain ...] [--gw-wan IP]
                       [--ua IP]
      The whole run's WAN capture: the same datagram and leak checks
      without the per-call counts.
Prints a summary; exit 0 if everything holds, 1 otherwise."""
import argparse
import ctypes
import math
import struct
import subprocess
import sys
import tempfile
import wave

FRAME = 160             # samples = PCMU bytes per 20 ms packet
RTP_HDR = 12
SRTP_TAG = 10           # AES_CM_128_HMAC_SHA1_80
PIECE = 16

_rem = None


def libre_tables():
    global _rem
    if _rem is None:
        lib = ctypes.CDLL("librem.so.0")
        l2u = bytes((ctypes.c_uint8 * 4096).in_dll(lib, "g711_l2u"))
        u2l = list((ctypes.c_int16 * 256).in_dll(lib, "g711_u2l"))
        _rem = (l2u, u2l)
    return _rem


def pcm2ulaw(samples):
    l2u, _ = libre_tables()
    out = bytearray(len(samples))
    for i, s in enumerate(samples):
        mask = 0x7f if s < 0 else 0xff
        s = -s if s < 0 else s
        if s > 32767:
            s = 32767
        out[i] = (0xff & mask) if s < 4 else (l2u[(s - 4) >> 3] & mask)
    return bytes(out)


def ulaw2pcm(data):
    _, u2l = libre_tables()
    return [u2l[b] for b in data]


def read_wav(path):
    w = wave.open(path, "rb")
    if (w.getnchannels(), w.getsampwidth(), w.getframerate()) != (1, 2, 8000):
        sys.exit(f"{path}: not 8 kHz mono S16")
    raw = w.readframes(w.getnframes())
    w.close()
    return list(struct.unpack(f"<{len(raw) // 2}h", raw))


def write_wav(path, samples):
    w = wave.open(path, "wb")
    w.setnchannels(1)
    w.setsampwidth(2)
    w.setframerate(8000)
    w.writeframes(struct.pack(f"<{len(samples)}h", *samples))
    w.close()


def chirp(seconds, f0, f1, amp):
    n = int(seconds * 8000)
    k = (f1 - f0) / seconds
    return [int(amp * math.sin(2 * math.pi * (f0 * t + k * t * t / 2)))
            for t in (i / 8000 for i in range(n))]


def rms(samples):
    return math.sqrt(sum(s * s for s in samples) / len(samples)) \
        if samples else 0.0


def udp_datagrams(cap):
    """Every UDP datagram that is not SIP and not inside ICMP."""
    fields = ["frame.number", "ip.src", "udp.srcport", "ip.dst",
              "udp.dstport", "udp.payload", "rtp.version", "rtp.ssrc",
              "rtp.seq", "rtp.timestamp", "rtp.payload", "rtcp.pt"]
    cmd = ["tshark", "-r", cap, "-o", "rtp.heuristic_rtp:TRUE",
           "-o", "rtcp.heuristic_rtcp:TRUE", "-Y", "udp && !sip && !icmp",
           "-T", "fields", "-E", "separator=\t", "-E", "occurrence=f"]
    for f in fields:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True,
                         check=True).stdout
    res = []
    for line in out.splitlines():
        v = line.split("\t")
        v += [""] * (len(fields) - len(v))
        d = dict(zip(fields, v))
        d["udp"] = bytes.fromhex(d["udp.payload"].replace(":", ""))
        d["rtp"] = bytes.fromhex(d["rtp.payload"].replace(":", ""))
        res.append(d)
    return res


def frames_raw(cap):
    """The raw bytes of every frame (tshark converts to classic pcap)."""
    with tempfile.NamedTemporaryFile(suffix=".pcap") as t:
        subprocess.run(["tshark", "-r", cap, "-F", "pcap", "-w", t.name],
                       check=True, capture_output=True)
        data = open(t.name, "rb").read()
    if len(data) < 24:
        return []
    magic = struct.unpack("<I", data[:4])[0]
    e = "<" if magic in (0xa1b2c3d4, 0xa1b23c4d) else ">"
    pos, res = 24, []
    while pos + 16 <= len(data):
        _, _, incl, _ = struct.unpack(e + "IIII", data[pos:pos + 16])
        res.append(data[pos + 16:pos + 16 + incl])
        pos += 16 + incl
    return res


class Verdict:
    def __init__(self, label):
        self.label = label
        self.bad = []

    def need(self, ok, what):
        if not ok:
            self.bad.append(what)
            print(f"  FAIL ({self.label}):", what)
        return ok


def pieces_of(payloads):
    s = set()
    for p in payloads:
        for k in range(0, len(p) - PIECE + 1, PIECE):
            s.add(p[k:k + PIECE])
    return s


def leak_count(frames, pieces):
    hits = 0
    for f in frames:
        for k in range(len(f) - PIECE + 1):
            if f[k:k + PIECE] in pieces:
                hits += 1
                break
    return hits


def plain_rtcp(u):
    """A plain RTCP compound packet: version-2 headers whose lengths add up
    to the datagram exactly (SRTCP's encrypted part and its trailer do
    not)."""
    pos = 0
    while pos + 4 <= len(u):
        if u[pos] >> 6 != 2 or not 200 <= u[pos + 1] <= 207:
            return False
        pos += (int.from_bytes(u[pos + 2:pos + 4], "big") + 1) * 4
    return pos == len(u)


def wan_check(v, cap, plains, gw_wan, ua):
    """Every UDP datagram between gwa and the UA is SRTP/SRTCP, except the
    UA's own plain RTCP (baresip 1.0.0 sends an RTCP APP "PING"/"PONG" in
    clear when its RTCP starts, beside the SRTCP one, and an RTCP BYE + SDES
    in clear at hangup); no plain audio in any frame.  Returns the
    datagrams by direction, each with "kind" srtp, srtcp or ua-plain-rtcp."""
    dg = udp_datagrams(cap)
    to_ua, from_ua = [], []
    kinds = {"srtp": 0, "srtcp": 0, "ua-plain-rtcp": 0}
    for d in dg:
        pair = (d["ip.src"], d["ip.dst"])
        if pair == (gw_wan, ua):
            to_ua.append(d)
        elif pair == (ua, gw_wan):
            from_ua.append(d)
        else:
            v.need(False, f"WAN frame {d['frame.number']}: UDP "
                   f"{pair[0]} -> {pair[1]}, not between gwa and the UA")
            continue
        u = d["udp"]
        if d["rtp.version"] == "2" and len(u) == RTP_HDR + FRAME + SRTP_TAG:
            d["kind"] = "srtp"
        elif plain_rtcp(u):
            d["kind"] = "ua-plain-rtcp" if pair == (ua, gw_wan) else "?"
        elif len(u) >= 8 + 4 + SRTP_TAG and u[0] >> 6 == 2 and \
                200 <= u[1] <= 207 and u[-SRTP_TAG - 4] & 0x80:
            d["kind"] = "srtcp"
        else:
            d["kind"] = "?"
        if d["kind"] == "?":
            v.need(False, f"WAN frame {d['frame.number']}: {len(u)}-byte "
                   f"datagram {pair[0]} -> {pair[1]} that is neither SRTP "
                   "(RTP header, 160 + 12 + 10 bytes) nor SRTCP (E flag)"
                   + (" (plain RTCP from gwa)" if plain_rtcp(u) else ""))
        else:
            kinds[d["kind"]] += 1
    # Datagrams that found the port closed (ICMP port unreachable quoting
    # them): the receiver never counted them.
    out = subprocess.run(
        ["tshark", "-r", cap, "-Y", "icmp.type == 3 && icmp.code == 3",
         "-T", "fields", "-E", "separator=\t", "-E", "occurrence=f",
         "-e", "ip.src", "-e", "udp.payload"],
        capture_output=True, text=True, check=True).stdout
    refused = {}
    for line in out.splitlines():
        f = (line.split("\t") + [""])[:2]
        refused.setdefault(f[0], set()).add(f[1].replace(":", ""))
    for d in from_ua:
        d["refused"] = d["udp"].hex() in refused.get(gw_wan, set())
    for d in to_ua:
        d["refused"] = d["udp"].hex() in refused.get(ua, set())
    frames = frames_raw(cap)
    leaks = leak_count(frames, pieces_of(plains))
    print(f"  WAN {cap}: {len(frames)} frames, {len(dg)} UDP datagrams: "
          f"{kinds['srtp']} SRTP, {kinds['srtcp']} SRTCP, "
          f"{kinds['ua-plain-rtcp']} plain RTCP from the UA itself; "
          f"gwa -> UA {len(to_ua)}, UA -> gwa {len(from_ua)} (port "
          f"already closed: {sum(d['refused'] for d in to_ua)} / "
          f"{sum(d['refused'] for d in from_ua)}); frames holding a "
          f"16-byte piece of plain audio: {leaks}")
    for d in from_ua:
        if d["kind"] == "ua-plain-rtcp":
            print(f"    UA's own plain RTCP, frame {d['frame.number']}"
                  f"{' (port closed)' if d['refused'] else ''}: "
                  f"{len(d['udp'])} bytes, {d['udp'][:40].hex()}"
                  f"{'...' if len(d['udp']) > 40 else ''}")
    v.need(leaks == 0, f"{leaks} WAN frames hold plain audio")
    return to_ua, from_ua


def status_counters(path):
    st = {}
    for line in open(path):
        f = line.split()
        if len(f) == 2 and f[1].isdigit():
            st.setdefault(f[0], int(f[1]))
    return st


def find_run(stream, received, unit):
    """Offset (a multiple of unit) of received inside stream, or -1."""
    if not received:
        return -1
    k = stream.find(received[:unit])
    while k >= 0:
        if k % unit == 0 and stream[k:k + len(received)] == received:
            return k
        k = stream.find(received[:unit], k + 1)
    return -1


def check(a):
    v = Verdict(a.label)
    a_raw_path, dec_path = a.to_ua.split(":")
    ua_wav_path, enc_path = a.from_ua.split(":")
    ua_tx, ua_rx = (int(x) for x in a.ua_stats.split(":"))
    a_raw = open(a_raw_path, "rb").read()
    a_frames = [a_raw[i:i + FRAME] for i in range(0, len(a_raw), FRAME)]
    ua_src = read_wav(ua_wav_path)
    ua_ulaw = pcm2ulaw(ua_src)
    enc = read_wav(enc_path)
    dec = read_wav(dec_path)
    print(f"{a.label}:")

    lan = udp_datagrams(a.lan)
    a_sent = [d for d in lan if d["ip.src"] == a.phone
              and d["rtp.version"] == "2"]
    a_got = [d for d in lan if d["ip.dst"] == a.phone
             and d["ip.src"] == a.gw_in]
    a_got_rtp = [d for d in a_got if d["rtp.version"] == "2"]
    lan_other = [d for d in lan if d not in a_sent and d not in a_got]
    v.need(not lan_other, f"{len(lan_other)} other datagrams on A's LAN")

    # A -> UA
    idx = {p: i for i, p in enumerate(a_frames)}
    sidx = [idx.get(d["rtp"], -1) for d in a_sent]
    v.need(sidx == list(range(len(a_frames))),
           f"A sent {len(sidx)} RTP packets, not its {len(a_frames)} "
           "payloads in order")
    a_pcm = ulaw2pcm(a_raw)
    a_pcm_b = struct.pack(f"<{len(a_pcm)}h", *a_pcm)
    dec_b = struct.pack(f"<{len(dec)}h", *dec)
    off = find_run(a_pcm_b, dec_b, 2 * FRAME)
    dec_frames = len(dec) // FRAME
    print(f"  A -> UA: A sent {len(a_sent)} RTP packets (PCMU of its file);"
          f" the UA decoded {dec_frames} frames = G.711 decoding of A's "
          f"payloads #{off // (2 * FRAME) if off >= 0 else '?'}.."
          f"#{(off // (2 * FRAME) + dec_frames - 1) if off >= 0 else '?'} "
          f"sample for sample: {off >= 0}; rms {rms(dec):.0f}; the UA "
          f"counted {ua_rx} RTP packets received")
    v.need(off >= 0 and len(dec) % FRAME == 0,
           "what the UA decoded is not a frame-aligned run of A's audio")
    v.need(dec_frames >= 0.9 * len(a_frames),
           f"the UA decoded {dec_frames} of A's {len(a_frames)} frames "
           "(< 90 %)")

    # UA -> A
    # baresip's sndfile dump may open a frame or two after its encoder
    # started (seen on a loaded machine): those frames were sent all the
    # same, so they count as encoded.
    late = next((k for k in range(3) if len(enc) > 0 and
                 enc == ua_src[k * FRAME:k * FRAME + len(enc)]), None)
    v.need(late is not None,
           "the UA's encoder input is not its WAV from the start")
    enc_frames = len(enc) // FRAME + (late or 0)
    v.need(enc_frames == ua_tx, f"the UA encoded {enc_frames} frames but "
           f"counted {ua_tx} RTP packets sent")
    seqs = [int(d["rtp.seq"]) for d in a_got_rtp]
    contiguous = all((s2 - s1) % 65536 == 1 for s1, s2 in zip(seqs, seqs[1:]))
    got = b"".join(d["rtp"] for d in a_got_rtp)
    off2 = find_run(ua_ulaw, got, FRAME)
    got_pcm = ulaw2pcm(got)
    print(f"  UA -> A: the UA encoded {enc_frames} frames of its WAV and "
          f"sent {ua_tx} RTP packets; A received {len(a_got_rtp)} RTP "
          f"packets from gwa (seq contiguous: {contiguous}) = libre PCMU of "
          f"the UA's WAV, frames #{off2 // FRAME if off2 >= 0 else '?'}.."
          f"#{(off2 // FRAME + len(a_got_rtp) - 1) if off2 >= 0 else '?'} "
          f"byte for byte: {off2 >= 0}; rms {rms(got_pcm):.0f} (WAV "
          f"{rms(ua_src):.0f})")
    v.need(contiguous, "A's received RTP seq numbers are not contiguous")
    v.need(off2 >= 0, "what A received is not a run of the UA's PCMU")
    v.need(len(a_got_rtp) >= 0.9 * ua_tx,
           f"A received {len(a_got_rtp)} of the UA's {ua_tx} packets "
           "(< 90 %)")
    v.need(rms(got_pcm) > 0.3 * rms(ua_src), "A received near silence")

    # WAN
    plains = a_frames + [ua_ulaw[i:i + FRAME]
                         for i in range(0, len(ua_ulaw), FRAME)]
    to_ua, from_ua = wan_check(v, a.wan, plains, a.gw_wan, a.ua)
    lan_frames = frames_raw(a.lan)
    ctl = leak_count(lan_frames, pieces_of(plains))
    print(f"  control: the same search finds plain audio in {ctl} frames "
          f"of A's LAN capture ({len(a_sent) + len(a_got_rtp)} RTP)")
    v.need(ctl >= len(a_sent) + len(a_got_rtp),
           "the plain-audio search does not find the LAN's RTP: it proves "
           "nothing")
    srtp_to = [d for d in to_ua if d["kind"] == "srtp"]
    srtp_from = [d for d in from_ua if d["kind"] == "srtp"]
    hdr = {(d["rtp.ssrc"], d["rtp.seq"], d["rtp.timestamp"]) for d in a_sent}
    same = sum(1 for d in srtp_to
               if (d["rtp.ssrc"], d["rtp.seq"], d["rtp.timestamp"]) in hdr)
    print(f"  gwa -> UA: {len(srtp_to)} SRTP for A's {len(a_sent)} RTP "
          f"({same} with A's RTP header); UA -> gwa: {len(srtp_from)} SRTP "
          f"for the UA's {ua_tx}; gwa -> A: {len(a_got_rtp)} RTP "
          f"({len(srtp_from) - len(a_got_rtp)} of the UA's not relayed)")
    v.need(len(srtp_to) == len(a_sent), "gwa did not send the UA one SRTP "
           "packet per RTP packet of A")
    v.need(len(srtp_from) == ua_tx, "the WAN does not carry the UA's "
           f"{ua_tx} packets")
    v.need(ua_rx == len(srtp_to), f"the UA counted {ua_rx} packets "
           f"received, gwa sent it {len(srtp_to)}")

    if a.status_before and a.status_after:
        s0 = status_counters(a.status_before)
        s1 = status_counters(a.status_after)
        delta = {k: s1.get(k, 0) - s0.get(k, 0) for k in s1}
        want = {"rtp_in_inside": len(a_sent),
                "rtp_out_inside": len(a_got),
                "srtp_out_outside": len(to_ua),
                "srtp_replay": 0}
        print("  gwa's counters (this call) vs the captures: " + ", ".join(
            f"{k} {delta.get(k)}/{w}" for k, w in want.items()))
        for k, w in want.items():
            v.need(delta.get(k) == w, f"gwa {k} moved by {delta.get(k)}, "
                   f"the captures say {w}")
        # What the UA sent after the last packet gwa relayed to A raced the
        # hangup: gwa may have read it, or dropped it unread with the
        # closing socket (no ICMP then).  Everything before was counted.
        relayed = {(d["rtp.ssrc"], d["rtp.seq"], d["rtp.timestamp"])
                   for d in a_got_rtp}
        last = max((i for i, d in enumerate(from_ua)
                    if (d["rtp.ssrc"], d["rtp.seq"], d["rtp.timestamp"])
                    in relayed), default=-1)
        n = sum(1 for d in from_ua if not d["refused"])
        tail = sum(1 for d in from_ua[last + 1:] if not d["refused"])
        got = delta.get("srtp_in_outside")
        print(f"  srtp_in_outside {got}: the UA sent {n} datagrams to open "
              f"ports, {tail} of them after the last one gwa relayed "
              f"(want {n - tail}..{n})")
        v.need(got is not None and n - tail <= got <= n,
               f"gwa srtp_in_outside moved by {got}, the captures say "
               f"{n - tail}..{n}")
        # Authentication failures: none on SRTP/SRTCP (the runs above are
        # complete); the only packets gwa may refuse are the UA's own plain
        # RTCP, which it must drop (srtcp_plain_dropped, or srtp_auth_fail
        # for one too short to carry an SRTCP trailer: DESIGN §4 has no
        # separate counter for it).
        plain = [d for d in from_ua if d["kind"] == "ua-plain-rtcp"
                 and not d["refused"]]
        short = [d for d in plain if len(d["udp"]) < 8 + 4 + SRTP_TAG]
        af = delta.get("srtp_auth_fail", 0)
        pd = delta.get("srtcp_plain_dropped", 0)
        print(f"  srtp_auth_fail +{af}, srtcp_plain_dropped +{pd}: the UA "
              f"sent {len(plain)} plain RTCP ({len(short)} shorter than "
              "any SRTCP)")
        v.need(af + pd <= len(plain) and af <= len(short),
               f"gwa counted {af} authentication failures and {pd} plain "
               "SRTCP drops that the UA's plain RTCP does not explain")
    print(f"  verdict: {'audio OK' if not v.bad else f'{len(v.bad)} failures'}")
    return 0 if not v.bad else 1


def wan_only(a):
    v = Verdict("whole run")
    plains = []
    for p in a.plain:
        if p.endswith(".wav"):
            u = pcm2ulaw(read_wav(p))
        else:
            u = open(p, "rb").read()
        plains += [u[i:i + FRAME] for i in range(0, len(u), FRAME)]
    print("whole run:")
    wan_check(v, a.cap, plains, a.gw_wan, a.ua)
    print(f"  verdict: {'SRTP only' if not v.bad else f'{len(v.bad)} failures'}")
    return 0 if not v.bad else 1


def main():
    if len(sys.argv) >= 2 and sys.argv[1] == "wav":
        amp = float(sys.argv[6]) if len(sys.argv) > 6 else 8000
        write_wav(sys.argv[2], chirp(float(sys.argv[3]), float(sys.argv[4]),
                                     float(sys.argv[5]), amp))
        return 0
    if len(sys.argv) >= 2 and sys.argv[1] == "ulaw":
        open(sys.argv[3], "wb").write(pcm2ulaw(read_wav(sys.argv[2])))
        return 0
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=["check", "wan"])
    ap.add_argument("cap", nargs="?")
    ap.add_argument("--label", default="call")
    ap.add_argument("--lan")
    ap.add_argument("--wan")
    ap.add_argument("--to-ua")
    ap.add_argument("--from-ua")
    ap.add_argument("--ua-stats")
    ap.add_argument("--status-before")
    ap.add_argument("--status-after")
    ap.add_argument("--plain", action="append", default=[])
    ap.add_argument("--phone", default="198.18.1.10")
    ap.add_argument("--gw-in", default="198.18.1.1")
    ap.add_argument("--gw-wan", default="198.18.2.1")
    ap.add_argument("--ua", default="198.18.2.11")
    a = ap.parse_args()
    if a.cmd == "wan":
        return wan_only(a)
    for k in ("lan", "wan", "to_ua", "from_ua", "ua_stats"):
        if not getattr(a, k):
            ap.error(f"check needs --{k.replace('_', '-')}")
    return check(a)


if __name__ == "__main__":
    sys.exit(main())
