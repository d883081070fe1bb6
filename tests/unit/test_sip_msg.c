/* SPDX-License-Identifier: MIT */
/*
 * test_sip_msg.c: unit tests of the SIP parser (gateway/sip_msg.c),
 * including the RFC 4475 torture messages in tests/fixtures/sip/.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "sip_msg.h"

#ifndef SG_SOURCE_DIR
#error "SG_SOURCE_DIR must name the source tree"
#endif

#define FIXTURES SG_SOURCE_DIR "/tests/fixtures/sip"

/* The parser never writes its input; a static message is shared freely. */
static struct sg_sip_msg msg;
static struct sg_perr perr;

static const char invite[] =
    "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
    "Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bK776asdhds\r\n"
    "Max-Forwards: 70\r\n"
    "To: Bob <sip:bob@biloxi.example.com>\r\n"
    "From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n"
    "Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n"
    "CSeq: 314159 INVITE\r\n"
    "Contact: <sip:alice@pc33.atlanta.example.com>\r\n"
    "Content-Type: application/sdp\r\n"
    "Content-Length: 4\r\n"
    "\r\n"
    "v=0\n";

static const char ok200[] =
    "SIP/2.0 200 OK\r\n"
    "Via: SIP/2.0/UDP server10.biloxi.example.com"
    ";branch=z9hG4bKnashds8;received=192.0.2.3\r\n"
    "To: Bob <sip:bob@biloxi.example.com>;tag=a6c85cf\r\n"
    "From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n"
    "Call-ID: a84b4c76e66710\r\n"
    "CSeq: 314159 INVITE\r\n"
    "Content-Length: 0\r\n"
    "\r\n";

static int parse(const char *s, bool stream)
{
	return sg_sip_parse(&msg, s, strlen(s), stream, &perr);
}

static bool str_is(struct sg_str s, const char *lit)
{
	return s.len == strlen(lit) && memcmp(s.p, lit, s.len) == 0;
}

#define assert_str(s, lit) do {						\
	if (!str_is((s), (lit)))					\
		fail_msg("got \"%.*s\", want \"%s\"", SG_STR_FMT(s), (lit)); \
} while (0)

/*
 * Build a small request into buf: a request line, then the lines in hdrs
 * (each without CRLF, NULL-terminated) and an empty line.
 */
static const char *build(char *buf, size_t size, const char *start,
			 const char *const *hdrs)
{
	size_t n;

	n = (size_t)snprintf(buf, size, "%s\r\n", start);
	for (; *hdrs != NULL; hdrs++)
		n += (size_t)snprintf(buf + n, size - n, "%s\r\n", *hdrs);
	snprintf(buf + n, size - n, "\r\n");
	return buf;
}

static void test_sip_msg_parses_simple_invite(void **state)
{
	const struct sg_sip_hdr *h;

	(void)state;
	assert_int_equal(parse(invite, false), 0);
	assert_true(msg.is_request);
	assert_str(msg.method, "INVITE");
	assert_str(msg.ruri, "sip:bob@biloxi.example.com");
	assert_str(msg.version, "SIP/2.0");
	assert_str(msg.start_line, "INVITE sip:bob@biloxi.example.com SIP/2.0");
	assert_int_equal(msg.nhdrs, 9);
	assert_str(msg.call_id, "a84b4c76e66710@pc33.atlanta.example.com");
	assert_int_equal(msg.cseq_num, 314159);
	assert_str(msg.cseq_method, "INVITE");
	assert_int_equal(msg.max_forwards, 70);
	assert_str(msg.body, "v=0\n");
	assert_int_equal(msg.total_len, strlen(invite));
	assert_int_equal(msg.first[SG_SIP_HDR_VIA], 0);
	assert_int_equal(msg.first[SG_SIP_HDR_CONTACT], 6);
	assert_int_equal(msg.first[SG_SIP_HDR_ROUTE], -1);
	h = sg_sip_hdr_find(&msg, SG_SIP_HDR_FROM);
	assert_non_null(h);
	assert_str(h->name, "From");
	assert_str(h->value,
	    "Alice <sip:alice@atlanta.example.com>;tag=1928301774");
	assert_str(h->raw,
	    "From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n");
	assert_null(sg_sip_hdr_find(&msg, SG_SIP_HDR_RECORD_ROUTE));
	assert_null(sg_sip_hdr_find(&msg, SG_SIP_HDR__COUNT));
}

static void test_sip_msg_parses_200_response(void **state)
{
	(void)state;
	assert_int_equal(parse(ok200, false), 0);
	assert_false(msg.is_request);
	assert_int_equal(msg.status, 200);
	assert_str(msg.reason, "OK");
	assert_str(msg.version, "SIP/2.0");
	assert_int_equal(msg.cseq_num, 314159);
	assert_str(msg.cseq_method, "INVITE");
	assert_int_equal(msg.max_forwards, -1);
	assert_int_equal(msg.body.len, 0);
	assert_int_equal(msg.total_len, strlen(ok200));
}

static void test_sip_msg_keeps_folded_value(void **state)
{
	static const char s[] =
	    "OPTIONS sip:a@example.com SIP/2.0\r\n"
	    "Via: SIP/2.0/UDP h.example.com;branch=z9hG4bK1\r\n"
	    "From: <sip:b@example.com>;tag=1\r\n"
	    "To: <sip:a@example.com>\r\n"
	    "Subject:   first part\r\n"
	    "\t second part  \r\n"
	    "Call-ID: fold1\r\n"
	    "CSeq: 1\r\n"
	    "  OPTIONS\r\n"
	    "\r\n";
	const struct sg_sip_hdr *h;

	(void)state;
	assert_int_equal(parse(s, false), 0);
	h = &msg.hdrs[3];
	assert_str(h->name, "Subject");
	assert_int_equal(h->id, SG_SIP_HDR_OTHER);
	assert_str(h->value, "first part\r\n\t second part");
	assert_str(h->raw, "Subject:   first part\r\n\t second part  \r\n");
	assert_int_equal(msg.cseq_num, 1);
	assert_str(msg.cseq_method, "OPTIONS");
	assert_str(msg.call_id, "fold1");
}

static void test_sip_msg_accepts_bare_lf(void **state)
{
	static const char s[] =
	    "OPTIONS sip:a@example.com SIP/2.0\n"
	    "v: SIP/2.0/UDP h.example.com;branch=z9hG4bK1\n"
	    "f: <sip:b@example.com>;tag=1\n"
	    "t: <sip:a@example.com>\n"
	    "X-Folded: one\n"
	    " two\n"
	    "i: lf1\n"
	    "CSeq: 7 OPTIONS\n"
	    "l: 3\n"
	    "\n"
	    "abcdef";

	(void)state;
	assert_int_equal(parse(s, false), 0);
	assert_str(msg.start_line, "OPTIONS sip:a@example.com SIP/2.0");
	assert_str(msg.hdrs[3].value, "one\n two");
	assert_str(msg.body, "abc");
	assert_int_equal(sg_sip_frame(s, strlen(s)),
	    (ssize_t)(strlen(s) - 3));
}

