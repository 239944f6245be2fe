/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * dma-bufs as windows (scif_register_dmabuf; gnt.c registers grant exports
 * through the same path).
 *
 * The core maps the dma-buf when it can and hands the provider both the fd
 * and the mapping (SCIF_MEM_DMABUF): a provider whose device registers
 * dma-bufs itself (verbs: ibv_reg_dmabuf_mr) uses the fd, the others the
 * mapping, which must live in this process for cross-memory attach (shm)
 * and for targets that copy (tcp).  The mapping also serves local fence
 * signals into the window.  It is undone after the provider's mr_dereg.
 */
#include "scif_priv.h"
#include "log.h"

#include <scif_gnt.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct dmabuf_map {
	struct scif_mem_owner owner;
	void *va; /* NULL: not mapped */
	size_t len;
	struct scif_mem_owner *next; /* the caller's, released after us */
};

static void dmabuf_map_release(struct scif_mem_owner *o)
{
	struct dmabuf_map *d = (struct dmabuf_map *)o;

	if (d->va && munmap(d->va, d->len))
		scif_err("munmap of a dma-buf window: %m");
	if (d->next)
		d->next->release(d->next);
	free(d);
}

/* The CPU mapping of [fd_off, fd_off+len) of fd, or NULL when the dma-buf
 * cannot be mapped (the provider may still register it). */
static int dmabuf_mmap(int fd, uint64_t fd_off, size_t len, int prot,
		       void **va)
{
	struct stat st;

	if (fstat(fd, &st)) {
		scif_info("dma-buf fd %d: %m", fd);
		return -EBADF;
	}
	/* a dma-buf's size is its inode's */
	if (fd_off % (uint64_t)sysconf(_SC_PAGESIZE) ||
	    fd_off > (uint64_t)st.st_size || len > st.st_size - fd_off) {
		scif_info("dma-buf fd %d: [%llu, +%zu) is not inside its %lld "
			  "bytes", fd, (unsigned long long)fd_off, len,
			  (long long)st.st_size);
		return -EINVAL;
	}
	/* Writable even for a read-only window where the dma-buf allows it:
	 * Linux before 6.2 pins the pages of a read-only RDMA registration
	 * for writing (FOLL_FORCE), which fails on a read-only shared
	 * mapping.  The peer's writes are refused by SCIF's checks. */
	*va = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		   (off_t)fd_off);
	if (*va == MAP_FAILED && errno == EACCES && !(prot & SCIF_PROT_WRITE))
		*va = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, (off_t)fd_off);
	if (*va == MAP_FAILED) {
		scif_info("mmap of dma-buf fd %d: %m (the provider may "
			  "register it unmapped)", fd);
		*va = NULL;
	}
	return 0;
}

int scif__register_dmabuf(struct scif_ep *ep, int fd, uint64_t fd_off,
			  size_t len, off_t offset, int prot, int map_flags,
			  struct scif_mem_owner *owner, off_t *po)
{
	struct scif_mem mem = { .kind = SCIF_MEM_DMABUF, .len = len, .fd = fd,
				.fd_off = fd_off };
	struct dmabuf_map *d;
	int ret = scif__register_check(&mem, offset, prot, map_flags);

	if (ret)
		return ret;
	if (fd < 0)
		return -EBADF;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->owner.release = dmabuf_map_release;
	d->len = len;
	ret = dmabuf_mmap(fd, fd_off, len, prot, &d->va);
	if (ret)
		goto out_free;
	mem.va = d->va;
	/* the window's once registered (a concurrent close may release it
	 * before we return); on failure still the caller's */
	d->next = owner;
	ret = scif__register(ep, &mem, offset, prot, map_flags, NULL,
			     &d->owner, po);
	if (ret)
		goto out_unmap;
	return 0;
out_unmap:
	if (d->va)
		munmap(d->va, len);
out_free:
	free(d);
	return ret;
}

off_t scif__register_call(scif_epd_t epd,
			  int (*fn)(struct scif_ep *ep, const void *arg,
				    off_t *po),
			  const void *arg)
{
	struct scif_ep *ep;
	off_t po = 0;
	int ret = scif__ep_lookup(epd, &ep);

	if (ret)
		return scif__ret(ret);
	ret = fn(ep, arg, &po);
	scif__ep_put(ep);
	return ret ? scif__ret(ret) : po;
}

struct dmabuf_args {
	int fd;
	off_t fd_offset;
	size_t len;
	off_t offset;
	int prot, map_flags;
};

static int register_dmabuf(struct scif_ep *ep, const void *arg, off_t *po)
{
	const struct dmabuf_args *a = arg;

	if (a->fd_offset < 0)
		return -EINVAL;
	return scif__register_dmabuf(ep, a->fd, (uint64_t)a->fd_offset,
				     a->len, a->offset, a->prot, a->map_flags,
				     NULL, po);
}

SCIF_EXPORT off_t scif_register_dmabuf(scif_epd_t epd, int dmabuf_fd,
				       off_t fd_offset, size_t len,
				       off_t offset, int prot_flags,
				       int map_flags)
{
	struct dmabuf_args a = { dmabuf_fd, fd_offset, len,
				 offset,    prot_flags, map_flags };

	return scif__register_call(epd, register_dmabuf, &a);
}
