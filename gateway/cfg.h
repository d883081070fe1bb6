/* SPDX-License-Identifier: MIT */
/*
 * cfg.h: the configuration (stunnel-style INI, DESIGN §6). Parsed with
 * inih into an immutable struct sg_cfg; every error names file, line, key
 * and what would be valid. No sockets, no certificates are opened here.
 */
#ifndef SIPSGATE_GATEWAY_CFG_H
#define SIPSGATE_GATEWAY_CFG_H

#include <netinet/in.h>
#include <stdio.h>
#include <sys/socket.h>

#include "sg.h"

#define SG_CFG_MAX_ENDPOINTS 8
#define SG_CFG_MAX_NETS 32
#define SG_CFG_MAX_PINS 8
#define SG_CFG_MAX_SUITES 8

/*
 * TLS 1.2 and 1.3 only; ECDHE key exchange; AEAD suites only (no CBC, no
 * SHA-1 MAC); no SHA-1 signatures; the server's order of preference.
 */
#define SG_TLS_DEFAULT_PRIORITY "NORMAL:-VERS-ALL:+VERS-TLS1.3:" \
	"+VERS-TLS1.2:-CIPHER-ALL:+AES-256-GCM:+AES-128-GCM:" \
	"+CHACHA20-POLY1305:-MAC-ALL:+AEAD:-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:" \
	"-SIGN-RSA-SHA1:-SIGN-ECDSA-SHA1:%SERVER_PRECEDENCE"

enum sg_xport_kind { SG_XPORT_UDP, SG_XPORT_TCP, SG_XPORT_TLS };
#define SG_SIP_PORT 5060	/* RFC 3261 §19.1.2: sip: over UDP, TCP */
#define SG_SIPS_PORT 5061	/* and over TLS */
static inline uint16_t sg_xport_default_port(enum sg_xport_kind k)
{
	return k == SG_XPORT_TLS ? SG_SIPS_PORT : SG_SIP_PORT;
}
enum sg_side { SG_SIDE_INSIDE = 0, SG_SIDE_OUTSIDE = 1 };
enum sg_verify { SG_VERIFY_NONE, SG_VERIFY_OPTIONAL, SG_VERIFY_REQUIRE };
enum sg_media_policy { SG_MEDIA_SRTP, SG_MEDIA_SRTP_OPTIONAL, SG_MEDIA_RELAY };
enum sg_proto { SG_PROTO_SIP, SG_PROTO_RAW };
/* media-latch: whom inside media is taken from (docs/media.md). */
enum sg_latch_mode { SG_LATCH_STRICT, SG_LATCH_SDP_IP, SG_LATCH_FIRST };

/* "udp:HOST:PORT", "tcp:[v6]:PORT", "tls:name:5061". */
struct sg_cfg_endpoint {
	enum sg_xport_kind kind;
	char host[256];		/* literal address or DNS name, no brackets */
	uint16_t port;		/* default 5060, or 5061 for tls */
	bool port_given;	/* written out: no NAPTR/SRV (RFC 3263) */
	unsigned line;		/* where it was configured */
};

struct sg_cfg_net {		/* a CIDR: address and prefix length */
	int family;		/* AF_INET or AF_INET6 */
	uint8_t addr[16];
	unsigned prefix;
};

struct sg_cfg_service {
	char name[64];
	char file[256];		/* file holding the [section] */
	unsigned line;
	enum sg_proto protocol;
	unsigned naccept;
	struct sg_cfg_endpoint accept[SG_CFG_MAX_ENDPOINTS];
	unsigned nconnect;	/* at most one per side */
	struct sg_cfg_endpoint connect[SG_CFG_MAX_ENDPOINTS];
	unsigned ntrusted;
	struct sg_cfg_net trusted[SG_CFG_MAX_NETS];	/* empty: anyone */
	char cert[256], key[256], ca[256], crl[256];
	enum sg_verify verify;
	char verify_name[256];	/* empty: host of the tls connect */
	unsigned npins;
	uint8_t pins[SG_CFG_MAX_PINS][32];	/* SHA-256 of the SPKI */
	char tls_priority[256];
	unsigned keepalive;	/* seconds, 0 = off */
	unsigned tls_handshake_timeout;	/* seconds from accept/connect */
	unsigned tls_idle_timeout;	/* seconds without a byte in, 0 = off */
	unsigned tls_max_handshakes;	/* accepted, in handshake, in total */
	unsigned tls_max_handshakes_src;	/* ... from one address */
	enum sg_media_policy media;
	unsigned nsuites;
	char suites[SG_CFG_MAX_SUITES][32];
	uint16_t rtp_min, rtp_max;
	char media_inside[64], media_outside[64];
	char sip_inside[256];	/* address put in inside Via/RR/Contact */
	char sip_outside[256];	/* address put in outside Via/RR/Contact */
	bool sips_rewrite;	/* sip: -> sips: outward (CUBE "url sips") */
	bool tls_trace;		/* log each handshake message (debug) */
	unsigned media_timeout;	/* seconds without media before a call ends */
	enum sg_latch_mode media_latch;
	struct sg_cfg *root;	/* the configuration this service is part of */
	bool transactions;	/* keep RFC 3261 §17 state on UDP legs */
	unsigned max_transactions;
	unsigned timer_t1, timer_t2, timer_t4;	/* ms, RFC 3261 §17.1.1.1 */
	bool pair;		/* takes `sipsgate pair` joins (pair.c) */
	char pair_dir[256];	/* the global pair-dir when pair = yes */
};

struct sg_cfg {
	char user[64], group[64];
	char control[256];
	char metrics[128];
	int log_level;		/* LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG */
	char token_key[256];	/* file with the flow-token HMAC key, or "" */
	char pair_dir[256];	/* pairing CA and paired links (pair.c) */
	unsigned nservices;
	struct sg_cfg_service *services;	/* owned */
	/* Holders: the daemon while it is in force, then each running or
	 * retired service, TLS context and call made under it. */
	unsigned refs;
};

/*
 * Load FILE and everything its `include` names. On success *out owns a new
 * configuration (release with sg_cfg_free). On failure every problem found
 * was written to errf as "FILE:LINE: key 'K': what is wrong (valid: ...)"
 * and a negative errno code is returned.
 */
int sg_cfg_load(const char *file, FILE *errf, struct sg_cfg **out);
/* Drop one reference (the loader's is the first); freed at the last. */
void sg_cfg_free(struct sg_cfg *cfg);
/* One more reference to the configuration holding s; returns it. */
struct sg_cfg *sg_cfg_hold(const struct sg_cfg_service *s);
/* The default of a key as an operator would write it (NULL: none), from
 * the one table that holds every key. */
const char *sg_cfg_key_default(const char *key);
/* Parse "kind:host:port" as in accept/connect; -EINVAL if malformed. */
int sg_cfg_parse_endpoint(const char *s, struct sg_cfg_endpoint *ep);
/* Does the service have a TLS side (accept or connect tls:)? */
bool sg_cfg_service_has_tls(const struct sg_cfg_service *s);
/* Is addr inside one of the trusted networks (true when none is set)? */
bool sg_cfg_is_trusted(const struct sg_cfg_service *svc,
		       const struct sockaddr *addr);

#endif /* SIPSGATE_GATEWAY_CFG_H */
