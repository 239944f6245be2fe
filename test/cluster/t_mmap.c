/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * t_mmap: scif_mmap / scif_munmap, every byte checked.
 *
 *   t_mmap server PORT
 *   t_mmap client NODE PORT
 *
 * Both register a window W; the server also a read-only page R and a window
 * X that it unregisters while the client has it mapped.  The client drives;
 * the server obeys commands on the byte stream.
 * 1) every errno of the contract (ENOMEM under RLIMIT_AS);
 * 2) the tutorial pattern both ways, ROUNDS times: each side writes a message
 *    and then a flag through its mapping of the other's W, the other spins
 *    on the flag with volatile loads in its own W and checks the message;
 * 3) the server's stores into its W, and the client's scif_writeto into it,
 *    become visible through the client's mapping within the bound
 *    (SCIF_MMAP_COHERENCE_US, plus slack for a loaded machine), also on a
 *    page that another thread of the client keeps writing;
 * 4) SCIF_MAP_FIXED over an existing mapping (its writes reach the peer
 *    first), partial unmaps (an unmapped page raises SIGSEGV, the rest keeps
 *    working), several mappings of one window (a fence makes a write through
 *    one visible through the other), a read-only mapping (a write raises
 *    SIGSEGV), and the fault threads end when their pages are gone;
 * 5) the server unregisters X while it is mapped: its unregister returns,
 *    the client's access raises SIGBUS;
 * 6) a peer killed while mapped (a forked child of the client): SIGBUS;
 * 7) scif_close unmaps; ECONNRESET once the server has closed;
 * 8) sequential reads of a large window (the batches read ahead): every
 *    byte, then again after the server has rewritten it (pages read ahead
 *    before that, mapped or not, are not shown after the bound);
 *    a fresh mapping of it read in the order glibc's memcpy reads large
 *    blocks (four pages in turns), every byte;
 * 9) msync, in a child whose bound is 10 s (the clock writes nothing back
 *    and drops nothing meanwhile), mapping a window of the client's:
 *    MS_SYNC writes back at once, MS_INVALIDATE shows the peer's memory
 *    at once, and msync's errors and other memory are the C library's;
 *    there, an 8 MiB window read in memcpy's order fetches each page once
 *    (the fault thread's own count, scif__mmap_stats);
 * 10) a mapping over several windows, of different memory.
 *
 * T_MMAP_SHARED=1: the windows' memory is shareable (memfds, shared
 * anonymous memory), and over shm the mappings are the peer's memory
 * itself (the direct path): /proc/self/maps shows the peer's file where a
 * mapping is, the peer's stores are there at once, ours at the peer at
 * once; 9) runs again with SCIF_MMAP_DIRECT=0 (the fault thread's path).
 * Otherwise (and over other providers: T_MMAP_SHARED=1 with
 * T_MMAP_DIRECT=0) every mapping is the fault thread's memfd.
 */
#include "tc.h"

#include <dirent.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/wait.h>

int scif__mmap_stats(const void *addr, uint64_t *faults, uint64_t *fetches,
		     uint64_t *pages);

#define PG 4096ul
#define WOFF 0x10000000ull
#define WLEN (64 * PG)
#define ROFF 0x20000000ull
#define XOFF 0x30000000ull
#define XLEN (4 * PG)
#define VOFF 0x40000000ull
#define SOFF 0x50000000ull
#define MOFF 0x60000000ull
#define YOFF 0x70000000ull /* 10): Y0, Y1 shareable, Y2 private, 2 pages */
#define SLEN (8ul << 20) /* past SCIF_MMAP_PREFETCH's default, twice */
#define ROUNDS 1000
#define MSG_OFF 0	   /* the tutorial's message: up to 2 pages */
#define MSG_MAX (2 * PG - 64)
#define FLAG_OFF (2 * PG) /* its flag, on the page after */
#define SPIN_S 10.0

enum {
	C_TUTORIAL = 1,
	C_FILL,
	C_VERIFY,
	C_UNREG_X,
	C_RECV,
	C_SEND,
	C_FILL_S, /* fill S */
	C_QUIT
};

struct cmd {
	uint32_t op, pad;
	uint64_t off, len, seed;
};

static scif_epd_t epd;
static uint8_t *win; /* our W */
/* bound_s: SCIF_MMAP_COHERENCE_US plus slack for a loaded machine (the
 * chain of threads that refresh a page each wait for a CPU); settle_s: a
 * few ticks */
static double bound_s, settle_s;
/* T_MMAP_SHARED: windows of shareable memory; direct: mappings expected
 * to be the peer's memory itself */
static int shared_mem, direct;
/* app_calls' memory at a mapping's place: scif_close must leave it */
static uint8_t *app_mem;

static void *pages(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	TC_CHECK(p != MAP_FAILED, "mmap");
	return p;
}

/* A window's memory: private, or (shared_mem) a memfd called
 * "t_mmap-NAME", or shared anonymous memory for NAME NULL. */
static void *wpages(size_t len, const char *name)
{
	char n[64];
	void *p;
	int fd = -1;

	if (!shared_mem)
		return pages(len);
	if (name) {
		snprintf(n, sizeof(n), "t_mmap-%s", name);
		fd = memfd_create(n, MFD_CLOEXEC);
		TC_CHECK(fd >= 0 && ftruncate(fd, (off_t)len) == 0, "memfd");
	}
	p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		 MAP_SHARED | (fd < 0 ? MAP_ANONYMOUS : 0), fd, 0);
	TC_CHECK(p != MAP_FAILED, "mmap shared");
	if (fd >= 0)
		close(fd);
	return p;
}

/* The page at p is the peer's memory itself (want_direct), or the fault
 * thread's memfd: what /proc/self/maps says is mapped there. */
