/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * shm RMA: cross-memory attach.  A registration is just its address range
 * (nothing to pin: the kernel resolves pages at copy time), a window's blob
 * carries its virtual address in the owner's process, and every piece is
 * one process_vm_writev or process_vm_readv against the peer's pid, done
 * before rma_post returns.  Pieces therefore complete in posting order,
 * which gives SCIF_PROV_ORDERED_RMA for free.
 *
 * The kernel checks each copy against the peer's address space: an address
 * the peer has unmapped fails with EFAULT, never touches other memory.
 * Access needs ptrace rights over the peer (same credentials, and Yama's
 * ptrace_scope permitting; see shm_cma_setup).
 */
#include "shm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/uio.h>
#include <unistd.h>

#define SHM_BLOB_MAGIC 0x42534353u /* "SCSB" */
#define SHM_BLOB_VERSION 1
#define SHM_BLOB_LEN 16

void shm_query(struct scif_ep *ep, struct scif_prov_attr *attr)
{
	attr->max_piece = SHM_MAX_PIECE;
	attr->align = 1;
	attr->caps = SCIF_PROV_ORDERED_RMA | SCIF_PROV_CHEAP_REG;
}

/* Whether cross-memory attach reaches the page at va: not in mappings of
 * raw page frames (VM_PFNMAP), as DRM drivers map their dma-bufs. */
static bool cma_reaches(void *va)
{
	char c;
	struct iovec l = { &c, 1 }, r = { va, 1 };

	if (process_vm_readv(getpid(), &l, 1, &r, 1, 0) == 1)
		return true;
	scif_info("cross-memory attach cannot reach the dma-buf's mapping "
		  "(%m): not registered");
	return false;
}

int shm_mr_reg(struct scif_ep *ep, const struct scif_mem *mem,
	       struct scif_mr *mr)
{
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t start = (uintptr_t)mem->va & ~(page - 1);

	/* a dma-buf through the core's mapping of it (cross-memory attach
	 * and the CPU need it in this process) */
	if (mem->kind != SCIF_MEM_VA &&
	    (mem->kind != SCIF_MEM_DMABUF || !mem->va))
		return -EOPNOTSUPP;
	if (mem->kind == SCIF_MEM_DMABUF && !cma_reaches(mem->va))
		return -EOPNOTSUPP;
	/* Nothing to pin, but say -EFAULT now for a range that is not mapped
	 * (MS_ASYNC writes nothing back: it only walks the mappings). */
	if (mem->len &&
	    msync((void *)start, (uintptr_t)mem->va + mem->len - start,
		  MS_ASYNC))
		return errno == ENOMEM ? -EFAULT : -errno;
	mr->handle = NULL;
	mr->priv = NULL;
	return 0;
}

void shm_mr_dereg(struct scif_ep *ep, struct scif_mr *mr)
{
	mr->handle = NULL;
}

static void put_le(unsigned char *p, uint64_t v, int bytes)
{
	int i;

	for (i = 0; i < bytes; i++)
		p[i] = (unsigned char)(v >> (8 * i));
}

