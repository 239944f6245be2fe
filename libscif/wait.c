/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Waiting on an endpoint: how a blocked caller learns that what it waits for
 * (data, room, a send's delivery, an RMA or fence completion) happened.
 *
 * 1. Spin (SCIF_SPIN_US > 0): poll the transport with ep_progress for a
 *    bounded time, the lock dropped between polls.  Whether it spun or
 *    not, a caller about to sleep tells the provider (ep_idle).
 * 2. Lead: the first thread to sleep on an endpoint whose provider has a
 *    lead descriptor (ep_lead) sleeps in poll() on it, with the lock
 *    released, and runs the endpoint's progress itself when it fires.  The
 *    progress thread leaves that descriptor alone meanwhile, so a completion
 *    wakes the thread that waits for it, not the progress thread that would
 *    then wake it (a thread switch per message).  The lead lasts until the
 *    leader's call lets go of the lock for good (scif__ep_unlock): a call
 *    that sleeps several times pays for taking the lead once.
 * 3. Follow: the other threads sleep on the endpoint's condition.  What the
 *    leader's progress does wakes them (scif__ep_wake), and when the leader
 *    leaves they are woken to take over; until one does, the progress thread
 *    serves the descriptor again, so no wake-up is lost.
 * Anything else that changes the endpoint (another thread, the progress
 * thread serving the connection manager) wakes a polling leader through its
 * eventfd.  Before the provider's ep_close the core revokes the lead.
 */
#include "scif_priv.h"
#include "log.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

static SCIF_HOT long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * [ep locked] SCIF_SPIN_US: poll the endpoint's own transport for a while
 * before sleeping, so that a blocked caller sees its completions without a
 * hand-off from the progress thread.  The lock is dropped between polls.
 * Returns true when something happened.
 *
 * The clock is read after the first SPIN_CHECK polls, then at growing
 * intervals (at most SPIN_CHECK_MAX polls apart): in a VM whose clock source
 * is emulated (HPET under QEMU TCG) a read is a system call costing more
 * than a poll, and most spins end before the first read.  So the budget
 * counts from the first read, a few polls late.
 */
#define SPIN_CHECK 32
#define SPIN_CHECK_MAX 256

static SCIF_HOT bool ep_spin(struct scif_ep *ep, long long spin_us,
		    long long deadline_ms, bool defer)
{
	long long end = -1;
	unsigned gen = ep->wake_gen, i = 0, next = SPIN_CHECK,
		 step = SPIN_CHECK;
	bool hit = false;

	ep->ev_defer = defer;
	ep->head.spinning = true;
	for (;;) {
		if (ep->ops->ep_progress(ep) > 0 || ep->wake_gen != gen) {
			hit = true;
			break;
		}
		/* No pause instruction: each poll is a look at the transport
		 * (a CQ, a ring), not a load spun on, and under QEMU's TCG a
		 * pause leaves the translated code and takes the emulator's
		 * global lock, which the VM's network backend needs to
		 * deliver packets: between two 1-vCPU VMs spinning 8-byte
		 * scif_lat went from 353 to 335 us one-way without it
		 * (ib_send_lat 291, 15 interleaved rounds). */
		pthread_mutex_unlock(&ep->lock);
		pthread_mutex_lock(&ep->lock);
		if (ep->wake_gen != gen)
			break;
		if (++i != next)
			continue;
		if (end < 0) {
			end = now_ns() + spin_us * 1000;
			if (deadline_ms >= 0 && end > deadline_ms * 1000000)
				end = deadline_ms * 1000000;
		} else if (now_ns() >= end) {
			break;
		}
		step = step * 2 > SPIN_CHECK_MAX ? SPIN_CHECK_MAX : step * 2;
		next += step;
	}
	ep->head.spinning = false;
	/* whatever the outcome: the provider's wake-ups are armed again */
	if (ep->ops->ep_idle(ep) > 0)
		hit = true;
	hit |= ep->wake_gen != gen;
	ep->ev_defer = false;
	/* about to sleep: the descriptor must tell the truth meanwhile */
	if (!hit && ep->ev_dirty)
		scif__ep_wake(ep);
	return hit;
}

static SCIF_HOT bool lead_mine(const struct scif_ep *ep)
{
	return ep->lead_fd >= 0 && pthread_equal(ep->lead_tid, pthread_self());
}

/* [ep locked] The lead descriptor if the calling thread leads or may now
 * lead, else -1 (another thread leads, or the provider has none). */
static SCIF_HOT int lead_begin(struct scif_ep *ep)
{
	int fd;

	if (ep->lead_fd >= 0)
		return lead_mine(ep) ? ep->lead_fd : -1;
	/* the closing thread's own waits (flushing) are served as before */
	if (ep->state == SCIF_EP_CLOSING ||
	    scif__progress_is_self(&ep->lib->progress))
		return -1;
	fd = ep->ops->ep_lead(ep);
	if (fd < 0)
		return -1;
	if (ep->lead_efd < 0) { /* kept until the endpoint is freed */
		ep->lead_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (ep->lead_efd < 0) {
			scif_dbg("eventfd: %m (waiting without the lead)");
			ep->ops->ep_unlead(ep);
			return -1;
		}
	}
	ep->lead_fd = fd;
	ep->lead_ops = ep->ops;
	ep->lead_tid = pthread_self();
	return fd;
}

/* [ep locked] */
static SCIF_HOT void lead_end(struct scif_ep *ep)
{
	ep->lead_ops->ep_unlead(ep);
	ep->lead_fd = -1;
	ep->lead_ops = NULL;
	if (ep->cond_waiters) /* a follower may take over */
		pthread_cond_broadcast(&ep->cond);
}

SCIF_HOT void scif__ep_lead_kick(struct scif_ep *ep)
{
	if (ep->lead_polling && !pthread_equal(ep->lead_tid, pthread_self()) &&
	    eventfd_write(ep->lead_efd, 1))
		scif_err("eventfd_write: %m");
}

SCIF_HOT void scif__ep_unlead(struct scif_ep *ep)
{
	if (lead_mine(ep))
		lead_end(ep);
}

void scif__ep_lead_revoke(struct scif_ep *ep)
{
	if (ep->lead_fd < 0)
		return;
	/* a leader not running holds no lock: it sleeps in poll */
	scif__ep_lead_kick(ep);
	lead_end(ep);
}

/*
 * [ep locked] Sleep as the leader in poll() on the provider's descriptor
 * and the wake-up eventfd; run the provider's progress when the descriptor
 * fires.  Returns 0, or -ETIMEDOUT when deadline_ms passed.
 */
static SCIF_HOT int lead_wait(struct scif_ep *ep, int fd, long long deadline_ms,
		     bool defer)
{
	struct pollfd pfd[2] = { { .fd = fd, .events = POLLIN },
				 { .fd = ep->lead_efd, .events = POLLIN } };
	int timeout = -1, n;
	eventfd_t v;

	if (deadline_ms >= 0) {
		long long left = deadline_ms - scif__now_ms();

		if (left <= 0)
			return -ETIMEDOUT;
		timeout = left > INT32_MAX ? INT32_MAX : (int)left;
	}
	/* the endpoint's fd must tell the truth while we sleep */
	if (ep->ev_dirty)
		scif__ep_wake(ep);
	ep->lead_polling = true;
	pthread_mutex_unlock(&ep->lock);
	n = poll(pfd, 2, timeout);
	pthread_mutex_lock(&ep->lock);
	ep->lead_polling = false;
	if (n < 0) {
		if (errno != EINTR)
			scif_err("poll: %m");
		return 0;
	}
	if (pfd[1].revents)
		(void)eventfd_read(ep->lead_efd, &v);
	if (!lead_mine(ep) || ep->lead_fd != fd)
		return 0; /* revoked meanwhile: fd may be gone */
	if (pfd[0].revents) {
		ep->ev_defer = defer;
		ep->lead_ops->ep_lead_event(ep);
		ep->ev_defer = false;
	}
	return n ? 0 : -ETIMEDOUT;
}

static SCIF_HOT int ep_wait(struct scif_ep *ep, long long deadline_ms,
			    bool defer)
{
	struct timespec ts;
	long long spin = ep->lib->spin_set ? (long long)ep->lib->spin_us :
					     (long long)ep->attr.spin_us;
	int fd, ret;

	if (spin) {
		if (ep_spin(ep, spin, deadline_ms, defer))
			return 0;
	} else if (ep->ops->ep_idle(ep) > 0) {
		/* about to sleep: the provider may have to ask for the event
		 * we sleep on (tcp: a delivery acknowledgement) */
		return 0;
	}
	fd = lead_begin(ep);
	if (fd >= 0)
		return lead_wait(ep, fd, deadline_ms, defer);
	/* the endpoint's fd must tell the truth while we sleep */
	if (ep->ev_dirty)
		scif__ep_wake(ep);
	ep->cond_waiters++;
	if (deadline_ms < 0) {
		pthread_cond_wait(&ep->cond, &ep->lock);
		ep->cond_waiters--;
		return 0;
	}
	ts.tv_sec = deadline_ms / 1000;
	ts.tv_nsec = (deadline_ms % 1000) * 1000000;
	ret = pthread_cond_timedwait(&ep->cond, &ep->lock, &ts);
	ep->cond_waiters--;
	return ret == ETIMEDOUT ? -ETIMEDOUT : 0;
}

SCIF_HOT int scif__ep_wait(struct scif_ep *ep, long long deadline_ms)
{
	int ret = ep_wait(ep, deadline_ms, false);

	if (ep->ev_dirty) /* changes seen while another thread spun */
		scif__ep_wake(ep);
	return ret;
}

SCIF_HOT int scif__ep_wait_io(struct scif_ep *ep)
{
	return ep_wait(ep, -1, true);
}
