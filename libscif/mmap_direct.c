/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scif_mmap's direct path: where the endpoint's provider can give the
 * peer's window memory as a file (shm: a shared mapping of a memfd, shmem
 * or other regular file in the peer process), the mapping is that file
 * mapped shared: loads and stores are the peer's memory itself, as on
 * MPSS.  No fault thread, no userfaultfd, nothing to write back.  Every
 * page of the mapping must be shareable, possibly from several windows
 * and files (mapped piece by piece); otherwise the whole mapping takes the
 * fault thread's path (mmap.c).  docs/mmap.md.
 *
 * What the library must still do: make pages raise SIGBUS when the peer
 * withdraws them (scif_unregister, connection gone) and unmap them at
 * scif_close.  The kernel tells us nothing when the application unmaps or
 * replaces such pages itself, so before replacing or unmapping pages we
 * check in /proc/self/maps that they still map what we put there.
 *
 * Locks: a direct mapping's state[] is under its lock, taken after the
 * endpoint lock and maps_lock when they are held.
 */
#include "mmap_int.h"
#include "log.h"
#include "procmaps.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

/* The file holding the peer's memory at pos (from the mapping's start):
 * its descriptor and piece, which may be shorter than the rest. */
static int direct_piece(struct scif_map *m, uint64_t pos, int *fd,
			struct map_piece *pc)
{
	struct scif_ep *ep = m->ep;
	struct scif_rwindow *rw;
	struct scif_rmr rmr = { 0 };
	uint64_t roff = 0, len = 0;
	struct stat st;
	int ret;

	scif__ep_lock(ep);
	rw = scif__rwindow_find(ep, m->off + pos, 1);
	if (rw) {
		rmr = rw->rmr;
		roff = m->off + pos - rw->offset;
		len = rw->len - roff < m->len - pos ? rw->len - roff :
						      m->len - pos;
	}
	scif__ep_unlock(ep);
	if (!rw)
		return -ENXIO;
	ret = ep->ops->rmr_fd(ep, &rmr, roff, &len, m->prot & SCIF_PROT_WRITE,
			      fd, &pc->foff);
	if (ret)
		return ret;
	if (!len || len % m->pg || pc->foff % m->pg || fstat(*fd, &st)) {
		close(*fd);
		return -EINVAL;
	}
	pc->p = pos / m->pg;
	pc->n = len / m->pg;
	pc->dev = st.st_dev;
	pc->ino = st.st_ino;
	return 0;
}

/* Every piece of the mapping, with its descriptor in (*fdp)[i]. */
static int direct_collect(struct scif_map *m, int **fdp)
{
	size_t cap = 0;
	uint64_t pos = 0;
	int *fd = NULL, ret = 0;

	while (pos < m->len) {
		if (m->npiece == cap) {
			size_t nc = cap ? 2 * cap : 4;
			struct map_piece *np =
				realloc(m->piece, nc * sizeof(*np));
			int *nf = np ? realloc(fd, nc * sizeof(*nf)) : NULL;

			if (np)
				m->piece = np;
			if (!nf) {
				ret = -ENOMEM;
				break;
			}
			fd = nf;
			cap = nc;
		}
		ret = direct_piece(m, pos, &fd[m->npiece], &m->piece[m->npiece]);
		if (ret)
			break;
		pos += m->piece[m->npiece++].n * m->pg;
	}
	*fdp = fd;
	return ret;
}

/* Map the pieces over [base, base + m->len). */
static int direct_place(struct scif_map *m, char *base, const int *fd)
{
	size_t i;
	int ret;

	for (i = 0; i < m->npiece; i++) {
		const struct map_piece *pc = &m->piece[i];

		if (mmap(base + pc->p * m->pg, pc->n * m->pg,
			 map_vm_prot(m->prot), MAP_SHARED | MAP_FIXED, fd[i],
			 (off_t)pc->foff) != MAP_FAILED)
			continue;
		ret = -errno;
		scif_dbg("scif_mmap: the peer's file at 0x%llx: %m",
			 (unsigned long long)pc->foff);
		return ret;
	}
	/* as the fault thread's mappings: not the child's after fork */
	madvise(base, m->len, MADV_DONTFORK);
	m->base = base;
	return 0;
}

