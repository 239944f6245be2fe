/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the progress thread's timers (libscif/progress.c): a timer
 * runs at its deadline, not before; one moved earlier while the thread
 * sleeps runs at the new deadline (the thread is nudged); one moved later
 * does not run early (the thread is not woken for it); and one that another
 * timer's callback moves earlier runs then, not at its old deadline.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "progress.h"

#include <pthread.h>
#include <stdbool.h>
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_runs_at_deadline),
		cmocka_unit_test(test_moved_earlier),
		cmocka_unit_test(test_moved_later),
		cmocka_unit_test(test_callback_moves_other_earlier),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
