/* SPDX-License-Identifier: BSD-3-Clause */
/* A hostile shm peer's tools (shm_raw.h). */
#include "shm_raw.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

char *shm_raw_find_rings(size_t *len)
{
	FILE *f = fopen("/proc/self/maps", "r");
	unsigned long lo, hi, blo = 0, bhi = 0;
	char line[512];

	while (f && fgets(line, sizeof(line), f))
		if (strstr(line, "memfd:scif-shm ") &&
		    sscanf(line, "%lx-%lx", &lo, &hi) == 2 && lo > blo) {
			blo = lo;
			bhi = hi;
		}
	if (f)
		fclose(f);
	if (!blo) {
		fprintf(stderr, "FAIL: no ring mapping found\n");
		exit(1);
	}
	*len = bhi - blo;
	return (char *)blo;
}

void shm_raw_ring_all(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	struct stat st;
	char one = 1;

	while (d && (de = readdir(d))) {
		int fd = atoi(de->d_name);

		if (de->d_name[0] != '.' && !fstat(fd, &st) &&
		    S_ISSOCK(st.st_mode))
			send(fd, &one, 1, MSG_DONTWAIT | MSG_NOSIGNAL);
	}
	if (d)
		closedir(d);
}
