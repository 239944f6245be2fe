/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Memory-registration cache watched by a userfaultfd.  See regcache.h for
 * what it guarantees and its limits; this comment is about how.
 *
 * The userfaultfd side (watching ranges, the monitor thread, events and
 * page faults) is in regcache_uffd.c, with who owns a userfaultfd
 * registration and why the monitor reads under the lock.
 *
 * Data
 *   Cached ("in tree") entries never overlap each other: a get that overlaps
 *   cached entries without being covered registers the union and retires
 *   the overlapped entries.  They live in an AVL tree keyed by start, so a
 *   lookup is O(log n).  Every entry is also on exactly one list:
 *     pending  being registered by an application thread (not in the tree)
 *     lru      in the tree, unreferenced; head = most recently used
 *     inuse    referenced (in the tree or not)
 *     dead     unreferenced and out of the tree: to be deregistered
 *
 * Deadlock rules (the monitor must never wait for an application thread
 * that is itself waiting for the monitor)
 *   - Under the lock nobody calls the provider, malloc() or free() (free()
 *     may trim the heap: brk/munmap/MADV_DONTNEED of a watched page would
 *     then wait for the monitor, which waits for our lock), nor touches
 *     application memory.  Entries are allocated before locking and freed
 *     after unlocking; the provider runs outside the lock.
 *   - Under the lock only short work and the UFFDIO_* ioctls are done.  The
 *     ioctls take mmap_lock, which the kernel releases in every path that
 *     waits for the monitor (fault and event waits), so they cannot block on
 *     a thread waiting for us.
 *   - The monitor thread never calls ops->dereg(): a provider's dereg may
 *     free memory, and a free() that unmaps a watched page from the monitor
 *     thread would wait for itself.  Entries dropped by the monitor while
 *     unreferenced go to the dead list and are deregistered by the next
 *     application call (get/put/flush/destroy).  For the same reason the
 *     monitor runs with all signals blocked.
 *   - Left to the application: a signal handler that unmaps watched memory
 *     while it interrupts a cache call on the same thread (holding the
 *     lock) deadlocks with the monitor.
 */
#include "regcache_int.h"
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22 /* Linux 5.14 */
#endif

/* ---- lists ---- */

static void list_init(struct list *h)
{
	h->prev = h->next = h;
}

static bool list_empty(const struct list *h)
{
	return h->next == h;
}

static void list_del(struct list *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	n->prev = n->next = n;
}

static void list_add(struct list *h, struct list *n)
{
	n->next = h->next;
	n->prev = h;
	h->next->prev = n;
	h->next = n;
}

static void list_move(struct list *h, struct list *n)
{
	list_del(n);
	list_add(h, n);
}

/* Move all of src to dst (dst must be empty). */
static void list_splice(struct list *src, struct list *dst)
{
	list_init(dst);
	if (list_empty(src))
		return;
	dst->next = src->next;
	dst->prev = src->prev;
	dst->next->prev = dst;
	dst->prev->next = dst;
	list_init(src);
}

/* ---- the tree of cached entries (rtree.h: disjoint, by start) ---- */

/* Cached entry with the greatest start <= x. */
struct scif_regcache_entry *scif__regcache_tree_floor(struct scif_regcache *rc,
						       uintptr_t x)
{
	struct scif_rnode *n = scif_rtree_floor(&rc->tree, x);

	return n ? node_entry(n) : NULL;
}

/* Cached entry with the smallest start > x. */
struct scif_regcache_entry *scif__regcache_tree_above(struct scif_regcache *rc,
						       uintptr_t x)
{
	struct scif_rnode *n = scif_rtree_above(&rc->tree, x);

	return n ? node_entry(n) : NULL;
}

/* Lowest cached entry overlapping [s, e), or NULL. */
struct scif_regcache_entry *
scif__regcache_tree_first_overlap(struct scif_regcache *rc, uintptr_t s,
				  uintptr_t e)
{
	struct scif_regcache_entry *x = scif__regcache_tree_floor(rc, s);

	if (x && x->end > s)
		return x;
	x = scif__regcache_tree_above(rc, s);
	return x && x->start < e ? x : NULL;
}

/* ---- entry state changes (lock held) ---- */

/* Take a cached entry out of the tree; an unreferenced one goes dead. */
void scif__regcache_tree_drop(struct scif_regcache *rc,
			      struct scif_regcache_entry *x)
{
	scif_rtree_erase(&rc->tree, &x->node);
	x->in_tree = false;
	rc->st.entries--;
	rc->st.bytes -= x->end - x->start;
	if (!x->ref) {
		rc->lru_bytes -= x->end - x->start;
		list_move(&rc->dead, &x->link);
	}
}