static void test_sip_msg_maps_compact_forms(void **state)
{
	static const char s[] =
	    "INVITE sip:a@example.com SIP/2.0\r\n"
	    "v: SIP/2.0/UDP h.example.com;branch=z9hG4bK1\r\n"
	    "F: <sip:b@example.com>;tag=1\r\n"
	    "t: <sip:a@example.com>\r\n"
	    "I: compact1\r\n"
	    "CSEQ: 1 INVITE\r\n"
	    "m: <sip:b@h.example.com>\r\n"
	    "c: application/sdp\r\n"
	    "k: timer\r\n"
	    "s: subject\r\n"
	    "e: gzip\r\n"
	    "o: presence\r\n"
	    "r: <sip:c@example.com>\r\n"
	    "max-forwards: 10\r\n"
	    "RECORD-ROUTE: <sip:p.example.com;lr>\r\n"
	    "route: <sip:q.example.com;lr>\r\n"
	    "Path: <sip:r.example.com;lr>\r\n"
	    "Require: 100rel\r\n"
	    "Proxy-Require: foo\r\n"
	    "Expires: 60\r\n"
	    "L: 0\r\n"
	    "\r\n";
	static const enum sg_sip_hdr_id want[] = {
		SG_SIP_HDR_VIA, SG_SIP_HDR_FROM, SG_SIP_HDR_TO,
		SG_SIP_HDR_CALL_ID, SG_SIP_HDR_CSEQ, SG_SIP_HDR_CONTACT,
		SG_SIP_HDR_CONTENT_TYPE, SG_SIP_HDR_SUPPORTED,
		SG_SIP_HDR_OTHER, SG_SIP_HDR_OTHER, SG_SIP_HDR_OTHER,
		SG_SIP_HDR_OTHER, SG_SIP_HDR_MAX_FORWARDS,
		SG_SIP_HDR_RECORD_ROUTE, SG_SIP_HDR_ROUTE, SG_SIP_HDR_PATH,
		SG_SIP_HDR_REQUIRE, SG_SIP_HDR_PROXY_REQUIRE,
		SG_SIP_HDR_EXPIRES, SG_SIP_HDR_CONTENT_LENGTH,
	};
	unsigned i;

	(void)state;
	assert_int_equal(parse(s, false), 0);
	assert_int_equal(msg.nhdrs, SG_ARRAY_SIZE(want));
	for (i = 0; i < SG_ARRAY_SIZE(want); i++)
		assert_int_equal(msg.hdrs[i].id, want[i]);
	assert_int_equal(msg.max_forwards, 10);
	assert_str(msg.hdrs[0].name, "v");
	assert_int_equal(msg.first[SG_SIP_HDR_OTHER], 8);
}

static void test_sip_msg_iterates_multiple_via(void **state)
{
	static const char s[] =
	    "SIP/2.0 180 Ringing\r\n"
	    "Via: SIP/2.0/UDP a.example.com;branch=z9hG4bKa , "
	    "SIP / 2.0 / TCP b.example.com:5070 ; branch = z9hG4bKb;rport,\r\n"
	    "  SIP/2.0/TLS [2001:db8::1]:5061;received=[2001:db8::9]"
	    ";branch=\"z9hG4bKc\"\r\n"
	    "v: SIP/2.0/UDP d.example.com\r\n"
	    "From: <sip:b@example.com>;tag=1\r\n"
	    "To: <sip:a@example.com>;tag=2\r\n"
	    "Call-ID: multivia\r\n"
	    "CSeq: 2 INVITE\r\n"
	    "\r\n";
	static const struct {
		const char *transport, *host, *branch;
		uint16_t port;
		bool v6;
	} want[] = {
		{ "UDP", "a.example.com", "z9hG4bKa", 0, false },
		{ "TCP", "b.example.com", "z9hG4bKb", 5070, false },
		{ "TLS", "2001:db8::1", "\"z9hG4bKc\"", 5061, true },
		{ "UDP", "d.example.com", "", 0, false },
	};
	struct sg_sip_via via;
	struct sg_str rest, el, val;
	unsigned i, n = 0;

	(void)state;
	assert_int_equal(parse(s, false), 0);
	for (i = 0; i < msg.nhdrs; i++) {
		if (msg.hdrs[i].id != SG_SIP_HDR_VIA)
			continue;
		rest = msg.hdrs[i].value;
		while (sg_sip_list_next(&rest, &el)) {
			assert_true(n < SG_ARRAY_SIZE(want));
			assert_int_equal(sg_sip_via_parse(el, &via), 0);
			assert_str(via.transport, want[n].transport);
			assert_str(via.host, want[n].host);
			assert_str(via.branch, want[n].branch);
			assert_int_equal(via.port, want[n].port);
			assert_int_equal(via.host_is_v6, want[n].v6);
			n++;
		}
	}
	assert_int_equal(n, SG_ARRAY_SIZE(want));
	/* The second element keeps its rport flag. */
	rest = msg.hdrs[0].value;
	assert_true(sg_sip_list_next(&rest, &el));
	assert_true(sg_sip_list_next(&rest, &el));
	assert_int_equal(sg_sip_via_parse(el, &via), 0);
	assert_true(sg_sip_param_get(via.params, "rport", &val));
	assert_int_equal(val.len, 0);
}

static void test_sip_msg_rejects_bad_via(void **state)
{
	static const char *const bad[] = {
		"SIP/2.0/UDP",
		"SIP/2.0 UDP host",
		"SIP/3.0/UDP host",
		"HTTP/2.0/UDP host",
		"SIP/2.0/UDPhost",
		"SIP/2.0/UDP host:0",
		"SIP/2.0/UDP host:65536",
		"SIP/2.0/UDP host:",
		"SIP/2.0/UDP [2001:db8::1",
		"SIP/2.0/UDP []",
		"SIP/2.0/UDP host;;branch=x",
		"SIP/2.0/UDP host;branch=",
		"SIP/2.0/UDP host garbage",
		"SIP/2.0/UDP 192.0.2.15;;",
	};
	struct sg_sip_via via;
	unsigned i;

	(void)state;
	for (i = 0; i < SG_ARRAY_SIZE(bad); i++)
		if (sg_sip_via_parse(SG_STR_NULL, &via) != -EINVAL ||
		    sg_sip_via_parse(sg_str_make(bad[i], strlen(bad[i])),
		    &via) != -EINVAL)
			fail_msg("accepted Via \"%s\"", bad[i]);
}

