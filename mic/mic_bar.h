/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The one seam between the x100 DMA driver and a card: 32-bit register
 * access to BAR4 (MMIO; the SBOX starts at 0x10000), the CPU's view of card
 * memory (BAR0, the GDDR aperture) and a host memory window the card can
 * reach through the SMPT (its bus address is what the SMPT entries hold).
 *
 * On a card: mic_bar_open_sysfs() maps /sys/bus/pci/devices/<bdf>/resource4
 * and resource0; the host window must be physically contiguous memory whose
 * bus address the caller knows (hugepage + pagemap, or a VFIO IOVA).
 * In tests: mic/model/x100_model.h fills the same structure.
 */
#ifndef MIC_BAR_H
#define MIC_BAR_H

#include <stddef.h>
#include <stdint.h>

struct mic_bar_ops {
	uint32_t (*rd)(void *ctx, uint32_t off);
	void (*wr)(void *ctx, uint32_t off, uint32_t val);
};

struct mic_bar {
	const struct mic_bar_ops *ops;	/* BAR4 register access */
	void *ctx;
	size_t mmio_len;
	void *aper;			/* BAR0: card memory, CPU view */
	size_t aper_len;
	void *host_va;			/* DMA-able host window */
	uint64_t host_bus;
	size_t host_len;
	/* Internal to mic_bar_open_sysfs(). */
	void *mmio_map;
	int fd4, fd0;
};

/* Plain MMIO access to a mapping of BAR4 (ctx = the mapping). */
extern const struct mic_bar_ops mic_bar_mmio_ops;

/*
 * Map the BARs of the PCI function at <sysfs>/<bdf> (sysfs is normally
 * "/sys/bus/pci/devices").  Only vendor 0x8086, devices 0x2250-0x225e (the
 * Knights Corner x100 family) are accepted.  The host window is left empty:
 * the caller fills host_va/host_bus/host_len.  Returns 0 or -errno.
 */
int mic_bar_open_sysfs(const char *sysfs, const char *bdf, struct mic_bar *bar);
void mic_bar_close_sysfs(struct mic_bar *bar);

#endif
