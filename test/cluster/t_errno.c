/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * t_errno: the return value and errno of every SCIF call, as the API header
 * (the kernel's linux/scif.h) documents them, on a real rxe device.
 *
 *   t_errno                 everything in one process: listeners and the
 *                           endpoints that connect to them (rxe loopback)
 *   t_errno server [...]    cross-node subset, server role (pair.sh)
 *   t_errno client NODE     cross-node subset, client of node NODE
 *   t_errno unpriv MAP      helper: binds as nobody (test_bind_privileged)
 *
 * Before its first SCIF call the program writes its own node map: the given
 * one (SCIF_NODES_FILE) plus a node at 192.0.2.99, where nobody answers, for
 * the dead-node paths of scif_connect() and scif_get_nodeIDs().  Address
 * resolution and node probes are shortened (SCIF_VERBS_RESOLVE_MS,
 * SCIF_NODE_PROBE_MS) so that those paths take a second or two.
 *
 * Where the header leaves a choice open, the test pins what the library
 * documents (docs/endpoints.md):
 *  - scif_accept(SCIF_ACCEPT_SYNC) blocked while another thread closes the
 *    listener returns -1/EINTR (as the kernel driver);
 *  - closing a listener rejects its pending requests: their connects end in
 *    ECONNREFUSED;
 *  - a blocking scif_recv() on an endpoint whose peer left returns what was
 *    still queued (a short count), then -1/ECONNRESET; a blocked send
 *    returns its partial count;
 *  - scif_bind() on a listening endpoint: EINVAL ("already bound"; the
 *    kernel driver says EISCONN);
 *  - signals interrupt scif_poll() (EINTR) but not blocking accept/recv.
 * The first and last tests count the process's descriptors: every close,
 * failed connect and failed accept must give back what it took.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tc.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#define DEAD_ADDR "192.0.2.99"
#define MAX_NODES 64
#define WAIT_S 20.0 /* upper bound for anything that should take ms */

/* scif_register checks its arguments before the state (as the driver):
 * state errors need a page-aligned buffer to show. */
static char page_buf[4096] __attribute__((aligned(4096)));

static uint16_t g_self;	   /* SCIF_SELF_NODE */
static uint16_t g_dead;	   /* in our map, never answers */
static uint16_t g_unknown; /* in no map */
static uint16_t g_live[MAX_NODES];
static int g_nlive; /* nodes of the given map: all expected online */
static uint16_t g_server_node; /* pair mode, client role */
static char g_orig_map[512];	/* SCIF_NODES_FILE as given */

/* ---- checks ---- */

#define CHECK_ERR(call, want)                                                \
	do {                                                                 \
		long r_;                                                     \
		int e_;                                                      \
		errno = 0;                                                   \
		r_ = (long)(call);                                           \
		e_ = errno;                                                  \
		if (r_ != -1 || e_ != (want))                                \
			fail_msg("%s: want -1/%s, got %ld/%s", #call,        \
				 strerrorname_np(want), r_,                  \
				 e_ ? strerrorname_np(e_) : "0");            \
	} while (0)

#define CHECK_RET(call, want)                                                \
	do {                                                                 \
		long r_, w_ = (long)(want);                                  \
		int e_;                                                      \
		errno = 0;                                                   \
		r_ = (long)(call);                                           \
		e_ = errno;                                                  \
		if (r_ != w_)                                                \
			fail_msg("%s: want %ld, got %ld (errno %s)", #call,  \
				 w_, r_, e_ ? strerrorname_np(e_) : "0");    \
	} while (0)

static scif_epd_t xopen(void)
{
	scif_epd_t e = scif_open();

	if (e < 0)
		fail_msg("scif_open: %s", strerror(errno));
	return e;
}

static scif_epd_t xlisten(uint16_t *port, int backlog)
{
	scif_epd_t e = xopen();
	int p = scif_bind(e, 0);

	if (p < SCIF_PORT_RSVD)
		fail_msg("scif_bind(0) = %d (%s)", p, strerror(errno));
	CHECK_RET(scif_listen(e, backlog), 0);
	*port = (uint16_t)p;
	return e;
}

static void set_nonblock(int fd, int on)
{
	int fl = fcntl(fd, F_GETFL);

	assert_true(fl >= 0);
	fl = on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK;
	assert_int_equal(fcntl(fd, F_SETFL, fl), 0);
}

/* scif_poll on one endpoint: revents (0 on timeout). */
static short poll1(scif_epd_t e, short events, long ms)
{
	struct scif_pollepd pe = { .epd = e, .events = events, .revents = 0 };
	int n = scif_poll(&pe, 1, ms);

	if (n < 0)
		fail_msg("scif_poll: %s", strerror(errno));
	if (n != (pe.revents ? 1 : 0))
		fail_msg("scif_poll returned %d with revents %#x", n,
			 pe.revents);
	return pe.revents;
}

/* Poll until bit is reported (or secs pass); the last revents. */
static short wait_for(scif_epd_t e, short events, short bit, double secs)
{
	double end = tc_now() + secs;
	short rev = 0;

	while (!(rev & bit) && tc_now() < end) {
		rev = poll1(e, events, 200);
		if (rev && !(rev & bit))
			usleep(10000); /* reported something else: don't spin */
	}
	return rev;
}

static void need(scif_epd_t e, short events, short bit, const char *what)
{
	short rev = wait_for(e, events, bit, WAIT_S);

	if (!(rev & bit))
		fail_msg("%s: no %#x within %.0f s (revents %#x)", what, bit,
			 WAIT_S, rev);
}

/* poll(2) on a descriptor. */
static short fdpoll(int fd, short events, int ms)
{
	struct pollfd p = { .fd = fd, .events = events, .revents = 0 };
	int n = poll(&p, 1, ms);

	if (n < 0)
		fail_msg("poll: %s", strerror(errno));
	return p.revents;
}

static int join_within(pthread_t th, double secs)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)secs;
	return pthread_timedjoin_np(th, NULL, &ts);
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n - 1; /* the directory's own descriptor */
}

