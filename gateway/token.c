/* SPDX-License-Identifier: MIT */
/*
 * token.c: HMAC-signed flow tokens carried in the user part of the Contact
 * URIs the gateway writes on REGISTER (DESIGN §3, RFC 5626 §5.2 idea).
 * Layout before base64: version (2), transport, flags, family, address,
 * port, the peer id (16 bytes, with SG_TOKEN_F_PEER_ID only), issue time,
 * URI length, URI, then 12 bytes of HMAC-SHA256 over all of it. Version 1
 * (no flags, no id) still decodes, so bindings made by an older daemon with
 * the same token-key keep working.
 * Base64 and HMAC come from GnuTLS; the user part allows '+', '/', '='.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <netinet/in.h>
#include <string.h>

#include "token.h"

#define TOKEN_VERSION 2		/* 1 had no flags and no peer id */
#define TOKEN_VERSION_1 1
#define TOKEN_MAC_LEN 12
#define TOKEN_PREFIX_LEN (sizeof(SG_TOKEN_PREFIX) - 1)
#define TOKEN_MAX_RAW (4 + 16 + 2 + SG_TOKEN_ID_LEN + 4 + 1 + \
    SG_TOKEN_MAX_URI + TOKEN_MAC_LEN)

int sg_token_key_random(struct sg_token_key *key)
{
	if (gnutls_rnd(GNUTLS_RND_KEY, key->k, sizeof(key->k)) < 0)
		return -EIO;
	return 0;
}

static int mac(const struct sg_token_key *key, const uint8_t *p, size_t len,
	       uint8_t out[TOKEN_MAC_LEN])
{
	uint8_t d[32];

	if (gnutls_hmac_fast(GNUTLS_MAC_SHA256, key->k, sizeof(key->k), p, len,
	    d) < 0)
		return -EIO;
	memcpy(out, d, TOKEN_MAC_LEN);
	return 0;
}

/* Compare in constant time: a token check must not leak the MAC. */
static bool mac_equal(const uint8_t *a, const uint8_t *b, size_t len)
{
	uint8_t diff = 0;
	size_t i;

	for (i = 0; i < len; i++)
		diff |= a[i] ^ b[i];
	return diff == 0;
}

int sg_token_encode(const struct sg_token_key *key, const struct sg_token *t,
		    char *out, size_t outsz)
{
	uint8_t raw[TOKEN_MAX_RAW];
	gnutls_datum_t in, b64;
	size_t n = 0, urilen = strlen(t->uri);
	uint32_t issued = htonl(t->issued);
	int rc;

	if (urilen > SG_TOKEN_MAX_URI || urilen > UINT8_MAX)
		return -EINVAL;
	raw[n++] = TOKEN_VERSION;
	raw[n++] = (uint8_t)t->kind;
	raw[n++] = t->flags & (SG_TOKEN_F_PEER_ID | SG_TOKEN_F_LINK);
	if (t->addr.ss_family == AF_INET) {
		const struct sockaddr_in *a = (const void *)&t->addr;

		raw[n++] = 4;
		memcpy(raw + n, &a->sin_addr, 4);
		n += 4;
		memcpy(raw + n, &a->sin_port, 2);
	} else if (t->addr.ss_family == AF_INET6) {
		const struct sockaddr_in6 *a = (const void *)&t->addr;

		raw[n++] = 6;
		memcpy(raw + n, &a->sin6_addr, 16);
		n += 16;
		memcpy(raw + n, &a->sin6_port, 2);
	} else {
		return -EINVAL;
	}
	n += 2;
	if (t->flags & SG_TOKEN_F_PEER_ID) {
		memcpy(raw + n, t->id, SG_TOKEN_ID_LEN);
		n += SG_TOKEN_ID_LEN;
	}
	memcpy(raw + n, &issued, 4);
	n += 4;
	raw[n++] = (uint8_t)urilen;
	memcpy(raw + n, t->uri, urilen);
	n += urilen;
	if ((rc = mac(key, raw, n, raw + n)) < 0)
		return rc;
	n += TOKEN_MAC_LEN;

	in.data = raw;
	in.size = (unsigned)n;
	if (gnutls_base64_encode2(&in, &b64) < 0)
		return -ENOMEM;
	if (TOKEN_PREFIX_LEN + b64.size + 1 > outsz) {
		gnutls_free(b64.data);
		return -ENOSPC;
	}
	memcpy(out, SG_TOKEN_PREFIX, TOKEN_PREFIX_LEN);
	memcpy(out + TOKEN_PREFIX_LEN, b64.data, b64.size);
	out[TOKEN_PREFIX_LEN + b64.size] = '\0';
	rc = (int)(TOKEN_PREFIX_LEN + b64.size);
	gnutls_free(b64.data);
	return rc;
}

