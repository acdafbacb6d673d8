/*
 * Local APIC conformance (issue 13), on CPU 0 and then on the last CPU
 * (on another node of an aggregated VM), one CPU at a time:
 *
 * - IA32_APIC_BASE: the bit at MAXPHYADDR, bits 0-7 and 9, EXTD without
 *   EN, disabled -> x2APIC and x2APIC -> xAPIC raise #GP and change
 *   nothing.
 * - Relocation to 0xfef00000: version, ID, TPR and PPR read there, a self
 *   IPI sent and ended (ISR, EOI) there, a fixed IPI from another CPU
 *   arrives there; that other CPU's own page stays at 0xfee00000 (the
 *   base is per CPU); then back.
 * - Hardware-disabled (EN=0): CPUID.1:EDX.APIC reads 0, the xAPIC page
 *   reads all ones and drops writes (a self IPI written there is not
 *   sent); enabled again, CPUID says APIC again.
 * - x2APIC mode: CPUID.1:EDX.APIC reads 1, the xAPIC page is not
 *   decoded (all ones, an MMIO TPR write does not reach TPR's MSR).
 *
 * Then logical destination mode from CPU 0 and from the last CPU: flat
 * (LDR bit cpu for CPUs 0-7, 0 for the others) for all 256 destination
 * values, and cluster (cluster cpu / 4, member bit cpu % 4) for every
 * member mask of clusters 0-2 and 0xff: each CPU's count of the vector
 * must go up by exactly one if the destination names it, else stay.
 * Destinations that name absent CPUs are in the sweep.  Cluster 15 is
 * left out: whether it addresses every cluster differs between the SDM's
 * reading (avm-run's) and KVM's.  x2APIC logical mode is left to the
 * unit tests: the kit's handlers EOI through the xAPIC page.
 *
 * Command-line words leave out what a VMM cannot do (QEMU 7.2's TCG needs
 * all but nox2apic, and has no x2APIC to offer): nobasegp (the #GP
 * checks), norelocate, nodisable (QEMU cannot enable a disabled APIC
 * again), nox2apic, noclusterbroadcast (0xff in the cluster model, which
 * the SDM makes a broadcast and QEMU does not).
 */
#include "kit.h"

KIT_PROGRAM("apic");

#define NEW_BASE 0xfef00000ull
#define LAPIC_PPR 0xa0
#define LAPIC_EOI 0xb0
#define LAPIC_ISR 0x100
#define VEC_SELF (KIT_VEC_TEST + 0xe)
#define VEC_LOGICAL (KIT_VEC_TEST + 0x8)
/* Not ended by the kit's handlers, which EOI at 0xfee00000: */
#define VEC_RELOC_SELF (KIT_VEC_NOEOI + 0xe)
#define VEC_RELOC_IPI (KIT_VEC_NOEOI + 0xd)

/* --- IA32_APIC_BASE, CPUID, the page --------------------------------- */

static bool
cpuid_apic(void)
{
	uint32_t r[4];

	kit_cpuid(1, 0, r);
	return (r[3] >> 9) & 1;
}

static unsigned
maxphyaddr(void)
{
	uint32_t r[4];

	kit_cpuid(0x80000000, 0, r);
	if (r[0] < 0x80000008)
		return 36;
	kit_cpuid(0x80000008, 0, r);
	return (r[0] & 0xff) ? r[0] & 0xff : 36;
}

static void
expect(bool cond, unsigned cpu, const char *what)
{
	if (!cond)
		kit_fail("apic cpu %u: %s", cpu, what);
}

static uint32_t
rd_at(uint64_t base, uint32_t reg)
{
	return *(volatile uint32_t *)kit_phys(base + reg);
}

