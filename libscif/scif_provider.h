/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The provider interface, version 2.
 *
 * Everything transport-specific sits behind one ops table per provider
 * (verbs, shm; later tcp, the MIC x100 DMA engine).  Every provider that
 * initialises is active at once: an endpoint is bound to one provider when
 * it connects (chosen by reachability and priority) or is accepted (the
 * provider the request came in on); a listener listens on all of them.
 *
 * The core owns endpoints, their states, ports (node-wide, across
 * processes and providers), blocking, poll readiness, errno, windows and the
 * SCIF semantics of RMA and fences.  A provider owns connections, the byte
 * stream, registrations and the movement of RMA data.  Slots a provider
 * leaves NULL fall back to the core's stubs (EOPNOTSUPP, or a documented
 * default), so a table written for an older core keeps working: the core
 * reads only the first `size` bytes of it.
 *
 * Locking: slots marked [ep locked] are called with the endpoint's lock held
 * and must not block; the others are called without it and may block.
 * Provider code that runs in the progress thread takes the lock
 * (scif__ep_lock) before touching an endpoint and reports with the upcalls
 * below, which all expect it held.
 */
#ifndef SCIF_PROVIDER_H
#define SCIF_PROVIDER_H

#include "hot.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

struct scif_lib;
struct scif_ep;
struct scif_node;
struct scif_prov; /* a provider instance, private to the provider */
struct scif_progress;
struct scif_regcache_stats;
struct scif_wire_hdr;

/* A connection request waiting in a listener's backlog. */
struct scif_conn_req {
	struct scif_conn_req *next;
	uint16_t peer_node;
	uint16_t peer_port;
	void *prov_data;	   /* the provider's handle (verbs: the child cm_id) */
	const void *prov_inst; /* set by the core: the provider it came on */
};

/* ---- memory ---- */

/* What a registration covers.  VA is ordinary process memory; DMABUF and
 * PAGES are for the layers to come (gntdev, the MIC DMA engine): a provider
 * that cannot register a kind returns -EOPNOTSUPP. */
enum scif_mem_kind {
	SCIF_MEM_VA = 1, /* [va, va+len) */
	SCIF_MEM_DMABUF, /* fd at fd_off, len bytes; va: a CPU mapping or NULL */
	SCIF_MEM_PAGES,	 /* npages page addresses (bus/physical), page size each */
};

struct scif_mem {
	enum scif_mem_kind kind;
	void *va;
	size_t len;
	int fd;
	uint64_t fd_off;
	const uint64_t *pages;
	size_t npages;
};

/* Access a registration grants (SCIF_ACC_*), and how it is made. */
enum {
	SCIF_ACC_LOCAL_READ = 1,   /* the device reads it (source of a write) */
	SCIF_ACC_LOCAL_WRITE = 2,  /* the device writes it (read destination) */
	SCIF_ACC_REMOTE_READ = 4,  /* the peer reads it */
	SCIF_ACC_REMOTE_WRITE = 8, /* the peer writes it */
	SCIF_ACC_CACHE = 16,	   /* may come from / stay in a registration
				    * cache (SCIF_RMA_USECACHE) */
};

/* A registration.  The core fills va/len/access from the descriptor before
 * mr_reg; handle and priv are the provider's. */
struct scif_mr {
	void *va;
	uint64_t len;
	unsigned access;
	void *handle;
	void *priv;
};

/* A region of the peer's, imported from the blob its provider exported.
 * Opaque to the core; data[] holds what the provider needs (a key and a
 * remote address, say), handle anything it allocated. */
struct scif_rmr {
	uint64_t offset; /* where the region starts in the peer's address
			  * space (set by the core before rmr_import) */
	uint64_t len;
	void *handle;
	uint64_t data[4];
};

#define SCIF_BLOB_MAX 192 /* largest window blob (WIN_ADD carries it) */

/* ---- RMA ---- */

enum scif_rma_op { SCIF_RMA_OP_WRITE = 1, SCIF_RMA_OP_READ };

enum {
	/* Write the 8 bytes of `imm` (host byte order) instead of lmr data;
	 * rma_post copies the value before it returns. */
	SCIF_SEG_IMM = 1,
	/* Start only after every piece posted before it on this endpoint
	 * has its data placed (providers with SCIF_PROV_ORDERED_RMA). */
	SCIF_SEG_FENCE = 2,
	/* SCIF_RMA_USECPU was given: a provider with a DMA engine may copy
	 * with the CPU instead. */
	SCIF_SEG_USECPU = 4,
};

