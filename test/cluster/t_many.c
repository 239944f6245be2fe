/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * t_many: 64 connections open at once to one listener.
 *
 *   t_many server PORT N
 *   t_many client NODE PORT N
 *
 * The client connects N endpoints from N threads at once; each sends its
 * index and 64 KiB of its own pattern, receives 64 KiB back, and stays
 * connected until every thread is through.  The server multiplexes the
 * listener and all connections with scif_poll and non-blocking calls only,
 * checks every byte and the peer ids accept reported, and that all N were
 * open at the same time.
 */
#include "tc.h"

#include <poll.h>
#include <pthread.h>

#define PAYLOAD (64 * 1024)

struct conn {
	scif_epd_t epd;
	uint32_t idx;
	int got; /* bytes of (index + payload) received */
	uint8_t buf[4 + PAYLOAD];
	int replied, hup;
};

static int server(uint16_t port, int n)
{
	struct conn *c = calloc((size_t)n, sizeof(*c));
	struct scif_pollepd *pe = calloc((size_t)n + 1, sizeof(*pe));
	scif_epd_t lep = tc_listen(port, n);
	int nconn = 0, done = 0, hups = 0, max_open = 0, open = 0, i;
	uint16_t self;
	uint8_t *reply = malloc(PAYLOAD);
	double t0 = tc_now();

	TC_CHECK(c && pe && reply, "malloc");
	TC_CHECK(scif_get_nodeIDs(NULL, 0, &self) >= 1, "get_nodeIDs");
	while (hups < n) {
		int k = 0, r;

		pe[k].epd = lep;
		pe[k++].events = POLLIN;
		for (i = 0; i < nconn; i++) {
			pe[k].epd = c[i].epd;
			pe[k++].events = POLLIN;
		}
		r = scif_poll(pe, (unsigned)k, 60000);
		TC_CHECK(r > 0, "scif_poll: %d (conns %d, done %d)", r, nconn,
			 done);
		if (pe[0].revents & POLLIN) {
			struct scif_portID peer;

			TC_CHECK(nconn < n, "more connections than expected");
			TC_CHECK(scif_accept(lep, &peer, &c[nconn].epd, 0) == 0,
				 "accept");
			TC_CHECK(peer.port >= SCIF_PORT_RSVD,
				 "peer port %u not auto-assigned", peer.port);
			nconn++;
			open++;
			if (open > max_open)
				max_open = open;
		}
		for (i = 1; i < k; i++) {
			struct conn *x = &c[i - 1];
			int m;

			if (!pe[i].revents || x->hup)
				continue;
			if (x->got < (int)sizeof(x->buf)) {
				m = scif_recv(x->epd, x->buf + x->got,
					      (int)sizeof(x->buf) - x->got, 0);
				TC_CHECK(m >= 0, "recv on connection %d", i - 1);
				x->got += m;
				if (x->got == (int)sizeof(x->buf)) {
					memcpy(&x->idx, x->buf, 4);
					TC_CHECK(x->idx < (uint32_t)n, "bad index");
					TC_CHECK(tc_verify(x->buf + 4, PAYLOAD,
							   x->idx, 0) < 0,
						 "payload of %u corrupted",
						 x->idx);
					tc_fill(reply, PAYLOAD, x->idx + 1000, 0);
					tc_send_all(x->epd, reply, PAYLOAD);
					x->replied = 1;
					done++;
				}
				continue;
			}
			if (pe[i].revents & POLLHUP) {
				uint8_t b;

				TC_ERRNO(scif_recv(x->epd, &b, 1, 0), ECONNRESET);
				TC_CHECK(scif_close(x->epd) == 0, "close");
				x->hup = 1;
				hups++;
				open--;
			}
		}
	}
	TC_CHECK(max_open == n, "only %d of %d connections open at once",
		 max_open, n);
	printf("server: %d connections, all open at once, %d verified, "
	       "%.1f s\n",
	       n, done, tc_now() - t0);
	scif_close(lep);
	free(reply);
	free(c);
	free(pe);
	return 0;
}

static pthread_barrier_t all_done;
static uint16_t srv_node, srv_port;

static void *client_thread(void *arg)
{
	uint32_t idx = (uint32_t)(uintptr_t)arg;
	uint8_t *buf = malloc(4 + PAYLOAD);
	scif_epd_t epd;

	TC_CHECK(buf, "malloc");
	epd = tc_connect(srv_node, srv_port, 120);
	memcpy(buf, &idx, 4);
	tc_fill(buf + 4, PAYLOAD, idx, 0);
	tc_send_all(epd, buf, 4 + PAYLOAD);
	tc_recv_all(epd, buf, PAYLOAD);
	TC_CHECK(tc_verify(buf, PAYLOAD, idx + 1000, 0) < 0,
		 "reply to %u corrupted", idx);
	/* Stay connected until every connection has been served. */
	pthread_barrier_wait(&all_done);
	TC_CHECK(scif_close(epd) == 0, "close");
	free(buf);
	return NULL;
}

static int client(int n)
{
	pthread_t *th = calloc((size_t)n, sizeof(*th));
	int i;

	TC_CHECK(th, "malloc");
	pthread_barrier_init(&all_done, NULL, (unsigned)n);
	for (i = 0; i < n; i++)
		TC_CHECK(!pthread_create(&th[i], NULL, client_thread,
					 (void *)(uintptr_t)i),
			 "thread");
	for (i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	printf("client: %d connections verified\n", n);
	free(th);
	return 0;
}

int main(int argc, char **argv)
{
	alarm(600);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 4 && !strcmp(argv[1], "server"))
		return server((uint16_t)atoi(argv[2]), atoi(argv[3]));
	if (argc == 5 && !strcmp(argv[1], "client")) {
		srv_node = (uint16_t)atoi(argv[2]);
		srv_port = (uint16_t)atoi(argv[3]);
		return client(atoi(argv[4]));
	}
	fprintf(stderr, "usage: t_many server PORT N | client NODE PORT N\n");
	return 2;
}
