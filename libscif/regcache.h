/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Memory-registration cache for scif_vwriteto()/scif_vreadfrom() with
 * SCIF_RMA_USECACHE: keeps the provider registration (a memory region for
 * the verbs provider) of [addr, addr+len) so that a later transfer from the same
 * buffer skips the registration.  Provider neutral: the provider supplies
 * reg/dereg callbacks.  All state is owned by the caller's scif_regcache; the
 * functions are thread safe (one mutex per cache).
 *
 * How invalidation works
 * ----------------------
 * A cached registration pins the pages that backed the buffer when it was
 * registered.  If the application unmaps or remaps that memory (munmap,
 * mmap(MAP_FIXED) over it, mremap, madvise(MADV_DONTNEED/MADV_FREE/
 * MADV_REMOVE), brk shrink, or free() of a large block, which glibc turns
 * into munmap) the same virtual address is then backed by other pages and the
 * cached registration is stale: using it would move the old pages' contents.
 *
 * The cache watches the registered ranges with a userfaultfd (as libfabric's
 * uffd memory monitor does), so the kernel itself reports every such change,
 * whoever makes it (application, glibc, other libraries), without symbol
 * interposition:
 *  - every cached range is registered with UFFDIO_REGISTER_MODE_MISSING on a
 *    userfaultfd that asked for UFFD_FEATURE_EVENT_UNMAP, _REMOVE and _REMAP;
 *  - a monitor thread reads UNMAP, REMOVE and REMAP events and drops every
 *    cached entry overlapping the range (it is no longer found by lookups),
 *    unregisters what is left of the entries' ranges from the userfaultfd,
 *    and counts an invalidation.  An entry still referenced by a transfer
 *    keeps its registration until scif__regcache_put(); unreferenced dropped
 *    entries are deregistered by the next cache call from an application
 *    thread (get, put, flush or destroy: the monitor thread never calls the
 *    provider, see regcache.c);
 *  - the kernel makes munmap()/mremap()/madvise() wait until the monitor has
 *    read the event, and the monitor reads and processes events under the
 *    cache lock, so a lookup that starts after munmap() returned never sees
 *    the stale entry (no window);
 *  - a registration racing with an event (the event arrives while the
 *    provider registers) is used once and not cached;
 *  - get() prefaults the range (MADV_POPULATE_READ) before watching it, so
 *    pinning does not fault on watched pages.  Page faults that still
 *    reach the monitor never leave the faulting thread waiting: on a page
 *    only a registration in progress covers (a first touch racing with an
 *    MADV_DONTNEED) it installs the zero page (UFFDIO_ZEROPAGE) and keeps
 *    watching; on a page of a cached entry (the page vanished without an
 *    unmap event: shmem hole punched, or a provider that does not pin) it
 *    invalidates the entries over it, unregisters the page and wakes the
 *    thread, which then faults normally.
 *
 * Limits
 * ------
 *  - Only changes to this process's mappings are events.  Another process
 *    writing to shared memory is fine (same pages), but truncating or
 *    punching a hole in a shmem/memfd object (fallocate, ftruncate; from any
 *    process, this one included) replaces the pages behind our mapping
 *    without an event: it is only caught when this process next touches
 *    such a page (a fault), DMA issued before that uses the old pages.  DMA-only or device mappings
 *    (VM_PFNMAP/VM_IO, e.g. GPU or other MR memory mapped by a driver) and
 *    file-backed mappings other than shmem/hugetlbfs cannot be watched: such
 *    buffers are registered for one call and deregistered at put (counted in
 *    stats.uncached).  Hugetlbfs buffers are only watched when the requested
 *    page range happens to be huge-page aligned.
 *  - A range can be watched by one userfaultfd at a time: if the application
 *    or another library (or a second scif_regcache in this process) already
 *    watches it, that buffer is not cached either.
 *  - Pages that are merely swapped or migrated are not events (pinned pages
 *    are not moved); fork() does not invalidate: in the child the cache never
 *    hits (it registers for one call) and it must not be destroyed while the
 *    parent's lock was held at fork time.
 *  - The userfaultfd is normally created without UFFD_USER_MODE_ONLY (needs
 *    CAP_SYS_PTRACE or vm.unprivileged_userfaultfd=1) so faults the kernel
 *    takes on a watched page (read(2) into it, get_user_pages) are answered
 *    too; when only UFFD_USER_MODE_ONLY is allowed such a kernel access in
 *    the short window between an MADV_DONTNEED and the monitor unregistering
 *    the range fails with EFAULT instead of waiting.
 *  - Unmonitored mode: when no userfaultfd is available (ENOSYS, EPERM,
 *    vm.unprivileged_userfaultfd=0 on a kernel without UFFD_USER_MODE_ONLY,
 *    missing UNMAP/REMOVE/REMAP features, seccomp) or the environment
 *    variable SCIF_REGCACHE_MONITOR=0 is set, the cache does not cache:
 *    every get registers anew and every put deregisters.  Correct, but each
 *    transfer pays a registration.  This is logged once per cache at info
 *    level.
 *
 * Environment (read by scif__regcache_create):
 *   SCIF_REGCACHE_MONITOR=0     never monitor (no caching)
 *   SCIF_REGCACHE_MONITOR=user  use UFFD_USER_MODE_ONLY even when privileged
 *   SCIF_REGCACHE_MONITOR=1     (default) monitor when possible
 */
