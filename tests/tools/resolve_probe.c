/* SPDX-License-Identifier: MIT */
/*
 * resolve_probe: resolve a name with sg_resolve() on a libuv loop and print
 * the ordered targets (tests/lab/test_lab_dns.sh).
 *
 *   resolve_probe [-t MS] [-r TRIES] [-p PORT] [-n RUNS] [-v] KIND HOST
 *   resolve_probe -C KIND HOST      cancellation checks
 *
 * KIND is tls, tcp or udp. One run prints
 *   status ok|ENOENT|ETIMEDOUT|... n=N ms=ELAPSED
 *   target I KIND ADDRESS PORT HOST TARGET        (one per target)
 * Several runs (sequential) print "first ADDRESS PORT COUNT" per distinct
 * first target and "runs N ok N n=MIN..MAX". Exits 2 if a callback came
 * before sg_resolve() returned or the loop did not end clean, 1 on usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "log.h"
#include "resolve.h"

static struct sg_resolver *res;
static const char *host;
static uint16_t port;
static enum sg_xport_kind kind;
static unsigned runs = 1, done_runs, ok_runs, min_n = ~0u, max_n;
static bool in_resolve;
static uint64_t t0;
static int exit_code;

#define MAX_FIRST 16
static struct {
	char key[80];
	unsigned count;
} first[MAX_FIRST];
static unsigned nfirst;

static const char *errname(int st)
{
	static char buf[32];

	switch (st) {
	case 0:
		return "ok";
	case -ENOENT:
		return "ENOENT";
	case -ETIMEDOUT:
		return "ETIMEDOUT";
	case -ECANCELED:
		return "ECANCELED";
	case -EAGAIN:
		return "EAGAIN";
	case -ENOMEM:
		return "ENOMEM";
	case -EINVAL:
		return "EINVAL";
	}
	snprintf(buf, sizeof(buf), "%d", st);
	return buf;
}

static const char *kindname(enum sg_xport_kind k)
{
	return k == SG_XPORT_TLS ? "tls" : k == SG_XPORT_TCP ? "tcp" : "udp";
}

static void addr_str(const struct sockaddr_storage *ss, char *buf, size_t len,
		     unsigned *p)
{
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &sin->sin_addr, buf, (socklen_t)len);
		*p = ntohs(sin->sin_port);
	} else {
		const struct sockaddr_in6 *sin6;

		sin6 = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &sin6->sin6_addr, buf, (socklen_t)len);
		*p = ntohs(sin6->sin6_port);
	}
}

static void start(void);

static void on_resolved(void *arg, int status, const struct sg_target *t,
			unsigned n)
{
	char a[INET6_ADDRSTRLEN], key[80];
	unsigned i, p;

	(void)arg;
	if (in_resolve) {
		printf("FAIL callback before sg_resolve returned\n");
		exit_code = 2;
	}
	done_runs++;
	if (status == 0)
		ok_runs++;
	if (n < min_n)
		min_n = n;
	if (n > max_n)
		max_n = n;
	if (runs == 1) {
		printf("status %s n=%u ms=%llu\n", errname(status), n,
		       (unsigned long long)((uv_hrtime() - t0) / 1000000));
		for (i = 0; i < n; i++) {
			addr_str(&t[i].addr, a, sizeof(a), &p);
			printf("target %u %s %s %u %s %s\n", i,
			       kindname(t[i].kind), a, p, t[i].host,
			       t[i].target);
		}
	} else if (n > 0) {
		addr_str(&t[0].addr, a, sizeof(a), &p);
		snprintf(key, sizeof(key), "%s %u", a, p);
		for (i = 0; i < nfirst; i++)
			if (strcmp(first[i].key, key) == 0)
				break;
		if (i == nfirst && nfirst < MAX_FIRST)
			snprintf(first[nfirst++].key, sizeof(key), "%s", key);
		if (i < MAX_FIRST)
			first[i].count++;
	}
	if (done_runs < runs)
		start();
	else
		sg_resolver_free(res);	/* in a callback, on purpose */
}

