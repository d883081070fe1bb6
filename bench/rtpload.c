/* SPDX-License-Identifier: MIT */
/*
 * bench/rtpload.c — the load generator of bench/media.sh (a benchmark, not
 * a test). It plays both ends of N calls through a media relay: the phone
 * (plain RTP toward the relay's inside port) and the SRTP peer (SRTP toward
 * the relay's outside port), paced at a fixed rate per stream and direction,
 * and counts what comes out of the relay, with the added latency of every
 * packet. Built by bench/media.sh:
 *
 *   cc -O2 -Igateway -o rtpload bench/rtpload.c gateway/srtp.c \
 *      -lsrtp2 -lnettle -lpthread
 *
 * (nettle is GnuTLS's crypto library, already on every machine that builds
 * sipsgate.)
 *
 * Modes:
 *   rtpload drive [nettle|libsrtp]
 *                            commands on stdin, one reply line each on
 *                            stdout; the generator's own SRTP with nettle
 *                            (default; checked against libsrtp2 first) or
 *                            with libsrtp2 through gateway/srtp.c
 *   rtpload floor SECS       per-packet cost of SRTP on 172-byte packets:
 *                            libsrtp2 protect and unprotect in a tight
 *                            loop, and the same protect with nettle
 *
 * Commands of "drive" (addresses are IPv4 ADDR:PORT):
 *   bind PHONE PEER          the two local sockets: the phone's (sends the
 *                            inside->outside direction, receives the other)
 *                            and the peer's; every call shares them (the
 *                            relay latches each leg to one of them)
 *   call SUITE GWKEY PEERKEY IN OUT
 *                            one call: IN = the relay's inside port (plain
 *                            RTP), OUT = its outside port. SUITE is an SDES
 *                            suite name (the outside is SRTP: we protect
 *                            with PEERKEY, hex, and unprotect with GWKEY,
 *                            the relay's key; nettle: AES_CM_128_HMAC_SHA1_80
 *                            only) or "plain"
 *   run NCALLS PPS SECS PID [direct]
 *                            send for SECS seconds from the first NCALLS
 *                            calls, PPS packets/s per call and direction,
 *                            then wait for stragglers (at most 300 ms);
 *                            PID is the relay (0: none) whose CPU time and
 *                            memory are read before and after. "direct":
 *                            the two sockets send to each other, no relay
 *                            and no SRTP (the loopback baseline)
 *   quit
 *
 * Packets: 12-byte RTP header (PT 0, SSRC 0x10000000+call inside->outside,
 * 0x20000000+call outside->inside, sequence and timestamp per stream, kept
 * across runs) and a 160-byte payload: the time it was built
 * (CLOCK_REALTIME, ns), the run number, the call, then filler: 172 bytes,
 * as G.711 at 20 ms. The latency of a packet is the kernel's receive
 * timestamp (SO_TIMESTAMPNS, set when the relay's datagram entered
 * loopback) minus the time just before the sendmmsg() that carried it.
 * The sender does not sleep during a run (it yields the CPU when idle).
 * Everything is bounded: a run stops sending at SECS + 2 s even when it is
 * behind its schedule and then waits at most 300 ms for stragglers; stdin
 * EOF ends the program.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <nettle/aes.h>
#include <nettle/ctr.h>
#include <nettle/hmac.h>

#include "srtp.h"

#define PKT_LEN 172
#define RTP_HDR 12
#define SLOT 512		/* packet + SRTP trailer room, aligned */
#define BATCH 64
#define MAX_CALLS 10000
#define RING 32			/* send times kept per stream (640 ms) */
#define HIST_NS 100		/* latency histogram bin */
#define HIST_BINS 1000000	/* 100 ms */
#define LATE_NS 50000000LL	/* later than this counts as lost */
#define DRAIN_NS 300000000LL


/*
 * AES_CM_128_HMAC_SHA1_80 (RFC 3711) with nettle, for the generator's own
 * packets: libsrtp2 as Debian builds it (NSS) costs ~10x more per packet,
 * and the generator must outrun the relays it measures. One stream (one
 * SSRC) per context, no MKI, no replay check. Checked against libsrtp2 at
 * start ("selftest"): the relays see exactly what libsrtp2 would send.
 */
struct nsrtp {
	struct aes128_ctx aes;		/* session encryption key */
	struct hmac_sha1_ctx hmac;	/* session authentication key */
	uint8_t salt[14];		/* session salt */
	uint32_t roc;
	uint16_t s_l;			/* highest sequence number seen */
	int started;
};

/* RFC 3711 4.3.1/4.3.3: the AES-CM PRF, key derivation rate 0. */
static void nsrtp_derive(const uint8_t mk[30], uint8_t label, uint8_t *out,
			 size_t n)
{
	static const uint8_t zero[32];
	struct aes128_ctx k;
	uint8_t iv[16];

	memcpy(iv, mk + 16, 14);
	iv[7] ^= label;
	iv[14] = iv[15] = 0;
	aes128_set_encrypt_key(&k, mk);
	ctr_crypt(&k, (nettle_cipher_func *)aes128_encrypt, 16, iv, n, out, zero);
}

