/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * verbs_lat: the verbs provider's queues without the library.  An rdma_cm
 * RC ping-pong whose QP, CQ and receive buffers have the provider's shape
 * (one CQ for both directions, the same depths, buffer stride and inline
 * limit, signaled inline sends of a 12-byte header plus the payload),
 * busy-polling like ib_send_lat.  Between ib_send_lat and scif_lat --spin
 * it tells what the queue configuration costs from what the library's own
 * code on the message path costs (docs/progress.md, "Where the time goes").
 *
 *   server: verbs_lat [-p PORT] [-b ADDR]
 *   client: verbs_lat [-p PORT] [-i ITERS] [-s SIZE] [-w] [-S] SERVER_ADDR
 *
 * -w waits for each send's completion before looking for the answer, as
 * scif_send's delivery wait does; -S gives sends and receives a CQ each (as
 * perftest does).  The depths follow SCIF_VERBS_DEPTH, SCIF_VERBS_CTRL_DEPTH,
 * SCIF_VERBS_MSG_SIZE and SCIF_VERBS_RMA_DEPTH with the provider's defaults.
 * The client prints scif_lat's row: #bytes #iterations t_min t_max
 * t_typical (median) t_avg, one-way = round trip / 2, in microseconds.
 */
#include "perf_util.h"

#include <infiniband/verbs.h>
#include <netdb.h>
#include <rdma/rdma_cma.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HDR_LEN 12 /* SCIF_WIRE_HDR_LEN: what a scif message adds */
#define SEND_ID UINT64_MAX

struct vl {
	struct rdma_cm_id *id;
	struct ibv_pd *pd;
	struct ibv_cq *scq, *rcq;
	struct ibv_mr *mr;
	char *rbuf, sbuf[256];
	uint32_t nrbuf, stride, len;
	int sends, recvs; /* sends not completed, receives not consumed */
};

static uint32_t env_u32(const char *name, uint32_t def)
{
	const char *s = getenv(name);
	long long v = s ? perf_parse_num(s) : -1;

	return v > 0 && v <= UINT32_MAX ? (uint32_t)v : def;
}

static void post_recv(struct vl *v, uint32_t i)
{
	struct ibv_sge sge = { .addr = (uintptr_t)(v->rbuf + (size_t)i * v->stride),
			       .length = v->stride,
			       .lkey = v->mr->lkey };
	struct ibv_recv_wr wr = { .wr_id = i, .sg_list = &sge, .num_sge = 1 };
	struct ibv_recv_wr *bad;

	if (ibv_post_recv(v->id->qp, &wr, &bad))
		perf_fail("ibv_post_recv failed");
}

static void post_send(struct vl *v)
{
	struct ibv_sge sge = { .addr = (uintptr_t)v->sbuf, .length = v->len };
	struct ibv_send_wr wr = { .wr_id = SEND_ID,
				  .sg_list = &sge,
				  .num_sge = 1,
				  .opcode = IBV_WR_SEND,
				  .send_flags = IBV_SEND_SIGNALED |
						IBV_SEND_INLINE };
	struct ibv_send_wr *bad;

	if (ibv_post_send(v->id->qp, &wr, &bad))
		perf_fail("ibv_post_send failed");
	v->sends++;
}

static void cq_poll(struct vl *v, struct ibv_cq *cq)
{
	struct ibv_wc wc[8];
	int n = ibv_poll_cq(cq, 8, wc), i;

	if (n < 0)
		perf_fail("ibv_poll_cq failed");
	for (i = 0; i < n; i++) {
		if (wc[i].status != IBV_WC_SUCCESS)
			perf_fail("completion error: %s",
				  ibv_wc_status_str(wc[i].status));
		if (wc[i].wr_id == SEND_ID) {
			v->sends--;
		} else {
			post_recv(v, (uint32_t)wc[i].wr_id);
			v->recvs++;
		}
	}
}

static void wait_recv(struct vl *v)
{
	while (!v->recvs) {
		cq_poll(v, v->rcq);
		/* a CQ of its own: reap sends before the queue fills */
		if (v->scq != v->rcq && v->sends > 4)
			cq_poll(v, v->scq);
	}
	v->recvs--;
}

