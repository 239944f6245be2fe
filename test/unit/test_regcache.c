/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the registration cache (libscif/regcache.c), natively: the
 * reg/dereg callbacks are fakes that record every call and keep, per page,
 * a checksum of the bytes that were there when the range was "registered",
 * so a test can tell which registration (old pages or new ones) a get
 * returned.  Fake registrations are never freed before the test ends, so a
 * use after deregistration is seen as a dead handle, not a crash.
 *
 * The invalidation tests run with the userfaultfd in both modes the library
 * uses (handling kernel faults, and UFFD_USER_MODE_ONLY), selected through
 * SCIF_REGCACHE_MONITOR; they skip when the machine has no userfaultfd.
 * Tests that could hang run in a child process bounded by alarm().
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "regcache.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static size_t pg;

/* ---- fake provider ---- */

struct fake_mr {
	struct fake_mr *next;
	uintptr_t addr;
	size_t len;
	uint64_t *sums; /* per page, at registration; NULL if not touched */
	int dead;	/* deregistered (atomic) */
};

struct fake {
	pthread_mutex_t lock;
	unsigned regs, deregs, double_deregs, bad_deregs;
	int fail_reg;  /* next reg returns this */
	bool no_touch; /* do not read the pages (a provider that does not pin) */
	bool zap_first; /* MADV_DONTNEED the range, then read it */
	int punch_fd;	/* >= 0: punch a hole over the range in this memfd, */
	char *punch_base; /* mapped here, then read it */
	struct fake_mr *all;
};

/* Reads whole pages, as a device would: allocator redzones included. */
__attribute__((no_sanitize_address, no_sanitize_thread))
static uint64_t page_sum(const unsigned char *p)
{
	const volatile uint64_t *w = (const volatile uint64_t *)p;
	uint64_t s = 0;
	size_t i;

	for (i = 0; i < pg / 8; i++)
		s = s * 31 + w[i];
	return s;
}

/* Checksum of a page filled with byte b. */
static uint64_t sum_of(unsigned char b)
{
	uint64_t w = 0x0101010101010101ull * b, s = 0;
	size_t i;

	for (i = 0; i < pg / 8; i++)
		s = s * 31 + w;
	return s;
}

static int fake_reg(void *ctx, void *addr, size_t len, void **handle)
{
	struct fake *fk = ctx;
	struct fake_mr *mr;
	size_t i;
	int ret;

	pthread_mutex_lock(&fk->lock);
	ret = fk->fail_reg;
	fk->fail_reg = 0;
	pthread_mutex_unlock(&fk->lock);
	if (ret)
		return ret;
	if ((uintptr_t)addr % pg || len % pg || !len)
		return -EINVAL; /* the cache promised page alignment */
	mr = calloc(1, sizeof(*mr));
	if (!mr)
		return -ENOMEM;
	mr->addr = (uintptr_t)addr;
	mr->len = len;
	/* Something zaps the pages while they are being registered: they are
	 * watched and missing when the provider touches them. */
	if (fk->zap_first && madvise(addr, len, MADV_DONTNEED)) {
		free(mr);
		return -errno;
	}
	if (fk->punch_fd >= 0 &&
	    fallocate(fk->punch_fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      (char *)addr - fk->punch_base, (off_t)len)) {
		free(mr);
		return -errno;
	}
	if (!fk->no_touch) {
		mr->sums = malloc(len / pg * sizeof(*mr->sums));
		if (!mr->sums) {
			free(mr);
			return -ENOMEM;
		}
		for (i = 0; i < len / pg; i++)
			mr->sums[i] = page_sum((unsigned char *)addr + i * pg);
	}
	pthread_mutex_lock(&fk->lock);
	mr->next = fk->all;
	fk->all = mr;
	fk->regs++;
	pthread_mutex_unlock(&fk->lock);
	*handle = mr;
	return 0;
}

static void fake_dereg(void *ctx, void *handle)
{
	struct fake *fk = ctx;
	struct fake_mr *mr = handle, *m;

	pthread_mutex_lock(&fk->lock);
	for (m = fk->all; m && m != mr; m = m->next)
		;
	if (!m)
		fk->bad_deregs++;
	else if (__atomic_exchange_n(&mr->dead, 1, __ATOMIC_SEQ_CST))
		fk->double_deregs++;
	fk->deregs++;
	pthread_mutex_unlock(&fk->lock);
}

static const struct scif_regcache_ops fake_ops = {
	.reg = fake_reg,
	.dereg = fake_dereg,
};

static void fake_init(struct fake *fk)
{
	memset(fk, 0, sizeof(*fk));
	fk->punch_fd = -1;
	pthread_mutex_init(&fk->lock, NULL);
}

static void fake_fini(struct fake *fk)
{
	while (fk->all) {
		struct fake_mr *m = fk->all;

		fk->all = m->next;
		free(m->sums);
		free(m);
	}
	pthread_mutex_destroy(&fk->lock);
}

static bool mr_dead(struct fake_mr *mr)
{
	return __atomic_load_n(&mr->dead, __ATOMIC_SEQ_CST);
}

/* The registration saw byte b on the page holding addr. */
static bool mr_saw(const struct fake_mr *mr, const void *addr, unsigned char b)
{
	uintptr_t a = (uintptr_t)addr;

	if (!mr->sums || a < mr->addr || a >= mr->addr + mr->len)
		return false;
	return mr->sums[(a - mr->addr) / pg] == sum_of(b);
}

/* ---- environment helpers ---- */

/* Is the page at addr watched by a userfaultfd (VmFlags "um")?  1, 0, or
 * -1 when addr is not mapped. */
static int uffd_watched(const void *addr)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	uintptr_t a = (uintptr_t)addr;
	char *line = NULL;
	size_t cap = 0;
	bool in = false;
	int ret = -1;

	if (!f)
		return -1;
	while (getline(&line, &cap, f) > 0) {
		unsigned long s, e;
		char sp;

		if (sscanf(line, "%lx-%lx%c", &s, &e, &sp) == 3 && sp == ' ') {
			in = a >= s && a < e;
			continue;
		}
		if (in && !strncmp(line, "VmFlags:", 8)) {
			char *tok, *save = NULL;

			ret = 0;
			for (tok = strtok_r(line + 8, " \n", &save); tok;
			     tok = strtok_r(NULL, " \n", &save))
				if (!strcmp(tok, "um"))
					ret = 1;
			break;
		}
	}
	free(line);
	fclose(f);
	return ret;
}

