// SPDX-License-Identifier: BSD-3-Clause
/*
 * Hostile peers (issue 18): peers that speak the protocol wrongly on
 * purpose attack a normal SCIF server (the victim) while a well-behaved
 * SCIF client is served by the same process at the same time.
 *
 *   hostile tcp|shm PORT   (SCIF_PROVIDER set to the transport, node map
 *                           with node 0 = 127.0.0.1, SCIF_SELF_NODE=0)
 *
 * The victim serves every connection alike, in a thread of its own: it
 * registers two windows (a read-write page at WOFF, a read-only page after
 * it, between PROT_NONE guard pages: a stray access kills it) and runs the
 * commands it receives ('E' echo n bytes, 'S' send n bytes, 'Q' quit)
 * until the connection ends.  Each attack (hostile_tcp.c, hostile_shm.c;
 * one connection each, from SCIF port PORT + 2 + its index) must end its
 * connection with ECONNRESET at the victim, leave the victim's window
 * bytes as they were outside the range it wrote legitimately, and be
 * logged in exactly as many lines as it breaks the protocol (one, or none
 * for a peer that only goes away).  The good client meanwhile echoes data
 * of many sizes (every byte checked) and runs RMA into its own windows at
 * the victim, from before the first attack to after the last.
 */
#include "hostile.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define PAT(i) ((unsigned char)(0x5a ^ (i) * 13))

static const struct transport *tr;
static uint16_t vport; /* the victim's port */

/* ---- the victim ---- */

struct conn {
	scif_epd_t epd;
	struct scif_portID peer;
	pthread_t th;
	int err; /* errno the connection ended with (0: quit by command) */
	bool window_ok;
};

