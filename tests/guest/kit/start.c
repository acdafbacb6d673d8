/*
 * Bring-up at CPL3: the boot information, serial, LAPIC, ACPI, the TSC,
 * the APs, then prog_main() on every CPU.  The CPL0 part (entry.S) only
 * loaded tables and dropped here; the exception report below is the one
 * piece of C that runs at CPL0.
 */
#include "kit.h"

struct kit_cpu kit_cpus[KIT_MAX_CPUS];
unsigned kit_ncpus = 1;

/* Stacks, found by entry.S and the TSSes by symbol. */
uint8_t kit_kstacks[KIT_MAX_CPUS][KIT_KSTACK_SIZE]
	__attribute__((aligned(4096)));
uint8_t kit_ustacks[KIT_MAX_CPUS][KIT_USTACK_SIZE]
	__attribute__((aligned(4096)));

/* Written at CPL0 by entry.S. */
uint64_t kit_boot_magic, kit_boot_info;
/* The CPU index an AP takes, read by it at CPL0 (entry.S). */
volatile uint32_t kit_ap_index;

struct kit_range kit_ram[KIT_MAX_RANGES];
unsigned kit_nram;
char kit_cmdline[256];
const char *kit_entry_name = "?";
bool kit_idle_poll;

extern const char kit_tramp_start[], kit_tramp_end[];
extern uint64_t kit_user_rflags; /* entry.S */

static volatile uint32_t go;

__attribute__((noreturn)) void kit_user_entry(unsigned idx);
__attribute__((noreturn)) void kit_exception(uint64_t *frame);

/* --- boot information ----------------------------------------------------- */

struct mb_info {
	uint32_t flags, mem_lower, mem_upper, boot_device, cmdline;
	uint32_t mods_count, mods_addr, syms[4], mmap_length, mmap_addr;
};

struct mb_mmap {
	uint32_t size;
	uint64_t addr, len;
	uint32_t type;
} __attribute__((packed));

#define MB_INFO_MEM (1u << 0)
#define MB_INFO_CMDLINE (1u << 2)
#define MB_INFO_MMAP (1u << 6)

/* Copies what the kit needs out of the info before anything is written. */
static bool
boot_info(void)
{
	const struct mb_info *mb;

	if (kit_boot_magic == KIT_MAGIC_AVM)
		kit_entry_name = "elf64";
	else if (kit_boot_magic == KIT_MAGIC_MULTIBOOT)
		kit_entry_name = "multiboot";
	else
		return false;
	mb = kit_phys(kit_boot_info);
	if (mb->flags & MB_INFO_CMDLINE) {
		const char *s = kit_phys(mb->cmdline);
		size_t i;

		for (i = 0; i < sizeof(kit_cmdline) - 1 && s[i]; i++)
			kit_cmdline[i] = s[i];
		kit_cmdline[i] = '\0';
	}
	if (mb->flags & MB_INFO_MMAP) {
		uint64_t a = mb->mmap_addr, end = a + mb->mmap_length;

		while (a + sizeof(struct mb_mmap) <= end &&
		       kit_nram < KIT_MAX_RANGES) {
			const struct mb_mmap *m = kit_phys(a);

			if (m->type == 1 && m->len > 0) {
				kit_ram[kit_nram].base = m->addr;
				kit_ram[kit_nram].len = m->len;
				kit_nram++;
			}
			a += m->size + 4;
		}
	} else if (mb->flags & MB_INFO_MEM) {
		kit_ram[0].base = 0x100000;
		kit_ram[0].len = (uint64_t)mb->mem_upper * 1024;
		kit_nram = 1;
	}
	return true;
}

uint64_t
kit_arg_u64(const char *key, uint64_t def)
{
	size_t klen = strlen(key);
	const char *s = kit_cmdline;

	while (*s) {
		uint64_t v = 0;
		unsigned base = 10;

		while (*s == ' ')
			s++;
		if (strncmp(s, key, klen) != 0 || s[klen] != '=') {
			while (*s && *s != ' ')
				s++;
			continue;
		}
		s += klen + 1;
		if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
			base = 16;
			s += 2;
		}
		for (;; s++) {
			unsigned d;

			if (*s >= '0' && *s <= '9')
				d = *s - '0';
			else if (base == 16 && (*s | 0x20) >= 'a' &&
				 (*s | 0x20) <= 'f')
				d = (*s | 0x20) - 'a' + 10;
			else
				break;
			v = v * base + d;
		}
		switch (*s | 0x20) {
		case 'k':
			return v << 10;
		case 'm':
			return v << 20;
		case 'g':
			return v << 30;
		}
		return v;
	}
	return def;
}

