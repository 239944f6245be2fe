/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Verbs listeners, endpoints and connections.
 *
 * rdma_cm resolves addresses and carries the handshake (REQ, REP, RTU,
 * DREQ); it never sees our QP, which lives on our own device context (see
 * verbs_dev_get), so each side moves it through its states by hand with
 * the attributes rdma_init_qp_attr gives (verbs_qp_move).  rdma_cm then
 * reports the REP as CONNECT_RESPONSE, not ESTABLISHED.
 *
 * Active side:
 * 1) scif_connect: a new cm_id, bound to our address at the endpoint's own
 *    SCIF port, resolves the node's address (ADDR_RESOLVED), then the route
 *    (ROUTE_RESOLVED);
 * 2) on ROUTE_RESOLVED the QP (ibv_create_qp on our context), CQ and rings
 *    are built, the QP moved to INIT and receives posted, then rdma_connect
 *    sends the QP number and our (node, port, ring shape) in the REQ;
 * 3) CONNECT_RESPONSE carries the acceptor's ring shape in the REP: the QP
 *    goes to INIT again (now with the CM's access flags), RTR and RTS, rdma_establish sends the RTU, credits are set and
 *    the endpoint becomes connected.
 * Passive side:
 * 1) CONNECT_REQUEST on a listener's id: the request is checked and handed
 *    to the core's backlog (scif__ep_conn_request), or rejected (full
 *    backlog, closing listener, garbage);
 * 2) scif_accept: ep_accept on the new endpoint builds the QP and rings for
 *    the child id, moves the QP to INIT (receives posted), RTR and RTS (as
 *    librdmacm's own rdma_accept does: the kernel gives RTS attributes once
 *    the REQ is in), and rdma_accept answers with the QP number;
 * 3) ESTABLISHED (the RTU) completes the accept.
 * Either side: DISCONNECTED (the peer closed, or its process died and the
 * kernel tore its ids down) marks the endpoint disconnected at once.
 *
 * A failed connection's resources are detached under the endpoint lock and
 * destroyed only after the event is acknowledged: rdma_destroy_id waits for
 * the acknowledgement of every event it has delivered.  ep_close waits for
 * that destruction, so the SCIF port the connection's id was bound to is
 * free again when the core releases it.
 */
#include "verbs.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

static void set_port(struct sockaddr_storage *sa, uint16_t port)
{
	if (sa->ss_family == AF_INET)
		((struct sockaddr_in *)sa)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)sa)->sin6_port = htons(port);
}

void verbs_conn_fill_pd(struct verbs_prov *vp, struct verbs_conn_pd *pd,
			uint16_t port)
{
	memset(pd, 0, sizeof(*pd));
	pd->magic = htonl(VERBS_PD_MAGIC);
	pd->version = VERBS_PD_VERSION;
	pd->node = htons(scif__self_node(vp->lib));
	pd->port = htons(port);
	pd->depth = htons((uint16_t)vp->depth);
	pd->msg_size = htonl(vp->msg_size);
	pd->cdepth = htons((uint16_t)vp->cdepth);
}

int verbs_parse_pd(const void *data, uint8_t len, struct verbs_conn_pd *out)
{
	struct verbs_conn_pd pd;

	if (!data || len < sizeof(pd))
		return -EPROTO;
	memcpy(&pd, data, sizeof(pd));
	if (ntohl(pd.magic) != VERBS_PD_MAGIC ||
	    pd.version != VERBS_PD_VERSION)
		return -EPROTO;
	out->node = ntohs(pd.node);
	out->port = ntohs(pd.port);
	out->depth = ntohs(pd.depth);
	out->msg_size = ntohl(pd.msg_size);
	out->cdepth = ntohs(pd.cdepth);
	/* the peer's messages must hold every core control message */
	if (out->depth < 2 || out->cdepth < 2 || out->msg_size < VERBS_MSG_MIN)
		return -EPROTO;
	return 0;
}

