/* SPDX-License-Identifier: MIT */
/*
 * pair_code.c: pairing codes (see pair_code.h): Crockford base32 symbols,
 * a Luhn mod 32 check character, the PSK identity and key. Pure: no I/O;
 * the randomness comes from the caller.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "pair_code.h"

/* Crockford's base32: digits and letters without I, L, O and U. */
static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
#define PAIR_KEY_LABEL "sipsgate pairing code v1:"

/* The value 0..31 of a typed character, or -1. */
static int symbol_value(int ch)
{
	const char *p;

	ch = toupper((unsigned char)ch);
	if (ch == 'I' || ch == 'L')
		ch = '1';
	else if (ch == 'O')
		ch = '0';
	if (ch == '\0' || (p = strchr(alphabet, ch)) == NULL)
		return -1;
	return (int)(p - alphabet);
}

/*
 * Luhn mod N (N = 32): from the right, every second value is doubled and
 * its base-32 digits summed; the check symbol makes the total a multiple
 * of 32. It catches every single wrong character and every swap of two
 * neighbours but one pair of values.
 */
char sg_pair_code_check_char(const char *sym, size_t n)
{
	unsigned sum = 0, factor = 2, v;
	size_t i;

	for (i = n; i-- > 0;) {
		int x = symbol_value(sym[i]);

		v = (unsigned)(x < 0 ? 0 : x) * factor;
		sum += v / 32 + v % 32;
		factor = factor == 2 ? 1 : 2;
	}
	return alphabet[(32 - sum % 32) % 32];
}

void sg_pair_code_from_random(struct sg_pair_code *code,
			      const uint8_t rnd[15])
{
	unsigned acc = 0, bits = 0;
	size_t i, n = 0;

	/* 15 bytes = 120 bits: 23 symbols of 5 bits (115) are used. */
	for (i = 0; i < 15 && n < SG_PAIR_CODE_LEN - 1; i++) {
		acc = (acc << 8) | rnd[i];
		bits += 8;
		while (bits >= 5 && n < SG_PAIR_CODE_LEN - 1) {
			bits -= 5;
			code->c[n++] = alphabet[(acc >> bits) & 31];
		}
		acc &= (1u << bits) - 1;
	}
	code->c[n] = sg_pair_code_check_char(code->c, n);
	code->c[n + 1] = '\0';
}

int sg_pair_code_parse(const char *text, struct sg_pair_code *out)
{
	size_t n = 0;
	int v;

	for (; *text; text++) {
		if (*text == '-' || *text == ' ' || *text == '\t')
			continue;
		if ((v = symbol_value(*text)) < 0 || n >= SG_PAIR_CODE_LEN)
			return -EINVAL;
		out->c[n++] = alphabet[v];
	}
	if (n != SG_PAIR_CODE_LEN)
		return -EINVAL;
	out->c[n] = '\0';
	if (sg_pair_code_check_char(out->c, n - 1) != out->c[n - 1])
		return -EBADMSG;
	return 0;
}

void sg_pair_code_format(const struct sg_pair_code *code, char *buf,
			 size_t len)
{
	size_t i, o = 0;

	for (i = 0; i < SG_PAIR_CODE_LEN && o + 1 < len; i++) {
		if (i > 0 && i % 4 == 0 && o + 2 < len)
			buf[o++] = '-';
		buf[o++] = code->c[i];
	}
	if (len > 0)
		buf[o < len ? o : len - 1] = '\0';
}

void sg_pair_code_identity(const struct sg_pair_code *code, char *buf,
			   size_t len)
{
	snprintf(buf, len, SG_PAIR_IDENTITY_PREFIX "%.*s", SG_PAIR_ID_LEN,
	    code->c);
}

int sg_pair_identity_id(const char *identity, size_t len,
			char id[SG_PAIR_ID_LEN + 1])
{
	size_t plen = strlen(SG_PAIR_IDENTITY_PREFIX), i;

	if (len != plen + SG_PAIR_ID_LEN ||
	    memcmp(identity, SG_PAIR_IDENTITY_PREFIX, plen) != 0)
		return -EINVAL;
	for (i = 0; i < SG_PAIR_ID_LEN; i++) {
		char ch = identity[plen + i];

		if (ch == '\0' || strchr(alphabet, ch) == NULL)
			return -EINVAL;
		id[i] = ch;
	}
	id[SG_PAIR_ID_LEN] = '\0';
	return 0;
}

int sg_pair_code_key(const struct sg_pair_code *code,
		     uint8_t key[SG_PAIR_KEY_LEN])
{
	char in[sizeof(PAIR_KEY_LABEL) + SG_PAIR_CODE_LEN];
	int n = snprintf(in, sizeof(in), PAIR_KEY_LABEL "%s", code->c);
	int rc;

	rc = gnutls_hash_fast(GNUTLS_DIG_SHA256, in, (size_t)n, key);
	gnutls_memset(in, 0, sizeof(in));
	return rc < 0 ? -EIO : 0;
}

int sg_pair_parse_ttl(const char *s, unsigned *seconds)
{
	unsigned long v = 0, mult = 1;
	const char *p = s;

	if (*p < '0' || *p > '9')
		return -EINVAL;
	for (; *p >= '0' && *p <= '9'; p++) {
		v = v * 10 + (unsigned long)(*p - '0');
		if (v > 86400)
			return -EINVAL;
	}
	if (*p == 's')
		p++;
	else if (*p == 'm' && p++)
		mult = 60;
	else if (*p == 'h' && p++)
		mult = 3600;
	if (*p != '\0' || v == 0 || v * mult > 86400)
		return -EINVAL;
	*seconds = (unsigned)(v * mult);
	return 0;
}

bool sg_pair_name_is_valid(const char *name)
{
	size_t len = strlen(name), label = 0;
	const char *p;

	if (len == 0 || len > 63 || name[0] == '-' || name[0] == '.' ||
	    name[len - 1] == '.' || name[len - 1] == '-')
		return false;
	for (p = name; *p; p++) {
		if (*p == '.') {
			if (label == 0)
				return false;
			label = 0;
			continue;
		}
		if (!isalnum((unsigned char)*p) && *p != '-')
			return false;
		label++;
	}
	return true;
}
