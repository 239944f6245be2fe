/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The heartbeat of a verbs connection (docs/nodes.md, Node loss).
 *
 * Every successful completion on the connection's CQ is a sign of the peer
 * node's life: a receive is its message, a send or RMA completion its
 * adapter's acknowledgement.  A timer of the progress thread ticks every
 * half period; when nothing was heard for SCIF_HEARTBEAT_MS it posts one
 * zero-byte RDMA WRITE (no memory touched at either end, so no key: IB
 * C9-88), whose acknowledgement is heard like any other; when nothing was
 * heard for SCIF_HEARTBEAT_TIMEOUT_MS the node is lost: the QP goes to the
 * error state (what is posted flushes) and the endpoint is disconnected
 * with ENODEV.  While traffic flows nothing is added.  RMA pieces are at
 * most VERBS_MAX_PIECE, so a long transfer completes one now and then.
 * The transport's own retries may end first (IBV_WC_RETRY_EXC_ERR: ENODEV);
 * the QP keeps the CM's ack timeout, and Soft-RoCE was not seen to get
 * there at all, so the timer decides.  A peer process that ends is not
 * silent: its kernel sends the DREQ (DISCONNECTED, ECONNRESET).
 */
#include "verbs.h"

#include <string.h>

/* [ep locked] Post the probe (one at a time). */
static void hb_post(struct verbs_conn *c)
{
	struct ibv_send_wr wr = { .wr_id = WRID_HB,
				  .opcode = IBV_WR_RDMA_WRITE,
				  .send_flags = IBV_SEND_SIGNALED },
			   *bad;
	int ret = ibv_post_send(c->qp, &wr, &bad);

	if (ret) {
		errno = ret;
		scif_dbg("verbs: heartbeat to %u:%u: %m", c->peer_node,
			 c->peer_port);
		return;
	}
	c->hb_posted = true;
	c->hb_sent_ms = scif__now_ms();
}

/*
 * [ep locked] The time this process could not watch is not the peer's
 * silence: a tick that comes late (the progress thread waited for the
 * endpoint's lock while a caller was in a long ibv_post_send: Soft-RoCE
 * runs the protocol in the caller's system call; or the process was not
 * scheduled) moves the marks forward by its lateness.
 */
static void hb_forgive(struct verbs_conn *c, long long now)
{
	long long late = now - c->hb_tick_ms - c->vp->hb_ms;

	if (late <= 0)
		return;
	scif_dbg("verbs: heartbeat of %u:%u ran %lld ms late", c->peer_node,
		 c->peer_port, late);
	c->alive_ms += late;
	c->hb_sent_ms += late;
}

/* Timer (progress thread). */
static void hb_tick(void *arg)
{
	struct verbs_conn *c = arg;
	struct scif_ep *ep = c->ep;
	long long quiet, now;

	scif__ep_get(ep);
	scif__ep_lock(ep);
	if (c->dead || c->closing || !c->established)
		goto out;
	/* what the channel has not told yet (as a caller polling would,
	 * without counting as one: see mute() in verbs_msg.c) */
	verbs_conn_poll(c);
	now = scif__now_ms();
	hb_forgive(c, now);
	c->hb_tick_ms = now;
	quiet = now - c->alive_ms;
	if (quiet >= c->vp->hb_timeout_ms && !c->dead) {
		scif_info("verbs: %u:%u silent for %lld ms: its node is lost "
			  "(probe posted %lld ms ago, %u RMA pieces in flight)",
			  c->peer_node, c->peer_port, quiet,
			  c->hb_posted ? now - c->hb_sent_ms : -1LL,
			  c->rma_inflight);
		c->dead = true;
		verbs_qp_move(c, IBV_QPS_ERR);
		scif__ep_peer_gone(ep, -ENODEV);
	} else if (quiet >= c->vp->hb_ms && !c->hb_posted && !c->dead) {
		hb_post(c);
	}
out:
	scif__ep_unlock(ep);
	scif__ep_put(ep);
}

/* A connection to this node itself has no heartbeat: its peer's node is
 * the one running it (a peer process that ends still sends the DREQ). */
void verbs_hb_start(struct verbs_conn *c)
{
	struct scif_progress *pg = scif__lib_progress(c->vp->lib);
	int tick = c->vp->hb_ms / 2;

	c->hb_timer = -1;
	if (c->peer_node == scif__self_node(c->vp->lib))
		return;
	c->alive_ms = c->hb_tick_ms = scif__now_ms();
	c->hb_timer = scif__progress_timer_add(pg, c->alive_ms + tick, tick,
					       hb_tick, c);
	if (c->hb_timer < 0)
		scif_warn("verbs: no heartbeat for %u:%u: %s", c->peer_node,
			  c->peer_port, strerror(-c->hb_timer));
}

void verbs_hb_stop(struct verbs_conn *c)
{
	if (c->hb_timer >= 0)
		scif__progress_del(scif__lib_progress(c->vp->lib), c->hb_timer);
	c->hb_timer = -1;
}

int verbs_wc_errno(const struct ibv_wc *wc)
{
	/* the peer's adapter never answered: the node (or the path) is gone */
	return wc->status == IBV_WC_RETRY_EXC_ERR ? -ENODEV : -ECONNRESET;
}
