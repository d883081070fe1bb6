"""SIP messages out of a capture, for the invariant checkers (lan_verdict.py,
wan_sdp_verdict.py): every UDP datagram that starts like a SIP message, and
every TCP byte stream put back in order by tshark (follow,tcp,raw) or, with
a TLS key log, decrypted (follow,tls,raw), cut into messages by
Content-Length.  What does not frame is kept as one blob and still searched,
so a malformed message cannot hide.
"""
import re
import subprocess

START_RE = re.compile(rb"^(?:[A-Za-z]+ \S+ SIP/2\.0\r?\n|SIP/2\.0 \d{3} )")
SECRET_RE = re.compile(rb"a=crypto|a=fingerprint|a=key-mgmt|RTP/SAVP", re.I)
# In headers only an attribute with its value is a leak: our own Warning
# texts name a=crypto ("the answer has no a=crypto").
KEYLINE_RE = re.compile(rb"a=(?:crypto|fingerprint|key-mgmt):", re.I)


def leaks(data: bytes):
    """What of the inside invariant a whole message breaks: SECRET_RE in
    its body, KEYLINE_RE anywhere."""
    i = data.find(b"\r\n\r\n")
    body = data[i + 4:] if i >= 0 else b""
    found = {m.group(0).decode().lower() for m in SECRET_RE.finditer(body)}
    found |= {m.group(0).decode().lower() for m in KEYLINE_RE.finditer(data)}
    return sorted(found)
PLAIN_M_RE = re.compile(rb"(?m)^m=\S+ +\d+(?:/\d+)? +RTP/AVPF?(?=\s|$)", re.I)


class SipMsg:
    def __init__(self, src, dst, data, where):
        self.src, self.dst, self.data, self.where = src, dst, data, where

    @property
    def start(self):
        return self.data.split(b"\r\n", 1)[0][:100].decode("latin-1")

    @property
    def body(self):
        i = self.data.find(b"\r\n\r\n")
        return self.data[i + 4:] if i >= 0 else b""


def tshark(args):
    return subprocess.run(["tshark"] + args, capture_output=True, check=True
                          ).stdout


def frame(stream: bytes):
    """Cut a SIP byte stream into messages (Content-Length framing, CRLF
    keep-alives skipped); an unframeable rest is one more piece."""
    out = []
    i = 0
    while i < len(stream):
        while stream.startswith(b"\r\n", i):
            i += 2
        if i >= len(stream):
            break
        end = stream.find(b"\r\n\r\n", i)
        if end < 0:
            out.append(stream[i:])
            break
        m = re.search(rb"(?im)^(?:content-length|l)[ \t]*:[ \t]*(\d+)",
                      stream[i:end])
        n = int(m.group(1)) if m else 0
        out.append(stream[i:end + 4 + n])
        i = end + 4 + n
    return out


def udp_messages(cap):
    out = tshark(["-r", cap, "-Y", "udp && !icmp", "-T", "fields", "-E",
                  "separator=\t", "-e", "ip.src", "-e", "udp.srcport",
                  "-e", "ip.dst", "-e", "udp.dstport", "-e", "udp.payload"])
    msgs = []
    for line in out.decode().splitlines():
        f = line.split("\t")
        if len(f) < 5 or not f[4]:
            continue
        data = bytes.fromhex(f[4].replace(":", ""))
        if START_RE.match(data):
            msgs.append(SipMsg(f"{f[0]}:{f[1]}", f"{f[2]}:{f[3]}", data, "udp"))
    return msgs


def stream_bytes(cap, keylogs=()):
    """{(stream, src): bytes} for every TCP stream and direction, in frame
    order: the payload as tshark hands it on (TCP put in order, TLS
    decrypted when a key log has the secrets) with the SIP dissector off,
    so that every byte comes out as "data"."""
    opts = ["-r", cap, "--disable-protocol", "sip", "--disable-protocol",
            "sdp"]
    for k in keylogs:
        opts += ["-o", f"tls.keylog_file:{k}"]
    out = tshark(opts + ["-Y", "data && tcp && !tcp.analysis.retransmission",
                         "-T", "fields", "-E", "separator=\t", "-E",
                         "occurrence=a", "-E", "aggregator=,", "-e", "ip.src",
                         "-e", "tcp.srcport", "-e", "ip.dst", "-e",
                         "tcp.dstport", "-e", "tcp.stream", "-e", "data.data"])
    res = {}
    for line in out.decode().splitlines():
        f = line.split("\t")
        if len(f) < 6 or not f[5]:
            continue
        key = (int(f[4]), f"{f[0]}:{f[1]}", f"{f[2]}:{f[3]}")
        for chunk in f[5].split(","):
            res[key] = res.get(key, b"") + bytes.fromhex(chunk.replace(":", ""))
    return res


def tls_streams(cap, keylogs=()):
    """(streams with TLS application data records, streams whose ClientHello
    is in the capture, streams whose encrypted handshake decrypted with the
    key logs), in one tshark pass. A TLS 1.3 handshake is itself carried in
    application data records: a stream that decrypts its handshake (its
    Finished or EncryptedExtensions are read) yet yields no application
    bytes carried none (a refused handshake); one that does not decrypt at
    all could not be looked into."""
    opts = ["-r", cap]
    for k in keylogs:
        opts += ["-o", f"tls.keylog_file:{k}"]
    out = tshark(opts + ["-Y", "tls", "-T", "fields", "-E",
                         "separator=\t", "-E", "occurrence=a", "-E",
                         "aggregator=,", "-e", "tcp.stream", "-e",
                         "tls.handshake.type", "-e", "tls.record.content_type",
                         "-e", "tls.record.opaque_type"])
    data, hello, keyed = set(), set(), set()
    for line in out.decode().splitlines():
        f = (line.split("\t") + ["", "", "", ""])[:4]
        if not f[0].strip():
            continue
        s = int(f[0])
        types = f[1].split(",")
        if "1" in types:
            hello.add(s)
        if "8" in types or "20" in types:
            keyed.add(s)
        if "23" in f[2].split(",") or "23" in f[3].split(","):
            data.add(s)
    return data, hello, keyed


def stream_messages(cap, proto="tcp", keylogs=()):
    """SIP messages of every TCP stream (proto tcp) or decrypted TLS stream
    (proto tls); returns (messages, {stream: (end, end, bytes)}, streams
    whose handshake is in the capture) so that a caller can tell streams
    that did not decrypt (0 bytes)."""
    hello, keyed = set(), set()
    if proto == "tls":
        streams, hello, keyed = tls_streams(cap, keylogs)
    msgs, seen = [], {}
    for (s, src, dst), data in sorted(stream_bytes(cap, keylogs).items()):
        if proto == "tls" and s not in streams:
            continue
        n = seen.get(s, (src, dst, 0))[2]
        seen[s] = (src, dst, n + len(data))
        for piece in frame(data):
            msgs.append(SipMsg(src, dst, piece, f"{proto} stream {s}"))
    if proto == "tls":
        for s in streams:
            if s not in seen and s not in keyed:
                seen[s] = ("?", "?", 0)     # not decrypted: dark
    return msgs, seen, hello
