/*
 * Bulk page streams over the bulk links: not fault handling, and never
 * in front of a fault (a bulk link of its own per pair of nodes).  A
 * tool on pager.sock asks for a range of another node's pages
 * (PG_STREAM); this pager reads them from that node with PG_BULK_REQ,
 * a few requests in flight, and answers PG_STREAM_DONE with the bytes
 * and the time.  It also serves the other nodes' PG_BULK_REQs from the
 * memfd.  Bulk reads are not coherent: they are for a paused VM
 * (snapshots) and for measuring the link.
 */
#ifndef AVM_PAGER_STREAM_H
#define AVM_PAGER_STREAM_H

#include <stdint.h>

#include "mem.h"
#include "net.h"

struct stream {
	const struct pager_cfg *cfg;
	struct mem *mem;
	struct net *net;
	struct conn *tool; /* NULL: no stream */
	uint64_t tool_id;
	uint32_t node;
	uint64_t next, end, outstanding, bytes;
	uint64_t t0;
};

void stream_init(struct stream *s, const struct pager_cfg *cfg, struct mem *mem,
		 struct net *net);
/* PG_STREAM from tool: 0, or -EBUSY, -EINVAL, -ERANGE. */
int stream_start(struct stream *s, struct conn *tool, uint64_t id,
		 const struct pager_stream *req);
/* A frame on a bulk link. */
void stream_on_frame(struct stream *s, struct conn *c, const struct wire_hdr *h,
		     const uint8_t *p);
/* tool is going away: its stream, if any, ends unanswered. */
void stream_tool_gone(struct stream *s, struct conn *tool);

#endif
