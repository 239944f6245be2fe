/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scif_mmap, scif_munmap: a peer's window mapped into this process.
 *
 * A mapping is anonymous memory whose pages are filled from the peer on
 * first touch and kept coherent by its own fault thread (mmap_fault.c),
 * the same way over every provider: it moves data only with the core's RMA
 * requests.  This file checks the calls, sets mappings up, keeps the list
 * of them (scif_munmap and SCIF_MAP_FIXED may take pages from several) and
 * asks their threads to write back (fence calls), forget pages (unmap) or
 * poison them (the peer unregistered a window).  docs/mmap.md.
 *
 * Locks: maps_op_lock serialises the calls that change mappings or wait for
 * their threads (never taken by a fault thread or the progress thread);
 * maps_lock guards the list only, briefly, and may be taken with an
 * endpoint locked (scif__mmap_win_gone).
 */
#include "mmap_int.h"
#include "log.h"

#include <linux/userfaultfd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

/* The arguments alone (the header's EINVAL and ENXIO cases). */
static int map_args(void *addr, size_t len, int prot, int flags, off_t off,
		    size_t pg)
{
	if (prot & ~(SCIF_PROT_READ | SCIF_PROT_WRITE))
		return -EINVAL;
	if (flags & ~SCIF_MAP_FIXED)
		return -EINVAL;
	if ((flags & SCIF_MAP_FIXED) && (uintptr_t)addr % pg)
		return -EINVAL;
	if (off < 0)
		return -ENXIO;
	if ((uint64_t)off % pg || !len || len > SIZE_MAX - pg)
		return -EINVAL;
	if ((uint64_t)off + len < (uint64_t)off)
		return -ENXIO;
	return 0;
}

/* The peer's windows hold [off, off+len) with prot allowed; *readable:
 * they also allow reading (a write-only mapping of a write-only window
 * reads zeros). */
static int map_check(struct scif_ep *ep, uint64_t off, uint64_t len, int prot,
		     bool *readable)
{
	bool miss;
	int ret;

	scif__ep_lock(ep);
	ret = scif__ep_check(ep->state, SCIF_OP_RMA);
	if (!ret)
		ret = scif__rma_check_remote(ep, off, len, prot, &miss);
	if (ret == -ENXIO && miss) { /* a window still on its way? */
		ret = scif__rwindow_sync(ep);
		if (!ret)
			ret = scif__ep_check(ep->state, SCIF_OP_RMA);
		if (!ret)
			ret = scif__rma_check_remote(ep, off, len, prot, &miss);
	}
	*readable = !ret && !scif__rma_check_remote(ep, off, len,
						     SCIF_PROT_READ, &miss);
	scif__ep_unlock(ep);
	return ret;
}

/* The userfaultfd of a new mapping, registered over it. */
static int map_uffd(struct scif_map *m)
{
	/* UNMAP: the application's own munmap/mmap(MAP_FIXED) of a page
	 * ends our use of it (a later tick must not drop someone else's) */
	struct uffdio_api api = { .api = UFFD_API,
				  .features = UFFD_FEATURE_MINOR_SHMEM |
					      UFFD_FEATURE_EVENT_UNMAP };
	/* MISSING: a page never fetched; MINOR: one dropped since (its page
	 * stays in the file: fetched again in place) */
	struct uffdio_register r = {
		.range = { .start = (uintptr_t)m->base, .len = m->len },
		.mode = UFFDIO_REGISTER_MODE_MISSING |
			UFFDIO_REGISTER_MODE_MINOR,
	};
	const char *why = NULL;
	bool user_only;

	m->uffd = scif__uffd_open(false, &user_only, &why);
	if (m->uffd < 0) {
		scif_err("scif_mmap: %s", why);
		return -ENOMEM;
	}
	if (ioctl(m->uffd, UFFDIO_API, &api)) {
		scif_err("UFFDIO_API: %m");
		return -ENOMEM;
	}
	if (m->prot & SCIF_PROT_WRITE)
		r.mode |= UFFDIO_REGISTER_MODE_WP;
	if (ioctl(m->uffd, UFFDIO_REGISTER, &r)) {
		scif_err("UFFDIO_REGISTER %p+%zu: %m", (void *)m->base, m->len);
		return -ENOMEM;
	}
	if (user_only)
		scif_info("scif_mmap: UFFD_USER_MODE_ONLY: system calls that "
			  "touch an absent page of a mapping fail with EFAULT");
	return 0;
}

