/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The ioctl ABI of the kernel SCIF device, in both numberings:
 *
 *   MIC_ABI_LINUX  /dev/scif: Linux include/uapi/linux/scif_ioctl.h (MPSS 4,
 *                  upstream Linux up to 5.9).  The size field of each
 *                  request number is the size of its argument structure.
 *   MIC_ABI_MPSS3  /dev/mic/scif: MPSS 3's scif_ioctl.h.  The size field is
 *                  the size of a pointer (the type in _IOWR is "struct x *"),
 *                  scifioctl_nodeIDs orders its fields differently, and
 *                  SCIF_GET_VERSION (_IO('s', 23)) answers SCIF_VERSION 1.
 *
 * The argument structures are written here from the documented layouts
 * (x86-64, natural alignment, no packing); test/unit/test_mic_abi.c pins
 * every size, offset and request number.  Both the mic provider and the
 * fake device (test/mic/fake_scifdev.c) use this file, so a layout mistake
 * would hide from an end-to-end test: the unit test is what catches it.
 */
#ifndef MIC_ABI_H
#define MIC_ABI_H

#include <stddef.h>
#include <stdint.h>

enum mic_abi_kind {
	MIC_ABI_NONE = 0,
	MIC_ABI_LINUX,
	MIC_ABI_MPSS3,
};

/* The requests, in the kernel's order (nr 1..17, GET_VERSION 23). */
enum mic_cmd {
	MIC_BIND = 1,
	MIC_LISTEN,
	MIC_CONNECT,
	MIC_ACCEPTREQ,
	MIC_ACCEPTREG,
	MIC_SEND,
	MIC_RECV,
	MIC_REG,
	MIC_UNREG,
	MIC_READFROM,
	MIC_WRITETO,
	MIC_VREADFROM,
	MIC_VWRITETO,
	MIC_GET_NODEIDS,
	MIC_FENCE_MARK,
	MIC_FENCE_WAIT,
	MIC_FENCE_SIGNAL,
	MIC_GET_VERSION,
	MIC_NCMDS
};

#define MIC_SCIF_VERSION 1 /* what MPSS 3's driver answers to GET_VERSION */
#define MIC_IOC_TYPE 's'

/* How the argument travels: by value in the ioctl's third argument (LISTEN
 * backlog, FENCE_WAIT mark), none (GET_VERSION), or a pointer to memory
 * the driver reads and writes back (everything else). */
enum mic_arg { MIC_ARG_NONE, MIC_ARG_VALUE, MIC_ARG_PTR };

struct mic_io_portid {
	uint16_t node;
	uint16_t port;
};

struct mic_io_connect { /* 8 bytes */
	struct mic_io_portid self; /* out: our node and port */
	struct mic_io_portid peer;
};

struct mic_io_accept { /* 16 bytes */
	int32_t flags;
	struct mic_io_portid peer; /* out */
	uint64_t endpt;		   /* out: the kernel's handle for ACCEPTREG */
};

struct mic_io_msg { /* 24 bytes (20 + tail padding) */
	uint64_t msg;
	int32_t len;
	int32_t flags;
	int32_t out_len; /* out */
};

struct mic_io_reg { /* 40 bytes */
	uint64_t addr;
	uint64_t len;
	int64_t offset;
	int32_t prot;
	int32_t flags;
	int64_t out_offset; /* out */
};

struct mic_io_unreg { /* 16 bytes */
	int64_t offset;
	uint64_t len;
};

struct mic_io_copy { /* 40 bytes (36 + tail padding) */
	int64_t loffset;
	uint64_t len;
	int64_t roffset;
	uint64_t addr; /* v-ops: the local buffer */
	int32_t flags;
};

struct mic_io_fence_mark { /* 16 bytes */
	int32_t flags;
	uint64_t mark; /* address of the caller's int the mark is stored in */
};

struct mic_io_fence_signal { /* 40 bytes */
	int64_t loff;
	uint64_t lval;
	int64_t roff;
	uint64_t rval;
	int32_t flags;
};

/* SCIF_GET_NODEIDS: the two ABIs order the fields differently; use
 * mic_abi_nodeids_pack/unpack. */
struct mic_io_nodeids_linux { /* 24 bytes */
	uint64_t nodes;
	uint64_t self;
	int32_t len;
};

struct mic_io_nodeids_mpss3 { /* 24 bytes */
	uint64_t nodes;
	int32_t len;
	uint64_t self;
};

#define MIC_IO_NODEIDS_SIZE 24
#define MIC_IO_ARG_MAX 40 /* the largest argument structure */

/* The request number of cmd in abi; 0 when abi has no such request
 * (GET_VERSION in MIC_ABI_LINUX). */
unsigned long mic_abi_request(enum mic_abi_kind abi, enum mic_cmd cmd);
/* The request of abi that number is, or 0 (a number abi does not know). */
enum mic_cmd mic_abi_decode(enum mic_abi_kind abi, unsigned long request);
enum mic_arg mic_abi_arg(enum mic_cmd cmd);
/* Bytes of the argument structure the driver reads and writes back
 * (MIC_ARG_PTR requests; BIND and ACCEPTREG: 4 and 8). */
size_t mic_abi_arg_size(enum mic_abi_kind abi, enum mic_cmd cmd);
const char *mic_abi_cmd_name(enum mic_cmd cmd);
const char *mic_abi_name(enum mic_abi_kind abi);

/* SCIF_GET_NODEIDS argument in abi's layout (MIC_IO_NODEIDS_SIZE bytes). */
void mic_abi_nodeids_pack(enum mic_abi_kind abi, void *arg, uint64_t nodes,
			  uint64_t self, int32_t len);
void mic_abi_nodeids_unpack(enum mic_abi_kind abi, const void *arg,
			    uint64_t *nodes, uint64_t *self, int32_t *len);

/* The errno the public SCIF call behind cmd sets for a driver error err
 * (positive): the header's errors pass through; errors that mean the device
 * or the card is gone (EIO, ESHUTDOWN, ENOTTY: the device no longer speaks
 * the numbering it was detected with, and anything else the header does
 * not list for the call) become ENODEV. */
int mic_abi_errno(enum mic_cmd cmd, int err);

#endif