/* The process holds want descriptors again (within a few seconds: a
 * connection's resources may be released by the progress thread). */
static void fds_back_to(int want, const char *what)
{
	double end = tc_now() + 3;
	int n;

	while ((n = count_fds()) != want && tc_now() < end)
		usleep(50000);
	if (n != want)
		fail_msg("%s: %d descriptors open, %d before (leak)", what, n,
			 want);
}

/* A connected pair over loopback: cli connects (O_NONBLOCK, then collected),
 * srv is what the listener accepted. */
struct pair {
	scif_epd_t cli, srv;
	int cport;
	struct scif_portID peer; /* what accept reported */
};

static void make_pair(scif_epd_t lep, uint16_t lport, struct pair *p)
{
	struct scif_portID dst = { .node = g_self, .port = lport };

	p->cli = xopen();
	set_nonblock(p->cli, 1);
	CHECK_ERR(scif_connect(p->cli, &dst), EINPROGRESS);
	need(lep, POLLIN, POLLIN, "connection request");
	CHECK_RET(scif_accept(lep, &p->peer, &p->srv, 0), 0);
	need(p->cli, POLLOUT, POLLOUT, "connect completion");
	p->cport = scif_connect(p->cli, &dst);
	if (p->cport < SCIF_PORT_RSVD)
		fail_msg("collecting the connect: %d (%s)", p->cport,
			 strerror(errno));
	set_nonblock(p->cli, 0);
	assert_int_equal(p->peer.node, g_self);
	assert_int_equal(p->peer.port, p->cport);
}

static void close_pair(struct pair *p)
{
	CHECK_RET(scif_close(p->cli), 0);
	CHECK_RET(scif_close(p->srv), 0);
}

/* ---- node map ---- */

static int in_map(uint16_t id)
{
	int i;

	for (i = 0; i < g_nlive; i++)
		if (g_live[i] == id)
			return 1;
	return 0;
}

/* Our map = the given one + g_dead at DEAD_ADDR; done before any scif_ call. */
static int setup_env(void)
{
	const char *path = getenv("SCIF_NODES_FILE");
	const char *self = getenv("SCIF_SELF_NODE");
	static char out[64];
	char line[512];
	FILE *in, *o;

	if (!path || !self || !*self) {
		fprintf(stderr, "t_errno: SCIF_NODES_FILE and SCIF_SELF_NODE "
				"must be set (run it in test/cluster/cluster.sh)\n");
		return -1;
	}
	g_self = (uint16_t)atoi(self);
	snprintf(g_orig_map, sizeof(g_orig_map), "%s", path);
	in = fopen(path, "r");
	if (!in) {
		perror(path);
		return -1;
	}
	snprintf(out, sizeof(out), "/tmp/t_errno_nodes.%d", (int)getpid());
	o = fopen(out, "w");
	if (!o) {
		perror(out);
		fclose(in);
		return -1;
	}
	while (fgets(line, sizeof(line), in)) {
		char addr[256], *hash;
		unsigned id;

		fputs(line, o);
		if (!strchr(line, '\n'))
			fputc('\n', o);
		hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		if (sscanf(line, "%u %255s", &id, addr) != 2)
			continue;
		if (!strcmp(addr, DEAD_ADDR) || g_nlive == MAX_NODES) {
			fprintf(stderr, "t_errno: unexpected node map\n");
			return -1;
		}
		g_live[g_nlive++] = (uint16_t)id;
	}
	fclose(in);
	for (g_dead = 9; in_map(g_dead); g_dead++)
		;
	for (g_unknown = 4242; in_map(g_unknown) || g_unknown == g_dead;
	     g_unknown++)
		;
	fprintf(o, "%u %s\n", g_dead, DEAD_ADDR);
	if (fclose(o)) {
		perror(out);
		return -1;
	}
	if (!in_map(g_self)) {
		fprintf(stderr, "t_errno: self node %u not in the map\n",
			g_self);
		return -1;
	}
	setenv("SCIF_NODES_FILE", out, 1);
	setenv("SCIF_VERBS_RESOLVE_MS", "1500", 1);
	setenv("SCIF_NODE_PROBE_MS", "1000", 1);
	return 0;
}

static int group_setup(void **state)
{
	scif_epd_t e;

	(void)state;
	/* The first call initialises the library (reads our map). */
	e = scif_open();
	unlink(getenv("SCIF_NODES_FILE"));
	if (e < 0) {
		fprintf(stderr, "t_errno: scif_open: %s\n", strerror(errno));
		return -1;
	}
	return scif_close(e);
}

/* ---- scif_open, scif_close, scif_get_fd ---- */

static void test_open_close(void **state)
{
	scif_epd_t e = xopen();
	int fl;

	(void)state;
	fl = fcntl(e, F_GETFL);
	assert_true(fl >= 0);
	assert_false(fl & O_NONBLOCK);
	assert_true(fcntl(e, F_GETFD) >= 0);
	CHECK_RET(scif_get_fd(e), e);
	CHECK_RET(scif_close(e), 0);
	CHECK_ERR(scif_close(e), EBADF);
	CHECK_ERR(scif_get_fd(e), EBADF);
	/* the descriptor itself is gone */
	assert_int_equal(fcntl(e, F_GETFD), -1);
}

/* ---- descriptors that are no endpoint ---- */

