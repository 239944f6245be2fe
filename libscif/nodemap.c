/* SPDX-License-Identifier: BSD-3-Clause */
#include "nodemap.h"
#include "log.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int node_cmp(const void *a, const void *b)
{
	const struct scif_node *x = a, *y = b;

	return (int)x->id - (int)y->id;
}

static int parse_fail(struct scif_nodemap *map, char *err, size_t errlen,
		      unsigned lineno, const char *why)
{
	if (err && errlen)
		snprintf(err, errlen, "line %u: %s", lineno, why);
	scif__nodemap_free(map);
	return -EINVAL;
}

/* Split one line into at most 3 whitespace-separated tokens. */
static int tokenize(char *line, char **tok, int max)
{
	int n = 0;
	char *p = line;

	while (*p) {
		while (*p && isspace((unsigned char)*p))
			p++;
		if (!*p)
			break;
		if (n == max)
			return max + 1;
		tok[n++] = p;
		while (*p && !isspace((unsigned char)*p))
			p++;
		if (*p)
			*p++ = '\0';
	}
	return n;
}

int scif__nodemap_parse(const char *text, struct scif_nodemap *map, char *err,
			size_t errlen)
{
	const char *p = text;
	unsigned lineno = 0;
	size_t cap = 0, i;

	map->nodes = NULL;
	map->count = 0;
	while (*p) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		char line[1024], *hash, *tok[3], *end;
		unsigned long id;
		int n;

		lineno++;
		if (len >= sizeof(line))
			return parse_fail(map, err, errlen, lineno,
					  "line too long");
		memcpy(line, p, len);
		line[len] = '\0';
		p += len + (eol ? 1 : 0);

		hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		n = tokenize(line, tok, 2);
		if (n == 0)
			continue;
		if (n != 2)
			return parse_fail(map, err, errlen, lineno,
					  "expected '<node-id> <address>'");
		errno = 0;
		id = strtoul(tok[0], &end, 10);
		if (!isdigit((unsigned char)tok[0][0]) || *end || errno ||
		    id > SCIF_NODE_ID_MAX)
			return parse_fail(map, err, errlen, lineno,
					  "node id is not a number in 0..65534");
		if (strlen(tok[1]) >= SCIF_NODE_ADDR_MAX)
			return parse_fail(map, err, errlen, lineno,
					  "address too long");
		for (i = 0; i < map->count; i++) {
			if (map->nodes[i].id == id)
				return parse_fail(map, err, errlen, lineno,
						  "duplicate node id");
			if (!strcmp(map->nodes[i].addr, tok[1]))
				return parse_fail(map, err, errlen, lineno,
						  "duplicate address");
		}
		if (map->count == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			struct scif_node *nn =
				realloc(map->nodes, ncap * sizeof(*nn));

			if (!nn) {
				scif__nodemap_free(map);
				return -ENOMEM;
			}
			map->nodes = nn;
			cap = ncap;
		}
		map->nodes[map->count].id = (uint16_t)id;
		strcpy(map->nodes[map->count].addr, tok[1]);
		map->count++;
	}
	if (map->count)
		qsort(map->nodes, map->count, sizeof(*map->nodes), node_cmp);
	return 0;
}

int scif__nodemap_load(const char *path, struct scif_nodemap *map, char *err,
		       size_t errlen)
{
	FILE *f = fopen(path, "re");
	char *text = NULL;
	size_t len = 0, cap = 0, n;
	int ret;

	if (!f) {
		ret = -errno;
		if (err && errlen)
			snprintf(err, errlen, "%s: %s", path, strerror(-ret));
		return ret;
	}
	do {
		if (cap - len < 4096) {
			char *t;

			if (cap > (1u << 24)) { /* a node map is never 16 MiB */
				free(text);
				fclose(f);
				return -EFBIG;
			}
			t = realloc(text, cap + 8192);
			if (!t) {
				free(text);
				fclose(f);
				return -ENOMEM;
			}
			text = t;
			cap += 8192;
		}
		errno = 0;
		n = fread(text + len, 1, cap - len - 1, f);
		len += n;
	} while (n > 0);
	ret = ferror(f) ? (errno ? -errno : -EIO) : 0;
	fclose(f);
	if (!ret) {
		text[len] = '\0';
		if (memchr(text, '\0', len))
			ret = -EINVAL;
		else
			ret = scif__nodemap_parse(text, map, err, errlen);
	}
	free(text);
	return ret;
}

void scif__nodemap_free(struct scif_nodemap *map)
{
	free(map->nodes);
	map->nodes = NULL;
	map->count = 0;
}

const struct scif_node *scif__nodemap_find(const struct scif_nodemap *map,
					   uint16_t id)
{
	struct scif_node key = { .id = id };

	if (!map->count)
		return NULL;
	return bsearch(&key, map->nodes, map->count, sizeof(key), node_cmp);
}

