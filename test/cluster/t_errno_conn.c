/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * t_errno, part 2: scif_bind, scif_listen, scif_connect and scif_accept,
 * and the calls that a connected endpoint refuses.  See t_errno.c.
 */
#include "t_errno.h"

#include <poll.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/wait.h>

/* ---- scif_bind ---- */

void test_bind(void **state)
{
	scif_epd_t a = xopen(), b = xopen(), c = xopen();
	int pa, pb;

	(void)state;
	pa = scif_bind(a, 0);
	assert_in_range(pa, SCIF_PORT_RSVD, 65535);
	CHECK_ERR(scif_bind(a, 0), EINVAL); /* already bound */
	CHECK_ERR(scif_bind(a, (uint16_t)(pa == 65535 ? pa - 1 : pa + 1)),
		  EINVAL);
	CHECK_ERR(scif_bind(b, (uint16_t)pa), EINVAL); /* port taken */
	pb = scif_bind(b, 0);
	assert_in_range(pb, SCIF_PORT_RSVD, 65535);
	assert_int_not_equal(pa, pb);
	/* a fixed port below SCIF_PORT_RSVD but not privileged */
	CHECK_RET(scif_bind(c, 1077), 1077);
	CHECK_RET(scif_close(c), 0);
	c = xopen();
	CHECK_RET(scif_bind(c, 1077), 1077); /* released by the close */
	CHECK_RET(scif_close(c), 0);
	/* the port of a closed endpoint is free again */
	CHECK_RET(scif_close(a), 0);
	a = xopen();
	CHECK_RET(scif_bind(a, (uint16_t)pa), pa);
	CHECK_RET(scif_close(a), 0);
	CHECK_RET(scif_close(b), 0);
}

void test_bind_privileged(void **state)
{
	scif_epd_t a, b;
	pid_t pid;
	int st;

	(void)state;
	if (geteuid() != 0) {
		print_message("not root: nothing to compare with\n");
		skip();
	}
	a = xopen();
	b = xopen();
	CHECK_RET(scif_bind(a, 1000), 1000);
	CHECK_ERR(scif_bind(b, 1000), EINVAL);
	CHECK_RET(scif_bind(b, 1), 1);
	CHECK_RET(scif_close(a), 0);
	CHECK_RET(scif_close(b), 0);

	/* The same from a process that dropped its privileges.  fork() after
	 * the library initialised is not supported (docs/endpoints.md): run
	 * this program again (unpriv_main). */
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char *args[] = { "/proc/self/exe", "unpriv", g_orig_map, NULL };

		execv(args[0], args);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	if (!WIFEXITED(st) || WEXITSTATUS(st))
		fail_msg("unprivileged child: %s %d (see unpriv_main)",
			 WIFEXITED(st) ? "exit" : "signal",
			 WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
}

/* Run this program again as "t_errno child ARGS..." with the node map we
 * were given and extra environment (NAME=VALUE or NULL); returns its exit
 * status (-1: it did not exit).  The environment is built before fork():
 * the child of a threaded process only calls execve. */
static pid_t start_child(const char *envset, char *const args[])
{
	extern char **environ;
	static char mapvar[600];
	char *argv[8] = { "/proc/self/exe", "child" }, *envp[256];
	char *const *a;
	int n = 2, m = 0;
	pid_t pid;

	for (a = args; *a && n < 7; a++)
		argv[n++] = *a;
	argv[n] = NULL;
	snprintf(mapvar, sizeof(mapvar), "SCIF_NODES_FILE=%s", g_orig_map);
	envp[m++] = mapvar;
	if (envset)
		envp[m++] = (char *)envset;
	for (a = environ; *a && m < 255; a++)
		if (strncmp(*a, "SCIF_NODES_FILE=", 16) &&
		    strncmp(*a, "SCIF_PROVIDER=", 14))
			envp[m++] = *a;
	envp[m] = NULL;
	fflush(NULL);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		execve(argv[0], argv, envp);
		_exit(127);
	}
	return pid;
}

