/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The tcp provider's posted receive (recv_post / recv_unpost): stream bytes
 * that arrive while a blocked scif_recv waits go straight into its buffer,
 * in order, never past its end, and only while nothing older waits in the
 * ring.  Also the sender's side of "sent means delivered": a sender about
 * to sleep that learns in ep_idle that its bytes are in must not sleep.  A
 * connection over a socketpair, the peer's frames written by hand,
 * tcp_service as the progress thread calls it (harness: test/fuzz/fuzz_ep.c).
 */
#include "../fuzz/fuzz.h"
#include "../../provider/tcp/tcp.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define WIN (256u << 10)

struct fix {
	struct tcp_prov tp;
	struct tcp_conn *c;
	struct scif_ep *ep;
	int peer;
	uint64_t sent; /* stream bytes the peer wrote */
};

static uint8_t pat(uint64_t pos)
{
	return (uint8_t)(pos * 131 + (pos >> 9));
}

static int setup(void **state)
{
	struct fix *f = calloc(1, sizeof(*f));
	int sv[2];

	assert_non_null(f);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0,
				    sv), 0);
	f->tp.rxwin = WIN;
	f->c = calloc(1, sizeof(*f->c));
	assert_non_null(f->c);
	f->c->tp = &f->tp;
	f->c->fd = sv[0];
	f->c->efd = f->c->handle = f->c->timer = -1;
	f->c->state = TCP_UP;
	f->c->peer_node = 1;
	f->c->peer_port = 2000;
	assert_int_equal(tcp_conn_buffers(f->c, WIN), 0);
	f->ep = fz_ep_new(&scif_tcp_ops, f->c);
	f->c->ep = f->ep; /* the endpoint is locked from here on */
	f->peer = sv[1];
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fix *f = *state;

	fz_ep_free(f->ep);
	tcp_conn_free_bufs(f->c);
	close(f->c->fd);
	close(f->peer);
	free(f->c);
	free(f);
	return 0;
}

/* The peer writes one DATA frame of n stream bytes (the pattern goes on). */
static void peer_data(struct fix *f, uint32_t n)
{
	struct scif_wire_hdr h = { .type = SCIF_WIRE_DATA,
				   .version = SCIF_WIRE_VERSION, .len = n };
	unsigned char *frame = malloc(SCIF_WIRE_HDR_LEN + n);
	size_t off = 0, total = SCIF_WIRE_HDR_LEN + n;
	uint32_t i;

	assert_non_null(frame);
	scif__wire_encode(frame, &h);
	for (i = 0; i < n; i++)
		frame[SCIF_WIRE_HDR_LEN + i] = pat(f->sent + i);
	while (off < total) { /* the socket holds less: service between */
		ssize_t w = send(f->peer, frame + off, total - off,
				 MSG_DONTWAIT);

		if (w > 0)
			off += (size_t)w;
		tcp_service(f->c);
	}
	tcp_service(f->c);
	f->sent += n;
	free(frame);
}

static void check_pat(const unsigned char *buf, size_t n, uint64_t pos)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (buf[i] != pat(pos + i))
			fail_msg("byte %zu of the stream is %u, not %u",
				 (size_t)(pos + i), buf[i], pat(pos + i));
}

/* Frames of every path of the parser (large: read straight from the
 * socket; small: through the staging buffer) land in the posted buffer,
 * the ring stays empty, and the peer hears how much was taken. */
static void test_post_takes_frames(void **state)
{
	struct fix *f = *state;
	size_t len = 200000;
	unsigned char *buf = malloc(len);
	char ack[64];

	assert_non_null(buf);
	assert_int_equal(tcp_recv_post(f->ep, buf, len), 0);
	peer_data(f, 100);
	peer_data(f, 150000);
	peer_data(f, 3000);
	assert_int_equal(f->c->rx_total, f->c->consumed);
	assert_int_equal(tcp_recv_ready(f->ep), 0);
	assert_int_equal(tcp_recv_unpost(f->ep), 153100);
	check_pat(buf, 153100, 0);
	/* more than a quarter of the window taken: an ACK went out */
	assert_true(recv(f->peer, ack, sizeof(ack), MSG_DONTWAIT) > 0);
	assert_int_equal(ack[0], TCP_ACK);
	/* unposted: the next bytes go to the ring */
	peer_data(f, 500);
	assert_int_equal(tcp_recv_ready(f->ep), 1);
	assert_int_equal(tcp_recv(f->ep, buf, len), 500);
	check_pat(buf, 500, 153100);
	free(buf);
}