static void nsrtp_init(struct nsrtp *c, const uint8_t mk[30])
{
	uint8_t ke[16], ka[20];

	memset(c, 0, sizeof(*c));
	nsrtp_derive(mk, 0, ke, 16);
	nsrtp_derive(mk, 1, ka, 20);
	nsrtp_derive(mk, 2, c->salt, 14);
	aes128_set_encrypt_key(&c->aes, ke);
	hmac_sha1_set_key(&c->hmac, 20, ka);
}

/* Encrypt (or decrypt) the payload of p (len bytes, 12-byte header). */
static void nsrtp_crypt(struct nsrtp *c, uint8_t *p, int len, uint32_t roc)
{
	uint8_t iv[16];

	memcpy(iv, c->salt, 14);
	iv[14] = iv[15] = 0;
	for (int i = 0; i < 4; i++)
		iv[4 + i] ^= p[8 + i];			/* SSRC */
	iv[8] ^= (uint8_t)(roc >> 24);
	iv[9] ^= (uint8_t)(roc >> 16);
	iv[10] ^= (uint8_t)(roc >> 8);
	iv[11] ^= (uint8_t)roc;
	iv[12] ^= p[2];					/* SEQ */
	iv[13] ^= p[3];
	ctr_crypt(&c->aes, (nettle_cipher_func *)aes128_encrypt, 16, iv,
	    (size_t)(len - RTP_HDR), p + RTP_HDR, p + RTP_HDR);
}

static void nsrtp_tag(struct nsrtp *c, const uint8_t *p, int len, uint32_t roc,
		      uint8_t tag[10])
{
	uint8_t r[4] = { (uint8_t)(roc >> 24), (uint8_t)(roc >> 16),
	    (uint8_t)(roc >> 8), (uint8_t)roc };

	hmac_sha1_update(&c->hmac, (size_t)len, p);
	hmac_sha1_update(&c->hmac, 4, r);
	hmac_sha1_digest(&c->hmac, 10, tag);
}

static void nsrtp_protect(struct nsrtp *c, uint8_t *p, int *len)
{
	uint16_t seq = (uint16_t)(p[2] << 8 | p[3]);

	if (c->started && seq < c->s_l && c->s_l - seq > 32768)
		c->roc++;				/* wrapped */
	c->started = 1;
	c->s_l = seq;
	nsrtp_crypt(c, p, *len, c->roc);
	nsrtp_tag(c, p, *len, c->roc, p + *len);
	*len += 10;
}

/* RFC 3711 3.3.1 and Appendix A: 0, or -1 when authentication fails. */
static int nsrtp_unprotect(struct nsrtp *c, uint8_t *p, int *len)
{
	uint16_t seq = (uint16_t)(p[2] << 8 | p[3]);
	uint32_t v = c->roc;
	uint8_t tag[10];

	if (*len < RTP_HDR + 10)
		return -1;
	if (c->started) {
		if (c->s_l < 32768) {
			if (seq - c->s_l > 32768)
				v = c->roc - 1;
		} else if (c->s_l - 32768 > seq) {
			v = c->roc + 1;
		}
	}
	nsrtp_tag(c, p, *len - 10, v, tag);
	if (memcmp(tag, p + *len - 10, 10) != 0)
		return -1;
	*len -= 10;
	nsrtp_crypt(c, p, *len, v);
	if (!c->started || v == c->roc + 1 ||
	    (v == c->roc && (uint16_t)(seq - c->s_l) < 32768)) {
		c->roc = v;
		c->s_l = seq;
	}
	c->started = 1;
	return 0;
}

enum { D_IN2OUT, D_OUT2IN };
static const uint32_t ssrc_tag[2] = { 0x10000000u, 0x20000000u };

struct call {
	struct sockaddr_in dst[2];	/* where direction d is sent */
	int64_t sent_at[2][RING];	/* by sequence number: just before sendmmsg */
	int secure;
	struct sg_srtp tx, rx;	/* peer side: protect / unprotect (libsrtp2) */
	struct nsrtp ntx, nrx;	/* the same with nettle */
	uint16_t seq[2];
	uint32_t ts[2];
};

static int use_nettle = 1;	/* the generator's SRTP: nettle or libsrtp2 */
static struct call *calls;
static int ncalls;
/* fd[d] sends direction d; fd[!d] receives it. fd[0] is the phone's. */
static int fd[2] = { -1, -1 };
static struct sockaddr_in local[2];

struct run {
	uint32_t id;
	int n, direct;
	uint64_t sent[2], recv[2], bad, stale, wrong, late, txfail;
	uint64_t over;		/* latency beyond the histogram */
	int64_t lat_max;
	double lag_max;		/* seconds behind the schedule, worst */
	uint32_t *hist;
};

static struct run R;

static int64_t now_ns(clockid_t c)
{
	struct timespec t;

	clock_gettime(c, &t);
	return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int parse_addr(const char *s, struct sockaddr_in *a)
{
	char host[64];
	const char *c = strrchr(s, ':');

	if (c == NULL || (size_t)(c - s) >= sizeof(host))
		return -1;
	memcpy(host, s, (size_t)(c - s));
	host[c - s] = 0;
	memset(a, 0, sizeof(*a));
	a->sin_family = AF_INET;
	a->sin_port = htons((uint16_t)atoi(c + 1));
	return inet_pton(AF_INET, host, &a->sin_addr) == 1 ? 0 : -1;
}

static int hex2bin(const char *h, uint8_t *out, size_t max)
{
	size_t n = strlen(h) / 2, i;

	if (n > max || strlen(h) % 2)
		return -1;
	for (i = 0; i < n; i++) {
		unsigned v;

		if (sscanf(h + 2 * i, "%2x", &v) != 1)
			return -1;
		out[i] = (uint8_t)v;
	}
	return (int)n;
}

static int open_sock(const struct sockaddr_in *a)
{
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1, big = 64 << 20;

	if (s < 0)
		return -1;
	/* Root: past rmem_max, so a burst never overflows our side. */
	if (setsockopt(s, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big)) < 0)
		setsockopt(s, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
	if (setsockopt(s, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big)) < 0)
		setsockopt(s, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
	setsockopt(s, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one));
	if (bind(s, (const struct sockaddr *)a, sizeof(*a)) < 0) {
		close(s);
		return -1;
	}
	return s;
}

