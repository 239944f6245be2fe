/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The core's RMA, fence and window logic driven through a fake provider.
 *
 * The fake is an in-process loopback transport: two endpoints of this
 * process connect to each other through it.  Connection requests, the byte
 * stream and control messages travel through in-order queues delivered by
 * the progress thread (an eventfd source), which takes one endpoint lock at
 * a time.  rma_post moves no data at once: a piece's data moves when it
 * completes, and pieces complete out of order: every second piece of a
 * batch from inside rma_post, the rest later from the progress thread in
 * reverse order.  Knobs hold pieces back until the test releases them,
 * limit the queue (rma_post then takes fewer pieces than offered) and make
 * a piece fail.  The fake counts what it sees, and the contract violations
 * it can detect (a window deregistered under a piece in flight, a fence
 * value landing before earlier data, pieces outside their regions).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "scif_priv.h"
#include "wire.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define MAX_PIECE 4096
#define NLIS 8
#define BLOB_MAGIC 0x666b6d72ull

/* ---- the fake provider ---- */

enum { IT_DATA, IT_CTRL, IT_GONE };

struct item {
	struct item *next;
	int kind;	/* IT_* */
	uint8_t type;	/* IT_CTRL: the wire type */
	uint32_t len;
	char data[];
};

/* One direction of a connection.  Lives until fini. */
struct fpipe {
	struct fpipe *next;
	struct fep *dst;	   /* NULL once it closed */
	struct item *head, *tail; /* sent, not yet delivered */
	struct item *rxh, *rxt;	   /* delivered stream data, unread */
	size_t rxoff;
};

/* A piece taken by rma_post, with what completing it needs. */
struct piece {
	struct piece *next;
	uint64_t seq, no; /* no: posting order on the endpoint */
	enum scif_rma_op op;
	unsigned flags;
	char *local, *remote;
	uint64_t len, imm;
	int err;
	bool held, taken;
};

/* An endpoint's state in the fake.  Lives until fini. */
struct fep {
	struct fep *next;
	struct scif_ep *ep;
	struct fpipe *tx, *rx;
	uint16_t port;
	unsigned caps;
	bool closed, broken;
	struct piece *pend; /* taken, not completed, in posting order */
	int npend;
	uint64_t nposted;
};

/* A connection request to deliver, or (err) a refusal. */
struct cev {
	struct cev *next;
	struct fep *fe;
	uint16_t port;
	int err;
};

struct lis {
	struct scif_ep *lep;
	uint16_t port;
};

struct fmr {
	void *va;
	uint64_t len;
};

struct blob {
	uint64_t magic, va, len;
};

static struct {
	pthread_mutex_t mu;  /* the fake's state: a leaf lock */
	pthread_mutex_t dmu; /* upcalls vs ep_close/unlisten; before ep locks */
	pthread_cond_t cv;   /* counters changed */
	struct scif_lib *lib;
	int efd, src;
	struct fep *eps;
	struct fpipe *pipes;
	struct cev *cevs;
	struct lis lis[NLIS];
	/* knobs */
	unsigned caps;	 /* for endpoints opened from now on */
	int qmax;	 /* pieces in flight per endpoint (0: no limit) */
	int hold_next;	 /* hold back the next so many pieces */
	bool inline_odd; /* complete odd pieces of a batch inside rma_post */
	bool imm_inline; /* complete fence values inside rma_post */
	long fail_at;	 /* the piece with this number fails (0: none) */
	bool record;	 /* note where the next completed piece ended */
	char *first_rend;
	/* counters */
	long posted, done, outstanding, partial, imm_inlined, dropped;
	long mrs, rmrs, deregs;
	/* contract violations */
	long bad, imm_early, dereg_busy, ctrl_err;
} fk = {
	.mu = PTHREAD_MUTEX_INITIALIZER,
	.dmu = PTHREAD_MUTEX_INITIALIZER,
	.efd = -1,
	.src = -1,
	.inline_odd = true,
};

#define FK_PROV ((struct scif_prov *)&fk)

static void lock(void)
{
	pthread_mutex_lock(&fk.mu);
}

static void unlock(void)
{
	pthread_mutex_unlock(&fk.mu);
}

static long fk_get(const long *counter)
{
	long v;

	lock();
	v = *counter;
	unlock();
	return v;
}

static void kick(void)
{
	uint64_t one = 1;
	ssize_t r = write(fk.efd, &one, sizeof(one));

	(void)r;
}

/* [mu] */
static int pipe_push(struct fpipe *p, int kind, uint8_t type, const void *d,
		     uint32_t len)
{
	struct item *it = malloc(sizeof(*it) + len);

	if (!it)
		return -ENOMEM;
	it->next = NULL;
	it->kind = kind;
	it->type = type;
	it->len = len;
	if (len)
		memcpy(it->data, d, len);
	if (p->tail)
		p->tail->next = it;
	else
		p->head = it;
	p->tail = it;
	return 0;
}

/* [mu] */
static struct fpipe *pipe_new(struct fep *dst)
{
	struct fpipe *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->dst = dst;
	p->next = fk.pipes;
	fk.pipes = p;
	return p;
}

/* [mu] Whether a pending piece of fe was posted before pc. */
static bool older_pending(struct fep *fe, const struct piece *pc)
{
	return fe->pend != pc;
}

/* [mu] Whether a pending piece of any endpoint touches [va, va+len). */
static bool range_in_flight(const char *va, uint64_t len)
{
	struct piece *pc;
	struct fep *fe;

	for (fe = fk.eps; fe; fe = fe->next)
		for (pc = fe->pend; pc; pc = pc->next)
			if ((pc->local && pc->local < va + len &&
			     va < pc->local + pc->len) ||
			    (pc->remote < va + len &&
			     va < pc->remote + pc->len))
				return true;
	return false;
}

