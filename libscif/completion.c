/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Completion: what happens when our RMA requests complete, and the control
 * requests and answers the peers exchange about them.
 *
 * 1) Every RMA request is numbered (seq) and split into pieces (rma.c); the
 *    provider reports each piece once, in any order, possibly from inside
 *    rma_post.  A request completes when its last outstanding piece does;
 *    rma_done_seq is the highest seq such that every request up to it has
 *    completed (what fences and SYNC calls wait for).
 * 2) Completion work (releasing temporary registrations and bounce buffers,
 *    copying bounce data out, fence signals, deferred answers) is queued as
 *    actions in seq order and run from the completion path.
 * 3) Control requests (WIN_DEL, FENCE_REQ) carry ids and are answered in
 *    order, so the highest answered id says which are done.
 */
#include "scif_priv.h"
#include "log.h"
#include "wire.h"

#include <endian.h>
#include <stdlib.h>
#include <string.h>


/* ---- requests in flight ---- */

/* [ep locked] Room to count one more request in flight. */
int scif__rma_inflight_grow(struct scif_ep *ep)
{
	struct scif_rma_inflight *f = &ep->inflight;
	uint64_t ncap, s;
	uint32_t *n;

	if (f->cap && ep->rma_seq + 1 - ep->rma_done_seq < f->cap)
		return 0;
	ncap = f->cap ? f->cap * 2 : 256;
	n = calloc(ncap, sizeof(*n));
	if (!n)
		return -ENOMEM;
	for (s = ep->rma_done_seq + 1; f->cap && s <= ep->rma_seq; s++)
		n[s & (ncap - 1)] = f->left[s & (f->cap - 1)];
	free(f->left);
	f->left = n;
	f->cap = ncap;
	return 0;
}

/* [ep locked] Request seq (== rma_seq + 1, room made) will have n pieces. */
void scif__rma_inflight_set(struct scif_ep *ep, uint64_t seq, uint32_t n)
{
	ep->inflight.left[seq & (ep->inflight.cap - 1)] = n;
}

/* [ep locked] Move rma_done_seq over the requests that have completed. */
void scif__rma_advance(struct scif_ep *ep)
{
	struct scif_rma_inflight *f = &ep->inflight;

	while (ep->rma_done_seq < ep->rma_seq &&
	       !f->left[(ep->rma_done_seq + 1) & (f->cap - 1)])
		ep->rma_done_seq++;
}

void scif__ep_rma_piece_done(struct scif_ep *ep, uint64_t seq, int err)
{
	struct scif_rma_inflight *f = &ep->inflight;
	uint32_t *left;

	if (!f->cap || seq <= ep->rma_done_seq || seq > ep->rma_seq ||
	    !*(left = &f->left[seq & (f->cap - 1)])) {
		scif_err("completion of RMA request %llu, which has none "
			 "outstanding",
			 (unsigned long long)seq);
		return;
	}
	/* A failed piece never completes its request: RMA on the connection
	 * has ended, and whoever waits for the request (or a later one) gets
	 * scif__ep_lost: ENODEV when the peer's node was lost, else
	 * ECONNRESET. */
	if (err) {
		if (!ep->rma_err)
			ep->rma_err = err;
	} else if (--*left == 0) {
		scif__rma_advance(ep);
	}
	scif__rma_run_actions(ep);
	scif__ep_wake(ep);
}

/* ---- the action queue ---- */

static void run_action(struct scif_ep *ep, struct scif_rma_action *a, bool ok)
{
	if (ok && a->copy_dst)
		memcpy(a->copy_dst, a->copy_src, a->copy_len);
	if (a->bounce >= 0)
		ep->bounce_busy &= ~(1u << a->bounce);
	if (a->mr_held)
		ep->ops->mr_dereg(ep, &a->mr);
	if (ok && a->store) {
		/* offsets need only be 4-byte aligned */
		if (!((uintptr_t)a->store % 8)) {
			__atomic_store_n(a->store, a->value, __ATOMIC_RELEASE);
		} else {
			__atomic_thread_fence(__ATOMIC_RELEASE);
			memcpy(a->store, &a->value, sizeof(a->value));
		}
	}
	if (a->ref_window)
		a->ref_window->refs--;
	if (a->ref_rwindow)
		scif__rwindow_put(ep, a->ref_rwindow);
	/* An answer to the peer's request goes even after our RMA failed, as
	 * long as the connection is up (shm, a tcp target's refusal): what
	 * it waits for is that none of ours is in flight any more, and none
	 * is; unanswered, its scif_unregister or fence wait would wait for
	 * ever. */
	if (a->send_type && (ok || ep->state == SCIF_EP_CONNECTED ||
			     ep->state == SCIF_EP_CLOSING)) {
		struct scif_wire_id m = { .id = htole32(a->send_id) };

		ep->ops->ctrl_send(ep, a->send_type, &m, sizeof(m));
	}
}

