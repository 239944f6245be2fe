/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * t_rma: registered windows and RMA between two processes, every byte
 * checked.
 *
 *   t_rma server PORT
 *   t_rma client NODE PORT
 *
 * The server owns windows and does what the client asks over the byte
 * stream (fill a range with a pattern, verify a range, unregister); the
 * client drives RMAs.  Covered: writeto/readfrom/vwriteto/vreadfrom of
 * 1 B .. 256 MiB crossing window boundaries on both sides at unaligned
 * offsets, SYNC and fenced non-SYNC, ORDERED; the registration cache (hits
 * counted, munmap+mmap moves the new pages); every documented errno;
 * unregister with RMAs in flight on either side; concurrent RMAs from
 * threads on one endpoint and on two endpoints; windows registered and
 * unregistered concurrently while RMAs use them; RMAs in flight while the
 * peer closes complete first; RMA after the peer closed.
 */
#include "tc.h"
#include "regcache.h"

#include <poll.h>
#include <pthread.h>
#include <sys/mman.h>

int scif__rma_cache_stats(scif_epd_t epd, struct scif_regcache_stats *st);

#define MiB (1ull << 20)
#define R0 0x10000000ull   /* server: W0 [R0, R0+64K), W1 after it */
#define RSPLIT (64 * 1024)
#define RRO 0x80000000ull  /* server: read-only window, 64 KiB */
#define RU 0x40000000ull   /* server: 16 MiB window it unregisters */
#define L0 0x20000000ull   /* client: W0 [L0, L0+128K), W1 after it */
#define LSPLIT (128 * 1024)
#define LRO 0x90000000ull  /* client: read-only window, 64 KiB */
#define BIG (256 * MiB)
#define SPAN (BIG + 2 * MiB) /* bytes of the big windows on each side */

/* test_close_in_flight: on the second endpoint's 4 MiB windows */
#define CL_HALF (2 * MiB - 4096)
#define CL_FLAG (4 * MiB - 8)
#define CL_SEED 0xc105e
#define CL_ROUNDS 2

enum { CMD_FILL = 1, CMD_VERIFY, CMD_UNREG, CMD_QUIT };

struct cmd {
	uint32_t op, ep;
	uint64_t off, len, seed;
};

static void *map_big(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	TC_CHECK(p != MAP_FAILED, "mmap %zu", len);
	return p;
}

static void reg_fixed(scif_epd_t epd, void *addr, size_t len, uint64_t off,
		      int prot)
{
	off_t r = scif_register(epd, addr, len, (off_t)off, prot,
				SCIF_MAP_FIXED);

	TC_CHECK(r == (off_t)off, "register %zu at 0x%llx", len,
		 (unsigned long long)off);
}

/* ---------------- server ---------------- */

struct srv_ep {
	scif_epd_t epd;
	uint8_t *mem; /* backs [R0, R0 + span) */
	uint64_t span;
	uint8_t *umem; /* backs [RU, RU + 16 MiB) */
};

static uint8_t *srv_addr(struct srv_ep *s, uint64_t off, uint64_t len)
{
	if (off >= R0 && off + len <= R0 + s->span)
		return s->mem + (off - R0);
	if (s->umem && off >= RU && off + len <= RU + 16 * MiB)
		return s->umem + (off - RU);
	TC_FAIL("server: range 0x%llx+%llu not backed",
		(unsigned long long)off, (unsigned long long)len);
}

