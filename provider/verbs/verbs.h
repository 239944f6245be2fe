/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The verbs provider: SCIF over RDMA (InfiniBand, RoCE, iWARP-free).
 *
 *  - librdmacm resolves node addresses and carries the connection handshake
 *    (REQ, REP, RTU, DREQ) and nothing else.  SCIF ports belong to
 *    the core, which reserves them node-wide; a listener is an rdma_cm
 *    listener of the TCP port space on its SCIF port, and an outgoing
 *    connection binds its cm_id to the endpoint's own SCIF port, so it never
 *    takes an rdma_cm port a listener may want.
 *  - Every connected endpoint owns one RC QP, one CQ and one completion
 *    channel; the channel's fd is watched by the progress thread.  They and
 *    every registration live on device contexts the provider opens itself
 *    (verbs_dev), never on the one librdmacm caches per device for the
 *    whole process: after a fork() that one belongs to the parent, and the
 *    kernel refuses the child's commands on it.  So rdma_cm never creates
 *    or moves the QP: verbs_ep.c takes it through INIT, RTR and RTS with
 *    the attributes rdma_init_qp_attr gives.
 *  - The byte stream and the core's control messages travel in SEND
 *    messages into pre-posted receive buffers, with two credit pools (data,
 *    control; see verbs_msg.c): each side may have at most as many messages
 *    of a kind unconsumed as the peer granted.  Stream buffers are reposted
 *    when the application has read them (a few at a time), control buffers
 *    when handled, and
 *    the freed credits ride back on the next message (or in a CREDIT
 *    message when half a pool is waiting).  One control credit is kept back
 *    for CREDIT messages so that credits can always be returned.
 *  - Registrations are memory regions at iova = virtual address; the peer
 *    reaches one with the (rkey, address) blob of mr_export.  RMA is RDMA
 *    READ and WRITE (verbs_rma.c).
 *
 * Files: verbs_prov.c (instance, devices, node probe, rdma_cm events),
 * verbs_ep.c (listeners, endpoint and connection lifecycle), verbs_msg.c
 * (messages, progress), verbs_rma.c (registrations, RDMA READ/WRITE).
 */
#ifndef SCIF_VERBS_H
#define SCIF_VERBS_H

#include "../../libscif/scif_provider.h"
#include "../../libscif/log.h"
#include "../../libscif/nodemap.h"
#include "../../libscif/progress.h"
#include "../../libscif/wire.h"

#include <errno.h>
#include <pthread.h>
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

/* The smallest message that carries every core control message. */
#define VERBS_MSG_MIN (SCIF_WIRE_HDR_LEN + SCIF_WIRE_CTRL_MAX)
/* Stream buffers the application has read go back to the receive queue
 * this many at a time at most, a quarter of the data pool at most (one
 * ibv_post_recv for them: verbs_msg.c, repost_flush). */
#define VERBS_REPOST_MAX 8

enum verbs_ctx_kind {
	VERBS_CTX_PORT = 1, /* a listener's id */
	VERBS_CTX_CONN,	    /* a connection's id */
};

struct scif_regcache;

/* A device as we use it: our own context and protection domain on the
 * device behind rdma_cm's context cm_verbs. */
struct verbs_dev {
	struct verbs_dev *next;
	struct ibv_context *cm_verbs; /* rdma_cm's (lookup key only) */
	struct ibv_context *verbs;    /* ours, opened by this process */
	int max_rd_atom;
};

/* A connection's protection domain (verbs_pd.c): counted, since
 * registrations in it may outlive the connection. */
struct verbs_pd {
	struct ibv_pd *pd;
	struct verbs_prov *vp;
	int refs;
	pthread_mutex_t lock;	  /* rc */
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
	int hb_ms, hb_timeout_ms; /* scif__lib_heartbeat */
	size_t regcache_max; /* SCIF_REGCACHE_MAX_MB, in bytes */
};

