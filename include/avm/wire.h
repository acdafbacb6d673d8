/*
 * Wire framing: the one framed binary protocol of every AVM link
 * (pager-to-pager, run-to-run, control sockets).  man/avm-wire.7 is the
 * specification; this header and lib/wire.c implement it.
 *
 * A frame is a 16-byte little-endian header (type, flags, payload length,
 * request id) followed by the payload.  Every length is checked against
 * the type's range before a byte of payload is used.
 *
 * Errors: every function that returns int or ssize_t returns 0 (or a
 * count) on success and a negative errno on failure; errno itself is not
 * set.  The one exception is the predicate wire_version_pick(), which
 * returns -1.  Nothing here prints, exits or allocates.
 *
 * Decoders are pure: they read only the len bytes they are given.
 * Encoders run the same checks as the decoders, so what one side encodes
 * the other side decodes.
 */
#ifndef AVM_WIRE_H
#define AVM_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Protocol versions this build speaks; HELLO offers this range. */
#define WIRE_VERSION_MIN 1
#define WIRE_VERSION_MAX 1

/* "AVMW": the bytes 41 56 4d 57 on the wire, first in every HELLO. */
#define WIRE_MAGIC 0x574d5641u

#define WIRE_HDR_SIZE 16
/* 256 pages of 4 KiB plus room for a batch's page list. */
#define WIRE_MAX_PAYLOAD ((1u << 20) + 4096u)
#define WIRE_MAX_FRAME (WIRE_HDR_SIZE + WIRE_MAX_PAYLOAD)

/* wire_send() gives up after this long when the peer stops reading. */
#define WIRE_SEND_TIMEOUT_MS 10000

/* Header flags; every other bit must be zero. */
#define WIRE_F_REPLY 0x0001u /* final reply to the request with this id */
#define WIRE_F_ERROR 0x0002u /* ...carrying an error payload; needs REPLY */
#define WIRE_F_MASK (WIRE_F_REPLY | WIRE_F_ERROR)

/* Sizes of the link-management payloads (layouts below). */
#define WIRE_NONCE_LEN 32
#define WIRE_VM_NAME_LEN 32 /* with the terminating NUL */
#define WIRE_HELLO_SIZE 84  /* what version 1 sends */
#define WIRE_HELLO_MAX 256  /* later versions may append fields */
#define WIRE_WELCOME_SIZE 36
#define WIRE_ERROR_MSG_MAX 250
#define WIRE_ERROR_MIN 6
#define WIRE_ERROR_MAX (WIRE_ERROR_MIN + WIRE_ERROR_MSG_MAX)
#define WIRE_PING_SIZE 8
#define WIRE_MAX_NODES 256
#define WIRE_CTL_VERB_MAX 64

/* Pager payload sizes; the layouts are in include/avm/pager.h. */
#define WIRE_PG_PAGE_SIZE 4096
#define WIRE_PG_AUTH_SIZE 32
#define WIRE_PG_LINK_SIZE 24
#define WIRE_PG_MSG_SIZE 16 /* fixed part of REQ, GRANT, INVAL, ... */
#define WIRE_PG_DATA_SIZE (WIRE_PG_MSG_SIZE + WIRE_PG_PAGE_SIZE)
#define WIRE_PG_BULK_PAGES 256
#define WIRE_PG_BULK_MAX \
	(WIRE_PG_MSG_SIZE + WIRE_PG_BULK_PAGES * WIRE_PG_PAGE_SIZE)