/* The page at KIT_LAPIC_BASE is not decoded: all ones, writes dropped. */
static void
page_not_decoded(unsigned cpu, const char *mode)
{
	static const uint32_t regs[] = { LAPIC_ID,	  LAPIC_VERSION,
					 LAPIC_TPR,	  LAPIC_SVR,
					 LAPIC_ICR_LO,	  LAPIC_LVT_TIMER,
					 LAPIC_TIMER_CUR, 0x280 };
	uint32_t selfs = kit_irq_count(cpu, VEC_SELF);
	uint32_t v;

	for (unsigned i = 0; i < sizeof(regs) / sizeof(regs[0]); i++) {
		v = lapic_read(regs[i]);
		if (v != 0xffffffff)
			kit_fail("apic cpu %u %s: register 0x%x reads 0x%x, "
				 "not all ones",
				 cpu, mode, regs[i], v);
	}
	lapic_write(LAPIC_ICR_LO, ICR_SELF | ICR_ASSERT | VEC_SELF);
	kit_udelay(2000);
	expect(kit_irq_count(cpu, VEC_SELF) == selfs, cpu,
	       "a self IPI written to the undecoded page was sent");
	expect(lapic_read(LAPIC_ICR_LO) == 0xffffffff, cpu,
	       "the page reads all ones after a write");
}

/* Prints "apic cpu K: WHAT: skipped (KEY)" and returns true when the
 * command line has KEY. */
static bool
left_out(unsigned cpu, const char *what, const char *key)
{
	if (!kit_arg_word(key))
		return false;
	kit_printf("apic cpu %u: %s: skipped (%s)\n", cpu, what, key);
	return true;
}

/* Reserved bits and illegal transitions: #GP, nothing changed. */
static void
base_gp(unsigned cpu, uint64_t base, uint32_t ver)
{
	unsigned m = maxphyaddr();

	expect(kit_wrmsr_safe(MSR_APIC_BASE, base | 1ull << m) == 1, cpu,
	       "bit MAXPHYADDR set: no #GP");
	for (unsigned b = 0; b < 10; b++)
		if (b != 8 &&
		    kit_wrmsr_safe(MSR_APIC_BASE, base | 1ull << b) != 1)
			kit_fail("apic cpu %u: reserved bit %u: no #GP", cpu,
				 b);
	expect(kit_wrmsr_safe(MSR_APIC_BASE, (base & ~BASE_EN) | BASE_EXTD) ==
		       1,
	       cpu, "EXTD without EN: no #GP");
	expect(kit_rdmsr(MSR_APIC_BASE) == base, cpu,
	       "a refused write changed IA32_APIC_BASE");
	expect(lapic_read(LAPIC_VERSION) == ver, cpu,
	       "the page moved after refused writes");
	kit_printf("apic cpu %u: reserved bits: ok\n", cpu);
}

static void
wr_at(uint64_t base, uint32_t reg, uint32_t v)
{
	*(volatile uint32_t *)kit_phys(base + reg) = v;
}

static bool
isr_at(uint64_t base, unsigned vec)
{
	return (rd_at(base, LAPIC_ISR + 0x10 * (vec / 32)) >> (vec % 32)) & 1;
}

/*
 * Relocation, three steps on two CPUs.  While this CPU's page is away
 * from 0xfee00000 only vectors the kit's handlers do not end come in:
 * their EOI would go to 0xfee00000, no longer this CPU's APIC.
 */
static uint32_t reloc_ver, reloc_id, reloc_ipis;