static uint64_t get_le(const unsigned char *p, int bytes)
{
	uint64_t v = 0;
	int i;

	for (i = bytes - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

/* blob: magic u32, version u32, va u64, little-endian */
int shm_mr_export(struct scif_ep *ep, const struct scif_mr *mr, void *blob,
		  size_t cap)
{
	unsigned char *p = blob;

	if (cap < SHM_BLOB_LEN)
		return -ENOSPC;
	put_le(p, SHM_BLOB_MAGIC, 4);
	put_le(p + 4, SHM_BLOB_VERSION, 4);
	put_le(p + 8, (uintptr_t)mr->va, 8);
	return SHM_BLOB_LEN;
}

int shm_rmr_import(struct scif_ep *ep, const void *blob, size_t bloblen,
		   uint64_t len, struct scif_rmr *rmr)
{
	const unsigned char *p = blob;
	uint64_t va;

	if (bloblen != SHM_BLOB_LEN || get_le(p, 4) != SHM_BLOB_MAGIC ||
	    get_le(p + 4, 4) != SHM_BLOB_VERSION)
		return -EPROTO;
	va = get_le(p + 8, 8);
	if (va + len < va)
		return -EPROTO;
	memset(rmr, 0, sizeof(*rmr));
	rmr->len = len;
	rmr->data[0] = va;
	return 0;
}

void shm_rmr_release(struct scif_ep *ep, struct scif_rmr *rmr)
{
	rmr->handle = NULL;
}

static int cma_error(int err, pid_t pid, bool write, const void *local,
		     uint64_t remote, uint64_t len)
{
	const char *op = write ? "write to" : "read from";

	switch (err) {
	case EPERM:
		scif_err("shm: RMA %s peer pid %d refused: cross-memory attach "
			 "to the peer pid was refused (Yama ptrace_scope or "
			 "different credentials)",
			 op, (int)pid);
		break;
	case ESRCH:
		scif_err("shm: RMA %s peer pid %d: the peer process is gone",
			 op, (int)pid);
		break;
	case EFAULT:
		scif_err("shm: RMA %s peer pid %d: an address is not mapped "
			 "(local %p or peer 0x%llx, %llu bytes)",
			 op, (int)pid, local, (unsigned long long)remote,
			 (unsigned long long)len);
		break;
	default:
		scif_err("shm: RMA %s peer pid %d: %s", op, (int)pid,
			 strerror(err));
	}
	return -ECONNRESET;
}

/* Copy len bytes between local and the peer's remote, however the kernel
 * splits it. */
static int cma_copy(pid_t pid, bool write, void *local, uint64_t remote,
		    uint64_t len)
{
	char *l = local;
	ssize_t n;

	while (len) {
		size_t chunk = len < SHM_MAX_PIECE ? len : SHM_MAX_PIECE;
		struct iovec li = { .iov_base = l, .iov_len = chunk };
		struct iovec ri = { .iov_base = (void *)(uintptr_t)remote,
				    .iov_len = chunk };

		n = write ? process_vm_writev(pid, &li, 1, &ri, 1, 0) :
			    process_vm_readv(pid, &li, 1, &ri, 1, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) /* 0: nothing moved, as for an unmapped page */
			return cma_error(n < 0 ? errno : EFAULT, pid, write, l,
					 remote, len);
		l += n;
		remote += (uint64_t)n;
		len -= (uint64_t)n;
	}
	return 0;
}

/* [ep locked] Move one piece.  A large one moves without the endpoint lock
 * (the core allows it); ep_close waits for it. */
static int rma_piece(struct shm_conn *c, const struct scif_rma_seg *s)
{
	uint64_t raddr = s->rmr->data[0] + s->roff;
	bool write = s->op == SCIF_RMA_OP_WRITE;
	struct scif_ep *ep = c->ep;
	pid_t pid = c->peer_pid;
	uint64_t imm = s->imm;
	bool unlocked;
	int ret;

	if (s->flags & SCIF_SEG_IMM)
		return write ? cma_copy(pid, true, &imm, raddr, sizeof(imm)) :
			       -EINVAL;
	unlocked = s->len > SHM_UNLOCKED_COPY;
	if (unlocked) {
		c->copying++;
		scif__ep_unlock(ep);
	}
	ret = cma_copy(pid, write, (char *)s->lmr->va + s->loff, raddr,
		       s->len);
	if (unlocked) {
		scif__ep_lock(ep);
		if (!--c->copying && c->closing)
			scif__ep_wake(ep);
	}
	return ret;
}

int shm_rma_post(struct scif_ep *ep, const struct scif_rma_seg *segs, int n)
{
	struct shm_conn *c = shm_conn_of(ep);
	int i, ret = 0;

	if (!c || c->state != SHM_UP || c->dead || !c->peer_pid)
		return -ECONNRESET;
	for (i = 0; i < n; i++) {
		/* after a failure RMA on the connection has ended: the
		 * rest completes with the same error */
		if (!ret)
			ret = rma_piece(c, &segs[i]);
		scif__ep_rma_piece_done(ep, segs[i].seq, ret);
	}
	return n;
}

/*
 * Make cross-memory attach to us possible for our peers.  With Yama's
 * ptrace_scope 1 only ancestors may attach, which rules out two unrelated
 * processes of one job; like MPI libraries doing CMA (Open MPI, MPICH), we
 * declare any process of ours a permitted tracer.  This widens who may
 * ptrace us to every process with our credentials: the same set that
 * ptrace_scope 0 allows.  SCIF_SHM_PTRACER=0 keeps Yama's default (then
 * shm RMA works only where ptrace_scope is 0 or by privilege).
 */
void shm_cma_setup(struct scif_lib *lib)
{
	FILE *f = fopen("/proc/sys/kernel/yama/ptrace_scope", "re");
	int scope = 0;

	if (!f)
		return; /* no Yama */
	if (fscanf(f, "%d", &scope) != 1)
		scope = 0;
	fclose(f);
	if (scope == 1 && scif__env_u32("SCIF_SHM_PTRACER", 1, 0, 1)) {
		if (prctl(PR_SET_PTRACER, PR_SET_PTRACER_ANY, 0, 0, 0))
			scif_warn("shm: prctl(PR_SET_PTRACER): %m: RMA from "
				  "peers will be refused");
	} else if (scope == 1) {
		scif_warn("shm: Yama ptrace_scope is 1 and SCIF_SHM_PTRACER=0: "
			  "RMA from peers will be refused");
	} else if (scope >= 2) {
		scif_warn("shm: Yama ptrace_scope is %d: cross-memory attach "
			  "between processes is refused, so shm RMA will fail "
			  "(EPERM) without CAP_SYS_PTRACE",
			  scope);
	}
}
