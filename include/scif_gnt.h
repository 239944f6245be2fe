/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scif-fabric extensions: dma-bufs and Xen grant references as SCIF windows
 * (docs/gntdev.md).  In libscif.so.0, versioned SCIF_GNT_0.0; not part of
 * MPSS's API.  The Xen calls load libxengnttab at run time (dlopen) on first
 * use: a program that never calls them needs no Xen library.
 */
#ifndef SCIF_GNT_H
#define SCIF_GNT_H

#include <scif.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Register len bytes of the dma-buf dmabuf_fd, from fd_offset (a multiple of
 * the page size), as a window: scif_register()'s contract for offset,
 * prot_flags, map_flags, the return value and errors, and besides:
 * EBADF: dmabuf_fd is not an open descriptor; EOPNOTSUPP: the provider of
 * the connection can neither register the dma-buf as such nor map it.
 * The window holds the dma-buf until it is unregistered (the caller may
 * close dmabuf_fd at once).
 */
off_t scif_register_dmabuf(scif_epd_t epd, int dmabuf_fd, off_t fd_offset,
			   size_t len, off_t offset, int prot_flags,
			   int map_flags);

/*
 * Register count pages granted by Xen domain domid (grant references
 * refs[0..count-1], in that order) as a window of count pages, through
 * gntdev's dma-buf export, or, on a kernel without it, a grant mapping.
 * scif_register()'s contract for offset, prot_flags, map_flags and the
 * return value; errors besides: ENODEV: no libxengnttab, or not running
 * under Xen (no /dev/xen/gntdev); EINVAL: refs NULL, count < 1, or domid or
 * a reference the hypervisor refuses; EOPNOTSUPP: neither path works here.
 * scif_unregister() (or scif_close()) releases the pages and waits, bounded
 * by SCIF_GNT_RELEASE_MS, until the kernel reports the dma-buf released, so
 * the granting domain may then end its grants.
 */
off_t scif_register_grant_refs(scif_epd_t epd, uint32_t domid,
			       const uint32_t *refs, int count, off_t offset,
			       int prot_flags, int map_flags);

/*
 * The reverse: grant domain domid access to the count pages of the dma-buf
 * dmabuf_fd; their grant references go to refs[0..count-1].  0, or -1 with
 * errno: ENODEV as above; EBADF: dmabuf_fd is not open; EINVAL: refs NULL,
 * count < 1, the dma-buf has fewer pages, or refused by the kernel;
 * EEXIST: dmabuf_fd is already granted; EOPNOTSUPP: the kernel cannot.
 */
int scif_dmabuf_to_grant_refs(int dmabuf_fd, uint32_t domid, int count,
			      uint32_t *refs);
/* End the grants scif_dmabuf_to_grant_refs() made for dmabuf_fd, so its
 * owner may release it.  0, or -1 with errno ENOENT (not granted). */
int scif_dmabuf_release_grant_refs(int dmabuf_fd);

#ifdef __cplusplus
}
#endif

#endif