/* A listener (the lctx of listen/unlisten); its id's context. */
struct verbs_listener {
	enum verbs_ctx_kind kind; /* VERBS_CTX_PORT */
	struct verbs_prov *vp;
	struct scif_ep *lep; /* holds a reference; only for requests */
	struct rdma_cm_id *id;
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

/* A thread that polled a connection (SCIF_SPIN_US) keeps the progress
 * thread off its channel until it has not polled for a while: VERBS_MUTE_MS
 * at first, twice as long after each period it kept polling through, up to
 * VERBS_MUTE_MAX_MS.  Each period ends with a wake-up of the progress
 * thread, which takes a spinner's CPU: at 2 ms, in a 1-vCPU VM, that was
 * about 0.6 wake-ups per 8-byte round trip. */
#define VERBS_MUTE_MS 2
#ifndef VERBS_MUTE_MAX_MS
#define VERBS_MUTE_MAX_MS 32
#endif

struct verbs_conn {
	enum verbs_ctx_kind kind; /* VERBS_CTX_CONN */
	struct verbs_prov *vp;
	struct scif_ep *ep; /* holds a reference */
	struct rdma_cm_id *id;
	struct verbs_dev *dev;
	struct verbs_pd *pd; /* the connection's own: QP, rings, windows */
	struct ibv_qp *qp; /* on dev->verbs; rdma_cm's id->qp stays NULL */
	struct ibv_comp_channel *cc;
	int cc_handle;
	/* the progress thread leaves the channel to a thread that polls the
	 * connection (polls: ep_progress calls since ep_idle; pollgen: all,
	 * tick_seen: mute_tick's last look) or leads it;
	 * mute_timer (armed: mute_armed) gives it back when the polling
	 * stopped, mute_ms after its last look */
	bool muted, leading, mute_armed;
	/* A leader woken by the channel leaves its event unread and the CQ
	 * unarmed until it is about to sleep again (cq_rearm): the answer is
	 * posted first.  notify: the CQ is armed; ev_unread: the channel
	 * holds an event nobody read (both hints: the reads are
	 * non-blocking, a second look finds nothing). */
	bool notify, ev_unread;
	unsigned polls, pollgen, tick_seen, mute_ms;
	int mute_timer;
	/* how the channel was served, logged at debug level when the
	 * connection goes: a spinner's connection that the progress thread
	 * served event by event (cb near the message count) ran at several
	 * times its latency in about one spinning run in a hundred */
	struct {
		unsigned cb, taken, armed, muted, unmuted, led, lead_ev, ticks;
	} st;
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
	uint32_t repost[VERBS_REPOST_MAX]; /* data buffers read, not reposted */
	uint32_t nrepost, repost_batch;	   /* see repost_flush */
	uint32_t returnable;  /* data buffers reposted, not yet announced */
	uint32_t creturnable; /* control buffers likewise */
	struct scif_wire_handler rx_table[SCIF_WIRE_NTYPES];

	/* send buffers */
	char *sbuf;
	struct ibv_mr *smr;
	uint32_t sdepth, ssize;
	uint32_t max_inline; /* bytes a SEND may carry inline */
	uint32_t *sfree;
	uint64_t unacked;   /* stream bytes posted, not yet acknowledged */
	bool delivery_wait; /* a sender waits for unacked to reach 0 */
	uint32_t nsfree;
	bool flushing;	   /* verbs_conn_flush waits for every buffer */
	uint32_t credits;  /* stream messages the peer can take now */
	uint32_t ccredits; /* control messages likewise */
	uint32_t peer_depth, peer_cdepth, peer_msg_size;
	struct verbs_outmsg *out_head, *out_tail;

	/* RMA */
	uint32_t rma_depth, rma_inflight;
	uint64_t max_piece;