/* One piece of an RMA request: a range of one local registration and one
 * range of one peer region.  Ranges are always inside both regions. */
struct scif_rma_seg {
	enum scif_rma_op op;
	unsigned flags; /* SCIF_SEG_* */
	const struct scif_mr *lmr;
	uint64_t loff; /* from lmr->va */
	const struct scif_rmr *rmr;
	uint64_t roff; /* from the start of the peer's region */
	uint64_t len;
	uint64_t seq; /* the request this piece belongs to */
	uint64_t imm;
};

/* The calls ep_kcall carries out, and their arguments (the public
 * call's, as given). */
enum scif_kcall {
	SCIF_KC_REGISTER = 1, /* addr, len, loff (offset), prot, flags;
			       * out_off */
	SCIF_KC_UNREGISTER,   /* loff, len */
	SCIF_KC_READFROM,     /* loff, len, roff, flags */
	SCIF_KC_WRITETO,
	SCIF_KC_VREADFROM,    /* addr, len, roff, flags */
	SCIF_KC_VWRITETO,
	SCIF_KC_FENCE_MARK,   /* flags, markp */
	SCIF_KC_FENCE_WAIT,   /* mark */
	SCIF_KC_FENCE_SIGNAL, /* loff, lval, roff, rval, flags */
};

struct scif_kcall_args {
	void *addr;
	uint64_t len;
	int64_t loff, roff;
	uint64_t lval, rval;
	int prot, flags;
	int mark;
	int *markp;
	int64_t out_off;
};

/* What a provider guarantees and needs, per endpoint (query). */
struct scif_prov_attr {
	uint64_t max_piece; /* largest piece moved in one operation */
	uint32_t align;	    /* pieces other than a request's first and last
			     * start at a multiple of it (1: any) */
	unsigned caps;	    /* SCIF_PROV_* */
	/* Microseconds a thread about to sleep on the endpoint polls it
	 * first when SCIF_SPIN_US is not set: what this transport gains
	 * from it (tcp: an event that comes within a round trip and would
	 * otherwise cost two wake-ups).  0: sleep at once. */
	uint32_t spin_us;
};

enum {
	/* On one endpoint, a piece with SCIF_SEG_FENCE becomes visible at
	 * the peer only after the data of every piece posted before it
	 * (writes placed in order, earlier reads completed).  The core then
	 * posts a remote fence signal right behind the RMAs it covers. */
	SCIF_PROV_ORDERED_RMA = 1,
	/* Registering local memory costs nothing (no pinning): the core moves
	 * small scif_vwriteto/vreadfrom data without a bounce buffer. */
	SCIF_PROV_CHEAP_REG = 2,
};

struct scif_provider_ops {
	size_t size; /* sizeof the table the provider was compiled against */
	const char *name;
	int priority; /* higher wins when SCIF_PROVIDER does not order them */

	/* Instance lifecycle.  init returns -ENODEV when the transport is not
	 * usable here, which leaves the provider out. */
	int (*init)(struct scif_lib *lib, struct scif_prov **prov);
	void (*fini)(struct scif_prov *prov);

	/* Whether this provider can connect to node, from local knowledge
	 * alone (no I/O): shm only to this node, verbs to nodes an RDMA
	 * device reaches.  Default: every node. */
	bool (*reaches)(struct scif_prov *prov, const struct scif_node *node);
	/* 0 when the node answers at the transport level within timeout_ms,
	 * -ENODEV (or another -errno) otherwise.  Default: 0. */
	int (*node_probe)(struct scif_prov *prov, const struct scif_node *node,
			  int timeout_ms);

	/* Listening on a SCIF port the core has reserved for lep.  Requests
	 * are handed to scif__ep_conn_request(lep, prov, req).  [lep locked]
	 * unlisten is called without locks; once it returns no request of
	 * lctx arrives. */
	int (*listen)(struct scif_prov *prov, struct scif_ep *lep,
		      uint16_t port, int backlog, void **lctx);
	void (*unlisten)(struct scif_prov *prov, void *lctx);

