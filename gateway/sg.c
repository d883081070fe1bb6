/* SPDX-License-Identifier: MIT */
/* sg.c: helpers on string views (struct sg_str). */
#include <errno.h>
#include <strings.h>

#include "sg.h"

bool sg_str_caseeq(struct sg_str a, struct sg_str b)
{
	return a.len == b.len && (a.len == 0 ||
	    strncasecmp(a.p, b.p, a.len) == 0);
}

bool sg_str_caseeq_lit(struct sg_str a, const char *lit)
{
	return sg_str_caseeq(a, sg_str_make(lit, strlen(lit)));
}

struct sg_str sg_str_trim(struct sg_str s)
{
	while (s.len > 0 && (s.p[0] == ' ' || s.p[0] == '\t' ||
	    s.p[0] == '\r' || s.p[0] == '\n')) {
		s.p++;
		s.len--;
	}
	while (s.len > 0 && (s.p[s.len - 1] == ' ' || s.p[s.len - 1] == '\t' ||
	    s.p[s.len - 1] == '\r' || s.p[s.len - 1] == '\n'))
		s.len--;
	return s;
}

int sg_str_to_u32(struct sg_str s, uint32_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (s.len == 0 || s.len > 10)
		return -EINVAL;
	for (i = 0; i < s.len; i++) {
		if (s.p[i] < '0' || s.p[i] > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(s.p[i] - '0');
	}
	if (v > UINT32_MAX)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}
