/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The verbs provider: SCIF over RDMA (InfiniBand, RoCE, iWARP-free).
 *
 *  - librdmacm resolves node addresses and connects; SCIF ports are rdma_cm
 *    ports of the TCP port space, so a port is unique on a node across
 *    processes, and a listener is an rdma_cm listener on its SCIF port.
 *  - Every connected endpoint owns one RC QP, one CQ and one completion
 *    channel; the channel's fd is watched by the progress thread.
 *  - The byte stream and the core's control messages travel in SEND
 *    messages into pre-posted receive buffers, with two credit pools (data,
 *    control; see verbs_msg.c): each side may have at most as many messages
 *    of a kind unconsumed as the peer granted.  Stream buffers are reposted
 *    when the application has read them, control buffers when handled, and
 *    the freed credits ride back on the next message (or in a CREDIT
 *    message when half a pool is waiting).  One control credit is kept back
 *    for CREDIT messages so that credits can always be returned.
 *  - Windows are memory regions at iova = SCIF offset; RMA is RDMA READ and
 *    WRITE (verbs_rma.c).
 *
 * Files: verbs_prov.c (instance, devices, node probe, rdma_cm events),
 * verbs_ep.c (endpoint and connection lifecycle), verbs_msg.c (messages),
 * verbs_rma.c (windows, registrations, RDMA READ/WRITE).
 */
#ifndef SCIF_VERBS_H
#define SCIF_VERBS_H

#include "../../libscif/scif_priv.h"
#include "../../libscif/wire.h"

#include <rdma/rdma_cma.h>
#include <stdbool.h>

#define VERBS_PD_MAGIC 0x46494353u /* "SCIF" */
#define VERBS_PD_VERSION 1

/* What we put in the CM REQ and REP private data (network byte order). */
struct verbs_conn_pd {
	uint32_t magic;
	uint8_t version;
	uint8_t rsvd;
	uint16_t node;
	uint16_t port;
	uint16_t depth;	   /* data credits the sender of this grants */
	uint32_t msg_size; /* bytes per receive buffer, header included */
	uint16_t cdepth;   /* control credits it grants */
	uint16_t rsvd2;
} __attribute__((packed));

enum verbs_ctx_kind {
	VERBS_CTX_PORT = 1, /* the bound / listening id of an endpoint */
	VERBS_CTX_CONN,	    /* a connection's id */
};

struct scif_regcache;

struct verbs_dev {
	struct verbs_dev *next;
	struct ibv_context *verbs;
	struct ibv_pd *pd;
	int max_rd_atom;
	uint64_t max_msg_sz;
	struct scif_regcache *rc; /* SCIF_RMA_USECACHE registrations */
};

struct verbs_prov {
	struct scif_lib *lib;
	struct rdma_event_channel *ch;
	int ch_handle;
	pthread_mutex_t dev_lock;
	struct verbs_dev *devs;
	struct sockaddr_storage self_sa;
	socklen_t self_salen;
	uint32_t depth, msg_size; /* receive ring shape we offer */
	uint32_t cdepth;	  /* control credits we offer */
	uint32_t rma_depth;	  /* RMA work requests in flight per QP */
	int resolve_ms;
};

/* A pending request in a listener's backlog. */
struct verbs_pending {
	struct rdma_cm_id *id;
	uint16_t depth, cdepth;
	uint32_t msg_size;
};

/* A control message waiting for a control credit. */
struct verbs_outmsg {
	struct verbs_outmsg *next;
	uint8_t type;
	uint32_t len;
	char payload[];
};

struct verbs_conn {
	enum verbs_ctx_kind kind;
	struct verbs_prov *vp;
	struct scif_ep *ep; /* holds a reference */
	struct rdma_cm_id *id;
	struct verbs_dev *dev;
	struct ibv_comp_channel *cc;
	int cc_handle;
	struct ibv_cq *cq;
	bool active;	  /* we connected (vs accepted) */
	bool established; /* rdma_cm said ESTABLISHED, not yet disconnected */
	bool dead;	  /* peer gone or QP in error */
	bool closing;
	bool proto_err;	  /* the peer broke the protocol: receive nothing more */
	uint16_t peer_node, peer_port;

