/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Verbs data path: the credit-managed SEND/RECV ring that carries the SCIF
 * byte stream and the core's control messages (see verbs.h and wire.h).
 *
 * The receive ring has rdepth + cdepth buffers.  The peer may have at most
 * rdepth stream messages and cdepth control messages unconsumed at once;
 * receives land in whichever buffer is next, so the pools are counts, not
 * buffer ranges.  Stream buffers are reposted when the application has read
 * them, control buffers as soon as they are handled.  One control credit is
 * kept for CREDIT messages, so credits can always be returned.  A message
 * that breaks the protocol ends the connection: dropping it would leave a
 * silent hole in the byte stream or in the credit accounting.
 */
#include "verbs.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/epoll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CQ_BATCH 32

static void *ring_alloc(size_t len)
{
	void *p = NULL;

	if (posix_memalign(&p, (size_t)sysconf(_SC_PAGESIZE), len))
		return NULL;
	memset(p, 0, len);
	return p;
}

static SCIF_HOT int post_recv(struct verbs_conn *c, uint32_t idx)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)(c->rbuf + (size_t)idx * c->rsize),
		.length = c->rsize,
		.lkey = c->rmr->lkey,
	};
	struct ibv_recv_wr wr = { .wr_id = idx, .sg_list = &sge, .num_sge = 1 };
	struct ibv_recv_wr *bad;
	int ret = ibv_post_recv(c->qp, &wr, &bad);

	if (ret && !c->dead)
		scif_err("ibv_post_recv: %s", strerror(ret));
	return -ret;
}

/*
 * [ep locked] Repost the stream buffers the application has read, in one
 * call: a call into the adapter's library per message (and the two of its
 * queue lock) cost more than the message's own work under emulation
 * (docs/progress.md, "Code size under emulation").  At most a quarter of
 * the data pool waits, so the credits held back (these, and up to half
 * the pool before a CREDIT goes) never reach the whole pool: a peer
 * without credits always has some coming.
 */
static SCIF_HOT void repost_flush(struct verbs_conn *c)
{
	struct ibv_sge sge[VERBS_REPOST_MAX];
	struct ibv_recv_wr wr[VERBS_REPOST_MAX], *bad = NULL;
	uint32_t i, n = c->nrepost;
	int ret;

	c->nrepost = 0;
	if (!n || c->dead)
		return;
	for (i = 0; i < n; i++) {
		sge[i] = (struct ibv_sge){
			.addr = (uintptr_t)(c->rbuf +
					    (size_t)c->repost[i] * c->rsize),
			.length = c->rsize,
			.lkey = c->rmr->lkey,
		};
		wr[i] = (struct ibv_recv_wr){
			.wr_id = c->repost[i],
			.next = i + 1 < n ? &wr[i + 1] : NULL,
			.sg_list = &sge[i],
			.num_sge = 1,
		};
	}
	ret = ibv_post_recv(c->qp, wr, &bad);
	if (ret) {
		if (!c->dead)
			scif_err("ibv_post_recv: %s", strerror(ret));
		n = bad ? (uint32_t)(bad - wr) : 0; /* those before bad went */
	}
	c->returnable += n;
}

/* The send and receive rings, registered; every receive posted. */
static int rings_setup(struct verbs_conn *c)
{
	uint32_t i;
	int ret;

	c->rbuf = ring_alloc((size_t)c->nrbuf * c->rsize);
	c->sbuf = ring_alloc((size_t)c->sdepth * c->ssize);
	c->rxq = calloc(c->nrbuf, sizeof(*c->rxq));
	c->rxlen = calloc(c->nrbuf, sizeof(*c->rxlen));
	c->sfree = calloc(c->sdepth, sizeof(*c->sfree));
	if (!c->rbuf || !c->sbuf || !c->rxq || !c->rxlen || !c->sfree)
		return -ENOMEM;
	c->rmr = ibv_reg_mr(c->pd->pd, c->rbuf, (size_t)c->nrbuf * c->rsize,
			    IBV_ACCESS_LOCAL_WRITE);
	c->smr = ibv_reg_mr(c->pd->pd, c->sbuf, (size_t)c->sdepth * c->ssize,
			    IBV_ACCESS_LOCAL_WRITE);
	if (!c->rmr || !c->smr) {
		ret = verbs_errno(-ENOMEM);
		scif_err("ibv_reg_mr: %m");
		return ret;
	}
	for (i = 0; i < c->sdepth; i++)
		c->sfree[i] = i;
	c->nsfree = c->sdepth;
	for (i = 0; i < c->nrbuf; i++) {
		ret = post_recv(c, i);
		if (ret)
			return ret;
	}
	return 0;
}

