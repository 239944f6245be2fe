/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What the parts of t_errno share: t_errno.c (main, the test table, the
 * node map and the helpers below), t_errno_conn.c (bind, listen, connect,
 * accept) and t_errno_io.c (send/recv, peer close, epoll, scif_poll,
 * signals).
 */
#ifndef T_ERRNO_H
#define T_ERRNO_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "tc.h"

#include <pthread.h>

#define MAX_NODES 64
#define WAIT_S 20.0 /* upper bound for anything that should take ms */
#define TAIL 1000

/* t_errno.c */
extern uint16_t g_self;    /* SCIF_SELF_NODE */
extern uint16_t g_dead;    /* in our map, never answers */
extern uint16_t g_unknown; /* in no map */
extern char g_orig_map[512]; /* SCIF_NODES_FILE as given */

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

/* A connected pair over loopback: cli connects (O_NONBLOCK, then collected),
 * srv is what the listener accepted. */
struct pair {
	scif_epd_t cli, srv;
	int cport;
	struct scif_portID peer; /* what accept reported */
};

/* accept_bg's argument: a scif_accept() run by another thread */
struct gone_accept {
	scif_epd_t lep;
	int flags, ret, err;
	scif_epd_t ne;
	struct scif_portID peer;
};

/* helpers, t_errno.c */
scif_epd_t xopen(void);
scif_epd_t xlisten(uint16_t *port, int backlog);
void set_nonblock(int fd, int on);
short poll1(scif_epd_t e, short events, long ms);
short wait_for(scif_epd_t e, short events, short bit, double secs);
void need(scif_epd_t e, short events, short bit, const char *what);
short fdpoll(int fd, short events, int ms);
int join_within(pthread_t th, double secs);
int count_fds(void);
void fds_back_to(int want, const char *what);
void make_pair(scif_epd_t lep, uint16_t lport, struct pair *p);
void close_pair(struct pair *p);

/* t_errno_conn.c */
void *accept_bg(void *arg); /* arg: struct gone_accept */
int unpriv_main(const char *map); /* t_errno unpriv MAP */

/* the tests, listed in main()'s tables: t_errno_conn.c */
void test_bind(void **state);
void test_bind_privileged(void **state);
void test_bind_other_process(void **state);
void test_provider_env(void **state);
int child_main(int argc, char **argv);
void test_connected_states(void **state);
void test_listen(void **state);
void test_connect_args(void **state);
void test_connect_dead_node(void **state);
void test_connect_refused(void **state);
void test_connect_autobind(void **state);
void test_connect_nonblock(void **state);
void test_accept_args(void **state);
void test_accept_pollin(void **state);
void test_accept_sync(void **state);
void test_accept_backlog(void **state);
void test_close_listener_pending(void **state);
void test_accept_closed_under(void **state);
void test_accept_requester_gone(void **state);

/* t_errno_io.c */
void test_msg_args(void **state);
void test_peer_close_server(void **state);
void test_peer_close_client(void **state);
void test_peer_close_blocked(void **state);
void test_epoll_connected(void **state);
void test_poll(void **state);
void test_signals(void **state);
void test_register_offsets(void **state);
void test_register_visible(void **state);
void test_send_poll(void **state);
void test_send_exit(void **state);

#endif
