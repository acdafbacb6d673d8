/*
 * Unit tests of lib/fabmsg.c: the link measurement payloads round-trip
 * value for value at the offsets man/avm-wire.7 gives, and every rule
 * the decoders check refuses a payload that breaks it.
 */
#include <errno.h>
#include <string.h>

#include "avm/fabmsg.h"
#include "tap.h"

static uint8_t b[WIRE_FAB_SINK_MAX + 16];

static void
test_echo(void)
{
	uint8_t fill[56];
	struct fabmsg_echo m = { .seq = 0x0102030405060708ull,
				 .fill = fill,
				 .fill_len = sizeof(fill) },
			   d;

	memset(fill, 0xa5, sizeof(fill));
	is_int(fabmsg_echo_encode(&m, b, sizeof(b)), 64,
	       "FAB_ECHO of 56 bytes of filler is 64 bytes");
	ok(b[0] == 8 && b[7] == 1 && b[8] == 0xa5 && b[63] == 0xa5,
	   "FAB_ECHO: seq little-endian at 0, filler from 8");
	ok(fabmsg_echo_decode(b, 64, &d) == 0 && d.seq == m.seq &&
		   d.fill_len == 56 && d.fill == b + 8,
	   "FAB_ECHO round-trips");
	is_int(fabmsg_echo_decode(b, 7, &d), -EMSGSIZE, "FAB_ECHO: 7 bytes");
	is_int(fabmsg_echo_decode(b, WIRE_FAB_ECHO_MAX + 1, &d), -EMSGSIZE,
	       "FAB_ECHO: over 4104 bytes");
	is_int(fabmsg_echo_decode(b, WIRE_FAB_ECHO_MAX, &d), 0,
	       "FAB_ECHO: 4104 bytes");
	m.fill_len = WIRE_FAB_ECHO_MAX;
	is_int(fabmsg_echo_encode(&m, b, sizeof(b)), -EINVAL,
	       "FAB_ECHO: encoder refuses too much filler");
	m.fill_len = 56;
	is_int(fabmsg_echo_encode(&m, b, 63), -ENOSPC,
	       "FAB_ECHO: encoder needs room");
	m.fill = NULL;
	is_int(fabmsg_echo_encode(&m, b, sizeof(b)), -EINVAL,
	       "FAB_ECHO: filler length without filler");
}

static void
test_sink(void)
{
	struct fabmsg_sink m = { .seq = 9, .pages = 2 }, d;
	size_t len = WIRE_FAB_SINK_HDR + 2 * 4096;

	memset(b, 0x5a, sizeof(b));
	is_int(fabmsg_sink_encode(&m, b, sizeof(b)), WIRE_FAB_SINK_HDR,
	       "FAB_SINK: the encoder writes the 16-byte header");
	ok(b[0] == 9 && b[8] == 2 && b[12] == 0 && b[15] == 0 && b[16] == 0x5a,
	   "FAB_SINK: seq at 0, pages at 8, zero at 12, pages from 16");
	ok(fabmsg_sink_decode(b, len, &d) == 0 && d.seq == 9 && d.pages == 2 &&
		   d.data == b + 16,
	   "FAB_SINK round-trips");
	is_int(fabmsg_sink_decode(b, len - 1, &d), -EBADMSG,
	       "FAB_SINK: length must match the pages");
	is_int(fabmsg_sink_decode(b, WIRE_FAB_SINK_HDR + 100, &d), -EMSGSIZE,
	       "FAB_SINK: less than one page");
	is_int(fabmsg_sink_decode(b, WIRE_FAB_SINK_MAX + 1, &d), -EMSGSIZE,
	       "FAB_SINK: over 256 pages");
	b[12] = 1;
	is_int(fabmsg_sink_decode(b, len, &d), -EBADMSG,
	       "FAB_SINK: reserved bytes must be zero");
	b[12] = 0;
	b[8] = 0;
	is_int(fabmsg_sink_decode(b, WIRE_FAB_SINK_MIN, &d), -EBADMSG,
	       "FAB_SINK: 0 pages");
	m.pages = 0;
	is_int(fabmsg_sink_encode(&m, b, sizeof(b)), -EINVAL,
	       "FAB_SINK: encoder refuses 0 pages");
	m.pages = WIRE_FAB_SINK_PAGES + 1;
	is_int(fabmsg_sink_encode(&m, b, sizeof(b)), -EINVAL,
	       "FAB_SINK: encoder refuses 257 pages");
	m.pages = WIRE_FAB_SINK_PAGES;
	is_int(fabmsg_sink_encode(&m, b, sizeof(b)), WIRE_FAB_SINK_HDR,
	       "FAB_SINK: 256 pages");
	ok(fabmsg_sink_decode(b, WIRE_FAB_SINK_MAX, &d) == 0 &&
		   d.pages == WIRE_FAB_SINK_PAGES,
	   "FAB_SINK: 256 pages decode");
}

