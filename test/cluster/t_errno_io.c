/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * t_errno, part 3: scif_send and scif_recv, a peer that closes, epoll
 * and scif_poll, signals.  See t_errno.c.
 */
#include "t_errno.h"

#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>

/* scif_register checks its arguments before the state (as the driver):
 * state errors need a page-aligned buffer to show. */
static char page_buf[4096] __attribute__((aligned(4096)));

/* ---- scif_send, scif_recv ---- */

void test_msg_args(void **state)
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

void test_peer_close_server(void **state)
{
	(void)state;
	peer_close(1);
}

void test_peer_close_client(void **state)
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
void test_peer_close_blocked(void **state)
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

void test_epoll_connected(void **state)
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

void test_poll(void **state)
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
void test_signals(void **state)
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

/* scif_register's offsets, as MPSS places them: the first window of an
 * endpoint at VA_GEN_MIN (0x4000000000000000) and upward from there; a free
 * hint is used as given (rounded up to a page), a busy or impossible one
 * never fails the call; SCIF_MAP_FIXED anywhere a window fits below 2^63,
 * and RMA reaches a window up there. */
void test_register_offsets(void **state)
{
	const off_t vagen = (off_t)0x4000000000000000ll;
	const off_t top = (off_t)(0x7fffffffffffffffull - 8191); /* 2^63-8K */
	scif_epd_t lep;
	uint16_t lport;
	struct pair p;
	char *mem, *src, ok = 1;
	off_t a, b, c;

	(void)state;
	mem = aligned_alloc(4096, 4 * 4096);
	src = aligned_alloc(4096, 8192);
	assert_non_null(mem);
	assert_non_null(src);
	lep = xlisten(&lport, 1);
	make_pair(lep, lport, &p);
	a = scif_register(p.srv, mem, 8192, 0, SCIF_PROT_READ | SCIF_PROT_WRITE,
			  0);
	CHECK_RET(a, vagen);
	b = scif_register(p.srv, mem, 4096, 0, SCIF_PROT_READ, 0);
	CHECK_RET(b, vagen + 8192);
	/* busy hint: placed elsewhere, never EINVAL */
	c = scif_register(p.srv, mem, 4096, vagen, SCIF_PROT_READ, 0);
	CHECK_RET(c, vagen + 12288);
	CHECK_RET(scif_unregister(p.srv, c, 4096), 0);
	/* free hints are used, rounded up to a page */
	CHECK_RET(scif_register(p.srv, mem, 4096, 0x5000, SCIF_PROT_READ, 0),
		  0x5000);
	CHECK_RET(scif_register(p.srv, mem, 4096, 0x7001, SCIF_PROT_READ, 0),
		  0x8000);
	/* a hint with no room above it */
	CHECK_RET(scif_register(p.srv, mem, 8192, top + 4096, SCIF_PROT_READ,
				0),
		  vagen + 12288);
	/* fixed: up to 2^63 exactly, not beyond; 0 is a valid offset */
	CHECK_RET(scif_register(p.srv, mem, 8192, top,
				SCIF_PROT_READ | SCIF_PROT_WRITE,
				SCIF_MAP_FIXED),
		  top);
	CHECK_ERR(scif_register(p.srv, mem, 8192, top + 4096, SCIF_PROT_READ,
				SCIF_MAP_FIXED),
		  EINVAL);
	CHECK_RET(scif_register(p.srv, mem, 4096, 0, SCIF_PROT_READ,
				SCIF_MAP_FIXED),
		  0);
	/* the peer learns of the windows before these bytes (stream order),
	 * then writes into the topmost one and reads it back */
	CHECK_RET(scif_send(p.srv, &ok, 1, SCIF_SEND_BLOCK), 1);
	CHECK_RET(scif_recv(p.cli, &ok, 1, SCIF_RECV_BLOCK), 1);
	memset(src, 0x5a, 8192);
	CHECK_RET(scif_vwriteto(p.cli, src, 8192, top, SCIF_RMA_SYNC), 0);
	assert_true(mem[0] == 0x5a && mem[8191] == 0x5a);
	memset(src, 0, 8192);
	CHECK_RET(scif_vreadfrom(p.cli, src, 4096, top + 4096, SCIF_RMA_SYNC),
		  0);
	assert_true(src[0] == 0x5a && src[4095] == 0x5a);
	close_pair(&p);
	CHECK_RET(scif_close(lep), 0);
	free(mem);
	free(src);
}

/* A window is usable by the peer when scif_register returns (as on MPSS):
 * the other endpoint of this process learns the offset from the return
 * value, not from the connection, and writes into it at once; a remote
 * fence signal into a fresh window likewise.  Never ENXIO. */
void test_register_visible(void **state)
{
	scif_epd_t lep;
	uint16_t lport;
	struct pair p;
	uint64_t *mem, v = 0;
	int i;

	(void)state;
	mem = aligned_alloc(4096, 4096);
	assert_non_null(mem);
	lep = xlisten(&lport, 1);
	make_pair(lep, lport, &p);
	for (i = 0; i < 200; i++) {
		off_t po = scif_register(p.srv, mem, 4096, 0,
					 SCIF_PROT_READ | SCIF_PROT_WRITE, 0);

		assert_true(po >= 0);
		v = 0x1000 + (uint64_t)i;
		if (i % 2) {
			CHECK_RET(scif_vwriteto(p.cli, &v, sizeof(v), po + 8,
						SCIF_RMA_SYNC),
				  0);
			assert_true(__atomic_load_n(&mem[1], __ATOMIC_ACQUIRE) ==
				    v);
		} else {
			int mark;

			CHECK_RET(scif_fence_signal(p.cli, 0, 0, po + 16, v,
						    SCIF_FENCE_INIT_SELF |
							    SCIF_SIGNAL_REMOTE),
				  0);
			CHECK_RET(scif_fence_mark(p.cli, SCIF_FENCE_INIT_SELF,
						  &mark),
				  0);
			CHECK_RET(scif_fence_wait(p.cli, mark), 0);
			assert_true(__atomic_load_n(&mem[2], __ATOMIC_ACQUIRE) ==
				    v);
		}
		CHECK_RET(scif_unregister(p.srv, po, 4096), 0);
	}
	close_pair(&p);
	CHECK_RET(scif_close(lep), 0);
	free(mem);
}

/* Sent means delivered: right after scif_send returns, a zero-timeout
 * scif_poll on the receiving endpoint (same process) sees POLLIN, and a
 * non-blocking scif_recv gets the bytes. */
void test_send_poll(void **state)
{
	scif_epd_t lep;
	uint16_t lport;
	struct pair p;
	char c = 'x';
	int i;

	(void)state;
	lep = xlisten(&lport, 1);
	make_pair(lep, lport, &p);
	for (i = 0; i < 200; i++) {
		struct scif_pollepd pe = { .epd = i % 2 ? p.srv : p.cli,
					   .events = POLLIN };
		scif_epd_t from = i % 2 ? p.cli : p.srv;

		CHECK_RET(scif_send(from, &c, 1, i % 4 < 2 ? SCIF_SEND_BLOCK :
							    0),
			  1);
		if (i % 3) {
			CHECK_RET(scif_poll(&pe, 1, 0), 1);
			assert_true(pe.revents & POLLIN);
		}
		CHECK_RET(scif_recv(pe.epd, &c, 1, 0), 1);
	}
	close_pair(&p);
	CHECK_RET(scif_close(lep), 0);
}
