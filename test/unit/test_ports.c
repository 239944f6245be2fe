/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the per-process port table (libscif/ports.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "ports.h"
#include "scif.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define NPORTS 65536u
#define SPAN (NPORTS - SCIF_PORT_RSVD) /* ports the allocator may hand out */

static int setup(void **state)
{
	struct scif_ports *p = calloc(1, sizeof(*p));

	if (!p || scif__ports_init(p)) {
		free(p);
		return -1;
	}
	*state = p;
	return 0;
}

static int teardown(void **state)
{
	struct scif_ports *p = *state;

	scif__ports_fini(p);
	free(p);
	return 0;
}

/* A provider stand-in: records every candidate it is asked about and answers
 * from a script. */
struct prov {
	unsigned calls;
	uint16_t seen[64];
	unsigned n_inuse;    /* answer -EADDRINUSE to the first n_inuse calls */
	int then;	     /* ... then answer this */
	unsigned char *hits; /* optional: per-port call counter */
};

static int prov_try(uint16_t port, void *arg)
{
	struct prov *pv = arg;

	if (pv->calls < sizeof(pv->seen) / sizeof(pv->seen[0]))
		pv->seen[pv->calls] = port;
	if (pv->hits && pv->hits[port] < 255)
		pv->hits[port]++;
	pv->calls++;
	if (pv->calls <= pv->n_inuse)
		return -EADDRINUSE;
	return pv->then;
}

/* ---- scif__port_take ---- */

static void test_take_zero_is_invalid(void **state)
{
	struct scif_ports *p = *state;

	assert_int_equal(scif__port_take(p, 0), -EINVAL);
	assert_int_equal(scif__port_refs(p, 0), 0);
}

static void test_take_twice_is_invalid(void **state)
{
	struct scif_ports *p = *state;

	assert_int_equal(scif__port_take(p, 5000), 0);
	assert_int_equal(scif__port_refs(p, 5000), 1);
	assert_int_equal(scif__port_take(p, 5000), -EINVAL);
	assert_int_equal(scif__port_refs(p, 5000), 1);
	/* Neighbours are unaffected. */
	assert_int_equal(scif__port_refs(p, 4999), 0);
	assert_int_equal(scif__port_refs(p, 5001), 0);
	assert_int_equal(scif__port_take(p, 5001), 0);
	/* Both ends of the range. */
	assert_int_equal(scif__port_take(p, 65535), 0);
	assert_int_equal(scif__port_take(p, 65535), -EINVAL);
	assert_int_equal(scif__port_take(p, SCIF_PORT_RSVD), 0);
	assert_int_equal(scif__port_take(p, SCIF_PORT_RSVD), -EINVAL);
	/* The reserved range between the admin ports and SCIF_PORT_RSVD may
	 * be taken explicitly. */
	assert_int_equal(scif__port_take(p, SCIF_ADMIN_PORT_END), 0);
	assert_int_equal(scif__port_take(p, SCIF_PORT_RSVD - 1), 0);
}

static void test_take_admin_port_as_root(void **state)
{
	struct scif_ports *p = *state;

	if (geteuid() != 0) {
		print_message("not root: case skipped\n");
		skip();
	}
	assert_true(scif__port_privileged());
	assert_int_equal(scif__port_take(p, 1), 0);
	assert_int_equal(scif__port_take(p, SCIF_ADMIN_PORT_END - 1), 0);
	assert_int_equal(scif__port_refs(p, SCIF_ADMIN_PORT_END - 1), 1);
	assert_int_equal(scif__port_take(p, SCIF_ADMIN_PORT_END - 1), -EINVAL);
}

/* Child exit codes of the non-root test. */
enum { C_OK = 0, C_SKIP = 77, C_PRIV = 10, C_ADMIN1, C_ADMIN1023, C_REFS,
       C_1024, C_ZERO, C_INIT };

static int child_unprivileged(void)
{
	struct scif_ports q;

	if (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534))
		return C_SKIP;
	if (geteuid() != 65534)
		return C_SKIP;
	if (scif__ports_init(&q))
		return C_INIT;
	if (scif__port_privileged())
		return C_PRIV;
	if (scif__port_take(&q, 1) != -EACCES)
		return C_ADMIN1;
	if (scif__port_take(&q, SCIF_ADMIN_PORT_END - 1) != -EACCES)
		return C_ADMIN1023;
	if (scif__port_refs(&q, SCIF_ADMIN_PORT_END - 1) != 0)
		return C_REFS;
	if (scif__port_take(&q, SCIF_ADMIN_PORT_END) != 0)
		return C_1024;
	if (scif__port_take(&q, 0) != -EINVAL)
		return C_ZERO;
	scif__ports_fini(&q);
	return C_OK;
}

