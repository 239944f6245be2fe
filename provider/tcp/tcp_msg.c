/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tcp framing: the transmit queue, the receive parser, the byte stream and
 * the core's control messages.
 *
 * Transmit: frames go out in the order they were queued (a control message
 * queued before some stream bytes reaches the peer first), gathered into
 * one sendmsg; whatever the socket does not take waits in the queue, and
 * EPOLLOUT is watched until it has gone.  Stream bytes are sent straight
 * from the caller's buffer when nothing waits; only the part the socket
 * did not take is copied.  Stream data is sent only within the window the
 * receiver granted (its receive buffer, less what it has not consumed).
 *
 * Receive: the socket is always read to the end.  Frames are parsed from a
 * staging buffer; a payload's bulk goes to its sink (the stream buffer, a
 * window for a write, the destination of a read) straight from the socket
 * when it is large.  Everything from the peer is checked before it is used:
 * a frame type or length out of bounds, stream data beyond the window, an
 * answer to no request end the connection.
 *
 * The receiver acknowledges stream data it has taken at once (ACK: bytes
 * received, bytes consumed): that is "delivered" for send_pending, and the
 * window's update.  Consumption alone is reported when the sender may be
 * short of window.
 */
#include "tcp.h"

#include <sys/epoll.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#define RX_BUDGET 64	     /* socket reads per service call */
#define RX_DIRECT (16u << 10) /* bulk this large is read straight */

int tcp_conn_buffers(struct tcp_conn *c, uint32_t peer_win)
{
	c->rxwin = c->tp->rxwin;
	c->peer_win = peer_win;
	c->ring = malloc(c->rxwin);
	c->rbuf = malloc(TCP_RBUF);
	return c->ring && c->rbuf ? 0 : -ENOMEM;
}

void tcp_conn_free_bufs(struct tcp_conn *c)
{
	free(c->ring);
	free(c->rbuf);
	c->ring = NULL;
	c->rbuf = NULL;
}

/* A frame of type with plen bytes of head payload and dlen bytes of data
 * after it; the caller fills head[SCIF_WIRE_HDR_LEN..] and data. */
struct tcp_txi *tcp_txi_new(uint8_t type, uint32_t plen, uint64_t dlen)
{
	struct scif_wire_hdr h = { .type = type, .len = (uint32_t)(plen + dlen) };
	struct tcp_txi *t = malloc(sizeof(*t) + SCIF_WIRE_HDR_LEN + plen);

	if (!t)
		return NULL;
	t->next = NULL;
	t->off = 0;
	t->dlen = dlen;
	t->data = NULL;
	t->win = NULL;
	t->answer = false;
	t->hlen = SCIF_WIRE_HDR_LEN + plen;
	scif__wire_encode(t->head, &h);
	return t;
}

void tcp_tx_queue(struct tcp_conn *c, struct tcp_txi *t)
{
	t->answer = c->in_rx;
	c->tx_answers += t->answer;
	if (c->tx_tail)
		c->tx_tail->next = t;
	else
		c->tx_head = t;
	c->tx_tail = t;
}

static void txi_free(struct tcp_conn *c, struct tcp_txi *t)
{
	c->tx_answers -= t->answer;
	if (t->win)
		scif__ep_window_put(c->ep, t->win);
	free(t);
}

/* [ep locked] Drop the queue (the connection ends). */
void tcp_tx_free(struct tcp_conn *c)
{
	struct tcp_txi *t;

	while ((t = c->tx_head)) {
		c->tx_head = t->next;
		txi_free(c, t);
	}
	c->tx_tail = NULL;
}

/* Gather the unsent part of the queue into iov. */
static int tx_gather(struct tcp_conn *c, struct iovec *iov)
{
	struct tcp_txi *t;
	int n = 0;

	for (t = c->tx_head; t && n < TCP_IOV - 1; t = t->next) {
		if (t->off < t->hlen) {
			iov[n].iov_base = t->head + t->off;
			iov[n++].iov_len = t->hlen - t->off;
		}
		if (t->dlen && t->off < t->hlen + t->dlen) {
			uint64_t done = t->off > t->hlen ? t->off - t->hlen : 0;

			iov[n].iov_base = (char *)t->data + done;
			iov[n++].iov_len = t->dlen - done;
		}
	}
	return n;
}

