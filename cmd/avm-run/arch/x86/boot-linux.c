/*
 * Linux bzImage through the 64-bit boot protocol (Documentation/arch/x86/
 * boot.rst, zero-page.rst): the real-mode setup is never run; avm-run
 * builds the zero page (struct boot_params) itself, loads the
 * protected-mode kernel at 1 MiB and enters it at +0x200 in long mode
 * with RSI = zero page, CS = __BOOT_CS (0x10), DS/ES/SS = __BOOT_DS
 * (0x18), and the low 4 GiB mapped 1:1.
 *
 * Needs boot protocol 2.12 or later with XLF_KERNEL_64 (every x86-64
 * kernel since 3.8).  The kernel relocates itself to its pref_address
 * (LOAD_PHYSICAL_ADDR, 16 MiB for distribution kernels) and needs
 * init_size bytes there; the initrd goes above that, at the top of RAM
 * below initrd_addr_max.
 */
#include <errno.h>
#include <string.h>

#include "boot.h"

/* The setup header: offsets in the file's first sectors and, the same,
 * in the zero page (struct setup_header at 0x1F1). */
#define HDR_START 0x1F1
#define HDR_SETUP_SECTS 0x1F1
#define HDR_BOOT_FLAG 0x1FE
#define HDR_JUMP 0x200
#define HDR_HEADER 0x202
#define HDR_VERSION 0x206
#define HDR_TYPE_OF_LOADER 0x210
#define HDR_LOADFLAGS 0x211
#define HDR_CODE32_START 0x214
#define HDR_RAMDISK_IMAGE 0x218
#define HDR_RAMDISK_SIZE 0x21C
#define HDR_CMD_LINE_PTR 0x228
#define HDR_INITRD_ADDR_MAX 0x22C
#define HDR_KERNEL_ALIGNMENT 0x230
#define HDR_RELOCATABLE 0x234
#define HDR_XLOADFLAGS 0x236
#define HDR_CMDLINE_SIZE 0x238
#define HDR_PREF_ADDRESS 0x258
#define HDR_INIT_SIZE 0x260
#define HDR_MAX_END 0x290 /* the zero page's next field */

/* The rest of the zero page (struct boot_params). */
#define ZP_ACPI_RSDP_ADDR 0x070
#define ZP_EXT_RAMDISK_IMAGE 0x0C0
#define ZP_EXT_RAMDISK_SIZE 0x0C4
#define ZP_EXT_CMD_LINE_PTR 0x0C8
#define ZP_ALT_MEM_K 0x1E0
#define ZP_E820_ENTRIES 0x1E8
#define ZP_E820_TABLE 0x2D0
#define ZP_E820_MAX 128

#define LOADED_HIGH (1u << 0)
#define XLF_KERNEL_64 (1u << 0)
#define LOADER_UNDEFINED 0xFF /* type_of_loader: no assigned id */
#define ENTRY64_OFFSET 0x200