int verbs_conn_setup(struct verbs_conn *c)
{
	struct verbs_prov *vp = c->vp;
	struct ibv_qp_init_attr qa = { 0 };
	struct ibv_device_attr attr;
	int ret;

	c->dev = verbs_dev_get(vp, c->id->verbs);
	if (!c->dev)
		return -ENOMEM;
	c->pd = verbs_pd_new(vp, c->dev);
	if (!c->pd)
		return -ENOMEM;
	c->rdepth = vp->depth;
	c->cdepth = vp->cdepth;
	c->nrbuf = c->rdepth + c->cdepth;
	c->sdepth = c->nrbuf;
	c->rsize = c->ssize = vp->msg_size;
	c->repost_batch = c->rdepth / 4 < VERBS_REPOST_MAX ? c->rdepth / 4 :
							    VERBS_REPOST_MAX;
	verbs_rx_table_init(c);
	c->rma_depth = vp->rma_depth;
	c->max_piece = VERBS_MAX_PIECE;
	if (!ibv_query_device(c->dev->verbs, &attr) && attr.max_qp_wr > 0 &&
	    (uint32_t)attr.max_qp_wr < c->sdepth + c->rma_depth)
		c->rma_depth = (uint32_t)attr.max_qp_wr > c->sdepth + 4 ?
				       (uint32_t)attr.max_qp_wr - c->sdepth :
				       4;
	c->cc = ibv_create_comp_channel(c->dev->verbs);
	if (!c->cc) {
		ret = verbs_errno(-ENOMEM);
		scif_err("ibv_create_comp_channel: %m");
		return ret;
	}
	if (fcntl(c->cc->fd, F_SETFL, fcntl(c->cc->fd, F_GETFL) | O_NONBLOCK))
		return -errno;
	c->cq = ibv_create_cq(c->dev->verbs,
			      (int)(c->nrbuf + c->sdepth + c->rma_depth + 1), c,
			      c->cc, 0);
	if (!c->cq) {
		ret = verbs_errno(-ENOMEM);
		scif_err("ibv_create_cq: %m");
		return ret;
	}
	qa.send_cq = c->cq;
	qa.recv_cq = c->cq;
	qa.qp_type = IBV_QPT_RC;
	qa.cap.max_send_wr = c->sdepth + c->rma_depth + 1; /* + heartbeat */
	qa.cap.max_recv_wr = c->nrbuf;
	qa.cap.max_send_sge = 1;
	qa.cap.max_recv_sge = 1;
	qa.cap.max_inline_data = 64; /* SCIF_SEG_IMM pieces go inline */
	/* on our own context, not on id->verbs (see verbs_dev_get); INIT
	 * before receives can be posted */
	c->qp = ibv_create_qp(c->pd->pd, &qa);
	if (!c->qp) {
		ret = verbs_errno(-ENOMEM);
		scif_err("ibv_create_qp: %m");
		return ret;
	}
	/* what the device granted: messages that fit go inline */
	c->max_inline = qa.cap.max_inline_data;
	ret = verbs_qp_move(c, IBV_QPS_INIT);
	if (ret)
		return ret;
	ret = rings_setup(c);
	if (ret)
		return ret;
	if (ibv_req_notify_cq(c->cq, 0))
		return -EIO;
	c->notify = true;
	c->cc_handle = scif__progress_add(scif__lib_progress(vp->lib),
					  c->cc->fd, verbs_cq_event, c);
	return c->cc_handle < 0 ? c->cc_handle : 0;
}

/* [ep locked] Post one message; the caller checked credits and buffers. */
static SCIF_HOT int post_msg(struct verbs_conn *c, uint8_t type,
			     const void *data, uint32_t len)
{
	uint32_t idx = c->sfree[--c->nsfree];
	char *buf = c->sbuf + (size_t)idx * c->ssize;
	struct scif_wire_hdr h = { .type = type,
				   .credits = (uint16_t)c->returnable,
				   .ccredits = (uint16_t)c->creturnable,
				   .len = len };
	struct ibv_sge sge = { .addr = (uintptr_t)buf,
			       .length = SCIF_WIRE_HDR_LEN + len,
			       .lkey = c->smr->lkey };
	struct ibv_send_wr wr = { .wr_id = WRID_SEND | idx |
					   (type == SCIF_WIRE_DATA ?
						    WRID_DATA |
							    (uint64_t)len << 32 :
						    0),
				  .sg_list = &sge,
				  .num_sge = 1,
				  .opcode = IBV_WR_SEND,
				  .send_flags = IBV_SEND_SIGNALED };
	struct ibv_send_wr *bad;
	int ret;

	scif__wire_encode(buf, &h);
	scif__copy(buf + SCIF_WIRE_HDR_LEN, data, len);
	/* the adapter need not read the buffer back (an 8-byte ping-pong's
	 * message is 20 bytes); still signaled: its ACK says delivered */
	if (sge.length <= c->max_inline)
		wr.send_flags |= IBV_SEND_INLINE;
	ret = ibv_post_send(c->qp, &wr, &bad);
	if (ret) {
		c->sfree[c->nsfree++] = idx;
		scif_err("ibv_post_send: %s", strerror(ret));
		return -ECONNRESET;
	}
	c->returnable = 0;
	c->creturnable = 0;
	if (type == SCIF_WIRE_DATA) {
		c->credits--;
		c->unacked += len;
	} else {
		c->ccredits--;
	}
	return 0;
}

