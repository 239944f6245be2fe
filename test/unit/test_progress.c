/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the progress thread's timers (libscif/progress.c): a timer
 * runs at its deadline, not before; one moved earlier while the thread
 * sleeps runs at the new deadline (the thread is nudged); one moved later
 * does not run early (the thread is not woken for it); and one that another
 * timer's callback moves earlier runs then, not at its old deadline.
 * An unwatched source does not wake the thread, even for a wake-up that
 * carries no event mask (inotify's, like a verbs completion channel's),
 * and watched again it runs for what came meanwhile.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "progress.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct tick {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	long long ran_ms; /* when it ran, -1: not yet */
	int runs;
	/* what the callback does to another timer */
	struct scif_progress *pg;
	int other;
	long long other_due;
};

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void tick_init(struct tick *t)
{
	pthread_condattr_t ca;

	pthread_mutex_init(&t->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&t->cond, &ca);
	pthread_condattr_destroy(&ca);
	t->ran_ms = -1;
	t->runs = 0;
	t->pg = NULL;
	t->other = -1;
}

static void tick_fn(void *arg)
{
	struct tick *t = arg;

	if (t->pg && t->other >= 0)
		scif__progress_timer_set(t->pg, t->other, t->other_due);
	pthread_mutex_lock(&t->lock);
	t->ran_ms = now_ms();
	t->runs++;
	pthread_cond_broadcast(&t->cond);
	pthread_mutex_unlock(&t->lock);
}

/* When the tick ran, waiting at most until limit_ms; -1 if it did not. */
static long long tick_wait(struct tick *t, long long limit_ms)
{
	struct timespec ts = { .tv_sec = limit_ms / 1000,
			       .tv_nsec = (limit_ms % 1000) * 1000000 };
	long long ran;

	pthread_mutex_lock(&t->lock);
	while (t->ran_ms < 0 &&
	       pthread_cond_timedwait(&t->cond, &t->lock, &ts) == 0)
		;
	ran = t->ran_ms;
	pthread_mutex_unlock(&t->lock);
	return ran;
}

/* Until the thread sleeps towards due_ms (it looked at the timers). */
static void wait_asleep(struct scif_progress *pg, long long due_ms)
{
	int i;

	for (i = 0; i < 2000; i++) {
		bool asleep;

		pthread_mutex_lock(&pg->lock);
		asleep = pg->sleep_due == due_ms;
		pthread_mutex_unlock(&pg->lock);
		if (asleep)
			return;
		usleep(1000);
	}
	fail_msg("the progress thread never slept towards %lld", due_ms);
}

static int setup(void **state)
{
	static struct scif_progress pg;

	if (scif__progress_start(&pg))
		return -1;
	*state = &pg;
	return 0;
}

static int teardown(void **state)
{
	scif__progress_stop(*state);
	return 0;
}

static void test_runs_at_deadline(void **state)
{
	struct scif_progress *pg = *state;
	struct tick t;
	long long due = now_ms() + 100, ran;
	int h;

	tick_init(&t);
	h = scif__progress_timer_add(pg, due, 0, tick_fn, &t);
	assert_true(h >= 0);
	ran = tick_wait(&t, now_ms() + 5000);
	assert_true(ran >= due);
	assert_int_equal(t.runs, 1);
	scif__progress_del(pg, h);
}

static void test_moved_earlier(void **state)
{
	struct scif_progress *pg = *state;
	struct tick t;
	long long far = now_ms() + 60000, due, ran;
	int h;

	tick_init(&t);
	h = scif__progress_timer_add(pg, far, 0, tick_fn, &t);
	assert_true(h >= 0);
	wait_asleep(pg, far);
	due = now_ms() + 50;
	scif__progress_timer_set(pg, h, due); /* must wake the thread */
	ran = tick_wait(&t, now_ms() + 10000);
	assert_true(ran >= due);
	scif__progress_del(pg, h);
}

static void test_moved_later(void **state)
{
	struct scif_progress *pg = *state;
	struct tick t;
	long long first = now_ms() + 300, later, ran;
	int h;

	tick_init(&t);
	h = scif__progress_timer_add(pg, first, 0, tick_fn, &t);
	assert_true(h >= 0);
	wait_asleep(pg, first);
	later = first + 400;
	scif__progress_timer_set(pg, h, later); /* no nudge: wakes at first */
	ran = tick_wait(&t, now_ms() + 10000);
	assert_true(ran >= later);
	assert_int_equal(t.runs, 1);
	scif__progress_del(pg, h);
}

/* Timer a (the lower slot, looked at first) is far; b's callback moves it
 * close: a must run then, not when the pass that ran b thought. */
