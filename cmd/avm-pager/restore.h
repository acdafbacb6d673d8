/*
 * A restore (--restore FILE): this node's home pages start from a
 * snapshot (include/avm/snapfile.h) instead of zero.  This module is the
 * snapshot as the home's backing store: it opens and checks the file at
 * start, knows which home pages still have their bytes only in the file
 * ("untaken"), and reads a page's bytes exactly once, when they are
 * taken into the coherence protocol:
 *
 *   on fault   the first request for the page, from any node (fault.c's
 *              dir_ops.fill): its bytes go out in the grant;
 *   background the loader (fault_restore_step) puts them into the home's
 *              memory as the home's own shared copy.
 *
 * After that the page is the protocol's: the file is never read for it
 * again, so a page that was served or written is never overwritten.
 * Since snap_read_page takes a RAM offset, the snapshot's own placement
 * does not matter: one taken on M nodes restores on any N.
 *
 * A page that cannot be read (bad CRC32, bad zlib stream, a read error)
 * ends the pager with a message naming the chunk: wrong bytes are never
 * handed out.
 */
#ifndef AVM_PAGER_RESTORE_H
#define AVM_PAGER_RESTORE_H

#include <stdint.h>

#include "avm/snapfile.h"
#include "cfg.h"

enum restore_how {
	RESTORE_FAULT,	    /* a request needed it */
	RESTORE_BACKGROUND, /* the loader took it */
};

struct restore {
	const struct pager_cfg *cfg;
	struct pager_stats *st; /* NULL until restore_start */
	struct snap *snap;
	uint64_t first, npages; /* the home range */
	uint64_t *taken;	/* a bit per home page */
	uint64_t left;		/* home pages not taken yet */
	uint64_t cursor;	/* the loader's next page, from first */
	uint64_t bytes;		/* bytes taken that were not zero */
	uint64_t t0, t_shown;	/* start; last progress line (ns) */
	uint64_t t_loader;	/* the loader's first step (ns); 0: none */
	int shown;		/* a progress line is on the terminal */
};

/*
 * Opens cfg->restore and checks that it is a snapshot of cfg->mem_bytes
 * of memory.  Run before anything is created or linked: ends the pager
 * with 66 (the file or a part cannot be read) or 65 (not a valid
 * snapshot, or of another memory size), saying why.
 */
void restore_open(struct restore *r, const struct pager_cfg *cfg);

/* Counts into st from now on (its restore_pages says how many). */
void restore_start(struct restore *r, struct pager_stats *st);

/* 1 when page (a home page) has its bytes only in the snapshot. */
int restore_untaken(const struct restore *r, uint64_t page);

/*
 * Takes an untaken home page: its bytes into buf (4096), counted as how.
 * Returns 1, or 0 for a page that is zero (buf zeroed).  Ends the pager
 * when the snapshot cannot give the bytes.
 */
int restore_take(struct restore *r, uint64_t page, uint8_t *buf,
		 enum restore_how how);

/* The loader's next untaken home page, or UINT64_MAX when none is left. */
uint64_t restore_next(struct restore *r);

/*
 * How many pages the background loader may take now under
 * --restore-rate (counted from its first call); UINT64_MAX: no limit.
 */
uint64_t restore_budget(struct restore *r, uint64_t now);

/* 1 when every home page was taken. */
int restore_done(const struct restore *r);

/*
 * On a terminal (stderr), at most every 200 ms and once at the end: bytes
 * restored of the snapshot's, the rate, the time left.  Quiet otherwise.
 */
void restore_progress(struct restore *r);

#endif
