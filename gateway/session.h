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

#include "log.h"
#include "media.h"
#include "sip_msg.h"
#include "gw.h"

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
	/* The media policy for every SDP that crosses (DESIGN §4). */
	uint64_t no_call_dropped;	/* responses/ACKs with SDP, no live call */
	uint64_t no_call_refused;	/* requests with SDP, no live call: 481 */
	uint64_t sdp_refused;		/* bodies the policy cannot let cross */
	uint64_t sdp_stripped;		/* SDP removed from OPTIONS */
	uint64_t violations;		/* blocked at the egress: a bug if > 0 */
	uint64_t contacts_removed;	/* REGISTER response Contacts not the
					 * phone's own (sip_proxy.c) */
	struct sg_ratelimit rl_late, rl_violation;
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
	bool strip;			/* out: forward without body and
					 * Content-Type (SDP in OPTIONS) */
};

/* sg_session_on_msg(): drop the message (counted and logged). */
#define SG_SESSION_DROP (-1)

/*
 * Look at one message (request or response) crossing the gateway: track
 * the call, rewrite its SDP and drive the media streams. Every SDP that
 * crosses goes through here (DESIGN §4): one for which no live call
 * exists is refused, never passed through. Returns 0 to forward (with
 * sm->body, or none when sm->strip), a SIP status to refuse with (400,
 * 481, 488, 500, 503), sm->why saying why, or SG_SESSION_DROP.
 */
int sg_session_on_msg(struct sg_sessions *ss, struct sg_session_msg *sm);
/*
 * The gateway answered a request itself with code (sip_proxy.c reply()):
 * a final error to the INVITE that created a call ends the call at once.
 */
void sg_session_on_local_reply(struct sg_sessions *ss,
			       const struct sg_sip_msg *m, enum sg_side from,
			       unsigned code);
/*
 * The egress check: the invariant on a whole message about to be sent
 * toward `to`, the last line of defence behind sg_session_on_msg().
 * Returns 0, or -EACCES (counted in policy_violations_blocked and logged,
 * rate-limited): then the message must not be sent.
 */
int sg_session_egress_check(struct sg_sessions *ss, enum sg_side to,
			    const char *msg, size_t len);
/* Once a second: media inactivity. */
void sg_session_tick(struct sg_sessions *ss, uint64_t now_ms);
/* Counters (name, help, gauge or counter, value) and the active calls. */
void sg_session_counters(struct sg_sessions *ss, sg_counter_fn fn, void *arg);
void sg_session_calls(struct sg_sessions *ss, FILE *f);

#endif /* SIPSGATE_GATEWAY_SESSION_H */