/* [ep locked] Move the piece's data, report it, forget it. */
static void piece_finish(struct fep *fe, struct piece *pc)
{
	struct piece **pp;
	int err = pc->err;

	lock();
	if (fe->broken && !err)
		err = -ECONNRESET;
	if (!err && (pc->flags & SCIF_SEG_IMM)) {
		/* a fence value lands after every earlier piece (the cases
		 * post nothing behind a signal before it lands) */
		fk.imm_early += older_pending(fe, pc);
		memcpy(pc->remote, &pc->imm, sizeof(pc->imm));
	} else if (!err && pc->op == SCIF_RMA_OP_WRITE) {
		memcpy(pc->remote, pc->local, pc->len);
	} else if (!err) {
		memcpy(pc->local, pc->remote, pc->len);
	}
	for (pp = &fe->pend; *pp != pc; pp = &(*pp)->next)
		;
	*pp = pc->next;
	fe->npend--;
	fk.done++;
	fk.outstanding--;
	if (fk.record && !fk.first_rend)
		fk.first_rend = pc->remote + pc->len;
	if (err && !fe->broken) { /* the connection breaks, as a QP would */
		fe->broken = true;
		if (fe->tx)
			pipe_push(fe->tx, IT_GONE, 0, NULL, 0);
		kick();
	}
	pthread_cond_broadcast(&fk.cv);
	unlock();
	scif__ep_rma_piece_done(fe->ep, pc->seq, err);
	free(pc);
}

/* [mu] Take one piece: check it against the contract, queue it. */
static struct piece *piece_new(struct fep *fe, const struct scif_rma_seg *s,
			       uint64_t seq0)
{
	bool imm = s->flags & SCIF_SEG_IMM;
	struct piece *pc, **pp;

	if (!s->rmr || (!imm && !s->lmr)) {
		fk.bad++;
		return NULL;
	}
	if (s->seq != seq0 || !s->len || s->len > MAX_PIECE ||
	    s->roff + s->len > s->rmr->len ||
	    (imm ? s->len != 8 : s->loff + s->len > s->lmr->len))
		fk.bad++;
	pc = calloc(1, sizeof(*pc));
	if (!pc)
		return NULL;
	pc->seq = s->seq;
	pc->no = ++fe->nposted;
	pc->op = s->op;
	pc->flags = s->flags;
	pc->len = s->len;
	pc->imm = s->imm;
	pc->remote = (char *)(uintptr_t)s->rmr->data[0] + s->roff;
	pc->local = imm ? NULL : (char *)s->lmr->va + s->loff;
	if (++fk.posted == fk.fail_at)
		pc->err = -ECONNRESET;
	if (fk.hold_next > 0) {
		fk.hold_next--;
		pc->held = true;
	}
	fk.outstanding++;
	for (pp = &fe->pend; *pp; pp = &(*pp)->next)
		;
	*pp = pc;
	fe->npend++;
	return pc;
}

static int fk_rma_post(struct scif_ep *ep, const struct scif_rma_seg *segs,
		       int n)
{
	struct fep *fe = scif__ep_prov_data(ep);
	struct piece **now, *pc;
	int k = n, i, nnow = 0;

	lock();
	if (fe->broken) {
		unlock();
		return -ECONNRESET;
	}
	if (fk.qmax && fe->npend + k > fk.qmax)
		k = fk.qmax > fe->npend ? fk.qmax - fe->npend : 0;
	fk.partial += k < n;
	if (!k) { /* full: the core waits for a completion */
		unlock();
		return 0;
	}
	now = malloc(sizeof(*now) * (size_t)k);
	for (i = 0; now && i < k; i++) {
		bool imm = segs[i].flags & SCIF_SEG_IMM;

		pc = piece_new(fe, &segs[i], segs[0].seq);
		if (!pc)
			break;
		if (pc->held || !(imm ? fk.imm_inline : fk.inline_odd && i % 2))
			continue;
		if ((pc->flags & SCIF_SEG_FENCE) && older_pending(fe, pc))
			continue;
		pc->taken = true;
		now[nnow++] = pc;
		fk.imm_inlined += imm;
	}
	unlock();
	if (i)
		kick();
	/* from inside rma_post: the core must take a completion here */
	for (k = 0; k < nnow; k++)
		piece_finish(fe, now[k]);
	free(now);
	return i ? i : -ENOMEM;
}

/* [ep locked] Complete the released pieces, newest first; a fenced piece
 * only when it is the oldest one pending. */
static void finish_pieces(struct fep *fe)
{
	struct piece **v, *pc;
	int n = 0;

	lock();
	v = malloc(sizeof(*v) * (size_t)(fe->npend + 1));
	for (pc = fe->pend; v && pc; pc = pc->next) {
		if (pc->held || pc->taken || (pc->flags & SCIF_SEG_FENCE))
			continue;
		pc->taken = true;
		v[n++] = pc;
	}
	unlock();
	while (n > 0)
		piece_finish(fe, v[--n]);
	free(v);
	for (;;) {
		lock();
		pc = fe->pend;
		if (pc && (pc->held || pc->taken ||
			   !(pc->flags & SCIF_SEG_FENCE)))
			pc = NULL;
		if (pc)
			pc->taken = true;
		unlock();
		if (!pc)
			break;
		piece_finish(fe, pc);
	}
}

/* [dmu] Connection requests and refusals. */
static void run_cevs(void)
{
	struct scif_conn_req *req;
	struct scif_ep *lep;
	struct cev *e;
	int err, i;

	for (;;) {
		lock();
		e = fk.cevs;
		if (e)
			fk.cevs = e->next;
		for (i = 0, lep = NULL; e && !e->err && i < NLIS; i++)
			if (fk.lis[i].lep && fk.lis[i].port == e->port)
				lep = fk.lis[i].lep;
		unlock();
		if (!e)
			return;
		err = e->err ? e->err : -ECONNREFUSED;
		req = lep && !e->fe->closed ? calloc(1, sizeof(*req)) : NULL;
		if (req) {
			req->peer_node = scif__self_node(fk.lib);
			req->peer_port = e->fe->port;
			req->prov_data = e->fe;
			scif__ep_lock(lep);
			err = scif__ep_conn_request(lep, FK_PROV, req);
			scif__ep_unlock(lep);
			if (err)
				free(req);
		}
		if (err && !e->fe->closed) {
			scif__ep_lock(e->fe->ep);
			scif__ep_conn_done(e->fe->ep, err, 0, 0);
			scif__ep_unlock(e->fe->ep);
		}
		free(e);
	}
}

/* [dmu, dst locked] */
static void deliver(struct fpipe *p, struct fep *dst, struct item *it)
{
	struct scif_wire_hdr h = { .type = it->type,
				   .version = SCIF_WIRE_VERSION,
				   .len = it->len };

	if (it->kind == IT_DATA) {
		lock();
		if (p->rxt)
			p->rxt->next = it;
		else
			p->rxh = it;
		p->rxt = it;
		unlock();
		scif__ep_wake(dst->ep);
		return;
	}
	if (it->kind == IT_GONE) {
		scif__ep_peer_gone(dst->ep, -ECONNRESET);
	} else if (scif__ep_ctrl_recv(dst->ep, &h, it->data)) {
		lock();
		fk.ctrl_err++;
		unlock();
	}
	free(it);
}

