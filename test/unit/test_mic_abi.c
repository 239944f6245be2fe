/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the kernel SCIF device's ioctl marshalling
 * (provider/mic/mic_abi.c), for both numberings: request numbers (written
 * out as the numbers a driver built from each header has), argument
 * sizes and field offsets, the node-id argument of each ABI byte by byte,
 * decoding, and the errno mapping.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "mic_abi.h"

#include <errno.h>
#include <string.h>

/* _IOC(dir, 's', nr, size) = dir << 30 | size << 16 | 's' << 8 | nr. */
static const unsigned long linux_nr[MIC_NCMDS] = {
	[MIC_BIND] = 0xC0087301,	 [MIC_LISTEN] = 0x40047302,
	[MIC_CONNECT] = 0xC0087303,	 [MIC_ACCEPTREQ] = 0xC0107304,
	[MIC_ACCEPTREG] = 0xC0087305,	 [MIC_SEND] = 0xC0187306,
	[MIC_RECV] = 0xC0187307,	 [MIC_REG] = 0xC0287308,
	[MIC_UNREG] = 0xC0107309,	 [MIC_READFROM] = 0xC028730A,
	[MIC_WRITETO] = 0xC028730B,	 [MIC_VREADFROM] = 0xC028730C,
	[MIC_VWRITETO] = 0xC028730D,	 [MIC_GET_NODEIDS] = 0xC018730E,
	[MIC_FENCE_MARK] = 0xC010730F,	 [MIC_FENCE_WAIT] = 0xC0047310,
	[MIC_FENCE_SIGNAL] = 0xC0287311, [MIC_GET_VERSION] = 0,
};

static const unsigned long mpss3_nr[MIC_NCMDS] = {
	[MIC_BIND] = 0xC0087301,	 [MIC_LISTEN] = 0x40047302,
	[MIC_CONNECT] = 0xC0087303,	 [MIC_ACCEPTREQ] = 0xC0087304,
	[MIC_ACCEPTREG] = 0xC0087305,	 [MIC_SEND] = 0xC0087306,
	[MIC_RECV] = 0xC0087307,	 [MIC_REG] = 0xC0087308,
	[MIC_UNREG] = 0xC0087309,	 [MIC_READFROM] = 0xC008730A,
	[MIC_WRITETO] = 0xC008730B,	 [MIC_VREADFROM] = 0xC008730C,
	[MIC_VWRITETO] = 0xC008730D,	 [MIC_GET_NODEIDS] = 0xC008730E,
	[MIC_FENCE_MARK] = 0xC008730F,	 [MIC_FENCE_WAIT] = 0xC0047310,
	[MIC_FENCE_SIGNAL] = 0xC0087311, [MIC_GET_VERSION] = 0x00007317,
};

static void test_request_numbers(void **state)
{
	int c;

	(void)state;
	for (c = MIC_BIND; c < MIC_NCMDS; c++) {
		assert_int_equal(mic_abi_request(MIC_ABI_LINUX, c), linux_nr[c]);
		assert_int_equal(mic_abi_request(MIC_ABI_MPSS3, c), mpss3_nr[c]);
		assert_int_equal(mic_abi_request(MIC_ABI_NONE, c), 0);
	}
	assert_int_equal(mic_abi_request(MIC_ABI_LINUX, 0), 0);
	assert_int_equal(mic_abi_request(MIC_ABI_LINUX, MIC_NCMDS), 0);
}

static void test_decode(void **state)
{
	int c;

	(void)state;
	for (c = MIC_BIND; c < MIC_NCMDS; c++) {
		if (linux_nr[c])
			assert_int_equal(mic_abi_decode(MIC_ABI_LINUX,
							linux_nr[c]), c);
		assert_int_equal(mic_abi_decode(MIC_ABI_MPSS3, mpss3_nr[c]), c);
	}
	/* A request of the other numbering is unknown (size differs). */
	assert_int_equal(mic_abi_decode(MIC_ABI_LINUX, mpss3_nr[MIC_SEND]), 0);
	assert_int_equal(mic_abi_decode(MIC_ABI_MPSS3, linux_nr[MIC_SEND]), 0);
	assert_int_equal(mic_abi_decode(MIC_ABI_LINUX, 0x7317), 0);
	assert_int_equal(mic_abi_decode(MIC_ABI_LINUX, 0xC0187312), 0);
}

