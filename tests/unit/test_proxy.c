/* SPDX-License-Identifier: MIT */
/*
 * test_proxy.c: the proxy's decisions without sockets (issue 9). Parsed
 * fixture requests go through sg_proxy_plan_request() on a service that
 * has addresses, next hops and a token key but no open socket, and the
 * plan says where each goes, what changes, or which status answers it:
 * Max-Forwards (483), Proxy-Require (420), loops and spirals (482, RFC 3261
 * §16.3), Route entries naming us (§16.4), flow tokens (RFC 5626: 403, the
 * flow's address), the connect of the other side, and never one of our
 * own sockets.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "gw.h"
#include "sip_msg.h"
#include "sip_proxy.h"

#define GW_IN "198.18.1.1"	/* our inside address, udp 5060 */
#define GW_OUT "198.18.2.1"	/* our outside address, tls 5061 */
#define PBX "198.18.2.9"	/* the outside connect: tls 5061 */

struct fixture {
	struct sg_gw gw;
	struct sg_cfg_service cfg;
	struct sg_svc svc;
	struct sg_src in, out;	/* a phone inside, a peer outside */
	char buf[4096];
	struct sg_sip_msg m;
	struct sg_proxy_plan p;
};

static struct fixture F;

static int setup(void **state)
{
	struct fixture *f = &F;

	memset(f, 0, sizeof(*f));
	assert_int_equal(sg_token_key_random(&f->gw.token_key), 0);
	strcpy(f->cfg.name, "test");
	f->cfg.nconnect = 1;
	f->cfg.connect[0].kind = SG_XPORT_TLS;
	strcpy(f->cfg.connect[0].host, PBX);
	f->cfg.connect[0].port = 5061;
	f->svc.gw = &f->gw;
	f->svc.cfg = &f->cfg;
	f->svc.self_loaded = true;	/* no certificate names */
	f->svc.inside_kind = SG_XPORT_UDP;
	strcpy(f->svc.adv_host[SG_SIDE_INSIDE], GW_IN);
	strcpy(f->svc.adv_host[SG_SIDE_OUTSIDE], GW_OUT);
	f->svc.adv_port[SG_SIDE_INSIDE] = 5060;
	f->svc.adv_port[SG_SIDE_OUTSIDE] = 5061;
	/* Our sockets, as bound (nothing is opened). */
	f->svc.nsocks = 2;
	f->svc.socks[0].svc = &f->svc;
	f->svc.socks[0].kind = SG_XPORT_UDP;
	f->svc.socks[0].side = SG_SIDE_INSIDE;
	sg_addr_parse(GW_IN, 5060, &f->svc.socks[0].addr);
	f->svc.socks[1].svc = &f->svc;
	f->svc.socks[1].kind = SG_XPORT_TLS;
	f->svc.socks[1].side = SG_SIDE_OUTSIDE;
	sg_addr_parse(GW_OUT, 5061, &f->svc.socks[1].addr);
	f->svc.has_connect[SG_SIDE_OUTSIDE] = true;
	f->svc.connect_kind[SG_SIDE_OUTSIDE] = SG_XPORT_TLS;
	sg_addr_parse(PBX, 5061, &f->svc.connect_addr[SG_SIDE_OUTSIDE]);
	f->in.side = SG_SIDE_INSIDE;
	f->in.kind = SG_XPORT_UDP;
	sg_addr_parse("198.18.1.10", 5062, &f->in.addr);
	f->out.side = SG_SIDE_OUTSIDE;
	f->out.kind = SG_XPORT_TLS;
	sg_addr_parse(PBX, 40000, &f->out.addr);
	*state = f;
	return 0;
}

/* Parse a request made of a request line and header lines. */
static const struct sg_sip_msg *req(struct fixture *f, const char *first,
				    const char *hdrs)
{
	struct sg_perr err;
	int n = snprintf(f->buf, sizeof(f->buf), "%s SIP/2.0\r\n"
	    "From: <sip:alice@example.net>;tag=a1\r\n"
	    "Call-ID: c1@example.net\r\nCSeq: 1 %.*s\r\n%s"
	    "Content-Length: 0\r\n\r\n", first,
	    (int)strcspn(first, " "), first, hdrs);

	assert_true(n > 0 && (size_t)n < sizeof(f->buf));
	if (sg_sip_parse(&f->m, f->buf, (size_t)n, true, &err) < 0)
		fail_msg("fixture does not parse: %s (line %u)", err.reason,
			 err.line);
	return &f->m;
}

