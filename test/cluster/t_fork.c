/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * t_fork: SCIF in processes forked after the library initialised.
 *
 *   t_fork server PORT
 *   t_fork client NODE PORT
 *
 * The client calls scif_get_nodeIDs and connects (session 0), then, while a
 * thread of it keeps using that connection, forks NWORKERS workers.  Each
 * worker re-initialises the library on its first call: it lists the nodes,
 * connects (sessions 1..NWORKERS), exchanges patterned messages, registers
 * a window and does writeto/readfrom/vwriteto (SYNC, fenced, and a local
 * fence signal) against the server's window, every byte checked, and exits
 * through the library's destructor.  Then the inherited-endpoint case: a
 * child of the connected client finds every call on the inherited
 * endpoint failing at once with EBADF (an alarm turns a hang into a
 * failure), scif_poll reporting POLLNVAL, scif_close returning 0; it then
 * opens its own connection (the last session).  The client's own
 * connection works throughout and after.
 *
 * The server serves each connection in a thread: it registers a window,
 * says so in the stream, then fills, verifies and echoes as asked.
 */
#include "tc.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

#define NWORKERS 3
#define NSESSIONS (NWORKERS + 2) /* + the client's, + the heir's */
#define ROUNDS 8
#define WIN (1u << 20)
#define R0 0x10000000ull /* the server's window */
#define L0 0x20000000ull /* the client's window */
#define FLAG (WIN - 8)   /* a local fence signal lands here */

enum { CMD_FILL = 1, CMD_VERIFY, CMD_ECHO, CMD_QUIT };

struct cmd {
	uint32_t op, id;
	uint64_t off, len, seed;
};

static void *map_win(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	TC_CHECK(p != MAP_FAILED, "mmap %zu", len);
	return p;
}

static void reg_fixed(scif_epd_t epd, void *addr, size_t len, uint64_t off)
{
	off_t r = scif_register(epd, addr, len, (off_t)off,
				SCIF_PROT_READ | SCIF_PROT_WRITE,
				SCIF_MAP_FIXED);

	TC_CHECK(r == (off_t)off, "register %zu at 0x%llx", len,
		 (unsigned long long)off);
}

/* ---------------- server ---------------- */

static uint8_t *srv_range(uint8_t *mem, const struct cmd *c)
{
	TC_CHECK(c->off >= R0 && c->len <= WIN && c->off - R0 <= WIN - c->len,
		 "server: range 0x%llx+%llu outside the window",
		 (unsigned long long)c->off, (unsigned long long)c->len);
	return mem + (c->off - R0);
}

/* Receive c->len patterned bytes, answer with as many of seed ^ 1. */
static void srv_echo(scif_epd_t epd, const struct cmd *c)
{
	uint8_t *buf = malloc(c->len);
	long bad;

	TC_CHECK(buf && c->len <= WIN, "echo of %llu", (unsigned long long)c->len);
	tc_recv_all(epd, buf, (int)c->len);
	bad = tc_verify(buf, c->len, c->seed, 0);
	TC_CHECK(bad < 0, "server: session %u: echo byte %ld wrong", c->id, bad);
	tc_fill(buf, c->len, c->seed ^ 1, 0);
	tc_send_all(epd, buf, (int)c->len);
	free(buf);
}

static void *srv_session(void *arg)
{
	scif_epd_t epd = (scif_epd_t)(intptr_t)arg;
	uint8_t *mem = map_win(WIN);
	struct cmd c;

	reg_fixed(epd, mem, WIN, R0);
	tc_send_all(epd, "R", 1); /* the window is announced before this */
	for (;;) {
		uint32_t res = 0;

		tc_recv_all(epd, &c, sizeof(c));
		if (c.op == CMD_QUIT)
			break;
		switch (c.op) {
		case CMD_FILL:
			tc_fill(srv_range(mem, &c), c.len, c.seed, 0);
			break;
		case CMD_VERIFY: {
			long bad = tc_verify(srv_range(mem, &c), c.len, c.seed,
					     0);

			if (bad >= 0) {
				fprintf(stderr, "server: session %u: byte %ld "
						"of 0x%llx+%llu wrong\n",
					c.id, bad, (unsigned long long)c.off,
					(unsigned long long)c.len);
				res = 1;
			}
			break;
		}
		case CMD_ECHO:
			srv_echo(epd, &c);
			continue;
		default:
			TC_FAIL("server: bad command %u", c.op);
		}
		tc_send_all(epd, &res, sizeof(res));
	}
	printf("server: session %u done\n", c.id);
	TC_CHECK(scif_close(epd) == 0, "close");
	munmap(mem, WIN);
	return NULL;
}