static int wait_child(pid_t pid)
{
	int st;

	assert_int_equal(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int run_child(const char *envset, char *const args[])
{
	return wait_child(start_child(envset, args));
}

/* A port is unique on the node, across processes: another process cannot
 * bind a port this one holds (EINVAL, as the header says), and gets it once
 * this one has closed it. */
void test_bind_other_process(void **state)
{
	char port[16];
	scif_epd_t a = xopen();
	int p;

	(void)state;
	p = scif_bind(a, 0);
	assert_true(p >= SCIF_PORT_RSVD);
	snprintf(port, sizeof(port), "%d", p);
	assert_int_equal(run_child(NULL, (char *[]){ "bind", port, "EINVAL",
						     NULL }),
			 0);
	CHECK_RET(scif_close(a), 0);
	assert_int_equal(run_child(NULL, (char *[]){ "bind", port, "0", NULL }),
			 0);
}

/* SCIF_PROVIDER picks the transports: the one under test works alone and
 * first in a list in order of preference; without it every usable provider
 * is active; a name no provider has makes the library unusable (scif_open:
 * ENODEV), even inside a list. */
void test_provider_env(void **state)
{
	const char *cur = getenv("SCIF_PROVIDER");
	char one[80], list[96];

	(void)state;
	if (!cur || !*cur)
		cur = "shm";
	snprintf(one, sizeof(one), "SCIF_PROVIDER=%s", cur);
	snprintf(list, sizeof(list), "SCIF_PROVIDER=%s,shm", cur);
	assert_int_equal(run_child(one, (char *[]){ "open", "0", NULL }), 0);
	assert_int_equal(run_child(list, (char *[]){ "open", "0", NULL }), 0);
	assert_int_equal(run_child(NULL, (char *[]){ "open", "0", NULL }), 0);
	assert_int_equal(run_child("SCIF_PROVIDER=no-such-provider",
				   (char *[]){ "open", "ENODEV", NULL }),
			 0);
	assert_int_equal(run_child("SCIF_PROVIDER=shm,no-such-provider",
				   (char *[]){ "open", "ENODEV", NULL }),
			 0);
}

/* t_errno child bind PORT WANT | child open WANT: WANT is 0 (success) or
 * the errno name expected.  Exit status 0 when the call did as expected. */
/* Connect to our own node's port, send len bytes of a pattern and exit at
 * once, without scif_close: whatever scif_send reported must arrive. */
static int child_send_exit(uint16_t port, int len)
{
	struct scif_portID dst = { .port = port };
	uint8_t *b = malloc((size_t)len);
	scif_epd_t e = scif_open();

	if (!b || e < 0 || scif_get_nodeIDs(NULL, 0, &dst.node) < 1)
		return 20;
	if (scif_connect(e, &dst) < 0)
		return 21;
	tc_fill(b, (size_t)len, port, 0);
	if (scif_send(e, b, len, SCIF_SEND_BLOCK) != len)
		return 22;
	_exit(0);
}

int child_main(int argc, char **argv)
{
	const char *want;
	scif_epd_t e;
	int r, err;

	alarm(60); /* the node map and self node come from our parent */
	if (argc == 5 && !strcmp(argv[2], "bind")) {
		want = argv[4];
		e = scif_open();
		if (e < 0)
			return 10;
		errno = 0;
		r = scif_bind(e, atoi(argv[3]));
		err = errno;
		scif_close(e);
		if (!strcmp(want, "0"))
			return r == atoi(argv[3]) ? 0 : 11;
		return r == -1 && !strcmp(strerrorname_np(err), want) ? 0 : 12;
	}
	if (argc == 5 && !strcmp(argv[2], "sendexit"))
		return child_send_exit((uint16_t)atoi(argv[3]), atoi(argv[4]));
	if (argc == 4 && !strcmp(argv[2], "open")) {
		want = argv[3];
		errno = 0;
		e = scif_open();
		err = errno;
		if (!strcmp(want, "0"))
			return e >= 0 && !scif_close(e) ? 0 : 13;
		return e == -1 && !strcmp(strerrorname_np(err), want) ? 0 : 14;
	}
	return 2;
}

/* t_errno unpriv MAP: drop to nobody, then open endpoints and bind.  Ports
 * below SCIF_ADMIN_PORT_END are refused with EACCES, the others are not.
 * (Privileges are dropped before the first SCIF call: the kernel refuses
 * rdma_cm descriptors to a process whose credentials changed since it opened
 * them.)  Exit status: 0, or which check failed. */
int unpriv_main(const char *map)
{
	scif_epd_t e, f;
	int p;

	alarm(60);
	setenv("SCIF_NODES_FILE", map, 1);
	if (setresgid(65534, 65534, 65534) || setresuid(65534, 65534, 65534))
		return 11;
	if (geteuid() != 65534)
		return 12;
	/* dropping privileges made us undumpable: LeakSanitizer (ASan builds)
	 * needs to trace this process at exit */
	prctl(PR_SET_DUMPABLE, 1);
	e = scif_open();
	f = scif_open();
	if (e < 0 || f < 0)
		return 10;
	errno = 0;
	if (scif_bind(e, 1000) != -1 || errno != EACCES)
		return 13;
	errno = 0;
	if (scif_bind(e, 1) != -1 || errno != EACCES)
		return 14;
	errno = 0;
	if (scif_bind(e, SCIF_ADMIN_PORT_END - 1) != -1 || errno != EACCES)
		return 15;
	/* refused binds left the endpoint unbound */
	errno = 0;
	if (scif_listen(e, 1) != -1 || errno != EINVAL)
		return 16;
	if (scif_bind(e, SCIF_ADMIN_PORT_END) != SCIF_ADMIN_PORT_END)
		return 17;
	p = scif_bind(f, 0);
	if (p < SCIF_PORT_RSVD)
		return 18;
	if (scif_close(e) || scif_close(f))
		return 19;
	return 0;
}

/* ---- wrong states: bind, listen, connect, accept on connected ends ---- */

void test_connected_states(void **state)
{
	struct scif_portID dst, peer;
	struct pair p;
	scif_epd_t lep, ne = -7;
	uint16_t lport;

	(void)state;
	lep = xlisten(&lport, 4);
	make_pair(lep, lport, &p);
	dst.node = g_self;
	dst.port = lport;
	CHECK_ERR(scif_bind(p.cli, 0), EISCONN);
	CHECK_ERR(scif_bind(p.srv, 0), EISCONN);
	CHECK_ERR(scif_bind(p.cli, 4000), EISCONN);
	CHECK_ERR(scif_listen(p.cli, 1), EISCONN);
	CHECK_ERR(scif_listen(p.srv, 1), EISCONN);
	CHECK_ERR(scif_connect(p.cli, &dst), EISCONN);
	CHECK_ERR(scif_connect(p.srv, &dst), EISCONN);
	CHECK_ERR(scif_accept(p.cli, &peer, &ne, 0), EINVAL);
	CHECK_ERR(scif_accept(p.srv, &peer, &ne, 0), EINVAL);
	assert_int_equal(ne, -7);
	CHECK_RET(scif_get_fd(p.cli), p.cli);
	CHECK_RET(scif_get_fd(p.srv), p.srv);
	/* still usable after all that */
	CHECK_RET(scif_send(p.cli, "ping", 4, SCIF_SEND_BLOCK), 4);
	{
		char b[4];

		CHECK_RET(scif_recv(p.srv, b, 4, SCIF_RECV_BLOCK), 4);
		assert_memory_equal(b, "ping", 4);
	}
	close_pair(&p);
	CHECK_RET(scif_close(lep), 0);
}

/* ---- scif_listen ---- */

void test_listen(void **state)
{
	struct scif_portID dst = { .node = g_self, .port = 0 };
	scif_epd_t e = xopen();
	int port;

	(void)state;
	CHECK_ERR(scif_listen(e, 1), EINVAL); /* not bound */
	port = scif_bind(e, 0);
	assert_true(port >= SCIF_PORT_RSVD);
	CHECK_RET(scif_listen(e, 1), 0);
	CHECK_ERR(scif_listen(e, 1), EISCONN);
	/* "EINVAL - the endpoint ... is already bound" (the kernel driver
	 * answers EISCONN here; the library follows the header) */
	CHECK_ERR(scif_bind(e, 0), EINVAL);
	dst.port = (uint16_t)port;
	CHECK_ERR(scif_connect(e, &dst), EOPNOTSUPP);
	CHECK_RET(scif_get_fd(e), e);
	CHECK_RET(scif_close(e), 0);
}

/* ---- scif_connect ---- */

void test_connect_args(void **state)
{
	struct scif_portID dst = { .node = g_self, .port = 0 };
	scif_epd_t e = xopen();

	(void)state;
	CHECK_ERR(scif_connect(e, NULL), EINVAL);
	CHECK_ERR(scif_connect(e, &dst), EINVAL);
	dst.node = g_unknown;
	dst.port = 2000;
	CHECK_ERR(scif_connect(e, &dst), ENODEV);
	dst.node = 0xffff;
	CHECK_ERR(scif_connect(e, &dst), ENODEV);
	CHECK_RET(scif_close(e), 0);
}

void test_connect_dead_node(void **state)
{
	struct scif_portID dst = { .node = g_dead, .port = 2000 };
	scif_epd_t e = xopen();
	double t0 = tc_now(), dt;

	(void)state;
	CHECK_ERR(scif_connect(e, &dst), ENODEV);
	dt = tc_now() - t0;
	print_message("connect to the dead node failed after %.2f s\n", dt);
	assert_true(dt < 15);
	CHECK_RET(scif_close(e), 0);

	/* the same with O_NONBLOCK: the failure is collected */
	e = xopen();
	set_nonblock(e, 1);
	CHECK_ERR(scif_connect(e, &dst), EINPROGRESS);
	need(e, POLLOUT, POLLOUT, "non-blocking connect to the dead node");
	CHECK_ERR(scif_connect(e, &dst), ENODEV);
	CHECK_RET(scif_close(e), 0);
}

void test_connect_refused(void **state)
{
	struct scif_portID dst = { .node = g_self, .port = 0 };
	scif_epd_t bound = xopen(), e = xopen(), lep;
	uint16_t lport;
	struct pair p;
	int bport, r = 0;

	(void)state;
	/* bound but not listening */
	bport = scif_bind(bound, 0);
	assert_true(bport >= SCIF_PORT_RSVD);
	dst.port = (uint16_t)bport;
	CHECK_ERR(scif_connect(e, &dst), ECONNREFUSED);
	/* a port nobody holds */
	dst.port = 1050;
	CHECK_ERR(scif_connect(e, &dst), ECONNREFUSED);
	/* connect auto-bound e, and a refusal leaves it bound (not
	 * connected): it may simply try again */
	CHECK_ERR(scif_bind(e, 0), EINVAL);
	CHECK_ERR(scif_send(e, &r, 1, 0), ENOTCONN);
	lep = xlisten(&lport, 1);
	dst.port = lport;
	p.cli = e;
	set_nonblock(e, 1);
	CHECK_ERR(scif_connect(e, &dst), EINPROGRESS);
	need(lep, POLLIN, POLLIN, "request after a refused connect");
	CHECK_RET(scif_accept(lep, &p.peer, &p.srv, 0), 0);
	need(e, POLLOUT, POLLOUT, "connect after a refused one");
	r = scif_connect(e, &dst);
	assert_true(r >= SCIF_PORT_RSVD);
	assert_int_equal(p.peer.port, r);
	close_pair(&p);
	CHECK_RET(scif_close(lep), 0);
	CHECK_RET(scif_close(bound), 0);
}

struct connector {
	uint16_t node, port;
	int delay_ms;
	scif_epd_t epd;
	int ret, err;
};

static void *connect_later(void *arg)
{
	struct connector *c = arg;
	struct scif_portID dst = { .node = c->node, .port = c->port };

	usleep((useconds_t)c->delay_ms * 1000);
	c->epd = scif_open();
	errno = 0;
	c->ret = c->epd < 0 ? -1 : scif_connect(c->epd, &dst);
	c->err = errno;
	return NULL;
}

void test_connect_autobind(void **state)
{
	struct connector c = { 0 };
	struct scif_portID peer;
	scif_epd_t lep, s, e;
	uint16_t lport;
	pthread_t th;
	int port;

	(void)state;
	lep = xlisten(&lport, 4);
	/* blocking connect of an unbound endpoint: it gets a port, and the
	 * acceptor sees it */
	c.node = g_self;
	c.port = lport;
	assert_int_equal(pthread_create(&th, NULL, connect_later, &c), 0);
	CHECK_RET(scif_accept(lep, &peer, &s, SCIF_ACCEPT_SYNC), 0);
	assert_int_equal(join_within(th, WAIT_S), 0);
	if (c.ret < SCIF_PORT_RSVD)
		fail_msg("blocking connect: %d (%s)", c.ret,
			 strerrorname_np(c.err));
	assert_int_equal(peer.node, g_self);
	assert_int_equal(peer.port, c.ret);
	/* already connected */
	{
		struct scif_portID dst = { .node = g_self, .port = lport };

		CHECK_ERR(scif_connect(c.epd, &dst), EISCONN);
	}
	CHECK_RET(scif_close(c.epd), 0);
	CHECK_RET(scif_close(s), 0);

	/* an endpoint bound beforehand connects from its port */
	e = xopen();
	port = scif_bind(e, 0);
	assert_true(port >= SCIF_PORT_RSVD);
	{
		struct scif_portID dst = { .node = g_self, .port = lport };

		set_nonblock(e, 1);
		CHECK_ERR(scif_connect(e, &dst), EINPROGRESS);
		need(lep, POLLIN, POLLIN, "request of a bound endpoint");
		CHECK_RET(scif_accept(lep, &peer, &s, 0), 0);
		need(e, POLLOUT, POLLOUT, "connect of a bound endpoint");
		CHECK_RET(scif_connect(e, &dst), port);
		assert_int_equal(peer.port, port);
		assert_int_equal(peer.node, g_self);
		/* collected once: now it is simply connected */
		CHECK_ERR(scif_connect(e, &dst), EISCONN);
	}
	CHECK_RET(scif_close(e), 0);
	CHECK_RET(scif_close(s), 0);
	CHECK_RET(scif_close(lep), 0);
}

void test_connect_nonblock(void **state)
{
	struct scif_portID dst, peer;
	scif_epd_t lep, e, s, bound;
	uint16_t lport;
	int port, bport;
	short rev;

	(void)state;
	lep = xlisten(&lport, 4);
	dst.node = g_self;
	dst.port = lport;
	e = xopen();
	set_nonblock(e, 1);
	/* argument errors are still immediate */
	CHECK_ERR(scif_connect(e, NULL), EINVAL);
	{
		struct scif_portID bad = { .node = g_unknown, .port = lport };

		CHECK_ERR(scif_connect(e, &bad), ENODEV);
	}
	CHECK_ERR(scif_connect(e, &dst), EINPROGRESS);
	/* not complete before it is accepted */
	need(lep, POLLIN, POLLIN, "non-blocking request");
	assert_int_equal(poll1(e, POLLOUT, 0), 0);
	assert_int_equal(fdpoll(e, POLLOUT, 0), 0);
	CHECK_RET(scif_accept(lep, &peer, &s, 0), 0);
	/* completion: POLLOUT on scif_poll and on the descriptor */
	need(e, POLLOUT, POLLOUT, "non-blocking connect");
	rev = fdpoll(e, POLLOUT, 5000);
	assert_true(rev & POLLOUT);
	port = scif_connect(e, &dst);
	assert_true(port >= SCIF_PORT_RSVD);
	assert_int_equal(peer.port, port);
	CHECK_ERR(scif_connect(e, &dst), EISCONN);
	{
		char b[3];

		CHECK_RET(scif_send(e, "abc", 3, SCIF_SEND_BLOCK), 3);
		CHECK_RET(scif_recv(s, b, 3, SCIF_RECV_BLOCK), 3);
		assert_memory_equal(b, "abc", 3);
	}
	CHECK_RET(scif_close(e), 0);
	CHECK_RET(scif_close(s), 0);

	/* nobody listening: EINPROGRESS, POLLOUT, then ECONNREFUSED */
	bound = xopen();
	bport = scif_bind(bound, 0);
	assert_true(bport >= SCIF_PORT_RSVD);
	dst.port = (uint16_t)bport;
	e = xopen();
	set_nonblock(e, 1);
	CHECK_ERR(scif_connect(e, &dst), EINPROGRESS);
	need(e, POLLOUT, POLLOUT, "refused non-blocking connect");
	rev = fdpoll(e, POLLOUT, 5000);
	assert_true(rev & POLLOUT);
	CHECK_ERR(scif_connect(e, &dst), ECONNREFUSED);
	CHECK_RET(scif_close(e), 0);
	CHECK_RET(scif_close(bound), 0);
	CHECK_RET(scif_close(lep), 0);
}

/* ---- scif_accept ---- */

void test_accept_args(void **state)
{
	struct scif_portID peer;
	scif_epd_t lep, e, ne = -7;
	uint16_t lport;

	(void)state;
	lep = xlisten(&lport, 1);
	CHECK_ERR(scif_accept(lep, &peer, &ne, 2), EINVAL);
	CHECK_ERR(scif_accept(lep, &peer, &ne, 3), EINVAL);
	CHECK_ERR(scif_accept(lep, &peer, &ne, -1), EINVAL);
	CHECK_ERR(scif_accept(lep, NULL, &ne, 0), EINVAL);
	CHECK_ERR(scif_accept(lep, &peer, NULL, 0), EINVAL);
	CHECK_ERR(scif_accept(lep, NULL, &ne, SCIF_ACCEPT_SYNC), EINVAL);
	CHECK_ERR(scif_accept(lep, &peer, NULL, SCIF_ACCEPT_SYNC), EINVAL);
	CHECK_ERR(scif_accept(lep, &peer, &ne, 0), EAGAIN);
	assert_int_equal(ne, -7);
	/* not listening: unbound, bound */
	e = xopen();
	CHECK_ERR(scif_accept(e, &peer, &ne, 0), EINVAL);
	CHECK_ERR(scif_accept(e, &peer, &ne, SCIF_ACCEPT_SYNC), EINVAL);
	assert_true(scif_bind(e, 0) >= SCIF_PORT_RSVD);
	CHECK_ERR(scif_accept(e, &peer, &ne, 0), EINVAL);
	CHECK_ERR(scif_accept(e, &peer, &ne, SCIF_ACCEPT_SYNC), EINVAL);
	assert_int_equal(ne, -7);
	CHECK_RET(scif_close(e), 0);
	CHECK_RET(scif_close(lep), 0);
}

void test_accept_pollin(void **state)
{
	struct epoll_event ev = { .events = EPOLLIN }, got;
	struct scif_portID dst, peer;
	scif_epd_t lep, e, s;
	uint16_t lport;
	int epfd, port;

	(void)state;
	lep = xlisten(&lport, 2);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	assert_true(epfd >= 0);
	ev.data.fd = lep;
	assert_int_equal(epoll_ctl(epfd, EPOLL_CTL_ADD, lep, &ev), 0);
	/* nothing pending: no readiness anywhere */
	assert_int_equal(poll1(lep, POLLIN, 0), 0);
	assert_int_equal(fdpoll(lep, POLLIN, 0), 0);
	assert_int_equal(epoll_wait(epfd, &got, 1, 0), 0);

	dst.node = g_self;
	dst.port = lport;
	e = xopen();
	set_nonblock(e, 1);
	CHECK_ERR(scif_connect(e, &dst), EINPROGRESS);
	/* a pending request: POLLIN on scif_poll, poll(2) and epoll */
	need(lep, POLLIN, POLLIN, "pending request");
	assert_true(poll1(lep, POLLIN | POLLOUT, 0) == POLLIN);
	assert_true(fdpoll(lep, POLLIN, 5000) & POLLIN);
	assert_int_equal(epoll_wait(epfd, &got, 1, 5000), 1);
	assert_true(got.events & EPOLLIN);
	assert_int_equal(got.data.fd, lep);

	CHECK_RET(scif_accept(lep, &peer, &s, 0), 0);
	/* consumed: readiness gone */
	assert_int_equal(poll1(lep, POLLIN, 0), 0);
	assert_int_equal(fdpoll(lep, POLLIN, 0), 0);
	assert_int_equal(epoll_wait(epfd, &got, 1, 0), 0);
	CHECK_ERR(scif_accept(lep, &peer, &s, 0), EAGAIN);

	need(e, POLLOUT, POLLOUT, "connect");
	port = scif_connect(e, &dst);
	assert_true(port >= SCIF_PORT_RSVD);
	assert_int_equal(peer.port, port);
	close(epfd);
	CHECK_RET(scif_close(e), 0);
	CHECK_RET(scif_close(s), 0);
	CHECK_RET(scif_close(lep), 0);
}

void test_accept_sync(void **state)
{
	struct connector c = { 0 };
	struct scif_portID peer;
	scif_epd_t lep, s;
	uint16_t lport;
	pthread_t th;
	double t0, dt;

	(void)state;
	lep = xlisten(&lport, 1);
	c.node = g_self;
	c.port = lport;
	c.delay_ms = 300;
	t0 = tc_now();
	assert_int_equal(pthread_create(&th, NULL, connect_later, &c), 0);
	CHECK_RET(scif_accept(lep, &peer, &s, SCIF_ACCEPT_SYNC), 0);
	dt = tc_now() - t0;
	assert_int_equal(join_within(th, WAIT_S), 0);
	print_message("SCIF_ACCEPT_SYNC returned after %.3f s\n", dt);
	assert_true(dt >= 0.25);
	if (c.ret < SCIF_PORT_RSVD)
		fail_msg("connect: %d (%s)", c.ret, strerrorname_np(c.err));
	assert_int_equal(peer.node, g_self);
	assert_int_equal(peer.port, c.ret);
	CHECK_RET(scif_close(c.epd), 0);
	CHECK_RET(scif_close(s), 0);
	CHECK_RET(scif_close(lep), 0);
}

void test_accept_backlog(void **state)
{
	struct scif_portID dst, peer[2], tmp;
	scif_epd_t lep, c[3], s[2], ne = -7;
	uint16_t lport;
	int i, port[2];

	(void)state;
	lep = xlisten(&lport, 2);
	dst.node = g_self;
	dst.port = lport;
	for (i = 0; i < 3; i++) {
		c[i] = xopen();
		set_nonblock(c[i], 1);
	}
	CHECK_ERR(scif_connect(c[0], &dst), EINPROGRESS);
	need(lep, POLLIN, POLLIN, "first request");
	CHECK_ERR(scif_connect(c[1], &dst), EINPROGRESS);
	usleep(1000000); /* the second request reaches the backlog */
	CHECK_ERR(scif_connect(c[2], &dst), EINPROGRESS);
	need(c[2], POLLOUT, POLLOUT, "third connect (over the backlog)");
	CHECK_ERR(scif_connect(c[2], &dst), ECONNREFUSED);
	/* the first two still wait to be accepted */
	assert_int_equal(poll1(c[0], POLLOUT, 0), 0);
	assert_int_equal(poll1(c[1], POLLOUT, 0), 0);
	for (i = 0; i < 2; i++)
		CHECK_RET(scif_accept(lep, &peer[i], &s[i], 0), 0);
	CHECK_ERR(scif_accept(lep, &tmp, &ne, 0), EAGAIN);
	for (i = 0; i < 2; i++) {
		char b;

		need(c[i], POLLOUT, POLLOUT, "accepted connect");
		port[i] = scif_connect(c[i], &dst);
		assert_true(port[i] >= SCIF_PORT_RSVD);
		/* oldest request first */
		assert_int_equal(peer[i].port, port[i]);
		CHECK_RET(scif_send(c[i], &"AB"[i], 1, SCIF_SEND_BLOCK), 1);
		CHECK_RET(scif_recv(s[i], &b, 1, SCIF_RECV_BLOCK), 1);
		assert_int_equal(b, "AB"[i]);
	}
	for (i = 0; i < 3; i++)
		CHECK_RET(scif_close(c[i]), 0);
	for (i = 0; i < 2; i++)
		CHECK_RET(scif_close(s[i]), 0);
	CHECK_RET(scif_close(lep), 0);
}

void test_close_listener_pending(void **state)
{
	struct scif_portID dst;
	scif_epd_t lep, c[2], e;
	uint16_t lport;
	int i;

	(void)state;
	lep = xlisten(&lport, 4);
	dst.node = g_self;
	dst.port = lport;
	for (i = 0; i < 2; i++) {
		c[i] = xopen();
		set_nonblock(c[i], 1);
		CHECK_ERR(scif_connect(c[i], &dst), EINPROGRESS);
	}
	need(lep, POLLIN, POLLIN, "pending requests");
	usleep(500000);
	assert_int_equal(poll1(c[0], POLLOUT, 0), 0);
	/* "Any pending connection requests are rejected." */
	CHECK_RET(scif_close(lep), 0);
	for (i = 0; i < 2; i++) {
		need(c[i], POLLOUT, POLLOUT, "connect to a closed listener");
		CHECK_ERR(scif_connect(c[i], &dst), ECONNREFUSED);
		CHECK_RET(scif_close(c[i]), 0);
	}
	/* and the port is free */
	e = xopen();
	CHECK_RET(scif_bind(e, lport), lport);
	CHECK_RET(scif_close(e), 0);
}

struct acceptor {
	scif_epd_t lep;
	int ret, err;
	volatile int done;
};

static void *accept_sync(void *arg)
{
	struct acceptor *a = arg;
	struct scif_portID peer;
	scif_epd_t ne;

	errno = 0;
	a->ret = scif_accept(a->lep, &peer, &ne, SCIF_ACCEPT_SYNC);
	a->err = errno;
	__atomic_store_n(&a->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

void test_accept_closed_under(void **state)
{
	struct acceptor a = { 0 };
	uint16_t lport;
	pthread_t th;

	(void)state;
	a.lep = xlisten(&lport, 1);
	assert_int_equal(pthread_create(&th, NULL, accept_sync, &a), 0);
	usleep(300000);
	assert_false(__atomic_load_n(&a.done, __ATOMIC_ACQUIRE));
	CHECK_RET(scif_close(a.lep), 0);
	if (join_within(th, WAIT_S))
		fail_msg("scif_accept(SYNC) still blocked %.0f s after the "
			 "listener was closed",
			 WAIT_S);
	if (a.ret != -1 || a.err != EINTR)
		fail_msg("accept on a listener closed under it: want -1/EINTR, "
			 "got %d/%s",
			 a.ret, strerrorname_np(a.err));
}

void *accept_bg(void *arg)
{
	struct gone_accept *g = arg;

	errno = 0;
	g->ret = scif_accept(g->lep, &g->peer, &g->ne, g->flags);
	g->err = errno;
	return NULL;
}

/* A request whose requester closed before it was accepted: "EAGAIN -
 * SCIF_ACCEPT_SYNC is not set and remote node failed to complete its
 * connection request"; with SCIF_ACCEPT_SYNC accept waits for the next. */
void test_accept_requester_gone(void **state)
{
	struct gone_accept g = { 0 };
	struct connector c = { 0 };
	struct scif_portID dst;
	scif_epd_t lep, e;
	uint16_t lport;
	pthread_t th, cth;
	int pass, nfd;

	(void)state;
	lep = xlisten(&lport, 4);
	dst.node = g_self;
	dst.port = lport;
	nfd = count_fds();
	for (pass = 0; pass < 2; pass++) {
		e = xopen();
		set_nonblock(e, 1);
		CHECK_ERR(scif_connect(e, &dst), EINPROGRESS);
		need(lep, POLLIN, POLLIN, "request");
		CHECK_RET(scif_close(e), 0);
		usleep(300000);
		memset(&g, 0, sizeof(g));
		g.lep = lep;
		g.ne = -7;
		g.flags = pass ? SCIF_ACCEPT_SYNC : 0;
		assert_int_equal(pthread_create(&th, NULL, accept_bg, &g), 0);
		if (pass) { /* a live requester comes later */
			memset(&c, 0, sizeof(c));
			c.node = g_self;
			c.port = lport;
			c.delay_ms = 300;
			assert_int_equal(
				pthread_create(&cth, NULL, connect_later, &c),
				0);
		}
		if (join_within(th, WAIT_S))
			fail_msg("accept(%s) of a request whose requester "
				 "closed: still blocked after %.0f s",
				 pass ? "SYNC" : "0", WAIT_S);
		if (!pass) {
			if (g.ret != -1 || g.err != EAGAIN)
				fail_msg("accept of a dead request: want "
					 "-1/EAGAIN, got %d/%s",
					 g.ret, strerrorname_np(g.err));
			assert_int_equal(g.ne, -7);
			continue;
		}
		assert_int_equal(join_within(cth, WAIT_S), 0);
		if (g.ret != 0)
			fail_msg("accept(SYNC) past a dead request: %d/%s",
				 g.ret, strerrorname_np(g.err));
		if (c.ret < SCIF_PORT_RSVD)
			fail_msg("connect: %d/%s", c.ret,
				 strerrorname_np(c.err));
		assert_int_equal(g.peer.port, c.ret);
		CHECK_RET(scif_close(g.ne), 0);
		CHECK_RET(scif_close(c.epd), 0);
	}
	CHECK_ERR(scif_accept(lep, &g.peer, &g.ne, 0), EAGAIN);
	/* the failed accepts left nothing behind */
	fds_back_to(nfd, "after accepting dead requests");
	CHECK_RET(scif_close(lep), 0);
}

/* Sent means delivered: a process that exits right after scif_send
 * returned, without closing, loses nothing (its data reached the peer
 * before the call returned). */
void test_send_exit(void **state)
{
	const int len = 256 * 1024;
	const char *prov = getenv("SCIF_PROVIDER");
	uint8_t *b = malloc((size_t)len + 1);
	scif_epd_t lep, s;
	struct scif_portID peer;
	uint16_t lport;
	char port[16], size[16], env[80] = "";
	int i, got;

	(void)state;
	assert_non_null(b);
	/* the child goes over the transport under test (run_child drops
	 * SCIF_PROVIDER unless told) */
	if (prov && *prov)
		snprintf(env, sizeof(env), "SCIF_PROVIDER=%s", prov);
	lep = xlisten(&lport, 4);
	snprintf(port, sizeof(port), "%u", lport);
	snprintf(size, sizeof(size), "%d", len);
	for (i = 0; i < 20; i++) {
		pid_t pid = start_child(*env ? env : NULL,
					(char *[]){ "sendexit", port, size,
						    NULL });

		need(lep, POLLIN, POLLIN, "the child's connection");
		CHECK_RET(scif_accept(lep, &peer, &s, 0), 0);
		assert_int_equal(wait_child(pid), 0); /* gone, not closed */
		got = scif_recv(s, b, len + 1, SCIF_RECV_BLOCK);
		if (got != len)
			fail_msg("round %d: %d of %d bytes arrived (errno %s)",
				 i, got, len, strerrorname_np(errno));
		assert_true(tc_verify(b, (size_t)len, lport, 0) < 0);
		CHECK_ERR(scif_recv(s, b, 1, SCIF_RECV_BLOCK), ECONNRESET);
		CHECK_RET(scif_close(s), 0);
	}
	CHECK_RET(scif_close(lep), 0);
	free(b);
}
