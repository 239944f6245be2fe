/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * shm endpoints: rendezvous over abstract AF_UNIX sockets, the connection's
 * socket (hang-up and doorbell) and its progress callback.
 *
 * Requester (ep_connect, which must not block): connect to the listener's
 * name, create the rings in a memfd sealed against shrinking (the acceptor
 * maps it: a shrunk file would fault its accesses), send REQUEST with the
 * memfd, and wait in the progress thread for ACCEPT or REJECT.
 * Acceptor: the listener's callback accepts the socket and waits (bounded
 * by a timer) for the REQUEST; a valid one goes to the core's backlog, and
 * ep_accept maps the memfd and answers ACCEPT.
 *
 * The socket stays open for the connection's life: its hang-up is the
 * peer's death or close, a byte on it a doorbell.  The memfd is never
 * named: only the two processes can reach the rings.
 */
#include "shm.h"

#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define SHM_FDS_MAX 4 /* descriptors we make room for in one record */

static socklen_t shm_name(struct sockaddr_un *sa, uint16_t node, uint16_t port)
{
	int n;

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	/* abstract: sun_path[0] == 0; the node keeps virtual nodes sharing a
	 * host (one port number on each) apart */
	n = snprintf(sa->sun_path + 1, sizeof(sa->sun_path) - 1,
		     "scif-fabric/shm/%u/%u", node, port);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
}

static int send_hello(int fd, uint16_t type, uint16_t node, uint16_t port,
		      const uint32_t *shape, int memfd)
{
	struct shm_hello m = { .magic = SHM_MAGIC,
			       .version = SHM_VERSION,
			       .type = type,
			       .node = node,
			       .port = port,
			       .pid = (uint32_t)getpid() };
	struct iovec iov = { .iov_base = &m, .iov_len = sizeof(m) };
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *cm;

	if (shape) {
		m.dsize = shape[0];
		m.csize = shape[1];
	}
	if (memfd >= 0) {
		memset(&u, 0, sizeof(u));
		msg.msg_control = u.buf;
		msg.msg_controllen = sizeof(u.buf);
		cm = CMSG_FIRSTHDR(&msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &memfd, sizeof(int));
	}
	if (sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL) != sizeof(m))
		return errno ? -errno : -EIO;
	return 0;
}

/*
 * Receive one record without blocking.  Descriptors that come with it are
 * returned in fds (up to SHM_FDS_MAX, *nfds of them) or closed if fds is
 * NULL: a peer must not be able to fill our descriptor table.  Returns the
 * record's length (0: hang-up), -EAGAIN, or -errno; *trunc when it was
 * longer than len or carried more descriptors than we took.
 */
static ssize_t recv_record(int fd, void *buf, size_t len, int *fds,
			   int *nfds, bool *trunc)
{
	union {
		char buf[CMSG_SPACE(SHM_FDS_MAX * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov,
			      .msg_iovlen = 1,
			      .msg_control = u.buf,
			      .msg_controllen = sizeof(u.buf) };
	struct cmsghdr *cm;
	int got = 0, i, one;
	ssize_t r;

	do
		r = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);

		for (i = 0; (size_t)i < n; i++) {
			memcpy(&one, CMSG_DATA(cm) + i * sizeof(int),
			       sizeof(int));
			if (fds && got < SHM_FDS_MAX)
				fds[got++] = one;
			else
				close(one);
		}
	}
	if (nfds)
		*nfds = got;
	*trunc = (msg.msg_flags & (MSG_TRUNC | MSG_CTRUNC)) != 0;
	return r;
}

static pid_t peer_pid(int fd, pid_t claimed)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);

	/* The kernel's word, not the peer's: the pid to attach to for RMA
	 * (in our pid namespace).  0 when the peer is not visible here. */
	if (!getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) && cr.pid > 0)
		return cr.pid;
	return claimed;
}

int shm_ep_open(struct scif_prov *prov, struct scif_ep *ep)
{
	struct shm_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->sp = (struct shm_prov *)prov;
	c->ep = ep;
	c->fd = -1;
	c->handle = -1;
	scif__ep_set_prov_data(ep, c);
	return 0;
}

