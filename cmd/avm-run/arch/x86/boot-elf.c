/*
 * ELF images: the parser the PVH, multiboot and plain ELF64 loaders
 * share, and the plain ELF64 loader itself.
 *
 * Plain ELF64 is the guest kit's fast-boot contract: PT_LOAD segments go
 * to their physical addresses (p_paddr), the boot vCPU starts in 64-bit
 * long mode at e_entry with the first 4 GiB mapped 1:1, RDI =
 * BOOT_ELF_MAGIC ('AVM1') and RSI = a multiboot v1 information structure
 * (memory map, command line, initrd as module 0).
 *
 * The file is untrusted: every offset and size is checked against the
 * file and against guest RAM before use, in 64-bit arithmetic that
 * cannot wrap.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "boot.h"

#define EI_CLASS 4
#define EI_DATA 5
#define EI_VERSION 6
#define ELFCLASS32 1
#define ELFCLASS64 2
#define ELFDATA2LSB 1
#define ET_EXEC 2
#define EM_386 3
#define EM_X86_64 62
#define PT_LOAD 1
#define PT_NOTE 4

#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define NOTE_MAX (64 * 1024) /* bytes of one PT_NOTE we look at */

/* Walks the notes of one PT_NOTE segment for Xen's PHYS32_ENTRY. */
static int
parse_notes(struct boot_ctx *c, struct boot_elf *e, const uint8_t *p,
	    uint64_t len, uint64_t align)
{
	uint64_t pos = 0;

	while (len - pos >= 12) {
		uint64_t namesz = boot_le32(p + pos);
		uint64_t descsz = boot_le32(p + pos + 4);
		uint32_t type = boot_le32(p + pos + 8);
		uint64_t name = pos + 12;
		uint64_t desc = name + ((namesz + align - 1) & ~(align - 1));
		uint64_t next = desc + ((descsz + align - 1) & ~(align - 1));

		if (desc > len || descsz > len - desc)
			return boot_fail(c, ENOEXEC,
					 "'%s': ELF note runs past its segment",
					 c->in->kernel);
		if (namesz == 4 && memcmp(p + name, "Xen", 4) == 0 &&
		    type == XEN_ELFNOTE_PHYS32_ENTRY) {
			uint64_t v;

			if (descsz == 4)
				v = boot_le32(p + desc);
			else if (descsz == 8)
				v = boot_le64(p + desc);
			else
				return boot_fail(
					c, ENOEXEC,
					"'%s': PVH entry note has %llu "
					"bytes (want 4 or 8)",
					c->in->kernel,
					(unsigned long long)descsz);
			if (v >= BOOT_MMIO_HOLE_END)
				return boot_fail(
					c, ENOEXEC,
					"'%s': PVH entry 0x%llx is not "
					"a 32-bit address",
					c->in->kernel, (unsigned long long)v);
			e->has_pvh = 1;
			e->pvh_entry = v;
		}
		if (next >= len)
			break;
		pos = next;
	}
	return 0;
}

