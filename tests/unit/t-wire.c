/*
 * Unit tests of lib/wire.c: header and payload codecs, rejection of bad
 * input, version pick, blocking I/O with deadlines over socketpairs, and
 * the handshake between two threads.
 *
 * With AVM_WIRE_SEED_DIR set it also writes the fuzzer's seed frames
 * (tests/fuzz/seed/fuzz-wire/) there, from the real encoders.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "avm/util.h"
#include "avm/wire.h"
#include "tap.h"

/* A header with any fields, valid or not, bypassing the encoder. */
static void
raw_hdr(uint8_t *p, uint16_t type, uint16_t flags, uint32_t len, uint64_t id)
{
	wire_put16(p, type);
	wire_put16(p + 2, flags);
	wire_put32(p + 4, len);
	wire_put64(p + 8, id);
}

static int
raw_decode(uint16_t type, uint16_t flags, uint32_t len)
{
	uint8_t b[WIRE_HDR_SIZE];
	struct wire_hdr h;

	raw_hdr(b, type, flags, len, 7);
	return wire_hdr_decode(b, sizeof(b), &h);
}

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void
make_pair(int sv[2])
{
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		perror("socketpair");
		exit(1);
	}
}

static void
hello_fill(struct wire_hello *m, uint32_t node, const char *vm, uint8_t seed)
{
	memset(m, 0, sizeof(*m));
	m->version_min = WIRE_VERSION_MIN;
	m->version_max = WIRE_VERSION_MAX;
	m->role = WIRE_ROLE_PAGER_FAULT;
	m->node = node;
	m->nodes = 4;
	snprintf(m->vm, sizeof(m->vm), "%s", vm);
	for (size_t i = 0; i < WIRE_NONCE_LEN; i++)
		m->nonce[i] = (uint8_t)(seed + i);
}

static int
hello_eq(const struct wire_hello *a, const struct wire_hello *b)
{
	return a->version_min == b->version_min &&
	       a->version_max == b->version_max && a->role == b->role &&
	       a->node == b->node && a->nodes == b->nodes &&
	       strcmp(a->vm, b->vm) == 0 &&
	       memcmp(a->nonce, b->nonce, WIRE_NONCE_LEN) == 0;
}

/* --- header -------------------------------------------------------------- */

static void
test_hdr(void)
{
	static const uint8_t want[WIRE_HDR_SIZE] = {
		0x04, 0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00,
		0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,
	};
	struct wire_hdr in = { WIRE_T_PING, 0, 8, 0x0102030405060708ull };
	struct wire_hdr out;
	uint8_t b[WIRE_HDR_SIZE];
	size_t i;

	is_int(wire_hdr_encode(&in, b), 0, "hdr: encode PING");
	ok(memcmp(b, want, sizeof(b)) == 0, "hdr: little-endian layout");
	is_int(wire_hdr_decode(b, sizeof(b), &out), 0, "hdr: decode PING");
	ok(out.type == in.type && out.flags == in.flags && out.len == in.len &&
		   out.id == in.id,
	   "hdr: round trip keeps every field");

	in = (struct wire_hdr){ WIRE_T_PONG, WIRE_F_REPLY | WIRE_F_ERROR,
				WIRE_ERROR_MAX, UINT64_MAX };
	is_int(wire_hdr_encode(&in, b), 0, "hdr: encode PONG error reply");
	is_int(wire_hdr_decode(b, sizeof(b), &out), 0, "hdr: decode it");
	ok(out.flags == (WIRE_F_REPLY | WIRE_F_ERROR) && out.id == UINT64_MAX &&
		   out.len == WIRE_ERROR_MAX,
	   "hdr: flags, max id, error length survive");

	for (i = 0; i < WIRE_HDR_SIZE; i++)
		if (wire_hdr_decode(b, i, &out) != -EAGAIN)
			break;
	is_int(i, WIRE_HDR_SIZE, "hdr: 0 to 15 bytes give -EAGAIN");

	is_int(raw_decode(0, 0, 0), -EBADMSG, "hdr: type 0 rejected");
	is_int(raw_decode(WIRE_T_PING, 0x0004, 8), -EBADMSG,
	       "hdr: unknown flag 0x4 rejected");
	is_int(raw_decode(WIRE_T_PONG, 0x8001, 8), -EBADMSG,
	       "hdr: unknown flag 0x8000 rejected");
	is_int(raw_decode(WIRE_T_PONG, WIRE_F_ERROR, 8), -EBADMSG,
	       "hdr: ERROR without REPLY rejected");
	is_int(raw_decode(WIRE_T_PING, WIRE_F_REPLY, 8), -EBADMSG,
	       "hdr: REPLY on a request type rejected");
	is_int(raw_decode(WIRE_T_PONG, 0, 8), -EBADMSG,
	       "hdr: reply type without REPLY rejected");
	is_int(raw_decode(WIRE_T_BYE, WIRE_F_REPLY, 0), -EBADMSG,
	       "hdr: REPLY on a one-way type rejected");
	is_int(raw_decode(14, 0, 0), -ENOMSG, "hdr: unassigned type 14");
	is_int(raw_decode(63, 0, 0), -ENOMSG, "hdr: pager type 63 unassigned");
	is_int(raw_decode(127, 0, 0), -ENOMSG, "hdr: run type 127 not yet");
	is_int(raw_decode(130, 0, 0), -ENOMSG, "hdr: control type 130 not yet");
	is_int(raw_decode(128, 0, 0), -EMSGSIZE,
	       "hdr: CTL_COMMAND needs a verb");
	is_int(raw_decode(65535, 0, 0), -ENOMSG, "hdr: type 65535");
	is_int(raw_decode(WIRE_T_PING, 0, WIRE_MAX_PAYLOAD + 1), -EMSGSIZE,
	       "hdr: length over WIRE_MAX_PAYLOAD");
	is_int(raw_decode(WIRE_T_PING, 0, UINT32_MAX), -EMSGSIZE,
	       "hdr: length 2^32-1");
	is_int(raw_decode(9999, 0, UINT32_MAX), -EMSGSIZE,
	       "hdr: oversize checked before the type");
	is_int(raw_decode(WIRE_T_PING, 0, 7), -EMSGSIZE, "hdr: PING of 7");
	is_int(raw_decode(WIRE_T_PING, 0, 9), -EMSGSIZE, "hdr: PING of 9");
	is_int(raw_decode(WIRE_T_BYE, 0, 1), -EMSGSIZE, "hdr: BYE of 1");
	is_int(raw_decode(WIRE_T_HELLO, 0, WIRE_HELLO_SIZE - 1), -EMSGSIZE,
	       "hdr: HELLO one byte short");
	is_int(raw_decode(WIRE_T_HELLO, 0, WIRE_HELLO_MAX), 0,
	       "hdr: HELLO at its maximum");
	is_int(raw_decode(WIRE_T_HELLO, 0, WIRE_HELLO_MAX + 1), -EMSGSIZE,
	       "hdr: HELLO one byte over");
	is_int(raw_decode(WIRE_T_WELCOME, WIRE_F_REPLY, WIRE_WELCOME_SIZE + 1),
	       -EMSGSIZE, "hdr: WELCOME one byte over");
	is_int(raw_decode(WIRE_T_WELCOME, WIRE_F_REPLY | WIRE_F_ERROR,
			  WIRE_ERROR_MIN),
	       0, "hdr: error WELCOME takes the ERROR range");
	is_int(raw_decode(WIRE_T_PONG, WIRE_F_REPLY | WIRE_F_ERROR,
			  WIRE_ERROR_MIN - 1),
	       -EMSGSIZE, "hdr: error reply under the ERROR range");
	is_int(raw_decode(WIRE_T_PONG, WIRE_F_REPLY | WIRE_F_ERROR,
			  WIRE_ERROR_MAX + 1),
	       -EMSGSIZE, "hdr: error reply over the ERROR range");

	{
		uint8_t r[WIRE_HDR_SIZE];

		raw_hdr(r, 4242, 0, 3, 99);
		wire_hdr_decode(r, sizeof(r), &out);
		ok(out.type == 4242 && out.len == 3 && out.id == 99,
		   "hdr: raw fields kept on failure");
	}

	in = (struct wire_hdr){ 0, 0, 0, 0 };
	is_int(wire_hdr_encode(&in, b), -EBADMSG,
	       "hdr: encoder refuses type 0");
	in = (struct wire_hdr){ WIRE_T_PING, 0, 100, 0 };
	is_int(wire_hdr_encode(&in, b), -EMSGSIZE,
	       "hdr: encoder refuses a bad length");
	in = (struct wire_hdr){ 300, 0, 0, 0 };
	is_int(wire_hdr_encode(&in, b), -ENOMSG,
	       "hdr: encoder refuses an unknown type");

	is_str(wire_type_name(WIRE_T_HELLO), "HELLO", "type name HELLO");
	is_str(wire_type_name(WIRE_T_BYE), "BYE", "type name BYE");
	is_str(wire_type_name(0), "unknown", "type name of 0");
	ok(wire_type_info(WIRE_T_WELCOME) &&
		   wire_type_info(WIRE_T_WELCOME)->kind == WIRE_K_REPLY,
	   "type info of WELCOME");
	ok(wire_type_info(63) == NULL, "no type info for 63");
}

