/* SPDX-License-Identifier: MIT */
/*
 * tlsload.c: TLS handshake load client for bench/signalling.sh (not a test).
 *
 *   tlsload client -a ADDR -p PORT -c CERT -k KEY [-m full|resume]
 *                  [-K INFLIGHT] [-n MAXCONN] [-t SECONDS] [-P PRIORITY]
 *                  [-w ticket|none]
 *   tlsload sink -a ADDR -p PORT -t SECONDS
 *
 * client: opens TCP+TLS connections to ADDR:PORT as fast as it can, with
 * INFLIGHT (default 32) at once, for at most SECONDS (default 8) and at most
 * MAXCONN (default 1000000) connections, presenting CERT/KEY as its client
 * certificate.  It does not check the server's certificate (that would only
 * slow the client down; the servers under test check ours).  A handshake
 * counts once the server has *finished* it: under TLS 1.3 the client's
 * handshake ends before the server has checked the client's Certificate
 * and Finished, so the client waits for the server's NewSessionTicket (sent
 * after that check) before it counts the connection and closes it
 * (close_notify, then close).  A server that refuses us closes instead:
 * counted as a failure.
 *   -m full    every connection is a full handshake (no session data);
 *   -m resume  one first connection fetches a TLS 1.3 session ticket, every
 *              later connection offers it (gnutls_session_set_data); the
 *              output says how many really resumed
 *              (gnutls_session_is_resumed).  A resumed handshake has no
 *              client certificate to check and OpenSSL (stunnel) sends no
 *              new ticket after one, so here a connection counts when the
 *              client's handshake ends (-w none).
 *   -w ticket|none  override that choice (default: ticket for full, none
 *              for resume).
 * Prints one line: key=value pairs (handshakes, rate, resumed, failures).
 *
 * sink: a TCP listener that accepts, reads until EOF and closes, for
 * SECONDS (at most 600): the backend stunnel connects to.  A client run
 * lasts at most 60 s.
 *
 * Build: cc -O2 -o tlsload tlsload.c -lgnutls
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/gnutls.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum st { S_FREE, S_CONNECTING, S_HANDSHAKE, S_TICKET };

struct slot {
	enum st st;
	int fd;
	gnutls_session_t s;
	double t0;
};

static const char *addr = "127.0.0.1", *cert, *key, *mode = "full";
static const char *wait_for;
static const char *prio = "NORMAL:-VERS-ALL:+VERS-TLS1.3";
static int port, inflight = 32;
static long maxconn = 1000000;
static double secs = 8;
static gnutls_certificate_credentials_t cred;
static gnutls_priority_t prio_c;
static gnutls_datum_t resume_data;
static int ep;

static long n_started, n_ok, n_resumed, n_fail_connect, n_fail_hs,
    n_fail_closed, n_fail_timeout, n_tls12;
static double lat_sum;

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what, int r)
{
	fprintf(stderr, "tlsload: %s: %s\n", what,
	    r < 0 ? gnutls_strerror(r) : strerror(errno));
	exit(2);
}

static int tcp_connect(void)
{
	struct sockaddr_in sa;
	int fd, one = 1;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	if (inet_pton(AF_INET, addr, &sa.sin_addr) != 1) {
		fprintf(stderr, "tlsload: bad address %s\n", addr);
		exit(2);
	}
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket", 0);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 &&
	    errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	return fd;
}

static void new_session(gnutls_session_t *s, int fd)
{
	int r;

	if ((r = gnutls_init(s, GNUTLS_CLIENT | GNUTLS_NONBLOCK)) < 0)
		die("gnutls_init", r);
	if ((r = gnutls_priority_set(*s, prio_c)) < 0 ||
	    (r = gnutls_credentials_set(*s, GNUTLS_CRD_CERTIFICATE, cred)) < 0)
		die("session setup", r);
	if (resume_data.data &&
	    (r = gnutls_session_set_data(*s, resume_data.data,
	    resume_data.size)) < 0)
		die("gnutls_session_set_data", r);
	gnutls_transport_set_int(*s, fd);
}

static void ep_set(struct slot *sl, unsigned events)
{
	struct epoll_event ev = { .events = events, .data.ptr = sl };

	if (epoll_ctl(ep, EPOLL_CTL_MOD, sl->fd, &ev) < 0)
		die("epoll_ctl mod", 0);
}

static void slot_close(struct slot *sl, int clean)
{
	if (sl->s) {
		if (clean)
			gnutls_bye(sl->s, GNUTLS_SHUT_WR);
		gnutls_deinit(sl->s);
		sl->s = NULL;
	}
	if (sl->fd >= 0) {
		epoll_ctl(ep, EPOLL_CTL_DEL, sl->fd, NULL);
		close(sl->fd);
		sl->fd = -1;
	}
	sl->st = S_FREE;
}

static void slot_start(struct slot *sl)
{
	struct epoll_event ev = { .events = EPOLLOUT, .data.ptr = sl };

	sl->fd = tcp_connect();
	n_started++;
	sl->t0 = now();
	if (sl->fd < 0) {
		n_fail_connect++;
		sl->st = S_FREE;
		return;
	}
	if (epoll_ctl(ep, EPOLL_CTL_ADD, sl->fd, &ev) < 0)
		die("epoll_ctl add", 0);
	sl->st = S_CONNECTING;
}

static void slot_done(struct slot *sl)
{
	n_ok++;
	lat_sum += now() - sl->t0;
	if (gnutls_session_is_resumed(sl->s))
		n_resumed++;
	slot_close(sl, 1);
}

/* Drive one slot after an event. */
static void slot_step(struct slot *sl)
{
	char buf[4096];
	int r, err;
	socklen_t len = sizeof(err);

	switch (sl->st) {
	case S_CONNECTING:
		if (getsockopt(sl->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0 ||
		    err != 0) {
			n_fail_connect++;
			slot_close(sl, 0);
			return;
		}
		new_session(&sl->s, sl->fd);
		sl->st = S_HANDSHAKE;
		/* fall through */
	case S_HANDSHAKE:
		r = gnutls_handshake(sl->s);
		if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED) {
			ep_set(sl, gnutls_record_get_direction(sl->s) ?
			    EPOLLOUT : EPOLLIN);
			return;
		}
		if (r < 0) {
			n_fail_hs++;
			slot_close(sl, 0);
			return;
		}
		if (gnutls_protocol_get_version(sl->s) != GNUTLS_TLS1_3)
			n_tls12++;	/* TLS 1.2: ticket (if any) came in it */
		if (gnutls_protocol_get_version(sl->s) != GNUTLS_TLS1_3 ||
		    strcmp(wait_for, "none") == 0) {
			slot_done(sl);
			return;
		}
		sl->st = S_TICKET;
		ep_set(sl, EPOLLIN);
		/* fall through */
	case S_TICKET:
		for (;;) {
			if (gnutls_session_get_flags(sl->s) &
			    GNUTLS_SFLAGS_SESSION_TICKET) {
				slot_done(sl);
				return;
			}
			r = gnutls_record_recv(sl->s, buf, sizeof(buf));
			if (r == GNUTLS_E_AGAIN || r == GNUTLS_E_INTERRUPTED)
				return;
			if (r > 0)
				continue;	/* the server spoke: ignore */
			n_fail_closed++;	/* EOF or alert: refused us */
			slot_close(sl, 0);
			return;
		}
	case S_FREE:
		return;
	}
}

