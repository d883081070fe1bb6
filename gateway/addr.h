/* SPDX-License-Identifier: MIT */
/*
 * addr.h: socket address helpers for every module (the bottom layer: it
 * includes only system headers and sg.h). Parsing and printing literal
 * addresses, comparisons with and without the port. Pure: no I/O, no
 * allocation. The comparisons the media hot path uses are inline.
 */
#ifndef SIPSGATE_GATEWAY_ADDR_H
#define SIPSGATE_GATEWAY_ADDR_H

#include <netinet/in.h>
#include <sys/socket.h>

#include "sg.h"

/* A literal IPv4 or IPv6 address (no brackets) and a port; -EINVAL if
 * host is not one. */
int sg_addr_parse(const char *host, uint16_t port,
		  struct sockaddr_storage *out);
/* Same family, address and port. */
bool sg_addr_eq(const struct sockaddr *a, const struct sockaddr *b);
/* Same family and address, any port. */
bool sg_addr_ip_eq(const struct sockaddr *a, const struct sockaddr *b);
/* 0.0.0.0 or :: (a wildcard bind). */
bool sg_addr_is_any(const struct sockaddr *a);
/* "198.18.1.1:5060" or "[2001:db8::1]:5060". */
const char *sg_addr_str(const struct sockaddr *a, char *buf, size_t len);
/* Host part only ("198.18.1.1" or "2001:db8::1", no brackets). */
const char *sg_addr_host(const struct sockaddr *a, char *buf, size_t len);
uint16_t sg_addr_port(const struct sockaddr *a);
void sg_addr_set_port(struct sockaddr_storage *a, uint16_t port);

/* The size of the address a's family uses. */
static inline socklen_t sg_addr_len(const struct sockaddr *a)
{
	return a->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
	    sizeof(struct sockaddr_in);
}

/* Copy the part of src its family uses. */
static inline void sg_addr_copy(struct sockaddr_storage *dst,
				const struct sockaddr *src)
{
	memcpy(dst, src, sg_addr_len(src));
}

/*
 * The IP of a socket address as 16 bytes, IPv4 as v4-mapped, so that a
 * dual-stack socket's ::ffff:a.b.c.d equals the a.b.c.d of an SDP.
 */
static inline bool sg_addr_ip16(const struct sockaddr *a, uint8_t ip[16])
{
	if (a->sa_family == AF_INET) {
		memset(ip, 0, 10);
		ip[10] = ip[11] = 0xff;
		memcpy(ip + 12, &((const struct sockaddr_in *)
		    (const void *)a)->sin_addr, 4);
		return true;
	}
	if (a->sa_family == AF_INET6) {
		memcpy(ip,
		    &((const struct sockaddr_in6 *)(const void *)a)->sin6_addr,
		    16);
		return true;
	}
	return false;
}

/* The port in network order, whatever the family. */
static inline uint16_t sg_addr_nport(const struct sockaddr *a)
{
	return a->sa_family == AF_INET6 ?
	    ((const struct sockaddr_in6 *)(const void *)a)->sin6_port :
	    ((const struct sockaddr_in *)(const void *)a)->sin_port;
}

/* Same IP, IPv4 and its v4-mapped IPv6 form equal (media: hot path). */
static inline bool sg_addr_ip_eq_mapped(const struct sockaddr *a,
					const struct sockaddr *b)
{
	uint8_t x[16], y[16];

	return sg_addr_ip16(a, x) && sg_addr_ip16(b, y) &&
	    memcmp(x, y, 16) == 0;
}

/* Same IP (v4-mapped equal to IPv4) and port (media: hot path). */
static inline bool sg_addr_eq_mapped(const struct sockaddr *a,
				     const struct sockaddr *b)
{
	return sg_addr_ip_eq_mapped(a, b) &&
	    sg_addr_nport(a) == sg_addr_nport(b);
}

#endif /* SIPSGATE_GATEWAY_ADDR_H */