/*
 * Move c's QP to state with the attributes the kernel's CM computes for
 * c->id (what librdmacm does for a QP it owns: ucma_modify_qp_rtr/_rts).
 * On the passive side the responder resources are ours, as sent in the REP
 * (conn_param), and the initiator depth ours bounded by the requester's
 * responder resources (the kernel's value before our REP).
 */
int verbs_qp_move(struct verbs_conn *c, enum ibv_qp_state state)
{
	struct ibv_qp_attr attr;
	struct ibv_port_attr port;
	int mask, ret;

	/* INIT again first: an active QP went to INIT before the CM had a
	 * connection, with no remote access at all; the CM's INIT attributes
	 * now carry the access flags (remote write, and read when the peer
	 * takes RDMA READs), as librdmacm's ucma_modify_qp_rtr does. */
	if (state == IBV_QPS_RTR) {
		ret = verbs_qp_move(c, IBV_QPS_INIT);
		if (ret)
			return ret;
	}
	memset(&attr, 0, sizeof(attr));
	attr.qp_state = state;
	if (state == IBV_QPS_ERR) {
		mask = IBV_QP_STATE;
	} else if (rdma_init_qp_attr(c->id, &attr, &mask)) {
		ret = verbs_errno(-EIO);
		scif_err("rdma_init_qp_attr (QP state %d): %s", state,
			 strerror(-ret));
		return ret;
	}
	if (state == IBV_QPS_RTR) {
		/* librdmacm's workaround of an rdma_ucm bug: the RoCE bits of
		 * the mask are not for InfiniBand ports */
		if (!ibv_query_port(c->dev->verbs, c->id->port_num, &port) &&
		    port.link_layer == IBV_LINK_LAYER_INFINIBAND)
			mask &= ~0xe00000;
		if (!c->active)
			attr.max_dest_rd_atomic = (uint8_t)c->dev->max_rd_atom;
	}
	if (state == IBV_QPS_RTS && !c->active &&
	    attr.max_rd_atomic > c->dev->max_rd_atom)
		attr.max_rd_atomic = (uint8_t)c->dev->max_rd_atom;
	/* The CM's ack timeout stays (rdma_cm's default for the port, about
	 * 0.5 s on RoCE): a shorter one, set from the heartbeat timeout, made
	 * Soft-RoCE in a loaded TCG VM retransmit whole 1 MiB RDMA WRITEs
	 * (go-back-N) before their ACKs came, for seconds on end, until the
	 * heartbeat took the silence for a lost node.  The heartbeat's timer,
	 * not the adapter's retries, decides (verbs_hb.c). */
	if (state == IBV_QPS_RTS)
		scif_dbg("verbs: ack timeout %u, %u retries", attr.timeout,
			 attr.retry_cnt);
	ret = ibv_modify_qp(c->qp, &attr, mask);
	if (ret) {
		scif_err("ibv_modify_qp to state %d: %s", state, strerror(ret));
		return -ret;
	}
	return 0;
}

/* ---- listeners ---- */

int verbs_listen(struct scif_prov *prov, struct scif_ep *lep, uint16_t port,
		 int backlog, void **lctx)
{
	struct verbs_prov *vp = (struct verbs_prov *)prov;
	struct sockaddr_storage sa = vp->self_sa;
	struct verbs_listener *l = calloc(1, sizeof(*l));
	int ret;

	if (!l)
		return -ENOMEM;
	l->kind = VERBS_CTX_PORT;
	l->vp = vp;
	l->lep = lep;
	if (rdma_create_id(vp->ch, &l->id, l, RDMA_PS_TCP)) {
		ret = verbs_errno(-ENOMEM);
		scif_err("rdma_create_id: %m");
		goto err_free;
	}
	set_port(&sa, port);
	if (rdma_bind_addr(l->id, (struct sockaddr *)&sa)) {
		ret = verbs_errno(-EADDRINUSE);
		/* the core reserved the port: only a user of rdma_cm outside
		 * SCIF can hold it */
		scif_warn("rdma_bind_addr port %u: %m", port);
		goto err_id;
	}
	scif__ep_get(lep); /* requests may arrive from rdma_listen on */
	/* The core enforces the SCIF backlog; the kernel's queue only needs
	 * to be large enough not to drop requests before we see them. */
	if (rdma_listen(l->id, backlog > 128 ? backlog : 128)) {
		ret = verbs_errno(-EINVAL);
		scif_err("rdma_listen: %m");
		rdma_destroy_id(l->id); /* acknowledged requests: none */
		scif__ep_put(lep);
		goto err_free;
	}
	*lctx = l;
	return 0;

err_id:
	rdma_destroy_id(l->id);
err_free:
	free(l);
	return ret;
}

