/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tcp RMA: executed at the target, in its progress engine, against its own
 * windows.
 *
 * A registration is its address range (nothing to pin).  A window's blob
 * says only "tcp, version 1"; the initiator addresses the target by the
 * offset in the target's registered address space, which its provider
 * learns from the WIN_ADD it carries (rmr->data[0]).  The target looks
 * every request up with scif__ep_window_get: a range no window holds is
 * refused with ENXIO, a window without the access with EACCES, and nothing
 * is written; the window stays held while its data moves.
 *
 * Initiator: each piece takes a slot (TCP_SLOTS in flight); its tag is the
 * slot and a generation.  WRITE frames carry the data after the request,
 * sent from the local memory; READ asks for len bytes, and the RDATA
 * answer is received straight into the local memory.  A piece completes
 * with DONE (writes: placed; any request: refused) or the end of its RDATA.
 * The target handles requests in the order they arrive.  Reads are
 * answered from the window when the socket takes the data, so a later
 * write could overtake an answer still queued: SCIF_PROV_ORDERED_RMA is
 * not claimed (fences wait for completions).
 */
#include "tcp.h"
#include "../../include/scif.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define TCP_BLOB_MAGIC 0x42544353u /* "SCTB" */
#define TCP_BLOB_LEN 8

void tcp_query(struct scif_ep *ep, struct scif_prov_attr *attr)
{
	struct tcp_conn *c = tcp_conn_of(ep);

	attr->max_piece = TCP_MAX_PIECE;
	attr->align = 1;
	attr->caps = SCIF_PROV_CHEAP_REG;
	attr->spin_us = c ? c->tp->spin_us : 0;
}

int tcp_mr_reg(struct scif_ep *ep, const struct scif_mem *mem,
	       struct scif_mr *mr)
{
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t start = (uintptr_t)mem->va & ~(page - 1);

	/* a dma-buf through the core's mapping of it (cross-memory attach
	 * and the CPU need it in this process) */
	if (mem->kind != SCIF_MEM_VA &&
	    (mem->kind != SCIF_MEM_DMABUF || !mem->va))
		return -EOPNOTSUPP;
	/* -EFAULT now for a range that is not mapped */
	if (mem->len &&
	    msync((void *)start, (uintptr_t)mem->va + mem->len - start,
		  MS_ASYNC))
		return errno == ENOMEM ? -EFAULT : -errno;
	mr->handle = NULL;
	mr->priv = NULL;
	return 0;
}

void tcp_mr_dereg(struct scif_ep *ep, struct scif_mr *mr)
{
	mr->handle = NULL;
}

int tcp_mr_export(struct scif_ep *ep, const struct scif_mr *mr, void *blob,
		  size_t cap)
{
	if (cap < TCP_BLOB_LEN)
		return -ENOSPC;
	tcp_put_le(blob, TCP_BLOB_MAGIC, 4);
	tcp_put_le((unsigned char *)blob + 4, TCP_VERSION, 4);
	return TCP_BLOB_LEN;
}

int tcp_rmr_import(struct scif_ep *ep, const void *blob, size_t bloblen,
		   uint64_t len, struct scif_rmr *rmr)
{
	struct tcp_conn *c = tcp_conn_of(ep);
	const unsigned char *p = blob;

	if (!c || bloblen != TCP_BLOB_LEN ||
	    tcp_get_le(p, 4) != TCP_BLOB_MAGIC ||
	    tcp_get_le(p + 4, 4) != TCP_VERSION || c->win_off + len < len)
		return -EPROTO;
	memset(rmr, 0, sizeof(*rmr));
	rmr->len = len;
	rmr->data[0] = c->win_off; /* set from the WIN_ADD being handled */
	return 0;
}

void tcp_rmr_release(struct scif_ep *ep, struct scif_rmr *rmr)
{
	rmr->handle = NULL;
}

/* ---- initiator ---- */

static struct tcp_slot *slot_get(struct tcp_conn *c, uint64_t *tag)
{
	int i;

	if (c->nslots == TCP_SLOTS)
		return NULL;
	for (i = 0; i < TCP_SLOTS; i++) {
		struct tcp_slot *s = &c->slots[i];

		if (s->used)
			continue;
		uint16_t gen = s->gen;

		memset(s, 0, sizeof(*s));
		s->used = true;
		s->gen = gen + 1;
		c->nslots++;
		*tag = (uint64_t)s->gen << 32 | (uint64_t)i;
		return s;
	}
	return NULL;
}