void shm_doorbell(struct shm_conn *c)
{
	static const char one = 1;

	if (c->dead || c->fd < 0)
		return;
	/* EAGAIN: the peer has doorbells queued, it will look anyway */
	if (send(c->fd, &one, 1, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 &&
	    errno != EAGAIN && errno != EWOULDBLOCK)
		scif_dbg("shm: doorbell to %u:%u: %m", c->peer_node,
			 c->peer_port);
}

/* [ep locked] End the connection: the core hears of it once, the peer by
 * the hang-up of the socket. */
void shm_conn_end(struct shm_conn *c, int err)
{
	c->dead = true;
	if (c->fd >= 0)
		shutdown(c->fd, SHUT_RDWR);
	if (c->state == SHM_UP && !c->gone_told && !c->closing) {
		c->gone_told = true;
		scif__ep_peer_gone(c->ep, err);
	}
}

/* [ep locked] A connect failed: tell the core, which closes the endpoint. */
static void connect_failed(struct shm_conn *c, int err)
{
	c->state = SHM_FAILED;
	c->dead = true;
	if (c->fd >= 0)
		shutdown(c->fd, SHUT_RDWR);
	if (!c->closing)
		scif__ep_conn_done(c->ep, err, 0, 0);
}

/* [ep locked] The acceptor's answer to our REQUEST. */
static void on_answer(struct shm_conn *c, const void *buf, ssize_t len)
{
	struct shm_hello m;

	if (len != sizeof(m)) {
		scif_err("shm: bad answer (%zd bytes) to a connection request",
			 len);
		connect_failed(c, -ECONNREFUSED);
		return;
	}
	memcpy(&m, buf, sizeof(m));
	if (m.magic != SHM_MAGIC || m.version != SHM_VERSION ||
	    (m.type == SHM_HELLO_ACCEPT &&
	     m.node != scif__self_node(c->sp->lib))) {
		scif_err("shm: malformed answer to a connection request");
		connect_failed(c, -ECONNREFUSED);
		return;
	}
	if (m.type != SHM_HELLO_ACCEPT) {
		scif_dbg("shm: connection refused by the listener");
		connect_failed(c, -ECONNREFUSED);
		return;
	}
	if (!c->peer_pid)
		c->peer_pid = (pid_t)m.pid;
	c->peer_node = m.node;
	c->peer_port = m.port;
	c->state = SHM_UP;
	scif_dbg("shm: port %u connected to %u:%u", scif__ep_port(c->ep),
		 m.node, m.port);
	scif__ep_conn_done(c->ep, 0, m.node, m.port);
}

/* [ep locked] Read what the socket holds: answers while connecting,
 * doorbells after.  Returns true on hang-up; *rung if a doorbell came. */
static bool sock_drain(struct shm_conn *c, bool *rung)
{
	char buf[sizeof(struct shm_hello)];
	bool trunc;
	ssize_t r;
	int i;

	for (i = 0; i < 64; i++) {
		r = recv_record(c->fd, buf, sizeof(buf), NULL, NULL, &trunc);
		if (r == -EAGAIN)
			return false;
		if (r <= 0)
			return true;
		if (c->state == SHM_CONNECTING)
			on_answer(c, buf, trunc ? -1 : r);
		else
			*rung = true;
		if (c->state == SHM_FAILED)
			return false;
	}
	return false; /* more later: the socket stays readable */
}

/* Progress callback of a connection's socket. */
static void conn_cb(void *arg)
{
	struct shm_conn *c = arg;
	struct scif_ep *ep = c->ep;
	struct scif_progress *pg = c->sp->pg;
	bool hup, rung = false, changed;

	scif__ep_get(ep);
	scif__ep_lock(ep);
	if (c->closing || c->handle < 0 || c->fd < 0)
		goto out;
	hup = sock_drain(c, &rung);
	/* Data that arrived before a hang-up must stay readable. */
	changed = shm_service(c);
	if (c->state == SHM_UP && !c->dead) {
		shm_arm(c);
		changed |= shm_service(c); /* raced with arming */
	}
	if (hup)
		scif_dbg("shm: hang-up on port %u (state %d)",
			 scif__ep_port(ep), c->state);
	if (hup && c->state == SHM_CONNECTING)
		connect_failed(c, -ECONNREFUSED);
	else if (hup)
		shm_conn_end(c, -ECONNRESET);
	if ((changed || rung || hup) && !c->closing)
		scif__ep_wake(ep);
	if (hup || c->state == SHM_FAILED) {
		/*
		 * The hang-up stays readable: stop watching it.  Under the
		 * lock, which is safe here (from inside its own callback the
		 * call does not wait) and needed: ep_close, once it sees no
		 * handle, closes the socket, and a deletion after that would
		 * remove whatever reuses the descriptor number from epoll.
		 */
		scif__progress_del(pg, c->handle);
		c->handle = -1;
	}
out:
	scif__ep_unlock(ep);
	scif__ep_put(ep);
}

/* ---- requester ---- */

/* A memfd holding fresh rings, mapped into c.  Returns the memfd or -errno. */
static int rings_create(struct shm_conn *c)
{
	uint32_t dsize = c->sp->dsize, csize = SHM_CSIZE;
	size_t len = shm_map_len(dsize, csize);
	void *map;
	int fd, ret;

	fd = memfd_create("scif-shm", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0) {
		ret = -errno;
		scif_err("shm: memfd_create: %m");
		return ret;
	}
	if (ftruncate(fd, (off_t)len) ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)) {
		ret = -errno;
		scif_err("shm: ring memfd of %zu bytes: %m", len);
		close(fd);
		return ret;
	}
	map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (map == MAP_FAILED) {
		ret = -errno;
		scif_err("shm: mmap of %zu bytes: %m", len);
		close(fd);
		return ret;
	}
	shm_rings_init(map, dsize, csize);
	shm_rings_attach(c, map, dsize, csize, true);
	return fd;
}

