/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * RMA requests: scif_readfrom, scif_writeto, scif_vreadfrom, scif_vwriteto.
 *
 * 1) A request is checked against both address spaces (ENXIO, EACCES)
 *    before anything is posted (window.c keeps the tables);
 * 2) it is split at window boundaries and at the provider's largest piece
 *    into pieces, each a range of one local registration and one range of
 *    one peer region; the pieces of a request are posted contiguously and
 *    numbered by one sequence number (seq);
 * 3) the provider reports every piece, in any order; completion.c counts
 *    them and runs the request's completion work.
 * The local side of a v-call is the user's memory, registered for the call
 * (or from the registration cache), or for small transfers a pre-registered
 * bounce buffer when registering costs something.
 */
#include "scif_priv.h"
#include "log.h"
#include "wire.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RMA_FLAGS (SCIF_RMA_USECPU | SCIF_RMA_USECACHE | SCIF_RMA_SYNC | \
		   SCIF_RMA_ORDERED)

static void bounce_setup(struct scif_ep *ep);

/* [ep locked] Wait until no other request is being posted (the pieces of
 * one request stay contiguous); then the connection must still be up. */
static int wait_posting(struct scif_ep *ep)
{
	while (ep->rma_posting && ep->state == SCIF_EP_CONNECTED &&
	       !ep->rma_err)
		scif__ep_wait(ep, -1);
	if (ep->state != SCIF_EP_CONNECTED || ep->rma_err)
		return scif__ep_lost(ep);
	return 0;
}

/* [ep locked] Post pieces, waiting for queue room. */
static int post_all(struct scif_ep *ep, struct scif_rma_seg *segs, int n)
{
	int i = 0;

	while (i < n) {
		int k = ep->ops->rma_post(ep, segs + i, n - i);

		if (k < 0)
			return k;
		i += k;
		if (i == n)
			break;
		if (ep->rma_err || ep->state != SCIF_EP_CONNECTED)
			return scif__ep_lost(ep);
		if (!k)
			scif__ep_wait(ep, -1); /* full: wait for completions */
	}
	return 0;
}

/* [ep locked] Post the pieces of request ep->rma_seq.  Its number is taken,
 * so a failure part way ends RMA on the connection: waiters on the request
 * (fences, SYNC calls, unregister) return instead of waiting for ever, and
 * its completion work is released. */
static int post_request(struct scif_ep *ep, struct scif_rma_seg *segs, int n)
{
	int ret;

	ep->rma_posting = true;
	ret = post_all(ep, segs, n);
	ep->rma_posting = false;
	if (ret) {
		scif_err("posting RMA request %llu failed (%d): RMA on this "
			 "connection has ended",
			 (unsigned long long)ep->rma_seq, ret);
		if (!ep->rma_err)
			ep->rma_err = ret;
	}
	/* remote signals held back while we posted may go now */
	scif__rma_run_actions(ep);
	scif__ep_wake(ep);
	return ret;
}

/*
 * [ep locked] A remote fence signal over our own RMAs, on a provider with
 * SCIF_PROV_ORDERED_RMA: posted now, fenced, right behind the requests it
 * covers, so it reaches the peer one round trip earlier than waiting for
 * their completion would.  -EAGAIN when an earlier remote signal is still
 * queued (signals keep their order: the caller queues this one too) or the
 * provider's queue is full.
 */
int scif__rma_signal_now(struct scif_ep *ep, uint64_t value, uint64_t roff)
{
	struct scif_rma_action *a;
	struct scif_rwindow *rw;
	int ret = wait_posting(ep);

	if (ret)
		return ret;
	for (a = ep->actions; a; a = a->next)
		if (a->remote)
			return -EAGAIN;
	rw = scif__rwindow_find(ep, roff, sizeof(value));
	if (!rw) /* gone while we waited */
		return -ENXIO;
	ep->rma_posting = true;
	ret = scif__rma_post_signal(ep, rw, roff, value);
	ep->rma_posting = false;
	scif__rma_run_actions(ep);
	scif__ep_wake(ep);
	return ret;
}

/* Local side of a request: our windows (by SCIF offset), or one
 * registration of user memory / the bounce buffer. */
struct rma_local {
	const struct scif_mr *mr; /* NULL: windows */
	uint64_t off;		  /* SCIF offset, or offset into mr */
};

/* [ep locked] [roff, roff+len) wholly inside peer windows that allow prot
 * (SCIF_PROT_*); *rmiss tells a miss (ENXIO) from a protection error. */
