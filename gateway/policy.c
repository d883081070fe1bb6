/* SPDX-License-Identifier: MIT */
/*
 * policy.c: the media invariant of DESIGN §4 as predicates on bodies, and
 * the SDP inside multipart bodies (RFC 2046 §5.1, RFC 5621). Pure: no I/O,
 * no allocation. Bodies come from the network: every read is bounded by
 * the view's length and nothing assumes a NUL. The predicates are
 * deliberately blunt (a substring anywhere, any case): they back the
 * session logic up, so they must not depend on the parsing they check.
 */
#include <errno.h>

#include "policy.h"

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Does s contain needle (lower case ASCII), in any letter case? */
static bool contains_ci(struct sg_str s, const char *needle)
{
	size_t n = strlen(needle), i, j;

	if (n == 0 || s.len < n)
		return n == 0;
	for (i = 0; i + n <= s.len; i++) {
		for (j = 0; j < n && lower(s.p[i + j]) == needle[j]; j++)
			;
		if (j == n)
			return true;
	}
	return false;
}

bool sg_policy_has_secret(struct sg_str body)
{
	static const char *secret[] = { "a=crypto", "a=fingerprint",
	    "a=key-mgmt", "rtp/savp" };
	size_t i;

	for (i = 0; i < SG_ARRAY_SIZE(secret); i++)
		if (contains_ci(body, secret[i]))
			return true;
	return false;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Cut the next blank-separated token off *s. */
static bool token(struct sg_str *s, struct sg_str *tok)
{
	size_t i = 0, start;

	while (i < s->len && is_blank(s->p[i]))
		i++;
	start = i;
	while (i < s->len && !is_blank(s->p[i]) && s->p[i] != '\r')
		i++;
	*tok = sg_str_make(s->p + start, i - start);
	*s = sg_str_make(s->p + i, s->len - i);
	return tok->len > 0;
}

bool sg_policy_has_plain_rtp(struct sg_str body)
{
	size_t pos = 0;

	while (pos < body.len) {
		const char *p = body.p + pos;
		const char *nl = memchr(p, '\n', body.len - pos);
		size_t len = nl ? (size_t)(nl - p) : body.len - pos;
		struct sg_str line = sg_str_make(p, len), media, port, proto;

		pos += len + 1;
		if (len < 2 || lower(p[0]) != 'm' || p[1] != '=')
			continue;
		line = sg_str_make(p + 2, len - 2);
		if (token(&line, &media) && token(&line, &port) &&
		    token(&line, &proto) &&
		    (sg_str_caseeq_lit(proto, "RTP/AVP") ||
		    sg_str_caseeq_lit(proto, "RTP/AVPF")))
			return true;
	}
	return false;
}

const char *sg_policy_check(struct sg_str body, bool to_inside, bool srtp)
{
	if (body.len == 0)
		return NULL;
	if (to_inside && sg_policy_has_secret(body))
		return "a=crypto, a=fingerprint, a=key-mgmt or RTP/SAVP toward"
		    " the inside";
	if (!to_inside && srtp && sg_policy_has_plain_rtp(body))
		return "RTP/AVP toward the outside (media = srtp)";
	return NULL;
}

/* Multipart bodies. */

/* The media type of a Content-Type value, without parameters. */
static struct sg_str media_type(struct sg_str ctype)
{
	size_t i;

	for (i = 0; i < ctype.len && ctype.p[i] != ';'; i++)
		;
	return sg_str_trim(sg_str_make(ctype.p, i));
}

/* The boundary parameter of a Content-Type value (quotes removed). */
static bool boundary_param(struct sg_str ctype, struct sg_str *b)
{
	size_t i = 0;

	while (i < ctype.len) {
		size_t start, eq = 0, end;
		bool q = false;

		while (i < ctype.len && ctype.p[i] != ';')
			i++;
		if (i >= ctype.len)
			return false;
		start = ++i;
		for (end = i; end < ctype.len && (q || ctype.p[end] != ';');
		    end++) {
			if (ctype.p[end] == '"')
				q = !q;
			else if (ctype.p[end] == '=' && eq == 0 && !q)
				eq = end;
		}
		if (eq != 0 && sg_str_caseeq_lit(sg_str_trim(sg_str_make(
		    ctype.p + start, eq - start)), "boundary")) {
			*b = sg_str_trim(sg_str_make(ctype.p + eq + 1,
			    end - eq - 1));
			if (b->len >= 2 && b->p[0] == '"' &&
			    b->p[b->len - 1] == '"')
				*b = sg_str_make(b->p + 1, b->len - 2);
			/* RFC 2046 §5.1.1: 1 to 70 characters. */
			return b->len >= 1 && b->len <= 70;
		}
		i = end;
	}
	return false;
}

/*
 * The next delimiter line "--boundary" at a line start at or after *pos;
 * *pos is set past its line. Returns 1 for a delimiter, 2 for the close
 * delimiter, 0 when there is none; *at is where the line (with the line
 * end before it, which belongs to the delimiter) starts.
 */
static int next_delim(struct sg_str body, struct sg_str b, size_t *pos,
		      size_t *at)
{
	size_t i;

	for (i = *pos; i + 2 + b.len <= body.len; i++) {
		const char *p = body.p + i;
		const char *nl;

		if (i != 0 && body.p[i - 1] != '\n')
			continue;
		if (p[0] != '-' || p[1] != '-' ||
		    memcmp(p + 2, b.p, b.len) != 0)
			continue;
		*at = i;
		if (i >= 1 && body.p[i - 1] == '\n')
			*at = i - 1 - (i >= 2 && body.p[i - 2] == '\r');
		p += 2 + b.len;
		nl = memchr(p, '\n', body.len - (size_t)(p - body.p));
		*pos = nl ? (size_t)(nl - body.p) + 1 : body.len;
		if ((size_t)(p - body.p) + 2 <= body.len && p[0] == '-' &&
		    p[1] == '-')
			return 2;
		return 1;
	}
	return 0;
}

/* The Content-Type of one body part (RFC 2045 §5.2: text/plain if none). */
static struct sg_str part_type(struct sg_str part, struct sg_str *content)
{
	struct sg_str type = SG_STR("text/plain");
	size_t pos = 0;

	while (pos < part.len) {
		const char *p = part.p + pos;
		const char *nl = memchr(p, '\n', part.len - pos);
		size_t len = nl ? (size_t)(nl - p) : part.len - pos;
		struct sg_str line = sg_str_make(p, len);
		const char *colon;

		pos += len + (nl != NULL);
		if (line.len > 0 && line.p[line.len - 1] == '\r')
			line.len--;
		if (line.len == 0) {
			*content = sg_str_make(part.p + pos, part.len - pos);
			return type;
		}
		colon = memchr(line.p, ':', line.len);
		if (colon && sg_str_caseeq_lit(sg_str_trim(sg_str_make(line.p,
		    (size_t)(colon - line.p))), "content-type"))
			type = media_type(sg_str_make(colon + 1, line.len -
			    (size_t)(colon + 1 - line.p)));
	}
	*content = SG_STR_NULL;		/* headers only, no content */
	return type;
}

int sg_body_find_sdp(struct sg_str ctype, struct sg_str body,
		     struct sg_body_sdp *out)
{
	struct sg_str type = media_type(ctype), b;
	size_t pos = 0, at, start;
	int d;

	memset(out, 0, sizeof(*out));
	if (body.len == 0)
		return 0;
	if (sg_str_caseeq_lit(type, "application/sdp")) {
		out->nsdp = 1;
		out->sdp = body;
		return 0;
	}
	if (type.len < 10 || !sg_str_caseeq_lit(sg_str_make(type.p, 10),
	    "multipart/"))
		return 0;
	out->multipart = true;
	if (!boundary_param(ctype, &b))
		return -EBADMSG;
	if ((d = next_delim(body, b, &pos, &at)) != 1)
		return -EBADMSG;	/* no first delimiter */
	for (;;) {
		struct sg_str part, content;

		start = pos;
		if ((d = next_delim(body, b, &pos, &at)) == 0)
			return -EBADMSG;	/* no close delimiter */
		part = sg_str_make(body.p + start, at > start ? at - start : 0);
		out->nparts++;
		if (sg_str_caseeq_lit(part_type(part, &content),
		    "application/sdp")) {
			if (out->nsdp++ == 0)
				out->sdp = content;
		}
		if (d == 2)
			return 0;
	}
}