	/* Endpoints.  ep_open attaches the provider's state when the endpoint
	 * is bound to this provider: before ep_connect [ep locked], before
	 * ep_accept (not locked: newep is not published yet). */
	int (*ep_open)(struct scif_prov *prov, struct scif_ep *ep);
	/* Start a connection from our port scif__ep_port(ep); completion is
	 * reported with scif__ep_conn_done().  [ep locked] */
	int (*ep_connect)(struct scif_ep *ep, const struct scif_node *dst,
			  uint16_t port);
	/* Take over req into newep (opened on the same provider) and answer
	 * it; completion through scif__ep_conn_done(newep).  Owns req. */
	int (*ep_accept)(struct scif_conn_req *req, struct scif_ep *newep);
	void (*conn_reject)(struct scif_prov *prov, struct scif_conn_req *req);
	/* Release everything of the endpoint; after it returns no upcall for
	 * ep is made.  Also called after a failed connect. */
	void (*ep_close)(struct scif_ep *ep);

	/* Byte stream, non-blocking. [ep locked] send returns the bytes taken
	 * (0: no room now), recv the bytes copied (0: nothing queued). */
	ssize_t (*send)(struct scif_ep *ep, const void *buf, size_t len);
	ssize_t (*recv)(struct scif_ep *ep, void *buf, size_t len);
	/* Readiness. [ep locked] */
	int (*recv_ready)(struct scif_ep *ep);
	int (*send_ready)(struct scif_ep *ep);

	/* Core control messages (wire.h types SCIF_WIRE_CTRL_FIRST up to
	 * SCIF_WIRE_NTYPES, payload up to SCIF_WIRE_CTRL_MAX bytes): delivered
	 * in order with the stream (a window announced before some bytes is
	 * known when they are read), never behind unread stream data, never
	 * blocking: queued when they cannot go now. [ep locked] */
	int (*ctrl_send)(struct scif_ep *ep, uint8_t type, const void *payload,
			 uint32_t len);

	/* Caller-driven progress: poll this endpoint's transport, make the
	 * upcalls, return > 0 if anything happened.  Called by a thread about
	 * to sleep on the endpoint (spinning, SCIF_SPIN_US).  [ep locked] */
	int (*ep_progress)(struct scif_ep *ep);

	/* Attributes of RMA on this (connected) endpoint. [ep locked] */
	void (*query)(struct scif_ep *ep, struct scif_prov_attr *attr);

	/* Registrations.  mr_reg is called without the endpoint lock (pinning
	 * takes a while); mr_dereg with or without it, and must not take it.
	 * mr_dereg and rmr_release may come after ep_close: registrations
	 * outlive the connection.  Every successful mr_reg gets exactly one
	 * mr_dereg, whatever the provider put in handle.
	 * Windows get REMOTE_* access, v-op memory and bounce buffers LOCAL_*
	 * only.  Errors: -ENOMEM, -EFAULT (memory not accessible),
	 * -EOPNOTSUPP (kind), -ECONNRESET (connection gone). */
	int (*mr_reg)(struct scif_ep *ep, const struct scif_mem *mem,
		      struct scif_mr *mr);
	void (*mr_dereg)(struct scif_ep *ep, struct scif_mr *mr);
	/* The blob that lets the peer's provider reach mr (at most
	 * SCIF_BLOB_MAX bytes; returns its length).  [ep locked] */
	int (*mr_export)(struct scif_ep *ep, const struct scif_mr *mr,
			 void *blob, size_t cap);
	/* Import a peer's blob for a region of len bytes; -EPROTO for a blob
	 * this provider does not accept.  [ep locked] */
	int (*rmr_import)(struct scif_ep *ep, const void *blob, size_t bloblen,
			  uint64_t len, struct scif_rmr *rmr);
	void (*rmr_release)(struct scif_ep *ep, struct scif_rmr *rmr);

