/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz target: the shm provider's rings (provider/shm/shm_msg.c) as the
 * peer can leave them: the shared memory is the peer's to write, whatever
 * it holds.  We are the acceptor (we consume direction 0, produce 1), on
 * rings of the smallest shape.  The input is a list of steps, each led by
 * a byte:
 *   0  the peer writes control-ring bytes: position (2 bytes), count (1),
 *      the bytes
 *   1  ... stream-ring bytes likewise
 *   2  the peer moves its control tail: by a count (2 bytes)
 *   3  ... its stream tail
 *   4  ... sets one of the four shared positions to 8 raw bytes
 *   5  the peer consumes: its heads follow our tails
 *   6  our progress: shm_service (the progress thread's call)
 *   7  our scif_recv: shm_recv into a buffer of the size asked (2 bytes)
 *   8  our scif_send of that many bytes
 *   9  our control message (a FENCE_REQ)
 * Checked: no access outside the mapping and the buffers (sanitizers), a
 * call never moves more than asked, a connection the provider ended is
 * disconnected at the core, and every queued control message is released.
 */
#include "fuzz.h"
#include "../../provider/shm/shm.h"

#include <string.h>

#define DSIZE SHM_DSIZE_MIN
#define CSIZE SHM_CSIZE_MIN

static struct scif_provider_ops fz_ops;
static struct shm_prov fz_sp;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	fz_quiet();
	fz_ops = scif_shm_ops;
	return 0;
}

struct peer { /* the peer's view of the mapping */
	struct shm_shared *sh;
	char *rxd, *rxc; /* what it produces (our direction in) */
	uint64_t tail, ctail;
};

static void peer_write(char *ring, uint32_t size, struct fz_in *in)
{
	uint32_t pos = fz_le(in, 2);
	size_t n = fz_u8(in), i;
	uint8_t *b = fz_take(in, &n);

	for (i = 0; i < n; i++)
		ring[(pos + i) & (size - 1)] = (char)b[i];
	free(b);
}

static void peer_set(struct peer *p, struct fz_in *in)
{
	uint8_t which = fz_u8(in) % 4;
	uint64_t v = fz_le(in, 4);

	v |= (uint64_t)fz_le(in, 4) << 32;
	if (which == 0)
		__atomic_store_n(&p->sh->dir[0].tail, v, __ATOMIC_RELEASE);
	else if (which == 1)
		__atomic_store_n(&p->sh->dir[0].ctail, v, __ATOMIC_RELEASE);
	else if (which == 2)
		__atomic_store_n(&p->sh->dir[1].head, v, __ATOMIC_RELEASE);
	else
		__atomic_store_n(&p->sh->dir[1].chead, v, __ATOMIC_RELEASE);
}

/* [ep locked] Steps 6..9: our own calls. */
static void our_call(struct scif_ep *ep, struct shm_conn *c, uint8_t lead,
		     struct fz_in *in)
{
	size_t n = fz_le(in, 2);
	struct scif_wire_id m = { 0 };
	char *b;
	ssize_t r;

	if (lead == 6) {
		shm_service(c);
	} else if (lead == 7) {
		b = malloc(n ? n : 1);
		FZ_CHECK(b);
		r = fz_ops.recv(ep, b, n);
		FZ_CHECK(r <= (ssize_t)n);
		free(b);
	} else if (lead == 8) {
		b = calloc(1, n ? n : 1);
		FZ_CHECK(b);
		r = fz_ops.send(ep, b, n);
		FZ_CHECK(r <= (ssize_t)n);
		free(b);
	} else {
		m.id = scif__ctrl_new_id(ep);
		r = fz_ops.ctrl_send(ep, SCIF_WIRE_FENCE_REQ, &m, sizeof(m));
		FZ_CHECK(!r || r == -ECONNRESET);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t len = shm_map_len(DSIZE, CSIZE);
	void *map = aligned_alloc(SHM_CACHELINE, len);
	struct shm_conn *c = calloc(1, sizeof(*c));
	struct fz_in in = { data, size };
	struct scif_ep *ep;
	struct peer p;

	FZ_CHECK(map && c);
	memset(map, 0, len);
	shm_rings_init(map, DSIZE, CSIZE);
	shm_rings_attach(c, map, DSIZE, CSIZE, false);
	c->sp = &fz_sp;
	c->fd = c->handle = -1; /* no doorbell */
	c->state = SHM_UP;
	c->peer_node = 1;
	c->peer_port = 2000;
	p.sh = map;
	p.rxd = c->rxd;
	p.rxc = c->rxc;
	p.tail = p.ctail = 0;
	ep = fz_ep_new(&fz_ops, c);
	c->ep = ep;
	while (in.left && !c->dead) {
		uint8_t lead = fz_u8(&in) % 10;

		if (lead == 0 || lead == 1) {
			peer_write(lead ? p.rxd : p.rxc, lead ? DSIZE : CSIZE,
				   &in);
		} else if (lead == 2 || lead == 3) {
			uint64_t *t = lead == 2 ? &p.ctail : &p.tail;

			*t += fz_le(&in, 2);
			__atomic_store_n(lead == 2 ? &p.sh->dir[0].ctail :
						     &p.sh->dir[0].tail,
					 *t, __ATOMIC_RELEASE);
		} else if (lead == 4) {
			peer_set(&p, &in);
		} else if (lead == 5) {
			p.sh->dir[1].head = c->tx_tail;
			p.sh->dir[1].chead = c->ctx_tail;
		} else {
			our_call(ep, c, lead, &in);
		}
	}
	FZ_CHECK(!c->dead || c->gone_told || ep->state != SCIF_EP_CONNECTED);
	c->closing = true;
	fz_ep_free(ep);
	shm_outbox_free(c);
	free(c);
	free(map);
	return 0;
}
