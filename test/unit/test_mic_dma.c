// SPDX-License-Identifier: BSD-3-Clause
/*
 * The mic provider's engine path (provider/mic/mic_dma.c, mic_dmawin.c)
 * natively, without a kernel device: the two sides of one connection are
 * two engine states of this process (the connecting and the accepting
 * side's window tables), so the "peer" whose pages the model card reaches
 * is this process.  Window tables (publish, contiguous windows, protection,
 * removal, a closed or dead peer's table), then RMAs through the model for
 * many offsets and lengths with every byte checked, fences and signals,
 * and an engine error and an engine hang mid-RMA.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "mic_dmaint.h"
#include "scif.h"

#define WIN (8u << 20)
#define RW (SCIF_PROT_READ | SCIF_PROT_WRITE)

struct env {
	struct mic_dma *d;
	struct mic_dma_conn *c, *a; /* the connecting and accepting sides */
	uint8_t *lw, *rw;	    /* their windows, both at offset 0 */
};

static uint8_t pat(uint64_t seed, uint64_t pos)
{
	uint64_t x = (pos + 1) * 0x9e3779b97f4a7c15ull ^ seed;

	return (uint8_t)(x ^ (x >> 29) ^ (x >> 47));
}

static void fill(uint8_t *p, size_t n, uint64_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = pat(seed, i);
}

static int setup_env(void **state, const char *fail, const char *hang)
{
	static uint16_t port = 1;
	struct env *e = calloc(1, sizeof(*e));

	assert_non_null(e);
	setenv("SCIF_MIC_DMA", "model", 1);
	setenv("MIC_DMA_TIMEOUT_MS", "300", 1);
	fail ? setenv("SCIF_MIC_MODEL_FAIL", fail, 1)
	     : unsetenv("SCIF_MIC_MODEL_FAIL");
	hang ? setenv("SCIF_MIC_MODEL_HANG", hang, 1)
	     : unsetenv("SCIF_MIC_MODEL_HANG");
	e->d = mic_dma_new();
	assert_non_null(e->d);
	/* A node id no test run shares: the tables live in /dev/shm. */
	e->c = mic_dma_conn_new(e->d, (uint16_t)(getpid() & 0x7fff), port,
				false);
	e->a = mic_dma_conn_new(e->d, (uint16_t)(getpid() & 0x7fff), port++,
				true);
	assert_true(e->c && e->a);
	e->lw = mmap(NULL, 2 * WIN, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(e->lw != MAP_FAILED);
	e->rw = e->lw + WIN;
	assert_int_equal(mic_dmawin_add(e->c, 0, WIN, (uintptr_t)e->lw, RW),
			 0);
	assert_int_equal(mic_dmawin_add(e->a, 0, WIN, (uintptr_t)e->rw, RW),
			 0);
	*state = e;
	return 0;
}

static int setup(void **state)
{
	return setup_env(state, NULL, NULL);
}

static int setup_fail(void **state)
{
	return setup_env(state, "5", NULL);
}

static int setup_hang(void **state)
{
	return setup_env(state, NULL, "5");
}

static int teardown(void **state)
{
	struct env *e = *state;

	mic_dma_conn_put(e->c);
	mic_dma_conn_put(e->a);
	mic_dma_free(e->d);
	munmap(e->lw, 2 * WIN);
	free(e);
	return 0;
}

/* One call of the connecting side: 1 if the engine took it (*ret). */
static int call(struct env *e, enum scif_kcall k, struct scif_kcall_args *a,
		int *ret)
{
	*ret = 12345;
	return mic_dma_kcall(e->c, k, a, ret);
}

static void test_tables(void **state)
{
	struct env *e = *state;
	uint64_t va, run;

	/* the accepting side's windows, as the connecting side reads them:
	 * [0, 8M) RW, [8M, 8M + 8K) R, [8M + 16K, +4K) RW */
	assert_int_equal(mic_dmawin_add(e->a, WIN, 8192, 0x1000, 1), 0);
	assert_int_equal(mic_dmawin_add(e->a, WIN + 16384, 4096, 0x9000, RW),
			 0);
	assert_int_equal(mic_dmawin_peer(e->c), 0);
	assert_int_equal(e->c->peer_pid, getpid());
	assert_true(mic_dmawin_covers(e->c->pwin, e->c->npwin, WIN - 4096,
				      8192, SCIF_PROT_READ));
	assert_false(mic_dmawin_covers(e->c->pwin, e->c->npwin, WIN - 4096,
				       8192, RW));
	assert_false(mic_dmawin_covers(e->c->pwin, e->c->npwin, WIN, 16384 +
				       4096, SCIF_PROT_READ)); /* a gap */
	assert_true(mic_dmawin_find(e->c->pwin, e->c->npwin, WIN + 100,
				    SCIF_PROT_READ, &va, &run));
	assert_int_equal(va, 0x1000 + 100);
	assert_int_equal(run, 8192 - 100);
	assert_false(mic_dmawin_find(e->c->pwin, e->c->npwin, -1, 0, &va,
				     &run));
	/* removal: only whole windows inside the range */
	mic_dmawin_del(e->a, WIN, 8192);
	assert_int_equal(mic_dmawin_peer(e->c), 0);
	assert_false(mic_dmawin_covers(e->c->pwin, e->c->npwin, WIN, 1, 0));
	assert_true(mic_dmawin_covers(e->c->pwin, e->c->npwin, 0, WIN, RW));
}

/* A peer that closed, and a table a dead process left: not used. */
static void test_gone_tables(void **state)
{
	struct env *e = *state;
	struct mic_dma_conn *x;
	pid_t pid;
	int st;

	mic_dma_conn_put(e->a);
	e->a = NULL;
	assert_int_equal(mic_dmawin_peer(e->c), -ENOENT);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* the child's table, left behind by its _exit */
		x = mic_dma_conn_new(e->d, e->c->node, e->c->port, true);
		_exit(x && !mic_dmawin_add(x, 0, WIN, 0x1000, RW) ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_int_equal(st, 0);
	assert_int_equal(mic_dmawin_peer(e->c), -ENOENT);
	e->a = mic_dma_conn_new(e->d, e->c->node, e->c->port, true);
	assert_non_null(e->a);
}

/* First byte of p[0, n) that is not seed's pattern from pos, or -1. */
static long wrong(const uint8_t *p, size_t n, uint64_t seed, size_t pos)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != pat(seed, pos + i))
			return (long)i;
	return -1;
}