/* The file of the pages and the thread's alias of it (registered: every
 * transfer goes to or from it), the twin and the page arrays.  Not
 * inherited by a child: its copy would not be kept coherent. */
static int map_buffers(struct scif_map *m)
{
	struct scif_mem mem = { .kind = SCIF_MEM_VA };
	int ret;

	m->prefetch = m->lib->mmap_prefetch / m->pg;
	m->memfd = memfd_create("scif-mmap", MFD_CLOEXEC);
	if (m->memfd < 0 || ftruncate(m->memfd, (off_t)m->len)) {
		scif_err("scif_mmap: memfd of %zu bytes: %m", m->len);
		return -ENOMEM;
	}
	m->alias = mmap(NULL, m->len, PROT_READ | PROT_WRITE, MAP_SHARED,
			m->memfd, 0);
	if (m->alias == MAP_FAILED) /* no address space: allocate nothing */
		return -ENOMEM;
	m->state = calloc(m->npages, 1);
	m->epoch = calloc(m->npages, sizeof(*m->epoch));
	if (!m->state || !m->epoch)
		return -ENOMEM;
	madvise(m->alias, m->len, MADV_DONTFORK);
	if (m->prot & SCIF_PROT_WRITE) {
		m->twin = mmap(NULL, m->len, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1,
			       0);
		if (m->twin == MAP_FAILED)
			return -ENOMEM;
		madvise(m->twin, m->len, MADV_DONTFORK);
	}
	mem.va = m->alias_mr.va = m->alias;
	mem.len = m->alias_mr.len = m->len;
	m->alias_mr.access = SCIF_ACC_LOCAL_READ | SCIF_ACC_LOCAL_WRITE;
	ret = m->ep->ops->mr_reg(m->ep, &mem, &m->alias_mr);
	if (ret)
		return ret == -ECONNRESET ? ret : -ENOMEM;
	m->alias_reg = true;
	m->continue_wp = true; /* until the kernel refuses it */
	return 0;
}

static void map_free(struct scif_map *m)
{
	if (m->alias_reg)
		m->ep->ops->mr_dereg(m->ep, &m->alias_mr);
	if (m->alias && m->alias != MAP_FAILED)
		munmap(m->alias, m->len);
	if (m->memfd >= 0)
		close(m->memfd);
	if (m->twin && m->twin != MAP_FAILED)
		munmap(m->twin, m->len);
	free(m->state);
	free(m->epoch);
	free(m->piece);
	if (m->uffd >= 0)
		close(m->uffd);
	if (m->evfd >= 0)
		close(m->evfd);
	if (m->gonefd >= 0)
		close(m->gonefd);
	pthread_mutex_destroy(&m->lock);
	pthread_cond_destroy(&m->cond);
	scif__ep_put(m->ep);
	free(m);
}

static struct scif_map *map_alloc(struct scif_ep *ep, size_t len,
				  uint64_t off, int prot, size_t pg)
{
	struct scif_map *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->lib = ep->lib;
	m->ep = ep;
	scif__ep_get(ep);
	m->pg = pg;
	m->len = (len + pg - 1) / pg * pg;
	m->npages = m->nleft = m->len / pg;
	m->off = off;
	m->prot = prot;
	m->uffd = m->evfd = m->memfd = -1;
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->cond, NULL);
	m->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	/* an empty file: mapped over a page that must raise SIGBUS */
	m->gonefd = memfd_create("scif-mmap-gone", MFD_CLOEXEC);
	if (m->evfd < 0 || m->gonefd < 0) {
		scif_err("scif_mmap: eventfd/memfd_create: %m");
		map_free(m);
		return NULL;
	}
	return m;
}

/* Map at addr (fixed: exactly there), register, start the thread. */
static int map_start(struct scif_map *m, void *addr, bool fixed)
{
	sigset_t all, old;
	int ret;

	ret = map_buffers(m);
	if (ret)
		return ret;
	m->base = mmap(addr, m->len, map_vm_prot(m->prot),
		       MAP_SHARED | (fixed ? MAP_FIXED : 0), m->memfd, 0);
	if (m->base == MAP_FAILED) {
		scif_err("scif_mmap: mmap of %zu bytes: %m", m->len);
		m->base = NULL;
		return -ENOMEM;
	}
	madvise(m->base, m->len, MADV_DONTFORK);
	ret = map_uffd(m);
	if (ret)
		goto err_unmap;
	sigfillset(&all); /* the application's signals are not for it */
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = -pthread_create(&m->thread, NULL, scif__map_thread, m);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!ret)
		return 0;
	scif_err("pthread_create: %s", strerror(-ret));
	ret = -ENOMEM;