static void all_calls_fail(int fd, int want)
{
	struct scif_portID dst = { .node = g_self, .port = 2000 }, peer;
	static char buf[4096] __attribute__((aligned(4096)));
	scif_epd_t ne = -7;
	int mark;

	CHECK_ERR(scif_bind(fd, 0), want);
	CHECK_ERR(scif_bind(fd, 3000), want);
	CHECK_ERR(scif_listen(fd, 1), want);
	CHECK_ERR(scif_connect(fd, &dst), want);
	CHECK_ERR(scif_accept(fd, &peer, &ne, 0), want);
	CHECK_ERR(scif_accept(fd, &peer, &ne, SCIF_ACCEPT_SYNC), want);
	assert_int_equal(ne, -7);
	CHECK_ERR(scif_send(fd, buf, 1, 0), want);
	CHECK_ERR(scif_send(fd, buf, 1, SCIF_SEND_BLOCK), want);
	CHECK_ERR(scif_recv(fd, buf, 1, 0), want);
	CHECK_ERR(scif_recv(fd, buf, 1, SCIF_RECV_BLOCK), want);
	CHECK_ERR(scif_register(fd, buf, sizeof(buf), 0,
				SCIF_PROT_READ | SCIF_PROT_WRITE, 0),
		  want);
	CHECK_ERR(scif_unregister(fd, 0, sizeof(buf)), want);
	CHECK_ERR(scif_readfrom(fd, 0, 4096, 0, 0), want);
	CHECK_ERR(scif_writeto(fd, 0, 4096, 0, 0), want);
	CHECK_ERR(scif_fence_mark(fd, SCIF_FENCE_INIT_SELF, &mark), want);
	CHECK_ERR(scif_get_fd(fd), want);
	CHECK_ERR(scif_close(fd), want);
}

static void test_bad_descriptors(void **state)
{
	struct scif_pollepd pe[6];
	scif_epd_t lep, closed_ep;
	int p[2], q[2], closed_fd;
	uint16_t lport;
	unsigned i;

	(void)state;
	/* Allocate every descriptor first, then close some: no number is
	 * reused while the checks run. */
	lep = xlisten(&lport, 1);
	assert_int_equal(pipe(p), 0);
	closed_ep = xopen();
	assert_int_equal(pipe(q), 0);
	closed_fd = q[0];
	close(q[0]);
	close(q[1]);
	CHECK_RET(scif_close(closed_ep), 0);
	assert_int_equal(fcntl(closed_fd, F_GETFD), -1);
	assert_int_equal(fcntl(closed_ep, F_GETFD), -1);

	all_calls_fail(-1, EBADF);
	all_calls_fail(INT_MIN, EBADF);
	all_calls_fail(closed_fd, EBADF);
	all_calls_fail(1 << 20, EBADF); /* beyond any table */
	all_calls_fail(closed_ep, EBADF);
	all_calls_fail(p[0], ENOTTY);
	all_calls_fail(p[1], ENOTTY);
	/* scif_close left the pipe alone */
	assert_true(fcntl(p[0], F_GETFD) >= 0);
	assert_int_equal(write(p[1], "x", 1), 1);

	memset(pe, 0, sizeof(pe));
	pe[0].epd = -1;
	pe[1].epd = closed_fd;
	pe[2].epd = p[0];
	pe[3].epd = closed_ep;
	pe[4].epd = lep; /* valid, nothing pending */
	pe[5].epd = 1 << 20;
	for (i = 0; i < 6; i++) {
		pe[i].events = POLLIN | POLLOUT;
		pe[i].revents = (short)0x7fff;
	}
	CHECK_RET(scif_poll(pe, 6, 0), 5);
	for (i = 0; i < 6; i++)
		assert_int_equal(pe[i].revents, i == 4 ? 0 : POLLNVAL);
	/* An invalid entry ends a blocking poll at once. */
	CHECK_RET(scif_poll(pe, 1, -1), 1);
	assert_int_equal(pe[0].revents, POLLNVAL);

	close(p[0]);
	close(p[1]);
	CHECK_RET(scif_close(lep), 0);
}

/* ---- scif_bind ---- */

static void test_bind(void **state)
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

static void test_bind_privileged(void **state)
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

/* t_errno unpriv MAP: drop to nobody, then open endpoints and bind.  Ports
 * below SCIF_ADMIN_PORT_END are refused with EACCES, the others are not.
 * (Privileges are dropped before the first SCIF call: the kernel refuses
 * rdma_cm descriptors to a process whose credentials changed since it opened
 * them.)  Exit status: 0, or which check failed. */
static int unpriv_main(const char *map)
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

static void test_connected_states(void **state)
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

static void test_listen(void **state)
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

static void test_connect_args(void **state)
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

static void test_connect_dead_node(void **state)
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

static void test_connect_refused(void **state)
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

static void test_connect_autobind(void **state)
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

static void test_connect_nonblock(void **state)
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

static void test_accept_args(void **state)
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

static void test_accept_pollin(void **state)
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

static void test_accept_sync(void **state)
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

static void test_accept_backlog(void **state)
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

static void test_close_listener_pending(void **state)
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

static void test_accept_closed_under(void **state)
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

struct gone_accept {
	scif_epd_t lep;
	int flags, ret, err;
	scif_epd_t ne;
	struct scif_portID peer;
};

static void *accept_bg(void *arg)
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
static void test_accept_requester_gone(void **state)
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

/* ---- scif_send, scif_recv ---- */

