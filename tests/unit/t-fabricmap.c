/*
 * Unit tests of lib/fabricmap.c: the distance rule (fixed cases and
 * properties over random matrices), format -> load round trips, and each
 * class of bad file with the line, column and message it must give.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "avm/fabricmap.h"
#include "avm/util.h"
#include "tap.h"

/* The example of avm.7 (FABRIC MAP), comments and all. */
static const char example[] =
	"# written by avm-fabric up: the measured links of VM 'fab'\n"
	"version: 1\n"
	"vm: fab\n"
	"nodes: 3\n"
	"rtt_median_ns:        # row i: measured from node i to node j\n"
	"  - [0, 51234, 60321]\n"
	"  - [50000, 0, 48000]\n"
	"  - [61000, 47000, 0]\n"
	"bandwidth_bytes_per_s:\n"
	"  - [0, 1600000000, 1500000000]\n"
	"  - [1600000000, 0, 1700000000]\n"
	"  - [1500000000, 1700000000, 0]\n"
	"distance:             # the SLIT\n"
	"  - [10, 20, 26]\n"
	"  - [20, 10, 20]\n"
	"  - [26, 20, 10]\n";

/* --- the distance rule ------------------------------------------------- */

static uint8_t
dist(const struct fabric_map *m, uint32_t i, uint32_t j)
{
	return m->distance[(size_t)i * m->nodes + j];
}

static void
set_rtt(struct fabric_map *m, uint32_t i, uint32_t j, uint64_t v)
{
	m->rtt_ns[(size_t)i * m->nodes + j] = v;
}

static void
test_distances_fixed(void)
{
	struct fabric_map m;
	uint32_t i, j;
	int good;

	/* The example's latencies: pair means 50617, 60660, 47500. */
	fabric_map_init(&m, "fab", 3);
	set_rtt(&m, 0, 1, 51234);
	set_rtt(&m, 0, 2, 60321);
	set_rtt(&m, 1, 0, 50000);
	set_rtt(&m, 1, 2, 48000);
	set_rtt(&m, 2, 0, 61000);
	set_rtt(&m, 2, 1, 47000);
	ok(fabric_map_distances(&m) == 0, "example: distances");
	is_int(dist(&m, 1, 2), 20, "example: nearest pair (1,2) is 20");
	is_int(dist(&m, 0, 1), 20,
	       "example: (0,1), under 5/4 of the nearest, is 20 too");
	is_int(dist(&m, 0, 2), 26, "example: (0,2) is round(20*60660/47500)");
	is_int(dist(&m, 2, 0), 26, "example: symmetric");
	is_int(dist(&m, 1, 1), 10, "example: diagonal 10");
	fabric_map_release(&m);

	fabric_map_init(&m, "one", 1);
	set_rtt(&m, 0, 0, 12345); /* the diagonal is not read */
	ok(fabric_map_distances(&m) == 0 && dist(&m, 0, 0) == 10,
	   "one node: just 10");
	fabric_map_release(&m);

	fabric_map_init(&m, "none", 4);
	ok(fabric_map_distances(&m) == 0, "nothing measured: distances");
	good = 1;
	for (i = 0; i < 4; i++)
		for (j = 0; j < 4; j++)
			good &= dist(&m, i, j) == (i == j ? 10 : 20);
	ok(good, "nothing measured: 10 local, 20 remote, as without a map");
	fabric_map_release(&m);

	/* One direction only, an unmeasured pair, a far pair, a clamp. */
	fabric_map_init(&m, "mix", 4);
	set_rtt(&m, 0, 1, 1000);  /* one direction: 1000 */
	set_rtt(&m, 2, 0, 1500);  /* the other direction only: 1500 */
	set_rtt(&m, 0, 3, 1249);  /* round(24.98) */
	set_rtt(&m, 3, 0, 1251);  /* mean 1250: round(25.0) */
	set_rtt(&m, 1, 2, 12675); /* round(253.5): 254 */
	set_rtt(&m, 2, 3, 1249);  /* under 5/4 of the nearest: 20 */
	set_rtt(&m, 1, 3, UINT64_MAX);
	set_rtt(&m, 3, 1, UINT64_MAX); /* no overflow in the mean */
	ok(fabric_map_distances(&m) == 0, "mix: distances");
	is_int(dist(&m, 0, 1), 20, "mix: one direction measured is used");
	is_int(dist(&m, 0, 2), 30, "mix: the other direction alone too");
	is_int(dist(&m, 0, 3), 25, "mix: the mean of both directions");
	is_int(dist(&m, 1, 2), 254, "mix: 12.675 times the nearest: 254");
	is_int(dist(&m, 1, 3), 254, "mix: UINT64_MAX clamps to 254");
	is_int(dist(&m, 2, 3), 20, "mix: 1.249 times the nearest is 20");
	is_int(dist(&m, 0, 3), 25, "mix: 1.25 times the nearest is 25");
	fabric_map_release(&m);

	fabric_map_init(&m, "x", 2);
	free(m.rtt_ns);
	m.rtt_ns = NULL;
	errno = 0;
	ok(fabric_map_distances(&m) == -1 && errno == EINVAL,
	   "no rtt_ns: EINVAL");
	fabric_map_release(&m);
}