static int server(uint16_t port)
{
	scif_epd_t lep = tc_listen(port, NSESSIONS);
	pthread_t th[NSESSIONS];
	struct scif_portID peer;
	int i;

	alarm(280);
	for (i = 0; i < NSESSIONS; i++) {
		scif_epd_t epd;

		TC_CHECK(scif_accept(lep, &peer, &epd, SCIF_ACCEPT_SYNC) == 0,
			 "accept %d", i);
		TC_CHECK(pthread_create(&th[i], NULL, srv_session,
					(void *)(intptr_t)epd) == 0,
			 "pthread_create");
	}
	for (i = 0; i < NSESSIONS; i++)
		pthread_join(th[i], NULL);
	TC_CHECK(scif_close(lep) == 0, "close listener");
	printf("server: %d sessions served\n", NSESSIONS);
	return 0;
}

/* ---------------- client side ---------------- */

struct sess {
	scif_epd_t epd;
	uint32_t id;
	uint8_t *win; /* registered at L0 */
	uint8_t *vbuf; /* for vwriteto, unregistered */
	/* Stream buffer, mapped, not malloc'd: a worker forked while the
	 * parent's session thread holds it would otherwise report it as a
	 * leak at exit under LeakSanitizer (the thread does not exist there,
	 * so nothing reaches it). */
	uint8_t *sbuf;
};

static uint32_t ask(struct sess *s, uint32_t op, uint64_t off, uint64_t len,
		    uint64_t seed)
{
	struct cmd c = { .op = op, .id = s->id, .off = off, .len = len,
			 .seed = seed };
	uint32_t res;

	tc_send_all(s->epd, &c, sizeof(c));
	if (op == CMD_QUIT || op == CMD_ECHO)
		return 0;
	tc_recv_all(s->epd, &res, sizeof(res));
	return res;
}

static void sess_open(struct sess *s, uint16_t node, uint16_t port,
		      uint32_t id)
{
	char r;

	s->id = id;
	s->epd = tc_connect(node, port, 30);
	s->win = map_win(WIN);
	s->vbuf = map_win(WIN);
	s->sbuf = map_win(65536);
	reg_fixed(s->epd, s->win, WIN, L0);
	tc_recv_all(s->epd, &r, 1);
	TC_CHECK(r == 'R', "session %u: server not ready", id);
}

static void sess_close(struct sess *s)
{
	ask(s, CMD_QUIT, 0, 0, 0);
	TC_CHECK(scif_close(s->epd) == 0, "session %u: close", s->id);
	munmap(s->win, WIN);
	munmap(s->vbuf, WIN);
	munmap(s->sbuf, 65536);
}

static void round_stream(struct sess *s, uint32_t r)
{
	uint64_t len = 1 + (s->id * 7919 + r * 4099) % 65536;
	uint64_t seed = (uint64_t)s->id << 32 | r << 8 | 1;
	uint8_t *buf = s->sbuf;
	long bad;

	ask(s, CMD_ECHO, 0, len, seed);
	tc_fill(buf, len, seed, 0);
	tc_send_all(s->epd, buf, (int)len);
	memset(buf, 0, len);
	tc_recv_all(s->epd, buf, (int)len);
	bad = tc_verify(buf, len, seed ^ 1, 0);
	TC_CHECK(bad < 0, "session %u: echo byte %ld wrong", s->id, bad);
}

