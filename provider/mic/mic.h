/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The mic provider: SCIF endpoints that are endpoints of the kernel SCIF
 * device (/dev/scif of MPSS 4 and Linux up to 5.9, /dev/mic/scif of MPSS 3),
 * one open file of the device per endpoint, as Intel's libscif does, every
 * call an ioctl of the numbering the device answers (mic_abi.h).
 *
 * The kernel owns what it owns on MPSS: ports of its endpoints (the core
 * reserves the same number in its own registry, and the kernel must grant
 * it: docs/providers.md), the nodes (host 0, cards 1..N: they join the node
 * map, docs/nodes.md), windows, RMA and fences (ops->ep_kcall: the core's
 * windows are not used on these endpoints).
 */
#ifndef MIC_PROV_H
#define MIC_PROV_H

#include "log.h"
#include "mic_abi.h"
#include "mic_dma.h"
#include "nodemap.h"
#include "progress.h"
#include "scif_provider.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define MIC_MAX_NODES 64

struct scif_prov {
	struct scif_lib *lib;
	struct scif_progress *pg;
	char path[64];	       /* the device node */
	enum mic_abi_kind abi; /* the numbering it answers */
	uint16_t self;
	uint16_t nodes[MIC_MAX_NODES]; /* the kernel's nodes at init */
	int nnodes;
	struct mic_dma *dma; /* RMA through the engine (SCIF_MIC_DMA) */
};

/* The kernel endpoint of a SCIF endpoint bound to this provider. */
struct mic_conn {
	struct scif_prov *mp;
	struct scif_ep *ep;
	int fd;		 /* the open device file; -1 before connect/accept */
	int handle;	 /* progress source of fd, -1 */
	uint32_t armed;	 /* the events the source waits for */
	bool connecting; /* a non-blocking SCIF_CONNECT is in progress */
	uint16_t dst_node, dst_port;
	struct mic_dma_conn *dma; /* the engine path's state, or NULL */
	bool gone;		  /* the device said the peer is gone */
};

struct mic_listener {
	struct scif_prov *mp;
	struct scif_ep *lep;
	pthread_mutex_t lock;
	int refs;    /* unlisten's, and a queued placeholder's */
	int fd;	     /* closed with the last reference */
	int handle;  /* progress source; -1 once unlistened */
	bool queued; /* a placeholder is in the core's backlog */
};

/* mic_prov.c */
/* A new open file of the device (flags: O_NONBLOCK or 0), or -errno. */
int mic_open_dev(struct scif_prov *mp, int flags);
/* One ioctl: >= 0, or -errno as the public call behind cmd gives it
 * (mic_abi_errno).  arg: the structure, or the value (MIC_ARG_VALUE). */
int mic_ioctl(struct scif_prov *mp, int fd, enum mic_cmd cmd, void *arg);

/* mic_ep.c */
int mic_listen(struct scif_prov *mp, struct scif_ep *lep, uint16_t port,
	       int backlog, void **lctx);
void mic_unlisten(struct scif_prov *mp, void *lctx);
int mic_ep_open(struct scif_prov *mp, struct scif_ep *ep);
int mic_ep_connect(struct scif_ep *ep, const struct scif_node *dst,
		   uint16_t port);
int mic_ep_accept(struct scif_conn_req *req, struct scif_ep *newep);
void mic_conn_reject(struct scif_prov *mp, struct scif_conn_req *req);
void mic_ep_close(struct scif_ep *ep);
ssize_t mic_send(struct scif_ep *ep, const void *buf, size_t len);
ssize_t mic_recv(struct scif_ep *ep, void *buf, size_t len);
int mic_recv_ready(struct scif_ep *ep);
int mic_send_ready(struct scif_ep *ep);

/* mic_rma.c */
int mic_ep_kcall(struct scif_ep *ep, enum scif_kcall call,
		 struct scif_kcall_args *a);

#endif
