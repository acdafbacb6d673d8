/*
 * IPIs: fixed to each AP and from each AP to the BSP (physical
 * destination), broadcast all-but-self and all-including-self, self,
 * logical flat destination (one bit per CPU, cpu % 8), and NMI both
 * ways.  The APs send to the BSP one after the other, as an APIC
 * merges a vector that is already pending.  Each receiver counts in its
 * handler; after each step the BSP waits for the expected counts, waits
 * 10 ms more for strays, and checks every CPU's count exactly.
 */
#include "kit.h"

KIT_PROGRAM("ipi");

enum {
	STEP_NONE,
	STEP_TO_BSP,
	STEP_SELF,
	STEP_LOGICAL_SETUP,
	STEP_NMI_TO_BSP,
	STEP_DONE,
};

static volatile uint32_t step, acks;
static uint32_t base[KIT_MAX_CPUS];

static void
snapshot(unsigned vec)
{
	for (unsigned i = 0; i < kit_ncpus; i++)
		base[i] = kit_irq_count(i, vec);
}

/* Every CPU's count of vec since snapshot() must become want(cpu). */
static void
check(const char *what, unsigned vec, uint32_t (*want)(unsigned))
{
	for (unsigned i = 0; i < kit_ncpus; i++)
		KIT_WAIT(kit_irq_count(i, vec) - base[i] >= want(i),
			 kit_wait_ms, "%s: cpu %u got %u of %u", what, i,
			 kit_irq_count(i, vec) - base[i], want(i));
	kit_udelay(10000);
	for (unsigned i = 0; i < kit_ncpus; i++) {
		uint32_t got = kit_irq_count(i, vec) - base[i];

		if (got != want(i))
			kit_fail("%s: cpu %u got %u, expected %u", what, i, got,
				 want(i));
	}
	kit_printf("ipi %s: ok\n", what);
}

/* Runs a step on the APs and waits for all of them to have done it. */
static void
ap_step(uint32_t s)
{
	acks = 0;
	__atomic_store_n(&step, s, __ATOMIC_RELEASE);
	KIT_WAIT(__atomic_load_n(&acks, __ATOMIC_ACQUIRE) == kit_ncpus - 1,
		 kit_wait_ms, "aps in step %u: %u of %u", s, acks,
		 kit_ncpus - 1);
}

static uint32_t
want_aps(unsigned cpu)
{
	return cpu != 0;
}

static uint32_t
want_bsp_from_aps(unsigned cpu)
{
	return cpu == 0 ? kit_ncpus - 1 : 0;
}

static uint32_t
want_all(unsigned cpu)
{
	return 1;
}

static uint32_t
want_logical_others(unsigned cpu)
{
	return cpu % 8 != 0;
}

static uint32_t
want_logical_last(unsigned cpu)
{
	return cpu % 8 == (kit_ncpus - 1) % 8;
}

static uint32_t
want_bsp(unsigned cpu)
{
	return cpu == 0;
}

static void
logical_setup(unsigned cpu)
{
	lapic_write(LAPIC_DFR, 0xffffffff); /* flat model */
	lapic_write(LAPIC_LDR, (1u << (cpu % 8)) << 24);
}

static void
ap_loop(unsigned cpu)
{
	uint32_t last = STEP_NONE, s;

	for (;;) {
		while ((s = __atomic_load_n(&step, __ATOMIC_ACQUIRE)) == last)
			kit_pause();
		last = s;
		switch (s) {
		case STEP_TO_BSP:
			/* In turn: the BSP's APIC would merge a vector that
			 * is already pending in its IRR. */
			KIT_WAIT(kit_irq_count(0, KIT_VEC_TEST + 2) - base[0] ==
					 cpu - 1,
				 kit_wait_ms, "cpu %u: its turn to send", cpu);
			kit_ipi(kit_cpus[0].apic_id, KIT_VEC_TEST + 2);
			break;
		case STEP_SELF:
			kit_ipi(0, ICR_SELF | (KIT_VEC_TEST + 4));
			break;
		case STEP_LOGICAL_SETUP:
			logical_setup(cpu);
			break;
		case STEP_NMI_TO_BSP:
			if (cpu == kit_ncpus - 1)
				kit_ipi(kit_cpus[0].apic_id, ICR_NMI);
			break;
		case STEP_DONE:
			__atomic_add_fetch(&acks, 1, __ATOMIC_RELEASE);
			return;
		}
		__atomic_add_fetch(&acks, 1, __ATOMIC_RELEASE);
	}
}

void
prog_main(unsigned cpu)
{
	unsigned n = kit_ncpus;

	if (cpu != 0) {
		ap_loop(cpu);
		return;
	}
	if (n < 2)
		kit_fail("needs 2 cpus or more, has %u", n);

	snapshot(KIT_VEC_TEST + 1);
	for (unsigned i = 1; i < n; i++)
		kit_ipi(kit_cpus[i].apic_id, KIT_VEC_TEST + 1);
	check("fixed bsp->ap", KIT_VEC_TEST + 1, want_aps);

	snapshot(KIT_VEC_TEST + 2);
	ap_step(STEP_TO_BSP);
	check("fixed ap->bsp", KIT_VEC_TEST + 2, want_bsp_from_aps);

	snapshot(KIT_VEC_TEST + 3);
	kit_ipi(0, ICR_OTHERS | (KIT_VEC_TEST + 3));
	check("all-but-self", KIT_VEC_TEST + 3, want_aps);

	snapshot(KIT_VEC_TEST + 4);
	kit_ipi(0, ICR_SELF | (KIT_VEC_TEST + 4));
	ap_step(STEP_SELF);
	check("self", KIT_VEC_TEST + 4, want_all);

	snapshot(KIT_VEC_TEST + 5);
	kit_ipi(0, ICR_ALL | (KIT_VEC_TEST + 5));
	check("all-including-self", KIT_VEC_TEST + 5, want_all);

	logical_setup(0);
	ap_step(STEP_LOGICAL_SETUP);
	snapshot(KIT_VEC_TEST + 6);
	kit_ipi(0xfe, ICR_LOGICAL | (KIT_VEC_TEST + 6));
	check("logical 0xfe", KIT_VEC_TEST + 6, want_logical_others);
	snapshot(KIT_VEC_TEST + 7);
	kit_ipi(1u << ((n - 1) % 8), ICR_LOGICAL | (KIT_VEC_TEST + 7));
	check("logical one cpu", KIT_VEC_TEST + 7, want_logical_last);

	snapshot(KIT_VEC_NMI);
	for (unsigned i = 1; i < n; i++)
		kit_ipi(kit_cpus[i].apic_id, ICR_NMI);
	check("nmi bsp->ap", KIT_VEC_NMI, want_aps);
	snapshot(KIT_VEC_NMI);
	ap_step(STEP_NMI_TO_BSP);
	check("nmi ap->bsp", KIT_VEC_NMI, want_bsp);

	ap_step(STEP_DONE);
}
