/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the libsrtp2 wrapper: RFC 3711 Appendix B vectors checked
 * through sg_srtp_protect() against an independent model built on GnuTLS's
 * AES and HMAC-SHA1, round trips for every suite this build has,
 * authentication and replay failures, sequence wrap, SSRC changes, rekeying.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <gnutls/gnutls.h>
#include <gnutls/crypto.h>

#include "srtp.h"

#define PKT_MAX (1500 + SG_SRTP_MAX_TRAILER)

/* libsrtp wants 32-bit aligned packets with trailer room after them. */
struct pkt {
	_Alignas(8) uint8_t b[PKT_MAX];
	int len;
};

/* ---- helpers ---------------------------------------------------------- */

static size_t unhex(const char *s, uint8_t *out, size_t max)
{
	size_t n = 0;
	unsigned v;

	for (; s[0] != '\0' && s[1] != '\0'; s += 2) {
		assert_true(n < max);
		assert_int_equal(sscanf(s, "%2x", &v), 1);
		out[n++] = (uint8_t)v;
	}
	return n;
}

static void assert_hex_equal(const uint8_t *got, const char *want)
{
	uint8_t w[128];
	size_t n = unhex(want, w, sizeof(w));

	assert_memory_equal(got, w, n);
}

static void put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* One AES block, E(key, in): CBC over a single block with a zero IV. */
static void aes_block(const uint8_t *key, size_t klen, const uint8_t in[16],
		      uint8_t out[16])
{
	uint8_t kbuf[32], ivbuf[16] = { 0 };
	gnutls_datum_t k = { kbuf, (unsigned)klen };
	gnutls_datum_t iv = { ivbuf, sizeof(ivbuf) };
	gnutls_cipher_hd_t h;

	assert_true(klen == 16 || klen == 32);
	memcpy(kbuf, key, klen);
	assert_int_equal(gnutls_cipher_init(&h, klen == 16 ?
	    GNUTLS_CIPHER_AES_128_CBC : GNUTLS_CIPHER_AES_256_CBC, &k, &iv), 0);
	assert_int_equal(gnutls_cipher_encrypt2(h, in, 16, out, 16), 0);
	gnutls_cipher_deinit(h);
}

/* ctr += j, as a 128-bit big-endian number. */
static void ctr_add(uint8_t ctr[16], uint32_t j)
{
	uint32_t carry = j;

	for (int i = 15; i >= 0 && carry != 0; i--) {
		carry += ctr[i];
		ctr[i] = (uint8_t)carry;
		carry >>= 8;
	}
}

/* AES-CM (RFC 3711 4.1.1): data ^= E(k, IV) || E(k, IV + 1) || ... */
static void aes_cm_xor(const uint8_t *key, size_t klen, const uint8_t iv[16],
		       uint8_t *data, size_t n)
{
	uint8_t ctr[16], ks[16];

	memcpy(ctr, iv, sizeof(ctr));
	for (size_t off = 0; off < n; off += 16) {
		aes_block(key, klen, ctr, ks);
		for (size_t i = 0; i < 16 && off + i < n; i++)
			data[off + i] ^= ks[i];
		ctr_add(ctr, 1);
	}
}

/* RFC 3711 4.1.1: IV = (k_s * 2^16) XOR (SSRC * 2^64) XOR (i * 2^16). */
static void srtp_iv(const uint8_t salt[14], uint32_t ssrc, uint64_t index,
		    uint8_t iv[16])
{
	memset(iv, 0, 16);
	memcpy(iv, salt, 14);
	for (int i = 0; i < 4; i++)
		iv[4 + i] ^= (uint8_t)(ssrc >> (24 - 8 * i));
	for (int i = 0; i < 6; i++)
		iv[8 + i] ^= (uint8_t)(index >> (40 - 8 * i));
}

/* RFC 3711 4.3.3 with kdr 0: PRF(master key, (salt XOR label << 48) << 16). */
static void kdf(const uint8_t mkey[16], const uint8_t msalt[14], uint8_t label,
		uint8_t *out, size_t n)
{
	uint8_t x[16] = { 0 };

	memcpy(x, msalt, 14);
	x[7] ^= label;
	memset(out, 0, n);
	aes_cm_xor(mkey, 16, x, out, n);
}

static int rtp_make(struct pkt *p, uint16_t seq, uint32_t ts, uint32_t ssrc,
		    size_t plen, uint8_t fill)
{
	uint8_t *b = p->b;

	memset(b, 0, PKT_MAX);
	b[0] = 0x80;			/* V=2 */
	b[1] = 0;			/* PT 0 (PCMU) */
	put_be16(b + 2, seq);
	put_be32(b + 4, ts);
	put_be32(b + 8, ssrc);
	for (size_t i = 0; i < plen; i++)
		b[12 + i] = (uint8_t)(fill + i * 3);
	p->len = (int)(12 + plen);
	return p->len;
}

