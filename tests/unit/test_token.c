/* SPDX-License-Identifier: MIT */
/* Unit tests for flow tokens: sign, verify, reject forgeries. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "token.h"

static void make(struct sg_token *t, const char *ip, uint16_t port,
		 enum sg_xport_kind kind, const char *uri)
{
	memset(t, 0, sizeof(*t));
	t->kind = kind;
	if (strchr(ip, ':')) {
		struct sockaddr_in6 *a = (void *)&t->addr;

		a->sin6_family = AF_INET6;
		a->sin6_port = htons(port);
		inet_pton(AF_INET6, ip, &a->sin6_addr);
	} else {
		struct sockaddr_in *a = (void *)&t->addr;

		a->sin_family = AF_INET;
		a->sin_port = htons(port);
		inet_pton(AF_INET, ip, &a->sin_addr);
	}
	snprintf(t->uri, sizeof(t->uri), "%s", uri);
}

static void test_token_roundtrip_v4(void **state)
{
	struct sg_token_key k;
	struct sg_token t, d;
	char buf[SG_TOKEN_MAX + 1];
	int n;

	(void)state;
	assert_int_equal(sg_token_key_random(&k), 0);
	make(&t, "198.18.1.10", 5062, SG_XPORT_UDP, "sip:alice@198.18.1.10:5062");
	n = sg_token_encode(&k, &t, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal((int)strlen(buf), n);
	assert_true(sg_token_is_token(sg_str_make(buf, (size_t)n)));
	/* Only characters a SIP user part allows (RFC 3261 25.1). */
	assert_int_equal(strspn(buf, "abcdefghijklmnopqrstuvwxyz"
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-+/="), strlen(buf));
	assert_int_equal(sg_token_decode(&k, sg_str_make(buf, (size_t)n), &d), 0);
	assert_int_equal(d.kind, SG_XPORT_UDP);
	assert_memory_equal(&d.addr, &t.addr, sizeof(struct sockaddr_in));
	assert_string_equal(d.uri, t.uri);
}

static void test_token_roundtrip_v6_tls(void **state)
{
	struct sg_token_key k;
	struct sg_token t, d;
	char buf[SG_TOKEN_MAX + 1];
	int n;

	(void)state;
	sg_token_key_random(&k);
	make(&t, "2001:db8::7", 40123, SG_XPORT_TLS,
	    "sip:sgw-xyz@[2001:db8::7]:5061;transport=tls");
	n = sg_token_encode(&k, &t, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(sg_token_decode(&k, sg_str_make(buf, (size_t)n), &d), 0);
	assert_int_equal(d.kind, SG_XPORT_TLS);
	assert_memory_equal(&d.addr, &t.addr, sizeof(struct sockaddr_in6));
	assert_string_equal(d.uri, t.uri);
}

static void test_token_deterministic(void **state)
{
	struct sg_token_key k;
	struct sg_token t;
	char a[SG_TOKEN_MAX + 1], b[SG_TOKEN_MAX + 1];

	/* A re-REGISTER must produce the same Contact, or bindings pile up. */
	(void)state;
	sg_token_key_random(&k);
	make(&t, "198.18.1.11", 5060, SG_XPORT_UDP, "sip:bob@198.18.1.11");
	assert_true(sg_token_encode(&k, &t, a, sizeof(a)) > 0);
	assert_true(sg_token_encode(&k, &t, b, sizeof(b)) > 0);
	assert_string_equal(a, b);
}

static void test_token_forged_rejected(void **state)
{
	struct sg_token_key k, other;
	struct sg_token t, d;
	char buf[SG_TOKEN_MAX + 1];
	int n, i;

	(void)state;
	sg_token_key_random(&k);
	sg_token_key_random(&other);
	make(&t, "198.18.1.10", 5060, SG_XPORT_UDP, "sip:alice@198.18.1.10");
	n = sg_token_encode(&k, &t, buf, sizeof(buf));
	/* Another gateway's key. */
	assert_int_equal(sg_token_decode(&other, sg_str_make(buf, (size_t)n),
	    &d), -EPERM);
	/* Every single-character change is caught. */
	for (i = 4; i < n - 2; i++) {
		char saved = buf[i];

		buf[i] = buf[i] == 'A' ? 'B' : 'A';
		assert_true(sg_token_decode(&k, sg_str_make(buf, (size_t)n),
		    &d) < 0);
		buf[i] = saved;
	}
	assert_int_equal(sg_token_decode(&k, SG_STR("sgw-"), &d), -EBADMSG);
	assert_int_equal(sg_token_decode(&k, SG_STR("sgw-!!!!"), &d), -EBADMSG);
	assert_int_equal(sg_token_decode(&k, SG_STR("alice"), &d), -EBADMSG);
	assert_false(sg_token_is_token(SG_STR("alice")));
}

/*
 * The longest URI a token carries decodes back (fuzz_token: a URI of 256
 * characters used to encode with a length byte of 0, into a token that
 * never decoded). sip_proxy.c refuses longer URIs before encoding.
 */
static void test_token_uri_too_long(void **state)
{
	struct sg_token_key k;
	struct sg_token t, d;
	char buf[SG_TOKEN_MAX + 1];
	int n;

	(void)state;
	sg_token_key_random(&k);
	make(&t, "198.18.1.10", 5060, SG_XPORT_UDP, "sip:a@b");
	memset(t.uri, 'a', SG_TOKEN_MAX_URI);
	t.uri[SG_TOKEN_MAX_URI] = '\0';
	n = sg_token_encode(&k, &t, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(sg_token_decode(&k, sg_str_make(buf, (size_t)n), &d),
	    0);
	assert_string_equal(d.uri, t.uri);
	assert_int_equal(sg_token_encode(&k, &t, buf, 10), -ENOSPC);
}

/* A TLS flow named by its peer's identity, as Record-Route tokens are. */
static void test_token_peer_id_and_flags(void **state)
{
	struct sg_token_key k;
	struct sg_token t, d;
	char buf[SG_TOKEN_MAX + 1];
	int n;

	(void)state;
	sg_token_key_random(&k);
	make(&t, "0.0.0.0", 0, SG_XPORT_TLS, "");
	t.flags = SG_TOKEN_F_PEER_ID | SG_TOKEN_F_LINK;
	memset(t.id, 0xa5, sizeof(t.id));
	t.id[0] = 1;
	n = sg_token_encode(&k, &t, buf, sizeof(buf));
	assert_true(n > 0 && n < 80);	/* short enough for a Record-Route */
	assert_int_equal(sg_token_decode(&k, sg_str_make(buf, (size_t)n), &d), 0);
	assert_int_equal(d.kind, SG_XPORT_TLS);
	assert_int_equal(d.flags, SG_TOKEN_F_PEER_ID | SG_TOKEN_F_LINK);
	assert_memory_equal(d.id, t.id, sizeof(t.id));
	assert_string_equal(d.uri, "");
	assert_int_equal(sg_token_side(&d), SG_SIDE_OUTSIDE);
	/* Another identity is another token. */
	t.id[0] = 2;
	assert_true(sg_token_encode(&k, &t, buf + 200, sizeof(buf) - 200) > 0);
	assert_string_not_equal(buf, buf + 200);
	/* The longest URI with an IPv6 address and an identity still fits. */
	make(&t, "2001:db8::1", 5061, SG_XPORT_TLS, "");
	t.flags = SG_TOKEN_F_PEER_ID;
	memset(t.uri, 'u', SG_TOKEN_MAX_URI);
	t.uri[SG_TOKEN_MAX_URI] = '\0';
	n = sg_token_encode(&k, &t, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(sg_token_decode(&k, sg_str_make(buf, (size_t)n), &d), 0);
	assert_string_equal(d.uri, t.uri);
}

/* Tokens of version 1 (no flags, no id) from an older daemon still work. */
static void test_token_v1_decodes(void **state)
{
	static const char uri[] = "sip:bob@198.18.1.11:5060";
	struct sg_token_key k;
	struct sg_token d;
	uint8_t raw[128], mac[32];
	gnutls_datum_t in, b64;
	char tok[SG_TOKEN_MAX + 1];
	size_t n = 0;

	(void)state;
	sg_token_key_random(&k);
	raw[n++] = 1;			/* version */
	raw[n++] = SG_XPORT_UDP;
	raw[n++] = 4;
	raw[n++] = 198; raw[n++] = 18; raw[n++] = 1; raw[n++] = 11;
	raw[n++] = 0x13; raw[n++] = 0xc4;	/* 5060 */
	memset(raw + n, 0, 4);
	n += 4;
	raw[n++] = sizeof(uri) - 1;
	memcpy(raw + n, uri, sizeof(uri) - 1);
	n += sizeof(uri) - 1;
	assert_int_equal(gnutls_hmac_fast(GNUTLS_MAC_SHA256, k.k, sizeof(k.k),
	    raw, n, mac), 0);
	memcpy(raw + n, mac, 12);
	n += 12;
	in.data = raw;
	in.size = (unsigned)n;
	assert_int_equal(gnutls_base64_encode2(&in, &b64), 0);
	snprintf(tok, sizeof(tok), "%s%.*s", SG_TOKEN_PREFIX, (int)b64.size,
	    b64.data);
	gnutls_free(b64.data);
	assert_int_equal(sg_token_decode(&k, sg_str_make(tok, strlen(tok)), &d), 0);
	assert_int_equal(d.kind, SG_XPORT_UDP);
	assert_int_equal(d.flags, 0);
	assert_int_equal(ntohs(((struct sockaddr_in *)&d.addr)->sin_port), 5060);
	assert_string_equal(d.uri, uri);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_token_roundtrip_v4),
		cmocka_unit_test(test_token_roundtrip_v6_tls),
		cmocka_unit_test(test_token_deterministic),
		cmocka_unit_test(test_token_forged_rejected),
		cmocka_unit_test(test_token_uri_too_long),
		cmocka_unit_test(test_token_peer_id_and_flags),
		cmocka_unit_test(test_token_v1_decodes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
