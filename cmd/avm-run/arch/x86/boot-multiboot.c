/*
 * Multiboot v1 (the GNU Multiboot Specification 0.6.96), for small test
 * kernels: the header in the first 8 KiB of the image, loading by the
 * header's address fields (flag 16, the "a.out kludge") or by the ELF
 * program headers (ELF32 or ELF64), entry in 32-bit protected mode with
 * paging off, EAX = 0x2BADB002 and EBX = the multiboot information
 * structure.  The same information structure is what a plain ELF64 image
 * gets in RSI (boot-elf.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "boot.h"

#define MB_HEADER_MAGIC 0x1BADB002
#define MB_SEARCH 8192

/* Header flags: bits 0-15 are requirements, 16-31 optional features. */
#define MB_PAGE_ALIGN (1u << 0)
#define MB_MEMORY_INFO (1u << 1)
#define MB_VIDEO_MODE (1u << 2)
#define MB_AOUT_KLUDGE (1u << 16)
/* We honour 0 and 1; 2 (a video mode) is a wish we cannot grant but the
 * kernel must cope without (no framebuffer info is passed). */
#define MB_KNOWN_REQS (MB_PAGE_ALIGN | MB_MEMORY_INFO | MB_VIDEO_MODE)

/* The header: magic, flags, checksum, then with flag 16 header_addr,
 * load_addr, load_end_addr, bss_end_addr, entry_addr. */
#define MBH_FLAGS 4
#define MBH_HEADER_ADDR 12
#define MBH_LOAD_ADDR 16
#define MBH_LOAD_END_ADDR 20
#define MBH_BSS_END_ADDR 24
#define MBH_ENTRY_ADDR 28

/*
 * The information structure (written by avm-run at BOOT_INFO_ADDR, read by
 * the kernel at entry; 32-bit little-endian fields).
 */
#define MBI_FLAGS 0
#define MBI_MEM_LOWER 4
#define MBI_MEM_UPPER 8
#define MBI_CMDLINE 16
#define MBI_MODS_COUNT 20
#define MBI_MODS_ADDR 24
#define MBI_MMAP_LENGTH 44
#define MBI_MMAP_ADDR 48
#define MBI_BOOT_LOADER_NAME 64
#define MBI_F_MEM (1u << 0)
#define MBI_F_CMDLINE (1u << 2)
#define MBI_F_MODS (1u << 3)
#define MBI_F_MMAP (1u << 6)
#define MBI_F_LOADER_NAME (1u << 9)

/* Where in the info page the module list and strings go. */
#define MBI_MODS_OFF 0x100 /* one module: start, end, string, reserved */
#define MBI_MODSTR_OFF 0x200
#define MBI_MODSTR_MAX 0x3FF
#define MBI_NAME_OFF 0x600
#define MB_LOADER_NAME "avm-run"

#define MMAP_ENTRY_SIZE 24 /* size (u32, = 20), addr, len, type */

int64_t
boot_mb_find(const struct boot_ctx *c)
{
	uint64_t end = c->headlen < MB_SEARCH ? c->headlen : MB_SEARCH;

	for (uint64_t off = 0; off + 12 <= end; off += 4) {
		const uint8_t *p = c->head + off;
		uint32_t flags;

		if (boot_le32(p) != MB_HEADER_MAGIC)
			continue;
		flags = boot_le32(p + MBH_FLAGS);
		if ((uint32_t)(MB_HEADER_MAGIC + flags + boot_le32(p + 8)) != 0)
			continue;
		return (int64_t)off;
	}
	return -1;
}

int
boot_mb_owns_elf(const struct boot_ctx *c, int64_t hoff,
		 const struct boot_elf *e)
{
	uint64_t off = (uint64_t)hoff, entry;

	if (!(boot_le32(c->head + off + MBH_FLAGS) & MB_AOUT_KLUDGE))
		return 1;
	/* A truncated header: let the multiboot loader say so. */
	if (off + 32 > c->headlen)
		return 1;
	if (boot_elf_entry_phys(e, &entry) < 0)
		entry = e->entry;
	return boot_le32(c->head + off + MBH_ENTRY_ADDR) == entry;
}

