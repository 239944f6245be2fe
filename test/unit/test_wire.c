/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the wire framing (libscif/wire.c): the 12-byte little-endian
 * header, its validation, and dispatch to per-type handlers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "wire.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define CANARY 0xa5

/* Build a message of `plen` payload bytes in buf (header + payload). */
static size_t build(uint8_t *buf, uint8_t type, uint16_t credits,
		    uint32_t plen)
{
	struct scif_wire_hdr h = { .type = type,
				   .version = SCIF_WIRE_VERSION,
				   .credits = credits,
				   .len = plen };
	uint32_t i;

	scif__wire_encode(buf, &h);
	for (i = 0; i < plen; i++)
		buf[SCIF_WIRE_HDR_LEN + i] = (uint8_t)(i * 7 + 1);
	return SCIF_WIRE_HDR_LEN + plen;
}

/* ---- encode ---- */

static void test_encode_byte_layout(void **state)
{
	uint8_t buf[SCIF_WIRE_HDR_LEN + 4];
	struct scif_wire_hdr h = { .type = SCIF_WIRE_CREDIT,
				   .version = SCIF_WIRE_VERSION,
				   .credits = 0x1234,
				   .len = 0x89abcdefu,
				   .ccredits = 0x5678 };
	static const uint8_t want[SCIF_WIRE_HDR_LEN] = {
		SCIF_WIRE_CREDIT, SCIF_WIRE_VERSION, 0x34, 0x12,
		0xef, 0xcd, 0xab, 0x89, 0x78, 0x56, 0x00, 0x00,
	};
	size_t i;

	(void)state;
	assert_int_equal(SCIF_WIRE_HDR_LEN, 12);
	memset(buf, CANARY, sizeof(buf));
	scif__wire_encode(buf, &h);
	for (i = 0; i < SCIF_WIRE_HDR_LEN; i++)
		if (buf[i] != want[i])
			fail_msg("byte %zu: 0x%02x, want 0x%02x", i, buf[i],
				 want[i]);
	/* Nothing written past the header. */
	for (i = SCIF_WIRE_HDR_LEN; i < sizeof(buf); i++)
		assert_int_equal(buf[i], CANARY);
}

static void test_encode_byte_layout_other_values(void **state)
{
	uint8_t buf[SCIF_WIRE_HDR_LEN];
	struct scif_wire_hdr h = { .type = SCIF_WIRE_DATA,
				   .version = SCIF_WIRE_VERSION,
				   .credits = 0xff01,
				   .len = 0x00010203u };

	(void)state;
	scif__wire_encode(buf, &h);
	assert_int_equal(buf[0], SCIF_WIRE_DATA);
	assert_int_equal(buf[1], SCIF_WIRE_VERSION);
	assert_int_equal(buf[2], 0x01);
	assert_int_equal(buf[3], 0xff);
	assert_int_equal(buf[4], 0x03);
	assert_int_equal(buf[5], 0x02);
	assert_int_equal(buf[6], 0x01);
	assert_int_equal(buf[7], 0x00);
}

static void test_encode_always_writes_our_version(void **state)
{
	uint8_t buf[SCIF_WIRE_HDR_LEN];
	struct scif_wire_hdr h = { .type = SCIF_WIRE_DATA, .version = 0x77 };

	(void)state;
	scif__wire_encode(buf, &h);
	assert_int_equal(buf[1], SCIF_WIRE_VERSION);
}

/* ---- decode ---- */

static void test_decode_byte_layout(void **state)
{
	/* Hand-made little-endian header + 3 payload bytes. */
	static const uint8_t msg[] = { SCIF_WIRE_DATA, SCIF_WIRE_VERSION,
				       0xcd, 0xab, 0x03, 0x00, 0x00, 0x00,
				       0x02, 0x01, 0x00, 0x00,
				       'a', 'b', 'c' };
	struct scif_wire_hdr h;

	(void)state;
	memset(&h, 0xee, sizeof(h));
	assert_int_equal(scif__wire_decode(msg, sizeof(msg), &h), 0);
	assert_int_equal(h.type, SCIF_WIRE_DATA);
	assert_int_equal(h.version, SCIF_WIRE_VERSION);
	assert_int_equal(h.credits, 0xabcd);
	assert_int_equal(h.len, 3);
	assert_int_equal(h.ccredits, 0x0102);
}

