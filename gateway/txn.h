/* SPDX-License-Identifier: MIT */
/*
 * txn.h: RFC 3261 §17 transactions where reliability changes. The proxy
 * stays stateless wherever both legs of a crossing are reliable (TLS and
 * TCP); a crossing with a UDP leg gets a transaction: a client side that
 * retransmits on UDP (timers A/B, E/F) and answers 408 on timeout, a server
 * side that absorbs UDP retransmissions and resends the last response
 * (timers G/H/I/J/L), 100 Trying for INVITE, CANCEL per §16.10 and ACK for
 * non-2xx hop by hop (§17.1.1.3). 2xx and their ACKs stay end to end.
 * Transactions live in a hash keyed per §17.2.3, bounded by
 * max-transactions. Main loop only.
 */
#ifndef SIPSGATE_GATEWAY_TXN_H
#define SIPSGATE_GATEWAY_TXN_H

#include "sip_msg.h"
#include "gw.h"

#define SG_TXN_UDP_MAX 1300	/* RFC 3261 §18.1.1: MTU 1500 - 200 */
#define SG_TXN_KEY_MAX 600

struct sg_txn;
struct sg_txns;

/* What the proxy computes once per request and hands to the next hook. */
struct sg_txn_req {
	uint64_t hash;
	size_t keylen;
	char key[SG_TXN_KEY_MAX];
	bool keyed;		/* key is valid (the top Via parsed) */
};

enum sg_txn_verdict {
	SG_TXN_FORWARD,		/* the proxy goes on as a stateless proxy */
	SG_TXN_DONE		/* handled here: do not forward */
};

/*
 * What the transaction layer calls above it (the proxy), registered at
 * sg_txn_init(): answer a request we forwarded as if its next hop had
 * (100, 408, 487: it goes upstream by its Vias), and answer a request
 * ourselves (200 to a CANCEL).
 */
struct sg_txn_ops {
	void (*respond_upstream)(struct sg_svc *svc, enum sg_side side,
				 enum sg_xport_kind kind, const char *buf,
				 size_t len, unsigned code);
	void (*reply)(struct sg_svc *svc, const struct sg_src *src,
		      const struct sg_sip_msg *m, unsigned code,
		      const char *extra);
};

/* Per service: created at start, closed with the service's sockets. */
int sg_txn_init(struct sg_svc *svc, const struct sg_txn_ops *ops);
void sg_txn_close(struct sg_svc *svc);
/* Counters for `sipsgate status` and Prometheus. */
void sg_txn_counters(struct sg_svc *svc, sg_counter_fn fn, void *arg);

/*
 * A request arrived. A retransmission of a request we hold a transaction
 * for is absorbed (the last response resent), an ACK for a non-2xx final
 * we answered is absorbed, and a CANCEL for an INVITE we hold is answered
 * here (§16.10). SG_TXN_DONE: nothing more to do.
 */
enum sg_txn_verdict sg_txn_on_request(struct sg_svc *svc,
				      const struct sg_src *src,
				      const struct sg_sip_msg *m,
				      struct sg_txn_req *tr);
/*
 * RFC 3261 §18.1.1: a request built for UDP larger than SG_TXN_UDP_MAX
 * goes by TCP when the inside takes TCP (our Via in buf is changed to
 * TCP, *d to a TCP destination). Returns 0, or 513 to refuse it with.
 */
unsigned sg_txn_fit_udp(struct sg_svc *svc, struct sg_dest *d, char *buf,
			size_t len);
/*
 * A queued message could not be sent (its connection failed). A request
 * moved to TCP by sg_txn_fit_udp() goes over UDP after all (§18.1.1):
 * true when it was handled so.
 */
bool sg_txn_on_send_fail(struct sg_svc *svc, const char *buf, size_t len);
/*
 * The proxy forwarded request m (from src) as buf to d, with our Via
 * branch: keep a transaction when the crossing has a UDP leg. An INVITE
 * gets 100 Trying when no provisional comes within 200 ms (§17.2.1).
 */
void sg_txn_on_forwarded(struct sg_svc *svc, const struct sg_src *src,
			 const struct sg_sip_msg *m,
			 const struct sg_txn_req *tr, const struct sg_dest *d,
			 const char *branch, const char *buf, size_t len);
/*
 * A response arrived whose top Via (branch) is ours. SG_TXN_DONE when it
 * is absorbed (100 Trying, retransmitted finals, responses to our own
 * CANCEL); otherwise *out names the transaction (or NULL) to pass to
 * sg_txn_on_response_sent(). injected: the proxy made it up itself (503,
 * 408, 487, 100), it does not come from the next hop.
 */
enum sg_txn_verdict sg_txn_on_response(struct sg_svc *svc,
				       const struct sg_sip_msg *m,
				       struct sg_str branch, bool injected,
				       struct sg_txn **out);
/* The proxy sent response buf (status) upstream to d for transaction t. */
void sg_txn_on_response_sent(struct sg_svc *svc, struct sg_txn *t,
			     unsigned status, const struct sg_dest *d,
			     const char *buf, size_t len);

#endif /* SIPSGATE_GATEWAY_TXN_H */
