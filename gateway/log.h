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
