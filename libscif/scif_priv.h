/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Core internals: the library instance, endpoints and their states.
 *
 * SCIF's API has no context argument (scif_open() takes nothing), so the
 * process has exactly one library instance, created on first use and torn
 * down at exit.  It holds the node map, the chosen provider, the progress
 * thread, the port table and the descriptor -> endpoint table.
 */
#ifndef SCIF_PRIV_H
#define SCIF_PRIV_H

#include "evfd.h"
#include "nodemap.h"
#include "ports.h"
#include "progress.h"
#include "rtree.h"
#include "scif_provider.h"
#include "spin.h"
#include "scif.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

enum scif_ep_state {
	SCIF_EP_UNBOUND = 0,
	SCIF_EP_BOUND,
	SCIF_EP_LISTENING,
	SCIF_EP_CONNECTING,
	SCIF_EP_CONNECTED,
	SCIF_EP_DISCONNECTED, /* peer closed or link failed */
	SCIF_EP_CLOSING,
	SCIF_EP_NSTATES
};

/* What each call may do in each state (epstate.c). */
enum scif_ep_op {
	SCIF_OP_BIND = 0,
	SCIF_OP_LISTEN,
	SCIF_OP_CONNECT,
	SCIF_OP_ACCEPT,
	SCIF_OP_SEND,
	SCIF_OP_RECV,
	SCIF_OP_REGISTER,
	SCIF_OP_RMA,
	SCIF_OP_NOPS
};

/* 0 if op is allowed in state, else the -errno the header documents. */
int scif__ep_check(enum scif_ep_state state, enum scif_ep_op op);
const char *scif__ep_state_name(enum scif_ep_state state);

/* What a window holds besides the provider's registration (a dma-buf's
 * mapping, a grant export: dmabuf.c, gnt.c), released after mr_dereg. */
struct scif_mem_owner {
	void (*release)(struct scif_mem_owner *o);
};

/* A window of our registered address space (window.c). */
struct scif_window {
	struct scif_rnode node;	  /* in ep->windows, by offset */
	struct scif_window *next; /* on ep->dying, or being released */
	uint64_t offset, len;
	void *addr;	   /* CPU address, or NULL (no CPU mapping) */
	int prot;
	struct scif_mr mr;
	uint64_t last_seq; /* last of our RMA requests that used it */
	int refs;	   /* fence signals waiting, provider lookups */
	bool ready;	   /* registered (not still being registered) */
	bool dying;	   /* being unregistered: no new use */
	uint32_t del_id;   /* the WIN_DEL of the scif_unregister that hides it */
	struct scif_pinned_pages *pinned;
	struct scif_mem_owner *owner; /* NULL: none */
};

/* A window of the peer's registered address space, as it announced it. */
struct scif_rwindow {
	struct scif_rnode node; /* in ep->rwindows, by offset */
	uint64_t offset, len;
	int prot;
	struct scif_rmr rmr;
	uint64_t last_seq;
	int refs; /* the table's, queued remote fence signals', requests
		   * being posted (rma_request) */
};

/* Work to do when our RMA request `seq` has completed (rma.c, fence.c). */
struct scif_rma_action {
	struct scif_rma_action *next;
	uint64_t seq;	 /* run when rma_done_seq >= seq ... */
	bool on_reply;	 /* ... or, if set, when reply id arrives */
	uint32_t reply;
	struct scif_mr mr; /* registration to release, when mr_held */
	bool mr_held;
	int bounce;	 /* bounce slot to release, or -1 */
	void *copy_dst;	 /* bounce data to copy out (vreadfrom) */
	const void *copy_src;
	size_t copy_len;
	uint64_t *store; /* a local fence signal: *store = value */
	uint64_t value;
	int remote;	 /* a remote fence signal: write value at roff */
	uint64_t roff;	 /* (our peer's SCIF offset) */
	struct scif_rwindow *ref_rwindow; /* ... in it: holds a reference */
	bool after_remote; /* wait for earlier remote signals over our own
			    * RMAs (a WIN_DEL_ACK: the peer's window stays
			    * until they have landed) */
	struct scif_window *ref_window; /* holds a reference on it */
	uint8_t send_type; /* a deferred control reply (WIN_DEL_ACK, ...) */
	uint32_t send_id;
};

#define SCIF_BOUNCE_SLOTS 4
#define SCIF_BOUNCE_SIZE (64 * 1024)
#define SCIF_MAX_PROVIDERS 8

