/*
 * The home directory: per page of the range this node is home of, the
 * state, owner, copyset and version, and the serialization of requests
 * per page.  Pure logic, no I/O: it tells its owner what to do through
 * dir_ops and is driven by dir_request() and dir_ack(), so that it can be
 * tested without sockets (tests/unit/t-pager-dir.c).
 *
 * Protocol (DESIGN.md "Guest memory"): single writer or many readers.
 * A read miss is served from the exclusive owner (downgraded to shared)
 * or from a sharer; a write miss invalidates every other copy and waits
 * for every acknowledgement before it grants.  A page nobody holds is
 * zero and is granted without data, unless the owner has other bytes
 * for it (dir_ops.fill: a restored snapshot).  One request per page at
 * a time; the others wait in that page's queue.
 */
#ifndef AVM_PAGER_DIR_H
#define AVM_PAGER_DIR_H

#include <stdint.h>

#include "avm/pager.h"

enum dir_state {
	DIR_INVALID = 0, /* nobody holds it: zero, or dir_ops.fill's */
	DIR_SHARED = 1,	 /* copyset holds read-only copies */
	DIR_EXCL = 2,	 /* owner holds the only, writable, copy */
};

/* 16 bytes a homed page: the metadata budget of DESIGN.md. */
struct dir_entry {
	uint64_t copyset;   /* bit n: node n holds a copy */
	uint32_t version;   /* exclusive grants so far (wraps) */
	uint8_t owner;	    /* DIR_EXCL: the holder */
	uint8_t state;	    /* enum dir_state; DIR_BUSY while a txn runs */
	uint16_t transfers; /* exclusive ownership moved nodes (saturates) */
};
_Static_assert(sizeof(struct dir_entry) == 16, "dir entry size");

#define DIR_BUSY 0x80

struct dir_req {
	struct dir_req *next;
	uint64_t page;
	uint64_t id; /* the requester's request id, echoed in the grant */
	uint32_t node;
	uint8_t access; /* enum pager_access */
	uint8_t have;	/* enum pager_hold: what the requester says it has */
	uint16_t off;
	uint32_t tid; /* the faulting thread (stats only); 0 unknown */
};

struct dir_ops {
	/*
	 * Ask node to act on page (enum pager_inval); want: send the
	 * bytes back.  For the home's own node the owner acts at once and
	 * returns 1 with *had and, when asked and had, data filled; for
	 * another node it sends PG_INVAL and returns 0, and dir_ack()
	 * follows.  Returns < 0 when it cannot (the caller is failing).
	 */
	int (*inval)(void *ctx, uint32_t node, uint64_t page, int action,
		     int want, int *had, uint8_t *data);
	/*
	 * Answer r: mode (enum pager_hold), data (enum pager_data), the
	 * bytes when data is PAGER_DATA_PAGE.
	 */
	void (*grant)(void *ctx, const struct dir_req *r, int mode, int data,
		      uint32_t version, const uint8_t *bytes);
	/* Exclusive ownership of page moved to another node (stats). */
	void (*transfer)(void *ctx, const struct dir_req *r, uint64_t count);
	/*
	 * The bytes of page, which nobody holds, for a grant that would
	 * otherwise say zero: 1 with data filled, 0 for zero, < 0 when it
	 * cannot (dir_request and dir_ack return that).  NULL: always
	 * zero.  The owner answers with other bytes at most once a page
	 * (a snapshot's page before anyone held it); a page that everyone
	 * dropped since is zero.
	 */
	int (*fill)(void *ctx, uint64_t page, uint8_t *data);
	void *ctx;
};

struct dir_txn;

struct dir {
	uint64_t first, npages; /* the homed range, in pages */
	uint32_t self, nodes;
	struct dir_entry *e;
	struct dir_txn **hash; /* busy pages */
	uint32_t hash_mask;
	uint64_t busy; /* transactions running */
	struct dir_ops ops;
};

/* Returns 0, -EINVAL (nodes, self), -ENOMEM. */
int dir_init(struct dir *d, uint64_t first, uint64_t npages, uint32_t self,
	     uint32_t nodes, const struct dir_ops *ops);
void dir_release(struct dir *d);

/* 1 when page is homed here. */
static inline int
dir_homes(const struct dir *d, uint64_t page)
{
	return page >= d->first && page - d->first < d->npages;
}

/*
 * A request for a homed page (copied).  It runs now, or waits behind the
 * page's running transaction.  Returns 0, -ERANGE (page not homed here),
 * -EINVAL (node, access), -ENOMEM, or the inval callback's error.
 */
int dir_request(struct dir *d, const struct dir_req *r);

/*
 * node's answer to our PG_INVAL for page: had it a copy, and the bytes
 * when asked (NULL otherwise).  Returns 0, or -EPROTO when no running
 * transaction waits for that node's answer (the peer broke the protocol),
 * -EINVAL when data is missing where it was asked and the node had it.
 */
int dir_ack(struct dir *d, uint32_t node, uint64_t page, int had,
	    const uint8_t *data);

/*
 * The home took a copy of page from outside the protocol (a restored
 * snapshot's bytes, placed in its memory): a page nobody holds becomes
 * shared by the home alone.  Returns 0, -ERANGE (not homed here),
 * -EBUSY (a request runs on it, or someone holds it: the bytes of the
 * protocol win).
 */
int dir_home_copy(struct dir *d, uint64_t page);

/*
 * The home takes a page nobody holds as its own, exclusive and zero,
 * without a request (a block of never-touched pages around a first
 * touch, fault.c): the caller knows that the page is zero (no snapshot
 * bytes wait for it) and maps it writable.  Returns 0, -ERANGE (not
 * homed here), -EBUSY (a request runs on it, or someone holds it).
 */
int dir_home_claim(struct dir *d, uint64_t page);

/*
 * Read-ahead: may the home send node a read-only copy of page now, from
 * its own copy, unasked?  Only when no request runs on the page, the
 * home holds it (shared, or exclusive itself: a page another node holds
 * exclusive, being written there, is never sent) and node does not.
 * Then the directory counts node among the holders at once, so that a
 * later write invalidates its copy; the copy must go out on the link
 * that carries the home's grants and invalidations to node, before
 * anything else about the page (in order, it arrives first).  Returns
 * 1 yes, 2 yes and the home must write-protect its own copy first (it
 * was exclusive: shared now), 0 no, -EINVAL (not homed here, node).
 */
int dir_prefetch(struct dir *d, uint64_t page, uint32_t node);

/* The entry of a homed page, or NULL. */
const struct dir_entry *dir_entry_get(const struct dir *d, uint64_t page);

#endif
