/* SPDX-License-Identifier: MIT */
/*
 * log.h: logging (relayd style). stderr in the foreground, syslog
 * otherwise. log_warn() appends strerror(errno), log_warnx() does not.
 * fatal()/fatalx() are for startup only.
 */
#ifndef SIPSGATE_GATEWAY_LOG_H
#define SIPSGATE_GATEWAY_LOG_H

#include <stdint.h>
#include <syslog.h>

void log_init(int level, int to_stderr);
/*
 * Another sink than stderr/syslog (main.c installs journald's): it gets
 * the priority, the message and the context fields below.
 */
struct log_ctx {
	const char *service;	/* [name] of the service, or NULL */
	const char *call_id;	/* Call-ID of the message, or NULL */
	const void *peer;	/* struct sockaddr of the other end, or NULL */
};
typedef void (*log_sink_fn)(int prio, const char *msg,
			    const struct log_ctx *ctx);
void log_set_sink(log_sink_fn fn);
/* Context for the lines logged until log_ctx_clear(); strings must stay
 * valid until then. */
void log_ctx_set(const char *service, const char *call_id, const void *peer);
void log_ctx_clear(void);
/* A line at debug priority whatever the level (tls-trace = yes). */
void log_trace(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_setlevel(int level);
int log_getlevel(void);
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* A token bucket per call site: at most `burst` lines, then one a second. */
struct sg_ratelimit {
	uint64_t last_ms;
	unsigned tokens;
	unsigned suppressed;
};
void log_ratelimited(struct sg_ratelimit *rl, int prio, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define log_debug_enabled() (log_getlevel() >= LOG_DEBUG)

#endif /* SIPSGATE_GATEWAY_LOG_H */
