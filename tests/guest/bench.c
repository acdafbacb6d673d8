/*
 * Micro-benchmarks at CPL3, timed with the TSC; each line is
 *
 *	bench NAME cycles=C ns=N iters=I tsc_khz=K
 *
 * with C the median of I samples (signed for the timer latencies).
 *
 *   rdtsc           two back-to-back lfence;rdtsc: the timing overhead
 *   exit_pio        outb to port 0x80 (KIT_PORT_NOP), a VMM that ignores
 *                   it: one exit round trip
 *   exit_mmio       read of the LAPIC version register: one MMIO exit
 *   exit_ioapic     read of the IOAPIC data window: an MMIO exit to a
 *                   device model (forwarded to node 0 from other nodes)
 *   syscall         int 0x80 that does nothing: CPL3 -> CPL0 -> CPL3
 *   ipi_rtt         CPU 0 sends PING to CPU 1, whose handler sends PONG
 *                   back; from before the send to CPU 0's PONG handler
 *   timer_oneshot   LAPIC one-shot of 100 us: from the programmed expiry
 *                   (TSC before the arming write + 100 us) to the handler
 *   timer_deadline  the same in TSC-deadline mode, from the deadline
 *
 * iters=N on the command line (default 1000); exit_cpu=K measures
 * exit_pio and exit_mmio on CPU K instead of CPU 0.  Never pass/fail on time:
 * it fails only when something does not arrive at all.
 */
#include "kit.h"

KIT_PROGRAM("bench");

#define MAX_SAMPLES 100000
#define SIGNED_BIAS (1ull << 62)
#define TIMER_US 100

static uint64_t samples[MAX_SAMPLES];
static uint64_t iters;
static volatile uint32_t done;

static void
report(const char *name, bool is_signed)
{
	uint64_t med = kit_median(samples, iters);
	int64_t c = is_signed ? (int64_t)(med - SIGNED_BIAS) : (int64_t)med;
	int64_t ns = c * 1000000 / (int64_t)kit_tsc_khz;

	kit_printf("bench %s cycles=%ld ns=%ld iters=%lu tsc_khz=%lu\n", name,
		   c, ns, iters, kit_tsc_khz);
}

static void
bench_rdtsc(void)
{
	for (uint64_t i = 0; i < iters; i++) {
		uint64_t t0 = kit_rdtsc();

		samples[i] = kit_rdtsc() - t0;
	}
	report("rdtsc", false);
}

static void
bench_pio(void)
{
	for (uint64_t i = 0; i < iters; i++) {
		uint64_t t0 = kit_rdtsc();

		outb(KIT_PORT_NOP, 0);
		samples[i] = kit_rdtsc() - t0;
	}
	report("exit_pio", false);
}

static void
bench_mmio(void)
{
	for (uint64_t i = 0; i < iters; i++) {
		uint64_t t0 = kit_rdtsc();

		(void)lapic_read(LAPIC_VERSION);
		samples[i] = kit_rdtsc() - t0;
	}
	report("exit_mmio", false);
}

/* A read of the IOAPIC's data window: an MMIO exit to a device model
 * (on node 0: forwarded from the other nodes of an aggregated VM). */
static void
bench_ioapic(void)
{
	volatile uint32_t *io;

	if (kit_nioapics == 0) {
		kit_printf("bench exit_ioapic skipped: no ioapic\n");
		return;
	}
	io = kit_phys(kit_ioapics[0].addr);
	io[0] = 1; /* IOREGSEL: the version register */
	for (uint64_t i = 0; i < iters; i++) {
		uint64_t t0 = kit_rdtsc();

		(void)io[4];
		samples[i] = kit_rdtsc() - t0;
	}
	report("exit_ioapic", false);
}

static void
bench_syscall(void)
{
	for (uint64_t i = 0; i < iters; i++) {
		uint64_t t0 = kit_rdtsc();

		kit_syscall(KIT_SYS_NULL, 0, 0);
		samples[i] = kit_rdtsc() - t0;
	}
	report("syscall", false);
}