/* An RTCP sender report without report blocks (RFC 3550 6.4.1), 28 bytes. */
static int rtcp_make(struct pkt *p, uint32_t ssrc, uint32_t n)
{
	uint8_t *b = p->b;

	memset(b, 0, PKT_MAX);
	b[0] = 0x80;
	b[1] = 200;
	put_be16(b + 2, 6);
	put_be32(b + 4, ssrc);
	put_be32(b + 8, 0x83aa7e80u + n);	/* NTP seconds */
	put_be32(b + 12, n * 0x1000u);
	put_be32(b + 16, n * 160u);
	put_be32(b + 20, n);
	put_be32(b + 24, n * 160u);
	p->len = 28;
	return p->len;
}

static void key_make(uint8_t *key, size_t len, uint8_t seed)
{
	for (size_t i = 0; i < len; i++)
		key[i] = (uint8_t)(seed * 31u + i * 7u + 1u);
}

static void pair_init(struct sg_srtp *tx, struct sg_srtp *rx,
		      enum sg_srtp_suite su, uint8_t seed)
{
	uint8_t key[SG_SRTP_MAX_KEY];
	size_t kl = sg_srtp_key_len(su);

	key_make(key, kl, seed);
	assert_int_equal(sg_srtp_init(tx, su, key, kl, true), 0);
	assert_int_equal(sg_srtp_init(rx, su, key, kl, false), 0);
	assert_non_null(tx->ctx);
	assert_int_equal(tx->suite, su);
	assert_true(tx->outbound);
	assert_false(rx->outbound);
}

static void pair_close(struct sg_srtp *tx, struct sg_srtp *rx)
{
	sg_srtp_close(tx);
	sg_srtp_close(rx);
}

/* Protect one RTP packet on tx and unprotect it on rx: all must succeed. */
static void rtp_roundtrip(struct sg_srtp *tx, struct sg_srtp *rx,
			  uint16_t seq, uint32_t ssrc, size_t plen)
{
	struct pkt p, o;
	int n;

	n = rtp_make(&p, seq, seq * 160u, ssrc, plen, (uint8_t)seq);
	o = p;
	assert_int_equal(sg_srtp_protect(tx, p.b, &p.len), 0);
	assert_int_equal(p.len, n + (int)sg_srtp_rtp_overhead(tx->suite));
	assert_memory_equal(p.b, o.b, 12);	/* the header stays clear */
	assert_int_equal(sg_srtp_unprotect(rx, p.b, &p.len), 0);
	assert_int_equal(p.len, n);
	assert_memory_equal(p.b, o.b, (size_t)n);
}

static const char *const b2_key = "2B7E151628AED2A6ABF7158809CF4F3C";
static const char *const b3_master_key = "E1F97A0D3E018BE0D64FA32C06DE4139";
static const char *const b3_master_salt = "0EC675AD498AFEEBB6960B3AABE6";
static const char *const b3_cipher_key = "C61E7A93744F39EE10734AFE3FF7A087";
static const char *const b3_cipher_salt = "30CBBC08863D8C85D49DB34A9AE1";
static const char *const b3_auth_key =
	"CEBE321F6FF7716B6FD4AB49AF256A156D38BAA4";

/* ---- RFC 3711 Appendix B ---------------------------------------------- */

/* B.2: the AES-CM keystream of the test helper matches the RFC. */
static void test_srtp_rfc3711_b2_keystream(void **state)
{
	static const struct {
		uint32_t block;
		const char *ks;
	} v[] = {
		{ 0x0000, "E03EAD0935C95E80E166B16DD92B4EB4" },
		{ 0x0001, "D23513162B02D0F72A43A2FE4A5F97AB" },
		{ 0x0002, "41E95B3BB0A2E8DD477901E4FCA894C0" },
		{ 0xfeff, "EC8CDF7398607CB0F2D21675EA9EA1E4" },
		{ 0xff00, "362B7C3C6773516318A077D7FC5073AE" },
		{ 0xff01, "6A2CC3787889374FBEB4C81B17BA6C44" },
	};
	uint8_t key[16], salt[14], iv[16], ctr[16], ks[16], seg[48];

	(void)state;
	unhex(b2_key, key, sizeof(key));
	unhex("F0F1F2F3F4F5F6F7F8F9FAFBFCFD", salt, sizeof(salt));
	/* ROC 0, SEQ 0, SSRC 0: the IV is the salt shifted, as in B.2. */
	srtp_iv(salt, 0, 0, iv);
	assert_hex_equal(iv, "F0F1F2F3F4F5F6F7F8F9FAFBFCFD0000");
	for (size_t i = 0; i < SG_ARRAY_SIZE(v); i++) {
		memcpy(ctr, iv, sizeof(ctr));
		ctr_add(ctr, v[i].block);
		aes_block(key, sizeof(key), ctr, ks);
		assert_hex_equal(ks, v[i].ks);
	}
	/* The streaming helper yields the same first three blocks. */
	memset(seg, 0, sizeof(seg));
	aes_cm_xor(key, sizeof(key), iv, seg, sizeof(seg));
	assert_hex_equal(seg, "E03EAD0935C95E80E166B16DD92B4EB4"
			 "D23513162B02D0F72A43A2FE4A5F97AB"
			 "41E95B3BB0A2E8DD477901E4FCA894C0");
}

