/*
 * Kernel loading (cmd/avm-run/arch/x86/boot*.c): the guest layout and
 * e820 map, then synthetic images built here (bzImage header, ELF64 with
 * and without a PVH note, ELF32, multiboot with and without the address
 * fields) checked for entry state, placement and boot information, and
 * malformed images each rejected with its message.  Debian's kernel from
 * `make guest-linux` is loaded too when assets/linux/ has it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "guestmem.h"
#include "tap.h"
#include "../../cmd/avm-run/arch/x86/boot.h"

#define KIB 1024ULL
#define MIB (1ULL << 20)
#define GIB (1ULL << 30)

static char tmpdir[] = "/tmp/t-boot.XXXXXX";
static char kpath[64], ipath[64];

static void
write_file(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd < 0 || write(fd, buf, len) != (ssize_t)len) {
		printf("Bail out! write '%s' failed\n", path);
		exit(1);
	}
	close(fd);
}

/* A sparse file of `size` bytes whose first bytes are a marker. */
static void
write_initrd(uint64_t size)
{
	int fd = open(ipath, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd < 0 || ftruncate(fd, (off_t)size) < 0 ||
	    pwrite(fd, "INITRD!", 7, 0) != 7) {
		printf("Bail out! write '%s' failed\n", ipath);
		exit(1);
	}
	close(fd);
}

static uint8_t *
at(const struct guest_mem *gm, uint64_t gpa)
{
	return gpa_ptr(gm, gpa, 1);
}

static uint32_t
rd32(const struct guest_mem *gm, uint64_t gpa)
{
	return boot_le32(at(gm, gpa));
}

static uint64_t
rd64(const struct guest_mem *gm, uint64_t gpa)
{
	return boot_le64(at(gm, gpa));
}

static char err[512];
static const char *linux_extra; /* boot_params_in.linux_extra of load() */

/* boot_load with the common parameters. */
static int
load(struct guest_mem *gm, enum boot_format fmt, const char *initrd,
     const char *cmdline, struct entry_state *st)
{
	struct boot_params_in in = {
		.format = fmt,
		.kernel = kpath,
		.initrd = initrd,
		.cmdline = cmdline,
		.linux_extra = linux_extra,
		.acpi = { .vcpus = 2, .ioapic_id = 2 },
	};

	return boot_load(gm, &in, st, err, sizeof(err));
}

/* Expects boot_load to fail with errno e and a message containing msg. */
static void
fails(struct guest_mem *gm, enum boot_format fmt, const char *initrd,
      const char *cmdline, int e, const char *msg, const char *what)
{
	struct entry_state st;
	int rc;

	errno = 0;
	rc = load(gm, fmt, initrd, cmdline, &st);
	if (!ok(rc == -1 && errno == e && strstr(err, msg) != NULL,
		"%s: rejected", what))
		printf("#   rc %d errno %d (want %d), message '%s', want "
		       "'%s'\n",
		       rc, errno, e, err, msg);
	ok(strncmp(err, "'", 1) == 0 || strncmp(err, "ACPI", 4) == 0,
	   "%s: message names the file: %s", what, err);
}

/* --- layout ------------------------------------------------------------- */

static void
test_layout(void)
{
	struct guest_mem gm = { (uint8_t *)0x10000000, 5 * GIB };
	struct e820_entry e[BOOT_E820_MAX];
	int n;

	ok(gpa_ptr(&gm, 0, 1) == gm.ram, "gpa 0 is the mapping's start");
	ok(gpa_ptr(&gm, 3 * GIB - 4096, 4096) == gm.ram + 3 * GIB - 4096,
	   "last low page");
	ok(gpa_ptr(&gm, 3 * GIB - 4096, 4097) == NULL,
	   "a range running into the hole is not RAM");
	ok(gpa_ptr(&gm, 0xFEE00000, 4) == NULL, "the LAPIC page is not RAM");
	ok(gpa_ptr(&gm, 4 * GIB, 8) == gm.ram + 3 * GIB,
	   "4 GiB is RAM offset 3 GiB");
	ok(gpa_ptr(&gm, 6 * GIB - 8, 8) == gm.ram + 5 * GIB - 8,
	   "last high bytes");
	ok(gpa_ptr(&gm, 6 * GIB - 8, 9) == NULL, "beyond the end");
	ok(gpa_ptr(&gm, UINT64_MAX - 4, 16) == NULL, "wrap-around");
	is_int(ram_off_to_gpa(GIB), GIB, "RAM offset 1 GiB is GPA 1 GiB");
	is_int(ram_off_to_gpa(3 * GIB), 4 * GIB,
	       "RAM offset 3 GiB is GPA 4 GiB");

	gm.size = 256 * MIB;
	n = boot_e820(&gm, e, BOOT_E820_MAX);
	is_int(n, 3, "e820 256 MiB: 3 entries");
	ok(e[0].addr == 0 && e[0].size == 0x9FC00 && e[0].type == E820_RAM,
	   "e820 256 MiB: RAM below the EBDA");
	ok(e[1].addr == 0x9FC00 && e[1].size == 0x100000 - 0x9FC00 &&
		   e[1].type == E820_RESERVED,
	   "e820 256 MiB: EBDA, BIOS and ACPI area reserved");
	ok(e[2].addr == MIB && e[2].size == 255 * MIB && e[2].type == E820_RAM,
	   "e820 256 MiB: RAM from 1 MiB");

	gm.size = 3 * GIB;
	n = boot_e820(&gm, e, BOOT_E820_MAX);
	ok(n == 3 && e[2].addr == MIB && e[2].size == 3 * GIB - MIB,
	   "e820 3 GiB: RAM up to the hole, nothing above");

	gm.size = 5 * GIB;
	n = boot_e820(&gm, e, BOOT_E820_MAX);
	ok(n == 4 && e[2].size == 3 * GIB - MIB && e[3].addr == 4 * GIB &&
		   e[3].size == 2 * GIB && e[3].type == E820_RAM,
	   "e820 5 GiB: 3 GiB low, the hole, 2 GiB from 4 GiB");
	ok(boot_e820(&gm, e, 3) == -1 && errno == ENOSPC,
	   "e820: ENOSPC when the table is too small");
	gm.size = MIB;
	ok(boot_e820(&gm, e, BOOT_E820_MAX) == -1 && errno == ENOMEM,
	   "e820: ENOMEM for 1 MiB of RAM");

	{
		enum boot_format f;

		ok(boot_format_parse("pvh", &f) == 0 && f == BOOT_FMT_PVH,
		   "format 'pvh' parses");
		ok(boot_format_parse("bzimage", &f) == -1 && errno == EINVAL,
		   "format 'bzimage' is not a name");
		is_str(boot_format_name(BOOT_FMT_MULTIBOOT), "multiboot",
		       "format name");
	}
}

/* --- bzImage ------------------------------------------------------------ */

#define BZ_SETUP_SECTS 3
#define BZ_PM_SIZE 8192
static uint8_t bz[(BZ_SETUP_SECTS + 1) * 512 + BZ_PM_SIZE];