static int server(uint16_t port)
{
	scif_epd_t lep = tc_listen(port, 2);
	struct srv_ep s[2] = { { 0 } };
	struct scif_portID peer;
	uint8_t *ro = map_big(64 * 1024);
	int i;

	for (i = 0; i < 2; i++) {
		TC_CHECK(scif_accept(lep, &peer, &s[i].epd, SCIF_ACCEPT_SYNC) ==
				 0,
			 "accept %d", i);
		s[i].span = i == 0 ? SPAN : 4 * MiB;
		s[i].mem = map_big(s[i].span);
		reg_fixed(s[i].epd, s[i].mem, RSPLIT, R0,
			  SCIF_PROT_READ | SCIF_PROT_WRITE);
		reg_fixed(s[i].epd, s[i].mem + RSPLIT, s[i].span - RSPLIT,
			  R0 + RSPLIT, SCIF_PROT_READ | SCIF_PROT_WRITE);
	}
	s[0].umem = map_big(16 * MiB);
	reg_fixed(s[0].epd, s[0].umem, 16 * MiB, RU,
		  SCIF_PROT_READ | SCIF_PROT_WRITE);
	tc_fill(ro, 64 * 1024, 0xabc, 0);
	reg_fixed(s[0].epd, ro, 64 * 1024, RRO, SCIF_PROT_READ);
	/* Windows are announced in stream order: this byte tells the client
	 * that all of them are known on its side. */
	tc_send_all(s[0].epd, "R", 1);

	for (;;) {
		struct cmd c;
		uint32_t res = 0;
		struct srv_ep *e;

		tc_recv_all(s[0].epd, &c, sizeof(c));
		if (c.op == CMD_QUIT)
			break;
		TC_CHECK(c.ep < 2, "bad endpoint index");
		e = &s[c.ep];
		switch (c.op) {
		case CMD_FILL:
			tc_fill(srv_addr(e, c.off, c.len), c.len, c.seed, 0);
			break;
		case CMD_VERIFY: {
			long bad = tc_verify(srv_addr(e, c.off, c.len), c.len,
					     c.seed, 0);

			if (bad >= 0) {
				fprintf(stderr,
					"server: byte %ld of 0x%llx+%llu wrong\n",
					bad, (unsigned long long)c.off,
					(unsigned long long)c.len);
				res = 1;
			}
			break;
		}
		case CMD_UNREG:
			if (scif_unregister(e->epd, (off_t)c.off, c.len))
				res = (uint32_t)errno;
			break;
		default:
			TC_FAIL("bad command %u", c.op);
		}
		tc_send_all(s[0].epd, &res, sizeof(res));
	}
	/* Close with windows registered: everything is released, after the
	 * client's RMAs into them (test_close_in_flight) are done. */
	for (i = 1; i >= 0; i--)
		TC_CHECK(scif_close(s[i].epd) == 0, "close");
	TC_CHECK(tc_verify(s[1].mem + CL_HALF, CL_HALF, CL_SEED + 1, 0) < 0,
		 "server: data written while it closed is wrong");
	scif_close(lep);
	printf("server: ok\n");
	return 0;
}

/* ---------------- client ---------------- */

static scif_epd_t cep[2];
static uint8_t *lmem, *lmem2;
static pthread_mutex_t cmd_lock = PTHREAD_MUTEX_INITIALIZER;

static uint32_t cmd(uint32_t op, uint32_t ep, uint64_t off, uint64_t len,
		    uint64_t seed)
{
	struct cmd c = { op, ep, off, len, seed };
	uint32_t res;

	pthread_mutex_lock(&cmd_lock);
	tc_send_all(cep[0], &c, sizeof(c));
	tc_recv_all(cep[0], &res, sizeof(res));
	pthread_mutex_unlock(&cmd_lock);
	return res;
}

static void verify_remote(uint32_t ep, uint64_t off, uint64_t len,
			  uint64_t seed, const char *what)
{
	TC_CHECK(cmd(CMD_VERIFY, ep, off, len, seed) == 0,
		 "%s: remote data wrong (%llu bytes at 0x%llx)", what,
		 (unsigned long long)len, (unsigned long long)off);
}

static uint8_t *laddr(uint64_t off)
{
	return lmem + (off - L0);
}

/* Offsets that put the range across the window split on both sides. */
static void place(uint64_t n, uint64_t *lo, uint64_t *ro)
{
	*ro = n / 2 + 13 <= RSPLIT ? R0 + RSPLIT - n / 2 - 13 : R0 + 29;
	*lo = n / 2 + 7 <= LSPLIT ? L0 + LSPLIT - n / 2 - 7 : L0 + 13;
}

