/* SPDX-License-Identifier: BSD-3-Clause */
#include "progress.h"
#include "log.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define WAKE_TAG UINT64_MAX

bool scif__progress_is_self(struct scif_progress *pg)
{
	return pg->running && pthread_equal(pthread_self(), pg->thread);
}

static void *progress_main(void *arg)
{
	struct scif_progress *pg = arg;
	struct epoll_event evs[32];

	for (;;) {
		int n = epoll_wait(pg->epfd, evs, 32, -1), i;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			scif_err("epoll_wait: %m");
			break;
		}
		pthread_mutex_lock(&pg->lock);
		for (i = 0; i < n; i++) {
			uint64_t tag = evs[i].data.u64;
			uint32_t slot = (uint32_t)tag, gen = tag >> 32;
			struct scif_progress_src *s;

			if (tag == WAKE_TAG) {
				pthread_mutex_unlock(&pg->lock);
				return NULL;
			}
			/* Skip events of sources removed since epoll_wait
			 * returned (the slot may even be reused). */
			if (slot >= pg->cap)
				continue;
			s = &pg->srcs[slot];
			if (!s->used || s->gen != gen)
				continue;
			s->fn(s->arg);
		}
		pthread_mutex_unlock(&pg->lock);
	}
	return NULL;
}

int scif__progress_start(struct scif_progress *pg)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = WAKE_TAG };
	int ret;

	memset(pg, 0, sizeof(*pg));
	pthread_mutex_init(&pg->lock, NULL);
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
	if (epoll_ctl(pg->epfd, EPOLL_CTL_ADD, pg->wake_fd, &ev)) {
		ret = -errno;
		scif_err("epoll_ctl: %m");
		goto err_wake;
	}
	ret = -pthread_create(&pg->thread, NULL, progress_main, pg);
	if (ret) {
		scif_err("pthread_create: %s", strerror(-ret));
		goto err_wake;
	}
	pg->running = true;
	return 0;

err_wake:
	close(pg->wake_fd);
err_epfd:
	close(pg->epfd);
err_lock:
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
	close(pg->wake_fd);
	close(pg->epfd);
	free(pg->srcs);
	pg->srcs = NULL;
	pthread_mutex_destroy(&pg->lock);
}

static void pg_lock(struct scif_progress *pg)
{
	if (!scif__progress_is_self(pg))
		pthread_mutex_lock(&pg->lock);
}

static void pg_unlock(struct scif_progress *pg)
{
	if (!scif__progress_is_self(pg))
		pthread_mutex_unlock(&pg->lock);
}

int scif__progress_add(struct scif_progress *pg, int fd, scif_progress_fn fn,
		       void *arg)
{
	struct epoll_event ev = { .events = EPOLLIN };
	uint32_t slot;
	int ret;

	pg_lock(pg);
	for (slot = 0; slot < pg->cap && pg->srcs[slot].used; slot++)
		;
	if (slot == pg->cap) {
		uint32_t ncap = pg->cap ? pg->cap * 2 : 64;
		struct scif_progress_src *n =
			realloc(pg->srcs, ncap * sizeof(*n));

		if (!n) {
			pg_unlock(pg);
			return -ENOMEM;
		}
		memset(n + pg->cap, 0, (ncap - pg->cap) * sizeof(*n));
		pg->srcs = n;
		pg->cap = ncap;
	}
	pg->srcs[slot].fd = fd;
	pg->srcs[slot].fn = fn;
	pg->srcs[slot].arg = arg;
	pg->srcs[slot].gen++;
	ev.data.u64 = ((uint64_t)pg->srcs[slot].gen << 32) | slot;
	if (epoll_ctl(pg->epfd, EPOLL_CTL_ADD, fd, &ev)) {
		ret = -errno;
		scif_err("epoll_ctl add fd %d: %m", fd);
		pg_unlock(pg);
		return ret;
	}
	pg->srcs[slot].used = true;
	pg->nsrcs++;
	pg_unlock(pg);
	return (int)slot;
}

void scif__progress_del(struct scif_progress *pg, int handle)
{
	struct scif_progress_src *s;

	if (handle < 0)
		return;
	pg_lock(pg);
	s = &pg->srcs[handle];
	if (s->used) {
		epoll_ctl(pg->epfd, EPOLL_CTL_DEL, s->fd, NULL);
		s->used = false;
		pg->nsrcs--;
	}
	pg_unlock(pg);
}
