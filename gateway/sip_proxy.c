/* SPDX-License-Identifier: MIT */
/*
 * sip_proxy.c: an RFC 3261 §16 proxy that carries SIP between a service's
 * inside (plain UDP/TCP) and outside (TLS), stateless except where a
 * crossing has a UDP leg (txn.c holds those transactions; the hooks are
 * the sg_txn_* calls below). It changes only what it must: pushes and
 * pops its Via (RFC 3261 §16.6, §16.7, RFC 3581 rport), double
 * Record-Route (RFC 5658), Max-Forwards (483), loop versus spiral
 * detection by branch (§16.3), and REGISTER Contacts replaced by
 * HMAC-signed flow tokens so that requests from the other side reach the
 * right phone and forged tokens are refused (DESIGN §3).
 */
#include <errno.h>
#include <gnutls/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "gw.h"
#include "log.h"
#include "route.h"
#include "sip_msg.h"
#include "session.h"
#include "sip_proxy.h"
#include "txn.h"

#define OUT_MAX (SG_SIP_MAX_MSG + 8192)

/*
 * Per-loop state (gw->proxy_loop): a message is handled to the end before
 * the loop takes the next, so one scratch of each per loop is enough.
 */
struct sg_proxy_loop {
	struct sg_sip_msg msg;		/* the message being handled */
	char out[OUT_MAX];		/* what we forward */
	char copy[SG_SIP_MAX_MSG + 1];	/* sg_proxy_respond_upstream() */
	char sdp[16384];		/* the rewritten body */
	char callid[256];		/* for the log context */
	bool injecting;			/* forward_response() of our answer */
};

static struct sg_proxy_loop *ploop(const struct sg_svc *svc)
{
	return svc->gw->proxy_loop;
}

struct ob {			/* output builder over a buffer */
	char *p;
	size_t len, cap;
	bool overflow;
};

static void ob_init(struct ob *b, char *p, size_t cap)
{
	b->p = p;
	b->len = 0;
	b->cap = cap;
	b->overflow = false;
}

static void ob_put(struct ob *b, const char *p, size_t len)
{
	if (len == 0)
		return;
	if (b->overflow || b->len + len > b->cap) {
		b->overflow = true;
		return;
	}
	memcpy(b->p + b->len, p, len);
	b->len += len;
}

static void ob_str(struct ob *b, struct sg_str s)
{
	ob_put(b, s.p, s.len);
}

static void ob_cstr(struct ob *b, const char *s)
{
	ob_put(b, s, strlen(s));
}

static void ob_printf(struct ob *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void ob_printf(struct ob *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->overflow)
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= b->cap - b->len)
		b->overflow = true;
	else
		b->len += (size_t)n;
}

static const char *side_name(enum sg_side s)
{
	return s == SG_SIDE_INSIDE ? "inside" : "outside";
}

static const char *xport_via_name(enum sg_xport_kind k)
{
	return k == SG_XPORT_UDP ? "UDP" : k == SG_XPORT_TCP ? "TCP" : "TLS";
}

/* Write "host" or "[v6host]" and ":port" when port != 0. */
static void ob_hostport(struct ob *b, const char *host, uint16_t port)
{
	if (strchr(host, ':'))
		ob_printf(b, "[%s]", host);
	else
		ob_cstr(b, host);
	if (port)
		ob_printf(b, ":%u", port);
}

/*
 * What we advertise on a side: the configured or bound address, else the
 * local address of the connection the message will leave on.
 */
static void adv_addr(struct sg_svc *svc, enum sg_side side,
		     const struct sg_conn *conn, char *host, size_t hostlen,
		     uint16_t *port)
{
	snprintf(host, hostlen, "%s", svc->adv_host[side]);
	*port = svc->adv_port[side];
	if (conn && conn->connected) {
		if (host[0] == '\0')
			sg_addr_host((const struct sockaddr *)&conn->local, host,
			    hostlen);
		if (*port == 0)
			*port = sg_addr_port(
			    (const struct sockaddr *)&conn->local);
	}
	if (host[0] == '\0')
		snprintf(host, hostlen, "invalid.invalid");
}

/* Local replies. */

static void ob_top_via_fixed(struct ob *b, struct sg_str via_elem,
			     const struct sg_src *src);
static void ob_via_line_fixed(struct ob *b, struct sg_str value,
			      const struct sg_src *src);

/*
 * Build our own answer to a request (RFC 3261 §16.3 and §8.2.6): the
 * response copies Via, From, To (with a To tag added above 100), Call-ID
 * and CSeq. Returns its length in out, or 0 when it does not fit.
 */
size_t sg_proxy_build_reply(struct sg_svc *svc, const struct sg_src *src,
			    const struct sg_sip_msg *m, unsigned code,
			    const char *extra, char *out, size_t cap)
{
	struct ob b;
	unsigned i;
	bool first_via = true;

	(void)svc;
	ob_init(&b, out, cap);
	ob_printf(&b, "SIP/2.0 %u %s\r\n", code, sg_sip_reason(code));
	for (i = 0; i < m->nhdrs; i++) {
		const struct sg_sip_hdr *h = &m->hdrs[i];

		switch (h->id) {
		case SG_SIP_HDR_VIA:
			if (first_via) {
				first_via = false;
				ob_via_line_fixed(&b, h->value, src);
				break;
			}
			/* FALLTHROUGH */
		case SG_SIP_HDR_FROM:
		case SG_SIP_HDR_CALL_ID:
		case SG_SIP_HDR_CSEQ:
			ob_str(&b, h->raw);
			break;
		case SG_SIP_HDR_TO: {
			struct sg_sip_naddr na;
			struct sg_str tag;

			ob_cstr(&b, "To: ");
			ob_str(&b, h->value);
			if (code > 100 && sg_sip_naddr_parse(h->value, &na) == 0 &&
			    !sg_sip_param_get(na.params, "tag", &tag))
				ob_printf(&b, ";tag=sg%08x",
				    (unsigned)(m->cseq_num * 2654435761u) ^
				    (unsigned)m->call_id.len);
			ob_cstr(&b, "\r\n");
			break;
		}
		default:
			break;
		}
	}
	if (extra)
		ob_cstr(&b, extra);
	ob_cstr(&b, "Server: sipsgate\r\nContent-Length: 0\r\n\r\n");
	return b.overflow ? 0 : b.len;
}

/* Answer a request ourselves; the answer goes back where it came from. */
void sg_proxy_reply(struct sg_svc *svc, const struct sg_src *src,
		    const struct sg_sip_msg *m, unsigned code,
		    const char *extra)
{
	char obuf[8192];
	struct sg_dest d;
	size_t n;

	if (m->is_request && sg_str_caseeq_lit(m->method, "ACK"))
		return;			/* never answer an ACK */
	/* A call refused here ends now, not at its media timeout. */
	if (svc->sess)
		sg_session_on_local_reply(svc->sess, m, src->side, code);
	if ((n = sg_proxy_build_reply(svc, src, m, code, extra, obuf,
	    sizeof(obuf))) == 0)
		return;
	svc->st.local_replies++;
	memset(&d, 0, sizeof(d));
	d.side = src->side;
	d.kind = src->kind;
	d.addr = src->addr;
	d.conn = src->conn;
	d.no_connect = true;
	if (sg_xport_send(svc, &d, obuf, n) < 0)
		log_debug("%s: could not send %u reply", svc->cfg->name, code);
}

static void reply(struct sg_svc *svc, const struct sg_src *src,
		  const struct sg_sip_msg *m, unsigned code, const char *extra)
{
	sg_proxy_reply(svc, src, m, code, extra);
}

/*
 * Best effort for a message that did not parse: if it looks like a
 * request and carries the headers a response needs, answer 400 (or 413)
 * with the reason; otherwise drop it. Either way the drop is counted.
 */
