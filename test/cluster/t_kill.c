/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * t_kill: a peer killed with SIGKILL mid-stream.  The survivor must see the
 * disconnect promptly (ECONNRESET / POLLHUP), keep every byte that arrived,
 * and never hang.
 *
 *   t_kill server PORT        (node 0)
 *   t_kill client NODE PORT   (node 1)
 *   t_kill source NODE PORT   (helper: connects and streams forever)
 *   t_kill sink PORT          (helper: accepts, never reads)
 *
 * A) the client starts a source process, which streams to the server; the
 *    client kills it after 3 s.  The server verifies every byte received and
 *    then gets ECONNRESET and POLLHUP.
 * B) the server starts a sink process, which accepts and never reads; the
 *    client's blocking send of 64 MiB fills the sink's ring and blocks; the
 *    server kills the sink; the blocked send returns (partial count or
 *    ECONNRESET) and the next send fails with ECONNRESET.
 */
#include "tc.h"

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>

#define SEED 0x5555

static pid_t spawn(char *const argv[])
{
	pid_t pid = fork();

	TC_CHECK(pid >= 0, "fork");
	if (pid == 0) {
		execv("/proc/self/exe", argv);
		_exit(127);
	}
	return pid;
}

static void kill_and_reap(pid_t pid)
{
	int st;

	TC_CHECK(kill(pid, SIGKILL) == 0, "kill");
	TC_CHECK(waitpid(pid, &st, 0) == pid && WIFSIGNALED(st),
		 "helper did not die of the signal");
}

static __attribute__((noreturn)) int source(uint16_t node, uint16_t port)
{
	scif_epd_t epd = tc_connect(node, port, 60);
	uint8_t buf[65536];
	uint64_t pos = 0;

	for (;;) {
		tc_fill(buf, sizeof(buf), SEED, pos);
		tc_send_all(epd, buf, sizeof(buf));
		pos += sizeof(buf);
	}
}

static __attribute__((noreturn)) int sink(uint16_t port)
{
	scif_epd_t lep = tc_listen(port, 1), epd;
	struct scif_portID peer;

	TC_CHECK(scif_accept(lep, &peer, &epd, SCIF_ACCEPT_SYNC) == 0,
		 "accept");
	printf("sink: accepted %u:%u, not reading\n", peer.node, peer.port);
	for (;;)
		pause();
}

static void expect_hup(scif_epd_t epd, double within_s)
{
	struct scif_pollepd pe = { .epd = epd, .events = POLLIN | POLLOUT };
	double t0 = tc_now();

	for (;;) {
		TC_CHECK(scif_poll(&pe, 1, 1000) >= 0, "poll");
		if (pe.revents & POLLHUP)
			return;
		TC_CHECK(tc_now() - t0 < within_s, "no POLLHUP within %.0f s",
			 within_s);
		usleep(50000);
	}
}

static int server(uint16_t port, const char *self)
{
	scif_epd_t lep = tc_listen(port, 1), epd;
	struct scif_portID peer;
	uint8_t buf[65536];
	uint64_t pos = 0;
	double last = 0;
	char portb[16];
	pid_t pid;
	int n;

	/* A: receive until the source is killed. */
	TC_CHECK(scif_accept(lep, &peer, &epd, SCIF_ACCEPT_SYNC) == 0,
		 "accept");
	for (;;) {
		n = scif_recv(epd, buf, sizeof(buf), 0);
		if (n < 0)
			break;
		TC_CHECK(tc_verify(buf, (size_t)n, SEED, pos) < 0,
			 "byte %llu wrong", (unsigned long long)pos);
		pos += (uint64_t)n;
		if (n) {
			last = tc_now();
			continue;
		}
		struct pollfd pfd = { .fd = epd, .events = POLLIN };

		TC_CHECK(poll(&pfd, 1, 30000) == 1, "no data or hang-up in 30 s");
	}
	TC_CHECK(errno == ECONNRESET, "recv ended with errno %d", errno);
	TC_CHECK(pos > 0, "nothing received before the kill");
	expect_hup(epd, 1);
	TC_ERRNO(scif_send(epd, buf, 1, SCIF_SEND_BLOCK), ECONNRESET);
	printf("server A: %llu bytes verified; reset seen %.2f s after the "
	       "last data\n",
	       (unsigned long long)pos, tc_now() - last);
	scif_close(epd);
	scif_close(lep);

	/* B: a sink that never reads, killed while the client is blocked. */
	snprintf(portb, sizeof(portb), "%u", port + 1);
	pid = spawn((char *const[]){ (char *)self, "sink", portb, NULL });
	sleep(8); /* the client connects and fills the ring */
	kill_and_reap(pid);
	printf("server B: sink killed\n");
	return 0;
}

static int client(uint16_t node, uint16_t port, const char *self)
{
	size_t big = 64u << 20;
	uint8_t *buf = malloc(big);
	char nodeb[16], portb[16];
	scif_epd_t epd;
	double t0;
	pid_t pid;
	int n;

	TC_CHECK(buf, "malloc");
	/* A */
	snprintf(nodeb, sizeof(nodeb), "%u", node);
	snprintf(portb, sizeof(portb), "%u", port);
	pid = spawn((char *const[]){ (char *)self, "source", nodeb, portb,
				     NULL });
	sleep(4);
	kill_and_reap(pid);
	printf("client A: source killed\n");

	/* B */
	epd = tc_connect(node, port + 1, 60);
	tc_fill(buf, big, SEED, 0);
	t0 = tc_now();
	n = scif_send(epd, buf, (int)big, SCIF_SEND_BLOCK);
	TC_CHECK(n == -1 ? errno == ECONNRESET : (n > 0 && (size_t)n < big),
		 "blocked send returned %d", n);
	printf("client B: blocked send returned %d after %.1f s\n", n,
	       tc_now() - t0);
	TC_ERRNO(scif_send(epd, buf, 1, SCIF_SEND_BLOCK), ECONNRESET);
	expect_hup(epd, 1);
	TC_CHECK(scif_close(epd) == 0, "close");
	free(buf);
	return 0;
}

int main(int argc, char **argv)
{
	alarm(300);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 3 && !strcmp(argv[1], "server"))
		return server((uint16_t)atoi(argv[2]), argv[0]);
	if (argc == 4 && !strcmp(argv[1], "client"))
		return client((uint16_t)atoi(argv[2]), (uint16_t)atoi(argv[3]),
			      argv[0]);
	if (argc == 4 && !strcmp(argv[1], "source"))
		return source((uint16_t)atoi(argv[2]), (uint16_t)atoi(argv[3]));
	if (argc == 3 && !strcmp(argv[1], "sink"))
		return sink((uint16_t)atoi(argv[2]));
	fprintf(stderr, "usage: t_kill server PORT | client NODE PORT\n");
	return 2;
}
