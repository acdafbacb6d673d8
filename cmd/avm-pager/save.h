/*
 * Saving guest memory into a snapshot (avm-snap(5), part files): every
 * node writes the memory it is home of, all nodes at once, while the VM
 * is paused.  A tool asks node 0's pager (PG_SAVE on pager.sock); node 0
 * asks every other node over its bulk link (PG_SAVE_PART) and answers
 * the tool with every node's part (PG_SAVE_DONE) once all have answered.
 *
 * One node's part goes in two steps:
 *
 *   fetch  the home takes a copy of every page it is home of whose
 *          current bytes it does not hold (a page another node holds
 *          exclusive or alone, a restored page not read yet) by asking
 *          its own directory for it, as a read fault of its own client
 *          would: the protocol's invalidations bring the bytes, and the
 *          holder keeps a shared copy (a node that writes the page after
 *          the VM goes on takes one write fault to have it back).  This
 *          runs in the event loop like every other request.
 *   write  then the home's memfd holds every page it is home of that is
 *          not zero; a thread of its own compresses and writes them
 *          (snap_part_write) from a copy of the memfd's descriptor and of
 *          which pages the home holds, so the loop goes on serving the
 *          other nodes meanwhile.  The thread tells the loop it is done
 *          through an eventfd.
 *
 * From the fetch's start to the part's end, every other request for a
 * home page waits (fault.c request()), so no page leaves the home in
 * between.  The caller must have paused the VM all the same: a page a
 * node writes in place, holding it, during a save may be saved old or
 * new.  A save runs at a time; a node whose link breaks
 * fails the pager as any node failure does, and the tool, seeing its
 * connection close, removes the parts (their names are known from the
 * path and the snapshot id).
 */
#ifndef AVM_PAGER_SAVE_H
#define AVM_PAGER_SAVE_H

#include <pthread.h>
#include <stdint.h>

#include "avm/savemsg.h"
#include "fault.h"
#include "mem.h"
#include "net.h"

/* This node's part of a save. */
struct save_job {
	int state; /* SAVE_IDLE, _FETCH, _WRITE */
	struct savemsg_req req;
	char path[4200];     /* the part file */
	struct conn *origin; /* node 0's bulk link; NULL: node 0 itself */
	uint64_t origin_id;
	uint64_t t0, fetched;
	uint8_t *have; /* [home pages]: 1 the memfd holds it, 0 zero */
	int memfd;     /* the thread's own copy */
	pthread_t th;
	/* the thread's result */
	int rc, err;
	char why[300];
	struct snap_part_info info;
};

struct save {
	const struct pager_cfg *cfg;
	struct pager_stats *st;
	struct fault *fault;
	struct mem *mem;
	struct net *net;
	int efd; /* eventfd: a job's thread finished */
	struct save_job job;
	/* node 0: the save a tool asked for */
	int running;
	struct conn *tool; /* NULL: none, or it went away */
	uint64_t tool_id, t0, ids;
	uint64_t asked[PAGER_MAX_NODES]; /* the PG_SAVE_PART ids */
	uint64_t answered;		 /* bit n: node n answered */
	struct savemsg_part parts[PAGER_MAX_NODES];
	struct wire_error err; /* the first failure; code 0: none */
};

/* Returns 0 or a negative errno (the eventfd). */
int save_init(struct save *s, const struct pager_cfg *cfg,
	      struct pager_stats *st, struct fault *f, struct mem *mem,
	      struct net *net);
/* PG_SAVE from tool; 0, or -1 with e filled for the error reply. */
int save_start(struct save *s, struct conn *tool, uint64_t id,
	       const struct savemsg_req *req, struct wire_error *e);
/* PG_SAVE_PART or PG_SAVE_PART_DONE on a bulk link. */
void save_on_frame(struct save *s, struct conn *c, const struct wire_hdr *h,
		   const uint8_t *p);
/* After every round of events: a fetch that finished starts its write. */
void save_tick(struct save *s);
/* The eventfd is readable: a job's thread finished. */
void save_thread_done(struct save *s);
/* tool is going away. */
void save_tool_gone(struct save *s, struct conn *tool);
/*
 * On the way out (the pager fails, msg says why): the part being written
 * and, at node 0, the parts written so far are removed, and the tool
 * that asked is told msg.
 */
void save_abandon(struct save *s, const char *msg);
/* 1 while this node's part is being fetched or written. */
int save_busy(const struct save *s);

#endif
