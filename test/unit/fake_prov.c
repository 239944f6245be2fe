/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The fake provider of test_provider.c.
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
#include "fake_prov.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define MAX_PIECE 4096
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

struct blob {
	uint64_t magic, va, len;
};

struct fk_state fk = {
	.mu = PTHREAD_MUTEX_INITIALIZER,
	.dmu = PTHREAD_MUTEX_INITIALIZER,
	.efd = -1,
	.src = -1,
	.inline_odd = true,
};

#define FK_PROV ((struct scif_prov *)&fk)

void fk_lock(void)
{
	pthread_mutex_lock(&fk.mu);
}

void fk_unlock(void)
{
	pthread_mutex_unlock(&fk.mu);
}

long fk_get(const long *counter)
{
	long v;

	fk_lock();
	v = *counter;
	fk_unlock();
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
	bool broke = false;

	fk_lock();
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
	if (err && !fe->broken && !fk.fail_soft) {
		/* the connection breaks, at both ends, as a QP's would */
		fe->broken = broke = true;
		if (fe->tx)
			pipe_push(fe->tx, IT_GONE, 0, NULL, 0);
		kick();
	}
	pthread_cond_broadcast(&fk.cv);
	fk_unlock();
	if (broke)
		scif__ep_peer_gone(fe->ep, -ECONNRESET);
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

	fk_lock();
	if (fe->broken) {
		fk_unlock();
		return -ECONNRESET;
	}
	if (fk.qmax && fe->npend + k > fk.qmax)
		k = fk.qmax > fe->npend ? fk.qmax - fe->npend : 0;
	fk.partial += k < n;
	if (!k) { /* full: the core waits for a completion */
		fk_unlock();
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
	fk_unlock();
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

	fk_lock();
	v = malloc(sizeof(*v) * (size_t)(fe->npend + 1));
	for (pc = fe->pend; v && pc; pc = pc->next) {
		if (pc->held || pc->taken || (pc->flags & SCIF_SEG_FENCE))
			continue;
		pc->taken = true;
		v[n++] = pc;
	}
	fk_unlock();
	while (n > 0)
		piece_finish(fe, v[--n]);
	free(v);
	for (;;) {
		fk_lock();
		pc = fe->pend;
		if (pc && (pc->held || pc->taken ||
			   !(pc->flags & SCIF_SEG_FENCE)))
			pc = NULL;
		if (pc)
			pc->taken = true;
		fk_unlock();
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
		fk_lock();
		e = fk.cevs;
		if (e)
			fk.cevs = e->next;
		for (i = 0, lep = NULL; e && !e->err && i < NLIS; i++)
			if (fk.lis[i].lep && fk.lis[i].port == e->port)
				lep = fk.lis[i].lep;
		fk_unlock();
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
	bool quiet;

	if (it->kind == IT_DATA) {
		fk_lock();
		if (p->rxt)
			p->rxt->next = it;
		else
			p->rxh = it;
		p->rxt = it;
		quiet = fk.quiet;
		fk_unlock();
		if (!quiet)
			scif__ep_wake(dst->ep);
		return;
	}
	if (it->kind == IT_GONE) {
		scif__ep_peer_gone(dst->ep, -ECONNRESET);
	} else if (scif__ep_ctrl_recv(dst->ep, &h, it->data)) {
		fk_lock();
		fk.ctrl_err++;
		fk_unlock();
	}
	free(it);
}

/* [dmu] Everything sent, in order, one endpoint lock at a time. */
static void run_pipes(void)
{
	struct fpipe *p;
	struct item *it;
	struct fep *dst;

	fk_lock();
	p = fk.pipes;
	fk_unlock();
	for (; p; p = p->next) {
		for (;;) {
			fk_lock();
			it = p->head;
			dst = p->dst;
			if (it) {
				p->head = it->next;
				if (!p->head)
					p->tail = NULL;
				it->next = NULL;
			}
			fk_unlock();
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
	fk_lock();
	fe = fk.eps;
	fk_unlock();
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

	fk_lock();
	for (i = 0; i < NLIS && fk.lis[i].lep; i++)
		;
	if (i < NLIS) {
		fk.lis[i].lep = lep;
		fk.lis[i].port = port;
		*lctx = &fk.lis[i];
	}
	fk_unlock();
	return i < NLIS ? 0 : -ENOSPC;
}

static void fk_unlisten(struct scif_prov *prov, void *lctx)
{
	pthread_mutex_lock(&fk.dmu);
	fk_lock();
	((struct lis *)lctx)->lep = NULL;
	fk_unlock();
	pthread_mutex_unlock(&fk.dmu);
}

static int fk_ep_open(struct scif_prov *prov, struct scif_ep *ep)
{
	struct fep *fe = calloc(1, sizeof(*fe));

	if (!fe)
		return -ENOMEM;
	fe->ep = ep;
	fk_lock();
	fe->caps = fk.caps;
	fe->next = fk.eps;
	fk.eps = fe;
	fk_unlock();
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
	fk_lock();
	cev_push(e);
	fk_unlock();
	kick(); /* the listener's lock is taken there, not under ours */
	return 0;
}

static void fk_conn_reject(struct scif_prov *prov, struct scif_conn_req *req)
{
	struct cev *e = calloc(1, sizeof(*e));

	if (e) {
		e->fe = req->prov_data;
		e->err = -ECONNREFUSED;
		fk_lock();
		cev_push(e);
		fk_unlock();
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
	fk_lock();
	a->port = scif__ep_port(newep);
	if (c->closed || !(a->rx = pipe_new(a)) || !(a->tx = pipe_new(c)))
		ret = -ECONNRESET;
	if (!ret) {
		c->tx = a->rx;
		c->rx = a->tx;
	}
	fk_unlock();
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
	fk_lock();
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
	fk_unlock();
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
	fk_lock();
	ret = pipe_push(fe->tx, IT_DATA, 0, buf, (uint32_t)len);
	fk_unlock();
	kick();
	return ret ? ret : (ssize_t)len;
}

static ssize_t fk_recv(struct scif_ep *ep, void *buf, size_t len)
{
	struct fep *fe = scif__ep_prov_data(ep);
	struct fpipe *p = fe->rx;
	size_t done = 0, n;
	struct item *it;

	fk_lock();
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
	fk_unlock();
	return (ssize_t)done;
}

static int fk_recv_ready(struct scif_ep *ep)
{
	struct fep *fe = scif__ep_prov_data(ep);
	int r;

	fk_lock();
	r = fe->rx && fe->rx->rxh;
	fk_unlock();
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

	fk_lock();
	if (type < SCIF_WIRE_CTRL_FIRST || type >= SCIF_WIRE_NTYPES ||
	    len > SCIF_WIRE_CTRL_MAX) {
		fk.bad++;
		ret = -EINVAL;
	} else {
		ret = fe->tx ? pipe_push(fe->tx, IT_CTRL, type, payload, len) :
			       -ENOTCONN;
	}
	fk_unlock();
	kick();
	return ret;
}

static void fk_query(struct scif_ep *ep, struct scif_prov_attr *attr)
{
	struct fep *fe = scif__ep_prov_data(ep);

	attr->max_piece = MAX_PIECE;
	attr->align = 1;
	attr->caps = fe->caps;
	fk_lock();
	attr->spin_us = fk.spin_us;
	fk_unlock();
}

/* Nothing to poll (the pipes' upcalls come from the fake's thread):
 * counts the calls. */
static int fk_ep_progress(struct scif_ep *ep)
{
	(void)ep;
	fk_lock();
	fk.progress++;
	fk_unlock();
	return 0;
}

static bool fk_ep_late(struct scif_ep *ep)
{
	bool late;

	(void)ep;
	fk_lock();
	late = fk.late;
	fk_unlock();
	return late;
}

static void fk_ep_park(struct scif_ep *ep)
{
	(void)ep;
	fk_lock();
	fk.parks++;
	fk_unlock();
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
	fk_lock();
	fk.bad += mr->va != mem->va || mr->len != mem->len;
	fk.mrs++;
	fk_unlock();
	mr->handle = m;
	return 0;
}

static void fk_mr_dereg(struct scif_ep *ep, struct scif_mr *mr)
{
	struct fmr *m = mr->handle;

	fk_lock();
	fk.dereg_busy += range_in_flight(m->va, m->len);
	fk.mrs--;
	fk.deregs++;
	fk_unlock();
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
	fk_lock();
	fk.rmrs++;
	fk_unlock();
	return 0;
}

static void fk_rmr_release(struct scif_ep *ep, struct scif_rmr *rmr)
{
	fk_lock();
	fk.rmrs--;
	fk_unlock();
}

const struct scif_provider_ops fake_ops = {
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
	.ep_progress = fk_ep_progress,
	.ep_park = fk_ep_park,
	.ep_late = fk_ep_late,
	.mr_reg = fk_mr_reg,
	.mr_dereg = fk_mr_dereg,
	.mr_export = fk_mr_export,
	.rmr_import = fk_rmr_import,
	.rmr_release = fk_rmr_release,
	.rma_post = fk_rma_post,
};

/* Release the held pieces but the first (oldest) keep of them. */
void fk_release(int keep)
{
	struct piece *pc;
	struct fep *fe;

	fk_lock();
	fk.hold_next = 0;
	for (fe = fk.eps; fe; fe = fe->next)
		for (pc = fe->pend; pc; pc = pc->next)
			if (pc->held && keep-- <= 0)
				pc->held = false;
	fk_unlock();
	kick();
}

void fk_deadline(struct timespec *ts, int ms)
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
bool fk_wait_outstanding(long n, int ms)
{
	struct timespec ts;
	bool ok;

	fk_deadline(&ts, ms);
	fk_lock();
	while (fk.outstanding != n &&
	       pthread_cond_timedwait(&fk.cv, &fk.mu, &ts) != ETIMEDOUT)
		;
	ok = fk.outstanding == n;
	fk_unlock();
	return ok;
}

/* The target-side lookup as a provider executing RMA at the target makes
 * it: on the endpoint behind epd, under its lock. */
int fk_window_get(scif_epd_t epd, uint64_t off, uint64_t len, int prot,
		  const struct scif_mr **mr, uint64_t *mr_off)
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

void fk_window_put(scif_epd_t epd, const struct scif_mr *mr)
{
	struct scif_ep *ep;

	assert_int_equal(scif__ep_lookup(epd, &ep), 0);
	scif__ep_lock(ep);
	scif__ep_window_put(ep, mr);
	scif__ep_unlock(ep);
	scif__ep_put(ep);
}

int fk_raise_late(scif_epd_t epd)
{
	struct scif_ep *ep;
	int ret = scif__ep_lookup(epd, &ep);

	if (ret)
		return ret;
	scif__ep_lock(ep);
	ret = scif__ep_late_due(ep);
	scif__ep_raise_late(ep);
	scif__ep_unlock(ep);
	scif__ep_put(ep);
	return ret;
}
