/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * t_isolate: a window is reachable only through the connection it was
 * registered on (verbs: a protection domain per connection).
 *
 *   t_isolate server PORT
 *   t_isolate client NODE PORT
 *
 * The server accepts a victim connection V and registers a window on it
 * (64 KiB of a pattern).  The client is V's peer, so it learns the window's
 * remote key and address (from the library's own import of the window: a
 * leaked key).  Then, as a hostile peer, it opens connections of its own to
 * the server's SCIF port with raw rdma_cm + verbs (its own QP, speaking the
 * SCIF connection handshake so the server accepts them) and posts an RDMA
 * WRITE and an RDMA READ with the leaked key on them.  Both must fail with a
 * remote access error; the window's bytes must be unchanged (read back
 * through V, and checked by the server in its own memory); the READ must
 * have brought nothing; and V keeps working (messages both ways).
 */
#include "tc.h"
#include "scif_priv.h"
#include "../../provider/verbs/verbs.h"

const char *scif__ep_provider_name(scif_epd_t epd);

#include <arpa/inet.h>
#include <poll.h>
#include <pthread.h>
#include <rdma/rdma_cma.h>

#define WIN (64 * 1024)
#define SEED 7

/* ---- server ---- */

/* The hostile connections are accepted like any SCIF connection, in the
 * background: one may already be dead (its QP in error after the refused
 * RDMA) when its accept completes, and that accept then fails. */
struct acceptor {
	scif_epd_t lep;
	scif_epd_t h[8];
	int n;
	volatile int stop;
};

static void *accept_loop(void *arg)
{
	struct acceptor *a = arg;
	struct scif_portID peer;
	scif_epd_t e;

	while (!a->stop) {
		if (scif_accept(a->lep, &peer, &e, SCIF_ACCEPT_SYNC) == 0) {
			printf("t_isolate server: hostile connection accepted\n");
			if (a->n < 8)
				a->h[a->n++] = e;
			else
				scif_close(e);
		} else if (errno != ECONNRESET && errno != ECONNREFUSED) {
			break; /* the listener is closed */
		}
	}
	return NULL;
}

static int server(uint16_t port)
{
	struct acceptor a = { .lep = tc_listen(port, 4) };
	struct scif_portID peer;
	scif_epd_t v;
	pthread_t t;
	uint8_t *win, c = 1;
	long bad;
	int i;

	TC_CHECK(scif_accept(a.lep, &peer, &v, SCIF_ACCEPT_SYNC) == 0,
		 "accept V");
	TC_CHECK(posix_memalign((void **)&win, 4096, WIN) == 0, "memalign");
	tc_fill(win, WIN, SEED, 0);
	TC_CHECK(scif_register(v, win, WIN, 0, SCIF_PROT_READ | SCIF_PROT_WRITE,
			       SCIF_MAP_FIXED) == 0,
		 "register");
	TC_CHECK(!pthread_create(&t, NULL, accept_loop, &a), "thread");
	tc_send_all(v, &c, 1); /* the window is announced before this */
	tc_recv_all(v, &c, 1); /* the attacks are over */
	bad = tc_verify(win, WIN, SEED, 0);
	TC_CHECK(bad < 0, "window byte %ld changed by a foreign connection",
		 bad);
	c = 2;
	tc_send_all(v, &c, 1);
	tc_recv_all(v, &c, 1);
	TC_CHECK(scif_unregister(v, 0, WIN) == 0, "unregister");
	a.stop = 1;
	scif_close(a.lep); /* ends the accept loop */
	pthread_join(t, NULL);
	for (i = 0; i < a.n; i++)
		scif_close(a.h[i]);
	scif_close(v);
	free(win);
	printf("t_isolate server: window intact\n");
	return 0;
}

/* ---- the hostile peer: raw rdma_cm and verbs ---- */

struct raw {
	struct rdma_event_channel *ch;
	struct rdma_cm_id *id;
	struct ibv_pd *pd;
	struct ibv_cq *cq;
	struct ibv_mr *mr;
	uint8_t *buf;
};

static void cm_expect(struct raw *r, enum rdma_cm_event_type want)
{
	struct pollfd pfd = { .fd = r->ch->fd, .events = POLLIN };
	struct rdma_cm_event *ev;

	TC_CHECK(poll(&pfd, 1, 30000) == 1, "no %s in 30 s",
		 rdma_event_str(want));
	TC_CHECK(!rdma_get_cm_event(r->ch, &ev), "rdma_get_cm_event");
	TC_CHECK(ev->event == want, "cm event %s, want %s",
		 rdma_event_str(ev->event), rdma_event_str(want));
	rdma_ack_cm_event(ev);
}

