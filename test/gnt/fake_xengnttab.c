/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A fake libxengnttab: the ABI of Xen 4.17's libxengnttab.so.1 (the calls
 * libscif uses, same prototypes and symbol versions), over a model of the
 * grant table instead of /dev/xen/gntdev and a hypervisor.
 *
 * The model:
 *  - "Foreign" domains grant pages, held in one memfd per domain; a grant
 *    reference names one page (fakegnt_domain_add).
 *  - EXP_FROM_REFS hands out a REAL dma-buf (a vgem buffer exported through
 *    PRIME) holding the granted pages: while exported, the pages live in
 *    that buffer (copied in at export, back at release), so what a peer
 *    writes through the dma-buf is what the granting domain sees
 *    (fakegnt_page).  Where no dma-buf source exists (this host), a memfd
 *    stands in for it (FAKE_XENGNTTAB_BACKEND=memfd).
 *  - The dma-buf is released when no descriptor and no mapping of this
 *    process refers to it any more (/proc/self/fd, /proc/self/maps): that
 *    is when EXP_WAIT_RELEASED returns (ENOENT once released, ETIMEDOUT
 *    when it is still in use after the bound).
 *  - The grant-map path (map_domain_grant_refs) maps the domain's pages
 *    themselves: real aliasing.
 *  - Errors as the kernel gives them: no dma-buf ioctls -> ENOTTY; unknown
 *    domain or reference, or a reference exported already -> EINVAL;
 *    unknown fd in wait/release -> ENOENT; injected failures.
 */
#include "fake_xengnttab.h"
#include "dmabuf_src.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>
#include <xengnttab.h>

#define MAXDOM 8
#define PS 4096u

struct dom {
	uint32_t domid, first, nrefs;
	int memfd;
	char *mem;	 /* the fake's view of the domain's pages */
	int *exported;	 /* per ref: in a live export */
	int *mapped;	 /* per ref: grant mappings */
};

struct exp {
	struct exp *next;
	xengnttab_handle *h;
	int fd; /* the number handed out: EXP_WAIT_RELEASED names it */
	dev_t dev;
	ino_t ino;
	char *view; /* the fake's mapping of the buffer (not a reference) */
	uint32_t domid, count, *refs;
};

struct gmap {
	struct gmap *next;
	char *addr;
	uint32_t domid, count, *refs;
};

struct imp {
	struct imp *next;
	xengnttab_handle *h;
	int fd;
	char *view;
	uint32_t domid, count, first_ref;
};

struct xengntdev_handle {
	int magic;
};

static struct {
	pthread_mutex_t mu;
	int inited;
	int no_dmabuf;
	int vgem; /* the vgem device, or -1 */
	int memfd; /* the memfd stand-in instead of vgem */
	struct dom doms[MAXDOM];
	int ndoms;
	struct exp *exps;
	struct gmap *maps;
	struct imp *imps;
	int handles;
	uint32_t next_gref;
	char fail_fn[64];
	int fail_err;
} F = { .mu = PTHREAD_MUTEX_INITIALIZER, .vgem = -1, .next_gref = 0x10000 };

/* A buffer of len bytes: a dma-buf fd, and the fake's own mapping of it
 * that holds no reference to the dma-buf file (vgem: through the DRM
 * device; memfd: excluded by address when references are counted). */
static int buf_new(size_t len, int *fd, char **view)
{
	return F.vgem < 0 ? dmabuf_src_memfd(len, fd, view) :
			    dmabuf_src_vgem(F.vgem, len, fd, view);
}

/* ---- state ---- */

static int dom_add_locked(uint32_t domid, uint32_t first, uint32_t nrefs)
{
	struct dom *d = &F.doms[F.ndoms];

	if (F.ndoms == MAXDOM || !nrefs)
		return -EINVAL;
	d->memfd = memfd_create("fake-domain", MFD_CLOEXEC);
	if (d->memfd < 0 || ftruncate(d->memfd, (off_t)nrefs * PS))
		return -errno;
	d->mem = mmap(NULL, (size_t)nrefs * PS, PROT_READ | PROT_WRITE,
		      MAP_SHARED, d->memfd, 0);
	d->exported = calloc(nrefs, sizeof(int));
	d->mapped = calloc(nrefs, sizeof(int));
	if (d->mem == MAP_FAILED || !d->exported || !d->mapped)
		return -ENOMEM;
	d->domid = domid;
	d->first = first;
	d->nrefs = nrefs;
	F.ndoms++;
	return 0;
}

