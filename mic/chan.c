// SPDX-License-Identifier: BSD-3-Clause
/*
 * Channel level of the x100 DMA driver: ring programming, submission,
 * completion by polling (write-back word or DSTAT) with a bound, error
 * detection and channel reset.
 *
 * Positions: every descriptor gets a 64-bit position (submitted counts
 * them); a cookie is the position of an operation's last descriptor.  The
 * hardware's completion count is a ring index; done follows it.  When the
 * channel fails, every position in (done, submitted] fails with the error,
 * the channel is reset and numbering goes on, so a cookie never reports a
 * completion that did not happen.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "mic_priv.h"

static uint32_t ch_rd(struct mic_chan *ch, uint32_t reg)
{
	return mic_rd(ch->dev, X100_CH(ch->n, reg));
}

static void ch_wr(struct mic_chan *ch, uint32_t reg, uint32_t v)
{
	mic_wr(ch->dev, X100_CH(ch->n, reg), v);
}

/* Pause, yield, then sleep from 20 us doubling every 256 rounds up to
 * about 1.3 ms: a long wait (a slow or stuck engine) does not keep a CPU
 * of a small machine busy. */
static void relax(unsigned spins)
{
	unsigned shift = spins < 512 ? 0 : (spins - 512) / 256;
	struct timespec ts = { 0, 20000L << (shift < 6 ? shift : 6) };

	if (spins < 64)
#if defined(__x86_64__) || defined(__i386__)
		__builtin_ia32_pause();
#else
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
#endif
	else if (spins < 512)
		sched_yield();
	else
		nanosleep(&ts, NULL);
}

/* Bounded wait for DSTAT's quiesce bit to read as want. */
static int wait_quiesce(struct mic_chan *ch, int want)
{
	uint64_t end = mic__now_ns() + ch->dev->timeout_ns;
	unsigned spins = 0;

	while (!!(ch_rd(ch, X100_DSTAT) & X100_DSTAT_QUIESCE) != want) {
		if (mic__now_ns() > end)
			return -ETIMEDOUT;
		relax(spins++);
	}
	return 0;
}

/*
 * Program the channel from scratch: disable, clear errors, ring, write-back
 * address, head = tail (empty), enable, and check it came up clean.
 */
static int chan_hw_setup(struct mic_chan *ch)
{
	uint64_t r = ch->ring_card;
	uint32_t hi, t, e;

	mic__dcr_enable(ch->dev, ch->n, 0);
	if (wait_quiesce(ch, 1))
		scif_warn("channel %d: no quiesce after disable", ch->n);
	ch_wr(ch, X100_DCHERRMSK, 0);
	e = ch_rd(ch, X100_DCHERR);
	if (e) {	/* clears whether the bits are RW or write-1-to-clear */
		ch_wr(ch, X100_DCHERR, e);
		ch_wr(ch, X100_DCHERR, 0);
	}
	/* Interrupts masked: completion is polled. */
	ch_wr(ch, X100_DCAR, ch_rd(ch, X100_DCAR) | X100_DCAR_IM1);
	hi = (ch->size & 0x1ffffu) << 4 | X100_DRARHI_SYS |
	     (uint32_t)((r >> X100_SMPT_SHIFT) & 0x1f) << 21 |
	     (uint32_t)((r >> 32) & 3);
	ch_wr(ch, X100_DRAR_LO, (uint32_t)r);
	ch_wr(ch, X100_DRAR_HI, hi);
	ch_wr(ch, X100_DSTATWB_LO, (uint32_t)ch->wb_card);
	ch_wr(ch, X100_DSTATWB_HI, (uint32_t)(ch->wb_card >> 32));
	t = ch_rd(ch, X100_DTPR);
	if (t >= ch->size) {
		t = 0;
		ch_wr(ch, X100_DTPR, 0);
	}
	ch_wr(ch, X100_DHPR, t);
	ch->head_idx = ch->done_idx = t;
	__atomic_store_n(ch->mem.wb, t, __ATOMIC_RELEASE);
	mic__dcr_enable(ch->dev, ch->n, 1);
	wait_quiesce(ch, 0);
	e = ch_rd(ch, X100_DCHERR);
	hi = ch_rd(ch, X100_DSTAT);
	if (e || (hi & X100_DSTAT_QUIESCE) || (hi & X100_DSTAT_CNT) != t) {
		scif_err("channel %d did not come up: DCHERR %#x DSTAT %#x "
			"DTPR %u", ch->n, e, hi, t);
		mic__dcr_enable(ch->dev, ch->n, 0);
		return -EIO;
	}
	return 0;
}

