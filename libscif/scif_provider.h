/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The provider interface: everything transport-specific sits behind one ops
 * table per provider (verbs today; shared memory, TCP, the MIC x100 DMA
 * engine and gntdev dma-buf windows are meant to fit the same table).
 *
 * The core owns endpoints, their states, ports, blocking, poll readiness and
 * errno; a provider owns its connections, its data path and its windows.
 * Slots a provider leaves NULL fall back to the core's stubs, which fail with
 * EOPNOTSUPP, so a table written for an older core keeps working: the core
 * reads only the first `size` bytes of it.
 *
 * Locking: calls marked [ep locked] are made with ep->lock held and must not
 * block; the others are made without it and may block.  Provider code that
 * runs in the progress thread takes ep->lock (scif__ep_lock) before touching
 * an endpoint and reports with the scif__ep_* upcalls below.
 */
#ifndef SCIF_PROVIDER_H
#define SCIF_PROVIDER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct scif_lib;
struct scif_ep;
struct scif_node;
struct scif_prov; /* a provider instance, private to the provider */
struct scif_conn_req;
struct scif_mr;
struct scif_rma_seg;
struct scif_regcache_stats;

/* A connection request waiting in a listener's backlog. */
struct scif_conn_req {
	struct scif_conn_req *next;
	uint16_t peer_node;
	uint16_t peer_port;
	void *prov_data; /* the provider's handle (verbs: the child cm_id) */
};

struct scif_provider_ops {
	size_t size; /* sizeof the table the provider was compiled against */
	const char *name;
	int priority; /* higher wins when SCIF_PROVIDER is not set */

	/* Instance lifecycle.  init returns -ENODEV when the transport is not
	 * usable here (no device), which makes automatic selection move on. */
	int (*init)(struct scif_lib *lib, struct scif_prov **prov);
	void (*fini)(struct scif_prov *prov);

	/* 0 when the node answers at the transport level within timeout_ms,
	 * -ENODEV (or another -errno) otherwise. */
	int (*node_probe)(struct scif_prov *prov, const struct scif_node *node,
			  int timeout_ms);

	/* Endpoints. ep_bind reserves the port node-wide (-EADDRINUSE if
	 * another process has it). */
	int (*ep_open)(struct scif_prov *prov, struct scif_ep *ep);
	int (*ep_bind)(struct scif_ep *ep, uint16_t port);
	int (*ep_listen)(struct scif_ep *ep, int backlog);
	/* Start a connection; completion is reported with
	 * scif__ep_conn_done().  [ep locked] */
	int (*ep_connect)(struct scif_ep *ep, const struct scif_node *dst,
			  uint16_t port);
	/* Take over req into newep and start accepting; completion through
	 * scif__ep_conn_done(newep).  Called without locks; may block. */
	int (*ep_accept)(struct scif_ep *lep, struct scif_conn_req *req,
			 struct scif_ep *newep);
	void (*conn_reject)(struct scif_ep *lep, struct scif_conn_req *req);
	/* Release everything of the endpoint; after it returns no upcall for
	 * ep is made. */
	void (*ep_close)(struct scif_ep *ep);

	/* Byte stream, non-blocking. [ep locked] send returns the bytes taken
	 * (0: no room now), recv the bytes copied (0: nothing queued). */
	ssize_t (*send)(struct scif_ep *ep, const void *buf, size_t len);
	ssize_t (*recv)(struct scif_ep *ep, void *buf, size_t len);
	/* Readiness. [ep locked] */
	int (*recv_ready)(struct scif_ep *ep);
	int (*send_ready)(struct scif_ep *ep);

	/* Core control messages (wire.h types >= SCIF_WIRE_CTRL_FIRST):
	 * queued in order with the stream, never blocking. [ep locked] */
	int (*ctrl_send)(struct scif_ep *ep, uint8_t type, const void *payload,
			 uint32_t len);

