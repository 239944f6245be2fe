/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The core's RMA, fence and window logic driven through a fake provider.
 * The fake provider is in fake_prov.c, described there.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "scif_priv.h"
#include "fake_prov.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* ---- helpers ---- */

#define WIN (128ul << 10) /* a multiple of any page size */
#define LBASE 0x1000000l  /* A's windows: two of WIN, a read-only one */
#define RBASE 0x2000000l  /* B's, the same */
#define RO_AT (4 * (long)WIN)
#define BIG (65536 + 13)

#define assert_fails(call, e)                                                \
	do {                                                                 \
		errno = 0;                                                   \
		assert_int_equal((call), -1);                                \
		assert_int_equal(errno, (e));                                \
	} while (0)

/* A call run in a thread, so that the test can see whether it returns. */
struct bg {
	pthread_t t;
	int (*fn)(struct bg *b);
	scif_epd_t epd;
	off_t off, roff;
	size_t len;
	int mark, ret, err;
	long outstanding; /* the fake's, when fn returned */
	bool done;
};

static void *bg_main(void *arg)
{
	struct bg *b = arg;
	int ret = b->fn(b), err = errno;

	fk_lock();
	b->ret = ret;
	b->err = err;
	b->outstanding = fk.outstanding;
	b->done = true;
	pthread_cond_broadcast(&fk.cv);
	fk_unlock();
	return NULL;
}

static void bg_start(struct bg *b, int (*fn)(struct bg *b))
{
	b->fn = fn;
	b->done = false;
	assert_int_equal(pthread_create(&b->t, NULL, bg_main, b), 0);
}

/* Whether the call returned within ms (joined if so). */
static bool bg_wait(struct bg *b, int ms)
{
	struct timespec ts;
	bool done;

	fk_deadline(&ts, ms);
	fk_lock();
	while (!b->done &&
	       pthread_cond_timedwait(&fk.cv, &fk.mu, &ts) != ETIMEDOUT)
		;
	done = b->done;
	fk_unlock();
	if (done)
		pthread_join(b->t, NULL);
	return done;
}

static int bg_connect(struct bg *b)
{
	struct scif_portID dst = { .node = 0, .port = (uint16_t)b->off };

	return scif_connect(b->epd, &dst);
}

static int bg_close(struct bg *b)
{
	return scif_close(b->epd);
}

static int bg_unregister(struct bg *b)
{
	return scif_unregister(b->epd, b->off, b->len);
}

static int bg_fence_wait(struct bg *b)
{
	return scif_fence_wait(b->epd, b->mark);
}

static int bg_write_sync(struct bg *b)
{
	return scif_writeto(b->epd, b->off, b->len, b->roff, SCIF_RMA_SYNC);
}

static int bg_write_fence(struct bg *b)
{
	int ret = scif_writeto(b->epd, b->off, b->len, b->roff, 0);

	if (!ret)
		ret = scif_fence_mark(b->epd, SCIF_FENCE_INIT_SELF, &b->mark);
	return ret ? ret : scif_fence_wait(b->epd, b->mark);
}

static void fill(char *p, size_t n, unsigned seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (char)(i * 131 + seed * 17 + (i >> 9));
}

static void check_fill(const char *p, size_t n, unsigned seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] != (char)(i * 131 + seed * 17 + (i >> 9)))
			fail_msg("byte %zu of %zu (seed %u) wrong", i, n, seed);
}

/* Whether *p reads v within ms. */
static bool wait_u64(volatile uint64_t *p, uint64_t v, int ms)
{
	long long end = scif__now_ms() + ms;

	while (__atomic_load_n(p, __ATOMIC_ACQUIRE) != v &&
	       scif__now_ms() < end)
		usleep(1000);
	return __atomic_load_n(p, __ATOMIC_ACQUIRE) == v;
}

/* Everything from sent before this has reached `to` (stream order). */
static void sync_stream(scif_epd_t from, scif_epd_t to)
{
	char c = 's';

	assert_int_equal(scif_send(from, &c, 1, SCIF_SEND_BLOCK), 1);
	assert_int_equal(scif_recv(to, &c, 1, SCIF_RECV_BLOCK), 1);
}

/* A connected pair: a and b, with the windows of LBASE and RBASE. */
struct ctx {
	scif_epd_t lep, a, b;
	char *abuf, *bbuf, *aro, *bro;
};

