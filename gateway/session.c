/* SPDX-License-Identifier: MIT */
/*
 * session.c: calls, SDP offer/answer and the media policy (DESIGN §4,
 * RFC 3264, RFC 4568). Runs on the control plane: it may allocate and
 * log; media.c does the per-packet work.
 *
 * SDES keys: the key in an SDP is the one its author sends with. So an
 * offer from the inside leaves with one fresh key of ours per configured
 * suite; the answer's a=crypto (same tag) gives the peer's key. An offer
 * from the outside gives the peer's key for the first acceptable suite;
 * the answer we write carries our key for that suite and tag. Our key of
 * a stream is kept across re-INVITEs while the suite stays, so the
 * peer's context (and its ROC) stays valid: no re-key, no gap.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <stdlib.h>
#include <string.h>

#include "cfg.h"
#include "log.h"
#include "policy.h"
#include "sdp.h"
#include "session.h"
#include "srtp.h"

#define NBUCKETS 4096
#define RX_PREV_KEEP_MS (10 * 1000)	/* old peer key kept after a re-key */
#define CANCEL_WAIT_MS (64 * 500)	/* 64*T1: a CANCELled INVITE's final
					 * response is due by then */

struct sg_call_stream {
	struct sg_media_stream *ms;	/* media.c's; NULL once it closed */
	struct sg_call *call;
	unsigned idx;
	bool open;
	bool secure;
	/* Our offer toward the outside: a key per suite. */
	unsigned noffered;
	struct {
		int suite;
		uint32_t tag;
		uint8_t key[SG_SRTP_MAX_KEY];
	} offered[8];
	/* The outside's offer: what we chose from it. */
	bool have_choice;
	int choice_suite;
	uint32_t choice_tag;
	uint8_t choice_key[SG_SRTP_MAX_KEY];
	bool choice_plain_rtcp;
	/* The key we send with on the outside, kept across re-INVITEs. */
	bool have_our;
	bool our_rtcp_plain;		/* UNENCRYPTED_SRTCP agreed */
	int our_suite;
	uint8_t our_key[SG_SRTP_MAX_KEY];
	/* Installed in the outside leg. */
	bool tx_on, rx_on;
	int tx_suite, rx_suite;
	uint8_t tx_key[SG_SRTP_MAX_KEY], rx_key[SG_SRTP_MAX_KEY];
	uint64_t rx_prev_since;
};

struct sg_call {
	struct sg_call *next;		/* hash chain */
	struct sg_sessions *ss;
	/* The service's settings when the call started: a reload does not
	 * change a live call's policy (held: see sg_cfg_hold). */
	const struct sg_cfg_service *cfg;
	char callid[256];
	char tag_caller[128], tag_callee[128];
	enum sg_side caller_side;
	uint32_t invite_cseq;
	bool confirmed;			/* a 2xx answered the first INVITE */
	uint64_t cancel_ms;		/* CANCEL seen then, or 0 */
	bool ended;
	bool offer_pending;
	enum sg_side offer_from;
	uint32_t offer_cseq;
	unsigned nstreams;
	struct sg_call_stream *streams[SG_SDP_MAX_MEDIA];
	unsigned alive;			/* streams whose handles are open */
	bool counted_media;
	uint64_t created_ms;
};

static uint32_t hash_str(struct sg_str s)
{
	uint32_t h = 2166136261u;	/* FNV-1a */
	size_t i;

	for (i = 0; i < s.len; i++)
		h = (h ^ (uint8_t)s.p[i]) * 16777619u;
	return h;
}

static bool str_is(const char *a, struct sg_str b)
{
	return strlen(a) == b.len && memcmp(a, b.p, b.len) == 0;
}

static void copy_str(char *dst, size_t sz, struct sg_str s)
{
	size_t n = SG_MIN(s.len, sz - 1);

	memcpy(dst, s.p, n);
	dst[n] = '\0';
}

static struct sg_str header_tag(const struct sg_sip_msg *m,
				enum sg_sip_hdr_id id)
{
	const struct sg_sip_hdr *h = sg_sip_hdr_find(m, id);
	struct sg_sip_naddr na;
	struct sg_str tag = SG_STR_NULL;

	if (h && sg_sip_naddr_parse(h->value, &na) == 0)
		sg_sip_param_get(na.params, "tag", &tag);
	return tag;
}

/* Set-up. */

static int side_addr(struct sg_sessions *ss, int side, const char *cfgaddr,
		     FILE *errf)
{
	struct sg_svc *svc = ss->svc;
	struct sockaddr_storage bind;
	const char *host = svc->adv_host[side];

	/* Bind to the address SIP uses on that side when it is literal. */
	if (host[0] == '\0' && cfgaddr[0] == '\0' &&
	    svc->cname[side].by_name) {
		/* Known once the connect name is resolved: see sdp_addr(). */
		sg_addr_parse("0.0.0.0", 0, &bind);
		ss->media.addr[side] = bind;
		ss->sdp_addr[side][0] = '\0';
		return 0;
	}
	if (sg_addr_parse(host, 0, &bind) < 0) {
		if (cfgaddr[0] == '\0' || sg_addr_parse(cfgaddr, 0, &bind) < 0) {
			fprintf(errf, "%s: media on the %s needs an address:"
			    " set media-%s = ADDRESS\n", svc->cfg->name,
			    side ? "outside" : "inside",
			    side ? "outside" : "inside");
			return -EINVAL;
		}
		/* A name or a NAT address: listen on every address. */
		sg_addr_parse(bind.ss_family == AF_INET6 ? "::" : "0.0.0.0", 0,
		    &bind);
	}
	if (side == SG_MEDIA_INSIDE)
		ss->media.addr[0] = bind;
	else
		ss->media.addr[1] = bind;
	snprintf(ss->sdp_addr[side], sizeof(ss->sdp_addr[side]), "%.63s",
	    cfgaddr[0] ? cfgaddr : host);
	ss->sdp_v6[side] = strchr(ss->sdp_addr[side], ':') != NULL;
	return 0;
}

/*
 * Take the media settings of the service's current configuration:
 * addresses, port range and suites. Used at start and on reload; streams
 * already open keep what they have.
 */