static void test_sip_msg_parses_ipv6_hosts(void **state)
{
	static const char s[] =
	    "REGISTER sip:[2001:db8::10]:5060;transport=tcp SIP/2.0\r\n"
	    "Via: SIP/2.0/TCP [2001:db8::1]:5070;branch=z9hG4bK6\r\n"
	    "From: <sip:alice@[2001:db8::2]>;tag=6\r\n"
	    "To: <sip:alice@[2001:db8::2]>\r\n"
	    "Contact: \"A\" <sip:alice@[2001:db8::3]:5071;ob>;expires=60\r\n"
	    "Call-ID: v6@[2001:db8::1]\r\n"
	    "CSeq: 6 REGISTER\r\n"
	    "Content-Length: 0\r\n"
	    "\r\n";
	const struct sg_sip_hdr *h;
	struct sg_sip_naddr na;
	struct sg_sip_uri u;
	struct sg_sip_via via;

	(void)state;
	assert_int_equal(parse(s, true), 0);
	assert_int_equal(sg_sip_uri_parse(msg.ruri, &u), 0);
	assert_str(u.host, "2001:db8::10");
	assert_true(u.host_is_v6);
	assert_int_equal(u.port, 5060);
	assert_str(u.params, ";transport=tcp");

	h = sg_sip_hdr_find(&msg, SG_SIP_HDR_VIA);
	assert_int_equal(sg_sip_via_parse(h->value, &via), 0);
	assert_str(via.host, "2001:db8::1");
	assert_true(via.host_is_v6);
	assert_int_equal(via.port, 5070);

	h = sg_sip_hdr_find(&msg, SG_SIP_HDR_CONTACT);
	assert_int_equal(sg_sip_naddr_parse(h->value, &na), 0);
	assert_str(na.display, "\"A\"");
	assert_str(na.params, ";expires=60");
	assert_int_equal(sg_sip_uri_parse(na.uri, &u), 0);
	assert_str(u.user, "alice");
	assert_str(u.host, "2001:db8::3");
	assert_true(u.host_is_v6);
	assert_int_equal(u.port, 5071);
	assert_str(u.params, ";ob");
}

static void test_sip_msg_frames_stream(void **state)
{
	char two[2 * sizeof(invite) + 8];
	size_t n = strlen(invite), i;

	(void)state;
	/* Complete message. */
	assert_int_equal(sg_sip_frame(invite, n), (ssize_t)n);
	/* Every proper prefix is incomplete. */
	for (i = 0; i < n; i++)
		if (sg_sip_frame(invite, i) != 0)
			fail_msg("prefix of %zu bytes framed", i);
	/* Two messages back to back, with keep-alive CRLFs in front. */
	snprintf(two, sizeof(two), "\r\n\r\n%s%s", invite, invite);
	assert_int_equal(sg_sip_skip_crlf(two, strlen(two)), 4);
	assert_int_equal(sg_sip_frame(two, strlen(two)), (ssize_t)(n + 4));
	assert_int_equal(sg_sip_frame(two + 4, strlen(two) - 4), (ssize_t)n);
	assert_int_equal(sg_sip_frame(two + 4 + n, n), (ssize_t)n);
	assert_int_equal(sg_sip_parse(&msg, two, strlen(two), true, &perr),
	    0);
	assert_int_equal(msg.total_len, n + 4);
	assert_int_equal(sg_sip_parse(&msg, two + msg.total_len, n, true,
	    &perr), 0);
	assert_int_equal(msg.total_len, n);
	/* A bare keep-alive needs more bytes. */
	assert_int_equal(sg_sip_frame("\r\n\r\n", 4), 0);
}

static void test_sip_msg_frame_needs_content_length(void **state)
{
	static const char nocl[] =
	    "OPTIONS sip:a@example.com SIP/2.0\r\nCSeq: 1 OPTIONS\r\n\r\n";
	static const char badcl[] =
	    "OPTIONS sip:a@example.com SIP/2.0\r\nl: -1\r\n\r\n";
	static const char twocl[] =
	    "OPTIONS sip:a@example.com SIP/2.0\r\nl: 1\r\n"
	    "Content-Length: 2\r\n\r\nxx";
	static const char folded[] =
	    "OPTIONS sip:a@example.com SIP/2.0\r\nContent-Length :\r\n"
	    " 2\r\n\r\nxx";
	static const char big[] =
	    "OPTIONS sip:a@example.com SIP/2.0\r\n"
	    "Content-Length: 65536\r\n\r\n";

	(void)state;
	assert_int_equal(sg_sip_frame(nocl, strlen(nocl)), -EBADMSG);
	assert_int_equal(sg_sip_frame(badcl, strlen(badcl)), -EBADMSG);
	assert_int_equal(sg_sip_frame(twocl, strlen(twocl)), -EBADMSG);
	assert_int_equal(sg_sip_frame(folded, strlen(folded)),
	    (ssize_t)strlen(folded));
	assert_int_equal(sg_sip_frame(big, strlen(big)), -EMSGSIZE);
	assert_int_equal(parse(nocl, true), -EBADMSG);
}

static void test_sip_msg_frame_rejects_oversized_head(void **state)
{
	size_t n = SG_SIP_MAX_MSG + 100;
	char *buf = malloc(n);

	(void)state;
	assert_non_null(buf);
	memset(buf, 'a', n);
	memcpy(buf, "OPTIONS sip:a SIP/2.0\r\nX: ", 26);
	assert_int_equal(sg_sip_frame(buf, SG_SIP_MAX_MSG), 0);
	assert_int_equal(sg_sip_frame(buf, n), -EMSGSIZE);
	assert_int_equal(sg_sip_parse(&msg, buf, n, true, &perr), -EMSGSIZE);
	assert_int_equal(sg_sip_parse(&msg, buf, n, false, &perr),
	    -EMSGSIZE);
	free(buf);
}

static void test_sip_msg_stream_body_rules(void **state)
{
	size_t n = strlen(invite);

	(void)state;
	/* The last byte of the body is missing. */
	assert_int_equal(sg_sip_parse(&msg, invite, n - 1, true, &perr),
	    -EBADMSG);
	assert_string_equal(perr.reason, "truncated body");
	/* Bytes after the message belong to the next one. */
	assert_int_equal(sg_sip_parse(&msg, invite, n, true, &perr), 0);
	assert_int_equal(msg.total_len, n);
}

static void test_sip_msg_datagram_content_length(void **state)
{
	char buf[1024];
	size_t n = strlen(invite);

	(void)state;
	/* Content-Length larger than the datagram (RFC 3261 18.3). */
	assert_int_equal(sg_sip_parse(&msg, invite, n - 1, false, &perr),
	    -EBADMSG);
	assert_string_equal(perr.reason, "Content-Length exceeds datagram");
	/* Smaller: the body is cut to it. */
	snprintf(buf, sizeof(buf), "%sjunk", invite);
	assert_int_equal(parse(buf, false), 0);
	assert_str(msg.body, "v=0\n");
	assert_int_equal(msg.total_len, n);
	/* Absent: the body is the rest of the datagram. */
	assert_int_equal(parse(ok200, false), 0);
	memcpy(buf, ok200, sizeof(ok200));
	memcpy(strstr(buf, "Content-Length"), "X-Length", 8);
	strcat(buf, "body!");
	assert_int_equal(parse(buf, false), 0);
	assert_str(msg.body, "body!");
	assert_int_equal(msg.total_len, strlen(buf));
	/* Negative or non-numeric. */
	memcpy(buf, ok200, sizeof(ok200));
	memcpy(strstr(buf, "Length: 0"), "Length: -", 9);
	assert_int_equal(parse(buf, false), -EBADMSG);
	memcpy(strstr(buf, "Length: -"), "Length: x", 9);
	assert_int_equal(parse(buf, false), -EBADMSG);
}

