/* SPDX-License-Identifier: MIT */
/*
 * xport_udp.c: a service's UDP sockets (inside only: nothing plain leaves
 * the outside). One SIP message per datagram (RFC 3261 §18); datagrams
 * from sources not in `trusted` are dropped and counted; whitespace-only
 * datagrams are keep-alives. Sends go out at once, or are queued (copied)
 * when the socket is busy.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "xport_int.h"

static void udp_on_alloc(uv_handle_t *h, size_t hint, uv_buf_t *buf)
{
	struct sg_sock *sk = container_of((uv_udp_t *)h, struct sg_sock, h.udp);
	struct sg_xport_loop *xl = sg_xport_loop(sk->svc);

	(void)hint;
	buf->base = xl->rx_buf;
	buf->len = sizeof(xl->rx_buf);	/* recvmmsg: a batch of datagrams */
}

static bool is_only_whitespace(const char *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] != '\r' && p[i] != '\n' && p[i] != ' ' && p[i] != '\t')
			return false;
	return true;
}

static void udp_on_recv(uv_udp_t *h, ssize_t n, const uv_buf_t *buf,
			const struct sockaddr *from, unsigned flags)
{
	struct sg_sock *sk = container_of(h, struct sg_sock, h.udp);
	struct sg_svc *svc = sk->svc;
	struct sg_src src;
	char a[64];

	if (n == 0 || from == NULL)
		return;
	if (n < 0) {
		log_warnx("%s: udp receive: %s", svc->cfg->name,
		    uv_strerror((int)n));
		return;
	}
	if (!sg_cfg_is_trusted(svc->cfg, from)) {
		svc->st.untrusted_drop++;
		log_ratelimited(&sg_xport_loop(svc)->rl_untrusted,
		    LOG_INFO, "%s: dropped datagram from %s:"
		    " not in trusted", svc->cfg->name,
		    sg_addr_str(from, a, sizeof(a)));
		return;
	}
	if (flags & UV_UDP_PARTIAL) {
		svc->st.parse_err++;
		log_warnx("%s: dropped truncated datagram from %s",
		    svc->cfg->name, sg_addr_str(from, a, sizeof(a)));
		return;
	}
	if (is_only_whitespace(buf->base, (size_t)n))
		return;			/* keep-alive */
	if (svc->ops->on_msg == NULL) {	/* protocol = raw: no datagrams */
		svc->st.parse_err++;
		return;
	}
	memset(&src, 0, sizeof(src));
	src.side = sk->side;
	src.kind = SG_XPORT_UDP;
	sg_addr_copy(&src.addr, from);
	src.sock = sk;
	svc->st.msg_in++;
	svc->ops->on_msg(svc, &src, buf->base, (size_t)n);
}

struct sg_sock *sg_udp_sock_for(struct sg_svc *svc, int family)
{
	unsigned i;

	for (i = 0; i < svc->nsocks; i++) {
		struct sg_sock *sk = &svc->socks[i];

		if (sk->kind == SG_XPORT_UDP && sk->addr.ss_family == family)
			return sk;
	}
	return NULL;
}

static void udp_on_sent(uv_udp_send_t *req, int status)
{
	(void)status;
	free(req);
}

int sg_udp_send(struct sg_svc *svc, const struct sockaddr *to,
		    const char *p, size_t len)
{
	struct sg_sock *sk = sg_udp_sock_for(svc, to->sa_family);
	uv_buf_t b = uv_buf_init((char *)(uintptr_t)p, (unsigned)len);
	uv_udp_send_t *req;
	int rc;

	if (sk == NULL)
		return -EAFNOSUPPORT;
	rc = uv_udp_try_send(&sk->h.udp, &b, 1, to);
	if (rc == (int)len)
		return 0;
	if (rc != UV_EAGAIN && rc != UV_ENOSYS)
		return rc;
	/* The socket is busy: queue a copy. */
	if ((req = malloc(sizeof(*req) + len)) == NULL)
		return -ENOMEM;
	memcpy(req + 1, p, len);
	b = uv_buf_init((char *)(req + 1), (unsigned)len);
	if ((rc = uv_udp_send(req, &sk->h.udp, &b, 1, to, udp_on_sent)) < 0)
		free(req);
	return rc;
}

/* Bind sk (its kind, side and address set) and start receiving. */
int sg_udp_open(struct sg_sock *sk)
{
	struct sg_svc *svc = sk->svc;
	int len = sizeof(sk->addr);
	int rcvbuf = 4 << 20;	/* bursts of SIP; the kernel caps it */
	int rc;

	if ((rc = uv_udp_init_ex(svc->gw->loop, &sk->h.udp,
	    AF_UNSPEC | UV_UDP_RECVMMSG)) < 0)
		return rc;
	svc->nsocks++;		/* closed by sg_xport_stop even on error */
	if ((rc = uv_udp_bind(&sk->h.udp, (const struct sockaddr *)&sk->addr,
	    0)) < 0 || (rc = uv_udp_recv_start(&sk->h.udp, udp_on_alloc,
	    udp_on_recv)) < 0)
		return rc;
	uv_udp_getsockname(&sk->h.udp, (struct sockaddr *)&sk->addr, &len);
	uv_recv_buffer_size((uv_handle_t *)&sk->h.udp, &rcvbuf);
	return 0;
}
