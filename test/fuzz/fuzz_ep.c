/* SPDX-License-Identifier: BSD-3-Clause */
/* The harness shared by the fuzz targets (fuzz.h). */
#include "fuzz.h"

#include <string.h>

uint8_t fz_u8(struct fz_in *in)
{
	if (!in->left)
		return 0;
	in->left--;
	return *in->p++;
}

uint32_t fz_le(struct fz_in *in, int bytes)
{
	uint32_t v = 0;
	int i;

	for (i = 0; i < bytes; i++)
		v |= (uint32_t)fz_u8(in) << (8 * i);
	return v;
}

void *fz_take(struct fz_in *in, size_t *n)
{
	void *b;

	if (*n > in->left)
		*n = in->left;
	b = malloc(*n ? *n : 1);
	FZ_CHECK(b);
	memcpy(b, in->p, *n);
	in->p += *n;
	in->left -= *n;
	return b;
}

void fz_quiet(void)
{
	setenv("SCIF_LOG_LEVEL", "error", 1);
}

/* The library instance an endpoint points to: node 0, no spinning (the
 * targets never wait). */
static struct scif_lib fz_lib;

struct scif_ep *fz_ep_new(const struct scif_provider_ops *ops,
			  void *prov_data)
{
	struct scif_ep *ep;
	int err;

	ep = scif__ep_new(&fz_lib, &err);
	FZ_CHECK(ep);
	scif__ep_lock(ep);
	ep->ops = ops;
	ep->head.prov_data = prov_data;
	ep->bound = true;
	ep->port.port = 1000;
	ep->state = SCIF_EP_CONNECTING;
	scif__ep_conn_done(ep, 0, 1, 2000);
	FZ_CHECK(ep->state == SCIF_EP_CONNECTED);
	return ep;
}

void fz_ep_free(struct scif_ep *ep)
{
	if (ep->state == SCIF_EP_CONNECTED)
		scif__ep_peer_gone(ep, -ECONNRESET);
	scif__ep_unlock(ep);
	scif__rma_close(ep);
	FZ_CHECK(scif_rtree_empty(&ep->windows) &&
		 scif_rtree_empty(&ep->rwindows) && !ep->actions);
	scif__ep_put(ep);
}

void fz_check_rwindows(struct scif_ep *ep)
{
	const struct scif_rnode *n;
	uint64_t end = 0;
	bool first = true;

	/* in offset order, apart, each as the tree knows it */
	for (n = scif_rtree_first(&ep->rwindows); n; n = scif_rtree_next(n)) {
		const struct scif_rwindow *w =
			scif_rnode_entry(n, struct scif_rwindow, node);

		FZ_CHECK(n->start == w->offset && n->end == w->offset + w->len);
		FZ_CHECK(w->len && w->offset + w->len > w->offset);
		FZ_CHECK(first || w->offset >= end);
		FZ_CHECK(w->refs > 0);
		end = w->offset + w->len;
		first = false;
	}
}
