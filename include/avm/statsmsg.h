/*
 * The payloads of stats gathering (types 25 and 26 of man/avm-wire.7,
 * on the pager bulk links only): node 0's pager asks each other node for
 * its stats with PG_STATS_REQ, about once a second, and gets them back
 * in PG_STATS: that node's pager stats (include/avm/pager.h) and, when
 * the node has a readable run stats file, its run stats
 * (include/avm/runstats.h).  Node 0 keeps them as the gathered copies
 * avm-top reads (avm-pager(8)).
 *
 * The stats travel field by field, each little-endian, in the order of
 * their structs (one walker per struct in lib/statsmsg.c serves both
 * directions), so the bytes are the files' on a little-endian host but
 * are never a struct cast onto a buffer.  The decoder checks them as a
 * reader of the files does (stats_check_pager, stats_check_run), and
 * more: an even seq (a consistent copy), reserved fields zero, both
 * parts of one node.
 *
 * Encoders return the payload length, -EINVAL when the message breaks a
 * rule the decoder checks, or -ENOSPC when cap is too small.  Decoders
 * check the whole payload before they return 0, -EMSGSIZE for a length
 * outside the type's range, or -EBADMSG for anything else (why, when not
 * NULL, says what).  Nothing here prints, allocates or exits.
 */
#ifndef AVM_STATSMSG_H
#define AVM_STATSMSG_H

#include <stddef.h>
#include <stdint.h>

#include "avm/pager.h"
#include "avm/runstats.h"
#include "avm/wire.h"

_Static_assert(sizeof(struct pager_stats) == WIRE_PG_STATS_PAGER,
	       "PG_STATS carries the pager stats of its version");
_Static_assert(sizeof(struct run_stats) +
			       RUN_STATS_VCPUS_MAX *
				       sizeof(struct run_vcpu_stats) ==
		       WIRE_PG_STATS_RUN_MAX,
	       "PG_STATS carries run stats of every vCPU count");

/* PG_STATS_REQ.flags */
#define STATSMSG_WANT_RUN 0x1u /* the run stats too, when there are */

/*
 * On the wire: PG_STATS_REQ, node 0's pager to another node's on the
 * bulk link; at most one in flight per link.
 */
struct statsmsg_req_le {
	uint8_t flags[4];    /* STATSMSG_WANT_RUN; other bits zero */
	uint8_t reserved[4]; /* zero */
};
_Static_assert(sizeof(struct statsmsg_req_le) == WIRE_PG_STATS_REQ_SIZE,
	       "PG_STATS_REQ");

struct statsmsg_req {
	uint32_t flags;
};

/*
 * On the wire: the head of PG_STATS, the answer.  pager_bytes of pager
 * stats follow it, then run_bytes of run stats (the header and vcpus
 * entries of 200 bytes).
 */
struct statsmsg_le {
	uint8_t pager_bytes[4]; /* WIRE_PG_STATS_PAGER */
	uint8_t run_bytes[4];	/* 0: none; else the run stats' size field */
	uint8_t reserved[8];	/* zero */
};
_Static_assert(sizeof(struct statsmsg_le) == WIRE_PG_STATS_HDR, "PG_STATS");

int statsmsg_req_encode(const struct statsmsg_req *m, void *buf, size_t cap);
int statsmsg_req_decode(const void *buf, size_t len, struct statsmsg_req *m);

/*
 * PG_STATS of ps and rs (NULL: no run stats).  Both must pass their
 * checks, have an even seq and zero reserved fields, and name the same
 * node of the same node count.
 */
int statsmsg_encode(const struct pager_stats *ps, const struct run_stats *rs,
		    void *buf, size_t cap);

/*
 * Fills *ps, and rs (rs_cap bytes; WIRE_PG_STATS_RUN_MAX is always
 * enough) with the run stats when the message has them, *rs_len their
 * size, 0 when it has none.  Returns also -ENOSPC when rs_cap is too
 * small for the run stats.  On failure *ps is untouched and rs may hold
 * part of the message.
 */
int statsmsg_decode(const void *buf, size_t len, struct pager_stats *ps,
		    struct run_stats *rs, size_t rs_cap, size_t *rs_len,
		    char *why, size_t whylen);

#endif