/* [dmu] Everything sent, in order, one endpoint lock at a time. */
static void run_pipes(void)
{
	struct fpipe *p;
	struct item *it;
	struct fep *dst;

	lock();
	p = fk.pipes;
	unlock();
	for (; p; p = p->next) {
		for (;;) {
			lock();
			it = p->head;
			dst = p->dst;
			if (it) {
				p->head = it->next;
				if (!p->head)
					p->tail = NULL;
				it->next = NULL;
			}
			unlock();
			if (!it)
				break;
			if (!dst) {
				free(it);
				continue;
			}
			scif__ep_lock(dst->ep);
			deliver(p, dst, it);
			scif__ep_unlock(dst->ep);
		}
	}
}

static void fk_progress(void *arg)
{
	struct fep *fe;
	uint64_t v;
	ssize_t r = read(fk.efd, &v, sizeof(v));

	(void)r;
	pthread_mutex_lock(&fk.dmu);
	run_cevs();
	run_pipes();
	lock();
	fe = fk.eps;
	unlock();
	for (; fe; fe = fe->next) {
		if (fe->closed)
			continue;
		scif__ep_lock(fe->ep);
		finish_pieces(fe);
		scif__ep_unlock(fe->ep);
	}
	pthread_mutex_unlock(&fk.dmu);
}

static int fk_init(struct scif_lib *lib, struct scif_prov **prov)
{
	fk.lib = lib;
	fk.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (fk.efd < 0)
		return -errno;
	fk.src = scif__progress_add(scif__lib_progress(lib), fk.efd,
				    fk_progress, NULL);
	if (fk.src < 0) {
		close(fk.efd);
		return fk.src;
	}
	*prov = FK_PROV;
	return 0;
}

/* The endpoints, pipes and pieces stay reachable from fk until exit. */
static void fk_fini(struct scif_prov *prov)
{
	scif__progress_del(scif__lib_progress(fk.lib), fk.src);
	close(fk.efd);
}

static int fk_listen(struct scif_prov *prov, struct scif_ep *lep,
		     uint16_t port, int backlog, void **lctx)
{
	int i;

	lock();
	for (i = 0; i < NLIS && fk.lis[i].lep; i++)
		;
	if (i < NLIS) {
		fk.lis[i].lep = lep;
		fk.lis[i].port = port;
		*lctx = &fk.lis[i];
	}
	unlock();
	return i < NLIS ? 0 : -ENOSPC;
}

static void fk_unlisten(struct scif_prov *prov, void *lctx)
{
	pthread_mutex_lock(&fk.dmu);
	lock();
	((struct lis *)lctx)->lep = NULL;
	unlock();
	pthread_mutex_unlock(&fk.dmu);
}

static int fk_ep_open(struct scif_prov *prov, struct scif_ep *ep)
{
	struct fep *fe = calloc(1, sizeof(*fe));

	if (!fe)
		return -ENOMEM;
	fe->ep = ep;
	lock();
	fe->caps = fk.caps;
	fe->next = fk.eps;
	fk.eps = fe;
	unlock();
	scif__ep_set_prov_data(ep, fe);
	return 0;
}

/* [mu] */
static void cev_push(struct cev *e)
{
	struct cev **pp;

	for (pp = &fk.cevs; *pp; pp = &(*pp)->next)
		;
	*pp = e;
}

static int fk_ep_connect(struct scif_ep *ep, const struct scif_node *dst,
			 uint16_t port)
{
	struct cev *e = calloc(1, sizeof(*e));
	struct fep *fe = scif__ep_prov_data(ep);

	if (!e)
		return -ENOMEM;
	fe->port = scif__ep_port(ep);
	e->fe = fe;
	e->port = port;
	lock();
	cev_push(e);
	unlock();
	kick(); /* the listener's lock is taken there, not under ours */
	return 0;
}

static void fk_conn_reject(struct scif_prov *prov, struct scif_conn_req *req)
{
	struct cev *e = calloc(1, sizeof(*e));

	if (e) {
		e->fe = req->prov_data;
		e->err = -ECONNREFUSED;
		lock();
		cev_push(e);
		unlock();
		kick();
	}
	free(req);
}

static int fk_ep_accept(struct scif_conn_req *req, struct scif_ep *newep)
{
	struct fep *c = req->prov_data, *a = scif__ep_prov_data(newep);
	uint16_t node = scif__self_node(fk.lib);
	int ret = 0;

	free(req);
	pthread_mutex_lock(&fk.dmu);
	lock();
	a->port = scif__ep_port(newep);
	if (c->closed || !(a->rx = pipe_new(a)) || !(a->tx = pipe_new(c)))
		ret = -ECONNRESET;
	if (!ret) {
		c->tx = a->rx;
		c->rx = a->tx;
	}
	unlock();
	if (!ret) { /* one endpoint lock at a time */
		scif__ep_lock(newep);
		scif__ep_conn_done(newep, 0, node, c->port);
		scif__ep_unlock(newep);
		scif__ep_lock(c->ep);
		scif__ep_conn_done(c->ep, 0, node, a->port);
		scif__ep_unlock(c->ep);
	}
	pthread_mutex_unlock(&fk.dmu);
	return ret;
}

static void fk_ep_close(struct scif_ep *ep)
{
	struct fep *fe = scif__ep_prov_data(ep);
	struct piece *pc;

	if (!fe)
		return;
	pthread_mutex_lock(&fk.dmu);
	lock();
	fe->closed = true;
	while ((pc = fe->pend)) {
		fe->pend = pc->next;
		fk.outstanding--;
		fk.dropped++;
		free(pc);
	}
	fe->npend = 0;
	if (fe->tx) /* behind what we sent: the peer reads it first */
		pipe_push(fe->tx, IT_GONE, 0, NULL, 0);
	if (fe->rx)
		fe->rx->dst = NULL;
	pthread_cond_broadcast(&fk.cv);
	unlock();
	pthread_mutex_unlock(&fk.dmu);
	kick();
}

static ssize_t fk_send(struct scif_ep *ep, const void *buf, size_t len)
{
	struct fep *fe = scif__ep_prov_data(ep);
	int ret;

	if (!fe->tx)
		return -ENOTCONN;
	if (len > 65536)
		len = 65536;
	lock();
	ret = pipe_push(fe->tx, IT_DATA, 0, buf, (uint32_t)len);
	unlock();
	kick();
	return ret ? ret : (ssize_t)len;
}

