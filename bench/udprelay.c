/* SPDX-License-Identifier: MIT */
/*
 * bench/udprelay.c — the floor of bench/media.sh: a bare UDP relay, no SRTP,
 * no RTP parsing. PAIRS pairs of sockets on ADDR, pair i = ports BASE + 2i
 * (A) and BASE + 2i + 1 (B); what arrives on A goes out of B to B's peer and
 * the other way round, each peer latched from the last datagram received
 * (symmetric RTP). recvmmsg and sendmmsg, up to 64 datagrams a call, epoll
 * (level-triggered) over all sockets. With -n 1 all calls share one pair:
 * the batched floor; with one pair per call it does what a per-call-socket
 * relay cannot avoid (a wakeup, a receive and a send per socket).
 *
 *   udprelay -a 127.0.0.1 -p 6000 -n 1 -t 600 [-A ADDR:PORT -B ADDR:PORT]
 *            [-r RCVBUF] [-s]
 *
 * -A/-B: where A and B sockets send until they latch (what SDP tells a
 * real relay); -r: SO_RCVBUF(FORCE) of every socket; -s: never sleep
 * (epoll_wait with timeout 0: shows what waking up costs, not a way to run).
 * Exits after -t seconds (at most 3600) or on SIGTERM/SIGINT.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#define BATCH 64

static volatile sig_atomic_t stop;
static void on_sig(int s) { (void)s; stop = 1; }

int main(int argc, char **argv)
{
	const char *addr = "127.0.0.1";
	int base = 6000, pairs = 1, secs = 600, opt, ep, nfd, i, spin = 0, rcvbuf = 0;
	struct sockaddr_in init[2];
	int have_init[2] = { 0, 0 };
	int *fds;
	struct sockaddr_in *peer;
	unsigned char *has;
	static unsigned char buf[BATCH][2048];
	static struct iovec iov[BATCH];
	static struct mmsghdr msg[BATCH];
	static struct sockaddr_in from[BATCH];
	static struct epoll_event ev[256];
	unsigned long long fwd = 0, drop = 0;
	time_t end;

	while ((opt = getopt(argc, argv, "a:p:n:t:A:B:r:s")) != -1) {
		switch (opt) {
		case 'A':
		case 'B': {
			char host[64], *c = strrchr(optarg, ':');
			int w = opt == 'B';

			if (c == NULL || (size_t)(c - optarg) >= sizeof(host))
				return 2;
			memcpy(host, optarg, (size_t)(c - optarg));
			host[c - optarg] = 0;
			memset(&init[w], 0, sizeof(init[w]));
			init[w].sin_family = AF_INET;
			init[w].sin_port = htons((uint16_t)atoi(c + 1));
			if (inet_pton(AF_INET, host, &init[w].sin_addr) != 1)
				return 2;
			have_init[w] = 1;
			break;
		}
		case 'r': rcvbuf = atoi(optarg); break;
		case 's': spin = 1; break;
		case 'a': addr = optarg; break;
		case 'p': base = atoi(optarg); break;
		case 'n': pairs = atoi(optarg); break;
		case 't': secs = atoi(optarg); break;
		default:
			fprintf(stderr, "usage: udprelay -a ADDR -p BASE -n PAIRS -t SECS "
			    "[-A ADDR:PORT -B ADDR:PORT] [-r RCVBUF] [-s]\n");
			return 2;
		}
	}
	if (pairs < 1 || pairs > 20000 || base < 1024 || base + 2 * pairs > 65535 ||
	    secs < 1 || secs > 3600)
		return 2;
	nfd = 2 * pairs;
	fds = calloc((size_t)nfd, sizeof(int));
	peer = calloc((size_t)nfd, sizeof(*peer));
	has = calloc((size_t)nfd, 1);
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) < 0 || !fds || !peer || !has)
		return 1;
	for (i = 0; i < nfd; i++) {
		struct sockaddr_in a = { .sin_family = AF_INET };
		struct epoll_event e = { .events = EPOLLIN, .data.u32 = (uint32_t)i };

		a.sin_port = htons((uint16_t)(base + i));
		inet_pton(AF_INET, addr, &a.sin_addr);
		fds[i] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (rcvbuf > 0 && fds[i] >= 0 &&
		    setsockopt(fds[i], SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)) < 0)
			setsockopt(fds[i], SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
		if (have_init[i & 1]) {
			peer[i] = init[i & 1];
			has[i] = 1;
		}
		if (fds[i] < 0 || bind(fds[i], (struct sockaddr *)&a, sizeof(a)) < 0 ||
		    epoll_ctl(ep, EPOLL_CTL_ADD, fds[i], &e) < 0) {
			fprintf(stderr, "udprelay: port %d: %s\n", base + i, strerror(errno));
			return 1;
		}
	}
	for (i = 0; i < BATCH; i++) {
		iov[i].iov_base = buf[i];
		msg[i].msg_hdr.msg_iov = &iov[i];
		msg[i].msg_hdr.msg_iovlen = 1;
	}
	signal(SIGTERM, on_sig);
	signal(SIGINT, on_sig);
	printf("udprelay: %d pairs on %s:%d-%d\n", pairs, addr, base, base + nfd - 1);
	fflush(stdout);
	end = time(NULL) + secs;
	while (!stop && time(NULL) < end) {
		int n = epoll_wait(ep, ev, 256, spin ? 0 : 200), k;

		for (k = 0; k < n; k++) {
			int s = (int)ev[k].data.u32, o = s ^ 1, r, j;

			for (j = 0; j < BATCH; j++) {
				iov[j].iov_len = sizeof(buf[j]);
				msg[j].msg_hdr.msg_name = &from[j];
				msg[j].msg_hdr.msg_namelen = sizeof(from[j]);
			}
			r = recvmmsg(fds[s], msg, BATCH, MSG_DONTWAIT, NULL);
			if (r <= 0)
				continue;
			peer[s] = from[r - 1];
			has[s] = 1;
			if (!has[o]) {
				drop += (unsigned long long)r;
				continue;
			}
			for (j = 0; j < r; j++) {
				iov[j].iov_len = msg[j].msg_len;
				msg[j].msg_hdr.msg_name = &peer[o];
				msg[j].msg_hdr.msg_namelen = sizeof(peer[o]);
			}
			for (j = 0; j < r;) {
				int w = sendmmsg(fds[o], msg + j, (unsigned)(r - j), 0);

				if (w <= 0) {
					drop += (unsigned long long)(r - j);
					break;
				}
				j += w;
				fwd += (unsigned long long)w;
			}
		}
	}
	printf("udprelay: forwarded %llu, dropped %llu\n", fwd, drop);
	return 0;
}
