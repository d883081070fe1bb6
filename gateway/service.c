/* SPDX-License-Identifier: MIT */
/*
 * service.c: starting and stopping services, and SIGHUP reload. A reload
 * builds everything it needs first (configuration, TLS credentials) and
 * only then swaps: a bad file or a bad certificate leaves the running
 * daemon exactly as it was. Connections made before a reload keep the
 * TLS credentials they were made with (reference counted); calls keep
 * their media streams and the settings they started with. Nothing is kept
 * until exit: a replaced configuration is freed when its last holder
 * (service, TLS context, call) lets go, a stopped service by the sweep
 * once its handles have closed and its calls have ended.
 */
#include <errno.h>
#include <gnutls/crypto.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "gw.h"
#include "log.h"
#include "pair.h"
#include "service.h"
#include "session.h"
#include "sip_proxy.h"
#include "tls.h"
#include "txn.h"

static void svc_free(struct sg_svc *svc)
{
	if (svc->tls)
		sg_tls_ctx_put(svc->tls);
	if (svc->sess)
		free(svc->sess->buckets);
	free(svc->sess);
	sg_cfg_free(svc->cfg->root);	/* the service's reference */
	free(svc);
}

static int push(void *arrp, unsigned *n, void *item)
{
	void ***arr = arrp;
	void **a = realloc(*arr, (*n + 1) * sizeof(void *));

	if (a == NULL)
		return -ENOMEM;
	a[(*n)++] = item;
	*arr = a;
	return 0;
}

/* A stopped service waits in gw->retired for sg_gw_sweep(). */
static void retire(struct sg_gw *gw, struct sg_svc *svc)
{
	if (push(&gw->retired, &gw->nretired, svc) < 0)
		log_warnx("%s: out of memory retiring the service: kept until"
		    " exit", svc->cfg->name);
}

/*
 * The flow-token key (DESIGN §3): SHA-256 of the token-key file, which must
 * hold 16 bytes or more and be readable by nobody else; a random key when
 * none is configured. Problems go to errf.
 */
int sg_gw_token_key(const struct sg_cfg *cfg, struct sg_token_key *key,
		    FILE *errf)
{
	gnutls_datum_t d = { NULL, 0 };
	uint8_t h[32];

	if (cfg->token_key[0] == '\0')
		return sg_token_key_random(key);
	if (sg_tls_check_key_file(cfg->token_key, errf) < 0)
		return -EPERM;
	if (gnutls_load_file(cfg->token_key, &d) < 0 || d.size < 16) {
		fprintf(errf, "token-key %s: cannot read 16 bytes or more\n",
		    cfg->token_key);
		gnutls_free(d.data);
		return -EINVAL;
	}
	gnutls_hash_fast(GNUTLS_DIG_SHA256, d.data, d.size, h);
	memcpy(key->k, h, sizeof(key->k));
	gnutls_memset(h, 0, sizeof(h));
	gnutls_memset(d.data, 0, d.size);
	gnutls_free(d.data);
	return 0;
}

/*
 * Is cfg (as sg_cfg_load() made it, so every key and service rule holds)
 * one the daemon can run? Every service's TLS credentials (certificate,
 * key and its permissions, CA, CRL, pins, the pairing CA) and the token
 * key. The one check for `sipsgate -t`, the start and a reload: what
 * passes here starts, short of what the machine lacks (a port taken, the
 * user to drop to, no memory). Every problem is written to errf.
 */
int sg_gw_check(const struct sg_cfg *cfg, FILE *errf)
{
	struct sg_token_key key;
	struct sg_tls_ctx *ctx;
	unsigned i;
	int rc = 0;

	for (i = 0; i < cfg->nservices; i++) {
		const struct sg_cfg_service *s = &cfg->services[i];

		if (!sg_cfg_service_has_tls(s))
			continue;
		if (sg_pair_tls_ctx_new(s, errf, &ctx) < 0) {
			fprintf(errf, "%s:%u: [%s]: TLS setup failed (see"
			    " above)\n", s->file, s->line, s->name);
			rc = -EINVAL;
			continue;
		}
		sg_tls_ctx_free(ctx);
	}
	if (sg_gw_token_key(cfg, &key, errf) < 0)
		rc = -EINVAL;
	gnutls_memset(&key, 0, sizeof(key));
	return rc;
}

