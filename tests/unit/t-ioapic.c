/*
 * IOAPIC model: registers, edge and level pins, remote IRR, EOI
 * re-delivery through real lapics on a bus (their env.eoi calls
 * ioapic_eoi, as the VMM wires it), masking.
 */
#include <stdint.h>

#include "../../cmd/avm-run/arch/x86/ioapic.h"
#include "../../cmd/avm-run/arch/x86/lapic.h"
#include "tap.h"

#define NCPU 2

static struct apicbus bus;
static struct ioapic io;
static struct lapic L[NCPU];
static int eois;

static uint64_t
f_now(void *o)
{
	return 0;
}

static void
f_eoi(void *o, uint8_t vector)
{
	eois++;
	ioapic_eoi(&io, vector);
}

static uint32_t
io_rd(uint32_t idx)
{
	uint32_t v = idx;

	ioapic_mmio_write(&io, IOAPIC_IOREGSEL, &v, 4);
	ioapic_mmio_read(&io, IOAPIC_IOWIN, &v, 4);
	return v;
}

static void
io_wr(uint32_t idx, uint32_t v)
{
	ioapic_mmio_write(&io, IOAPIC_IOREGSEL, &idx, 4);
	ioapic_mmio_write(&io, IOAPIC_IOWIN, &v, 4);
}

/* Programs pin: low word lo, destination APIC dest. */
static void
route(unsigned pin, uint32_t lo, uint8_t dest)
{
	io_wr(IOAPIC_REG_REDIR + 2 * pin + 1, (uint32_t)dest << 24);
	io_wr(IOAPIC_REG_REDIR + 2 * pin, lo);
}

static bool
has(struct lapic *l, unsigned v)
{
	return (l->s.irr[v / 32] >> (v % 32)) & 1;
}

/* The vCPU takes vector v and EOIs it. */
static void
handle(struct lapic *l, int v)
{
	uint32_t zero = 0;

	lapic_ack_irq(l, v);
	lapic_mmio_write(l, 0xb0, &zero, 4);
}

static void
setup(void)
{
	uint32_t svr = 0x1ff;
	struct lapic_env env = { .now_ns = f_now, .eoi = f_eoi, .bus = &bus };

	apicbus_init(&bus, NCPU, NULL, NULL);
	ioapic_init(&io, &bus);
	for (uint32_t i = 0; i < NCPU; i++) {
		lapic_init(&L[i], i, i == 0, &env);
		apicbus_attach(&bus, i, &L[i]);
		lapic_mmio_write(&L[i], 0xf0, &svr, 4);
	}
}

static void
test_registers(void)
{
	uint8_t b = 0x01;
	uint32_t v = 0;

	is_int(io_rd(IOAPIC_REG_VERSION), 0x00170020, "version: 24 pins, 0x20");
	is_int(io_rd(IOAPIC_REG_ID), 0, "ID resets to 0");
	io_wr(IOAPIC_REG_ID, 0xffffffff);
	is_int(io_rd(IOAPIC_REG_ID), 0x0f000000, "ID bits 27:24");
	is_int(io_rd(IOAPIC_REG_ARB), 0x0f000000, "arbitration follows");
	io_wr(IOAPIC_REG_VERSION, 0);
	is_int(io_rd(IOAPIC_REG_VERSION), 0x00170020, "version read-only");
	is_int(io_rd(IOAPIC_REG_REDIR + 2 * 7), 0x10000, "pin 7 masked");
	is_int(io_rd(IOAPIC_REG_REDIR + 2 * 23 + 1), 0, "pin 23 high word");
	io_wr(IOAPIC_REG_REDIR + 2 * 4, 0xffffffff);
	is_int(io_rd(IOAPIC_REG_REDIR + 2 * 4), 0x1afff,
	       "redirection low: status, remote IRR read-only");
	io_wr(IOAPIC_REG_REDIR + 2 * 4 + 1, 0xffffffff);
	is_int(io_rd(IOAPIC_REG_REDIR + 2 * 4 + 1), 0xff000000,
	       "redirection high: destination");
	io_wr(IOAPIC_REG_REDIR + 2 * 4, 0x10000);
	is_int(io_rd(0x40), 0, "index past the table reads 0");
	ioapic_mmio_write(&io, IOAPIC_IOREGSEL, &b, 1);
	ioapic_mmio_read(&io, IOAPIC_IOREGSEL, &v, 4);
	is_int(v, 1, "IOREGSEL byte write");
	io_wr(IOAPIC_REG_ID, 0);
}

static void
test_edge(void)
{
	route(3, 0x33, 1); /* fixed, physical, edge, high, unmasked */
	ioapic_set_irq(&io, 3, 1);
	ok(has(&L[1], 0x33) && !has(&L[0], 0x33), "edge delivered to 1");
	handle(&L[1], 0x33);
	ioapic_set_irq(&io, 3, 1);
	ok(!has(&L[1], 0x33), "held level: no new edge");
	ioapic_set_irq(&io, 3, 0);
	ioapic_set_irq(&io, 3, 1);
	ok(has(&L[1], 0x33), "new rising edge delivered");
	handle(&L[1], 0x33);
	is_int(eois, 0, "edge EOI not sent to the IOAPIC");
	ok(!(ioapic_redir(&io, 3) & IOAPIC_RTE_REMOTE_IRR), "no remote IRR");
	ioapic_set_irq(&io, 3, 0);

	route(3, 0x10033, 1);
	ioapic_set_irq(&io, 3, 1);
	ok(!has(&L[1], 0x33), "masked edge: nothing");
	route(3, 0x33, 1);
	ok(!has(&L[1], 0x33), "unmasking does not replay an edge");
	ioapic_set_irq(&io, 3, 0);

	route(6, 0x836, 0x3); /* logical flat 0x3 */
	{
		uint32_t ldr0 = 1u << 24, ldr1 = 2u << 24;

		lapic_mmio_write(&L[0], 0xd0, &ldr0, 4);
		lapic_mmio_write(&L[1], 0xd0, &ldr1, 4);
	}
	ioapic_set_irq(&io, 6, 1);
	ok(has(&L[0], 0x36) && has(&L[1], 0x36), "logical to both");
	handle(&L[0], 0x36);
	handle(&L[1], 0x36);
	ioapic_set_irq(&io, 6, 0);
}