static void check_path(const void *p, int want_direct, const char *what)
{
	FILE *f = fopen("/proc/self/maps", "re");
	char line[512], path[256] = "";
	int found = 0;

	TC_CHECK(f, "/proc/self/maps");
	while (!found && fgets(line, sizeof(line), f)) {
		unsigned long a, b;
		int n = 0;

		if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %n", &a, &b, &n) >= 2 &&
		    (uintptr_t)p >= a && (uintptr_t)p < b) {
			found = 1;
			snprintf(path, sizeof(path), "%s", line + n);
			path[strcspn(path, "\n")] = '\0';
		}
	}
	fclose(f);
	TC_CHECK(found, "%s: %p not mapped", what, p);
	if (want_direct)
		TC_CHECK(!strncmp(path, "/memfd:t_mmap-", 14) ||
				 !strcmp(path, "/dev/zero (deleted)"),
			 "%s: not the peer's memory but '%s'", what, path);
	else
		TC_CHECK(!strncmp(path, "/memfd:scif-mmap", 16),
			 "%s: not the fault thread's memfd but '%s'", what,
			 path);
}

static void reg(void *p, size_t len, uint64_t off, int prot)
{
	TC_CHECK(scif_register(epd, p, len, (off_t)off, prot, SCIF_MAP_FIXED) ==
			 (off_t)off,
		 "register 0x%llx", (unsigned long long)off);
}

static void *map(void *addr, size_t len, int prot, int flags, uint64_t off)
{
	void *p = scif_mmap(addr, len, prot, flags, epd, (off_t)off);

	TC_CHECK(p != SCIF_MMAP_FAILED, "scif_mmap 0x%llx+%zu",
		 (unsigned long long)off, len);
	return p;
}

static void cmd(uint32_t op, uint64_t off, uint64_t len, uint64_t seed)
{
	struct cmd c = { .op = op, .off = off, .len = len, .seed = seed };
	uint32_t ok;

	tc_send_all(epd, &c, sizeof(c));
	tc_recv_all(epd, &ok, sizeof(ok));
	TC_CHECK(ok == 1, "server failed command %u at 0x%llx", op,
		 (unsigned long long)off);
}

/* ---- signals: which one an access raised (0: none) ---- */

static sigjmp_buf jb;
static volatile sig_atomic_t got;

static void on_sig(int s)
{
	got = s;
	siglongjmp(jb, 1);
}

static int touch(volatile uint8_t *p, int write)
{
	struct sigaction sa = { .sa_handler = on_sig };

	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	got = 0;
	if (!sigsetjmp(jb, 1)) {
		if (write)
			*p = 0x5a;
		else
			(void)*p;
	}
	signal(SIGSEGV, SIG_DFL);
	signal(SIGBUS, SIG_DFL);
	return got;
}

static int threads(void)
{
	DIR *d = opendir("/proc/self/task");
	int n = 0;

	TC_CHECK(d, "opendir");
	while (readdir(d))
		n++;
	closedir(d);
	return n - 2;
}

/* Wait until [p, p+len) shows pattern seed (from position pos); seconds. */
static double wait_pattern(const volatile uint8_t *p, size_t len,
			   uint64_t seed, uint64_t pos, double limit)
{
	double t0 = tc_now();
	size_t i;

	for (;;) {
		for (i = 0; i < len && p[i] == tc_pat(seed, pos + i); i++)
			;
		if (i == len)
			return tc_now() - t0;
		TC_CHECK(tc_now() - t0 < limit,
			 "byte %zu not there after %.3f s: 0x%02x != 0x%02x", i,
			 limit, p[i], tc_pat(seed, pos + i));
		sched_yield();
	}
}

/* ---- the tutorial pattern ---- */

static size_t msg_len(int round, int side)
{
	return 1 + ((size_t)round * 2654435761u + (size_t)side * 977) % MSG_MAX;
}

/* Write message `round` and then its flag through the mapping `peer`. */
static void tut_send(uint8_t *peer, int round, int side)
{
	size_t n = msg_len(round, side);

	tc_fill(peer + MSG_OFF, n, (uint64_t)round * 2 + side, 0);
	*(volatile uint64_t *)(peer + FLAG_OFF) = (uint64_t)round + 1;
}

/* Spin on our own flag, then check the message in our own memory. */
static void tut_recv(int round, int side)
{
	volatile uint64_t *flag = (volatile uint64_t *)(win + FLAG_OFF);
	size_t n = msg_len(round, side);
	double t0 = tc_now();
	long bad;

	/* yielding: the peer's threads that move the data may need this core */
	while (*flag != (uint64_t)round + 1) {
		TC_CHECK(tc_now() - t0 < SPIN_S, "round %d: flag %llu", round,
			 (unsigned long long)*flag);
		sched_yield();
	}
	bad = tc_verify(win + MSG_OFF, n, (uint64_t)round * 2 + side, 0);
	TC_CHECK(bad < 0, "round %d: message byte %ld of %zu wrong", round,
		 bad, n);
}

static void tutorial(int server)
{
	uint8_t *peer = map(NULL, WLEN, SCIF_PROT_READ | SCIF_PROT_WRITE, 0,
			    WOFF);
	double t0 = tc_now();
	int i;

	check_path(peer, direct, "tutorial");

	for (i = 0; i < ROUNDS; i++) {
		if (server) {
			tut_recv(i, 0);
			tut_send(peer, i, 1);
		} else {
			tut_send(peer, i, 0);
			tut_recv(i, 1);
		}
	}
	if (!server)
		printf("tutorial: %d round trips in %.3f s\n", ROUNDS,
		       tc_now() - t0);
	TC_CHECK(scif_munmap(peer, WLEN) == 0, "munmap");
}

/* ---- server ---- */