void verbs_unlisten(struct scif_prov *prov, void *lctx)
{
	struct verbs_listener *l = lctx;

	/* Waits until every CONNECT_REQUEST delivered on the id has been
	 * acknowledged (on_connect_request acks after handing it to the
	 * core); the kernel drops those not yet delivered, with their child
	 * ids.  No request reaches the core after this. */
	rdma_destroy_id(l->id);
	scif__ep_put(l->lep);
	free(l);
}

/* ---- endpoints ---- */

int verbs_ep_open(struct scif_prov *prov, struct scif_ep *ep)
{
	struct verbs_ep *ve = calloc(1, sizeof(*ve));

	if (!ve)
		return -ENOMEM;
	ve->vp = (struct verbs_prov *)prov;
	ve->ep = ep;
	scif__ep_set_prov_data(ep, ve);
	return 0;
}

static struct verbs_conn *conn_new(struct verbs_ep *ve)
{
	struct verbs_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->kind = VERBS_CTX_CONN;
	c->vp = ve->vp;
	c->ep = ve->ep;
	c->cc_handle = c->hb_timer = c->mute_timer = c->hb_check_fd = -1;
	scif__ep_get(c->ep);
	return c;
}

/* Give c an id bound to our address at sport (0: any) and start resolving
 * dst.  Returns -EADDRINUSE when sport is taken. */
static int conn_resolve(struct verbs_conn *c, uint16_t sport,
			struct sockaddr_storage *dst)
{
	struct verbs_prov *vp = c->vp;
	struct sockaddr_storage src = vp->self_sa;
	int ret;

	if (rdma_create_id(vp->ch, &c->id, c, RDMA_PS_TCP)) {
		ret = verbs_errno(-ENOMEM);
		scif_err("rdma_create_id: %m");
		return ret;
	}
	set_port(&src, sport);
	if (!rdma_resolve_addr(c->id, (struct sockaddr *)&src,
			       (struct sockaddr *)dst, vp->resolve_ms))
		return 0;
	ret = verbs_errno(-ENODEV);
	if (ret != -EADDRINUSE)
		scif_info("rdma_resolve_addr: %s", strerror(-ret));
	/* a failed resolve delivered no event: nothing to wait for */
	rdma_destroy_id(c->id);
	c->id = NULL;
	return ret == -EADDRINUSE || ret == -ENOMEM ? ret : -ENODEV;
}

int verbs_ep_connect(struct scif_ep *ep, const struct scif_node *dst,
		     uint16_t port)
{
	struct verbs_ep *ve = scif__ep_prov_data(ep);
	uint16_t sport = scif__ep_port(ep);
	struct sockaddr_storage sa;
	struct verbs_conn *c;
	socklen_t salen;
	int ret;

	ret = scif__node_resolve(dst, &sa, &salen);
	if (ret)
		return ret;
	set_port(&sa, port);
	c = conn_new(ve);
	if (!c)
		return -ENOMEM;
	c->active = true;
	/* Bound to our own SCIF port, which the core reserved node-wide, the
	 * connection never takes an rdma_cm port a listener may want. */
	ret = conn_resolve(c, sport, &sa);
	if (ret == -EADDRINUSE) {
		scif_info("rdma_cm port %u is taken outside SCIF: connecting "
			  "to node %u from any port",
			  sport, dst->id);
		ret = conn_resolve(c, 0, &sa);
	}
	if (ret) {
		scif__ep_put(c->ep);
		free(c);
		return ret == -EADDRINUSE ? -ENODEV : ret;
	}
	ve->conn = c;
	return 0;
}

