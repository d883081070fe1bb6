/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the SDP parser and writer (gateway/sdp.c): RFC 4566
 * parsing, RFC 4568 a=crypto and its keys, RFC 3605 a=rtcp, and the
 * RTP/AVP <-> RTP/SAVP rewrite compared byte for byte.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "sdp.h"

/* Key bytes 0, 1, 2, ... and their base64 (RFC 4648 §4). */
#define B64_30 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd"
#define B64_46 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLQ"
#define B64_44 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKis"
#define B64_28 "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGw"

static const uint8_t seq_key[SG_SDP_MAX_KEY] = {
	0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19,
	20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36,
	37, 38, 39, 40, 41, 42, 43, 44, 45,
};

static int parse(struct sg_sdp *sdp, const char *body, struct sg_perr *err)
{
	return sg_sdp_parse(sdp, body, strlen(body), err);
}

static void assert_str(struct sg_str s, const char *want)
{
	char buf[512];

	assert_true(s.len < sizeof(buf));
	memcpy(buf, s.p, s.len);
	buf[s.len] = '\0';
	assert_string_equal(buf, want);
}

/* A plan that moves every stream to 203.0.113.10, port 30000 + 2i. */
static void plan_init(struct sg_sdp_rewrite *rw, const struct sg_sdp *sdp,
		      bool secure)
{
	unsigned i;

	memset(rw, 0, sizeof(*rw));
	rw->addr = "203.0.113.10";
	rw->nmedia = sdp->nmedia;
	for (i = 0; i < sdp->nmedia; i++) {
		rw->media[i].port = (uint16_t)(30000 + 2 * i);
		rw->media[i].rtcp_port = (uint16_t)(30001 + 2 * i);
		rw->media[i].secure = secure;
	}
}

static void plan_crypto(struct sg_sdp_media_out *mo, unsigned n)
{
	static const char *suites[] = { "AES_CM_128_HMAC_SHA1_80",
		"AES_256_CM_HMAC_SHA1_80" };
	static const size_t lens[] = { 30, 46 };
	unsigned i;

	mo->ncrypto = n;
	for (i = 0; i < n; i++) {
		mo->crypto[i].tag = i + 1;
		mo->crypto[i].suite = suites[i % 2];
		mo->crypto[i].key = seq_key;
		mo->crypto[i].keylen = lens[i % 2];
	}
}

/* Write body with rw and compare with want, byte for byte. */
static void assert_written(const char *body, const struct sg_sdp_rewrite *rw,
			   const char *want)
{
	struct sg_sdp sdp;
	struct sg_perr err;
	char out[4096];
	ssize_t n;

	assert_int_equal(parse(&sdp, body, &err), 0);
	n = sg_sdp_write(&sdp, body, strlen(body), rw, out, sizeof(out));
	assert_true(n > 0);
	assert_int_equal((size_t)n, strlen(want));
	assert_memory_equal(out, want, (size_t)n);
	assert_int_equal(out[n], '\0');
}

static const char offer_av[] =
	"v=0\r\n"
	"o=alice 2890844526 2890844526 IN IP4 10.0.0.5\r\n"
	"s=-\r\n"
	"c=IN IP4 10.0.0.5\r\n"
	"t=0 0\r\n"
	"m=audio 49170 RTP/AVP 0 8 101\r\n"
	"a=rtpmap:0 PCMU/8000\r\n"
	"a=rtpmap:101 telephone-event/8000\r\n"
	"a=fmtp:101 0-16\r\n"
	"a=rtcp-mux\r\n"
	"a=sendrecv\r\n"
	"m=video 51372/2 RTP/AVPF 99\r\n"
	"c=IN IP4 10.0.0.6/127\r\n"
	"b=AS:2000\r\n"
	"a=rtpmap:99 H264/90000\r\n"
	"a=rtcp:53020 IN IP4 10.0.0.6\r\n";

static void test_sdp_parse_offer_audio_video(void **state)
{
	struct sg_sdp sdp;
	struct sg_perr err;

	(void)state;
	assert_int_equal(parse(&sdp, offer_av, &err), 0);
	assert_true(sdp.has_conn);
	assert_str(sdp.conn_addr, "10.0.0.5");
	assert_false(sdp.conn_v6);
	assert_int_equal(sdp.nmedia, 2);

	assert_str(sdp.media[0].type, "audio");
	assert_int_equal(sdp.media[0].port, 49170);
	assert_int_equal(sdp.media[0].nports, 1);
	assert_str(sdp.media[0].proto, "RTP/AVP");
	assert_str(sdp.media[0].fmts, "0 8 101");
	assert_false(sdp.media[0].has_conn);
	assert_true(sdp.media[0].rtcp_mux);
	assert_false(sdp.media[0].has_rtcp);
	assert_int_equal(sdp.media[0].dir, SG_SDP_SENDRECV);
	assert_int_equal(sdp.media[0].ncrypto, 0);

	assert_str(sdp.media[1].type, "video");
	assert_int_equal(sdp.media[1].port, 51372);
	assert_int_equal(sdp.media[1].nports, 2);
	assert_str(sdp.media[1].proto, "RTP/AVPF");
	assert_str(sdp.media[1].fmts, "99");
	assert_true(sdp.media[1].has_conn);
	assert_str(sdp.media[1].conn_addr, "10.0.0.6");
	assert_false(sdp.media[1].rtcp_mux);
	assert_true(sdp.media[1].has_rtcp);
	assert_int_equal(sdp.media[1].rtcp_port, 53020);
}

static void test_sdp_parse_hold_directions(void **state)
{
	static const char body[] =
		"v=0\r\n"
		"o=- 1 2 IN IP4 10.0.0.5\r\n"
		"s=-\r\n"
		"c=IN IP4 0.0.0.0\r\n"
		"t=0 0\r\n"
		"a=sendonly\r\n"
		"m=audio 49170 RTP/AVP 0\r\n"
		"m=video 49172 RTP/AVP 99\r\n"
		"a=inactive\r\n"
		"m=audio 49174 RTP/AVP 0\r\n"
		"a=recvonly\r\n"
		"m=audio 49176 RTP/AVP 0\r\n"
		"a=sendrecv\r\n";
	struct sg_sdp sdp;
	struct sg_perr err;

	(void)state;
	assert_int_equal(parse(&sdp, body, &err), 0);
	assert_int_equal(sdp.dir, SG_SDP_SENDONLY);
	assert_int_equal(sdp.nmedia, 4);
	assert_int_equal(sdp.media[0].dir, SG_SDP_SENDONLY);
	assert_int_equal(sdp.media[1].dir, SG_SDP_INACTIVE);
	assert_int_equal(sdp.media[2].dir, SG_SDP_RECVONLY);
	assert_int_equal(sdp.media[3].dir, SG_SDP_SENDRECV);
}

