/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The shm rings: per direction a byte-stream ring and a control ring of
 * wire.h frames (12-byte header, payload, padded to 8 bytes), in the memfd
 * both processes map.
 *
 * Positions are 64-bit byte counters that only grow; the producer publishes
 * its tail with a release store once the bytes are in, the consumer its
 * head once it has copied them out.  The peer can write anything into the
 * shared page at any time, so each side keeps its own counters privately
 * and only ever reads the peer's, checks that they stay within one ring of
 * its own, and copies a control frame out before it parses it.  A peer that
 * breaks these rules loses the connection, never our memory.
 *
 * Wake-ups: a consumer that may sleep sets rx_armed; a producer that
 * publishes and finds it set clears it and rings the doorbell (a byte on the
 * connection's socket).  tx_armed is the same for room, set by a producer
 * that found a ring full.  The store-fence-load on both sides means that
 * either the producer sees the flag or the consumer sees the new data.
 *
 * Control messages and the stream: a consumer reads the stream tail before
 * it handles the pending control messages, and exposes stream bytes only up
 * to that tail; since a producer publishes a control message before any
 * stream byte it sends afterwards, every control message sent before some
 * bytes is handled before they are read.  The producer keeps the stream
 * behind its outbox for the same reason.
 */
#include "shm.h"

#include <poll.h>
#include <stdlib.h>
#include <string.h>

#define SHM_HDR_LEN 4096 /* the shared header, then the rings */

_Static_assert(sizeof(struct shm_shared) <= SHM_HDR_LEN, "header too big");

static bool pow2(uint32_t v)
{
	return v && !(v & (v - 1));
}

bool shm_shape_ok(uint32_t dsize, uint32_t csize)
{
	return pow2(dsize) && dsize >= SHM_DSIZE_MIN &&
	       dsize <= SHM_DSIZE_MAX && pow2(csize) &&
	       csize >= SHM_CSIZE_MIN && csize <= SHM_CSIZE_MAX;
}

size_t shm_map_len(uint32_t dsize, uint32_t csize)
{
	return SHM_HDR_LEN + 2 * ((size_t)dsize + csize);
}

void shm_rings_init(void *map, uint32_t dsize, uint32_t csize)
{
	struct shm_shared *sh = map;

	sh->magic = SHM_MAGIC;
	sh->version = SHM_VERSION;
	sh->dsize = dsize;
	sh->csize = csize;
	/* Both consumers start armed: the first message rings. */
	sh->dir[0].rx_armed = 1;
	sh->dir[1].rx_armed = 1;
}

void shm_rings_attach(struct shm_conn *c, void *map, uint32_t dsize,
		      uint32_t csize, bool requester)
{
	struct shm_shared *sh = map;
	char *rings = (char *)map + SHM_HDR_LEN;
	int out = requester ? 0 : 1;
	size_t dirlen = (size_t)dsize + csize;

	c->map = map;
	c->map_len = shm_map_len(dsize, csize);
	c->dsize = dsize;
	c->csize = csize;
	c->tx = &sh->dir[out];
	c->rx = &sh->dir[1 - out];
	c->txd = rings + out * dirlen;
	c->txc = c->txd + dsize;
	c->rxd = rings + (1 - out) * dirlen;
	c->rxc = c->rxd + dsize;
	c->tx_tail = c->ctx_tail = c->rx_head = c->crx_head = 0;
	c->rx_seen = 0;
}

/* Copy in and out of a ring of size bytes (a power of two) at byte
 * position pos, wrapping at its end. */
static void ring_put(char *ring, uint32_t size, uint64_t pos, const void *src,
		     size_t len)
{
	size_t off = pos & (size - 1), first = size - off;

	if (first > len)
		first = len;
	memcpy(ring + off, src, first);
	memcpy(ring, (const char *)src + first, len - first);
}

static void ring_get(void *dst, const char *ring, uint32_t size, uint64_t pos,
		     size_t len)
{
	size_t off = pos & (size - 1), first = size - off;

	if (first > len)
		first = len;
	memcpy(dst, ring + off, first);
	memcpy((char *)dst + first, ring, len - first);
}

void shm_violation(struct shm_conn *c, const char *what)
{
	if (c->proto_err)
		return;
	scif_err("shm: connection to %u:%u ended: the peer broke the ring "
		 "protocol (%s)",
		 c->peer_node, c->peer_port, what);
	c->proto_err = true;
	shm_conn_end(c, -ECONNRESET);
}

/* The peer's producer position of a ring we consume: at most size bytes
 * ahead of our head.  false: it is not (the connection is ended). */
static bool peer_tail(struct shm_conn *c, const uint64_t *shared,
		      uint64_t head, uint32_t size, uint64_t *tail)
{
	uint64_t v = __atomic_load_n(shared, __ATOMIC_ACQUIRE);

	if (v - head > size) {
		shm_violation(c, "producer position out of the ring");
		return false;
	}
	*tail = v;
	return true;
}

/* The peer's consumer position of a ring we produce: behind our tail by at
 * most size bytes. */
static bool peer_head(struct shm_conn *c, const uint64_t *shared,
		      uint64_t tail, uint32_t size, uint64_t *head)
{
	uint64_t v = __atomic_load_n(shared, __ATOMIC_ACQUIRE);

	if (tail - v > size) {
		shm_violation(c, "consumer position out of the ring");
		return false;
	}
	*head = v;
	return true;
}

/* We published: ring the peer if it sleeps on its rx side. */
static void kick_peer(struct shm_conn *c)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(&c->tx->rx_armed, __ATOMIC_RELAXED) &&
	    __atomic_exchange_n(&c->tx->rx_armed, 0, __ATOMIC_ACQ_REL))
		shm_doorbell(c);
}