/* The server's address, from the node map (node NODE). */
static void node_addr(uint16_t node, struct sockaddr_in *sa)
{
	const char *f = getenv("SCIF_NODES_FILE");
	char line[256], addr[128];
	unsigned id;
	FILE *fp;

	TC_CHECK(f && (fp = fopen(f, "r")), "node map %s", f ? f : "(unset)");
	memset(sa, 0, sizeof(*sa));
	while (fgets(line, sizeof(line), fp))
		if (sscanf(line, "%u %127s", &id, addr) == 2 && id == node &&
		    inet_pton(AF_INET, addr, &sa->sin_addr) == 1)
			sa->sin_family = AF_INET;
	fclose(fp);
	TC_CHECK(sa->sin_family == AF_INET, "node %u in the node map", node);
}

static void raw_connect(struct raw *r, uint16_t node, uint16_t port)
{
	struct verbs_conn_pd pd = { 0 };
	struct rdma_conn_param cp = { 0 };
	struct ibv_qp_init_attr qa = { 0 };
	struct sockaddr_in sa;

	node_addr(node, &sa);
	sa.sin_port = htons(port);
	TC_CHECK((r->ch = rdma_create_event_channel()), "event channel");
	TC_CHECK(!rdma_create_id(r->ch, &r->id, NULL, RDMA_PS_TCP), "id");
	TC_CHECK(!rdma_resolve_addr(r->id, NULL, (struct sockaddr *)&sa, 5000),
		 "resolve_addr");
	cm_expect(r, RDMA_CM_EVENT_ADDR_RESOLVED);
	TC_CHECK(!rdma_resolve_route(r->id, 5000), "resolve_route");
	cm_expect(r, RDMA_CM_EVENT_ROUTE_RESOLVED);
	TC_CHECK((r->pd = ibv_alloc_pd(r->id->verbs)), "alloc_pd");
	TC_CHECK((r->cq = ibv_create_cq(r->id->verbs, 8, NULL, NULL, 0)), "cq");
	TC_CHECK(!posix_memalign((void **)&r->buf, 4096, 4096), "memalign");
	memset(r->buf, 0xee, 4096);
	TC_CHECK((r->mr = ibv_reg_mr(r->pd, r->buf, 4096,
				     IBV_ACCESS_LOCAL_WRITE)),
		 "reg_mr");
	qa.send_cq = qa.recv_cq = r->cq;
	qa.qp_type = IBV_QPT_RC;
	qa.cap.max_send_wr = qa.cap.max_recv_wr = 4;
	qa.cap.max_send_sge = qa.cap.max_recv_sge = 1;
	TC_CHECK(!rdma_create_qp(r->id, r->pd, &qa), "create_qp");
	/* the SCIF connection handshake, as the verbs provider speaks it */
	pd.magic = htonl(VERBS_PD_MAGIC);
	pd.version = VERBS_PD_VERSION;
	pd.node = htons(1000);
	pd.port = htons(port + 1);
	pd.depth = htons(4);
	pd.msg_size = htonl(4096);
	pd.cdepth = htons(4);
	cp.private_data = &pd;
	cp.private_data_len = sizeof(pd);
	cp.responder_resources = cp.initiator_depth = 1;
	cp.retry_count = 3;
	TC_CHECK(!rdma_connect(r->id, &cp), "rdma_connect");
	cm_expect(r, RDMA_CM_EVENT_ESTABLISHED);
}

/* Post one RDMA op with the leaked key; the completion's status. */
static enum ibv_wc_status raw_rdma(struct raw *r, enum ibv_wr_opcode op,
				   uint32_t rkey, uint64_t addr)
{
	struct ibv_sge sge = { .addr = (uintptr_t)r->buf, .length = 4096,
			       .lkey = r->mr->lkey };
	struct ibv_send_wr wr = { .wr_id = 1, .sg_list = &sge, .num_sge = 1,
				  .opcode = op,
				  .send_flags = IBV_SEND_SIGNALED };
	struct ibv_send_wr *badwr;
	struct ibv_wc wc;
	double end = tc_now() + 60;
	int n;

	wr.wr.rdma.rkey = rkey;
	wr.wr.rdma.remote_addr = addr;
	TC_CHECK(!ibv_post_send(r->id->qp, &wr, &badwr), "post_send");
	while ((n = ibv_poll_cq(r->cq, 1, &wc)) == 0 && tc_now() < end)
		usleep(1000);
	TC_CHECK(n == 1, "no completion for the hostile RDMA");
	return wc.status;
}