static void round_rma(struct sess *s, uint32_t r)
{
	uint64_t len = 1 + (s->id * 104729 + r * 65537) % (WIN / 4);
	uint64_t lo = (r * 4097) % (WIN / 4), ro = (s->id * 8191 + r) % (WIN / 4);
	uint64_t seed = (uint64_t)s->id << 32 | r << 8 | 2;
	volatile uint64_t *flag = (uint64_t *)(s->win + FLAG);
	int mark;
	long bad;

	/* writeto, SYNC */
	tc_fill(s->win + lo, len, seed, 0);
	TC_CHECK(!scif_writeto(s->epd, L0 + lo, len, R0 + ro, SCIF_RMA_SYNC),
		 "session %u: writeto", s->id);
	TC_CHECK(!ask(s, CMD_VERIFY, R0 + ro, len, seed), "writeto data");
	/* readfrom, SYNC */
	TC_CHECK(!ask(s, CMD_FILL, R0 + WIN / 2 + ro, len, seed ^ 2), "fill");
	memset(s->win + lo, 0, len);
	TC_CHECK(!scif_readfrom(s->epd, L0 + lo, len, R0 + WIN / 2 + ro,
				SCIF_RMA_SYNC),
		 "session %u: readfrom", s->id);
	bad = tc_verify(s->win + lo, len, seed ^ 2, 0);
	TC_CHECK(bad < 0, "session %u: readfrom byte %ld wrong", s->id, bad);
	/* vwriteto, then a fence mark and wait */
	tc_fill(s->vbuf, len, seed ^ 3, 0);
	TC_CHECK(!scif_vwriteto(s->epd, s->vbuf, len, R0 + ro, 0),
		 "session %u: vwriteto", s->id);
	TC_CHECK(!scif_fence_mark(s->epd, SCIF_FENCE_INIT_SELF, &mark),
		 "fence_mark");
	TC_CHECK(!scif_fence_wait(s->epd, mark), "fence_wait");
	TC_CHECK(!ask(s, CMD_VERIFY, R0 + ro, len, seed ^ 3), "vwriteto data");
	/* writeto, then a local signal once it is done */
	tc_fill(s->win + lo, len, seed ^ 4, 0);
	*flag = 0;
	TC_CHECK(!scif_writeto(s->epd, L0 + lo, len, R0 + ro, 0), "writeto");
	TC_CHECK(!scif_fence_signal(s->epd, L0 + FLAG, r + 1, 0, 0,
				    SCIF_FENCE_INIT_SELF | SCIF_SIGNAL_LOCAL),
		 "session %u: fence_signal", s->id);
	while (*flag != r + 1)
		usleep(100);
	TC_CHECK(!ask(s, CMD_VERIFY, R0 + ro, len, seed ^ 4), "signalled data");
}

static void sess_rounds(struct sess *s, uint32_t first, uint32_t n)
{
	uint32_t r;

	for (r = first; r < first + n; r++) {
		round_stream(s, r);
		round_rma(s, r);
	}
}

static void *sess_thread(void *arg)
{
	sess_rounds(arg, 0, ROUNDS);
	return NULL;
}

static void list_nodes(uint16_t want)
{
	uint16_t nodes[16], self = 0xffff;
	int i, n = scif_get_nodeIDs(nodes, 16, &self);

	TC_CHECK(n >= 1 && self != 0xffff, "scif_get_nodeIDs: %d", n);
	for (i = 0; i < n && i < 16 && nodes[i] != want; i++)
		;
	TC_CHECK(i < n, "node %u not listed", want);
}

static void worker(uint16_t node, uint16_t port, uint32_t id)
{
	struct sess s;

	alarm(200);
	list_nodes(node);
	sess_open(&s, node, port, id);
	sess_rounds(&s, 0, ROUNDS);
	sess_close(&s);
	printf("worker %u: %d rounds\n", id, ROUNDS);
	exit(0); /* the destructor finalises the worker's own instance */
}

static void reap(pid_t pid, const char *what)
{
	int st;

	TC_CHECK(waitpid(pid, &st, 0) == pid, "waitpid %s", what);
	TC_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
		 "%s: %s %d", what, WIFEXITED(st) ? "exit" : "signal",
		 WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
}

