/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the poll-readiness mirror (libscif/evfd.c): what poll(2),
 * select(2) and epoll report on the application's descriptor after each
 * scif__evfd_set().
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "evfd.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/wait.h>
#include <unistd.h>

#define REPORTED (POLLIN | POLLOUT | POLLHUP | POLLERR | POLLNVAL)

struct fixture {
	struct scif_evfd ev;
	int epfd;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct epoll_event e = { .events = EPOLLIN | EPOLLOUT };

	if (!f)
		return -1;
	if (scif__evfd_open(&f->ev)) {
		free(f);
		return -1;
	}
	f->epfd = epoll_create1(EPOLL_CLOEXEC);
	e.data.fd = f->ev.app_fd;
	if (f->epfd < 0 ||
	    epoll_ctl(f->epfd, EPOLL_CTL_ADD, f->ev.app_fd, &e)) {
		scif__evfd_close(&f->ev);
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	close(f->epfd);
	scif__evfd_close(&f->ev);
	free(f);
	return 0;
}

/* poll(2), timeout 0. */
static short poll_now(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN | POLLOUT };
	int n = poll(&p, 1, 0);

	assert_true(n >= 0);
	return n ? (short)(p.revents & REPORTED) : 0;
}

/* Level-triggered epoll, timeout 0, in poll terms. */
static short epoll_now(int epfd)
{
	struct epoll_event e;
	int n = epoll_wait(epfd, &e, 1, 0);
	short r = 0;

	assert_true(n >= 0);
	if (!n)
		return 0;
	if (e.events & EPOLLIN)
		r |= POLLIN;
	if (e.events & EPOLLOUT)
		r |= POLLOUT;
	if (e.events & EPOLLHUP)
		r |= POLLHUP;
	if (e.events & EPOLLERR)
		r |= POLLERR;
	return r;
}

/* select(2), timeout 0: readable/writable only. */
static short select_now(int fd)
{
	fd_set r, w;
	struct timeval tv = { 0, 0 };
	short m = 0;

	FD_ZERO(&r);
	FD_ZERO(&w);
	FD_SET(fd, &r);
	FD_SET(fd, &w);
	assert_true(select(fd + 1, &r, &w, NULL, &tv) >= 0);
	if (FD_ISSET(fd, &r))
		m |= POLLIN;
	if (FD_ISSET(fd, &w))
		m |= POLLOUT;
	return m;
}

static const char *mask_str(short m, char *buf)
{
	snprintf(buf, 48, "%s%s%s%s%s", m ? "" : "none",
		 m & POLLIN ? "IN " : "", m & POLLOUT ? "OUT " : "",
		 m & POLLHUP ? "HUP " : "", m & POLLERR ? "ERR " : "");
	return buf;
}

/* The descriptor reports exactly `want` through every interface. */
static void expect_exact(const struct fixture *f, short want, const char *ctx)
{
	short p = poll_now(f->ev.app_fd), e = epoll_now(f->epfd),
	      s = select_now(f->ev.app_fd);
	char b1[48], b2[48];

	if (p != want)
		fail_msg("%s: poll reports %s, want %s", ctx, mask_str(p, b1),
			 mask_str(want, b2));
	if (e != want)
		fail_msg("%s: epoll reports %s, want %s", ctx, mask_str(e, b1),
			 mask_str(want, b2));
	if (s != (want & (POLLIN | POLLOUT)))
		fail_msg("%s: select reports %s, want %s", ctx,
			 mask_str(s, b1), mask_str(want, b2));
}

static const short masks[4] = { 0, POLLIN, POLLOUT, POLLIN | POLLOUT };

/* ---- tests ---- */

static void test_open_reports_nothing(void **state)
{
	struct fixture *f = *state;

	assert_true(f->ev.app_fd >= 0);
	assert_true(f->ev.lib_fd >= 0);
	assert_int_not_equal(f->ev.app_fd, f->ev.lib_fd);
	expect_exact(f, 0, "after open");
	/* Asking again changes nothing. */
	scif__evfd_set(&f->ev, 0);
	expect_exact(f, 0, "set(0) after open");
}

static void test_set_in_only(void **state)
{
	struct fixture *f = *state;

	scif__evfd_set(&f->ev, POLLIN);
	expect_exact(f, POLLIN, "set(IN)");
	/* Idempotent: no second token that would survive a clear. */
	scif__evfd_set(&f->ev, POLLIN);
	scif__evfd_set(&f->ev, POLLIN);
	expect_exact(f, POLLIN, "set(IN) x3");
	scif__evfd_set(&f->ev, 0);
	expect_exact(f, 0, "set(IN) then set(0)");
}

