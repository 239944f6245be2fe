/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The node map: which SCIF node id lives at which fabric address.
 *
 * File format: one "<node-id> <address>" per line; '#' starts a comment;
 * blank lines are ignored.  The address is an IPv4/IPv6 literal or a host
 * name of the node's fabric interface.  Default path /etc/scif/nodes.conf,
 * overridden by SCIF_NODES_FILE.
 */
#ifndef SCIF_NODEMAP_H
#define SCIF_NODEMAP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define SCIF_NODES_FILE_DEFAULT "/etc/scif/nodes.conf"
#define SCIF_NODE_ADDR_MAX 256
#define SCIF_NODE_ID_MAX 0xfffe /* 0xffff is never a node */

struct scif_node {
	uint16_t id;
	char addr[SCIF_NODE_ADDR_MAX];
};

struct scif_nodemap {
	struct scif_node *nodes; /* sorted by id */
	size_t count;
};

/*
 * Parse the text of a node map.  Returns 0, or -EINVAL with a message
 * naming the line in err.  On error map is left empty.
 */
int scif__nodemap_parse(const char *text, struct scif_nodemap *map, char *err,
			size_t errlen);
/* Read and parse a file; -errno of the open/read, or -EINVAL. */
int scif__nodemap_load(const char *path, struct scif_nodemap *map, char *err,
		       size_t errlen);
void scif__nodemap_free(struct scif_nodemap *map);
const struct scif_node *scif__nodemap_find(const struct scif_nodemap *map,
					   uint16_t id);
/* Add a node (kept sorted); -EEXIST if the id is taken.  An empty address
 * is a node no address reaches (the kernel SCIF device's cards). */
int scif__nodemap_add(struct scif_nodemap *map, uint16_t id, const char *addr);
/* Resolve a node's address to a socket address (numeric or by name). */
int scif__node_resolve(const struct scif_node *node,
		       struct sockaddr_storage *sa, socklen_t *salen);
/* 0 when the node's host answers a TCP connect to its address within
 * timeout_ms (a reset counts), -ENODEV otherwise. */
int scif__node_answers(const struct scif_node *node, int timeout_ms);
/*
 * This process's node: SCIF_SELF_NODE if set (must be in the map), else the
 * single map entry whose address is configured on a local interface.
 */
int scif__nodemap_self(const struct scif_nodemap *map, uint16_t *self);

#endif
