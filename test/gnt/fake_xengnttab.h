/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The fake libxengnttab's control interface (tests only): the "foreign"
 * domains whose granted pages it holds, their pages as they are now, and
 * failures to inject.  Tests reach these with dlsym on the same library
 * libscif loaded (SCIF_XENGNTTAB_LIB), so both see one state.
 */
#ifndef FAKE_XENGNTTAB_H
#define FAKE_XENGNTTAB_H

#include <stdint.h>

/* Domain domid grants nrefs zeroed pages: references first..first+nrefs-1.
 * Environment FAKE_XENGNTTAB_DOMAINS="domid:first:nrefs,..." does the same
 * at load (default "1:8:256"). */
int fakegnt_domain_add(uint32_t domid, uint32_t first, uint32_t nrefs);
/* Where the granted page (domid, ref) is now, for the test to read and
 * write: the domain's own memory, or the exported dma-buf while exported,
 * or a granted-in page (scif_dmabuf_to_grant_refs); NULL if none. */
void *fakegnt_page(uint32_t domid, uint32_t ref);
/* The next call of fn (a libxengnttab function name) fails with err. */
void fakegnt_fail(const char *fn, int err);
/* Whether the kernel has the gntdev dma-buf ioctls (0: they fail with
 * ENOTTY, as on a kernel built without XEN_GNTDEV_DMABUF).  Environment:
 * FAKE_XENGNTTAB_DMABUF=0. */
void fakegnt_dmabuf_ioctls(int present);
/* Exported dma-bufs not yet released, grant mappings not yet unmapped,
 * dma-bufs granted in, open handles. */
struct fakegnt_counts {
	int exports, maps, imports, handles;
};
void fakegnt_counts(struct fakegnt_counts *c);
/* "vgem" (real dma-bufs: vgem buffers exported through PRIME) or "memfd"
 * (a memfd stands in for the dma-buf where no dma-buf source exists). */
const char *fakegnt_backend(void);

#endif
