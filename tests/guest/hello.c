/*
 * Every CPU says hello; CPU 0 waits for all of them, then passes.
 */
#include "kit.h"

KIT_PROGRAM("hello");

void
prog_main(unsigned cpu)
{
	kit_printf("hello from cpu %u apic %u\n", cpu, kit_cpus[cpu].apic_id);
	kit_barrier();
}