/* The pair latency the rule uses, as the header says it. */
static unsigned __int128
mean(const struct fabric_map *m, uint32_t i, uint32_t j)
{
	uint64_t a = m->rtt_ns[(size_t)i * m->nodes + j];
	uint64_t b = m->rtt_ns[(size_t)j * m->nodes + i];

	if (a && b)
		return ((unsigned __int128)a + b) / 2;
	return a ? a : b;
}

/*
 * Properties over random matrices: diagonal 10, symmetric, 11..254,
 * the nearest measured pair 20, unmeasured 20, and a nearer pair never
 * farther than another.  Latencies from a few narrow and wide scales,
 * with holes, so that ties, clamps and gaps all happen.
 */
static void
test_distances_random(void)
{
	static const uint64_t scale[] = { 3, 100, 50000, 1ull << 40,
					  UINT64_MAX / 2 };
	unsigned iter, bad_diag = 0, bad_sym = 0, bad_range = 0;
	unsigned bad_order = 0, bad_near = 0, bad_hole = 0, clamps = 0;
	struct fabric_map m;
	uint32_t n, i, j, k, l;

	srandom(20240601);
	for (iter = 0; iter < 3000; iter++) {
		uint64_t s = scale[random() % AVM_ARRAY_SIZE(scale)];
		unsigned __int128 min = 0;

		n = 1 + (uint32_t)(random() % 9);
		if (fabric_map_init(&m, "r", n) < 0)
			abort();
		for (i = 0; i < n; i++)
			for (j = 0; j < n; j++)
				if (random() % 5 != 0)
					set_rtt(&m, i, j,
						1 + ((uint64_t)random() << 31 ^
						     (uint64_t)random()) %
								s);
		if (fabric_map_distances(&m) < 0)
			abort();
		for (i = 0; i < n; i++)
			for (j = i + 1; j < n; j++)
				if (mean(&m, i, j) &&
				    (!min || mean(&m, i, j) < min))
					min = mean(&m, i, j);
		for (i = 0; i < n; i++)
			for (j = 0; j < n; j++) {
				uint8_t d = dist(&m, i, j);

				if (i == j) {
					bad_diag += d != 10;
					continue;
				}
				bad_sym += d != dist(&m, j, i);
				bad_range += d < 11 || d > 254;
				clamps += d == 254;
				if (!mean(&m, i, j))
					bad_hole += d != 20;
				else if (mean(&m, i, j) == min)
					bad_near += d != 20;
				for (k = 0; k < n; k++)
					for (l = 0; l < n; l++)
						if (k != l && mean(&m, k, l) &&
						    mean(&m, i, j) &&
						    mean(&m, i, j) <
							    mean(&m, k, l) &&
						    d > dist(&m, k, l))
							bad_order++;
			}
		fabric_map_release(&m);
	}
	is_int(bad_diag, 0, "random: the diagonal is always 10");
	is_int(bad_sym, 0, "random: distances are symmetric");
	is_int(bad_range, 0, "random: off the diagonal within 11..254");
	is_int(bad_near, 0, "random: the nearest measured pair is 20");
	is_int(bad_hole, 0, "random: a pair not measured is 20");
	is_int(bad_order, 0, "random: a nearer pair is never farther");
	ok(clamps > 0, "random: the clamp at 254 was reached (%u)", clamps);
}

/* --- round trips --------------------------------------------------------*/