static void
test_frame_next(void)
{
	uint8_t s[64];
	struct wire_hdr h;
	const void *pl = NULL;
	ssize_t n;
	size_t i;

	raw_hdr(s, WIRE_T_PING, 0, 8, 1);
	memcpy(s + 16, "abcdefgh", 8);
	raw_hdr(s + 24, WIRE_T_BYE, 0, 0, 0);

	for (i = 0; i < 24; i++)
		if (wire_frame_next(s, i, &h, &pl) != 0)
			break;
	is_int(i, 24, "frame: a partial frame needs more (0)");
	n = wire_frame_next(s, 40, &h, &pl);
	is_int(n, 24, "frame: PING takes 24 bytes");
	ok(pl == s + 16 && h.type == WIRE_T_PING && h.len == 8,
	   "frame: payload points into the buffer");
	n = wire_frame_next(s + 24, 16, &h, &pl);
	is_int(n, 16, "frame: empty BYE takes 16 bytes");
	raw_hdr(s + 40, 0, 0, 0, 0);
	is_int(wire_frame_next(s + 40, 16, &h, &pl), -EBADMSG,
	       "frame: type 0 is an error, not 'more'");
	raw_hdr(s + 40, WIRE_T_PING, 0, WIRE_MAX_PAYLOAD + 1, 0);
	is_int(wire_frame_next(s + 40, 16, &h, &pl), -EMSGSIZE,
	       "frame: oversize is an error before the payload comes");
}

/* --- payloads ----------------------------------------------------------- */

