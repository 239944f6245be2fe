/* SPDX-License-Identifier: BSD-3-Clause */
/* scif_open through libscif.so.0: prints "open ok" or the errno's name. */
#include <scif.h>

#include <stdio.h>
#include <string.h>

int main(void)
{
	scif_epd_t e = scif_open();

	if (e < 0) {
		printf("open failed: %s\n", strerrorname_np(errno));
		return 1;
	}
	printf("open ok\n");
	return scif_close(e) ? 1 : 0;
}