static char *map_pages(size_t n)
{
	void *p = mmap(NULL, n * pg, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	assert_true(p != MAP_FAILED);
	return p;
}

/* Replace [p, p+n pages) by fresh anonymous memory filled with b. */
static void remap_fixed(char *p, size_t n, unsigned char b)
{
	void *q = mmap(p, n * pg, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);

	assert_ptr_equal(q, p);
	memset(p, b, n * pg);
}

/* ---- fixture ---- */

struct fx {
	struct fake fk;
	struct scif_regcache *rc;
};

static const char MODE_AUTO[] = "1", MODE_USER[] = "user", MODE_OFF[] = "0";

static struct scif_regcache *make_cache(struct fake *fk, const char *mode,
					size_t max)
{
	struct scif_regcache *rc = NULL;
	int ret;

	setenv("SCIF_REGCACHE_MONITOR", mode, 1);
	ret = scif__regcache_create(&fake_ops, fk, max, &rc);
	unsetenv("SCIF_REGCACHE_MONITOR");
	return ret ? NULL : rc;
}

static int setup(void **state)
{
	const char *mode = *state ? *state : MODE_AUTO;
	struct fx *f = calloc(1, sizeof(*f));

	if (!f)
		return -1;
	fake_init(&f->fk);
	f->rc = make_cache(&f->fk, mode, SIZE_MAX);
	if (!f->rc) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

/* Every registration was deregistered exactly once. */
static int teardown(void **state)
{
	struct fx *f = *state;
	int ret = 0;

	scif__regcache_destroy(f->rc);
	if (f->fk.regs != f->fk.deregs || f->fk.double_deregs ||
	    f->fk.bad_deregs) {
		fprintf(stderr,
			"teardown: %u regs, %u deregs, %u double, %u bogus\n",
			f->fk.regs, f->fk.deregs, f->fk.double_deregs,
			f->fk.bad_deregs);
		ret = -1;
	}
	fake_fini(&f->fk);
	free(f);
	return ret;
}

#define NEED_MONITOR(f)                                                      \
	do {                                                                 \
		if (!scif__regcache_monitored((f)->rc)) {                    \
			print_message("no userfaultfd on this machine\n");   \
			skip();                                              \
		}                                                            \
	} while (0)

static struct scif_regcache_stats stats(struct scif_regcache *rc)
{
	struct scif_regcache_stats st;

	scif__regcache_stats(rc, &st);
	return st;
}

/* get that must succeed and cover [addr, addr+len). */
static struct fake_mr *get_ok(struct scif_regcache *rc, const void *addr,
			      size_t len, struct scif_regcache_entry **e)
{
	void *h = NULL, *base = NULL, *eb;
	size_t el;
	struct fake_mr *mr;
	int ret = scif__regcache_get(rc, (void *)addr, len, e, &h, &base);

	if (ret)
		fail_msg("get(%p, %zu) = %d", addr, len, ret);
	mr = h;
	scif__regcache_entry_range(*e, &eb, &el);
	assert_ptr_equal(eb, base);
	assert_true((uintptr_t)base <= (uintptr_t)addr);
	assert_true((uintptr_t)base + el >= (uintptr_t)addr + len);
	assert_int_equal(mr->addr, (uintptr_t)base);
	assert_int_equal(mr->len, el);
	assert_false(mr_dead(mr));
	return mr;
}

/* get + put, returning the registration used. */
static struct fake_mr *touch(struct scif_regcache *rc, const void *addr,
			     size_t len)
{
	struct scif_regcache_entry *e;
	struct fake_mr *mr = get_ok(rc, addr, len, &e);

	scif__regcache_put(rc, e);
	return mr;
}

/* ---- lookups ---- */

static void test_hit_same_buffer(void **state)
{
	struct fx *f = *state;
	char *buf = map_pages(8);
	struct scif_regcache_entry *e1, *e2;
	struct fake_mr *m1, *m2;
	struct scif_regcache_stats st;

	NEED_MONITOR(f);
	memset(buf, 'a', 8 * pg);
	m1 = get_ok(f->rc, buf, 3 * pg, &e1);
	assert_int_equal(f->fk.regs, 1);
	assert_int_equal(m1->addr, (uintptr_t)buf);
	assert_int_equal(m1->len, 3 * pg);
	assert_true(mr_saw(m1, buf, 'a'));
	scif__regcache_put(f->rc, e1);
	st = stats(f->rc);
	assert_int_equal(st.misses, 1);
	assert_int_equal(st.hits, 0);
	assert_int_equal(st.entries, 1);
	assert_int_equal(st.bytes, 3 * pg);
	/* The range is really watched by the cache's userfaultfd. */
	assert_int_equal(uffd_watched(buf), 1);
	assert_int_equal(uffd_watched(buf + 3 * pg), 0);

	m2 = get_ok(f->rc, buf, 3 * pg, &e2);
	assert_ptr_equal(e2, e1);
	assert_ptr_equal(m2, m1);
	scif__regcache_put(f->rc, e2);
	st = stats(f->rc);
	assert_int_equal(st.hits, 1);
	assert_int_equal(st.misses, 1);
	assert_int_equal(f->fk.regs, 1);
	assert_int_equal(f->fk.deregs, 0);
	munmap(buf, 8 * pg);
}

static void test_subrange_hit(void **state)
{
	struct fx *f = *state;
	char *buf = map_pages(8);
	struct fake_mr *m, *m1;
	struct scif_regcache_stats st;

	NEED_MONITOR(f);
	/* 100 + 2 pages touches pages 0..2: registered page-rounded. */
	m = touch(f->rc, buf + 100, 2 * pg);
	/* Never touched before: get prefaults it, so the provider reading
	 * it did not fault on watched pages. */
	assert_int_equal(stats(f->rc).faults, 0);
	assert_int_equal(stats(f->rc).uncached, 0);
	assert_int_equal(m->addr, (uintptr_t)buf);
	assert_int_equal(m->len, 3 * pg);
	assert_ptr_equal(touch(f->rc, buf + pg + 7, 10), m);
	assert_ptr_equal(touch(f->rc, buf, 3 * pg), m);
	assert_ptr_equal(touch(f->rc, buf + 2 * pg, pg), m);
	assert_ptr_equal(touch(f->rc, buf + 3 * pg - 1, 1), m);
	st = stats(f->rc);
	assert_int_equal(st.hits, 4);
	assert_int_equal(f->fk.regs, 1);
	/* One byte past it is not covered. */
	m1 = touch(f->rc, buf + 3 * pg, 1);
	assert_ptr_not_equal(m1, m);
	assert_int_equal(m1->addr, (uintptr_t)buf + 3 * pg);
	assert_int_equal(f->fk.regs, 2);
	assert_int_equal(stats(f->rc).misses, 2);
	munmap(buf, 8 * pg);
}

static void test_miss_not_covered(void **state)
{
	struct fx *f = *state;
	char *buf = map_pages(8);
	struct fake_mr *a, *b, *u;
	struct scif_regcache_stats st;

	NEED_MONITOR(f);
	a = touch(f->rc, buf, pg);
	b = touch(f->rc, buf + 4 * pg, pg);
	assert_ptr_not_equal(a, b);
	assert_int_equal(stats(f->rc).entries, 2);
	/* Overlaps a but is not covered by it: a new, larger registration,
	 * never a: and a (unused) is replaced by it. */
	u = touch(f->rc, buf, 2 * pg);
	assert_ptr_not_equal(u, a);
	assert_int_equal(u->addr, (uintptr_t)buf);
	assert_int_equal(u->len, 2 * pg);
	assert_true(mr_dead(a));
	assert_false(mr_dead(b));
	st = stats(f->rc);
	assert_int_equal(st.misses, 3);
	assert_int_equal(st.hits, 0);
	assert_int_equal(st.entries, 2);
	assert_int_equal(st.bytes, 3 * pg);
	assert_int_equal(st.invalidations, 0);
	/* Both are hits now. */
	assert_ptr_equal(touch(f->rc, buf + pg, 1), u);
	assert_ptr_equal(touch(f->rc, buf + 4 * pg, pg), b);
	assert_int_equal(f->fk.regs, 3);
	munmap(buf, 8 * pg);
}

static void test_span_two_entries(void **state)
{
	struct fx *f = *state;
	char *buf = map_pages(8);
	struct scif_regcache_entry *ea;
	struct fake_mr *a, *b, *u;
	struct scif_regcache_stats st;

	NEED_MONITOR(f);
	memset(buf, 'x', 8 * pg);
	a = get_ok(f->rc, buf, 2 * pg, &ea); /* held across the merge */
	b = touch(f->rc, buf + 4 * pg, 2 * pg);
	/* [1, 5) overlaps both: one registration covering [0, 6). */
	u = touch(f->rc, buf + pg, 4 * pg);
	assert_ptr_not_equal(u, a);
	assert_ptr_not_equal(u, b);
	assert_int_equal(u->addr, (uintptr_t)buf);
	assert_int_equal(u->len, 6 * pg);
	assert_true(mr_saw(u, buf + 5 * pg, 'x'));
	assert_true(mr_dead(b));  /* unused: gone */
	assert_false(mr_dead(a)); /* still in use */
	st = stats(f->rc);
	assert_int_equal(st.entries, 1);
	assert_int_equal(st.bytes, 6 * pg);
	scif__regcache_put(f->rc, ea);
	assert_true(mr_dead(a));
	/* Anything in [0, 6) now hits the union. */
	assert_ptr_equal(touch(f->rc, buf, 6 * pg), u);
	assert_ptr_equal(touch(f->rc, buf + 3 * pg, 1), u);
	assert_ptr_equal(touch(f->rc, buf + 5 * pg + 10, 20), u);
	assert_int_equal(f->fk.regs, 3);
	assert_int_equal(stats(f->rc).hits, 3);
	assert_int_equal(uffd_watched(buf + 3 * pg), 1);
	munmap(buf, 8 * pg);
}

static void test_bad_args_and_reg_failure(void **state)
{
	struct fx *f = *state;
	char *buf = map_pages(4);
	struct scif_regcache_entry *e;
	void *h, *base;

	assert_int_equal(scif__regcache_get(f->rc, buf, 0, &e, &h, &base),
			 -EINVAL);
	assert_int_equal(scif__regcache_get(f->rc, (void *)(UINTPTR_MAX - 10),
					    100, &e, &h, &base),
			 -EINVAL);
	f->fk.fail_reg = -EFAULT;
	assert_int_equal(scif__regcache_get(f->rc, buf, pg, &e, &h, &base),
			 -EFAULT);
	assert_int_equal(stats(f->rc).entries, 0);
	assert_int_equal(f->fk.regs, 0);
	/* A failed registration leaves no watch behind. */
	assert_int_equal(uffd_watched(buf), 0);
	/* ...and the next one works. */
	touch(f->rc, buf, pg);
	assert_int_equal(f->fk.regs, 1);
	munmap(buf, 4 * pg);
}

/* ---- invalidation ---- */

static void test_munmap_mmap_fixed(void **state)
{
	struct fx *f = *state;
	char *buf = map_pages(4);
	struct fake_mr *m1, *m2;
	struct scif_regcache_stats st;

	NEED_MONITOR(f);
	memset(buf, 'A', 4 * pg);
	m1 = touch(f->rc, buf, 4 * pg);
	assert_true(mr_saw(m1, buf, 'A'));
	assert_int_equal(munmap(buf, 4 * pg), 0);
	/* munmap returns only after the monitor read the event, and it
	 * processes it under the cache lock: already counted. */
	assert_int_equal(stats(f->rc).invalidations, 1);
	assert_int_equal(stats(f->rc).entries, 0);
	remap_fixed(buf, 4, 'B');
	m2 = touch(f->rc, buf, 4 * pg);
	assert_ptr_not_equal(m2, m1);
	assert_true(mr_saw(m2, buf, 'B'));
	assert_true(mr_saw(m2, buf + 3 * pg, 'B'));
	assert_true(mr_dead(m1));
	st = stats(f->rc);
	assert_int_equal(st.misses, 2);
	assert_int_equal(st.hits, 0);
	assert_int_equal(st.invalidations, 1);
	assert_int_equal(f->fk.regs, 2);
	assert_int_equal(f->fk.deregs, 1);
	munmap(buf, 4 * pg);
}

/* mmap(MAP_FIXED) straight over a cached buffer, no munmap first. */
static void test_mmap_fixed_over(void **state)
{
	struct fx *f = *state;
	char *buf = map_pages(4);
	struct fake_mr *m1, *m2;

	NEED_MONITOR(f);
	memset(buf, 'A', 4 * pg);
	m1 = touch(f->rc, buf, 4 * pg);
	remap_fixed(buf + pg, 1, 'B'); /* only one page of it */
	assert_int_equal(stats(f->rc).invalidations, 1);
	m2 = touch(f->rc, buf, 4 * pg);
	assert_ptr_not_equal(m2, m1);
	assert_true(mr_saw(m2, buf, 'A'));
	assert_true(mr_saw(m2, buf + pg, 'B'));
	assert_true(mr_dead(m1));
	assert_int_equal(stats(f->rc).entries, 1);
	assert_int_equal(uffd_watched(buf + 3 * pg), 1);
	munmap(buf, 4 * pg);
}

static void test_munmap_part(void **state)
{
	struct fx *f = *state;
	char *buf = map_pages(6);
	struct fake_mr *m1;

	NEED_MONITOR(f);
	memset(buf, 'A', 6 * pg);
	m1 = touch(f->rc, buf, 6 * pg);
	munmap(buf + 2 * pg, pg);
	assert_int_equal(stats(f->rc).invalidations, 1);
	scif__regcache_flush(f->rc);
	assert_true(mr_dead(m1));
	/* What is left of the range is no longer watched. */
	assert_int_equal(uffd_watched(buf), 0);
	assert_int_equal(uffd_watched(buf + 5 * pg), 0);
	/* A get of the remaining part registers anew. */
	assert_ptr_not_equal(touch(f->rc, buf, 2 * pg), m1);
	munmap(buf, 6 * pg);
}

#define BIG (64u << 20) /* > glibc's 32 MiB dynamic mmap threshold cap */

static void test_free_large_block(void **state)
{
	struct fx *f = *state;
	char *p, *q = NULL, *keep[16];
	uintptr_t old;
	struct fake_mr *m1, *m2;
	int tries, nkeep = 0, i;

	NEED_MONITOR(f);
	p = malloc(BIG);
	assert_non_null(p);
	memset(p, 'A', BIG);
	m1 = touch(f->rc, p + 4096, BIG - 8192);
	assert_true(mr_saw(m1, p + BIG / 2, 'A'));
	old = (uintptr_t)p;
	free(p); /* glibc: munmap */
	if (uffd_watched((void *)(old + 4096)) != -1) {
		print_message("free() of %u MiB did not unmap (allocator "
			      "keeps it, e.g. ASan quarantine)\n", BIG >> 20);
		skip();
	}
	assert_int_equal(stats(f->rc).invalidations, 1);
	for (tries = 0; tries < 16; tries++) {
		q = malloc(BIG);
		assert_non_null(q);
		if ((uintptr_t)q == old)
			break;
		keep[nkeep++] = q;
		q = NULL;
	}
	for (i = 0; i < nkeep; i++)
		free(keep[i]);
	if (!q) {
		print_message("malloc never returned the freed address\n");
		skip();
	}
	memset(q, 'B', BIG);
	m2 = touch(f->rc, q + 4096, BIG - 8192);
	assert_ptr_not_equal(m2, m1);
	assert_true(mr_saw(m2, q + BIG / 2, 'B'));
	assert_true(mr_dead(m1));
	assert_int_equal(stats(f->rc).hits, 0);
	free(q);
}

static void test_mremap(void **state)
{
	struct fx *f = *state;
	char *a = map_pages(4), *b = map_pages(4);
	struct fake_mr *m1, *m2, *mb;
	void *r;

	NEED_MONITOR(f);
	memset(a, 'A', 4 * pg);
	memset(b, 'X', 4 * pg);
	m1 = touch(f->rc, a, 4 * pg);
	r = mremap(a, 4 * pg, 4 * pg, MREMAP_MAYMOVE | MREMAP_FIXED, b);
	assert_ptr_equal(r, b);
	assert_int_equal(stats(f->rc).invalidations, 1);
	/* The moved mapping took our registration along: dropped. */
	assert_int_equal(uffd_watched(b), 0);
	assert_int_equal(b[0], 'A');
	remap_fixed(a, 4, 'C');
	m2 = touch(f->rc, a, 4 * pg);
	assert_ptr_not_equal(m2, m1);
	assert_true(mr_saw(m2, a, 'C'));
	assert_true(mr_dead(m1));
	/* The moved pages are a new buffer for the cache. */
	mb = touch(f->rc, b, 4 * pg);
	assert_ptr_not_equal(mb, m1);
	assert_true(mr_saw(mb, b + pg, 'A'));
	assert_int_equal(stats(f->rc).hits, 0);
	munmap(a, 4 * pg);
	munmap(b, 4 * pg);
}

static void test_madvise_dontneed(void **state)
{
	struct fx *f = *state;
	char *buf = map_pages(4);
	struct fake_mr *m1, *m2;

	NEED_MONITOR(f);
	memset(buf, 'A', 4 * pg);
	m1 = touch(f->rc, buf, 4 * pg);
	assert_int_equal(madvise(buf + pg, pg, MADV_DONTNEED), 0);
	assert_int_equal(stats(f->rc).invalidations, 1);
	/* Unwatched at once: the page reads back as zeros, normally. */
	assert_int_equal(uffd_watched(buf), 0);
	assert_int_equal(buf[pg], 0);
	assert_int_equal(buf[0], 'A');
	memset(buf + pg, 'D', pg);
	m2 = touch(f->rc, buf, 4 * pg);
	assert_ptr_not_equal(m2, m1);
	assert_true(mr_saw(m2, buf, 'A'));
	assert_true(mr_saw(m2, buf + pg, 'D'));
	assert_true(mr_dead(m1));
	/* MADV_FREE too. */
	assert_int_equal(madvise(buf, 4 * pg, MADV_FREE), 0);
	assert_int_equal(stats(f->rc).invalidations, 2);
	assert_ptr_not_equal(touch(f->rc, buf, 4 * pg), m2);
	munmap(buf, 4 * pg);
}

static void test_invalidated_while_referenced(void **state)
{
	struct fx *f = *state;
	char *buf = map_pages(4);
	struct scif_regcache_entry *e1, *e2;
	struct fake_mr *m1, *m2;

	NEED_MONITOR(f);
	memset(buf, 'A', 4 * pg);
	m1 = get_ok(f->rc, buf, 4 * pg, &e1);
	munmap(buf, 4 * pg);
	remap_fixed(buf, 4, 'B');
	assert_int_equal(stats(f->rc).invalidations, 1);
	scif__regcache_flush(f->rc);
	/* In use: the handle stays valid. */
	assert_false(mr_dead(m1));
	assert_int_equal(f->fk.deregs, 0);
	/* New gets no longer find it. */
	m2 = get_ok(f->rc, buf, 4 * pg, &e2);
	assert_ptr_not_equal(e2, e1);
	assert_true(mr_saw(m2, buf, 'B'));
	assert_false(mr_dead(m1));
	scif__regcache_put(f->rc, e1);
	assert_true(mr_dead(m1));
	assert_int_equal(f->fk.deregs, 1);
	scif__regcache_put(f->rc, e2);
	scif__regcache_flush(f->rc);
	assert_int_equal(f->fk.deregs, 1); /* exactly once */
	assert_false(mr_dead(m2));	   /* cached */
	munmap(buf, 4 * pg);
}

/* ---- in a child process, bounded by alarm() ---- */
/* No cmocka assertion in a child (it would unwind into the child's copy of
 * the runner): CK() exits with a status the parent reports. */

#define CK(c)                                                                \
	do {                                                                 \
		if (!(c)) {                                                  \
			fprintf(stderr, "child: %s:%d: check failed: %s\n",  \
				__FILE__, __LINE__, #c);                     \
			_exit(3);                                            \
		}                                                            \
	} while (0)

/* touch() for children. */
static struct fake_mr *ctouch(struct scif_regcache *rc, const void *addr,
			      size_t len)
{
	struct scif_regcache_entry *e;
	void *h, *base;

	CK(!scif__regcache_get(rc, (void *)addr, len, &e, &h, &base));
	CK((uintptr_t)base <= (uintptr_t)addr);
	scif__regcache_put(rc, e);
	return h;
}

static void run_child(void (*fn)(const char *), const char *mode,
		      unsigned secs, const char *what)
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		alarm(secs);
		fn(mode);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WIFSIGNALED(status))
		fail_msg("%s: child killed by signal %d%s", what,
			 WTERMSIG(status),
			 WTERMSIG(status) == SIGALRM ? " (hung)" : "");
	if (WIFEXITED(status) && WEXITSTATUS(status) == 2)
		skip(); /* no userfaultfd */
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		fail_msg("%s: child failed (status %d)", what, status);
}

struct hang_ctx {
	struct scif_regcache *rc;
	int stop;
	int err;
};

static void *hang_getter(void *arg)
{
	struct hang_ctx *h = arg;
	char *buf = mmap(NULL, 16 * pg, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct scif_regcache_entry *e;
	void *hd, *base;
	unsigned i = 0;

	if (buf == MAP_FAILED)
		return NULL;
	memset(buf, 1, 16 * pg);
	while (!__atomic_load_n(&h->stop, __ATOMIC_RELAXED)) {
		size_t off = (i++ % 8) * pg;

		if (scif__regcache_get(h->rc, buf + off, 4 * pg, &e, &hd,
				       &base)) {
			__atomic_store_n(&h->err, 1, __ATOMIC_RELAXED);
			break;
		}
		scif__regcache_put(h->rc, e);
	}
	munmap(buf, 16 * pg);
	return NULL;
}

/* Threads unmapping watched memory (munmap, free, madvise, mremap) while
 * others use the cache: every unmapping thread must come back. */
static void child_munmap_never_hangs(const char *mode)
{
	struct fake fk;
	struct hang_ctx h = { 0 };
	pthread_t t[2];
	int i;

	fake_init(&fk);
	h.rc = make_cache(&fk, mode, 64 * pg);
	CK(h.rc);
	if (!scif__regcache_monitored(h.rc))
		_exit(2);
	for (i = 0; i < 2; i++)
		CK(!pthread_create(&t[i], NULL, hang_getter, &h));
	for (i = 0; i < 300; i++) {
		char *p = malloc(2u << 20), *q;
		struct scif_regcache_entry *e;
		void *hd, *base;

		CK(p);
		memset(p, 2, 2u << 20);
		CK(!scif__regcache_get(h.rc, p, 2u << 20, &e, &hd, &base));
		if (i & 1)
			scif__regcache_put(h.rc, e);
		/* Unmapped while held (odd) or cached (even). */
		switch (i % 3) {
		case 0:
			free(p);
			break;
		case 1:
			/* not the page holding malloc's chunk header */
			CK(!madvise((void *)(((uintptr_t)p + pg) & ~(pg - 1)),
				    1u << 20, MADV_DONTNEED));
			free(p);
			break;
		default: {
			/* A watched mapping moved over part of another. */
			char *dst = (char *)(((uintptr_t)p + pg) & ~(pg - 1));
			struct scif_regcache_entry *eq;

			q = mmap(NULL, 4 * pg, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			CK(q != MAP_FAILED);
			memset(q, 3, 4 * pg);
			CK(!scif__regcache_get(h.rc, q, 4 * pg, &eq, &hd,
					       &base));
			CK(mremap(q, 4 * pg, 4 * pg,
				  MREMAP_MAYMOVE | MREMAP_FIXED, dst) == dst);
			scif__regcache_put(h.rc, eq);
			free(p);
			break;
		}
		}
		if (!(i & 1))
			scif__regcache_put(h.rc, e);
	}
	__atomic_store_n(&h.stop, 1, __ATOMIC_RELAXED);
	for (i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	CK(!h.err);
	scif__regcache_destroy(h.rc);
	CK(fk.regs == fk.deregs);
	CK(!fk.double_deregs && !fk.bad_deregs);
}

static void test_munmap_never_hangs(void **state)
{
	run_child(child_munmap_never_hangs, *state ? *state : MODE_AUTO, 60,
		  "munmap/free/madvise/mremap of watched memory");
}

/*
 * A page of a cached entry vanishes without an unmap event: a hole punched
 * in the shmem object behind it.  The next touch faults on a watched missing
 * page; the fault is answered (no hang) and the stale entry is dropped.
 */
static void child_pagefault(const char *mode)
{
	struct fake fk;
	struct scif_regcache *rc;
	struct scif_regcache_stats st;
	struct fake_mr *m1, *m2;
	int pfd[2], fd;
	char *buf;

	fake_init(&fk);
	rc = make_cache(&fk, mode, SIZE_MAX);
	CK(rc);
	if (!scif__regcache_monitored(rc))
		_exit(2);
	fd = memfd_create("regcache-fault", MFD_CLOEXEC);
	CK(fd >= 0);
	CK(!ftruncate(fd, 8 * pg));
	buf = mmap(NULL, 8 * pg, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CK(buf != MAP_FAILED);
	memset(buf, 'M', 8 * pg);
	m1 = ctouch(rc, buf, 4 * pg);
	CK(mr_saw(m1, buf + pg, 'M'));
	CK(uffd_watched(buf) == 1);
	CK(!fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, pg, pg));
	scif__regcache_stats(rc, &st);
	CK(st.invalidations == 0); /* no event for that: the limit */
	buf[pg] = 7;		   /* user-mode write fault */
	CK(buf[pg] == 7);
	CK(buf[pg + 1] == 0); /* the hole */
	scif__regcache_stats(rc, &st);
	CK(st.invalidations == 1);
	CK(st.faults == 1);
	CK(st.entries == 0);
	CK(uffd_watched(buf) == 0);
	m2 = ctouch(rc, buf, 4 * pg);
	CK(m2 != m1);
	CK(mr_saw(m2, buf, 'M'));

	/* A fault the kernel takes: read(2) into a punched page. */
	ctouch(rc, buf + 4 * pg, 4 * pg);
	CK(!fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 5 * pg,
		      pg));
	CK(!pipe(pfd));
	CK(write(pfd[1], "0123456789", 10) == 10);
	if (scif__regcache_kernel_faults(rc)) {
		CK(strcmp(mode, MODE_USER));
		CK(read(pfd[0], buf + 5 * pg, 10) == 10);
		CK(!memcmp(buf + 5 * pg, "0123456789", 10));
		scif__regcache_stats(rc, &st);
		CK(st.invalidations == 2);
	} else {
		/* UFFD_USER_MODE_ONLY: the kernel access fails instead of
		 * waiting (see regcache.h); it must not hang either. */
		ssize_t n = read(pfd[0], buf + 5 * pg, 10);

		CK(n == 10 || (n < 0 && errno == EFAULT));
	}
	close(pfd[0]);
	close(pfd[1]);
	munmap(buf, 8 * pg);
	close(fd);
	scif__regcache_destroy(rc);
	CK(fk.regs == fk.deregs && !fk.double_deregs);
}

static void test_pagefault_answered(void **state)
{
	run_child(child_pagefault, *state ? *state : MODE_AUTO, 20,
		  "fault on a watched page that vanished");
}

/*
 * The pages are zapped (MADV_DONTNEED) while the provider registers them:
 * the provider then faults on watched missing pages.  The monitor resolves
 * those faults (zero page), and the registration, having raced with an
 * event, is used once and not cached.
 */
static void child_fault_while_registering(const char *mode)
{
	struct fake fk;
	struct scif_regcache *rc;
	struct scif_regcache_stats st;
	struct fake_mr *m;
	char *buf;

	fake_init(&fk);
	fk.zap_first = true;
	rc = make_cache(&fk, mode, SIZE_MAX);
	CK(rc);
	if (!scif__regcache_monitored(rc))
		_exit(2);
	buf = mmap(NULL, 4 * pg, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CK(buf != MAP_FAILED);
	memset(buf, 'Z', 4 * pg);
	m = ctouch(rc, buf, 4 * pg);
	CK(mr_saw(m, buf, 0) && mr_saw(m, buf + 3 * pg, 0));
	CK(mr_dead(m)); /* used once */
	scif__regcache_stats(rc, &st);
	CK(st.uncached == 1 && st.entries == 0);
	CK(uffd_watched(buf) == 0);
	/* Without the race it is cached again. */
	fk.zap_first = false;
	memset(buf, 'Y', 4 * pg);
	m = ctouch(rc, buf, 4 * pg);
	CK(mr_saw(m, buf, 'Y'));
	CK(ctouch(rc, buf, 4 * pg) == m);
	munmap(buf, 4 * pg);
	scif__regcache_destroy(rc);
	CK(fk.regs == fk.deregs && !fk.double_deregs);
}

/*
 * A shmem hole is punched while the provider registers (no event for that):
 * it faults on watched missing pages of a registration in progress.  That
 * is a first touch, not a stale entry: answered with zero pages, the watch
 * stays and the registration (of the new pages) is cached.
 */
static void child_punch_while_registering(const char *mode)
{
	struct fake fk;
	struct scif_regcache *rc;
	struct scif_regcache_stats st;
	struct fake_mr *m;
	char *buf;
	int fd;

	fake_init(&fk);
	rc = make_cache(&fk, mode, SIZE_MAX);
	CK(rc);
	if (!scif__regcache_monitored(rc))
		_exit(2);
	fd = memfd_create("regcache-punch", MFD_CLOEXEC);
	CK(fd >= 0);
	CK(!ftruncate(fd, 4 * pg));
	buf = mmap(NULL, 4 * pg, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	CK(buf != MAP_FAILED);
	memset(buf, 'H', 4 * pg);
	fk.punch_fd = fd;
	fk.punch_base = buf;
	m = ctouch(rc, buf + pg, 2 * pg);
	fk.punch_fd = -1;
	CK(mr_saw(m, buf + pg, 0) && mr_saw(m, buf + 2 * pg, 0));
	scif__regcache_stats(rc, &st);
	CK(st.faults == 2);
	CK(st.uncached == 0 && st.entries == 1 && st.invalidations == 0);
	CK(uffd_watched(buf + pg) == 1);
	CK(!mr_dead(m));
	CK(ctouch(rc, buf + pg, 2 * pg) == m);
	CK(buf[pg] == 0 && buf[0] == 'H');
	munmap(buf, 4 * pg);
	scif__regcache_stats(rc, &st);
	CK(st.invalidations == 1);
	close(fd);
	scif__regcache_destroy(rc);
	CK(fk.regs == fk.deregs && !fk.double_deregs);
}

static void test_punch_while_registering(void **state)
{
	run_child(child_punch_while_registering,
		  *state ? *state : MODE_AUTO, 20,
		  "hole punched during a registration");
}

static void test_fault_while_registering(void **state)
{
	run_child(child_fault_while_registering,
		  *state ? *state : MODE_AUTO, 20,
		  "fault during a registration");
}

/* ---- eviction, destroy, modes ---- */

static void test_eviction_lru(void **state)
{
	struct fake fk;
	struct scif_regcache *rc;
	char *buf = map_pages(32);
	struct fake_mr *a, *b, *c, *d, *b2;
	struct scif_regcache_entry *ea;
	struct scif_regcache_stats st;

	(void)state;
	fake_init(&fk);
	rc = make_cache(&fk, MODE_AUTO, 12 * pg);
	assert_non_null(rc);
	if (!scif__regcache_monitored(rc)) {
		scif__regcache_destroy(rc);
		fake_fini(&fk);
		skip();
	}
	a = touch(rc, buf, 4 * pg);
	b = touch(rc, buf + 8 * pg, 4 * pg);
	c = touch(rc, buf + 16 * pg, 4 * pg);
	assert_ptr_equal(touch(rc, buf, pg), a); /* a is now newer than b */
	d = touch(rc, buf + 24 * pg, 4 * pg);	 /* 16 pages > 12 */
	st = stats(rc);
	assert_int_equal(st.evictions, 1);
	assert_int_equal(st.entries, 3);
	assert_int_equal(st.bytes, 12 * pg);
	assert_true(mr_dead(b)); /* the least recently used */
	assert_false(mr_dead(a));
	assert_false(mr_dead(c));
	assert_false(mr_dead(d));
	assert_int_equal(uffd_watched(buf + 8 * pg), 0);
	assert_int_equal(uffd_watched(buf + 16 * pg), 1);
	/* LRU is now c, a, d: b comes back and pushes c out. */
	assert_ptr_equal(touch(rc, buf + pg, pg), a); /* a, d, c */
	assert_ptr_equal(touch(rc, buf + 25 * pg, pg), d); /* d, a, c */
	b2 = touch(rc, buf + 8 * pg, 4 * pg);
	assert_ptr_not_equal(b2, b);
	assert_true(mr_dead(c));
	assert_false(mr_dead(a));
	assert_int_equal(stats(rc).evictions, 2);
	/* A referenced entry is never evicted, even beyond max_bytes. */
	get_ok(rc, buf, 4 * pg, &ea);
	touch(rc, buf + 16 * pg, 12 * pg);
	assert_false(mr_dead(a));
	scif__regcache_put(rc, ea);
	assert_true(stats(rc).bytes <= 12 * pg);
	scif__regcache_destroy(rc);
	assert_int_equal(fk.regs, fk.deregs);

	/* max_bytes bounds the unreferenced bytes only: what is in use is
	 * neither counted nor evicted. */
	rc = make_cache(&fk, MODE_AUTO, 12 * pg);
	assert_non_null(rc);
	{
		struct scif_regcache_entry *h1, *h2;
		struct fake_mr *m1, *m2, *m3;

		m1 = get_ok(rc, buf, 8 * pg, &h1);	  /* in use: 8 */
		m2 = get_ok(rc, buf + 8 * pg, 8 * pg, &h2); /* in use: 8 */
		m3 = touch(rc, buf + 20 * pg, 4 * pg);	  /* unused: 4 */
		assert_int_equal(stats(rc).evictions, 0);
		assert_int_equal(stats(rc).bytes, 20 * pg);
		scif__regcache_put(rc, h1); /* unused: 12, not above */
		assert_int_equal(stats(rc).evictions, 0);
		scif__regcache_put(rc, h2); /* unused: 20: the 2 oldest go */
		assert_int_equal(stats(rc).evictions, 2);
		assert_int_equal(stats(rc).bytes, 8 * pg);
		assert_true(mr_dead(m3));
		assert_true(mr_dead(m1));
		assert_false(mr_dead(m2));
	}
	scif__regcache_destroy(rc);
	assert_int_equal(fk.regs, fk.deregs);
	assert_int_equal(fk.double_deregs, 0);
	fake_fini(&fk);
	munmap(buf, 32 * pg);
}

static void test_destroy_deregisters_all(void **state)
{
	struct fx *f = *state;
	char *buf = map_pages(16);
	struct scif_regcache_entry *held, *held2;
	struct fake_mr *m;
	int i;

	NEED_MONITOR(f);
	for (i = 0; i < 4; i++)
		touch(f->rc, buf + i * 4 * pg, 2 * pg);
	get_ok(f->rc, buf + 2 * pg, pg, &held);		/* referenced */
	get_ok(f->rc, buf + 12 * pg, 4 * pg, &held2);	/* referenced... */
	munmap(buf + 12 * pg, 4 * pg);			/* ...and invalid */
	assert_int_equal(stats(f->rc).invalidations, 1);
	assert_int_equal(uffd_watched(buf), 1);
	/* Destroying with entries still referenced logs an error and
	 * deregisters them anyway. */
	scif__regcache_destroy(f->rc);
	f->rc = NULL;
	assert_int_equal(f->fk.regs, 6);
	assert_int_equal(f->fk.deregs, f->fk.regs);
	for (m = f->fk.all; m; m = m->next)
		assert_true(mr_dead(m));
	/* Nothing is left watched, and unmapping is plain again. */
	assert_int_equal(uffd_watched(buf), 0);
	assert_int_equal(uffd_watched(buf + 4 * pg), 0);
	munmap(buf, 12 * pg);
	f->rc = make_cache(&f->fk, MODE_AUTO, SIZE_MAX); /* for teardown */
	assert_non_null(f->rc);
}

static void test_unmonitored(void **state)
{
	struct fx *f = *state;
	char *buf = map_pages(4);
	struct scif_regcache_entry *e1, *e2;
	struct fake_mr *m1, *m2;
	struct scif_regcache_stats st;

	/* SCIF_REGCACHE_MONITOR=0 (the fixture's prestate). */
	assert_false(scif__regcache_monitored(f->rc));
	memset(buf, 'A', 4 * pg);
	m1 = get_ok(f->rc, buf, 4 * pg, &e1);
	m2 = get_ok(f->rc, buf, 4 * pg, &e2); /* same buffer: no hit */
	assert_ptr_not_equal(m1, m2);
	assert_int_equal(f->fk.regs, 2);
	assert_int_equal(uffd_watched(buf), 0);
	scif__regcache_put(f->rc, e1);
	assert_true(mr_dead(m1)); /* deregistered at put */
	assert_false(mr_dead(m2));
	scif__regcache_put(f->rc, e2);
	assert_true(mr_dead(m2));
	munmap(buf, 4 * pg);
	remap_fixed(buf, 4, 'B');
	m1 = touch(f->rc, buf, 4 * pg);
	assert_true(mr_saw(m1, buf, 'B'));
	st = stats(f->rc);
	assert_int_equal(st.hits, 0);
	assert_int_equal(st.misses, 3);
	assert_int_equal(st.uncached, 3);
	assert_int_equal(st.entries, 0);
	assert_int_equal(st.invalidations, 0);
	assert_int_equal(f->fk.deregs, 3);
	munmap(buf, 4 * pg);
}

/* Mappings a userfaultfd cannot watch (file-backed, not shmem) are used
 * once; shmem (memfd) is watched like anonymous memory. */
static void test_unwatchable_uncached(void **state)
{
	struct fx *f = *state;
	int fd = open("/proc/self/exe", O_RDONLY);
	struct fake_mr *m1, *m2;
	struct scif_regcache_stats st;
	char *p, *s;

	NEED_MONITOR(f);
	assert_true(fd >= 0);
	p = mmap(NULL, pg, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	assert_true(p != MAP_FAILED);
	m1 = touch(f->rc, p, pg);
	assert_true(mr_dead(m1));
	m2 = touch(f->rc, p, pg);
	assert_ptr_not_equal(m1, m2);
	assert_true(mr_dead(m2));
	st = stats(f->rc);
	assert_int_equal(st.uncached, 2);
	assert_int_equal(st.entries, 0);
	assert_int_equal(st.hits, 0);
	munmap(p, pg);

	fd = memfd_create("regcache-test", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 4 * pg), 0);
	s = mmap(NULL, 4 * pg, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	assert_true(s != MAP_FAILED);
	memset(s, 'S', 4 * pg);
	m1 = touch(f->rc, s, 4 * pg);
	assert_ptr_equal(touch(f->rc, s, 4 * pg), m1);
	assert_int_equal(stats(f->rc).uncached, 2);
	munmap(s, 4 * pg);
	assert_int_equal(stats(f->rc).invalidations, 1);
}

/* A forked child never hits the parent's entries (its memory is not
 * watched: no UFFD_FEATURE_EVENT_FORK). */
static void test_fork_child_passthrough(void **state)
{
	struct fx *f = *state;
	char *buf = map_pages(4);
	struct fake_mr *m;
	int status;
	pid_t pid;

	NEED_MONITOR(f);
	memset(buf, 'P', 4 * pg);
	m = touch(f->rc, buf, 4 * pg);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct scif_regcache_stats st;
		struct fake_mr *c;

		alarm(10);
		CK(!scif__regcache_monitored(f->rc));
		CK(uffd_watched(buf) == 0);
		memset(buf, 'K', 4 * pg);
		c = ctouch(f->rc, buf, 4 * pg);
		CK(c != m);
		CK(mr_saw(c, buf, 'K'));
		CK(mr_dead(c));
		munmap(buf, 4 * pg); /* no monitor here: must not block */
		scif__regcache_stats(f->rc, &st);
		CK(st.hits == 0 && st.uncached == 1);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* The parent still hits. */
	assert_ptr_equal(touch(f->rc, buf, 4 * pg), m);
	assert_true(mr_saw(m, buf, 'P'));
	munmap(buf, 4 * pg);
}

/* ---- concurrency ---- */

#define NSLOT 16
#define SLOT_PAGES 16

struct conc {
	struct scif_regcache *rc;
	char *region;
	size_t slot;
	int stop;
	unsigned long gets, progress;
	int err_get, err_dead, err_cover, err_stale;
};

static void *conc_reader(void *arg)
{
	struct conc *c = arg;
	unsigned seed = (unsigned)(uintptr_t)&seed;
	unsigned long n = 0;

	while (!__atomic_load_n(&c->stop, __ATOMIC_RELAXED)) {
		unsigned k = (unsigned)rand_r(&seed) % NSLOT;
		unsigned span = 1 + (unsigned)rand_r(&seed) % 3;
		size_t off = (size_t)rand_r(&seed) % c->slot, len;
		char *addr = c->region + k * c->slot + off;
		struct scif_regcache_entry *e;
		struct fake_mr *mr;
		void *h, *base;

		if (k + span > NSLOT)
			span = NSLOT - k;
		len = span * c->slot - off;
		if (scif__regcache_get(c->rc, addr, len, &e, &h, &base)) {
			__atomic_store_n(&c->err_get, 1, __ATOMIC_RELAXED);
			break;
		}
		n++;
		__atomic_fetch_add(&c->progress, 1, __ATOMIC_RELAXED);
		mr = h;
		if (mr->addr != (uintptr_t)base || mr->addr > (uintptr_t)addr ||
		    mr->addr + mr->len < (uintptr_t)addr + len)
			__atomic_store_n(&c->err_cover, 1, __ATOMIC_RELAXED);
		if (rand_r(&seed) % 4 == 0)
			sched_yield(); /* hold it a little */
		if (mr_dead(mr))
			__atomic_store_n(&c->err_dead, 1, __ATOMIC_RELAXED);
		scif__regcache_put(c->rc, e);
	}
	__atomic_fetch_add(&c->gets, n, __ATOMIC_RELAXED);
	return NULL;
}

static void test_concurrency(void **state)
{
	struct fx *f = *state;
	struct conc c = { .rc = f->rc };
	pthread_t t[4];
	unsigned seed = 7, i, gen = 1, mgets = 0;
	struct scif_regcache_stats st;
	struct timespec t0, t1;
	int j;

	NEED_MONITOR(f);
	c.slot = SLOT_PAGES * pg;
	c.region = map_pages(NSLOT * SLOT_PAGES);
	for (i = 0; i < NSLOT; i++)
		memset(c.region + i * c.slot, (int)gen, c.slot);
	for (j = 0; j < 4; j++)
		assert_int_equal(pthread_create(&t[j], NULL, conc_reader, &c),
				 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	/* At least 400 changes, and until the readers did 20000 gets
	 * (bounded: 3 s). */
	for (i = 0;; i++) {
		unsigned k = (unsigned)rand_r(&seed) % NSLOT;
		char *slot = c.region + k * c.slot;
		unsigned char g = (unsigned char)(++gen % 250 + 2);

		switch (i % 3) {
		case 0: {
			/* Atomic replacement by pages already holding g: any
			 * registration made after it sees g, so a get after
			 * it must return one that saw g. */
			char *tmp = mmap(NULL, c.slot, PROT_READ | PROT_WRITE,
					 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			struct scif_regcache_entry *e;
			struct fake_mr *mr;
			size_t p;

			assert_true(tmp != MAP_FAILED);
			memset(tmp, g, c.slot);
			assert_ptr_equal(mremap(tmp, c.slot, c.slot,
						MREMAP_MAYMOVE | MREMAP_FIXED,
						slot),
					 slot);
			mr = get_ok(f->rc, slot, c.slot, &e);
			mgets++;
			for (p = 0; p < c.slot; p += pg)
				if (!mr_saw(mr, slot + p, g))
					c.err_stale++;
			scif__regcache_put(f->rc, e);
			break;
		}
		case 1:
			/* mmap over it, then fill (readers may register the
			 * zero pages in between: legitimately). */
			remap_fixed(slot, SLOT_PAGES, g);
			break;
		default:
			assert_int_equal(madvise(slot, c.slot, MADV_DONTNEED),
					 0);
			memset(slot, g, c.slot);
			break;
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		if (i >= 400 &&
		    (__atomic_load_n(&c.progress, __ATOMIC_RELAXED) >= 20000 ||
		     t1.tv_sec - t0.tv_sec >= 3))
			break;
	}
	__atomic_store_n(&c.stop, 1, __ATOMIC_RELAXED);
	for (j = 0; j < 4; j++)
		pthread_join(t[j], NULL);
	assert_int_equal(c.err_get, 0);
	assert_int_equal(c.err_cover, 0);
	assert_int_equal(c.err_dead, 0);
	assert_int_equal(c.err_stale, 0);
	st = stats(f->rc);
	assert_int_equal(st.hits + st.misses, c.gets + mgets);
	assert_true(st.invalidations > 0);
	assert_true(st.hits > 0);
	print_message("%u changes, %lu gets: %llu hits, %llu misses, "
		      "%llu invalidations, %llu used once\n", i,
		      c.gets + mgets, (unsigned long long)st.hits,
		      (unsigned long long)st.misses,
		      (unsigned long long)st.invalidations,
		      (unsigned long long)st.uncached);
	munmap(c.region, NSLOT * c.slot);
	/* teardown: destroy, then regs == deregs, no double dereg */
}

int main(void)
{
	long p = sysconf(_SC_PAGESIZE);

	pg = p > 0 ? (size_t)p : 4096;
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
#define TM(fn, mode) \
	cmocka_unit_test_prestate_setup_teardown(fn, setup, teardown, \
						 (void *)(mode))
	const struct CMUnitTest tests[] = {
		T(test_hit_same_buffer),
		T(test_subrange_hit),
		T(test_miss_not_covered),
		T(test_span_two_entries),
		T(test_bad_args_and_reg_failure),
		TM(test_munmap_mmap_fixed, MODE_AUTO),
		TM(test_munmap_mmap_fixed, MODE_USER),
		TM(test_mmap_fixed_over, MODE_AUTO),
		TM(test_munmap_part, MODE_AUTO),
		TM(test_free_large_block, MODE_AUTO),
		TM(test_free_large_block, MODE_USER),
		TM(test_mremap, MODE_AUTO),
		TM(test_mremap, MODE_USER),
		TM(test_madvise_dontneed, MODE_AUTO),
		TM(test_madvise_dontneed, MODE_USER),
		T(test_invalidated_while_referenced),
		cmocka_unit_test_prestate(test_munmap_never_hangs,
					  (void *)MODE_AUTO),
		cmocka_unit_test_prestate(test_munmap_never_hangs,
					  (void *)MODE_USER),
		cmocka_unit_test_prestate(test_pagefault_answered,
					  (void *)MODE_AUTO),
		cmocka_unit_test_prestate(test_pagefault_answered,
					  (void *)MODE_USER),
		cmocka_unit_test_prestate(test_fault_while_registering,
					  (void *)MODE_AUTO),
		cmocka_unit_test_prestate(test_fault_while_registering,
					  (void *)MODE_USER),
		cmocka_unit_test_prestate(test_punch_while_registering,
					  (void *)MODE_AUTO),
		cmocka_unit_test_prestate(test_punch_while_registering,
					  (void *)MODE_USER),
		cmocka_unit_test(test_eviction_lru),
		T(test_destroy_deregisters_all),
		TM(test_unmonitored, MODE_OFF),
		T(test_unwatchable_uncached),
		T(test_fork_child_passthrough),
		TM(test_concurrency, MODE_AUTO),
		TM(test_concurrency, MODE_USER),
	};
#undef T
#undef TM

	return cmocka_run_group_tests(tests, NULL, NULL);
}