/* Guard page, RW window page, RO window page, guard page. */
static unsigned char *windows_map(void)
{
	unsigned char *m = mmap(NULL, 4 * PAGE, PROT_NONE,
				MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int i;

	if (m == MAP_FAILED ||
	    mprotect(m + PAGE, 2 * PAGE, PROT_READ | PROT_WRITE))
		FAIL("victim: mmap");
	for (i = 0; i < 2 * PAGE; i++)
		m[PAGE + i] = PAT(i);
	return m;
}

/* Bytes as the victim left them, but for what the peer may write: the
 * good client its RW page, an attack that writes legitimately
 * [T_OFF, +T_LEN) (which it must have written). */
static bool windows_intact(const unsigned char *m, uint16_t peer)
{
	int a = peer - ATTACK_PORT(vport, 0), i;
	bool attacker = peer != GOOD_PORT(vport);
	bool writes = attacker && a >= 0 && a < tr->nattacks &&
		      tr->attacks[a].write;

	for (i = 0; i < 2 * PAGE; i++) {
		bool target = i >= T_OFF && i < T_OFF + T_LEN;

		if (attacker && target &&
		    m[PAGE + i] != (writes ? T_BYTE : PAT(i)))
			return false;
		if (!target && (attacker || i >= PAGE) && m[PAGE + i] != PAT(i))
			return false;
	}
	return true;
}

/* Why a call that moved fewer than n bytes (r) stopped: errno when it
 * failed, else what the next call on the endpoint says (a blocking call
 * cut short by a reset returns what it moved). */
static int why_short(scif_epd_t epd, int r)
{
	char b;

	if (r < 0)
		return errno;
	return scif_recv(epd, &b, 1, SCIF_RECV_BLOCK) < 0 ? errno : EPROTO;
}

static uint32_t get_le32(const unsigned char *p)
{
	return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/* Run the peer's commands until it quits (0) or the connection ends (its
 * errno). */
static int commands(scif_epd_t epd, char *buf)
{
	static char zeros[8 << 20]; /* what 'S' sends */
	unsigned char cmd[5];
	uint32_t n;
	int r;

	for (;;) {
		r = scif_recv(epd, cmd, 5, SCIF_RECV_BLOCK);
		if (r != 5)
			return why_short(epd, r);
		n = get_le32(cmd + 1);
		if (cmd[0] == 'Q')
			return 0;
		if (cmd[0] == 'S') {
			n %= sizeof(zeros);
			r = scif_send(epd, zeros, (int)n, SCIF_SEND_BLOCK);
			if (r != (int)n)
				return why_short(epd, r);
			continue;
		}
		n %= 1u << 20;
		r = scif_recv(epd, buf, (int)n, SCIF_RECV_BLOCK);
		if (r != (int)n)
			return why_short(epd, r);
		r = scif_send(epd, buf, (int)n, SCIF_SEND_BLOCK);
		if (r != (int)n)
			return why_short(epd, r);
	}
}

static void *serve(void *arg)
{
	struct conn *c = arg;
	unsigned char *m = windows_map();
	char *buf = malloc(1 << 20);

	if (!buf ||
	    scif_register(c->epd, m + PAGE, PAGE, (off_t)WOFF,
			  SCIF_PROT_READ | SCIF_PROT_WRITE,
			  SCIF_MAP_FIXED) != (off_t)WOFF ||
	    scif_register(c->epd, m + 2 * PAGE, PAGE, (off_t)(WOFF + PAGE),
			  SCIF_PROT_READ, SCIF_MAP_FIXED) != (off_t)(WOFF + PAGE))
		FAIL("victim: register");
	if (tr->go_byte && scif_send(c->epd, "g", 1, SCIF_SEND_BLOCK) != 1)
		c->err = errno;
	else
		c->err = commands(c->epd, buf);
	c->window_ok = windows_intact(m, c->peer.port);
	scif_close(c->epd);
	munmap(m, 4 * PAGE);
	free(buf);
	return NULL;
}

static int victim(uint16_t port)
{
	struct conn *conns = calloc((size_t)tr->nattacks + 1, sizeof(*conns));
	scif_epd_t l = scif_open();
	int i, bad = 0;

	if (!conns || l < 0 || scif_bind(l, port) != port || scif_listen(l, 32))
		FAIL("victim: listen");
	for (i = 0; i <= tr->nattacks; i++) {
		if (scif_accept(l, &conns[i].peer, &conns[i].epd,
				SCIF_ACCEPT_SYNC))
			FAIL("victim: accept");
		if (pthread_create(&conns[i].th, NULL, serve, &conns[i]))
			FAIL("victim: thread");
	}
	for (i = 0; i <= tr->nattacks; i++) {
		struct conn *c = &conns[i];
		bool good = c->peer.port == GOOD_PORT(vport);

		pthread_join(c->th, NULL);
		printf("victim: connection from port %u ended (%s), windows "
		       "%s\n", c->peer.port, c->err ? strerror(c->err) : "quit",
		       c->window_ok ? "intact" : "CHANGED");
		if (!c->window_ok || (good ? c->err != 0 : c->err != ECONNRESET))
			bad++;
	}
	scif_close(l);
	free(conns);
	return bad ? 1 : 0;
}

/* ---- the good client ---- */

static int done_pipe[2]; /* closed by the attacker when it is done */

/* One round: an echo of n bytes, every byte checked; RMA into our windows
 * at the victim, every byte read back. */
static void good_round(scif_epd_t e, off_t lw, unsigned char *win,
		       uint32_t n, uint32_t round)
{
	static unsigned char out[1 << 20], in[1 << 20];
	unsigned char cmd[5] = { 'E' };
	off_t at = (off_t)(WOFF + 64 * (round % 60));
	uint32_t i;

	for (i = 0; i < n; i++)
		out[i] = (unsigned char)(i * 31 + round);
	hostile_le(cmd + 1, n, 4);
	if (scif_send(e, cmd, 5, SCIF_SEND_BLOCK) != 5 ||
	    scif_send(e, out, (int)n, SCIF_SEND_BLOCK) != (int)n ||
	    scif_recv(e, in, (int)n, SCIF_RECV_BLOCK) != (int)n)
		FAIL("good: echo of %u bytes", n);
	if (memcmp(in, out, n))
		FAIL("good: echo of %u bytes differs", n);
	memset(win, (int)round, PAGE);
	if (scif_writeto(e, lw, 64, at, SCIF_RMA_SYNC) ||
	    scif_readfrom(e, lw + 64, 64, at, SCIF_RMA_SYNC) ||
	    scif_readfrom(e, lw + 128, PAGE - 128, (off_t)(WOFF + PAGE),
			  SCIF_RMA_SYNC))
		FAIL("good: RMA");
	for (i = 0; i < PAGE - 128; i++)
		if (win[128 + i] != PAT(PAGE + i) ||
		    (i < 64 && win[64 + i] != (unsigned char)round))
			FAIL("good: RMA data at %u", i);
}

static int good(uint16_t port)
{
	struct scif_portID dst = { .node = 0, .port = port };
	static unsigned char win[PAGE] __attribute__((aligned(PAGE)));
	unsigned char cmd[5] = { 'Q' };
	struct pollfd pfd = { .fd = done_pipe[0], .events = POLLIN };
	scif_epd_t e = scif_open();
	uint32_t n = 1, rounds = 0;
	off_t lw;
	int i;

	if (e < 0 || scif_bind(e, GOOD_PORT(port)) != GOOD_PORT(port))
		FAIL("good: bind");
	for (i = 0; scif_connect(e, &dst) < 0; i++) { /* the victim starts */
		if (i == 50)
			FAIL("good: connect");
		usleep(100000);
	}
	lw = scif_register(e, win, PAGE, 0, SCIF_PROT_READ | SCIF_PROT_WRITE,
			   0);
	if (lw < 0 || (tr->go_byte && scif_recv(e, cmd + 1, 1,
						 SCIF_RECV_BLOCK) != 1))
		FAIL("good: register");
	/* until the attacks are over, and at least 100 rounds */
	while (rounds < 100 || poll(&pfd, 1, 0) == 0) {
		n = (n * 7 + 4093) % (1u << 20) + 1;
		good_round(e, lw, win, n, rounds++);
	}
	if (scif_send(e, cmd, 5, SCIF_SEND_BLOCK) != 5)
		FAIL("good: quit");
	scif_unregister(e, lw, PAGE);
	scif_close(e);
	printf("good: %u rounds, every byte right\n", rounds);
	return 0;
}

/* ---- the verdict ---- */

/* Lines of the victim's log that report attack i's protocol errors. */
static int log_lines(const char *log, int i)
{
	char needle[32], line[1024];
	FILE *f = fopen(log, "r");
	int n = 0;

	snprintf(needle, sizeof(needle), " 0:%d ", ATTACK_PORT(vport, i));
	while (f && fgets(line, sizeof(line), f))
		if (strstr(line, needle) && strstr(line, "broke the"))
			n++;
	if (f)
		fclose(f);
	return n;
}

/* fn(port) in a child, its stderr into log (if any). */
static pid_t spawn(int (*fn)(uint16_t), uint16_t port, const char *log)
{
	pid_t pid = fork();
	int fd;

	if (pid == 0) {
		close(done_pipe[1]); /* the attacker's */
		if (log) {
			fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
			if (fd < 0 || dup2(fd, 2) < 0)
				_exit(3);
		}
		_exit(fn(port));
	}
	return pid;
}

static bool exited_ok(pid_t pid, const char *who)
{
	int st;

	if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st)) {
		fprintf(stderr, "hostile: FAILED: the %s ended with %#x\n", who,
			st);
		return false;
	}
	return true;
}