/* Every call on an endpoint inherited from the parent fails at once. */
static void heir_calls(scif_epd_t epd)
{
	struct scif_pollepd pe = { .epd = epd, .events = POLLIN | POLLOUT };
	struct scif_portID dst = { .node = 0, .port = 1 }, peer;
	scif_pinned_pages_t pp;
	void *page = map_win(4096);
	char b[64] = { 0 };
	scif_epd_t nepd;
	int mark;

	TC_ERRNO(scif_send(epd, b, sizeof(b), SCIF_SEND_BLOCK), EBADF);
	TC_ERRNO(scif_recv(epd, b, sizeof(b), SCIF_RECV_BLOCK), EBADF);
	TC_ERRNO(scif_recv(epd, b, sizeof(b), 0), EBADF);
	TC_ERRNO(scif_bind(epd, 0), EBADF);
	TC_ERRNO(scif_listen(epd, 1), EBADF);
	TC_ERRNO(scif_connect(epd, &dst), EBADF);
	TC_ERRNO(scif_accept(epd, &peer, &nepd, SCIF_ACCEPT_SYNC), EBADF);
	TC_ERRNO(scif_register(epd, b, 4096, 0, SCIF_PROT_READ, 0), EBADF);
	TC_ERRNO(scif_unregister(epd, L0, WIN), EBADF);
	TC_ERRNO(scif_writeto(epd, L0, 64, R0, SCIF_RMA_SYNC), EBADF);
	TC_ERRNO(scif_readfrom(epd, L0, 64, R0, SCIF_RMA_SYNC), EBADF);
	TC_ERRNO(scif_vwriteto(epd, b, 64, R0, SCIF_RMA_SYNC), EBADF);
	TC_ERRNO(scif_vreadfrom(epd, b, 64, R0, SCIF_RMA_SYNC), EBADF);
	TC_ERRNO(scif_fence_mark(epd, SCIF_FENCE_INIT_SELF, &mark), EBADF);
	TC_ERRNO(scif_fence_wait(epd, 0), EBADF);
	TC_ERRNO(scif_fence_signal(epd, L0, 1, R0, 1,
				   SCIF_FENCE_INIT_SELF | SCIF_SIGNAL_LOCAL),
		 EBADF);
	TC_ERRNO(scif_get_fd(epd), EBADF);
	TC_CHECK(!scif_pin_pages(page, 4096, SCIF_PROT_READ, 0, &pp), "pin");
	TC_ERRNO(scif_register_pinned_pages(epd, pp, 0, 0), EBADF);
	TC_CHECK(!scif_unpin_pages(pp), "unpin");
	munmap(page, 4096);
	TC_CHECK(scif_poll(&pe, 1, -1) == 1 && pe.revents == POLLNVAL,
		 "scif_poll: revents 0x%x", pe.revents);
	TC_CHECK(scif_close(epd) == 0, "close of the inherited endpoint");
	TC_ERRNO(scif_send(epd, b, 1, 0), EBADF); /* gone now */
	TC_ERRNO(scif_close(epd), EBADF);
}

static void heir(struct sess *parent, uint16_t node, uint16_t port)
{
	struct sess s;

	alarm(60); /* a hang on the inherited endpoint fails here */
	heir_calls(parent->epd);
	/* Its own connection works (it may reuse the descriptor number). */
	sess_open(&s, node, port, NSESSIONS - 1);
	sess_rounds(&s, 0, 2);
	sess_close(&s);
	printf("heir: inherited endpoint refused, own session done\n");
	exit(0);
}

static int client(uint16_t node, uint16_t port)
{
	pid_t pids[NWORKERS], pid;
	struct sess s;
	pthread_t th;
	uint32_t i;

	alarm(280);
	list_nodes(node);
	sess_open(&s, node, port, 0);
	sess_rounds(&s, 100, 1);
	/* Fork while a thread of ours is inside SCIF calls. */
	TC_CHECK(!pthread_create(&th, NULL, sess_thread, &s), "thread");
	for (i = 0; i < NWORKERS; i++) {
		pids[i] = fork();
		TC_CHECK(pids[i] >= 0, "fork");
		if (pids[i] == 0)
			worker(node, port, i + 1);
	}
	pthread_join(th, NULL);
	for (i = 0; i < NWORKERS; i++)
		reap(pids[i], "worker");
	sess_rounds(&s, 200, 2); /* after they left */

	pid = fork();
	TC_CHECK(pid >= 0, "fork");
	if (pid == 0)
		heir(&s, node, port);
	sess_rounds(&s, 300, 2); /* while the heir runs */
	reap(pid, "heir");
	sess_rounds(&s, 400, 2); /* after it left */
	sess_close(&s);
	printf("client: %d workers and the heir done\n", NWORKERS);
	return 0;
}

int main(int argc, char **argv)
{
	return tc_main(argc, argv, server, client);
}
