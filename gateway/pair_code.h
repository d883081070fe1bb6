/* SPDX-License-Identifier: MIT */
/*
 * pair_code.h: the one-time pairing code of `sipsgate pair` (docs/pairing.md).
 * Pure: no I/O. A code is 24 characters of Crockford's base32 alphabet in
 * six groups of four, "ABCD-EFGH-JKMN-PQRS-TVWX-YZ01":
 *   - the first group is the code's public id (20 bits): the TLS-PSK
 *     identity names it, so the server finds the code; it is no secret;
 *   - the next 19 characters are the secret (95 bits), from the TLS
 *     library's random generator;
 *   - the last character is a check character (Luhn mod 32) over the 23
 *     before it: a mistyped or swapped character is caught before any
 *     network traffic.
 * The TLS-PSK key is the SHA-256 of a label and the whole code.
 */
#ifndef SIPSGATE_GATEWAY_PAIR_CODE_H
#define SIPSGATE_GATEWAY_PAIR_CODE_H

#include "sg.h"

#define SG_PAIR_ID_LEN 4		/* characters of the public id */
#define SG_PAIR_SECRET_LEN 19		/* characters of the secret */
#define SG_PAIR_CODE_LEN 24		/* id + secret + check, no dashes */
#define SG_PAIR_CODE_TEXT 30		/* with dashes, plus NUL */
#define SG_PAIR_SECRET_BITS (SG_PAIR_SECRET_LEN * 5)
#define SG_PAIR_KEY_LEN 32		/* bytes of the PSK */
#define SG_PAIR_IDENTITY_PREFIX "sipsgate-pair-"
#define SG_PAIR_IDENTITY_MAX 32

/* A code without dashes: SG_PAIR_CODE_LEN symbols and a NUL. */
struct sg_pair_code {
	char c[SG_PAIR_CODE_LEN + 1];
};

/*
 * Make a code from 15 random bytes (the caller draws them from
 * gnutls_rnd(GNUTLS_RND_KEY, ...)): 115 bits, 20 for the id and 95 for
 * the secret; the check character is computed.
 */
void sg_pair_code_from_random(struct sg_pair_code *code,
			      const uint8_t rnd[15]);
/*
 * Parse what a user typed: case does not matter, dashes and blanks are
 * ignored, I and L read as 1, O as 0. Returns 0, -EINVAL when a
 * character is not in the alphabet or the length is wrong, -EBADMSG when
 * the check character does not match (a typo).
 */
int sg_pair_code_parse(const char *text, struct sg_pair_code *out);
/* "ABCD-EFGH-..." into buf (at least SG_PAIR_CODE_TEXT bytes). */
void sg_pair_code_format(const struct sg_pair_code *code, char *buf,
			 size_t len);
/* The check character of the first n symbols (Luhn mod 32). */
char sg_pair_code_check_char(const char *sym, size_t n);
/* The TLS-PSK identity of a code: "sipsgate-pair-ABCD". */
void sg_pair_code_identity(const struct sg_pair_code *code, char *buf,
			   size_t len);
/* The id part of an identity, or -EINVAL if it is not one of ours. */
int sg_pair_identity_id(const char *identity, size_t len,
			char id[SG_PAIR_ID_LEN + 1]);
/* The TLS-PSK key of a code (SHA-256 of a label and the code). */
int sg_pair_code_key(const struct sg_pair_code *code,
		     uint8_t key[SG_PAIR_KEY_LEN]);
/*
 * A duration as `pair offer --ttl` takes it: "90" or "90s", "15m", "2h";
 * 1 s .. 24 h. Returns 0 or -EINVAL.
 */
int sg_pair_parse_ttl(const char *s, unsigned *seconds);
/* Is name usable as a paired peer's name (a DNS-like label list)? */
bool sg_pair_name_is_valid(const char *name);

#endif /* SIPSGATE_GATEWAY_PAIR_CODE_H */
