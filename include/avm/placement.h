/*
 * Placement: which node runs which vCPUs and is home of which guest
 * pages (DESIGN.md, "Guest memory" and "vCPUs").  One function answers
 * for every tool: the cluster file parser, avm-run (its vCPUs, the pages
 * it tells its pager, the SRAT) and avm-pager (--home-sizes).
 *
 * Node i runs one contiguous block of vCPUs and is home of one contiguous
 * range of 4 KiB pages, in node order: node 0 starts at vCPU 0 and page
 * 0, node i + 1 where node i ends.  The sizes are either given per node
 * (a cluster file's nodes[].vcpus and nodes[].memory) or equal blocks:
 * with T units over N nodes each node gets T / N and the last T mod N
 * nodes one more each, so node 0 (which has the devices) never has more
 * than the others.
 */
#ifndef AVM_PLACEMENT_H
#define AVM_PLACEMENT_H

#include <stddef.h>
#include <stdint.h>

#define PLACEMENT_PAGE_SIZE 4096u
#define PLACEMENT_NODES_MAX 1024u

/* Where one node's share lies. */
struct placement_node {
	uint32_t vcpu_first, vcpu_count; /* global vCPU (and APIC) ids */
	uint64_t page_first, page_count; /* home pages, by memfd offset */
};

/* What to place. */
struct placement_in {
	uint32_t nodes;	    /* 1..PLACEMENT_NODES_MAX */
	uint32_t vcpus;	    /* in the VM; 0: place memory only (avm-pager) */
	uint64_t mem_bytes; /* guest RAM, a multiple of 4 KiB */
	/* [nodes] vCPUs of each node, each >= 1; NULL: equal blocks */
	const uint32_t *node_vcpus;
	/* [nodes] home bytes of each node, each a non-zero multiple of
	 * 4 KiB; NULL: equal blocks */
	const uint64_t *node_mem_bytes;
};

/*
 * Fills out[0..in->nodes) with each node's vCPUs and home pages.  Every
 * vCPU and every page lands in exactly one node's block; every node gets
 * at least one vCPU (unless in->vcpus is 0) and one page.  Returns 0, or
 * -1 with errno EINVAL and a one-line reason in why (when whylen > 0),
 * lowercase and without the caller's context, e.g. "the nodes' vCPUs add
 * up to 3, not 4".  out is left undefined on failure.
 */
int placement_compute(const struct placement_in *in, struct placement_node *out,
		      char *why, size_t whylen);

#endif