#define WIRE_PG_SLOTS_MAX 64
#define WIRE_PG_SLOT_SIZE 32
#define WIRE_PG_ATTACH_MIN (24 + WIRE_PG_SLOT_SIZE)
#define WIRE_PG_ATTACH_MAX (24 + WIRE_PG_SLOTS_MAX * WIRE_PG_SLOT_SIZE)
#define WIRE_PG_READY_SIZE 32
#define WIRE_PG_STREAM_SIZE 24
/* Stats gathering; the layouts are in include/avm/statsmsg.h. */
#define WIRE_PG_STATS_REQ_SIZE 8
#define WIRE_PG_STATS_HDR 16
#define WIRE_PG_STATS_PAGER 4288 /* struct pager_stats, its version 3 */
/* struct run_stats (version 1) with RUN_STATS_VCPUS_MAX (1024) vCPUs */
#define WIRE_PG_STATS_RUN_MAX (136 + 1024 * 200)
#define WIRE_PG_STATS_MIN (WIRE_PG_STATS_HDR + WIRE_PG_STATS_PAGER)
#define WIRE_PG_STATS_MAX (WIRE_PG_STATS_MIN + WIRE_PG_STATS_RUN_MAX)
/* Snapshots (include/avm/savemsg.h): a fixed part, then the file's path */
#define WIRE_PG_SAVE_HDR 32
#define WIRE_PG_SAVE_PATH_MAX 4095
#define WIRE_PG_SAVE_MIN (WIRE_PG_SAVE_HDR + 2)
#define WIRE_PG_SAVE_MAX (WIRE_PG_SAVE_HDR + WIRE_PG_SAVE_PATH_MAX)
#define WIRE_PG_PART_SIZE 128 /* one node's part file */
#define WIRE_PG_SAVE_DONE_HDR 16
#define WIRE_PG_SAVE_DONE_MIN (WIRE_PG_SAVE_DONE_HDR + WIRE_PG_PART_SIZE)
#define WIRE_PG_SAVE_DONE_MAX (WIRE_PG_SAVE_DONE_HDR + 64 * WIRE_PG_PART_SIZE)

/* Link measurement payload sizes; the layouts are in include/avm/fabmsg.h. */
#define WIRE_FAB_ECHO_MIN 8
#define WIRE_FAB_ECHO_MAX (8 + 4096)
#define WIRE_FAB_SINK_HDR 16
#define WIRE_FAB_SINK_PAGES 256
#define WIRE_FAB_SINK_MIN (WIRE_FAB_SINK_HDR + WIRE_PG_PAGE_SIZE)
#define WIRE_FAB_SINK_MAX \
	(WIRE_FAB_SINK_HDR + WIRE_FAB_SINK_PAGES * WIRE_PG_PAGE_SIZE)
#define WIRE_FAB_SINK_END_SIZE 16
#define WIRE_FAB_SINK_DONE_SIZE 24
#define WIRE_FAB_CLOCK_SIZE 8
#define WIRE_FAB_CLOCK_REPLY_SIZE 16

/* Run-to-run payload sizes; the layouts are in include/avm/runmsg.h. */
#define WIRE_RUN_IRQ_SIZE 24
#define WIRE_RUN_ADDR_SIZE 8
#define WIRE_RUN_EOI_SIZE 8
#define WIRE_RUN_IO_SIZE 24 /* fixed part; the access's bytes follow */
#define WIRE_RUN_IO_DATA_MAX 4096
#define WIRE_RUN_END_MIN 8
#define WIRE_RUN_END_MAX (WIRE_RUN_END_MIN + 200)
#define WIRE_RUN_CONTROL_SIZE 8
#define WIRE_RUN_CLOCK_SIZE 32

/*
 * Type ranges.  A type's range says which link carries it; types outside
 * every range (256 and up) are unassigned and rejected like unknown ones.
 */
#define WIRE_RANGE_LINK_FIRST 1	     /* link management, every link */
#define WIRE_RANGE_PAGER_FIRST 16    /* pager-to-pager (later versions) */
#define WIRE_RANGE_RUN_FIRST 64	     /* run-to-run (later versions) */
#define WIRE_RANGE_CONTROL_FIRST 128 /* control sockets (later versions) */
#define WIRE_RANGE_END 256

/*
 * How a type uses the REPLY flag.  A REQUEST never has it and gets exactly
 * one final reply: a frame of its reply type (named in the table comment)
 * with the request's id and REPLY set, or REPLY|ERROR and an ERROR
 * payload in place of the reply's.  A REPLY type always has REPLY set.  A
 * ONEWAY frame has no REPLY flag and gets no reply.
 */
enum wire_kind {
	WIRE_K_REQUEST,
	WIRE_K_REPLY,
	WIRE_K_ONEWAY,
};

