/*
 * avm-pager from the outside: the payloads of the pager messages (types
 * 16..63 of man/avm-wire.7), the client side of pager.sock that avm-run
 * (and tests/helpers/avm-pager-client) use to hand guest RAM to the local
 * pager, and the layout of the stats file that avm-top maps.
 *
 * Using it from a VMM:
 *
 *	int uffd = pager_uffd_open();            // MISSING|WP, events
 *	pager_uffd_register(uffd, ram, size);     // every guest RAM mapping
 *	struct pager_slot s = { gpa, size, memfd_off, ram };
 *	struct pager_attach a = { vm, node, nodes, memfd, uffd,
 *				  mem_bytes, &s, 1, 30000 };
 *	struct link *ctl;
 *	pager_attach(&a, &ready, &ctl, why, sizeof(why));
 *	close(uffd);       // the pager holds it now; see below
 *	... run; poll link_fd(ctl) for POLLIN: pager_check(ctl, why, ...) < 0 means
 *	    the pager or a node failed: stop the VM, exit non-zero ...
 *	pager_detach(ctl); // orderly end: no guest RAM access after this
 *
 * Close the uffd after attaching: when the pager dies, the last
 * reference goes and threads blocked in faults are released instead of
 * waiting forever (they then see zero pages, so stop at once).  Map guest
 * RAM with MADV_DONTFORK, or a child's accesses would fill pages without
 * the pager knowing.
 *
 * Errors: functions return 0 (or an fd) or a negative errno; errno is not
 * set.  Nothing here prints or exits.
 */
#ifndef AVM_PAGER_H
#define AVM_PAGER_H

#include <stddef.h>
#include <stdint.h>

#include "avm/wire.h"

#define PAGER_PAGE_SIZE WIRE_PG_PAGE_SIZE
#define PAGER_PAGE_SHIFT 12
/* The directory's copyset is a 64-bit map: at most 64 nodes. */
#define PAGER_MAX_NODES 64

/* --- payloads (man/avm-wire.7 gives them byte by byte) ------------------ */

enum pager_access {
	PAGER_ACC_READ = 1,
	PAGER_ACC_WRITE = 2,
};

/* What a node holds of a page: its local copy. */
enum pager_hold {
	PAGER_HOLD_NONE = 0,
	PAGER_HOLD_SHARED = 1,	  /* read-only, write-protected */
	PAGER_HOLD_EXCLUSIVE = 2, /* writable, the only copy */
};

/* PG_GRANT.data and PG_INVAL_ACK.data: what follows the fixed part. */
enum pager_data {
	PAGER_DATA_KEEP = 0, /* nothing: the receiver has the bytes */
	PAGER_DATA_ZERO = 1, /* nothing: the page is zero */
	PAGER_DATA_PAGE = 2, /* 4096 bytes follow */
};

/* PG_INVAL.action */
enum pager_inval {
	PAGER_INV_DROP = 1,	 /* punch the page out */
	PAGER_INV_DOWNGRADE = 2, /* exclusive to shared (write-protect) */
	PAGER_INV_FETCH = 3,	 /* send the bytes, keep the copy */
};

/*
 * On the wire: PG_LINK, sent by both ends of a pager link after PG_AUTH.
 * Both must agree on the memory size; each checks the other's home range
 * against its own table.
 */
struct pager_link_le {
	uint8_t mem_bytes[8];
	uint8_t home_first[8]; /* first page the sender is home of */
	uint8_t home_pages[8];
};
_Static_assert(sizeof(struct pager_link_le) == WIRE_PG_LINK_SIZE, "LINK");

struct pager_link {
	uint64_t mem_bytes, home_first, home_pages;
};

/*
 * On the wire: the 16-byte fixed part of PG_REQ (a node to a page's home,
 * on the fault link), PG_GRANT (the home's reply), PG_INVAL (home to a
 * holder) and PG_INVAL_ACK (its reply).  GRANT and INVAL_ACK carry 4096
 * page bytes after it exactly when data is PAGER_DATA_PAGE.
 */
struct pager_msg_le {
	uint8_t page[8]; /* page number: memfd offset / 4096 */
	uint8_t a;	 /* REQ: access; GRANT: mode (hold); INVAL: action;
			    INVAL_ACK: had (0/1) */
	uint8_t b;	 /* REQ: what the sender holds; GRANT, INVAL_ACK: data;
			    INVAL: want data (0/1) */
	uint8_t off[2];	 /* REQ: offset of the faulting byte in the page */
	uint8_t ver[4];	 /* GRANT: the page's version; REQ: the faulting
			    thread's id, 0 unknown (for the stats); else
			    zero */
};
_Static_assert(sizeof(struct pager_msg_le) == WIRE_PG_MSG_SIZE, "PG msg");

