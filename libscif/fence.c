/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fences: marks, waits and signals over the RMA sequence numbers (rma.c).
 *
 * How marks map onto completions:
 * - Our RMA requests are numbered (seq) in posting order; the provider
 *   completes their pieces in any order, and rma_done_seq is the highest
 *   seq up to which every request has completed (completion.c).  A
 *   SCIF_FENCE_INIT_SELF mark is the seq of the last request begun; waiting
 *   on it waits for rma_done_seq to reach it.  Marks are ints: seq modulo 2^30, read back relative to the
 *   current seq (a mark is good for 2^29 requests).
 * - Our peer's RMAs complete on the peer, so a SCIF_FENCE_INIT_PEER mark
 *   sends FENCE_REQ(id); the peer answers FENCE_DONE(id) once every request
 *   it had begun when the request arrived has completed.  Such marks are
 *   the id with bit 30 set.
 * - scif_fence_signal with SCIF_SIGNAL_REMOTE writes the value with an
 *   8-byte fenced RMA piece that carries the value itself (SCIF_SEG_IMM):
 *   - INIT_SELF, on a provider with SCIF_PROV_ORDERED_RMA (verbs: RC places
 *     writes in order, and the fence holds the write until earlier READs
 *     have completed; shm: copies complete in posting order): posted at
 *     once, right behind the requests it covers;
 *   - INIT_SELF otherwise, and while an earlier remote signal is still
 *     queued: posted once the marked requests have completed;
 *   - INIT_PEER: posted once the peer's FENCE_DONE has arrived.
 *   The value is never visible before the data, whether the data was
 *   written or read.
 *   SCIF_SIGNAL_LOCAL stores the value from the completion path once the
 *   marked requests (ours, or the peer's per FENCE_DONE) are done.
 */
#include "scif_priv.h"
#include "log.h"
#include "wire.h"

#include <endian.h>
#include <stdlib.h>

#define MARK_PEER (1u << 30)
#define MARK_MASK ((1u << 30) - 1)


static int fence_enter(scif_epd_t epd, struct scif_ep **ep)
{
	int ret = scif__ep_lookup(epd, ep);

	if (ret)
		return ret;
	/* writes through the endpoint's mappings are RMAs before the fence */
	scif__mmap_flush(*ep);
	scif__ep_lock(*ep);
	ret = scif__ep_allowed(*ep, SCIF_OP_RMA);
	/* after a failed RMA (the connection may stay up) a mark would never
	 * complete and a signal never be written: the loss's errno instead */
	if (!ret && (*ep)->rma_err)
		ret = scif__ep_lost(*ep);
	if (ret) {
		scif__ep_unlock(*ep);
		scif__ep_put(*ep);
	}
	return ret;
}

static void fence_leave(struct scif_ep *ep)
{
	scif__ep_unlock(ep);
	scif__ep_put(ep);
}

/* [ep locked] Ask the peer to tell us when its RMAs so far complete. */
static int peer_request(struct scif_ep *ep, uint32_t *id)
{
	struct scif_wire_id m = { 0 };

	*id = scif__ctrl_new_id(ep);
	m.id = htole32(*id);
	return ep->ops->ctrl_send(ep, SCIF_WIRE_FENCE_REQ, &m, sizeof(m));
}

SCIF_EXPORT int scif_fence_mark(scif_epd_t epd, int flags, int *mark)
{
	struct scif_ep *ep;
	struct scif_kcall_args ka = { .flags = flags, .markp = mark };
	uint32_t id;
	int ret;

	if (scif__kcall(epd, SCIF_KC_FENCE_MARK, &ka, &ret))
		return scif__ret(ret);
	if ((flags != SCIF_FENCE_INIT_SELF && flags != SCIF_FENCE_INIT_PEER) ||
	    !mark) {
		/* bad descriptors still answer EBADF/ENOTTY first */
		ret = scif__ep_lookup(epd, &ep);
		if (!ret)
			scif__ep_put(ep);
		return scif__ret(ret ? ret : -EINVAL);
	}
	ret = fence_enter(epd, &ep);
	if (ret)
		return scif__ret(ret);
	if (flags == SCIF_FENCE_INIT_SELF) {
		*mark = (int)(ep->rma_seq & MARK_MASK);
	} else {
		ret = peer_request(ep, &id);
		if (!ret)
			*mark = (int)(MARK_PEER | id);
	}
	fence_leave(ep);
	return scif__ret(ret);
}

SCIF_EXPORT int scif_fence_wait(scif_epd_t epd, int mark)
{
	struct scif_ep *ep;
	struct scif_kcall_args ka = { .mark = mark };
	uint64_t seq, back;
	int ret;

	if (scif__kcall(epd, SCIF_KC_FENCE_WAIT, &ka, &ret))
		return scif__ret(ret);
	ret = fence_enter(epd, &ep);
	if (ret)
		return scif__ret(ret);
	if (mark < 0) {
		ret = -EINVAL;
	} else if (mark & MARK_PEER) {
		uint32_t id = (uint32_t)mark & MARK_MASK;

		/* an id we never sent would be waited on forever */
		if (!id || ((ep->ctrl_id - id) & MARK_MASK) >= (MARK_MASK >> 1))
			ret = -EINVAL;
		else
			ret = scif__wait_reply(ep, id);
	} else {
		/* the newest seq whose low 30 bits are the mark; a mark from
		 * before the first request is already complete */
		back = (ep->rma_seq - (uint64_t)mark) & MARK_MASK;
		seq = back > ep->rma_seq ? 0 : ep->rma_seq - back;
		ret = scif__wait_seq(ep, seq);
	}
	fence_leave(ep);
	return scif__ret(ret);
}

/* [ep locked] The local address of an 8-byte signal at off, or NULL. */
static uint64_t *local_slot(struct scif_ep *ep, off_t off,
			    struct scif_window **win)
{
	struct scif_window *w = scif__window_find(ep, (uint64_t)off, 8);

	*win = w;
	/* a dma-buf window registered without a CPU mapping has no slot */
	if (!w || !w->addr)
		return NULL;
	return (uint64_t *)((char *)w->addr + ((uint64_t)off - w->offset));
}

/* [ep locked] Queue a remote signal, holding a reference on the peer's
 * window it targets (which may have gone while we waited to post). */
static int signal_queue(struct scif_ep *ep, struct scif_rma_action *ra)
{
	struct scif_rwindow *rw = scif__rwindow_find(ep, ra->roff, 8);
	int ret;

	if (!rw)
		return -ENXIO;
	rw->refs++;
	ra->ref_rwindow = rw;
	ret = scif__rma_action_add(ep, ra);
	if (ret)
		scif__rwindow_put(ep, rw);
	return ret;
}

SCIF_EXPORT int scif_fence_signal(scif_epd_t epd, off_t loff, uint64_t lval,
				  off_t roff, uint64_t rval, int flags)
{
	const int init = flags & (SCIF_FENCE_INIT_SELF | SCIF_FENCE_INIT_PEER);
	const int sig = flags & (SCIF_SIGNAL_LOCAL | SCIF_SIGNAL_REMOTE);
	struct scif_rma_action la = { .bounce = -1, .value = lval };
	struct scif_rma_action ra = { .bounce = -1, .value = rval, .remote = 1 };
	struct scif_rwindow *rw = NULL;
	struct scif_window *lw = NULL;
	struct scif_ep *ep;
	struct scif_kcall_args ka = { .loff = loff, .lval = lval, .roff = roff,
				      .rval = rval, .flags = flags };
	uint32_t id = 0;
	int ret;

	if (scif__kcall(epd, SCIF_KC_FENCE_SIGNAL, &ka, &ret))
		return scif__ret(ret);
	ret = scif__ep_lookup(epd, &ep);
	if (ret)
		return scif__ret(ret);
	scif__ep_put(ep);
	if ((init != SCIF_FENCE_INIT_SELF && init != SCIF_FENCE_INIT_PEER) ||
	    !sig || (flags & ~(init | sig)))
		return scif__ret(-EINVAL);
	if (((sig & SCIF_SIGNAL_LOCAL) && (loff < 0 || loff % 4)) ||
	    ((sig & SCIF_SIGNAL_REMOTE) && (roff < 0 || roff % 4)))
		return scif__ret(-EINVAL);
	ret = fence_enter(epd, &ep);
	if (ret)
		return scif__ret(ret);
	/* the peer's window first: asking the peer drops the lock */
	if (sig & SCIF_SIGNAL_REMOTE) {
		rw = scif__rwindow_find(ep, (uint64_t)roff, 8);
		if (!rw && !scif__rwindow_sync(ep)) /* still on its way? */
			rw = scif__rwindow_find(ep, (uint64_t)roff, 8);
		if (!rw) {
			ret = ep->state == SCIF_EP_CONNECTED ? -ENXIO :
							       scif__ep_lost(ep);
			goto out;
		}
		/* the device would refuse it and fail the connection */
		if (!(rw->prot & SCIF_PROT_WRITE)) {
			ret = -EACCES;
			goto out;
		}
		ra.roff = (uint64_t)roff;
	}
	if (sig & SCIF_SIGNAL_LOCAL) {
		la.store = local_slot(ep, loff, &lw);
		if (!la.store) {
			ret = -ENXIO;
			goto out;
		}
	}
	if (init == SCIF_FENCE_INIT_PEER) {
		ret = peer_request(ep, &id);
		if (ret)
			goto out;
		la.on_reply = ra.on_reply = true;
		la.reply = ra.reply = id;
	} else {
		la.seq = ra.seq = ep->rma_seq;
	}
	if (sig & SCIF_SIGNAL_LOCAL) {
		/* the window must outlive the pending store */
		if (la.on_reply) {
			lw->refs++;
			la.ref_window = lw;
		} else if (lw->last_seq < la.seq) {
			lw->last_seq = la.seq;
		}
		ret = scif__rma_action_add(ep, &la);
		if (ret) {
			if (la.ref_window)
				lw->refs--;
			goto out;
		}
	}
	if (sig & SCIF_SIGNAL_REMOTE) {
		ret = -EAGAIN;
		if (init == SCIF_FENCE_INIT_SELF &&
		    (ep->attr.caps & SCIF_PROV_ORDERED_RMA))
			ret = scif__rma_signal_now(ep, rval, ra.roff);
		/* queued: the peer's window must outlive the signal */
		if (ret == -EAGAIN || ret == -ENXIO)
			ret = signal_queue(ep, &ra);
	}
	/* nobody may call again before the signal is due (the application
	 * spins on its memory): the completions must be served */
	if (!ret)
		ep->ops->ep_park(ep);
out:
	fence_leave(ep);
	return scif__ret(ret);
}