/* What rdma_connect and rdma_accept send: our QP number, our (node, port,
 * ring shape) and the RDMA READ depth (retry_count only matters to the
 * connecting side). */
static void conn_param(struct verbs_conn *c, struct rdma_conn_param *param,
		       struct verbs_conn_pd *pd)
{
	memset(param, 0, sizeof(*param));
	verbs_conn_fill_pd(c->vp, pd, scif__ep_port(c->ep));
	param->private_data = pd;
	param->private_data_len = sizeof(*pd);
	param->responder_resources = (uint8_t)c->dev->max_rd_atom;
	param->initiator_depth = (uint8_t)c->dev->max_rd_atom;
	param->retry_count = 7;
	param->rnr_retry_count = 7;
	param->qp_num = c->qp->qp_num; /* rdma_cm knows no QP of the id */
}

/* Answer the request of c's child id (c's QP is in RTS) with our ring
 * shape. */
static int conn_answer(struct verbs_conn *c)
{
	struct rdma_conn_param param;
	struct verbs_conn_pd pd;
	int ret;

	conn_param(c, &param, &pd);
	if (rdma_accept(c->id, &param)) {
		ret = verbs_errno(-ECONNRESET);
		scif_info("rdma_accept: %m");
		return ret;
	}
	return 0;
}

int verbs_ep_accept(struct scif_conn_req *req, struct scif_ep *newep)
{
	struct verbs_ep *ve = scif__ep_prov_data(newep);
	struct verbs_pending *p = req->prov_data;
	struct verbs_conn *c;
	int ret;

	c = conn_new(ve);
	if (!c) {
		ret = -ENOMEM;
		rdma_reject(p->id, NULL, 0);
		rdma_destroy_id(p->id);
		goto out;
	}
	c->id = p->id;
	c->peer_node = req->peer_node;
	c->peer_port = req->peer_port;
	c->peer_depth = p->depth;
	c->peer_msg_size = p->msg_size;
	c->peer_cdepth = p->cdepth;
	c->credits = p->depth;
	c->ccredits = p->cdepth;
	ret = verbs_conn_setup(c); /* QP in INIT, receives posted */
	if (!ret)
		ret = verbs_qp_move(c, IBV_QPS_RTR);
	if (!ret)
		ret = verbs_qp_move(c, IBV_QPS_RTS);
	if (ret) {
		/* (typically the requester is gone) c owns the id and what
		 * setup created of the QP, CQ and channel: release it all */
		rdma_reject(p->id, NULL, 0);
		verbs_conn_destroy(c);
		goto out;
	}
	scif__ep_lock(newep);
	ve->conn = c;
	__atomic_store_n(&c->id->context, c, __ATOMIC_RELEASE);
	scif__ep_unlock(newep);
	/* on failure the requester is gone: the core closes newep, and c,
	 * which owns the id, goes with it */
	ret = conn_answer(c);
out:
	free(p);
	free(req);
	return ret;
}

void verbs_conn_reject(struct scif_prov *prov, struct scif_conn_req *req)
{
	struct verbs_pending *p = req->prov_data;

	rdma_reject(p->id, NULL, 0);
	rdma_destroy_id(p->id);
	free(p);
	free(req);
}

