/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * t_stream: the SCIF byte stream between two processes, every byte checked.
 *
 *   t_stream server PORT MIB
 *   t_stream client NODE PORT MIB
 *
 * 1) MIB MiB each way at once (two senders, two receivers) with random
 *    send and receive sizes: flow control in both directions, no loss,
 *    duplication or reordering;
 * 2) 4 MiB with non-blocking calls, waiting in scif_poll (sender) and
 *    poll(2) on the descriptor (receiver);
 * 3) four threads sending 4 KiB records on one endpoint: records arrive
 *    whole (no interleaving), in per-thread order;
 * 4) the client sends 100000 bytes and closes at once: the server still
 *    receives all of them, then ECONNRESET, POLLHUP, and send fails;
 * 5) new connections whose client sends and closes at once: each accept
 *    still returns the endpoint, whose data drains before ECONNRESET;
 * 6) the reverse: the server accepts, sends and closes at once; the
 *    client's connect (collected late when non-blocking, or blocking)
 *    succeeds, and its data drains before ECONNRESET.
 */
#include "tc.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>

#define SEED_C2S 0x1111
#define SEED_S2C 0x2222
#define REC_SIZE 4096
#define REC_PER_THREAD 256
#define NTHREADS 4

static uint64_t rng_state = 88172645463325252ull;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* Sizes from 1 B to 256 KiB, spread over the orders of magnitude. */
static int rand_size(uint64_t r)
{
	int bits = (int)(r % 19);

	return 1 + (int)((r >> 8) % (1u << bits));
}

struct sender {
	scif_epd_t epd;
	uint64_t seed, total, rs;
};

static void *send_stream(void *arg)
{
	struct sender *s = arg;
	uint8_t *buf = malloc(1 << 18);
	uint64_t pos = 0;

	TC_CHECK(buf, "malloc");
	while (pos < s->total) {
		int n;

		s->rs = s->rs * 6364136223846793005ull + 1442695040888963407ull;
		n = rand_size(s->rs >> 20);
		if ((uint64_t)n > s->total - pos)
			n = (int)(s->total - pos);
		tc_fill(buf, (size_t)n, s->seed, pos);
		tc_send_all(s->epd, buf, n);
		pos += (uint64_t)n;
	}
	free(buf);
	return NULL;
}

static void recv_stream(scif_epd_t epd, uint64_t seed, uint64_t total)
{
	uint8_t *buf = malloc(1 << 18);
	uint64_t pos = 0;

	TC_CHECK(buf, "malloc");
	while (pos < total) {
		int n = rand_size(rng());
		long bad;

		if ((uint64_t)n > total - pos)
			n = (int)(total - pos);
		tc_recv_all(epd, buf, n);
		bad = tc_verify(buf, (size_t)n, seed, pos);
		TC_CHECK(bad < 0, "stream byte %llu wrong",
			 (unsigned long long)(pos + (uint64_t)bad));
		pos += (uint64_t)n;
	}
	free(buf);
}

static void phase_bidir(scif_epd_t epd, int server, uint64_t bytes)
{
	struct sender s = { .epd = epd, .seed = server ? SEED_S2C : SEED_C2S,
			    .total = bytes, .rs = server ? 7 : 13 };
	double t0 = tc_now();
	pthread_t th;

	TC_CHECK(!pthread_create(&th, NULL, send_stream, &s), "thread");
	recv_stream(epd, server ? SEED_C2S : SEED_S2C, bytes);
	pthread_join(th, NULL);
	printf("phase 1: %llu bytes each way verified in %.1f s\n",
	       (unsigned long long)bytes, tc_now() - t0);
}

#define NB_BYTES (4u << 20)

static void phase_nonblock(scif_epd_t epd, int server)
{
	uint8_t *buf = malloc(NB_BYTES);
	uint32_t pos = 0, zero = 0;

	TC_CHECK(buf, "malloc");
	if (!server) {
		tc_fill(buf, NB_BYTES, 0x3333, 0);
		while (pos < NB_BYTES) {
			int chunk = NB_BYTES - pos < 300000 ? (int)(NB_BYTES - pos) :
							     300000;
			int n = scif_send(epd, buf + pos, chunk, 0);
			struct scif_pollepd pe = { .epd = epd, .events = POLLOUT };

			TC_CHECK(n >= 0 && n <= chunk, "non-blocking send %d", n);
			pos += (uint32_t)n;
			if (n)
				continue;
			zero++;
			TC_CHECK(scif_poll(&pe, 1, 20000) == 1 &&
					 (pe.revents & POLLOUT),
				 "POLLOUT never came (revents %x)", pe.revents);
		}
	} else {
		while (pos < NB_BYTES) {
			int n = scif_recv(epd, buf + pos, (int)(NB_BYTES - pos), 0);
			struct pollfd pfd = { .fd = scif_get_fd(epd),
					      .events = POLLIN };

			TC_CHECK(n >= 0, "non-blocking recv");
			pos += (uint32_t)n;
			if (n)
				continue;
			zero++;
			TC_CHECK(poll(&pfd, 1, 20000) == 1 &&
					 (pfd.revents & POLLIN),
				 "POLLIN never came on the fd");
		}
		TC_CHECK(tc_verify(buf, NB_BYTES, 0x3333, 0) < 0,
			 "non-blocking data corrupted");
	}
	free(buf);
	printf("phase 2: %u bytes non-blocking, %u waits\n", NB_BYTES, zero);
}