/*
 * The type table.  Adding a type is one line here: name, value (inside
 * its range), payload length range, kind.  The enum, the decoder's table,
 * the names and compile-time checks (value in range, no duplicates,
 * min <= max <= WIRE_MAX_PAYLOAD) are all generated from it.
 *
 * HELLO    both sides, first frame on a link; answered by WELCOME.
 * WELCOME  answer to HELLO: chosen version (or ERROR flag: refusal).
 * ERROR    one-way notice with an error payload, then the sender closes.
 * PING     heartbeat request, payload u64 token; answered by PONG.
 * PONG     answer to PING, echoing the token.
 * BYE      orderly close: no more frames follow from the sender.
 * FAB_ECHO       links of role fabric (avm-fabric measuring a link): a
 *                sequence number and filler; answered by FAB_ECHO_REPLY
 *                with the same bytes.
 * FAB_SINK       fabric links: 1..256 pages of a bandwidth stream.
 * FAB_SINK_END   fabric links: the stream's end, what was sent;
 *                answered by FAB_SINK_DONE (what came, over what time).
 * FAB_CLOCK      fabric links: the sender's wall clock; answered by
 *                FAB_CLOCK_REPLY with the other side's, for the offset
 *                between the two hosts' clocks.
 * PG_AUTH      pager links, both sides, right after the handshake: an
 *              HMAC-SHA256 proof of the VM's secret (lib/auth.c).
 * PG_LINK      pager links, both sides, after PG_AUTH: memory size and
 *              the sender's home range, checked against our own.
 * PG_REQ       a node's pager to a page's home: read or write wanted;
 *              answered by PG_GRANT.
 * PG_GRANT     the home's answer: mode, and no data, zero or 4 KiB.
 * PG_INVAL     a home to a holder: drop, downgrade or fetch a page;
 *              answered by PG_INVAL_ACK (with 4 KiB when asked).
 * PG_PREFETCH  fault link, one-way, a home to a node: read-only copies
 *              of 1..256 consecutive pages it did not ask for (read-ahead
 *              along its trend of misses), PG_BULK_DATA's layout; the
 *              home counts it a holder of each already.
 * PG_DONE      one-way: the sender's local client detached.
 * PG_BULK_REQ  bulk link: up to 256 pages, not coherent (paused VM);
 *              answered by PG_BULK_DATA.
 * PG_STATS_REQ bulk link, node 0 to each other node about once a
 *              second: send your stats; answered by PG_STATS (the
 *              node's pager stats, and its run stats when it has them).
 * PG_SAVE_PART bulk link, node 0 to each other node: write the memory
 *              you are home of as your part of the snapshot at a path;
 *              answered by PG_SAVE_PART_DONE (the part file written).
 * PG_ATTACH    pager.sock: guest RAM layout, memfd and uffd (SCM_RIGHTS);
 *              answered by PG_READY once the fabric is up.
 * PG_STREAM    pager.sock: stream pages from a node over the bulk link;
 *              answered by PG_STREAM_DONE (bytes and time).
 * PG_SAVE      pager.sock, to node 0's pager: every node writes its home
 *              memory as a part file of the snapshot at a path (the VM
 *              paused); answered by PG_SAVE_DONE (every node's part).
 * RUN_IRQ      run links: an interrupt message (IPI, INIT, SIPI, IOAPIC)
 *              for an APIC that the receiver runs.
 * RUN_APIC_ADDR  run links: a local APIC's addressing changed (id,
 *              logical id, model, enables), for remote matching.
 * RUN_EOI      run links, to node 0: a level-triggered EOI for the IOAPIC.
 * RUN_IO       run links, to node 0: a PIO or MMIO access of a vCPU on
 *              the sender; answered by RUN_IO_DONE (read bytes).
 * RUN_END      run links: the VM ended on the sender: status and why.
 * RUN_CONTROL  run links, from node 0: pause or resume this node's vCPUs;
 *              answered by RUN_CONTROL_DONE.
 * RUN_CLOCK    run links, from node 0, the first frame after the link
 *              handshake: node 0's kvmclock (KVM_GET_CLOCK) for every
 *              node to align its own with (KVM_SET_CLOCK).
 * CTL_COMMAND  a tool to avm-run's run.sock: a verb, 1..64 bytes of
 *              printable ASCII ("status", "pause", ...); answered by
 *              CTL_RESULT.
 * CTL_RESULT   avm-run's answer: the verb's output text (YAML or JSON),
 *              possibly empty.
 */
