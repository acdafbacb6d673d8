/*
 * Unit tests of lib/runmsg.c: every run-to-run and control payload
 * round-trips value for value and byte for byte at the offsets that
 * man/avm-wire.7 gives, and every rule the decoders check refuses a
 * payload that breaks it.
 */
#include <errno.h>
#include <string.h>

#include "avm/runmsg.h"
#include "tap.h"

static uint8_t b[WIRE_RUN_IO_SIZE + WIRE_RUN_IO_DATA_MAX + 16];

static void
test_irq(void)
{
	struct runmsg_irq m = { .apic_id = 3,
				.dest = 0x01020304,
				.src = 0xffffffff,
				.vector = 0x41,
				.delivery = 5,
				.dest_logical = 1,
				.dest_x2apic = 0,
				.shorthand = 2,
				.level_trig = 1,
				.assert = 1 },
			  d;

	is_int(runmsg_irq_encode(&m, b, sizeof(b)), WIRE_RUN_IRQ_SIZE,
	       "RUN_IRQ encodes to 24 bytes");
	ok(b[0] == 3 && b[8] == 4 && b[11] == 1 && b[16] == 0x41 &&
		   b[17] == 5 && b[18] == 1 && b[20] == 2 && b[21] == 1 &&
		   b[22] == 1 && b[23] == 0,
	   "RUN_IRQ fields at the man page's offsets");
	ok(runmsg_irq_decode(b, WIRE_RUN_IRQ_SIZE, &d) == 0 && d.apic_id == 3 &&
		   d.dest == m.dest && d.src == m.src && d.vector == 0x41 &&
		   d.delivery == 5 && d.dest_logical && !d.dest_x2apic &&
		   d.shorthand == 2 && d.level_trig && d.assert,
	   "RUN_IRQ round-trips");
	is_int(runmsg_irq_decode(b, 23, &d), -EMSGSIZE, "RUN_IRQ: short");
	b[5] = 1;
	is_int(runmsg_irq_decode(b, 24, &d), -EBADMSG,
	       "RUN_IRQ: reserved not zero");
	b[5] = 0;
	b[17] = 9;
	is_int(runmsg_irq_decode(b, 24, &d), -EBADMSG,
	       "RUN_IRQ: delivery mode 9");
	b[17] = 5;
	b[18] = 2;
	is_int(runmsg_irq_decode(b, 24, &d), -EBADMSG,
	       "RUN_IRQ: logical flag 2");
	m.shorthand = 4;
	is_int(runmsg_irq_encode(&m, b, sizeof(b)), -EINVAL,
	       "RUN_IRQ: shorthand 4 does not encode");
	m.shorthand = 0;
	is_int(runmsg_irq_encode(&m, b, 23), -ENOSPC, "RUN_IRQ: no room");
}

static void
test_addr(void)
{
	struct runmsg_apic_addr m = { 7, 0x80, 0xf, 0x5 }, d;

	is_int(runmsg_apic_addr_encode(&m, b, sizeof(b)), WIRE_RUN_ADDR_SIZE,
	       "RUN_APIC_ADDR encodes to 8 bytes");
	ok(b[0] == 7 && b[4] == 0x80 && b[5] == 0xf && b[6] == 5 && !b[7],
	   "RUN_APIC_ADDR at its offsets");
	ok(runmsg_apic_addr_decode(b, 8, &d) == 0 && d.id == 7 &&
		   d.ldr == 0x80 && d.model == 0xf && d.flags == 5,
	   "RUN_APIC_ADDR round-trips");
	b[6] = 0x8;
	is_int(runmsg_apic_addr_decode(b, 8, &d), -EBADMSG,
	       "RUN_APIC_ADDR: unknown flag");
	b[6] = 5;
	b[5] = 3;
	is_int(runmsg_apic_addr_decode(b, 8, &d), -EBADMSG,
	       "RUN_APIC_ADDR: DFR model 3");
	is_int(runmsg_apic_addr_decode(b, 9, &d), -EMSGSIZE,
	       "RUN_APIC_ADDR: long");
}

