#!/usr/bin/env python3
"""A stateful SIP sequence fuzzer for the media invariant (issue 7, DESIGN §4).

It plays both sides of one running gateway in the lab (test_lab_seqfuzz.sh:
lab_topology_direct, gwa with media = srtp): the phone on the phone LAN
(UDP, 198.18.1.10:5060) and the gateway's TLS peer on the WAN (a TLS server
on 198.18.2.10:5061 that gwa connects to; requests toward the phone go to
the flow token of the phone's REGISTER).  One process, a socket in each
namespace (nsua.py).

A sequence is generated from a seed (random.Random(seed): the same seed
always gives the same sequence) as a list of actions on one call:
retransmissions, forked 18x with different tags and SDP, 200 or an error,
CANCEL racing the 200, ACK with a late answer, PRACK, UPDATE, re-INVITE
and OPTIONS from either side, BYE answered 2xx/4xx/5xx, then late 200 OKs,
re-INVITEs and UPDATEs after the BYE; bodies mix RTP/AVP, RTP/SAVP with and
without a=crypto, AVP with a=crypto, DTLS-SRTP (a=fingerprint), MIKEY,
multipart/mixed and multipart/alternative, malformed SDP, from either side.

Invariants, checked on every message an endpoint receives (the capture
checkers of lib.sh check the same on gwa's LAN and decrypted WAN captures
afterwards): nothing that reaches the phone carries a=crypto,
a=fingerprint, a=key-mgmt or RTP/SAVP; nothing that reaches the peer offers
or accepts RTP/AVP; the gateway is alive after every sequence.  A finding
prints its seed, and the sequence is saved (--findings DIR) for replay.

usage: seqfuzz.py --pfx PFX --certs DIR --gw-pidfile FILE [--ready FILE]
                  [--seconds N] [--count N] [--seed S] [--replay PATH]...
                  [--save-corpus DIR] [--findings DIR]
Replays every PATH (a sequence file or a directory of them) first, then
generates sequences from seed S (default: from the clock, printed), S+1,
... until N sequences or N seconds.  Prints executions and findings; exit 0
when there are none.
"""
import argparse
import json
import os
import random
import socket
import ssl
import sys
import time

from nsua import (Endpoint, Msg, build, in_netns, key_b64, plain_rtp_in,
                  response_to, secrets_in, uri_of)

PHONE = "198.18.1.10"
GWA_IN = "198.18.1.1"
PEER = "198.18.2.10"

BODIES = ["none", "avp", "savp", "savp", "savp_nocrypto", "avp_crypto", "dtls",
          "dtls_sdes", "mikey", "mixed", "mixed", "alternative", "hold",
          "two_m", "bad", "caps", "fingerprint_only", "kline"]


# Bodies.

