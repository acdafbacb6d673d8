/*
 * Local APIC model: registers in xAPIC and x2APIC mode, priorities, EOI,
 * IA32_APIC_BASE transitions, LINT pins, events, the timer on a fake
 * clock.
 */
#include <stdint.h>

#include "avm/util.h"
#include "../../cmd/avm-run/arch/x86/lapic.h"
#include "devsave.h"
#include "tap.h"

struct fake {
	uint64_t now, tsc;
	int kicks, timer_changes, neoi;
	uint8_t eoi[16];
};

static uint64_t
f_now(void *o)
{
	return ((struct fake *)o)->now;
}

static uint64_t
f_tsc(void *o)
{
	return ((struct fake *)o)->tsc;
}

static void
f_kick(void *o)
{
	((struct fake *)o)->kicks++;
}

static void
f_timer(void *o)
{
	((struct fake *)o)->timer_changes++;
}

static void
f_eoi(void *o, uint8_t v)
{
	struct fake *f = o;

	if (f->neoi < 16)
		f->eoi[f->neoi] = v;
	f->neoi++;
}

static struct fake F;
static struct apicbus BUS;

static void
setup(struct lapic *l, uint32_t id, bool bsp)
{
	struct lapic_env env = {
		.opaque = &F,
		.now_ns = f_now,
		.guest_tsc = f_tsc,
		.tsc_khz = 1000000, /* 1 GHz: one TSC tick per ns */
		.kick = f_kick,
		.timer_changed = f_timer,
		.eoi = f_eoi,
		.bus = &BUS,
	};

	memset(&F, 0, sizeof(F));
	lapic_init(l, id, bsp, &env);
	apicbus_attach(&BUS, id, l);
}

static void
teardown(struct lapic *l)
{
	BUS.slot[l->s.id].local = NULL;
	lapic_release(l);
}

static uint32_t
rd(struct lapic *l, uint32_t off)
{
	uint32_t v = 0xdeadbeef;

	lapic_mmio_read(l, off, &v, 4);
	return v;
}

static void
wr(struct lapic *l, uint32_t off, uint32_t v)
{
	lapic_mmio_write(l, off, &v, 4);
}

static uint64_t
rdmsr(struct lapic *l, uint32_t msr)
{
	uint64_t v = 0;

	lapic_msr_read(l, msr, &v);
	return v;
}

static bool
in(const uint32_t *v, unsigned n)
{
	return (v[n / 32] >> (n % 32)) & 1;
}

static void
fixed(struct lapic *l, uint8_t vec, bool level)
{
	struct apic_msg m = { .vector = vec,
			      .delivery = APIC_DM_FIXED,
			      .level_trig = level,
			      .assert = 1 };

	lapic_accept(l, &m);
}

/* Reads ESR the way the SDM asks: write, then read. */
static uint32_t
esr(struct lapic *l)
{
	wr(l, 0x280, 0);
	return rd(l, 0x280);
}

static void
test_reset_state(void)
{
	struct lapic l;

	setup(&l, 3, false);
	is_int(rd(&l, 0x20), 3u << 24, "xAPIC ID is id << 24");
	is_int(rd(&l, 0x30), 0x00050014, "version 0x14, max LVT 5");
	is_int(rd(&l, 0xf0), 0xff, "SVR resets to 0xff (disabled)");
	is_int(rd(&l, 0xe0), 0xffffffff, "DFR resets to flat");
	is_int(rd(&l, 0xd0), 0, "LDR resets to 0");
	for (unsigned i = 0; i < 6; i++)
		is_int(rd(&l, 0x320 + 0x10 * i), 0x10000, "LVT %u masked", i);
	is_int(rdmsr(&l, MSR_IA32_APIC_BASE), 0xfee00800,
	       "AP APIC base: enabled, no BSP bit");
	is_int(lapic_mmio_base(&l), 0xfee00000, "mmio base");
	teardown(&l);

	setup(&l, 0, true);
	is_int(rdmsr(&l, MSR_IA32_APIC_BASE), 0xfee00900, "BSP bit set");
	is_int(rd(&l, 0x350), 0x700, "BSP LINT0 is unmasked ExtINT");
	is_int(rd(&l, 0x360), 0x10000, "BSP LINT1 masked");
	teardown(&l);
}

static void
test_xapic_regs(void)
{
	struct lapic l;
	uint16_t half = 0xffff;
	uint32_t v = 0;

	setup(&l, 1, false);
	wr(&l, 0x20, 7u << 24);
	is_int(rd(&l, 0x20), 1u << 24, "ID write ignored");
	wr(&l, 0x30, 0);
	is_int(rd(&l, 0x30), 0x00050014, "version is read-only");
	wr(&l, 0x80, 0x1234);
	is_int(rd(&l, 0x80), 0x34, "TPR keeps 8 bits");
	wr(&l, 0xa0, 0x99);
	is_int(rd(&l, 0xa0), 0x34, "PPR read-only, follows TPR");
	wr(&l, 0xd0, 0x12345678);
	is_int(rd(&l, 0xd0), 0x12000000, "LDR keeps bits 31:24");
	wr(&l, 0xe0, 0x0);
	is_int(rd(&l, 0xe0), 0x0fffffff, "DFR cluster, low bits read 1");
	wr(&l, 0xf0, 0xffffffff);
	is_int(rd(&l, 0xf0), 0x3ff, "SVR writable bits (no EOI suppression)");
	wr(&l, 0x100, 0xffffffff);
	is_int(rd(&l, 0x100), 0, "ISR read-only");
	wr(&l, 0x390, 5);
	is_int(rd(&l, 0x390), 0, "current count read-only");
	wr(&l, 0x3e0, 0xff);
	is_int(rd(&l, 0x3e0), 0xb, "divide config bits 0,1,3");
	wr(&l, 0x320, 0xffffffff);
	is_int(rd(&l, 0x320), 0x710ff & ~0x1000u, "LVT timer writable bits");
	wr(&l, 0x370, 0xffffffff);
	is_int(rd(&l, 0x370), 0x100ff, "LVT error writable bits");
	wr(&l, 0x310, 0xffffffff);
	is_int(rd(&l, 0x310), 0xff000000, "ICR high: dest only");
	is_int(esr(&l), 0, "no error from RO writes");

	is_int(rd(&l, 0x10), 0, "reserved register reads 0");
	is_int(esr(&l), APIC_ESR_ILLEGAL_REGISTER, "ESR: illegal register");
	is_int(esr(&l), 0, "next ESR write clears it");

	lapic_mmio_read(&l, 0x22, &v, 4);
	is_int(v, 0, "unaligned read gives 0");
	lapic_mmio_read(&l, 0x20, &half, 2);
	is_int(half, 0, "2-byte read gives 0");
	v = 0x77;
	lapic_mmio_write(&l, 0x81, &v, 4);
	is_int(rd(&l, 0x80), 0x34, "unaligned write ignored");

	fixed(&l, 5, false);
	is_int(rd(&l, 0x280), 0, "ESR read before a write: old value");
	wr(&l, 0x280, 0);
	is_int(rd(&l, 0x280), APIC_ESR_RECV_ILLEGAL_VECTOR,
	       "the write latches the errors");

	wr(&l, 0xf0, 0xff);
	fixed(&l, 0x40, false);
	is_int(lapic_next_irq(&l), -1, "software-disabled APIC drops fixed");
	teardown(&l);
}