static void test_msg_args(void **state)
{
	scif_epd_t lep, e, b;
	uint16_t lport;
	struct pair p;
	char buf[16] = "0123456789";

	(void)state;
	lep = xlisten(&lport, 2);
	make_pair(lep, lport, &p);
	CHECK_ERR(scif_send(p.cli, buf, -1, 0), EINVAL);
	CHECK_ERR(scif_send(p.cli, buf, INT_MIN, SCIF_SEND_BLOCK), EINVAL);
	CHECK_ERR(scif_send(p.cli, buf, 1, 2), EINVAL);
	CHECK_ERR(scif_send(p.cli, buf, 1, 3), EINVAL);
	CHECK_ERR(scif_recv(p.srv, buf, -1, 0), EINVAL);
	CHECK_ERR(scif_recv(p.srv, buf, INT_MIN, SCIF_RECV_BLOCK), EINVAL);
	CHECK_ERR(scif_recv(p.srv, buf, 1, 2), EINVAL);
	CHECK_ERR(scif_recv(p.srv, buf, 1, 3), EINVAL);
	CHECK_RET(scif_send(p.cli, buf, 0, 0), 0);
	CHECK_RET(scif_send(p.cli, buf, 0, SCIF_SEND_BLOCK), 0);
	CHECK_RET(scif_recv(p.srv, buf, 0, 0), 0);
	CHECK_RET(scif_recv(p.srv, buf, 0, SCIF_RECV_BLOCK), 0);
	/* nothing queued: a non-blocking receive takes nothing */
	CHECK_RET(scif_recv(p.srv, buf, 16, 0), 0);
	CHECK_RET(scif_recv(p.cli, buf, 16, 0), 0);
	/* none of the above sent a byte */
	CHECK_RET(scif_send(p.cli, "x", 1, 0), 1);
	CHECK_RET(scif_recv(p.srv, buf, 1, SCIF_RECV_BLOCK), 1);
	assert_int_equal(buf[0], 'x');
	CHECK_RET(scif_recv(p.srv, buf, 16, 0), 0);

	/* not connected: unbound, bound, listening */
	e = xopen();
	b = xopen();
	assert_true(scif_bind(b, 0) >= SCIF_PORT_RSVD);
	{
		scif_epd_t un[3] = { e, b, lep };
		int i;

		for (i = 0; i < 3; i++) {
			CHECK_ERR(scif_send(un[i], buf, 1, 0), ENOTCONN);
			CHECK_ERR(scif_send(un[i], buf, 1, SCIF_SEND_BLOCK),
				  ENOTCONN);
			CHECK_ERR(scif_recv(un[i], buf, 1, 0), ENOTCONN);
			CHECK_ERR(scif_recv(un[i], buf, 1, SCIF_RECV_BLOCK),
				  ENOTCONN);
			CHECK_ERR(scif_register(un[i], page_buf, 4096, 0,
						SCIF_PROT_READ, 0),
				  ENOTCONN);
			/* argument errors come first */
			CHECK_ERR(scif_send(un[i], buf, -1, 0), EINVAL);
			CHECK_ERR(scif_recv(un[i], buf, 1, 2), EINVAL);
		}
	}
	CHECK_RET(scif_close(e), 0);
	CHECK_RET(scif_close(b), 0);
	close_pair(&p);
	CHECK_RET(scif_close(lep), 0);
}

#define TAIL 1000

/* One side sends TAIL bytes and closes; the survivor drains them, then sees
 * ECONNRESET and POLLHUP. */
static void peer_close(int server_closes)
{
	uint8_t out[TAIL], in[8192];
	scif_epd_t lep, gone, surv;
	uint16_t lport;
	struct pair p;
	short rev;

	lep = xlisten(&lport, 1);
	make_pair(lep, lport, &p);
	gone = server_closes ? p.srv : p.cli;
	surv = server_closes ? p.cli : p.srv;
	tc_fill(out, TAIL, 0x55, 0);
	CHECK_RET(scif_send(gone, out, TAIL, SCIF_SEND_BLOCK), TAIL);
	CHECK_RET(scif_close(gone), 0);

	rev = wait_for(surv, POLLIN, POLLHUP, WAIT_S);
	if (!(rev & POLLHUP))
		fail_msg("no POLLHUP after the peer closed (revents %#x)", rev);
	assert_true(rev & POLLIN); /* the data is still there */
	assert_true(fdpoll(surv, POLLIN, 0) & POLLHUP);
	assert_true(fdpoll(surv, POLLOUT, 0) & POLLHUP);
	CHECK_RET(scif_recv(surv, in, 600, 0), 600);
	/* blocking: the rest, short, since no more can come */
	CHECK_RET(scif_recv(surv, in + 600, (int)sizeof(in) - 600,
			    SCIF_RECV_BLOCK),
		  TAIL - 600);
	assert_true(tc_verify(in, TAIL, 0x55, 0) < 0);
	CHECK_ERR(scif_recv(surv, in, 1, SCIF_RECV_BLOCK), ECONNRESET);
	CHECK_ERR(scif_recv(surv, in, 1, 0), ECONNRESET);
	CHECK_ERR(scif_send(surv, out, 1, 0), ECONNRESET);
	CHECK_ERR(scif_send(surv, out, 1, SCIF_SEND_BLOCK), ECONNRESET);
	rev = poll1(surv, POLLIN | POLLOUT, 0);
	assert_true(rev & POLLHUP);
	assert_false(rev & POLLIN);
	/* still an endpoint, in the disconnected state */
	CHECK_RET(scif_get_fd(surv), surv);
	CHECK_ERR(scif_listen(surv, 1), EINVAL);
	CHECK_RET(scif_close(surv), 0);
	CHECK_ERR(scif_close(surv), EBADF);
	CHECK_RET(scif_close(lep), 0);
}

static void test_peer_close_server(void **state)
{
	(void)state;
	peer_close(1);
}

static void test_peer_close_client(void **state)
{
	(void)state;
	peer_close(0);
}

struct blocked_io {
	scif_epd_t epd;
	int send, len;
	char *buf;
	int ret, err;
	volatile int done;
};

