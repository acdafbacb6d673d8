/*
 * Placement of vCPUs and home pages over the nodes (avm/placement.h): a
 * pure function, no I/O, so that every tool that asks gets the same
 * answer.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "avm/placement.h"

static int __attribute__((format(printf, 3, 4)))
refuse(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (len) {
		va_start(ap, fmt);
		vsnprintf(why, len, fmt, ap);
		va_end(ap);
	}
	errno = EINVAL;
	return -1;
}

/*
 * Equal blocks of total units over n nodes: node i gets total / n, and
 * one more when it is one of the last total % n nodes.  Returns where
 * node i's block starts; *count is its size.
 */
static uint64_t
equal_block(uint64_t total, uint32_t n, uint32_t i, uint64_t *count)
{
	uint64_t q = total / n, r = total % n, big = n - r;

	*count = q + (i >= big);
	return q * i + (i > big ? i - big : 0);
}

static int
place_vcpus(const struct placement_in *in, struct placement_node *out,
	    char *why, size_t len)
{
	uint64_t first = 0, count;
	uint32_t i;

	if (in->vcpus == 0) {
		if (in->node_vcpus)
			return refuse(why, len,
				      "vCPUs per node for a VM of "
				      "no vCPUs");
		for (i = 0; i < in->nodes; i++)
			out[i].vcpu_first = out[i].vcpu_count = 0;
		return 0;
	}
	if (!in->node_vcpus) {
		if (in->vcpus < in->nodes)
			return refuse(why, len,
				      "%" PRIu32 " vCPUs for %" PRIu32
				      " nodes: every node needs a vCPU",
				      in->vcpus, in->nodes);
		for (i = 0; i < in->nodes; i++) {
			first = equal_block(in->vcpus, in->nodes, i, &count);
			out[i].vcpu_first = (uint32_t)first;
			out[i].vcpu_count = (uint32_t)count;
		}
		return 0;
	}
	for (i = 0; i < in->nodes; i++) {
		count = in->node_vcpus[i];
		if (count == 0)
			return refuse(why, len,
				      "node %" PRIu32 " runs no vCPU: every "
				      "node needs one",
				      i);
		/* At most 1024 nodes of below 2^32: first cannot wrap, and
		 * a sum past in->vcpus is refused below. */
		out[i].vcpu_first = (uint32_t)first;
		out[i].vcpu_count = (uint32_t)count;
		first += count;
	}
	if (first != in->vcpus)
		return refuse(why, len,
			      "the nodes' vCPUs add up to %" PRIu64
			      ", not %" PRIu32,
			      first, in->vcpus);
	return 0;
}

static int
place_pages(const struct placement_in *in, struct placement_node *out,
	    char *why, size_t len)
{
	const uint64_t pg = PLACEMENT_PAGE_SIZE;
	uint64_t npages = in->mem_bytes / pg, first = 0, count, b;
	uint32_t i;

	if (in->mem_bytes % pg)
		return refuse(why, len,
			      "memory of %" PRIu64 " bytes is not a multiple "
			      "of 4 KiB",
			      in->mem_bytes);
	if (!in->node_mem_bytes) {
		if (npages < in->nodes)
			return refuse(why, len,
				      "%" PRIu64 " pages of memory for %" PRIu32
				      " nodes: every node needs a page",
				      npages, in->nodes);
		for (i = 0; i < in->nodes; i++) {
			out[i].page_first =
				equal_block(npages, in->nodes, i, &count);
			out[i].page_count = count;
		}
		return 0;
	}
	for (i = 0; i < in->nodes; i++) {
		b = in->node_mem_bytes[i];
		if (b == 0 || b % pg)
			return refuse(why, len,
				      "node %" PRIu32 ": memory of %" PRIu64
				      " bytes is not a non-zero multiple of "
				      "4 KiB",
				      i, b);
		if (b / pg > npages - first)
			return refuse(why, len,
				      "the nodes' memory adds up to more "
				      "than %" PRIu64 " bytes",
				      in->mem_bytes);
		out[i].page_first = first;
		out[i].page_count = b / pg;
		first += b / pg;
	}
	if (first != npages)
		return refuse(why, len,
			      "the nodes' memory adds up to %" PRIu64
			      " bytes, not %" PRIu64,
			      first * pg, in->mem_bytes);
	return 0;
}

int
placement_compute(const struct placement_in *in, struct placement_node *out,
		  char *why, size_t whylen)
{
	if (whylen)
		why[0] = '\0';
	if (in->nodes == 0 || in->nodes > PLACEMENT_NODES_MAX)
		return refuse(why, whylen, "%" PRIu32 " nodes: from 1 to %u",
			      in->nodes, PLACEMENT_NODES_MAX);
	if (place_vcpus(in, out, why, whylen) < 0 ||
	    place_pages(in, out, why, whylen) < 0)
		return -1;
	return 0;
}
