/* SPDX-License-Identifier: MIT */
/*
 * test_media.c: the relay's source rules (media-latch), the random port
 * draw and the open contract, on real sockets over loopback: 127.0.0.1 is
 * the phone and the far end, 127.0.0.2 (also loopback) the stranger.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <gnutls/crypto.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "media.h"

static uv_loop_t loop;
static struct sg_media media;
static unsigned closed_events;

static int test_rnd(void *buf, size_t len)
{
	return gnutls_rnd(GNUTLS_RND_NONCE, buf, len) < 0 ? -EIO : 0;
}

static void on_event(struct sg_media_stream *st, int ev)
{
	(void)st;
	if (ev == SG_MEDIA_EV_CLOSED)
		closed_events++;
}

static struct sockaddr_storage addr(const char *ip, uint16_t port)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *a = (struct sockaddr_in *)&ss;

	memset(&ss, 0, sizeof(ss));
	a->sin_family = AF_INET;
	a->sin_port = htons(port);
	inet_pton(AF_INET, ip, &a->sin_addr);
	return ss;
}

/* A UDP socket bound to ip (port chosen by the kernel). */
static int sock(const char *ip, uint16_t *port)
{
	struct sockaddr_storage a = addr(ip, 0);
	socklen_t len = sizeof(struct sockaddr_in);
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, len), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(((struct sockaddr_in *)&a)->sin_port);
	return fd;
}

/* A first even port with n free UDP ports on 127.0.0.1 from it. */
static uint16_t free_range(unsigned n)
{
	for (int tries = 0; tries < 500; tries++) {
		uint16_t base = (uint16_t)(33000 + 2 * (rand() % 3000));
		int fds[512];
		unsigned i, nfd = 0;
		bool ok = true;

		for (i = 0; i < n && ok; i++) {
			struct sockaddr_storage a = addr("127.0.0.1",
			    (uint16_t)(base + i));

			fds[nfd] = socket(AF_INET, SOCK_DGRAM, 0);
			ok = bind(fds[nfd++], (struct sockaddr *)&a,
			    sizeof(struct sockaddr_in)) == 0;
		}
		while (nfd > 0)
			close(fds[--nfd]);
		if (ok)
			return base;
	}
	fail_msg("no free port range");
	return 0;
}

static void pump(void)
{
	for (int i = 0; i < 30; i++) {
		uv_run(&loop, UV_RUN_NOWAIT);
		usleep(500);
	}
}

static void send_rtp(int fd, uint16_t to, uint16_t seq)
{
	uint8_t p[12 + 20] = { 0x80, 0 };
	struct sockaddr_storage a = addr("127.0.0.1", to);

	p[2] = (uint8_t)(seq >> 8);
	p[3] = (uint8_t)seq;
	memset(p + 12, 0xab, sizeof(p) - 12);
	assert_int_equal(sendto(fd, p, sizeof(p), 0, (struct sockaddr *)&a,
	    sizeof(struct sockaddr_in)), (ssize_t)sizeof(p));
}

/* How many datagrams are waiting on fd (read and counted). */
static unsigned drain(int fd)
{
	uint8_t b[2048];
	unsigned n = 0;

	while (recv(fd, b, sizeof(b), 0) > 0)
		n++;
	return n;
}

static int setup(void **state)
{
	struct sockaddr_storage lo = addr("127.0.0.1", 0);
	uint16_t base = free_range(32);	/* 16 pairs */

	(void)state;
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(sg_media_init(&media, &loop, &lo, &lo, base,
	    (uint16_t)(base + 31), test_rnd), 0);
	closed_events = 0;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	pump();
	assert_int_equal(uv_loop_close(&loop), 0);	/* nothing left open */
	return 0;
}

/*
 * A stream with a plain outside toward `far`, the inside told (SDP) that
 * the phone is 127.0.0.1:sdp_port.
 */
static struct sg_media_stream *open_plain(enum sg_media_latch latch,
					  uint16_t sdp_port, uint16_t far)
{
	struct sg_media_stream *st = NULL;
	struct sockaddr_storage a;

	assert_int_equal(sg_media_stream_new(&media, latch, on_event, NULL,
	    &st), 0);
	st->leg[SG_MEDIA_OUTSIDE].plain_ok = true;
	a = addr("127.0.0.1", far);
	sg_media_leg_set_peer(&st->leg[SG_MEDIA_OUTSIDE], &a, NULL, true);
	a = addr("127.0.0.1", sdp_port);
	sg_media_leg_set_peer(&st->leg[SG_MEDIA_INSIDE], &a, NULL, true);
	return st;
}