static void test_sdp_parse_ipv6_and_port_zero(void **state)
{
	static const char body[] =
		"v=0\r\n"
		"o=- 1 1 IN IP6 2001:db8::5\r\n"
		"s=-\r\n"
		"t=0 0\r\n"
		"m=audio 49170 RTP/SAVP 0\r\n"
		"c=IN IP6 2001:db8::5\r\n"
		"a=rtcp:49180 IN IP6 2001:db8::5\r\n"
		"m=video 0 RTP/SAVP 99\r\n"
		"c=IN IP6 ff15::101/3\r\n";
	struct sg_sdp sdp;
	struct sg_perr err;

	(void)state;
	assert_int_equal(parse(&sdp, body, &err), 0);
	assert_false(sdp.has_conn);
	assert_int_equal(sdp.nmedia, 2);
	assert_true(sdp.media[0].has_conn);
	assert_true(sdp.media[0].conn_v6);
	assert_str(sdp.media[0].conn_addr, "2001:db8::5");
	assert_int_equal(sdp.media[0].rtcp_port, 49180);
	assert_int_equal(sdp.media[1].port, 0);
	assert_true(sdp.media[1].conn_v6);
	assert_str(sdp.media[1].conn_addr, "ff15::101");
}

static void test_sdp_parse_lf_only(void **state)
{
	static const char body[] =
		"v=0\n"
		"o=- 1 1 IN IP4 10.0.0.5\n"
		"s=-\n"
		"c=IN IP4 10.0.0.5\n"
		"t=0 0\n"
		"m=audio 4000 RTP/SAVP 0\n"
		"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" B64_30 "\n"
		"a=rtcp-mux";		/* and no line end at all */
	struct sg_sdp sdp;
	struct sg_perr err;

	(void)state;
	assert_int_equal(parse(&sdp, body, &err), 0);
	assert_int_equal(sdp.media[0].port, 4000);
	assert_int_equal(sdp.media[0].ncrypto, 1);
	assert_str(sdp.media[0].crypto[0].key_params, "inline:" B64_30);
	assert_true(sdp.media[0].rtcp_mux);
}

static void test_sdp_parse_errors(void **state)
{
	static const struct {
		const char *body;
		unsigned line;
	} bad[] = {
		{ "", 1 },
		{ "\r\n", 1 },
		{ "s=-\r\nv=0\r\n", 1 },
		{ "v=0\r\nhello\r\n", 2 },
		{ "v=0\r\n=x\r\n", 2 },
		{ "v=0\r\nv=0\r\n", 2 },
		{ "v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 70000 RTP/AVP 0\r\n", 3 },
		{ "v=0\r\nc=IN IP4 1.2.3.4\r\n"
		  "m=audio 4000/0 RTP/AVP 0\r\n", 3 },
		{ "v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 4000\r\n", 3 },
		{ "v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 4000 RTP/AVP\r\n", 3 },
		{ "v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio x RTP/AVP 0\r\n", 3 },
		{ "v=0\r\nc=IN IP5 1.2.3.4\r\n", 2 },
		{ "v=0\r\nc=IN IP4\r\n", 2 },
		{ "v=0\r\nc=IN IP4 1.2.3.4 x\r\n", 2 },
		{ "v=0\r\nc=IN IP4 /24\r\n", 2 },
		{ "v=0\r\nc=ATM IP4 1.2.3.4\r\n", 2 },
		{ "v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 1 RTP/AVP 0\r\n"
		  "a=rtcp:x\r\n", 4 },
		{ "v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 1 RTP/AVP 0\r\n"
		  "a=rtcp:5 IN IP4\r\n", 4 },
		/* No c= at all: RFC 4566 §5.7. */
		{ "v=0\r\ns=-\r\nm=audio 1 RTP/AVP 0\r\nm=audio 2 RTP/AVP 0\r\n"
		  "c=IN IP4 1.2.3.4\r\n", 3 },
	};
	struct sg_sdp sdp;
	struct sg_perr err;
	size_t i;

	(void)state;
	for (i = 0; i < SG_ARRAY_SIZE(bad); i++) {
		memset(&err, 0, sizeof(err));
		assert_int_equal(parse(&sdp, bad[i].body, &err), -EBADMSG);
		assert_int_equal(err.line, bad[i].line);
		assert_non_null(err.reason);
	}
	/* err may be NULL. */
	assert_int_equal(sg_sdp_parse(&sdp, "x", 1, NULL), -EBADMSG);
	assert_int_equal(sg_sdp_parse(&sdp, NULL, 0, NULL), -EBADMSG);
}

static void test_sdp_parse_too_many_media(void **state)
{
	char body[1024];
	struct sg_sdp sdp;
	struct sg_perr err;
	size_t n;
	unsigned i;

	(void)state;
	n = (size_t)snprintf(body, sizeof(body), "v=0\r\nc=IN IP4 1.2.3.4\r\n");
	for (i = 0; i < SG_SDP_MAX_MEDIA; i++)
		n += (size_t)snprintf(body + n, sizeof(body) - n,
		    "m=audio %u RTP/AVP 0\r\n", 4000 + 2 * i);
	assert_int_equal(sg_sdp_parse(&sdp, body, n, &err), 0);
	assert_int_equal(sdp.nmedia, SG_SDP_MAX_MEDIA);
	n += (size_t)snprintf(body + n, sizeof(body) - n,
	    "m=audio 5000 RTP/AVP 0\r\n");
	assert_int_equal(sg_sdp_parse(&sdp, body, n, &err), -E2BIG);
	assert_int_equal(err.line, SG_SDP_MAX_MEDIA + 3);
}

static void test_sdp_parse_too_many_crypto(void **state)
{
	char body[4096];
	struct sg_sdp sdp;
	struct sg_perr err;
	size_t n;
	unsigned i;

	(void)state;
	n = (size_t)snprintf(body, sizeof(body),
	    "v=0\r\nc=IN IP4 1.2.3.4\r\nm=audio 4000 RTP/SAVP 0\r\n");
	for (i = 0; i < SG_SDP_MAX_CRYPTO; i++)
		n += (size_t)snprintf(body + n, sizeof(body) - n,
		    "a=crypto:%u AES_CM_128_HMAC_SHA1_80 inline:" B64_30
		    "\r\na=crypto:bad\r\n", i + 1);
	assert_int_equal(sg_sdp_parse(&sdp, body, n, &err), 0);
	assert_int_equal(sdp.media[0].ncrypto, SG_SDP_MAX_CRYPTO);
	n += (size_t)snprintf(body + n, sizeof(body) - n,
	    "a=crypto:99 AES_CM_128_HMAC_SHA1_32 inline:" B64_30 "\r\n");
	assert_int_equal(sg_sdp_parse(&sdp, body, n, &err), -E2BIG);
}