int scif__rma_check_remote(struct scif_ep *ep, uint64_t roff, uint64_t len,
			   int prot, bool *rmiss)
{
	uint64_t pos;

	*rmiss = false;
	for (pos = 0; pos < len;) {
		struct scif_rwindow *rw = scif__rwindow_find(ep, roff + pos, 1);

		*rmiss = !rw;
		if (!rw)
			return -ENXIO;
		if ((rw->prot & prot) != prot)
			return -EACCES;
		pos = rw->offset + rw->len - roff;
	}
	return 0;
}

/* [ep locked] Both ranges wholly inside windows that allow the access;
 * *rmiss tells a miss in the peer's address space. */
static int rma_check(struct scif_ep *ep, enum scif_rma_op op,
		     const struct rma_local *loc, uint64_t roff, uint64_t len,
		     bool *rmiss)
{
	int need_l = op == SCIF_RMA_OP_WRITE ? SCIF_PROT_READ : SCIF_PROT_WRITE;
	int need_r = op == SCIF_RMA_OP_WRITE ? SCIF_PROT_WRITE : SCIF_PROT_READ;
	uint64_t pos;
	int ret = scif__rma_check_remote(ep, roff, len, need_r, rmiss);

	if (ret)
		return ret;
	for (pos = 0; !loc->mr && pos < len;) {
		struct scif_window *w = scif__window_find(ep, loc->off + pos, 1);

		if (!w)
			return -ENXIO;
		if ((w->prot & need_l) != need_l)
			return -EACCES;
		pos = w->offset + w->len - loc->off;
	}
	return 0;
}

/* Most requests are a few pieces: those live on the caller's stack. */
#define SEGS_INLINE 8

/* [ep locked] Split a checked request into pieces: *segs starts as the
 * caller's array of SEGS_INLINE and is malloc'd when more are needed. */
static int rma_split(struct scif_ep *ep, enum scif_rma_op op,
		     const struct rma_local *loc, uint64_t roff, uint64_t len,
		     int flags, struct scif_rma_seg **out)
{
	const struct scif_prov_attr *at = &ep->attr;
	uint64_t pos, split = len, align = at->align ? at->align : 1;
	struct scif_rma_seg *segs = *out, *s;
	int n = 0, cap = SEGS_INLINE;

	/* SCIF_RMA_ORDERED: the source's last cacheline is a piece of its own
	 * posted last (and fenced, for reads), so it lands after the rest. */
	if (flags & SCIF_RMA_ORDERED) {
		uint64_t src = op == SCIF_RMA_OP_WRITE ? loc->off : roff;
		uint64_t line = (src + len - 1) & ~63ull;

		if (line > src)
			split = line - src;
	}
	for (pos = 0; pos < len; pos += s->len) {
		struct scif_rwindow *rw = scif__rwindow_find(ep, roff + pos, 1);
		uint64_t piece = rw->offset + rw->len - (roff + pos);

		if (piece > len - pos)
			piece = len - pos;
		if (piece > at->max_piece) /* later pieces start aligned */
			piece = at->max_piece -
				(at->max_piece > align ?
					 (roff + pos + at->max_piece) % align :
					 0);
		if (pos < split && piece > split - pos)
			piece = split - pos;
		if (n == cap) {
			void *t = malloc((size_t)cap * 2 * sizeof(*segs));

			if (!t) {
				if (segs != *out)
					free(segs);
				return -ENOMEM;
			}
			memcpy(t, segs, (size_t)n * sizeof(*segs));
			if (segs != *out)
				free(segs);
			segs = t;
			cap *= 2;
		}
		s = &segs[n++];
		memset(s, 0, sizeof(*s));
		s->op = op;
		s->rmr = &rw->rmr;
		s->roff = roff + pos - rw->offset;
		if (loc->mr) {
			s->lmr = loc->mr;
			s->loff = loc->off + pos;
		} else {
			struct scif_window *w =
				scif__window_find(ep, loc->off + pos, 1);
			uint64_t lrest = w->offset + w->len - (loc->off + pos);

			if (piece > lrest)
				piece = lrest;
			s->lmr = &w->mr;
			s->loff = loc->off + pos - w->offset;
		}
		s->len = piece;
		s->flags = (pos >= split ? SCIF_SEG_FENCE : 0) |
			   ((flags & SCIF_RMA_USECPU) ? SCIF_SEG_USECPU : 0);
	}
	*out = segs;
	return n;
}

/* [ep locked] Number the request and tell the windows it uses them
 * (unregister waits for it); nothing can fail after this. */
