/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A fake kernel SCIF device for tests: a CUSE daemon that creates /dev/scif
 * (Linux numbering) or /dev/mic/scif (MPSS 3 numbering, SCIF_GET_VERSION)
 * and answers the ioctl ABI of provider/mic/mic_abi.h, backed by this
 * project's libscif through its public API (the shm provider: the fake is
 * one node, the host, node 0, with --cards N card nodes listed by
 * SCIF_GET_NODEIDS but not reachable).
 *
 * Each open file of the device is one endpoint of the backing library, as
 * each open file of the real device is one kernel endpoint.  What the real
 * driver does with the caller's memory (copy_from_user, pinning) is done
 * with process_vm_readv/writev on the calling process:
 *   - message buffers, node-id arrays, the fence mark are copied;
 *   - a registered window is a shadow mapping in the daemon registered with
 *     the backing library; an RMA first refreshes the source range of the
 *     shadow from its owner's memory and afterwards writes the destination
 *     range back into its owner's memory, so the client sees the effect of
 *     the kernel's pinned pages.  RMAs are therefore synchronous (a legal
 *     SCIF behaviour: a request may complete before the call returns).
 */
#ifndef FAKE_SCIFDEV_H
#define FAKE_SCIFDEV_H

#include "mic_abi.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

struct fuse_pollhandle;

struct fake_win {
	struct fake_win *next;
	int64_t off;
	uint64_t len;
	uint64_t va; /* in the owner's address space */
	pid_t pid;   /* the owner */
	void *shadow;
};

/* One open file of the device. */
struct fake_ep {
	struct fake_ep *next;
	struct fake *fk;
	int epd;     /* the backing endpoint; -1 once handed over */
	pid_t pid;   /* the process that opened it */
	int port;    /* our port once bound/connected, else 0 */
	int peer_port; /* the peer's port once connected, else 0 */
	struct fake_win *wins; /* under fk->lock */
	struct fuse_pollhandle *ph; /* a pending poll notification */
	unsigned ph_events;
};

/* An accepted connection between SCIF_ACCEPTREQ and SCIF_ACCEPTREG. */
struct fake_accepted {
	struct fake_accepted *next;
	uint64_t handle;
	int epd;
	int port, peer_port;
};

struct fake {
	enum mic_abi_kind abi;
	int cards;
	int fail_after; /* fault injection: ioctls answered before the
			 * device "goes away" (0: never) */
	pthread_mutex_t lock; /* the lists, windows, poll handles */
	struct fake_ep *eps;
	struct fake_accepted *accepted;
	uint64_t next_handle;
	int nioctls;
	int epfd;  /* poll watcher: the backing endpoints with a handle */
	pthread_t watcher;
};

/* The SCIF operations (fake_ops.c).  Each returns >= 0 or -errno and may
 * block; `intr` says whether the caller gave up (FUSE interrupt). */
struct fake_call {
	struct fake_ep *fe;
	pid_t pid; /* the calling process */
	int (*intr)(void *ctx);
	void *ctx;
};

int fake_bind(struct fake_call *c, int32_t *pn);
int fake_listen(struct fake_call *c, int backlog);
int fake_connect(struct fake_call *c, struct mic_io_connect *a);
int fake_acceptreq(struct fake_call *c, struct mic_io_accept *a);
int fake_acceptreg(struct fake_call *c, uint64_t handle);
int fake_msg(struct fake_call *c, struct mic_io_msg *a, bool send);
int fake_reg(struct fake_call *c, struct mic_io_reg *a);
int fake_unreg(struct fake_call *c, const struct mic_io_unreg *a);
int fake_copy(struct fake_call *c, enum mic_cmd cmd,
	      const struct mic_io_copy *a);
int fake_nodeids(struct fake_call *c, void *arg);
int fake_fence_mark(struct fake_call *c, const struct mic_io_fence_mark *a);
int fake_fence_wait(struct fake_call *c, int mark);
int fake_fence_signal(struct fake_call *c,
		      const struct mic_io_fence_signal *a);
void fake_ep_release(struct fake_ep *fe);

#endif
