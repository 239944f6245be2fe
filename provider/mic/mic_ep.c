/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mic endpoints: listen, connect, accept, close and the byte stream, each an
 * ioctl on the endpoint's own open file of the device (mic.h).
 *
 * Readiness: the device's poll says when a kernel endpoint has data, room,
 * a connection request or a lost peer.  The progress thread waits on each
 * file for what the core is waiting for (EPOLLIN after a receive found
 * nothing, EPOLLOUT after a send found no room), wakes the endpoint and stops
 * waiting (the data stays in the kernel until read, so a level-triggered
 * wait left armed would fire again and again).  POLLHUP or POLLERR: the peer
 * or the device is gone.
 *
 * Connect: the connecting file is opened O_NONBLOCK, so SCIF_CONNECT
 * returns EINPROGRESS and the kernel connects in the background (a close
 * meanwhile aborts it).  No thread of our own: the file's POLLOUT wakes the
 * progress thread (conn_cb, connect_cb), which asks SCIF_CONNECT again for
 * the outcome and reports it with scif__ep_conn_done.  Linux's driver has
 * this form; whether MPSS 3's does is not verified (docs/mic.md).  Accept:
 * see "listening" below.
 */
#include "mic.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

static struct mic_conn *conn(struct scif_ep *ep)
{
	return scif__ep_prov_data(ep);
}

/* [ep locked] Wait for ev (too) on the endpoint's file. */
static void arm(struct mic_conn *c, uint32_t ev)
{
	if (c->handle < 0 || (c->armed & ev) == ev)
		return;
	c->armed |= ev;
	scif__progress_set_events(c->mp->pg, c->handle, c->armed);
}

static short revents(int fd, short events)
{
	struct pollfd p = { .fd = fd, .events = events };

	if (poll(&p, 1, 0) < 0)
		return POLLERR;
	return p.revents;
}

static void connect_cb(struct mic_conn *c);

static void conn_cb(void *arg)
{
	struct mic_conn *c = arg;
	short rev = revents(c->fd, POLLIN | POLLOUT);

	scif__ep_lock(c->ep);
	if (c->connecting) {
		connect_cb(c);
		scif__ep_unlock(c->ep);
		return;
	}
	if (rev & (POLLERR | POLLHUP | POLLNVAL)) {
		/* Stop watching (they would fire for ever); once the lock
		 * is dropped, ep_close may free c. */
		scif__ep_peer_gone(c->ep, rev & POLLHUP && !(rev & POLLERR) ?
					   -ECONNRESET : -ENODEV);
		c->gone = true;
		scif__progress_del(c->mp->pg, c->handle); /* our own: at once */
		c->handle = -1;
		scif__ep_unlock(c->ep);
		return;
	}
	/* Stop waiting first: the wake asks recv_ready/send_ready, which arm
	 * again for what is still awaited. */
	c->armed = 0;
	scif__progress_set_events(c->mp->pg, c->handle, 0);
	scif__ep_wake(c->ep);
	scif__ep_unlock(c->ep);
}

/* [ep locked] Watch the connected file. */
static int conn_watch(struct mic_conn *c)
{
	int h = scif__progress_add(c->mp->pg, c->fd, conn_cb, c);

	if (h < 0)
		return h;
	c->handle = h;
	c->armed = EPOLLIN;
	return 0;
}

int mic_ep_open(struct scif_prov *mp, struct scif_ep *ep)
{
	struct mic_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->mp = mp;
	c->ep = ep;
	c->fd = -1;
	c->handle = -1;
	scif__ep_set_prov_data(ep, c);
	return 0;
}

/* The kernel endpoint takes the port the core reserved for ep. */
static int bind_port(struct scif_prov *mp, int fd, uint16_t port)
{
	int32_t pn = port;
	int ret = mic_ioctl(mp, fd, MIC_BIND, &pn);

	if (ret < 0 && ret != -ENODEV) {
		scif_warn("mic: port %u is taken in the kernel (%s)", port,
			  strerror(-ret));
		return -ENOSPC;
	}
	return ret;
}

/* [ep locked] SCIF_CONNECT on the non-blocking file: 0 (connected),
 * -EINPROGRESS, or the error; asked again once the file is writable, it
 * gives the outcome (as for sockets). */
static int connect_ioctl(struct mic_conn *c)
{
	struct mic_io_connect a = { .peer = { c->dst_node, c->dst_port } };

	return mic_ioctl(c->mp, c->fd, MIC_CONNECT, &a);
}

/* [ep locked] The connection is up or failed: report it. */
static void connect_end(struct mic_conn *c, int ret)
{
	c->connecting = false;
	if (!ret) {
		c->armed = EPOLLIN;
		scif__progress_set_events(c->mp->pg, c->handle, EPOLLIN);
	} else { /* from the callback: stop watching the failed file */
		int h = c->handle;

		c->handle = -1;
		scif__progress_del(c->mp->pg, h);
	}
	scif__ep_conn_done(c->ep, ret, c->dst_node, c->dst_port);
}

