/*
 * One CPU at a time: CPU 0 drives a test and runs its steps on the
 * others, which wait in kit_serve() meanwhile (apic, apic2).  A mailbox
 * per CPU, a sequence number and its acknowledgement; no interrupts, so
 * a step may change the CPU's local APIC however it likes.
 */
#include "kit.h"

static volatile uint32_t mb_seq[KIT_MAX_CPUS], mb_ack[KIT_MAX_CPUS];
static void (*volatile mb_fn[KIT_MAX_CPUS])(uint32_t);
static volatile uint32_t mb_arg[KIT_MAX_CPUS];

void
kit_on_cpu(unsigned c, void (*fn)(uint32_t), uint32_t arg)
{
	uint32_t s;

	if (c == 0) {
		if (fn)
			fn(arg);
		return;
	}
	mb_fn[c] = fn;
	mb_arg[c] = arg;
	s = mb_seq[c] + 1;
	__atomic_store_n(&mb_seq[c], s, __ATOMIC_RELEASE);
	KIT_WAIT(__atomic_load_n(&mb_ack[c], __ATOMIC_ACQUIRE) == s,
		 kit_wait_ms, "cpu %u did not run its step", c);
}

void
kit_serve(unsigned cpu)
{
	uint32_t last = 0, s;
	void (*fn)(uint32_t);

	for (;;) {
		while ((s = __atomic_load_n(&mb_seq[cpu], __ATOMIC_ACQUIRE)) ==
		       last)
			kit_pause();
		last = s;
		fn = mb_fn[cpu];
		if (fn)
			fn(mb_arg[cpu]);
		__atomic_store_n(&mb_ack[cpu], s, __ATOMIC_RELEASE);
		if (!fn)
			return;
	}
}