#define WIRE_TYPES(X)                                                          \
	X(HELLO, 1, WIRE_HELLO_SIZE, WIRE_HELLO_MAX, WIRE_K_REQUEST)           \
	X(WELCOME, 2, WIRE_WELCOME_SIZE, WIRE_WELCOME_SIZE, WIRE_K_REPLY)      \
	X(ERROR, 3, WIRE_ERROR_MIN, WIRE_ERROR_MAX, WIRE_K_ONEWAY)             \
	X(PING, 4, WIRE_PING_SIZE, WIRE_PING_SIZE, WIRE_K_REQUEST)             \
	X(PONG, 5, WIRE_PING_SIZE, WIRE_PING_SIZE, WIRE_K_REPLY)               \
	X(BYE, 6, 0, 0, WIRE_K_ONEWAY)                                         \
	X(FAB_ECHO, 7, WIRE_FAB_ECHO_MIN, WIRE_FAB_ECHO_MAX, WIRE_K_REQUEST)   \
	X(FAB_ECHO_REPLY, 8, WIRE_FAB_ECHO_MIN, WIRE_FAB_ECHO_MAX,             \
	  WIRE_K_REPLY)                                                        \
	X(FAB_SINK, 9, WIRE_FAB_SINK_MIN, WIRE_FAB_SINK_MAX, WIRE_K_ONEWAY)    \
	X(FAB_SINK_END, 10, WIRE_FAB_SINK_END_SIZE, WIRE_FAB_SINK_END_SIZE,    \
	  WIRE_K_REQUEST)                                                      \
	X(FAB_SINK_DONE, 11, WIRE_FAB_SINK_DONE_SIZE, WIRE_FAB_SINK_DONE_SIZE, \
	  WIRE_K_REPLY)                                                        \
	X(FAB_CLOCK, 12, WIRE_FAB_CLOCK_SIZE, WIRE_FAB_CLOCK_SIZE,             \
	  WIRE_K_REQUEST)                                                      \
	X(FAB_CLOCK_REPLY, 13, WIRE_FAB_CLOCK_REPLY_SIZE,                      \
	  WIRE_FAB_CLOCK_REPLY_SIZE, WIRE_K_REPLY)                             \
	X(PG_AUTH, 16, WIRE_PG_AUTH_SIZE, WIRE_PG_AUTH_SIZE, WIRE_K_ONEWAY)    \
	X(PG_LINK, 17, WIRE_PG_LINK_SIZE, WIRE_PG_LINK_SIZE, WIRE_K_ONEWAY)    \
	X(PG_REQ, 18, WIRE_PG_MSG_SIZE, WIRE_PG_MSG_SIZE, WIRE_K_REQUEST)      \
	X(PG_GRANT, 19, WIRE_PG_MSG_SIZE, WIRE_PG_DATA_SIZE, WIRE_K_REPLY)     \
	X(PG_INVAL, 20, WIRE_PG_MSG_SIZE, WIRE_PG_MSG_SIZE, WIRE_K_REQUEST)    \
	X(PG_INVAL_ACK, 21, WIRE_PG_MSG_SIZE, WIRE_PG_DATA_SIZE, WIRE_K_REPLY) \
	X(PG_DONE, 22, 0, 0, WIRE_K_ONEWAY)                                    \
	X(PG_BULK_REQ, 23, WIRE_PG_MSG_SIZE, WIRE_PG_MSG_SIZE, WIRE_K_REQUEST) \
	X(PG_BULK_DATA, 24, WIRE_PG_MSG_SIZE + 4096, WIRE_PG_BULK_MAX,         \
	  WIRE_K_REPLY)                                                        \
	X(PG_STATS_REQ, 25, WIRE_PG_STATS_REQ_SIZE, WIRE_PG_STATS_REQ_SIZE,    \
	  WIRE_K_REQUEST)                                                      \
	X(PG_STATS, 26, WIRE_PG_STATS_MIN, WIRE_PG_STATS_MAX, WIRE_K_REPLY)    \
	X(PG_SAVE_PART, 27, WIRE_PG_SAVE_MIN, WIRE_PG_SAVE_MAX,                \
	  WIRE_K_REQUEST)                                                      \
	X(PG_SAVE_PART_DONE, 28, WIRE_PG_PART_SIZE, WIRE_PG_PART_SIZE,         \
	  WIRE_K_REPLY)                                                        \
	X(PG_PREFETCH, 29, WIRE_PG_MSG_SIZE + 4096, WIRE_PG_BULK_MAX,          \
	  WIRE_K_ONEWAY)                                                       \
	X(PG_ATTACH, 32, WIRE_PG_ATTACH_MIN, WIRE_PG_ATTACH_MAX,               \
	  WIRE_K_REQUEST)                                                      \
	X(PG_READY, 33, WIRE_PG_READY_SIZE, WIRE_PG_READY_SIZE, WIRE_K_REPLY)  \
	X(PG_STREAM, 34, WIRE_PG_STREAM_SIZE, WIRE_PG_STREAM_SIZE,             \
	  WIRE_K_REQUEST)                                                      \
	X(PG_STREAM_DONE, 35, WIRE_PG_MSG_SIZE, WIRE_PG_MSG_SIZE,              \
	  WIRE_K_REPLY)                                                        \
	X(PG_SAVE, 36, WIRE_PG_SAVE_MIN, WIRE_PG_SAVE_MAX, WIRE_K_REQUEST)     \
	X(PG_SAVE_DONE, 37, WIRE_PG_SAVE_DONE_MIN, WIRE_PG_SAVE_DONE_MAX,      \
	  WIRE_K_REPLY)                                                        \
	X(RUN_IRQ, 64, WIRE_RUN_IRQ_SIZE, WIRE_RUN_IRQ_SIZE, WIRE_K_ONEWAY)    \
	X(RUN_APIC_ADDR, 65, WIRE_RUN_ADDR_SIZE, WIRE_RUN_ADDR_SIZE,           \
	  WIRE_K_ONEWAY)                                                       \
	X(RUN_EOI, 66, WIRE_RUN_EOI_SIZE, WIRE_RUN_EOI_SIZE, WIRE_K_ONEWAY)    \
	X(RUN_IO, 67, WIRE_RUN_IO_SIZE,                                        \
	  WIRE_RUN_IO_SIZE + WIRE_RUN_IO_DATA_MAX, WIRE_K_REQUEST)             \
	X(RUN_IO_DONE, 68, 0, WIRE_RUN_IO_DATA_MAX, WIRE_K_REPLY)              \
	X(RUN_END, 69, WIRE_RUN_END_MIN, WIRE_RUN_END_MAX, WIRE_K_ONEWAY)      \
	X(RUN_CONTROL, 70, WIRE_RUN_CONTROL_SIZE, WIRE_RUN_CONTROL_SIZE,       \
	  WIRE_K_REQUEST)                                                      \
	X(RUN_CONTROL_DONE, 71, 0, 0, WIRE_K_REPLY)                            \
	X(RUN_CLOCK, 72, WIRE_RUN_CLOCK_SIZE, WIRE_RUN_CLOCK_SIZE,             \
	  WIRE_K_ONEWAY)                                                       \
	X(CTL_COMMAND, 128, 1, WIRE_CTL_VERB_MAX, WIRE_K_REQUEST)              \
	X(CTL_RESULT, 129, 0, WIRE_MAX_PAYLOAD, WIRE_K_REPLY)

