/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for pairing codes: generation from random bytes, format,
 * parsing of what people type, the Luhn mod 32 check character, the PSK
 * identity (the public id only) and key, and --ttl durations.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "pair_code.h"

static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

static void make(struct sg_pair_code *c, uint8_t seed)
{
	uint8_t rnd[15];

	for (size_t i = 0; i < sizeof(rnd); i++)
		rnd[i] = (uint8_t)(seed * 31 + i * 17);
	sg_pair_code_from_random(c, rnd);
}

static void test_pair_code_shape(void **state)
{
	struct sg_pair_code c, d;
	char text[SG_PAIR_CODE_TEXT];

	(void)state;
	make(&c, 1);
	assert_int_equal(strlen(c.c), SG_PAIR_CODE_LEN);
	assert_int_equal(strspn(c.c, alphabet), SG_PAIR_CODE_LEN);
	sg_pair_code_format(&c, text, sizeof(text));
	/* Six groups of four, dashes between them. */
	assert_int_equal(strlen(text), 29);
	for (int i = 0; i < 29; i++)
		assert_true((i % 5 == 4) == (text[i] == '-'));
	assert_int_equal(sg_pair_code_parse(text, &d), 0);
	assert_string_equal(c.c, d.c);
	/* At least 80 bits of secret, as docs/pairing.md promises. */
	assert_true(SG_PAIR_SECRET_BITS >= 80);
	assert_int_equal(SG_PAIR_ID_LEN + SG_PAIR_SECRET_LEN + 1,
	    SG_PAIR_CODE_LEN);
}

/* All 115 random bits reach the code: each changed bit changes it. */
static void test_pair_code_uses_every_bit(void **state)
{
	uint8_t rnd[15] = { 0 };
	struct sg_pair_code zero, c;

	(void)state;
	sg_pair_code_from_random(&zero, rnd);
	for (int bit = 0; bit < 115; bit++) {
		memset(rnd, 0, sizeof(rnd));
		rnd[bit / 8] = (uint8_t)(0x80 >> (bit % 8));
		sg_pair_code_from_random(&c, rnd);
		assert_memory_not_equal(c.c, zero.c, SG_PAIR_CODE_LEN - 1);
	}
}

static void test_pair_code_typing(void **state)
{
	struct sg_pair_code c, d;
	char text[SG_PAIR_CODE_TEXT], typed[64];
	size_t i, o = 0;

	(void)state;
	/* Find a code with a 1 and a 0 in it, to type as l and o. */
	for (uint8_t seed = 0;; seed++) {
		make(&c, seed);
		if (strchr(c.c, '1') && strchr(c.c, '0'))
			break;
	}
	sg_pair_code_format(&c, text, sizeof(text));
	for (i = 0; text[i]; i++) {
		char ch = text[i];

		if (ch == '1')
			ch = 'l';
		else if (ch == '0')
			ch = 'O';
		else if (ch >= 'A' && ch <= 'Z')
			ch = (char)(ch - 'A' + 'a');
		else if (ch == '-')
			ch = ' ';
		typed[o++] = ch;
	}
	typed[o] = '\0';
	assert_int_equal(sg_pair_code_parse(typed, &d), 0);
	assert_string_equal(c.c, d.c);
	/* Wrong length, foreign characters. */
	assert_int_equal(sg_pair_code_parse("ABCD-EFGH", &d), -EINVAL);
	text[2] = 'U';
	assert_int_equal(sg_pair_code_parse(text, &d), -EINVAL);
	assert_int_equal(sg_pair_code_parse("", &d), -EINVAL);
}

/* Every single wrong character is caught by the check character. */
static void test_pair_code_check_single(void **state)
{
	struct sg_pair_code c, d;
	char t[SG_PAIR_CODE_LEN + 1];

	(void)state;
	for (uint8_t seed = 0; seed < 8; seed++) {
		make(&c, seed);
		for (int pos = 0; pos < SG_PAIR_CODE_LEN; pos++) {
			for (int v = 0; v < 32; v++) {
				memcpy(t, c.c, sizeof(t));
				if (t[pos] == alphabet[v])
					continue;
				t[pos] = alphabet[v];
				assert_int_equal(sg_pair_code_parse(t, &d),
				    -EBADMSG);
			}
		}
	}
}

/* Swapped neighbours are caught but for the one pair Luhn cannot see. */
static void test_pair_code_check_swap(void **state)
{
	struct sg_pair_code c, d;
	char t[SG_PAIR_CODE_LEN + 1], x;
	unsigned missed = 0, tried = 0;

	(void)state;
	for (uint8_t seed = 0; seed < 64; seed++) {
		make(&c, seed);
		for (int pos = 0; pos + 1 < SG_PAIR_CODE_LEN; pos++) {
			memcpy(t, c.c, sizeof(t));
			if (t[pos] == t[pos + 1])
				continue;
			x = t[pos];
			t[pos] = t[pos + 1];
			t[pos + 1] = x;
			tried++;
			if (sg_pair_code_parse(t, &d) == 0) {
				/* Only 'Z' and '0' (31 and 0) swap unseen. */
				missed++;
				assert_true(strchr("Z0", t[pos]) &&
				    strchr("Z0", t[pos + 1]));
			}
		}
	}
	assert_true(tried > 1000);
	assert_true(missed * 100 < tried);
}