static int
same_map(const struct fabric_map *a, const struct fabric_map *b)
{
	size_t n = (size_t)a->nodes * a->nodes;

	if (a->version != b->version || strcmp(a->vm, b->vm) != 0 ||
	    a->nodes != b->nodes)
		return 0;
	if (!a->rtt_ns != !b->rtt_ns || !a->bw != !b->bw)
		return 0;
	if (a->rtt_ns && memcmp(a->rtt_ns, b->rtt_ns, n * 8) != 0)
		return 0;
	if (a->bw && memcmp(a->bw, b->bw, n * 8) != 0)
		return 0;
	return memcmp(a->distance, b->distance, n) == 0;
}

static void
round_trip(const char *what, const struct fabric_map *m)
{
	struct fabric_map back;
	struct avm_diag d;
	char *buf = NULL;
	size_t len = 0;

	if (!ok(fabric_map_format(m, &buf, &len) == 0, "%s: formats", what))
		return;
	ok(strlen(buf) == len, "%s: NUL-terminated, length", what);
	if (!ok(fabric_map_load_string("rt", buf, len, &back, &d) == 0,
		"%s: loads back", what)) {
		printf("#   %d:%d: %s\n%s", d.line, d.col, d.msg, buf);
	} else {
		ok(same_map(m, &back), "%s: the same map", what);
		fabric_map_release(&back);
	}
	free(buf);
}

static void
test_round_trip(void)
{
	static const char *const names[] = { "null", "No",     "TRUE", "y",
					     "off",  "123",    "1e3",  "0x1f",
					     "_a",   "a.b-c_d" };
	struct fabric_map m;
	char *buf = NULL, what[64];
	size_t len, i, c;
	uint32_t n;

	srandom(7);
	for (n = 1; n <= 7; n += 3) {
		fabric_map_init(&m, "fab", n);
		for (c = 0; c < (size_t)n * n; c++) {
			if (c % (n + 1) == 0)
				continue; /* the diagonal */
			m.rtt_ns[c] = 1000 + (uint64_t)random();
			m.bw[c] = (uint64_t)random() << 20;
		}
		fabric_map_distances(&m);
		snprintf(what, sizeof(what), "%u nodes", n);
		round_trip(what, &m);
		free(m.bw);
		m.bw = NULL;
		snprintf(what, sizeof(what), "%u nodes, no bandwidth", n);
		round_trip(what, &m);
		free(m.rtt_ns);
		m.rtt_ns = NULL;
		snprintf(what, sizeof(what), "%u nodes, distances only", n);
		round_trip(what, &m);
		fabric_map_release(&m);
	}

	fabric_map_init(&m, "big", FABRIC_MAP_NODES_MAX);
	for (c = 0; c < (size_t)m.nodes * m.nodes; c++)
		if (c % (m.nodes + 1) != 0)
			m.rtt_ns[c] = m.bw[c] = UINT64_MAX;
	fabric_map_distances(&m);
	round_trip("256 nodes of UINT64_MAX", &m);
	fabric_map_release(&m);

	/* Names a YAML 1.1 reader would take for a null, a boolean or a
	 * number are quoted; all come back as the same string. */
	for (i = 0; i < AVM_ARRAY_SIZE(names); i++) {
		fabric_map_init(&m, names[i], 2);
		fabric_map_distances(&m);
		snprintf(what, sizeof(what), "VM named '%s'", names[i]);
		round_trip(what, &m);
		fabric_map_format(&m, &buf, &len);
		if (i < 8)
			ok(strstr(buf, "\nvm: '") != NULL, "%s is quoted",
			   what);
		else
			ok(strstr(buf, "\nvm: '") == NULL, "%s is not quoted",
			   what);
		free(buf);
		fabric_map_release(&m);
	}

	/* The writer's text, line by line. */
	fabric_map_init(&m, "fab", 2);
	set_rtt(&m, 0, 1, 50000);
	set_rtt(&m, 1, 0, 52000);
	m.bw[1] = 1600000000;
	m.bw[2] = 1500000000;
	fabric_map_distances(&m);
	fabric_map_format(&m, &buf, &len);
	is_str(buf,
	       "# written by avm-fabric up: the measured links of VM 'fab'\n"
	       "version: 1\n"
	       "vm: fab\n"
	       "nodes: 2\n"
	       "rtt_median_ns:  # row i: measured from node i to node j "
	       "(0 on the diagonal)\n"
	       "  - [0, 50000]\n"
	       "  - [52000, 0]\n"
	       "bandwidth_bytes_per_s:  # the same shape, 0 on the "
	       "diagonal\n"
	       "  - [0, 1600000000]\n"
	       "  - [1500000000, 0]\n"
	       "distance:  # the ACPI SLIT: 10 on the diagonal, 11..254 "
	       "elsewhere\n"
	       "  - [10, 20]\n"
	       "  - [20, 10]\n",
	       "the text of a 2-node map");
	free(buf);

	/* A map the reader would refuse is not written. */
	m.distance[1] = 9;
	errno = 0;
	buf = (char *)1;
	ok(fabric_map_format(&m, &buf, &len) == -1 && errno == EINVAL &&
		   buf == NULL,
	   "format refuses a distance of 9: EINVAL");
	m.distance[1] = 20;
	m.rtt_ns[3] = 5;
	errno = 0;
	ok(fabric_map_format(&m, &buf, &len) == -1 && errno == EINVAL,
	   "format refuses an rtt on the diagonal: EINVAL");
	{
		char why[128];

		fabric_map_check(&m, why, sizeof(why));
		is_str(why,
		       "'rtt_median_ns[1][1]' is 5, must be 0 on the "
		       "diagonal",
		       "check says which entry");
	}
	fabric_map_release(&m);

	errno = 0;
	ok(fabric_map_init(&m, "-bad", 2) == -1 && errno == EINVAL,
	   "init: a bad VM name is EINVAL");
	errno = 0;
	ok(fabric_map_init(&m, "a", 0) == -1 && errno == EINVAL,
	   "init: 0 nodes is EINVAL");
	errno = 0;
	ok(fabric_map_init(&m, "a", FABRIC_MAP_NODES_MAX + 1) == -1 &&
		   errno == EINVAL,
	   "init: 257 nodes is EINVAL");
	ok(m.rtt_ns == NULL && m.distance == NULL, "init: failure is empty");
	fabric_map_release(&m);
}

