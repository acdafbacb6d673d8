/*
 * IOAPIC model: registers, edge and level pins, remote IRR, EOI
 * re-delivery through real lapics on a bus (their env.eoi calls
 * ioapic_eoi, as the VMM wires it), masking.
 */
#include <stdint.h>

#include "../../cmd/avm-run/arch/x86/ioapic.h"
#include "../../cmd/avm-run/arch/x86/lapic.h"
#include "devsave.h"
#include "tap.h"

#define NCPU 2

static struct apicbus bus;
static struct ioapic io;
static struct ioapic *cur = &io; /* where the lapics' EOIs go */
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
	ioapic_eoi(cur, vector);
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
	uint64_t sent = 0;

	io.delivered = &sent; /* the run stats file's ioapic_irqs */
	route(3, 0x33, 1);    /* fixed, physical, edge, high, unmasked */
	ioapic_set_irq(&io, 3, 1);
	ok(has(&L[1], 0x33) && !has(&L[0], 0x33), "edge delivered to 1");
	is_int(sent, 1, "one delivery counted");
	handle(&L[1], 0x33);
	ioapic_set_irq(&io, 3, 1);
	ok(!has(&L[1], 0x33), "held level: no new edge");
	is_int(sent, 1, "nothing sent, nothing counted");
	ioapic_set_irq(&io, 3, 0);
	ioapic_set_irq(&io, 3, 1);
	ok(has(&L[1], 0x33), "new rising edge delivered");
	is_int(sent, 2, "counted");
	io.delivered = NULL;
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

static uint32_t
rd(struct ioapic *x, uint32_t idx)
{
	uint32_t v = idx;

	ioapic_mmio_write(x, IOAPIC_IOREGSEL, &v, 4);
	ioapic_mmio_read(x, IOAPIC_IOWIN, &v, 4);
	return v;
}

/* Restoring b into x must fail with err and a reason holding want. */
static void
bad(struct ioapic *x, const char *what, const uint8_t *b, size_t len, int err,
    const char *want)
{
	uint8_t before[DEVSTATE_MAX], after[DEVSTATE_MAX];
	ssize_t n1 = ioapic_save(x, before, sizeof(before)), n2;
	char why[256] = "";
	int rc, e;

	rc = ioapic_restore(x, b, len, why, sizeof(why));
	e = errno;
	n2 = ioapic_save(x, after, sizeof(after));
	refused(what, rc, e, err, why, want, before, n1, after, n2);
}