static void test_sip_msg_rejects_nul_byte(void **state)
{
	char buf[sizeof(invite)];
	static const char quoted[] =
	    "OPTIONS sip:a@example.com SIP/2.0\r\n"
	    "Via: SIP/2.0/UDP h.example.com;branch=z9hG4bK1\r\n"
	    "From: \"x\\\0y\" <sip:b@example.com>;tag=1\r\n"
	    "To: <sip:a@example.com>\r\n"
	    "Call-ID: nul1\r\n"
	    "CSeq: 1 OPTIONS\r\n"
	    "\r\n";
	char *p;

	(void)state;
	/* In a header value. */
	memcpy(buf, invite, sizeof(invite));
	p = strstr(buf, "Max-Forwards: 70");
	p[14] = '\0';
	assert_int_equal(sg_sip_parse(&msg, buf, sizeof(invite) - 1, false,
	    &perr), -EBADMSG);
	assert_string_equal(perr.reason, "NUL byte in header");
	assert_int_equal(perr.line, 3);
	/* In the start line. */
	memcpy(buf, invite, sizeof(invite));
	buf[3] = '\0';
	assert_int_equal(sg_sip_parse(&msg, buf, sizeof(invite) - 1, false,
	    &perr), -EBADMSG);
	/* In a header name. */
	memcpy(buf, invite, sizeof(invite));
	p = strstr(buf, "Call-ID");
	p[1] = '\0';
	assert_int_equal(sg_sip_parse(&msg, buf, sizeof(invite) - 1, false,
	    &perr), -EBADMSG);
	/* A quoted-pair may carry a NUL (RFC 3261 25.1, RFC 4475 3.1.1.2). */
	assert_int_equal(sg_sip_parse(&msg, quoted, sizeof(quoted) - 1,
	    false, &perr), 0);
	/* The same NUL outside a quoted string is refused. */
	memcpy(buf, quoted, sizeof(quoted));
	p = memchr(buf, '\\', sizeof(quoted));
	p[-2] = 'x';		/* break the opening quote */
	assert_int_equal(sg_sip_parse(&msg, buf, sizeof(quoted) - 1, false,
	    &perr), -EBADMSG);
	/* A NUL in the body is data. */
	memcpy(buf, invite, sizeof(invite));
	buf[sizeof(invite) - 3] = '\0';
	assert_int_equal(sg_sip_parse(&msg, buf, sizeof(invite) - 1, false,
	    &perr), 0);
}

static void test_sip_msg_rejects_missing_mandatory(void **state)
{
	static const char *const all[] = {
		"Via: SIP/2.0/UDP h.example.com;branch=z9hG4bK1",
		"From: <sip:b@example.com>;tag=1",
		"To: <sip:a@example.com>",
		"Call-ID: mand1",
		"CSeq: 1 OPTIONS",
	};
	static const char *const names[] = {
		"Via", "From", "To", "Call-ID", "CSeq",
	};
	const char *hdrs[SG_ARRAY_SIZE(all) + 1];
	char buf[512];
	unsigned skip, i, n;

	(void)state;
	for (skip = 0; skip <= SG_ARRAY_SIZE(all); skip++) {
		for (i = 0, n = 0; i < SG_ARRAY_SIZE(all); i++)
			if (i != skip)
				hdrs[n++] = all[i];
		hdrs[n] = NULL;
		build(buf, sizeof(buf), "OPTIONS sip:a@example.com SIP/2.0",
		    hdrs);
		if (skip == SG_ARRAY_SIZE(all)) {
			assert_int_equal(parse(buf, false), 0);
			continue;
		}
		assert_int_equal(parse(buf, false), -EBADMSG);
		assert_non_null(strstr(perr.reason, names[skip]));
		/* Responses need them too. */
		build(buf, sizeof(buf), "SIP/2.0 200 OK", hdrs);
		assert_int_equal(parse(buf, false), -EBADMSG);
		assert_non_null(strstr(perr.reason, names[skip]));
	}
}

static void test_sip_msg_parses_max_forwards(void **state)
{
	static const struct {
		const char *line;
		int rc, mf;
	} cases[] = {
		{ "X-None: 1", 0, -1 },
		{ "Max-Forwards: 0", 0, 0 },
		{ "Max-Forwards: 0068", 0, 68 },
		{ "Max-Forwards: 255", 0, 255 },
		{ "Max-Forwards: 256", -EBADMSG, 0 },
		{ "Max-Forwards: 99999999999999999999999", -EBADMSG, 0 },
		{ "Max-Forwards: seventy", -EBADMSG, 0 },
		{ "Max-Forwards: 7 0", -EBADMSG, 0 },
		{ "Max-Forwards: -1", -EBADMSG, 0 },
		{ "Max-Forwards:", -EBADMSG, 0 },
	};
	const char *hdrs[8] = {
		"Via: SIP/2.0/UDP h.example.com;branch=z9hG4bK1",
		"From: <sip:b@example.com>;tag=1",
		"To: <sip:a@example.com>",
		"Call-ID: mf1",
		"CSeq: 1 OPTIONS",
		NULL, NULL, NULL,
	};
	char buf[512];
	unsigned i;

	(void)state;
	for (i = 0; i < SG_ARRAY_SIZE(cases); i++) {
		hdrs[5] = cases[i].line;
		build(buf, sizeof(buf), "OPTIONS sip:a SIP/2.0", hdrs);
		if (parse(buf, false) != cases[i].rc)
			fail_msg("\"%s\" did not give %d", cases[i].line,
			    cases[i].rc);
		if (cases[i].rc == 0)
			assert_int_equal(msg.max_forwards, cases[i].mf);
	}
	/* Duplicates: equal values are tolerated, different ones are not. */
	hdrs[5] = "Max-Forwards: 70";
	hdrs[6] = "Max-Forwards: 070";
	build(buf, sizeof(buf), "OPTIONS sip:a SIP/2.0", hdrs);
	assert_int_equal(parse(buf, false), 0);
	hdrs[6] = "Max-Forwards: 69";
	build(buf, sizeof(buf), "OPTIONS sip:a SIP/2.0", hdrs);
	assert_int_equal(parse(buf, false), -EBADMSG);
	assert_string_equal(perr.reason, "conflicting Max-Forwards");
}

