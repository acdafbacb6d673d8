/*
 * libFuzzer target for the run-to-run and control payloads
 * (include/avm/runmsg.h): the input is a byte stream from a run link or
 * run.sock, split into frames; every run or control frame's payload goes
 * to its decoder, and whatever decodes is encoded again and must come
 * back byte for byte and value for value.  The whole input also goes to
 * every decoder.  Any disagreement aborts.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "avm/runmsg.h"
#include "avm/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define check(cond)                                                        \
	do {                                                               \
		if (!(cond)) {                                             \
			fprintf(stderr, "fuzz-run: %s:%d: %s\n", __FILE__, \
				__LINE__, #cond);                          \
			abort();                                           \
		}                                                          \
	} while (0)

static uint8_t e[WIRE_RUN_IO_SIZE + WIRE_RUN_IO_DATA_MAX];

/* A decode that worked must encode to the same bytes. */
#define SAME(n, p, len) \
	check((n) >= 0 && (size_t)(n) == (len) && memcmp(e, (p), (len)) == 0)

static void
try_irq(const uint8_t *p, size_t len)
{
	struct runmsg_irq m, m2;
	int n, rc = runmsg_irq_decode(p, len, &m);

	check(rc == 0 || rc == -EMSGSIZE || rc == -EBADMSG);
	if (rc < 0)
		return;
	n = runmsg_irq_encode(&m, e, sizeof(e));
	SAME(n, p, len);
	check(runmsg_irq_decode(e, len, &m2) == 0);
	check(memcmp(&m, &m2, sizeof(m)) == 0);
}

static void
try_addr(const uint8_t *p, size_t len)
{
	struct runmsg_apic_addr m, m2;
	int n, rc = runmsg_apic_addr_decode(p, len, &m);

	check(rc == 0 || rc == -EMSGSIZE || rc == -EBADMSG);
	if (rc < 0)
		return;
	n = runmsg_apic_addr_encode(&m, e, sizeof(e));
	SAME(n, p, len);
	check(runmsg_apic_addr_decode(e, len, &m2) == 0 && m.id == m2.id &&
	      m.ldr == m2.ldr && m.model == m2.model && m.flags == m2.flags);
}

static void
try_eoi(const uint8_t *p, size_t len)
{
	struct runmsg_eoi m;
	int n, rc = runmsg_eoi_decode(p, len, &m);

	check(rc == 0 || rc == -EMSGSIZE || rc == -EBADMSG);
	if (rc < 0)
		return;
	n = runmsg_eoi_encode(&m, e, sizeof(e));
	SAME(n, p, len);
}

static void
try_io(const uint8_t *p, size_t len)
{
	struct runmsg_io m, m2;
	int n, rc = runmsg_io_decode(p, len, &m);

	check(rc == 0 || rc == -EMSGSIZE || rc == -EBADMSG);
	if (rc < 0)
		return;
	check(runmsg_io_bytes(m.size, m.count) > 0);
	n = runmsg_io_encode(&m, e, sizeof(e));
	SAME(n, p, len);
	check(runmsg_io_decode(e, len, &m2) == 0 && m.addr == m2.addr &&
	      m.vcpu == m2.vcpu && m.size == m2.size && m.count == m2.count &&
	      m.flags == m2.flags);
}

static void
try_bytes(uint16_t type, const uint8_t *p, size_t len)
{
	struct runmsg_bytes m;
	int n, rc = runmsg_bytes_decode(type, p, len, &m);

	check(rc == 0 || rc == -EMSGSIZE || rc == -EBADMSG);
	if (rc < 0 || len > sizeof(e))
		return;
	check(m.len == len);
	n = runmsg_bytes_encode(type, &m, e, sizeof(e));
	SAME(n, p, len);
}