static void reply_unparsed(struct sg_svc *svc, const struct sg_src *src,
			   const char *buf, size_t len, int rc,
			   const struct sg_perr *err)
{
	static const char *want[] = { "via", "v", "from", "f", "to", "t",
	    "call-id", "i", "cseq" };
	char obuf[4096];
	struct ob b;
	struct sg_dest d;
	bool have[5] = { false };
	const char *p = buf, *end = buf + len, *eol;
	char a[64];
	unsigned code = rc == -EMSGSIZE ? 413 : 400;
	unsigned i;

	log_info("%s: malformed message from %s %s: %s (line %u)",
	    svc->cfg->name, side_name(src->side),
	    sg_addr_str((const struct sockaddr *)&src->addr, a, sizeof(a)),
	    err->reason ? err->reason : "unparseable", err->line);
	if (len < 8 || memcmp(buf, "SIP/", 4) == 0 || memcmp(buf, "ACK ", 4) == 0)
		return;
	/*
	 * NUL bytes elsewhere (a header we do not need, the body) do not
	 * stop a 400; the start line must look like a request's and what we
	 * copy must be clean, or it is binary junk: nothing to answer.
	 */
	if ((eol = memchr(p, '\n', (size_t)(end - p))) == NULL ||
	    memchr(p, '\0', (size_t)(eol - p)) != NULL ||
	    memmem(p, (size_t)(eol - p), " SIP/", 5) == NULL)
		return;
	ob_init(&b, obuf, sizeof(obuf));
	ob_printf(&b, "SIP/2.0 %u %s\r\n", code, sg_sip_reason(code));
	/* Skip the start line, then copy the headers a response needs. */
	for (p = eol + 1; p < end; p = eol + 1) {
		const char *colon;
		size_t nl;

		if ((eol = memchr(p, '\n', (size_t)(end - p))) == NULL)
			break;
		if (eol == p || (eol == p + 1 && *p == '\r'))
			break;		/* end of headers */
		if ((colon = memchr(p, ':', (size_t)(eol - p))) == NULL)
			continue;
		nl = (size_t)(colon - p);
		while (nl > 0 && (p[nl - 1] == ' ' || p[nl - 1] == '\t'))
			nl--;
		for (i = 0; i < SG_ARRAY_SIZE(want); i++) {
			if (strlen(want[i]) == nl &&
			    strncasecmp(p, want[i], nl) == 0) {
				size_t k = i < 8 ? i / 2 : 4;

				if (memchr(p, '\0', (size_t)(eol - p)) != NULL)
					return;	/* cannot copy it cleanly */

				have[k] = true;
				ob_put(&b, p, (size_t)(eol - p) + 1);
				if (eol[-1] != '\r') {
					b.len--;
					ob_cstr(&b, "\r\n");
				}
			}
		}
	}
	for (i = 0; i < SG_ARRAY_SIZE(have); i++)
		if (!have[i])
			return;		/* cannot build a valid response */
	ob_printf(&b, "Warning: 399 sipsgate \"%s\"\r\n",
	    err->reason ? err->reason : "malformed");
	ob_cstr(&b, "Server: sipsgate\r\nContent-Length: 0\r\n\r\n");
	if (b.overflow)
		return;
	svc->st.local_replies++;
	memset(&d, 0, sizeof(d));
	d.side = src->side;
	d.kind = src->kind;
	d.addr = src->addr;
	d.conn = src->conn;
	d.no_connect = true;
	sg_xport_send(svc, &d, b.p, b.len);
}

/* Our identity: route.c knows every address, port and name we have. */

static bool uri_is_ours(struct sg_svc *svc, struct sg_str uri)
{
	return sg_route_uri_is_self(svc, uri);
}

/*
 * Turn a SIP URI into a destination on a side: TLS on the outside, UDP or
 * TCP (transport=tcp) inside. Hosts must be literal addresses or the
 * host of that side's `connect`.
 */
static int uri_to_dest(struct sg_svc *svc, enum sg_side side,
		       struct sg_str uri, struct sg_dest *d)
{
	struct sg_sip_uri u;
	struct sg_str tp;
	char host[256];
	uint16_t port;
	unsigned i;

	memset(d, 0, sizeof(*d));
	d->side = side;
	if (sg_sip_uri_parse(uri, &u) < 0 || u.host.len >= sizeof(host))
		return -EINVAL;
	if (side == SG_SIDE_OUTSIDE) {
		d->kind = SG_XPORT_TLS;
	} else {
		d->kind = SG_XPORT_UDP;
		if (sg_sip_param_get(u.params, "transport", &tp) &&
		    sg_str_caseeq_lit(tp, "tcp"))
			d->kind = SG_XPORT_TCP;
		else if (svc->inside_kind == SG_XPORT_TCP)
			d->kind = SG_XPORT_TCP;
	}
	port = u.port ? u.port : sg_xport_default_port(d->kind);
	memcpy(host, u.host.p, u.host.len);
	host[u.host.len] = '\0';
	if (sg_addr_parse(host, port, &d->addr) == 0)
		return 0;
	for (i = 0; i < svc->cfg->nconnect; i++) {
		const struct sg_cfg_endpoint *ep = &svc->cfg->connect[i];

		if (strcasecmp(ep->host, host) == 0 &&
		    (ep->kind == SG_XPORT_TLS) == (side == SG_SIDE_OUTSIDE)) {
			d->addr = svc->connect_addr[side];
			return 0;
		}
	}
	return -EHOSTUNREACH;
}

/* Via handling. */

/*
 * RFC 3261 §18.2.1 and RFC 3581: write the received top Via element with
 * received= when the source differs from sent-by and rport filled in.
 */
static void ob_top_via_fixed(struct ob *b, struct sg_str elem,
			     const struct sg_src *src)
{
	struct sg_sip_via v;
	struct sg_str params, val;
	char h[64];
	const char *p, *end;

	if (sg_sip_via_parse(elem, &v) < 0) {
		ob_str(b, elem);
		return;
	}
	sg_addr_host((const struct sockaddr *)&src->addr, h, sizeof(h));
	params = v.params;
	/* Copy up to the params, then each param with rport filled. */
	ob_put(b, elem.p, (size_t)(params.p ? params.p - elem.p : (ptrdiff_t)elem.len));
	if (params.p == NULL || params.len == 0)
		params = SG_STR_NULL;
	p = params.p;
	end = params.p ? params.p + params.len : NULL;
	while (p && p < end) {
		const char *q = p + 1, *stop;
		size_t n;

		stop = memchr(q, ';', (size_t)(end - q));
		if (stop == NULL)
			stop = end;
		n = (size_t)(stop - p);
		/* Drop received/rport; they are rewritten below. */
		{
			struct sg_str one = sg_str_trim(sg_str_make(q, (size_t)(stop - q)));
			const char *eq = memchr(one.p, '=', one.len);
			struct sg_str name = sg_str_trim(sg_str_make(one.p,
			    eq ? (size_t)(eq - one.p) : one.len));

			if (!sg_str_caseeq_lit(name, "received") &&
			    !sg_str_caseeq_lit(name, "rport"))
				ob_put(b, p, n);
		}
		p = stop;
	}
	if (sg_sip_param_get(v.params, "rport", &val))
		ob_printf(b, ";rport=%u",
		    sg_addr_port((const struct sockaddr *)&src->addr));
	if (!sg_str_caseeq_lit(v.host, h) || sg_sip_param_get(v.params,
	    "rport", &val))
		ob_printf(b, ";received=%s", h);
}

/* Write a whole Via header line whose first element gets received/rport. */
static void ob_via_line_fixed(struct ob *b, struct sg_str value,
			      const struct sg_src *src)
{
	struct sg_str rest = value, elem;

	if (!sg_sip_list_next(&rest, &elem))
		return;
	ob_cstr(b, "Via: ");
	ob_top_via_fixed(b, elem, src);
	while (sg_sip_list_next(&rest, &elem)) {
		ob_cstr(b, ", ");
		ob_str(b, elem);
	}
	ob_cstr(b, "\r\n");
}