static void test_take_admin_port_unprivileged(void **state)
{
	int status;
	pid_t pid;

	(void)state;
	if (geteuid() != 0) {
		/* Already unprivileged, unless we hold CAP_NET_BIND_SERVICE. */
		struct scif_ports q;

		if (scif__port_privileged()) {
			print_message("cannot drop privilege: case skipped\n");
			skip();
		}
		assert_int_equal(scif__ports_init(&q), 0);
		assert_int_equal(scif__port_take(&q, 1023), -EACCES);
		assert_int_equal(scif__port_take(&q, 1024), 0);
		scif__ports_fini(&q);
		return;
	}
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(child_unprivileged());
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == C_SKIP) {
		print_message("setresuid(65534) failed: case skipped\n");
		skip();
	}
	if (WEXITSTATUS(status) != C_OK)
		fail_msg("unprivileged child failed check %d",
			 WEXITSTATUS(status));
}

/* ---- scif__port_alloc ---- */

static void test_alloc_range_and_distinct(void **state)
{
	struct scif_ports *p = *state;
	unsigned char *used = calloc(NPORTS, 1);
	uint16_t port;
	unsigned i;

	assert_non_null(used);
	for (i = 0; i < 2000; i++) {
		port = 0;
		assert_int_equal(scif__port_alloc(p, NULL, NULL, &port), 0);
		if (port < SCIF_PORT_RSVD)
			fail_msg("allocated port %u < SCIF_PORT_RSVD", port);
		if (used[port])
			fail_msg("port %u handed out twice", port);
		used[port] = 1;
		assert_int_equal(scif__port_refs(p, port), 1);
		/* An explicit take of an allocated port fails. */
		assert_int_equal(scif__port_take(p, port), -EINVAL);
	}
	free(used);
}

static void test_alloc_does_not_reuse_just_released(void **state)
{
	/* Allocation goes round the port space: a port released a moment ago
	 * is not handed straight back (a late message for the old endpoint
	 * must not reach a new one), so successive results stay distinct
	 * even when each is released before the next allocation. */
	struct scif_ports *p = *state;
	unsigned char *used = calloc(NPORTS, 1);
	uint16_t port;
	unsigned i;

	assert_non_null(used);
	for (i = 0; i < 2000; i++) {
		assert_int_equal(scif__port_alloc(p, NULL, NULL, &port), 0);
		assert_true(port >= SCIF_PORT_RSVD);
		if (used[port])
			fail_msg("port %u handed out again after release "
				 "(allocation %u)", port, i);
		used[port] = 1;
		scif__port_release(p, port);
		assert_int_equal(scif__port_refs(p, port), 0);
	}
	free(used);
}

static void test_alloc_asks_provider_for_the_port_it_returns(void **state)
{
	struct scif_ports *p = *state;
	struct prov pv = { .then = 0 };
	uint16_t port = 0;

	assert_int_equal(scif__port_alloc(p, prov_try, &pv, &port), 0);
	assert_int_equal(pv.calls, 1);
	assert_int_equal(pv.seen[0], port);
	assert_true(port >= SCIF_PORT_RSVD);
	assert_int_equal(scif__port_refs(p, port), 1);
}

