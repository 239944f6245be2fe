/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Endpoints bound to a provider whose peer keeps the windows itself (the
 * kernel SCIF device, ops->ep_kcall): their window, RMA and fence calls go
 * to the provider whole; the core's windows, RMA and fences are for the
 * other providers.
 */
#include "scif_priv.h"

int scif__kcall(scif_epd_t epd, enum scif_kcall call,
		struct scif_kcall_args *args, int *ret)
{
	int (*fn)(struct scif_ep *, enum scif_kcall, struct scif_kcall_args *);
	struct scif_ep *ep;

	if (scif__ep_lookup(epd, &ep))
		return 0; /* the core's path reports the bad descriptor */
	scif__ep_lock(ep);
	fn = ep->ops->ep_kcall;
	scif__ep_unlock(ep);
	if (fn)
		*ret = fn(ep, call, args);
	scif__ep_put(ep);
	return fn != NULL;
}