static void *blocked_io(void *arg)
{
	struct blocked_io *b = arg;

	errno = 0;
	b->ret = b->send ? scif_send(b->epd, b->buf, b->len, SCIF_SEND_BLOCK) :
			   scif_recv(b->epd, b->buf, b->len, SCIF_RECV_BLOCK);
	b->err = errno;
	__atomic_store_n(&b->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* Calls blocked when the peer closes return: recv -1/ECONNRESET, send the
 * bytes it got out (the header: successful if some bytes were sent). */
static void test_peer_close_blocked(void **state)
{
	struct blocked_io r = { 0 }, s = { 0 };
	scif_epd_t lep;
	uint16_t lport;
	struct pair p1, p2;
	pthread_t th;
	char rb[100];

	(void)state;
	lep = xlisten(&lport, 2);
	make_pair(lep, lport, &p1);
	make_pair(lep, lport, &p2);

	r.epd = p1.cli;
	r.buf = rb;
	r.len = sizeof(rb);
	assert_int_equal(pthread_create(&th, NULL, blocked_io, &r), 0);
	usleep(300000);
	assert_false(__atomic_load_n(&r.done, __ATOMIC_ACQUIRE));
	CHECK_RET(scif_close(p1.srv), 0);
	if (join_within(th, WAIT_S))
		fail_msg("blocking recv not woken by the peer's close");
	if (r.ret != -1 || r.err != ECONNRESET)
		fail_msg("blocked recv: want -1/ECONNRESET, got %d/%s", r.ret,
			 strerrorname_np(r.err));
	CHECK_RET(scif_close(p1.cli), 0);

	/* 8 MiB cannot fit in the peer's receive ring */
	s.epd = p2.cli;
	s.len = 8 << 20;
	s.buf = calloc(1, (size_t)s.len);
	s.send = 1;
	assert_non_null(s.buf);
	assert_int_equal(pthread_create(&th, NULL, blocked_io, &s), 0);
	usleep(500000);
	assert_false(__atomic_load_n(&s.done, __ATOMIC_ACQUIRE));
	CHECK_RET(scif_close(p2.srv), 0);
	if (join_within(th, WAIT_S))
		fail_msg("blocking send not woken by the peer's close");
	free(s.buf);
	if (s.ret <= 0 || s.ret >= s.len)
		fail_msg("blocked send: want a partial count, got %d/%s",
			 s.ret, strerrorname_np(s.err));
	print_message("blocked send returned %d of %d bytes\n", s.ret, s.len);
	CHECK_ERR(scif_send(p2.cli, rb, 1, SCIF_SEND_BLOCK), ECONNRESET);
	CHECK_RET(scif_close(p2.cli), 0);
	CHECK_RET(scif_close(lep), 0);
}

static void test_epoll_connected(void **state)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT }, got;
	uint8_t *buf;
	scif_epd_t lep;
	uint16_t lport;
	struct pair p;
	int epfd, sent, n;

	(void)state;
	lep = xlisten(&lport, 1);
	make_pair(lep, lport, &p);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	assert_true(epfd >= 0);
	ev.data.fd = p.cli;
	assert_int_equal(epoll_ctl(epfd, EPOLL_CTL_ADD, p.cli, &ev), 0);
	/* connected, nothing received: writable, not readable */
	assert_int_equal(epoll_wait(epfd, &got, 1, 5000), 1);
	assert_int_equal(got.events & (EPOLLIN | EPOLLOUT | EPOLLHUP | EPOLLERR),
			 EPOLLOUT);
	assert_int_equal(poll1(p.cli, POLLIN | POLLOUT, 0), POLLOUT);

	ev.events = EPOLLIN;
	assert_int_equal(epoll_ctl(epfd, EPOLL_CTL_MOD, p.cli, &ev), 0);
	assert_int_equal(epoll_wait(epfd, &got, 1, 0), 0);
	CHECK_RET(scif_send(p.srv, "hello", 5, SCIF_SEND_BLOCK), 5);
	assert_int_equal(epoll_wait(epfd, &got, 1, 10000), 1);
	assert_true(got.events & EPOLLIN);
	{
		char b[8];

		CHECK_RET(scif_recv(p.cli, b, 8, 0), 5);
		assert_memory_equal(b, "hello", 5);
	}
	/* drained: no longer readable */
	assert_int_equal(epoll_wait(epfd, &got, 1, 0), 0);

	/* Fill the peer's receive ring: EPOLLOUT goes away, and comes back
	 * once the peer reads. */
	ev.events = EPOLLOUT;
	assert_int_equal(epoll_ctl(epfd, EPOLL_CTL_MOD, p.cli, &ev), 0);
	buf = malloc(8 << 20);
	assert_non_null(buf);
	tc_fill(buf, 8 << 20, 0x77, 0);
	sent = scif_send(p.cli, buf, 8 << 20, 0);
	if (sent <= 0 || sent >= (8 << 20))
		fail_msg("non-blocking send of 8 MiB: %d", sent);
	CHECK_RET(scif_send(p.cli, buf + sent, 1, 0), 0);
	assert_int_equal(epoll_wait(epfd, &got, 1, 0), 0);
	assert_int_equal(poll1(p.cli, POLLOUT, 0), 0);
	assert_false(fdpoll(p.cli, POLLOUT, 0) & POLLOUT);
	n = scif_recv(p.srv, buf, sent, SCIF_RECV_BLOCK);
	assert_int_equal(n, sent);
	assert_true(tc_verify(buf, (size_t)sent, 0x77, 0) < 0);
	assert_int_equal(epoll_wait(epfd, &got, 1, 10000), 1);
	assert_true(got.events & EPOLLOUT);
	print_message("%d bytes filled the ring\n", sent);
	free(buf);
	close(epfd);
	close_pair(&p);
	CHECK_RET(scif_close(lep), 0);
}