static void test_alloc_skips_in_use(void **state)
{
	struct scif_ports *p = *state;
	struct prov pv = { .n_inuse = 5, .then = 0 };
	uint16_t port = 0;
	unsigned i, j;

	assert_int_equal(scif__port_alloc(p, prov_try, &pv, &port), 0);
	assert_int_equal(pv.calls, 6);
	/* The port returned is the one the provider accepted... */
	assert_int_equal(pv.seen[5], port);
	assert_int_equal(scif__port_refs(p, port), 1);
	/* ...and the refused ones are distinct, valid, and not taken. */
	for (i = 0; i < 5; i++) {
		assert_true(pv.seen[i] >= SCIF_PORT_RSVD);
		assert_int_not_equal(pv.seen[i], port);
		assert_int_equal(scif__port_refs(p, pv.seen[i]), 0);
		for (j = 0; j < i; j++)
			assert_int_not_equal(pv.seen[i], pv.seen[j]);
	}
}

static void test_alloc_skips_ports_taken_in_process(void **state)
{
	struct scif_ports *p = *state;
	struct prov pv = { .then = 0 };
	uint32_t i;
	uint16_t port = 0;

	/* Every allocatable port but one is bound here already: the allocator
	 * must find the free one, and must not ask the provider about the
	 * others. */
	for (i = SCIF_PORT_RSVD; i < NPORTS; i++)
		if (i != 40000)
			assert_int_equal(scif__port_take(p, (uint16_t)i), 0);
	assert_int_equal(scif__port_alloc(p, prov_try, &pv, &port), 0);
	assert_int_equal(port, 40000);
	assert_int_equal(pv.calls, 1);
	assert_int_equal(pv.seen[0], 40000);
	/* Now nothing is left; the provider is not asked at all. */
	pv.calls = 0;
	assert_int_equal(scif__port_alloc(p, prov_try, &pv, &port), -ENOSPC);
	assert_int_equal(pv.calls, 0);
}

static void test_alloc_other_error_aborts(void **state)
{
	struct scif_ports *p = *state;
	struct prov pv = { .then = -ENOMEM };
	struct prov pv2 = { .n_inuse = 2, .then = -EIO };
	uint16_t port = 0x5a5a;

	assert_int_equal(scif__port_alloc(p, prov_try, &pv, &port), -ENOMEM);
	assert_int_equal(pv.calls, 1);
	assert_int_equal(port, 0x5a5a); /* untouched */
	assert_int_equal(scif__port_refs(p, pv.seen[0]), 0);

	assert_int_equal(scif__port_alloc(p, prov_try, &pv2, &port), -EIO);
	assert_int_equal(pv2.calls, 3);
	assert_int_equal(port, 0x5a5a);
	assert_int_equal(scif__port_refs(p, pv2.seen[0]), 0);
	assert_int_equal(scif__port_refs(p, pv2.seen[1]), 0);
	assert_int_equal(scif__port_refs(p, pv2.seen[2]), 0);
}

static void test_alloc_exhaustion_enospc(void **state)
{
	struct scif_ports *p = *state;
	struct prov pv = { .n_inuse = ~0u, .then = 0 };
	uint16_t port = 0x5a5a;
	uint32_t i;

	pv.hits = calloc(NPORTS, 1);
	assert_non_null(pv.hits);
	assert_int_equal(scif__port_alloc(p, prov_try, &pv, &port), -ENOSPC);
	assert_int_equal(port, 0x5a5a);
	/* Every allocatable port was offered exactly once, no other port. */
	assert_int_equal(pv.calls, SPAN);
	for (i = 0; i < NPORTS; i++) {
		if (pv.hits[i] != (i >= SCIF_PORT_RSVD ? 1 : 0))
			fail_msg("port %u offered %u times", i, pv.hits[i]);
		assert_int_equal(scif__port_refs(p, (uint16_t)i), 0);
	}
	free(pv.hits);
}

static void test_alloc_all_then_enospc(void **state)
{
	struct scif_ports *p = *state;
	uint16_t port;
	uint32_t i;

	for (i = 0; i < SPAN; i++)
		assert_int_equal(scif__port_alloc(p, NULL, NULL, &port), 0);
	for (i = SCIF_PORT_RSVD; i < NPORTS; i++)
		assert_int_equal(scif__port_refs(p, (uint16_t)i), 1);
	for (i = 1; i < SCIF_PORT_RSVD; i++)
		assert_int_equal(scif__port_refs(p, (uint16_t)i), 0);
	assert_int_equal(scif__port_alloc(p, NULL, NULL, &port), -ENOSPC);
	/* Freeing one makes exactly that one available. */
	scif__port_release(p, 12345);
	assert_int_equal(scif__port_alloc(p, NULL, NULL, &port), 0);
	assert_int_equal(port, 12345);
}

