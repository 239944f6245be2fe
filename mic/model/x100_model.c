// SPDX-License-Identifier: BSD-3-Clause
/*
 * Register-level model of the x100 DMA engine.  Every constant here is the
 * model's own reading of the public description (Linux mic_x100_dma.h, MPSS
 * mic_dma_md.h, Barrelfish xeon_phi_dma_chan.dev; see docs/mic.md); nothing
 * is shared with the driver, so a driver that reads the hardware wrongly
 * fails against it.
 *
 * Register writes with side effects (DCR enable bits) act at once, in the
 * writer's thread, as a device register would; the engine thread notices
 * DHPR moving and executes the descriptors between its tail and the head.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "x100_model.h"

#define M_NCHAN		8
#define M_BAR_LEN	0x20000u
#define M_SBOX		0x10000u
#define M_CHREG(c, r)	(M_SBOX + 0xA000u + (c) * 0x40u + (r))
#define M_DCR		(M_SBOX + 0xA280u)
#define M_SMPT(i)	(M_SBOX + 0x3100u + (i) * 4u)

enum { R_DCAR = 0x00, R_DHPR = 0x04, R_DTPR = 0x08, R_DRAR_LO = 0x14,
	R_DRAR_HI = 0x18, R_DSTAT = 0x20, R_DSTATWB_LO = 0x24,
	R_DSTATWB_HI = 0x28, R_DCHERR = 0x2C };

#define M_CNT_MASK	0x1ffffu	/* DSTAT[16:0] completion count */
#define M_QUIESCE	(1u << 29)
#define M_HWERR		(1u << 31)	/* seen in the write-back on error */
#define M_SYS_BASE	(1ull << 39)	/* system memory through the SMPT */
#define M_PAGE_SHIFT	34		/* SMPT pages are 16 GiB */
#define M_ADDR_MASK	((1ull << 40) - 1)
#define M_HOST_MAX	(512u * 1024)	/* per descriptor, host-owned */
#define M_BATCH		64

enum { T_NOP, T_MEMCOPY, T_STATUS, T_GENERAL };

struct mdesc {
	uint64_t q0, q1;
};

struct mchan {
	int enabled, halted, hang;
	uint32_t size, tail;
	uint64_t ring;
	long fail_k, hang_k;
	unsigned delay_us;
	uint64_t executed;
};

struct mic_model {
	uint32_t *regs;
	uint8_t *card;
	size_t card_len;
	uint8_t *host;
	size_t host_len;
	uint64_t host_bus;
	pthread_mutex_t lock;
	pthread_t thr;
	int stop;
	int reorder;
	mic_model_hook hook;
	void *hook_arg;
	struct mchan ch[M_NCHAN];
};

static uint32_t reg_get(struct mic_model *m, uint32_t off)
{
	return __atomic_load_n(&m->regs[off / 4], __ATOMIC_ACQUIRE);
}

static void reg_set(struct mic_model *m, uint32_t off, uint32_t v)
{
	__atomic_store_n(&m->regs[off / 4], v, __ATOMIC_RELEASE);
}

/* Card address to a host pointer, or NULL if the engine cannot reach it. */
static void *xlate1(struct mic_model *m, uint64_t addr, uint64_t *bus)
{
	uint32_t e;
	uint64_t b;

	if (addr > M_ADDR_MASK)
		return NULL;
	if (addr < M_SYS_BASE) {
		*bus = addr;
		return addr < m->card_len ? m->card + addr : NULL;
	}
	e = (addr >> M_PAGE_SHIFT) & 0x1f;
	b = ((uint64_t)(reg_get(m, M_SMPT(e)) >> 2) << M_PAGE_SHIFT) +
	    (addr & ((1ull << M_PAGE_SHIFT) - 1));
	*bus = b;
	if (b < m->host_bus || b >= m->host_bus + m->host_len)
		return NULL;
	return m->host + (b - m->host_bus);
}

