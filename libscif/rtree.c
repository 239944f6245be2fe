/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The ordered range index (rtree.h): a recursive AVL tree.  Every node on
 * a changed path is recomputed from its children (pull), which also keeps
 * the parent pointers used by the in-order walk.
 */
#include "rtree.h"

#include <errno.h>

static int height(const struct scif_rnode *n)
{
	return n ? n->h : 0;
}

static uint64_t max64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

static void pull(struct scif_rnode *n)
{
	struct scif_rnode *l = n->l, *r = n->r;

	n->h = 1 + (height(l) > height(r) ? height(l) : height(r));
	n->lo = l ? l->lo : n->start;
	n->hi = r ? r->hi : n->end;
	n->gap = 0;
	if (l) {
		n->gap = max64(l->gap, n->start - l->hi);
		l->p = n;
	}
	if (r) {
		n->gap = max64(n->gap, max64(r->gap, r->lo - n->end));
		r->p = n;
	}
}

static struct scif_rnode *rot_right(struct scif_rnode *n)
{
	struct scif_rnode *l = n->l;

	n->l = l->r;
	l->r = n;
	pull(n);
	pull(l);
	return l;
}

static struct scif_rnode *rot_left(struct scif_rnode *n)
{
	struct scif_rnode *r = n->r;

	n->r = r->l;
	r->l = n;
	pull(n);
	pull(r);
	return r;
}

static struct scif_rnode *balance(struct scif_rnode *n)
{
	int bf = height(n->l) - height(n->r);

	if (bf > 1) {
		if (height(n->l->l) < height(n->l->r))
			n->l = rot_left(n->l);
		return rot_right(n);
	}
	if (bf < -1) {
		if (height(n->r->r) < height(n->r->l))
			n->r = rot_right(n->r);
		return rot_left(n);
	}
	pull(n);
	return n;
}

static struct scif_rnode *insert(struct scif_rnode *n, struct scif_rnode *x)
{
	if (!n) {
		x->l = x->r = NULL;
		pull(x);
		return x;
	}
	if (x->start < n->start)
		n->l = insert(n->l, x);
	else
		n->r = insert(n->r, x);
	return balance(n);
}

static struct scif_rnode *remove_min(struct scif_rnode *n,
				     struct scif_rnode **min)
{
	if (!n->l) {
		*min = n;
		return n->r;
	}
	n->l = remove_min(n->l, min);
	return balance(n);
}

static struct scif_rnode *erase(struct scif_rnode *n, struct scif_rnode *x)
{
	struct scif_rnode *m, *r;

	if (x->start < n->start) {
		n->l = erase(n->l, x);
	} else if (x->start > n->start) {
		n->r = erase(n->r, x);
	} else { /* starts are unique: n is x */
		if (!n->r)
			return n->l;
		r = remove_min(n->r, &m);
		m->l = n->l;
		m->r = r;
		n = m;
	}
	return balance(n);
}

int scif_rtree_insert(struct scif_rtree *t, struct scif_rnode *n)
{
	if (scif_rtree_busy(t, n->start, n->end - n->start))
		return -EADDRINUSE;
	t->root = insert(t->root, n);
	t->root->p = NULL;
	t->n++;
	return 0;
}

void scif_rtree_erase(struct scif_rtree *t, struct scif_rnode *n)
{
	if (t->hint == n)
		t->hint = NULL;
	t->root = erase(t->root, n);
	if (t->root)
		t->root->p = NULL;
	t->n--;
}

struct scif_rnode *scif_rtree_first_after(const struct scif_rtree *t,
					  uint64_t x)
{
	struct scif_rnode *n = scif_rtree_floor(t, x);

	/* ranges do not overlap: the one containing x, else the next one */
	if (n && n->end > x)
		return n;
	return scif_rtree_above(t, x);
}

struct scif_rnode *scif_rtree_floor(const struct scif_rtree *t, uint64_t x)
{
	struct scif_rnode *n = t->root, *best = NULL;

	while (n) {
		if (n->start <= x) {
			best = n;
			n = n->r;
		} else {
			n = n->l;
		}
	}
	return best;
}

struct scif_rnode *scif_rtree_above(const struct scif_rtree *t, uint64_t x)
{
	struct scif_rnode *n = scif_rtree_floor(t, x);

	return n ? scif_rtree_next(n) : scif_rtree_first(t);
}

struct scif_rnode *scif_rtree_find(struct scif_rtree *t, uint64_t x)
{
	struct scif_rnode *n = t->hint;

	if (n && n->start <= x && x < n->end)
		return n;
	n = scif_rtree_first_after(t, x);
	if (!n || n->start > x)
		return NULL;
	t->hint = n;
	return n;
}

struct scif_rnode *scif_rtree_first(const struct scif_rtree *t)
{
	struct scif_rnode *n = t->root;

	while (n && n->l)
		n = n->l;
	return n;
}

struct scif_rnode *scif_rtree_next(const struct scif_rnode *n)
{
	if (n->r) {
		n = n->r;
		while (n->l)
			n = n->l;
		return (struct scif_rnode *)n;
	}
	while (n->p && n == n->p->r)
		n = n->p;
	return n->p;
}

bool scif_rtree_busy(const struct scif_rtree *t, uint64_t start, uint64_t len)
{
	struct scif_rnode *n = scif_rtree_first_after(t, start);

	return n && scif_rnode_meets(n, start, len);
}

/* The end of the first range (in order) that ends at or after start and is
 * followed, inside n's subtree, by a hole of at least len; 0 if none (no
 * range ends at 0).  Subtrees wholly below start or without such a hole
 * are skipped, so only one path straddles start: O(log n). */
static uint64_t first_hole(const struct scif_rnode *n, uint64_t start,
			   uint64_t len)
{
	uint64_t got;

	if (!n || n->gap < len || n->hi < start)
		return 0;
	got = first_hole(n->l, start, len);
	if (got)
		return got;
	if (n->l && n->l->hi >= start && n->start - n->l->hi >= len)
		return n->l->hi;
	if (n->r && n->end >= start && n->r->lo - n->end >= len)
		return n->end;
	return first_hole(n->r, start, len);
}

int scif_rtree_fit(const struct scif_rtree *t, uint64_t start, uint64_t len,
		   uint64_t max, uint64_t *out)
{
	uint64_t cand = start;

	if (scif_rtree_busy(t, start, len)) {
		/* the lowest free place above start follows a range's end */
		cand = first_hole(t->root, start, len);
		if (!cand)
			cand = t->root->hi;
	}
	if (cand > max || max - cand < len)
		return -EAGAIN;
	*out = cand;
	return 0;
}