int sg_session_configure(struct sg_sessions *ss, FILE *errf)
{
	const struct sg_cfg_service *cfg = ss->svc->cfg;
	unsigned i, n = 0;
	int s, suites[8];

	/* Valid by now: cfg.c's check_service() is the one that decides. */
	if (side_addr(ss, SG_MEDIA_INSIDE, cfg->media_inside, errf) < 0 ||
	    side_addr(ss, SG_MEDIA_OUTSIDE, cfg->media_outside, errf) < 0)
		return -EINVAL;
	ss->media.port_min = (uint16_t)(cfg->rtp_min & ~1u);
	ss->media.port_max = cfg->rtp_max;
	for (i = 0; i < cfg->nsuites && n < SG_ARRAY_SIZE(suites); i++) {
		s = sg_srtp_suite_by_name(sg_str_make(cfg->suites[i],
		    strlen(cfg->suites[i])));
		if (s < 0)
			continue;
		if (!sg_srtp_suite_is_available(s)) {
			log_warnx("%s: %s is not in this libsrtp2 build: not"
			    " offered", cfg->name, cfg->suites[i]);
			continue;
		}
		suites[n++] = s;
	}
	if (n == 0)
		suites[n++] = SG_SRTP_AES_CM_128_HMAC_SHA1_80;
	memcpy(ss->suites, suites, n * sizeof(suites[0]));
	ss->nsuites = n;
	return 0;
}

/* Relay ports are drawn with GnuTLS's nonce generator (not guessable). */
static int media_rnd(void *buf, size_t len)
{
	return gnutls_rnd(GNUTLS_RND_NONCE, buf, len) < 0 ? -EIO : 0;
}

int sg_session_init(struct sg_sessions *ss, struct sg_svc *svc, FILE *errf)
{
	struct sockaddr_storage none;
	int rc;

	memset(ss, 0, sizeof(*ss));
	ss->svc = svc;
	memset(&none, 0, sizeof(none));
	sg_media_init(&ss->media, svc->gw->loop, &none, &none,
	    svc->cfg->rtp_min, svc->cfg->rtp_max, media_rnd);
	sg_srtp_global_init();
	if ((rc = sg_session_configure(ss, errf)) < 0)
		return rc;
	ss->nbuckets = NBUCKETS;
	if ((ss->buckets = calloc(ss->nbuckets, sizeof(*ss->buckets))) == NULL)
		return -ENOMEM;
	return 0;
}

/* Calls. */

static struct sg_call **bucket(struct sg_sessions *ss, struct sg_str callid)
{
	return &ss->buckets[hash_str(callid) % ss->nbuckets];
}

/*
 * The call a message belongs to: the one whose caller tag and side match
 * the request's From tag and arrival side, or whose callee does.
 */
static struct sg_call *call_find(struct sg_sessions *ss, struct sg_str callid,
				 struct sg_str from_tag, enum sg_side req_from)
{
	struct sg_call *c;

	for (c = *bucket(ss, callid); c; c = c->next) {
		if (c->ended || !str_is(c->callid, callid))
			continue;
		if (str_is(c->tag_caller, from_tag) && c->caller_side == req_from)
			return c;
		if (c->tag_callee[0] && str_is(c->tag_callee, from_tag) &&
		    c->caller_side != req_from)
			return c;
	}
	return NULL;
}

static struct sg_call *call_new(struct sg_sessions *ss, struct sg_str callid,
				struct sg_str from_tag, enum sg_side caller_side,
				uint32_t cseq)
{
	struct sg_call *c;
	struct sg_call **b;

	if (callid.len >= sizeof(c->callid) ||
	    from_tag.len >= sizeof(c->tag_caller))
		return NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->ss = ss;
	c->cfg = ss->svc->cfg;
	sg_cfg_hold(c->cfg);
	copy_str(c->callid, sizeof(c->callid), callid);
	copy_str(c->tag_caller, sizeof(c->tag_caller), from_tag);
	c->caller_side = caller_side;
	c->invite_cseq = cseq;
	c->created_ms = uv_now(ss->media.loop);
	b = bucket(ss, callid);
	c->next = *b;
	*b = c;
	ss->calls_active++;
	ss->calls_total++;
	ss->calls_held++;
	return c;
}

static void call_unlink(struct sg_call *c)
{
	struct sg_call **pp = bucket(c->ss, sg_str_make(c->callid,
	    strlen(c->callid)));

	for (; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			return;
		}
}

static void call_maybe_free(struct sg_call *c)
{
	if (c->ended && c->alive == 0) {
		call_unlink(c);
		c->ss->calls_held--;
		sg_cfg_free(c->cfg->root);	/* our reference */
		free(c);
	}
}

static void stream_on_event(struct sg_media_stream *ms, int ev)
{
	struct sg_call_stream *cs = ms->owner;
	struct sg_call *c = cs->call;

	if (ev != SG_MEDIA_EV_CLOSED)
		return;
	cs->ms = NULL;			/* media.c frees it when we return */
	c->ss->streams_active--;
	c->streams[cs->idx] = NULL;
	gnutls_memset(cs, 0, sizeof(*cs));
	free(cs);
	c->alive--;
	call_maybe_free(c);
}

static void stream_close(struct sg_call_stream *cs)
{
	if (cs && cs->open) {
		cs->open = false;
		sg_media_stream_close(cs->ms);
	}
}

static void call_end(struct sg_call *c, const char *why)
{
	unsigned i;

	if (c->ended)
		return;
	c->ended = true;
	c->ss->calls_active--;
	log_debug("%s: call %s ended: %s", c->ss->svc->cfg->name, c->callid,
	    why);
	for (i = 0; i < c->nstreams; i++)
		stream_close(c->streams[i]);
	call_maybe_free(c);
}

static enum sg_media_latch media_latch(const struct sg_cfg_service *cfg)
{
	switch (cfg->media_latch) {
	case SG_LATCH_SDP_IP:
		return SG_MEDIA_LATCH_SDP_IP;
	case SG_LATCH_FIRST:
		return SG_MEDIA_LATCH_FIRST;
	case SG_LATCH_STRICT:
		break;
	}
	return SG_MEDIA_LATCH_STRICT;
}

/*
 * The open stream of m= line i, opened now if there is none. NULL with
 * *rc set when it cannot open (or is still closing: -EBUSY); then nothing
 * of the call changed. A failed open never calls stream_on_event (media.c
 * promises it), so cs is ours alone to free.
 */
static struct sg_call_stream *stream_get(struct sg_call *c, unsigned i,
					 int *rc)
{
	struct sg_call_stream *cs = c->streams[i];

	if (cs && cs->open)
		return cs;
	if (cs) {
		*rc = -EBUSY;	/* still closing: no media this round */
		return NULL;
	}
	if ((cs = calloc(1, sizeof(*cs))) == NULL) {
		*rc = -ENOMEM;
		return NULL;
	}
	cs->call = c;
	cs->idx = i;
	if ((*rc = sg_media_stream_new(&c->ss->media, media_latch(c->cfg),
	    stream_on_event, cs, &cs->ms)) < 0) {
		free(cs);
		return NULL;
	}
	cs->open = true;
	c->streams[i] = cs;
	c->alive++;
	c->ss->streams_active++;
	if (c->nstreams < i + 1)
		c->nstreams = i + 1;
	return cs;
}