struct pager_msg {
	uint64_t page;
	uint8_t a, b;
	uint16_t off;
	uint32_t ver; /* GRANT: version; REQ: thread id */
};

/*
 * On the wire: PG_BULK_REQ (16 bytes) and the head of PG_BULK_DATA
 * (16 bytes, then count pages).  Bulk reads are not coherent: they are
 * for a paused VM (snapshots) and for measuring the link.  PG_PREFETCH
 * (a home's read-ahead copies of count consecutive pages, on the fault
 * link) has PG_BULK_DATA's layout and is coherent: the home counted the
 * receiver a holder of each page before it sent them.
 */
struct pager_bulk_le {
	uint8_t first[8];
	uint8_t count[4]; /* 1..256 */
	uint8_t reserved[4];
};
_Static_assert(sizeof(struct pager_bulk_le) == WIRE_PG_MSG_SIZE, "BULK");

struct pager_bulk {
	uint64_t first;
	uint32_t count;
};

/* One guest RAM mapping: guest physical range, memfd range, address. */
struct pager_slot {
	uint64_t gpa;
	uint64_t size;	    /* bytes, a multiple of 4096 */
	uint64_t memfd_off; /* a multiple of 4096 */
	uint64_t addr;	    /* where the client mapped it (page aligned) */
};

/*
 * On the wire: PG_ATTACH, the client to pager.sock right after the
 * handshake, with SCM_RIGHTS carrying exactly two fds: memfd, uffd.
 * 24 bytes, then nslots slots of 32 bytes (gpa, size, memfd_off, addr).
 */
struct pager_attach_le {
	uint8_t mem_bytes[8]; /* size of the memfd = guest RAM */
	uint8_t nslots[4];    /* 1..64 */
	uint8_t flags[4];     /* zero */
	uint8_t reserved[8];
};
_Static_assert(sizeof(struct pager_attach_le) == 24, "ATTACH");

struct pager_layout {
	uint64_t mem_bytes;
	uint32_t nslots;
	struct pager_slot slot[WIRE_PG_SLOTS_MAX];
};

/* On the wire: PG_READY, the pager's answer to PG_ATTACH. */
struct pager_ready_le {
	uint8_t page_size[4];
	uint8_t node[4];
	uint8_t nodes[4];
	uint8_t reserved[4];
	uint8_t home_first[8];
	uint8_t home_pages[8];
};
_Static_assert(sizeof(struct pager_ready_le) == WIRE_PG_READY_SIZE, "READY");

struct pager_ready {
	uint32_t page_size, node, nodes;
	uint64_t home_first, home_pages;
};

/*
 * On the wire: PG_STREAM (a tool on pager.sock: read count pages from
 * first on node's bulk link and drop them) and PG_STREAM_DONE (bytes
 * moved, nanoseconds taken; 16 bytes).
 */
struct pager_stream_le {
	uint8_t node[4];
	uint8_t reserved[4];
	uint8_t first[8];
	uint8_t count[8];
};
_Static_assert(sizeof(struct pager_stream_le) == WIRE_PG_STREAM_SIZE, "STREAM");

struct pager_stream {
	uint32_t node;
	uint64_t first, count;
};

/*
 * Codecs.  Encoders return the payload length or -EINVAL / -ENOSPC;
 * decoders return 0, -EMSGSIZE (length outside the type's range) or
 * -EBADMSG (any other rule broken: reserved bytes, enum values, ranges,
 * length against the data flag).  For GRANT and INVAL_ACK the decoders
 * check only the fixed part and its agreement with len; the page bytes
 * follow at offset 16.
 */
int pager_link_encode(const struct pager_link *m, void *buf, size_t cap);
int pager_link_decode(const void *buf, size_t len, struct pager_link *m);
/* type: WIRE_T_PG_REQ, _GRANT, _INVAL or _INVAL_ACK. */
int pager_msg_encode(uint16_t type, const struct pager_msg *m, void *buf,
		     size_t cap);
int pager_msg_decode(uint16_t type, const void *buf, size_t len,
		     struct pager_msg *m);
/* type: WIRE_T_PG_BULK_REQ, _BULK_DATA or _PREFETCH (head only; checks
 * len). */
