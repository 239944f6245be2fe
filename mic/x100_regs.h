/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The x100 DMA engine as the driver uses it.  Offsets are into BAR4; the
 * sources each value was checked against are listed in docs/mic.md.
 */
#ifndef MIC_X100_REGS_H
#define MIC_X100_REGS_H

#define X100_SBOX		0x10000u
#define X100_CH(n, reg)		(X100_SBOX + 0xA000u + (n) * 0x40u + (reg))
#define X100_DCR		(X100_SBOX + 0xA280u)
#define X100_SMPT(i)		(X100_SBOX + 0x3100u + (i) * 4u)
#define X100_MMIO_MIN		(X100_DCR + 4u)

/* Per-channel registers (offset within the channel's 0x40 bytes). */
#define X100_DCAR		0x00u
#define X100_DHPR		0x04u
#define X100_DTPR		0x08u
#define X100_DAUX_LO		0x0Cu
#define X100_DAUX_HI		0x10u
#define X100_DRAR_LO		0x14u
#define X100_DRAR_HI		0x18u
#define X100_DITR		0x1Cu
#define X100_DSTAT		0x20u
#define X100_DSTATWB_LO		0x24u
#define X100_DSTATWB_HI		0x28u
#define X100_DCHERR		0x2Cu
#define X100_DCHERRMSK		0x30u

/* DCR: bit 2n owner (1 = host), bit 2n+1 enable, for channel n. */
#define X100_DCR_OWNER(n)	(1u << (2 * (n)))
#define X100_DCR_EN(n)		(2u << (2 * (n)))
/* DCAR interrupt masks: IM0 card-owned, IM1 host-owned channels. */
#define X100_DCAR_IM1		(1u << 25)
/* DRAR_HI: [3:0] address bits (host: [1:0]), [20:4] size, [25:21] SMPT
 * entry, [26] system memory. */
#define X100_DRARHI_SYS		(1u << 26)
#define X100_DSTAT_CNT		0x1ffffu
#define X100_DSTAT_QUIESCE	0x20000000u
#define X100_WB_ERR		0x80000000u	/* in the write-back word */

#define X100_DESC_NOP		0ull
#define X100_DESC_MEMCOPY	1ull
#define X100_DESC_STATUS	2ull
#define X100_DESC_GENERAL	3ull
#define X100_DESC_TYPE_SHIFT	60
#define X100_MEMCOPY_LEN_SHIFT	46	/* 14 bits, in 64-byte units */

#define X100_LINE		64u
#define X100_HOST_MAX_XFER	(512u * 1024)	/* per descriptor, host side */
#define X100_RING_MAX		(128u * 1024 - 64)
#define X100_SYS_BASE		(1ull << 39)	/* card view of system memory */
#define X100_SMPT_SHIFT		34		/* 32 entries of 16 GiB */
#define X100_NSMPT		32u

#endif
