/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * t_fence: fence marks, waits and signals, checked by tests that fail when
 * ordering is violated.
 *
 *   t_fence server PORT        (the consumer: owns the target windows)
 *   t_fence client NODE PORT   (the producer: drives RMAs)
 *
 * Both sides register a data window D (8 MiB at DOFF) and a flag window F
 * (one page at FOFF).  Over the byte stream the client says what it did and
 * the server answers when it has checked.
 * 1) writeto without SYNC, then fence_signal(INIT_SELF, SIGNAL_REMOTE): the
 *    server watches its flag word and, the moment it changes, checks every
 *    byte of the data; sizes vary over many rounds.
 * 2) readfrom without SYNC, then fence_signal(INIT_SELF, SIGNAL_LOCAL |
 *    SIGNAL_REMOTE): the client checks its local data when its flag
 *    changes; the server overwrites its source the moment its flag changes,
 *    so a signal that overtook the read shows up as wrong data.
 * 3) INIT_PEER: the client writes without SYNC and only says so, on a
 *    second connection so that the news can overtake the data; the server
 *    uses fence_signal(INIT_PEER, SIGNAL_LOCAL) and fence_mark(INIT_PEER) +
 *    fence_wait to know the data is there, and signals the client back with
 *    fence_signal(INIT_PEER, SIGNAL_REMOTE).  Between the two, an
 *    unregister of a window the client never used: its answer must not
 *    overtake the fence's.  Then INIT_PEER over reads: the client reads
 *    without SYNC; the server signals it with fence_signal(INIT_PEER,
 *    SIGNAL_REMOTE), waits on an INIT_PEER mark and spoils its source: a
 *    signal or a wait that came before the read completed shows up as
 *    wrong data at the client.
 * 4) a burst of non-SYNC writes, one mark, one wait: everything is there.
 * 5) marks from several threads.
 * 6) every documented errno, and ECONNRESET after the peer closed.
 */
#include "tc.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/mman.h>

#define MiB (1ull << 20)
#define DOFF 0x10000000ull
#define DLEN (8 * MiB)
#define FOFF 0x20000000ull
#define SOFF 0x30000000ull /* server: a spare page, registered and dropped */
#define ROFF 0x40000000ull /* both: a read-only page */
#define ROUNDS 40

enum { C_WROTE = 1, C_READY, C_ISSUED, C_VERIFY, C_QUIT };

struct msg {
	uint32_t op, round;
	uint64_t off, len, seed;
};

static scif_epd_t epd;
/* A second connection: news sent on it does not queue behind the RMAs on
 * epd's queue pair, so the receiver can act while they are in flight. */
static scif_epd_t side;
static uint8_t *data;
static volatile uint64_t *flag;

static void *map_pages(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	TC_CHECK(p != MAP_FAILED, "mmap");
	return p;
}

static void setup_windows(void)
{
	data = map_pages(DLEN);
	flag = map_pages(4096);
	TC_CHECK(scif_register(epd, data, DLEN, DOFF,
			       SCIF_PROT_READ | SCIF_PROT_WRITE,
			       SCIF_MAP_FIXED) == (off_t)DOFF,
		 "register data");
	TC_CHECK(scif_register(epd, (void *)flag, 4096, FOFF,
			       SCIF_PROT_READ | SCIF_PROT_WRITE,
			       SCIF_MAP_FIXED) == (off_t)FOFF,
		 "register flag");
	TC_CHECK(scif_register(epd, map_pages(4096), 4096, ROFF, SCIF_PROT_READ,
			       SCIF_MAP_FIXED) == (off_t)ROFF,
		 "register read-only page");
}

static void say_on(scif_epd_t e, uint32_t op, uint32_t round, uint64_t off,
		   uint64_t len, uint64_t seed)
{
	struct msg m = { op, round, off, len, seed };

	tc_send_all(e, &m, sizeof(m));
}

static struct msg hear_on(scif_epd_t e, uint32_t want)
{
	struct msg m;

	tc_recv_all(e, &m, sizeof(m));
	TC_CHECK(m.op == want, "expected message %u, got %u", want, m.op);
	return m;
}