err_unmap:
	/* closed first: no UNMAP event for nobody to read */
	if (m->uffd >= 0)
		close(m->uffd);
	m->uffd = -1;
	munmap(m->base, m->len);
	return ret;
}

/* Ask the thread and wait until it has done it (maps_op_lock held). */
static void map_request(struct scif_map *m, enum map_req req, size_t lo,
			size_t hi, bool unmap)
{
	uint64_t one = 1;

	pthread_mutex_lock(&m->lock);
	m->req = req;
	m->req_lo = lo;
	m->req_hi = hi;
	m->req_unmap = unmap;
	m->req_done = false;
	pthread_mutex_unlock(&m->lock);
	if (write(m->evfd, &one, sizeof(one)) != sizeof(one))
		scif_err("write(eventfd): %m");
	pthread_mutex_lock(&m->lock);
	while (!m->req_done)
		pthread_cond_wait(&m->cond, &m->lock);
	m->req = REQ_NONE;
	pthread_mutex_unlock(&m->lock);
}

static void map_unlink(struct scif_lib *lib, struct scif_map *m)
{
	struct scif_map **pp;

	pthread_mutex_lock(&lib->maps_lock);
	for (pp = &lib->maps; *pp && *pp != m; pp = &(*pp)->next)
		;
	if (*pp) {
		*pp = m->next;
		__atomic_sub_fetch(&lib->nmaps, 1, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&lib->maps_lock);
}

/*
 * (maps_op_lock held) The pages of [lo, hi) leave every mapping holding
 * them, their writes sent back first: the caller unmaps or replaces them,
 * or the threads do (unmap).  Mappings left without pages end.  ep, if not
 * NULL, limits it to that endpoint's mappings.
 */
static void maps_forget(struct scif_lib *lib, uintptr_t lo, uintptr_t hi,
			struct scif_ep *ep, bool unmap)
{
	struct scif_map *m, *next, *empty = NULL;

	pthread_mutex_lock(&lib->maps_lock);
	m = lib->maps;
	pthread_mutex_unlock(&lib->maps_lock);
	/* the list changes only under maps_op_lock, which we hold */
	for (; m; m = next) {
		uintptr_t b = (uintptr_t)m->base, e = b + m->len;

		size_t plo, phi;

		next = m->next;
		if ((ep && m->ep != ep) || hi <= b || lo >= e)
			continue;
		plo = ((lo > b ? lo : b) - b) / m->pg;
		phi = ((hi < e ? hi : e) - b) / m->pg;
		if (m->direct)
			scif__map_direct_forget(m, plo, phi, unmap);
		else
			map_request(m, REQ_FORGET, plo, phi, unmap);
		if (!(m->direct ? m->nleft : m->req_left)) {
			map_unlink(lib, m);
			m->next = empty;
			empty = m;
		}
	}
	for (m = empty; m; m = next) {
		next = m->next;
		if (!m->direct) {
			map_request(m, REQ_STOP, 0, m->npages, false);
			pthread_join(m->thread, NULL);
		}
		map_free(m);
	}
}

static int map_create(struct scif_ep *ep, void *addr, size_t len, int prot,
		      int flags, uint64_t off, void **out)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	struct scif_lib *lib = ep->lib;
	struct scif_map *m;
	bool readable;
	int ret = map_check(ep, off, (len + pg - 1) / pg * pg, prot, &readable);

	if (ret)
		return ret;
	m = map_alloc(ep, len, off, prot, pg);
	if (!m)
		return -ENOMEM;
	m->readable = readable;
	pthread_mutex_lock(&lib->maps_op_lock);
	if (flags & SCIF_MAP_FIXED) /* the mappings it replaces write back */
		maps_forget(lib, (uintptr_t)addr, (uintptr_t)addr + m->len,
			    NULL, false);
	/* the peer's memory itself where it can be, else the thread's */
	ret = scif__map_direct(m, addr, flags & SCIF_MAP_FIXED);
	if (ret)
		ret = map_start(m, addr, flags & SCIF_MAP_FIXED);
	if (ret && (flags & SCIF_MAP_FIXED)) /* the old pages are not ours */
		munmap(addr, m->len);
	/* pages there the application unmapped itself are no longer those
	 * of an older mapping (a direct one is not told) */
	if (!ret && !(flags & SCIF_MAP_FIXED))
		maps_forget(lib, (uintptr_t)m->base,
			    (uintptr_t)m->base + m->len, NULL, false);
	if (!ret) {
		pthread_mutex_lock(&lib->maps_lock);
		m->next = lib->maps;
		lib->maps = m;
		__atomic_add_fetch(&lib->nmaps, 1, __ATOMIC_RELAXED);
		pthread_mutex_unlock(&lib->maps_lock);
		*out = m->base;
	}
	if (!ret && m->direct)
		scif__map_direct_recheck(m);
	pthread_mutex_unlock(&lib->maps_op_lock);
	if (ret)
		map_free(m);
	return ret;
}

