/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Registered address space, windows and RMA.
 *
 * Each endpoint has a registered address space of windows (offset -> pages)
 * and knows its peer's from the peer's announcements:
 * 1) scif_register registers the pages with the provider at their SCIF
 *    offset and announces the window (WIN_ADD) in stream order, so a peer
 *    that learns of the window through the byte stream already knows it;
 * 2) RMAs are checked against both tables (ENXIO, EACCES) before anything
 *    is posted, then split at window and device boundaries into pieces; a
 *    request's pieces are posted contiguously and numbered by one sequence
 *    number (seq), and the provider reports when the last piece completes;
 * 3) scif_unregister hides the windows, announces WIN_DEL and waits for the
 *    peer's WIN_DEL_ACK, which the peer sends once its RMAs that used them
 *    have completed; then it waits for its own, and releases the pages.
 * Completion work (releasing temporary registrations and bounce buffers,
 * copying bounce data out, fence signals, deferred acks) is queued as
 * actions in seq order and run from the completion path.
 */
#include "scif_priv.h"
#include "log.h"
#include "wire.h"

#include <endian.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define RMA_FLAGS (SCIF_RMA_USECPU | SCIF_RMA_USECACHE | SCIF_RMA_SYNC | \
		   SCIF_RMA_ORDERED)
#define AUTO_BASE (1ull << 32) /* where chosen offsets start */
#define OFFSET_MAX (1ull << 62)

struct wire_win_add {
	uint64_t offset, len, rkey;
	uint32_t prot, rsvd;
};
struct wire_win_del {
	uint64_t offset, len;
	uint32_t id, rsvd;
};
struct wire_id {
	uint32_t id, rsvd;
};

static uint64_t page_size(void)
{
	return (uint64_t)sysconf(_SC_PAGESIZE);
}

/* ---- the action queue ---- */

static int wait_posting(struct scif_ep *ep);
static int post_request(struct scif_ep *ep, struct scif_rma_seg *segs, int n);

static void run_action(struct scif_ep *ep, struct scif_rma_action *a, bool ok)
{
	const struct scif_provider_ops *ops = ep->lib->ops;

	if (ok && a->copy_dst)
		memcpy(a->copy_dst, a->copy_src, a->copy_len);
	if (a->bounce >= 0)
		ep->bounce_busy &= ~(1u << a->bounce);
	if (a->mr.handle)
		ops->mr_put(ep, &a->mr);
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
	if (ok && a->send_type) {
		struct wire_id m = { .id = htole32(a->send_id) };

		ops->ctrl_send(ep, a->send_type, &m, sizeof(m));
	}
}

/* A remote fence signal posts a write; it can do so only when no request
 * is half posted (pieces of a request stay contiguous). */
static bool try_remote_signal(struct scif_ep *ep, struct scif_rma_action *a)
{
	struct scif_rma_seg seg = { .op = SCIF_RMA_OP_WRITE,
				    .inline_src = &a->value,
				    .raddr = a->raddr,
				    .rkey = a->rkey,
				    .len = sizeof(a->value),
				    .last = 1,
				    .fence = 1 };

	if (ep->rma_posting)
		return false;
	seg.seq = ep->rma_seq + 1;
	if (ep->lib->ops->rma_post(ep, &seg, 1) != 1)
		return false;
	ep->rma_seq++;
	return true;
}

/*
 * [ep locked] A remote fence signal over our own RMAs, on a provider with
 * SCIF_PROV_ORDERED_RMA: posted now, fenced, right behind the requests it
 * covers, so it reaches the peer one round trip earlier than waiting for
 * their completion would.  -EAGAIN when an earlier remote signal is still
 * queued (signals keep their order: the caller queues this one too).
 */