static void
test_svr_masking(void)
{
	struct lapic l;

	setup(&l, 1, false);
	wr(&l, 0x350, 0x30);
	is_int(rd(&l, 0x350), 0x10030, "LVT stays masked while disabled");
	wr(&l, 0xf0, 0x1ff);
	wr(&l, 0x350, 0x30);
	wr(&l, 0x320, 0x31);
	is_int(rd(&l, 0x350), 0x30, "enabled: LVT unmasks");
	wr(&l, 0xf0, 0x0ff);
	is_int(rd(&l, 0x350), 0x10030, "disabling masks LINT0");
	is_int(rd(&l, 0x320), 0x10031, "disabling masks the timer LVT");
	teardown(&l);
}

static void
test_priority(void)
{
	struct lapic l;

	setup(&l, 1, false);
	wr(&l, 0xf0, 0x1ff);
	fixed(&l, 0x31, false);
	fixed(&l, 0x51, false);
	ok(F.kicks == 2, "accept kicks");
	ok(in(l.s.irr, 0x31) && in(l.s.irr, 0x51), "both in IRR");
	is_int(rd(&l, 0x200 + 0x10 * (0x51 / 32)), 1u << (0x51 % 32),
	       "IRR register shows 0x51");
	is_int(lapic_next_irq(&l), 0x51, "higher class wins");
	ok(lapic_has_work(&l), "has work");
	lapic_ack_irq(&l, 0x51);
	ok(in(l.s.isr, 0x51) && !in(l.s.irr, 0x51), "ack: IRR -> ISR");
	is_int(rd(&l, 0xa0), 0x50, "PPR = ISRV class");
	is_int(lapic_next_irq(&l), -1, "lower class blocked by ISR");
	fixed(&l, 0x5f, false);
	is_int(lapic_next_irq(&l), -1, "same class blocked by ISR");
	fixed(&l, 0x61, false);
	is_int(lapic_next_irq(&l), 0x61, "higher class nests");
	lapic_ack_irq(&l, 0x61);
	wr(&l, 0xb0, 0);
	ok(!in(l.s.isr, 0x61) && in(l.s.isr, 0x51), "EOI pops the highest ISR");
	wr(&l, 0xb0, 0);
	ok(!in(l.s.isr, 0x51), "second EOI pops the next");
	is_int(F.neoi, 0, "edge EOIs not reported");
	is_int(lapic_next_irq(&l), 0x5f, "0x5f deliverable again");
	lapic_ack_irq(&l, 0x5f);
	wr(&l, 0xb0, 0);

	wr(&l, 0x80, 0x4a);
	fixed(&l, 0x45, false);
	is_int(lapic_next_irq(&l), -1, "TPR class 4 blocks 0x45 and 0x31");
	ok(!lapic_has_work(&l), "nothing beats PPR: no work");
	is_int(rd(&l, 0xa0), 0x4a, "PPR = TPR when TPR class >= ISRV");
	fixed(&l, 0x52, false);
	is_int(lapic_next_irq(&l), 0x52, "class 5 beats TPR 0x4a");
	lapic_ack_irq(&l, 0x52);
	is_int(rd(&l, 0xa0), 0x50, "PPR = ISRV class when above TPR");
	is_int(rd(&l, 0x90), 0x50, "APR = max class (ISRV)");
	wr(&l, 0xb0, 0);
	is_int(rd(&l, 0x90), 0x4a, "APR = TPR when it dominates");
	wr(&l, 0x80, 0x00);
	is_int(rd(&l, 0x90), 0x40, "APR = IRRV class when above TPR");
	is_int(lapic_arb_priority(&l), 0x40, "arb priority helper");

	/* Level-triggered: EOI reports the vector. */
	memset(l.s.irr, 0, sizeof(l.s.irr));
	fixed(&l, 0x71, true);
	ok(in(l.s.tmr, 0x71), "level sets TMR");
	is_int(lapic_next_irq(&l), 0x71, "level vector pending");
	lapic_ack_irq(&l, 0x71);
	wr(&l, 0xb0, 0);
	is_int(F.neoi, 1, "EOI of a TMR vector calls env.eoi");
	is_int(F.eoi[0], 0x71, "with that vector");
	fixed(&l, 0x71, false);
	ok(!in(l.s.tmr, 0x71), "edge clears TMR");

	fixed(&l, 5, false);
	ok(!in(l.s.irr, 5), "illegal vector not accepted");
	is_int(esr(&l), APIC_ESR_RECV_ILLEGAL_VECTOR, "ESR: receive illegal");
	teardown(&l);
}

static void
test_error_lvt(void)
{
	struct lapic l;

	setup(&l, 1, false);
	wr(&l, 0xf0, 0x1ff);
	wr(&l, 0x370, 0xfe);
	/* Fixed vector 3, shorthand self: illegal. */
	wr(&l, 0x300, 0x40000 | 0x4000 | 0x03);
	ok(in(l.s.irr, 0xfe), "send illegal vector raises LVT error");
	/* SDM 10.5.3: a self IPI's illegal vector is also one received. */
	is_int(esr(&l),
	       APIC_ESR_SEND_ILLEGAL_VECTOR | APIC_ESR_RECV_ILLEGAL_VECTOR,
	       "ESR: a self IPI: send and receive illegal");
	lapic_ack_irq(&l, 0xfe);
	wr(&l, 0xb0, 0);

	/* The ESR write re-arms the error interrupt; until then a second
	 * error, of another kind, is logged without one. */
	wr(&l, 0x310, 1u << 24);
	wr(&l, 0x300, 0x03); /* vector 3 to APIC 1: send illegal only */
	ok(in(l.s.irr, 0xfe), "an error after the ESR write: an interrupt");
	lapic_ack_irq(&l, 0xfe);
	wr(&l, 0xb0, 0);
	fixed(&l, 5, false); /* receive illegal */
	ok(!in(l.s.irr, 0xfe),
	   "another error before the next ESR write: logged, no interrupt");
	{
		uint8_t st[DEVSTATE_MAX];
		struct lapic l2;
		char why[256] = "";
		ssize_t n = lapic_save(&l, st, sizeof(st));

		is_int(n > 201 ? st[201] : -1, 1,
		       "the state says an error interrupt was raised");
		setup(&l2, 1, false);
		ok(lapic_restore(&l2, st, (size_t)n, why, sizeof(why)) == 0,
		   "restored (%s)", why);
		fixed(&l2, 6, false);
		ok(!in(l2.s.irr, 0xfe), "and the restored APIC waits for the "
					"ESR write too");
		teardown(&l2);
	}
	is_int(esr(&l),
	       APIC_ESR_SEND_ILLEGAL_VECTOR | APIC_ESR_RECV_ILLEGAL_VECTOR,
	       "ESR: both logged");
	fixed(&l, 5, false);
	ok(in(l.s.irr, 0xfe), "re-armed by the write: an interrupt again");
	teardown(&l);
}