static void server(uint16_t port)
{
	scif_epd_t l = tc_listen(port, 1);
	struct scif_portID peer;
	uint8_t *ro = wpages(PG, "R"), *x = wpages(XLEN, NULL),
		*sq = wpages(SLEN, NULL), *y[3];
	struct cmd c;
	uint32_t ok;
	int i;

	TC_CHECK(scif_accept(l, &peer, &epd, SCIF_ACCEPT_SYNC) == 0, "accept");
	reg(win, WLEN, WOFF, SCIF_PROT_READ | SCIF_PROT_WRITE);
	tc_fill(ro, PG, 77, 0);
	reg(ro, PG, ROFF, SCIF_PROT_READ);
	tc_fill(x, XLEN, 88, 0);
	reg(x, XLEN, XOFF, SCIF_PROT_READ | SCIF_PROT_WRITE);
	reg(sq, SLEN, SOFF, SCIF_PROT_READ | SCIF_PROT_WRITE);
	/* 10): three windows side by side, one pattern over them */
	y[0] = wpages(2 * PG, "Y0");
	y[1] = wpages(2 * PG, NULL);
	y[2] = pages(2 * PG);
	for (i = 0; i < 3; i++) {
		tc_fill(y[i], 2 * PG, 111, (uint64_t)i * 2 * PG);
		reg(y[i], 2 * PG, YOFF + (uint64_t)i * 2 * PG,
		    SCIF_PROT_READ | SCIF_PROT_WRITE);
	}
	for (;;) {
		tc_recv_all(epd, &c, sizeof(c));
		ok = 1;
		if (c.op == C_QUIT) {
			tc_send_all(epd, &ok, sizeof(ok));
			break;
		}
		if (c.op == C_TUTORIAL) {
			tc_send_all(epd, &ok, sizeof(ok));
			tutorial(1);
			continue;
		}
		if (c.op == C_FILL)
			tc_fill(win + c.off, c.len, c.seed, 0);
		else if (c.op == C_FILL_S)
			tc_fill(sq, SLEN, c.seed, 0);
		else if (c.op == C_VERIFY)
			ok = tc_verify(win + c.off, c.len, c.seed, 0) < 0;
		else if (c.op == C_UNREG_X)
			ok = scif_unregister(epd, XOFF, XLEN) == 0;
		else if (c.op == C_RECV) { /* c.len bytes of pattern c.seed */
			uint8_t *b = pages(c.len);

			tc_recv_all(epd, b, (int)c.len);
			ok = tc_verify(b, c.len, c.seed, 0) < 0;
			munmap(b, c.len);
		} else if (c.op == C_SEND) {
			uint8_t *b = pages(c.len);

			tc_fill(b, c.len, c.seed, 0);
			tc_send_all(epd, b, (int)c.len);
			munmap(b, c.len);
		}
		if (!ok)
			fprintf(stderr, "server: command %u failed\n", c.op);
		tc_send_all(epd, &ok, sizeof(ok));
	}
	TC_CHECK(scif_close(epd) == 0, "close");
	scif_close(l);
}

/* ---- client ---- */

/* ENODEV: scif_munmap in a process whose library cannot initialise (a
 * provider list naming no provider), run as "t_mmap enodev". */
static void enodev_child(void)
{
	uint8_t *p = pages(PG);

	TC_ERRNO(scif_munmap(p, PG), ENODEV);
}

static void enodev(void)
{
	pid_t pid = fork();
	int st;

	TC_CHECK(pid >= 0, "fork");
	if (!pid) {
		setenv("SCIF_PROVIDER", "no-such-provider", 1);
		execl("/proc/self/exe", "t_mmap", "enodev", (char *)NULL);
		_exit(127);
	}
	TC_CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) &&
			 WEXITSTATUS(st) == 0,
		 "scif_munmap without a library: status 0x%x", st);
}

static void errnos(void)
{
	scif_epd_t un = scif_open();
	struct rlimit old, lim;
	int fd = dup(2);

	TC_ERRNO(scif_mmap(NULL, PG, SCIF_PROT_READ, 0, -1, WOFF), EBADF);
	TC_ERRNO(scif_mmap(NULL, PG, SCIF_PROT_READ, 0, fd, WOFF), ENOTTY);
	TC_ERRNO(scif_mmap(NULL, PG, 4, 0, epd, WOFF), EINVAL);
	TC_ERRNO(scif_mmap(NULL, PG, SCIF_PROT_READ, 1, epd, WOFF), EINVAL);
	TC_ERRNO(scif_mmap((void *)0x10001, PG, SCIF_PROT_READ, SCIF_MAP_FIXED,
			   epd, WOFF),
		 EINVAL);
	TC_ERRNO(scif_mmap(NULL, PG, SCIF_PROT_READ, 0, epd, WOFF + 8), EINVAL);
	TC_ERRNO(scif_mmap(NULL, 0, SCIF_PROT_READ, 0, epd, WOFF), EINVAL);
	TC_ERRNO(scif_mmap(NULL, PG, SCIF_PROT_READ, 0, epd, -(off_t)PG),
		 ENXIO);
	TC_ERRNO(scif_mmap(NULL, PG, SCIF_PROT_READ, 0, epd, WOFF + WLEN),
		 ENXIO);
	TC_ERRNO(scif_mmap(NULL, 2 * PG, SCIF_PROT_READ, 0, epd,
			   WOFF + WLEN - PG),
		 ENXIO);
	TC_ERRNO(scif_mmap(NULL, PG, SCIF_PROT_READ | SCIF_PROT_WRITE, 0, epd,
			   ROFF),
		 EACCES);
	TC_ERRNO(scif_mmap(NULL, PG, SCIF_PROT_READ, 0, un, WOFF), ENOTCONN);
	TC_ERRNO(scif_munmap((void *)0x10001, PG), EINVAL);
	TC_ERRNO(scif_munmap(win, 0), EINVAL);
	/* ENOMEM: no address space left for the mapping */
	TC_CHECK(getrlimit(RLIMIT_AS, &old) == 0, "getrlimit");
	lim = old;
	lim.rlim_cur = 0;
	TC_CHECK(setrlimit(RLIMIT_AS, &lim) == 0, "setrlimit");
	errno = 0;
	{
		void *p = scif_mmap(NULL, WLEN, SCIF_PROT_READ, 0, epd, WOFF);
		int e = errno;

		TC_CHECK(setrlimit(RLIMIT_AS, &old) == 0, "setrlimit back");
		errno = e;
		TC_CHECK(p == SCIF_MMAP_FAILED && e == ENOMEM,
			 "scif_mmap under RLIMIT_AS: %p", p);
	}
	scif_close(un);
	close(fd);
	enodev();
}