static void test_sdp_parse_skips_odd_crypto(void **state)
{
	static const char body[] =
		"v=0\r\n"
		"c=IN IP4 10.0.0.5\r\n"
		"m=audio 4000 RTP/SAVP 0\r\n"
		"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" B64_30
		" UNENCRYPTED_SRTCP\r\n"
		"a=crypto:2 AES_CM_128_HMAC_SHA1_32 key:" B64_30 "\r\n"
		"a=crypto:x AES_CM_128_HMAC_SHA1_32 inline:" B64_30 "\r\n"
		"a=crypto:\r\n"
		"a=crypto\r\n"
		"a=crypto:3 AEAD_AES_256_GCM inline:" B64_44 " KDR=1\r\n";
	struct sg_sdp sdp;
	struct sg_perr err;

	(void)state;
	assert_int_equal(parse(&sdp, body, &err), 0);
	assert_int_equal(sdp.media[0].ncrypto, 2);
	assert_int_equal(sdp.media[0].crypto[0].tag, 1);
	assert_true(sg_sdp_crypto_has_param(&sdp.media[0].crypto[0],
	    "UNENCRYPTED_SRTCP"));
	assert_int_equal(sdp.media[0].crypto[1].tag, 3);
	assert_str(sdp.media[0].crypto[1].suite, "AEAD_AES_256_GCM");
	assert_true(sg_sdp_crypto_has_param(&sdp.media[0].crypto[1], "KDR"));
}

static void test_sdp_crypto_parse_fields(void **state)
{
	static const char v[] = "  42 AES_CM_128_HMAC_SHA1_80 "
	    "inline:abc|2^20|1:4;inline:def  UNENCRYPTED_SRTCP KDR=1 "
	    "FEC_ORDER=FEC_SRTP  \r\n";
	struct sg_sdp_crypto c;

	(void)state;
	assert_int_equal(sg_sdp_crypto_parse(sg_str_make(v, strlen(v)), &c),
	    0);
	assert_int_equal(c.tag, 42);
	assert_str(c.suite, "AES_CM_128_HMAC_SHA1_80");
	assert_str(c.key_params, "inline:abc|2^20|1:4;inline:def");
	assert_str(c.session_params,
	    "UNENCRYPTED_SRTCP KDR=1 FEC_ORDER=FEC_SRTP");
	assert_str(c.value, "42 AES_CM_128_HMAC_SHA1_80 "
	    "inline:abc|2^20|1:4;inline:def  UNENCRYPTED_SRTCP KDR=1 "
	    "FEC_ORDER=FEC_SRTP");
	assert_true(sg_sdp_crypto_has_param(&c, "UNENCRYPTED_SRTCP"));
	assert_true(sg_sdp_crypto_has_param(&c, "unencrypted_srtcp"));
	assert_true(sg_sdp_crypto_has_param(&c, "KDR"));
	assert_true(sg_sdp_crypto_has_param(&c, "KDR=1"));
	assert_true(sg_sdp_crypto_has_param(&c, "FEC_ORDER"));
	assert_false(sg_sdp_crypto_has_param(&c, "UNENCRYPTED_SRTP"));
	assert_false(sg_sdp_crypto_has_param(&c, "KD"));
	assert_false(sg_sdp_crypto_has_param(&c, "WSH"));
	assert_false(sg_sdp_crypto_has_param(&c, ""));
	assert_false(sg_sdp_crypto_has_param(&c, NULL));
	assert_int_equal(sg_sdp_crypto_key(&c, (uint8_t[46]){ 0 }, 46),
	    -ENOTSUP);

	/* No session parameters. */
	assert_int_equal(sg_sdp_crypto_parse(SG_STR("1 AES_CM_128_HMAC_SHA1_32 "
	    "inline:" B64_30), &c), 0);
	assert_int_equal(c.session_params.len, 0);
	assert_false(sg_sdp_crypto_has_param(&c, "KDR"));
}

static void test_sdp_crypto_parse_rejects(void **state)
{
	static const char *const bad[] = {
		"",
		"1",
		"1 AES_CM_128_HMAC_SHA1_80",
		"1234567890 AES_CM_128_HMAC_SHA1_80 inline:" B64_30,
		"x AES_CM_128_HMAC_SHA1_80 inline:" B64_30,
		"-1 AES_CM_128_HMAC_SHA1_80 inline:" B64_30,
		"1 AES-CM-128 inline:" B64_30,
		"1 AES_CM_128_HMAC_SHA1_80 " B64_30,
		"1 AES_CM_128_HMAC_SHA1_80 inline:",
		"1 AES_CM_128_HMAC_SHA1_80 inline:" B64_30 ";",
		"1 AES_CM_128_HMAC_SHA1_80 inline:" B64_30 ";;inline:abc",
		"1 AES_CM_128_HMAC_SHA1_80 uri:http://x/" B64_30,
		"1 AES_CM_128_HMAC_SHA1_80 inline:" B64_30 " KDR=1\001",
	};
	struct sg_sdp_crypto c;
	size_t i;

	(void)state;
	for (i = 0; i < SG_ARRAY_SIZE(bad); i++) {
		assert_int_equal(sg_sdp_crypto_parse(sg_str_make(bad[i],
		    strlen(bad[i])), &c), -EINVAL);
		assert_int_equal(c.key_params.len, 0);
	}
	assert_int_equal(sg_sdp_crypto_parse(SG_STR_NULL, &c), -EINVAL);
	/* Nine digits are the most a tag may have (RFC 4568 §9.1). */
	assert_int_equal(sg_sdp_crypto_parse(SG_STR("123456789 "
	    "AES_CM_128_HMAC_SHA1_80 inline:" B64_30), &c), 0);
	assert_int_equal(c.tag, 123456789);
}

/* Decode "inline:<b64>" into a buffer of keysz bytes. */
static int key_of(const char *b64, uint8_t *key, size_t keysz)
{
	char v[256];
	struct sg_sdp_crypto c;
	int n;

	n = snprintf(v, sizeof(v), "1 AEAD_AES_256_GCM inline:%s", b64);
	assert_true(n > 0 && (size_t)n < sizeof(v));
	assert_int_equal(sg_sdp_crypto_parse(sg_str_make(v, (size_t)n), &c),
	    0);
	return sg_sdp_crypto_key(&c, key, keysz);
}