static SCIF_HOT bool can_talk(struct verbs_conn *c)
{
	return !c->dead && c->established && c->nsfree;
}

/* [ep locked] Send queued control messages while credits allow, keeping
 * the last control credit for a CREDIT message.  Returns how many went. */
static __attribute__((noinline)) int outbox_send(struct verbs_conn *c)
{
	int sent = 0;

	while (c->out_head && can_talk(c) && c->ccredits > 1) {
		struct verbs_outmsg *m = c->out_head;

		if (post_msg(c, m->type, m->payload, m->len))
			break;
		c->out_head = m->next;
		if (!c->out_head)
			c->out_tail = NULL;
		free(m);
		sent++;
	}
	return sent;
}

/* [ep locked] Return credits (half of a pool waits). */
static __attribute__((noinline)) void credit_send(struct verbs_conn *c)
{
	if (!can_talk(c) || !c->ccredits)
		return;
	/* The last control credit only goes on a CREDIT that returns control
	 * credits: the peer can then always answer, and both sides cannot
	 * spend their last one on data credits and be left with none. */
	if (c->ccredits == 1 && !c->creturnable)
		return;
	post_msg(c, SCIF_WIRE_CREDIT, NULL, 0);
}

/* The two below run at every poll of a spinning caller: what usually
 * makes them return is checked inline, without a call. */
static SCIF_HOT int flush_outbox(struct verbs_conn *c)
{
	return c->out_head ? outbox_send(c) : 0;
}

/* [ep locked] Return credits when half of either pool waits. */
static SCIF_HOT void maybe_send_credit(struct verbs_conn *c)
{
	if (c->returnable >= c->rdepth / 2 || c->creturnable >= c->cdepth / 2)
		credit_send(c);
}

int verbs_ctrl_send(struct scif_ep *ep, uint8_t type, const void *payload,
		    uint32_t len)
{
	struct verbs_ep *ve = scif__ep_prov_data(ep);
	struct verbs_conn *c = ve ? ve->conn : NULL;
	struct verbs_outmsg *m;

	if (!c || c->dead)
		return -ECONNRESET;
	/* both message sizes hold SCIF_WIRE_CTRL_MAX (VERBS_MSG_MIN) */
	if (len > c->peer_msg_size - SCIF_WIRE_HDR_LEN ||
	    len > c->ssize - SCIF_WIRE_HDR_LEN)
		return -EMSGSIZE;
	m = malloc(sizeof(*m) + len);
	if (!m)
		return -ENOMEM;
	m->next = NULL;
	m->type = type;
	m->len = len;
	memcpy(m->payload, payload, len);
	if (c->out_tail)
		c->out_tail->next = m;
	else
		c->out_head = m;
	c->out_tail = m;
	flush_outbox(c);
	return 0;
}

static SCIF_HOT int rx_data(void *ctx, const struct scif_wire_hdr *h,
			    const void *p)
{
	struct verbs_conn *c = ctx;
	uint32_t idx = (uint32_t)(((const char *)p - SCIF_WIRE_HDR_LEN -
				   c->rbuf) / c->rsize);

	c->rxq[(c->rx_head + c->rx_count) % c->nrbuf] = idx;
	c->rxlen[idx] = h->len;
	c->rx_count++;
	return 1; /* buffer kept until the application reads it */
}

static int rx_credit(void *ctx, const struct scif_wire_hdr *h, const void *p)
{
	(void)ctx, (void)h, (void)p;
	return 0;
}

static int rx_ctrl(void *ctx, const struct scif_wire_hdr *h, const void *p)
{
	struct verbs_conn *c = ctx;

	/* a refused one would leave the peer waiting for our answer */
	return scif__ep_ctrl_recv(c->ep, h, p);
}

/* [ep locked] The peer broke the protocol: end the connection as if it had
 * gone.  The application reads what arrived before, then gets ECONNRESET. */
static void conn_proto_error(struct verbs_conn *c)
{
	c->proto_err = true;
	if (!c->dead) {
		c->dead = true;
		/* a connect not yet established fails in on_established */
		if (!c->closing && (c->established || !c->active))
			scif__ep_peer_gone(c->ep, -ECONNRESET);
	}
	/* the peer hears of it now; fails harmlessly if not yet connected */
	if (c->qp)
		verbs_qp_move(c, IBV_QPS_ERR);
	if (rdma_disconnect(c->id))
		scif_info("rdma_disconnect: %m");
}