/* On the CPU under test: move the page, use it, a self IPI through it. */
static void
reloc_away(uint32_t cpu)
{
	uint64_t base = kit_rdmsr(MSR_APIC_BASE);
	uint32_t n = kit_irq_count(cpu, VEC_RELOC_SELF);

	reloc_ver = lapic_read(LAPIC_VERSION);
	reloc_id = lapic_read(LAPIC_ID);
	reloc_ipis = kit_irq_count(cpu, VEC_RELOC_IPI);
	expect(kit_wrmsr_safe(MSR_APIC_BASE, (base & 0xfffull) | NEW_BASE) == 0,
	       cpu, "relocating to 0xfef00000 faulted");
	expect((kit_rdmsr(MSR_APIC_BASE) & ~0xfffull) == NEW_BASE, cpu,
	       "IA32_APIC_BASE does not read the new base");
	expect(rd_at(NEW_BASE, LAPIC_VERSION) == reloc_ver, cpu,
	       "relocated page: version register not there");
	expect(rd_at(NEW_BASE, LAPIC_ID) == reloc_id, cpu,
	       "relocated page: ID register not this CPU's");
	wr_at(NEW_BASE, LAPIC_TPR, 0x20);
	expect(rd_at(NEW_BASE, LAPIC_TPR) == 0x20 &&
		       rd_at(NEW_BASE, LAPIC_PPR) == 0x20,
	       cpu, "relocated page: TPR 0x20 written, TPR or PPR differ");
	wr_at(NEW_BASE, LAPIC_TPR, 0);
	wr_at(NEW_BASE, LAPIC_ICR_LO, ICR_SELF | ICR_ASSERT | VEC_RELOC_SELF);
	KIT_WAIT(kit_irq_count(cpu, VEC_RELOC_SELF) != n, kit_wait_ms,
		 "apic cpu %u: a self IPI sent through the relocated page did "
		 "not come",
		 cpu);
	expect(isr_at(NEW_BASE, VEC_RELOC_SELF), cpu,
	       "relocated page: the self IPI is not in service in its ISR");
	wr_at(NEW_BASE, LAPIC_EOI, 0);
	expect(!isr_at(NEW_BASE, VEC_RELOC_SELF), cpu,
	       "relocated page: an EOI written there did not end the self IPI");
}

/* On another CPU: its own page is where it was; an IPI to the moved one. */
static void
reloc_other(uint32_t cpu)
{
	unsigned me = kit_cpu();
	uint32_t n = kit_irq_count(me, VEC_SELF);

	if (lapic_read(LAPIC_ID) >> 24 != kit_cpus[me].apic_id ||
	    lapic_read(LAPIC_VERSION) != reloc_ver)
		kit_fail("apic cpu %u: cpu %u's page left 0xfee00000 too", cpu,
			 me);
	kit_ipi(0, ICR_SELF | VEC_SELF);
	KIT_WAIT(kit_irq_count(me, VEC_SELF) != n, kit_wait_ms,
		 "apic cpu %u: cpu %u's self IPI did not come while cpu %u's "
		 "page was away",
		 cpu, me, cpu);
	kit_ipi(kit_cpus[cpu].apic_id, VEC_RELOC_IPI);
}

/* On the CPU under test: the other CPU's IPI came; the page goes back. */
static void
reloc_back(uint32_t cpu)
{
	uint64_t base = kit_rdmsr(MSR_APIC_BASE);

	if (kit_ncpus > 1) {
		KIT_WAIT(kit_irq_count(cpu, VEC_RELOC_IPI) != reloc_ipis,
			 kit_wait_ms,
			 "apic cpu %u: an IPI to the relocated page did not "
			 "come",
			 cpu);
		expect(isr_at(NEW_BASE, VEC_RELOC_IPI), cpu,
		       "relocated page: the IPI is not in service in its ISR");
		wr_at(NEW_BASE, LAPIC_EOI, 0);
	}
	expect(kit_wrmsr_safe(MSR_APIC_BASE,
			      (base & 0xfffull) | KIT_LAPIC_BASE) == 0,
	       cpu, "moving back faulted");
	expect(lapic_read(LAPIC_VERSION) == reloc_ver &&
		       lapic_read(LAPIC_ID) == reloc_id,
	       cpu, "not back at 0xfee00000");
	kit_printf("apic cpu %u: relocation: ok\n", cpu);
}

static void
base_disable(unsigned cpu, uint64_t base, uint32_t ver)
{
	expect(kit_wrmsr_safe(MSR_APIC_BASE, base & ~BASE_EN) == 0, cpu,
	       "disabling faulted");
	expect(!cpuid_apic(), cpu, "CPUID.1:EDX.APIC set while disabled");
	page_not_decoded(cpu, "disabled");
	if (!kit_arg_word("nobasegp"))
		expect(kit_wrmsr_safe(MSR_APIC_BASE, base | BASE_EXTD) == 1,
		       cpu, "disabled -> x2APIC: no #GP");
	expect(kit_wrmsr_safe(MSR_APIC_BASE, base) == 0, cpu,
	       "enabling again faulted");
	expect(cpuid_apic(), cpu, "CPUID.1:EDX.APIC clear after re-enable");
	expect(lapic_read(LAPIC_VERSION) == ver, cpu,
	       "re-enabled page: version register not there");
	kit_lapic_init();
	kit_printf("apic cpu %u: disabled: ok\n", cpu);
}