static void
test_example(void)
{
	struct fabric_map m;
	struct avm_diag d;

	if (!ok(fabric_map_load_string("ex", example, strlen(example), &m,
				       &d) == 0,
		"the example parses")) {
		printf("#   %d:%d: %s\n", d.line, d.col, d.msg);
		return;
	}
	is_int(m.version, 1, "version");
	is_str(m.vm, "fab", "vm");
	is_int(m.nodes, 3, "nodes");
	is_int(m.rtt_ns[1], 51234, "rtt [0][1]");
	is_int(m.rtt_ns[5], 48000, "rtt [1][2]");
	is_int(m.bw[2], 1500000000, "bandwidth [0][2]");
	is_int(m.distance[2], 26, "distance [0][2]");
	is_int(m.distance[7], 20, "distance [2][1]");
	fabric_map_release(&m);
	ok(m.rtt_ns == NULL && m.nodes == 0, "release zeroes the map");
	fabric_map_release(&m);
	ok(1, "release twice is harmless (valgrind: no double free)");

	/* Keys in any order, flow style, no optional matrices. */
	{
		static const char s[] = "distance: [[10, 30], [31, 10]]\n"
					"nodes: 2\nvm: \"q\"\n{version}: 1\n";
		static const char t[] = "{distance: [[10, 30], [31, 10]], "
					"nodes: 2, vm: 'q', version: 1}\n";

		ok(fabric_map_load_string("o", s, strlen(s), &m, &d) == -1,
		   "a flow-mapping key is not a key");
		ok(fabric_map_load_string("o", t, strlen(t), &m, &d) == 0 &&
			   m.rtt_ns == NULL && m.bw == NULL &&
			   m.distance[1] == 30 && m.distance[2] == 31,
		   "flow style, any key order, asymmetric SLIT, no rtt/bw");
		fabric_map_release(&m);
	}
}

/* --- bad files ----------------------------------------------------------*/

#define HEAD "version: 1\nvm: fab\nnodes: 2\n"
#define DIST "distance:\n  - [10, 20]\n  - [20, 10]\n"

