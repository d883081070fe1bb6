/* SPDX-License-Identifier: MIT */
/*
 * token.h: flow tokens (RFC 5626 §5.2 idea, DESIGN §3). A token names a
 * flow (transport, address, port; for TLS the peer's authenticated identity,
 * a hash of its certificate's public key; or "the service's connect target")
 * and, in a REGISTER Contact, the Contact URI it replaced. Record-Route
 * entries carry one too (RFC 5626 §5.3), with no URI. Signed with
 * HMAC-SHA256 (GnuTLS) so that a request naming a forged token is refused
 * instead of relayed. Pure: no I/O.
 */
#ifndef SIPSGATE_GATEWAY_TOKEN_H
#define SIPSGATE_GATEWAY_TOKEN_H

#include <sys/socket.h>

#include "cfg.h"
#include "sg.h"

#define SG_TOKEN_KEY_LEN 32
#define SG_TOKEN_PREFIX "sgw-"		/* marks a token in a URI user part */
#define SG_TOKEN_MAX 424		/* longest encoded token, chars */
#define SG_TOKEN_MAX_URI 255		/* longest Contact URI it can carry */
#define SG_TOKEN_ID_LEN 16		/* peer identity: SHA-256(SPKI), cut */

/* struct sg_token flags. */
#define SG_TOKEN_F_PEER_ID 0x01		/* id names the TLS peer */
#define SG_TOKEN_F_LINK 0x02		/* the flow is the service's connect
					   target on that side (its link) */

struct sg_token_key {
	uint8_t k[SG_TOKEN_KEY_LEN];
};

struct sg_token {
	enum sg_xport_kind kind;	/* transport of the flow */
	struct sockaddr_storage addr;	/* where the flow's peer is */
	uint32_t issued;		/* unix time when signed */
	uint8_t flags;			/* SG_TOKEN_F_* */
	uint8_t id[SG_TOKEN_ID_LEN];	/* with SG_TOKEN_F_PEER_ID */
	char uri[SG_TOKEN_MAX_URI + 1];	/* the Contact URI it replaced */
};

/* Fill key from the TLS library's RNG. */
int sg_token_key_random(struct sg_token_key *key);
/*
 * Encode and sign t into out (NUL-terminated, base64url, starting with
 * SG_TOKEN_PREFIX). Returns the length, or -ENOSPC / -EINVAL.
 */
int sg_token_encode(const struct sg_token_key *key, const struct sg_token *t,
		    char *out, size_t outsz);
/*
 * Verify and decode a token taken from a URI user part. Returns 0,
 * -EBADMSG when it is malformed, -EPERM when the signature does not verify.
 */
int sg_token_decode(const struct sg_token_key *key, struct sg_str s,
		    struct sg_token *t);
/* Which side a token's flow is on: TLS is the outside. */
static inline enum sg_side sg_token_side(const struct sg_token *t)
{
	return t->kind == SG_XPORT_TLS ? SG_SIDE_OUTSIDE : SG_SIDE_INSIDE;
}
/* Does s (a URI user part) carry a token? */
bool sg_token_is_token(struct sg_str user);

#endif /* SIPSGATE_GATEWAY_TOKEN_H */
