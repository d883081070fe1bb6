/* SPDX-License-Identifier: MIT */
/*
 * metrics.c: a minimal HTTP/1.1 responder on the main loop for Prometheus
 * scrapes. One request per connection, GET only, no keep-alive; anything
 * else gets 404 or 405. Meant for loopback or a management network: it
 * has no authentication, so the configuration check warns when it is
 * bound to a wildcard address.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "log.h"
#include "metrics.h"

#define REQ_MAX 2048

static uv_tcp_t metrics_listener;
static bool metrics_open;
static struct sg_gw *metrics_gw;

struct metrics_client {
	uv_tcp_t tcp;
	uv_write_t wr;
	char in[REQ_MAX];
	size_t inlen;
	char *out;
};

/* Every service's counters, collected so that each metric name gets one
 * HELP/TYPE block with a line per service (text format 0.0.4). */
struct sample {
	const char *name, *help, *service;
	bool gauge;
	uint64_t v;
};

struct samples {
	struct sample *s;
	size_t n, cap;
	const char *service;
};

static void collect(void *arg, const char *name, const char *help,
		    bool gauge, uint64_t v)
{
	struct samples *ss = arg;
	struct sample *n;

	if (ss->n == ss->cap) {
		size_t cap = ss->cap ? ss->cap * 2 : 64;

		if ((n = realloc(ss->s, cap * sizeof(*n))) == NULL)
			return;
		ss->s = n;
		ss->cap = cap;
	}
	ss->s[ss->n++] = (struct sample){ name, help, ss->service, gauge, v };
}

void sg_metrics_write(struct sg_gw *gw, FILE *f)
{
	struct samples ss = { NULL, 0, 0, NULL };
	size_t i, j, k;

	for (i = 0; i < gw->nsvc; i++) {
		ss.service = gw->svc[i]->cfg->name;
		sg_svc_counters(gw->svc[i], collect, &ss);
	}
	for (i = 0; i < ss.n; i++) {
		const struct sample *a = &ss.s[i];
		size_t len = strlen(a->name);
		/* Counters end in _total (OpenMetrics), once. */
		const char *sfx = a->gauge || (len > 6 &&
		    strcmp(a->name + len - 6, "_total") == 0) ? "" : "_total";

		for (k = 0; k < i && strcmp(ss.s[k].name, a->name) != 0; k++)
			;
		if (k < i)
			continue;	/* written with the first of its name */
		fprintf(f, "# HELP sipsgate_%s%s %s\n# TYPE sipsgate_%s%s %s\n",
		    a->name, sfx, a->help, a->name, sfx,
		    a->gauge ? "gauge" : "counter");
		for (j = i; j < ss.n; j++)
			if (strcmp(ss.s[j].name, a->name) == 0)
				fprintf(f, "sipsgate_%s%s{service=\"%s\"} %llu\n",
				    a->name, sfx, ss.s[j].service,
				    (unsigned long long)ss.s[j].v);
	}
	free(ss.s);
	fprintf(f, "# HELP sipsgate_uptime_seconds seconds since start\n"
	    "# TYPE sipsgate_uptime_seconds gauge\nsipsgate_uptime_seconds %llu\n",
	    (unsigned long long)((uv_now(gw->loop) - gw->started_ms) / 1000));
}

static void client_on_close(uv_handle_t *h)
{
	struct metrics_client *cl = h->data;

	free(cl->out);
	free(cl);
}

static void client_on_written(uv_write_t *req, int status)
{
	struct metrics_client *cl = req->data;

	(void)status;
	uv_close((uv_handle_t *)&cl->tcp, client_on_close);
}