int pager_bulk_encode(const struct pager_bulk *m, void *buf, size_t cap);
int pager_bulk_decode(uint16_t type, const void *buf, size_t len,
		      struct pager_bulk *m);
/* Checks slots too: aligned, inside mem_bytes, no overlaps. */
int pager_attach_encode(const struct pager_layout *m, void *buf, size_t cap);
int pager_attach_decode(const void *buf, size_t len, struct pager_layout *m);
int pager_ready_encode(const struct pager_ready *m, void *buf, size_t cap);
int pager_ready_decode(const void *buf, size_t len, struct pager_ready *m);
int pager_stream_encode(const struct pager_stream *m, void *buf, size_t cap);
int pager_stream_decode(const void *buf, size_t len, struct pager_stream *m);

/* --- client side of pager.sock ----------------------------------------- */

/*
 * <rundir>/<vm>/pager.sock into buf.  Returns 0, -ENOENT (no run
 * directory), -ENAMETOOLONG, -EINVAL (bad VM name).
 */
int pager_sock_path(const char *vm, char *buf, size_t len);

/*
 * A userfaultfd for guest RAM: UFFDIO_API with the features the pager
 * needs (shmem MISSING and WP, REMOVE and UNMAP events, exact
 * addresses), and the faulting thread's id in each fault
 * (UFFD_FEATURE_THREAD_ID, for the stats) where the kernel has it,
 * O_CLOEXEC|O_NONBLOCK.  Returns the fd, or -EPERM (not
 * allowed, see vm.unprivileged_userfaultfd), -EOPNOTSUPP (a feature is
 * missing), or the syscall's negative errno.
 */
int pager_uffd_open(void);

/*
 * Registers [addr, addr + len) (page aligned, a MAP_SHARED memfd
 * mapping) in MISSING and WP modes.  Returns 0, -EOPNOTSUPP when WP is
 * not offered there, or UFFDIO_REGISTER's negative errno.
 */
int pager_uffd_register(int uffd, void *addr, size_t len);

struct pager_attach {
	const char *vm;
	uint32_t node, nodes;
	int memfd, uffd;
	uint64_t mem_bytes;
	const struct pager_slot *slots;
	unsigned nslots;
	int timeout_ms; /* for connect, handshake, and the READY answer */
};

/*
 * Connects to pager.sock (retrying while it is not there yet), runs the
 * handshake (role control), sends PG_ATTACH with the memfd and uffd, and
 * waits for PG_READY (the pager answers once its links to every node are
 * up), all within a->timeout_ms, over the link layer (include/avm/
 * link.h).  Fills *ready when not NULL.  Returns 0 with *out, the link to
 * poll (link_fd()) and pass to pager_check() and pager_detach(), or
 *   -EINVAL        bad arguments (slots, name, node),
 *   -ETIMEDOUT     no pager, or no READY in time,
 *   -ECONNREFUSED  the pager refused (why holds its message),
 *   -EPIPE, ...    the link's error.
 * why (whylen bytes, may be NULL) gets a message for people.
 */
struct link;
int pager_attach(const struct pager_attach *a, struct pager_ready *ready,
		 struct link **out, char *why, size_t whylen);

/*
 * Call when the attach socket is readable (or just to ask).  Never
 * blocks.  Returns 0 while the pager is alive (nothing to read),
 * -ESHUTDOWN when the pager reported a failure (why: its message, such as
 * "node 2 failed: heartbeat timeout"), -EPIPE when the socket closed
 * without a word (the pager died), -EPROTO for a frame that makes no
 * sense here.  After a negative return the VM must stop.
 */
int pager_check(struct link *l, char *why, size_t whylen);

/*
 * Orderly end: sends BYE and frees the link.  The pager keeps serving
 * the other nodes until they are done too.  Returns 0.
 */
int pager_detach(struct link *l);

/* --- stats file ---------------------------------------------------------- */

/*
 * <rundir>/<vm>/pager-<node>.stats: one per pager, mapped read-only by
 * avm-top.  Little-endian host layout (the file never leaves the host).
 * The pager is the only writer.  Counters are plain u64 (aligned, so a
 * reader never sees a torn value); the hot table and gauges are updated
 * under seq (odd while writing): a reader copies them and retries when
 * seq changed or was odd.  A reader checks magic, version and size first
 * (lib/stats.c does it all: include/avm/stats.h).
 *
 * Node 0's pager gathers the other nodes' files over the bulk links
 * about once a second and keeps the copies, same layout with gathered_ns
 * set, as <rundir>/<vm>/gathered/pager-<node>.stats (and run-<node>.stats
 * when that node has one), so that avm-top on node 0 sees every node.
 */