static struct ctx cx; /* outside the cases' frames: teardown closes it */
static unsigned ctx_spin; /* the fake's spin_us attribute for ctx_open */

static void reg(scif_epd_t epd, char *p, size_t len, off_t off, int prot)
{
	assert_int_equal(scif_register(epd, p, len, off, prot, SCIF_MAP_FIXED),
			 off);
}

static void ctx_regs(struct ctx *c)
{
	const int rw = SCIF_PROT_READ | SCIF_PROT_WRITE;

	c->abuf = aligned_alloc(65536, 2 * WIN);
	c->bbuf = aligned_alloc(65536, 2 * WIN);
	c->aro = aligned_alloc(65536, WIN);
	c->bro = aligned_alloc(65536, WIN);
	assert_true(c->abuf && c->bbuf && c->aro && c->bro);
	memset(c->aro, 0, WIN);
	memset(c->bro, 0, WIN);
	reg(c->a, c->abuf, WIN, LBASE, rw);
	reg(c->a, c->abuf + WIN, WIN, LBASE + WIN, rw);
	reg(c->a, c->aro, WIN, LBASE + RO_AT, SCIF_PROT_READ);
	reg(c->b, c->bbuf, WIN, RBASE, rw);
	reg(c->b, c->bbuf + WIN, WIN, RBASE + WIN, rw);
	reg(c->b, c->bro, WIN, RBASE + RO_AT, SCIF_PROT_READ);
	sync_stream(c->a, c->b);
	sync_stream(c->b, c->a);
}

static void ctx_open(struct ctx *c, unsigned caps)
{
	struct scif_portID peer;
	struct bg b = { 0 };
	int port;

	fk_lock();
	fk.caps = caps;
	fk.qmax = 0;
	fk.hold_next = 0;
	fk.inline_odd = true;
	fk.imm_inline = false;
	fk.fail_at = 0;
	fk.fail_soft = false;
	fk.record = false;
	fk.spin_us = ctx_spin;
	fk_unlock();
	c->lep = scif_open();
	assert_true(c->lep >= 0);
	port = scif_bind(c->lep, 0);
	assert_true(port > 0);
	assert_int_equal(scif_listen(c->lep, 4), 0);
	c->a = scif_open();
	assert_true(c->a >= 0);
	b.epd = c->a;
	b.off = port;
	bg_start(&b, bg_connect);
	assert_int_equal(scif_accept(c->lep, &peer, &c->b, SCIF_ACCEPT_SYNC),
			 0);
	assert_true(bg_wait(&b, 10000));
	assert_true(b.ret > 0);
	ctx_regs(c);
}

static void ctx_free(struct ctx *c)
{
	free(c->abuf);
	free(c->bbuf);
	free(c->aro);
	free(c->bro);
	memset(c, 0, sizeof(*c));
}

/* Close both ends (bounded) and check that the fake saw nothing wrong and
 * that every registration and import was released. */
static void ctx_close(struct ctx *c)
{
	scif_epd_t eps[] = { c->a, c->b, c->lep };
	struct bg b = { 0 };
	size_t i;

	fk_lock();
	fk.fail_at = 0;
	fk.fail_soft = false;
	fk.qmax = 0;
	fk_unlock();
	fk_release(0);
	for (i = 0; i < sizeof(eps) / sizeof(eps[0]); i++) {
		b.epd = eps[i];
		bg_start(&b, bg_close);
		assert_true(bg_wait(&b, 10000));
		assert_int_equal(b.ret, 0);
	}
	ctx_free(c);
	assert_int_equal(fk_get(&fk.outstanding), 0);
	assert_int_equal(fk_get(&fk.mrs), 0);
	assert_int_equal(fk_get(&fk.rmrs), 0);
	assert_int_equal(fk_get(&fk.bad), 0);
	assert_int_equal(fk_get(&fk.ctrl_err), 0);
	assert_int_equal(fk_get(&fk.dereg_busy), 0);
	assert_int_equal(fk_get(&fk.imm_early), 0);
}

