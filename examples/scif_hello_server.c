/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * scif_hello_server: the MPSS tutorial's first program, unchanged in spirit.
 * Listens on a port, accepts one connection, receives a length-prefixed
 * message and sends it back reversed.
 *
 *   scif_hello_server [port]        (default 2050)
 */
#include <errno.h>
#include <scif.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
	uint16_t port = argc > 1 ? (uint16_t)atoi(argv[1]) : 2050, self;
	struct scif_portID peer;
	scif_epd_t epd, newepd;
	char msg[256];
	uint32_t len;
	int i, n;

	n = scif_get_nodeIDs(NULL, 0, &self);
	if (n < 0) {
		perror("scif_get_nodeIDs");
		return 1;
	}
	epd = scif_open();
	if (epd == SCIF_OPEN_FAILED) {
		perror("scif_open");
		return 1;
	}
	if (scif_bind(epd, port) < 0 || scif_listen(epd, 4) < 0) {
		perror("scif_bind/listen");
		return 1;
	}
	printf("server: node %u listening on port %u (%d nodes online)\n", self,
	       port, n);
	fflush(stdout);
	if (scif_accept(epd, &peer, &newepd, SCIF_ACCEPT_SYNC) < 0) {
		perror("scif_accept");
		return 1;
	}
	printf("server: accepted %u:%u\n", peer.node, peer.port);
	if (scif_recv(newepd, &len, sizeof(len), SCIF_RECV_BLOCK) !=
		    sizeof(len) ||
	    len >= sizeof(msg) ||
	    scif_recv(newepd, msg, (int)len, SCIF_RECV_BLOCK) != (int)len) {
		fprintf(stderr, "server: receive failed: %s\n", strerror(errno));
		return 1;
	}
	msg[len] = '\0';
	printf("server: received \"%s\"\n", msg);
	for (i = 0; i < (int)len / 2; i++) {
		char t = msg[i];

		msg[i] = msg[len - 1 - i];
		msg[len - 1 - i] = t;
	}
	if (scif_send(newepd, msg, (int)len, SCIF_SEND_BLOCK) != (int)len) {
		perror("scif_send");
		return 1;
	}
	/* Wait for the client to hang up, then leave. */
	if (scif_recv(newepd, msg, 1, SCIF_RECV_BLOCK) < 0 && errno != ECONNRESET)
		perror("scif_recv");
	scif_close(newepd);
	scif_close(epd);
	printf("server: done\n");
	return 0;
}