static void slot_put(struct tcp_conn *c, struct tcp_slot *s)
{
	s->used = false;
	c->nslots--;
}

/* The slot a tag from the peer names, or NULL. */
static struct tcp_slot *slot_find(struct tcp_conn *c, uint64_t tag)
{
	uint64_t i = tag & 0xffffffffu;
	struct tcp_slot *s;

	if (i >= TCP_SLOTS)
		return NULL;
	s = &c->slots[i];
	return s->used && s->gen == (uint16_t)(tag >> 32) &&
			       tag >> 48 == 0 ?
		       s :
		       NULL;
}

static struct tcp_txi *piece_frame(const struct scif_rma_seg *sg,
				   uint64_t tag)
{
	bool imm = sg->flags & SCIF_SEG_IMM, wr = sg->op == SCIF_RMA_OP_WRITE;
	uint64_t dlen = wr && !imm ? sg->len : 0;
	struct tcp_txi *t;
	unsigned char *p;

	t = tcp_txi_new(wr ? TCP_WRITE : TCP_READ, imm ? 32 : 24, dlen);
	if (!t)
		return NULL;
	p = t->head + SCIF_WIRE_HDR_LEN;
	tcp_put_le(p, tag, 8);
	tcp_put_le(p + 8, sg->rmr->data[0] + sg->roff, 8);
	tcp_put_le(p + 16, wr ? 0 : sg->len, 8);
	if (imm)
		memcpy(p + 24, &sg->imm, 8); /* host order, as given */
	else if (dlen)
		t->data = (const char *)sg->lmr->va + sg->loff;
	return t;
}

int tcp_rma_post(struct scif_ep *ep, const struct scif_rma_seg *segs, int n)
{
	struct tcp_conn *c = tcp_conn_of(ep);
	struct tcp_slot *s;
	struct tcp_txi *t;
	uint64_t tag;
	int i;

	if (!c || c->state != TCP_UP || c->dead)
		return -ECONNRESET;
	for (i = 0; i < n; i++) {
		const struct scif_rma_seg *sg = &segs[i];

		if ((sg->flags & SCIF_SEG_IMM) && sg->op != SCIF_RMA_OP_WRITE)
			return i ? i : -EINVAL;
		if (!(sg->flags & SCIF_SEG_IMM) && !sg->lmr->va)
			return i ? i : -EFAULT;
		s = slot_get(c, &tag);
		if (!s)
			break;
		t = piece_frame(sg, tag);
		if (!t) {
			slot_put(c, s);
			return i ? i : -ENOMEM;
		}
		s->op = (uint8_t)sg->op;
		s->seq = sg->seq;
		s->len = sg->flags & SCIF_SEG_IMM ? 8 : sg->len;
		if (sg->op == SCIF_RMA_OP_READ)
			s->dst = (char *)sg->lmr->va + sg->loff;
		tcp_tx_queue(c, t);
	}
	if (!c->in_rx)
		tcp_tx_flush(c);
	return i;
}

/* [ep locked] Every piece in flight fails (the connection ended). */
void tcp_slots_fail(struct tcp_conn *c, int err)
{
	int i;

	for (i = 0; i < TCP_SLOTS; i++) {
		struct tcp_slot *s = &c->slots[i];

		if (!s->used)
			continue;
		slot_put(c, s);
		scif__ep_rma_piece_done(c->ep, s->seq, err);
	}
}

int tcp_rx_rdata(struct tcp_conn *c, const unsigned char *p, uint64_t dlen)
{
	struct tcp_slot *s = slot_find(c, tcp_get_le(p, 8));

	if (!s || s->op != SCIF_RMA_OP_READ || s->got || dlen != s->len) {
		tcp_violation(c, "read data for no read");
		return -1;
	}
	c->rslot = s;
	c->sink = SINK_RDATA;
	c->left = dlen;
	c->phase = RX_BULK;
	return 1;
}

int tcp_rx_rdata_end(struct tcp_conn *c)
{
	struct tcp_slot *s = c->rslot;

	c->rslot = NULL;
	slot_put(c, s);
	scif__ep_rma_piece_done(c->ep, s->seq, 0);
	return 1;
}