#define WIRE_X_ENUM(name, value, min, max, kind) WIRE_T_##name = value,
enum wire_type { WIRE_T_INVALID = 0, WIRE_TYPES(WIRE_X_ENUM) };
#undef WIRE_X_ENUM

struct wire_type_info {
	uint16_t type;
	const char *name; /* "HELLO" */
	uint32_t min_len, max_len;
	enum wire_kind kind;
};

/* The table entry of type, or NULL when the type is not assigned. */
const struct wire_type_info *wire_type_info(uint16_t type);

/* The type's name ("PING"), or "unknown". */
const char *wire_type_name(uint16_t type);

/*
 * On the wire: the frame header.  Byte-array structs like this one only
 * describe a layout (offsetof, sizeof); they are never cast onto a
 * buffer.  Sent before every payload, by everyone.
 */
struct wire_hdr_le {
	uint8_t type[2];
	uint8_t flags[2];
	uint8_t len[4]; /* payload bytes after the header */
	uint8_t id[8];	/* request id; a reply carries its request's */
};
_Static_assert(sizeof(struct wire_hdr_le) == WIRE_HDR_SIZE, "header size");

/* A decoded header. */
struct wire_hdr {
	uint16_t type;
	uint16_t flags;
	uint32_t len;
	uint64_t id;
};

/*
 * Decodes and checks the header at buf.  Returns 0, or the first of
 *   -EAGAIN    fewer than WIRE_HDR_SIZE bytes (h untouched),
 *   -EBADMSG   type 0, an unknown flag, or ERROR without REPLY,
 *   -EMSGSIZE  length over WIRE_MAX_PAYLOAD,
 *   -ENOMSG    a type that is not assigned (no table entry),
 *   -EBADMSG   REPLY where the type's kind forbids or requires it,
 *   -EMSGSIZE  length outside the type's range (outside the ERROR
 *              payload range when ERROR is set).
 * From 16 bytes on, h holds the raw fields even on failure, for the
 * error message.
 */