/* Keys and contexts. */

/* Agree the outside leg's mode: SRTP, or plain where policy allows. */
static void set_secure(struct sg_call_stream *cs, bool secure)
{
	struct sg_media_leg *out = &cs->ms->leg[SG_MEDIA_OUTSIDE];

	cs->secure = secure;
	out->secure = secure;
	out->plain_ok = !secure;
}

static int new_key(uint8_t *key, size_t len)
{
	return gnutls_rnd(GNUTLS_RND_KEY, key, len) < 0 ? -EIO : 0;
}

static int install_tx(struct sg_call_stream *cs)
{
	struct sg_media_leg *leg = &cs->ms->leg[SG_MEDIA_OUTSIDE];
	size_t klen = sg_srtp_key_len(cs->our_suite);

	if (cs->tx_on && cs->tx_suite == cs->our_suite &&
	    leg->tx.rtcp_plain == cs->our_rtcp_plain &&
	    memcmp(cs->tx_key, cs->our_key, klen) == 0)
		return 0;	/* unchanged: keep context and ROC */
	sg_srtp_close(&leg->tx);
	if (sg_srtp_init_ex(&leg->tx, cs->our_suite, cs->our_key, klen, true,
	    cs->our_rtcp_plain) < 0)
		return -EINVAL;
	cs->call->ss->tx_contexts++;
	cs->tx_on = true;
	cs->tx_suite = cs->our_suite;
	memcpy(cs->tx_key, cs->our_key, klen);
	return 0;
}

static int install_rx(struct sg_call_stream *cs, int suite,
		      const uint8_t *key, bool plain_rtcp)
{
	struct sg_media_leg *leg = &cs->ms->leg[SG_MEDIA_OUTSIDE];
	size_t klen = sg_srtp_key_len(suite);

	if (cs->rx_on && cs->rx_suite == suite &&
	    leg->plain_rtcp_ok == plain_rtcp &&
	    memcmp(cs->rx_key, key, klen) == 0)
		return 0;	/* a refresh: same key, same context */
	leg->plain_rtcp_ok = plain_rtcp;
	if (cs->rx_on) {
		/* A re-key: keep the old context a while for packets in
		 * flight (RFC 4568 §7.1.4), so audio has no gap. */
		sg_srtp_close(&leg->rx_prev);
		leg->rx_prev = leg->rx;
		memset(&leg->rx, 0, sizeof(leg->rx));
		cs->rx_prev_since = uv_now(cs->ms->m->loop);
		cs->call->ss->rx_rekeys++;
	}
	if (sg_srtp_init_ex(&leg->rx, suite, key, klen, false, plain_rtcp) < 0)
		return -EINVAL;
	cs->call->ss->rx_contexts++;
	cs->rx_on = true;
	cs->rx_suite = suite;
	memcpy(cs->rx_key, key, klen);
	return 0;
}

/* SDP helpers. */

static int sdp_peer(const struct sg_sdp *sdp, const struct sg_sdp_media *md,
		    struct sockaddr_storage *rtp, struct sockaddr_storage *rtcp)
{
	struct sg_str a = md->has_conn ? md->conn_addr : sdp->conn_addr;
	char host[64];

	if (a.len == 0 || a.len >= sizeof(host))
		return -EINVAL;
	memcpy(host, a.p, a.len);
	host[a.len] = '\0';
	if (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0)
		return -EAGAIN;		/* RFC 2543 hold: keep the peer */
	if (sg_addr_parse(host, md->port, rtp) < 0)
		return -EINVAL;
	*rtcp = *rtp;
	if (rtcp->ss_family == AF_INET6)
		((struct sockaddr_in6 *)rtcp)->sin6_port = htons(
		    md->has_rtcp ? md->rtcp_port : (uint16_t)(md->port + 1));
	else
		((struct sockaddr_in *)rtcp)->sin_port = htons(
		    md->has_rtcp ? md->rtcp_port : (uint16_t)(md->port + 1));
	return 0;
}

static bool proto_is_rtp(struct sg_str p)
{
	return p.len >= 7 && (memcmp(p.p, "RTP/", 4) == 0 ||
	    memcmp(p.p, "UDP/TLS/RTP", 11 <= p.len ? 11 : p.len) == 0);
}

static void set_peer(struct sg_call_stream *cs, int side,
		     const struct sg_sdp *sdp, const struct sg_sdp_media *md)
{
	struct sockaddr_storage rtp, rtcp;

	if (sdp_peer(sdp, md, &rtp, &rtcp) == 0)
		sg_media_leg_set_peer(&cs->ms->leg[side], &rtp, &rtcp,
		    md->rtcp_mux);
	else
		cs->ms->leg[side].rtcp_mux = md->rtcp_mux;
}

/*
 * The first a=crypto of an outside offer that we can do: a suite we
 * offer ourselves, available here, one inline key without lifetime/MKI.
 */
static bool choose_crypto(struct sg_sessions *ss, const struct sg_sdp_media *md,
			  struct sg_call_stream *cs)
{
	unsigned i, k;

	for (i = 0; i < md->ncrypto; i++) {
		const struct sg_sdp_crypto *c = &md->crypto[i];
		int s = sg_srtp_suite_by_name(c->suite);
		uint8_t key[SG_SRTP_MAX_KEY];
		int n;

		if (s < 0)
			continue;
		for (k = 0; k < ss->nsuites && ss->suites[k] != s; k++)
			;
		if (k == ss->nsuites)
			continue;
		n = sg_sdp_crypto_key(c, key, sizeof(key));
		if (n < 0 || (size_t)n != sg_srtp_key_len(s))
			continue;
		cs->have_choice = true;
		cs->choice_suite = s;
		cs->choice_tag = c->tag;
		memcpy(cs->choice_key, key, (size_t)n);
		cs->choice_plain_rtcp = sg_sdp_crypto_has_param(c,
		    "UNENCRYPTED_SRTCP");
		return true;
	}
	return false;
}

/*
 * The address SDP shows on a side. It may only be known after the connect
 * name was resolved (the local address toward it): take it then.
 */
