/*
 * Boot, common part: the guest physical layout, the e820 map, the boot
 * vCPU's segments and page tables, and the steps every loader shares
 * (reading the untrusted kernel file, command line, initrd).  The
 * formats themselves are in boot-linux.c, boot-pvh.c, boot-multiboot.c
 * and boot-elf.c; the layout is documented in boot.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "avm/util.h"
#include "boot.h"

uint64_t
guest_mem_low_end(const struct guest_mem *gm)
{
	return gm->size < BOOT_MMIO_HOLE_START ? gm->size
					       : BOOT_MMIO_HOLE_START;
}

void *
gpa_ptr(const struct guest_mem *gm, uint64_t gpa, uint64_t len)
{
	uint64_t low = guest_mem_low_end(gm), off;

	if (len == 0)
		len = 1;
	if (gpa + len < gpa)
		return NULL;
	if (gpa < low)
		return gpa + len <= low ? gm->ram + gpa : NULL;
	if (gpa < BOOT_MMIO_HOLE_END)
		return NULL;
	off = gpa - (BOOT_MMIO_HOLE_END - BOOT_MMIO_HOLE_START);
	if (off + len > gm->size)
		return NULL;
	return gm->ram + off;
}

uint64_t
ram_off_to_gpa(uint64_t off)
{
	if (off < BOOT_MMIO_HOLE_START)
		return off;
	return off + (BOOT_MMIO_HOLE_END - BOOT_MMIO_HOLE_START);
}

int
boot_e820(const struct guest_mem *gm, struct e820_entry *tab, int max)
{
	struct e820_entry e[BOOT_E820_MAX];
	uint64_t low = guest_mem_low_end(gm);
	int n = 0;

	if (low < BOOT_LOW_END + 4096) {
		errno = ENOMEM;
		return -1;
	}
	e[n++] = (struct e820_entry){ 0, BOOT_EBDA_START, E820_RAM };
	e[n++] = (struct e820_entry){ BOOT_EBDA_START,
				      BOOT_LOW_END - BOOT_EBDA_START,
				      E820_RESERVED };
	e[n++] = (struct e820_entry){ BOOT_LOW_END, low - BOOT_LOW_END,
				      E820_RAM };
	if (gm->size > BOOT_MMIO_HOLE_START)
		e[n++] = (struct e820_entry){ BOOT_MMIO_HOLE_END,
					      gm->size - BOOT_MMIO_HOLE_START,
					      E820_RAM };
	if (n > max) {
		errno = ENOSPC;
		return -1;
	}
	memcpy(tab, e, (size_t)n * sizeof(e[0]));
	return n;
}

static const char *const format_names[] = {
	[BOOT_FMT_AUTO] = "auto",	    /* detect by content */
	[BOOT_FMT_LINUX] = "linux",	    /* bzImage, 64-bit protocol */
	[BOOT_FMT_PVH] = "pvh",		    /* ELF, Xen PVH entry note */
	[BOOT_FMT_MULTIBOOT] = "multiboot", /* multiboot v1 */
	[BOOT_FMT_ELF] = "elf",		    /* ELF64, 64-bit entry */
};

const char *
boot_format_name(enum boot_format f)
{
	if ((unsigned)f >= AVM_ARRAY_SIZE(format_names))
		return "unknown";
	return format_names[f];
}

int
boot_format_parse(const char *s, enum boot_format *out)
{
	for (size_t i = 0; i < AVM_ARRAY_SIZE(format_names); i++) {
		if (strcmp(s, format_names[i]) == 0) {
			*out = (enum boot_format)i;
			return 0;
		}
	}
	errno = EINVAL;
	return -1;
}

/* --- CPU state -------------------------------------------------------- */

static const struct boot_seg seg_code32 = {
	.limit = 0xFFFFFFFF,
	.selector = BOOT_SEL_CODE32,
	.type = 0xB, /* execute/read, accessed */
	.present = 1,
	.db = 1,
	.s = 1,
	.g = 1,
};

static const struct boot_seg seg_code64 = {
	.limit = 0xFFFFFFFF,
	.selector = BOOT_SEL_CODE64,
	.type = 0xB,
	.present = 1,
	.s = 1,
	.l = 1,
	.g = 1,
};