int wire_hdr_decode(const void *buf, size_t len, struct wire_hdr *h);

/*
 * Encodes h into buf (WIRE_HDR_SIZE bytes).  Returns 0, or the error
 * wire_hdr_decode() would return for it.
 */
int wire_hdr_encode(const struct wire_hdr *h, void *buf);

/*
 * Splits a byte stream: the frame at the start of buf, if whole.
 * Returns the bytes it takes (> 0) with h and *payload (into buf) set,
 * 0 when more bytes are needed, or wire_hdr_decode()'s negative errno;
 * after an error the stream cannot be resynchronized.
 */
ssize_t wire_frame_next(const void *buf, size_t len, struct wire_hdr *h,
			const void **payload);

/* --- link management payloads ------------------------------------------ */

/* Who is on the other end; HELLO.role. */
enum wire_role {
	WIRE_ROLE_PAGER_FAULT = 1, /* pager-to-pager, faults */
	WIRE_ROLE_PAGER_BULK = 2,  /* pager-to-pager, bulk transfers */
	WIRE_ROLE_RUN = 3,	   /* run-to-run */
	WIRE_ROLE_CONTROL = 4,	   /* a tool on run.sock or pager.sock */
	WIRE_ROLE_CLIENT = 5,	   /* a monitor or script (avm-top) */
	WIRE_ROLE_FABRIC = 6,	   /* avm-fabric measuring a link */
};

/* The role's name ("pager-fault"), or "unknown". */
const char *wire_role_name(uint16_t role);

/*
 * On the wire: HELLO, the first frame each side sends on a new link
 * (id 0, no flags), before it reads anything.
 */
struct wire_hello_le {
	uint8_t magic[4];	/* WIRE_MAGIC */
	uint8_t version_min[2]; /* versions the sender speaks, */
	uint8_t version_max[2]; /* 1 <= min <= max */
	uint8_t role[2];	/* enum wire_role */
	uint8_t reserved[2];	/* zero */
	uint8_t node[4];	/* sender's node, < nodes; 0 when nodes is 0 */
	uint8_t nodes[4]; /* nodes in the VM, <= WIRE_MAX_NODES; 0: none */
	uint8_t vm[WIRE_VM_NAME_LEN];  /* printable, NUL-terminated+padded */
	uint8_t nonce[WIRE_NONCE_LEN]; /* random, fresh per connection */
};
_Static_assert(sizeof(struct wire_hello_le) == WIRE_HELLO_SIZE, "HELLO size");

struct wire_hello {
	uint16_t version_min, version_max;
	uint16_t role;
	uint32_t node, nodes;
	char vm[WIRE_VM_NAME_LEN];
	uint8_t nonce[WIRE_NONCE_LEN];
};

/*
 * On the wire: WELCOME, each side's answer to the peer's HELLO (id 0,
 * flags REPLY).  A refusal is a WELCOME frame with flags REPLY|ERROR and
 * an ERROR payload instead.
 */
struct wire_welcome_le {
	uint8_t version[2];	       /* highest version both HELLOs offer */
	uint8_t reserved[2];	       /* zero */
	uint8_t nonce[WIRE_NONCE_LEN]; /* the sender's nonce, as in its HELLO */
};
_Static_assert(sizeof(struct wire_welcome_le) == WIRE_WELCOME_SIZE,
	       "WELCOME size");

struct wire_welcome {
	uint16_t version;
	uint8_t nonce[WIRE_NONCE_LEN];
};

/*
 * Error codes on the wire.  Fixed numbers, independent of any host's
 * errno values; wire_errcode_to_errno() maps them.  Code 0 is invalid.
 * Adding one is one line: name, value, errno, description.
 */
#define WIRE_ERRCODES(X)                                             \
	X(PROTO, 1, EPROTO, "protocol violation")                    \
	X(VERSION, 2, EPROTONOSUPPORT, "no common protocol version") \
	X(AUTH, 3, EACCES, "authentication failed")                  \
	X(NOENT, 4, ENOENT, "no such object")                        \
	X(INVAL, 5, EINVAL, "invalid argument")                      \
	X(NOTSUP, 6, EOPNOTSUPP, "not supported")                    \
	X(BUSY, 7, EBUSY, "busy, try again")                         \
	X(NOMEM, 8, ENOMEM, "out of memory")                         \
	X(TIMEDOUT, 9, ETIMEDOUT, "timed out")                       \
	X(SHUTDOWN, 10, ESHUTDOWN, "shutting down")                  \
	X(IO, 11, EIO, "internal failure")                           \
	X(RANGE, 12, ERANGE, "out of range")