static const char *sdp_addr(struct sg_sessions *ss, int side)
{
	struct sockaddr_storage a;

	if (ss->sdp_addr[side][0] == '\0' &&
	    sg_addr_parse(ss->svc->adv_host[side], 0, &a) == 0) {
		snprintf(ss->sdp_addr[side], sizeof(ss->sdp_addr[side]),
		    "%.63s", ss->svc->adv_host[side]);
		ss->sdp_v6[side] = a.ss_family == AF_INET6;
	}
	return ss->sdp_addr[side][0] ? ss->sdp_addr[side] : NULL;
}

/* Offer/answer. */

/*
 * An offer from `from` toward the other side. Fills rw for the SDP that
 * leaves. Returns 0 or a SIP status to refuse with.
 */
static int do_offer(struct sg_call *c, struct sg_session_msg *sm,
		    const struct sg_sdp *sdp, struct sg_sdp_rewrite *rw)
{
	struct sg_sessions *ss = c->ss;
	enum sg_media_policy pol = c->cfg->media;
	int to = sm->from == SG_SIDE_INSIDE ? SG_MEDIA_OUTSIDE : SG_MEDIA_INSIDE;
	unsigned i, k;
	int rc;

	if ((rw->addr = sdp_addr(ss, to)) == NULL) {
		sm->why = "the media address of that side is not known yet";
		return 503;
	}
	rw->addr_v6 = ss->sdp_v6[to];
	rw->nmedia = sdp->nmedia;
	for (i = 0; i < sdp->nmedia; i++) {
		const struct sg_sdp_media *md = &sdp->media[i];
		struct sg_sdp_media_out *mo = &rw->media[i];
		struct sg_call_stream *cs;

		memset(mo, 0, sizeof(*mo));
		/* A rejected line toward the outside keeps the secure
		 * profile under media = srtp: no RTP/AVP leaves at all. */
		mo->secure = to == SG_MEDIA_OUTSIDE && pol == SG_MEDIA_SRTP;
		if (md->port == 0 || !proto_is_rtp(md->proto)) {
			if (i < c->nstreams)
				stream_close(c->streams[i]);
			continue;	/* rejected or not RTP: port 0 */
		}
		mo->secure = false;
		if ((cs = stream_get(c, i, &rc)) == NULL) {
			sm->why = rc == -EMFILE || rc == -ENFILE ?
			    "media sockets cannot be opened (open files limit)" :
			    rc == -EADDRINUSE || rc == -EACCES ?
			    "no free media ports" :
			    "the media stream cannot be opened";
			return 503;
		}
		set_peer(cs, sm->from, sdp, md);
		mo->port = cs->ms->leg[to].port;
		mo->rtcp_port = md->has_rtcp ? (uint16_t)(mo->port + 1) : 0;
		if (sm->from == SG_SIDE_INSIDE) {
			if (pol == SG_MEDIA_RELAY) {
				mo->secure = false;
				continue;
			}
			if (md->ncrypto > 0 || sg_str_caseeq_lit(md->proto,
			    "RTP/SAVP")) {
				sm->why = "SRTP offered on the inside (plain"
				    " side) is not supported";
				return 488;
			}
			/* A retransmitted offer must carry the same keys. */
			if (c->offer_pending && c->offer_from == sm->from &&
			    c->offer_cseq == sm->m->cseq_num &&
			    cs->noffered == ss->nsuites) {
				for (k = 0; k < cs->noffered; k++) {
					int s = cs->offered[k].suite;

					mo->crypto[k].tag = cs->offered[k].tag;
					mo->crypto[k].suite = sg_srtp_suite_name(s);
					mo->crypto[k].key = cs->offered[k].key;
					mo->crypto[k].keylen = sg_srtp_key_len(s);
				}
				mo->ncrypto = cs->noffered;
				mo->secure = true;
				mo->best_effort = pol == SG_MEDIA_SRTP_OPTIONAL;
				continue;
			}
			/* One key per suite; ours kept for the current one. */
			cs->noffered = 0;
			for (k = 0; k < ss->nsuites; k++) {
				int s = ss->suites[k];

				cs->offered[k].suite = s;
				cs->offered[k].tag = k + 1;
				if (cs->have_our && cs->our_suite == s)
					memcpy(cs->offered[k].key, cs->our_key,
					    sg_srtp_key_len(s));
				else if (new_key(cs->offered[k].key,
				    sg_srtp_key_len(s)) < 0)
					return 500;
				mo->crypto[k].tag = k + 1;
				mo->crypto[k].suite = sg_srtp_suite_name(s);
				mo->crypto[k].key = cs->offered[k].key;
				mo->crypto[k].keylen = sg_srtp_key_len(s);
				cs->noffered++;
			}
			mo->ncrypto = cs->noffered;
			/* srtp: RTP/SAVP; srtp-optional: best effort, RTP/AVP
			 * with a=crypto (RFC 4568 §7.1.1 allows either). */
			mo->secure = true;
			mo->best_effort = pol == SG_MEDIA_SRTP_OPTIONAL;
			continue;
		}
		/* From the outside. */
		cs->have_choice = false;
		if (pol != SG_MEDIA_RELAY && choose_crypto(ss, md, cs)) {
			mo->secure = false;	/* plain toward the inside */
			continue;
		}
		if (pol == SG_MEDIA_SRTP) {
			sm->why = md->ncrypto ? "no acceptable a=crypto in the"
			    " offer (suite, key, lifetime or MKI)" :
			    "the offer has no a=crypto (media = srtp)";
			return 488;
		}
		if (pol == SG_MEDIA_SRTP_OPTIONAL)
			log_warnx("%s: call %s: the outside offers no usable"
			    " SRTP: relaying plain RTP (media = srtp-optional)",
			    ss->svc->cfg->name, c->callid);
		mo->secure = false;
	}
	c->offer_pending = true;
	c->offer_from = sm->from;
	c->offer_cseq = sm->m->cseq_num;
	return 0;
}

