/*
 * The guest kit: what a guest program may use.  A program defines
 * KIT_PROGRAM("name") and prog_main(), which every CPU runs at CPL3 with
 * IOPL 3 and IF 1 once all CPUs are up; when prog_main() returns on CPU 0
 * the kit prints PASS and exits 0.  tests/guest/README.md has the boot
 * contract, the memory map, vectors, ports and exit statuses.
 */
#ifndef KIT_H
#define KIT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "layout.h"

#define KIT_PROGRAM(name) const char kit_prog_name[] = name

extern const char kit_prog_name[];
void prog_main(unsigned cpu);

/* --- per CPU -------------------------------------------------------------- */

/* One page per CPU; %gs points at it.  Offsets are in layout.h. */
struct kit_cpu {
	struct kit_cpu *self;
	uint32_t index;
	uint32_t apic_id;
	uint32_t ping_icr_hi; /* PING answers to this ICR high value */
	uint32_t node;	      /* NUMA proximity domain (SRAT), else 0 */
	volatile uint32_t alive;
	/* While nonzero the CPU's NMI handler spins before its IRETQ (a
	 * test holds a CPU in its NMI handler with it). */
	volatile uint32_t nmi_hold;
	uint32_t pad0[8];
	/* Written by the CPU's interrupt handlers at CPL0. */
	volatile uint32_t irq_count[256];
	volatile uint64_t irq_tsc[256];
	uint8_t pad1[KIT_CPU_SIZE - KIT_CPU_IRQ_TSC - 8 * 256];
} __attribute__((aligned(KIT_CPU_SIZE)));

_Static_assert(__builtin_offsetof(struct kit_cpu, index) == KIT_CPU_INDEX,
	       "KIT_CPU_INDEX");
_Static_assert(__builtin_offsetof(struct kit_cpu, ping_icr_hi) ==
		       KIT_CPU_PING_ICR_HI,
	       "KIT_CPU_PING_ICR_HI");
_Static_assert(__builtin_offsetof(struct kit_cpu, nmi_hold) == KIT_CPU_NMI_HOLD,
	       "KIT_CPU_NMI_HOLD");
_Static_assert(__builtin_offsetof(struct kit_cpu, irq_count) ==
		       KIT_CPU_IRQ_COUNT,
	       "KIT_CPU_IRQ_COUNT");
_Static_assert(__builtin_offsetof(struct kit_cpu, irq_tsc) == KIT_CPU_IRQ_TSC,
	       "KIT_CPU_IRQ_TSC");
_Static_assert(sizeof(struct kit_cpu) == KIT_CPU_SIZE, "KIT_CPU_SIZE");

extern struct kit_cpu kit_cpus[KIT_MAX_CPUS];
extern unsigned kit_ncpus;

static inline unsigned
kit_cpu(void)
{
	unsigned i;

	__asm__ volatile("movl %%gs:%c1, %0" : "=r"(i) : "i"(KIT_CPU_INDEX));
	return i;
}

static inline uint32_t
kit_irq_count(unsigned cpu, unsigned vec)
{
	return kit_cpus[cpu].irq_count[vec];
}

static inline uint64_t
kit_irq_tsc(unsigned cpu, unsigned vec)
{
	return kit_cpus[cpu].irq_tsc[vec];
}

/* --- console and exit ----------------------------------------------------- */

int kit_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int kit_snprintf(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int kit_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
void kit_serial_init(void);
/* Writes to COM1; locked keeps lines whole (see console.c). */
void kit_serial_write(const char *s, size_t n, bool locked);

/* Writes the status to KIT_PORT_EXIT, then halts this CPU for good. */
__attribute__((noreturn)) void kit_exit(int status);
__attribute__((noreturn)) void kit_pass(void);
/* Prints "FAIL: <reason>" and exits with the status. */
__attribute__((noreturn, format(printf, 2, 3))) void
kit_fail_status(int status, const char *fmt, ...);
#define kit_fail(...) kit_fail_status(KIT_EXIT_FAIL, __VA_ARGS__)

/* --- time ----------------------------------------------------------------- */

extern uint64_t kit_tsc_khz;
extern const char *kit_tsc_source;
extern uint32_t kit_bus_khz; /* LAPIC timer input, from CPUID; 0 unknown */

static inline uint64_t
kit_rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("lfence; rdtsc" : "=a"(lo), "=d"(hi)::"memory");
	return (uint64_t)hi << 32 | lo;
}

uint64_t kit_us_to_tsc(uint64_t us);
uint64_t kit_tsc_to_us(uint64_t tsc);
void kit_udelay(uint64_t us);
void kit_tsc_init(void);

/* Default deadline of every wait, in ms; cmdline "wait=SECONDS". */
extern uint64_t kit_wait_ms;

/* Waits for cond, with a deadline; on time-out fails with status 2. */
#define KIT_WAIT(cond, ms, ...)                                            \
	do {                                                               \
		uint64_t kit_dl_ = kit_rdtsc() + kit_us_to_tsc((ms)*1000); \
		while (!(cond)) {                                          \
			if (kit_rdtsc() > kit_dl_)                         \
				kit_fail_status(KIT_EXIT_TIMEOUT,          \
						"timeout: " __VA_ARGS__);  \
			kit_pause();                                       \
		}                                                          \
	} while (0)

