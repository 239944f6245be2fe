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
 * The transport's own retries also end (IBV_WC_RETRY_EXC_ERR: ENODEV), the
 * QP's ack timeout being set from the timeout; Soft-RoCE does not always
 * get there, so the timer decides.  A peer process that ends is not
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
}

/* Timer (progress thread). */
static void hb_tick(void *arg)
{
	struct verbs_conn *c = arg;
	struct scif_ep *ep = c->ep;
	long long quiet;

	scif__ep_get(ep);
	scif__ep_lock(ep);
	if (c->dead || c->closing || !c->established)
		goto out;
	/* what the channel has not told yet (as a caller polling would,
	 * without counting as one: see mute() in verbs_msg.c) */
	verbs_conn_poll(c);
	quiet = scif__now_ms() - c->alive_ms;
	if (quiet >= c->vp->hb_timeout_ms && !c->dead) {
		scif_info("verbs: %u:%u silent for %lld ms: its node is lost",
			  c->peer_node, c->peer_port, quiet);
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

void verbs_hb_start(struct verbs_conn *c)
{
	struct scif_progress *pg = scif__lib_progress(c->vp->lib);
	int tick = c->vp->hb_ms / 2;

	c->alive_ms = scif__now_ms();
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

uint8_t verbs_hb_ack_timeout(const struct verbs_prov *vp)
{
	/* 4.096 us << t per try, 8 tries (retry_cnt 7) within the timeout */
	uint64_t per_try = (uint64_t)vp->hb_timeout_ms * 1000 * 1000 / 8 / 4096;
	uint8_t t = 0;

	while (t < 31 && (2ull << t) <= per_try)
		t++;
	return t ? t : 1;
}

int verbs_wc_errno(const struct ibv_wc *wc)
{
	/* the peer's adapter never answered: the node (or the path) is gone */
	return wc->status == IBV_WC_RETRY_EXC_ERR ? -ENODEV : -ECONNRESET;
}
