/*
 * Local APIC conformance, part 2 (issue 13): what the SDM's APIC chapter
 * says of the ESR, LVT masking, the timer's modes, TPR, PPR and CR8.  On
 * CPU 0 and then on the last CPU (on another node of an aggregated VM),
 * one CPU at a time, each first in xAPIC mode (MMIO) and then, where
 * CPUID offers it, in x2APIC mode (the same checks through the MSRs).
 * Each line is "apic2 cpu K MODE: CHECK: ok" (MODE xapic or x2apic):
 *
 * - esr: the ESR reads what the last write to it latched (errors since
 *   the write before it), so an error shows only after the next write,
 *   and the write after that clears it (SDM 10.5.3).  A fixed IPI with
 *   vector 5 sets "send illegal vector" (0x20); a timer LVT with vector 5
 *   "receive illegal vector" (0x40) and delivers nothing; a self IPI with
 *   vector 5 sets 0x20 (whether also 0x40 is left open: the SDM's bit 6
 *   names self IPIs, its bit 5 the sender).  xAPIC: a read of reserved
 *   offset 0x40 sets 0x80.  x2APIC: a write to reserved MSR 0x804 and a
 *   nonzero ESR write raise #GP and set nothing.  The error LVT: an
 *   error raises its interrupt once; the same error again before an ESR
 *   write does not (that write "rearms" it), after one it does; masked,
 *   errors are still logged.
 * - lvt mask: a masked one-shot timer counts down to 0 and delivers
 *   nothing, and unmasking it later does not deliver the missed one; a
 *   masked periodic timer counts on, and ticks once unmasked; an initial
 *   count of 0 stops it.
 * - software disable: SVR bit 8 cleared sets the mask bit of the timer,
 *   LINT0, LINT1 and error LVTs and keeps it set on LVT writes; a
 *   running periodic timer delivers nothing; an NMI is still accepted;
 *   SVR bit 8 set again leaves the masks set (SDM 10.4.7.2).
 * - timer restart: writing the initial count while counting restarts the
 *   count (the current count goes up; the interrupt comes a full count
 *   after the write), one-shot and periodic (SDM 10.5.4).
 * - timer mode switch: one-shot -> periodic and periodic -> one-shot
 *   while counting: the count runs on (the current count does not go up
 *   or to 0); at 0 the mode then in force decides: periodic reloads, one-
 *   shot stops at 0.  An expired one-shot switched to periodic stays at 0
 *   with no interrupt: a mode change does not start the timer (SDM
 *   10.5.4.1: a write that changes the mode disarms it).  The count
 *   running on follows hardware as KVM found it (its "Keep timer running
 *   when switching between one-shot and periodic mode", observed on bare
 *   metal); a literal reading of 10.5.4.1 would disarm it instead.
 * - tsc-deadline switch (where CPUID has TSC-deadline): a deadline
 *   fires; a running count switched to TSC-deadline mode reads 0 and
 *   delivers nothing, an initial-count write there is ignored; an armed
 *   deadline switched to one-shot does not fire and IA32_TSC_DEADLINE
 *   reads 0 (SDM 10.5.4.1).
 * - tpr: TPR and PPR read back what was written (nothing in service);
 *   x2APIC: TPR bit 8 raises #GP.  At TPR 0x50, vectors 0x4a and 0x52 wait
 *   in IRR; at 0x4f, 0x52 comes and 0x4a waits; at 0x3f, 0x4a comes.
 * - ppr: with 0x58 in service, PPR is the TPR when TPR[7:4] >= 5, else
 *   0x50 (SDM 10.8.3.1); 0x4a and 0x52 wait, 0x61 (class 6) comes; EOI
 *   ends 0x58 and 0x52 comes, the next EOI and 0x4a comes.
 * - cr8: MOV CR8 (through a syscall: CPL0 only) reads TPR[7:4]; a CR8
 *   write sets TPR[7:4] and clears TPR[3:0] (SDM 10.8.6.1); CR8 blocks as
 *   TPR does: 0x4a waits at CR8 5 and 4, comes at 3.  MOV to CR8 at CPL3
 *   raises #GP and changes nothing.  Not checked: a CR8 write of the
 *   class TPR already has (from TPR 0x57, CR8 = 5 must leave 0x50),
 *   which a VMM with a user-space APIC cannot see under KVM.
 *
 * The vectors 0x50-0x5f are the kit's that are not ended by its handler
 * (the program writes EOI); in x2APIC mode the kit's handlers EOI through
 * the xAPIC page, which is not decoded there, so the program ends every
 * interrupt itself.
 *
 * Command-line words leave out what a VMM cannot do (QEMU 7.2's TCG
 * needs all three; it has no x2APIC and no TSC-deadline mode, so those
 * are skipped anyway): noesr (QEMU logs no illegal vector, and its ESR
 * ignores writes), nosvrmask (QEMU leaves the LVT masks alone on a
 * software disable), noexpiredswitch (QEMU starts an expired one-shot
 * again when it is switched to periodic).  nox2apic leaves out x2APIC
 * mode, notscdeadline the TSC-deadline checks.
 */
