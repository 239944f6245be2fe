/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Memory-registration cache watched by a userfaultfd.  See regcache.h for
 * what it guarantees and its limits; this comment is about how.
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
 * Who owns a userfaultfd registration
 *   UFFDIO_REGISTER/UNREGISTER work on whole pages of the address space, not
 *   per entry, so a page stays registered while a cached entry or a pending
 *   registration covers it.  Unregistering goes through unreg_orphans(),
 *   which skips the pages such an owner covers, or happens after every
 *   owner of those pages was dropped or flagged.  Pages left registered with
 *   no owner ("strays", e.g. after a failed unregister) are harmless: their
 *   events match no entry and a page fault on them is answered like any
 *   other.
 *
 * Ordering against the application (why the monitor reads under the lock)
 *   The kernel blocks the thread calling munmap()/mremap()/madvise() until
 *   the monitor has read(2) the event.  The monitor takes the cache lock,
 *   reads and processes everything available, then unlocks.  So once
 *   munmap() returns, the entries it affects are already out of the tree
 *   for any get() that follows.  A registration being made while an event
 *   hits its range is flagged and used once.
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
#include "regcache.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef MADV_POPULATE_READ
#define MADV_POPULATE_READ 22 /* Linux 5.14 */
#endif
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

#define REQUIRED_FEATURES                                                    \
	(UFFD_FEATURE_EVENT_UNMAP | UFFD_FEATURE_EVENT_REMOVE |              \
	 UFFD_FEATURE_EVENT_REMAP)

struct avl {
	struct avl *l, *r;
	int h;
};

struct list {
	struct list *prev, *next;
};

struct scif_regcache_entry {
	uintptr_t start, end; /* page aligned, start < end */
	void *handle;
	unsigned ref;
	bool in_tree;
	bool flagged;  /* pending and hit by an event/unregister: use once */
	bool uffd_reg; /* its UFFDIO_REGISTER succeeded */
	struct avl node;
	struct list link;
};

struct scif_regcache {
	struct scif_regcache_ops ops;
	void *ctx;
	size_t max_bytes;
	uintptr_t page;

	pthread_mutex_t lock;
	struct avl *root;
	struct list lru, inuse, pending, dead;
	size_t lru_bytes; /* bytes of the entries on lru */
	struct scif_regcache_stats st;

	bool monitored;
	bool user_only; /* UFFD_USER_MODE_ONLY */
	int uffd, stop_fd;
	pthread_t thread;
	bool thread_running;
	bool read_err_logged, fault_err_logged;

	/* fork detection: a MADV_WIPEONFORK page reads 0 in a child */
	volatile unsigned char *fork_flag;
	pid_t pid;
};

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

#define link_entry(p) \
	((struct scif_regcache_entry *)((char *)(p) - \
		offsetof(struct scif_regcache_entry, link)))
#define node_entry(p) \
	((struct scif_regcache_entry *)((char *)(p) - \
		offsetof(struct scif_regcache_entry, node)))

/* ---- AVL tree of cached entries, keyed by start (unique) ---- */

static int avl_h(const struct avl *n)
{
	return n ? n->h : 0;
}

static void avl_fix(struct avl *n)
{
	int l = avl_h(n->l), r = avl_h(n->r);

	n->h = 1 + (l > r ? l : r);
}

static struct avl *avl_rot_right(struct avl *n)
{
	struct avl *l = n->l;

	n->l = l->r;
	l->r = n;
	avl_fix(n);
	avl_fix(l);
	return l;
}

static struct avl *avl_rot_left(struct avl *n)
{
	struct avl *r = n->r;

	n->r = r->l;
	r->l = n;
	avl_fix(n);
	avl_fix(r);
	return r;
}

static struct avl *avl_balance(struct avl *n)
{
	int b;

	avl_fix(n);
	b = avl_h(n->l) - avl_h(n->r);
	if (b > 1) {
		if (avl_h(n->l->l) < avl_h(n->l->r))
			n->l = avl_rot_left(n->l);
		return avl_rot_right(n);
	}
	if (b < -1) {
		if (avl_h(n->r->r) < avl_h(n->r->l))
			n->r = avl_rot_right(n->r);
		return avl_rot_left(n);
	}
	return n;
}

static uintptr_t avl_key(const struct avl *n)
{
	return node_entry(n)->start;
}

