/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Verbs provider instance: the rdma_cm event channel, the devices (our own
 * contexts and protection domains), node liveness probes and the ops table.
 */
#include "verbs.h"
#include "../../libscif/regcache.h"

#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>

int verbs_errno(int fallback)
{
	return errno ? -errno : fallback;
}

/* Open our own context on the device behind rdma_cm's context cm: the
 * same device, found by name in this process's device list. */
static struct ibv_context *dev_open(struct ibv_context *cm)
{
	const char *name = ibv_get_device_name(cm->device);
	struct ibv_context *ctx = NULL;
	struct ibv_device **list;
	int i, n = 0;

	list = ibv_get_device_list(&n);
	if (!list) {
		scif_err("ibv_get_device_list: %m");
		return NULL;
	}
	for (i = 0; i < n; i++) {
		if (strcmp(ibv_get_device_name(list[i]), name))
			continue;
		ctx = ibv_open_device(list[i]);
		if (!ctx)
			scif_err("ibv_open_device %s: %m", name);
		break;
	}
	if (i == n)
		scif_err("device %s of rdma_cm is not in the device list", name);
	ibv_free_device_list(list);
	return ctx;
}

/*
 * Our device (context, PD, registration cache) for the device of an id
 * whose rdma_cm context is cm.  librdmacm opens one context per device for
 * the whole process and keeps it across fork(): in a child it is the
 * parent's, and the kernel refuses the child's commands on it.  So nothing
 * of ours is created on it; we open the device ourselves, once per instance
 * (a child's instance opens its own).
 */
struct verbs_dev *verbs_dev_get(struct verbs_prov *vp, struct ibv_context *cm)
{
	struct ibv_device_attr attr;
	struct verbs_dev *d;

	pthread_mutex_lock(&vp->dev_lock);
	for (d = vp->devs; d; d = d->next)
		if (d->cm_verbs == cm)
			goto out;
	/* rdma_cm may have reopened the device: same name, same device */
	for (d = vp->devs; d; d = d->next)
		if (!strcmp(ibv_get_device_name(d->verbs->device),
			    ibv_get_device_name(cm->device))) {
			d->cm_verbs = cm;
			goto out;
		}
	d = calloc(1, sizeof(*d));
	if (!d)
		goto out;
	d->cm_verbs = cm;
	d->verbs = dev_open(cm);
	if (!d->verbs)
		goto err_free;
	/* RDMA READs in flight per QP: as many as the device allows (rdma_cm
	 * carries it in 8 bits); high-latency links need a deep read pipe. */
	d->max_rd_atom = 1;
	if (!ibv_query_device(d->verbs, &attr)) {
		int n = attr.max_qp_rd_atom < attr.max_qp_init_rd_atom ?
				attr.max_qp_rd_atom :
				attr.max_qp_init_rd_atom;

		d->max_rd_atom = n < 1 ? 1 : n > 255 ? 255 : n;
	}
	d->next = vp->devs;
	vp->devs = d;
	scif_dbg("verbs: device %s opened",
		 ibv_get_device_name(d->verbs->device));
	goto out;

err_free:
	free(d);
	d = NULL;
out:
	pthread_mutex_unlock(&vp->dev_lock);
	return d;
}

static void verbs_cm_channel_cb(void *arg)
{
	struct verbs_prov *vp = arg;
	struct rdma_cm_event *ev;

	while (!rdma_get_cm_event(vp->ch, &ev))
		verbs_cm_event(vp, ev); /* acks it */
	if (errno != EAGAIN && errno != EWOULDBLOCK)
		scif_err("rdma_get_cm_event: %m");
}

/*
 * Registered memory must survive a fork() of the application (the header's
 * advice; docs/endpoints.md, Fork and exec): before any other verbs call,
 * as rdma-core asks.  Where the kernel keeps pinned pages with the parent
 * by itself (Linux 5.13 and later) this does nothing; elsewhere rdma-core
 * marks each registration MADV_DONTFORK, so a child does not see it.
 * (Listing the devices first registers nothing: it is not too late.)
 * RDMAV_FORK_SAFE in the environment has the same effect.
 */