/* Fail everything outstanding and reset the channel. */
static void chan_fail(struct mic_chan *ch, int err, const char *why)
{
	uint32_t e = ch_rd(ch, X100_DCHERR), s = ch_rd(ch, X100_DSTAT);
	struct mic_fail *f;
	int rc;

	scif_err("channel %d: %s (DCHERR %#x DSTAT %#x); positions %llu-%llu "
		"fail with %s; resetting", ch->n, why, e, s,
		(unsigned long long)ch->done + 1,
		(unsigned long long)ch->submitted,
		err == -ETIMEDOUT ? "ETIMEDOUT" : "EIO");
	if (ch->submitted > ch->done) {
		f = &ch->fail[ch->nfail++ % MIC_NFAIL];
		f->lo = ch->done;
		f->hi = ch->submitted;
		f->err = err;
	}
	ch->done = ch->issued = ch->submitted;
	ch->last_err = err;
	ch->st.resets++;
	rc = chan_hw_setup(ch);
	if (rc) {
		scif_err("channel %d: reset failed; channel unusable", ch->n);
		ch->broken = rc;
	}
}

/* Read progress; returns 1 on progress, 0 none, -1 if it failed. */
static int chan_poll(struct mic_chan *ch, int regs)
{
	uint32_t v, idx, delta;

	if (ch->dev->poll_dstat || regs)
		v = ch_rd(ch, X100_DSTAT);
	else
		v = __atomic_load_n(ch->mem.wb, __ATOMIC_ACQUIRE);
	idx = v & X100_DSTAT_CNT;
	delta = idx < ch->size ? (idx + ch->size - ch->done_idx) % ch->size
			       : UINT32_MAX;
	if (delta > ch->submitted - ch->done) {
		chan_fail(ch, -EIO, "completion count out of range");
		return -1;
	}
	ch->done += delta;
	ch->done_idx = idx;
	if ((v & (X100_WB_ERR | X100_DSTAT_QUIESCE)) ||
	    (regs && ch_rd(ch, X100_DCHERR))) {
		chan_fail(ch, -EIO, "engine reports an error");
		return -1;
	}
	return delta != 0;
}

static int pos_status(struct mic_chan *ch, uint64_t pos)
{
	unsigned i, n = ch->nfail < MIC_NFAIL ? ch->nfail : MIC_NFAIL;

	for (i = 0; i < n; i++)
		if (pos > ch->fail[i].lo && pos <= ch->fail[i].hi)
			return ch->fail[i].err;
	if (ch->broken)
		return ch->broken;
	return pos <= ch->done;
}

/*
 * Wait until done reaches target.  The bound is on progress: the engine
 * may be slow, but no completion for the timeout is a hang.
 */
static int wait_done(struct mic_chan *ch, uint64_t target)
{
	uint64_t last = mic__now_ns(), now;
	unsigned spins = 0;
	int rc;

	mic__issue(ch);
	while (ch->done < target) {
		if (ch->broken)
			return ch->broken;
		rc = chan_poll(ch, spins && !(spins % 256));
		now = mic__now_ns();
		if (rc) {
			last = now;
			spins = 0;
			continue;
		}
		if (now - last > ch->dev->timeout_ns) {
			chan_fail(ch, -ETIMEDOUT, "no completion within the timeout");
			continue;
		}
		relax(spins++);
	}
	return 0;
}

int mic__wait_pos(struct mic_chan *ch, uint64_t pos)
{
	int rc = wait_done(ch, pos);

	if (rc)
		return rc;
	rc = pos_status(ch, pos);
	return rc == 1 ? 0 : rc ? rc : -EIO;
}