static void
mk_bzimage(uint16_t version, uint16_t xloadflags)
{
	memset(bz, 0, sizeof(bz));
	bz[0x1F1] = BZ_SETUP_SECTS;
	boot_put16(bz + 0x1FE, 0xAA55);
	bz[0x200] = 0xEB;
	bz[0x201] = 0x6A; /* header ends at 0x26C */
	memcpy(bz + 0x202, "HdrS", 4);
	boot_put16(bz + 0x206, version);
	bz[0x211] = 0x01; /* LOADED_HIGH */
	boot_put32(bz + 0x214, 0x100000);
	boot_put32(bz + 0x22C, 0x7FFFFFFF);
	boot_put32(bz + 0x230, 0x200000);
	bz[0x234] = 1;
	boot_put16(bz + 0x236, xloadflags);
	boot_put32(bz + 0x238, 2047);
	boot_put64(bz + 0x258, 0x1000000);
	boot_put32(bz + 0x260, 0x400000);
	for (int i = 0; i < BZ_PM_SIZE; i++)
		bz[(BZ_SETUP_SECTS + 1) * 512 + i] = (uint8_t)(i * 7 + 1);
	write_file(kpath, bz, sizeof(bz));
}

static void
check_long_mode(const struct guest_mem *gm, const struct entry_state *st,
		const char *what)
{
	ok(st->mode == BOOT_MODE_LONG64, "%s: long mode", what);
	ok(st->cs.selector == 0x10 && st->cs.l == 1 && st->cs.db == 0 &&
		   st->cs.type == 0xB && st->cs.s == 1 && st->cs.present,
	   "%s: CS = __BOOT_CS, 64-bit code", what);
	ok(st->ds.selector == 0x18 && st->ss.selector == 0x18 &&
		   st->es.selector == 0x18 && st->ds.type == 0x3 &&
		   st->ds.limit == 0xFFFFFFFF && st->ds.g == 1,
	   "%s: DS/ES/SS = __BOOT_DS, flat data", what);
	ok(st->cr0 == 0x80000011 && st->cr4 == 0x20 && st->efer == 0x500 &&
		   st->cr3 == BOOT_PML4_ADDR,
	   "%s: CR0 PG|PE, CR4 PAE, EFER LME|LMA, CR3", what);
	ok(st->gdt.base == BOOT_GDT_ADDR && st->gdt.limit == 47 &&
		   st->idt.base == 0 && st->idt.limit == 0,
	   "%s: GDT, empty IDT", what);
	ok(rd64(gm, BOOT_GDT_ADDR + 0x10) == 0x00AF9B000000FFFFULL &&
		   rd64(gm, BOOT_GDT_ADDR + 0x18) == 0x00CF93000000FFFFULL,
	   "%s: GDT descriptors in memory match CS and DS", what);
	ok(st->tr.selector == 0x20 && st->tr.type == 0xB && st->tr.s == 0 &&
		   st->tr.base == BOOT_TSS_ADDR &&
		   (rd64(gm, BOOT_GDT_ADDR + 0x20) >> 40 & 0x9F) == 0x8B,
	   "%s: TR is a busy TSS, in the GDT too", what);
	ok(rd64(gm, BOOT_PML4_ADDR) == (BOOT_PDPT_ADDR | 3) &&
		   rd64(gm, BOOT_PDPT_ADDR + 24) ==
			   ((BOOT_PD_ADDR + 3 * 4096) | 3) &&
		   rd64(gm, BOOT_PD_ADDR) == 0x83 &&
		   rd64(gm, BOOT_PD_ADDR + 2047 * 8) == (0xFFE00000ULL | 0x83),
	   "%s: identity map of 4 GiB in 2 MiB pages", what);
	ok(st->rflags == 2 && st->rsp == BOOT_STACK_TOP,
	   "%s: interrupts off, stack", what);
}

static void
check_prot32(const struct guest_mem *gm, const struct entry_state *st,
	     const char *what)
{
	ok(st->mode == BOOT_MODE_PROT32, "%s: 32-bit protected mode", what);
	ok(st->cs.selector == 0x08 && st->cs.db == 1 && st->cs.l == 0 &&
		   st->cs.base == 0 && st->cs.limit == 0xFFFFFFFF &&
		   st->cs.g == 1 && st->cs.type == 0xB,
	   "%s: flat 32-bit CS", what);
	ok(st->ds.selector == 0x18 && st->ss.db == 1 &&
		   st->ss.limit == 0xFFFFFFFF,
	   "%s: flat data segments", what);
	ok(st->cr0 == 0x11 && st->cr4 == 0 && st->efer == 0 && st->cr3 == 0,
	   "%s: CR0 PE only (paging off), CR4/EFER 0", what);
	ok(rd64(gm, BOOT_GDT_ADDR + 0x08) == 0x00CF9B000000FFFFULL,
	   "%s: 32-bit code descriptor in the GDT", what);
	ok(st->rflags == 2, "%s: interrupts off", what);
}

static void
check_e820(const struct guest_mem *gm, uint64_t gpa, int stride, int n,
	   int skip, const char *what)
{
	struct e820_entry e[BOOT_E820_MAX];
	int want = boot_e820(gm, e, BOOT_E820_MAX), same = want == n;

	for (int i = 0; same && i < n; i++) {
		uint64_t p = gpa + (uint64_t)i * stride + skip;

		same = rd64(gm, p) == e[i].addr &&
		       rd64(gm, p + 8) == e[i].size &&
		       rd32(gm, p + 16) == e[i].type;
	}
	ok(same, "%s: memory map = e820 (%d entries)", what, n);
}

