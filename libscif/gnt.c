/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Xen grant references as windows, and dma-bufs granted to Xen domains
 * (docs/gntdev.md).
 *
 * libxengnttab is loaded with dlopen on first use (SCIF_XENGNTTAB_LIB names
 * another build of it, such as the tests' fake), so that libscif.so.0 needs
 * no Xen library.  Every grant window has its own gntdev handle: what it
 * exported or mapped goes with it, and nothing outlives the window.
 *
 * A grant window is, preferably, gntdev's dma-buf of the foreign pages
 * (EXP_FROM_REFS) registered as any dma-buf (dmabuf.c); releasing it waits
 * for EXP_WAIT_RELEASED, so the granting domain can end its grants safely.
 * A kernel without the dma-buf ioctls (built without
 * XEN_GNTDEV_DMABUF) answers ENOTTY: the pages are then grant-mapped into
 * this process and the mapping registered as ordinary memory.
 */
#include "scif_priv.h"
#include "log.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <scif_gnt.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xengnttab.h>

#define GNT_LIB_DEFAULT "libxengnttab.so.1"

/* libxengnttab, as loaded, with a handle on gntdev. */
struct gnt {
	void *dl;
	xengnttab_handle *xgt;
	__typeof__(xengnttab_open) *open;
	__typeof__(xengnttab_close) *close;
	__typeof__(xengnttab_dmabuf_exp_from_refs) *exp_from_refs;
	__typeof__(xengnttab_dmabuf_exp_wait_released) *exp_wait_released;
	__typeof__(xengnttab_dmabuf_imp_to_refs) *imp_to_refs;
	__typeof__(xengnttab_dmabuf_imp_release) *imp_release;
	__typeof__(xengnttab_map_domain_grant_refs) *map_domain_grant_refs;
	__typeof__(xengnttab_unmap) *unmap;
};

/* A grant window: what it must give back once deregistered. */
struct gnt_win {
	struct scif_mem_owner owner;
	struct gnt g;
	int fd;	    /* the exported dma-buf, or -1 */
	void *map;  /* the grant mapping, or NULL */
	uint32_t count;
};

/* A dma-buf granted with scif_dmabuf_to_grant_refs. */
struct scif_gnt_imp {
	struct scif_gnt_imp *next;
	int fd;
	struct gnt g;
};

static void gnt_close(struct gnt *g)
{
	if (g->xgt && g->close(g->xgt))
		scif_err("xengnttab_close: %m");
	g->xgt = NULL;
	if (g->dl)
		dlclose(g->dl);
	g->dl = NULL;
}

/* Load libxengnttab and open gntdev: -ENODEV when either is missing.  The
 * dma-buf calls (libxengnttab >= 4.12) may be absent: NULL. */
static int gnt_open(struct gnt *g)
{
	const char *path = getenv("SCIF_XENGNTTAB_LIB");

	if (!path || !*path)
		path = GNT_LIB_DEFAULT;
	g->dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!g->dl) {
		scif_info("cannot load %s: %s", path, dlerror());
		return -ENODEV;
	}
#define SYM(field, name) (g->field = (__typeof__(g->field))dlsym(g->dl, name))
	SYM(open, "xengnttab_open");
	SYM(close, "xengnttab_close");
	SYM(map_domain_grant_refs, "xengnttab_map_domain_grant_refs");
	SYM(unmap, "xengnttab_unmap");
	SYM(exp_from_refs, "xengnttab_dmabuf_exp_from_refs");
	SYM(exp_wait_released, "xengnttab_dmabuf_exp_wait_released");
	SYM(imp_to_refs, "xengnttab_dmabuf_imp_to_refs");
	SYM(imp_release, "xengnttab_dmabuf_imp_release");
#undef SYM
	if (!g->open || !g->close || !g->map_domain_grant_refs || !g->unmap) {
		scif_err("%s is no libxengnttab", path);
		goto err_dl;
	}
	if (!g->exp_from_refs || !g->exp_wait_released) /* both or none */
		g->exp_from_refs = NULL;
	if (!g->imp_to_refs || !g->imp_release)
		g->imp_to_refs = NULL;
	g->xgt = g->open(NULL, 0);
	if (!g->xgt) {
		scif_info("xengnttab_open (no /dev/xen/gntdev, or not under "
			  "Xen): %m");
		goto err_dl;
	}
	return 0;
err_dl:
	dlclose(g->dl);
	g->dl = NULL;
	return -ENODEV;
}

/* The kernel lacks what was asked for (gntdev built without dma-bufs:
 * the ioctl is unknown). */