static void test_sip_msg_rejects_conflicting_duplicates(void **state)
{
	static const char *const dups[][2] = {
		{ "Call-ID: other", "conflicting Call-ID" },
		{ "i: other", "conflicting Call-ID" },
		{ "CSeq: 2 OPTIONS", "conflicting CSeq" },
		{ "Content-Length: 1", "conflicting Content-Length" },
	};
	const char *hdrs[] = {
		"Via: SIP/2.0/UDP h.example.com;branch=z9hG4bK1",
		"From: <sip:b@example.com>;tag=1",
		"To: <sip:a@example.com>",
		"Call-ID: dup1",
		"CSeq: 1 OPTIONS",
		"Content-Length: 0",
		NULL, NULL,
	};
	char buf[512];
	unsigned i;

	(void)state;
	/* The same value twice is fine (RFC 3261 7.3.1 allows no list
	 * here, but a repeated identical line is harmless). */
	hdrs[6] = "Call-ID: dup1";
	build(buf, sizeof(buf), "OPTIONS sip:a SIP/2.0", hdrs);
	assert_int_equal(parse(buf, false), 0);
	for (i = 0; i < SG_ARRAY_SIZE(dups); i++) {
		hdrs[6] = dups[i][0];
		build(buf, sizeof(buf), "OPTIONS sip:a SIP/2.0", hdrs);
		assert_int_equal(parse(buf, false), -EBADMSG);
		assert_string_equal(perr.reason, dups[i][1]);
	}
}

static void test_sip_msg_checks_cseq(void **state)
{
	static const struct {
		const char *start, *cseq;
		int rc;
	} cases[] = {
		{ "OPTIONS sip:a SIP/2.0", "CSeq: 2147483647 OPTIONS", 0 },
		{ "OPTIONS sip:a SIP/2.0", "CSeq: 2147483648 OPTIONS",
		    -EBADMSG },
		{ "OPTIONS sip:a SIP/2.0", "CSeq: 1 INVITE", -EBADMSG },
		{ "OPTIONS sip:a SIP/2.0", "CSeq: 1 options", -EBADMSG },
		{ "OPTIONS sip:a SIP/2.0", "CSeq: OPTIONS", -EBADMSG },
		{ "OPTIONS sip:a SIP/2.0", "CSeq: 1", -EBADMSG },
		{ "OPTIONS sip:a SIP/2.0", "CSeq: 1OPTIONS", -EBADMSG },
		{ "OPTIONS sip:a SIP/2.0", "CSeq: 1 OPT IONS", -EBADMSG },
		{ "ACK sip:a SIP/2.0", "CSeq: 1 ACK", 0 },
		{ "ACK sip:a SIP/2.0", "CSeq: 1 INVITE", -EBADMSG },
		{ "CANCEL sip:a SIP/2.0", "CSeq: 1 CANCEL", 0 },
		{ "SIP/2.0 487 Request Terminated", "CSeq: 1 INVITE", 0 },
	};
	const char *hdrs[] = {
		"Via: SIP/2.0/UDP h.example.com;branch=z9hG4bK1",
		"From: <sip:b@example.com>;tag=1",
		"To: <sip:a@example.com>",
		"Call-ID: cseq1",
		NULL, NULL,
	};
	char buf[512];
	unsigned i;

	(void)state;
	for (i = 0; i < SG_ARRAY_SIZE(cases); i++) {
		hdrs[4] = cases[i].cseq;
		build(buf, sizeof(buf), cases[i].start, hdrs);
		if (parse(buf, false) != cases[i].rc)
			fail_msg("\"%s\" / \"%s\" did not give %d",
			    cases[i].start, cases[i].cseq, cases[i].rc);
	}
}

static void test_sip_msg_rejects_bad_start_lines(void **state)
{
	static const char *const bad[] = {
		"OPTIONS sip:a SIP/2.1",
		"OPTIONS sip:a SIP/7.0",
		"OPTIONS sip:a sip/2.0 ",
		"OPTIONS sip:a",
		"OPTIONS",
		"OPTIONS  sip:a SIP/2.0",
		"OPTIONS sip:a  SIP/2.0",
		" OPTIONS sip:a SIP/2.0",
		"OPT@ONS sip:a SIP/2.0",
		"OPT\"IONS sip:a SIP/2.0",
		"OPTIONS <sip:a> SIP/2.0",
		"OPTIONS sip:a\tb SIP/2.0",
		"OPTIONS sip: SIP/2.0",
		"OPTIONS sip:user@ SIP/2.0",
		"OPTIONS :nothing SIP/2.0",
		"SIP/2.0 4294967301 better not break the receiver",
		"SIP/2.0 99 Too small",
		"SIP/2.0 700 Too big",
		"SIP/2.0 2OO OK",
		"SIP/2.0 200",
		"SIP/2.0 200 OK\x01",
		"SIP/3.0 200 OK",
		"HTTP/1.1 200 OK",
	};
	const char *hdrs[] = {
		"Via: SIP/2.0/UDP h.example.com;branch=z9hG4bK1",
		"From: <sip:b@example.com>;tag=1",
		"To: <sip:a@example.com>",
		"Call-ID: start1",
		"CSeq: 1 OPTIONS",
		NULL,
	};
	char buf[512];
	unsigned i;

	(void)state;
	for (i = 0; i < SG_ARRAY_SIZE(bad); i++) {
		build(buf, sizeof(buf), bad[i], hdrs);
		if (parse(buf, false) != -EBADMSG)
			fail_msg("accepted start line \"%s\"", bad[i]);
	}
	/* An empty reason phrase and odd but legal schemes are fine. */
	build(buf, sizeof(buf), "SIP/2.0 100 ", hdrs);
	assert_int_equal(parse(buf, false), 0);
	assert_int_equal(msg.reason.len, 0);
	build(buf, sizeof(buf), "OPTIONS soap.beep://192.0.2.103:3002 SIP/2.0",
	    hdrs);
	assert_int_equal(parse(buf, false), 0);
	build(buf, sizeof(buf), "OPTIONS tel:+15551234567 SIP/2.0", hdrs);
	assert_int_equal(parse(buf, false), 0);
}

static void test_sip_msg_rejects_malformed_headers(void **state)
{
	static const char *const bad[] = {
		"Foobar roobar",
		"NoColonAtAll",
		": empty name",
		"Bad Name: x",
		"Bad@Name: x",
		"From: \"unterminated <sip:b@example.com>",
		"To: sip:a@example.com;;tag=1",
		"Via: SIP/2.0/UDP 192.0.2.15;;,;,,",
		"Via: ,",
		"Call-ID: two words",
		"Call-ID:",
	};
	const char *hdrs[] = {
		"Via: SIP/2.0/UDP h.example.com;branch=z9hG4bK1",
		"From: <sip:b@example.com>;tag=1",
		"To: <sip:a@example.com>",
		"Call-ID: hdr1",
		"CSeq: 1 OPTIONS",
		NULL, NULL,
	};
	static const char cont[] =
	    "OPTIONS sip:a SIP/2.0\r\n"
	    " folded: before any header\r\n"
	    "\r\n";
	static const char cr[] =
	    "OPTIONS sip:a SIP/2.0\r\n"
	    "X-A: bare\rCR\r\n"
	    "\r\n";
	char buf[512];
	unsigned i;

	(void)state;
	for (i = 0; i < SG_ARRAY_SIZE(bad); i++) {
		hdrs[5] = bad[i];
		build(buf, sizeof(buf), "OPTIONS sip:a SIP/2.0", hdrs);
		if (parse(buf, false) != -EBADMSG)
			fail_msg("accepted header \"%s\"", bad[i]);
		assert_int_equal(perr.line, 7);
	}
	assert_int_equal(parse(cont, false), -EBADMSG);
	assert_int_equal(parse(cr, false), -EBADMSG);
	/* No empty line after the head. */
	assert_int_equal(parse("OPTIONS sip:a SIP/2.0\r\nX: y\r\n", false),
	    -EBADMSG);
	assert_int_equal(sg_sip_parse(&msg, NULL, 0, false, &perr), -EBADMSG);
	assert_int_equal(sg_sip_parse(&msg, "", 0, false, NULL), -EBADMSG);
}

