/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Registered address space: windows, scif_register / scif_unregister, the
 * peer's announcements, and the target-side lookup for providers.
 *
 * Each endpoint has a registered address space of windows (offset -> a
 * provider registration) and knows its peer's from the peer's announcements:
 * 1) scif_register registers the memory with the provider and announces the
 *    window (WIN_ADD: offset, length, protection and the provider's opaque
 *    blob) in stream order, so a peer that learns of the window through the
 *    byte stream already knows it;
 * 2) the peer imports the blob (rmr_import) and checks its RMAs against the
 *    announced ranges and protection before anything is posted (rma.c);
 * 3) scif_unregister hides the windows, announces WIN_DEL and waits for the
 *    peer's WIN_DEL_ACK, which the peer sends once its RMAs that used them
 *    have completed; then it waits for its own, and releases the memory.
 */
#include "scif_priv.h"
#include "log.h"
#include "wire.h"

#include <endian.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Where chosen offsets start: MPSS's VA_GEN_MIN.  Programs depend on it (a
 * peer writes at 0x4000000000000000 because the other side's first window
 * lands there). */
#define AUTO_BASE 0x4000000000000000ull
/* Offsets are off_t: a window ends at 2^63 at most. */
#define OFFSET_MAX (1ull << 63)


static uint64_t page_size(void)
{
	return (uint64_t)sysconf(_SC_PAGESIZE);
}

/* ---- window tables (rtree.h: an ordered index by offset) ---- */

static struct scif_window *win_of(struct scif_rnode *n)
{
	return n ? scif_rnode_entry(n, struct scif_window, node) : NULL;
}

static struct scif_rwindow *rwin_of(struct scif_rnode *n)
{
	return n ? scif_rnode_entry(n, struct scif_rwindow, node) : NULL;
}

struct scif_window *scif__window_find(struct scif_ep *ep, uint64_t off,
				      uint64_t len)
{
	struct scif_window *w = win_of(scif_rtree_find(&ep->windows, off));

	if (w && w->ready && !w->dying && len <= w->len - (off - w->offset))
		return w;
	return NULL;
}

struct scif_rwindow *scif__rwindow_find(struct scif_ep *ep, uint64_t off,
					uint64_t len)
{
	struct scif_rwindow *w = rwin_of(scif_rtree_find(&ep->rwindows, off));

	if (w && len <= w->len - (off - w->offset))
		return w;
	return NULL;
}

/* Reserves the window's range (window_place checked it is free). */
static int window_insert(struct scif_ep *ep, struct scif_window *n)
{
	n->node.start = n->offset;
	n->node.end = n->offset + n->len;
	return scif_rtree_insert(&ep->windows, &n->node);
}

/* [ep locked] A peer window leaves the table; it is freed with its last
 * reference (a queued remote fence signal may still hold one). */
void scif__rwindow_put(struct scif_ep *ep, struct scif_rwindow *rw)
{
	if (--rw->refs)
		return;
	ep->ops->rmr_release(ep, &rw->rmr);
	free(rw);
}

/* ---- the target-side lookup (providers that execute RMA at the target) */

int scif__ep_window_get(struct scif_ep *ep, uint64_t off, uint64_t len,
			int prot, const struct scif_mr **mr, uint64_t *mr_off)
{
	struct scif_window *w;

	if (off + len < off)
		return -ENXIO;
	/* a dying window is still found: the peer checked its request
	 * before it heard of the WIN_DEL */
	w = win_of(scif_rtree_find(&ep->windows, off));
	if (!w || !w->ready || (len ? len : 1) > w->len - (off - w->offset))
		return -ENXIO;
	if ((w->prot & prot) != prot)
		return -EACCES;
	w->refs++;
	*mr = &w->mr;
	*mr_off = off - w->offset;
	return 0;
}

void scif__ep_window_put(struct scif_ep *ep, const struct scif_mr *mr)
{
	struct scif_window *w = scif_rnode_entry(mr, struct scif_window, mr);

	if (--w->refs == 0 && w->dying)
		scif__ep_wake(ep); /* an unregister waits for it */
}

/* ---- register / unregister ---- */

int scif__register_check(const struct scif_mem *mem, off_t offset, int prot,
			 int map_flags)
{
	uint64_t ps = page_size(), len = mem->len;

	if ((map_flags & ~SCIF_MAP_FIXED) || !prot ||
	    (prot & ~(SCIF_PROT_READ | SCIF_PROT_WRITE)) || offset < 0 ||
	    (mem->kind == SCIF_MEM_VA && (uintptr_t)mem->va % ps) || !len ||
	    len % ps || len > OFFSET_MAX)
		return -EINVAL;
	/* a fixed window must fit below 2^63; a hint is only a hint */
	if ((map_flags & SCIF_MAP_FIXED) &&
	    ((uint64_t)offset % ps || len > OFFSET_MAX - (uint64_t)offset))
		return -EINVAL;
	return 0;
}

