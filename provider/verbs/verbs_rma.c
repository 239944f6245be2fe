/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Verbs RMA: windows are memory regions registered at iova = SCIF offset, so
 * the peer's RDMA uses remote address = SCIF offset and the window's rkey.
 * SCIF_PROT_READ/WRITE become remote-read/remote-write access flags: the HCA
 * itself refuses what a window does not allow.  Every RMA piece is one
 * signaled RDMA READ or WRITE; RC completes a QP's work requests in order,
 * so the completion of a request's last piece completes the request.
 */
#include "verbs.h"
#include "../../libscif/log.h"
#include "../../libscif/regcache.h"

#include <stdlib.h>
#include <string.h>

static struct verbs_conn *ep_conn(struct scif_ep *ep)
{
	struct verbs_ep *ve = scif__ep_prov_data(ep);

	return ve ? ve->conn : NULL;
}

int verbs_win_register(struct scif_ep *ep, void *addr, size_t len,
		       off_t offset, int prot, struct scif_mr *mr)
{
	struct verbs_dev *dev = NULL;
	struct verbs_conn *c;
	int access = 0, ret;
	struct ibv_mr *m;

	/* Called without the endpoint lock (pinning takes a while): take the
	 * device, which outlives the connection, under it. */
	scif__ep_lock(ep);
	c = ep_conn(ep);
	if (c && !c->dead)
		dev = c->dev;
	scif__ep_unlock(ep);
	if (!dev)
		return -ECONNRESET;
	/* The device writes into a window as the destination of a local
	 * readfrom or a peer's writeto. */
	if (prot & SCIF_PROT_WRITE)
		access |= IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE;
	if (prot & SCIF_PROT_READ)
		access |= IBV_ACCESS_REMOTE_READ;
	m = ibv_reg_mr_iova(dev->pd, addr, len, (uint64_t)offset, access);
	if (!m) {
		ret = verbs_errno(-ENOMEM);
		scif_err("ibv_reg_mr_iova of %zu bytes at offset 0x%llx: %m",
			 len, (unsigned long long)offset);
		return ret == -EFAULT || ret == -EACCES ? -EINVAL :
		       ret == -ENOMEM			 ? -ENOMEM :
							   -EAGAIN;
	}
	mr->handle = m;
	mr->cache_entry = NULL;
	mr->lkey = m->lkey;
	mr->rkey = m->rkey;
	return 0;
}

void verbs_win_unregister(struct scif_ep *ep, struct scif_mr *mr)
{
	(void)ep;
	if (mr->handle && ibv_dereg_mr(mr->handle))
		scif_err("ibv_dereg_mr: %m");
	mr->handle = NULL;
}

/* regcache callbacks: ctx is the device */
static int rc_reg(void *ctx, void *addr, size_t len, void **handle)
{
	struct verbs_dev *d = ctx;
	struct ibv_mr *m = ibv_reg_mr(d->pd, addr, len, IBV_ACCESS_LOCAL_WRITE);

	if (!m)
		return verbs_errno(-ENOMEM);
	*handle = m;
	return 0;
}

static void rc_dereg(void *ctx, void *handle)
{
	(void)ctx;
	if (ibv_dereg_mr(handle))
		scif_err("ibv_dereg_mr: %m");
}

static const struct scif_regcache_ops rc_ops = {
	.reg = rc_reg,
	.dereg = rc_dereg,
};

static struct scif_regcache *dev_regcache(struct verbs_prov *vp,
					  struct verbs_dev *d)
{
	const char *s = getenv("SCIF_REGCACHE_MAX_MB");
	size_t max = (size_t)(s && *s ? atol(s) : 1024) << 20;

	pthread_mutex_lock(&vp->dev_lock);
	if (!d->rc && scif__regcache_create(&rc_ops, d, max, &d->rc))
		d->rc = NULL;
	pthread_mutex_unlock(&vp->dev_lock);
	return d->rc;
}

int verbs_mr_get(struct scif_ep *ep, void *addr, size_t len, int flags,
		 struct scif_mr *mr)
{
	struct verbs_conn *c = ep_conn(ep);
	struct scif_regcache *rc;
	struct ibv_mr *m;
	void *h, *base;
	int ret;

