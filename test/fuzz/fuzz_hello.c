/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz target: the connection handshakes' records, as a peer sends them
 * before any connection exists: the tcp provider's HELLO / ACCEPT / REJECT
 * frame (tcp_hello_decode) and the verbs provider's rdma_cm private data
 * (verbs_parse_pd).  The first byte picks which (and, for tcp, which type
 * is expected); the rest is the record.  A record that decodes encodes
 * back to the same bytes (tcp; the unused fields aside), and holds what
 * the provider relies on (verbs: both credit pools of at least 2, messages
 * that hold every control message).  The shm handshake is checked in
 * shm_ep.c against the memfd it carries, beyond a parser's reach.
 */
#include "fuzz.h"
#include "../../provider/tcp/tcp.h"
#include "../../provider/verbs/verbs.h"

#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	fz_quiet();
	return 0;
}

static void tcp_record(const uint8_t *rec, size_t n, uint8_t want)
{
	unsigned char again[SCIF_WIRE_HDR_LEN + 20];
	struct tcp_hello m;

	if (tcp_hello_decode(rec, n, want, &m))
		return;
	FZ_CHECK(n == sizeof(again) && m.magic == TCP_MAGIC &&
		 m.version == TCP_VERSION);
	FZ_CHECK(m.rsvd == want ||
		 (want == TCP_ACCEPT && m.rsvd == TCP_REJECT));
	tcp_hello_encode(again, (uint8_t)m.rsvd, &m);
	/* type, version and length (tcp frames carry no credits), and the
	 * record but for its reserved field */
	FZ_CHECK(!memcmp(again, rec, 2) && !memcmp(again + 4, rec + 4, 4));
	FZ_CHECK(!memcmp(again + SCIF_WIRE_HDR_LEN, rec + SCIF_WIRE_HDR_LEN,
			 6));
	FZ_CHECK(!memcmp(again + SCIF_WIRE_HDR_LEN + 8,
			 rec + SCIF_WIRE_HDR_LEN + 8, 12));
}

static void verbs_record(const uint8_t *rec, size_t n)
{
	struct verbs_conn_pd pd;

	/* rdma_cm hands over at most 255 bytes, with their length */
	if (verbs_parse_pd(n ? rec : NULL, (uint8_t)(n > 255 ? 255 : n), &pd))
		return;
	FZ_CHECK(n >= sizeof(pd));
	FZ_CHECK(pd.depth >= 2 && pd.cdepth >= 2 &&
		 pd.msg_size >= VERBS_MSG_MIN);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz_in in = { data, size };
	uint8_t which = fz_u8(&in);
	size_t n = in.left;
	uint8_t *rec = fz_take(&in, &n); /* exactly n bytes */

	if (which & 1)
		verbs_record(rec, n);
	else
		tcp_record(rec, n, which & 2 ? TCP_ACCEPT : TCP_HELLO);
	free(rec);
	return 0;
}