static void *xlate(struct mic_model *m, uint64_t addr, uint64_t len)
{
	uint64_t b0, b1;
	uint8_t *p, *q;

	if (!len)
		return NULL;
	p = xlate1(m, addr, &b0);
	q = xlate1(m, addr + len - 1, &b1);
	if (!p || !q || b1 - b0 != len - 1 || q - p != (ptrdiff_t)(len - 1))
		return NULL;
	return p;
}

static void write_back(struct mic_model *m, int c, uint32_t dstat)
{
	uint64_t wb = reg_get(m, M_CHREG(c, R_DSTATWB_LO)) |
		      (uint64_t)reg_get(m, M_CHREG(c, R_DSTATWB_HI)) << 32;
	uint32_t *p;

	if (!wb)
		return;
	p = xlate(m, wb, 4);
	if (p && !((uintptr_t)p & 3))
		__atomic_store_n(p, dstat, __ATOMIC_RELEASE);
}

/* The channel stops at descriptor idx; what came before it is complete. */
static void chan_error(struct mic_model *m, int c, uint32_t err, uint32_t idx)
{
	struct mchan *ch = &m->ch[c];
	uint32_t dstat = (idx & M_CNT_MASK) | M_QUIESCE | M_HWERR;

	ch->halted = 1;
	reg_set(m, M_CHREG(c, R_DCHERR),
		reg_get(m, M_CHREG(c, R_DCHERR)) | err);
	reg_set(m, M_CHREG(c, R_DTPR), idx);
	reg_set(m, M_CHREG(c, R_DSTAT), dstat);
	write_back(m, c, dstat);
}

static void chan_enable(struct mic_model *m, int c)
{
	struct mchan *ch = &m->ch[c];
	uint32_t lo = reg_get(m, M_CHREG(c, R_DRAR_LO));
	uint32_t hi = reg_get(m, M_CHREG(c, R_DRAR_HI));
	uint32_t tail = reg_get(m, M_CHREG(c, R_DTPR));

	ch->size = (hi >> 4) & 0x1ffff;
	if (hi & (1u << 26))
		ch->ring = M_SYS_BASE | (uint64_t)((hi >> 21) & 0x1f) << 34 |
			   (uint64_t)(hi & 3) << 32 | lo;
	else
		ch->ring = (uint64_t)(hi & 0xf) << 32 | lo;
	ch->enabled = 1;
	ch->halted = 0;
	if (ch->size < 4 || ch->size % 4 || (lo & 63) || tail >= ch->size ||
	    !xlate(m, ch->ring, (uint64_t)ch->size * 16)) {
		chan_error(m, c, MICM_ERR_RING, tail);
		return;
	}
	ch->tail = tail;
	reg_set(m, M_CHREG(c, R_DSTAT), tail);
}

static void chan_disable(struct mic_model *m, int c)
{
	struct mchan *ch = &m->ch[c];

	ch->enabled = 0;
	ch->halted = 0;
	ch->hang = 0;
	reg_set(m, M_CHREG(c, R_DSTAT),
		reg_get(m, M_CHREG(c, R_DSTAT)) | M_QUIESCE);
}

uint32_t mic_model_rd(struct mic_model *m, uint32_t off)
{
	if (off >= M_BAR_LEN || (off & 3))
		return 0xffffffffu;
	return reg_get(m, off);
}

void mic_model_wr(struct mic_model *m, uint32_t off, uint32_t val)
{
	uint32_t old;
	int c;

	if (off >= M_BAR_LEN || (off & 3))
		return;
	if (off != M_DCR) {
		reg_set(m, off, val);
		return;
	}
	pthread_mutex_lock(&m->lock);
	old = reg_get(m, off);
	reg_set(m, off, val);
	for (c = 0; c < M_NCHAN; c++) {
		uint32_t bit = 2u << (2 * c);	/* enable; owner is 1 << 2c */

		if (!(old & bit) && (val & bit))
			chan_enable(m, c);
		else if ((old & bit) && !(val & bit))
			chan_disable(m, c);
	}
	pthread_mutex_unlock(&m->lock);
}

