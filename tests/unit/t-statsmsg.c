/*
 * Unit tests of lib/statsmsg.c, the payloads of stats gathering
 * (PG_STATS_REQ, PG_STATS): they round-trip value for value, the bytes
 * after PG_STATS's head are the stats structs' own bytes on this
 * little-endian host (so no field is left out or out of order), every
 * truncation is refused, and so is every rule broken: magic, version,
 * reserved bytes, an odd seq, sizes that disagree, two nodes in one
 * message.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "avm/statsmsg.h"
#include "tap.h"

#define RUN_VCPUS 3
#define PAGER_AT WIRE_PG_STATS_HDR
#define RUN_AT (WIRE_PG_STATS_HDR + WIRE_PG_STATS_PAGER)

static uint8_t buf[WIRE_PG_STATS_MAX + 64];
static struct pager_stats ps, pd;
static struct run_stats *rs, *rd;
static size_t rs_size;

static void
fill(void *p, size_t len, unsigned seed)
{
	uint8_t *b = p;

	for (size_t i = 0; i < len; i++)
		b[i] = (uint8_t)(i * 7 + seed);
}

/* Stats that pass every check, with a different byte almost everywhere. */
static void
make_stats(void)
{
	fill(&ps, sizeof(ps), 3);
	ps.magic = PAGER_STATS_MAGIC;
	ps.version = PAGER_STATS_VERSION;
	ps.size = sizeof(ps);
	ps.node = 1;
	ps.nodes = 3;
	ps.seq = 0x1000000000000042ull;
	for (int i = 0; i < PAGER_MAX_NODES; i++)
		ps.peer[i].reserved = 0;

	rs_size = run_stats_size(RUN_VCPUS);
	rs = malloc(rs_size);
	rd = malloc(WIRE_PG_STATS_RUN_MAX);
	if (!rs || !rd)
		abort();
	fill(rs, rs_size, 5);
	rs->magic = RUN_STATS_MAGIC;
	rs->version = RUN_STATS_VERSION;
	rs->size = (uint32_t)rs_size;
	rs->node = 1;
	rs->nodes = 3;
	rs->vcpus = RUN_VCPUS;
	rs->vcpus_total = 8;
	rs->state = RUN_VM_RUNNING;
	rs->seq = 8;
	memset(rs->reserved, 0, sizeof(rs->reserved));
	for (uint32_t i = 0; i < RUN_VCPUS; i++) {
		rs->vcpu[i].index = 2 + i;
		rs->vcpu[i].state = RUN_VCPU_HALTED;
	}
}

static int
decode(size_t len, size_t *rlen)
{
	return statsmsg_decode(buf, len, &pd, rd, WIRE_PG_STATS_RUN_MAX, rlen,
			       NULL, 0);
}

static void
test_req(void)
{
	struct statsmsg_req m = { STATSMSG_WANT_RUN }, d = { 0 };
	static const uint8_t want[8] = { 1 };

	is_int(statsmsg_req_encode(&m, buf, sizeof(buf)),
	       WIRE_PG_STATS_REQ_SIZE, "REQ: 8 bytes");
	ok(memcmp(buf, want, 8) == 0, "REQ: flags at 0, reserved at 4");
	ok(statsmsg_req_decode(buf, 8, &d) == 0 && d.flags == m.flags,
	   "REQ round-trips");
	m.flags = 0;
	statsmsg_req_encode(&m, buf, sizeof(buf));
	ok(statsmsg_req_decode(buf, 8, &d) == 0 && d.flags == 0,
	   "REQ: no flags");
	is_int(statsmsg_req_decode(buf, 7, &d), -EMSGSIZE, "REQ: 7 bytes");
	is_int(statsmsg_req_decode(buf, 9, &d), -EMSGSIZE, "REQ: 9 bytes");
	buf[0] = 2;
	is_int(statsmsg_req_decode(buf, 8, &d), -EBADMSG,
	       "REQ: an unknown flag is refused");
	buf[0] = 1;
	for (int i = 4; i < 8; i++) {
		buf[i] = 0x80;
		is_int(statsmsg_req_decode(buf, 8, &d), -EBADMSG,
		       "REQ: reserved byte %d not 0 is refused", i);
		buf[i] = 0;
	}
	m.flags = 4;
	is_int(statsmsg_req_encode(&m, buf, sizeof(buf)), -EINVAL,
	       "REQ: the encoder refuses an unknown flag");
	m.flags = 1;
	is_int(statsmsg_req_encode(&m, buf, 7), -ENOSPC,
	       "REQ: the encoder needs room");
}

