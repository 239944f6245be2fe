/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A user-space driver for the DMA engine of the Knights Corner (x100) card:
 * eight channels in the SBOX, each a ring of 16-byte descriptors in host
 * memory.  The driver copies between the host window and card memory with
 * the SCIF rules: the 64-byte aligned body by DMA, an unaligned head and tail
 * by the CPU when source and destination share their offset in a cache line,
 * through a bounce buffer in chunks when they do not.  docs/mic.md describes
 * the engine as used, the seam and the channel policy.
 *
 * All functions return 0 (or a count) on success and -errno on failure.
 * Completion is polled with a bound: a channel that shows an error, or makes
 * no progress for the timeout, is reset and its unfinished work fails.
 */
#ifndef MIC_X100_DMA_H
#define MIC_X100_DMA_H

#include <stddef.h>
#include <stdint.h>

#include "mic_bar.h"

#define MIC_X100_NCHAN		8
#define MIC_X100_HOST_CHANS	0x0fu	/* 0-3 are host-owned */

struct mic_dev;
struct mic_chan;

struct mic_dev_attr {
	/* Channels the driver may claim; 0: $MIC_DMA_CHANNELS, else 0-3. */
	uint32_t chan_mask;
	/* Descriptors per ring, a multiple of 64; 0: 1024. */
	uint32_t ring_size;
	/* No progress for this long is a hang; 0: $MIC_DMA_TIMEOUT_MS or 1000. */
	uint32_t timeout_ms;
	/* First SMPT entry used to map the host window. */
	uint32_t smpt_first;
	/* Poll DSTAT instead of the status write-back word. */
	int poll_dstat;
};

/* A channel set: "0-3", "2,4-7" or a mask "0x0f"; 0 if malformed. */
uint32_t mic_parse_chans(const char *s);

int mic_dev_open(const struct mic_bar *bar, const struct mic_dev_attr *attr,
		 struct mic_dev **devp);
/* Channels must be closed first. */
void mic_dev_close(struct mic_dev *dev);
/* DMA-able host memory from the window (never freed before close). */
void *mic_dev_alloc(struct mic_dev *dev, size_t len, size_t align);
/* Card address of a pointer into the host window or aperture; ~0: none. */
uint64_t mic_dev_card_addr(struct mic_dev *dev, const void *p);

/* Claim channel n (n < 0: the first free allowed one). */
int mic_chan_open(struct mic_dev *dev, int n, struct mic_chan **chp);
/* Waits (bounded) for the channel's work, then disables it. */
void mic_chan_close(struct mic_chan *ch);
int mic_chan_num(const struct mic_chan *ch);

#define MIC_COPY_ORDERED 1u	/* the last byte (cache line) lands last */
#define MIC_COPY_SYNC	 2u	/* return when the copy is complete */

/*
 * Copy len bytes; dst and src each point into the host window or the card
 * aperture (not both into the host: the engine does not copy host to host).
 * *cookie (may be NULL) is what mic_chan_wait() takes.
 */
int mic_chan_copy(struct mic_chan *ch, void *dst, const void *src,
		  size_t len, unsigned flags, uint64_t *cookie);
/*
 * A STATUS descriptor behind everything submitted so far.  It writes the
 * cookie's value to the word mic_chan_fence_word() returns, so a caller can
 * also wait by watching that word reach the cookie.
 */
int mic_chan_fence(struct mic_chan *ch, uint64_t *cookie);
const volatile uint64_t *mic_chan_fence_word(struct mic_chan *ch);
/* A STATUS descriptor writing val to dst (8-byte aligned) after prior work. */
int mic_chan_signal(struct mic_chan *ch, void *dst, uint64_t val,
		    uint64_t *cookie);
/* 1: complete, 0: pending, -EIO / -ETIMEDOUT: failed. */
int mic_chan_test(struct mic_chan *ch, uint64_t cookie);
/* Waits (bounded) until the cookie completes; 0 or the failure. */
int mic_chan_wait(struct mic_chan *ch, uint64_t cookie);

struct mic_chan_stats {
	uint64_t descs, copies, dma_bytes, cpu_bytes, bounce_bytes, resets;
};
void mic_chan_stats(struct mic_chan *ch, struct mic_chan_stats *st);

#endif