/* B.3: the test helper's key derivation matches the RFC. */
static void test_srtp_rfc3711_b3_kdf_model(void **state)
{
	uint8_t mk[16], ms[14], out[20];

	(void)state;
	unhex(b3_master_key, mk, sizeof(mk));
	unhex(b3_master_salt, ms, sizeof(ms));
	kdf(mk, ms, 0x00, out, 16);
	assert_hex_equal(out, b3_cipher_key);
	kdf(mk, ms, 0x02, out, 14);
	assert_hex_equal(out, b3_cipher_salt);
	kdf(mk, ms, 0x01, out, 20);
	assert_hex_equal(out, b3_auth_key);
}

/*
 * Check one packet protected by libsrtp against the RFC 3711 model, using
 * the session keys B.3 says the master key yields: ciphertext = payload XOR
 * AES-CM(cipher key, IV(cipher salt, SSRC, index)), tag = the first 80 bits
 * of HMAC-SHA1(auth key, header || ciphertext || ROC) (RFC 3711 4.2).
 */
static void check_b3_packet(const struct pkt *plain, const struct pkt *prot,
			    uint32_t ssrc, uint32_t roc, uint16_t seq)
{
	uint8_t ck[16], cs[14], ak[20], iv[16], roc_be[4], mac[20];
	uint8_t expect[PKT_MAX];
	size_t n = (size_t)plain->len, plen = n - 12;

	unhex(b3_cipher_key, ck, sizeof(ck));
	unhex(b3_cipher_salt, cs, sizeof(cs));
	unhex(b3_auth_key, ak, sizeof(ak));

	assert_int_equal(prot->len, plain->len + 10);
	memcpy(expect, plain->b, n);
	srtp_iv(cs, ssrc, ((uint64_t)roc << 16) | seq, iv);
	aes_cm_xor(ck, sizeof(ck), iv, expect + 12, plen);
	assert_memory_equal(prot->b, expect, n);

	put_be32(roc_be, roc);
	memcpy(expect + n, roc_be, 4);
	assert_int_equal(gnutls_hmac_fast(GNUTLS_MAC_SHA1, ak, sizeof(ak),
					  expect, n + 4, mac), 0);
	assert_memory_equal(prot->b + n, mac, 10);
}

/* B.3 through the wrapper: libsrtp's output matches the model, ROC 0 and 1. */
static void test_srtp_rfc3711_b3_protect(void **state)
{
	const uint32_t ssrc = 0xdeadbeef;
	uint8_t key[30];
	struct sg_srtp tx = { 0 }, rx = { 0 };
	struct pkt p, o;

	(void)state;
	unhex(b3_master_key, key, 16);
	unhex(b3_master_salt, key + 16, 14);
	assert_int_equal(sg_srtp_init(&tx, SG_SRTP_AES_CM_128_HMAC_SHA1_80,
				      key, sizeof(key), true), 0);
	assert_int_equal(sg_srtp_init(&rx, SG_SRTP_AES_CM_128_HMAC_SHA1_80,
				      key, sizeof(key), false), 0);

	/* 45 bytes of payload: two whole AES blocks and a partial one. */
	rtp_make(&o, 0x1234, 0x11223344, ssrc, 45, 0xab);
	p = o;
	assert_int_equal(sg_srtp_protect(&tx, p.b, &p.len), 0);
	check_b3_packet(&o, &p, ssrc, 0, 0x1234);
	assert_int_equal(sg_srtp_unprotect(&rx, p.b, &p.len), 0);
	assert_int_equal(p.len, o.len);
	assert_memory_equal(p.b, o.b, (size_t)o.len);

	/* 65535 then 0: the second packet has ROC 1, index 0x10000. */
	rtp_make(&o, 0xffff, 0x11223344 + 160, ssrc, 20, 0x01);
	p = o;
	assert_int_equal(sg_srtp_protect(&tx, p.b, &p.len), 0);
	check_b3_packet(&o, &p, ssrc, 0, 0xffff);
	assert_int_equal(sg_srtp_unprotect(&rx, p.b, &p.len), 0);
	rtp_make(&o, 0x0000, 0x11223344 + 320, ssrc, 33, 0x02);
	p = o;
	assert_int_equal(sg_srtp_protect(&tx, p.b, &p.len), 0);
	check_b3_packet(&o, &p, ssrc, 1, 0x0000);
	assert_int_equal(sg_srtp_unprotect(&rx, p.b, &p.len), 0);
	assert_memory_equal(p.b, o.b, (size_t)o.len);

	pair_close(&tx, &rx);
}

