/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * t_mixed: one process, two providers at once.
 *
 *   t_mixed server PORT         (node 0) listen; fork a client of our own
 *                               node; serve it and node 1's client at once
 *   t_mixed client NODE PORT    connect to NODE:PORT and run the exchange
 *
 * The server's process accepts both connections on one listener and serves
 * them from two threads at the same time.  It checks that the same-node
 * peer came over shm and the other VM's over verbs (the library chooses by
 * reachability and priority: nothing is forced), and each exchange moves
 * 16 MiB of stream both ways and a window's worth of RMA, every byte
 * verified.
 */
#include "tc.h"

#include <pthread.h>
#include <sys/wait.h>

/* internal (libscif/lib.c): the provider an endpoint is bound to */
const char *scif__ep_provider_name(scif_epd_t epd);

#define STREAM (16u << 20)
#define CHUNK (256u << 10)
#define WIN (1u << 20)

static void stream_out(scif_epd_t epd, uint64_t seed)
{
	uint8_t *b = malloc(CHUNK);
	uint64_t pos;

	TC_CHECK(b, "malloc");
	for (pos = 0; pos < STREAM; pos += CHUNK) {
		tc_fill(b, CHUNK, seed, pos);
		tc_send_all(epd, b, CHUNK);
	}
	free(b);
}

static void stream_in(scif_epd_t epd, uint64_t seed)
{
	uint8_t *b = malloc(CHUNK);
	uint64_t pos;
	long bad;

	TC_CHECK(b, "malloc");
	for (pos = 0; pos < STREAM; pos += CHUNK) {
		tc_recv_all(epd, b, CHUNK);
		bad = tc_verify(b, CHUNK, seed, pos);
		TC_CHECK(bad < 0, "stream byte %llu wrong",
			 (unsigned long long)(pos + (uint64_t)bad));
	}
	free(b);
}

/* Server side of one connection: stream in and out, then a window the
 * client writes into and reads back. */
static void *serve(void *arg)
{
	scif_epd_t epd = (scif_epd_t)(intptr_t)arg;
	uint8_t *win, ok = 1;
	off_t off;
	long bad;

	stream_in(epd, 0xC11E);
	stream_out(epd, 0x5E4E);
	TC_CHECK(!posix_memalign((void **)&win, 4096, WIN), "memalign");
	memset(win, 0, WIN);
	off = scif_register(epd, win, WIN, 0, SCIF_PROT_READ | SCIF_PROT_WRITE,
			    0);
	TC_CHECK(off >= 0, "register");
	tc_send_all(epd, &off, sizeof(off));
	tc_recv_all(epd, &ok, 1); /* written */
	bad = tc_verify(win, WIN, 0x3A17, 0);
	TC_CHECK(bad < 0, "window byte %ld wrong", bad);
	tc_fill(win, WIN, 0x4EAD, 0);
	tc_send_all(epd, &ok, 1); /* refilled: read it */
	tc_recv_all(epd, &ok, 1); /* read */
	/* Unregister before telling the client it may close: once the peer
	 * has closed, scif_unregister answers ECONNRESET (as the kernel's
	 * does), and the window would go with the endpoint anyway. */
	TC_CHECK(scif_unregister(epd, off, WIN) == 0, "unregister");
	tc_send_all(epd, &ok, 1); /* done */
	free(win);
	return NULL;
}

static int client(uint16_t node, uint16_t port)
{
	scif_epd_t epd = tc_connect(node, port, 60);
	uint8_t *buf, ok = 1;
	off_t off;
	long bad;

	stream_out(epd, 0xC11E);
	stream_in(epd, 0x5E4E);
	TC_CHECK(!posix_memalign((void **)&buf, 4096, WIN), "memalign");
	tc_recv_all(epd, &off, sizeof(off));
	tc_fill(buf, WIN, 0x3A17, 0);
	TC_CHECK(scif_vwriteto(epd, buf, WIN, off, SCIF_RMA_SYNC) == 0,
		 "vwriteto");
	tc_send_all(epd, &ok, 1);
	tc_recv_all(epd, &ok, 1);
	memset(buf, 0, WIN);
	TC_CHECK(scif_vreadfrom(epd, buf, WIN, off, SCIF_RMA_SYNC) == 0,
		 "vreadfrom");
	bad = tc_verify(buf, WIN, 0x4EAD, 0);
	TC_CHECK(bad < 0, "read-back byte %ld wrong", bad);
	tc_send_all(epd, &ok, 1);
	tc_recv_all(epd, &ok, 1); /* the server has unregistered */
	TC_CHECK(scif_close(epd) == 0, "close");
	free(buf);
	printf("t_mixed client of node %u: ok\n", node);
	return 0;
}

static int server(uint16_t port)
{
	scif_epd_t lep = tc_listen(port, 4), epd[2];
	struct scif_portID peer[2];
	pthread_t th[2];
	int i, status, seen_local = 0, seen_remote = 0;
	pid_t child = fork();

	TC_CHECK(child >= 0, "fork");
	if (child == 0) { /* a second process of this node (a fresh one: a
			   * forked copy of a SCIF process has no progress
			   * thread) */
		char p[8];

		snprintf(p, sizeof(p), "%u", port);
		execl("/proc/self/exe", "t_mixed", "client", "0", p,
		      (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 2; i++) {
		const char *prov;

		TC_CHECK(scif_accept(lep, &peer[i], &epd[i], SCIF_ACCEPT_SYNC) ==
				 0,
			 "accept");
		prov = scif__ep_provider_name(epd[i]);
		printf("t_mixed: peer %u:%u over %s\n", peer[i].node,
		       peer[i].port, prov);
		if (peer[i].node == 0) {
			TC_CHECK(!strcmp(prov, "shm"), "same node over %s",
				 prov);
			seen_local++;
		} else {
			TC_CHECK(!strcmp(prov, "verbs"), "node %u over %s",
				 peer[i].node, prov);
			seen_remote++;
		}
		TC_CHECK(!pthread_create(&th[i], NULL, serve,
					 (void *)(intptr_t)epd[i]),
			 "thread");
	}
	TC_CHECK(seen_local == 1 && seen_remote == 1, "peers %d local, %d "
		 "remote", seen_local, seen_remote);
	for (i = 0; i < 2; i++) {
		pthread_join(th[i], NULL);
		scif_close(epd[i]);
	}
	TC_CHECK(waitpid(child, &status, 0) == child && WIFEXITED(status) &&
			 WEXITSTATUS(status) == 0,
		 "local client failed");
	scif_close(lep);
	printf("t_mixed server: ok\n");
	return 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0); /* the log shows how far it got */
	if (argc == 3 && !strcmp(argv[1], "server"))
		return server((uint16_t)atoi(argv[2]));
	if (argc == 4 && !strcmp(argv[1], "client"))
		return client((uint16_t)atoi(argv[2]), (uint16_t)atoi(argv[3]));
	fprintf(stderr, "usage: t_mixed server PORT | client NODE PORT\n");
	return 2;
}
