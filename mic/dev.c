// SPDX-License-Identifier: BSD-3-Clause
/*
 * Device level of the x100 DMA driver: checks the BAR seam, maps the host
 * window through the SMPT, decides which channels may be claimed and hands
 * out DMA-able host memory.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "mic_priv.h"

uint64_t mic__now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* "0-3", "4,6,7" or a mask "0xf0"; returns 0 on a malformed value. */
uint32_t mic_parse_chans(const char *s)
{
	uint32_t mask = 0;
	char *end;
	long a, b;

	if (!strncmp(s, "0x", 2))
		return (uint32_t)strtoul(s, NULL, 16) & 0xffu;
	while (*s) {
		a = strtol(s, &end, 10);
		if (end == s || a < 0 || a >= MIC_X100_NCHAN)
			return 0;
		b = a;
		if (*end == '-') {
			s = end + 1;
			b = strtol(s, &end, 10);
			if (end == s || b < a || b >= MIC_X100_NCHAN)
				return 0;
		}
		for (; a <= b; a++)
			mask |= 1u << a;
		if (*end && *end != ',')
			return 0;
		s = *end ? end + 1 : end;
	}
	return mask;
}

static int dev_settings(struct mic_dev *dev, const struct mic_dev_attr *a)
{
	const char *s = getenv("MIC_DMA_CHANNELS");
	const char *t = getenv("MIC_DMA_TIMEOUT_MS");
	uint32_t ms = a && a->timeout_ms ? a->timeout_ms : 0;

	dev->chan_mask = a && a->chan_mask ? a->chan_mask & 0xffu : 0;
	if (!dev->chan_mask && s && *s) {
		dev->chan_mask = mic_parse_chans(s);
		if (!dev->chan_mask) {
			scif_err("MIC_DMA_CHANNELS=\"%s\": want e.g. 0-3", s);
			return -EINVAL;
		}
	}
	if (!dev->chan_mask)
		dev->chan_mask = MIC_X100_HOST_CHANS;
	if (!ms && t && *t)
		ms = (uint32_t)strtoul(t, NULL, 10);
	dev->timeout_ns = (uint64_t)(ms ? ms : 1000) * 1000000ull;
	dev->ring_size = a && a->ring_size ? a->ring_size : 1024;
	if (dev->ring_size % 64 || dev->ring_size > X100_RING_MAX) {
		scif_err("ring size %u: want a multiple of 64 up to %u",
			dev->ring_size, X100_RING_MAX);
		return -EINVAL;
	}
	dev->smpt_first = a ? a->smpt_first : 0;
	dev->poll_dstat = a ? a->poll_dstat : 0;
	return 0;
}

/* One SMPT entry per 16 GiB page the host window touches. */
static int dev_map_window(struct mic_dev *dev)
{
	const struct mic_bar *b = &dev->bar;
	uint64_t last = (b->host_bus + b->host_len - 1) >> X100_SMPT_SHIFT;
	uint32_t i, n;

	dev->page0 = b->host_bus >> X100_SMPT_SHIFT;
	n = (uint32_t)(last - dev->page0 + 1);
	if (dev->smpt_first + n > X100_NSMPT) {
		scif_err("host window needs SMPT entries %u-%u (32 exist)",
			dev->smpt_first, dev->smpt_first + n - 1);
		return -EINVAL;
	}
	/* Entry: host page number << 2, bit 0 clear = snooped. */
	for (i = 0; i < n; i++)
		mic_wr(dev, X100_SMPT(dev->smpt_first + i),
		       (uint32_t)((dev->page0 + i) << 2));
	return 0;
}

static int bar_check(const struct mic_bar *b)
{
	if (!b || !b->ops || b->mmio_len < X100_MMIO_MIN) {
		scif_err("BAR4 mapping missing or shorter than %#x", X100_MMIO_MIN);
		return -EINVAL;
	}
	/* Offsets within a cache line must agree between CPU and card. */
	if (!b->host_va || b->host_len < (1u << 20) ||
	    ((uintptr_t)b->host_va & 4095) || (b->host_bus & 4095) ||
	    ((uintptr_t)b->aper & 4095)) {
		scif_err("host window (>= 1 MiB) and aperture must be page aligned");
		return -EINVAL;
	}
	return 0;
}

int mic_dev_open(const struct mic_bar *bar, const struct mic_dev_attr *attr,
		 struct mic_dev **devp)
{
	struct mic_dev *dev;
	int rc = bar_check(bar);

	if (rc)
		return rc;
	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return -ENOMEM;
	dev->bar = *bar;
	rc = dev_settings(dev, attr);
	if (!rc)
		rc = dev_map_window(dev);
	if (rc) {
		free(dev);
		return rc;
	}
	pthread_mutex_init(&dev->lock, NULL);
	scif_info("x100 DMA: channels 0x%02x, ring %u, timeout %llu ms",
		 dev->chan_mask, dev->ring_size,
		 (unsigned long long)(dev->timeout_ns / 1000000));
	*devp = dev;
	return 0;
}

void mic_dev_close(struct mic_dev *dev)
{
	int i;

	if (!dev)
		return;
	for (i = 0; i < MIC_X100_NCHAN; i++)
		if (dev->ch[i])
			scif_warn("channel %d still open at close", i);
	pthread_mutex_destroy(&dev->lock);
	free(dev);
}

void *mic_dev_alloc(struct mic_dev *dev, size_t len, size_t align)
{
	size_t at;
	void *p = NULL;

	if (!align || (align & (align - 1)))
		align = 64;
	pthread_mutex_lock(&dev->lock);
	at = (dev->brk + align - 1) & ~(align - 1);
	if (at <= dev->bar.host_len && len <= dev->bar.host_len - at) {
		p = (char *)dev->bar.host_va + at;
		dev->brk = at + len;
	}
	pthread_mutex_unlock(&dev->lock);
	if (!p)
		scif_err("host window exhausted (%zu bytes wanted)", len);
	return p;
}

/* Where p..p+len lies: host window or aperture, and its card address. */
int mic__classify(struct mic_dev *dev, const void *p, size_t len,
		  uint64_t *addr)
{
	const struct mic_bar *b = &dev->bar;
	uintptr_t a = (uintptr_t)p, h = (uintptr_t)b->host_va;
	uintptr_t c = (uintptr_t)b->aper;
	uint64_t bus, e;

	if (a >= h && a - h < b->host_len && len <= b->host_len - (a - h)) {
		bus = b->host_bus + (a - h);
		e = dev->smpt_first + (bus >> X100_SMPT_SHIFT) - dev->page0;
		*addr = X100_SYS_BASE | e << X100_SMPT_SHIFT |
			(bus & ((1ull << X100_SMPT_SHIFT) - 1));
		return MIC_MEM_HOST;
	}
	if (c && a >= c && a - c < b->aper_len &&
	    len <= b->aper_len - (a - c)) {
		*addr = a - c;
		return MIC_MEM_CARD;
	}
	return -EINVAL;
}

uint64_t mic_dev_card_addr(struct mic_dev *dev, const void *p)
{
	uint64_t a;

	return mic__classify(dev, p, 1, &a) < 0 ? MIC_NO_ADDR : a;
}

/* DCR is shared by all channels: read-modify-write under the device lock. */
void mic__dcr_enable(struct mic_dev *dev, int n, int on)
{
	uint32_t v;

	pthread_mutex_lock(&dev->lock);
	v = mic_rd(dev, X100_DCR);
	v = on ? v | X100_DCR_EN(n) : v & ~X100_DCR_EN(n);
	mic_wr(dev, X100_DCR, v);
	pthread_mutex_unlock(&dev->lock);
}