/* After a failed case: close what it left open; the next starts clean. */
static int teardown(void **state)
{
	if (cx.abuf) {
		fk_release(0);
		scif_close(cx.a);
		scif_close(cx.b);
		scif_close(cx.lep);
		ctx_free(&cx);
	}
	fk_lock();
	fk.bad = fk.imm_early = fk.dereg_busy = fk.ctrl_err = 0;
	fk.quiet = fk.late = false;
	fk_unlock();
	return 0;
}

/* ---- cases ---- */

enum { OP_WRITETO, OP_READFROM, OP_VWRITETO, OP_VREADFROM };

/* One SYNC call of len bytes across window edges; every byte checked, and
 * none outside the range touched. */
static void xfer_check(struct ctx *c, int op, size_t len, unsigned seed)
{
	const off_t loff = LBASE + WIN - 20000 + 5, roff = RBASE + WIN - 30007;
	char *l = c->abuf + (loff - LBASE), *r = c->bbuf + (roff - RBASE);
	char *vb = malloc(len + 64), *v = vb + 19;
	char *src = op == OP_WRITETO ? l : op == OP_VWRITETO ? v : r;
	char *dst = op == OP_READFROM ? l : op == OP_VREADFROM ? v : r;
	int ret = -1;

	assert_non_null(vb);
	memset(c->abuf, 0xee, 2 * WIN);
	memset(c->bbuf, 0xee, 2 * WIN);
	memset(vb, 0xee, len + 64);
	fill(src, len, seed);
	if (op == OP_WRITETO)
		ret = scif_writeto(c->a, loff, len, roff, SCIF_RMA_SYNC);
	else if (op == OP_READFROM)
		ret = scif_readfrom(c->a, loff, len, roff, SCIF_RMA_SYNC);
	else if (op == OP_VWRITETO)
		ret = scif_vwriteto(c->a, v, len, roff, SCIF_RMA_SYNC);
	else
		ret = scif_vreadfrom(c->a, v, len, roff, SCIF_RMA_SYNC);
	assert_int_equal(ret, 0);
	/* SYNC: returned only once every piece had completed */
	assert_int_equal(fk_get(&fk.outstanding), 0);
	check_fill(dst, len, seed);
	assert_int_equal((unsigned char)dst[-1], 0xee);
	assert_int_equal((unsigned char)dst[len], 0xee);
	free(vb);
}

/* Catches pieces lost, misplaced or duplicated when requests split at
 * max_piece and window edges, SYNC calls returning before their last piece,
 * bounce data not copied out, partial posts not resumed, and temporary
 * registrations of v-calls leaked. */
static void test_rma_sizes(void **state)
{
	static const size_t sizes[] = { 1, 4095, 4096, 4097, BIG };
	static const unsigned caps[] = { SCIF_PROV_CHEAP_REG, 0 };
	unsigned seed = 1, ci;
	size_t si;
	struct ctx *c = &cx;
	long mrs;
	int op;

	for (ci = 0; ci < 2; ci++) {
		ctx_open(c, caps[ci]);
		fk_lock();
		fk.qmax = ci ? 0 : 5; /* rma_post takes 5 at the most */
		fk.partial = 0;
		fk_unlock();
		mrs = fk_get(&fk.mrs);
		for (op = OP_WRITETO; op <= OP_VREADFROM; op++)
			for (si = 0; si < sizeof(sizes) / sizeof(*sizes); si++)
				xfer_check(c, op, sizes[si], seed++);
		if (!ci)
			assert_true(fk_get(&fk.partial) > 0);
		/* the bounce buffer (registration costs) may stay */
		assert_true(fk_get(&fk.mrs) - mrs == 0 ||
			    (caps[ci] == 0 && fk_get(&fk.mrs) - mrs == 1));
		ctx_close(c);
	}
}

/* Catches a fence_wait that returns when the newest request's last piece
 * completes, or most pieces have: completion order is not request order. */