/* protocol = raw: bytes only, nothing to deliver and nothing to check. */
static const struct sg_xport_ops raw_ops = { NULL, NULL, NULL };

struct sg_svc *sg_service_start(struct sg_gw *gw,
				const struct sg_cfg_service *s, FILE *errf)
{
	struct sg_svc *svc = calloc(1, sizeof(*svc));

	if (svc == NULL)
		return NULL;
	svc->gw = gw;
	svc->cfg = s;
	sg_cfg_hold(s);
	if (sg_cfg_service_has_tls(s) &&
	    sg_pair_tls_ctx_new(s, errf, &svc->tls) < 0) {
		fprintf(errf, "%s: TLS set-up failed\n", s->name);
		svc_free(svc);
		return NULL;
	}
	if (sg_xport_start(svc, s->protocol == SG_PROTO_RAW ? &raw_ops :
	    &sg_proxy_ops) < 0) {
		fprintf(errf, "%s: cannot open its sockets\n", s->name);
		sg_xport_stop(svc);
		retire(gw, svc);	/* handles are closing */
		return NULL;
	}
	if (s->protocol == SG_PROTO_RAW)
		return svc;	/* a byte tunnel: no SIP, no media */
	if (sg_proxy_start(svc) < 0 ||
	    (svc->sess = calloc(1, sizeof(*svc->sess))) == NULL ||
	    sg_session_init(svc->sess, svc, errf) < 0 ||
	    sg_txn_init(svc, &sg_proxy_txn_ops) < 0) {
		sg_xport_stop(svc);
		retire(gw, svc);
		return NULL;
	}
	return svc;
}

void sg_service_close(struct sg_svc *svc)
{
	if (svc->sess)
		sg_session_close_all(svc->sess);
	sg_txn_close(svc);	/* no transaction outlives the sockets */
	sg_xport_stop(svc);
}

void sg_service_stop(struct sg_gw *gw, struct sg_svc *svc)
{
	sg_service_close(svc);
	retire(gw, svc);
}

/* Is anything still pointing at a stopped service? */
static bool svc_is_busy(const struct sg_svc *svc)
{
	return svc->handles_closing > 0 || svc->conns != NULL ||
	    (svc->sess && !sg_session_is_idle(svc->sess));
}

unsigned sg_gw_sweep(struct sg_gw *gw)
{
	unsigned i, n = 0, freed = 0;

	for (i = 0; i < gw->nretired; i++) {
		struct sg_svc *svc = gw->retired[i];

		if (svc_is_busy(svc)) {
			gw->retired[n++] = svc;
			continue;
		}
		log_debug("%s: stopped service freed", svc->cfg->name);
		svc_free(svc);
		freed++;
	}
	gw->nretired = n;
	if (n == 0) {
		free(gw->retired);
		gw->retired = NULL;
	}
	return freed;
}

static bool same_endpoints(const struct sg_cfg_service *a,
			   const struct sg_cfg_service *b)
{
	unsigned i;

	if (a->protocol != b->protocol || a->naccept != b->naccept ||
	    a->nconnect != b->nconnect)
		return false;
	for (i = 0; i < a->naccept; i++)
		if (a->accept[i].kind != b->accept[i].kind ||
		    a->accept[i].port != b->accept[i].port ||
		    strcmp(a->accept[i].host, b->accept[i].host) != 0)
			return false;
	for (i = 0; i < a->nconnect; i++)
		if (a->connect[i].kind != b->connect[i].kind ||
		    a->connect[i].port != b->connect[i].port ||
		    strcmp(a->connect[i].host, b->connect[i].host) != 0)
			return false;
	return true;
}

static const struct sg_cfg_service *find_service(const struct sg_cfg *cfg,
						  const char *name)
{
	unsigned i;

	for (i = 0; i < cfg->nservices; i++)
		if (strcmp(cfg->services[i].name, name) == 0)
			return &cfg->services[i];
	return NULL;
}

