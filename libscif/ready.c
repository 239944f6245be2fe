/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Readiness: what an endpoint is ready for, waking its waiters, and keeping
 * its descriptor (evfd.h) in step for poll(2), select(2) and epoll.
 *
 * Every change of the descriptor costs system calls (a token written or
 * drained), so it is brought up to date when it matters, not at every
 * change: a send or recv updates it once, at its end (ev_defer/ev_dirty),
 * and a send may even leave a rise of POLLIN to the provider's timer
 * (ep_late): in a request/response loop the answer often arrives while
 * the send still waits for its delivery, and the recv that follows takes
 * it at once; raising POLLIN in between would cost a token written and
 * drained per round trip.  The descriptor then lags by no more than the
 * provider's muted wake-ups already let it (docs/progress.md).
 */
#include "scif_priv.h"

#include <poll.h>

/* [ep locked] The threads asleep on the endpoint: those on its condition,
 * a leader in poll.  Most wake-ups find neither (the caller spins, or is
 * the leader) and make no call: under emulation each call on the
 * per-message path counts (docs/progress.md, "Code size under emulation"). */
static SCIF_HOT void ready_wake(struct scif_ep *ep)
{
	if (ep->cond_waiters)
		pthread_cond_broadcast(&ep->cond);
	if (ep->lead_polling)
		scif__ep_lead_kick(ep);
}

SCIF_HOT short scif__ep_events(struct scif_ep *ep)
{
	const struct scif_provider_ops *ops = ep->ops;
	short ev = 0;

	if (ep->nonblock_connect) {
		/* An asynchronous connect reports completion as POLLOUT. */
		if (ep->state != SCIF_EP_CONNECTING)
			ev |= POLLOUT;
		if (ep->state == SCIF_EP_DISCONNECTED)
			ev |= POLLHUP;
		return ev;
	}
	switch (ep->state) {
	case SCIF_EP_LISTENING:
		if (ep->npending)
			ev |= POLLIN;
		break;
	case SCIF_EP_CONNECTED:
		ev |= ops->ready(ep) & (POLLIN | POLLOUT);
		break;
	case SCIF_EP_DISCONNECTED:
		ev |= POLLHUP;
		if (scif__ep_lost(ep) == -ENODEV) /* the peer's node is lost */
			ev |= POLLERR;
		if (ops->recv_ready(ep))
			ev |= POLLIN;
		break;
	default:
		ev |= POLLERR; /* as the kernel driver: no I/O in this state */
		break;
	}
	return ev;
}

/* scif__ep_events, the case of each send and recv inline: one call less
 * per message (docs/progress.md, "Code size under emulation"). */
static inline SCIF_HOT short ep_events(struct scif_ep *ep)
{
	if (ep->state == SCIF_EP_CONNECTED && !ep->nonblock_connect)
		return ep->ops->ready(ep) & (POLLIN | POLLOUT);
	return scif__ep_events(ep);
}

SCIF_HOT void scif__ep_wake(struct scif_ep *ep)
{
	ep->wake_gen++;
	ready_wake(ep);
	if (ep->ev_defer) {
		ep->ev_dirty = true;
		return;
	}
	ep->ev_dirty = false;
	__atomic_store_n(&ep->ev_late, false, __ATOMIC_RELAXED);
	if (ep->state != SCIF_EP_CLOSING)
		scif__evfd_set(&ep->ev, ep_events(ep));
}

/* [ep locked] The end of a send or recv call: scif__ep_wake, but a send
 * whose only news is data to read leaves POLLIN to the provider when it
 * will publish it later (see above). */
SCIF_HOT void scif__ep_wake_end(struct scif_ep *ep, bool send)
{
	short ev;

	if (!send || ep->ev_defer || ep->state != SCIF_EP_CONNECTED) {
		scif__ep_wake(ep);
		return;
	}
	ep->wake_gen++;
	ready_wake(ep);
	ev = ep_events(ep);
	if ((ev & POLLIN) && !ep->ev.in && !(ev & POLLOUT) == !ep->ev.out &&
	    ep->ops->ep_late(ep)) {
		ep->ev_dirty = true;
		__atomic_store_n(&ep->ev_late, true, __ATOMIC_RELAXED);
		return;
	}
	ep->ev_dirty = false;
	__atomic_store_n(&ep->ev_late, false, __ATOMIC_RELAXED);
	scif__evfd_set(&ep->ev, ev);
}

bool scif__ep_late_due(const struct scif_ep *ep)
{
	return __atomic_load_n(&ep->ev_late, __ATOMIC_RELAXED);
}

SCIF_HOT void scif__ep_raise_late(struct scif_ep *ep)
{
	if (!scif__ep_late_due(ep))
		return;
	__atomic_store_n(&ep->ev_late, false, __ATOMIC_RELAXED);
	/* a call under way (its lock dropped while it spins) publishes at
	 * its end */
	if (ep->ev_defer || !ep->ev_dirty)
		return;
	ep->ev_dirty = false;
	if (ep->state != SCIF_EP_CLOSING)
		scif__evfd_set(&ep->ev, ep_events(ep));
}