static void test_fence_wait_out_of_order(void **state)
{
	const off_t r2 = RBASE + WIN + 4096;
	struct bg b = { 0 };
	struct ctx *c = &cx;

	ctx_open(c, SCIF_PROV_CHEAP_REG);
	memset(c->bbuf, 0, 2 * WIN);
	fill(c->abuf, BIG, 3);
	fill(c->abuf + WIN, BIG, 4);
	fk_lock();
	fk.hold_next = 1 << 20;
	fk_unlock();
	assert_int_equal(scif_writeto(c->a, LBASE, BIG, RBASE, 0), 0);
	assert_int_equal(scif_writeto(c->a, LBASE + WIN, BIG, r2, 0), 0);
	assert_int_equal(scif_fence_mark(c->a, SCIF_FENCE_INIT_SELF, &b.mark),
			 0);
	b.epd = c->a;
	bg_start(&b, bg_fence_wait);
	fk_lock();
	fk.record = true;
	fk.first_rend = NULL;
	fk_unlock();
	fk_release(1); /* all but the first piece of the first request */
	assert_true(fk_wait_outstanding(1, 10000));
	/* the last piece of the last request completed first */
	assert_ptr_equal(fk.first_rend, c->bbuf + WIN + 4096 + BIG);
	assert_false(bg_wait(&b, 200));
	fk_release(0);
	assert_true(bg_wait(&b, 10000));
	assert_int_equal(b.ret, 0);
	assert_int_equal(b.outstanding, 0);
	check_fill(c->bbuf, BIG, 3);
	check_fill(c->bbuf + WIN + 4096, BIG, 4);
	ctx_close(c);
}

/* One signal over a held-back write: neither value before the data, and
 * the provider is told (ep_park) that nobody may call to complete it. */
static void signal_case(struct ctx *c, bool ordered, bool imm_inline,
			unsigned seed)
{
	const off_t lsig = LBASE + 2 * WIN - 8, rsig = RBASE + 2 * WIN - 16;
	volatile uint64_t *ls = (uint64_t *)(c->abuf + 2 * WIN - 8);
	volatile uint64_t *rs = (uint64_t *)(c->bbuf + 2 * WIN - 16);
	const int f = SCIF_FENCE_INIT_SELF | SCIF_SIGNAL_LOCAL |
		      SCIF_SIGNAL_REMOTE;
	struct bg b = { .epd = c->a };
	long imm0, parks;

	*ls = *rs = 0;
	memset(c->bbuf, 0, BIG);
	fill(c->abuf, BIG, seed);
	fk_lock();
	fk.imm_inline = imm_inline;
	fk.hold_next = 1 << 20;
	imm0 = fk.imm_inlined;
	fk_unlock();
	assert_int_equal(scif_writeto(c->a, LBASE, BIG, RBASE, 0), 0);
	parks = fk_get(&fk.parks);
	assert_int_equal(scif_fence_signal(c->a, lsig, seed, rsig, ~seed, f),
			 0);
	/* only the completion path stores it: the provider must serve it */
	assert_true(fk_get(&fk.parks) > parks);
	fk_release(1);
	/* ordered: the value is posted at once, fenced behind the data */
	assert_true(fk_wait_outstanding(ordered ? 2 : 1, 10000));
	assert_false(wait_u64(rs, ~seed, 100));
	assert_int_equal(*ls, 0);
	fk_release(0);
	assert_true(wait_u64(ls, seed, 10000));
	assert_true(wait_u64(rs, ~seed, 10000));
	check_fill(c->bbuf, BIG, seed);
	assert_int_equal(fk_get(&fk.imm_early), 0);
	if (imm_inline && !ordered) /* posted by the completion path */
		assert_true(fk_get(&fk.imm_inlined) > imm0);
	assert_true(fk_wait_outstanding(0, 10000));
	/* the signal's own request counts as done: a mark now is no wait */
	assert_int_equal(scif_fence_mark(c->a, SCIF_FENCE_INIT_SELF, &b.mark),
			 0);
	bg_start(&b, bg_fence_wait);
	assert_true(bg_wait(&b, 10000));
	assert_int_equal(b.ret, 0);
	/* nothing in flight: the value goes at once */
	assert_int_equal(scif_fence_signal(c->a, 0, 0, rsig, seed + 7,
					   SCIF_FENCE_INIT_SELF |
						   SCIF_SIGNAL_REMOTE),
			 0);
	assert_true(wait_u64(rs, seed + 7, 10000));
}

/* Catches a remote fence value landing before the data it covers (posted
 * before the marked requests completed, or unfenced on an ordered
 * provider), a local value stored early, and a signal the completion path
 * posts whose completion from inside rma_post is lost (re-entry). */