static const struct {
	const char *yaml, *want;
} bad[] = {
	/* form */
	{ "", "empty file: no YAML document" },
	{ "# only a comment\n", "empty file: no YAML document" },
	{ "version: 1\nvm: [\n", "3:1: syntax error: did not find expected "
				 "node content (while parsing a flow node "
				 "at 3:1)" },
	{ HEAD DIST "---\n" HEAD DIST,
	  "7:1: multiple documents are not allowed" },
	{ HEAD "d: &a 1\n", "4:4: anchors are not allowed ('&a')" },
	{ HEAD "distance: *a\n", "4:11: aliases are not allowed ('*a')" },
	{ HEAD "distance: !!seq []\n",
	  "4:11: tags are not allowed ('tag:yaml.org,2002:seq')" },
	{ "- 1\n", "1:1: expected a mapping at top level, found a sequence" },
	{ "? [a]\n: 1\n",
	  "1:3: expected a scalar key at top level, found a sequence" },
	/* keys */
	{ HEAD DIST "hosts: 2\n", "7:1: unknown key 'hosts' at top level" },
	{ HEAD "nodes: 2\n" DIST,
	  "4:1: duplicate key 'nodes' at top level (first at 3:1)" },
	{ "vm: fab\nnodes: 2\n" DIST,
	  "1:1: missing key 'version' at top level" },
	{ "# comment\nversion: 1\nnodes: 2\n" DIST,
	  "2:1: missing key 'vm' at top level" },
	{ "version: 1\nvm: fab\n" DIST, "1:1: missing key 'nodes' at top "
					"level" },
	{ HEAD, "1:1: missing key 'distance' at top level" },
	/* the version rule: read first, and named with the one we read */
	{ "version: 2\nvm: fab\nnodes: 2\n" DIST,
	  "1:10: version 2 of the fabric map, this avm reads version 1" },
	{ "links: {a: b}\nversion: 2\n",
	  "2:10: version 2 of the fabric map, this avm reads version 1" },
	{ "version: 0\n" DIST, "1:10: version 0 of the fabric map, this avm "
			       "reads version 1" },
	{ "version: '1'\nvm: fab\nnodes: 2\n" DIST,
	  "1:10: expected an integer for 'version', found a quoted string" },
	{ "version: one\n", "1:10: bad integer 'one' for 'version'" },
	{ "version: 99999999999\n", "1:10: 'version' is 99999999999, out "
				    "of range 0..4294967295" },
	{ "version:\nvm: fab\n",
	  "1:1: expected an integer for 'version', found an empty value" },
	/* types and values */
	{ "version: 1\nvm: -x\nnodes: 2\n" DIST,
	  "2:5: bad name '-x' for 'vm' (1 to 31 of A-Z a-z 0-9 . _ -, not "
	  "starting with . or -)" },
	{ "version: 1\nvm:\nnodes: 2\n" DIST, "2:1: empty value for 'vm'" },
	{ "version: 1\nvm: [a]\nnodes: 2\n" DIST,
	  "2:5: expected a VM name for 'vm', found a sequence" },
	{ "version: 1\nvm: a\nnodes: 0\n" DIST,
	  "3:8: 'nodes' is 0, out of range 1..256" },
	{ "version: 1\nvm: a\nnodes: 257\n" DIST,
	  "3:8: 'nodes' is 257, out of range 1..256" },
	{ "version: 1\nvm: a\nnodes: 02\n" DIST,
	  "3:8: bad integer '02' for 'nodes'" },
	{ "version: 1\nvm: a\nnodes: -2\n" DIST,
	  "3:8: bad integer '-2' for 'nodes'" },
	{ "version: 1\nvm: a\nnodes: {n: 2}\n" DIST,
	  "3:8: expected an integer for 'nodes', found a mapping" },
	{ HEAD "distance: 5\n",
	  "4:11: expected a sequence of rows for 'distance', found a scalar" },
	{ HEAD "distance:\n", "4:1: expected a sequence of rows for "
			      "'distance', found an empty value" },
	{ HEAD "distance:\n  - 10\n",
	  "5:5: expected a sequence for 'distance[0]', found a scalar" },
	{ HEAD "distance:\n  - [10, {a: 1}]\n",
	  "5:10: expected an integer for 'distance[0][1]', found a mapping" },
	{ HEAD "distance:\n  - [10, \"20\"]\n",
	  "5:10: expected an integer for 'distance[0][1]', found a quoted "
	  "string" },
	{ HEAD "distance:\n  - [10, 2x]\n",
	  "5:10: bad integer '2x' for 'distance[0][1]'" },
	{ HEAD "distance:\n  - [10, 18446744073709551616]\n",
	  "5:10: 'distance[0][1]' is 18446744073709551616, out of range "
	  "0..18446744073709551615" },
	{ HEAD "distance:\n  - [10, 20]\n  - [20, 11]\n",
	  "6:10: 'distance[1][1]' is 11, must be 10 on the diagonal" },
	{ HEAD "distance:\n  - [10, 10]\n",
	  "5:10: 'distance[0][1]' is 10, out of range 11..254" },
	{ HEAD "distance:\n  - [10, 255]\n",
	  "5:10: 'distance[0][1]' is 255, out of range 11..254" },
	{ HEAD DIST "rtt_median_ns:\n  - [1, 5]\n",
	  "8:6: 'rtt_median_ns[0][0]' is 1, must be 0 on the diagonal" },
	{ HEAD DIST "bandwidth_bytes_per_s: [[0, 1], [1, 7]]\n",
	  "7:37: 'bandwidth_bytes_per_s[1][1]' is 7, must be 0 on the "
	  "diagonal" },
	/* shapes, against 'nodes' wherever it is */
	{ HEAD "distance:\n  - [10, 20]\n",
	  "4:1: 'distance' has 1 row, 'nodes' is 2" },
	{ HEAD "distance:\n  - [10, 20]\n  - [20, 10]\n  - [20, 20]\n",
	  "4:1: 'distance' has 3 rows, 'nodes' is 2" },
	{ HEAD "distance:\n  - [10, 20]\n  - [20]\n",
	  "6:5: 'distance[1]' has 1 entry, 'nodes' is 2" },
	{ "distance:\n  - [10, 20, 20]\n  - [20, 10, 20]\n  - [20, 20, 10]\n"
	  "version: 1\nvm: fab\nnodes: 2\n",
	  "1:1: 'distance' has 3 rows, 'nodes' is 2" },
	{ HEAD DIST "rtt_median_ns: [[0, 1], [1, 0, 5]]\n",
	  "7:25: 'rtt_median_ns[1]' has 3 entries, 'nodes' is 2" },
	{ HEAD DIST "rtt_median_ns: []\n",
	  "7:1: 'rtt_median_ns' has 0 rows, 'nodes' is 2" },
};