struct rec_sender {
	scif_epd_t epd;
	uint32_t tid;
};

static void *send_records(void *arg)
{
	struct rec_sender *r = arg;
	uint8_t rec[REC_SIZE];
	uint32_t seq;

	for (seq = 0; seq < REC_PER_THREAD; seq++) {
		memcpy(rec, &r->tid, 4);
		memcpy(rec + 4, &seq, 4);
		tc_fill(rec + 8, REC_SIZE - 8, r->tid * 1000003ull + seq, 0);
		tc_send_all(r->epd, rec, REC_SIZE);
	}
	return NULL;
}

static void phase_threads(scif_epd_t epd, int server)
{
	uint32_t next[NTHREADS] = { 0 }, i;

	if (!server) {
		struct rec_sender r[NTHREADS];
		pthread_t th[NTHREADS];

		for (i = 0; i < NTHREADS; i++) {
			r[i].epd = epd;
			r[i].tid = i;
			TC_CHECK(!pthread_create(&th[i], NULL, send_records,
						 &r[i]),
				 "thread");
		}
		for (i = 0; i < NTHREADS; i++)
			pthread_join(th[i], NULL);
		return;
	}
	for (i = 0; i < NTHREADS * REC_PER_THREAD; i++) {
		uint8_t rec[REC_SIZE];
		uint32_t tid, seq;

		tc_recv_all(epd, rec, REC_SIZE);
		memcpy(&tid, rec, 4);
		memcpy(&seq, rec + 4, 4);
		TC_CHECK(tid < NTHREADS && seq == next[tid],
			 "record %u: thread %u seq %u (want %u)", i, tid, seq,
			 tid < NTHREADS ? next[tid] : 0);
		TC_CHECK(tc_verify(rec + 8, REC_SIZE - 8,
				   tid * 1000003ull + seq, 0) < 0,
			 "record of thread %u seq %u interleaved", tid, seq);
		next[tid]++;
	}
	printf("phase 3: %d records from %d threads intact\n",
	       NTHREADS * REC_PER_THREAD, NTHREADS);
}

#define TAIL 100000

static void phase_close(scif_epd_t epd, int server)
{
	uint8_t buf[TAIL];
	struct scif_pollepd pe = { .epd = epd, .events = POLLIN };
	double t0;
	int n;

	if (!server) {
		tc_fill(buf, TAIL, 0x4444, 0);
		tc_send_all(epd, buf, TAIL);
		TC_CHECK(scif_close(epd) == 0, "close");
		return;
	}
	/* Wait for the hang-up, then drain: nothing may be lost. */
	t0 = tc_now();
	for (;;) {
		TC_CHECK(scif_poll(&pe, 1, 10000) == 1, "poll after close");
		if (pe.revents & POLLHUP)
			break;
		TC_CHECK(tc_now() - t0 < 10, "no POLLHUP within 10 s");
		usleep(10000);
	}
	printf("phase 4: POLLHUP %.3f s after the data\n", tc_now() - t0);
	n = scif_recv(epd, buf, TAIL, SCIF_RECV_BLOCK);
	TC_CHECK(n == TAIL, "drain after close got %d", n);
	TC_CHECK(tc_verify(buf, TAIL, 0x4444, 0) < 0, "tail corrupted");
	TC_ERRNO(scif_recv(epd, buf, 1, SCIF_RECV_BLOCK), ECONNRESET);
	TC_ERRNO(scif_recv(epd, buf, 1, 0), ECONNRESET);
	TC_ERRNO(scif_send(epd, buf, 1, SCIF_SEND_BLOCK), ECONNRESET);
	TC_CHECK(scif_close(epd) == 0, "close");
}

#define QUICK_CONNS 20
#define QUICK_BYTES 10000

/* Receive one quick connection's bytes, then the hang-up. */
static void quick_drain(scif_epd_t epd, uint64_t seed, int i)
{
	static uint8_t buf[QUICK_BYTES];
	long bad;

	tc_recv_all(epd, buf, QUICK_BYTES);
	bad = tc_verify(buf, QUICK_BYTES, seed, 0);
	/* a connection lost before this one shows as another's pattern */
	TC_CHECK(bad < 0, "connection %d: byte %ld wrong", i, bad);
	TC_ERRNO(scif_recv(epd, buf, 1, SCIF_RECV_BLOCK), ECONNRESET);
	TC_CHECK(scif_close(epd) == 0, "close");
}