#define WIRE_X_ENUM(name, value, err, desc) WIRE_E_##name = value,
enum wire_errcode { WIRE_E_NONE = 0, WIRE_ERRCODES(WIRE_X_ENUM) };
#undef WIRE_X_ENUM

/*
 * On the wire: the ERROR payload.  Sent in a frame of type ERROR (a
 * one-way notice, id 0, before the sender closes the link) or as the
 * final reply to a request (the reply's type, flags REPLY|ERROR, the
 * request's id).  Fixed part only; msg_len message bytes follow.
 */
struct wire_error_le {
	uint8_t code[4];    /* enum wire_errcode, not 0; unknown ones allowed */
	uint8_t msg_len[2]; /* <= WIRE_ERROR_MSG_MAX, = payload length - 6 */
			    /* then msg_len printable ASCII bytes, no NUL */
};
_Static_assert(sizeof(struct wire_error_le) == WIRE_ERROR_MIN, "ERROR size");

struct wire_error {
	uint32_t code;
	char msg[WIRE_ERROR_MSG_MAX + 1]; /* NUL-terminated */
};

/* The code's short description, or "unknown error". */
const char *wire_errcode_str(uint32_t code);
/* The errno for a code (EPROTO for unknown codes). */
int wire_errcode_to_errno(uint32_t code);
/* The code for an errno (WIRE_E_IO for errnos without one). */
uint32_t wire_errcode_from_errno(int err);

/*
 * Fills e with code and a printf-formatted message, cut at
 * WIRE_ERROR_MSG_MAX bytes, bytes that are not printable ASCII replaced
 * by '?', so that the result always encodes.
 */