static void
test_x2apic(void)
{
	struct lapic l;
	uint64_t v;

	setup(&l, 0x23, false);
	ok(lapic_msr_read(&l, 0x802, &v) == -1, "x2APIC MSR #GP in xAPIC");
	ok(lapic_msr_write(&l, MSR_IA32_APIC_BASE, 0xfee00c00) == 0,
	   "xAPIC -> x2APIC");
	ok(lapic_is_x2apic(&l), "in x2APIC mode");
	v = 0;
	ok(lapic_mmio_read(&l, 0x20, &v, 4) == 1 && v == 0xffffffff,
	   "x2APIC: MMIO page not decoded, reads all ones");
	is_int(rdmsr(&l, 0x802), 0x23, "x2APIC ID");
	is_int(rdmsr(&l, 0x803), 0x00050014, "version");
	is_int(rdmsr(&l, 0x80d), 0x20008, "LDR derived: cluster 2, bit 3");
	ok(lapic_msr_write(&l, 0x80d, 0) == -1, "LDR read-only: #GP");
	ok(lapic_msr_write(&l, 0x802, 0) == -1, "ID read-only: #GP");
	ok(lapic_msr_write(&l, 0x803, 0) == -1, "version read-only: #GP");
	ok(lapic_msr_write(&l, 0x80a, 0) == -1, "PPR read-only: #GP");
	ok(lapic_msr_write(&l, 0x810, 0) == -1, "ISR read-only: #GP");
	ok(lapic_msr_write(&l, 0x839, 0) == -1, "current count RO: #GP");
	ok(lapic_msr_read(&l, 0x809, &v) == -1, "APR absent: #GP");
	ok(lapic_msr_read(&l, 0x80e, &v) == -1, "DFR absent: #GP");
	ok(lapic_msr_write(&l, 0x80e, 0) == -1, "DFR write: #GP");
	ok(lapic_msr_read(&l, 0x831, &v) == -1, "ICR high absent: #GP");
	ok(lapic_msr_read(&l, 0x82f, &v) == -1, "CMCI absent: #GP");
	ok(lapic_msr_read(&l, 0x80b, &v) == -1, "EOI write-only: #GP");
	ok(lapic_msr_read(&l, 0x83f, &v) == -1, "SELF IPI write-only: #GP");
	ok(lapic_msr_read(&l, 0x840, &v) == -1, "0x840 reserved: #GP");
	ok(lapic_msr_write(&l, 0x80b, 1) == -1, "EOI non-zero: #GP");
	ok(lapic_msr_write(&l, 0x80b, 0) == 0, "EOI zero ok");
	ok(lapic_msr_write(&l, 0x828, 1) == -1, "ESR non-zero: #GP");
	ok(lapic_msr_write(&l, 0x808, 0x100) == -1, "TPR reserved bit: #GP");
	ok(lapic_msr_write(&l, 0x808, 1ull << 32) == -1, "high half set: #GP");
	ok(lapic_msr_write(&l, 0x80f, 0x11ff) == -1,
	   "SVR EOI-suppression bit reserved: #GP");
	ok(lapic_msr_write(&l, 0x80f, 0x1ff) == 0, "SVR enable");
	ok(lapic_msr_write(&l, 0x808, 0x20) == 0, "TPR write");
	is_int(rdmsr(&l, 0x808), 0x20, "TPR read");
	ok(lapic_msr_write(&l, 0x835, 0x1000000) == -1,
	   "LVT reserved bit: #GP");
	ok(lapic_msr_write(&l, 0x83e, 0x4) == -1, "DCR reserved bit: #GP");

	ok(lapic_msr_write(&l, 0x83f, 0x41) == 0, "SELF IPI");
	ok(in(l.s.irr, 0x41), "SELF IPI lands in IRR");
	ok(lapic_msr_write(&l, 0x83f, 0x141) == -1, "SELF IPI reserved: #GP");
	ok(lapic_msr_write(&l, 0x830, (0x23ull << 32) | 0x4042) == 0,
	   "ICR write to own id");
	ok(in(l.s.irr, 0x42), "ICR fixed to self delivered");
	is_int(rdmsr(&l, 0x830), (0x23ull << 32) | 0x4042, "ICR reads 64 bits");
	is_int(rdmsr(&l, 0x820 + 2), (1u << 1) | (1u << 2),
	       "IRR MSR (0x41, 0x42)");
	ok(lapic_msr_write(&l, 0x830, 1ull << 20) == -1,
	   "ICR reserved bit: #GP");
	lapic_ack_irq(&l, 0x42);
	is_int(rdmsr(&l, 0x812), 1u << 2, "ISR MSR");
	is_int(rdmsr(&l, 0x80a), 0x40, "PPR MSR");
	ok(lapic_msr_write(&l, 0x828, 0) == 0, "ESR zero write ok");
	is_int(rdmsr(&l, 0x828), 0, "ESR read");
	teardown(&l);
}