static void client_respond(struct metrics_client *cl)
{
	char *body = NULL;
	size_t blen = 0, olen = 0;
	const char *status = "200 OK";
	FILE *f;
	uv_buf_t b;

	uv_read_stop((uv_stream_t *)&cl->tcp);
	if (strncmp(cl->in, "GET ", 4) != 0)
		status = "405 Method Not Allowed";
	else if (strncmp(cl->in + 4, "/metrics ", 9) != 0 &&
	    strncmp(cl->in + 4, "/metrics?", 9) != 0)
		status = "404 Not Found";
	if ((f = open_memstream(&body, &blen)) == NULL)
		goto fail;
	if (strcmp(status, "200 OK") == 0)
		sg_metrics_write(metrics_gw, f);
	else
		fprintf(f, "%s\n", status);
	fclose(f);
	if ((f = open_memstream(&cl->out, &olen)) == NULL)
		goto fail;
	fprintf(f, "HTTP/1.1 %s\r\nContent-Type: text/plain; version=0.0.4;"
	    " charset=utf-8\r\nContent-Length: %zu\r\nConnection: close\r\n"
	    "\r\n", status, blen);
	fwrite(body, 1, blen, f);
	fclose(f);
	free(body);
	b = uv_buf_init(cl->out, (unsigned)olen);
	cl->wr.data = cl;
	if (uv_write(&cl->wr, (uv_stream_t *)&cl->tcp, &b, 1,
	    client_on_written) == 0)
		return;
	uv_close((uv_handle_t *)&cl->tcp, client_on_close);
	return;
fail:
	free(body);
	uv_close((uv_handle_t *)&cl->tcp, client_on_close);
}

static void client_on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct metrics_client *cl = h->data;

	(void)hint;
	buf->base = cl->in + cl->inlen;
	buf->len = REQ_MAX - 1 - cl->inlen;
}

static void client_on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct metrics_client *cl = s->data;

	(void)buf;
	if (n < 0) {
		uv_close((uv_handle_t *)&cl->tcp, client_on_close);
		return;
	}
	cl->inlen += (size_t)n;
	cl->in[cl->inlen] = '\0';
	if (strstr(cl->in, "\r\n\r\n") || strstr(cl->in, "\n\n"))
		client_respond(cl);
	else if (cl->inlen >= REQ_MAX - 1)
		uv_close((uv_handle_t *)&cl->tcp, client_on_close);
}

static void metrics_on_conn(uv_stream_t *server, int status)
{
	struct metrics_client *cl;

	if (status < 0 || (cl = calloc(1, sizeof(*cl))) == NULL)
		return;
	uv_tcp_init(server->loop, &cl->tcp);
	cl->tcp.data = cl;
	if (uv_accept(server, (uv_stream_t *)&cl->tcp) < 0) {
		uv_close((uv_handle_t *)&cl->tcp, client_on_close);
		return;
	}
	uv_read_start((uv_stream_t *)&cl->tcp, client_on_alloc, client_on_read);
}

int sg_metrics_start(struct sg_gw *gw, const char *hostport)
{
	struct sg_cfg_endpoint ep;
	struct sockaddr_storage a;
	char spec[300];
	int rc;

	metrics_gw = gw;
	snprintf(spec, sizeof(spec), "tcp:%s", hostport);
	if (sg_cfg_parse_endpoint(spec, &ep) < 0 ||
	    sg_addr_parse(ep.host, ep.port, &a) < 0) {
		log_warnx("metrics %s: not HOST:PORT", hostport);
		return -EINVAL;
	}
	if ((rc = uv_tcp_init(gw->loop, &metrics_listener)) < 0)
		return rc;
	metrics_open = true;
	if ((rc = uv_tcp_bind(&metrics_listener, (struct sockaddr *)&a, 0)) < 0 ||
	    (rc = uv_listen((uv_stream_t *)&metrics_listener, 16,
	    metrics_on_conn)) < 0) {
		log_warnx("metrics %s: %s", hostport, uv_strerror(rc));
		return rc;
	}
	if (strcmp(ep.host, "0.0.0.0") == 0 || strcmp(ep.host, "::") == 0)
		log_warnx("metrics on %s: every address can read the counters"
		    " (no authentication); prefer 127.0.0.1 or a management"
		    " address", hostport);
	log_info("metrics: Prometheus text on http://%s/metrics", hostport);
	return 0;
}

void sg_metrics_stop(void)
{
	if (metrics_open) {
		uv_close((uv_handle_t *)&metrics_listener, NULL);
		metrics_open = false;
	}
}