static void quick_send_close(scif_epd_t epd, uint64_t seed)
{
	static uint8_t buf[QUICK_BYTES];

	tc_fill(buf, QUICK_BYTES, seed, 0);
	tc_send_all(epd, buf, QUICK_BYTES);
	TC_CHECK(scif_close(epd) == 0, "close");
}

/*
 * The acceptor's provider can see ESTABLISHED and the hang-up before the
 * accepting thread wakes: accept must still hand the connection over.  The
 * requester cannot close before accept is called (connect waits for it), so
 * the race is only likely, not forced: repeat it.
 */
static void phase_quick_client_close(scif_epd_t lep, int server,
				     uint16_t node, uint16_t port)
{
	struct scif_portID peer;
	scif_epd_t epd;
	int i;

	for (i = 0; i < QUICK_CONNS; i++) {
		if (!server) {
			quick_send_close(tc_connect(node, port, 60),
					 0x5555 + (uint64_t)i);
			continue;
		}
		TC_CHECK(scif_accept(lep, &peer, &epd, SCIF_ACCEPT_SYNC) == 0,
			 "accept of quick connection %d", i);
		quick_drain(epd, 0x5555 + (uint64_t)i, i);
	}
	printf("phase 5: %d connections closed by the client at once, all "
	       "accepted and drained\n", QUICK_CONNS);
}

/*
 * The reverse: even rounds connect with O_NONBLOCK and collect the result
 * only after the server has closed (forced); odd rounds block in connect
 * (the race is likely).
 */
static void phase_quick_server_close(scif_epd_t lep, int server,
				     uint16_t node, uint16_t port)
{
	struct scif_portID dst = { .node = node, .port = port }, peer;
	scif_epd_t epd;
	int i, ret;

	for (i = 0; i < QUICK_CONNS; i++) {
		if (server) {
			TC_CHECK(scif_accept(lep, &peer, &epd,
					     SCIF_ACCEPT_SYNC) == 0,
				 "accept of quick connection %d", i);
			quick_send_close(epd, 0x6666 + (uint64_t)i);
			continue;
		}
		epd = scif_open();
		TC_CHECK(epd >= 0, "scif_open");
		if (i % 2 == 0) {
			struct scif_pollepd pe = { .epd = epd,
						   .events = POLLOUT };
			double t0 = tc_now();

			TC_CHECK(fcntl(epd, F_SETFL, O_NONBLOCK) == 0,
				 "O_NONBLOCK");
			TC_ERRNO(scif_connect(epd, &dst), EINPROGRESS);
			/* POLLHUP: established, and already closed by the
			 * server */
			do {
				TC_CHECK(scif_poll(&pe, 1, 10000) == 1,
					 "poll of connection %d", i);
				TC_CHECK(tc_now() - t0 < 10,
					 "connection %d: no POLLHUP (revents "
					 "%x)", i, pe.revents);
				if (!(pe.revents & POLLHUP))
					usleep(10000);
			} while (!(pe.revents & POLLHUP));
		}
		ret = scif_connect(epd, &dst);
		TC_CHECK(ret > 0, "%s connect of quick connection %d",
			 i % 2 ? "blocking" : "collecting", i);
		quick_drain(epd, 0x6666 + (uint64_t)i, i);
	}
	printf("phase 6: %d connections closed by the server at once, all "
	       "connected and drained\n", QUICK_CONNS);
}

int main(int argc, char **argv)
{
	int server = argc == 4 && !strcmp(argv[1], "server");
	uint16_t node, port;
	uint64_t bytes;
	scif_epd_t lep = -1, epd;

	if (!server && !(argc == 5 && !strcmp(argv[1], "client"))) {
		fprintf(stderr, "usage: t_stream server PORT MIB | client NODE "
				"PORT MIB\n");
		return 2;
	}
	alarm(900);
	setvbuf(stdout, NULL, _IOLBF, 0);
	node = server ? 0 : (uint16_t)atoi(argv[2]);
	port = (uint16_t)atoi(argv[server ? 2 : 3]);
	bytes = (uint64_t)atoll(argv[server ? 3 : 4]) << 20;
	if (server) {
		struct scif_portID peer;

		lep = tc_listen(port, 1);
		TC_CHECK(scif_accept(lep, &peer, &epd, SCIF_ACCEPT_SYNC) == 0,
			 "accept");
		printf("server: accepted %u:%u\n", peer.node, peer.port);
	} else {
		epd = tc_connect(node, port, 60);
	}
	phase_bidir(epd, server, bytes);
	phase_nonblock(epd, server);
	phase_threads(epd, server);
	phase_close(epd, server);
	phase_quick_client_close(lep, server, node, port);
	phase_quick_server_close(lep, server, node, port);
	if (lep >= 0)
		scif_close(lep);
	printf("%s: ok\n", server ? "server" : "client");
	return 0;
}