/* The answer from `from` to the pending offer from the other side. */
static int do_answer(struct sg_call *c, struct sg_session_msg *sm,
		     const struct sg_sdp *sdp, struct sg_sdp_rewrite *rw)
{
	struct sg_sessions *ss = c->ss;
	enum sg_media_policy pol = c->cfg->media;
	int to = sm->from == SG_SIDE_INSIDE ? SG_MEDIA_OUTSIDE : SG_MEDIA_INSIDE;
	bool any_secure = false, any_plain = false;
	unsigned i, k;

	if ((rw->addr = sdp_addr(ss, to)) == NULL) {
		sm->why = "the media address of that side is not known yet";
		return 503;
	}
	rw->addr_v6 = ss->sdp_v6[to];
	rw->nmedia = sdp->nmedia;
	for (i = 0; i < sdp->nmedia; i++) {
		const struct sg_sdp_media *md = &sdp->media[i];
		struct sg_sdp_media_out *mo = &rw->media[i];
		struct sg_call_stream *cs = i < c->nstreams ? c->streams[i] : NULL;

		memset(mo, 0, sizeof(*mo));
		mo->secure = to == SG_MEDIA_OUTSIDE && pol == SG_MEDIA_SRTP;
		if (cs == NULL || !cs->open || md->port == 0) {
			if (cs && md->port == 0)
				stream_close(cs);
			continue;	/* rejected: port 0 */
		}
		mo->secure = false;
		set_peer(cs, sm->from, sdp, md);
		mo->port = cs->ms->leg[to].port;
		mo->rtcp_port = md->has_rtcp ? (uint16_t)(mo->port + 1) : 0;
		if (pol == SG_MEDIA_RELAY) {
			set_secure(cs, false);
			any_plain = true;
			continue;
		}
		if (sm->from == SG_SIDE_OUTSIDE) {
			/* The answer to our offer: its tag names our key. */
			const struct sg_sdp_crypto *ans = NULL;
			uint8_t key[SG_SRTP_MAX_KEY];
			int s = -1, n = -1;

			for (k = 0; k < md->ncrypto && ans == NULL; k++) {
				unsigned j;

				for (j = 0; j < cs->noffered; j++) {
					if (md->crypto[k].tag != cs->offered[j].tag)
						continue;
					s = sg_srtp_suite_by_name(
					    md->crypto[k].suite);
					if (s != cs->offered[j].suite)
						continue;
					n = sg_sdp_crypto_key(&md->crypto[k],
					    key, sizeof(key));
					if (n == (int)sg_srtp_key_len(s)) {
						ans = &md->crypto[k];
						cs->have_our = true;
						cs->our_suite = s;
						memcpy(cs->our_key,
						    cs->offered[j].key, (size_t)n);
					}
					break;
				}
			}
			if (ans == NULL) {
				if (pol == SG_MEDIA_SRTP) {
					sm->why = md->ncrypto ? "the answer's"
					    " a=crypto matches nothing we"
					    " offered" : "the answer has no"
					    " a=crypto (media = srtp)";
					return 488;
				}
				log_warnx("%s: call %s: the outside answered"
				    " without SRTP: relaying plain RTP (media ="
				    " srtp-optional)", ss->svc->cfg->name,
				    c->callid);
				set_secure(cs, false);
				any_plain = true;
				continue;
			}
			if (install_tx(cs) < 0 || install_rx(cs, s, key,
			    sg_sdp_crypto_has_param(ans, "UNENCRYPTED_SRTCP"))
			    < 0) {
				sm->why = "SRTP context set-up failed";
				return 500;
			}
			set_secure(cs, true);
			any_secure = true;
			continue;
		}
		/* The inside answered the outside's offer. */
		if (!cs->have_choice) {
			set_secure(cs, false);	/* do_offer allowed plain */
			any_plain = true;
			continue;
		}
		if (!cs->have_our || cs->our_suite != cs->choice_suite) {
			cs->our_suite = cs->choice_suite;
			if (new_key(cs->our_key,
			    sg_srtp_key_len(cs->our_suite)) < 0)
				return 500;
			cs->have_our = true;
		}
		cs->our_rtcp_plain = cs->choice_plain_rtcp;
		if (install_tx(cs) < 0 || install_rx(cs, cs->choice_suite,
		    cs->choice_key, cs->choice_plain_rtcp) < 0) {
			sm->why = "SRTP context set-up failed";
			return 500;
		}
		set_secure(cs, true);
		any_secure = true;
		mo->secure = true;
		mo->ncrypto = 1;
		mo->crypto[0].tag = cs->choice_tag;
		mo->crypto[0].suite = sg_srtp_suite_name(cs->our_suite);
		mo->crypto[0].key = cs->our_key;
		mo->crypto[0].keylen = sg_srtp_key_len(cs->our_suite);
		mo->crypto[0].params = cs->our_rtcp_plain ?
		    "UNENCRYPTED_SRTCP" : NULL;
	}
	if (!c->counted_media && (any_secure || any_plain)) {
		c->counted_media = true;
		if (any_secure)
			ss->srtp_calls++;
		else
			ss->plain_calls++;
	}
	c->offer_pending = false;
	return 0;
}

/* The methods the session layer tells apart. */
enum meth { M_OTHER, M_INVITE, M_ACK, M_PRACK, M_UPDATE, M_BYE, M_CANCEL,
	M_OPTIONS };

static enum meth method_of(struct sg_str s)
{
	static const struct {
		const char *name;
		enum meth m;
	} t[] = { { "INVITE", M_INVITE }, { "ACK", M_ACK }, { "PRACK", M_PRACK },
	    { "UPDATE", M_UPDATE }, { "BYE", M_BYE }, { "CANCEL", M_CANCEL },
	    { "OPTIONS", M_OPTIONS } };
	size_t i;

	for (i = 0; i < SG_ARRAY_SIZE(t); i++)
		if (sg_str_caseeq_lit(s, t[i].name))
			return t[i].m;
	return M_OTHER;
}

/* RFC 3264: the methods whose bodies are offers or answers. */
static bool carries_offer_answer(enum meth m)
{
	return m == M_INVITE || m == M_ACK || m == M_PRACK || m == M_UPDATE;
}

static struct sg_str content_type(const struct sg_sip_msg *m)
{
	const struct sg_sip_hdr *ct = sg_sip_hdr_find(m, SG_SIP_HDR_CONTENT_TYPE);

	return ct ? ct->value : SG_STR_NULL;
}

/*
 * A message with SDP for which no live call exists (never seen, refused,
 * ended by BYE, CANCEL or an error): a late retransmission or a stray. It
 * never crosses: a request is refused with 481 (RFC 3261 §12.2.2), an ACK
 * or a response is dropped. Counted and logged, rate-limited.
 */
static int no_call(struct sg_sessions *ss, struct sg_session_msg *sm,
		   enum meth meth)
{
	const struct sg_sip_msg *m = sm->m;
	bool drop = !m->is_request || meth == M_ACK;

	if (drop)
		ss->no_call_dropped++;
	else
		ss->no_call_refused++;
	log_ratelimited(&ss->rl_late, LOG_WARNING, "%s: late SDP in %s %.*s"
	    " from the %s for call %.*s: no live call, %s",
	    ss->svc->cfg->name, m->is_request ? "a" : "a response to",
	    SG_STR_FMT(m->is_request ? m->method : m->cseq_method),
	    sm->from == SG_SIDE_INSIDE ? "inside" : "outside",
	    (int)SG_MIN(m->call_id.len, 80), m->call_id.p,
	    drop ? "dropped" : "refused with 481");
	sm->why = "no call for this SDP (ended or unknown)";
	return drop ? SG_SESSION_DROP : 481;
}