static void test_sip_msg_limits_header_count(void **state)
{
	static char buf[SG_SIP_MAX_HDRS * 16 + 512];
	const char *hdrs[SG_SIP_MAX_HDRS + 2];
	unsigned i;

	(void)state;
	hdrs[0] = "Via: SIP/2.0/UDP h.example.com;branch=z9hG4bK1";
	hdrs[1] = "From: <sip:b@example.com>;tag=1";
	hdrs[2] = "To: <sip:a@example.com>";
	hdrs[3] = "Call-ID: many1";
	hdrs[4] = "CSeq: 1 OPTIONS";
	for (i = 5; i < SG_SIP_MAX_HDRS; i++)
		hdrs[i] = "X-Filler: 1";
	hdrs[SG_SIP_MAX_HDRS] = NULL;
	build(buf, sizeof(buf), "OPTIONS sip:a SIP/2.0", hdrs);
	assert_int_equal(parse(buf, false), 0);
	assert_int_equal(msg.nhdrs, SG_SIP_MAX_HDRS);
	hdrs[SG_SIP_MAX_HDRS] = "X-Filler: 1";
	hdrs[SG_SIP_MAX_HDRS + 1] = NULL;
	build(buf, sizeof(buf), "OPTIONS sip:a SIP/2.0", hdrs);
	assert_int_equal(parse(buf, false), -EBADMSG);
	assert_string_equal(perr.reason, "too many headers");
}

static void test_sip_msg_parses_uri_edge_cases(void **state)
{
	struct sg_sip_uri u;

	(void)state;
	assert_int_equal(sg_sip_uri_parse(SG_STR(
	    "sips:alice:secret@example.com:5061;transport=tls;lr"
	    "?subject=x&priority=urgent"), &u), 0);
	assert_str(u.scheme, "sips");
	assert_str(u.user, "alice");
	assert_str(u.password, "secret");
	assert_str(u.host, "example.com");
	assert_false(u.host_is_v6);
	assert_int_equal(u.port, 5061);
	assert_str(u.params, ";transport=tls;lr");
	assert_str(u.headers, "?subject=x&priority=urgent");

	/* Host only, and a host with a port but no user. */
	assert_int_equal(sg_sip_uri_parse(SG_STR("SIP:Example.COM"), &u), 0);
	assert_str(u.scheme, "SIP");
	assert_int_equal(u.user.len, 0);
	assert_str(u.host, "Example.COM");
	assert_int_equal(sg_sip_uri_parse(SG_STR("sip:10.0.0.1:65535"), &u),
	    0);
	assert_str(u.host, "10.0.0.1");
	assert_int_equal(u.port, 65535);

	/* User parameters and escapes (RFC 4475 3.1.1.9 semiuri, esc01). */
	assert_int_equal(sg_sip_uri_parse(SG_STR(
	    "sip:user;par=u%40example.net@example.com"), &u), 0);
	assert_str(u.user, "user;par=u%40example.net");
	assert_str(u.host, "example.com");
	assert_int_equal(u.params.len, 0);
	assert_int_equal(sg_sip_uri_parse(SG_STR(
	    "sip:sips%3Auser%40example.com@example.net"), &u), 0);
	assert_str(u.user, "sips%3Auser%40example.com");
	assert_str(u.host, "example.net");

	/* '?' and ',' are legal in a user part (RFC 4475 3.1.1.2 intmeth). */
	assert_int_equal(sg_sip_uri_parse(SG_STR(
	    "sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,"
	    "weird!*pas$wo~d_too.(doesn't-it)@example.com"), &u), 0);
	assert_str(u.user, "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*");
	assert_str(u.password, "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)");
	assert_str(u.host, "example.com");

	/* IPv6 with params and headers. */
	assert_int_equal(sg_sip_uri_parse(SG_STR(
	    " sip:[::1];maddr=[2001:db8::7]?h=v "), &u), 0);
	assert_str(u.host, "::1");
	assert_true(u.host_is_v6);
	assert_int_equal(u.port, 0);
	assert_str(u.params, ";maddr=[2001:db8::7]");
	assert_str(u.headers, "?h=v");

	/* tel: and other schemes. */
	assert_int_equal(sg_sip_uri_parse(SG_STR(
	    "tel:+1-201-555-0123;phone-context=example.com"), &u), 0);
	assert_str(u.scheme, "tel");
	assert_str(u.user, "+1-201-555-0123");
	assert_str(u.params, ";phone-context=example.com");
	assert_int_equal(u.host.len, 0);
	assert_int_equal(sg_sip_uri_parse(SG_STR("http://www.example.com"),
	    &u), -EPROTONOSUPPORT);
	assert_str(u.scheme, "http");

	/* Malformed. */
	assert_int_equal(sg_sip_uri_parse(SG_STR_NULL, &u), -EINVAL);
	assert_int_equal(sg_sip_uri_parse(SG_STR("sip:"), &u), -EINVAL);
	assert_int_equal(sg_sip_uri_parse(SG_STR("sip:user@"), &u), -EINVAL);
	assert_int_equal(sg_sip_uri_parse(SG_STR("sip:@host"), &u), -EINVAL);
	assert_int_equal(sg_sip_uri_parse(SG_STR("sip:user@;x"), &u),
	    -EINVAL);
	assert_int_equal(sg_sip_uri_parse(SG_STR("sip:host:0"), &u), -EINVAL);
	assert_int_equal(sg_sip_uri_parse(SG_STR("sip:host:65536"), &u),
	    -EINVAL);
	assert_int_equal(sg_sip_uri_parse(SG_STR("sip:host:"), &u), -EINVAL);
	assert_int_equal(sg_sip_uri_parse(SG_STR("sip:host:50x"), &u),
	    -EINVAL);
	assert_int_equal(sg_sip_uri_parse(SG_STR("sip:host:123456"), &u),
	    -EINVAL);
	assert_int_equal(sg_sip_uri_parse(SG_STR("sip:[2001:db8::1"), &u),
	    -EINVAL);
	assert_int_equal(sg_sip_uri_parse(SG_STR("sip:[example.com]"), &u),
	    -EINVAL);
	assert_int_equal(sg_sip_uri_parse(SG_STR("sip:a@b@c"), &u), -EINVAL);
	assert_int_equal(sg_sip_uri_parse(SG_STR("sip:user@host; lr"), &u),
	    -EINVAL);
	assert_int_equal(sg_sip_uri_parse(SG_STR("<sip:user@host>"), &u),
	    -EINVAL);
	assert_int_equal(sg_sip_uri_parse(SG_STR("1sip:host"), &u), -EINVAL);
	assert_int_equal(sg_sip_uri_parse(SG_STR("tel:"), &u), -EINVAL);
}