static void
test_bzimage(void)
{
	struct guest_mem gm = mem_new(256 * MIB);
	struct entry_state st;
	const uint64_t zp = BOOT_INFO_ADDR;
	uint64_t ird;

	mk_bzimage(0x20F, 0x3);
	write_initrd(3 * MIB + 100);
	is_int(load(&gm, BOOT_FMT_AUTO, ipath, "console=ttyS0 quiet", &st), 0,
	       "bzImage loads (%s)", err);
	is_int(st.format, BOOT_FMT_LINUX, "bzImage detected as linux");
	check_long_mode(&gm, &st, "bzImage");
	is_int(st.rip, 0x100200, "bzImage: RIP = 1 MiB + 0x200");
	is_int(st.rsi, zp, "bzImage: RSI = zero page");
	ok(memcmp(at(&gm, 0x100000), bz + 2048, BZ_PM_SIZE) == 0,
	   "bzImage: protected-mode code at 1 MiB");
	ok(memcmp(at(&gm, zp + 0x202), "HdrS", 4) == 0 &&
		   boot_le16(at(&gm, zp + 0x206)) == 0x20F &&
		   rd32(&gm, zp + 0x260) == 0x400000,
	   "zero page: setup header copied");
	is_int(*at(&gm, zp + 0x210), 0xFF, "zero page: type_of_loader 0xFF");
	is_int(rd32(&gm, zp + 0x228), BOOT_CMDLINE_ADDR,
	       "zero page: cmd_line_ptr");
	is_str((char *)at(&gm, BOOT_CMDLINE_ADDR), "console=ttyS0 quiet",
	       "command line in guest memory");
	ird = rd32(&gm, zp + 0x218);
	ok(ird == st.initrd_addr && rd32(&gm, zp + 0x21C) == 3 * MIB + 100,
	   "zero page: ramdisk_image/size");
	ok(ird % 4096 == 0 && ird + 3 * MIB + 100 <= 256 * MIB &&
		   ird + 3 * MIB + 100 > 256 * MIB - 4096,
	   "initrd page-aligned at the top of RAM (0x%llx)",
	   (unsigned long long)ird);
	ok(ird >= 0x1400000, "initrd above pref_address + init_size");
	ok(memcmp(at(&gm, ird), "INITRD!", 7) == 0, "initrd contents");
	is_int(rd64(&gm, zp + 0x70), 0xE0000,
	       "zero page: acpi_rsdp_addr (protocol 2.15)");
	is_int(*at(&gm, zp + 0x1E8), 3, "zero page: 3 e820 entries");
	check_e820(&gm, zp + 0x2D0, 20, 3, 0, "zero page");
	is_int(acpi_find_rsdp(&gm), 0xE0000,
	       "RSDP also found by scanning 0xE0000-0xFFFFF");
	ok(st.kernel_start == MIB && st.kernel_end == MIB + BZ_PM_SIZE,
	   "kernel range recorded");

	/* initrd_addr_max caps the initrd's placement. */
	boot_put32(bz + 0x22C, 0x37FFFFF);
	write_file(kpath, bz, sizeof(bz));
	is_int(load(&gm, BOOT_FMT_LINUX, ipath, NULL, &st), 0,
	       "bzImage with initrd_addr_max 0x37FFFFF (%s)", err);
	ok(st.initrd_addr + st.initrd_size <= 0x3800000 &&
		   st.initrd_addr >= 0x3800000 - 3 * MIB - 4096 - 100,
	   "initrd ends below initrd_addr_max");
	is_str((char *)at(&gm, BOOT_CMDLINE_ADDR), "", "no command line");
	is_int(st.initrd_size, 3 * MIB + 100, "initrd size");

	/* Protocol 2.12: no acpi_rsdp_addr field. */
	mk_bzimage(0x20C, 0x1);
	is_int(load(&gm, BOOT_FMT_AUTO, NULL, NULL, &st), 0,
	       "protocol 2.12 loads (%s)", err);
	is_int(rd64(&gm, zp + 0x70), 0, "2.12: acpi_rsdp_addr left 0");
	is_int(st.initrd_addr, 0, "no initrd");

	/* Errors. */
	mk_bzimage(0x205, 0x1);
	fails(&gm, BOOT_FMT_AUTO, NULL, NULL, ENOEXEC,
	      "boot protocol 2.05 is too old (need 2.06 or later)",
	      "protocol 2.05");
	mk_bzimage(0x20A, 0x0);
	fails(&gm, BOOT_FMT_AUTO, NULL, NULL, ENOEXEC,
	      "boot protocol 2.10 has no 64-bit entry", "protocol 2.10");
	mk_bzimage(0x20F, 0x2);
	fails(&gm, BOOT_FMT_AUTO, NULL, NULL, ENOEXEC,
	      "not 64-bit capable (no XLF_KERNEL_64", "no XLF_KERNEL_64");
	mk_bzimage(0x20F, 0x1);
	boot_put32(bz + 0x238, 10);
	write_file(kpath, bz, sizeof(bz));
	fails(&gm, BOOT_FMT_AUTO, NULL, "console=ttyS0", E2BIG,
	      "command line is 13 bytes, the kernel takes at most 10",
	      "command line longer than cmdline_size");
	ok(load(&gm, BOOT_FMT_AUTO, NULL, "0123456789", &st) == 0,
	   "command line of exactly cmdline_size bytes fits");
	write_file(kpath, bz, 1000);
	fails(&gm, BOOT_FMT_AUTO, NULL, NULL, ENOEXEC,
	      "truncated: a bzImage's setup header needs 1024 bytes",
	      "truncated setup header");
	write_file(kpath, bz, 2048);
	fails(&gm, BOOT_FMT_AUTO, NULL, NULL, ENOEXEC,
	      "truncated: no kernel after 2048 bytes of setup code",
	      "no protected-mode code");
	mk_bzimage(0x20F, 0x1);
	bz[0x1FE] = 0;
	write_file(kpath, bz, sizeof(bz));
	fails(&gm, BOOT_FMT_AUTO, NULL, NULL, ENOEXEC,
	      "not a bzImage (no HdrS setup header)", "bad boot_flag");
	mk_bzimage(0x20F, 0x1);
	fails(&gm, BOOT_FMT_MULTIBOOT, NULL, NULL, ENOEXEC,
	      "no multiboot header in the first 8 KiB",
	      "bzImage forced as multiboot");
	write_initrd(300 * MIB);
	fails(&gm, BOOT_FMT_AUTO, ipath, NULL, EFBIG,
	      "initrd (300 MiB) does not fit in guest memory",
	      "initrd bigger than RAM");
	write_initrd(240 * MIB);
	fails(&gm, BOOT_FMT_AUTO, ipath, NULL, EFBIG,
	      "does not fit in guest memory between the kernel's end "
	      "0x1400000",
	      "initrd overlapping the kernel's decompression area");
	mem_free(&gm);

	gm = mem_new(16 * MIB);
	mk_bzimage(0x20F, 0x1);
	{
		char want[400];

		snprintf(want, sizeof(want),
			 "'%s': kernel does not fit in 16 MiB of guest memory",
			 kpath);
		fails(&gm, BOOT_FMT_AUTO, NULL, NULL, EFBIG, want,
		      "bzImage in 16 MiB");
		is_str(err, want, "exact message");
	}
	mem_free(&gm);
}

/* --- ELF ---------------------------------------------------------------- */

struct seg {
	uint32_t type; /* 0 = PT_LOAD */
	uint64_t paddr, vaddr, filesz, memsz, off;
};

#define ELF_SIZE 0x6000
static uint8_t elf[ELF_SIZE];

/*
 * An ELF image: header, program headers at 64, a PT_NOTE with the PVH
 * note at 0x400 when pvh_size is 4 or 8, a multiboot header at 0x800
 * when mb, segment data at 0x1000 + 0x1000 * i (pattern i + 1).
 */