static void init_locked(void)
{
	const char *s = getenv("FAKE_XENGNTTAB_DOMAINS");
	const char *b = getenv("FAKE_XENGNTTAB_BACKEND");
	unsigned domid, first, n;
	int used;

	if (F.inited)
		return;
	F.inited = 1;
	if (!s)
		s = "1:8:256";
	while (sscanf(s, "%u:%u:%u%n", &domid, &first, &n, &used) == 3) {
		dom_add_locked(domid, first, n);
		s += used;
		if (*s == ',')
			s++;
	}
	s = getenv("FAKE_XENGNTTAB_DMABUF");
	F.no_dmabuf = s && !strcmp(s, "0");
	F.memfd = b && !strcmp(b, "memfd");
	if (!F.memfd)
		F.vgem = dmabuf_src_vgem_open();
	if (F.vgem < 0 && !F.memfd)
		fprintf(stderr, "fake_xengnttab: no vgem device (load vgem, "
				"or FAKE_XENGNTTAB_BACKEND=memfd)\n");
}

static void lock(void)
{
	pthread_mutex_lock(&F.mu);
	init_locked();
}

static void unlock(void)
{
	pthread_mutex_unlock(&F.mu);
}

static struct dom *dom_find(uint32_t domid)
{
	int i;

	for (i = 0; i < F.ndoms; i++)
		if (F.doms[i].domid == domid)
			return &F.doms[i];
	return NULL;
}

/* [locked] An injected failure of fn: sets errno, returns 1. */
static int injected(const char *fn)
{
	if (!F.fail_err || strcmp(F.fail_fn, fn))
		return 0;
	errno = F.fail_err;
	F.fail_err = 0;
	return 1;
}

static int fail(int err)
{
	errno = err;
	return -1;
}

/* [locked] Whether refs are granted by d and usable (not exported). */
static int refs_ok(struct dom *d, uint32_t count, const uint32_t *refs,
		   int for_export)
{
	uint32_t i, r;

	if (!d || !count || !refs)
		return 0;
	for (i = 0; i < count; i++) {
		r = refs[i] - d->first;
		if (refs[i] < d->first || r >= d->nrefs || d->exported[r] ||
		    (for_export && d->mapped[r]))
			return 0;
	}
	return 1;
}

/* ---- release detection ---- */

static int fd_refers(const struct exp *e)
{
	struct dirent *de;
	struct stat st;
	int found = 0;
	DIR *dir = opendir("/proc/self/fd");

	if (!dir)
		return 1; /* cannot tell: not released */
	while (!found && (de = readdir(dir))) {
		if (de->d_name[0] == '.')
			continue;
		found = !fstatat(dirfd(dir), de->d_name, &st, 0) &&
			st.st_ino == e->ino &&
			st.st_dev == e->dev;
	}
	closedir(dir);
	return found;
}

static int map_refers(const struct exp *e)
{
	unsigned long start, end, ino;
	unsigned maj, mnr;
	char line[512];
	int found = 0;
	FILE *f = fopen("/proc/self/maps", "re");

	if (!f)
		return 1;
	while (!found && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx %*s %*x %x:%x %lu", &start, &end,
			   &maj, &mnr, &ino) != 5)
			continue;
		found = ino == e->ino && makedev(maj, mnr) == e->dev &&
			start != (unsigned long)e->view;
	}
	fclose(f);
	return found;
}

/* [locked] The export is released: its pages go back to the domain. */
static void exp_free(struct exp *e)
{
	struct dom *d = dom_find(e->domid);
	uint32_t i;

	for (i = 0; i < e->count; i++) {
		uint32_t r = e->refs[i] - d->first;

		memcpy(d->mem + (size_t)r * PS, e->view + (size_t)i * PS, PS);
		d->exported[r] = 0;
	}
	munmap(e->view, (size_t)e->count * PS);
	free(e->refs);
	free(e);
}

/* [locked] Release the exports nothing refers to any more. */
static void sync_locked(void)
{
	struct exp **pp = &F.exps, *e;

	while ((e = *pp)) {
		if (fd_refers(e) || map_refers(e)) {
			pp = &e->next;
			continue;
		}
		*pp = e->next;
		exp_free(e);
	}
}

/* ---- libxengnttab ---- */

xengnttab_handle *xengnttab_open(struct xentoollog_logger *logger,
				 unsigned open_flags)
{
	xengnttab_handle *h = NULL;

	lock();
	if (injected("xengnttab_open"))
		goto out;
	if (F.vgem < 0 && !F.memfd) { /* told so at load */
		errno = ENODEV;
		goto out;
	}
	h = calloc(1, sizeof(*h));
	if (h)
		F.handles++;
out:
	unlock();
	return h;
}

