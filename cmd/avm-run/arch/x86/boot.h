/*
 * Loading a guest kernel into guest memory, x86: the guest physical
 * layout, the e820 map, and the four boot formats avm-run understands:
 *
 *   linux      bzImage, Linux 64-bit boot protocol (2.12+, XLF_KERNEL_64)
 *   pvh        ELF with the XEN_ELFNOTE_PHYS32_ENTRY note (Linux vmlinux,
 *              other PVH kernels): 32-bit entry with EBX = hvm_start_info
 *   multiboot  multiboot v1 (ELF32/ELF64, or any image with the header's
 *              address fields): 32-bit entry with EAX = 0x2BADB002,
 *              EBX = multiboot info
 *   elf        plain ELF64 entered in 64-bit long mode: the guest kit's
 *              fast-boot contract (see BOOT_ELF_MAGIC)
 *
 * These are pure functions over a buffer that stands for guest RAM: no
 * KVM here.  The VMM calls boot_load() once, then copies the entry_state
 * into the boot vCPU (KVM_SET_SREGS, KVM_SET_REGS, EFER through the
 * sregs).
 *
 * Guest physical layout (RAM of `size` bytes, one host mapping):
 *
 *   0            .. min(size, 3 GiB)   RAM (offsets 0.. of the mapping)
 *   3 GiB        .. 4 GiB              MMIO hole: IOAPIC 0xFEC00000, LAPIC
 *                                      0xFEE00000, virtio-mmio devices
 *   4 GiB        .. 4 GiB + size-3 GiB RAM (offsets 3 GiB.. of the mapping)
 *
 * Below 1 MiB (all of it inside RAM; the e820 map reserves 0x9FC00 up):
 *
 *   0x00500  BOOT_GDT_ADDR      GDT, BOOT_GDT_ENTRIES descriptors
 *   0x00580  BOOT_TSS_ADDR      the TSS that TR points at (0x68 bytes)
 *   0x01000  BOOT_PML4_ADDR     long-mode entries only: PML4, then the
 *   0x02000  BOOT_PDPT_ADDR       PDPT and four page directories that map
 *   0x03000  BOOT_PD_ADDR         the first 4 GiB 1:1 with 2 MiB pages
 *   0x07000  BOOT_INFO_ADDR     the boot information page: Linux zero page,
 *                               or hvm_start_info + module list, or the
 *                               multiboot info + module list + loader name
 *   0x08000  BOOT_MMAP_ADDR     PVH memmap / multiboot mmap (4 KiB)
 *   0x20000  BOOT_CMDLINE_ADDR  the kernel command line, NUL-terminated
 *   0x70000..BOOT_STACK_TOP     a 64 KiB stack; RSP starts at 0x80000
 *   0x9FC00  .. 0xFFFFF         reserved (EBDA, BIOS): the ACPI tables,
 *                               RSDP at 0xE0000 (acpi.h)
 *   0x100000 BOOT_KERNEL_ADDR   where a bzImage's protected-mode code goes;
 *                               ELF and multiboot images go where their
 *                               headers say, at or above 1 MiB
 *
 * An initrd goes at the top of RAM below 3 GiB (and below the kernel's
 * initrd_addr_max for Linux), page-aligned, above the kernel.
 */
#ifndef AVM_X86_BOOT_H
#define AVM_X86_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include "acpi.h"

#define BOOT_GIB (1ULL << 30)
#define BOOT_MMIO_HOLE_START (3 * BOOT_GIB)
#define BOOT_MMIO_HOLE_END (4 * BOOT_GIB)

#define BOOT_GDT_ADDR 0x500ULL
#define BOOT_GDT_ENTRIES 6
#define BOOT_TSS_ADDR 0x580ULL
#define BOOT_TSS_LIMIT 0x67
#define BOOT_PML4_ADDR 0x1000ULL
#define BOOT_PDPT_ADDR 0x2000ULL
#define BOOT_PD_ADDR 0x3000ULL /* 4 pages */
#define BOOT_INFO_ADDR 0x7000ULL
#define BOOT_MMAP_ADDR 0x8000ULL
#define BOOT_CMDLINE_ADDR 0x20000ULL
#define BOOT_CMDLINE_MAX 0xFFFF /* bytes, without the NUL */
#define BOOT_STACK_TOP 0x80000ULL
#define BOOT_EBDA_START 0x9FC00ULL
#define BOOT_LOW_END 0x100000ULL /* 1 MiB: images load at or above */
#define BOOT_KERNEL_ADDR 0x100000ULL