static void one_size(uint64_t n, uint64_t seed)
{
	uint64_t lo, ro;
	uint8_t *v;
	int mark;

	place(n, &lo, &ro);
	/* writeto, SYNC */
	tc_fill(laddr(lo), n, seed, 0);
	TC_CHECK(scif_writeto(cep[0], (off_t)lo, n, (off_t)ro, SCIF_RMA_SYNC) ==
			 0,
		 "writeto %llu", (unsigned long long)n);
	verify_remote(0, ro, n, seed, "writeto SYNC");
	/* readfrom, SYNC */
	TC_CHECK(cmd(CMD_FILL, 0, ro, n, seed + 1) == 0, "fill");
	TC_CHECK(scif_readfrom(cep[0], (off_t)lo, n, (off_t)ro, SCIF_RMA_SYNC) ==
			 0,
		 "readfrom %llu", (unsigned long long)n);
	TC_CHECK(tc_verify(laddr(lo), n, seed + 1, 0) < 0,
		 "readfrom SYNC: local data wrong (%llu bytes)",
		 (unsigned long long)n);
	if (n == BIG)
		return;
	/* writeto without SYNC, then a fence */
	tc_fill(laddr(lo), n, seed + 2, 0);
	TC_CHECK(scif_writeto(cep[0], (off_t)lo, n, (off_t)ro, 0) == 0,
		 "writeto async");
	TC_CHECK(scif_fence_mark(cep[0], SCIF_FENCE_INIT_SELF, &mark) == 0,
		 "mark");
	TC_CHECK(scif_fence_wait(cep[0], mark) == 0, "wait");
	verify_remote(0, ro, n, seed + 2, "writeto + fence");
	/* readfrom without SYNC, ORDERED, then a fence */
	TC_CHECK(cmd(CMD_FILL, 0, ro, n, seed + 3) == 0, "fill");
	TC_CHECK(scif_readfrom(cep[0], (off_t)lo, n, (off_t)ro,
			       SCIF_RMA_ORDERED) == 0,
		 "readfrom ordered");
	TC_CHECK(scif_fence_mark(cep[0], SCIF_FENCE_INIT_SELF, &mark) == 0 &&
			 scif_fence_wait(cep[0], mark) == 0,
		 "fence");
	TC_CHECK(tc_verify(laddr(lo), n, seed + 3, 0) < 0,
		 "readfrom ordered: local data wrong");
	/* v-ops from unregistered memory (bounce buffers or on the fly) */
	v = malloc(n + 64);
	TC_CHECK(v, "malloc");
	tc_fill(v + 5, n, seed + 4, 0);
	TC_CHECK(scif_vwriteto(cep[0], v + 5, n, (off_t)ro, SCIF_RMA_SYNC) == 0,
		 "vwriteto");
	verify_remote(0, ro, n, seed + 4, "vwriteto");
	TC_CHECK(cmd(CMD_FILL, 0, ro, n, seed + 5) == 0, "fill");
	memset(v, 0, n + 64);
	TC_CHECK(scif_vreadfrom(cep[0], v + 3, n, (off_t)ro, SCIF_RMA_SYNC) ==
			 0,
		 "vreadfrom");
	TC_CHECK(tc_verify(v + 3, n, seed + 5, 0) < 0 && v[2] == 0 &&
			 v[3 + n] == 0,
		 "vreadfrom: data wrong or written outside the range");
	free(v);
}

static void test_sizes(void)
{
	static const uint64_t sizes[] = { 1, 63, 64, 4095, 4096, MiB + 17, BIG };
	size_t i;
	double t0;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		t0 = tc_now();
		one_size(sizes[i], 100 * i + 7);
		printf("size %llu: ok (%.1f s)\n", (unsigned long long)sizes[i],
		       tc_now() - t0);
	}
}