/* A body the policy cannot let cross: requests 488, responses dropped. */
static int policy_refuse(struct sg_sessions *ss, struct sg_session_msg *sm,
			 const char *why)
{
	const struct sg_sip_msg *m = sm->m;

	ss->sdp_refused++;
	sm->why = why;
	log_ratelimited(&ss->rl_late, LOG_WARNING, "%s: %s %.*s from the %s,"
	    " call %.*s: %s: %s", ss->svc->cfg->name, m->is_request ?
	    "request" : "response to", SG_STR_FMT(m->is_request ? m->method :
	    m->cseq_method), sm->from == SG_SIDE_INSIDE ? "inside" : "outside",
	    (int)SG_MIN(m->call_id.len, 80), m->call_id.p, why,
	    m->is_request ? "refused with 488" : "dropped");
	return m->is_request && method_of(m->method) != M_ACK ? 488 :
	    SG_SESSION_DROP;
}

/*
 * Write the rewritten SDP where the old one was: the whole body, or the
 * SDP part of a multipart body with the other parts kept byte for byte.
 */
static ssize_t write_body(const struct sg_sdp *sdp, struct sg_str body,
			  struct sg_str part, const struct sg_sdp_rewrite *rw,
			  char *out, size_t outsz)
{
	size_t pre = (size_t)(part.p - body.p);
	size_t post = body.len - pre - part.len;
	ssize_t n;

	if (pre + post >= outsz)
		return -ENOSPC;
	memcpy(out, body.p, pre);
	n = sg_sdp_write(sdp, part.p, part.len, rw, out + pre, outsz - pre);
	if (n < 0)
		return n;
	if (pre + (size_t)n + post > outsz)
		return -ENOSPC;
	memcpy(out + pre + (size_t)n, part.p + part.len, post);
	return (ssize_t)(pre + (size_t)n + post);
}

/* Track the call a message belongs to; NULL when there is no live one. */
static struct sg_call *track(struct sg_sessions *ss,
			     const struct sg_session_msg *sm, enum meth meth)
{
	const struct sg_sip_msg *m = sm->m;
	struct sg_str from_tag = header_tag(m, SG_SIP_HDR_FROM);
	struct sg_str to_tag = header_tag(m, SG_SIP_HDR_TO);
	struct sg_call *c;

	c = call_find(ss, m->call_id, from_tag, sm->req_from);
	if (m->is_request) {
		if (c == NULL && meth == M_INVITE && to_tag.len == 0)
			c = call_new(ss, m->call_id, from_tag, sm->from,
			    m->cseq_num);
		if (c && meth == M_BYE) {
			call_end(c, "BYE");	/* RFC 3261 §15.1.1 */
			return NULL;
		}
		/*
		 * A CANCEL ends nothing yet: the INVITE's final response does
		 * (487, or a 2xx that won the race and gets its ACK and BYE).
		 */
		if (c && meth == M_CANCEL && c->cancel_ms == 0)
			c->cancel_ms = uv_now(ss->media.loop);
		return c;
	}
	if (c == NULL)
		return NULL;
	if (c->tag_callee[0] == '\0' && to_tag.len > 0 &&
	    to_tag.len < sizeof(c->tag_callee) && meth == M_INVITE)
		copy_str(c->tag_callee, sizeof(c->tag_callee), to_tag);
	if (meth == M_INVITE && m->cseq_num == c->invite_cseq &&
	    !c->confirmed && m->status >= 200) {
		if (m->status >= 300) {
			call_end(c, "the INVITE failed");
			return NULL;
		}
		c->confirmed = true;
		/* Forked: the dialog is the 2xx's, not the first 18x's. */
		if (to_tag.len > 0 && to_tag.len < sizeof(c->tag_callee))
			copy_str(c->tag_callee, sizeof(c->tag_callee), to_tag);
	}
	/* RFC 3261 §12.2.1.2: 481 or 408 to an in-dialog request. */
	if ((m->status == 481 || m->status == 408) && to_tag.len > 0) {
		call_end(c, "481 or 408 in the dialog");
		return NULL;
	}
	/* RFC 3264 §4: a rejected offer leaves the session as it was. */
	if (m->status >= 300 && c->offer_pending &&
	    m->cseq_num == c->offer_cseq)
		c->offer_pending = false;
	return c;
}