static void test_decode_len_uses_all_four_bytes(void **state)
{
	/* len = 0x01000000: only the top byte set; a decoder that ignores
	 * bytes 6-7 or reads big-endian gets it wrong. */
	static uint8_t msg[SCIF_WIRE_HDR_LEN + 0x01000000];
	struct scif_wire_hdr h;

	(void)state;
	msg[0] = SCIF_WIRE_DATA;
	msg[1] = SCIF_WIRE_VERSION;
	msg[7] = 0x01;
	assert_int_equal(scif__wire_decode(msg, sizeof(msg), &h), 0);
	assert_int_equal(h.len, 0x01000000u);
	assert_int_equal(h.credits, 0);
	/* And 0x00010000 (byte 6) with a matching total. */
	msg[7] = 0;
	msg[6] = 0x01;
	assert_int_equal(scif__wire_decode(msg, SCIF_WIRE_HDR_LEN + 0x10000, &h),
			 0);
	assert_int_equal(h.len, 0x10000u);
}

static void test_round_trip(void **state)
{
	static const uint16_t credits[] = { 0, 1, 0x00ff, 0x0100, 0x7fff,
					    0x8000, 0xfffe, 0xffff };
	static const uint32_t lens[] = { 0, 1, 7, 8, 255, 256, 4095, 65536 };
	static uint8_t buf[SCIF_WIRE_HDR_LEN + 65536];
	static const uint8_t types[] = { SCIF_WIRE_DATA, SCIF_WIRE_CREDIT };
	size_t t, c, l;

	(void)state;
	for (t = 0; t < sizeof(types); t++)
		for (c = 0; c < sizeof(credits) / sizeof(credits[0]); c++)
			for (l = 0; l < sizeof(lens) / sizeof(lens[0]); l++) {
				struct scif_wire_hdr in = {
					.type = types[t],
					.version = SCIF_WIRE_VERSION,
					.credits = credits[c],
					.len = lens[l]
				},
						     out;

				memset(&out, 0, sizeof(out));
				scif__wire_encode(buf, &in);
				assert_int_equal(
					scif__wire_decode(
						buf,
						SCIF_WIRE_HDR_LEN + lens[l],
						&out),
					0);
				assert_int_equal(out.type, in.type);
				assert_int_equal(out.version,
						 SCIF_WIRE_VERSION);
				assert_int_equal(out.credits, in.credits);
				assert_int_equal(out.len, in.len);
			}
}

static void test_decode_short_buffer(void **state)
{
	uint8_t full[SCIF_WIRE_HDR_LEN];
	struct scif_wire_hdr h;
	size_t n;

	(void)state;
	build(full, SCIF_WIRE_CREDIT, 3, 0);
	for (n = 0; n < SCIF_WIRE_HDR_LEN; n++) {
		/* Exactly n bytes on the heap: reading the header anyway
		 * would be an overread the sanitizer build reports. */
		uint8_t *buf = malloc(n ? n : 1);

		assert_non_null(buf);
		memcpy(buf, full, n);
		assert_int_equal(scif__wire_decode(buf, n, &h), -EPROTO);
		free(buf);
	}
	/* The full header is fine. */
	assert_int_equal(scif__wire_decode(full, SCIF_WIRE_HDR_LEN, &h), 0);
	assert_int_equal(h.credits, 3);
}

