/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The engine path of mic RMA (mic_dma.h): the x100 driver (mic/) on one
 * channel of the card SCIF_MIC_DMA names; with CARD "model", the
 * register-level model in this process is the card.
 *
 * The model card: its memory (what the aperture shows) stands for the
 * peer's window, which a card process's window would be.  Before the
 * engine reads it, the card memory is filled from the peer's pages; every
 * write the engine makes to it (the model's write hook, in landing order)
 * and the driver's CPU head and tail are stored to the peer's pages, so
 * the peer sees what a card process would.  The local side is the host:
 * our window (or the caller's buffer) goes through a staging area in the
 * driver's DMA-able host window.  Both ends are reached with
 * process_vm_readv/writev (docs/mic.md).
 *
 * Every RMA is complete when its call returns (a legal SCIF behaviour);
 * a SCIF_FENCE_INIT_SELF mark is a STATUS descriptor behind them, its wait
 * the completion of that descriptor.  Calls the engine cannot resolve (an
 * offset outside the windows the two libraries published, bad flags, a
 * peer's fence) go to the kernel, which answers them or their error.  An
 * engine error gives the call ENODEV (the header's "remote node lost"):
 * the data moved before the failing descriptor has landed, the driver
 * resets the channel and later calls work.
 */
#include "mic_dmaint.h"
#include "scif.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/uio.h>
#include <unistd.h>

#define STAGE (4u << 20)	  /* bytes per engine copy */
#define SIG_AT (STAGE + 64)	  /* card offset of the signal word */
#define CARD_LEN (STAGE + 4096)
#define HOST_LEN (8u << 20)
#define MARK_ENGINE 0x20000000	  /* engine marks: bit 29, not 30 or 31 */
#define MARK_LOW (MARK_ENGINE - 1)
#define FRING 1024
#define MODEL_TIMEOUT_MS 10000
#define RMA_FLAGS (SCIF_RMA_USECPU | SCIF_RMA_USECACHE | SCIF_RMA_SYNC | \
		   SCIF_RMA_ORDERED)

struct mic_dma {
	pthread_mutex_t lock; /* one engine call at a time */
	uint32_t chans;
	long fail_k, hang_k;
	int start_err; /* 1: not started yet */
	struct mic_model *model;
	struct mic_dev *dev;
	struct mic_chan *ch;
	uint8_t *stage, *card;
	/* Fence n (1, 2, ...) is mark n's: the last FRING cookies. */
	uint64_t nfence, fcookie[FRING];
	/* Where the card memory written now goes (read by the hook in the
	 * model's thread; set before the descriptors are issued). */
	pid_t hpid;
	uint64_t hcard, hlen, hva;
	int herr;
};

/* Short names for scif.h's flags. */
enum { F_INIT_SELF = SCIF_FENCE_INIT_SELF, F_INIT_PEER = SCIF_FENCE_INIT_PEER,
       F_SIG_LOCAL = SCIF_SIGNAL_LOCAL, F_SIG_REMOTE = SCIF_SIGNAL_REMOTE,
       PROT_R = SCIF_PROT_READ, PROT_W = SCIF_PROT_WRITE };

/* Copy between this process's memory and pid's: -errno on failure. */
static int vm_copy(pid_t pid, void *local, uint64_t remote, size_t len,
		   bool to_remote)
{
	struct iovec l = { local, len }, r = { (void *)(uintptr_t)remote, len };
	ssize_t n;

	if (!len)
		return 0;
	n = to_remote ? process_vm_writev(pid, &l, 1, &r, 1, 0)
		      : process_vm_readv(pid, &l, 1, &r, 1, 0);
	if (n == (ssize_t)len)
		return 0;
	return n < 0 ? -errno : -EFAULT;
}

/* The model's write hook: card memory the engine wrote goes to the peer. */
static void card_hook(void *arg, int ch, uint64_t addr, size_t len)
{
	struct mic_dma *d = arg;
	uint64_t lo = addr, hi = addr + len;
	int ret;

	(void)ch;
	if (lo < d->hcard)
		lo = d->hcard;
	if (hi > d->hcard + d->hlen)
		hi = d->hcard + d->hlen;
	if (lo >= hi)
		return; /* host memory, or not the peer's */
	ret = vm_copy(d->hpid, d->card + lo, d->hva + (lo - d->hcard), hi - lo,
		      true);
	if (ret && !d->herr)
		d->herr = ret;
}

struct mic_dma *mic_dma_new(void)
{
	const char *s = getenv("SCIF_MIC_DMA"), *f, *colon;
	struct mic_dma *d;

	if (!s || !*s)
		return NULL;
	colon = strchr(s, ':');
	if (strncmp(s, "model", 5) || (s[5] && s[5] != ':')) {
		scif_err("mic: SCIF_MIC_DMA=%s: a card's engine needs the bus "
			 "addresses of the windows' pages, which no kernel "
			 "interface gives a process; only \"model\" is "
			 "supported (docs/mic.md): RMA goes to the kernel", s);
		return NULL;
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->chans = colon ? mic_parse_chans(colon + 1) : MIC_X100_HOST_CHANS;
	if (!d->chans) {
		scif_err("mic: SCIF_MIC_DMA=%s: want model[:CHANNELS], e.g. "
			 "model:0-3", s);
		free(d);
		return NULL;
	}
	f = getenv("SCIF_MIC_MODEL_FAIL");
	d->fail_k = f && *f ? strtol(f, NULL, 10) : -1;
	f = getenv("SCIF_MIC_MODEL_HANG");
	d->hang_k = f && *f ? strtol(f, NULL, 10) : -1;
	d->start_err = 1;
	pthread_mutex_init(&d->lock, NULL);
	/* The model card reaches the peer's windows in its memory: let a
	 * peer's model reach ours (Yama's ptrace scope 1). */
	prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0);
	scif_info("mic: RMA through the x100 engine model, channels 0x%x",
		  d->chans);
	return d;
}

void mic_dma_free(struct mic_dma *d)
{
	if (!d)
		return;
	if (d->ch)
		mic_chan_close(d->ch);
	if (d->dev)
		mic_dev_close(d->dev);
	mic_model_stop(d->model);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

/* [d->lock] The model card, its device and one channel, at first use. */
static int engine_start(struct mic_dma *d)
{
	struct mic_model_cfg cfg = { .card_len = CARD_LEN,
				     .host_len = HOST_LEN };
	const char *t = getenv("MIC_DMA_TIMEOUT_MS");
	/* The model's engine is a thread sharing the CPUs with everything
	 * else: a loaded machine stalls it for more than a card's 1 s. */
	struct mic_dev_attr attr = { .chan_mask = d->chans,
				     .timeout_ms = t && *t ? 0 : MODEL_TIMEOUT_MS };
	struct mic_bar bar;
	int ret;

	if (d->start_err != 1)
		return d->start_err;
	ret = mic_model_start(&cfg, &d->model);
	if (ret)
		goto out;
	/* The hook sees each descriptor's write whole (not line by line). */
	mic_model_reorder(d->model, 0);
	mic_model_write_hook(d->model, card_hook, d);
	mic_model_bar(d->model, &bar);
	d->card = bar.aper;
	ret = mic_dev_open(&bar, &attr, &d->dev);
	if (!ret)
		ret = mic_chan_open(d->dev, -1, &d->ch);
	if (!ret) {
		d->stage = mic_dev_alloc(d->dev, STAGE + 64, 64);
		ret = d->stage ? 0 : -ENOMEM;
	}
	if (!ret) {
		mic_model_fail_desc(d->model, mic_chan_num(d->ch), d->fail_k);
		mic_model_hang_desc(d->model, mic_chan_num(d->ch), d->hang_k);
	}
out:
	if (ret)
		scif_err("mic: the engine model did not start (%d): RMA goes "
			 "to the kernel", ret);
	d->start_err = ret;
	return ret;
}

/* Engine and driver failures are the card's: ENODEV. */
static int engine_errno(int ret)
{
	return ret == -ESRCH ? -ECONNRESET : ret == -EFAULT ? -ENXIO : -ENODEV;
}

/* One piece: n bytes between our memory lva and the peer's rva. */
static int piece(struct mic_dma *d, pid_t peer, uint64_t lva, uint64_t rva,
		 size_t n, bool read, unsigned flags)
{
	size_t a = rva & 63, head = (64 - a) & 63, body;
	int ret;

	if (head > n)
		head = n;
	body = (n - head) & ~(size_t)63;
	if (read) {
		/* The card memory holds the peer's window. */
		ret = vm_copy(peer, d->card + a, rva, n, false);
		if (!ret)
			ret = mic_chan_copy(d->ch, d->stage + a, d->card + a, n,
					    flags, NULL);
		if (!ret)
			ret = vm_copy(getpid(), d->stage + a, lva, n, true);
		return ret;
	}
	ret = vm_copy(getpid(), d->stage + a, lva, n, false);
	if (ret)
		return ret;
	d->hpid = peer;
	d->hcard = a;
	d->hlen = n;
	d->hva = rva;
	d->herr = 0;
	ret = mic_chan_copy(d->ch, d->card + a, d->stage + a, n, flags, NULL);
	d->hlen = 0;
	/* The driver's CPU stores (all of a short copy; else the head, and
	 * once the body is done the tail) reach the peer as they would
	 * through the aperture. */
	if (!body) {
		if (!ret)
			ret = vm_copy(peer, d->card + a, rva, n, true);
		return ret;
	}
	if (vm_copy(peer, d->card + a, rva, head, true) && !ret)
		ret = -EFAULT;
	if (!ret)
		ret = vm_copy(peer, d->card + a + head + body,
			      rva + head + body, n - head - body, true);
	return ret ? ret : d->herr;
}

/* [d->lock] The whole RMA, piece by piece across windows. */
static int rma(struct mic_dma_conn *dc, enum scif_kcall call,
	       struct scif_kcall_args *a)
{
	struct mic_dma *d = dc->d;
	bool read = call == SCIF_KC_READFROM || call == SCIF_KC_VREADFROM;
	bool virt = call == SCIF_KC_VREADFROM || call == SCIF_KC_VWRITETO;
	unsigned flags = MIC_COPY_SYNC |
			 (a->flags & SCIF_RMA_ORDERED ? MIC_COPY_ORDERED : 0);
	uint64_t done = 0, lva = 0, lrun = 0, rva, rrun, n;
	int ret;

	while (done < a->len) {
		if (virt) {
			lva = (uintptr_t)a->addr + done;
			lrun = a->len - done;
		} else if (!mic_dmawin_find(dc->win, dc->nwin,
					    a->loff + (int64_t)done,
					    read ? PROT_W : PROT_R, &lva,
					    &lrun)) {
			return -ENXIO;
		}
		if (!mic_dmawin_find(dc->pwin, dc->npwin,
				     a->roff + (int64_t)done,
				     read ? PROT_R : PROT_W, &rva, &rrun))
			return -ENXIO;
		n = a->len - done;
		n = n < STAGE ? n : STAGE;
		n = n < lrun ? n : lrun;
		n = n < rrun ? n : rrun;
		ret = piece(d, dc->peer_pid, lva, rva, n, read, flags);
		if (ret) {
			scif_err("mic: engine %s of %llu bytes failed at %llu "
				 "(%d)", read ? "read" : "write",
				 (unsigned long long)a->len,
				 (unsigned long long)done, ret);
			return engine_errno(ret);
		}
		done += n;
	}
	return 0;
}

/* Can the engine take this RMA?  Else the kernel answers it. */
static bool rma_ours(struct mic_dma_conn *dc, enum scif_kcall call,
		     const struct scif_kcall_args *a)
{
	bool read = call == SCIF_KC_READFROM || call == SCIF_KC_VREADFROM;
	bool virt = call == SCIF_KC_VREADFROM || call == SCIF_KC_VWRITETO;

	if ((a->flags & ~RMA_FLAGS) || !a->len || a->roff < 0 ||
	    (!virt && a->loff < 0) || (virt && !a->addr))
		return false;
	if (!virt && !mic_dmawin_covers(dc->win, dc->nwin, a->loff, a->len,
					read ? PROT_W : PROT_R))
		return false;
	return !mic_dmawin_peer(dc) &&
	       mic_dmawin_covers(dc->pwin, dc->npwin, a->roff, a->len,
				 read ? PROT_R : PROT_W);
}

/* [d->lock] A STATUS descriptor behind every RMA so far; its cookie. */
static int fence(struct mic_dma *d, uint64_t *cookie)
{
	int ret = mic_chan_fence(d->ch, cookie);

	if (!ret)
		d->fcookie[++d->nfence % FRING] = *cookie;
	return ret;
}

/* [d->lock] Wait for the fence of an engine mark; -EINVAL if never made.
 * Fences complete in order, so one older than the ring waits for the
 * oldest the ring holds. */
static int fence_wait(struct mic_dma *d, int mark)
{
	uint64_t back = (d->nfence - (uint64_t)mark) & MARK_LOW;

	if (back >= d->nfence)
		return -EINVAL;
	if (back >= FRING)
		back = FRING - 1;
	return mic_chan_wait(d->ch, d->fcookie[(d->nfence - back) % FRING]);
}

/* [d->lock] Signals: the remote value by a STATUS descriptor into the
 * card memory (which the hook stores to the peer), the local one once the
 * fence before it completed. */
static int signal(struct mic_dma_conn *dc, const struct scif_kcall_args *a)
{
	struct mic_dma *d = dc->d;
	uint64_t va, run, cookie;
	int ret = 0;

	if (a->flags & F_SIG_REMOTE) {
		mic_dmawin_find(dc->pwin, dc->npwin, a->roff, 0, &va, &run);
		d->hpid = dc->peer_pid;
		d->hcard = SIG_AT;
		d->hlen = 8;
		d->hva = va;
		d->herr = 0;
		ret = mic_chan_signal(d->ch, d->card + SIG_AT, a->rval,
				      &cookie);
		if (!ret)
			ret = mic_chan_wait(d->ch, cookie);
		d->hlen = 0;
		if (!ret)
			ret = d->herr;
	}
	if (!ret && (a->flags & F_SIG_LOCAL)) {
		mic_dmawin_find(dc->win, dc->nwin, a->loff, 0, &va, &run);
		ret = fence(d, &cookie);
		if (!ret)
			ret = mic_chan_wait(d->ch, cookie);
		if (!ret)
			ret = vm_copy(getpid(), (void *)&a->lval, va, 8, true);
	}
	return ret ? engine_errno(ret) : 0;
}

static bool signal_ours(struct mic_dma_conn *dc,
			const struct scif_kcall_args *a)
{
	int sig = a->flags & (F_SIG_LOCAL | F_SIG_REMOTE);

	if (a->flags != (F_INIT_SELF | sig) || !sig)
		return false;
	if ((sig & F_SIG_LOCAL) &&
	    (a->loff < 0 || (a->loff & 3) ||
	     !mic_dmawin_covers(dc->win, dc->nwin, a->loff, 8, PROT_W)))
		return false;
	if (!(sig & F_SIG_REMOTE))
		return true;
	return a->roff >= 0 && !(a->roff & 3) && !mic_dmawin_peer(dc) &&
	       mic_dmawin_covers(dc->pwin, dc->npwin, a->roff, 8, PROT_W);
}

/* [d->lock] Fences of our own RMAs; the peer's go to the kernel. */
static int fences(struct mic_dma_conn *dc, enum scif_kcall call,
		  struct scif_kcall_args *a, int *ret)
{
	struct mic_dma *d = dc->d;
	uint64_t cookie;

	switch (call) {
	case SCIF_KC_FENCE_MARK:
		if (a->flags != F_INIT_SELF || !a->markp)
			return 0;
		*ret = fence(d, &cookie);
		if (!*ret)
			*a->markp = (int)(MARK_ENGINE | (d->nfence & MARK_LOW));
		break;
	case SCIF_KC_FENCE_WAIT:
		if (a->mark < 0 || (a->mark & (3 << 29)) != MARK_ENGINE)
			return 0;
		*ret = fence_wait(d, a->mark);
		if (*ret == -EINVAL)
			return 1;
		break;
	default:
		if (!signal_ours(dc, a))
			return 0;
		*ret = signal(dc, a);
		return 1;
	}
	if (*ret)
		*ret = engine_errno(*ret);
	return 1;
}

int mic_dma_kcall(struct mic_dma_conn *dc, enum scif_kcall call,
		  struct scif_kcall_args *a, int *ret)
{
	struct mic_dma *d = dc->d;
	int ours = 0;

	pthread_mutex_lock(&d->lock);
	if (engine_start(d))
		goto out;
	switch (call) {
	case SCIF_KC_READFROM:
	case SCIF_KC_WRITETO:
	case SCIF_KC_VREADFROM:
	case SCIF_KC_VWRITETO:
		ours = rma_ours(dc, call, a);
		if (ours)
			*ret = rma(dc, call, a);
		if (ours && !*ret) {
			dc->rmas++;
			dc->bytes += a->len;
		}
		break;
	case SCIF_KC_FENCE_MARK:
	case SCIF_KC_FENCE_WAIT:
	case SCIF_KC_FENCE_SIGNAL:
		ours = fences(dc, call, a, ret);
		dc->fences += ours;
		break;
	default:
		break;
	}
	dc->kernel += !ours;
out:
	pthread_mutex_unlock(&d->lock);
	return ours;
}

int mic_dma_window(struct mic_dma_conn *dc, enum scif_kcall call,
		   struct scif_kcall_args *a,
		   int (*kern)(void *ctx, struct scif_kcall_args *a),
		   void *ctx)
{
	struct mic_dma *d = dc->d;
	int ret;

	pthread_mutex_lock(&d->lock);
	ret = kern(ctx, a);
	if (ret >= 0 && call == SCIF_KC_REGISTER &&
	    mic_dmawin_add(dc, a->out_off, a->len, (uintptr_t)a->addr,
			   a->prot))
		scif_warn("mic: window at %lld not published: its RMAs go to "
			  "the kernel", (long long)a->out_off);
	if (ret >= 0 && call == SCIF_KC_UNREGISTER)
		mic_dmawin_del(dc, a->loff, a->len);
	pthread_mutex_unlock(&d->lock);
	return ret;
}

struct mic_dma_conn *mic_dma_conn_new(struct mic_dma *d, uint16_t node,
				      uint16_t port, bool accepted)
{
	struct mic_dma_conn *dc;

	if (!d)
		return NULL;
	dc = calloc(1, sizeof(*dc));
	if (!dc)
		return NULL;
	*dc = (struct mic_dma_conn){ .d = d, .refs = 1, .node = node,
				     .port = port, .accepted = accepted,
				     .own_fd = -1, .peer_fd = -1 };
	/* Our (empty) table at once, replacing any a crashed process left
	 * under the same name, before the peer can look. */
	pthread_mutex_lock(&d->lock);
	if (mic_dmawin_open(dc))
		scif_warn("mic: no window table: this connection's RMAs go "
			  "to the kernel");
	pthread_mutex_unlock(&d->lock);
	return dc;
}

void mic_dma_conn_get(struct mic_dma_conn *dc)
{
	pthread_mutex_lock(&dc->d->lock);
	dc->refs++;
	pthread_mutex_unlock(&dc->d->lock);
}

void mic_dma_conn_put(struct mic_dma_conn *dc)
{
	struct mic_dma *d;
	int left;

	if (!dc)
		return;
	d = dc->d;
	pthread_mutex_lock(&d->lock);
	left = --dc->refs;
	if (!left) {
		struct mic_chan_stats st = { 0 };

		if (d->ch)
			mic_chan_stats(d->ch, &st);
		scif_info("mic: engine, connection %u.%u%s: %llu RMAs "
			  "(%llu bytes), %llu fences, %llu calls to the "
			  "kernel; channel: %llu descriptors, %llu resets",
			  dc->node, dc->port, dc->accepted ? "a" : "c",
			  (unsigned long long)dc->rmas,
			  (unsigned long long)dc->bytes,
			  (unsigned long long)dc->fences,
			  (unsigned long long)dc->kernel,
			  (unsigned long long)st.descs,
			  (unsigned long long)st.resets);
		mic_dmawin_close(dc);
	}
	pthread_mutex_unlock(&d->lock);
	if (!left)
		free(dc);
}
