/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The progress thread.  Work a peer needs from us (accepting connection
 * requests into the backlog, noticing disconnects, receiving data and
 * returning flow-control credits) must happen even when the application is
 * in no SCIF call, so one thread per process waits in epoll on the fds that
 * providers register here (rdma_cm event channels, CQ completion channels)
 * and runs their callbacks.  It is started with the library and stopped at
 * exit.  It never spins: it sleeps in epoll_wait.
 *
 * Callbacks run with the progress lock held; scif__progress_del() takes
 * that lock, so once it returns the callback is neither running nor going to
 * run.  Never call scif__progress_del() with an endpoint lock held.
 */
#ifndef SCIF_PROGRESS_H
#define SCIF_PROGRESS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

typedef void (*scif_progress_fn)(void *arg);

struct scif_progress_src {
	int fd;
	scif_progress_fn fn;
	void *arg;
	uint32_t gen;
	bool used;
};

struct scif_progress {
	pthread_mutex_t lock;
	pthread_t thread;
	bool running;
	int epfd;
	int wake_fd; /* eventfd that stops the thread */
	struct scif_progress_src *srcs;
	uint32_t nsrcs, cap;
};

int scif__progress_start(struct scif_progress *pg);
void scif__progress_stop(struct scif_progress *pg);
/* Returns a handle (>= 0) or -errno. */
int scif__progress_add(struct scif_progress *pg, int fd, scif_progress_fn fn,
		       void *arg);
void scif__progress_del(struct scif_progress *pg, int handle);
bool scif__progress_is_self(struct scif_progress *pg);

#endif
