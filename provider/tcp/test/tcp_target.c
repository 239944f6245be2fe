// SPDX-License-Identifier: BSD-3-Clause
/*
 * The tcp provider's target enforces protection itself: a raw TCP client
 * speaks the provider's protocol to a SCIF server (no core checks on our
 * side) and sends crafted RMA requests against the server's read-only
 * window.  A write is refused with EACCES, a range beyond the window with
 * ENXIO, a read of it answered; the window is unchanged.  A malformed
 * frame then ends the connection (the server sees ECONNRESET).
 *
 *   tcp_target PORT     (SCIF_PROVIDER=tcp, node map with node 0 =
 *                        127.0.0.1, SCIF_SELF_NODE=0)
 */
#include "tcp_raw.h"
#include <scif.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define WOFF 0x100000
#define WLEN 65536

static int fail(const char *what)
{
	fprintf(stderr, "tcp_target: FAILED: %s (%s)\n", what,
		strerror(errno));
	return 1;
}

static int server(uint16_t port)
{
	scif_epd_t l = scif_open(), e;
	struct scif_portID peer;
	unsigned char *w, b;
	int i;

	w = mmap(NULL, WLEN, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (l < 0 || w == MAP_FAILED || scif_bind(l, port) != port ||
	    scif_listen(l, 1))
		return fail("server: listen");
	if (scif_accept(l, &peer, &e, SCIF_ACCEPT_SYNC))
		return fail("server: accept");
	memset(w, 0xaa, WLEN);
	if (scif_register(e, w, WLEN, WOFF, SCIF_PROT_READ, SCIF_MAP_FIXED) !=
	    WOFF)
		return fail("server: register");
	/* the client says when it is done with its requests */
	if (scif_recv(e, &b, 1, SCIF_RECV_BLOCK) != 1)
		return fail("server: recv");
	for (i = 0; i < WLEN; i++)
		if (w[i] != 0xaa) {
			fprintf(stderr, "tcp_target: FAILED: window byte %d "
				"written\n", i);
			return 1;
		}
	/* then breaks the protocol: the connection ends */
	if (scif_recv(e, &b, 1, SCIF_RECV_BLOCK) != -1 || errno != ECONNRESET)
		return fail("server: no ECONNRESET after a malformed frame");
	scif_close(e);
	scif_close(l);
	printf("server: window intact, malformed frame ended the "
	       "connection\n");
	return 0;
}

static void frame(unsigned char *buf, uint8_t type, uint32_t len)
{
	struct scif_wire_hdr h = { .type = type, .len = len };

	scif__wire_encode(buf, &h);
}

static int request(int fd, uint8_t type, uint64_t tag, uint64_t off,
		   uint64_t len, uint32_t dlen)
{
	unsigned char m[SCIF_WIRE_HDR_LEN + 24 + 64];
	unsigned char *p = m + SCIF_WIRE_HDR_LEN;

	frame(m, type, 24 + dlen);
	tcp_put_le(p, tag, 8);
	tcp_put_le(p + 8, off, 8);
	tcp_put_le(p + 16, len, 8);
	memset(p + 24, 0x55, dlen);
	return send(fd, m, SCIF_WIRE_HDR_LEN + 24 + dlen, 0) < 0 ? -1 : 0;
}

static int expect_done(int fd, uint64_t tag, int status, const char *what)
{
	unsigned char p[16];

	if (tcp_raw_next(fd, TCP_DONE, p, sizeof(p)) != 16 ||
	    tcp_get_le(p, 8) != tag ||
	    (int32_t)tcp_get_le(p + 8, 4) != status) {
		fprintf(stderr, "tcp_target: FAILED: %s: want %d\n", what,
			status);
		return 1;
	}
	printf("client: %s refused: %s\n", what, strerror(-status));
	return 0;
}

static int client(uint16_t port)
{
	unsigned char buf[SCIF_WIRE_HDR_LEN + 64], p[64];
	int fd = tcp_raw_connect(port, 4444);

	if (fd < 0)
		return fail("client: connect");
	/* the window exists once the server announced it */
	if (tcp_raw_next(fd, SCIF_WIRE_WIN_ADD, p, sizeof(p)) < 24 ||
	    tcp_get_le(p, 8) != WOFF)
		return fail("client: WIN_ADD");
	if (request(fd, TCP_WRITE, 1, WOFF, 0, 16) ||
	    expect_done(fd, 1, -EACCES, "write into a read-only window") ||
	    request(fd, TCP_WRITE, 2, WOFF + WLEN - 8, 0, 16) ||
	    expect_done(fd, 2, -ENXIO, "write beyond the window") ||
	    request(fd, TCP_READ, 3, WOFF + WLEN - 8, 16, 0) ||
	    expect_done(fd, 3, -ENXIO, "read beyond the window") ||
	    request(fd, TCP_READ, 4, 0, 16, 0) ||
	    expect_done(fd, 4, -ENXIO, "read where no window is"))
		return 1;
	if (request(fd, TCP_READ, 5, WOFF + 8, 16, 0) ||
	    tcp_raw_next(fd, TCP_RDATA, p, sizeof(p)) != 24 ||
	    tcp_get_le(p, 8) != 5 || p[8] != 0xaa || p[23] != 0xaa)
		return fail("client: read of the window");
	printf("client: read of the window answered\n");
	frame(buf, SCIF_WIRE_DATA, 1);
	buf[SCIF_WIRE_HDR_LEN] = 'x';
	if (send(fd, buf, SCIF_WIRE_HDR_LEN + 1, 0) < 0)
		return fail("client: data");
	usleep(200000);
	frame(buf, 99, 0); /* no such type */
	if (send(fd, buf, SCIF_WIRE_HDR_LEN, 0) < 0)
		return fail("client: garbage");
	/* the server ends the connection */
	while (recv(fd, p, sizeof(p), 0) > 0)
		;
	close(fd);
	return 0;
}

int main(int argc, char **argv)
{
	uint16_t port = argc > 1 ? (uint16_t)atoi(argv[1]) : 7800;
	int st, crc;
	pid_t pid;

	setvbuf(stdout, NULL, _IONBF, 0);
	pid = fork();
	if (pid == 0)
		_exit(server(port));
	crc = client(port);
	alarm(30);
	if (waitpid(pid, &st, 0) != pid)
		return fail("waitpid");
	if (!WIFEXITED(st) || WEXITSTATUS(st) || crc) {
		fprintf(stderr, "tcp_target: FAILED (server %#x, client %d)\n",
			st, crc);
		return 1;
	}
	printf("tcp_target: ok\n");
	return 0;
}
