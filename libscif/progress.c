/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The progress thread (see progress.h): epoll over the providers' fds, plus
 * timers, whose earliest deadline bounds each epoll_wait.
 */
#include "progress.h"
#include "hot.h"
#include "log.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define WAKE_TAG UINT64_MAX	   /* stop */
#define NUDGE_TAG (UINT64_MAX - 1) /* timers changed: recompute */

static long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

SCIF_HOT bool scif__progress_is_self(struct scif_progress *pg)
{
	return pg->running && pthread_equal(pthread_self(), pg->thread);
}

/* [pg locked] Run one source's callback without the lock: sources may be
 * added or removed meanwhile, and del() waits for `running` to clear. */
static void run_source(struct scif_progress *pg, struct scif_progress_src *s)
{
	scif_progress_fn fn = s->fn;
	void *arg = s->arg;
	uint32_t slot = (uint32_t)(s - pg->srcs);

	s->running = true;
	pthread_mutex_unlock(&pg->lock);
	fn(arg);
	pthread_mutex_lock(&pg->lock);
	pg->srcs[slot].running = false; /* srcs may have been reallocated */
	pthread_cond_broadcast(&pg->idle);
}

/* [pg locked] Run the timers that are due; the ms to the next one (-1:
 * none), which sleep_due records.  A callback may re-arm any timer, one
 * this pass already looked at included: a pass that ran one is followed by
 * another, which finds the earliest deadline as it now is. */
static int run_timers(struct scif_progress *pg)
{
	long long now = mono_ms(), next;
	bool ran;
	uint32_t i;

	do {
		ran = false;
		next = -1;
		for (i = 0; i < pg->cap; i++) {
			struct scif_progress_src *s = &pg->srcs[i];

			if (!s->used || s->fd >= 0 || s->due_ms < 0)
				continue;
			if (s->due_ms <= now) {
				s->due_ms = s->period_ms > 0 ? now + s->period_ms :
							       -1;
				run_source(pg, s);
				now = mono_ms();
				ran = true;
				s = &pg->srcs[i];
				if (!s->used || s->due_ms < 0)
					continue;
			}
			if (next < 0 || s->due_ms < next)
				next = s->due_ms;
		}
	} while (ran);
	pg->sleep_due = next < 0 ? LLONG_MAX : next;
	if (next < 0)
		return -1;
	return next <= now ? 0 : next - now > 60000 ? 60000 : (int)(next - now);
}

static void *progress_main(void *arg)
{
	struct scif_progress *pg = arg;
	struct epoll_event evs[32];
	int timeout;

	pthread_mutex_lock(&pg->lock);
	for (;;) {
		int n, i;

		timeout = run_timers(pg);
		pthread_mutex_unlock(&pg->lock);
		n = epoll_wait(pg->epfd, evs, 32, timeout);
		pthread_mutex_lock(&pg->lock);
		pg->sleep_due = -1;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			scif_err("epoll_wait: %m");
			break;
		}
		for (i = 0; i < n; i++) {
			uint64_t tag = evs[i].data.u64;
			uint32_t slot = (uint32_t)tag, gen = tag >> 32;
			struct scif_progress_src *s;

			if (tag == WAKE_TAG)
				goto out;
			if (tag == NUDGE_TAG) {
				uint64_t v;

				if (read(pg->nudge_fd, &v, sizeof(v)) < 0 &&
				    errno != EAGAIN)
					scif_err("progress nudge: %m");
				continue;
			}
			/* Skip events of sources removed since epoll_wait
			 * returned (the slot may even be reused). */
			if (slot >= pg->cap)
				continue;
			s = &pg->srcs[slot];
			if (!s->used || s->gen != gen || s->fd < 0)
				continue;
			run_source(pg, s);
		}
	}
out:
	pthread_mutex_unlock(&pg->lock);
	return NULL;
}

