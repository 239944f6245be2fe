/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * tcp endpoints: listening, connecting, accepting, closing, and the
 * progress callbacks of connections.
 *
 * Requester (ep_connect, which must not block): a non-blocking connect to
 * <node address>:<SCIF port>, bounded by SCIF_TCP_CONNECT_MS; once it is
 * through, HELLO (our node and port, the node and port wanted, our stream
 * receive buffer).  ACCEPT or REJECT comes back through the receive parser,
 * since stream data may follow ACCEPT at once.
 * Acceptor: the listener's callback accepts the socket and waits (bounded
 * by a timer) for HELLO; a valid one goes to the core's backlog, and
 * ep_accept answers ACCEPT and starts the connection.
 */
#include "tcp.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

int tcp_ep_open(struct scif_prov *prov, struct scif_ep *ep)
{
	struct tcp_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->tp = (struct tcp_prov *)prov;
	c->ep = ep;
	c->fd = c->efd = c->handle = c->timer = c->mute_timer = -1;
	scif__ep_set_prov_data(ep, c);
	return 0;
}

/* [ep locked] Watch for room to send (output waits) or not. */
void tcp_want_out(struct tcp_conn *c, bool on)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP };

	if (on == c->out_armed || c->efd < 0 || c->fd < 0)
		return;
	if (on)
		ev.events |= EPOLLOUT;
	if (epoll_ctl(c->efd, EPOLL_CTL_MOD, c->fd, &ev))
		scif_err("tcp: epoll_ctl: %m");
	else
		c->out_armed = on;
}

/* [ep locked] End the connection: in-flight pieces fail, the core hears
 * of it once (a connect in progress fails), the peer by the reset. */
void tcp_conn_end(struct tcp_conn *c, int err)
{
	if (c->dead)
		return;
	/* what the peer's TCP had not acknowledged was not delivered: a
	 * waiting scif_send counts the rest (the counters vanish with fd) */
	if (c->state == TCP_UP && c->fd >= 0)
		c->lost = c->tx_total - tcp_tx_delivered(c);
	c->dead = true;
	if (c->fd >= 0)
		shutdown(c->fd, SHUT_RDWR);
	tcp_want_out(c, false);
	if (!c->closing)
		tcp_slots_fail(c, err == -ENODEV ? -ENODEV : -ECONNRESET);
	tcp_tx_free(c);
	if (c->wmr) {
		scif__ep_window_put(c->ep, c->wmr);
		c->wmr = NULL;
	}
	if (c->state == TCP_UP) {
		if (!c->gone_told && !c->closing) {
			c->gone_told = true;
			scif__ep_peer_gone(c->ep, err);
		}
	} else if (c->state != TCP_FAILED) {
		c->state = TCP_FAILED;
		if (!c->closing)
			scif__ep_conn_done(c->ep, err, 0, 0);
	}
}

void tcp_violation(struct tcp_conn *c, const char *what)
{
	scif_err("tcp: connection to %u:%u ended: the peer broke the protocol "
		 "(%s)",
		 c->peer_node, c->peer_port, what);
	tcp_conn_end(c, -ECONNRESET);
}

/* [ep locked] A connect went through (or not): send HELLO. */
static void connect_through(struct tcp_conn *c)
{
	struct tcp_hello m = { .node = c->tp->self,
			       .port = scif__ep_port(c->ep),
			       .dnode = c->peer_node,
			       .dport = c->want_port,
			       .rxwin = c->rxwin };
	socklen_t len = sizeof(int);
	struct tcp_txi *t;
	int err = 0;

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len))
		err = errno;
	if (err) {
		scif_dbg("tcp: connect to %u:%u: %s", c->peer_node,
			 c->want_port, strerror(err));
		tcp_conn_end(c, err == ECONNREFUSED ? -ECONNREFUSED : -ENODEV);
		return;
	}
	t = tcp_txi_new(TCP_HELLO, 20, 0);
	if (!t) {
		tcp_conn_end(c, -ENOMEM);
		return;
	}
	tcp_hello_encode(t->head, TCP_HELLO, &m);
	c->state = TCP_HELLO_SENT;
	tcp_tx_queue(c, t);
	tcp_tx_flush(c);
}