static struct avl *avl_insert(struct avl *t, struct avl *n)
{
	if (!t) {
		n->l = n->r = NULL;
		n->h = 1;
		return n;
	}
	if (avl_key(n) < avl_key(t))
		t->l = avl_insert(t->l, n);
	else
		t->r = avl_insert(t->r, n);
	return avl_balance(t);
}

static struct avl *avl_remove_min(struct avl *t, struct avl **min)
{
	if (!t->l) {
		*min = t;
		return t->r;
	}
	t->l = avl_remove_min(t->l, min);
	return avl_balance(t);
}

static struct avl *avl_remove(struct avl *t, struct avl *n)
{
	struct avl *m, *r;

	if (!t)
		return NULL;
	if (t == n) {
		if (!t->r)
			return t->l;
		r = avl_remove_min(t->r, &m);
		m->l = t->l;
		m->r = r;
		return avl_balance(m);
	}
	if (avl_key(n) < avl_key(t))
		t->l = avl_remove(t->l, n);
	else
		t->r = avl_remove(t->r, n);
	return avl_balance(t);
}

/* Cached entry with the greatest start <= x. */
static struct scif_regcache_entry *tree_floor(struct scif_regcache *rc,
					      uintptr_t x)
{
	struct avl *t = rc->root, *best = NULL;

	while (t) {
		if (avl_key(t) <= x) {
			best = t;
			t = t->r;
		} else {
			t = t->l;
		}
	}
	return best ? node_entry(best) : NULL;
}

/* Cached entry with the smallest start > x. */
static struct scif_regcache_entry *tree_above(struct scif_regcache *rc,
					      uintptr_t x)
{
	struct avl *t = rc->root, *best = NULL;

	while (t) {
		if (avl_key(t) > x) {
			best = t;
			t = t->l;
		} else {
			t = t->r;
		}
	}
	return best ? node_entry(best) : NULL;
}

/* Lowest cached entry overlapping [s, e), or NULL. */
static struct scif_regcache_entry *tree_first_overlap(struct scif_regcache *rc,
						      uintptr_t s, uintptr_t e)
{
	struct scif_regcache_entry *x = tree_floor(rc, s);

	if (x && x->end > s)
		return x;
	x = tree_above(rc, s);
	return x && x->start < e ? x : NULL;
}

/* ---- userfaultfd helpers (called with the lock held or at setup) ---- */

static int uffd_register(struct scif_regcache *rc, uintptr_t s, uintptr_t e)
{
	struct uffdio_register r = {
		.range = { .start = s, .len = e - s },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};

	return ioctl(rc->uffd, UFFDIO_REGISTER, &r) ? -errno : 0;
}

static int uffd_unregister(struct scif_regcache *rc, uintptr_t s, uintptr_t e)
{
	struct uffdio_range r = { .start = s, .len = e - s };

	if (s >= e)
		return 0;
	/* EINVAL: no mapping left there, or a mapping that cannot be
	 * watched took its place; both mean nothing of ours remains. */
	return ioctl(rc->uffd, UFFDIO_UNREGISTER, &r) ? -errno : 0;
}

/* Is x inside a cached entry or an unflagged pending registration?  Returns
 * the end of that owner, or 0. */
static uintptr_t owned_until(struct scif_regcache *rc, uintptr_t x)
{
	struct scif_regcache_entry *f = tree_floor(rc, x);
	uintptr_t end = 0;
	struct list *p;

	if (f && f->end > x)
		end = f->end;
	for (p = rc->pending.next; p != &rc->pending; p = p->next) {
		struct scif_regcache_entry *q = link_entry(p);

		if (!q->flagged && q->start <= x && q->end > x && q->end > end)
			end = q->end;
	}
	return end;
}

/* Start of the first owner beginning in (x, e), else e. */
static uintptr_t next_owner(struct scif_regcache *rc, uintptr_t x, uintptr_t e)
{
	struct scif_regcache_entry *a = tree_above(rc, x);
	uintptr_t n = a && a->start < e ? a->start : e;
	struct list *p;

	for (p = rc->pending.next; p != &rc->pending; p = p->next) {
		struct scif_regcache_entry *q = link_entry(p);

		if (!q->flagged && q->start > x && q->start < n)
			n = q->start;
	}
	return n;
}

/* Unregister the pages of [s, e) that no cached entry and no unflagged
 * pending registration covers. */