static void say(uint32_t op, uint32_t round, uint64_t off, uint64_t len,
		uint64_t seed)
{
	say_on(epd, op, round, off, len, seed);
}

static struct msg hear(uint32_t want)
{
	return hear_on(epd, want);
}

/* Wait for a flag word to take a value, sleeping between looks. */
static void await_flag(volatile uint64_t *f, uint64_t v, const char *what)
{
	double t0 = tc_now();

	while (__atomic_load_n(f, __ATOMIC_ACQUIRE) != v) {
		TC_CHECK(tc_now() - t0 < 60, "%s: flag never became %llu (%llu)",
			 what, (unsigned long long)v,
			 (unsigned long long)*f);
		usleep(20);
	}
}

static uint64_t round_len(int r)
{
	static const uint64_t sizes[] = { 1, 8, 63, 64, 4096, 65537,
					  MiB, 3 * MiB + 5, DLEN };

	return sizes[r % (sizeof(sizes) / sizeof(sizes[0]))];
}

/* ---------------- server (consumer) ---------------- */

/*
 * Right after fence_signal(INIT_PEER) the server registers and unregisters a
 * window the client never uses: the client can answer that WIN_DEL at once,
 * but its answer must not overtake the FENCE_DONE it owes first (answers
 * are matched by the highest id seen).  If the flag is already up when the
 * unregister returns, the data must be complete.
 */
static void answer_order(int r, const struct msg *m)
{
	static void *spare;

	if (!spare)
		spare = map_pages(4096);
	TC_CHECK(scif_register(epd, spare, 4096, SOFF,
			       SCIF_PROT_READ | SCIF_PROT_WRITE,
			       SCIF_MAP_FIXED) == (off_t)SOFF,
		 "register spare");
	TC_CHECK(scif_unregister(epd, SOFF, 4096) == 0, "unregister spare");
	if (__atomic_load_n(flag + 1, __ATOMIC_ACQUIRE) == (uint64_t)r)
		TC_CHECK(tc_verify(data, m->len, m->seed, 0) < 0,
			 "round %d: an unregister's answer overtook the "
			 "fence's (%llu bytes)",
			 r, (unsigned long long)m->len);
}