/* We freed room: ring the peer if it waits for room. */
static void kick_room(struct shm_conn *c)
{
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(&c->rx->tx_armed, __ATOMIC_RELAXED) &&
	    __atomic_exchange_n(&c->rx->tx_armed, 0, __ATOMIC_ACQ_REL))
		shm_doorbell(c);
}

/* A writer found no room: ask for a ring when there is some.  The caller
 * checks again after this (the room may have come meanwhile). */
static void arm_tx(struct shm_conn *c)
{
	c->tx_blocked = true;
	__atomic_store_n(&c->tx->tx_armed, 1, __ATOMIC_SEQ_CST);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

void shm_arm(struct shm_conn *c)
{
	__atomic_store_n(&c->rx->rx_armed, 1, __ATOMIC_SEQ_CST);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/* ---- control ring ---- */

/* [ep locked] Put one frame in the control ring: 0, -EAGAIN (no room),
 * -ECONNRESET (the ring is broken). */
static int ctrl_put(struct shm_conn *c, uint8_t type, const void *payload,
		    uint32_t len)
{
	static const char zero[8];
	struct scif_wire_hdr h = { .type = type, .len = len };
	uint32_t frame = shm_pad8(SCIF_WIRE_HDR_LEN + len);
	char hdr[SCIF_WIRE_HDR_LEN];
	uint64_t head, pos = c->ctx_tail;

	if (!peer_head(c, &c->tx->chead, pos, c->csize, &head))
		return -ECONNRESET;
	if (c->csize - (pos - head) < frame)
		return -EAGAIN;
	scif__wire_encode(hdr, &h);
	ring_put(c->txc, c->csize, pos, hdr, sizeof(hdr));
	ring_put(c->txc, c->csize, pos + sizeof(hdr), payload, len);
	ring_put(c->txc, c->csize, pos + sizeof(hdr) + len, zero,
		 frame - sizeof(hdr) - len);
	c->ctx_tail = pos + frame;
	__atomic_store_n(&c->tx->ctail, c->ctx_tail, __ATOMIC_RELEASE);
	return 0;
}

static uint32_t get_le32(const unsigned char *p)
{
	return p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/*
 * [ep locked] Copy the next control frame out of the ring into buf (which
 * holds a header and SCIF_WIRE_CTRL_MAX bytes) and check it: 1 taken, 0
 * none, -1 the ring is broken.  Only the private copy is parsed: the peer
 * may rewrite the ring under us.
 */
static int ctrl_take(struct shm_conn *c, unsigned char *buf,
		     struct scif_wire_hdr *h)
{
	uint64_t tail, avail;
	uint32_t len, frame;

	if (!peer_tail(c, &c->rx->ctail, c->crx_head, c->csize, &tail))
		return -1;
	avail = tail - c->crx_head;
	if (!avail)
		return 0;
	if (avail < shm_pad8(SCIF_WIRE_HDR_LEN))
		goto bad;
	ring_get(buf, c->rxc, c->csize, c->crx_head, SCIF_WIRE_HDR_LEN);
	len = get_le32(buf + 4);
	if (len > SCIF_WIRE_CTRL_MAX)
		goto bad;
	frame = shm_pad8(SCIF_WIRE_HDR_LEN + len);
	if (frame > avail)
		goto bad;
	ring_get(buf + SCIF_WIRE_HDR_LEN, c->rxc, c->csize,
		 c->crx_head + SCIF_WIRE_HDR_LEN, len);
	if (scif__wire_decode(buf, SCIF_WIRE_HDR_LEN + len, h) ||
	    h->type < SCIF_WIRE_CTRL_FIRST || h->type >= SCIF_WIRE_NTYPES)
		goto bad;
	c->crx_head += frame;
	__atomic_store_n(&c->rx->chead, c->crx_head, __ATOMIC_RELEASE);
	return 1;
bad:
	shm_violation(c, "malformed control frame");
	return -1;
}

/*
 * [ep locked] Handle every control message the peer has published, in
 * order, and give their room back (the core wakes waiters itself).  A
 * handler may send (answers go on the other direction) or even release the
 * lock for a while; a nested call meanwhile handles nothing, and its caller
 * must not read the stream (see rx_avail).  Returns how many were handled.
 */
static int ctrl_drain(struct shm_conn *c)
{
	unsigned char buf[SCIF_WIRE_HDR_LEN + SCIF_WIRE_CTRL_MAX];
	struct scif_wire_hdr h;
	int n = 0, ret;

	if (c->in_ctrl || c->proto_err || c->closing)
		return 0;
	c->in_ctrl = true;
	while (ctrl_take(c, buf, &h) > 0) {
		n++;
		ret = scif__ep_ctrl_recv(c->ep, &h, buf + SCIF_WIRE_HDR_LEN);
		if (ret < 0) {
			/* the peers no longer agree on the connection (the
			 * core logged why) */
			scif_dbg("shm: control message %u from %u:%u refused "
				 "(%s): connection ended",
				 h.type, c->peer_node, c->peer_port,
				 strerror(-ret));
			c->proto_err = true;
			shm_conn_end(c, -ECONNRESET);
		}
		if (c->proto_err || c->closing)
			break;
	}
	c->in_ctrl = false;
	if (n && !c->proto_err)
		kick_room(c);
	if (c->closing) /* ep_close waits for us */
		scif__ep_wake(c->ep);
	return n;
}

/* [ep locked] Send what the outbox holds while the ring has room.  Returns
 * whether anything went. */
static bool outbox_flush(struct shm_conn *c)
{
	bool armed = false, sent = false;
	struct shm_outmsg *m;
	int ret;

	while ((m = c->out_head) && !c->dead) {
		ret = ctrl_put(c, m->type, m->payload, m->len);
		if (ret == -EAGAIN && !armed) {
			arm_tx(c);
			armed = true;
			continue;
		}
		if (ret)
			break;
		c->out_head = m->next;
		if (!c->out_head)
			c->out_tail = NULL;
		c->out_answers -= m->answer;
		free(m);
		sent = true;
	}
	if (sent)
		kick_peer(c);
	return sent;
}

void shm_outbox_free(struct shm_conn *c)
{
	while (c->out_head) {
		struct shm_outmsg *m = c->out_head;

		c->out_head = m->next;
		free(m);
	}
	c->out_tail = NULL;
	c->out_answers = 0;
}

int shm_ctrl_send(struct scif_ep *ep, uint8_t type, const void *payload,
		  uint32_t len)
{
	struct shm_conn *c = shm_conn_of(ep);
	struct shm_outmsg *m;
	int ret;

	if (!c || c->state != SHM_UP || c->dead)
		return -ECONNRESET;
	if (len > SCIF_WIRE_CTRL_MAX)
		return -EMSGSIZE;
	if (!c->out_head) {
		ret = ctrl_put(c, type, payload, len);
		if (!ret)
			kick_peer(c);
		if (ret != -EAGAIN)
			return ret;
	}
	/* The ring is full: keep it, in order, until the peer makes room. */
	if (c->in_ctrl && c->out_answers >= SHM_OUTBOX_MAX) {
		shm_violation(c, "it does not read the answers to its requests");
		return -ECONNRESET;
	}
	m = malloc(sizeof(*m) + len);
	if (!m)
		return -ENOMEM;
	m->next = NULL;
	m->answer = c->in_ctrl;
	m->type = type;
	m->len = len;
	if (len)
		memcpy(m->payload, payload, len);
	if (c->out_tail)
		c->out_tail->next = m;
	else
		c->out_head = m;
	c->out_tail = m;
	c->out_answers += m->answer;
	outbox_flush(c);
	return 0;
}

/* ---- stream ---- */

/* [ep locked] Stream bytes readable now (see the top of the file for why
 * the tail is read before the control messages are handled). */
static uint64_t rx_avail(struct shm_conn *c)
{
	uint64_t tail;

	if (c->state != SHM_UP || c->proto_err)
		return 0;
	if (!peer_tail(c, &c->rx->tail, c->rx_head, c->dsize, &tail))
		return 0;
	ctrl_drain(c);
	/* a control message is still being handled by another call */
	if (c->in_ctrl || c->proto_err)
		return 0;
	return tail - c->rx_head;
}

/* [ep locked] Room in the stream ring now; false if the ring is broken. */
static bool tx_room(struct shm_conn *c, uint64_t *room)
{
	uint64_t head;

	if (!peer_head(c, &c->tx->head, c->tx_tail, c->dsize, &head))
		return false;
	*room = c->dsize - (c->tx_tail - head);
	return true;
}

/* [ep locked] Whether a writer can go on now; arms tx when it cannot.
 * -ECONNRESET when the connection is gone. */
static int tx_ready(struct shm_conn *c, uint64_t *room)
{
	*room = 0;
	if (c->dead || c->proto_err)
		return -ECONNRESET;
	if (c->out_head)
		outbox_flush(c);
	if (c->out_head) /* stream bytes must not overtake the outbox */
		return c->dead ? -ECONNRESET : 0;
	if (!tx_room(c, room))
		return -ECONNRESET;
	if (*room)
		return 0;
	arm_tx(c);
	return tx_room(c, room) ? 0 : -ECONNRESET;
}

ssize_t shm_send(struct scif_ep *ep, const void *buf, size_t len)
{
	struct shm_conn *c = shm_conn_of(ep);
	uint64_t room;
	size_t n;
	int ret;

	if (!c || c->state != SHM_UP)
		return -ECONNRESET;
	ret = tx_ready(c, &room);
	if (ret)
		return ret;
	n = len < room ? len : (size_t)room;
	if (!n)
		return 0;
	ring_put(c->txd, c->dsize, c->tx_tail, buf, n);
	c->tx_tail += n;
	__atomic_store_n(&c->tx->tail, c->tx_tail, __ATOMIC_RELEASE);
	kick_peer(c);
	return (ssize_t)n;
}

ssize_t shm_recv(struct scif_ep *ep, void *buf, size_t len)
{
	struct shm_conn *c = shm_conn_of(ep);
	uint64_t avail;
	size_t n;

	if (!c)
		return 0;
	avail = rx_avail(c);
	n = len < avail ? len : (size_t)avail;
	if (!n)
		return 0;
	ring_get(buf, c->rxd, c->dsize, c->rx_head, n);
	c->rx_head += n;
	__atomic_store_n(&c->rx->head, c->rx_head, __ATOMIC_RELEASE);
	kick_room(c);
	return (ssize_t)n;
}

int shm_recv_ready(struct scif_ep *ep)
{
	struct shm_conn *c = shm_conn_of(ep);

	return c && rx_avail(c) > 0;
}

int shm_send_ready(struct scif_ep *ep)
{
	struct shm_conn *c = shm_conn_of(ep);
	uint64_t room;

	if (!c || c->state != SHM_UP)
		return 0;
	return !tx_ready(c, &room) && room > 0;
}

short shm_ready(struct scif_ep *ep)
{
	struct shm_conn *c = shm_conn_of(ep);
	uint64_t room;
	short ev;

	if (!c)
		return 0;
	ev = rx_avail(c) > 0 ? POLLIN : 0;
	if (c->state == SHM_UP && !tx_ready(c, &room) && room > 0)
		ev |= POLLOUT;
	return ev;
}

/*
 * [ep locked] Look at everything the peer may have changed: control
 * messages (handled), stream data, room for a blocked writer, the outbox.
 * Returns whether a waiter may care.
 */
bool shm_service(struct shm_conn *c)
{
	bool changed = false;
	uint64_t tail, room;

	if (c->state != SHM_UP || c->proto_err || c->closing)
		return false;
	if (!peer_tail(c, &c->rx->tail, c->rx_head, c->dsize, &tail))
		return true;
	if (ctrl_drain(c))
		changed = true;
	if (c->proto_err || c->closing)
		return true;
	if (tail != c->rx_seen) {
		c->rx_seen = tail;
		changed = true;
	}
	if (c->out_head && outbox_flush(c))
		changed = true;
	if (c->tx_blocked && !c->dead && !c->out_head) {
		if (!tx_room(c, &room))
			return true;
		if (room) {
			c->tx_blocked = false;
			changed = true;
		}
	}
	return changed;
}

/*
 * [ep locked] A thread polls us (SCIF_SPIN_US): it will see what the peer
 * publishes, so the peer need not ring the doorbell (a system call and a
 * wake-up of our progress thread per message).  ep_idle arms it again
 * when the polling stops.
 */
int shm_ep_progress(struct scif_ep *ep)
{
	struct shm_conn *c = shm_conn_of(ep);

	if (!c)
		return 0;
	if (c->state == SHM_UP && !c->dead &&
	    __atomic_load_n(&c->rx->rx_armed, __ATOMIC_RELAXED))
		__atomic_store_n(&c->rx->rx_armed, 0, __ATOMIC_RELAXED);
	if (!shm_service(c))
		return 0;
	/* Other waiters (poll on the descriptor) hear of it too: the
	 * progress thread, rung for the same change, finds nothing new. */
	if (!c->closing)
		scif__ep_wake(ep);
	return 1;
}

/* [ep locked] The polling stopped: arm the doorbell again, then look once
 * more for what was published before the peer could see it armed. */
int shm_ep_idle(struct scif_ep *ep)
{
	struct shm_conn *c = shm_conn_of(ep);

	if (!c || c->state != SHM_UP || c->dead)
		return 0;
	shm_arm(c);
	if (!shm_service(c))
		return 0;
	if (!c->closing)
		scif__ep_wake(ep);
	return 1;
}
