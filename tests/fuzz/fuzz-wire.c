/*
 * libFuzzer target for lib/wire.c.  The input is a byte stream from a
 * peer: it is split with wire_frame_next(), every frame's payload goes to
 * its decoder, and whatever decodes is encoded again and must come back
 * byte for byte (the encodings are canonical) and value for value: link
 * management, link measurement, stats gathering, snapshot saving.  The
 * whole input also
 * goes to every payload decoder, and the same stream is read back
 * through wire_recv() over a socketpair, which must see exactly the
 * frames wire_frame_next() saw.  Any disagreement aborts.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "avm/fabmsg.h"
#include "avm/link.h"
#include "avm/savemsg.h"
#include "avm/statsmsg.h"
#include "avm/util.h"
#include "avm/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_SEEN 4096
#define MAX_SOCK_INPUT 32768

struct seen {
	struct wire_hdr h;
	size_t off; /* of the payload in the input */
};

static struct seen seen[MAX_SEEN];
static uint8_t rbuf[WIRE_MAX_PAYLOAD];

#define check(cond)                                                         \
	do {                                                                \
		if (!(cond)) {                                              \
			fprintf(stderr, "fuzz-wire: %s:%d: %s\n", __FILE__, \
				__LINE__, #cond);                           \
			abort();                                            \
		}                                                           \
	} while (0)

static void
hello_same(const struct wire_hello *a, const struct wire_hello *b)
{
	check(a->version_min == b->version_min);
	check(a->version_max == b->version_max);
	check(a->role == b->role);
	check(a->node == b->node && a->nodes == b->nodes);
	check(strcmp(a->vm, b->vm) == 0);
	check(memcmp(a->nonce, b->nonce, WIRE_NONCE_LEN) == 0);
}

static void
try_hello(const uint8_t *p, size_t len)
{
	struct wire_hello a, b;
	uint8_t e[WIRE_HELLO_MAX];
	int n, rc;

	rc = wire_hello_decode(p, len, &a);
	if (len < WIRE_HELLO_SIZE || len > WIRE_HELLO_MAX)
		check(rc == -EMSGSIZE);
	if (rc < 0) {
		check(rc == -EMSGSIZE || rc == -EBADMSG);
		return;
	}
	check(a.vm[WIRE_VM_NAME_LEN - 1] == '\0' && wire_vm_name_ok(a.vm));
	check(a.version_min >= 1 && a.version_min <= a.version_max);
	check(a.nodes <= WIRE_MAX_NODES);
	n = wire_hello_encode(&a, e, sizeof(e));
	check(n == WIRE_HELLO_SIZE);
	check(memcmp(e, p, WIRE_HELLO_SIZE) == 0);
	check(wire_hello_decode(e, (size_t)n, &b) == 0);
	hello_same(&a, &b);
}

static void
try_welcome(const uint8_t *p, size_t len)
{
	struct wire_welcome a, b;
	uint8_t e[WIRE_WELCOME_SIZE];
	int n, rc;

	rc = wire_welcome_decode(p, len, &a);
	if (len != WIRE_WELCOME_SIZE)
		check(rc == -EMSGSIZE);
	if (rc < 0) {
		check(rc == -EMSGSIZE || rc == -EBADMSG);
		return;
	}
	n = wire_welcome_encode(&a, e, sizeof(e));
	check(n == WIRE_WELCOME_SIZE && memcmp(e, p, WIRE_WELCOME_SIZE) == 0);
	check(wire_welcome_decode(e, (size_t)n, &b) == 0);
	check(a.version == b.version && a.version != 0);
	check(memcmp(a.nonce, b.nonce, WIRE_NONCE_LEN) == 0);
}

static void
try_error(const uint8_t *p, size_t len)
{
	struct wire_error a, b;
	uint8_t e[WIRE_ERROR_MAX];
	int n, rc;

	rc = wire_error_decode(p, len, &a);
	if (len < WIRE_ERROR_MIN || len > WIRE_ERROR_MAX)
		check(rc == -EMSGSIZE);
	if (rc < 0) {
		check(rc == -EMSGSIZE || rc == -EBADMSG);
		return;
	}
	check(a.code != WIRE_E_NONE);
	check(strlen(a.msg) == len - WIRE_ERROR_MIN);
	n = wire_error_encode(&a, e, sizeof(e));
	check(n >= 0 && (size_t)n == len && memcmp(e, p, len) == 0);
	check(wire_error_decode(e, (size_t)n, &b) == 0);
	check(a.code == b.code && strcmp(a.msg, b.msg) == 0);
	(void)wire_errcode_str(a.code);
	(void)wire_errcode_to_errno(a.code);
}

/* The link measurement payloads (fabmsg.h). */
static uint8_t fe[WIRE_FAB_SINK_MAX];

static void
try_fab_echo(const uint8_t *p, size_t len)
{
	struct fabmsg_echo a, b;
	int n, rc = fabmsg_echo_decode(p, len, &a);

	if (len < WIRE_FAB_ECHO_MIN || len > WIRE_FAB_ECHO_MAX)
		check(rc == -EMSGSIZE);
	if (rc < 0) {
		check(rc == -EMSGSIZE);
		return;
	}
	check(a.fill == p + WIRE_FAB_ECHO_MIN);
	n = fabmsg_echo_encode(&a, fe, sizeof(fe));
	check(n >= 0 && (size_t)n == len && memcmp(fe, p, len) == 0);
	check(fabmsg_echo_decode(fe, len, &b) == 0 && b.seq == a.seq &&
	      b.fill_len == a.fill_len);
}

static void
try_fab_sink(const uint8_t *p, size_t len)
{
	struct fabmsg_sink a, b;
	int n, rc = fabmsg_sink_decode(p, len, &a);

	if (len < WIRE_FAB_SINK_MIN || len > WIRE_FAB_SINK_MAX)
		check(rc == -EMSGSIZE);
	if (rc < 0) {
		check(rc == -EMSGSIZE || rc == -EBADMSG);
		return;
	}
	check(a.pages >= 1 && a.pages <= WIRE_FAB_SINK_PAGES);
	check(len == WIRE_FAB_SINK_HDR + (size_t)a.pages * WIRE_PG_PAGE_SIZE);
	n = fabmsg_sink_encode(&a, fe, sizeof(fe));
	check(n == WIRE_FAB_SINK_HDR && memcmp(fe, p, WIRE_FAB_SINK_HDR) == 0);
	memcpy(fe + n, a.data, len - WIRE_FAB_SINK_HDR);
	check(fabmsg_sink_decode(fe, len, &b) == 0 && b.seq == a.seq &&
	      b.pages == a.pages);
}

static void
try_fab_count(const uint8_t *p, size_t len, int done)
{
	struct fabmsg_sink_count a, b;
	int n, rc;

	rc = done ? fabmsg_sink_done_decode(p, len, &a)
		  : fabmsg_sink_end_decode(p, len, &a);
	check(rc == 0 || rc == -EMSGSIZE);
	check((rc == 0) == (len == (done ? WIRE_FAB_SINK_DONE_SIZE
					 : WIRE_FAB_SINK_END_SIZE)));
	if (rc < 0)
		return;
	n = done ? fabmsg_sink_done_encode(&a, fe, sizeof(fe))
		 : fabmsg_sink_end_encode(&a, fe, sizeof(fe));
	check(n >= 0 && (size_t)n == len && memcmp(fe, p, len) == 0);
	rc = done ? fabmsg_sink_done_decode(fe, len, &b)
		  : fabmsg_sink_end_decode(fe, len, &b);
	check(rc == 0 && memcmp(&a, &b, sizeof(a)) == 0);
}

static void
try_fab_clock(const uint8_t *p, size_t len, int reply)
{
	struct fabmsg_clock a, b;
	int n, rc;

	rc = reply ? fabmsg_clock_reply_decode(p, len, &a)
		   : fabmsg_clock_decode(p, len, &a);
	check((rc == 0) == (len == (reply ? WIRE_FAB_CLOCK_REPLY_SIZE
					  : WIRE_FAB_CLOCK_SIZE)));
	check(rc == 0 || rc == -EMSGSIZE);
	if (rc < 0)
		return;
	n = reply ? fabmsg_clock_reply_encode(&a, fe, sizeof(fe))
		  : fabmsg_clock_encode(&a, fe, sizeof(fe));
	check(n >= 0 && (size_t)n == len && memcmp(fe, p, len) == 0);
	rc = reply ? fabmsg_clock_reply_decode(fe, len, &b)
		   : fabmsg_clock_decode(fe, len, &b);
	check(rc == 0 && a.sent_ns == b.sent_ns && a.peer_ns == b.peer_ns);
}

/* Stats gathering (statsmsg.h): what decodes encodes back the same. */
static void
try_stats_req(const uint8_t *p, size_t len)
{
	struct statsmsg_req a, b;
	int n, rc = statsmsg_req_decode(p, len, &a);

	check(rc == 0 || rc == -EMSGSIZE || rc == -EBADMSG);
	if (len != WIRE_PG_STATS_REQ_SIZE)
		check(rc == -EMSGSIZE);
	if (rc < 0)
		return;
	check((a.flags & ~STATSMSG_WANT_RUN) == 0);
	n = statsmsg_req_encode(&a, fe, sizeof(fe));
	check(n == (int)len && memcmp(fe, p, len) == 0);
	check(statsmsg_req_decode(fe, len, &b) == 0 && b.flags == a.flags);
}

static struct pager_stats sp, sp2;
static uint8_t srun[WIRE_PG_STATS_RUN_MAX], srun2[WIRE_PG_STATS_RUN_MAX];

static void
try_stats(const uint8_t *p, size_t len)
{
	struct run_stats *rs = (struct run_stats *)srun;
	size_t rlen = 1, rlen2;
	char why[256];
	int n, rc;

	rc = statsmsg_decode(p, len, &sp, rs, sizeof(srun), &rlen, why,
			     sizeof(why));
	check(rc == 0 || rc == -EMSGSIZE || rc == -EBADMSG);
	if (len < WIRE_PG_STATS_MIN || len > WIRE_PG_STATS_MAX)
		check(rc == -EMSGSIZE);
	if (rc < 0)
		return;
	check(len == WIRE_PG_STATS_MIN + rlen);
	check(sp.seq % 2 == 0 && (!rlen || rs->node == sp.node));
	n = statsmsg_encode(&sp, rlen ? rs : NULL, fe, sizeof(fe));
	check(n == (int)len && memcmp(fe, p, len) == 0);
	rc = statsmsg_decode(fe, len, &sp2, (struct run_stats *)srun2,
			     sizeof(srun2), &rlen2, NULL, 0);
	check(rc == 0 && rlen2 == rlen);
	check(memcmp(&sp, &sp2, sizeof(sp)) == 0);
	check(memcmp(srun, srun2, rlen) == 0);
}

/* Snapshot saving (savemsg.h): what decodes encodes back the same. */
static void
try_save_req(const uint8_t *p, size_t len)
{
	struct savemsg_req a, b;
	int n, rc = savemsg_req_decode(p, len, &a);

	check(rc == 0 || rc == -EMSGSIZE || rc == -EBADMSG);
	if (len < WIRE_PG_SAVE_MIN || len > WIRE_PG_SAVE_MAX)
		check(rc == -EMSGSIZE);
	if (rc < 0)
		return;
	check(strlen(a.path) == len - WIRE_PG_SAVE_HDR && a.path[0] == '/');
	check(a.level >= -1 && a.level <= 9);
	check(a.chunk_pages >= 1 && a.chunk_pages <= SNAP_CHUNK_PAGES_MAX);
	check(a.nodes >= 1 && a.nodes <= PAGER_MAX_NODES);
	n = savemsg_req_encode(&a, fe, sizeof(fe));
	check(n == (int)len && memcmp(fe, p, len) == 0);
	check(savemsg_req_decode(fe, len, &b) == 0);
	check(memcmp(a.snap_id, b.snap_id, sizeof(a.snap_id)) == 0);
	check(a.level == b.level && a.chunk_pages == b.chunk_pages);
	check(a.nodes == b.nodes && strcmp(a.path, b.path) == 0);
	check(savemsg_req_encode(&a, fe, len - 1) == -ENOSPC);
}

static void
save_part_same(const struct savemsg_part *a, const struct savemsg_part *b)
{
	const struct snap_part_info *x = &a->info, *y = &b->info;

	check(x->node == y->node && x->chunks == y->chunks);
	check(memcmp(x->name, y->name, sizeof(x->name)) == 0);
	check(x->file_bytes == y->file_bytes && x->ram_off == y->ram_off);
	check(x->ram_bytes == y->ram_bytes && x->offset == y->offset);
	check(x->stored_bytes == y->stored_bytes);
	check(x->index_off == y->index_off && x->file_crc == y->file_crc);
	check(x->index_crc == y->index_crc);
	check(a->write_ns == b->write_ns && a->fetched == b->fetched);
}

/* What every decoded part keeps, whatever the bytes were. */
static void
save_part_sane(const struct savemsg_part *m)
{
	const struct snap_part_info *i = &m->info;
	size_t n = strnlen(i->name, sizeof(i->name));
	uint64_t end;

	check(n >= 1 && n < sizeof(i->name) && !strchr(i->name, '/'));
	check(i->node < PAGER_MAX_NODES);
	check(i->ram_bytes > 0 && i->ram_bytes % 4096 == 0);
	check(i->ram_off % 4096 == 0);
	check(i->ram_bytes <= SNAP_MEM_MAX &&
	      i->ram_off <= SNAP_MEM_MAX - i->ram_bytes);
	check(i->chunks >= 1 && i->chunks <= i->ram_bytes / 4096);
	check(i->file_bytes >= SNAP_HDR_SIZE + SNAP_TRAILER_SIZE);
	end = i->file_bytes - SNAP_TRAILER_SIZE;
	check(i->offset >= SNAP_HDR_SIZE && i->offset <= end);
	check(i->stored_bytes <= end - i->offset);
	check(i->index_off >= SNAP_HDR_SIZE && i->index_off <= end);
	check((uint64_t)i->chunks * SNAP_CHUNK_SIZE <= end - i->index_off);
}

static void
try_save_part(const uint8_t *p, size_t len)
{
	struct savemsg_part a, b;
	int n, rc = savemsg_part_decode(p, len, &a);

	check(rc == 0 || rc == -EMSGSIZE || rc == -EBADMSG);
	check((rc == -EMSGSIZE) == (len != WIRE_PG_PART_SIZE));
	if (rc < 0)
		return;
	save_part_sane(&a);
	n = savemsg_part_encode(&a, fe, sizeof(fe));
	check(n == (int)len && memcmp(fe, p, len) == 0);
	check(savemsg_part_decode(fe, len, &b) == 0);
	save_part_same(&a, &b);
	check(savemsg_part_encode(&a, fe, len - 1) == -ENOSPC);
}

static struct savemsg_part dp[PAGER_MAX_NODES], dp2[PAGER_MAX_NODES];

static void
try_save_done(const uint8_t *p, size_t len)
{
	struct savemsg_part one;
	uint32_t nodes = 0, nodes2 = 0, i;
	uint64_t ns = 0, ns2 = 0, off = 0;
	int n, rc;

	rc = savemsg_done_decode(p, len, dp, PAGER_MAX_NODES, &nodes, &ns);
	check(rc == 0 || rc == -EMSGSIZE || rc == -EBADMSG);
	if (len < WIRE_PG_SAVE_DONE_MIN || len > WIRE_PG_SAVE_DONE_MAX ||
	    (len - WIRE_PG_SAVE_DONE_HDR) % WIRE_PG_PART_SIZE)
		check(rc == -EMSGSIZE);
	if (rc < 0)
		return;
	check(nodes >= 1 && nodes <= PAGER_MAX_NODES);
	check(len == WIRE_PG_SAVE_DONE_HDR + (size_t)nodes * WIRE_PG_PART_SIZE);
	for (i = 0; i < nodes; i++) {
		save_part_sane(&dp[i]);
		check(dp[i].info.node == i && dp[i].info.ram_off == off);
		off += dp[i].info.ram_bytes;
		/* each part is a PG_SAVE_PART_DONE payload of its own */
		check(savemsg_part_decode(p + WIRE_PG_SAVE_DONE_HDR +
						  i * WIRE_PG_PART_SIZE,
					  WIRE_PG_PART_SIZE, &one) == 0);
		save_part_same(&dp[i], &one);
	}
	n = savemsg_done_encode(dp, nodes, ns, fe, sizeof(fe));
	check(n == (int)len && memcmp(fe, p, len) == 0);
	rc = savemsg_done_decode(fe, len, dp2, nodes, &nodes2, &ns2);
	check(rc == 0 && nodes2 == nodes && ns2 == ns);
	for (i = 0; i < nodes; i++)
		save_part_same(&dp[i], &dp2[i]);
	check(savemsg_done_encode(dp, nodes, ns, fe, len - 1) == -ENOSPC);
	rc = savemsg_done_decode(p, len, dp2, nodes - 1, &nodes2, &ns2);
	check(rc == -ENOSPC);
}

/* The payload of one frame, to the decoder its header names. */
static void
try_payload(const struct wire_hdr *h, const uint8_t *p)
{
	uint8_t e[WIRE_HDR_SIZE];

	check(h->len <= WIRE_MAX_PAYLOAD);
	check(wire_type_info(h->type) != NULL);
	check(wire_hdr_encode(h, e) == 0);
	check(memcmp(e, p - WIRE_HDR_SIZE, WIRE_HDR_SIZE) == 0);
	if (h->flags & WIRE_F_ERROR) {
		check(h->flags & WIRE_F_REPLY);
		try_error(p, h->len);
		return;
	}
	switch (h->type) {
	case WIRE_T_HELLO:
		try_hello(p, h->len);
		break;
	case WIRE_T_WELCOME:
		try_welcome(p, h->len);
		break;
	case WIRE_T_ERROR:
		try_error(p, h->len);
		break;
	case WIRE_T_PING:
	case WIRE_T_PONG: {
		uint64_t tok;
		uint8_t e2[WIRE_PING_SIZE];

		check(h->len == WIRE_PING_SIZE);
		check(link_ping_decode(p, h->len, &tok) == 0);
		check(link_ping_encode(tok, e2, sizeof(e2)) == WIRE_PING_SIZE);
		check(memcmp(e2, p, WIRE_PING_SIZE) == 0);
		break;
	}
	case WIRE_T_BYE:
		check(h->len == 0);
		break;
	case WIRE_T_FAB_ECHO:
	case WIRE_T_FAB_ECHO_REPLY:
		try_fab_echo(p, h->len);
		break;
	case WIRE_T_FAB_SINK:
		try_fab_sink(p, h->len);
		break;
	case WIRE_T_FAB_SINK_END:
		try_fab_count(p, h->len, 0);
		break;
	case WIRE_T_FAB_SINK_DONE:
		try_fab_count(p, h->len, 1);
		break;
	case WIRE_T_FAB_CLOCK:
		try_fab_clock(p, h->len, 0);
		break;
	case WIRE_T_FAB_CLOCK_REPLY:
		try_fab_clock(p, h->len, 1);
		break;
	case WIRE_T_PG_STATS_REQ:
		try_stats_req(p, h->len);
		break;
	case WIRE_T_PG_STATS:
		try_stats(p, h->len);
		break;
	case WIRE_T_PG_SAVE_PART:
	case WIRE_T_PG_SAVE:
		try_save_req(p, h->len);
		break;
	case WIRE_T_PG_SAVE_PART_DONE:
		try_save_part(p, h->len);
		break;
	case WIRE_T_PG_SAVE_DONE:
		try_save_done(p, h->len);
		break;
	}
}

/* wire_recv() over a socketpair must see what wire_frame_next() saw. */
static void
try_socket(const uint8_t *data, size_t size, size_t nseen, ssize_t end)
{
	struct wire_hdr h;
	size_t i;
	int sv[2], rc;

	if (size > MAX_SOCK_INPUT || nseen >= MAX_SEEN)
		return;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return;
	check(write_full(sv[1], data, size) == 0);
	close(sv[1]);
	for (i = 0; i < nseen; i++) {
		rc = wire_recv(sv[0], &h, rbuf, sizeof(rbuf), 0);
		check(rc == 0);
		check(h.type == seen[i].h.type && h.flags == seen[i].h.flags);
		check(h.len == seen[i].h.len && h.id == seen[i].h.id);
		check(memcmp(rbuf, data + seen[i].off, h.len) == 0);
	}
	rc = wire_recv(sv[0], &h, rbuf, sizeof(rbuf), 0);
	check(rc == (end == 0 ? -EPIPE : (int)end));
	close(sv[0]);
}

static void
try_version_pick(const uint8_t *d)
{
	uint16_t a = wire_get16(d), b = wire_get16(d + 2);
	uint16_t c = wire_get16(d + 4), e = wire_get16(d + 6);
	uint16_t v = 0;

	if (wire_version_pick(a, b, c, e, &v) == 0) {
		check(v >= a && v <= b && v >= c && v <= e && v != 0);
		check(v == (b < e ? b : e));
		return;
	}
	if (a == 0 || c == 0 || a > b || c > e)
		return;
	check((a > c ? a : c) > (b < e ? b : e));
}

static void
try_strings(const uint8_t *data, size_t size)
{
	struct wire_hello m, d;
	struct wire_error e;
	uint8_t buf[WIRE_HELLO_MAX];
	char s[WIRE_VM_NAME_LEN + 8];
	size_t n = size < sizeof(s) - 1 ? size : sizeof(s) - 1;

	/* Whatever text goes in, wire_error_set's result encodes. */
	wire_error_set(&e, 1, "%.*s", (int)size, (const char *)data);
	check(wire_error_encode(&e, buf, sizeof(buf)) > 0);

	memcpy(s, data, n);
	s[n] = '\0';
	if (!wire_vm_name_ok(s))
		return;
	check(wire_hello_init(&m, WIRE_ROLE_RUN, 0, 1, s) == 0);
	check(wire_hello_encode(&m, buf, sizeof(buf)) == WIRE_HELLO_SIZE);
	check(wire_hello_decode(buf, WIRE_HELLO_SIZE, &d) == 0);
	hello_same(&m, &d);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const void *payload;
	struct wire_hdr h;
	size_t off = 0, nseen = 0;
	ssize_t n = 0;

	while (off < size) {
		n = wire_frame_next(data + off, size - off, &h, &payload);
		if (n <= 0)
			break;
		check((size_t)n == WIRE_HDR_SIZE + h.len);
		check((size_t)n <= size - off);
		check((const uint8_t *)payload == data + off + WIRE_HDR_SIZE);
		try_payload(&h, payload);
		if (nseen < MAX_SEEN)
			seen[nseen] = (struct seen){ h, off + WIRE_HDR_SIZE };
		nseen++;
		off += (size_t)n;
	}
	if (n > 0)
		n = 0;
	check(n == 0 || n == -EBADMSG || n == -ENOMSG || n == -EMSGSIZE);
	try_socket(data, size, nseen, n);

	try_hello(data, size);
	try_welcome(data, size);
	try_fab_echo(data, size);
	try_fab_sink(data, size);
	try_fab_count(data, size, 0);
	try_fab_count(data, size, 1);
	try_fab_clock(data, size, 0);
	try_fab_clock(data, size, 1);
	try_stats_req(data, size);
	try_stats(data, size);
	try_save_req(data, size);
	try_save_part(data, size);
	try_save_done(data, size);
	{
		uint64_t tok;

		check(link_ping_decode(data, size, &tok) ==
		      (size == WIRE_PING_SIZE ? 0 : -EMSGSIZE));
	}
	try_error(data, size);
	if (size >= 8)
		try_version_pick(data);
	try_strings(data, size);
	return 0;
}