int
boot_elf_parse(struct boot_ctx *c, struct boot_elf *e)
{
	const char *path = c->in->kernel;
	const uint8_t *h = c->head;
	uint64_t phoff, phentsize, phnum, want;
	uint8_t *ph = NULL, *note = NULL;
	uint16_t machine;
	int rc = -1;

	memset(e, 0, sizeof(*e));
	if (c->headlen < 52 || memcmp(h, "\177ELF", 4) != 0)
		return boot_fail(c, ENOEXEC, "'%s': not an ELF file", path);
	if (h[EI_CLASS] != ELFCLASS32 && h[EI_CLASS] != ELFCLASS64)
		return boot_fail(c, ENOEXEC, "'%s': bad ELF class %u", path,
				 h[EI_CLASS]);
	if (h[EI_DATA] != ELFDATA2LSB)
		return boot_fail(c, ENOEXEC, "'%s': ELF is not little-endian",
				 path);
	if (h[EI_VERSION] != 1)
		return boot_fail(c, ENOEXEC, "'%s': bad ELF version %u", path,
				 h[EI_VERSION]);
	e->is64 = h[EI_CLASS] == ELFCLASS64;
	if (e->is64 && c->headlen < 64)
		return boot_fail(c, ENOEXEC,
				 "'%s': truncated: the ELF header needs 64 "
				 "bytes, the file has %llu",
				 path, (unsigned long long)c->fsize);
	if (boot_le16(h + 16) != ET_EXEC)
		return boot_fail(c, ENOEXEC,
				 "'%s': ELF type %u is not an executable", path,
				 boot_le16(h + 16));
	machine = boot_le16(h + 18);
	if (machine != (e->is64 ? EM_X86_64 : EM_386))
		return boot_fail(c, ENOEXEC, "'%s': ELF machine %u is not %s",
				 path, machine, e->is64 ? "x86-64" : "i386");
	if (e->is64) {
		e->entry = boot_le64(h + 24);
		phoff = boot_le64(h + 32);
		phentsize = boot_le16(h + 54);
		phnum = boot_le16(h + 56);
	} else {
		e->entry = boot_le32(h + 24);
		phoff = boot_le32(h + 28);
		phentsize = boot_le16(h + 42);
		phnum = boot_le16(h + 44);
	}
	if (phentsize != (e->is64 ? 56u : 32u))
		return boot_fail(c, ENOEXEC,
				 "'%s': bad ELF program header size %llu", path,
				 (unsigned long long)phentsize);
	if (phnum == 0 || phnum > BOOT_ELF_MAX_PHDRS)
		return boot_fail(c, ENOEXEC,
				 "'%s': ELF has %llu program headers (1 to %d "
				 "supported)",
				 path, (unsigned long long)phnum,
				 BOOT_ELF_MAX_PHDRS);
	want = phnum * phentsize;
	ph = malloc(want);
	if (!ph)
		return boot_fail(c, ENOMEM, "out of memory");
	if (boot_read(c, phoff, ph, want, "the ELF program headers") < 0)
		goto out;

	for (uint64_t i = 0; i < phnum; i++) {
		const uint8_t *p = ph + i * phentsize;
		struct boot_seg_load s;
		uint32_t type = boot_le32(p);
		uint64_t align;

		if (e->is64) {
			s.off = boot_le64(p + 8);
			s.vaddr = boot_le64(p + 16);
			s.paddr = boot_le64(p + 24);
			s.filesz = boot_le64(p + 32);
			s.memsz = boot_le64(p + 40);
			align = boot_le64(p + 48);
		} else {
			s.off = boot_le32(p + 4);
			s.vaddr = boot_le32(p + 8);
			s.paddr = boot_le32(p + 12);
			s.filesz = boot_le32(p + 16);
			s.memsz = boot_le32(p + 20);
			align = boot_le32(p + 28);
		}
		if (type == PT_NOTE && !e->has_pvh && s.filesz >= 12) {
			uint64_t n = s.filesz < NOTE_MAX ? s.filesz : NOTE_MAX;

			note = malloc(n);
			if (!note) {
				boot_fail(c, ENOMEM, "out of memory");
				goto out;
			}
			if (boot_read(c, s.off, note, n, "an ELF note") < 0 ||
			    parse_notes(c, e, note, n, align == 8 ? 8 : 4) < 0)
				goto out;
			free(note);
			note = NULL;
		}
		if (type != PT_LOAD || s.memsz == 0)
			continue;
		if (s.filesz > s.memsz) {
			boot_fail(c, ENOEXEC,
				  "'%s': segment %d: p_filesz 0x%llx exceeds "
				  "p_memsz 0x%llx",
				  path, e->nload, (unsigned long long)s.filesz,
				  (unsigned long long)s.memsz);
			goto out;
		}
		if (s.off > c->fsize || s.filesz > c->fsize - s.off) {
			boot_fail(c, ENOEXEC,
				  "'%s': truncated: segment %d needs file "
				  "bytes [0x%llx, 0x%llx), the file has %llu",
				  path, e->nload, (unsigned long long)s.off,
				  (unsigned long long)(s.off + s.filesz),
				  (unsigned long long)c->fsize);
			goto out;
		}
		if (s.paddr + s.memsz < s.paddr) {
			boot_fail(c, ENOEXEC,
				  "'%s': segment %d wraps around the address "
				  "space",
				  path, e->nload);
			goto out;
		}
		for (int j = 0; j < e->nload; j++) {
			const struct boot_seg_load *o = &e->load[j];

			if (s.paddr < o->paddr + o->memsz &&
			    o->paddr < s.paddr + s.memsz) {
				boot_fail(c, ENOEXEC,
					  "'%s': segments %d and %d overlap",
					  path, j, e->nload);
				goto out;
			}
		}
		e->load[e->nload++] = s;
	}
	if (e->nload == 0) {
		boot_fail(c, ENOEXEC, "'%s': ELF has no loadable segment",
			  path);
		goto out;
	}
	rc = 0;
out:
	free(note);
	free(ph);
	return rc;
}

