/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The kernel API's pinning calls, in a process: scif_pin_pages() locks the
 * pages in memory (mlock) and returns a handle; windows registered from it
 * (scif_register_pinned_pages) hold references; scif_unpin_pages() forbids
 * new windows and the pages are unlocked when the last window goes.  Handles
 * are checked against the library's list, so a stale or foreign handle is
 * EINVAL, not a crash.  User-mode convention: -1 and errno, as every call.
 */
#include "scif_priv.h"
#include "log.h"

#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

struct scif_pinned_pages {
	struct scif_pinned_pages *next;
	void *addr;
	size_t len;
	int prot;
	int refs; /* windows registered from it */
	bool unpinned;
};

static bool pinned_live(struct scif_lib *lib, struct scif_pinned_pages *pp)
{
	struct scif_pinned_pages *p;

	for (p = lib->pinned; p; p = p->next)
		if (p == pp)
			return !p->unpinned;
	return false;
}

static void pinned_free(struct scif_lib *lib, struct scif_pinned_pages *pp)
{
	struct scif_pinned_pages **q;

	for (q = &lib->pinned; *q && *q != pp; q = &(*q)->next)
		;
	if (*q)
		*q = pp->next;
	munlock(pp->addr, pp->len);
	free(pp);
}

SCIF_EXPORT int scif_pin_pages(void *addr, size_t len, int prot_flags,
			       int map_flags,
			       scif_pinned_pages_t *pinned_pages)
{
	struct scif_lib *lib = scif__lib();
	size_t ps = (size_t)sysconf(_SC_PAGESIZE);
	struct scif_pinned_pages *pp;

	if (!lib)
		return -1;
	if (!pinned_pages || !len || len % ps || (uintptr_t)addr % ps ||
	    !prot_flags || (prot_flags & ~(SCIF_PROT_READ | SCIF_PROT_WRITE)) ||
	    map_flags) /* SCIF_MAP_KERNEL has no meaning in a process */
		return scif__ret(-EINVAL);
	pp = calloc(1, sizeof(*pp));
	if (!pp)
		return scif__ret(-ENOMEM);
	if (mlock(addr, len)) {
		scif_info("mlock of %zu bytes: %m", len);
		free(pp);
		return scif__ret(errno == EINVAL ? -EINVAL : -ENOMEM);
	}
	pp->addr = addr;
	pp->len = len;
	pp->prot = prot_flags;
	pthread_mutex_lock(&lib->pinned_lock);
	pp->next = lib->pinned;
	lib->pinned = pp;
	pthread_mutex_unlock(&lib->pinned_lock);
	*pinned_pages = pp;
	return 0;
}

SCIF_EXPORT int scif_unpin_pages(scif_pinned_pages_t pinned_pages)
{
	struct scif_lib *lib = scif__lib();
	int ret = 0;

	if (!lib)
		return -1;
	pthread_mutex_lock(&lib->pinned_lock);
	if (!pinned_live(lib, pinned_pages)) {
		ret = -EINVAL;
	} else {
		pinned_pages->unpinned = true;
		if (!pinned_pages->refs)
			pinned_free(lib, pinned_pages);
	}
	pthread_mutex_unlock(&lib->pinned_lock);
	return scif__ret(ret);
}

void scif__pinned_release(struct scif_lib *lib, struct scif_pinned_pages *pp)
{
	pthread_mutex_lock(&lib->pinned_lock);
	if (--pp->refs == 0 && pp->unpinned)
		pinned_free(lib, pp);
	pthread_mutex_unlock(&lib->pinned_lock);
}

SCIF_EXPORT off_t scif_register_pinned_pages(scif_epd_t epd,
					     scif_pinned_pages_t pinned_pages,
					     off_t offset, int map_flags)
{
	struct scif_pinned_pages *pp = pinned_pages;
	struct scif_kcall_args ka = { .loff = offset, .flags = map_flags };
	struct scif_ep *ep;
	off_t po = 0;
	int ret = scif__ep_lookup(epd, &ep);

	if (ret)
		return scif__ret(ret);
	/* An endpoint of the kernel device: its driver pins the range
	 * itself, the window holds no reference on the handle. */
	pthread_mutex_lock(&ep->lib->pinned_lock);
	if (pinned_live(ep->lib, pp)) {
		ka.addr = pp->addr;
		ka.len = pp->len;
		ka.prot = pp->prot;
	}
	pthread_mutex_unlock(&ep->lib->pinned_lock);
	if (ka.addr && scif__kcall(epd, SCIF_KC_REGISTER, &ka, &ret)) {
		scif__ep_put(ep);
		return ret ? scif__ret(ret) : (off_t)ka.out_off;
	}
	pthread_mutex_lock(&ep->lib->pinned_lock);
	if (!pinned_live(ep->lib, pp))
		ret = -EINVAL;
	else
		pp->refs++;
	pthread_mutex_unlock(&ep->lib->pinned_lock);
	if (!ret) {
		struct scif_mem mem = { .kind = SCIF_MEM_VA,
					.va = pp->addr,
					.len = pp->len };

		ret = scif__register(ep, &mem, offset, pp->prot, map_flags, pp,
				     NULL, &po);
		if (ret)
			scif__pinned_release(ep->lib, pp);
	}
	scif__ep_put(ep);
	if (ret)
		return scif__ret(ret);
	return po;
}
