#!/usr/bin/env python3
"""Tones for the softphone lab tests: make a WAV of one frequency, and find
out whether a recording (a softphone's WAV, or the PCMU RTP a plain phone
received, from a capture) carries a given tone.

usage:
  tone.py gen WAV HZ SECONDS [RATE]     16-bit mono sine, amplitude 8000
  tone.py ulaw WAV RAW                  WAV (8 kHz) -> raw PCMU (G.711 mu-law)
  tone.py check WAV HZ MIN_SECONDS [NOT_HZ,...]
  tone.py check-rtp CAP DST_IP HZ MIN_SECONDS [NOT_HZ,...]
      The signal is cut into 50 ms frames; a frame carries the tone when
      the Goertzel power at HZ is at least half of the frame's energy and
      at least 4 times the power at each NOT_HZ (the other parties' tones,
      so that a tone echoed back or crossed over does not count). Passes
      when the frames carrying the tone add up to MIN_SECONDS or more.
      check-rtp takes the PCMU payloads of the RTP packets sent to DST_IP
      in the capture (tshark decodes every UDP datagram as RTP), in
      capture order, as the far end's recording.
Exit status 0 = the tone is there; prints what it measured either way.
"""
import math
import struct
import subprocess
import sys
import wave


def gen(path, hz, seconds, rate=8000):
    n = int(seconds * rate)
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(
            2 * math.pi * hz * i / rate))) for i in range(n)))


def read_wav(path):
    with wave.open(path, "rb") as w:
        rate, ch, sw = w.getframerate(), w.getnchannels(), w.getsampwidth()
        data = w.readframes(w.getnframes())
    if sw != 2:
        raise SystemExit(f"{path}: {8 * sw}-bit samples, want 16")
    s = struct.unpack("<%dh" % (len(data) // 2), data)
    return list(s[::ch]), rate


def lin2ulaw(x):
    sign = 0x80 if x < 0 else 0
    x = min(abs(x), 32635) + 132
    exp = 7
    for e in range(8):
        if x < (256 << e):
            exp = e
            break
    return ~(sign | (exp << 4) | ((x >> (exp + 3)) & 0x0F)) & 0xFF


def ulaw2lin(u):
    u = ~u & 0xFF
    t = ((u & 0x0F) << 3) + 132
    t <<= (u & 0x70) >> 4
    return (132 - t) if u & 0x80 else (t - 132)


def goertzel(frame, hz, rate):
    k = 2 * math.cos(2 * math.pi * hz / rate)
    s1 = s2 = 0.0
    for x in frame:
        s1, s2 = x + k * s1 - s2, s1
    return (s1 * s1 + s2 * s2 - k * s1 * s2) * 2 / len(frame)


def tone_seconds(samples, rate, hz, others):
    n = rate // 20
    good = 0
    for i in range(0, len(samples) - n + 1, n):
        f = samples[i:i + n]
        energy = sum(x * x for x in f)
        if energy < n * 100 * 100:          # silence (|x| ~ < 100)
            continue
        p = goertzel(f, hz, rate)
        if p >= 0.5 * energy and all(p >= 4 * goertzel(f, o, rate)
                                     for o in others):
            good += 1
    return good * n / rate, len(samples) / rate


def verdict(what, samples, rate, hz, need, others):
    got, total = tone_seconds(samples, rate, hz, others)
    ok = got >= need
    print(f"{what}: {got:.2f} s of {hz} Hz in {total:.2f} s "
          f"(need {need} s, other tones {others}): {'ok' if ok else 'MISSING'}")
    return 0 if ok else 1


def rtp_payloads(cap, dst):
    out = subprocess.run(
        ["tshark", "-r", cap, "-d", "udp.port==1-65535,rtp", "-Y",
         f"rtp && ip.dst == {dst} && rtp.p_type == 0", "-T", "fields",
         "-e", "rtp.payload"], capture_output=True, text=True).stdout
    data = bytearray()
    for line in out.split():
        data += bytes.fromhex(line.replace(":", ""))
    return data


def main():
    a = sys.argv[1:]
    if len(a) >= 4 and a[0] == "gen":
        gen(a[1], float(a[2]), float(a[3]), int(a[4]) if len(a) > 4 else 8000)
        return 0
    if len(a) == 3 and a[0] == "ulaw":
        s, rate = read_wav(a[1])
        if rate != 8000:
            raise SystemExit(f"{a[1]}: {rate} Hz, want 8000")
        open(a[2], "wb").write(bytes(lin2ulaw(x) for x in s))
        return 0
    others = lambda i: [float(x) for x in a[i].split(",")] if len(a) > i else []
    if len(a) >= 4 and a[0] == "check":
        s, rate = read_wav(a[1])
        return verdict(a[1], s, rate, float(a[2]), float(a[3]), others(4))
    if len(a) >= 5 and a[0] == "check-rtp":
        s = [ulaw2lin(b) for b in rtp_payloads(a[1], a[2])]
        return verdict(f"{a[1]} RTP to {a[2]}", s, 8000, float(a[3]),
                       float(a[4]), others(5))
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