static void branch_hash(struct sg_svc *svc, const struct sg_sip_msg *m,
			const struct sg_src *src, char out[17])
{
	static const char hex[] = "0123456789abcdef";
	const struct sg_sip_hdr *vh = sg_sip_hdr_find(m, SG_SIP_HDR_VIA);
	struct sg_str rest, top = SG_STR_NULL;
	struct sg_sip_via v;
	gnutls_hmac_hd_t h;
	uint8_t d[32];
	char side = src->side == SG_SIDE_INSIDE ? 'i' : 'o';
	unsigned i;

	if (vh) {
		rest = vh->value;
		sg_sip_list_next(&rest, &top);
	}
	if (gnutls_hmac_init(&h, GNUTLS_MAC_SHA256, svc->gw->token_key.k,
	    sizeof(svc->gw->token_key.k)) < 0) {
		memset(out, '0', 16);
		out[16] = '\0';
		return;
	}
	gnutls_hmac(h, &side, 1);
	if (top.len && sg_sip_via_parse(top, &v) == 0 && v.branch.len > 7 &&
	    memcmp(v.branch.p, SG_BRANCH_MAGIC, 7) == 0) {
		/* RFC 3261 §16.11: derive from the incoming branch. */
		gnutls_hmac(h, v.branch.p, v.branch.len);
		gnutls_hmac(h, v.host.p, v.host.len);
		gnutls_hmac(h, &v.port, sizeof(v.port));
	} else {
		/* RFC 2543 peers: the fields that identify the transaction. */
		const struct sg_sip_hdr *f = sg_sip_hdr_find(m, SG_SIP_HDR_FROM);
		const struct sg_sip_hdr *t = sg_sip_hdr_find(m, SG_SIP_HDR_TO);

		gnutls_hmac(h, m->ruri.p, m->ruri.len);
		gnutls_hmac(h, m->call_id.p, m->call_id.len);
		gnutls_hmac(h, &m->cseq_num, sizeof(m->cseq_num));
		if (f)
			gnutls_hmac(h, f->value.p, f->value.len);
		if (t)
			gnutls_hmac(h, t->value.p, t->value.len);
		gnutls_hmac(h, top.p, top.len);
	}
	gnutls_hmac_deinit(h, d);
	for (i = 0; i < 8; i++) {
		out[2 * i] = hex[d[i] >> 4];
		out[2 * i + 1] = hex[d[i] & 15];
	}
	out[16] = '\0';
}

/* RFC 3261 §16.3 step 4: our Via with the branch we would use = loop. */
static bool is_loop(const struct sg_sip_msg *m, const char *branch)
{
	unsigned i;

	for (i = 0; i < m->nhdrs; i++) {
		struct sg_str rest, elem;
		struct sg_sip_via v;

		if (m->hdrs[i].id != SG_SIP_HDR_VIA)
			continue;
		rest = m->hdrs[i].value;
		while (sg_sip_list_next(&rest, &elem))
			if (sg_sip_via_parse(elem, &v) == 0 &&
			    v.branch.len == strlen(branch) &&
			    memcmp(v.branch.p, branch, v.branch.len) == 0)
				return true;
	}
	return false;
}

/* RFC 5923: remember that this TLS connection reaches the Via's sent-by. */
static void learn_alias(struct sg_svc *svc, const struct sg_sip_msg *m,
			const struct sg_src *src)
{
	const struct sg_sip_hdr *vh = sg_sip_hdr_find(m, SG_SIP_HDR_VIA);
	struct sg_str rest, top, val;
	struct sg_sip_via v;
	struct sockaddr_storage a;
	char host[64];

	if (src->conn == NULL || vh == NULL)
		return;
	rest = vh->value;
	if (!sg_sip_list_next(&rest, &top) || sg_sip_via_parse(top, &v) < 0 ||
	    !sg_sip_param_get(v.params, "alias", &val) ||
	    v.host.len >= sizeof(host))
		return;
	memcpy(host, v.host.p, v.host.len);
	host[v.host.len] = '\0';
	if (sg_addr_parse(host, v.port ? v.port : SG_SIPS_PORT, &a) < 0)
		return;
	/* Only an alias on the address the connection comes from. */
	sg_addr_host((const struct sockaddr *)&src->addr, host, sizeof(host));
	if (!sg_str_caseeq_lit(v.host, host))
		return;
	if (!sg_addr_eq((const struct sockaddr *)&src->conn->alias,
	    (const struct sockaddr *)&a))
		log_debug("%s: connection %llu is an alias for port %u",
		    svc->cfg->name, (unsigned long long)src->conn->id,
		    sg_addr_port((const struct sockaddr *)&a));
	src->conn->alias = a;
}

/* Contacts and flow tokens. */

static bool is_register(const struct sg_sip_msg *m)
{
	return sg_str_caseeq_lit(m->is_request ? m->method : m->cseq_method,
	    "REGISTER");
}

static void flow_token_for(struct sg_svc *svc, enum sg_side side,
			   enum sg_xport_kind kind,
			   const struct sockaddr_storage *addr,
			   const struct sg_conn *conn, struct sg_token *t);

/*
 * Replace one Contact element's URI by a flow token URI on side `to`,
 * keeping display name and header parameters (expires, q, +sip.instance).
 */
static int ob_contact_token(struct sg_svc *svc, struct ob *b,
			    struct sg_str elem, const struct sg_src *src,
			    enum sg_side to, const struct sg_conn *out_conn)
{
	struct sg_sip_naddr na;
	struct sg_token t;
	char tok[SG_TOKEN_MAX + 1];
	char host[256];
	uint16_t port;
	int rc;

	if (sg_sip_naddr_parse(elem, &na) < 0 || na.uri.len > SG_TOKEN_MAX_URI)
		return -EINVAL;
	if (na.uri.len == 1 && na.uri.p[0] == '*') {
		ob_str(b, elem);
		return 0;
	}
	flow_token_for(svc, src->side, src->kind, &src->addr, src->conn, &t);
	memcpy(t.uri, na.uri.p, na.uri.len);
	t.uri[na.uri.len] = '\0';
	if ((rc = sg_token_encode(&svc->gw->token_key, &t, tok,
	    sizeof(tok))) < 0)
		return rc;
	adv_addr(svc, to, out_conn, host, sizeof(host), &port);
	if (na.display.len) {
		ob_str(b, na.display);
		ob_cstr(b, " ");
	}
	ob_printf(b, "<sip:%s@", tok);
	ob_hostport(b, host, port);
	if (to == SG_SIDE_OUTSIDE)
		ob_cstr(b, ";transport=tls");
	else if (svc->inside_kind == SG_XPORT_TCP)
		ob_cstr(b, ";transport=tcp");
	ob_cstr(b, ">");
	ob_str(b, na.params);
	return 0;
}

/*
 * In a REGISTER response toward d: is this Contact the binding of the
 * flow the response goes back on, i.e. a flow token of ours naming d's
 * transport and address? Every other one (another phone's token, a
 * binding the registrar holds from elsewhere, an inside or outside
 * address) is not the phone's business and is removed (issue 7).
 */
static bool contact_is_own(struct sg_svc *svc, struct sg_str elem,
			   const struct sg_dest *d)
{
	struct sg_sip_naddr na;
	struct sg_sip_uri u;
	struct sg_token t;

	if (sg_sip_naddr_parse(elem, &na) < 0 ||
	    sg_sip_uri_parse(na.uri, &u) < 0 || !sg_token_is_token(u.user) ||
	    sg_token_decode(&svc->gw->token_key, u.user, &t) < 0 ||
	    t.kind != d->kind)
		return false;
	/* A TLS flow is named by the peer's identity, not its address
	 * (flow_token_for): the connection the response leaves on must be
	 * that peer's. */
	if (t.flags & SG_TOKEN_F_PEER_ID)
		return d->conn != NULL && d->conn->info.has_peer_id &&
		    memcmp(d->conn->info.peer_id, t.id, SG_TOKEN_ID_LEN) == 0;
	return sg_addr_eq((const struct sockaddr *)&t.addr,
	    (const struct sockaddr *)&d->addr);
}

/* In a REGISTER response: give the phone back the Contact it sent. */
static void ob_contact_untoken(struct sg_svc *svc, struct ob *b,
			       struct sg_str elem)
{
	struct sg_sip_naddr na;
	struct sg_sip_uri u;
	struct sg_token t;

	if (sg_sip_naddr_parse(elem, &na) == 0 &&
	    sg_sip_uri_parse(na.uri, &u) == 0 && sg_token_is_token(u.user) &&
	    sg_token_decode(&svc->gw->token_key, u.user, &t) == 0) {
		if (na.display.len) {
			ob_str(b, na.display);
			ob_cstr(b, " ");
		}
		ob_printf(b, "<%s>", t.uri);
		ob_str(b, na.params);
		return;
	}
	ob_str(b, elem);
}

/* Requests. */

static bool creates_dialog(const struct sg_sip_msg *m)
{
	const struct sg_sip_hdr *to = sg_sip_hdr_find(m, SG_SIP_HDR_TO);
	struct sg_sip_naddr na;
	struct sg_str tag;

	if (to && sg_sip_naddr_parse(to->value, &na) == 0 &&
	    sg_sip_param_get(na.params, "tag", &tag))
		return false;
	return sg_str_caseeq_lit(m->method, "INVITE") ||
	    sg_str_caseeq_lit(m->method, "SUBSCRIBE") ||
	    sg_str_caseeq_lit(m->method, "REFER") ||
	    sg_str_caseeq_lit(m->method, "NOTIFY");
}