static void
test_eoi(void)
{
	struct runmsg_eoi m = { 0x31 }, d;

	is_int(runmsg_eoi_encode(&m, b, sizeof(b)), WIRE_RUN_EOI_SIZE,
	       "RUN_EOI encodes to 8 bytes");
	ok(runmsg_eoi_decode(b, 8, &d) == 0 && d.vector == 0x31,
	   "RUN_EOI round-trips");
	b[7] = 1;
	is_int(runmsg_eoi_decode(b, 8, &d), -EBADMSG,
	       "RUN_EOI: padding not zero");
}

static void
test_io(void)
{
	uint8_t data[12] = "abcdefghijk";
	struct runmsg_io m = { .addr = 0x3f8,
			       .vcpu = 2,
			       .size = 4,
			       .count = 3,
			       .flags = RUNMSG_IO_WRITE,
			       .data = data },
			 d;
	int n;

	n = runmsg_io_encode(&m, b, sizeof(b));
	is_int(n, WIRE_RUN_IO_SIZE + 12, "RUN_IO write: 24 + 12 bytes");
	ok(b[0] == 0xf8 && b[1] == 3 && b[8] == 2 && b[12] == 4 && b[14] == 3 &&
		   b[16] == 1 && memcmp(b + 24, data, 12) == 0,
	   "RUN_IO at its offsets, data after the fixed part");
	ok(runmsg_io_decode(b, (size_t)n, &d) == 0 && d.addr == 0x3f8 &&
		   d.vcpu == 2 && d.size == 4 && d.count == 3 &&
		   d.flags == RUNMSG_IO_WRITE && d.data == b + 24,
	   "RUN_IO round-trips");
	is_int(runmsg_io_decode(b, (size_t)n - 1, &d), -EBADMSG,
	       "RUN_IO: write data shorter than size * count");
	m.flags = RUNMSG_IO_MMIO;
	m.count = 1;
	m.data = NULL;
	n = runmsg_io_encode(&m, b, sizeof(b));
	is_int(n, WIRE_RUN_IO_SIZE, "RUN_IO MMIO read: 24 bytes");
	ok(runmsg_io_decode(b, 24, &d) == 0 && d.data == NULL,
	   "RUN_IO read carries no data");
	wire_put16(b + 14, 2);
	is_int(runmsg_io_decode(b, 24, &d), -EBADMSG,
	       "RUN_IO: MMIO with count 2");
	wire_put16(b + 14, 1);
	wire_put16(b + 12, 3);
	is_int(runmsg_io_decode(b, 24, &d), -EBADMSG, "RUN_IO: size 3");
	wire_put16(b + 12, 8);
	b[16] = 0x6;
	is_int(runmsg_io_decode(b, 24, &d), -EBADMSG, "RUN_IO: flag 0x4");
	b[16] = 0x2;
	b[20] = 1;
	is_int(runmsg_io_decode(b, 24, &d), -EBADMSG,
	       "RUN_IO: reserved not zero");
	m.flags = 0;
	m.size = 8;
	m.count = 513;
	is_int(runmsg_io_encode(&m, b, sizeof(b)), -EINVAL,
	       "RUN_IO: 4104 bytes do not encode");
	is_int((int)runmsg_io_bytes(8, 512), 4096, "8 x 512 is 4096 bytes");
	is_int((int)runmsg_io_bytes(2, 0), 0, "count 0 is no access");
}

static void
test_bytes(void)
{
	struct runmsg_bytes m = { (const uint8_t *)"key: 1\n", 7 }, d;
	uint8_t bin[3] = { 0, 0xff, 7 };

	is_int(runmsg_bytes_encode(WIRE_T_CTL_RESULT, &m, b, sizeof(b)), 7,
	       "CTL_RESULT text encodes");
	ok(runmsg_bytes_decode(WIRE_T_CTL_RESULT, b, 7, &d) == 0 &&
		   d.len == 7 && memcmp(d.data, "key: 1\n", 7) == 0,
	   "CTL_RESULT round-trips");
	is_int(runmsg_bytes_decode(WIRE_T_CTL_RESULT, bin, 3, &d), -EBADMSG,
	       "CTL_RESULT: a NUL byte is refused");
	ok(runmsg_bytes_decode(WIRE_T_RUN_IO_DONE, bin, 3, &d) == 0 &&
		   d.len == 3,
	   "RUN_IO_DONE carries any bytes");
	is_int(runmsg_bytes_decode(WIRE_T_RUN_IO_DONE, b,
				   WIRE_RUN_IO_DATA_MAX + 1, &d),
	       -EMSGSIZE, "RUN_IO_DONE: over 4096 bytes");
	is_int(runmsg_bytes_decode(WIRE_T_RUN_IO, b, 1, &d), -EBADMSG,
	       "bytes codec: another type");
}