static void test_cache(void)
{
	struct scif_regcache_stats a, b, c;
	int ret;
	size_t n = MiB;
	uint8_t *buf = map_big(n);
	uint64_t ro = R0 + 3 * MiB;

	tc_fill(buf, n, 501, 0);
	TC_CHECK(scif_vwriteto(cep[0], buf, n, (off_t)ro,
			       SCIF_RMA_USECACHE | SCIF_RMA_SYNC) == 0,
		 "vwriteto cached");
	verify_remote(0, ro, n, 501, "cached vwriteto 1");
	ret = scif__rma_cache_stats(cep[0], &a);
	if (ret == -EOPNOTSUPP) {
		/* registering costs nothing on this provider (shm): there is
		 * no cache, and the data checks above are the test */
		printf("no registration cache on this provider: counters not "
		       "checked\n");
		munmap(buf, n);
		return;
	}
	TC_CHECK(ret == 0, "cache stats (%d)", ret);
	tc_fill(buf, n, 502, 0);
	TC_CHECK(scif_vwriteto(cep[0], buf, n, (off_t)ro,
			       SCIF_RMA_USECACHE | SCIF_RMA_SYNC) == 0,
		 "vwriteto cached 2");
	verify_remote(0, ro, n, 502, "cached vwriteto 2");
	TC_CHECK(scif__rma_cache_stats(cep[0], &b) == 0, "cache stats");
	TC_CHECK(b.hits == a.hits + 1 && b.misses == a.misses,
		 "second vwriteto was not a cache hit (hits %llu->%llu, "
		 "misses %llu->%llu)",
		 (unsigned long long)a.hits, (unsigned long long)b.hits,
		 (unsigned long long)a.misses, (unsigned long long)b.misses);
	/* New pages at the same address: the cache must not use the old. */
	TC_CHECK(munmap(buf, n) == 0, "munmap");
	TC_CHECK(mmap(buf, n, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1,
		      0) == buf,
		 "mmap at the same address");
	tc_fill(buf, n, 503, 0);
	TC_CHECK(scif_vwriteto(cep[0], buf, n, (off_t)ro,
			       SCIF_RMA_USECACHE | SCIF_RMA_SYNC) == 0,
		 "vwriteto cached 3");
	verify_remote(0, ro, n, 503, "cached vwriteto after munmap+mmap");
	TC_CHECK(scif__rma_cache_stats(cep[0], &c) == 0, "cache stats");
	TC_CHECK(c.invalidations > b.invalidations && c.misses == b.misses + 1,
		 "munmap did not invalidate (inval %llu->%llu)",
		 (unsigned long long)b.invalidations,
		 (unsigned long long)c.invalidations);
	/* vreadfrom hits the same cache */
	TC_CHECK(cmd(CMD_FILL, 0, ro, n, 504) == 0, "fill");
	TC_CHECK(scif_vreadfrom(cep[0], buf, n, (off_t)ro,
				SCIF_RMA_USECACHE | SCIF_RMA_SYNC) == 0,
		 "vreadfrom cached");
	TC_CHECK(tc_verify(buf, n, 504, 0) < 0, "cached vreadfrom data");
	munmap(buf, n);
	printf("cache: hits %llu misses %llu invalidations %llu: ok\n",
	       (unsigned long long)c.hits, (unsigned long long)c.misses,
	       (unsigned long long)c.invalidations);
}

