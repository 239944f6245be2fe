/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the ordered range index (libscif/rtree.c) behind the window
 * tables and the registration cache: 10^5 random inserts, erases, lookups
 * (containing, floor, above), range walks and free-range searches, each
 * checked against a plain model (an owner per unit of a small address
 * space, so ranges collide often), and the tree's invariants (AVL balance,
 * the subtree summaries, parent links, order) checked as it goes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "rtree.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define SPACE 4096 /* the model's address space, in units */
#define MAXLEN 24
#define NODES 2048
#define OPS 100000

struct model {
	struct scif_rnode node[NODES];
	bool in[NODES];
	int owner[SPACE]; /* index of the node covering the unit, or -1 */
	struct scif_rtree t;
	size_t n;
};

static uint64_t rnd(uint64_t n)
{
	return (uint64_t)random() % n;
}

/* Height of n's subtree; asserts every invariant below n. */
static int check_node(const struct scif_rnode *n, const struct scif_rnode *p,
		      size_t *count)
{
	uint64_t lo = n->start, hi = n->end, gap = 0;
	int hl = 0, hr = 0;

	assert_ptr_equal(n->p, p);
	assert_true(n->start < n->end);
	if (n->l) {
		assert_true(n->l->hi <= n->start);
		hl = check_node(n->l, n, count);
		lo = n->l->lo;
		gap = n->l->gap > n->start - n->l->hi ? n->l->gap :
							n->start - n->l->hi;
	}
	if (n->r) {
		assert_true(n->end <= n->r->lo);
		hr = check_node(n->r, n, count);
		hi = n->r->hi;
		if (n->r->gap > gap)
			gap = n->r->gap;
		if (n->r->lo - n->end > gap)
			gap = n->r->lo - n->end;
	}
	assert_true(hl - hr <= 1 && hr - hl <= 1);
	assert_int_equal(n->h, 1 + (hl > hr ? hl : hr));
	assert_int_equal(n->lo, lo);
	assert_int_equal(n->hi, hi);
	assert_int_equal(n->gap, gap);
	++*count;
	return n->h;
}

static void check_tree(struct model *m)
{
	size_t count = 0, walked = 0;
	const struct scif_rnode *n, *prev = NULL;

	if (m->t.root)
		check_node(m->t.root, NULL, &count);
	assert_int_equal(count, m->n);
	assert_int_equal(m->t.n, m->n);
	for (n = scif_rtree_first(&m->t); n; n = scif_rtree_next(n)) {
		assert_true(!prev || prev->end <= n->start);
		prev = n;
		walked++;
	}
	assert_int_equal(walked, m->n);
}

static bool model_busy(const struct model *m, uint64_t s, uint64_t len)
{
	for (uint64_t x = s; x < s + len && x < SPACE; x++)
		if (m->owner[x] >= 0)
			return true;
	return false;
}

static void op_insert(struct model *m)
{
	int i = (int)rnd(NODES);
	uint64_t s = rnd(SPACE), len = 1 + rnd(MAXLEN);
	bool busy;

	if (m->in[i] || s + len > SPACE)
		return;
	busy = model_busy(m, s, len);
	m->node[i].start = s;
	m->node[i].end = s + len;
	assert_int_equal(scif_rtree_insert(&m->t, &m->node[i]),
			 busy ? -EADDRINUSE : 0);
	if (busy)
		return;
	m->in[i] = true;
	m->n++;
	for (uint64_t x = s; x < s + len; x++)
		m->owner[x] = i;
}

static void op_erase(struct model *m)
{
	int i = (int)rnd(NODES);

	if (!m->in[i])
		return;
	scif_rtree_erase(&m->t, &m->node[i]);
	m->in[i] = false;
	m->n--;
	for (uint64_t x = m->node[i].start; x < m->node[i].end; x++)
		m->owner[x] = -1;
}

static void op_find(struct model *m)
{
	uint64_t x = rnd(SPACE + 8);
	int o = x < SPACE ? m->owner[x] : -1;
	struct scif_rnode *n = scif_rtree_find(&m->t, x);

	assert_ptr_equal(n, o >= 0 ? &m->node[o] : NULL);
}