/* ---- scif_poll ---- */

static void test_poll(void **state)
{
	struct scif_pollepd pe[3];
	long open_max = sysconf(_SC_OPEN_MAX);
	scif_epd_t lep, un, b;
	uint16_t lport;
	double t0, dt;

	(void)state;
	lep = xlisten(&lport, 1);
	un = xopen();
	b = xopen();
	assert_true(scif_bind(b, 0) >= SCIF_PORT_RSVD);
	memset(pe, 0, sizeof(pe));
	pe[0].epd = lep;
	pe[0].events = POLLIN;
	assert_true(open_max > 0);
	CHECK_ERR(scif_poll(pe, (unsigned)open_max + 1, 0), EINVAL);
	CHECK_ERR(scif_poll(pe, UINT_MAX, 0), EINVAL);
	CHECK_ERR(scif_poll(pe, UINT_MAX, -1), EINVAL);
	/* nothing ready */
	CHECK_RET(scif_poll(pe, 1, 0), 0);
	assert_int_equal(pe[0].revents, 0);
	CHECK_RET(scif_poll(NULL, 0, 0), 0);
	t0 = tc_now();
	CHECK_RET(scif_poll(pe, 1, 200), 0);
	dt = tc_now() - t0;
	print_message("200 ms poll took %.3f s\n", dt);
	assert_true(dt >= 0.15);
	assert_true(dt < 10);
	/* unbound and bound endpoints: POLLERR, whatever was asked */
	pe[0].epd = un;
	pe[0].events = POLLIN | POLLOUT;
	pe[1].epd = b;
	pe[1].events = 0;
	pe[2].epd = lep;
	pe[2].events = POLLIN | POLLOUT;
	CHECK_RET(scif_poll(pe, 3, -1), 2);
	assert_int_equal(pe[0].revents, POLLERR);
	assert_int_equal(pe[1].revents, POLLERR);
	assert_int_equal(pe[2].revents, 0);
	CHECK_RET(scif_close(un), 0);
	CHECK_RET(scif_close(b), 0);
	CHECK_RET(scif_close(lep), 0);
}

/* ---- signals ---- */

static volatile sig_atomic_t g_sigs;

static void on_sigusr1(int sig)
{
	(void)sig;
	g_sigs++;
}

struct kicker {
	pthread_t target;
	int delay_ms;
};

static void *kick(void *arg)
{
	struct kicker *k = arg;

	usleep((useconds_t)k->delay_ms * 1000);
	pthread_kill(k->target, SIGUSR1);
	return NULL;
}

/* scif_poll: "EINTR - A signal occurred before any requested event".
 * Blocking scif_accept and scif_recv are not interrupted (a documented
 * difference, docs/endpoints.md): the handler runs, the call goes on. */
static void test_signals(void **state)
{
	struct sigaction sa, old;
	struct scif_pollepd pe;
	struct gone_accept g = { 0 };
	struct blocked_io r = { 0 };
	struct kicker k;
	struct scif_portID dst;
	scif_epd_t lep, e;
	uint16_t lport;
	pthread_t th, kt;
	struct pair p;
	double t0, dt;
	char rb[8];
	int port;

	(void)state;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigusr1;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART */
	assert_int_equal(sigaction(SIGUSR1, &sa, &old), 0);
	lep = xlisten(&lport, 2);

	pe.epd = lep;
	pe.events = POLLIN;
	pe.revents = 0;
	k.target = pthread_self();
	k.delay_ms = 300;
	g_sigs = 0;
	assert_int_equal(pthread_create(&kt, NULL, kick, &k), 0);
	t0 = tc_now();
	CHECK_ERR(scif_poll(&pe, 1, 15000), EINTR);
	dt = tc_now() - t0;
	assert_int_equal(join_within(kt, WAIT_S), 0);
	assert_int_equal(g_sigs, 1);
	assert_true(dt >= 0.25 && dt < 10);

	/* accept(SYNC) goes on waiting after the handler ran */
	g.lep = lep;
	g.flags = SCIF_ACCEPT_SYNC;
	g.ne = -7;
	g.ret = -2;
	assert_int_equal(pthread_create(&th, NULL, accept_bg, &g), 0);
	usleep(300000);
	pthread_kill(th, SIGUSR1);
	usleep(300000);
	assert_int_equal(g_sigs, 2);
	assert_int_equal(__atomic_load_n(&g.ret, __ATOMIC_ACQUIRE), -2);
	dst.node = g_self;
	dst.port = lport;
	e = xopen();
	set_nonblock(e, 1);
	CHECK_ERR(scif_connect(e, &dst), EINPROGRESS);
	if (join_within(th, WAIT_S))
		fail_msg("accept(SYNC) never returned after the signal");
	if (g.ret != 0)
		fail_msg("accept(SYNC) after a signal: %d/%s", g.ret,
			 strerrorname_np(g.err));
	need(e, POLLOUT, POLLOUT, "connect");
	port = scif_connect(e, &dst);
	assert_int_equal(g.peer.port, port);
	p.cli = e;
	p.srv = g.ne;

	/* a blocking receive goes on too, and gets its bytes */
	r.epd = p.srv;
	r.buf = rb;
	r.len = 8;
	assert_int_equal(pthread_create(&th, NULL, blocked_io, &r), 0);
	usleep(300000);
	pthread_kill(th, SIGUSR1);
	usleep(300000);
	assert_int_equal(g_sigs, 3);
	assert_false(__atomic_load_n(&r.done, __ATOMIC_ACQUIRE));
	CHECK_RET(scif_send(p.cli, "abcdefgh", 8, SCIF_SEND_BLOCK), 8);
	if (join_within(th, WAIT_S))
		fail_msg("blocking recv never returned after the signal");
	if (r.ret != 8)
		fail_msg("blocking recv after a signal: %d/%s", r.ret,
			 strerrorname_np(r.err));
	assert_memory_equal(rb, "abcdefgh", 8);
	close_pair(&p);
	CHECK_RET(scif_close(lep), 0);
	sigaction(SIGUSR1, &old, NULL);
}