/* Is the request inside a dialog (RFC 3261 §12.2: a To tag)? */
static bool in_dialog(const struct sg_sip_msg *m)
{
	const struct sg_sip_hdr *to = sg_sip_hdr_find(m, SG_SIP_HDR_TO);
	struct sg_sip_naddr na;
	struct sg_str tag;

	return to && sg_sip_naddr_parse(to->value, &na) == 0 &&
	    sg_sip_param_get(na.params, "tag", &tag);
}

/*
 * The flow token for a flow on a side (RFC 5626 §5.3): the transport and
 * address; for TLS the peer's proven identity (its SPKI hash) instead of
 * the address, so that the token outlives the connection (reconnection,
 * NAT rebinding) and stays the same; and whether the flow is the side's
 * `connect` target, which is reached however it is reached now.
 */
static void flow_token_for(struct sg_svc *svc, enum sg_side side,
			   enum sg_xport_kind kind,
			   const struct sockaddr_storage *addr,
			   const struct sg_conn *conn, struct sg_token *t)
{
	memset(t, 0, sizeof(*t));
	t->kind = kind;
	t->addr = *addr;
	if (svc->has_connect[side] && ((side == SG_SIDE_OUTSIDE && conn &&
	    conn == svc->link) || (conn == NULL && sg_addr_eq(
	    (const struct sockaddr *)addr,
	    (const struct sockaddr *)&svc->connect_addr[side]))))
		t->flags |= SG_TOKEN_F_LINK;
	if (kind == SG_XPORT_TLS && conn && conn->ready &&
	    conn->info.has_peer_id) {
		t->flags |= SG_TOKEN_F_PEER_ID;
		memcpy(t->id, conn->info.peer_id, SG_TOKEN_ID_LEN);
		/* The address is no part of the flow's name any more. */
		memset(&t->addr, 0, sizeof(t->addr));
		t->addr.ss_family = addr->ss_family ? addr->ss_family : AF_INET;
	}
}

/*
 * Where the flow a token names is now. A TLS flow goes over the live
 * connection of the peer identity it names (the one heard from last), or
 * the side's connect target; never to another peer that happens to share
 * the address. With contact_fallback (a REGISTER Contact token), a TLS flow
 * that is gone is reached at the Contact the token replaced. Returns 0, or
 * a SIP status code with *why.
 */
static unsigned flow_dest(struct sg_svc *svc, enum sg_side to,
			  const struct sg_token *t, bool contact_fallback,
			  struct sg_dest *d, const char **why)
{
	struct sg_conn *c = NULL;

	memset(d, 0, sizeof(*d));
	d->side = to;
	d->kind = t->kind;
	d->addr = t->addr;
	if (sg_token_side(t) != to) {
		svc->st.token_bad++;
		*why = "flow token for the side the request came from";
		return 403;
	}
	if ((t->flags & SG_TOKEN_F_LINK) && svc->has_connect[to] &&
	    svc->connect_kind[to] == t->kind) {
		d->addr = svc->connect_addr[to];
		if (to == SG_SIDE_OUTSIDE)
			d->conn = svc->link;
		return 0;
	}
	if (t->kind == SG_XPORT_UDP)
		return 0;
	if (t->flags & SG_TOKEN_F_PEER_ID)
		c = sg_xport_find_conn_peer_id(svc, to, t->id);
	else
		c = sg_xport_find_conn(svc, to,
		    (const struct sockaddr *)&t->addr);
	if (c) {
		d->conn = c;
		d->addr = c->peer;
		return 0;
	}
	if (t->kind == SG_XPORT_TCP) {
		if (contact_fallback)	/* a registered flow that is gone */
			svc->st.token_bad++;
		*why = "the phone's TCP connection is gone";
		return 430;	/* RFC 5626 §5.3 Flow Failed */
	}
	/* TLS flow gone: reach the Contact it replaced instead. */
	if (contact_fallback && t->uri[0] && uri_to_dest(svc, to,
	    sg_str_make(t->uri, strlen(t->uri)), d) == 0)
		return 0;
	*why = "the flow is gone and cannot be reached another way";
	return 430;
}

/*
 * RFC 3261 §16.4: remove every leading Route entry that names us, across
 * header rows and comma lists (a UA may repeat our entries: linphone copies
 * the last Record-Route value twice). Counts them in rp->routes_popped,
 * keeps the flow token that one of them carries for the side `to`, and
 * returns the first entry that is not ours in *next (false when none).
 * A forged token in an entry naming us is a 403 in *code.
 */
static bool strip_own_routes(struct sg_svc *svc, const struct sg_sip_msg *m,
			     enum sg_side to, struct sg_proxy_plan *rp,
			     struct sg_str *next, unsigned *code,
			     const char **why)
{
	struct sg_sip_naddr na;
	struct sg_sip_uri u;
	struct sg_token t;
	unsigned i;
	int rc;

	*code = 0;
	for (i = 0; i < m->nhdrs; i++) {
		struct sg_str rest, elem;

		if (m->hdrs[i].id != SG_SIP_HDR_ROUTE)
			continue;
		rest = m->hdrs[i].value;
		while (sg_sip_list_next(&rest, &elem)) {
			if (sg_sip_naddr_parse(elem, &na) < 0 ||
			    sg_sip_uri_parse(na.uri, &u) < 0 ||
			    !sg_route_host_is_self(svc, u.host, u.port)) {
				*next = elem;
				return true;
			}
			rp->routes_popped++;
			if (!sg_token_is_token(u.user))
				continue;	/* an entry without a token */
			rc = sg_token_decode(&svc->gw->token_key, u.user, &t);
			if (rc < 0) {
				svc->st.token_bad++;
				*why = rc == -EPERM ? "forged flow token in"
				    " Route" : "malformed flow token in Route";
				*code = 403;
				return false;
			}
			if (!rp->has_rr_flow && sg_token_side(&t) == to) {
				rp->rr_flow = t;
				rp->has_rr_flow = true;
			}
		}
	}
	return false;
}

/*
 * RFC 5626 §5.3 for the next hop of a route set: the element after our
 * entries is the one at the other end of the connection our entry's token
 * names (the route set was built over it). While that TLS or TCP flow is up,
 * use it: a peer behind NAT cannot be reached at the address its own
 * Record-Route entry shows. Returns false when there is no such live flow.
 */
static bool live_flow(struct sg_svc *svc, enum sg_side to,
		      const struct sg_token *t, struct sg_dest *d)
{
	struct sg_conn *c;

	if (t->kind == SG_XPORT_UDP || sg_token_side(t) != to)
		return false;
	if ((t->flags & SG_TOKEN_F_LINK) && to == SG_SIDE_OUTSIDE &&
	    svc->link && svc->link->ready)
		c = svc->link;
	else if (t->flags & SG_TOKEN_F_PEER_ID)
		c = sg_xport_find_conn_peer_id(svc, to, t->id);
	else
		c = sg_xport_find_conn(svc, to,
		    (const struct sockaddr *)&t->addr);
	if (c == NULL || !c->ready)
		return false;
	memset(d, 0, sizeof(*d));
	d->side = to;
	d->kind = c->kind;
	d->addr = c->peer;
	d->conn = c;
	return true;
}

/* The side's `connect`, the next hop for requests without a better one. */
static void connect_dest(struct sg_svc *svc, enum sg_side to,
			 struct sg_dest *d)
{
	memset(d, 0, sizeof(*d));
	d->side = to;
	d->kind = svc->connect_kind[to];
	d->addr = svc->connect_addr[to];
	if (to == SG_SIDE_OUTSIDE)
		d->conn = svc->link;
}

/*
 * Decide where a request goes (RFC 3261 §16.4-16.6 for a proxy with two
 * sides; docs/signalling.md "Where a request goes"):
 *   1. remove the leading Route entries naming us; another Route entry
 *      left: there;
 *   2. our flow token in the Request-URI (a registered Contact): that flow;
 *   3. in a dialog (To tag) that we record-routed: the flow token of our
 *      Record-Route entry for the other side (any remote target: GRUU,
 *      names, addresses behind NAT), else the Request-URI when we can reach
 *      it, else the connect;
 *   4. else (dialog-initiating and other requests, a preloaded Route naming
 *      only us included) the other side's `connect`; without one, the
 *      Request-URI when a Route named us, else 404.
 * Returns 0, or a SIP status code to answer with.
 */