static void test_media_strict_refuses_strangers(void **state)
{
	uint16_t pp, fp, ap, pp2;
	int phone = sock("127.0.0.1", &pp), far = sock("127.0.0.1", &fp);
	int stranger = sock("127.0.0.2", &ap), phone2 = sock("127.0.0.1", &pp2);
	struct sg_media_stream *st = open_plain(SG_MEDIA_LATCH_STRICT, pp, fp);
	struct sg_media_leg *in = &st->leg[SG_MEDIA_INSIDE];

	(void)state;
	/* Before the phone sends: the stranger is refused, not latched. */
	for (uint16_t i = 0; i < 10; i++)
		send_rtp(stranger, in->port, i);
	pump();
	assert_int_equal(drain(far), 0);
	assert_int_equal(in->st_.foreign_drop, 10);
	assert_int_equal(media.foreign_total, 10);
	assert_int_equal(media.foreign_side, SG_MEDIA_INSIDE);
	assert_int_equal(media.foreign_port, in->port);
	/* The far end's media goes to the phone's SDP address. */
	send_rtp(far, st->leg[SG_MEDIA_OUTSIDE].port, 1);
	pump();
	assert_int_equal(drain(phone), 1);
	assert_int_equal(drain(stranger), 0);
	/* The phone sends: relayed, latched. */
	send_rtp(phone, in->port, 100);
	pump();
	assert_int_equal(drain(far), 1);
	assert_int_equal(in->st_.latched, 1);
	/* The stranger again, and the same IP from another port. */
	send_rtp(stranger, in->port, 11);
	send_rtp(phone2, in->port, 12);
	send_rtp(stranger, (uint16_t)(in->port + 1), 13);	/* RTCP port */
	pump();
	assert_int_equal(drain(far), 0);
	assert_int_equal(in->st_.foreign_drop, 13);
	assert_int_equal(in->st_.relatched, 0);
	/* Replies still go to the phone only. */
	send_rtp(far, st->leg[SG_MEDIA_OUTSIDE].port, 2);
	pump();
	assert_int_equal(drain(phone), 1);
	assert_int_equal(drain(phone2) + drain(stranger), 0);
	sg_media_stream_close(st);
	pump();
	assert_int_equal(closed_events, 1);
	close(phone);
	close(phone2);
	close(far);
	close(stranger);
}

/* strict learns the port of the first packet from the SDP's IP. */
static void test_media_strict_learns_port(void **state)
{
	uint16_t pp, fp, sp;
	int phone = sock("127.0.0.1", &pp), far = sock("127.0.0.1", &fp);
	int sdp_only = sock("127.0.0.1", &sp);
	struct sg_media_stream *st = open_plain(SG_MEDIA_LATCH_STRICT, sp, fp);
	struct sg_media_leg *in = &st->leg[SG_MEDIA_INSIDE];

	(void)state;
	send_rtp(phone, in->port, 1);		/* not the SDP port */
	pump();
	assert_int_equal(drain(far), 1);
	send_rtp(far, st->leg[SG_MEDIA_OUTSIDE].port, 1);
	pump();
	assert_int_equal(drain(phone), 1);	/* symmetric: where it sends */
	assert_int_equal(drain(sdp_only), 0);
	/* Now the SDP port is another port: refused. */
	send_rtp(sdp_only, in->port, 2);
	pump();
	assert_int_equal(drain(far), 0);
	assert_int_equal(in->st_.foreign_drop, 1);
	/* New SDP naming another address starts over... */
	{
		struct sockaddr_storage a = addr("127.0.0.1", pp);

		sg_media_leg_set_peer(in, &a, NULL, true);
		send_rtp(sdp_only, in->port, 3);
		pump();
		assert_int_equal(drain(far), 1);
		/* ...a refresh with the same SDP does not. */
		sg_media_leg_set_peer(in, &a, NULL, true);
	}
	send_rtp(phone, in->port, 4);
	pump();
	assert_int_equal(drain(far), 0);
	assert_int_equal(in->st_.foreign_drop, 2);
	sg_media_stream_close(st);
	close(phone);
	close(far);
	close(sdp_only);
}

static void test_media_sdp_ip_follows_port(void **state)
{
	uint16_t pp, fp, ap, pp2;
	int phone = sock("127.0.0.1", &pp), far = sock("127.0.0.1", &fp);
	int stranger = sock("127.0.0.2", &ap), phone2 = sock("127.0.0.1", &pp2);
	struct sg_media_stream *st = open_plain(SG_MEDIA_LATCH_SDP_IP, pp, fp);
	struct sg_media_leg *in = &st->leg[SG_MEDIA_INSIDE];

	(void)state;
	send_rtp(phone, in->port, 1);
	send_rtp(stranger, in->port, 2);
	pump();
	assert_int_equal(drain(far), 1);
	send_rtp(phone2, in->port, 3);		/* a NAT rebinding: same IP */
	pump();
	assert_int_equal(drain(far), 1);
	assert_int_equal(in->st_.relatched, 1);
	send_rtp(far, st->leg[SG_MEDIA_OUTSIDE].port, 1);
	pump();
	assert_int_equal(drain(phone2), 1);
	assert_int_equal(drain(phone) + drain(stranger), 0);
	assert_int_equal(in->st_.foreign_drop, 1);
	sg_media_stream_close(st);
	close(phone);
	close(phone2);
	close(far);
	close(stranger);
}