/* An active provider: its table (stubs filled in) and instance. */
struct scif_prov_inst {
	struct scif_provider_ops ops;
	struct scif_prov *prov;
};

struct scif_gnt_imp;
struct scif_map;

struct scif_lib {
	struct scif_prov_inst provs[SCIF_MAX_PROVIDERS]; /* in preference order */
	int nprovs;
	struct scif_nodemap map;
	uint16_t self;
	struct scif_ports ports;
	struct scif_progress progress;

	struct scif_spin table_lock; /* fd -> endpoint table (a leaf) */
	struct scif_ep **table;
	int table_size;

	pthread_mutex_t pinned_lock; /* live scif_pin_pages handles */
	struct scif_pinned_pages *pinned;

	pthread_mutex_t gnt_lock; /* scif_dmabuf_to_grant_refs imports */
	struct scif_gnt_imp *gnt_imps;
	pthread_mutex_t maps_op_lock, maps_lock; /* scif_mmap (mmap.c) */
	struct scif_map *maps;
	int nmaps; /* atomic: skips the list on the data path */
	unsigned mmap_coherence_us; /* SCIF_MMAP_COHERENCE_US */
	size_t mmap_prefetch;	    /* SCIF_MMAP_PREFETCH: bytes */
	bool mmap_direct;	    /* SCIF_MMAP_DIRECT */

	pthread_mutex_t members_lock; /* starting the membership watch */
	struct scif_members *members; /* members.c: NULL until a client */

	pthread_mutex_t probe_lock; /* node liveness cache */
	struct {
		uint16_t id;
		int up;
		long long when_ms;
	} *probes;
	size_t nprobes;
	int probe_timeout_ms, probe_ttl_ms;
	int accept_timeout_ms; /* requester must complete within this */
	int close_timeout_ms;  /* each stage of a graceful scif_close */
	int spin_us;	       /* spin before sleeping on an endpoint */
	bool spin_set;	       /* SCIF_SPIN_US given: the providers' own
				* spin_us (attr) do not count */
	int hb_ms, hb_timeout_ms; /* SCIF_HEARTBEAT_MS, _TIMEOUT_MS */
};

/* Per-request piece counts of the RMAs in flight (rma.c). */
struct scif_rma_inflight {
	uint32_t *left; /* pieces still to complete, by seq % cap */
	uint64_t cap;	/* a power of two, > requests in flight */
};

struct scif_ep {
	/* What providers read inline (scif_provider.h): must come first. */
	struct scif_ep_head head;
	struct scif_lib *lib;
	pthread_mutex_t lock;
	pthread_cond_t cond; /* any change: state, data, room, backlog */
	unsigned cond_waiters; /* threads asleep on cond (wait.c) */
	/* [lock] A send (1) or a recv (0) call is moving bytes: another call
	 * in that direction waits on cond until it ends (api_msg.c), so that
	 * calls' bytes are not interleaved. */
	bool dir_busy[2];
	unsigned dir_waiters;
	int refs;
	struct scif_evfd ev;
	unsigned wake_gen; /* counts scif__ep_wake: ends a spin */
	/* A spinning send/recv consumes what it waits for at once: the
	 * descriptor's readiness is brought up to date when it returns, not
	 * for every change in between (each costs system calls). */
	bool ev_defer, ev_dirty;
	/* ev_dirty is a rise of POLLIN a send left to the provider's timer
	 * (ready.c); read without the lock by that timer. */
	bool ev_late;
	/* Leader wait (wait.c): the thread that polls the provider's lead
	 * descriptor itself while it waits; lead_fd >= 0 while it leads.
	 * Others waking it while it sleeps in poll write lead_efd. */
	int lead_fd, lead_efd;
	const struct scif_provider_ops *lead_ops; /* ops of the lead */
	pthread_t lead_tid;
	bool lead_polling;

	/* The provider the endpoint is bound to: the null provider until it
	 * connects or is accepted. */
	const struct scif_provider_ops *ops;
	struct scif_prov_inst *pi;

	enum scif_ep_state state;
	bool nonblock_connect; /* an O_NONBLOCK connect awaits collection */
	int conn_err;	       /* result of the last connect or link error */
	bool bound;
	struct scif_portID port; /* our (node, port) */
	struct scif_portID peer;

	/* Listening: one listener context per active provider. */
	int backlog;
	int npending;
	struct scif_conn_req *pending_head, *pending_tail;
	void *lctx[SCIF_MAX_PROVIDERS];