/* Account for sent bytes: free what has gone. */
static void tx_advance(struct tcp_conn *c, size_t sent)
{
	struct tcp_txi *t;

	while (sent && (t = c->tx_head)) {
		uint64_t left = t->hlen + t->dlen - t->off;

		if (sent < left) {
			t->off += sent;
			return;
		}
		sent -= left;
		c->tx_head = t->next;
		if (!c->tx_head)
			c->tx_tail = NULL;
		txi_free(c, t);
	}
}

/* [ep locked] Send what the queue holds while the socket takes it.
 * Returns whether anything went. */
bool tcp_tx_flush(struct tcp_conn *c)
{
	struct iovec iov[TCP_IOV];
	struct msghdr msg = { .msg_iov = iov };
	bool sent = false;
	ssize_t r;

	while (c->tx_head && !c->dead && c->state >= TCP_HELLO_SENT) {
		msg.msg_iovlen = (size_t)tx_gather(c, iov);
		r = sendmsg(c->fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (r < 0) {
			scif_dbg("tcp: send to %u:%u: %m", c->peer_node,
				 c->peer_port);
			tcp_conn_end(c, tcp_loss_err(errno));
			return true;
		}
		sent = true;
		tx_advance(c, (size_t)r);
	}
	tcp_want_out(c, c->tx_head != NULL && !c->dead);
	return sent;
}

/* [ep locked] Queue a small frame; it goes with the next flush (at once
 * unless the receive parser runs, which flushes when it is done). */
int tcp_send_small(struct tcp_conn *c, uint8_t type, const void *payload,
		   uint32_t len)
{
	struct tcp_txi *t;

	if (c->dead)
		return -ECONNRESET;
	t = tcp_txi_new(type, len, 0);
	if (!t)
		return -ENOMEM;
	if (len)
		memcpy(t->head + SCIF_WIRE_HDR_LEN, payload, len);
	tcp_tx_queue(c, t);
	if (!c->in_rx)
		tcp_tx_flush(c);
	return 0;
}

static void send_ack(struct tcp_conn *c)
{
	unsigned char p[16];

	tcp_put_le(p, c->rx_total, 8);
	tcp_put_le(p + 8, c->consumed, 8);
	if (!tcp_send_small(c, TCP_ACK, p, sizeof(p))) {
		c->adv_rx = c->rx_total;
		c->adv_consumed = c->consumed;
	}
}

/* ---- receive ---- */

/* Read the socket into the staging buffer: 1, 0 (nothing there), -1 (the
 * connection ended). */
static int rx_fill(struct tcp_conn *c)
{
	ssize_t r;

	if (c->rpos == c->rend) {
		c->rpos = c->rend = 0;
	} else if (c->rpos && TCP_RBUF - c->rend < 4096) {
		memmove(c->rbuf, c->rbuf + c->rpos, c->rend - c->rpos);
		c->rend -= c->rpos;
		c->rpos = 0;
	}
	do
		r = recv(c->fd, c->rbuf + c->rend, TCP_RBUF - c->rend,
			 MSG_DONTWAIT);
	while (r < 0 && errno == EINTR);
	if (r > 0) {
		c->rend += (uint32_t)r;
		return 1;
	}
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	if (r < 0) {
		int err = errno;

		scif_dbg("tcp: receive from %u:%u: %m", c->peer_node,
			 c->peer_port);
		if (c->state == TCP_UP && tcp_loss_err(err) == -ENODEV) {
			scif_info("tcp: %u:%u silent (%s): its node is lost",
				  c->peer_node, c->peer_port, strerror(err));
			tcp_conn_end(c, -ENODEV);
			return -1;
		}
	} else {
		scif_dbg("tcp: %u:%u closed the connection", c->peer_node,
			 c->peer_port);
	}
	tcp_conn_end(c, c->state == TCP_UP ? -ECONNRESET : -ECONNREFUSED);
	return -1;
}

static uint32_t rx_take(struct tcp_conn *c, void *dst, uint32_t n)
{
	uint32_t avail = c->rend - c->rpos;

	if (n > avail)
		n = avail;
	if (n && dst)
		memcpy(dst, c->rbuf + c->rpos, n);
	c->rpos += n;
	return n;
}

static int on_accept(struct tcp_conn *c)
{
	struct tcp_hello m;

	if (tcp_hello_decode(c->sbuf, SCIF_WIRE_HDR_LEN + 20, TCP_ACCEPT,
			     &m)) {
		tcp_violation(c, "malformed answer to a connection request");
		return -1;
	}
	if (m.rsvd == TCP_REJECT) {
		scif_dbg("tcp: connection refused by %u:%u", c->peer_node,
			 c->want_port);
		tcp_conn_end(c, -ECONNREFUSED);
		return -1;
	}
	if (m.node != c->peer_node || m.rxwin < (64u << 10) ||
	    (m.rxwin & (m.rxwin - 1))) {
		tcp_violation(c, "bad ACCEPT");
		return -1;
	}
	c->peer_port = m.port;
	c->peer_win = m.rxwin;
	c->state = TCP_UP;
	scif_dbg("tcp: port %u connected to %u:%u", scif__ep_port(c->ep),
		 m.node, m.port);
	scif__ep_conn_done(c->ep, 0, m.node, m.port);
	return 1;
}

static int on_ack(struct tcp_conn *c, const unsigned char *p)
{
	uint64_t rx = tcp_get_le(p, 8), cons = tcp_get_le(p + 8, 8);

	if (rx < c->peer_rx || rx > c->tx_total || cons < c->peer_cons ||
	    cons > rx) {
		tcp_violation(c, "ACK out of range");
		return -1;
	}
	c->peer_rx = rx;
	c->peer_cons = cons;
	return 1;
}

static int on_ctrl(struct tcp_conn *c, const unsigned char *p)
{
	int ret;

	if (c->h.type == SCIF_WIRE_WIN_ADD && c->h.len >= 8)
		c->win_off = tcp_get_le(p, 8); /* for rmr_import */
	ret = scif__ep_ctrl_recv(c->ep, &c->h, p);
	if (ret < 0) { /* the core logged why */
		scif_dbg("tcp: control message %u from %u:%u refused (%s): "
			 "connection ended",
			 c->h.type, c->peer_node, c->peer_port, strerror(-ret));
		tcp_conn_end(c, -ECONNRESET);
		return -1;
	}
	return 1;
}

/* A frame's fixed part is in sbuf (after the header copy). */
static int on_body(struct tcp_conn *c, bool *changed)
{
	const unsigned char *p = c->sbuf + SCIF_WIRE_HDR_LEN;
	uint64_t rest = c->h.len - c->need;

	*changed = true;
	switch (c->h.type) {
	case TCP_ACCEPT:
	case TCP_REJECT:
		return on_accept(c);
	case TCP_ACK:
		return on_ack(c, p);
	case TCP_WRITE:
		return tcp_rx_write(c, p, rest);
	case TCP_READ:
		return tcp_rx_read(c, p);
	case TCP_RDATA:
		return tcp_rx_rdata(c, p, rest);
	case TCP_DONE:
		return tcp_rx_done(c, p);
	default:
		return on_ctrl(c, p);
	}
}

/* The header is in: check it and say what follows (c->need bytes of fixed
 * part, then bulk).  -1 when the connection ended. */
static int on_hdr(struct tcp_conn *c)
{
	uint8_t type = c->hbuf[0];
	uint32_t len = (uint32_t)tcp_get_le(c->hbuf + 4, 4), need = len;
	bool up = c->state == TCP_UP;
	char why[64];

	if (c->hbuf[1] != SCIF_WIRE_VERSION)
		goto bad;
	c->h.type = type;
	c->h.version = c->hbuf[1];
	c->h.len = len;
	if (!up) {
		if ((type != TCP_ACCEPT && type != TCP_REJECT) || len != 20)
			goto bad;
	} else if (type == SCIF_WIRE_DATA) {
		if (!len || len > c->rxwin - (c->rx_total - c->consumed))
			goto bad;
		c->sink = SINK_DATA;
		c->left = len;
		c->phase = RX_BULK;
		return 1;
	} else if (type >= SCIF_WIRE_CTRL_FIRST && type < SCIF_WIRE_NTYPES) {
		if (len > SCIF_WIRE_CTRL_MAX)
			goto bad;
	} else if (type == TCP_ACK || type == TCP_DONE || type == TCP_READ) {
		if (len != (type == TCP_READ ? 24u : 16u))
			goto bad;
	} else if (type == TCP_WRITE) {
		if (len < 24 || len - 24 > TCP_MAX_PIECE)
			goto bad;
		need = 24;
	} else if (type == TCP_RDATA) {
		if (len < 8 || len - 8 > TCP_MAX_PIECE)
			goto bad;
		need = 8;
	} else {
		goto bad;
	}
	memcpy(c->sbuf, c->hbuf, SCIF_WIRE_HDR_LEN);
	c->need = need;
	c->phase = RX_BODY;
	return 1;
bad:
	snprintf(why, sizeof(why), "frame type %u version %u of %u bytes", type,
		 c->hbuf[1], len);
	tcp_violation(c, why);
	return -1;
}

/* Where bulk goes now, and how much fits there contiguously. */
static char *sink_at(struct tcp_conn *c, uint64_t *max)
{
	uint32_t off;

	*max = c->left;
	switch (c->sink) {
	case SINK_DATA:
		off = (uint32_t)(c->rx_total & (c->rxwin - 1));
		if (*max > c->rxwin - off)
			*max = c->rxwin - off;
		return c->ring + off;
	case SINK_WRITE:
		return c->bulk;
	case SINK_RDATA:
		return c->rslot->dst + c->rslot->got;
	default:
		return NULL;
	}
}

static void sink_moved(struct tcp_conn *c, uint64_t n)
{
	c->left -= n;
	if (c->sink == SINK_DATA)
		c->rx_total += n;
	else if (c->sink == SINK_WRITE)
		c->bulk += n;
	else if (c->sink == SINK_RDATA)
		c->rslot->got += n;
}

static int bulk_end(struct tcp_conn *c)
{
	c->phase = RX_HDR;
	if (c->sink == SINK_WRITE || c->sink == SINK_DROP)
		tcp_rx_write_end(c);
	else if (c->sink == SINK_RDATA)
		tcp_rx_rdata_end(c);
	return c->dead ? -1 : 1;
}

/* Move bulk: from staging, or straight from the socket.  1 progress, 0
 * staging empty, -1 the socket is empty or the connection ended. */
static int bulk_step(struct tcp_conn *c, bool *changed, bool *got_data)
{
	uint64_t max;
	char *dst = sink_at(c, &max);
	uint32_t n;
	ssize_t r;

	*changed = true;
	if (c->sink == SINK_DATA)
		*got_data = true;
	if (c->rpos < c->rend) {
		n = rx_take(c, dst, max > UINT32_MAX ? UINT32_MAX :
						      (uint32_t)max);
		sink_moved(c, n);
	} else if (dst && max >= RX_DIRECT) {
		do
			r = recv(c->fd, dst, max, MSG_DONTWAIT);
		while (r < 0 && errno == EINTR);
		if (r <= 0)
			return rx_fill(c) > 0 ? 1 : -1; /* EAGAIN, EOF, error */
		sink_moved(c, (uint64_t)r);
	} else {
		return 0;
	}
	return c->left ? 1 : bulk_end(c);
}

static int rx_step(struct tcp_conn *c, bool *changed, bool *got_data)
{
	uint32_t n;
	int ret;

	switch (c->phase) {
	case RX_HDR:
		n = rx_take(c, c->hbuf + c->got, SCIF_WIRE_HDR_LEN - c->got);
		c->got += n;
		if (c->got < SCIF_WIRE_HDR_LEN)
			return 0;
		c->got = 0;
		return on_hdr(c);
	case RX_BODY:
		n = rx_take(c, c->sbuf + SCIF_WIRE_HDR_LEN + c->got,
			    c->need - c->got);
		c->got += n;
		if (c->got < c->need)
			return 0;
		c->got = 0;
		c->phase = RX_HDR;
		ret = on_body(c, changed);
		if (ret > 0 && c->phase == RX_BULK && !c->left)
			ret = bulk_end(c);
		return ret;
	default:
		return bulk_step(c, changed, got_data);
	}
}

/* [ep locked] Parse what the socket holds.  Returns whether anything
 * happened. */
static bool rx_run(struct tcp_conn *c)
{
	bool changed = false, got_data = false;
	int budget = RX_BUDGET, r;

	if (c->in_rx || c->fd < 0 || !c->rbuf)
		return false;
	c->in_rx = true;
	while (!c->dead && !c->closing) {
		r = rx_step(c, &changed, &got_data);
		if (r < 0)
			break;
		if (r > 0)
			continue;
		if (!budget-- || rx_fill(c) <= 0)
			break;
	}
	c->in_rx = false;
	if (c->closing)
		scif__ep_wake(c->ep); /* ep_close waits for in_rx */
	if (got_data && !c->dead)
		send_ack(c);
	return changed;
}

/* [ep locked] Receive, then send what waits.  Whether a waiter may care. */
bool tcp_service(struct tcp_conn *c)
{
	bool changed = false, had = c->tx_head != NULL;
	uint64_t rx = c->peer_rx, cons = c->peer_cons;

	if (c->state != TCP_UP && c->state != TCP_HELLO_SENT)
		return c->dead;
	if (!c->dead)
		changed = rx_run(c);
	if (!c->dead && c->tx_head)
		tcp_tx_flush(c);
	if (!c->dead && c->tx_answers > TCP_ANSWERS_MAX)
		tcp_violation(c, "it does not read the answers to its requests");
	if (rx != c->peer_rx || cons != c->peer_cons || c->dead ||
	    (had && !c->tx_head))
		changed = true;
	return changed;
}

/* ---- stream ---- */

static uint64_t tx_window(struct tcp_conn *c)
{
	return c->peer_cons + c->peer_win - c->tx_total;
}

ssize_t tcp_send(struct scif_ep *ep, const void *buf, size_t len)
{
	struct tcp_conn *c = tcp_conn_of(ep);
	unsigned char hdr[SCIF_WIRE_HDR_LEN];
	struct scif_wire_hdr h = { .type = SCIF_WIRE_DATA };
	struct iovec iov[2];
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 2 };
	struct tcp_txi *t;
	uint64_t win;
	size_t n, done = 0, total;
	ssize_t r;

	if (!c || c->state != TCP_UP || c->dead)
		return -ECONNRESET;
	if (c->tx_head) /* the socket is full: EPOLLOUT wakes us */
		return 0;
	win = tx_window(c);
	n = len < win ? len : (size_t)win;
	if (!n)
		return 0;
	h.len = (uint32_t)n;
	scif__wire_encode(hdr, &h);
	iov[0].iov_base = hdr;
	iov[0].iov_len = sizeof(hdr);
	iov[1].iov_base = (void *)buf;
	iov[1].iov_len = n;
	total = sizeof(hdr) + n;
	do
		r = sendmsg(c->fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
	while (r < 0 && errno == EINTR);
	if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
		int err = tcp_loss_err(errno);

		tcp_conn_end(c, err);
		return err;
	}
	if (r > 0)
		done = (size_t)r;
	c->tx_total += n;
	if (done == total)
		return (ssize_t)n;
	/* the rest of the frame waits in the queue, copied */
	t = malloc(sizeof(*t) + total - done);
	if (!t) {
		tcp_conn_end(c, -ENOMEM);
		return -ENOMEM;
	}
	memset(t, 0, sizeof(*t));
	t->hlen = (uint32_t)(total - done);
	if (done < sizeof(hdr)) {
		memcpy(t->head, hdr + done, sizeof(hdr) - done);
		memcpy(t->head + sizeof(hdr) - done, buf, n);
	} else {
		memcpy(t->head, (const char *)buf + done - sizeof(hdr),
		       total - done);
	}
	tcp_tx_queue(c, t);
	tcp_want_out(c, true);
	return (ssize_t)n;
}