static void
test_round_trip(void)
{
	size_t rlen = 99;
	int n;

	n = statsmsg_encode(&ps, NULL, buf, sizeof(buf));
	is_int(n, WIRE_PG_STATS_MIN, "STATS without run stats: 4304 bytes");
	ok(buf[0] == (WIRE_PG_STATS_PAGER & 0xff) &&
		   buf[1] == WIRE_PG_STATS_PAGER >> 8 && buf[4] == 0 &&
		   buf[5] == 0 && buf[15] == 0,
	   "STATS head: pager bytes, run bytes 0, reserved");
	ok(memcmp(buf + PAGER_AT, &ps, sizeof(ps)) == 0,
	   "STATS: the pager stats' bytes, field by field in order");
	ok(decode((size_t)n, &rlen) == 0 && rlen == 0 &&
		   memcmp(&pd, &ps, sizeof(ps)) == 0,
	   "STATS without run stats round-trips");

	n = statsmsg_encode(&ps, rs, buf, sizeof(buf));
	is_int(n, WIRE_PG_STATS_MIN + rs_size,
	       "STATS with 3 vCPUs of run stats: 4304 + 736 bytes");
	is_int(buf[4] | buf[5] << 8, rs_size, "STATS head: run bytes");
	ok(memcmp(buf + RUN_AT, rs, rs_size) == 0,
	   "STATS: the run stats' bytes, field by field in order");
	ok(decode((size_t)n, &rlen) == 0 && rlen == rs_size &&
		   memcmp(&pd, &ps, sizeof(ps)) == 0 &&
		   memcmp(rd, rs, rs_size) == 0,
	   "STATS with run stats round-trips");
	is_int(statsmsg_encode(&ps, rs, buf, (size_t)n - 1), -ENOSPC,
	       "STATS: the encoder needs room");
}

/* Every length short of the whole message is refused, and one more. */
static void
test_truncated(void)
{
	size_t rlen, i;
	int n, wrong = 0;

	for (int with_run = 0; with_run < 2; with_run++) {
		n = statsmsg_encode(&ps, with_run ? rs : NULL, buf,
				    sizeof(buf));
		for (i = 0; i < (size_t)n; i++) {
			int rc = decode(i, &rlen);

			if (rc !=
			    (i < WIRE_PG_STATS_MIN ? -EMSGSIZE : -EBADMSG))
				wrong++;
		}
		ok(wrong == 0, "STATS%s: each of the %d truncations is refused",
		   with_run ? " with run stats" : "", n);
		buf[n] = 0;
		is_int(decode((size_t)n + 1, &rlen), -EBADMSG,
		       "STATS%s: one byte more is refused",
		       with_run ? " with run stats" : "");
	}
	is_int(decode(WIRE_PG_STATS_MAX + 1, &rlen), -EMSGSIZE,
	       "STATS: over the type's maximum");
}

/* Flips one byte at off of a good message: the decoder says -EBADMSG. */
static void
refused(size_t off, uint8_t x, const char *what)
{
	size_t rlen;
	int n = statsmsg_encode(&ps, rs, buf, sizeof(buf));
	char why[200] = "";

	buf[off] ^= x;
	is_int(statsmsg_decode(buf, (size_t)n, &pd, rd, WIRE_PG_STATS_RUN_MAX,
			       &rlen, why, sizeof(why)),
	       -EBADMSG, "STATS: %s is refused (%s)", what, why);
}

