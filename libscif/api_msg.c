/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Messaging and readiness: send, recv, poll, and the node queries.
 *
 * The provider moves bytes without blocking; this file supplies the blocking
 * rules of the header: a blocking call moves all len bytes unless the
 * connection goes away (then the partial count), a non-blocking call moves
 * what fits now.  One call per direction at a time keeps the bytes of
 * concurrent calls on one endpoint from interleaving (dir_take).
 */
#include "scif_priv.h"
#include "log.h"

#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* [ep locked] Sent means delivered (as on MPSS, where the bytes are in the
 * peer's receive ring when scif_send returns): wait until the transport
 * says the peer holds them.  If the connection goes meanwhile, only what
 * is known to have arrived counts. */
static SCIF_HOT int send_deliver(struct scif_ep *ep, int done)
{
	int pending;

	while ((pending = ep->ops->send_pending(ep)) > 0 &&
	       ep->state == SCIF_EP_CONNECTED)
		scif__ep_wait_io(ep);
	if (pending > 0)
		done = pending >= done ? 0 : done - pending;
	return done;
}

/* [ep locked] One call per direction moves bytes at a time.  A flag under
 * the endpoint's lock rather than a mutex per direction: two calls into the
 * C library less per message (docs/progress.md, "Code size under
 * emulation").  The holder drops the lock while it waits; a second call
 * sleeps on the endpoint's condition meanwhile. */
static SCIF_HOT void dir_take(struct scif_ep *ep, bool send)
{
	while (ep->dir_busy[send]) {
		ep->dir_waiters++;
		pthread_cond_wait(&ep->cond, &ep->lock);
		ep->dir_waiters--;
	}
	ep->dir_busy[send] = true;
}

static SCIF_HOT void dir_give(struct scif_ep *ep, bool send)
{
	ep->dir_busy[send] = false;
	if (ep->dir_waiters)
		pthread_cond_broadcast(&ep->cond);
}

/* Both directions of the byte stream: the loop is the same, only the
 * provider call, the lock and what a vanished peer means differ. */
static SCIF_HOT int msg_xfer(scif_epd_t epd, void *msg, int len, int flags,
			     bool send)
{
	struct scif_ep *ep;
	int ret = scif__ep_lookup(epd, &ep), done = 0;
	bool polled = false;
	void *user = msg, *bounce = NULL;

	if (ret)
		return scif__ret(ret);
	if (len < 0 || (flags & ~SCIF_SEND_BLOCK)) /* == SCIF_RECV_BLOCK */
		ret = -EINVAL;
	else if (len && !msg)
		ret = -EFAULT;
	if (ret || !len)
		goto out;
	/* no call when nothing is mapped (the usual case) */
	if (__atomic_load_n(&ep->lib->nmaps, __ATOMIC_RELAXED) &&
	    scif__mmap_holds(ep, msg, (size_t)len)) {
		msg = bounce = malloc((size_t)len);
		if (!bounce) {
			ret = -ENOMEM;
			goto out;
		}
		if (send)
			memcpy(bounce, user, (size_t)len);
	}
	scif__ep_lock(ep);
	dir_take(ep, send);
	for (;;) {
		const struct scif_provider_ops *ops = ep->ops;
		ssize_t n;

		ret = scif__ep_allowed(ep, send ? SCIF_OP_SEND : SCIF_OP_RECV);
		/* After the peer left, what it sent is still delivered. */
		if (ret && (send || ep->state != SCIF_EP_DISCONNECTED))
			break;
		n = send ? ops->send(ep, (char *)msg + done, (size_t)(len - done)) :
			   ops->recv(ep, (char *)msg + done, (size_t)(len - done));
		if (n < 0) {
			ret = (int)n;
			break;
		}
		done += (int)n;
		if (!n && !send && !polled) {
			/* what a delivered send put here may not have been
			 * seen yet: look at the transport once ourselves */
			polled = true;
			/* the descriptor's state is set once, at the end
			 * (two system calls per message otherwise) */
			ep->ev_defer = true;
			n = ops->ep_progress(ep) + ops->ep_idle(ep);
			ep->ev_defer = false;
			if (n > 0)
				continue;
		}
		if (done == len || !(flags & SCIF_SEND_BLOCK))
			break;
		if (ep->state == SCIF_EP_DISCONNECTED && !n)
			break; /* drained: ret holds ECONNRESET or ENODEV */
		if (!n) {
			/* the bytes may land in msg itself meanwhile */
			/* (no call to the default: verbs, shm, mic) */
			bool posted = !send &&
				      ops->recv_post != scif__stub_recv_post &&
				      !ops->recv_post(ep, (char *)msg + done,
						      (size_t)(len - done));

			scif__ep_wait_io(ep);
			if (posted)
				done += (int)ops->recv_unpost(ep);
		}
	}
	if (send && done)
		done = send_deliver(ep, done);
	scif__ep_wake_end(ep, send);
	dir_give(ep, send);
	scif__ep_unlock(ep);
	if (bounce) { /* no call per message when there is none */
		if (!send && done > 0)
			memcpy(user, bounce, (size_t)done);
		free(bounce);
	}
	/* Bytes moved count, even if the peer then went away. */
	if (done)
		ret = done;
	else if (!ret && ep->state == SCIF_EP_DISCONNECTED)
		ret = scif__ep_lost(ep);
out:
	scif__ep_put(ep);
	return scif__ret(ret);
}

