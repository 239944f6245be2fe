// SPDX-License-Identifier: BSD-3-Clause
/*
 * The x100 DMA driver against the engine model: ring wrap and a full ring,
 * every source/destination offset in a cache line, lengths from 1 byte to
 * several MiB with every byte checked, ORDERED and fences.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>
#include <stdlib.h>
#include <time.h>
#include <cmocka.h>

#include "mic_test.h"

#define GUARD 64

static int setup_ring(void **state, uint32_t ring)
{
	struct mic_dev_attr a = { .ring_size = ring, .timeout_ms = 2000 };
	struct env *e = calloc(1, sizeof(*e));

	assert_int_equal(env_up(e, &a), 0);
	*state = e;
	return 0;
}

static int setup(void **state)
{
	return setup_ring(state, 0);
}

static int setup_small(void **state)
{
	return setup_ring(state, 64);
}

static int teardown(void **state)
{
	env_down(*state);
	free(*state);
	return 0;
}

/*
 * Copy len bytes from src + so to dst + GUARD + do and check every byte,
 * and that the guard bytes on both sides are untouched.
 */
static void check_copy(struct mic_chan *ch, uint8_t *dst, uint8_t *src,
		       size_t so, size_t dof, size_t len, unsigned flags)
{
	uint8_t *d = dst + GUARD + dof;
	long at;

	memset(dst, 0xA5, len + 2 * GUARD + 64);
	fill(src + so, len, (uint32_t)(len * 131 + so * 7 + dof));
	assert_int_equal(mic_chan_copy(ch, d, src + so, len,
				       flags | MIC_COPY_SYNC, NULL), 0);
	at = diff_at(d, src + so, len);
	if (at >= 0)
		fail_msg("len %zu src+%zu dst+%zu: byte %ld differs", len, so,
			 dof, at);
	assert_true(all_bytes(dst, GUARD + dof, 0xA5));
	assert_true(all_bytes(d + len, GUARD + 64 - dof, 0xA5));
}

/* All 64 x 64 offsets for a few lengths, in each direction. */
static void test_offsets(void **state)
{
	static const size_t lens[] = { 1, 63, 65, 200, 4096 + 17 };
	struct env *e = *state;
	uint8_t *h = host_alloc(e, 16384), *c = card_alloc(e, 16384);
	struct mic_chan *ch;
	size_t i, so, dof;

	assert_int_equal(mic_chan_open(e->dev, 0, &ch), 0);
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
		for (so = 0; so < 64; so++)
			for (dof = 0; dof < 64; dof++) {
				check_copy(ch, c, h, so, dof, lens[i], 0);
				check_copy(ch, h, c, so, dof, lens[i], 0);
			}
	/* card to card goes through the host bounce too */
	for (so = 0; so < 64; so += 3)
		for (dof = 0; dof < 64; dof += 5)
			check_copy(ch, c + 8192, c, so, dof, 200, 0);
	mic_chan_close(ch);
}

/* Lengths 1..300, then around powers of two up to several MiB. */
static void test_lengths(void **state)
{
	static const size_t offs[][2] = { { 0, 0 }, { 7, 7 }, { 3, 50 } };
	size_t max = 6u << 20, n, len, k;
	struct env *e = *state;
	uint8_t *h = host_alloc(e, max + 4096), *c = card_alloc(e, max + 4096);
	struct mic_chan *ch;

	assert_int_equal(mic_chan_open(e->dev, 1, &ch), 0);
	for (len = 1; len <= 300; len++) {
		check_copy(ch, c, h, 5, 5, len, 0);
		check_copy(ch, h, c, 3, 40, len, 0);
	}
	for (n = 512; n <= (4u << 20); n *= 2)
		for (k = 0; k < 3; k++) {
			size_t so = offs[k][0], dof = offs[k][1];

			check_copy(ch, c, h, so, dof, n - 1, 0);
			check_copy(ch, h, c, so, dof, n, 0);
			check_copy(ch, c, h, so, dof, n + 63, 0);
		}
	check_copy(ch, c, h, 0, 0, max - 128, 0);
	check_copy(ch, h, c, 9, 9, max - 129, 0);
	check_copy(ch, c, h, 1, 2, max - 130, MIC_COPY_ORDERED);
	check_copy(ch, h, c, 60, 2, max - 131, MIC_COPY_ORDERED);
	mic_chan_close(ch);
}