/* ---- suites ----------------------------------------------------------- */

static void test_srtp_suite_names(void **state)
{
	static const size_t klen[] = { 30, 30, 28, 44, 46 };
	static const size_t ovh[] = { 10, 4, 16, 16, 10 };
	char lower[64];

	(void)state;
	static_assert(SG_ARRAY_SIZE(klen) == SG_SRTP_SUITE_COUNT, "table");
	for (int s = 0; s < SG_SRTP_SUITE_COUNT; s++) {
		const char *name = sg_srtp_suite_name((enum sg_srtp_suite)s);
		size_t n;

		assert_non_null(name);
		n = strlen(name);
		assert_int_equal(sg_srtp_suite_by_name(sg_str_make(name, n)),
				 s);
		for (size_t i = 0; i <= n; i++)
			lower[i] = (char)((name[i] >= 'A' && name[i] <= 'Z') ?
					  name[i] - 'A' + 'a' : name[i]);
		assert_int_equal(sg_srtp_suite_by_name(sg_str_make(lower, n)),
				 s);
		/* A prefix or the name plus one byte is not the suite. */
		assert_int_equal(sg_srtp_suite_by_name(sg_str_make(name,
							n - 1)), -ENOENT);
		assert_int_equal(sg_srtp_key_len((enum sg_srtp_suite)s),
				 klen[s]);
		assert_int_equal(sg_srtp_rtp_overhead((enum sg_srtp_suite)s),
				 ovh[s]);
		assert_true(klen[s] <= SG_SRTP_MAX_KEY);
	}
	assert_string_equal(sg_srtp_suite_name(SG_SRTP_AES_CM_128_HMAC_SHA1_80),
			    "AES_CM_128_HMAC_SHA1_80");
	assert_string_equal(sg_srtp_suite_name(SG_SRTP_AES_CM_128_HMAC_SHA1_32),
			    "AES_CM_128_HMAC_SHA1_32");
	assert_string_equal(sg_srtp_suite_name(SG_SRTP_AEAD_AES_128_GCM),
			    "AEAD_AES_128_GCM");
	assert_string_equal(sg_srtp_suite_name(SG_SRTP_AEAD_AES_256_GCM),
			    "AEAD_AES_256_GCM");
	assert_string_equal(sg_srtp_suite_name(SG_SRTP_AES_256_CM_HMAC_SHA1_80),
			    "AES_256_CM_HMAC_SHA1_80");
	assert_int_equal(sg_srtp_suite_by_name(
				 SG_STR("AES_CM_128_HMAC_SHA1_81")), -ENOENT);
	assert_int_equal(sg_srtp_suite_by_name(SG_STR("F8_128_HMAC_SHA1_80")),
			 -ENOENT);
	assert_int_equal(sg_srtp_suite_by_name(SG_STR(" AEAD_AES_128_GCM")),
			 -ENOENT);
	assert_int_equal(sg_srtp_suite_by_name(SG_STR("")), -ENOENT);
	assert_int_equal(sg_srtp_suite_by_name(SG_STR_NULL), -ENOENT);
	assert_null(sg_srtp_suite_name(SG_SRTP_SUITE_COUNT));
	assert_int_equal(sg_srtp_key_len(SG_SRTP_SUITE_COUNT), 0);
	assert_int_equal(sg_srtp_rtp_overhead(SG_SRTP_SUITE_COUNT), 0);
}

static void test_srtp_suite_availability(void **state)
{
	(void)state;
	assert_int_equal(sg_srtp_global_init(), 0);
	assert_int_equal(sg_srtp_global_init(), 0);	/* idempotent */
	/* DESIGN §4: the default suite is always there. */
	assert_true(sg_srtp_suite_is_available(
			SG_SRTP_AES_CM_128_HMAC_SHA1_80));
	for (int s = 0; s < SG_SRTP_SUITE_COUNT; s++) {
		bool a = sg_srtp_suite_is_available((enum sg_srtp_suite)s);

		print_message("  %-24s %s\n",
			      sg_srtp_suite_name((enum sg_srtp_suite)s),
			      a ? "available" : "NOT available");
		/* The cached answer stays the same. */
		assert_true(sg_srtp_suite_is_available((enum sg_srtp_suite)s)
			    == a);
		if (!a) {
			uint8_t key[SG_SRTP_MAX_KEY] = { 0 };
			struct sg_srtp x;
			size_t kl = sg_srtp_key_len((enum sg_srtp_suite)s);

			assert_int_equal(sg_srtp_init(&x, (enum sg_srtp_suite)s,
						      key, kl, true),
					 -EOPNOTSUPP);
			assert_null(x.ctx);
		}
	}
	assert_false(sg_srtp_suite_is_available(SG_SRTP_SUITE_COUNT));
}