/*
 * [ep locked] Post a remote fence signal: an 8-byte write of the value,
 * fenced, as a request of its own.  The value travels by value in the
 * piece (the provider copies it).  Returns 0, -EAGAIN when the provider's
 * queue is full, or another -errno.
 */
int scif__rma_post_signal(struct scif_ep *ep, struct scif_rwindow *rw,
			  uint64_t roff, uint64_t value)
{
	struct scif_rma_seg seg = { .op = SCIF_RMA_OP_WRITE,
				    .flags = SCIF_SEG_IMM | SCIF_SEG_FENCE,
				    .rmr = &rw->rmr,
				    .roff = roff - rw->offset,
				    .len = sizeof(value),
				    .imm = value };
	int ret = scif__rma_inflight_grow(ep);

	if (ret)
		return ret;
	seg.seq = ++ep->rma_seq;
	scif__rma_inflight_set(ep, seg.seq, 1);
	rw->last_seq = seg.seq;
	ret = ep->ops->rma_post(ep, &seg, 1);
	if (ret == 1)
		return 0;
	/* not taken: the number goes back (nothing completed under it) */
	scif__rma_inflight_set(ep, seg.seq, 0);
	ep->rma_seq--;
	return ret < 0 ? ret : -EAGAIN;
}

/* A queued remote fence signal can be posted only when no request is half
 * posted (pieces of a request stay contiguous). */
static bool try_remote_signal(struct scif_ep *ep, struct scif_rma_action *a)
{
	if (ep->rma_posting)
		return false;
	return !scif__rma_post_signal(ep, a->ref_rwindow, a->roff, a->value);
}

static bool action_ready(struct scif_ep *ep, struct scif_rma_action *a)
{
	if (a->on_reply)
		return scif__reply_seen(ep, a->reply);
	return ep->rma_done_seq >= a->seq;
}

/* [ep locked] One pass over the queue; see scif__rma_run_actions. */
static void run_actions_once(struct scif_ep *ep)
{
	struct scif_rma_action **pp = &ep->actions, *a;
	/* a closing endpoint still completes what is in flight */
	bool failed = ep->rma_err || (ep->state != SCIF_EP_CONNECTED &&
				      ep->state != SCIF_EP_CLOSING);
	bool answer_waits = false, remote_waits = false;

	ep->actions_tail = NULL;
	while ((a = *pp)) {
		if (!failed && (!action_ready(ep, a) ||
				(a->send_type && answer_waits) ||
				(a->after_remote && remote_waits))) {
			answer_waits |= a->send_type != 0;
			remote_waits |= a->remote && !a->on_reply;
			ep->actions_tail = a;
			pp = &a->next;
			continue;
		}
		if (!failed && a->remote && !try_remote_signal(ep, a)) {
			/* retry once the request being posted completes */
			a->on_reply = false;
			a->seq = ep->rma_seq;
			remote_waits = true;
			ep->actions_tail = a;
			pp = &a->next;
			continue;
		}
		*pp = a->next;
		run_action(ep, a, !failed);
		free(a);
	}
}

/*
 * [ep locked] Run the actions whose condition holds, in queue order.
 * Answers to the peer's control requests (sent by actions) leave in the
 * order the requests came, even when a later one is ready first: the peer
 * knows which are answered from the highest id it has seen.  A call made
 * while the queue is being run (a provider completing a signal from inside
 * rma_post) only asks the running one to go over the queue again.
 */
void scif__rma_run_actions(struct scif_ep *ep)
{
	if (ep->in_actions) {
		ep->actions_again = true;
		return;
	}
	ep->in_actions = true;
	do {
		ep->actions_again = false;
		run_actions_once(ep);
	} while (ep->actions_again);
	ep->in_actions = false;
}

