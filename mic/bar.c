// SPDX-License-Identifier: BSD-3-Clause
/*
 * The real-hardware side of the BAR seam: 32-bit MMIO access and the sysfs
 * resource files of a Knights Corner card.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mic_bar.h"
#include "log.h"

static uint32_t mmio_rd(void *ctx, uint32_t off)
{
	return *(volatile uint32_t *)((char *)ctx + off);
}

static void mmio_wr(void *ctx, uint32_t off, uint32_t val)
{
	/* Descriptors (host memory) before the register write (wmb()). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	*(volatile uint32_t *)((char *)ctx + off) = val;
}

const struct mic_bar_ops mic_bar_mmio_ops = { mmio_rd, mmio_wr };

static int read_hex(const char *dir, const char *name, unsigned long *v)
{
	char path[PATH_MAX], buf[32];
	FILE *f;
	int ok;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "r");
	if (!f)
		return -errno;
	ok = fgets(buf, sizeof(buf), f) != NULL;
	fclose(f);
	if (!ok)
		return -EINVAL;
	*v = strtoul(buf, NULL, 16);
	return 0;
}

static void *map_resource(const char *dir, const char *name, int *fd,
			  size_t *len)
{
	char path[PATH_MAX];
	struct stat st;
	void *p;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	*fd = open(path, O_RDWR | O_SYNC | O_CLOEXEC);
	if (*fd < 0)
		return NULL;
	if (fstat(*fd, &st) || !st.st_size) {
		close(*fd);
		*fd = -1;
		return NULL;
	}
	p = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		 *fd, 0);
	if (p == MAP_FAILED) {
		close(*fd);
		*fd = -1;
		return NULL;
	}
	*len = (size_t)st.st_size;
	return p;
}

int mic_bar_open_sysfs(const char *sysfs, const char *bdf, struct mic_bar *bar)
{
	unsigned long vendor, device;
	char dir[PATH_MAX];
	int rc;

	memset(bar, 0, sizeof(*bar));
	bar->fd0 = bar->fd4 = -1;
	snprintf(dir, sizeof(dir), "%s/%s",
		 sysfs ? sysfs : "/sys/bus/pci/devices", bdf);
	rc = read_hex(dir, "vendor", &vendor);
	if (!rc)
		rc = read_hex(dir, "device", &device);
	if (rc) {
		scif_err("%s: cannot read vendor/device: %s", dir, strerror(-rc));
		return rc;
	}
	if (vendor != 0x8086 || device < 0x2250 || device > 0x225e) {
		scif_err("%s: %04lx:%04lx is not a Knights Corner x100 card",
			dir, vendor, device);
		return -ENODEV;
	}
	bar->mmio_map = map_resource(dir, "resource4", &bar->fd4,
				     &bar->mmio_len);
	if (!bar->mmio_map) {
		rc = errno ? -errno : -ENODEV;
		scif_err("%s/resource4: cannot map BAR4: %s", dir, strerror(-rc));
		return rc;
	}
	bar->ops = &mic_bar_mmio_ops;
	bar->ctx = bar->mmio_map;
	bar->aper = map_resource(dir, "resource0", &bar->fd0, &bar->aper_len);
	if (!bar->aper)
		scif_warn("%s/resource0: no aperture; card memory is DMA-only",
			 dir);
	return 0;
}

void mic_bar_close_sysfs(struct mic_bar *bar)
{
	if (bar->mmio_map)
		munmap(bar->mmio_map, bar->mmio_len);
	if (bar->aper && bar->fd0 >= 0)
		munmap(bar->aper, bar->aper_len);
	if (bar->fd4 >= 0)
		close(bar->fd4);
	if (bar->fd0 >= 0)
		close(bar->fd0);
	memset(bar, 0, sizeof(*bar));
	bar->fd0 = bar->fd4 = -1;
}
