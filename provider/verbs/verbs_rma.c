/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Verbs RMA: registrations are memory regions at iova = virtual address.
 * A window's blob gives the peer its rkey and address, so the peer's RDMA
 * uses remote address = our address + offset into the window.  REMOTE_READ
 * and REMOTE_WRITE become remote-read/remote-write access flags: the HCA
 * itself refuses what a window does not allow.  Every RMA piece is one
 * signaled RDMA READ or WRITE and reports its own completion; the core
 * counts a request's pieces.
 */
#include "verbs.h"
#include "../../libscif/regcache.h"

#include <endian.h>
#include <stdlib.h>
#include <string.h>

static struct verbs_conn *ep_conn(struct scif_ep *ep)
{
	struct verbs_ep *ve = scif__ep_prov_data(ep);

	return ve ? ve->conn : NULL;
}

/* What a window's peer needs (little-endian). */
struct verbs_blob {
	uint32_t rkey;
	uint32_t rsvd;
	uint64_t addr;
} __attribute__((packed));

/* mr->priv: the domain the region is in (the registration holds a
 * reference: the connection may be gone when it is deregistered) and, for
 * a registration from the cache, the entry. */
struct verbs_reg {
	struct verbs_pd *pd;
	struct scif_regcache_entry *e;
};

/* SCIF_ACC_CACHE: a registration from the domain's cache; non-zero when
 * there is none to be had (the caller registers a plain one). */
static int mr_from_cache(struct verbs_reg *r, const struct scif_mem *mem,
			 struct scif_mr *mr)
{
	struct scif_regcache *rc = verbs_pd_regcache(r->pd, true);
	void *h, *base;

	if (!rc)
		return -ENOMEM;
	/* e.g. read-only memory (the cache registers for local write) */
	if (scif__regcache_get(rc, mem->va, mem->len, &r->e, &h, &base))
		return -EFAULT;
	mr->handle = h; /* covers [base, ...) at iova = base: va works */
	return 0;
}

static int access_flags(unsigned acc)
{
	int access = 0;

	/* The device writes into a window as the destination of a local
	 * readfrom or a peer's writeto. */
	if (acc & SCIF_ACC_LOCAL_WRITE)
		access |= IBV_ACCESS_LOCAL_WRITE;
	if (acc & SCIF_ACC_REMOTE_WRITE)
		access |= IBV_ACCESS_LOCAL_WRITE | IBV_ACCESS_REMOTE_WRITE;
	if (acc & SCIF_ACC_REMOTE_READ)
		access |= IBV_ACCESS_REMOTE_READ;
	return access;
}

/* ret: verbs_errno() of the failed registration */
static int mr_reg_errno(int ret)
{
	return ret == -EFAULT || ret == -EACCES ? -EFAULT :
	       ret == -ENOMEM			 ? -ENOMEM :
						   -EAGAIN;
}

/* A dma-buf: registered as such where the device can (the iova is the
 * core's mapping, so that local addresses stay mr->va + offset), else
 * through that mapping; -EOPNOTSUPP when neither works. */
static int mr_reg_dmabuf(struct ibv_pd *pd, const struct scif_mem *mem,
			 int access, struct ibv_mr **m)
{
	int ret;

	*m = ibv_reg_dmabuf_mr(pd, mem->fd_off, mem->len,
			       (uint64_t)(uintptr_t)mem->va, mem->fd, access);
	if (*m)
		return 0;
	scif_info("ibv_reg_dmabuf_mr of %zu bytes of fd %d: %m%s", mem->len,
		  mem->fd, mem->va ? " (registering its mapping)" : "");
	if (!mem->va)
		return -EOPNOTSUPP;
	*m = ibv_reg_mr(pd, mem->va, mem->len, access);
	if (*m)
		return 0;
	ret = verbs_errno(-ENOMEM);
	scif_info("ibv_reg_mr of the dma-buf mapping at %p: %m", mem->va);
	/* EFAULT: pages the device cannot pin (a DRM driver's VM_PFNMAP
	 * mapping) -- neither path works here */
	ret = mr_reg_errno(ret);
	return ret == -EFAULT ? -EOPNOTSUPP : ret;
}

