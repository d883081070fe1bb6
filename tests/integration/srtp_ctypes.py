"""The project's libsrtp2 wrapper (gateway/srtp.c, built as a shared library
for tests) through ctypes, so that Python peers speak SRTP. The wrapper is
itself checked against RFC 3711 Appendix B in tests/unit/test_srtp.c."""
import ctypes
import os

SUITES = {"AES_CM_128_HMAC_SHA1_80": 0, "AES_CM_128_HMAC_SHA1_32": 1,
          "AEAD_AES_128_GCM": 2, "AEAD_AES_256_GCM": 3,
          "AES_256_CM_HMAC_SHA1_80": 4}
_lib = None


def lib():
    global _lib
    if _lib is None:
        _lib = ctypes.CDLL(os.environ.get("SG_SRTP_LIB",
                                          "build/tests/libsg_srtp_py.so"))
        _lib.sg_srtp_global_init()
    return _lib


class SrtpError(Exception):
    pass


class Srtp:
    """One direction of SRTP for any SSRC."""

    def __init__(self, suite, key, outbound, rtcp_plain=False):
        self.ctx = ctypes.create_string_buffer(64)
        rc = lib().sg_srtp_init_ex(self.ctx, SUITES[suite], key, len(key),
                                  bool(outbound), bool(rtcp_plain))
        if rc != 0:
            raise SrtpError(f"sg_srtp_init_ex: {rc}")

    def _run(self, fn, pkt):
        buf = ctypes.create_string_buffer(bytes(pkt), len(pkt) + 256)
        n = ctypes.c_int(len(pkt))
        rc = fn(self.ctx, buf, ctypes.byref(n))
        if rc != 0:
            raise SrtpError(str(rc))
        return buf.raw[:n.value]

    def protect(self, pkt):
        return self._run(lib().sg_srtp_protect, pkt)

    def unprotect(self, pkt):
        return self._run(lib().sg_srtp_unprotect, pkt)

    def protect_rtcp(self, pkt):
        return self._run(lib().sg_srtp_protect_rtcp, pkt)

    def unprotect_rtcp(self, pkt):
        return self._run(lib().sg_srtp_unprotect_rtcp, pkt)

    def __del__(self):
        try:
            lib().sg_srtp_close(self.ctx)
        except Exception:
            pass


def rtp(seq, ssrc=0x11223344, ts=None, payload=None, pt=0):
    """An RTP packet (RFC 3550) with a 160-byte payload by default."""
    ts = seq * 160 if ts is None else ts
    payload = payload if payload is not None else bytes(
        (seq * 7 + i) & 0xff for i in range(160))
    return bytes([0x80, pt & 0x7f, (seq >> 8) & 0xff, seq & 0xff]) + \
        (ts & 0xffffffff).to_bytes(4, "big") + ssrc.to_bytes(4, "big") + \
        payload


def rtcp_sr(ssrc=0x11223344):
    """A minimal RTCP sender report (RFC 3550 §6.4.1), no report blocks."""
    return bytes([0x80, 200, 0, 6]) + ssrc.to_bytes(4, "big") + bytes(20)