static void test_sdp_crypto_key_sizes(void **state)
{
	static const struct {
		const char *b64;
		int len;
	} ok[] = {
		{ B64_30, 30 },		/* AES_CM_128: 16 + 14 */
		{ B64_46, 46 },		/* AES_256_CM: 32 + 14 */
		{ B64_46 "==", 46 },
		{ B64_44, 44 },		/* AEAD_AES_256_GCM: 32 + 12 */
		{ B64_44 "=", 44 },
		{ B64_28, 28 },		/* AEAD_AES_128_GCM: 16 + 12 */
		{ B64_28 "==", 28 },
	};
	uint8_t key[SG_SDP_MAX_KEY];
	size_t i;

	(void)state;
	assert_int_equal(strlen(B64_44), 59);
	for (i = 0; i < SG_ARRAY_SIZE(ok); i++) {
		memset(key, 0xff, sizeof(key));
		assert_int_equal(key_of(ok[i].b64, key, sizeof(key)),
		    ok[i].len);
		assert_memory_equal(key, seq_key, (size_t)ok[i].len);
	}
	/* A buffer of exactly the key's size is enough. */
	assert_int_equal(key_of(B64_30, key, 30), 30);
	assert_int_equal(key_of(B64_44, key, 44), 44);
}

static void test_sdp_crypto_key_declines(void **state)
{
	static const char *const declined[] = {
		B64_30 "|2^31",
		B64_30 "|1:4",
		B64_30 "|2^20|1:4",
		B64_30 "|!!",
		B64_30 ";inline:" B64_30,
	};
	uint8_t key[SG_SDP_MAX_KEY];
	size_t i;

	(void)state;
	for (i = 0; i < SG_ARRAY_SIZE(declined); i++)
		assert_int_equal(key_of(declined[i], key, sizeof(key)),
		    -ENOTSUP);
}

static void test_sdp_crypto_key_bad_base64(void **state)
{
	static const char *const bad[] = {
		"!AECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwd",
		B64_30 "A",					/* 41 chars */
		"AAECAwQFBgcICQoLDA0O=xAREhMUFRYXGBkaGxwd",
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGw=",	/* bad pad */
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGw===",
		"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGx",	/* bits left */
		"====",
		"A",
	};
	struct sg_sdp_crypto c;
	uint8_t key[SG_SDP_MAX_KEY];
	size_t i;

	(void)state;
	for (i = 0; i < SG_ARRAY_SIZE(bad); i++)
		assert_int_equal(key_of(bad[i], key, sizeof(key)), -EINVAL);
	/* A key longer than the buffer. */
	assert_int_equal(key_of(B64_46, key, 30), -EINVAL);
	assert_int_equal(key_of(B64_30, key, 29), -EINVAL);
	/* A hand-made crypto without key-params. */
	memset(&c, 0, sizeof(c));
	assert_int_equal(sg_sdp_crypto_key(&c, key, sizeof(key)), -EINVAL);
}

static void test_sdp_write_strips_ice_and_best_effort(void **state)
{
	static const char body[] =
		"v=0\r\n"
		"o=- 1 1 IN IP4 10.0.0.5\r\n"
		"s=-\r\n"
		"c=IN IP4 10.0.0.5\r\n"
		"t=0 0\r\n"
		"a=ice-ufrag:abcd\r\n"
		"a=ice-pwd:secretsecretsecretsecret\r\n"
		"m=audio 49170 RTP/AVP 0\r\n"
		"a=candidate:1 1 UDP 2130706431 10.0.0.5 49170 typ host\r\n"
		"a=end-of-candidates\r\n"
		"a=rtpmap:0 PCMU/8000\r\n";
	static const char want[] =
		"v=0\r\n"
		"o=- 1 1 IN IP4 203.0.113.10\r\n"
		"s=-\r\n"
		"c=IN IP4 203.0.113.10\r\n"
		"t=0 0\r\n"
		"m=audio 30000 RTP/AVP 0\r\n"
		"a=rtpmap:0 PCMU/8000\r\n"
		"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" B64_30 "\r\n";
	struct sg_sdp_rewrite rw;
	struct sg_sdp sdp;
	struct sg_perr err;

	/* The inside's addresses never leave in ICE candidates; best-effort
	 * SRTP (RFC 4568 7.1.1) keeps RTP/AVP and adds a=crypto. */
	(void)state;
	assert_int_equal(parse(&sdp, body, &err), 0);
	plan_init(&rw, &sdp, true);
	plan_crypto(&rw.media[0], 1);
	rw.media[0].best_effort = true;
	assert_written(body, &rw, want);
}

static void test_sdp_write_avp_to_savp(void **state)
{
	static const char body[] =
		"v=0\r\n"
		"o=alice 2890844526 2890844526 IN IP4 10.0.0.5\r\n"
		"s=-\r\n"
		"c=IN IP4 10.0.0.5\r\n"
		"t=0 0\r\n"
		"m=audio 49170 RTP/AVP 0 8 101\r\n"
		"b=AS:64\r\n"
		"a=rtpmap:0 PCMU/8000\r\n"
		"a=rtpmap:101 telephone-event/8000\r\n"
		"a=fmtp:101 0-16\r\n"
		"a=rtcp:49171 IN IP4 10.0.0.5\r\n"
		"a=x-unknown:Some Value  with\tblanks \r\n"
		"a=ssrc:1627318592 cname:x@y\n"
		"a=sendrecv\r\n";
	static const char want[] =
		"v=0\r\n"
		"o=alice 2890844526 2890844526 IN IP4 203.0.113.10\r\n"
		"s=-\r\n"
		"c=IN IP4 203.0.113.10\r\n"
		"t=0 0\r\n"
		"m=audio 30000 RTP/SAVP 0 8 101\r\n"
		"b=AS:64\r\n"
		"a=rtpmap:0 PCMU/8000\r\n"
		"a=rtpmap:101 telephone-event/8000\r\n"
		"a=fmtp:101 0-16\r\n"
		"a=rtcp:30001 IN IP4 203.0.113.10\r\n"
		"a=x-unknown:Some Value  with\tblanks \r\n"
		"a=ssrc:1627318592 cname:x@y\n"
		"a=sendrecv\r\n"
		"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" B64_30 "\r\n"
		"a=crypto:2 AES_256_CM_HMAC_SHA1_80 inline:" B64_46 "=="
		" UNENCRYPTED_SRTCP\r\n";
	struct sg_sdp_rewrite rw;
	struct sg_sdp sdp;
	struct sg_perr err;

	(void)state;
	assert_int_equal(parse(&sdp, body, &err), 0);
	plan_init(&rw, &sdp, true);
	plan_crypto(&rw.media[0], 2);
	rw.media[0].crypto[1].params = "UNENCRYPTED_SRTCP";
	assert_written(body, &rw, want);
}