int xengnttab_close(xengnttab_handle *xgt)
{
	struct imp **pp, *m;

	if (!xgt)
		return 0;
	lock();
	/* closing gntdev ends the grants of its imports */
	for (pp = &F.imps; (m = *pp);) {
		if (m->h != xgt) {
			pp = &m->next;
			continue;
		}
		*pp = m->next;
		munmap(m->view, (size_t)m->count * PS);
		free(m);
	}
	F.handles--;
	unlock();
	free(xgt);
	return 0;
}

int xengnttab_dmabuf_exp_from_refs(xengnttab_handle *xgt, uint32_t domid,
				   uint32_t flags, uint32_t count,
				   const uint32_t *refs, uint32_t *fd)
{
	struct exp *e = NULL;
	struct stat st;
	struct dom *d;
	uint32_t i;
	int ret = -1, err;

	lock();
	d = dom_find(domid);
	if (F.no_dmabuf)
		errno = ENOTTY;
	else if (injected("xengnttab_dmabuf_exp_from_refs"))
		;
	else if (!refs_ok(d, count, refs, 1))
		errno = EINVAL;
	else if (!(e = calloc(1, sizeof(*e))) ||
		 !(e->refs = malloc(count * sizeof(*refs))))
		errno = ENOMEM;
	else if ((err = buf_new((size_t)count * PS, &e->fd, &e->view)))
		errno = -err;
	else {
		fstat(e->fd, &st);
		e->dev = st.st_dev;
		e->ino = st.st_ino;
		e->h = xgt;
		e->domid = domid;
		e->count = count;
		memcpy(e->refs, refs, count * sizeof(*refs));
		for (i = 0; i < count; i++) {
			uint32_t r = refs[i] - d->first;

			memcpy(e->view + (size_t)i * PS, d->mem + (size_t)r * PS,
			       PS);
			d->exported[r] = 1;
		}
		e->next = F.exps;
		F.exps = e;
		*fd = (uint32_t)e->fd;
		e = NULL;
		ret = 0;
	}
	if (e) {
		err = errno;
		free(e->refs);
		free(e);
		errno = err;
	}
	unlock();
	return ret;
}

int xengnttab_dmabuf_exp_wait_released(xengnttab_handle *xgt, uint32_t fd,
				       uint32_t wait_to_ms)
{
	struct timespec t0, t;
	struct exp *e;
	long ms;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		lock();
		if (injected("xengnttab_dmabuf_exp_wait_released")) {
			unlock();
			return -1;
		}
		for (e = F.exps; e && (e->h != xgt || e->fd != (int)fd);)
			e = e->next;
		if (!e) {
			unlock();
			return fail(ENOENT);
		}
		sync_locked();
		for (e = F.exps; e && (e->h != xgt || e->fd != (int)fd);)
			e = e->next;
		unlock();
		if (!e)
			return 0;
		clock_gettime(CLOCK_MONOTONIC, &t);
		ms = (t.tv_sec - t0.tv_sec) * 1000 +
		     (t.tv_nsec - t0.tv_nsec) / 1000000;
		if (ms >= (long)wait_to_ms)
			return fail(ETIMEDOUT);
		usleep(1000);
	}
}

int xengnttab_dmabuf_imp_to_refs(xengnttab_handle *xgt, uint32_t domid,
				 uint32_t fd, uint32_t count, uint32_t *refs)
{
	struct imp *m = NULL;
	struct stat st;
	uint32_t i;
	int ret = -1;

	lock();
	if (F.no_dmabuf)
		errno = ENOTTY;
	else if (injected("xengnttab_dmabuf_imp_to_refs"))
		;
	else if (fstat((int)fd, &st))
		errno = EBADF;
	else if (!dom_find(domid) || !count ||
		 (uint64_t)st.st_size < (uint64_t)count * PS)
		errno = EINVAL;
	else if (!(m = calloc(1, sizeof(*m))))
		errno = ENOMEM;
	else if ((m->view = mmap(NULL, (size_t)count * PS,
				 PROT_READ | PROT_WRITE, MAP_SHARED, (int)fd,
				 0)) == MAP_FAILED)
		errno = EINVAL;
	else {
		m->h = xgt;
		m->fd = (int)fd;
		m->domid = domid;
		m->count = count;
		m->first_ref = F.next_gref;
		F.next_gref += count;
		for (i = 0; i < count; i++)
			refs[i] = m->first_ref + i;
		m->next = F.imps;
		F.imps = m;
		m = NULL;
		ret = 0;
	}
	free(m);
	unlock();
	return ret;
}