/* Ring of 64: hundreds of copies wrap it several times. */
static void test_ring_wrap(void **state)
{
	struct env *e = *state;
	uint8_t *h = host_alloc(e, 500 * 4096), *c = card_alloc(e, 500 * 4096);
	struct mic_chan_stats st;
	struct mic_chan *ch;
	uint64_t ck = 0;
	int i;

	assert_int_equal(mic_chan_open(e->dev, 2, &ch), 0);
	fill(h, 500 * 4096, 3);
	for (i = 0; i < 500; i++) {
		assert_int_equal(mic_chan_copy(ch, c + i * 4096, h + i * 4096,
					       4096, 0, &ck), 0);
		if (i % 10 == 9)
			assert_int_equal(mic_chan_wait(ch, ck), 0);
	}
	assert_int_equal(mic_chan_wait(ch, ck), 0);
	assert_int_equal(diff_at(c, h, 500 * 4096), -1);
	mic_chan_stats(ch, &st);
	assert_int_equal(st.descs, 500);
	assert_true(ck >= 7 * 64);
	assert_int_equal(mic_model_executed(e->m, 2), 500);
	mic_chan_close(ch);
}

/*
 * Full ring: a slow engine and 300 queued copies; submission blocks for
 * space (back-pressure) and nothing is lost.  Then one copy needing more
 * descriptors than the ring holds.
 */
static void test_full_ring(void **state)
{
	size_t big = 33u << 20;
	struct env *e = *state;
	uint8_t *h = host_alloc(e, big), *c = card_alloc(e, big);
	uint64_t ck[300], t0;
	struct mic_chan *ch;
	int i;

	assert_int_equal(mic_chan_open(e->dev, 3, &ch), 0);
	fill(h, 300 * 128, 4);
	mic_model_delay(e->m, 3, 100);
	t0 = now_ns();
	for (i = 0; i < 300; i++)
		assert_int_equal(mic_chan_copy(ch, c + i * 128, h + i * 128,
					       128, 0, &ck[i]), 0);
	/* Submission had to wait for the engine: >= 236 x 100 us. */
	assert_true(now_ns() - t0 > 20000000ull);
	for (i = 0; i < 300; i++)
		assert_int_equal(mic_chan_wait(ch, ck[i]), 0);
	assert_int_equal(diff_at(c, h, 300 * 128), -1);
	mic_model_delay(e->m, 3, 0);
	fill(h, big, 5);
	assert_int_equal(mic_chan_copy(ch, c, h, big, MIC_COPY_SYNC, NULL), 0);
	assert_int_equal(diff_at(c, h, big), -1);
	mic_chan_close(ch);
}

/* ORDERED: the model reports where its writes land, in order. */
struct order {
	uint64_t lo, hi;	/* card addresses of the destination */
	uint64_t seq, body_max, last_seq;
	const uint8_t *last_byte;
	uint8_t last_val;
	int tail_early;
};

static struct order ord;

static void order_hook(void *arg, int c, uint64_t addr, size_t len)
{
	struct order *o = arg;

	if (addr + len <= o->lo || addr >= o->hi)
		return;
	o->seq++;
	if (addr + len > o->hi - 64) {
		o->last_seq = o->seq;
		return;
	}
	o->body_max = o->seq;
	if (o->last_byte &&
	    __atomic_load_n(o->last_byte, __ATOMIC_RELAXED) == o->last_val)
		o->tail_early = 1;
}

static void ordered_run(struct env *e, struct mic_chan *ch, uint8_t *d,
			const uint8_t *s, size_t len, unsigned flags)
{
	memset(&ord, 0, sizeof(ord));
	memset(d, 0, len);
	ord.lo = mic_dev_card_addr(e->dev, d);
	ord.hi = ord.lo + len;
	if ((ord.hi & 63) && len > 64) {	/* CPU tail: watch its last byte */
		ord.last_byte = d + len - 1;
		ord.last_val = s[len - 1];
		ord.hi &= ~63ull;
	}
	assert_int_equal(mic_chan_copy(ch, d, s, len, flags | MIC_COPY_SYNC,
				       NULL), 0);
	assert_int_equal(diff_at(d, s, len), -1);
}