static ssize_t fk_recv(struct scif_ep *ep, void *buf, size_t len)
{
	struct fep *fe = scif__ep_prov_data(ep);
	struct fpipe *p = fe->rx;
	size_t done = 0, n;
	struct item *it;

	lock();
	while (p && done < len && (it = p->rxh)) {
		n = it->len - p->rxoff;
		if (n > len - done)
			n = len - done;
		memcpy((char *)buf + done, it->data + p->rxoff, n);
		done += n;
		p->rxoff += n;
		if (p->rxoff < it->len)
			break;
		p->rxh = it->next;
		if (!p->rxh)
			p->rxt = NULL;
		p->rxoff = 0;
		free(it);
	}
	unlock();
	return (ssize_t)done;
}

static int fk_recv_ready(struct scif_ep *ep)
{
	struct fep *fe = scif__ep_prov_data(ep);
	int r;

	lock();
	r = fe->rx && fe->rx->rxh;
	unlock();
	return r;
}

static int fk_send_ready(struct scif_ep *ep)
{
	return 1;
}

static int fk_ctrl_send(struct scif_ep *ep, uint8_t type, const void *payload,
			uint32_t len)
{
	struct fep *fe = scif__ep_prov_data(ep);
	int ret;

	lock();
	if (type < SCIF_WIRE_CTRL_FIRST || type >= SCIF_WIRE_NTYPES ||
	    len > SCIF_WIRE_CTRL_MAX) {
		fk.bad++;
		ret = -EINVAL;
	} else {
		ret = fe->tx ? pipe_push(fe->tx, IT_CTRL, type, payload, len) :
			       -ENOTCONN;
	}
	unlock();
	kick();
	return ret;
}

static void fk_query(struct scif_ep *ep, struct scif_prov_attr *attr)
{
	struct fep *fe = scif__ep_prov_data(ep);

	attr->max_piece = MAX_PIECE;
	attr->align = 1;
	attr->caps = fe->caps;
}

static int fk_mr_reg(struct scif_ep *ep, const struct scif_mem *mem,
		     struct scif_mr *mr)
{
	struct fmr *m;

	if (mem->kind != SCIF_MEM_VA)
		return -EOPNOTSUPP;
	m = malloc(sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->va = mem->va;
	m->len = mem->len;
	lock();
	fk.bad += mr->va != mem->va || mr->len != mem->len;
	fk.mrs++;
	unlock();
	mr->handle = m;
	return 0;
}

static void fk_mr_dereg(struct scif_ep *ep, struct scif_mr *mr)
{
	struct fmr *m = mr->handle;

	lock();
	fk.dereg_busy += range_in_flight(m->va, m->len);
	fk.mrs--;
	fk.deregs++;
	unlock();
	free(m);
	mr->handle = NULL;
}

static int fk_mr_export(struct scif_ep *ep, const struct scif_mr *mr,
			void *blob, size_t cap)
{
	const struct fmr *m = mr->handle;
	struct blob b = { BLOB_MAGIC, (uintptr_t)m->va, m->len };

	if (cap < sizeof(b))
		return -EOVERFLOW;
	memcpy(blob, &b, sizeof(b));
	return sizeof(b);
}

static int fk_rmr_import(struct scif_ep *ep, const void *blob,
			 size_t bloblen, uint64_t len, struct scif_rmr *rmr)
{
	struct blob b;

	if (bloblen != sizeof(b))
		return -EPROTO;
	memcpy(&b, blob, sizeof(b));
	if (b.magic != BLOB_MAGIC || len > b.len)
		return -EPROTO;
	rmr->data[0] = b.va;
	rmr->data[1] = b.len;
	lock();
	fk.rmrs++;
	unlock();
	return 0;
}

static void fk_rmr_release(struct scif_ep *ep, struct scif_rmr *rmr)
{
	lock();
	fk.rmrs--;
	unlock();
}

static const struct scif_provider_ops fake_ops = {
	.size = sizeof(struct scif_provider_ops),
	.name = "fake",
	.init = fk_init,
	.fini = fk_fini,
	.listen = fk_listen,
	.unlisten = fk_unlisten,
	.ep_open = fk_ep_open,
	.ep_connect = fk_ep_connect,
	.ep_accept = fk_ep_accept,
	.conn_reject = fk_conn_reject,
	.ep_close = fk_ep_close,
	.send = fk_send,
	.recv = fk_recv,
	.recv_ready = fk_recv_ready,
	.send_ready = fk_send_ready,
	.ctrl_send = fk_ctrl_send,
	.query = fk_query,
	.mr_reg = fk_mr_reg,
	.mr_dereg = fk_mr_dereg,
	.mr_export = fk_mr_export,
	.rmr_import = fk_rmr_import,
	.rmr_release = fk_rmr_release,
	.rma_post = fk_rma_post,
};

/* Release the held pieces but the first (oldest) keep of them. */
static void fk_release(int keep)
{
	struct piece *pc;
	struct fep *fe;

	lock();
	fk.hold_next = 0;
	for (fe = fk.eps; fe; fe = fe->next)
		for (pc = fe->pend; pc; pc = pc->next)
			if (pc->held && keep-- <= 0)
				pc->held = false;
	unlock();
	kick();
}

static void deadline(struct timespec *ts, int ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

/* Wait (up to ms) until exactly n pieces are outstanding. */
static bool fk_wait_outstanding(long n, int ms)
{
	struct timespec ts;
	bool ok;

	deadline(&ts, ms);
	lock();
	while (fk.outstanding != n &&
	       pthread_cond_timedwait(&fk.cv, &fk.mu, &ts) != ETIMEDOUT)
		;
	ok = fk.outstanding == n;
	unlock();
	return ok;
}

/* The target-side lookup as a provider executing RMA at the target makes
 * it: on the endpoint behind epd, under its lock. */
static int fk_window_get(scif_epd_t epd, uint64_t off, uint64_t len,
			 int prot, const struct scif_mr **mr, uint64_t *mr_off)
{
	struct scif_ep *ep;
	int ret = scif__ep_lookup(epd, &ep);

	if (ret)
		return ret;
	scif__ep_lock(ep);
	ret = scif__ep_window_get(ep, off, len, prot, mr, mr_off);
	scif__ep_unlock(ep);
	scif__ep_put(ep);
	return ret;
}

static void fk_window_put(scif_epd_t epd, const struct scif_mr *mr)
{
	struct scif_ep *ep;

	assert_int_equal(scif__ep_lookup(epd, &ep), 0);
	scif__ep_lock(ep);
	scif__ep_window_put(ep, mr);
	scif__ep_unlock(ep);
	scif__ep_put(ep);
}

/* ---- helpers ---- */

#define WIN (128ul << 10) /* a multiple of any page size */
#define LBASE 0x1000000l  /* A's windows: two of WIN, a read-only one */
#define RBASE 0x2000000l  /* B's, the same */
#define RO_AT (4 * (long)WIN)
#define BIG (65536 + 13)

#define assert_fails(call, e)                                                \
	do {                                                                 \
		errno = 0;                                                   \
		assert_int_equal((call), -1);                                \
		assert_int_equal(errno, (e));                                \
	} while (0)

/* A call run in a thread, so that the test can see whether it returns. */
struct bg {
	pthread_t t;
	int (*fn)(struct bg *b);
	scif_epd_t epd;
	off_t off, roff;
	size_t len;
	int mark, ret, err;
	long outstanding; /* the fake's, when fn returned */
	bool done;
};

static void *bg_main(void *arg)
{
	struct bg *b = arg;
	int ret = b->fn(b), err = errno;

	lock();
	b->ret = ret;
	b->err = err;
	b->outstanding = fk.outstanding;
	b->done = true;
	pthread_cond_broadcast(&fk.cv);
	unlock();
	return NULL;
}

static void bg_start(struct bg *b, int (*fn)(struct bg *b))
{
	b->fn = fn;
	b->done = false;
	assert_int_equal(pthread_create(&b->t, NULL, bg_main, b), 0);
}

/* Whether the call returned within ms (joined if so). */
static bool bg_wait(struct bg *b, int ms)
{
	struct timespec ts;
	bool done;

	deadline(&ts, ms);
	lock();
	while (!b->done &&
	       pthread_cond_timedwait(&fk.cv, &fk.mu, &ts) != ETIMEDOUT)
		;
	done = b->done;
	unlock();
	if (done)
		pthread_join(b->t, NULL);
	return done;
}

static int bg_connect(struct bg *b)
{
	struct scif_portID dst = { .node = 0, .port = (uint16_t)b->off };

	return scif_connect(b->epd, &dst);
}

static int bg_close(struct bg *b)
{
	return scif_close(b->epd);
}

static int bg_unregister(struct bg *b)
{
	return scif_unregister(b->epd, b->off, b->len);
}

static int bg_fence_wait(struct bg *b)
{
	return scif_fence_wait(b->epd, b->mark);
}

static int bg_write_sync(struct bg *b)
{
	return scif_writeto(b->epd, b->off, b->len, b->roff, SCIF_RMA_SYNC);
}

static int bg_write_fence(struct bg *b)
{
	int ret = scif_writeto(b->epd, b->off, b->len, b->roff, 0);

	if (!ret)
		ret = scif_fence_mark(b->epd, SCIF_FENCE_INIT_SELF, &b->mark);
	return ret ? ret : scif_fence_wait(b->epd, b->mark);
}

static void fill(char *p, size_t n, unsigned seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (char)(i * 131 + seed * 17 + (i >> 9));
}

static void check_fill(const char *p, size_t n, unsigned seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] != (char)(i * 131 + seed * 17 + (i >> 9)))
			fail_msg("byte %zu of %zu (seed %u) wrong", i, n, seed);
}