	/* heartbeat (verbs_hb.c) */
	long long alive_ms; /* the last tick that found heard set */
	bool heard; /* a successful completion since the last tick */
	long long hb_sent_ms, hb_tick_ms; /* the probe posted, the last tick */
	long long hb_check_ms; /* the second opinion asked */
	int hb_timer;
	int hb_check_fd; /* the silence's second opinion: a TCP connect */
	bool hb_posted; /* the zero-byte probe is in flight */
};

/* An endpoint bound to verbs (its prov_data), from ep_open to ep_close. */
struct verbs_ep {
	struct verbs_prov *vp;
	struct scif_ep *ep;
	struct verbs_conn *conn;
	/* A failed connection detached from the endpoint that the progress
	 * thread destroys after acknowledging its event: ep_close waits for
	 * it, so that its port is free when the core releases it. */
	struct verbs_conn *dying;
};

/* verbs_prov.c */
struct verbs_dev *verbs_dev_get(struct verbs_prov *vp,
				struct ibv_context *verbs);
int verbs_errno(int fallback);

/* verbs_pd.c */
struct verbs_pd *verbs_pd_new(struct verbs_prov *vp, struct verbs_dev *dev);
void verbs_pd_get(struct verbs_pd *pd);
void verbs_pd_put(struct verbs_pd *pd);
/* The domain's SCIF_RMA_USECACHE cache (created on first use if create). */
struct scif_regcache *verbs_pd_regcache(struct verbs_pd *pd, bool create);

/* verbs_ep.c */
int verbs_qp_move(struct verbs_conn *c, enum ibv_qp_state state);
void verbs_cm_event(struct verbs_prov *vp, struct rdma_cm_event *ev);
void verbs_conn_destroy(struct verbs_conn *c);
void verbs_conn_fill_pd(struct verbs_prov *vp, struct verbs_conn_pd *pd,
			uint16_t port);
int verbs_parse_pd(const void *data, uint8_t len, struct verbs_conn_pd *out);
int verbs_listen(struct scif_prov *prov, struct scif_ep *lep, uint16_t port,
		 int backlog, void **lctx);
void verbs_unlisten(struct scif_prov *prov, void *lctx);
int verbs_ep_open(struct scif_prov *prov, struct scif_ep *ep);
int verbs_ep_connect(struct scif_ep *ep, const struct scif_node *dst,
		     uint16_t port);
int verbs_ep_accept(struct scif_conn_req *req, struct scif_ep *newep);
void verbs_conn_reject(struct scif_prov *prov, struct scif_conn_req *req);
void verbs_ep_close(struct scif_ep *ep);

/* verbs_msg.c */
int verbs_conn_setup(struct verbs_conn *c);
/* The receive side's dispatch table (c->rsize set), and the check and
 * dispatch of one received message (see verbs_msg.c). */
void verbs_rx_table_init(struct verbs_conn *c);
int verbs_rx_parse(struct verbs_conn *c, uint32_t idx, uint32_t bytes,
		   uint8_t *type);
void verbs_cq_event(void *arg);
bool verbs_cq_drain(struct verbs_conn *c);
void verbs_conn_flush(struct verbs_conn *c, int timeout_ms);
int verbs_ep_progress(struct scif_ep *ep);
bool verbs_conn_poll(struct verbs_conn *c);
int verbs_ep_idle(struct scif_ep *ep);
void verbs_ep_park(struct scif_ep *ep);
bool verbs_ep_late(struct scif_ep *ep);
int verbs_ep_lead(struct scif_ep *ep);
int verbs_ep_lead_event(struct scif_ep *ep);
void verbs_ep_unlead(struct scif_ep *ep);
ssize_t verbs_send(struct scif_ep *ep, const void *buf, size_t len);
ssize_t verbs_recv(struct scif_ep *ep, void *buf, size_t len);
int verbs_recv_ready(struct scif_ep *ep);
int verbs_send_ready(struct scif_ep *ep);
short verbs_ready(struct scif_ep *ep);
int verbs_send_pending(struct scif_ep *ep);
int verbs_ctrl_send(struct scif_ep *ep, uint8_t type, const void *payload,
		    uint32_t len);

/* verbs_hb.c: the heartbeat, started when the connection is established
 * and stopped before it is destroyed; the errno a failed completion means
 * (ENODEV: transport retries exhausted, the node is silent). */
void verbs_hb_start(struct verbs_conn *c);
void verbs_hb_stop(struct verbs_conn *c);
int verbs_wc_errno(const struct ibv_wc *wc);

/* verbs_rma.c */
void verbs_query(struct scif_ep *ep, struct scif_prov_attr *attr);
int verbs_mr_reg(struct scif_ep *ep, const struct scif_mem *mem,
		 struct scif_mr *mr);
void verbs_mr_dereg(struct scif_ep *ep, struct scif_mr *mr);
int verbs_mr_export(struct scif_ep *ep, const struct scif_mr *mr, void *blob,
		    size_t cap);
int verbs_rmr_import(struct scif_ep *ep, const void *blob, size_t bloblen,
		     uint64_t len, struct scif_rmr *rmr);
void verbs_rmr_release(struct scif_ep *ep, struct scif_rmr *rmr);
int verbs_rma_post(struct scif_ep *ep, const struct scif_rma_seg *segs, int n);
int verbs_cache_stats(struct scif_ep *ep, struct scif_regcache_stats *st);
void verbs_rma_complete(struct verbs_conn *c, struct ibv_wc *wc);

/* Work request ids. */
#define WRID_SEND (1ull << 63)
#define WRID_RMA (1ull << 62)
#define WRID_DATA (1ull << 61) /* a stream SEND: its length in bits 32-55 */
#define WRID_HB (1ull << 60)   /* the heartbeat's zero-byte RDMA WRITE */
/* The largest RMA piece: its completion is the heartbeat's sign of life
 * during a long transfer (within the 3 s timeout from 350 kB/s on: a 16 MiB
 * RDMA READ took longer than that under TCG). */
#define VERBS_MAX_PIECE (1u << 20)
#define WRID_DATA_LEN(id) (((id) >> 32) & 0xffffff)
#define WRID_SEQ_MASK ((1ull << 56) - 1)

#endif