ssize_t tcp_recv(struct scif_ep *ep, void *buf, size_t len)
{
	struct tcp_conn *c = tcp_conn_of(ep);
	uint64_t avail;
	size_t n, off, first;

	if (!c || !c->ring)
		return 0;
	avail = c->rx_total - c->consumed;
	n = len < avail ? len : (size_t)avail;
	if (!n)
		return 0;
	off = (size_t)(c->consumed & (c->rxwin - 1));
	first = c->rxwin - off < n ? c->rxwin - off : n;
	memcpy(buf, c->ring + off, first);
	memcpy((char *)buf + first, c->ring, n - first);
	c->consumed += n;
	/* the sender may be short of window: tell it what is free */
	if (!c->dead && c->state == TCP_UP &&
	    (c->consumed - c->adv_consumed >= c->rxwin / 4 ||
	     (c->consumed == c->rx_total &&
	      c->rx_total - c->adv_consumed > c->rxwin / 2)))
		send_ack(c);
	return (ssize_t)n;
}

int tcp_recv_ready(struct scif_ep *ep)
{
	struct tcp_conn *c = tcp_conn_of(ep);

	return c && c->rx_total > c->consumed;
}

int tcp_send_ready(struct scif_ep *ep)
{
	struct tcp_conn *c = tcp_conn_of(ep);

	if (!c || c->state != TCP_UP || c->dead)
		return 0;
	return !c->tx_head && tx_window(c) > 0;
}