static const struct boot_seg seg_data = {
	.limit = 0xFFFFFFFF,
	.selector = BOOT_SEL_DATA,
	.type = 0x3, /* read/write, accessed */
	.present = 1,
	.db = 1,
	.s = 1,
	.g = 1,
};

static const struct boot_seg seg_tss = {
	.base = BOOT_TSS_ADDR,
	.limit = BOOT_TSS_LIMIT,
	.selector = BOOT_SEL_TSS,
	.type = 0xB, /* busy 32/64-bit TSS, as after LTR */
	.present = 1,
};

/* The LDTR a CPU has after reset: usable, empty. */
static const struct boot_seg seg_ldt = {
	.limit = 0xFFFF,
	.type = 0x2,
	.present = 1,
};

/* The 8-byte GDT descriptor for s (a 16-byte system descriptor's low
 * half; its high half holds base[63:32], 0 here). */
static uint64_t
seg_desc(const struct boot_seg *s)
{
	uint64_t limit = s->g ? s->limit >> 12 : s->limit;

	return (limit & 0xFFFF) | (s->base & 0xFFFFFF) << 16 |
	       (uint64_t)(s->type & 0xF) << 40 | (uint64_t)(s->s & 1) << 44 |
	       (uint64_t)(s->dpl & 3) << 45 | (uint64_t)(s->present & 1) << 47 |
	       ((limit >> 16) & 0xF) << 48 | (uint64_t)(s->avl & 1) << 52 |
	       (uint64_t)(s->l & 1) << 53 | (uint64_t)(s->db & 1) << 54 |
	       (uint64_t)(s->g & 1) << 55 | ((s->base >> 24) & 0xFF) << 56;
}

int
boot_setup_cpu(struct guest_mem *gm, enum boot_cpu_mode mode,
	       struct entry_state *st)
{
	uint8_t *gdt = gpa_ptr(gm, BOOT_GDT_ADDR, BOOT_GDT_ENTRIES * 8);
	uint8_t *tss = gpa_ptr(gm, BOOT_TSS_ADDR, BOOT_TSS_LIMIT + 1);
	uint8_t *pt = gpa_ptr(gm, BOOT_PML4_ADDR, 6 * 4096);

	if (!gdt || !tss || !pt) {
		errno = ENOMEM;
		return -1;
	}
	memset(gdt, 0, BOOT_GDT_ENTRIES * 8);
	boot_put64(gdt + BOOT_SEL_CODE32, seg_desc(&seg_code32));
	boot_put64(gdt + BOOT_SEL_CODE64, seg_desc(&seg_code64));
	boot_put64(gdt + BOOT_SEL_DATA, seg_desc(&seg_data));
	boot_put64(gdt + BOOT_SEL_TSS, seg_desc(&seg_tss));
	memset(tss, 0, BOOT_TSS_LIMIT + 1);
	/* No I/O permission bitmap: its offset points past the limit. */
	boot_put16(tss + 0x66, BOOT_TSS_LIMIT + 1);

	st->mode = mode;
	st->gdt =
		(struct boot_dtable){ BOOT_GDT_ADDR, BOOT_GDT_ENTRIES * 8 - 1 };
	st->idt = (struct boot_dtable){ 0, 0 };
	st->ds = st->es = st->fs = st->gs = st->ss = seg_data;
	st->tr = seg_tss;
	st->ldt = seg_ldt;
	st->rflags = 0x2;
	st->rsp = BOOT_STACK_TOP;
	if (mode == BOOT_MODE_LONG64) {
		/* PML4[0] -> PDPT; PDPT[0..3] -> 4 PDs of 2 MiB pages. */
		memset(pt, 0, 6 * 4096);
		boot_put64(pt, BOOT_PDPT_ADDR | 0x3);
		for (uint64_t i = 0; i < 4; i++) {
			boot_put64(pt + 0x1000 + i * 8,
				   (BOOT_PD_ADDR + i * 4096) | 0x3);
			for (uint64_t j = 0; j < 512; j++)
				boot_put64(pt + 0x2000 + i * 4096 + j * 8,
					   ((i * 512 + j) << 21) | 0x83);
		}
		st->cs = seg_code64;
		st->cr0 = 0x80000011; /* PG | ET | PE */
		st->cr3 = BOOT_PML4_ADDR;
		st->cr4 = 0x20;	  /* PAE */
		st->efer = 0x500; /* LMA | LME */
	} else {
		st->cs = seg_code32;
		st->cr0 = 0x11; /* ET | PE */
		st->cr3 = 0;
		st->cr4 = 0;
		st->efer = 0;
	}
	return 0;
}

