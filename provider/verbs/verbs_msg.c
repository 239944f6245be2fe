/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Verbs data path: the credit-managed SEND/RECV ring that carries the SCIF
 * byte stream (see verbs.h for the scheme).
 *
 * Work request ids: receives carry their ring index; sends carry the send
 * buffer index with WRID_SEND set.
 */
#include "verbs.h"
#include "../../libscif/log.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WRID_SEND (1ull << 63)
#define CQ_BATCH 32

static void *ring_alloc(size_t len)
{
	void *p = NULL;

	if (posix_memalign(&p, (size_t)sysconf(_SC_PAGESIZE), len))
		return NULL;
	memset(p, 0, len);
	return p;
}

static int post_recv(struct verbs_conn *c, uint32_t idx)
{
	struct ibv_sge sge = {
		.addr = (uintptr_t)(c->rbuf + (size_t)idx * c->rsize),
		.length = c->rsize,
		.lkey = c->rmr->lkey,
	};
	struct ibv_recv_wr wr = { .wr_id = idx, .sg_list = &sge, .num_sge = 1 };
	struct ibv_recv_wr *bad;
	int ret = ibv_post_recv(c->id->qp, &wr, &bad);

	if (ret && !c->dead)
		scif_err("ibv_post_recv: %s", strerror(ret));
	return -ret;
}

int verbs_conn_setup(struct verbs_conn *c)
{
	struct verbs_prov *vp = c->vp;
	struct ibv_qp_init_attr qa = { 0 };
	uint32_t i;
	int ret, access = IBV_ACCESS_LOCAL_WRITE;

	c->dev = verbs_dev_get(vp, c->id->verbs);
	if (!c->dev)
		return -ENOMEM;
	c->rdepth = c->sdepth = vp->depth;
	c->rsize = c->ssize = vp->msg_size;
	c->cc = ibv_create_comp_channel(c->id->verbs);
	if (!c->cc) {
		ret = verbs_errno(-ENOMEM);
		scif_err("ibv_create_comp_channel: %m");
		return ret;
	}
	if (fcntl(c->cc->fd, F_SETFL, fcntl(c->cc->fd, F_GETFL) | O_NONBLOCK))
		return -errno;
	c->cq = ibv_create_cq(c->id->verbs, (int)(c->rdepth + c->sdepth), c,
			      c->cc, 0);
	if (!c->cq) {
		ret = verbs_errno(-ENOMEM);
		scif_err("ibv_create_cq: %m");
		return ret;
	}
	qa.send_cq = c->cq;
	qa.recv_cq = c->cq;
	qa.qp_type = IBV_QPT_RC;
	qa.cap.max_send_wr = c->sdepth;
	qa.cap.max_recv_wr = c->rdepth;
	qa.cap.max_send_sge = 1;
	qa.cap.max_recv_sge = 1;
	if (rdma_create_qp(c->id, c->dev->pd, &qa)) {
		ret = verbs_errno(-ENOMEM);
		scif_err("rdma_create_qp: %m");
		return ret;
	}
	c->rbuf = ring_alloc((size_t)c->rdepth * c->rsize);
	c->sbuf = ring_alloc((size_t)c->sdepth * c->ssize);
	c->rxq = calloc(c->rdepth, sizeof(*c->rxq));
	c->rxlen = calloc(c->rdepth, sizeof(*c->rxlen));
	c->sfree = calloc(c->sdepth, sizeof(*c->sfree));
	if (!c->rbuf || !c->sbuf || !c->rxq || !c->rxlen || !c->sfree)
		return -ENOMEM;
	c->rmr = ibv_reg_mr(c->dev->pd, c->rbuf, (size_t)c->rdepth * c->rsize,
			    access);
	c->smr = ibv_reg_mr(c->dev->pd, c->sbuf, (size_t)c->sdepth * c->ssize,
			    access);
	if (!c->rmr || !c->smr) {
		ret = verbs_errno(-ENOMEM);
		scif_err("ibv_reg_mr: %m");
		return ret;
	}
	for (i = 0; i < c->sdepth; i++)
		c->sfree[i] = i;
	c->nsfree = c->sdepth;
	for (i = 0; i < c->rdepth; i++) {
		ret = post_recv(c, i);
		if (ret)
			return ret;
	}
	if (ibv_req_notify_cq(c->cq, 0))
		return -EIO;
	c->cc_handle = scif__progress_add(scif__lib_progress(vp->lib),
					  c->cc->fd, verbs_cq_event, c);
	return c->cc_handle < 0 ? c->cc_handle : 0;
}