#include "kit.h"

KIT_PROGRAM("apic2");

#define LAPIC_PPR 0xa0
#define LAPIC_EOI 0xb0
#define LAPIC_ISR 0x100
#define LAPIC_IRR 0x200
#define LAPIC_ESR 0x280
#define LAPIC_SELF_IPI 0x3f0 /* x2APIC only */

#define ESR_SEND_ILLEGAL 0x20
#define ESR_RECV_ILLEGAL 0x40
#define ESR_ILLEGAL_REG 0x80

#define V_ILLEGAL 5		      /* an exception vector: illegal */
#define V_LOW (KIT_VEC_TEST + 0xa)    /* 0x4a, class 4 */
#define V_LINT (KIT_VEC_TEST + 0xb)   /* LINT0/1, never raised */
#define V_ERROR (KIT_VEC_TEST + 0xc)  /* the error LVT */
#define V_TIMER (KIT_VEC_TEST + 0xd)  /* the timer LVT */
#define V_HELD2 (KIT_VEC_NOEOI + 0x2) /* 0x52, class 5, no EOI */
#define V_HELD (KIT_VEC_NOEOI + 0x8)  /* 0x58, class 5, no EOI */
#define V_HIGH 0x61		      /* class 6; the kit ends it */

#define T_US 50000 /* the timer checks' count, in us */
/* How long something that must come may take: the kit's wait= */
#define MUST_US (kit_wait_ms * 1000)
/* A timer step whose timed part ran this much later than planned (the
 * vCPU, or the VMM's timer, did not run) is tried again, up to TRIES
 * times. */
#define SLACK_US (T_US / 5)
#define TRIES 5

static bool x2;		  /* the CPU under test is in x2APIC mode */
static const char *check; /* the check running, for messages */
static unsigned stalls;	  /* timer steps tried again */

/* --- registers, in either mode -------------------------------------- */

static uint32_t
msr_of(uint32_t reg)
{
	return 0x800 + reg / 16;
}

static uint32_t
rd(uint32_t reg)
{
	return x2 ? (uint32_t)kit_rdmsr(msr_of(reg)) : lapic_read(reg);
}

static void
wr(uint32_t reg, uint32_t v)
{
	if (x2)
		kit_wrmsr(msr_of(reg), v);
	else
		lapic_write(reg, v);
}

static bool
irr(unsigned v)
{
	return (rd(LAPIC_IRR + 0x10 * (v / 32)) >> (v % 32)) & 1;
}

static bool
isr(unsigned v)
{
	return (rd(LAPIC_ISR + 0x10 * (v / 32)) >> (v % 32)) & 1;
}

/* A fixed (or NMI) IPI to physical APIC id dest. */
static void
send(uint32_t dest, uint32_t lo)
{
	if (x2)
		kit_wrmsr(msr_of(LAPIC_ICR_LO),
			  (uint64_t)dest << 32 | lo | ICR_ASSERT);
	else
		kit_ipi(dest, lo);
}

static void
self_ipi(unsigned vec)
{
	if (x2)
		kit_wrmsr(msr_of(LAPIC_SELF_IPI), vec);
	else
		kit_ipi(0, ICR_SELF | vec);
}

static uint32_t
esr_latch(void)
{
	wr(LAPIC_ESR, 0);
	return rd(LAPIC_ESR);
}

/* Timer counts for us microseconds (divide by 1). */
static uint32_t
ticks(uint64_t us)
{
	return (uint32_t)(kit_lapic_timer_khz() * us / 1000);
}

static uint32_t
cnt(unsigned vec)
{
	return kit_irq_count(kit_cpu(), vec);
}

static uint64_t
tsc_us(uint64_t from, uint64_t to)
{
	return to > from ? kit_tsc_to_us(to - from) : 0;
}

/*
 * Spins until vec has come want times since base, or for us at most;
 * returns how many came.  eoi: end each one (x2APIC mode only: the
 * kit's handler could not).
 */
static uint32_t
await_n(unsigned vec, uint32_t base, uint32_t want, uint64_t us, bool eoi)
{
	uint64_t end = kit_rdtsc() + kit_us_to_tsc(us);
	uint32_t seen = cnt(vec), n;

	for (;;) {
		n = cnt(vec);
		if (n != seen) {
			seen = n;
			if (eoi && x2)
				wr(LAPIC_EOI, 0);
		}
		if (n - base >= want || kit_rdtsc() > end)
			return n - base;
		kit_pause();
	}
}