static void
test_bad(void)
{
	struct fabric_map m;
	struct avm_diag d;
	char got[1024], want[1024];
	size_t i;
	int rc;

	for (i = 0; i < AVM_ARRAY_SIZE(bad); i++) {
		errno = 0;
		rc = fabric_map_load_string("f.map", bad[i].yaml,
					    strlen(bad[i].yaml), &m, &d);
		ok(rc == -1 && errno == EINVAL, "bad %zu refused with EINVAL",
		   i);
		avm_diag_format(&d, got, sizeof(got));
		snprintf(want, sizeof(want), "f.map%s%s",
			 bad[i].want[0] >= '0' && bad[i].want[0] <= '9' ? ":"
									: ": ",
			 bad[i].want);
		is_str(got, want, "bad %zu diagnostic", i);
		ok(m.rtt_ns == NULL && m.bw == NULL && m.distance == NULL &&
			   m.nodes == 0,
		   "bad %zu leaves the map empty", i);
	}
}

/* Rows or entries past FABRIC_MAP_NODES_MAX stop at the first extra. */
static void
test_limits(void)
{
	struct fabric_map m;
	struct avm_diag d;
	char *s = malloc(1 << 20), *p;
	int i, rc;

	if (!s)
		abort();
	p = s + sprintf(s, HEAD "distance:\n  - [10");
	for (i = 1; i <= FABRIC_MAP_NODES_MAX; i++)
		p += sprintf(p, ", 20");
	strcpy(p, "]\n");
	rc = fabric_map_load_string("l", s, strlen(s), &m, &d);
	ok(rc == -1 && d.line == 5 && d.col == 6 + 4 * FABRIC_MAP_NODES_MAX,
	   "257 entries in a row: refused at the 257th (%d:%d)", d.line, d.col);
	is_str(d.msg, "too many entries in 'distance[0]' (at most 256)",
	       "257 entries: diagnostic");
	p = s + sprintf(s, HEAD "distance:\n");
	for (i = 0; i <= FABRIC_MAP_NODES_MAX; i++)
		p += sprintf(p, "  - []\n");
	rc = fabric_map_load_string("l", s, strlen(s), &m, &d);
	ok(rc == -1 && d.line == 5 + FABRIC_MAP_NODES_MAX && d.col == 5,
	   "257 rows: refused at the 257th (%d:%d)", d.line, d.col);
	is_str(d.msg, "too many rows in 'distance' (at most 256)",
	       "257 rows: diagnostic");
	sprintf(s, HEAD "distance: [[[[[[[[[[1]]]]]]]]]]\n");
	rc = fabric_map_load_string("l", s, strlen(s), &m, &d);
	ok(rc == -1 && strstr(d.msg, "nesting deeper than 8 levels") != NULL,
	   "nesting is bounded: %s", d.msg);
	memset(s, 'a', 300);
	memcpy(s, "vm: ", 4);
	s[300] = '\0';
	rc = fabric_map_load_string("l", s, strlen(s), &m, &d);
	ok(rc == -1 && strcmp(d.msg,
			      "string too long (296 bytes, at most 255)") == 0,
	   "strings are bounded: %s", d.msg);
	free(s);
}

