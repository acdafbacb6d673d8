/*
 * libFuzzer target for the pager messages (include/avm/pager.h): the
 * input is a byte stream from a peer or a client, split into frames;
 * every pager frame's payload goes to its decoder, and whatever decodes
 * is encoded again and must come back byte for byte.  The whole input
 * also goes to every decoder.  Any disagreement aborts.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "avm/auth.h"
#include "avm/pager.h"
#include "avm/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define check(cond)                                                          \
	do {                                                                 \
		if (!(cond)) {                                               \
			fprintf(stderr, "fuzz-pager: %s:%d: %s\n", __FILE__, \
				__LINE__, #cond);                            \
			abort();                                             \
		}                                                            \
	} while (0)

static uint8_t e[WIRE_PG_ATTACH_MAX + WIRE_PG_DATA_SIZE];

static void
try_msg(uint16_t type, const uint8_t *p, size_t len)
{
	struct pager_msg m, m2;
	int rc, n;

	rc = pager_msg_decode(type, p, len, &m);
	check(rc == 0 || rc == -EMSGSIZE || rc == -EBADMSG);
	if (rc < 0)
		return;
	check(len == WIRE_PG_MSG_SIZE || len == WIRE_PG_DATA_SIZE);
	n = pager_msg_encode(type, &m, e, sizeof(e));
	check(n == WIRE_PG_MSG_SIZE && memcmp(e, p, WIRE_PG_MSG_SIZE) == 0);
	check(pager_msg_decode(type, e, len, &m2) == 0);
	check(m.page == m2.page && m.a == m2.a && m.b == m2.b);
}

static void
try_all(uint16_t type, const uint8_t *p, size_t len)
{
	struct pager_link lk;
	struct pager_bulk b;
	struct pager_ready r;
	struct pager_stream s;
	static struct pager_layout l, l2;
	int rc, n;

	switch (type) {
	case WIRE_T_PG_AUTH:
		/* Any 32 bytes are checked, never trusted: only the true
		 * proof of the secret passes. */
		if (len == WIRE_PG_AUTH_SIZE) {
			static const uint8_t key[AUTH_KEY_LEN] = { 7 };
			struct wire_hello a, b;
			uint8_t mac[AUTH_MAC_LEN];

			check(wire_hello_init(&a, WIRE_ROLE_PAGER_FAULT, 1, 2,
					      "fuzz") == 0);
			b = a;
			b.node = 0;
			rc = auth_verify(key, &a, &b, p);
			check(rc == 0 || rc == -EACCES);
			check(auth_proof(key, &a, &b, mac) == 0);
			check((rc == 0) == !memcmp(mac, p, AUTH_MAC_LEN));
			check(auth_verify(key, &a, &b, mac) == 0);
		}
		break;
	case WIRE_T_PG_LINK:
		if (pager_link_decode(p, len, &lk) == 0) {
			n = pager_link_encode(&lk, e, sizeof(e));
			check(n == (int)len && memcmp(e, p, len) == 0);
		}
		break;
	case WIRE_T_PG_REQ:
	case WIRE_T_PG_GRANT:
	case WIRE_T_PG_INVAL:
	case WIRE_T_PG_INVAL_ACK:
		try_msg(type, p, len);
		break;
	case WIRE_T_PG_BULK_REQ:
	case WIRE_T_PG_BULK_DATA:
	case WIRE_T_PG_PREFETCH:
		rc = pager_bulk_decode(type, p, len, &b);
		check(rc == 0 || rc == -EMSGSIZE || rc == -EBADMSG);
		if (rc == 0) {
			check(b.count >= 1 && b.count <= WIRE_PG_BULK_PAGES);
			n = pager_bulk_encode(&b, e, sizeof(e));
			check(n == WIRE_PG_MSG_SIZE &&
			      memcmp(e, p, WIRE_PG_MSG_SIZE) == 0);
		}
		break;
	case WIRE_T_PG_ATTACH:
		rc = pager_attach_decode(p, len, &l);
		check(rc == 0 || rc == -EMSGSIZE || rc == -EBADMSG);
		if (rc == 0) {
			n = pager_attach_encode(&l, e, sizeof(e));
			check(n == (int)len && memcmp(e, p, len) == 0);
			check(pager_attach_decode(e, len, &l2) == 0);
			check(l2.nslots == l.nslots &&
			      l2.mem_bytes == l.mem_bytes);
		}
		break;
	case WIRE_T_PG_READY:
		if (pager_ready_decode(p, len, &r) == 0) {
			n = pager_ready_encode(&r, e, sizeof(e));
			check(n == (int)len && memcmp(e, p, len) == 0);
		}
		break;
	case WIRE_T_PG_STREAM:
		if (pager_stream_decode(p, len, &s) == 0) {
			n = pager_stream_encode(&s, e, sizeof(e));
			check(n == (int)len && memcmp(e, p, len) == 0);
		}
		break;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const void *payload;
	struct wire_hdr h;
	size_t off = 0;
	ssize_t n;
	uint16_t t;

	while (off < size) {
		n = wire_frame_next(data + off, size - off, &h, &payload);
		if (n <= 0)
			break;
		if (!(h.flags & WIRE_F_ERROR))
			try_all(h.type, payload, h.len);
		off += (size_t)n;
	}
	for (t = WIRE_T_PG_AUTH; t <= WIRE_T_PG_STREAM_DONE; t++)
		try_all(t, data, size);
	/* (PG_PREFETCH, 29, is inside that range) */
	return 0;
}
