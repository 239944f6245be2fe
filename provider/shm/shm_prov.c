/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * shm provider instance and ops table.  It reaches this node only, and is
 * preferred there (priority above verbs): a copy through shared memory
 * beats a loopback through the RDMA device.
 */
#include "shm.h"

#include <stdlib.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

struct shm_conn *shm_conn_of(struct scif_ep *ep)
{
	return scif__ep_prov_data(ep);
}

/* Whether this kernel (and its seccomp policy) lets us use the syscalls
 * the provider is made of. */
static int shm_usable(void)
{
	char a = 1, b = 0;
	struct iovec li = { .iov_base = &b, .iov_len = 1 };
	struct iovec ri = { .iov_base = &a, .iov_len = 1 };
	int fd = memfd_create("scif-shm-probe",
			      MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0) {
		scif_info("shm: memfd_create: %m: provider not available");
		return -ENODEV;
	}
	close(fd);
	if (process_vm_readv(getpid(), &li, 1, &ri, 1, 0) != 1 || b != a) {
		scif_info("shm: process_vm_readv: %m: provider not available");
		return -ENODEV;
	}
	return 0;
}

static uint32_t round_pow2(uint32_t v)
{
	uint32_t p = 1;

	while (p < v)
		p <<= 1;
	return p;
}

static int shm_init(struct scif_lib *lib, struct scif_prov **out)
{
	struct shm_prov *sp;
	uint32_t kb;
	int ret;

	ret = shm_usable();
	if (ret)
		return ret;
	sp = calloc(1, sizeof(*sp));
	if (!sp)
		return -ENOMEM;
	sp->lib = lib;
	sp->pg = scif__lib_progress(lib);
	kb = scif__env_u32("SCIF_SHM_RING_KB", 256, SHM_DSIZE_MIN >> 10,
			   SHM_DSIZE_MAX >> 10);
	sp->dsize = round_pow2(kb) << 10;
	shm_cma_setup(lib);
	*out = (struct scif_prov *)sp;
	return 0;
}

static void shm_fini(struct scif_prov *prov)
{
	free(prov);
}

static bool shm_reaches(struct scif_prov *prov, const struct scif_node *node)
{
	struct shm_prov *sp = (struct shm_prov *)prov;

	return node->id == scif__self_node(sp->lib);
}

static int shm_node_probe(struct scif_prov *prov, const struct scif_node *node,
			  int timeout_ms)
{
	return shm_reaches(prov, node) ? 0 : -ENODEV;
}

const struct scif_provider_ops scif_shm_ops = {
	.size = sizeof(struct scif_provider_ops),
	.name = "shm",
	.priority = 200,
	.init = shm_init,
	.fini = shm_fini,
	.reaches = shm_reaches,
	.node_probe = shm_node_probe,
	.listen = shm_listen,
	.unlisten = shm_unlisten,
	.ep_open = shm_ep_open,
	.ep_connect = shm_ep_connect,
	.ep_accept = shm_ep_accept,
	.conn_reject = shm_conn_reject,
	.ep_close = shm_ep_close,
	.send = shm_send,
	.recv = shm_recv,
	.recv_ready = shm_recv_ready,
	.send_ready = shm_send_ready,
	.ready = shm_ready,
	.ctrl_send = shm_ctrl_send,
	.ep_progress = shm_ep_progress,
	.ep_idle = shm_ep_idle,
	.query = shm_query,
	.mr_reg = shm_mr_reg,
	.mr_dereg = shm_mr_dereg,
	.mr_export = shm_mr_export,
	.rmr_import = shm_rmr_import,
	.rmr_release = shm_rmr_release,
	.rma_post = shm_rma_post,
	.rmr_fd = shm_rmr_fd,
};