static void
test_rules(void)
{
	char what[80];
	size_t i, rlen;
	int n;

	refused(PAGER_AT, 1, "the pager stats' magic");
	refused(PAGER_AT + offsetof(struct pager_stats, version), 3,
		"pager stats version 1");
	refused(RUN_AT, 1, "the run stats' magic");
	refused(RUN_AT + offsetof(struct run_stats, version), 3,
		"run stats version 2");
	for (i = 8; i < WIRE_PG_STATS_HDR; i++) {
		snprintf(what, sizeof(what), "head reserved byte %zu", i);
		refused(i, 0x10, what);
	}
	refused(PAGER_AT + offsetof(struct pager_stats, peer[0].reserved), 1,
		"peer[0].reserved");
	refused(PAGER_AT + offsetof(struct pager_stats, peer[63].reserved) + 7,
		0x80, "peer[63].reserved");
	for (i = 0; i < 5; i++) {
		snprintf(what, sizeof(what), "run reserved[%zu]", i);
		refused(RUN_AT + offsetof(struct run_stats, reserved) + 8 * i,
			1, what);
	}
	refused(PAGER_AT + offsetof(struct pager_stats, seq), 1,
		"an odd pager seq (a torn copy)");
	refused(RUN_AT + offsetof(struct run_stats, seq), 1, "an odd run seq");
	refused(PAGER_AT + offsetof(struct pager_stats, size), 8,
		"a pager stats size of another layout");
	refused(PAGER_AT + offsetof(struct pager_stats, node), 3,
		"pager stats of node 2 with run stats of node 1");
	refused(RUN_AT + offsetof(struct run_stats, vcpus), 1,
		"run stats of 2 vCPUs in the bytes of 3");
	refused(RUN_AT + offsetof(struct run_stats, vcpu[1].state), 0x40,
		"a vCPU state out of range");
	refused(0, 8, "pager bytes that are not 4288");
	refused(4, 8, "run bytes that disagree with the length");

	/* run bytes short of a run stats header, length to match */
	n = statsmsg_encode(&ps, NULL, buf, sizeof(buf));
	buf[4] = 8;
	is_int(decode((size_t)n + 8, &rlen), -EBADMSG,
	       "STATS: 8 bytes of run stats are refused");

	n = statsmsg_encode(&ps, rs, buf, sizeof(buf));
	is_int(statsmsg_decode(buf, (size_t)n, &pd, rd, rs_size - 1, &rlen,
			       NULL, 0),
	       -ENOSPC, "STATS: no room for the run stats is -ENOSPC");

	/* the encoder runs the decoder's checks */
	ps.seq++;
	is_int(statsmsg_encode(&ps, NULL, buf, sizeof(buf)), -EINVAL,
	       "encoder: an odd seq");
	ps.seq--;
	ps.peer[1].reserved = 1;
	is_int(statsmsg_encode(&ps, NULL, buf, sizeof(buf)), -EINVAL,
	       "encoder: a reserved field");
	ps.peer[1].reserved = 0;
	ps.version = 1;
	is_int(statsmsg_encode(&ps, NULL, buf, sizeof(buf)), -EINVAL,
	       "encoder: another pager stats version");
	ps.version = PAGER_STATS_VERSION;
	rs->node = 2;
	is_int(statsmsg_encode(&ps, rs, buf, sizeof(buf)), -EINVAL,
	       "encoder: run stats of another node");
	rs->node = 1;
	rs->size++;
	is_int(statsmsg_encode(&ps, rs, buf, sizeof(buf)), -EINVAL,
	       "encoder: a run stats size that does not match vCPUs");
	rs->size--;
}

/* The most vCPUs a run stats file may have still fit one frame. */
static void
test_max(void)
{
	const struct wire_type_info *q = wire_type_info(WIRE_T_PG_STATS_REQ);
	const struct wire_type_info *t = wire_type_info(WIRE_T_PG_STATS);
	size_t size = run_stats_size(RUN_STATS_VCPUS_MAX), rlen = 0;
	struct run_stats *big = calloc(1, size);
	int n;

	if (!big)
		abort();
	memcpy(big, rs, sizeof(*big));
	big->vcpus = big->vcpus_total = RUN_STATS_VCPUS_MAX;
	big->size = (uint32_t)size;
	n = statsmsg_encode(&ps, big, buf, sizeof(buf));
	is_int(n, WIRE_PG_STATS_MAX, "STATS with 1024 vCPUs: the maximum");
	ok(n <= (int)WIRE_MAX_PAYLOAD, "... which fits a frame");
	ok(decode((size_t)n, &rlen) == 0 && rlen == size &&
		   memcmp(rd, big, size) == 0,
	   "STATS with 1024 vCPUs round-trips");
	free(big);
	ok(q && q->type == 25 && q->min_len == 8 && q->max_len == 8 &&
		   q->kind == WIRE_K_REQUEST,
	   "type table: PG_STATS_REQ is 25, 8 bytes, a request");
	ok(t && t->type == 26 && t->min_len == WIRE_PG_STATS_MIN &&
		   t->max_len == WIRE_PG_STATS_MAX && t->kind == WIRE_K_REPLY,
	   "type table: PG_STATS is 26, 4304..%u bytes, a reply",
	   WIRE_PG_STATS_MAX);
}

int
main(void)
{
	make_stats();
	test_req();
	test_round_trip();
	test_truncated();
	test_rules();
	test_max();
	free(rs);
	free(rd);
	return done_testing();
}
