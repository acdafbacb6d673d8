/*
 * The coherence protocol of one node (DESIGN.md "Guest memory"): the
 * client's faults become requests to a page's home; the home directory
 * (dir.c) of the pages this node is home of answers them with grants
 * and invalidations, here or over the fault links; this node's copy of
 * every page is in one byte of state.
 */
#ifndef AVM_PAGER_FAULT_H
#define AVM_PAGER_FAULT_H

#include <stdint.h>

#include "dir.h"
#include "mem.h"
#include "net.h"
#include "restore.h"

/*
 * Local state of a page: bits 0-1 enum pager_hold, bit 6 a save waits
 * for the home to hold it, bit 7 a request out.
 */
#define LS_HOLD 0x03
#define LS_SAVE 0x40
#define LS_PENDING 0x80

/*
 * Read-ahead for one node's read misses to this home: the stride of its
 * last misses, how many in a row kept it, the window of copies sent
 * ahead last time and the last page sent (see readahead() in fault.c).
 */
struct ra {
	uint64_t last, ahead;
	int64_t d;
	uint32_t streak, window;
};

/* A request held back while a save runs, in arrival order. */
struct defer {
	struct defer *next;
	struct dir_req r;
};

/* A fault of ours waiting for its grant. */
struct pend {
	uint64_t page; /* UINT64_MAX: free */
	uint64_t t0;
	uint64_t gpa;
	uint8_t access, wp;
};

struct fault {
	const struct pager_cfg *cfg;
	struct pager_stats *st;
	struct mem *mem;
	struct net *net;
	struct restore *restore; /* NULL: home pages start zero */
	struct dir dir;
	uint8_t *local; /* [npages] */
	struct pend *pend;
	uint32_t pend_mask;
	uint64_t sync_page; /* a fault being resolved inside on_fault */
	int sync_hit;
	struct ra ra[PAGER_MAX_NODES];
	struct defer *defer_head, **defer_tail;
	int save_hold;	       /* requests for home pages wait (a save) */
	uint64_t save_pass;    /* pages asked for in this pass */
	uint64_t save_left;    /* LS_SAVE pages whose grant has not come */
	uint64_t save_next;    /* the next home page to look at */
	uint64_t save_fetched; /* pages asked for in this save */
};

/*
 * Sets f up over mem (whose faults and events it takes: mem_ops()) and
 * net (to send); restore: where home pages start from (NULL: zero).
 * Returns 0 or -ENOMEM.
 */
int fault_init(struct fault *f, const struct pager_cfg *cfg,
	       struct pager_stats *st, struct mem *mem, struct net *net,
	       struct restore *restore);

/*
 * The restore's background loader, one step: up to max untaken home
 * pages into the home's memory (the client attached, and not detached).
 * Returns 1 while untaken pages are left, 0 when all are taken.
 */
int fault_restore_step(struct fault *f, unsigned max);
/*
 * For a save (save.h): the home asks its own directory for a read copy
 * of every page it is home of whose current bytes it does not hold: a
 * page another node holds, or a restored page not read yet (a page
 * nobody ever held is zero and needs nothing).  The grants come as for
 * a fault of the home's client.  fault_save_start() begins at the first
 * home page; each fault_save_more() asks for more while fewer than
 * window are on their way (f->save_left), so that the holders' answers,
 * 4 KiB each, never pile up past a link's back-pressure mark (both
 * nodes of a pair fetch from each other at once; with every page asked
 * at once, each would stop reading the other's answers: a deadlock).
 * From fault_save_start() to fault_save_end() every other request for
 * a home page waits (request() in fault.c), so that no page leaves the
 * home once it was fetched; passes over the home go on until one asks
 * for nothing with every request done.  Returns 1 then.
 */
void fault_save_start(struct fault *f);
int fault_save_more(struct fault *f, uint64_t window);
/* The save's part is written (or failed): held requests run. */
void fault_save_end(struct fault *f);
/* What mem_init() needs to hand faults and events to f. */
const struct mem_ops *fault_mem_ops(void);
/* A frame on a fault link. */
void fault_on_frame(struct fault *f, struct conn *c, const struct wire_hdr *h,
		    const uint8_t *p);

#endif