void mic__issue(struct mic_chan *ch)
{
	if (ch->issued == ch->submitted)
		return;	/* the same head twice is a hardware error */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	ch_wr(ch, X100_DHPR, ch->head_idx);
	ch->issued = ch->submitted;
}

/* Queue one descriptor; waits (bounded) while the ring is full. */
int mic__put(struct mic_chan *ch, uint64_t qw0, uint64_t qw1)
{
	struct mic_desc *d;
	int rc;

	if (ch->broken)
		return ch->broken;
	/* One slot stays empty: head == tail means empty. */
	if (ch->submitted - ch->done >= ch->size - 1) {
		uint64_t gen = ch->st.resets;

		rc = wait_done(ch, ch->submitted - (ch->size - 2));
		if (rc)
			return rc;
		if (ch->st.resets != gen)
			return ch->last_err;
	}
	d = &ch->mem.ring[ch->head_idx];
	d->qw0 = qw0;
	d->qw1 = qw1;
	ch->head_idx = (ch->head_idx + 1) % ch->size;
	ch->submitted++;
	ch->st.descs++;
	/* Keep the engine fed during long submissions. */
	if (ch->submitted - ch->issued >= 16)
		mic__issue(ch);
	return 0;
}

int mic__dma(struct mic_chan *ch, uint64_t da, uint64_t sa, uint64_t len)
{
	uint64_t k;
	int rc;

	while (len) {
		k = len < X100_HOST_MAX_XFER ? len : X100_HOST_MAX_XFER;
		rc = mic__put(ch, sa | (k / X100_LINE) << X100_MEMCOPY_LEN_SHIFT,
			      X100_DESC_MEMCOPY << X100_DESC_TYPE_SHIFT | da);
		if (rc)
			return rc;
		ch->st.dma_bytes += k;
		da += k;
		sa += k;
		len -= k;
	}
	return 0;
}

/* A STATUS descriptor writing its own position to the fence word. */
int mic__fence(struct mic_chan *ch)
{
	return mic__put(ch, ch->submitted + 1,
			X100_DESC_STATUS << X100_DESC_TYPE_SHIFT |
			ch->fence_card);
}

static int chan_mem(struct mic_chan *ch)
{
	struct mic_dev *dev = ch->dev;
	struct mic_chan_mem *m = &dev->mem[ch->n];
	size_t rlen = (size_t)dev->ring_size * sizeof(struct mic_desc);
	uint8_t *p;

	if (!m->ring) {
		p = mic_dev_alloc(dev, rlen + 128 + 2 * MIC_BOUNCE, 4096);
		if (!p)
			return -ENOMEM;
		m->ring = (struct mic_desc *)p;
		m->wb = (uint32_t *)(p + rlen);
		m->fence = (uint64_t *)(p + rlen + 64);
		m->bounce[0] = p + rlen + 128;
		m->bounce[1] = m->bounce[0] + MIC_BOUNCE;
	}
	ch->mem = *m;
	memset(m->ring, 0, rlen);
	*m->fence = 0;
	mic__classify(dev, m->ring, rlen, &ch->ring_card);
	mic__classify(dev, m->wb, 4, &ch->wb_card);
	mic__classify(dev, m->fence, 8, &ch->fence_card);
	mic__classify(dev, m->bounce[0], MIC_BOUNCE, &ch->bounce_card[0]);
	mic__classify(dev, m->bounce[1], MIC_BOUNCE, &ch->bounce_card[1]);
	return 0;
}

static int chan_claim(struct mic_dev *dev, int n)
{
	int i, rc = -EBUSY;

	pthread_mutex_lock(&dev->lock);
	for (i = n < 0 ? 0 : n; i < (n < 0 ? MIC_X100_NCHAN : n + 1); i++) {
		if (!(dev->chan_mask & (1u << i))) {
			if (n >= 0) {
				scif_err("channel %d is not in the allowed set "
					"0x%02x (MIC_DMA_CHANNELS)", i,
					dev->chan_mask);
				rc = -EACCES;
			}
			continue;
		}
		if (dev->ch[i])
			continue;
		if (!(mic_rd(dev, X100_DCR) & X100_DCR_OWNER(i))) {
			scif_err("channel %d is card-owned (DCR %#x)", i,
				mic_rd(dev, X100_DCR));
			rc = -EPERM;
			continue;
		}
		dev->ch[i] = (struct mic_chan *)dev;	/* reserved */
		rc = i;
		break;
	}
	pthread_mutex_unlock(&dev->lock);
	return rc;
}

