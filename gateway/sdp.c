/* SPDX-License-Identifier: MIT */
/*
 * sdp.c: SDP parse and rewrite for the media relay: RFC 4566 (SDP),
 * RFC 4568 (SDES a=crypto), RFC 3605 (a=rtcp), RFC 5761 (a=rtcp-mux).
 * Pure: no I/O and no allocation except the buffers GnuTLS base64 returns,
 * which are wiped and freed before we return. The body comes from the
 * network: every read is bounded by its length and nothing assumes a NUL.
 */
#include <errno.h>
#include <stdio.h>

#include <gnutls/gnutls.h>

#include "sdp.h"

/* Longest base64 key-info we decode: 192 bytes of key, far above any suite. */
#define SDP_B64_MAX 256

/* One line of the body. */
struct sdp_line {
	struct sg_str s;	/* the content, without its CR LF or LF */
	size_t full;		/* bytes of the whole line, its end included */
	bool terminated;	/* the line ends with LF */
};

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* VCHAR of RFC 5234: a visible US-ASCII character. */
static bool is_vchar(char c)
{
	return c > 0x20 && c < 0x7f;
}

/*
 * RFC 4566 §9 token-char: what a media type, a proto part or a format is
 * made of (%x21 / %x23-27 / %x2A-2B / %x2D-2E / %x30-39 / %x41-5A /
 * %x5E-7E): visible ASCII but '"', '(', ')', ',', '/', ':' to '@', '[',
 * '\\' and ']'.
 */
static bool is_token_char(char c)
{
	return is_vchar(c) && strchr("\"(),/:;<=>?@[\\]", c) == NULL;
}

static bool is_token(struct sg_str s)
{
	size_t i;

	if (s.len == 0)
		return false;
	for (i = 0; i < s.len; i++)
		if (!is_token_char(s.p[i]))
			return false;
	return true;
}

/*
 * Cut the next line off the body at *pos. A line ends with LF, and a CR
 * right before that LF is part of the line end, not of the content
 * (RFC 4566 §5 asks for CRLF and lets parsers accept a bare LF). The last
 * line may have no end at all, or a CR alone: a CRLF cut short by the
 * message's Content-Length. Any other CR stays in the content, where
 * sg_sdp_parse() refuses it. Returns false when the body is used up.
 */
static bool line_next(const char *body, size_t len, size_t *pos,
		      struct sdp_line *l)
{
	const char *p, *nl;
	size_t rest;

	if (*pos >= len)
		return false;
	p = body + *pos;
	rest = len - *pos;
	nl = memchr(p, '\n', rest);
	l->terminated = nl != NULL;
	l->full = nl != NULL ? (size_t)(nl - p) + 1 : rest;
	l->s = sg_str_make(p, nl != NULL ? (size_t)(nl - p) : rest);
	if (l->s.len > 0 && l->s.p[l->s.len - 1] == '\r')
		l->s.len--;
	*pos += l->full;
	return true;
}

/*
 * Skip the blanks at the front of *s, then cut the run of non-blanks that
 * follows into *tok. Returns false when no token is left.
 */
static bool next_token(struct sg_str *s, struct sg_str *tok)
{
	size_t i = 0, start;

	*tok = SG_STR_NULL;
	if (s->len == 0)
		return false;
	while (i < s->len && is_blank(s->p[i]))
		i++;
	start = i;
	while (i < s->len && !is_blank(s->p[i]))
		i++;
	*tok = sg_str_make(s->p + start, i - start);
	*s = sg_str_make(s->p + i, s->len - i);
	return tok->len > 0;
}