SCIF_EXPORT void *scif_mmap(void *addr, size_t len, int prot_flags,
			    int map_flags, scif_epd_t epd, off_t offset)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	struct scif_ep *ep;
	void *out = NULL;
	int ret = scif__ep_lookup(epd, &ep);

	if (ret) {
		errno = -ret;
		return SCIF_MMAP_FAILED;
	}
	ret = map_args(addr, len, prot_flags, map_flags, offset, pg);
	/* the kernel's windows (mic) are not the core's: not mapped here */
	if (!ret && ep->ops->ep_kcall)
		ret = -ENOSYS;
	if (!ret)
		ret = map_create(ep, addr, len, prot_flags, map_flags,
				 (uint64_t)offset, &out);
	scif__ep_put(ep);
	if (ret) {
		errno = -ret;
		return SCIF_MMAP_FAILED;
	}
	return out;
}

SCIF_EXPORT int scif_munmap(void *addr, size_t len)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);
	struct scif_lib *lib;
	int ret = 0;

	if ((uintptr_t)addr % pg || !len || len > SIZE_MAX - pg)
		return scif__ret(-EINVAL);
	len = (len + pg - 1) / pg * pg;
	lib = scif__lib();
	if (!lib)
		return -1; /* errno set */
	pthread_mutex_lock(&lib->maps_op_lock);
	maps_forget(lib, (uintptr_t)addr, (uintptr_t)addr + len, NULL, false);
	if (munmap(addr, len)) {
		ret = -errno;
		scif_err("munmap(%p, %zu): %m", addr, len);
	}
	pthread_mutex_unlock(&lib->maps_op_lock);
	return scif__ret(ret);
}

/* Internal (tests, diagnostics): what the fault thread of the mapping
 * holding addr has done: faults answered, fetches, and pages fetched.
 * -ENOENT when addr is in no mapping of the fault thread's. */
int scif__mmap_stats(const void *addr, uint64_t *faults, uint64_t *fetches,
		     uint64_t *pages)
{
	struct scif_lib *lib = scif__lib();
	struct scif_map *m;
	int ret = -ENOENT;

	if (!lib)
		return -errno;
	pthread_mutex_lock(&lib->maps_lock);
	for (m = lib->maps; m; m = m->next) {
		if (m->direct || (const char *)addr < m->base ||
		    (const char *)addr >= m->base + m->len)
			continue;
		*faults = __atomic_load_n(&m->st_faults, __ATOMIC_RELAXED);
		*fetches = __atomic_load_n(&m->st_fetches, __ATOMIC_RELAXED);
		*pages = __atomic_load_n(&m->st_pages, __ATOMIC_RELAXED);
		ret = 0;
		break;
	}
	pthread_mutex_unlock(&lib->maps_lock);
	return ret;
}

/* [ep locked] The peer unregistered [off, off+len): the threads of the
 * endpoint's mappings poison the pages it held (without waiting: the
 * unregistration is answered while they do). */
void scif__mmap_win_gone(struct scif_ep *ep, uint64_t off, uint64_t len)
{
	struct scif_lib *lib = ep->lib;
	struct scif_map *m;
	uint64_t one = 1;

	pthread_mutex_lock(&lib->maps_lock);
	for (m = lib->maps; m; m = m->next) {
		if (m->ep != ep || off >= m->off + m->len ||
		    off + len <= m->off)
			continue;
		if (m->direct) { /* at once: nothing to wait for */
			scif__map_direct_gone(m, off, len, false);
			continue;
		}
		pthread_mutex_lock(&m->lock);
		if (m->nnotice < MAP_NOTICES) {
			m->notice[m->nnotice].off = off;
			m->notice[m->nnotice++].len = len;
		} else {
			m->notice_all = true;
		}
		pthread_mutex_unlock(&m->lock);
		if (write(m->evfd, &one, sizeof(one)) != sizeof(one))
			scif_err("write(eventfd): %m");
	}
	pthread_mutex_unlock(&lib->maps_lock);
}