static void start(void)
{
	int rc;

	t0 = uv_hrtime();
	in_resolve = true;
	rc = sg_resolve(res, host, port, kind, on_resolved, NULL);
	in_resolve = false;
	if (rc < 0) {
		printf("status %s (sg_resolve)\n", errname(rc));
		exit_code = exit_code ? exit_code : 1;
		sg_resolver_free(res);
	}
}

static int cancelled_status = 1;

static void on_cancel(void *arg, int status, const struct sg_target *t,
		      unsigned n)
{
	(void)arg;
	(void)t;
	(void)n;
	cancelled_status = status;
}

static void on_never(void *arg, int status, const struct sg_target *t,
		     unsigned n)
{
	(void)arg;
	(void)t;
	(void)n;
	printf("FAIL cancelled resolution called back (%s)\n", errname(status));
	exit_code = 2;
}

/* sg_resolver_free() with one pending; sg_resolve_cancel() with another. */
static int cancel_checks(uv_loop_t *loop, const struct sg_resolver_opts *o)
{
	struct sg_resolver *r;
	int rc, x = 1;

	if ((rc = sg_resolver_new(loop, o, &r)) < 0)
		return rc;
	if ((rc = sg_resolve(r, host, 0, kind, on_cancel, NULL)) < 0)
		return rc;
	sg_resolver_free(r);
	printf("free: %s\n", cancelled_status == 1 ? "no callback" :
	       errname(cancelled_status));
	if ((rc = sg_resolver_new(loop, o, &r)) < 0)
		return rc;
	if ((rc = sg_resolve(r, host, 0, kind, on_never, &x)) < 0)
		return rc;
	printf("cancel: %u\n", sg_resolve_cancel(r, on_never, &x));
	uv_run(loop, UV_RUN_DEFAULT);	/* the lookups finish, unheard */
	sg_resolver_free(r);
	uv_run(loop, UV_RUN_DEFAULT);
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: resolve_probe [-t MS] [-r TRIES] [-p PORT] "
		"[-n RUNS] [-v] [-C] tls|tcp|udp HOST\n");
	exit(1);
}

int main(int argc, char **argv)
{
	struct sg_resolver_opts o = { 0, 0 };
	uv_loop_t loop;
	bool cancel = false;
	unsigned i;
	int c, rc;

	log_init(LOG_INFO, 1);
	while ((c = getopt(argc, argv, "t:r:p:n:vC")) != -1) {
		switch (c) {
		case 't':
			o.timeout_ms = (unsigned)atoi(optarg);
			break;
		case 'r':
			o.tries = (unsigned)atoi(optarg);
			break;
		case 'p':
			port = (uint16_t)atoi(optarg);
			break;
		case 'n':
			runs = (unsigned)atoi(optarg);
			break;
		case 'v':
			log_setlevel(LOG_DEBUG);
			break;
		case 'C':
			cancel = true;
			break;
		default:
			usage();
		}
	}
	if (argc - optind != 2 || runs == 0)
		usage();
	if (strcmp(argv[optind], "tls") == 0)
		kind = SG_XPORT_TLS;
	else if (strcmp(argv[optind], "tcp") == 0)
		kind = SG_XPORT_TCP;
	else if (strcmp(argv[optind], "udp") == 0)
		kind = SG_XPORT_UDP;
	else
		usage();
	host = argv[optind + 1];
	setvbuf(stdout, NULL, _IOLBF, 0);

	uv_loop_init(&loop);
	if (cancel) {
		if ((rc = cancel_checks(&loop, &o)) < 0) {
			printf("status %s (setup)\n", errname(rc));
			return 1;
		}
	} else {
		if ((rc = sg_resolver_new(&loop, &o, &res)) < 0) {
			printf("status %s (sg_resolver_new)\n", errname(rc));
			return 1;
		}
		start();
		uv_run(&loop, UV_RUN_DEFAULT);
		if (runs > 1) {
			for (i = 0; i < nfirst; i++)
				printf("first %s %u\n", first[i].key,
				       first[i].count);
			printf("runs %u ok %u n=%u..%u\n", done_runs, ok_runs,
			       min_n, max_n);
		}
	}
	if ((rc = uv_loop_close(&loop)) < 0) {
		printf("FAIL loop not clean: %s\n", uv_strerror(rc));
		uv_print_all_handles(&loop, stdout);
		exit_code = 2;
	}
	return exit_code;
}