static void
test_hello(void)
{
	struct wire_hello a, b;
	uint8_t p[WIRE_HELLO_MAX], q[WIRE_HELLO_MAX];
	int n;

	hello_fill(&a, 3, "db-vm", 0x10);
	n = wire_hello_encode(&a, p, sizeof(p));
	is_int(n, WIRE_HELLO_SIZE, "hello: encodes to %d bytes",
	       WIRE_HELLO_SIZE);
	ok(memcmp(p, "AVMW", 4) == 0, "hello: magic reads AVMW");
	ok(p[4] == 1 && p[5] == 0 && p[8] == 1 && p[12] == 3 && p[16] == 4 &&
		   memcmp(p + 20, "db-vm", 6) == 0 && p[52] == 0x10,
	   "hello: fields at their offsets");
	memset(&b, 0xff, sizeof(b));
	is_int(wire_hello_decode(p, (size_t)n, &b), 0, "hello: decodes");
	ok(hello_eq(&a, &b), "hello: round trip");

	memcpy(q, p, WIRE_HELLO_SIZE);
	memset(q + WIRE_HELLO_SIZE, 0xaa, 16);
	is_int(wire_hello_decode(q, WIRE_HELLO_SIZE + 16, &b), 0,
	       "hello: a longer HELLO of a later version decodes");

	is_int(wire_hello_decode(p, WIRE_HELLO_SIZE - 1, &b), -EMSGSIZE,
	       "hello: truncated");
	is_int(wire_hello_decode(p, WIRE_HELLO_MAX + 1, &b), -EMSGSIZE,
	       "hello: too long");

#define MUT(what, off, val)                                                 \
	do {                                                                \
		memcpy(q, p, WIRE_HELLO_SIZE);                              \
		q[off] = (uint8_t)(val);                                    \
		is_int(wire_hello_decode(q, WIRE_HELLO_SIZE, &b), -EBADMSG, \
		       "hello: rejects %s", what);                          \
	} while (0)
	MUT("bad magic", 0, 'X');
	MUT("version_min 0", 4, 0);
	MUT("version_min > version_max", 4, 2);
	MUT("role 0", 8, 0);
	MUT("role 7", 8, 7);
	MUT("reserved bits", 10, 1);
	MUT("node >= nodes", 12, 4);
	MUT("nodes > WIRE_MAX_NODES", 18, 1);
	MUT("an empty VM name", 20, 0);
	MUT("a control byte in the name", 21, 0x01);
	MUT("DEL in the name", 21, 0x7f);
	MUT("a high byte in the name", 21, 0xc3);
	MUT("garbage after the name's NUL", 40, 'x');
#undef MUT
	memcpy(q, p, WIRE_HELLO_SIZE);
	memset(q + 20, 'a', WIRE_VM_NAME_LEN);
	is_int(wire_hello_decode(q, WIRE_HELLO_SIZE, &b), -EBADMSG,
	       "hello: rejects a name without NUL");
	memcpy(q, p, WIRE_HELLO_SIZE);
	memset(q + 20, 'a', WIRE_VM_NAME_LEN - 1);
	is_int(wire_hello_decode(q, WIRE_HELLO_SIZE, &b), 0,
	       "hello: accepts a 31-byte name");
	is_int(strlen(b.vm), WIRE_VM_NAME_LEN - 1, "hello: 31-byte name kept");

	b = a;
	b.nodes = 0;
	b.node = 0;
	b.role = WIRE_ROLE_CLIENT;
	n = wire_hello_encode(&b, q, sizeof(q));
	ok(n == WIRE_HELLO_SIZE &&
		   wire_hello_decode(q, WIRE_HELLO_SIZE, &a) == 0 &&
		   a.nodes == 0,
	   "hello: a client outside the fabric (nodes 0)");
	b.node = 1;
	is_int(wire_hello_encode(&b, q, sizeof(q)), -EINVAL,
	       "hello: encoder refuses node 1 of 0");

	hello_fill(&b, 0, "x", 0);
	is_int(wire_hello_encode(&b, q, WIRE_HELLO_SIZE - 1), -ENOSPC,
	       "hello: encoder needs room");
	snprintf(b.vm, sizeof(b.vm), "tab\there");
	is_int(wire_hello_encode(&b, q, sizeof(q)), -EINVAL,
	       "hello: encoder refuses a non-printable name");
	hello_fill(&b, 0, "", 0);
	is_int(wire_hello_encode(&b, q, sizeof(q)), -EINVAL,
	       "hello: encoder refuses an empty name");

	is_int(wire_hello_init(&b, WIRE_ROLE_RUN, 1, 2, "vm0"), 0,
	       "hello_init: fills a HELLO");
	ok(b.version_min == WIRE_VERSION_MIN &&
		   b.version_max == WIRE_VERSION_MAX && b.node == 1 &&
		   strcmp(b.vm, "vm0") == 0,
	   "hello_init: fields");
	is_int(wire_hello_init(&b, WIRE_ROLE_RUN, 2, 2, "vm0"), -EINVAL,
	       "hello_init: node 2 of 2");
	is_int(wire_hello_init(&b, 0, 0, 2, "vm0"), -EINVAL,
	       "hello_init: role 0");
	is_int(wire_hello_init(&b, WIRE_ROLE_RUN, 0, 2,
			       "a-name-of-thirty-two-characters!"),
	       -EINVAL, "hello_init: name too long");
	is_str(wire_role_name(WIRE_ROLE_PAGER_BULK), "pager-bulk", "role name");
	is_str(wire_role_name(WIRE_ROLE_FABRIC), "fabric", "role name: fabric");
	is_str(wire_role_name(9), "unknown", "unknown role name");
	ok(wire_vm_name_ok("vm 1") && !wire_vm_name_ok("") &&
		   !wire_vm_name_ok("a\nb"),
	   "vm_name_ok");
}

static void
test_welcome(void)
{
	struct wire_welcome a = { .version = 0x0102 }, b;
	uint8_t p[WIRE_WELCOME_SIZE + 4];

	for (size_t i = 0; i < WIRE_NONCE_LEN; i++)
		a.nonce[i] = (uint8_t)(0xf0 ^ i);
	is_int(wire_welcome_encode(&a, p, sizeof(p)), WIRE_WELCOME_SIZE,
	       "welcome: encodes to %d bytes", WIRE_WELCOME_SIZE);
	ok(p[0] == 0x02 && p[1] == 0x01 && p[2] == 0 && p[3] == 0 &&
		   p[4] == 0xf0,
	   "welcome: layout");
	is_int(wire_welcome_decode(p, WIRE_WELCOME_SIZE, &b), 0,
	       "welcome: decodes");
	ok(b.version == a.version &&
		   memcmp(a.nonce, b.nonce, WIRE_NONCE_LEN) == 0,
	   "welcome: round trip");
	is_int(wire_welcome_decode(p, WIRE_WELCOME_SIZE - 1, &b), -EMSGSIZE,
	       "welcome: truncated");
	is_int(wire_welcome_decode(p, WIRE_WELCOME_SIZE + 1, &b), -EMSGSIZE,
	       "welcome: too long");
	p[3] = 1;
	is_int(wire_welcome_decode(p, WIRE_WELCOME_SIZE, &b), -EBADMSG,
	       "welcome: reserved bits");
	p[3] = 0;
	p[0] = p[1] = 0;
	is_int(wire_welcome_decode(p, WIRE_WELCOME_SIZE, &b), -EBADMSG,
	       "welcome: version 0");
	a.version = 0;
	is_int(wire_welcome_encode(&a, p, sizeof(p)), -EINVAL,
	       "welcome: encoder refuses version 0");
	a.version = 1;
	is_int(wire_welcome_encode(&a, p, 10), -ENOSPC,
	       "welcome: encoder needs room");
}

