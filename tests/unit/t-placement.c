/*
 * Unit tests of the placement (avm/placement.h): equal blocks for 1 to 8
 * nodes, 1 GiB over 3 and 5 nodes, splits given per node, and the input
 * every caller must refuse with a reason.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "avm/placement.h"
#include "tap.h"

#define MIB (1ull << 20)
#define GIB (1ull << 30)
#define PG PLACEMENT_PAGE_SIZE

/*
 * What a user of the placement relies on: node blocks in node order, one
 * after the other, from vCPU 0 and page 0, covering everything exactly
 * once, none empty.  Returns 1 when all of that holds.
 */
static int
covers(const struct placement_node *p, uint32_t n, uint32_t vcpus,
       uint64_t npages)
{
	uint64_t v = 0, pg = 0;

	for (uint32_t i = 0; i < n; i++) {
		if (p[i].vcpu_first != v || p[i].page_first != pg ||
		    (vcpus && p[i].vcpu_count == 0) || p[i].page_count == 0)
			return 0;
		v += p[i].vcpu_count;
		pg += p[i].page_count;
	}
	return v == vcpus && pg == npages;
}

/* Equal blocks: sizes differ by at most one, never larger before smaller
 * (node 0, with the devices, is never the largest alone). */
static int
equal(const struct placement_node *p, uint32_t n)
{
	for (uint32_t i = 1; i < n; i++) {
		if (p[i].vcpu_count < p[i - 1].vcpu_count ||
		    p[i].page_count < p[i - 1].page_count)
			return 0;
		if (p[i].vcpu_count - p[0].vcpu_count > 1 ||
		    p[i].page_count - p[0].page_count > 1)
			return 0;
	}
	return 1;
}

/* One equal split; says on a comment line what failed. */
static int
equal_case(uint32_t n, uint32_t v, uint64_t mem)
{
	struct placement_in in = { .nodes = n, .vcpus = v, .mem_bytes = mem };
	struct placement_node p[8];
	char why[256];

	if (placement_compute(&in, p, why, sizeof(why)) == 0 &&
	    covers(p, n, v, mem / PG) && equal(p, n))
		return 1;
	printf("# %u nodes, %u vCPUs, %llu bytes: wrong (%s)\n", n, v,
	       (unsigned long long)mem, why);
	return 0;
}

static void
test_equal(void)
{
	for (uint32_t n = 1; n <= 8; n++) {
		int all = 1;

		/* vCPUs from one a node to three a node and some over; memory
		 * from 16M to 16M + 7 pages. */
		for (uint32_t v = n; all && v <= 3 * n + 2; v++)
			for (uint64_t x = 0; all && x < 8; x++)
				all = equal_case(n, v, 16 * MIB + x * PG);
		ok(all,
		   "%u node(s): equal blocks cover every vCPU and page once, "
		   "in node order",
		   n);
	}
}

static void
test_gib(uint32_t n, const uint64_t *want_pages)
{
	struct placement_node p[5];
	struct placement_in in = { .nodes = n, .vcpus = n, .mem_bytes = GIB };
	char why[256];
	int r = placement_compute(&in, p, why, sizeof(why));

	ok(r == 0, "1 GiB over %u nodes is placed (%s)", n, why);
	ok(covers(p, n, n, GIB / PG),
	   "1 GiB over %u nodes: every page homed exactly once", n);
	for (uint32_t i = 0; i < n; i++) {
		is_int(p[i].page_count, want_pages[i],
		       "1 GiB over %u nodes: node %u is home of %llu pages", n,
		       i, (unsigned long long)want_pages[i]);
		is_int(p[i].vcpu_first, i, "node %u runs vCPU %u", i, i);
	}
}

static void
test_uneven(void)
{
	const uint32_t v[2] = { 1, 3 };
	const uint64_t m[2] = { 256 * MIB, 768 * MIB };
	struct placement_in in = { .nodes = 2,
				   .vcpus = 4,
				   .mem_bytes = GIB,
				   .node_vcpus = v,
				   .node_mem_bytes = m };
	struct placement_node p[3];
	char why[256];

	ok(placement_compute(&in, p, why, sizeof(why)) == 0,
	   "uneven: 1 vCPU + 256M and 3 vCPUs + 768M is placed (%s)", why);
	is_int(p[0].vcpu_first, 0, "uneven: node 0 starts at vCPU 0");
	is_int(p[0].vcpu_count, 1, "uneven: node 0 runs 1 vCPU");
	is_int(p[1].vcpu_first, 1, "uneven: node 1 starts at vCPU 1");
	is_int(p[1].vcpu_count, 3, "uneven: node 1 runs 3 vCPUs");
	is_int(p[0].page_first, 0, "uneven: node 0 is home from page 0");
	is_int(p[0].page_count, 256 * MIB / PG, "uneven: of 256M");
	is_int(p[1].page_first, 256 * MIB / PG,
	       "uneven: node 1 is home from 256M on");
	is_int(p[1].page_count, 768 * MIB / PG, "uneven: of 768M");

	/* Only the vCPUs given: memory in equal blocks, and the reverse. */
	in.node_mem_bytes = NULL;
	ok(placement_compute(&in, p, why, sizeof(why)) == 0 &&
		   p[1].vcpu_count == 3 && p[0].page_count == GIB / PG / 2,
	   "vCPUs given, memory equal");
	in.node_vcpus = NULL;
	in.node_mem_bytes = m;
	ok(placement_compute(&in, p, why, sizeof(why)) == 0 &&
		   p[0].vcpu_count == 2 && p[1].page_first == 256 * MIB / PG,
	   "memory given, vCPUs equal");

	/* Three nodes, 4 KiB granularity, no 2 MiB alignment needed. */
	{
		const uint32_t v3[3] = { 2, 1, 1 };
		const uint64_t m3[3] = { 4096, 64 * MIB - 8192, 4096 };
		struct placement_in i3 = { .nodes = 3,
					   .vcpus = 4,
					   .mem_bytes = 64 * MIB,
					   .node_vcpus = v3,
					   .node_mem_bytes = m3 };

		ok(placement_compute(&i3, p, why, sizeof(why)) == 0 &&
			   covers(p, 3, 4, 64 * MIB / PG) &&
			   p[2].page_first == 64 * MIB / PG - 1 &&
			   p[2].vcpu_first == 3,
		   "uneven in single pages: node 2 is home of the last page");
	}

	/* avm-pager places memory only. */
	in = (struct placement_in){ .nodes = 2,
				    .mem_bytes = GIB,
				    .node_mem_bytes = m };
	ok(placement_compute(&in, p, why, sizeof(why)) == 0 &&
		   p[1].page_first == 256 * MIB / PG && p[0].vcpu_count == 0 &&
		   p[1].vcpu_count == 0,
	   "memory only (no vCPUs): the homes as given");
}

