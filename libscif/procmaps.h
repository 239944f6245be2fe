/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * /proc/PID/maps: the mappings of a process, for scif_mmap's direct path
 * (the peer's window memory as a file, and the checks that a mapping of
 * ours is still what the library put there).
 */
#ifndef SCIF_PROCMAPS_H
#define SCIF_PROCMAPS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* One line of maps. */
struct scif_vma {
	uintptr_t start, end;
	uint64_t off; /* file offset of start */
	unsigned major, minor; /* the file's device */
	uint64_t ino;	       /* 0: no file */
	bool r, w, x, shared;
	const char *path; /* into the line; "" when none */
};

/* Parse one line ("start-end perms offset maj:min inode [path]"); the
 * trailing newline is cut off the line.  0, or -EINVAL. */
int scif__vma_parse(char *line, struct scif_vma *v);

/* Call fn for each mapping of pid (0: this process) that meets [lo, hi),
 * in address order, until it returns non-zero (returned).  -errno when
 * maps cannot be read. */
int scif__vma_walk(pid_t pid, uintptr_t lo, uintptr_t hi,
		   int (*fn)(const struct scif_vma *v, void *arg), void *arg);

#endif