/* --- receiving ------------------------------------------------------------ */

static uint8_t rx_buf[2][BATCH][2048] __attribute__((aligned(64)));
static char rx_ctl[2][BATCH][CMSG_SPACE(sizeof(struct timespec)) + 16];
static struct sockaddr_in rx_from[2][BATCH];
static struct iovec rx_iov[2][BATCH];
static struct mmsghdr rx_msg[2][BATCH];

static void rx_init(void)
{
	for (int s = 0; s < 2; s++)
		for (int i = 0; i < BATCH; i++) {
			rx_iov[s][i].iov_base = rx_buf[s][i];
			rx_iov[s][i].iov_len = sizeof(rx_buf[s][i]);
			rx_msg[s][i].msg_hdr.msg_iov = &rx_iov[s][i];
			rx_msg[s][i].msg_hdr.msg_iovlen = 1;
		}
}

static void rx_one(int s, uint8_t *p, int len, int64_t kts)
{
	int dir = !s;		/* socket s receives direction !s */
	uint32_t ssrc, idx, run;
	int64_t tx, lat;
	struct call *c;

	if (len < RTP_HDR) {
		R.bad++;
		return;
	}
	ssrc = (uint32_t)p[8] << 24 | (uint32_t)p[9] << 16 |
	    (uint32_t)p[10] << 8 | p[11];
	idx = ssrc & 0x0fffffff;
	if ((ssrc & 0xf0000000u) != ssrc_tag[dir] || idx >= (uint32_t)ncalls) {
		R.wrong++;
		return;
	}
	c = &calls[idx];
	if (dir == D_IN2OUT && c->secure && !R.direct &&
	    (use_nettle ? nsrtp_unprotect(&c->nrx, p, &len) :
	    sg_srtp_unprotect(&c->rx, p, &len)) < 0) {
		R.bad++;
		return;
	}
	if (len != PKT_LEN) {
		R.bad++;
		return;
	}
	memcpy(&run, p + RTP_HDR + 8, 4);
	if (run != R.id) {
		R.stale++;	/* from an earlier run */
		return;
	}
	memcpy(&tx, p + RTP_HDR, 8);	/* when it was built */
	{
		uint16_t seq = (uint16_t)(p[2] << 8 | p[3]);
		int64_t at = c->sent_at[dir][seq % RING];

		/* when it was handed to the kernel, unless the slot is reused */
		if (at >= tx && at - tx < 1000000)
			tx = at;
	}
	lat = kts - tx;
	if (lat < 0)
		lat = 0;
	if (lat > R.lat_max)
		R.lat_max = lat;
	if (lat > LATE_NS) {
		R.late++;
		return;
	}
	if (lat / HIST_NS < HIST_BINS)
		R.hist[lat / HIST_NS]++;
	else
		R.over++;
	R.recv[dir]++;
}