int shm_ep_connect(struct scif_ep *ep, const struct scif_node *dst,
		   uint16_t port)
{
	struct shm_conn *c = shm_conn_of(ep);
	struct shm_prov *sp = c->sp;
	struct sockaddr_un sa;
	socklen_t salen = shm_name(&sa, dst->id, port);
	uint32_t shape[2];
	int fd, memfd, ret;

	fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ret = -errno;
		scif_err("shm: socket: %m");
		return ret;
	}
	if (connect(fd, (struct sockaddr *)&sa, salen)) {
		ret = -errno;
		close(fd);
		/* nobody listens, or its queue is full */
		if (ret == -ECONNREFUSED || ret == -ENOENT || ret == -EAGAIN)
			return -ECONNREFUSED;
		scif_err("shm: connect to port %u: %s", port, strerror(-ret));
		return ret;
	}
	c->fd = fd;
	c->peer_pid = peer_pid(fd, 0);
	memfd = rings_create(c);
	if (memfd < 0)
		return memfd; /* ep_close releases c->fd */
	shape[0] = c->dsize;
	shape[1] = c->csize;
	ret = send_hello(fd, SHM_HELLO_REQUEST, scif__self_node(sp->lib),
			 scif__ep_port(ep), shape, memfd);
	close(memfd); /* the mapping and the peer keep it */
	if (ret) {
		scif_info("shm: connection request to port %u: %s", port,
			  strerror(-ret));
		return -ECONNREFUSED;
	}
	c->state = SHM_CONNECTING;
	scif_dbg("shm: port %u requests port %u", scif__ep_port(ep), port);
	c->handle = scif__progress_add(sp->pg, fd, conn_cb, c);
	if (c->handle < 0) {
		c->state = SHM_FAILED;
		return c->handle;
	}
	return 0;
}

/* ---- acceptor ---- */

static void pending_free(struct shm_pending *p)
{
	if (p->fd >= 0)
		close(p->fd);
	if (p->memfd >= 0)
		close(p->memfd);
	free(p);
}