int scif__nodemap_add(struct scif_nodemap *map, uint16_t id, const char *addr)
{
	struct scif_node *n;
	size_t i;

	if (id > SCIF_NODE_ID_MAX)
		return -EINVAL;
	if (scif__nodemap_find(map, id))
		return -EEXIST;
	n = realloc(map->nodes, (map->count + 1) * sizeof(*n));
	if (!n)
		return -ENOMEM;
	map->nodes = n;
	for (i = map->count; i > 0 && n[i - 1].id > id; i--)
		n[i] = n[i - 1];
	memset(&n[i], 0, sizeof(n[i]));
	n[i].id = id;
	snprintf(n[i].addr, sizeof(n[i].addr), "%s", addr);
	map->count++;
	return 0;
}

int scif__node_resolve(const struct scif_node *node,
		       struct sockaddr_storage *sa, socklen_t *salen)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC,
				  .ai_socktype = SOCK_STREAM };
	struct addrinfo *res;
	int rc;

	if (!node->addr[0]) /* a kernel SCIF node: no address reaches it */
		return -ENODEV;
	rc = getaddrinfo(node->addr, NULL, &hints, &res);
	if (rc) {
		scif_warn("node %u: cannot resolve '%s': %s", node->id,
			  node->addr, gai_strerror(rc));
		return -ENODEV;
	}
	memcpy(sa, res->ai_addr, res->ai_addrlen);
	*salen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

/*
 * An answer of any kind to a TCP connect to the node's address (a
 * listener, or a reset from a closed port) says its kernel is there; no
 * answer in time, or an unreachable network, that it is not.  The port
 * probed is SCIF's (the core's reserved range is not listened on), port 1
 * by convention.  It says nothing about SCIF software running there.
 */
int scif__node_answers(const struct scif_node *node, int timeout_ms)
{
	struct sockaddr_storage sa;
	struct pollfd pfd;
	socklen_t len, elen = sizeof(int);
	int fd, err = 0, ret;

	if (scif__node_resolve(node, &sa, &len))
		return -ENODEV;
	((struct sockaddr_in *)&sa)->sin_port = htons(1); /* same in v6 */
	fd = socket(sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0)
		return -errno;
	ret = connect(fd, (struct sockaddr *)&sa, len);
	if (ret && errno == EINPROGRESS) {
		pfd.fd = fd;
		pfd.events = POLLOUT;
		ret = poll(&pfd, 1, timeout_ms);
		if (ret == 1 && !getsockopt(fd, SOL_SOCKET, SO_ERROR, &err,
					    &elen)) {
			ret = err ? -1 : 0;
		} else {
			ret = -1;
			err = ETIMEDOUT;
		}
	} else if (ret) {
		err = errno;
	}
	close(fd);
	if (!ret || err == ECONNREFUSED)
		return 0;
	scif_dbg("node %u does not answer: %s", node->id, strerror(err));
	return -ENODEV;
}

static int addr_equal(const struct sockaddr *a, const struct sockaddr *b)
{
	if (a->sa_family != b->sa_family)
		return 0;
	if (a->sa_family == AF_INET)
		return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)b)->sin_addr.s_addr;
	if (a->sa_family == AF_INET6)
		return !memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
			       &((const struct sockaddr_in6 *)b)->sin6_addr,
			       sizeof(struct in6_addr));
	return 0;
}

int scif__nodemap_self(const struct scif_nodemap *map, uint16_t *self)
{
	const char *env = getenv("SCIF_SELF_NODE");
	struct ifaddrs *ifa, *i;
	int found = -1;
	size_t n;

	if (env && *env) {
		char *end;
		unsigned long id = strtoul(env, &end, 10);

		/* digits only: strtoul would take signs and blanks */
		if (strspn(env, "0123456789") != strlen(env) || *end ||
		    id > SCIF_NODE_ID_MAX ||
		    !scif__nodemap_find(map, (uint16_t)id)) {
			scif_err("SCIF_SELF_NODE=%s is not a node of the map",
				 env);
			return -ENODEV;
		}
		*self = (uint16_t)id;
		return 0;
	}
	if (getifaddrs(&ifa)) {
		scif_err("getifaddrs: %m");
		return -errno;
	}
	for (n = 0; n < map->count; n++) {
		struct sockaddr_storage sa;
		socklen_t salen;

		if (scif__node_resolve(&map->nodes[n], &sa, &salen))
			continue;
		for (i = ifa; i; i = i->ifa_next) {
			if (!i->ifa_addr ||
			    !addr_equal(i->ifa_addr, (struct sockaddr *)&sa))
				continue;
			if (found >= 0 && (size_t)found != n) {
				freeifaddrs(ifa);
				scif_err("nodes %u and %u are both local: set "
					 "SCIF_SELF_NODE",
					 map->nodes[found].id,
					 map->nodes[n].id);
				return -ENODEV;
			}
			found = (int)n;
		}
	}
	freeifaddrs(ifa);
	if (found < 0) {
		scif_err("no node of the map has a local address; set "
			 "SCIF_SELF_NODE");
		return -ENODEV;
	}
	*self = map->nodes[found].id;
	return 0;
}