static void test_srtp_init_rejects_bad_arguments(void **state)
{
	uint8_t key[SG_SRTP_MAX_KEY] = { 1 };
	struct sg_srtp s, z;
	struct pkt p;

	(void)state;
	assert_int_equal(sg_srtp_init(&s, SG_SRTP_AES_CM_128_HMAC_SHA1_80,
				      key, 29, true), -EINVAL);
	assert_null(s.ctx);
	assert_int_equal(sg_srtp_init(&s, SG_SRTP_AES_CM_128_HMAC_SHA1_80,
				      key, 46, true), -EINVAL);
	assert_int_equal(sg_srtp_init(&s, SG_SRTP_AES_CM_128_HMAC_SHA1_80,
				      NULL, 30, true), -EINVAL);
	assert_int_equal(sg_srtp_init(&s, SG_SRTP_SUITE_COUNT, key, 30, true),
			 -EINVAL);
	assert_int_equal(sg_srtp_init(NULL, SG_SRTP_AES_CM_128_HMAC_SHA1_80,
				      key, 30, true), -EINVAL);

	/* Close is safe on a zeroed struct, twice, and on NULL. */
	memset(&z, 0, sizeof(z));
	sg_srtp_close(&z);
	sg_srtp_close(&z);
	sg_srtp_close(NULL);
	assert_int_equal(sg_srtp_rekey(&z, key, 30), -EINVAL);
	rtp_make(&p, 1, 1, 1, 10, 0);
	assert_int_equal(sg_srtp_protect(&z, p.b, &p.len), -EINVAL);
	assert_int_equal(sg_srtp_unprotect(&z, p.b, &p.len), -EINVAL);

	/* Each context works one way only; short packets are refused. */
	assert_int_equal(sg_srtp_init(&s, SG_SRTP_AES_CM_128_HMAC_SHA1_80,
				      key, 30, false), 0);
	assert_int_equal(sg_srtp_protect(&s, p.b, &p.len), -EINVAL);
	assert_int_equal(sg_srtp_protect_rtcp(&s, p.b, &p.len), -EINVAL);
	p.len = 11;
	assert_int_equal(sg_srtp_unprotect(&s, p.b, &p.len), -EINVAL);
	sg_srtp_close(&s);
	assert_null(s.ctx);
	sg_srtp_close(&s);

	assert_int_equal(sg_srtp_init(&s, SG_SRTP_AES_CM_128_HMAC_SHA1_80,
				      key, 30, true), 0);
	rtp_make(&p, 1, 1, 1, 10, 0);
	assert_int_equal(sg_srtp_unprotect(&s, p.b, &p.len), -EINVAL);
	assert_int_equal(sg_srtp_unprotect_rtcp(&s, p.b, &p.len), -EINVAL);
	p.len = 11;
	assert_int_equal(sg_srtp_protect(&s, p.b, &p.len), -EINVAL);
	p.len = 7;
	assert_int_equal(sg_srtp_protect_rtcp(&s, p.b, &p.len), -EINVAL);
	sg_srtp_close(&s);
}

/* ---- round trips ------------------------------------------------------ */

static void test_srtp_roundtrip_all_suites(void **state)
{
	static const size_t plens[] = { 0, 1, 15, 16, 17, 160, 1200 };

	(void)state;
	for (int si = 0; si < SG_SRTP_SUITE_COUNT; si++) {
		enum sg_srtp_suite su = (enum sg_srtp_suite)si;
		bool gcm = su == SG_SRTP_AEAD_AES_128_GCM ||
			   su == SG_SRTP_AEAD_AES_256_GCM;
		struct sg_srtp tx, rx;
		struct pkt p, o;
		uint16_t seq = 1000;

		if (!sg_srtp_suite_is_available(su))
			continue;
		pair_init(&tx, &rx, su, (uint8_t)si);
		for (size_t i = 0; i < SG_ARRAY_SIZE(plens); i++)
			rtp_roundtrip(&tx, &rx, seq++,
				      0x5eed0000u + (uint32_t)si, plens[i]);

		/* The payload is really encrypted. */
		rtp_make(&o, seq, 0, 0x5eed0000u, 160, 0x55);
		p = o;
		assert_int_equal(sg_srtp_protect(&tx, p.b, &p.len), 0);
		assert_memory_not_equal(p.b + 12, o.b + 12, 160);
		assert_int_equal(sg_srtp_unprotect(&rx, p.b, &p.len), 0);
		assert_memory_equal(p.b, o.b, (size_t)o.len);

		/*
		 * RTCP: the E flag and SRTCP index (4 bytes) plus the tag. The
		 * _32 suite keeps the 80-bit tag for SRTCP (RFC 4568 6.2.2).
		 */
		for (uint32_t n = 0; n < 5; n++) {
			rtcp_make(&o, 0x5eed0000u, n);
			p = o;
			assert_int_equal(sg_srtp_protect_rtcp(&tx, p.b, &p.len),
					 0);
			assert_int_equal(p.len, o.len + 4 + (gcm ? 16 : 10));
			assert_memory_equal(p.b, o.b, 8);
			assert_memory_not_equal(p.b + 8, o.b + 8,
						(size_t)o.len - 8);
			assert_int_equal(sg_srtp_unprotect_rtcp(&rx, p.b,
								&p.len), 0);
			assert_int_equal(p.len, o.len);
			assert_memory_equal(p.b, o.b, (size_t)o.len);
		}
		pair_close(&tx, &rx);
	}
}