int shm_ep_accept(struct scif_conn_req *req, struct scif_ep *newep)
{
	struct shm_pending *p = req->prov_data;
	struct shm_conn *c = shm_conn_of(newep);
	size_t len = shm_map_len(p->dsize, p->csize);
	void *map;
	int ret;

	map = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, p->memfd, 0);
	if (map == MAP_FAILED) {
		ret = -errno;
		scif_err("shm: mmap of the rings of %u:%u: %m", req->peer_node,
			 req->peer_port);
		send_hello(p->fd, SHM_HELLO_REJECT, 0, 0, NULL, -1);
		goto out;
	}
	scif__ep_lock(newep);
	shm_rings_attach(c, map, p->dsize, p->csize, false);
	c->peer_pid = p->pid;
	c->peer_node = req->peer_node;
	c->peer_port = req->peer_port;
	c->fd = p->fd;
	p->fd = -1;
	/* Answer before the socket is watched: the progress callback must
	 * not run before the connection is up (a doorbell that comes first
	 * waits in the socket). */
	ret = send_hello(c->fd, SHM_HELLO_ACCEPT, scif__self_node(c->sp->lib),
			 scif__ep_port(newep), NULL, -1);
	if (ret) {
		scif_info("shm: requester %u:%u is gone: %s", c->peer_node,
			  c->peer_port, strerror(-ret));
		ret = -ECONNRESET;
	} else {
		c->handle = scif__progress_add(c->sp->pg, c->fd, conn_cb, c);
		ret = c->handle < 0 ? c->handle : 0;
	}
	scif_dbg("shm: port %u accepts %u:%u: %d", scif__ep_port(newep),
		 c->peer_node, c->peer_port, ret);
	if (!ret) {
		c->state = SHM_UP;
		shm_arm(c);
		scif__ep_conn_done(newep, 0, c->peer_node, c->peer_port);
	} else {
		c->state = SHM_FAILED; /* ep_close releases the rest */
		c->dead = true;
	}
	scif__ep_unlock(newep);
out:
	pending_free(p);
	free(req);
	return ret;
}

void shm_conn_reject(struct scif_prov *prov, struct scif_conn_req *req)
{
	struct shm_pending *p = req->prov_data;

	send_hello(p->fd, SHM_HELLO_REJECT, 0, 0, NULL, -1);
	pending_free(p);
	free(req);
}

void shm_ep_close(struct scif_ep *ep)
{
	struct shm_conn *c = shm_conn_of(ep);
	int handle;

	if (!c)
		return;
	scif__ep_lock(ep);
	c->closing = true;
	/* An RMA copy, or a control message handler, that released the lock
	 * still uses the mapping and c. */
	while (c->copying || c->in_ctrl)
		scif__ep_wait(ep, -1);
	handle = c->handle;
	c->handle = -1;
	scif__ep_unlock(ep);
	if (handle >= 0)
		scif__progress_del(c->sp->pg, handle);
	/* The peer sees the hang-up and still reads what the rings hold. */
	if (c->fd >= 0)
		close(c->fd);
	if (c->map)
		munmap(c->map, c->map_len);
	shm_outbox_free(c);
	scif__ep_set_prov_data(ep, NULL);
	free(c);
}

/* ---- listener ---- */

/* Check a REQUEST and its memfd.  On success the record's fds belong to
 * the new pending request in *out. */
static int request_check(struct shm_listener *l, int fd, const void *buf,
			 ssize_t len, int memfd, struct shm_pending **out)
{
	uint16_t self = scif__self_node(l->sp->lib);
	struct shm_pending *p;
	struct shm_hello m;
	struct stat st;
	int seals;

	if (len != sizeof(m) || memfd < 0)
		return -EPROTO;
	memcpy(&m, buf, sizeof(m));
	if (m.magic != SHM_MAGIC || m.version != SHM_VERSION ||
	    m.type != SHM_HELLO_REQUEST || m.node != self ||
	    !shm_shape_ok(m.dsize, m.csize))
		return -EPROTO;
	/* Only a sealed shmem file of exactly the rings' size: anything else
	 * (a file that can shrink, block or be a device) could fault or hang
	 * our accesses. */
	seals = fcntl(memfd, F_GET_SEALS);
	if (fstat(memfd, &st) || !S_ISREG(st.st_mode) || seals < 0 ||
	    !(seals & F_SEAL_SHRINK) ||
	    (uint64_t)st.st_size != shm_map_len(m.dsize, m.csize))
		return -EPROTO;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->fd = fd;
	p->memfd = memfd;
	p->pid = peer_pid(fd, (pid_t)m.pid);
	p->dsize = m.dsize;
	p->csize = m.csize;
	p->node = m.node;
	p->port = m.port;
	*out = p;
	return 0;
}