/* [ep locked] Reserve the window's range of our address space. */
static int window_place(struct scif_ep *ep, uint64_t len, off_t offset,
			int map_flags, uint64_t *po)
{
	uint64_t ps = page_size();
	int ret;

	uint64_t hint = ((uint64_t)offset + ps - 1) / ps * ps;

	if (map_flags & SCIF_MAP_FIXED) {
		*po = (uint64_t)offset;
		return scif_rtree_busy(&ep->windows, *po, len) ? -EADDRINUSE :
								 0;
	}
	/* As MPSS: the hint when that range is free, else the lowest free
	 * range from VA_GEN_MIN up, else from 0 up. */
	if (offset > 0 && hint <= OFFSET_MAX - len &&
	    !scif_rtree_busy(&ep->windows, hint, len)) {
		*po = hint;
		return 0;
	}
	ret = scif_rtree_fit(&ep->windows, AUTO_BASE, len, OFFSET_MAX, po);
	if (ret)
		ret = scif_rtree_fit(&ep->windows, 0, len, OFFSET_MAX, po);
	return ret;
}

/* [ep locked] Tell the peer about a registered window. */
static int window_announce(struct scif_ep *ep, struct scif_window *w)
{
	struct {
		struct scif_wire_win_add h;
		uint8_t blob[SCIF_BLOB_MAX];
	} m;
	int n = ep->ops->mr_export(ep, &w->mr, m.blob, sizeof(m.blob));

	if (n < 0)
		return n;
	if ((size_t)n > sizeof(m.blob))
		return -EOVERFLOW;
	m.h.offset = htole64(w->offset);
	m.h.len = htole64(w->len);
	m.h.prot = htole32((uint32_t)w->prot);
	m.h.bloblen = htole32((uint32_t)n);
	return ep->ops->ctrl_send(ep, SCIF_WIRE_WIN_ADD, &m,
				  (uint32_t)(sizeof(m.h) + (size_t)n));
}

int scif__register(struct scif_ep *ep, const struct scif_mem *mem,
		   off_t offset, int prot, int map_flags,
		   struct scif_pinned_pages *pinned,
		   struct scif_mem_owner *owner, off_t *po_out)
{
	struct scif_window *w;
	uint64_t po;
	int ret = scif__register_check(mem, offset, prot, map_flags);

