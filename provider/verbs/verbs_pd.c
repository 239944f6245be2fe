/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A protection domain per connection.
 *
 * A window's remote key is valid on every QP of the protection domain its
 * memory region is in, and a window's iova (its address) is easy to guess.
 * With one domain per device, a peer connected through one endpoint that
 * learns another connection's key could read and write windows that were
 * never registered on its connection.  So each connection has a domain of its
 * own: its QP, its rings, its windows, its bounce buffers and its
 * registration cache are in it, and a key used on any other QP fails there
 * with a remote access error (the adapter checks that the region's domain is
 * the QP's).
 *
 * Registrations outlive their connection (mr_dereg may come after
 * ep_close), so the domain is counted: the connection holds a reference and
 * so does every registration; the last one deallocates it.  The cost is one
 * ibv_alloc_pd per connection; registration costs what it did.  A
 * SCIF_RMA_USECACHE cache is per domain too (local keys must be in the QP's
 * domain), so it is no longer shared between a process's connections, and
 * each cache runs its own monitor thread.
 */
#include "verbs.h"
#include "../../libscif/log.h"
#include "../../libscif/regcache.h"

#include <stdlib.h>

struct verbs_pd *verbs_pd_new(struct verbs_prov *vp, struct verbs_dev *dev)
{
	struct verbs_pd *pd = calloc(1, sizeof(*pd));

	if (!pd)
		return NULL;
	pd->pd = ibv_alloc_pd(dev->verbs);
	if (!pd->pd) {
		scif_err("ibv_alloc_pd on %s: %m",
			 ibv_get_device_name(dev->verbs->device));
		free(pd);
		return NULL;
	}
	pd->vp = vp;
	pd->refs = 1;
	pthread_mutex_init(&pd->lock, NULL);
	return pd;
}

void verbs_pd_get(struct verbs_pd *pd)
{
	__atomic_add_fetch(&pd->refs, 1, __ATOMIC_RELAXED);
}

void verbs_pd_put(struct verbs_pd *pd)
{
	if (!pd || __atomic_sub_fetch(&pd->refs, 1, __ATOMIC_ACQ_REL))
		return;
	/* no registration is left: the cache holds idle entries only */
	if (pd->rc)
		scif__regcache_destroy(pd->rc);
	if (ibv_dealloc_pd(pd->pd))
		scif_err("ibv_dealloc_pd: %m");
	pthread_mutex_destroy(&pd->lock);
	free(pd);
}

/* regcache callbacks: ctx is the domain */
static int rc_reg(void *ctx, void *addr, size_t len, void **handle)
{
	struct verbs_pd *pd = ctx;
	struct ibv_mr *m = ibv_reg_mr(pd->pd, addr, len, IBV_ACCESS_LOCAL_WRITE);

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

struct scif_regcache *verbs_pd_regcache(struct verbs_pd *pd, bool create)
{
	struct scif_regcache *rc;

	pthread_mutex_lock(&pd->lock);
	if (!pd->rc && create &&
	    scif__regcache_create(&rc_ops, pd, pd->vp->regcache_max, &pd->rc))
		pd->rc = NULL;
	rc = pd->rc;
	pthread_mutex_unlock(&pd->lock);
	return rc;
}