def body_of(kind, addr, port, rng):
    """(Content-Type, body bytes) for a body kind; (None, b"") for none."""
    def sdp(proto="RTP/AVP", extra="", crypto=True, media="audio",
            conn=addr, more=""):
        s = (f"v=0\r\no=- {port} {port} IN IP4 {addr}\r\ns=-\r\n"
             f"c=IN IP4 {conn}\r\nt=0 0\r\n{more}"
             f"m={media} {port} {proto} 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
             f"a=rtpmap:101 telephone-event/8000\r\n{extra}")
        if crypto:
            s += f"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:{key_b64()}\r\n"
        return s.encode()
    ct = "application/sdp"
    if kind == "none":
        return None, b""
    if kind == "avp":
        return ct, sdp(crypto=False)
    if kind == "savp":
        return ct, sdp("RTP/SAVP")
    if kind == "savp_nocrypto":
        return ct, sdp("RTP/SAVP", crypto=False)
    if kind == "avp_crypto":
        return ct, sdp("RTP/AVP")
    if kind == "dtls":
        return ct, sdp("UDP/TLS/RTP/SAVP", "a=fingerprint:sha-256 AB:CD:EF\r\n"
                       "a=setup:actpass\r\n", crypto=False)
    if kind == "dtls_sdes":
        return ct, sdp("UDP/TLS/RTP/SAVPF", "a=fingerprint:sha-256 AB:CD\r\n"
                       "a=setup:active\r\na=tls-id:x1\r\n")
    if kind == "fingerprint_only":
        return ct, sdp("RTP/AVP", "a=fingerprint:sha-1 00:11\r\n", crypto=False)
    if kind == "mikey":
        return ct, sdp("RTP/SAVP", "a=key-mgmt:mikey AQAFgM0XflABAAAAAAAAAAAAAAsA\r\n",
                       crypto=False)
    if kind == "kline":
        return ct, sdp("RTP/AVP", crypto=False, more="k=clear:secretkey\r\n")
    if kind == "hold":
        return ct, sdp(rng.choice(["RTP/SAVP", "RTP/AVP"]), "a=sendonly\r\n",
                       conn="0.0.0.0")
    if kind == "two_m":
        a = sdp("RTP/SAVP")
        v = (f"m=video {port + 2} RTP/SAVPF 96\r\na=rtpmap:96 H264/90000\r\n"
             f"a=crypto:2 AES_CM_128_HMAC_SHA1_80 inline:{key_b64()}\r\n").encode()
        return ct, a + v
    if kind == "caps":
        return ct, sdp("rtp/savp").replace(b"a=crypto", b"A=Crypto")
    if kind == "bad":
        return ct, b"v=0\r\nm=audio notaport RTP/SAVP 0\r\na=crypto:1 X\r\n"
    if kind == "mixed":
        inner = sdp(rng.choice(["RTP/SAVP", "RTP/AVP"]))
        b = (b"--sgfz\r\nContent-Type: application/sdp\r\n\r\n" + inner +
             b"\r\n--sgfz\r\nContent-Type: text/plain\r\n\r\nhello\r\n--sgfz--\r\n")
        return "multipart/mixed;boundary=sgfz", b
    if kind == "alternative":
        b = (b"--alt\r\nContent-Type: application/sdp\r\n\r\n" + sdp("RTP/SAVP") +
             b"\r\n--alt\r\nContent-Type: application/sdp\r\n\r\n" +
             sdp(crypto=False) + b"\r\n--alt--\r\n")
        return 'multipart/alternative; boundary="alt"', b
    raise ValueError(kind)


# Generation: a pure function of the seed.

def generate(seed):
    rng = random.Random(seed)
    B = lambda: rng.choice(BODIES)  # noqa: E731
    other = {"in": "out", "out": "in"}
    caller = rng.choice(["in", "out"])
    callee = other[caller]
    acts = [{"op": "invite", "body": B()}]
    if rng.random() < 0.3:
        acts.append({"op": "retrans", "side": caller})
    forks = rng.choice([0, 0, 1, 2, 3])
    for f in range(forks):
        acts.append({"op": "provisional", "code": rng.choice([180, 183]),
                     "fork": rng.randrange(2), "body": rng.choice(["none", B()])})
        if rng.random() < 0.3:
            acts.append({"op": "prack", "body": rng.choice(["none", B()])})
    end = rng.random()
    answered = False
    if end < 0.15:
        acts.append({"op": "cancel", "race": rng.random() < 0.6,
                     "body": B()})
        answered = acts[-1]["race"]
    elif end < 0.3:
        acts.append({"op": "final", "code": rng.choice([486, 488, 500, 503, 603])})
    else:
        acts.append({"op": "answer", "fork": rng.randrange(2), "body": B()})
        answered = True
    if rng.random() < 0.4:
        acts.append({"op": "retrans", "side": callee})
    if answered:
        acts.append({"op": "ack", "body": rng.choice(["none", "none", B()])})
        for _ in range(rng.randrange(5)):
            op = rng.choice(["reinvite", "update", "options", "info", "retrans"])
            side = rng.choice(["in", "out"])
            if op == "retrans":
                acts.append({"op": "retrans", "side": side})
            else:
                acts.append({"op": op, "side": side, "body": B(),
                             "code": rng.choice([200, 200, 200, 488, 491, 500]),
                             "answer": B()})
        acts.append({"op": "bye", "side": rng.choice(["in", "out"]),
                     "code": rng.choice([200, 200, 404, 481, 500, 503])})
    for _ in range(rng.randrange(4)):
        op = rng.choice(["retrans", "late200", "reinvite", "update", "ack"])
        side = rng.choice(["in", "out"])
        acts.append({"op": op, "side": side, "body": B(), "code": 200,
                     "answer": B()})
    return {"seed": seed, "caller": caller, "actions": acts}


