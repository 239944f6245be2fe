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
#include "scif_provider.h"
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

struct scif_lib {
	const struct scif_provider_ops *ops; /* full table, stubs filled in */
	struct scif_provider_ops ops_storage;
	struct scif_prov *prov;
	struct scif_nodemap map;
	uint16_t self;
	struct scif_ports ports;
	struct scif_progress progress;

	pthread_mutex_t table_lock; /* fd -> endpoint table */
	struct scif_ep **table;
	int table_size;

	pthread_mutex_t probe_lock; /* node liveness cache */
	struct {
		uint16_t id;
		int up;
		long long when_ms;
	} *probes;
	size_t nprobes;
	int probe_timeout_ms, probe_ttl_ms;
};

struct scif_ep {
	struct scif_lib *lib;
	pthread_mutex_t lock;
	pthread_cond_t cond; /* any change: state, data, room, backlog */
	pthread_mutex_t send_lock, recv_lock; /* keep calls' bytes whole */
	int refs;
	struct scif_evfd ev;

	enum scif_ep_state state;
	bool nonblock_connect; /* an O_NONBLOCK connect awaits collection */
	int conn_err;	       /* result of the last connect or link error */
	bool bound;
	struct scif_portID port; /* our (node, port) */
	struct scif_portID peer;

	/* Listening. */
	int backlog;
	int npending;
	struct scif_conn_req *pending_head, *pending_tail;

	void *prov_data;
};

/* Library instance; NULL with errno set when initialisation failed. */
struct scif_lib *scif__lib(void);
/* Look up a descriptor and take a reference: -EBADF/-ENOTTY otherwise. */
int scif__ep_lookup(int fd, struct scif_ep **ep);
struct scif_ep *scif__ep_new(struct scif_lib *lib, int *err);
/* Publish in the table (the descriptor becomes usable). */
int scif__ep_publish(struct scif_ep *ep);
void scif__ep_unpublish(struct scif_ep *ep);
/* [ep locked] Compute readiness (POLLIN/OUT/HUP/ERR) from state. */
short scif__ep_events(struct scif_ep *ep);
/* [ep locked] Wait for a change; timeout_ms < 0 waits forever. Returns
 * -ETIMEDOUT when the time is up. */
int scif__ep_wait(struct scif_ep *ep, long long deadline_ms);
long long scif__now_ms(void);
/* Probe whether a node answers (cached for a short while). */
bool scif__node_up(struct scif_lib *lib, uint16_t node);

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