/* What a message may be: the stream, credits, and every core control type
 * (SCIF_WIRE_CTRL_FIRST up to SCIF_WIRE_NTYPES, at most
 * SCIF_WIRE_CTRL_MAX bytes of payload).  Anything else is refused. */
void verbs_rx_table_init(struct verbs_conn *c)
{
	const uint32_t max = c->rsize - SCIF_WIRE_HDR_LEN;
	int t;

	memset(c->rx_table, 0, sizeof(c->rx_table));
	c->rx_table[SCIF_WIRE_DATA] =
		(struct scif_wire_handler){ rx_data, 1, max };
	c->rx_table[SCIF_WIRE_CREDIT] =
		(struct scif_wire_handler){ rx_credit, 0, 0 };
	for (t = SCIF_WIRE_CTRL_FIRST; t < SCIF_WIRE_NTYPES; t++)
		c->rx_table[t] = (struct scif_wire_handler){
			rx_ctrl, 0, max < SCIF_WIRE_CTRL_MAX ? max :
							       SCIF_WIRE_CTRL_MAX
		};
}

/*
 * [ep locked] Check the message in receive buffer idx (bytes long, inside
 * the ring) and hand it on: 1 kept (stream data, until the application
 * reads it), 0 consumed (*type says whose credit its buffer returns), -1
 * the peer broke the protocol (logged).  Needs no device: the fuzz target
 * test/fuzz/fuzz_verbs.c calls it.
 */
SCIF_HOT int verbs_rx_parse(struct verbs_conn *c, uint32_t idx, uint32_t bytes,
		   uint8_t *type)
{
	const char *buf = c->rbuf + (size_t)idx * c->rsize;
	struct scif_wire_hdr h = { 0 };
	int kept;

	if (scif__wire_decode(buf, bytes, &h)) {
		scif_err("malformed message of %u bytes from %u:%u: "
			 "connection ended",
			 bytes, c->peer_node, c->peer_port);
		return -1;
	}
	if (c->credits + h.credits > c->peer_depth ||
	    c->ccredits + h.ccredits > c->peer_cdepth) {
		scif_err("peer %u:%u returned credits it never had (%u, %u): "
			 "connection ended",
			 c->peer_node, c->peer_port, h.credits, h.ccredits);
		return -1;
	}
	c->credits += h.credits;
	c->ccredits += h.ccredits;
	*type = h.type;
	/* the stream straight to its handler, within the table's bounds: the
	 * call into the core's dispatch is for the rarer types */
	if (h.type == SCIF_WIRE_DATA &&
	    h.len >= c->rx_table[SCIF_WIRE_DATA].min_len &&
	    h.len <= c->rx_table[SCIF_WIRE_DATA].max_len)
		return rx_data(c, &h, buf + SCIF_WIRE_HDR_LEN) == 1;
	kept = scif__wire_dispatch(c->rx_table, SCIF_WIRE_NTYPES, c, buf,
				   bytes);
	if (kept < 0) { /* logged by dispatch or the core's handler */
		scif_dbg("connection to %u:%u ended: protocol error",
			 c->peer_node, c->peer_port);
		return -1;
	}
	return kept == 1;
}

static SCIF_HOT void rx_message(struct verbs_conn *c, uint32_t idx,
				uint32_t bytes)
{
	uint8_t type = 0;
	int kept;

	if (c->proto_err)
		return; /* what follows a broken message is not trusted */
	if (idx >= c->nrbuf || bytes > c->rsize) {
		scif_err("receive completion out of the ring (%u, %u bytes)",
			 idx, bytes);
		return;
	}
	kept = verbs_rx_parse(c, idx, bytes, &type);
	if (kept < 0) {
		conn_proto_error(c);
		return;
	}
	if (kept)
		return;
	/* Consumed by the header alone or handled: reuse it, and return the
	 * credit of the pool its type draws from. */
	if (!post_recv(c, idx)) {
		if (type == SCIF_WIRE_DATA)
			c->returnable++;
		else
			c->creturnable++;
	}
}

static void conn_error(struct verbs_conn *c, struct ibv_wc *wc)
{
	if (wc->status != IBV_WC_WR_FLUSH_ERR && !c->dead)
		scif_warn("completion error: %s (vendor 0x%x)",
			  ibv_wc_status_str(wc->status), wc->vendor_err);
	if (!c->dead) {
		c->dead = true;
		if (!c->closing)
			scif__ep_peer_gone(c->ep, verbs_wc_errno(wc));
	}
}