int sg_session_on_msg(struct sg_sessions *ss, struct sg_session_msg *sm)
{
	const struct sg_sip_msg *m = sm->m;
	enum meth meth = method_of(m->is_request ? m->method : m->cseq_method);
	bool to_inside = sm->from == SG_SIDE_OUTSIDE;
	bool srtp = ss->svc->cfg->media == SG_MEDIA_SRTP;
	struct sg_body_sdp bs;
	struct sg_sdp sdp;
	struct sg_sdp_rewrite rw;
	struct sg_perr err = { 0, NULL };
	struct sg_call *c;
	const char *why;
	bool offer;
	ssize_t n;
	int rc;

	sm->strip = false;
	c = track(ss, sm, meth);
	/* Media is negotiated only within a live call: an in-dialog INVITE
	 * or UPDATE for a call we do not have (ended, or never seen) gets
	 * 481 whatever it carries. */
	if (m->is_request && c == NULL && (meth == M_INVITE ||
	    meth == M_UPDATE) && header_tag(m, SG_SIP_HDR_TO).len > 0)
		return no_call(ss, sm, meth);
	if (m->body.len == 0)
		return 0;
	if (sg_body_find_sdp(content_type(m), m->body, &bs) < 0) {
		ss->sdp_errors++;
		return policy_refuse(ss, sm, "malformed multipart body");
	}
	if (bs.nsdp == 0)
		goto check;		/* no SDP: the invariant still holds */
	if (meth == M_OPTIONS) {
		/* RFC 3261 §11.2: SDP in OPTIONS only describes abilities. */
		ss->sdp_stripped++;
		sm->strip = true;
		sm->body = SG_STR_NULL;
		return 0;
	}
	if (!carries_offer_answer(meth))
		return policy_refuse(ss, sm, "SDP in a message that is not an"
		    " offer or answer");
	if (bs.nsdp > 1)
		return policy_refuse(ss, sm, "more than one SDP in a multipart"
		    " body");
	if (c == NULL || c->ended)
		return no_call(ss, sm, meth);
	if ((rc = sg_sdp_parse(&sdp, bs.sdp.p, bs.sdp.len, &err)) < 0) {
		ss->sdp_errors++;
		sm->why = "malformed SDP";
		log_info("%s: call %s: SDP not understood: %s (line %u)",
		    ss->svc->cfg->name, c->callid, err.reason ? err.reason :
		    "?", err.line);
		/* Never pass an SDP through unrewritten: a response is
		 * refused like one whose rewrite does not fit (500). */
		rc = meth == M_ACK ? SG_SESSION_DROP : m->is_request ? 400 :
		    500;
		if (!c->counted_media)
			call_end(c, "malformed SDP");
		return rc;
	}
	/* RFC 3264: an offer in a request (ACK/PRACK carry answers), or in
	 * a response unless it answers our pending offer. */
	if (m->is_request)
		offer = !(meth == M_ACK || (meth == M_PRACK &&
		    c->offer_pending));
	else
		offer = !(c->offer_pending && c->offer_from != sm->from) &&
		    !(c->counted_media && m->cseq_num == c->offer_cseq);
	if (!offer && c->offer_pending && c->offer_from == sm->from)
		offer = true;		/* a repeated offer from the same side */
	memset(&rw, 0, sizeof(rw));
	rc = offer ? do_offer(c, sm, &sdp, &rw) : do_answer(c, sm, &sdp, &rw);
	if (rc != 0) {
		log_warnx("%s: call %s refused with %d: %s", ss->svc->cfg->name,
		    c->callid, rc, sm->why ? sm->why : "?");
		if (rc == 488)
			ss->refused_488++;
		if (!c->counted_media)
			call_end(c, "refused");	/* a refused re-offer keeps the call */
		return meth == M_ACK ? SG_SESSION_DROP : rc;
	}
	n = write_body(&sdp, m->body, bs.sdp, &rw, sm->out, sm->outsz);
	if (n < 0) {
		sm->why = "rewritten SDP too large";
		return meth == M_ACK ? SG_SESSION_DROP : 500;
	}
	sm->body = sg_str_make(sm->out, (size_t)n);
check:
	/* The invariant, on what would cross (DESIGN §4). */
	if ((why = sg_policy_check(sm->body, to_inside, srtp)) != NULL)
		return policy_refuse(ss, sm, why);
	return 0;
}

static const char *latch_name(enum sg_media_latch l)
{
	return l == SG_MEDIA_LATCH_SDP_IP ? "sdp-ip" :
	    l == SG_MEDIA_LATCH_FIRST ? "first" : "strict";
}

/*
 * "198.18.1.66:40000 -> inside port 20012 (expects 198.18.1.10,
 * media-latch = strict)": the last packet a plain leg refused.
 */
static void foreign_describe(const struct sg_media *m, char *buf, size_t len)
{
	char from[64], want[64];

	sg_addr_str((const struct sockaddr *)&m->foreign_from, from,
	    sizeof(from));
	if (m->foreign_has_want)
		sg_addr_str((const struct sockaddr *)&m->foreign_want, want,
		    sizeof(want));
	else
		snprintf(want, sizeof(want), "%s", "no address yet");
	snprintf(buf, len, "%s -> %s port %u (expects %s, media-latch = %s)",
	    from, m->foreign_side == SG_MEDIA_INSIDE ? "inside" : "outside",
	    m->foreign_port, want, latch_name(m->foreign_latch));
}

/*
 * Once a second: one line for the packets plain legs refused since the
 * last one (the hot path only counts them). An attack on the relay
 * ports is thus logged at most once a second per service.
 */
static void foreign_log(struct sg_sessions *ss)
{
	struct sg_media *m = &ss->media;
	char what[200];

	if (m->foreign_total == m->foreign_logged)
		return;
	foreign_describe(m, what, sizeof(what));
	log_warnx("%s: media: %llu packet%s from a source that is not the"
	    " peer's address dropped; the last: %s", ss->svc->cfg->name,
	    (unsigned long long)(m->foreign_total - m->foreign_logged),
	    m->foreign_total - m->foreign_logged == 1 ? "" : "s", what);
	m->foreign_logged = m->foreign_total;
}

void sg_session_on_local_reply(struct sg_sessions *ss,
			       const struct sg_sip_msg *m, enum sg_side from,
			       unsigned code)
{
	struct sg_call *c;

	if (code < 300 || !m->is_request || method_of(m->method) != M_INVITE ||
	    header_tag(m, SG_SIP_HDR_TO).len > 0)
		return;
	c = call_find(ss, m->call_id, header_tag(m, SG_SIP_HDR_FROM), from);
	if (c && c->invite_cseq == m->cseq_num && !c->confirmed)
		call_end(c, "refused by the gateway");
}

int sg_session_egress_check(struct sg_sessions *ss, enum sg_side to,
			    const char *msg, size_t len)
{
	const char *p = NULL, *why;
	size_t i;

	for (i = 0; i + 3 < len; i++)
		if (msg[i] == '\r' && memcmp(msg + i, "\r\n\r\n", 4) == 0) {
			p = msg + i + 4;
			break;
		}
	if (p == NULL || p == msg + len)
		return 0;
	why = sg_policy_check(sg_str_make(p, len - (size_t)(p - msg)),
	    to == SG_SIDE_INSIDE, ss->svc->cfg->media == SG_MEDIA_SRTP);
	if (why == NULL)
		return 0;
	ss->violations++;
	for (i = 0; i < len && i < 80 && msg[i] != '\r' && msg[i] != '\n' &&
	    msg[i] != '\0'; i++)
		;
	log_ratelimited(&ss->rl_violation, LOG_ERR, "%s: media policy"
	    " violation blocked at the egress (a bug: please report): %s: %.*s",
	    ss->svc->cfg->name, why, (int)i, msg);
	return -EACCES;
}

void sg_session_tick(struct sg_sessions *ss, uint64_t now)
{
	unsigned b, i;

	foreign_log(ss);
	for (b = 0; b < ss->nbuckets; b++) {
		struct sg_call *c, *next;

		for (c = ss->buckets[b]; c; c = next) {
			/*
			 * A call with streams is idle when none carried a
			 * packet for media-timeout; one without streams (no
			 * SDP, or refused) when it is that old: a stateless
			 * proxy may never see its BYE.
			 */
			uint64_t timeout_ms =
			    (uint64_t)c->cfg->media_timeout * 1000;
			bool idle = c->alive > 0 ||
			    now - c->created_ms >= timeout_ms;

			next = c->next;
			if (c->ended)
				continue;
			if (c->cancel_ms && !c->confirmed &&
			    now - c->cancel_ms >= CANCEL_WAIT_MS) {
				call_end(c, "CANCELled, no final response");
				continue;
			}
			for (i = 0; i < c->nstreams; i++) {
				struct sg_call_stream *cs = c->streams[i];

				if (cs == NULL || !cs->open)
					continue;
				if (now - cs->ms->last_rx_ms < timeout_ms)
					idle = false;
				if (cs->rx_prev_since && now - cs->rx_prev_since >
				    RX_PREV_KEEP_MS) {
					sg_srtp_close(&cs->ms->leg[1].rx_prev);
					cs->rx_prev_since = 0;
				}
			}
			if (idle) {
				ss->timeouts++;
				log_info("%s: call %s: no media for %u s: ended",
				    ss->svc->cfg->name, c->callid,
				    (unsigned)(timeout_ms / 1000));
				call_end(c, "media timeout");
			}
		}
	}
}