/* One blocking connection to fetch the session data to resume with. */
static void fetch_ticket(void)
{
	gnutls_session_t s;
	int fd = tcp_connect(), r, fl;
	char buf[256];
	double t = now();

	if (fd < 0)
		die("connect (ticket)", 0);
	fl = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
	if ((r = gnutls_init(&s, GNUTLS_CLIENT)) < 0)
		die("gnutls_init", r);
	gnutls_priority_set(s, prio_c);
	gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, cred);
	gnutls_transport_set_int(s, fd);
	gnutls_handshake_set_timeout(s, 5000);
	do
		r = gnutls_handshake(s);
	while (r < 0 && !gnutls_error_is_fatal(r));
	if (r < 0)
		die("ticket handshake", r);
	gnutls_record_set_timeout(s, 200);
	while (!(gnutls_session_get_flags(s) & GNUTLS_SFLAGS_SESSION_TICKET) &&
	    now() - t < 5) {
		r = gnutls_record_recv(s, buf, sizeof(buf));
		if (r == 0 || (r < 0 && r != GNUTLS_E_TIMEDOUT &&
		    r != GNUTLS_E_AGAIN && r != GNUTLS_E_INTERRUPTED))
			die("waiting for a session ticket", r ? r : -1);
	}
	if (!(gnutls_session_get_flags(s) & GNUTLS_SFLAGS_SESSION_TICKET)) {
		fprintf(stderr, "tlsload: the server sent no session ticket\n");
		exit(3);
	}
	if ((r = gnutls_session_get_data2(s, &resume_data)) < 0)
		die("gnutls_session_get_data2", r);
	gnutls_bye(s, GNUTLS_SHUT_WR);
	gnutls_deinit(s);
	close(fd);
}

