/*
 * Serial input by interrupt: the IOAPIC routes ISA IRQ 4 (COM1, through
 * the MADT overrides) to CPU irq_cpu=K (default 0, the BSP; on another
 * node of an aggregated VM the interrupt crosses nodes), the UART raises
 * it on received data (IER bit 0), and that CPU reads the bytes only
 * after an interrupt came.
 * It echoes the line as "got: <text>" once a newline arrives, then
 * passes.  Waits at most timeout=SECONDS (default 10) from the prompt.
 */
#include "kit.h"

KIT_PROGRAM("uart-irq");

#define COM1 KIT_PORT_COM1
#define LSR_DR 0x01

/* The BSP's return ends the program: it waits for the CPU that works. */
static volatile uint32_t finished;

void
prog_main(unsigned cpu)
{
	uint64_t secs = kit_arg_u64("timeout", 10), dl;
	unsigned me = (unsigned)kit_arg_u64("irq_cpu", 0);
	uint32_t seen, irqs = 0;
	char line[128];
	size_t n = 0, bytes = 0;
	int gsi;

	if (me >= kit_ncpus)
		kit_fail("irq_cpu=%u: only %u cpus", me, kit_ncpus);
	if (cpu == 0 && me != 0) {
		while (!finished)
			kit_pause();
		return;
	}
	if (cpu != me)
		return;
	seen = kit_irq_count(me, KIT_VEC_UART);
	gsi = kit_ioapic_route(4, KIT_VEC_UART, kit_cpus[me].apic_id);
	if (gsi < 0)
		kit_fail("no ioapic pin for irq 4");
	while (inb(COM1 + 5) & LSR_DR) /* stale input: no interrupt for it */
		(void)inb(COM1);
	outb(COM1 + 1, 0x01); /* IER: received data available */
	kit_printf("uart-irq: irq 4 -> gsi %d -> vector 0x%x on cpu %u; "
		   "waiting %lu s for a line\n",
		   gsi, KIT_VEC_UART, me, secs);
	dl = kit_rdtsc() + kit_us_to_tsc(secs * 1000000);
	for (;;) {
		while (kit_irq_count(me, KIT_VEC_UART) == seen) {
			if (kit_rdtsc() > dl)
				kit_fail_status(KIT_EXIT_TIMEOUT,
						"timeout: %lu s, %zu bytes by "
						"%u interrupts",
						secs, bytes, irqs);
			kit_pause();
		}
		irqs += kit_irq_count(me, KIT_VEC_UART) - seen;
		seen = kit_irq_count(me, KIT_VEC_UART);
		while (inb(COM1 + 5) & LSR_DR) {
			char ch = (char)inb(COM1);

			bytes++;
			if (ch == '\r' || ch == '\n') {
				if (n == 0)
					continue;
				outb(COM1 + 1, 0x00);
				line[n] = '\0';
				kit_printf("got: %s\n", line);
				kit_printf("uart-irq: %zu bytes by %u "
					   "interrupts\n",
					   bytes, irqs);
				finished = 1;
				return;
			}
			if (n < sizeof(line) - 1)
				line[n++] = ch;
		}
	}
}