/* One RMA of n bytes between our offset l and the peer's r; every byte of
 * the destination checked, and its neighbours untouched. */
static void one_rma(struct env *e, bool rd, size_t l, size_t r, size_t n,
		    int flags, uint64_t seed)
{
	struct scif_kcall_args a = { .loff = (int64_t)l, .roff = (int64_t)r,
				     .len = n, .flags = flags };
	uint8_t *d = rd ? e->lw : e->rw;
	size_t so = rd ? r : l, doff = rd ? l : r;
	size_t span = (l > r ? l : r) + n + 64;
	uint64_t ss = rd ? seed + 1 : seed, ds = rd ? seed : seed + 1;
	int ret;

	fill(e->lw, span, seed);
	fill(e->rw, span, seed + 1);
	assert_int_equal(call(e, rd ? SCIF_KC_READFROM : SCIF_KC_WRITETO, &a,
			      &ret),
			 1);
	assert_int_equal(ret, 0);
	assert_int_equal(wrong(d + doff, n, ss, so), -1);
	if (doff)
		assert_int_equal(d[doff - 1], pat(ds, doff - 1));
	assert_int_equal(d[doff + n], pat(ds, doff + n));
}

/* Writes and reads for offsets on both sides and lengths around the
 * engine's line and piece sizes, ORDERED or not. */
static void test_rma(void **state)
{
	static const size_t lens[] = { 1, 63, 64, 65, 4096, 100000,
				       (4u << 20) + 77 };
	static const size_t offs[] = { 0, 1, 63, 64, 4095 };
	struct env *e = *state;
	size_t li, lo, ro;
	uint64_t seed = 10;

	for (li = 0; li < sizeof(lens) / sizeof(lens[0]); li++)
		for (lo = 0; lo < 5; lo++)
			for (ro = 0; ro < 5; ro++, seed += 2)
				one_rma(e, seed & 2, offs[lo], offs[ro],
					lens[li],
					seed & 4 ? SCIF_RMA_ORDERED : 0, seed);
}