static bool gnt_unsupported(int err)
{
	return err == ENOTTY || err == EOPNOTSUPP || err == ENOSYS;
}

/* What the hypervisor or gntdev says of refs or domid it refuses. */
static int gnt_errno(int err, int otherwise)
{
	switch (err) {
	case EINVAL: case ENOENT: case EPERM: case ESRCH: case EFAULT:
		return -EINVAL;
	case ENOMEM:
		return -ENOMEM;
	default:
		return gnt_unsupported(err) ? -EOPNOTSUPP : -otherwise;
	}
}

/* The dma-buf is gone from this process: wait (bounded) until the kernel
 * has released it, so that the granting domain may end its grants. */
static void gnt_wait_released(struct gnt *g, int fd)
{
	uint32_t ms = scif__env_u32("SCIF_GNT_RELEASE_MS", 1000, 0, 3600000);

	if (g->exp_wait_released(g->xgt, (uint32_t)fd, ms) && errno != ENOENT)
		scif_warn("exported grants not released after %u ms (%m): "
			  "the granting domain must not end them yet", ms);
}

static void gnt_win_release(struct scif_mem_owner *o)
{
	struct gnt_win *gw = (struct gnt_win *)o;

	if (gw->fd >= 0) {
		close(gw->fd);
		gnt_wait_released(&gw->g, gw->fd);
	}
	if (gw->map && gw->g.unmap(gw->g.xgt, gw->map, gw->count))
		scif_err("xengnttab_unmap of %u grants: %m", gw->count);
	gnt_close(&gw->g);
	free(gw);
}

/* Export the grants as a dma-buf into gw->fd: -EOPNOTSUPP when the kernel
 * cannot (no dma-buf ioctls). */
static int gnt_export(struct gnt_win *gw, uint32_t domid,
		      const uint32_t *refs)
{
	uint32_t fd;

	if (!gw->g.exp_from_refs)
		return -EOPNOTSUPP;
	if (gw->g.exp_from_refs(gw->g.xgt, domid, 0, gw->count, refs, &fd)) {
		int err = errno;

		scif_info("xengnttab_dmabuf_exp_from_refs of %u grants of "
			  "domain %u: %m", gw->count, domid);
		return gnt_errno(err, err);
	}
	gw->fd = (int)fd;
	return 0;
}

/* The fallback: map the grants into this process. */
static int gnt_map(struct gnt_win *gw, uint32_t domid, const uint32_t *refs,
		   int prot)
{
	/* libxengnttab takes refs as non-const but only reads them */
	uint32_t *r = (uint32_t *)(uintptr_t)refs;

	/* writable where the grants allow it, for the reason dmabuf_mmap
	 * gives (read-only grants of a read-only window map read-only) */
	gw->map = gw->g.map_domain_grant_refs(gw->g.xgt, gw->count, domid, r,
					      PROT_READ | PROT_WRITE);
	if (!gw->map && !(prot & SCIF_PROT_WRITE))
		gw->map = gw->g.map_domain_grant_refs(gw->g.xgt, gw->count,
						      domid, r, PROT_READ);
	if (!gw->map) {
		int err = errno;

		scif_info("xengnttab_map_domain_grant_refs of %u grants of "
			  "domain %u: %m", gw->count, domid);
		return gnt_errno(err, EOPNOTSUPP);
	}
	return 0;
}

static int register_grant_refs(struct scif_ep *ep, uint32_t domid,
			       const uint32_t *refs, int count, off_t offset,
			       int prot, int map_flags, off_t *po)
{
	uint64_t len = (uint64_t)count * (uint64_t)sysconf(_SC_PAGESIZE);
	struct scif_mem mem = { .kind = SCIF_MEM_VA, .len = len };
	struct gnt_win *gw;
	int ret;

	if (!refs || count < 1)
		return -EINVAL;
	ret = scif__register_check(&mem, offset, prot, map_flags);
	if (ret)
		return ret;
	gw = calloc(1, sizeof(*gw));
	if (!gw)
		return -ENOMEM;
	gw->owner.release = gnt_win_release;
	gw->fd = -1;
	gw->count = (uint32_t)count;
	ret = gnt_open(&gw->g);
	if (ret)
		goto out_free;
	ret = gnt_export(gw, domid, refs);
	if (ret == -EOPNOTSUPP) {
		scif_info("no gntdev dma-bufs: grant-mapping instead");
		ret = gnt_map(gw, domid, refs, prot);
		if (ret)
			goto out_close;
		mem.va = gw->map;
		ret = scif__register(ep, &mem, offset, prot, map_flags, NULL,
				     &gw->owner, po);
	} else if (!ret) {
		ret = scif__register_dmabuf(ep, gw->fd, 0, len, offset, prot,
					    map_flags, &gw->owner, po);
	}
	if (ret && (gw->map || gw->fd >= 0))
		gnt_win_release(&gw->owner); /* closes, waits, unmaps, frees */
	else if (ret)
		goto out_close;
	return ret;
out_close:
	gnt_close(&gw->g);
out_free:
	free(gw);
	return ret;
}

