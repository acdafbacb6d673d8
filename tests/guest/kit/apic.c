/*
 * Local APIC and IOAPIC from CPL3: both pages are mapped user-accessible
 * and uncached, so every register access is one MMIO exit to the VMM.
 * The kit keeps those few: no delivery-status polling (VMMs deliver on
 * the ICR write) and no ICR high write for shorthand IPIs.
 */
#include "kit.h"

void
kit_lapic_init(void)
{
	lapic_write(LAPIC_TPR, 0);
	lapic_write(LAPIC_LVT_TIMER, LVT_MASKED | KIT_VEC_TIMER);
	lapic_write(LAPIC_LVT_LINT0, LVT_MASKED);
	lapic_write(LAPIC_LVT_LINT1, LVT_MASKED);
	lapic_write(LAPIC_LVT_ERROR, LVT_MASKED);
	lapic_write(LAPIC_SVR, 0x100 | KIT_VEC_SPURIOUS);
}

/*
 * IF is off across the two writes: the PING handler writes the ICR too,
 * and an IPI must not go out with another's destination.
 */
void
kit_ipi(uint32_t dest, uint32_t lo)
{
	uint64_t f = kit_irq_save();

	if (!(lo & ICR_OTHERS))
		lapic_write(LAPIC_ICR_HI, dest << 24);
	lapic_write(LAPIC_ICR_LO, lo | ICR_ASSERT);
	kit_irq_restore(f);
}

uint32_t
kit_lapic_timer_khz(void)
{
	static uint32_t khz;
	uint64_t t0, t1;
	uint32_t cur;

	if (kit_bus_khz)
		return kit_bus_khz;
	if (khz)
		return khz;
	/* Divide by 1, one-shot, masked; count down for 10 ms of TSC. */
	lapic_write(LAPIC_TIMER_DIV, 0xb);
	lapic_write(LAPIC_LVT_TIMER, LVT_MASKED | KIT_VEC_TIMER);
	t0 = kit_rdtsc();
	lapic_write(LAPIC_TIMER_INIT, 0xffffffff);
	kit_udelay(10000);
	cur = lapic_read(LAPIC_TIMER_CUR);
	t1 = kit_rdtsc();
	lapic_write(LAPIC_TIMER_INIT, 0);
	khz = (uint32_t)((uint64_t)(0xffffffff - cur) * kit_tsc_khz /
			 (t1 - t0));
	return khz;
}

bool
kit_has_tsc_deadline(void)
{
	uint32_t r[4];

	kit_cpuid(1, 0, r);
	return (r[2] & (1u << 24)) && !kit_arg_word("notscdeadline");
}

static void
ioapic_write(const struct kit_ioapic *io, uint32_t reg, uint32_t v)
{
	volatile uint32_t *base = kit_phys(io->addr);

	base[0] = reg;
	base[4] = v;
}

static uint32_t
ioapic_read(const struct kit_ioapic *io, uint32_t reg)
{
	volatile uint32_t *base = kit_phys(io->addr);

	base[0] = reg;
	return base[4];
}

/*
 * ISA irq through the MADT overrides to its GSI and IOAPIC pin: fixed
 * delivery, physical destination, polarity and trigger from the
 * override (ISA default: active high, edge).  Returns the GSI or -1.
 */
int
kit_ioapic_route(unsigned irq, unsigned vector, unsigned apic_id)
{
	uint32_t gsi = kit_isa_gsi[irq], flags = kit_isa_flags[irq];
	uint32_t lo = vector;

	if ((flags & 3) == 3)
		lo |= 1u << 13; /* active low */
	if (((flags >> 2) & 3) == 3)
		lo |= 1u << 15; /* level */
	for (unsigned i = 0; i < kit_nioapics; i++) {
		const struct kit_ioapic *io = &kit_ioapics[i];
		uint32_t pins = ((ioapic_read(io, 1) >> 16) & 0xff) + 1;
		uint32_t pin = gsi - io->gsi_base;

		if (gsi < io->gsi_base || pin >= pins)
			continue;
		ioapic_write(io, 0x11 + 2 * pin, apic_id << 24);
		ioapic_write(io, 0x10 + 2 * pin, lo);
		return (int)gsi;
	}
	return -1;
}