/* What the engine cannot resolve goes to the kernel (returns 0). */
static void test_to_kernel(void **state)
{
	struct env *e = *state;
	struct scif_kcall_args a = { .loff = 0, .roff = 0, .len = 4096 };
	int ret, mark;

	a.roff = WIN - 100; /* past the peer's window */
	assert_int_equal(call(e, SCIF_KC_WRITETO, &a, &ret), 0);
	a.roff = 0;
	a.flags = 0x100; /* not an RMA flag */
	assert_int_equal(call(e, SCIF_KC_WRITETO, &a, &ret), 0);
	a.flags = 0;
	a.len = 0;
	assert_int_equal(call(e, SCIF_KC_READFROM, &a, &ret), 0);
	a.len = 4096;
	a.loff = -4096;
	assert_int_equal(call(e, SCIF_KC_WRITETO, &a, &ret), 0);
	a.loff = 0;
	mic_dmawin_del(e->a, 0, WIN);
	assert_int_equal(mic_dmawin_add(e->a, 0, WIN, (uintptr_t)e->rw,
					SCIF_PROT_READ),
			 0);
	assert_int_equal(call(e, SCIF_KC_WRITETO, &a, &ret), 0); /* RO */
	assert_int_equal(call(e, SCIF_KC_READFROM, &a, &ret), 1);
	assert_int_equal(ret, 0);
	/* a peer's fence is the kernel's */
	a.flags = SCIF_FENCE_INIT_PEER;
	a.markp = &mark;
	assert_int_equal(call(e, SCIF_KC_FENCE_MARK, &a, &ret), 0);
}

static void test_fences(void **state)
{
	struct env *e = *state;
	struct scif_kcall_args a = { .len = 4096 };
	int ret, mark = -1, m2;

	a.flags = SCIF_FENCE_INIT_SELF;
	a.markp = &mark;
	assert_int_equal(call(e, SCIF_KC_FENCE_MARK, &a, &ret), 1);
	assert_int_equal(ret, 0);
	assert_int_equal((unsigned)mark >> 29, 1); /* bit 29 alone */
	a.markp = &m2;
	assert_int_equal(call(e, SCIF_KC_FENCE_MARK, &a, &ret), 1);
	assert_int_equal(m2, mark + 1);
	a.mark = mark;
	assert_int_equal(call(e, SCIF_KC_FENCE_WAIT, &a, &ret), 1);
	assert_int_equal(ret, 0);
	a.mark = m2 + 1000; /* never made */
	assert_int_equal(call(e, SCIF_KC_FENCE_WAIT, &a, &ret), 1);
	assert_int_equal(ret, -EINVAL);
	a.mark = 5; /* not an engine mark: the kernel's */
	assert_int_equal(call(e, SCIF_KC_FENCE_WAIT, &a, &ret), 0);
	/* signals, local and remote (4-byte aligned offsets) */
	memset(&a, 0, sizeof(a));
	a.loff = 4;
	a.lval = 0x1122334455667788ull;
	a.roff = 4092;
	a.rval = 0x99aabbccddeeff00ull;
	a.flags = SCIF_FENCE_INIT_SELF | SCIF_SIGNAL_LOCAL | SCIF_SIGNAL_REMOTE;
	assert_int_equal(call(e, SCIF_KC_FENCE_SIGNAL, &a, &ret), 1);
	assert_int_equal(ret, 0);
	assert_memory_equal(e->lw + 4, &a.lval, 8);
	assert_memory_equal(e->rw + 4092, &a.rval, 8);
	a.roff = 4094; /* misaligned: the kernel says EINVAL */
	assert_int_equal(call(e, SCIF_KC_FENCE_SIGNAL, &a, &ret), 0);
}

/* An engine fault on the 6th descriptor (512 KiB each): the write that
 * meets it fails with ENODEV, what landed before it is there, nothing
 * after; the next calls work. */
static void test_fault(void **state)
{
	struct env *e = *state;
	struct scif_kcall_args a = { .len = 1u << 20 };
	size_t i, half = 512u * 1024;
	int ret, k;

	fill(e->lw, WIN, 7);
	memset(e->rw, 0, WIN);
	for (k = 0; k < 3; k++) {
		a.loff = a.roff = (int64_t)k << 20;
		assert_int_equal(call(e, SCIF_KC_WRITETO, &a, &ret), 1);
		assert_int_equal(ret, k < 2 ? 0 : -ENODEV);
	}
	for (i = 0; i < (2u << 20) + half; i++)
		assert_int_equal(e->rw[i], pat(7, i));
	for (; i < WIN; i++)
		assert_int_equal(e->rw[i], 0);
	assert_int_equal(call(e, SCIF_KC_WRITETO, &a, &ret), 1);
	assert_int_equal(ret, 0);
	assert_memory_equal(e->rw, e->lw, 3u << 20);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_tables, setup, teardown),
		cmocka_unit_test_setup_teardown(test_gone_tables, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_rma, setup, teardown),
		cmocka_unit_test_setup_teardown(test_to_kernel, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_fences, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fault, setup_fail,
						teardown),
		cmocka_unit_test_setup_teardown(test_fault, setup_hang,
						teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
