/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fuzz target: the node map parser (libscif/nodemap.c), the text of a map
 * file per input.  A map that parses is sorted by id, without duplicates,
 * every id at most SCIF_NODE_ID_MAX, every address a terminated, non-empty
 * string, and every entry found by its id; a map that does not parse is
 * empty and says why.  No name is resolved (that needs the network).
 */
#include "fuzz.h"
#include "nodemap.h"

#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc, (void)argv;
	fz_quiet();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct scif_nodemap map = { 0 };
	char err[128] = "";
	char *text = malloc(size + 1);
	size_t i;
	int ret;

	FZ_CHECK(text);
	memcpy(text, data, size);
	text[size] = 0;
	ret = scif__nodemap_parse(text, &map, err, sizeof(err));
	if (ret) {
		FZ_CHECK(ret == -EINVAL || ret == -ENOMEM);
		FZ_CHECK(!map.nodes && !map.count);
		FZ_CHECK(ret == -ENOMEM || (err[0] && memchr(err, 0, sizeof(err))));
	}
	for (i = 0; i < map.count; i++) {
		const struct scif_node *n = &map.nodes[i];

		FZ_CHECK(n->id <= SCIF_NODE_ID_MAX);
		FZ_CHECK(!i || map.nodes[i - 1].id < n->id);
		FZ_CHECK(memchr(n->addr, 0, sizeof(n->addr)) && n->addr[0]);
		FZ_CHECK(scif__nodemap_find(&map, n->id) == n);
	}
	FZ_CHECK(!scif__nodemap_find(&map, 0xffff));
	scif__nodemap_free(&map);
	free(text);
	return 0;
}