static bool logs_right(const char *log)
{
	bool ok = true;
	int i, n;

	for (i = 0; i < tr->nattacks; i++) {
		n = log_lines(log, i);
		printf("attack %-15s %d log line(s)\n", tr->attacks[i].name, n);
		if (n != tr->attacks[i].lines) {
			fprintf(stderr, "hostile: FAILED: %s logged %d lines, "
				"want %d\n", tr->attacks[i].name, n,
				tr->attacks[i].lines);
			ok = false;
		}
	}
	return ok;
}

static void copy_log(const char *log)
{
	char line[1024];
	FILE *f = fopen(log, "r");

	while (f && fgets(line, sizeof(line), f))
		fputs(line, stderr);
	if (f)
		fclose(f);
}

int main(int argc, char **argv)
{
	char log[] = "/tmp/hostile.XXXXXX";
	int i, lfd = mkstemp(log);
	uint16_t port;
	pid_t vp, gp;
	bool ok;

	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc != 3 || (strcmp(argv[1], "tcp") && strcmp(argv[1], "shm"))) {
		fprintf(stderr, "usage: %s tcp|shm PORT\n", argv[0]);
		return 2;
	}
	tr = strcmp(argv[1], "tcp") ? &hostile_shm : &hostile_tcp;
	port = vport = (uint16_t)atoi(argv[2]);
	if (lfd < 0 || pipe(done_pipe))
		FAIL("setup");
	close(lfd);
	alarm(60);
	vp = spawn(victim, port, log);
	gp = spawn(good, port, NULL);
	usleep(200000); /* the good client is served first */
	for (i = 0; i < tr->nattacks; i++) {
		tr->run(port, ATTACK_PORT(port, i), &tr->attacks[i]);
		printf("attacker: %s done\n", tr->attacks[i].name);
	}
	close(done_pipe[1]);
	ok = exited_ok(gp, "good client");
	ok &= exited_ok(vp, "victim");
	ok &= logs_right(log);
	if (!ok) {
		fprintf(stderr, "--- victim log %s ---\n", log);
		copy_log(log);
		return 1;
	}
	unlink(log);
	printf("hostile %s: ok\n", tr->name);
	return 0;
}
