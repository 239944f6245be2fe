/* SPDX-License-Identifier: BSD-3-Clause */
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

static int log_level = SCIF_LOG_WARN;
static pthread_once_t log_once = PTHREAD_ONCE_INIT;

static const char *const level_names[] = {
	[SCIF_LOG_ERROR] = "error", [SCIF_LOG_WARN] = "warn",
	[SCIF_LOG_INFO] = "info",   [SCIF_LOG_DEBUG] = "debug",
	[SCIF_LOG_TRACE] = "trace",
};

static void log_init(void)
{
	const char *s = getenv("SCIF_LOG_LEVEL");
	size_t i;

	if (!s || !*s)
		return;
	for (i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (!strcasecmp(s, level_names[i])) {
			log_level = (int)i;
			return;
		}
	}
	if (s[0] >= '0' && s[0] <= '4' && !s[1])
		log_level = s[0] - '0';
}

int scif__log_level(void)
{
	pthread_once(&log_once, log_init);
	return log_level;
}

void scif__log(int level, const char *file, int line, const char *fmt, ...)
{
	int saved = errno; /* callers log with %m after a failed syscall */
	char buf[512];
	const char *base = strrchr(file, '/');
	va_list ap;
	int n;

	n = snprintf(buf, sizeof(buf), "scif[%d] %s %s:%d: ", (int)getpid(),
		     level_names[level], base ? base + 1 : file, line);
	if (n < 0 || (size_t)n >= sizeof(buf))
		n = 0;
	errno = saved;
	va_start(ap, fmt);
	vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s\n", buf);
	errno = saved;
}