static void unreg_orphans(struct scif_regcache *rc, uintptr_t s, uintptr_t e)
{
	uintptr_t x = s;

	while (x < e) {
		uintptr_t o = owned_until(rc, x), n;
		int ret;

		if (o) {
			x = o;
			continue;
		}
		n = next_owner(rc, x, e);
		ret = uffd_unregister(rc, x, n);
		if (ret && ret != -EINVAL && ret != -ENOMEM)
			scif_dbg("UFFDIO_UNREGISTER %#lx-%#lx: %s",
				 (unsigned long)x, (unsigned long)n,
				 strerror(-ret));
		x = n;
	}
}

/* ---- entry state changes (lock held) ---- */

/* Take a cached entry out of the tree; an unreferenced one goes dead. */
static void tree_drop(struct scif_regcache *rc, struct scif_regcache_entry *x)
{
	rc->root = avl_remove(rc->root, &x->node);
	x->in_tree = false;
	rc->st.entries--;
	rc->st.bytes -= x->end - x->start;
	if (!x->ref) {
		rc->lru_bytes -= x->end - x->start;
		list_move(&rc->dead, &x->link);
	}
}

static void flag_pending(struct scif_regcache *rc, uintptr_t s, uintptr_t e)
{
	struct list *p;

	for (p = rc->pending.next; p != &rc->pending; p = p->next) {
		struct scif_regcache_entry *q = link_entry(p);

		if (q->start < e && q->end > s)
			q->flagged = true;
	}
}

/*
 * The pages of [s, e) changed.  Drop every cached entry overlapping it and
 * stop watching what remains of their ranges; registrations in progress
 * over it will be used once.  range_gone: [s, e) itself no longer exists
 * (UNMAP, REMAP source), so there is nothing to unregister there.
 */
static void invalidate_locked(struct scif_regcache *rc, uintptr_t s,
			      uintptr_t e, bool range_gone)
{
	struct scif_regcache_entry *x;

	flag_pending(rc, s, e);
	while ((x = tree_first_overlap(rc, s, e))) {
		uintptr_t xs = x->start, xe = x->end;

		tree_drop(rc, x);
		rc->st.invalidations++;
		if (!range_gone) {
			unreg_orphans(rc, xs, xe);
			continue;
		}
		if (xs < s)
			unreg_orphans(rc, xs, s);
		if (xe > e)
			unreg_orphans(rc, e, xe);
	}
}

/* Evict least recently used unreferenced entries while they cover more
 * than max_bytes. */