SCIF_HOT SCIF_EXPORT int scif_send(scif_epd_t epd, void *msg, int len,
				   int flags)
{
	return msg_xfer(epd, msg, len, flags, true);
}

SCIF_HOT SCIF_EXPORT int scif_recv(scif_epd_t epd, void *msg, int len,
				   int flags)
{
	return msg_xfer(epd, msg, len, flags, false);
}

/* Fill revents from the endpoints' own state; count the selected ones. */
static int poll_scan(struct scif_pollepd *epds, unsigned int n,
		     struct pollfd *pfd)
{
	unsigned int i;
	int count = 0;

	for (i = 0; i < n; i++) {
		struct scif_ep *ep;
		short ev;

		pfd[i].fd = -1;
		pfd[i].events = 0;
		pfd[i].revents = 0;
		if (scif__ep_lookup(epds[i].epd, &ep)) {
			epds[i].revents = POLLNVAL;
			count++;
			continue;
		}
		scif__ep_lock(ep);
		/* what the transport holds and the progress thread has not
		 * seen yet counts (a zero timeout right after the peer's send
		 * returned sees the data) */
		ep->ops->ep_progress(ep);
		ep->ops->ep_idle(ep);
		ev = scif__ep_events(ep);
		epds[i].revents =
			ev & (epds[i].events | POLLERR | POLLHUP);
		/* the call may sleep on this one: its wake-ups must flow */
		if (!epds[i].revents)
			ep->ops->ep_park(ep);
		scif__ep_unlock(ep);
		scif__ep_put(ep);
		if (epds[i].revents)
			count++;
		pfd[i].fd = epds[i].epd;
		pfd[i].events = epds[i].events & (POLLIN | POLLOUT);
	}
	return count;
}

SCIF_EXPORT int scif_poll(struct scif_pollepd *epds, unsigned int nepds,
			  long timeout)
{
	long long deadline = timeout < 0 ? -1 : scif__now_ms() + timeout;
	long open_max = sysconf(_SC_OPEN_MAX);
	struct pollfd *pfd;
	int count;

	if (open_max > 0 && nepds > (unsigned long)open_max)
		return scif__ret(-EINVAL);
	if (nepds && !epds)
		return scif__ret(-EFAULT);
	if (!scif__lib())
		return -1;
	pfd = calloc(nepds ? nepds : 1, sizeof(*pfd));
	if (!pfd)
		return scif__ret(-ENOMEM);
	for (;;) {
		int wait_ms, r;

		count = poll_scan(epds, nepds, pfd);
		if (count)
			break;
		if (deadline < 0) {
			wait_ms = -1;
		} else {
			long long left = deadline - scif__now_ms();

			if (left <= 0)
				break;
			wait_ms = left > INT_MAX ? INT_MAX : (int)left;
		}
		/* The descriptors mirror the state we just read, so a change
		 * after the scan still wakes this poll. */
		r = poll(pfd, nepds, wait_ms);
		if (r < 0 && errno == EINTR) {
			free(pfd);
			return scif__ret(-EINTR);
		}
	}
	free(pfd);
	return count;
}

SCIF_EXPORT int scif_get_fd(scif_epd_t epd)
{
	struct scif_ep *ep;
	int ret = scif__ep_lookup(epd, &ep);

	if (ret)
		return scif__ret(ret);
	scif__ep_put(ep);
	return epd;
}

SCIF_EXPORT int scif_get_nodeIDs(uint16_t *nodes, int len, uint16_t *self)
{
	struct scif_lib *lib = scif__lib();
	int count = 0;
	size_t i;

	if (!lib)
		return -1;
	if (len < 0)
		return scif__ret(-EINVAL);
	if (len > 0 && !nodes)
		return scif__ret(-EFAULT);
	for (i = 0; i < lib->map.count; i++) {
		uint16_t id = lib->map.nodes[i].id;

		if (!scif__node_up(lib, id))
			continue;
		if (count < len)
			nodes[count] = id;
		count++;
	}
	if (self)
		*self = lib->self;
	return count;
}

SCIF_EXPORT int scif_get_node_ids(uint16_t *nodes, int len, uint16_t *self)
{
	return scif_get_nodeIDs(nodes, len, self);
}
