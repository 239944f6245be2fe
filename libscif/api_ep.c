/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Endpoint calls: open, bind, listen, connect, accept, close, and the
 * connection upcalls providers make from the progress thread.
 *
 * Connection flow (both sides):
 * 1) the listener's provider receives a request and queues it here
 *    (scif__ep_conn_request); a full backlog or a closing listener refuses it;
 * 2) scif_accept() takes the oldest request, creates the new endpoint and
 *    hands both to the provider, which answers the requester;
 * 3) the provider reports the outcome on each side with scif__ep_conn_done();
 * 4) either side's close, or the transport noticing the peer is gone, ends in
 *    scif__ep_peer_gone() on the survivor.
 */
#include "scif_priv.h"
#include "log.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

SCIF_EXPORT scif_epd_t scif_open(void)
{
	struct scif_lib *lib = scif__lib();
	struct scif_ep *ep;
	int err;

	if (!lib)
		return SCIF_OPEN_FAILED;
	ep = scif__ep_new(lib, &err);
	if (!ep)
		goto err;
	err = scif__ep_publish(ep);
	if (err)
		goto err_put;
	return ep->ev.app_fd;

err_put:
	scif__ep_put(ep);
err:
	errno = -err;
	return SCIF_OPEN_FAILED;
}

/* [ep locked] Ports are the core's: unique per node across processes and
 * providers (ports.h). */
static int ep_bind_locked(struct scif_ep *ep, uint16_t pn)
{
	struct scif_lib *lib = ep->lib;
	int ret;

	if (pn == 0)
		ret = scif__port_alloc(&lib->ports, scif__port_node_try,
				       &lib->ports, &pn);
	else
		ret = scif__port_reserve(&lib->ports, pn);
	if (ret)
		return ret;
	ep->bound = true;
	ep->port.node = lib->self;
	ep->port.port = pn;
	ep->state = SCIF_EP_BOUND;
	return pn;
}

SCIF_EXPORT int scif_bind(scif_epd_t epd, uint16_t pn)
{
	struct scif_ep *ep;
	int ret = scif__ep_lookup(epd, &ep);

	if (ret)
		return scif__ret(ret);
	scif__ep_lock(ep);
	ret = scif__ep_check(ep->state, SCIF_OP_BIND);
	if (!ret)
		ret = ep_bind_locked(ep, pn);
	scif__ep_unlock(ep);
	scif__ep_put(ep);
	return scif__ret(ret);
}

/* Undo listen on every provider; without the listener's lock, since a
 * provider's unlisten waits for its request handling to finish. */
static void unlisten_all(struct scif_ep *ep, void **lctx)
{
	struct scif_lib *lib = ep->lib;
	int i;

	for (i = 0; i < lib->nprovs; i++)
		if (lctx[i])
			lib->provs[i].ops.unlisten(lib->provs[i].prov, lctx[i]);
}

/* [ep locked] A listener takes requests over every active provider; it
 * fails only when none will listen. */
static int listen_all(struct scif_ep *ep, int backlog)
{
	struct scif_lib *lib = ep->lib;
	int i, ok = 0, ret = -ENODEV;

	for (i = 0; i < lib->nprovs; i++) {
		struct scif_prov_inst *pi = &lib->provs[i];
		int r = pi->ops.listen(pi->prov, ep, ep->port.port, backlog,
				       &ep->lctx[i]);

		if (!r)
			ok++;
		else if (ret == -ENODEV)
			ret = r;
		if (r)
			scif_warn("listen on port %u over %s: %s", ep->port.port,
				  pi->ops.name, strerror(-r));
	}
	return ok ? 0 : ret;
}

SCIF_EXPORT int scif_listen(scif_epd_t epd, int backlog)
{
	struct scif_ep *ep;
	int ret = scif__ep_lookup(epd, &ep);

	if (ret)
		return scif__ret(ret);
	scif__ep_lock(ep);
	ret = scif__ep_check(ep->state, SCIF_OP_LISTEN);
	if (!ret) {
		ep->backlog = backlog;
		ret = listen_all(ep, backlog);
	}
	if (!ret) {
		ep->state = SCIF_EP_LISTENING;
		scif__ep_wake(ep);
	}
	scif__ep_unlock(ep);
	scif__ep_put(ep);
	return scif__ret(ret);
}

