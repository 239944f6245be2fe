/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The public header is the MPSS user library's ABI: type sizes and layouts,
 * flag values and prototypes that existing SCIF programs were compiled
 * against.  Most checks are compile-time (a mismatch fails the build); the
 * rest run under cmocka.  The exported symbol set is checked by
 * abi_symbols.sh on the built libscif.so.0.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <scif.h>
#include <poll.h>

_Static_assert(sizeof(scif_epd_t) == sizeof(int), "scif_epd_t is an int fd");
_Static_assert(sizeof(struct scif_portID) == 4 &&
		       offsetof(struct scif_portID, node) == 0 &&
		       offsetof(struct scif_portID, port) == 2,
	       "struct scif_portID { uint16_t node, port; }");
_Static_assert(sizeof(struct scif_port_id) == sizeof(struct scif_portID),
	       "the kernel spelling names the same structure");
_Static_assert(sizeof(struct scif_pollepd) == 8 &&
		       offsetof(struct scif_pollepd, epd) == 0 &&
		       offsetof(struct scif_pollepd, events) == 4 &&
		       offsetof(struct scif_pollepd, revents) == 6,
	       "struct scif_pollepd { epd; short events, revents; }");
_Static_assert(SCIF_ACCEPT_SYNC == 1 && SCIF_SEND_BLOCK == 1 &&
		       SCIF_RECV_BLOCK == 1,
	       "blocking flags");
_Static_assert(SCIF_PROT_READ == 1 && SCIF_PROT_WRITE == 2, "prot flags");
_Static_assert(SCIF_MAP_FIXED == 0x10 && SCIF_MAP_KERNEL == 0x20, "map flags");
_Static_assert(SCIF_FENCE_INIT_SELF == 1 && SCIF_FENCE_INIT_PEER == 2 &&
		       SCIF_SIGNAL_LOCAL == 0x10 && SCIF_SIGNAL_REMOTE == 0x20,
	       "fence flags");
_Static_assert(SCIF_RMA_USECPU == 1 && SCIF_RMA_USECACHE == 2 &&
		       SCIF_RMA_SYNC == 4 && SCIF_RMA_ORDERED == 8,
	       "RMA flags");
_Static_assert(SCIF_ADMIN_PORT_END == 1024 && SCIF_PORT_RSVD == 1088,
	       "reserved ports");

/* The prototypes, as MPSS declares them: assigning each function to a
 * pointer of the MPSS type fails the build (-Werror) on any difference. */
static void *const protos[] = {
	(void *)(scif_epd_t (*)(void))scif_open,
	(void *)(int (*)(scif_epd_t))scif_close,
	(void *)(int (*)(scif_epd_t, uint16_t))scif_bind,
	(void *)(int (*)(scif_epd_t, int))scif_listen,
	(void *)(int (*)(scif_epd_t, struct scif_portID *))scif_connect,
	(void *)(int (*)(scif_epd_t, struct scif_portID *, scif_epd_t *,
			 int))scif_accept,
	(void *)(int (*)(scif_epd_t, void *, int, int))scif_send,
	(void *)(int (*)(scif_epd_t, void *, int, int))scif_recv,
	(void *)(off_t (*)(scif_epd_t, void *, size_t, off_t, int,
			   int))scif_register,
	(void *)(int (*)(scif_epd_t, off_t, size_t))scif_unregister,
	(void *)(void *(*)(void *, size_t, int, int, scif_epd_t,
			   off_t))scif_mmap,
	(void *)(int (*)(void *, size_t))scif_munmap,
	(void *)(int (*)(scif_epd_t, off_t, size_t, off_t, int))scif_readfrom,
	(void *)(int (*)(scif_epd_t, off_t, size_t, off_t, int))scif_writeto,
	(void *)(int (*)(scif_epd_t, void *, size_t, off_t, int))scif_vreadfrom,
	(void *)(int (*)(scif_epd_t, void *, size_t, off_t, int))scif_vwriteto,
	(void *)(int (*)(scif_epd_t, int, int *))scif_fence_mark,
	(void *)(int (*)(scif_epd_t, int))scif_fence_wait,
	(void *)(int (*)(scif_epd_t, off_t, uint64_t, off_t, uint64_t,
			 int))scif_fence_signal,
	(void *)(int (*)(uint16_t *, int, uint16_t *))scif_get_nodeIDs,
	(void *)(int (*)(uint16_t *, int, uint16_t *))scif_get_node_ids,
	(void *)(int (*)(scif_epd_t))scif_get_fd,
	(void *)(int (*)(struct scif_pollepd *, unsigned int, long))scif_poll,
	(void *)(int (*)(void *, size_t, int, int,
			 scif_pinned_pages_t *))scif_pin_pages,
	(void *)(int (*)(scif_pinned_pages_t))scif_unpin_pages,
	(void *)(off_t (*)(scif_epd_t, scif_pinned_pages_t, off_t,
			   int))scif_register_pinned_pages,
};

static void test_failure_values(void **state)
{
	(void)state;
	/* -1 casts, compared as the MPSS macros are used */
	assert_int_equal(SCIF_OPEN_FAILED, -1);
	assert_true(SCIF_REGISTER_FAILED == (off_t)-1);
	assert_ptr_equal(SCIF_MMAP_FAILED, (void *)-1);
}

static void test_prototypes_linked(void **state)
{
	size_t i;

	(void)state;
	assert_int_equal(sizeof(protos) / sizeof(protos[0]), 26);
	for (i = 0; i < sizeof(protos) / sizeof(protos[0]); i++)
		assert_non_null(protos[i]);
}

static void test_poll_bits(void **state)
{
	struct scif_pollepd p = { .epd = 3, .events = POLLIN | POLLOUT };

	(void)state;
	/* scif_poll uses poll(2)'s event bits in the same short fields */
	assert_int_equal(p.events, POLLIN | POLLOUT);
	assert_int_equal(p.revents, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_failure_values),
		cmocka_unit_test(test_prototypes_linked),
		cmocka_unit_test(test_poll_bits),
	};

	return cmocka_run_group_tests_name("abi", tests, NULL, NULL);
}