int
boot_linux(struct boot_ctx *c)
{
	struct entry_state *st = c->st;
	const char *path = c->in->kernel;
	const uint8_t *h = c->head;
	struct e820_entry map[BOOT_E820_MAX];
	uint64_t setup_size, pm_size, load = BOOT_KERNEL_ADDR, need, pref,
				      init_size, align, reloc, hdr_end;
	unsigned version, sects;
	uint8_t *zp;
	char sz[32];
	int n;

	if (c->headlen < 1024)
		return boot_fail(c, ENOEXEC,
				 "'%s': truncated: a bzImage's setup header "
				 "needs 1024 bytes, the file has %llu",
				 path, (unsigned long long)c->fsize);
	if (memcmp(h + HDR_HEADER, "HdrS", 4) != 0 ||
	    boot_le16(h + HDR_BOOT_FLAG) != 0xAA55)
		return boot_fail(c, ENOEXEC,
				 "'%s': not a bzImage (no HdrS setup header)",
				 path);
	version = boot_le16(h + HDR_VERSION);
	if (version < 0x206)
		return boot_fail(c, ENOEXEC,
				 "'%s': boot protocol %u.%02u is too old (need "
				 "2.06 or later)",
				 path, version >> 8, version & 0xFF);
	if (version < 0x20C)
		return boot_fail(c, ENOEXEC,
				 "'%s': boot protocol %u.%02u has no 64-bit "
				 "entry (need 2.12 or later)",
				 path, version >> 8, version & 0xFF);
	if (!(boot_le16(h + HDR_XLOADFLAGS) & XLF_KERNEL_64))
		return boot_fail(c, ENOEXEC,
				 "'%s': kernel is not 64-bit capable (no "
				 "XLF_KERNEL_64 in xloadflags)",
				 path);
	if (!(h[HDR_LOADFLAGS] & LOADED_HIGH))
		return boot_fail(c, ENOEXEC,
				 "'%s': a zImage (loaded low) is not supported",
				 path);

	sects = h[HDR_SETUP_SECTS] ? h[HDR_SETUP_SECTS] : 4;
	setup_size = (uint64_t)(sects + 1) * 512;
	if (c->fsize <= setup_size)
		return boot_fail(c, ENOEXEC,
				 "'%s': truncated: no kernel after %llu bytes "
				 "of setup code",
				 path, (unsigned long long)setup_size);
	pm_size = c->fsize - setup_size;

	/*
	 * The memory the kernel needs: its image at 1 MiB, and init_size
	 * bytes where it decompresses, which for a relocatable kernel is
	 * the load address rounded up to kernel_alignment but not below
	 * pref_address.
	 */
	init_size = boot_le32(h + HDR_INIT_SIZE);
	pref = boot_le64(h + HDR_PREF_ADDRESS);
	align = boot_le32(h + HDR_KERNEL_ALIGNMENT);
	need = load + (pm_size > init_size ? pm_size : init_size);
	if (h[HDR_RELOCATABLE]) {
		reloc = load;
		if (align && (align & (align - 1)) == 0)
			reloc = (load + align - 1) & ~(align - 1);
		if (pref > reloc)
			reloc = pref;
		if (reloc >= c->low_end || init_size > c->low_end - reloc)
			need = UINT64_MAX;
		else if (reloc + init_size > need)
			need = reloc + init_size;
	}
	if (need > c->low_end)
		return boot_fail(c, EFBIG,
				 "'%s': kernel does not fit in %s of guest "
				 "memory",
				 path,
				 boot_size_str(c->gm->size, sz, sizeof(sz)));

	if (boot_put_cmdline(c, boot_le32(h + HDR_CMDLINE_SIZE)) < 0)
		return -1;
	{
		struct boot_seg_load s = { setup_size, load, load, pm_size,
					   pm_size };

		if (boot_load_seg(c, &s, 0) < 0)
			return -1;
	}
	st->kernel_start = load;
	st->kernel_end = load + pm_size;
	if (boot_put_initrd(c, need,
			    (uint64_t)boot_le32(h + HDR_INITRD_ADDR_MAX) + 1) <
	    0)
		return -1;

	n = boot_e820(c->gm, map, BOOT_E820_MAX);
	zp = gpa_ptr(c->gm, BOOT_INFO_ADDR, 4096);
	if (n < 0 || n > ZP_E820_MAX || !zp)
		return boot_fail(c, ENOMEM, "guest memory is too small");
	memset(zp, 0, 4096);
	/* The setup header ends where the jump at 0x200 lands. */
	hdr_end = HDR_HEADER + h[HDR_JUMP + 1];
	if (hdr_end > HDR_MAX_END)
		hdr_end = HDR_MAX_END;
	memcpy(zp + HDR_START, h + HDR_START, hdr_end - HDR_START);

	zp[HDR_TYPE_OF_LOADER] = LOADER_UNDEFINED;
	boot_put32(zp + HDR_CODE32_START, (uint32_t)load);
	boot_put32(zp + HDR_CMD_LINE_PTR, (uint32_t)BOOT_CMDLINE_ADDR);
	boot_put32(zp + ZP_EXT_CMD_LINE_PTR, 0);
	boot_put32(zp + HDR_RAMDISK_IMAGE, (uint32_t)st->initrd_addr);
	boot_put32(zp + HDR_RAMDISK_SIZE, (uint32_t)st->initrd_size);
	boot_put32(zp + ZP_EXT_RAMDISK_IMAGE,
		   (uint32_t)(st->initrd_addr >> 32));
	boot_put32(zp + ZP_EXT_RAMDISK_SIZE, (uint32_t)(st->initrd_size >> 32));
	if (version >= 0x20E)
		boot_put64(zp + ZP_ACPI_RSDP_ADDR, st->rsdp_addr);
	boot_put32(zp + ZP_ALT_MEM_K,
		   (uint32_t)((c->low_end - BOOT_LOW_END) / 1024));
	zp[ZP_E820_ENTRIES] = (uint8_t)n;
	for (int i = 0; i < n; i++) {
		uint8_t *e = zp + ZP_E820_TABLE + i * 20;

		boot_put64(e, map[i].addr);
		boot_put64(e + 8, map[i].size);
		boot_put32(e + 16, map[i].type);
	}

	if (boot_setup_cpu(c->gm, BOOT_MODE_LONG64, st) < 0)
		return boot_fail(c, errno, "guest memory is too small");
	st->rip = load + ENTRY64_OFFSET;
	st->rsi = BOOT_INFO_ADDR;
	st->info_addr = BOOT_INFO_ADDR;
	return 0;
}
