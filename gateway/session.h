/* SPDX-License-Identifier: MIT */
/*
 * session.h: call state that binds SIP dialogs to media streams, and the
 * SDP offer/answer work between the two sides (DESIGN §4): relay ports,
 * RTP/AVP <-> RTP/SAVP, a=crypto with fresh keys from GnuTLS, the media
 * policy. A call is one crossing of the gateway: a call between two
 * phones behind the same gateway crosses it twice and is two calls here,
 * told apart by the side its caller is on.
 */
#ifndef SIPSGATE_GATEWAY_SESSION_H
#define SIPSGATE_GATEWAY_SESSION_H

#include <stdio.h>

#include "media.h"
#include "sip_msg.h"
#include "xport.h"

struct sg_call;

/* Per service. */
struct sg_sessions {
	struct sg_svc *svc;
	struct sg_media media;
	char sdp_addr[2][64];		/* what SDP says, per side */
	bool sdp_v6[2];
	unsigned nsuites;
	int suites[8];			/* enum sg_srtp_suite, offered order */
	struct sg_call **buckets;
	unsigned nbuckets;
	/* Counters. */
	uint64_t calls_active, calls_total;
	uint64_t calls_held;		/* call objects allocated, ended or not */
	uint64_t streams_active;
	uint64_t srtp_calls, plain_calls;	/* negotiated media */
	uint64_t refused_488;
	uint64_t sdp_errors;
	uint64_t timeouts;
	uint64_t tx_contexts, rx_contexts;	/* SRTP contexts created */
	uint64_t rx_rekeys;			/* the peer changed its key */
};

int sg_session_init(struct sg_sessions *ss, struct sg_svc *svc, FILE *errf);
/* Re-read addresses, port range and suites from svc->cfg (reload). */
int sg_session_configure(struct sg_sessions *ss, FILE *errf);
void sg_session_close_all(struct sg_sessions *ss);
/* True when no call is left, not even one whose streams are closing. */
bool sg_session_is_idle(const struct sg_sessions *ss);

/* What a message needs from the session layer. */
struct sg_session_msg {
	const struct sg_sip_msg *m;
	enum sg_side from;		/* side the message arrived on */
	enum sg_side req_from;		/* side its request arrived on */
	struct sg_str body;		/* in: the body; out: what to forward */
	char *out;			/* where a rewritten body goes */
	size_t outsz;
	const char *why;		/* reason when refusing */
};

/*
 * Look at one message (request or response) crossing the gateway: track
 * the call, rewrite its SDP and drive the media streams. Returns 0 to
 * forward (with sm->body), or a SIP status to refuse with (488, 500),
 * sm->why saying why.
 */
int sg_session_on_msg(struct sg_sessions *ss, struct sg_session_msg *sm);
/* Once a second: media inactivity. */
void sg_session_tick(struct sg_sessions *ss, uint64_t now_ms);
/* Counters (name, help, gauge or counter, value) and the active calls. */
void sg_session_counters(struct sg_sessions *ss, sg_counter_fn fn, void *arg);
void sg_session_calls(struct sg_sessions *ss, FILE *f);

#endif /* SIPSGATE_GATEWAY_SESSION_H */
