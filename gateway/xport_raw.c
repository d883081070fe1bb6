/* SPDX-License-Identifier: MIT */
/*
 * xport_raw.c: protocol = raw (stunnel's job). An accepted connection gets
 * a partner connection to the service's connect; bytes flow between them
 * as they are, decrypted on one side and encrypted on the other. A side
 * whose partner has more than RAW_HIGH bytes unwritten stops reading until
 * it is below RAW_LOW again, so a fast sender cannot fill our memory.
 */
#include <errno.h>

#include "xport_int.h"

#define RAW_HIGH (1u << 20)
#define RAW_LOW (256u << 10)

int sg_raw_pair(struct sg_conn *c)
{
	struct sg_svc *svc = c->svc;
	enum sg_side other = c->side == SG_SIDE_INSIDE ? SG_SIDE_OUTSIDE :
	    SG_SIDE_INSIDE;
	struct sg_conn *p;

	c->raw = true;
	if (!svc->has_connect[other] || (p = sg_conn_connect(svc, other,
	    svc->connect_kind[other],
	    (const struct sockaddr *)&svc->connect_addr[other])) == NULL) {
		sg_conn_close(c, "tunnel: cannot reach the connect target");
		return -ECONNREFUSED;
	}
	p->raw = true;
	p->partner = c;
	c->partner = p;
	return 0;
}

/* Move what c read to its partner, as far as the partner can take it. */
void sg_raw_forward(struct sg_conn *c)
{
	struct sg_conn *p = c->partner;
	struct sg_svc *svc = c->svc;

	if (p == NULL || p->closing) {
		c->in.len = 0;
		return;
	}
	if (p->ready && c->in.len > 0) {
		if (sg_conn_write(p, c->in.p, c->in.len) < 0) {
			svc->st.send_fail++;
			sg_conn_close(p, "tunnel write failed");
			return;
		}
		if (c->side == SG_SIDE_INSIDE)
			svc->st.raw_bytes_in += c->in.len;
		else
			svc->st.raw_bytes_out += c->in.len;
		c->in.len = 0;
	}
	if (!c->paused && (c->in.len > RAW_HIGH ||
	    p->tcp.write_queue_size > RAW_HIGH)) {
		uv_read_stop((uv_stream_t *)&c->tcp);
		c->paused = true;
	}
}

/*
 * c can take data (it became ready, or drained its queue): let its
 * partner forward what it holds and read again.
 */
void sg_raw_ready(struct sg_conn *c)
{
	struct sg_conn *p = c->partner;

	if (p == NULL) {
		if (c->close_when_drained && c->tcp.write_queue_size == 0)
			sg_conn_close(c, "tunnel partner closed");
		return;
	}
	if (p->closing || c->tcp.write_queue_size > RAW_LOW)
		return;
	sg_raw_forward(p);
	if (p->paused && !p->closing && p->in.len == 0 &&
	    c->tcp.write_queue_size <= RAW_LOW) {
		p->paused = false;
		sg_conn_resume(p);
	}
}