# Execution.

class Side:
    def __init__(self, name, ep, addr, contact, via_proto, via_host):
        self.name, self.ep, self.addr = name, ep, addr
        self.contact, self.via_proto, self.via_host = contact, via_proto, via_host
        self.sent = []		# for retransmissions
        self.n = 0

    def branch(self):
        self.n += 1
        return f"z9hG4bK-fz{self.name}{self.n}{random.randrange(1 << 30)}"

    def via(self, branch=None):
        return f"SIP/2.0/{self.via_proto} {self.via_host};branch={branch or self.branch()};rport"

    def send(self, data):
        self.sent.append(data)
        self.ep.send(data)


class TlsServerPeer(Endpoint):
    """The gateway's connect target: a TLS server on the WAN."""

    def __init__(self, netns, addr, port, certs):
        super().__init__("peer")
        self.pending, self.buf = [], b""

        def mk():
            s = socket.socket()
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((addr, port))
            s.listen(4)
            return s
        self.ls = in_netns(netns, mk)
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(f"{certs}/pbx.crt", f"{certs}/pbx.key")
        self.ctx.load_verify_locations(f"{certs}/ca.crt")
        self.ctx.verify_mode = ssl.CERT_REQUIRED
        self.sock = None

    def accept(self, timeout):
        self.ls.settimeout(timeout)
        c, _ = self.ls.accept()
        self.sock = self.ctx.wrap_socket(c, server_side=True)
        self.sock.setblocking(False)

    send = None  # set below from TlsEndpoint


from nsua import TlsEndpoint  # noqa: E402
TlsServerPeer.send = TlsEndpoint.send
TlsServerPeer._frames = TlsEndpoint._frames
TlsServerPeer.poll = TlsEndpoint.poll