bool
kit_arg_word(const char *word)
{
	size_t n = strlen(word);

	for (const char *s = kit_cmdline; *s;) {
		while (*s == ' ')
			s++;
		if (strncmp(s, word, n) == 0 && (s[n] == ' ' || s[n] == '\0'))
			return true;
		while (*s && *s != ' ')
			s++;
	}
	return false;
}

/* --- bring-up ------------------------------------------------------------- */

static void
start_aps(void)
{
	memcpy(kit_phys(KIT_TRAMPOLINE), kit_tramp_start,
	       (size_t)(kit_tramp_end - kit_tramp_start));
	for (unsigned i = 1; i < kit_ncpus; i++) {
		struct kit_cpu *c = &kit_cpus[i];
		uint64_t dl;

		c->self = c;
		c->index = i;
		kit_ap_index = i;
		/* INIT, 10 ms, SIPI; a second SIPI if it has not come up. */
		kit_ipi(c->apic_id, ICR_INIT);
		kit_udelay(10000);
		kit_ipi(c->apic_id, ICR_SIPI | (KIT_TRAMPOLINE >> 12));
		dl = kit_rdtsc() + kit_us_to_tsc(1000);
		while (!c->alive && kit_rdtsc() < dl)
			kit_pause();
		if (!c->alive)
			kit_ipi(c->apic_id, ICR_SIPI | (KIT_TRAMPOLINE >> 12));
		dl = kit_rdtsc() + kit_us_to_tsc(kit_wait_ms * 1000);
		while (!c->alive && kit_rdtsc() < dl)
			kit_pause();
		if (!c->alive)
			kit_fail_status(KIT_EXIT_SETUP,
					"cpu %u (apic %u) did not start", i,
					c->apic_id);
	}
}

/*
 * The SLIT, a row a line: "kit: slit node 1: 20 10 23", so that a test
 * can check the distances the VMM gave against the ones it was told.
 * Rows past 56 entries end in "..." (one kit_printf line is 255 bytes).
 */
static void
slit_lines(void)
{
	char line[256];
	size_t k;

	for (uint64_t i = 0; kit_slit && i < kit_slit_nodes; i++) {
		k = (size_t)kit_snprintf(line, sizeof(line),
					 "kit: slit node %lu:", i);
		for (uint64_t j = 0; j < kit_slit_nodes && j < 56; j++)
			k += (size_t)kit_snprintf(
				line + k, sizeof(line) - k, " %u",
				kit_slit[i * kit_slit_nodes + j]);
		kit_printf("%s%s\n", line, kit_slit_nodes > 56 ? " ..." : "");
	}
}

static void
banner(void)
{
	uint64_t f;

	kit_printf("avm-guest %s: %u cpus\n", kit_prog_name, kit_ncpus);
	kit_printf("kit: entry %s, tsc %lu kHz (%s), %u ioapic, %u numa "
		   "nodes\n",
		   kit_entry_name, kit_tsc_khz, kit_tsc_source, kit_nioapics,
		   kit_numa_nodes);
	kit_serial_write(kit_acpi_notes, strlen(kit_acpi_notes), true);
	__asm__ volatile("pushfq; popq %0" : "=r"(f));
	if ((f >> 12 & 3) != 3)
		kit_printf(
			"kit: iopl %lu at cpl3: cli/sti (and in/out past the "
			"bitmap) go through "
			"#GP (%u so far)\n",
			f >> 12 & 3, kit_irq_count(0, 13));
	for (unsigned i = 0; i < kit_ncpus; i++)
		kit_printf("kit: cpu %u apic %u node %u\n", i,
			   kit_cpus[i].apic_id, kit_cpus[i].node);
	slit_lines();
}

