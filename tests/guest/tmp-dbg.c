#include "kit.h"
KIT_PROGRAM("tmp-dbg");
void
prog_main(unsigned cpu)
{
	uint64_t cs;
	if (cpu != 0)
		return;
	__asm__ volatile("mov %%cs, %0" : "=r"(cs));
	kit_printf("cs 0x%lx null=%lu\n", cs, kit_syscall(KIT_SYS_NULL, 0, 0));
	kit_printf("rdmsr tsc=%lu\n", kit_rdmsr(0x10));
	kit_printf("rdmsr gsbase=%lx\n", kit_rdmsr(0xc0000101));
	lapic_write(LAPIC_TIMER_DIV, 0xb);
	lapic_write(LAPIC_LVT_TIMER, KIT_VEC_TIMER);
	lapic_write(LAPIC_TIMER_INIT, 1000000);
	kit_hlt();
	kit_printf("after hlt: timer count %u\n", kit_irq_count(0, KIT_VEC_TIMER));
}