	/* Post RMA pieces in order; returns how many were taken (fewer when
	 * the queue is full: the core waits for a completion and posts the
	 * rest), or -errno if none.  segs and the registrations they point to
	 * are valid during the call only: copy what completion needs.  Every piece taken completes exactly once
	 * with scif__ep_rma_piece_done(), in any order, possibly from inside
	 * rma_post itself.  The core posts one request at a time per endpoint;
	 * a provider that copies with the CPU may release the endpoint lock
	 * while it moves the data of a piece without SCIF_SEG_IMM (and takes
	 * it back before returning).  [ep locked] */
	int (*rma_post)(struct scif_ep *ep, const struct scif_rma_seg *segs,
			int n);
	/* Counters of the SCIF_RMA_USECACHE registration cache (tests,
	 * diagnostics); -EOPNOTSUPP without one. [ep locked] */
	int (*cache_stats)(struct scif_ep *ep, struct scif_regcache_stats *st);

	/* The thread that polled with ep_progress stops polling (it returns,
	 * or sleeps), or a blocked caller is about to sleep: a provider that
	 * muted its wake-ups while polled (a doorbell costs a system call per
	 * message) re-arms them and looks once more, one whose event needs
	 * asking for asks (tcp: a delivery acknowledgement); > 0 if something
	 * happened.  [ep locked] */
	int (*ep_idle)(struct scif_ep *ep);

	/* Stream bytes that send took but the peer does not hold yet (verbs:
	 * SENDs not yet acknowledged by the peer's adapter); 0 when a taken
	 * byte is at the peer at once (shm).  The core makes scif_send return
	 * only when its bytes are at the peer, as on MPSS: the provider wakes
	 * the endpoint when this drops to 0.  [ep locked] */
	int (*send_pending)(struct scif_ep *ep);

	/* Leader wait.  A thread about to sleep on ep polls the endpoint's
	 * transport itself instead of being woken by the progress thread (a
	 * thread switch per message).  ep_lead returns a descriptor that
	 * becomes readable when the transport has something for ep, and keeps
	 * the progress thread from serving it until ep_unlead; -EOPNOTSUPP
	 * (the default) when there is none, and the thread sleeps on the
	 * endpoint's condition.  ep_lead_event runs when the descriptor polled
	 * readable: progress as ep_progress does; > 0 if something happened.
	 * It may leave the notification for ep_idle, which comes before every
	 * sleep and must then consume it (verbs: the answer goes out first).  The core ends the lead before the
	 * lock leaves the leading thread for good and before ep_close.
	 * [ep locked] */
	int (*ep_lead)(struct scif_ep *ep);
	int (*ep_lead_event)(struct scif_ep *ep);
	void (*ep_unlead)(struct scif_ep *ep);

	/* A provider whose peer keeps the windows itself (the kernel SCIF
	 * device: mic) sets this: the window, RMA and fence calls of an
	 * endpoint bound to it are carried out by the provider whole, the
	 * core's windows are not used.  Returns >= 0 or -errno as the
	 * header says.  Not locked; may block.  NULL: the core's windows. */
	int (*ep_kcall)(struct scif_ep *ep, enum scif_kcall call,
			struct scif_kcall_args *args);

	/* Posted receive.  A blocking scif_recv found the stream empty and is
	 * about to sleep with len bytes still wanted at buf: the provider may
	 * put the next stream bytes straight there (in stream order, at most
	 * len) instead of into its own buffer, saving a copy.  recv_unpost
	 * ends it and returns how many bytes it put there; buf stays valid
	 * until then.  Both [ep locked] (the lock is dropped between them).
	 * Default: -EOPNOTSUPP, nothing posted. */
	int (*recv_post)(struct scif_ep *ep, void *buf, size_t len);
	size_t (*recv_unpost)(struct scif_ep *ep);

	/* scif_mmap's direct path (docs/mmap.md): the peer's memory behind
	 * [roff, roff + *len) of its region rmr as a file this process can
	 * map shared, so that loads and stores are that memory itself.  On
	 * success *fd (the caller's to close) holds the first bytes of the
	 * range at file offset *fd_off, and *len is cut to how many of them
	 * it holds contiguously (a multiple of the page size); write: the
	 * file will be mapped writable.  -EOPNOTSUPP (the default) when the
	 * provider cannot, any -errno for memory it cannot share: the core
	 * then maps the range its own way.  rmr is a copy taken under the
	 * lock; the region may have been withdrawn since (the core checks
	 * again).  Not locked; may block. */
	int (*rmr_fd)(struct scif_ep *ep, const struct scif_rmr *rmr,
		      uint64_t roff, uint64_t *len, bool write, int *fd,
		      uint64_t *fd_off);