static void test_errors(void)
{
	uint8_t *ro = map_big(64 * 1024);
	uint8_t b[64];
	off_t po;

	/* ranges outside windows, either side, or partly registered */
	TC_ERRNO(scif_writeto(cep[0], L0, 20, R0 + SPAN - 10, 0), ENXIO);
	TC_ERRNO(scif_readfrom(cep[0], L0, 20, R0 + SPAN - 10, 0), ENXIO);
	TC_ERRNO(scif_writeto(cep[0], L0 + SPAN - 10, 20, R0, 0), ENXIO);
	TC_ERRNO(scif_writeto(cep[0], L0 - 4096, 8192, R0, 0), ENXIO);
	TC_ERRNO(scif_writeto(cep[0], L0, 8192, R0 - 4096, 0), ENXIO);
	TC_ERRNO(scif_writeto(cep[0], -1, 1, R0, 0), ENXIO);
	TC_ERRNO(scif_readfrom(cep[0], L0, 1, -4096, 0), ENXIO);
	TC_ERRNO(scif_vwriteto(cep[0], b, sizeof(b), 0x7000000000ll, 0), ENXIO);
	/* protection */
	TC_ERRNO(scif_writeto(cep[0], L0, 4096, RRO, SCIF_RMA_SYNC), EACCES);
	TC_ERRNO(scif_vwriteto(cep[0], b, 8, RRO, SCIF_RMA_SYNC), EACCES);
	TC_CHECK(scif_readfrom(cep[0], L0, 4096, RRO, SCIF_RMA_SYNC) == 0,
		 "read of a read-only window");
	TC_CHECK(tc_verify(laddr(L0), 4096, 0xabc, 0) < 0, "read-only data");
	tc_fill(ro, 64 * 1024, 0xdef, 0);
	reg_fixed(cep[0], ro, 64 * 1024, LRO, SCIF_PROT_READ);
	TC_ERRNO(scif_readfrom(cep[0], LRO, 4096, R0, SCIF_RMA_SYNC), EACCES);
	TC_CHECK(scif_writeto(cep[0], LRO, 4096, R0, SCIF_RMA_SYNC) == 0,
		 "write from a read-only window");
	verify_remote(0, R0, 4096, 0xdef, "write from read-only window");
	/* flags */
	TC_ERRNO(scif_writeto(cep[0], L0, 1, R0, 0x100), EINVAL);
	TC_ERRNO(scif_vreadfrom(cep[0], b, 1, R0, 0x40), EINVAL);
	/* register */
	TC_ERRNO(scif_register(cep[0], lmem + 4096, 8192, L0 + 4096,
			       SCIF_PROT_READ, SCIF_MAP_FIXED),
		 EADDRINUSE);
	TC_ERRNO(scif_register(cep[0], lmem + 1, 4096, 0, SCIF_PROT_READ, 0),
		 EINVAL);
	TC_ERRNO(scif_register(cep[0], lmem, 4095, 0, SCIF_PROT_READ, 0),
		 EINVAL);
	TC_ERRNO(scif_register(cep[0], lmem, 0, 0, SCIF_PROT_READ, 0), EINVAL);
	TC_ERRNO(scif_register(cep[0], lmem, 4096, 0, 0, 0), EINVAL);
	TC_ERRNO(scif_register(cep[0], lmem, 4096, 0, 4, 0), EINVAL);
	TC_ERRNO(scif_register(cep[0], lmem, 4096, 0, SCIF_PROT_READ, 0x1),
		 EINVAL);
	TC_ERRNO(scif_register(cep[0], lmem, 4096, 100, SCIF_PROT_READ,
			       SCIF_MAP_FIXED),
		 EINVAL);
	TC_ERRNO(scif_register(cep[0], lmem, 4096, -4096, SCIF_PROT_READ, 0),
		 EINVAL);
	/* automatic placement: page aligned, clear of every window */
	po = scif_register(cep[0], lmem, 8192, 0, SCIF_PROT_READ, 0);
	TC_CHECK(po != SCIF_REGISTER_FAILED && po % 4096 == 0 &&
			 (po + 8192 <= (off_t)L0 || po >= (off_t)(L0 + SPAN)) &&
			 (po + 8192 <= (off_t)LRO ||
			  po >= (off_t)(LRO + 65536)),
		 "automatic offset 0x%llx", (unsigned long long)po);
	/* a hint is taken as where to start looking */
	TC_CHECK(scif_register(cep[0], lmem, 4096, L0 + 4096, SCIF_PROT_READ,
			       0) >= (off_t)(L0 + SPAN),
		 "hinted offset overlaps");
	/* unregister */
	TC_ERRNO(scif_unregister(cep[0], L0, 4096), EINVAL); /* part of W0 */
	TC_ERRNO(scif_unregister(cep[0], LRO - 4096, 65536 + 4096), ENXIO);
	TC_ERRNO(scif_unregister(cep[0], 0x7000000000ll, 4096), ENXIO);
	TC_ERRNO(scif_unregister(cep[0], -4096, 4096), EINVAL);
	TC_CHECK(scif_unregister(cep[0], po, 8192) == 0, "unregister");
	TC_ERRNO(scif_unregister(cep[0], po, 8192), ENXIO);
	TC_CHECK(scif_unregister(cep[0], LRO, 65536) == 0, "unregister RO");
	munmap(ro, 64 * 1024);
	printf("errors: ok\n");
}

/* Unregister with RMAs in flight, our window and the peer's. */
static void test_unregister_busy(void)
{
	size_t n = 8 * MiB;
	uint8_t *t = map_big(n);
	int i;

	/* ours: the source of a write still in flight */
	tc_fill(t, n, 601, 0);
	reg_fixed(cep[0], t, n, 0x60000000, SCIF_PROT_READ);
	TC_CHECK(scif_writeto(cep[0], 0x60000000, n, RU, 0) == 0, "writeto");
	TC_CHECK(scif_unregister(cep[0], 0x60000000, n) == 0, "unregister");
	verify_remote(0, RU, n, 601, "write whose source was unregistered");
	munmap(t, n);
	/* the peer's: its unregister waits for our writes into it */
	for (i = 0; i < 4; i++) {
		tc_fill(laddr(L0 + (uint64_t)i * n / 2), n / 2, 610 + i, 0);
		TC_CHECK(scif_writeto(cep[0], L0 + i * n / 2, n / 2,
				      RU + i * n / 2, 0) == 0,
			 "writeto %d", i);
	}
	TC_CHECK(cmd(CMD_UNREG, 0, RU, 16 * MiB, 0) == 0, "peer unregister");
	/* (the server verified nothing yet; its memory stays mapped) */
	TC_ERRNO(scif_writeto(cep[0], L0, 4096, RU, SCIF_RMA_SYNC), ENXIO);
	printf("unregister with RMAs in flight: ok\n");
}

