// SPDX-License-Identifier: BSD-3-Clause
/*
 * Copies of any length and alignment with the SCIF rules.  The engine moves
 * 64-byte aligned lines only, so:
 *  - same offset in the cache line: the unaligned head and tail go by CPU,
 *    the aligned body by DMA;
 *  - different offsets: the body goes through a host bounce buffer in
 *    chunks, aligned like the side the DMA touches (card destination: CPU
 *    into the bounce, then DMA out; host destination: DMA into the bounce,
 *    then CPU out);
 *  - ORDERED: the last byte lands last.  A DMA'd last line follows the body
 *    behind a STATUS fence; a CPU tail waits for the body's completion.
 */
#include <errno.h>
#include <string.h>

#include "log.h"
#include "mic_priv.h"

struct xfer {
	struct mic_chan *ch;
	uint8_t *d;
	const uint8_t *s;
	uint64_t da, sa;
	size_t len;
	int ordered;
};

/* CPU copy; ORDERED: the last byte is stored after all the others. */
static void cpu_copy(struct mic_chan *ch, uint8_t *d, const uint8_t *s,
		     size_t n, int ordered)
{
	if (!n)
		return;
	ch->st.cpu_bytes += n;
	if (!ordered) {
		memcpy(d, s, n);
		return;
	}
	memcpy(d, s, n - 1);
	__atomic_thread_fence(__ATOMIC_RELEASE);
	__atomic_store_n(&d[n - 1], s[n - 1], __ATOMIC_RELAXED);
}

/* Split [off, off + body) of a line-aligned range into head/body/tail. */
static void split(uint64_t addr, size_t len, size_t *head, size_t *body)
{
	size_t h = (X100_LINE - (addr & (X100_LINE - 1))) & (X100_LINE - 1);

	if (h > len)
		h = len;
	*head = h;
	*body = (len - h) & ~(size_t)(X100_LINE - 1);
}

/* DMA n bytes; ORDERED and last: the final line behind a fence. */
static int dma_part(struct mic_chan *ch, uint64_t da, uint64_t sa, size_t n,
		    int fence_last)
{
	int rc;

	if (!fence_last)
		return mic__dma(ch, da, sa, n);
	rc = mic__dma(ch, da, sa, n - X100_LINE);
	if (!rc)
		rc = mic__fence(ch);
	if (!rc)
		rc = mic__dma(ch, da + n - X100_LINE, sa + n - X100_LINE,
			      X100_LINE);
	return rc;
}

/* ORDERED with a CPU tail: the body must be complete first. */
static int tail_copy(struct xfer *x, size_t off)
{
	int rc;

	if (off == x->len)
		return 0;
	if (x->ordered) {
		mic__issue(x->ch);
		rc = mic__wait_pos(x->ch, x->ch->submitted);
		if (rc)
			return rc;
	}
	cpu_copy(x->ch, x->d + off, x->s + off, x->len - off, x->ordered);
	return 0;
}

static int copy_same(struct xfer *x)
{
	size_t head, body;
	int rc;

	split(x->da, x->len, &head, &body);
	if (!body) {
		cpu_copy(x->ch, x->d, x->s, x->len, x->ordered);
		return 0;
	}
	cpu_copy(x->ch, x->d, x->s, head, 0);
	rc = dma_part(x->ch, x->da + head, x->sa + head, body,
		      x->ordered && head + body == x->len);
	return rc ? rc : tail_copy(x, head + body);
}

static size_t chunk(size_t left)
{
	return left < MIC_BOUNCE ? left : MIC_BOUNCE;
}

/* Wait until bounce buffer b is no longer read or written by the engine. */
static int bounce_free(struct mic_chan *ch, int b)
{
	if (ch->bounce_busy[b] <= ch->done)
		return 0;
	return mic__wait_pos(ch, ch->bounce_busy[b]);
}

