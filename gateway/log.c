/* SPDX-License-Identifier: MIT */
/*
 * log.c: stderr or syslog logging with levels and a rate limiter for
 * per-packet and per-message paths.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

static int log_level = LOG_INFO;
static int log_stderr = 1;
static log_sink_fn log_sink;
static struct log_ctx log_cur;

void log_set_sink(log_sink_fn fn)
{
	log_sink = fn;
}

void log_ctx_set(const char *service, const char *call_id, const void *peer)
{
	log_cur.service = service;
	log_cur.call_id = call_id;
	log_cur.peer = peer;
}

void log_ctx_clear(void)
{
	memset(&log_cur, 0, sizeof(log_cur));
}

void log_init(int level, int to_stderr)
{
	log_level = level;
	log_stderr = to_stderr;
	if (!to_stderr)
		openlog("sipsgate", LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void log_setlevel(int level)
{
	log_level = level;
}

int log_getlevel(void)
{
	return log_level;
}

static void vlog_force(int prio, const char *fmt, va_list ap,
		       const char *suffix, bool force)
{
	static const char *names[] = { "emerg", "alert", "crit", "error",
	    "warning", "notice", "info", "debug" };
	char buf[2048];
	size_t n;

	if (prio > log_level && !force)
		return;
	vsnprintf(buf, sizeof(buf), fmt, ap);
	if (log_sink) {
		if (suffix && (n = strlen(buf)) < sizeof(buf) - 2)
			snprintf(buf + n, sizeof(buf) - n, ": %s", suffix);
		log_sink(prio, buf, &log_cur);
		return;
	}
	if (log_stderr) {
		struct timespec ts;
		struct tm tm;
		char when[32];

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(when, sizeof(when), "%H:%M:%S", &tm);
		fprintf(stderr, "%s.%03ld %s: %s%s%s\n", when,
		    ts.tv_nsec / 1000000, names[prio & 7], buf,
		    suffix ? ": " : "", suffix ? suffix : "");
		fflush(stderr);
	} else {
		syslog(prio, "%s%s%s", buf, suffix ? ": " : "",
		    suffix ? suffix : "");
	}
}

static void vlog(int prio, const char *fmt, va_list ap, const char *suffix)
{
	vlog_force(prio, fmt, ap, suffix, false);
}

void log_trace(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog_force(LOG_DEBUG, fmt, ap, NULL, true);
	va_end(ap);
}

#define LOGFN(name, prio, with_errno)				\
	void name(const char *fmt, ...)				\
	{							\
		int saved = errno;				\
		va_list ap;					\
		va_start(ap, fmt);				\
		vlog(prio, fmt, ap,				\
		    with_errno ? strerror(saved) : NULL);	\
		va_end(ap);					\
		errno = saved;					\
	}

LOGFN(log_warn, LOG_WARNING, 1)
LOGFN(log_warnx, LOG_WARNING, 0)
LOGFN(log_info, LOG_INFO, 0)
LOGFN(log_debug, LOG_DEBUG, 0)

void fatal(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_ERR, fmt, ap, strerror(saved));
	va_end(ap);
	exit(1);
}

void fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(LOG_ERR, fmt, ap, NULL);
	va_end(ap);
	exit(1);
}

void log_ratelimited(struct sg_ratelimit *rl, int prio, const char *fmt, ...)
{
	struct timespec ts;
	uint64_t now;
	va_list ap;

	if (prio > log_level)
		return;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	now = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	if (now - rl->last_ms >= 1000) {
		rl->tokens = 5;
		rl->last_ms = now;
		if (rl->suppressed > 0) {
			log_warnx("(%u similar messages suppressed)",
			    rl->suppressed);
			rl->suppressed = 0;
		}
	}
	if (rl->tokens == 0) {
		rl->suppressed++;
		return;
	}
	rl->tokens--;
	va_start(ap, fmt);
	vlog(prio, fmt, ap, NULL);
	va_end(ap);
}
