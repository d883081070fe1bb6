/* SPDX-License-Identifier: MIT */
/*
 * fuzz_sdp.c: libFuzzer target for the SDP parser and writer
 * (gateway/sdp.c). A body that parses is rewritten, secure or plain per
 * m= line as the input's bytes say, and the output must parse again with
 * the ports, protos and keys of the plan. Every "a=crypto:" line also goes
 * through sg_sdp_crypto_parse() and sg_sdp_crypto_key(). Built with
 * -fsanitize=fuzzer,address,undefined, or linked with replay.c.
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sdp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Keep results observable so the compiler cannot drop the calls. */
static volatile size_t sink;

/* A fixed AES_CM_128_HMAC_SHA1_80 master key and salt (30 bytes). */
static const uint8_t fixed_key[30] = {
	0xe1, 0xf9, 0x7a, 0x0d, 0x3e, 0x01, 0x8b, 0xe0, 0xd6, 0x4f,
	0xa3, 0x2c, 0x06, 0xde, 0x41, 0x39, 0x0e, 0xc6, 0x75, 0xad,
	0x49, 0x8a, 0xfe, 0xeb, 0x6c, 0xb6, 0x83, 0x5f, 0x1d, 0x2a,
};

static bool is_secure_proto(struct sg_str p)
{
	return sg_str_caseeq_lit(p, "RTP/SAVP") ||
	    sg_str_caseeq_lit(p, "RTP/SAVPF");
}

/* Run the a=crypto helpers on one attribute value. */
static void walk_crypto(struct sg_str value)
{
	struct sg_sdp_crypto c;
	uint8_t key[SG_SDP_MAX_KEY];
	int n;

	if (sg_sdp_crypto_parse(value, &c) < 0)
		return;
	n = sg_sdp_crypto_key(&c, key, sizeof(key));
	if (n > SG_SDP_MAX_KEY)
		abort();
	sink += (size_t)(n > 0 ? n : 0) + c.suite.len;
	sink += sg_sdp_crypto_has_param(&c, "UNENCRYPTED_SRTCP");
	sink += sg_sdp_crypto_has_param(&c, "KDR");
	n = sg_sdp_crypto_key(&c, key, 16);
	if (n > 16)
		abort();
}

static void walk_lines(const char *body, size_t len)
{
	static const char pre[] = "a=crypto:";
	size_t pos = 0, end, plen = sizeof(pre) - 1;
	const char *nl;

	while (pos < len) {
		nl = memchr(body + pos, '\n', len - pos);
		end = nl != NULL ? (size_t)(nl - body) : len;
		if (end - pos >= plen && memcmp(body + pos, pre, plen) == 0)
			walk_crypto(sg_str_make(body + pos + plen,
			    end - pos - plen));
		pos = end + 1;
	}
}

/* Check what the writer made of sdp against the plan rw. */
static void check_output(const struct sg_sdp *sdp,
			 const struct sg_sdp_rewrite *rw, const char *out,
			 size_t n)
{
	struct sg_sdp back;
	struct sg_perr err;
	uint8_t key[SG_SDP_MAX_KEY];
	const struct sg_sdp_media *m;
	unsigned i, j;

	if (sg_sdp_parse(&back, out, n, &err) != 0)
		abort();
	if (back.nmedia != sdp->nmedia)
		abort();
	for (i = 0; i < back.nmedia; i++) {
		m = &back.media[i];
		if (m->port != (sdp->media[i].port ? rw->media[i].port : 0))
			abort();
		if (m->ncrypto != (rw->media[i].secure ?
		    rw->media[i].ncrypto : 0))
			abort();
		for (j = 0; j < m->ncrypto; j++) {
			if (sg_sdp_crypto_key(&m->crypto[j], key,
			    sizeof(key)) != (int)sizeof(fixed_key) ||
			    memcmp(key, fixed_key, sizeof(fixed_key)) != 0)
				abort();
		}
		/* RTP/AVP and RTP/SAVP must follow the plan. */
		if (sg_str_caseeq_lit(sdp->media[i].proto, "RTP/AVP") ||
		    sg_str_caseeq_lit(sdp->media[i].proto, "RTP/SAVP")) {
			if (is_secure_proto(m->proto) != rw->media[i].secure)
				abort();
		}
		if (m->has_conn && !sg_str_eq(m->conn_addr,
		    sg_str_make(rw->addr, strlen(rw->addr))))
			abort();
		if (sdp->media[i].has_rtcp && rw->media[i].rtcp_port != 0 &&
		    m->rtcp_port != rw->media[i].rtcp_port)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char out[65536];
	const char *body = (const char *)data;
	struct sg_sdp_rewrite rw;
	struct sg_sdp sdp;
	struct sg_perr err;
	unsigned i, j;
	uint8_t b;
	ssize_t n;

	walk_lines(body, size);
	if (sg_sdp_parse(&sdp, body, size, &err) != 0)
		return 0;
	sink += sdp.nmedia;

	memset(&rw, 0, sizeof(rw));
	b = size > 0 ? data[size - 1] : 0;
	rw.addr_v6 = b & 0x80;
	rw.addr = rw.addr_v6 ? "2001:db8::7" : "203.0.113.7";
	rw.nmedia = sdp.nmedia;
	for (i = 0; i < sdp.nmedia; i++) {
		b = data[(i * 7) % size];
		rw.media[i].port = (uint16_t)(40000 + 2 * i);
		rw.media[i].rtcp_port = (b & 2) ? 0 : (uint16_t)(40001 + 2 * i);
		rw.media[i].secure = b & 1;
		rw.media[i].ncrypto = 1 + (b >> 2) % 2;
		for (j = 0; j < rw.media[i].ncrypto; j++) {
			rw.media[i].crypto[j].tag = j + 1;
			rw.media[i].crypto[j].suite = "AES_CM_128_HMAC_SHA1_80";
			rw.media[i].crypto[j].key = fixed_key;
			rw.media[i].crypto[j].keylen = sizeof(fixed_key);
			rw.media[i].crypto[j].params = j ?
			    "UNENCRYPTED_SRTCP" : NULL;
		}
	}
	n = sg_sdp_write(&sdp, body, size, &rw, out, sizeof(out));
	if (n == -ENOSPC)
		return 0;
	if (n < 0 || (size_t)n > sizeof(out))
		abort();
	check_output(&sdp, &rw, out, (size_t)n);

	/* A short buffer must fail cleanly, whatever its size. */
	if (n > 0) {
		size_t small = (size_t)data[0] % (size_t)n;

		if (sg_sdp_write(&sdp, body, size, &rw, out, small) !=
		    -ENOSPC)
			abort();
	}
	return 0;
}
