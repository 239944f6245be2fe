// SPDX-License-Identifier: BSD-3-Clause
/*
 * The link goes down mid-transfer.  The client streams to the server with
 * scif_send and, from a second thread, scif_writeto into the server's
 * window; after DOWN_MS it takes its own interface down (it runs in a
 * network namespace of netns.sh, as root).  Both sides must see ECONNRESET
 * or ENODEV within LIMIT_S (the tcp provider's timeouts are set short by
 * the test), then close cleanly: no hang, no leak.
 *
 *   t_linkdown server PORT
 *   t_linkdown client NODE PORT
 */
#include <scif.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (64 * 1024)
#define WIN (1024 * 1024)
#define DOWN_MS 1500
#define LIMIT_S 12.0

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int gone_ok(int err)
{
	return err == ECONNRESET || err == ENODEV;
}

static int server(uint16_t port)
{
	scif_epd_t l = scif_open(), e;
	struct scif_portID peer;
	static char buf[CHUNK];
	void *w;
	double last;
	long long total = 0;
	int r, err;

	if (l < 0 || scif_bind(l, port) != port || scif_listen(l, 1) ||
	    scif_accept(l, &peer, &e, SCIF_ACCEPT_SYNC)) {
		perror("server: setup");
		return 1;
	}
	if (posix_memalign(&w, 4096, WIN) ||
	    scif_register(e, w, WIN, 0, SCIF_PROT_WRITE, SCIF_MAP_FIXED) ||
	    scif_send(e, "g", 1, SCIF_SEND_BLOCK) != 1) {
		perror("server: window");
		return 1;
	}
	last = now();
	while ((r = scif_recv(e, buf, CHUNK, SCIF_RECV_BLOCK)) > 0) {
		total += r;
		last = now();
	}
	err = errno;
	printf("server: %lld bytes, then %s after %.1f s of silence\n", total,
	       strerror(err), now() - last);
	scif_close(e);
	scif_close(l);
	free(w);
	return !(gone_ok(err) && now() - last <= LIMIT_S && total > 0);
}

static scif_epd_t g_e;
static double g_down;

static void *writer(void *arg)
{
	static char src[256 * 1024];
	int *res = arg;
	long n = 0;

	while (!scif_vwriteto(g_e, src, sizeof(src), 0, SCIF_RMA_SYNC))
		n++;
	res[0] = errno;
	res[1] = (int)((now() - g_down) * 1000);
	printf("client: %ld writes, then %s\n", n, strerror(res[0]));
	return NULL;
}

static void *cutter(void *arg)
{
	(void)arg;
	usleep(DOWN_MS * 1000);
	g_down = now();
	if (system("ip link set eth0 down"))
		fprintf(stderr, "client: ip link set eth0 down failed\n");
	printf("client: link down\n");
	return NULL;
}

static int client(uint16_t node, uint16_t port)
{
	struct scif_portID dst = { .node = node, .port = port };
	static char buf[CHUNK];
	int wres[2] = { 0, 0 }, i, err;
	pthread_t wt, ct;
	double t;

	g_e = scif_open();
	for (i = 0; i < 100 && scif_connect(g_e, &dst) < 0; i++)
		usleep(100000);
	if (i == 100 || scif_recv(g_e, buf, 1, SCIF_RECV_BLOCK) != 1) {
		perror("client: connect");
		return 1;
	}
	g_down = now() + 3600;
	pthread_create(&ct, NULL, cutter, NULL);
	pthread_create(&wt, NULL, writer, wres);
	while (scif_send(g_e, buf, CHUNK, SCIF_SEND_BLOCK) == CHUNK)
		;
	err = errno;
	t = now() - g_down;
	pthread_join(wt, NULL);
	pthread_join(ct, NULL);
	printf("client: send failed with %s %.1f s after the link went down; "
	       "writeto %.1f s after\n",
	       strerror(err), t, wres[1] / 1000.0);
	scif_close(g_e);
	return !(gone_ok(err) && gone_ok(wres[0]) && t >= 0 && t <= LIMIT_S &&
		 wres[1] >= 0 && wres[1] <= LIMIT_S * 1000);
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	if (argc == 3 && !strcmp(argv[1], "server"))
		return server((uint16_t)atoi(argv[2]));
	if (argc == 4 && !strcmp(argv[1], "client"))
		return client((uint16_t)atoi(argv[2]),
			      (uint16_t)atoi(argv[3]));
	fprintf(stderr, "usage: t_linkdown server PORT | client NODE PORT\n");
	return 2;
}