static void raw_close(struct raw *r)
{
	rdma_disconnect(r->id);
	rdma_destroy_qp(r->id);
	ibv_dereg_mr(r->mr);
	ibv_destroy_cq(r->cq);
	ibv_dealloc_pd(r->pd);
	rdma_destroy_id(r->id);
	rdma_destroy_event_channel(r->ch);
	free(r->buf);
}

/* The remote key and address V's library imported for the window. */
static void leaked_key(scif_epd_t v, uint32_t *rkey, uint64_t *addr)
{
	struct scif_rwindow *rw;
	struct scif_ep *ep;

	TC_CHECK(!scif__ep_lookup(v, &ep), "lookup V");
	scif__ep_lock(ep);
	rw = scif__rwindow_find(ep, 0, 1);
	TC_CHECK(rw && rw->offset == 0, "V's window");
	*rkey = (uint32_t)rw->rmr.data[0];
	*addr = rw->rmr.data[1];
	scif__ep_unlock(ep);
	scif__ep_put(ep);
}

static int client(uint16_t node, uint16_t port)
{
	scif_epd_t v = tc_connect(node, port, 60);
	enum ibv_wc_status st;
	struct raw w, rd;
	uint32_t rkey;
	uint64_t addr;
	uint8_t c, *back;
	long bad;
	off_t lo;

	TC_CHECK(!strcmp(scif__ep_provider_name(v), "verbs"),
		 "V is not over verbs");
	tc_recv_all(v, &c, 1);
	leaked_key(v, &rkey, &addr);

	printf("t_isolate client: key leaked, attacking\n");
	raw_connect(&w, node, port);
	st = raw_rdma(&w, IBV_WR_RDMA_WRITE, rkey, addr);
	TC_CHECK(st == IBV_WC_REM_ACCESS_ERR,
		 "RDMA WRITE with another connection's key: %s",
		 ibv_wc_status_str(st));
	raw_connect(&rd, node, port);
	memset(rd.buf, 0, 4096);
	st = raw_rdma(&rd, IBV_WR_RDMA_READ, rkey, addr);
	TC_CHECK(st == IBV_WC_REM_ACCESS_ERR,
		 "RDMA READ with another connection's key: %s",
		 ibv_wc_status_str(st));
	for (bad = 0; bad < 4096; bad++)
		TC_CHECK(rd.buf[bad] == 0, "the refused READ brought data");
	printf("t_isolate client: WRITE and READ refused: %s\n",
	       ibv_wc_status_str(st));

	/* V works, and the window is as the server wrote it */
	printf("t_isolate client: reading the window back through V\n");
	TC_CHECK(posix_memalign((void **)&back, 4096, WIN) == 0, "memalign");
	memset(back, 0, WIN);
	lo = scif_register(v, back, WIN, 0, SCIF_PROT_READ | SCIF_PROT_WRITE, 0);
	TC_CHECK(lo >= 0, "register");
	TC_CHECK(scif_readfrom(v, lo, WIN, 0, SCIF_RMA_SYNC) == 0, "readfrom");
	bad = tc_verify(back, WIN, SEED, 0);
	TC_CHECK(bad < 0, "window byte %ld read back through V wrong", bad);
	printf("t_isolate client: window intact through V\n");
	tc_send_all(v, &c, 1);
	tc_recv_all(v, &c, 1);
	TC_CHECK(c == 2, "V's message");
	TC_CHECK(scif_unregister(v, lo, WIN) == 0, "unregister");
	tc_send_all(v, &c, 1);
	raw_close(&w);
	raw_close(&rd);
	scif_close(v);
	free(back);
	printf("t_isolate client: the victim connection works\n");
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0); /* the steps show even if killed */
	alarm(240);
	if (argc == 3 && !strcmp(argv[1], "server"))
		return server((uint16_t)atoi(argv[2]));
	if (argc == 4 && !strcmp(argv[1], "client"))
		return client((uint16_t)atoi(argv[2]), (uint16_t)atoi(argv[3]));
	fprintf(stderr, "usage: t_isolate server PORT | client NODE PORT\n");
	return 2;
}