/* Whether *p reads v within ms. */
static bool wait_u64(volatile uint64_t *p, uint64_t v, int ms)
{
	long long end = scif__now_ms() + ms;

	while (__atomic_load_n(p, __ATOMIC_ACQUIRE) != v &&
	       scif__now_ms() < end)
		usleep(1000);
	return __atomic_load_n(p, __ATOMIC_ACQUIRE) == v;
}

/* Everything from sent before this has reached `to` (stream order). */
static void sync_stream(scif_epd_t from, scif_epd_t to)
{
	char c = 's';

	assert_int_equal(scif_send(from, &c, 1, SCIF_SEND_BLOCK), 1);
	assert_int_equal(scif_recv(to, &c, 1, SCIF_RECV_BLOCK), 1);
}

/* A connected pair: a and b, with the windows of LBASE and RBASE. */
struct ctx {
	scif_epd_t lep, a, b;
	char *abuf, *bbuf, *aro, *bro;
};

static struct ctx cx; /* outside the cases' frames: teardown closes it */

static void reg(scif_epd_t epd, char *p, size_t len, off_t off, int prot)
{
	assert_int_equal(scif_register(epd, p, len, off, prot, SCIF_MAP_FIXED),
			 off);
}

static void ctx_regs(struct ctx *c)
{
	const int rw = SCIF_PROT_READ | SCIF_PROT_WRITE;

	c->abuf = aligned_alloc(65536, 2 * WIN);
	c->bbuf = aligned_alloc(65536, 2 * WIN);
	c->aro = aligned_alloc(65536, WIN);
	c->bro = aligned_alloc(65536, WIN);
	assert_true(c->abuf && c->bbuf && c->aro && c->bro);
	memset(c->aro, 0, WIN);
	memset(c->bro, 0, WIN);
	reg(c->a, c->abuf, WIN, LBASE, rw);
	reg(c->a, c->abuf + WIN, WIN, LBASE + WIN, rw);
	reg(c->a, c->aro, WIN, LBASE + RO_AT, SCIF_PROT_READ);
	reg(c->b, c->bbuf, WIN, RBASE, rw);
	reg(c->b, c->bbuf + WIN, WIN, RBASE + WIN, rw);
	reg(c->b, c->bro, WIN, RBASE + RO_AT, SCIF_PROT_READ);
	sync_stream(c->a, c->b);
	sync_stream(c->b, c->a);
}

static void ctx_open(struct ctx *c, unsigned caps)
{
	struct scif_portID peer;
	struct bg b = { 0 };
	int port;

	lock();
	fk.caps = caps;
	fk.qmax = 0;
	fk.hold_next = 0;
	fk.inline_odd = true;
	fk.imm_inline = false;
	fk.fail_at = 0;
	fk.record = false;
	unlock();
	c->lep = scif_open();
	assert_true(c->lep >= 0);
	port = scif_bind(c->lep, 0);
	assert_true(port > 0);
	assert_int_equal(scif_listen(c->lep, 4), 0);
	c->a = scif_open();
	assert_true(c->a >= 0);
	b.epd = c->a;
	b.off = port;
	bg_start(&b, bg_connect);
	assert_int_equal(scif_accept(c->lep, &peer, &c->b, SCIF_ACCEPT_SYNC),
			 0);
	assert_true(bg_wait(&b, 10000));
	assert_true(b.ret > 0);
	ctx_regs(c);
}

