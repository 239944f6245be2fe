/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The endpoint descriptor is a real file descriptor whose poll state mirrors
 * the endpoint: one end of an AF_UNIX stream pair is handed to the
 * application, the library keeps the other.
 *   POLLIN  - one token byte sits in the application end's receive queue.
 *   POLLOUT - cleared by filling the application end's send buffer from our
 *             side (the kernel then reports it unwritable), set by draining.
 *   POLLHUP - our end is shut down; this cannot be undone, which matches a
 *             SCIF endpoint (a disconnected endpoint never reconnects).
 * poll(2), select(2) and epoll all see the same state.  POLLERR cannot be
 * produced this way; scif_poll() reports it from the endpoint state.
 */
#ifndef SCIF_EVFD_H
#define SCIF_EVFD_H

#include "hot.h"

#include <poll.h>
#include <stdbool.h>

struct scif_evfd {
	int app_fd; /* the scif_epd_t */
	int lib_fd;
	bool in, out, hup;
};

int scif__evfd_open(struct scif_evfd *ev);
void scif__evfd_close(struct scif_evfd *ev);
void scif__evfd_update(struct scif_evfd *ev, short mask);

/* Bring the descriptor to the given POLLIN/POLLOUT/POLLHUP mask. Not thread
 * safe: callers serialise (the endpoint lock).  Inline: nearly every call,
 * one at the end of each send and recv, finds nothing to change, and under
 * emulation a call costs (docs/progress.md, "Code size under emulation"). */
static inline SCIF_HOT void scif__evfd_set(struct scif_evfd *ev, short mask)
{
	if (ev->hup || (!(mask & POLLHUP) && !(mask & POLLIN) == !ev->in &&
			!(mask & POLLOUT) == !ev->out))
		return;
	scif__evfd_update(ev, mask);
}

#endif