int scif__rma_signal_now(struct scif_ep *ep, uint64_t value, uint64_t raddr,
			 uint64_t rkey)
{
	struct scif_rma_seg seg = { .op = SCIF_RMA_OP_WRITE,
				    .inline_src = &value,
				    .raddr = raddr,
				    .rkey = rkey,
				    .len = sizeof(value),
				    .last = 1,
				    .fence = 1 };
	struct scif_rma_action *a;
	int ret = wait_posting(ep);

	if (ret)
		return ret;
	for (a = ep->actions; a; a = a->next)
		if (a->remote)
			return -EAGAIN;
	seg.seq = ++ep->rma_seq;
	return post_request(ep, &seg, 1);
}

static bool action_ready(struct scif_ep *ep, struct scif_rma_action *a)
{
	if (a->on_reply)
		return scif__reply_seen(ep, a->reply);
	return ep->rma_done_seq >= a->seq;
}

/* [ep locked] Run the actions whose condition holds, in queue order.
 * Answers to the peer's control requests (sent by actions) leave in the
 * order the requests came, even when a later one is ready first: the peer
 * knows which are answered from the highest id it has seen. */
static void run_actions(struct scif_ep *ep)
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

int scif__rma_action_add(struct scif_ep *ep, struct scif_rma_action *a)
{
	struct scif_rma_action *n = malloc(sizeof(*n));

	if (!n)
		return -ENOMEM;
	*n = *a;
	n->next = NULL;
	if (ep->actions_tail)
		ep->actions_tail->next = n;
	else
		ep->actions = n;
	ep->actions_tail = n;
	run_actions(ep);
	return 0;
}