static unsigned plan_route(struct sg_svc *svc, const struct sg_sip_msg *m,
			   const struct sg_src *src, struct sg_proxy_plan *rp,
			   const char **why)
{
	enum sg_side to = src->side == SG_SIDE_INSIDE ? SG_SIDE_OUTSIDE :
	    SG_SIDE_INSIDE;
	struct sg_str elem;
	struct sg_sip_naddr na;
	struct sg_sip_uri ru;
	unsigned code;

	rp->record_route = creates_dialog(m);
	if (strip_own_routes(svc, m, to, rp, &elem, &code, why)) {
		/* Loose routing to the next proxy on the other side. */
		if (rp->has_rr_flow && live_flow(svc, to, &rp->rr_flow,
		    &rp->dest))
			return 0;
		if (sg_sip_naddr_parse(elem, &na) < 0 ||
		    uri_to_dest(svc, to, na.uri, &rp->dest) < 0) {
			*why = "cannot route to the next Route entry";
			return 404;
		}
		return 0;
	}
	if (code)
		return code;
	if (sg_sip_uri_parse(m->ruri, &ru) < 0) {
		*why = "bad Request-URI";
		return 400;
	}
	if (sg_token_is_token(ru.user)) {
		struct sg_token t;
		int rc;

		rc = sg_token_decode(&svc->gw->token_key, ru.user, &t);
		if (rc < 0) {
			svc->st.token_bad++;
			*why = rc == -EPERM ? "forged flow token" :
			    "malformed flow token";
			return 403;
		}
		if (t.uri[0]) {
			rp->new_ruri = true;
			snprintf(rp->ruri, sizeof(rp->ruri), "%s", t.uri);
		}
		return flow_dest(svc, to, &t, true, &rp->dest, why);
	}
	if (rp->routes_popped > 0 && in_dialog(m)) {
		if (rp->has_rr_flow) {
			code = flow_dest(svc, to, &rp->rr_flow, false,
			    &rp->dest, why);
			/* A connection that is gone: the remote target. */
			if (code == 430 && uri_to_dest(svc, to, m->ruri,
			    &rp->dest) == 0)
				return 0;
			return code;
		}
		/* Our entries without a token (an older gateway's). */
		if (uri_to_dest(svc, to, m->ruri, &rp->dest) == 0)
			return 0;
		if (svc->has_connect[to]) {
			connect_dest(svc, to, &rp->dest);
			return 0;
		}
		*why = "cannot reach the Request-URI";
		return 404;
	}
	if (svc->has_connect[to]) {
		connect_dest(svc, to, &rp->dest);
		return 0;
	}
	if (rp->routes_popped > 0 && !uri_is_ours(svc, m->ruri)) {
		if (uri_to_dest(svc, to, m->ruri, &rp->dest) < 0) {
			*why = "cannot reach the Request-URI";
			return 404;
		}
		return 0;
	}
	*why = to == SG_SIDE_INSIDE ? "no route on the inside for this"
	    " Request-URI" : "no connect on that side and no flow token";
	return 404;
}

/*
 * plan_route(), then the loop guard: whatever the message said, a request
 * is never sent to one of our own sockets (482, counted).
 */
static unsigned plan_request(struct sg_svc *svc, const struct sg_sip_msg *m,
			     const struct sg_src *src, struct sg_proxy_plan *rp,
			     const char **why)
{
	unsigned code = plan_route(svc, m, src, rp, why);

	if (code != 0)
		return code;
	if ((rp->dest.conn == NULL || rp->dest.conn->outbound) &&
	    sg_route_dest_is_self(svc, &rp->dest)) {
		svc->st.own_socket_refused++;
		svc->st.loops++;
		*why = "the next hop is one of this gateway's own sockets";
		return 482;
	}
	return 0;
}

/*
 * One Record-Route row naming us on a side (RFC 5658: one per side, each
 * its own header row), with the flow token of the flow on that side in its
 * user part (RFC 5626 §5.3), so the route set itself names the flow.
 */
static void ob_record_route(struct sg_svc *svc, struct ob *b,
			    enum sg_side side, const struct sg_conn *adv_conn,
			    enum sg_xport_kind kind, const struct sg_token *flow)
{
	char host[256], tok[SG_TOKEN_MAX + 1];
	uint16_t port;

	adv_addr(svc, side, adv_conn, host, sizeof(host), &port);
	ob_cstr(b, "Record-Route: <sip:");
	if (flow && sg_token_encode(&svc->gw->token_key, flow, tok,
	    sizeof(tok)) > 0)
		ob_printf(b, "%s@", tok);
	ob_hostport(b, host, port);
	if (side == SG_SIDE_OUTSIDE)
		ob_cstr(b, ";transport=tls");
	else if (kind == SG_XPORT_TCP)
		ob_cstr(b, ";transport=tcp");
	ob_cstr(b, ";lr>\r\n");
}

/* Our two rows: the side the request leaves on on top (RFC 5658). */
static void ob_record_routes(struct sg_svc *svc, struct ob *b,
			     const struct sg_src *src,
			     const struct sg_proxy_plan *rp,
			     const struct sg_conn *oc)
{
	struct sg_token out, in;

	flow_token_for(svc, rp->dest.side, rp->dest.kind, &rp->dest.addr, oc,
	    &out);
	flow_token_for(svc, src->side, src->kind, &src->addr, src->conn, &in);
	ob_record_route(svc, b, rp->dest.side, oc, rp->dest.kind, &out);
	ob_record_route(svc, b, src->side, src->conn, src->kind, &in);
}

/*
 * Our Via row (RFC 3261 §16.6 step 8), with the RFC 5923 alias on TLS and,
 * since we keep no state, the connection the request came on (sgc=): the
 * response goes back on it (RFC 3261 §18.2.2).
 */
static void ob_our_via(struct sg_svc *svc, struct ob *b,
		       const struct sg_src *src, const struct sg_proxy_plan *rp,
		       const struct sg_conn *oc, const char *branch)
{
	char host[256];
	uint16_t port;

	adv_addr(svc, rp->dest.side, oc, host, sizeof(host), &port);
	ob_printf(b, "Via: SIP/2.0/%s ", xport_via_name(rp->dest.kind));
	ob_hostport(b, host, port);
	ob_printf(b, ";branch=%s;rport%s", branch,
	    rp->dest.kind == SG_XPORT_TLS && svc->adv_port[SG_SIDE_OUTSIDE] ?
	    ";alias" : "");
	if (src->conn)
		ob_printf(b, ";sgc=%llu", (unsigned long long)src->conn->id);
	ob_cstr(b, "\r\n");
}

void sg_proxy_plan_request(struct sg_svc *svc, const struct sg_src *src,
			   const struct sg_sip_msg *m, struct sg_proxy_plan *p)
{
	const struct sg_sip_hdr *pr;
	char hash[17];

	memset(p, 0, sizeof(*p));
	p->quiet = true;
	if (m->max_forwards == 0) {
		svc->st.too_many_hops++;
		p->status = 483;
		p->why = "Max-Forwards is 0";
		return;
	}
	if ((pr = sg_sip_hdr_find(m, SG_SIP_HDR_PROXY_REQUIRE)) != NULL) {
		/* RFC 3261 §16.3 step 5: we support no proxy extensions. */
		snprintf(p->extra, sizeof(p->extra), "Unsupported: %.*s\r\n",
		    (int)SG_MIN(pr->value.len, 400), pr->value.p);
		p->status = 420;
		p->why = "Proxy-Require names an extension";
		return;
	}
	branch_hash(svc, m, src, hash);
	snprintf(p->branch, sizeof(p->branch), "%s%c%s", SG_BRANCH_TAG,
	    src->side == SG_SIDE_INSIDE ? 'i' : 'o', hash);
	if (is_loop(m, p->branch)) {
		svc->st.loops++;
		p->status = 482;
		p->why = "our own Via with this branch: a loop";
		return;
	}
	p->quiet = false;
	if ((p->status = plan_request(svc, m, src, p, &p->why)) != 0)
		return;
	p->max_forwards = m->max_forwards < 0 ? 70 : m->max_forwards - 1;
	p->contacts = is_register(m);
}

/*
 * Write request m as plan p says into b: our Via, our Record-Route rows,
 * the Route entries that named us gone, Max-Forwards, REGISTER Contacts as
 * flow tokens, body (or none: strip) and Content-Length. oc is the
 * connection it will leave on (for our addresses), or NULL. Returns 0, or
 * the status to answer with (400: a Contact that cannot become a token).
 */
