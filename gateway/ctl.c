/* SPDX-License-Identifier: MIT */
/*
 * ctl.c: a unix stream socket on the main loop. A client writes one
 * command line ("status") and reads the answer until the socket closes.
 * Counters are read here, never written: the owners increment them.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl.h"
#include "log.h"
#include "pair.h"
#include "session.h"
#include "txn.h"

static uv_pipe_t ctl_pipe;
static bool ctl_open;
static struct sg_gw *ctl_gw;
static char ctl_path[108];
static int (*ctl_reload)(void);

struct ctl_client {
	uv_pipe_t pipe;
	uv_write_t wr;
	char *out;
	char in[512];
	size_t inlen;
};

/*
 * Visit every counter of a service: transport and signalling first (the
 * CUBE `show sip-ua connections` set), then calls and media.
 */
void sg_svc_counters(struct sg_svc *svc, sg_counter_fn fn, void *arg)
{
	const struct sg_svc_stats *s = &svc->st;

#define C(x, help) fn(arg, #x, help, false, s->x)
#define G(x, help) fn(arg, #x, help, true, s->x)
	G(tls_active, "TLS connections established now");
	G(tcp_active, "inside TCP connections now");
	C(tls_accepted, "TCP connections accepted on TLS listeners (all)");
	C(tls_connected, "TLS connections opened");
	C(tls_resumed, "TLS handshakes that resumed a session");
	C(hs_fail_server, "TLS handshakes failed, we were the server");
	C(hs_fail_client, "TLS handshakes failed, we were the client");
	C(conn_fail, "connections that could not be opened");
	C(remote_close, "connections closed by the peer");
	C(send_fail, "messages that could not be sent");
	C(msg_in, "SIP messages received");
	C(msg_out, "SIP messages sent");
	C(parse_err, "malformed SIP messages");
	C(untrusted_drop, "inside packets or connections from untrusted sources");
	C(token_bad, "forged or stale flow tokens");
	C(loops, "requests refused with 482");
	C(too_many_hops, "requests refused with 483");
	C(local_replies, "responses the gateway generated");
	C(keepalive_pongs, "CRLF keep-alive pings answered");
	G(tls_handshaking, "accepted TLS connections in handshake now");
	C(tls_hs_timeout, "TLS handshakes closed by tls-handshake-timeout");
	C(tls_idle_close, "TLS connections closed by tls-idle-timeout");
	C(tls_refused_source, "TLS connections refused at accept:"
	    " tls-max-handshakes-per-source");
	C(tls_refused_total, "TLS connections refused at accept:"
	    " tls-max-handshakes");
	C(tls_refused_fd, "TLS connections refused at accept:"
	    " file descriptor reserve");
	C(tls_reneg_refused, "TLS renegotiations refused (connection closed)");
	C(accept_fail, "accept() failures (out of file descriptors, ...)");
	C(keepalive_probes, "CRLF pings sent to idle TLS clients");
	C(keepalive_timeouts, "connections closed: no pong to a keep-alive ping");
	C(own_socket_refused, "requests refused: the next hop was our own socket");
	if (svc->cfg->protocol == SG_PROTO_RAW) {
		C(raw_bytes_in, "tunnel bytes from the inside to the outside");
		C(raw_bytes_out, "tunnel bytes from the outside to the inside");
	}
#undef C
#undef G
	sg_txn_counters(svc, fn, arg);
	if (svc->sess)
		sg_session_counters(svc->sess, fn, arg);
	sg_pair_counters(svc, fn, arg);
}

static void print_counter(void *arg, const char *name, const char *help,
			  bool gauge, uint64_t v)
{
	(void)help;
	(void)gauge;
	fprintf(arg, "  %-22s %llu\n", name, (unsigned long long)v);
}