void wire_error_set(struct wire_error *e, uint32_t code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * 1 when name is a VM name the wire carries: 1 to WIRE_VM_NAME_LEN - 1
 * bytes of printable ASCII (0x20 to 0x7e); else 0.
 */
int wire_vm_name_ok(const char *name);

/*
 * Payload encoders write into buf (cap bytes) and return the payload
 * length, or -EINVAL when m breaks a rule the decoder checks, -ENOSPC
 * when cap is too small.
 *
 * Payload decoders check everything (length, magic, reserved bytes,
 * names, ranges) and return 0, or -EMSGSIZE when len is outside the
 * type's range, -EBADMSG for any other violation.  A HELLO longer than
 * WIRE_HELLO_SIZE is accepted; the bytes past it are ignored.
 */
int wire_hello_encode(const struct wire_hello *m, void *buf, size_t cap);
int wire_hello_decode(const void *buf, size_t len, struct wire_hello *m);
int wire_welcome_encode(const struct wire_welcome *m, void *buf, size_t cap);
int wire_welcome_decode(const void *buf, size_t len, struct wire_welcome *m);
int wire_error_encode(const struct wire_error *m, void *buf, size_t cap);
int wire_error_decode(const void *buf, size_t len, struct wire_error *m);

/*
 * Fills m for this build: versions WIRE_VERSION_MIN..MAX, role, node,
 * nodes, vm and a fresh nonce from getrandom(2).  Returns 0, -EINVAL (bad
 * name, role, node or nodes), or getrandom's negative errno.
 */
int wire_hello_init(struct wire_hello *m, uint16_t role, uint32_t node,
		    uint32_t nodes, const char *vm);

/*
 * The highest version in both [lmin, lmax] and [rmin, rmax], into *v.
 * Returns 0, or -1 when there is none or a range is empty or starts at 0.
 */
int wire_version_pick(uint16_t lmin, uint16_t lmax, uint16_t rmin,
		      uint16_t rmax, uint16_t *v);

/* --- blocking I/O with deadlines --------------------------------------- */

/*
 * Sends one frame: header and payload in one sendmsg(2) (writev(2) when
 * fd is not a socket), resumed after short writes and EINTR, no SIGPIPE
 * on sockets.  Waits for the peer to read at most WIRE_SEND_TIMEOUT_MS
 * (wire_send_timeout: timeout_ms, >= 0) in all; on a non-socket without
 * O_NONBLOCK the write itself may block.  payload may be NULL when len is
 * 0.  One writer per fd at a time: the caller serializes.
 * Returns 0, or
 *   what wire_hdr_encode() returns for a bad type/flags/len,
 *   -EINVAL     NULL payload with len > 0, or timeout_ms < 0,
 *   -ETIMEDOUT  the deadline passed (part of the frame may be sent),
 *   -EPIPE, -ECONNRESET, ...  the write's errno.
 */
int wire_send(int fd, uint16_t type, uint16_t flags, uint64_t id,
	      const void *payload, uint32_t len);
int wire_send_timeout(int fd, uint16_t type, uint16_t flags, uint64_t id,
		      const void *payload, uint32_t len, int timeout_ms);

/*
 * Sends e as an error: a one-way ERROR notice (flags 0) when type is
 * WIRE_T_ERROR, else the final reply to request id of that type (flags
 * REPLY|ERROR).  Returns what wire_send() returns, or -EINVAL when e does
 * not encode.
 */
int wire_send_error(int fd, uint16_t type, uint64_t id,
		    const struct wire_error *e);

/*
 * Receives one frame into h and buf (cap bytes), waiting at most
 * timeout_ms (>= 0) in all, polling before every read.  The header is
 * checked before any payload is read.  Returns 0 (payload length in
 * h->len), or
 *   -ETIMEDOUT  the deadline passed,
 *   -EPIPE      end of file, before or inside a frame,
 *   -EBADMSG, -ENOMSG, -EMSGSIZE  a bad header, as wire_hdr_decode(),
 *   -EMSGSIZE   also: the payload is longer than cap (h is filled),
 *   -EINVAL     timeout_ms < 0,
 *   -ECONNRESET, -EBADF, ...  the read's errno.
 * After any error the link may be mid-frame: close it.  Meant for
 * handshakes and simple blocking clients; event loops keep their own
 * buffer and use wire_frame_next().
 */
int wire_recv(int fd, struct wire_hdr *h, void *buf, size_t cap,
	      int timeout_ms);

/*
 * The link handshake, the same on both ends, all within timeout_ms:
 *   1. send HELLO (mine), id 0, flags 0;
 *   2. receive the peer's HELLO into *peer, check it, pick the version;
 *      both VM names must be equal;
 *   3. send WELCOME, id 0, flags REPLY: the version and mine->nonce; or,
 *      when step 2 failed, a refusal: WELCOME, flags REPLY|ERROR, an
 *      error payload;
 *   4. receive the peer's WELCOME: version and nonce must match what its
 *      HELLO implies.  After a refusal of its own, a side still reads
 *      the peer's WELCOME (so neither closes on unread data) and ignores
 *      it.
 * Returns 0 with *version set, or
 *   -EINVAL           mine does not encode, or timeout_ms < 0,
 *   -EPROTONOSUPPORT  no common version (refused, code VERSION),
 *   -ENOENT           the peer's VM name is not ours (refused, NOENT),
 *   -EBADMSG, -ENOMSG, -EMSGSIZE  a malformed frame from the peer
 *                     (refused, PROTO, where the stream allows),
 *   -EPROTO           the peer broke the sequence or its WELCOME does
 *                     not match its HELLO (refused where still in step 2),
 *   -ECONNREFUSED     the peer refused us (a WELCOME with ERROR, or an
 *                     ERROR notice in place of HELLO or WELCOME); why
 *                     holds its error,
 *   -ETIMEDOUT, -EPIPE, ...  from wire_send()/wire_recv().
 * why (may be NULL) gets the error this side sent, or the peer's for
 * -ECONNREFUSED; why->code is WIRE_E_NONE when no error was exchanged.
 * *peer is filled once the peer's HELLO decoded.
 */
int wire_handshake(int fd, const struct wire_hello *mine,
		   struct wire_hello *peer, uint16_t *version, int timeout_ms,
		   struct wire_error *why);

/* --- little-endian access, for payload codecs --------------------------- */

static inline uint16_t
wire_get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t
wire_get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static inline uint64_t
wire_get64(const uint8_t *p)
{
	return (uint64_t)wire_get32(p) | (uint64_t)wire_get32(p + 4) << 32;
}

static inline void
wire_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void
wire_put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline void
wire_put64(uint8_t *p, uint64_t v)
{
	wire_put32(p, (uint32_t)v);
	wire_put32(p + 4, (uint32_t)(v >> 32));
}

#endif
