/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The classic SCIF tutorial pattern, written the way MPSS programs are:
 * a server that opens, binds, listens, waits with scif_poll(SCIF_POLLIN)
 * for the connection, accepts, then polls and receives until the whole
 * message is in and answers it; a client that connects (retrying while the
 * server is not listening yet), sends and receives the answer.  errno,
 * usleep, fork, pipe, alarm and POLLIN come from <scif.h> alone, as with
 * MPSS.  The client is a child forked before either process makes its first
 * SCIF call; the server's port (bound with 0) reaches it through a pipe so
 * that parallel runs cannot collide.
 *
 * Exit status 0 when the exchange completed.  Built as C (gnu99) and as
 * C++ (gnu++98) with -Wall -Werror.
 */
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <scif.h>

#define MSG_LEN 4096
#define BAIL(what)                                                          \
	do {                                                                \
		fprintf(stderr, "mpss_tutorial: %s: %s (errno %d)\n", what, \
			strerror(errno), errno);                            \
		return 1;                                                   \
	} while (0)

static uint16_t self_node(void)
{
	uint16_t nodes[32], self = 0;

	if (scif_get_nodeIDs(nodes, 32, &self) < 1)
		return 0xffff;
	return self;
}

static int server(int port_fd)
{
	static char msg[MSG_LEN];
	struct scif_pollepd pe;
	struct scif_portID peer;
	scif_epd_t epd, newepd;
	int port, got = 0, rc, i;

	if ((epd = scif_open()) == SCIF_OPEN_FAILED)
		BAIL("scif_open");
	if ((port = scif_bind(epd, 0)) < 0)
		BAIL("scif_bind");
	if (scif_listen(epd, 4) < 0)
		BAIL("scif_listen");
	if (write(port_fd, &port, sizeof(port)) != (ssize_t)sizeof(port))
		BAIL("write port");

	/* wait for the connection request */
	pe.epd = epd;
	pe.events = SCIF_POLLIN;
	pe.revents = 0;
	do {
		rc = scif_poll(&pe, 1, 1000);
	} while (rc == 0 || (rc < 0 && errno == EINTR));
	if (rc < 0)
		BAIL("scif_poll listen");
	if (!(pe.revents & SCIF_POLLIN))
		BAIL("listener not readable");
	if (scif_accept(epd, &peer, &newepd, 0) < 0)
		BAIL("scif_accept");

	/* receive without blocking, waking on SCIF_POLLIN */
	while (got < MSG_LEN) {
		pe.epd = newepd;
		pe.events = SCIF_POLLIN;
		pe.revents = 0;
		rc = scif_poll(&pe, 1, 1000);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			BAIL("scif_poll recv");
		if (rc == 0)
			continue;
		if (pe.revents & (SCIF_POLLERR | SCIF_POLLNVAL))
			BAIL("endpoint error");
		rc = scif_recv(newepd, msg + got, MSG_LEN - got, 0);
		if (rc < 0 && errno == EAGAIN)
			continue;
		if (rc < 0)
			BAIL("scif_recv");
		if (rc == 0 && (pe.revents & SCIF_POLLHUP))
			BAIL("peer hung up early");
		got += rc;
	}
	for (i = 0; i < MSG_LEN; i++)
		if (msg[i] != (char)(i * 7)) {
			errno = EPROTO;
			BAIL("message corrupted");
		}

	/* answer: the sum of the bytes received, then wait for the hang-up */
	if (scif_send(newepd, &got, sizeof(got), SCIF_SEND_BLOCK) !=
	    (int)sizeof(got))
		BAIL("scif_send");
	if (scif_recv(newepd, &rc, sizeof(rc), SCIF_RECV_BLOCK) > 0) {
		errno = EPROTO;
		BAIL("unexpected data");
	}
	scif_close(newepd);
	scif_close(epd);
	return 0;
}

static int client(int port_fd)
{
	static char msg[MSG_LEN];
	struct scif_portID dst;
	scif_epd_t epd;
	int port, reply = 0, tries, i;

	if (read(port_fd, &port, sizeof(port)) != (ssize_t)sizeof(port))
		BAIL("read port");
	for (i = 0; i < MSG_LEN; i++)
		msg[i] = (char)(i * 7);

	if ((epd = scif_open()) == SCIF_OPEN_FAILED)
		BAIL("scif_open");
	dst.node = self_node();
	dst.port = (uint16_t)port;
	for (tries = 0; scif_connect(epd, &dst) < 0; tries++) {
		if (errno != ECONNREFUSED || tries > 100)
			BAIL("scif_connect");
		usleep(10000);
	}
	if (scif_send(epd, msg, MSG_LEN, SCIF_SEND_BLOCK) != MSG_LEN)
		BAIL("scif_send");
	if (scif_recv(epd, &reply, sizeof(reply), SCIF_RECV_BLOCK) !=
	    (int)sizeof(reply))
		BAIL("scif_recv");
	if (reply != MSG_LEN) {
		errno = EPROTO;
		BAIL("wrong reply");
	}
	scif_close(epd);
	return 0;
}

int main(void)
{
	int fds[2], status = 0, rc;
	pid_t pid;

	alarm(60);
	if (pipe(fds) < 0)
		BAIL("pipe");
	pid = fork();
	if (pid < 0)
		BAIL("fork");
	if (pid == 0) {
		close(fds[1]);
		_exit(client(fds[0]));
	}
	close(fds[0]);
	rc = server(fds[1]);
	close(fds[1]);
	if (waitpid(pid, &status, 0) != pid)
		BAIL("waitpid");
	if (rc || !WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "mpss_tutorial: server %d, client status %#x\n",
			rc, status);
		return 1;
	}
	printf("mpss_tutorial: %d bytes exchanged\n", MSG_LEN);
	return 0;
}
