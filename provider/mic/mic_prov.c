/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mic provider instance: finding the device and its numbering, the
 * kernel's nodes, the ops table (mic.h).
 *
 * Settings (environment, read once at initialisation):
 *   SCIF_MIC_DEVICE   the device node to use (default: /dev/scif, then
 *                     /dev/mic/scif, the first that opens and answers)
 *   SCIF_MIC_DMA      RMA through the x100 engine (mic_dma.h)
 *
 * The numbering: a device that answers SCIF_GET_VERSION (MPSS 3's
 * _IO('s', 23)) speaks MPSS 3's and must say version 1 (Intel's libscif
 * refuses any other, as here); one that refuses it speaks Linux's.  Either
 * way SCIF_GET_NODEIDS must then succeed, or the node is not a SCIF device.
 */
#include "mic.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

int mic_ioctl(struct scif_prov *mp, int fd, enum mic_cmd cmd, void *arg)
{
	unsigned long req = mic_abi_request(mp->abi, cmd);
	int r, e, m;

	do
		r = ioctl(fd, req, arg);
	while (r < 0 && errno == EINTR);
	if (r >= 0)
		return r;
	e = errno;
	m = mic_abi_errno(cmd, e);
	if (m != e)
		scif_warn("mic: %s on %s: %m: the device is gone (ENODEV)",
			  mic_abi_cmd_name(cmd), mp->path);
	else
		scif_dbg("mic: %s: %m", mic_abi_cmd_name(cmd));
	return -m;
}

int mic_open_dev(struct scif_prov *mp, int flags)
{
	int fd = open(mp->path, O_RDWR | O_CLOEXEC | flags);

	if (fd < 0) {
		scif_warn("mic: open %s: %m", mp->path);
		return errno == ENOENT || errno == ENXIO ? -ENODEV : -errno;
	}
	return fd;
}

/* The kernel's nodes and our own (SCIF_GET_NODEIDS). */
static int query_nodes(struct scif_prov *mp, int fd, uint16_t *nodes,
		       int *n, uint16_t *self)
{
	uint8_t arg[MIC_IO_NODEIDS_SIZE];
	uint64_t un, us;
	int32_t len;
	int ret;

	mic_abi_nodeids_pack(mp->abi, arg, (uintptr_t)nodes, (uintptr_t)self,
			     MIC_MAX_NODES);
	ret = mic_ioctl(mp, fd, MIC_GET_NODEIDS, arg);
	if (ret < 0)
		return ret;
	mic_abi_nodeids_unpack(mp->abi, arg, &un, &us, &len);
	if (len < 1) {
		scif_err("mic: %s lists %d nodes", mp->path, (int)len);
		return -ENODEV;
	}
	*n = len < MIC_MAX_NODES ? len : MIC_MAX_NODES;
	return 0;
}

/* Open path and find its numbering; 0 with mp filled, or -ENODEV. */
static int probe_dev(struct scif_prov *mp, const char *path)
{
	unsigned long gv = mic_abi_request(MIC_ABI_MPSS3, MIC_GET_VERSION);
	int fd, v, ret;

	snprintf(mp->path, sizeof(mp->path), "%s", path);
	fd = open(path, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		scif_dbg("mic: open %s: %m", path);
		return -ENODEV;
	}
	v = ioctl(fd, gv);
	mp->abi = v >= 0 ? MIC_ABI_MPSS3 : MIC_ABI_LINUX;
	if (v >= 0 && v != MIC_SCIF_VERSION) {
		scif_err("mic: %s: driver interface version %d, this library "
			 "speaks %d", path, v, MIC_SCIF_VERSION);
		close(fd);
		return -ENODEV;
	}
	ret = query_nodes(mp, fd, mp->nodes, &mp->nnodes, &mp->self);
	close(fd);
	if (ret) {
		scif_warn("mic: %s does not answer SCIF_GET_NODEIDS (%s "
			  "numbering): not a SCIF device", path,
			  mic_abi_name(mp->abi));
		return -ENODEV;
	}
	return 0;
}