/* Selectors of the GDT at BOOT_GDT_ADDR (the Linux 64-bit boot protocol
 * wants __BOOT_CS = 0x10 and __BOOT_DS = 0x18). */
#define BOOT_SEL_CODE32 0x08
#define BOOT_SEL_CODE64 0x10
#define BOOT_SEL_DATA 0x18
#define BOOT_SEL_TSS 0x20 /* 16-byte system descriptor: 0x20 and 0x28 */

/* The plain ELF64 contract: RDI holds this ('AVM1'), RSI the multiboot
 * v1 information structure (the same one a multiboot kernel gets). */
#define BOOT_ELF_MAGIC 0x41564D31ULL
#define BOOT_MULTIBOOT_MAGIC 0x2BADB002ULL /* EAX at a multiboot entry */

/* Guest RAM: one host mapping of `size` bytes laid out as above. */
struct guest_mem {
	uint8_t *ram;
	uint64_t size;
};

/* End of the RAM below the hole: min(size, 3 GiB). */
uint64_t guest_mem_low_end(const struct guest_mem *gm);

/*
 * Host address of [gpa, gpa + len), or NULL when any byte of it is not
 * RAM (beyond the RAM, or in the MMIO hole) or the range wraps.  len 0
 * asks for the single address gpa.
 */
void *gpa_ptr(const struct guest_mem *gm, uint64_t gpa, uint64_t len);

/* RAM offset (into the mapping) <-> GPA, per the layout above. */
uint64_t ram_off_to_gpa(uint64_t off);

/* e820 types (the PVH memmap and the multiboot mmap use the same). */
enum e820_type {
	E820_RAM = 1,
	E820_RESERVED = 2,
	E820_ACPI = 3,
	E820_NVS = 4,
	E820_UNUSABLE = 5,
};

struct e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
};

#define BOOT_E820_MAX 8

/*
 * The guest's memory map, sorted by address: RAM below the EBDA,
 * reserved 0x9FC00-0xFFFFF (EBDA, BIOS area, ACPI tables), RAM from
 * 1 MiB to min(size, 3 GiB), RAM above 4 GiB for the rest.  The MMIO hole
 * is not listed.  Returns the number of entries (<= BOOT_E820_MAX), or
 * -1 with errno ENOMEM when guest RAM is smaller than 1 MiB + 4 KiB, or
 * ENOSPC when max is too small.
 */
int boot_e820(const struct guest_mem *gm, struct e820_entry *tab, int max);

enum boot_format {
	BOOT_FMT_AUTO = 0,
	BOOT_FMT_LINUX,
	BOOT_FMT_PVH,
	BOOT_FMT_MULTIBOOT,
	BOOT_FMT_ELF,
};

/* "auto", "linux", "pvh", "multiboot", "elf". */
const char *boot_format_name(enum boot_format f);

/* Parses one of those names.  Returns 0, or -1 with errno EINVAL. */
int boot_format_parse(const char *s, enum boot_format *out);

/* boot_params_in.flags */
#define BOOT_F_NO_ACPI (1u << 0) /* build no ACPI tables */

/*
 * What to boot and the VM it boots on.  Paths are read with open(2);
 * initrd and cmdline may be NULL.
 */
struct boot_params_in {
	enum boot_format format; /* BOOT_FMT_AUTO: detect by content */
	const char *kernel;
	const char *initrd;
	const char *cmdline;
	/* Words a Linux kernel (linux, pvh) gets after cmdline, such as
	 * the VMM's virtio_mmio.device= announcements; NULL: none. */
	const char *linux_extra;
	uint32_t flags; /* BOOT_F_* */
	/* vCPUs (APIC id of vCPU k is k), NUMA domains, distances: the
	 * topology the ACPI tables describe; see acpi.h */
	struct acpi_desc acpi;
};

enum boot_cpu_mode {
	BOOT_MODE_REAL = 0,
	BOOT_MODE_PROT32, /* CR0.PE, paging off */
	BOOT_MODE_LONG64, /* CR0.PE|PG, CR4.PAE, EFER.LME|LMA */
};

/*
 * A segment register as struct kvm_segment holds it: copy field by field.
 * limit is in bytes (0xFFFFFFFF for a flat segment with g = 1).
 */
