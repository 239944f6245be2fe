/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz target: the core's control-message dispatch (scif__ep_ctrl_recv in
 * libscif/completion.c and the handlers behind it: WIN_ADD and WIN_DEL in
 * window.c, WIN_DEL_ACK, FENCE_REQ/DONE, WIN_SYNC/DONE), interleaved with
 * what our side does meanwhile, on a connected endpoint of a provider
 * model.  The input is a list of steps, each led by a byte:
 *   0..3  a message from the peer: type byte, length byte (0..255, plus
 *         the low bit of the lead byte as 256), then the payload
 *   4     one RMA piece of ours completes (the oldest outstanding)
 *   5     a fence signal of ours into a peer window, after our RMAs so far
 *   6     a fence signal waiting for the peer's FENCE_DONE (fence.c)
 *   7     an RMA request of ours (one 8-byte write) into a peer window
 * After every step the peer windows are sorted and disjoint, the answers
 * taken are to requests we sent (the mark at or behind our last id), and every
 * piece the provider is given lies inside a region it imported and still
 * holds.  A message the core refuses ends the connection, as the providers
 * do.  At the end every imported region has been released exactly once.
 */
#include "fuzz.h"
#include "wire.h"

#include <endian.h>
#include <string.h>

#define MAX_PIECES 64
#define BLOB_MAGIC 0x7a66u /* the model's blob: magic(2) */

/* The provider model: what it was given, and what it still holds. */
static struct {
	uint64_t pieces[MAX_PIECES]; /* their requests, oldest first */
	int npieces;
	long imports, releases, sent;
} pm;

static int pm_ctrl_send(struct scif_ep *ep, uint8_t type, const void *p,
			uint32_t len)
{
	FZ_CHECK(type >= SCIF_WIRE_CTRL_FIRST && type < SCIF_WIRE_NTYPES);
	FZ_CHECK(len <= SCIF_WIRE_CTRL_MAX);
	pm.sent++;
	return ep->state == SCIF_EP_CONNECTED ? 0 : -ECONNRESET;
}

static int pm_rmr_import(struct scif_ep *ep, const void *blob, size_t bloblen,
			 uint64_t len, struct scif_rmr *rmr)
{
	const uint8_t *b = blob;

	if (bloblen != 2 || (b[0] | b[1] << 8) != BLOB_MAGIC)
		return -EPROTO;
	FZ_CHECK(len && rmr->offset + len > rmr->offset);
	rmr->len = len;
	rmr->handle = &pm; /* held */
	pm.imports++;
	return 0;
}

static void pm_rmr_release(struct scif_ep *ep, struct scif_rmr *rmr)
{
	/* pieces in flight may outlive it: providers copy what they need */
	FZ_CHECK(rmr->handle == &pm);
	rmr->handle = NULL;
	pm.releases++;
}

static int pm_rma_post(struct scif_ep *ep, const struct scif_rma_seg *segs,
		       int n)
{
	int i;

	for (i = 0; i < n && pm.npieces < MAX_PIECES; i++) {
		const struct scif_rma_seg *s = &segs[i];

		FZ_CHECK(s->rmr->handle == &pm);
		FZ_CHECK(s->len && s->roff + s->len <= s->rmr->len &&
			 s->roff + s->len > s->roff);
		pm.pieces[pm.npieces++] = s->seq;
	}
	return i ? i : -EAGAIN;
}

static void pm_query(struct scif_ep *ep, struct scif_prov_attr *a)
{
	a->max_piece = 1u << 20;
	a->align = 1;
	a->caps = SCIF_PROV_ORDERED_RMA;
}

static void pm_mr_dereg(struct scif_ep *ep, struct scif_mr *mr)
{
}

static int pm_ready(struct scif_ep *ep)
{
	return 0;
}

static short pm_ready_both(struct scif_ep *ep)
{
	return 0;
}

static const struct scif_provider_ops pm_ops = {
	.size = sizeof(struct scif_provider_ops),
	.name = "fuzz",
	.recv_ready = pm_ready,
	.send_ready = pm_ready,
	.ready = pm_ready_both, /* set by hand: no registry fills it here */
	.ctrl_send = pm_ctrl_send,
	.query = pm_query,
	.mr_dereg = pm_mr_dereg,
	.rmr_import = pm_rmr_import,
	.rmr_release = pm_rmr_release,
	.rma_post = pm_rma_post,
};