static unsigned build_request(struct sg_svc *svc, const struct sg_src *src,
			      const struct sg_sip_msg *m,
			      const struct sg_proxy_plan *p,
			      const struct sg_conn *oc, struct sg_str body,
			      bool strip, struct ob *b)
{
	unsigned i, routes_left = p->routes_popped;
	int first_rr = m->first[SG_SIP_HDR_RECORD_ROUTE], last_via = -1;
	bool first_via = true, has_mf = false;

	/* Request line. */
	ob_str(b, m->method);
	ob_cstr(b, " ");
	if (p->new_ruri)
		ob_cstr(b, p->ruri);
	else
		ob_str(b, m->ruri);
	ob_cstr(b, " SIP/2.0\r\n");
	/*
	 * Rows of one header name stay together (a UA copies the contiguous
	 * Via block into its responses): our Via right above the first Via
	 * row, our Record-Route rows right above the first Record-Route row,
	 * or after the last Via row when there is none.
	 */
	for (i = 0; i < m->nhdrs; i++)
		if (m->hdrs[i].id == SG_SIP_HDR_VIA)
			last_via = (int)i;
	for (i = 0; i < m->nhdrs; i++) {
		const struct sg_sip_hdr *h = &m->hdrs[i];
		struct sg_str rest, elem;
		bool any;

		if (p->record_route && (int)i == first_rr)
			ob_record_routes(svc, b, src, p, oc);
		switch (h->id) {
		case SG_SIP_HDR_VIA:
			if (!first_via) {
				ob_str(b, h->raw);
				break;
			}
			first_via = false;
			ob_our_via(svc, b, src, p, oc, p->branch);
			ob_via_line_fixed(b, h->value, src);
			break;
		case SG_SIP_HDR_ROUTE:
			if (routes_left == 0) {
				ob_str(b, h->raw);
				break;
			}
			rest = h->value;
			any = false;
			while (sg_sip_list_next(&rest, &elem)) {
				if (routes_left > 0) {
					routes_left--;
					continue;
				}
				ob_cstr(b, any ? ", " : "Route: ");
				ob_str(b, elem);
				any = true;
			}
			if (any)
				ob_cstr(b, "\r\n");
			break;
		case SG_SIP_HDR_MAX_FORWARDS:
			if (!has_mf)
				ob_printf(b, "Max-Forwards: %d\r\n",
				    p->max_forwards);
			has_mf = true;
			break;
		case SG_SIP_HDR_CONTACT:
			if (!p->contacts) {
				ob_str(b, h->raw);
				break;
			}
			rest = h->value;
			any = false;
			while (sg_sip_list_next(&rest, &elem)) {
				ob_cstr(b, any ? ", " : "Contact: ");
				if (ob_contact_token(svc, b, elem, src,
				    p->dest.side, oc) < 0)
					return 400;
				any = true;
			}
			ob_cstr(b, "\r\n");
			break;
		case SG_SIP_HDR_CONTENT_LENGTH:
			break;		/* written below, from the body */
		case SG_SIP_HDR_CONTENT_TYPE:
			if (!strip)
				ob_str(b, h->raw);
			break;
		default:
			ob_str(b, h->raw);
			break;
		}
		if (p->record_route && first_rr < 0 && (int)i == last_via)
			ob_record_routes(svc, b, src, p, oc);
	}
	if (!has_mf)
		ob_printf(b, "Max-Forwards: %d\r\n", p->max_forwards);
	ob_printf(b, "Content-Length: %zu\r\n\r\n", body.len);
	ob_str(b, body);
	return 0;
}

/*
 * A request: the transaction layer first (retransmissions, ACK for our
 * non-2xx, CANCEL: RFC 3261 §17, §16.10), then the plan, the media policy
 * on its SDP (DESIGN §4), the message built and sent, a transaction kept
 * where it leaves on UDP.
 */
static void forward_request(struct sg_svc *svc, const struct sg_src *src,
			    struct sg_sip_msg *m)
{
	struct sg_proxy_plan p;
	struct sg_txn_req tr;
	struct sg_str body = m->body;
	const struct sg_conn *oc;
	unsigned status;
	bool strip = false;
	char a[64];
	struct ob b;
	int err;

	if (sg_txn_on_request(svc, src, m, &tr) == SG_TXN_DONE)
		return;
	if (src->kind == SG_XPORT_TLS)
		learn_alias(svc, m, src);	/* RFC 5923 */
	sg_proxy_plan_request(svc, src, m, &p);
	if (p.status != 0) {
		if (!p.quiet)
			log_info("%s: %.*s from %s %s refused with %u: %s",
			    svc->cfg->name, SG_STR_FMT(m->method),
			    side_name(src->side), sg_addr_str(
			    (const struct sockaddr *)&src->addr, a, sizeof(a)),
			    p.status, p.why);
		reply(svc, src, m, p.status, p.extra[0] ? p.extra : NULL);
		return;
	}
	/* Calls and media: the SDP that leaves, or a refusal (DESIGN §4). */
	if (svc->sess) {
		struct sg_session_msg sm = { .m = m, .from = src->side,
		    .req_from = src->side, .body = m->body,
		    .out = ploop(svc)->sdp, .outsz = sizeof(ploop(svc)->sdp) };
		char warn[300];
		int verdict = sg_session_on_msg(svc->sess, &sm);

		if (verdict == SG_SESSION_DROP)
			return;		/* an ACK: counted and logged */
		if (verdict != 0) {
			snprintf(warn, sizeof(warn), "Warning: 399 sipsgate"
			    " \"%s\"\r\n", sm.why ? sm.why : "refused");
			reply(svc, src, m, (unsigned)verdict, warn);
			return;
		}
		body = sm.body;
		strip = sm.strip;
	}
	/* The connection the message will leave on, for our addresses. */
	oc = p.dest.conn;
	if (oc == NULL && p.dest.kind != SG_XPORT_UDP)
		oc = sg_xport_find_conn(svc, p.dest.side,
		    (const struct sockaddr *)&p.dest.addr);
	ob_init(&b, ploop(svc)->out, sizeof(ploop(svc)->out));
	if ((status = build_request(svc, src, m, &p, oc, body, strip,
	    &b)) != 0) {
		reply(svc, src, m, status, "Warning: 399 sipsgate \"bad or too"
		    " long Contact\"\r\n");
		return;
	}
	/* RFC 3261 §18.1.1: too large for UDP goes by TCP, or 513. */
	if (b.overflow || sg_txn_fit_udp(svc, &p.dest, b.p, b.len) != 0) {
		reply(svc, src, m, 513, NULL);
		return;
	}
	if (log_debug_enabled())
		log_debug("%s: %.*s %s -> %s %s", svc->cfg->name,
		    SG_STR_FMT(m->method), side_name(src->side),
		    side_name(p.dest.side), sg_addr_str(
		    (const struct sockaddr *)&p.dest.addr, a, sizeof(a)));
	if ((err = sg_xport_send(svc, &p.dest, b.p, b.len)) == -EACCES) {
		/* The egress check refused it (DESIGN §4): refuse the request. */
		reply(svc, src, m, 488, "Warning: 399 sipsgate \"blocked by the"
		    " media policy\"\r\n");
	} else if (err < 0) {
		log_info("%s: %.*s to %s: %s", svc->cfg->name,
		    SG_STR_FMT(m->method), sg_addr_str(
		    (const struct sockaddr *)&p.dest.addr, a, sizeof(a)),
		    strerror(-err));
		reply(svc, src, m, 503, NULL);
		return;
	}
	/* A UDP leg: keep a transaction (retransmissions, 100, 408). */
	sg_txn_on_forwarded(svc, src, m, &tr, &p.dest, p.branch, b.p, b.len);
}


/* Responses. */

/* Where a response goes: the Via below ours (RFC 3261 §18.2.2, 3581). */
static int response_dest(struct sg_svc *svc, struct sg_str via,
			 enum sg_side side, struct sg_dest *d)
{
	struct sg_sip_via v;
	struct sg_str val;
	char host[64];
	uint32_t port = 0;