static void test_sdp_write_savp_to_avp(void **state)
{
	static const char body[] =
		"v=0\r\n"
		"o=- 1545997027 1 IN IP4 198.51.100.1\r\n"
		"s=tester\r\n"
		"t=0 0\r\n"
		"m=audio 2000 RTP/SAVP 0\r\n"
		"c=IN IP4 198.51.100.1\r\n"
		"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" B64_30 "\r\n"
		"a=rtpmap:0 PCMU/8000\r\n"
		"a=crypto:2 AES_CM_128_HMAC_SHA1_32 inline:" B64_30 "|2^20\r\n"
		"a=sendrecv\r\n"
		"a=CRYPTO:3 odd\r\n"
		"m=video 2002 RTP/SAVPF 96\r\n"
		"c=IN IP4 198.51.100.1\r\n"
		"a=rtpmap:96 VP8/90000\r\n"
		"a=rtcp-fb:96 nack\r\n"
		"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" B64_30 "\r\n";
	static const char want[] =
		"v=0\r\n"
		"o=- 1545997027 1 IN IP4 203.0.113.10\r\n"
		"s=tester\r\n"
		"t=0 0\r\n"
		"m=audio 30000 RTP/AVP 0\r\n"
		"c=IN IP4 203.0.113.10\r\n"
		"a=rtpmap:0 PCMU/8000\r\n"
		"a=sendrecv\r\n"
		"m=video 30002 RTP/AVPF 96\r\n"
		"c=IN IP4 203.0.113.10\r\n"
		"a=rtpmap:96 VP8/90000\r\n"
		"a=rtcp-fb:96 nack\r\n";
	struct sg_sdp_rewrite rw;
	struct sg_sdp sdp;
	struct sg_perr err;

	(void)state;
	assert_int_equal(parse(&sdp, body, &err), 0);
	assert_int_equal(sdp.media[0].ncrypto, 2);
	plan_init(&rw, &sdp, false);
	/* Crypto in a plan for a plain stream is ignored. */
	plan_crypto(&rw.media[0], 1);
	assert_written(body, &rw, want);
}

static void test_sdp_write_multiple_media(void **state)
{
	static const char want[] =
		"v=0\r\n"
		"o=alice 2890844526 2890844526 IN IP4 203.0.113.10\r\n"
		"s=-\r\n"
		"c=IN IP4 203.0.113.10\r\n"
		"t=0 0\r\n"
		"m=audio 30000 RTP/SAVP 0 8 101\r\n"
		"a=rtpmap:0 PCMU/8000\r\n"
		"a=rtpmap:101 telephone-event/8000\r\n"
		"a=fmtp:101 0-16\r\n"
		"a=rtcp-mux\r\n"
		"a=sendrecv\r\n"
		"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" B64_30 "\r\n"
		"m=video 30002/2 RTP/SAVPF 99\r\n"
		"c=IN IP4 203.0.113.10\r\n"
		"b=AS:2000\r\n"
		"a=rtpmap:99 H264/90000\r\n"
		"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" B64_30 "\r\n"
		"a=crypto:2 AES_256_CM_HMAC_SHA1_80 inline:" B64_46 "==\r\n";
	struct sg_sdp_rewrite rw;
	struct sg_sdp sdp;
	struct sg_perr err;

	(void)state;
	assert_int_equal(parse(&sdp, offer_av, &err), 0);
	plan_init(&rw, &sdp, true);
	plan_crypto(&rw.media[0], 1);
	plan_crypto(&rw.media[1], 2);
	rw.media[1].rtcp_port = 0;	/* drops the video's a=rtcp */
	assert_written(offer_av, &rw, want);
}

static void test_sdp_write_port_zero_stays_rejected(void **state)
{
	static const char body[] =
		"v=0\r\n"
		"c=IN IP4 10.0.0.5\r\n"
		"m=audio 4000 RTP/AVP 0\r\n"
		"m=video 0 RTP/AVP 99\r\n"
		"a=rtcp:4001\r\n";
	static const char want[] =
		"v=0\r\n"
		"c=IN IP4 203.0.113.10\r\n"
		"m=audio 0 RTP/SAVP 0\r\n"
		"m=video 0 RTP/SAVP 99\r\n"
		"a=rtcp:30003\r\n";
	struct sg_sdp_rewrite rw;
	struct sg_sdp sdp;
	struct sg_perr err;

	(void)state;
	assert_int_equal(parse(&sdp, body, &err), 0);
	plan_init(&rw, &sdp, true);
	rw.media[0].port = 0;
	assert_written(body, &rw, want);
}

static void test_sdp_write_ipv6(void **state)
{
	static const char body[] =
		"v=0\r\n"
		"o=- 2890844526 2890842807 IN IP4 10.0.0.5\r\n"
		"s=-\r\n"
		"c=IN IP4 224.2.1.1/127/3\r\n"
		"t=0 0\r\n"
		"m=audio 10002 RTP/AVP 0\r\n"
		"c=IN IP4 10.0.0.5\r\n"
		"a=rtcp:10003 IN IP4 10.0.0.5\r\n";
	static const char want[] =
		"v=0\r\n"
		"o=- 2890844526 2890842807 IN IP6 2001:db8::10\r\n"
		"s=-\r\n"
		"c=IN IP6 2001:db8::10\r\n"
		"t=0 0\r\n"
		"m=audio 30000 RTP/SAVP 0\r\n"
		"c=IN IP6 2001:db8::10\r\n"
		"a=rtcp:30001 IN IP6 2001:db8::10\r\n"
		"a=crypto:7 AES_CM_128_HMAC_SHA1_32 inline:" B64_30 "\r\n";
	struct sg_sdp_rewrite rw;
	struct sg_sdp sdp;
	struct sg_perr err;

	(void)state;
	assert_int_equal(parse(&sdp, body, &err), 0);
	plan_init(&rw, &sdp, true);
	rw.addr = "2001:db8::10";
	rw.addr_v6 = true;
	plan_crypto(&rw.media[0], 1);
	rw.media[0].crypto[0].tag = 7;
	rw.media[0].crypto[0].suite = "AES_CM_128_HMAC_SHA1_32";
	assert_written(body, &rw, want);
}

static void test_sdp_write_lf_only(void **state)
{
	static const char body[] =
		"v=0\n"
		"o=bob 3286 2514 IN IP4 192.168.0.12\n"
		"s=Talk\n"
		"c=IN IP4 192.168.0.12\n"
		"t=0 0\n"
		"m=audio 7078 RTP/AVPF 96\n"
		"a=rtpmap:96 opus/48000/2\n"
		"\n"
		"a=rtcp:7079";
	static const char want[] =
		"v=0\n"
		"o=bob 3286 2514 IN IP4 203.0.113.10\n"
		"s=Talk\n"
		"c=IN IP4 203.0.113.10\n"
		"t=0 0\n"
		"m=audio 30000 RTP/SAVPF 96\n"
		"a=rtpmap:96 opus/48000/2\n"
		"\n"
		"a=rtcp:30001\n"
		"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" B64_30 "\n";
	struct sg_sdp_rewrite rw;
	struct sg_sdp sdp;
	struct sg_perr err;

	(void)state;
	assert_int_equal(parse(&sdp, body, &err), 0);
	plan_init(&rw, &sdp, true);
	plan_crypto(&rw.media[0], 1);
	assert_written(body, &rw, want);
}

