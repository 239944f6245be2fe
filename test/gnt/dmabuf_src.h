/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Sources of buffers for the gntdev tests: real dma-bufs from the vgem DRM
 * driver (a vgem buffer exported through PRIME), or a memfd standing in for
 * one where no dma-buf source exists.  Each comes with a CPU mapping that
 * holds no reference to the dma-buf file (vgem: mapped through the DRM
 * device), so that tests can tell when the dma-buf itself is released.
 * The DRM definitions are the kernel's stable uapi (drm.h, drm_mode.h).
 */
#ifndef SCIF_TEST_DMABUF_SRC_H
#define SCIF_TEST_DMABUF_SRC_H

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

struct drm_version_ {
	int major, minor, patch;
	size_t name_len;
	char *name;
	size_t date_len;
	char *date;
	size_t desc_len;
	char *desc;
};
struct drm_gem_close_ {
	uint32_t handle, pad;
};
struct drm_prime_handle_ {
	uint32_t handle, flags;
	int32_t fd;
};
struct drm_mode_create_dumb_ {
	uint32_t height, width, bpp, flags, handle, pitch;
	uint64_t size;
};
struct drm_mode_map_dumb_ {
	uint32_t handle, pad;
	uint64_t offset;
};
#define DRM_IOCTL_VERSION_ _IOWR('d', 0x00, struct drm_version_)
#define DRM_IOCTL_GEM_CLOSE_ _IOW('d', 0x09, struct drm_gem_close_)
#define DRM_IOCTL_PRIME_HANDLE_TO_FD_ _IOWR('d', 0x2d, struct drm_prime_handle_)
#define DRM_IOCTL_MODE_CREATE_DUMB_ \
	_IOWR('d', 0xB2, struct drm_mode_create_dumb_)
#define DRM_IOCTL_MODE_MAP_DUMB_ _IOWR('d', 0xB3, struct drm_mode_map_dumb_)

/* The vgem device, or -1. */
static inline int dmabuf_src_vgem_open(void)
{
	char path[32], name[16];
	int i, fd;

	for (i = 0; i < 16; i++) {
		struct drm_version_ v = { .name = name,
					  .name_len = sizeof(name) - 1 };

		snprintf(path, sizeof(path), "/dev/dri/card%d", i);
		fd = open(path, O_RDWR | O_CLOEXEC);
		if (fd < 0)
			continue;
		memset(name, 0, sizeof(name));
		if (!ioctl(fd, DRM_IOCTL_VERSION_, &v) && !strcmp(name, "vgem"))
			return fd;
		close(fd);
	}
	return -1;
}

/* A vgem buffer of len bytes (a multiple of 4096) as a dma-buf fd (opened
 * O_RDWR, or O_RDONLY with rdonly), and its mapping through the device;
 * 0 or -errno. */
static inline int dmabuf_src_vgem_mode(int dev, size_t len, int rdonly,
				       int *fd, char **view)
{
	struct drm_mode_create_dumb_ c = { .height = (uint32_t)(len / 4096),
					   .width = 1024, .bpp = 32 };
	struct drm_prime_handle_ p = { .flags = (rdonly ? 0 : O_RDWR) |
						O_CLOEXEC };
	struct drm_mode_map_dumb_ m = { 0 };
	struct drm_gem_close_ g = { 0 };
	int err;

	if (ioctl(dev, DRM_IOCTL_MODE_CREATE_DUMB_, &c))
		return -errno;
	p.handle = m.handle = g.handle = c.handle;
	if (ioctl(dev, DRM_IOCTL_PRIME_HANDLE_TO_FD_, &p) ||
	    ioctl(dev, DRM_IOCTL_MODE_MAP_DUMB_, &m)) {
		err = -errno;
		ioctl(dev, DRM_IOCTL_GEM_CLOSE_, &g);
		return err;
	}
	*fd = p.fd;
	*view = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, dev,
		     (off_t)m.offset);
	err = *view == MAP_FAILED ? -errno : 0;
	/* the mapping keeps the object; the handle (and PRIME's cached
	 * reference to the dma-buf) goes */
	ioctl(dev, DRM_IOCTL_GEM_CLOSE_, &g);
	if (err)
		close(*fd);
	return err;
}

static inline int dmabuf_src_vgem(int dev, size_t len, int *fd, char **view)
{
	return dmabuf_src_vgem_mode(dev, len, 0, fd, view);
}

/* The stand-in: a memfd of len bytes and a mapping of it. */
static inline int dmabuf_src_memfd(size_t len, int *fd, char **view)
{
	int err;

	*fd = memfd_create("fake-dmabuf", MFD_CLOEXEC);
	if (*fd < 0)
		return -errno;
	if (ftruncate(*fd, (off_t)len))
		goto err_fd;
	*view = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
	if (*view == MAP_FAILED)
		goto err_fd;
	return 0;
err_fd:
	err = -errno;
	close(*fd);
	return err;
}

#endif
