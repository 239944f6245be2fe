/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The shm provider must survive a peer that scribbles over the shared rings:
 * the victim logs, loses the connection (ECONNRESET), and never crashes,
 * hangs or reads outside the rings.
 *
 *   shm_corrupt server PORT      the victim: accepts one connection per
 *                                scenario and reads (or writes) until the
 *                                connection ends
 *   shm_corrupt client NODE PORT the attacker: connects, finds the rings in
 *                                its own mapping of the memfd, corrupts them
 *                                and rings the doorbell
 *
 * Run with SCIF_PROVIDER=shm (test/cluster/pair.sh shm_corrupt PORT); the
 * attacker is the requester, so it writes direction 0 and reads direction 1.
 */
#include "../shm.h"
#include "shm_raw.h"

#include <scif.h>
#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define FAIL(...)                                                            \
	do {                                                                 \
		fprintf(stderr, "FAIL line %d: ", __LINE__);                 \
		fprintf(stderr, __VA_ARGS__);                                \
		fprintf(stderr, " (errno %d %s)\n", errno, strerror(errno)); \
		exit(1);                                                     \
	} while (0)

enum { SC_TAIL, SC_CLEN, SC_CTYPE, SC_CPART, SC_HEAD, SC_GARBAGE, SC_N };
static const char *const names[SC_N] = {
	"stream tail out of the ring", "control frame too long",
	"control frame of a bad type", "half a control frame",
	"consumer head out of the ring", "garbage everywhere",
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n - 1;
}

static void put_frame(char *ring, uint32_t csize, uint64_t pos, uint8_t type,
		      uint32_t len)
{
	unsigned char h[SCIF_WIRE_HDR_LEN] = { type, SCIF_WIRE_VERSION, 0, 0,
					       (uint8_t)len,
					       (uint8_t)(len >> 8),
					       (uint8_t)(len >> 16),
					       (uint8_t)(len >> 24) };

	memcpy(ring + (pos & (csize - 1)), h, sizeof(h));
}

static void corrupt(int sc, char *map, size_t len)
{
	struct shm_shared *sh = (struct shm_shared *)(void *)map;
	uint32_t dsize = sh->dsize, csize = sh->csize;
	char *ctrl0 = map + 4096 + dsize;
	struct shm_dir *d0 = &sh->dir[0], *d1 = &sh->dir[1];
	uint64_t ct = d0->ctail;
	double end;

	switch (sc) {
	case SC_TAIL:
		__atomic_store_n(&d0->tail, d0->tail + dsize + 1,
				 __ATOMIC_RELEASE);
		break;
	case SC_CLEN:
		put_frame(ctrl0, csize, ct, SCIF_WIRE_WIN_ADD, 0x7fffffff);
		__atomic_store_n(&d0->ctail, ct + 16, __ATOMIC_RELEASE);
		break;
	case SC_CTYPE:
		put_frame(ctrl0, csize, ct, SCIF_WIRE_DATA, 4);
		__atomic_store_n(&d0->ctail, ct + 16, __ATOMIC_RELEASE);
		break;
	case SC_CPART:
		__atomic_store_n(&d0->ctail, ct + 4, __ATOMIC_RELEASE);
		break;
	case SC_HEAD:
		__atomic_store_n(&d1->head, 1ull << 50, __ATOMIC_RELEASE);
		break;
	case SC_GARBAGE:
		srand(42);
		for (end = now() + 1; now() < end;) {
			size_t i;

			for (i = 0; i < len; i += 8)
				*(volatile uint64_t *)(void *)(map + i) =
					(uint64_t)rand() << 33 ^
					(uint64_t)rand();
			shm_raw_ring_all();
		}
		break;
	}
	shm_raw_ring_all();
}