static void test_fence_signal(void **state)
{
	struct ctx *c = &cx;
	int o, i;

	for (o = 0; o < 2; o++) {
		ctx_open(c, SCIF_PROV_CHEAP_REG |
				     (o ? SCIF_PROV_ORDERED_RMA : 0));
		for (i = 0; i < 2; i++)
			signal_case(c, o, i, 10 + 2 * o + i);
		ctx_close(c);
	}
}

/* Catches a failed piece that leaves a SYNC call or a fence waiting for
 * ever, later calls posting on a dead connection, a fence call that
 * succeeds after RMA ended (a mark that never completes, a signal never
 * written), an unregister or close that gives up on the peer's answer
 * while the connection is up, and a close that hangs or leaks
 * registrations after RMA ended. */
static void test_piece_failure(void **state)
{
	struct bg b = { .off = LBASE, .roff = RBASE, .len = BIG };
	struct ctx *c = &cx;
	long posted;
	int v, mark;

	/* the failing piece completes inside rma_post (v 0) or later (1, 2,
	 * 3); the error shows in a SYNC call (0, 1, 3) or the next fence_wait
	 * (2); the connection breaks as a QP's would (0-2) or stays up as
	 * over shm (3) */
	for (v = 0; v < 4; v++) {
		ctx_open(c, SCIF_PROV_CHEAP_REG);
		fk_lock();
		fk.fail_at = fk.posted + (v ? 5 : 4);
		fk.fail_soft = v == 3;
		fk_unlock();
		b.epd = c->a;
		bg_start(&b, v == 2 ? bg_write_fence : bg_write_sync);
		assert_true(bg_wait(&b, 10000));
		assert_int_equal(b.ret, -1);
		assert_int_equal(b.err, ECONNRESET);
		posted = fk_get(&fk.posted);
		assert_fails(scif_writeto(c->a, LBASE, 8, RBASE, 0),
			     ECONNRESET);
		assert_fails(scif_fence_mark(c->a, SCIF_FENCE_INIT_SELF, &mark),
			     ECONNRESET);
		assert_fails(scif_fence_signal(c->a, LBASE, 1, RBASE, 1,
					       SCIF_FENCE_INIT_SELF |
						       SCIF_SIGNAL_LOCAL |
						       SCIF_SIGNAL_REMOTE),
			     ECONNRESET);
		assert_int_equal(fk_get(&fk.posted), posted);
		if (v == 3) {
			/* the peer still answers: its withdrawal, its bytes */
			assert_int_equal(scif_unregister(c->b, RBASE + RO_AT,
							 WIN),
					 0);
			assert_int_equal(scif_send(c->b, "x", 1,
						   SCIF_SEND_BLOCK),
					 1);
			assert_int_equal(scif_recv(c->a, &mark, 1,
						   SCIF_RECV_BLOCK),
					 1);
		}
		ctx_close(c);
	}
}

/* Unregister a window that held-back pieces use: waits for them. */
static void unregister_inflight(bool peer_side)
{
	struct bg b = { .len = WIN };
	struct ctx *c = &cx;
	long deregs;

	ctx_open(c, SCIF_PROV_CHEAP_REG);
	fill(c->abuf + WIN, BIG, 21);
	fk_lock();
	fk.hold_next = 1 << 20;
	fk_unlock();
	assert_int_equal(scif_writeto(c->a, LBASE + WIN, BIG, RBASE + WIN, 0),
			 0);
	deregs = fk_get(&fk.deregs);
	b.epd = peer_side ? c->b : c->a;
	b.off = peer_side ? RBASE + WIN : LBASE + WIN;
	bg_start(&b, bg_unregister);
	assert_false(bg_wait(&b, 200));
	assert_int_equal(fk_get(&fk.deregs), deregs);
	fk_release(0);
	assert_true(bg_wait(&b, 10000));
	assert_int_equal(b.ret, 0);
	assert_int_equal(fk_get(&fk.deregs), deregs + 1);
	assert_int_equal(fk_get(&fk.dereg_busy), 0);
	check_fill(c->bbuf + WIN, BIG, 21);
	/* gone from both sides' view */
	assert_fails(scif_writeto(c->a, peer_side ? LBASE : LBASE + WIN, 8,
				  peer_side ? RBASE + WIN : RBASE, 0),
		     ENXIO);
	ctx_close(c);
}