/* The kernel API's pinning calls, in a process. */
static void test_pinned(void)
{
	size_t n = 64 * 1024;
	uint8_t *pg = map_big(n);
	scif_pinned_pages_t pp, pp2;

	TC_ERRNO(scif_pin_pages(pg + 1, n, SCIF_PROT_READ, 0, &pp), EINVAL);
	TC_ERRNO(scif_pin_pages(pg, n - 1, SCIF_PROT_READ, 0, &pp), EINVAL);
	TC_ERRNO(scif_pin_pages(pg, n, 0, 0, &pp), EINVAL);
	TC_ERRNO(scif_pin_pages(pg, n, SCIF_PROT_READ, SCIF_MAP_KERNEL, &pp),
		 EINVAL);
	TC_CHECK(scif_pin_pages(pg, n, SCIF_PROT_READ | SCIF_PROT_WRITE, 0,
				&pp) == 0,
		 "pin");
	TC_ERRNO(scif_register_pinned_pages(cep[0], pp, 0x70000000 + 100,
					    SCIF_MAP_FIXED),
		 EINVAL);
	TC_ERRNO(scif_register_pinned_pages(cep[0], pp, L0, SCIF_MAP_FIXED),
		 EADDRINUSE);
	TC_CHECK(scif_register_pinned_pages(cep[0], pp, 0x70000000,
					    SCIF_MAP_FIXED) == 0x70000000,
		 "register pinned");
	/* unpinning stops new windows, not the existing one */
	TC_CHECK(scif_unpin_pages(pp) == 0, "unpin");
	TC_ERRNO(scif_unpin_pages(pp), EINVAL);
	TC_ERRNO(scif_register_pinned_pages(cep[0], pp, 0, 0), EINVAL);
	tc_fill(pg, n, 801, 0);
	TC_CHECK(scif_writeto(cep[0], 0x70000000, n, R0, SCIF_RMA_SYNC) == 0,
		 "writeto from a pinned window");
	verify_remote(0, R0, n, 801, "pinned window");
	TC_CHECK(scif_readfrom(cep[0], 0x70000000, n, R0 + MiB,
			       SCIF_RMA_SYNC) == 0,
		 "readfrom into a pinned window");
	TC_CHECK(scif_unregister(cep[0], 0x70000000, n) == 0, "unregister");
	/* a handle whose last window is gone is invalid */
	TC_ERRNO(scif_register_pinned_pages(cep[0], pp, 0, 0), EINVAL);
	/* two windows from one pinned set, automatic offsets */
	TC_CHECK(scif_pin_pages(pg, n, SCIF_PROT_READ, 0, &pp2) == 0, "pin 2");
	{
		off_t a = scif_register_pinned_pages(cep[0], pp2, 0, 0);
		off_t b = scif_register_pinned_pages(cep[0], pp2, 0, 0);

		TC_CHECK(a >= 0 && b >= 0 && a != b, "two windows");
		TC_CHECK(scif_unpin_pages(pp2) == 0, "unpin 2");
		TC_CHECK(scif_unregister(cep[0], a, n) == 0 &&
				 scif_unregister(cep[0], b, n) == 0,
			 "unregister both");
	}
	munmap(pg, n);
	printf("pinned pages: ok\n");
}

struct worker {
	int ep, idx;
};

static void *rma_worker(void *arg)
{
	struct worker *w = arg;
	uint64_t n = MiB, lo, ro;
	uint8_t *base = w->ep ? lmem2 : lmem;
	int r;

	for (r = 0; r < 8; r++) {
		lo = L0 + (uint64_t)w->idx * n;
		ro = R0 + (uint64_t)w->idx * n;
		tc_fill(base + (lo - L0), n, 700 + w->idx * 10 + r, 0);
		TC_CHECK(scif_writeto(cep[w->ep], (off_t)lo, n, (off_t)ro,
				      SCIF_RMA_SYNC) == 0,
			 "worker writeto");
		verify_remote((uint32_t)w->ep, ro, n, 700 + w->idx * 10 + r,
			      "concurrent writeto");
	}
	return NULL;
}

static void test_threads(void)
{
	struct worker w[6];
	pthread_t th[6];
	int i;

	for (i = 0; i < 6; i++) {
		w[i].ep = i >= 4;	     /* 4 on the first, 2 on the second */
		w[i].idx = i >= 4 ? i - 4 : i;
		TC_CHECK(!pthread_create(&th[i], NULL, rma_worker, &w[i]),
			 "thread");
	}
	for (i = 0; i < 6; i++)
		pthread_join(th[i], NULL);
	printf("concurrent RMAs on one and two endpoints: ok\n");
}