static uint32_t
await(unsigned vec, uint32_t base, uint32_t want, uint64_t us)
{
	return await_n(vec, base, want, us, true);
}

/* How many of vec come in us (each ended). */
static uint32_t
quiet(unsigned vec, uint64_t us)
{
	return await(vec, cnt(vec), 0xffffffff, us);
}

/* --- messages -------------------------------------------------------- */

static const char *
mode(void)
{
	return x2 ? "x2apic" : "xapic";
}

static void __attribute__((format(printf, 1, 2), noreturn))
bad(const char *fmt, ...)
{
	char buf[200];
	va_list ap;

	va_start(ap, fmt);
	kit_vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	kit_fail("apic2 cpu %u %s: %s: %s", kit_cpu(), mode(), check, buf);
}

#define EXPECT(cond, ...)                 \
	do {                              \
		if (!(cond))              \
			bad(__VA_ARGS__); \
	} while (0)

static void
ok(void)
{
	kit_printf("apic2 cpu %u %s: %s: ok\n", kit_cpu(), mode(), check);
}

/* Prints the skip line and returns true when the command line has key. */
static bool
left_out(const char *what, const char *key)
{
	if (!kit_arg_word(key))
		return false;
	kit_printf("apic2 cpu %u %s: %s: skipped (%s)\n", kit_cpu(), mode(),
		   what, key);
	return true;
}

/* The other CPU under test, to send to; this one on a 1-CPU VM. */
static unsigned
peer(void)
{
	unsigned me = kit_cpu();

	if (kit_ncpus == 1)
		return me;
	return me == 0 ? kit_ncpus - 1 : 0;
}

/* --- ESR --------------------------------------------------------------- */

static void
check_esr(void)
{
	uint32_t dest = kit_cpus[peer()].apic_id, e, base;

	check = "esr";
	wr(LAPIC_LVT_ERROR, LVT_MASKED | V_ERROR);
	esr_latch();
	EXPECT((e = esr_latch()) == 0, "0x%x after two writes, no error", e);

	/* Write before read: the error shows after the next write only. */
	send(dest, ICR_FIXED | V_ILLEGAL);
	kit_udelay(1000);
	EXPECT((e = rd(LAPIC_ESR)) == 0,
	       "0x%x before the write that latches it", e);
	EXPECT((e = esr_latch()) == ESR_SEND_ILLEGAL,
	       "0x%x after an IPI with vector 5, not 0x20", e);
	EXPECT((e = esr_latch()) == 0, "0x%x after the next write", e);

	wr(LAPIC_TIMER_DIV, 0xb);
	wr(LAPIC_LVT_TIMER, V_ILLEGAL);
	wr(LAPIC_TIMER_INIT, ticks(100));
	kit_udelay(2000);
	wr(LAPIC_LVT_TIMER, LVT_MASKED | V_TIMER);
	EXPECT((e = esr_latch()) == ESR_RECV_ILLEGAL,
	       "0x%x after a timer LVT with vector 5 fired, not 0x40", e);

	self_ipi(V_ILLEGAL);
	kit_udelay(1000);
	e = esr_latch();
	EXPECT((e & ESR_SEND_ILLEGAL) && !(e & ~0x60u),
	       "0x%x after a self IPI with vector 5, not 0x20 (0x40 may be "
	       "added)",
	       e);

	if (!x2) {
		(void)lapic_read(0x40);
		EXPECT((e = esr_latch()) == ESR_ILLEGAL_REG,
		       "0x%x after a read of reserved offset 0x40, not 0x80",
		       e);
	} else {
		EXPECT(kit_wrmsr_safe(0x804, 0) == 1,
		       "a write to reserved MSR 0x804: no #GP");
		EXPECT(kit_wrmsr_safe(msr_of(LAPIC_ESR), 1) == 1,
		       "a nonzero ESR write: no #GP");
		EXPECT((e = esr_latch()) == 0,
		       "0x%x after #GPs, which set no ESR bit", e);
	}

	/* The error LVT: once per ESR write. */
	base = cnt(V_ERROR);
	wr(LAPIC_LVT_ERROR, V_ERROR);
	send(dest, ICR_FIXED | V_ILLEGAL);
	EXPECT(await(V_ERROR, base, 1, MUST_US) == 1, "no error interrupt");
	send(dest, ICR_FIXED | V_ILLEGAL);
	EXPECT(await(V_ERROR, base, 2, 5000) == 1,
	       "a second error interrupt before the ESR write rearmed it");
	EXPECT((e = esr_latch()) == ESR_SEND_ILLEGAL, "0x%x, not 0x20", e);
	send(dest, ICR_FIXED | V_ILLEGAL);
	EXPECT(await(V_ERROR, base, 2, MUST_US) == 2,
	       "no error interrupt after the ESR write rearmed it");
	esr_latch();
	wr(LAPIC_LVT_ERROR, LVT_MASKED | V_ERROR);
	send(dest, ICR_FIXED | V_ILLEGAL);
	EXPECT(await(V_ERROR, base, 3, 5000) == 2,
	       "an error interrupt with the error LVT masked");
	EXPECT((e = esr_latch()) == ESR_SEND_ILLEGAL,
	       "0x%x with the error LVT masked, not 0x20", e);
	ok();
}