/*
 * [ep locked] Process every completion the CQ holds.  Returns whether a
 * waiter may care: something arrived, an RMA piece completed (queue room),
 * an error, or a send buffer came back while none was free or a flush waits
 * for them.  A plain send completion changes nothing a waiter looks at:
 * waking for it would rouse a thread blocked in recv for nothing, one
 * context switch per message on the latency path.
 */
/* [ep locked] The peer's adapter has a stream message: a sender waiting
 * for its bytes to be delivered cares when none is left unacknowledged. */
static SCIF_HOT bool data_acked(struct verbs_conn *c, uint64_t len)
{
	c->unacked -= len < c->unacked ? len : c->unacked;
	if (c->unacked || !c->delivery_wait)
		return false;
	c->delivery_wait = false;
	return true;
}

SCIF_HOT bool verbs_cq_drain(struct verbs_conn *c)
{
	struct ibv_wc wc[CQ_BATCH];
	bool wake = false, alive = false;
	int n, i;

	/* a short batch emptied the CQ: what completes later is the next
	 * look's, or raises the armed channel's event */
	for (n = CQ_BATCH; n == CQ_BATCH;) {
		n = ibv_poll_cq(c->cq, CQ_BATCH, wc);
		for (i = 0; i < n; i++) {
			uint64_t id = wc[i].wr_id;

			alive |= wc[i].status == IBV_WC_SUCCESS;
			if (id == WRID_HB) {
				c->hb_posted = false;
				if (wc[i].status != IBV_WC_SUCCESS) {
					conn_error(c, &wc[i]);
					wake = true;
				}
				continue;
			}
			if (id & WRID_RMA) {
				verbs_rma_complete(c, &wc[i]);
				wake = true;
			} else if (id & WRID_SEND) {
				wake |= !c->nsfree || c->flushing;
				c->sfree[c->nsfree++] = (uint32_t)id;
				if ((id & WRID_DATA) &&
				    wc[i].status == IBV_WC_SUCCESS)
					wake |= data_acked(c, WRID_DATA_LEN(id));
			}
			if (wc[i].status != IBV_WC_SUCCESS) {
				conn_error(c, &wc[i]);
				wake = true;
			} else if (!(id & (WRID_SEND | WRID_RMA)) &&
				   !c->closing) {
				rx_message(c, (uint32_t)id, wc[i].byte_len);
				wake = true;
			}
		}
	}
	/* A sign of life for the heartbeat, which dates it at its next tick
	 * (hb_ms / 2): a clock read per message cost 0.4 us of a spinning
	 * 8-byte scif_lat's 13.6 in one VM (12 interleaved rounds). */
	if (alive)
		c->heard = true;
	return wake;
}

/* [ep locked] Drain the CQ, then send what waits and return credits; wake
 * the endpoint's waiters when something they may care about happened.
 * Returns whether it did. */
static SCIF_HOT bool conn_progress(struct verbs_conn *c)
{
	bool wake = verbs_cq_drain(c);

	if (c->closing)
		return false;
	/* an outbox that drained may let a blocked send go on */
	if (flush_outbox(c))
		wake = true;
	maybe_send_credit(c);
	if (wake)
		scif__ep_wake(c->ep);
	return wake;
}

/* [ep locked] Take the channel's event, if any, and re-arm: the CQ is
 * drained after this, so nothing completes unnoticed. */
static SCIF_HOT void cq_event_take(struct verbs_conn *c)
{
	struct ibv_cq *cq;
	void *ctx;

	if (!ibv_get_cq_event(c->cc, &cq, &ctx)) {
		ibv_ack_cq_events(cq, 1);
		c->notify = false;
		c->st.taken++;
	}
	c->ev_unread = false;
	if (!c->notify && !ibv_req_notify_cq(c->cq, 0)) {
		c->notify = true;
		c->st.armed++;
	}
}

/*
 * [ep locked] Before a sleep on the channel, or before the progress thread
 * watches it again: read what a leader left unread and arm the CQ, then
 * drain (a completion between the last drain and the arming raised no
 * event).  Returns whether the drain found something a waiter cares
 * about; false at once when the channel is already armed and empty.
 */
static SCIF_HOT bool cq_rearm(struct verbs_conn *c)
{
	if (!c->ev_unread && c->notify)
		return false;
	cq_event_take(c);
	return conn_progress(c);
}

void verbs_cq_event(void *arg)
{
	struct verbs_conn *c = arg;

	scif__ep_lock(c->ep);
	c->st.cb++;
	cq_event_take(c);
	conn_progress(c);
	scif__ep_unlock(c->ep);
}

static SCIF_HOT struct verbs_conn *ep_conn(struct scif_ep *ep)
{
	struct verbs_ep *ve = scif__ep_prov_data(ep);

	return ve ? ve->conn : NULL;
}

