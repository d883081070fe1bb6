/* SPDX-License-Identifier: MIT */
/*
 * sip_msg.c: zero-copy SIP message parser (RFC 3261 §7, §18.3, §20, §25.1).
 * Pure: no allocation and no I/O. Every view points into the caller's
 * buffer. It parses bytes from the network, so it must never read outside
 * the buffer or crash, whatever the input; it is fuzzed (tests/fuzz) and
 * checked against the RFC 4475 torture messages (tests/fixtures/sip).
 */
#include <errno.h>
#include <stdlib.h>

#include "sip_msg.h"

/* Saturation limit of parse_digits(): larger than any length we accept. */
#define DIGITS_SAT UINT64_C(1000000000000000)

/* Lower-case ASCII without the locale (tolower() depends on it). */
static char lower(char c)
{
	return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_alnum(char c)
{
	return is_alpha(c) || is_digit(c);
}

static bool is_hex(char c)
{
	return is_digit(c) || (lower(c) >= 'a' && lower(c) <= 'f');
}

static bool is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* Linear white space, folding included: inside a header value a CR or LF
 * is always part of a CRLF followed by SP/HTAB (RFC 3261 §25.1 LWS). */
static bool is_lws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* RFC 3261 §25.1 token characters. */
static bool is_token_char(char c)
{
	if (is_alnum(c))
		return true;
	switch (c) {
	case '-': case '.': case '!': case '%': case '*':
	case '_': case '+': case '`': case '\'': case '~':
		return true;
	}
	return false;
}

/* Host name characters. '_' is not in RFC 3261 hostname but is common. */
static bool is_host_char(char c)
{
	return is_alnum(c) || c == '-' || c == '.' || c == '_';
}

/*
 * Characters we accept inside a URI: visible ASCII without the delimiters
 * that never occur unescaped in one (RFC 3986 §2, RFC 3261 §25.1). This is
 * more lenient than the grammar (e.g. '#' in telephone user parts).
 */
static bool is_uri_char(char c)
{
	unsigned char u = (unsigned char)c;

	if (u <= 0x20 || u >= 0x7f)
		return false;
	switch (c) {
	case '<': case '>': case '"': case '\\': case '{': case '}':
	case '|': case '^': case '`':
		return false;
	}
	return true;
}

/* Unquoted parameter value: token / host, leniently any visible byte that
 * is not a parameter or list delimiter; UTF-8 is allowed. */
static bool is_pvalue_char(char c)
{
	unsigned char u = (unsigned char)c;

	if (u <= 0x20 || u == 0x7f)
		return false;
	return c != ';' && c != ',' && c != '"' && c != '<' && c != '>';
}

static struct sg_str str_sub(struct sg_str s, size_t from, size_t to)
{
	return sg_str_make(s.p + from, to - from);
}

static size_t skip_lws(const char *p, size_t n, size_t i)
{
	while (i < n && is_lws(p[i]))
		i++;
	return i;
}

/*
 * Skip the quoted-string starting at p[i] == '"' (RFC 3261 §25.1), with
 * backslash quoted-pairs. Returns the offset just past the closing quote,
 * or 0 when the string is not terminated within n bytes.
 */
static size_t skip_quoted(const char *p, size_t n, size_t i)
{
	for (i++; i < n; i++) {
		if (p[i] == '\\') {
			i++;
			continue;
		}
		if (p[i] == '"')
			return i + 1;
	}
	return 0;
}

/*
 * Parse 1*DIGIT filling the whole view. Values above DIGITS_SAT saturate
 * there, so callers can compare with their own limit without overflow.
 */
static bool parse_digits(struct sg_str s, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (s.len == 0)
		return false;
	for (i = 0; i < s.len; i++) {
		if (!is_digit(s.p[i]))
			return false;
		if (v < DIGITS_SAT)
			v = v * 10 + (uint64_t)(s.p[i] - '0');
		if (v > DIGITS_SAT)
			v = DIGITS_SAT;
	}
	*out = v;
	return true;
}

/* Port = 1*DIGIT in 1..65535. Returns the offset after it, 0 on error. */
static size_t parse_port(const char *p, size_t n, size_t i, uint16_t *port)
{
	size_t s = i;
	uint64_t v;

	while (i < n && is_digit(p[i]))
		i++;
	if (!parse_digits(sg_str_make(p + s, i - s), &v) || v == 0 ||
	    v > 65535)
		return 0;
	*port = (uint16_t)v;
	return i;
}

/* The text of an IPv6 reference without brackets: hex, ':' and '.' for an
 * embedded IPv4 tail, with at least one ':' (RFC 3261 §25.1 IPv6reference). */
static bool is_ipv6_text(struct sg_str s)
{
	bool colon = false;
	size_t i;

	if (s.len < 2 || s.len > 45)
		return false;
	for (i = 0; i < s.len; i++) {
		if (s.p[i] == ':')
			colon = true;
		else if (!is_hex(s.p[i]) && s.p[i] != '.')
			return false;
	}
	return colon;
}

/*
 * Parse host [":" port] at p[i] (IPv6 references in brackets). When lws is
 * true, SWS may surround the colon (Via sent-by, RFC 3261 §25.1 COLON).
 * Returns the offset after it, 0 on error.
 */
static size_t parse_hostport(const char *p, size_t n, size_t i, bool lws,
			     struct sg_str *host, bool *v6, uint16_t *port)
{
	size_t s, j;

	if (i >= n)
		return 0;
	if (p[i] == '[') {
		for (j = i + 1; j < n && p[j] != ']'; j++)
			;
		if (j == n)
			return 0;
		*host = sg_str_make(p + i + 1, j - i - 1);
		if (!is_ipv6_text(*host))
			return 0;
		*v6 = true;
		i = j + 1;
	} else {
		for (s = i; i < n && is_host_char(p[i]); i++)
			;
		if (i == s)
			return 0;
		*host = sg_str_make(p + s, i - s);
	}
	j = lws ? skip_lws(p, n, i) : i;
	if (j < n && p[j] == ':') {
		j = lws ? skip_lws(p, n, j + 1) : j + 1;
		return parse_port(p, n, j, port);
	}
	return i;
}

/*
 * Take the next ";name[=value]" generic-param from *rest (RFC 3261 §25.1),
 * allowing LWS around ';' and '='. Returns 1 with name and val (empty for a
 * flag; a quoted value keeps its quotes), 0 at the end, -1 if malformed.
 */
static int param_next(struct sg_str *rest, struct sg_str *name,
		      struct sg_str *val)
{
	const char *p = rest->p;
	size_t n = rest->len, i, s;

	i = skip_lws(p, n, 0);
	if (i == n)
		return 0;
	if (p[i] != ';')
		return -1;
	i = skip_lws(p, n, i + 1);
	for (s = i; i < n && is_token_char(p[i]); i++)
		;
	if (i == s)
		return -1;
	*name = sg_str_make(p + s, i - s);
	*val = sg_str_make(p + i, 0);
	i = skip_lws(p, n, i);
	if (i < n && p[i] == '=') {
		i = skip_lws(p, n, i + 1);
		s = i;
		if (i < n && p[i] == '"') {
			if ((i = skip_quoted(p, n, i)) == 0)
				return -1;
		} else {
			while (i < n && is_pvalue_char(p[i]))
				i++;
		}
		if (i == s)
			return -1;
		*val = sg_str_make(p + s, i - s);
	}
	*rest = sg_str_make(p + i, n - i);
	return 1;
}

/* True when s is a well-formed, possibly empty, list of ";params". */
static bool params_are_valid(struct sg_str s)
{
	struct sg_str name, val;
	int rc;

	if (s.len == 0)
		return true;
	while ((rc = param_next(&s, &name, &val)) > 0)
		;
	return rc == 0;
}

/* The URI scheme "ALPHA *(ALPHA / DIGIT / "+" / "-" / ".") ':'": length
 * of the scheme, 0 if s does not start with one (RFC 3986 §3.1). */
static size_t scheme_len(struct sg_str s)
{
	size_t i;

	if (s.len == 0 || !is_alpha(s.p[0]))
		return 0;
	for (i = 1; i < s.len; i++) {
		if (s.p[i] == ':')
			return i;
		if (!is_alnum(s.p[i]) && s.p[i] != '+' && s.p[i] != '-' &&
		    s.p[i] != '.')
			return 0;
	}
	return 0;
}

/*
 * Break a URI into its parts (RFC 3261 §19.1.1, §25.1). Leading and
 * trailing LWS is ignored; inside the URI no LWS or control is allowed.
 * sip: and sips: URIs are split fully and need a non-empty host; the
 * userinfo ends at the first '@', since neither user, password, params
 * nor headers may contain an unescaped '@'. A user may contain ';' and '?'
 * (RFC 4475 §3.1.1.2, §3.1.1.9). tel: URIs (RFC 3966) fill user with the
 * number and params; host stays empty. Views point into s.
 * Returns 0; -EINVAL if malformed; -EPROTONOSUPPORT for any other scheme,
 * in which case only u->scheme is filled (the URI is syntactically a URI).
 */
int sg_sip_uri_parse(struct sg_str s, struct sg_sip_uri *u)
{
	const char *p;
	size_t n, i, at, c, slen;

	memset(u, 0, sizeof(*u));
	s = sg_str_trim(s);
	if (s.len == 0 || (slen = scheme_len(s)) == 0)
		return -EINVAL;
	p = s.p;
	n = s.len;
	for (i = slen + 1; i < n; i++)
		if (!is_uri_char(p[i]))
			return -EINVAL;
	u->scheme = sg_str_make(p, slen);
	i = slen + 1;
	if (sg_str_caseeq_lit(u->scheme, "tel")) {
		for (c = i; c < n && p[c] != ';'; c++)
			if (p[c] == '?' || p[c] == '@')
				return -EINVAL;
		if (c == i)
			return -EINVAL;
		u->user = str_sub(s, i, c);
		u->params = str_sub(s, c, n);
		return 0;
	}
	if (!sg_str_caseeq_lit(u->scheme, "sip") &&
	    !sg_str_caseeq_lit(u->scheme, "sips"))
		return -EPROTONOSUPPORT;

	/* userinfo "@" */
	for (at = i; at < n && p[at] != '@'; at++)
		;
	if (at < n) {
		for (c = i; c < at && p[c] != ':'; c++)
			;
		if (c == i)
			return -EINVAL;
		u->user = str_sub(s, i, c);
		if (c < at)
			u->password = str_sub(s, c + 1, at);
		i = at + 1;
	}
	/* hostport */
	if ((i = parse_hostport(p, n, i, false, &u->host, &u->host_is_v6,
	    &u->port)) == 0)
		return -EINVAL;
	/* uri-parameters: up to the headers. */
	if (i < n && p[i] == ';') {
		for (c = i; c < n && p[c] != '?'; c++)
			;
		u->params = str_sub(s, i, c);
		i = c;
	}
	/* headers: the rest, '?' included. */
	if (i < n && p[i] == '?') {
		u->headers = str_sub(s, i, n);
		i = n;
	}
	return i == n ? 0 : -EINVAL;
}

/*
 * Find the parameter called name (case-insensitive, RFC 3261 §7.3.1) in a
 * ";a=b;c" parameter string; LWS around ';' and '=' is ignored and ';'
 * inside quoted strings does not split. *val is the trimmed value, empty
 * for a flag; a quoted-string value is returned with its quotes. Returns
 * true when found (the first occurrence wins).
 */
bool sg_sip_param_get(struct sg_str params, const char *name,
		      struct sg_str *val)
{
	struct sg_str want = sg_str_make(name, strlen(name));
	const char *p = params.p;
	size_t n = params.len, i = 0, s, eq, q;

	while (i < n) {
		/* One element: up to the next ';' outside quotes. */
		for (s = i, eq = SIZE_MAX; i < n && p[i] != ';'; i++) {
			if (p[i] == '"') {
				if ((q = skip_quoted(p, n, i)) == 0) {
					i = n;
					break;
				}
				i = q - 1;
			} else if (p[i] == '=' && eq == SIZE_MAX) {
				eq = i;
			}
		}
		if (i > s) {
			struct sg_str nm, v = sg_str_make(p + i, 0);

			if (eq != SIZE_MAX) {
				nm = sg_str_trim(sg_str_make(p + s, eq - s));
				v = sg_str_trim(sg_str_make(p + eq + 1,
				    i - eq - 1));
			} else {
				nm = sg_str_trim(sg_str_make(p + s, i - s));
			}
			if (sg_str_caseeq(nm, want)) {
				if (val != NULL)
					*val = v;
				return true;
			}
		}
		i++;	/* past ';' */
	}
	return false;
}

/* A URI taken from a name-addr or addr-spec: a scheme, then URI bytes. */
static bool naddr_uri_is_valid(struct sg_str uri)
{
	size_t i;

	if (scheme_len(uri) == 0)
		return false;
	for (i = 0; i < uri.len; i++)
		if (!is_uri_char(uri.p[i]))
			return false;
	return true;
}

/*
 * Parse a name-addr or addr-spec with header params (RFC 3261 §20.10,
 * §25.1): "\"Display\" <uri>;p", "Name <uri>;p", "<uri>", the bare
 * "sip:a@b;tag=1" (its params are header params: uri stops at the first
 * ';') and "*" (Contact). LWS inside <> around the URI is tolerated
 * (RFC 4475 §3.1.2.14 badaspec). An unquoted display name must be tokens
 * and LWS (RFC 4475 §3.1.2.15 baddn). display keeps its quotes.
 * Returns 0, or -EINVAL when malformed.
 */
int sg_sip_naddr_parse(struct sg_str s, struct sg_sip_naddr *na)
{
	const char *p;
	size_t n, i, lt, gt;

	memset(na, 0, sizeof(*na));
	s = sg_str_trim(s);
	if (s.len == 0)
		return -EINVAL;
	p = s.p;
	n = s.len;
	if (n == 1 && p[0] == '*') {
		na->uri = s;
		return 0;
	}
	if (p[0] == '"') {
		if ((i = skip_quoted(p, n, 0)) == 0)
			return -EINVAL;
		na->display = str_sub(s, 0, i);
		lt = skip_lws(p, n, i);
		if (lt == n || p[lt] != '<')
			return -EINVAL;
	} else {
		/*
		 * Liberal where it costs nothing: phones put UTF-8 names
		 * unquoted; a comma or quote still ends it (baddn).
		 */
		for (lt = 0; lt < n && p[lt] != '<'; lt++)
			if (!is_token_char(p[lt]) && !is_lws(p[lt]) &&
			    (unsigned char)p[lt] < 0x80)
				break;
		if (lt == n || p[lt] != '<') {
			/* No '<' after a display name: a bare addr-spec. */
			for (i = 0; i < n && p[i] != ';'; i++)
				;
			na->uri = sg_str_trim(str_sub(s, 0, i));
			na->params = str_sub(s, i, n);
			if (!naddr_uri_is_valid(na->uri) ||
			    !params_are_valid(na->params))
				return -EINVAL;
			return 0;
		}
		na->display = sg_str_trim(str_sub(s, 0, lt));
	}
	for (gt = lt + 1; gt < n && p[gt] != '>'; gt++)
		;
	if (gt == n)
		return -EINVAL;
	na->bracketed = true;
	na->uri = sg_str_trim(str_sub(s, lt + 1, gt));
	na->params = sg_str_trim(str_sub(s, gt + 1, n));
	if (!naddr_uri_is_valid(na->uri) || !params_are_valid(na->params))
		return -EINVAL;
	return 0;
}

/* Take a token at p[i]; returns the offset after it (== i when none). */
static size_t take_token(const char *p, size_t n, size_t i, struct sg_str *t)
{
	size_t s = i;

	while (i < n && is_token_char(p[i]))
		i++;
	*t = sg_str_make(p + s, i - s);
	return i;
}

/*
 * Parse one Via element (RFC 3261 §20.42, §25.1 via-parm):
 * "SIP / 2.0 / transport LWS sent-by *( SEMI via-params )", with LWS
 * allowed around '/', ':', ';' and '=' (RFC 4475 §3.1.1.1 wsinv). Only
 * SIP/2.0 is accepted. branch is the branch parameter value, if any.
 * Returns 0, or -EINVAL when malformed (e.g. empty params, RFC 4475
 * §3.1.2.1 badinv01).
 */
int sg_sip_via_parse(struct sg_str s, struct sg_sip_via *v)
{
	struct sg_str t;
	const char *p;
	size_t n, i, j;

	memset(v, 0, sizeof(*v));
	s = sg_str_trim(s);
	if (s.len == 0)
		return -EINVAL;
	p = s.p;
	n = s.len;
	i = take_token(p, n, 0, &t);
	if (!sg_str_caseeq_lit(t, "SIP"))
		return -EINVAL;
	i = skip_lws(p, n, i);
	if (i == n || p[i] != '/')
		return -EINVAL;
	i = take_token(p, n, skip_lws(p, n, i + 1), &t);
	if (!sg_str_eq(t, SG_STR("2.0")))
		return -EINVAL;
	i = skip_lws(p, n, i);
	if (i == n || p[i] != '/')
		return -EINVAL;
	i = take_token(p, n, skip_lws(p, n, i + 1), &v->transport);
	if (v->transport.len == 0)
		return -EINVAL;
	j = skip_lws(p, n, i);
	if (j == i)
		return -EINVAL;
	if ((i = parse_hostport(p, n, j, true, &v->host, &v->host_is_v6,
	    &v->port)) == 0)
		return -EINVAL;
	v->params = sg_str_trim(str_sub(s, i, n));
	if (!params_are_valid(v->params))
		return -EINVAL;
	if (!sg_sip_param_get(v->params, "branch", &v->branch))
		v->branch = sg_str_make(v->params.p, 0);
	return 0;
}

/*
 * Iterate the elements of a comma-separated header value (RFC 3261 §7.3.1).
 * Commas inside quoted strings (with backslash escapes) and inside <> do
 * not split. Elements are trimmed of LWS; empty elements are skipped.
 * Returns false when no element is left.
 */
bool sg_sip_list_next(struct sg_str *rest, struct sg_str *elem)
{
	const char *p = rest->p;
	size_t n = rest->len, i = 0, s, q;
	bool angle;

	while (i < n) {
		for (s = i, angle = false; i < n; i++) {
			if (p[i] == '"') {
				if ((q = skip_quoted(p, n, i)) == 0) {
					i = n;
					break;
				}
				i = q - 1;
			} else if (p[i] == '<') {
				angle = true;
			} else if (p[i] == '>') {
				angle = false;
			} else if (p[i] == ',' && !angle) {
				break;
			}
		}
		*elem = sg_str_trim(sg_str_make(p + s, i - s));
		if (i < n)
			i++;	/* past ',' */
		if (elem->len > 0) {
			*rest = sg_str_make(p + i, n - i);
			return true;
		}
	}
	if (n > 0)
		*rest = sg_str_make(p + n, 0);
	return false;
}

const struct sg_sip_hdr *sg_sip_hdr_find(const struct sg_sip_msg *m,
					  enum sg_sip_hdr_id id)
{
	if ((int)id < 0 || id >= SG_SIP_HDR__COUNT || m->first[id] < 0 ||
	    (unsigned)m->first[id] >= m->nhdrs)
		return NULL;
	return &m->hdrs[m->first[id]];
}

size_t sg_sip_skip_crlf(const char *buf, size_t len)
{
	size_t i = 0;

	while (i < len && (buf[i] == '\r' || buf[i] == '\n'))
		i++;
	return i;
}

/* The header names we know, with their compact forms (RFC 3261 §7.3.3). */
static const struct {
	const char *name;
	char compact;
	enum sg_sip_hdr_id id;
} hdr_names[] = {
	{ "Via", 'v', SG_SIP_HDR_VIA },
	{ "From", 'f', SG_SIP_HDR_FROM },
	{ "To", 't', SG_SIP_HDR_TO },
	{ "Call-ID", 'i', SG_SIP_HDR_CALL_ID },
	{ "CSeq", 0, SG_SIP_HDR_CSEQ },
	{ "Max-Forwards", 0, SG_SIP_HDR_MAX_FORWARDS },
	{ "Contact", 'm', SG_SIP_HDR_CONTACT },
	{ "Route", 0, SG_SIP_HDR_ROUTE },
	{ "Record-Route", 0, SG_SIP_HDR_RECORD_ROUTE },
	{ "Content-Length", 'l', SG_SIP_HDR_CONTENT_LENGTH },
	{ "Content-Type", 'c', SG_SIP_HDR_CONTENT_TYPE },
	{ "Path", 0, SG_SIP_HDR_PATH },
	{ "Supported", 'k', SG_SIP_HDR_SUPPORTED },
	{ "Require", 0, SG_SIP_HDR_REQUIRE },
	{ "Proxy-Require", 0, SG_SIP_HDR_PROXY_REQUIRE },
	{ "Expires", 0, SG_SIP_HDR_EXPIRES },
};

static enum sg_sip_hdr_id hdr_id(struct sg_str name)
{
	size_t i;

	for (i = 0; i < SG_ARRAY_SIZE(hdr_names); i++) {
		if (name.len == 1 ? lower(name.p[0]) == hdr_names[i].compact :
		    sg_str_caseeq_lit(name, hdr_names[i].name))
			return hdr_names[i].id;
	}
	return SG_SIP_HDR_OTHER;
}

/*
 * Offset just past the empty line that ends the head starting at off, or
 * 0 when there is none yet. Lines end in CRLF or a bare LF.
 */
static size_t find_head_end(const char *buf, size_t len, size_t off)
{
	const char *lf;
	size_t i = off;

	while (i < len && (lf = memchr(buf + i, '\n', len - i)) != NULL) {
		i = (size_t)(lf - buf) + 1;
		if (i < len && buf[i] == '\n')
			return i + 1;
		if (i + 1 < len && buf[i] == '\r' && buf[i + 1] == '\n')
			return i + 2;
	}
	return 0;
}

/*
 * Stream framing (RFC 3261 §18.3): leading CRLFs are counted in the
 * length (RFC 3261 §7.5 says to ignore them), but a caller answering
 * RFC 5626 keep-alives strips them first with sg_sip_skip_crlf().
 */
ssize_t sg_sip_frame(const char *buf, size_t len)
{
	size_t off, head_end, i, eol, s, cl = 0, total;
	bool have_cl = false;
	uint64_t v;

	off = sg_sip_skip_crlf(buf, len);
	if ((head_end = find_head_end(buf, len, off)) == 0)
		return len - off > SG_SIP_MAX_MSG ? -EMSGSIZE : 0;
	if (head_end - off > SG_SIP_MAX_MSG)
		return -EMSGSIZE;
	/* Skip the start line, then look at each header field line. */
	for (i = off; buf[i] != '\n'; i++)
		;
	for (i++; i < head_end; i = eol + 1) {
		struct sg_str name, val;

		for (eol = i; buf[eol] != '\n'; eol++)
			;
		if (is_wsp(buf[i]))
			continue;
		for (s = i; i < eol && is_token_char(buf[i]); i++)
			;
		name = sg_str_make(buf + s, i - s);
		while (i < eol && is_wsp(buf[i]))
			i++;
		if (i == eol || buf[i] != ':' ||
		    hdr_id(name) != SG_SIP_HDR_CONTENT_LENGTH)
			continue;
		/* The value, continuation lines included. */
		s = i + 1;
		while (eol + 1 < head_end && is_wsp(buf[eol + 1]))
			for (eol++; buf[eol] != '\n'; eol++)
				;
		val = sg_str_trim(sg_str_make(buf + s, eol - s));
		if (!parse_digits(val, &v) || (have_cl && v != cl))
			return -EBADMSG;
		cl = (size_t)v;
		have_cl = true;
	}
	if (!have_cl)
		return -EBADMSG;
	if (cl > SG_SIP_MAX_MSG || head_end - off + cl > SG_SIP_MAX_MSG)
		return -EMSGSIZE;
	total = head_end + cl;
	return total > len ? 0 : (ssize_t)total;
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
 * Check the bytes of one header field (folded lines included): a CR must
 * start a CRLF and a NUL may only appear as a quoted-pair inside a
 * quoted-string, which RFC 3261 §25.1 allows (RFC 4475 §3.1.1.2 intmeth).
 * Returns NULL when fine, else the reason.
 */
static const char *check_hdr_bytes(const char *p, size_t n)
{
	bool quoted = false;
	size_t i;

	for (i = 0; i < n; i++) {
		if (p[i] == '\r' && (i + 1 == n || p[i + 1] != '\n'))
			return "bare CR in header";
		if (p[i] == '\0')
			return "NUL byte in header";
		if (quoted && p[i] == '\\' && i + 1 < n && p[i + 1] != '\r' &&
		    p[i + 1] != '\n')
			i++;
		else if (p[i] == '"')
			quoted = !quoted;
	}
	return NULL;
}

/* Request-Line or Status-Line (RFC 3261 §7.1, §7.2, §25.1). */
static int parse_start_line(struct sg_sip_msg *m, struct sg_str l,
			    struct sg_perr *err)
{
	struct sg_sip_uri u;
	const char *sp1, *sp2;
	struct sg_str first, rest;
	size_t i;
	int rc;

	for (i = 0; i < l.len; i++) {
		if (l.p[i] == '\0')
			return fail(err, 1, "NUL byte in start line", -EBADMSG);
		if (l.p[i] == '\r')
			return fail(err, 1, "bare CR in start line", -EBADMSG);
	}
	m->start_line = l;
	if ((sp1 = memchr(l.p, ' ', l.len)) == NULL)
		return fail(err, 1, "malformed start line", -EBADMSG);
	first = sg_str_make(l.p, (size_t)(sp1 - l.p));
	rest = sg_str_make(sp1 + 1, l.len - first.len - 1);
	if (memchr(first.p, '/', first.len) != NULL) {
		/* Status-Line = SIP-Version SP Status-Code SP Reason-Phrase */
		m->is_request = false;
		if (!sg_str_caseeq_lit(first, "SIP/2.0"))
			return fail(err, 1, "unsupported SIP version",
			    -EBADMSG);
		m->version = first;
		if (rest.len < 4 || rest.p[0] < '1' || rest.p[0] > '6' ||
		    !is_digit(rest.p[1]) || !is_digit(rest.p[2]) ||
		    rest.p[3] != ' ')
			return fail(err, 1, "bad status code", -EBADMSG);
		m->status = (unsigned)(rest.p[0] - '0') * 100 +
		    (unsigned)(rest.p[1] - '0') * 10 +
		    (unsigned)(rest.p[2] - '0');
		m->reason = sg_str_make(rest.p + 4, rest.len - 4);
		for (i = 0; i < m->reason.len; i++) {
			unsigned char c = (unsigned char)m->reason.p[i];

			if ((c < 0x20 && c != '\t') || c == 0x7f)
				return fail(err, 1, "control in reason phrase",
				    -EBADMSG);
		}
		return 0;
	}
	/* Request-Line = Method SP Request-URI SP SIP-Version */
	m->is_request = true;
	if (first.len == 0)
		return fail(err, 1, "malformed start line", -EBADMSG);
	for (i = 0; i < first.len; i++)
		if (!is_token_char(first.p[i]))
			return fail(err, 1, "bad method", -EBADMSG);
	m->method = first;
	if ((sp2 = memchr(rest.p, ' ', rest.len)) == NULL)
		return fail(err, 1, "missing SIP version", -EBADMSG);
	m->ruri = sg_str_make(rest.p, (size_t)(sp2 - rest.p));
	m->version = sg_str_make(sp2 + 1, rest.len - m->ruri.len - 1);
	if (!sg_str_caseeq_lit(m->version, "SIP/2.0")) {
		if (m->version.len > 4 && memchr(m->version.p, ' ',
		    m->version.len) == NULL &&
		    sg_str_caseeq_lit(sg_str_make(m->version.p, 4), "SIP/"))
			return fail(err, 1, "unsupported SIP version",
			    -EBADMSG);
		return fail(err, 1, "malformed start line", -EBADMSG);
	}
	/* Only sip:, sips: and tel: are split; any other scheme only has to
	 * be a syntactically valid absoluteURI (RFC 4475 §3.3.3 novelsc). */
	rc = sg_sip_uri_parse(m->ruri, &u);
	if (m->ruri.len == 0 || (rc < 0 && rc != -EPROTONOSUPPORT))
		return fail(err, 1, "malformed Request-URI", -EBADMSG);
	return 0;
}

/* CSeq = 1*DIGIT LWS Method, the number below 2**31 (RFC 3261 §8.1.1.5). */
static bool parse_cseq(struct sg_str v, uint32_t *num, struct sg_str *method)
{
	uint64_t n;
	size_t i, j;

	for (i = 0; i < v.len && is_digit(v.p[i]); i++)
		;
	if (!parse_digits(sg_str_make(v.p, i), &n) || n >= UINT64_C(1) << 31)
		return false;
	j = skip_lws(v.p, v.len, i);
	if (j == i || j == v.len)
		return false;
	*method = sg_str_make(v.p + j, v.len - j);
	for (i = 0; i < method->len; i++)
		if (!is_token_char(method->p[i]))
			return false;
	*num = (uint32_t)n;
	return true;
}

/* Per-message state of the single-valued headers while parsing. */
struct hdr_state {
	bool have_cseq, have_mf, have_cl;
	uint64_t cl;
};

/* Interpret one header the proxy relies on. Returns NULL or a reason. */
static const char *check_header(struct sg_sip_msg *m, struct hdr_state *st,
				const struct sg_sip_hdr *h)
{
	struct sg_str rest, el, meth;
	struct sg_sip_naddr na;
	struct sg_sip_via via;
	uint32_t num;
	uint64_t v;
	size_t i, n;

	switch (h->id) {
	case SG_SIP_HDR_VIA:
		rest = h->value;
		for (n = 0; sg_sip_list_next(&rest, &el); n++)
			if (sg_sip_via_parse(el, &via) < 0)
				return "malformed Via";
		return n == 0 ? "empty Via" : NULL;
	case SG_SIP_HDR_FROM:
		return sg_sip_naddr_parse(h->value, &na) < 0 ?
		    "malformed From" : NULL;
	case SG_SIP_HDR_TO:
		return sg_sip_naddr_parse(h->value, &na) < 0 ?
		    "malformed To" : NULL;
	case SG_SIP_HDR_CALL_ID:
		if (h->value.len == 0)
			return "malformed Call-ID";
		for (i = 0; i < h->value.len; i++)
			if (is_lws(h->value.p[i]))
				return "malformed Call-ID";
		if (m->call_id.p != NULL && !sg_str_eq(m->call_id, h->value))
			return "conflicting Call-ID";
		m->call_id = h->value;
		return NULL;
	case SG_SIP_HDR_CSEQ:
		if (!parse_cseq(h->value, &num, &meth))
			return "malformed CSeq";
		if (st->have_cseq && (num != m->cseq_num ||
		    !sg_str_eq(meth, m->cseq_method)))
			return "conflicting CSeq";
		st->have_cseq = true;
		m->cseq_num = num;
		m->cseq_method = meth;
		return NULL;
	case SG_SIP_HDR_MAX_FORWARDS:
		if (!parse_digits(h->value, &v) || v > 255)
			return "malformed Max-Forwards";
		if (st->have_mf && (int)v != m->max_forwards)
			return "conflicting Max-Forwards";
		st->have_mf = true;
		m->max_forwards = (int)v;
		return NULL;
	case SG_SIP_HDR_CONTENT_LENGTH:
		if (!parse_digits(h->value, &v))
			return "malformed Content-Length";
		if (st->have_cl && v != st->cl)
			return "conflicting Content-Length";
		st->have_cl = true;
		st->cl = v;
		return NULL;
	default:
		return NULL;
	}
}

/*
 * Parse one message. Leading CRLFs are skipped (RFC 3261 §7.5) and count
 * in total_len, which is measured from buf. The head must end with an
 * empty line. See sip_msg.h for the Content-Length rules per transport.
 */
int sg_sip_parse(struct sg_sip_msg *m, const char *buf, size_t len,
		 bool is_stream, struct sg_perr *err)
{
	static const struct {
		enum sg_sip_hdr_id id;
		const char *reason;
	} mandatory[] = {
		{ SG_SIP_HDR_VIA, "missing Via" },
		{ SG_SIP_HDR_FROM, "missing From" },
		{ SG_SIP_HDR_TO, "missing To" },
		{ SG_SIP_HDR_CALL_ID, "missing Call-ID" },
		{ SG_SIP_HDR_CSEQ, "missing CSeq" },
	};
	struct hdr_state st = { false, false, false, 0 };
	const char *lf, *reason;
	size_t off, head_end, i, eol, ce, hs, name_end, avail;
	unsigned line;
	int rc;

	m->is_request = false;
	m->method = m->ruri = m->reason = m->version = SG_STR_NULL;
	m->start_line = m->call_id = m->cseq_method = m->body = SG_STR_NULL;
	m->status = 0;
	m->nhdrs = 0;
	m->cseq_num = 0;
	m->max_forwards = -1;
	m->total_len = 0;
	for (i = 0; i < SG_SIP_HDR__COUNT; i++)
		m->first[i] = -1;
	if (err != NULL) {
		err->line = 0;
		err->reason = NULL;
	}
	if (buf == NULL || len == 0)
		return fail(err, 0, "empty message", -EBADMSG);

	off = sg_sip_skip_crlf(buf, len);
	if (!is_stream && len - off > SG_SIP_MAX_MSG)
		return fail(err, 0, "message too large", -EMSGSIZE);
	if ((head_end = find_head_end(buf, len, off)) == 0) {
		if (len - off > SG_SIP_MAX_MSG)
			return fail(err, 0, "message too large", -EMSGSIZE);
		return fail(err, 0, "no empty line after header",
		    -EBADMSG);
	}
	if (head_end - off > SG_SIP_MAX_MSG)
		return fail(err, 0, "message too large", -EMSGSIZE);

	/* Start line. The head ends in an empty line, so every line inside
	 * it has its LF and the searches below stay within head_end. */
	lf = memchr(buf + off, '\n', head_end - off);
	eol = (size_t)(lf - buf);
	ce = (eol > off && buf[eol - 1] == '\r') ? eol - 1 : eol;
	if ((rc = parse_start_line(m, sg_str_make(buf + off, ce - off),
	    err)) < 0)
		return rc;

	/* Header fields with their continuation lines (RFC 3261 §7.3.1). */
	line = 2;
	for (i = eol + 1; i < head_end; line++) {
		struct sg_sip_hdr *h;
		unsigned hline = line;

		lf = memchr(buf + i, '\n', head_end - i);
		eol = (size_t)(lf - buf);
		ce = (eol > i && buf[eol - 1] == '\r') ? eol - 1 : eol;
		if (ce == i)
			break;		/* the empty line */
		if (is_wsp(buf[i]))
			return fail(err, line,
			    "continuation line without header", -EBADMSG);
		hs = i;
		while (eol + 1 < head_end && is_wsp(buf[eol + 1])) {
			lf = memchr(buf + eol + 1, '\n', head_end - eol - 1);
			eol = (size_t)(lf - buf);
			line++;
		}
		ce = (buf[eol - 1] == '\r') ? eol - 1 : eol;
		if ((reason = check_hdr_bytes(buf + hs, ce - hs)) != NULL)
			return fail(err, hline, reason, -EBADMSG);
		if (m->nhdrs == SG_SIP_MAX_HDRS)
			return fail(err, hline, "too many headers", -EBADMSG);
		h = &m->hdrs[m->nhdrs];
		for (name_end = hs; name_end < ce &&
		    is_token_char(buf[name_end]); name_end++)
			;
		h->name = sg_str_make(buf + hs, name_end - hs);
		while (name_end < ce && is_wsp(buf[name_end]))
			name_end++;
		if (h->name.len == 0 || name_end == ce || buf[name_end] != ':')
			return fail(err, hline, "malformed header (no colon)",
			    -EBADMSG);
		h->id = hdr_id(h->name);
		h->value = sg_str_trim(sg_str_make(buf + name_end + 1,
		    ce - name_end - 1));
		h->raw = sg_str_make(buf + hs, eol + 1 - hs);
		if ((reason = check_header(m, &st, h)) != NULL)
			return fail(err, hline, reason, -EBADMSG);
		if (m->first[h->id] < 0)
			m->first[h->id] = (int)m->nhdrs;
		m->nhdrs++;
		i = eol + 1;
	}

	for (i = 0; i < SG_ARRAY_SIZE(mandatory); i++)
		if (m->first[mandatory[i].id] < 0)
			return fail(err, 0, mandatory[i].reason, -EBADMSG);
	/* RFC 3261 §8.1.1.5: the CSeq method matches the request method. */
	if (m->is_request && !sg_str_eq(m->method, m->cseq_method))
		return fail(err, 0, "CSeq method does not match request",
		    -EBADMSG);

	/* Body (RFC 3261 §18.3, §20.14). */
	avail = len - head_end;
	if (is_stream) {
		if (!st.have_cl)
			return fail(err, 0, "missing Content-Length", -EBADMSG);
		if (st.cl > SG_SIP_MAX_MSG ||
		    head_end - off + st.cl > SG_SIP_MAX_MSG)
			return fail(err, 0, "message too large", -EMSGSIZE);
		if (st.cl > avail)
			return fail(err, 0, "truncated body", -EBADMSG);
	} else if (st.have_cl && st.cl > avail) {
		return fail(err, 0, "Content-Length exceeds datagram",
		    -EBADMSG);
	}
	if (st.have_cl)
		avail = (size_t)st.cl;
	m->body = sg_str_make(buf + head_end, avail);
	m->total_len = head_end + avail;
	return 0;
}

/* Sorted by code: looked up with bsearch(). */
static const struct sip_reason {
	unsigned code;
	const char *phrase;
} sip_reasons[] = {
	{ 100, "Trying" },
	{ 180, "Ringing" },
	{ 183, "Session Progress" },
	{ 200, "OK" },
	{ 400, "Bad Request" },
	{ 403, "Forbidden" },
	{ 404, "Not Found" },
	{ 408, "Request Timeout" },
	{ 413, "Request Entity Too Large" },
	{ 420, "Bad Extension" },
	{ 430, "Flow Failed" },			/* RFC 5626 */
	{ 481, "Call/Transaction Does Not Exist" },
	{ 482, "Loop Detected" },
	{ 483, "Too Many Hops" },
	{ 487, "Request Terminated" },
	{ 488, "Not Acceptable Here" },
	{ 500, "Server Internal Error" },
	{ 503, "Service Unavailable" },
	{ 513, "Message Too Large" },
};

static int reason_cmp(const void *k, const void *e)
{
	unsigned code = *(const unsigned *)k;
	const struct sip_reason *r = e;

	return code < r->code ? -1 : code > r->code;
}

const char *sg_sip_reason(unsigned code)
{
	static const char *const class_phrase[] = { "Unknown", "Trying", "OK",
	    "Redirection", "Bad Request", "Server Internal Error",
	    "Global Failure" };
	const struct sip_reason *r = bsearch(&code, sip_reasons,
	    SG_ARRAY_SIZE(sip_reasons), sizeof(sip_reasons[0]), reason_cmp);

	if (r != NULL)
		return r->phrase;
	return class_phrase[code >= 100 && code < 700 ? code / 100 : 0];
}