static void test_decode_bad_version(void **state)
{
	static const uint8_t versions[] = { 0, SCIF_WIRE_VERSION + 1, 0x81,
					    0xff };
	uint8_t buf[SCIF_WIRE_HDR_LEN + 4];
	struct scif_wire_hdr h;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(versions); i++) {
		size_t total = build(buf, SCIF_WIRE_DATA, 0, 4);

		buf[1] = versions[i];
		assert_int_equal(scif__wire_decode(buf, total, &h), -EPROTO);
	}
}

static void test_decode_len_mismatch(void **state)
{
	uint8_t buf[SCIF_WIRE_HDR_LEN + 32];
	struct scif_wire_hdr h;

	(void)state;
	build(buf, SCIF_WIRE_DATA, 0, 16);
	assert_int_equal(scif__wire_decode(buf, SCIF_WIRE_HDR_LEN + 16, &h), 0);
	assert_int_equal(scif__wire_decode(buf, SCIF_WIRE_HDR_LEN + 15, &h),
			 -EPROTO);
	assert_int_equal(scif__wire_decode(buf, SCIF_WIRE_HDR_LEN + 17, &h),
			 -EPROTO);
	assert_int_equal(scif__wire_decode(buf, SCIF_WIRE_HDR_LEN + 32, &h),
			 -EPROTO);
	assert_int_equal(scif__wire_decode(buf, SCIF_WIRE_HDR_LEN, &h),
			 -EPROTO);
	/* A length that only matches modulo 2^32 or in its low 16 bits. */
	buf[4] = 16;
	buf[5] = 0;
	buf[6] = 1; /* len = 0x10010 */
	assert_int_equal(scif__wire_decode(buf, SCIF_WIRE_HDR_LEN + 16, &h),
			 -EPROTO);
	memset(buf + 4, 0xff, 4); /* len = 0xffffffff */
	assert_int_equal(scif__wire_decode(buf, SCIF_WIRE_HDR_LEN + 32, &h),
			 -EPROTO);
}

/* ---- dispatch ---- */

struct rec {
	int calls_data, calls_credit;
	void *ctx;
	struct scif_wire_hdr h;
	const void *payload;
	int ret;
};

static int on_data(void *ctx, const struct scif_wire_hdr *h, const void *p)
{
	struct rec *r = ctx;

	r->calls_data++;
	r->ctx = ctx;
	r->h = *h;
	r->payload = p;
	return r->ret;
}

static int on_credit(void *ctx, const struct scif_wire_hdr *h, const void *p)
{
	struct rec *r = ctx;

	r->calls_credit++;
	r->ctx = ctx;
	r->h = *h;
	r->payload = p;
	return r->ret;
}

/* type 0 has no handler; DATA takes 4..64 payload bytes; CREDIT none. */
static const struct scif_wire_handler table[SCIF_WIRE_NTYPES] = {
	[SCIF_WIRE_DATA] = { on_data, 4, 64 },
	[SCIF_WIRE_CREDIT] = { on_credit, 0, 0 },
};
#define NTABLE SCIF_WIRE_NTYPES

static void assert_no_calls(const struct rec *r)
{
	assert_int_equal(r->calls_data, 0);
	assert_int_equal(r->calls_credit, 0);
}

static void test_dispatch_valid_data(void **state)
{
	uint8_t buf[SCIF_WIRE_HDR_LEN + 64];
	struct rec r = { .ret = 0 };
	size_t total = build(buf, SCIF_WIRE_DATA, 0x4321, 10);

	(void)state;
	assert_int_equal(scif__wire_dispatch(table, NTABLE, &r, buf, total), 0);
	assert_int_equal(r.calls_data, 1);
	assert_int_equal(r.calls_credit, 0);
	assert_ptr_equal(r.ctx, &r);
	assert_ptr_equal(r.payload, buf + SCIF_WIRE_HDR_LEN);
	assert_int_equal(r.h.type, SCIF_WIRE_DATA);
	assert_int_equal(r.h.version, SCIF_WIRE_VERSION);
	assert_int_equal(r.h.credits, 0x4321);
	assert_int_equal(r.h.len, 10);
	assert_memory_equal(r.payload, buf + SCIF_WIRE_HDR_LEN, 10);
}