/* --- helpers for the loaders ------------------------------------------ */

int
boot_fail(struct boot_ctx *c, int errnum, const char *fmt, ...)
{
	va_list ap;

	if (c->errlen) {
		va_start(ap, fmt);
		vsnprintf(c->err, c->errlen, fmt, ap);
		va_end(ap);
	}
	errno = errnum;
	return -1;
}

const char *
boot_size_str(uint64_t n, char *buf, size_t len)
{
	static const char *const unit[] = { "bytes", "KiB", "MiB", "GiB",
					    "TiB" };
	int u = 0;

	while (u < 4 && n && n % 1024 == 0) {
		n /= 1024;
		u++;
	}
	snprintf(buf, len, "%llu %s", (unsigned long long)n, unit[u]);
	return buf;
}

int
boot_read(struct boot_ctx *c, uint64_t off, void *buf, uint64_t len,
	  const char *what)
{
	const char *path = c->in->kernel;
	uint8_t *p = buf;

	if (off > c->fsize || len > c->fsize - off)
		return boot_fail(c, ENOEXEC,
				 "'%s': truncated: %s at offset %llu needs "
				 "%llu bytes, the file has %llu",
				 path, what, (unsigned long long)off,
				 (unsigned long long)len,
				 (unsigned long long)c->fsize);
	while (len) {
		size_t chunk = len > (1u << 30) ? 1u << 30 : (size_t)len;
		ssize_t r = pread(c->fd, p, chunk, (off_t)off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return boot_fail(c, errno, "'%s': read: %s", path,
					 strerror(errno));
		if (r == 0)
			return boot_fail(c, ENOEXEC,
					 "'%s': truncated: the file shrank "
					 "while being read",
					 path);
		p += r;
		off += (uint64_t)r;
		len -= (uint64_t)r;
	}
	return 0;
}

int
boot_load_seg(struct boot_ctx *c, const struct boot_seg_load *s, int i)
{
	char sz[32];
	uint8_t *dst;

	if (s->paddr < BOOT_LOW_END)
		return boot_fail(c, ENOEXEC,
				 "'%s': segment %d [0x%llx, 0x%llx) overlaps "
				 "the boot tables below 1 MiB",
				 c->in->kernel, i, (unsigned long long)s->paddr,
				 (unsigned long long)(s->paddr + s->memsz));
	dst = gpa_ptr(c->gm, s->paddr, s->memsz);
	if (!dst)
		return boot_fail(c, EFBIG,
				 "'%s': segment %d [0x%llx, 0x%llx) is "
				 "outside guest RAM (%s)",
				 c->in->kernel, i, (unsigned long long)s->paddr,
				 (unsigned long long)(s->paddr + s->memsz),
				 boot_size_str(c->gm->size, sz, sizeof(sz)));
	if (s->filesz &&
	    boot_read(c, s->off, dst, s->filesz, "a loadable segment") < 0)
		return -1;
	memset(dst + s->filesz, 0, s->memsz - s->filesz);
	return 0;
}

int
boot_put_cmdline(struct boot_ctx *c, uint64_t max)
{
	const char *cl = c->in->cmdline ? c->in->cmdline : "";
	const char *extra = c->in->linux_extra;
	size_t len = c->cmdline_len, elen = 0;
	uint8_t *dst;

	if (extra && *extra &&
	    (c->st->format == BOOT_FMT_LINUX || c->st->format == BOOT_FMT_PVH))
		elen = strlen(extra) + (len ? 1 : 0);
	if (max > BOOT_CMDLINE_MAX)
		max = BOOT_CMDLINE_MAX;
	if (len + elen > max)
		return boot_fail(c, E2BIG,
				 "'%s': command line is %zu bytes, the kernel "
				 "takes at most %llu",
				 c->in->kernel, len + elen,
				 (unsigned long long)max);
	dst = gpa_ptr(c->gm, BOOT_CMDLINE_ADDR, len + elen + 1);
	if (!dst)
		return boot_fail(c, ENOMEM, "guest memory is too small");
	memcpy(dst, cl, len);
	if (elen) {
		if (len)
			dst[len] = ' ';
		memcpy(dst + len + (len ? 1 : 0), extra, strlen(extra));
	}
	dst[len + elen] = '\0';
	c->st->cmdline_addr = BOOT_CMDLINE_ADDR;
	return 0;
}

int
boot_put_initrd(struct boot_ctx *c, uint64_t bottom, uint64_t top)
{
	const char *path = c->in->initrd;
	struct stat sb;
	uint64_t size, addr;
	char sz[32];
	uint8_t *dst;
	int fd, rc = -1;

	c->st->initrd_addr = c->st->initrd_size = 0;
	if (!path)
		return 0;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK); /* no FIFO hang */
	if (fd < 0)
		return boot_fail(c, errno, "'%s': %s", path, strerror(errno));
	if (fstat(fd, &sb) < 0) {
		boot_fail(c, errno, "'%s': %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(sb.st_mode)) {
		boot_fail(c, EINVAL, "'%s': not a regular file", path);
		goto out;
	}
	size = (uint64_t)sb.st_size;
	if (top > c->low_end)
		top = c->low_end;
	bottom = (bottom + 4095) & ~4095ULL;
	if (size > top || ((top - size) & ~4095ULL) < bottom) {
		boot_fail(c, EFBIG,
			  "'%s': initrd (%s) does not fit in guest memory "
			  "between the kernel's end 0x%llx and 0x%llx",
			  path, boot_size_str(size, sz, sizeof(sz)),
			  (unsigned long long)bottom, (unsigned long long)top);
		goto out;
	}
	addr = (top - size) & ~4095ULL;
	dst = gpa_ptr(c->gm, addr, size);
	if (!dst) {
		boot_fail(c, EFBIG, "'%s': initrd does not fit", path);
		goto out;
	}
	for (uint64_t done = 0; done < size;) {
		size_t chunk = size - done > (1u << 30) ? 1u << 30
							: (size_t)(size - done);
		ssize_t r = pread(fd, dst + done, chunk, (off_t)done);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			boot_fail(c, r < 0 ? errno : EIO, "'%s': read: %s",
				  path, r < 0 ? strerror(errno) : "short read");
			goto out;
		}
		done += (uint64_t)r;
	}
	c->st->initrd_addr = addr;
	c->st->initrd_size = size;
	rc = 0;
out:
	close(fd);
	return rc;
}

