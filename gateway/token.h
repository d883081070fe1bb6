/* SPDX-License-Identifier: MIT */
/*
 * token.h: flow tokens (RFC 5626 §5.2 idea, DESIGN §3). A token names the
 * flow a REGISTER came from (transport, address, port) and the Contact URI
 * it carried, signed with HMAC-SHA256 (GnuTLS) so that a request naming a
 * forged token is refused instead of relayed. Pure: no I/O.
 */
#ifndef SIPSGATE_GATEWAY_TOKEN_H
#define SIPSGATE_GATEWAY_TOKEN_H

#include <sys/socket.h>

#include "cfg.h"
#include "sg.h"

#define SG_TOKEN_KEY_LEN 32
#define SG_TOKEN_PREFIX "sgw-"		/* marks a token in a URI user part */
#define SG_TOKEN_MAX 400		/* longest encoded token, chars */
#define SG_TOKEN_MAX_URI 255		/* longest Contact URI it can carry:
					 * its length is one byte */

struct sg_token_key {
	uint8_t k[SG_TOKEN_KEY_LEN];
};

struct sg_token {
	enum sg_xport_kind kind;	/* transport of the flow */
	struct sockaddr_storage addr;	/* where the flow's peer is */
	uint32_t issued;		/* unix time when signed */
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
/* Does s (a URI user part) carry a token? */
bool sg_token_is_token(struct sg_str user);

#endif /* SIPSGATE_GATEWAY_TOKEN_H */
