/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * mic windows, RMA and fences: the kernel keeps the windows, so each call
 * is the kernel's ioctl (ops->ep_kcall), or with SCIF_MIC_DMA the RMA and
 * fences the engine can carry out (mic_dma.h).  The call works on its own
 * duplicate of the endpoint's file: a scif_close meanwhile releases the
 * kernel endpoint only when the call is done, as with Intel's libscif,
 * where the application's descriptor is the file.
 */
#include "mic.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

static int kcall_copy(struct scif_prov *mp, int fd, enum scif_kcall call,
		      struct scif_kcall_args *a)
{
	static const enum mic_cmd cmd[] = {
		[SCIF_KC_READFROM] = MIC_READFROM,
		[SCIF_KC_WRITETO] = MIC_WRITETO,
		[SCIF_KC_VREADFROM] = MIC_VREADFROM,
		[SCIF_KC_VWRITETO] = MIC_VWRITETO,
	};
	struct mic_io_copy c = { .loffset = a->loff, .len = a->len,
				 .roffset = a->roff,
				 .addr = (uintptr_t)a->addr,
				 .flags = a->flags };

	return mic_ioctl(mp, fd, cmd[call], &c);
}

static int kcall_fd(struct scif_prov *mp, int fd, enum scif_kcall call,
		    struct scif_kcall_args *a)
{
	switch (call) {
	case SCIF_KC_REGISTER: {
		struct mic_io_reg r = { .addr = (uintptr_t)a->addr,
					.len = a->len, .offset = a->loff,
					.prot = a->prot, .flags = a->flags };
		int ret = mic_ioctl(mp, fd, MIC_REG, &r);

		a->out_off = r.out_offset;
		return ret;
	}
	case SCIF_KC_UNREGISTER: {
		struct mic_io_unreg u = { .offset = a->loff, .len = a->len };

		return mic_ioctl(mp, fd, MIC_UNREG, &u);
	}
	case SCIF_KC_READFROM:
	case SCIF_KC_WRITETO:
	case SCIF_KC_VREADFROM:
	case SCIF_KC_VWRITETO:
		return kcall_copy(mp, fd, call, a);
	case SCIF_KC_FENCE_MARK: {
		struct mic_io_fence_mark m = { .flags = a->flags,
					       .mark = (uintptr_t)a->markp };

		return mic_ioctl(mp, fd, MIC_FENCE_MARK, &m);
	}
	case SCIF_KC_FENCE_WAIT:
		return mic_ioctl(mp, fd, MIC_FENCE_WAIT,
				 (void *)(intptr_t)a->mark);
	case SCIF_KC_FENCE_SIGNAL: {
		struct mic_io_fence_signal s = { .loff = a->loff,
						 .lval = a->lval,
						 .roff = a->roff,
						 .rval = a->rval,
						 .flags = a->flags };

		return mic_ioctl(mp, fd, MIC_FENCE_SIGNAL, &s);
	}
	}
	return -EINVAL;
}

struct kern_ctx {
	struct scif_prov *mp;
	int fd;
	enum scif_kcall call;
};

static int kern(void *ctx, struct scif_kcall_args *a)
{
	struct kern_ctx *k = ctx;

	return kcall_fd(k->mp, k->fd, k->call, a);
}

/* The engine's, when SCIF_MIC_DMA is set and it can; else the kernel's. */
static int kcall_route(struct scif_prov *mp, int fd, struct mic_dma_conn *dc,
		       enum scif_kcall call, struct scif_kcall_args *a)
{
	struct kern_ctx k = { mp, fd, call };
	int ret;

	if (!dc)
		return kcall_fd(mp, fd, call, a);
	if (call == SCIF_KC_REGISTER || call == SCIF_KC_UNREGISTER)
		return mic_dma_window(dc, call, a, kern, &k);
	if (mic_dma_kcall(dc, call, a, &ret))
		return ret;
	return kcall_fd(mp, fd, call, a);
}

int mic_ep_kcall(struct scif_ep *ep, enum scif_kcall call,
		 struct scif_kcall_args *a)
{
	struct mic_dma_conn *dc = NULL;
	struct scif_prov *mp = NULL;
	struct mic_conn *c;
	int fd = -1, ret;

	/* The header's EINVAL; the driver would fault on the address. */
	if (call == SCIF_KC_FENCE_MARK && !a->markp)
		return -EINVAL;

	scif__ep_lock(ep);
	c = scif__ep_prov_data(ep);
	if (c && c->fd >= 0) {
		mp = c->mp;
		fd = fcntl(c->fd, F_DUPFD_CLOEXEC, 0);
		if (fd < 0)
			scif_err("mic: dup: %m");
		/* Once the peer is gone, the kernel answers (ECONNRESET). */
		dc = c->gone ? NULL : c->dma;
		if (dc && fd >= 0)
			mic_dma_conn_get(dc);
	}
	scif__ep_unlock(ep);
	if (!mp)
		return -ENOTCONN;
	if (fd < 0)
		return -ENOMEM;
	ret = kcall_route(mp, fd, dc, call, a);
	mic_dma_conn_put(dc);
	close(fd);
	return ret < 0 ? ret : 0;
}
