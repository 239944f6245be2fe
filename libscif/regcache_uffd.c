/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The userfaultfd side of the registration cache (regcache.c): watching
 * the cached ranges, the monitor thread and the events and page faults it
 * handles, and opening the userfaultfd.  The deadlock rules at the top of
 * regcache.c apply here too.
 *
 * Who owns a userfaultfd registration
 *   UFFDIO_REGISTER/UNREGISTER work on whole pages of the address space, not
 *   per entry, so a page stays registered while a cached entry or a pending
 *   registration covers it.  Unregistering goes through
 *   scif__regcache_unreg_orphans(), which skips the pages such an owner
 *   covers, or happens after every owner of those pages was dropped or
 *   flagged.  Pages left registered with no owner ("strays", e.g. after a
 *   failed unregister) are harmless: their events match no entry and a page
 *   fault on them is answered like any other.
 *
 * Ordering against the application (why the monitor reads under the lock)
 *   The kernel blocks the thread calling munmap()/mremap()/madvise() until
 *   the monitor has read(2) the event.  The monitor takes the cache lock,
 *   reads and processes everything available, then unlocks.  So once
 *   munmap() returns, the entries it affects are already out of the tree
 *   for any get() that follows.  A registration being made while an event
 *   hits its range is flagged and used once.
 */
#include "regcache_int.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/userfaultfd.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

#define REQUIRED_FEATURES                                                    \
	(UFFD_FEATURE_EVENT_UNMAP | UFFD_FEATURE_EVENT_REMOVE |              \
	 UFFD_FEATURE_EVENT_REMAP)

/* ---- userfaultfd helpers (called with the lock held or at setup) ---- */

int scif__regcache_uffd_register(struct scif_regcache *rc, uintptr_t s,
				 uintptr_t e)
{
	struct uffdio_register r = {
		.range = { .start = s, .len = e - s },
		.mode = UFFDIO_REGISTER_MODE_MISSING,
	};

	return ioctl(rc->uffd, UFFDIO_REGISTER, &r) ? -errno : 0;
}

int scif__regcache_uffd_unregister(struct scif_regcache *rc, uintptr_t s,
				   uintptr_t e)
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
	struct scif_regcache_entry *f = scif__regcache_tree_floor(rc, x);
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
	struct scif_regcache_entry *a = scif__regcache_tree_above(rc, x);
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
void scif__regcache_unreg_orphans(struct scif_regcache *rc, uintptr_t s,
				  uintptr_t e)
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
		ret = scif__regcache_uffd_unregister(rc, x, n);
		if (ret && ret != -EINVAL && ret != -ENOMEM)
			scif_dbg("UFFDIO_UNREGISTER %#lx-%#lx: %s",
				 (unsigned long)x, (unsigned long)n,
				 strerror(-ret));
		x = n;
	}
}

/* ---- invalidation (lock held) ---- */

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
	while ((x = scif__regcache_tree_first_overlap(rc, s, e))) {
		uintptr_t xs = x->start, xe = x->end;

		scif__regcache_tree_drop(rc, x);
		rc->st.invalidations++;
		if (!range_gone) {
			scif__regcache_unreg_orphans(rc, xs, xe);
			continue;
		}
		if (xs < s)
			scif__regcache_unreg_orphans(rc, xs, s);
		if (xe > e)
			scif__regcache_unreg_orphans(rc, e, xe);
	}
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
	struct scif_regcache_entry *x = scif__regcache_tree_floor(rc, p);
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
	ret = scif__regcache_uffd_unregister(rc, p, p + rc->page);
	/* hugetlbfs wants huge page alignment */
	for (i = 0; ret == -EINVAL && i < sizeof(huge) / sizeof(huge[0]); i++) {
		uintptr_t hp = addr & ~(huge[i] - 1);

		ret = scif__regcache_uffd_unregister(rc, hp, hp + huge[i]);
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
		scif__regcache_uffd_unregister(rc, to, to + len);
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

void *scif__regcache_monitor(void *arg)
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

/* A userfaultfd (UFFDIO_API not done yet): the descriptor, or -errno with
 * *why describing the failure.  Also used by mappings (mmap.c). */
int scif__uffd_open(bool force_user_only, bool *user_only, const char **why)
{
	int fd = -ENOSYS;

	/*
	 * Prefer a userfaultfd that also handles faults taken in kernel mode
	 * (read(2) into a watched page, get_user_pages in the provider), so
	 * that they wait for the monitor instead of failing with EFAULT.
	 * That needs CAP_SYS_PTRACE, vm.unprivileged_userfaultfd=1 or access
	 * to /dev/userfaultfd; else fall back to UFFD_USER_MODE_ONLY
	 * (Linux >= 5.11).
	 */
	*user_only = false;
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
	if (fd < 0)
		*why = fd == -ENOSYS ? "no userfaultfd in this kernel" :
		       fd == -EPERM  ? "userfaultfd not permitted "
				       "(vm.unprivileged_userfaultfd=0)" :
				       "userfaultfd failed";
	return fd;
}

/* Returns the descriptor, or -errno with *why describing the failure. */
int scif__regcache_uffd_setup(bool force_user_only, bool *user_only,
			      const char **why)
{
	struct uffdio_api api = {
		.api = UFFD_API,
		.features = REQUIRED_FEATURES,
	};
	int fd = scif__uffd_open(force_user_only, user_only, why);

	if (fd < 0)
		return fd;
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