/* Only len bytes are read: a buffer without a NUL is whole. */
static void
test_not_terminated(void)
{
	struct fabric_map m;
	struct avm_diag d;
	size_t len = strlen(example);
	char *s = malloc(len);

	if (!s)
		abort();
	memcpy(s, example, len);
	ok(fabric_map_load_string("n", s, len, &m, &d) == 0 && m.nodes == 3,
	   "a buffer without NUL parses (valgrind: no read past it)");
	fabric_map_release(&m);
	ok(fabric_map_load_string(NULL, s, len - 3, &m, &d) == -1 &&
		   strcmp(d.file, "<string>") == 0,
	   "a cut buffer: refused, named <string>");
	free(s);
}

static void
test_files(void)
{
	char dir[] = "/tmp/t-fabricmap.XXXXXX", path[256], buf[512];
	struct fabric_map m;
	struct avm_diag d;
	char *big;
	FILE *f;
	int fd;

	if (!ok(mkdtemp(dir) != NULL, "temporary directory"))
		return;
	snprintf(path, sizeof(path), "%s/%s", dir, FABRIC_MAP_FILE);
	errno = 0;
	ok(fabric_map_load_file(path, &m, &d) == -1 && errno == ENOENT,
	   "missing file: ENOENT");
	avm_diag_format(&d, buf, sizeof(buf));
	is_str(buf + strlen(dir), "/fabric.map: No such file or directory",
	       "missing file: diagnostic");
	is_int(d.line, 0, "missing file: no line");
	errno = 0;
	ok(fabric_map_load_file(dir, &m, &d) == -1 && errno == EISDIR,
	   "directory: EISDIR");

	f = fopen(path, "w");
	if (!f)
		abort();
	fputs(example, f);
	fclose(f);
	ok(fabric_map_load_file(path, &m, &d) == 0 && m.nodes == 3 &&
		   m.distance[1] == 20,
	   "file parses");
	fabric_map_release(&m);
	fd = open(path, O_RDONLY);
	ok(fabric_map_load_fd(fd, "by-fd", &m, &d) == 0 && m.nodes == 3,
	   "fd parses");
	close(fd);
	fabric_map_release(&m);

	f = fopen(path, "w");
	if (!f)
		abort();
	fputs(HEAD "distance:\n  - [10, 20]\n  - [20, 9]\n", f);
	fclose(f);
	errno = 0;
	ok(fabric_map_load_file(path, &m, &d) == -1 && errno == EINVAL,
	   "bad file: EINVAL");
	is_str(d.file, path, "bad file: diagnostic names the file");
	ok(d.line == 6 && d.col == 10, "bad file: line and column");

	big = calloc(1, FABRIC_MAP_FILE_MAX + 2);
	if (!big)
		abort();
	memset(big, '#', FABRIC_MAP_FILE_MAX + 1);
	f = fopen(path, "w");
	if (!f)
		abort();
	fputs(big, f);
	fclose(f);
	free(big);
	errno = 0;
	ok(fabric_map_load_file(path, &m, &d) == -1 && errno == EINVAL,
	   "file too large: EINVAL");
	is_str(d.msg, "file too large (more than 8388608 bytes)",
	       "file too large: diagnostic");
	unlink(path);

	if (mkfifo(path, 0600) == 0) {
		ok(fabric_map_load_file(path, &m, &d) == -1 &&
			   strcmp(d.msg, "empty file: no YAML document") == 0,
		   "a FIFO with no writer does not hang: %s", d.msg);
		unlink(path);
	}
	rmdir(dir);
}

int
main(void)
{
	test_distances_fixed();
	test_distances_random();
	test_round_trip();
	test_example();
	test_bad();
	test_limits();
	test_not_terminated();
	test_files();
	return done_testing();
}
