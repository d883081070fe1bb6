/* SPDX-License-Identifier: MIT */
/*
 * fuzz_sdp_crypto.c: libFuzzer target for the a=crypto helpers of
 * gateway/sdp.c (RFC 4568 §9.1): sg_sdp_crypto_parse(),
 * sg_sdp_crypto_key() and sg_sdp_crypto_has_param(), on the input as one
 * attribute value. fuzz_sdp reaches them only behind a whole SDP; here
 * every byte is the value. Checks:
 *  - parsed fields are views inside the value, in order;
 *  - the key decoded by GnuTLS equals the one of a plain base64 decoder
 *    written here (RFC 4648 §4, padding optional), and fits its buffer;
 *  - a key that decodes, written back by sg_sdp_write() with the parsed
 *    tag, suite and session parameters, parses back to the same.
 * Built with -fsanitize=fuzzer,address,undefined, or linked with replay.c.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sdp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile size_t sink;

static bool inside(struct sg_str in, struct sg_str part)
{
	return part.len == 0 || (part.p >= in.p &&
	    part.p + part.len <= in.p + in.len);
}

static int b64(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	return c == '+' ? 62 : c == '/' ? 63 : -1;
}

/*
 * Reference decoder: "inline:" then base64 with at most two '=' at the
 * end. The unused low bits of the last character must be zero (RFC 4648
 * §3.5 canonical encoding: GnuTLS refuses others, and so do we; a real key
 * encoder never sets them). Returns the length or -1; -2 when the
 * key-params are declined.
 */
static int ref_key(struct sg_str kp, uint8_t *out, size_t outsz)
{
	size_t n, i, pad = 0, o = 0;
	uint32_t acc = 0;
	int bits = 0;

	if (kp.len < 7 || !sg_str_caseeq_lit(sg_str_make(kp.p, 7), "inline:"))
		return -2;
	if (memchr(kp.p, ';', kp.len) || memchr(kp.p, '|', kp.len))
		return -2;
	kp = sg_str_make(kp.p + 7, kp.len - 7);
	n = kp.len;
	while (n > 0 && kp.p[n - 1] == '=' && pad < 2) {
		n--;
		pad++;
	}
	if (n == 0 || n % 4 == 1 || (pad > 0 && (n + pad) % 4 != 0))
		return -1;
	for (i = 0; i < n; i++) {
		int v = b64(kp.p[i]);

		if (v < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (o == outsz)
				return -1;
			out[o++] = (uint8_t)(acc >> bits);
		}
	}
	if ((acc & ((1u << bits) - 1)) != 0)
		return -1;
	return (int)o;
}

/* Copy a view into a NUL-terminated buffer; false if it does not fit. */
static bool cstr(char *dst, size_t dsz, struct sg_str s)
{
	if (s.len >= dsz)
		return false;
	memcpy(dst, s.p, s.len);
	dst[s.len] = '\0';
	return true;
}