/* floor and above: the nearest starts at or below x, and above it */
static void op_neighbours(struct model *m)
{
	uint64_t x = rnd(SPACE);
	struct scif_rnode *fl = NULL, *ab = NULL;

	for (uint64_t y = x + 1; y-- > 0 && !fl;)
		if (m->owner[y] >= 0)
			fl = &m->node[m->owner[y]];
	for (uint64_t y = x + 1; y < SPACE && !ab; y++)
		if (m->owner[y] >= 0 && m->node[m->owner[y]].start > x)
			ab = &m->node[m->owner[y]];
	assert_ptr_equal(scif_rtree_floor(&m->t, x), fl);
	assert_ptr_equal(scif_rtree_above(&m->t, x), ab);
}

/* The walk over [s, s + len) meets exactly the model's owners there. */
static void op_range(struct model *m)
{
	uint64_t s = rnd(SPACE), len = 1 + rnd(4 * MAXLEN), x = s;
	struct scif_rnode *n;

	scif_rtree_for_range(&m->t, n, s, len)
	{
		while (x < SPACE && x < s + len && m->owner[x] < 0)
			x++;
		assert_true(x < SPACE && x < s + len);
		assert_ptr_equal(n, &m->node[m->owner[x]]);
		x = n->end;
	}
	while (x < SPACE && x < s + len)
		assert_int_equal(m->owner[x++], -1);
	assert_int_equal(scif_rtree_busy(&m->t, s, len), model_busy(m, s, len));
}

static void op_fit(struct model *m)
{
	uint64_t s = rnd(SPACE), len = 1 + rnd(3 * MAXLEN), max, got = 0, x;
	int ret;

	max = rnd(4) ? SPACE : s + rnd(SPACE - s + 1);
	for (x = s; x + len <= max; x++)
		if (!model_busy(m, x, len))
			break;
	ret = scif_rtree_fit(&m->t, s, len, max, &got);
	if (x + len > max) {
		assert_int_equal(ret, -EAGAIN);
		return;
	}
	assert_int_equal(ret, 0);
	assert_int_equal(got, x);
}

static void random_ops(void **state)
{
	struct model *m = calloc(1, sizeof(*m));

	(void)state;
	assert_non_null(m);
	srandom(18);
	memset(m->owner, -1, sizeof(m->owner));
	for (int op = 0; op < OPS; op++) {
		/* phases that fill the space and drain it again */
		bool filling = (op / 20000) % 2 == 0;
		int k = (int)rnd(10);

		if (k < (filling ? 4 : 1))
			op_insert(m);
		else if (k < 5)
			op_erase(m);
		else if (k < 6)
			op_find(m);
		else if (k < 7)
			op_neighbours(m);
		else if (k < 9)
			op_range(m);
		else
			op_fit(m);
		if (op % 997 == 0)
			check_tree(m);
	}
	check_tree(m);
	free(m);
}

/* Sequential placement as scif_register does it: 10,000 windows packed
 * from a base, then holes punched and refilled lowest first. */
static void packed_fit(void **state)
{
	enum { N = 10000, PG = 4096 };
	const uint64_t base = 0x4000000000000000ull, max = 1ull << 63;
	struct scif_rnode *node = calloc(N, sizeof(*node));
	struct scif_rtree t = { 0 };
	uint64_t off;

	(void)state;
	assert_non_null(node);
	for (int i = 0; i < N; i++) {
		assert_int_equal(scif_rtree_fit(&t, base, PG, max, &off), 0);
		assert_int_equal(off, base + (uint64_t)i * PG);
		node[i].start = off;
		node[i].end = off + PG;
		assert_int_equal(scif_rtree_insert(&t, &node[i]), 0);
	}
	scif_rtree_erase(&t, &node[7777]);
	scif_rtree_erase(&t, &node[4242]);
	assert_int_equal(scif_rtree_fit(&t, base, 2 * PG, max, &off), 0);
	assert_int_equal(off, base + (uint64_t)N * PG);
	assert_int_equal(scif_rtree_fit(&t, base, PG, max, &off), 0);
	assert_int_equal(off, base + 4242ull * PG);
	assert_int_equal(scif_rtree_fit(&t, 0, PG, max, &off), 0);
	assert_int_equal(off, 0);
	/* nothing fits above the last window when it ends at the limit */
	assert_int_equal(scif_rtree_fit(&t, base, PG, base + N * PG, &off), 0);
	assert_int_equal(off, base + 4242ull * PG);
	assert_int_equal(scif_rtree_fit(&t, base, 2 * PG, base + N * PG, &off),
			 -EAGAIN);
	free(node);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(random_ops),
		cmocka_unit_test(packed_fit),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