static void verbs_fork_setup(void)
{
	int ret = ibv_fork_init();

	if (ret)
		scif_warn("verbs: ibv_fork_init: %s: registered memory is not "
			  "fork-safe",
			  strerror(ret));
	else
		scif_dbg("verbs: fork support %s",
			 ibv_is_fork_initialized() == IBV_FORK_UNNEEDED ?
				 "in the kernel" :
				 "by MADV_DONTFORK");
}

static int verbs_init(struct scif_lib *lib, struct scif_prov **out)
{
	struct ibv_device **list;
	struct verbs_prov *vp;
	int ndev = 0, ret;

	list = ibv_get_device_list(&ndev);
	if (list)
		ibv_free_device_list(list);
	if (ndev <= 0)
		return -ENODEV;
	verbs_fork_setup();
	vp = calloc(1, sizeof(*vp));
	if (!vp)
		return -ENOMEM;
	vp->lib = lib;
	pthread_mutex_init(&vp->dev_lock, NULL);
	vp->depth = scif__env_u32("SCIF_VERBS_DEPTH", 16, 4, 4096);
	/* a message holds the largest core control message */
	vp->msg_size = scif__env_u32("SCIF_VERBS_MSG_SIZE", 32768,
				     VERBS_MSG_MIN, 1u << 24);
	vp->cdepth = scif__env_u32("SCIF_VERBS_CTRL_DEPTH", 8, 4, 1024);
	vp->rma_depth = scif__env_u32("SCIF_VERBS_RMA_DEPTH", 128, 4, 4096);
	scif__lib_heartbeat(lib, &vp->hb_ms, &vp->hb_timeout_ms);
	vp->resolve_ms =
		(int)scif__env_u32("SCIF_VERBS_RESOLVE_MS", 2000, 10, 600000);
	vp->regcache_max =
		(size_t)scif__env_u32("SCIF_REGCACHE_MAX_MB", 1024, 0, 1u << 20)
		<< 20;
	ret = scif__node_resolve(scif__self(lib), &vp->self_sa,
				 &vp->self_salen);
	if (ret)
		goto err_free;
	vp->ch = rdma_create_event_channel();
	if (!vp->ch) {
		ret = verbs_errno(-ENODEV);
		scif_err("rdma_create_event_channel: %m");
		goto err_free;
	}
	if (fcntl(vp->ch->fd, F_SETFL,
		  fcntl(vp->ch->fd, F_GETFL) | O_NONBLOCK)) {
		ret = -errno;
		scif_err("fcntl: %m");
		goto err_ch;
	}
	vp->ch_handle = scif__progress_add(scif__lib_progress(lib), vp->ch->fd,
					   verbs_cm_channel_cb, vp);
	if (vp->ch_handle < 0) {
		ret = vp->ch_handle;
		goto err_ch;
	}
	*out = (struct scif_prov *)vp;
	return 0;

err_ch:
	rdma_destroy_event_channel(vp->ch);
err_free:
	pthread_mutex_destroy(&vp->dev_lock);
	free(vp);
	return ret;
}

static void verbs_fini(struct scif_prov *prov)
{
	struct verbs_prov *vp = (struct verbs_prov *)prov;
	struct verbs_dev *d, *n;

	scif__progress_del(scif__lib_progress(vp->lib), vp->ch_handle);
	for (d = vp->devs; d; d = n) {
		n = d->next;
		ibv_close_device(d->verbs);
		free(d);
	}
	rdma_destroy_event_channel(vp->ch);
	pthread_mutex_destroy(&vp->dev_lock);
	free(vp);
}

/* Wait for one event on a private channel, bounded. */
static int probe_wait(struct rdma_event_channel *ch,
		      enum rdma_cm_event_type want, int timeout_ms)
{
	struct pollfd pfd = { .fd = ch->fd, .events = POLLIN };
	struct rdma_cm_event *ev;
	int ok;