int mic_chan_open(struct mic_dev *dev, int n, struct mic_chan **chp)
{
	struct mic_chan *ch;
	int rc;

	if (n >= MIC_X100_NCHAN)
		return -EINVAL;
	n = chan_claim(dev, n);
	if (n < 0)
		return n;
	ch = calloc(1, sizeof(*ch));
	rc = ch ? 0 : -ENOMEM;
	if (ch) {
		ch->dev = dev;
		ch->n = n;
		ch->size = dev->ring_size;
		pthread_mutex_init(&ch->lock, NULL);
		rc = chan_mem(ch);
	}
	if (!rc)
		rc = chan_hw_setup(ch);
	pthread_mutex_lock(&dev->lock);
	dev->ch[n] = rc ? NULL : ch;
	pthread_mutex_unlock(&dev->lock);
	if (rc) {
		free(ch);
		return rc;
	}
	*chp = ch;
	return 0;
}

void mic_chan_close(struct mic_chan *ch)
{
	struct mic_dev *dev;

	if (!ch)
		return;
	dev = ch->dev;
	pthread_mutex_lock(&ch->lock);
	if (!ch->broken)
		wait_done(ch, ch->submitted);
	mic__dcr_enable(dev, ch->n, 0);
	pthread_mutex_unlock(&ch->lock);
	pthread_mutex_lock(&dev->lock);
	dev->ch[ch->n] = NULL;
	pthread_mutex_unlock(&dev->lock);
	pthread_mutex_destroy(&ch->lock);
	free(ch);
}

int mic_chan_num(const struct mic_chan *ch)
{
	return ch->n;
}

int mic_chan_test(struct mic_chan *ch, uint64_t cookie)
{
	int rc;

	pthread_mutex_lock(&ch->lock);
	if (cookie > ch->submitted) {
		rc = -EINVAL;
	} else {
		mic__issue(ch);
		if (!ch->broken && ch->done < cookie)
			chan_poll(ch, 0);
		rc = pos_status(ch, cookie);
	}
	pthread_mutex_unlock(&ch->lock);
	return rc;
}

int mic_chan_wait(struct mic_chan *ch, uint64_t cookie)
{
	int rc;

	pthread_mutex_lock(&ch->lock);
	rc = cookie > ch->submitted ? -EINVAL : mic__wait_pos(ch, cookie);
	pthread_mutex_unlock(&ch->lock);
	return rc;
}

int mic_chan_fence(struct mic_chan *ch, uint64_t *cookie)
{
	int rc;

	pthread_mutex_lock(&ch->lock);
	rc = mic__fence(ch);
	mic__issue(ch);
	if (!rc && cookie)
		*cookie = ch->submitted;
	pthread_mutex_unlock(&ch->lock);
	return rc;
}

const volatile uint64_t *mic_chan_fence_word(struct mic_chan *ch)
{
	return ch->mem.fence;
}

int mic_chan_signal(struct mic_chan *ch, void *dst, uint64_t val,
		    uint64_t *cookie)
{
	uint64_t a;
	int rc;

	if (mic__classify(ch->dev, dst, 8, &a) < 0 || (a & 7))
		return -EINVAL;
	pthread_mutex_lock(&ch->lock);
	rc = mic__put(ch, val, X100_DESC_STATUS << X100_DESC_TYPE_SHIFT | a);
	mic__issue(ch);
	if (!rc && cookie)
		*cookie = ch->submitted;
	pthread_mutex_unlock(&ch->lock);
	return rc;
}

void mic_chan_stats(struct mic_chan *ch, struct mic_chan_stats *st)
{
	pthread_mutex_lock(&ch->lock);
	*st = ch->st;
	pthread_mutex_unlock(&ch->lock);
}