	/* Registered memory and RMA (window.c, rma.c, fence.c). */
	struct scif_rtree windows;  /* ours, including hidden ones */
	struct scif_rtree rwindows; /* the peer's */
	struct scif_window *dying;  /* ours hidden by scif_unregister */
	struct scif_prov_attr attr; /* the provider's, once connected */
	uint64_t rma_seq;      /* last request we issued */
	uint64_t rma_done_seq; /* every request <= this has completed */
	struct scif_rma_inflight inflight;
	int rma_err;	       /* a request failed: RMA on the connection has
				* ended (the connection itself may stay up:
				* shm, a tcp target's refusal) */
	struct scif_rma_action *actions, *actions_tail;
	bool rma_posting; /* a request's pieces are being posted */
	bool in_actions;  /* run_actions is running: a nested call defers */
	bool actions_again;
	/* Control requests (WIN_DEL, FENCE_REQ) carry ids; the peer answers
	 * them in order, so the highest answered id says which are done. */
	uint32_t ctrl_id, reply_mark;
	char *bounce;
	bool bounce_tried;
	struct scif_mr bounce_mr;
	unsigned bounce_busy; /* bit per slot */
};

/* [ep locked] The errno of a connection that has ended: ENODEV when the
 * peer's node was lost (its provider heard nothing for the heartbeat
 * timeout), ECONNRESET otherwise (the peer closed or its process died). */
static inline int scif__ep_lost(const struct scif_ep *ep)
{
	return ep->conn_err == -ENODEV || ep->rma_err == -ENODEV ? -ENODEV :
								   -ECONNRESET;
}

/* [ep locked] scif__ep_check for ep's state, with the loss's errno. */
static inline int scif__ep_allowed(const struct scif_ep *ep,
				   enum scif_ep_op op)
{
	int ret = scif__ep_check(ep->state, op);

	return ret == -ECONNRESET ? scif__ep_lost(ep) : ret;
}

/* rma.c */
void scif__rma_close(struct scif_ep *ep);
/* Closing a connected endpoint: wait (until deadline) for the peer's RMAs
 * into our windows. */
void scif__rma_quiesce(struct scif_ep *ep, long long deadline_ms);
/* [ep locked] Queue an action; runs now if its condition already holds. */
int scif__rma_action_add(struct scif_ep *ep, struct scif_rma_action *a);
/* The same; *queued is the copy in the queue (valid until its condition
 * holds: the caller keeps that from happening while it uses it). */
int scif__rma_action_queue(struct scif_ep *ep, struct scif_rma_action *a,
			   struct scif_rma_action **queued);
/* [ep locked] Post a remote fence signal behind our RMAs (providers with
 * SCIF_PROV_ORDERED_RMA); -EAGAIN: queue it as an action instead. */
int scif__rma_signal_now(struct scif_ep *ep, uint64_t value, uint64_t roff);
/* completion.c [ep locked]: room to count one more request in flight;
 * request seq (== rma_seq + 1) will have n pieces; post a remote fence
 * signal as a request of its own (-EAGAIN: the provider's queue is full). */
int scif__rma_inflight_grow(struct scif_ep *ep);
void scif__rma_inflight_set(struct scif_ep *ep, uint64_t seq, uint32_t n);
int scif__rma_post_signal(struct scif_ep *ep, struct scif_rwindow *rw,
			  uint64_t roff, uint64_t value);
/* [ep locked] Run the queued actions whose condition holds. */
void scif__rma_run_actions(struct scif_ep *ep);
/* [ep locked] [roff, roff+len) wholly inside peer windows allowing prot
 * (SCIF_PROT_*): 0, -ENXIO (*rmiss set) or -EACCES. */
int scif__rma_check_remote(struct scif_ep *ep, uint64_t roff, uint64_t len,
			   int prot, bool *rmiss);
/* One request with a registration of ours as the local side, waited for;
 * takes the endpoint lock (a mapping's fault thread). */
int scif__rma_mr_sync(struct scif_ep *ep, enum scif_rma_op op,
		      const struct scif_mr *mr, uint64_t loff, uint64_t len,
		      uint64_t roff, int flags);
/* mmap.c: the peer unregistered [off, off+len) [ep locked]; the endpoint is
 * being closed (not locked): its mappings go; write back the dirty pages of
 * its mappings (a fence call, not locked). */
void scif__mmap_win_gone(struct scif_ep *ep, uint64_t off, uint64_t len);
int scif__mmap_stats(const void *addr, uint64_t *faults, uint64_t *fetches,
		     uint64_t *pages);