static void wait_send(struct vl *v)
{
	while (v->sends)
		cq_poll(v, v->scq);
}

/* The next event, which must be want: a client's other outcomes (no
 * listener yet: REJECTED) read "unable to connect", which bench_node.sh
 * retries. */
static struct rdma_cm_event *cm_expect(struct rdma_event_channel *ec,
				       enum rdma_cm_event_type want)
{
	struct rdma_cm_event *ev;

	if (rdma_get_cm_event(ec, &ev))
		perf_die("rdma_get_cm_event");
	if (ev->event != want)
		perf_fail("unable to connect: rdma_cm %s (expected %s)",
			  rdma_event_str(ev->event), rdma_event_str(want));
	return ev;
}

/* The provider's queue shape (verbs_msg.c, conn_setup) on id's device. */
static void setup_queues(struct vl *v, int separate_cq)
{
	uint32_t depth = env_u32("SCIF_VERBS_DEPTH", 16);
	uint32_t cdepth = env_u32("SCIF_VERBS_CTRL_DEPTH", 8);
	uint32_t rma = env_u32("SCIF_VERBS_RMA_DEPTH", 128), i;
	struct ibv_qp_init_attr qa = { .qp_type = IBV_QPT_RC };
	struct ibv_context *ctx = v->id->verbs;

	v->stride = env_u32("SCIF_VERBS_MSG_SIZE", 32768);
	v->nrbuf = depth + cdepth;
	v->pd = ibv_alloc_pd(ctx);
	if (!v->pd)
		perf_die("ibv_alloc_pd");
	v->scq = ibv_create_cq(ctx, (int)(2 * v->nrbuf + rma + 1), NULL, NULL,
			       0);
	v->rcq = separate_cq ? ibv_create_cq(ctx, (int)v->nrbuf + 1, NULL,
					     NULL, 0) :
			       v->scq;
	if (!v->scq || !v->rcq)
		perf_die("ibv_create_cq");
	qa.send_cq = v->scq;
	qa.recv_cq = v->rcq;
	qa.cap.max_send_wr = v->nrbuf + rma + 1;
	qa.cap.max_recv_wr = v->nrbuf;
	qa.cap.max_send_sge = qa.cap.max_recv_sge = 1;
	qa.cap.max_inline_data = 64;
	if (rdma_create_qp(v->id, v->pd, &qa))
		perf_die("rdma_create_qp");
	v->rbuf = perf_alloc((size_t)v->nrbuf * v->stride);
	v->mr = ibv_reg_mr(v->pd, v->rbuf, (size_t)v->nrbuf * v->stride,
			   IBV_ACCESS_LOCAL_WRITE);
	if (!v->mr)
		perf_die("ibv_reg_mr");
	for (i = 0; i < v->nrbuf; i++)
		post_recv(v, i);
}