int xengnttab_dmabuf_imp_release(xengnttab_handle *xgt, uint32_t fd)
{
	struct imp **pp, *m;

	lock();
	if (injected("xengnttab_dmabuf_imp_release")) {
		unlock();
		return -1;
	}
	for (pp = &F.imps; (m = *pp) && (m->h != xgt || m->fd != (int)fd);)
		pp = &m->next;
	if (m) {
		*pp = m->next;
		munmap(m->view, (size_t)m->count * PS);
		free(m);
	}
	unlock();
	return m ? 0 : fail(ENOENT);
}

void *xengnttab_map_domain_grant_refs(xengnttab_handle *xgt, uint32_t count,
				      uint32_t domid, uint32_t *refs, int prot)
{
	struct gmap *g = NULL;
	struct dom *d;
	char *a = MAP_FAILED;
	uint32_t i;

	lock();
	d = dom_find(domid);
	if (injected("xengnttab_map_domain_grant_refs"))
		goto out;
	if (!refs_ok(d, count, refs, 0)) {
		errno = EINVAL;
		goto out;
	}
	g = calloc(1, sizeof(*g));
	a = mmap(NULL, (size_t)count * PS, PROT_NONE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (!g || a == MAP_FAILED || !(g->refs = malloc(count * 4))) {
		errno = ENOMEM;
		goto out;
	}
	for (i = 0; i < count; i++)
		if (mmap(a + (size_t)i * PS, PS, prot, MAP_SHARED | MAP_FIXED,
			 d->memfd, (off_t)(refs[i] - d->first) * PS) ==
		    MAP_FAILED)
			goto out;
	for (i = 0; i < count; i++)
		d->mapped[refs[i] - d->first]++;
	memcpy(g->refs, refs, count * 4);
	g->addr = a;
	g->domid = domid;
	g->count = count;
	g->next = F.maps;
	F.maps = g;
	unlock();
	return a;
out:
	if (a != MAP_FAILED)
		munmap(a, (size_t)count * PS);
	if (g)
		free(g->refs);
	free(g);
	unlock();
	return NULL;
}

int xengnttab_unmap(xengnttab_handle *xgt, void *start_address,
		    uint32_t count)
{
	struct gmap **pp, *g;
	struct dom *d;
	uint32_t i;

	lock();
	for (pp = &F.maps; (g = *pp) && (g->addr != start_address ||
					 g->count != count);)
		pp = &g->next;
	if (!g) {
		unlock();
		return fail(EINVAL);
	}
	*pp = g->next;
	d = dom_find(g->domid);
	for (i = 0; i < count; i++)
		d->mapped[g->refs[i] - d->first]--;
	munmap(g->addr, (size_t)count * PS);
	free(g->refs);
	free(g);
	unlock();
	return 0;
}

/* ---- control ---- */

int fakegnt_domain_add(uint32_t domid, uint32_t first, uint32_t nrefs)
{
	int ret;

	lock();
	ret = dom_find(domid) ? -EEXIST : dom_add_locked(domid, first, nrefs);
	unlock();
	return ret;
}

void *fakegnt_page(uint32_t domid, uint32_t ref)
{
	struct dom *d;
	struct exp *e;
	struct imp *m;
	void *p = NULL;
	uint32_t i;

	lock();
	sync_locked();
	for (m = F.imps; m && !p; m = m->next)
		if (m->domid == domid && ref - m->first_ref < m->count)
			p = m->view + (size_t)(ref - m->first_ref) * PS;
	for (e = F.exps; e && !p; e = e->next)
		for (i = 0; i < e->count && e->domid == domid; i++)
			if (e->refs[i] == ref)
				p = e->view + (size_t)i * PS;
	d = dom_find(domid);
	if (!p && d && ref >= d->first && ref - d->first < d->nrefs)
		p = d->mem + (size_t)(ref - d->first) * PS;
	unlock();
	return p;
}

void fakegnt_fail(const char *fn, int err)
{
	lock();
	snprintf(F.fail_fn, sizeof(F.fail_fn), "%s", fn);
	F.fail_err = err;
	unlock();
}

void fakegnt_dmabuf_ioctls(int present)
{
	lock();
	F.no_dmabuf = !present;
	unlock();
}

void fakegnt_counts(struct fakegnt_counts *c)
{
	struct exp *e;
	struct gmap *g;
	struct imp *m;

	lock();
	sync_locked();
	memset(c, 0, sizeof(*c));
	for (e = F.exps; e; e = e->next)
		c->exports++;
	for (g = F.maps; g; g = g->next)
		c->maps++;
	for (m = F.imps; m; m = m->next)
		c->imports++;
	c->handles = F.handles;
	unlock();
}

const char *fakegnt_backend(void)
{
	const char *b;

	lock();
	b = F.vgem >= 0 ? "vgem" : "memfd";
	unlock();
	return b;
}
