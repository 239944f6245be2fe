/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * t_lead: threads blocked on endpoints, the leader hand-over (libscif/wait.c).
 *
 *   t_lead server PORT
 *   t_lead client NODE PORT
 *
 * The client opens connections one after the other; its first byte on each
 * says what the connection tests:
 *  1 BUSY: one endpoint, every kind of waiter at once: a thread receiving
 *    a stream, one sending one, one doing SYNC RMA (write, read back, check),
 *    one fencing.  Whoever sleeps first leads; the others follow and take
 *    over as leaders leave.  Every byte is checked on both sides.
 *  2 MULTI: eight endpoints, a thread blocked in recv on each; the server
 *    answers them in a random order with random pauses, and the client echoes;
 *    every byte checked.
 *  3 CLOSED: a thread blocked in recv (leading) and one in a send the server
 *    never reads; another thread closes the endpoint: both return (ENOTCONN,
 *    or the send's partial count) and scif_close returns 0.
 *  4 KILLED: the server blocks a thread in recv and one in a send the client
 *    never reads, then the client process dies (_exit without closing): both
 *    server threads return with ECONNRESET (or the partial count).
 *  5 ONEWAY: request/response turns where the server pauses before each
 *    answer (over tcp its kernel then holds back acknowledgements, hoping
 *    to send them with the answer), then a run of small messages the
 *    server's application does not read for a while, and large ones: every
 *    blocking send returns (its delivery is the libraries' business, whether the sender
 *    sleeps or polls), every byte checked.
 *  6 AWAY: request/response turns where the client waits for each answer
 *    on its descriptor with poll(2), outside SCIF, after a blocking send;
 *    the server answers at once (the answer may come while the send waits
 *    for its delivery, which leaves POLLIN to the provider's timer) or
 *    after a pause (what a blocking call left unarmed is armed again when
 *    the connection goes back to the progress thread): the descriptor must
 *    become readable within 10 s, and the answer be right.
 * A hang anywhere ends the test through alarm().
 */
#include "tc.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>

enum { BUSY = 1, MULTI, CLOSED, KILLED, ONEWAY, AWAY };
#define AWAY_TURNS 16
#define TURNS 20
#define ONEWAY_MSGS 2000
#define ONEWAY_BIG 24 /* then messages of BIG / 8 bytes */
#define MSGS 2000
#define MSGLEN 256
#define RMA_ITERS 300
#define CHUNK 4096
#define WIN (64 * 1024)
#define NMULTI 8
#define ROUNDS 50
#define BIG (8 << 20)

struct job {
	scif_epd_t epd;
	int idx;
	int ret, err;
	void *buf;
};

static void *stream_recv(void *arg) /* MSGS messages of seed idx */
{
	struct job *j = arg;
	uint8_t m[MSGLEN];
	long bad;
	int i;

	for (i = 0; i < MSGS; i++) {
		tc_recv_all(j->epd, m, MSGLEN);
		bad = tc_verify(m, MSGLEN, (uint64_t)j->idx, (uint64_t)i * MSGLEN);
		TC_CHECK(bad < 0, "stream %d: message %d byte %ld wrong", j->idx,
			 i, bad);
	}
	return NULL;
}

static void *stream_send(void *arg)
{
	struct job *j = arg;
	uint8_t m[MSGLEN];
	int i;

	for (i = 0; i < MSGS; i++) {
		tc_fill(m, MSGLEN, (uint64_t)j->idx, (uint64_t)i * MSGLEN);
		tc_send_all(j->epd, m, MSGLEN);
	}
	return NULL;
}

/* Write a chunk into the peer's window, read it back elsewhere, check. */
static void *rma_loop(void *arg)
{
	struct job *j = arg;
	uint8_t *b = j->buf;
	long bad;
	int i;

	for (i = 0; i < RMA_ITERS; i++) {
		off_t lo = (off_t)(i % 8) * CHUNK, back = WIN / 2 + lo;
		off_t ro = (off_t)(i % 16) * CHUNK;

		tc_fill(b + lo, CHUNK, 100 + (uint64_t)i, 0);
		memset(b + back, 0, CHUNK);
		TC_CHECK(scif_writeto(j->epd, lo, CHUNK, ro, SCIF_RMA_SYNC) == 0,
			 "writeto %d", i);
		TC_CHECK(scif_readfrom(j->epd, back, CHUNK, ro, SCIF_RMA_SYNC) ==
				 0,
			 "readfrom %d", i);
		bad = tc_verify(b + back, CHUNK, 100 + (uint64_t)i, 0);
		TC_CHECK(bad < 0, "RMA %d: byte %ld read back wrong", i, bad);
	}
	return NULL;
}

static void *fence_loop(void *arg)
{
	struct job *j = arg;
	int i, mark;

	for (i = 0; i < RMA_ITERS; i++) {
		TC_CHECK(scif_fence_mark(j->epd, SCIF_FENCE_INIT_SELF, &mark) ==
				 0,
			 "fence_mark %d", i);
		TC_CHECK(scif_fence_wait(j->epd, mark) == 0, "fence_wait %d", i);
	}
	return NULL;
}

static void *window_alloc(void)
{
	void *p = NULL;

	TC_CHECK(posix_memalign(&p, 4096, WIN) == 0, "posix_memalign");
	memset(p, 0, WIN);
	return p;
}

static void run_threads(void *(*fn[])(void *), struct job *jobs, int n)
{
	pthread_t t[8];
	int i;

	for (i = 0; i < n; i++)
		TC_CHECK(!pthread_create(&t[i], NULL, fn[i], &jobs[i]), "thread");
	for (i = 0; i < n; i++)
		pthread_join(t[i], NULL);
}

/* ---- the server's side of each kind ---- */

static void serve_busy(scif_epd_t epd)
{
	void *(*fn[2])(void *) = { stream_send, stream_recv };
	struct job jobs[2] = { { .epd = epd, .idx = 1 }, { .epd = epd, .idx = 2 } };
	void *win = window_alloc();
	uint8_t c = 0;

	TC_CHECK(scif_register(epd, win, WIN, 0, SCIF_PROT_READ | SCIF_PROT_WRITE,
			       SCIF_MAP_FIXED) == 0,
		 "register");
	tc_send_all(epd, &c, 1); /* the window is there */
	run_threads(fn, jobs, 2);
	tc_recv_all(epd, &c, 1); /* the client's RMA is over */
	TC_CHECK(scif_unregister(epd, 0, WIN) == 0, "unregister");
	tc_send_all(epd, &c, 1); /* the client may close now */
	free(win);
}

static void serve_multi(scif_epd_t epd)
{
	uint8_t idx, m[64];
	int r;

	tc_recv_all(epd, &idx, 1);
	for (r = 0; r < ROUNDS; r++) {
		long bad;

		usleep((useconds_t)(rand() % 3000)); /* the client sleeps */
		tc_fill(m, sizeof(m), 1000 + idx, (uint64_t)r * sizeof(m));
		tc_send_all(epd, m, sizeof(m));
		tc_recv_all(epd, m, sizeof(m));
		bad = tc_verify(m, sizeof(m), 1000 + idx, (uint64_t)r * sizeof(m));
		TC_CHECK(bad < 0, "multi %u round %d: echo byte %ld", idx, r, bad);
	}
}

static void *blocked_recv(void *arg)
{
	struct job *j = arg;
	uint8_t m[16];

	errno = 0;
	j->ret = scif_recv(j->epd, m, sizeof(m), SCIF_RECV_BLOCK);
	j->err = errno;
	return NULL;
}

static void *blocked_send(void *arg)
{
	struct job *j = arg;

	errno = 0;
	j->ret = scif_send(j->epd, j->buf, BIG, SCIF_SEND_BLOCK);
	j->err = errno;
	return NULL;
}

/* Both blocked calls ended as the connection did: err for the receive,
 * err or a partial count for the send. */
static void check_ended(const struct job *jobs, int err, const char *what)
{
	TC_CHECK(jobs[0].ret == -1 && jobs[0].err == err,
		 "%s: blocked recv returned %d/%s", what, jobs[0].ret,
		 strerror(jobs[0].err));
	TC_CHECK((jobs[1].ret == -1 && jobs[1].err == err) ||
			 (jobs[1].ret >= 0 && jobs[1].ret < BIG),
		 "%s: blocked send returned %d/%s", what, jobs[1].ret,
		 strerror(jobs[1].err));
}

static void serve_killed(scif_epd_t epd)
{
	void *(*fn[2])(void *) = { blocked_recv, blocked_send };
	struct job jobs[2] = { { .epd = epd }, { .epd = epd } };
	uint8_t c = 0;

	jobs[1].buf = calloc(1, BIG);
	TC_CHECK(jobs[1].buf, "calloc");
	tc_send_all(epd, &c, 1); /* go: the client dies soon */
	run_threads(fn, jobs, 2);
	check_ended(jobs, ECONNRESET, "peer killed");
	free(jobs[1].buf);
}

static void serve_closed(scif_epd_t epd)
{
	struct scif_pollepd pe = { .epd = epd, .events = 0 };

	/* never read: the client's send stays blocked until it closes */
	TC_CHECK(scif_poll(&pe, 1, 60000) == 1 && (pe.revents & POLLHUP),
		 "closed: no POLLHUP (revents %#x)", pe.revents);
}

static void serve_oneway(scif_epd_t epd)
{
	uint8_t m[8], *big;
	long bad;
	int i;

	for (i = 0; i < TURNS; i++) {
		tc_recv_all(epd, m, sizeof(m));
		usleep(2000);
		tc_send_all(epd, m, sizeof(m));
	}
	usleep(300000); /* the client sends meanwhile: unread */
	for (i = 0; i < ONEWAY_MSGS; i++) {
		tc_recv_all(epd, m, sizeof(m));
		bad = tc_verify(m, sizeof(m), ONEWAY, (uint64_t)i * sizeof(m));
		TC_CHECK(bad < 0, "one-way message %d byte %ld wrong", i, bad);
	}
	big = malloc(BIG / 8);
	TC_CHECK(big, "malloc");
	for (i = 0; i < ONEWAY_BIG; i++) {
		tc_recv_all(epd, big, BIG / 8);
		bad = tc_verify(big, BIG / 8, ONEWAY + 1, (uint64_t)i * BIG / 8);
		TC_CHECK(bad < 0, "one-way big message %d byte %ld wrong", i, bad);
	}
	free(big);
	tc_send_all(epd, m, 1);
}

static void serve_away(scif_epd_t epd)
{
	uint8_t m[8];
	int i;

	for (i = 0; i < AWAY_TURNS; i++) {
		tc_recv_all(epd, m, sizeof(m));
		if (i % 2)
			usleep(100000); /* longer than two mute periods */
		tc_send_all(epd, m, sizeof(m));
	}
	tc_recv_all(epd, m, 1);
}

struct conn {
	scif_epd_t epd;
	pthread_t t;
	uint8_t kind;
};

static void *serve_conn(void *arg)
{
	struct conn *c = arg;

	switch (c->kind) {
	case BUSY: serve_busy(c->epd); break;
	case MULTI: serve_multi(c->epd); break;
	case CLOSED: serve_closed(c->epd); break;
	case KILLED: serve_killed(c->epd); break;
	case ONEWAY: serve_oneway(c->epd); break;
	case AWAY: serve_away(c->epd); break;
	default: TC_FAIL("unknown kind %u", c->kind);
	}
	scif_close(c->epd);
	return NULL;
}

static int server(uint16_t port)
{
	scif_epd_t lep = tc_listen(port, 16);
	struct conn c[NMULTI + 5];
	int n = 0, i;

	do {
		struct scif_portID peer;

		TC_CHECK(n < NMULTI + 5, "more connections than expected");
		TC_CHECK(scif_accept(lep, &peer, &c[n].epd, SCIF_ACCEPT_SYNC) ==
				 0,
			 "accept");
		tc_recv_all(c[n].epd, &c[n].kind, 1);
		TC_CHECK(!pthread_create(&c[n].t, NULL, serve_conn, &c[n]),
			 "thread");
	} while (c[n++].kind != KILLED);
	for (i = 0; i < n; i++)
		pthread_join(c[i].t, NULL);
	scif_close(lep);
	printf("t_lead server: %d connections served\n", n);
	return 0;
}

/* ---- the client ---- */

static scif_epd_t open_kind(uint16_t node, uint16_t port, uint8_t kind)
{
	scif_epd_t epd = tc_connect(node, port, 60);

	tc_send_all(epd, &kind, 1);
	return epd;
}

static void client_busy(uint16_t node, uint16_t port)
{
	void *(*fn[4])(void *) = { stream_recv, stream_send, rma_loop,
				   fence_loop };
	scif_epd_t epd = open_kind(node, port, BUSY);
	struct job jobs[4] = { { .epd = epd, .idx = 1 }, { .epd = epd, .idx = 2 },
			       { .epd = epd }, { .epd = epd } };
	uint8_t c;

	jobs[2].buf = window_alloc();
	TC_CHECK(scif_register(epd, jobs[2].buf, WIN, 0,
			       SCIF_PROT_READ | SCIF_PROT_WRITE,
			       SCIF_MAP_FIXED) == 0,
		 "register");
	tc_recv_all(epd, &c, 1);
	run_threads(fn, jobs, 4);
	tc_send_all(epd, &c, 1);
	tc_recv_all(epd, &c, 1);
	scif_close(epd);
	free(jobs[2].buf);
}

static void *multi_echo(void *arg)
{
	struct job *j = arg;
	uint8_t m[64];
	int r;

	for (r = 0; r < ROUNDS; r++) {
		tc_recv_all(j->epd, m, sizeof(m));
		tc_send_all(j->epd, m, sizeof(m));
	}
	return NULL;
}

static void client_multi(uint16_t node, uint16_t port)
{
	void *(*fn[NMULTI])(void *);
	struct job jobs[NMULTI];
	uint8_t i;

	for (i = 0; i < NMULTI; i++) {
		jobs[i].epd = open_kind(node, port, MULTI);
		tc_send_all(jobs[i].epd, &i, 1);
		fn[i] = multi_echo;
	}
	run_threads(fn, jobs, NMULTI);
	for (i = 0; i < NMULTI; i++)
		scif_close(jobs[i].epd);
}

static void client_closed(uint16_t node, uint16_t port)
{
	scif_epd_t epd = open_kind(node, port, CLOSED);
	struct job jobs[2] = { { .epd = epd }, { .epd = epd } };
	pthread_t t[2];

	jobs[1].buf = calloc(1, BIG);
	TC_CHECK(jobs[1].buf, "calloc");
	TC_CHECK(!pthread_create(&t[0], NULL, blocked_recv, &jobs[0]), "thread");
	TC_CHECK(!pthread_create(&t[1], NULL, blocked_send, &jobs[1]), "thread");
	usleep(300000); /* both asleep by now */
	TC_CHECK(scif_close(epd) == 0, "close under blocked threads");
	pthread_join(t[0], NULL);
	pthread_join(t[1], NULL);
	check_ended(jobs, ENOTCONN, "closed");
	free(jobs[1].buf);
}

static double ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) * 1e3 +
	       (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

static void client_oneway(uint16_t node, uint16_t port)
{
	scif_epd_t epd = open_kind(node, port, ONEWAY);
	uint8_t m[8], back[8], *big;
	struct timespec t0;
	double turns;
	int i;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < TURNS; i++) {
		tc_fill(m, sizeof(m), (uint64_t)i, 0);
		tc_send_all(epd, m, sizeof(m));
		tc_recv_all(epd, back, sizeof(back));
		TC_CHECK(!memcmp(m, back, sizeof(m)), "turn %d: wrong answer", i);
	}
	turns = ms_since(&t0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < ONEWAY_MSGS; i++) {
		tc_fill(m, sizeof(m), ONEWAY, (uint64_t)i * sizeof(m));
		TC_CHECK(scif_send(epd, m, sizeof(m), SCIF_SEND_BLOCK) ==
				 (int)sizeof(m),
			 "one-way send %d", i);
	}
	/* information only (tests check behaviour, not timings) */
	printf("t_lead client: %d paused turns in %.1f ms, %d unread blocking "
	       "sends in %.1f ms\n",
	       TURNS, turns, ONEWAY_MSGS, ms_since(&t0));
	/* large ones: each reaches the peer in several pieces */
	big = malloc(BIG / 8);
	TC_CHECK(big, "malloc");
	for (i = 0; i < ONEWAY_BIG; i++) {
		tc_fill(big, BIG / 8, ONEWAY + 1, (uint64_t)i * BIG / 8);
		TC_CHECK(scif_send(epd, big, BIG / 8, SCIF_SEND_BLOCK) ==
				 BIG / 8,
			 "one-way send of %d bytes, %d", BIG / 8, i);
	}
	free(big);
	tc_recv_all(epd, m, 1);
	scif_close(epd);
}

static void client_away(uint16_t node, uint16_t port)
{
	scif_epd_t epd = open_kind(node, port, AWAY);
	struct pollfd p = { .fd = scif_get_fd(epd), .events = POLLIN };
	uint8_t m[8], back[8];
	int i, n;

	for (i = 0; i < AWAY_TURNS; i++) {
		tc_fill(m, sizeof(m), AWAY, (uint64_t)i * sizeof(m));
		tc_send_all(epd, m, sizeof(m));
		p.revents = 0;
		n = poll(&p, 1, 10000);
		TC_CHECK(n == 1 && (p.revents & POLLIN),
			 "turn %d: the descriptor is not readable after 10 s "
			 "(poll %d, revents %#x)", i, n, p.revents);
		n = scif_recv(epd, back, sizeof(back), 0);
		TC_CHECK(n > 0, "turn %d: readable, but recv returned %d", i, n);
		if (n < (int)sizeof(back))
			tc_recv_all(epd, back + n, sizeof(back) - (size_t)n);
		TC_CHECK(!memcmp(m, back, sizeof(m)), "turn %d: wrong answer", i);
	}
	tc_send_all(epd, m, 1);
	scif_close(epd);
}

static int client(uint16_t node, uint16_t port)
{
	scif_epd_t epd;
	uint8_t c;

	client_busy(node, port);
	printf("t_lead client: one endpoint, four kinds of waiter: ok\n");
	client_multi(node, port);
	printf("t_lead client: %d endpoints, a waiter each: ok\n", NMULTI);
	client_closed(node, port);
	printf("t_lead client: closed under blocked threads: ok\n");
	client_oneway(node, port);
	printf("t_lead client: sends the peer does not read yet: ok\n");
	client_away(node, port);
	printf("t_lead client: answers awaited with poll(2): ok\n");
	epd = open_kind(node, port, KILLED);
	tc_recv_all(epd, &c, 1);
	usleep(300000); /* the server's threads are blocked now */
	printf("t_lead client: dying with the connection open\n");
	fflush(stdout);
	_exit(0);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0); /* the steps show even if killed */
	alarm(240);
	srand((unsigned)getpid());
	if (argc == 3 && !strcmp(argv[1], "server"))
		return server((uint16_t)atoi(argv[2]));
	if (argc == 4 && !strcmp(argv[1], "client"))
		return client((uint16_t)atoi(argv[2]), (uint16_t)atoi(argv[3]));
	fprintf(stderr, "usage: t_lead server PORT | client NODE PORT\n");
	return 2;
}
