/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Providers loaded at run time (as rdma-core's providers and libfabric's DL
 * providers): libscif.so.0 itself links no transport library; a provider
 * that needs one (verbs: libibverbs and librdmacm) is a shared object
 * libscif-<name>.so that defines `const struct scif_provider_ops
 * scif_<name>_ops`, loaded with dlopen when the library initialises and
 * added to the registry.  It reaches the core through the private symbol
 * version SCIF_PRIVATE_0 (libscif.map), never through the public API.
 *
 * Where: each directory of SCIF_PROVIDER_PATH (colon-separated) if set;
 * otherwise "scif/" beside this library (a build tree, or $libdir), then the
 * directory chosen at build time (SCIF_PLUGIN_DIR, $libdir/scif).
 */
#include "scif_priv.h"
#include "log.h"

#include <dlfcn.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef SCIF_PLUGIN_DIR
#define SCIF_PLUGIN_DIR "/usr/lib/scif"
#endif

static const char *const plugin_names[] = { "verbs" };
#define NPLUGINS (sizeof(plugin_names) / sizeof(plugin_names[0]))

/* Why each plugin did not load (for the error SCIF_PROVIDER=name gives). */
static char plugin_why[NPLUGINS][PATH_MAX + 64];
static bool plugins_done; /* the registry holds them: once per process */

static void __attribute__((format(printf, 2, 3)))
why_set(size_t i, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(plugin_why[i], sizeof(plugin_why[i]), fmt, ap); /* may cut */
	va_end(ap);
}

/* Try dir/libscif-name.so; 0, or -errno with why filled. */
static int plugin_try(const char *dir, size_t dirlen, size_t i)
{
	char path[PATH_MAX], sym[64];
	const struct scif_provider_ops *ops;
	void *h;
	int ret;

	if ((size_t)snprintf(path, sizeof(path), "%.*s/libscif-%s.so",
			     (int)dirlen, dir, plugin_names[i]) >= sizeof(path))
		return -ENAMETOOLONG;
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		why_set(i, "%s", dlerror());
		return -ENOENT;
	}
	snprintf(sym, sizeof(sym), "scif_%s_ops", plugin_names[i]);
	ops = dlsym(h, sym);
	if (!ops) {
		why_set(i, "%s defines no %s", path, sym);
		dlclose(h);
		return -ENOENT;
	}
	ret = scif__provider_add(ops);
	if (ret) {
		dlclose(h);
		return ret;
	}
	scif_info("provider %s loaded from %s", plugin_names[i], path);
	return 0; /* never unloaded: its code may run until exit */
}

/* Try each directory of a colon-separated list. */
static int plugin_search(const char *list, size_t i)
{
	const char *s = list, *e;

	for (; *s; s = *e ? e + 1 : e) {
		e = strchrnul(s, ':');
		if (e > s && !plugin_try(s, (size_t)(e - s), i))
			return 0;
	}
	return -ENOENT;
}

/* "scif" beside this library, and the build-time directory. */
static int plugin_default(size_t i)
{
	char dir[PATH_MAX];
	Dl_info info;
	const char *slash;

	if (dladdr((void *)plugin_default, &info) && info.dli_fname &&
	    (slash = strrchr(info.dli_fname, '/'))) {
		snprintf(dir, sizeof(dir), "%.*s/scif",
			 (int)(slash - info.dli_fname), info.dli_fname);
		if (!plugin_try(dir, strlen(dir), i))
			return 0;
	}
	return plugin_try(SCIF_PLUGIN_DIR, strlen(SCIF_PLUGIN_DIR), i);
}

void scif__plugins_load(void)
{
	const char *path = getenv("SCIF_PROVIDER_PATH");
	size_t i;

	if (plugins_done)
		return;
	plugins_done = true;
	for (i = 0; i < NPLUGINS; i++) {
		int ret = path && *path ? plugin_search(path, i) :
					  plugin_default(i);

		if (ret)
			scif_info("provider %s not loaded: %s", plugin_names[i],
				  plugin_why[i]);
	}
}

const char *scif__plugin_why(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < NPLUGINS; i++)
		if (strlen(plugin_names[i]) == len &&
		    !strncmp(plugin_names[i], name, len))
			return plugin_why[i][0] ? plugin_why[i] : NULL;
	return NULL;
}