int
boot_mb_info(struct boot_ctx *c)
{
	struct entry_state *st = c->st;
	struct e820_entry map[BOOT_E820_MAX];
	uint8_t *mi, *mm;
	int n;

	n = boot_e820(c->gm, map, BOOT_E820_MAX);
	mi = gpa_ptr(c->gm, BOOT_INFO_ADDR, 4096);
	mm = gpa_ptr(c->gm, BOOT_MMAP_ADDR, 4096);
	if (n < 0 || !mi || !mm)
		return boot_fail(c, ENOMEM, "guest memory is too small");
	memset(mi, 0, 4096);
	memset(mm, 0, 4096);
	boot_put32(mi + MBI_FLAGS, MBI_F_MEM | MBI_F_CMDLINE | MBI_F_MODS |
					   MBI_F_MMAP | MBI_F_LOADER_NAME);
	/* KiB of RAM below 640 KiB, and from 1 MiB to the first hole. */
	boot_put32(mi + MBI_MEM_LOWER, (uint32_t)(BOOT_EBDA_START / 1024));
	boot_put32(mi + MBI_MEM_UPPER,
		   (uint32_t)((c->low_end - BOOT_LOW_END) / 1024));
	boot_put32(mi + MBI_CMDLINE, (uint32_t)BOOT_CMDLINE_ADDR);
	if (st->initrd_size) {
		const char *name = strrchr(c->in->initrd, '/');
		size_t len;

		name = name ? name + 1 : c->in->initrd;
		len = strlen(name);
		if (len > MBI_MODSTR_MAX)
			len = MBI_MODSTR_MAX;
		memcpy(mi + MBI_MODSTR_OFF, name, len);
		boot_put32(mi + MBI_MODS_COUNT, 1);
		boot_put32(mi + MBI_MODS_ADDR,
			   (uint32_t)(BOOT_INFO_ADDR + MBI_MODS_OFF));
		boot_put32(mi + MBI_MODS_OFF, (uint32_t)st->initrd_addr);
		boot_put32(mi + MBI_MODS_OFF + 4,
			   (uint32_t)(st->initrd_addr + st->initrd_size));
		boot_put32(mi + MBI_MODS_OFF + 8,
			   (uint32_t)(BOOT_INFO_ADDR + MBI_MODSTR_OFF));
	}
	for (int i = 0; i < n; i++) {
		uint8_t *m = mm + i * MMAP_ENTRY_SIZE;

		boot_put32(m, MMAP_ENTRY_SIZE - 4);
		boot_put64(m + 4, map[i].addr);
		boot_put64(m + 12, map[i].size);
		boot_put32(m + 20, map[i].type);
	}
	boot_put32(mi + MBI_MMAP_LENGTH, (uint32_t)(n * MMAP_ENTRY_SIZE));
	boot_put32(mi + MBI_MMAP_ADDR, (uint32_t)BOOT_MMAP_ADDR);
	memcpy(mi + MBI_NAME_OFF, MB_LOADER_NAME, sizeof(MB_LOADER_NAME));
	boot_put32(mi + MBI_BOOT_LOADER_NAME,
		   (uint32_t)(BOOT_INFO_ADDR + MBI_NAME_OFF));
	st->info_addr = BOOT_INFO_ADDR;
	return 0;
}