/* Progress callback of a connection's epoll descriptor. */
static void conn_cb(void *arg)
{
	struct tcp_conn *c = arg;
	struct scif_ep *ep = c->ep;
	struct epoll_event ev[2];
	bool changed;

	scif__ep_get(ep);
	scif__ep_lock(ep);
	if (c->closing || c->handle < 0)
		goto out;
	if (epoll_wait(c->efd, ev, 2, 0) > 0 && c->state == TCP_CONNECTING)
		connect_through(c);
	changed = tcp_service(c);
	if (changed && !c->closing && c->state == TCP_UP)
		scif__ep_wake(ep);
	if (c->dead && c->handle >= 0) {
		/* stays readable: stop watching (from inside our own
		 * callback the deletion does not wait) */
		scif__progress_del(c->tp->pg, c->handle);
		c->handle = -1;
	}
out:
	scif__ep_unlock(ep);
	scif__ep_put(ep);
}

/* Timer of a connect: the TCP connect did not go through in time. */
static void connect_timeout(void *arg)
{
	struct tcp_conn *c = arg;
	struct scif_ep *ep = c->ep;

	scif__ep_get(ep);
	scif__ep_lock(ep);
	if (!c->closing && c->state == TCP_CONNECTING && !c->dead) {
		scif_info("tcp: connect to node %u port %u: no answer in %d ms",
			  c->peer_node, c->want_port, c->tp->connect_ms);
		tcp_conn_end(c, -ENODEV);
	}
	if (c->timer >= 0 && !c->closing) {
		scif__progress_del(c->tp->pg, c->timer);
		c->timer = -1;
	}
	scif__ep_unlock(ep);
	scif__ep_put(ep);
}

/* [ep locked] Watch c->fd through an epoll descriptor of its own. */
static int conn_watch(struct tcp_conn *c, bool out)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLRDHUP };

	c->efd = epoll_create1(EPOLL_CLOEXEC);
	if (c->efd < 0)
		return -errno;
	if (out)
		ev.events |= EPOLLOUT;
	c->out_armed = out;
	if (epoll_ctl(c->efd, EPOLL_CTL_ADD, c->fd, &ev))
		return -errno;
	c->handle = scif__progress_add(c->tp->pg, c->efd, conn_cb, c);
	return c->handle < 0 ? c->handle : 0;
}