static void
test_error(void)
{
	struct wire_error a, b;
	uint8_t p[WIRE_ERROR_MAX + 8];
	char big[400];
	int n;

	wire_error_set(&a, WIRE_E_BUSY, "node %d is %s", 2, "busy");
	n = wire_error_encode(&a, p, sizeof(p));
	is_int(n, WIRE_ERROR_MIN + 14, "error: encodes code, length, text");
	ok(p[0] == WIRE_E_BUSY && p[1] == 0 && p[4] == 14 && p[5] == 0 &&
		   memcmp(p + 6, "node 2 is busy", 14) == 0,
	   "error: layout");
	is_int(wire_error_decode(p, (size_t)n, &b), 0, "error: decodes");
	ok(b.code == WIRE_E_BUSY && strcmp(b.msg, "node 2 is busy") == 0,
	   "error: round trip");

	wire_error_set(&a, 9999, "%s", "");
	n = wire_error_encode(&a, p, sizeof(p));
	is_int(n, WIRE_ERROR_MIN, "error: empty message, unknown code");
	ok(wire_error_decode(p, (size_t)n, &b) == 0 && b.code == 9999 &&
		   b.msg[0] == '\0',
	   "error: unknown codes decode (later versions add codes)");

	memset(big, 'm', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	wire_error_set(&a, WIRE_E_IO, "%s\x01", big);
	is_int(strlen(a.msg), WIRE_ERROR_MSG_MAX, "error_set: cut at max");
	wire_error_set(&a, WIRE_E_IO, "a\tb\x80");
	is_str(a.msg, "a?b?", "error_set: non-printable bytes become '?'");
	memset(big, 'm', WIRE_ERROR_MSG_MAX);
	big[WIRE_ERROR_MSG_MAX] = '\0';
	wire_error_set(&a, WIRE_E_IO, "%s", big);
	n = wire_error_encode(&a, p, sizeof(p));
	is_int(n, WIRE_ERROR_MAX, "error: longest message encodes");
	ok(wire_error_decode(p, (size_t)n, &b) == 0 && strcmp(b.msg, big) == 0,
	   "error: longest message round trip");
	is_int(wire_error_encode(&a, p, WIRE_ERROR_MAX - 1), -ENOSPC,
	       "error: encoder needs room");

	wire_error_set(&a, WIRE_E_PROTO, "abc");
	n = wire_error_encode(&a, p, sizeof(p));
	is_int(wire_error_decode(p, (size_t)n - 1, &b), -EBADMSG,
	       "error: message shorter than msg_len");
	p[n] = 'd';
	is_int(wire_error_decode(p, (size_t)n + 1, &b), -EBADMSG,
	       "error: payload longer than msg_len");
	p[7] = 0;
	is_int(wire_error_decode(p, (size_t)n, &b), -EBADMSG,
	       "error: NUL inside the message");
	p[7] = 0x1b;
	is_int(wire_error_decode(p, (size_t)n, &b), -EBADMSG,
	       "error: ESC inside the message");
	p[7] = 'b';
	wire_put32(p, 0);
	is_int(wire_error_decode(p, (size_t)n, &b), -EBADMSG, "error: code 0");
	is_int(wire_error_decode(p, WIRE_ERROR_MIN - 1, &b), -EMSGSIZE,
	       "error: truncated fixed part");
	wire_put32(p, 1);
	wire_put16(p + 4, WIRE_ERROR_MSG_MAX + 1);
	memset(p + 6, 'x', WIRE_ERROR_MSG_MAX + 1);
	is_int(wire_error_decode(p, WIRE_ERROR_MAX + 1, &b), -EMSGSIZE,
	       "error: message over the maximum");
	a.code = WIRE_E_NONE;
	is_int(wire_error_encode(&a, p, sizeof(p)), -EINVAL,
	       "error: encoder refuses code 0");
	a.code = WIRE_E_IO;
	strcpy(a.msg, "bell\a");
	is_int(wire_error_encode(&a, p, sizeof(p)), -EINVAL,
	       "error: encoder refuses a control byte");

	is_int(wire_errcode_to_errno(WIRE_E_VERSION), EPROTONOSUPPORT,
	       "errcode VERSION is EPROTONOSUPPORT");
	is_int(wire_errcode_to_errno(12345), EPROTO, "unknown code is EPROTO");
	is_int(wire_errcode_from_errno(EACCES), WIRE_E_AUTH,
	       "EACCES is code AUTH");
	is_int(wire_errcode_from_errno(ENOTSUP), WIRE_E_NOTSUP,
	       "ENOTSUP is code NOTSUP");
	is_int(wire_errcode_from_errno(EXDEV), WIRE_E_IO,
	       "EXDEV falls back to IO");
	is_str(wire_errcode_str(WIRE_E_TIMEDOUT), "timed out",
	       "errcode description");
	is_str(wire_errcode_str(0), "unknown error", "code 0 description");
}

static void
test_version_pick(void)
{
	uint16_t v = 0;

	ok(wire_version_pick(1, 1, 1, 1, &v) == 0 && v == 1, "pick 1..1 1..1");
	ok(wire_version_pick(1, 3, 2, 5, &v) == 0 && v == 3, "pick 1..3 2..5");
	ok(wire_version_pick(2, 5, 1, 3, &v) == 0 && v == 3, "pick 2..5 1..3");
	ok(wire_version_pick(1, 9, 4, 4, &v) == 0 && v == 4, "pick 1..9 4..4");
	ok(wire_version_pick(3, 3, 1, 9, &v) == 0 && v == 3, "pick 3..3 1..9");
	ok(wire_version_pick(1, 65535, 7, 65535, &v) == 0 && v == 65535,
	   "pick at the top");
	v = 42;
	is_int(wire_version_pick(1, 1, 2, 2, &v), -1, "pick 1..1 2..2: none");
	is_int(wire_version_pick(2, 3, 1, 1, &v), -1, "pick 2..3 1..1: none");
	is_int(v, 42, "pick: v untouched when none");
	is_int(wire_version_pick(0, 1, 1, 1, &v), -1, "pick: 0 is no version");
	is_int(wire_version_pick(1, 1, 0, 0, &v), -1, "pick: 0..0");
	is_int(wire_version_pick(3, 2, 1, 5, &v), -1, "pick: empty range");
}

/* --- blocking I/O -------------------------------------------------------- */

struct writer {
	int fd;
	const uint8_t *buf;
	size_t len;
	long delay_ms; /* between 1-byte writes */
	int rc;
};

static void *
writer_main(void *arg)
{
	struct writer *w = arg;
	size_t i;

	for (i = 0; i < w->len; i++) {
		if (write_full(w->fd, w->buf + i, 1) < 0) {
			w->rc = -errno;
			return NULL;
		}
		sleep_ms(w->delay_ms);
	}
	return NULL;
}

static void
test_recv(void)
{
	uint8_t buf[WIRE_HELLO_MAX], frame[WIRE_HDR_SIZE + WIRE_HELLO_SIZE];
	struct wire_hello hi, got;
	struct wire_hdr h;
	struct writer w;
	pthread_t t;
	uint64_t t0, ms;
	int sv[2], rc;

	make_pair(sv);
	t0 = now_ns();
	rc = wire_recv(sv[0], &h, buf, sizeof(buf), 100);
	ms = (now_ns() - t0) / 1000000;
	is_int(rc, -ETIMEDOUT, "recv: silent peer times out");
	ok(ms >= 100 && ms < 3000, "recv: after about 100 ms (%llu)",
	   (unsigned long long)ms);
	is_int(wire_recv(sv[0], &h, buf, sizeof(buf), -1), -EINVAL,
	       "recv: no wait without a deadline");

	/* A frame cut after a few bytes times out, then EOF is -EPIPE. */
	raw_hdr(frame, WIRE_T_PING, 0, 8, 5);
	write_full(sv[1], frame, 5);
	is_int(wire_recv(sv[0], &h, buf, sizeof(buf), 50), -ETIMEDOUT,
	       "recv: a stalled frame times out");
	close(sv[1]);
	is_int(wire_recv(sv[0], &h, buf, sizeof(buf), 1000), -EPIPE,
	       "recv: peer closed mid-frame gives -EPIPE");
	close(sv[0]);

	make_pair(sv);
	close(sv[1]);
	t0 = now_ns();
	is_int(wire_recv(sv[0], &h, buf, sizeof(buf), 5000), -EPIPE,
	       "recv: closed peer gives -EPIPE");
	ok(now_ns() - t0 < 1000000000ull, "recv: at once, not at the deadline");
	close(sv[0]);

	/* A HELLO frame one byte at a time. */
	make_pair(sv);
	hello_fill(&hi, 1, "pieces", 3);
	raw_hdr(frame, WIRE_T_HELLO, 0, WIRE_HELLO_SIZE, 0);
	wire_hello_encode(&hi, frame + WIRE_HDR_SIZE, WIRE_HELLO_SIZE);
	w = (struct writer){ sv[1], frame, sizeof(frame), 1, 0 };
	pthread_create(&t, NULL, writer_main, &w);
	rc = wire_recv(sv[0], &h, buf, sizeof(buf), 10000);
	pthread_join(t, NULL);
	is_int(rc, 0, "recv: a frame in 1-byte pieces");
	ok(h.type == WIRE_T_HELLO && h.len == WIRE_HELLO_SIZE &&
		   wire_hello_decode(buf, h.len, &got) == 0 &&
		   hello_eq(&hi, &got),
	   "recv: and it decodes to what was sent");

	/* Payload larger than the caller's buffer. */
	write_full(sv[1], frame, sizeof(frame));
	is_int(wire_recv(sv[0], &h, buf, WIRE_HELLO_SIZE - 1, 1000), -EMSGSIZE,
	       "recv: payload over cap");
	is_int(h.len, WIRE_HELLO_SIZE, "recv: h says how long it was");
	close(sv[0]);
	close(sv[1]);

	/* A bad header is refused before any payload is read. */
	make_pair(sv);
	raw_hdr(frame, WIRE_T_PING, 0, 0x7fffffff, 0);
	write_full(sv[1], frame, WIRE_HDR_SIZE);
	is_int(wire_recv(sv[0], &h, buf, sizeof(buf), 1000), -EMSGSIZE,
	       "recv: oversize header refused");
	raw_hdr(frame, 77, 0, 0, 0);
	write_full(sv[1], frame, WIRE_HDR_SIZE);
	is_int(wire_recv(sv[0], &h, buf, sizeof(buf), 1000), -ENOMSG,
	       "recv: unknown type refused");
	raw_hdr(frame, WIRE_T_BYE, 0x10, 0, 0);
	write_full(sv[1], frame, WIRE_HDR_SIZE);
	is_int(wire_recv(sv[0], &h, buf, sizeof(buf), 1000), -EBADMSG,
	       "recv: unknown flag refused");
	close(sv[0]);
	close(sv[1]);
}

static void
test_send(void)
{
	uint8_t buf[64], eb[WIRE_ERROR_MAX];
	struct wire_error e;
	struct wire_hdr h;
	int sv[2], pfd[2];

	make_pair(sv);
	is_int(wire_send(sv[0], WIRE_T_BYE, 0, 0, NULL, 0), 0,
	       "send: empty BYE");
	is_int(wire_send(sv[0], WIRE_T_PING, 0, 9, "12345678", 8), 0,
	       "send: PING");
	is_int(wire_send(sv[0], WIRE_T_PING, 0, 9, NULL, 8), -EINVAL,
	       "send: NULL payload");
	is_int(wire_send(sv[0], WIRE_T_PING, 0, 9, "1234", 4), -EMSGSIZE,
	       "send: wrong length for the type");
	is_int(wire_send(sv[0], 0, 0, 9, NULL, 0), -EBADMSG, "send: type 0");
	is_int(wire_send(sv[0], WIRE_T_PING, 0x40, 9, "12345678", 8), -EBADMSG,
	       "send: unknown flag");
	is_int(wire_send_timeout(sv[0], WIRE_T_BYE, 0, 0, NULL, 0, -5), -EINVAL,
	       "send: no wait without a deadline");
	ok(wire_recv(sv[1], &h, buf, sizeof(buf), 1000) == 0 &&
		   h.type == WIRE_T_BYE && h.len == 0,
	   "send: BYE arrives");
	ok(wire_recv(sv[1], &h, buf, sizeof(buf), 1000) == 0 &&
		   h.type == WIRE_T_PING && h.id == 9 &&
		   memcmp(buf, "12345678", 8) == 0,
	   "send: PING arrives, nothing invalid went out");
	is_int(wire_recv(sv[1], &h, buf, sizeof(buf), 0), -ETIMEDOUT,
	       "send: and nothing else");
	close(sv[1]);
	is_int(wire_send(sv[0], WIRE_T_BYE, 0, 0, NULL, 0), -EPIPE,
	       "send: closed peer gives -EPIPE, no SIGPIPE");
	close(sv[0]);

	/* A pipe (not a socket) takes the writev path. */
	if (pipe(pfd) < 0) {
		perror("pipe");
		exit(1);
	}
	is_int(wire_send(pfd[1], WIRE_T_PING, 0, 3, "pipe-pin", 8), 0,
	       "send: over a pipe");
	ok(wire_recv(pfd[0], &h, buf, sizeof(buf), 1000) == 0 && h.id == 3 &&
		   memcmp(buf, "pipe-pin", 8) == 0,
	   "send: pipe frame arrives");
	close(pfd[0]);
	close(pfd[1]);

	make_pair(sv);
	wire_error_set(&e, WIRE_E_RANGE, "page %d out of range", 5);
	is_int(wire_send_error(sv[1], WIRE_T_PONG, 77, &e), 0,
	       "send_error: error reply");
	ok(wire_recv(sv[0], &h, eb, sizeof(eb), 1000) == 0 &&
		   h.type == WIRE_T_PONG && h.id == 77 &&
		   h.flags == (WIRE_F_REPLY | WIRE_F_ERROR) &&
		   wire_error_decode(eb, h.len, &e) == 0 &&
		   e.code == WIRE_E_RANGE,
	   "send_error: arrives as PONG, REPLY|ERROR, same id");
	is_int(wire_send_error(sv[1], WIRE_T_ERROR, 77, &e), 0,
	       "send_error: notice");
	ok(wire_recv(sv[0], &h, eb, sizeof(eb), 1000) == 0 &&
		   h.type == WIRE_T_ERROR && h.id == 0 && h.flags == 0,
	   "send_error: notice has id 0, no flags");
	e.code = 0;
	is_int(wire_send_error(sv[1], WIRE_T_ERROR, 0, &e), -EINVAL,
	       "send_error: code 0 is not sent");
	close(sv[0]);
	close(sv[1]);
}

/* Many frames through a full socket buffer: short writes resume. */
#define STREAM_FRAMES 3000

struct streamer {
	int fd;
	int rc;
};

static void
stream_payload(uint8_t *p, uint64_t id)
{
	struct wire_hello hi;

	hello_fill(&hi, (uint32_t)(id % 4), "stream", (uint8_t)id);
	memset(p, 0, WIRE_HELLO_MAX);
	wire_hello_encode(&hi, p, WIRE_HELLO_MAX);
	wire_put64(p + WIRE_HELLO_MAX - 8, id);
}

static void *
streamer_main(void *arg)
{
	struct streamer *s = arg;
	uint8_t p[WIRE_HELLO_MAX];
	uint64_t id;

	for (id = 1; id <= STREAM_FRAMES && s->rc == 0; id++) {
		stream_payload(p, id);
		s->rc = wire_send(s->fd, WIRE_T_HELLO, 0, id, p, sizeof(p));
	}
	return NULL;
}

static void
test_stream(void)
{
	uint8_t want[WIRE_HELLO_MAX], got[WIRE_HELLO_MAX];
	struct streamer s = { 0, 0 };
	struct wire_hdr h;
	pthread_t t;
	uint64_t id;
	int sv[2], rc = 0, bad = 0;

	make_pair(sv);
	s.fd = sv[1];
	pthread_create(&t, NULL, streamer_main, &s);
	sleep_ms(50); /* let the writer fill the socket buffer */
	for (id = 1; id <= STREAM_FRAMES; id++) {
		rc = wire_recv(sv[0], &h, got, sizeof(got), 5000);
		if (rc < 0)
			break;
		stream_payload(want, id);
		if (h.id != id || h.len != WIRE_HELLO_MAX ||
		    memcmp(got, want, sizeof(want)) != 0)
			bad++;
	}
	pthread_join(t, NULL);
	is_int(rc, 0, "stream: %d frames received", STREAM_FRAMES);
	is_int(s.rc, 0, "stream: sender saw no error");
	is_int(bad, 0, "stream: every frame intact and in order");
	close(sv[0]);
	close(sv[1]);
}

/* A peer that stops reading: the send deadline holds. */
static void
test_send_deadline(void)
{
	uint8_t p[WIRE_HELLO_MAX];
	uint64_t t0, ms;
	int sv[2], rc = 0, i;

	stream_payload(p, 1);
	make_pair(sv);
	t0 = now_ns();
	for (i = 0; i < 100000 && rc == 0; i++)
		rc = wire_send_timeout(sv[0], WIRE_T_HELLO, 0, (uint64_t)i, p,
				       WIRE_HELLO_MAX, 100);
	ms = (now_ns() - t0) / 1000000;
	is_int(rc, -ETIMEDOUT, "send: a peer that stops reading times out");
	ok(ms >= 100 && ms < 3000, "send: after about 100 ms (%llu)",
	   (unsigned long long)ms);
	ok(i > 10, "send: after %d frames filled the buffer", i);
	close(sv[0]);
	close(sv[1]);
}

/* --- handshake ------------------------------------------------------------ */

struct side {
	int fd;
	int timeout_ms;
	struct wire_hello mine, peer;
	struct wire_error why;
	uint16_t version;
	int rc;
};

static void *
side_main(void *arg)
{
	struct side *s = arg;

	s->rc = wire_handshake(s->fd, &s->mine, &s->peer, &s->version,
			       s->timeout_ms, &s->why);
	if (s->rc < 0)
		shutdown(s->fd, SHUT_RDWR); /* as a daemon would close it */
	return NULL;
}

static void
run_pair(struct side *a, struct side *b)
{
	pthread_t t;
	int sv[2];

	make_pair(sv);
	a->fd = sv[0];
	b->fd = sv[1];
	if (!a->timeout_ms)
		a->timeout_ms = 5000;
	if (!b->timeout_ms)
		b->timeout_ms = 5000;
	pthread_create(&t, NULL, side_main, b);
	side_main(a);
	pthread_join(t, NULL);
	close(sv[0]);
	close(sv[1]);
}

/* A scripted peer: sends HELLO, reads one frame, answers with an error. */
struct fake {
	int fd;
	uint32_t code;
	int silent; /* send nothing at all */
	int junk;   /* send a frame of type 0 instead of HELLO */
};

static void *
fake_main(void *arg)
{
	struct fake *f = arg;
	struct wire_hello hi;
	struct wire_error e;
	struct wire_hdr h;
	uint8_t b[WIRE_HELLO_MAX];
	int n;

	if (f->silent) {
		wire_recv(f->fd, &h, b, sizeof(b), 2000);
		return NULL;
	}
	if (f->junk) {
		raw_hdr(b, 0, 0, 0, 0);
		write_full(f->fd, b, WIRE_HDR_SIZE);
		wire_recv(f->fd, &h, b, sizeof(b), 2000);
		wire_recv(f->fd, &h, b, sizeof(b), 2000);
		return NULL;
	}
	hello_fill(&hi, 1, "vm", 0x55);
	n = wire_hello_encode(&hi, b, sizeof(b));
	wire_send(f->fd, WIRE_T_HELLO, 0, 0, b, (uint32_t)n);
	wire_recv(f->fd, &h, b, sizeof(b), 2000);
	wire_error_set(&e, f->code, "secret does not match");
	wire_send_error(f->fd, WIRE_T_WELCOME, 0, &e);
	wire_recv(f->fd, &h, b, sizeof(b), 2000);
	return NULL;
}

static int
run_fake(struct fake *f, struct side *a)
{
	pthread_t t;
	int sv[2];

	make_pair(sv);
	f->fd = sv[1];
	a->fd = sv[0];
	pthread_create(&t, NULL, fake_main, f);
	side_main(a);
	pthread_join(t, NULL);
	close(sv[0]);
	close(sv[1]);
	return a->rc;
}

static void
test_handshake(void)
{
	struct side a, b;
	struct fake f;
	uint64_t t0;

	memset(&a, 0, sizeof(a));
	memset(&b, 0, sizeof(b));
	hello_fill(&a.mine, 0, "vm", 0x11);
	hello_fill(&b.mine, 1, "vm", 0x22);
	b.mine.role = WIRE_ROLE_RUN;
	run_pair(&a, &b);
	is_int(a.rc, 0, "handshake: side A succeeds");
	is_int(b.rc, 0, "handshake: side B succeeds");
	ok(a.version == 1 && b.version == 1, "handshake: both speak version 1");
	ok(hello_eq(&a.peer, &b.mine) && hello_eq(&b.peer, &a.mine),
	   "handshake: each has the other's HELLO");
	ok(a.why.code == WIRE_E_NONE && b.why.code == WIRE_E_NONE,
	   "handshake: no error exchanged");

	a.mine.version_max = 2;
	b.mine.version_min = 2;
	b.mine.version_max = 3;
	run_pair(&a, &b);
	ok(a.rc == 0 && b.rc == 0 && a.version == 2 && b.version == 2,
	   "handshake: 1..2 and 2..3 agree on 2");

	a.mine.version_max = 1;
	run_pair(&a, &b);
	is_int(a.rc, -EPROTONOSUPPORT, "handshake: mismatch fails side A");
	is_int(b.rc, -EPROTONOSUPPORT, "handshake: mismatch fails side B");
	ok(a.why.code == WIRE_E_VERSION && b.why.code == WIRE_E_VERSION,
	   "handshake: both say VERSION");
	is_str(a.why.msg, "no common version: 1..1 and 2..3",
	       "handshake: the message names both ranges");

	hello_fill(&a.mine, 0, "vm-a", 0x11);
	hello_fill(&b.mine, 1, "vm-b", 0x22);
	run_pair(&a, &b);
	ok(a.rc == -ENOENT && b.rc == -ENOENT && a.why.code == WIRE_E_NOENT,
	   "handshake: another VM's peer is refused on both sides");
	is_str(a.why.msg, "VM 'vm-b' is not 'vm-a'", "handshake: says which");

	hello_fill(&a.mine, 0, "vm", 0x11);
	a.mine.version_min = 0;
	run_pair(&a, &b);
	is_int(a.rc, -EINVAL, "handshake: our bad HELLO is not sent");
	is_int(b.rc, -EPIPE, "handshake: the peer sees the link close");

	memset(&f, 0, sizeof(f));
	memset(&a, 0, sizeof(a));
	hello_fill(&a.mine, 0, "vm", 0x11);
	a.timeout_ms = 3000;
	f.code = WIRE_E_AUTH;
	is_int(run_fake(&f, &a), -ECONNREFUSED,
	       "handshake: refused by the peer");
	ok(a.why.code == WIRE_E_AUTH &&
		   strcmp(a.why.msg, "secret does not match") == 0,
	   "handshake: why holds the peer's error");
	is_int(a.peer.node, 1, "handshake: peer HELLO kept on refusal");

	memset(&f, 0, sizeof(f));
	f.silent = 1;
	a.timeout_ms = 100;
	t0 = now_ns();
	is_int(run_fake(&f, &a), -ETIMEDOUT, "handshake: silent peer");
	ok(now_ns() - t0 < 20000000000ull, "handshake: gave up in time");

	memset(&f, 0, sizeof(f));
	f.junk = 1;
	a.timeout_ms = 2000;
	is_int(run_fake(&f, &a), -EBADMSG, "handshake: junk from the peer");
	is_int(a.why.code, WIRE_E_PROTO, "handshake: answered with PROTO");
}

/* --- fuzzer seeds -------------------------------------------------------- */

static size_t
put_frame(uint8_t *p, uint16_t type, uint16_t flags, uint64_t id,
	  const void *pl, uint32_t len)
{
	raw_hdr(p, type, flags, len, id);
	if (len)
		memcpy(p + WIRE_HDR_SIZE, pl, len);
	return WIRE_HDR_SIZE + len;
}

static void
seed(const char *dir, const char *name, const void *buf, size_t len)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || write_full(fd, buf, len) < 0) {
		perror(path);
		exit(1);
	}
	close(fd);
}

