/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the node map (libscif/nodemap.c): parsing, loading from a
 * file and finding this process's own node.
 *
 * Addresses used: only 127.0.0.1, ::1 and the documentation range
 * 192.0.2.0/24.  A 192.0.2.x address may be configured on a test machine,
 * so tests that need a non-local address pick one that getifaddrs() does not
 * list.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "nodemap.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ERRLEN 256

/* ---- helpers ---- */

static int parse(const char *text, struct scif_nodemap *map, char *err)
{
	/* Make stale contents of err detectable. */
	strcpy(err, "untouched");
	return scif__nodemap_parse(text, map, err, ERRLEN);
}

/* Parse text that must be refused on line `line` with a message containing
 * `why`; the map must be left empty. */
static void expect_refused(const char *text, unsigned line, const char *why)
{
	struct scif_nodemap map = { (struct scif_node *)1, 99 };
	char err[ERRLEN], want[32];

	assert_int_equal(parse(text, &map, err), -EINVAL);
	snprintf(want, sizeof(want), "line %u:", line);
	if (strncmp(err, want, strlen(want)) != 0)
		fail_msg("error '%s' does not start with '%s'", err, want);
	if (!strstr(err, why))
		fail_msg("error '%s' does not mention '%s'", err, why);
	assert_null(map.nodes);
	assert_int_equal(map.count, 0);
}

static void expect_node(const struct scif_nodemap *map, uint16_t id,
			const char *addr)
{
	const struct scif_node *n = scif__nodemap_find(map, id);

	if (!n)
		fail_msg("node %u not found", id);
	assert_int_equal(n->id, id);
	assert_string_equal(n->addr, addr);
}

