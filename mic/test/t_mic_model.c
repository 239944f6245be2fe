// SPDX-License-Identifier: BSD-3-Clause
/*
 * The engine model on its own, driven register by register the way the
 * public description says the hardware is driven (no driver code): ring
 * programming, MEMCOPY/STATUS/GENERAL, DSTAT and write-back, wrap, DCHERR
 * on malformed descriptors, and recovery by disable/enable.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>
#include <time.h>
#include <cmocka.h>

#include "mic_test.h"

#define SBOX		0x10000u
#define CH(c, r)	(SBOX + 0xA000u + (c) * 0x40u + (r))
#define DCR		(SBOX + 0xA280u)
#define SMPT(i)		(SBOX + 0x3100u + (i) * 4u)
#define SYS		(1ull << 39)
#define RING		64u

struct mt {
	struct mic_model *m;
	struct mic_bar bar;
	uint64_t *ring;		/* host window offset 0 */
	uint64_t ring_card;
	uint32_t head;
};

/* Card address of host-window offset off, SMPT entries 0.. mapping it. */
static uint64_t hcard(struct mt *t, size_t off)
{
	uint64_t bus = t->bar.host_bus + off;

	return SYS | ((bus >> 34) - (t->bar.host_bus >> 34)) << 34 |
	       (bus & ((1ull << 34) - 1));
}

static void mt_enable(struct mt *t, int c)
{
	mic_model_wr(t->m, CH(c, 0x14), (uint32_t)t->ring_card);
	mic_model_wr(t->m, CH(c, 0x18), RING << 4 | 1u << 26 |
		     (uint32_t)((t->ring_card >> 34) & 0x1f) << 21 |
		     (uint32_t)((t->ring_card >> 32) & 3));
	mic_model_wr(t->m, CH(c, 0x08), 0);
	mic_model_wr(t->m, CH(c, 0x04), 0);
	t->head = 0;
	mic_model_wr(t->m, DCR, mic_model_rd(t->m, DCR) | 2u << (2 * c));
}

static int mt_setup(void **state)
{
	struct mt *t = calloc(1, sizeof(*t));
	uint64_t page = 0x3fe000000ull >> 34;

	assert_int_equal(mic_model_start(NULL, &t->m), 0);
	mic_model_bar(t->m, &t->bar);
	mic_model_wr(t->m, SMPT(0), (uint32_t)(page << 2));
	mic_model_wr(t->m, SMPT(1), (uint32_t)((page + 1) << 2));
	t->ring = t->bar.host_va;
	t->ring_card = hcard(t, 0);
	mt_enable(t, 0);
	*state = t;
	return 0;
}

static int mt_teardown(void **state)
{
	struct mt *t = *state;

	mic_model_stop(t->m);
	free(t);
	return 0;
}

static void put(struct mt *t, uint64_t q0, uint64_t q1)
{
	t->ring[t->head * 2] = q0;
	t->ring[t->head * 2 + 1] = q1;
	t->head = (t->head + 1) % RING;
}

static void go(struct mt *t)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	mic_model_wr(t->m, CH(0, 0x04), t->head);
}

/* Wait for DSTAT's count to reach want or for quiesce; returns DSTAT. */
static uint32_t wait_dstat(struct mt *t, uint32_t want)
{
	uint32_t v = 0;
	int i;

	for (i = 0; i < 20000; i++) {
		v = mic_model_rd(t->m, CH(0, 0x20));
		if ((v & 0x1ffff) == want || (v & 0x20000000))
			return v;
		usleep(50);
	}
	return v;
}

static uint64_t memcopy(uint64_t src, uint64_t dst, uint64_t len)
{
	return src | (len / 64) << 46;
}

#define MC(dst)	(1ull << 60 | (dst))

static void test_memcopy_status_wb(void **state)
{
	struct mt *t = *state;
	uint8_t *h = t->bar.host_va, *c = t->bar.aper;
	uint32_t *wb = (uint32_t *)(h + 8192);

	assert_int_equal(mic_model_rd(t->m, CH(0, 0x20)) & 0x20000000, 0);
	mic_model_wr(t->m, CH(0, 0x24), (uint32_t)hcard(t, 8192));
	mic_model_wr(t->m, CH(0, 0x28), (uint32_t)(hcard(t, 8192) >> 32));
	fill(h + 4096, 256, 1);
	put(t, memcopy(hcard(t, 4096), 0x1000, 256), MC(0x1000));
	put(t, 0x1122334455667788ull, 2ull << 60 | hcard(t, 8200));
	put(t, 0xdeadbeefcafef00dull, 3ull << 60 | 0x2000);
	put(t, 0, 0);	/* NOP */
	go(t);
	assert_int_equal(wait_dstat(t, 4), 4);
	assert_memory_equal(c + 0x1000, h + 4096, 256);
	assert_int_equal(*(uint64_t *)(h + 8200), 0x1122334455667788ull);
	assert_int_equal(*(uint32_t *)(c + 0x2000), 0xcafef00du);
	assert_int_equal(*(uint32_t *)(c + 0x2004), 0);	/* 32 bits only */
	assert_int_equal(__atomic_load_n(wb, __ATOMIC_ACQUIRE), 4);
	assert_int_equal(mic_model_rd(t->m, CH(0, 0x08)), 4);	/* DTPR */
}

