/* SPDX-License-Identifier: MIT */
/*
 * sip_msg.h: zero-copy SIP message parser (RFC 3261 §7, §20, §25).
 * Pure: no I/O, no allocation. Every view points into the caller's buffer,
 * which must outlive the parsed message.
 */
#ifndef SIPSGATE_GATEWAY_SIP_MSG_H
#define SIPSGATE_GATEWAY_SIP_MSG_H

#include "sg.h"

#define SG_SIP_MAX_HDRS 128		/* header field lines per message */
#define SG_SIP_MAX_MSG 65535		/* largest message we accept */

/* Headers the proxy needs to find; compact forms map to the same id. */
enum sg_sip_hdr_id {
	SG_SIP_HDR_OTHER = 0,
	SG_SIP_HDR_VIA,			/* v */
	SG_SIP_HDR_FROM,		/* f */
	SG_SIP_HDR_TO,			/* t */
	SG_SIP_HDR_CALL_ID,		/* i */
	SG_SIP_HDR_CSEQ,
	SG_SIP_HDR_MAX_FORWARDS,
	SG_SIP_HDR_CONTACT,		/* m */
	SG_SIP_HDR_ROUTE,
	SG_SIP_HDR_RECORD_ROUTE,
	SG_SIP_HDR_CONTENT_LENGTH,	/* l */
	SG_SIP_HDR_CONTENT_TYPE,	/* c */
	SG_SIP_HDR_PATH,
	SG_SIP_HDR_SUPPORTED,		/* k */
	SG_SIP_HDR_REQUIRE,
	SG_SIP_HDR_PROXY_REQUIRE,
	SG_SIP_HDR_EXPIRES,
	SG_SIP_HDR__COUNT
};

/* One header field line as received (folding kept inside value). */
struct sg_sip_hdr {
	enum sg_sip_hdr_id id;
	struct sg_str name;	/* as written, e.g. "v" or "Via" */
	struct sg_str value;	/* trimmed of leading/trailing LWS */
	struct sg_str raw;	/* the whole line incl. name and final CRLF */
};

struct sg_sip_msg {
	bool is_request;
	/* Request line. */
	struct sg_str method;
	struct sg_str ruri;
	/* Status line. */
	unsigned status;	/* 100..699 */
	struct sg_str reason;
	/* Both. */
	struct sg_str start_line;	/* without CRLF */
	struct sg_str version;		/* "SIP/2.0" */
	unsigned nhdrs;
	struct sg_sip_hdr hdrs[SG_SIP_MAX_HDRS];
	int first[SG_SIP_HDR__COUNT];	/* index of first header of an id, -1 */
	struct sg_str call_id;
	uint32_t cseq_num;
	struct sg_str cseq_method;
	int max_forwards;	/* -1 when absent */
	struct sg_str body;	/* Content-Length bytes after the blank line */
	size_t total_len;	/* bytes of the message incl. body */
};

/*
 * Parse one whole message from buf. For stream transports pass
 * is_stream = true: Content-Length is then mandatory and the message may be
 * followed by more bytes (total_len tells where it ends). For datagrams the
 * body is the rest of the datagram, cut to Content-Length when present.
 * Returns 0, or -EBADMSG with err filled; -EMSGSIZE when too large.
 * A request lacking Via, From, To, Call-ID, CSeq or Max-Forwards
 * (Max-Forwards may be absent: max_forwards = -1) is -EBADMSG.
 */
int sg_sip_parse(struct sg_sip_msg *m, const char *buf, size_t len,
		 bool is_stream, struct sg_perr *err);

/*
 * Stream framing: how many bytes the first message in buf takes.
 * Returns > 0 with the length, 0 if more bytes are needed, -EBADMSG if the
 * head is malformed (no/bad Content-Length), -EMSGSIZE if too large.
 * Leading CRLFs (keep-alives) are not a message: see sg_sip_skip_crlf().
 */
ssize_t sg_sip_frame(const char *buf, size_t len);
/* Number of leading CR/LF bytes in buf. */
size_t sg_sip_skip_crlf(const char *buf, size_t len);

/* Iterate the comma-separated elements of a list header value, honouring
 * quotes and <>. Returns false at the end. *rest is advanced. */
bool sg_sip_list_next(struct sg_str *rest, struct sg_str *elem);

/* Header lookup by id (first occurrence) or by name (case-insensitive,
 * compact forms understood). NULL when absent. */
#define SG_BRANCH_MAGIC "z9hG4bK"	/* RFC 3261 §8.1.1.7 */

/*
 * The reason phrase for a status code (RFC 3261 §21 and the extensions
 * the gateway answers with: 430 RFC 5626); the class's phrase for a code
 * not in the table ("Server Internal Error" for an unknown 5xx, ...).
 */
const char *sg_sip_reason(unsigned code);
const struct sg_sip_hdr *sg_sip_hdr_find(const struct sg_sip_msg *m,
					  enum sg_sip_hdr_id id);

struct sg_sip_uri {
	struct sg_str scheme;	/* "sip", "sips", "tel" ... */
	struct sg_str user;	/* may be empty */
	struct sg_str password;
	struct sg_str host;	/* IPv6 without brackets */
	bool host_is_v6;
	uint16_t port;		/* 0 when absent */
	struct sg_str params;	/* ";a=b;lr" including first ';', or empty */
	struct sg_str headers;	/* "?..." or empty */
};
int sg_sip_uri_parse(struct sg_str s, struct sg_sip_uri *u);
/* Find a ;param in a parameter string; *val is empty for a flag param.
 * Returns true when found. */
bool sg_sip_param_get(struct sg_str params, const char *name,
		      struct sg_str *val);

/* name-addr / addr-spec with header params: From, To, Contact, Route... */
struct sg_sip_naddr {
	struct sg_str display;	/* may be empty */
	struct sg_str uri;	/* inside <> or the bare addr-spec */
	struct sg_str params;	/* header params after the URI, ";..." */
	bool bracketed;
};
int sg_sip_naddr_parse(struct sg_str s, struct sg_sip_naddr *na);

/* One Via element: "SIP/2.0/UDP host:port;params". */
struct sg_sip_via {
	struct sg_str transport;	/* "UDP", "TCP", "TLS", ... */
	struct sg_str host;		/* IPv6 without brackets */
	bool host_is_v6;
	uint16_t port;			/* 0 when absent */
	struct sg_str params;		/* ";branch=..;rport" */
	struct sg_str branch;		/* empty when absent */
};
int sg_sip_via_parse(struct sg_str s, struct sg_sip_via *v);

#endif /* SIPSGATE_GATEWAY_SIP_MSG_H */
