/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for policy.c: the media invariant's predicates and the SDP
 * inside multipart bodies (RFC 2046 §5.1).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "policy.h"

static struct sg_str S(const char *s)
{
	return sg_str_make(s, strlen(s));
}

static void test_policy_secrets(void **state)
{
	(void)state;
	assert_false(sg_policy_has_secret(S("v=0\r\nm=audio 4 RTP/AVP 0\r\n")));
	assert_true(sg_policy_has_secret(S("m=audio 4 RTP/SAVP 0\r\n")));
	assert_true(sg_policy_has_secret(S("m=audio 4 rtp/savpf 0\r\n")));
	assert_true(sg_policy_has_secret(S("m=audio 4 UDP/TLS/RTP/SAVP 0\r\n")));
	assert_true(sg_policy_has_secret(S("a=crypto:1 AES_CM_128_HMAC_SHA1_80 "
	    "inline:x\r\n")));
	assert_true(sg_policy_has_secret(S("A=Fingerprint:sha-256 AB\r\n")));
	assert_true(sg_policy_has_secret(S("a=key-mgmt:mikey AQ\r\n")));
	/* Anywhere, whatever the content type or a NUL before it. */
	assert_true(sg_policy_has_secret(sg_str_make("x\0a=crypto", 10)));
	assert_false(sg_policy_has_secret(S("a=crypt")));
	assert_false(sg_policy_has_secret(SG_STR_NULL));
}

static void test_policy_plain_rtp(void **state)
{
	(void)state;
	assert_true(sg_policy_has_plain_rtp(S("v=0\r\nm=audio 4000 RTP/AVP 0\r\n")));
	assert_true(sg_policy_has_plain_rtp(S("m=video 0 RTP/AVPF 96")));
	assert_true(sg_policy_has_plain_rtp(S("x\nm=audio  4000/2  rtp/avp 0\n")));
	assert_false(sg_policy_has_plain_rtp(S("m=audio 4000 RTP/SAVP 0\r\n")));
	assert_false(sg_policy_has_plain_rtp(S("m=image 4000 udptl t38\r\n")));
	assert_false(sg_policy_has_plain_rtp(S("a=x m=audio 4 RTP/AVP 0\r\n")));
	assert_false(sg_policy_has_plain_rtp(S("m=audio 4000 RTP/AVPX 0\r\n")));
}

static void test_policy_check(void **state)
{
	struct sg_str savp = S("m=audio 4 RTP/SAVP 0\r\na=crypto:1 X inline:y\r\n");
	struct sg_str avp = S("m=audio 4 RTP/AVP 0\r\n");

	(void)state;
	assert_non_null(sg_policy_check(savp, true, true));
	assert_non_null(sg_policy_check(savp, true, false));
	assert_null(sg_policy_check(savp, false, true));
	assert_null(sg_policy_check(avp, true, true));
	assert_non_null(sg_policy_check(avp, false, true));
	assert_null(sg_policy_check(avp, false, false));	/* srtp-optional */
	assert_null(sg_policy_check(SG_STR_NULL, true, true));
}

static const char mixed[] =
	"--b1\r\n"
	"Content-Type: application/isup;version=itu-t92+\r\n"
	"\r\n"
	"\x01\x02\x00\x03\r\n"
	"--b1\r\n"
	"Content-Type: Application/SDP\r\n"
	"Content-Disposition: session\r\n"
	"\r\n"
	"v=0\r\nm=audio 4000 RTP/AVP 0\r\n"
	"\r\n"
	"--b1--\r\n";

static void test_body_multipart(void **state)
{
	struct sg_body_sdp bs;
	struct sg_str body = sg_str_make(mixed, sizeof(mixed) - 1);
	static const char want[] = "v=0\r\nm=audio 4000 RTP/AVP 0\r\n";

	(void)state;
	assert_int_equal(sg_body_find_sdp(S("multipart/mixed; boundary=b1"),
	    body, &bs), 0);
	assert_true(bs.multipart);
	assert_int_equal(bs.nparts, 2);
	assert_int_equal(bs.nsdp, 1);
	assert_int_equal(bs.sdp.len, strlen(want));
	assert_memory_equal(bs.sdp.p, want, bs.sdp.len);
	/* Quoted boundary, two SDP parts (alternative). */
	{
		static const char alt[] = "--\"q\"x\r\n--q\r\nContent-Type: "
		    "application/sdp\r\n\r\nv=0\r\n\r\n--q\r\nContent-Type: "
		    "application/sdp\r\n\r\nv=1\r\n\r\n--q--";

		assert_int_equal(sg_body_find_sdp(S("multipart/alternative;"
		    "boundary=\"q\""), sg_str_make(alt, sizeof(alt) - 1), &bs),
		    0);
		assert_int_equal(bs.nsdp, 2);
		assert_int_equal(bs.sdp.len, 5);
		assert_memory_equal(bs.sdp.p, "v=0\r\n", 5);
	}
	/* No boundary, no close delimiter, no delimiter at all. */
	assert_int_equal(sg_body_find_sdp(S("multipart/mixed"), body, &bs),
	    -EBADMSG);
	assert_int_equal(sg_body_find_sdp(S("multipart/mixed;boundary=b1"),
	    sg_str_make(mixed, 60), &bs), -EBADMSG);
	assert_int_equal(sg_body_find_sdp(S("multipart/mixed;boundary=zz"),
	    body, &bs), -EBADMSG);
	/* Plain SDP and other types. */
	assert_int_equal(sg_body_find_sdp(S("application/sdp ; x=y"), body,
	    &bs), 0);
	assert_int_equal(bs.nsdp, 1);
	assert_false(bs.multipart);
	assert_int_equal(sg_body_find_sdp(S("text/plain"), body, &bs), 0);
	assert_int_equal(bs.nsdp, 0);
	assert_int_equal(sg_body_find_sdp(SG_STR_NULL, body, &bs), 0);
	assert_int_equal(bs.nsdp, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_policy_secrets),
		cmocka_unit_test(test_policy_plain_rtp),
		cmocka_unit_test(test_policy_check),
		cmocka_unit_test(test_body_multipart),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