/* [l->lock] Read the REQUEST of hs if it has come: 0 and *out, -EAGAIN,
 * or another -errno (the requester is dropped). */
static int request_read(struct shm_hs *hs, struct shm_pending **out)
{
	char buf[sizeof(struct shm_hello)];
	int fds[SHM_FDS_MAX], nfds = 0, i, ret;
	bool trunc;
	ssize_t r;

	r = recv_record(hs->fd, buf, sizeof(buf), fds, &nfds, &trunc);
	if (r == -EAGAIN)
		return -EAGAIN;
	if (r <= 0)
		return r ? (int)r : -ECONNRESET;
	ret = trunc || nfds != 1 ? -EPROTO :
				   request_check(hs->l, hs->fd, buf, r, fds[0],
						 out);
	if (ret)
		for (i = 0; i < nfds; i++)
			close(fds[i]);
	if (ret == -EPROTO)
		scif_warn("shm: malformed connection request on port %u "
			  "dropped",
			  hs->l->port);
	return ret;
}

/* Stop watching an accepted socket whose request is settled (the caller
 * claimed it); keep_fd when it went on into a pending request. */
static void hs_end(struct shm_hs *hs, bool keep_fd)
{
	struct scif_progress *pg = hs->l->sp->pg;

	scif__progress_del(pg, hs->handle);
	scif__progress_del(pg, hs->timer);
	if (!keep_fd)
		close(hs->fd);
	free(hs);
}

/* [l->lock] Take hs off the listener's list. */
static void hs_claim(struct shm_hs *hs)
{
	struct shm_hs **pp;

	hs->claimed = true;
	for (pp = &hs->l->hs; *pp; pp = &(*pp)->next)
		if (*pp == hs) {
			*pp = hs->next;
			break;
		}
}

/* Hand a request to the core's backlog, or refuse it. */
static void request_deliver(struct shm_listener *l, struct shm_pending *p)
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
	scif_dbg("shm: request from %u:%u on port %u: %d", p->node, p->port,
		 l->port, ret);
	if (!ret)
		return;
	scif_info("shm: connection request from %u:%u refused (%s)", p->node,
		  p->port, strerror(-ret));
	send_hello(p->fd, SHM_HELLO_REJECT, 0, 0, NULL, -1);
	pending_free(p);
	free(req);
}