static void test_sdp_write_keeps_blank_lines_after_crypto(void **state)
{
	static const char body[] =
		"v=0\r\n"
		"c=IN IP4 10.0.0.5\r\n"
		"m=audio 4000 RTP/AVP 0\r\n"
		"a=sendrecv\r\n"
		"\r\n"
		"m=audio 4002 UDP/TLS/RTP/SAVPF 0\r\n"
		"a=sendrecv\r\n"
		"\r\n";
	static const char want[] =
		"v=0\r\n"
		"c=IN IP4 203.0.113.10\r\n"
		"m=audio 30000 RTP/SAVP 0\r\n"
		"a=sendrecv\r\n"
		"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" B64_30 "\r\n"
		"\r\n"
		"m=audio 30002 UDP/TLS/RTP/SAVPF 0\r\n"
		"a=sendrecv\r\n"
		"a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" B64_30 "\r\n"
		"\r\n";
	struct sg_sdp_rewrite rw;
	struct sg_sdp sdp;
	struct sg_perr err;

	(void)state;
	assert_int_equal(parse(&sdp, body, &err), 0);
	plan_init(&rw, &sdp, true);
	plan_crypto(&rw.media[0], 1);
	plan_crypto(&rw.media[1], 1);
	assert_written(body, &rw, want);
}

static void test_sdp_write_enospc(void **state)
{
	struct sg_sdp_rewrite rw;
	struct sg_sdp sdp;
	struct sg_perr err;
	char out[2048];
	ssize_t full, n;
	size_t sz, i;

	(void)state;
	assert_int_equal(parse(&sdp, offer_av, &err), 0);
	plan_init(&rw, &sdp, true);
	plan_crypto(&rw.media[0], 2);
	plan_crypto(&rw.media[1], 2);
	full = sg_sdp_write(&sdp, offer_av, strlen(offer_av), &rw, out,
	    sizeof(out));
	assert_true(full > 0);
	for (sz = 0; sz < (size_t)full; sz++) {
		memset(out, 'Z', sizeof(out));
		n = sg_sdp_write(&sdp, offer_av, strlen(offer_av), &rw, out,
		    sz);
		assert_int_equal(n, -ENOSPC);
		for (i = sz; i < sizeof(out); i++)
			assert_int_equal(out[i], 'Z');
	}
	/* Exactly the length fits, without room for a NUL. */
	memset(out, 'Z', sizeof(out));
	assert_int_equal(sg_sdp_write(&sdp, offer_av, strlen(offer_av), &rw,
	    out, (size_t)full), full);
	assert_int_equal(out[full], 'Z');
	assert_int_equal(sg_sdp_write(&sdp, offer_av, strlen(offer_av), &rw,
	    NULL, 0), -ENOSPC);
}

static void test_sdp_write_rejects_bad_plan(void **state)
{
	struct sg_sdp_rewrite rw;
	struct sg_sdp sdp;
	struct sg_perr err;
	char out[2048];

	(void)state;
	assert_int_equal(parse(&sdp, offer_av, &err), 0);
	plan_init(&rw, &sdp, true);
	rw.nmedia = 1;
	assert_int_equal(sg_sdp_write(&sdp, offer_av, strlen(offer_av), &rw,
	    out, sizeof(out)), -EINVAL);
	plan_init(&rw, &sdp, true);
	rw.addr = "203.0.113.10\r\na=evil";
	assert_int_equal(sg_sdp_write(&sdp, offer_av, strlen(offer_av), &rw,
	    out, sizeof(out)), -EINVAL);
	plan_init(&rw, &sdp, true);
	plan_crypto(&rw.media[0], 1);
	rw.media[0].crypto[0].params = "KDR=1\r\nx=y";
	assert_int_equal(sg_sdp_write(&sdp, offer_av, strlen(offer_av), &rw,
	    out, sizeof(out)), -EINVAL);
	plan_init(&rw, &sdp, true);
	plan_crypto(&rw.media[0], 1);
	rw.media[0].crypto[0].keylen = SG_SDP_MAX_KEY + 1;
	assert_int_equal(sg_sdp_write(&sdp, offer_av, strlen(offer_av), &rw,
	    out, sizeof(out)), -EINVAL);
	plan_init(&rw, &sdp, true);
	rw.media[1].ncrypto = SG_SDP_MAX_CRYPTO + 1;
	assert_int_equal(sg_sdp_write(&sdp, offer_av, strlen(offer_av), &rw,
	    out, sizeof(out)), -EINVAL);
	/* A body with another number of m= lines than sdp says. */
	plan_init(&rw, &sdp, true);
	assert_int_equal(sg_sdp_write(&sdp, offer_av, 100, &rw, out,
	    sizeof(out)), -EINVAL);
}

static void test_sdp_write_roundtrip(void **state)
{
	struct sg_sdp_rewrite rw;
	struct sg_sdp sdp, back;
	struct sg_perr err;
	uint8_t key[SG_SDP_MAX_KEY];
	char out[4096], out2[4096];
	ssize_t n, n2;

	(void)state;
	assert_int_equal(parse(&sdp, offer_av, &err), 0);
	plan_init(&rw, &sdp, true);
	plan_crypto(&rw.media[0], 2);
	plan_crypto(&rw.media[1], 1);
	rw.media[0].crypto[0].params = "KDR=1 UNENCRYPTED_SRTCP";
	n = sg_sdp_write(&sdp, offer_av, strlen(offer_av), &rw, out,
	    sizeof(out));
	assert_true(n > 0);
	assert_int_equal(sg_sdp_parse(&back, out, (size_t)n, &err), 0);
	assert_int_equal(back.nmedia, 2);
	assert_str(back.conn_addr, "203.0.113.10");
	assert_int_equal(back.media[0].port, 30000);
	assert_str(back.media[0].proto, "RTP/SAVP");
	assert_true(back.media[0].rtcp_mux);
	assert_int_equal(back.media[0].ncrypto, 2);
	assert_int_equal(back.media[0].crypto[0].tag, 1);
	assert_true(sg_sdp_crypto_has_param(&back.media[0].crypto[0], "KDR"));
	assert_true(sg_sdp_crypto_has_param(&back.media[0].crypto[0],
	    "UNENCRYPTED_SRTCP"));
	assert_int_equal(sg_sdp_crypto_key(&back.media[0].crypto[0], key,
	    sizeof(key)), 30);
	assert_memory_equal(key, seq_key, 30);
	assert_str(back.media[0].crypto[1].suite, "AES_256_CM_HMAC_SHA1_80");
	assert_int_equal(sg_sdp_crypto_key(&back.media[0].crypto[1], key,
	    sizeof(key)), 46);
	assert_memory_equal(key, seq_key, 46);
	assert_int_equal(back.media[1].port, 30002);
	assert_int_equal(back.media[1].nports, 2);
	assert_str(back.media[1].proto, "RTP/SAVPF");
	assert_str(back.media[1].conn_addr, "203.0.113.10");
	assert_int_equal(back.media[1].rtcp_port, 30003);
	assert_int_equal(back.media[1].ncrypto, 1);

	/* And back to the inside: plain again, every key gone. */
	plan_init(&rw, &back, false);
	rw.addr = "10.1.1.1";
	n2 = sg_sdp_write(&back, out, (size_t)n, &rw, out2, sizeof(out2));
	assert_true(n2 > 0);
	assert_int_equal(sg_sdp_parse(&sdp, out2, (size_t)n2, &err), 0);
	assert_str(sdp.media[0].proto, "RTP/AVP");
	assert_str(sdp.media[1].proto, "RTP/AVPF");
	assert_int_equal(sdp.media[0].ncrypto + sdp.media[1].ncrypto, 0);
	assert_null(memmem(out2, (size_t)n2, "crypto", 6));
	assert_null(memmem(out2, (size_t)n2, "203.0.113.10", 12));
}