/* [ep locked] The progress callback while connecting. */
static void connect_cb(struct mic_conn *c)
{
	int ret;

	if (!(revents(c->fd, POLLOUT) & (POLLOUT | POLLERR | POLLHUP)))
		return;
	ret = connect_ioctl(c);
	if (ret != -EINPROGRESS)
		connect_end(c, ret);
}

/* The file is opened O_NONBLOCK: the kernel then connects in the
 * background (a close aborts it) and says POLLOUT when done. */
int mic_ep_connect(struct scif_ep *ep, const struct scif_node *dst,
		   uint16_t port)
{
	struct mic_conn *c = conn(ep);
	int ret;

	c->fd = mic_open_dev(c->mp, O_NONBLOCK);
	if (c->fd < 0)
		return c->fd;
	ret = bind_port(c->mp, c->fd, scif__ep_port(ep));
	if (ret < 0)
		return ret;
	c->dst_node = dst->id;
	c->dst_port = port;
	c->dma = mic_dma_conn_new(c->mp->dma, c->mp->self, scif__ep_port(ep),
				  false);
	ret = scif__progress_add(c->mp->pg, c->fd, conn_cb, c);
	if (ret < 0)
		return ret;
	c->handle = ret;
	c->connecting = true;
	scif__progress_set_events(c->mp->pg, c->handle, EPOLLOUT);
	ret = connect_ioctl(c);
	if (ret == -EINPROGRESS)
		return 0;
	if (ret)
		return ret;
	connect_end(c, 0);
	return 0;
}

void mic_ep_close(struct scif_ep *ep)
{
	struct mic_conn *c = conn(ep);

	if (!c)
		return;
	if (c->handle >= 0)
		scif__progress_del(c->mp->pg, c->handle);
	if (c->fd >= 0)
		close(c->fd);
	mic_dma_conn_put(c->dma);
	scif__ep_set_prov_data(ep, NULL);
	free(c);
}

/* The stream: non-blocking SCIF_SEND / SCIF_RECV (flags 0), which move
 * what fits now. */
static ssize_t msg(struct scif_ep *ep, void *buf, size_t len, bool send)
{
	struct mic_conn *c = conn(ep);
	struct mic_io_msg m = { .msg = (uintptr_t)buf,
				.len = len > INT_MAX ? INT_MAX : (int)len };
	int ret = mic_ioctl(c->mp, c->fd, send ? MIC_SEND : MIC_RECV, &m);

	if (ret == -EAGAIN)
		m.out_len = 0;
	else if (ret < 0)
		return ret;
	if (!m.out_len)
		arm(c, send ? EPOLLOUT : EPOLLIN);
	return m.out_len;
}

ssize_t mic_send(struct scif_ep *ep, const void *buf, size_t len)
{
	return msg(ep, (void *)buf, len, true);
}

ssize_t mic_recv(struct scif_ep *ep, void *buf, size_t len)
{
	return msg(ep, buf, len, false);
}

static int ready(struct scif_ep *ep, short ev)
{
	struct mic_conn *c = conn(ep);

	if (!c || c->fd < 0)
		return 0;
	/* POLLHUP alone is not readiness: a drained, disconnected endpoint
	 * polls POLLHUP without POLLIN (the core adds the POLLHUP).  POLLERR,
	 * the device gone, is: the call then fails at once. */
	if (revents(c->fd, ev) & (ev | POLLERR))
		return 1;
	arm(c, ev == POLLIN ? EPOLLIN : EPOLLOUT);
	return 0;
}

int mic_recv_ready(struct scif_ep *ep)
{
	return ready(ep, POLLIN);
}

int mic_send_ready(struct scif_ep *ep)
{
	return ready(ep, POLLOUT);
}

/* ---- listening ---- */

/* The kernel queues connection requests itself (its backlog is the one
 * given to SCIF_LISTEN) and completes the handshake on SCIF_ACCEPTREQ.  So
 * a request is taken from the kernel only when scif_accept wants one: the
 * listener's callback puts a placeholder in the core's backlog when the
 * device says a request waits, at most one at a time, and ep_accept takes
 * the kernel's request behind it (a requester the kernel dropped meanwhile
 * makes that accept fail, and the core's accept try again or say EAGAIN). */

static void listener_put(struct mic_listener *l)
{
	bool last;

	pthread_mutex_lock(&l->lock);
	last = --l->refs == 0;
	pthread_mutex_unlock(&l->lock);
	if (last) {
		close(l->fd);
		pthread_mutex_destroy(&l->lock);
		free(l);
	}
}

/* Put a placeholder in the core's backlog when the kernel holds a request
 * and none is queued, else wait for one (EPOLLIN).  From the progress
 * callback (in_cb), a device that is gone ends the watch. */