static void
test_counts(void)
{
	struct fabmsg_sink_count m = { .frames = 64, .bytes = 1ull << 26 }, d;

	is_int(fabmsg_sink_end_encode(&m, b, sizeof(b)), 16,
	       "FAB_SINK_END is 16 bytes");
	ok(b[0] == 64 && b[11] == 4 && fabmsg_sink_end_decode(b, 16, &d) == 0 &&
		   d.frames == 64 && d.bytes == m.bytes && d.ns == 0,
	   "FAB_SINK_END round-trips at its offsets");
	is_int(fabmsg_sink_end_decode(b, 15, &d), -EMSGSIZE,
	       "FAB_SINK_END: 15 bytes");
	m.ns = 1;
	is_int(fabmsg_sink_end_encode(&m, b, sizeof(b)), -EINVAL,
	       "FAB_SINK_END carries no time");
	m.ns = 123456789;
	is_int(fabmsg_sink_done_encode(&m, b, sizeof(b)), 24,
	       "FAB_SINK_DONE is 24 bytes");
	ok(fabmsg_sink_done_decode(b, 24, &d) == 0 && d.frames == 64 &&
		   d.bytes == m.bytes && d.ns == 123456789 && b[16] == 0x15,
	   "FAB_SINK_DONE round-trips, ns at 16");
	is_int(fabmsg_sink_done_decode(b, 25, &d), -EMSGSIZE,
	       "FAB_SINK_DONE: 25 bytes");
	is_int(fabmsg_sink_done_encode(&m, b, 23), -ENOSPC,
	       "FAB_SINK_DONE: encoder needs room");
}

static void
test_clock(void)
{
	struct fabmsg_clock m = { .sent_ns = 0x1122334455667788ull,
				  .peer_ns = 42 },
			    d;

	is_int(fabmsg_clock_encode(&m, b, sizeof(b)), 8,
	       "FAB_CLOCK is 8 bytes");
	ok(b[0] == 0x88 && b[7] == 0x11 && fabmsg_clock_decode(b, 8, &d) == 0 &&
		   d.sent_ns == m.sent_ns && d.peer_ns == 0,
	   "FAB_CLOCK round-trips, the sender's time at 0");
	is_int(fabmsg_clock_decode(b, 9, &d), -EMSGSIZE, "FAB_CLOCK: 9 bytes");
	is_int(fabmsg_clock_reply_encode(&m, b, sizeof(b)), 16,
	       "FAB_CLOCK_REPLY is 16 bytes");
	ok(b[8] == 42 && fabmsg_clock_reply_decode(b, 16, &d) == 0 &&
		   d.sent_ns == m.sent_ns && d.peer_ns == 42,
	   "FAB_CLOCK_REPLY round-trips, the peer's time at 8");
	is_int(fabmsg_clock_reply_decode(b, 8, &d), -EMSGSIZE,
	       "FAB_CLOCK_REPLY: 8 bytes");
	is_int(fabmsg_clock_reply_encode(&m, b, 15), -ENOSPC,
	       "FAB_CLOCK_REPLY: encoder needs room");
}

static void
test_table(void)
{
	const struct wire_type_info *t = wire_type_info(WIRE_T_FAB_SINK);

	ok(t && t->min_len == WIRE_FAB_SINK_MIN &&
		   t->max_len == WIRE_FAB_SINK_MAX &&
		   t->max_len <= WIRE_MAX_PAYLOAD,
	   "FAB_SINK's line in the type table fits a frame");
	ok(wire_type_info(WIRE_T_FAB_ECHO_REPLY) &&
		   wire_type_info(WIRE_T_FAB_SINK_DONE),
	   "the replies are in the type table");
}

int
main(void)
{
	test_echo();
	test_sink();
	test_counts();
	test_clock();
	test_table();
	return done_testing();
}