void verbs_conn_destroy(struct verbs_conn *c)
{
	struct scif_progress *pg = scif__lib_progress(c->vp->lib);

	verbs_hb_stop(c); /* its tick takes the endpoint's lock: not held */
	if (c->cq)
		scif_dbg("connection with %u:%u: channel events %u (progress "
			 "thread %u, leaders %u), CQ armed %u, muted %u, "
			 "unmuted %u, led %u, mute ticks %u",
			 c->peer_node, c->peer_port, c->st.taken, c->st.cb,
			 c->st.lead_ev, c->st.armed, c->st.muted,
			 c->st.unmuted, c->st.led, c->st.ticks);
	if (c->established) {
		/* what rdma_disconnect does to a QP of its own */
		verbs_qp_move(c, IBV_QPS_ERR);
		rdma_disconnect(c->id); /* the peer hears of it now */
	}
	scif__progress_del(pg, c->cc_handle);
	scif__progress_del(pg, c->mute_timer);
	if (c->qp)
		ibv_destroy_qp(c->qp);
	if (c->cq)
		ibv_destroy_cq(c->cq);
	if (c->cc)
		ibv_destroy_comp_channel(c->cc);
	if (c->rmr)
		ibv_dereg_mr(c->rmr);
	if (c->smr)
		ibv_dereg_mr(c->smr);
	verbs_pd_put(c->pd); /* the windows' registrations may hold it */
	if (c->id)
		rdma_destroy_id(c->id);
	free(c->rbuf);
	free(c->sbuf);
	free(c->rxq);
	free(c->rxlen);
	free(c->sfree);
	while (c->out_head) {
		struct verbs_outmsg *m = c->out_head;

		c->out_head = m->next;
		free(m);
	}
	scif__ep_put(c->ep);
	free(c);
}

/* Safe in any state: never opened, connecting, failed, connected, gone. */
void verbs_ep_close(struct scif_ep *ep)
{
	struct verbs_ep *ve = scif__ep_prov_data(ep);
	struct verbs_conn *c;

	if (!ve)
		return;
	scif__ep_lock(ep);
	/* Only an established connection is never freed by the progress
	 * thread, so only it can be waited on here. */
	if (ve->conn && ve->conn->established)
		verbs_conn_flush(ve->conn,
				 scif__lib_close_timeout_ms(ve->vp->lib));
	c = ve->conn;
	ve->conn = NULL;
	if (c)
		c->closing = true;
	/* a failed connection the progress thread is destroying (conn_bury) */
	while (ve->dying)
		scif__ep_wait(ep, -1);
	scif__ep_set_prov_data(ep, NULL);
	scif__ep_unlock(ep);
	if (c)
		verbs_conn_destroy(c);
	free(ve);
}

/* ---- rdma_cm events (progress thread) ---- */

static void on_connect_request(struct verbs_prov *vp, struct rdma_cm_event *ev)
{
	struct verbs_listener *l = ev->listen_id->context;
	struct rdma_cm_id *id = ev->id;
	struct verbs_pending *p = NULL;
	struct scif_conn_req *req = NULL;
	struct verbs_conn_pd pd;
	int ret = -ECONNREFUSED;

	if (!l || l->kind != VERBS_CTX_PORT)
		goto refuse;
	if (verbs_parse_pd(ev->param.conn.private_data,
			   ev->param.conn.private_data_len, &pd)) {
		scif_warn("connection request without a valid SCIF header "
			  "refused");
		goto refuse;
	}
	p = calloc(1, sizeof(*p));
	req = calloc(1, sizeof(*req));
	if (!p || !req)
		goto refuse;
	p->id = id;
	p->depth = pd.depth;
	p->cdepth = pd.cdepth;
	p->msg_size = pd.msg_size;
	req->peer_node = pd.node;
	req->peer_port = pd.port;
	req->prov_data = p;
	/* rdma_cm gave the child id the listener's context; the listener may
	 * be freed while the request waits, so the child carries none until
	 * accept stores its connection (events meanwhile are ignored). */
	id->context = NULL;
	scif__ep_lock(l->lep);
	ret = scif__ep_conn_request(l->lep, (struct scif_prov *)vp, req);
	scif__ep_unlock(l->lep);
	if (!ret) {
		rdma_ack_cm_event(ev);
		return;
	}
	scif_info("connection request from %u:%u refused (backlog full or "
		  "not listening)",
		  pd.node, pd.port);
refuse:
	free(p);
	free(req);
	rdma_reject(id, NULL, 0);
	rdma_ack_cm_event(ev);
	rdma_destroy_id(id);
}