static void
test_save(void)
{
	uint8_t a[DEVSTATE_MAX], b[DEVSTATE_MAX], t[DEVSTATE_MAX];
	struct ioapic io2;
	char why[256] = "";
	ssize_t n, n2;
	uint32_t sel;
	int same = 1;

	io_wr(IOAPIC_REG_ID, 0x0a000000);
	route(5, 0xa045, 0);  /* fixed, level, unmasked, vector 0x45 */
	route(9, 0x10049, 1); /* edge, masked */
	ioapic_set_irq(&io, 5, 1);
	ok(has(&L[0], 0x45), "save: level pin 5 delivered");
	ok(ioapic_redir(&io, 5) & IOAPIC_RTE_REMOTE_IRR,
	   "save: pin 5 remote IRR set");
	sel = IOAPIC_REG_REDIR + 2 * 9;
	ioapic_mmio_write(&io, IOAPIC_IOREGSEL, &sel, 4);

	n = ioapic_save(&io, a, sizeof(a));
	is_int(n, IOAPIC_STATE_SIZE, "save: %d bytes", IOAPIC_STATE_SIZE);
	is_int(ioapic_save(&io, a, 10), -1, "save: small buffer refused");
	ioapic_init(&io2, &bus);
	ok(ioapic_restore(&io2, a, (size_t)n, why, sizeof(why)) == 0,
	   "restore into a fresh ioapic (%s)", why);
	n2 = ioapic_save(&io2, b, sizeof(b));
	ok(n2 == n && memcmp(a, b, (size_t)n) == 0,
	   "save, restore, save: same bytes");
	ioapic_mmio_read(&io2, IOAPIC_IOREGSEL, &sel, 4);
	is_int(sel, IOAPIC_REG_REDIR + 2 * 9, "restored IOREGSEL");
	for (uint32_t i = 0; i < IOAPIC_REG_REDIR + 2 * IOAPIC_NR_PINS; i++)
		same &= rd(&io, i) == rd(&io2, i);
	ok(same, "every register reads the same after restore");

	/* Behaviour goes on: the EOI reaches the restored model, which
	 * delivers again while the pin stays asserted. */
	cur = &io2;
	lapic_ack_irq(&L[0], 0x45);
	ok(!has(&L[0], 0x45), "vector 0x45 taken");
	lapic_mmio_write(&L[0], 0xb0, &(uint32_t){ 0 }, 4);
	ok(has(&L[0], 0x45), "EOI: restored pin 5 delivers again");
	ioapic_set_irq(&io2, 5, 0);
	handle(&L[0], 0x45);
	ok(!(ioapic_redir(&io2, 5) & IOAPIC_RTE_REMOTE_IRR),
	   "EOI after deassert clears remote IRR");
	ok(!has(&L[0], 0x45), "and nothing more is delivered");
	ioapic_set_irq(&io2, 9, 1);
	ok(!has(&L[1], 0x49), "masked edge pin 9 stays quiet");

	memcpy(t, a, (size_t)n);
	bad(&io2, "truncated", t, (size_t)n - 1, EINVAL, "bytes");
	bad(&io2, "empty", t, 0, EINVAL, "header");
	t[0] = 2;
	bad(&io2, "version 2", t, (size_t)n, EPROTO, "version 2");
	memcpy(t, a, (size_t)n);
	t[16 + 8 * 3 + 2] |= 0x02; /* pin 3 bit 17 */
	bad(&io2, "reserved bit 17", t, (size_t)n, EINVAL, "pin 3");
	memcpy(t, a, (size_t)n);
	t[16 + 8 * 9 + 1] |= 0x40; /* remote IRR on edge pin 9 */
	bad(&io2, "remote IRR on an edge pin", t, (size_t)n, EINVAL, "edge");
	memcpy(t, a, (size_t)n);
	t[9] = 1; /* IOREGSEL 0x100 + ... */
	bad(&io2, "IOREGSEL out of range", t, (size_t)n, EINVAL, "ioregsel");
	memcpy(t, a, (size_t)n);
	t[15] = 0x01; /* level of pin 24 */
	bad(&io2, "level of pin 24", t, (size_t)n, EINVAL, "levels");
	memcpy(t, a, (size_t)n);
	t[4] = 1; /* ID bit 0 */
	bad(&io2, "ID reserved bit", t, (size_t)n, EINVAL, "id");
	memcpy(t, a, (size_t)n);
	t[2] = 0; /* length field */
	bad(&io2, "length field", t, (size_t)n, EINVAL, "length");
	cur = &io;
	ioapic_release(&io2);
	ioapic_set_irq(&io, 5, 0);
	handle(&L[0], 0x45);
	route(5, 0x10000, 0);
}

static void
test_other_modes(void)
{
	struct lapic_events ev;

	route(10, 0x400, 1); /* NMI */
	ioapic_set_irq(&io, 10, 1);
	is_int(lapic_take_nmis(&L[1], 2), 1, "NMI pin");
	ioapic_set_irq(&io, 10, 0);
	route(11, 0x700, 0); /* ExtINT */
	ioapic_set_irq(&io, 11, 1);
	is_int(lapic_next_irq(&L[0]), LAPIC_IRQ_EXTINT, "ExtINT pin");
	lapic_ack_irq(&L[0], LAPIC_IRQ_EXTINT);
	ioapic_set_irq(&io, 11, 0);
	ioapic_set_irq(&io, 99, 1);
	ok(lapic_next_irq(&L[0]) < 0 && lapic_next_irq(&L[1]) < 0 &&
		   !lapic_take_events(&L[0], &ev) &&
		   !lapic_take_events(&L[1], &ev) &&
		   !lapic_nmi_pending(&L[0]) && !lapic_nmi_pending(&L[1]),
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
	test_save();
	for (int i = 0; i < NCPU; i++)
		lapic_release(&L[i]);
	ioapic_release(&io);
	apicbus_release(&bus);
	return done_testing();
}
