/* SPDX-License-Identifier: MIT */
/*
 * sg.h: shared basics for every sipsgate module: string views into
 * buffers, parse errors, container_of. No I/O, no allocation.
 */
#ifndef SIPSGATE_GATEWAY_SG_H
#define SIPSGATE_GATEWAY_SG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#define SG_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#ifndef container_of
#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))
#endif
#define SG_MIN(a, b) ((a) < (b) ? (a) : (b))
#define SG_MAX(a, b) ((a) > (b) ? (a) : (b))

/* A non-owning view of bytes; p need not be NUL-terminated. */
struct sg_str {
	const char *p;
	size_t len;
};

#define SG_STR(lit) ((struct sg_str){ (lit), sizeof(lit) - 1 })
#define SG_STR_NULL ((struct sg_str){ NULL, 0 })
#define SG_STR_FMT(s) (int)(s).len, (s).p	/* use with "%.*s" */

/* Where and why a parser refused its input. */
struct sg_perr {
	unsigned line;		/* 1-based line of the input, 0 if unknown */
	const char *reason;	/* static string */
};

static inline struct sg_str sg_str_make(const char *p, size_t len)
{
	struct sg_str s = { p, len };
	return s;
}

static inline bool sg_str_eq(struct sg_str a, struct sg_str b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}

/* A counter visitor: for `sipsgate status` and Prometheus alike. */
typedef void (*sg_counter_fn)(void *arg, const char *name, const char *help,
			      bool gauge, uint64_t value);

bool sg_str_caseeq(struct sg_str a, struct sg_str b);
bool sg_str_caseeq_lit(struct sg_str a, const char *lit);
struct sg_str sg_str_trim(struct sg_str s);
/* Parse a decimal unsigned number filling the whole view; -EINVAL if not. */
int sg_str_to_u32(struct sg_str s, uint32_t *out);

#endif /* SIPSGATE_GATEWAY_SG_H */