static void test_dispatch_valid_credit(void **state)
{
	uint8_t buf[SCIF_WIRE_HDR_LEN];
	struct rec r = { .ret = 0 };
	size_t total = build(buf, SCIF_WIRE_CREDIT, 17, 0);

	(void)state;
	assert_int_equal(scif__wire_dispatch(table, NTABLE, &r, buf, total), 0);
	assert_int_equal(r.calls_credit, 1);
	assert_int_equal(r.calls_data, 0);
	assert_int_equal(r.h.type, SCIF_WIRE_CREDIT);
	assert_int_equal(r.h.credits, 17);
	assert_int_equal(r.h.len, 0);
	assert_ptr_equal(r.payload, buf + SCIF_WIRE_HDR_LEN);
}

static void test_dispatch_returns_handler_result(void **state)
{
	uint8_t buf[SCIF_WIRE_HDR_LEN + 64];
	struct rec r = { .ret = 1 };
	size_t total = build(buf, SCIF_WIRE_DATA, 0, 8);

	(void)state;
	assert_int_equal(scif__wire_dispatch(table, NTABLE, &r, buf, total), 1);
	r.ret = -EIO;
	assert_int_equal(scif__wire_dispatch(table, NTABLE, &r, buf, total),
			 -EIO);
	assert_int_equal(r.calls_data, 2);
}

static void test_dispatch_length_bounds(void **state)
{
	uint8_t buf[SCIF_WIRE_HDR_LEN + 128];
	struct rec r = { .ret = 0 };
	size_t total;

	(void)state;
	/* Exactly min and exactly max are accepted. */
	total = build(buf, SCIF_WIRE_DATA, 0, 4);
	assert_int_equal(scif__wire_dispatch(table, NTABLE, &r, buf, total), 0);
	assert_int_equal(r.h.len, 4);
	total = build(buf, SCIF_WIRE_DATA, 0, 64);
	assert_int_equal(scif__wire_dispatch(table, NTABLE, &r, buf, total), 0);
	assert_int_equal(r.h.len, 64);
	assert_int_equal(r.calls_data, 2);

	/* One below min, one above max, far above: refused, not called. */
	memset(&r, 0, sizeof(r));
	total = build(buf, SCIF_WIRE_DATA, 0, 3);
	assert_int_equal(scif__wire_dispatch(table, NTABLE, &r, buf, total),
			 -EPROTO);
	total = build(buf, SCIF_WIRE_DATA, 0, 0);
	assert_int_equal(scif__wire_dispatch(table, NTABLE, &r, buf, total),
			 -EPROTO);
	total = build(buf, SCIF_WIRE_DATA, 0, 65);
	assert_int_equal(scif__wire_dispatch(table, NTABLE, &r, buf, total),
			 -EPROTO);
	total = build(buf, SCIF_WIRE_DATA, 0, 128);
	assert_int_equal(scif__wire_dispatch(table, NTABLE, &r, buf, total),
			 -EPROTO);
	/* CREDIT carries no payload. */
	total = build(buf, SCIF_WIRE_CREDIT, 1, 1);
	assert_int_equal(scif__wire_dispatch(table, NTABLE, &r, buf, total),
			 -EPROTO);
	assert_no_calls(&r);
}