static void
test_apic_base(void)
{
	struct lapic l;

	setup(&l, 2, false);
	ok(lapic_msr_write(&l, MSR_IA32_APIC_BASE, 0xfee00200) == -1,
	   "reserved bit 9: #GP");
	ok(lapic_msr_write(&l, MSR_IA32_APIC_BASE, 0xfee00400) == -1,
	   "EXTD without EN: #GP");
	ok(lapic_msr_write(&l, MSR_IA32_APIC_BASE, 0xfee00900) == 0,
	   "BSP bit write accepted");
	is_int(rdmsr(&l, MSR_IA32_APIC_BASE), 0xfee00800, "BSP bit ignored");
	ok(lapic_msr_write(&l, MSR_IA32_APIC_BASE, 0xfee00c00) == 0,
	   "xAPIC -> x2APIC");
	ok(lapic_msr_write(&l, MSR_IA32_APIC_BASE, 0xfee00800) == -1,
	   "x2APIC -> xAPIC: #GP");
	ok(lapic_msr_write(&l, MSR_IA32_APIC_BASE, 0xfee00000) == 0,
	   "x2APIC -> disabled");
	ok(lapic_mmio_read(&l, 0x20, &(uint32_t){ 0 }, 4) == 1,
	   "disabled: MMIO not decoded");
	ok(lapic_msr_write(&l, MSR_IA32_APIC_BASE, 0xfee00c00) == -1,
	   "disabled -> x2APIC: #GP");
	fixed(&l, 0x40, false);
	is_int(lapic_next_irq(&l), -1, "disabled APIC accepts nothing");
	ok(lapic_msr_write(&l, MSR_IA32_APIC_BASE, 0xfed00800) == 0,
	   "disabled -> xAPIC at a new base");
	is_int(lapic_mmio_base(&l), 0xfed00000, "relocated base");
	is_int(rd(&l, 0xf0), 0xff, "state reset by disabling");
	is_int(rd(&l, 0x20), 2u << 24, "id kept");
	teardown(&l);
}

static void
test_events_lint(void)
{
	struct lapic l;
	struct lapic_events ev;
	struct apic_msg m = { .assert = 1 };

	setup(&l, 1, false);
	ok(!lapic_take_events(&l, &ev), "no events");
	m.delivery = APIC_DM_INIT;
	lapic_accept(&l, &m);
	m.delivery = APIC_DM_SIPI;
	m.vector = 0x9a;
	lapic_accept(&l, &m);
	ok(lapic_has_work(&l), "INIT/SIPI are work");
	ok(lapic_take_events(&l, &ev), "events taken");
	ok(ev.init && ev.sipi && ev.sipi_vector == 0x9a &&
		   !lapic_nmi_pending(&l),
	   "INIT then SIPI 0x9a");
	ok(!lapic_take_events(&l, &ev), "taking clears them");

	lapic_accept(&l, &m); /* SIPI */
	m.delivery = APIC_DM_INIT;
	lapic_accept(&l, &m);
	lapic_take_events(&l, &ev);
	ok(ev.init && !ev.sipi, "SIPI before INIT is dropped");

	m.delivery = APIC_DM_NMI;
	lapic_accept(&l, &m);
	m.delivery = APIC_DM_SMI;
	lapic_accept(&l, &m);
	lapic_take_events(&l, &ev);
	ok(lapic_take_nmis(&l, 2) == 1 && ev.smi,
	   "NMI and SMI (software-disabled APIC too)");

	/* LINT1 as NMI: rising edge only. */
	wr(&l, 0xf0, 0x1ff);
	wr(&l, 0x360, 0x400);
	lapic_set_lint(&l, 1, 1);
	lapic_set_lint(&l, 1, 1);
	is_int(lapic_nmi_pending(&l), 1, "LINT1 NMI, once: held level");
	lapic_take_nmis(&l, 2);
	lapic_set_lint(&l, 1, 0);
	lapic_set_lint(&l, 1, 1);
	is_int(lapic_take_nmis(&l, 2), 1, "new edge: NMI");

	/* LINT0 fixed. */
	wr(&l, 0x350, 0x55);
	lapic_set_lint(&l, 0, 1);
	is_int(lapic_next_irq(&l), 0x55, "LINT0 fixed vector");
	lapic_set_lint(&l, 0, 0);

	/* LINT0 masked: nothing. */
	wr(&l, 0x350, 0x10700);
	lapic_set_lint(&l, 0, 1);
	is_int(lapic_next_irq(&l), 0x55, "masked ExtINT: not pending");
	wr(&l, 0x350, 0x700);
	is_int(lapic_next_irq(&l), LAPIC_IRQ_EXTINT,
	       "unmasked ExtINT with LINT0 high");
	lapic_set_lint(&l, 0, 0);
	is_int(lapic_next_irq(&l), 0x55, "ExtINT follows the level");

	/* ExtINT message from the bus: latched until acked. */
	m.delivery = APIC_DM_EXTINT;
	lapic_accept(&l, &m);
	is_int(lapic_next_irq(&l), LAPIC_IRQ_EXTINT, "ExtINT message");
	lapic_ack_irq(&l, LAPIC_IRQ_EXTINT);
	is_int(lapic_next_irq(&l), 0x55, "acked");

	/* INIT reset keeps id and base, clears the rest. */
	lapic_reset(&l);
	is_int(lapic_next_irq(&l), -1, "reset clears IRR");
	is_int(rd(&l, 0xf0), 0xff, "reset: SVR");
	is_int(rd(&l, 0x20), 1u << 24, "reset keeps the id");
	is_int(rdmsr(&l, MSR_IA32_APIC_BASE), 0xfee00800, "and the base");

	/* Globally disabled: LINT0 is INTR, LINT1 is NMI. */
	lapic_msr_write(&l, MSR_IA32_APIC_BASE, 0xfee00000);
	lapic_set_lint(&l, 0, 1);
	is_int(lapic_next_irq(&l), LAPIC_IRQ_EXTINT, "no APIC: INTR");
	lapic_set_lint(&l, 1, 0);
	lapic_set_lint(&l, 1, 1);
	is_int(lapic_take_nmis(&l, 2), 1, "no APIC: LINT1 NMI");
	teardown(&l);
}

