/* SPDX-License-Identifier: MIT */
/*
 * fuzz_token.c: libFuzzer target for the flow-token codec (gateway/token.c).
 * Tokens come back from the network in Request-URIs and Route headers, so
 * sg_token_decode() reads attacker bytes; behind its HMAC check it reads
 * bytes only we signed. The first input byte picks what the rest is:
 *  0: a URI user part, decoded as it is (the network path: base64, sizes,
 *     the MAC check, in constant time);
 *  1: the raw layout of a token, signed here with the fixed key and
 *     encoded, so the fuzzer reaches the code behind the MAC;
 *  2: the fields of a token, encoded and decoded again.
 * Whatever decodes must encode again and decode to the same token.
 * Built with -fsanitize=fuzzer,address,undefined, or linked with replay.c.
 */
#include <errno.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "token.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAC_LEN 12		/* token.c TOKEN_MAC_LEN */

static const struct sg_token_key key = { {
	0x60, 0x3d, 0xeb, 0x10, 0x15, 0xca, 0x71, 0xbe, 0x2b, 0x73, 0xae,
	0xf0, 0x85, 0x7d, 0x77, 0x81, 0x1f, 0x35, 0x2c, 0x07, 0x3b, 0x61,
	0x08, 0xd7, 0x2d, 0x98, 0x10, 0xa3, 0x09, 0x14, 0xdf, 0xf4,
} };

static bool same(const struct sg_token *a, const struct sg_token *b)
{
	if (a->kind != b->kind || a->issued != b->issued ||
	    a->addr.ss_family != b->addr.ss_family ||
	    strcmp(a->uri, b->uri) != 0)
		return false;
	if (a->addr.ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)&a->addr;
		const struct sockaddr_in *y = (const void *)&b->addr;

		return x->sin_port == y->sin_port &&
		    x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->addr.ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)&a->addr;
		const struct sockaddr_in6 *y = (const void *)&b->addr;

		return x->sin6_port == y->sin6_port &&
		    memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0;
	}
	return false;
}

/* t decoded: it encodes again, and that decodes to the same token. */
static void check_decoded(const struct sg_token *t)
{
	char s[SG_TOKEN_MAX + 1];
	struct sg_token back;
	int n;

	if (t->kind > SG_XPORT_TLS || strlen(t->uri) > SG_TOKEN_MAX_URI)
		abort();
	n = sg_token_encode(&key, t, s, sizeof(s));
	if (n < 0 || n > SG_TOKEN_MAX || !sg_token_is_token(sg_str_make(s,
	    (size_t)n)))
		abort();
	if (sg_token_decode(&key, sg_str_make(s, (size_t)n), &back) != 0 ||
	    !same(t, &back))
		abort();
}

static void decode_as_is(const uint8_t *p, size_t n)
{
	struct sg_token t;
	int rc = sg_token_decode(&key, sg_str_make((const char *)p, n), &t);

	if (rc == 0)
		check_decoded(&t);
	else if (rc != -EBADMSG && rc != -EPERM)
		abort();
}

/* Sign raw with the fixed key, encode it as a token, decode it. */
static void decode_signed(const uint8_t *p, size_t n)
{
	uint8_t raw[1024];
	uint8_t mac[32];
	char tok[2048];
	gnutls_datum_t in, b64 = { NULL, 0 };
	size_t len;

	if (n + MAC_LEN > sizeof(raw))
		return;
	memcpy(raw, p, n);
	if (gnutls_hmac_fast(GNUTLS_MAC_SHA256, key.k, sizeof(key.k), raw, n,
	    mac) < 0)
		abort();
	memcpy(raw + n, mac, MAC_LEN);
	in.data = raw;
	in.size = (unsigned)(n + MAC_LEN);
	if (gnutls_base64_encode2(&in, &b64) < 0)
		abort();
	len = strlen(SG_TOKEN_PREFIX);
	if (len + b64.size < sizeof(tok)) {
		memcpy(tok, SG_TOKEN_PREFIX, len);
		memcpy(tok + len, b64.data, b64.size);
		decode_as_is((const uint8_t *)tok, len + b64.size);
	}
	gnutls_free(b64.data);
}

static void encode_fields(const uint8_t *p, size_t n)
{
	struct sg_token t, back;
	char s[SG_TOKEN_MAX + 1];
	size_t ulen;
	int rc;

	if (n < 1 + 1 + 16 + 2 + 4)
		return;
	memset(&t, 0, sizeof(t));
	t.kind = (enum sg_xport_kind)(p[0] % 3);
	if (p[1] & 1) {
		struct sockaddr_in6 *a = (void *)&t.addr;

		a->sin6_family = AF_INET6;
		memcpy(&a->sin6_addr, p + 2, 16);
		memcpy(&a->sin6_port, p + 18, 2);
	} else {
		struct sockaddr_in *a = (void *)&t.addr;

		a->sin_family = AF_INET;
		memcpy(&a->sin_addr, p + 2, 4);
		memcpy(&a->sin_port, p + 18, 2);
	}
	memcpy(&t.issued, p + 20, 4);
	p += 24;
	n -= 24;
	ulen = strnlen((const char *)p, n);
	if (ulen > SG_TOKEN_MAX_URI)
		ulen = SG_TOKEN_MAX_URI;
	memcpy(t.uri, p, ulen);
	rc = sg_token_encode(&key, &t, s, sizeof(s));
	if (rc < 0)
		abort();	/* every URI up to SG_TOKEN_MAX_URI fits */
	if (sg_token_decode(&key, sg_str_make(s, (size_t)rc), &back) != 0 ||
	    !same(&t, &back))
		abort();
	/* One flipped character of the token is refused. */
	s[strlen(SG_TOKEN_PREFIX) + (size_t)rc % 7] ^= 0x01;
	if (sg_token_decode(&key, sg_str_make(s, (size_t)rc), &back) == 0 &&
	    !same(&t, &back))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	switch (data[0] % 3) {
	case 0:
		decode_as_is(data + 1, size - 1);
		break;
	case 1:
		decode_signed(data + 1, size - 1);
		break;
	default:
		encode_fields(data + 1, size - 1);
		break;
	}
	return 0;
}