static size_t
mk_elf(int is64, const struct seg *s, int nseg, uint64_t entry, int pvh_size,
       uint64_t pvh_entry, int mb)
{
	size_t ph = is64 ? 56 : 32, phoff = 64;
	int nph = nseg + (pvh_size ? 1 : 0);

	memset(elf, 0, sizeof(elf));
	memcpy(elf, "\177ELF", 4);
	elf[4] = is64 ? 2 : 1;
	elf[5] = 1;
	elf[6] = 1;
	boot_put16(elf + 16, 2);
	boot_put16(elf + 18, is64 ? 62 : 3);
	boot_put32(elf + 20, 1);
	if (is64) {
		boot_put64(elf + 24, entry);
		boot_put64(elf + 32, phoff);
		boot_put16(elf + 52, 64);
		boot_put16(elf + 54, (uint16_t)ph);
		boot_put16(elf + 56, (uint16_t)nph);
	} else {
		boot_put32(elf + 24, (uint32_t)entry);
		boot_put32(elf + 28, (uint32_t)phoff);
		boot_put16(elf + 40, 52);
		boot_put16(elf + 42, (uint16_t)ph);
		boot_put16(elf + 44, (uint16_t)nph);
	}
	for (int i = 0; i < nph; i++) {
		uint8_t *p = elf + phoff + i * ph;
		struct seg n = { 4,
				 0,
				 0,
				 20 + (uint64_t)pvh_size,
				 20 + (uint64_t)pvh_size,
				 0x400 };
		const struct seg *g = i < nseg ? &s[i] : &n;
		uint64_t off = g->off ? g->off : 0x1000 + 0x1000 * (uint64_t)i;
		uint32_t type = g->type ? g->type : 1;

		if (is64) {
			boot_put32(p, type);
			boot_put32(p + 4, 7);
			boot_put64(p + 8, off);
			boot_put64(p + 16, g->vaddr ? g->vaddr : g->paddr);
			boot_put64(p + 24, g->paddr);
			boot_put64(p + 32, g->filesz);
			boot_put64(p + 40, g->memsz);
			boot_put64(p + 48, 4);
		} else {
			boot_put32(p, type);
			boot_put32(p + 4, (uint32_t)off);
			boot_put32(p + 8,
				   (uint32_t)(g->vaddr ? g->vaddr : g->paddr));
			boot_put32(p + 12, (uint32_t)g->paddr);
			boot_put32(p + 16, (uint32_t)g->filesz);
			boot_put32(p + 20, (uint32_t)g->memsz);
			boot_put32(p + 24, 7);
			boot_put32(p + 28, 4);
		}
		if (i < nseg && off == 0x1000 + 0x1000 * (uint64_t)i &&
		    g->filesz <= 0x1000)
			memset(elf + off, i + 1, g->filesz);
	}
	if (pvh_size) {
		uint8_t *n = elf + 0x400;

		boot_put32(n, 4);
		boot_put32(n + 4, (uint32_t)pvh_size);
		boot_put32(n + 8, 18);
		memcpy(n + 12, "Xen", 4);
		if (pvh_size == 8)
			boot_put64(n + 16, pvh_entry);
		else
			boot_put32(n + 16, (uint32_t)pvh_entry);
	}
	if (mb) {
		boot_put32(elf + 0x800, 0x1BADB002);
		boot_put32(elf + 0x804, 0x2);
		boot_put32(elf + 0x808, (uint32_t) - (0x1BADB002 + 0x2));
	}
	return 0x1000 + 0x1000 * (size_t)(nseg > 4 ? 4 : nseg);
}

static void
check_mb_info(const struct guest_mem *gm, const struct entry_state *st,
	      const char *cmdline, const char *what)
{
	uint64_t mi = BOOT_INFO_ADDR;
	uint32_t flags = rd32(gm, mi);
	int n = (int)(rd32(gm, mi + 44) / 24);

	ok((flags & 0x24D) == 0x24D,
	   "%s: info flags mem, cmdline, mods, mmap, name (0x%x)", what, flags);
	ok(rd32(gm, mi + 4) == 639 &&
		   rd32(gm, mi + 8) == (gm->size - MIB) / 1024,
	   "%s: mem_lower 639 KiB, mem_upper", what);
	is_str((char *)at(gm, rd32(gm, mi + 16)), cmdline, "%s: cmdline", what);
	is_int(rd32(gm, mi + 48), BOOT_MMAP_ADDR, "%s: mmap_addr", what);
	ok(rd32(gm, BOOT_MMAP_ADDR) == 20, "%s: mmap entry size field 20",
	   what);
	check_e820(gm, BOOT_MMAP_ADDR, 24, n, 4, what);
	is_str((char *)at(gm, rd32(gm, mi + 64)), "avm-run",
	       "%s: boot loader name", what);
	if (st->initrd_size) {
		uint64_t m = rd32(gm, mi + 24);

		ok(rd32(gm, mi + 20) == 1 && rd32(gm, m) == st->initrd_addr &&
			   rd32(gm, m + 4) ==
				   st->initrd_addr + st->initrd_size &&
			   strcmp((char *)at(gm, rd32(gm, m + 8)),
				  "initrd.img") == 0,
		   "%s: module 0 = initrd", what);
	}
}

static void
test_pvh(void)
{
	struct guest_mem gm = mem_new(256 * MIB);
	struct seg s[2] = { { 0, 0x200000, 0xFFFFFFFF80200000ULL, 0x800, 0x3000,
			      0 },
			    { 0, 0x400000, 0, 0x100, 0x100, 0 } };
	struct entry_state st;
	uint64_t si = BOOT_INFO_ADDR;
	size_t len;

	len = mk_elf(1, s, 2, 0xFFFFFFFF80200000ULL, 8, 0x200010, 0);
	write_file(kpath, elf, len);
	memset(at(&gm, 0x200000), 0xAA, 0x3000); /* checks the bss zeroing */
	write_initrd(5000);
	is_int(load(&gm, BOOT_FMT_AUTO, ipath, "root=/dev/vda", &st), 0,
	       "ELF64 with PVH note loads (%s)", err);
	is_int(st.format, BOOT_FMT_PVH, "detected as pvh");
	check_prot32(&gm, &st, "pvh");
	is_int(st.rip, 0x200010, "pvh: RIP = the note's entry");
	is_int(st.rbx, si, "pvh: EBX = start_info");
	ok(*at(&gm, 0x200000) == 1 && *at(&gm, 0x2007FF) == 1 &&
		   *at(&gm, 0x200800) == 0 && *at(&gm, 0x202FFF) == 0,
	   "pvh: segment at p_paddr, bss zeroed");
	ok(*at(&gm, 0x400000) == 2, "pvh: second segment");
	ok(st.kernel_start == 0x200000 && st.kernel_end == 0x400100,
	   "pvh: kernel range");
	is_int(rd32(&gm, si), 0x336EC578, "start_info magic");
	is_int(rd32(&gm, si + 4), 1, "start_info version 1");
	is_str((char *)at(&gm, rd64(&gm, si + 24)), "root=/dev/vda",
	       "start_info cmdline");
	/* The VMM's words for Linux (virtio-mmio disks) come after. */
	linux_extra = "virtio_mmio.device=512@0xd0000000:5";
	load(&gm, BOOT_FMT_AUTO, NULL, "root=/dev/vda", &st);
	is_str((char *)at(&gm, st.cmdline_addr),
	       "root=/dev/vda virtio_mmio.device=512@0xd0000000:5",
	       "pvh: the VMM's words after the user's");
	load(&gm, BOOT_FMT_AUTO, NULL, NULL, &st);
	is_str((char *)at(&gm, st.cmdline_addr),
	       "virtio_mmio.device=512@0xd0000000:5",
	       "pvh: the VMM's words alone, no leading space");
	linux_extra = NULL;
	load(&gm, BOOT_FMT_AUTO, ipath, "root=/dev/vda", &st);
	is_int(rd64(&gm, si + 32), 0xE0000, "start_info rsdp_paddr");
	ok(rd32(&gm, si + 12) == 1 &&
		   rd64(&gm, rd64(&gm, si + 16)) == st.initrd_addr &&
		   rd64(&gm, rd64(&gm, si + 16) + 8) == 5000,
	   "start_info module 0 = initrd");
	ok(memcmp(at(&gm, st.initrd_addr), "INITRD!", 7) == 0,
	   "initrd contents");
	ok(rd32(&gm, si + 48) == 3, "start_info memmap_entries");
	check_e820(&gm, rd64(&gm, si + 40), 24, 3, 0, "start_info memmap");

	/* A 4-byte note in an ELF32: PVH too. */
	len = mk_elf(0, s, 1, 0x200000, 4, 0x200004, 1);
	write_file(kpath, elf, len);
	is_int(load(&gm, BOOT_FMT_AUTO, NULL, NULL, &st), 0,
	       "ELF32 with a 4-byte PVH note loads (%s)", err);
	ok(st.format == BOOT_FMT_PVH && st.rip == 0x200004,
	   "PVH note wins over the multiboot header");
	is_int(rd32(&gm, si + 12), 0, "no modules without initrd");

	/* Errors. */
	len = mk_elf(1, s, 2, 0x200000, 8, 0x900000, 0);
	write_file(kpath, elf, len);
	fails(&gm, BOOT_FMT_AUTO, NULL, NULL, ENOEXEC,
	      "PVH entry 0x900000 is outside the loaded segments",
	      "PVH entry outside segments");
	len = mk_elf(1, s, 2, 0x200000, 8, 0x100000000ULL, 0);
	write_file(kpath, elf, len);
	fails(&gm, BOOT_FMT_AUTO, NULL, NULL, ENOEXEC,
	      "is not a 32-bit address", "PVH entry above 4 GiB");
	len = mk_elf(1, s, 2, 0x200000, 0, 0, 0);
	write_file(kpath, elf, len);
	fails(&gm, BOOT_FMT_PVH, NULL, NULL, ENOEXEC,
	      "ELF has no PVH entry note", "forced pvh without a note");
	/* A note whose descsz runs past its segment. */
	len = mk_elf(1, s, 2, 0x200000, 8, 0x200010, 0);
	boot_put32(elf + 0x404, 0x1000);
	write_file(kpath, elf, len);
	fails(&gm, BOOT_FMT_AUTO, NULL, NULL, ENOEXEC,
	      "ELF note runs past its segment", "bad note size");
	mem_free(&gm);
}