#ifndef SCIF_REGCACHE_H
#define SCIF_REGCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct scif_regcache;
struct scif_regcache_entry;

struct scif_regcache_ops {
	/* Register [addr, addr+len) (page-aligned by the cache); return 0
	 * and an opaque handle, or -errno.  Called without the cache lock,
	 * from application threads only. */
	int (*reg)(void *ctx, void *addr, size_t len, void **handle);
	/* Called once per successful reg, without the cache lock, from
	 * application threads only (never from the monitor thread). */
	void (*dereg)(void *ctx, void *handle);
};

struct scif_regcache_stats {
	uint64_t hits;          /* gets served by a cached entry */
	uint64_t misses;        /* gets that called ops->reg */
	uint64_t invalidations; /* cached entries dropped by a memory event */
	uint64_t evictions;     /* cached entries dropped by max_bytes (LRU) */
	uint64_t bytes;         /* bytes covered by cached entries (in use
				 * or not) */
	unsigned entries;       /* cached entries */
	uint64_t uncached;      /* registrations used once, not cached (range
				 * not watchable, raced with an event, or
				 * unmonitored mode) */
	uint64_t faults;        /* page faults the monitor answered (should
				 * stay near 0: see get's prefault) */
};

/*
 * max_bytes: unreferenced registered bytes kept by the cache: when the
 * cached entries no transfer uses cover more, the least recently used of
 * them are deregistered.  Entries in use are neither counted nor evicted.
 * 0 keeps no unreferenced entry; SIZE_MAX is unbounded.
 */
int scif__regcache_create(const struct scif_regcache_ops *ops, void *ctx,
			  size_t max_bytes, struct scif_regcache **out);
/* Deregisters everything; entries still referenced are an error (logged) and
 * are deregistered too. */
void scif__regcache_destroy(struct scif_regcache *rc);

/*
 * Find or create a registration covering [addr, addr+len) (len > 0).
 * Returns 0 with a referenced entry: *handle is the provider handle, *base
 * the registered start address (<= addr) so the caller computes offsets;
 * the registration covers at least [addr, addr+len).  Returns -errno (from
 * ops->reg, or -EINVAL / -ENOMEM) otherwise.
 */
int scif__regcache_get(struct scif_regcache *rc, void *addr, size_t len,
		       struct scif_regcache_entry **e, void **handle,
		       void **base);
void scif__regcache_put(struct scif_regcache *rc,
			struct scif_regcache_entry *e);
/* Registered range of an entry (base as returned by get, and its length). */
void scif__regcache_entry_range(const struct scif_regcache_entry *e,
				void **base, size_t *len);
void scif__regcache_stats(struct scif_regcache *rc,
			  struct scif_regcache_stats *st);
/* Deregister now the entries the monitor dropped since the last cache call
 * (otherwise done by the next get/put/destroy). */
void scif__regcache_flush(struct scif_regcache *rc);
/* True when invalidation is live (userfaultfd available); without it the
 * cache does not cache: every get registers anew and put deregisters. */
bool scif__regcache_monitored(struct scif_regcache *rc);
/* True when monitored and faults the kernel takes on watched pages are
 * handled too; false with UFFD_USER_MODE_ONLY (see Limits above). */
bool scif__regcache_kernel_faults(struct scif_regcache *rc);

#endif