/* [ep locked] The progress thread watches the channel again. */
static SCIF_HOT void unmute(struct verbs_conn *c)
{
	/* the progress thread sleeps on the channel: it must be armed */
	if (c->cq && !c->closing)
		cq_rearm(c);
	if (c->muted && !c->leading && c->cc_handle >= 0)
		scif__progress_set_events(scif__lib_progress(c->vp->lib),
					  c->cc_handle, EPOLLIN);
	c->st.unmuted += c->muted;
	c->muted = false;
	/* no tick comes now to raise what a send left (verbs_ep_late) */
	scif__ep_raise_late(c->ep);
}

/*
 * The mute timer, at the end of each mute period: gives the channel back to
 * the progress thread once a whole period passed without a caller polling
 * the connection.  While callers keep polling it only re-arms, for a period
 * twice as long (at most VERBS_MUTE_MAX_MS), and without the endpoint's
 * lock: a spinning caller holds that lock nearly all the time, and taking
 * it cost a futex sleep and wake-up, two thread switches per tick, in the
 * small VM the spinner shares with rxe.  mute_ms is written here without
 * the lock and by mute() with it: whichever wins, the period stays within
 * its bounds.
 */
static void mute_tick(void *arg)
{
	struct verbs_conn *c = arg;
	unsigned gen = __atomic_load_n(&c->pollgen, __ATOMIC_RELAXED), ms;

	c->st.ticks++; /* only this thread writes it while the timer lives */
	if (gen != c->tick_seen) { /* still polled */
		c->tick_seen = gen;
		if (scif__ep_late_due(c->ep)) { /* rare: see verbs_ep_late */
			scif__ep_lock(c->ep);
			scif__ep_raise_late(c->ep);
			scif__ep_unlock(c->ep);
		}
		ms = __atomic_load_n(&c->mute_ms, __ATOMIC_RELAXED) * 2;
		if (ms > VERBS_MUTE_MAX_MS)
			ms = VERBS_MUTE_MAX_MS;
		__atomic_store_n(&c->mute_ms, ms, __ATOMIC_RELAXED);
		scif__progress_timer_set(scif__lib_progress(c->vp->lib),
					 c->mute_timer, scif__now_ms() + ms);
		return;
	}
	scif__ep_lock(c->ep);
	c->mute_armed = false; /* the lead's end arms it again */
	if (c->muted && !c->leading)
		unmute(c);
	scif__ep_raise_late(c->ep);
	scif__ep_unlock(c->ep);
}

/* [ep locked] The mute timer runs a first period from now; false if it
 * cannot.  The timer is added disarmed and armed once its handle is
 * stored: added armed, it could run before the handle was (a descheduled
 * caller, a 1-vCPU VM under ASan), and its re-arm went to handle -1 and
 * was lost; the channel then stayed muted for good (cluster_fence_1n: a
 * fence signal the completion path stores never came). */
static SCIF_HOT bool mute_arm(struct verbs_conn *c)
{
	struct scif_progress *pg = scif__lib_progress(c->vp->lib);

	__atomic_store_n(&c->mute_ms, VERBS_MUTE_MS, __ATOMIC_RELAXED);
	if (c->mute_timer < 0) {
		c->mute_timer =
			scif__progress_timer_add(pg, -1, 0, mute_tick, c);
		if (c->mute_timer < 0) {
			c->mute_timer = -1;
			return false;
		}
	}
	scif__progress_timer_set(pg, c->mute_timer,
				 scif__now_ms() + VERBS_MUTE_MS);
	c->mute_armed = true;
	return true;
}

/*
 * [ep locked] A thread polls the connection: a spinning one (SCIF_SPIN_US)
 * at its first poll, any other at its second in a row.  The progress thread
 * stops watching the channel.  Else it wakes for the event the poller's
 * completions raise, fights it for the lock, and in a small VM takes the
 * CPU that rxe's kernel work needs (a spinning request/response paid
 * hundreds of µs a message).  It stays away across calls until the
 * connection has not been polled for a whole mute period (mute_tick).  A
 * spinner must not need two polls: once the progress thread takes its
 * completions, its spins end at the first poll (woken), and whole runs
 * went unmuted.  A single look before a sleep (a blocking call whose
 * lead mutes anyway, scif_poll before poll(2)) must not mute: nothing
 * would then serve what arrives until the timer.
 */
static SCIF_HOT void mute(struct verbs_conn *c)
{
	if (!c->established || c->closing || c->dead || c->cc_handle < 0 ||
	    scif__progress_unwatch(scif__lib_progress(c->vp->lib),
				   c->cc_handle))
		return;
	c->muted = true;
	c->st.muted++;
	if (!mute_arm(c)) /* nothing would give it back */
		unmute(c);
}