/* A relay may send the same packet again: the sender allows it. */
static void test_srtp_sender_allows_repeat(void **state)
{
	struct sg_srtp tx, rx;
	struct pkt a, b;

	(void)state;
	pair_init(&tx, &rx, SG_SRTP_AES_CM_128_HMAC_SHA1_80, 9);
	rtp_make(&a, 77, 0, 0xabcdef01, 160, 9);
	b = a;
	assert_int_equal(sg_srtp_protect(&tx, a.b, &a.len), 0);
	assert_int_equal(sg_srtp_protect(&tx, b.b, &b.len), 0);
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.b, b.b, (size_t)a.len);
	assert_int_equal(sg_srtp_unprotect(&rx, a.b, &a.len), 0);
	/* ...and the receiver drops the second copy. */
	assert_int_equal(sg_srtp_unprotect(&rx, b.b, &b.len), -EALREADY);
	pair_close(&tx, &rx);
}

/* ---- failures --------------------------------------------------------- */

static void test_srtp_rejects_tamper_replay_wrong_key(void **state)
{
	(void)state;
	for (int si = 0; si < SG_SRTP_SUITE_COUNT; si++) {
		enum sg_srtp_suite su = (enum sg_srtp_suite)si;
		struct sg_srtp tx, rx, other_tx, other_rx;
		struct pkt p, t, o, old;
		const uint32_t ssrc = 0x01020304;

		if (!sg_srtp_suite_is_available(su))
			continue;
		pair_init(&tx, &rx, su, 1);
		pair_init(&other_tx, &other_rx, su, 2);

		rtp_make(&o, 10, 1600, ssrc, 160, 0x10);
		p = o;
		assert_int_equal(sg_srtp_protect(&tx, p.b, &p.len), 0);

		/* One payload bit flipped. */
		t = p;
		t.b[12 + 50] ^= 0x01;
		assert_int_equal(sg_srtp_unprotect(&rx, t.b, &t.len), -EBADMSG);
		/* The header is authenticated too (marker bit). */
		t = p;
		t.b[1] ^= 0x80;
		assert_int_equal(sg_srtp_unprotect(&rx, t.b, &t.len), -EBADMSG);
		/* The last byte of the tag. */
		t = p;
		t.b[t.len - 1] ^= 0x80;
		assert_int_equal(sg_srtp_unprotect(&rx, t.b, &t.len), -EBADMSG);
		/* Truncated: the tag no longer matches. */
		t = p;
		t.len -= 1;
		assert_int_equal(sg_srtp_unprotect(&rx, t.b, &t.len), -EBADMSG);
		/* Wrong key. */
		t = p;
		assert_int_equal(sg_srtp_unprotect(&other_rx, t.b, &t.len),
				 -EBADMSG);

		/* Failures did not consume the index: the real one passes. */
		t = p;
		assert_int_equal(sg_srtp_unprotect(&rx, t.b, &t.len), 0);
		assert_memory_equal(t.b, o.b, (size_t)o.len);
		/* Replay. */
		t = p;
		assert_int_equal(sg_srtp_unprotect(&rx, t.b, &t.len),
				 -EALREADY);

		/* Too old for the 1024-packet window: also a replay. */
		rtp_make(&old, 11, 1760, ssrc, 160, 0x11);
		assert_int_equal(sg_srtp_protect(&tx, old.b, &old.len), 0);
		rtp_make(&t, 10 + 1100, 0, ssrc, 160, 0x12);
		assert_int_equal(sg_srtp_protect(&tx, t.b, &t.len), 0);
		assert_int_equal(sg_srtp_unprotect(&rx, t.b, &t.len), 0);
		assert_int_equal(sg_srtp_unprotect(&rx, old.b, &old.len),
				 -EALREADY);
		/* Within the window, late packets are fine. */
		rtp_make(&old, 10 + 100, 0, ssrc, 160, 0x13);
		rtp_make(&t, 10 + 1101, 0, ssrc, 160, 0x14);
		p = old;
		assert_int_equal(sg_srtp_protect(&tx, p.b, &p.len), 0);
		assert_int_equal(sg_srtp_protect(&tx, t.b, &t.len), 0);
		assert_int_equal(sg_srtp_unprotect(&rx, t.b, &t.len), 0);
		assert_int_equal(sg_srtp_unprotect(&rx, p.b, &p.len), 0);
		assert_memory_equal(p.b, old.b, (size_t)old.len);

		/* SRTCP: tamper, wrong key, replay. */
		rtcp_make(&o, ssrc, 1);
		p = o;
		assert_int_equal(sg_srtp_protect_rtcp(&tx, p.b, &p.len), 0);
		t = p;
		t.b[20] ^= 0x04;
		assert_int_equal(sg_srtp_unprotect_rtcp(&rx, t.b, &t.len),
				 -EBADMSG);
		t = p;
		assert_int_equal(sg_srtp_unprotect_rtcp(&other_rx, t.b, &t.len),
				 -EBADMSG);
		t = p;
		assert_int_equal(sg_srtp_unprotect_rtcp(&rx, t.b, &t.len), 0);
		assert_memory_equal(t.b, o.b, (size_t)o.len);
		t = p;
		assert_int_equal(sg_srtp_unprotect_rtcp(&rx, t.b, &t.len),
				 -EALREADY);

		pair_close(&tx, &rx);
		pair_close(&other_tx, &other_rx);
	}
}