static void server_rounds(void)
{
	int r, mark;

	/* 1) remote signal after writes */
	for (r = 1; r <= ROUNDS; r++) {
		uint64_t n = round_len(r);

		await_flag(flag, (uint64_t)r, "writeto signal");
		TC_CHECK(tc_verify(data, n, 1000 + r, 0) < 0,
			 "round %d: signal visible before the data (%llu bytes)",
			 r, (unsigned long long)n);
		say(C_READY, r, 0, 0, 0);
	}
	printf("server: %d write+signal rounds verified\n", ROUNDS);
	/* 2) reads: refill the source, then spoil it when signalled */
	for (r = 1; r <= ROUNDS; r++) {
		uint64_t n = round_len(r);

		tc_fill(data, n, 2000 + r, 0);
		say(C_READY, r, 0, n, 0);
		await_flag(flag, 10000 + (uint64_t)r, "readfrom signal");
		memset(data, 0xee, n);
	}
	/* The client's next writes must not race the last spoiling memset:
	 * it waits for our word that it is over. */
	hear(C_READY);
	say(C_READY, 0, 0, 0, 0);
	printf("server: %d read+signal rounds done\n", ROUNDS);
	/* 3) INIT_PEER */
	for (r = 1; r <= ROUNDS / 4; r++) {
		struct msg m = hear_on(side, C_ISSUED);

		TC_CHECK(scif_fence_signal(epd, FOFF + 8, (uint64_t)r, 0, 0,
					   SCIF_FENCE_INIT_PEER |
						   SCIF_SIGNAL_LOCAL) == 0,
			 "signal INIT_PEER local");
		answer_order(r, &m);
		await_flag(flag + 1, (uint64_t)r, "peer-fence local signal");
		TC_CHECK(tc_verify(data, m.len, m.seed, 0) < 0,
			 "round %d: INIT_PEER local signal before the peer's "
			 "data (%llu bytes)",
			 r, (unsigned long long)m.len);
		TC_CHECK(scif_fence_mark(epd, SCIF_FENCE_INIT_PEER, &mark) == 0 &&
				 scif_fence_wait(epd, mark) == 0,
			 "INIT_PEER mark/wait");
		TC_CHECK(tc_verify(data, m.len, m.seed, 0) < 0,
			 "round %d: INIT_PEER wait returned before the peer's "
			 "data (%llu bytes)",
			 r, (unsigned long long)m.len);
		TC_CHECK(scif_fence_signal(epd, 0, 0, FOFF + 16, (uint64_t)r,
					   SCIF_FENCE_INIT_PEER |
						   SCIF_SIGNAL_REMOTE) == 0,
			 "signal INIT_PEER remote");
	}
	/* 3b) INIT_PEER over the client's reads */
	for (r = 1; r <= ROUNDS / 4; r++) {
		uint64_t n = round_len(r + 3);
		struct msg m;

		tc_fill(data, n, 3500 + r, 0);
		say_on(side, C_READY, r, 0, n, 3500 + r);
		m = hear_on(side, C_ISSUED);
		TC_CHECK(m.round == (uint32_t)r, "round");
		TC_CHECK(scif_fence_signal(epd, 0, 0, FOFF + 24, (uint64_t)r,
					   SCIF_FENCE_INIT_PEER |
						   SCIF_SIGNAL_REMOTE) == 0,
			 "signal INIT_PEER remote after reads");
		TC_CHECK(scif_fence_mark(epd, SCIF_FENCE_INIT_PEER, &mark) == 0 &&
				 scif_fence_wait(epd, mark) == 0,
			 "INIT_PEER mark/wait after reads");
		memset(data, 0xee, n);
	}
	hear(C_READY); /* the client is done reading: section 4 may write */
	say(C_READY, 0, 0, 0, 0);
	printf("server: INIT_PEER rounds verified\n");
	/* 4, 5) verify on request */
	for (;;) {
		struct msg m;

		tc_recv_all(epd, &m, sizeof(m));
		if (m.op == C_QUIT)
			break;
		TC_CHECK(m.op == C_VERIFY, "unexpected message %u", m.op);
		TC_CHECK(tc_verify(data + (m.off - DOFF), m.len, m.seed, 0) < 0,
			 "data at 0x%llx+%llu missing after the fence",
			 (unsigned long long)m.off, (unsigned long long)m.len);
		say(C_VERIFY, 0, 0, 0, 0);
	}
}

/* ---------------- client (producer) ---------------- */

static pthread_mutex_t talk = PTHREAD_MUTEX_INITIALIZER;

static void remote_verify(uint64_t off, uint64_t len, uint64_t seed)
{
	pthread_mutex_lock(&talk);
	say(C_VERIFY, 0, off, len, seed);
	hear(C_VERIFY);
	pthread_mutex_unlock(&talk);
}

static void *burst_thread(void *arg)
{
	int t = (int)(uintptr_t)arg, i, mark;
	uint64_t n = 256 * 1024, off = DOFF + (uint64_t)t * MiB;

	for (i = 0; i < 10; i++) {
		tc_fill(data + (off - DOFF), n, 5000 + t * 100 + i, 0);
		TC_CHECK(scif_writeto(epd, (off_t)off, n, (off_t)off, 0) == 0,
			 "thread writeto");
		TC_CHECK(scif_fence_mark(epd, SCIF_FENCE_INIT_SELF, &mark) == 0,
			 "thread mark");
		TC_CHECK(scif_fence_wait(epd, mark) == 0, "thread wait");
		remote_verify(off, n, 5000 + t * 100 + i);
	}
	return NULL;
}