static void connect_or_accept(struct vl *v, struct rdma_event_channel *ec,
			      const char *addr, const char *port, int server,
			      int sep)
{
	struct addrinfo hints = { .ai_family = AF_INET }, *ai;
	struct rdma_conn_param cp = { .retry_count = 7, .rnr_retry_count = 7 };
	struct rdma_cm_id *lid;
	struct rdma_cm_event *ev;
	struct ibv_device_attr da;
	int ret;

	ret = getaddrinfo(addr, port, &hints, &ai);
	if (ret)
		perf_fail("%s: %s", addr, gai_strerror(ret));
	if (rdma_create_id(ec, &lid, NULL, RDMA_PS_TCP))
		perf_die("rdma_create_id");
	if (server) {
		if (rdma_bind_addr(lid, ai->ai_addr) || rdma_listen(lid, 1))
			perf_die("rdma_listen");
		fprintf(stderr, "verbs_lat: waiting for a client on port %s\n",
			port);
		ev = cm_expect(ec, RDMA_CM_EVENT_CONNECT_REQUEST);
		v->id = ev->id;
		rdma_ack_cm_event(ev);
	} else {
		v->id = lid;
		if (rdma_resolve_addr(lid, NULL, ai->ai_addr, 2000))
			perf_die("rdma_resolve_addr");
		rdma_ack_cm_event(cm_expect(ec, RDMA_CM_EVENT_ADDR_RESOLVED));
		if (rdma_resolve_route(lid, 2000))
			perf_die("rdma_resolve_route");
		rdma_ack_cm_event(cm_expect(ec, RDMA_CM_EVENT_ROUTE_RESOLVED));
	}
	freeaddrinfo(ai);
	setup_queues(v, sep);
	if (!ibv_query_device(v->id->verbs, &da))
		cp.responder_resources = cp.initiator_depth =
			(uint8_t)(da.max_qp_rd_atom < 255 ? da.max_qp_rd_atom :
							    255);
	if (v->id == lid ? rdma_connect(v->id, &cp) : rdma_accept(v->id, &cp))
		perf_die("rdma_connect/accept");
	rdma_ack_cm_event(cm_expect(ec, RDMA_CM_EVENT_ESTABLISHED));
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void report(uint64_t *t, long n, long size, double cycles_per_us)
{
	double sum = 0;
	long i;

	for (i = 0; i < n; i++)
		sum += (double)t[i];
	qsort(t, (size_t)n, sizeof(*t), cmp_u64);
	printf(" #bytes #iterations    t_min[usec]    t_max[usec]  t_typical[usec]    t_avg[usec]\n");
	printf(" %-7ld %-11ld %-14.2f %-12.2f %-16.2f %-.2f\n", size, n,
	       t[0] / cycles_per_us / 2, t[n - 1] / cycles_per_us / 2,
	       t[n / 2] / cycles_per_us / 2, sum / n / cycles_per_us / 2);
}

static void usage(void)
{
	fprintf(stderr, "usage: verbs_lat [-p PORT] [-b ADDR] [-i ITERS] "
			"[-s SIZE] [-w] [-S] [SERVER_ADDR]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *port = "18600", *bind = "0.0.0.0", *addr;
	long iters = 1000, size = 8, i;
	int wait = 0, sep = 0, c, server;
	struct vl v = { 0 };
	struct rdma_event_channel *ec;
	uint64_t *t, c0;
	double t0;

	perf_prog = "verbs_lat";
	while ((c = getopt(argc, argv, "p:b:i:s:wS")) != -1) {
		switch (c) {
		case 'p': port = optarg; break;
		case 'b': bind = optarg; break;
		case 'i': iters = (long)perf_parse_num(optarg); break;
		case 's': size = (long)perf_parse_size(optarg); break;
		case 'w': wait = 1; break;
		case 'S': sep = 1; break;
		default: usage();
		}
	}
	if (iters < 1 || size < 0 || size > 64 - HDR_LEN || argc - optind > 1)
		usage(); /* sizes that go inline, as a short scif message */
	if (!perf_cycles_have())
		perf_fail("no cycle counter on this CPU");
	server = optind == argc;
	addr = server ? bind : argv[optind];
	v.len = (uint32_t)(HDR_LEN + size);
	ec = rdma_create_event_channel();
	if (!ec)
		perf_die("rdma_create_event_channel");
	connect_or_accept(&v, ec, addr, port, server, sep);
	t = calloc((size_t)iters + 1, sizeof(*t));
	if (!t)
		perf_die("calloc");
	t0 = perf_now();
	c0 = perf_cycles();
	for (i = 0; i < iters; i++) {
		t[i] = perf_cycles();
		if (server)
			wait_recv(&v);
		post_send(&v);
		if (wait)
			wait_send(&v);
		if (!server)
			wait_recv(&v);
	}
	t[iters] = perf_cycles();
	if (!server) {
		double rate = (double)(t[iters] - c0) / ((perf_now() - t0) * 1e6);

		for (i = 0; i < iters; i++)
			t[i] = t[i + 1] - t[i];
		report(t, iters, size, rate);
	}
	wait_send(&v);
	rdma_disconnect(v.id);
	free(t);
	return 0;
}
