/*
 * The payloads of avm-fabric's link measurement (types 7..13 of
 * man/avm-wire.7, on links of role fabric only): echoes for the round
 * trip, and a stream of pages for the bandwidth.  One fixed-width
 * little-endian layout each, and an encode/decode pair.
 *
 * Encoders return the payload length, -EINVAL when m breaks a rule the
 * decoder checks, or -ENOSPC when cap is too small.  Decoders check the
 * whole payload before they fill m, and return 0, -EMSGSIZE for a length
 * outside the type's range, or -EBADMSG for anything else.  Nothing here
 * prints, allocates or exits.
 */
#ifndef AVM_FABMSG_H
#define AVM_FABMSG_H

#include <stddef.h>
#include <stdint.h>

#include "avm/wire.h"

/*
 * On the wire: FAB_ECHO, from the measuring side, and FAB_ECHO_REPLY,
 * the other side's answer with the same bytes: a sequence number, then
 * 0..4096 bytes of filler that only make the frame as large as asked.
 */
struct fabmsg_echo_le {
	uint8_t seq[8];
};
_Static_assert(sizeof(struct fabmsg_echo_le) == WIRE_FAB_ECHO_MIN, "FAB_ECHO");

struct fabmsg_echo {
	uint64_t seq;
	const uint8_t *fill; /* decode: points into the payload */
	size_t fill_len;     /* 0..WIRE_FAB_ECHO_MAX - WIRE_FAB_ECHO_MIN */
};

/*
 * On the wire: FAB_SINK, one-way, from the measuring side: pages of a
 * bandwidth stream (what they hold does not matter), numbered from 0.
 */
struct fabmsg_sink_le {
	uint8_t seq[8];
	uint8_t pages[4]; /* 1..WIRE_FAB_SINK_PAGES, what follows */
	uint8_t zero[4];
};
_Static_assert(sizeof(struct fabmsg_sink_le) == WIRE_FAB_SINK_HDR, "FAB_SINK");

struct fabmsg_sink {
	uint64_t seq;
	uint32_t pages;
	const uint8_t *data; /* decode: pages * 4096 bytes in the payload */
};

/*
 * On the wire: FAB_SINK_END (request, the measuring side: what it sent)
 * and FAB_SINK_DONE (the answer: what came, and the receiver's time from
 * the first FAB_SINK to FAB_SINK_END).
 */
struct fabmsg_sink_end_le {
	uint8_t frames[8];
	uint8_t bytes[8]; /* payload bytes of the FAB_SINK frames */
};
_Static_assert(sizeof(struct fabmsg_sink_end_le) == WIRE_FAB_SINK_END_SIZE,
	       "FAB_SINK_END");

struct fabmsg_sink_done_le {
	uint8_t frames[8];
	uint8_t bytes[8];
	uint8_t ns[8];
};
_Static_assert(sizeof(struct fabmsg_sink_done_le) == WIRE_FAB_SINK_DONE_SIZE,
	       "FAB_SINK_DONE");

struct fabmsg_sink_count {
	uint64_t frames, bytes;
	uint64_t ns; /* FAB_SINK_DONE only; 0 in FAB_SINK_END */
};

/*
 * On the wire: FAB_CLOCK (request: the sender's CLOCK_REALTIME in ns
 * when it sent it) and FAB_CLOCK_REPLY (the request's time echoed, then
 * the answering side's CLOCK_REALTIME when it answered).
 */
struct fabmsg_clock_le {
	uint8_t sent_ns[8];
};
_Static_assert(sizeof(struct fabmsg_clock_le) == WIRE_FAB_CLOCK_SIZE,
	       "FAB_CLOCK");

struct fabmsg_clock_reply_le {
	uint8_t sent_ns[8];
	uint8_t peer_ns[8];
};
_Static_assert(sizeof(struct fabmsg_clock_reply_le) ==
		       WIRE_FAB_CLOCK_REPLY_SIZE,
	       "FAB_CLOCK_REPLY");

struct fabmsg_clock {
	uint64_t sent_ns;
	uint64_t peer_ns; /* FAB_CLOCK_REPLY only */
};

/* FAB_ECHO and FAB_ECHO_REPLY (the same layout). */
int fabmsg_echo_encode(const struct fabmsg_echo *m, void *buf, size_t cap);
int fabmsg_echo_decode(const void *buf, size_t len, struct fabmsg_echo *m);

/* FAB_SINK; the encoder writes the header only (WIRE_FAB_SINK_HDR bytes):
 * the pages follow it in the same frame (link_send's second part). */
int fabmsg_sink_encode(const struct fabmsg_sink *m, void *buf, size_t cap);
int fabmsg_sink_decode(const void *buf, size_t len, struct fabmsg_sink *m);

/* FAB_SINK_END (ns must be 0) and FAB_SINK_DONE. */
int fabmsg_sink_end_encode(const struct fabmsg_sink_count *m, void *buf,
			   size_t cap);
int fabmsg_sink_end_decode(const void *buf, size_t len,
			   struct fabmsg_sink_count *m);
int fabmsg_sink_done_encode(const struct fabmsg_sink_count *m, void *buf,
			    size_t cap);
int fabmsg_sink_done_decode(const void *buf, size_t len,
			    struct fabmsg_sink_count *m);

/* FAB_CLOCK (peer_ns ignored) and FAB_CLOCK_REPLY. */
int fabmsg_clock_encode(const struct fabmsg_clock *m, void *buf, size_t cap);
int fabmsg_clock_decode(const void *buf, size_t len, struct fabmsg_clock *m);
int fabmsg_clock_reply_encode(const struct fabmsg_clock *m, void *buf,
			      size_t cap);
int fabmsg_clock_reply_decode(const void *buf, size_t len,
			      struct fabmsg_clock *m);

#endif