static uint64_t rma_number(struct scif_ep *ep, const struct rma_local *loc,
			   uint64_t roff, struct scif_rma_seg *segs, int n)
{
	uint64_t seq = ep->rma_seq + 1, pos = 0;
	int i;

	scif__rma_inflight_set(ep, seq, (uint32_t)n);
	for (i = 0; i < n; i++) {
		segs[i].seq = seq;
		scif__rwindow_find(ep, roff + pos, 1)->last_seq = seq;
		if (!loc->mr)
			scif__window_find(ep, loc->off + pos, 1)->last_seq = seq;
		pos += segs[i].len;
	}
	ep->rma_seq = seq;
	return seq;
}

/* [ep locked] Take (or drop) a reference on the peer window of each piece
 * (pieces point into it: s->rmr = &rw->rmr). */
static void rwindows_hold(struct scif_ep *ep, struct scif_rma_seg *segs,
			  int n, bool take)
{
	int i;

	for (i = 0; i < n; i++) {
		struct scif_rwindow *rw =
			(struct scif_rwindow *)((char *)segs[i].rmr -
						offsetof(struct scif_rwindow,
							 rmr));

		if (take)
			rw->refs++;
		else
			scif__rwindow_put(ep, rw);
	}
}

/*
 * [ep locked] Check, split and post one request; returns its seq.  act, if
 * not NULL, is the request's completion work: queued before the pieces are
 * posted (so no later fence signal can run ahead of it), and then owned by
 * the queue (*act is cleared).  On an error before that, *act is the
 * caller's to release.
 */
static int rma_request(struct scif_ep *ep, enum scif_rma_op op,
		       const struct rma_local *loc, uint64_t roff, uint64_t len,
		       int flags, struct scif_rma_action *act,
		       uint64_t *seq_out)
{
	struct scif_rma_seg inline_segs[SEGS_INLINE], *segs = inline_segs;
	bool rmiss;
	int n, ret;

	if (roff + len < roff || (!loc->mr && loc->off + len < loc->off))
		return -ENXIO;
	/* Wait for another thread's request first: the lock is dropped while
	 * waiting, and the window tables may change meanwhile.  From the
	 * check to the post the lock is held, so the windows found stay. */
	ret = wait_posting(ep);
	if (!ret)
		ret = rma_check(ep, op, loc, roff, len, &rmiss);
	if (ret == -ENXIO && rmiss) { /* a window still on its way? */
		ret = scif__rwindow_sync(ep);
		if (!ret)
			ret = wait_posting(ep);
		if (!ret)
			ret = rma_check(ep, op, loc, roff, len, &rmiss);
	}
	if (!ret)
		ret = scif__rma_inflight_grow(ep);
	if (ret)
		return ret;
	n = rma_split(ep, op, loc, roff, len, flags, &segs);
	if (n < 0)
		return n;
	if (act) {
		struct scif_rma_action *q;
		int i;

		act->seq = ep->rma_seq + 1;
		/* adding runs the queue: a deferred remote signal must not
		 * take the number from under us */
		ep->rma_posting = true;
		ret = scif__rma_action_queue(ep, act, &q);
		ep->rma_posting = false;
		if (ret) {
			if (segs != inline_segs)
				free(segs);
			return ret;
		}
		/* the registration now lives in the queued copy (it cannot
		 * run before the request it waits for is numbered) */
		for (i = 0; i < n; i++)
			if (segs[i].lmr == &act->mr)
				segs[i].lmr = &q->mr;
		*act = (struct scif_rma_action){ .bounce = -1 };
	}
	*seq_out = rma_number(ep, loc, roff, segs, n);
	/* posting may wait for queue room with the lock dropped, and the
	 * peer's withdrawal of a window (scif__rx_win_del) may then release
	 * it: the pieces not yet posted still point at its key */
	rwindows_hold(ep, segs, n, true);
	ret = post_request(ep, segs, n);
	rwindows_hold(ep, segs, n, false);
	if (segs != inline_segs)
		free(segs);
	return ret;
}

/* [ep locked] The local side of a v-call: a bounce slot for small data
 * when registering costs something, else a registration of the user's
 * memory made without the lock.  act records what to release. */
static int rma_local_virt(struct scif_ep *ep, enum scif_rma_op op, void *addr,
			  size_t len, int flags, struct scif_rma_action *act,
			  struct rma_local *loc)
{
	struct scif_mem mem = { .kind = SCIF_MEM_VA, .va = addr, .len = len };
	bool small = len <= SCIF_BOUNCE_SIZE && !(flags & SCIF_RMA_USECACHE) &&
		     !(ep->attr.caps & SCIF_PROV_CHEAP_REG);
	int ret;