int scif__map_direct(struct scif_map *m, void *addr, bool fixed)
{
	char *base = addr;
	int *fd = NULL, ret;
	size_t i;

	/* a write-only window reads as zeros: only the thread does that */
	if (!m->lib->mmap_direct || !m->readable)
		return -EOPNOTSUPP;
	/* room for all the pieces together, first: without address space
	 * nothing else is asked for */
	if (!fixed)
		base = mmap(NULL, m->len, PROT_NONE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED)
		return -ENOMEM;
	m->state = malloc(m->npages);
	ret = m->state ? direct_collect(m, &fd) : -ENOMEM;
	if (!ret)
		ret = direct_place(m, base, fd);
	for (i = 0; i < m->npiece; i++)
		close(fd[i]);
	free(fd);
	if (ret && !fixed)
		munmap(base, m->len);
	if (ret) {
		scif_dbg("scif_mmap: peer offset 0x%llx+%zu not mapped "
			 "directly (%s): the fault thread's mapping",
			 (unsigned long long)m->off, m->len, strerror(-ret));
		free(m->piece);
		free(m->state);
		m->piece = NULL;
		m->state = NULL;
		m->npiece = 0;
		return ret;
	}
	memset(m->state, PG_DIRECT, m->npages);
	m->direct = true;
	scif_dbg("scif_mmap: peer offset 0x%llx+%zu mapped directly at %p "
		 "(%zu pieces)",
		 (unsigned long long)m->off, m->len, (void *)m->base,
		 m->npiece);
	return 0;
}

/* ---- later: pages withdrawn, forgotten, unmapped ---- */

struct verify {
	const struct scif_map *m;
	size_t lo, hi;
	uint8_t *ok; /* per page of [lo, hi): still what we mapped there */
	uint64_t gone_dev, gone_ino;
};

static const struct map_piece *piece_of(const struct scif_map *m, size_t p)
{
	size_t a = 0, b = m->npiece;

	while (b - a > 1) {
		size_t c = (a + b) / 2;

		if (m->piece[c].p <= p)
			a = c;
		else
			b = c;
	}
	return &m->piece[a];
}

/* Page p, inside the mapping v of ours, maps what we put there. */
static bool page_is(const struct verify *vf, const struct scif_vma *v,
		    size_t p)
{
	const struct scif_map *m = vf->m;
	uint64_t dev = makedev(v->major, v->minor);
	uint64_t foff = v->off + ((uintptr_t)map_page(m, p) - v->start);
	const struct map_piece *pc;

	if (!v->shared)
		return false;
	if (m->state[p] == PG_DEAD) /* the empty file: any offset */
		return dev == vf->gone_dev && v->ino == vf->gone_ino;
	pc = piece_of(m, p);
	return m->state[p] == PG_DIRECT && dev == pc->dev && v->ino == pc->ino &&
	       foff == pc->foff + (p - pc->p) * m->pg;
}

static int verify_vma(const struct scif_vma *v, void *arg)
{
	struct verify *vf = arg;
	size_t p;

	for (p = vf->lo; p < vf->hi; p++) {
		uintptr_t a = (uintptr_t)map_page(vf->m, p);

		if (a >= v->start && a < v->end)
			vf->ok[p - vf->lo] = page_is(vf, v, p);
	}
	return 0;
}

/* Which pages of [lo, hi) still map what we put there (calloc'ed), or
 * NULL when that cannot be told (then they are taken to be ours). */
static uint8_t *direct_verify(const struct scif_map *m, size_t lo, size_t hi)
{
	struct verify vf = { .m = m, .lo = lo, .hi = hi };
	struct stat st;
	int ret;

	vf.ok = calloc(hi - lo, 1);
	if (!vf.ok || fstat(m->gonefd, &st)) {
		scif_err("mapping %p: cannot check its pages: %m",
			 (void *)m->base);
		free(vf.ok);
		return NULL;
	}
	vf.gone_dev = st.st_dev;
	vf.gone_ino = st.st_ino;
	ret = scif__vma_walk(0, (uintptr_t)map_page(m, lo),
			     (uintptr_t)map_page(m, hi), verify_vma, &vf);
	if (ret) {
		scif_err("mapping %p: /proc/self/maps: %s", (void *)m->base,
			 strerror(-ret));
		free(vf.ok);
		return NULL;
	}
	return vf.ok;
}