static void listener_next(struct mic_listener *l, bool in_cb)
{
	struct scif_conn_req *req = NULL;
	short rev;
	int ret;

	pthread_mutex_lock(&l->lock);
	rev = l->queued || l->handle < 0 ? 0 : revents(l->fd, POLLIN);
	if ((rev & (POLLERR | POLLHUP | POLLNVAL)) && in_cb) {
		/* POLLERR would fire for ever */
		scif_err("mic: listener on %s: the device is gone",
			 l->mp->path);
		scif__progress_del(l->mp->pg, l->handle);
		l->handle = -1;
	} else if (rev & POLLIN) {
		req = calloc(1, sizeof(*req));
		if (req) {
			req->prov_data = l;
			l->refs++;
			l->queued = true;
		}
	}
	if (l->handle >= 0)
		scif__progress_set_events(l->mp->pg, l->handle,
					  l->queued ? 0 : EPOLLIN);
	pthread_mutex_unlock(&l->lock);
	if (!req)
		return;
	scif__ep_lock(l->lep);
	ret = scif__ep_conn_request(l->lep, l->mp, req);
	scif__ep_unlock(l->lep);
	if (ret) { /* the listener is closing */
		free(req);
		pthread_mutex_lock(&l->lock);
		l->queued = false;
		pthread_mutex_unlock(&l->lock);
		listener_put(l);
	}
}

static void listen_cb(void *arg)
{
	listener_next(arg, true);
}

int mic_ep_accept(struct scif_conn_req *req, struct scif_ep *newep)
{
	struct mic_conn *c = conn(newep);
	struct mic_listener *l = req->prov_data;
	struct mic_io_accept a = { .flags = 0 };
	int ret = mic_ioctl(l->mp, l->fd, MIC_ACCEPTREQ, &a);

	/* The next request, if any, is queued at once: a non-blocking
	 * accept right after this one finds it, as with the kernel's. */
	pthread_mutex_lock(&l->lock);
	l->queued = false;
	pthread_mutex_unlock(&l->lock);
	listener_next(l, false);
	listener_put(l);
	free(req);
	if (ret < 0)
		return ret == -EAGAIN ? -ECONNRESET : ret;
	/* Before the peer can use the connection: its windows table. */
	c->dma = mic_dma_conn_new(c->mp->dma, a.peer.node, a.peer.port, true);
	c->fd = mic_open_dev(c->mp, 0);
	ret = c->fd;
	if (ret >= 0)
		ret = mic_ioctl(c->mp, c->fd, MIC_ACCEPTREG, &a.endpt);
	if (ret < 0)
		return ret;
	scif__ep_lock(newep);
	ret = conn_watch(c);
	scif__ep_conn_done(newep, ret, a.peer.node, a.peer.port);
	scif__ep_unlock(newep);
	return ret;
}

/* The core will not take it (listener closing): the kernel's request
 * stays queued until the listener's file closes, which refuses it. */
void mic_conn_reject(struct scif_prov *mp, struct scif_conn_req *req)
{
	struct mic_listener *l = req->prov_data;

	pthread_mutex_lock(&l->lock);
	l->queued = false;
	if (l->handle >= 0)
		scif__progress_set_events(mp->pg, l->handle, EPOLLIN);
	pthread_mutex_unlock(&l->lock);
	listener_put(l);
	free(req);
}

int mic_listen(struct scif_prov *mp, struct scif_ep *lep, uint16_t port,
	       int backlog, void **lctx)
{
	struct mic_listener *l = calloc(1, sizeof(*l));
	int ret;

	if (!l)
		return -ENOMEM;
	pthread_mutex_init(&l->lock, NULL);
	l->mp = mp;
	l->lep = lep;
	l->refs = 1;
	l->handle = -1;
	l->fd = mic_open_dev(mp, 0);
	ret = l->fd;
	if (ret < 0)
		goto err_free;
	ret = bind_port(mp, l->fd, port);
	if (ret < 0)
		goto err_close;
	ret = mic_ioctl(mp, l->fd, MIC_LISTEN, (void *)(intptr_t)backlog);
	if (ret < 0)
		goto err_close;
	ret = scif__progress_add(mp->pg, l->fd, listen_cb, l);
	if (ret < 0)
		goto err_close;
	pthread_mutex_lock(&l->lock);
	l->handle = ret;
	pthread_mutex_unlock(&l->lock);
	*lctx = l;
	return 0;

err_close:
	close(l->fd);
err_free:
	pthread_mutex_destroy(&l->lock);
	free(l);
	return ret;
}

void mic_unlisten(struct scif_prov *mp, void *lctx)
{
	struct mic_listener *l = lctx;
	int h;

	pthread_mutex_lock(&l->lock);
	h = l->handle;
	l->handle = -1;
	pthread_mutex_unlock(&l->lock);
	if (h >= 0)
		scif__progress_del(mp->pg, h);
	listener_put(l);
}
