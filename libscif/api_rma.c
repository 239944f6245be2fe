/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Registered memory, RMA and fences: argument and state checks common to
 * every provider; the work itself is the provider's (see scif_provider.h).
 * Until a provider implements these slots they fail with EOPNOTSUPP.
 * scif_mmap() has no RDMA equivalent yet and fails with ENOSYS.
 */
#include "scif_priv.h"

#include <unistd.h>

/* Look up epd and check the state allows op; returns with a reference. */
static int rma_enter(scif_epd_t epd, enum scif_ep_op op, struct scif_ep **ep)
{
	int ret = scif__ep_lookup(epd, ep);

	if (ret)
		return ret;
	scif__ep_lock(*ep);
	ret = scif__ep_check((*ep)->state, op);
	scif__ep_unlock(*ep);
	if (ret)
		scif__ep_put(*ep);
	return ret;
}

SCIF_EXPORT off_t scif_register(scif_epd_t epd, void *addr, size_t len,
				off_t offset, int prot_flags, int map_flags)
{
	struct scif_ep *ep;
	void *handle;
	int ret = rma_enter(epd, SCIF_OP_REGISTER, &ep);

	if (ret)
		return scif__ret(ret);
	ret = ep->lib->ops->win_register(ep, addr, len, offset, prot_flags,
					 &handle);
	(void)map_flags;
	scif__ep_put(ep);
	return scif__ret(ret);
}

SCIF_EXPORT int scif_unregister(scif_epd_t epd, off_t offset, size_t len)
{
	struct scif_ep *ep;
	int ret = rma_enter(epd, SCIF_OP_REGISTER, &ep);

	(void)offset, (void)len;
	if (ret)
		return scif__ret(ret);
	ret = ep->lib->ops->win_unregister(ep, NULL);
	scif__ep_put(ep);
	return scif__ret(ret);
}

static int rma_call(scif_epd_t epd, int op, off_t loffset, void *addr,
		    size_t len, off_t roffset, int flags)
{
	struct scif_ep *ep;
	int ret = rma_enter(epd, SCIF_OP_RMA, &ep);

	if (ret)
		return scif__ret(ret);
	ret = ep->lib->ops->rma(ep, op, loffset, addr, len, roffset, flags);
	scif__ep_put(ep);
	return scif__ret(ret);
}

SCIF_EXPORT int scif_readfrom(scif_epd_t epd, off_t loffset, size_t len,
			      off_t roffset, int rma_flags)
{
	return rma_call(epd, 0, loffset, NULL, len, roffset, rma_flags);
}

SCIF_EXPORT int scif_writeto(scif_epd_t epd, off_t loffset, size_t len,
			     off_t roffset, int rma_flags)
{
	return rma_call(epd, 1, loffset, NULL, len, roffset, rma_flags);
}

SCIF_EXPORT int scif_vreadfrom(scif_epd_t epd, void *addr, size_t len,
			       off_t roffset, int rma_flags)
{
	return rma_call(epd, 2, 0, addr, len, roffset, rma_flags);
}

SCIF_EXPORT int scif_vwriteto(scif_epd_t epd, void *addr, size_t len,
			      off_t roffset, int rma_flags)
{
	return rma_call(epd, 3, 0, addr, len, roffset, rma_flags);
}

SCIF_EXPORT int scif_fence_mark(scif_epd_t epd, int flags, int *mark)
{
	struct scif_ep *ep;
	int ret = rma_enter(epd, SCIF_OP_RMA, &ep);

	if (ret)
		return scif__ret(ret);
	ret = ep->lib->ops->fence_mark(ep, flags, mark);
	scif__ep_put(ep);
	return scif__ret(ret);
}

SCIF_EXPORT int scif_fence_wait(scif_epd_t epd, int mark)
{
	struct scif_ep *ep;
	int ret = rma_enter(epd, SCIF_OP_RMA, &ep);

	if (ret)
		return scif__ret(ret);
	ret = ep->lib->ops->fence_wait(ep, mark);
	scif__ep_put(ep);
	return scif__ret(ret);
}

SCIF_EXPORT int scif_fence_signal(scif_epd_t epd, off_t loff, uint64_t lval,
				  off_t roff, uint64_t rval, int flags)
{
	struct scif_ep *ep;
	int ret = rma_enter(epd, SCIF_OP_RMA, &ep);

	if (ret)
		return scif__ret(ret);
	ret = ep->lib->ops->fence_signal(ep, loff, lval, roff, rval, flags);
	scif__ep_put(ep);
	return scif__ret(ret);
}

SCIF_EXPORT void *scif_mmap(void *addr, size_t len, int prot_flags,
			    int map_flags, scif_epd_t epd, off_t offset)
{
	(void)addr, (void)len, (void)prot_flags, (void)map_flags, (void)epd;
	(void)offset;
	errno = ENOSYS;
	return SCIF_MMAP_FAILED;
}

SCIF_EXPORT int scif_munmap(void *addr, size_t len)
{
	(void)addr, (void)len;
	return scif__ret(-ENOSYS);
}

SCIF_EXPORT int scif_pin_pages(void *addr, size_t len, int prot_flags,
			       int map_flags, scif_pinned_pages_t *pinned)
{
	(void)addr, (void)len, (void)prot_flags, (void)map_flags, (void)pinned;
	return scif__ret(-EOPNOTSUPP);
}

SCIF_EXPORT int scif_unpin_pages(scif_pinned_pages_t pinned)
{
	(void)pinned;
	return scif__ret(-EOPNOTSUPP);
}

SCIF_EXPORT off_t scif_register_pinned_pages(scif_epd_t epd,
					     scif_pinned_pages_t pinned,
					     off_t offset, int map_flags)
{
	(void)epd, (void)pinned, (void)offset, (void)map_flags;
	return scif__ret(-EOPNOTSUPP);
}