static void test_sip_msg_gets_params(void **state)
{
	static const struct sg_str p = SG_STR(
	    ";Transport=TCP ; lr;  q = 0.5 ;x=\"a;b=c\";empty=;tag=abc");
	struct sg_str v;

	(void)state;
	assert_true(sg_sip_param_get(p, "transport", &v));
	assert_str(v, "TCP");
	assert_true(sg_sip_param_get(p, "LR", &v));
	assert_int_equal(v.len, 0);
	assert_true(sg_sip_param_get(p, "q", &v));
	assert_str(v, "0.5");
	assert_true(sg_sip_param_get(p, "x", &v));
	assert_str(v, "\"a;b=c\"");
	assert_true(sg_sip_param_get(p, "empty", &v));
	assert_int_equal(v.len, 0);
	assert_true(sg_sip_param_get(p, "tag", NULL));
	assert_false(sg_sip_param_get(p, "b", &v));
	assert_false(sg_sip_param_get(p, "ta", &v));
	assert_false(sg_sip_param_get(SG_STR_NULL, "lr", &v));
	assert_false(sg_sip_param_get(SG_STR(";x=\"unterminated;lr"), "lr",
	    &v));
}

static void test_sip_msg_splits_lists(void **state)
{
	struct sg_str rest = SG_STR(
	    " , \"Doe, John\" <sip:j@example.com;a=1,2>;q=0.1 ,,"
	    "<sip:k@example.com>,\r\n sip:l@example.com;x=\"\\\",\" ,\t");
	struct sg_str el;

	(void)state;
	assert_true(sg_sip_list_next(&rest, &el));
	assert_str(el, "\"Doe, John\" <sip:j@example.com;a=1,2>;q=0.1");
	assert_true(sg_sip_list_next(&rest, &el));
	assert_str(el, "<sip:k@example.com>");
	assert_true(sg_sip_list_next(&rest, &el));
	assert_str(el, "sip:l@example.com;x=\"\\\",\"");
	assert_false(sg_sip_list_next(&rest, &el));
	assert_false(sg_sip_list_next(&rest, &el));
	rest = SG_STR_NULL;
	assert_false(sg_sip_list_next(&rest, &el));
}

static void test_sip_msg_parses_naddr_forms(void **state)
{
	struct sg_sip_naddr na;

	(void)state;
	assert_int_equal(sg_sip_naddr_parse(SG_STR(
	    "\"Display \\\"Name\\\"\" <sip:a@b;x>;tag=1"), &na), 0);
	assert_str(na.display, "\"Display \\\"Name\\\"\"");
	assert_str(na.uri, "sip:a@b;x");
	assert_str(na.params, ";tag=1");
	assert_true(na.bracketed);

	assert_int_equal(sg_sip_naddr_parse(SG_STR(
	    "Name Two <sip:a@b> ; p ; q = \"v\""), &na), 0);
	assert_str(na.display, "Name Two");
	assert_str(na.uri, "sip:a@b");
	assert_str(na.params, "; p ; q = \"v\"");

	assert_int_equal(sg_sip_naddr_parse(SG_STR("<sip:a@b>"), &na), 0);
	assert_int_equal(na.display.len, 0);
	assert_str(na.uri, "sip:a@b");
	assert_int_equal(na.params.len, 0);

	/* Bare addr-spec: the params are header params (RFC 3261 20.10). */
	assert_int_equal(sg_sip_naddr_parse(SG_STR(
	    "sip:a@b;tag=1;x"), &na), 0);
	assert_false(na.bracketed);
	assert_str(na.uri, "sip:a@b");
	assert_str(na.params, ";tag=1;x");

	assert_int_equal(sg_sip_naddr_parse(SG_STR(" * "), &na), 0);
	assert_str(na.uri, "*");

	/* Unquoted UTF-8 display names, as phones send them. */
	assert_int_equal(sg_sip_naddr_parse(SG_STR(
	    "J\xc3\xbcrgen M\xc3\xbcller <sip:j@b>;tag=9"), &na), 0);
	assert_str(na.display, "J\xc3\xbcrgen M\xc3\xbcller");
	assert_str(na.uri, "sip:j@b");

	/* LWS inside <> is tolerated (RFC 4475 3.1.2.14). */
	assert_int_equal(sg_sip_naddr_parse(SG_STR(
	    "\"Watson, Thomas\" < sip:t.watson@example.org >"), &na), 0);
	assert_str(na.uri, "sip:t.watson@example.org");

	/* Malformed. */
	assert_int_equal(sg_sip_naddr_parse(SG_STR_NULL, &na), -EINVAL);
	assert_int_equal(sg_sip_naddr_parse(SG_STR(
	    "\"Mr. J. User <sip:j.user@example.com>"), &na), -EINVAL);
	assert_int_equal(sg_sip_naddr_parse(SG_STR(
	    "Bell, Alexander <sip:a.g.bell@example.com>;tag=43"), &na),
	    -EINVAL);
	assert_int_equal(sg_sip_naddr_parse(SG_STR("<sip:a@b"), &na),
	    -EINVAL);
	assert_int_equal(sg_sip_naddr_parse(SG_STR("<>"), &na), -EINVAL);
	assert_int_equal(sg_sip_naddr_parse(SG_STR("\"x\" sip:a@b"), &na),
	    -EINVAL);
	assert_int_equal(sg_sip_naddr_parse(SG_STR("<sip:a@b> junk"), &na),
	    -EINVAL);
	assert_int_equal(sg_sip_naddr_parse(SG_STR("<sip:a@b>;;;;"), &na),
	    -EINVAL);
	assert_int_equal(sg_sip_naddr_parse(SG_STR("<sip:a b>"), &na),
	    -EINVAL);
	assert_int_equal(sg_sip_naddr_parse(SG_STR("just words"), &na),
	    -EINVAL);
}