struct boot_seg {
	uint64_t base;
	uint32_t limit;
	uint16_t selector;
	uint8_t type;
	uint8_t present;
	uint8_t dpl;
	uint8_t db;
	uint8_t s;
	uint8_t l;
	uint8_t g;
	uint8_t avl;
	uint8_t unusable;
};

struct boot_dtable {
	uint64_t base;
	uint16_t limit;
};

/*
 * The boot vCPU's state at the kernel's entry.  Registers not named here
 * (RCX, RDX, RBP, R8-R15, DR*, CR2, CR8) are 0; FS and GS equal DS; the
 * IDT is empty (base 0, limit 0); interrupts are off (RFLAGS = 0x2).
 *
 * Per format:
 *   linux      LONG64, RIP = kernel load address + 0x200, RSI = zero page
 *   pvh        PROT32, RIP = the note's entry, RBX = hvm_start_info
 *   multiboot  PROT32, RIP = entry, RAX = 0x2BADB002, RBX = info
 *   elf        LONG64, RIP = e_entry, RDI = BOOT_ELF_MAGIC, RSI = info
 *              (a multiboot v1 information structure)
 * RSP = BOOT_STACK_TOP in every format.
 */
struct entry_state {
	enum boot_format format; /* what was loaded (never AUTO) */
	enum boot_cpu_mode mode;
	uint64_t rip, rsp, rflags;
	uint64_t rax, rbx, rsi, rdi;
	uint64_t cr0, cr3, cr4, efer;
	struct boot_seg cs, ds, es, fs, gs, ss, tr, ldt;
	struct boot_dtable gdt, idt;

	/* Where things went, for the VMM's log and for tests. */
	uint64_t kernel_start, kernel_end; /* [start, end) GPAs */
	uint64_t initrd_addr, initrd_size; /* 0 when none */
	uint64_t cmdline_addr;		   /* BOOT_CMDLINE_ADDR */
	uint64_t info_addr; /* zero page / start_info / MB info */
	uint64_t rsdp_addr; /* 0 with BOOT_F_NO_ACPI */
};

/*
 * Loads the kernel (and initrd, command line) of `in` into guest memory,
 * builds the e820 map and the ACPI tables, and fills *st with the boot
 * vCPU's entry state.  The format is detected by content unless
 * in->format forces one:
 *
 *   1. "HdrS" at 0x202                          -> linux
 *   2. ELF with a XEN_ELFNOTE_PHYS32_ENTRY note -> pvh
 *   3. a multiboot v1 header in the first 8 KiB -> multiboot, when the
 *      image is not ELF, or ELF32, or an ELF64 whose header names e_entry
 *      as the multiboot entry (no address fields, or entry_addr ==
 *      e_entry)
 *   4. ELF64 (x86-64)                           -> elf: an ELF64 with its
 *      own 64-bit e_entry and a multiboot header for another, 32-bit,
 *      entry (the guest kit's images) boots at e_entry; force
 *      BOOT_FMT_MULTIBOOT for the other
 *
 * Every field read from the files is checked: the files are untrusted.
 * Returns 0, or -1 with errno and a one-line message in err that starts
 * with the quoted path, for example
 *   'K': not a kernel image (no bzImage header, no ELF, no multiboot header)
 *   'K': kernel does not fit in 256 MiB of guest memory
 * errno: ENOEXEC (not a kernel, or a format error in it), EFBIG (does not
 * fit in guest memory), E2BIG (command line too long), EINVAL (bad `in`),
 * or what open(2)/read(2) said.
 */
int boot_load(struct guest_mem *gm, const struct boot_params_in *in,
	      struct entry_state *st, char *err, size_t errlen);

/*
 * Writes the GDT and TSS at BOOT_GDT_ADDR/BOOT_TSS_ADDR and fills the
 * segment, descriptor-table and control registers of *st for `mode`;
 * with BOOT_MODE_LONG64 also writes the identity page tables.  boot_load
 * calls it; exported for the VMM's own tests.  Returns 0, or -1 with
 * errno ENOMEM when guest RAM does not hold the area.
 */
int boot_setup_cpu(struct guest_mem *gm, enum boot_cpu_mode mode,
		   struct entry_state *st);

/* ---- Between boot.c and the loaders in boot-*.c; not for the VMM. ---- */

#define BOOT_HEAD_LEN 8192 /* bytes read first: headers, multiboot search */
#define BOOT_ELF_MAX_PHDRS 64