static void evict_locked(struct scif_regcache *rc)
{
	while (rc->lru_bytes > rc->max_bytes && !list_empty(&rc->lru)) {
		struct scif_regcache_entry *x = link_entry(rc->lru.prev);
		uintptr_t xs = x->start, xe = x->end;

		tree_drop(rc, x);
		rc->st.evictions++;
		unreg_orphans(rc, xs, xe);
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

/* ---- the monitor thread ---- */

static bool pending_covers(struct scif_regcache *rc, uintptr_t p)
{
	struct list *l;

	for (l = rc->pending.next; l != &rc->pending; l = l->next) {
		struct scif_regcache_entry *q = link_entry(l);

		if (q->start <= p && q->end > p)
			return true;
	}
	return false;
}

static void handle_pagefault(struct scif_regcache *rc, uintptr_t addr)
{
	static const uintptr_t huge[] = { 2UL << 20, 1UL << 30 };
	uintptr_t p = addr & ~(rc->page - 1);
	struct scif_regcache_entry *x = tree_floor(rc, p);
	struct uffdio_range w = { .start = p, .len = rc->page };
	int ret;
	size_t i;

	rc->st.faults++;

	/*
	 * A fault on a watched page means the page is not there (we watch in
	 * MISSING mode only).
	 *
	 * Only a registration in progress covers it: its pages are being
	 * faulted in (the provider pins them; get() prefaults with
	 * MADV_POPULATE_READ, so this happens only after a race or on old
	 * kernels).  Nothing cached is stale.  Resolve it as the kernel would
	 * for a first touch of anonymous or shmem memory, with a zero page,
	 * and keep watching.
	 */
	if (!(x && x->end > p) && pending_covers(rc, p)) {
		struct uffdio_zeropage zp = {
			.range = { .start = p, .len = rc->page },
		};

		if (!ioctl(rc->uffd, UFFDIO_ZEROPAGE, &zp))
			return; /* woken by the ioctl */
		if (errno == EEXIST) { /* populated meanwhile */
			ioctl(rc->uffd, UFFDIO_WAKE, &w);
			return;
		}
		/* hugetlbfs (no zero page), EAGAIN while the mappings
		 * change: do as below. */
	}

	/*
	 * Otherwise a page of a cached entry is gone without an unmap event
	 * (a shmem hole punched or truncated, or a provider that does not
	 * pin): the registration no longer describes this memory, drop the
	 * entries over it.  Answer by unregistering the page and waking the
	 * thread: it retries and the kernel resolves the fault as if we were
	 * not there (zero page for anonymous memory, the file's page or a
	 * hole for shmem, a huge page for hugetlbfs).  UFFDIO_ZEROPAGE would
	 * be wrong here: for shmem it would fill the file with zeros where
	 * the kernel may find data, it fails on hugetlbfs and while events
	 * are pending, and it would keep watching a range nobody caches.
	 */
	invalidate_locked(rc, p, p + rc->page, false);
	ret = uffd_unregister(rc, p, p + rc->page);
	/* hugetlbfs wants huge page alignment */
	for (i = 0; ret == -EINVAL && i < sizeof(huge) / sizeof(huge[0]); i++) {
		uintptr_t hp = addr & ~(huge[i] - 1);

		ret = uffd_unregister(rc, hp, hp + huge[i]);
		if (!ret) {
			w.start = hp;
			w.len = huge[i];
		}
	}
	/* UNREGISTER wakes the waiters of the range it unregisters; wake
	 * anyway for the case it found nothing (already unregistered). */
	if (ioctl(rc->uffd, UFFDIO_WAKE, &w) && !rc->fault_err_logged) {
		rc->fault_err_logged = true;
		scif_warn("UFFDIO_WAKE %#lx: %m", (unsigned long)p);
	}
}

static void handle_msg(struct scif_regcache *rc, const struct uffd_msg *m)
{
	switch (m->event) {
	case UFFD_EVENT_UNMAP:
		invalidate_locked(rc, m->arg.remove.start, m->arg.remove.end,
				  true);
		break;
	case UFFD_EVENT_REMOVE:
		/* madvise(DONTNEED/FREE/REMOVE): the mapping stays, its
		 * pages go. */
		invalidate_locked(rc, m->arg.remove.start, m->arg.remove.end,
				  false);
		break;
	case UFFD_EVENT_REMAP: {
		uintptr_t from = m->arg.remap.from, to = m->arg.remap.to,
			  len = m->arg.remap.len;

		invalidate_locked(rc, from, from + len, true);
		/* The moved mapping carries our registration to its new
		 * place; nothing of ours is cached there (the target was
		 * unmapped first, an UNMAP event). */
		invalidate_locked(rc, to, to + len, false);
		uffd_unregister(rc, to, to + len);
		break;
	}
	case UFFD_EVENT_PAGEFAULT:
		handle_pagefault(rc, m->arg.pagefault.address);
		break;
	default:
		break;
	}
}

static void monitor_drain(struct scif_regcache *rc)
{
	struct uffd_msg msgs[32];
	int rounds;

	for (rounds = 0; rounds < 64; rounds++) {
		ssize_t n = read(rc->uffd, msgs, sizeof(msgs)), i;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && !rc->read_err_logged) {
				rc->read_err_logged = true;
				scif_err("userfaultfd read: %m");
			}
			return;
		}
		for (i = 0; i < n / (ssize_t)sizeof(msgs[0]); i++)
			handle_msg(rc, &msgs[i]);
		if ((size_t)n < sizeof(msgs))
			return;
	}
}

static void *monitor_main(void *arg)
{
	struct scif_regcache *rc = arg;
	struct pollfd pfd[2] = {
		{ .fd = rc->uffd, .events = POLLIN },
		{ .fd = rc->stop_fd, .events = POLLIN },
	};

	for (;;) {
		if (poll(pfd, 2, -1) < 0) {
			if (errno != EINTR) {
				scif_err("userfaultfd poll: %m");
				usleep(1000);
			}
			continue;
		}
		if (pfd[1].revents)
			break;
		if (pfd[0].revents) {
			/* Read under the lock: see the top of this file. */
			pthread_mutex_lock(&rc->lock);
			monitor_drain(rc);
			pthread_mutex_unlock(&rc->lock);
		}
	}
	return NULL;
}

/* ---- setup ---- */

static int uffd_open(bool user_only)
{
	int fd = (int)syscall(SYS_userfaultfd,
			      O_CLOEXEC | O_NONBLOCK |
				      (user_only ? UFFD_USER_MODE_ONLY : 0));

	return fd < 0 ? -errno : fd;
}