#define VIA_PHONE "Via: SIP/2.0/UDP 198.18.1.10:5062;branch=z9hG4bK-ph1;" \
	"rport\r\n"
#define VIA_PBX "Via: SIP/2.0/TLS " PBX ":40000;branch=z9hG4bK-pbx1\r\n"
#define TO_BOB "To: <sip:bob@example.net>\r\n"

static void plan(struct fixture *f, const struct sg_src *src,
		 const struct sg_sip_msg *m)
{
	sg_proxy_plan_request(&f->svc, src, m, &f->p);
}

static void assert_dest(const struct sg_dest *d, enum sg_side side,
			enum sg_xport_kind kind, const char *host,
			uint16_t port)
{
	struct sockaddr_storage want;
	char a[64], b[64];

	assert_int_equal(d->side, side);
	assert_int_equal(d->kind, kind);
	assert_int_equal(sg_addr_parse(host, port, &want), 0);
	if (!sg_addr_eq((const struct sockaddr *)&d->addr,
	    (const struct sockaddr *)&want))
		fail_msg("dest %s, want %s", sg_addr_str((const struct sockaddr *)
			 &d->addr, a, sizeof(a)), sg_addr_str(
			 (const struct sockaddr *)&want, b, sizeof(b)));
}

/* A dialog-creating INVITE from a phone: to the outside connect, with
 * our Record-Route rows, Max-Forwards one less. */
static void test_proxy_plan_invite_to_connect(void **state)
{
	struct fixture *f = *state;

	plan(f, &f->in, req(f, "INVITE sip:bob@example.net",
	    VIA_PHONE TO_BOB "Max-Forwards: 70\r\n"));
	assert_int_equal(f->p.status, 0);
	assert_dest(&f->p.dest, SG_SIDE_OUTSIDE, SG_XPORT_TLS, PBX, 5061);
	assert_true(f->p.record_route);
	assert_false(f->p.contacts);
	assert_false(f->p.new_ruri);
	assert_int_equal(f->p.max_forwards, 69);
	assert_int_equal(f->p.routes_popped, 0);
	/* Our branch: magic cookie, our tag, the side it came from. */
	assert_memory_equal(f->p.branch, SG_BRANCH_TAG "i",
			    sizeof(SG_BRANCH_TAG));
}

/* RFC 3261 §16.6 step 3: no Max-Forwards: 70 on the way out; 0: 483. */
static void test_proxy_plan_max_forwards(void **state)
{
	struct fixture *f = *state;

	plan(f, &f->in, req(f, "OPTIONS sip:bob@example.net",
	    VIA_PHONE TO_BOB));
	assert_int_equal(f->p.status, 0);
	assert_int_equal(f->p.max_forwards, 70);
	plan(f, &f->in, req(f, "OPTIONS sip:bob@example.net",
	    VIA_PHONE TO_BOB "Max-Forwards: 0\r\n"));
	assert_int_equal(f->p.status, 483);
	assert_int_equal(f->svc.st.too_many_hops, 1);
}

/* RFC 3261 §16.3 step 5: a proxy extension we do not know: 420. */
static void test_proxy_plan_proxy_require(void **state)
{
	struct fixture *f = *state;

	plan(f, &f->in, req(f, "INVITE sip:bob@example.net",
	    VIA_PHONE TO_BOB "Proxy-Require: foo\r\n"));
	assert_int_equal(f->p.status, 420);
	assert_string_equal(f->p.extra, "Unsupported: foo\r\n");
}

/*
 * RFC 3261 §16.3 step 4: a request carrying our own Via with the branch
 * we would give it now is a loop (482); the same request arriving again
 * with another branch below (a spiral: phone to phone through the PBX)
 * is forwarded.
 */