/* --- CPU instructions at CPL3 (IOPL 3) ------------------------------------ */

static inline void
kit_pause(void)
{
	__asm__ volatile("pause" ::: "memory");
}

static inline void
kit_barrier_compiler(void)
{
	__asm__ volatile("" ::: "memory");
}

static inline void
outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port) : "memory");
}

static inline uint8_t
inb(uint16_t port)
{
	uint8_t v;

	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port) : "memory");
	return v;
}

static inline uint32_t
inl(uint16_t port)
{
	uint32_t v;

	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port) : "memory");
	return v;
}

static inline void
kit_sti(void)
{
	__asm__ volatile("sti" ::: "memory");
}

static inline void
kit_cli(void)
{
	__asm__ volatile("cli" ::: "memory");
}

/* Clears IF and returns the old RFLAGS for kit_irq_restore(). */
static inline uint64_t
kit_irq_save(void)
{
	uint64_t f;

	__asm__ volatile("pushfq; popq %0; cli" : "=r"(f)::"memory");
	return f;
}

/* Not popfq: without IOPL 3 (see vectors.S) popfq leaves IF alone. */
static inline void
kit_irq_restore(uint64_t f)
{
	if (f & 0x200)
		kit_sti();
}

static inline void
kit_cpuid(uint32_t leaf, uint32_t sub, uint32_t r[4])
{
	__asm__ volatile("cpuid"
			 : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3])
			 : "a"(leaf), "c"(sub));
}

/* --- syscalls: the few things CPL3 cannot do ------------------------------ */

static inline uint64_t
kit_syscall(uint32_t nr, uint64_t a, uint64_t b)
{
	uint64_t r;

	__asm__ volatile("int $%c1"
			 : "=a"(r)
			 : "i"(KIT_VEC_SYSCALL), "a"(nr), "D"(a), "S"(b)
			 : "memory");
	return r;
}

static inline void
kit_wrmsr(uint32_t msr, uint64_t v)
{
	kit_syscall(KIT_SYS_WRMSR, msr, v);
}

/* wrmsr that may fault: returns 1 when it raised #GP (and did nothing),
 * else 0. */
static inline int
kit_wrmsr_safe(uint32_t msr, uint64_t v)
{
	return (int)kit_syscall(KIT_SYS_WRMSR_SAFE, msr, v);
}

static inline uint64_t
kit_rdmsr(uint32_t msr)
{
	return kit_syscall(KIT_SYS_RDMSR, msr, 0);
}

/* CR8, TPR[7:4]; MOV CR8 needs CPL0. */
static inline uint64_t
kit_rdcr8(void)
{
	return kit_syscall(KIT_SYS_RDCR8, 0, 0);
}

static inline void
kit_wrcr8(uint64_t v)
{
	kit_syscall(KIT_SYS_WRCR8, v, 0);
}

/* MOV to CR8 at CPL3 itself: 1 when it raised #GP (and did nothing). */
int kit_wrcr8_cpl3(uint64_t v);

/* Halts until the next interrupt (clear IF first to close the race). */
static inline void
kit_hlt(void)
{
	kit_syscall(KIT_SYS_HLT, 0, 0);
}

/* A CPU with nothing to do: kit_hlt(), or a pause when the command
 * line says idle=poll (QEMU/KVM with kernel-irqchip=off on kvm_pvm
 * stops every vCPU once one halts). */
extern bool kit_idle_poll;

static inline void
kit_idle(void)
{
	if (kit_idle_poll)
		kit_pause();
	else
		kit_hlt();
}

/* --- local APIC (xAPIC MMIO, user-accessible) ----------------------------- */

#define LAPIC_ID 0x20
#define LAPIC_VERSION 0x30
#define LAPIC_TPR 0x80
#define LAPIC_LDR 0xd0
#define LAPIC_DFR 0xe0
#define LAPIC_SVR 0xf0
#define LAPIC_ICR_LO KIT_LAPIC_ICR_LO
#define LAPIC_ICR_HI KIT_LAPIC_ICR_HI
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_LVT_LINT0 0x350
#define LAPIC_LVT_LINT1 0x360
#define LAPIC_LVT_ERROR 0x370
#define LAPIC_TIMER_INIT 0x380
#define LAPIC_TIMER_CUR 0x390
#define LAPIC_TIMER_DIV 0x3e0

#define LVT_MASKED 0x10000
#define LVT_PERIODIC 0x20000
#define LVT_TSC_DEADLINE 0x40000
#define MSR_TSC_DEADLINE 0x6e0
#define MSR_APIC_BASE 0x1b
#define BASE_EXTD 0x400ull /* IA32_APIC_BASE: x2APIC mode */
#define BASE_EN 0x800ull   /* IA32_APIC_BASE: APIC enabled */