static void
test_end(void)
{
	struct runmsg_end m, d;
	int n;

	runmsg_end_set(&m, -3, RUNMSG_END_ERROR, "vCPU %d: bad\x01thing", 2);
	is_str(m.why, "vCPU 2: bad?thing", "RUN_END text made printable");
	n = runmsg_end_encode(&m, b, sizeof(b));
	is_int(n, WIRE_RUN_END_MIN + 17, "RUN_END: 8 + text");
	ok(runmsg_end_decode(b, (size_t)n, &d) == 0 && d.status == -3 &&
		   d.reason == RUNMSG_END_ERROR && strcmp(d.why, m.why) == 0,
	   "RUN_END round-trips");
	b[9] = '\n';
	is_int(runmsg_end_decode(b, (size_t)n, &d), -EBADMSG,
	       "RUN_END: a control byte in the text");
	b[9] = 'C';
	wire_put32(b + 4, 6);
	is_int(runmsg_end_decode(b, (size_t)n, &d), -EBADMSG,
	       "RUN_END: reason 6");
	is_int(runmsg_end_decode(b, 7, &d), -EMSGSIZE, "RUN_END: short");
	memset(m.why, 'x', sizeof(m.why) - 1);
	m.why[sizeof(m.why) - 1] = '\0';
	is_int(runmsg_end_encode(&m, b, sizeof(b)), WIRE_RUN_END_MAX,
	       "RUN_END: 200 bytes of text is the most");
}

static void
test_control_clock_command(void)
{
	struct runmsg_control c = { RUNMSG_CONTROL_RESUME }, cd;
	struct runmsg_clock k = { 123456789012ull, 6, 1700000000000000000ull,
				  42 },
			    kd;
	struct runmsg_command v, vd;

	is_int(runmsg_control_encode(&c, b, sizeof(b)), 8,
	       "RUN_CONTROL encodes");
	ok(runmsg_control_decode(b, 8, &cd) == 0 && cd.op == 2,
	   "RUN_CONTROL round-trips");
	wire_put32(b, 3);
	is_int(runmsg_control_decode(b, 8, &cd), -EBADMSG, "RUN_CONTROL: op 3");
	c.op = 0;
	is_int(runmsg_control_encode(&c, b, sizeof(b)), -EINVAL,
	       "RUN_CONTROL: op 0 does not encode");

	is_int(runmsg_clock_encode(&k, b, sizeof(b)), 32, "RUN_CLOCK encodes");
	ok(wire_get64(b) == k.clock && wire_get32(b + 8) == 6 &&
		   wire_get64(b + 16) == k.realtime && wire_get64(b + 24) == 42,
	   "RUN_CLOCK at its offsets");
	ok(runmsg_clock_decode(b, 32, &kd) == 0 && kd.clock == k.clock &&
		   kd.flags == 6 && kd.realtime == k.realtime &&
		   kd.host_tsc == 42,
	   "RUN_CLOCK round-trips");
	b[12] = 1;
	is_int(runmsg_clock_decode(b, 32, &kd), -EBADMSG,
	       "RUN_CLOCK: reserved not zero");

	strcpy(v.verb, "status --json");
	is_int(runmsg_command_encode(&v, b, sizeof(b)), 13,
	       "CTL_COMMAND encodes");
	ok(runmsg_command_decode(b, 13, &vd) == 0 &&
		   strcmp(vd.verb, v.verb) == 0,
	   "CTL_COMMAND round-trips");
	b[2] = 0x7f;
	is_int(runmsg_command_decode(b, 13, &vd), -EBADMSG,
	       "CTL_COMMAND: DEL byte");
	is_int(runmsg_command_decode(b, 0, &vd), -EMSGSIZE,
	       "CTL_COMMAND: empty");
	v.verb[0] = '\0';
	is_int(runmsg_command_encode(&v, b, sizeof(b)), -EINVAL,
	       "CTL_COMMAND: empty does not encode");
}

int
main(void)
{
	test_irq();
	test_addr();
	test_eoi();
	test_io();
	test_bytes();
	test_end();
	test_control_clock_command();
	return done_testing();
}
