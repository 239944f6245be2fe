/* SPDX-License-Identifier: BSD-3-Clause */
/* A raw client of the tcp provider (tcp_raw.h). */
#include "tcp_raw.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <unistd.h>

int tcp_raw_read(int fd, void *buf, size_t len)
{
	size_t got = 0;
	ssize_t r;

	while (got < len) {
		r = recv(fd, (char *)buf + got, len - got, 0);
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

int tcp_raw_next(int fd, uint8_t want, unsigned char *buf, size_t cap)
{
	unsigned char h[SCIF_WIRE_HDR_LEN], junk[4096];
	uint32_t len;

	for (;;) {
		if (tcp_raw_read(fd, h, sizeof(h)))
			return -1;
		len = (uint32_t)tcp_get_le(h + 4, 4);
		if (h[0] == want && len <= cap)
			return tcp_raw_read(fd, buf, len) ? -1 : (int)len;
		while (len) {
			uint32_t n = len < sizeof(junk) ? len : sizeof(junk);

			if (tcp_raw_read(fd, junk, n))
				return -1;
			len -= n;
		}
	}
}

int tcp_raw_frame(int fd, uint8_t type, const void *p, uint32_t len,
		  uint32_t claimed)
{
	unsigned char h[SCIF_WIRE_HDR_LEN];
	struct scif_wire_hdr wh = { .type = type, .len = claimed };

	scif__wire_encode(h, &wh);
	if (send(fd, h, sizeof(h), MSG_NOSIGNAL) != sizeof(h) ||
	    (len && send(fd, p, len, MSG_NOSIGNAL) != (ssize_t)len))
		return -1;
	return 0;
}

int tcp_raw_connect(uint16_t port, uint16_t as)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons(port) };
	struct tcp_hello m = { .node = 0, .port = as, .dnode = 0,
			       .dport = port, .rxwin = 1 << 16 };
	unsigned char buf[SCIF_WIRE_HDR_LEN + 20], p[20];
	int fd = -1, i, one = 1;

	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	for (i = 0; i < 100; i++) {
		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd >= 0 && !connect(fd, (struct sockaddr *)&sa, sizeof(sa)))
			break;
		if (fd >= 0)
			close(fd);
		fd = -1;
		usleep(50000);
	}
	if (fd < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	tcp_hello_encode(buf, TCP_HELLO, &m);
	if (send(fd, buf, sizeof(buf), MSG_NOSIGNAL) != sizeof(buf) ||
	    tcp_raw_next(fd, TCP_ACCEPT, p, sizeof(p)) != 20) {
		close(fd);
		return -1;
	}
	return fd;
}
