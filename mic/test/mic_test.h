/* SPDX-License-Identifier: BSD-3-Clause */
/* Shared set-up for the mic/ tests: the driver on the engine model. */
#ifndef MIC_TEST_H
#define MIC_TEST_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "x100_dma.h"
#include "x100_model.h"

struct env {
	struct mic_model *m;
	struct mic_bar bar;
	struct mic_dev *dev;
	size_t card_brk;
};

static inline int env_up(struct env *e, const struct mic_dev_attr *a)
{
	struct mic_model_cfg cfg = { 0 };
	int rc;

	memset(e, 0, sizeof(*e));
	rc = mic_model_start(&cfg, &e->m);
	if (rc)
		return rc;
	mic_model_bar(e->m, &e->bar);
	rc = mic_dev_open(&e->bar, a, &e->dev);
	if (rc)
		mic_model_stop(e->m);
	return rc;
}

static inline void env_down(struct env *e)
{
	mic_dev_close(e->dev);
	mic_model_stop(e->m);
}

static inline uint8_t *card_alloc(struct env *e, size_t n)
{
	uint8_t *p = (uint8_t *)e->bar.aper + e->card_brk;

	e->card_brk += (n + 4095) & ~(size_t)4095;
	return e->card_brk <= e->bar.aper_len ? p : NULL;
}

static inline uint8_t *host_alloc(struct env *e, size_t n)
{
	return mic_dev_alloc(e->dev, n, 4096);
}

static inline uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static inline void fill(uint8_t *p, size_t n, uint32_t seed)
{
	uint32_t x = seed * 2654435761u + 1;
	size_t i;

	for (i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p[i] = (uint8_t)x;
	}
}

/* Index of the first differing byte, or -1. */
static inline long diff_at(const uint8_t *a, const uint8_t *b, size_t n)
{
	size_t i;

	if (!memcmp(a, b, n))
		return -1;
	for (i = 0; a[i] == b[i]; i++)
		;
	return (long)i;
}

static inline int all_bytes(const uint8_t *p, size_t n, uint8_t v)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] != v)
			return 0;
	return 1;
}

#endif