static int event_errno(enum rdma_cm_event_type type)
{
	switch (type) {
	case RDMA_CM_EVENT_REJECTED:
	case RDMA_CM_EVENT_CONNECT_ERROR:
		return -ECONNREFUSED;
	case RDMA_CM_EVENT_DISCONNECTED:
		return -ECONNRESET;
	default: /* address, route, unreachable, device removal */
		return -ENODEV;
	}
}

/* [ep locked] Detach a failed connection; the caller destroys it once the
 * event is acknowledged (conn_bury). */
static struct verbs_conn *conn_fail(struct verbs_conn *c, int err)
{
	struct verbs_ep *ve = scif__ep_prov_data(c->ep);
	struct verbs_conn *dead = NULL;

	if (ve && ve->conn == c) {
		ve->conn = NULL;
		ve->dying = c;
		c->closing = true;
		dead = c;
	}
	scif__ep_conn_done(c->ep, err, 0, 0);
	return dead;
}

/* Destroy a failed connection whose event is acknowledged, then let a
 * waiting ep_close go on.  The caller holds a reference to c->ep. */
static void conn_bury(struct verbs_conn *c)
{
	struct scif_ep *ep = c->ep;
	struct verbs_ep *ve;

	verbs_conn_destroy(c);
	scif__ep_lock(ep);
	ve = scif__ep_prov_data(ep); /* ep_close waits for dying: ours */
	ve->dying = NULL;
	scif__ep_wake(ep);
	scif__ep_unlock(ep);
}

/* [ep locked] Returns a connection to destroy after the ack, if any. */
static struct verbs_conn *on_established(struct verbs_conn *c,
					 struct rdma_cm_event *ev)
{
	struct verbs_conn_pd pd;

	c->established = true;
	if (c->active) {
		if (c->dead) /* broke the protocol before we got here */
			return conn_fail(c, -ECONNRESET);
		if (verbs_parse_pd(ev->param.conn.private_data,
				   ev->param.conn.private_data_len, &pd)) {
			scif_err("acceptor sent no valid SCIF header");
			c->dead = true;
			return conn_fail(c, -ECONNREFUSED);
		}
		c->peer_node = pd.node;
		c->peer_port = pd.port;
		c->peer_depth = pd.depth;
		c->peer_msg_size = pd.msg_size;
		c->peer_cdepth = pd.cdepth;
		c->credits = pd.depth;
		c->ccredits = pd.cdepth;
	}
	scif__ep_conn_done(c->ep, 0, c->peer_node, c->peer_port);
	verbs_hb_start(c);
	return NULL;
}

/* [ep locked] The REP: the QP goes to RTR and RTS and the RTU is sent
 * (what librdmacm does itself for an id with a QP, and then reports as
 * ESTABLISHED).  Returns a connection to destroy after the ack, if any. */
static struct verbs_conn *on_connect_response(struct verbs_conn *c,
					      struct rdma_cm_event *ev)
{
	int ret;

	if (!c->active)
		return NULL;
	ret = verbs_qp_move(c, IBV_QPS_RTR);
	if (!ret)
		ret = verbs_qp_move(c, IBV_QPS_RTS);
	if (!ret && rdma_establish(c->id)) {
		ret = verbs_errno(-ECONNREFUSED);
		scif_err("rdma_establish: %m");
	}
	if (ret) {
		/* destroying the id rejects the REP */
		verbs_qp_move(c, IBV_QPS_ERR);
		c->dead = true;
		return conn_fail(c, -ECONNREFUSED);
	}
	return on_established(c, ev);
}