/*
 * [ep locked] Caller-driven progress of a thread about to sleep on ep, or
 * spinning on it.  The completion channel stays armed, or holds an event
 * (only the channel's reader re-arms it, after taking one): what we drain
 * here may still raise one event, which then finds the CQ empty.
 */
SCIF_HOT int verbs_ep_progress(struct scif_ep *ep)
{
	struct verbs_conn *c = ep_conn(ep);

	if (!c || !c->cq)
		return 0; /* not connected yet: rdma_cm events drive it */
	/* read by mute_tick without the lock */
	__atomic_store_n(&c->pollgen, c->pollgen + 1, __ATOMIC_RELAXED);
	if (!c->muted && (++c->polls >= 2 || scif__ep_spinning(ep)))
		mute(c);
	return conn_progress(c) ? 1 : 0;
}

/* [ep locked] Progress made by the library itself (the heartbeat's tick). */
bool verbs_conn_poll(struct verbs_conn *c)
{
	return c->cq && conn_progress(c);
}

/* [ep locked] The caller stops polling: muted or not, the channel stays so
 * (see mute()); the next look starts a new count. */
SCIF_HOT int verbs_ep_idle(struct scif_ep *ep)
{
	struct verbs_conn *c = ep_conn(ep);

	if (!c)
		return 0;
	c->polls = 0;
	return c->cq && !c->closing && cq_rearm(c) ? 1 : 0;
}

/*
 * [ep locked] A send may leave raising POLLIN on the descriptor to us while
 * the mute timer runs: each tick publishes it (mute_tick), and so does
 * giving the channel back (unmute).  A leader's connection has no timer
 * yet, but its call's end arms one or unmutes (verbs_ep_unlead).
 */
SCIF_HOT bool verbs_ep_late(struct scif_ep *ep)
{
	struct verbs_conn *c = ep_conn(ep);

	return c && c->muted && (c->mute_armed || c->leading) &&
	       c->established && !c->closing && !c->dead;
}

/* [ep locked] scif_poll is about to sleep on the endpoint's descriptor:
 * the progress thread must serve the channel for it to become readable. */
SCIF_HOT void verbs_ep_park(struct scif_ep *ep)
{
	struct verbs_conn *c = ep_conn(ep);

	if (c && c->muted && !c->leading)
		unmute(c);
}

/*
 * [ep locked] Leader wait (see libscif/wait.c): a thread blocked on ep
 * sleeps on the completion channel itself, and the progress thread stops
 * watching it meanwhile (the channel's fd is non-blocking: whichever of the
 * two takes an event, the other finds none).
 */
SCIF_HOT int verbs_ep_lead(struct scif_ep *ep)
{
	struct verbs_conn *c = ep_conn(ep);

	if (!c || !c->cq || !c->established || c->closing || c->dead)
		return -EOPNOTSUPP;
	if (!c->muted && scif__progress_unwatch(scif__lib_progress(c->vp->lib),
						c->cc_handle))
		return -EOPNOTSUPP;
	c->st.muted += !c->muted;
	c->muted = c->leading = true;
	c->st.led++;
	c->polls = 0;
	return c->cc->fd;
}

SCIF_HOT int verbs_ep_lead_event(struct scif_ep *ep)
{
	struct verbs_conn *c = ep_conn(ep);

	if (!c || !c->cq)
		return 0;
	__atomic_store_n(&c->pollgen, c->pollgen + 1, __ATOMIC_RELAXED);
	/* The event is read and the CQ armed before the next sleep
	 * (verbs_ep_idle, cq_rearm): done here, the two system calls came
	 * before the answer the application is about to post (8-byte
	 * blocking scif_lat between two 1-vCPU VMs: 501 -> 462 us one-way,
	 * ib_send_lat -e 423, which makes them first). */
	c->ev_unread = true;
	c->st.lead_ev++;
	return conn_progress(c) ? 1 : 0;
}

/*
 * The core ends the lead before ep_close, so the connection is there.  The
 * channel stays away from the progress thread, as for a spinner, until a
 * mute period passes without a call: a blocking request/response loop
 * takes the lead again at its next call, and handing the channel back in
 * between cost two epoll_ctl per call (four per message with the delivery
 * wait): between two 1-vCPU VMs, 8-byte blocking scif_lat went from 786
 * to 680 us one-way (ib_send_lat -e: 584).  What comes meanwhile waits
 * for the next call (its leader finds the channel's event), for scif_poll
 * or scif_fence_signal (ep_park), or at most about two periods.
 */
SCIF_HOT void verbs_ep_unlead(struct scif_ep *ep)
{
	struct verbs_conn *c = ep_conn(ep);

	if (!c)
		return;
	c->leading = false;
	c->polls = 0;
	if (!c->muted)
		return;
	if (!c->established || c->closing || c->dead ||
	    (!c->mute_armed && !mute_arm(c)))
		unmute(c);
}

