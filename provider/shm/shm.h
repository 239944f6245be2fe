/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The shm provider: SCIF between processes of this node, through shared
 * memory.
 *
 *  - Rendezvous: a listener is an abstract AF_UNIX SOCK_SEQPACKET socket
 *    named after its node and SCIF port (the core reserved the port node
 *    wide).  The requester connects, creates the rings in a sealed memfd
 *    and passes it with SCM_RIGHTS in a REQUEST; the acceptor answers
 *    ACCEPT or REJECT on the same socket.
 *  - The connection's socket stays open for the connection's life: its
 *    hang-up says the peer is gone (even when SIGKILLed), and a byte on it
 *    is a doorbell that wakes the peer's progress thread.
 *  - The memfd holds, per direction, a byte-stream ring and a control ring
 *    of wire.h frames (shm_msg.c).  Nothing in it is trusted: each side
 *    keeps its own counters privately and checks the peer's.
 *  - RMA is cross-memory attach (process_vm_readv/writev) against the
 *    peer's process, completed synchronously in rma_post (shm_rma.c).
 *
 * Files: shm_prov.c (instance, ops table), shm_ep.c (listen, connect,
 * accept, close, the progress callbacks), shm_msg.c (rings), shm_rma.c
 * (registrations, RMA), shm_mmap.c (the peer's memory as a file for
 * scif_mmap).
 */
#ifndef SCIF_SHM_H
#define SCIF_SHM_H

#include "../../libscif/scif_provider.h"
#include "../../libscif/wire.h"
#include "../../libscif/progress.h"
#include "../../libscif/log.h"
#include "../../libscif/nodemap.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define SHM_MAGIC 0x4d534353u /* "SCSM" */
#define SHM_VERSION 1
#define SHM_CACHELINE 64

/* Ring shapes we offer and accept (powers of two). */
#define SHM_DSIZE_MIN (16u << 10)
#define SHM_DSIZE_MAX (64u << 20)
#define SHM_CSIZE (16u << 10)
#define SHM_CSIZE_MIN (4u << 10)
#define SHM_CSIZE_MAX (1u << 20)

/* A requester must send its REQUEST within this after connecting. */
#define SHM_HELLO_MS 2000

/* Answers to the peer's control messages waiting for room in the control
 * ring: the peer does not take its control messages (its own library
 * always does, from its progress thread), so this many means a hostile
 * peer, whose connection ends before it costs unbounded memory.  Our own
 * requests (a burst of registrations, say) are not counted. */
#define SHM_OUTBOX_MAX 4096

/* Copies larger than this run without the endpoint lock. */
#define SHM_UNLOCKED_COPY (256u << 10)

#define SHM_MAX_PIECE (1ull << 30)

/* One direction's indices, in the shared page.  Counters are monotonic
 * byte positions; every field that one side writes has its own cache line. */
struct shm_dir {
	uint64_t tail __attribute__((aligned(SHM_CACHELINE))); /* stream, by
								  * producer */
	uint64_t head __attribute__((aligned(SHM_CACHELINE))); /* consumer */
	uint64_t ctail __attribute__((aligned(SHM_CACHELINE))); /* control */
	uint64_t chead __attribute__((aligned(SHM_CACHELINE)));
	/* set by the consumer: ring me when you publish */
	uint32_t rx_armed __attribute__((aligned(SHM_CACHELINE)));
	/* set by the producer: ring me when you free room */
	uint32_t tx_armed __attribute__((aligned(SHM_CACHELINE)));
};

/* The start of the memfd.  The shape fields are informational: each side
 * uses the shape of the handshake, checked against the memfd's size. */
struct shm_shared {
	uint32_t magic, version, dsize, csize;
	struct shm_dir dir[2] __attribute__((aligned(SHM_CACHELINE)));
};

/* Direction 0 carries requester -> acceptor, direction 1 the reverse. */

/* Handshake records on the socket (native byte order: same host). */
enum shm_hello_type {
	SHM_HELLO_REQUEST = 1,
	SHM_HELLO_ACCEPT,
	SHM_HELLO_REJECT,
};

struct shm_hello {
	uint32_t magic;
	uint16_t version;
	uint16_t type;
	uint16_t node, port;
	uint32_t pid;
	uint32_t dsize, csize; /* REQUEST: the shape of the rings */
};

struct shm_prov {
	struct scif_lib *lib;
	struct scif_progress *pg;
	uint16_t self;
	uint32_t dsize; /* stream ring we offer */
};

/* A listener: its socket, and accepted sockets whose REQUEST is awaited. */
struct shm_hs;

struct shm_listener {
	struct shm_prov *sp;
	struct scif_prov *prov;
	struct scif_ep *lep;
	uint16_t port;
	int fd, handle;
	pthread_mutex_t lock; /* hs list, claimed, closing, delivering */
	pthread_cond_t idle;
	struct shm_hs *hs;
	bool closing;
	int delivering; /* requests being handed to the core */
};

/* An accepted socket until its REQUEST is read. */
struct shm_hs {
	struct shm_hs *next;
	struct shm_listener *l;
	int fd, handle, timer;
	bool claimed; /* taken off the list by whoever ends it */
};