/* Evict least recently used unreferenced entries while they cover more
 * than max_bytes. */
static void evict_locked(struct scif_regcache *rc)
{
	while (rc->lru_bytes > rc->max_bytes && !list_empty(&rc->lru)) {
		struct scif_regcache_entry *x = link_entry(rc->lru.prev);
		uintptr_t xs = x->start, xe = x->end;

		scif__regcache_tree_drop(rc, x);
		rc->st.evictions++;
		scif__regcache_unreg_orphans(rc, xs, xe);
	}
}

/* ---- outside the lock ---- */

static void reap(struct scif_regcache *rc, struct list *dead)
{
	while (!list_empty(dead)) {
		struct scif_regcache_entry *x = link_entry(dead->next);

		list_del(&x->link);
		rc->ops.dereg(rc->ctx, x->handle);
		free(x);
	}
}

static bool forked(struct scif_regcache *rc)
{
	if (rc->fork_flag)
		return __atomic_load_n(rc->fork_flag, __ATOMIC_RELAXED) == 0;
	return getpid() != rc->pid;
}

/* ---- setup ---- */

static void fork_flag_setup(struct scif_regcache *rc)
{
	void *p = mmap(NULL, rc->page, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	rc->pid = getpid();
	if (p == MAP_FAILED)
		return;
	if (madvise(p, rc->page, MADV_WIPEONFORK)) {
		munmap(p, rc->page);
		return;
	}
	*(volatile unsigned char *)p = 1;
	rc->fork_flag = p;
}

int scif__regcache_create(const struct scif_regcache_ops *ops, void *ctx,
			  size_t max_bytes, struct scif_regcache **out)
{
	struct scif_regcache *rc;
	const char *env = getenv("SCIF_REGCACHE_MONITOR"), *why = NULL;
	bool off = env && !strcmp(env, "0");
	bool user_only = env && !strcmp(env, "user");
	long pg = sysconf(_SC_PAGESIZE);
	sigset_t all, old;
	int ret;

	if (!ops || !ops->reg || !ops->dereg || !out)
		return -EINVAL;
	rc = calloc(1, sizeof(*rc));
	if (!rc)
		return -ENOMEM;
	rc->ops = *ops;
	rc->ctx = ctx;
	rc->max_bytes = max_bytes;
	rc->page = pg > 0 ? (uintptr_t)pg : 4096;
	rc->uffd = rc->stop_fd = -1;
	list_init(&rc->lru);
	list_init(&rc->inuse);
	list_init(&rc->pending);
	list_init(&rc->dead);
	ret = pthread_mutex_init(&rc->lock, NULL);
	if (ret) {
		free(rc);
		return -ret;
	}
	fork_flag_setup(rc);

	if (off) {
		why = "SCIF_REGCACHE_MONITOR=0";
		goto unmonitored;
	}
	rc->uffd = scif__regcache_uffd_setup(user_only, &rc->user_only, &why);
	if (rc->uffd < 0) {
		rc->uffd = -1;
		goto unmonitored;
	}
	rc->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (rc->stop_fd < 0) {
		ret = -errno;
		scif_err("eventfd: %m");
		goto err;
	}
	/* The monitor runs with every signal blocked: an application handler
	 * run on it that unmapped watched memory would wait for itself. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = -pthread_create(&rc->thread, NULL, scif__regcache_monitor, rc);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret) {
		scif_err("pthread_create: %s", strerror(-ret));
		goto err;
	}
	rc->thread_running = true;
	rc->monitored = true;
	scif_dbg("regcache %p: userfaultfd monitor started%s", (void *)rc,
		 rc->user_only ? " (UFFD_USER_MODE_ONLY)" : "");
	*out = rc;
	return 0;

unmonitored:
	scif_info("registration cache not monitored (%s): every transfer "
		  "registers its buffer anew", why);
	*out = rc;
	return 0;

err:
	if (rc->stop_fd >= 0)
		close(rc->stop_fd);
	close(rc->uffd);
	if (rc->fork_flag)
		munmap((void *)rc->fork_flag, rc->page);
	pthread_mutex_destroy(&rc->lock);
	free(rc);
	return ret;
}

void scif__regcache_destroy(struct scif_regcache *rc)
{
	struct list all, tmp;
	unsigned busy = 0;
	bool child;
	struct list *p;

	if (!rc)
		return;
	child = forked(rc);
	list_init(&all);
	pthread_mutex_lock(&rc->lock);
	/* Stop watching (the monitor still runs, so nobody's munmap can get
	 * stuck meanwhile), then collect every entry. */
	while (rc->tree.root) {
		struct scif_regcache_entry *x = node_entry(rc->tree.root);

		scif_rtree_erase(&rc->tree, &x->node);
		x->in_tree = false;
		if (!child)
			scif__regcache_uffd_unregister(rc, x->start, x->end);
	}
	rc->st.entries = 0;
	rc->st.bytes = 0;
	rc->lru_bytes = 0;
	for (p = rc->inuse.next; p != &rc->inuse; p = p->next)
		busy++;
	for (p = rc->pending.next; p != &rc->pending; p = p->next)
		busy++;
	list_splice(&rc->dead, &tmp);
	while (!list_empty(&tmp))
		list_move(&all, tmp.next);
	list_splice(&rc->lru, &tmp);
	while (!list_empty(&tmp))
		list_move(&all, tmp.next);
	list_splice(&rc->inuse, &tmp);
	while (!list_empty(&tmp))
		list_move(&all, tmp.next);
	pthread_mutex_unlock(&rc->lock);

	if (busy)
		scif_err("regcache destroyed with %u registrations still in use",
			 busy);
	if (rc->thread_running && !child) {
		uint64_t one = 1;

		if (write(rc->stop_fd, &one, sizeof(one)) != sizeof(one))
			scif_err("regcache monitor wake: %m");
		pthread_join(rc->thread, NULL);
	}
	/* Closing the userfaultfd drops any registration left (strays). */
	if (rc->uffd >= 0)
		close(rc->uffd);
	if (rc->stop_fd >= 0)
		close(rc->stop_fd);
	reap(rc, &all);
	if (rc->fork_flag)
		munmap((void *)rc->fork_flag, rc->page);
	pthread_mutex_destroy(&rc->lock);
	free(rc);
}

/* ---- get / put ---- */

static int get_uncached(struct scif_regcache *rc, uintptr_t s, uintptr_t e,
			struct scif_regcache_entry **ep)
{
	struct scif_regcache_entry *x = calloc(1, sizeof(*x));
	int ret;

	if (!x)
		return -ENOMEM;
	x->start = s;
	x->end = e;
	x->ref = 1;
	ret = rc->ops.reg(rc->ctx, (void *)s, e - s, &x->handle);
	if (ret) {
		free(x);
		return ret;
	}
	pthread_mutex_lock(&rc->lock);
	rc->st.misses++;
	rc->st.uncached++;
	list_add(&rc->inuse, &x->link);
	pthread_mutex_unlock(&rc->lock);
	*ep = x;
	return 0;
}

/* Cached entry covering [s, e): take a reference.  Lock held. */
static struct scif_regcache_entry *lookup_hit(struct scif_regcache *rc,
					      uintptr_t s, uintptr_t e)
{
	struct scif_regcache_entry *x = scif__regcache_tree_floor(rc, s);

	if (!x || x->end < e)
		return NULL;
	if (!x->ref++) {
		rc->lru_bytes -= x->end - x->start;
		list_move(&rc->inuse, &x->link);
	}
	rc->st.hits++;
	return x;
}

int scif__regcache_get(struct scif_regcache *rc, void *addr, size_t len,
		       struct scif_regcache_entry **ep, void **handle,
		       void **base)
{
	uintptr_t a = (uintptr_t)addr, s, e, us, ue;
	struct scif_regcache_entry *x, *n;
	struct list dead;
	bool cache;
	int ret;

	if (!rc || !ep || !handle || !base || !len ||
	    len > UINTPTR_MAX - a || a + len > UINTPTR_MAX - rc->page)
		return -EINVAL;
	s = a & ~(rc->page - 1);
	e = (a + len + rc->page - 1) & ~(rc->page - 1);

	if (!rc->monitored || forked(rc)) {
		ret = get_uncached(rc, s, e, &x);
		goto out;
	}

	pthread_mutex_lock(&rc->lock);
	x = lookup_hit(rc, s, e);
	list_splice(&rc->dead, &dead);
	pthread_mutex_unlock(&rc->lock);
	reap(rc, &dead);
	if (x) {
		ret = 0;
		goto out;
	}

	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	list_init(&n->link);
	pthread_mutex_lock(&rc->lock);
	x = lookup_hit(rc, s, e);
	if (x) {
		pthread_mutex_unlock(&rc->lock);
		free(n);
		ret = 0;
		goto out;
	}
	rc->st.misses++;
	/* Register the union with the cached entries it overlaps (disjoint
	 * and sorted, so they are a run from the first overlap on). */
	us = s;
	ue = e;
	x = scif__regcache_tree_first_overlap(rc, s, e);
	if (x && x->start < us)
		us = x->start;
	while (x) {
		if (x->end > ue)
			ue = x->end;
		x = scif__regcache_tree_above(rc, x->start);
		if (x && x->start >= ue)
			x = NULL;
	}
	n->start = us;
	n->end = ue;
	n->ref = 1;
	list_add(&rc->pending, &n->link);
	pthread_mutex_unlock(&rc->lock);

	/* Fault the pages in first (best effort: errors are the provider's
	 * to report), so the provider pinning them does not fault on watched
	 * missing pages, one monitor round trip per page. */
	madvise((void *)us, ue - us, MADV_POPULATE_READ);
	/* Watch, then register: a change after the UFFDIO_REGISTER is an
	 * event that flags this pending entry; one before it is already in
	 * the pages the provider pins. */
	ret = scif__regcache_uffd_register(rc, us, ue);
	n->uffd_reg = !ret;
	if (ret)
		scif_dbg("UFFDIO_REGISTER %#lx-%#lx: %s (not cached)",
			 (unsigned long)us, (unsigned long)ue, strerror(-ret));
	ret = rc->ops.reg(rc->ctx, (void *)us, ue - us, &n->handle);

	pthread_mutex_lock(&rc->lock);
	list_del(&n->link);
	if (ret) {
		if (n->uffd_reg)
			scif__regcache_unreg_orphans(rc, us, ue);
		list_splice(&rc->dead, &dead);
		pthread_mutex_unlock(&rc->lock);
		reap(rc, &dead);
		free(n);
		return ret;
	}
	cache = n->uffd_reg && !n->flagged;
	/* Another registration of an overlapping range may have been cached
	 * meanwhile; keep the tree disjoint: retire those we cover, and do
	 * not cache ours if one sticks out. */
	for (x = scif__regcache_tree_first_overlap(rc, us, ue); cache && x;
	     x = scif__regcache_tree_above(rc, x->start)) {
		if (x->start >= ue)
			break;
		if (x->start < us || x->end > ue)
			cache = false;
	}
	if (cache) {
		/* each is covered by n: stays watched */
		while ((x = scif__regcache_tree_first_overlap(rc, us, ue)))
			scif__regcache_tree_drop(rc, x);
		n->node.start = us;
		n->node.end = ue;
		/* free: the overlapping entries were just dropped */
		(void)scif_rtree_insert(&rc->tree, &n->node);
		n->in_tree = true;
		rc->st.entries++;
		rc->st.bytes += ue - us;
	} else {
		if (n->uffd_reg)
			scif__regcache_unreg_orphans(rc, us, ue);
		rc->st.uncached++;
	}
	list_add(&rc->inuse, &n->link);
	evict_locked(rc);
	list_splice(&rc->dead, &dead);
	pthread_mutex_unlock(&rc->lock);
	reap(rc, &dead);
	x = n;
	ret = 0;
out:
	if (!ret) {
		*ep = x;
		*handle = x->handle;
		*base = (void *)x->start;
	}
	return ret;
}

void scif__regcache_put(struct scif_regcache *rc,
			struct scif_regcache_entry *x)
{
	struct list dead;

	if (!rc || !x)
		return;
	pthread_mutex_lock(&rc->lock);
	if (!x->ref) {
		pthread_mutex_unlock(&rc->lock);
		scif_err("regcache put of an unreferenced entry %p", (void *)x);
		return;
	}
	if (!--x->ref) {
		if (x->in_tree) {
			rc->lru_bytes += x->end - x->start;
			list_move(&rc->lru, &x->link);
			evict_locked(rc);
		} else {
			list_move(&rc->dead, &x->link);
		}
	}
	list_splice(&rc->dead, &dead);
	pthread_mutex_unlock(&rc->lock);
	reap(rc, &dead);
}

void scif__regcache_entry_range(const struct scif_regcache_entry *x,
				void **base, size_t *len)
{
	if (base)
		*base = (void *)x->start;
	if (len)
		*len = x->end - x->start;
}

void scif__regcache_flush(struct scif_regcache *rc)
{
	struct list dead;

	if (!rc)
		return;
	pthread_mutex_lock(&rc->lock);
	list_splice(&rc->dead, &dead);
	pthread_mutex_unlock(&rc->lock);
	reap(rc, &dead);
}

void scif__regcache_stats(struct scif_regcache *rc,
			  struct scif_regcache_stats *st)
{
	if (!rc) {
		memset(st, 0, sizeof(*st));
		return;
	}
	pthread_mutex_lock(&rc->lock);
	*st = rc->st;
	pthread_mutex_unlock(&rc->lock);
}

bool scif__regcache_monitored(struct scif_regcache *rc)
{
	return rc && rc->monitored && !forked(rc);
}

bool scif__regcache_kernel_faults(struct scif_regcache *rc)
{
	return scif__regcache_monitored(rc) && !rc->user_only;
}