/*
 * The input of issue 13 (fuzz_sdp, 8.4 million runs): "m=audio 4000 " then
 * bare CRs and no proto, then a= lines padded with bare CRs. The parser
 * took the CR for the proto and the writer then wrote an m= line that
 * its own parser refused.
 */
static const char issue13[] =
	"v=0\nc=IN IP4 10.0.0.1\nm=audio 4000 \r\r\n\na=cyrtpo:1uuuuuuuuuuuD"
	"\x86\r\r\r\r\r\r\r\r\r\r\r\na=crypto:1LN3QQQQQQQis\rKDa\r\r\r\r\r\r"
	"\r\r\r\r\r\r\r\r\r\r\r\r\r\na=c\r\r\r\r\r\r\r\r\r\n\na=cyrtpo:1uuuu"
	"uuuuuuuD\x86\r\r\r\r\r\r\r\r\r\r\r\na=crypto:1LN3QQQQQQQis\rKDa\r\r"
	"\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\r\na=crypto";

/*
 * RFC 4566 §9: media-field = "m=" media SP port ["/" integer] SP proto
 * 1*(SP fmt), media, fmt and each part of proto being tokens. An m= line
 * with less is refused; a full one parses.
 */
static void test_sdp_rfc4566_media_line_needs_proto_and_format(void **state)
{
	static const char *const bad[] = {
		"m=audio 4000",
		"m=audio 4000 ",
		"m=audio 4000 RTP/AVP",
		"m=audio 4000 RTP/AVP ",
		"m=audio 4000 RTP/AVP \t ",
		"m=audio 0 RTP/SAVP",		/* rejected streams too */
		"m=audio 4000 RTP/ 0",		/* proto = token *("/" token) */
		"m=audio 4000 /AVP 0",
		"m=audio 4000 RTP//AVP 0",
		"m=audio 4000 RTP/AVP 0 8,101",	/* ',' is no token-char */
		"m=aud(io 4000 RTP/AVP 0",
		"m=audio 4000 RTP/AVP 0 \x01",
		"m=audio 4000 RTP/AV\x80 0",
	};
	static const char *const good[] = {
		"m=audio 4000 RTP/AVP 0",
		"m=audio 4000/2 RTP/AVP 0 8 101 ",
		"m=audio  4000\tRTP/AVP  0",
		"m=video 0 RTP/SAVP 99",
		"m=application 9 UDP/TLS/RTP/SAVPF 100",
		"m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
		"m=message 2855 TCP/MSRP *",
	};
	struct sg_sdp sdp;
	struct sg_perr err;
	char body[256];
	size_t i;

	(void)state;
	for (i = 0; i < SG_ARRAY_SIZE(bad); i++) {
		snprintf(body, sizeof(body), "v=0\r\nc=IN IP4 10.0.0.1\r\n"
		    "%s\r\na=rtcp-mux\r\n", bad[i]);
		memset(&err, 0, sizeof(err));
		assert_int_equal(parse(&sdp, body, &err), -EBADMSG);
		assert_int_equal(err.line, 3);
		assert_string_equal(err.reason, "malformed m= line");
	}
	for (i = 0; i < SG_ARRAY_SIZE(good); i++) {
		snprintf(body, sizeof(body), "v=0\r\nc=IN IP4 10.0.0.1\r\n"
		    "%s\r\na=rtcp-mux\r\n", good[i]);
		assert_int_equal(parse(&sdp, body, &err), 0);
		assert_int_equal(sdp.nmedia, 1);
		assert_true(sdp.media[0].fmts.len > 0);
	}
	/* The input of issue 13 is refused at its m= line. */
	assert_int_equal(sg_sdp_parse(&sdp, issue13, sizeof(issue13) - 1,
	    &err), -EBADMSG);
	assert_int_equal(err.line, 3);
}

/*
 * RFC 4566 §5 and §9: a line ends with CRLF (LF accepted); a field holds
 * no CR and no NUL. A CR inside a line is refused, never taken as a line
 * end, wherever the line is (one the parser reads or one the writer only
 * copies). A CR as the very last byte is a CRLF cut short and ends the
 * last line.
 */
static void test_sdp_rfc4566_cr_only_in_crlf(void **state)
{
	static const struct {
		const char *body;
		size_t len;	/* 0: strlen */
		unsigned line;
		const char *reason;
	} bad[] = {
		{ "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\r\n",
		  0, 3, "CR inside a line (only CRLF or LF ends a line)" },
		{ "v=0\r\nc=IN IP4 10.0.0.1\r\nm=audio 4000 RTP/AVP 0\r\n"
		  "a=x\ra=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:" B64_30
		  "\r\n", 0, 4,
		  "CR inside a line (only CRLF or LF ends a line)" },
		{ "v=0\r\n\r\r\nc=IN IP4 10.0.0.1\r\n", 0, 2,
		  "CR inside a line (only CRLF or LF ends a line)" },
		{ "v=0\rc=IN IP4 10.0.0.1\r\n", 0, 1,
		  "CR inside a line (only CRLF or LF ends a line)" },
		{ "v=0\r\ns=a\0b\r\nc=IN IP4 10.0.0.1\r\n", 24, 2,
		  "NUL byte in a line" },
	};
	struct sg_sdp sdp;
	struct sg_perr err;
	struct sg_sdp_rewrite rw;
	static const char cut[] = "v=0\r\nc=IN IP4 10.0.0.1\r\n"
	    "m=audio 4000 RTP/AVP 0\r\na=rtcp-mux\r";
	char out[512];
	ssize_t n;
	size_t i;

	(void)state;
	for (i = 0; i < SG_ARRAY_SIZE(bad); i++) {
		memset(&err, 0, sizeof(err));
		assert_int_equal(sg_sdp_parse(&sdp, bad[i].body, bad[i].len ?
		    bad[i].len : strlen(bad[i].body), &err), -EBADMSG);
		assert_int_equal(err.line, bad[i].line);
		assert_string_equal(err.reason, bad[i].reason);
	}
	/* The cut CRLF: parsed, and written back with a whole CRLF. */
	assert_int_equal(parse(&sdp, cut, &err), 0);
	assert_true(sdp.media[0].rtcp_mux);
	plan_init(&rw, &sdp, false);
	n = sg_sdp_write(&sdp, cut, strlen(cut), &rw, out, sizeof(out));
	assert_true(n > 0);
	assert_string_equal(out, "v=0\r\nc=IN IP4 203.0.113.10\r\n"
	    "m=audio 30000 RTP/AVP 0\r\na=rtcp-mux\r\n");
	assert_int_equal(sg_sdp_parse(&sdp, out, (size_t)n, &err), 0);
}