static void
test_elf64(void)
{
	struct guest_mem gm = mem_new(256 * MIB);
	struct seg s[2] = { { 0, 0x200000, 0xFFFFFFFF80200000ULL, 0x100, 0x1000,
			      0 },
			    { 0, 0x300000, 0, 0x200, 0x2000, 0 } };
	struct entry_state st;
	size_t len;

	len = mk_elf(1, s, 2, 0xFFFFFFFF80200040ULL, 0, 0, 0);
	write_file(kpath, elf, len);
	write_initrd(100 * KIB);
	is_int(load(&gm, BOOT_FMT_AUTO, ipath, "guest kit", &st), 0,
	       "plain ELF64 loads (%s)", err);
	is_int(st.format, BOOT_FMT_ELF, "detected as elf");
	check_long_mode(&gm, &st, "elf");
	is_int(st.rip, 0x200040, "elf: RIP = e_entry taken to p_paddr");
	is_int(st.rdi, 0x41564D31, "elf: RDI = 'AVM1'");
	is_int(st.rsi, BOOT_INFO_ADDR, "elf: RSI = multiboot info");
	ok(st.initrd_addr >= 0x302000 && st.initrd_addr % 4096 == 0,
	   "elf: initrd above the kernel, page-aligned");
	check_mb_info(&gm, &st, "guest kit", "elf");
	mem_free(&gm);

	/* 5 GiB: the info's mmap shows the hole; mem_upper stops at it. */
	gm = mem_new(5 * GIB);
	is_int(load(&gm, BOOT_FMT_AUTO, NULL, NULL, &st), 0,
	       "plain ELF64 in 5 GiB (%s)", err);
	ok(rd32(&gm, BOOT_INFO_ADDR + 8) == (3 * GIB - MIB) / 1024 &&
		   rd32(&gm, BOOT_INFO_ADDR + 44) == 4 * 24,
	   "5 GiB: mem_upper to 3 GiB, 4 mmap entries");
	ok(rd64(&gm, BOOT_MMAP_ADDR + 3 * 24 + 4) == 4 * GIB &&
		   rd64(&gm, BOOT_MMAP_ADDR + 3 * 24 + 12) == 2 * GIB,
	   "5 GiB: RAM above 4 GiB in the mmap");
	mem_free(&gm);
}