void sg_ctl_status(struct sg_gw *gw, FILE *f)
{
	unsigned i;

	for (i = 0; i < gw->nsvc; i++) {
		struct sg_svc *svc = gw->svc[i];
		struct sg_conn *c;
		char a[64];

		fprintf(f, "service %s\n", svc->cfg->name);
		sg_svc_counters(svc, print_counter, f);
		if (svc->sess)
			sg_session_calls(svc->sess, f);
		for (c = svc->conns; c; c = c->next) {
			if (c->closing)
				continue;
			fprintf(f, "  connection %llu %s %s %s %s",
			    (unsigned long long)c->id,
			    c->kind == SG_XPORT_TLS ? "tls" : "tcp",
			    c->outbound ? "to" : "from",
			    sg_addr_str((struct sockaddr *)&c->peer, a,
			    sizeof(a)), c->ready ? "up" : "connecting");
			if (c->kind == SG_XPORT_TLS && c->ready)
				fprintf(f, " %s%s peer '%s'", c->info.suite,
				    c->info.resumed ? " resumed" : "",
				    c->info.peer_subject);
			if (c == svc->link)
				fprintf(f, " (connect target)");
			fprintf(f, "\n");
		}
	}
}

static void client_on_close(uv_handle_t *h)
{
	struct ctl_client *cl = h->data;

	free(cl->out);
	free(cl);
}

static void client_on_written(uv_write_t *req, int status)
{
	struct ctl_client *cl = req->data;

	(void)status;
	uv_close((uv_handle_t *)&cl->pipe, client_on_close);
}

/* Commands that change state: for root and the daemon's own user. */
static bool client_is_privileged(struct ctl_client *cl)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	uv_os_fd_t fd;

	if (uv_fileno((uv_handle_t *)&cl->pipe, &fd) < 0 ||
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return false;
	return cred.uid == 0 || cred.uid == geteuid();
}

void sg_ctl_set_reload(int (*fn)(void))
{
	ctl_reload = fn;
}

static void client_answer(struct ctl_client *cl)
{
	size_t len = 0;
	FILE *f = open_memstream(&cl->out, &len);
	uv_buf_t b;

	if (f == NULL) {
		uv_close((uv_handle_t *)&cl->pipe, client_on_close);
		return;
	}
	if (strncmp(cl->in, "status", 6) == 0)
		sg_ctl_status(ctl_gw, f);
	else if (strncmp(cl->in, "reload", 6) == 0 && ctl_reload)
		fprintf(f, !client_is_privileged(cl) ? "error: reload needs"
		    " root or the daemon's user\n" : ctl_reload() == 0 ?
		    "ok: reloaded\n" : "error: reload failed: nothing changed"
		    " (see the log)\n");
	else if (sg_pair_ctl(ctl_gw, cl->in, client_is_privileged(cl), f) ==
	    -ENOENT)
		fprintf(f, "unknown command (valid: status, reload, pair-offer,"
		    " pair-revoke, pair-list)\n");
	fclose(f);
	uv_read_stop((uv_stream_t *)&cl->pipe);
	b = uv_buf_init(cl->out, (unsigned)len);
	cl->wr.data = cl;
	if (uv_write(&cl->wr, (uv_stream_t *)&cl->pipe, &b, 1,
	    client_on_written) < 0)
		uv_close((uv_handle_t *)&cl->pipe, client_on_close);
}

static void client_on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct ctl_client *cl = h->data;

	(void)hint;
	buf->base = cl->in + cl->inlen;
	buf->len = sizeof(cl->in) - 1 - cl->inlen;
}

static void client_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct ctl_client *cl = s->data;

	(void)buf;
	if (n < 0) {
		uv_close((uv_handle_t *)&cl->pipe, client_on_close);
		return;
	}
	cl->inlen += (size_t)n;
	cl->in[cl->inlen] = '\0';
	if (memchr(cl->in, '\n', cl->inlen) || cl->inlen >= sizeof(cl->in) - 1)
		client_answer(cl);
}

static void ctl_on_conn(uv_stream_t *server, int status)
{
	struct ctl_client *cl;

	if (status < 0) {
		static struct sg_ratelimit rl;

		log_ratelimited(&rl, LOG_WARNING, "control socket: accept: %s"
		    " ('sipsgate status' got no answer)", uv_strerror(status));
		return;
	}
	if ((cl = calloc(1, sizeof(*cl))) == NULL)
		return;
	uv_pipe_init(server->loop, &cl->pipe, 0);
	cl->pipe.data = cl;
	if (uv_accept(server, (uv_stream_t *)&cl->pipe) < 0) {
		uv_close((uv_handle_t *)&cl->pipe, client_on_close);
		return;
	}
	uv_read_start((uv_stream_t *)&cl->pipe, client_on_alloc, client_on_read);
}