/* --- LVT masking, software disable ------------------------------------- */

static void
check_lvt_mask(void)
{
	uint32_t base = cnt(V_TIMER), c;

	check = "lvt mask";
	wr(LAPIC_TIMER_DIV, 0xb);
	wr(LAPIC_LVT_TIMER, LVT_MASKED | V_TIMER);
	wr(LAPIC_TIMER_INIT, ticks(5000));
	EXPECT(await(V_TIMER, base, 1, 15000) == 0,
	       "a masked one-shot timer delivered");
	EXPECT((c = rd(LAPIC_TIMER_CUR)) == 0,
	       "a masked one-shot timer stopped at 0x%x, not 0", c);
	wr(LAPIC_LVT_TIMER, V_TIMER);
	EXPECT(await(V_TIMER, base, 1, 10000) == 0,
	       "unmasking delivered the one-shot missed while masked");

	wr(LAPIC_LVT_TIMER, LVT_MASKED | LVT_PERIODIC | V_TIMER);
	wr(LAPIC_TIMER_INIT, ticks(5000));
	EXPECT(await(V_TIMER, base, 1, 12000) == 0,
	       "a masked periodic timer delivered");
	EXPECT(rd(LAPIC_TIMER_CUR) != 0, "a masked periodic timer stopped");
	wr(LAPIC_LVT_TIMER, LVT_PERIODIC | V_TIMER);
	EXPECT((c = await(V_TIMER, base, 2, MUST_US)) >= 2,
	       "unmasked periodic timer of 5 ms: %u ticks", c);
	wr(LAPIC_TIMER_INIT, 0);
	quiet(V_TIMER, 1000);
	EXPECT((c = quiet(V_TIMER, 15000)) == 0,
	       "%u ticks after an initial count of 0 stopped the timer", c);
	wr(LAPIC_LVT_TIMER, LVT_MASKED | V_TIMER);
	ok();
}

static void
check_svr(void)
{
	static const uint32_t lvts[] = { LAPIC_LVT_TIMER, LAPIC_LVT_LINT0,
					 LAPIC_LVT_LINT1, LAPIC_LVT_ERROR };
	uint32_t svr = rd(LAPIC_SVR), base = cnt(V_TIMER), v, c;
	uint32_t nmis = cnt(KIT_VEC_NMI);

	check = "software disable";
	wr(LAPIC_TIMER_DIV, 0xb);
	wr(LAPIC_LVT_LINT0, V_LINT);
	wr(LAPIC_LVT_LINT1, V_LINT);
	wr(LAPIC_LVT_ERROR, V_ERROR);
	wr(LAPIC_LVT_TIMER, LVT_PERIODIC | V_TIMER);
	wr(LAPIC_TIMER_INIT, ticks(5000));
	EXPECT(await(V_TIMER, base, 1, MUST_US) == 1,
	       "the periodic timer did not tick while enabled");

	wr(LAPIC_SVR, svr & ~0x100u);
	for (unsigned i = 0; i < sizeof(lvts) / sizeof(lvts[0]); i++)
		EXPECT((v = rd(lvts[i])) & LVT_MASKED,
		       "LVT 0x%x reads 0x%x, not masked, with SVR bit 8 clear",
		       lvts[i], v);
	wr(LAPIC_LVT_TIMER, LVT_PERIODIC | V_TIMER);
	EXPECT((v = rd(LAPIC_LVT_TIMER)) & LVT_MASKED,
	       "an unmasked timer LVT written while disabled reads 0x%x", v);
	quiet(V_TIMER, 1000); /* one in flight at the SVR write */
	EXPECT((c = quiet(V_TIMER, 15000)) == 0,
	       "%u ticks while software-disabled", c);
	send(kit_cpus[kit_cpu()].apic_id, ICR_NMI);
	EXPECT(await_n(KIT_VEC_NMI, nmis, 1, MUST_US, false) == 1,
	       "an NMI was not accepted while software-disabled");

	wr(LAPIC_SVR, svr);
	EXPECT((v = rd(LAPIC_LVT_TIMER)) & LVT_MASKED,
	       "enabling again unmasked the timer LVT (0x%x)", v);
	EXPECT((c = quiet(V_TIMER, 15000)) == 0,
	       "%u ticks after enabling again, the timer LVT masked", c);
	wr(LAPIC_TIMER_INIT, 0);
	for (unsigned i = 0; i < sizeof(lvts) / sizeof(lvts[0]); i++)
		wr(lvts[i], LVT_MASKED);
	ok();
}