	if (small && !ep->bounce_tried)
		bounce_setup(ep);
	if (small && ep->bounce &&
	    ep->bounce_busy != (1u << SCIF_BOUNCE_SLOTS) - 1) {
		int slot = __builtin_ctz(~ep->bounce_busy);
		char *b = ep->bounce + (size_t)slot * SCIF_BOUNCE_SIZE;

		ep->bounce_busy |= 1u << slot;
		act->bounce = slot;
		if (op == SCIF_RMA_OP_WRITE) {
			memcpy(b, addr, len);
		} else {
			act->copy_dst = addr;
			act->copy_src = b;
			act->copy_len = len;
		}
		loc->mr = &ep->bounce_mr;
		loc->off = (uint64_t)slot * SCIF_BOUNCE_SIZE;
		return 0;
	}
	act->mr.va = addr;
	act->mr.len = len;
	act->mr.access = (op == SCIF_RMA_OP_READ ? SCIF_ACC_LOCAL_WRITE :
						   SCIF_ACC_LOCAL_READ) |
			 ((flags & SCIF_RMA_USECACHE) ? SCIF_ACC_CACHE : 0);
	scif__ep_unlock(ep); /* pinning takes a while */
	ret = ep->ops->mr_reg(ep, &mem, &act->mr);
	scif__ep_lock(ep);
	if (ret) {
		memset(&act->mr, 0, sizeof(act->mr));
		return ret;
	}
	act->mr_held = true; /* every mr_reg gets its mr_dereg */
	loc->mr = &act->mr;
	loc->off = 0;
	return scif__ep_allowed(ep, SCIF_OP_RMA);
}

/* [ep locked] Release what a request that never got queued holds. */
static void action_drop(struct scif_ep *ep, struct scif_rma_action *act)
{
	if (act->bounce >= 0)
		ep->bounce_busy &= ~(1u << act->bounce);
	if (act->mr_held)
		ep->ops->mr_dereg(ep, &act->mr);
}

static int rma_call(scif_epd_t epd, enum scif_rma_op op, off_t loffset,
		    void *addr, size_t len, off_t roffset, int flags, bool virt)
{
	struct scif_rma_action act = { .bounce = -1 };
	struct rma_local loc = { .off = (uint64_t)loffset };
	struct scif_kcall_args ka = { .addr = addr, .len = len,
				      .loff = loffset, .roff = roffset,
				      .flags = flags };
	void *user = NULL, *bounce = NULL;
	struct scif_ep *ep;
	uint64_t seq = 0;
	int ret;

	if (scif__kcall(epd, op == SCIF_RMA_OP_READ ?
			(virt ? SCIF_KC_VREADFROM : SCIF_KC_READFROM) :
			(virt ? SCIF_KC_VWRITETO : SCIF_KC_WRITETO), &ka, &ret))
		return scif__ret(ret);
	ret = scif__ep_lookup(epd, &ep);
	if (ret)
		return scif__ret(ret);
	if (flags & ~RMA_FLAGS)
		ret = -EINVAL;
	else if (roffset < 0 || (!virt && loffset < 0))
		ret = -ENXIO;
	else if (virt && !addr && len)
		ret = -EFAULT;
	if (ret)
		goto out_put;
	if (virt && len && scif__mmap_holds(ep, addr, len)) {
		/* through a buffer of ours, completed before we return */
		user = addr;
		addr = bounce = malloc(len);
		if (!bounce) {
			ret = -ENOMEM;
			goto out_put;
		}
		if (op == SCIF_RMA_OP_WRITE)
			memcpy(bounce, user, len);
		flags |= SCIF_RMA_SYNC;
	}
	scif__ep_lock(ep);
	ret = scif__ep_allowed(ep, SCIF_OP_RMA);
	if (ret || !len)
		goto out;
	if (virt)
		ret = rma_local_virt(ep, op, addr, len, flags, &act, &loc);
	if (!ret)
		ret = rma_request(ep, op, &loc, (uint64_t)roffset, len, flags,
				  virt ? &act : NULL, &seq);
	/* failed before its completion work was queued: release it here */
	action_drop(ep, &act);
	if (!ret && (flags & SCIF_RMA_SYNC))
		ret = scif__wait_seq(ep, seq);
out:
	scif__ep_unlock(ep);
	if (bounce && !ret && op == SCIF_RMA_OP_READ)
		memcpy(user, bounce, len);
	free(bounce);
out_put:
	scif__ep_put(ep);
	return scif__ret(ret);
}

SCIF_EXPORT int scif_readfrom(scif_epd_t epd, off_t loffset, size_t len,
			      off_t roffset, int rma_flags)
{
	return rma_call(epd, SCIF_RMA_OP_READ, loffset, NULL, len, roffset,
			rma_flags, false);
}