static void
test_timer(void)
{
	struct lapic l;
	uint64_t v;

	setup(&l, 1, false);
	wr(&l, 0xf0, 0x1ff);
	wr(&l, 0x320, 0x40); /* one-shot, vector 0x40 */
	wr(&l, 0x3e0, 0x0);  /* divide by 2 */
	F.now = 1000;
	wr(&l, 0x380, 1000);
	is_int(lapic_timer_deadline(&l), 1000 + 2000, "one-shot deadline");
	ok(F.timer_changes >= 1, "timer_changed called");
	F.now = 1500;
	is_int(rd(&l, 0x390), 750, "current count after 500 ns");
	lapic_timer_expire(&l, 2999);
	ok(!in(l.s.irr, 0x40), "early expire: nothing");
	F.now = 3000;
	lapic_timer_expire(&l, 3000);
	ok(in(l.s.irr, 0x40), "expiry raises the LVT timer vector");
	is_int(lapic_timer_deadline(&l), 0, "one-shot disarmed");
	is_int(rd(&l, 0x390), 0, "count 0 after expiry");
	is_int(rd(&l, 0x380), 1000, "initial count kept");

	/* Divide configurations. */
	static const struct {
		uint32_t dcr, div;
	} d[] = { { 0x0, 2 },  { 0x1, 4 },  { 0x2, 8 },	  { 0x3, 16 },
		  { 0x8, 32 }, { 0x9, 64 }, { 0xa, 128 }, { 0xb, 1 } };
	for (unsigned i = 0; i < AVM_ARRAY_SIZE(d); i++) {
		wr(&l, 0x3e0, d[i].dcr);
		F.now = 10000;
		wr(&l, 0x380, 100);
		is_int(lapic_timer_deadline(&l), 10000 + 100 * d[i].div,
		       "divide config %#x: by %u", d[i].dcr, d[i].div);
	}
	/* Changing the divider mid-count keeps the count. */
	wr(&l, 0x3e0, 0xb);
	F.now = 0;
	wr(&l, 0x380, 1000);
	F.now = 400;
	wr(&l, 0x3e0, 0x1); /* by 4 */
	is_int(rd(&l, 0x390), 600, "count kept across divide change");
	is_int(lapic_timer_deadline(&l), 400 + 600 * 4, "rest at new rate");
	wr(&l, 0x380, 0);
	is_int(lapic_timer_deadline(&l), 0, "initial count 0 stops");

	/* Periodic. */
	memset(l.s.irr, 0, sizeof(l.s.irr));
	wr(&l, 0x3e0, 0xb);
	wr(&l, 0x320, 0x20041);
	F.now = 0;
	wr(&l, 0x380, 200000);
	is_int(lapic_timer_deadline(&l), 200000, "periodic deadline");
	lapic_timer_expire(&l, 200000);
	ok(in(l.s.irr, 0x41), "periodic fires");
	is_int(lapic_timer_deadline(&l), 400000, "re-armed one period on");
	F.now = 250000;
	is_int(rd(&l, 0x390), 150000, "count in the second period");
	lapic_timer_expire(&l, 1000500);
	is_int(lapic_timer_deadline(&l), 1200000, "missed periods skipped");
	F.now = 1100000;
	is_int(rd(&l, 0x390), 100000, "count after skipping");
	memset(l.s.irr, 0, sizeof(l.s.irr));
	wr(&l, 0x320, 0x30041); /* masked */
	lapic_timer_expire(&l, 1200000);
	ok(!in(l.s.irr, 0x41), "masked: no interrupt");
	is_int(lapic_timer_deadline(&l), 1400000, "masked: still re-armed");
	F.now = 2000000;
	wr(&l, 0x380, 10);
	is_int(lapic_timer_deadline(&l), 2000000 + LAPIC_TIMER_MIN_PERIOD_NS,
	       "tiny periodic period floored");
	wr(&l, 0x320, 0x00041);
	is_int(lapic_timer_deadline(&l), 2000000 + 10,
	       "back to one-shot: natural period");

	/* TSC-deadline. */
	memset(l.s.irr, 0, sizeof(l.s.irr));
	lapic_msr_write(&l, MSR_IA32_TSC_DEADLINE, 1234);
	is_int(rdmsr(&l, MSR_IA32_TSC_DEADLINE), 0,
	       "TSC deadline ignored in one-shot mode");
	wr(&l, 0x320, 0x40042);
	is_int(lapic_timer_deadline(&l), 0, "mode change disarms");
	is_int(rd(&l, 0x380), 0, "and clears the initial count");
	wr(&l, 0x380, 500);
	is_int(rd(&l, 0x380), 0, "initial count ignored in TSC mode");
	F.now = 100;
	F.tsc = 5000;
	lapic_msr_write(&l, MSR_IA32_TSC_DEADLINE, 8000);
	is_int(rdmsr(&l, MSR_IA32_TSC_DEADLINE), 8000, "deadline reads back");
	is_int(lapic_timer_deadline(&l), 3100, "3000 TSC ticks = 3000 ns");
	is_int(rd(&l, 0x390), 0, "current count 0 in TSC mode");
	lapic_timer_expire(&l, 3100);
	ok(in(l.s.irr, 0x42), "TSC deadline fires");
	is_int(rdmsr(&l, MSR_IA32_TSC_DEADLINE), 0, "MSR cleared on expiry");
	is_int(lapic_timer_deadline(&l), 0, "disarmed");
	memset(l.s.irr, 0, sizeof(l.s.irr));
	F.tsc = 9000;
	lapic_msr_write(&l, MSR_IA32_TSC_DEADLINE, 8000);
	ok(in(l.s.irr, 0x42), "deadline in the past fires at once");
	lapic_msr_write(&l, MSR_IA32_TSC_DEADLINE, 20000);
	ok(lapic_timer_deadline(&l) != 0, "armed");
	lapic_msr_write(&l, MSR_IA32_TSC_DEADLINE, 0);
	is_int(lapic_timer_deadline(&l), 0, "writing 0 disarms");
	lapic_msr_write(&l, MSR_IA32_TSC_DEADLINE, 20000);
	wr(&l, 0x320, 0x00042);
	is_int(lapic_timer_deadline(&l), 0, "leaving TSC mode disarms");
	ok(lapic_msr_read(&l, MSR_IA32_TSC_DEADLINE, &v) == 0 && v == 0,
	   "and the MSR reads 0");
	teardown(&l);
}

static void
accept_fixed_vec(struct lapic *l, uint8_t vector, bool level)
{
	struct apic_msg m = { .vector = vector,
			      .delivery = APIC_DM_FIXED,
			      .level_trig = level,
			      .assert = 1 };

	lapic_accept(l, &m);
}

static void
bad_state(struct lapic *x, const char *what, const uint8_t *b, size_t len,
	  int err, const char *want)
{
	uint8_t before[DEVSTATE_MAX], after[DEVSTATE_MAX];
	ssize_t n1 = lapic_save(x, before, sizeof(before)), n2;
	char why[256] = "";
	int rc, e;

	rc = lapic_restore(x, b, len, why, sizeof(why));
	e = errno;
	n2 = lapic_save(x, after, sizeof(after));
	refused(what, rc, e, err, why, want, before, n1, after, n2);
}