/* Parse the RFC 4475 short tortuous INVITE and check what it hides. */
static void test_sip_msg_parses_rfc4475_wsinv(void **state)
{
	static char buf[4096];
	const struct sg_sip_hdr *h;
	struct sg_sip_naddr na;
	struct sg_sip_via via;
	struct sg_str rest, el, v;
	FILE *f;
	size_t n;
	unsigned i, nvia = 0;
	static const char *const branches[] = {
		"390skdjuw", "z9hG4bK9ikj8", "z9hG4bK30239",
	};

	(void)state;
	f = fopen(FIXTURES "/valid/wsinv.sip", "rb");
	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	assert_int_equal(sg_sip_parse(&msg, buf, n, false, &perr), 0);
	assert_str(msg.method, "INVITE");
	assert_int_equal(msg.cseq_num, 9);
	assert_str(msg.cseq_method, "INVITE");
	assert_int_equal(msg.max_forwards, 68);
	assert_str(msg.call_id, "wsinv.ndaksdj@192.0.2.1");
	assert_int_equal(msg.body.len, 150);
	for (i = 0; i < msg.nhdrs; i++) {
		if (msg.hdrs[i].id != SG_SIP_HDR_VIA)
			continue;
		rest = msg.hdrs[i].value;
		while (sg_sip_list_next(&rest, &el)) {
			assert_true(nvia < SG_ARRAY_SIZE(branches));
			assert_int_equal(sg_sip_via_parse(el, &via), 0);
			assert_str(via.branch, branches[nvia]);
			nvia++;
		}
	}
	assert_int_equal(nvia, 3);
	h = sg_sip_hdr_find(&msg, SG_SIP_HDR_FROM);
	assert_int_equal(sg_sip_naddr_parse(h->value, &na), 0);
	assert_str(na.display, "\"J Rosenberg \\\\\\\"\"");
	assert_true(sg_sip_param_get(na.params, "tag", &v));
	assert_str(v, "98asjd8");
	h = sg_sip_hdr_find(&msg, SG_SIP_HDR_TO);
	assert_int_equal(sg_sip_naddr_parse(h->value, &na), 0);
	assert_false(na.bracketed);
	assert_str(na.uri, "sip:vivekg@chair-dnrc.example.com");
	assert_true(sg_sip_param_get(na.params, "tag", &v));
	assert_str(v, "1918181833n");
	h = sg_sip_hdr_find(&msg, SG_SIP_HDR_CONTACT);
	assert_int_equal(sg_sip_naddr_parse(h->value, &na), 0);
	assert_true(sg_sip_param_get(na.params, "newparam", &v));
	assert_str(v, "newvalue");
	assert_true(sg_sip_param_get(na.params, "q", &v));
	assert_str(v, "0.33");
}

/*
 * Parse every file of a fixture folder in datagram mode and expect rc
 * (0, or a rejection when want_ok is false). Messages that parse are also
 * framed as a stream, which must agree with total_len.
 */
static void run_fixture_dir(const char *name, bool want_ok)
{
	static char buf[SG_SIP_MAX_MSG + 1];
	char path[512];
	struct dirent *de;
	struct stat sb;
	unsigned count = 0;
	DIR *d;
	FILE *f;
	size_t n;
	int rc;

	snprintf(path, sizeof(path), "%s/%s", FIXTURES, name);
	d = opendir(path);
	if (d == NULL)
		fail_msg("cannot open %s", path);
	while ((de = readdir(d)) != NULL) {
		snprintf(path, sizeof(path), "%s/%s/%s", FIXTURES, name,
		    de->d_name);
		if (stat(path, &sb) < 0 || !S_ISREG(sb.st_mode))
			continue;
		f = fopen(path, "rb");
		assert_non_null(f);
		n = fread(buf, 1, sizeof(buf), f);
		fclose(f);
		rc = sg_sip_parse(&msg, buf, n, false, &perr);
		if (want_ok && rc != 0)
			fail_msg("%s/%s: %d (%s, line %u)", name, de->d_name,
			    rc, perr.reason, perr.line);
		if (!want_ok && rc != -EBADMSG && rc != -EMSGSIZE)
			fail_msg("%s/%s: accepted", name, de->d_name);
		if (want_ok && sg_sip_hdr_find(&msg,
		    SG_SIP_HDR_CONTENT_LENGTH) != NULL) {
			ssize_t fr = sg_sip_frame(buf, n);

			if (fr != (ssize_t)msg.total_len)
				fail_msg("%s/%s: framed %zd, parsed %zu", name,
				    de->d_name, fr, msg.total_len);
			assert_int_equal(sg_sip_parse(&msg, buf, n, true,
			    &perr), 0);
		}
		count++;
	}
	closedir(d);
	if (count == 0)
		fail_msg("no fixtures in %s", name);
}

static void test_sip_msg_accepts_rfc4475_valid(void **state)
{
	(void)state;
	run_fixture_dir("valid", true);
}

static void test_sip_msg_accepts_rfc4475_proxyok(void **state)
{
	(void)state;
	run_fixture_dir("proxyok", true);
}

static void test_sip_msg_rejects_rfc4475_invalid(void **state)
{
	(void)state;
	run_fixture_dir("invalid", false);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sip_msg_parses_simple_invite),
		cmocka_unit_test(test_sip_msg_parses_200_response),
		cmocka_unit_test(test_sip_msg_keeps_folded_value),
		cmocka_unit_test(test_sip_msg_accepts_bare_lf),
		cmocka_unit_test(test_sip_msg_maps_compact_forms),
		cmocka_unit_test(test_sip_msg_iterates_multiple_via),
		cmocka_unit_test(test_sip_msg_rejects_bad_via),
		cmocka_unit_test(test_sip_msg_parses_ipv6_hosts),
		cmocka_unit_test(test_sip_msg_frames_stream),
		cmocka_unit_test(test_sip_msg_frame_needs_content_length),
		cmocka_unit_test(test_sip_msg_frame_rejects_oversized_head),
		cmocka_unit_test(test_sip_msg_stream_body_rules),
		cmocka_unit_test(test_sip_msg_datagram_content_length),
		cmocka_unit_test(test_sip_msg_rejects_nul_byte),
		cmocka_unit_test(test_sip_msg_rejects_missing_mandatory),
		cmocka_unit_test(test_sip_msg_parses_max_forwards),
		cmocka_unit_test(test_sip_msg_rejects_conflicting_duplicates),
		cmocka_unit_test(test_sip_msg_checks_cseq),
		cmocka_unit_test(test_sip_msg_rejects_bad_start_lines),
		cmocka_unit_test(test_sip_msg_rejects_malformed_headers),
		cmocka_unit_test(test_sip_msg_limits_header_count),
		cmocka_unit_test(test_sip_msg_parses_uri_edge_cases),
		cmocka_unit_test(test_sip_msg_gets_params),
		cmocka_unit_test(test_sip_msg_splits_lists),
		cmocka_unit_test(test_sip_msg_parses_naddr_forms),
		cmocka_unit_test(test_sip_msg_parses_rfc4475_wsinv),
		cmocka_unit_test(test_sip_msg_accepts_rfc4475_valid),
		cmocka_unit_test(test_sip_msg_accepts_rfc4475_proxyok),
		cmocka_unit_test(test_sip_msg_rejects_rfc4475_invalid),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