/* ---- sequence wrap and SSRC changes ----------------------------------- */

static void test_srtp_sequence_wrap(void **state)
{
	(void)state;
	for (int si = 0; si < SG_SRTP_SUITE_COUNT; si++) {
		enum sg_srtp_suite su = (enum sg_srtp_suite)si;
		struct sg_srtp tx, rx;
		uint16_t seq = 65000;

		if (!sg_srtp_suite_is_available(su))
			continue;
		pair_init(&tx, &rx, su, 3);
		/* 70,000 packets: 536 before the wrap, ROC 0 -> 1. */
		for (int i = 0; i < 70000; i++)
			rtp_roundtrip(&tx, &rx, seq++, 0x0badcafe, 20);
		assert_int_equal(seq, (uint16_t)(65000 + 70000));
		pair_close(&tx, &rx);
	}
}

static void test_srtp_ssrc_change(void **state)
{
	(void)state;
	for (int si = 0; si < SG_SRTP_SUITE_COUNT; si++) {
		enum sg_srtp_suite su = (enum sg_srtp_suite)si;
		struct sg_srtp tx, rx;

		if (!sg_srtp_suite_is_available(su))
			continue;
		pair_init(&tx, &rx, su, 4);
		for (uint16_t s = 1; s <= 500; s++)
			rtp_roundtrip(&tx, &rx, s, 0xaaaa0001, 160);
		/* A new source, unrelated sequence numbers (RFC 3550 8.2). */
		for (uint16_t s = 40000; s < 40500; s++)
			rtp_roundtrip(&tx, &rx, s, 0xbbbb0002, 160);
		/* The first source comes back where it left off. */
		for (uint16_t s = 501; s <= 600; s++)
			rtp_roundtrip(&tx, &rx, s, 0xaaaa0001, 160);
		pair_close(&tx, &rx);
	}
}

static void test_srtp_wrap_with_ssrc_change(void **state)
{
	(void)state;
	for (int si = 0; si < SG_SRTP_SUITE_COUNT; si++) {
		enum sg_srtp_suite su = (enum sg_srtp_suite)si;
		struct sg_srtp tx, rx;
		uint16_t a = 65000, b = 65530;

		if (!sg_srtp_suite_is_available(su))
			continue;
		pair_init(&tx, &rx, su, 5);
		/* A wraps at 536; B joins at 35,000, wrapping 6 packets on. */
		for (int i = 0; i < 70000; i++) {
			rtp_roundtrip(&tx, &rx, a++, 0xaaaa0001, 20);
			if (i >= 35000)
				rtp_roundtrip(&tx, &rx, b++, 0xbbbb0002, 20);
		}
		pair_close(&tx, &rx);
	}
}

/* ---- rekey ------------------------------------------------------------ */

/*
 * RFC 4568 6.3.2 UNENCRYPTED_SRTCP: SRTCP stays authenticated but its
 * payload is readable, and the E flag of the SRTCP index is 0.
 */
static void test_srtp_unencrypted_srtcp(void **state)
{
	struct sg_srtp tx, rx;
	struct pkt p, plain;
	uint8_t key[SG_SRTP_MAX_KEY];
	size_t kl = sg_srtp_key_len(SG_SRTP_AES_CM_128_HMAC_SHA1_80);

	(void)state;
	key_make(key, kl, 9);
	assert_int_equal(sg_srtp_init_ex(&tx, SG_SRTP_AES_CM_128_HMAC_SHA1_80,
	    key, kl, true, true), 0);
	assert_int_equal(sg_srtp_init_ex(&rx, SG_SRTP_AES_CM_128_HMAC_SHA1_80,
	    key, kl, false, true), 0);
	assert_true(tx.rtcp_plain && rx.rtcp_plain);
	rtcp_make(&p, 0x01020304, 1);
	plain = p;
	assert_int_equal(sg_srtp_protect_rtcp(&tx, p.b, &p.len), 0);
	assert_int_equal(p.len, plain.len + 4 + 10);
	assert_memory_equal(p.b, plain.b, (size_t)plain.len);	/* readable */
	assert_int_equal(p.b[plain.len] & 0x80, 0);		/* E = 0 */
	assert_int_equal(sg_srtp_unprotect_rtcp(&rx, p.b, &p.len), 0);
	assert_int_equal(p.len, plain.len);
	/* Still authenticated. */
	rtcp_make(&p, 0x01020304, 2);
	assert_int_equal(sg_srtp_protect_rtcp(&tx, p.b, &p.len), 0);
	p.b[9] ^= 1;
	assert_int_equal(sg_srtp_unprotect_rtcp(&rx, p.b, &p.len), -EBADMSG);
	sg_srtp_close(&tx);
	sg_srtp_close(&rx);
}