/* Visit every media counter of the service (gauges are marked). */
void sg_session_counters(struct sg_sessions *ss, sg_counter_fn fn, void *arg)
{
	struct sg_media_leg_stats sum[2];
	unsigned b, i;
	int side;

	memcpy(sum, ss->media.closed, sizeof(sum));
	for (b = 0; b < ss->nbuckets; b++) {
		struct sg_call *c;

		for (c = ss->buckets[b]; c; c = c->next)
			for (i = 0; i < c->nstreams; i++)
				if (c->streams[i] && c->streams[i]->open)
					for (side = 0; side < 2; side++)
						sg_media_stats_add(&sum[side],
						    &c->streams[i]->ms->leg[side].st_);
	}
	fn(arg, "calls_active", "calls crossing now", true, ss->calls_active);
	fn(arg, "calls_total", "calls seen", false, ss->calls_total);
	fn(arg, "media_streams", "media streams open now", true,
	    ss->streams_active);
	fn(arg, "calls_srtp", "calls negotiated with SRTP", false,
	    ss->srtp_calls);
	fn(arg, "calls_plain_rtp", "calls relayed as plain RTP by policy",
	    false, ss->plain_calls);
	fn(arg, "refused_488", "offers or answers refused with 488", false,
	    ss->refused_488);
	fn(arg, "sdp_errors", "SDP bodies not understood", false,
	    ss->sdp_errors);
	fn(arg, "media_timeouts", "calls ended for media inactivity", false,
	    ss->timeouts);
	fn(arg, "sdp_no_call_dropped", "responses and ACKs with SDP and no"
	    " live call, dropped", false, ss->no_call_dropped);
	fn(arg, "sdp_no_call_refused", "requests with SDP or in-dialog offers"
	    " and no live call, refused with 481", false, ss->no_call_refused);
	fn(arg, "sdp_policy_refused", "bodies the media policy did not let"
	    " cross", false, ss->sdp_refused);
	fn(arg, "sdp_stripped", "SDP bodies removed from OPTIONS", false,
	    ss->sdp_stripped);
	fn(arg, "register_contacts_removed", "REGISTER response Contacts that"
	    " were not the phone's own, removed", false, ss->contacts_removed);
	fn(arg, "policy_violations_blocked", "messages the egress check"
	    " blocked (0 unless a bug)", false, ss->violations);
	fn(arg, "srtp_tx_contexts", "SRTP send contexts created", false,
	    ss->tx_contexts);
	fn(arg, "srtp_rx_contexts", "SRTP receive contexts created", false,
	    ss->rx_contexts);
	fn(arg, "srtp_peer_rekeys", "peer key changes", false, ss->rx_rekeys);
	fn(arg, "rtp_in_inside", "RTP packets received inside", false,
	    sum[0].rx_pkts);
	fn(arg, "rtp_out_inside", "RTP packets sent inside", false,
	    sum[0].tx_pkts);
	fn(arg, "srtp_in_outside", "SRTP packets received outside", false,
	    sum[1].rx_pkts);
	fn(arg, "srtp_out_outside", "SRTP packets sent outside", false,
	    sum[1].tx_pkts);
	fn(arg, "srtp_auth_fail", "SRTP/SRTCP packets failing authentication",
	    false, sum[1].auth_fail);
	fn(arg, "srtp_replay", "SRTP replays dropped", false, sum[1].replay);
	fn(arg, "srtcp_plain_dropped", "unencrypted SRTCP not declared",
	    false, sum[1].plain_rtcp_drop);
	fn(arg, "media_tx_drop", "media packets dropped on send", false,
	    sum[0].tx_drop + sum[1].tx_drop);
	fn(arg, "media_foreign_drop", "media packets refused: not from the"
	    " peer's address (media-latch)", false,
	    sum[0].foreign_drop + sum[1].foreign_drop);
	fn(arg, "latched", "media sources latched", false,
	    sum[0].latched + sum[1].latched);
	fn(arg, "relatched", "media sources that moved", false,
	    sum[0].relatched + sum[1].relatched);
}

/*
 * For `sipsgate status`: the last refused media source, then the active
 * calls, one line each.
 */
void sg_session_calls(struct sg_sessions *ss, FILE *f)
{
	unsigned b, i;

	if (ss->media.foreign_ms) {
		char what[200];

		foreign_describe(&ss->media, what, sizeof(what));
		fprintf(f, "  media foreign last %s, %llu s ago\n", what,
		    (unsigned long long)((uv_now(ss->media.loop) -
		    ss->media.foreign_ms) / 1000));
	}

	for (b = 0; b < ss->nbuckets; b++) {
		struct sg_call *c;

		for (c = ss->buckets[b]; c; c = c->next) {
			if (c->ended)
				continue;
			fprintf(f, "  call %s caller %s", c->callid,
			    c->caller_side == SG_SIDE_INSIDE ? "inside" :
			    "outside");
			for (i = 0; i < c->nstreams; i++) {
				struct sg_call_stream *cs = c->streams[i];

				if (cs == NULL || !cs->open)
					continue;
				fprintf(f, " [m%u %u<->%u %s]", i,
				    cs->ms->leg[0].port, cs->ms->leg[1].port,
				    cs->secure ? sg_srtp_suite_name(
				    cs->tx_suite) : "plain RTP");
			}
			fprintf(f, "\n");
		}
	}
}

/* No call object left (the last streams closed): nothing points here. */
bool sg_session_is_idle(const struct sg_sessions *ss)
{
	return ss->calls_held == 0;
}

void sg_session_close_all(struct sg_sessions *ss)
{
	unsigned b;

	for (b = 0; b < ss->nbuckets; b++) {
		struct sg_call *c, *next;

		for (c = ss->buckets[b]; c; c = next) {
			next = c->next;
			call_end(c, "shutting down");
		}
	}
}
