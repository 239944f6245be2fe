/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The heartbeat of a verbs connection (docs/nodes.md, Node loss).
 *
 * Every successful completion on the connection's CQ is a sign of the peer
 * node's life: a receive is its message, a send or RMA completion its
 * adapter's acknowledgement.  A timer of the progress thread ticks every
 * half period; when nothing was heard for SCIF_HEARTBEAT_MS it posts one
 * zero-byte RDMA WRITE (no memory touched at either end, so no key: IB
 * C9-88), whose acknowledgement is heard like any other; when nothing was
 * heard for SCIF_HEARTBEAT_TIMEOUT_MS and the node's kernel does not answer
 * either (hb_silent), the node is lost: the QP goes to the error state
 * (what is posted flushes) and the endpoint is disconnected with ENODEV.  While traffic flows nothing is added.  RMA pieces are at
 * most VERBS_MAX_PIECE, so a long transfer completes one now and then.
 * The transport's own retries may end first (IBV_WC_RETRY_EXC_ERR: ENODEV);
 * the QP keeps the CM's ack timeout, and Soft-RoCE was not seen to get
 * there at all, so the timer decides.  A peer process that ends is not
 * silent: its kernel sends the DREQ (DISCONNECTED, ECONNRESET).
 */
#include "verbs.h"

#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* [ep locked] Post the probe (one at a time). */
static void hb_post(struct verbs_conn *c)
{
	struct ibv_send_wr wr = { .wr_id = WRID_HB,
				  .opcode = IBV_WR_RDMA_WRITE,
				  .send_flags = IBV_SEND_SIGNALED },
			   *bad;
	int ret = ibv_post_send(c->qp, &wr, &bad);

	if (ret) {
		errno = ret;
		scif_dbg("verbs: heartbeat to %u:%u: %m", c->peer_node,
			 c->peer_port);
		return;
	}
	c->hb_posted = true;
	c->hb_sent_ms = scif__now_ms();
}

/*
 * [ep locked] The time this process could not watch is not the peer's
 * silence: a tick that comes late (the progress thread waited for the
 * endpoint's lock while a caller was in a long ibv_post_send: Soft-RoCE
 * runs the protocol in the caller's system call; or the process was not
 * scheduled) moves the marks forward by its lateness.
 */
static void hb_forgive(struct verbs_conn *c, long long now)
{
	long long late = now - c->hb_tick_ms - c->vp->hb_ms;

	if (late <= 0)
		return;
	scif_dbg("verbs: heartbeat of %u:%u ran %lld ms late", c->peer_node,
		 c->peer_port, late);
	c->alive_ms += late;
	c->hb_sent_ms += late;
}

/*
 * The silence's second opinion.  Soft-RoCE in a loaded TCG VM (its vCPU
 * running MiBs of a caller's RDMA WRITEs inside ibv_post_send) was seen to
 * leave a probe unacknowledged for over 2 s while its node was well, and
 * the connection was taken for lost.  So before silence means a lost
 * node, the node's kernel is asked as well: a TCP connect to port 1 of the
 * peer's address, as scif_get_nodeIDs' probes do (nodemap.c).  An answer,
 * a reset included, means the node is up and the silence starts over; no
 * answer by the next tick, or an error, means it is lost.  Returns 1 (it
 * answered), 0 (asked, no answer yet) or -errno (it cannot answer).
 */
static int hb_check_start(struct verbs_conn *c)
{
	struct sockaddr *peer = rdma_get_peer_addr(c->id);
	struct sockaddr_storage sa;
	socklen_t len;
	int fd;

	if (!peer || (peer->sa_family != AF_INET &&
		      peer->sa_family != AF_INET6))
		return -EAFNOSUPPORT;
	len = peer->sa_family == AF_INET ? sizeof(struct sockaddr_in) :
					   sizeof(struct sockaddr_in6);
	memcpy(&sa, peer, len);
	((struct sockaddr_in *)&sa)->sin_port = htons(1); /* same in v6 */
	fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0) {
		scif_warn("verbs: heartbeat of %u:%u: socket: %m",
			  c->peer_node, c->peer_port);
		return -errno;
	}
	if (!connect(fd, (struct sockaddr *)&sa, len) ||
	    errno == ECONNREFUSED) {
		close(fd);
		return 1;
	}
	if (errno != EINPROGRESS) {
		int err = errno;

		close(fd);
		return -err;
	}
	c->hb_check_fd = fd;
	return 0;
}

