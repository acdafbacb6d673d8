/*
 * The payloads of saving a VM's memory into a snapshot (types 27, 28,
 * 36 and 37 of man/avm-wire.7).  A tool (avm-run, or a test) asks node
 * 0's pager on pager.sock with PG_SAVE; node 0's pager asks every other
 * node's over its bulk link with PG_SAVE_PART, the same payload; each
 * node writes the memory it is home of as a part file of the snapshot
 * (lib/snapfile.c snap_part_write, the name from snap_part_path) and
 * answers PG_SAVE_PART_DONE with what it wrote; node 0 answers the tool
 * PG_SAVE_DONE with every node's part, in node order.  Any failure is
 * an error reply instead (the reply type with REPLY|ERROR).
 *
 * PG_SAVE and PG_SAVE_PART: a 32-byte fixed part, then the snapshot's
 * main file path: 2..4095 bytes, absolute, printable ASCII, no NUL.
 * PG_SAVE_PART_DONE: one 128-byte part.  PG_SAVE_DONE: a 16-byte head,
 * then one part per node.
 *
 * Encoders return the payload length, -EINVAL when the message breaks a
 * rule the decoder checks, or -ENOSPC when cap is too small.  Decoders
 * check the whole payload before they return 0, -EMSGSIZE for a length
 * outside the type's range, or -EBADMSG for anything else.  Nothing
 * here prints, allocates or exits.
 */
#ifndef AVM_SAVEMSG_H
#define AVM_SAVEMSG_H

#include <stddef.h>
#include <stdint.h>

#include "avm/pager.h"
#include "avm/snapfile.h"
#include "avm/wire.h"

/* On the wire: the fixed part of PG_SAVE and PG_SAVE_PART. */
struct savemsg_req_le {
	uint8_t snap_id[16];	/* snap_writer_id(): every part carries it */
	uint8_t level[4];	/* zlib level 0..9, or 0xffffffff: default */
	uint8_t chunk_pages[4]; /* 1..256 */
	uint8_t nodes[4];	/* the VM's nodes, as the sender knows them */
	uint8_t reserved[4];	/* zero */
				/* then the main file's path */
};
_Static_assert(sizeof(struct savemsg_req_le) == WIRE_PG_SAVE_HDR, "SAVE");

struct savemsg_req {
	uint8_t snap_id[16];
	int level; /* -1..9 */
	uint32_t chunk_pages;
	uint32_t nodes; /* 1..PAGER_MAX_NODES */
	char path[WIRE_PG_SAVE_PATH_MAX + 1];
};

/* On the wire: one node's part file (PG_SAVE_PART_DONE, PG_SAVE_DONE). */
struct savemsg_part_le {
	uint8_t node[4];
	uint8_t chunks[4];
	uint8_t name[48]; /* file name beside the main file, NUL-padded */
	uint8_t file_bytes[8];
	uint8_t ram_off[8];
	uint8_t ram_bytes[8];
	uint8_t offset[8];
	uint8_t stored_bytes[8];
	uint8_t index_off[8];
	uint8_t file_crc[4];
	uint8_t index_crc[4];
	uint8_t write_ns[8]; /* how long the node took, fetching included */
	uint8_t fetched[8];  /* pages it fetched from their holders first */
};
_Static_assert(sizeof(struct savemsg_part_le) == WIRE_PG_PART_SIZE, "PART");

struct savemsg_part {
	struct snap_part_info info;
	uint64_t write_ns, fetched;
};

/* On the wire: the head of PG_SAVE_DONE; nodes parts follow. */
struct savemsg_done_le {
	uint8_t nodes[4];
	uint8_t reserved[4]; /* zero */
	uint8_t save_ns[8];  /* PG_SAVE to the last part, at node 0 */
};
_Static_assert(sizeof(struct savemsg_done_le) == WIRE_PG_SAVE_DONE_HDR,
	       "SAVE_DONE");

int savemsg_req_encode(const struct savemsg_req *m, void *buf, size_t cap);
int savemsg_req_decode(const void *buf, size_t len, struct savemsg_req *m);

/* PG_SAVE_PART_DONE: one part. */
int savemsg_part_encode(const struct savemsg_part *m, void *buf, size_t cap);
int savemsg_part_decode(const void *buf, size_t len, struct savemsg_part *m);

/* PG_SAVE_DONE: nodes parts (part i of node i) and the time taken. */
int savemsg_done_encode(const struct savemsg_part *parts, uint32_t nodes,
			uint64_t save_ns, void *buf, size_t cap);
/*
 * Fills parts (cap entries) and *nodes, *save_ns; also -ENOSPC when the
 * message has more than cap parts.
 */
int savemsg_done_decode(const void *buf, size_t len, struct savemsg_part *parts,
			uint32_t cap, uint32_t *nodes, uint64_t *save_ns);

#endif