/* Read what is there on both sockets; returns the number of datagrams. */
static int rx_all(void)
{
	int total = 0;

	for (int s = 0; s < 2; s++) {
		for (int rounds = 0; rounds < 16; rounds++) {
			int n, i;

			for (i = 0; i < BATCH; i++) {
				struct msghdr *h = &rx_msg[s][i].msg_hdr;

				h->msg_name = &rx_from[s][i];
				h->msg_namelen = sizeof(rx_from[s][i]);
				h->msg_control = rx_ctl[s][i];
				h->msg_controllen = sizeof(rx_ctl[s][i]);
				h->msg_flags = 0;
			}
			n = recvmmsg(fd[s], rx_msg[s], BATCH, MSG_DONTWAIT, NULL);
			if (n <= 0)
				break;
			for (i = 0; i < n; i++) {
				struct msghdr *h = &rx_msg[s][i].msg_hdr;
				struct cmsghdr *cm;
				int64_t kts = 0;

				for (cm = CMSG_FIRSTHDR(h); cm; cm = CMSG_NXTHDR(h, cm))
					if (cm->cmsg_level == SOL_SOCKET &&
					    cm->cmsg_type == SCM_TIMESTAMPNS) {
						struct timespec t;

						memcpy(&t, CMSG_DATA(cm), sizeof(t));
						kts = (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
					}
				if (kts == 0)
					kts = now_ns(CLOCK_REALTIME);
				rx_one(s, rx_buf[s][i], (int)rx_msg[s][i].msg_len, kts);
			}
			total += n;
			if (n < BATCH)
				break;
		}
	}
	return total;
}

/* --- sending --------------------------------------------------------------- */

static uint8_t tx_buf[2][BATCH][SLOT] __attribute__((aligned(64)));
static struct iovec tx_iov[2][BATCH];
static struct mmsghdr tx_msg[2][BATCH];
static uint8_t filler[PKT_LEN];

static void build(struct call *c, uint32_t idx, int d, uint8_t *p, int *len)
{
	uint32_t ssrc = ssrc_tag[d] | idx, ts = c->ts[d];
	uint16_t seq = c->seq[d];
	int64_t t;

	p[0] = 0x80;
	p[1] = 0;
	p[2] = (uint8_t)(seq >> 8);
	p[3] = (uint8_t)seq;
	p[4] = (uint8_t)(ts >> 24);
	p[5] = (uint8_t)(ts >> 16);
	p[6] = (uint8_t)(ts >> 8);
	p[7] = (uint8_t)ts;
	p[8] = (uint8_t)(ssrc >> 24);
	p[9] = (uint8_t)(ssrc >> 16);
	p[10] = (uint8_t)(ssrc >> 8);
	p[11] = (uint8_t)ssrc;
	memcpy(p + RTP_HDR + 16, filler + RTP_HDR + 16, PKT_LEN - RTP_HDR - 16);
	memcpy(p + RTP_HDR + 8, &R.id, 4);
	memcpy(p + RTP_HDR + 12, &idx, 4);
	c->seq[d]++;
	c->ts[d] += 160;
	*len = PKT_LEN;
	t = now_ns(CLOCK_REALTIME);
	memcpy(p + RTP_HDR, &t, 8);
	c->sent_at[d][seq % RING] = 0;	/* set by tx_flush */
	if (d == D_OUT2IN && c->secure && !R.direct) {
		if (use_nettle)
			nsrtp_protect(&c->ntx, p, len);
		else if (sg_srtp_protect(&c->tx, p, len) < 0)
			R.txfail++;
	}
}

static struct call *tx_call[2][BATCH];
static uint16_t tx_seq[2][BATCH];

static void tx_flush(int d, int n)
{
	int done = 0, r;
	int64_t t = now_ns(CLOCK_REALTIME);

	for (int i = 0; i < n; i++)
		tx_call[d][i]->sent_at[d][tx_seq[d][i] % RING] = t;

	while (done < n) {
		r = sendmmsg(fd[d], tx_msg[d] + done, (unsigned)(n - done), 0);
		if (r <= 0) {
			R.txfail += (uint64_t)(n - done);	/* EAGAIN, ENOBUFS */
			R.sent[d] -= (uint64_t)(n - done);
			return;
		}
		done += r;
	}
}

/* --- relay accounting ------------------------------------------------------- */

struct relay_cpu {
	unsigned long long ut, st, sched_ns, rss_kib;
};

static void relay_read(int pid, struct relay_cpu *rc)
{
	char path[64], buf[4096], *p;
	FILE *f;
	DIR *d;
	struct dirent *e;
	int i;

	memset(rc, 0, sizeof(*rc));
	if (pid <= 0)
		return;
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if ((f = fopen(path, "r")) != NULL) {
		if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')'))) {
			/* fields after ")": state is #3; utime #14, stime #15 */
			for (i = 3, p += 2; i < 14 && p; i++)
				p = strchr(p, ' ') ? strchr(p, ' ') + 1 : NULL;
			if (p)
				sscanf(p, "%llu %llu", &rc->ut, &rc->st);
		}
		fclose(f);
	}
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	if ((f = fopen(path, "r")) != NULL) {
		while (fgets(buf, sizeof(buf), f))
			if (sscanf(buf, "VmRSS: %llu", &rc->rss_kib) == 1)
				break;
		fclose(f);
	}
	/* schedstat: ns on CPU, summed over the relay's threads */
	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	if ((d = opendir(path)) != NULL) {
		while ((e = readdir(d)) != NULL) {
			unsigned long long ns;

			if (e->d_name[0] == '.')
				continue;
			snprintf(buf, sizeof(buf), "/proc/%d/task/%s/schedstat",
			    pid, e->d_name);
			if ((f = fopen(buf, "r")) == NULL)
				continue;
			if (fscanf(f, "%llu", &ns) == 1)
				rc->sched_ns += ns;
			fclose(f);
		}
		closedir(d);
	}
}

