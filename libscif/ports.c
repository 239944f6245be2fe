/* SPDX-License-Identifier: BSD-3-Clause */
#include "ports.h"
#include "log.h"
#include "scif.h"

#include <errno.h>
#include <linux/capability.h>
#include <stdlib.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#define NPORTS 65536u

int scif__ports_init(struct scif_ports *p)
{
	p->refs = calloc(NPORTS, sizeof(*p->refs));
	p->node_fd = calloc(NPORTS, sizeof(*p->node_fd));
	if (!p->refs || !p->node_fd) {
		free(p->refs);
		free(p->node_fd);
		return -ENOMEM;
	}
	pthread_mutex_init(&p->lock, NULL);
	/* Start from a per-process point so that processes racing for ports
	 * on one node rarely probe the same candidates. */
	p->cursor = SCIF_PORT_RSVD +
		    (uint32_t)getpid() % (NPORTS - SCIF_PORT_RSVD);
	return 0;
}

void scif__ports_fini(struct scif_ports *p)
{
	uint32_t i;

	for (i = 0; i < NPORTS; i++)
		if (p->node_fd[i])
			close(p->node_fd[i] - 1);
	free(p->node_fd);
	p->node_fd = NULL;
	free(p->refs);
	p->refs = NULL;
	pthread_mutex_destroy(&p->lock);
}

void scif__ports_abandon(struct scif_ports *p)
{
	uint32_t i;

	for (i = 0; p->node_fd && i < NPORTS; i++)
		if (p->node_fd[i]) {
			close(p->node_fd[i] - 1);
			p->node_fd[i] = 0;
		}
}

bool scif__port_privileged(void)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
	struct __user_cap_data_struct data[2] = { { 0 } };

	if (geteuid() == 0)
		return true;
	if (syscall(SYS_capget, &hdr, data))
		return false;
	return data[0].effective & (1u << CAP_NET_BIND_SERVICE);
}

int scif__port_node_try(uint16_t port, void *arg)
{
	struct scif_ports *p = arg;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	socklen_t len;
	int fd, n;

	n = snprintf(sa.sun_path + 1, sizeof(sa.sun_path) - 1,
		     "scif-fabric/port/%u", port);
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		n = -errno;
		scif_err("port reservation socket: %m");
		return n;
	}
	if (bind(fd, (struct sockaddr *)&sa, len)) {
		n = errno == EADDRINUSE ? -EADDRINUSE : -errno;
		if (n != -EADDRINUSE)
			scif_err("port %u reservation: %m", port);
		close(fd);
		return n;
	}
	p->node_fd[port] = fd + 1;
	return 0;
}

int scif__port_take(struct scif_ports *p, uint16_t port)
{
	int ret = 0;

	if (port == 0)
		return -EINVAL;
	if (port < SCIF_ADMIN_PORT_END && !scif__port_privileged())
		return -EACCES;
	pthread_mutex_lock(&p->lock);
	if (p->refs[port])
		ret = -EINVAL;
	else
		p->refs[port] = 1;
	pthread_mutex_unlock(&p->lock);
	return ret;
}

int scif__port_reserve(struct scif_ports *p, uint16_t port)
{
	int ret = scif__port_take(p, port);

	if (ret)
		return ret;
	pthread_mutex_lock(&p->lock);
	/* bound by another process of the node: the header says EINVAL for
	 * a port that is already bound */
	ret = scif__port_node_try(port, p);
	if (ret)
		p->refs[port] = 0;
	pthread_mutex_unlock(&p->lock);
	return ret == -EADDRINUSE ? -EINVAL : ret;
}

int scif__port_alloc(struct scif_ports *p, scif_port_try_fn try_fn, void *arg,
		     uint16_t *port)
{
	const uint32_t span = NPORTS - SCIF_PORT_RSVD;
	uint32_t i;

	pthread_mutex_lock(&p->lock);
	for (i = 0; i < span; i++) {
		uint32_t cand = SCIF_PORT_RSVD +
				(p->cursor - SCIF_PORT_RSVD + i) % span;
		int ret;

		if (p->refs[cand])
			continue;
		ret = try_fn ? try_fn((uint16_t)cand, arg) : 0;
		if (ret == -EADDRINUSE)
			continue;
		if (ret) {
			pthread_mutex_unlock(&p->lock);
			return ret;
		}
		p->refs[cand] = 1;
		p->cursor = cand + 1;
		pthread_mutex_unlock(&p->lock);
		*port = (uint16_t)cand;
		return 0;
	}
	pthread_mutex_unlock(&p->lock);
	scif_warn("no free SCIF port left");
	return -ENOSPC;
}

void scif__port_ref(struct scif_ports *p, uint16_t port)
{
	pthread_mutex_lock(&p->lock);
	p->refs[port]++;
	pthread_mutex_unlock(&p->lock);
}

void scif__port_release(struct scif_ports *p, uint16_t port)
{
	pthread_mutex_lock(&p->lock);
	if (!p->refs[port])
		scif_err("release of unbound port %u", port);
	else if (!--p->refs[port] && p->node_fd[port]) {
		close(p->node_fd[port] - 1);
		p->node_fd[port] = 0;
	}
	pthread_mutex_unlock(&p->lock);
}

uint32_t scif__port_refs(struct scif_ports *p, uint16_t port)
{
	uint32_t n;

	pthread_mutex_lock(&p->lock);
	n = p->refs[port];
	pthread_mutex_unlock(&p->lock);
	return n;
}
