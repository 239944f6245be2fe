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
 *   t_errno child ...       helper: another process of the node
 *                           (test_bind_other_process, test_provider_env)
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
 *
 * This file holds main() with the test tables, the node map and the
 * helpers (declared in t_errno.h) and the tests of descriptors, node IDs
 * and pair mode; t_errno_conn.c tests bind, listen, connect and accept,
 * t_errno_io.c send/recv, peer close, epoll, scif_poll and signals.
 */
#include "t_errno.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>

#define DEAD_ADDR "192.0.2.99"

uint16_t g_self;    /* SCIF_SELF_NODE */
uint16_t g_dead;    /* in our map, never answers */
uint16_t g_unknown; /* in no map */
static uint16_t g_live[MAX_NODES];
static int g_nlive; /* nodes of the given map: all expected online */
static uint16_t g_server_node; /* pair mode, client role */
char g_orig_map[512]; /* SCIF_NODES_FILE as given */

/* ---- helpers ---- */

scif_epd_t xopen(void)
{
	scif_epd_t e = scif_open();

	if (e < 0)
		fail_msg("scif_open: %s", strerror(errno));
	return e;
}

scif_epd_t xlisten(uint16_t *port, int backlog)
{
	scif_epd_t e = xopen();
	int p = scif_bind(e, 0);

	if (p < SCIF_PORT_RSVD)
		fail_msg("scif_bind(0) = %d (%s)", p, strerror(errno));
	CHECK_RET(scif_listen(e, backlog), 0);
	*port = (uint16_t)p;
	return e;
}

void set_nonblock(int fd, int on)
{
	int fl = fcntl(fd, F_GETFL);

	assert_true(fl >= 0);
	fl = on ? fl | O_NONBLOCK : fl & ~O_NONBLOCK;
	assert_int_equal(fcntl(fd, F_SETFL, fl), 0);
}

/* scif_poll on one endpoint: revents (0 on timeout). */
short poll1(scif_epd_t e, short events, long ms)
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
short wait_for(scif_epd_t e, short events, short bit, double secs)
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

void need(scif_epd_t e, short events, short bit, const char *what)
{
	short rev = wait_for(e, events, bit, WAIT_S);

	if (!(rev & bit))
		fail_msg("%s: no %#x within %.0f s (revents %#x)", what, bit,
			 WAIT_S, rev);
}

/* poll(2) on a descriptor. */
short fdpoll(int fd, short events, int ms)
{
	struct pollfd p = { .fd = fd, .events = events, .revents = 0 };
	int n = poll(&p, 1, ms);

	if (n < 0)
		fail_msg("poll: %s", strerror(errno));
	return p.revents;
}

int join_within(pthread_t th, double secs)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += (time_t)secs;
	return pthread_timedjoin_np(th, NULL, &ts);
}

int count_fds(void)
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
void fds_back_to(int want, const char *what)
{
	double end = tc_now() + 3;
	int n;

	while ((n = count_fds()) != want && tc_now() < end)
		usleep(50000);
	if (n != want)
		fail_msg("%s: %d descriptors open, %d before (leak)", what, n,
			 want);
}

void make_pair(scif_epd_t lep, uint16_t lport, struct pair *p)
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

void close_pair(struct pair *p)
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
		cmocka_unit_test(test_bind_other_process),
		cmocka_unit_test(test_provider_env),
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
		cmocka_unit_test(test_register_offsets),
		cmocka_unit_test(test_register_visible),
		cmocka_unit_test(test_send_poll),
		cmocka_unit_test(test_send_exit),
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
	if (argc >= 2 && !strcmp(argv[1], "child"))
		return child_main(argc, argv);
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