static void ctx_free(struct ctx *c)
{
	free(c->abuf);
	free(c->bbuf);
	free(c->aro);
	free(c->bro);
	memset(c, 0, sizeof(*c));
}

/* Close both ends (bounded) and check that the fake saw nothing wrong and
 * that every registration and import was released. */
static void ctx_close(struct ctx *c)
{
	scif_epd_t eps[] = { c->a, c->b, c->lep };
	struct bg b = { 0 };
	size_t i;

	lock();
	fk.fail_at = 0;
	fk.qmax = 0;
	unlock();
	fk_release(0);
	for (i = 0; i < sizeof(eps) / sizeof(eps[0]); i++) {
		b.epd = eps[i];
		bg_start(&b, bg_close);
		assert_true(bg_wait(&b, 10000));
		assert_int_equal(b.ret, 0);
	}
	ctx_free(c);
	assert_int_equal(fk_get(&fk.outstanding), 0);
	assert_int_equal(fk_get(&fk.mrs), 0);
	assert_int_equal(fk_get(&fk.rmrs), 0);
	assert_int_equal(fk_get(&fk.bad), 0);
	assert_int_equal(fk_get(&fk.ctrl_err), 0);
	assert_int_equal(fk_get(&fk.dereg_busy), 0);
	assert_int_equal(fk_get(&fk.imm_early), 0);
}

/* After a failed case: close what it left open; the next starts clean. */
static int teardown(void **state)
{
	if (cx.abuf) {
		fk_release(0);
		scif_close(cx.a);
		scif_close(cx.b);
		scif_close(cx.lep);
		ctx_free(&cx);
	}
	lock();
	fk.bad = fk.imm_early = fk.dereg_busy = fk.ctrl_err = 0;
	unlock();
	return 0;
}

/* ---- cases ---- */

enum { OP_WRITETO, OP_READFROM, OP_VWRITETO, OP_VREADFROM };

/* One SYNC call of len bytes across window edges; every byte checked, and
 * none outside the range touched. */
static void xfer_check(struct ctx *c, int op, size_t len, unsigned seed)
{
	const off_t loff = LBASE + WIN - 20000 + 5, roff = RBASE + WIN - 30007;
	char *l = c->abuf + (loff - LBASE), *r = c->bbuf + (roff - RBASE);
	char *vb = malloc(len + 64), *v = vb + 19;
	char *src = op == OP_WRITETO ? l : op == OP_VWRITETO ? v : r;
	char *dst = op == OP_READFROM ? l : op == OP_VREADFROM ? v : r;
	int ret = -1;

	assert_non_null(vb);
	memset(c->abuf, 0xee, 2 * WIN);
	memset(c->bbuf, 0xee, 2 * WIN);
	memset(vb, 0xee, len + 64);
	fill(src, len, seed);
	if (op == OP_WRITETO)
		ret = scif_writeto(c->a, loff, len, roff, SCIF_RMA_SYNC);
	else if (op == OP_READFROM)
		ret = scif_readfrom(c->a, loff, len, roff, SCIF_RMA_SYNC);
	else if (op == OP_VWRITETO)
		ret = scif_vwriteto(c->a, v, len, roff, SCIF_RMA_SYNC);
	else
		ret = scif_vreadfrom(c->a, v, len, roff, SCIF_RMA_SYNC);
	assert_int_equal(ret, 0);
	/* SYNC: returned only once every piece had completed */
	assert_int_equal(fk_get(&fk.outstanding), 0);
	check_fill(dst, len, seed);
	assert_int_equal((unsigned char)dst[-1], 0xee);
	assert_int_equal((unsigned char)dst[len], 0xee);
	free(vb);
}

/* Catches pieces lost, misplaced or duplicated when requests split at
 * max_piece and window edges, SYNC calls returning before their last piece,
 * bounce data not copied out, partial posts not resumed, and temporary
 * registrations of v-calls leaked. */
static void test_rma_sizes(void **state)
{
	static const size_t sizes[] = { 1, 4095, 4096, 4097, BIG };
	static const unsigned caps[] = { SCIF_PROV_CHEAP_REG, 0 };
	unsigned seed = 1, ci;
	size_t si;
	struct ctx *c = &cx;
	long mrs;
	int op;

	for (ci = 0; ci < 2; ci++) {
		ctx_open(c, caps[ci]);
		lock();
		fk.qmax = ci ? 0 : 5; /* rma_post takes 5 at the most */
		fk.partial = 0;
		unlock();
		mrs = fk_get(&fk.mrs);
		for (op = OP_WRITETO; op <= OP_VREADFROM; op++)
			for (si = 0; si < sizeof(sizes) / sizeof(*sizes); si++)
				xfer_check(c, op, sizes[si], seed++);
		if (!ci)
			assert_true(fk_get(&fk.partial) > 0);
		/* the bounce buffer (registration costs) may stay */
		assert_true(fk_get(&fk.mrs) - mrs == 0 ||
			    (caps[ci] == 0 && fk_get(&fk.mrs) - mrs == 1));
		ctx_close(c);
	}
}

/* Catches a fence_wait that returns when the newest request's last piece
 * completes, or most pieces have: completion order is not request order. */
static void test_fence_wait_out_of_order(void **state)
{
	const off_t r2 = RBASE + WIN + 4096;
	struct bg b = { 0 };
	struct ctx *c = &cx;

	ctx_open(c, SCIF_PROV_CHEAP_REG);
	memset(c->bbuf, 0, 2 * WIN);
	fill(c->abuf, BIG, 3);
	fill(c->abuf + WIN, BIG, 4);
	lock();
	fk.hold_next = 1 << 20;
	unlock();
	assert_int_equal(scif_writeto(c->a, LBASE, BIG, RBASE, 0), 0);
	assert_int_equal(scif_writeto(c->a, LBASE + WIN, BIG, r2, 0), 0);
	assert_int_equal(scif_fence_mark(c->a, SCIF_FENCE_INIT_SELF, &b.mark),
			 0);
	b.epd = c->a;
	bg_start(&b, bg_fence_wait);
	lock();
	fk.record = true;
	fk.first_rend = NULL;
	unlock();
	fk_release(1); /* all but the first piece of the first request */
	assert_true(fk_wait_outstanding(1, 10000));
	/* the last piece of the last request completed first */
	assert_ptr_equal(fk.first_rend, c->bbuf + WIN + 4096 + BIG);
	assert_false(bg_wait(&b, 200));
	fk_release(0);
	assert_true(bg_wait(&b, 10000));
	assert_int_equal(b.ret, 0);
	assert_int_equal(b.outstanding, 0);
	check_fill(c->bbuf, BIG, 3);
	check_fill(c->bbuf + WIN + 4096, BIG, 4);
	ctx_close(c);
}