static void test_alloc_wraps_around(void **state)
{
	struct scif_ports *p = *state;
	uint16_t a = 0, b = 0, c = 0;

	/* Start at the very top of the port space. */
	p->cursor = 65535;
	assert_int_equal(scif__port_alloc(p, NULL, NULL, &a), 0);
	assert_int_equal(a, 65535);
	assert_int_equal(scif__port_alloc(p, NULL, NULL, &b), 0);
	assert_int_equal(b, SCIF_PORT_RSVD);
	assert_int_equal(scif__port_alloc(p, NULL, NULL, &c), 0);
	assert_int_equal(c, SCIF_PORT_RSVD + 1);
}

/* ---- reference counts ---- */

static void test_refcount(void **state)
{
	struct scif_ports *p = *state;
	uint16_t port = 0;

	assert_int_equal(scif__port_take(p, 6000), 0);
	assert_int_equal(scif__port_refs(p, 6000), 1);
	scif__port_ref(p, 6000); /* two accepted endpoints */
	scif__port_ref(p, 6000);
	assert_int_equal(scif__port_refs(p, 6000), 3);
	scif__port_release(p, 6000); /* the listener closes */
	assert_int_equal(scif__port_refs(p, 6000), 2);
	/* Still in use: cannot be bound again. */
	assert_int_equal(scif__port_take(p, 6000), -EINVAL);
	scif__port_release(p, 6000);
	assert_int_equal(scif__port_take(p, 6000), -EINVAL);
	scif__port_release(p, 6000);
	assert_int_equal(scif__port_refs(p, 6000), 0);
	/* Last user gone: free again. */
	assert_int_equal(scif__port_take(p, 6000), 0);
	assert_int_equal(scif__port_refs(p, 6000), 1);
	scif__port_release(p, 6000);
	/* An extra release does not underflow. */
	scif__port_release(p, 6000);
	assert_int_equal(scif__port_refs(p, 6000), 0);
	assert_int_equal(scif__port_take(p, 6000), 0);

	/* Allocated ports count the same way. */
	assert_int_equal(scif__port_alloc(p, NULL, NULL, &port), 0);
	scif__port_ref(p, port);
	assert_int_equal(scif__port_refs(p, port), 2);
	scif__port_release(p, port);
	scif__port_release(p, port);
	assert_int_equal(scif__port_refs(p, port), 0);
}

static void test_released_port_is_reallocatable(void **state)
{
	struct scif_ports *p = *state;
	struct prov pv = { .then = 0 };
	uint16_t port = 0, again = 0;
	uint32_t i;

	/* Take everything except one port, allocate it, release it: the
	 * allocator must offer it again. */
	for (i = SCIF_PORT_RSVD; i < NPORTS; i++)
		if (i != 2222)
			assert_int_equal(scif__port_take(p, (uint16_t)i), 0);
	assert_int_equal(scif__port_alloc(p, NULL, NULL, &port), 0);
	assert_int_equal(port, 2222);
	assert_int_equal(scif__port_alloc(p, NULL, NULL, &again), -ENOSPC);
	scif__port_release(p, 2222);
	assert_int_equal(scif__port_alloc(p, prov_try, &pv, &again), 0);
	assert_int_equal(again, 2222);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_take_zero_is_invalid),
		T(test_take_twice_is_invalid),
		T(test_take_admin_port_as_root),
		T(test_take_admin_port_unprivileged),
		T(test_alloc_range_and_distinct),
		T(test_alloc_does_not_reuse_just_released),
		T(test_alloc_asks_provider_for_the_port_it_returns),
		T(test_alloc_skips_in_use),
		T(test_alloc_skips_ports_taken_in_process),
		T(test_alloc_other_error_aborts),
		T(test_alloc_exhaustion_enospc),
		T(test_alloc_all_then_enospc),
		T(test_alloc_wraps_around),
		T(test_refcount),
		T(test_released_port_is_reallocatable),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