/* --- boot_load -------------------------------------------------------- */

static int
is_elf(const struct boot_ctx *c)
{
	return c->headlen >= 16 && memcmp(c->head, "\177ELF", 4) == 0;
}

static int
detect(struct boot_ctx *c, enum boot_format *fmt)
{
	struct boot_elf *e;
	int64_t hoff;

	if (c->headlen >= 0x206 && memcmp(c->head + 0x202, "HdrS", 4) == 0) {
		*fmt = BOOT_FMT_LINUX;
		return 0;
	}
	if (is_elf(c)) {
		/* Too big for the stack of a vCPU thread's caller. */
		e = calloc(1, sizeof(*e));
		if (!e)
			return boot_fail(c, ENOMEM, "out of memory");
		if (boot_elf_parse(c, e) < 0) {
			free(e);
			return -1;
		}
		hoff = boot_mb_find(c);
		if (e->has_pvh)
			*fmt = BOOT_FMT_PVH;
		else if (hoff >= 0 &&
			 (!e->is64 || boot_mb_owns_elf(c, hoff, e)))
			*fmt = BOOT_FMT_MULTIBOOT;
		else if (e->is64)
			*fmt = BOOT_FMT_ELF;
		else
			*fmt = BOOT_FMT_AUTO;
		free(e);
		if (*fmt == BOOT_FMT_AUTO)
			return boot_fail(c, ENOEXEC,
					 "'%s': 32-bit ELF without a PVH note "
					 "or a multiboot header",
					 c->in->kernel);
		return 0;
	}
	if (boot_mb_find(c) >= 0) {
		*fmt = BOOT_FMT_MULTIBOOT;
		return 0;
	}
	return boot_fail(c, ENOEXEC,
			 "'%s': not a kernel image (no bzImage header, no "
			 "ELF, no multiboot header)",
			 c->in->kernel);
}

