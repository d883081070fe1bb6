/* SPDX-License-Identifier: MIT */
/*
 * addr.c: socket address helpers (addr.h). The one place that parses,
 * prints and compares struct sockaddr for the daemon; no module keeps a
 * private copy. Pure: no I/O.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "addr.h"

int sg_addr_parse(const char *host, uint16_t port, struct sockaddr_storage *out)
{
	struct sockaddr_in *a4 = (struct sockaddr_in *)out;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)out;

	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons(port);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons(port);
		return 0;
	}
	return -EINVAL;
}

bool sg_addr_ip_eq(const struct sockaddr *a, const struct sockaddr *b)
{
	if (a->sa_family != b->sa_family)
		return false;
	if (a->sa_family == AF_INET)
		return ((const struct sockaddr_in *)(const void *)a)->
		    sin_addr.s_addr == ((const struct sockaddr_in *)
		    (const void *)b)->sin_addr.s_addr;
	if (a->sa_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *)(const void *)a)->
		    sin6_addr, &((const struct sockaddr_in6 *)(const void *)b)->
		    sin6_addr, 16) == 0;
	return false;
}

bool sg_addr_eq(const struct sockaddr *a, const struct sockaddr *b)
{
	return sg_addr_ip_eq(a, b) && sg_addr_nport(a) == sg_addr_nport(b);
}

bool sg_addr_is_any(const struct sockaddr *a)
{
	static const struct in6_addr any6 = IN6ADDR_ANY_INIT;

	if (a->sa_family == AF_INET)
		return ((const struct sockaddr_in *)(const void *)a)->
		    sin_addr.s_addr == htonl(INADDR_ANY);
	if (a->sa_family == AF_INET6)
		return memcmp(&((const struct sockaddr_in6 *)(const void *)a)->
		    sin6_addr, &any6, sizeof(any6)) == 0;
	return false;
}

uint16_t sg_addr_port(const struct sockaddr *a)
{
	if (a->sa_family != AF_INET && a->sa_family != AF_INET6)
		return 0;
	return ntohs(sg_addr_nport(a));
}

void sg_addr_set_port(struct sockaddr_storage *a, uint16_t port)
{
	if (a->ss_family == AF_INET)
		((struct sockaddr_in *)a)->sin_port = htons(port);
	else if (a->ss_family == AF_INET6)
		((struct sockaddr_in6 *)a)->sin6_port = htons(port);
}

const char *sg_addr_host(const struct sockaddr *a, char *buf, size_t len)
{
	const void *p = NULL;

	if (a->sa_family == AF_INET)
		p = &((const struct sockaddr_in *)(const void *)a)->sin_addr;
	else if (a->sa_family == AF_INET6)
		p = &((const struct sockaddr_in6 *)(const void *)a)->sin6_addr;
	if (p == NULL || inet_ntop(a->sa_family, p, buf, (socklen_t)len) == NULL)
		snprintf(buf, len, "?");
	return buf;
}

const char *sg_addr_str(const struct sockaddr *a, char *buf, size_t len)
{
	char h[INET6_ADDRSTRLEN];

	sg_addr_host(a, h, sizeof(h));
	if (a->sa_family == AF_INET6)
		snprintf(buf, len, "[%s]:%u", h, sg_addr_port(a));
	else
		snprintf(buf, len, "%s:%u", h, sg_addr_port(a));
	return buf;
}
