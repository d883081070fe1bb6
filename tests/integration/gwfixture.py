"""A single sipsgate on loopback with a Python phone (UDP) inside and a
Python TLS peer (OpenSSL) outside, for the media tests."""
import base64
import os
import re
import socket
import ssl
import subprocess

from sipmsg import die_with_parent, StreamPeer, UdpPhone, build, free_ports, response_to

SIPSGATE = os.environ.get("SIPSGATE", "build/sipsgate")


def sdp(port, crypto=(), proto="RTP/AVP", addr="127.0.0.1", extra=""):
    s = (f"v=0\r\no=- 1 1 IN IP4 {addr}\r\ns=-\r\nc=IN IP4 {addr}\r\nt=0 0\r\n"
         f"m=audio {port} {proto} 0 101\r\na=rtpmap:0 PCMU/8000\r\n"
         f"a=rtpmap:101 telephone-event/8000\r\na=sendrecv\r\n{extra}")
    for c in crypto:
        s += f"a=crypto:{c}\r\n"
    return s.encode()


def key(n):
    return base64.b64encode(os.urandom(n)).decode()


class Gateway:
    def __init__(self, tmp, certs, policy, suites, name=None, extra=""):
        if "rtp-ports" not in extra:
            extra += "\nrtp-ports = 32000-32999"
        self.p_in, self.p_out, self.p_peer = free_ports(3)
        name = name or policy
        self.ctl = os.path.join(tmp, f"ctl-{name}.sock")
        conf = self.conf = os.path.join(tmp, f"gw-{name}.conf")
        with open(conf, "w") as f:
            f.write(f"""control = {self.ctl}
log-level = debug
[gw]
accept = udp:127.0.0.1:{self.p_in}
accept = tls:127.0.0.1:{self.p_out}
connect = tls:127.0.0.1:{self.p_peer}
cert = {certs}/gw-a.crt
key = {certs}/gw-a.key
ca = {certs}/ca.crt
media = {policy}
srtp-suites = {suites}
{extra}

""")
        sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        sctx.load_cert_chain(f"{certs}/pbx.crt", f"{certs}/pbx.key")
        sctx.load_verify_locations(f"{certs}/ca.crt")
        sctx.verify_mode = ssl.CERT_REQUIRED
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", self.p_peer))
        ls.listen(2)
        self.logpath = os.path.join(tmp, f"gw-{name}.log")
        self.log = open(self.logpath, "w")
        self.proc = subprocess.Popen([SIPSGATE, "-c", conf], stderr=self.log,
                             preexec_fn=die_with_parent)
        ls.settimeout(5)
        c, _ = ls.accept()
        self.peer = StreamPeer(sctx.wrap_socket(c, server_side=True))
        ls.close()
        self.phone = UdpPhone(self.p_in)

    def status(self):
        out = subprocess.run([SIPSGATE, "-s", self.ctl, "status"],
                             capture_output=True, text=True).stdout
        block = out.split("\nservice ")[0]	# the first service: [gw]
        return out, dict((k, int(v)) for k, v in
                         re.findall(r"^\s+(\w+)\s+(\d+)$", block, re.M))

    def stop(self, check, failures):
        self.proc.terminate()
        try:
            rc = self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = "hung"
        self.log.close()
        check(rc == 0, f"daemon exits cleanly: {rc}")
        if failures:
            print(open(self.logpath).read()[-4000:])

    def invite_from_phone(self, cid, media_port):
        ph = self.phone
        return build("INVITE sip:bob@pbx.lab.test SIP/2.0", [
            ("Via", f"SIP/2.0/UDP 127.0.0.1:{ph.port};branch=z9hG4bK{cid};rport"),
            ("Max-Forwards", "70"),
            ("From", f"<sip:alice@pbx.lab.test>;tag=a{cid}"),
            ("To", "<sip:bob@pbx.lab.test>"),
            ("Call-ID", cid), ("CSeq", "1 INVITE"),
            ("Contact", f"<sip:alice@127.0.0.1:{ph.port}>"),
            ("Content-Type", "application/sdp")], sdp(media_port))

    def register_phone(self):
        ph = self.phone
        ph.send(build("REGISTER sip:pbx.lab.test SIP/2.0", [
            ("Via", f"SIP/2.0/UDP 127.0.0.1:{ph.port};branch=z9hG4bKr;rport"),
            ("Max-Forwards", "70"), ("From", "<sip:alice@pbx.lab.test>;tag=r"),
            ("To", "<sip:alice@pbx.lab.test>"), ("Call-ID", "reg"),
            ("CSeq", "1 REGISTER"),
            ("Contact", f"<sip:alice@127.0.0.1:{ph.port}>")]))
        m = self.peer.recv()
        self.peer.send(response_to(m, 200, "OK"))
        self.phone.recv()
        return m.get("Contact").strip("<>")

    def invite_from_peer(self, cid, ruri, body):
        return build(f"INVITE {ruri} SIP/2.0", [
            ("Via", f"SIP/2.0/TLS 127.0.0.1:{self.p_peer};branch=z9hG4bK{cid}"),
            ("Max-Forwards", "70"),
            ("From", f"<sip:carol@pbx.lab.test>;tag=c{cid}"),
            ("To", "<sip:alice@pbx.lab.test>"),
            ("Call-ID", cid), ("CSeq", "1 INVITE"),
            ("Contact", f"<sip:carol@127.0.0.1:{self.p_peer};transport=tls>"),
            ("Content-Type", "application/sdp")], body)