	if (!c || c->dead)
		return -ECONNRESET;
	memset(mr, 0, sizeof(*mr));
	if ((flags & SCIF_MR_CACHE) && (rc = dev_regcache(c->vp, c->dev))) {
		struct scif_regcache_entry *e;

		ret = scif__regcache_get(rc, addr, len, &e, &h, &base);
		if (!ret) {
			m = h;
			mr->handle = m;
			mr->cache = rc;
			mr->cache_entry = e;
			mr->lkey = m->lkey;
			return 0;
		}
		/* e.g. read-only memory: fall through to a plain one */
	}
	m = ibv_reg_mr(c->dev->pd, addr, len,
		       (flags & SCIF_MR_WRITE) ? IBV_ACCESS_LOCAL_WRITE : 0);
	if (!m) {
		ret = verbs_errno(-ENOMEM);
		scif_info("ibv_reg_mr of %zu bytes at %p: %m", len, addr);
		return ret == -EFAULT || ret == -EACCES ? -EFAULT : ret;
	}
	mr->handle = m;
	mr->lkey = m->lkey;
	return 0;
}

void verbs_mr_put(struct scif_ep *ep, struct scif_mr *mr)
{
	(void)ep;
	if (mr->cache_entry)
		scif__regcache_put(mr->cache, mr->cache_entry);
	else if (mr->handle && ibv_dereg_mr(mr->handle))
		scif_err("ibv_dereg_mr: %m");
	memset(mr, 0, sizeof(*mr));
}

uint64_t verbs_rma_max_piece(struct scif_ep *ep)
{
	struct verbs_conn *c = ep_conn(ep);

	return c ? c->max_piece : 1u << 30;
}

int verbs_rma_post(struct scif_ep *ep, const struct scif_rma_seg *segs, int n)
{
	struct verbs_conn *c = ep_conn(ep);
	int i;

	if (!c || c->dead)
		return -ECONNRESET;
	for (i = 0; i < n && c->rma_inflight < c->rma_depth; i++) {
		const struct scif_rma_seg *s = &segs[i];
		struct ibv_sge sge = { .addr = s->laddr,
				       .length = (uint32_t)s->len,
				       .lkey = s->lkey };
		struct ibv_send_wr wr = {
			.wr_id = WRID_RMA | (s->last ? WRID_LAST : 0) |
				 (s->seq & WRID_SEQ_MASK),
			.sg_list = &sge,
			.num_sge = 1,
			.opcode = s->op == SCIF_RMA_OP_READ ? IBV_WR_RDMA_READ :
							      IBV_WR_RDMA_WRITE,
			.send_flags = IBV_SEND_SIGNALED,
			.wr.rdma = { .remote_addr = s->raddr,
				     .rkey = (uint32_t)s->rkey },
		};
		struct ibv_send_wr *bad;
		int ret;

		if (s->fence)
			wr.send_flags |= IBV_SEND_FENCE;
		if (s->inline_src) {
			sge.addr = (uintptr_t)s->inline_src;
			sge.lkey = 0;
			wr.send_flags |= IBV_SEND_INLINE;
		}
		ret = ibv_post_send(c->id->qp, &wr, &bad);
		if (ret) {
			scif_err("RDMA %s post: %s",
				 s->op == SCIF_RMA_OP_READ ? "READ" : "WRITE",
				 strerror(ret));
			return i ? i : -ECONNRESET;
		}
		c->rma_inflight++;
	}
	return i;
}

/* [ep locked] One RMA piece completed (or was flushed). */
void verbs_rma_complete(struct verbs_conn *c, struct ibv_wc *wc)
{
	c->rma_inflight--;
	if (wc->status != IBV_WC_SUCCESS) {
		if (wc->status != IBV_WC_WR_FLUSH_ERR)
			scif_err("RDMA %s failed: %s (the connection is lost)",
				 wc->opcode == IBV_WC_RDMA_READ ? "READ" :
								  "WRITE",
				 ibv_wc_status_str(wc->status));
		scif__ep_rma_done(c->ep, wc->wr_id & WRID_SEQ_MASK, -ECONNRESET);
		return;
	}
	if (wc->wr_id & WRID_LAST)
		scif__ep_rma_done(c->ep, wc->wr_id & WRID_SEQ_MASK, 0);
}

int verbs_cache_stats(struct scif_ep *ep, struct scif_regcache_stats *st)
{
	struct verbs_conn *c = ep_conn(ep);

	if (!c || !c->dev->rc)
		return -EOPNOTSUPP;
	scif__regcache_stats(c->dev->rc, st);
	return 0;
}