static void
base_x2apic(unsigned cpu, uint64_t base, uint32_t ver)
{
	uint32_t tpr = lapic_read(LAPIC_TPR);

	expect(kit_wrmsr_safe(MSR_APIC_BASE, base | BASE_EXTD) == 0, cpu,
	       "xAPIC -> x2APIC faulted");
	expect(cpuid_apic(), cpu, "CPUID.1:EDX.APIC clear in x2APIC mode");
	page_not_decoded(cpu, "x2APIC");
	lapic_write(LAPIC_TPR, 0x70);
	expect(kit_rdmsr(0x808) == tpr, cpu,
	       "x2APIC: an MMIO TPR write reached the TPR");
	expect((kit_rdmsr(0x803) & 0xffffffff) == ver, cpu,
	       "x2APIC: version MSR");
	expect(kit_wrmsr_safe(MSR_APIC_BASE, base) == 1, cpu,
	       "x2APIC -> xAPIC: no #GP");
	expect(kit_wrmsr_safe(MSR_APIC_BASE, (base & ~BASE_EN) | BASE_EXTD) ==
		       1,
	       cpu, "x2APIC -> EXTD without EN: no #GP");
	expect(kit_rdmsr(MSR_APIC_BASE) == (base | BASE_EXTD), cpu,
	       "a refused write left x2APIC mode");
	expect(kit_wrmsr_safe(MSR_APIC_BASE, base & ~(BASE_EN | BASE_EXTD)) ==
		       0,
	       cpu, "x2APIC -> disabled faulted");
	expect(kit_wrmsr_safe(MSR_APIC_BASE, base) == 0, cpu,
	       "disabled -> xAPIC faulted");
	kit_lapic_init();
	expect(lapic_read(LAPIC_VERSION) == ver, cpu,
	       "back in xAPIC mode: version register not there");
	kit_printf("apic cpu %u: x2APIC mode: ok\n", cpu);
}

/* On the CPU under test: where IA32_APIC_BASE starts, and its #GPs. */
static void
base_first(uint32_t cpu)
{
	uint64_t base = kit_rdmsr(MSR_APIC_BASE);

	expect((base & (BASE_EN | BASE_EXTD)) == BASE_EN &&
		       (base & ~0xfffull) == KIT_LAPIC_BASE,
	       cpu, "IA32_APIC_BASE is not xAPIC at 0xfee00000");
	expect(cpuid_apic(), cpu, "CPUID.1:EDX.APIC clear while enabled");
	if (!left_out(cpu, "reserved bits", "nobasegp"))
		base_gp(cpu, base, lapic_read(LAPIC_VERSION));
}

/* On the CPU under test: disabled, then x2APIC mode. */
static void
base_last(uint32_t cpu)
{
	uint64_t base = kit_rdmsr(MSR_APIC_BASE);
	uint32_t ver = lapic_read(LAPIC_VERSION);

	if (!left_out(cpu, "disabled", "nodisable"))
		base_disable(cpu, base, ver);
	if (left_out(cpu, "x2APIC mode", "nox2apic"))
		return;
	if (!kit_cpuid_x2apic()) {
		kit_printf("apic cpu %u: x2APIC mode: no x2APIC, skipped\n",
			   cpu);
		return;
	}
	base_x2apic(cpu, base, ver);
}

/* From CPU 0: every IA32_APIC_BASE check on CPU c. */
static void
base_checks(unsigned c)
{
	unsigned other = c == 0 ? kit_ncpus - 1 : 0;

	kit_on_cpu(c, base_first, c);
	if (!left_out(c, "relocation", "norelocate")) {
		kit_on_cpu(c, reloc_away, c);
		if (other != c)
			kit_on_cpu(other, reloc_other, c);
		kit_on_cpu(c, reloc_back, c);
	}
	kit_on_cpu(c, base_last, c);
}

