/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scif.h - Symmetric Communications Interface (SCIF), user-mode API.
 *
 * Source and binary compatible with the MPSS user library libscif.so.0:
 * an endpoint descriptor is a real file descriptor (poll/epoll work on it),
 * constants and structure layouts are those of the MPSS headers.
 *
 * scif-fabric carries these calls over RDMA fabrics (verbs) and other
 * transports.  See docs/ for the node map, provider selection and the few
 * places where behaviour differs from MPSS.
 */
#ifndef SCIF_H
#define SCIF_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <poll.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SCIF_ACCEPT_SYNC 1
#define SCIF_SEND_BLOCK 1
#define SCIF_RECV_BLOCK 1

enum {
	SCIF_PROT_READ = (1 << 0),
	SCIF_PROT_WRITE = (1 << 1)
};

enum {
	SCIF_MAP_FIXED = 0x10,
	SCIF_MAP_KERNEL = 0x20
};

enum {
	SCIF_FENCE_INIT_SELF = (1 << 0),
	SCIF_FENCE_INIT_PEER = (1 << 1),
	SCIF_SIGNAL_LOCAL = (1 << 4),
	SCIF_SIGNAL_REMOTE = (1 << 5)
};

enum {
	SCIF_RMA_USECPU = (1 << 0),
	SCIF_RMA_USECACHE = (1 << 1),
	SCIF_RMA_SYNC = (1 << 2),
	SCIF_RMA_ORDERED = (1 << 3)
};

/* End of SCIF admin reserved ports: binding below needs privilege. */
#define SCIF_ADMIN_PORT_END 1024
/* End of SCIF reserved ports: automatic assignment starts here. */
#define SCIF_PORT_RSVD 1088

typedef int scif_epd_t;

#define SCIF_OPEN_FAILED ((scif_epd_t)-1)
#define SCIF_REGISTER_FAILED ((off_t)-1)
#define SCIF_MMAP_FAILED ((void *)-1)

/* Global port identifier: a node and a port on it. */
struct scif_portID {
	uint16_t node;
	uint16_t port;
};
/* The kernel header's spelling of the same structure. */
#define scif_port_id scif_portID

struct scif_pollepd {
	scif_epd_t epd;
	short events;
	short revents;
};

/* Handle to a set of pinned pages (scif_pin_pages). */
typedef struct scif_pinned_pages *scif_pinned_pages_t;

scif_epd_t scif_open(void);
int scif_close(scif_epd_t epd);
int scif_bind(scif_epd_t epd, uint16_t pn);
int scif_listen(scif_epd_t epd, int backlog);
int scif_connect(scif_epd_t epd, struct scif_portID *dst);
int scif_accept(scif_epd_t epd, struct scif_portID *peer, scif_epd_t *newepd,
		int flags);
int scif_send(scif_epd_t epd, void *msg, int len, int flags);
int scif_recv(scif_epd_t epd, void *msg, int len, int flags);

off_t scif_register(scif_epd_t epd, void *addr, size_t len, off_t offset,
		    int prot_flags, int map_flags);
int scif_unregister(scif_epd_t epd, off_t offset, size_t len);
void *scif_mmap(void *addr, size_t len, int prot_flags, int map_flags,
		scif_epd_t epd, off_t offset);
int scif_munmap(void *addr, size_t len);

int scif_readfrom(scif_epd_t epd, off_t loffset, size_t len, off_t roffset,
		  int rma_flags);
int scif_writeto(scif_epd_t epd, off_t loffset, size_t len, off_t roffset,
		 int rma_flags);
int scif_vreadfrom(scif_epd_t epd, void *addr, size_t len, off_t roffset,
		   int rma_flags);
int scif_vwriteto(scif_epd_t epd, void *addr, size_t len, off_t roffset,
		  int rma_flags);

int scif_fence_mark(scif_epd_t epd, int flags, int *mark);
int scif_fence_wait(scif_epd_t epd, int mark);
int scif_fence_signal(scif_epd_t epd, off_t loff, uint64_t lval, off_t roff,
		      uint64_t rval, int flags);

int scif_get_nodeIDs(uint16_t *nodes, int len, uint16_t *self);
/* The kernel header's spelling of scif_get_nodeIDs. */
int scif_get_node_ids(uint16_t *nodes, int len, uint16_t *self);
int scif_get_fd(scif_epd_t epd);
int scif_poll(struct scif_pollepd *epds, unsigned int nepds, long timeout);

int scif_pin_pages(void *addr, size_t len, int prot_flags, int map_flags,
		   scif_pinned_pages_t *pinned_pages);
int scif_unpin_pages(scif_pinned_pages_t pinned_pages);
off_t scif_register_pinned_pages(scif_epd_t epd,
				 scif_pinned_pages_t pinned_pages,
				 off_t offset, int map_flags);

#ifdef __cplusplus
}
#endif

#endif /* SCIF_H */
