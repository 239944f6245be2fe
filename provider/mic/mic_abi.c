/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Request numbers, argument layouts and errno mapping of the kernel SCIF
 * device's two ioctl numberings (mic_abi.h).
 */
#include "mic_abi.h"

#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

struct cmd_info {
	const char *name;
	enum mic_arg arg;
	unsigned nr;
	size_t size; /* MIC_ABI_LINUX's size field and copied bytes */
	size_t mpss3_size; /* MPSS 3's size field: a pointer, or an int */
	int dir;	   /* _IOC_READ | _IOC_WRITE, as in the headers */
	int errs[12];	   /* errnos the header lists for the call, 0-ended */
};

#define RW (_IOC_READ | _IOC_WRITE)
#define P sizeof(void *)
#define I sizeof(int)

/* Errors any call may give: memory, a bad argument address, an
 * interrupted wait. */
static const int common_errs[] = { ENOMEM, EFAULT, EINTR, EBADF, 0 };

static const struct cmd_info cmds[MIC_NCMDS] = {
	[MIC_BIND] = { "SCIF_BIND", MIC_ARG_PTR, 1, 8, P, RW,
		       { EINVAL, EISCONN, ENOSPC, EACCES, EADDRINUSE } },
	[MIC_LISTEN] = { "SCIF_LISTEN", MIC_ARG_VALUE, 2, 4, I, _IOC_WRITE,
			 { EINVAL, EISCONN } },
	[MIC_CONNECT] = { "SCIF_CONNECT", MIC_ARG_PTR, 3,
			  sizeof(struct mic_io_connect), P, RW,
			  { ECONNREFUSED, EINVAL, EISCONN, ENODEV, ENOSPC,
			    EOPNOTSUPP, EINPROGRESS, EALREADY, ETIMEDOUT,
			    ECONNRESET } },
	[MIC_ACCEPTREQ] = { "SCIF_ACCEPTREQ", MIC_ARG_PTR, 4,
			    sizeof(struct mic_io_accept), P, RW,
			    { EAGAIN, EINVAL, ENODEV, ENOENT } },
	[MIC_ACCEPTREG] = { "SCIF_ACCEPTREG", MIC_ARG_PTR, 5, 8, P, RW,
			    { EINVAL, ENOENT } },
	[MIC_SEND] = { "SCIF_SEND", MIC_ARG_PTR, 6, sizeof(struct mic_io_msg),
		       P, RW,
		       { ECONNRESET, EINVAL, ENODEV, ENOTCONN, EAGAIN } },
	[MIC_RECV] = { "SCIF_RECV", MIC_ARG_PTR, 7, sizeof(struct mic_io_msg),
		       P, RW,
		       { ECONNRESET, EINVAL, ENODEV, ENOTCONN, EAGAIN } },
	[MIC_REG] = { "SCIF_REG", MIC_ARG_PTR, 8, sizeof(struct mic_io_reg), P,
		      RW,
		      { EADDRINUSE, EAGAIN, ECONNRESET, EINVAL, ENODEV,
			ENOTCONN } },
	[MIC_UNREG] = { "SCIF_UNREG", MIC_ARG_PTR, 9,
			sizeof(struct mic_io_unreg), P, RW,
			{ ECONNRESET, EINVAL, ENODEV, ENOTCONN, ENXIO } },
#define COPY_ERRS { EACCES, ECONNRESET, EINVAL, ENODEV, ENOTCONN, ENXIO }
	[MIC_READFROM] = { "SCIF_READFROM", MIC_ARG_PTR, 10,
			   sizeof(struct mic_io_copy), P, RW, COPY_ERRS },
	[MIC_WRITETO] = { "SCIF_WRITETO", MIC_ARG_PTR, 11,
			  sizeof(struct mic_io_copy), P, RW, COPY_ERRS },
	[MIC_VREADFROM] = { "SCIF_VREADFROM", MIC_ARG_PTR, 12,
			    sizeof(struct mic_io_copy), P, RW, COPY_ERRS },
	[MIC_VWRITETO] = { "SCIF_VWRITETO", MIC_ARG_PTR, 13,
			   sizeof(struct mic_io_copy), P, RW, COPY_ERRS },
	[MIC_GET_NODEIDS] = { "SCIF_GET_NODEIDS", MIC_ARG_PTR, 14,
			      MIC_IO_NODEIDS_SIZE, P, RW, { EINVAL } },
	[MIC_FENCE_MARK] = { "SCIF_FENCE_MARK", MIC_ARG_PTR, 15,
			     sizeof(struct mic_io_fence_mark), P, RW,
			     { ECONNRESET, EINVAL, ENODEV, ENOTCONN } },
	[MIC_FENCE_WAIT] = { "SCIF_FENCE_WAIT", MIC_ARG_VALUE, 16, 4, I, RW,
			     { ECONNRESET, EINVAL, ENODEV, ENOTCONN } },
	[MIC_FENCE_SIGNAL] = { "SCIF_FENCE_SIGNAL", MIC_ARG_PTR, 17,
			       sizeof(struct mic_io_fence_signal), P, RW,
			       { ECONNRESET, EINVAL, ENODEV, ENOTCONN,
				 ENXIO, EACCES } },
	[MIC_GET_VERSION] = { "SCIF_GET_VERSION", MIC_ARG_NONE, 23, 0, 0,
			      _IOC_NONE, { 0 } },
};