static void
bench_ipi(void)
{
	if (kit_ncpus < 2) {
		kit_printf("bench ipi_rtt skipped: needs 2 cpus\n");
		return;
	}
	kit_cpus[1].ping_icr_hi = kit_cpus[0].apic_id << 24;
	for (uint64_t i = 0; i < iters; i++) {
		uint32_t c0 = kit_irq_count(0, KIT_VEC_PONG);
		uint64_t t0 = kit_rdtsc();

		kit_ipi(kit_cpus[1].apic_id, KIT_VEC_PING);
		KIT_WAIT(kit_irq_count(0, KIT_VEC_PONG) != c0, kit_wait_ms,
			 "pong %lu from cpu 1", i);
		samples[i] = kit_irq_tsc(0, KIT_VEC_PONG) - t0;
	}
	report("ipi_rtt", false);
}

static void
bench_timer(bool deadline)
{
	uint32_t khz = kit_lapic_timer_khz();
	uint32_t count = (uint32_t)((uint64_t)khz * TIMER_US / 1000);
	uint64_t expiry = kit_us_to_tsc(TIMER_US);

	lapic_write(LAPIC_TIMER_DIV, 0xb);
	lapic_write(LAPIC_LVT_TIMER,
		    (deadline ? LVT_TSC_DEADLINE : 0) | KIT_VEC_TIMER);
	for (uint64_t i = 0; i < iters; i++) {
		uint32_t c0 = kit_irq_count(0, KIT_VEC_TIMER);
		uint64_t t0 = kit_rdtsc();

		if (deadline)
			kit_wrmsr(MSR_TSC_DEADLINE, t0 + expiry);
		else
			lapic_write(LAPIC_TIMER_INIT, count);
		KIT_WAIT(kit_irq_count(0, KIT_VEC_TIMER) != c0, kit_wait_ms,
			 "timer interrupt %lu", i);
		samples[i] = kit_irq_tsc(0, KIT_VEC_TIMER) - (t0 + expiry) +
			     SIGNED_BIAS;
	}
	lapic_write(LAPIC_LVT_TIMER, LVT_MASKED | KIT_VEC_TIMER);
	report(deadline ? "timer_deadline" : "timer_oneshot", true);
}

static volatile uint32_t exits_done;

void
prog_main(unsigned cpu)
{
	/* exit_cpu=K runs the exit round trips on CPU K (on another node of
	 * an aggregated VM, a port access is forwarded to node 0). */
	unsigned exit_cpu = (unsigned)kit_arg_u64("exit_cpu", 0);

	iters = kit_arg_u64("iters", 1000);
	if (iters == 0 || iters > MAX_SAMPLES)
		kit_fail("iters=%lu: must be 1 to %u", iters, MAX_SAMPLES);
	if (exit_cpu >= kit_ncpus)
		kit_fail("exit_cpu=%u: only %u cpus", exit_cpu, kit_ncpus);
	if (cpu == exit_cpu && cpu != 0) {
		bench_pio();
		bench_mmio();
		bench_ioapic();
		exits_done = 1;
	}
	if (cpu == 1) {
		/* Spin at CPL3 with IF set: the PING handler answers. */
		while (!done)
			kit_pause();
		return;
	}
	if (cpu != 0)
		return;
	bench_rdtsc();
	if (exit_cpu == 0) {
		bench_pio();
		bench_mmio();
		bench_ioapic();
	} else {
		while (!exits_done)
			kit_pause();
	}
	bench_syscall();
	bench_ipi();
	done = 1;
	bench_timer(false);
	if (kit_has_tsc_deadline())
		bench_timer(true);
	else
		kit_printf("bench timer_deadline skipped: no tsc-deadline or "
			   "notscdeadline\n");
}