int
boot_elf_load(struct boot_ctx *c, const struct boot_elf *e)
{
	uint64_t lo = UINT64_MAX, hi = 0;

	for (int i = 0; i < e->nload; i++) {
		const struct boot_seg_load *s = &e->load[i];

		if (boot_load_seg(c, s, i) < 0)
			return -1;
		if (s->paddr < lo)
			lo = s->paddr;
		if (s->paddr + s->memsz > hi)
			hi = s->paddr + s->memsz;
	}
	c->st->kernel_start = lo;
	c->st->kernel_end = hi;
	return 0;
}

/*
 * e_entry is a virtual address; like GRUB, take it through the segment
 * whose p_vaddr range holds it to a physical one.  An entry that lies in
 * no segment's p_vaddr range must lie in one's p_paddr range.
 */
int
boot_elf_entry_phys(const struct boot_elf *e, uint64_t *entry)
{
	for (int i = 0; i < e->nload; i++) {
		const struct boot_seg_load *s = &e->load[i];

		if (e->entry >= s->vaddr && e->entry - s->vaddr < s->memsz) {
			*entry = e->entry - s->vaddr + s->paddr;
			return 0;
		}
	}
	for (int i = 0; i < e->nload; i++) {
		const struct boot_seg_load *s = &e->load[i];

		if (e->entry >= s->paddr && e->entry - s->paddr < s->memsz) {
			*entry = e->entry;
			return 0;
		}
	}
	return -1;
}

int
boot_elf_entry(struct boot_ctx *c, const struct boot_elf *e, uint64_t *entry)
{
	if (boot_elf_entry_phys(e, entry) == 0)
		return 0;
	return boot_fail(c, ENOEXEC,
			 "'%s': entry point 0x%llx is outside the loaded "
			 "segments",
			 c->in->kernel, (unsigned long long)e->entry);
}

int
boot_elf64(struct boot_ctx *c)
{
	struct entry_state *st = c->st;
	struct boot_elf *e;
	uint64_t entry;
	int rc = -1;

	e = calloc(1, sizeof(*e));
	if (!e)
		return boot_fail(c, ENOMEM, "out of memory");
	if (boot_elf_parse(c, e) < 0)
		goto out;
	if (!e->is64) {
		boot_fail(c, ENOEXEC,
			  "'%s': a 32-bit ELF has no 64-bit entry (boot it as "
			  "multiboot or pvh)",
			  c->in->kernel);
		goto out;
	}
	if (boot_elf_load(c, e) < 0 || boot_elf_entry(c, e, &entry) < 0)
		goto out;
	if (entry >= BOOT_MMIO_HOLE_END) {
		boot_fail(c, ENOEXEC,
			  "'%s': entry point 0x%llx is above 4 GiB, which the "
			  "boot page tables do not map",
			  c->in->kernel, (unsigned long long)entry);
		goto out;
	}
	if (boot_put_cmdline(c, BOOT_CMDLINE_MAX) < 0 ||
	    boot_put_initrd(c, st->kernel_end, c->low_end) < 0 ||
	    boot_mb_info(c) < 0)
		goto out;
	if (boot_setup_cpu(c->gm, BOOT_MODE_LONG64, st) < 0) {
		boot_fail(c, errno, "guest memory is too small");
		goto out;
	}
	st->rip = entry;
	st->rdi = BOOT_ELF_MAGIC;
	st->rsi = BOOT_INFO_ADDR;
	st->info_addr = BOOT_INFO_ADDR;
	rc = 0;
out:
	free(e);
	return rc;
}