/* --- the timer's modes ----------------------------------------------- */

/* Arms the timer with lvt (mode bits) and an initial count of us;
 * returns the TSC just before the count was written. */
static uint64_t
arm(uint32_t lvt, uint64_t us)
{
	uint64_t t;

	wr(LAPIC_TIMER_DIV, 0xb);
	wr(LAPIC_LVT_TIMER, lvt | V_TIMER);
	t = kit_rdtsc();
	wr(LAPIC_TIMER_INIT, ticks(us));
	return t;
}

static void
stop_timer(void)
{
	wr(LAPIC_TIMER_INIT, 0);
	wr(LAPIC_LVT_TIMER, LVT_MASKED | V_TIMER);
	quiet(V_TIMER, 1000);
}

/*
 * Rewrites the initial count halfway through a count of lvt's mode.
 * Returns false, having checked nothing, when the vCPU stalled in the
 * timed part (the first count may have ended before the rewrite).
 */
static bool
restart(uint32_t lvt, const char *name)
{
	uint32_t base = cnt(V_TIMER), c1, c2;
	uint64_t t0, t1, t2, d;

	t0 = arm(lvt, T_US);
	kit_udelay(T_US / 2);
	t1 = kit_rdtsc();
	c1 = rd(LAPIC_TIMER_CUR);
	wr(LAPIC_TIMER_INIT, ticks(T_US));
	c2 = rd(LAPIC_TIMER_CUR);
	t2 = kit_rdtsc();
	if (cnt(V_TIMER) != base || c1 == 0 ||
	    tsc_us(t0, t2) > T_US / 2 + SLACK_US) {
		stop_timer();
		return false;
	}
	EXPECT(c2 > c1,
	       "%s: current count 0x%x after the initial count was written "
	       "again, 0x%x before: not restarted",
	       name, c2, c1);
	EXPECT(await(V_TIMER, base, 1, MUST_US) == 1, "%s: no interrupt", name);
	d = tsc_us(t1, kit_irq_tsc(kit_cpu(), V_TIMER));
	EXPECT(d >= T_US * 8 / 10,
	       "%s: the interrupt came %llu us after the initial count of "
	       "%u us was written again: not restarted",
	       name, (unsigned long long)d, T_US);
	if (!(lvt & LVT_PERIODIC))
		EXPECT(await(V_TIMER, base, 2, 2 * T_US) == 1,
		       "%s: a second interrupt", name);
	stop_timer();
	return true;
}

/* Runs step(lvt, name) until it ran undisturbed. */
static void
retry(bool (*step)(uint32_t, const char *), uint32_t lvt, const char *name)
{
	for (unsigned i = 0; i < TRIES; i++, stalls++)
		if (step(lvt, name))
			return;
	bad("%s: the vCPU stalled in the timed part %u times", name, TRIES);
}

static void
check_timer_restart(void)
{
	check = "timer restart";
	retry(restart, 0, "one-shot");
	retry(restart, LVT_PERIODIC, "periodic");
	ok();
}

/* Switches a running count from lvt to lvt ^ LVT_PERIODIC at 60 %;
 * false as restart(). */
static bool
switch_running(uint32_t lvt, const char *name)
{
	uint32_t base = cnt(V_TIMER), c1, c2, n;
	uint64_t t0, t2;

	t0 = arm(lvt, T_US);
	kit_udelay(T_US * 6 / 10);
	c1 = rd(LAPIC_TIMER_CUR);
	wr(LAPIC_LVT_TIMER, (lvt ^ LVT_PERIODIC) | V_TIMER);
	c2 = rd(LAPIC_TIMER_CUR);
	t2 = kit_rdtsc();
	if (cnt(V_TIMER) != base || c1 == 0 ||
	    tsc_us(t0, t2) > T_US * 6 / 10 + SLACK_US) {
		stop_timer();
		return false;
	}
	EXPECT(c2 != 0 && c2 <= c1,
	       "%s: current count 0x%x after the switch, 0x%x before: not "
	       "running on",
	       name, c2, c1);
	EXPECT(await(V_TIMER, base, 1, MUST_US) == 1,
	       "%s: no interrupt at the end of the count", name);
	if (lvt & LVT_PERIODIC) {
		n = await(V_TIMER, base, 2, 3 * T_US);
		EXPECT(n == 1,
		       "%s: %u interrupts, the count ended in one-shot "
		       "mode",
		       name, n);
		EXPECT((c1 = rd(LAPIC_TIMER_CUR)) == 0,
		       "%s: current count 0x%x after the one-shot ended", name,
		       c1);
	} else {
		n = await(V_TIMER, base, 2, MUST_US);
		EXPECT(n == 2, "%s: no reload at 0 in periodic mode", name);
	}
	stop_timer();
	return true;
}