	/* A window: [addr, addr+len) reachable at SCIF offset `offset` by
	 * the peer (mr->rkey) and locally (mr->lkey, addresses are offsets).
	 * prot is SCIF_PROT_*; the device itself refuses other access. */
	int (*win_register)(struct scif_ep *ep, void *addr, size_t len,
			    off_t offset, int prot, struct scif_mr *mr);
	void (*win_unregister)(struct scif_ep *ep, struct scif_mr *mr);
	/* Local registration for the v-ops (addresses are virtual addresses).
	 * flags: SCIF_MR_CACHE (SCIF_RMA_USECACHE behaviour), SCIF_MR_WRITE
	 * (the device writes into it). [ep locked] */
	int (*mr_get)(struct scif_ep *ep, void *addr, size_t len, int flags,
		      struct scif_mr *mr);
	void (*mr_put)(struct scif_ep *ep, struct scif_mr *mr);
	/* Post RMA pieces in order; returns how many were taken (fewer when
	 * the queue is full: wait for scif__ep_rma_done and post the rest).
	 * The piece with `last` set reports its request's seq. [ep locked] */
	int (*rma_post)(struct scif_ep *ep, const struct scif_rma_seg *segs,
			int n);
	/* Largest single transfer the device moves in one piece. */
	uint64_t (*rma_max_piece)(struct scif_ep *ep);
	/* Counters of the SCIF_RMA_USECACHE registration cache (tests,
	 * diagnostics); -EOPNOTSUPP without one. */
	int (*cache_stats)(struct scif_ep *ep, struct scif_regcache_stats *st);

	/* SCIF_PROV_ORDERED_RMA: on one endpoint, a piece posted with `fence`
	 * set becomes visible at the peer only after the data of every piece
	 * posted before it (writes placed in order, reads completed).  Lets a
	 * remote fence signal go right behind the RMAs it covers instead of
	 * after their completion. */
	unsigned caps;
};

enum { SCIF_PROV_ORDERED_RMA = 1 };

/* A registration made by a provider. */
struct scif_mr {
	void *handle;	    /* provider's (verbs: the ibv_mr) */
	void *cache;	    /* the regcache holding cache_entry */
	void *cache_entry;  /* regcache entry when cached */
	uint64_t rkey;	    /* what the peer needs to reach it */
	uint32_t lkey;
};

enum scif_rma_op { SCIF_RMA_OP_WRITE = 1, SCIF_RMA_OP_READ };
enum { SCIF_MR_CACHE = 1, SCIF_MR_WRITE = 2 };

/* One piece of an RMA: local and remote range of one window each. */
struct scif_rma_seg {
	enum scif_rma_op op;
	uint64_t laddr;
	uint32_t lkey;
	uint64_t raddr;
	uint64_t rkey;
	uint64_t len;
	uint64_t seq;	    /* the request this piece belongs to */
	const void *inline_src; /* small write from memory (fence signals) */
	unsigned last : 1;  /* completion of this piece completes seq */
	unsigned fence : 1; /* start only after earlier reads completed */
};

/* Provider registry: built-in providers are listed in lib.c. */
extern const struct scif_provider_ops scif_verbs_ops;

/* Upcalls from providers. */
struct scif_wire_hdr;
/* [ep locked] A core control message arrived (in stream order).  Returns
 * 0, or a negative errno for a message the core cannot take (logged): the
 * provider then ends the connection, since the peers no longer agree. */
int scif__ep_ctrl_recv(struct scif_ep *ep, const struct scif_wire_hdr *h,
		       const void *payload);
/* [ep locked] RMA request seq (and all before it) completed; err < 0 when
 * the transport failed it. */
void scif__ep_rma_done(struct scif_ep *ep, uint64_t seq, int err);
void scif__ep_lock(struct scif_ep *ep);
void scif__ep_unlock(struct scif_ep *ep);
void scif__ep_get(struct scif_ep *ep);
void scif__ep_put(struct scif_ep *ep);
/* [ep locked] Readiness or data changed: wake waiters, update the fd. */
void scif__ep_wake(struct scif_ep *ep);
/* [ep locked] Connect or accept finished; err 0 or -errno. */
void scif__ep_conn_done(struct scif_ep *ep, int err, uint16_t peer_node,
			uint16_t peer_port);
/* [ep locked] The peer went away or the transport failed. */
void scif__ep_peer_gone(struct scif_ep *ep, int err);
/* [lep locked] A connection request arrived.  Returns 0 if queued (the
 * core owns req), -ECONNREFUSED if the backlog is full. */
int scif__ep_conn_request(struct scif_ep *lep, struct scif_conn_req *req);

void *scif__ep_prov_data(struct scif_ep *ep);
void scif__ep_set_prov_data(struct scif_ep *ep, void *data);
uint16_t scif__ep_port(struct scif_ep *ep);
uint16_t scif__self_node(struct scif_lib *lib);
const struct scif_node *scif__self(struct scif_lib *lib);
struct scif_progress *scif__lib_progress(struct scif_lib *lib);

#endif