int tcp_ep_connect(struct scif_ep *ep, const struct scif_node *dst,
		   uint16_t port)
{
	struct tcp_conn *c = tcp_conn_of(ep);
	struct tcp_prov *tp = c->tp;
	struct sockaddr_storage sa = tp->self_sa;
	socklen_t salen;
	int ret;

	ret = scif__node_resolve(dst, &sa, &salen);
	if (ret)
		return -ENODEV;
	((struct sockaddr_in *)&sa)->sin_port = htons(port); /* v6 too */
	c->peer_node = dst->id;
	c->want_port = port;
	ret = tcp_conn_buffers(c, 0);
	if (ret)
		return ret;
	c->fd = socket(sa.ss_family,
		       SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -errno;
	tcp_sockopts(tp, c->fd);
	if (connect(c->fd, (struct sockaddr *)&sa, salen) &&
	    errno != EINPROGRESS) {
		ret = errno;
		scif_dbg("tcp: connect to %u:%u: %s", dst->id, port,
			 strerror(ret));
		return ret == ECONNREFUSED ? -ECONNREFUSED : -ENODEV;
	}
	c->state = TCP_CONNECTING;
	ret = conn_watch(c, true);
	if (ret)
		return ret;
	c->timer = scif__progress_timer_add(tp->pg,
					    scif__now_ms() + tp->connect_ms,
					    tp->connect_ms, connect_timeout, c);
	return c->timer < 0 ? c->timer : 0;
}

/* A requester sends nothing after HELLO until it has our answer: anything
 * readable now is its close (end of file) or reset. */
static bool requester_alive(int fd)
{
	char b;
	ssize_t r = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);

	return r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

int tcp_ep_accept(struct scif_conn_req *req, struct scif_ep *newep)
{
	struct tcp_pending *p = req->prov_data;
	struct tcp_conn *c = tcp_conn_of(newep);
	struct tcp_hello m = { .node = c->tp->self,
			       .port = scif__ep_port(newep),
			       .rxwin = c->tp->rxwin };
	struct tcp_txi *t;
	int ret;

	scif__ep_lock(newep);
	if (!requester_alive(p->fd)) {
		scif_dbg("tcp: requester %u:%u is gone", req->peer_node,
			 req->peer_port);
		ret = -ECONNRESET;
		goto out;
	}
	c->fd = p->fd;
	p->fd = -1;
	c->peer_node = req->peer_node;
	c->peer_port = req->peer_port;
	ret = tcp_conn_buffers(c, p->rxwin);
	t = ret ? NULL : tcp_txi_new(TCP_ACCEPT, 20, 0);
	if (!t) {
		ret = -ENOMEM;
		goto out;
	}
	tcp_hello_encode(t->head, TCP_ACCEPT, &m);
	c->state = TCP_UP;
	tcp_tx_queue(c, t);
	ret = conn_watch(c, false);
	if (!ret)
		tcp_tx_flush(c);
	if (!ret && c->dead)
		ret = -ECONNRESET;
out:
	scif_dbg("tcp: port %u accepts %u:%u: %d", scif__ep_port(newep),
		 c->peer_node, c->peer_port, ret);
	if (!ret) {
		scif__ep_conn_done(newep, 0, c->peer_node, c->peer_port);
	} else {
		c->state = TCP_FAILED; /* ep_close releases the rest */
		c->dead = true;
	}
	scif__ep_unlock(newep);
	if (p->fd >= 0)
		close(p->fd);
	free(p);
	free(req);
	return ret;
}

static void answer_reject(int fd)
{
	unsigned char buf[SCIF_WIRE_HDR_LEN + 20];
	struct tcp_hello m = { 0 };

	tcp_hello_encode(buf, TCP_REJECT, &m);
	if (send(fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
		scif_dbg("tcp: reject: %m");
}

void tcp_conn_reject(struct scif_prov *prov, struct scif_conn_req *req)
{
	struct tcp_pending *p = req->prov_data;

	answer_reject(p->fd);
	close(p->fd);
	free(p);
	free(req);
}

/* Take what is left in the socket, so that close sends FIN, not RST. */
static void sock_drain(int fd)
{
	char buf[4096];
	int i;

	for (i = 0; i < 64; i++)
		if (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) <= 0)
			break;
}

void tcp_ep_close(struct scif_ep *ep)
{
	struct tcp_conn *c = tcp_conn_of(ep);
	int handle, timer, mute_timer;

	if (!c)
		return;
	scif__ep_lock(ep);
	c->closing = true;
	while (c->in_rx) /* a control handler released the lock */
		scif__ep_wait(ep, -1);
	if (!c->dead && c->state == TCP_UP)
		tcp_tx_flush(c); /* last answers to the peer, best effort */
	handle = c->handle;
	timer = c->timer;
	mute_timer = c->mute_timer;
	c->handle = c->timer = c->mute_timer = -1;
	scif__ep_unlock(ep);
	if (handle >= 0)
		scif__progress_del(c->tp->pg, handle);
	if (timer >= 0)
		scif__progress_del(c->tp->pg, timer);
	if (mute_timer >= 0)
		scif__progress_del(c->tp->pg, mute_timer);
	scif__ep_lock(ep);
	tcp_tx_free(c); /* releases the windows it holds */
	if (c->wmr)
		scif__ep_window_put(ep, c->wmr);
	c->wmr = NULL;
	scif__ep_unlock(ep);
	if (c->fd >= 0) {
		if (!c->dead)
			shutdown(c->fd, SHUT_WR);
		sock_drain(c->fd);
		close(c->fd);
	}
	if (c->efd >= 0)
		close(c->efd);
	tcp_conn_free_bufs(c);
	scif__ep_set_prov_data(ep, NULL);
	free(c);
}

/* ---- listener ---- */

static void hs_end(struct tcp_hs *hs, bool keep_fd)
{
	struct scif_progress *pg = hs->l->tp->pg;

	if (hs->handle >= 0)
		scif__progress_del(pg, hs->handle);
	if (hs->timer >= 0)
		scif__progress_del(pg, hs->timer);
	if (!keep_fd)
		close(hs->fd);
	free(hs);
}

/* [l->lock] Take hs off the listener's list. */
static void hs_claim(struct tcp_hs *hs)
{
	struct tcp_hs **pp;

	hs->claimed = true;
	for (pp = &hs->l->hs; *pp; pp = &(*pp)->next)
		if (*pp == hs) {
			*pp = hs->next;
			break;
		}
}

static void request_deliver(struct tcp_listener *l, struct tcp_pending *p)
{
	struct scif_conn_req *req = calloc(1, sizeof(*req));
	int ret = -ENOMEM;

	if (req) {
		req->peer_node = p->node;
		req->peer_port = p->port;
		req->prov_data = p;
		scif__ep_lock(l->lep);
		ret = scif__ep_conn_request(l->lep, l->prov, req);
		scif__ep_unlock(l->lep);
	}
	scif_dbg("tcp: request from %u:%u on port %u: %d", p->node, p->port,
		 l->port, ret);
	if (!ret)
		return;
	answer_reject(p->fd);
	close(p->fd);
	free(p);
	free(req);
}

/* [l->lock] Read HELLO: 0 and *out, -EAGAIN, or -errno (dropped). */
static int hello_read(struct tcp_hs *hs, struct tcp_pending **out)
{
	struct tcp_listener *l = hs->l;
	struct tcp_pending *p;
	struct tcp_hello m;
	ssize_t r;

	r = recv(hs->fd, hs->buf + hs->got, sizeof(hs->buf) - hs->got,
		 MSG_DONTWAIT);
	if (r < 0)
		return errno == EAGAIN || errno == EINTR ? -EAGAIN : -errno;
	if (r == 0)
		return -ECONNRESET;
	hs->got += (uint32_t)r;
	if (hs->got < sizeof(hs->buf))
		return -EAGAIN;
	if (tcp_hello_decode(hs->buf, sizeof(hs->buf), TCP_HELLO, &m) ||
	    m.dnode != l->tp->self || m.dport != l->port ||
	    m.rxwin < (64u << 10) || (m.rxwin & (m.rxwin - 1))) {
		scif_warn("tcp: malformed connection request on port %u "
			  "dropped",
			  l->port);
		return -EPROTO;
	}
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->fd = hs->fd;
	p->node = m.node;
	p->port = m.port;
	p->rxwin = m.rxwin;
	*out = p;
	return 0;
}

static void hs_cb(void *arg)
{
	struct tcp_hs *hs = arg;
	struct tcp_listener *l = hs->l;
	struct tcp_pending *p = NULL;
	int ret;

	pthread_mutex_lock(&l->lock);
	if (hs->claimed || l->closing) {
		pthread_mutex_unlock(&l->lock);
		return;
	}
	ret = hello_read(hs, &p);
	if (ret == -EAGAIN) {
		pthread_mutex_unlock(&l->lock);
		return;
	}
	hs_claim(hs);
	if (!ret)
		l->delivering++;
	pthread_mutex_unlock(&l->lock);
	hs_end(hs, !ret);
	if (ret)
		return;
	request_deliver(l, p);
	pthread_mutex_lock(&l->lock);
	if (!--l->delivering)
		pthread_cond_broadcast(&l->idle);
	pthread_mutex_unlock(&l->lock);
}

static void hs_timeout(void *arg)
{
	struct tcp_hs *hs = arg;
	struct tcp_listener *l = hs->l;

	pthread_mutex_lock(&l->lock);
	if (hs->claimed || l->closing) {
		pthread_mutex_unlock(&l->lock);
		return;
	}
	hs_claim(hs);
	pthread_mutex_unlock(&l->lock);
	scif_warn("tcp: a requester on port %u said nothing within %d ms: "
		  "dropped",
		  l->port, TCP_HELLO_MS);
	hs_end(hs, false);
}

static void hs_start(struct tcp_listener *l, int fd)
{
	struct scif_progress *pg = l->tp->pg;
	struct tcp_hs *hs = calloc(1, sizeof(*hs));

	if (!hs) {
		close(fd);
		return;
	}
	hs->l = l;
	hs->fd = fd;
	hs->handle = hs->timer = -1;
	tcp_sockopts(l->tp, fd);
	pthread_mutex_lock(&l->lock);
	hs->next = l->hs;
	l->hs = hs;
	pthread_mutex_unlock(&l->lock);
	hs->handle = scif__progress_add(pg, fd, hs_cb, hs);
	hs->timer = scif__progress_timer_add(pg, scif__now_ms() + TCP_HELLO_MS,
					     TCP_HELLO_MS, hs_timeout, hs);
	if (hs->handle < 0 || hs->timer < 0) {
		scif_err("tcp: cannot watch a connection request");
		pthread_mutex_lock(&l->lock);
		hs_claim(hs);
		pthread_mutex_unlock(&l->lock);
		hs_end(hs, false);
	}
}

static void listen_cb(void *arg)
{
	struct tcp_listener *l = arg;
	int fd, i;

	for (i = 0; i < 64; i++) {
		fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR && errno != ECONNABORTED)
				scif_err("tcp: accept on port %u: %m", l->port);
			return;
		}
		hs_start(l, fd);
	}
}