static void
check_timer_modes(void)
{
	uint32_t base, c, n;

	check = "timer mode switch";
	retry(switch_running, 0, "one-shot -> periodic");
	retry(switch_running, LVT_PERIODIC, "periodic -> one-shot");
	if (!left_out("timer mode switch after expiry", "noexpiredswitch")) {
		base = cnt(V_TIMER);
		arm(0, T_US / 5);
		EXPECT(await(V_TIMER, base, 1, MUST_US) == 1,
		       "one-shot: no interrupt");
		wr(LAPIC_LVT_TIMER, LVT_PERIODIC | V_TIMER);
		EXPECT((n = await(V_TIMER, base, 2, 2 * T_US)) == 1,
		       "an expired one-shot switched to periodic: %u more "
		       "interrupts, not 0",
		       n - 1);
		EXPECT((c = rd(LAPIC_TIMER_CUR)) == 0,
		       "an expired one-shot switched to periodic: current "
		       "count 0x%x, not 0",
		       c);
		stop_timer();
	}
	ok();
}

/* A running count switched to TSC-deadline mode; false as restart(). */
static bool
count_to_deadline(uint32_t unused, const char *name)
{
	uint32_t base = cnt(V_TIMER), c, n;
	uint64_t t1 = arm(0, T_US), t2;

	kit_udelay(2000);
	wr(LAPIC_LVT_TIMER, LVT_TSC_DEADLINE | V_TIMER);
	t2 = kit_rdtsc();
	if (cnt(V_TIMER) != base || tsc_us(t1, t2) > 2000 + SLACK_US) {
		stop_timer();
		return false;
	}
	EXPECT((c = rd(LAPIC_TIMER_CUR)) == 0,
	       "%s: current count 0x%x in TSC-deadline mode", name, c);
	wr(LAPIC_TIMER_INIT, ticks(1000));
	EXPECT((c = rd(LAPIC_TIMER_CUR)) == 0,
	       "%s: current count 0x%x after an initial-count write in "
	       "TSC-deadline mode",
	       name, c);
	EXPECT((n = await(V_TIMER, base, 1, 2 * T_US)) == 0,
	       "%s: the count was not disarmed", name);
	stop_timer();
	return true;
}

/* An armed deadline switched to one-shot mode; false as restart(). */
static bool
deadline_to_count(uint32_t unused, const char *name)
{
	uint32_t base = cnt(V_TIMER), c, n;
	uint64_t v, t1, t2;

	wr(LAPIC_LVT_TIMER, LVT_TSC_DEADLINE | V_TIMER);
	t1 = kit_rdtsc();
	kit_wrmsr(MSR_TSC_DEADLINE, t1 + kit_us_to_tsc(T_US / 2));
	wr(LAPIC_LVT_TIMER, V_TIMER);
	t2 = kit_rdtsc();
	if (cnt(V_TIMER) != base || tsc_us(t1, t2) > SLACK_US) {
		stop_timer();
		return false;
	}
	EXPECT((v = kit_rdmsr(MSR_TSC_DEADLINE)) == 0,
	       "%s: IA32_TSC_DEADLINE reads 0x%llx in one-shot mode", name,
	       (unsigned long long)v);
	EXPECT((c = rd(LAPIC_TIMER_CUR)) == 0,
	       "%s: current count 0x%x after the switch", name, c);
	EXPECT((n = await(V_TIMER, base, 1, 2 * T_US)) == 0,
	       "%s: the deadline fired after the switch", name);
	stop_timer();
	return true;
}