/* [ep locked] Post one message from send buffer idx. */
static int post_msg(struct verbs_conn *c, uint8_t type, const void *data,
		    uint32_t len)
{
	uint32_t idx = c->sfree[--c->nsfree];
	char *buf = c->sbuf + (size_t)idx * c->ssize;
	struct scif_wire_hdr h = { .type = type,
				   .credits = (uint16_t)c->returnable,
				   .len = len };
	struct ibv_sge sge = { .addr = (uintptr_t)buf,
			       .length = SCIF_WIRE_HDR_LEN + len,
			       .lkey = c->smr->lkey };
	struct ibv_send_wr wr = { .wr_id = WRID_SEND | idx,
				  .sg_list = &sge,
				  .num_sge = 1,
				  .opcode = IBV_WR_SEND,
				  .send_flags = IBV_SEND_SIGNALED };
	struct ibv_send_wr *bad;
	int ret;

	scif__wire_encode(buf, &h);
	if (len)
		memcpy(buf + SCIF_WIRE_HDR_LEN, data, len);
	ret = ibv_post_send(c->id->qp, &wr, &bad);
	if (ret) {
		c->sfree[c->nsfree++] = idx;
		scif_err("ibv_post_send: %s", strerror(ret));
		return -ECONNRESET;
	}
	c->returnable = 0;
	c->credits--;
	return 0;
}

/* [ep locked] Return credits when half the ring waits to be announced. */
static void maybe_send_credit(struct verbs_conn *c)
{
	if (c->dead || !c->established || c->returnable < c->rdepth / 2 ||
	    !c->credits || !c->nsfree)
		return;
	post_msg(c, SCIF_WIRE_CREDIT, NULL, 0);
}

static int rx_data(void *ctx, const struct scif_wire_hdr *h, const void *p)
{
	struct verbs_conn *c = ctx;
	uint32_t idx = (uint32_t)(((const char *)p - SCIF_WIRE_HDR_LEN -
				   c->rbuf) / c->rsize);

	c->rxq[(c->rx_head + c->rx_count) % c->rdepth] = idx;
	c->rxlen[idx] = h->len;
	c->rx_count++;
	return 1; /* buffer kept until the application reads it */
}

static int rx_credit(void *ctx, const struct scif_wire_hdr *h, const void *p)
{
	(void)ctx, (void)h, (void)p;
	return 0;
}

static void rx_message(struct verbs_conn *c, uint32_t idx, uint32_t bytes)
{
	const struct scif_wire_handler table[SCIF_WIRE_NTYPES] = {
		[SCIF_WIRE_DATA] = { rx_data, 1, c->rsize - SCIF_WIRE_HDR_LEN },
		[SCIF_WIRE_CREDIT] = { rx_credit, 0, 0 },
	};
	const char *buf = c->rbuf + (size_t)idx * c->rsize;
	struct scif_wire_hdr h;
	int kept;

	if (idx >= c->rdepth || bytes > c->rsize) {
		scif_err("receive completion out of the ring (%u, %u bytes)",
			 idx, bytes);
		return;
	}
	if (!scif__wire_decode(buf, bytes, &h)) {
		if (c->credits + h.credits > c->peer_depth) {
			scif_err("peer returned %u credits it never had",
				 h.credits);
		} else {
			c->credits += h.credits;
		}
	}
	kept = scif__wire_dispatch(table, SCIF_WIRE_NTYPES, c, buf, bytes);
	if (kept == 1)
		return;
	/* Consumed by the header alone, or refused: reuse the buffer. */
	if (!post_recv(c, idx))
		c->returnable++;
}

static void conn_error(struct verbs_conn *c, struct ibv_wc *wc)
{
	if (wc->status != IBV_WC_WR_FLUSH_ERR && !c->dead)
		scif_warn("completion error: %s (vendor 0x%x)",
			  ibv_wc_status_str(wc->status), wc->vendor_err);
	if (!c->dead) {
		c->dead = true;
		if (!c->closing)
			scif__ep_peer_gone(c->ep, -ECONNRESET);
	}
}

