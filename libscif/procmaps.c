/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * /proc/PID/maps, parsed.  The format is proc(5)'s: the path starts after
 * the inode and the spaces that pad it to a column, and may itself hold
 * spaces (or end in " (deleted)").
 */
#include "procmaps.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int scif__vma_parse(char *line, struct scif_vma *v)
{
	unsigned long long start, end, off, ino;
	char perms[5];
	size_t n;
	int pos = -1;

	n = strlen(line);
	if (n && line[n - 1] == '\n')
		line[--n] = '\0';
	if (sscanf(line, "%llx-%llx %4s %llx %x:%x %llu%n", &start, &end, perms,
		   &off, &v->major, &v->minor, &ino, &pos) != 7 ||
	    pos < 0 || strlen(perms) != 4 || end <= start)
		return -EINVAL;
	v->start = (uintptr_t)start;
	v->end = (uintptr_t)end;
	v->off = off;
	v->ino = ino;
	v->r = perms[0] == 'r';
	v->w = perms[1] == 'w';
	v->x = perms[2] == 'x';
	v->shared = perms[3] == 's';
	while (line[pos] == ' ' || line[pos] == '\t')
		pos++;
	v->path = line + pos;
	return 0;
}

int scif__vma_walk(pid_t pid, uintptr_t lo, uintptr_t hi,
		   int (*fn)(const struct scif_vma *v, void *arg), void *arg)
{
	char name[32], *line = NULL;
	size_t cap = 0;
	struct scif_vma v;
	int ret = 0;
	FILE *f;

	if (pid)
		snprintf(name, sizeof(name), "/proc/%d/maps", (int)pid);
	else
		snprintf(name, sizeof(name), "/proc/self/maps");
	f = fopen(name, "re");
	if (!f)
		return -errno;
	while (!ret && getline(&line, &cap, f) > 0) {
		if (scif__vma_parse(line, &v))
			continue;
		if (v.start >= hi)
			break;
		if (v.end > lo)
			ret = fn(&v, arg);
	}
	if (!ret && ferror(f))
		ret = -EIO;
	free(line);
	fclose(f);
	return ret;
}