static void test_set_out_only(void **state)
{
	struct fixture *f = *state;

	scif__evfd_set(&f->ev, POLLOUT);
	expect_exact(f, POLLOUT, "set(OUT)");
	scif__evfd_set(&f->ev, POLLOUT);
	expect_exact(f, POLLOUT, "set(OUT) x2");
	scif__evfd_set(&f->ev, 0);
	expect_exact(f, 0, "set(OUT) then set(0)");
}

static void test_set_in_and_out(void **state)
{
	struct fixture *f = *state;

	scif__evfd_set(&f->ev, POLLIN | POLLOUT);
	expect_exact(f, POLLIN | POLLOUT, "set(IN|OUT)");
	scif__evfd_set(&f->ev, POLLIN);
	expect_exact(f, POLLIN, "set(IN|OUT) then set(IN)");
	scif__evfd_set(&f->ev, POLLIN | POLLOUT);
	scif__evfd_set(&f->ev, POLLOUT);
	expect_exact(f, POLLOUT, "set(IN|OUT) then set(OUT)");
	scif__evfd_set(&f->ev, 0);
	expect_exact(f, 0, "then set(0)");
}

static void test_every_transition(void **state)
{
	struct fixture *f = *state;
	char ctx[64], b1[48], b2[48];
	int from, to;

	for (from = 0; from < 4; from++) {
		for (to = 0; to < 4; to++) {
			scif__evfd_set(&f->ev, masks[from]);
			snprintf(ctx, sizeof(ctx), "set(%s)",
				 mask_str(masks[from], b1));
			expect_exact(f, masks[from], ctx);
			scif__evfd_set(&f->ev, masks[to]);
			snprintf(ctx, sizeof(ctx), "set(%s) -> set(%s)",
				 mask_str(masks[from], b1),
				 mask_str(masks[to], b2));
			expect_exact(f, masks[to], ctx);
		}
	}
}

static void test_toggle_many_times(void **state)
{
	struct fixture *f = *state;
	uint32_t seed = 12345;
	char ctx[64];
	int i;

	/* Strict alternation of every bit... */
	for (i = 0; i < 1000; i++) {
		short m = (i & 1) ? (POLLIN | POLLOUT) : 0;

		scif__evfd_set(&f->ev, m);
		snprintf(ctx, sizeof(ctx), "alternation %d", i);
		expect_exact(f, m, ctx);
	}
	/* ...then a pseudo-random walk through all four states. */
	for (i = 0; i < 1000; i++) {
		short m;

		seed = seed * 1103515245u + 12345u;
		m = masks[(seed >> 16) & 3];
		scif__evfd_set(&f->ev, m);
		snprintf(ctx, sizeof(ctx), "random step %d", i);
		expect_exact(f, m, ctx);
	}
}

static void test_two_mirrors_independent(void **state)
{
	struct fixture *f = *state;
	struct scif_evfd other;

	assert_int_equal(scif__evfd_open(&other), 0);
	scif__evfd_set(&other, POLLIN | POLLOUT);
	expect_exact(f, 0, "other mirror set");
	scif__evfd_set(&f->ev, POLLOUT);
	assert_int_equal(poll_now(other.app_fd), POLLIN | POLLOUT);
	expect_exact(f, POLLOUT, "own mirror set");
	scif__evfd_close(&other);
}

static void test_hup_reported_and_sticky(void **state)
{
	struct fixture *f = *state;
	short p;

	scif__evfd_set(&f->ev, POLLHUP);
	p = poll_now(f->ev.app_fd);
	assert_true(p & POLLHUP);
	assert_true(epoll_now(f->epfd) & POLLHUP);
	assert_false(p & POLLERR);
	/* A hung-up endpoint stays hung up whatever is asked later. */
	scif__evfd_set(&f->ev, 0);
	assert_true(poll_now(f->ev.app_fd) & POLLHUP);
	assert_true(epoll_now(f->epfd) & POLLHUP);
	scif__evfd_set(&f->ev, POLLIN | POLLOUT);
	assert_true(poll_now(f->ev.app_fd) & POLLHUP);
	for (int i = 0; i < 100; i++)
		scif__evfd_set(&f->ev, masks[i & 3]);
	assert_true(poll_now(f->ev.app_fd) & POLLHUP);
	assert_true(epoll_now(f->epfd) & POLLHUP);
}

static void test_hup_from_every_state(void **state)
{
	struct fixture *f = *state;
	int i;

	(void)f;
	for (i = 0; i < 4; i++) {
		struct scif_evfd ev;

		assert_int_equal(scif__evfd_open(&ev), 0);
		scif__evfd_set(&ev, masks[i]);
		assert_int_equal(poll_now(ev.app_fd), masks[i]);
		scif__evfd_set(&ev, POLLHUP);
		if (!(poll_now(ev.app_fd) & POLLHUP))
			fail_msg("no POLLHUP after state %d", i);
		scif__evfd_close(&ev);
	}
}