static void test_ordered(void **state)
{
	size_t len = 20 * 64, big = 512 * 1024 + 4 * 64 + 10;
	struct env *e = *state;
	uint8_t *h = host_alloc(e, 1 << 20), *c = card_alloc(e, 1 << 20);
	struct mic_chan *ch;

	assert_int_equal(mic_chan_open(e->dev, 0, &ch), 0);
	fill(h, 1 << 20, 6);
	h[len - 1] |= 1;
	mic_model_write_hook(e->m, order_hook, &ord);
	/* The model lands lines last-first: unordered, the end goes first. */
	ordered_run(e, ch, c, h, len, 0);
	assert_true(ord.last_seq < ord.body_max);
	ordered_run(e, ch, c, h, len, MIC_COPY_ORDERED);
	assert_true(ord.last_seq > ord.body_max);
	/* Different offsets (bounce, two chunks): the same. */
	ordered_run(e, ch, c, h + 5, 2000 * 64, MIC_COPY_ORDERED);
	assert_true(ord.last_seq > ord.body_max);
	/* CPU tail: after the body's completion, with a slow engine. */
	mic_model_delay(e->m, 0, 2000);
	h[big - 1] |= 1;
	ordered_run(e, ch, c, h, big, MIC_COPY_ORDERED);
	assert_false(ord.tail_early);
#if !defined(__SANITIZE_THREAD__)
	/* Unordered, the CPU tail is there before the second descriptor. */
	ordered_run(e, ch, c, h, big, 0);
	assert_true(ord.tail_early);
#endif
	mic_model_delay(e->m, 0, 0);
	mic_model_write_hook(e->m, NULL, NULL);
	mic_chan_close(ch);
}

/* A fence's value appears only once everything before it has landed. */
static void test_fence(void **state)
{
	struct env *e = *state;
	uint8_t *h = host_alloc(e, 1 << 20), *c = card_alloc(e, 1 << 20);
	uint64_t *hw = (uint64_t *)host_alloc(e, 64), ck, v;
	uint64_t *cw = (uint64_t *)card_alloc(e, 64);
	const volatile uint64_t *fw;
	struct mic_chan *ch;
	int i;

	assert_int_equal(mic_chan_open(e->dev, 1, &ch), 0);
	fw = mic_chan_fence_word(ch);
	fill(h, 1 << 20, 7);
	for (i = 0; i < 10; i++)
		assert_int_equal(mic_chan_copy(ch, c + i * 100000 + i,
					       h + i * 100000 + i, 99000, 0,
					       NULL), 0);
	assert_int_equal(mic_chan_fence(ch, &ck), 0);
	for (i = 0; i < 200000; i++) {
		v = __atomic_load_n(fw, __ATOMIC_ACQUIRE);
		if (v >= ck)
			break;
		usleep(10);
	}
	assert_true(v >= ck);
	for (i = 0; i < 10; i++)
		assert_int_equal(diff_at(c + i * 100000 + i,
					 h + i * 100000 + i, 99000), -1);
	assert_int_equal(mic_chan_test(ch, ck), 1);
	assert_int_equal(mic_chan_signal(ch, hw, 0x1234567890abcdefull, &ck),
			 0);
	assert_int_equal(mic_chan_signal(ch, cw, 42, &ck), 0);
	assert_int_equal(mic_chan_wait(ch, ck), 0);
	assert_int_equal(*hw, 0x1234567890abcdefull);
	assert_int_equal(*cw, 42);
	assert_int_equal(mic_chan_signal(ch, (uint8_t *)hw + 4, 1, &ck),
			 -EINVAL);
	mic_chan_close(ch);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_offsets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lengths, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ring_wrap, setup_small,
						teardown),
		cmocka_unit_test_setup_teardown(test_full_ring, setup_small,
						teardown),
		cmocka_unit_test_setup_teardown(test_ordered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fence, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