static int client(void)
{
	struct slot *slots;
	struct epoll_event evs[256];
	double t0, t1, deadline;
	int i, n, r;
	long pending;
	struct rusage ru;

	if ((r = gnutls_global_init()) < 0)
		die("gnutls_global_init", r);
	if ((r = gnutls_certificate_allocate_credentials(&cred)) < 0 ||
	    (r = gnutls_certificate_set_x509_key_file(cred, cert, key,
	    GNUTLS_X509_FMT_PEM)) < 0)
		die("client certificate", r);
	if ((r = gnutls_priority_init2(&prio_c, prio, NULL, 0)) < 0)
		die("priority", r);
	if (wait_for == NULL)
		wait_for = strcmp(mode, "resume") == 0 ? "none" : "ticket";
	if (strcmp(wait_for, "none") != 0 && strcmp(wait_for, "ticket") != 0) {
		fprintf(stderr, "tlsload: -w ticket|none\n");
		return 2;
	}
	if (strcmp(mode, "resume") == 0)
		fetch_ticket();
	else if (strcmp(mode, "full") != 0) {
		fprintf(stderr, "tlsload: -m full|resume\n");
		return 2;
	}
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
		die("epoll", 0);
	slots = calloc(inflight, sizeof(*slots));
	for (i = 0; i < inflight; i++)
		slots[i].fd = -1;
	t0 = now();
	deadline = t0 + secs;
	for (;;) {
		double tn = now();

		pending = 0;
		for (i = 0; i < inflight; i++) {
			if (slots[i].st == S_FREE && tn < deadline &&
			    n_started < maxconn)
				slot_start(&slots[i]);
			else if (slots[i].st != S_FREE &&
			    tn - slots[i].t0 > 5) {
				n_fail_timeout++;
				slot_close(&slots[i], 0);
			}
			if (slots[i].st != S_FREE)
				pending++;
		}
		if (pending == 0)
			break;
		n = epoll_wait(ep, evs, 256, 100);
		if (n < 0 && errno != EINTR)
			die("epoll_wait", 0);
		for (i = 0; i < n; i++)
			slot_step(evs[i].data.ptr);
	}
	t1 = now();
	getrusage(RUSAGE_SELF, &ru);
	printf("mode=%s inflight=%d secs=%.3f started=%ld handshakes=%ld "
	    "rate=%.1f resumed=%ld fail_connect=%ld fail_handshake=%ld "
	    "fail_closed=%ld fail_timeout=%ld tls12=%ld mean_ms=%.3f wait=%s "
	    "client_cpu_s=%.3f\n",
	    mode, inflight, t1 - t0, n_started, n_ok, n_ok / (t1 - t0),
	    n_resumed, n_fail_connect, n_fail_hs, n_fail_closed,
	    n_fail_timeout, n_tls12, n_ok ? lat_sum * 1e3 / n_ok : 0.0, wait_for,
	    ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
	    (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
	return 0;
}

static int sink(void)
{
	struct sockaddr_in sa;
	struct epoll_event ev, evs[256];
	char buf[16384];
	int ls, one = 1, i, n;
	double deadline = now() + secs;
	long accepted = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons(port);
	inet_pton(AF_INET, addr, &sa.sin_addr);
	ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(ls, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(ls, 4096) < 0)
		die("sink bind/listen", 0);
	ep = epoll_create1(0);
	ev.events = EPOLLIN;
	ev.data.fd = ls;
	epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
	fprintf(stderr, "tlsload sink: listening on %s:%d\n", addr, port);
	while (now() < deadline) {
		n = epoll_wait(ep, evs, 256, 200);
		for (i = 0; i < n; i++) {
			int fd = evs[i].data.fd;

			if (fd == ls) {
				int c;

				while ((c = accept4(ls, NULL, NULL,
				    SOCK_NONBLOCK)) >= 0) {
					accepted++;
					ev.events = EPOLLIN;
					ev.data.fd = c;
					epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
				}
				continue;
			}
			ssize_t r;

			while ((r = read(fd, buf, sizeof(buf))) > 0)
				;
			if (r == 0 || (r < 0 && errno != EAGAIN)) {
				epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
				close(fd);
			}
		}
	}
	fprintf(stderr, "tlsload sink: %ld connections\n", accepted);
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: tlsload client -a ADDR -p PORT -c CERT -k KEY"
	    " [-m full|resume] [-K INFLIGHT] [-n MAXCONN] [-t SECONDS]"
	    " [-P PRIORITY] [-w ticket|none]\n       tlsload sink -a ADDR -p PORT -t SECONDS\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *cmd;
	int o;

	if (argc < 2)
		usage();
	cmd = argv[1];
	optind = 2;
	while ((o = getopt(argc, argv, "a:p:c:k:m:K:n:t:P:w:")) != -1) {
		switch (o) {
		case 'a': addr = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 'c': cert = optarg; break;
		case 'k': key = optarg; break;
		case 'm': mode = optarg; break;
		case 'K': inflight = atoi(optarg); break;
		case 'n': maxconn = atol(optarg); break;
		case 't': secs = atof(optarg); break;
		case 'P': prio = optarg; break;
		case 'w': wait_for = optarg; break;
		default: usage();
		}
	}
	if (port <= 0 || port > 65535 || inflight < 1 || inflight > 4096 ||
	    secs <= 0 || secs > (strcmp(cmd, "sink") == 0 ? 600 : 60))
		usage();
	if (strcmp(cmd, "sink") == 0)
		return sink();
	if (strcmp(cmd, "client") != 0 || !cert || !key)
		usage();
	return client();
}