/* One signal over a held-back write: neither value before the data. */
static void signal_case(struct ctx *c, bool ordered, bool imm_inline,
			unsigned seed)
{
	const off_t lsig = LBASE + 2 * WIN - 8, rsig = RBASE + 2 * WIN - 16;
	volatile uint64_t *ls = (uint64_t *)(c->abuf + 2 * WIN - 8);
	volatile uint64_t *rs = (uint64_t *)(c->bbuf + 2 * WIN - 16);
	const int f = SCIF_FENCE_INIT_SELF | SCIF_SIGNAL_LOCAL |
		      SCIF_SIGNAL_REMOTE;
	struct bg b = { .epd = c->a };
	long imm0;

	*ls = *rs = 0;
	memset(c->bbuf, 0, BIG);
	fill(c->abuf, BIG, seed);
	lock();
	fk.imm_inline = imm_inline;
	fk.hold_next = 1 << 20;
	imm0 = fk.imm_inlined;
	unlock();
	assert_int_equal(scif_writeto(c->a, LBASE, BIG, RBASE, 0), 0);
	assert_int_equal(scif_fence_signal(c->a, lsig, seed, rsig, ~seed, f),
			 0);
	fk_release(1);
	/* ordered: the value is posted at once, fenced behind the data */
	assert_true(fk_wait_outstanding(ordered ? 2 : 1, 10000));
	assert_false(wait_u64(rs, ~seed, 100));
	assert_int_equal(*ls, 0);
	fk_release(0);
	assert_true(wait_u64(ls, seed, 10000));
	assert_true(wait_u64(rs, ~seed, 10000));
	check_fill(c->bbuf, BIG, seed);
	assert_int_equal(fk_get(&fk.imm_early), 0);
	if (imm_inline && !ordered) /* posted by the completion path */
		assert_true(fk_get(&fk.imm_inlined) > imm0);
	assert_true(fk_wait_outstanding(0, 10000));
	/* the signal's own request counts as done: a mark now is no wait */
	assert_int_equal(scif_fence_mark(c->a, SCIF_FENCE_INIT_SELF, &b.mark),
			 0);
	bg_start(&b, bg_fence_wait);
	assert_true(bg_wait(&b, 10000));
	assert_int_equal(b.ret, 0);
	/* nothing in flight: the value goes at once */
	assert_int_equal(scif_fence_signal(c->a, 0, 0, rsig, seed + 7,
					   SCIF_FENCE_INIT_SELF |
						   SCIF_SIGNAL_REMOTE),
			 0);
	assert_true(wait_u64(rs, seed + 7, 10000));
}

/* Catches a remote fence value landing before the data it covers (posted
 * before the marked requests completed, or unfenced on an ordered
 * provider), a local value stored early, and a signal the completion path
 * posts whose completion from inside rma_post is lost (re-entry). */
static void test_fence_signal(void **state)
{
	struct ctx *c = &cx;
	int o, i;

	for (o = 0; o < 2; o++) {
		ctx_open(c, SCIF_PROV_CHEAP_REG |
				     (o ? SCIF_PROV_ORDERED_RMA : 0));
		for (i = 0; i < 2; i++)
			signal_case(c, o, i, 10 + 2 * o + i);
		ctx_close(c);
	}
}

/* Catches a failed piece that leaves a SYNC call or a fence waiting for
 * ever, later calls posting on a dead connection, and a close that hangs
 * or leaks registrations after RMA ended. */
static void test_piece_failure(void **state)
{
	struct bg b = { .off = LBASE, .roff = RBASE, .len = BIG };
	struct ctx *c = &cx;
	long posted;
	int v;

	/* the failing piece completes inside rma_post (v 0) or later (1, 2);
	 * the error shows in a SYNC call (0, 1) or the next fence_wait (2) */
	for (v = 0; v < 3; v++) {
		ctx_open(c, SCIF_PROV_CHEAP_REG);
		lock();
		fk.fail_at = fk.posted + (v ? 5 : 4);
		unlock();
		b.epd = c->a;
		bg_start(&b, v == 2 ? bg_write_fence : bg_write_sync);
		assert_true(bg_wait(&b, 10000));
		assert_int_equal(b.ret, -1);
		assert_int_equal(b.err, ECONNRESET);
		posted = fk_get(&fk.posted);
		assert_fails(scif_writeto(c->a, LBASE, 8, RBASE, 0),
			     ECONNRESET);
		assert_int_equal(fk_get(&fk.posted), posted);
		ctx_close(c);
	}
}

/* Unregister a window that held-back pieces use: waits for them. */
static void unregister_inflight(bool peer_side)
{
	struct bg b = { .len = WIN };
	struct ctx *c = &cx;
	long deregs;

	ctx_open(c, SCIF_PROV_CHEAP_REG);
	fill(c->abuf + WIN, BIG, 21);
	lock();
	fk.hold_next = 1 << 20;
	unlock();
	assert_int_equal(scif_writeto(c->a, LBASE + WIN, BIG, RBASE + WIN, 0),
			 0);
	deregs = fk_get(&fk.deregs);
	b.epd = peer_side ? c->b : c->a;
	b.off = peer_side ? RBASE + WIN : LBASE + WIN;
	bg_start(&b, bg_unregister);
	assert_false(bg_wait(&b, 200));
	assert_int_equal(fk_get(&fk.deregs), deregs);
	fk_release(0);
	assert_true(bg_wait(&b, 10000));
	assert_int_equal(b.ret, 0);
	assert_int_equal(fk_get(&fk.deregs), deregs + 1);
	assert_int_equal(fk_get(&fk.dereg_busy), 0);
	check_fill(c->bbuf + WIN, BIG, 21);
	/* gone from both sides' view */
	assert_fails(scif_writeto(c->a, peer_side ? LBASE : LBASE + WIN, 8,
				  peer_side ? RBASE + WIN : RBASE, 0),
		     ENXIO);
	ctx_close(c);
}