bool sg_token_is_token(struct sg_str user)
{
	return user.len > TOKEN_PREFIX_LEN &&
	    memcmp(user.p, SG_TOKEN_PREFIX, TOKEN_PREFIX_LEN) == 0;
}

int sg_token_decode(const struct sg_token_key *key, struct sg_str s,
		    struct sg_token *t)
{
	gnutls_datum_t in, raw = { NULL, 0 };
	uint8_t want[TOKEN_MAC_LEN];
	const uint8_t *p, *end;
	size_t n, alen, urilen;
	uint32_t issued;
	int rc = -EBADMSG;

	if (!sg_token_is_token(s) || s.len > SG_TOKEN_MAX)
		return -EBADMSG;
	in.data = (unsigned char *)(uintptr_t)(s.p + TOKEN_PREFIX_LEN);
	in.size = (unsigned)(s.len - TOKEN_PREFIX_LEN);
	if (gnutls_base64_decode2(&in, &raw) < 0)
		return -EBADMSG;
	p = raw.data;
	n = raw.size;
	if (n < 3 + 4 + 2 + 4 + 1 + TOKEN_MAC_LEN ||
	    (p[0] != TOKEN_VERSION && p[0] != TOKEN_VERSION_1))
		goto out;
	if (mac(key, p, n - TOKEN_MAC_LEN, want) < 0) {
		rc = -EIO;
		goto out;
	}
	if (!mac_equal(want, p + n - TOKEN_MAC_LEN, TOKEN_MAC_LEN)) {
		rc = -EPERM;
		goto out;
	}
	/* Signed by us: the layout is ours, but check lengths anyway. */
	memset(t, 0, sizeof(*t));
	end = p + n - TOKEN_MAC_LEN;
	if (p[1] > SG_XPORT_TLS)
		goto out;
	t->kind = (enum sg_xport_kind)p[1];
	if (p[0] == TOKEN_VERSION) {
		t->flags = p[2];
		p++;		/* version 1 had no flags */
	}
	alen = p[2] == 4 ? 4 : p[2] == 6 ? 16 : 0;
	p += 3;
	if (alen == 0 || (size_t)(end - p) < alen + 2 +
	    ((t->flags & SG_TOKEN_F_PEER_ID) ? SG_TOKEN_ID_LEN : 0) + 4 + 1)
		goto out;
	if (alen == 4) {
		struct sockaddr_in *a = (void *)&t->addr;

		a->sin_family = AF_INET;
		memcpy(&a->sin_addr, p, 4);
		memcpy(&a->sin_port, p + 4, 2);
	} else {
		struct sockaddr_in6 *a = (void *)&t->addr;

		a->sin6_family = AF_INET6;
		memcpy(&a->sin6_addr, p, 16);
		memcpy(&a->sin6_port, p + 16, 2);
	}
	p += alen + 2;
	if (t->flags & SG_TOKEN_F_PEER_ID) {
		memcpy(t->id, p, SG_TOKEN_ID_LEN);
		p += SG_TOKEN_ID_LEN;
	}
	memcpy(&issued, p, 4);
	t->issued = ntohl(issued);
	p += 4;
	urilen = *p++;
	if ((size_t)(end - p) != urilen)
		goto out;
	memcpy(t->uri, p, urilen);
	t->uri[urilen] = '\0';
	rc = 0;
out:
	gnutls_free(raw.data);
	return rc;
}