/* A request in the core's backlog. */
struct shm_pending {
	int fd, memfd;
	pid_t pid;
	uint16_t node, port;
	uint32_t dsize, csize;
};

/* A control message waiting for room in the control ring. */
struct shm_outmsg {
	struct shm_outmsg *next;
	bool answer; /* queued while handling the peer's control messages */
	uint8_t type;
	uint32_t len;
	char payload[];
};

enum shm_state {
	SHM_IDLE = 0,
	SHM_CONNECTING, /* REQUEST sent, ACCEPT awaited */
	SHM_UP,
	SHM_FAILED, /* connect failed: waits for ep_close */
};

/* An endpoint's provider state (scif__ep_prov_data). */
struct shm_conn {
	struct shm_prov *sp;
	struct scif_ep *ep;
	enum shm_state state;
	int fd, handle; /* the connection's socket; its progress source */
	pid_t peer_pid;
	uint16_t peer_node, peer_port;

	/* the mapping: header, then per direction stream and control ring */
	void *map;
	size_t map_len;
	uint32_t dsize, csize;
	struct shm_dir *tx, *rx; /* our direction out, and in */
	char *txd, *txc, *rxd, *rxc;

	/* our own counters (never read back from the shared page) */
	uint64_t tx_tail, ctx_tail, rx_head, crx_head;
	/* the peer's stream tail as last reported to waiters */
	uint64_t rx_seen;
	bool tx_blocked; /* a writer found no room: report room */

	bool dead;	   /* peer gone or protocol broken: nothing to send */
	bool gone_told;	   /* scif__ep_peer_gone was made */
	bool proto_err;	   /* the shared memory is no longer read */
	bool closing;	   /* ep_close runs: no upcalls */
	bool in_ctrl;	   /* handling control messages (no nesting) */
	int copying;	   /* RMA copies running without the lock */
	struct shm_outmsg *out_head, *out_tail;
	uint32_t out_answers; /* answers in the outbox (SHM_OUTBOX_MAX) */
};

static inline uint32_t shm_pad8(uint32_t n)
{
	return (n + 7u) & ~7u;
}

/* shm_prov.c */
struct shm_conn *shm_conn_of(struct scif_ep *ep);

/* shm_ep.c */
int shm_listen(struct scif_prov *prov, struct scif_ep *lep, uint16_t port,
	       int backlog, void **lctx);
void shm_unlisten(struct scif_prov *prov, void *lctx);
int shm_ep_open(struct scif_prov *prov, struct scif_ep *ep);
int shm_ep_connect(struct scif_ep *ep, const struct scif_node *dst,
		   uint16_t port);
int shm_ep_accept(struct scif_conn_req *req, struct scif_ep *newep);
void shm_conn_reject(struct scif_prov *prov, struct scif_conn_req *req);
void shm_ep_close(struct scif_ep *ep);
void shm_doorbell(struct shm_conn *c);
void shm_conn_end(struct shm_conn *c, int err);

/* shm_msg.c */
size_t shm_map_len(uint32_t dsize, uint32_t csize);
bool shm_shape_ok(uint32_t dsize, uint32_t csize);
void shm_rings_init(void *map, uint32_t dsize, uint32_t csize);
void shm_rings_attach(struct shm_conn *c, void *map, uint32_t dsize,
		      uint32_t csize, bool requester);
bool shm_service(struct shm_conn *c);
void shm_arm(struct shm_conn *c);
void shm_violation(struct shm_conn *c, const char *what);
ssize_t shm_send(struct scif_ep *ep, const void *buf, size_t len);
ssize_t shm_recv(struct scif_ep *ep, void *buf, size_t len);
int shm_recv_ready(struct scif_ep *ep);
int shm_send_ready(struct scif_ep *ep);
short shm_ready(struct scif_ep *ep);
int shm_ctrl_send(struct scif_ep *ep, uint8_t type, const void *payload,
		  uint32_t len);
int shm_ep_progress(struct scif_ep *ep);
int shm_ep_idle(struct scif_ep *ep);
void shm_outbox_free(struct shm_conn *c);

/* shm_rma.c */
void shm_query(struct scif_ep *ep, struct scif_prov_attr *attr);
int shm_mr_reg(struct scif_ep *ep, const struct scif_mem *mem,
	       struct scif_mr *mr);
void shm_mr_dereg(struct scif_ep *ep, struct scif_mr *mr);
int shm_mr_export(struct scif_ep *ep, const struct scif_mr *mr, void *blob,
		  size_t cap);
int shm_rmr_import(struct scif_ep *ep, const void *blob, size_t bloblen,
		   uint64_t len, struct scif_rmr *rmr);
void shm_rmr_release(struct scif_ep *ep, struct scif_rmr *rmr);
int shm_rma_post(struct scif_ep *ep, const struct scif_rma_seg *segs, int n);
void shm_cma_setup(struct scif_lib *lib);

/* shm_mmap.c */
int shm_rmr_fd(struct scif_ep *ep, const struct scif_rmr *rmr, uint64_t roff,
	       uint64_t *len, bool write, int *fd, uint64_t *fd_off);

#endif