/* ---- scif_get_nodeIDs ---- */

static void check_nodeids(int (*fn)(uint16_t *, int, uint16_t *))
{
	uint16_t nodes[MAX_NODES + 4], self;
	int n, i, j;

	self = 0xabcd;
	n = fn(nodes, MAX_NODES + 4, &self);
	assert_int_equal(n, g_nlive); /* the dead node is not counted */
	assert_int_equal(self, g_self);
	for (i = 0; i < n; i++) {
		assert_int_not_equal(nodes[i], g_dead);
		assert_true(in_map(nodes[i]));
		for (j = 0; j < i; j++)
			assert_int_not_equal(nodes[i], nodes[j]);
	}
	for (i = 0; i < n && nodes[i] != g_self; i++)
		;
	assert_true(i < n);

	self = 0xabcd;
	CHECK_RET(fn(NULL, 0, &self), g_nlive);
	assert_int_equal(self, g_self);
	CHECK_RET(fn(NULL, 0, NULL), g_nlive);

	/* a short array: only len entries written, the count is the full one */
	for (i = 0; i < MAX_NODES + 4; i++)
		nodes[i] = 0xeeee;
	self = 0xabcd;
	CHECK_RET(fn(nodes, g_nlive - 1, &self), g_nlive);
	assert_int_equal(self, g_self);
	for (i = 0; i < MAX_NODES + 4; i++) {
		if (i < g_nlive - 1)
			assert_true(in_map(nodes[i]));
		else
			assert_int_equal(nodes[i], 0xeeee);
	}
}

static void test_nodeids(void **state)
{
	(void)state;
	check_nodeids(scif_get_nodeIDs);
	check_nodeids(scif_get_node_ids);
}

/* ---- scif_get_fd ---- */

static void test_get_fd(void **state)
{
	scif_epd_t lep, e;
	uint16_t lport;
	struct pair p;

	(void)state;
	e = xopen();
	CHECK_RET(scif_get_fd(e), e);
	lep = xlisten(&lport, 1);
	CHECK_RET(scif_get_fd(lep), lep);
	make_pair(lep, lport, &p);
	CHECK_RET(scif_get_fd(p.cli), p.cli);
	CHECK_RET(scif_get_fd(p.srv), p.srv);
	close_pair(&p);
	CHECK_RET(scif_close(lep), 0);
	CHECK_RET(scif_close(e), 0);
}

/* ---- descriptor leaks over the whole run ---- */

static int g_fd_baseline = -1;

/* First test: one connection made and closed, so that whatever the stack
 * opens once per process (device contexts) is open before counting. */
static void test_fd_baseline(void **state)
{
	scif_epd_t lep;
	uint16_t lport;
	struct pair p;

	(void)state;
	lep = xlisten(&lport, 1);
	make_pair(lep, lport, &p);
	close_pair(&p);
	CHECK_RET(scif_close(lep), 0);
	g_fd_baseline = count_fds();
}

/* Last test: every endpoint the tests closed, every failed or refused
 * connect and accept, released its descriptors. */
static void test_fd_leaks(void **state)
{
	(void)state;
	if (g_fd_baseline < 0)
		skip();
	fds_back_to(g_fd_baseline, "after all tests");
}

/* ---- pair mode: across two nodes ---- */

#define PAIR_PORT 3001
#define PAIR_IDLE_PORT 3999 /* nobody listens there */
#define PAIR_SEED 0x99

static scif_epd_t g_pair_lep = -1;

static void peer_node_ok(uint16_t node)
{
	assert_int_not_equal(node, g_self);
	assert_true(in_map(node));
}

static scif_epd_t connect_retry(uint16_t node, uint16_t port)
{
	struct scif_portID dst = { .node = node, .port = port };
	double end = tc_now() + 60;

	for (;;) {
		scif_epd_t e = xopen();
		int r = scif_connect(e, &dst), err = errno;

		if (r >= SCIF_PORT_RSVD)
			return e;
		CHECK_RET(scif_close(e), 0);
		if (r != -1 || err != ECONNREFUSED || tc_now() > end)
			fail_msg("connect to %u:%u: %d/%s", node, port, r,
				 strerrorname_np(err));
		usleep(100000);
	}
}

/* The survivor's side of a close by the other node. */
static void survive(scif_epd_t e, int expect)
{
	uint8_t in[8192];
	short rev = wait_for(e, POLLIN, POLLHUP, 30);

	if (!(rev & POLLHUP))
		fail_msg("no POLLHUP after the remote close (%#x)", rev);
	assert_true(fdpoll(e, POLLIN, 0) & POLLHUP);
	CHECK_RET(scif_recv(e, in, (int)sizeof(in), SCIF_RECV_BLOCK), expect);
	assert_true(tc_verify(in, (size_t)expect, PAIR_SEED, 0) < 0);
	CHECK_ERR(scif_recv(e, in, 1, SCIF_RECV_BLOCK), ECONNRESET);
	CHECK_ERR(scif_recv(e, in, 1, 0), ECONNRESET);
	CHECK_ERR(scif_send(e, in, 1, SCIF_SEND_BLOCK), ECONNRESET);
	CHECK_ERR(scif_send(e, in, 1, 0), ECONNRESET);
	rev = poll1(e, POLLIN | POLLOUT, 0);
	assert_true(rev & POLLHUP);
	assert_false(rev & POLLIN);
	CHECK_RET(scif_close(e), 0);
}