static void
test_save(void)
{
	uint8_t a[DEVSTATE_MAX], b[DEVSTATE_MAX], t[DEVSTATE_MAX];
	uint32_t ra[64], rb[64];
	struct lapic l, l2;
	char why[256] = "";
	ssize_t n, n2;
	int same = 1, changes;

	setup(&l, 3, false);
	F.now = 1000000000000ull;
	wr(&l, 0xf0, 0x1ff);
	wr(&l, 0x080, 0x20);
	wr(&l, 0x0d0, 0x08000000);
	wr(&l, 0x3e0, 0xb);		/* divide by 1 */
	wr(&l, 0x320, 1u << 17 | 0xe0); /* periodic, vector 0xe0 */
	wr(&l, 0x380, 1000000);		/* 1 ms */
	accept_fixed_vec(&l, 0x62, false);
	accept_fixed_vec(&l, 0x51, true);
	accept_fixed_vec(&l, 0x05, false); /* illegal: ESR */
	is_int(lapic_next_irq(&l), 0x62, "save: 0x62 first");
	lapic_ack_irq(&l, 0x62);
	is_int(lapic_next_irq(&l), -1, "save: 0x51 waits for 0x62's EOI");
	F.now += 300000;
	is_int(rd(&l, 0x390), 700000, "save: count 700000 after 0.3 ms");

	n = lapic_save(&l, a, sizeof(a));
	is_int(n, LAPIC_STATE_SIZE, "save: %d bytes", LAPIC_STATE_SIZE);
	for (int i = 0; i < 64; i++)
		ra[i] = rd(&l, 0x10 * (uint32_t)i);
	teardown(&l);

	/* Restored five seconds later by another host's clock. */
	{
		struct lapic_env env = l.env;

		lapic_init(&l2, 3, false, &env);
	}
	F.now += 5000000000ull;
	changes = F.timer_changes;
	ok(lapic_restore(&l2, a, (size_t)n, why, sizeof(why)) == 0,
	   "restore into a fresh lapic (%s)", why);
	ok(F.timer_changes > changes, "restore calls timer_changed");
	apicbus_attach(&BUS, 3, &l2);
	n2 = lapic_save(&l2, b, sizeof(b));
	ok(n2 == n && memcmp(a, b, (size_t)n) == 0,
	   "save, restore, save: same bytes");
	for (int i = 0; i < 64; i++)
		rb[i] = rd(&l2, 0x10 * (uint32_t)i);
	for (int i = 0; i < 64; i++)
		if (ra[i] != rb[i]) {
			same = 0;
			printf("#   0x%03x: 0x%08x vs 0x%08x\n", i * 0x10,
			       ra[i], rb[i]);
		}
	ok(same, "every xAPIC register reads the same (count included)");
	is_int(rb[0x39], 700000, "restored: count goes on from 700000");
	is_int(lapic_timer_deadline(&l2), F.now + 700000,
	       "restored: expiry 0.7 ms after restore, by this clock");

	/* Behaviour goes on. */
	wr(&l2, 0x0b0, 0);
	is_int(lapic_next_irq(&l2), 0x51, "EOI of 0x62: 0x51 next");
	lapic_ack_irq(&l2, 0x51);
	F.neoi = 0;
	wr(&l2, 0x0b0, 0);
	ok(F.neoi == 1 && F.eoi[0] == 0x51,
	   "EOI of level 0x51 reaches env.eoi (TMR restored)");
	lapic_timer_expire(&l2, F.now + 699999);
	ok(!in(l2.s.irr, 0xe0), "timer: not early");
	F.now += 700000;
	lapic_timer_expire(&l2, F.now);
	ok(in(l2.s.irr, 0xe0), "timer fires 0.7 ms after restore");
	is_int(lapic_timer_deadline(&l2), F.now + 1000000,
	       "periodic: next in 1 ms");
	wr(&l2, 0x280, 0);
	ok(rd(&l2, 0x280) & APIC_ESR_RECV_ILLEGAL_VECTOR,
	   "restored pending ESR error shows after a write");

	memcpy(t, a, (size_t)n);
	bad_state(&l2, "truncated", t, (size_t)n - 1, EINVAL, "bytes");
	t[0] = 2;
	bad_state(&l2, "version 2", t, (size_t)n, EPROTO, "version 2");
	memcpy(t, a, (size_t)n);
	t[29] |= 0x10;
	bad_state(&l2, "SVR reserved bit", t, (size_t)n, EINVAL, "SVR");
	memcpy(t, a, (size_t)n);
	t[145] |= 0x10;
	bad_state(&l2, "LVT delivery status", t, (size_t)n, EINVAL, "LVT 0");
	memcpy(t, a, (size_t)n);
	t[17] = 1;
	bad_state(&l2, "TPR 0x120", t, (size_t)n, EINVAL, "TPR");
	memcpy(t, a, (size_t)n);
	t[12] = 4;
	bad_state(&l2, "other APIC id", t, (size_t)n, EINVAL, "APIC id 4");
	memcpy(t, a, (size_t)n);
	t[183] = 1;
	bad_state(&l2, "time left past the period", t, (size_t)n, EINVAL,
		  "period");
	memcpy(t, a, (size_t)n);
	t[193] = 2;
	bad_state(&l2, "flag byte 2", t, (size_t)n, EINVAL, "flag");
	memcpy(t, a, (size_t)n);
	t[96] = 1;
	bad_state(&l2, "IRR vector 0", t, (size_t)n, EINVAL, "illegal vector");
	memcpy(t, a, (size_t)n);
	t[202] = 1;
	bad_state(&l2, "reserved byte", t, (size_t)n, EINVAL, "reserved");
	memcpy(t, a, (size_t)n);
	t[5] |= 0x01; /* BSP flag */
	bad_state(&l2, "BSP flag", t, (size_t)n, EINVAL, "BSP");
	teardown(&l2);
}