static int listen_socket(struct tcp_prov *tp, uint16_t port, int backlog)
{
	struct sockaddr_storage sa = tp->self_sa;
	int fd, one = 1, ret;

	((struct sockaddr_in *)&sa)->sin_port = htons(port); /* v6 too */
	fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, tp->self_salen) ||
	    listen(fd, backlog > 128 ? backlog : 128)) {
		ret = -errno;
		scif_warn("tcp: listen on port %u: %s", port, strerror(-ret));
		close(fd);
		return ret;
	}
	return fd;
}

int tcp_listen(struct scif_prov *prov, struct scif_ep *lep, uint16_t port,
	       int backlog, void **lctx)
{
	struct tcp_prov *tp = (struct tcp_prov *)prov;
	struct tcp_listener *l = calloc(1, sizeof(*l));
	int ret;

	if (!l)
		return -ENOMEM;
	l->tp = tp;
	l->prov = prov;
	l->lep = lep;
	l->port = port;
	pthread_mutex_init(&l->lock, NULL);
	pthread_cond_init(&l->idle, NULL);
	l->fd = listen_socket(tp, port, backlog);
	if (l->fd < 0) {
		ret = l->fd;
		goto err_free;
	}
	l->handle = scif__progress_add(tp->pg, l->fd, listen_cb, l);
	if (l->handle < 0) {
		ret = l->handle;
		close(l->fd);
		goto err_free;
	}
	*lctx = l;
	return 0;

err_free:
	pthread_cond_destroy(&l->idle);
	pthread_mutex_destroy(&l->lock);
	free(l);
	return ret;
}

void tcp_unlisten(struct scif_prov *prov, void *lctx)
{
	struct tcp_listener *l = lctx;
	struct tcp_hs *hs;

	pthread_mutex_lock(&l->lock);
	l->closing = true;
	pthread_mutex_unlock(&l->lock);
	scif__progress_del(l->tp->pg, l->handle);
	close(l->fd);
	for (;;) {
		pthread_mutex_lock(&l->lock);
		hs = l->hs;
		if (hs)
			hs_claim(hs);
		pthread_mutex_unlock(&l->lock);
		if (!hs)
			break;
		hs_end(hs, false);
	}
	pthread_mutex_lock(&l->lock);
	while (l->delivering)
		pthread_cond_wait(&l->idle, &l->lock);
	pthread_mutex_unlock(&l->lock);
	pthread_cond_destroy(&l->idle);
	pthread_mutex_destroy(&l->lock);
	free(l);
}