	if (ret)
		return ret;
	scif__ep_lock(ep);
	ret = scif__ep_allowed(ep, SCIF_OP_REGISTER);
	if (!ret)
		ret = window_place(ep, mem->len, offset, map_flags, &po);
	w = ret ? NULL : calloc(1, sizeof(*w));
	if (!ret && !w)
		ret = -ENOMEM;
	if (ret)
		goto out;
	w->offset = po;
	w->len = mem->len;
	w->addr = mem->va;
	w->prot = prot;
	w->pinned = pinned;
	w->owner = owner;
	w->mr.va = mem->va;
	w->mr.len = mem->len;
	w->mr.access = ((prot & SCIF_PROT_READ) ?
				SCIF_ACC_REMOTE_READ | SCIF_ACC_LOCAL_READ :
				0) |
		       ((prot & SCIF_PROT_WRITE) ?
				SCIF_ACC_REMOTE_WRITE | SCIF_ACC_LOCAL_WRITE :
				0);
	ret = window_insert(ep, w); /* reserves the range while we register */
	if (ret) {
		scif_err("window 0x%llx overlaps another",
			 (unsigned long long)po);
		free(w);
		goto out;
	}
	scif__ep_unlock(ep);
	/* Pinning many pages takes a while: not under the endpoint lock. */
	ret = ep->ops->mr_reg(ep, mem, &w->mr);
	scif__ep_lock(ep);
	if (ret == -EFAULT)
		ret = -EINVAL; /* the header's errno for unusable memory */
	if (!ret && ep->state != SCIF_EP_CONNECTED) {
		ep->ops->mr_dereg(ep, &w->mr);
		ret = scif__ep_allowed(ep, SCIF_OP_REGISTER);
	}
	if (!ret) {
		w->ready = true;
		ret = window_announce(ep, w);
		if (ret) /* the peer would never know it: undo */
			ep->ops->mr_dereg(ep, &w->mr);
	}
	if (ret) {
		scif_rtree_erase(&ep->windows, &w->node);
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
	struct scif_mem mem = { .kind = SCIF_MEM_VA, .va = addr, .len = len };
	struct scif_ep *ep;
	struct scif_kcall_args ka = { .addr = addr, .len = len,
				      .loff = offset, .prot = prot_flags,
				      .flags = map_flags };
	off_t po = 0;
	int ret;

	if (scif__kcall(epd, SCIF_KC_REGISTER, &ka, &ret))
		return ret ? scif__ret(ret) : (off_t)ka.out_off;
	ret = scif__ep_lookup(epd, &ep);
	if (ret)
		return scif__ret(ret);
	ret = scif__register(ep, &mem, offset, prot_flags, map_flags, NULL,
			     NULL, &po);
	scif__ep_put(ep);
	if (ret)
		return scif__ret(ret);
	return po;
}

/*
 * [ep locked] Release the windows hidden by the scif_unregister whose
 * WIN_DEL was del_id (0: every hidden window) that nothing references any
 * more.  Windows still referenced (pending local fence signals, provider
 * lookups) stay hidden until released (at the latest when the endpoint
 * closes).  Deregistration may take a while: done without the lock.
 */
void scif__windows_release(struct scif_ep *ep, uint32_t del_id)
{
	struct scif_window **pp = &ep->dying, *w, *gone = NULL;

	while ((w = *pp)) {
		if (w->refs || (del_id && w->del_id != del_id)) {
			pp = &w->next;
			continue;
		}
		*pp = w->next;
		scif_rtree_erase(&ep->windows, &w->node);
		w->next = gone;
		gone = w;
	}
	if (!gone)
		return;
	scif__ep_unlock(ep);
	while ((w = gone)) {
		gone = w->next;
		ep->ops->mr_dereg(ep, &w->mr);
		if (w->pinned)
			scif__pinned_release(ep->lib, w->pinned);
		if (w->owner)
			w->owner->release(w->owner);
		free(w);
	}
	scif__ep_lock(ep);
}

/* [ep locked] 1) every window the range touches must lie wholly inside it,
 * 2) and the windows must cover it without holes. */
static int unregister_check(struct scif_ep *ep, uint64_t off, uint64_t len)
{
	struct scif_rnode *n;
	uint64_t covered = 0;

	scif_rtree_for_range(&ep->windows, n, off, len)
	{
		struct scif_window *w = win_of(n);

		if (!w->ready || w->dying)
			continue;
		if (w->offset < off || w->offset + w->len > off + len)
			return -EINVAL;
		covered += w->len;
	}
	return covered == len ? 0 : -ENXIO;
}

/* [ep locked] Hide the range's windows, tagged with this call's WIN_DEL id
 * (a concurrent scif_unregister releases only its own); returns the last
 * of our requests that used them. */
static uint64_t windows_hide(struct scif_ep *ep, uint64_t off, uint64_t len,
			     uint32_t id)
{
	struct scif_rnode *n;
	uint64_t last = 0;

	scif_rtree_for_range(&ep->windows, n, off, len)
	{
		struct scif_window *w = win_of(n);

		if (!w->ready || w->dying || w->offset < off)
			continue;
		w->next = ep->dying;
		ep->dying = w;
		w->dying = true;
		w->del_id = id;
		if (w->last_seq > last)
			last = w->last_seq;
	}
	return last;
}

SCIF_EXPORT int scif_unregister(scif_epd_t epd, off_t offset, size_t len)
{
	uint64_t off = (uint64_t)offset, ps = page_size(), last;
	struct scif_wire_win_del m;
	struct scif_rnode *n;
	struct scif_ep *ep;
	struct scif_kcall_args ka = { .loff = offset, .len = len };
	uint32_t id;
	int ret;

	if (scif__kcall(epd, SCIF_KC_UNREGISTER, &ka, &ret))
		return scif__ret(ret);
	ret = scif__ep_lookup(epd, &ep);
	if (ret)
		return scif__ret(ret);
	if (offset < 0 || off % ps || !len || len % ps || off + len < off) {
		ret = -EINVAL;
		goto out_put;
	}
	scif__ep_lock(ep);
	ret = scif__ep_allowed(ep, SCIF_OP_REGISTER);
	if (!ret)
		ret = unregister_check(ep, off, len);
	if (ret)
		goto out;
	id = scif__ctrl_new_id(ep);
	last = windows_hide(ep, off, len, id);
	/* 3) the peer stops using them, 4) so do we, 5) release */
	m.offset = htole64(off);
	m.len = htole64(len);
	m.rsvd = 0;
	m.id = htole32(id);
	if (!ep->ops->ctrl_send(ep, SCIF_WIRE_WIN_DEL, &m, sizeof(m)))
		scif__wait_reply(ep, id);
	scif__wait_seq(ep, last);
	for (;;) {
		bool busy = false;

		scif_rtree_for_range(&ep->windows, n, off, len)
		{
			struct scif_window *w = win_of(n);

			busy |= w->dying && w->del_id == id && w->refs;
		}
		if (!busy || ep->state != SCIF_EP_CONNECTED)
			break;
		scif__ep_wait(ep, -1);
	}
	scif__windows_release(ep, id);
	ret = 0;
out:
	scif__ep_unlock(ep);
out_put:
	scif__ep_put(ep);
	return scif__ret(ret);
}

/* ---- the peer's announcements ---- */

int scif__rx_win_add(struct scif_ep *ep, const void *p, uint32_t mlen)
{
	const struct scif_wire_win_add *m = p;
	uint64_t off = le64toh(m->offset), len = le64toh(m->len);
	uint32_t bloblen = le32toh(m->bloblen);
	struct scif_rwindow *n;
	int ret;

	if (!len || off + len < off || bloblen > SCIF_BLOB_MAX ||
	    sizeof(*m) + bloblen != mlen) {
		scif_peer_err(ep, "bad window (0x%llx, %llu, blob %u)",
			      (unsigned long long)off, (unsigned long long)len,
			      bloblen);
		return -EPROTO;
	}
	if (scif_rtree_busy(&ep->rwindows, off, len)) {
		scif_peer_err(ep, "window 0x%llx of %llu bytes overlaps one "
			      "it announced before",
			      (unsigned long long)off, (unsigned long long)len);
		return -EPROTO;
	}
	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->rmr.offset = off;
	n->rmr.len = len;
	ret = ep->ops->rmr_import(ep, (const char *)p + sizeof(*m), bloblen,
				  len, &n->rmr);
	if (ret) {
		scif_peer_err(ep, "window blob refused (%s)", strerror(-ret));
		free(n);
		return ret;
	}
	n->offset = off;
	n->len = len;
	n->prot = (int)le32toh(m->prot);
	n->refs = 1;
	n->node.start = off;
	n->node.end = off + len;
	return scif_rtree_insert(&ep->rwindows, &n->node); /* free: checked */
}

int scif__rx_win_del(struct scif_ep *ep, const void *p, uint32_t mlen)
{
	const struct scif_wire_win_del *m = p;
	uint64_t off = le64toh(m->offset), len = le64toh(m->len), last = 0;
	struct scif_rma_action a = { .bounce = -1,
				     .send_type = SCIF_WIRE_WIN_DEL_ACK,
				     .send_id = le32toh(m->id),
				     .after_remote = true };
	struct scif_rnode *n, *nx;
	struct scif_rma_action *q;

	(void)mlen;
	if (off + len < off) { /* ours is (0, 2^64 - 1) at most */
		scif_peer_err(ep, "withdrawal of a range that wraps (0x%llx, "
			      "%llu)",
			      (unsigned long long)off, (unsigned long long)len);
		return -EPROTO;
	}
	/*
	 * Our pending remote signals into these windows: those over our own
	 * RMAs go out before the ack (after_remote), so the peer's window
	 * outlives them.  Those waiting for the peer's FENCE_DONE are dropped:
	 * holding the ack for them could deadlock against a peer doing the
	 * same, since each side answers requests in order.
	 */
	for (q = ep->actions; q; q = q->next) {
		if (!q->remote || !q->on_reply || q->roff < off ||
		    q->roff - off >= len)
			continue;
		scif_warn("fence signal at peer offset 0x%llx dropped: the "
			  "peer unregistered its window",
			  (unsigned long long)q->roff);
		q->remote = 0;
	}
	for (n = scif_rtree_first_after(&ep->rwindows, off);
	     n && scif_rnode_meets(n, off, len); n = nx) {
		struct scif_rwindow *w = rwin_of(n);

		nx = scif_rtree_next(n); /* stays in the tree: still valid */
		if (w->offset < off || w->len > len - (w->offset - off))
			continue;
		if (w->last_seq > last)
			last = w->last_seq;
		scif_rtree_erase(&ep->rwindows, n);
		scif__rwindow_put(ep, w);
	}
	scif__mmap_win_gone(ep, off, len); /* mapped pages: SIGBUS */
	/* Acknowledge once our RMAs that used them have completed. */
	a.seq = last;
	return scif__rma_action_add(ep, &a);
}

/* [ep locked] After the provider closed the connection: every window goes
 * (a window still being registered is its scif_register's to undo). */
void scif__windows_close(struct scif_ep *ep)
{
	struct scif_rnode *n;

	for (n = scif_rtree_first(&ep->windows); n; n = scif_rtree_next(n)) {
		struct scif_window *w = win_of(n);

		if (!w->ready || w->dying)
			continue;
		w->dying = true;
		w->next = ep->dying;
		ep->dying = w;
	}
	scif__windows_release(ep, 0);
	while ((n = ep->rwindows.root)) {
		scif_rtree_erase(&ep->rwindows, n);
		scif__rwindow_put(ep, rwin_of(n));
	}
}