/* --- logical destination mode ---------------------------------------- */

static uint8_t ldr[KIT_MAX_CPUS];
static uint32_t before[KIT_MAX_CPUS];

/* arg: bit 8 cluster model, bits 7:0 the logical id. */
static void
set_logical(uint32_t arg)
{
	lapic_write(LAPIC_DFR, (arg & 0x100) ? 0x0fffffff : 0xffffffff);
	lapic_write(LAPIC_LDR, (arg & 0xff) << 24);
}

static void
send_logical(uint32_t dest)
{
	kit_ipi(dest, ICR_LOGICAL | VEC_LOGICAL);
}

static bool
addressed(unsigned cpu, unsigned d, bool cluster)
{
	if (d == 0xff)
		return true;
	if (!cluster)
		return d & ldr[cpu];
	return (d >> 4) == (ldr[cpu] >> 4u) && (d & ldr[cpu] & 0xf);
}

static void
one_logical(unsigned from, unsigned d, bool cluster)
{
	unsigned n = kit_ncpus;

	for (unsigned i = 0; i < n; i++)
		before[i] = kit_irq_count(i, VEC_LOGICAL);
	kit_on_cpu(from, send_logical, d);
	for (unsigned i = 0; i < n; i++)
		KIT_WAIT(kit_irq_count(i, VEC_LOGICAL) - before[i] >=
				 (uint32_t)addressed(i, d, cluster),
			 kit_wait_ms, "%s 0x%02x from cpu %u: cpu %u got none",
			 cluster ? "cluster" : "flat", d, from, i);
	kit_udelay(2000);
	for (unsigned i = 0; i < n; i++) {
		uint32_t got = kit_irq_count(i, VEC_LOGICAL) - before[i];

		if (got != (uint32_t)addressed(i, d, cluster))
			kit_fail("logical %s 0x%02x from cpu %u: cpu %u got "
				 "%u, expected %u",
				 cluster ? "cluster" : "flat", d, from, i, got,
				 (unsigned)addressed(i, d, cluster));
	}
}

static void
logical_sweep(bool cluster)
{
	unsigned n = kit_ncpus, senders[2] = { 0, n - 1 };
	bool bcast_left_out = cluster && kit_arg_word("noclusterbroadcast");

	for (unsigned i = 0; i < n; i++) {
		if (!cluster)
			ldr[i] = i < 8 ? (uint8_t)(1u << i) : 0;
		else
			ldr[i] =
				i < 12 ? (uint8_t)((i / 4) << 4 | 1u << (i % 4))
				       : 0;
		kit_on_cpu(i, set_logical, (cluster ? 0x100u : 0) | ldr[i]);
	}
	for (unsigned k = 0; k < (n > 1 ? 2u : 1u); k++) {
		if (!cluster) {
			for (unsigned d = 0; d < 256; d++)
				one_logical(senders[k], d, false);
		} else {
			for (unsigned c = 0; c < 3; c++)
				for (unsigned m = 0; m < 16; m++)
					one_logical(senders[k], c << 4 | m,
						    true);
			if (!bcast_left_out)
				one_logical(senders[k], 0xff, true);
		}
		kit_printf("apic logical %s from cpu %u: ok%s\n",
			   cluster ? "cluster" : "flat", senders[k],
			   bcast_left_out
				   ? " (0xff skipped: noclusterbroadcast)"
				   : "");
	}
}

void
prog_main(unsigned cpu)
{
	unsigned n = kit_ncpus;

	if (cpu != 0) {
		kit_serve(cpu);
		return;
	}
	base_checks(0);
	if (n > 1)
		base_checks(n - 1);
	logical_sweep(false);
	logical_sweep(true);
	for (unsigned i = 1; i < n; i++)
		kit_on_cpu(i, NULL, 0);
}
