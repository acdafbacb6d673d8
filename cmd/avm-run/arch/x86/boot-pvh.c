/*
 * PVH boot: an ELF kernel (Linux's vmlinux with CONFIG_PVH, and others)
 * that names a 32-bit physical entry point in a "Xen" ELF note of type
 * XEN_ELFNOTE_PHYS32_ENTRY.  The vCPU starts there in 32-bit protected
 * mode, paging off, with EBX = the physical address of struct
 * hvm_start_info (Xen's public arch-x86/hvm/start_info.h, version 1:
 * command line, initrd as module 0, RSDP, memory map).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "boot.h"

#define HVM_START_MAGIC 0x336EC578
#define HVM_START_VERSION 1

/*
 * struct hvm_start_info, version 1 (little-endian, written by avm-run
 * into guest memory at BOOT_INFO_ADDR, read by the kernel at its entry).
 */
#define SI_MAGIC 0
#define SI_VERSION 4
#define SI_FLAGS 8
#define SI_NR_MODULES 12
#define SI_MODLIST_PADDR 16
#define SI_CMDLINE_PADDR 24
#define SI_RSDP_PADDR 32
#define SI_MEMMAP_PADDR 40
#define SI_MEMMAP_ENTRIES 48
#define SI_SIZE 56

/* struct hvm_modlist_entry: paddr, size, cmdline_paddr, reserved. */
#define MOD_SIZE 32
#define SI_MODLIST_OFF 64 /* the module list follows start_info */

/* struct hvm_memmap_table_entry: addr, size, type (u32), reserved. */
#define MEMMAP_ENTRY_SIZE 24

int
boot_pvh(struct boot_ctx *c)
{
	struct entry_state *st = c->st;
	struct e820_entry map[BOOT_E820_MAX];
	uint8_t *si, *mm;
	struct boot_elf *e;
	int n, rc = -1, in_seg = 0;

	e = calloc(1, sizeof(*e));
	if (!e)
		return boot_fail(c, ENOMEM, "out of memory");
	if (boot_elf_parse(c, e) < 0)
		goto out;
	if (!e->has_pvh) {
		boot_fail(c, ENOEXEC,
			  "'%s': ELF has no PVH entry note "
			  "(XEN_ELFNOTE_PHYS32_ENTRY)",
			  c->in->kernel);
		goto out;
	}
	for (int i = 0; i < e->nload; i++)
		if (e->pvh_entry >= e->load[i].paddr &&
		    e->pvh_entry - e->load[i].paddr < e->load[i].memsz)
			in_seg = 1;
	if (!in_seg) {
		boot_fail(c, ENOEXEC,
			  "'%s': PVH entry 0x%llx is outside the loaded "
			  "segments",
			  c->in->kernel, (unsigned long long)e->pvh_entry);
		goto out;
	}
	if (boot_elf_load(c, e) < 0 ||
	    boot_put_cmdline(c, BOOT_CMDLINE_MAX) < 0 ||
	    boot_put_initrd(c, st->kernel_end, c->low_end) < 0)
		goto out;

	n = boot_e820(c->gm, map, BOOT_E820_MAX);
	si = gpa_ptr(c->gm, BOOT_INFO_ADDR, 4096);
	mm = gpa_ptr(c->gm, BOOT_MMAP_ADDR, 4096);
	if (n < 0 || !si || !mm) {
		boot_fail(c, ENOMEM, "guest memory is too small");
		goto out;
	}
	memset(si, 0, 4096);
	memset(mm, 0, 4096);
	boot_put32(si + SI_MAGIC, HVM_START_MAGIC);
	boot_put32(si + SI_VERSION, HVM_START_VERSION);
	boot_put64(si + SI_CMDLINE_PADDR, BOOT_CMDLINE_ADDR);
	boot_put64(si + SI_RSDP_PADDR, st->rsdp_addr);
	if (st->initrd_size) {
		uint8_t *m = si + SI_MODLIST_OFF;

		boot_put32(si + SI_NR_MODULES, 1);
		boot_put64(si + SI_MODLIST_PADDR,
			   BOOT_INFO_ADDR + SI_MODLIST_OFF);
		boot_put64(m, st->initrd_addr);
		boot_put64(m + 8, st->initrd_size);
	}
	for (int i = 0; i < n; i++) {
		uint8_t *m = mm + i * MEMMAP_ENTRY_SIZE;

		boot_put64(m, map[i].addr);
		boot_put64(m + 8, map[i].size);
		boot_put32(m + 16, map[i].type);
	}
	boot_put64(si + SI_MEMMAP_PADDR, BOOT_MMAP_ADDR);
	boot_put32(si + SI_MEMMAP_ENTRIES, (uint32_t)n);

	if (boot_setup_cpu(c->gm, BOOT_MODE_PROT32, st) < 0) {
		boot_fail(c, errno, "guest memory is too small");
		goto out;
	}
	st->rip = e->pvh_entry;
	st->rbx = BOOT_INFO_ADDR;
	st->info_addr = BOOT_INFO_ADDR;
	rc = 0;
out:
	free(e);
	return rc;
}
