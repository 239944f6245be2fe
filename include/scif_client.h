/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The kernel SCIF API's node callbacks, in user space (docs/nodes.md,
 * "Node callbacks").  Not in MPSS's user-space scif.h: the declarations follow
 * the kernel's <linux/scif.h>, in libscif.so.0 as SCIF_CLIENT_0.0.
 *
 * A registered client's probe is called for every peer node that is online
 * when it registers (before scif_client_register returns) and for every one
 * that comes online later; remove for every one that goes offline, and, when
 * the client unregisters, for every one still online (as the kernel's
 * subsys_interface does).  "Online" is scif_get_nodeIDs's view; the local
 * node is not a peer and is never reported.  All callbacks come from one
 * thread of the library, "scif-members", one at a time, in node id order
 * for one change; a callback may call SCIF (connect, send, ... and even
 * scif_client_unregister), must return, and should be brief: the next
 * change waits for it.
 */
#ifndef SCIF_CLIENT_H
#define SCIF_CLIENT_H

#include <scif.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A peer node (the kernel: a device on the SCIF peer bus). */
struct scif_peer_dev {
	void *dev;	/* the kernel's struct device: none here, NULL */
	uint16_t dnode; /* the node (the kernel's is a u8: ids < 256) */
};

struct scif_client {
	const char *name; /* for the log */
	void (*probe)(struct scif_peer_dev *spdev);  /* may be NULL */
	void (*remove)(struct scif_peer_dev *spdev); /* may be NULL */
	void *si; /* the kernel's subsys_interface: unused, the library's */
};

/*
 * Register client: 0, or -1 with errno EINVAL (client NULL), EEXIST (it is
 * registered already), ENOMEM or EAGAIN (no memory or thread), ENODEV (the
 * library did not initialise: no node map, no provider).  The pointed-to
 * structure must stay valid until it is unregistered.
 */
int scif_client_register(struct scif_client *client);

/* Unregister client (not registered: nothing happens).  Returns after its
 * last callback, unless called from a callback itself (its removes are
 * then made before it returns). */
void scif_client_unregister(struct scif_client *client);

#ifdef __cplusplus
}
#endif

#endif
