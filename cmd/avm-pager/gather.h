/*
 * Stats gathering, so that avm-top on node 0 sees every node
 * (avm-pager(8) FILES): node 0's pager asks each other node for its
 * stats over the bulk link every --stats-ms (PG_STATS_REQ, at most one
 * in flight a node, and none while the link has anything queued) and
 * keeps each answer (PG_STATS) as <rundir>/<vm>/gathered/pager-<i>.stats
 * and run-<i>.stats, replaced whole.  Every node answers from its own
 * stats and its avm-run's run-<i>.stats when that is readable.
 *
 * Never on a fault link, never in front of page traffic: stats are worth
 * less than any fault, so a bad answer or a file that cannot be written
 * is a warning, not the end of the VM.
 */
#ifndef AVM_PAGER_GATHER_H
#define AVM_PAGER_GATHER_H

#include <stdint.h>

#include "net.h"

struct gather_peer {
	uint64_t id; /* of the request in flight */
	int busy;    /* a request is in flight */
	int warned;  /* said once what went wrong with this node's stats */
};

struct gather {
	const struct pager_cfg *cfg;
	struct pager_stats *st;
	struct net *net;
	char dir[4200]; /* the gathered folder; "" when node 0 keeps none */
	uint64_t next;	/* the next round (now_ns() time) */
	uint64_t ids;
	struct gather_peer peer[PAGER_MAX_NODES];
};

/*
 * On node 0 of several, with --stats-ms: makes the gathered folder
 * (mode 0755, trusted as the VM's folder is: avm_trusted_dir) and
 * removes copies a former pager left there.  Ends the pager (73, 77)
 * when the folder cannot be trusted or made.
 */
void gather_init(struct gather *g, const struct pager_cfg *cfg,
		 struct pager_stats *st, struct net *net);
/* The loop's tick: a round of requests when one is due. */
void gather_tick(struct gather *g, uint64_t now);
/* PG_STATS_REQ or PG_STATS on a bulk link. */
void gather_on_frame(struct gather *g, struct conn *c, const struct wire_hdr *h,
		     const uint8_t *p);
/* On the way out: the copies and the folder go. */
void gather_remove(struct gather *g);

#endif