static void test_proxy_plan_loop_and_spiral(void **state)
{
	struct fixture *f = *state;
	char hdrs[512], branch[64];

	plan(f, &f->in, req(f, "INVITE sip:bob@example.net",
	    VIA_PHONE TO_BOB));
	assert_int_equal(f->p.status, 0);
	snprintf(branch, sizeof(branch), "%s", f->p.branch);
	/* Back with our Via (same branch) above the phone's: a loop. */
	snprintf(hdrs, sizeof(hdrs), "Via: SIP/2.0/UDP 198.18.1.20;branch="
	    "z9hG4bK-pbx2\r\nVia: SIP/2.0/TLS " GW_OUT ";branch=%s\r\n"
	    VIA_PHONE TO_BOB, branch);
	plan(f, &f->in, req(f, "INVITE sip:bob@example.net", hdrs));
	assert_int_equal(f->p.status, 0);	/* its top Via differs: spiral */
	assert_string_not_equal(f->p.branch, branch);
	/* The same top Via as the first time and our Via with the branch
	 * that top Via gives: a loop. */
	snprintf(hdrs, sizeof(hdrs), VIA_PHONE "Via: SIP/2.0/TLS " GW_OUT
	    ";branch=%s\r\n" TO_BOB, branch);
	plan(f, &f->in, req(f, "INVITE sip:bob@example.net", hdrs));
	assert_int_equal(f->p.status, 482);
	assert_int_equal(f->svc.st.loops, 1);
}

/* RFC 3261 §16.4: our Route entries go, the next one is the next hop. */
static void test_proxy_plan_route_stripped(void **state)
{
	struct fixture *f = *state;

	plan(f, &f->in, req(f, "BYE sip:bob@198.18.2.50:5070",
	    VIA_PHONE "To: <sip:bob@example.net>;tag=b1\r\n"
	    "Route: <sip:" GW_IN ":5060;lr>, <sip:" GW_OUT
	    ":5061;transport=tls;lr>\r\n"
	    "Route: <sip:198.18.2.60:5071;transport=tls;lr>\r\n"));
	assert_int_equal(f->p.status, 0);
	assert_int_equal(f->p.routes_popped, 2);
	assert_false(f->p.record_route);	/* in a dialog */
	assert_dest(&f->p.dest, SG_SIDE_OUTSIDE, SG_XPORT_TLS, "198.18.2.60",
		    5071);
}

/* A registered phone's flow token in the Request-URI: to that phone, with
 * the Contact it registered as the Request-URI (RFC 5626 §5.3). */
static void test_proxy_plan_flow_token(void **state)
{
	struct fixture *f = *state;
	struct sg_token t;
	char tok[SG_TOKEN_MAX + 1], line[600];

	memset(&t, 0, sizeof(t));
	t.kind = SG_XPORT_UDP;
	sg_addr_parse("198.18.1.10", 5062, &t.addr);
	strcpy(t.uri, "sip:alice@198.18.1.10:5062");
	assert_true(sg_token_encode(&f->gw.token_key, &t, tok,
		    sizeof(tok)) > 0);
	snprintf(line, sizeof(line), "INVITE sip:%s@" GW_OUT ":5061;"
	    "transport=tls", tok);
	plan(f, &f->out, req(f, line, VIA_PBX TO_BOB));
	assert_int_equal(f->p.status, 0);
	assert_dest(&f->p.dest, SG_SIDE_INSIDE, SG_XPORT_UDP, "198.18.1.10",
		    5062);
	assert_true(f->p.new_ruri);
	assert_string_equal(f->p.ruri, "sip:alice@198.18.1.10:5062");
	assert_true(f->p.record_route);
}

/* A token signed with another key, or naming the side the request came
 * from: 403, counted; never relayed to the address it names. */