static void
try_end(const uint8_t *p, size_t len)
{
	struct runmsg_end m, m2;
	int n, rc = runmsg_end_decode(p, len, &m);

	check(rc == 0 || rc == -EMSGSIZE || rc == -EBADMSG);
	if (rc < 0)
		return;
	n = runmsg_end_encode(&m, e, sizeof(e));
	SAME(n, p, len);
	check(runmsg_end_decode(e, len, &m2) == 0 && m.status == m2.status &&
	      m.reason == m2.reason && strcmp(m.why, m2.why) == 0);
}

static void
try_control(const uint8_t *p, size_t len)
{
	struct runmsg_control m;
	int n, rc = runmsg_control_decode(p, len, &m);

	check(rc == 0 || rc == -EMSGSIZE || rc == -EBADMSG);
	if (rc < 0)
		return;
	n = runmsg_control_encode(&m, e, sizeof(e));
	SAME(n, p, len);
}

static void
try_clock(const uint8_t *p, size_t len)
{
	struct runmsg_clock m, m2;
	int n, rc = runmsg_clock_decode(p, len, &m);

	check(rc == 0 || rc == -EMSGSIZE || rc == -EBADMSG);
	if (rc < 0)
		return;
	n = runmsg_clock_encode(&m, e, sizeof(e));
	SAME(n, p, len);
	check(runmsg_clock_decode(e, len, &m2) == 0 && m.clock == m2.clock &&
	      m.flags == m2.flags && m.realtime == m2.realtime &&
	      m.host_tsc == m2.host_tsc);
}

static void
try_command(const uint8_t *p, size_t len)
{
	struct runmsg_command m, m2;
	int n, rc = runmsg_command_decode(p, len, &m);

	check(rc == 0 || rc == -EMSGSIZE || rc == -EBADMSG);
	if (rc < 0)
		return;
	check(strlen(m.verb) == len);
	n = runmsg_command_encode(&m, e, sizeof(e));
	SAME(n, p, len);
	check(runmsg_command_decode(e, len, &m2) == 0 &&
	      strcmp(m.verb, m2.verb) == 0);
}

static void
try_type(uint16_t type, const uint8_t *p, size_t len)
{
	switch (type) {
	case WIRE_T_RUN_IRQ:
		try_irq(p, len);
		break;
	case WIRE_T_RUN_APIC_ADDR:
		try_addr(p, len);
		break;
	case WIRE_T_RUN_EOI:
		try_eoi(p, len);
		break;
	case WIRE_T_RUN_IO:
		try_io(p, len);
		break;
	case WIRE_T_RUN_IO_DONE:
	case WIRE_T_CTL_RESULT:
		try_bytes(type, p, len);
		break;
	case WIRE_T_RUN_END:
		try_end(p, len);
		break;
	case WIRE_T_RUN_CONTROL:
		try_control(p, len);
		break;
	case WIRE_T_RUN_CONTROL_DONE:
		check(len == 0);
		break;
	case WIRE_T_RUN_CLOCK:
		try_clock(p, len);
		break;
	case WIRE_T_CTL_COMMAND:
		try_command(p, len);
		break;
	}
}

static const uint16_t all_types[] = {
	WIRE_T_RUN_IRQ,	    WIRE_T_RUN_APIC_ADDR, WIRE_T_RUN_EOI,
	WIRE_T_RUN_IO,	    WIRE_T_RUN_IO_DONE,	  WIRE_T_RUN_END,
	WIRE_T_RUN_CONTROL, WIRE_T_RUN_CLOCK,	  WIRE_T_CTL_COMMAND,
	WIRE_T_CTL_RESULT,
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const void *payload;
	struct wire_hdr h;
	size_t off = 0, i;
	ssize_t n;

	while (off < size) {
		n = wire_frame_next(data + off, size - off, &h, &payload);
		if (n <= 0)
			break;
		if (!(h.flags & WIRE_F_ERROR))
			try_type(h.type, payload, h.len);
		off += (size_t)n;
	}
	for (i = 0; i < sizeof(all_types) / sizeof(all_types[0]); i++)
		try_type(all_types[i], data, size);
	return 0;
}
