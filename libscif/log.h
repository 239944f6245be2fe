/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * One logging family for the whole library.  The level comes from the
 * environment variable SCIF_LOG_LEVEL (error, warn, info, debug, trace or
 * 0-4; default warn) and is read once.  Messages go to stderr, prefixed with
 * the process id so that logs of several processes on a node can be told
 * apart.  The first function that detects an error logs it.
 */
#ifndef SCIF_LOG_H
#define SCIF_LOG_H

enum scif_log_level {
	SCIF_LOG_ERROR = 0,
	SCIF_LOG_WARN,
	SCIF_LOG_INFO,
	SCIF_LOG_DEBUG,
	SCIF_LOG_TRACE,
};

int scif__log_level(void);
void scif__log(int level, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#define scif_log(lvl, ...)                                                   \
	do {                                                                 \
		if ((lvl) <= scif__log_level())                              \
			scif__log((lvl), __FILE__, __LINE__, __VA_ARGS__);   \
	} while (0)

#define scif_err(...) scif_log(SCIF_LOG_ERROR, __VA_ARGS__)
#define scif_warn(...) scif_log(SCIF_LOG_WARN, __VA_ARGS__)
#define scif_info(...) scif_log(SCIF_LOG_INFO, __VA_ARGS__)
#define scif_dbg(...) scif_log(SCIF_LOG_DEBUG, __VA_ARGS__)
#define scif_trace(...) scif_log(SCIF_LOG_TRACE, __VA_ARGS__)

#endif
