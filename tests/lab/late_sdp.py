#!/usr/bin/env python3
"""Seen item 2 of issue 7, played message by message (test_lab_late_sdp.sh).

  phone (plain UDP, phone LAN) -> gwa (client role, media = srtp)
      ==TLS==> Kamailio (pbx-tls.cfg) ==TLS==> far end (SRTP mandatory)

The far end is this script over TLS (a client certificate, registered over
its own connection so that Kamailio reaches it there), the phone a UDP
socket on the phone LAN.  The sequence:
  1. far registers; phone calls far: far gets RTP/SAVP + a=crypto, answers
     200 with RTP/SAVP + its a=crypto; the phone sees RTP/AVP, ACKs;
  2. the phone hangs up: its BYE crosses, the far end answers it 503; the
     gateway has ended the call;
  3. the far end (which, like the softphone of the issue, never saw the
     dialog end) retransmits its 200 OK with RTP/SAVP and a=crypto
     (--retransmissions times) and sends a hold re-INVITE (RTP/SAVP,
     a=crypto, a=sendonly).
The phone answers a re-INVITE for its ended dialog 481 itself, as a real
phone does.  Prints what each side received; exit 0 when the phone got no
message carrying a=crypto / RTP/SAVP / a=fingerprint and the far end's
re-INVITE was refused (481 from the gateway), 1 otherwise.
"""
import argparse
import json
import sys
import time

from nsua import (TlsEndpoint, UdpEndpoint, build, key_b64, plain_rtp_in,
                  response_to, route_set, sdp, secrets_in, uri_of)

