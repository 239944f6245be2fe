/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The fault thread of a scif_mmap mapping.
 *
 * The mapping is a shared mapping of a memfd, registered with a userfaultfd
 * of its own; the thread reaches the same pages through an alias mapping
 * that is not watched and is registered with the provider.  An access to a
 * page not mapped (never fetched: a MISSING fault; dropped since: MINOR)
 * is answered by reading the peer's window through the core's RMA path
 * straight into the alias and mapping the page with UFFDIO_CONTINUE
 * (write-protected on a writable mapping): no copy, and after the first
 * fetch no page allocation.  A write raises a WP fault: the page's fetched
 * bytes are kept (twin), the page is made writable and DIRTY.  Every tick
 * (half of SCIF_MMAP_COHERENCE_US): dirty pages are write-protected again
 * and the bytes that differ from their twin written to the peer, in
 * ascending address order; clean pages fetched before the previous tick
 * are unmapped (MADV_DONTNEED keeps the file's pages), so the next access
 * fetches them again.  A page the peer no longer has (window
 * unregistered, connection gone) is replaced by a mapping of an empty file:
 * an access raises SIGBUS, as past the end of a truncated file.
 *
 * Only this thread changes page states.  It takes the endpoint lock only
 * inside the RMA calls, never while a page of the mapping is touched by it,
 * and never runs in the progress thread (which completes its RMAs).
 */
#include "mmap_int.h"
#include "log.h"

#include <errno.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#ifndef UFFDIO_CONTINUE_MODE_WP /* Linux >= 6.5 */
#define UFFDIO_CONTINUE_MODE_WP ((__u64)1 << 1)
#endif

/* Bytes that differ closer than this are written back as one run. */
#define DIFF_GAP 64
/* Pages before a sequential reader's batch kept a tick longer (stale()) */
#define SEQ_BEHIND 8

static long long mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

/* A tick is half of the bound: a page fetched is dropped after one to two
 * ticks. */
static long long next_tick(const struct scif_map *m)
{
	return mono_ns() + (long long)m->lib->mmap_coherence_us * 500;
}

static bool writable(const struct scif_map *m)
{
	return m->prot & SCIF_PROT_WRITE;
}

static bool live(uint8_t s)
{
	return s == PG_AHEAD || s == PG_CLEAN || s == PG_DIRTY;
}

/* A page's age counts from its fetch: mapped after a read ahead, written
 * and written back, it keeps that tick (a page written every tick is
 * still dropped, and its other bytes fetched again, within the bound). */
static void set_state(struct scif_map *m, size_t p, uint8_t s)
{
	uint8_t o = m->state[p];

	m->nlive += live(s) - live(o);
	m->ndirty += (s == PG_DIRTY) - (o == PG_DIRTY);
	m->nleft -= (s == PG_GONE) - (o == PG_GONE);
	m->state[p] = s;
	if (live(s) && !live(o)) {
		if (m->live_lo >= m->live_hi)
			m->live_lo = m->live_hi = p;
		m->live_lo = p < m->live_lo ? p : m->live_lo;
		m->live_hi = p + 1 > m->live_hi ? p + 1 : m->live_hi;
	}
	if (s == PG_AHEAD || (s == PG_CLEAN && o == PG_ABSENT))
		m->epoch[p] = m->tick;
}

/* Stop watching [p, p+n) (faults there are woken and retried). */
static int unwatch(struct scif_map *m, size_t p, size_t n)
{
	struct uffdio_range r = { .start = (uintptr_t)map_page(m, p),
				  .len = n * m->pg };

	return ioctl(m->uffd, UFFDIO_UNREGISTER, &r) ? -errno : 0;
}

static void wake_range(struct scif_map *m, size_t p, size_t n)
{
	struct uffdio_range r = { .start = (uintptr_t)map_page(m, p),
				  .len = n * m->pg };

	if (ioctl(m->uffd, UFFDIO_WAKE, &r))
		scif_err("UFFDIO_WAKE: %m");
}

/* Pages [p, p+n) become inaccessible: an empty shared file mapped over
 * them raises SIGBUS on access; a faulting thread is woken to take it. */
static void poison(struct scif_map *m, size_t p, size_t n)
{
	int prot = writable(m) ? PROT_READ | PROT_WRITE :
		   m->prot	 ? PROT_READ :
				   PROT_NONE;
	size_t i;

	for (i = p; i < p + n; i++) {
		size_t j = i;

		if (m->state[i] == PG_GONE || m->state[i] == PG_DEAD)
			continue;
		while (j < p + n && m->state[j] != PG_GONE &&
		       m->state[j] != PG_DEAD)
			j++;
		/* unwatched first: the replacement must not wait for us to
		 * read its UNMAP event */
		if (unwatch(m, i, j - i) ||
		    mmap(map_page(m, i), (j - i) * m->pg, prot,
			 MAP_SHARED | MAP_FIXED, m->gonefd, 0) == MAP_FAILED) {
			/* still registered: faults keep being answered */
			scif_err("mapping %p: cannot poison %zu pages: %m",
				 (void *)m->base, j - i);
			i = j;
			continue;
		}
		wake_range(m, i, j - i);
		for (; i < j; i++)
			set_state(m, i, PG_DEAD);
	}
}

/* An RMA of the mapping failed: a page's window went (ENXIO, EACCES) or
 * the connection did (then every page). */
static void rma_failed(struct scif_map *m, size_t p, size_t n, int err)
{
	if (err == -ENXIO || err == -EACCES) {
		scif_warn("mapping %p: peer offset 0x%llx: %s: SIGBUS on access",
			  (void *)m->base,
			  (unsigned long long)(m->off + p * m->pg),
			  strerror(-err));
		poison(m, p, n);
		return;
	}
	scif_warn("mapping %p: the connection is gone (%s): every page raises "
		  "SIGBUS",
		  (void *)m->base, strerror(-err));
	poison(m, 0, m->npages);
}

static int write_protect(struct scif_map *m, size_t p, size_t n);

/* Map [p, p+n), fetched into the alias; write-protected on writable
 * mappings so the first write is seen.  Before Linux 6.5 UFFDIO_CONTINUE
 * cannot write-protect: the pages are protected right after, before the
 * faulting threads are woken (docs/mmap.md: the window this leaves). */
static int install(struct scif_map *m, size_t p, size_t n)
{
	bool wp = writable(m);
	size_t done = 0;

	while (done < n) {
		struct uffdio_continue c = {
			.range = { .start = (uintptr_t)map_page(m, p + done),
				   .len = (n - done) * m->pg },
			.mode = !wp		? 0 :
				m->continue_wp	? UFFDIO_CONTINUE_MODE_WP :
						  UFFDIO_CONTINUE_MODE_DONTWAKE,
		};

		if (!ioctl(m->uffd, UFFDIO_CONTINUE, &c))
			break;
		if (c.mapped > 0) {
			done += (size_t)c.mapped / m->pg;
			continue;
		}
		if (errno == EAGAIN) /* the address space was changing */
			continue;
		if (errno == EINVAL && wp && m->continue_wp) {
			m->continue_wp = false;
			continue;
		}
		if (errno == EEXIST) { /* mapped already: keep it */
			done++;
			continue;
		}
		scif_err("UFFDIO_CONTINUE at %p: %m", (void *)c.range.start);
		return -errno;
	}
	if (wp && !m->continue_wp) {
		write_protect(m, p, n);
		wake_range(m, p, n);
	}
	for (done = 0; done < n; done++)
		set_state(m, p + done, PG_CLEAN);
	return 0;
}

/* Fetch [p, p+n) of the peer's window into the alias and map it.  Read
 * ahead (ahead), page p stays unmapped: the fault on it tells us the
 * application got there, and the next batch is read ahead then. */
static int fetch(struct scif_map *m, size_t p, size_t n, bool ahead)
{
	int ret = 0;

	if (!m->readable) /* a write-only window reads as zeros */
		memset(m->alias + p * m->pg, 0, n * m->pg);
	else
		ret = scif__rma_mr_sync(m->ep, SCIF_RMA_OP_READ, &m->alias_mr,
					p * m->pg, n * m->pg,
					m->off + p * m->pg, 0);
	__atomic_store_n(&m->st_fetches, m->st_fetches + 1, __ATOMIC_RELAXED);
	__atomic_store_n(&m->st_pages, m->st_pages + n, __ATOMIC_RELAXED);
	if (ret && n > 1) { /* one window of several went: page by page */
		size_t i;

		for (i = 0; i < n; i++)
			if (m->state[p + i] == PG_ABSENT &&
			    (ret = fetch(m, p + i, 1, false)) == -ECONNRESET)
				return ret;
		return 0;
	}
	if (ret) {
		rma_failed(m, p, n, ret);
		return ret;
	}
	if (!ahead)
		return install(m, p, n);
	set_state(m, p, PG_AHEAD);
	return n > 1 ? install(m, p + 1, n - 1) : 0;
}

/* A dirty page whose mapping the application dropped (MADV_DONTNEED):
 * its bytes are still in the file, mapped again writable. */
static void install_dirty(struct scif_map *m, size_t p)
{
	struct uffdio_continue c = {
		.range = { .start = (uintptr_t)map_page(m, p), .len = m->pg },
	};

	if (ioctl(m->uffd, UFFDIO_CONTINUE, &c) && errno != EEXIST) {
		scif_err("UFFDIO_CONTINUE at %p: %m", (void *)map_page(m, p));
		wake_range(m, p, 1);
	}
}

/* A sequential reader faults on a page of the batches it is reading
 * through, dropped by a tick before it got there: it reads slower than the
 * bound lets a page live.  Fetched from there are as many pages as it got
 * through in the batch it is in, and the read ahead goes on at that size
 * (it doubles again while the reader keeps up), rather than from one page:
 * under load, a reader that lost its batch once kept losing it. */
static bool resume(struct scif_map *m, size_t p)
{
	size_t n = 0, max;

	if (m->batch < 2 || p < m->seq_reader || p >= m->seq_next)
		return false;
	max = p - m->seq_reader;
	max = max < 1 ? 1 : max > m->prefetch ? m->prefetch : max;
	while (n < max && p + n < m->npages && m->state[p + n] == PG_ABSENT)
		n++;
	scif_trace("mapping %p: fault at page %zu in a batch: fetching %zu",
		   (void *)m->base, p, n);
	fetch(m, p, n, false);
	m->batch = max;
	return true;
}

/* A MISSING fault at page p: fetch a run of absent pages from it, longer
 * while the faults are sequential. */
static void missing_fault(struct scif_map *m, size_t p)
{
	size_t max = m->prefetch, n = 0;

	if (m->state[p] == PG_DIRTY) { /* dropped by the application */
		install_dirty(m, p);
		return;
	}
	/* read ahead before the previous tick: too old to be mapped */
	if (m->state[p] == PG_AHEAD && m->tick - m->epoch[p] > 1)
		set_state(m, p, PG_ABSENT);
	if (m->state[p] == PG_AHEAD) { /* reached a batch read ahead */
		install(m, p, 1);
		m->seq_reader = p;
		m->ahead = true;
		m->batch = m->batch * 2 > max ? max : m->batch * 2;
		return;
	}
	if (m->state[p] == PG_CLEAN) /* the same, or answered already */
		set_state(m, p, PG_ABSENT);
	if (m->state[p] != PG_ABSENT) { /* poisoned or gone: retried */
		wake_range(m, p, 1);
		return;
	}
	if (resume(m, p))
		return;
	m->ahead = p == m->seq_next && m->batch;
	m->batch = m->ahead ? m->batch * 2 : 1;
	if (m->batch > max)
		m->batch = max;
	while (n < m->batch && p + n < m->npages &&
	       m->state[p + n] == PG_ABSENT)
		n++;
	scif_trace("mapping %p: fault at page %zu: fetching %zu", (void *)m->base,
		   p, n);
	fetch(m, p, n, false);
	m->seq_reader = m->seq_front = p;
	m->seq_next = p + n;
}

/* Sequential faults: the batch after the one just fetched, while the
 * application reads that one (and no fault waits).  Its first page is
 * left for the application's fault, which starts the next (fetch). */
static void read_ahead(struct scif_map *m)
{
	struct pollfd pfd = { .fd = m->uffd, .events = POLLIN };
	size_t p = m->seq_next, n = 0;

	m->ahead = false;
	if (poll(&pfd, 1, 0) > 0)
		return;
	while (n < m->batch && p + n < m->npages &&
	       m->state[p + n] == PG_ABSENT)
		n++;
	if (!n)
		return;
	scif_trace("mapping %p: reading ahead pages %zu+%zu", (void *)m->base,
		   p, n);
	fetch(m, p, n, true);
	m->seq_front = p;
	m->seq_next = p + n;
}

/* A write to a CLEAN page: keep its fetched bytes, let it be written. */
static void wp_fault(struct scif_map *m, size_t p)
{
	struct uffdio_writeprotect wp = {
		.range = { .start = (uintptr_t)map_page(m, p), .len = m->pg },
		.mode = 0,
	};

	if (m->state[p] != PG_CLEAN) { /* dropped meanwhile, or dirty */
		wake_range(m, p, 1);
		return;
	}
	scif_trace("mapping %p: page %zu written", (void *)m->base, p);
	memcpy(m->twin + p * m->pg, m->alias + p * m->pg, m->pg);
	if (ioctl(m->uffd, UFFDIO_WRITEPROTECT, &wp)) {
		scif_err("UFFDIO_WRITEPROTECT (clear) at %p: %m",
			 (void *)map_page(m, p));
		wake_range(m, p, 1);
		return;
	}
	set_state(m, p, PG_DIRTY);
}

static int write_protect(struct scif_map *m, size_t p, size_t n)
{
	struct uffdio_writeprotect wp = {
		.range = { .start = (uintptr_t)map_page(m, p),
			   .len = n * m->pg },
		.mode = UFFDIO_WRITEPROTECT_MODE_WP,
	};

	if (ioctl(m->uffd, UFFDIO_WRITEPROTECT, &wp)) {
		scif_err("UFFDIO_WRITEPROTECT at %p: %m", (void *)map_page(m, p));
		return -errno;
	}
	return 0;
}

/* Write the bytes of page p that differ from its twin to the peer, run by
 * run in ascending order. */
static int write_diff(struct scif_map *m, size_t p)
{
	const char *now = m->alias + p * m->pg, *was = m->twin + p * m->pg;
	size_t a = 0, b, e;
	int ret;

	for (;;) {
		while (a < m->pg && now[a] == was[a])
			a++;
		if (a == m->pg)
			return 0;
		for (b = e = a + 1; b < m->pg && b - e < DIFF_GAP; b++)
			if (now[b] != was[b])
				e = b + 1;
		ret = scif__rma_mr_sync(m->ep, SCIF_RMA_OP_WRITE, &m->alias_mr,
					p * m->pg + a, e - a,
					m->off + p * m->pg + a,
					SCIF_RMA_ORDERED);
		if (ret)
			return ret;
		a = e;
	}
}

/* Write back the dirty pages [p, p+n) (all DIRTY). */
static void write_back_run(struct scif_map *m, size_t p, size_t n)
{
	size_t i;
	int ret = write_protect(m, p, n);

	if (ret) /* still writable: stays dirty, tried again next tick */
		return;
	scif_trace("mapping %p: writing back pages %zu+%zu", (void *)m->base,
		   p, n);
	for (i = 0; i < n; i++) {
		ret = write_diff(m, p + i);
		if (ret) {
			rma_failed(m, p + i, n - i, ret);
			return;
		}
		set_state(m, p + i, PG_CLEAN);
	}
}

static void write_back(struct scif_map *m, size_t lo, size_t hi)
{
	size_t max = m->prefetch, p = lo;

	while (p < hi) {
		size_t n = 0;

		if (m->state[p] != PG_DIRTY) {
			p++;
			continue;
		}
		while (p + n < hi && n < max && m->state[p + n] == PG_DIRTY)
			n++;
		write_back_run(m, p, n);
		p += n;
	}
}

/* Page p is in state s and (all, or) was fetched before this tick. */
static bool stale(const struct scif_map *m, size_t p, uint8_t s, bool all)
{
	if (m->state[p] != s)
		return false;
	if (all)
		return true;
	if (m->epoch[p] == m->tick)
		return false;
	/* The last pages before a sequential reader's batch, fetched in the
	 * previous tick, are kept one tick more.  A memcpy of a large block
	 * reads four pages in turns, so the reader may have faulted on the
	 * batch's first page before it was done with them, and then waited
	 * for the whole fetch: dropped now, each would be fetched again, one
	 * page at a time (a fetch over verbs in a VM outlasts a tick). */
	return !(m->batch > 1 && p < m->seq_front &&
		 m->seq_front - p <= SEQ_BEHIND && m->epoch[p] + 1 == m->tick);
}

/* Drop the clean pages of [lo, hi) (all, or those fetched before this
 * tick) and forget those read ahead: their next access fetches them. */
static void drop(struct scif_map *m, size_t lo, size_t hi, bool all)
{
	size_t p = lo, i;

	while (p < hi) {
		size_t n = 0;

		while (p + n < hi && stale(m, p + n, PG_CLEAN, all))
			n++;
		if (!n) {
			if (stale(m, p, PG_AHEAD, all))
				set_state(m, p, PG_ABSENT); /* never mapped */
			p++;
			continue;
		}
		if (madvise(map_page(m, p), n * m->pg, MADV_DONTNEED))
			scif_err("madvise(DONTNEED) at %p: %m",
				 (void *)map_page(m, p));
		else
			for (i = 0; i < n; i++)
				set_state(m, p + i, PG_ABSENT);
		p += n;
	}
}

/* Write back, drop the pages fetched before the previous tick, then start
 * a new tick.  Only the span that holds live pages is scanned (a 64 MiB
 * mapping read in order has a few MiB of them). */
static void tick(struct scif_map *m)
{
	if (m->ndirty)
		write_back(m, m->live_lo, m->live_hi);
	drop(m, m->live_lo, m->live_hi, false);
	while (m->live_lo < m->live_hi && !live(m->state[m->live_lo]))
		m->live_lo++;
	while (m->live_hi > m->live_lo && !live(m->state[m->live_hi - 1]))
		m->live_hi--;
	m->tick++;
	m->next_tick_ns = next_tick(m);
}

/* FORGET: the pages of [lo, hi) leave the mapping (unmapped by the
 * caller, or by us when unmap is set). */
static void forget(struct scif_map *m, size_t lo, size_t hi, bool unmap)
{
	size_t p;

	write_back(m, lo, hi);
	for (p = lo; p < hi; p++) {
		if (m->state[p] == PG_GONE)
			continue;
		/* unwatched first: our own unmap must not wait for us to read
		 * its UNMAP event */
		if (unmap && (unwatch(m, p, 1) || munmap(map_page(m, p), m->pg)))
			scif_err("munmap(%p): %m", (void *)map_page(m, p));
		set_state(m, p, PG_GONE);
	}
}

/* The application unmapped or replaced [a, e) itself (munmap, mmap
 * MAP_FIXED): those pages are not ours any more. */
static void unmapped(struct scif_map *m, uintptr_t a, uintptr_t e)
{
	uintptr_t b = (uintptr_t)m->base;
	size_t p;

	if (a < b)
		a = b;
	for (p = (a - b) / m->pg; p < m->npages && map_page(m, p) < (char *)e;
	     p++)
		if (m->state[p] != PG_GONE)
			set_state(m, p, PG_GONE);
}

/* The peer unregistered windows: poison the pages they held. */
static void notices(struct scif_map *m)
{
	uint64_t off[MAP_NOTICES], len[MAP_NOTICES];
	bool all;
	size_t p, run;
	int i, n;

	pthread_mutex_lock(&m->lock);
	n = m->nnotice;
	all = m->notice_all;
	for (i = 0; i < n; i++) {
		off[i] = m->notice[i].off;
		len[i] = m->notice[i].len;
	}
	m->nnotice = 0;
	m->notice_all = false;
	pthread_mutex_unlock(&m->lock);
	/* runs of pages at once: an access after one page of a run raised
	 * SIGBUS finds every page of it poisoned */
	for (p = 0; p < m->npages; p += run ? run : 1) {
		for (run = 0; p + run < m->npages; run++) {
			uint64_t o = m->off + (p + run) * m->pg;
			bool gone = false, miss;

			for (i = 0; i < n && !gone; i++)
				gone = o + m->pg > off[i] &&
				       o < off[i] + len[i];
			if (!gone && all) {
				scif__ep_lock(m->ep);
				gone = scif__rma_check_remote(m->ep, o, m->pg,
							      0, &miss) != 0;
				scif__ep_unlock(m->ep);
			}
			if (!gone)
				break;
		}
		if (run)
			poison(m, p, run);
	}
}

/* The request, if any: carry it out and tell the caller.  Returns false
 * for REQ_STOP. */
static bool request(struct scif_map *m)
{
	enum map_req r;
	size_t lo, hi;
	bool unmap;

	pthread_mutex_lock(&m->lock);
	r = m->req_done ? REQ_NONE : m->req;
	lo = m->req_lo;
	hi = m->req_hi;
	unmap = m->req_unmap;
	pthread_mutex_unlock(&m->lock);
	if (r == REQ_FLUSH || r == REQ_INVALIDATE)
		write_back(m, lo, hi);
	if (r == REQ_INVALIDATE)
		drop(m, lo, hi, true);
	else if (r == REQ_FORGET)
		forget(m, lo, hi, unmap);
	else if (r == REQ_STOP)
		write_back(m, 0, m->npages);
	if (r == REQ_NONE)
		return true;
	pthread_mutex_lock(&m->lock);
	m->req_left = m->nleft;
	m->req_done = true;
	pthread_cond_broadcast(&m->cond);
	pthread_mutex_unlock(&m->lock);
	return r != REQ_STOP;
}

/* Read and answer the faults queued on the userfaultfd. */
static void faults(struct scif_map *m)
{
	struct uffd_msg msg[16];
	ssize_t k;
	int i;

	while ((k = read(m->uffd, msg, sizeof(msg))) > 0) {
		for (i = 0; i < (int)(k / (ssize_t)sizeof(msg[0])); i++) {
			uintptr_t a = (uintptr_t)msg[i].arg.pagefault.address;
			size_t p;

			if (msg[i].event == UFFD_EVENT_UNMAP)
				unmapped(m, (uintptr_t)msg[i].arg.remove.start,
					 (uintptr_t)msg[i].arg.remove.end);
			if (msg[i].event != UFFD_EVENT_PAGEFAULT)
				continue;
			p = (a - (uintptr_t)m->base) / m->pg;
			if (a < (uintptr_t)m->base || p >= m->npages)
				continue;
			__atomic_store_n(&m->st_faults, m->st_faults + 1,
					 __ATOMIC_RELAXED);
			if (msg[i].arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP)
				wp_fault(m, p);
			else
				missing_fault(m, p);
		}
	}
	if (k < 0 && errno != EAGAIN)
		scif_err("read(userfaultfd): %m");
}

void *scif__map_thread(void *arg)
{
	struct scif_map *m = arg;
	struct pollfd pfd[2] = { { .fd = m->uffd, .events = POLLIN },
				 { .fd = m->evfd, .events = POLLIN } };

	/* the first tick a period after the first pages, not at once */
	m->next_tick_ns = next_tick(m);
	for (;;) {
		long long left = m->next_tick_ns - mono_ns();
		struct timespec ts = { .tv_sec = left / 1000000000,
				       .tv_nsec = left % 1000000000 };
		uint64_t v;

		/* idle without pages to keep fresh or to write back */
		if (left > 0 &&
		    ppoll(pfd, 2, m->nlive ? &ts : NULL, NULL) < 0 &&
		    errno != EINTR)
			scif_err("ppoll: %m");
		if (pfd[1].revents & POLLIN) {
			if (read(m->evfd, &v, sizeof(v)) < 0 && errno != EAGAIN)
				scif_err("read(eventfd): %m");
			notices(m);
			if (!request(m))
				return NULL;
		}
		faults(m);
		if (m->ahead)
			read_ahead(m);
		if (!m->nlive)
			m->next_tick_ns = next_tick(m);
		else if (mono_ns() >= m->next_tick_ns)
			tick(m);
		pfd[0].revents = pfd[1].revents = 0;
	}
}