	if (poll(&pfd, 1, timeout_ms) <= 0)
		return -ENODEV;
	if (rdma_get_cm_event(ch, &ev))
		return -ENODEV;
	ok = ev->event == want;
	rdma_ack_cm_event(ev);
	return ok ? 0 : -ENODEV;
}

/*
 * A node is online when its address resolves through the RDMA stack
 * (address resolution needs the peer to answer ARP/ND, route resolution a
 * usable RDMA port towards it) and its host answers a TCP connect to that
 * address (scif__node_answers): a neighbour entry outlives a node that
 * died, so resolution alone would call it online for a while.
 */
static int verbs_node_probe(struct scif_prov *prov,
			    const struct scif_node *node, int timeout_ms)
{
	struct verbs_prov *vp = (struct verbs_prov *)prov;
	struct sockaddr_storage dst;
	struct rdma_event_channel *ch;
	struct rdma_cm_id *id;
	socklen_t len;
	int ret;

	ret = scif__node_resolve(node, &dst, &len);
	if (ret)
		return ret;
	ch = rdma_create_event_channel();
	if (!ch)
		return -ENODEV;
	ret = -ENODEV;
	if (rdma_create_id(ch, &id, NULL, RDMA_PS_TCP))
		goto out_ch;
	if (rdma_resolve_addr(id, (struct sockaddr *)&vp->self_sa,
			      (struct sockaddr *)&dst, timeout_ms))
		goto out_id;
	ret = probe_wait(ch, RDMA_CM_EVENT_ADDR_RESOLVED, timeout_ms + 100);
	if (ret)
		goto out_id;
	ret = -ENODEV;
	if (rdma_resolve_route(id, timeout_ms))
		goto out_id;
	ret = probe_wait(ch, RDMA_CM_EVENT_ROUTE_RESOLVED, timeout_ms + 100);
	if (!ret)
		ret = scif__node_answers(node, timeout_ms);
out_id:
	rdma_destroy_id(id);
out_ch:
	rdma_destroy_event_channel(ch);
	scif_dbg("node %u (%s) %s", node->id, node->addr,
		 ret ? "does not answer" : "answers");
	return ret;
}

/*
 * Every node of the map: this instance only exists when a device is there
 * and our own address resolves; whether a node answers is node_probe's.
 */
static bool verbs_reaches(struct scif_prov *prov, const struct scif_node *node)
{
	return true;
}

const struct scif_provider_ops scif_verbs_ops = {
	.size = sizeof(struct scif_provider_ops),
	.name = "verbs",
	.priority = 100,
	.init = verbs_init,
	.fini = verbs_fini,
	.reaches = verbs_reaches,
	.node_probe = verbs_node_probe,
	.listen = verbs_listen,
	.unlisten = verbs_unlisten,
	.ep_open = verbs_ep_open,
	.ep_connect = verbs_ep_connect,
	.ep_accept = verbs_ep_accept,
	.conn_reject = verbs_conn_reject,
	.ep_close = verbs_ep_close,
	.send = verbs_send,
	.recv = verbs_recv,
	.recv_ready = verbs_recv_ready,
	.send_ready = verbs_send_ready,
	.ready = verbs_ready,
	.send_pending = verbs_send_pending,
	.ctrl_send = verbs_ctrl_send,
	.ep_progress = verbs_ep_progress,
	.ep_idle = verbs_ep_idle,
	.ep_park = verbs_ep_park,
	.ep_late = verbs_ep_late,
	.ep_lead = verbs_ep_lead,
	.ep_lead_event = verbs_ep_lead_event,
	.ep_unlead = verbs_ep_unlead,
	.query = verbs_query,
	.mr_reg = verbs_mr_reg,
	.mr_dereg = verbs_mr_dereg,
	.mr_export = verbs_mr_export,
	.rmr_import = verbs_rmr_import,
	.rmr_release = verbs_rmr_release,
	.rma_post = verbs_rma_post,
	.cache_stats = verbs_cache_stats,
};