/*
 * A connection that was established and has already been dropped again still
 * succeeded: its data is queued and recv drains it before ECONNRESET.  Only
 * scif__ep_peer_gone() leaves CONNECTED for DISCONNECTED; a failed attempt
 * goes back to BOUND.
 */
static bool ep_was_established(const struct scif_ep *ep)
{
	return ep->state == SCIF_EP_CONNECTED ||
	       ep->state == SCIF_EP_DISCONNECTED;
}

/* [ep locked] A failed connect leaves the endpoint bound, with no
 * provider: the next attempt chooses again.  ep_close may block, so the
 * lock is dropped around it. */
static void ep_drop_provider(struct scif_ep *ep)
{
	const struct scif_provider_ops *ops = ep->ops;

	if (!ep->pi)
		return;
	scif__ep_lead_revoke(ep);
	ep->pi = NULL;
	ep->ops = &scif__null_ops;
	scif__ep_unlock(ep);
	ops->ep_close(ep);
	scif__ep_lock(ep);
	ep->head.prov_data = NULL;
}

/* [ep locked] The outcome of a connect that is no longer in progress. */
static int connect_result(struct scif_ep *ep)
{
	if (ep_was_established(ep))
		return ep->port.port;
	ep_drop_provider(ep);
	return ep->conn_err ? ep->conn_err : -ECONNREFUSED;
}

/* [ep locked] Collect the result of an O_NONBLOCK connect. */
static int connect_collect(struct scif_ep *ep)
{
	if (ep->state == SCIF_EP_CONNECTING)
		return -EINPROGRESS;
	ep->nonblock_connect = false;
	scif__ep_wake(ep);
	return connect_result(ep);
}

/* The first provider, in order of preference, that reaches the node. */
static struct scif_prov_inst *choose_provider(struct scif_lib *lib,
					      const struct scif_node *node)
{
	int i;

	for (i = 0; i < lib->nprovs; i++)
		if (lib->provs[i].ops.reaches(lib->provs[i].prov, node))
			return &lib->provs[i];
	return NULL;
}

/* [ep locked] Choose the provider and start the connection; on failure the
 * endpoint is BOUND again with conn_err set. */
static int connect_start(struct scif_ep *ep, const struct scif_node *node,
			 uint16_t port)
{
	struct scif_prov_inst *pi = choose_provider(ep->lib, node);
	int ret = pi ? scif__ep_bind_provider(ep, pi) : -ENODEV;

	ep->conn_err = 0;
	if (!ret) {
		ep->state = SCIF_EP_CONNECTING;
		ret = ep->ops->ep_connect(ep, node, port);
	}
	if (ret) {
		ep->state = SCIF_EP_BOUND;
		ep->conn_err = ret;
	}
	return ret;
}

SCIF_EXPORT int scif_connect(scif_epd_t epd, struct scif_portID *dst)
{
	const struct scif_node *node;
	struct scif_lib *lib;
	struct scif_ep *ep;
	int ret = scif__ep_lookup(epd, &ep);
	int fl;

	if (ret)
		return scif__ret(ret);
	lib = ep->lib;
	scif__ep_lock(ep);
	if (ep->nonblock_connect) {
		ret = connect_collect(ep);
		goto out;
	}
	ret = scif__ep_check(ep->state, SCIF_OP_CONNECT);
	if (ret)
		goto out;
	if (!dst || dst->port == 0) {
		ret = -EINVAL;
		goto out;
	}
	node = scif__nodemap_find(&lib->map, dst->node);
	if (!node) {
		ret = -ENODEV;
		goto out;
	}
	if (!ep->bound) {
		ret = ep_bind_locked(ep, 0);
		if (ret < 0)
			goto out;
	}
	fl = fcntl(ep->ev.app_fd, F_GETFL);
	ret = connect_start(ep, node, dst->port);
	if (ret && !(fl >= 0 && (fl & O_NONBLOCK))) {
		ret = connect_result(ep);
		goto out;
	}
	/* A non-blocking connect reports every outcome the same way,
	 * whether the transport failed it at once or later: EINPROGRESS,
	 * then POLLOUT, then the result (as the kernel driver does). */
	if (fl >= 0 && (fl & O_NONBLOCK)) {
		ep->nonblock_connect = true;
		scif__ep_wake(ep);
		ret = -EINPROGRESS;
		goto out;
	}
	while (ep->state == SCIF_EP_CONNECTING)
		scif__ep_wait(ep, -1);
	ret = connect_result(ep);
out:
	scif__ep_unlock(ep);
	scif__ep_put(ep);
	return scif__ret(ret);
}