/* A known vector: Luhn mod 32 over "0000...1" style inputs. */
static void test_pair_code_check_vector(void **state)
{
	(void)state;
	/* "1": doubled = 2 -> check = 30 ('Y'). */
	assert_int_equal(sg_pair_code_check_char("1", 1), 'Y');
	/* "G" = 16: doubled 32 = "10" in base 32 -> 1 + 0 = 1 -> 31 ('Z'). */
	assert_int_equal(sg_pair_code_check_char("G", 1), 'Z');
	/* "11": 1*1 + 1*2 = 3 -> 29 ('X'). */
	assert_int_equal(sg_pair_code_check_char("11", 2), 'X');
	assert_int_equal(sg_pair_code_check_char("0", 1), '0');
}

static void test_pair_code_identity_and_key(void **state)
{
	struct sg_pair_code a, b;
	char ida[SG_PAIR_IDENTITY_MAX], id[SG_PAIR_ID_LEN + 1];
	uint8_t ka[SG_PAIR_KEY_LEN], kb[SG_PAIR_KEY_LEN];

	(void)state;
	make(&a, 3);
	b = a;
	/* Same id, other secret (and a valid check character). */
	b.c[10] = b.c[10] == 'A' ? 'B' : 'A';
	b.c[SG_PAIR_CODE_LEN - 1] = sg_pair_code_check_char(b.c,
	    SG_PAIR_CODE_LEN - 1);
	sg_pair_code_identity(&a, ida, sizeof(ida));
	/* The identity names the id and nothing of the secret. */
	assert_int_equal(strlen(ida), strlen(SG_PAIR_IDENTITY_PREFIX) +
	    SG_PAIR_ID_LEN);
	assert_memory_equal(ida + strlen(SG_PAIR_IDENTITY_PREFIX), a.c,
	    SG_PAIR_ID_LEN);
	assert_int_equal(sg_pair_identity_id(ida, strlen(ida), id), 0);
	assert_memory_equal(id, a.c, SG_PAIR_ID_LEN);
	assert_int_equal(sg_pair_identity_id("sipsgate-pair-AB", 16, id),
	    -EINVAL);
	assert_int_equal(sg_pair_identity_id("sipsgate-pair-ABCU", 18, id),
	    -EINVAL);
	assert_int_equal(sg_pair_identity_id("other-prefix-ABCD", 17, id),
	    -EINVAL);
	assert_int_equal(sg_pair_code_key(&a, ka), 0);
	assert_int_equal(sg_pair_code_key(&b, kb), 0);
	assert_memory_not_equal(ka, kb, sizeof(ka));
	assert_int_equal(sg_pair_code_key(&a, kb), 0);
	assert_memory_equal(ka, kb, sizeof(ka));
}

static void test_pair_ttl(void **state)
{
	unsigned s;

	(void)state;
	assert_int_equal(sg_pair_parse_ttl("15m", &s), 0);
	assert_int_equal(s, 900);
	assert_int_equal(sg_pair_parse_ttl("90", &s), 0);
	assert_int_equal(s, 90);
	assert_int_equal(sg_pair_parse_ttl("2s", &s), 0);
	assert_int_equal(s, 2);
	assert_int_equal(sg_pair_parse_ttl("24h", &s), 0);
	assert_int_equal(s, 86400);
	assert_int_equal(sg_pair_parse_ttl("25h", &s), -EINVAL);
	assert_int_equal(sg_pair_parse_ttl("0", &s), -EINVAL);
	assert_int_equal(sg_pair_parse_ttl("m", &s), -EINVAL);
	assert_int_equal(sg_pair_parse_ttl("5x", &s), -EINVAL);
	assert_int_equal(sg_pair_parse_ttl("99999999999", &s), -EINVAL);
}

static void test_pair_names(void **state)
{
	(void)state;
	assert_true(sg_pair_name_is_valid("gw-a.lab.test"));
	assert_true(sg_pair_name_is_valid("pair-ABCD"));
	assert_false(sg_pair_name_is_valid(""));
	assert_false(sg_pair_name_is_valid("-x"));
	assert_false(sg_pair_name_is_valid("a..b"));
	assert_false(sg_pair_name_is_valid("a.b."));
	assert_false(sg_pair_name_is_valid("../etc"));
	assert_false(sg_pair_name_is_valid("a/b"));
	assert_false(sg_pair_name_is_valid("a b"));
	assert_false(sg_pair_name_is_valid(
	    "a234567890123456789012345678901234567890123456789012345678901234"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pair_code_shape),
		cmocka_unit_test(test_pair_code_uses_every_bit),
		cmocka_unit_test(test_pair_code_typing),
		cmocka_unit_test(test_pair_code_check_single),
		cmocka_unit_test(test_pair_code_check_swap),
		cmocka_unit_test(test_pair_code_check_vector),
		cmocka_unit_test(test_pair_code_identity_and_key),
		cmocka_unit_test(test_pair_ttl),
		cmocka_unit_test(test_pair_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