/* Is this IPv4 address (host order) configured on a local interface? */
static int ipv4_is_local(uint32_t host_order)
{
	struct ifaddrs *ifa, *i;
	int found = 0;

	assert_int_equal(getifaddrs(&ifa), 0);
	for (i = ifa; i; i = i->ifa_next) {
		if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET &&
		    ntohl(((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr) ==
			    host_order)
			found = 1;
	}
	freeifaddrs(ifa);
	return found;
}

static int ipv6_loopback_configured(void)
{
	struct ifaddrs *ifa, *i;
	int found = 0;

	if (getifaddrs(&ifa))
		return 0;
	for (i = ifa; i; i = i->ifa_next) {
		if (i->ifa_addr && i->ifa_addr->sa_family == AF_INET6 &&
		    IN6_IS_ADDR_LOOPBACK(
			    &((struct sockaddr_in6 *)i->ifa_addr)->sin6_addr))
			found = 1;
	}
	freeifaddrs(ifa);
	return found;
}

/* The k-th (0-based) 192.0.2.x address not configured on this machine. */
static void nonlocal_doc_addr(int k, char *buf, size_t len)
{
	unsigned x;

	for (x = 1; x < 255; x++) {
		if (ipv4_is_local(0xc0000200u | x))
			continue;
		if (k-- == 0) {
			snprintf(buf, len, "192.0.2.%u", x);
			return;
		}
	}
	fail_msg("no free address in 192.0.2.0/24");
}

/* The map under test; teardown frees it even when an assertion failed. */
static struct scif_nodemap g_map;

static int setup(void **state)
{
	(void)state;
	unsetenv("SCIF_SELF_NODE");
	g_map.nodes = NULL;
	g_map.count = 0;
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	unsetenv("SCIF_SELF_NODE");
	scif__nodemap_free(&g_map);
	return 0;
}

/* ---- scif__nodemap_parse: valid input ---- */

static void test_parse_empty_and_comment_only(void **state)
{
	char err[ERRLEN];

	(void)state;
	assert_int_equal(parse("", &g_map, err), 0);
	assert_int_equal(g_map.count, 0);
	assert_null(scif__nodemap_find(&g_map, 0));
	scif__nodemap_free(&g_map);

	assert_int_equal(parse("# only a comment\n\n   \n\t\n#1 192.0.2.1\n",
			       &g_map, err),
			 0);
	assert_int_equal(g_map.count, 0);
	assert_null(scif__nodemap_find(&g_map, 1));
	scif__nodemap_free(&g_map);
}

static void test_parse_comments_blanks_tabs(void **state)
{
	char err[ERRLEN];
	const char *text = "# SCIF node map\n"
			   "\n"
			   "0 192.0.2.10\n"
			   "   \t  \n"
			   "\t1\t192.0.2.11\t# trailing comment\n"
			   "  2   192.0.2.12  \n"
			   "3 192.0.2.13#comment glued to the address\n"
			   "# 4 192.0.2.14 commented out\n"
			   "5 \t \t192.0.2.15"; /* no final newline */

	(void)state;
	assert_int_equal(parse(text, &g_map, err), 0);
	assert_int_equal(g_map.count, 5);
	expect_node(&g_map, 0, "192.0.2.10");
	expect_node(&g_map, 1, "192.0.2.11");
	expect_node(&g_map, 2, "192.0.2.12");
	expect_node(&g_map, 3, "192.0.2.13");
	assert_null(scif__nodemap_find(&g_map, 4));
	expect_node(&g_map, 5, "192.0.2.15");
	scif__nodemap_free(&g_map);
	assert_null(g_map.nodes);
	assert_int_equal(g_map.count, 0);
}

static void test_parse_ipv6_and_host_names(void **state)
{
	char err[ERRLEN];
	const char *text = "1 ::1\n"
			   "2 127.0.0.1\n"
			   "3 localhost\n"
			   "4 mic0-ib.cluster.example\n"
			   "5 node_5.invalid\n";

	(void)state;
	assert_int_equal(parse(text, &g_map, err), 0);
	assert_int_equal(g_map.count, 5);
	expect_node(&g_map, 1, "::1");
	expect_node(&g_map, 2, "127.0.0.1");
	expect_node(&g_map, 3, "localhost");
	expect_node(&g_map, 4, "mic0-ib.cluster.example");
	expect_node(&g_map, 5, "node_5.invalid");
	scif__nodemap_free(&g_map);
}

static void test_parse_id_bounds(void **state)
{
	char err[ERRLEN];

	(void)state;
	assert_int_equal(parse("0 192.0.2.1\n65534 192.0.2.2\n007 192.0.2.3\n",
			       &g_map, err),
			 0);
	assert_int_equal(g_map.count, 3);
	expect_node(&g_map, 0, "192.0.2.1");
	expect_node(&g_map, 65534, "192.0.2.2");
	expect_node(&g_map, 7, "192.0.2.3");
	scif__nodemap_free(&g_map);
}

static void test_parse_sorted_output_and_find(void **state)
{
	char err[ERRLEN];
	const uint16_t ids[] = { 30, 2, 65534, 0, 17, 9, 1000, 3, 8, 4 };
	const size_t nids = sizeof(ids) / sizeof(ids[0]);
	char text[1024] = "", line[64], addr[32];
	size_t i;

	(void)state;
	/* More than 8 entries: the node array grows while parsing. */
	for (i = 0; i < nids; i++) {
		snprintf(line, sizeof(line), "%u 192.0.2.%u\n", ids[i],
			 (unsigned)(100 + i));
		strcat(text, line);
	}
	assert_int_equal(parse(text, &g_map, err), 0);
	assert_int_equal(g_map.count, nids);
	for (i = 1; i < g_map.count; i++)
		if (g_map.nodes[i - 1].id >= g_map.nodes[i].id)
			fail_msg("nodes not sorted: %u before %u",
				 g_map.nodes[i - 1].id, g_map.nodes[i].id);
	assert_int_equal(g_map.nodes[0].id, 0);
	assert_int_equal(g_map.nodes[g_map.count - 1].id, 65534);
	/* Every id is found with its own address, after sorting. */
	for (i = 0; i < nids; i++) {
		snprintf(addr, sizeof(addr), "192.0.2.%u", (unsigned)(100 + i));
		expect_node(&g_map, ids[i], addr);
	}
	/* Absent ids, including ones between and beyond the present. */
	assert_null(scif__nodemap_find(&g_map, 1));
	assert_null(scif__nodemap_find(&g_map, 5));
	assert_null(scif__nodemap_find(&g_map, 31));
	assert_null(scif__nodemap_find(&g_map, 65533));
	assert_null(scif__nodemap_find(&g_map, 65535));
	scif__nodemap_free(&g_map);
}

static void test_parse_many_nodes(void **state)
{
	char err[ERRLEN];
	char *text = malloc(200 * 32), *p = text;
	unsigned i;

	(void)state;
	assert_non_null(text);
	/* 200 nodes in descending order, each with its own address. */
	for (i = 200; i > 0; i--)
		p += sprintf(p, "%u 192.0.2.%u\n", i * 300, i);
	assert_int_equal(parse(text, &g_map, err), 0);
	free(text);
	assert_int_equal(g_map.count, 200);
	for (i = 0; i < 200; i++)
		assert_int_equal(g_map.nodes[i].id, (i + 1) * 300);
	for (i = 1; i <= 200; i++) {
		char addr[32];

		snprintf(addr, sizeof(addr), "192.0.2.%u", i);
		expect_node(&g_map, (uint16_t)(i * 300), addr);
		assert_null(scif__nodemap_find(&g_map, (uint16_t)(i * 300 + 1)));
	}
	scif__nodemap_free(&g_map);
}

static void test_parse_line_length_limit(void **state)
{
	char err[ERRLEN];
	char text[2200];
	const char *entry = "1 192.0.2.1 #";
	size_t n = strlen(entry);

	(void)state;
	/* Line 2 is exactly 1023 characters (without its newline): fine. */
	strcpy(text, "# header\n");
	strcat(text, entry);
	memset(text + strlen(text), 'x', 1023 - n);
	text[9 + 1023] = '\0';
	strcat(text, "\n2 192.0.2.2\n");
	assert_int_equal(parse(text, &g_map, err), 0);
	assert_int_equal(g_map.count, 2);
	expect_node(&g_map, 1, "192.0.2.1");
	expect_node(&g_map, 2, "192.0.2.2");
	scif__nodemap_free(&g_map);

	/* One character more: refused, naming line 2. */
	strcpy(text, "# header\n");
	strcat(text, entry);
	memset(text + strlen(text), 'x', 1024 - n);
	text[9 + 1024] = '\0';
	strcat(text, "\n2 192.0.2.2\n");
	expect_refused(text, 2, "too long");

	/* Also as the last line without a newline. */
	strcpy(text, "0 192.0.2.9\n\n\n");
	memset(text + strlen(text), ' ', 1500);
	text[14 + 1500] = '\0';
	expect_refused(text, 4, "too long");
}

static void test_parse_address_length_limit(void **state)
{
	char err[ERRLEN], text[600], addr[SCIF_NODE_ADDR_MAX + 1];

	(void)state;
	/* 255 characters fit (with the NUL) in SCIF_NODE_ADDR_MAX. */
	memset(addr, 'a', SCIF_NODE_ADDR_MAX - 1);
	addr[SCIF_NODE_ADDR_MAX - 1] = '\0';
	snprintf(text, sizeof(text), "9 %s\n", addr);
	assert_int_equal(parse(text, &g_map, err), 0);
	expect_node(&g_map, 9, addr);
	scif__nodemap_free(&g_map);

	/* 256 characters do not. */
	memset(addr, 'a', SCIF_NODE_ADDR_MAX);
	addr[SCIF_NODE_ADDR_MAX] = '\0';
	snprintf(text, sizeof(text), "1 192.0.2.1\n9 %s\n", addr);
	expect_refused(text, 2, "address too long");
}

/* ---- scif__nodemap_parse: malformed input ---- */

static void test_parse_missing_address(void **state)
{
	(void)state;
	expect_refused("1\n", 1, "expected");
	expect_refused("0 192.0.2.1\n\n# c\n  7   # address commented out\n", 4,
		       "expected");
	expect_refused("0 192.0.2.1\n1", 2, "expected");
}

static void test_parse_extra_tokens(void **state)
{
	(void)state;
	expect_refused("1 192.0.2.1 extra\n", 1, "expected");
	expect_refused("# c\n1 192.0.2.1\n2 192.0.2.2 192.0.2.3\n", 3,
		       "expected");
	expect_refused("1\t192.0.2.1\tx\ty\n", 1, "expected");
}

static void test_parse_bad_ids(void **state)
{
	static const char *const bad[] = {
		"abc 192.0.2.1",   /* not a number */
		"1a 192.0.2.1",	   /* trailing garbage */
		"0x10 192.0.2.1",  /* hex is not decimal */
		"-1 192.0.2.1",	   /* negative */
		"-0 192.0.2.1",	   /* signed */
		"+1 192.0.2.1",	   /* signed */
		"65535 192.0.2.1", /* 0xffff is never a node */
		"65536 192.0.2.1",
		"4294967296 192.0.2.1",
		"99999999999999999999999 192.0.2.1", /* overflows strtoul */
		"1.5 192.0.2.1",
	};
	char text[128];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		/* The bad line is line 3, after a good one and a blank one. */
		snprintf(text, sizeof(text), "2 192.0.2.2\n\n%s\n", bad[i]);
		print_message("bad id line: '%s'\n", bad[i]);
		expect_refused(text, 3, "node id");
	}
}

