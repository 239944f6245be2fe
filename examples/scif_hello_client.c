/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scif_hello_client: connects to scif_hello_server, sends a message and
 * prints the server's answer.
 *
 *   scif_hello_client <node> [port] [message]
 */
#include <errno.h>
#include <scif.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct scif_portID dst;
	const char *text = argc > 3 ? argv[3] : "hello from SCIF";
	uint32_t len = (uint32_t)strlen(text);
	char reply[256];
	scif_epd_t epd;
	int tries, port;

	if (argc < 2 || len >= sizeof(reply)) {
		fprintf(stderr, "usage: %s <node> [port] [message]\n", argv[0]);
		return 2;
	}
	dst.node = (uint16_t)atoi(argv[1]);
	dst.port = argc > 2 ? (uint16_t)atoi(argv[2]) : 2050;
	/* The server may still be starting: retry refused connections. */
	for (tries = 0;; tries++) {
		epd = scif_open();
		if (epd == SCIF_OPEN_FAILED) {
			perror("scif_open");
			return 1;
		}
		port = scif_connect(epd, &dst);
		if (port >= 0)
			break;
		if (errno != ECONNREFUSED || tries == 50) {
			perror("scif_connect");
			return 1;
		}
		scif_close(epd);
		usleep(200000);
	}
	printf("client: connected from port %d to %u:%u\n", port, dst.node,
	       dst.port);
	if (scif_send(epd, &len, sizeof(len), SCIF_SEND_BLOCK) != sizeof(len) ||
	    scif_send(epd, (void *)text, (int)len, SCIF_SEND_BLOCK) != (int)len) {
		perror("scif_send");
		return 1;
	}
	if (scif_recv(epd, reply, (int)len, SCIF_RECV_BLOCK) != (int)len) {
		perror("scif_recv");
		return 1;
	}
	reply[len] = '\0';
	printf("client: server answered \"%s\"\n", reply);
	scif_close(epd);
	return 0;
}