class Runner:
    def __init__(self, a):
        self.a = a
        self.peer = TlsServerPeer(f"{a.pfx}-pbx2", PEER, 5061, a.certs)
        if a.ready:
            open(a.ready, "w").write("listening\n")
        self.peer.accept(30)
        from nsua import UdpEndpoint
        self.phone = UdpEndpoint("phone", f"{a.pfx}-phones", PHONE, 5060,
                                 (GWA_IN, 5060))
        self.sides = {
            "in": Side("in", self.phone, PHONE, f"<sip:alice@{PHONE}:5060>",
                       "UDP", f"{PHONE}:5060"),
            "out": Side("out", self.peer, PEER,
                        f"<sip:bob@{PEER}:5061;transport=tls>", "TLS",
                        f"{PEER}:5061")}
        self.execs = self.msgs = 0
        self.findings = []
        self.token = self.register()

    def gw_pid(self):
        return int(open(self.a.gw_pidfile).read().split()[0])

    def settle(self, quiet=0.04, limit=0.5):
        """Collect what arrives until quiet; returns the new messages per side."""
        got = {"in": [], "out": []}
        end = time.time() + limit
        while time.time() < end:
            a = self.phone.poll(quiet)
            b = self.peer.poll(quiet / 2)
            got["in"] += a
            got["out"] += b
            if not a and not b:
                break
        return got

    def register(self):
        ph = self.sides["in"]
        ph.send(build("REGISTER sip:pbx.lab.test SIP/2.0", [
            ("Via", ph.via()), ("Max-Forwards", "70"),
            ("From", "<sip:alice@pbx.lab.test>;tag=fzr"),
            ("To", "<sip:alice@pbx.lab.test>"), ("Call-ID", "fz-reg"),
            ("CSeq", "1 REGISTER"), ("Contact", ph.contact),
            ("Expires", "3600")]))
        m = self.peer.wait_for(lambda x: x.is_request and x.method == "REGISTER", 5)
        if m is None:
            raise SystemExit("seqfuzz: the REGISTER did not reach the peer")
        self.peer.send(response_to(m, 200, "OK", [("Contact", m.get("Contact"))]))
        self.phone.wait_for(lambda x: not x.is_request, 3)
        return uri_of(m.get("Contact"))

    def check(self, seq, where, got):
        bad = []
        for m in got["in"]:
            s = secrets_in(m.raw)
            if s:
                bad.append(f"phone got {m.start!r} with {s}")
        for m in got["out"]:
            if plain_rtp_in(m.raw):
                bad.append(f"peer got {m.start!r} with RTP/AVP")
        for b in bad:
            self.findings.append((seq["seed"], where, b))
            print(f"FINDING seed {seq['seed']} at {where}: {b}", flush=True)
        return not bad

    def run(self, seq, label):
        """Play one sequence; returns True when the invariants held."""
        a = self.a
        st = {"cid": f"fz-{seq['seed']}-{label}-{random.randrange(1 << 30)}"}
        caller = self.sides[seq["caller"]]
        callee = self.sides["out" if seq["caller"] == "in" else "in"]
        ok = True
        self.phone.take_all()
        self.peer.take_all()
        for i, act in enumerate(seq["actions"]):
            try:
                self.step(seq, act, st, caller, callee)
            except Exception as e:  # a step that cannot be built is skipped
                st.setdefault("skipped", []).append(f"{i}:{act['op']}:{e}")
            got = self.settle()
            self.msgs += 1
            ok &= self.check(seq, f"action {i} {act['op']}", got)
            for side, msgs in got.items():
                self.absorb(st, side, msgs)
        self.execs += 1
        try:
            os.kill(self.gw_pid(), 0)
        except (OSError, ValueError):
            self.findings.append((seq["seed"], "end", "the gateway died"))
            print(f"FINDING seed {seq['seed']}: the gateway died", flush=True)
            return False
        return ok

    def absorb(self, st, side, msgs):
        """Remember what each side received: requests to answer, responses
        that give the caller its dialog."""
        for m in msgs:
            if m.is_request:
                st.setdefault(f"req_{side}", []).append(m)
                if m.method == "INVITE" and "tag=" not in (m.get("To") or ""):
                    st[f"invite_at_{side}"] = m
            else:
                if m.status >= 101 and m.get("Contact") and "INVITE" in (m.get("CSeq") or ""):
                    st[f"dialog_resp_{side}"] = m

    def body(self, kind, side, rng_seed):
        port = 10000 + (rng_seed % 5000) * 2 if side.name == "in" else 7078
        return body_of(kind, side.addr, port, random.Random(rng_seed))

    def request(self, side, method, ruri, hdrs, kind, seed, cseq, st):
        ct, body = self.body(kind, side, seed)
        h = [("Via", side.via()), ("Max-Forwards", "70")] + hdrs + [
            ("Call-ID", st["cid"]), ("CSeq", f"{cseq} {method}"),
            ("Contact", side.contact)]
        if ct:
            h.append(("Content-Type", ct))
        return build(f"{method} {ruri} SIP/2.0", h, body)

    def in_dialog(self, st, side, method, kind, seed):
        """A request of `side` within the call's dialog: the caller uses
        the response it got, the callee the INVITE it got."""
        st["cseq_" + side.name] = st.get("cseq_" + side.name, 10) + 1
        cseq = st["cseq_" + side.name]
        if side is st["caller"]:
            r = st.get(f"dialog_resp_{side.name}")
            if r is None:
                raise LookupError("caller has no dialog")
            routes = list(reversed(r.all("Record-Route")))
            target, frm, to = uri_of(r.get("Contact")), r.get("From"), r.get("To")
        else:
            inv = st.get(f"invite_at_{side.name}")
            if inv is None:
                raise LookupError("callee has no INVITE")
            routes = inv.all("Record-Route")
            target = uri_of(inv.get("Contact"))
            frm = inv.get("To") + ";tag=" + st.get("callee_tag", "t0")
            to = inv.get("From")
        hdrs = [("Route", x) for x in routes] + [("From", frm), ("To", to)]
        return self.request(side, method, target, hdrs, kind, seed, cseq, st)

    def respond(self, side, req, code, kind, seed, tag):
        ct, body = self.body(kind, side, seed)
        extra = [("Contact", side.contact)]
        if ct:
            extra.append(("Content-Type", ct))
        return response_to(req, code, "Fuzz", extra, body, to_tag=tag)

    def step(self, seq, act, st, caller, callee):
        op = act["op"]
        seed = seq["seed"] * 131 + len(st.get("log", []))
        st.setdefault("log", []).append(op)
        st["caller"] = caller
        if op == "invite":
            if caller.name == "in":
                ruri, frm, to = ("sip:bob@pbx.lab.test",
                                 "<sip:alice@pbx.lab.test>;tag=fzA",
                                 "<sip:bob@pbx.lab.test>")
            else:
                ruri, frm, to = (self.token, "<sip:bob@pbx.lab.test>;tag=fzB",
                                 "<sip:alice@pbx.lab.test>")
            msg = self.request(caller, "INVITE", ruri, [("From", frm), ("To", to)],
                               act["body"], seed, 1, st)
            st["invite"] = msg
            caller.send(msg)
        elif op == "retrans":
            side = self.sides[act["side"]]
            if side.sent:
                side.ep.send(side.sent[-1])
        elif op in ("provisional", "answer", "final"):
            inv = st.get(f"invite_at_{callee.name}")
            if inv is None:
                raise LookupError("no INVITE at the callee")
            tag = f"f{act.get('fork', 0)}"
            st["callee_tag"] = tag
            code = act.get("code", 200)
            kind = act.get("body", "none") if op != "final" else "none"
            msg = self.respond(callee, inv, code, kind, seed, tag)
            if op == "answer":
                st["ok200"] = msg
            callee.send(msg)
        elif op == "prack":
            caller.send(self.in_dialog(st, caller, "PRACK", act["body"], seed))
        elif op == "cancel":
            inv = st["invite"]
            m = Msg(inv)
            caller.send(build(f"CANCEL {m.ruri} SIP/2.0", [
                ("Via", m.get("Via")), ("Max-Forwards", "70"),
                ("From", m.get("From")), ("To", m.get("To")),
                ("Call-ID", st["cid"]), ("CSeq", "1 CANCEL")]))
            at = st.get(f"invite_at_{callee.name}")
            if at is None:
                raise LookupError("no INVITE at the callee")
            if act["race"]:
                st["callee_tag"] = "f0"
                msg = self.respond(callee, at, 200, act["body"], seed, "f0")
                st["ok200"] = msg
                callee.send(msg)
            else:
                callee.send(self.respond(callee, at, 487, "none", seed, "f0"))
        elif op == "ack":
            if st.get(f"dialog_resp_{caller.name}") is None:
                raise LookupError("no 2xx at the caller")
            msg = self.in_dialog(st, caller, "ACK", act["body"], seed)
            # ACK takes the INVITE's CSeq number (RFC 3261 §13.2.2.4).
            msg = msg.replace(f"CSeq: {st['cseq_' + caller.name]} ACK".encode(),
                              b"CSeq: 1 ACK")
            caller.send(msg)
        elif op == "late200":
            if "ok200" in st:
                callee.ep.send(st["ok200"])
        elif op in ("reinvite", "update", "options", "info", "bye"):
            side = self.sides[act["side"]]
            method = {"reinvite": "INVITE", "update": "UPDATE",
                      "options": "OPTIONS", "info": "INFO", "bye": "BYE"}[op]
            kind = "none" if op == "bye" else act["body"]
            msg = self.in_dialog(st, side, method, kind, seed)
            side.send(msg)
            # The other side answers what reached it.
            got = self.settle()
            self.check(seq, f"{op} (request)", got)
            for s2, msgs in got.items():
                self.absorb(st, s2, msgs)
            oth = self.sides["out" if side.name == "in" else "in"]
            for r in got[oth.name]:
                if r.is_request and r.method == method:
                    code = act.get("code", 200)
                    kind = act.get("answer", "none") if code < 300 else "none"
                    if method in ("BYE", "INFO"):
                        kind = "none"
                    oth.send(self.respond(oth, r, code, kind, seed + 1, "x"))
                    if method == "INVITE" and code < 300:
                        got2 = self.settle()
                        self.check(seq, f"{op} (answer)", got2)
                        for r2 in got2[side.name]:
                            if not r2.is_request and r2.status < 300:
                                ack = self.in_dialog(st, side, "ACK", "none", seed)
                                side.send(ack)
        else:
            raise ValueError(op)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pfx", required=True)
    ap.add_argument("--certs", required=True)
    ap.add_argument("--gw-pidfile", required=True,
                    help="holds the gateway's PID once it runs")
    ap.add_argument("--ready")
    ap.add_argument("--seconds", type=float, default=0)
    ap.add_argument("--count", type=int, default=0)
    ap.add_argument("--seed", type=int)
    ap.add_argument("--replay", action="append", default=[])
    ap.add_argument("--save-corpus")
    ap.add_argument("--findings")
    a = ap.parse_args()
    seed = a.seed if a.seed is not None else int(time.time()) % 1000000
    print(f"seqfuzz: seed {seed}", flush=True)
    r = Runner(a)
    start = time.time()
    replayed = 0
    for path in a.replay:
        files = ([os.path.join(path, f) for f in sorted(os.listdir(path))
                  if f.endswith(".json")] if os.path.isdir(path) else [path])
        for f in files:
            seq = json.load(open(f))
            if not r.run(seq, "corpus"):
                print(f"FINDING in corpus file {f}", flush=True)
            replayed += 1
    n = 0
    while True:
        if a.count and n >= a.count:
            break
        if a.seconds and time.time() - start >= a.seconds:
            break
        if not a.count and not a.seconds:
            break
        seq = generate(seed + n)
        held = r.run(seq, "gen")
        if a.save_corpus:
            with open(os.path.join(a.save_corpus, f"seed-{seed + n}.json"), "w") as f:
                json.dump(seq, f, indent=1)
        if not held and a.findings:
            os.makedirs(a.findings, exist_ok=True)
            with open(os.path.join(a.findings, f"finding-{seed + n}.json"), "w") as f:
                json.dump(seq, f, indent=1)
        n += 1
    el = time.time() - start
    print(f"seqfuzz: {r.execs} sequences ({replayed} from the corpus, {n}"
          f" generated from seed {seed}), {r.msgs} actions in {el:.1f} s;"
          f" findings: {len(r.findings)}", flush=True)
    for s, where, what in r.findings[:20]:
        print(f"  seed {s} at {where}: {what}  (replay: --seed {s} --count 1)")
    return 1 if r.findings else 0


if __name__ == "__main__":
    sys.exit(main())