static void
test_multiboot(void)
{
	struct guest_mem gm = mem_new(256 * MIB);
	struct seg s[1] = { { 0, 0x100000, 0, 0x300, 0x800, 0 } };
	static uint8_t raw[0x3000];
	struct entry_state st;
	size_t len;

	/* ELF32 with a multiboot header (no address fields). */
	len = mk_elf(0, s, 1, 0x100010, 0, 0, 1);
	write_file(kpath, elf, len);
	write_initrd(4096);
	is_int(load(&gm, BOOT_FMT_AUTO, ipath, "mb", &st), 0,
	       "ELF32 multiboot loads (%s)", err);
	is_int(st.format, BOOT_FMT_MULTIBOOT, "detected as multiboot");
	check_prot32(&gm, &st, "multiboot");
	ok(st.rip == 0x100010 && st.rax == 0x2BADB002 &&
		   st.rbx == BOOT_INFO_ADDR,
	   "multiboot: EIP, EAX = 0x2BADB002, EBX = info");
	check_mb_info(&gm, &st, "mb", "multiboot");

	/* ELF64 with a multiboot header: the header asks for the 32-bit
	 * multiboot entry. */
	len = mk_elf(1, s, 1, 0x100010, 0, 0, 1);
	write_file(kpath, elf, len);
	ok(load(&gm, BOOT_FMT_AUTO, NULL, NULL, &st) == 0 &&
		   st.format == BOOT_FMT_MULTIBOOT &&
		   st.mode == BOOT_MODE_PROT32,
	   "ELF64 with a multiboot header boots as multiboot (%s)", err);
	ok(load(&gm, BOOT_FMT_ELF, NULL, NULL, &st) == 0 &&
		   st.format == BOOT_FMT_ELF && st.mode == BOOT_MODE_LONG64,
	   "... and as plain ELF64 when forced (%s)", err);

	/* The guest kit's images: ELF64 with its own 64-bit e_entry and a
	 * multiboot header with address fields for a 32-bit entry. */
	{
		struct seg k[1] = { { 0, 0x200000, 0, 0x300, 0x800, 0 } };
		uint32_t flags = 1u << 16 | 1u << 1;
		uint8_t *h = elf + 0x800;

		len = mk_elf(1, k, 1, 0x200040, 0, 0, 1);
		boot_put32(h + 4, flags);
		boot_put32(h + 8, (uint32_t) - (0x1BADB002 + flags));
		boot_put32(h + 12, 0x1FF800); /* file offset 0 at 0x1FF000 */
		boot_put32(h + 16, 0x1FF000);
		boot_put32(h + 28, 0x200010);
		write_file(kpath, elf, len);
		ok(load(&gm, BOOT_FMT_AUTO, NULL, NULL, &st) == 0 &&
			   st.format == BOOT_FMT_ELF && st.rip == 0x200040,
		   "ELF64 with e_entry != multiboot entry_addr boots as elf "
		   "(%s)",
		   err);
		ok(load(&gm, BOOT_FMT_MULTIBOOT, NULL, NULL, &st) == 0 &&
			   st.format == BOOT_FMT_MULTIBOOT &&
			   st.rip == 0x200010 && st.kernel_start == 0x1FF000 &&
			   st.mode == BOOT_MODE_PROT32,
		   "... and by its address fields when forced to multiboot "
		   "(%s)",
		   err);
		boot_put32(h + 28, 0x200040);
		write_file(kpath, elf, len);
		ok(load(&gm, BOOT_FMT_AUTO, NULL, NULL, &st) == 0 &&
			   st.format == BOOT_FMT_MULTIBOOT &&
			   st.rip == 0x200040,
		   "ELF64 whose entry_addr is e_entry boots as multiboot (%s)",
		   err);
	}

	/* ELF32 without any header. */
	len = mk_elf(0, s, 1, 0x100010, 0, 0, 0);
	write_file(kpath, elf, len);
	fails(&gm, BOOT_FMT_AUTO, NULL, NULL, ENOEXEC,
	      "32-bit ELF without a PVH note or a multiboot header",
	      "bare ELF32");
	fails(&gm, BOOT_FMT_ELF, NULL, NULL, ENOEXEC,
	      "a 32-bit ELF has no 64-bit entry", "ELF32 forced as elf");

	/* The a.out kludge: a flat binary placed by the header's fields. */
	memset(raw, 0, sizeof(raw));
	for (size_t i = 0; i < sizeof(raw); i++)
		raw[i] = (uint8_t)(i % 251 + 1);
	{
		uint8_t *h = raw + 0x40;
		uint32_t flags = 1u << 16 | 1u << 1 | 1u << 0;

		boot_put32(h, 0x1BADB002);
		boot_put32(h + 4, flags);
		boot_put32(h + 8, (uint32_t) - (0x1BADB002 + flags));
		boot_put32(h + 12, 0x100040); /* header_addr */
		boot_put32(h + 16, 0x100000); /* load_addr */
		boot_put32(h + 20, 0);	      /* load_end: whole file */
		boot_put32(h + 24, 0x110000); /* bss_end */
		boot_put32(h + 28, 0x100080); /* entry */
	}
	write_file(kpath, raw, sizeof(raw));
	memset(at(&gm, 0x100000 + sizeof(raw)), 0xAA, 0x100);
	is_int(load(&gm, BOOT_FMT_AUTO, NULL, "aout", &st), 0,
	       "multiboot a.out kludge loads (%s)", err);
	ok(st.format == BOOT_FMT_MULTIBOOT && st.rip == 0x100080 &&
		   st.rax == 0x2BADB002,
	   "a.out kludge: entry_addr");
	ok(memcmp(at(&gm, 0x100000), raw, sizeof(raw)) == 0,
	   "a.out kludge: image at load_addr");
	ok(*at(&gm, 0x100000 + sizeof(raw)) == 0 && *at(&gm, 0x10FFFF) == 0,
	   "a.out kludge: bss zeroed to bss_end_addr");
	ok(st.kernel_start == 0x100000 && st.kernel_end == 0x110000,
	   "a.out kludge: kernel range");
	check_mb_info(&gm, &st, "aout", "a.out kludge");

	/* load_end_addr inside the file. */
	boot_put32(raw + 0x40 + 20, 0x101000);
	boot_put32(raw + 0x40 + 24, 0);
	write_file(kpath, raw, sizeof(raw));
	ok(load(&gm, BOOT_FMT_AUTO, NULL, NULL, &st) == 0 &&
		   st.kernel_end == 0x101000,
	   "a.out kludge: load_end_addr bounds the image (%s)", err);

	/* Errors of the kludge. */
	boot_put32(raw + 0x40 + 20, 0x104000);
	write_file(kpath, raw, sizeof(raw));
	fails(&gm, BOOT_FMT_AUTO, NULL, NULL, ENOEXEC,
	      "truncated: multiboot image needs file bytes",
	      "load_end_addr past the file");
	boot_put32(raw + 0x40 + 20, 0);
	boot_put32(raw + 0x40 + 12, 0x0FFFFF);
	write_file(kpath, raw, sizeof(raw));
	fails(&gm, BOOT_FMT_AUTO, NULL, NULL, ENOEXEC,
	      "do not match the header's file offset",
	      "header_addr below load_addr");
	boot_put32(raw + 0x40 + 12, 0x100040);
	boot_put32(raw + 0x40 + 28, 0x200000);
	write_file(kpath, raw, sizeof(raw));
	fails(&gm, BOOT_FMT_AUTO, NULL, NULL, ENOEXEC,
	      "entry point 0x200000 is outside the loaded image",
	      "entry outside the image");
	boot_put32(raw + 0x40 + 28, 0x100080);
	boot_put32(raw + 0x40 + 12, 0x10040);
	boot_put32(raw + 0x40 + 16, 0x10000);
	boot_put32(raw + 0x40 + 28, 0x10080);
	write_file(kpath, raw, sizeof(raw));
	fails(&gm, BOOT_FMT_AUTO, NULL, NULL, ENOEXEC,
	      "overlaps the boot tables below 1 MiB", "image below 1 MiB");
	boot_put32(raw + 0x40 + 12, 0x20000040);
	boot_put32(raw + 0x40 + 16, 0x20000000);
	boot_put32(raw + 0x40 + 28, 0x20000080);
	write_file(kpath, raw, sizeof(raw));
	fails(&gm, BOOT_FMT_AUTO, NULL, NULL, EFBIG,
	      "segment 0 [0x20000000, 0x20003000) is outside guest RAM (256 "
	      "MiB)",
	      "image beyond RAM");
	{
		uint32_t flags = 1u << 16 | 1u << 3;

		boot_put32(raw + 0x40 + 4, flags);
		boot_put32(raw + 0x40 + 8, (uint32_t) - (0x1BADB002 + flags));
	}
	write_file(kpath, raw, sizeof(raw));
	fails(&gm, BOOT_FMT_AUTO, NULL, NULL, ENOEXEC,
	      "multiboot header requires features avm-run lacks",
	      "unknown required flag");
	{
		uint32_t flags = 1u << 1;

		boot_put32(raw + 0x40 + 4, flags);
		boot_put32(raw + 0x40 + 8, (uint32_t) - (0x1BADB002 + flags));
	}
	write_file(kpath, raw, sizeof(raw));
	fails(&gm, BOOT_FMT_AUTO, NULL, NULL, ENOEXEC,
	      "multiboot header has no address fields (flag 16) and the "
	      "image is not ELF",
	      "non-ELF multiboot without address fields");
	boot_put32(raw + 0x40 + 8, 0);
	write_file(kpath, raw, sizeof(raw));
	fails(&gm, BOOT_FMT_AUTO, NULL, NULL, ENOEXEC,
	      "not a kernel image (no bzImage header, no ELF, no multiboot "
	      "header)",
	      "multiboot header with a bad checksum");
	/* A header whose address fields would run past the first 8 KiB. */
	{
		static uint8_t edge[8192];
		uint32_t flags = 1u << 16;

		memset(edge, 0, sizeof(edge));
		boot_put32(edge + 8180, 0x1BADB002);
		boot_put32(edge + 8184, flags);
		boot_put32(edge + 8188, (uint32_t) - (0x1BADB002 + flags));
		write_file(kpath, edge, sizeof(edge));
		fails(&gm, BOOT_FMT_AUTO, NULL, NULL, ENOEXEC,
		      "truncated multiboot header",
		      "header at the end of the search area");
	}
	mem_free(&gm);
}