/* TSC-deadline and a one-shot that is already due when saved. */
static void
test_save_timers(void)
{
	uint8_t a[DEVSTATE_MAX], b[DEVSTATE_MAX];
	struct lapic l, l2;
	struct lapic_env env;
	char why[256] = "";
	ssize_t n;

	setup(&l, 4, false);
	env = l.env;
	F.now = 5000000;
	F.tsc = 7000000;
	wr(&l, 0xf0, 0x1ff);
	wr(&l, 0x320, 2u << 17 | 0xd0); /* TSC-deadline, vector 0xd0 */
	lapic_msr_write(&l, MSR_IA32_TSC_DEADLINE, 7000000 + 40000);
	is_int(lapic_timer_deadline(&l), 5000000 + 40000,
	       "tsc save: armed 40 us ahead");
	F.now += 10000;
	n = lapic_save(&l, a, sizeof(a));
	teardown(&l);
	lapic_init(&l2, 4, false, &env);
	F.now = 90000000000ull; /* another host's clock */
	ok(lapic_restore(&l2, a, (size_t)n, why, sizeof(why)) == 0,
	   "tsc restore (%s)", why);
	is_int(lapic_timer_deadline(&l2), F.now + 30000,
	       "tsc restore: 30 us left, by this clock");
	is_int(rdmsr(&l2, MSR_IA32_TSC_DEADLINE), 7040000,
	       "tsc restore: IA32_TSC_DEADLINE reads back");
	ok(lapic_save(&l2, b, sizeof(b)) == n && memcmp(a, b, (size_t)n) == 0,
	   "tsc: save, restore, save: same bytes");
	F.now += 30000;
	lapic_timer_expire(&l2, F.now);
	ok(in(l2.s.irr, 0xd0), "tsc restore: the deadline fires");
	is_int(rdmsr(&l2, MSR_IA32_TSC_DEADLINE), 0, "and disarms");

	/* A one-shot whose expiry passed before the save fires at once. */
	wr(&l2, 0x320, 0xd1); /* one-shot (leaving TSC mode disarms) */
	wr(&l2, 0x3e0, 0xb);
	wr(&l2, 0x380, 1000);
	F.now += 5000; /* due, not yet expired */
	n = lapic_save(&l2, a, sizeof(a));
	teardown(&l2);
	lapic_init(&l, 4, false, &env);
	F.now += 777;
	ok(lapic_restore(&l, a, (size_t)n, why, sizeof(why)) == 0,
	   "due one-shot restore (%s)", why);
	is_int(lapic_timer_deadline(&l), F.now, "due one-shot: expires now");
	is_int(rd(&l, 0x390), 0, "due one-shot: count 0");
	lapic_timer_expire(&l, F.now);
	ok(in(l.s.irr, 0xd1), "due one-shot fires after restore");
	teardown(&l);
}

/* Writes IA32_APIC_BASE; true when it raised #GP and left it as it was. */
static bool
base_gp(struct lapic *l, uint64_t val)
{
	uint64_t before = rdmsr(l, MSR_IA32_APIC_BASE);

	return lapic_msr_write(l, MSR_IA32_APIC_BASE, val) == -1 &&
	       rdmsr(l, MSR_IA32_APIC_BASE) == before;
}

static void
test_apic_base_reserved(void)
{
	static const unsigned maxphy[] = { 0, 36, 39, 46, 52 };
	struct lapic l;
	bool all = true;

	setup(&l, 2, false);
	for (unsigned k = 0; k < sizeof(maxphy) / sizeof(maxphy[0]); k++) {
		unsigned m = maxphy[k] ? maxphy[k] : 36;

		l.env.maxphyaddr = (uint8_t)maxphy[k];
		ok(base_gp(&l, 0xfee00800 | 1ull << m),
		   "MAXPHYADDR %u: bit %u set: #GP, unchanged", maxphy[k], m);
		for (unsigned b = m; b < 64; b++)
			if (!base_gp(&l, 0xfee00800 | 1ull << b))
				all = false;
		ok(lapic_msr_write(&l, MSR_IA32_APIC_BASE,
				   0xfee00800 | 1ull << (m - 1)) == 0 &&
			   lapic_mmio_base(&l) ==
				   (0xfee00000 | 1ull << (m - 1)),
		   "MAXPHYADDR %u: bit %u is an address bit", maxphy[k], m - 1);
		lapic_msr_write(&l, MSR_IA32_APIC_BASE, 0xfee00800);
	}
	ok(all, "every bit from MAXPHYADDR to 63: #GP");
	for (unsigned b = 0; b < 12; b++) {
		if (b == 8 || b == 10 || b == 11)
			continue;
		ok(base_gp(&l, 0xfee00800 | 1ull << b),
		   "reserved bit %u: #GP, unchanged", b);
	}
	/* Illegal transitions (SDM "x2APIC State Transitions"). */
	ok(base_gp(&l, 0xfee00400), "xAPIC -> EXTD without EN: #GP");
	ok(lapic_msr_write(&l, MSR_IA32_APIC_BASE, 0xfee00c00) == 0,
	   "xAPIC -> x2APIC");
	ok(base_gp(&l, 0xfee00800) && lapic_is_x2apic(&l),
	   "x2APIC -> xAPIC directly: #GP, still x2APIC");
	ok(base_gp(&l, 0xfee00400) && lapic_is_x2apic(&l),
	   "x2APIC -> EXTD without EN: #GP, still x2APIC");
	ok(lapic_msr_write(&l, MSR_IA32_APIC_BASE, 0xfee00000) == 0,
	   "x2APIC -> disabled");
	ok(base_gp(&l, 0xfee00c00), "disabled -> x2APIC: #GP, still disabled");
	ok(base_gp(&l, 0xfee00400), "disabled -> EXTD without EN: #GP");
	ok(lapic_msr_write(&l, MSR_IA32_APIC_BASE, 0xfee00800) == 0,
	   "disabled -> xAPIC");
	is_int(lapic_apic_base(&l), 0xfee00800, "lapic_apic_base: the MSR");
	teardown(&l);
}

/* Every register and odd access of a page that is not decoded. */
static bool
page_all_ones(struct lapic *l)
{
	static const unsigned lens[] = { 1, 2, 4, 8 };
	uint8_t buf[8];

	for (uint32_t off = 0; off < 0x1000; off += 4)
		for (unsigned k = 0; k < 4; k++) {
			memset(buf, 0x5a, sizeof(buf));
			if (lapic_mmio_read(l, off, buf, lens[k]) != 1)
				return false;
			for (unsigned i = 0; i < lens[k]; i++)
				if (buf[i] != 0xff)
					return false;
		}
	return true;
}

static void
test_mmio_not_decoded(void)
{
	struct lapic l;
	uint64_t v;
	int kicks;

	setup(&l, 1, false);
	wr(&l, 0xf0, 0x1ff);
	/* Hardware-disabled. */
	lapic_msr_write(&l, MSR_IA32_APIC_BASE, 0xfee00000);
	ok(page_all_ones(&l), "disabled: every read of the page is all ones");
	kicks = F.kicks;
	wr(&l, 0x300, 0x4040 | 1u << 18); /* self IPI */
	ok(lapic_mmio_write(&l, 0x80, &(uint32_t){ 0x50 }, 4) == 1,
	   "disabled: a write is dropped (1)");
	lapic_msr_write(&l, MSR_IA32_APIC_BASE, 0xfee00800);
	is_int(rd(&l, 0x80), 0, "re-enabled: the TPR write went nowhere");
	is_int(rd(&l, 0x300), 0, "nor the ICR write");
	ok(!in(l.s.irr, 0x40) && F.kicks == kicks, "and no IPI was sent");
	is_int(rd(&l, 0x30), LAPIC_VERSION, "enabled: decoded again");

	/* x2APIC mode: the MSRs work, the page is not decoded. */
	wr(&l, 0xf0, 0x1ff);
	lapic_msr_write(&l, MSR_IA32_APIC_BASE, 0xfee00c00);
	ok(page_all_ones(&l), "x2APIC: every read of the page is all ones");
	fixed(&l, 0x61, false);
	lapic_ack_irq(&l, 0x61);
	wr(&l, 0x80, 0x70); /* TPR */
	wr(&l, 0xb0, 0);    /* EOI */
	wr(&l, 0xf0, 0xff); /* SVR: software disable */
	wr(&l, 0x300, 0x4042 | 1u << 18);
	is_int(rdmsr(&l, 0x808), 0, "x2APIC: MMIO TPR write dropped");
	ok(in(l.s.isr, 0x61), "x2APIC: MMIO EOI dropped");
	is_int(rdmsr(&l, 0x80f), 0x1ff, "x2APIC: MMIO SVR write dropped");
	ok(!in(l.s.irr, 0x42), "x2APIC: MMIO ICR write sends nothing");
	ok(lapic_msr_read(&l, 0x803, &v) == 0 && v == LAPIC_VERSION,
	   "x2APIC: version MSR still reads");
	teardown(&l);
}

