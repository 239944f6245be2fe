/* SPDX-License-Identifier: BSD-3-Clause */
/* Internal structures of the x100 DMA driver (mic/). */
#ifndef MIC_PRIV_H
#define MIC_PRIV_H

#include <pthread.h>
#include <stdint.h>

#include "x100_dma.h"
#include "x100_regs.h"

#define MIC_NFAIL	16
#define MIC_BOUNCE	(64u * 1024)	/* bytes per bounce chunk (two) */
#define MIC_NO_ADDR	UINT64_MAX

enum { MIC_MEM_HOST = 1, MIC_MEM_CARD = 2 };

struct mic_desc {
	uint64_t qw0, qw1;
};

/* Descriptor positions (lo, hi] failed with err. */
struct mic_fail {
	uint64_t lo, hi;
	int err;
};

/* Host-window memory of one channel number, kept across open/close. */
struct mic_chan_mem {
	struct mic_desc *ring;
	uint32_t *wb;
	uint64_t *fence;
	uint8_t *bounce[2];
};

struct mic_chan {
	struct mic_dev *dev;
	int n;
	pthread_mutex_t lock;
	struct mic_chan_mem mem;
	uint64_t ring_card, wb_card, fence_card, bounce_card[2];
	uint32_t size;
	uint32_t head_idx, done_idx;	/* ring indices */
	uint64_t submitted, issued, done; /* descriptor positions */
	uint64_t bounce_busy[2];	/* position freeing each bounce */
	struct mic_fail fail[MIC_NFAIL];
	unsigned nfail;
	int last_err;
	int broken;			/* reset failed: channel unusable */
	struct mic_chan_stats st;
};

struct mic_dev {
	struct mic_bar bar;
	pthread_mutex_t lock;		/* DCR, allocator, claims */
	uint32_t chan_mask, ring_size, smpt_first;
	uint64_t timeout_ns, page0;
	int poll_dstat;
	size_t brk;
	struct mic_chan *ch[MIC_X100_NCHAN];
	struct mic_chan_mem mem[MIC_X100_NCHAN];
};

static inline uint32_t mic_rd(struct mic_dev *d, uint32_t off)
{
	return d->bar.ops->rd(d->bar.ctx, off);
}

static inline void mic_wr(struct mic_dev *d, uint32_t off, uint32_t v)
{
	d->bar.ops->wr(d->bar.ctx, off, v);
}

/* dev.c */
int mic__classify(struct mic_dev *dev, const void *p, size_t len,
		  uint64_t *addr);
void mic__dcr_enable(struct mic_dev *dev, int n, int on);
uint64_t mic__now_ns(void);

/* chan.c (all with ch->lock held) */
int mic__put(struct mic_chan *ch, uint64_t qw0, uint64_t qw1);
int mic__dma(struct mic_chan *ch, uint64_t da, uint64_t sa, uint64_t len);
int mic__fence(struct mic_chan *ch);
void mic__issue(struct mic_chan *ch);
int mic__wait_pos(struct mic_chan *ch, uint64_t pos);

#endif