int verbs_mr_reg(struct scif_ep *ep, const struct scif_mem *mem,
		 struct scif_mr *mr)
{
	struct verbs_reg *r;
	struct verbs_conn *c;
	struct ibv_mr *m;
	int ret;

	if (mem->kind != SCIF_MEM_VA && mem->kind != SCIF_MEM_DMABUF)
		return -EOPNOTSUPP;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	/* Called without the endpoint lock (pinning takes a while): take the
	 * domain, which outlives the connection, under it. */
	scif__ep_lock(ep);
	c = ep_conn(ep);
	if (c && !c->dead && c->pd) {
		r->pd = c->pd;
		verbs_pd_get(r->pd);
	}
	scif__ep_unlock(ep);
	if (!r->pd) {
		free(r);
		return -ECONNRESET;
	}
	mr->handle = NULL;
	mr->priv = r;
	/* the cache registers for local access only */
	if ((mr->access & SCIF_ACC_CACHE) &&
	    !(mr->access & (SCIF_ACC_REMOTE_READ | SCIF_ACC_REMOTE_WRITE)) &&
	    !mr_from_cache(r, mem, mr))
		return 0;
	if (mem->kind == SCIF_MEM_DMABUF) {
		ret = mr_reg_dmabuf(r->pd->pd, mem, access_flags(mr->access),
				    &m);
	} else {
		m = ibv_reg_mr(r->pd->pd, mem->va, mem->len,
			       access_flags(mr->access));
		if (!m) {
			ret = verbs_errno(-ENOMEM);
			scif_info("ibv_reg_mr of %zu bytes at %p: %m",
				  mem->len, mem->va);
			ret = mr_reg_errno(ret);
		}
	}
	if (!m) {
		verbs_pd_put(r->pd);
		free(r);
		mr->priv = NULL;
		return ret;
	}
	mr->handle = m;
	return 0;
}

/* Needs neither the endpoint (may be closed) nor its lock. */
void verbs_mr_dereg(struct scif_ep *ep, struct scif_mr *mr)
{
	struct verbs_reg *r = mr->priv;

	(void)ep;
	if (r && r->e)
		scif__regcache_put(r->pd->rc, r->e);
	else if (mr->handle && ibv_dereg_mr(mr->handle))
		scif_err("ibv_dereg_mr: %m");
	if (r) {
		verbs_pd_put(r->pd); /* after the region: may free the domain */
		free(r);
	}
	mr->handle = NULL;
	mr->priv = NULL;
}

int verbs_mr_export(struct scif_ep *ep, const struct scif_mr *mr, void *blob,
		    size_t cap)
{
	const struct ibv_mr *m = mr->handle;
	struct verbs_blob b = { 0 };

	if (!m)
		return -EINVAL;
	if (cap < sizeof(b))
		return -ENOSPC;
	b.rkey = htole32(m->rkey);
	b.addr = htole64((uint64_t)(uintptr_t)mr->va);
	memcpy(blob, &b, sizeof(b));
	return (int)sizeof(b);
}

int verbs_rmr_import(struct scif_ep *ep, const void *blob, size_t bloblen,
		     uint64_t len, struct scif_rmr *rmr)
{
	struct verbs_blob b;

	if (bloblen != sizeof(b))
		return -EPROTO;
	memcpy(&b, blob, sizeof(b));
	memset(rmr, 0, sizeof(*rmr));
	rmr->len = len;
	rmr->data[0] = le32toh(b.rkey);
	rmr->data[1] = le64toh(b.addr);
	return 0;
}

void verbs_rmr_release(struct scif_ep *ep, struct scif_rmr *rmr)
{
	(void)rmr; /* nothing was allocated */
}