struct grant_args {
	uint32_t domid;
	off_t offset;
	const uint32_t *refs;
	int count, prot, map_flags;
};

static int register_grant_call(struct scif_ep *ep, const void *arg,
			       off_t *po)
{
	const struct grant_args *a = arg;

	return register_grant_refs(ep, a->domid, a->refs, a->count,
				   a->offset, a->prot, a->map_flags, po);
}

SCIF_EXPORT off_t scif_register_grant_refs(scif_epd_t epd, uint32_t domid,
					   const uint32_t *refs, int count,
					   off_t offset, int prot_flags,
					   int map_flags)
{
	struct grant_args a = { domid,	offset,	    refs,
				count,	prot_flags, map_flags };

	return scif__register_call(epd, register_grant_call, &a);
}

/* ---- the reverse: a local dma-buf granted to a domain ---- */

static struct scif_gnt_imp **imp_find(struct scif_lib *lib, int fd)
{
	struct scif_gnt_imp **pp = &lib->gnt_imps;

	while (*pp && (*pp)->fd != fd)
		pp = &(*pp)->next;
	return pp;
}

static int dmabuf_check(int fd, int count)
{
	struct stat st;

	if (fstat(fd, &st)) {
		scif_info("dma-buf fd %d: %m", fd);
		return -EBADF;
	}
	if ((uint64_t)st.st_size / (uint64_t)sysconf(_SC_PAGESIZE) <
	    (uint64_t)count)
		return -EINVAL;
	return 0;
}

static int dmabuf_to_grant_refs(struct scif_lib *lib, int fd, uint32_t domid,
				int count, uint32_t *refs)
{
	struct scif_gnt_imp *imp;
	int ret;

	if (!refs || count < 1)
		return -EINVAL;
	ret = dmabuf_check(fd, count);
	if (ret)
		return ret;
	imp = calloc(1, sizeof(*imp));
	if (!imp)
		return -ENOMEM;
	imp->fd = fd;
	ret = gnt_open(&imp->g);
	if (ret)
		goto out_free;
	pthread_mutex_lock(&lib->gnt_lock);
	if (*imp_find(lib, fd))
		ret = -EEXIST;
	else if (!imp->g.imp_to_refs)
		ret = -EOPNOTSUPP;
	else if (imp->g.imp_to_refs(imp->g.xgt, domid, (uint32_t)fd,
				    (uint32_t)count, refs)) {
		ret = errno;
		scif_info("xengnttab_dmabuf_imp_to_refs of fd %d for domain "
			  "%u: %m", fd, domid);
		ret = gnt_errno(ret, ret);
	}
	if (!ret) {
		imp->next = lib->gnt_imps;
		lib->gnt_imps = imp;
	}
	pthread_mutex_unlock(&lib->gnt_lock);
	if (!ret)
		return 0;
	gnt_close(&imp->g);
out_free:
	free(imp);
	return ret;
}

SCIF_EXPORT int scif_dmabuf_to_grant_refs(int dmabuf_fd, uint32_t domid,
					  int count, uint32_t *refs)
{
	struct scif_lib *lib = scif__lib();

	if (!lib)
		return -1;
	return scif__ret(dmabuf_to_grant_refs(lib, dmabuf_fd, domid, count,
					      refs));
}

SCIF_EXPORT int scif_dmabuf_release_grant_refs(int dmabuf_fd)
{
	struct scif_lib *lib = scif__lib();
	struct scif_gnt_imp **pp, *imp;
	int ret = 0;

	if (!lib)
		return -1;
	pthread_mutex_lock(&lib->gnt_lock);
	pp = imp_find(lib, dmabuf_fd);
	imp = *pp;
	if (imp)
		*pp = imp->next;
	pthread_mutex_unlock(&lib->gnt_lock);
	if (!imp)
		return scif__ret(-ENOENT);
	if (imp->g.imp_release(imp->g.xgt, (uint32_t)dmabuf_fd)) {
		ret = -errno;
		scif_err("xengnttab_dmabuf_imp_release of fd %d: %m",
			 dmabuf_fd);
	}
	gnt_close(&imp->g); /* closing gntdev ends the grants in any case */
	free(imp);
	return scif__ret(ret);
}