static void test_hup_with_out(void **state)
{
	/* A failed non-blocking connect reports POLLOUT|POLLHUP. */
	struct fixture *f = *state;
	short p;

	scif__evfd_set(&f->ev, POLLOUT | POLLHUP);
	p = poll_now(f->ev.app_fd);
	assert_true(p & POLLHUP);
	assert_true(p & POLLOUT);
	p = epoll_now(f->epfd);
	assert_true(p & POLLHUP);
	assert_true(p & POLLOUT);
}

static void test_close(void **state)
{
	struct scif_evfd ev;
	int app, lib;

	(void)state;
	assert_int_equal(scif__evfd_open(&ev), 0);
	app = ev.app_fd;
	lib = ev.lib_fd;
	scif__evfd_close(&ev);
	assert_int_equal(ev.app_fd, -1);
	assert_int_equal(ev.lib_fd, -1);
	errno = 0;
	assert_int_equal(fcntl(app, F_GETFD), -1);
	assert_int_equal(errno, EBADF);
	errno = 0;
	assert_int_equal(fcntl(lib, F_GETFD), -1);
	assert_int_equal(errno, EBADF);
	/* Closing twice is harmless. */
	scif__evfd_close(&ev);
}

/*
 * The application's descriptor is the scif_epd_t.  SCIF lets the
 * application choose non-blocking connects by setting O_NONBLOCK on it with
 * fcntl() (linux-scif.h, scif_connect), and scif_connect() in api_ep.c reads
 * that flag from app_fd.  So a fresh descriptor must not carry O_NONBLOCK...
 */
static void test_app_fd_born_blocking(void **state)
{
	struct fixture *f = *state;
	int fl = fcntl(f->ev.app_fd, F_GETFL);

	assert_true(fl >= 0);
	if (fl & O_NONBLOCK)
		fail_msg("a new endpoint descriptor has O_NONBLOCK set: "
			 "scif_connect() would never block");
}

/* ...and the mirror must keep working whatever the application sets. */
enum { K_OK = 0, K_FCNTL = 10, K_POLL, K_STATE };

/* poll_now() for the forked child: no cmocka asserts there. */
static short raw_poll(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN | POLLOUT };
	int n = poll(&p, 1, 0);

	if (n < 0)
		_exit(K_POLL);
	return n ? (short)(p.revents & REPORTED) : 0;
}

static int child_mirror_with_flags(int nonblock)
{
	struct scif_evfd ev;
	int fl, i;

	alarm(5); /* a blocking read/write in the mirror kills us */
	if (scif__evfd_open(&ev))
		return K_FCNTL;
	fl = fcntl(ev.app_fd, F_GETFL);
	if (fl < 0 || fcntl(ev.app_fd, F_SETFL, nonblock ? fl | O_NONBLOCK :
							    fl & ~O_NONBLOCK))
		return K_FCNTL;
	for (i = 0; i < 16; i++) {
		short m = masks[i & 3];

		scif__evfd_set(&ev, m);
		if (raw_poll(ev.app_fd) != m)
			return K_STATE + i;
	}
	scif__evfd_set(&ev, 0);
	if (raw_poll(ev.app_fd) != 0)
		return K_STATE + 16;
	scif__evfd_close(&ev);
	return K_OK;
}

static void run_child(int nonblock)
{
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(child_mirror_with_flags(nonblock));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (WIFSIGNALED(status))
		fail_msg("mirror with O_NONBLOCK %s on the app end: killed by "
			 "signal %d (%s)",
			 nonblock ? "set" : "cleared", WTERMSIG(status),
			 WTERMSIG(status) == SIGALRM ? "blocked in set()" :
						       "crash");
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) != K_OK)
		fail_msg("mirror with O_NONBLOCK %s: check %d failed",
			 nonblock ? "set" : "cleared", WEXITSTATUS(status));
}

static void test_mirror_with_app_nonblock_set(void **state)
{
	(void)state;
	run_child(1);
}

static void test_mirror_with_app_nonblock_cleared(void **state)
{
	(void)state;
	run_child(0);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_open_reports_nothing),
		T(test_set_in_only),
		T(test_set_out_only),
		T(test_set_in_and_out),
		T(test_every_transition),
		T(test_toggle_many_times),
		T(test_two_mirrors_independent),
		T(test_hup_reported_and_sticky),
		T(test_hup_from_every_state),
		T(test_hup_with_out),
		cmocka_unit_test(test_close),
		T(test_app_fd_born_blocking),
		cmocka_unit_test(test_mirror_with_app_nonblock_set),
		cmocka_unit_test(test_mirror_with_app_nonblock_cleared),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