SCIF_EXPORT int scif_writeto(scif_epd_t epd, off_t loffset, size_t len,
			     off_t roffset, int rma_flags)
{
	return rma_call(epd, SCIF_RMA_OP_WRITE, loffset, NULL, len, roffset,
			rma_flags, false);
}

SCIF_EXPORT int scif_vreadfrom(scif_epd_t epd, void *addr, size_t len,
			       off_t roffset, int rma_flags)
{
	return rma_call(epd, SCIF_RMA_OP_READ, 0, addr, len, roffset, rma_flags,
			true);
}

SCIF_EXPORT int scif_vwriteto(scif_epd_t epd, void *addr, size_t len,
			      off_t roffset, int rma_flags)
{
	return rma_call(epd, SCIF_RMA_OP_WRITE, 0, addr, len, roffset,
			rma_flags, true);
}

/* One request between a registration of the caller's and the peer's
 * address space, waited for (a mapping's fault thread, mmap.c).  Takes the
 * endpoint lock; flags are SCIF_RMA_*. */
int scif__rma_mr_sync(struct scif_ep *ep, enum scif_rma_op op,
		      const struct scif_mr *mr, uint64_t loff, uint64_t len,
		      uint64_t roff, int flags)
{
	struct rma_local loc = { .mr = mr, .off = loff };
	uint64_t seq = 0;
	int ret;

	scif__ep_lock(ep);
	ret = scif__ep_allowed(ep, SCIF_OP_RMA);
	if (!ret)
		ret = rma_request(ep, op, &loc, roff, len, flags, NULL, &seq);
	if (!ret)
		ret = scif__wait_seq(ep, seq);
	scif__ep_unlock(ep);
	return ret;
}

/* Internal (tests, diagnostics): the registration cache's counters. */
int scif__rma_cache_stats(scif_epd_t epd, struct scif_regcache_stats *st)
{
	struct scif_ep *ep;
	int ret = scif__ep_lookup(epd, &ep);

	if (ret)
		return ret;
	scif__ep_lock(ep);
	ret = ep->ops->cache_stats(ep, st);
	scif__ep_unlock(ep);
	scif__ep_put(ep);
	return ret;
}

/* [ep locked] The connection is up: learn the provider's RMA attributes. */
void scif__rma_connected(struct scif_ep *ep)
{
	/* a provider fills what it knows: the rest is the default, 0 */
	memset(&ep->attr, 0, sizeof(ep->attr));
	ep->ops->query(ep, &ep->attr);
	if (!ep->attr.max_piece)
		ep->attr.max_piece = 1u << 30;
}

/* [ep locked] The bounce buffer, registered at the first small v-call on a
 * provider where registering costs something (without the lock: mr_reg
 * may pin).  Failing leaves v-calls registering every transfer. */
static void bounce_setup(struct scif_ep *ep)
{
	size_t sz = (size_t)SCIF_BOUNCE_SLOTS * SCIF_BOUNCE_SIZE;
	struct scif_mem mem = { .kind = SCIF_MEM_VA, .len = sz };
	struct scif_mr mr = { .len = sz, .access = SCIF_ACC_LOCAL_READ |
						   SCIF_ACC_LOCAL_WRITE };
	void *b = NULL;
	int ret;

	ep->bounce_tried = true;
	if (posix_memalign(&b, (size_t)sysconf(_SC_PAGESIZE), sz))
		return;
	mem.va = mr.va = b;
	scif__ep_unlock(ep);
	ret = ep->ops->mr_reg(ep, &mem, &mr);
	scif__ep_lock(ep);
	if (!ret && ep->state != SCIF_EP_CONNECTED) {
		ep->ops->mr_dereg(ep, &mr);
		ret = -ECONNRESET;
	}
	if (ret) {
		free(b);
		return;
	}
	ep->bounce_mr = mr;
	ep->bounce = b;
}

/* After the provider closed the connection: release everything. */
void scif__rma_close(struct scif_ep *ep)
{
	scif__ep_lock(ep);
	if (!ep->rma_err)
		ep->rma_err = -ECONNRESET;
	scif__rma_run_actions(ep); /* all fail: releases registrations, refs */
	scif__windows_close(ep);
	if (ep->bounce) {
		ep->ops->mr_dereg(ep, &ep->bounce_mr);
		free(ep->bounce);
		ep->bounce = NULL;
	}
	free(ep->inflight.left);
	ep->inflight.left = NULL;
	ep->inflight.cap = 0;
	scif__ep_unlock(ep);
}