/* CPUID.1:ECX.x2APIC. */
static inline bool
kit_cpuid_x2apic(void)
{
	uint32_t r[4];

	kit_cpuid(1, 0, r);
	return (r[2] >> 21) & 1;
}

#define ICR_FIXED 0x000
#define ICR_NMI 0x400
#define ICR_INIT 0x500
#define ICR_SIPI 0x600
#define ICR_LOGICAL 0x800
#define ICR_ASSERT 0x4000
#define ICR_SELF 0x40000
#define ICR_ALL 0x80000
#define ICR_OTHERS 0xc0000

static inline uint32_t
lapic_read(uint32_t reg)
{
	return *(volatile uint32_t *)(uintptr_t)(KIT_LAPIC_BASE + reg);
}

static inline void
lapic_write(uint32_t reg, uint32_t v)
{
	*(volatile uint32_t *)(uintptr_t)(KIT_LAPIC_BASE + reg) = v;
}

/* Sends an IPI: ICR high = dest << 24, then ICR low = lo | ICR_ASSERT. */
void kit_ipi(uint32_t dest, uint32_t lo);
void kit_lapic_init(void);
/* LAPIC timer input clock in kHz: kit_bus_khz, else measured once. */
uint32_t kit_lapic_timer_khz(void);

/* CPUID.1:ECX[24], unless the command line says notscdeadline (QEMU with
 * kernel-irqchip=off advertises the mode but its LAPIC ignores it). */
bool kit_has_tsc_deadline(void);

/* Routes ISA irq to vector on the CPU with apic_id; returns the GSI. */
int kit_ioapic_route(unsigned irq, unsigned vector, unsigned apic_id);

/* --- ACPI and boot information -------------------------------------------- */

struct kit_ioapic {
	uint32_t id, addr, gsi_base;
};

struct kit_range {
	uint64_t base, len;
	uint32_t node;
};

#define KIT_MAX_IOAPICS 4
#define KIT_MAX_RANGES 32

extern struct kit_ioapic kit_ioapics[KIT_MAX_IOAPICS];
extern unsigned kit_nioapics;
extern uint32_t kit_isa_gsi[16];   /* ISA irq -> GSI (MADT overrides) */
extern uint16_t kit_isa_flags[16]; /* MPS INTI flags of the override */
extern unsigned kit_numa_nodes;	   /* proximity domains seen in SRAT */
extern struct kit_range kit_numa_mem[KIT_MAX_RANGES];
extern unsigned kit_numa_nmem;
/* SLIT: kit_slit[i * kit_slit_nodes + j] is the distance from node i to
 * node j; NULL when there is no SLIT. */
extern const uint8_t *kit_slit;
extern uint64_t kit_slit_nodes;
extern uint16_t kit_pm_timer_port; /* FADT PM_TMR_BLK, 0 if none */
extern bool kit_pm_timer_32;
extern char kit_acpi_notes[]; /* "kit: ..." lines for the banner */

/* Available RAM from the multiboot memory map (type 1). */
extern struct kit_range kit_ram[KIT_MAX_RANGES];
extern unsigned kit_nram;
extern char kit_cmdline[256];
extern const char *kit_entry_name; /* "multiboot" or "elf64" */
extern char _end[];		   /* end of the image */

/* Value of "key=N" on the command line (K, M, G suffixes), else def. */
uint64_t kit_arg_u64(const char *key, uint64_t def);
/* Whether the command line has this word. */
bool kit_arg_word(const char *word);
/* NUMA node of a physical address (SRAT), or -1. */
int kit_mem_node(uint64_t addr);
void kit_acpi_scan(void);

/* --- synchronisation ------------------------------------------------------ */

struct kit_lock {
	volatile uint32_t v;
};

static inline void
kit_lock(struct kit_lock *l)
{
	for (;;) {
		if (__atomic_exchange_n(&l->v, 1, __ATOMIC_ACQUIRE) == 0)
			return;
		while (l->v)
			kit_pause();
	}
}

static inline void
kit_unlock(struct kit_lock *l)
{
	__atomic_store_n(&l->v, 0, __ATOMIC_RELEASE);
}

/* All kit_ncpus CPUs meet here; fails with status 2 after kit_wait_ms. */
void kit_barrier(void);

/* CPU 0 runs fn(arg) on CPU c (c 0: itself) and waits until it returned
 * (fails with status 2 after kit_wait_ms); CPU c must be in kit_serve().
 * fn NULL ends CPU c's kit_serve(). */
void kit_on_cpu(unsigned c, void (*fn)(uint32_t), uint32_t arg);
/* Runs what kit_on_cpu() hands this CPU until it hands it NULL. */
void kit_serve(unsigned cpu);

/* A pointer to physical address a (identity-mapped), opaque to the
 * compiler so that low addresses draw no array-bounds warnings. */
static inline void *
kit_phys(uint64_t a)
{
	void *p;

	__asm__("" : "=r"(p) : "0"(a));
	return p;
}

/* --- small library -------------------------------------------------------- */

void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strncmp(const char *a, const char *b, size_t n);
/* Median of a[0..n); reorders a. */
uint64_t kit_median(uint64_t *a, size_t n);

#endif