int scif__rma_action_add(struct scif_ep *ep, struct scif_rma_action *a)
{
	return scif__rma_action_queue(ep, a, NULL);
}

int scif__rma_action_queue(struct scif_ep *ep, struct scif_rma_action *a,
			   struct scif_rma_action **queued)
{
	struct scif_rma_action *n = malloc(sizeof(*n));

	if (!n)
		return -ENOMEM;
	if (queued)
		*queued = n;
	*n = *a;
	n->next = NULL;
	if (ep->actions_tail)
		ep->actions_tail->next = n;
	else
		ep->actions = n;
	ep->actions_tail = n;
	scif__rma_run_actions(ep);
	return 0;
}

/* ---- control requests and replies ---- */

uint32_t scif__ctrl_new_id(struct scif_ep *ep)
{
	ep->ctrl_id = (ep->ctrl_id + 1) & SCIF_CTRL_ID_MASK;
	if (!ep->ctrl_id)
		ep->ctrl_id = 1;
	return ep->ctrl_id;
}

bool scif__reply_seen(struct scif_ep *ep, uint32_t id)
{
	/* ids are answered in order: seen when id is at or behind the mark
	 * (modulo 2^30, within half the space) */
	return ((ep->reply_mark - id) & SCIF_CTRL_ID_MASK) <
	       (SCIF_CTRL_ID_MASK >> 1);
}

/* A failed RMA of ours does not stop the peer from answering (over shm and
 * after a tcp target's refusal the connection stays up): only the
 * connection's end does. */
int scif__wait_reply(struct scif_ep *ep, uint32_t id)
{
	while (!scif__reply_seen(ep, id)) {
		if (ep->state != SCIF_EP_CONNECTED)
			return scif__ep_lost(ep);
		scif__ep_wait(ep, -1);
	}
	return 0;
}

int scif__wait_seq(struct scif_ep *ep, uint64_t seq)
{
	while (ep->rma_done_seq < seq) {
		if (ep->rma_err || ep->state != SCIF_EP_CONNECTED)
			return ep->state == SCIF_EP_CONNECTED ||
					       ep->state ==
						       SCIF_EP_DISCONNECTED ?
				       scif__ep_lost(ep) :
				       -ENOTCONN;
		scif__ep_wait(ep, -1);
	}
	return 0;
}

/*
 * scif_close of a connected endpoint, before the connection goes: RMAs the
 * peer has in flight into our windows complete first (as the header
 * requires).  One WIN_DEL over the whole offset space withdraws all our
 * windows from the peer; it answers once its RMAs that used any of them
 * have completed.  Bounded by deadline, and over as soon as the peer goes.
 */
void scif__rma_quiesce(struct scif_ep *ep, long long deadline)
{
	struct scif_wire_win_del m = { .offset = 0, .len = htole64(UINT64_MAX) };
	uint32_t id;

	scif__ep_lock(ep);
	if (scif_rtree_empty(&ep->windows) || ep->state != SCIF_EP_CLOSING)
		goto out;
	ep->conn_err = 0; /* set by the upcall if the peer goes meanwhile */
	id = scif__ctrl_new_id(ep);
	m.id = htole32(id);
	if (ep->ops->ctrl_send(ep, SCIF_WIRE_WIN_DEL, &m, sizeof(m)))
		goto out;
	while (!scif__reply_seen(ep, id) && !ep->conn_err) {
		if (scif__ep_wait(ep, deadline) == -ETIMEDOUT) {
			scif_warn("close: the peer did not confirm that its "
				  "RMAs into our windows are done");
			break;
		}
	}
out:
	scif__ep_unlock(ep);
}

/* ---- messages from the peer ---- */

static int rx_reply(struct scif_ep *ep, const void *p, uint32_t len)
{
	const struct scif_wire_id *m = p;
	uint32_t id = le32toh(m->id) & SCIF_CTRL_ID_MASK;

	(void)len;
	/* ids are issued in order: one ahead of the last issued (within half
	 * the space) was never asked */
	if (!id || ((ep->ctrl_id - id) & SCIF_CTRL_ID_MASK) >=
			   (SCIF_CTRL_ID_MASK >> 1)) {
		scif_peer_err(ep, "answer to request %u, never sent", id);
		return -EPROTO;
	}
	if (scif__reply_seen(ep, id)) {
		scif_peer_err(ep, "answer to request %u after a later one", id);
		return -EPROTO;
	}
	ep->reply_mark = id;
	scif__rma_run_actions(ep);
	return 0;
}