static void test_arg_kinds_and_sizes(void **state)
{
	static const size_t sz[MIC_NCMDS] = {
		[MIC_BIND] = 4,		 [MIC_CONNECT] = 8,
		[MIC_ACCEPTREQ] = 16,	 [MIC_ACCEPTREG] = 8,
		[MIC_SEND] = 24,	 [MIC_RECV] = 24,
		[MIC_REG] = 40,		 [MIC_UNREG] = 16,
		[MIC_READFROM] = 40,	 [MIC_WRITETO] = 40,
		[MIC_VREADFROM] = 40,	 [MIC_VWRITETO] = 40,
		[MIC_GET_NODEIDS] = 24,	 [MIC_FENCE_MARK] = 16,
		[MIC_FENCE_SIGNAL] = 40,
	};
	int c;

	(void)state;
	for (c = MIC_BIND; c < MIC_NCMDS; c++) {
		enum mic_arg want = MIC_ARG_PTR;

		if (c == MIC_LISTEN || c == MIC_FENCE_WAIT)
			want = MIC_ARG_VALUE;
		if (c == MIC_GET_VERSION)
			want = MIC_ARG_NONE;
		assert_int_equal(mic_abi_arg(c), want);
		assert_int_equal(mic_abi_arg_size(MIC_ABI_LINUX, c), sz[c]);
		assert_int_equal(mic_abi_arg_size(MIC_ABI_MPSS3, c), sz[c]);
		assert_true(sz[c] <= MIC_IO_ARG_MAX);
	}
	assert_string_equal(mic_abi_cmd_name(MIC_FENCE_SIGNAL),
			    "SCIF_FENCE_SIGNAL");
}

static void test_field_offsets(void **state)
{
	(void)state;
	assert_int_equal(offsetof(struct mic_io_connect, peer), 4);
	assert_int_equal(offsetof(struct mic_io_accept, peer), 4);
	assert_int_equal(offsetof(struct mic_io_accept, endpt), 8);
	assert_int_equal(offsetof(struct mic_io_msg, len), 8);
	assert_int_equal(offsetof(struct mic_io_msg, flags), 12);
	assert_int_equal(offsetof(struct mic_io_msg, out_len), 16);
	assert_int_equal(offsetof(struct mic_io_reg, offset), 16);
	assert_int_equal(offsetof(struct mic_io_reg, prot), 24);
	assert_int_equal(offsetof(struct mic_io_reg, flags), 28);
	assert_int_equal(offsetof(struct mic_io_reg, out_offset), 32);
	assert_int_equal(offsetof(struct mic_io_unreg, len), 8);
	assert_int_equal(offsetof(struct mic_io_copy, roffset), 16);
	assert_int_equal(offsetof(struct mic_io_copy, addr), 24);
	assert_int_equal(offsetof(struct mic_io_copy, flags), 32);
	assert_int_equal(offsetof(struct mic_io_fence_mark, mark), 8);
	assert_int_equal(offsetof(struct mic_io_fence_signal, roff), 16);
	assert_int_equal(offsetof(struct mic_io_fence_signal, rval), 24);
	assert_int_equal(offsetof(struct mic_io_fence_signal, flags), 32);
}