/* Linux >= 6.1: /dev/userfaultfd gives a full userfaultfd to whoever may
 * open it, whatever vm.unprivileged_userfaultfd says. */
static int uffd_open_dev(void)
{
#ifdef USERFAULTFD_IOC_NEW
	int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC), fd;

	if (dev < 0)
		return -errno;
	fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
	fd = fd < 0 ? -errno : fd;
	close(dev);
	return fd;
#else
	return -ENOSYS;
#endif
}

/* Returns the descriptor, or -errno with *why describing the failure. */
static int uffd_setup(bool force_user_only, bool *user_only, const char **why)
{
	struct uffdio_api api = {
		.api = UFFD_API,
		.features = REQUIRED_FEATURES,
	};
	int fd = -ENOSYS;

	/*
	 * Prefer a userfaultfd that also handles faults taken in kernel mode
	 * (read(2) into a watched page, get_user_pages in the provider), so
	 * that they wait for the monitor instead of failing with EFAULT.
	 * That needs CAP_SYS_PTRACE, vm.unprivileged_userfaultfd=1 or access
	 * to /dev/userfaultfd; else fall back to UFFD_USER_MODE_ONLY
	 * (Linux >= 5.11).
	 */
	if (!force_user_only) {
		fd = uffd_open(false);
		if (fd == -EPERM) {
			int dfd = uffd_open_dev();

			if (dfd >= 0)
				fd = dfd;
		}
	}
	if (force_user_only || fd == -EPERM) {
		int ufd = uffd_open(true);

		/* EINVAL: the kernel predates UFFD_USER_MODE_ONLY */
		if (ufd >= 0 || ufd != -EINVAL || force_user_only)
			fd = ufd;
		*user_only = fd >= 0;
	}
	if (fd < 0) {
		*why = fd == -ENOSYS ? "no userfaultfd in this kernel" :
		       fd == -EPERM  ? "userfaultfd not permitted "
				       "(vm.unprivileged_userfaultfd=0)" :
				       "userfaultfd failed";
		return fd;
	}
	if (ioctl(fd, UFFDIO_API, &api)) {
		int ret = -errno;

		close(fd);
		*why = "UFFDIO_API refused the UNMAP/REMOVE/REMAP events";
		return ret;
	}
	if ((api.features & REQUIRED_FEATURES) != REQUIRED_FEATURES) {
		close(fd);
		*why = "kernel lacks UNMAP/REMOVE/REMAP events";
		return -ENOTSUP;
	}
	return fd;
}

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
	rc->uffd = uffd_setup(user_only, &rc->user_only, &why);
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
	ret = -pthread_create(&rc->thread, NULL, monitor_main, rc);
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
	while (rc->root) {
		struct scif_regcache_entry *x = node_entry(rc->root);

		rc->root = avl_remove(rc->root, rc->root);
		x->in_tree = false;
		if (!child)
			uffd_unregister(rc, x->start, x->end);
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
	struct scif_regcache_entry *x = tree_floor(rc, s);

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
	x = tree_first_overlap(rc, s, e);
	if (x && x->start < us)
		us = x->start;
	while (x) {
		if (x->end > ue)
			ue = x->end;
		x = tree_above(rc, x->start);
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
	ret = uffd_register(rc, us, ue);
	n->uffd_reg = !ret;
	if (ret)
		scif_dbg("UFFDIO_REGISTER %#lx-%#lx: %s (not cached)",
			 (unsigned long)us, (unsigned long)ue, strerror(-ret));
	ret = rc->ops.reg(rc->ctx, (void *)us, ue - us, &n->handle);

	pthread_mutex_lock(&rc->lock);
	list_del(&n->link);
	if (ret) {
		if (n->uffd_reg)
			unreg_orphans(rc, us, ue);
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
	for (x = tree_first_overlap(rc, us, ue); cache && x;
	     x = tree_above(rc, x->start)) {
		if (x->start >= ue)
			break;
		if (x->start < us || x->end > ue)
			cache = false;
	}
	if (cache) {
		while ((x = tree_first_overlap(rc, us, ue)))
			tree_drop(rc, x); /* covered by n: stays watched */
		rc->root = avl_insert(rc->root, &n->node);
		n->in_tree = true;
		rc->st.entries++;
		rc->st.bytes += ue - us;
	} else {
		if (n->uffd_reg)
			unreg_orphans(rc, us, ue);
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