/* Take one request off the listener, or fail as the header says. */
static int accept_dequeue(struct scif_ep *lep, int flags,
			  struct scif_conn_req **out)
{
	struct scif_conn_req *req;

	scif__ep_lock(lep);
	for (;;) {
		if (lep->state != SCIF_EP_LISTENING) {
			/* closed under us while waiting */
			scif__ep_unlock(lep);
			return lep->state == SCIF_EP_CLOSING ? -EINTR : -EINVAL;
		}
		if (lep->npending)
			break;
		if (!(flags & SCIF_ACCEPT_SYNC)) {
			scif__ep_unlock(lep);
			return -EAGAIN;
		}
		scif__ep_wait(lep, -1);
	}
	req = lep->pending_head;
	lep->pending_head = req->next;
	if (!lep->pending_head)
		lep->pending_tail = NULL;
	lep->npending--;
	scif__ep_wake(lep);
	scif__ep_unlock(lep);
	req->next = NULL;
	*out = req;
	return 0;
}

static void ep_destroy_unpublished(struct scif_ep *ep)
{
	ep->ops->ep_close(ep);
	scif__rma_close(ep);
	if (ep->bound)
		scif__port_release(&ep->lib->ports, ep->port.port);
	scif__ep_put(ep);
}

SCIF_EXPORT int scif_accept(scif_epd_t epd, struct scif_portID *peer,
			    scif_epd_t *newepd, int flags)
{
	struct scif_conn_req *req;
	struct scif_prov_inst *pi;
	struct scif_ep *lep, *ep;
	struct scif_lib *lib;
	int ret = scif__ep_lookup(epd, &lep);

	if (ret)
		return scif__ret(ret);
	lib = lep->lib;
	if ((flags & ~SCIF_ACCEPT_SYNC) || !peer || !newepd) {
		ret = -EINVAL;
		goto out;
	}
	scif__ep_lock(lep);
	ret = scif__ep_check(lep->state, SCIF_OP_ACCEPT);
	scif__ep_unlock(lep);
	if (ret)
		goto out;
retry:
	ret = accept_dequeue(lep, flags, &req);
	if (ret)
		goto out;
	pi = (struct scif_prov_inst *)req->prov_inst;
	ep = scif__ep_new(lib, &ret);
	if (!ep) {
		pi->ops.conn_reject(pi->prov, req);
		goto out;
	}
	ret = scif__ep_bind_provider(ep, pi);
	if (ret) {
		pi->ops.conn_reject(pi->prov, req);
		scif__ep_put(ep);
		goto out;
	}
	ep->state = SCIF_EP_CONNECTING;
	ep->port = lep->port;
	ep->bound = true;
	scif__port_ref(&lib->ports, ep->port.port);
	ep->peer.node = req->peer_node;
	ep->peer.port = req->peer_port;
	ret = ep->ops->ep_accept(req, ep); /* owns req from here */
	if (!ret) {
		/* The requester answers at once unless it died in between;
		 * do not wait for the transport's own (long) timeout. */
		long long deadline = scif__now_ms() + lib->accept_timeout_ms;

		scif__ep_lock(ep);
		while (ep->state == SCIF_EP_CONNECTING &&
		       scif__ep_wait(ep, deadline) != -ETIMEDOUT)
			;
		if (ep->state == SCIF_EP_CONNECTING) {
			ep->state = SCIF_EP_BOUND;
			ep->conn_err = -ETIMEDOUT;
		}
		/* a requester that connected, sent and closed at once is
		 * still a connection: hand it over with its data */
		ret = ep_was_established(ep) ? 0 :
		      ep->conn_err	     ? ep->conn_err :
					       -ECONNRESET;
		scif__ep_unlock(ep);
	}
	if (!ret)
		ret = scif__ep_publish(ep);
	if (ret) {
		scif_info("accept on port %u: requester %u:%u failed: %s",
			  lep->port.port, ep->peer.node, ep->peer.port,
			  strerror(-ret));
		ep_destroy_unpublished(ep);
		/* The requester gave up: wait for the next one, or tell a
		 * non-blocking caller to come back (EAGAIN, as documented).
		 * Running out of memory or descriptors is ours to report. */
		if (ret != -ENOMEM && ret != -EMFILE && ret != -ENFILE) {
			if (flags & SCIF_ACCEPT_SYNC)
				goto retry;
			ret = -EAGAIN;
		}
		goto out;
	}
	*peer = ep->peer;
	*newepd = ep->ev.app_fd;
out:
	scif__ep_put(lep);
	return scif__ret(ret);
}

