/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz target: the wire framing (libscif/wire.c), one received message per
 * input: scif__wire_decode, then scif__wire_dispatch through a table shaped
 * like a provider's (stream data, credits, the core's control types).  A
 * handler is reached only with a length inside its bounds, reads every
 * payload byte (an over-read is caught), and a decoded header encodes back
 * to the same bytes.
 */
#include "fuzz.h"
#include "wire.h"

#include <string.h>

#define MSG_MAX 4096 /* a provider's message size */

static size_t fz_payload_sum;

static int fz_handler(void *ctx, const struct scif_wire_hdr *h,
		      const void *payload)
{
	const struct scif_wire_handler *table = ctx;
	const uint8_t *p = payload;
	uint32_t i;

	FZ_CHECK(h->type < SCIF_WIRE_NTYPES && table[h->type].fn);
	FZ_CHECK(h->len >= table[h->type].min_len &&
		 h->len <= table[h->type].max_len);
	for (i = 0; i < h->len; i++)
		fz_payload_sum += p[i];
	return h->type == SCIF_WIRE_DATA;
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	fz_quiet();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct scif_wire_handler table[SCIF_WIRE_NTYPES] = { { 0 } };
	struct scif_wire_hdr h, h2;
	struct fz_in in = { data, size };
	uint8_t again[SCIF_WIRE_HDR_LEN];
	size_t n = size;
	uint8_t *msg;
	int t, ret;

	table[SCIF_WIRE_DATA] = (struct scif_wire_handler){
		fz_handler, 1, MSG_MAX - SCIF_WIRE_HDR_LEN
	};
	table[SCIF_WIRE_CREDIT] = (struct scif_wire_handler){ fz_handler, 0, 0 };
	for (t = SCIF_WIRE_CTRL_FIRST; t < SCIF_WIRE_NTYPES; t++)
		table[t] = (struct scif_wire_handler){ fz_handler, 0,
						       SCIF_WIRE_CTRL_MAX };
	msg = fz_take(&in, &n);
	ret = scif__wire_decode(msg, n, &h);
	if (!ret) {
		FZ_CHECK(n >= SCIF_WIRE_HDR_LEN &&
			 h.len == n - SCIF_WIRE_HDR_LEN &&
			 h.version == SCIF_WIRE_VERSION);
		scif__wire_encode(again, &h);
		/* everything but the reserved bytes comes back */
		FZ_CHECK(!memcmp(again, msg, 10));
		FZ_CHECK(!scif__wire_decode(again, SCIF_WIRE_HDR_LEN, &h2) ==
			 !h.len);
	} else {
		FZ_CHECK(ret == -EPROTO);
	}
	ret = scif__wire_dispatch(table, SCIF_WIRE_NTYPES, table, msg, n);
	FZ_CHECK(ret == -EPROTO || ret == 0 || ret == 1);
	/* a message that does not decode never reaches a handler */
	FZ_CHECK(ret == -EPROTO || !scif__wire_decode(msg, n, &h));
	free(msg);
	return 0;
}
