/* SPDX-License-Identifier: MIT */
/*
 * fuzz_sip_msg.c: libFuzzer target for the SIP parser (gateway/sip_msg.c).
 * Feeds the input to sg_sip_parse() in both transport modes and to the
 * stream framer, then walks every Via, Contact, Route, Record-Route, From
 * and To header of a parsed message through the element parsers. Built
 * with -fsanitize=fuzzer,address,undefined, or linked with replay.c.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sip_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Keep results observable so the compiler cannot drop the calls. */
static volatile size_t sink;

static void walk_uri(struct sg_str s)
{
	struct sg_sip_uri u;
	struct sg_str v;

	if (sg_sip_uri_parse(s, &u) == 0) {
		sink += u.host.len + u.port + u.user.len + u.headers.len;
		if (sg_sip_param_get(u.params, "transport", &v))
			sink += v.len;
		if (sg_sip_param_get(u.params, "lr", &v))
			sink++;
	}
}

static void walk_msg(const struct sg_sip_msg *m)
{
	const struct sg_sip_hdr *h;
	struct sg_sip_naddr na;
	struct sg_sip_via via;
	struct sg_str rest, el, v;
	unsigned i;

	if (m->is_request)
		walk_uri(m->ruri);
	for (i = 0; i < m->nhdrs; i++) {
		h = &m->hdrs[i];
		switch (h->id) {
		case SG_SIP_HDR_VIA:
			rest = h->value;
			while (sg_sip_list_next(&rest, &el)) {
				if (sg_sip_via_parse(el, &via) == 0) {
					sink += via.branch.len + via.port;
					if (sg_sip_param_get(via.params,
					    "received", &v))
						sink += v.len;
				}
			}
			break;
		case SG_SIP_HDR_CONTACT:
		case SG_SIP_HDR_ROUTE:
		case SG_SIP_HDR_RECORD_ROUTE:
		case SG_SIP_HDR_PATH:
			rest = h->value;
			while (sg_sip_list_next(&rest, &el)) {
				if (sg_sip_naddr_parse(el, &na) == 0) {
					walk_uri(na.uri);
					if (sg_sip_param_get(na.params,
					    "expires", &v))
						sink += v.len;
				}
			}
			break;
		case SG_SIP_HDR_FROM:
		case SG_SIP_HDR_TO:
			if (sg_sip_naddr_parse(h->value, &na) == 0) {
				walk_uri(na.uri);
				if (sg_sip_param_get(na.params, "tag", &v))
					sink += v.len;
			}
			break;
		default:
			break;
		}
	}
	for (i = 0; i < SG_SIP_HDR__COUNT; i++)
		if ((h = sg_sip_hdr_find(m, (enum sg_sip_hdr_id)i)) != NULL)
			sink += h->raw.len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sg_sip_msg m;
	struct sg_perr err;
	char *buf;
	ssize_t n;
	size_t off;

	/* An exact-size copy, so any read past the end is caught. */
	if ((buf = malloc(size ? size : 1)) == NULL)
		return 0;
	if (size > 0)
		memcpy(buf, data, size);
	else
		buf[0] = '\0';	/* never read; silences GCC */

	if (sg_sip_parse(&m, buf, size, false, &err) == 0) {
		if (m.total_len > size || m.body.len > size)
			abort();
		walk_msg(&m);
	}
	/* Stream mode: frame and parse each message in turn. */
	off = 0;
	while (off < size) {
		off += sg_sip_skip_crlf(buf + off, size - off);
		n = sg_sip_frame(buf + off, size - off);
		if (n <= 0)
			break;
		if (sg_sip_parse(&m, buf + off, (size_t)n, true, &err) == 0) {
			if (m.total_len != (size_t)n)
				abort();
			walk_msg(&m);
		}
		off += (size_t)n;
	}
	/* The element parsers on raw input too. */
	{
		struct sg_str s = sg_str_make(buf, size), el;
		struct sg_sip_naddr na;
		struct sg_sip_via via;
		struct sg_str v;

		(void)sg_sip_via_parse(s, &via);
		(void)sg_sip_naddr_parse(s, &na);
		(void)sg_sip_param_get(s, "branch", &v);
		walk_uri(s);
		while (sg_sip_list_next(&s, &el))
			sink += el.len;
	}
	free(buf);
	return 0;
}