static void
check_deadline(void)
{
	uint32_t base = cnt(V_TIMER);

	check = "tsc-deadline switch";
	if (!kit_has_tsc_deadline()) {
		kit_printf("apic2 cpu %u %s: %s: no TSC-deadline or "
			   "notscdeadline, skipped\n",
			   kit_cpu(), mode(), check);
		return;
	}
	wr(LAPIC_LVT_TIMER, LVT_TSC_DEADLINE | V_TIMER);
	kit_wrmsr(MSR_TSC_DEADLINE, kit_rdtsc() + kit_us_to_tsc(5000));
	EXPECT(await(V_TIMER, base, 1, MUST_US) == 1,
	       "an armed deadline did not fire");
	stop_timer();
	retry(count_to_deadline, 0, "count -> tsc-deadline");
	retry(deadline_to_count, 0, "tsc-deadline -> one-shot");
	ok();
}

/* --- TPR, PPR, CR8 ----------------------------------------------------- */

/* Sends vec to itself and checks that it waits in IRR. */
static void
held(unsigned vec, const char *why)
{
	uint32_t n = cnt(vec);
	uint64_t end;

	self_ipi(vec);
	end = kit_rdtsc() + kit_us_to_tsc(MUST_US);
	while (!irr(vec) && cnt(vec) == n && kit_rdtsc() < end)
		kit_pause();
	kit_udelay(2000);
	EXPECT(cnt(vec) == n && irr(vec), "0x%x came through %s", vec, why);
}

static void
still_held(unsigned vec, const char *why)
{
	uint32_t n = cnt(vec);

	kit_udelay(2000);
	EXPECT(cnt(vec) == n && irr(vec), "0x%x came through %s", vec, why);
}

static void
comes(unsigned vec, uint32_t base, bool eoi, const char *when)
{
	EXPECT(await_n(vec, base, 1, MUST_US, eoi) == 1 && !irr(vec),
	       "0x%x did not come %s", vec, when);
}

static void
check_tpr(void)
{
	static const uint32_t tprs[] = { 0x00, 0x57, 0xff, 0x10 };
	uint32_t low = cnt(V_LOW), held2 = cnt(V_HELD2), v;

	check = "tpr";
	for (unsigned i = 0; i < sizeof(tprs) / sizeof(tprs[0]); i++) {
		wr(LAPIC_TPR, tprs[i]);
		EXPECT((v = rd(LAPIC_TPR)) == tprs[i],
		       "0x%x written, 0x%x read", tprs[i], v);
		EXPECT((v = rd(LAPIC_PPR)) == tprs[i],
		       "PPR 0x%x with TPR 0x%x, nothing in service", v,
		       tprs[i]);
	}
	if (x2)
		EXPECT(kit_wrmsr_safe(msr_of(LAPIC_TPR), 0x100) == 1,
		       "TPR bit 8: no #GP");
	wr(LAPIC_TPR, 0x50);
	held(V_LOW, "TPR 0x50");
	held(V_HELD2, "TPR 0x50");
	wr(LAPIC_TPR, 0x4f);
	comes(V_HELD2, held2, false, "at TPR 0x4f");
	still_held(V_LOW, "TPR 0x4f");
	EXPECT(isr(V_HELD2), "0x52 not in service");
	EXPECT((v = rd(LAPIC_PPR)) == 0x50,
	       "PPR 0x%x with TPR 0x4f and 0x52 in service, not 0x50", v);
	wr(LAPIC_EOI, 0);
	EXPECT(!isr(V_HELD2), "EOI did not end 0x52");
	EXPECT((v = rd(LAPIC_PPR)) == 0x4f, "PPR 0x%x after EOI, not 0x4f", v);
	still_held(V_LOW, "TPR 0x4f after EOI");
	wr(LAPIC_TPR, 0x3f);
	comes(V_LOW, low, true, "at TPR 0x3f");
	wr(LAPIC_TPR, 0);
	ok();
}