/* The peer's stores to a page that another thread keeps writing (its
 * first byte, without a pause: in every tick), seen within the bound all
 * the same; seconds. */
static volatile int writing;

static void *writer(void *arg)
{
	volatile uint8_t *w = arg;
	uint8_t n = 1;

	while (writing)
		w[0] = ++n ? n : ++n; /* never 0 */
	return NULL;
}

static double written_page(void)
{
	uint8_t *w = map(NULL, PG, SCIF_PROT_READ | SCIF_PROT_WRITE, 0,
			 WOFF + 30 * PG);
	pthread_t t;
	double t0;

	/* fetched, written, and being written before the peer's stores */
	*(volatile uint8_t *)w = 0;
	writing = 1;
	TC_CHECK(pthread_create(&t, NULL, writer, w) == 0, "pthread_create");
	while (!*(volatile uint8_t *)w)
		sched_yield();
	cmd(C_FILL, 30 * PG + 64, PG - 64, 3000);
	t0 = wait_pattern(w + 64, PG - 64, 3000, 0, bound_s);
	writing = 0;
	pthread_join(t, NULL);
	TC_CHECK(scif_munmap(w, PG) == 0, "munmap");
	cmd(C_VERIFY, 30 * PG + 64, PG - 64, 3000); /* the peer's bytes stay */
	return t0;
}

/* 3) the peer's stores, and our own scif_writeto, through the mapping */
static void visibility(void)
{
	uint8_t *m = map(NULL, WLEN, SCIF_PROT_READ, 0, WOFF), *buf = pages(PG);
	double worst = 0, t;
	int i;

	check_path(m, direct, "visibility");
	for (i = 0; i < 20; i++) {
		uint64_t off = (uint64_t)(i % 8) * PG + 3 * PG;

		cmd(C_FILL, off, PG, 1000 + i);
		TC_CHECK(!direct || tc_verify(m + off, PG, 1000 + i, 0) < 0,
			 "direct: the peer's store not there at once");
		t = wait_pattern(m + off, PG, 1000 + i, 0, bound_s);
		worst = t > worst ? t : worst;
	}
	for (i = 0; i < 20; i++) {
		uint64_t off = (uint64_t)(i % 8) * PG + 12 * PG;

		(void)*(volatile uint8_t *)(m + off); /* fetched before */
		tc_fill(buf, PG, 2000 + i, 0);
		TC_CHECK(scif_vwriteto(epd, buf, PG, (off_t)(WOFF + off),
				       SCIF_RMA_SYNC) == 0,
			 "vwriteto");
		t = wait_pattern(m + off, PG, 2000 + i, 0, bound_s);
		worst = t > worst ? t : worst;
	}
	t = written_page();
	worst = t > worst ? t : worst;
	printf("visibility: worst %.3f ms (bound %.3f ms with slack)\n",
	       worst * 1e3, bound_s * 1e3);
	TC_CHECK(scif_munmap(m, WLEN) == 0, "munmap");
	munmap(buf, PG);
}

/* SCIF calls on the endpoint with buffers inside its own mapping: a page
 * fault there must not wait for a lock the call holds. */
static void calls_on_mapping(void)
{
	uint8_t *m = map(NULL, 16 * PG, SCIF_PROT_READ | SCIF_PROT_WRITE, 0,
			 WOFF + 40 * PG);
	int fence;

	cmd(C_FILL, 40 * PG, 16 * PG, 41);
	usleep((useconds_t)(settle_s * 1e6)); /* no page fetched before */
	/* send from absent pages: the server checks what arrives */
	{
		struct cmd c = { .op = C_RECV, .len = 2 * PG, .seed = 41 };
		uint32_t ok;

		tc_send_all(epd, &c, sizeof(c));
		tc_send_all(epd, m, 2 * PG);
		tc_recv_all(epd, &ok, sizeof(ok));
		TC_CHECK(ok == 1, "send from the mapping");
	}
	/* recv into it, then a fence writes it back */
	{
		struct cmd c = { .op = C_SEND, .len = 2 * PG, .seed = 42 };
		uint32_t ok;

		tc_send_all(epd, &c, sizeof(c));
		tc_recv_all(epd, m + 4 * PG, 2 * PG);
		tc_recv_all(epd, &ok, sizeof(ok));
		TC_CHECK(tc_verify(m + 4 * PG, 2 * PG, 42, 0) < 0, "recv");
	}
	/* scif_vwriteto from it, scif_vreadfrom into it */
	TC_CHECK(scif_vwriteto(epd, m, 2 * PG, (off_t)(WOFF + 60 * PG), 0) == 0,
		 "vwriteto from the mapping");
	TC_CHECK(scif_vreadfrom(epd, m + 10 * PG, PG, (off_t)(WOFF + 40 * PG),
				SCIF_RMA_SYNC) == 0,
		 "vreadfrom into the mapping");
	TC_CHECK(tc_verify(m + 10 * PG, PG, 41, 0) < 0, "vreadfrom");
	TC_CHECK(scif_fence_mark(epd, SCIF_FENCE_INIT_SELF, &fence) == 0 &&
			 scif_fence_wait(epd, fence) == 0,
		 "fence");
	cmd(C_VERIFY, 44 * PG, 2 * PG, 42);
	cmd(C_VERIFY, 60 * PG, 2 * PG, 41);
	TC_CHECK(scif_munmap(m, 16 * PG) == 0, "munmap");
}