static uint32_t bar_rd(void *ctx, uint32_t off)
{
	return mic_model_rd(ctx, off);
}

static void bar_wr(void *ctx, uint32_t off, uint32_t val)
{
	mic_model_wr(ctx, off, val);
}

static const struct mic_bar_ops model_ops = { bar_rd, bar_wr };

static uint32_t check_memcopy(struct mic_model *m, int c, const struct mdesc *d)
{
	uint64_t sap = d->q0 & M_ADDR_MASK, dap = d->q1 & M_ADDR_MASK;
	uint64_t len = ((d->q0 >> 46) & 0x3fff) << 6;
	int host_owned = reg_get(m, M_DCR) >> (2 * c) & 1;

	if ((d->q1 >> 57) & 7)
		return MICM_ERR_RSVD;
	if (!len || (host_owned && len > M_HOST_MAX))
		return MICM_ERR_LEN;
	if ((sap | dap) & 63)
		return MICM_ERR_ALIGN;
	/* "not capable of host memory to host memory transfers" */
	if (sap >= M_SYS_BASE && dap >= M_SYS_BASE)
		return MICM_ERR_ADDR;
	if (!xlate(m, sap, len) || !xlate(m, dap, len))
		return MICM_ERR_ADDR;
	return 0;
}

static uint32_t check_desc(struct mic_model *m, int c, const struct mdesc *d)
{
	uint64_t dap = d->q1 & M_ADDR_MASK;

	switch (d->q1 >> 60) {
	case T_NOP:
		return 0;
	case T_MEMCOPY:
		return check_memcopy(m, c, d);
	case T_STATUS:
		if (dap & 7)
			return MICM_ERR_ALIGN;
		return xlate(m, dap, 8) ? 0 : MICM_ERR_ADDR;
	case T_GENERAL:
		if (dap & 3)
			return MICM_ERR_ALIGN;
		return xlate(m, dap, 4) ? 0 : MICM_ERR_ADDR;
	default:	/* KEYNONCECNT, KEY and undefined types */
		return MICM_ERR_TYPE;
	}
}

static void exec_memcopy(struct mic_model *m, int c, const struct mdesc *d)
{
	uint64_t sap = d->q0 & M_ADDR_MASK, dap = d->q1 & M_ADDR_MASK;
	uint64_t len = ((d->q0 >> 46) & 0x3fff) << 6, o;
	uint8_t *s = xlate(m, sap, len), *t = xlate(m, dap, len);

	if (!m->hook || !m->reorder) {
		memmove(t, s, len);
		if (m->hook)
			m->hook(m->hook_arg, c, dap, len);
		return;
	}
	for (o = len; o; o -= 64) {
		memmove(t + o - 64, s + o - 64, 64);
		m->hook(m->hook_arg, c, dap + o - 64, 64);
	}
}

static void exec_desc(struct mic_model *m, int c, const struct mdesc *d)
{
	uint64_t dap = d->q1 & M_ADDR_MASK;

	switch (d->q1 >> 60) {
	case T_MEMCOPY:
		exec_memcopy(m, c, d);
		return;
	case T_STATUS:
		__atomic_store_n((uint64_t *)xlate(m, dap, 8), d->q0,
				 __ATOMIC_RELEASE);
		break;
	case T_GENERAL:
		__atomic_store_n((uint32_t *)xlate(m, dap, 4),
				 (uint32_t)d->q0, __ATOMIC_RELEASE);
		break;
	default:
		return;
	}
	if (m->hook)
		m->hook(m->hook_arg, c, dap, (d->q1 >> 60) == T_STATUS ? 8 : 4);
}

/*
 * Execute a batch: descriptors up to a fence (STATUS/GENERAL, always last)
 * may land in any order; with reordering on they land last-first.
 */