__attribute__((noreturn)) static void
bsp_start(void)
{
	struct kit_cpu *c = &kit_cpus[0];
	bool ok;

	c->self = c;
	ok = boot_info();
	/* iopl=0: run at CPL3 as a host that drops IOPL 3 would (kvm_pvm),
	 * so that QEMU tests the #GP path of in/out/cli/sti too. */
	if (ok && kit_arg_u64("iopl", 3) == 0) {
		kit_user_rflags = KIT_USER_RFLAGS & ~0x3000ull;
		kit_syscall(KIT_SYS_IOPL, 0, 0);
	}
	kit_serial_init();
	if (!ok)
		kit_fail_status(KIT_EXIT_SETUP, "boot: bad magic 0x%lx",
				kit_boot_magic);
	outb(0x21, 0xff); /* mask both 8259s: the LAPIC is all we use */
	outb(0xa1, 0xff);
	kit_lapic_init();
	c->apic_id = lapic_read(LAPIC_ID) >> 24;
	kit_sti();
	kit_wait_ms = kit_arg_u64("wait", 30) * 1000;
	kit_idle_poll = kit_arg_word("idle=poll");
	kit_acpi_scan();
	kit_tsc_init();
	banner();
	start_aps();
	__atomic_store_n(&go, 1, __ATOMIC_RELEASE);
	prog_main(0);
	kit_pass();
}

__attribute__((noreturn)) static void
ap_start(unsigned idx)
{
	struct kit_cpu *c = &kit_cpus[idx];
	uint32_t id;

	kit_lapic_init();
	id = lapic_read(LAPIC_ID) >> 24;
	if (id != c->apic_id)
		kit_fail_status(KIT_EXIT_SETUP,
				"cpu %u: apic id %u, madt said %u", idx, id,
				c->apic_id);
	kit_sti();
	__atomic_store_n(&c->alive, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&go, __ATOMIC_ACQUIRE))
		kit_pause();
	prog_main(idx);
	for (;;)
		kit_idle();
}

void
kit_user_entry(unsigned idx)
{
	if (idx == 0)
		bsp_start();
	ap_start(idx);
}

/* --- barrier -------------------------------------------------------------- */

static volatile uint32_t bar_count, bar_gen;

void
kit_barrier(void)
{
	uint32_t gen = __atomic_load_n(&bar_gen, __ATOMIC_ACQUIRE);

	if (__atomic_add_fetch(&bar_count, 1, __ATOMIC_ACQ_REL) == kit_ncpus) {
		bar_count = 0;
		__atomic_store_n(&bar_gen, gen + 1, __ATOMIC_RELEASE);
		return;
	}
	KIT_WAIT(__atomic_load_n(&bar_gen, __ATOMIC_ACQUIRE) != gen,
		 kit_wait_ms, "barrier, cpu %u", kit_cpu());
}

/* --- exceptions (CPL0) ---------------------------------------------------- */

static const char *const exc_names[32] = {
	"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM",
	"#DF", "",    "#TS", "#NP", "#SS", "#GP", "#PF", "",
	"#MF", "#AC", "#MC", "#XM", "#VE", "#CP",
};

/*
 * frame: r15 ... rax (15), vector, error code, rip, cs, rflags, rsp, ss.
 * Prints without the serial lock (its holder may be the faulting code)
 * and exits; the other CPUs go when the VM does.
 */
void
kit_exception(uint64_t *frame)
{
	uint64_t vec = frame[15], cr2, gsbase;
	uint32_t lo, hi;
	char buf[200];
	int cpu = -1;

	__asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(0xc0000101));
	gsbase = (uint64_t)hi << 32 | lo;
	if (gsbase)
		cpu = (int)((struct kit_cpu *)gsbase)->index;
	kit_snprintf(buf, sizeof(buf),
		     "FAIL: exception %lu (%s) err 0x%lx rip 0x%lx rsp 0x%lx "
		     "cr2 0x%lx rflags 0x%lx cpl %lu cpu %d\n",
		     vec, vec < 32 ? exc_names[vec] : "", frame[16], frame[17],
		     frame[20], cr2, frame[19], frame[18] & 3, cpu);
	kit_serial_write(buf, strlen(buf), false);
	outb(KIT_PORT_EXIT, KIT_EXIT_EXCEPTION);
	for (;;)
		__asm__ volatile("cli; hlt");
}