struct boot_ctx {
	struct guest_mem *gm;
	const struct boot_params_in *in;
	struct entry_state *st;
	char *err;
	size_t errlen;
	int fd; /* the kernel */
	uint64_t fsize;
	uint8_t head[BOOT_HEAD_LEN]; /* the file's first bytes, zero-padded */
	uint64_t headlen;
	size_t cmdline_len;
	uint64_t low_end; /* guest_mem_low_end() */
};

/* One PT_LOAD segment, or the multiboot a.out-kludge image. */
struct boot_seg_load {
	uint64_t off, paddr, vaddr, filesz, memsz;
};

struct boot_elf {
	int is64;
	uint64_t entry; /* e_entry */
	int nload;
	struct boot_seg_load load[BOOT_ELF_MAX_PHDRS];
	int has_pvh;
	uint64_t pvh_entry;
};

/* Formats the message, sets errno to errnum, returns -1. */
int boot_fail(struct boot_ctx *c, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* "256 MiB", "3 GiB", "1536 KiB", "100 bytes": for messages. */
const char *boot_size_str(uint64_t n, char *buf, size_t len);

/* Reads [off, off + len) of the kernel file; a short file is an error
 * naming `what`.  Returns 0 or -1 (message set). */
int boot_read(struct boot_ctx *c, uint64_t off, void *buf, uint64_t len,
	      const char *what);

/* Copies segment i of a loader's list into guest RAM: file bytes, then
 * zeros up to memsz.  Checks that it lies in RAM at or above 1 MiB. */
int boot_load_seg(struct boot_ctx *c, const struct boot_seg_load *s, int i);

/* Writes the command line (at most max bytes) at BOOT_CMDLINE_ADDR. */
int boot_put_cmdline(struct boot_ctx *c, uint64_t max);

/* Loads the initrd, if any, page-aligned as high as possible with its
 * last byte below `top`, and not below `bottom`.  Sets st->initrd_*. */
int boot_put_initrd(struct boot_ctx *c, uint64_t bottom, uint64_t top);

/* Parses an ELF header, its program headers and PT_NOTEs (PVH note). */
int boot_elf_parse(struct boot_ctx *c, struct boot_elf *e);

/* Loads every PT_LOAD of e; sets st->kernel_start/end. */
int boot_elf_load(struct boot_ctx *c, const struct boot_elf *e);

/* e_entry as a physical address (through the segment that holds it).
 * boot_elf_entry_phys fails quietly with -1; boot_elf_entry says why. */
int boot_elf_entry_phys(const struct boot_elf *e, uint64_t *entry);
int boot_elf_entry(struct boot_ctx *c, const struct boot_elf *e,
		   uint64_t *entry);

/* Finds a valid multiboot v1 header in c->head; returns its offset or -1. */
int64_t boot_mb_find(const struct boot_ctx *c);

/* Whether the multiboot header at hoff makes the ELF e a multiboot
 * kernel: it has no address fields (so e_entry is its multiboot entry),
 * or its entry_addr is e_entry. */
int boot_mb_owns_elf(const struct boot_ctx *c, int64_t hoff,
		     const struct boot_elf *e);

/* Writes the multiboot v1 info structure (and mmap, module list) at
 * BOOT_INFO_ADDR for the multiboot and plain ELF64 entries. */
int boot_mb_info(struct boot_ctx *c);

/* The format loaders: each loads, places, and fills c->st. */
int boot_linux(struct boot_ctx *c);
int boot_pvh(struct boot_ctx *c);
int boot_multiboot(struct boot_ctx *c);
int boot_elf64(struct boot_ctx *c);

/* Little-endian loads and stores into guest memory or file bytes. */
static inline uint16_t
boot_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t
boot_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

static inline uint64_t
boot_le64(const uint8_t *p)
{
	return (uint64_t)boot_le32(p) | (uint64_t)boot_le32(p + 4) << 32;
}

static inline void
boot_put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void
boot_put32(uint8_t *p, uint32_t v)
{
	boot_put16(p, (uint16_t)v);
	boot_put16(p + 2, (uint16_t)(v >> 16));
}

static inline void
boot_put64(uint8_t *p, uint64_t v)
{
	boot_put32(p, (uint32_t)v);
	boot_put32(p + 4, (uint32_t)(v >> 32));
}

#endif