static void test_proxy_plan_forged_token(void **state)
{
	struct fixture *f = *state;
	struct sg_token_key other;
	struct sg_token t;
	char tok[SG_TOKEN_MAX + 1], line[600];

	memset(&t, 0, sizeof(t));
	t.kind = SG_XPORT_UDP;
	sg_addr_parse("198.18.1.66", 5060, &t.addr);
	assert_int_equal(sg_token_key_random(&other), 0);
	assert_true(sg_token_encode(&other, &t, tok, sizeof(tok)) > 0);
	snprintf(line, sizeof(line), "INVITE sip:%s@" GW_OUT, tok);
	plan(f, &f->out, req(f, line, VIA_PBX TO_BOB));
	assert_int_equal(f->p.status, 403);
	assert_int_equal(f->svc.st.token_bad, 1);
	/* Well signed, but a flow on the outside, asked for from there. */
	t.kind = SG_XPORT_TLS;
	assert_true(sg_token_encode(&f->gw.token_key, &t, tok,
		    sizeof(tok)) > 0);
	snprintf(line, sizeof(line), "INVITE sip:%s@" GW_OUT, tok);
	plan(f, &f->out, req(f, line, VIA_PBX TO_BOB));
	assert_int_equal(f->p.status, 403);
	assert_int_equal(f->svc.st.token_bad, 2);
}

/* From the outside with no inside connect and no token: 404. */
static void test_proxy_plan_no_route(void **state)
{
	struct fixture *f = *state;

	plan(f, &f->out, req(f, "INVITE sip:carol@example.net", VIA_PBX
	    TO_BOB));
	assert_int_equal(f->p.status, 404);
	assert_false(f->p.quiet);	/* worth a log line */
}

/* Whatever the message says, never to one of our own sockets (482). */
static void test_proxy_plan_never_to_self(void **state)
{
	struct fixture *f = *state;

	f->svc.has_connect[SG_SIDE_INSIDE] = true;
	f->svc.connect_kind[SG_SIDE_INSIDE] = SG_XPORT_UDP;
	sg_addr_parse(GW_IN, 5060, &f->svc.connect_addr[SG_SIDE_INSIDE]);
	plan(f, &f->out, req(f, "INVITE sip:carol@example.net", VIA_PBX
	    TO_BOB));
	assert_int_equal(f->p.status, 482);
	assert_int_equal(f->svc.st.own_socket_refused, 1);
	/* A Route entry pointing at our outside socket is ours: popped, and
	 * the request goes on to the inside connect, here ourselves again. */
	plan(f, &f->out, req(f, "INVITE sip:carol@example.net", VIA_PBX
	    TO_BOB "Route: <sip:" GW_OUT ":5061;transport=tls;lr>\r\n"));
	assert_int_equal(f->p.routes_popped, 1);
	assert_int_equal(f->p.status, 482);
}

/* REGISTER: its Contacts become flow tokens; a dialog-less request. */
static void test_proxy_plan_register(void **state)
{
	struct fixture *f = *state;

	plan(f, &f->in, req(f, "REGISTER sip:example.net", VIA_PHONE
	    "To: <sip:alice@example.net>\r\n"
	    "Contact: <sip:alice@198.18.1.10:5062>\r\n"));
	assert_int_equal(f->p.status, 0);
	assert_true(f->p.contacts);
	assert_false(f->p.record_route);
	assert_dest(&f->p.dest, SG_SIDE_OUTSIDE, SG_XPORT_TLS, PBX, 5061);
}

/* One table of reason phrases. */
static void test_proxy_reason_phrases(void **state)
{
	(void)state;
	assert_string_equal(sg_sip_reason(430), "Flow Failed");
	assert_string_equal(sg_sip_reason(483), "Too Many Hops");
	assert_string_equal(sg_sip_reason(513), "Message Too Large");
	assert_string_equal(sg_sip_reason(100), "Trying");
	assert_string_equal(sg_sip_reason(599), "Server Internal Error");
	assert_string_equal(sg_sip_reason(42), "Unknown");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_proxy_plan_invite_to_connect, setup),
		cmocka_unit_test_setup(test_proxy_plan_max_forwards, setup),
		cmocka_unit_test_setup(test_proxy_plan_proxy_require, setup),
		cmocka_unit_test_setup(test_proxy_plan_loop_and_spiral, setup),
		cmocka_unit_test_setup(test_proxy_plan_route_stripped, setup),
		cmocka_unit_test_setup(test_proxy_plan_flow_token, setup),
		cmocka_unit_test_setup(test_proxy_plan_forged_token, setup),
		cmocka_unit_test_setup(test_proxy_plan_no_route, setup),
		cmocka_unit_test_setup(test_proxy_plan_never_to_self, setup),
		cmocka_unit_test_setup(test_proxy_plan_register, setup),
		cmocka_unit_test(test_proxy_reason_phrases),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