static void test_parse_duplicate_id(void **state)
{
	(void)state;
	expect_refused("1 192.0.2.1\n2 192.0.2.2\n# c\n1 192.0.2.3\n", 4,
		       "duplicate node id");
	/* Same id written differently is still the same id. */
	expect_refused("7 192.0.2.1\n007 192.0.2.2\n", 2, "duplicate node id");
}

static void test_parse_duplicate_address(void **state)
{
	(void)state;
	expect_refused("1 192.0.2.1\n2 192.0.2.2\n\n3 192.0.2.1\n", 4,
		       "duplicate address");
	expect_refused("1 ::1\n2 ::1\n", 2, "duplicate address");
}

static void test_parse_error_names_line_number(void **state)
{
	char text[4096] = "";
	unsigned i;

	(void)state;
	/* 40 valid or ignorable lines, then a bad one: line 41. */
	for (i = 0; i < 40; i++) {
		char line[64];

		if (i % 3 == 0)
			snprintf(line, sizeof(line), "# comment %u\n", i);
		else if (i % 3 == 1)
			snprintf(line, sizeof(line), "\n");
		else
			snprintf(line, sizeof(line), "%u 192.0.2.%u\n", i, i);
		strcat(text, line);
	}
	strcat(text, "41 192.0.2.41 junk\n");
	expect_refused(text, 41, "expected");
}