/* Progress callback of an accepted socket: its REQUEST. */
static void hs_cb(void *arg)
{
	struct shm_hs *hs = arg;
	struct shm_listener *l = hs->l;
	struct shm_pending *p = NULL;
	int ret;

	pthread_mutex_lock(&l->lock);
	if (hs->claimed || l->closing) { /* whoever claimed it ends it */
		pthread_mutex_unlock(&l->lock);
		return;
	}
	ret = request_read(hs, &p);
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

/* Timer of an accepted socket: the requester said nothing in time. */
static void hs_timeout(void *arg)
{
	struct shm_hs *hs = arg;
	struct shm_listener *l = hs->l;

	pthread_mutex_lock(&l->lock);
	if (hs->claimed || l->closing) {
		pthread_mutex_unlock(&l->lock);
		return;
	}
	hs_claim(hs);
	pthread_mutex_unlock(&l->lock);
	scif_warn("shm: a requester on port %u sent no request within %d ms: "
		  "dropped",
		  l->port, SHM_HELLO_MS);
	hs_end(hs, false);
}

/* Watch a newly accepted socket until its REQUEST comes. */
static void hs_start(struct shm_listener *l, int fd)
{
	struct scif_progress *pg = l->sp->pg;
	struct shm_hs *hs = calloc(1, sizeof(*hs));

	if (!hs) {
		close(fd);
		return;
	}
	hs->l = l;
	hs->fd = fd;
	hs->handle = hs->timer = -1;
	pthread_mutex_lock(&l->lock);
	hs->next = l->hs;
	l->hs = hs;
	pthread_mutex_unlock(&l->lock);
	/* Nothing else runs for hs before we return (we are the progress
	 * thread; unlisten first waits for the listener's callback). */
	hs->handle = scif__progress_add(pg, fd, hs_cb, hs);
	/* A periodic timer, so that its handle stays ours until we delete
	 * it; it ends hs the first time it runs. */
	hs->timer = scif__progress_timer_add(pg, scif__now_ms() + SHM_HELLO_MS,
					     SHM_HELLO_MS, hs_timeout, hs);
	if (hs->handle < 0 || hs->timer < 0) {
		scif_err("shm: cannot watch a connection request");
		pthread_mutex_lock(&l->lock);
		hs_claim(hs);
		pthread_mutex_unlock(&l->lock);
		hs_end(hs, false);
	}
}

/* Progress callback of a listening socket. */
static void listen_cb(void *arg)
{
	struct shm_listener *l = arg;
	int fd, i;

	for (i = 0; i < 64; i++) {
		fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno != EAGAIN && errno != EWOULDBLOCK &&
			    errno != EINTR && errno != ECONNABORTED)
				scif_err("shm: accept on port %u: %m", l->port);
			return;
		}
		hs_start(l, fd);
	}
}

int shm_listen(struct scif_prov *prov, struct scif_ep *lep, uint16_t port,
	       int backlog, void **lctx)
{
	struct shm_prov *sp = (struct shm_prov *)prov;
	struct shm_listener *l = calloc(1, sizeof(*l));
	struct sockaddr_un sa;
	socklen_t salen = shm_name(&sa, scif__self_node(sp->lib), port);
	int ret;

	if (!l)
		return -ENOMEM;
	l->sp = sp;
	l->prov = prov;
	l->lep = lep;
	l->port = port;
	pthread_mutex_init(&l->lock, NULL);
	pthread_cond_init(&l->idle, NULL);
	l->fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC,
		       0);
	if (l->fd < 0) {
		ret = -errno;
		scif_err("shm: socket: %m");
		goto err_free;
	}
	/* The kernel's queue only has to hold requests until we accept
	 * them; the core enforces the SCIF backlog. */
	if (bind(l->fd, (struct sockaddr *)&sa, salen) ||
	    listen(l->fd, backlog > 128 ? backlog : 128)) {
		ret = -errno;
		scif_err("shm: listen on port %u: %m", port);
		goto err_close;
	}
	l->handle = scif__progress_add(sp->pg, l->fd, listen_cb, l);
	if (l->handle < 0) {
		ret = l->handle;
		goto err_close;
	}
	*lctx = l;
	return 0;

err_close:
	close(l->fd);
err_free:
	pthread_cond_destroy(&l->idle);
	pthread_mutex_destroy(&l->lock);
	free(l);
	return ret;
}

void shm_unlisten(struct scif_prov *prov, void *lctx)
{
	struct shm_listener *l = lctx;
	struct shm_hs *hs;

	pthread_mutex_lock(&l->lock);
	l->closing = true;
	pthread_mutex_unlock(&l->lock);
	scif__progress_del(l->sp->pg, l->handle);
	close(l->fd); /* requesters from now on are refused by the kernel */
	for (;;) {
		pthread_mutex_lock(&l->lock);
		hs = l->hs;
		if (hs)
			hs_claim(hs);
		pthread_mutex_unlock(&l->lock);
		if (!hs)
			break;
		hs_end(hs, false); /* the requester sees the hang-up */
	}
	/* a request being handed to the core still uses l and lep */
	pthread_mutex_lock(&l->lock);
	while (l->delivering)
		pthread_cond_wait(&l->idle, &l->lock);
	pthread_mutex_unlock(&l->lock);
	pthread_cond_destroy(&l->idle);
	pthread_mutex_destroy(&l->lock);
	free(l);
}