/* Read a fixture of tests/fixtures/sdp into buf; returns its length. */
static size_t fixture(const char *name, char *buf, size_t bufsz)
{
	char path[1024];
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "%s/tests/fixtures/sdp/%s",
	    SG_SOURCE_DIR, name);
	f = fopen(path, "rb");
	assert_non_null(f);
	n = fread(buf, 1, bufsz, f);
	assert_true(n > 0 && n < bufsz);
	fclose(f);
	return n;
}

static void test_sdp_parse_fixtures(void **state)
{
	static const struct {
		const char *name;
		unsigned nmedia;
		unsigned ncrypto;	/* of the first media */
		bool lf;
	} fx[] = {
		{ "sipp-uac.sdp", 1, 0, false },
		{ "baresip-srtp-offer.sdp", 2, 4, false },
		{ "baresip-ipv6.sdp", 1, 0, false },
		{ "rtpengine-sdes-offer.sdp", 1, 8, false },
		{ "rtpengine-all-suites.sdp", 1, 12, false },
		{ "asterisk-offer.sdp", 2, 0, false },
		{ "asterisk-srtp-hold.sdp", 2, 1, false },
		{ "linphone-avpf-lf.sdp", 1, 0, true },
	};
	struct sg_sdp_rewrite rw;
	struct sg_sdp sdp, back;
	struct sg_perr err;
	uint8_t key[SG_SDP_MAX_KEY];
	char body[8192], out[8192];
	size_t len, i, j;
	ssize_t n;
	int rc;

	(void)state;
	for (i = 0; i < SG_ARRAY_SIZE(fx); i++) {
		len = fixture(fx[i].name, body, sizeof(body));
		rc = sg_sdp_parse(&sdp, body, len, &err);
		if (fx[i].ncrypto > SG_SDP_MAX_CRYPTO) {
			/* rtpengine offers every suite it knows: 12 lines. */
			assert_int_equal(rc, -E2BIG);
			continue;
		}
		assert_int_equal(rc, 0);
		assert_int_equal(sdp.nmedia, fx[i].nmedia);
		assert_int_equal(sdp.media[0].ncrypto, fx[i].ncrypto);
		for (j = 0; j < sdp.media[0].ncrypto; j++)
			assert_true(sg_sdp_crypto_key(&sdp.media[0].crypto[j],
			    key, sizeof(key)) >= 28);

		plan_init(&rw, &sdp, fx[i].ncrypto == 0);
		for (j = 0; j < sdp.nmedia; j++)
			plan_crypto(&rw.media[j], 2);
		n = sg_sdp_write(&sdp, body, len, &rw, out, sizeof(out));
		assert_true(n > 0);
		assert_int_equal(memchr(out, '\r', (size_t)n) == NULL,
		    fx[i].lf);
		assert_int_equal(sg_sdp_parse(&back, out, (size_t)n, &err), 0);
		assert_int_equal(back.nmedia, sdp.nmedia);
		for (j = 0; j < back.nmedia; j++) {
			assert_int_equal(back.media[j].port,
			    sdp.media[j].port ? rw.media[j].port : 0);
			assert_int_equal(back.media[j].ncrypto,
			    fx[i].ncrypto == 0 ? 2 : 0);
		}
	}
	/* Details of two of them. */
	len = fixture("asterisk-srtp-hold.sdp", body, sizeof(body));
	assert_int_equal(sg_sdp_parse(&sdp, body, len, &err), 0);
	assert_int_equal(sdp.media[0].dir, SG_SDP_SENDONLY);
	assert_int_equal(sdp.media[1].port, 0);
	len = fixture("baresip-srtp-offer.sdp", body, sizeof(body));
	assert_int_equal(sg_sdp_parse(&sdp, body, len, &err), 0);
	assert_true(sdp.media[0].rtcp_mux);
	assert_true(sdp.media[1].rtcp_mux);
	assert_str(sdp.media[0].crypto[3].suite, "AES_256_CM_HMAC_SHA1_80");
	assert_int_equal(sg_sdp_crypto_key(&sdp.media[0].crypto[3], key,
	    sizeof(key)), 46);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sdp_parse_offer_audio_video),
		cmocka_unit_test(test_sdp_parse_hold_directions),
		cmocka_unit_test(test_sdp_parse_ipv6_and_port_zero),
		cmocka_unit_test(test_sdp_parse_lf_only),
		cmocka_unit_test(test_sdp_parse_errors),
		cmocka_unit_test(test_sdp_parse_too_many_media),
		cmocka_unit_test(test_sdp_parse_too_many_crypto),
		cmocka_unit_test(test_sdp_parse_skips_odd_crypto),
		cmocka_unit_test(test_sdp_crypto_parse_fields),
		cmocka_unit_test(test_sdp_crypto_parse_rejects),
		cmocka_unit_test(test_sdp_crypto_key_sizes),
		cmocka_unit_test(test_sdp_crypto_key_declines),
		cmocka_unit_test(test_sdp_crypto_key_bad_base64),
		cmocka_unit_test(test_sdp_write_avp_to_savp),
		cmocka_unit_test(test_sdp_write_strips_ice_and_best_effort),
		cmocka_unit_test(test_sdp_write_savp_to_avp),
		cmocka_unit_test(test_sdp_write_multiple_media),
		cmocka_unit_test(test_sdp_write_port_zero_stays_rejected),
		cmocka_unit_test(test_sdp_write_ipv6),
		cmocka_unit_test(test_sdp_write_lf_only),
		cmocka_unit_test(test_sdp_write_keeps_blank_lines_after_crypto),
		cmocka_unit_test(test_sdp_write_enospc),
		cmocka_unit_test(test_sdp_write_rejects_bad_plan),
		cmocka_unit_test(test_sdp_write_roundtrip),
		cmocka_unit_test(test_sdp_parse_fixtures),
		cmocka_unit_test(
		    test_sdp_rfc4566_media_line_needs_proto_and_format),
		cmocka_unit_test(test_sdp_rfc4566_cr_only_in_crlf),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