static void client_errors(void)
{
	int mark;

	TC_ERRNO(scif_fence_mark(epd, 0, &mark), EINVAL);
	TC_ERRNO(scif_fence_mark(epd, SCIF_FENCE_INIT_SELF |
					      SCIF_FENCE_INIT_PEER,
				 &mark),
		 EINVAL);
	TC_ERRNO(scif_fence_mark(epd, SCIF_SIGNAL_LOCAL, &mark), EINVAL);
	TC_ERRNO(scif_fence_mark(epd, SCIF_FENCE_INIT_SELF, NULL), EINVAL);
	TC_ERRNO(scif_fence_mark(-1, SCIF_FENCE_INIT_SELF, &mark), EBADF);
	TC_ERRNO(scif_fence_wait(epd, -5), EINVAL);
	TC_ERRNO(scif_fence_wait(-1, 0), EBADF);
	TC_ERRNO(scif_fence_signal(-1, FOFF, 1, 0, 0,
				   SCIF_FENCE_INIT_SELF | SCIF_SIGNAL_LOCAL),
		 EBADF);
	{ /* a descriptor that is not an endpoint */
		int nul = open("/dev/null", O_RDONLY);

		TC_CHECK(nul >= 0, "open /dev/null");
		TC_ERRNO(scif_fence_mark(nul, SCIF_FENCE_INIT_SELF, &mark),
			 ENOTTY);
		TC_ERRNO(scif_fence_wait(nul, 0), ENOTTY);
		TC_ERRNO(scif_fence_signal(nul, FOFF, 1, 0, 0,
					   SCIF_FENCE_INIT_SELF |
						   SCIF_SIGNAL_LOCAL),
			 ENOTTY);
		close(nul);
	}
	/* a peer mark is good once issued; one never issued is EINVAL */
	TC_CHECK(scif_fence_mark(epd, SCIF_FENCE_INIT_PEER, &mark) == 0 &&
			 scif_fence_wait(epd, mark) == 0,
		 "peer mark");
	TC_ERRNO(scif_fence_wait(epd, mark + 1000), EINVAL);
	/* the peer's window does not allow the write */
	TC_ERRNO(scif_fence_signal(epd, 0, 0, ROFF, 1,
				   SCIF_FENCE_INIT_SELF | SCIF_SIGNAL_REMOTE),
		 EACCES);
	/* signal: exactly one INIT, at least one SIGNAL, nothing else */
	TC_ERRNO(scif_fence_signal(epd, FOFF, 1, FOFF, 1, SCIF_SIGNAL_LOCAL),
		 EINVAL);
	TC_ERRNO(scif_fence_signal(epd, FOFF, 1, FOFF, 1,
				   SCIF_FENCE_INIT_SELF | SCIF_FENCE_INIT_PEER |
					   SCIF_SIGNAL_LOCAL),
		 EINVAL);
	TC_ERRNO(scif_fence_signal(epd, FOFF, 1, FOFF, 1, SCIF_FENCE_INIT_SELF),
		 EINVAL);
	TC_ERRNO(scif_fence_signal(epd, FOFF, 1, FOFF, 1,
				   SCIF_FENCE_INIT_SELF | SCIF_SIGNAL_LOCAL |
					   0x100),
		 EINVAL);
	/* offsets: 4-byte aligned, inside a window */
	TC_ERRNO(scif_fence_signal(epd, FOFF + 2, 1, 0, 0,
				   SCIF_FENCE_INIT_SELF | SCIF_SIGNAL_LOCAL),
		 EINVAL);
	TC_ERRNO(scif_fence_signal(epd, 0, 0, FOFF + 6, 1,
				   SCIF_FENCE_INIT_SELF | SCIF_SIGNAL_REMOTE),
		 EINVAL);
	TC_ERRNO(scif_fence_signal(epd, -4, 1, 0, 0,
				   SCIF_FENCE_INIT_SELF | SCIF_SIGNAL_LOCAL),
		 EINVAL);
	TC_ERRNO(scif_fence_signal(epd, FOFF + 4096 - 4, 1, 0, 0,
				   SCIF_FENCE_INIT_SELF | SCIF_SIGNAL_LOCAL),
		 ENXIO);
	TC_ERRNO(scif_fence_signal(epd, 0x7000000000ll, 1, 0, 0,
				   SCIF_FENCE_INIT_SELF | SCIF_SIGNAL_LOCAL),
		 ENXIO);
	TC_ERRNO(scif_fence_signal(epd, 0, 0, 0x7000000000ll, 1,
				   SCIF_FENCE_INIT_PEER | SCIF_SIGNAL_REMOTE),
		 ENXIO);
	/* a 4-byte aligned (not 8) offset is accepted */
	TC_CHECK(scif_fence_signal(epd, FOFF + 60, 7, 0, 0,
				   SCIF_FENCE_INIT_SELF | SCIF_SIGNAL_LOCAL) ==
			 0,
		 "4-byte aligned signal");
	await_flag((volatile uint64_t *)((char *)flag + 60), 7, "aligned");
	printf("client: fence errors ok\n");
}