static void exec_batch(struct mic_model *m, int c, struct mdesc *b, int n)
{
	struct mchan *ch = &m->ch[c];
	int fence = n && (b[n - 1].q1 >> 60) >= T_STATUS, i;
	int body = n - fence;
	uint32_t dstat;

	for (i = 0; i < body; i++)
		exec_desc(m, c, &b[m->reorder ? body - 1 - i : i]);
	if (fence)
		exec_desc(m, c, &b[n - 1]);
	if (!n)
		return;
	ch->tail = (ch->tail + n) % ch->size;
	ch->executed += n;
	reg_set(m, M_CHREG(c, R_DTPR), ch->tail);
	dstat = ch->tail;
	reg_set(m, M_CHREG(c, R_DSTAT), dstat);
	write_back(m, c, dstat);
}

static void run_batch(struct mic_model *m, int c, uint32_t head, int max)
{
	struct mchan *ch = &m->ch[c];
	struct mdesc b[M_BATCH];
	uint32_t idx = ch->tail, err;
	const uint64_t *p;
	int n = 0;

	while (idx != head && n < max) {
		p = xlate(m, ch->ring + (uint64_t)idx * 16, 16);
		if (!p) {
			err = MICM_ERR_ADDR;
			goto fail;
		}
		b[n].q0 = p[0];
		b[n].q1 = p[1];
		err = check_desc(m, c, &b[n]);
		if (!err && ch->fail_k >= 0 && ch->fail_k-- == 0)
			err = MICM_ERR_INJECT;
		if (err)
			goto fail;
		if (ch->hang_k >= 0 && ch->hang_k-- == 0) {
			ch->hang = 1;	/* stuck before this one */
			break;
		}
		idx = (idx + 1) % ch->size;
		if ((b[n++].q1 >> 60) >= T_STATUS)
			break;
	}
	exec_batch(m, c, b, n);
	return;
fail:
	exec_batch(m, c, b, n);
	chan_error(m, c, err, idx);
}

static int model_step(struct mic_model *m, int c)
{
	struct mchan *ch = &m->ch[c];
	unsigned delay;
	uint32_t head;

	pthread_mutex_lock(&m->lock);
	if (!ch->enabled || ch->halted || ch->hang) {
		pthread_mutex_unlock(&m->lock);
		return 0;
	}
	head = reg_get(m, M_CHREG(c, R_DHPR));
	if (head >= ch->size) {
		chan_error(m, c, MICM_ERR_RING, ch->tail);
		pthread_mutex_unlock(&m->lock);
		return 1;
	}
	if (head == ch->tail) {	/* head == tail: empty */
		pthread_mutex_unlock(&m->lock);
		return 0;
	}
	delay = ch->delay_us;
	run_batch(m, c, head, delay ? 1 : M_BATCH);
	pthread_mutex_unlock(&m->lock);
	if (delay)
		usleep(delay);
	return 1;
}

static void *model_thread(void *arg)
{
	struct mic_model *m = arg;
	struct timespec ts = { 0, 5000 };
	unsigned idle = 0;
	int c, work;

	/* Short sleeps when busy: the engine's latency is what we measure;
	 * after a long idle spell they grow to 1 ms, so that an engine
	 * nobody uses (a library's model card) does not eat a small VM. */
	prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
	while (!__atomic_load_n(&m->stop, __ATOMIC_ACQUIRE)) {
		work = 0;
		for (c = 0; c < M_NCHAN; c++)
			work |= model_step(m, c);
		if (work) {
			idle = 0;
			ts.tv_nsec = 5000;
		} else if (++idle > 200) {
			nanosleep(&ts, NULL);
			if (idle > 20000 && ts.tv_nsec < 1000000)
				ts.tv_nsec *= 2;
		} else {
			sched_yield();
		}
	}
	return NULL;
}