void scif__ep_rma_done(struct scif_ep *ep, uint64_t seq, int err)
{
	if (err)
		ep->rma_err = err;
	else if (seq > ep->rma_done_seq)
		ep->rma_done_seq = seq;
	run_actions(ep);
	scif__ep_wake(ep);
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

int scif__wait_reply(struct scif_ep *ep, uint32_t id)
{
	while (!scif__reply_seen(ep, id)) {
		if (ep->state != SCIF_EP_CONNECTED || ep->rma_err)
			return -ECONNRESET;
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
				       -ECONNRESET :
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
	struct wire_win_del m = { .offset = 0, .len = htole64(UINT64_MAX) };
	uint32_t id;

	scif__ep_lock(ep);
	if (!ep->windows || ep->rma_err || ep->state != SCIF_EP_CLOSING)
		goto out;
	ep->conn_err = 0; /* set by the upcall if the peer goes meanwhile */
	id = scif__ctrl_new_id(ep);
	m.id = htole32(id);
	if (ep->lib->ops->ctrl_send(ep, SCIF_WIRE_WIN_DEL, &m, sizeof(m)))
		goto out;
	while (!scif__reply_seen(ep, id) && !ep->conn_err && !ep->rma_err) {
		if (scif__ep_wait(ep, deadline) == -ETIMEDOUT) {
			scif_warn("close: the peer did not confirm that its "
				  "RMAs into our windows are done");
			break;
		}
	}
out:
	scif__ep_unlock(ep);
}

/* ---- window tables ---- */

struct scif_window *scif__window_find(struct scif_ep *ep, uint64_t off,
				      uint64_t len)
{
	struct scif_window *w;

	for (w = ep->windows; w && w->offset <= off; w = w->next)
		if (w->ready && !w->dying && off - w->offset < w->len &&
		    len <= w->len - (off - w->offset))
			return w;
	return NULL;
}

struct scif_rwindow *scif__rwindow_find(struct scif_ep *ep, uint64_t off,
					uint64_t len)
{
	struct scif_rwindow *w;

	for (w = ep->rwindows; w && w->offset <= off; w = w->next)
		if (off - w->offset < w->len &&
		    len <= w->len - (off - w->offset))
			return w;
	return NULL;
}

static bool range_busy(struct scif_ep *ep, uint64_t off, uint64_t len)
{
	struct scif_window *w;

	for (w = ep->windows; w; w = w->next)
		if (w->offset < off + len && off < w->offset + w->len)
			return true;
	return false;
}

/* Lowest free range of len bytes at or above start. */
static int choose_offset(struct scif_ep *ep, uint64_t start, uint64_t len,
			 uint64_t *out)
{
	struct scif_window *w;
	uint64_t cand = start;

	for (w = ep->windows; w; w = w->next) {
		if (w->offset + w->len <= cand)
			continue;
		if (w->offset >= cand + len)
			break;
		cand = w->offset + w->len;
	}
	if (cand + len > OFFSET_MAX || cand + len < cand)
		return -EAGAIN;
	*out = cand;
	return 0;
}

static void window_insert(struct scif_ep *ep, struct scif_window *n)
{
	struct scif_window **pp = &ep->windows;

	while (*pp && (*pp)->offset < n->offset)
		pp = &(*pp)->next;
	n->next = *pp;
	*pp = n;
}

static void window_unlink(struct scif_ep *ep, struct scif_window *n)
{
	struct scif_window **pp = &ep->windows;

	while (*pp && *pp != n)
		pp = &(*pp)->next;
	if (*pp)
		*pp = n->next;
}

/* ---- register / unregister ---- */

int scif__register(struct scif_ep *ep, void *addr, uint64_t len,
		   off_t offset, int prot, int map_flags,
		   struct scif_pinned_pages *pinned, off_t *po_out)
{
	const struct scif_provider_ops *ops = ep->lib->ops;
	uint64_t ps = page_size(), po;
	struct wire_win_add m;
	struct scif_window *w;
	int ret;

	if ((map_flags & ~SCIF_MAP_FIXED) || !prot ||
	    (prot & ~(SCIF_PROT_READ | SCIF_PROT_WRITE)) || offset < 0 ||
	    ((uintptr_t)addr % ps) || !len || len % ps ||
	    ((map_flags & SCIF_MAP_FIXED) && (uint64_t)offset % ps) ||
	    (uint64_t)offset + len < (uint64_t)offset ||
	    (uint64_t)offset + len > OFFSET_MAX)
		return -EINVAL;
	scif__ep_lock(ep);
	ret = scif__ep_check(ep->state, SCIF_OP_REGISTER);
	if (ret)
		goto out;
	if (map_flags & SCIF_MAP_FIXED) {
		po = (uint64_t)offset;
		if (range_busy(ep, po, len)) {
			ret = -EADDRINUSE;
			goto out;
		}
	} else {
		uint64_t hint = offset ? ((uint64_t)offset + ps - 1) / ps * ps :
					 AUTO_BASE;

		ret = choose_offset(ep, hint, len, &po);
		if (ret)
			ret = choose_offset(ep, 0, len, &po);
		if (ret)
			goto out;
	}
	w = calloc(1, sizeof(*w));
	if (!w) {
		ret = -ENOMEM;
		goto out;
	}
	w->offset = po;
	w->len = len;
	w->addr = addr;
	w->prot = prot;
	w->pinned = pinned;
	window_insert(ep, w); /* reserves the range while we register */
	scif__ep_unlock(ep);
	/* Pinning many pages takes a while: not under the endpoint lock. */
	ret = ops->win_register(ep, addr, len, (off_t)po, prot, &w->mr);
	scif__ep_lock(ep);
	if (!ret && ep->state != SCIF_EP_CONNECTED) {
		ops->win_unregister(ep, &w->mr);
		ret = scif__ep_check(ep->state, SCIF_OP_REGISTER);
	}
	if (ret) {
		window_unlink(ep, w);
		free(w);
		goto out;
	}
	w->ready = true;
	m.offset = htole64(po);
	m.len = htole64(len);
	m.rkey = htole64(w->mr.rkey);
	m.prot = htole32((uint32_t)prot);
	m.rsvd = 0;
	ret = ops->ctrl_send(ep, SCIF_WIRE_WIN_ADD, &m, sizeof(m));
	if (ret) { /* the peer would never know it: undo */
		window_unlink(ep, w);
		ops->win_unregister(ep, &w->mr);
		free(w);
		goto out;
	}
	*po_out = (off_t)po;
out:
	scif__ep_unlock(ep);
	return ret;
}

SCIF_EXPORT off_t scif_register(scif_epd_t epd, void *addr, size_t len,
				off_t offset, int prot_flags, int map_flags)
{
	struct scif_ep *ep;
	off_t po = 0;
	int ret = scif__ep_lookup(epd, &ep);

	if (ret)
		return scif__ret(ret);
	ret = scif__register(ep, addr, len, offset, prot_flags, map_flags, NULL,
			     &po);
	scif__ep_put(ep);
	if (ret)
		return scif__ret(ret);
	return po;
}

/* [ep locked] Release the windows hidden by the scif_unregister whose
 * WIN_DEL was del_id (0: every hidden window) that nothing references any
 * more.  Windows still referenced by pending local fence signals stay
 * hidden until those run (at the latest when the endpoint closes). */
static void windows_release(struct scif_ep *ep, uint32_t del_id)
{
	struct scif_window **pp = &ep->windows, *w;

	while ((w = *pp)) {
		if (!w->dying || w->refs || (del_id && w->del_id != del_id)) {
			pp = &w->next;
			continue;
		}
		*pp = w->next;
		ep->lib->ops->win_unregister(ep, &w->mr);
		if (w->pinned)
			scif__pinned_release(ep->lib, w->pinned);
		free(w);
	}
}

SCIF_EXPORT int scif_unregister(scif_epd_t epd, off_t offset, size_t len)
{
	uint64_t off = (uint64_t)offset, covered = 0, ps = page_size();
	uint64_t last = 0;
	struct wire_win_del m;
	struct scif_window *w;
	struct scif_ep *ep;
	uint32_t id;
	int ret = scif__ep_lookup(epd, &ep);

	if (ret)
		return scif__ret(ret);
	if (offset < 0 || off % ps || !len || len % ps || off + len < off) {
		ret = -EINVAL;
		goto out_put;
	}
	scif__ep_lock(ep);
	ret = scif__ep_check(ep->state, SCIF_OP_REGISTER);
	if (ret)
		goto out;
	/* 1) every window the range touches must lie wholly inside it */
	for (w = ep->windows; w; w = w->next) {
		if (!w->ready || w->dying || w->offset >= off + len ||
		    w->offset + w->len <= off)
			continue;
		if (w->offset < off || w->offset + w->len > off + len) {
			ret = -EINVAL;
			goto out;
		}
		covered += w->len;
	}
	/* 2) and the windows must cover it without holes */
	if (covered != len) {
		ret = -ENXIO;
		goto out;
	}
	/* Windows are tagged with this call's WIN_DEL id: a concurrent
	 * scif_unregister releases only its own. */
	id = scif__ctrl_new_id(ep);
	for (w = ep->windows; w; w = w->next) {
		if (!w->ready || w->dying || w->offset < off ||
		    w->offset >= off + len)
			continue;
		w->dying = true;
		w->del_id = id;
		if (w->last_seq > last)
			last = w->last_seq;
	}
	/* 3) the peer stops using them, 4) so do we, 5) release */
	m.offset = htole64(off);
	m.len = htole64(len);
	m.rsvd = 0;
	m.id = htole32(id);
	if (!ep->lib->ops->ctrl_send(ep, SCIF_WIRE_WIN_DEL, &m, sizeof(m)))
		scif__wait_reply(ep, id);
	scif__wait_seq(ep, last);
	for (;;) {
		bool busy = false;

		for (w = ep->windows; w; w = w->next)
			busy |= w->dying && w->del_id == id && w->refs;
		if (!busy || ep->state != SCIF_EP_CONNECTED)
			break;
		scif__ep_wait(ep, -1);
	}
	windows_release(ep, id);
	ret = 0;
out:
	scif__ep_unlock(ep);
out_put:
	scif__ep_put(ep);
	return scif__ret(ret);
}

/* ---- messages from the peer ---- */

static int rx_win_add(struct scif_ep *ep, const void *p)
{
	const struct wire_win_add *m = p;
	struct scif_rwindow *n, **pp;
	uint64_t off = le64toh(m->offset), len = le64toh(m->len);
	if (!len || off + len < off) {
		scif_err("peer announced a bad window (0x%llx, %llu)",
			 (unsigned long long)off, (unsigned long long)len);
		return -EPROTO;
	}
	struct scif_rwindow *prev = NULL;

	for (pp = &ep->rwindows; *pp && (*pp)->offset < off;
	     prev = *pp, pp = &(*pp)->next)
		;
	if ((*pp && (*pp)->offset < off + len) ||
	    (prev && prev->offset + prev->len > off)) {
		scif_err("peer announced an overlapping window");
		return -EPROTO;
	}
	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->offset = off;
	n->len = len;
	n->rkey = le64toh(m->rkey);
	n->prot = (int)le32toh(m->prot);
	n->next = *pp;
	*pp = n;
	return 0;
}

static int rx_win_del(struct scif_ep *ep, const void *p)
{
	const struct wire_win_del *m = p;
	uint64_t off = le64toh(m->offset), len = le64toh(m->len), last = 0;
	struct scif_rma_action a = { .bounce = -1,
				     .send_type = SCIF_WIRE_WIN_DEL_ACK,
				     .send_id = le32toh(m->id),
				     .after_remote = true };
	struct scif_rwindow **pp = &ep->rwindows, *w;
	struct scif_rma_action *q;

	/*
	 * Our pending remote signals into these windows: those over our own
	 * RMAs go out before the ack (after_remote), so the peer's window
	 * outlives them.  Those waiting for the peer's FENCE_DONE are dropped:
	 * holding the ack for them could deadlock against a peer doing the
	 * same, since each side answers requests in order.
	 */
	for (q = ep->actions; q; q = q->next) {
		if (!q->remote || !q->on_reply || q->raddr < off ||
		    q->raddr - off >= len)
			continue;
		scif_warn("fence signal at peer offset 0x%llx dropped: the "
			  "peer unregistered its window",
			  (unsigned long long)q->raddr);
		q->remote = 0;
	}

	while ((w = *pp)) {
		if (w->offset >= off && w->offset + w->len <= off + len) {
			if (w->last_seq > last)
				last = w->last_seq;
			*pp = w->next;
			free(w);
			continue;
		}
		pp = &w->next;
	}
	/* Acknowledge once our RMAs that used them have completed. */
	a.seq = last;
	return scif__rma_action_add(ep, &a);
}

static int rx_reply(struct scif_ep *ep, const void *p)
{
	const struct wire_id *m = p;
	uint32_t id = le32toh(m->id) & SCIF_CTRL_ID_MASK;

	if (scif__reply_seen(ep, id)) {
		scif_err("answer %u after a later one: dropped", id);
		return -EPROTO;
	}
	ep->reply_mark = id;
	run_actions(ep);
	return 0;
}

static int rx_fence_req(struct scif_ep *ep, const void *p)
{
	const struct wire_id *m = p;
	/* Answer when every RMA we have begun so far has completed. */
	struct scif_rma_action a = { .bounce = -1,
				     .seq = ep->rma_seq,
				     .send_type = SCIF_WIRE_FENCE_DONE,
				     .send_id = le32toh(m->id) };

	return scif__rma_action_add(ep, &a);
}

int scif__ep_ctrl_recv(struct scif_ep *ep, const struct scif_wire_hdr *h,
		       const void *payload)
{
	static const struct {
		int (*fn)(struct scif_ep *ep, const void *p);
		uint32_t len;
	} table[SCIF_WIRE_NTYPES] = {
		[SCIF_WIRE_WIN_ADD] = { rx_win_add, sizeof(struct wire_win_add) },
		[SCIF_WIRE_WIN_DEL] = { rx_win_del, sizeof(struct wire_win_del) },
		[SCIF_WIRE_WIN_DEL_ACK] = { rx_reply, sizeof(struct wire_id) },
		[SCIF_WIRE_FENCE_REQ] = { rx_fence_req, sizeof(struct wire_id) },
		[SCIF_WIRE_FENCE_DONE] = { rx_reply, sizeof(struct wire_id) },
	};
	uint64_t buf[8]; /* aligned copy of the payload */
	int ret;

	if (h->type >= SCIF_WIRE_NTYPES || !table[h->type].fn ||
	    h->len != table[h->type].len || h->len > sizeof(buf)) {
		scif_err("control message type %u length %u refused", h->type,
			 h->len);
		return -EPROTO;
	}
	memcpy(buf, payload, h->len);
	ret = table[h->type].fn(ep, buf);
	if (ret)
		scif_err("control message type %u failed (%d)", h->type, ret);
	scif__ep_wake(ep);
	return ret;
}

/* ---- RMA requests ---- */

/* [ep locked] Wait until no other request is being posted (the pieces of
 * one request stay contiguous); then the connection must still be up. */
static int wait_posting(struct scif_ep *ep)
{
	while (ep->rma_posting && ep->state == SCIF_EP_CONNECTED &&
	       !ep->rma_err)
		scif__ep_wait(ep, -1);
	if (ep->state != SCIF_EP_CONNECTED || ep->rma_err)
		return -ECONNRESET;
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
	ret = scif__rma_post_all(ep, segs, n);
	ep->rma_posting = false;
	if (ret) {
		scif_err("posting RMA request %llu failed (%d): RMA on this "
			 "connection has ended",
			 (unsigned long long)ep->rma_seq, ret);
		if (!ep->rma_err)
			ep->rma_err = ret;
		run_actions(ep);
	}
	scif__ep_wake(ep);
	return ret;
}

int scif__rma_post_all(struct scif_ep *ep, struct scif_rma_seg *segs, int n)
{
	int i = 0;

	while (i < n) {
		int k = ep->lib->ops->rma_post(ep, segs + i, n - i);

		if (k < 0)
			return k;
		i += k;
		if (i == n)
			break;
		if (ep->rma_err || ep->state != SCIF_EP_CONNECTED)
			return -ECONNRESET;
		scif__ep_wait(ep, -1); /* queue full: wait for completions */
	}
	return 0;
}

/* Local side of a request: registered windows (laddr = offset) or a
 * single registration of user memory (laddr = virtual address). */
struct rma_local {
	bool virt;
	uint64_t addr; /* offset, or virtual address */
	uint32_t lkey; /* virt only */
};

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
	uint64_t maxp = ep->lib->ops->rma_max_piece(ep), pos, seq, split = len;
	int need_l = op == SCIF_RMA_OP_WRITE ? SCIF_PROT_READ : SCIF_PROT_WRITE;
	int need_r = op == SCIF_RMA_OP_WRITE ? SCIF_PROT_WRITE : SCIF_PROT_READ;
	struct scif_rma_seg *segs = NULL;
	int i, n = 0, cap = 0, ret;

	if (roff + len < roff || (!loc->virt && loc->addr + len < loc->addr))
		return -ENXIO;
	/* Wait for another thread's request first: the lock is dropped while
	 * waiting, and the window tables may change meanwhile. */
	ret = wait_posting(ep);
	if (ret)
		return ret;
	/* Check both ranges wholly before posting anything; from here to the
	 * post the lock is held, so the windows found stay. */
	for (pos = 0; pos < len;) {
		struct scif_rwindow *rw = scif__rwindow_find(ep, roff + pos, 1);

		if (!rw)
			return -ENXIO;
		if ((rw->prot & need_r) != need_r)
			return -EACCES;
		pos = rw->offset + rw->len - roff;
	}
	for (pos = 0; !loc->virt && pos < len;) {
		struct scif_window *w = scif__window_find(ep, loc->addr + pos, 1);

		if (!w)
			return -ENXIO;
		if ((w->prot & need_l) != need_l)
			return -EACCES;
		pos = w->offset + w->len - loc->addr;
	}
	/* SCIF_RMA_ORDERED: the source's last cacheline is a piece of its own
	 * posted last (and fenced, for reads), so it lands after the rest. */
	if (flags & SCIF_RMA_ORDERED) {
		uint64_t src = op == SCIF_RMA_OP_WRITE ? loc->addr : roff;
		uint64_t line = (src + len - 1) & ~63ull;

		if (line > src)
			split = line - src;
	}
	seq = ep->rma_seq + 1;
	for (pos = 0; pos < len;) {
		struct scif_rwindow *rw = scif__rwindow_find(ep, roff + pos, 1);
		uint64_t piece = rw->offset + rw->len - (roff + pos);
		struct scif_rma_seg *s;

		if (piece > len - pos)
			piece = len - pos;
		if (piece > maxp)
			piece = maxp;
		if (pos < split && piece > split - pos)
			piece = split - pos;
		if (n == cap) {
			void *t = realloc(segs, (size_t)(cap ? cap * 2 : 16) *
							sizeof(*segs));

			if (!t) {
				free(segs);
				return -ENOMEM;
			}
			segs = t;
			cap = cap ? cap * 2 : 16;
		}
		s = &segs[n++];
		memset(s, 0, sizeof(*s));
		s->op = op;
		s->raddr = roff + pos;
		s->rkey = rw->rkey;
		s->seq = seq;
		if (loc->virt) {
			s->laddr = loc->addr + pos;
			s->lkey = loc->lkey;
		} else {
			struct scif_window *w =
				scif__window_find(ep, loc->addr + pos, 1);
			uint64_t lrest = w->offset + w->len - (loc->addr + pos);

			if (piece > lrest)
				piece = lrest;
			s->laddr = loc->addr + pos;
			s->lkey = w->mr.lkey;
		}
		s->len = piece;
		s->fence = pos >= split;
		pos += piece;
	}
	segs[n - 1].last = 1;
	if (act) {
		act->seq = seq;
		/* adding runs the queue: a deferred remote signal must not
		 * take seq from under us */
		ep->rma_posting = true;
		ret = scif__rma_action_add(ep, act);
		ep->rma_posting = false;
		if (ret) {
			free(segs);
			return ret;
		}
		*act = (struct scif_rma_action){ .bounce = -1 };
	}
	/* Nothing can fail now before the post: the windows learn that this
	 * request uses them (unregister waits for it). */
	for (i = 0; i < n; i++) {
		scif__rwindow_find(ep, segs[i].raddr, 1)->last_seq = seq;
		if (!loc->virt)
			scif__window_find(ep, segs[i].laddr, 1)->last_seq = seq;
	}
	ep->rma_seq = seq;
	ret = post_request(ep, segs, n);
	free(segs);
	if (ret)
		return ret;
	*seq_out = seq;
	return 0;
}

static int rma_call(scif_epd_t epd, enum scif_rma_op op, off_t loffset,
		    void *addr, size_t len, off_t roffset, int flags, bool virt)
{
	struct scif_rma_action act = { .bounce = -1 };
	struct rma_local loc = { .virt = virt };
	struct scif_ep *ep;
	uint64_t seq = 0;
	int ret = scif__ep_lookup(epd, &ep);

	if (ret)
		return scif__ret(ret);
	if (flags & ~RMA_FLAGS) {
		ret = -EINVAL;
		goto out_put;
	}
	if (roffset < 0 || (!virt && loffset < 0)) {
		ret = -ENXIO;
		goto out_put;
	}
	if (virt && !addr && len) {
		ret = -EFAULT;
		goto out_put;
	}
	scif__ep_lock(ep);
	ret = scif__ep_check(ep->state, SCIF_OP_RMA);
	if (ret || !len)
		goto out;
	if (!virt) {
		loc.addr = (uint64_t)loffset;
	} else if (len <= SCIF_BOUNCE_SIZE && !(flags & SCIF_RMA_USECACHE) &&
		   ep->bounce && ep->bounce_busy != (1u << SCIF_BOUNCE_SLOTS) - 1) {
		/* Small: through a pre-registered bounce buffer. */
		int slot = __builtin_ctz(~ep->bounce_busy);
		char *b = ep->bounce + (size_t)slot * SCIF_BOUNCE_SIZE;

		ep->bounce_busy |= 1u << slot;
		act.bounce = slot;
		if (op == SCIF_RMA_OP_WRITE) {
			memcpy(b, addr, len);
		} else {
			act.copy_dst = addr;
			act.copy_src = b;
			act.copy_len = len;
		}
		loc.addr = (uintptr_t)b;
		loc.lkey = ep->bounce_mr.lkey;
	} else {
		ret = ep->lib->ops->mr_get(
			ep, addr, len,
			((flags & SCIF_RMA_USECACHE) ? SCIF_MR_CACHE : 0) |
				(op == SCIF_RMA_OP_READ ? SCIF_MR_WRITE : 0),
			&act.mr);
		if (ret)
			goto out;
		loc.addr = (uintptr_t)addr;
		loc.lkey = act.mr.lkey;
	}
	ret = rma_request(ep, op, &loc, (uint64_t)roffset, len, flags,
			  virt ? &act : NULL, &seq);
	/* failed before its completion work was queued: release it here */
	if (act.bounce >= 0)
		ep->bounce_busy &= ~(1u << act.bounce);
	if (act.mr.handle)
		ep->lib->ops->mr_put(ep, &act.mr);
	if (!ret && (flags & SCIF_RMA_SYNC))
		ret = scif__wait_seq(ep, seq);
out:
	scif__ep_unlock(ep);
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

/* Internal (tests, diagnostics): the registration cache's counters. */
int scif__rma_cache_stats(scif_epd_t epd, struct scif_regcache_stats *st)
{
	struct scif_ep *ep;
	int ret = scif__ep_lookup(epd, &ep);

	if (ret)
		return ret;
	scif__ep_lock(ep);
	ret = ep->lib->ops->cache_stats(ep, st);
	scif__ep_unlock(ep);
	scif__ep_put(ep);
	return ret;
}

/* [ep locked] Set up the bounce buffer once the endpoint is connected. */
void scif__rma_connected(struct scif_ep *ep)
{
	size_t sz = (size_t)SCIF_BOUNCE_SLOTS * SCIF_BOUNCE_SIZE;
	void *b = NULL;

	if (ep->bounce || posix_memalign(&b, (size_t)page_size(), sz))
		return;
	if (ep->lib->ops->mr_get(ep, b, sz, SCIF_MR_WRITE, &ep->bounce_mr)) {
		free(b);
		return; /* v-ops then register every transfer */
	}
	ep->bounce = b;
}

/* After the provider closed the connection: release everything. */
void scif__rma_close(struct scif_ep *ep)
{
	struct scif_rwindow *rw;
	struct scif_window *w;

	scif__ep_lock(ep);
	if (!ep->rma_err)
		ep->rma_err = -ECONNRESET;
	run_actions(ep); /* all fail: releases registrations and refs */
	/* a window still being registered is its scif_register's to undo */
	for (w = ep->windows; w; w = w->next)
		if (w->ready)
			w->dying = true;
	windows_release(ep, 0);
	while ((rw = ep->rwindows)) {
		ep->rwindows = rw->next;
		free(rw);
	}
	if (ep->bounce) {
		ep->lib->ops->mr_put(ep, &ep->bounce_mr);
		free(ep->bounce);
		ep->bounce = NULL;
	}
	scif__ep_unlock(ep);
}