#define PAGER_STATS_MAGIC 0x5453504d56415f41ull /* "A_AVMPST" */
#define PAGER_STATS_VERSION 3
#define PAGER_STATS_HIST 32 /* latency buckets: [2^i, 2^(i+1)) ns */
#define PAGER_STATS_HOT 16

/* Fault kinds, by how the fault was resolved. */
enum pager_fault_kind {
	PAGER_F_ZERO,	  /* zero fill, no data moved */
	PAGER_F_LOCAL,	  /* resolved here without the network */
	PAGER_F_READ,	  /* remote read miss */
	PAGER_F_WRITE,	  /* remote write miss (data or ownership moved) */
	PAGER_F_UPGRADE,  /* write-protect fault: shared to exclusive */
	PAGER_F_SPURIOUS, /* already resolved when read (a wake) */
	PAGER_F_KINDS,
};

struct pager_hot {
	uint64_t page;	    /* page number (memfd offset / 4096) */
	uint64_t gpa;	    /* last faulting guest physical address */
	uint64_t transfers; /* times exclusive ownership changed nodes */
	uint64_t nodes;	    /* bit i: ownership moved to node i */
	uint32_t last_node; /* node that asked last */
	uint32_t last_tid;  /* its faulting thread (PG_REQ's tid); 0 unknown */
};
_Static_assert(sizeof(struct pager_hot) == 40, "hot entry");

/* Traffic with one other node: its fault and bulk links together. */
struct pager_peer {
	uint64_t bytes_sent, bytes_received; /* frames whole */
	uint64_t frames_sent, frames_received;
	/* Last round trip of a PING on the fault link (one a second at
	 * least, busy or idle, so it includes the queue of page traffic);
	 * 0 none yet. */
	uint64_t rtt_ns;
	uint64_t reserved;
};

struct pager_stats {
	uint64_t magic;
	uint32_t version;
	uint32_t size; /* sizeof(struct pager_stats) */
	uint32_t node, nodes;
	uint32_t page_size;
	uint32_t dir_entry_bytes;   /* per homed page */
	uint32_t local_state_bytes; /* per page of guest RAM */
	uint32_t pid;
	uint64_t mem_bytes;
	uint64_t home_first, home_pages;
	uint64_t seq;
	/* gauges, under seq */
	uint64_t pages_owned;  /* held exclusive here */
	uint64_t pages_shared; /* held read-only here */
	uint64_t faults_in_flight;
	/* counters */
	uint64_t faults[PAGER_F_KINDS];
	uint64_t events_remove, events_unmap;
	uint64_t requests_served; /* PG_REQ handled as home, any node */
	uint64_t invals_sent, invals_received;
	uint64_t pages_sent, pages_received;
	uint64_t bytes_sent, bytes_received; /* all links, frames whole */
	uint64_t lat_hist[PAGER_STATS_HIST]; /* fault to wake, ns */
	uint64_t lat_sum_ns, lat_count;
	struct pager_hot hot[PAGER_STATS_HOT]; /* under seq, by transfers */
	uint64_t gathered_ns; /* 0 here; a gathered copy: when it came */
	/* --restore: home pages that start from the snapshot (0: not a
	 * restore), and those taken so far, by how: a request needed the
	 * page first (any node's fault), or the background loader */
	uint64_t restore_pages;
	uint64_t restored_fault, restored_background;
	struct pager_peer peer[PAGER_MAX_NODES]; /* [own node] stays 0 */
	/* version 3: home pages a first touch mapped with its block
	 * (--zero-block; the touched one included) */
	uint64_t zero_block_pages;
	/* read-ahead: copies sent as home; received and installed, and
	 * received for pages held already (dropped) */
	uint64_t prefetch_sent, prefetch_installed, prefetch_dropped;
	/* snapshots: parts written, pages fetched back first, and
	 * requests for home pages held back while a part was made */
	uint64_t save_parts, save_fetched, save_held;
};

/*
 * <rundir>/<vm>/pager-<node>.stats into buf.  Returns 0, -ENOENT,
 * -ENAMETOOLONG, -EINVAL.
 */
int pager_stats_path(const char *vm, uint32_t node, char *buf, size_t len);

#endif
