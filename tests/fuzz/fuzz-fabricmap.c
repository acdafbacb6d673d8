/*
 * libFuzzer target for the fabric map reader: any bytes must give either
 * a map or a diagnostic with a place inside the input, never a crash, a
 * leak or a read out of bounds.  A map that loads must pass
 * fabric_map_check() and come back the same through fabric_map_format()
 * and a second load; its distances recomputed from its latencies must
 * pass the check too.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "avm/fabricmap.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
same_or_abort(const struct fabric_map *a, const struct fabric_map *b)
{
	size_t n = (size_t)a->nodes * a->nodes;

	if (a->version != b->version || strcmp(a->vm, b->vm) != 0 ||
	    a->nodes != b->nodes || !a->rtt_ns != !b->rtt_ns ||
	    !a->bw != !b->bw)
		abort();
	if (a->rtt_ns && memcmp(a->rtt_ns, b->rtt_ns, n * sizeof(uint64_t)))
		abort();
	if (a->bw && memcmp(a->bw, b->bw, n * sizeof(uint64_t)))
		abort();
	if (memcmp(a->distance, b->distance, n))
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fabric_map m, back;
	struct avm_diag d;
	char line[1024], why[256];
	char *buf, *text;
	size_t len;

	/* A copy of exactly size bytes, so ASan sees any read past them. */
	buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	if (fabric_map_load_string("fuzz", buf, size, &m, &d) == 0) {
		if (m.nodes == 0 || m.nodes > FABRIC_MAP_NODES_MAX ||
		    !m.distance || fabric_map_check(&m, why, sizeof(why)) < 0)
			abort();
		if (fabric_map_format(&m, &text, &len) < 0)
			abort();
		if (fabric_map_load_string("again", text, len, &back, &d) < 0)
			abort();
		same_or_abort(&m, &back);
		fabric_map_release(&back);
		free(text);
		if (m.rtt_ns && (fabric_map_distances(&m) < 0 ||
				 fabric_map_check(&m, why, sizeof(why)) < 0))
			abort();
		fabric_map_release(&m);
	} else {
		if (d.msg[0] == '\0' || d.line < 0 || d.col < 0)
			abort();
		if (m.rtt_ns || m.bw || m.distance || m.nodes)
			abort();
		avm_diag_format(&d, line, sizeof(line));
	}
	free(buf);
	return 0;
}