/* 4) SCIF_MAP_FIXED, partial unmaps, several mappings, read-only */
static void shapes(void)
{
	int base_threads = threads(), fence;
	double t0;
	uint8_t *a = map(NULL, 8 * PG, SCIF_PROT_READ | SCIF_PROT_WRITE, 0,
			 WOFF + 20 * PG),
		*b, *c;

	/* FIXED over pages 2-3 of a, after writing page 2 through a */
	cmd(C_FILL, 20 * PG, 8 * PG, 31);
	tc_fill(a + 2 * PG, PG, 32, 0);
	b = map(a + 2 * PG, 2 * PG, SCIF_PROT_READ, SCIF_MAP_FIXED,
		WOFF + 40 * PG);
	TC_CHECK(b == a + 2 * PG, "FIXED at %p gave %p", a + 2 * PG, b);
	check_path(a, direct, "a");
	check_path(b, direct, "FIXED b");
	cmd(C_VERIFY, 22 * PG, PG, 32); /* written back before replaced */
	cmd(C_FILL, 40 * PG, 2 * PG, 33);
	wait_pattern(b, 2 * PG, 33, 0, bound_s);
	TC_CHECK(tc_verify(a, PG, 31, 0) < 0, "page 0 of a");
	TC_CHECK(tc_verify(a + 4 * PG, 4 * PG, 31, 4 * PG) < 0, "a pages 4-7");
	TC_CHECK(touch(b, 1) == SIGSEGV, "write to the read-only mapping");
	/* partial unmaps: page 5 of a, then b */
	TC_CHECK(scif_munmap(a + 5 * PG, PG) == 0, "munmap page 5");
	TC_CHECK(touch(a + 5 * PG, 0) == SIGSEGV, "unmapped page");
	TC_CHECK(scif_munmap(b, 2 * PG) == 0, "munmap b");
	tc_fill(a + 7 * PG, PG, 34, 0);
	TC_CHECK(scif_fence_mark(epd, SCIF_FENCE_INIT_SELF, &fence) == 0 &&
			 scif_fence_wait(epd, fence) == 0,
		 "fence");
	cmd(C_VERIFY, 27 * PG, PG, 34); /* the fence wrote it back */
	/* two mappings of one window */
	c = map(NULL, 8 * PG, SCIF_PROT_READ | SCIF_PROT_WRITE, 0,
		WOFF + 20 * PG);
	TC_CHECK(tc_verify(c + 7 * PG, PG, 34, 0) < 0, "second mapping");
	tc_fill(c + 6 * PG, PG, 35, 0);
	if (direct) { /* at once, through the other mapping and at the peer */
		TC_CHECK(tc_verify(a + 6 * PG, PG, 35, 0) < 0, "direct: a");
		cmd(C_VERIFY, 26 * PG, PG, 35);
	}
	wait_pattern(a + 6 * PG, PG, 35, 0, 2 * bound_s);
	TC_CHECK(scif_munmap(a, 5 * PG) == 0 &&
			 scif_munmap(a + 6 * PG, 2 * PG) == 0,
		 "munmap the rest of a");
	TC_CHECK(scif_munmap(c, 8 * PG) == 0, "munmap c");
	for (t0 = tc_now(); threads() > base_threads;)
		TC_CHECK(tc_now() - t0 < 2, "fault threads left: %d, %d before",
			 threads(), base_threads);
}

/* The application's own munmap, mmap(MAP_FIXED) and madvise on a mapping:
 * the library must not drop pages that are no longer its own, nor hang on
 * a page dropped under it. */
