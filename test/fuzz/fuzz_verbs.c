/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz target: the verbs provider's receive side (verbs_rx_parse in
 * provider/verbs/verbs_msg.c: framing, credits returned, dispatch of stream
 * data and the core's control messages), reached without a device.  The
 * receive ring is the provider's shape (stream and control buffers of
 * RSIZE bytes); the transport below it is the model: a completion names a
 * buffer the adapter may fill (one not holding unread stream data) and how
 * many bytes it holds, at most the buffer's size, as an RC QP guarantees.
 * Sending (answers to control requests) goes to a model that takes
 * everything.  The input is a list of steps, each led by a byte:
 *   even  a message arrives: length (2 bytes, modulo RSIZE + 1), its bytes
 *   odd   the application reads the oldest unread stream message
 * Checked: no access outside the ring (sanitizers), unread stream data
 * within its buffer and never more buffers held than the ring has, credits
 * never above what we granted the peer.
 */
#include "fuzz.h"
#include "../../provider/verbs/verbs.h"

#include <string.h>

#define RSIZE 512
#define RDEPTH 8
#define CDEPTH 4

static struct scif_provider_ops fz_ops;

static int model_ctrl_send(struct scif_ep *ep, uint8_t type, const void *p,
			   uint32_t len)
{
	FZ_CHECK(type >= SCIF_WIRE_CTRL_FIRST && type < SCIF_WIRE_NTYPES &&
		 len <= SCIF_WIRE_CTRL_MAX);
	return 0;
}

static int model_rma_post(struct scif_ep *ep, const struct scif_rma_seg *s,
			  int n)
{
	return -EAGAIN; /* no RMA of ours in this target */
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	fz_quiet();
	fz_ops = scif_verbs_ops;
	fz_ops.ctrl_send = model_ctrl_send;
	fz_ops.rma_post = model_rma_post;
	return 0;
}

/* A buffer the adapter may fill: not holding unread stream data. */
static bool buf_free(const struct verbs_conn *c, uint32_t idx)
{
	uint32_t i;

	for (i = 0; i < c->rx_count; i++)
		if (c->rxq[(c->rx_head + i) % c->nrbuf] == idx)
			return false;
	return true;
}

/* The application reads the oldest unread stream message. */
static void app_read(struct verbs_conn *c)
{
	uint32_t idx, len;

	if (!c->rx_count)
		return;
	idx = c->rxq[c->rx_head];
	len = c->rxlen[idx];
	FZ_CHECK(idx < c->nrbuf && len >= 1 && len <= RSIZE - SCIF_WIRE_HDR_LEN);
	c->rx_head = (c->rx_head + 1) % c->nrbuf;
	c->rx_count--;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct verbs_conn *c = calloc(1, sizeof(*c));
	struct verbs_ep *ve = calloc(1, sizeof(*ve));
	struct fz_in in = { data, size };
	struct scif_ep *ep;
	uint32_t next = 0;

	FZ_CHECK(c && ve);
	c->rdepth = RDEPTH;
	c->cdepth = CDEPTH;
	c->nrbuf = RDEPTH + CDEPTH;
	c->rsize = RSIZE;
	c->rbuf = malloc((size_t)c->nrbuf * RSIZE);
	c->rxq = calloc(c->nrbuf, sizeof(*c->rxq));
	c->rxlen = calloc(c->nrbuf, sizeof(*c->rxlen));
	FZ_CHECK(c->rbuf && c->rxq && c->rxlen);
	c->peer_depth = RDEPTH;
	c->peer_cdepth = CDEPTH;
	c->max_piece = 1u << 30;
	c->peer_node = 1;
	c->peer_port = 2000;
	verbs_rx_table_init(c);
	ve->conn = c;
	ep = fz_ep_new(&fz_ops, ve);
	c->ep = ep;
	while (in.left) {
		uint8_t lead = fz_u8(&in), type;
		size_t n;
		uint8_t *msg;
		int kept;

		if (lead & 1) {
			app_read(c);
			continue;
		}
		if (c->rx_count == c->nrbuf)
			break; /* the peer has no buffer left to send into */
		while (!buf_free(c, next))
			next = (next + 1) % c->nrbuf;
		n = fz_le(&in, 2) % (RSIZE + 1);
		msg = fz_take(&in, &n);
		memcpy(c->rbuf + (size_t)next * RSIZE, msg, n);
		free(msg);
		kept = verbs_rx_parse(c, next, (uint32_t)n, &type);
		FZ_CHECK(kept >= -1 && kept <= 1);
		FZ_CHECK(c->credits <= c->peer_depth &&
			 c->ccredits <= c->peer_cdepth);
		FZ_CHECK(c->rx_count <= c->nrbuf);
		if (kept < 0)
			break; /* conn_proto_error: nothing more is received */
		next = (next + 1) % c->nrbuf;
		fz_check_rwindows(ep);
	}
	fz_ep_free(ep);
	free(c->rbuf);
	free(c->rxq);
	free(c->rxlen);
	free(c);
	free(ve);
	return 0;
}