static void *map_shared(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

static void model_unmap(struct mic_model *m)
{
	if (m->regs)
		munmap(m->regs, M_BAR_LEN);
	if (m->card)
		munmap(m->card, m->card_len);
	if (m->host)
		munmap(m->host, m->host_len);
}

static void model_reset_regs(struct mic_model *m, uint32_t host_owned)
{
	uint32_t dcr = 0;
	int c;

	for (c = 0; c < M_NCHAN; c++) {
		m->ch[c].fail_k = -1;
		m->ch[c].hang_k = -1;
		reg_set(m, M_CHREG(c, R_DSTAT), M_QUIESCE);
		if (host_owned & (1u << c))
			dcr |= 1u << (2 * c);
	}
	reg_set(m, M_DCR, dcr);
}

int mic_model_start(const struct mic_model_cfg *cfg, struct mic_model **mp)
{
	struct mic_model *m = calloc(1, sizeof(*m));
	int rc;

	if (!m)
		return -ENOMEM;
	m->card_len = cfg && cfg->card_len ? cfg->card_len : 64u << 20;
	m->host_len = cfg && cfg->host_len ? cfg->host_len : 64u << 20;
	m->host_bus = cfg && cfg->host_bus ? cfg->host_bus : 0x3fe000000ull;
	m->regs = map_shared(M_BAR_LEN);
	m->card = map_shared(m->card_len);
	m->host = map_shared(m->host_len);
	if (!m->regs || !m->card || !m->host) {
		model_unmap(m);
		free(m);
		return -ENOMEM;
	}
	m->reorder = 1;
	pthread_mutex_init(&m->lock, NULL);
	model_reset_regs(m, cfg && cfg->host_owned ? cfg->host_owned : 0x0f);
	rc = pthread_create(&m->thr, NULL, model_thread, m);
	if (rc) {
		model_unmap(m);
		free(m);
		return -rc;
	}
	*mp = m;
	return 0;
}

void mic_model_stop(struct mic_model *m)
{
	if (!m)
		return;
	__atomic_store_n(&m->stop, 1, __ATOMIC_RELEASE);
	pthread_join(m->thr, NULL);
	pthread_mutex_destroy(&m->lock);
	model_unmap(m);
	free(m);
}

void mic_model_bar(struct mic_model *m, struct mic_bar *bar)
{
	memset(bar, 0, sizeof(*bar));
	bar->ops = &model_ops;
	bar->ctx = m;
	bar->mmio_len = M_BAR_LEN;
	bar->aper = m->card;
	bar->aper_len = m->card_len;
	bar->host_va = m->host;
	bar->host_bus = m->host_bus;
	bar->host_len = m->host_len;
	bar->fd0 = bar->fd4 = -1;
}

void mic_model_fail_desc(struct mic_model *m, int c, long k)
{
	pthread_mutex_lock(&m->lock);
	m->ch[c].fail_k = k < 0 ? -1 : k;
	pthread_mutex_unlock(&m->lock);
}

void mic_model_hang(struct mic_model *m, int c, int on)
{
	pthread_mutex_lock(&m->lock);
	m->ch[c].hang = on;
	pthread_mutex_unlock(&m->lock);
}

void mic_model_hang_desc(struct mic_model *m, int c, long k)
{
	pthread_mutex_lock(&m->lock);
	m->ch[c].hang_k = k < 0 ? -1 : k;
	pthread_mutex_unlock(&m->lock);
}

void mic_model_delay(struct mic_model *m, int c, unsigned usec)
{
	pthread_mutex_lock(&m->lock);
	m->ch[c].delay_us = usec;
	pthread_mutex_unlock(&m->lock);
}

void mic_model_reorder(struct mic_model *m, int on)
{
	pthread_mutex_lock(&m->lock);
	m->reorder = on;
	pthread_mutex_unlock(&m->lock);
}

void mic_model_write_hook(struct mic_model *m, mic_model_hook fn, void *arg)
{
	pthread_mutex_lock(&m->lock);
	m->hook = fn;
	m->hook_arg = arg;
	pthread_mutex_unlock(&m->lock);
}

uint64_t mic_model_executed(struct mic_model *m, int c)
{
	uint64_t n;

	pthread_mutex_lock(&m->lock);
	n = m->ch[c].executed;
	pthread_mutex_unlock(&m->lock);
	return n;
}