/* Malformed ELF images. */
static void
test_bad_elf(void)
{
	struct guest_mem gm = mem_new(256 * MIB);
	struct seg s[2] = { { 0, 0x200000, 0, 0x100, 0x1000, 0 },
			    { 0, 0x300000, 0, 0x100, 0x1000, 0 } };
	struct entry_state st;
	size_t len;
	char msg[400];

	s[1].paddr = 0x20000000;
	len = mk_elf(1, s, 2, 0x200000, 0, 0, 0);
	write_file(kpath, elf, len);
	fails(&gm, BOOT_FMT_AUTO, NULL, NULL, EFBIG,
	      "segment 1 [0x20000000, 0x20001000) is outside guest RAM "
	      "(256 MiB)",
	      "segment beyond RAM");
	s[1].paddr = 0xFEE00000;
	len = mk_elf(1, s, 2, 0x200000, 0, 0, 0);
	write_file(kpath, elf, len);
	fails(&gm, BOOT_FMT_AUTO, NULL, NULL, EFBIG, "is outside guest RAM",
	      "segment in the MMIO hole");
	s[1].paddr = 0x9000;
	len = mk_elf(1, s, 2, 0x200000, 0, 0, 0);
	write_file(kpath, elf, len);
	fails(&gm, BOOT_FMT_AUTO, NULL, NULL, ENOEXEC,
	      "segment 1 [0x9000, 0xa000) overlaps the boot tables below "
	      "1 MiB",
	      "segment over the boot tables");
	s[1].paddr = 0x200800;
	len = mk_elf(1, s, 2, 0x200000, 0, 0, 0);
	write_file(kpath, elf, len);
	fails(&gm, BOOT_FMT_AUTO, NULL, NULL, ENOEXEC,
	      "segments 0 and 1 overlap", "overlapping segments");
	s[1].paddr = 0x300000;
	s[1].filesz = 0xFFFFFFFFFFFF0000ULL;
	s[1].memsz = 0xFFFFFFFFFFFF0000ULL;
	len = mk_elf(1, s, 2, 0x200000, 0, 0, 0);
	write_file(kpath, elf, len);
	fails(&gm, BOOT_FMT_AUTO, NULL, NULL, ENOEXEC,
	      "truncated: segment 1 needs file bytes", "huge p_filesz");
	s[1].filesz = 0x100;
	s[1].memsz = 0xFFFFFFFFFFFFFFF0ULL;
	len = mk_elf(1, s, 2, 0x200000, 0, 0, 0);
	write_file(kpath, elf, len);
	fails(&gm, BOOT_FMT_AUTO, NULL, NULL, ENOEXEC,
	      "wraps around the address space", "p_memsz wrapping");
	s[1].filesz = 0x2000;
	s[1].memsz = 0x1000;
	len = mk_elf(1, s, 2, 0x200000, 0, 0, 0);
	write_file(kpath, elf, len);
	fails(&gm, BOOT_FMT_AUTO, NULL, NULL, ENOEXEC,
	      "segment 1: p_filesz 0x2000 exceeds p_memsz 0x1000",
	      "p_filesz > p_memsz");
	s[1].filesz = 0x100;
	len = mk_elf(1, s, 2, 0x200000, 0, 0, 0);
	write_file(kpath, elf, 0x1800);
	fails(&gm, BOOT_FMT_AUTO, NULL, NULL, ENOEXEC,
	      "truncated: segment 1 needs file bytes [0x2000, 0x2100), the "
	      "file has 6144",
	      "truncated file");
	write_file(kpath, elf, 100);
	fails(&gm, BOOT_FMT_AUTO, NULL, NULL, ENOEXEC,
	      "truncated: the ELF program headers at offset 64 needs 112 "
	      "bytes",
	      "truncated program headers");
	len = mk_elf(1, s, 2, 0x500000, 0, 0, 0);
	write_file(kpath, elf, len);
	fails(&gm, BOOT_FMT_AUTO, NULL, NULL, ENOEXEC,
	      "entry point 0x500000 is outside the loaded segments",
	      "entry outside the segments");
	len = mk_elf(1, s, 2, 0x200000, 0, 0, 0);
	boot_put16(elf + 56, 0);
	write_file(kpath, elf, len);
	fails(&gm, BOOT_FMT_AUTO, NULL, NULL, ENOEXEC,
	      "ELF has 0 program headers", "no program headers");
	boot_put16(elf + 56, 65);
	write_file(kpath, elf, len);
	fails(&gm, BOOT_FMT_AUTO, NULL, NULL, ENOEXEC,
	      "ELF has 65 program headers (1 to 64 supported)",
	      "too many program headers");
	len = mk_elf(1, s, 2, 0x200000, 0, 0, 0);
	boot_put16(elf + 18, 183);
	write_file(kpath, elf, len);
	fails(&gm, BOOT_FMT_AUTO, NULL, NULL, ENOEXEC,
	      "ELF machine 183 is not x86-64", "aarch64 ELF");
	len = mk_elf(1, s, 2, 0x200000, 0, 0, 0);
	elf[5] = 2;
	write_file(kpath, elf, len);
	fails(&gm, BOOT_FMT_AUTO, NULL, NULL, ENOEXEC,
	      "ELF is not little-endian", "big-endian ELF");
	len = mk_elf(1, s, 2, 0x200000, 0, 0, 0);
	boot_put16(elf + 16, 3);
	write_file(kpath, elf, len);
	fails(&gm, BOOT_FMT_AUTO, NULL, NULL, ENOEXEC,
	      "ELF type 3 is not an executable", "shared object");
	len = mk_elf(1, s, 2, 0x200000, 0, 0, 0);
	boot_put32(elf + 64, 6); /* the only loadable ones become PT_PHDR */
	boot_put32(elf + 64 + 56, 6);
	write_file(kpath, elf, len);
	fails(&gm, BOOT_FMT_AUTO, NULL, NULL, ENOEXEC,
	      "ELF has no loadable segment", "no PT_LOAD");

	/* Command line over BOOT_CMDLINE_MAX for a non-Linux kernel. */
	{
		char *big = malloc(BOOT_CMDLINE_MAX + 2);

		memset(big, 'x', BOOT_CMDLINE_MAX + 1);
		big[BOOT_CMDLINE_MAX + 1] = '\0';
		len = mk_elf(1, s, 2, 0x200000, 0, 0, 0);
		write_file(kpath, elf, len);
		snprintf(msg, sizeof(msg),
			 "command line is %d bytes, the kernel takes at most "
			 "%d",
			 BOOT_CMDLINE_MAX + 1, BOOT_CMDLINE_MAX);
		fails(&gm, BOOT_FMT_AUTO, NULL, big, E2BIG, msg,
		      "command line over 64 KiB");
		big[BOOT_CMDLINE_MAX] = '\0';
		ok(load(&gm, BOOT_FMT_AUTO, NULL, big, &st) == 0,
		   "command line of BOOT_CMDLINE_MAX bytes fits (%s)", err);
		free(big);
	}

	/* Not a kernel at all, or no file. */
	write_file(kpath, "hello, world\n", 13);
	snprintf(msg, sizeof(msg),
		 "'%s': not a kernel image (no bzImage header, no ELF, no "
		 "multiboot header)",
		 kpath);
	fails(&gm, BOOT_FMT_AUTO, NULL, NULL, ENOEXEC, msg, "text file");
	is_str(err, msg, "exact message");
	write_file(kpath, "", 0);
	fails(&gm, BOOT_FMT_AUTO, NULL, NULL, ENOEXEC, "not a kernel image",
	      "empty file");
	unlink(kpath);
	fails(&gm, BOOT_FMT_AUTO, NULL, NULL, ENOENT,
	      "No such file or directory", "missing kernel");
	len = mk_elf(1, s, 2, 0x200000, 0, 0, 0);
	write_file(kpath, elf, len);
	unlink(ipath);
	fails(&gm, BOOT_FMT_AUTO, ipath, NULL, ENOENT,
	      "No such file or directory", "missing initrd");
	fails(&gm, BOOT_FMT_AUTO, tmpdir, NULL, EINVAL, "not a regular file",
	      "initrd is a directory");
	{
		struct boot_params_in in = { .kernel = kpath,
					     .acpi = { .vcpus = 0 } };

		ok(boot_load(&gm, &in, &st, err, sizeof(err)) == -1 &&
			   errno == EINVAL && strstr(err, "ACPI tables: "),
		   "bad ACPI description: %s", err);
		in.flags = BOOT_F_NO_ACPI;
		ok(boot_load(&gm, &in, &st, err, sizeof(err)) == 0 &&
			   st.rsdp_addr == 0 && acpi_find_rsdp(&gm) == 0,
		   "BOOT_F_NO_ACPI: no tables (%s)", err);
	}
	mem_free(&gm);

	gm = mem_new(MIB);
	fails(&gm, BOOT_FMT_AUTO, NULL, NULL, EFBIG,
	      "kernel does not fit in 1 MiB of guest memory", "1 MiB guest");
	mem_free(&gm);
}