SCIF_EXPORT int scif_close(scif_epd_t epd)
{
	struct scif_conn_req *pending;
	struct scif_lib *lib;
	struct scif_ep *ep;
	bool was_connected;
	int ret = scif__ep_lookup(epd, &ep);

	/* the parent's endpoint in a forked child: only our copy goes */
	if (ret == -SCIF_EP_INHERITED_ERR && !scif__ep_inherited_close(epd))
		return 0;
	if (ret)
		return scif__ret(ret);
	lib = ep->lib;
	scif__mmap_ep_close(ep); /* written back while still connected */
	scif__ep_unpublish(ep);
	scif__ep_lock(ep);
	if (ep->state == SCIF_EP_CLOSING) { /* another thread got here first */
		scif__ep_unlock(ep);
		scif__ep_put(ep);
		return scif__ret(-EBADF);
	}
	was_connected = ep->state == SCIF_EP_CONNECTED;
	ep->state = SCIF_EP_CLOSING; /* refuses new requests */
	scif__ep_wake(ep); /* blocked callers see CLOSING and return */
	scif__ep_lead_revoke(ep);
	scif__ep_unlock(ep);
	unlisten_all(ep, ep->lctx);

	/* Refuse the requests still in the backlog. */
	scif__ep_lock(ep);
	pending = ep->pending_head;
	ep->pending_head = ep->pending_tail = NULL;
	ep->npending = 0;
	scif__ep_unlock(ep);
	while (pending) {
		struct scif_conn_req *next = pending->next;
		struct scif_prov_inst *pi =
			(struct scif_prov_inst *)pending->prov_inst;

		pi->ops.conn_reject(pi->prov, pending);
		pending = next;
	}
	if (was_connected)
		scif__rma_quiesce(ep, scif__now_ms() + lib->close_timeout_ms);
	ep->ops->ep_close(ep);
	scif__rma_close(ep);
	if (ep->bound)
		scif__port_release(&lib->ports, ep->port.port);
	scif__ep_put(ep); /* the lookup's */
	scif__ep_put(ep); /* the table's: the descriptor closes */
	return 0;
}

/* ---- upcalls ---- */

void scif__ep_conn_done(struct scif_ep *ep, int err, uint16_t peer_node,
			uint16_t peer_port)
{
	if (ep->state != SCIF_EP_CONNECTING)
		return;
	if (!err) {
		ep->state = SCIF_EP_CONNECTED;
		ep->peer.node = peer_node;
		ep->peer.port = peer_port;
		scif__rma_connected(ep);
	} else {
		ep->state = SCIF_EP_BOUND;
		ep->conn_err = err;
	}
	scif__ep_wake(ep);
}

void scif__ep_peer_gone(struct scif_ep *ep, int err)
{
	if (ep->state == SCIF_EP_CONNECTING) {
		scif__ep_conn_done(ep, err ? err : -ECONNREFUSED, 0, 0);
		return;
	}
	if (ep->state == SCIF_EP_CLOSING) { /* ends scif__rma_quiesce */
		ep->conn_err = err ? err : -ECONNRESET;
		scif__ep_wake(ep);
		return;
	}
	if (ep->state != SCIF_EP_CONNECTED)
		return;
	ep->state = SCIF_EP_DISCONNECTED;
	ep->conn_err = err ? err : -ECONNRESET;
	scif__mmap_conn_gone(ep);
	if (err == -ENODEV) {
		scif_info("%u:%u lost: its node %u is silent", ep->peer.node,
			  ep->peer.port, ep->peer.node);
		scif__node_lost(ep->lib, ep->peer.node);
	}
	scif__ep_wake(ep);
}

int scif__ep_conn_request(struct scif_ep *lep, struct scif_prov *prov,
			  struct scif_conn_req *req)
{
	if (lep->state != SCIF_EP_LISTENING || lep->npending >= lep->backlog)
		return -ECONNREFUSED;
	req->prov_inst = scif__lib_inst(lep->lib, prov);
	if (!req->prov_inst)
		return -ECONNREFUSED;
	req->next = NULL;
	if (lep->pending_tail)
		lep->pending_tail->next = req;
	else
		lep->pending_head = req;
	lep->pending_tail = req;
	lep->npending++;
	scif__ep_wake(lep);
	return 0;
}