/* [ep locked] The connection ended (mappings of the peer's memory itself
 * must not keep working). */
void scif__mmap_conn_gone(struct scif_ep *ep);
void scif__mmap_ep_close(struct scif_ep *ep);
void scif__mmap_flush(struct scif_ep *ep);
void scif__mmap_sync(void *addr, size_t len, bool invalidate);
/* Whether [addr, addr+len) overlaps a mapping of ep's: a call that touches
 * it with the endpoint locked goes through a bounce buffer instead (a
 * fault there waits for a thread that needs the lock). */
bool scif__mmap_holds(struct scif_ep *ep, const void *addr, size_t len);
/* regcache_uffd.c: open a userfaultfd (before UFFDIO_API). */
int scif__uffd_open(bool force_user_only, bool *user_only, const char **why);
/* [ep locked] Find the local window containing [off, off+len) wholly. */
struct scif_window *scif__window_find(struct scif_ep *ep, uint64_t off,
				      uint64_t len);
struct scif_rwindow *scif__rwindow_find(struct scif_ep *ep, uint64_t off,
					uint64_t len);
/* [ep locked] A fresh id for a control request (WIN_DEL, FENCE_REQ). */
uint32_t scif__ctrl_new_id(struct scif_ep *ep);
/* [ep locked] The connection is up: set up RMA resources. */
void scif__rma_connected(struct scif_ep *ep);
/* Register mem as a window (scif_register's contract). */
int scif__register(struct scif_ep *ep, const struct scif_mem *mem,
		   off_t offset, int prot, int map_flags,
		   struct scif_pinned_pages *pinned,
		   struct scif_mem_owner *owner, off_t *po);
/* scif_register's argument checks, for callers that must check before they
 * acquire the memory (-EINVAL). */
int scif__register_check(const struct scif_mem *mem, off_t offset, int prot,
			 int map_flags);
/* dmabuf.c: the frame of a public registration call: fn(ep, arg, &po) on
 * epd's endpoint; the window's offset, or -1 with errno. */
off_t scif__register_call(scif_epd_t epd,
			  int (*fn)(struct scif_ep *ep, const void *arg,
				    off_t *po),
			  const void *arg);
/* dmabuf.c: register len bytes of dma-buf fd at fd_off as a window; the
 * window releases owner after its own mapping (on failure: the caller). */
int scif__register_dmabuf(struct scif_ep *ep, int fd, uint64_t fd_off,
			  size_t len, off_t offset, int prot, int map_flags,
			  struct scif_mem_owner *owner, off_t *po);
/* [ep locked] Release the hidden windows of WIN_DEL del_id (0: all) that
 * nothing references; drops and retakes the lock to deregister. */
void scif__windows_release(struct scif_ep *ep, uint32_t del_id);
int scif__rx_win_add(struct scif_ep *ep, const void *p, uint32_t len);
int scif__rx_win_del(struct scif_ep *ep, const void *p, uint32_t len);
/* [ep locked] Learn every window the peer registered so far (a miss in
 * our table may be one whose WIN_ADD is still on its way); drops the
 * lock.  0 or -ECONNRESET. */
int scif__rwindow_sync(struct scif_ep *ep);
/* [ep locked] Drop a reference on a peer window (frees it with the last). */
void scif__rwindow_put(struct scif_ep *ep, struct scif_rwindow *rw);
/* [ep locked] The connection is gone: release every window. */
void scif__windows_close(struct scif_ep *ep);
/* [ep locked] The endpoint's null provider: before it connects. */
extern const struct scif_provider_ops scif__null_ops;
/* The default recv_post (-EOPNOTSUPP): the core skips the call to it. */
int scif__stub_recv_post(struct scif_ep *ep, void *buf, size_t len);
/* Bind the endpoint to provider instance pi: ep_open. */
int scif__ep_bind_provider(struct scif_ep *ep, struct scif_prov_inst *pi);
/* The provider instance a provider's prov pointer belongs to. */
struct scif_prov_inst *scif__lib_inst(struct scif_lib *lib,
				      const struct scif_prov *prov);