/* first: whoever sends first, then nobody else (the NAT knob). */
static void test_media_first_then_nobody(void **state)
{
	uint16_t pp, fp, np, sp;
	int natted = sock("127.0.0.2", &np), far = sock("127.0.0.1", &fp);
	int other = sock("127.0.0.1", &sp);
	struct sg_media_stream *st;
	struct sg_media_leg *in;

	(void)state;
	pp = 9;		/* the SDP names an address nobody sends from */
	st = open_plain(SG_MEDIA_LATCH_FIRST, pp, fp);
	in = &st->leg[SG_MEDIA_INSIDE];
	send_rtp(natted, in->port, 1);
	pump();
	assert_int_equal(drain(far), 1);
	send_rtp(other, in->port, 2);
	pump();
	assert_int_equal(drain(far), 0);
	assert_int_equal(in->st_.foreign_drop, 1);
	send_rtp(far, st->leg[SG_MEDIA_OUTSIDE].port, 1);
	pump();
	assert_int_equal(drain(natted), 1);
	assert_int_equal(drain(other), 0);
	sg_media_stream_close(st);
	close(natted);
	close(other);
	close(far);
}

/* Ports: even RTP, RTCP + 1, in range, distinct, not handed out in order. */
static void test_media_ports_random(void **state)
{
	struct sg_media_stream *st[8];
	unsigned i, j, in_order = 0;

	(void)state;
	for (i = 0; i < 8; i++) {
		assert_int_equal(sg_media_stream_new(&media,
		    SG_MEDIA_LATCH_STRICT, on_event, NULL, &st[i]), 0);
		for (j = 0; j < 2; j++) {
			uint16_t p = st[i]->leg[j].port;

			assert_true(p % 2 == 0);
			assert_true(p >= media.port_min &&
			    p + 1 <= media.port_max);
		}
		if (i > 0 && st[i]->leg[0].port ==
		    (uint16_t)(st[i - 1]->leg[0].port + 2))
			in_order++;
	}
	/* 8 pairs of 16 taken on each side (shared pool: both sides bind
	 * 127.0.0.1 here): all distinct. */
	for (i = 0; i < 8; i++)
		for (j = 0; j < 8; j++) {
			if (i != j)
				assert_int_not_equal(st[i]->leg[0].port,
				    st[j]->leg[0].port);
			assert_int_not_equal(st[i]->leg[0].port,
			    st[j]->leg[1].port);
		}
	/* Sequential allocation would give 7 of 7; random about 7/16. */
	assert_true(in_order < 5);
	/* The pool is full (16 pairs, 16 taken): EADDRINUSE, no callback. */
	{
		struct sg_media_stream *x = NULL;

		assert_int_equal(sg_media_stream_new(&media,
		    SG_MEDIA_LATCH_STRICT, on_event, NULL, &x), UV_EADDRINUSE);
		assert_null(x);
	}
	for (i = 0; i < 8; i++)
		sg_media_stream_close(st[i]);
	pump();
	assert_int_equal(closed_events, 8);
	assert_int_equal(media.nstreams, 0);
}

/* EMFILE: the error comes back, nothing opened, no callback ever. */
static void test_media_open_fails_quietly(void **state)
{
	struct sg_media_stream *x = NULL;
	struct rlimit old, rl;
	int fd = dup(0);	/* the lowest free descriptor */

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	for (int room = 0; room < 4; room++) {
		rl = old;
		rl.rlim_cur = (rlim_t)(fd + room);
		assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
		assert_int_equal(sg_media_stream_new(&media,
		    SG_MEDIA_LATCH_STRICT, on_event, NULL, &x), UV_EMFILE);
		assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
		assert_null(x);
		/* Every socket bound on the way was closed again. */
		assert_int_equal(dup(0), fd);
		close(fd);
	}
	pump();
	assert_int_equal(closed_events, 0);
	assert_int_equal(media.nstreams, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_media_strict_refuses_strangers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_media_strict_learns_port,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_media_sdp_ip_follows_port,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_media_first_then_nobody,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_media_ports_random, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_media_open_fails_quietly,
		    setup, teardown),
	};

	srand((unsigned)getpid());
	return cmocka_run_group_tests(tests, NULL, NULL);
}