/* Card destination: CPU copies into a bounce aligned like dst, DMA out. */
static int copy_bounce_in(struct xfer *x)
{
	struct mic_chan *ch = x->ch;
	size_t head, body, off, n;
	int b = 0, rc, last;

	split(x->da, x->len, &head, &body);
	if (!body) {
		cpu_copy(ch, x->d, x->s, x->len, x->ordered);
		return 0;
	}
	cpu_copy(ch, x->d, x->s, head, 0);
	for (off = head; off < head + body; off += n, b ^= 1) {
		n = chunk(head + body - off);
		rc = bounce_free(ch, b);
		if (rc)
			return rc;
		memcpy(ch->mem.bounce[b], x->s + off, n);
		ch->st.bounce_bytes += n;
		last = off + n == head + body;
		rc = dma_part(ch, x->da + off, ch->bounce_card[b], n,
			      x->ordered && last && off + n == x->len);
		if (rc)
			return rc;
		mic__issue(ch);
		ch->bounce_busy[b] = ch->submitted;
	}
	return tail_copy(x, head + body);
}

/* CPU half of a host-destination chunk once its DMA is complete. */
static int bounce_drain(struct xfer *x, int b, size_t off, size_t n,
			uint64_t pos, int ordered)
{
	int rc = mic__wait_pos(x->ch, pos);

	if (rc)
		return rc;
	cpu_copy(x->ch, x->d + off, x->ch->mem.bounce[b], n, ordered);
	x->ch->st.bounce_bytes += n;
	return 0;
}

/* Host destination (card source): DMA into a bounce aligned like src. */
static int copy_bounce_out(struct xfer *x)
{
	struct mic_chan *ch = x->ch;
	size_t head, body, off, n, poff = 0, pn = 0;
	uint64_t ppos = 0;
	int b = 0, rc;

	split(x->sa, x->len, &head, &body);
	if (!body) {
		cpu_copy(ch, x->d, x->s, x->len, x->ordered);
		return 0;
	}
	cpu_copy(ch, x->d, x->s, head, 0);
	for (off = head; off < head + body; off += n, b ^= 1) {
		n = chunk(head + body - off);
		rc = bounce_free(ch, b);
		if (!rc)
			rc = mic__dma(ch, ch->bounce_card[b], x->sa + off, n);
		if (rc)
			return rc;
		mic__issue(ch);
		ch->bounce_busy[b] = ch->submitted;
		/* The previous chunk drains while this one is in flight. */
		if (pn && (rc = bounce_drain(x, b ^ 1, poff, pn, ppos, 0)))
			return rc;
		poff = off;
		pn = n;
		ppos = ch->submitted;
	}
	rc = bounce_drain(x, b ^ 1, poff, pn, ppos,
			  x->ordered && poff + pn == x->len);
	return rc ? rc : tail_copy(x, head + body);
}

int mic_chan_copy(struct mic_chan *ch, void *dst, const void *src,
		  size_t len, unsigned flags, uint64_t *cookie)
{
	struct xfer x = { ch, dst, src, 0, 0, len, !!(flags & MIC_COPY_ORDERED) };
	int kd, ks, rc;
	uint64_t gen;

	kd = mic__classify(ch->dev, dst, len ? len : 1, &x.da);
	ks = mic__classify(ch->dev, src, len ? len : 1, &x.sa);
	if (kd < 0 || ks < 0) {
		scif_err("copy %p <- %p (%zu bytes): not in the host window or "
			"the card aperture", dst, src, len);
		return -EINVAL;
	}
	if (kd == MIC_MEM_HOST && ks == MIC_MEM_HOST) {
		scif_err("copy %p <- %p: the engine does not copy host to host",
			dst, src);
		return -EINVAL;
	}
	pthread_mutex_lock(&ch->lock);
	gen = ch->st.resets;
	rc = ch->broken;
	if (!rc && len) {
		if ((x.da & (X100_LINE - 1)) == (x.sa & (X100_LINE - 1)))
			rc = copy_same(&x);
		else if (kd == MIC_MEM_CARD)
			rc = copy_bounce_in(&x);
		else
			rc = copy_bounce_out(&x);
	}
	mic__issue(ch);
	if (!rc && (flags & MIC_COPY_SYNC))
		rc = mic__wait_pos(ch, ch->submitted);
	/* A reset while this copy was queued failed part of it. */
	if (!rc && ch->st.resets != gen)
		rc = ch->last_err;
	if (!rc) {
		ch->st.copies++;
		if (cookie)
			*cookie = ch->submitted;
	}
	pthread_mutex_unlock(&ch->lock);
	return rc;
}
