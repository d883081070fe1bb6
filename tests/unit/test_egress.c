/* SPDX-License-Identifier: MIT */
/*
 * The egress check (DESIGN §4, docs/security.md): every SIP message goes
 * through sg_xport_send(), which refuses one that would put a=crypto,
 * a=fingerprint or RTP/SAVP on the inside, or RTP/AVP on the outside
 * under media = srtp. In the daemon the session logic never lets such a
 * message get that far (the lab tests and the sequence fuzzer show
 * policy_violations_blocked = 0); here the session logic is bypassed by
 * handing the messages straight to the egress, so the check must fire,
 * count and send nothing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "log.h"
#include "session.h"
#include "sip_proxy.h"
#include "xport.h"

static const char req_savp[] =
	"INVITE sip:alice@198.18.1.10 SIP/2.0\r\nVia: SIP/2.0/UDP x;branch="
	"z9hG4bKx\r\nContent-Type: application/sdp\r\nContent-Length: 69\r\n"
	"\r\nm=audio 7078 RTP/SAVP 0\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 "
	"inline:x\r\n";
static const char resp_fp[] =
	"SIP/2.0 200 OK\r\nContent-Length: 30\r\n\r\na=fingerprint:sha-256 "
	"AB:CD\r\n";
static const char req_avp[] =
	"INVITE sip:bob@pbx SIP/2.0\r\nContent-Length: 24\r\n\r\n"
	"m=audio 4000 RTP/AVP 0\r\n";

struct fixture {
	struct sg_cfg_service cfg;
	struct sg_svc svc;
	struct sg_sessions ss;
	struct sg_dest in, out;
};

static struct fixture *setup(enum sg_media_policy pol)
{
	static struct fixture f;

	memset(&f, 0, sizeof(f));
	strcpy(f.cfg.name, "egress");
	f.cfg.media = pol;
	f.svc.cfg = &f.cfg;
	f.svc.sess = &f.ss;
	f.svc.ops = &sg_proxy_ops;	/* what a SIP service registers */
	f.ss.svc = &f.svc;
	f.in.side = SG_SIDE_INSIDE;
	f.in.kind = SG_XPORT_UDP;
	sg_addr_parse("198.18.1.10", 5060, &f.in.addr);
	f.out.side = SG_SIDE_OUTSIDE;
	f.out.kind = SG_XPORT_TLS;
	f.out.no_connect = true;
	sg_addr_parse("198.18.2.10", 5061, &f.out.addr);
	return &f;
}

static int send_str(struct fixture *f, const struct sg_dest *d, const char *s)
{
	return sg_xport_send(&f->svc, d, s, strlen(s));
}

static void test_egress_blocks_secrets_inside(void **state)
{
	struct fixture *f = setup(SG_MEDIA_RELAY);

	(void)state;
	assert_int_equal(send_str(f, &f->in, req_savp), -EACCES);
	assert_int_equal(send_str(f, &f->in, resp_fp), -EACCES);
	assert_int_equal(f->ss.violations, 2);
	assert_int_equal(f->svc.st.msg_out, 0);		/* nothing sent */
	/* A plain SDP may go in; it fails later only for want of a socket. */
	assert_int_not_equal(send_str(f, &f->in, req_avp), -EACCES);
	assert_int_equal(f->ss.violations, 2);
}

static void test_egress_blocks_plain_outside(void **state)
{
	struct fixture *f = setup(SG_MEDIA_SRTP);

	(void)state;
	assert_int_equal(send_str(f, &f->out, req_avp), -EACCES);
	assert_int_equal(f->ss.violations, 1);
	/* SRTP may leave; no connection here, so it is not sent either. */
	assert_int_equal(send_str(f, &f->out, req_savp), -ENOTCONN);
	/* srtp-optional and relay allow plain RTP outside. */
	f = setup(SG_MEDIA_SRTP_OPTIONAL);
	assert_int_equal(send_str(f, &f->out, req_avp), -ENOTCONN);
	assert_int_equal(f->ss.violations, 0);
}

static void test_egress_without_body(void **state)
{
	static const char bye[] = "BYE sip:x SIP/2.0\r\nSubject: RTP/SAVP"
	    " a=crypto\r\nContent-Length: 0\r\n\r\n";
	struct fixture *f = setup(SG_MEDIA_SRTP);

	(void)state;
	/* Only bodies are checked: headers carry no session description. */
	assert_int_not_equal(send_str(f, &f->in, bye), -EACCES);
	assert_int_equal(f->ss.violations, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_egress_blocks_secrets_inside),
		cmocka_unit_test(test_egress_blocks_plain_outside),
		cmocka_unit_test(test_egress_without_body),
	};

	log_init(LOG_ERR, 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
