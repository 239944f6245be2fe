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
 * Delivery: a stream byte is at the peer when the peer's TCP acknowledged
 * it (tcp_tx_delivered).  The receiver's ACK (bytes received, bytes consumed)
 * goes when asked (ACKREQ: a sender is about to sleep on delivery, and no
 * kernel event would wake it) and as the window's update, when the sender
 * may be short of window.  Acknowledging every message instead would cost
 * a send and a receive per message, which a request/response exchange
 * pays for nothing: its answer carries the TCP acknowledgement.
 */
#include "tcp.h"

#include <linux/sockios.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>

#include <limits.h>
#include <poll.h>
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
	t->framed = true;
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

/* A frame header's last four bytes (unused by tcp): the stream bytes we
 * received, as the frame leaves (see on_stamp). */
static void stamp(const struct tcp_conn *c, unsigned char *hdr)
{
	tcp_put_le(hdr + SCIF_WIRE_HDR_LEN - 4, (uint32_t)c->rx_total, 4);
}

/* Gather the unsent part of the queue into iov. */
static int tx_gather(struct tcp_conn *c, struct iovec *iov)
{
	struct tcp_txi *t;
	int n = 0;

	for (t = c->tx_head; t && n < TCP_IOV - 1; t = t->next) {
		if (!t->off && t->framed)
			stamp(c, t->head);
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

static bool rx_run(struct tcp_conn *c);

/*
 * [ep locked] The socket refuses our bytes: the peer reset or closed (or
 * fell silent: its node is lost, tcp_loss_err).  What
 * it sent before may still wait in the socket, and its sender counted it
 * delivered once our TCP acknowledged it: take it in before the connection
 * ends (reading ends it, at the reset).
 */
static int tx_failed(struct tcp_conn *c)
{
	int err = tcp_loss_err(errno); /* silence: the node is lost */

	scif_dbg("tcp: send to %u:%u: %m", c->peer_node, c->peer_port);
	while (!c->in_rx && !c->dead && rx_run(c))
		;
	tcp_conn_end(c, err);
	return err;
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
			tx_failed(c);
			return true;
		}
		sent = true;
		c->sock_tx += (uint64_t)r;
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
		/* a short read took all there was (see rx_run) */
		c->rx_short = (uint32_t)r < TCP_RBUF - c->rend;
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

	/* rx may be behind a later frame's stamp (it was built earlier) */
	if (rx > c->tx_total || cons < c->peer_cons || cons > rx) {
		tcp_violation(c, "ACK out of range");
		return -1;
	}
	if (rx > c->peer_rx)
		c->peer_rx = rx;
	c->peer_cons = cons;
	c->answered = true;
	return 1;
}

/* A frame's stamp (see stamp()): the peer had received that many of our
 * stream bytes, modulo 2^32 (less than 2^31 are ever in flight: the
 * window).  Behind what we know: an older frame; ahead of what we sent: a
 * violation. */
static int on_stamp(struct tcp_conn *c)
{
	uint32_t rx = (uint32_t)tcp_get_le(c->hbuf + SCIF_WIRE_HDR_LEN - 4, 4);
	int32_t ahead = (int32_t)(rx - (uint32_t)c->peer_rx);

	if (ahead <= 0)
		return 1;
	if ((uint64_t)ahead > c->tx_total - c->peer_rx) {
		tcp_violation(c, "frame acknowledges bytes never sent");
		return -1;
	}
	c->peer_rx += (uint64_t)ahead;
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
	case TCP_ACKREQ:
		c->ack_due = true; /* answered when the parser is done */
		return 1;
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
	if (up && on_stamp(c) < 0)
		return -1;
	if (!up) {
		if ((type != TCP_ACCEPT && type != TCP_REJECT) || len != 20)
			goto bad;
	} else if (type == SCIF_WIRE_DATA) {
		if (!len || len > c->rxwin - (c->rx_total - c->consumed))
			goto bad;
		c->data_ask = c->hbuf[2] & TCP_F_ACK; /* ACK once all in */
		c->sink = SINK_DATA;
		c->left = len;
		c->phase = RX_BULK;
		return 1;
	} else if (type >= SCIF_WIRE_CTRL_FIRST && type < SCIF_WIRE_NTYPES) {
		if (len > SCIF_WIRE_CTRL_MAX)
			goto bad;
	} else if (type == TCP_ACKREQ) {
		if (len)
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
		/* straight into a waiting receiver's buffer: the ring is
		 * empty, so these bytes are next in the stream */
		c->to_post = c->post && c->post_got < c->post_len &&
			     c->consumed == c->rx_total;
		if (c->to_post) {
			if (*max > c->post_len - c->post_got)
				*max = c->post_len - c->post_got;
			return c->post + c->post_got;
		}
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
	if (c->sink == SINK_DATA) {
		c->rx_total += n;
		if (c->to_post) {
			c->post_got += n;
			c->consumed += n;
		}
	}
	else if (c->sink == SINK_WRITE)
		c->bulk += n;
	else if (c->sink == SINK_RDATA)
		c->rslot->got += n;
}

static int bulk_end(struct tcp_conn *c)
{
	c->phase = RX_HDR;
	if (c->sink == SINK_DATA && c->data_ask)
		c->ack_due = true;
	if (c->sink == SINK_WRITE || c->sink == SINK_DROP)
		tcp_rx_write_end(c);
	else if (c->sink == SINK_RDATA)
		tcp_rx_rdata_end(c);
	return c->dead ? -1 : 1;
}

/* Move bulk: from staging, or straight from the socket.  1 progress, 0
 * staging empty, -1 the socket is empty or the connection ended. */
static int bulk_step(struct tcp_conn *c, bool *changed)
{
	uint64_t max;
	char *dst = sink_at(c, &max);
	uint32_t n;
	ssize_t r;

	*changed = true;
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

static int rx_step(struct tcp_conn *c, bool *changed)
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
		return bulk_step(c, changed);
	}
}

/* [ep locked] Parse what the socket holds.  Returns whether anything
 * happened. */
static bool rx_run(struct tcp_conn *c)
{
	bool changed = false;
	int budget = RX_BUDGET, r;

	if (c->in_rx || c->fd < 0 || !c->rbuf)
		return false;
	c->in_rx = true;
	c->rx_short = false;
	while (!c->dead && !c->closing) {
		r = rx_step(c, &changed);
		if (r < 0)
			break;
		if (r > 0)
			continue;
		/* after a short read the socket is empty: asking again costs
		 * a system call per message (what came since keeps the
		 * descriptor readable, so nothing is missed) */
		if (!budget-- || c->rx_short || rx_fill(c) <= 0)
			break;
	}
	c->in_rx = false;
	if (c->closing)
		scif__ep_wake(c->ep); /* ep_close waits for in_rx */
	if (c->ack_due && !c->dead) {
		c->ack_due = false;
		send_ack(c);
	}
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
	bool ask;

	if (!c || c->state != TCP_UP || c->dead)
		return -ECONNRESET;
	if (c->tx_head) /* the socket is full: EPOLLOUT wakes us */
		return 0;
	win = tx_window(c);
	n = len < win ? len : (size_t)win;
	if (!n)
		return 0;
	h.len = (uint32_t)n;
	/* our senders sleep on delivery: ask now rather than after (a frame
	 * of its own, a wake-up of its own at the peer); now and then not,
	 * to see whether that is still so (tcp_ep_idle) */
	ask = c->want_ack && (++c->probe & 15);
	h.credits = ask ? TCP_F_ACK : 0;
	scif__wire_encode(hdr, &h);
	stamp(c, hdr);
	iov[0].iov_base = hdr;
	iov[0].iov_len = sizeof(hdr);
	iov[1].iov_base = (void *)buf;
	iov[1].iov_len = n;
	total = sizeof(hdr) + n;
	do
		r = sendmsg(c->fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
	while (r < 0 && errno == EINTR);
	if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
		return tx_failed(c);
	}
	if (r > 0)
		done = (size_t)r;
	/* nothing was queued: the frame starts at sock_tx */
	c->data_end = c->sock_tx + total;
	if (ask) {
		c->ackreq_end = c->data_end;
		c->answered = false;
	}
	c->sock_tx += done;
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

/* [ep locked] The receiver took bytes: the sender may be short of window,
 * tell it what is free. */
static void rx_consumed(struct tcp_conn *c)
{
	if (!c->dead && c->state == TCP_UP &&
	    (c->consumed - c->adv_consumed >= c->rxwin / 4 ||
	     (c->consumed == c->rx_total &&
	      c->rx_total - c->adv_consumed > c->rxwin / 2)))
		send_ack(c);
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
	rx_consumed(c);
	return (ssize_t)n;
}

int tcp_recv_post(struct scif_ep *ep, void *buf, size_t len)
{
	struct tcp_conn *c = tcp_conn_of(ep);

	if (!c || !c->ring || c->dead || c->state != TCP_UP ||
	    c->consumed != c->rx_total)
		return -EAGAIN;
	c->post = buf;
	c->post_len = len;
	c->post_got = 0;
	return 0;
}

size_t tcp_recv_unpost(struct scif_ep *ep)
{
	struct tcp_conn *c = tcp_conn_of(ep);
	size_t got;

	if (!c)
		return 0;
	got = c->post_got;
	c->post = NULL;
	c->post_len = c->post_got = 0;
	if (got)
		rx_consumed(c);
	return got;
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

short tcp_ready(struct scif_ep *ep)
{
	struct tcp_conn *c = tcp_conn_of(ep);
	short ev;

	if (!c)
		return 0;
	ev = c->rx_total > c->consumed ? POLLIN : 0;
	if (c->state == TCP_UP && !c->dead && !c->tx_head &&
	    tx_window(c) > 0)
		ev |= POLLOUT;
	return ev;
}

/* [ep locked] Stream bytes at the peer: all of them once its TCP holds the
 * last stream frame (every byte written before it is in too), else what
 * its library acknowledged. */
uint64_t tcp_tx_delivered(struct tcp_conn *c)
{
	int outq;

	if (c->in_end == c->data_end || c->peer_rx == c->tx_total)
		return c->tx_total;
	if (c->sock_tx < c->data_end) /* part of it waits in the queue */
		return c->peer_rx;
	if (ioctl(c->fd, SIOCOUTQ, &outq) < 0) {
		scif_dbg("tcp: SIOCOUTQ: %m");
		return c->peer_rx;
	}
	if ((uint64_t)outq > c->sock_tx - c->data_end)
		return c->peer_rx;
	c->in_end = c->data_end;
	return c->tx_total;
}

int tcp_send_pending(struct scif_ep *ep)
{
	struct tcp_conn *c = tcp_conn_of(ep);
	uint64_t p;

	if (!c || c->state != TCP_UP)
		return 0;
	p = c->dead ? c->lost : c->tx_total - tcp_tx_delivered(c);
	return p > INT_MAX ? INT_MAX : (int)p;
}

/* [ep locked] The caller stops polling, maybe to sleep until its stream
 * bytes are in: ask the peer to say so (once per stream frame written).
 * Whether it had to ask decides whether the next frames ask themselves. */
int tcp_ep_idle(struct scif_ep *ep)
{
	struct tcp_conn *c = tcp_conn_of(ep);
	bool asked, pending;

	if (!c)
		return 0;
	c->polls = 0; /* muted or not, it stays so: see mute() */
	if (c->state != TCP_UP || c->dead || c->closing)
		return 0;
	asked = c->ackreq_end == c->data_end;
	pending = c->in_end != c->data_end && c->peer_rx != c->tx_total;
	if (tcp_tx_delivered(c) == c->tx_total) {
		if (!asked) /* in without asking: the sender polls */
			c->want_ack = false;
		if (!pending)
			return 0;
		/* Learnt just now (the peer's TCP took the bytes after the
		 * caller's last look): nothing else would tell a sender that
		 * sleeps on it, and no ACKREQ goes out.  It must look again. */
		scif__ep_wake(ep);
		return 1;
	}
	c->want_ack = true;
	/* not asked yet, or answered without covering the frame (the answer
	 * was to an earlier question, or raced with it): ask */
	if (!asked || c->answered) {
		c->ackreq_end = c->data_end;
		c->answered = false;
		(void)tcp_send_small(c, TCP_ACKREQ, NULL, 0);
	}
	return 0;
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
	    c->handle < 0 || (!c->muted &&
			      scif__progress_set_events(c->tp->pg, c->handle, 0)))
		return -EOPNOTSUPP;
	c->muted = c->leading = true;
	return c->efd;
}

static int ep_poll(struct scif_ep *ep, bool fired);

int tcp_ep_lead_event(struct scif_ep *ep)
{
	return ep_poll(ep, true);
}

void tcp_ep_unlead(struct scif_ep *ep)
{
	struct tcp_conn *c = tcp_conn_of(ep);

	if (!c)
		return;
	c->leading = false;
	tcp_unmute(c);
}

/* [ep locked] scif_poll is about to sleep on the endpoint's descriptor:
 * the progress thread must serve the connection for it to become ready. */
void tcp_ep_park(struct scif_ep *ep)
{
	struct tcp_conn *c = tcp_conn_of(ep);

	if (c && c->muted && !c->leading)
		tcp_unmute(c);
}

/* [ep locked] The progress thread serves the connection again. */
void tcp_unmute(struct tcp_conn *c)
{
	if (c->muted && !c->leading && c->handle >= 0)
		scif__progress_set_events(c->tp->pg, c->handle, EPOLLIN);
	c->muted = false;
}

static void mute_tick(void *arg)
{
	struct tcp_conn *c = arg;
	struct scif_ep *ep = c->ep;

	scif__ep_get(ep);
	scif__ep_lock(ep);
	if (c->muted && !c->leading && c->mute_timer >= 0) {
		if (c->pollgen != c->pollgen_seen) { /* still polled */
			c->pollgen_seen = c->pollgen;
			scif__progress_timer_set(c->tp->pg, c->mute_timer,
						 scif__now_ms() + TCP_MUTE_MS);
		} else {
			tcp_unmute(c);
		}
	}
	scif__ep_unlock(ep);
	scif__ep_put(ep);
}

/*
 * [ep locked] A thread polls the connection (its second poll since it last
 * stopped): the progress thread stops watching it, else it wakes for each
 * message the poller reads anyway and they fight for the lock.  It stays
 * away across calls (a request/response loop polls call after call; giving
 * it back each time costs two system calls per message) until the
 * connection has not been polled for TCP_MUTE_MS, or a leader lets go.
 */
static void mute(struct tcp_conn *c)
{
	long long due = scif__now_ms() + TCP_MUTE_MS;

	if (c->state != TCP_UP || c->closing || c->dead || c->handle < 0 ||
	    scif__progress_set_events(c->tp->pg, c->handle, 0))
		return;
	c->muted = true;
	c->pollgen_seen = c->pollgen;
	if (c->mute_timer >= 0) {
		scif__progress_timer_set(c->tp->pg, c->mute_timer, due);
		return;
	}
	c->mute_timer = scif__progress_timer_add(c->tp->pg, due, 0, mute_tick,
						 c);
	if (c->mute_timer < 0) { /* nothing would give it back */
		c->mute_timer = -1;
		tcp_unmute(c);
	}
}

/* [ep locked] Nothing to read, nothing waiting for room: asked without
 * the socket's lock, which a poller's receive would take in turns with the
 * kernel delivering the very data it waits for. */
static bool tcp_quiet(struct tcp_conn *c)
{
	struct epoll_event ev;

	return c->state == TCP_UP && !c->dead && c->efd >= 0 &&
	       epoll_wait(c->efd, &ev, 1, 0) == 0;
}

/* [ep locked] A thread polls us (SCIF_SPIN_US), or the leader's descriptor
 * fired (so something is there): read and send ourselves, and look whether
 * the peer's TCP took our stream bytes (no event says so: a sender polling
 * for its delivery learns it here). */
static int ep_poll(struct scif_ep *ep, bool fired)
{
	struct tcp_conn *c = tcp_conn_of(ep);
	bool changed;

	if (!c || c->closing)
		return 0;
	c->pollgen++;
	if (++c->polls == 2 && !c->muted)
		mute(c);
	changed = !fired && tcp_quiet(c) ? false : tcp_service(c);
	if (!changed && !c->dead && c->state == TCP_UP &&
	    c->in_end != c->data_end && c->peer_rx != c->tx_total &&
	    tcp_tx_delivered(c) == c->tx_total)
		changed = true;
	if (!changed)
		return 0;
	if (!c->closing)
		scif__ep_wake(ep);
	return 1;
}

int tcp_ep_progress(struct scif_ep *ep)
{
	return ep_poll(ep, false);
}