static int hb_check_result(struct verbs_conn *c)
{
	struct pollfd pfd = { .fd = c->hb_check_fd, .events = POLLOUT };
	socklen_t elen = sizeof(int);
	int err = 0;

	if (poll(&pfd, 1, 0) != 1)
		return 0;
	if (getsockopt(c->hb_check_fd, SOL_SOCKET, SO_ERROR, &err, &elen))
		err = errno;
	return !err || err == ECONNREFUSED ? 1 : -err;
}

static void hb_check_end(struct verbs_conn *c)
{
	if (c->hb_check_fd >= 0)
		close(c->hb_check_fd);
	c->hb_check_fd = -1;
}

/* [ep locked] Silent for the timeout: ask (or hear) the node's kernel,
 * then judge.  Whether the node is lost. */
static bool hb_silent(struct verbs_conn *c, long long now, long long quiet)
{
	int r;

	if (c->hb_check_fd < 0) {
		c->hb_check_ms = now;
		r = hb_check_start(c);
	} else {
		r = hb_check_result(c);
		/* a tick (hb_ms / 2) later: no answer is an answer */
		if (!r && now - c->hb_check_ms >= c->vp->hb_ms / 4)
			r = -ETIMEDOUT;
	}
	if (!r)
		return false;
	hb_check_end(c);
	if (r > 0) {
		scif_info("verbs: %u:%u silent for %lld ms, but its node "
			  "answers: not lost (the adapter is slow)",
			  c->peer_node, c->peer_port, quiet);
		c->alive_ms = now;
		return false;
	}
	scif_info("verbs: %u:%u silent for %lld ms and its node does not "
		  "answer (%s): it is lost (probe posted %lld ms ago, %u RMA "
		  "pieces in flight)",
		  c->peer_node, c->peer_port, quiet, strerror(-r),
		  c->hb_posted ? now - c->hb_sent_ms : -1LL, c->rma_inflight);
	return true;
}

/* Timer (progress thread). */
static void hb_tick(void *arg)
{
	struct verbs_conn *c = arg;
	struct scif_ep *ep = c->ep;
	long long quiet, now;

	scif__ep_get(ep);
	scif__ep_lock(ep);
	if (c->dead || c->closing || !c->established)
		goto out;
	/* what the channel has not told yet (as a caller polling would,
	 * without counting as one: see mute() in verbs_msg.c) */
	verbs_conn_poll(c);
	now = scif__now_ms();
	hb_forgive(c, now);
	c->hb_tick_ms = now;
	/* dated by the tick that finds it (verbs_cq_drain reads no clock):
	 * silence is then never overestimated, detection at most a tick
	 * later */
	if (c->heard) {
		c->heard = false;
		c->alive_ms = now;
	}
	quiet = now - c->alive_ms;
	if (c->dead)
		goto out;
	if (quiet < c->vp->hb_timeout_ms) {
		hb_check_end(c); /* heard meanwhile */
		if (quiet >= c->vp->hb_ms && !c->hb_posted)
			hb_post(c);
	} else if (hb_silent(c, now, quiet)) {
		c->dead = true;
		verbs_qp_move(c, IBV_QPS_ERR);
		scif__ep_peer_gone(ep, -ENODEV);
	}
out:
	scif__ep_unlock(ep);
	scif__ep_put(ep);
}

/* A connection to this node itself has no heartbeat: its peer's node is
 * the one running it (a peer process that ends still sends the DREQ). */
void verbs_hb_start(struct verbs_conn *c)
{
	struct scif_progress *pg = scif__lib_progress(c->vp->lib);
	int tick = c->vp->hb_ms / 2;

	c->hb_timer = -1;
	if (c->peer_node == scif__self_node(c->vp->lib))
		return;
	c->alive_ms = c->hb_tick_ms = scif__now_ms();
	c->hb_timer = scif__progress_timer_add(pg, c->alive_ms + tick, tick,
					       hb_tick, c);
	if (c->hb_timer < 0)
		scif_warn("verbs: no heartbeat for %u:%u: %s", c->peer_node,
			  c->peer_port, strerror(-c->hb_timer));
}

void verbs_hb_stop(struct verbs_conn *c)
{
	if (c->hb_timer >= 0)
		scif__progress_del(scif__lib_progress(c->vp->lib), c->hb_timer);
	c->hb_timer = -1;
	hb_check_end(c); /* the tick is neither running nor going to */
}

int verbs_wc_errno(const struct ibv_wc *wc)
{
	/* the peer's adapter never answered: the node (or the path) is gone */
	return wc->status == IBV_WC_RETRY_EXC_ERR ? -ENODEV : -ECONNRESET;
}