int
boot_load(struct guest_mem *gm, const struct boot_params_in *in,
	  struct entry_state *st, char *err, size_t errlen)
{
	struct boot_ctx *c;
	enum boot_format fmt;
	struct stat sb;
	uint8_t *low;
	int rc = -1;

	if (errlen)
		err[0] = '\0';
	if (!gm || !gm->ram || !in || !in->kernel || !st) {
		if (errlen)
			snprintf(err, errlen, "boot_load: bad arguments");
		errno = EINVAL;
		return -1;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		if (errlen)
			snprintf(err, errlen, "out of memory");
		errno = ENOMEM;
		return -1;
	}
	c->gm = gm;
	c->in = in;
	c->st = st;
	c->err = err;
	c->errlen = errlen;
	c->fd = -1;
	c->low_end = guest_mem_low_end(gm);
	c->cmdline_len = in->cmdline ? strlen(in->cmdline) : 0;
	memset(st, 0, sizeof(*st));

	low = gpa_ptr(gm, 0, BOOT_LOW_END);
	if (!low || c->low_end < 2 * BOOT_LOW_END) {
		char sz[32];

		boot_fail(c, EFBIG,
			  "'%s': kernel does not fit in %s of guest memory",
			  in->kernel, boot_size_str(gm->size, sz, sizeof(sz)));
		goto out;
	}
	c->fd = open(in->kernel, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (c->fd < 0) {
		boot_fail(c, errno, "'%s': %s", in->kernel, strerror(errno));
		goto out;
	}
	if (fstat(c->fd, &sb) < 0) {
		boot_fail(c, errno, "'%s': %s", in->kernel, strerror(errno));
		goto out;
	}
	if (!S_ISREG(sb.st_mode)) {
		boot_fail(c, EINVAL, "'%s': not a regular file", in->kernel);
		goto out;
	}
	c->fsize = (uint64_t)sb.st_size;
	c->headlen = c->fsize < BOOT_HEAD_LEN ? c->fsize : BOOT_HEAD_LEN;
	if (boot_read(c, 0, c->head, c->headlen, "the header") < 0)
		goto out;

	fmt = in->format;
	if (fmt == BOOT_FMT_AUTO && detect(c, &fmt) < 0)
		goto out;
	st->format = fmt;

	/* A fresh low area: a reboot loads again over the old one. */
	memset(low, 0, BOOT_LOW_END);
	if (!(in->flags & BOOT_F_NO_ACPI)) {
		if (acpi_build(gm, &in->acpi, &st->rsdp_addr, err, errlen) <
		    0) {
			int e = errno;

			/* acpi_build's message names no file: add ours. */
			if (errlen) {
				char *m = strdup(err);

				snprintf(err, errlen, "ACPI tables: %s",
					 m ? m : "failed");
				free(m);
			}
			errno = e;
			goto out;
		}
	}

	switch (fmt) {
	case BOOT_FMT_LINUX:
		rc = boot_linux(c);
		break;
	case BOOT_FMT_PVH:
		rc = boot_pvh(c);
		break;
	case BOOT_FMT_MULTIBOOT:
		rc = boot_multiboot(c);
		break;
	case BOOT_FMT_ELF:
		rc = boot_elf64(c);
		break;
	default:
		boot_fail(c, EINVAL, "boot_load: bad format %d", (int)fmt);
		break;
	}
out:
	if (c->fd >= 0)
		close(c->fd);
	free(c);
	return rc;
}