/* cpu line of /proc/stat: busy (user nice system irq softirq steal), steal */
static void stat_read(unsigned long long *busy, unsigned long long *steal,
		      unsigned long long *cpu0)
{
	char buf[512];
	FILE *f = fopen("/proc/stat", "r");
	unsigned long long v[10];

	*busy = *steal = *cpu0 = 0;
	if (f == NULL)
		return;
	while (fgets(buf, sizeof(buf), f)) {
		int all = strncmp(buf, "cpu ", 4) == 0;
		int c0 = strncmp(buf, "cpu0 ", 5) == 0;

		if (!all && !c0)
			continue;
		memset(v, 0, sizeof(v));
		sscanf(buf + (all ? 4 : 5), "%llu %llu %llu %llu %llu %llu %llu %llu",
		    &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
		if (all) {
			*busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
			*steal = v[7];
		} else {
			*cpu0 = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
		}
	}
	fclose(f);
}

static double self_cpu(void)
{
	struct rusage u;

	getrusage(RUSAGE_SELF, &u);
	return (double)u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6 +
	    (double)u.ru_stime.tv_sec + u.ru_stime.tv_usec / 1e6;
}

static double pct(double q, uint64_t total)
{
	uint64_t want = (uint64_t)(q * (double)total), acc = 0;

	if (total == 0)
		return -1;
	if (want >= total)
		want = total - 1;
	for (uint32_t i = 0; i < HIST_BINS; i++) {
		acc += R.hist[i];
		if (acc > want)
			return (i + 0.5) * HIST_NS / 1000.0;
	}
	return R.lat_max / 1000.0;	/* in the overflow */
}

/* --- run ------------------------------------------------------------------ */

static void do_run(int n, double pps, double secs, int pid, int direct)
{
	static uint32_t run_id;
	struct relay_cpu c0, c1;
	unsigned long long b0, b1, s0, s1, z0, z1;
	double rate, self0, self1;
	int64_t t0, t_end, now, total, k = 0, last_rx, t_sent;
	struct pollfd pf[2] = { { fd[0], POLLIN, 0 }, { fd[1], POLLIN, 0 } };
	uint64_t hsum;

	if (n < 1 || n > ncalls || pps <= 0 || secs <= 0 || secs > 60) {
		printf("error run: bad arguments (%d calls of %d)\n", n, ncalls);
		return;
	}
	memset(R.hist, 0, sizeof(uint32_t) * HIST_BINS);
	{
		uint32_t *h = R.hist;

		memset(&R, 0, sizeof(R));
		R.hist = h;
	}
	R.id = ++run_id;
	R.n = n;
	R.direct = direct;
	rate = n * 2 * pps;	/* packets/s, both directions */
	total = (int64_t)(rate * secs);
	rx_all();		/* anything left over: stale */
	R.stale = R.bad = R.wrong = R.late = 0;
	relay_read(pid, &c0);
	stat_read(&b0, &s0, &z0);
	self0 = self_cpu();
	t0 = now_ns(CLOCK_MONOTONIC);
	t_end = t0 + (int64_t)(secs * 1e9);
	/*
	 * Send what is due by the schedule (packet k at t0 + k / rate; call
	 * (k / 2) % n, direction k % 2: each stream every 1 / pps seconds, the
	 * calls evenly spread), read what arrived, and again: no sleeping (a
	 * sleep and its wakeup cost more than the packets in a VM), but a
	 * sched_yield() when there is nothing to do.
	 */
	for (;;) {
		int64_t due;
		int nb[2] = { 0, 0 }, got;

		now = now_ns(CLOCK_MONOTONIC);
		if (now > t_end + 2000000000LL)
			break;		/* hopelessly behind: stop */
		due = (int64_t)((double)(now - t0) * rate / 1e9) + 1;
		if (due > total)
			due = total;
		if (due - k > 8 * BATCH)
			due = k + 8 * BATCH;	/* behind: read in between */
		while (k < due) {
			uint32_t idx = (uint32_t)((k / 2) % n);
			int d = (int)(k & 1), len;
			struct call *c = &calls[idx];
			struct mmsghdr *m = &tx_msg[d][nb[d]];

			tx_call[d][nb[d]] = c;
			tx_seq[d][nb[d]] = c->seq[d];
			build(c, idx, d, tx_buf[d][nb[d]], &len);
			tx_iov[d][nb[d]].iov_base = tx_buf[d][nb[d]];
			tx_iov[d][nb[d]].iov_len = (size_t)len;
			m->msg_hdr.msg_iov = &tx_iov[d][nb[d]];
			m->msg_hdr.msg_iovlen = 1;
			m->msg_hdr.msg_name = direct ? &local[!d] : &c->dst[d];
			m->msg_hdr.msg_namelen = sizeof(struct sockaddr_in);
			m->msg_hdr.msg_control = NULL;
			m->msg_hdr.msg_controllen = 0;
			R.sent[d]++;
			nb[d]++;
			k++;
			if (nb[d] == BATCH) {
				tx_flush(d, nb[d]);
				nb[d] = 0;
			}
		}
		for (int x = 0; x < 2; x++)
			if (nb[x])
				tx_flush(x, nb[x]);
		now = now_ns(CLOCK_MONOTONIC);
		{
			double lag = ((double)(now - t0) * rate / 1e9 - (double)k) / rate;

			if (lag > R.lag_max)
				R.lag_max = lag;
		}
		got = rx_all();
		if (k >= total)
			break;
		if (got == 0 && k >= due)
			sched_yield();	/* nothing to do: others on this CPU may run */
	}
	/* Stragglers: until everything is in or DRAIN_NS passed. */
	last_rx = now_ns(CLOCK_MONOTONIC);
	t_sent = last_rx;
	for (;;) {
		struct timespec ts = { 0, 5000000 };

		rx_all();
		if (R.recv[0] + R.recv[1] + R.late + R.bad >=
		    R.sent[0] + R.sent[1])
			break;
		if (now_ns(CLOCK_MONOTONIC) - last_rx > DRAIN_NS)
			break;
		ppoll(pf, 2, &ts, NULL);
	}
	now = now_ns(CLOCK_MONOTONIC);
	self1 = self_cpu();
	relay_read(pid, &c1);
	stat_read(&b1, &s1, &z1);
	hsum = 0;
	for (uint32_t i = 0; i < HIST_BINS; i++)
		hsum += R.hist[i];
	hsum += R.over;
	{
		uint64_t sent = R.sent[0] + R.sent[1], recv = R.recv[0] + R.recv[1];

		printf("ok run=%u calls=%d pps=%.0f rate=%.0f secs=%.3f send_secs=%.3f "
		    "sent_i2o=%" PRIu64 " recv_i2o=%" PRIu64 " sent_o2i=%" PRIu64
		    " recv_o2i=%" PRIu64 " lost=%" PRIu64 " late=%" PRIu64
		    " bad=%" PRIu64 " stale=%" PRIu64 " wrong=%" PRIu64
		    " txfail=%" PRIu64 " lag_ms=%.2f"
		    " p50_us=%.1f p90_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f"
		    " relay_ut=%llu relay_st=%llu relay_sched_ns=%llu"
		    " relay_rss_kib=%llu self_cpu_s=%.3f busy_ticks=%llu"
		    " steal_ticks=%llu cpu0_ticks=%llu\n",
		    R.id, n, pps, rate, (double)(now - t0) / 1e9,
		    (double)(t_sent - t0) / 1e9,
		    R.sent[0], R.recv[0], R.sent[1], R.recv[1],
		    sent > recv + R.late ? sent - recv - R.late : 0, R.late,
		    R.bad, R.stale, R.wrong, R.txfail, R.lag_max * 1e3,
		    pct(0.5, hsum), pct(0.9, hsum), pct(0.99, hsum),
		    pct(0.999, hsum), R.lat_max / 1e3,
		    c1.ut - c0.ut, c1.st - c0.st, c1.sched_ns - c0.sched_ns,
		    c1.rss_kib, self1 - self0, b1 - b0, s1 - s0, z1 - z0);
	}
}

/* --- floor: SRTP cost per packet -------------------------------------------- */

static double bench_loop_ns(int64_t dur_ns, int64_t *iters,
			    void (*fn)(void *), void *arg)
{
	int64_t t0 = now_ns(CLOCK_MONOTONIC), t, n = 0;

	do {
		for (int i = 0; i < 1000; i++)
			fn(arg);
		n += 1000;
		t = now_ns(CLOCK_MONOTONIC);
	} while (t - t0 < dur_ns);
	*iters = n;
	return (double)(t - t0) / (double)n;
}

struct floor_ctx {
	struct sg_srtp tx, rx;
	uint8_t pkt[SLOT] __attribute__((aligned(16)));
	uint8_t *pre;		/* protected packets for unprotect */
	int *pre_len;
	int npre, next;
	uint16_t seq;
	uint8_t key[30];
	struct nsrtp ntx;
};

static void mk_plain(uint8_t *p, uint16_t seq)
{
	static const uint8_t hdr[RTP_HDR] = {
		0x80, 0, 0, 0, 0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78
	};

	memcpy(p, hdr, RTP_HDR);
	memcpy(p + RTP_HDR, filler + RTP_HDR, PKT_LEN - RTP_HDR);
	p[2] = (uint8_t)(seq >> 8);
	p[3] = (uint8_t)seq;
	p[6] = (uint8_t)(seq >> 8);	/* timestamp = 160 * seq */
	p[7] = (uint8_t)seq;
}

static void f_protect(void *a)
{
	struct floor_ctx *f = a;
	int len = PKT_LEN;

	mk_plain(f->pkt, f->seq++);
	if (sg_srtp_protect(&f->tx, f->pkt, &len) < 0)
		abort();
}

static void f_unprotect(void *a)
{
	struct floor_ctx *f = a;
	int len;

	if (f->next == f->npre) {
		/* a fresh context: the replay window starts again */
		sg_srtp_close(&f->rx);
		if (sg_srtp_init(&f->rx, SG_SRTP_AES_CM_128_HMAC_SHA1_80, f->key,
		    30, false) < 0)
			abort();
		f->next = 0;
	}
	len = f->pre_len[f->next];
	memcpy(f->pkt, f->pre + (size_t)f->next * SLOT, (size_t)len);
	f->next++;
	if (sg_srtp_unprotect(&f->rx, f->pkt, &len) < 0)
		abort();
}

/* The same protect with nettle (nsrtp above): the cryptography alone. */
static void f_nettle(void *a)
{
	struct floor_ctx *f = a;
	int len = PKT_LEN;

	mk_plain(f->pkt, f->seq++);
	nsrtp_protect(&f->ntx, f->pkt, &len);
}

/*
 * nsrtp against libsrtp2, both ways, across a sequence wrap: 0 when the
 * packets are byte for byte the same and each side reads the other's.
 */
static int selftest(void)
{
	struct sg_srtp tx, rx;
	struct nsrtp ntx, nrx;
	uint8_t key[30], a[SLOT], b[SLOT];
	int rc = 0;

	for (int i = 0; i < 30; i++)
		key[i] = (uint8_t)(i * 7 + 3);
	if (sg_srtp_init(&tx, SG_SRTP_AES_CM_128_HMAC_SHA1_80, key, 30, true) < 0 ||
	    sg_srtp_init(&rx, SG_SRTP_AES_CM_128_HMAC_SHA1_80, key, 30, false) < 0)
		return -1;
	nsrtp_init(&ntx, key);
	nsrtp_init(&nrx, key);
	for (int i = 0; i < 300 && rc == 0; i++) {
		uint16_t seq = (uint16_t)(65400 + i);	/* wraps at i = 136 */
		int la = PKT_LEN, lb = PKT_LEN;

		mk_plain(a, seq);
		mk_plain(b, seq);
		if (sg_srtp_protect(&tx, a, &la) < 0)
			rc = -2;
		nsrtp_protect(&ntx, b, &lb);
		if (rc == 0 && (la != lb || memcmp(a, b, (size_t)la) != 0))
			rc = -3;
		if (rc == 0 && (nsrtp_unprotect(&nrx, a, &la) < 0 ||
		    sg_srtp_unprotect(&rx, b, &lb) < 0))
			rc = -4;
		mk_plain(b + 256, seq);
		if (rc == 0 && (la != PKT_LEN || memcmp(a, b + 256, PKT_LEN) != 0))
			rc = -5;
	}
	sg_srtp_close(&tx);
	sg_srtp_close(&rx);
	return rc;
}

static long self_rss_kib(void)
{
	char buf[256];
	long v = 0;
	FILE *f = fopen("/proc/self/status", "r");

	if (f == NULL)
		return 0;
	while (fgets(buf, sizeof(buf), f))
		if (sscanf(buf, "VmRSS: %ld", &v) == 1)
			break;
	fclose(f);
	return v;
}

static int do_floor(double secs)
{
	double mem_pair_kib, rr_ns[2];
	static struct floor_ctx f;
	int64_t dur = (int64_t)(secs * 1e9 / 3), n1, n2, n3;
	double p, u, nt;
	int rc;

	for (int i = 0; i < 30; i++)
		f.key[i] = (uint8_t)(i * 37 + 11);
	if (sg_srtp_global_init() < 0 ||
	    sg_srtp_init(&f.tx, SG_SRTP_AES_CM_128_HMAC_SHA1_80, f.key, 30,
	    true) < 0) {
		fprintf(stderr, "rtpload: cannot make an SRTP context\n");
		return 1;
	}
	/* 65536 protected packets (one sequence cycle) for unprotect */
	f.npre = 65536;
	f.pre = malloc((size_t)f.npre * SLOT);
	f.pre_len = malloc(sizeof(int) * (size_t)f.npre);
	if (f.pre == NULL || f.pre_len == NULL)
		return 1;
	{
		struct sg_srtp tx;

		sg_srtp_init(&tx, SG_SRTP_AES_CM_128_HMAC_SHA1_80, f.key, 30, true);
		for (int i = 0; i < f.npre; i++) {
			uint8_t *q = f.pre + (size_t)i * SLOT;

			f.pre_len[i] = PKT_LEN;
			mk_plain(q, (uint16_t)i);
			if ((rc = sg_srtp_protect(&tx, q, &f.pre_len[i])) < 0) {
				fprintf(stderr, "rtpload: protect %d: %d\n", i, rc);
				return 1;
			}
		}
		sg_srtp_close(&tx);
	}
	f.next = f.npre;
	p = bench_loop_ns(dur, &n1, f_protect, &f);
	u = bench_loop_ns(dur, &n2, f_unprotect, &f);
	nsrtp_init(&f.ntx, f.key);
	f.seq = 0;
	nt = bench_loop_ns(dur, &n3, f_nettle, &f);
	/*
	 * Memory: 500 context pairs (tx + rx, one packet through each, so
	 * that libsrtp2 has made its per-SSRC stream), VmRSS before and after.
	 */
	{
		enum { NPAIR = 500 };
		struct sg_srtp *c = calloc(2 * NPAIR, sizeof(*c));
		long r0, r1;

		if (c == NULL)
			return 1;
		r0 = self_rss_kib();
		for (int i = 0; i < NPAIR; i++) {
			uint8_t k[30];
			int len = PKT_LEN;

			memcpy(k, f.key, 30);
			k[0] = (uint8_t)i;
			k[1] = (uint8_t)(i >> 8);
			if (sg_srtp_init(&c[2 * i], SG_SRTP_AES_CM_128_HMAC_SHA1_80, k,
			    30, true) < 0 ||
			    sg_srtp_init(&c[2 * i + 1], SG_SRTP_AES_CM_128_HMAC_SHA1_80,
			    k, 30, false) < 0)
				return 1;
			mk_plain(f.pkt, 1);
			if (sg_srtp_protect(&c[2 * i], f.pkt, &len) < 0 ||
			    sg_srtp_unprotect(&c[2 * i + 1], f.pkt, &len) < 0)
				return 1;
		}
		r1 = self_rss_kib();
		mem_pair_kib = (double)(r1 - r0) / NPAIR;
		/*
		 * Protect round robin over the 500 streams, as a relay does:
		 * the per-stream state is no longer all in the cache.
		 */
		{
			struct nsrtp *nc = calloc(NPAIR, sizeof(*nc));
			uint16_t seq = 2;
			int64_t t0, t1, it = 0;

			if (nc == NULL)
				return 1;
			for (int i = 0; i < NPAIR; i++)
				nsrtp_init(&nc[i], f.key);
			for (int pass = 0; pass < 2; pass++) {
				t0 = now_ns(CLOCK_MONOTONIC);
				it = 0;
				do {
					for (int i = 0; i < NPAIR; i++) {
						int len = PKT_LEN;

						mk_plain(f.pkt, seq);
						if (pass == 0) {
							if (sg_srtp_protect(&c[2 * i], f.pkt, &len) < 0)
								return 1;
						} else {
							nsrtp_protect(&nc[i], f.pkt, &len);
						}
					}
					seq++;
					it += NPAIR;
					t1 = now_ns(CLOCK_MONOTONIC);
				} while (t1 - t0 < dur / 2);
				rr_ns[pass] = (double)(t1 - t0) / (double)it;
			}
			free(nc);
		}
	}
	printf("ok protect_ns=%.1f protect_n=%" PRId64 " unprotect_ns=%.1f "
	    "unprotect_n=%" PRId64 " nettle_ns=%.1f nettle_n=%" PRId64
	    " selftest=%s libsrtp_pair_kib=%.2f nettle_pair_bytes=%zu"
	    " protect_rr500_ns=%.1f nettle_rr500_ns=%.1f\n",
	    p, n1, u, n2, nt, n3, selftest() == 0 ? "ok" : "FAILED",
	    mem_pair_kib, 2 * sizeof(struct nsrtp), rr_ns[0], rr_ns[1]);
	return 0;
}

/* --- main ------------------------------------------------------------------- */

int main(int argc, char **argv)
{
	char line[1024];

	for (int i = 0; i < PKT_LEN; i++)
		filler[i] = (uint8_t)(0xd5 ^ i);	/* not silence, not zero */
	setvbuf(stdout, NULL, _IOLBF, 0);
	prctl(PR_SET_TIMERSLACK, 1UL);
	if (argc >= 3 && strcmp(argv[1], "floor") == 0)
		return do_floor(atof(argv[2]));
	if (argc < 2 || argc > 3 || strcmp(argv[1], "drive") != 0 ||
	    (argc == 3 && strcmp(argv[2], "nettle") != 0 &&
	    strcmp(argv[2], "libsrtp") != 0)) {
		fprintf(stderr, "usage: rtpload drive [nettle|libsrtp] | "
		    "rtpload floor SECS\n");
		return 2;
	}
	use_nettle = argc == 2 || strcmp(argv[2], "nettle") == 0;
	if (sg_srtp_global_init() < 0)
		return 1;
	if (use_nettle && selftest() != 0) {
		fprintf(stderr, "rtpload: nettle SRTP differs from libsrtp2 "
		    "(selftest %d)\n", selftest());
		return 1;
	}
	calls = calloc(MAX_CALLS, sizeof(*calls));
	R.hist = calloc(HIST_BINS, sizeof(uint32_t));
	if (calls == NULL || R.hist == NULL)
		return 1;
	rx_init();
	while (fgets(line, sizeof(line), stdin)) {
		char a[6][256];
		int n = sscanf(line, "%255s %255s %255s %255s %255s %255s",
		    a[0], a[1], a[2], a[3], a[4], a[5]);

		if (n <= 0)
			continue;
		if (strcmp(a[0], "quit") == 0) {
			printf("ok bye\n");
			break;
		} else if (strcmp(a[0], "bind") == 0 && n == 3) {
			if (parse_addr(a[1], &local[0]) < 0 ||
			    parse_addr(a[2], &local[1]) < 0 ||
			    (fd[0] = open_sock(&local[0])) < 0 ||
			    (fd[1] = open_sock(&local[1])) < 0)
				printf("error bind: %s\n", strerror(errno));
			else
				printf("ok\n");
		} else if (strcmp(a[0], "call") == 0 && n == 6) {
			struct call *c = &calls[ncalls];
			uint8_t gk[64], pk[64];
			int suite = -1, gl = 0, pl = 0;

			if (ncalls >= MAX_CALLS) {
				printf("error call: too many\n");
				continue;
			}
			memset(c, 0, sizeof(*c));
			c->seq[0] = (uint16_t)(ncalls * 7);
			c->seq[1] = (uint16_t)(ncalls * 13);
			if (strcmp(a[1], "plain") != 0) {
				suite = sg_srtp_suite_by_name(sg_str_make(a[1], strlen(a[1])));
				gl = hex2bin(a[2], gk, sizeof(gk));
				pl = hex2bin(a[3], pk, sizeof(pk));
			}
			if (parse_addr(a[4], &c->dst[D_IN2OUT]) < 0 ||
			    parse_addr(a[5], &c->dst[D_OUT2IN]) < 0 ||
			    (strcmp(a[1], "plain") != 0 && (suite < 0 ||
			    (use_nettle ? (suite != SG_SRTP_AES_CM_128_HMAC_SHA1_80 ||
			    gl != 30 || pl != 30) :
			    (sg_srtp_init(&c->rx, suite, gk, (size_t)gl, false) < 0 ||
			    sg_srtp_init(&c->tx, suite, pk, (size_t)pl, true) < 0))))) {
				printf("error call %d: bad suite, key or address\n", ncalls);
				continue;
			}
			c->secure = suite >= 0;
			if (c->secure && use_nettle) {
				nsrtp_init(&c->nrx, gk);
				nsrtp_init(&c->ntx, pk);
			}
			ncalls++;
			printf("ok calls=%d\n", ncalls);
		} else if (strcmp(a[0], "run") == 0 && n >= 5) {
			if (fd[0] < 0)
				printf("error run: bind first\n");
			else
				do_run(atoi(a[1]), atof(a[2]), atof(a[3]), atoi(a[4]),
				    n == 6 && strcmp(a[5], "direct") == 0);
		} else {
			printf("error unknown command\n");
		}
	}
	return 0;
}