static void app_calls(void)
{
	uint8_t *m = map(NULL, 4 * PG, SCIF_PROT_READ | SCIF_PROT_WRITE, 0,
			 WOFF + 40 * PG),
		*r;

	cmd(C_FILL, 40 * PG, 4 * PG, 51);
	usleep((useconds_t)(settle_s * 1e6));
	TC_CHECK(tc_verify(m, 4 * PG, 51, 0) < 0, "content");
	/* page 3: dirtied, dropped by the application, still ours */
	tc_fill(m + 3 * PG, PG, 52, 0);
	TC_CHECK(madvise(m + 3 * PG, PG, MADV_DONTNEED) == 0, "madvise");
	TC_CHECK(tc_verify(m + 3 * PG, PG, 52, 0) < 0, "after MADV_DONTNEED");
	/* pages 0-1: replaced by plain memory of the application's */
	r = mmap(m, 2 * PG, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	TC_CHECK(r == m, "mmap MAP_FIXED over the mapping");
	tc_fill(r, 2 * PG, 53, 0);
	usleep((useconds_t)(settle_s * 1e6)); /* several ticks */
	TC_CHECK(tc_verify(r, 2 * PG, 53, 0) < 0,
		 "the library dropped memory no longer its own");
	app_mem = r; /* checked after scif_close */
	TC_CHECK(scif_munmap(m + 2 * PG, 2 * PG) == 0, "munmap the rest");
	cmd(C_VERIFY, 43 * PG, PG, 52); /* page 3 was written back */
}

/* 5) the server unregisters X while we have it mapped */
static void unregister_mapped(void)
{
	uint8_t *x = map(NULL, XLEN, SCIF_PROT_READ | SCIF_PROT_WRITE, 0, XOFF);
	double t0;

	TC_CHECK(tc_verify(x, XLEN, 88, 0) < 0, "X content");
	tc_fill(x + PG, 64, 89, 0); /* dirty: dropped with the window */
	t0 = tc_now();
	check_path(x, direct, "X");
	cmd(C_UNREG_X, 0, 0, 0);
	TC_CHECK(tc_now() - t0 < 5, "unregister took %.1f s", tc_now() - t0);
	/* direct: poisoned before the peer's scif_unregister returned */
	TC_CHECK(!direct || touch(x + 2 * PG, 0) == SIGBUS,
		 "direct: no SIGBUS at once after unregister");
	t0 = tc_now();
	while (touch(x, 0) != SIGBUS)
		TC_CHECK(tc_now() - t0 < 10, "no SIGBUS after unregister");
	TC_CHECK(touch(x + 3 * PG, 1) == SIGBUS, "write after unregister");
	TC_ERRNO(scif_mmap(NULL, PG, SCIF_PROT_READ, 0, epd, XOFF), ENXIO);
	TC_CHECK(scif_munmap(x, XLEN) == 0, "munmap X");
}

/* The peer killed in 6): a process of its own (exec'd, not only forked:
 * a child forked from a threaded process may not allocate under ASan). */
static void victim(uint16_t port)
{
	scif_epd_t l = tc_listen(port, 1);
	struct scif_portID peer;
	uint8_t *v = wpages(4 * PG, "V"), ready = 1;

	TC_CHECK(scif_accept(l, &peer, &epd, SCIF_ACCEPT_SYNC) == 0, "accept");
	tc_fill(v, 4 * PG, 99, 0);
	reg(v, 4 * PG, VOFF, SCIF_PROT_READ | SCIF_PROT_WRITE);
	tc_send_all(epd, &ready, 1);
	pause();
}

/* 6) a peer killed while mapped */
static void killed_peer(uint16_t port)
{
	uint16_t self = 0, nodes[16];
	scif_epd_t saved = epd, k;
	uint8_t *v, ready;
	char arg[16];
	pid_t pid;
	double t0;
	int st;

	TC_CHECK(scif_get_nodeIDs(nodes, 16, &self) > 0, "get_nodeIDs");
	snprintf(arg, sizeof(arg), "%u", port + 1u);
	pid = fork();
	TC_CHECK(pid >= 0, "fork");
	if (!pid) {
		execl("/proc/self/exe", "t_mmap", "victim", arg, (char *)NULL);
		_exit(127);
	}
	k = tc_connect(self, (uint16_t)(port + 1), 10);
	tc_recv_all(k, &ready, 1);
	epd = k;
	v = map(NULL, 4 * PG, SCIF_PROT_READ, 0, VOFF);
	TC_CHECK(tc_verify(v, 4 * PG, 99, 0) < 0, "V content");
	check_path(v, direct, "V");
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	t0 = tc_now();
	while (touch(v + PG, 0) != SIGBUS)
		TC_CHECK(tc_now() - t0 < 30, "no SIGBUS after the peer died");
	printf("killed peer: SIGBUS after %.3f s\n", tc_now() - t0);
	TC_CHECK(scif_munmap(v, 4 * PG) == 0, "munmap V");
	scif_close(k);
	epd = saved;
}

/* 8) sequential reads: the first half, then (the server has rewritten S)
 * the second half and the first again.  The batch read ahead past the
 * first half, and its page left for the fault, were fetched before the
 * rewrite: the bound has passed when they are read. */
static void sequential(void)
{
	uint8_t *s = map(NULL, SLEN, SCIF_PROT_READ, 0, SOFF);
	double t0;
	long bad;

	cmd(C_FILL_S, 0, 0, 61);
	check_path(s + SLEN / 2, direct, "S");
	t0 = tc_now();
	bad = tc_verify(s, SLEN / 2, 61, 0);
	TC_CHECK(bad < 0, "first half: byte %ld", bad);
	printf("sequential: %lu KiB in %.3f s\n", SLEN / 2 >> 10,
	       tc_now() - t0);
	/* the batch read ahead is in before the rewrite */
	usleep((useconds_t)(settle_s * 1e6));
	cmd(C_FILL_S, 0, 0, 62);
	usleep((useconds_t)(settle_s * 1e6));
	bad = tc_verify(s + SLEN / 2, SLEN / 2, 62, SLEN / 2);
	TC_CHECK(bad < 0, "second half after the rewrite: byte %ld", bad);
	bad = tc_verify(s, SLEN / 2, 62, 0);
	TC_CHECK(bad < 0, "first half after the rewrite: byte %ld", bad);
	TC_CHECK(scif_munmap(s, SLEN) == 0, "munmap S");
}

/* What glibc's memcpy does with large blocks (large_memcpy_4x): four pages
 * at a time, 256 bytes of each in turn.  Spelled out, so that the test does
 * not depend on the C library's choice. */
static void copy_4x(uint8_t *dst, const uint8_t *src, size_t len)
{
	size_t g, c, k;

	for (g = 0; g < len; g += 4 * PG)
		for (c = 0; c < PG; c += 256)
			for (k = 0; k < 4 && g + k * PG < len; k++)
				memcpy(dst + g + k * PG + c,
				       src + g + k * PG + c, 256);
}

/* A fresh mapping of the peer's window at off (SLEN bytes of pattern seed)
 * read in memcpy's order; the pages the fault thread fetched for it. */
static uint64_t read_4x(uint64_t off, uint64_t seed, const char *what)
{
	uint8_t *s = map(NULL, SLEN, SCIF_PROT_READ, 0, off);
	uint8_t *buf = malloc(SLEN);
	uint64_t faults = 0, fetches = 0, pages = 0;
	long bad;

	TC_CHECK(buf != NULL, "malloc");
	copy_4x(buf, s, SLEN);
	bad = tc_verify(buf, SLEN, seed, 0);
	TC_CHECK(bad < 0, "%s: read in memcpy's order: byte %ld", what, bad);
	if (!direct) {
		TC_CHECK(scif__mmap_stats(s, &faults, &fetches, &pages) == 0,
			 "scif__mmap_stats");
		printf("%s: %lu pages fetched (%lu fetches, %lu faults) for "
		       "%lu\n", what, (unsigned long)pages,
		       (unsigned long)fetches, (unsigned long)faults,
		       SLEN / PG);
	}
	free(buf);
	TC_CHECK(scif_munmap(s, SLEN) == 0, "munmap %s", what);
	return pages;
}

/* 8) continued: a fresh mapping of S read in memcpy's order.  Under the
 * default bound, a reader slower than the bound lets a page live (a loaded
 * machine, a sanitizer) has pages dropped before it gets there, fetched
 * again as they must be: the count is shown, and checked in msync_child,
 * whose bound is long. */
static void interleaved(void)
{
	cmd(C_FILL_S, 0, 0, 63);
	read_4x(SOFF, 63, "interleaved");
}

/* The peer's page at offset off of its window, read directly (RMA), shows
 * pattern seed from position pos. */
static void peer_is(uint64_t off, uint64_t seed, uint64_t pos,
		    const char *what)
{
	uint8_t *b = pages(PG);

	TC_CHECK(scif_vreadfrom(epd, b, PG, (off_t)off, SCIF_RMA_SYNC) == 0,
		 "vreadfrom");
	TC_CHECK(tc_verify(b, PG, seed, pos) < 0, "%s", what);
	munmap(b, PG);
}

/* 9) in the child "t_mmap msync NODE PORT" (bound 10 s) */
static void msync_child(uint16_t node, uint16_t port)
{
	uint8_t *m, *b = pages(PG), *gone = pages(PG), one = 1;
	uint64_t pg;

	epd = tc_connect(node, port, 10);
	tc_recv_all(epd, &one, 1);
	m = map(NULL, 4 * PG, SCIF_PROT_READ | SCIF_PROT_WRITE, 0, MOFF);
	TC_CHECK(tc_verify(m, 4 * PG, 71, 0) < 0, "M content");
	check_path(m, direct, "M");
	/* MS_SYNC: the store is at the peer when msync returns (direct: at
	 * once) */
	tc_fill(m + PG, PG, 72, 0);
	if (direct)
		peer_is(MOFF + PG, 72, 0, "direct: the store not at the peer");
	else
		peer_is(MOFF + PG, 71, PG, "written back before msync");
	TC_CHECK(msync(m + PG, PG, MS_SYNC) == 0, "msync(MS_SYNC)");
	peer_is(MOFF + PG, 72, 0, "not written back by msync(MS_SYNC)");
	/* MS_INVALIDATE: the peer's new bytes, not the copy fetched before
	 * (direct: the peer's bytes all along) */
	tc_fill(b, PG, 73, 0);
	TC_CHECK(scif_vwriteto(epd, b, PG, (off_t)(MOFF + 2 * PG),
			       SCIF_RMA_SYNC) == 0,
		 "vwriteto");
	TC_CHECK(direct ? tc_verify(m + 2 * PG, PG, 73, 0) < 0 :
			  tc_verify(m + 2 * PG, PG, 71, 2 * PG) < 0,
		 "before msync(MS_INVALIDATE)");
	TC_CHECK(msync(m + 2 * PG, PG, MS_INVALIDATE) == 0,
		 "msync(MS_INVALIDATE)");
	TC_CHECK(tc_verify(m + 2 * PG, PG, 73, 0) < 0,
		 "msync(MS_INVALIDATE) left the old copy");
	/* both: a dirty page goes back, then comes again */
	tc_fill(m + 3 * PG, PG, 74, 0);
	TC_CHECK(msync(m, 4 * PG, MS_SYNC | MS_INVALIDATE) == 0,
		 "msync(MS_SYNC | MS_INVALIDATE)");
	peer_is(MOFF + 3 * PG, 74, 0, "MS_SYNC | MS_INVALIDATE");
	TC_CHECK(tc_verify(m + 3 * PG, PG, 74, 0) < 0 &&
			 tc_verify(m + PG, PG, 72, 0) < 0,
		 "after MS_SYNC | MS_INVALIDATE");
	TC_CHECK(msync(m, PG, MS_ASYNC) == 0, "msync(MS_ASYNC)");
	/* the C library's checks, and memory that is not a mapping's */
	TC_ERRNO(msync(m, PG, MS_SYNC | MS_ASYNC), EINVAL);
	TC_ERRNO(msync(m + 1, PG, MS_SYNC), EINVAL);
	TC_CHECK(msync(b, PG, MS_SYNC | MS_INVALIDATE) == 0, "msync of memory");
	munmap(gone, PG);
	TC_ERRNO(msync(gone, PG, MS_SYNC), ENOMEM);
	TC_CHECK(scif_munmap(m, 4 * PG) == 0, "munmap M");
	/* 8) read ahead in memcpy's order, where no page is old enough to be
	 * dropped: each is fetched once (the pages a reader left behind the
	 * batch it waits for, the batches it reaches out of order) */
	pg = read_4x(SOFF, 75, "interleaved, 10 s bound");
	TC_CHECK(direct || pg == SLEN / PG, "%lu pages fetched for a read of %lu",
		 (unsigned long)pg, SLEN / PG);
	tc_send_all(epd, &one, 1);
	tc_recv_all(epd, &one, 1);
	TC_CHECK(scif_close(epd) == 0, "close");
}

/* 9) msync: a child maps our window M (its library with a bound of 10 s;
 * no_direct: and SCIF_MMAP_DIRECT=0) */
static void msync_test(uint16_t port, int no_direct)
{
	uint16_t self = 0, nodes[16];
	scif_epd_t saved = epd, l = tc_listen((uint16_t)(port + 2), 1);
	struct scif_portID peer;
	uint8_t *w = wpages(4 * PG, no_direct ? "M" : NULL), one = 1;
	uint8_t *sw = wpages(SLEN, no_direct ? "MS" : NULL);
	char a1[16], a2[16];
	pid_t pid;
	int st;

	TC_CHECK(scif_get_nodeIDs(nodes, 16, &self) > 0, "get_nodeIDs");
	snprintf(a1, sizeof(a1), "%u", self);
	snprintf(a2, sizeof(a2), "%u", port + 2u);
	pid = fork();
	TC_CHECK(pid >= 0, "fork");
	if (!pid) {
		setenv("SCIF_MMAP_COHERENCE_US", "10000000", 1);
		if (no_direct)
			setenv("SCIF_MMAP_DIRECT", "0", 1);
		execl("/proc/self/exe", "t_mmap", "msync", a1, a2,
		      (char *)NULL);
		_exit(127);
	}
	TC_CHECK(scif_accept(l, &peer, &epd, SCIF_ACCEPT_SYNC) == 0, "accept");
	tc_fill(w, 4 * PG, 71, 0);
	reg(w, 4 * PG, MOFF, SCIF_PROT_READ | SCIF_PROT_WRITE);
	tc_fill(sw, SLEN, 75, 0);
	reg(sw, SLEN, SOFF, SCIF_PROT_READ);
	tc_send_all(epd, &one, 1);
	tc_recv_all(epd, &one, 1); /* the child is done with M */
	tc_send_all(epd, &one, 1);
	TC_CHECK(waitpid(pid, &st, 0) == pid && WIFEXITED(st) &&
			 WEXITSTATUS(st) == 0,
		 "msync child: status 0x%x", st);
	scif_close(epd);
	scif_close(l);
	munmap(w, 4 * PG);
	munmap(sw, SLEN);
	epd = saved;
}

/* 10) mappings over windows Y0 (a memfd), Y1 (shared anonymous memory)
 * and Y2 (private): Y1-Y2 is the fault thread's, Y0-Y1 (direct) two files
 * mapped side by side. */
static void spans(void)
{
	uint8_t *p = map(NULL, 4 * PG, SCIF_PROT_READ | SCIF_PROT_WRITE, 0,
			 YOFF + 2 * PG),
		*b = pages(2 * PG);
	long bad = tc_verify(p, 4 * PG, 111, 2 * PG);

	TC_CHECK(bad < 0, "Y1-Y2: byte %ld", bad);
	check_path(p, 0, "Y1-Y2");
	TC_CHECK(scif_munmap(p, 4 * PG) == 0, "munmap Y1-Y2");
	p = map(NULL, 4 * PG, SCIF_PROT_READ | SCIF_PROT_WRITE, 0, YOFF);
	bad = tc_verify(p, 4 * PG, 111, 0);
	TC_CHECK(bad < 0, "Y0-Y1: byte %ld", bad);
	check_path(p, direct, "Y0");
	check_path(p + 3 * PG, direct, "Y1");
	/* a write over the two windows reaches both */
	tc_fill(p + PG, 2 * PG, 112, 0);
	TC_CHECK(msync(p, 4 * PG, MS_SYNC) == 0, "msync Y0-Y1");
	TC_CHECK(scif_vreadfrom(epd, b, 2 * PG, (off_t)(YOFF + PG),
				SCIF_RMA_SYNC) == 0,
		 "vreadfrom Y");
	bad = tc_verify(b, 2 * PG, 112, 0);
	TC_CHECK(bad < 0, "Y0-Y1 written: byte %ld", bad);
	TC_CHECK(tc_verify(p, PG, 111, 0) < 0 &&
			 tc_verify(p + 3 * PG, PG, 111, 3 * PG) < 0,
		 "Y0-Y1: pages not written");
	TC_CHECK(scif_munmap(p, 4 * PG) == 0, "munmap Y0-Y1");
	munmap(b, 2 * PG);
}

static void client(uint16_t node, uint16_t port)
{
	uint8_t *m;

	epd = tc_connect(node, port, 30);
	reg(win, WLEN, WOFF, SCIF_PROT_READ | SCIF_PROT_WRITE);
	cmd(C_FILL, 0, PG, 1); /* the server has registered its windows */
	errnos();
	cmd(C_TUTORIAL, 0, 0, 0);
	tutorial(0);
	visibility();
	calls_on_mapping();
	shapes();
	app_calls();
	unregister_mapped();
	killed_peer(port);
	sequential();
	interleaved();
	spans();
	msync_test(port, 0);
	if (direct) /* the switch: the same memory, the thread's mapping */
		msync_test(port, 1);
	/* 7) close unmaps; then ECONNRESET */
	m = map(NULL, PG, SCIF_PROT_READ, 0, WOFF);
	cmd(C_QUIT, 0, 0, 0);
	/* the server closes: the stream ends, then ECONNRESET */
	TC_CHECK(scif_recv(epd, &node, 1, SCIF_RECV_BLOCK) <= 0, "recv at end");
	TC_ERRNO(scif_mmap(NULL, PG, SCIF_PROT_READ, 0, epd, WOFF), ECONNRESET);
	TC_CHECK(scif_close(epd) == 0, "close");
	TC_CHECK(touch(m, 0) == SIGSEGV, "mapping left after scif_close");
	TC_CHECK(tc_verify(app_mem, 2 * PG, 53, 0) < 0,
		 "scif_close took memory no longer the library's");
	munmap(app_mem, 2 * PG);
	printf("t_mmap: all passed\n");
}

int main(int argc, char **argv)
{
	const char *b = getenv("SCIF_MMAP_COHERENCE_US");
	const char *sh = getenv("T_MMAP_SHARED"), *d = getenv("T_MMAP_DIRECT");
	const char *sd = getenv("SCIF_MMAP_DIRECT");

	setvbuf(stdout, NULL, _IOLBF, 0);
	shared_mem = sh && !strcmp(sh, "1");
	direct = shared_mem && !(d && !strcmp(d, "0")) &&
		 !(sd && !strcmp(sd, "0"));
	bound_s = (b ? atof(b) : 1000) * 1e-6 + 2.0;
	settle_s = (b ? atof(b) : 1000) * 1e-6 * 3 + 0.05;
	win = wpages(WLEN, "W");
	if (argc == 2 && !strcmp(argv[1], "enodev"))
		enodev_child();
	else if (argc == 4 && !strcmp(argv[1], "msync"))
		msync_child((uint16_t)atoi(argv[2]), (uint16_t)atoi(argv[3]));
	else if (argc == 3 && !strcmp(argv[1], "victim"))
		victim((uint16_t)atoi(argv[2]));
	else if (argc == 3 && !strcmp(argv[1], "server"))
		server((uint16_t)atoi(argv[2]));
	else if (argc == 4 && !strcmp(argv[1], "client"))
		client((uint16_t)atoi(argv[2]), (uint16_t)atoi(argv[3]));
	else
		TC_FAIL("usage: t_mmap server PORT | client NODE PORT");
	return 0;
}