void verbs_query(struct scif_ep *ep, struct scif_prov_attr *attr)
{
	struct verbs_conn *c = ep_conn(ep);

	attr->max_piece = c ? c->max_piece : VERBS_MAX_PIECE;
	attr->align = 1;
	/* RC places RDMA WRITEs in order (no IBV_ACCESS_RELAXED_ORDERING on
	 * our regions), and IBV_SEND_FENCE holds a request back until earlier
	 * RDMA READs have completed.  Registration pins: not CHEAP_REG. */
	attr->caps = SCIF_PROV_ORDERED_RMA;
}

/* [ep locked] Post one piece. */
static int post_piece(struct verbs_conn *c, const struct scif_rma_seg *s)
{
	struct ibv_sge sge = { .length = (uint32_t)s->len };
	struct ibv_send_wr wr = {
		.wr_id = WRID_RMA | (s->seq & WRID_SEQ_MASK),
		.sg_list = &sge,
		.num_sge = 1,
		.opcode = s->op == SCIF_RMA_OP_READ ? IBV_WR_RDMA_READ :
						      IBV_WR_RDMA_WRITE,
		.send_flags = IBV_SEND_SIGNALED,
		.wr.rdma = { .remote_addr = s->rmr->data[1] + s->roff,
			     .rkey = (uint32_t)s->rmr->data[0] },
	};
	struct ibv_send_wr *bad;
	int ret;

	if (s->flags & SCIF_SEG_FENCE)
		wr.send_flags |= IBV_SEND_FENCE;
	if (s->flags & SCIF_SEG_IMM) {
		/* ibv_post_send copies inline data before it returns */
		if (s->op != SCIF_RMA_OP_WRITE || s->len > sizeof(s->imm))
			return -EINVAL;
		sge.addr = (uintptr_t)&s->imm;
		wr.send_flags |= IBV_SEND_INLINE;
	} else {
		const struct ibv_mr *m = s->lmr->handle;

		sge.addr = (uintptr_t)s->lmr->va + s->loff;
		sge.lkey = m->lkey;
	}
	ret = ibv_post_send(c->qp, &wr, &bad);
	if (ret) {
		scif_err("RDMA %s post: %s",
			 s->op == SCIF_RMA_OP_READ ? "READ" : "WRITE",
			 strerror(ret));
		return -ECONNRESET;
	}
	c->rma_inflight++;
	return 0;
}

int verbs_rma_post(struct scif_ep *ep, const struct scif_rma_seg *segs, int n)
{
	struct verbs_conn *c = ep_conn(ep);
	int i, ret;

	if (!c || c->dead)
		return -ECONNRESET;
	for (i = 0; i < n && c->rma_inflight < c->rma_depth; i++) {
		ret = post_piece(c, &segs[i]);
		if (ret)
			return i ? i : ret;
	}
	return i;
}

/* [ep locked] One RMA piece completed (or was flushed). */
void verbs_rma_complete(struct verbs_conn *c, struct ibv_wc *wc)
{
	uint64_t seq = wc->wr_id & WRID_SEQ_MASK;

	c->rma_inflight--;
	if (wc->status != IBV_WC_SUCCESS) {
		if (wc->status != IBV_WC_WR_FLUSH_ERR)
			scif_err("RDMA %s failed: %s (the connection is lost)",
				 wc->opcode == IBV_WC_RDMA_READ ? "READ" :
								  "WRITE",
				 ibv_wc_status_str(wc->status));
		scif__ep_rma_piece_done(c->ep, seq, verbs_wc_errno(wc));
		return;
	}
	scif__ep_rma_piece_done(c->ep, seq, 0);
}

int verbs_cache_stats(struct scif_ep *ep, struct scif_regcache_stats *st)
{
	struct verbs_conn *c = ep_conn(ep);
	struct scif_regcache *rc = NULL;

	if (c && c->pd)
		rc = verbs_pd_regcache(c->pd, false);
	if (!rc)
		return -EOPNOTSUPP;
	scif__regcache_stats(rc, st);
	return 0;
}