	/* A thread is about to sleep on the endpoint's descriptor without
	 * polling the transport (scif_poll before poll(2)): a provider that
	 * keeps its wake-ups from the progress thread across calls while a
	 * caller polls (verbs, tcp) gives them back now rather than when its
	 * mute period ends, which may be tens of ms away.  [ep locked]
	 * Default: nothing. */
	void (*ep_park)(struct scif_ep *ep);

	/* Whether the provider will call scif__ep_raise_late(ep) within the
	 * delay its muted wake-ups already allow (docs/progress.md: what
	 * arrives while a caller polls waits up to about two mute periods).
	 * A send that drained the peer's answer while it waited for its own
	 * delivery then leaves raising POLLIN on the descriptor to that call:
	 * the application's recv takes the answer first, and the descriptor
	 * is spared a set and a clear, two system calls per round trip.
	 * [ep locked] Default: false, the send raises it. */
	bool (*ep_late)(struct scif_ep *ep);

	/* Both readiness answers of a connected endpoint in one call: POLLIN
	 * as recv_ready, POLLOUT as send_ready (other bits ignored).  The
	 * core asks at the end of every send and recv, and under emulation
	 * each call on that path counts (docs/progress.md, "Code size under
	 * emulation").  [ep locked] Default: recv_ready and send_ready. */
	short (*ready)(struct scif_ep *ep);
};

/* Provider registry: built-in providers are listed in lib.c. */
extern const struct scif_provider_ops scif_verbs_ops;
extern const struct scif_provider_ops scif_shm_ops;
extern const struct scif_provider_ops scif_tcp_ops;
extern const struct scif_provider_ops scif_mic_ops;
/* Add a provider to the registry before the library initialises (the
 * first SCIF call): 0, -EBUSY (too late), -ENOSPC. */
int scif__provider_add(const struct scif_provider_ops *ops);

/* ---- upcalls ---- */

/* [ep locked] A core control message arrived (in stream order).  Returns
 * 0, or a negative errno for a message the core cannot take (logged): the
 * provider then ends the connection, since the peers no longer agree. */
int scif__ep_ctrl_recv(struct scif_ep *ep, const struct scif_wire_hdr *h,
		       const void *payload);
/* [ep locked] One piece of RMA request seq completed (err 0) or failed
 * (err < 0: RMA on the connection has ended). */
void scif__ep_rma_piece_done(struct scif_ep *ep, uint64_t seq, int err);
void scif__ep_lock(struct scif_ep *ep);
void scif__ep_unlock(struct scif_ep *ep);
void scif__ep_get(struct scif_ep *ep);
void scif__ep_put(struct scif_ep *ep);
/* [ep locked] Readiness or data changed: wake waiters, update the fd. */
void scif__ep_wake(struct scif_ep *ep);
/* [ep locked] Bring the fd up to date if a send left it behind (ep_late);
 * scif__ep_late_due is the lock-free hint that it did, for a timer that
 * avoids the lock when there is nothing to do. */
void scif__ep_raise_late(struct scif_ep *ep);
bool scif__ep_late_due(const struct scif_ep *ep);
/* [ep locked] Sleep until woken or deadline_ms (CLOCK_MONOTONIC ms, < 0:
 * none); -ETIMEDOUT when the time is up. */
int scif__ep_wait(struct scif_ep *ep, long long deadline_ms);
/* [ep locked] Connect or accept finished; err 0 or -errno. */
void scif__ep_conn_done(struct scif_ep *ep, int err, uint16_t peer_node,
			uint16_t peer_port);
/* [ep locked] The peer went away or the transport failed: err -ENODEV
 * when the peer's node is lost (silent for the heartbeat timeout),
 * -ECONNRESET (or 0) when the peer closed or its process ended. */
void scif__ep_peer_gone(struct scif_ep *ep, int err);
/* [lep locked] A connection request arrived on prov.  Returns 0 if queued
 * (the core owns req), -ECONNREFUSED if the backlog is full or lep no
 * longer listens. */
int scif__ep_conn_request(struct scif_ep *lep, struct scif_prov *prov,
			  struct scif_conn_req *req);