static void
test_nmi_count(void)
{
	struct lapic l;
	struct apic_msg nmi = { .delivery = APIC_DM_NMI, .assert = 1 };
	uint8_t a[DEVSTATE_MAX];
	char why[256] = "";
	ssize_t n;

	setup(&l, 4, false);
	wr(&l, 0xf0, 0x1ff);
	lapic_accept(&l, &nmi);
	lapic_accept(&l, &nmi);
	is_int(lapic_nmi_pending(&l), 2, "two NMIs at once: two pending");
	ok(lapic_has_work(&l), "pending NMIs are work");
	lapic_accept(&l, &nmi);
	is_int(lapic_nmi_pending(&l), LAPIC_NMI_MAX,
	       "a third merges: one delivered, one latched");
	is_int(lapic_take_nmis(&l, 2), 2, "taken both when there is room");
	is_int(lapic_nmi_pending(&l), 0, "none left");
	ok(!lapic_has_work(&l), "no work");

	/* The room a vCPU has, from KVM's NMI state. */
	is_int(lapic_nmi_room(false, false, 0), 2, "idle: deliver + latch");
	is_int(lapic_nmi_room(false, false, 1), 1, "one queued: one more");
	is_int(lapic_nmi_room(false, false, 2), 0, "two queued: none");
	is_int(lapic_nmi_room(true, false, 0), 1, "in a handler: latch one");
	is_int(lapic_nmi_room(true, false, 1), 0, "in a handler, latched: 0");
	is_int(lapic_nmi_room(false, true, 0), 1, "being injected: one");
	is_int(lapic_nmi_room(true, true, 1), 0, "injected and latched: 0");
	is_int(lapic_nmi_room(true, false, 5), 0, "never negative");

	/* A vCPU in its NMI handler gets a second NMI: it stays pending
	 * (KVM holds it until IRET); a third one meanwhile merges. */
	lapic_accept(&l, &nmi);
	is_int(lapic_take_nmis(&l, lapic_nmi_room(true, false, 0)), 1,
	       "during a handler: the second is handed over");
	lapic_accept(&l, &nmi);
	is_int(lapic_take_nmis(&l, lapic_nmi_room(true, false, 1)), 0,
	       "a third during the same handler merges");
	is_int(lapic_nmi_pending(&l), 0, "and is gone, as on hardware");

	/* Two NMIs, one from another node (apicbus_deliver), one local. */
	lapic_accept(&l, &nmi);
	apicbus_deliver(&BUS, 4, &nmi);
	is_int(lapic_take_nmis(&l, lapic_nmi_room(false, false, 0)), 2,
	       "local and forwarded NMI: both injected");

	/* LINT1 NMI and an IPI NMI at once. */
	wr(&l, 0x360, 0x400);
	lapic_set_lint(&l, 1, 1);
	lapic_accept(&l, &nmi);
	is_int(lapic_nmi_pending(&l), 2, "LINT1 NMI and NMI IPI: two");

	/* The count survives save and restore. */
	n = lapic_save(&l, a, sizeof(a));
	is_int(a[196], 2, "saved: 2 NMIs pending at byte 196");
	lapic_take_nmis(&l, 2);
	ok(lapic_restore(&l, a, (size_t)n, why, sizeof(why)) == 0,
	   "restored (%s)", why);
	is_int(lapic_nmi_pending(&l), 2, "restored: 2 NMIs pending");
	a[196] = 3;
	ok(lapic_restore(&l, a, (size_t)n, why, sizeof(why)) == -1 &&
		   strstr(why, "NMIs pending"),
	   "3 NMIs pending refused: %s", why);
	teardown(&l);
}

static void
test_cr8(void)
{
	struct lapic l;

	setup(&l, 5, false);
	wr(&l, 0xf0, 0x1ff);
	wr(&l, 0x80, 0x5c);
	is_int(lapic_cr8(&l), 5, "CR8 reads TPR[7:4]");
	lapic_set_cr8(&l, 3);
	is_int(rd(&l, 0x80), 0x30, "CR8 write: TPR = cr8 << 4");
	is_int(rd(&l, 0xa0), 0x30, "and PPR follows");
	fixed(&l, 0x35, false);
	is_int(lapic_next_irq(&l), -1, "CR8 3 holds back class 3");
	lapic_set_cr8(&l, 2);
	is_int(lapic_next_irq(&l), 0x35, "CR8 2 lets 0x35 through");
	lapic_set_cr8(&l, 0x1f);
	is_int(rd(&l, 0x80), 0xf0, "only CR8[3:0] counts");
	lapic_msr_write(&l, MSR_IA32_APIC_BASE, 0xfee00c00);
	lapic_msr_write(&l, 0x808, 0x40);
	is_int(lapic_cr8(&l), 4, "x2APIC TPR MSR write: CR8 4");
	lapic_set_cr8(&l, 1);
	is_int(rdmsr(&l, 0x808), 0x10, "CR8 1: TPR MSR 0x10");
	teardown(&l);
}

int
main(void)
{
	apicbus_init(&BUS, 64, NULL, NULL);
	test_reset_state();
	test_xapic_regs();
	test_svr_masking();
	test_priority();
	test_error_lvt();
	test_x2apic();
	test_apic_base();
	test_apic_base_reserved();
	test_mmio_not_decoded();
	test_nmi_count();
	test_cr8();
	test_events_lint();
	test_timer();
	test_save();
	test_save_timers();
	apicbus_release(&BUS);
	return done_testing();
}
