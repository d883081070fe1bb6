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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_token_roundtrip_v4),
		cmocka_unit_test(test_token_roundtrip_v6_tls),
		cmocka_unit_test(test_token_deterministic),
		cmocka_unit_test(test_token_forged_rejected),
		cmocka_unit_test(test_token_uri_too_long),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