/* [ep locked] The connection ended: the endpoint's direct mappings raise
 * SIGBUS from now on (the others do when their next transfer fails). */
void scif__mmap_conn_gone(struct scif_ep *ep)
{
	struct scif_lib *lib = ep->lib;
	struct scif_map *m;

	if (!__atomic_load_n(&lib->nmaps, __ATOMIC_RELAXED))
		return;
	pthread_mutex_lock(&lib->maps_lock);
	for (m = lib->maps; m; m = m->next)
		if (m->ep == ep && m->direct)
			scif__map_direct_gone(m, 0, 0, true);
	pthread_mutex_unlock(&lib->maps_lock);
}

SCIF_HOT bool scif__mmap_holds(struct scif_ep *ep, const void *addr, size_t len)
{
	uintptr_t a = (uintptr_t)addr;
	struct scif_map *m;
	bool any = false;

	if (!__atomic_load_n(&ep->lib->nmaps, __ATOMIC_RELAXED))
		return false;
	pthread_mutex_lock(&ep->lib->maps_lock);
	for (m = ep->lib->maps; m && !any; m = m->next)
		any = m->ep == ep && !m->direct &&
		      a < (uintptr_t)m->base + m->len &&
		      a + len > (uintptr_t)m->base;
	pthread_mutex_unlock(&ep->lib->maps_lock);
	return any;
}

static bool have_maps(struct scif_lib *lib, struct scif_ep *ep)
{
	struct scif_map *m;
	bool any = false;

	pthread_mutex_lock(&lib->maps_lock);
	for (m = lib->maps; m && !any; m = m->next)
		any = m->ep == ep;
	pthread_mutex_unlock(&lib->maps_lock);
	return any;
}

/* scif_close: the endpoint's mappings write back and are unmapped. */
void scif__mmap_ep_close(struct scif_ep *ep)
{
	struct scif_lib *lib = ep->lib;

	if (!have_maps(lib, ep))
		return;
	pthread_mutex_lock(&lib->maps_op_lock);
	maps_forget(lib, 0, UINTPTR_MAX, ep, true);
	pthread_mutex_unlock(&lib->maps_op_lock);
}

/* msync(MS_SYNC or MS_INVALIDATE) of [addr, addr+len) (libscif/msync.c,
 * after the C library's msync accepted it): the pages of mappings there
 * are written back; invalidate: then dropped, so the next load fetches
 * them.  Never starts the library. */
void scif__mmap_sync(void *addr, size_t len, bool invalidate)
{
	struct scif_lib *lib = scif__lib_if_up();
	uintptr_t lo = (uintptr_t)addr, hi = lo + len;
	struct scif_map *m;
	int cs;

	if (!lib || !__atomic_load_n(&lib->nmaps, __ATOMIC_RELAXED))
		return;
	if (hi < lo)
		hi = UINTPTR_MAX;
	/* a cancellation point must not leave maps_op_lock held */
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &cs);
	pthread_mutex_lock(&lib->maps_op_lock);
	for (m = lib->maps; m; m = m->next) {
		uintptr_t b = (uintptr_t)m->base, e = b + m->len;

		if (hi <= b || lo >= e || m->direct) /* nothing to do */
			continue;
		map_request(m, invalidate ? REQ_INVALIDATE : REQ_FLUSH,
			    ((lo > b ? lo : b) - b) / m->pg,
			    ((hi < e ? hi : e) - b + m->pg - 1) / m->pg, false);
	}
	pthread_mutex_unlock(&lib->maps_op_lock);
	pthread_setcancelstate(cs, NULL);
}

/* A fence call: the writes made through the endpoint's mappings so far
 * reach the peer before the fence is marked or signalled. */
void scif__mmap_flush(struct scif_ep *ep)
{
	struct scif_lib *lib = ep->lib;
	struct scif_map *m;

	if (!have_maps(lib, ep))
		return;
	pthread_mutex_lock(&lib->maps_op_lock);
	for (m = lib->maps; m; m = m->next)
		if (m->ep == ep && !m->direct)
			map_request(m, REQ_FLUSH, 0, m->npages, false);
	pthread_mutex_unlock(&lib->maps_op_lock);
}