static void send_and_close(scif_epd_t e)
{
	uint8_t out[TAIL];

	tc_fill(out, TAIL, PAIR_SEED, 0);
	CHECK_RET(scif_send(e, out, TAIL, SCIF_SEND_BLOCK), TAIL);
	CHECK_RET(scif_close(e), 0);
}

static void test_pair_refused(void **state)
{
	struct scif_portID dst = { .node = g_server_node,
				   .port = PAIR_IDLE_PORT };
	scif_epd_t e = xopen();

	(void)state;
	CHECK_ERR(scif_connect(e, &dst), ECONNREFUSED);
	CHECK_ERR(scif_connect(e, &dst), ECONNREFUSED);
	CHECK_RET(scif_close(e), 0);
	e = xopen();
	set_nonblock(e, 1);
	CHECK_ERR(scif_connect(e, &dst), EINPROGRESS);
	need(e, POLLOUT, POLLOUT, "refused remote connect");
	assert_true(fdpoll(e, POLLOUT, 0) & POLLOUT);
	CHECK_ERR(scif_connect(e, &dst), ECONNREFUSED);
	CHECK_RET(scif_close(e), 0);
}

/* Client: connection 1 is closed by the server, connection 2 by us. */
static void test_pair_client(void **state)
{
	uint8_t hello[16] = "hello";
	scif_epd_t e;

	(void)state;
	e = connect_retry(g_server_node, PAIR_PORT);
	CHECK_RET(scif_send(e, hello, 16, SCIF_SEND_BLOCK), 16);
	survive(e, TAIL);

	e = connect_retry(g_server_node, PAIR_PORT);
	send_and_close(e);
}

static void test_pair_server(void **state)
{
	struct scif_portID peer;
	uint8_t hello[16];
	uint16_t lport = PAIR_PORT;
	scif_epd_t e;

	(void)state;
	g_pair_lep = xopen();
	CHECK_RET(scif_bind(g_pair_lep, lport), PAIR_PORT);
	CHECK_RET(scif_listen(g_pair_lep, 4), 0);
	CHECK_RET(scif_accept(g_pair_lep, &peer, &e, SCIF_ACCEPT_SYNC), 0);
	peer_node_ok(peer.node);
	CHECK_RET(scif_recv(e, hello, 16, SCIF_RECV_BLOCK), 16);
	assert_memory_equal(hello, "hello", 6);
	send_and_close(e);

	CHECK_RET(scif_accept(g_pair_lep, &peer, &e, SCIF_ACCEPT_SYNC), 0);
	peer_node_ok(peer.node);
	survive(e, TAIL);
	CHECK_RET(scif_close(g_pair_lep), 0);
	g_pair_lep = -1;
}

int main(int argc, char **argv)
{
	const struct CMUnitTest local[] = {
		cmocka_unit_test(test_fd_baseline),
		cmocka_unit_test(test_open_close),
		cmocka_unit_test(test_bad_descriptors),
		cmocka_unit_test(test_bind),
		cmocka_unit_test(test_bind_privileged),
		cmocka_unit_test(test_listen),
		cmocka_unit_test(test_connect_args),
		cmocka_unit_test(test_connect_refused),
		cmocka_unit_test(test_connect_autobind),
		cmocka_unit_test(test_connect_nonblock),
		cmocka_unit_test(test_connect_dead_node),
		cmocka_unit_test(test_connected_states),
		cmocka_unit_test(test_accept_args),
		cmocka_unit_test(test_accept_pollin),
		cmocka_unit_test(test_accept_sync),
		cmocka_unit_test(test_accept_backlog),
		cmocka_unit_test(test_close_listener_pending),
		cmocka_unit_test(test_accept_closed_under),
		cmocka_unit_test(test_accept_requester_gone),
		cmocka_unit_test(test_msg_args),
		cmocka_unit_test(test_peer_close_server),
		cmocka_unit_test(test_peer_close_client),
		cmocka_unit_test(test_peer_close_blocked),
		cmocka_unit_test(test_epoll_connected),
		cmocka_unit_test(test_poll),
		cmocka_unit_test(test_signals),
		cmocka_unit_test(test_nodeids),
		cmocka_unit_test(test_get_fd),
		cmocka_unit_test(test_fd_leaks),
	};
	const struct CMUnitTest server[] = {
		cmocka_unit_test(test_nodeids),
		cmocka_unit_test(test_pair_server),
	};
	const struct CMUnitTest client[] = {
		cmocka_unit_test(test_nodeids),
		cmocka_unit_test(test_pair_refused),
		cmocka_unit_test(test_pair_client),
	};
	int is_server = argc >= 2 && !strcmp(argv[1], "server");

	if (argc == 3 && !strcmp(argv[1], "unpriv"))
		return unpriv_main(argv[2]);
	int is_client = argc == 3 && !strcmp(argv[1], "client");

	if (argc > 1 && !is_server && !is_client) {
		fprintf(stderr, "usage: t_errno | t_errno server [...] | "
				"t_errno client NODE\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	alarm(170); /* safety net: the whole run takes well under that */
	if (setup_env())
		return 2;
	if (is_server)
		return cmocka_run_group_tests_name("t_errno server", server,
						   group_setup, NULL);
	if (is_client) {
		g_server_node = (uint16_t)atoi(argv[2]);
		return cmocka_run_group_tests_name("t_errno client", client,
						   group_setup, NULL);
	}
	return cmocka_run_group_tests_name("t_errno", local, group_setup, NULL);
}