static int rx_fence_req(struct scif_ep *ep, const void *p, uint32_t len)
{
	const struct scif_wire_id *m = p;
	/* Answer when every RMA we have begun so far has completed. */
	struct scif_rma_action a = { .bounce = -1,
				     .seq = ep->rma_seq,
				     .send_type = SCIF_WIRE_FENCE_DONE,
				     .send_id = le32toh(m->id) };

	(void)len;
	return scif__rma_action_add(ep, &a);
}

/* The peer missed a window of ours in an RMA: every WIN_ADD we sent before
 * this answer is ahead of it in the control stream. */
static int rx_win_sync(struct scif_ep *ep, const void *p, uint32_t len)
{
	const struct scif_wire_id *m = p;
	struct scif_rma_action a = { .bounce = -1,
				     .send_type = SCIF_WIRE_WIN_SYNC_DONE,
				     .send_id = le32toh(m->id) };

	(void)len;
	return scif__rma_action_add(ep, &a);
}

/*
 * [ep locked] A range of the peer's address space is not known here.  On
 * MPSS a window is usable by the peer when scif_register returns, so the
 * peer may have been told of it (by another path) before its WIN_ADD got
 * here: ask the peer, whose answer comes behind every WIN_ADD it sent
 * before.  Costs a round trip on a miss only; drops the lock meanwhile.
 */
int scif__rwindow_sync(struct scif_ep *ep)
{
	struct scif_wire_id m = { 0 };
	uint32_t id = scif__ctrl_new_id(ep);
	int ret;

	m.id = htole32(id);
	ret = ep->ops->ctrl_send(ep, SCIF_WIRE_WIN_SYNC, &m, sizeof(m));
	return ret ? ret : scif__wait_reply(ep, id);
}

/* The dispatch table of core control messages: bounds-checked, a bad one
 * logged and refused (the provider then ends the connection). */
int scif__ep_ctrl_recv(struct scif_ep *ep, const struct scif_wire_hdr *h,
		       const void *payload)
{
	static const struct {
		int (*fn)(struct scif_ep *ep, const void *p, uint32_t len);
		uint32_t min, max;
	} table[SCIF_WIRE_NTYPES] = {
		[SCIF_WIRE_WIN_ADD] = { scif__rx_win_add,
					sizeof(struct scif_wire_win_add),
					sizeof(struct scif_wire_win_add) +
						SCIF_BLOB_MAX },
		[SCIF_WIRE_WIN_DEL] = { scif__rx_win_del,
					sizeof(struct scif_wire_win_del),
					sizeof(struct scif_wire_win_del) },
		[SCIF_WIRE_WIN_DEL_ACK] = { rx_reply, sizeof(struct scif_wire_id),
					    sizeof(struct scif_wire_id) },
		[SCIF_WIRE_FENCE_REQ] = { rx_fence_req, sizeof(struct scif_wire_id),
					  sizeof(struct scif_wire_id) },
		[SCIF_WIRE_FENCE_DONE] = { rx_reply, sizeof(struct scif_wire_id),
					   sizeof(struct scif_wire_id) },
		[SCIF_WIRE_WIN_SYNC] = { rx_win_sync, sizeof(struct scif_wire_id),
					 sizeof(struct scif_wire_id) },
		[SCIF_WIRE_WIN_SYNC_DONE] = { rx_reply,
					      sizeof(struct scif_wire_id),
					      sizeof(struct scif_wire_id) },
	};
	uint64_t buf[SCIF_WIRE_CTRL_MAX / 8]; /* aligned copy of the payload */
	int ret;

	if (h->type >= SCIF_WIRE_NTYPES || !table[h->type].fn ||
	    h->len < table[h->type].min || h->len > table[h->type].max ||
	    h->len > sizeof(buf)) {
		scif_peer_err(ep, "control message type %u of %u bytes",
			      h->type, h->len);
		return -EPROTO;
	}
	memcpy(buf, payload, h->len);
	ret = table[h->type].fn(ep, buf, h->len);
	/* handlers log the protocol errors they find themselves */
	if (ret && ret != -EPROTO)
		scif_peer_err(ep, "control message type %u failed (%s)",
			      h->type, strerror(-ret));
	scif__ep_wake(ep);
	return ret;
}