static void test_callback_moves_other_earlier(void **state)
{
	struct scif_progress *pg = *state;
	struct tick a, b;
	long long far = now_ms() + 60000, ran;
	int ha, hb;

	tick_init(&a);
	tick_init(&b);
	ha = scif__progress_timer_add(pg, far, 0, tick_fn, &a);
	assert_true(ha >= 0);
	b.pg = pg;
	b.other = ha;
	b.other_due = 0; /* at once */
	hb = scif__progress_timer_add(pg, now_ms() + 50, 0, tick_fn, &b);
	assert_true(hb >= 0 && hb > ha);
	ran = tick_wait(&b, now_ms() + 10000);
	assert_true(ran >= 0);
	/* b moved a to about when b ran (set before b recorded its time) */
	ran = tick_wait(&a, now_ms() + 10000);
	assert_true(ran >= 0);
	assert_int_equal(a.runs, 1);
	scif__progress_del(pg, ha);
	scif__progress_del(pg, hb);
}

/* The progress thread's id, recorded by a timer callback run in it. */
static void tid_fn(void *arg)
{
	struct tick *t = arg;

	pthread_mutex_lock(&t->lock);
	t->other = (int)syscall(SYS_gettid);
	t->ran_ms = now_ms();
	t->runs++;
	pthread_cond_broadcast(&t->cond);
	pthread_mutex_unlock(&t->lock);
}

/* How many times the thread tid went to sleep. */
static long voluntary_switches(int tid)
{
	char path[64], line[128];
	long n = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/task/%d/status", tid);
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "voluntary_ctxt_switches: %ld", &n) == 1)
			break;
	fclose(f);
	assert_true(n >= 0);
	return n;
}

struct fd_src {
	int fd, runs;
};

static void fd_fn(void *arg)
{
	struct fd_src *f = arg;
	char buf[4096];

	while (read(f->fd, buf, sizeof(buf)) > 0)
		;
	__atomic_add_fetch(&f->runs, 1, __ATOMIC_SEQ_CST);
}

/* One inotify event: queued anew (the queue was drained), so the kernel
 * wakes the fd's waiters, with a bare wake_up(). */
static void inotify_poke(const char *file)
{
	FILE *f = fopen(file, "a");

	assert_non_null(f);
	fputc('x', f);
	fclose(f);
}

static void inotify_drain(int ifd)
{
	char buf[4096];

	while (read(ifd, buf, sizeof(buf)) > 0)
		;
}

static void test_unwatched_source_sleeps(void **state)
{
	struct scif_progress *pg = *state;
	char file[] = "/tmp/scif-progress-XXXXXX";
	struct fd_src src = { .fd = -1 };
	struct tick t;
	long before, after;
	int tmp, h, i, th;

	tmp = mkstemp(file);
	assert_true(tmp >= 0);
	close(tmp);
	src.fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	assert_true(src.fd >= 0);
	assert_true(inotify_add_watch(src.fd, file, IN_CLOSE_WRITE) >= 0);
	h = scif__progress_add(pg, src.fd, fd_fn, &src);
	assert_true(h >= 0);
	tick_init(&t);
	th = scif__progress_timer_add(pg, now_ms(), 0, tid_fn, &t);
	assert_true(th >= 0);
	assert_true(tick_wait(&t, now_ms() + 10000) >= 0);
	scif__progress_del(pg, th);

	/* watched: an event runs the callback */
	inotify_poke(file);
	for (i = 0; i < 10000 && !__atomic_load_n(&src.runs, __ATOMIC_SEQ_CST);
	     i++)
		usleep(1000);
	assert_true(src.runs > 0);

	/* unwatched: 200 events, read here, neither run it nor wake the
	 * thread (with events 0: about one sleep of the thread per event) */
	assert_int_equal(scif__progress_unwatch(pg, h), 0);
	src.runs = 0;
	usleep(20000); /* a run that started before the mute ends */
	before = voluntary_switches(t.other);
	for (i = 0; i < 200; i++) {
		inotify_poke(file);
		usleep(200);
		inotify_drain(src.fd);
	}
	after = voluntary_switches(t.other);
	assert_int_equal(src.runs, 0);
	assert_true(after - before < 20);

	/* watched again: what came meanwhile runs the callback */
	inotify_poke(file);
	assert_int_equal(scif__progress_set_events(pg, h, EPOLLIN), 0);
	for (i = 0; i < 10000 && !__atomic_load_n(&src.runs, __ATOMIC_SEQ_CST);
	     i++)
		usleep(1000);
	assert_true(src.runs > 0);
	/* unwatched twice and watched twice: the same */
	assert_int_equal(scif__progress_unwatch(pg, h), 0);
	assert_int_equal(scif__progress_unwatch(pg, h), 0);
	assert_int_equal(scif__progress_set_events(pg, h, EPOLLIN), 0);
	assert_int_equal(scif__progress_set_events(pg, h, EPOLLIN), 0);

	scif__progress_del(pg, h);
	close(src.fd);
	unlink(file);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_runs_at_deadline),
		cmocka_unit_test(test_moved_earlier),
		cmocka_unit_test(test_moved_later),
		cmocka_unit_test(test_callback_moves_other_earlier),
		cmocka_unit_test(test_unwatched_source_sleeps),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