static void set_gone(struct scif_map *m, size_t p, size_t n)
{
	for (; n--; p++) {
		m->state[p] = PG_GONE;
		m->nleft--;
	}
}

/* The peer's pages [p, p+n) become an empty file's: SIGBUS on access. */
static void poison_run(struct scif_map *m, size_t p, size_t n)
{
	if (mmap(map_page(m, p), n * m->pg, map_vm_prot(m->prot),
		 MAP_SHARED | MAP_FIXED, m->gonefd, 0) == MAP_FAILED) {
		scif_err("mapping %p: cannot poison %zu pages: %m",
			 (void *)m->base, n);
		return;
	}
	memset(m->state + p, PG_DEAD, n);
}

enum direct_op { D_FORGET, D_UNMAP, D_POISON };

/* [m->lock] Pages of [lo, hi) no longer ours become GONE; of the others,
 * D_FORGET: all become GONE (the caller unmaps them); D_UNMAP: unmapped
 * and GONE; D_POISON: the peer's become DEAD. */
static void direct_apply(struct scif_map *m, size_t lo, size_t hi,
			 enum direct_op op)
{
	uint8_t *ok = op == D_FORGET ? NULL : direct_verify(m, lo, hi);
	size_t p, n;

	for (p = lo; p < hi; p += n) {
		uint8_t s = m->state[p];
		bool mine = !ok || ok[p - lo];

		for (n = 1; p + n < hi && m->state[p + n] == s &&
			    (!ok || ok[p + n - lo]) == mine;
		     n++)
			;
		if (s == PG_GONE)
			continue;
		if (!mine) {
			set_gone(m, p, n);
			continue;
		}
		if (op == D_POISON) {
			if (s == PG_DIRECT)
				poison_run(m, p, n);
			continue;
		}
		if (op == D_UNMAP && munmap(map_page(m, p), n * m->pg))
			scif_err("munmap(%p): %m", (void *)map_page(m, p));
		set_gone(m, p, n);
	}
	free(ok);
}

void scif__map_direct_forget(struct scif_map *m, size_t lo, size_t hi,
			     bool unmap)
{
	pthread_mutex_lock(&m->lock);
	direct_apply(m, lo, hi, unmap ? D_UNMAP : D_FORGET);
	pthread_mutex_unlock(&m->lock);
}

void scif__map_direct_gone(struct scif_map *m, uint64_t off, uint64_t len,
			   bool all)
{
	uint64_t lo = 0, hi = m->npages;

	if (!all) {
		uint64_t end = off + len < off ? UINT64_MAX : off + len;

		if (end <= m->off || off >= m->off + m->len)
			return;
		lo = off > m->off ? (off - m->off) / m->pg : 0;
		if (end < m->off + m->len)
			hi = (end - m->off + m->pg - 1) / m->pg;
	}
	if (lo >= hi)
		return;
	pthread_mutex_lock(&m->lock);
	scif_info("mapping %p: the peer's pages %llu-%llu are gone: SIGBUS "
		  "on access",
		  (void *)m->base, (unsigned long long)lo,
		  (unsigned long long)hi - 1);
	direct_apply(m, (size_t)lo, (size_t)hi, D_POISON);
	pthread_mutex_unlock(&m->lock);
}

void scif__map_direct_recheck(struct scif_map *m)
{
	struct scif_ep *ep = m->ep;
	size_t p = 0, n;

	scif__ep_lock(ep);
	if (ep->state != SCIF_EP_CONNECTED)
		scif__map_direct_gone(m, 0, 0, true);
	while (ep->state == SCIF_EP_CONNECTED && p < m->npages) {
		uint64_t o = m->off + p * m->pg;
		struct scif_rwindow *rw = scif__rwindow_find(ep, o, 1);

		if (rw) { /* the pages it holds */
			p = (size_t)((rw->offset + rw->len - m->off +
				      m->pg - 1) / m->pg);
			continue;
		}
		for (n = 1; p + n < m->npages &&
			    !scif__rwindow_find(ep, o + n * m->pg, 1);
		     n++)
			;
		scif__map_direct_gone(m, o, n * m->pg, false);
		p += n;
	}
	scif__ep_unlock(ep);
}
