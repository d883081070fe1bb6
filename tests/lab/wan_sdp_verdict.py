#!/usr/bin/env python3
"""The outside half of the media invariant (DESIGN §4), on a WAN capture:
the SIP there is TLS, so it is decrypted with the gateways' TLS key logs
(GnuTLS writes one where SSLKEYLOGFILE points; lab_gw_start sets it), and
no SIP message sent by a gateway with media = srtp (--srtp-from ADDRESS)
may carry an SDP m= line with a plain RTP profile (RTP/AVP, RTP/AVPF).

usage: wan_sdp_verdict.py CAPTURE --keylog FILE [--keylog FILE]...
                          [--srtp-from ADDRESS]... [--min-sdp N]
Every TLS stream whose handshake is in the capture must decrypt, or the
verdict fails (it could not look); a stream that began before the capture
cannot be decrypted and is reported as not checked.  Exit 0
when no such SDP left, 1 otherwise."""
import argparse
import sys

from sipcap import PLAIN_M_RE, stream_messages


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("capture")
    ap.add_argument("--keylog", action="append", default=[])
    ap.add_argument("--srtp-from", action="append", default=[])
    ap.add_argument("--min-sdp", type=int, default=0)
    a = ap.parse_args()
    msgs, seen, hello = stream_messages(a.capture, "tls", a.keylog)
    gw = set(a.srtp_from)

    def host(ep):
        return ep.rsplit(":", 1)[0]
    mine = [m for m in msgs if host(m.src) in gw]
    sdps = [m for m in mine if PLAIN_M_RE.search(m.body) or b"\nm=" in m.body]
    bad = [m for m in mine if PLAIN_M_RE.search(m.data)]
    # A stream whose handshake the capture holds must decrypt; one that
    # started before the capture cannot (no client random): said, not failed.
    dark = [s for s, (n0, n1, nbytes) in seen.items()
            if nbytes == 0 and s in hello]
    late = [s for s, (n0, n1, nbytes) in seen.items()
            if nbytes == 0 and s not in hello]
    print(f"wan_sdp_verdict {a.capture}: {len(seen)} TLS streams with data,"
          f" {len(seen) - len(dark) - len(late)} decrypted; {len(msgs)} SIP messages,"
          f" {len(mine)} from {sorted(gw) or 'no gateway'}, {len(sdps)} of"
          f" them with SDP, {len(bad)} offering or accepting plain RTP")
    for m in bad[:20]:
        print(f"  PLAIN {m.where} {m.src} -> {m.dst}: {m.start!r}:",
              [x.group(0).decode() for x in PLAIN_M_RE.finditer(m.data)])
    for s in dark:
        print(f"  could not decrypt TLS stream {s} {seen[s][:2]}")
    for s in late:
        print(f"  TLS stream {s}: its handshake is not in the capture,"
              " cannot be decrypted (not checked)")
    ok = not bad and not dark and len(sdps) >= a.min_sdp
    if len(sdps) < a.min_sdp:
        print(f"  only {len(sdps)} SDP bodies from the gateways, want >= {a.min_sdp}")
    print("verdict:", "no RTP/AVP left a gateway's outside" if ok else "FAIL")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