int scif__progress_start(struct scif_progress *pg)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = WAKE_TAG };
	pthread_condattr_t ca;
	int ret;

	memset(pg, 0, sizeof(*pg));
	pthread_mutex_init(&pg->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&pg->idle, &ca);
	pthread_condattr_destroy(&ca);
	pg->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (pg->epfd < 0) {
		ret = -errno;
		scif_err("epoll_create1: %m");
		goto err_lock;
	}
	pg->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (pg->wake_fd < 0) {
		ret = -errno;
		scif_err("eventfd: %m");
		goto err_epfd;
	}
	pg->nudge_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (pg->nudge_fd < 0) {
		ret = -errno;
		scif_err("eventfd: %m");
		goto err_wake;
	}
	if (epoll_ctl(pg->epfd, EPOLL_CTL_ADD, pg->wake_fd, &ev)) {
		ret = -errno;
		scif_err("epoll_ctl: %m");
		goto err_nudge;
	}
	ev.data.u64 = NUDGE_TAG;
	if (epoll_ctl(pg->epfd, EPOLL_CTL_ADD, pg->nudge_fd, &ev)) {
		ret = -errno;
		scif_err("epoll_ctl: %m");
		goto err_nudge;
	}
	ret = -pthread_create(&pg->thread, NULL, progress_main, pg);
	if (ret) {
		scif_err("pthread_create: %s", strerror(-ret));
		goto err_nudge;
	}
	pg->running = true;
	return 0;

err_nudge:
	close(pg->nudge_fd);
err_wake:
	close(pg->wake_fd);
err_epfd:
	close(pg->epfd);
err_lock:
	pthread_cond_destroy(&pg->idle);
	pthread_mutex_destroy(&pg->lock);
	return ret;
}

void scif__progress_stop(struct scif_progress *pg)
{
	uint64_t one = 1;

	if (!pg->running)
		return;
	if (write(pg->wake_fd, &one, sizeof(one)) != sizeof(one))
		scif_err("progress wake: %m");
	pthread_join(pg->thread, NULL);
	pg->running = false;
	close(pg->nudge_fd);
	close(pg->wake_fd);
	close(pg->epfd);
	free(pg->srcs);
	pg->srcs = NULL;
	pthread_cond_destroy(&pg->idle);
	pthread_mutex_destroy(&pg->lock);
}

void scif__progress_abandon(struct scif_progress *pg)
{
	uint32_t i;

	if (!pg->running)
		return;
	for (i = 0; i < pg->cap; i++)
		if (pg->srcs[i].used && pg->srcs[i].fd >= 0)
			close(pg->srcs[i].fd);
	close(pg->nudge_fd);
	close(pg->wake_fd);
	close(pg->epfd);
	pg->running = false;
}

/* Wake epoll_wait so that a changed timer deadline is seen (the thread
 * recomputes deadlines after every wake-up). */