static void
check_ppr(void)
{
	static const uint32_t tprs[][2] = { { 0x00, 0x50 }, { 0x23, 0x50 },
					    { 0x4f, 0x50 }, { 0x50, 0x50 },
					    { 0x57, 0x57 }, { 0x6a, 0x6a } };
	uint32_t h = cnt(V_HELD), h2 = cnt(V_HELD2), low = cnt(V_LOW);
	uint32_t high = cnt(V_HIGH), v;

	check = "ppr";
	wr(LAPIC_TPR, 0);
	self_ipi(V_HELD);
	comes(V_HELD, h, false, "at TPR 0");
	EXPECT(isr(V_HELD), "0x58 not in service");
	for (unsigned i = 0; i < sizeof(tprs) / sizeof(tprs[0]); i++) {
		wr(LAPIC_TPR, tprs[i][0]);
		EXPECT((v = rd(LAPIC_PPR)) == tprs[i][1],
		       "PPR 0x%x with TPR 0x%x and 0x58 in service, not 0x%x",
		       v, tprs[i][0], tprs[i][1]);
	}
	wr(LAPIC_TPR, 0);
	held(V_LOW, "0x58 in service");
	held(V_HELD2, "0x58 in service");
	self_ipi(V_HIGH);
	comes(V_HIGH, high, true, "over 0x58 in service");
	EXPECT(isr(V_HELD) && !isr(V_HIGH), "ISR: 0x58 %d, 0x61 %d",
	       isr(V_HELD), isr(V_HIGH));
	wr(LAPIC_EOI, 0);
	comes(V_HELD2, h2, false, "after 0x58 ended");
	still_held(V_LOW, "0x52 in service");
	EXPECT(!isr(V_HELD) && isr(V_HELD2) && rd(LAPIC_PPR) == 0x50,
	       "after the first EOI: ISR 0x58 %d, 0x52 %d, PPR 0x%x",
	       isr(V_HELD), isr(V_HELD2), rd(LAPIC_PPR));
	wr(LAPIC_EOI, 0);
	comes(V_LOW, low, true, "after 0x52 ended");
	EXPECT((v = rd(LAPIC_PPR)) == 0, "PPR 0x%x with nothing in service", v);
	ok();
}

static void
check_cr8(void)
{
	uint32_t low = cnt(V_LOW), v;
	uint64_t c;

	check = "cr8";
	wr(LAPIC_TPR, 0x57);
	EXPECT((c = kit_rdcr8()) == 5, "CR8 %llu with TPR 0x57, not 5",
	       (unsigned long long)c);
	kit_wrcr8(3);
	EXPECT((v = rd(LAPIC_TPR)) == 0x30,
	       "TPR 0x%x after CR8 = 3 (from 0x57), not 0x30", v);
	EXPECT((v = rd(LAPIC_PPR)) == 0x30, "PPR 0x%x after CR8 = 3", v);
	kit_wrcr8(5);
	EXPECT((v = rd(LAPIC_TPR)) == 0x50, "TPR 0x%x after CR8 = 5", v);
	held(V_LOW, "CR8 5");
	kit_wrcr8(4);
	still_held(V_LOW, "CR8 4");
	kit_wrcr8(3);
	comes(V_LOW, low, true, "at CR8 3");
	kit_wrcr8(0);
	EXPECT((v = rd(LAPIC_TPR)) == 0 && kit_rdcr8() == 0,
	       "TPR 0x%x after CR8 = 0", v);
	EXPECT(kit_wrcr8_cpl3(0xf) == 1, "MOV to CR8 at CPL3: no #GP");
	EXPECT((v = rd(LAPIC_TPR)) == 0, "TPR 0x%x after a CPL3 CR8 write", v);
	ok();
}

/* --- driver ------------------------------------------------------------ */

static void
all_checks(void)
{
	if (!left_out("esr", "noesr"))
		check_esr();
	check_lvt_mask();
	if (!left_out("software disable", "nosvrmask"))
		check_svr();
	check_timer_restart();
	check_timer_modes();
	check_deadline();
	check_tpr();
	check_ppr();
	check_cr8();
}

/* On the CPU under test: every check in xAPIC, then x2APIC mode. */
static void
test_cpu(uint32_t cpu)
{
	uint64_t base = kit_rdmsr(MSR_APIC_BASE);

	x2 = false;
	all_checks();
	kit_lapic_init();
	if (kit_arg_word("nox2apic")) {
		kit_printf("apic2 cpu %u x2apic: skipped (nox2apic)\n", cpu);
		return;
	}
	if (!kit_cpuid_x2apic()) {
		kit_printf("apic2 cpu %u x2apic: no x2APIC, skipped\n", cpu);
		return;
	}
	kit_wrmsr(MSR_APIC_BASE, base | BASE_EXTD);
	x2 = true;
	all_checks();
	/* Back through disabled, which resets the APIC. */
	kit_wrmsr(MSR_APIC_BASE, base & ~(BASE_EN | BASE_EXTD));
	kit_wrmsr(MSR_APIC_BASE, base);
	x2 = false;
	kit_lapic_init();
}

void
prog_main(unsigned cpu)
{
	unsigned n = kit_ncpus;

	if (cpu != 0) {
		kit_serve(cpu);
		return;
	}
	kit_printf("apic2: lapic timer %u kHz\n", kit_lapic_timer_khz());
	kit_on_cpu(0, test_cpu, 0);
	if (n > 1)
		kit_on_cpu(n - 1, test_cpu, n - 1);
	for (unsigned i = 1; i < n; i++)
		kit_on_cpu(i, NULL, 0);
	kit_printf("apic2: %u timer steps tried again (the vCPU stalled)\n",
		   stalls);
}