/* Catches scif_unregister deregistering a window while our own pieces
 * from it are still in flight. */
static void test_unregister_waits_local(void **state)
{
	unregister_inflight(false);
}

/* Catches scif_unregister deregistering a window while the peer's pieces
 * into it are in flight (WIN_DEL_ACK sent before they completed). */
static void test_unregister_waits_peer(void **state)
{
	unregister_inflight(true);
}

/* Catches pieces posted after the peer withdrew the window they point into:
 * a request that waits for queue room (its lock dropped) while the peer's
 * withdrawal is handled must keep the peer window's key until its last
 * piece is posted (without: a use after free, which ASan reports, and
 * bytes that do not land). */
static void test_unregister_while_posting(void **state)
{
	struct bg w = { .off = LBASE + WIN, .roff = RBASE + WIN, .len = BIG };
	struct bg u = { .off = RBASE + WIN, .len = WIN };
	struct ctx *c = &cx;

	ctx_open(c, SCIF_PROV_CHEAP_REG);
	fill(c->abuf + WIN, BIG, 23);
	fk_lock();
	fk.qmax = 4;
	fk.hold_next = 1 << 20;
	fk_unlock();
	w.epd = c->a;
	bg_start(&w, bg_write_sync);
	assert_false(bg_wait(&w, 200)); /* 4 pieces held, waits for room */
	u.epd = c->b;
	bg_start(&u, bg_unregister);
	assert_false(bg_wait(&u, 200)); /* waits for the writer's request */
	fk_release(0);
	assert_true(bg_wait(&w, 10000));
	assert_int_equal(w.ret, 0);
	assert_true(bg_wait(&u, 10000));
	assert_int_equal(u.ret, 0);
	check_fill(c->bbuf + WIN, BIG, 23);
	ctx_close(c);
}

/* Catches range and protection checks made after posting, or not at all:
 * a refused request posts nothing and releases its temporary
 * registration. */
static void test_checks_post_nothing(void **state)
{
	const off_t rend = RBASE + 2 * WIN, lend = LBASE + 2 * WIN;
	const int f = SCIF_FENCE_INIT_SELF | SCIF_SIGNAL_REMOTE;
	char buf[256];
	long posted, mrs;
	struct ctx *c = &cx;

	ctx_open(c, SCIF_PROV_CHEAP_REG);
	posted = fk_get(&fk.posted);
	mrs = fk_get(&fk.mrs);
	assert_fails(scif_writeto(c->a, LBASE, 200, rend - 100, 0), ENXIO);
	assert_fails(scif_readfrom(c->a, lend - 100, 200, RBASE, 0), ENXIO);
	assert_fails(scif_vwriteto(c->a, buf, 200, rend - 100, 0), ENXIO);
	assert_fails(scif_vreadfrom(c->a, buf, 8, rend + 4096, 0), ENXIO);
	assert_fails(scif_writeto(c->a, LBASE, 64, RBASE + RO_AT, 0), EACCES);
	assert_fails(scif_vwriteto(c->a, buf, 64, RBASE + RO_AT, 0), EACCES);
	assert_fails(scif_readfrom(c->a, LBASE + RO_AT, 64, RBASE, 0), EACCES);
	assert_fails(scif_fence_signal(c->a, 0, 0, RBASE + RO_AT, 1, f),
		     EACCES);
	assert_int_equal(fk_get(&fk.posted), posted);
	assert_int_equal(fk_get(&fk.mrs), mrs);
	/* reading a read-only peer window is allowed */
	fill(c->bro, 64, 31);
	assert_int_equal(scif_readfrom(c->a, LBASE, 64, RBASE + RO_AT,
				       SCIF_RMA_SYNC),
			 0);
	check_fill(c->abuf, 64, 31);
	ctx_close(c);
}

static const struct scif_mr *got_mr;
static uint64_t got_off;

/* A lookup on B's endpoint; the result in got_mr, got_off. */
static int wget(uint64_t off, uint64_t len, int prot)
{
	return fk_window_get(cx.b, off, len, prot, &got_mr, &got_off);
}

/* Catches a target-side lookup that returns the wrong registration or
 * offset, accepts ranges across windows or past them, ignores protection,
 * or lets scif_unregister release a window a provider still holds. */