void scif__pinned_release(struct scif_lib *lib, struct scif_pinned_pages *pp);
struct scif_regcache_stats;
int scif__rma_cache_stats(scif_epd_t epd, struct scif_regcache_stats *st);
/* [ep locked] Whether control request id has been answered. */
bool scif__reply_seen(struct scif_ep *ep, uint32_t id);
/* [ep locked] Wait until it has; -ECONNRESET if the connection goes. */
int scif__wait_reply(struct scif_ep *ep, uint32_t id);
/* [ep locked] Wait until our requests up to seq completed. */
int scif__wait_seq(struct scif_ep *ep, uint64_t seq);
#define SCIF_CTRL_ID_MASK ((1u << 30) - 1)

/* plugin.c: load the run-time providers into the registry (once per
 * process); why the one named name (len bytes) did not load, or NULL. */
/* 1 when epd's provider carries out call itself (ep_kcall; its result,
 * 0 or -errno, in *ret), 0 when the core does (kcall.c). */
int scif__kcall(scif_epd_t epd, enum scif_kcall call,
		struct scif_kcall_args *args, int *ret);

void scif__plugins_load(void);
const char *scif__plugin_why(const char *name, size_t len);

/* Library instance; NULL with errno set when initialisation failed. */
struct scif_lib *scif__lib(void);
/* The instance if it is up; never starts it. */
struct scif_lib *scif__lib_if_up(void);
/* Look up a descriptor and take a reference: -EBADF/-ENOTTY otherwise
 * (-SCIF_EP_INHERITED_ERR: an endpoint inherited across fork()). */
int scif__ep_lookup(int fd, struct scif_ep **ep);
/* The errno of every call on an endpoint a forked child inherited from its
 * parent (docs/endpoints.md, Fork and exec); scif_close() excepted. */
#define SCIF_EP_INHERITED_ERR EBADF
/* scif_close() of an inherited endpoint: forget it and close the child's
 * descriptor; -EBADF when fd is no inherited endpoint. */
int scif__ep_inherited_close(int fd);
struct scif_ep *scif__ep_new(struct scif_lib *lib, int *err);
/* Publish in the table (the descriptor becomes usable). */
int scif__ep_publish(struct scif_ep *ep);
void scif__ep_unpublish(struct scif_ep *ep);
/* [ep locked] Compute readiness (POLLIN/OUT/HUP/ERR) from state. */
short scif__ep_events(struct scif_ep *ep);
/* [ep locked] Wait for a change; timeout_ms < 0 waits forever. Returns
 * -ETIMEDOUT when the time is up. */
int scif__ep_wait(struct scif_ep *ep, long long deadline_ms);
/* [ep locked] scif__ep_wait for a send or recv that ends with
 * scif__ep_wake(): readiness changes seen while spinning are left to it. */
int scif__ep_wait_io(struct scif_ep *ep);
/* [ep locked] The end of a send (send true) or recv call (ready.c). */
void scif__ep_wake_end(struct scif_ep *ep, bool send);
/* [ep locked] wait.c: wake a leader sleeping in poll (scif__ep_wake), end
 * the calling thread's lead (scif__ep_unlock), end whichever thread's lead
 * (before the provider's ep_close: the leader may poll a descriptor that
 * ep_close destroys; it wakes and leaves it alone). */
void scif__ep_lead_kick(struct scif_ep *ep);
void scif__ep_unlead(struct scif_ep *ep);
void scif__ep_lead_revoke(struct scif_ep *ep);
long long scif__now_ms(void);
/* Probe whether a node answers (cached for a short while). */
bool scif__node_up(struct scif_lib *lib, uint16_t node);
/* A connection's heartbeat says node is lost: it counts as down (until
 * the probe cache's time is up) and the membership watch looks now. */
void scif__node_lost(struct scif_lib *lib, uint16_t node);
/* members.c: have the watch look now; stop it (at exit); whether the
 * calling thread is the watch's (it makes the client callbacks). */
void scif__members_kick(struct scif_lib *lib);
void scif__members_stop(struct scif_lib *lib);
bool scif__members_thread(struct scif_lib *lib);

/* A message of the peer refused: the one line logged for it, naming the
 * peer and saying that the connection ends (the provider ends it). */
#define scif_peer_err(ep, fmt, ...)                                          \
	scif_err("peer %u:%u broke the protocol: " fmt ": connection ended", \
		 (ep)->peer.node, (ep)->peer.port, ##__VA_ARGS__)

/* Public-call helpers: errno convention.  Internal functions return 0 or a
 * negative errno; the public wrappers turn that into -1 and errno. */
static inline int scif__ret(int ret)
{
	if (ret < 0) {
		errno = -ret;
		return -1;
	}
	return ret;
}

#define SCIF_EXPORT __attribute__((visibility("default")))

#endif