/* Parse a port number, 0 to 65535. */
static int port_parse(struct sg_str s, uint16_t *port)
{
	uint32_t v;

	if (sg_str_to_u32(s, &v) < 0 || v > 65535)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

/*
 * Split the value of an a= line into its name and, after the first colon,
 * its value (RFC 4566 §5.13: "a=<attribute>" or "a=<attribute>:<value>").
 */
static void attr_split(struct sg_str v, struct sg_str *name,
		       struct sg_str *value)
{
	const char *colon = v.len > 0 ? memchr(v.p, ':', v.len) : NULL;

	if (colon == NULL) {
		*name = v;
		*value = SG_STR_NULL;
		return;
	}
	*name = sg_str_make(v.p, (size_t)(colon - v.p));
	*value = sg_str_make(colon + 1, v.len - (size_t)(colon - v.p) - 1);
}

/*
 * Parse the address part of c= or a=rtcp: "IN IP4 <addr>[/ttl[/n]]" or
 * "IN IP6 <addr>[/n]" (RFC 4566 §5.7). The TTL and the address count are
 * dropped from *addr. Returns 0 or -EBADMSG.
 */
static int conn_parse(struct sg_str v, struct sg_str *addr, bool *v6)
{
	struct sg_str nettype, addrtype, a, extra;
	size_t i;

	if (!next_token(&v, &nettype) || !next_token(&v, &addrtype) ||
	    !next_token(&v, &a) || next_token(&v, &extra))
		return -EBADMSG;
	if (!sg_str_caseeq_lit(nettype, "IN"))
		return -EBADMSG;
	if (sg_str_caseeq_lit(addrtype, "IP4"))
		*v6 = false;
	else if (sg_str_caseeq_lit(addrtype, "IP6"))
		*v6 = true;
	else
		return -EBADMSG;
	for (i = 0; i < a.len && a.p[i] != '/'; i++)
		if (!is_vchar(a.p[i]))
			return -EBADMSG;
	if (i == 0)
		return -EBADMSG;
	*addr = sg_str_make(a.p, i);
	return 0;
}

/* RFC 4566 §9: proto = token *("/" token): "RTP/AVP", "UDP/TLS/RTP/SAVP". */
static bool proto_ok(struct sg_str proto)
{
	const char *slash;
	struct sg_str rest = proto;

	while ((slash = memchr(rest.p, '/', rest.len)) != NULL) {
		if (!is_token(sg_str_make(rest.p, (size_t)(slash - rest.p))))
			return false;
		rest = sg_str_make(slash + 1,
		    rest.len - (size_t)(slash - rest.p) - 1);
	}
	return is_token(rest);
}

/*
 * Parse "m=<media> <port>[/<number of ports>] <proto> <fmt> ..."
 * (RFC 4566 §5.14 and its §9 grammar: media SP port ["/" integer] SP
 * proto 1*(SP fmt)). The media type, each part of the proto and each
 * format must be tokens, and there must be at least one format: anything
 * less is refused here, so the writer never rewrites an m= line that its
 * output would not parse back from. Runs of blanks are accepted where one
 * SP is due (the writer keeps them). Port 0 is a rejected or disabled
 * stream (RFC 3264 §5.1) and is valid; RFC 3264 §6 still asks for a
 * format there.
 */
static int media_parse(struct sg_str v, struct sg_sdp_media *m)
{
	struct sg_str rest = v, port, fmt;
	const char *slash;
	uint32_t n;

	if (!next_token(&rest, &m->type) || !next_token(&rest, &port) ||
	    !next_token(&rest, &m->proto))
		return -EBADMSG;
	if (!is_token(m->type) || !proto_ok(m->proto))
		return -EBADMSG;
	m->nports = 1;
	slash = memchr(port.p, '/', port.len);
	if (slash != NULL) {
		struct sg_str count = sg_str_make(slash + 1,
		    port.len - (size_t)(slash - port.p) - 1);

		if (sg_str_to_u32(count, &n) < 0 || n == 0)
			return -EBADMSG;
		m->nports = n;
		port.len = (size_t)(slash - port.p);
	}
	if (port_parse(port, &m->port) < 0)
		return -EBADMSG;
	m->fmts = sg_str_trim(rest);
	if (m->fmts.len == 0)
		return -EBADMSG;
	while (next_token(&rest, &fmt))
		if (!is_token(fmt))
			return -EBADMSG;
	return 0;
}

/*
 * Parse the value of "a=rtcp:<port> [<nettype> <addrtype> <address>]"
 * (RFC 3605 §2.1). The address, when there is one, must be well formed,
 * but only the port is kept: the writer replaces the address anyway.
 */
static int rtcp_parse(struct sg_str v, uint16_t *port)
{
	struct sg_str rest = v, p, addr;
	bool v6;

	if (!next_token(&rest, &p) || port_parse(p, port) < 0)
		return -EBADMSG;
	rest = sg_str_trim(rest);
	if (rest.len > 0 && conn_parse(rest, &addr, &v6) < 0)
		return -EBADMSG;
	return 0;
}

/* Map the direction attributes of RFC 4566 §6 (RFC 3264 §5.1). */
static bool dir_parse(struct sg_str name, enum sg_sdp_dir *dir)
{
	if (sg_str_caseeq_lit(name, "sendrecv"))
		*dir = SG_SDP_SENDRECV;
	else if (sg_str_caseeq_lit(name, "sendonly"))
		*dir = SG_SDP_SENDONLY;
	else if (sg_str_caseeq_lit(name, "recvonly"))
		*dir = SG_SDP_RECVONLY;
	else if (sg_str_caseeq_lit(name, "inactive"))
		*dir = SG_SDP_INACTIVE;
	else
		return false;
	return true;
}

static int fail(struct sg_perr *err, unsigned line, const char *reason,
		int rc)
{
	if (err != NULL) {
		err->line = line;
		err->reason = reason;
	}
	return rc;
}

/*
 * Parse an SDP body. Only what the relay needs is looked at: v= (must come
 * first), c=, m= and a few attributes; every other line only has to be of
 * the form "<type>=<value>" without CR or NUL bytes. Blank lines are
 * tolerated. A malformed
 * a=crypto line is skipped rather than refused, so that one odd line
 * among good ones does not fail the whole offer. Returns 0, -EBADMSG with
 * err filled, or -E2BIG (also with err filled) when the body has more
 * m= lines or more usable a=crypto lines in one m= than sdp can hold.
 */
int sg_sdp_parse(struct sg_sdp *sdp, const char *body, size_t len,
		 struct sg_perr *err)
{
	unsigned mline[SG_SDP_MAX_MEDIA];
	bool dir_set[SG_SDP_MAX_MEDIA];
	struct sg_sdp_media *m = NULL;
	struct sg_str v, name, value;
	struct sg_sdp_crypto c;
	struct sdp_line l;
	unsigned lineno = 0, i;
	bool seen_v = false, v6;
	size_t pos = 0;
	enum sg_sdp_dir dir;
	uint16_t port;

	memset(sdp, 0, sizeof(*sdp));
	if (err != NULL) {
		err->line = 0;
		err->reason = NULL;
	}
	while (line_next(body, len, &pos, &l)) {
		lineno++;
		/*
		 * RFC 4566 §9: no field may hold a CR or a NUL (byte-string
		 * excludes them). A CR inside a line is refused, not taken
		 * as a line end: the writer copies lines it does not rewrite
		 * byte for byte, and a peer that splits lines at a bare CR
		 * would read lines this parser never saw (an a=crypto toward
		 * the inside, an inside c= toward the outside).
		 */
		if (l.s.len > 0 && memchr(l.s.p, '\r', l.s.len) != NULL)
			return fail(err, lineno, "CR inside a line (only CRLF"
			    " or LF ends a line)", -EBADMSG);
		if (l.s.len > 0 && memchr(l.s.p, '\0', l.s.len) != NULL)
			return fail(err, lineno, "NUL byte in a line",
			    -EBADMSG);
		if (l.s.len == 0)
			continue;
		if (l.s.len < 2 || !is_alpha(l.s.p[0]) || l.s.p[1] != '=')
			return fail(err, lineno, "line is not <type>=<value>",
			    -EBADMSG);
		v = sg_str_make(l.s.p + 2, l.s.len - 2);
		if (!seen_v) {
			if (l.s.p[0] != 'v')
				return fail(err, lineno,
				    "v= is not the first line", -EBADMSG);
			seen_v = true;
			continue;
		}
		switch (l.s.p[0]) {
		case 'v':
			return fail(err, lineno, "second v= line", -EBADMSG);
		case 'm':
			if (sdp->nmedia == SG_SDP_MAX_MEDIA)
				return fail(err, lineno, "too many m= lines",
				    -E2BIG);
			m = &sdp->media[sdp->nmedia];
			if (media_parse(v, m) < 0)
				return fail(err, lineno, "malformed m= line",
				    -EBADMSG);
			mline[sdp->nmedia] = lineno;
			dir_set[sdp->nmedia] = false;
			sdp->nmedia++;
			break;
		case 'c':
			if (conn_parse(v, &value, &v6) < 0)
				return fail(err, lineno, "malformed c= line",
				    -EBADMSG);
			/* RFC 4566 §5.7: the first c= of its level counts. */
			if (m != NULL && !m->has_conn) {
				m->has_conn = true;
				m->conn_addr = value;
				m->conn_v6 = v6;
			} else if (m == NULL && !sdp->has_conn) {
				sdp->has_conn = true;
				sdp->conn_addr = value;
				sdp->conn_v6 = v6;
			}
			break;
		case 'a':
			attr_split(v, &name, &value);
			if (m == NULL) {
				/* RFC 4566 §6: a direction at session level
				 * is the default of every media. */
				if (dir_parse(name, &dir))
					sdp->dir = dir;
			} else if (dir_parse(name, &dir)) {
				m->dir = dir;
				dir_set[sdp->nmedia - 1] = true;
			} else if (sg_str_caseeq_lit(name, "crypto")) {
				if (sg_sdp_crypto_parse(value, &c) < 0)
					break;
				if (m->ncrypto == SG_SDP_MAX_CRYPTO)
					return fail(err, lineno,
					    "too many a=crypto lines", -E2BIG);
				m->crypto[m->ncrypto++] = c;
			} else if (sg_str_caseeq_lit(name, "rtcp")) {
				if (rtcp_parse(value, &port) < 0)
					return fail(err, lineno,
					    "malformed a=rtcp line", -EBADMSG);
				m->has_rtcp = true;
				m->rtcp_port = port;
			} else if (sg_str_caseeq_lit(name, "rtcp-mux")) {
				m->rtcp_mux = true;
			}
			break;
		default:
			break;
		}
	}
	if (!seen_v)
		return fail(err, lineno ? lineno : 1, "no v= line", -EBADMSG);
	for (i = 0; i < sdp->nmedia; i++) {
		m = &sdp->media[i];
		if (!dir_set[i])
			m->dir = sdp->dir;
		if (!m->has_conn && !sdp->has_conn)
			return fail(err, mline[i], "media without c= line",
			    -EBADMSG);
	}
	return 0;
}

/*
 * Check one key-param of RFC 4568 §9.1: "inline:" key-info, key-info being
 * visible characters but ";" (%x21-3A / %x3C-7E). Other key methods are
 * refused: "inline" is the only one RFC 4568 defines.
 */
static bool key_param_ok(struct sg_str kp)
{
	size_t i, pre = sizeof("inline:") - 1;

	if (kp.len <= pre || !sg_str_caseeq_lit(sg_str_make(kp.p, pre),
	    "inline:"))
		return false;
	for (i = pre; i < kp.len; i++)
		if (!is_vchar(kp.p[i]) || kp.p[i] == ';')
			return false;
	return true;
}

/*
 * Parse one a=crypto value (RFC 4568 §9.1):
 *   tag SP crypto-suite SP key-params *(SP session-param)
 * with tag = 1*9DIGIT and key-params = key-param *(";" key-param). Runs of
 * blanks are accepted where one SP is due. c->key_params holds all the
 * key-params; c->session_params the rest, trimmed. Returns 0 or -EINVAL,
 * in which case c is zeroed.
 */
int sg_sdp_crypto_parse(struct sg_str value, struct sg_sdp_crypto *c)
{
	struct sg_str v, rest, tag, suite, kps, kp, sp;
	const char *semi;
	uint32_t t;
	size_t i;

	memset(c, 0, sizeof(*c));
	v = sg_str_trim(value);
	rest = v;
	if (!next_token(&rest, &tag) || tag.len > 9 ||
	    sg_str_to_u32(tag, &t) < 0)
		return -EINVAL;
	/* RFC 4568 §9.1: crypto-suite = 1*(ALPHA / DIGIT / "_"). */
	if (!next_token(&rest, &suite))
		return -EINVAL;
	for (i = 0; i < suite.len; i++)
		if (!is_alpha(suite.p[i]) && !is_digit(suite.p[i]) &&
		    suite.p[i] != '_')
			return -EINVAL;
	if (!next_token(&rest, &kps))
		return -EINVAL;
	kp = kps;
	while ((semi = memchr(kp.p, ';', kp.len)) != NULL) {
		if (!key_param_ok(sg_str_make(kp.p, (size_t)(semi - kp.p))))
			return -EINVAL;
		kp = sg_str_make(semi + 1, kp.len - (size_t)(semi - kp.p) - 1);
	}
	if (!key_param_ok(kp))
		return -EINVAL;
	/* RFC 4568 §9.1: session-param = 1*(VCHAR), separated by SP. */
	sp = sg_str_trim(rest);
	for (i = 0; i < sp.len; i++)
		if (!is_vchar(sp.p[i]) && !is_blank(sp.p[i]))
			return -EINVAL;
	c->tag = t;
	c->suite = suite;
	c->key_params = kps;
	c->session_params = sp;
	c->value = v;
	return 0;
}

static int b64_value(char ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (is_digit(ch))
		return ch - '0' + 52;
	if (ch == '+')
		return 62;
	if (ch == '/')
		return 63;
	return -1;
}

/*
 * Decode the single inline key of c (RFC 4568 §6.1: key || salt, base64
 * of RFC 4648 §4) into key. Senders often drop the "=" padding, so it is
 * added back before GnuTLS decodes. A lifetime or an MKI ("|2^31",
 * "|1:4"), several key-params or another key method are declined with
 * -ENOTSUP: we do not rekey or pick keys by MKI (DESIGN §4). Returns the
 * key length; -EINVAL for bad base64 or a key that does not fit keysz.
 */
int sg_sdp_crypto_key(const struct sg_sdp_crypto *c, uint8_t *key,
		      size_t keysz)
{
	size_t pre = sizeof("inline:") - 1, n, pad = 0, i, bytes;
	struct sg_str kp = c->key_params, info;
	char b64[SDP_B64_MAX + 4];
	gnutls_datum_t in, out = { NULL, 0 };
	int rc;

	if (kp.len == 0)
		return -EINVAL;
	if (memchr(kp.p, ';', kp.len) != NULL)
		return -ENOTSUP;
	if (kp.len < pre || !sg_str_caseeq_lit(sg_str_make(kp.p, pre),
	    "inline:"))
		return -ENOTSUP;
	info = sg_str_make(kp.p + pre, kp.len - pre);
	if (info.len > 0 && memchr(info.p, '|', info.len) != NULL)
		return -ENOTSUP;
	/* Padding, if any, is one or two "=" at the very end. */
	n = info.len;
	while (n > 0 && info.p[n - 1] == '=' && pad < 2) {
		n--;
		pad++;
	}
	if (n == 0 || n > SDP_B64_MAX || n % 4 == 1)
		return -EINVAL;
	if (pad > 0 && (n + pad) % 4 != 0)
		return -EINVAL;
	for (i = 0; i < n; i++)
		if (b64_value(info.p[i]) < 0)
			return -EINVAL;
	bytes = n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
	if (bytes > keysz)
		return -EINVAL;
	memcpy(b64, info.p, n);
	while (n % 4 != 0)
		b64[n++] = '=';
	in.data = (unsigned char *)b64;
	in.size = (unsigned int)n;
	rc = gnutls_base64_decode2(&in, &out);
	gnutls_memset(b64, 0, sizeof(b64));
	if (rc < 0)
		return -EINVAL;
	if (out.size != bytes) {
		rc = -EINVAL;
	} else {
		memcpy(key, out.data, bytes);
		rc = (int)bytes;
	}
	gnutls_memset(out.data, 0, out.size);
	gnutls_free(out.data);
	return rc;
}

/*
 * Is the session parameter name present in c (RFC 4568 §6.3)? Parameters
 * are blank-separated tokens, either a bare name ("UNENCRYPTED_SRTCP") or
 * name=value ("KDR=0"); names are compared without regard to case.
 */
bool sg_sdp_crypto_has_param(const struct sg_sdp_crypto *c, const char *name)
{
	struct sg_str rest, tok, want;

	if (c == NULL || name == NULL || *name == '\0')
		return false;
	want = sg_str_make(name, strlen(name));
	rest = c->session_params;
	while (next_token(&rest, &tok)) {
		if (sg_str_caseeq(tok, want))
			return true;
		if (tok.len > want.len && tok.p[want.len] == '=' &&
		    sg_str_caseeq(sg_str_make(tok.p, want.len), want))
			return true;
	}
	return false;
}

/* The output of sg_sdp_write(): writes past cap are refused and noted. */
struct wbuf {
	char *p;
	size_t len, cap;
	bool full;
};

static void put(struct wbuf *w, const char *s, size_t n)
{
	if (w->full || n == 0)
		return;
	if (n > w->cap - w->len) {
		w->full = true;
		return;
	}
	memcpy(w->p + w->len, s, n);
	w->len += n;
}

static void put_str(struct wbuf *w, struct sg_str s)
{
	put(w, s.p, s.len);
}

static void put_cstr(struct wbuf *w, const char *s)
{
	put(w, s, strlen(s));
}

static void put_u32(struct wbuf *w, uint32_t v)
{
	char num[16];
	int n = snprintf(num, sizeof(num), "%u", (unsigned)v);

	put(w, num, (size_t)n);
}

/* "IN IP4 <addr>" or "IN IP6 <addr>" (RFC 4566 §5.7). */
static void put_conn(struct wbuf *w, const struct sg_sdp_rewrite *rw)
{
	put_cstr(w, rw->addr_v6 ? "IN IP6 " : "IN IP4 ");
	put_cstr(w, rw->addr);
}

/*
 * The transport protocol for the other side: RTP/AVP <-> RTP/SAVP
 * (RFC 3711 §12) and RTP/AVPF <-> RTP/SAVPF (RFC 5124). DTLS-SRTP's
 * UDP/TLS/RTP/SAVP(F) (RFC 5764) becomes plain RTP/AVP(F) toward the
 * plain side too (never a secure profile there, DESIGN §4); toward the
 * secure side it is kept. Anything else is kept as it is.
 */
static struct sg_str proto_map(struct sg_str proto, bool secure)
{
	static const struct {
		const char *plain, *secure;
	} map[] = {
		{ "RTP/AVP", "RTP/SAVP" },
		{ "RTP/AVPF", "RTP/SAVPF" },
		{ "RTP/AVP", "UDP/TLS/RTP/SAVP" },
		{ "RTP/AVPF", "UDP/TLS/RTP/SAVPF" },
	};
	size_t i;

	for (i = 0; i < SG_ARRAY_SIZE(map); i++) {
		if (secure && sg_str_caseeq_lit(proto, map[i].plain))
			return sg_str_make(map[i].secure,
			    strlen(map[i].secure));
		if (!secure && sg_str_caseeq_lit(proto, map[i].secure))
			return sg_str_make(map[i].plain, strlen(map[i].plain));
	}
	return proto;
}

/*
 * ICE attributes (RFC 8839) carry the addresses of the side they come
 * from, and candidates cannot work through the relay anyway: they never
 * cross the gateway (rtpengine's ICE=remove does the same).
 */
static bool is_ice(struct sg_str name)
{
	static const char *ice[] = { "candidate", "remote-candidates",
	    "ice-ufrag", "ice-pwd", "ice-options", "ice-lite",
	    "ice-mismatch", "end-of-candidates", "ice-pacing" };
	size_t i;

	for (i = 0; i < SG_ARRAY_SIZE(ice); i++)
		if (sg_str_caseeq_lit(name, ice[i]))
			return true;
	return false;
}

/*
 * Key management of the side an SDP comes from: DTLS-SRTP (RFC 8842
 * a=fingerprint, a=setup, a=tls-id) and MIKEY (RFC 4567 a=key-mgmt). The
 * relay terminates SRTP with SDES on its own keys: these never cross, and
 * a key must never reach the plain side (DESIGN §4).
 */
static bool is_keymgmt(struct sg_str name)
{
	return sg_str_caseeq_lit(name, "fingerprint") ||
	    sg_str_caseeq_lit(name, "setup") ||
	    sg_str_caseeq_lit(name, "tls-id") ||
	    sg_str_caseeq_lit(name, "key-mgmt");
}

/*
 * Rewrite "m=<media> <port>[/n] <proto> <fmt> ..." with the relay port
 * and the mapped proto; "/n" and everything after the proto are kept.
 * A stream with port 0 stays rejected (RFC 3264 §6), whatever mo says.
 */
static int write_media(struct wbuf *w, struct sg_str v,
		       const struct sg_sdp_media_out *mo, const char *eol)
{
	struct sg_str rest = v, type, port, proto;
	const char *slash;
	uint16_t old;

	if (!next_token(&rest, &type) || !next_token(&rest, &port) ||
	    !next_token(&rest, &proto))
		return -EINVAL;
	slash = memchr(port.p, '/', port.len);
	if (port_parse(sg_str_make(port.p, slash != NULL ?
	    (size_t)(slash - port.p) : port.len), &old) < 0)
		return -EINVAL;
	put_cstr(w, "m=");
	put_str(w, type);
	put_cstr(w, " ");
	put_u32(w, old == 0 ? 0 : mo->port);
	if (slash != NULL)
		put(w, slash, port.len - (size_t)(slash - port.p));
	put_cstr(w, " ");
	put_str(w, proto_map(proto, mo->secure && !mo->best_effort));
	put_str(w, rest);
	put_cstr(w, eol);
	return 0;
}

/*
 * Rewrite the o= line (RFC 4566 §5.2): "o=<username> <sess-id>
 * <sess-version> <nettype> <addrtype> <unicast-address>" gets our address
 * and its type; the other fields keep their bytes. A line with fewer than
 * six fields carries no address and is kept as it is.
 */
static void write_origin(struct wbuf *w, const struct sdp_line *l,
			 const struct sg_sdp_rewrite *rw, const char *eol)
{
	struct sg_str v = sg_str_make(l->s.p + 2, l->s.len - 2), rest = v;
	struct sg_str tok, addrtype, addr;
	int i;

	for (i = 0; i < 4; i++)
		if (!next_token(&rest, &tok))
			goto keep;
	if (!next_token(&rest, &addrtype) || !next_token(&rest, &addr))
		goto keep;
	put(w, l->s.p, (size_t)(addrtype.p - l->s.p));
	put_cstr(w, rw->addr_v6 ? "IP6 " : "IP4 ");
	put_cstr(w, rw->addr);
	put_str(w, rest);
	put_cstr(w, eol);
	return;
keep:
	put(w, l->s.p, l->terminated ? l->full : l->s.len);
	if (!l->terminated)
		put_cstr(w, eol);
}

/*
 * Rewrite "a=rtcp:<port> [IN IP4 <addr>]" (RFC 3605 §2.1) with our RTCP
 * port and, if the line had an address, ours.
 */
static void write_rtcp(struct wbuf *w, struct sg_str value,
		       const struct sg_sdp_rewrite *rw, uint16_t port,
		       const char *eol)
{
	struct sg_str rest = value, tok;

	put_cstr(w, "a=rtcp:");
	put_u32(w, port);
	if (next_token(&rest, &tok) && next_token(&rest, &tok)) {
		put_cstr(w, " ");
		put_conn(w, rw);
	}
	put_cstr(w, eol);
}

/*
 * Write "a=crypto:<tag> <suite> inline:<key||salt>[ <params>]" for every
 * key of mo (RFC 4568 §9.1), the key in padded base64 by GnuTLS. Key
 * material is wiped from every buffer it passed through. Returns 0 or
 * -ENOMEM.
 */
static int write_crypto(struct wbuf *w, const struct sg_sdp_media_out *mo,
			const char *eol)
{
	uint8_t key[SG_SDP_MAX_KEY];
	gnutls_datum_t in, b64;
	unsigned i;
	int rc;

	for (i = 0; i < mo->ncrypto; i++) {
		memcpy(key, mo->crypto[i].key, mo->crypto[i].keylen);
		in.data = key;
		in.size = (unsigned int)mo->crypto[i].keylen;
		b64.data = NULL;
		b64.size = 0;
		rc = gnutls_base64_encode2(&in, &b64);
		gnutls_memset(key, 0, sizeof(key));
		if (rc < 0)
			return -ENOMEM;
		put_cstr(w, "a=crypto:");
		put_u32(w, mo->crypto[i].tag);
		put_cstr(w, " ");
		put_cstr(w, mo->crypto[i].suite);
		put_cstr(w, " inline:");
		put(w, (const char *)b64.data, b64.size);
		if (mo->crypto[i].params != NULL &&
		    mo->crypto[i].params[0] != '\0') {
			put_cstr(w, " ");
			put_cstr(w, mo->crypto[i].params);
		}
		put_cstr(w, eol);
		gnutls_memset(b64.data, 0, b64.size);
		gnutls_free(b64.data);
	}
	return 0;
}

/* A string of rw that goes into a line: non-empty, visible ASCII only. */
static bool word_ok(const char *s, bool blanks)
{
	if (s == NULL || *s == '\0')
		return false;
	for (; *s != '\0'; s++)
		if (!is_vchar(*s) && !(blanks && *s == ' '))
			return false;
	return true;
}

/* Refuse a rewrite plan that would write a broken or injected line. */
static int rewrite_check(const struct sg_sdp *sdp,
			 const struct sg_sdp_rewrite *rw)
{
	const struct sg_sdp_media_out *mo;
	unsigned i, j;

	if (rw->nmedia != sdp->nmedia || rw->nmedia > SG_SDP_MAX_MEDIA ||
	    !word_ok(rw->addr, false))
		return -EINVAL;
	for (i = 0; i < rw->nmedia; i++) {
		mo = &rw->media[i];
		if (!mo->secure)
			continue;
		if (mo->ncrypto > SG_SDP_MAX_CRYPTO)
			return -EINVAL;
		for (j = 0; j < mo->ncrypto; j++) {
			if (!word_ok(mo->crypto[j].suite, false) ||
			    mo->crypto[j].key == NULL ||
			    mo->crypto[j].keylen == 0 ||
			    mo->crypto[j].keylen > SG_SDP_MAX_KEY)
				return -EINVAL;
			if (mo->crypto[j].params != NULL &&
			    mo->crypto[j].params[0] != '\0' &&
			    !word_ok(mo->crypto[j].params, true))
				return -EINVAL;
		}
	}
	return 0;
}

/*
 * Close the m= section cur: write its a=crypto lines (when secure), then
 * the blank lines held back so that the keys stay inside the section.
 */
static int section_end(struct wbuf *w, const struct sg_sdp_rewrite *rw,
		       int cur, const char *body, size_t *bl_start,
		       size_t bl_end, const char *eol)
{
	int rc;

	if (cur >= 0 && rw->media[cur].secure &&
	    (rc = write_crypto(w, &rw->media[cur], eol)) < 0)
		return rc;
	if (*bl_start < bl_end)
		put(w, body + *bl_start, bl_end - *bl_start);
	*bl_start = bl_end;
	return 0;
}

/*
 * Write the body rewritten by rw into out (see sdp.h). The body must be the
 * one sdp was parsed from. Lines we write end like the v= line of the
 * input; lines we copy keep their own ends; an unterminated last line gets
 * one. a=rtcp at session level (RFC 3605 allows it only in media) and every
 * a=crypto are dropped. Returns the length written, also NUL-terminated
 * when there is room for it; -EINVAL for a bad plan or a body that does
 * not match sdp; -ENOSPC when out is too small; -ENOMEM if GnuTLS fails.
 */
ssize_t sg_sdp_write(const struct sg_sdp *sdp, const char *body, size_t len,
		     const struct sg_sdp_rewrite *rw, char *out,
		     size_t outsz)
{
	struct wbuf w = { out, 0, outsz, false };
	size_t pos = 0, bl_start = 0;
	struct sg_str v, name, value;
	const char *eol = NULL;
	struct sdp_line l;
	int cur = -1, rc;

	if ((rc = rewrite_check(sdp, rw)) < 0)
		return rc;
	while (line_next(body, len, &pos, &l)) {
		/*
		 * Blank lines are held back: [bl_start, start of this line)
		 * is always the run of them since the last line written.
		 */
		if (l.s.len == 0)
			continue;
		if (eol == NULL)
			eol = l.full > l.s.len + 1 ? "\r\n" : "\n";
		if (l.s.len < 2 || l.s.p[1] != '=')
			return -EINVAL;
		v = sg_str_make(l.s.p + 2, l.s.len - 2);
		if (l.s.p[0] == 'm') {
			rc = section_end(&w, rw, cur, body, &bl_start,
			    pos - l.full, eol);
			if (rc < 0)
				return rc;
			if (++cur >= (int)rw->nmedia)
				return -EINVAL;
			if (write_media(&w, v, &rw->media[cur], eol) < 0)
				return -EINVAL;
			bl_start = pos;
			continue;
		}
		if (bl_start < pos - l.full)
			put(&w, body + bl_start, pos - l.full - bl_start);
		bl_start = pos;
		switch (l.s.p[0]) {
		case 'k':
			continue;	/* RFC 4566 §5.12 k=: a key in clear */
		case 'c':
			put_cstr(&w, "c=");
			put_conn(&w, rw);
			put_cstr(&w, eol);
			continue;
		case 'o':
			if (cur < 0) {
				write_origin(&w, &l, rw, eol);
				continue;
			}
			break;
		case 'a':
			attr_split(v, &name, &value);
			if (sg_str_caseeq_lit(name, "crypto") || is_ice(name) ||
			    is_keymgmt(name))
				continue;
			if (sg_str_caseeq_lit(name, "rtcp")) {
				if (cur >= 0 && rw->media[cur].rtcp_port != 0)
					write_rtcp(&w, value, rw,
					    rw->media[cur].rtcp_port, eol);
				continue;
			}
			break;
		default:
			break;
		}
		put(&w, l.s.p, l.terminated ? l.full : l.s.len);
		if (!l.terminated)
			put_cstr(&w, eol);
	}
	if ((rc = section_end(&w, rw, cur, body, &bl_start, len,
	    eol != NULL ? eol : "\r\n")) < 0)
		return rc;
	if (cur + 1 != (int)rw->nmedia)
		return -EINVAL;
	if (w.full)
		return -ENOSPC;
	if (w.len < w.cap)
		w.p[w.len] = '\0';
	return (ssize_t)w.len;
}