static void nudge(struct scif_progress *pg)
{
	uint64_t one = 1;

	if (scif__progress_is_self(pg))
		return; /* recomputed before it sleeps again */
	if (write(pg->nudge_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		scif_err("progress nudge: %m");
}

/* [pg locked] A free slot (the table grows); -ENOMEM. */
static int slot_get(struct scif_progress *pg)
{
	uint32_t slot, ncap;
	struct scif_progress_src *n;

	for (slot = 0; slot < pg->cap; slot++)
		if (!pg->srcs[slot].used && !pg->srcs[slot].running)
			return (int)slot;
	ncap = pg->cap ? pg->cap * 2 : 64;
	n = realloc(pg->srcs, ncap * sizeof(*n));
	if (!n)
		return -ENOMEM;
	memset(n + pg->cap, 0, (ncap - pg->cap) * sizeof(*n));
	pg->srcs = n;
	slot = pg->cap;
	pg->cap = ncap;
	return (int)slot;
}

int scif__progress_add(struct scif_progress *pg, int fd, scif_progress_fn fn,
		       void *arg)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct scif_progress_src *s;
	int slot, ret;

	pthread_mutex_lock(&pg->lock);
	slot = slot_get(pg);
	if (slot < 0) {
		pthread_mutex_unlock(&pg->lock);
		return slot;
	}
	s = &pg->srcs[slot];
	s->fd = fd;
	s->fn = fn;
	s->arg = arg;
	s->gen++;
	s->due_ms = -1;
	s->period_ms = 0;
	ev.data.u64 = ((uint64_t)s->gen << 32) | (uint32_t)slot;
	if (epoll_ctl(pg->epfd, EPOLL_CTL_ADD, fd, &ev)) {
		ret = -errno;
		scif_err("epoll_ctl add fd %d: %m", fd);
		pthread_mutex_unlock(&pg->lock);
		return ret;
	}
	s->used = true;
	s->watched = true;
	pg->nsrcs++;
	pthread_mutex_unlock(&pg->lock);
	return slot;
}

/* [pg locked] The source behind handle if it has an fd, else NULL. */
static struct scif_progress_src *fd_src(struct scif_progress *pg, int handle)
{
	struct scif_progress_src *s =
		handle >= 0 && (uint32_t)handle < pg->cap ? &pg->srcs[handle] :
							      NULL;

	return s && s->used && s->fd >= 0 ? s : NULL;
}

int scif__progress_set_events(struct scif_progress *pg, int handle,
			      uint32_t events)
{
	struct scif_progress_src *s;
	struct epoll_event ev = { .events = events };
	int ret = 0;

	pthread_mutex_lock(&pg->lock);
	s = fd_src(pg, handle);
	if (!s) {
		ret = -EINVAL;
	} else {
		int op = s->watched ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;

		ev.data.u64 = ((uint64_t)s->gen << 32) | (uint32_t)handle;
		if (epoll_ctl(pg->epfd, op, s->fd, &ev)) {
			ret = -errno;
			scif_err("epoll_ctl %s fd %d: %m",
				 op == EPOLL_CTL_MOD ? "mod" : "add", s->fd);
		} else {
			s->watched = true;
		}
	}
	pthread_mutex_unlock(&pg->lock);
	return ret;
}

/*
 * Deleting the fd from the epoll set, not modifying it to no events: epoll
 * adds EPOLLERR | EPOLLHUP to every mask, and a wake-up without an event
 * mask (ib_uverbs' completion channel calls wake_up_interruptible() bare)
 * passes that filter, so the thread was woken, found nothing to report and
 * slept again: about 1.8 times per message and side in the blocking 8-byte
 * ping-pong between two VMs, for completion events a leader was taking.
 */
int scif__progress_unwatch(struct scif_progress *pg, int handle)
{
	struct scif_progress_src *s;
	int ret = 0;

	pthread_mutex_lock(&pg->lock);
	s = fd_src(pg, handle);
	if (!s) {
		ret = -EINVAL;
	} else if (s->watched) {
		if (epoll_ctl(pg->epfd, EPOLL_CTL_DEL, s->fd, NULL)) {
			ret = -errno;
			scif_err("epoll_ctl del fd %d: %m", s->fd);
		} else {
			s->watched = false;
		}
	}
	pthread_mutex_unlock(&pg->lock);
	return ret;
}

int scif__progress_timer_add(struct scif_progress *pg, long long deadline_ms,
			     int period_ms, scif_progress_fn fn, void *arg)
{
	struct scif_progress_src *s;
	bool sooner;
	int slot;

	pthread_mutex_lock(&pg->lock);
	slot = slot_get(pg);
	if (slot < 0) {
		pthread_mutex_unlock(&pg->lock);
		return slot;
	}
	s = &pg->srcs[slot];
	s->fd = -1;
	s->fn = fn;
	s->arg = arg;
	s->gen++;
	s->due_ms = deadline_ms;
	s->period_ms = period_ms;
	s->used = true;
	pg->nsrcs++;
	sooner = deadline_ms >= 0 && deadline_ms < pg->sleep_due;
	pthread_mutex_unlock(&pg->lock);
	if (sooner)
		nudge(pg);
	return slot;
}

void scif__progress_timer_set(struct scif_progress *pg, int handle,
			      long long deadline_ms)
{
	bool sooner = false;

	if (handle < 0)
		return;
	pthread_mutex_lock(&pg->lock);
	if (pg->srcs[handle].used && pg->srcs[handle].fd < 0) {
		pg->srcs[handle].due_ms = deadline_ms;
		/* a later deadline waits for the sleep to end by itself: a
		 * nudge per re-arm was a thread switch per blocking call */
		sooner = deadline_ms < pg->sleep_due;
	}
	pthread_mutex_unlock(&pg->lock);
	if (sooner)
		nudge(pg);
}

void scif__progress_del(struct scif_progress *pg, int handle)
{
	struct scif_progress_src *s;

	if (handle < 0)
		return;
	pthread_mutex_lock(&pg->lock);
	s = &pg->srcs[handle];
	if (s->used) {
		if (s->fd >= 0 && s->watched)
			epoll_ctl(pg->epfd, EPOLL_CTL_DEL, s->fd, NULL);
		s->watched = false;
		s->used = false;
		pg->nsrcs--;
	}
	/* From inside its own callback: it is finishing; anywhere else: wait
	 * until it has. */
	while (pg->srcs[handle].running && !scif__progress_is_self(pg))
		pthread_cond_wait(&pg->idle, &pg->lock);
	pthread_mutex_unlock(&pg->lock);
}