/* The kernel's nodes join the node map; no id may mean two nodes: the
 * kernel's own node must be the map's self, its cards must not be in the
 * map (checked before anything is added). */
static int join_nodes(struct scif_prov *mp)
{
	uint16_t self = scif__self_node(mp->lib);
	const struct scif_node *n;
	int i;

	if (mp->self != self) {
		scif_err("mic: the kernel says this is node %u, the node map "
			 "node %u (SCIF_SELF_NODE, docs/nodes.md)",
			 mp->self, self);
		return -ENODEV;
	}
	for (i = 0; i < mp->nnodes; i++) {
		n = scif__node_find(mp->lib, mp->nodes[i]);
		if (mp->nodes[i] != self && n) {
			scif_err("mic: node %u is a card of %s and an entry of "
				 "the node map (%s): one id, two nodes",
				 mp->nodes[i], mp->path, n->addr);
			return -ENODEV;
		}
	}
	for (i = 0; i < mp->nnodes; i++)
		if (mp->nodes[i] != self && scif__node_add(mp->lib, mp->nodes[i]))
			return -ENOMEM;
	return 0;
}

static int mic_init(struct scif_lib *lib, struct scif_prov **out)
{
	static const char *const paths[] = { "/dev/scif", "/dev/mic/scif" };
	const char *want = getenv("SCIF_MIC_DEVICE");
	struct scif_prov *mp = calloc(1, sizeof(*mp));
	int ret = -ENODEV;
	size_t i;

	if (!mp)
		return -ENOMEM;
	mp->lib = lib;
	mp->pg = scif__lib_progress(lib);
	if (want && *want)
		ret = probe_dev(mp, want);
	else
		for (i = 0; i < sizeof(paths) / sizeof(paths[0]) && ret; i++)
			ret = probe_dev(mp, paths[i]);
	if (!ret)
		ret = join_nodes(mp);
	if (ret) {
		free(mp);
		return ret;
	}
	scif_info("mic: %s, %s numbering, node %u of %d", mp->path,
		  mic_abi_name(mp->abi), mp->self, mp->nnodes);
	mp->dma = mic_dma_new();
	*out = mp;
	return 0;
}

static void mic_fini(struct scif_prov *mp)
{
	mic_dma_free(mp->dma);
	free(mp);
}

static bool mic_reaches(struct scif_prov *mp, const struct scif_node *node)
{
	int i;

	for (i = 0; i < mp->nnodes; i++)
		if (mp->nodes[i] == node->id)
			return true;
	return false;
}

/* Up when the kernel lists it now. */
static int mic_node_probe(struct scif_prov *mp, const struct scif_node *node,
			  int timeout_ms)
{
	uint16_t nodes[MIC_MAX_NODES], self;
	int fd = mic_open_dev(mp, 0), n = 0, i, ret;

	if (fd < 0)
		return fd;
	ret = query_nodes(mp, fd, nodes, &n, &self);
	close(fd);
	for (i = 0; !ret && i < n; i++)
		if (nodes[i] == node->id)
			return 0;
	return -ENODEV;
}

const struct scif_provider_ops scif_mic_ops = {
	.size = sizeof(struct scif_provider_ops),
	.name = "mic",
	.priority = 300,
	.init = mic_init,
	.fini = mic_fini,
	.reaches = mic_reaches,
	.node_probe = mic_node_probe,
	.listen = mic_listen,
	.unlisten = mic_unlisten,
	.ep_open = mic_ep_open,
	.ep_connect = mic_ep_connect,
	.ep_accept = mic_ep_accept,
	.conn_reject = mic_conn_reject,
	.ep_close = mic_ep_close,
	.send = mic_send,
	.recv = mic_recv,
	.recv_ready = mic_recv_ready,
	.send_ready = mic_send_ready,
	.ep_kcall = mic_ep_kcall,
};