/* --- Debian's kernel (make guest-linux) ---------------------------------- */

static void
test_debian(void)
{
	struct guest_mem gm;
	struct entry_state st;
	struct boot_params_in in = { .acpi = { .vcpus = 4, .ioapic_id = 4 },
				     .cmdline = "console=ttyS0" };
	const char *bzimage = "assets/linux/bzImage";
	const char *vmlinux = "assets/linux/vmlinux";
	const char *initrd = "assets/linux/initrd.img";

	if (access(bzimage, R_OK) != 0) {
		ok(1, "# SKIP no %s (make guest-linux)", bzimage);
	} else {
		gm = mem_new(512 * MIB);
		in.kernel = bzimage;
		in.initrd = access(initrd, R_OK) == 0 ? initrd : NULL;
		ok(boot_load(&gm, &in, &st, err, sizeof(err)) == 0 &&
			   st.format == BOOT_FMT_LINUX,
		   "Debian bzImage loads (%s)", err);
		ok(st.rip == 0x100200 && st.mode == BOOT_MODE_LONG64,
		   "Debian bzImage: 64-bit entry at 0x100200");
		ok(boot_le16(at(&gm, BOOT_INFO_ADDR + 0x206)) >= 0x20F,
		   "Debian bzImage: protocol 0x%x",
		   boot_le16(at(&gm, BOOT_INFO_ADDR + 0x206)));
		ok(rd64(&gm, BOOT_INFO_ADDR + 0x70) == 0xE0000,
		   "Debian bzImage: acpi_rsdp_addr set");
		if (in.initrd)
			ok(st.initrd_size > 0 && memcmp(at(&gm, st.initrd_addr),
							"\x1f\x8b", 2) == 0,
			   "Debian initrd.img loaded (gzip)");
		mem_free(&gm);
	}
	if (access(vmlinux, R_OK) != 0) {
		ok(1, "# SKIP no %s (make guest-linux)", vmlinux);
	} else {
		gm = mem_new(512 * MIB);
		in.kernel = vmlinux;
		in.initrd = NULL;
		ok(boot_load(&gm, &in, &st, err, sizeof(err)) == 0 &&
			   st.format == BOOT_FMT_PVH,
		   "Debian vmlinux loads as PVH (%s)", err);
		ok(st.mode == BOOT_MODE_PROT32 && st.rip >= 0x1000000 &&
			   st.rip < st.kernel_end,
		   "Debian vmlinux: PVH entry 0x%llx in the kernel",
		   (unsigned long long)st.rip);
		mem_free(&gm);
	}
}

/* The tiny guests of tests/e2e/data/boot (make boot-images). */
static void
test_images(void)
{
	static const struct {
		const char *file;
		enum boot_format fmt;
		enum boot_cpu_mode mode;
	} img[] = {
		{ "mb-aout.bin", BOOT_FMT_MULTIBOOT, BOOT_MODE_PROT32 },
		{ "mb-elf32.elf", BOOT_FMT_MULTIBOOT, BOOT_MODE_PROT32 },
		{ "pvh.elf", BOOT_FMT_PVH, BOOT_MODE_PROT32 },
		{ "elf64.elf", BOOT_FMT_ELF, BOOT_MODE_LONG64 },
	};
	struct guest_mem gm = mem_new(64 * MIB);
	struct entry_state st;
	char path[128];
	int rc;

	for (size_t i = 0; i < sizeof(img) / sizeof(img[0]); i++) {
		struct boot_params_in in = { .kernel = path,
					     .acpi = { .vcpus = 1 } };

		snprintf(path, sizeof(path), "build/tests/e2e/boot/%s",
			 img[i].file);
		if (access(path, R_OK) != 0) {
			ok(1, "# SKIP no %s (make boot-images)", path);
			continue;
		}
		rc = boot_load(&gm, &in, &st, err, sizeof(err));
		ok(rc == 0 && st.format == img[i].fmt &&
			   st.mode == img[i].mode && st.rip >= 0x100000 &&
			   st.rip < st.kernel_end,
		   "%s: %s entry at 0x%llx (%s)", img[i].file,
		   boot_format_name(st.format), (unsigned long long)st.rip,
		   err);
	}
	mem_free(&gm);
}

int
main(void)
{
	if (!mkdtemp(tmpdir)) {
		printf("Bail out! mkdtemp failed\n");
		return 1;
	}
	snprintf(kpath, sizeof(kpath), "%s/kernel", tmpdir);
	snprintf(ipath, sizeof(ipath), "%s/initrd.img", tmpdir);

	test_layout();
	test_bzimage();
	test_pvh();
	test_elf64();
	test_multiboot();
	test_bad_elf();
	test_debian();
	test_images();

	unlink(kpath);
	unlink(ipath);
	rmdir(tmpdir);
	return done_testing();
}