	/* receive ring: rdepth + cdepth buffers, shared by both pools */
	char *rbuf;
	struct ibv_mr *rmr;
	uint32_t rdepth, cdepth, nrbuf, rsize;
	uint32_t *rxq; /* indices of buffers holding unread DATA, in order */
	uint32_t *rxlen;
	uint32_t rx_head, rx_count, rx_off;
	uint32_t returnable;  /* data buffers reposted, not yet announced */
	uint32_t creturnable; /* control buffers likewise */

	/* send buffers */
	char *sbuf;
	struct ibv_mr *smr;
	uint32_t sdepth, ssize;
	uint32_t *sfree;
	uint32_t nsfree;
	bool flushing;	   /* verbs_conn_flush waits for every buffer */
	uint32_t credits;  /* stream messages the peer can take now */
	uint32_t ccredits; /* control messages likewise */
	uint32_t peer_depth, peer_cdepth, peer_msg_size;
	struct verbs_outmsg *out_head, *out_tail;

	/* RMA */
	uint32_t rma_depth, rma_inflight;
	uint64_t max_piece;
};

struct verbs_ep {
	enum verbs_ctx_kind kind;
	struct verbs_prov *vp;
	struct scif_ep *ep;
	struct rdma_cm_id *port_id; /* holds the SCIF port; listens on it */
	struct verbs_conn *conn;
};

/* verbs_prov.c */
struct verbs_dev *verbs_dev_get(struct verbs_prov *vp,
				struct ibv_context *verbs);
int verbs_errno(int fallback);

/* verbs_ep.c */
void verbs_cm_event(struct verbs_prov *vp, struct rdma_cm_event *ev);
void verbs_conn_destroy(struct verbs_conn *c);
void verbs_conn_fill_pd(struct verbs_prov *vp, struct verbs_conn_pd *pd,
			uint16_t port);
int verbs_parse_pd(const void *data, uint8_t len, struct verbs_conn_pd *out);

/* verbs_msg.c */
int verbs_conn_setup(struct verbs_conn *c);
void verbs_cq_event(void *arg);
bool verbs_cq_drain(struct verbs_conn *c);
void verbs_conn_flush(struct verbs_conn *c, int timeout_ms);
ssize_t verbs_send(struct scif_ep *ep, const void *buf, size_t len);
ssize_t verbs_recv(struct scif_ep *ep, void *buf, size_t len);
int verbs_recv_ready(struct scif_ep *ep);
int verbs_send_ready(struct scif_ep *ep);
int verbs_ctrl_send(struct scif_ep *ep, uint8_t type, const void *payload,
		    uint32_t len);

/* verbs_rma.c */
int verbs_win_register(struct scif_ep *ep, void *addr, size_t len,
		       off_t offset, int prot, struct scif_mr *mr);
void verbs_win_unregister(struct scif_ep *ep, struct scif_mr *mr);
int verbs_mr_get(struct scif_ep *ep, void *addr, size_t len, int flags,
		 struct scif_mr *mr);
void verbs_mr_put(struct scif_ep *ep, struct scif_mr *mr);
int verbs_rma_post(struct scif_ep *ep, const struct scif_rma_seg *segs, int n);
uint64_t verbs_rma_max_piece(struct scif_ep *ep);
int verbs_cache_stats(struct scif_ep *ep, struct scif_regcache_stats *st);
void verbs_rma_complete(struct verbs_conn *c, struct ibv_wc *wc);

/* Work request ids. */
#define WRID_SEND (1ull << 63)
#define WRID_RMA (1ull << 62)
#define WRID_LAST (1ull << 61)
#define WRID_SEQ_MASK ((1ull << 56) - 1)

#endif