int sg_gw_reload(struct sg_gw *gw, const char *file)
{
	struct sg_cfg *cfg;
	struct sg_svc **next = NULL;
	struct sg_tls_ctx **ctx = NULL;
	unsigned i, n = 0, kept = 0, started = 0, stopped = 0;
	int rc = -EINVAL;

	log_info("reload: reading %s", file);
	/* Stopped by an earlier reload and closed since: free them now, so
	 * that quick reloads do not pile up until the next tick. */
	sg_gw_sweep(gw);
	if (sg_cfg_load(file, stderr, &cfg) < 0 ||
	    sg_gw_check(cfg, stderr) < 0) {
		log_warnx("reload: %s has errors: nothing changed", file);
		if (cfg)
			sg_cfg_free(cfg);
		return -EINVAL;
	}
	/* New TLS credentials for services that stay, all or nothing. */
	if ((ctx = calloc(cfg->nservices + 1, sizeof(*ctx))) == NULL ||
	    (next = calloc(cfg->nservices + 1, sizeof(*next))) == NULL)
		goto fail;
	for (i = 0; i < cfg->nservices; i++) {
		const struct sg_cfg_service *s = &cfg->services[i];

		if (sg_cfg_service_has_tls(s) &&
		    sg_pair_tls_ctx_new(s, stderr, &ctx[i]) < 0) {
			log_warnx("reload: [%s]: TLS set-up failed: nothing"
			    " changed", s->name);
			goto fail;
		}
	}
	/* Swap. Services no longer configured, or with other endpoints,
	 * stop; the others take the new settings in place. */
	for (i = 0; i < gw->nsvc; i++) {
		struct sg_svc *svc = gw->svc[i];
		const struct sg_cfg_service *s = find_service(cfg,
		    svc->cfg->name);

		if (s == NULL || !same_endpoints(s, svc->cfg)) {
			log_info("reload: [%s] %s", svc->cfg->name, s ?
			    "changed its endpoints: restarting it" : "removed");
			sg_service_stop(gw, svc);
			stopped++;
			continue;
		}
		sg_cfg_hold(s);
		sg_cfg_free(svc->cfg->root);
		svc->cfg = s;
		if (svc->tls)
			sg_tls_ctx_put(svc->tls);
		svc->tls = ctx[s - cfg->services];
		ctx[s - cfg->services] = NULL;
		if (s->sip_inside[0])
			snprintf(svc->adv_host[SG_SIDE_INSIDE],
			    sizeof(svc->adv_host[0]), "%s", s->sip_inside);
		if (s->sip_outside[0])
			snprintf(svc->adv_host[SG_SIDE_OUTSIDE],
			    sizeof(svc->adv_host[1]), "%s", s->sip_outside);
		if (svc->sess && sg_session_configure(svc->sess, stderr) < 0)
			log_warnx("reload: [%s]: media settings not applied",
			    s->name);
		next[n++] = svc;
		kept++;
	}
	for (i = 0; i < cfg->nservices; i++) {
		const struct sg_cfg_service *s = &cfg->services[i];
		struct sg_svc *svc;
		unsigned k;

		for (k = 0; k < n && next[k]->cfg != s; k++)
			;
		if (k < n)
			continue;
		if ((svc = sg_service_start(gw, s, stderr)) == NULL) {
			log_warnx("reload: [%s] could not start", s->name);
			continue;
		}
		log_info("reload: [%s] started", s->name);
		next[n++] = svc;
		started++;
	}
	free(gw->svc);
	gw->svc = next;
	gw->nsvc = n;
	next = NULL;
	/* The old configuration stays as long as something holds it. */
	sg_cfg_free(gw->cfg);
	gw->cfg = cfg;
	cfg = NULL;
	log_setlevel(gw->cfg->log_level);
	log_info("reload: done: %u service%s kept with new settings, %u"
	    " started, %u stopped", kept, kept == 1 ? "" : "s", started,
	    stopped);
	rc = 0;
fail:
	if (ctx && cfg)
		for (i = 0; i < cfg->nservices; i++)
			sg_tls_ctx_put(ctx[i]);
	else if (ctx && gw->cfg)
		for (i = 0; i < gw->cfg->nservices; i++)
			if (ctx[i])
				sg_tls_ctx_put(ctx[i]);
	free(ctx);
	free(next);
	if (cfg)
		sg_cfg_free(cfg);
	return rc;
}

void sg_gw_free(struct sg_gw *gw)
{
	unsigned i;

	for (i = 0; i < gw->nsvc; i++)
		svc_free(gw->svc[i]);
	for (i = 0; i < gw->nretired; i++)
		svc_free(gw->retired[i]);
	free(gw->svc);
	free(gw->retired);
	sg_xport_loop_free(gw);
	sg_proxy_loop_free(gw);
	sg_cfg_free(gw->cfg);
}