/* [ep locked] Process every completion the CQ holds. */
void verbs_cq_drain(struct verbs_conn *c)
{
	struct ibv_wc wc[CQ_BATCH];
	int n, i;

	while ((n = ibv_poll_cq(c->cq, CQ_BATCH, wc)) > 0) {
		for (i = 0; i < n; i++) {
			if (wc[i].wr_id & WRID_SEND)
				c->sfree[c->nsfree++] = (uint32_t)wc[i].wr_id;
			if (wc[i].status != IBV_WC_SUCCESS)
				conn_error(c, &wc[i]);
			else if (!(wc[i].wr_id & WRID_SEND) && !c->closing)
				rx_message(c, (uint32_t)wc[i].wr_id,
					   wc[i].byte_len);
		}
	}
}

void verbs_cq_event(void *arg)
{
	struct verbs_conn *c = arg;
	struct ibv_cq *cq;
	void *ctx;

	scif__ep_lock(c->ep);
	if (!ibv_get_cq_event(c->cc, &cq, &ctx)) {
		ibv_ack_cq_events(cq, 1);
		ibv_req_notify_cq(cq, 0);
	}
	/* Drain after re-arming so nothing completes unnoticed. */
	verbs_cq_drain(c);
	if (!c->closing) {
		maybe_send_credit(c);
		scif__ep_wake(c->ep);
	}
	scif__ep_unlock(c->ep);
}

/*
 * Before a connection is torn down, wait (bounded) until every message we
 * posted is acknowledged [ep locked]: the peer then holds all the bytes a blocking send
 * reported as sent, and can read them after it sees the disconnect.
 */
void verbs_conn_flush(struct verbs_conn *c, int timeout_ms)
{
	long long deadline = scif__now_ms() + timeout_ms;

	while (c->established && !c->dead && c->nsfree < c->sdepth &&
	       scif__ep_wait(c->ep, deadline) != -ETIMEDOUT)
		;
	if (c->nsfree < c->sdepth && !c->dead)
		scif_warn("closing with %u messages unacknowledged",
			  c->sdepth - c->nsfree);
}

static struct verbs_conn *ep_conn(struct scif_ep *ep)
{
	struct verbs_ep *ve = scif__ep_prov_data(ep);

	return ve ? ve->conn : NULL;
}

ssize_t verbs_send(struct scif_ep *ep, const void *buf, size_t len)
{
	struct verbs_conn *c = ep_conn(ep);
	size_t sent = 0;
	uint32_t max;

	if (!c || c->dead)
		return -ECONNRESET;
	max = (c->peer_msg_size < c->ssize ? c->peer_msg_size : c->ssize) -
	      SCIF_WIRE_HDR_LEN;
	/* Keep the last credit for a CREDIT message (see verbs.h). */
	while (sent < len && c->credits > 1 && c->nsfree) {
		uint32_t chunk = len - sent < max ? (uint32_t)(len - sent) : max;

		if (post_msg(c, SCIF_WIRE_DATA, (const char *)buf + sent, chunk))
			return sent ? (ssize_t)sent : -ECONNRESET;
		sent += chunk;
	}
	return (ssize_t)sent;
}

ssize_t verbs_recv(struct scif_ep *ep, void *buf, size_t len)
{
	struct verbs_conn *c = ep_conn(ep);
	size_t got = 0;

	if (!c)
		return 0;
	while (got < len && c->rx_count) {
		uint32_t idx = c->rxq[c->rx_head];
		uint32_t avail = c->rxlen[idx] - c->rx_off;
		size_t n = len - got < avail ? len - got : avail;

		memcpy((char *)buf + got,
		       c->rbuf + (size_t)idx * c->rsize + SCIF_WIRE_HDR_LEN +
			       c->rx_off,
		       n);
		got += n;
		c->rx_off += (uint32_t)n;
		if (c->rx_off == c->rxlen[idx]) {
			c->rx_off = 0;
			c->rx_head = (c->rx_head + 1) % c->rdepth;
			c->rx_count--;
			if (!c->dead && !post_recv(c, idx))
				c->returnable++;
		}
	}
	maybe_send_credit(c);
	return (ssize_t)got;
}

int verbs_recv_ready(struct scif_ep *ep)
{
	struct verbs_conn *c = ep_conn(ep);

	return c && c->rx_count;
}

int verbs_send_ready(struct scif_ep *ep)
{
	struct verbs_conn *c = ep_conn(ep);

	return c && !c->dead && c->credits > 1 && c->nsfree;
}