	memset(d, 0, sizeof(*d));
	if (sg_sip_via_parse(via, &v) < 0)
		return -EINVAL;
	d->side = side;
	if (side == SG_SIDE_OUTSIDE)
		d->kind = SG_XPORT_TLS;
	else if (sg_str_caseeq_lit(v.transport, "TCP"))
		d->kind = SG_XPORT_TCP;
	else
		d->kind = SG_XPORT_UDP;
	if (sg_sip_param_get(v.params, "received", &val) && val.len > 0 &&
	    val.len < sizeof(host)) {
		memcpy(host, val.p, val.len);
		host[val.len] = '\0';
	} else if (v.host.len < sizeof(host)) {
		memcpy(host, v.host.p, v.host.len);
		host[v.host.len] = '\0';
	} else {
		return -EINVAL;
	}
	if (sg_sip_param_get(v.params, "rport", &val) && val.len > 0)
		sg_str_to_u32(val, &port);
	if (port == 0 || port > 65535)
		port = v.port ? v.port : sg_xport_default_port(d->kind);
	if (sg_addr_parse(host, (uint16_t)port, &d->addr) < 0) {
		struct sg_dest alt;

		/* A name in sent-by without received: only the connect. */
		if (uri_to_dest(svc, side, sg_str_make(host, strlen(host)),
		    &alt) < 0)
			return -EHOSTUNREACH;
		d->addr = alt.addr;
	}
	if (d->kind != SG_XPORT_UDP)
		d->conn = sg_xport_find_conn(svc, side,
		    (const struct sockaddr *)&d->addr);
	return 0;
}

/*
 * The far side answered 2xx with media we must refuse (DESIGN §4, media =
 * srtp): its dialog is up, so end it ourselves with ACK and BYE along the
 * route set the 2xx established (RFC 3261 §12.1.2), while the near side
 * gets a 488 instead of the 2xx.
 */
static void hang_up(struct sg_svc *svc, const struct sg_src *src,
		    const struct sg_sip_msg *m)
{
	static const char *methods[] = { "ACK", "BYE" };
	const struct sg_sip_hdr *ch = sg_sip_hdr_find(m, SG_SIP_HDR_CONTACT);
	struct sg_str routes[16], target, rest, elem;
	struct sg_sip_naddr na;
	struct sg_dest d;
	unsigned nroutes = 0, i, k, j;
	char buf[4096], host[256], branch[17];
	struct ob b;
	uint16_t port;

	if (ch == NULL || sg_sip_naddr_parse(ch->value, &na) < 0)
		return;
	target = na.uri;
	/* Record-Route entries above ours lead to the far side. */
	for (i = 0; i < m->nhdrs && nroutes < SG_ARRAY_SIZE(routes); i++) {
		if (m->hdrs[i].id != SG_SIP_HDR_RECORD_ROUTE)
			continue;
		rest = m->hdrs[i].value;
		while (sg_sip_list_next(&rest, &elem) &&
		    nroutes < SG_ARRAY_SIZE(routes)) {
			if (sg_sip_naddr_parse(elem, &na) == 0 &&
			    uri_is_ours(svc, na.uri))
				goto done;
			routes[nroutes++] = elem;
		}
	}
done:
	if (nroutes > 0) {
		if (sg_sip_naddr_parse(routes[nroutes - 1], &na) < 0 ||
		    uri_to_dest(svc, src->side, na.uri, &d) < 0)
			return;
	} else if (uri_to_dest(svc, src->side, target, &d) < 0) {
		return;
	}
	if (src->conn)
		d.conn = src->conn;
	adv_addr(svc, src->side, src->conn, host, sizeof(host), &port);
	for (k = 0; k < SG_ARRAY_SIZE(methods); k++) {
		ob_init(&b, buf, sizeof(buf));
		ob_printf(&b, "%s %.*s SIP/2.0\r\n", methods[k],
		    SG_STR_FMT(target));
		ob_printf(&b, "Via: SIP/2.0/%s ", xport_via_name(d.kind));
		ob_hostport(&b, host, port);
		if (gnutls_rnd(GNUTLS_RND_NONCE, branch, 8) < 0)
			return;
		ob_printf(&b, ";branch=%sl", SG_BRANCH_TAG);
		for (j = 0; j < 8; j++)
			ob_printf(&b, "%02x", (uint8_t)branch[j]);
		ob_cstr(&b, ";rport\r\nMax-Forwards: 70\r\n");
		for (j = nroutes; j-- > 0;)
			ob_printf(&b, "Route: %.*s\r\n", SG_STR_FMT(routes[j]));
		for (i = 0; i < m->nhdrs; i++)
			if (m->hdrs[i].id == SG_SIP_HDR_FROM ||
			    m->hdrs[i].id == SG_SIP_HDR_TO ||
			    m->hdrs[i].id == SG_SIP_HDR_CALL_ID)
				ob_str(&b, m->hdrs[i].raw);
		ob_printf(&b, "CSeq: %u %s\r\nReason: SIP;cause=488;text=\"media"
		    " refused by the gateway\"\r\nContent-Length: 0\r\n\r\n",
		    m->cseq_num + k, methods[k]);
		if (!b.overflow)
			sg_xport_send(svc, &d, b.p, b.len);
	}
}

static void forward_response(struct sg_svc *svc, const struct sg_src *src,
			     struct sg_sip_msg *m)
{
	const struct sg_sip_hdr *vh = sg_sip_hdr_find(m, SG_SIP_HDR_VIA);
	struct sg_str rest, top, next = SG_STR_NULL, elem, val, body;
	struct sg_sip_via v;
	struct sg_dest d;
	struct sg_txn *txn = NULL;
	uint32_t conn_id;
	unsigned refuse = 0;
	const char *refuse_why = NULL;
	enum sg_side side;
	struct ob b;
	unsigned i, vias_seen = 0;
	bool reg = is_register(m), strip = false;
	char a[64];
	int rc;

	rest = vh ? vh->value : SG_STR_NULL;
	if (vh == NULL || !sg_sip_list_next(&rest, &top) ||
	    sg_sip_via_parse(top, &v) < 0 ||
	    v.branch.len < sizeof(SG_BRANCH_TAG) ||
	    memcmp(v.branch.p, SG_BRANCH_TAG, sizeof(SG_BRANCH_TAG) - 1) != 0) {
		svc->st.parse_err++;
		log_info("%s: dropped %u response from %s: top Via is not ours",
		    svc->cfg->name, m->status, side_name(src->side));
		return;
	}
	if (v.branch.p[sizeof(SG_BRANCH_TAG) - 1] == 'l')
		return;		/* answers our own ACK/BYE: nothing to do */
	/* 100, retransmitted finals, answers to our CANCEL stop here. */
	if (sg_txn_on_response(svc, m, v.branch, ploop(svc)->injecting,
	    &txn) == SG_TXN_DONE)
		return;
	side = v.branch.p[sizeof(SG_BRANCH_TAG) - 1] == 'i' ? SG_SIDE_INSIDE :
	    SG_SIDE_OUTSIDE;
	/* The next Via: in the same header or a later one. */
	if (!sg_sip_list_next(&rest, &next)) {
		for (i = 0; i < m->nhdrs; i++) {
			if (m->hdrs[i].id != SG_SIP_HDR_VIA ||
			    &m->hdrs[i] == vh)
				continue;
			rest = m->hdrs[i].value;
			if (sg_sip_list_next(&rest, &next))
				break;
		}
	}
	if (next.len == 0 || response_dest(svc, next, side, &d) < 0) {
		svc->st.parse_err++;
		log_info("%s: dropped %u response: no usable Via below ours",
		    svc->cfg->name, m->status);
		return;
	}
	if (d.kind != SG_XPORT_UDP && sg_sip_param_get(v.params, "sgc", &val) &&
	    sg_str_to_u32(val, &conn_id) == 0) {
		struct sg_conn *c = sg_xport_find_conn_id(svc, conn_id);

		if (c && c->side == side)
			d.conn = c;
	}
	body = m->body;
	if (svc->sess) {
		struct sg_session_msg sm = { .m = m, .from = src->side,
		    .req_from = side, .body = m->body,
		    .out = ploop(svc)->sdp, .outsz = sizeof(ploop(svc)->sdp) };

		if ((rc = sg_session_on_msg(svc->sess, &sm)) ==
		    SG_SESSION_DROP)
			return;		/* counted and logged */
		refuse = (unsigned)rc;
		refuse_why = sm.why;
		strip = sm.strip;
		body = refuse ? SG_STR_NULL : sm.body;
		if (refuse) {
			log_warnx("%s: %u response turned into %u: %s",
			    svc->cfg->name, m->status, refuse,
			    sm.why ? sm.why : "?");
			if (m->status >= 200 && m->status < 300 &&
			    sg_str_caseeq_lit(m->cseq_method, "INVITE"))
				hang_up(svc, src, m);
		}
	}
	ob_init(&b, ploop(svc)->out, sizeof(ploop(svc)->out));
	if (refuse) {
		ob_printf(&b, "SIP/2.0 %u %s\r\n", refuse,
		    sg_sip_reason(refuse));
		ob_printf(&b, "Warning: 399 sipsgate \"%s\"\r\n",
		    refuse_why ? refuse_why : "media refused");
	} else {
		ob_str(&b, m->start_line);
		ob_cstr(&b, "\r\n");
	}
	for (i = 0; i < m->nhdrs; i++) {
		const struct sg_sip_hdr *h = &m->hdrs[i];
		bool any = false;

		if (h->id == SG_SIP_HDR_VIA && ++vias_seen == 1) {
			rest = h->value;
			sg_sip_list_next(&rest, &elem);	/* ours: popped */
			while (sg_sip_list_next(&rest, &elem)) {
				ob_cstr(&b, any ? ", " : "Via: ");
				ob_str(&b, elem);
				any = true;
			}
			if (any)
				ob_cstr(&b, "\r\n");
		} else if (h->id == SG_SIP_HDR_CONTACT && reg) {
			rest = h->value;
			while (sg_sip_list_next(&rest, &elem)) {
				if (!contact_is_own(svc, elem, &d)) {
					if (svc->sess)
						svc->sess->contacts_removed++;
					continue;
				}
				ob_cstr(&b, any ? ", " : "Contact: ");
				ob_contact_untoken(svc, &b, elem);
				any = true;
			}
			if (any)
				ob_cstr(&b, "\r\n");
		} else if (h->id != SG_SIP_HDR_CONTENT_LENGTH &&
		    !((refuse || strip) && h->id == SG_SIP_HDR_CONTENT_TYPE)) {
			ob_str(&b, h->raw);
		}
	}
	ob_printf(&b, "Content-Length: %zu\r\n\r\n", body.len);
	ob_str(&b, body);
	if (b.overflow) {
		svc->st.send_fail++;
		return;
	}
	if ((rc = sg_xport_send(svc, &d, b.p, b.len)) < 0 && rc != -EACCES)
		log_info("%s: %u response to %s: %s", svc->cfg->name,
		    m->status, sg_addr_str((const struct sockaddr *)&d.addr,
		    a, sizeof(a)), strerror(-rc));
	else
		sg_txn_on_response_sent(svc, txn, refuse ? refuse : m->status,
		    &d, b.p, b.len);
}