static void test_window_get_put(void **state)
{
	const int rw = SCIF_PROT_READ | SCIF_PROT_WRITE;
	struct bg b = { .off = RBASE + WIN, .len = WIN };
	struct ctx *c = &cx;
	long deregs;

	ctx_open(c, SCIF_PROV_CHEAP_REG);
	assert_int_equal(wget(RBASE + WIN + 100, 50, rw), 0);
	assert_ptr_equal(got_mr->va, c->bbuf + WIN);
	assert_ptr_equal(((struct fmr *)got_mr->handle)->va, c->bbuf + WIN);
	assert_int_equal(got_off, 100);
	fk_window_put(c->b, got_mr);
	assert_int_equal(wget(RBASE + WIN - 10, 20, rw), -ENXIO);
	assert_int_equal(wget(RBASE + 2 * WIN - 10, 20, rw), -ENXIO);
	assert_int_equal(wget(RBASE + 3 * WIN, 8, 0), -ENXIO);
	assert_int_equal(wget(UINT64_MAX - 5, 10, 0), -ENXIO);
	assert_int_equal(wget(RBASE + RO_AT, 8, SCIF_PROT_WRITE), -EACCES);
	assert_int_equal(wget(RBASE + RO_AT + 8, 8, SCIF_PROT_READ), 0);
	assert_ptr_equal(got_mr->va, c->bro);
	assert_int_equal(got_off, 8);
	fk_window_put(c->b, got_mr);
	/* held: scif_unregister waits for the put */
	assert_int_equal(wget(RBASE + WIN, 8, rw), 0);
	deregs = fk_get(&fk.deregs);
	b.epd = c->b;
	bg_start(&b, bg_unregister);
	assert_false(bg_wait(&b, 200));
	assert_int_equal(fk_get(&fk.deregs), deregs);
	fk_window_put(c->b, got_mr);
	assert_true(bg_wait(&b, 10000));
	assert_int_equal(b.ret, 0);
	assert_int_equal(fk_get(&fk.deregs), deregs + 1);
	assert_int_equal(wget(RBASE + WIN, 8, rw), -ENXIO);
	ctx_close(c);
}

static int bg_send_late(struct bg *b)
{
	usleep(100000);
	return scif_send(b->epd, "z", 1, SCIF_SEND_BLOCK);
}

/* SCIF_SPIN_US unset: a caller about to sleep polls its endpoint as long
 * as the provider's spin_us attribute says (tcp's), and not at all when it
 * says 0: counted in the fake's ep_progress calls during a blocked
 * scif_recv that waits 100 ms. */
static void test_spin_attr(void **state)
{
	static const unsigned spins[] = { 0, 20000 };
	struct ctx *c = &cx;
	unsigned i;
	long calls;
	char z;

	(void)state;
	for (i = 0; i < 2; i++) {
		struct bg b = { 0 };

		ctx_spin = spins[i];
		ctx_open(c, 0);
		ctx_spin = 0;
		b.epd = c->b;
		calls = fk_get(&fk.progress);
		bg_start(&b, bg_send_late);
		assert_int_equal(scif_recv(c->a, &z, 1, SCIF_RECV_BLOCK), 1);
		calls = fk_get(&fk.progress) - calls;
		assert_true(bg_wait(&b, 10000));
		assert_int_equal(b.ret, 1);
		assert_int_equal(z, 'z');
		if (spins[i])
			assert_true(calls > 100);
		else
			assert_true(calls <= 2);
		ctx_close(c);
	}
}

/* scif_poll about to sleep on an endpoint tells its provider (ep_park: a
 * provider whose wake-ups a spinning caller muted gives them back); one
 * that is ready ends the call at once and is not parked. */
static void test_poll_parks(void **state)
{
	struct ctx *c = &cx;
	struct scif_pollepd p = { .events = POLLIN };
	struct bg b = { 0 };
	long parks;
	char z;

	(void)state;
	ctx_open(c, 0);
	p.epd = c->a;
	parks = fk_get(&fk.parks);
	assert_int_equal(scif_poll(&p, 1, 50), 0);
	assert_true(fk_get(&fk.parks) > parks);
	b.epd = c->b;
	bg_start(&b, bg_send_late);
	assert_int_equal(scif_poll(&p, 1, 10000), 1);
	assert_true(p.revents & POLLIN);
	assert_true(bg_wait(&b, 10000));
	parks = fk_get(&fk.parks);
	assert_int_equal(scif_poll(&p, 1, 10000), 1); /* ready: no park */
	assert_int_equal(fk_get(&fk.parks), parks);
	assert_int_equal(scif_recv(c->a, &z, 1, SCIF_RECV_BLOCK), 1);
	assert_int_equal(z, 'z');
	ctx_close(c);
}