int tcp_rx_done(struct tcp_conn *c, const unsigned char *p)
{
	struct tcp_slot *s = slot_find(c, tcp_get_le(p, 8));
	int32_t st = (int32_t)tcp_get_le(p + 8, 4);

	if (!s || st > 0 || st < -4095 ||
	    (s->op == SCIF_RMA_OP_READ && (!st || s->got))) {
		tcp_violation(c, "completion of no request");
		return -1;
	}
	if (st)
		scif_info("tcp: RMA %s at offset of %u:%u refused by the "
			  "target: %s",
			  s->op == SCIF_RMA_OP_READ ? "read" : "write",
			  c->peer_node, c->peer_port, strerror(-st));
	slot_put(c, s);
	scif__ep_rma_piece_done(c->ep, s->seq, st);
	return 1;
}

/* ---- target ---- */

static void send_done(struct tcp_conn *c, uint64_t tag, int status)
{
	unsigned char p[16];

	tcp_put_le(p, tag, 8);
	tcp_put_le(p + 8, (uint32_t)status, 4);
	tcp_put_le(p + 12, 0, 4);
	tcp_send_small(c, TCP_DONE, p, sizeof(p));
}

/* [ep locked] The window holding [off, off+len) with prot, or why not. */
static int target_lookup(struct tcp_conn *c, uint64_t off, uint64_t len,
			 int prot, const struct scif_mr **mr, char **at)
{
	uint64_t moff;
	int ret;

	ret = scif__ep_window_get(c->ep, off, len, prot, mr, &moff);
	if (ret)
		return ret;
	if (!(*mr)->va || moff + len > (*mr)->len) {
		scif__ep_window_put(c->ep, *mr);
		return -EFAULT;
	}
	*at = (char *)(*mr)->va + moff;
	return 0;
}

int tcp_rx_write(struct tcp_conn *c, const unsigned char *p, uint64_t dlen)
{
	uint64_t off = tcp_get_le(p + 8, 8);
	const struct scif_mr *mr;
	char *at;
	int ret;

	c->wtag = tcp_get_le(p, 8);
	ret = tcp_get_le(p + 16, 8) ? -EINVAL :
				     target_lookup(c, off, dlen,
						   SCIF_PROT_WRITE, &mr, &at);
	c->wstatus = ret;
	c->left = dlen;
	c->phase = RX_BULK;
	if (ret) {
		scif_info("tcp: RMA write of %llu bytes at 0x%llx from %u:%u "
			  "refused: %s",
			  (unsigned long long)dlen, (unsigned long long)off,
			  c->peer_node, c->peer_port, strerror(-ret));
		c->sink = SINK_DROP; /* its data is read and dropped */
		return 1;
	}
	c->wmr = mr;
	c->bulk = at;
	c->sink = SINK_WRITE;
	return 1;
}

void tcp_rx_write_end(struct tcp_conn *c)
{
	if (c->wmr)
		scif__ep_window_put(c->ep, c->wmr);
	c->wmr = NULL;
	send_done(c, c->wtag, c->wstatus);
}

int tcp_rx_read(struct tcp_conn *c, const unsigned char *p)
{
	uint64_t tag = tcp_get_le(p, 8), off = tcp_get_le(p + 8, 8);
	uint64_t len = tcp_get_le(p + 16, 8);
	const struct scif_mr *mr;
	struct tcp_txi *t;
	char *at;
	int ret;

	if (!len || len > TCP_MAX_PIECE) {
		tcp_violation(c, "read request of a bad length");
		return -1;
	}
	ret = target_lookup(c, off, len, SCIF_PROT_READ, &mr, &at);
	if (ret) {
		scif_info("tcp: RMA read of %llu bytes at 0x%llx from %u:%u "
			  "refused: %s",
			  (unsigned long long)len, (unsigned long long)off,
			  c->peer_node, c->peer_port, strerror(-ret));
		send_done(c, tag, ret);
		return 1;
	}
	t = tcp_txi_new(TCP_RDATA, 8, len);
	if (!t) {
		scif__ep_window_put(c->ep, mr);
		send_done(c, tag, -ENOMEM);
		return 1;
	}
	tcp_put_le(t->head + SCIF_WIRE_HDR_LEN, tag, 8);
	t->data = at;
	t->win = mr; /* held until the data is in the socket */
	tcp_tx_queue(c, t);
	return 1;
}