int tcp_send_pending(struct scif_ep *ep)
{
	struct tcp_conn *c = tcp_conn_of(ep);
	uint64_t p;

	if (!c || c->state != TCP_UP || c->dead)
		return 0;
	p = c->tx_total - c->peer_rx;
	return p > INT_MAX ? INT_MAX : (int)p;
}

int tcp_ctrl_send(struct scif_ep *ep, uint8_t type, const void *payload,
		  uint32_t len)
{
	struct tcp_conn *c = tcp_conn_of(ep);

	if (!c || c->state != TCP_UP || c->dead)
		return -ECONNRESET;
	if (len > SCIF_WIRE_CTRL_MAX)
		return -EMSGSIZE;
	return tcp_send_small(c, type, payload, len);
}

/*
 * [ep locked] Leader wait (libscif/wait.c): a thread blocked on ep sleeps
 * on the connection's epoll descriptor itself while the progress thread
 * leaves it alone.  A connection that died is left to the progress thread,
 * which stops watching it (scif__progress_del cannot be called here: a
 * callback that already started may be waiting for our lock).
 */
int tcp_ep_lead(struct scif_ep *ep)
{
	struct tcp_conn *c = tcp_conn_of(ep);

	if (!c || c->closing || c->dead || c->state != TCP_UP ||
	    c->handle < 0 || scif__progress_set_events(c->tp->pg, c->handle, 0))
		return -EOPNOTSUPP;
	return c->efd;
}

int tcp_ep_lead_event(struct scif_ep *ep)
{
	return tcp_ep_progress(ep);
}

void tcp_ep_unlead(struct scif_ep *ep)
{
	struct tcp_conn *c = tcp_conn_of(ep);

	if (c && c->handle >= 0)
		scif__progress_set_events(c->tp->pg, c->handle, EPOLLIN);
}

/* [ep locked] A thread polls us (SCIF_SPIN_US): read and send ourselves. */
int tcp_ep_progress(struct scif_ep *ep)
{
	struct tcp_conn *c = tcp_conn_of(ep);

	if (!c || c->closing || !tcp_service(c))
		return 0;
	if (!c->closing)
		scif__ep_wake(ep);
	return 1;
}