/* [ep locked] The oldest piece completes; false if none. */
static bool pm_complete(struct scif_ep *ep, int err)
{
	uint64_t seq;

	if (!pm.npieces)
		return false;
	seq = pm.pieces[0];
	memmove(&pm.pieces[0], &pm.pieces[1],
		(size_t)(pm.npieces - 1) * sizeof(pm.pieces[0]));
	pm.npieces--;
	scif__ep_rma_piece_done(ep, seq, err);
	return true;
}

/* The peer window the input points at (its index among them), or NULL. */
static struct scif_rwindow *pick_rwindow(struct scif_ep *ep, uint8_t k)
{
	struct scif_rnode *w = scif_rtree_first(&ep->rwindows);
	size_t n = ep->rwindows.n;

	if (!n)
		return NULL;
	for (n = k % n; n--; w = scif_rtree_next(w))
		;
	return scif_rnode_entry(w, struct scif_rwindow, node);
}

/* [ep locked] Steps 5 and 6: a remote fence signal, queued as fence.c
 * queues it (holding the peer window). */
static void our_signal(struct scif_ep *ep, struct fz_in *in, bool peer)
{
	struct scif_rwindow *rw = pick_rwindow(ep, fz_u8(in));
	struct scif_rma_action a = { .bounce = -1, .remote = 1 };
	struct scif_wire_id m = { 0 };

	if (!rw || rw->len < 8)
		return;
	a.roff = rw->offset + ((fz_le(in, 2) * 8ull) % (rw->len - 7));
	a.value = fz_u8(in);
	if (peer) {
		a.on_reply = true;
		a.reply = scif__ctrl_new_id(ep);
		m.id = htole32(a.reply);
		if (ep->ops->ctrl_send(ep, SCIF_WIRE_FENCE_REQ, &m, sizeof(m)))
			return;
	} else {
		a.seq = ep->rma_seq;
	}
	rw->refs++;
	a.ref_rwindow = rw;
	if (scif__rma_action_add(ep, &a))
		scif__rwindow_put(ep, rw);
}

/* [ep locked] Step 7: an RMA request of one piece. */
static void our_rma(struct scif_ep *ep, struct fz_in *in)
{
	struct scif_rwindow *rw = pick_rwindow(ep, fz_u8(in));
	uint64_t roff;
	int ret;

	if (!rw || rw->len < 8 || ep->rma_posting)
		return;
	roff = rw->offset + (fz_le(in, 2) % (rw->len - 7));
	ret = scif__rma_post_signal(ep, rw, roff, 1);
	FZ_CHECK(!ret || ret == -EAGAIN || ret == -ENOMEM);
	if (rw->last_seq < ep->rma_seq)
		rw->last_seq = ep->rma_seq;
}

/* [ep locked] Steps 0..3: the peer's message; false: connection ended. */
static bool peer_msg(struct scif_ep *ep, struct fz_in *in, uint8_t lead)
{
	struct scif_wire_hdr h = { .version = SCIF_WIRE_VERSION };
	size_t n;
	void *payload;
	int ret;

	h.type = fz_u8(in);
	n = fz_u8(in) + ((lead & 1) ? 256u : 0u);
	payload = fz_take(in, &n);
	h.len = (uint32_t)n;
	ret = scif__ep_ctrl_recv(ep, &h, payload);
	free(payload);
	if (ret < 0) { /* the provider ends the connection */
		scif__ep_peer_gone(ep, -ECONNRESET);
		return false;
	}
	FZ_CHECK(ret == 0);
	return true;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	fz_quiet();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = { data, size };
	struct scif_ep *ep;
	bool up = true;

	memset(&pm, 0, sizeof(pm));
	ep = fz_ep_new(&pm_ops, NULL);
	while (up && in.left) {
		uint8_t lead = fz_u8(&in) % 8;

		if (lead < 4)
			up = peer_msg(ep, &in, lead);
		else if (lead == 4)
			pm_complete(ep, 0);
		else if (lead == 5 || lead == 6)
			our_signal(ep, &in, lead == 6);
		else
			our_rma(ep, &in);
		fz_check_rwindows(ep);
		FZ_CHECK(!ep->reply_mark ||
			 ((ep->ctrl_id - ep->reply_mark) & SCIF_CTRL_ID_MASK) <
				 (SCIF_CTRL_ID_MASK >> 1));
	}
	/* the connection ends: what is in flight fails */
	while (pm_complete(ep, -ECONNRESET))
		;
	fz_ep_free(ep);
	FZ_CHECK(pm.imports == pm.releases);
	return 0;
}