/* One whole SIP message from the transport (struct sg_xport_ops). */
static void proxy_on_msg(struct sg_svc *svc, const struct sg_src *src,
			 char *buf, size_t len)
{
	struct sg_proxy_loop *pl = ploop(svc);
	struct sg_sip_msg *m = &pl->msg;
	struct sg_perr err = { 0, NULL };
	int rc;

	log_ctx_set(svc->cfg->name, NULL, &src->addr);
	rc = sg_sip_parse(m, buf, len, src->kind != SG_XPORT_UDP, &err);
	if (rc < 0) {
		svc->st.parse_err++;
		reply_unparsed(svc, src, buf, len, rc, &err);
		log_ctx_clear();
		return;
	}
	snprintf(pl->callid, sizeof(pl->callid), "%.*s",
	    (int)SG_MIN(m->call_id.len, sizeof(pl->callid) - 1), m->call_id.p);
	log_ctx_set(svc->cfg->name, pl->callid, &src->addr);
	if (m->is_request)
		forward_request(svc, src, m);
	else
		forward_response(svc, src, m);
	log_ctx_clear();
}

/*
 * Answer a request we sent (buf, as it left toward side) as if the next
 * hop had: the response carries its Vias, ours on top, and goes upstream
 * through forward_response() like any other (RFC 3261 §16.7 step 6 for a
 * lost target, §16.8 for a timeout, §17.2.1 for 100 Trying). A To tag is
 * added to finals.
 */
void sg_proxy_respond_upstream(struct sg_svc *svc, enum sg_side side,
			       enum sg_xport_kind kind, const char *buf,
			       size_t len, unsigned code)
{
	struct sg_proxy_loop *pl = ploop(svc);
	struct sg_sip_msg *m = &pl->msg;
	struct sg_perr err;
	struct sg_src src;
	char rbuf[8192];
	struct ob b;
	unsigned i;

	if (len > SG_SIP_MAX_MSG)
		return;
	memcpy(pl->copy, buf, len);
	if (sg_sip_parse(m, pl->copy, len, true, &err) < 0 ||
	    !m->is_request || sg_str_caseeq_lit(m->method, "ACK"))
		return;
	ob_init(&b, rbuf, sizeof(rbuf));
	ob_printf(&b, "SIP/2.0 %u %s\r\n", code, sg_sip_reason(code));
	for (i = 0; i < m->nhdrs; i++) {
		const struct sg_sip_hdr *h = &m->hdrs[i];
		struct sg_sip_naddr na;
		struct sg_str tag;

		switch (h->id) {
		case SG_SIP_HDR_TO:
			if (code > 100 && sg_sip_naddr_parse(h->value, &na) == 0 &&
			    !sg_sip_param_get(na.params, "tag", &tag)) {
				ob_cstr(&b, "To: ");
				ob_str(&b, h->value);
				ob_printf(&b, ";tag=sg%08x", (unsigned)
				    (m->cseq_num * 2654435761u) ^
				    (unsigned)m->call_id.len);
				ob_cstr(&b, "\r\n");
				break;
			}
			/* FALLTHROUGH */
		case SG_SIP_HDR_VIA:
		case SG_SIP_HDR_FROM:
		case SG_SIP_HDR_CALL_ID:
		case SG_SIP_HDR_CSEQ:
			ob_str(&b, h->raw);
			break;
		default:
			break;
		}
	}
	if (code == 503)
		ob_cstr(&b, "Retry-After: 5\r\n");
	ob_cstr(&b, "Server: sipsgate\r\nContent-Length: 0\r\n\r\n");
	if (b.overflow)
		return;
	memset(&src, 0, sizeof(src));
	src.side = side;
	src.kind = kind;
	svc->st.local_replies++;
	if (sg_sip_parse(m, b.p, b.len, true, &err) == 0) {
		pl->injecting = true;
		forward_response(svc, &src, m);
		pl->injecting = false;
	}
}

/*
 * A request we forwarded could not be delivered (connect or handshake
 * failed): answer it with 503 as if the next hop had, so the sender learns
 * at once.
 */
static void proxy_on_send_fail(struct sg_svc *svc, const char *buf,
			       size_t len)
{
	if (sg_txn_on_send_fail(svc, buf, len))
		return;		/* §18.1.1: no TCP there, sent over UDP */
	/* As before transactions: the side is not known here. */
	sg_proxy_respond_upstream(svc, SG_SIDE_INSIDE, SG_XPORT_UDP, buf, len,
	    503);
}

/*
 * The egress check on every message the transport is about to send
 * (DESIGN §4): the session layer's invariant. A service without its
 * session layer (not started yet, or protocol = raw) sends no SIP at all.
 */
static int proxy_egress_check(struct sg_svc *svc, enum sg_side to,
			      const char *buf, size_t len)
{
	if (svc->sess == NULL)
		return -EACCES;
	return sg_session_egress_check(svc->sess, to, buf, len);
}

const struct sg_txn_ops sg_proxy_txn_ops = {
	.respond_upstream = sg_proxy_respond_upstream,
	.reply = sg_proxy_reply,
};

const struct sg_xport_ops sg_proxy_ops = {
	.on_msg = proxy_on_msg,
	.on_send_fail = proxy_on_send_fail,
	.egress_check = proxy_egress_check,
};

/* The per-loop state the proxy needs, made by the first SIP service. */
int sg_proxy_start(struct sg_svc *svc)
{
	if (svc->gw->proxy_loop == NULL &&
	    (svc->gw->proxy_loop = calloc(1, sizeof(struct sg_proxy_loop))) ==
	    NULL)
		return -ENOMEM;
	return 0;
}

void sg_proxy_loop_free(struct sg_gw *gw)
{
	free(gw->proxy_loop);
	gw->proxy_loop = NULL;
}