static void
test_level(void)
{
	uint32_t v;

	route(5, 0xa045, 0); /* level, active low polarity, vector 0x45 */
	ioapic_set_irq(&io, 5, 1);
	ok(has(&L[0], 0x45), "level delivered");
	ok(L[0].s.tmr[0x45 / 32] & (1u << (0x45 % 32)), "as level (TMR)");
	ok(ioapic_redir(&io, 5) & IOAPIC_RTE_REMOTE_IRR, "remote IRR set");
	is_int(io_rd(IOAPIC_REG_REDIR + 10) & 0x4000, 0x4000,
	       "remote IRR visible to the guest");
	lapic_ack_irq(&L[0], 0x45);
	ioapic_set_irq(&io, 5, 1);
	ok(!has(&L[0], 0x45), "remote IRR blocks re-delivery");
	v = 0;
	lapic_mmio_write(&L[0], 0xb0, &v, 4);
	is_int(eois, 1, "level EOI reaches the IOAPIC");
	ok(has(&L[0], 0x45), "still asserted: delivered again after EOI");
	ok(ioapic_redir(&io, 5) & IOAPIC_RTE_REMOTE_IRR, "remote IRR again");
	ioapic_set_irq(&io, 5, 0);
	handle(&L[0], 0x45);
	ok(!(ioapic_redir(&io, 5) & IOAPIC_RTE_REMOTE_IRR),
	   "EOI clears remote IRR");
	ok(!has(&L[0], 0x45), "de-asserted: no re-delivery");

	/* Masked while asserted, then unmasked. */
	route(5, 0x1a045, 0);
	ioapic_set_irq(&io, 5, 1);
	ok(!has(&L[0], 0x45), "masked level: nothing");
	route(5, 0xa045, 0);
	ok(has(&L[0], 0x45), "unmasking an asserted level pin delivers");
	lapic_ack_irq(&L[0], 0x45);

	/* The EOI register (version 0x20) does the same. */
	ok(ioapic_redir(&io, 5) & IOAPIC_RTE_REMOTE_IRR, "remote IRR set");
	ioapic_set_irq(&io, 5, 0);
	v = 0x45;
	ioapic_mmio_write(&io, IOAPIC_EOI, &v, 4);
	ok(!(ioapic_redir(&io, 5) & IOAPIC_RTE_REMOTE_IRR),
	   "EOI register clears remote IRR");
	v = 0;
	lapic_mmio_write(&L[0], 0xb0, &v, 4); /* the lapic's own EOI */

	/* Delivered to nobody: remote IRR must not stick. */
	route(8, 0x8048, 7);
	ioapic_set_irq(&io, 8, 1);
	ok(!(ioapic_redir(&io, 8) & IOAPIC_RTE_REMOTE_IRR),
	   "no target: no remote IRR");
	ioapic_set_irq(&io, 8, 0);

	/* Switching a pin to edge clears a stale remote IRR. */
	route(9, 0x8049, 1);
	ioapic_set_irq(&io, 9, 1);
	ok(ioapic_redir(&io, 9) & IOAPIC_RTE_REMOTE_IRR, "pin 9 remote IRR");
	ioapic_set_irq(&io, 9, 0);
	route(9, 0x0049, 1);
	ok(!(ioapic_redir(&io, 9) & IOAPIC_RTE_REMOTE_IRR),
	   "edge mode clears it");
	handle(&L[1], 0x49);
}

static void
test_other_modes(void)
{
	struct lapic_events ev;

	route(10, 0x400, 1); /* NMI */
	ioapic_set_irq(&io, 10, 1);
	ok(lapic_take_events(&L[1], &ev) && ev.nmi, "NMI pin");
	ioapic_set_irq(&io, 10, 0);
	route(11, 0x700, 0); /* ExtINT */
	ioapic_set_irq(&io, 11, 1);
	is_int(lapic_next_irq(&L[0]), LAPIC_IRQ_EXTINT, "ExtINT pin");
	lapic_ack_irq(&L[0], LAPIC_IRQ_EXTINT);
	ioapic_set_irq(&io, 11, 0);
	ioapic_set_irq(&io, 99, 1);
	ok(lapic_next_irq(&L[0]) < 0 && lapic_next_irq(&L[1]) < 0 &&
		   !lapic_take_events(&L[0], &ev) &&
		   !lapic_take_events(&L[1], &ev),
	   "out-of-range pin ignored: no interrupt, no event anywhere");
	ioapic_reset(&io);
	is_int(io_rd(IOAPIC_REG_REDIR + 2 * 10), 0x10000, "reset masks pins");
}

int
main(void)
{
	setup();
	test_registers();
	test_edge();
	test_level();
	test_other_modes();
	for (int i = 0; i < NCPU; i++)
		lapic_release(&L[i]);
	ioapic_release(&io);
	apicbus_release(&bus);
	return done_testing();
}
