/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Internals of the registration cache, shared by regcache.c (the cache)
 * and regcache_uffd.c (its userfaultfd monitor).  Nothing else includes
 * this: the interface is regcache.h.
 */
#ifndef SCIF_REGCACHE_INT_H
#define SCIF_REGCACHE_INT_H

#include "regcache.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "rtree.h"

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
	struct scif_rnode node; /* in the tree: the same range */
	struct list link;
};

struct scif_regcache {
	struct scif_regcache_ops ops;
	void *ctx;
	size_t max_bytes;
	uintptr_t page;

	pthread_mutex_t lock;
	struct scif_rtree tree; /* cached entries (rtree.h) */
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

#define link_entry(p) \
	((struct scif_regcache_entry *)((char *)(p) - \
		offsetof(struct scif_regcache_entry, link)))
#define node_entry(p) scif_rnode_entry(p, struct scif_regcache_entry, node)

/* regcache.c, lock held: queries on the tree of cached entries (see
 * their definitions), and taking an entry out of it. */
struct scif_regcache_entry *scif__regcache_tree_floor(struct scif_regcache *rc,
						       uintptr_t x);
struct scif_regcache_entry *scif__regcache_tree_above(struct scif_regcache *rc,
						       uintptr_t x);
struct scif_regcache_entry *
scif__regcache_tree_first_overlap(struct scif_regcache *rc, uintptr_t s,
				  uintptr_t e);
void scif__regcache_tree_drop(struct scif_regcache *rc,
			      struct scif_regcache_entry *x);

/* regcache_uffd.c: watching ranges (lock held or at setup), opening the
 * userfaultfd (returns it or -errno with *why set) and the monitor
 * thread's body (arg: the cache). */
int scif__regcache_uffd_register(struct scif_regcache *rc, uintptr_t s,
				 uintptr_t e);
int scif__regcache_uffd_unregister(struct scif_regcache *rc, uintptr_t s,
				   uintptr_t e);
void scif__regcache_unreg_orphans(struct scif_regcache *rc, uintptr_t s,
				  uintptr_t e);
int scif__regcache_uffd_setup(bool force_user_only, bool *user_only,
			      const char **why);
void *scif__regcache_monitor(void *arg);

#endif