static int client(uint16_t node, uint16_t port)
{
	struct scif_portID dst = { .node = node, .port = port };
	struct pollfd pfd = { .events = 0 };
	int sc;

	for (sc = 0; sc < SC_N; sc++) {
		scif_epd_t epd = scif_open();
		double t0 = now();
		char *map, b;
		size_t len;

		while (scif_connect(epd, &dst) < 0) {
			if (now() - t0 > 10)
				FAIL("connect");
			usleep(100000);
		}
		/* the victim is ready and its ring is armed */
		if (scif_recv(epd, &b, 1, SCIF_RECV_BLOCK) != 1)
			FAIL("go byte");
		if (sc == SC_HEAD) /* the victim writes: give it room first */
			usleep(100000);
		map = shm_raw_find_rings(&len);
		corrupt(sc, map, len);
		/* Wait for the victim to hang up without reading: a read would
		 * publish our own sane head over a corrupted one. */
		pfd.fd = epd;
		while (poll(&pfd, 1, 10000) == 1 &&
		       !(pfd.revents & (POLLHUP | POLLERR)))
			usleep(10000);
		if (!(pfd.revents & (POLLHUP | POLLERR)))
			FAIL("%s: the victim did not hang up", names[sc]);
		scif_close(epd);
		printf("attacker: %s done\n", names[sc]);
	}
	return 0;
}

/* The victim: reads (or writes) until the connection ends. */
static void victim(scif_epd_t epd, int sc)
{
	static char buf[1 << 16];
	double end = now() + 10;
	struct pollfd pfd = { .fd = epd };
	int n;

	if (scif_send(epd, "g", 1, SCIF_SEND_BLOCK) != 1)
		FAIL("go byte");
	for (;;) {
		if (now() > end)
			FAIL("%s: the connection did not end in 10 s",
			     names[sc]);
		if (sc == SC_HEAD)
			n = scif_send(epd, buf, sizeof(buf), 0);
		else
			n = scif_recv(epd, buf, sizeof(buf), 0);
		if (n < 0)
			break;
		if (n == 0) {
			pfd.events = sc == SC_HEAD ? POLLOUT : POLLIN;
			poll(&pfd, 1, 100);
		}
	}
	if (errno != ECONNRESET && sc != SC_GARBAGE)
		FAIL("%s: ended with errno %d", names[sc], errno);
	printf("victim: %s: connection ended (%s)\n", names[sc],
	       strerror(errno));
}

static int server(uint16_t port)
{
	struct scif_portID peer;
	scif_epd_t lep, epd;
	int sc, fds;

	/* The baseline: the library initialised, nothing listening yet (once
	 * we listen, the attacker's half-done handshakes come and go). */
	lep = scif_open();
	if (lep < 0 || scif_close(lep))
		FAIL("open");
	fds = count_fds();
	lep = scif_open();
	if (lep < 0 || scif_bind(lep, port) != port || scif_listen(lep, 4))
		FAIL("listen");
	for (sc = 0; sc < SC_N; sc++) {
		if (scif_accept(lep, &peer, &epd, SCIF_ACCEPT_SYNC))
			FAIL("accept");
		victim(epd, sc);
		scif_close(epd);
	}
	scif_close(lep);
	for (sc = 0; sc < 20 && count_fds() != fds; sc++)
		usleep(100000); /* the progress thread releases what is left */
	if (count_fds() != fds)
		FAIL("descriptors: %d after, %d before", count_fds(), fds);
	printf("victim: survived %d scenarios, no descriptor leaked\n", SC_N);
	return 0;
}

int main(int argc, char **argv)
{
	alarm(120);
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	if (argc == 3 && !strcmp(argv[1], "server"))
		return server((uint16_t)atoi(argv[2]));
	if (argc == 4 && !strcmp(argv[1], "client"))
		return client((uint16_t)atoi(argv[2]), (uint16_t)atoi(argv[3]));
	fprintf(stderr, "usage: %s server PORT | client NODE PORT\n",
		argv[0]);
	return 2;
}