static void
write_seeds(const char *dir)
{
	uint8_t s[2048], pl[WIRE_HELLO_MAX], wpl[WIRE_WELCOME_SIZE];
	uint8_t epl[WIRE_ERROR_MAX];
	struct wire_hello hi;
	struct wire_welcome w = { .version = 1 };
	struct wire_error e;
	size_t n;
	int hl, wl, el;

	hello_fill(&hi, 2, "seed-vm", 0x40);
	hl = wire_hello_encode(&hi, pl, sizeof(pl));
	memcpy(w.nonce, hi.nonce, WIRE_NONCE_LEN);
	wl = wire_welcome_encode(&w, wpl, sizeof(wpl));
	wire_error_set(&e, WIRE_E_VERSION, "no common version: 1..1 and 2..3");
	el = wire_error_encode(&e, epl, sizeof(epl));
	if (hl < 0 || wl < 0 || el < 0) {
		fprintf(stderr, "seed encoding failed\n");
		exit(1);
	}
	seed(dir, "payload-hello", pl, (size_t)hl);
	seed(dir, "payload-welcome", wpl, (size_t)wl);
	seed(dir, "payload-error", epl, (size_t)el);

	n = put_frame(s, WIRE_T_HELLO, 0, 0, pl, (uint32_t)hl);
	seed(dir, "hello", s, n);
	n += put_frame(s + n, WIRE_T_WELCOME, WIRE_F_REPLY, 0, wpl,
		       (uint32_t)wl);
	seed(dir, "handshake", s, n);
	n = put_frame(s, WIRE_T_HELLO, 0, 0, pl, (uint32_t)hl);
	n += put_frame(s + n, WIRE_T_WELCOME, WIRE_F_REPLY | WIRE_F_ERROR, 0,
		       epl, (uint32_t)el);
	seed(dir, "refusal", s, n);
	memset(pl + hl, 0xab, 40);
	n = put_frame(s, WIRE_T_HELLO, 0, 0, pl, (uint32_t)hl + 40);
	seed(dir, "hello-longer", s, n);
	n = put_frame(s, WIRE_T_ERROR, 0, 0, epl, (uint32_t)el);
	n += put_frame(s + n, WIRE_T_BYE, 0, 0, NULL, 0);
	seed(dir, "notice-bye", s, n);
	n = put_frame(s, WIRE_T_PING, 0, 1, "\x01\x02\x03\x04\x05\x06\x07\x08",
		      8);
	n += put_frame(s + n, WIRE_T_PONG, WIRE_F_REPLY, 1,
		       "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
	n += put_frame(s + n, WIRE_T_PONG, WIRE_F_REPLY | WIRE_F_ERROR, 2, epl,
		       (uint32_t)el);
	seed(dir, "ping-pong", s, n);
	n = put_frame(s, WIRE_T_PING, 0, 1, "abcdefgh", 8);
	seed(dir, "partial", s, n - 3);
	raw_hdr(s, WIRE_T_PING, 0, WIRE_MAX_PAYLOAD + 1, 0);
	seed(dir, "oversize", s, WIRE_HDR_SIZE);
	raw_hdr(s, 0, 0, 0, 0);
	seed(dir, "type0", s, WIRE_HDR_SIZE);
	raw_hdr(s, WIRE_T_BYE, 0x8000, 0, 0);
	seed(dir, "badflags", s, WIRE_HDR_SIZE);
}

int
main(void)
{
	const char *seeds = getenv("AVM_WIRE_SEED_DIR");

	if (seeds && *seeds) {
		write_seeds(seeds);
		return 0;
	}
	test_hdr();
	test_frame_next();
	test_hello();
	test_welcome();
	test_error();
	test_version_pick();
	test_recv();
	test_send();
	test_stream();
	test_send_deadline();
	test_handshake();
	return done_testing();
}