static void test_srtp_rekey(void **state)
{
	(void)state;
	for (int si = 0; si < SG_SRTP_SUITE_COUNT; si++) {
		enum sg_srtp_suite su = (enum sg_srtp_suite)si;
		size_t kl = sg_srtp_key_len(su);
		uint8_t key2[SG_SRTP_MAX_KEY];
		struct sg_srtp tx, rx;
		struct pkt old, old_rtcp, o;
		const uint32_t ssrc = 0x13572468;

		if (!sg_srtp_suite_is_available(su))
			continue;
		pair_init(&tx, &rx, su, 6);
		for (uint16_t s = 30000; s < 30010; s++)
			rtp_roundtrip(&tx, &rx, s, ssrc, 160);
		/* Protected with the old key, never delivered. */
		rtp_make(&old, 30010, 0, ssrc, 160, 0x77);
		assert_int_equal(sg_srtp_protect(&tx, old.b, &old.len), 0);
		rtcp_make(&old_rtcp, ssrc, 3);
		assert_int_equal(sg_srtp_protect_rtcp(&tx, old_rtcp.b,
						      &old_rtcp.len), 0);

		/* A bad key length changes nothing. */
		key_make(key2, kl, 66);
		assert_int_equal(sg_srtp_rekey(&tx, key2, kl - 1), -EINVAL);
		assert_int_equal(sg_srtp_rekey(&rx, NULL, kl), -EINVAL);
		rtp_roundtrip(&tx, &rx, 30011, ssrc, 160);

		assert_int_equal(sg_srtp_rekey(&tx, key2, kl), 0);
		assert_int_equal(sg_srtp_rekey(&rx, key2, kl), 0);
		assert_int_equal(tx.suite, su);
		assert_true(tx.outbound);
		assert_false(rx.outbound);
		assert_false(rx.rtcp_plain);	/* kept as it was */

		/*
		 * Fresh state: sequence numbers below the old ones are new
		 * packets, and the old key's packet is rejected.
		 */
		for (uint16_t s = 5; s < 20; s++)
			rtp_roundtrip(&tx, &rx, s, ssrc, 160);
		o = old;
		assert_int_equal(sg_srtp_unprotect(&rx, o.b, &o.len), -EBADMSG);
		o = old_rtcp;
		assert_int_equal(sg_srtp_unprotect_rtcp(&rx, o.b, &o.len),
				 -EBADMSG);
		rtcp_make(&o, ssrc, 4);
		assert_int_equal(sg_srtp_protect_rtcp(&tx, o.b, &o.len), 0);
		assert_int_equal(sg_srtp_unprotect_rtcp(&rx, o.b, &o.len), 0);

		/* Only one side rekeyed: nothing gets through. */
		key_make(key2, kl, 67);
		assert_int_equal(sg_srtp_rekey(&tx, key2, kl), 0);
		rtp_make(&o, 20, 0, ssrc, 160, 0x78);
		assert_int_equal(sg_srtp_protect(&tx, o.b, &o.len), 0);
		assert_int_equal(sg_srtp_unprotect(&rx, o.b, &o.len), -EBADMSG);
		pair_close(&tx, &rx);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_srtp_rfc3711_b2_keystream),
		cmocka_unit_test(test_srtp_rfc3711_b3_kdf_model),
		cmocka_unit_test(test_srtp_rfc3711_b3_protect),
		cmocka_unit_test(test_srtp_suite_names),
		cmocka_unit_test(test_srtp_suite_availability),
		cmocka_unit_test(test_srtp_init_rejects_bad_arguments),
		cmocka_unit_test(test_srtp_roundtrip_all_suites),
		cmocka_unit_test(test_srtp_sender_allows_repeat),
		cmocka_unit_test(test_srtp_rejects_tamper_replay_wrong_key),
		cmocka_unit_test(test_srtp_sequence_wrap),
		cmocka_unit_test(test_srtp_ssrc_change),
		cmocka_unit_test(test_srtp_wrap_with_ssrc_change),
		cmocka_unit_test(test_srtp_rekey),
		cmocka_unit_test(test_srtp_unencrypted_srtcp),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
