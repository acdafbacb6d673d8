/*
 * Unit tests of the coherence messages' codec (lib/pager_client.c,
 * pager_msg_encode/decode): the 16 bytes at the offsets man/avm-wire.7
 * gives, and the ver field's rule per type: PG_REQ carries the faulting
 * thread's id (any value), PG_GRANT the page's version, PG_INVAL and
 * PG_INVAL_ACK zero.  PG_PREFETCH has PG_BULK_DATA's layout (a run of
 * pages).
 */
#include <errno.h>
#include <string.h>

#include "avm/pager.h"
#include "tap.h"

static uint8_t b[WIRE_PG_MSG_SIZE + 3 * PAGER_PAGE_SIZE];

static void
test_req(void)
{
	struct pager_msg m = { .page = 0x0102030405060708ull,
			       .a = PAGER_ACC_WRITE,
			       .b = PAGER_HOLD_SHARED,
			       .off = 0x123,
			       .ver = 0xdeadbeef },
			 d;

	is_int(pager_msg_encode(WIRE_T_PG_REQ, &m, b, sizeof(b)),
	       WIRE_PG_MSG_SIZE, "REQ encodes to 16 bytes");
	ok(b[0] == 8 && b[7] == 1 && b[8] == 2 && b[9] == 1 && b[10] == 0x23 &&
		   b[11] == 1 && b[12] == 0xef && b[15] == 0xde,
	   "REQ: page at 0, access 8, holds 9, offset 10, thread id 12");
	ok(pager_msg_decode(WIRE_T_PG_REQ, b, WIRE_PG_MSG_SIZE, &d) == 0 &&
		   d.page == m.page && d.a == m.a && d.b == m.b &&
		   d.off == m.off && d.ver == 0xdeadbeef,
	   "REQ round-trips, the thread id with it");
	m.ver = 0;
	pager_msg_encode(WIRE_T_PG_REQ, &m, b, sizeof(b));
	ok(pager_msg_decode(WIRE_T_PG_REQ, b, WIRE_PG_MSG_SIZE, &d) == 0 &&
		   d.ver == 0,
	   "REQ: thread id 0 (unknown) decodes");
	b[8] = 3;
	is_int(pager_msg_decode(WIRE_T_PG_REQ, b, WIRE_PG_MSG_SIZE, &d),
	       -EBADMSG, "REQ: access 3 is refused");
	b[8] = 1;
	b[10] = 0x00;
	b[11] = 0x10;
	is_int(pager_msg_decode(WIRE_T_PG_REQ, b, WIRE_PG_MSG_SIZE, &d),
	       -EBADMSG, "REQ: offset 4096 is refused");
	is_int(pager_msg_decode(WIRE_T_PG_REQ, b, WIRE_PG_MSG_SIZE - 1, &d),
	       -EMSGSIZE, "REQ: 15 bytes");
}

static void
test_ver_zero(void)
{
	struct pager_msg inv = { .page = 5, .a = PAGER_INV_DROP, .b = 1 };
	struct pager_msg ack = { .page = 5, .a = 1, .b = PAGER_DATA_KEEP };
	struct pager_msg g = { .page = 5,
			       .a = PAGER_HOLD_EXCLUSIVE,
			       .b = PAGER_DATA_ZERO,
			       .ver = 77 },
			 d;

	is_int(pager_msg_encode(WIRE_T_PG_GRANT, &g, b, sizeof(b)),
	       WIRE_PG_MSG_SIZE, "GRANT with version 77 encodes");
	ok(pager_msg_decode(WIRE_T_PG_GRANT, b, WIRE_PG_MSG_SIZE, &d) == 0 &&
		   d.ver == 77,
	   "GRANT round-trips its version");
	is_int(pager_msg_encode(WIRE_T_PG_INVAL, &inv, b, sizeof(b)),
	       WIRE_PG_MSG_SIZE, "INVAL encodes");
	b[12] = 1;
	is_int(pager_msg_decode(WIRE_T_PG_INVAL, b, WIRE_PG_MSG_SIZE, &d),
	       -EBADMSG, "INVAL: a nonzero ver is refused");
	inv.ver = 1;
	is_int(pager_msg_encode(WIRE_T_PG_INVAL, &inv, b, sizeof(b)), -EINVAL,
	       "INVAL: the encoder refuses a nonzero ver");
	is_int(pager_msg_encode(WIRE_T_PG_INVAL_ACK, &ack, b, sizeof(b)),
	       WIRE_PG_MSG_SIZE, "INVAL_ACK encodes");
	b[15] = 1;
	is_int(pager_msg_decode(WIRE_T_PG_INVAL_ACK, b, WIRE_PG_MSG_SIZE, &d),
	       -EBADMSG, "INVAL_ACK: a nonzero ver is refused");
}

static void
test_prefetch(void)
{
	struct pager_bulk m = { .first = 77, .count = 3 }, d;

	is_int(pager_bulk_encode(&m, b, sizeof(b)), WIRE_PG_MSG_SIZE,
	       "PREFETCH's head encodes as PG_BULK_DATA's");
	ok(b[0] == 77 && b[8] == 3 && b[12] == 0,
	   "PREFETCH: first page 0, count 8, reserved 12");
	ok(pager_bulk_decode(WIRE_T_PG_PREFETCH, b,
			     WIRE_PG_MSG_SIZE + 3 * PAGER_PAGE_SIZE, &d) == 0 &&
		   d.first == 77 && d.count == 3,
	   "PREFETCH of 3 pages decodes with their 3 pages");
	is_int(pager_bulk_decode(WIRE_T_PG_PREFETCH, b,
				 WIRE_PG_MSG_SIZE + 2 * PAGER_PAGE_SIZE, &d),
	       -EBADMSG, "PREFETCH: a count the bytes do not match is refused");
	is_int(pager_bulk_decode(WIRE_T_PG_PREFETCH, b, WIRE_PG_MSG_SIZE, &d),
	       -EMSGSIZE, "PREFETCH without pages: too short");
	b[12] = 1;
	is_int(pager_bulk_decode(WIRE_T_PG_PREFETCH, b,
				 WIRE_PG_MSG_SIZE + 3 * PAGER_PAGE_SIZE, &d),
	       -EBADMSG, "PREFETCH: reserved bytes must be zero");
	is_int(pager_msg_decode(WIRE_T_PG_PREFETCH, b, WIRE_PG_DATA_SIZE,
				(struct pager_msg *)&(struct pager_msg){ 0 }),
	       -EBADMSG, "PREFETCH is not a coherence message's layout");
}

int
main(void)
{
	test_req();
	test_ver_zero();
	test_prefetch();
	return done_testing();
}