/* _IOC() in unsigned arithmetic: the kernel's macro shifts a signed 3 into
 * bit 31. */
static unsigned long ioc(unsigned dir, unsigned nr, size_t size)
{
	return (unsigned long)dir << _IOC_DIRSHIFT |
	       (unsigned long)MIC_IOC_TYPE << _IOC_TYPESHIFT |
	       (unsigned long)nr << _IOC_NRSHIFT |
	       (unsigned long)size << _IOC_SIZESHIFT;
}

static const struct cmd_info *info(enum mic_cmd cmd)
{
	if (cmd < MIC_BIND || cmd >= MIC_NCMDS)
		return NULL;
	return &cmds[cmd];
}

unsigned long mic_abi_request(enum mic_abi_kind abi, enum mic_cmd cmd)
{
	const struct cmd_info *c = info(cmd);

	if (!c)
		return 0;
	switch (abi) {
	case MIC_ABI_LINUX:
		if (cmd == MIC_GET_VERSION)
			return 0;
		return ioc((unsigned)c->dir, c->nr, c->size);
	case MIC_ABI_MPSS3:
		return ioc((unsigned)c->dir, c->nr, c->mpss3_size);
	default:
		return 0;
	}
}

enum mic_cmd mic_abi_decode(enum mic_abi_kind abi, unsigned long request)
{
	int cmd;

	for (cmd = MIC_BIND; cmd < MIC_NCMDS; cmd++) {
		unsigned long r = mic_abi_request(abi, (enum mic_cmd)cmd);

		if (r && r == request)
			return (enum mic_cmd)cmd;
	}
	return 0;
}

enum mic_arg mic_abi_arg(enum mic_cmd cmd)
{
	const struct cmd_info *c = info(cmd);

	return c ? c->arg : MIC_ARG_NONE;
}

size_t mic_abi_arg_size(enum mic_abi_kind abi, enum mic_cmd cmd)
{
	const struct cmd_info *c = info(cmd);

	if (!c || c->arg != MIC_ARG_PTR)
		return 0;
	/* The drivers copy an int for BIND (MPSS 3's libscif passes an
	 * int *, Linux's copies sizeof(int) despite the __u64 in the
	 * number) and a pointer's worth for ACCEPTREG. */
	if (cmd == MIC_BIND)
		return sizeof(int32_t);
	(void)abi;
	return c->size;
}

const char *mic_abi_cmd_name(enum mic_cmd cmd)
{
	const struct cmd_info *c = info(cmd);

	return c ? c->name : "?";
}

const char *mic_abi_name(enum mic_abi_kind abi)
{
	switch (abi) {
	case MIC_ABI_LINUX:
		return "linux";
	case MIC_ABI_MPSS3:
		return "mpss3";
	default:
		return "none";
	}
}

void mic_abi_nodeids_pack(enum mic_abi_kind abi, void *arg, uint64_t nodes,
			  uint64_t self, int32_t len)
{
	memset(arg, 0, MIC_IO_NODEIDS_SIZE);
	if (abi == MIC_ABI_MPSS3) {
		struct mic_io_nodeids_mpss3 *a = arg;

		a->nodes = nodes;
		a->len = len;
		a->self = self;
	} else {
		struct mic_io_nodeids_linux *a = arg;

		a->nodes = nodes;
		a->self = self;
		a->len = len;
	}
}

void mic_abi_nodeids_unpack(enum mic_abi_kind abi, const void *arg,
			    uint64_t *nodes, uint64_t *self, int32_t *len)
{
	if (abi == MIC_ABI_MPSS3) {
		const struct mic_io_nodeids_mpss3 *a = arg;

		*nodes = a->nodes;
		*self = a->self;
		*len = a->len;
	} else {
		const struct mic_io_nodeids_linux *a = arg;

		*nodes = a->nodes;
		*self = a->self;
		*len = a->len;
	}
}

static int listed(const int *errs, int err)
{
	for (; *errs; errs++)
		if (*errs == err)
			return 1;
	return 0;
}

int mic_abi_errno(enum mic_cmd cmd, int err)
{
	const struct cmd_info *c = info(cmd);

	if (c && (listed(c->errs, err) || listed(common_errs, err)))
		return err;
	return ENODEV;
}

/* The layouts the drivers copy (x86-64). */
_Static_assert(sizeof(struct mic_io_connect) == 8, "connect");
_Static_assert(sizeof(struct mic_io_accept) == 16, "accept");
_Static_assert(sizeof(struct mic_io_msg) == 24, "msg");
_Static_assert(sizeof(struct mic_io_reg) == 40, "reg");
_Static_assert(sizeof(struct mic_io_unreg) == 16, "unreg");
_Static_assert(sizeof(struct mic_io_copy) == 40, "copy");
_Static_assert(sizeof(struct mic_io_fence_mark) == 16, "fence_mark");
_Static_assert(sizeof(struct mic_io_fence_signal) == 40, "fence_signal");
_Static_assert(sizeof(struct mic_io_nodeids_linux) == MIC_IO_NODEIDS_SIZE,
	       "nodeids");
_Static_assert(sizeof(struct mic_io_nodeids_mpss3) == MIC_IO_NODEIDS_SIZE,
	       "nodeids3");