/* Catches scif_unregister deregistering a window while our own pieces
 * from it are still in flight. */
static void test_unregister_waits_local(void **state)
{
	unregister_inflight(false);
}

/* Catches scif_unregister deregistering a window while the peer's pieces
 * into it are in flight (WIN_DEL_ACK sent before they completed). */
static void test_unregister_waits_peer(void **state)
{
	unregister_inflight(true);
}

/* Catches range and protection checks made after posting, or not at all:
 * a refused request posts nothing and releases its temporary
 * registration. */
static void test_checks_post_nothing(void **state)
{
	const off_t rend = RBASE + 2 * WIN, lend = LBASE + 2 * WIN;
	const int f = SCIF_FENCE_INIT_SELF | SCIF_SIGNAL_REMOTE;
	char buf[256];
	long posted, mrs;
	struct ctx *c = &cx;

	ctx_open(c, SCIF_PROV_CHEAP_REG);
	posted = fk_get(&fk.posted);
	mrs = fk_get(&fk.mrs);
	assert_fails(scif_writeto(c->a, LBASE, 200, rend - 100, 0), ENXIO);
	assert_fails(scif_readfrom(c->a, lend - 100, 200, RBASE, 0), ENXIO);
	assert_fails(scif_vwriteto(c->a, buf, 200, rend - 100, 0), ENXIO);
	assert_fails(scif_vreadfrom(c->a, buf, 8, rend + 4096, 0), ENXIO);
	assert_fails(scif_writeto(c->a, LBASE, 64, RBASE + RO_AT, 0), EACCES);
	assert_fails(scif_vwriteto(c->a, buf, 64, RBASE + RO_AT, 0), EACCES);
	assert_fails(scif_readfrom(c->a, LBASE + RO_AT, 64, RBASE, 0), EACCES);
	assert_fails(scif_fence_signal(c->a, 0, 0, RBASE + RO_AT, 1, f),
		     EACCES);
	assert_int_equal(fk_get(&fk.posted), posted);
	assert_int_equal(fk_get(&fk.mrs), mrs);
	/* reading a read-only peer window is allowed */
	fill(c->bro, 64, 31);
	assert_int_equal(scif_readfrom(c->a, LBASE, 64, RBASE + RO_AT,
				       SCIF_RMA_SYNC),
			 0);
	check_fill(c->abuf, 64, 31);
	ctx_close(c);
}

static const struct scif_mr *got_mr;
static uint64_t got_off;

/* A lookup on B's endpoint; the result in got_mr, got_off. */
static int wget(uint64_t off, uint64_t len, int prot)
{
	return fk_window_get(cx.b, off, len, prot, &got_mr, &got_off);
}

/* Catches a target-side lookup that returns the wrong registration or
 * offset, accepts ranges across windows or past them, ignores protection,
 * or lets scif_unregister release a window a provider still holds. */
static void test_window_get_put(void **state)
{
	const int rw = SCIF_PROT_READ | SCIF_PROT_WRITE;
	struct bg b = { .off = RBASE + WIN, .len = WIN };
	struct ctx *c = &cx;
	long deregs;

	ctx_open(c, SCIF_PROV_CHEAP_REG);
	assert_int_equal(wget(RBASE + WIN + 100, 50, rw), 0);
	assert_ptr_equal(got_mr->va, c->bbuf + WIN);
	assert_ptr_equal(((struct fmr *)got_mr->handle)->va, c->bbuf + WIN);
	assert_int_equal(got_off, 100);
	fk_window_put(c->b, got_mr);
	assert_int_equal(wget(RBASE + WIN - 10, 20, rw), -ENXIO);
	assert_int_equal(wget(RBASE + 2 * WIN - 10, 20, rw), -ENXIO);
	assert_int_equal(wget(RBASE + 3 * WIN, 8, 0), -ENXIO);
	assert_int_equal(wget(UINT64_MAX - 5, 10, 0), -ENXIO);
	assert_int_equal(wget(RBASE + RO_AT, 8, SCIF_PROT_WRITE), -EACCES);
	assert_int_equal(wget(RBASE + RO_AT + 8, 8, SCIF_PROT_READ), 0);
	assert_ptr_equal(got_mr->va, c->bro);
	assert_int_equal(got_off, 8);
	fk_window_put(c->b, got_mr);
	/* held: scif_unregister waits for the put */
	assert_int_equal(wget(RBASE + WIN, 8, rw), 0);
	deregs = fk_get(&fk.deregs);
	b.epd = c->b;
	bg_start(&b, bg_unregister);
	assert_false(bg_wait(&b, 200));
	assert_int_equal(fk_get(&fk.deregs), deregs);
	fk_window_put(c->b, got_mr);
	assert_true(bg_wait(&b, 10000));
	assert_int_equal(b.ret, 0);
	assert_int_equal(fk_get(&fk.deregs), deregs + 1);
	assert_int_equal(wget(RBASE + WIN, 8, rw), -ENXIO);
	ctx_close(c);
}

int main(void)
{
#define T(fn) cmocka_unit_test_teardown(fn, teardown)
	const struct CMUnitTest tests[] = {
		T(test_rma_sizes),
		T(test_fence_wait_out_of_order),
		T(test_fence_signal),
		T(test_piece_failure),
		T(test_unregister_waits_local),
		T(test_unregister_waits_peer),
		T(test_checks_post_nothing),
		T(test_window_get_put),
	};
#undef T
	char path[] = "/tmp/scif-fake-nodes-XXXXXX";
	pthread_condattr_t ca;
	int fd = mkstemp(path), ret;

	if (fd < 0 || write(fd, "0 127.0.0.1\n", 12) != 12)
		return 1;
	close(fd);
	setenv("SCIF_NODES_FILE", path, 1);
	setenv("SCIF_SELF_NODE", "0", 1);
	setenv("SCIF_PROVIDER", "fake", 1);
	setenv("SCIF_CLOSE_TIMEOUT_MS", "20000", 1);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&fk.cv, &ca);
	/* before the first SCIF call: the library chooses at initialisation */
	if (scif__provider_add(&fake_ops))
		return 1;
	ret = cmocka_run_group_tests(tests, NULL, NULL);
	unlink(path);
	return ret;
}