static void test_parse_error_without_buffer(void **state)
{

	(void)state;
	/* err may be NULL; the error code is still returned. */
	assert_int_equal(scif__nodemap_parse("1\n", &g_map, NULL, 0), -EINVAL);
	assert_null(g_map.nodes);
	assert_int_equal(g_map.count, 0);
}

/* ---- scif__nodemap_load ---- */

struct tmpdir {
	char dir[64];
	char path[128];
};

static void tmp_make(struct tmpdir *t)
{
	strcpy(t->dir, "/tmp/scif-nodemap-XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	snprintf(t->path, sizeof(t->path), "%s/nodes.conf", t->dir);
}

static void tmp_write(struct tmpdir *t, const void *data, size_t len)
{
	int fd = open(t->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

static void tmp_remove(struct tmpdir *t)
{
	unlink(t->path);
	rmdir(t->dir);
}

static void test_load_missing_file(void **state)
{
	struct tmpdir t;
	char err[ERRLEN] = "";

	(void)state;
	tmp_make(&t);
	assert_int_equal(scif__nodemap_load(t.path, &g_map, err, sizeof(err)),
			 -ENOENT);
	tmp_remove(&t);
}

static void test_load_nul_byte(void **state)
{
	static const char data[] = "1 192.0.2.1\n2 192.0.2.2\0\n3 192.0.2.3\n";
	struct tmpdir t;
	char err[ERRLEN] = "";

	(void)state;
	tmp_make(&t);
	tmp_write(&t, data, sizeof(data) - 1);
	assert_int_equal(scif__nodemap_load(t.path, &g_map, err, sizeof(err)),
			 -EINVAL);
	/* A NUL at the very end (not a C-string terminator in the text). */
	tmp_write(&t, "1 192.0.2.1\n\0", 13);
	assert_int_equal(scif__nodemap_load(t.path, &g_map, err, sizeof(err)),
			 -EINVAL);
	tmp_remove(&t);
}

static void test_load_round_trip(void **state)
{
	static const char data[] = "# test map\n"
				   "12 192.0.2.12\n"
				   "\n"
				   "\t3\t::1 # v6\n"
				   "7 127.0.0.1\n";
	struct tmpdir t;
	char err[ERRLEN] = "";

	(void)state;
	tmp_make(&t);
	tmp_write(&t, data, sizeof(data) - 1);
	assert_int_equal(scif__nodemap_load(t.path, &g_map, err, sizeof(err)), 0);
	assert_int_equal(g_map.count, 3);
	assert_int_equal(g_map.nodes[0].id, 3);
	assert_int_equal(g_map.nodes[1].id, 7);
	assert_int_equal(g_map.nodes[2].id, 12);
	expect_node(&g_map, 3, "::1");
	expect_node(&g_map, 7, "127.0.0.1");
	expect_node(&g_map, 12, "192.0.2.12");
	scif__nodemap_free(&g_map);

	/* An empty file is an empty g_map. */
	tmp_write(&t, "", 0);
	assert_int_equal(scif__nodemap_load(t.path, &g_map, err, sizeof(err)), 0);
	assert_int_equal(g_map.count, 0);
	scif__nodemap_free(&g_map);
	tmp_remove(&t);
}

static void test_load_large_file(void **state)
{
	/* Larger than the loader's read chunks: ~100 KiB of comments with
	 * entries spread through it, the last one at the very end. */
	struct tmpdir t;
	char err[ERRLEN] = "";
	size_t cap = 128 * 1024, len = 0;
	char *text = malloc(cap);
	unsigned i;

	(void)state;
	assert_non_null(text);
	for (i = 0; i < 1000; i++) {
		len += (size_t)sprintf(text + len, "# %0*u\n", 90, i);
		if (i % 100 == 99)
			len += (size_t)sprintf(text + len, "%u 192.0.2.%u\n",
					       i / 100, 1 + i / 100);
	}
	assert_true(len > 3 * 8192);
	tmp_make(&t);
	tmp_write(&t, text, len);
	free(text);
	assert_int_equal(scif__nodemap_load(t.path, &g_map, err, sizeof(err)), 0);
	assert_int_equal(g_map.count, 10);
	for (i = 0; i < 10; i++) {
		char addr[32];

		snprintf(addr, sizeof(addr), "192.0.2.%u", 1 + i);
		expect_node(&g_map, (uint16_t)i, addr);
	}
	scif__nodemap_free(&g_map);
	tmp_remove(&t);
}

static void test_load_parse_error(void **state)
{
	static const char data[] = "1 192.0.2.1\n\n1 192.0.2.2\n";
	struct tmpdir t;
	char err[ERRLEN] = "";

	(void)state;
	tmp_make(&t);
	tmp_write(&t, data, sizeof(data) - 1);
	assert_int_equal(scif__nodemap_load(t.path, &g_map, err, sizeof(err)),
			 -EINVAL);
	if (!strstr(err, "line 3"))
		fail_msg("load error '%s' does not name line 3", err);
	assert_int_equal(g_map.count, 0);
	tmp_remove(&t);
}

/* ---- scif__nodemap_self ---- */

static void test_self_env_listed(void **state)
{
	char err[ERRLEN];
	uint16_t self = 0xffff;

	(void)state;
	/* No local address in the map: the environment alone decides. */
	assert_int_equal(parse("3 192.0.2.3\n4 192.0.2.4\n65534 192.0.2.5\n",
			       &g_map, err),
			 0);
	setenv("SCIF_SELF_NODE", "4", 1);
	assert_int_equal(scif__nodemap_self(&g_map, &self), 0);
	assert_int_equal(self, 4);
	setenv("SCIF_SELF_NODE", "65534", 1);
	assert_int_equal(scif__nodemap_self(&g_map, &self), 0);
	assert_int_equal(self, 65534);
	/* The environment wins over a local address in the g_map. */
	scif__nodemap_free(&g_map);
	assert_int_equal(parse("1 127.0.0.1\n2 192.0.2.3\n", &g_map, err), 0);
	setenv("SCIF_SELF_NODE", "2", 1);
	assert_int_equal(scif__nodemap_self(&g_map, &self), 0);
	assert_int_equal(self, 2);
	scif__nodemap_free(&g_map);
}

static void test_self_env_unlisted_or_garbage(void **state)
{
	static const char *const bad[] = {
		"5",	 /* not in the map */
		"0",	 /* not in the map */
		"65535", /* never a node */
		"65537", /* would wrap to 1 as uint16_t */
		"70000",
		"abc",
		"1x",
		"x1",
		"1 2",
		"-1",
		"99999999999999999999999",
	};
	char err[ERRLEN];
	size_t i;

	(void)state;
	assert_int_equal(parse("1 127.0.0.1\n3 192.0.2.3\n", &g_map, err), 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint16_t self = 0xabcd;

		print_message("SCIF_SELF_NODE='%s'\n", bad[i]);
		setenv("SCIF_SELF_NODE", bad[i], 1);
		assert_int_equal(scif__nodemap_self(&g_map, &self), -ENODEV);
		assert_int_equal(self, 0xabcd);
	}
	scif__nodemap_free(&g_map);
}

static void test_self_env_negative_wrap(void **state)
{
	/* strtoul() accepts a minus sign and negates: "-18446744073709551615"
	 * becomes 1.  A negative number is not a node id and must be refused
	 * like "-1" is. */
	char err[ERRLEN];
	uint16_t self = 0xabcd;

	(void)state;
	assert_int_equal(parse("1 192.0.2.1\n3 192.0.2.3\n", &g_map, err), 0);
	setenv("SCIF_SELF_NODE", "-18446744073709551615", 1);
	assert_int_equal(scif__nodemap_self(&g_map, &self), -ENODEV);
	assert_int_equal(self, 0xabcd);
	scif__nodemap_free(&g_map);
}

static void test_self_env_empty_falls_back(void **state)
{
	char err[ERRLEN], text[ERRLEN], other[32];
	uint16_t self = 0;

	(void)state;
	nonlocal_doc_addr(0, other, sizeof(other));
	snprintf(text, sizeof(text), "2 %s\n9 127.0.0.1\n", other);
	assert_int_equal(parse(text, &g_map, err), 0);
	/* An empty SCIF_SELF_NODE counts as unset. */
	setenv("SCIF_SELF_NODE", "", 1);
	assert_int_equal(scif__nodemap_self(&g_map, &self), 0);
	assert_int_equal(self, 9);
	scif__nodemap_free(&g_map);
}

static void test_self_by_local_ipv4(void **state)
{
	char err[ERRLEN], text[ERRLEN], a[32], b[32];
	uint16_t self = 0;

	(void)state;
	nonlocal_doc_addr(0, a, sizeof(a));
	nonlocal_doc_addr(1, b, sizeof(b));
	/* The local node is neither first nor last in the g_map. */
	snprintf(text, sizeof(text), "1 %s\n# me\n5 127.0.0.1\n8 %s\n", a, b);
	assert_int_equal(parse(text, &g_map, err), 0);
	assert_int_equal(scif__nodemap_self(&g_map, &self), 0);
	assert_int_equal(self, 5);
	scif__nodemap_free(&g_map);
}

static void test_self_by_local_ipv6(void **state)
{
	char err[ERRLEN], text[ERRLEN], a[32];
	uint16_t self = 0;

	(void)state;
	if (!ipv6_loopback_configured()) {
		print_message("::1 is not configured here\n");
		skip();
	}
	nonlocal_doc_addr(0, a, sizeof(a));
	snprintf(text, sizeof(text), "1 %s\n6 ::1\n", a);
	assert_int_equal(parse(text, &g_map, err), 0);
	assert_int_equal(scif__nodemap_self(&g_map, &self), 0);
	assert_int_equal(self, 6);
	scif__nodemap_free(&g_map);
}

static void test_self_no_local_address(void **state)
{
	char err[ERRLEN], text[ERRLEN], a[32], b[32];
	uint16_t self = 0xabcd;

	(void)state;
	nonlocal_doc_addr(0, a, sizeof(a));
	nonlocal_doc_addr(1, b, sizeof(b));
	snprintf(text, sizeof(text), "1 %s\n2 %s\n", a, b);
	assert_int_equal(parse(text, &g_map, err), 0);
	assert_int_equal(scif__nodemap_self(&g_map, &self), -ENODEV);
	assert_int_equal(self, 0xabcd);
	scif__nodemap_free(&g_map);

	/* An empty map has no local node either. */
	assert_int_equal(parse("", &g_map, err), 0);
	assert_int_equal(scif__nodemap_self(&g_map, &self), -ENODEV);
	assert_int_equal(self, 0xabcd);
	scif__nodemap_free(&g_map);
}

static void test_self_two_local_addresses(void **state)
{
	char err[ERRLEN], text[ERRLEN], a[32];
	uint16_t self = 0xabcd;

	(void)state;
	if (!ipv6_loopback_configured()) {
		print_message("::1 is not configured here: case skipped\n");
		skip();
	}
	nonlocal_doc_addr(0, a, sizeof(a));
	snprintf(text, sizeof(text), "1 127.0.0.1\n2 %s\n3 ::1\n", a);
	assert_int_equal(parse(text, &g_map, err), 0);
	assert_int_equal(scif__nodemap_self(&g_map, &self), -ENODEV);
	assert_int_equal(self, 0xabcd);
	/* ...and SCIF_SELF_NODE resolves the ambiguity. */
	setenv("SCIF_SELF_NODE", "3", 1);
	assert_int_equal(scif__nodemap_self(&g_map, &self), 0);
	assert_int_equal(self, 3);
	scif__nodemap_free(&g_map);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_parse_empty_and_comment_only),
		T(test_parse_comments_blanks_tabs),
		T(test_parse_ipv6_and_host_names),
		T(test_parse_id_bounds),
		T(test_parse_sorted_output_and_find),
		T(test_parse_many_nodes),
		T(test_parse_line_length_limit),
		T(test_parse_address_length_limit),
		T(test_parse_missing_address),
		T(test_parse_extra_tokens),
		T(test_parse_bad_ids),
		T(test_parse_duplicate_id),
		T(test_parse_duplicate_address),
		T(test_parse_error_names_line_number),
		T(test_parse_error_without_buffer),
		T(test_load_missing_file),
		T(test_load_nul_byte),
		T(test_load_round_trip),
		T(test_load_large_file),
		T(test_load_parse_error),
		T(test_self_env_listed),
		T(test_self_env_unlisted_or_garbage),
		T(test_self_env_negative_wrap),
		T(test_self_env_empty_falls_back),
		T(test_self_by_local_ipv4),
		T(test_self_by_local_ipv6),
		T(test_self_no_local_address),
		T(test_self_two_local_addresses),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