static void test_dispatch_unknown_type(void **state)
{
	uint8_t buf[SCIF_WIRE_HDR_LEN + 8];
	struct rec r = { .ret = 0 };
	size_t total;

	(void)state;
	/* Type 0: inside the table, NULL handler. */
	total = build(buf, 0, 0, 0);
	assert_int_equal(scif__wire_dispatch(table, NTABLE, &r, buf, total),
			 -EPROTO);
	/* Just past the table, and far beyond it. */
	total = build(buf, SCIF_WIRE_NTYPES, 0, 0);
	assert_int_equal(scif__wire_dispatch(table, NTABLE, &r, buf, total),
			 -EPROTO);
	total = build(buf, 200, 0, 8);
	assert_int_equal(scif__wire_dispatch(table, NTABLE, &r, buf, total),
			 -EPROTO);
	total = build(buf, 0xff, 0, 8);
	assert_int_equal(scif__wire_dispatch(table, NTABLE, &r, buf, total),
			 -EPROTO);
	assert_no_calls(&r);
	/* ntable is the bound, not the array: with ntable = 2 the CREDIT
	 * handler at index 2 is out of the table. */
	total = build(buf, SCIF_WIRE_CREDIT, 1, 0);
	assert_int_equal(
		scif__wire_dispatch(table, SCIF_WIRE_CREDIT, &r, buf, total),
		-EPROTO);
	assert_no_calls(&r);
	/* The same message is delivered with the full table. */
	assert_int_equal(scif__wire_dispatch(table, NTABLE, &r, buf, total), 0);
	assert_int_equal(r.calls_credit, 1);
}

static void test_dispatch_null_handler(void **state)
{
	const struct scif_wire_handler t2[SCIF_WIRE_NTYPES] = {
		[SCIF_WIRE_DATA] = { NULL, 0, 64 },
		[SCIF_WIRE_CREDIT] = { on_credit, 0, 0 },
	};
	uint8_t buf[SCIF_WIRE_HDR_LEN + 8];
	struct rec r = { .ret = 0 };
	size_t total = build(buf, SCIF_WIRE_DATA, 0, 8);

	(void)state;
	assert_int_equal(
		scif__wire_dispatch(t2, SCIF_WIRE_NTYPES, &r, buf, total),
		-EPROTO);
	assert_no_calls(&r);
}

static void test_dispatch_malformed(void **state)
{
	uint8_t buf[SCIF_WIRE_HDR_LEN + 16];
	struct rec r = { .ret = 0 };
	size_t total;

	(void)state;
	/* Short. */
	total = build(buf, SCIF_WIRE_CREDIT, 0, 0);
	assert_int_equal(scif__wire_dispatch(table, NTABLE, &r, buf, 7),
			 -EPROTO);
	assert_int_equal(scif__wire_dispatch(table, NTABLE, &r, buf, 0),
			 -EPROTO);
	/* Bad version. */
	buf[1] = SCIF_WIRE_VERSION + 1;
	assert_int_equal(scif__wire_dispatch(table, NTABLE, &r, buf, total),
			 -EPROTO);
	/* Length not matching the bytes received (even if within bounds). */
	total = build(buf, SCIF_WIRE_DATA, 0, 8);
	assert_int_equal(scif__wire_dispatch(table, NTABLE, &r, buf, total + 1),
			 -EPROTO);
	assert_int_equal(scif__wire_dispatch(table, NTABLE, &r, buf, total - 1),
			 -EPROTO);
	assert_no_calls(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_byte_layout),
		cmocka_unit_test(test_encode_byte_layout_other_values),
		cmocka_unit_test(test_encode_always_writes_our_version),
		cmocka_unit_test(test_decode_byte_layout),
		cmocka_unit_test(test_decode_len_uses_all_four_bytes),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_decode_short_buffer),
		cmocka_unit_test(test_decode_bad_version),
		cmocka_unit_test(test_decode_len_mismatch),
		cmocka_unit_test(test_dispatch_valid_data),
		cmocka_unit_test(test_dispatch_valid_credit),
		cmocka_unit_test(test_dispatch_returns_handler_result),
		cmocka_unit_test(test_dispatch_length_bounds),
		cmocka_unit_test(test_dispatch_unknown_type),
		cmocka_unit_test(test_dispatch_null_handler),
		cmocka_unit_test(test_dispatch_malformed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