/* Write c back with sg_sdp_write() and parse it again. */
static void roundtrip(const struct sg_sdp_crypto *c, const uint8_t *key,
		      int keylen)
{
	static const char body[] = "v=0\r\nc=IN IP4 10.0.0.1\r\n"
	    "m=audio 4000 RTP/AVP 0\r\n";
	char suite[128], params[1024], out[4096];
	struct sg_sdp_rewrite rw;
	struct sg_sdp sdp, back;
	struct sg_perr err;
	uint8_t k2[SG_SDP_MAX_KEY];
	ssize_t n;

	if (!cstr(suite, sizeof(suite), c->suite) ||
	    !cstr(params, sizeof(params), c->session_params))
		return;
	if (sg_sdp_parse(&sdp, body, sizeof(body) - 1, &err) != 0)
		abort();
	memset(&rw, 0, sizeof(rw));
	rw.addr = "203.0.113.7";
	rw.nmedia = 1;
	rw.media[0].port = 40000;
	rw.media[0].secure = true;
	rw.media[0].ncrypto = 1;
	rw.media[0].crypto[0].tag = c->tag;
	rw.media[0].crypto[0].suite = suite;
	rw.media[0].crypto[0].key = key;
	rw.media[0].crypto[0].keylen = (size_t)keylen;
	rw.media[0].crypto[0].params = params;
	n = sg_sdp_write(&sdp, body, sizeof(body) - 1, &rw, out, sizeof(out));
	if (n == -EINVAL) {
		/* The writer refuses session params with a tab: fine. */
		if (memchr(params, '\t', strlen(params)) == NULL)
			abort();
		return;
	}
	if (n < 0)
		abort();
	if (sg_sdp_parse(&back, out, (size_t)n, &err) != 0 ||
	    back.nmedia != 1 || back.media[0].ncrypto != 1)
		abort();
	if (back.media[0].crypto[0].tag != c->tag ||
	    !sg_str_eq(back.media[0].crypto[0].suite, c->suite) ||
	    !sg_str_eq(back.media[0].crypto[0].session_params,
	    c->session_params))
		abort();
	if (sg_sdp_crypto_key(&back.media[0].crypto[0], k2, sizeof(k2)) !=
	    keylen || memcmp(k2, key, (size_t)keylen) != 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sg_str in = sg_str_make((const char *)data, size), tok, rest;
	struct sg_sdp_crypto c;
	uint8_t key[SG_SDP_MAX_KEY], ref[SG_SDP_MAX_KEY + 8];
	char name[64];
	int n, r;

	if (sg_sdp_crypto_parse(in, &c) < 0)
		return 0;
	if (!inside(in, c.suite) || !inside(in, c.key_params) ||
	    !inside(in, c.session_params) || !inside(in, c.value) ||
	    c.suite.len == 0 || c.key_params.len == 0 ||
	    c.suite.p >= c.key_params.p ||
	    (c.session_params.len > 0 && c.session_params.p <
	    c.key_params.p + c.key_params.len) || c.tag > 999999999u)
		abort();

	n = sg_sdp_crypto_key(&c, key, sizeof(key));
	r = ref_key(c.key_params, ref, sizeof(key));
	if (n > (int)sizeof(key) || n == 0)
		abort();
	if (n == -ENOTSUP) {
		if (r != -2)
			abort();
	} else if (n < 0) {
		/* Refused: the reference must refuse too, or find it too long
		 * for SDP_B64_MAX (256 base64 characters: 192 bytes). */
		if (r >= 0 && r <= (int)sizeof(key))
			abort();
	} else if (r != n || memcmp(key, ref, (size_t)n) != 0) {
		abort();
	}
	/* A buffer one byte short fails cleanly. */
	if (n > 1 && sg_sdp_crypto_key(&c, key, (size_t)n - 1) >= 0)
		abort();

	/* Every session parameter is found by its name. */
	rest = c.session_params;
	while (rest.len > 0) {
		size_t i = 0, eq;

		while (i < rest.len && (rest.p[i] == ' ' || rest.p[i] == '\t'))
			i++;
		tok = sg_str_make(rest.p + i, 0);
		while (i < rest.len && rest.p[i] != ' ' && rest.p[i] != '\t') {
			i++;
			tok.len++;
		}
		rest = sg_str_make(rest.p + i, rest.len - i);
		for (eq = 0; eq < tok.len && tok.p[eq] != '='; eq++)
			;
		if (eq > 0 &&
		    cstr(name, sizeof(name), sg_str_make(tok.p, eq)) &&
		    !sg_sdp_crypto_has_param(&c, name))
			abort();
	}
	sink += sg_sdp_crypto_has_param(&c, "UNENCRYPTED_SRTCP");

	if (n > 0) {
		sg_sdp_crypto_key(&c, key, sizeof(key));
		roundtrip(&c, key, n);
	}
	return 0;
}