/* Does a live daemon listen on path? (A stale socket file refuses.) */
static bool ctl_in_use(const char *path)
{
	struct sockaddr_un sun;
	bool used;
	int fd;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0)
		return false;
	used = connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0;
	close(fd);
	return used;
}

int sg_ctl_start(struct sg_gw *gw, const char *path)
{
	int rc;

	ctl_gw = gw;
	snprintf(ctl_path, sizeof(ctl_path), "%s", path);
	if (ctl_in_use(path)) {
		log_warnx("control socket %s: another sipsgate answers there;"
		    " not taking it over", path);
		ctl_path[0] = '\0';
		return -EADDRINUSE;
	}
	unlink(path);
	if ((rc = uv_pipe_init(gw->loop, &ctl_pipe, 0)) < 0)
		return rc;
	ctl_open = true;
	if ((rc = uv_pipe_bind(&ctl_pipe, path)) < 0 ||
	    (rc = uv_listen((uv_stream_t *)&ctl_pipe, 16, ctl_on_conn)) < 0) {
		log_warnx("control socket %s: %s", path, uv_strerror(rc));
		return rc;
	}
	chmod(path, 0660);
	return 0;
}

void sg_ctl_stop(void)
{
	if (ctl_open) {
		uv_close((uv_handle_t *)&ctl_pipe, NULL);
		if (ctl_path[0])
			unlink(ctl_path);
		ctl_open = false;
	}
}

/*
 * Ask the daemon and copy its answer to stdout. Anything short of an
 * answer (no socket, no daemon, the connection closed with nothing said,
 * no answer within SG_CTL_TIMEOUT_S) is an error: a message on stderr and
 * a negative code, so that `sipsgate status` exits 1 and never prints
 * nothing with success.
 */
#define SG_CTL_TIMEOUT_S 10

int sg_ctl_query(const char *path, const char *cmd)
{
	struct timeval tv = { .tv_sec = SG_CTL_TIMEOUT_S, .tv_usec = 0 };
	struct sockaddr_un sun;
	char buf[4096];
	size_t total = 0;
	ssize_t n;
	int fd, e;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		fprintf(stderr, "sipsgate: control socket path too long: %s\n",
		    path);
		return -ENAMETOOLONG;
	}
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
		e = errno;
		fprintf(stderr, "sipsgate: socket: %s\n", strerror(e));
		return -e;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		e = errno;
		fprintf(stderr, "sipsgate: cannot reach the daemon at %s: %s\n",
		    path, strerror(e));
		close(fd);
		return -e;
	}
	if (send(fd, cmd, strlen(cmd), MSG_NOSIGNAL) < 0 ||
	    send(fd, "\n", 1, MSG_NOSIGNAL) < 0) {
		e = errno;
		close(fd);
		if (e == EPIPE || e == ECONNRESET)
			goto closed;	/* it accepted, then closed at once */
		fprintf(stderr, "sipsgate: cannot send to the daemon at %s:"
		    " %s\n", path, strerror(e));
		return -e;
	}
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		fwrite(buf, 1, (size_t)n, stdout);
		total += (size_t)n;
	}
	e = n < 0 ? errno : 0;
	close(fd);
	if (fflush(stdout) == EOF)
		return -EIO;
	if (n < 0 && total == 0 && e == ECONNRESET)
		goto closed;
	if (n < 0) {
		fprintf(stderr, "sipsgate: the daemon at %s %s: %s\n", path,
		    total ? "stopped answering" : "did not answer",
		    e == EAGAIN || e == EWOULDBLOCK ? "timed out" :
		    strerror(e));
		return e == EAGAIN || e == EWOULDBLOCK ? -ETIMEDOUT : -e;
	}
	if (total == 0)
		goto closed;
	return 0;
closed:
	fprintf(stderr, "sipsgate: the daemon at %s closed the connection"
	    " without an answer (is it out of file descriptors? see its"
	    " log)\n", path);
	return -EPROTO;
}