static void test_wrap(void **state)
{
	struct mt *t = *state;
	uint32_t i, done = 0;

	for (i = 0; i < 5 * RING; i++) {
		put(t, 0, 0);
		if (i % 40 == 39) {
			go(t);
			done = (done + 40) % RING;
			assert_int_equal(wait_dstat(t, done), done);
		}
	}
	assert_int_equal(mic_model_executed(t->m, 0), 5 * RING - 5 * RING % 40);
}

/* Each malformed descriptor stops the channel with DCHERR set. */
static void expect_error(struct mt *t, uint64_t q0, uint64_t q1, uint32_t bit)
{
	uint8_t *c = t->bar.aper;
	uint32_t start = t->head, v;

	c[0x3000] = 0;
	put(t, q0, q1);
	put(t, 0x77, 3ull << 60 | 0x3000);	/* must not run */
	go(t);
	v = wait_dstat(t, UINT32_MAX);
	assert_true(v & 0x20000000);
	assert_int_equal(v & 0x1ffff, start);
	assert_true(mic_model_rd(t->m, CH(0, 0x2C)) & bit);
	assert_int_equal(c[0x3000], 0);
	/* Recovery: disable, clear DCHERR, program, enable. */
	mic_model_wr(t->m, DCR, mic_model_rd(t->m, DCR) & ~2u);
	mic_model_wr(t->m, CH(0, 0x2C), 0);
	mt_enable(t, 0);
	put(t, 0x77, 3ull << 60 | 0x3000);
	go(t);
	assert_int_equal(wait_dstat(t, 1), 1);
	assert_int_equal(c[0x3000], 0x77);
}

static void test_malformed(void **state)
{
	struct mt *t = *state;
	uint64_t h = hcard(t, 16384);

	expect_error(t, 0, 5ull << 60, MICM_ERR_TYPE);		/* KEY */
	expect_error(t, 0, 4ull << 60, MICM_ERR_TYPE);		/* KEYNONCECNT */
	expect_error(t, 0, 9ull << 60, MICM_ERR_TYPE);
	expect_error(t, memcopy(h + 8, 0x1000, 128), MC(0x1000),
		     MICM_ERR_ALIGN);
	expect_error(t, memcopy(h, 0x1000, 0), MC(0x1000), MICM_ERR_LEN);
	expect_error(t, memcopy(h, 0x1000, 1024 * 1024 - 64), MC(0x1000),
		     MICM_ERR_LEN);	/* > 512 KiB on a host channel */
	expect_error(t, memcopy(h, h + 4096, 128), MC(h + 4096),
		     MICM_ERR_ADDR);	/* host to host */
	expect_error(t, memcopy(SYS | 5ull << 34, 0x1000, 128), MC(0x1000),
		     MICM_ERR_ADDR);	/* SMPT entry 5 maps nothing */
	expect_error(t, memcopy(0, 0x1000, 64), 1ull << 57 | MC(0x1000),
		     MICM_ERR_RSVD);
	expect_error(t, 1, 2ull << 60 | (h + 4), MICM_ERR_ALIGN);
}

static void test_inject(void **state)
{
	struct mt *t = *state;
	uint8_t *c = t->bar.aper;

	mic_model_fail_desc(t->m, 0, 2);
	put(t, 1, 3ull << 60 | 0x4000);
	put(t, 2, 3ull << 60 | 0x4004);
	put(t, 3, 3ull << 60 | 0x4008);
	go(t);
	assert_int_equal(wait_dstat(t, UINT32_MAX) & 0x1ffff, 2);
	assert_true(mic_model_rd(t->m, CH(0, 0x2C)) & MICM_ERR_INJECT);
	assert_int_equal(c[0x4000] + c[0x4004] + c[0x4008], 3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_memcopy_status_wb,
						mt_setup, mt_teardown),
		cmocka_unit_test_setup_teardown(test_wrap, mt_setup,
						mt_teardown),
		cmocka_unit_test_setup_teardown(test_malformed, mt_setup,
						mt_teardown),
		cmocka_unit_test_setup_teardown(test_inject, mt_setup,
						mt_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