/* The a.out kludge: the header's own fields say where the image goes. */
static int
aout_kludge(struct boot_ctx *c, uint64_t hoff, uint64_t *entry)
{
	const char *path = c->in->kernel;
	const uint8_t *h = c->head + hoff;
	uint64_t header_addr, load_addr, load_end, bss_end;
	struct boot_seg_load s;

	if (hoff + 32 > c->headlen)
		return boot_fail(c, ENOEXEC, "'%s': truncated multiboot header",
				 path);
	header_addr = boot_le32(h + MBH_HEADER_ADDR);
	load_addr = boot_le32(h + MBH_LOAD_ADDR);
	load_end = boot_le32(h + MBH_LOAD_END_ADDR);
	bss_end = boot_le32(h + MBH_BSS_END_ADDR);
	*entry = boot_le32(h + MBH_ENTRY_ADDR);
	if (load_addr > header_addr || header_addr - load_addr > hoff)
		return boot_fail(c, ENOEXEC,
				 "'%s': multiboot header_addr 0x%llx and "
				 "load_addr 0x%llx do not match the header's "
				 "file offset 0x%llx",
				 path, (unsigned long long)header_addr,
				 (unsigned long long)load_addr,
				 (unsigned long long)hoff);
	s.off = hoff - (header_addr - load_addr);
	s.paddr = s.vaddr = load_addr;
	if (load_end == 0) {
		s.filesz = c->fsize - s.off;
	} else {
		if (load_end < load_addr)
			return boot_fail(c, ENOEXEC,
					 "'%s': multiboot load_end_addr 0x%llx "
					 "is below load_addr 0x%llx",
					 path, (unsigned long long)load_end,
					 (unsigned long long)load_addr);
		s.filesz = load_end - load_addr;
		if (s.filesz > c->fsize - s.off)
			return boot_fail(c, ENOEXEC,
					 "'%s': truncated: multiboot image "
					 "needs file bytes [0x%llx, 0x%llx), "
					 "the file has %llu",
					 path, (unsigned long long)s.off,
					 (unsigned long long)(s.off + s.filesz),
					 (unsigned long long)c->fsize);
	}
	s.memsz = s.filesz;
	if (bss_end) {
		if (bss_end < load_addr + s.filesz)
			return boot_fail(
				c, ENOEXEC,
				"'%s': multiboot bss_end_addr 0x%llx "
				"is below the loaded image's end "
				"0x%llx",
				path, (unsigned long long)bss_end,
				(unsigned long long)(load_addr + s.filesz));
		s.memsz = bss_end - load_addr;
	}
	if (s.memsz == 0)
		return boot_fail(c, ENOEXEC, "'%s': empty multiboot image",
				 path);
	if (*entry < load_addr || *entry - load_addr >= s.memsz)
		return boot_fail(c, ENOEXEC,
				 "'%s': entry point 0x%llx is outside the "
				 "loaded image [0x%llx, 0x%llx)",
				 path, (unsigned long long)*entry,
				 (unsigned long long)load_addr,
				 (unsigned long long)(load_addr + s.memsz));
	if (boot_load_seg(c, &s, 0) < 0)
		return -1;
	c->st->kernel_start = load_addr;
	c->st->kernel_end = load_addr + s.memsz;
	return 0;
}

int
boot_multiboot(struct boot_ctx *c)
{
	struct entry_state *st = c->st;
	const char *path = c->in->kernel;
	uint64_t entry;
	uint32_t flags;
	int64_t hoff;

	hoff = boot_mb_find(c);
	if (hoff < 0)
		return boot_fail(c, ENOEXEC,
				 "'%s': no multiboot header in the first 8 KiB",
				 path);
	flags = boot_le32(c->head + hoff + MBH_FLAGS);
	if (flags & 0xFFFF & ~MB_KNOWN_REQS)
		return boot_fail(c, ENOEXEC,
				 "'%s': multiboot header requires features "
				 "avm-run lacks (flags 0x%08x)",
				 path, flags);
	if (flags & MB_AOUT_KLUDGE) {
		if (aout_kludge(c, (uint64_t)hoff, &entry) < 0)
			return -1;
	} else if (c->headlen >= 4 && memcmp(c->head, "\177ELF", 4) == 0) {
		struct boot_elf *e = calloc(1, sizeof(*e));
		int rc;

		if (!e)
			return boot_fail(c, ENOMEM, "out of memory");
		rc = boot_elf_parse(c, e);
		if (rc == 0)
			rc = boot_elf_load(c, e);
		if (rc == 0)
			rc = boot_elf_entry(c, e, &entry);
		free(e);
		if (rc < 0)
			return -1;
	} else {
		return boot_fail(c, ENOEXEC,
				 "'%s': multiboot header has no address fields "
				 "(flag 16) and the image is not ELF",
				 path);
	}
	if (entry >= BOOT_MMIO_HOLE_END)
		return boot_fail(c, ENOEXEC,
				 "'%s': entry point 0x%llx is not a 32-bit "
				 "address",
				 path, (unsigned long long)entry);
	if (st->kernel_end > BOOT_MMIO_HOLE_START)
		return boot_fail(c, ENOEXEC,
				 "'%s': a multiboot image must lie below "
				 "3 GiB",
				 path);
	if (boot_put_cmdline(c, BOOT_CMDLINE_MAX) < 0 ||
	    boot_put_initrd(c, st->kernel_end, c->low_end) < 0 ||
	    boot_mb_info(c) < 0)
		return -1;
	if (boot_setup_cpu(c->gm, BOOT_MODE_PROT32, st) < 0)
		return boot_fail(c, errno, "guest memory is too small");
	st->rip = entry;
	st->rax = BOOT_MULTIBOOT_MAGIC;
	st->rbx = BOOT_INFO_ADDR;
	return 0;
}