static void client_rounds(void)
{
	pthread_t th[4];
	int r, mark, i;

	/* 1) */
	for (r = 1; r <= ROUNDS; r++) {
		uint64_t n = round_len(r), half = n / 2;

		tc_fill(data, n, 1000 + r, 0);
		/* two requests, so the signal covers more than one */
		if (half)
			TC_CHECK(scif_writeto(epd, DOFF, half, DOFF, 0) == 0,
				 "writeto");
		TC_CHECK(scif_writeto(epd, DOFF + half, n - half, DOFF + half,
				      0) == 0,
			 "writeto");
		TC_CHECK(scif_fence_signal(epd, 0, 0, FOFF, (uint64_t)r,
					   SCIF_FENCE_INIT_SELF |
						   SCIF_SIGNAL_REMOTE) == 0,
			 "signal");
		hear(C_READY);
	}
	printf("client: %d write+signal rounds\n", ROUNDS);
	/* 2) */
	for (r = 1; r <= ROUNDS; r++) {
		struct msg m = hear(C_READY);

		memset(data, 0, m.len);
		TC_CHECK(scif_readfrom(epd, DOFF, m.len, DOFF, 0) == 0,
			 "readfrom");
		TC_CHECK(scif_fence_signal(epd, FOFF, 10000 + (uint64_t)r, FOFF,
					   10000 + (uint64_t)r,
					   SCIF_FENCE_INIT_SELF |
						   SCIF_SIGNAL_LOCAL |
						   SCIF_SIGNAL_REMOTE) == 0,
			 "signal after read");
		await_flag(flag, 10000 + (uint64_t)r, "local signal after read");
		TC_CHECK(tc_verify(data, m.len, 2000 + r, 0) < 0,
			 "round %d: read data wrong when the signal came", r);
	}
	say(C_READY, 0, 0, 0, 0);
	hear(C_READY);
	printf("client: %d read+signal rounds verified\n", ROUNDS);
	/* 3) */
	for (r = 1; r <= ROUNDS / 4; r++) {
		uint64_t n = round_len(r + 3); /* 4 KiB .. 8 MiB, then small */

		tc_fill(data, n, 3000 + r, 0);
		TC_CHECK(scif_writeto(epd, DOFF, n, DOFF, 0) == 0, "writeto");
		say_on(side, C_ISSUED, r, 0, n, 3000 + r);
		await_flag(flag + 2, (uint64_t)r, "peer's remote signal");
	}
	for (r = 1; r <= ROUNDS / 4; r++) {
		struct msg m = hear_on(side, C_READY);

		memset(data, 0, m.len);
		TC_CHECK(scif_readfrom(epd, DOFF, m.len, DOFF, 0) == 0,
			 "readfrom");
		say_on(side, C_ISSUED, r, 0, m.len, m.seed);
		await_flag(flag + 3, (uint64_t)r, "peer's signal after reads");
		TC_CHECK(tc_verify(data, m.len, m.seed, 0) < 0,
			 "round %d: INIT_PEER signal before our read completed "
			 "(%llu bytes)",
			 r, (unsigned long long)m.len);
	}
	say(C_READY, 0, 0, 0, 0);
	hear(C_READY);
	printf("client: INIT_PEER rounds (writes and reads) verified\n");
	/* 4) a burst, one mark, one wait */
	for (i = 0; i < 16; i++) {
		tc_fill(data + (uint64_t)i * 512 * 1024, 512 * 1024, 4000 + i, 0);
		TC_CHECK(scif_writeto(epd, DOFF + (uint64_t)i * 512 * 1024,
				      512 * 1024, DOFF + (uint64_t)i * 512 * 1024,
				      0) == 0,
			 "burst writeto");
	}
	TC_CHECK(scif_fence_mark(epd, SCIF_FENCE_INIT_SELF, &mark) == 0 &&
			 scif_fence_wait(epd, mark) == 0,
		 "burst fence");
	for (i = 0; i < 16; i++)
		remote_verify(DOFF + (uint64_t)i * 512 * 1024, 512 * 1024,
			      4000 + i);
	printf("client: burst of 16 writes complete after one fence\n");
	/* 5) */
	for (i = 0; i < 4; i++)
		TC_CHECK(!pthread_create(&th[i], NULL, burst_thread,
					 (void *)(uintptr_t)i),
			 "thread");
	for (i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	printf("client: marks from 4 threads ok\n");
	client_errors();
}

int main(int argc, char **argv)
{
	struct scif_portID peer;
	scif_epd_t lep = -1;
	int mark;

	alarm(900);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 3 && !strcmp(argv[1], "server")) {
		lep = tc_listen((uint16_t)atoi(argv[2]), 2);
		TC_CHECK(scif_accept(lep, &peer, &epd, SCIF_ACCEPT_SYNC) == 0 &&
				 scif_accept(lep, &peer, &side,
					     SCIF_ACCEPT_SYNC) == 0,
			 "accept");
		setup_windows();
		tc_send_all(epd, "W", 1);
		server_rounds();
		TC_CHECK(scif_close(epd) == 0 && scif_close(side) == 0,
			 "close");
		scif_close(lep);
		printf("server: ok\n");
		return 0;
	}
	if (argc != 4 || strcmp(argv[1], "client")) {
		fprintf(stderr, "usage: t_fence server PORT | client NODE PORT\n");
		return 2;
	}
	epd = tc_connect((uint16_t)atoi(argv[2]), (uint16_t)atoi(argv[3]), 60);
	side = tc_connect((uint16_t)atoi(argv[2]), (uint16_t)atoi(argv[3]), 60);
	setup_windows();
	{
		char w;

		tc_recv_all(epd, &w, 1);
	}
	client_rounds();
	say(C_QUIT, 0, 0, 0, 0);
	/* after the peer closed */
	{
		struct scif_pollepd pe = { .epd = epd, .events = POLLIN };
		int i;

		for (i = 0; i < 100 && !(pe.revents & POLLHUP); i++) {
			scif_poll(&pe, 1, 1000);
			usleep(50000);
		}
		TC_CHECK(pe.revents & POLLHUP, "no hang-up");
	}
	TC_ERRNO(scif_fence_mark(epd, SCIF_FENCE_INIT_SELF, &mark), ECONNRESET);
	TC_ERRNO(scif_fence_wait(epd, 0), ECONNRESET);
	TC_ERRNO(scif_fence_signal(epd, FOFF, 1, 0, 0,
				   SCIF_FENCE_INIT_SELF | SCIF_SIGNAL_LOCAL),
		 ECONNRESET);
	TC_ERRNO(scif_fence_signal(epd, 0, 0, FOFF, 1,
				   SCIF_FENCE_INIT_SELF | SCIF_SIGNAL_REMOTE),
		 ECONNRESET);
	TC_ERRNO(scif_fence_mark(epd, SCIF_FENCE_INIT_PEER, &mark), ECONNRESET);
	TC_CHECK(scif_close(epd) == 0 && scif_close(side) == 0, "close");
	{ /* not connected */
		scif_epd_t e = scif_open();

		TC_ERRNO(scif_fence_mark(e, SCIF_FENCE_INIT_SELF, &mark),
			 ENOTCONN);
		TC_ERRNO(scif_fence_signal(e, 0, 0, 0, 0,
					   SCIF_FENCE_INIT_SELF |
						   SCIF_SIGNAL_LOCAL),
			 ENOTCONN);
		scif_close(e);
	}
	printf("client: ok\n");
	return 0;
}