static int on_route_resolved(struct verbs_conn *c)
{
	struct rdma_conn_param param;
	struct verbs_conn_pd pd;
	int ret;

	ret = verbs_conn_setup(c);
	if (ret)
		return ret;
	conn_param(c, &param, &pd);
	scif_dbg("port %u connects from rdma_cm port %u to %u",
		 scif__ep_port(c->ep), ntohs(rdma_get_src_port(c->id)),
		 ntohs(rdma_get_dst_port(c->id)));
	if (rdma_connect(c->id, &param)) {
		ret = verbs_errno(-ECONNREFUSED);
		scif_err("rdma_connect: %m");
		return ret;
	}
	return 0;
}

void verbs_cm_event(struct verbs_prov *vp, struct rdma_cm_event *ev)
{
	struct verbs_conn *c, *dead = NULL;
	enum rdma_cm_event_type type = ev->event;
	struct scif_ep *ep;
	int ret;

	/* a child's context is stored by verbs_ep_accept in another thread */
	c = __atomic_load_n(&ev->id->context, __ATOMIC_ACQUIRE);
	scif_dbg("cm event %s status %d", rdma_event_str(type), ev->status);
	if (type == RDMA_CM_EVENT_CONNECT_REQUEST) {
		on_connect_request(vp, ev);
		return;
	}
	/* Children still in a backlog carry no context (see
	 * on_connect_request); accept handles those requesters' failures.
	 * Listener ids (VERBS_CTX_PORT) get no other events we act on. */
	if (!c || c->kind != VERBS_CTX_CONN) {
		rdma_ack_cm_event(ev);
		return;
	}
	/* Everything below runs under the endpoint lock; a connection being
	 * closed is left alone (its owner destroys it after our ack). */
	ep = c->ep;
	scif__ep_lock(ep);
	if (c->closing)
		goto out;
	switch (type) {
	case RDMA_CM_EVENT_ADDR_RESOLVED:
		if (rdma_resolve_route(c->id, c->vp->resolve_ms)) {
			scif_err("rdma_resolve_route: %m");
			dead = conn_fail(c, -ENODEV);
		}
		break;
	case RDMA_CM_EVENT_ROUTE_RESOLVED:
		ret = on_route_resolved(c);
		if (ret)
			dead = conn_fail(c, ret);
		break;
	case RDMA_CM_EVENT_CONNECT_RESPONSE: /* active side */
		dead = on_connect_response(c, ev);
		break;
	case RDMA_CM_EVENT_ESTABLISHED: /* passive side */
		dead = on_established(c, ev);
		break;
	case RDMA_CM_EVENT_DISCONNECTED:
	case RDMA_CM_EVENT_DEVICE_REMOVAL:
		/* Completions that arrived before the hang-up are data the
		 * application must still be able to read. */
		if (c->cq)
			verbs_cq_drain(c);
		c->established = false;
		c->dead = true;
		scif__ep_peer_gone(ep, event_errno(type));
		break;
	case RDMA_CM_EVENT_ADDR_ERROR:
	case RDMA_CM_EVENT_ROUTE_ERROR:
	case RDMA_CM_EVENT_UNREACHABLE:
	case RDMA_CM_EVENT_REJECTED:
	case RDMA_CM_EVENT_CONNECT_ERROR:
		scif_info("connection failed: %s", rdma_event_str(type));
		if (c->active) {
			dead = conn_fail(c, event_errno(type));
		} else {
			c->dead = true;
			scif__ep_peer_gone(ep, event_errno(type));
		}
		break;
	default:
		break;
	}
out:
	/* dead may hold the last reference to ep: keep one until unlocked */
	scif__ep_get(ep);
	scif__ep_unlock(ep);
	rdma_ack_cm_event(ev);
	if (dead)
		conn_bury(dead);
	scif__ep_put(ep);
}