/* [ep locked] Target-side window lookup, for providers that execute RMA
 * at the target: the registration holding [off, off+len) of our address
 * space with `prot` (SCIF_PROT_*) allowed, and the offset into it.
 * -ENXIO (no such range), -EACCES (protection).  The window is held until
 * scif__ep_window_put(ep, *mr): scif_unregister waits for it.  A window
 * being unregistered is still found: the peer checked the request against
 * it before it heard of the unregistration, and the unregistration waits
 * for the peer's requests to complete. */
int scif__ep_window_get(struct scif_ep *ep, uint64_t off, uint64_t len,
			int prot, const struct scif_mr **mr, uint64_t *mr_off);
void scif__ep_window_put(struct scif_ep *ep, const struct scif_mr *mr);

/* At init only (before the first endpoint): a node the provider's
 * transport defines (the kernel SCIF device's card nodes) joins the node
 * map without an address.  -EEXIST: the map already has that id (the
 * provider must not use it: no id may mean two nodes). */
int scif__node_add(struct scif_lib *lib, uint16_t id);
/* The node map's entry for id, or NULL. */
const struct scif_node *scif__node_find(struct scif_lib *lib, uint16_t id);

/*
 * The part of an endpoint a provider reads inline: the first member of the
 * core's endpoint.  A provider looks at it on every poll of a spinning
 * caller, and a call into the core per look cost more than the look: under
 * QEMU's TCG each call and return to another page is a lookup in a small
 * per-CPU cache (docs/progress.md, "Code size under emulation").
 */
struct scif_ep_head {
	void *prov_data; /* the provider's, set by scif__ep_set_prov_data */
	/* [ep locked] A thread spins on the endpoint (SCIF_SPIN_US): its
	 * ep_progress calls are a poll loop, which polls again at once, not
	 * one look before a sleep (a blocking call, scif_poll). */
	bool spinning;
};

static inline void *scif__ep_prov_data(struct scif_ep *ep)
{
	return ((struct scif_ep_head *)(void *)ep)->prov_data;
}

static inline bool scif__ep_spinning(struct scif_ep *ep)
{
	return ((struct scif_ep_head *)(void *)ep)->spinning;
}

/* memcpy, but a message of a few bytes (a latency test's) is copied inline:
 * no call into the C library per message (same reason). */
static inline void scif__copy(void *dst, const void *src, size_t n)
{
	unsigned char *d = (unsigned char *)dst;
	const unsigned char *s = (const unsigned char *)src;

	if (n > 32) {
		memcpy(d, s, n);
		return;
	}
	for (; n >= 8; n -= 8, d += 8, s += 8)
		__builtin_memcpy(d, s, 8);
	if (n & 4) {
		__builtin_memcpy(d, s, 4);
		d += 4;
		s += 4;
	}
	if (n & 2) {
		__builtin_memcpy(d, s, 2);
		d += 2;
		s += 2;
	}
	if (n & 1)
		*d = *s;
}

void scif__ep_set_prov_data(struct scif_ep *ep, void *data);
uint16_t scif__ep_port(struct scif_ep *ep);
uint16_t scif__self_node(struct scif_lib *lib);
const struct scif_node *scif__self(struct scif_lib *lib);
struct scif_progress *scif__lib_progress(struct scif_lib *lib);
/* scif_close bound on each wait of a graceful close (SCIF_CLOSE_TIMEOUT_MS). */
int scif__lib_close_timeout_ms(struct scif_lib *lib);
/* The heartbeat every provider keeps on its connections to other nodes
 * (SCIF_HEARTBEAT_MS, SCIF_HEARTBEAT_TIMEOUT_MS; docs/nodes.md): while a
 * connection is idle, one small message per period; a peer node heard
 * from neither by traffic nor by heartbeat for timeout_ms is lost, and the
 * provider ends the connection with scif__ep_peer_gone(ep, -ENODEV).  A
 * peer whose kernel answers (a reset, a close, a disconnect) is a process
 * that ended: -ECONNRESET, as before. */
void scif__lib_heartbeat(struct scif_lib *lib, int *period_ms,
			 int *timeout_ms);
long long scif__now_ms(void);
/* An environment setting in [lo, hi]; def when unset, empty or invalid
 * (logged).  strtoul base 0. */
uint32_t scif__env_u32(const char *name, uint32_t def, uint32_t lo,
		       uint32_t hi);

#endif