/*
 * Windows come and go while RMAs use them.  Each churn thread registers its
 * window, writes it to the peer without SYNC, unregisters it at once (which
 * must wait for those writes) and has the peer check the data; the threads
 * unregister concurrently, so each must release only its own windows.  A
 * prober meanwhile writes from the churning windows: every call either
 * moves data or fails with ENXIO, and the connection survives.
 */
#define CH_THREADS 3
#define CH_ROUNDS 8
#define CH_LEN (8 * MiB)
#define CH_OFF(i) (0xA0000000ull + (uint64_t)(i) * 16 * MiB)
#define CH_REMOTE(i) (R0 + 200 * MiB + (uint64_t)(i) * CH_LEN)
#define CH_PROBE (R0 + 240 * MiB)

struct churn {
	int idx;
	uint8_t *mem;
};

static void *churn_worker(void *arg)
{
	struct churn *c = arg;
	uint64_t off = CH_OFF(c->idx), half = CH_LEN / 2;
	int r;

	for (r = 0; r < CH_ROUNDS; r++) {
		uint64_t seed = 900 + (uint64_t)c->idx * 100 + (uint64_t)r;

		tc_fill(c->mem, CH_LEN, seed, 0);
		reg_fixed(cep[0], c->mem, CH_LEN, off,
			  SCIF_PROT_READ | SCIF_PROT_WRITE);
		TC_CHECK(scif_writeto(cep[0], (off_t)off, half,
				      (off_t)CH_REMOTE(c->idx), 0) == 0,
			 "churn writeto");
		TC_CHECK(scif_writeto(cep[0], (off_t)(off + half), half,
				      (off_t)(CH_REMOTE(c->idx) + half), 0) == 0,
			 "churn writeto");
		TC_CHECK(scif_unregister(cep[0], (off_t)off, CH_LEN) == 0,
			 "churn unregister");
		verify_remote(0, CH_REMOTE(c->idx), CH_LEN, seed,
			      "writes whose window was unregistered at once");
	}
	return NULL;
}

static void *churn_prober(void *arg)
{
	int *stop = arg, i;
	unsigned long moved = 0, gone = 0;

	while (!__atomic_load_n(stop, __ATOMIC_ACQUIRE)) {
		for (i = 0; i < CH_THREADS; i++) {
			int r = scif_writeto(cep[0], (off_t)(CH_OFF(i) + 4096),
					     4096, (off_t)CH_PROBE, 0);

			TC_CHECK(r == 0 || errno == ENXIO,
				 "RMA from a churning window: %s",
				 strerror(errno));
			if (r == 0)
				moved++;
			else
				gone++;
		}
		usleep(200);
	}
	printf("churn prober: %lu RMAs moved, %lu refused with ENXIO\n",
	       moved, gone);
	return NULL;
}

static void test_churn(void)
{
	struct churn c[CH_THREADS];
	pthread_t th[CH_THREADS], pr;
	int i, stop = 0;

	for (i = 0; i < CH_THREADS; i++) {
		c[i].idx = i;
		c[i].mem = map_big(CH_LEN);
	}
	TC_CHECK(!pthread_create(&pr, NULL, churn_prober, &stop), "thread");
	for (i = 0; i < CH_THREADS; i++)
		TC_CHECK(!pthread_create(&th[i], NULL, churn_worker, &c[i]),
			 "thread");
	for (i = 0; i < CH_THREADS; i++)
		pthread_join(th[i], NULL);
	__atomic_store_n(&stop, 1, __ATOMIC_RELEASE);
	pthread_join(pr, NULL);
	/* the connection still works */
	tc_fill(laddr(L0), MiB, 990, 0);
	TC_CHECK(scif_writeto(cep[0], L0, MiB, R0 + 3 * MiB, SCIF_RMA_SYNC) == 0,
		 "writeto after the churn");
	verify_remote(0, R0 + 3 * MiB, MiB, 990, "writeto after the churn");
	for (i = 0; i < CH_THREADS; i++)
		munmap(c[i].mem, CH_LEN);
	printf("windows registered and unregistered under concurrent RMAs: ok\n");
}

/*
 * The server closes while our RMAs into its second endpoint's window are in
 * flight: its scif_close must let them complete first.  The local signal is
 * stored only if every one of them succeeded; the server checks the written
 * half of its window after scif_close returns.
 */
