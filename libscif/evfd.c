/* SPDX-License-Identifier: BSD-3-Clause */
#include "evfd.h"
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

int scif__evfd_open(struct scif_evfd *ev)
{
	int sv[2], sz = 1; /* the kernel rounds up to its minimum */

	/* The application end stays blocking: O_NONBLOCK on it is the
	 * application's to set (it asks for an asynchronous connect).  Our own
	 * operations on it use MSG_DONTWAIT instead. */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv)) {
		int err = errno;

		scif_err("socketpair: %m");
		return -err;
	}
	/* A small send buffer on the application end keeps "fill until
	 * unwritable" cheap. */
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	if (fcntl(sv[1], F_SETFL, O_NONBLOCK)) {
		int err = errno;

		scif_err("fcntl: %m");
		close(sv[0]);
		close(sv[1]);
		return -err;
	}
	ev->app_fd = sv[0];
	ev->lib_fd = sv[1];
	ev->in = false;
	ev->out = true;
	ev->hup = false;
	/* A fresh endpoint is neither readable nor writable. */
	scif__evfd_set(ev, 0);
	return 0;
}

void scif__evfd_close(struct scif_evfd *ev)
{
	if (ev->lib_fd >= 0)
		close(ev->lib_fd);
	if (ev->app_fd >= 0)
		close(ev->app_fd);
	ev->lib_fd = ev->app_fd = -1;
}

/* A stream socket's recv takes everything queued up to the buffer's size,
 * so a short read means empty: one system call for the usual one token. */
static SCIF_HOT void drain(int fd)
{
	char buf[4096];

	while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) == (ssize_t)sizeof(buf))
		;
}

void scif__evfd_update(struct scif_evfd *ev, short mask)
{
	bool in = mask & POLLIN, out = mask & POLLOUT, hup = mask & POLLHUP;
	static const char junk[4096];

	if (ev->hup)
		return;
	if (in != ev->in) {
		if (in) {
			if (send(ev->lib_fd, "r", 1, MSG_DONTWAIT) != 1)
				scif_err("evfd token write: %m");
		} else {
			drain(ev->app_fd);
		}
		ev->in = in;
	}
	if (out != ev->out) {
		if (out) {
			drain(ev->lib_fd);
		} else {
			/* Fill until the kernel refuses: the send buffer is
			 * full and poll stops reporting POLLOUT. */
			while (send(ev->app_fd, junk, sizeof(junk),
				    MSG_DONTWAIT | MSG_NOSIGNAL) > 0)
				;
		}
		ev->out = out;
	}
	if (hup) {
		drain(ev->lib_fd);
		if (!in && send(ev->lib_fd, "h", 1, MSG_DONTWAIT) != 1)
			scif_err("evfd token write: %m");
		shutdown(ev->lib_fd, SHUT_RDWR);
		ev->hup = true;
		ev->in = true;
	}
}