/*
 * Before a connection is torn down, wait (bounded) until every message and
 * RMA we posted is acknowledged [ep locked]: the peer then holds all the
 * bytes a blocking send reported as sent, and can read them after it sees
 * the disconnect.
 */
void verbs_conn_flush(struct verbs_conn *c, int timeout_ms)
{
	long long deadline = scif__now_ms() + timeout_ms;

	/* the closing thread does not lead: the progress thread serves it */
	if (c->muted && !c->leading)
		unmute(c);
	c->flushing = true; /* every send completion wakes us */
	while (c->established && !c->dead &&
	       (c->nsfree < c->sdepth || c->rma_inflight || c->out_head) &&
	       scif__ep_wait(c->ep, deadline) != -ETIMEDOUT)
		;
	c->flushing = false;
	if ((c->nsfree < c->sdepth || c->rma_inflight) && !c->dead)
		scif_warn("closing with %u messages and %u RMAs "
			  "unacknowledged",
			  c->sdepth - c->nsfree, c->rma_inflight);
}

SCIF_HOT ssize_t verbs_send(struct scif_ep *ep, const void *buf, size_t len)
{
	struct verbs_conn *c = ep_conn(ep);
	size_t sent = 0;
	uint32_t max;

	if (!c || c->dead)
		return -ECONNRESET;
	max = (c->peer_msg_size < c->ssize ? c->peer_msg_size : c->ssize) -
	      SCIF_WIRE_HDR_LEN;
	/* Control messages queued for credits go first: a window announced
	 * before these bytes must be known to the peer when it reads them. */
	flush_outbox(c);
	while (sent < len && !c->out_head && c->credits && c->nsfree) {
		uint32_t chunk = len - sent < max ? (uint32_t)(len - sent) : max;

		if (post_msg(c, SCIF_WIRE_DATA, (const char *)buf + sent, chunk))
			return sent ? (ssize_t)sent : -ECONNRESET;
		sent += chunk;
	}
	/* Soft-RoCE runs the protocol inside ibv_post_send, so the peer's
	 * acknowledgement is often in already (a fast adapter's may be):
	 * taken now, the caller's delivery wait (verbs_send_pending) finds
	 * nothing left and needs no wait. */
	if (sent)
		conn_progress(c);
	return (ssize_t)sent;
}

SCIF_HOT ssize_t verbs_recv(struct scif_ep *ep, void *buf, size_t len)
{
	struct verbs_conn *c = ep_conn(ep);
	size_t got = 0;

	if (!c)
		return 0;
	while (got < len && c->rx_count) {
		uint32_t idx = c->rxq[c->rx_head];
		uint32_t avail = c->rxlen[idx] - c->rx_off;
		size_t n = len - got < avail ? len - got : avail;

		scif__copy((char *)buf + got,
			   c->rbuf + (size_t)idx * c->rsize +
				   SCIF_WIRE_HDR_LEN + c->rx_off,
			   n);
		got += n;
		c->rx_off += (uint32_t)n;
		if (c->rx_off == c->rxlen[idx]) {
			c->rx_off = 0;
			c->rx_head = (c->rx_head + 1) % c->nrbuf;
			c->rx_count--;
			c->repost[c->nrepost++] = idx;
			if (c->nrepost >= c->repost_batch)
				repost_flush(c);
		}
	}
	maybe_send_credit(c);
	return (ssize_t)got;
}

SCIF_HOT int verbs_recv_ready(struct scif_ep *ep)
{
	struct verbs_conn *c = ep_conn(ep);

	return c && c->rx_count;
}

/* [ep locked] Stream bytes the peer's adapter has not acknowledged: an RC
 * SEND completes once the data is in the peer's receive buffer, so a
 * scif_send that waits for this is delivered. */
SCIF_HOT int verbs_send_pending(struct scif_ep *ep)
{
	struct verbs_conn *c = ep_conn(ep);

	if (!c || !c->unacked)
		return 0;
	c->delivery_wait = true;
	return c->unacked > INT32_MAX ? INT32_MAX : (int)c->unacked;
}

static SCIF_HOT bool conn_send_ready(const struct verbs_conn *c)
{
	return !c->dead && !c->out_head && c->credits && c->nsfree;
}

SCIF_HOT int verbs_send_ready(struct scif_ep *ep)
{
	struct verbs_conn *c = ep_conn(ep);

	return c && conn_send_ready(c);
}

SCIF_HOT short verbs_ready(struct scif_ep *ep)
{
	struct verbs_conn *c = ep_conn(ep);

	if (!c)
		return 0;
	return (short)((c->rx_count ? POLLIN : 0) |
		       (conn_send_ready(c) ? POLLOUT : 0));
}