PHONE = "198.18.1.10"
GWA_IN = "198.18.1.1"
KAM = "198.18.2.10"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pfx", required=True, help="lab namespace prefix")
    ap.add_argument("--far-ns", default="far")
    ap.add_argument("--far", default="198.18.2.20")
    ap.add_argument("--certs", required=True)
    ap.add_argument("--retransmissions", type=int, default=4)
    ap.add_argument("--out", help="write the result here (JSON)")
    a = ap.parse_args()
    res = {"checks": [], "failed": []}

    def check(cond, what):
        res["checks"].append(what)
        if not cond:
            res["failed"].append(what)
            print("FAIL:", what, flush=True)
        else:
            print("ok:", what, flush=True)

    far_contact = f"<sip:bob@{a.far}:5071;transport=tls>"
    far = TlsEndpoint("far", f"{a.pfx}-{a.far_ns}", a.far, 5071, (KAM, 5061),
                      f"{a.certs}/bob.crt", f"{a.certs}/bob.key",
                      f"{a.certs}/ca.crt", server_name="pbx.lab.test")
    phone = UdpEndpoint("phone", f"{a.pfx}-phones", PHONE, 5060,
                        (GWA_IN, 5060))
    cid = f"late-sdp-{int(time.time() * 1000)}@{PHONE}"

    # 1. Registration and the call.
    far.send(build("REGISTER sip:pbx.lab.test SIP/2.0", [
        ("Via", f"SIP/2.0/TLS {a.far}:5071;branch=z9hG4bK-lsreg;rport"),
        ("Max-Forwards", "70"), ("From", "<sip:bob@pbx.lab.test>;tag=rb1"),
        ("To", "<sip:bob@pbx.lab.test>"), ("Call-ID", f"reg-{cid}"),
        ("CSeq", "1 REGISTER"), ("Contact", far_contact),
        ("Expires", "300")]))
    r = far.wait_for(lambda m: not m.is_request and "REGISTER" in m.get("CSeq"))
    check(r is not None and r.status == 200, "far end registered with Kamailio over TLS")

    invite = build(f"INVITE sip:bob@pbx.lab.test SIP/2.0", [
        ("Via", f"SIP/2.0/UDP {PHONE}:5060;branch=z9hG4bK-ls1;rport"),
        ("Max-Forwards", "70"), ("From", "<sip:alice@pbx.lab.test>;tag=a1"),
        ("To", "<sip:bob@pbx.lab.test>"), ("Call-ID", cid),
        ("CSeq", "1 INVITE"), ("Contact", f"<sip:alice@{PHONE}:5060>"),
        ("Content-Type", "application/sdp")], sdp(PHONE, 10000))
    phone.send(invite)
    inv = far.wait_for(lambda m: m.is_request and m.method == "INVITE", 5)
    check(inv is not None, "the INVITE reached the far end")
    if inv is None:
        return finish(res, a, phone, far)
    body = inv.body
    check(b"RTP/SAVP" in body and b"a=crypto:1 AES_CM_128_HMAC_SHA1_80" in body,
          "the far end was offered RTP/SAVP with a=crypto")
    ok200 = response_to(inv, 200, "OK", [
        ("Contact", far_contact), ("Content-Type", "application/sdp")],
        sdp(a.far, 7078, "RTP/SAVP",
            [f"1 AES_CM_128_HMAC_SHA1_80 inline:{key_b64()}"]), to_tag="far1")
    far.send(ok200)
    r = phone.wait_for(lambda m: not m.is_request and m.status == 200 and
                       "INVITE" in m.get("CSeq"), 5)
    check(r is not None, "the phone got the 200 OK")
    if r is None:
        return finish(res, a, phone, far)
    check(b"RTP/AVP" in r.body and not secrets_in(r.body),
          "the phone's 200 OK is plain RTP/AVP without secrets")
    routes = route_set(r, uac=True)
    target = uri_of(r.get("Contact"))
    to = r.get("To")

    def in_dialog(method, cseq, branch):
        return build(f"{method} {target} SIP/2.0", [
            ("Via", f"SIP/2.0/UDP {PHONE}:5060;branch=z9hG4bK-{branch};rport"),
            ("Max-Forwards", "70")] + [("Route", x) for x in routes] + [
            ("From", "<sip:alice@pbx.lab.test>;tag=a1"), ("To", to),
            ("Call-ID", cid), ("CSeq", f"{cseq} {method}")])
    phone.send(in_dialog("ACK", 1, "ls1ack"))
    check(far.wait_for(lambda m: m.is_request and m.method == "ACK", 5)
          is not None, "the ACK reached the far end")

    # 2. BYE, answered 503 by the far end.
    phone.send(in_dialog("BYE", 2, "ls2"))
    bye = far.wait_for(lambda m: m.is_request and m.method == "BYE", 5)
    check(bye is not None, "the BYE reached the far end")
    if bye is not None:
        far.send(response_to(bye, 503, "Service Unavailable", to_tag="far1"))
    r = phone.wait_for(lambda m: not m.is_request and "BYE" in m.get("CSeq"), 5)
    # A proxy turns a 503 into 500 (RFC 3261 §16.7 step 6): Kamailio does.
    check(r is not None and r.status in (500, 503),
          f"the phone's BYE got the 503 (or Kamailio's 500): {r.start if r else None}")
    mark = len(phone.got)

    # 3. The far end's late messages: retransmitted 200 OKs, hold re-INVITE.
    for i in range(a.retransmissions):
        far.send(ok200)
        far.poll(0.25 * (i + 1))
    reinv = build(f"INVITE {uri_of(inv.get('Contact'))} SIP/2.0", [
        ("Via", f"SIP/2.0/TLS {a.far}:5071;branch=z9hG4bK-lshold;rport"),
        ("Max-Forwards", "70")] + [("Route", x) for x in route_set(inv, uac=False)] + [
        ("From", "<sip:bob@pbx.lab.test>;tag=far1"),
        ("To", "<sip:alice@pbx.lab.test>;tag=a1"), ("Call-ID", cid),
        ("CSeq", "1 INVITE"), ("Contact", far_contact),
        ("Content-Type", "application/sdp")],
        sdp(a.far, 7078, "RTP/SAVP",
            [f"1 AES_CM_128_HMAC_SHA1_80 inline:{key_b64()}"], "a=sendonly\r\n",
            sess_id=2))
    far.send(reinv)
    # A real phone answers a re-INVITE for a dialog it ended with 481.
    end = time.time() + 6
    final = None
    while time.time() < end and final is None:
        phone.poll(0.1)
        far.poll(0.05)
        for m in phone.take_all():
            if m.is_request and m.method == "INVITE":
                phone.send(response_to(m, 481, "Call/Transaction Does Not Exist",
                                       to_tag="a1"), (GWA_IN, 5060))
        for m in far.take_all():
            if not m.is_request and m.status >= 200 and \
                    "lshold" in (m.get("Via") or ""):
                final = m
                far.send(build(f"ACK {uri_of(inv.get('Contact'))} SIP/2.0", [
                    ("Via", f"SIP/2.0/TLS {a.far}:5071;branch=z9hG4bK-lshold;rport"),
                    ("Max-Forwards", "70")] +
                    [("Route", x) for x in route_set(inv, uac=False)] + [
                    ("From", "<sip:bob@pbx.lab.test>;tag=far1"),
                    ("To", m.get("To")), ("Call-ID", cid),
                    ("CSeq", "1 ACK")]))
    phone.poll(1.0)
    after = phone.got[mark:]
    res["phone_after_end"] = [m.start for m in after]
    res["reinvite_final"] = final.start if final is not None else None
    check(final is not None and final.status == 481,
          f"the far end's hold re-INVITE is refused with 481: {res['reinvite_final']}")
    check(all(not (m.is_request and m.method == "INVITE") for m in after),
          f"no re-INVITE reached the phone: {res['phone_after_end']}")
    check(all(m.is_request or "INVITE" not in m.get("CSeq") for m in after),
          f"no retransmitted 200 OK reached the phone: {res['phone_after_end']}")
    return finish(res, a, phone, far)


def finish(res, a, phone, far):
    leaks = [(m.start, secrets_in(m.raw)) for m in phone.got if secrets_in(m.raw)]
    res["phone_messages"] = len(phone.got)
    res["phone_messages_with_secrets"] = len(leaks)
    res["leaks"] = leaks
    res["far_messages"] = len(far.got)
    res["far_got"] = [m.start for m in far.got]
    res["far_plain_rtp_sdp"] = sum(1 for m in far.got if plain_rtp_in(m.body))
    print(f"phone received {len(phone.got)} messages, {len(leaks)} with"
          f" a=crypto/RTP/SAVP/a=fingerprint: {leaks}")
    print(f"far end received {len(far.got)} messages, "
          f"{res['far_plain_rtp_sdp']} with an RTP/AVP SDP")
    if leaks:
        res["failed"].append("secrets reached the phone")
    if res["far_plain_rtp_sdp"]:
        res["failed"].append("RTP/AVP reached the far end")
    if a.out:
        with open(a.out, "w") as f:
            json.dump(res, f, indent=1)
    print("verdict:", "PASS" if not res["failed"] else
          f"FAIL ({len(res['failed'])}: {res['failed']})")
    return 0 if not res["failed"] else 1


if __name__ == "__main__":
    sys.exit(main())
