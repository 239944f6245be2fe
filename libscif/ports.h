/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Port bookkeeping.  Ports are reference counted because a listener and
 * every endpoint it accepted share one port.  A port is unique per node,
 * across processes and providers: besides the process's own table, the
 * core holds a node-wide reservation for each port in use, an abstract
 * AF_UNIX socket named "scif-fabric/port/<port>" (abstract names live in
 * the network namespace and vanish with the process, so a crashed process
 * never leaves a port taken).  The reservation lasts while any endpoint of
 * the process uses the port.  The allocator takes a callback that decides
 * whether a candidate is free (scif__port_node_try: the node-wide check),
 * so the per-process logic is testable on its own.
 */
#ifndef SCIF_PORTS_H
#define SCIF_PORTS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct scif_ports {
	pthread_mutex_t lock;
	uint32_t *refs;	 /* 65536 counters */
	int *node_fd;	 /* the node-wide reservation + 1 (0: none) */
	uint32_t cursor; /* next candidate for automatic assignment */
};

/* Called with a candidate port; 0 = reserved for us, -EADDRINUSE = try the
 * next one, any other negative errno aborts the allocation. */
typedef int (*scif_port_try_fn)(uint16_t port, void *arg);

int scif__ports_init(struct scif_ports *p);
void scif__ports_fini(struct scif_ports *p);
/* In a forked child: close the child's copies of the node-wide reservations
 * (else they would keep the parent's ports taken after the parent releases
 * them); the table itself is abandoned with the parent's instance. */
void scif__ports_abandon(struct scif_ports *p);
/* True if the caller may bind ports below SCIF_ADMIN_PORT_END. */
bool scif__port_privileged(void);
/* Take a specific port: -EINVAL if already bound in this process,
 * -EACCES for an admin port without privilege. */
int scif__port_take(struct scif_ports *p, uint16_t port);
/* Take a specific port for an endpoint: scif__port_take, then the
 * node-wide reservation (-EINVAL when another process of the node has it). */
int scif__port_reserve(struct scif_ports *p, uint16_t port);
/* Choose a free port >= SCIF_PORT_RSVD; -ENOSPC if none. */
int scif__port_alloc(struct scif_ports *p, scif_port_try_fn try_fn, void *arg,
		     uint16_t *port);
/* Reserve port node-wide (try_fn for scif__port_alloc; arg: the ports):
 * 0, -EADDRINUSE when another process of the node has it. */
int scif__port_node_try(uint16_t port, void *arg);
/* One more user of a taken port (an accepted endpoint). */
void scif__port_ref(struct scif_ports *p, uint16_t port);
void scif__port_release(struct scif_ports *p, uint16_t port);
uint32_t scif__port_refs(struct scif_ports *p, uint16_t port);

#endif