/* Linux: nodes @0, self @8, len @16; MPSS 3: nodes @0, len @8, self @16. */
static void test_nodeids_layout(void **state)
{
	uint8_t a[MIC_IO_NODEIDS_SIZE];
	uint64_t nodes, self, v;
	int32_t len, l32;

	(void)state;
	memset(a, 0xee, sizeof(a));
	mic_abi_nodeids_pack(MIC_ABI_LINUX, a, 0x1111222233334444ull,
			     0x5555666677778888ull, 7);
	memcpy(&v, a, 8);
	assert_int_equal(v, 0x1111222233334444ull);
	memcpy(&v, a + 8, 8);
	assert_int_equal(v, 0x5555666677778888ull);
	memcpy(&l32, a + 16, 4);
	assert_int_equal(l32, 7);
	assert_int_equal(a[20] | a[21] | a[22] | a[23], 0); /* padding */
	mic_abi_nodeids_unpack(MIC_ABI_LINUX, a, &nodes, &self, &len);
	assert_int_equal(nodes, 0x1111222233334444ull);
	assert_int_equal(self, 0x5555666677778888ull);
	assert_int_equal(len, 7);

	memset(a, 0xee, sizeof(a));
	mic_abi_nodeids_pack(MIC_ABI_MPSS3, a, 0x1111222233334444ull,
			     0x5555666677778888ull, 9);
	memcpy(&v, a, 8);
	assert_int_equal(v, 0x1111222233334444ull);
	memcpy(&l32, a + 8, 4);
	assert_int_equal(l32, 9);
	assert_int_equal(a[12] | a[13] | a[14] | a[15], 0);
	memcpy(&v, a + 16, 8);
	assert_int_equal(v, 0x5555666677778888ull);
	mic_abi_nodeids_unpack(MIC_ABI_MPSS3, a, &nodes, &self, &len);
	assert_int_equal(nodes, 0x1111222233334444ull);
	assert_int_equal(self, 0x5555666677778888ull);
	assert_int_equal(len, 9);
}

static void test_errno_mapping(void **state)
{
	(void)state;
	/* The header's errors pass through. */
	assert_int_equal(mic_abi_errno(MIC_CONNECT, ECONNREFUSED), ECONNREFUSED);
	assert_int_equal(mic_abi_errno(MIC_SEND, ECONNRESET), ECONNRESET);
	assert_int_equal(mic_abi_errno(MIC_RECV, ENOTCONN), ENOTCONN);
	assert_int_equal(mic_abi_errno(MIC_READFROM, ENXIO), ENXIO);
	assert_int_equal(mic_abi_errno(MIC_VWRITETO, EACCES), EACCES);
	assert_int_equal(mic_abi_errno(MIC_BIND, EADDRINUSE), EADDRINUSE);
	assert_int_equal(mic_abi_errno(MIC_ACCEPTREQ, EAGAIN), EAGAIN);
	assert_int_equal(mic_abi_errno(MIC_REG, EADDRINUSE), EADDRINUSE);
	assert_int_equal(mic_abi_errno(MIC_FENCE_SIGNAL, ENXIO), ENXIO);
	/* a remote signal into a read-only window (as the core's) */
	assert_int_equal(mic_abi_errno(MIC_FENCE_SIGNAL, EACCES), EACCES);
	assert_int_equal(mic_abi_errno(MIC_SEND, ENOMEM), ENOMEM);
	assert_int_equal(mic_abi_errno(MIC_ACCEPTREQ, EINTR), EINTR);
	/* A device or card gone is ENODEV. */
	assert_int_equal(mic_abi_errno(MIC_SEND, EIO), ENODEV);
	assert_int_equal(mic_abi_errno(MIC_RECV, ESHUTDOWN), ENODEV);
	assert_int_equal(mic_abi_errno(MIC_REG, ENOTTY), ENODEV);
	/* ENXIO is only an RMA/window error; elsewhere the device is gone. */
	assert_int_equal(mic_abi_errno(MIC_SEND, ENXIO), ENODEV);
	assert_int_equal(mic_abi_errno(MIC_CONNECT, ENXIO), ENODEV);
	assert_int_equal(mic_abi_errno(MIC_UNREG, ENXIO), ENXIO);
	assert_int_equal(mic_abi_errno(0, EINVAL), ENODEV);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_numbers),
		cmocka_unit_test(test_decode),
		cmocka_unit_test(test_arg_kinds_and_sizes),
		cmocka_unit_test(test_field_offsets),
		cmocka_unit_test(test_nodeids_layout),
		cmocka_unit_test(test_errno_mapping),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