/* A frame larger than the posted buffer: the buffer takes its exact
 * length (a heap block of that size: ASan sees one byte more), the rest
 * waits in the ring, in order. */
static void test_post_overflow_to_ring(void **state)
{
	struct fix *f = *state;
	size_t len = 70001;
	unsigned char *buf = malloc(len), *rest = malloc(WIN);

	assert_non_null(buf);
	assert_non_null(rest);
	assert_int_equal(tcp_recv_post(f->ep, buf, len), 0);
	peer_data(f, 100000);
	peer_data(f, 20);
	assert_int_equal(tcp_recv_unpost(f->ep), len);
	check_pat(buf, len, 0);
	assert_int_equal(tcp_recv(f->ep, rest, WIN), 100020 - len);
	check_pat(rest, 100020 - len, len);
	free(buf);
	free(rest);
}

/* Bytes already in the ring come first: no posting over them. */
static void test_post_refused_behind_ring(void **state)
{
	struct fix *f = *state;
	unsigned char buf[64];

	peer_data(f, 10);
	assert_int_equal(tcp_recv_post(f->ep, buf, sizeof(buf)), -EAGAIN);
	assert_int_equal(tcp_recv_unpost(f->ep), 0);
	assert_int_equal(tcp_recv(f->ep, buf, sizeof(buf)), 10);
	check_pat(buf, 10, 0);
	/* drained: now it may */
	assert_int_equal(tcp_recv_post(f->ep, buf, sizeof(buf)), 0);
	peer_data(f, 40);
	assert_int_equal(tcp_recv_unpost(f->ep), 40);
	check_pat(buf, 40, 10);
}

/* The connection ends while posted: what arrived before counts, nothing
 * is written after the unpost. */
static void test_post_then_peer_closes(void **state)
{
	struct fix *f = *state;
	unsigned char buf[4096];

	memset(buf, 0xee, sizeof(buf));
	assert_int_equal(tcp_recv_post(f->ep, buf, sizeof(buf)), 0);
	peer_data(f, 1000);
	shutdown(f->peer, SHUT_WR);
	while (!f->c->dead)
		tcp_service(f->c);
	assert_int_equal(tcp_recv_unpost(f->ep), 1000);
	check_pat(buf, 1000, 0);
	assert_int_equal(buf[1000], 0xee);
	assert_int_equal(tcp_recv_post(f->ep, buf, sizeof(buf)), -EAGAIN);
}

/* The peer's TCP takes our stream bytes between the sender's last look and
 * its ep_idle: ep_idle learns it (SIOCOUTQ) and must say so, else the
 * sender sleeps with nothing left to wake it (netns_many_2n hung so: the
 * frame had not asked for an ACK, and ep_idle asked nothing either). */
static void test_idle_learns_delivery(void **state)
{
	struct fix *f = *state;
	char msg[100], sink[4096];
	ssize_t r;

	memset(msg, 7, sizeof(msg));
	assert_int_equal(tcp_send(f->ep, msg, sizeof(msg)), sizeof(msg));
	assert_true(tcp_send_pending(f->ep) > 0); /* the peer has not read */
	do /* the peer's "TCP" takes the frame */
		r = recv(f->peer, sink, sizeof(sink), MSG_DONTWAIT);
	while (r > 0);
	assert_int_equal(tcp_ep_idle(f->ep), 1);
	assert_int_equal(tcp_send_pending(f->ep), 0);
	/* nothing new since: a waiter on anything else may sleep */
	assert_int_equal(tcp_ep_idle(f->ep), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_post_takes_frames, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_post_overflow_to_ring,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_post_refused_behind_ring,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_post_then_peer_closes,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_learns_delivery,
						setup, teardown),
	};

	fz_quiet();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