static void
bad(const struct placement_in *in, const char *want, const char *what)
{
	struct placement_node p[8];
	char why[256];
	int r;

	errno = 0;
	r = placement_compute(in, p, why, sizeof(why));
	if (!ok(r == -1 && errno == EINVAL && strstr(why, want), "refused: %s",
		what))
		printf("#   returned %d, errno %d, why '%s', want '%s'\n", r,
		       errno, why, want);
}

static void
test_bad(void)
{
	const uint32_t v13[2] = { 1, 3 }, v03[2] = { 0, 4 }, v12[2] = { 1, 2 };
	const uint64_t m_sum[2] = { 256 * MIB, 512 * MIB };
	const uint64_t m_odd[2] = { 256 * MIB + 1, 768 * MIB - 1 };
	const uint64_t m_zero[2] = { 0, GIB };
	const uint64_t m_over[2] = { GIB, GIB };
	struct placement_in in = { .nodes = 2, .vcpus = 4, .mem_bytes = GIB };
	char why[8];

	in.node_vcpus = v12;
	bad(&in, "the nodes' vCPUs add up to 3, not 4", "vCPUs sum to less");
	in.vcpus = 2;
	in.node_vcpus = v13;
	bad(&in, "the nodes' vCPUs add up to 4, not 2", "vCPUs sum to more");
	in.vcpus = 4;
	in.node_vcpus = v03;
	bad(&in, "node 0 runs no vCPU", "a node with no vCPU");
	in.node_vcpus = NULL;
	in.vcpus = 1;
	bad(&in, "1 vCPUs for 2 nodes: every node needs a vCPU",
	    "more nodes than vCPUs");
	in.vcpus = 4;
	in.node_mem_bytes = m_sum;
	bad(&in,
	    "the nodes' memory adds up to 805306368 bytes, not "
	    "1073741824",
	    "memory sums to less");
	in.node_mem_bytes = m_over;
	bad(&in, "adds up to more than 1073741824 bytes",
	    "memory sums to more");
	in.node_mem_bytes = m_odd;
	bad(&in, "node 0: memory of 268435457 bytes is not",
	    "node memory not in 4 KiB pages");
	in.node_mem_bytes = m_zero;
	bad(&in, "node 0: memory of 0 bytes", "a node home of nothing");
	in.node_mem_bytes = NULL;
	in.mem_bytes = GIB + 1;
	bad(&in, "memory of 1073741825 bytes is not a multiple of 4 KiB",
	    "memory not in 4 KiB pages");
	in.mem_bytes = PG;
	bad(&in, "1 pages of memory for 2 nodes", "more nodes than pages");
	in.mem_bytes = GIB;
	in.nodes = 0;
	bad(&in, "0 nodes", "no nodes");
	in.nodes = PLACEMENT_NODES_MAX + 1;
	in.vcpus = PLACEMENT_NODES_MAX + 1;
	bad(&in, "1025 nodes", "too many nodes");
	in = (struct placement_in){ .nodes = 2,
				    .mem_bytes = GIB,
				    .node_vcpus = v13 };
	bad(&in, "no vCPUs", "vCPUs per node for memory only");

	/* A short buffer gets a cut reason, never an overrun. */
	in = (struct placement_in){ .nodes = 3, .vcpus = 2, .mem_bytes = GIB };
	ok(placement_compute(&in, (struct placement_node[3]){ 0 }, why,
			     sizeof(why)) == -1 &&
		   strlen(why) == sizeof(why) - 1,
	   "a short reason buffer is cut and terminated");
	ok(placement_compute(&in, (struct placement_node[3]){ 0 }, NULL, 0) ==
		   -1,
	   "no reason buffer at all");
}

int
main(void)
{
	static const uint64_t g3[3] = { 87381, 87381, 87382 };
	static const uint64_t g5[5] = { 52428, 52429, 52429, 52429, 52429 };

	test_equal();
	test_gib(3, g3);
	test_gib(5, g5);
	test_uneven();
	test_bad();
	return done_testing();
}