static bool fd_readable(scif_epd_t epd)
{
	struct pollfd p = { .fd = scif_get_fd(epd), .events = POLLIN };

	return poll(&p, 1, 0) == 1 && (p.revents & POLLIN);
}

/*
 * The descriptor's POLLIN after a send that finds data to read (in a
 * request/response loop, the answer drained while the send waited for its
 * delivery): where the provider says it will raise it later (ep_late), the
 * send leaves it, the provider's timer raises it (fk_raise_late), and a
 * recv that takes the data first leaves nothing stale behind; where the
 * provider does not, the send raises it.  Data arrives "quietly", as on a
 * muted verbs channel: only a caller's look finds it.
 */
static void test_late_pollin(void **state)
{
	struct scif_pollepd p = { .events = POLLIN };
	struct ctx *c = &cx;
	int i, t;
	char z;

	(void)state;
	ctx_open(c, 0);
	p.epd = c->a;
	for (i = 0; i < 3; i++) {
		bool late = i > 0, raise = i == 1;

		fk_lock();
		fk.quiet = true;
		fk.late = late;
		fk_unlock();
		assert_int_equal(scif_send(c->b, "y", 1, SCIF_SEND_BLOCK), 1);
		/* scif_poll looks at the endpoint itself; the fd is not told */
		for (t = 0; t < 10000 && scif_poll(&p, 1, 0) == 0; t++)
			usleep(1000);
		assert_true(p.revents & POLLIN);
		assert_false(fd_readable(c->a));
		assert_int_equal(scif_send(c->a, "x", 1, SCIF_SEND_BLOCK), 1);
		if (!late) {
			assert_true(fd_readable(c->a));
		} else {
			assert_false(fd_readable(c->a));
			if (raise) {
				assert_int_equal(fk_raise_late(c->a), 1);
				assert_true(fd_readable(c->a));
			}
		}
		assert_int_equal(scif_recv(c->a, &z, 1, SCIF_RECV_BLOCK), 1);
		assert_int_equal(z, 'y');
		assert_false(fd_readable(c->a));
		assert_int_equal(fk_raise_late(c->a), 0); /* nothing left */
		assert_false(fd_readable(c->a));
		fk_lock();
		fk.quiet = false;
		fk.late = false;
		fk_unlock();
		assert_int_equal(scif_recv(c->b, &z, 1, SCIF_RECV_BLOCK), 1);
		assert_int_equal(z, 'x');
	}
	ctx_close(c);
}

int main(void)
{
#define T(fn) cmocka_unit_test_teardown(fn, teardown)
	const struct CMUnitTest tests[] = {
		T(test_rma_sizes),
		T(test_fence_wait_out_of_order),
		T(test_fence_signal),
		T(test_piece_failure),
		T(test_unregister_while_posting),
		T(test_unregister_waits_local),
		T(test_unregister_waits_peer),
		T(test_checks_post_nothing),
		T(test_window_get_put),
		T(test_spin_attr),
		T(test_poll_parks),
		T(test_late_pollin),
	};
#undef T
	char path[] = "/tmp/scif-fake-nodes-XXXXXX";
	pthread_condattr_t ca;
	int fd = mkstemp(path), ret;

	if (fd < 0 || write(fd, "0 127.0.0.1\n", 12) != 12)
		return 1;
	close(fd);
	setenv("SCIF_NODES_FILE", path, 1);
	setenv("SCIF_SELF_NODE", "0", 1);
	setenv("SCIF_PROVIDER", "fake", 1);
	setenv("SCIF_CLOSE_TIMEOUT_MS", "20000", 1);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&fk.cv, &ca);
	/* before the first SCIF call: the library chooses at initialisation */
	if (scif__provider_add(&fake_ops))
		return 1;
	ret = cmocka_run_group_tests(tests, NULL, NULL);
	unlink(path);
	return ret;
}
