/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The progress thread.  Work a peer needs from us (accepting connection
 * requests into the backlog, noticing disconnects, receiving data and
 * returning flow-control credits) must happen even when the application is
 * in no SCIF call, so one thread per process waits in epoll on the fds that
 * providers register here (connection-manager channels, completion channels,
 * sockets) and runs their callbacks.  It is started with the library and stopped at
 * exit.  It never spins: it sleeps in epoll_wait.
 *
 * Callbacks run without the progress lock (adding or removing sources from
 * another thread never waits for an unrelated callback), one at a time.
 * scif__progress_del() waits until the source's callback is not running, so
 * once it returns the callback is neither running nor going to run (from
 * inside its own callback it returns at once).  Never call it with a lock
 * the callback takes (its own callback excepted).  Delete a source before
 * closing its fd: epoll removes by descriptor number, and a number reused
 * by a newer source would lose that one's registration.  Callbacks must not block: one slow source would stall
 * the others.
 *
 * Timers: scif__progress_timer_add() runs fn once at deadline_ms (or every
 * period_ms when period_ms > 0) in the same thread, under the same rules;
 * deadline_ms < 0 adds it disarmed (scif__progress_timer_set arms it).  A
 * timer that may run before its handle is stored where fn looks for it
 * must be added disarmed.
 */
#ifndef SCIF_PROGRESS_H
#define SCIF_PROGRESS_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

typedef void (*scif_progress_fn)(void *arg);

struct scif_progress_src {
	int fd; /* -1: a timer */
	scif_progress_fn fn;
	void *arg;
	uint32_t gen;
	bool used;
	bool running;
	bool watched; /* fd in the epoll set (not unwatched) */
	long long due_ms; /* timers */
	int period_ms;
};

struct scif_progress {
	pthread_mutex_t lock;
	pthread_cond_t idle; /* a callback finished */
	pthread_t thread;
	bool running;
	int epfd;
	int wake_fd;  /* eventfd that stops the thread */
	int nudge_fd; /* eventfd: a timer is due sooner than sleep_due */
	/* [lock] when the thread's epoll_wait ends by itself: -1 while it is
	 * awake (it looks at the timers before it sleeps again), LLONG_MAX
	 * when no timer bounds it */
	long long sleep_due;
	struct scif_progress_src *srcs;
	uint32_t nsrcs, cap;
};

int scif__progress_start(struct scif_progress *pg);
void scif__progress_stop(struct scif_progress *pg);
/* Returns a handle (>= 0) or -errno. */
int scif__progress_add(struct scif_progress *pg, int fd, scif_progress_fn fn,
		       void *arg);
void scif__progress_del(struct scif_progress *pg, int handle);
/* Which events of a source's fd run its callback (EPOLLIN, EPOLLOUT, ...;
 * EPOLLIN when added): a provider waiting for room in a socket asks for
 * EPOLLOUT while it waits.  With 0, EPOLLERR and EPOLLHUP still run it
 * (epoll always reports them): the mic provider relies on that. */
int scif__progress_set_events(struct scif_progress *pg, int handle,
			      uint32_t events);
/* Take the source's fd out of the epoll set until set_events puts it back:
 * nothing runs the callback meanwhile, and the thread is not woken.  With
 * events 0 a file whose wake-ups carry no event mask (a verbs completion
 * channel) still woke it, for nothing, each time. */
int scif__progress_unwatch(struct scif_progress *pg, int handle);
/* A timer (see above); returns a handle for scif__progress_del. */
int scif__progress_timer_add(struct scif_progress *pg, long long deadline_ms,
			     int period_ms, scif_progress_fn fn, void *arg);
/* Move a timer's next run (deadline_ms < 0: disarm). */
void scif__progress_timer_set(struct scif_progress *pg, int handle,
			      long long deadline_ms);
bool scif__progress_is_self(struct scif_progress *pg);
/* In a forked child (pthread_atfork child handler, pg->lock held by the
 * forking thread or free): the thread does not exist here.  Close the
 * child's copies of the sources' fds and of the thread's own; the sources,
 * their callbacks and the memory are abandoned, never run or freed (they
 * are the parent's).  Closing a copy leaves the parent's descriptors be. */
void scif__progress_abandon(struct scif_progress *pg);

#endif
