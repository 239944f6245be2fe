/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * An ordered index of non-overlapping ranges [start, end): an intrusive AVL
 * tree keyed by start.  Each node also keeps, for its subtree, the lowest
 * start, the highest end and the widest hole between two of its ranges, so
 * the lowest free range of a given length is found in O(log n) (placing a
 * window among 10,000 without walking them).  Find, insert and erase are
 * O(log n), a walk over the k ranges meeting an interval O(log n + k).
 */
#ifndef SCIF_RTREE_H
#define SCIF_RTREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct scif_rnode {
	struct scif_rnode *l, *r, *p;
	uint64_t start, end;  /* the range; set before insert, fixed while in */
	uint64_t lo, hi, gap; /* subtree: lowest start, highest end, widest hole */
	int h;		      /* height of the subtree */
};

struct scif_rtree {
	struct scif_rnode *root;
	size_t n;
	/* the last range found: one RMA looks its windows up several times
	 * (check, split, bookkeeping), a descent costs cache misses */
	struct scif_rnode *hint;
};

#define scif_rnode_entry(ptr, type, member)                                    \
	((type *)(void *)((char *)(ptr)-offsetof(type, member)))

static inline bool scif_rtree_empty(const struct scif_rtree *t)
{
	return !t->root;
}

/* Whether n (which ends after s) starts before s + len. */
static inline bool scif_rnode_meets(const struct scif_rnode *n, uint64_t s,
				    uint64_t len)
{
	return n->start < s || n->start - s < len;
}

/* Insert n ([n->start, n->end), end > start); -EADDRINUSE if it overlaps a
 * range already in the tree. */
int scif_rtree_insert(struct scif_rtree *t, struct scif_rnode *n);
void scif_rtree_erase(struct scif_rtree *t, struct scif_rnode *n);
/* The range containing x, or NULL. */
struct scif_rnode *scif_rtree_find(struct scif_rtree *t, uint64_t x);
/* The range with the greatest start <= x; the one with the least > x. */
struct scif_rnode *scif_rtree_floor(const struct scif_rtree *t, uint64_t x);
struct scif_rnode *scif_rtree_above(const struct scif_rtree *t, uint64_t x);
/* The lowest range ending after x (the first one a walk from x meets). */
struct scif_rnode *scif_rtree_first_after(const struct scif_rtree *t,
					  uint64_t x);
struct scif_rnode *scif_rtree_first(const struct scif_rtree *t);
struct scif_rnode *scif_rtree_next(const struct scif_rnode *n);
/* Whether [start, start + len) meets a range. */
bool scif_rtree_busy(const struct scif_rtree *t, uint64_t start, uint64_t len);
/* The lowest free [*out, *out + len) with start <= *out and *out + len <= max;
 * -EAGAIN if there is none. */
int scif_rtree_fit(const struct scif_rtree *t, uint64_t start, uint64_t len,
		   uint64_t max, uint64_t *out);

/* Walk the ranges meeting [s, s + len) in order (the body must not erase
 * the current node). */
#define scif_rtree_for_range(t, n, s, len)                                     \
	for ((n) = scif_rtree_first_after((t), (s));                           \
	     (n) && scif_rnode_meets((n), (s), (len)); (n) = scif_rtree_next(n))

#endif
