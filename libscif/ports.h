/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Port bookkeeping for one process.  Ports are reference counted because a
 * listener and every endpoint it accepted share one port.  Uniqueness across
 * processes of a node is the provider's job (verbs: the rdma_cm port space);
 * the allocator asks the provider through a callback before it hands out a
 * port, and skips ports the provider reports as taken.
 */
#ifndef SCIF_PORTS_H
#define SCIF_PORTS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct scif_ports {
	pthread_mutex_t lock;
	uint32_t *refs;	 /* 65536 counters */
	uint32_t cursor; /* next candidate for automatic assignment */
};

/* Called with a candidate port; 0 = reserved for us, -EADDRINUSE = try the
 * next one, any other negative errno aborts the allocation. */
typedef int (*scif_port_try_fn)(uint16_t port, void *arg);

int scif__ports_init(struct scif_ports *p);
void scif__ports_fini(struct scif_ports *p);
/* True if the caller may bind ports below SCIF_ADMIN_PORT_END. */
bool scif__port_privileged(void);
/* Take a specific port: -EINVAL if already bound in this process,
 * -EACCES for an admin port without privilege. */
int scif__port_take(struct scif_ports *p, uint16_t port);
/* Choose a free port >= SCIF_PORT_RSVD; -ENOSPC if none. */
int scif__port_alloc(struct scif_ports *p, scif_port_try_fn try_fn, void *arg,
		     uint16_t *port);
/* One more user of a taken port (an accepted endpoint). */
void scif__port_ref(struct scif_ports *p, uint16_t port);
void scif__port_release(struct scif_ports *p, uint16_t port);
uint32_t scif__port_refs(struct scif_ports *p, uint16_t port);

#endif