static void test_close_in_flight(void)
{
	volatile uint64_t *flag = (volatile uint64_t *)(lmem2 + CL_FLAG);
	struct cmd q = { .op = CMD_QUIT };
	double t0;
	int i;

	TC_CHECK(cmd(CMD_FILL, 1, R0, CL_HALF, CL_SEED) == 0, "fill");
	tc_fill(lmem2 + CL_HALF, CL_HALF, CL_SEED + 1, 0);
	*flag = 0;
	for (i = 0; i < CL_ROUNDS; i++) {
		TC_CHECK(scif_readfrom(cep[1], L0, CL_HALF, R0, 0) == 0,
			 "readfrom before close");
		TC_CHECK(scif_writeto(cep[1], L0 + CL_HALF, CL_HALF,
				      R0 + CL_HALF, 0) == 0,
			 "writeto before close");
	}
	TC_CHECK(scif_fence_signal(cep[1], L0 + CL_FLAG, 1, 0, 0,
				   SCIF_FENCE_INIT_SELF | SCIF_SIGNAL_LOCAL) ==
			 0,
		 "signal");
	tc_send_all(cep[0], &q, sizeof(q)); /* the server closes now */
	for (t0 = tc_now(); !__atomic_load_n(flag, __ATOMIC_ACQUIRE);
	     usleep(1000))
		TC_CHECK(tc_now() - t0 < 120,
			 "RMAs in flight when the peer closed never completed");
	TC_CHECK(tc_verify(lmem2, CL_HALF, CL_SEED, 0) < 0,
		 "data read while the peer closed is wrong");
	printf("RMAs in flight across the peer's scif_close: ok\n");
}

static int client(uint16_t node, uint16_t port)
{
	struct scif_pollepd pe;
	char r;
	int i;

	for (i = 0; i < 2; i++)
		cep[i] = tc_connect(node, port, 60);
	lmem = map_big(SPAN);
	lmem2 = map_big(4 * MiB);
	reg_fixed(cep[0], lmem, LSPLIT, L0, SCIF_PROT_READ | SCIF_PROT_WRITE);
	reg_fixed(cep[0], lmem + LSPLIT, SPAN - LSPLIT, L0 + LSPLIT,
		  SCIF_PROT_READ | SCIF_PROT_WRITE);
	reg_fixed(cep[1], lmem2, 4 * MiB, L0, SCIF_PROT_READ | SCIF_PROT_WRITE);
	tc_recv_all(cep[0], &r, 1); /* the server's windows are known */

	test_errors();
	test_sizes();
	test_cache();
	test_pinned();
	test_threads();
	test_churn();
	test_unregister_busy();

	test_close_in_flight();
	pe.epd = cep[0];
	pe.events = POLLIN;
	for (i = 0; i < 100; i++) {
		TC_CHECK(scif_poll(&pe, 1, 10000) >= 0, "poll");
		if (pe.revents & POLLHUP)
			break;
		usleep(100000);
	}
	TC_CHECK(pe.revents & POLLHUP, "no hang-up after the server closed");
	TC_ERRNO(scif_writeto(cep[0], L0, 4096, R0, SCIF_RMA_SYNC), ECONNRESET);
	TC_ERRNO(scif_readfrom(cep[0], L0, 4096, R0, 0), ECONNRESET);
	TC_ERRNO(scif_vwriteto(cep[0], lmem, 4096, R0, 0), ECONNRESET);
	TC_ERRNO(scif_vreadfrom(cep[0], lmem, 4096, R0, SCIF_RMA_SYNC),
		 ECONNRESET);
	TC_ERRNO(scif_vwriteto(cep[0], lmem, 8 * MiB, R0, SCIF_RMA_USECACHE),
		 ECONNRESET);
	TC_ERRNO(scif_register(cep[0], lmem, 4096, 0, SCIF_PROT_READ, 0),
		 ECONNRESET);
	TC_ERRNO(scif_unregister(cep[0], L0, LSPLIT), ECONNRESET);
	for (i = 0; i < 2; i++)
		TC_CHECK(scif_close(cep[i]) == 0, "close");
	printf("client: ok\n");
	return 0;
}

int main(int argc, char **argv)
{
	alarm(1500);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 3 && !strcmp(argv[1], "server"))
		return server((uint16_t)atoi(argv[2]));
	if (argc == 4 && !strcmp(argv[1], "client"))
		return client((uint16_t)atoi(argv[2]), (uint16_t)atoi(argv[3]));
	fprintf(stderr, "usage: t_rma server PORT | client NODE PORT\n");
	return 2;
}
