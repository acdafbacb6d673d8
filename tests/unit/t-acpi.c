/*
 * ACPI tables (cmd/avm-run/arch/x86/acpi.c): checksums, headers, the MADT
 * entries per vCPU, SRAT/SLIT for one and several NUMA domains, the RSDP
 * scan a guest does, the DSDT's devices read back with a small AML reader
 * and checked against iasl (acpica-tools), and the errors of a bad
 * description.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "avm/placement.h"
#include "guestmem.h"
#include "tap.h"
#include "../../cmd/avm-run/arch/x86/acpi.h"
#include "../../cmd/avm-run/arch/x86/boot.h"

#define MIB (1ULL << 20)
#define GIB (1ULL << 30)

static uint8_t *
at(const struct guest_mem *gm, uint64_t gpa)
{
	return gpa_ptr(gm, gpa, 1);
}

static uint32_t
le32(const uint8_t *p)
{
	return boot_le32(p);
}

/* The table with signature sig through the XSDT, or NULL. */
static uint8_t *
find_table(const struct guest_mem *gm, uint64_t rsdp, const char *sig)
{
	uint8_t *r = at(gm, rsdp);
	uint8_t *x = at(gm, boot_le64(r + 24));
	uint32_t n = (le32(x + 4) - 36) / 8;

	if (strcmp(sig, "XSDT") == 0)
		return x;
	if (strcmp(sig, "RSDT") == 0)
		return at(gm, le32(r + 16));
	for (uint32_t i = 0; i < n; i++) {
		uint8_t *t = at(gm, boot_le64(x + 36 + i * 8));

		if (t && memcmp(t, sig, 4) == 0)
			return t;
	}
	if (strcmp(sig, "DSDT") == 0 || strcmp(sig, "FACS") == 0) {
		uint8_t *f = find_table(gm, rsdp, "FACP");

		return f ? at(gm, boot_le64(f + (sig[0] == 'D' ? 140 : 132)))
			 : NULL;
	}
	return NULL;
}

static void
check_header(const struct guest_mem *gm, uint64_t rsdp, const char *sig,
	     int rev, int min_len)
{
	uint8_t *t = find_table(gm, rsdp, sig);

	if (!ok(t != NULL, "%s present", sig))
		return;
	ok(acpi_sum(t, le32(t + 4)) == 0, "%s checksum", sig);
	is_int(t[8], rev, "%s revision", sig);
	ok((int)le32(t + 4) >= min_len, "%s length %u >= %d", sig, le32(t + 4),
	   min_len);
	ok(memcmp(t + 10, "AVM   ", 6) == 0, "%s OEM id", sig);
}

/* Walks the MADT: counts entries of a type, and finds the i-th. */
static int
madt_count(const uint8_t *m, int type, const uint8_t **first)
{
	uint32_t len = le32(m + 4);
	int n = 0;

	for (uint32_t off = 44; off + 2 <= len && m[off + 1];
	     off += m[off + 1]) {
		if (m[off] == type) {
			if (n == 0 && first)
				*first = m + off;
			n++;
		}
	}
	return n;
}

static void
test_basic(void)
{
	struct guest_mem gm = mem_new(256 * MIB);
	struct acpi_desc d = { .vcpus = 4, .ioapic_id = 4 };
	char err[256];
	uint64_t rsdp = 0;
	uint8_t *r, *m, *f, *dsdt;
	const uint8_t *e;
	int ids_ok = 1;

	is_int(acpi_build(&gm, &d, &rsdp, err, sizeof(err)), 0,
	       "build for 4 vCPUs, no NUMA (%s)", err);
	is_int(rsdp, ACPI_RSDP_ADDR, "RSDP at 0xE0000");
	is_int(acpi_find_rsdp(&gm), rsdp,
	       "RSDP found by scanning 0xE0000-0xFFFFF");
	r = at(&gm, rsdp);
	ok(memcmp(r, "RSD PTR ", 8) == 0, "RSDP signature");
	ok(acpi_sum(r, 20) == 0, "RSDP checksum (20 bytes)");
	ok(acpi_sum(r, 36) == 0, "RSDP extended checksum (36 bytes)");
	is_int(r[15], 2, "RSDP revision 2");
	is_int(le32(r + 20), 36, "RSDP length");
	ok(memcmp(r + 9, "AVM   ", 6) == 0, "RSDP OEM id");

	check_header(&gm, rsdp, "XSDT", 1, 36 + 8 * 2);
	check_header(&gm, rsdp, "RSDT", 1, 36 + 4 * 2);
	check_header(&gm, rsdp, "FACP", 6, 276);
	check_header(&gm, rsdp, "APIC", 5, 44 + 4 * 8 + 12);
	check_header(&gm, rsdp, "DSDT", 2, 36 + 10);
	ok(find_table(&gm, rsdp, "SRAT") == NULL, "no SRAT without domains");
	ok(find_table(&gm, rsdp, "SLIT") == NULL, "no SLIT without domains");
	is_int((le32(find_table(&gm, rsdp, "XSDT") + 4) - 36) / 8, 2,
	       "XSDT lists FADT and MADT");

	f = find_table(&gm, rsdp, "FACS");
	ok(f && memcmp(f, "FACS", 4) == 0 && le32(f + 4) == 64,
	   "FACS signature and length");
	ok(f && (f - gm.ram) % 64 == 0, "FACS 64-byte aligned");

	/* MADT */
	m = find_table(&gm, rsdp, "APIC");
	is_int(le32(m + 36), 0xFEE00000, "MADT local APIC address");
	is_int(le32(m + 40) & 1, 1, "MADT PCAT_COMPAT");
	is_int(madt_count(m, 0, &e), 4, "MADT: 4 local APIC entries");
	for (int i = 0; i < 4; i++)
		if (e[i * 8 + 1] != 8 || e[i * 8 + 3] != i ||
		    e[i * 8 + 2] != i || le32(e + i * 8 + 4) != 1)
			ids_ok = 0;
	ok(ids_ok, "MADT: APIC ids and UIDs 0..3, enabled");
	is_int(madt_count(m, 9, NULL), 0, "MADT: no x2APIC entries");
	is_int(madt_count(m, 1, &e), 1, "MADT: one IOAPIC");
	is_int(e[2], 4, "IOAPIC id = vcpus");
	is_int(le32(e + 4), 0xFEC00000, "IOAPIC address");
	is_int(le32(e + 8), 0, "IOAPIC GSI base 0");
	is_int(madt_count(m, 2, &e), 2, "MADT: two interrupt overrides");
	ok(e[3] == 0 && le32(e + 4) == 2 && boot_le16(e + 8) == 0,
	   "override IRQ 0 -> GSI 2");
	e += 10;
	ok(e[3] == 9 && le32(e + 4) == 9 && boot_le16(e + 8) == 0xD,
	   "override IRQ 9 -> GSI 9, level, active high");
	is_int(madt_count(m, 4, &e), 1, "MADT: one LAPIC NMI");
	ok(e[2] == 0xFF && e[5] == 1, "LAPIC NMI: all processors, LINT1");

	/* FADT */
	f = find_table(&gm, rsdp, "FACP");
	is_int(boot_le16(f + 46), ACPI_SCI_IRQ, "FADT SCI_INT 9");
	is_int(le32(f + 48), 0, "FADT SMI_CMD 0 (always ACPI mode)");
	is_int(le32(f + 56), ACPI_PM1A_EVT, "FADT PM1a_EVT_BLK");
	is_int(le32(f + 64), ACPI_PM1A_CNT, "FADT PM1a_CNT_BLK");
	is_int(le32(f + 76), ACPI_PM_TMR, "FADT PM_TMR_BLK");
	ok(f[88] == 4 && f[89] == 2 && f[91] == 4, "FADT block lengths");
	ok(le32(f + 112) & (1u << 10), "FADT RESET_REG_SUP");
	ok(!(le32(f + 112) & (1u << 20)), "FADT not hardware-reduced");
	ok(!(le32(f + 112) & (1u << 8)), "FADT 24-bit PM timer");
	ok(!(boot_le16(f + 109) & 2), "FADT: no 8042");
	ok(f[116] == 1 && f[117] == 8 && boot_le64(f + 120) == 0xCF9 &&
		   f[128] == 6,
	   "FADT reset register: I/O 0xCF9, value 6");
	ok(boot_le64(f + 148 + 4) == ACPI_PM1A_EVT &&
		   boot_le64(f + 172 + 4) == ACPI_PM1A_CNT &&
		   boot_le64(f + 208 + 4) == ACPI_PM_TMR,
	   "FADT X_ PM blocks");
	is_int(le32(f + 40), 0, "FADT DSDT (32-bit) 0, X_DSDT used");
	dsdt = at(&gm, boot_le64(f + 140));
	ok(dsdt && memcmp(dsdt, "DSDT", 4) == 0, "X_DSDT points at the DSDT");
	{
		/* Name (\_S5, Package (4) { 5, 5, 0, 0 }) */
		static const uint8_t s5[] = { 0x08, 0x5C, '_',	'S',  '5',
					      '_',  0x12, 0x08, 0x04, 0x0A,
					      0x05, 0x0A, 0x05, 0x00, 0x00 };

		ok(dsdt && le32(dsdt + 4) == 36 + sizeof(s5) &&
			   memcmp(dsdt + 36, s5, sizeof(s5)) == 0,
		   "DSDT is exactly the \\_S5 package, SLP_TYP 5");
	}
	mem_free(&gm);
}

static void
test_com1(void)
{
	struct guest_mem gm = mem_new(16 * MIB);
	struct acpi_desc d = { .vcpus = 1, .flags = ACPI_F_COM1 };
	static const uint8_t hid[] = { '_',  'H',  'I',	 'D', 0x0C,
				       0x41, 0xD0, 0x05, 0x01 };
	uint64_t rsdp;
	uint8_t *t;
	uint32_t len;
	int found = 0;

	is_int(acpi_build(&gm, &d, &rsdp, NULL, 0), 0, "build with COM1");
	t = find_table(&gm, rsdp, "DSDT");
	len = le32(t + 4);
	ok(acpi_sum(t, len) == 0, "DSDT checksum with COM1");
	for (uint32_t i = 36; i + sizeof(hid) <= len; i++)
		if (memcmp(t + i, hid, sizeof(hid)) == 0)
			found = 1;
	ok(found, "DSDT: _HID EisaId(PNP0501)");
	/* After \_S5 (15 bytes): Scope opcode, a 1-byte PkgLength that
	 * reaches exactly to the table's end, then \_SB_. */
	ok(t[51] == 0x10 && t[52] == len - 52 &&
		   memcmp(t + 53, "\\_SB_", 5) == 0,
	   "DSDT: Scope (\\_SB) spans the rest of the table");
	ok(t[58] == 0x5B && t[59] == 0x82 && t[60] == len - 60 &&
		   memcmp(t + 61, "COM1", 4) == 0,
	   "DSDT: Device (COM1) spans the rest of the scope");
	mem_free(&gm);
}

static void
test_x2apic(void)
{
	struct guest_mem gm = mem_new(64 * MIB);
	struct acpi_mem_range mem = { 0, 64 * MIB };
	struct acpi_desc d = {
		.vcpus = 300, .ioapic_id = 0, .ndomains = 1, .mem = &mem
	};
	uint64_t rsdp;
	const uint8_t *m, *e, *s;
	int ok_ids = 1, nx = 0, nl = 0;

	is_int(acpi_build(&gm, &d, &rsdp, NULL, 0), 0, "build for 300 vCPUs");
	m = find_table(&gm, rsdp, "APIC");
	ok(acpi_sum(m, le32(m + 4)) == 0, "MADT checksum, 300 vCPUs");
	is_int(madt_count(m, 0, NULL), 255, "255 local APIC entries (0-254)");
	is_int(madt_count(m, 9, &e), 45, "45 local x2APIC entries");
	for (int i = 0; i < 45; i++)
		if (e[i * 16 + 1] != 16 || le32(e + i * 16 + 4) != 255u + i ||
		    le32(e + i * 16 + 12) != 255u + i ||
		    le32(e + i * 16 + 8) != 1)
			ok_ids = 0;
	ok(ok_ids, "x2APIC ids and UIDs 255..299, enabled");
	is_int(madt_count(m, 10, &e), 1, "one x2APIC NMI entry");
	ok(le32(e + 4) == 0xFFFFFFFF && e[8] == 1,
	   "x2APIC NMI: all processors, LINT1");

	s = find_table(&gm, rsdp, "SRAT");
	ok(s && acpi_sum(s, le32(s + 4)) == 0, "SRAT checksum, 300 vCPUs");
	for (uint32_t off = 48; s && off < le32(s + 4); off += s[off + 1]) {
		if (s[off] == 0)
			nl++;
		if (s[off] == 2 && le32(s + off + 8) >= 255)
			nx++;
	}
	ok(nl == 255 && nx == 45,
	   "SRAT: 255 APIC and 45 x2APIC affinity entries (%d, %d)", nl, nx);
	mem_free(&gm);
}

struct srat_sum {
	int cpus[8];
	uint64_t mem[8];
	int mem_entries;
	uint64_t gpa[8], len[8];
	int dom[8];
	uint32_t flags[8];
};

static void
srat_scan(const uint8_t *s, struct srat_sum *sum)
{
	memset(sum, 0, sizeof(*sum));
	for (uint32_t off = 48; off + 2 <= le32(s + 4) && s[off + 1];
	     off += s[off + 1]) {
		if (s[off] == 0) {
			uint32_t dom = s[off + 2] | (uint32_t)s[off + 9] << 8;

			if (dom < 8 && (le32(s + off + 4) & 1))
				sum->cpus[dom]++;
		} else if (s[off] == 1) {
			uint32_t dom = le32(s + off + 2);
			int i = sum->mem_entries++;

			if (dom < 8)
				sum->mem[dom] += boot_le64(s + off + 16);
			if (i < 8) {
				sum->gpa[i] = boot_le64(s + off + 8);
				sum->len[i] = boot_le64(s + off + 16);
				sum->dom[i] = (int)dom;
				sum->flags[i] = le32(s + off + 28);
			}
		}
	}
}

static void
test_numa1(void)
{
	struct guest_mem gm = mem_new(512 * MIB);
	struct acpi_mem_range mem = { 0, 512 * MIB };
	struct acpi_desc d = {
		.vcpus = 2, .ioapic_id = 2, .ndomains = 1, .mem = &mem
	};
	struct srat_sum sum;
	uint64_t rsdp;
	uint8_t *s, *l;

	is_int(acpi_build(&gm, &d, &rsdp, NULL, 0), 0, "build, 1 domain");
	check_header(&gm, rsdp, "SRAT", 3, 48 + 2 * 16 + 40);
	check_header(&gm, rsdp, "SLIT", 1, 36 + 8 + 1);
	s = find_table(&gm, rsdp, "SRAT");
	l = find_table(&gm, rsdp, "SLIT");
	srat_scan(s, &sum);
	ok(sum.cpus[0] == 2 && sum.mem_entries == 1 && sum.gpa[0] == 0 &&
		   sum.len[0] == 512 * MIB && sum.dom[0] == 0,
	   "SRAT: 2 vCPUs and 512 MiB at 0 in domain 0");
	is_int(sum.flags[0], 1, "SRAT memory: enabled, not hot-pluggable");
	ok(boot_le64(l + 36) == 1 && l[44] == 10, "SLIT: 1 locality, 10");
	is_int(le32(l + 4), 45, "SLIT length 36 + 8 + 1");
	mem_free(&gm);
}

static void
test_numa3(void)
{
	/* 5 GiB over 3 domains; domain 1 crosses the hole at 3 GiB. */
	struct guest_mem gm = mem_new(5 * GIB);
	struct acpi_mem_range mem[3] = { { 0, 2 * GIB },
					 { 2 * GIB, 2 * GIB },
					 { 4 * GIB, 1 * GIB } };
	static const uint32_t vdom[6] = { 0, 0, 1, 1, 2, 2 };
	static const uint8_t dist[9] = { 10, 21, 31, 21, 10, 21, 31, 21, 10 };
	struct acpi_desc d = { .vcpus = 6,
			       .ioapic_id = 6,
			       .ndomains = 3,
			       .vcpu_domain = vdom,
			       .mem = mem,
			       .distance = dist };
	struct srat_sum sum;
	uint64_t rsdp;
	uint8_t *s, *l;
	int slit_ok = 1, aff_ok = 1;

	is_int(acpi_build(&gm, &d, &rsdp, NULL, 0), 0, "build, 3 domains");
	check_header(&gm, rsdp, "SRAT", 3, 48);
	check_header(&gm, rsdp, "SLIT", 1, 36 + 8 + 9);
	s = find_table(&gm, rsdp, "SRAT");
	l = find_table(&gm, rsdp, "SLIT");
	srat_scan(s, &sum);
	ok(sum.cpus[0] == 2 && sum.cpus[1] == 2 && sum.cpus[2] == 2,
	   "SRAT: 2 vCPUs in each domain");
	for (uint32_t off = 48, k = 0; off < le32(s + 4); off += s[off + 1])
		if (s[off] == 0 && (s[off + 3] != k || s[off + 2] != vdom[k++]))
			aff_ok = 0;
	ok(aff_ok, "SRAT: APIC id k in domain vcpu_domain[k]");
	is_int(sum.mem_entries, 4, "SRAT: 4 memory entries (one split)");
	ok(sum.gpa[0] == 0 && sum.len[0] == 2 * GIB && sum.dom[0] == 0,
	   "domain 0: [0, 2 GiB)");
	ok(sum.gpa[1] == 2 * GIB && sum.len[1] == GIB && sum.dom[1] == 1,
	   "domain 1: [2 GiB, 3 GiB)");
	ok(sum.gpa[2] == 4 * GIB && sum.len[2] == GIB && sum.dom[2] == 1,
	   "domain 1: [4 GiB, 5 GiB) above the hole");
	ok(sum.gpa[3] == 5 * GIB && sum.len[3] == GIB && sum.dom[3] == 2,
	   "domain 2: [5 GiB, 6 GiB)");
	ok(boot_le64(l + 36) == 3, "SLIT: 3 localities");
	for (int i = 0; i < 9; i++)
		if (l[44 + i] != dist[i])
			slit_ok = 0;
	ok(slit_ok, "SLIT: the distance matrix, row-major");

	/* Default distances: 10 local, 20 remote. */
	d.distance = NULL;
	is_int(acpi_build(&gm, &d, &rsdp, NULL, 0), 0, "build, default SLIT");
	l = find_table(&gm, rsdp, "SLIT");
	ok(l[44] == 10 && l[45] == 20 && l[48] == 10 && l[52] == 10 &&
		   l[50] == 20,
	   "SLIT defaults 10/20");
	mem_free(&gm);
}

static void
test_errors(void)
{
	struct guest_mem gm = mem_new(64 * MIB), tiny = mem_new(512 * 1024);
	struct acpi_mem_range mem[2] = { { 0, 32 * MIB }, { 16 * MIB, MIB } };
	uint32_t vdom[2] = { 0, 5 };
	uint8_t dist[4] = { 10, 20, 20, 11 };
	struct acpi_desc d = { .vcpus = 0 };
	uint64_t rsdp;
	char err[256];

	errno = 0;
	ok(acpi_build(&gm, &d, &rsdp, err, sizeof(err)) < 0 && errno == EINVAL,
	   "no vCPUs: EINVAL (%s)", err);
	d.vcpus = 2;
	d.ndomains = 2;
	d.mem = mem;
	d.vcpu_domain = vdom;
	ok(acpi_build(&gm, &d, &rsdp, err, sizeof(err)) < 0 &&
		   errno == EINVAL && strstr(err, "vCPU 1 is in domain 5"),
	   "vCPU in a missing domain (%s)", err);
	vdom[1] = 1;
	ok(acpi_build(&gm, &d, &rsdp, err, sizeof(err)) < 0 &&
		   strstr(err, "overlap"),
	   "overlapping domain memory (%s)", err);
	mem[1].start = 32 * MIB;
	mem[1].size = 64 * MIB;
	ok(acpi_build(&gm, &d, &rsdp, err, sizeof(err)) < 0 &&
		   strstr(err, "beyond guest RAM"),
	   "domain memory beyond RAM (%s)", err);
	mem[1].size = 32 * MIB;
	d.distance = dist;
	ok(acpi_build(&gm, &d, &rsdp, err, sizeof(err)) < 0 &&
		   strstr(err, "distance 1 -> 1 is 11"),
	   "bad SLIT diagonal (%s)", err);
	dist[3] = 10;
	dist[1] = 9;
	ok(acpi_build(&gm, &d, &rsdp, err, sizeof(err)) < 0 &&
		   strstr(err, "distance 0 -> 1 is 9"),
	   "SLIT distance below 10 (%s)", err);
	dist[1] = 20;
	is_int(acpi_build(&gm, &d, &rsdp, err, sizeof(err)), 0,
	       "fixed description builds (%s)", err);
	d.ndomains = ACPI_MAX_DOMAINS + 1;
	ok(acpi_build(&gm, &d, &rsdp, err, sizeof(err)) < 0 && errno == EINVAL,
	   "too many domains (%s)", err);

	d = (struct acpi_desc){ .vcpus = 10000 };
	ok(acpi_build(&gm, &d, &rsdp, err, sizeof(err)) < 0 && errno == E2BIG,
	   "10000 vCPUs do not fit below 1 MiB: E2BIG (%s)", err);
	d.vcpus = 2048;
	is_int(acpi_build(&gm, &d, &rsdp, err, sizeof(err)), 0,
	       "2048 vCPUs fit (%s)", err);
	d.vcpus = 1;
	ok(acpi_build(&tiny, &d, &rsdp, err, sizeof(err)) < 0 &&
		   errno == ENOMEM,
	   "guest RAM below 1 MiB: ENOMEM (%s)", err);
	mem_free(&gm);
	mem_free(&tiny);
}

/* --- the DSDT, read back ------------------------------------------------ */

/*
 * A small AML reader for what the DSDT holds: Name, Scope and Device
 * terms; Zero, One, Byte/Word/DWord/QWord, String, Buffer and Package
 * data.  Each PkgLength must be in its shortest form (as iasl writes it)
 * with its reserved bits clear and end inside its parent, and the terms
 * must fill the table to its last byte.
 */
struct aml_dev {
	char name[5];
	int hid_str; /* _HID is a String; else an EisaId DWord */
	char hid[16];
	uint64_t hid_eisa;
	int has_uid;
	uint64_t uid;
	const uint8_t *crs; /* the _CRS Buffer's bytes */
	uint32_t crs_len;
};

struct aml_walk {
	const uint8_t *t; /* the table, for offsets in messages */
	struct aml_dev dev[ACPI_VMMIO_MAX + 4];
	int ndev;
	int nscope;    /* Scope (\_SB) terms */
	int s5;	       /* Name (\_S5, Package (4) { 5, 5, 0, 0 }) seen */
	int pkg_long;  /* PkgLengths of 2 bytes or more */
	char why[160]; /* the first thing it could not read; "": none */
};

struct aml_obj {
	int type;	     /* 'i'nteger, 's'tring, 'b'uffer, 'p'ackage */
	uint64_t v;	     /* the integer; a package's element count */
	const uint8_t *data; /* a string's or a buffer's bytes */
	uint32_t len;
	uint64_t el[4]; /* a package's first integer elements */
};

static int __attribute__((format(printf, 3, 4)))
aml_bad(struct aml_walk *w, const uint8_t *p, const char *fmt, ...)
{
	char msg[128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (!w->why[0])
		snprintf(w->why, sizeof(w->why), "%s at offset %ld", msg,
			 (long)(p - w->t));
	return -1;
}

/* Reads the PkgLength at *p, moves *p past it; returns its package's end,
 * or NULL. */
static const uint8_t *
aml_pkg(struct aml_walk *w, const uint8_t **p, const uint8_t *end)
{
	const uint8_t *s = *p;
	uint32_t len, body;
	int n, k;

	if (s >= end || s + 1 + (s[0] >> 6) > end) {
		aml_bad(w, s, "PkgLength cut off");
		return NULL;
	}
	n = s[0] >> 6; /* bytes after the lead byte */
	if (n == 0) {
		len = s[0] & 0x3F;
	} else {
		if (s[0] & 0x30) {
			aml_bad(w, s, "PkgLength lead 0x%02x: bits 4-5 set",
				s[0]);
			return NULL;
		}
		len = s[0] & 0xF;
		for (int i = 0; i < n; i++)
			len |= (uint32_t)s[1 + i] << (4 + 8 * i);
		w->pkg_long++;
	}
	if (len < (uint32_t)n + 1 || len > (uint64_t)(end - s)) {
		aml_bad(w, s, "PkgLength %u outside its parent", len);
		return NULL;
	}
	/* The shortest form: 1 byte holds up to 63, 2 up to 4095, ... */
	body = len - 1 - (uint32_t)n;
	for (k = 1; k < 4; k++)
		if (body + k < (k == 1 ? 0x40u : 1u << (4 + 8 * (k - 1))))
			break;
	if (k != n + 1) {
		aml_bad(w, s, "PkgLength %u in %d bytes, not %d", len, n + 1,
			k);
		return NULL;
	}
	*p = s + 1 + n;
	return s + len;
}

/* A NameString: a NameSeg, perhaps after the root prefix. */
static int
aml_name(struct aml_walk *w, const uint8_t **p, const uint8_t *end,
	 char name[6])
{
	const uint8_t *s = *p;
	int root = s < end && *s == '\\';

	if (s + root + 4 > end)
		return aml_bad(w, s, "name cut off");
	for (int i = 0; i < 4; i++) {
		uint8_t c = s[root + i];

		if (!((c >= 'A' && c <= 'Z') || c == '_' ||
		      (i > 0 && c >= '0' && c <= '9')))
			return aml_bad(w, s, "bad name character 0x%02x", c);
	}
	memcpy(name, s, (size_t)root + 4);
	name[root + 4] = '\0';
	*p = s + root + 4;
	return 0;
}

static int
aml_data(struct aml_walk *w, const uint8_t **pp, const uint8_t *end,
	 struct aml_obj *o)
{
	const uint8_t *p = *pp, *e, *z;
	struct aml_obj size, el;
	int n;

	memset(o, 0, sizeof(*o));
	if (p >= end)
		return aml_bad(w, p, "data cut off");
	switch (*p++) {
	case 0x00:
	case 0x01:
		o->type = 'i';
		o->v = p[-1];
		break;
	case 0x0A:
	case 0x0B:
	case 0x0C:
	case 0x0E:
		n = p[-1] == 0x0A   ? 1
		    : p[-1] == 0x0B ? 2
		    : p[-1] == 0x0C ? 4
				    : 8;
		if (p + n > end)
			return aml_bad(w, p, "integer cut off");
		o->type = 'i';
		for (int i = 0; i < n; i++)
			o->v |= (uint64_t)p[i] << (8 * i);
		p += n;
		break;
	case 0x0D:
		z = memchr(p, 0, (size_t)(end - p));
		if (!z)
			return aml_bad(w, p, "string without its NUL");
		o->type = 's';
		o->data = p;
		o->len = (uint32_t)(z - p);
		p = z + 1;
		break;
	case 0x11:
		if (!(e = aml_pkg(w, &p, end)) || aml_data(w, &p, e, &size))
			return -1;
		if (size.type != 'i' || size.v != (uint64_t)(e - p))
			return aml_bad(w, p, "Buffer size %llu for %ld bytes",
				       (unsigned long long)size.v,
				       (long)(e - p));
		o->type = 'b';
		o->data = p;
		o->len = (uint32_t)(e - p);
		p = e;
		break;
	case 0x12:
		if (!(e = aml_pkg(w, &p, end)) || p >= e)
			return -1;
		o->type = 'p';
		o->v = *p++;
		for (n = 0; p < e; n++) {
			if (aml_data(w, &p, e, &el))
				return -1;
			if (n < 4 && el.type == 'i')
				o->el[n] = el.v;
		}
		if ((uint64_t)n != o->v)
			return aml_bad(w, p, "Package (%llu) with %d elements",
				       (unsigned long long)o->v, n);
		break;
	default:
		return aml_bad(w, p - 1, "unknown data opcode 0x%02x", p[-1]);
	}
	*pp = p;
	return 0;
}

/* The terms of [p, end): at the root (in_sb 0), in \_SB (1), or in
 * device dev. */
static int
aml_terms(struct aml_walk *w, const uint8_t *p, const uint8_t *end, int in_sb,
	  struct aml_dev *dev)
{
	while (p < end) {
		const uint8_t *at = p, *e;
		struct aml_obj o;
		struct aml_dev *d;
		char name[6];

		if (*p == 0x08) { /* Name */
			p++;
			if (aml_name(w, &p, end, name) ||
			    aml_data(w, &p, end, &o))
				return -1;
			if (!dev && !in_sb && strcmp(name, "\\_S5_") == 0 &&
			    o.type == 'p') {
				w->s5 = o.v == 4 && o.el[0] == 5 &&
					o.el[1] == 5 && o.el[2] == 0 &&
					o.el[3] == 0;
			} else if (dev && strcmp(name, "_HID") == 0) {
				dev->hid_str = o.type == 's';
				if (o.type == 's' && o.len < sizeof(dev->hid))
					memcpy(dev->hid, o.data, o.len);
				dev->hid_eisa = o.type == 'i' ? o.v : 0;
			} else if (dev && strcmp(name, "_UID") == 0 &&
				   o.type == 'i') {
				dev->has_uid = 1;
				dev->uid = o.v;
			} else if (dev && strcmp(name, "_CRS") == 0 &&
				   o.type == 'b') {
				dev->crs = o.data;
				dev->crs_len = o.len;
			} else {
				return aml_bad(w, at, "unexpected Name (%s)",
					       name);
			}
		} else if (*p == 0x10 && !in_sb && !dev) { /* Scope */
			p++;
			if (!(e = aml_pkg(w, &p, end)) ||
			    aml_name(w, &p, e, name))
				return -1;
			if (strcmp(name, "\\_SB_") != 0)
				return aml_bad(w, at, "Scope (%s)", name);
			w->nscope++;
			if (aml_terms(w, p, e, 1, NULL))
				return -1;
			p = e;
		} else if (p + 1 < end && p[0] == 0x5B && p[1] == 0x82 &&
			   in_sb && !dev) { /* Device */
			p += 2;
			if (!(e = aml_pkg(w, &p, end)) ||
			    aml_name(w, &p, e, name))
				return -1;
			if (name[0] == '\\' ||
			    w->ndev ==
				    (int)(sizeof(w->dev) / sizeof(w->dev[0])))
				return aml_bad(w, at, "Device (%s)", name);
			d = &w->dev[w->ndev++];
			memcpy(d->name, name, 5);
			if (aml_terms(w, p, e, 1, d))
				return -1;
			p = e;
		} else {
			return aml_bad(w, at, "unexpected opcode 0x%02x", *p);
		}
	}
	return 0;
}

/* Reads the DSDT t into *w; returns 0, or -1 with w->why. */
static int
aml_read(struct aml_walk *w, const uint8_t *t)
{
	memset(w, 0, sizeof(*w));
	w->t = t;
	return aml_terms(w, t + 36, t + le32(t + 4), 0, NULL);
}

/* One _CRS's resource descriptors, decoded. */
struct crs {
	int nmem, nirq, nother, end_last, bad;
	uint8_t mem_info, irq_flags, irq_count, end_sum;
	uint32_t base, size, gsi;
};

static void
crs_read(const uint8_t *p, uint32_t len, struct crs *c)
{
	memset(c, 0, sizeof(*c));
	for (uint32_t off = 0; off < len && !c->end_last;) {
		uint8_t b = p[off];
		uint32_t hl = b & 0x80 ? 3 : 1, dl;
		const uint8_t *d = p + off + hl;

		if (off + hl > len) {
			c->bad = 1;
			return;
		}
		dl = b & 0x80 ? boot_le16(p + off + 1) : b & 7u;
		if (off + hl + dl > len) {
			c->bad = 1;
			return;
		}
		if (b == 0x86 && dl == 9) { /* Memory32Fixed */
			c->nmem++;
			c->mem_info = d[0];
			c->base = le32(d + 1);
			c->size = le32(d + 5);
		} else if (b == 0x89 && dl >= 6) { /* Extended Interrupt */
			c->nirq++;
			c->irq_flags = d[0];
			c->irq_count = d[1];
			c->gsi = le32(d + 2);
			if (dl != 2 + 4u * d[1])
				c->bad = 1;
		} else if (b == 0x79) { /* End Tag */
			c->end_last = off + hl + dl == len;
			c->end_sum = d[0];
		} else {
			c->nother++;
		}
		off += hl + dl;
	}
}

/*
 * Checks w->dev[first..] against v[0..n): one check per property over all
 * n devices, printing the first device that has it wrong.
 */
static void
check_vmmio_devs(const struct aml_walk *w, int first,
		 const struct acpi_vmmio *v, uint32_t n, const char *what)
{
	enum {
		P_NAME,
		P_HID,
		P_UID,
		P_MEM,
		P_IRQ,
		P_CONSUMER,
		P_LEVEL,
		P_HIGH,
		P_EXCL,
		P_END,
		P_N
	};
	static const char *const prop[P_N] = {
		"Device (VRnn), nn the index in hex, in order",
		"_HID is the String \"LNRO0005\"",
		"_UID is the index",
		"_CRS Memory32Fixed (ReadWrite, base, size)",
		"_CRS one Extended Interrupt, the gsi",
		"interrupt: ResourceConsumer",
		"interrupt: Level",
		"interrupt: ActiveHigh",
		"interrupt: Exclusive, not wake-capable",
		"_CRS nothing else, End Tag last",
	};
	int bad[P_N];
	char diag[P_N][128];

	for (int k = 0; k < P_N; k++)
		bad[k] = -1;
	for (uint32_t i = 0; i < n; i++) {
		const struct aml_dev *d = &w->dev[first + (int)i];
		char want[5];
		struct crs c;
		int fail[P_N] = { 0 };

		if (first + (int)i >= w->ndev) {
			for (int k = 0; k < P_N; k++)
				fail[k] = 1;
			memset(&c, 0, sizeof(c));
		} else {
			crs_read(d->crs, d->crs ? d->crs_len : 0, &c);
		}
		snprintf(want, sizeof(want), "VR%02X", i & 0xFF);
		fail[P_NAME] |= strcmp(d->name, want) != 0;
		fail[P_HID] |= !d->hid_str || strcmp(d->hid, "LNRO0005") != 0;
		fail[P_UID] |= !d->has_uid || d->uid != i;
		fail[P_MEM] |= c.nmem != 1 || !(c.mem_info & 1) ||
			       c.base != v[i].base || c.size != v[i].size;
		fail[P_IRQ] |=
			c.nirq != 1 || c.irq_count != 1 || c.gsi != v[i].gsi;
		fail[P_CONSUMER] |= !(c.irq_flags & 1);
		fail[P_LEVEL] |= (c.irq_flags & 2) != 0;
		fail[P_HIGH] |= (c.irq_flags & 4) != 0;
		fail[P_EXCL] |= (c.irq_flags & 0x18) != 0;
		fail[P_END] |=
			c.bad || c.nother || !c.end_last || c.end_sum != 0;
		for (int k = 0; k < P_N; k++) {
			if (!fail[k] || bad[k] >= 0)
				continue;
			bad[k] = (int)i;
			snprintf(diag[k], sizeof(diag[k]),
				 "%s: hid '%s' uid %llu mem %d 0x%x+0x%x "
				 "(rw %d) irq %d flags 0x%02x gsi %u",
				 d->name, d->hid, (unsigned long long)d->uid,
				 c.nmem, c.base, c.size, c.mem_info & 1, c.nirq,
				 c.irq_flags, c.gsi);
		}
	}
	for (int k = 0; k < P_N; k++)
		if (!ok(bad[k] < 0, "%s: %s", what, prop[k]))
			printf("#   device %d: %s\n", bad[k], diag[k]);
}

/* The DSDT's body before virtio-mmio devices, with COM1. */
static const uint8_t dsdt_com1_body[] = {
	0x08, 0x5c, 0x5f, 0x53, 0x35, 0x5f, 0x12, 0x08, 0x04, 0x0a, 0x05, 0x0a,
	0x05, 0x00, 0x00, 0x10, 0x33, 0x5c, 0x5f, 0x53, 0x42, 0x5f, 0x5b, 0x82,
	0x2b, 0x43, 0x4f, 0x4d, 0x31, 0x08, 0x5f, 0x48, 0x49, 0x44, 0x0c, 0x41,
	0xd0, 0x05, 0x01, 0x08, 0x5f, 0x55, 0x49, 0x44, 0x01, 0x08, 0x5f, 0x43,
	0x52, 0x53, 0x11, 0x10, 0x0a, 0x0d, 0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03,
	0x01, 0x08, 0x22, 0x10, 0x00, 0x79, 0x00,
};

/* Builds *d into gm; returns the DSDT, or NULL after a failed check. */
static uint8_t *
dsdt_of(struct guest_mem *gm, const struct acpi_desc *d, const char *what)
{
	uint64_t rsdp;
	char err[256] = "";
	uint8_t *t;

	if (!ok(acpi_build(gm, d, &rsdp, err, sizeof(err)) == 0,
		"%s: builds (%s)", what, err))
		return NULL;
	t = find_table(gm, rsdp, "DSDT");
	if (!ok(t && acpi_sum(t, le32(t + 4)) == 0, "%s: DSDT checksum", what))
		return NULL;
	return t;
}

static void
test_dsdt_none(void)
{
	struct guest_mem gm = mem_new(16 * MIB);
	struct acpi_vmmio v = { 0xD0000000, 0x200, 16 };
	struct acpi_desc d = { .vcpus = 1, .vmmio = &v, .nvmmio = 0 };
	struct aml_walk w;
	uint8_t *t;

	/* No devices, no COM1: \_S5 alone, as before (test_basic). */
	if ((t = dsdt_of(&gm, &d, "no devices"))) {
		ok(le32(t + 4) == 36 + 15 &&
			   memcmp(t + 36, dsdt_com1_body, 15) == 0,
		   "no devices: the DSDT is the \\_S5 package alone");
		ok(aml_read(&w, t) == 0 && w.s5 && w.nscope == 0 && w.ndev == 0,
		   "no devices: read back, \\_S5, no Scope (%s)", w.why);
	}

	/* COM1 alone: the bytes the DSDT had before virtio-mmio devices. */
	d.flags = ACPI_F_COM1;
	if ((t = dsdt_of(&gm, &d, "COM1, no devices"))) {
		ok(le32(t + 4) == 36 + sizeof(dsdt_com1_body) &&
			   memcmp(t + 36, dsdt_com1_body,
				  sizeof(dsdt_com1_body)) == 0,
		   "COM1, no devices: the DSDT is byte for byte as before");
		ok(aml_read(&w, t) == 0 && w.s5 && w.nscope == 1 &&
			   w.ndev == 1 && strcmp(w.dev[0].name, "COM1") == 0 &&
			   !w.dev[0].hid_str &&
			   w.dev[0].hid_eisa == 0x0105D041 && w.dev[0].uid == 1,
		   "COM1: read back, EisaId (\"PNP0501\"), _UID 1 (%s)", w.why);
	}
	mem_free(&gm);
}

static void
test_dsdt_vmmio1(void)
{
	struct guest_mem gm = mem_new(16 * MIB);
	struct acpi_vmmio v = { 0xD0000000, 0x200, 16 };
	struct acpi_desc d = { .vcpus = 1, .vmmio = &v, .nvmmio = 1 };
	struct aml_walk w;
	uint32_t len;
	uint8_t *t;

	if (!(t = dsdt_of(&gm, &d, "1 device")))
		goto out;
	len = le32(t + 4);
	if (!ok(aml_read(&w, t) == 0,
		"1 device: read back to the table's end (%s)", w.why))
		goto out;
	ok(w.s5 && w.nscope == 1 && w.ndev == 1,
	   "1 device: \\_S5, one Scope (\\_SB), one Device (%d, %d)", w.nscope,
	   w.ndev);
	check_vmmio_devs(&w, 0, &v, 1, "1 device");
	/* The Scope's body is 65 bytes: a 2-byte PkgLength to the end of
	 * the table; the Device's fits in one byte. */
	ok(t[51] == 0x10 && t[52] >> 4 == 0x4 &&
		   ((t[52] & 0xFu) | (uint32_t)t[53] << 4) == len - 52 &&
		   memcmp(t + 54, "\\_SB_", 5) == 0,
	   "1 device: Scope (\\_SB) has a 2-byte PkgLength to the end "
	   "(0x%02x 0x%02x, %u)",
	   t[52], t[53], len - 52);
	ok(t[59] == 0x5B && t[60] == 0x82 && t[61] == len - 61 &&
		   memcmp(t + 62, "VR00", 4) == 0,
	   "1 device: Device (VR00) has a 1-byte PkgLength to the end");
out:
	mem_free(&gm);
}

/* 16 devices after COM1, with the last page ending at 4 GiB and every
 * GSI of 16-23. */
static void
vmmio16(struct acpi_vmmio *v)
{
	for (uint32_t i = 0; i < ACPI_VMMIO_MAX; i++)
		v[i] = (struct acpi_vmmio){ 0xD0000000ULL + 0x1000ULL * i,
					    0x200 + 0x100 * (i % 3),
					    16 + i % 8 };
	v[ACPI_VMMIO_MAX - 1].base = 0xFFFFF000;
	v[ACPI_VMMIO_MAX - 1].size = 0x1000;
}

static void
test_dsdt_vmmio16(void)
{
	struct guest_mem gm = mem_new(16 * MIB);
	struct acpi_vmmio v[ACPI_VMMIO_MAX];
	struct acpi_desc d = { .vcpus = 1,
			       .flags = ACPI_F_COM1,
			       .vmmio = v,
			       .nvmmio = ACPI_VMMIO_MAX };
	struct aml_walk w;
	uint8_t *t;

	vmmio16(v);
	if (!(t = dsdt_of(&gm, &d, "COM1 and 16 devices")))
		goto out;
	if (!ok(aml_read(&w, t) == 0,
		"16 devices: read back to the table's end, every PkgLength "
		"in its shortest form (%s)",
		w.why))
		goto out;
	ok(w.s5 && w.nscope == 1 && w.ndev == 17 &&
		   strcmp(w.dev[0].name, "COM1") == 0,
	   "16 devices: one Scope (\\_SB) with COM1 first, 17 Devices (%d, "
	   "%d)",
	   w.nscope, w.ndev);
	ok(w.pkg_long == 1 && t[51] == 0x10 && t[52] >> 6 == 1,
	   "16 devices: the Scope's PkgLength (%u bytes) has 2 bytes, the "
	   "rest 1",
	   le32(t + 4) - 52);
	check_vmmio_devs(&w, 1, v, ACPI_VMMIO_MAX, "16 devices");
out:
	mem_free(&gm);
}

static void
test_dsdt_errors(void)
{
	struct guest_mem gm = mem_new(16 * MIB);
	struct acpi_vmmio v[ACPI_VMMIO_MAX + 1];
	struct acpi_desc d = { .vcpus = 1, .vmmio = v };
	uint64_t rsdp;
	char err[256];

	vmmio16(v);
	v[ACPI_VMMIO_MAX] = v[0];
	d.nvmmio = ACPI_VMMIO_MAX + 1;
	errno = 0;
	ok(acpi_build(&gm, &d, &rsdp, err, sizeof(err)) < 0 &&
		   errno == EINVAL && strstr(err, "17 virtio-mmio devices"),
	   "17 devices: EINVAL (%s)", err);
	d.nvmmio = 2;
	v[1].gsi = ACPI_IOAPIC_PINS;
	errno = 0;
	ok(acpi_build(&gm, &d, &rsdp, err, sizeof(err)) < 0 &&
		   errno == EINVAL && strstr(err, "device 1 gsi 24"),
	   "gsi 24: EINVAL (%s)", err);
	v[1].gsi = ACPI_IOAPIC_PINS - 1;
	is_int(acpi_build(&gm, &d, &rsdp, err, sizeof(err)), 0,
	       "gsi 23 builds (%s)", err);
	v[1].base = 1ULL << 32;
	errno = 0;
	ok(acpi_build(&gm, &d, &rsdp, err, sizeof(err)) < 0 &&
		   errno == EINVAL &&
		   strstr(err, "device 1 base 0x100000000") &&
		   strstr(err, "4 GiB"),
	   "base at 4 GiB: EINVAL (%s)", err);
	v[1].base = 0xFFFFF000;
	v[1].size = 0x2000;
	errno = 0;
	ok(acpi_build(&gm, &d, &rsdp, err, sizeof(err)) < 0 &&
		   errno == EINVAL && strstr(err, "device 1 base 0xfffff000"),
	   "a page that crosses 4 GiB: EINVAL (%s)", err);
	v[1].size = 0x1000;
	is_int(acpi_build(&gm, &d, &rsdp, err, sizeof(err)), 0,
	       "a page that ends at 4 GiB builds (%s)", err);
	v[1].size = 0;
	errno = 0;
	ok(acpi_build(&gm, &d, &rsdp, err, sizeof(err)) < 0 &&
		   errno == EINVAL && strstr(err, "device 1 size 0"),
	   "size 0: EINVAL (%s)", err);
	d.vmmio = NULL;
	errno = 0;
	ok(acpi_build(&gm, &d, &rsdp, err, sizeof(err)) < 0 &&
		   errno == EINVAL && strstr(err, "without vmmio"),
	   "devices without vmmio: EINVAL (%s)", err);
	mem_free(&gm);
}

/* --- iasl ------------------------------------------------------------- */

static int __attribute__((format(printf, 1, 2))) sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* The whole file at dir/name, NUL-terminated, in malloc'd memory; *len
 * its size.  NULL when it cannot be read. */
static char *
slurp(const char *dir, const char *name, size_t *len)
{
	char path[512];
	FILE *f;
	char *buf = NULL;
	size_t n = 0, cap = 0, got;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (!(f = fopen(path, "rb")))
		return NULL;
	do {
		if (n + 4096 + 1 > cap) {
			char *nb = realloc(buf, cap = n + 65536);

			if (!nb) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = nb;
		}
		got = fread(buf + n, 1, cap - n - 1, f);
		n += got;
	} while (got > 0);
	fclose(f);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

static int
spill(const char *dir, const char *name, const void *p, size_t len)
{
	char path[512];
	FILE *f;
	int r;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (!(f = fopen(path, "wb")))
		return -1;
	r = fwrite(p, 1, len, f) == len ? 0 : -1;
	return fclose(f) || r ? -1 : 0;
}

/* ASL without its comments and white space. */
static void
asl_squeeze(char *s)
{
	char *o = s;

	while (*s) {
		if (s[0] == '/' && s[1] == '/') {
			while (*s && *s != '\n')
				s++;
		} else if (s[0] == '/' && s[1] == '*') {
			char *e = strstr(s + 2, "*/");

			s = e ? e + 2 : s + strlen(s);
		} else if (*s == ' ' || *s == '\t' || *s == '\n' ||
			   *s == '\r') {
			s++;
		} else {
			*o++ = *s++;
		}
	}
	*o = '\0';
}

static int
count_of(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

/* Device i as iasl -d writes it, squeezed. */
static void
vmmio_asl(char *buf, size_t len, uint32_t i, const struct acpi_vmmio *v)
{
	char uid[8];

	if (i <= 1)
		snprintf(uid, sizeof(uid), "%s", i ? "One" : "Zero");
	else
		snprintf(uid, sizeof(uid), "0x%02X", i);
	snprintf(buf, len,
		 "Device(VR%02X){Name(_HID,\"LNRO0005\")Name(_UID,%s)"
		 "Name(_CRS,ResourceTemplate(){Memory32Fixed(ReadWrite,"
		 "0x%08llX,0x%08X,)Interrupt(ResourceConsumer,Level,"
		 "ActiveHigh,Exclusive,,,){0x%08X,}})}",
		 i & 0xFF, uid, (unsigned long long)v->base, v->size, v->gsi);
}

/*
 * The DSDT with COM1 and 16 devices against acpica's iasl, which knows
 * AML independently of us: (1) `iasl -d` disassembles it to the ASL each
 * device should be; (2) the ASL a firmware writer would write for the
 * same devices, compiled by iasl (-on: keep the root prefixes, as we
 * write them), is our AML byte for byte after the header.
 */
static void
test_dsdt_iasl(void)
{
	struct guest_mem gm = mem_new(16 * MIB);
	struct acpi_vmmio v[ACPI_VMMIO_MAX];
	struct acpi_desc d = { .vcpus = 1,
			       .flags = ACPI_F_COM1,
			       .vmmio = v,
			       .nvmmio = ACPI_VMMIO_MAX };
	char dir[] = "/tmp/t-acpi.XXXXXX", want[512], *dsl = NULL, *asl;
	char *aml = NULL;
	size_t alen = 0, k = 0, cap = 16384;
	int found = 0, rc;
	uint8_t *t;

	if (sh("command -v iasl >/dev/null 2>&1") != 0) {
		ok(1, "# SKIP no iasl (apt-get install acpica-tools, or "
		      "make deps)");
		mem_free(&gm);
		return;
	}
	vmmio16(v);
	if (!(t = dsdt_of(&gm, &d, "iasl")) ||
	    !ok(mkdtemp(dir) != NULL, "temporary directory %s", dir))
		goto out;

	/* (1) iasl -d */
	rc = spill(dir, "dsdt.dat", t, le32(t + 4));
	if (rc == 0)
		rc = sh("cd '%s' && iasl -d dsdt.dat >iasl-d.log 2>&1", dir);
	if (ok(rc == 0 && (dsl = slurp(dir, "dsdt.dsl", NULL)) != NULL,
	       "iasl -d disassembles the DSDT (exit %d, see %s/iasl-d.log)", rc,
	       dir)) {
		asl_squeeze(dsl);
		ok(strstr(dsl, "DefinitionBlock(\"\",\"DSDT\",2,\"AVM\","
			       "\"AVMVIRT\",0x00000001)") != NULL,
		   "iasl -d: DefinitionBlock DSDT rev 2, AVM, AVMVIRT");
		is_int(count_of(dsl, "Scope(\\_SB)"), 1,
		       "iasl -d: one Scope (\\_SB)");
		is_int(count_of(dsl, "\"LNRO0005\""), ACPI_VMMIO_MAX,
		       "iasl -d: 16 LNRO0005");
		ok(strstr(dsl, "Device(COM1){Name(_HID,EisaId(\"PNP0501\"))"
			       "Name(_UID,One)") != NULL,
		   "iasl -d: Device (COM1), EisaId (\"PNP0501\")");
		for (uint32_t i = 0; i < ACPI_VMMIO_MAX; i++) {
			vmmio_asl(want, sizeof(want), i, &v[i]);
			if (strstr(dsl, want))
				found++;
			else if (found == (int)i)
				printf("#   not in the disassembly: %s\n",
				       want);
		}
		is_int(found, ACPI_VMMIO_MAX,
		       "iasl -d: each device's _HID, _UID, Memory32Fixed and "
		       "Interrupt (ResourceConsumer, Level, ActiveHigh, "
		       "Exclusive) as given");
	}

	/* (2) the same devices written in ASL, compiled by iasl */
	asl = malloc(cap);
	if (!asl)
		goto out;
	k += (size_t)snprintf(
		asl + k, cap - k,
		"DefinitionBlock (\"\", \"DSDT\", 2, \"AVM   \", \"AVMVIRT \", "
		"1)\n{\n"
		"  Name (\\_S5, Package (4) { 5, 5, 0, 0 })\n"
		"  Scope (\\_SB)\n  {\n"
		"    Device (COM1)\n    {\n"
		"      Name (_HID, EisaId (\"PNP0501\"))\n"
		"      Name (_UID, 1)\n"
		"      Name (_CRS, ResourceTemplate () {\n"
		"        IO (Decode16, 0x3F8, 0x3F8, 1, 8)\n"
		"        IRQNoFlags () { 4 }\n"
		"      })\n    }\n");
	for (uint32_t i = 0; i < ACPI_VMMIO_MAX; i++)
		k += (size_t)snprintf(
			asl + k, cap - k,
			"    Device (VR%02X)\n    {\n"
			"      Name (_HID, \"LNRO0005\")\n"
			"      Name (_UID, %u)\n"
			"      Name (_CRS, ResourceTemplate () {\n"
			"        Memory32Fixed (ReadWrite, 0x%llx, 0x%x)\n"
			"        Interrupt (ResourceConsumer, Level, "
			"ActiveHigh, Exclusive) { %u }\n"
			"      })\n    }\n",
			i & 0xFF, i, (unsigned long long)v[i].base, v[i].size,
			v[i].gsi);
	k += (size_t)snprintf(asl + k, cap - k, "  }\n}\n");
	rc = k < cap ? spill(dir, "ref.asl", asl, k) : -1;
	free(asl);
	if (rc == 0)
		rc = sh("cd '%s' && iasl -vs -on -we ref.asl >iasl.log 2>&1",
			dir);
	if (ok(rc == 0 && (aml = slurp(dir, "ref.aml", &alen)) != NULL,
	       "iasl compiles the ASL of the same devices (exit %d, see "
	       "%s/iasl.log)",
	       rc, dir)) {
		ok(alen == le32(t + 4) &&
			   memcmp(aml + 36, t + 36, alen - 36) == 0,
		   "iasl's AML for them is ours byte for byte after the header "
		   "(%zu and %u bytes)",
		   alen, le32(t + 4));
	}
	if (tap_failed == 0)
		sh("rm -rf '%s'", dir);
	else
		printf("# iasl files kept in %s\n", dir);
out:
	free(dsl);
	free(aml);
	mem_free(&gm);
}

/* The SRAT of a placement, as avm-run builds it: which APIC ids and which
 * ranges each domain has. */
static void
srat_of(struct guest_mem *gm, const struct placement_in *in,
	struct srat_sum *sum, uint32_t *apic_dom)
{
	struct placement_node p[4];
	struct acpi_mem_range mem[4];
	uint32_t vdom[8];
	struct acpi_desc d = { .vcpus = in->vcpus, .ioapic_id = in->vcpus };
	uint64_t rsdp;
	uint8_t *s;
	char why[256];

	memset(sum, 0, sizeof(*sum));
	if (!ok(placement_compute(in, p, why, sizeof(why)) == 0 &&
			acpi_numa_place(&d, p, in->nodes, vdom, mem) == 0 &&
			acpi_build(gm, &d, &rsdp, NULL, 0) == 0,
		"placed and built: %u nodes, %u vCPUs, %llu MiB", in->nodes,
		in->vcpus, (unsigned long long)(in->mem_bytes >> 20)))
		return;
	s = find_table(gm, rsdp, "SRAT");
	srat_scan(s, sum);
	for (uint32_t off = 48; off < le32(s + 4); off += s[off + 1])
		if (s[off] == 0 && s[off + 3] < 8)
			apic_dom[s[off + 3]] = s[off + 2];
}

static void
test_numa_placement(void)
{
	const uint32_t v13[2] = { 1, 3 }, v11[2] = { 1, 1 };
	const uint64_t m_uneven[2] = { 256 * MIB, 768 * MIB };
	const uint64_t m_hole[2] = { GIB, 3 * GIB };
	struct placement_in in = { .nodes = 2,
				   .vcpus = 4,
				   .mem_bytes = GIB,
				   .node_vcpus = v13,
				   .node_mem_bytes = m_uneven };
	struct guest_mem gm = mem_new(GIB);
	struct srat_sum sum;
	uint32_t dom[8] = { 9, 9, 9, 9, 9, 9, 9, 9 };
	struct placement_node p[2] = { { 0, 1, 0, 1 }, { 1, 4, 1, 1 } };
	struct acpi_mem_range mem[2];
	struct acpi_desc d = { .vcpus = 4 };

	/* Node 0: 1 vCPU and 256M; node 1: 3 vCPUs and 768M. */
	srat_of(&gm, &in, &sum, dom);
	ok(dom[0] == 0 && dom[1] == 1 && dom[2] == 1 && dom[3] == 1,
	   "uneven SRAT: APIC 0 in domain 0, APIC 1-3 in domain 1 (%u %u "
	   "%u %u)",
	   dom[0], dom[1], dom[2], dom[3]);
	is_int(sum.mem_entries, 2, "uneven SRAT: 2 memory ranges");
	ok(sum.gpa[0] == 0 && sum.len[0] == 256 * MIB && sum.dom[0] == 0,
	   "uneven SRAT: domain 0 is [0, 256M)");
	ok(sum.gpa[1] == 256 * MIB && sum.len[1] == 768 * MIB &&
		   sum.dom[1] == 1,
	   "uneven SRAT: domain 1 is [256M, 1G)");

	/* 1G over 3 nodes: the ranges end on 4 KiB pages, as the homes. */
	in = (struct placement_in){ .nodes = 3, .vcpus = 3, .mem_bytes = GIB };
	srat_of(&gm, &in, &sum, dom);
	ok(sum.mem_entries == 3 && sum.gpa[1] == 87381ull * 4096 &&
		   sum.gpa[2] == 2 * 87381ull * 4096 &&
		   sum.len[2] == 87382ull * 4096 && sum.dom[2] == 2,
	   "1G over 3: domain 2 is the last 87382 pages");
	ok(dom[0] == 0 && dom[1] == 1 && dom[2] == 2,
	   "1G over 3: APIC k in domain k");
	mem_free(&gm);

	/* 1G + 3G: node 1's home crosses the hole at 3 GiB. */
	gm = mem_new(4 * GIB);
	in = (struct placement_in){ .nodes = 2,
				    .vcpus = 2,
				    .mem_bytes = 4 * GIB,
				    .node_vcpus = v11,
				    .node_mem_bytes = m_hole };
	srat_of(&gm, &in, &sum, dom);
	ok(sum.mem_entries == 3 && sum.gpa[0] == 0 && sum.len[0] == GIB &&
		   sum.gpa[1] == GIB && sum.len[1] == 2 * GIB &&
		   sum.dom[1] == 1 && sum.gpa[2] == 4 * GIB &&
		   sum.len[2] == GIB && sum.dom[2] == 1,
	   "1G + 3G: domain 1 is [1G, 3G) and [4G, 5G)");
	mem_free(&gm);

	/* A placement that does not fit the vCPUs is refused. */
	errno = 0;
	ok(acpi_numa_place(&d, p, 2, dom, mem) == -1 && errno == EINVAL,
	   "vCPUs beyond d->vcpus: EINVAL");
	ok(acpi_numa_place(&d, p, 0, dom, mem) == -1, "no nodes: EINVAL");
}

int
main(void)
{
	test_basic();
	test_com1();
	test_x2apic();
	test_numa1();
	test_numa3();
	test_numa_placement();
	test_errors();
	test_dsdt_none();
	test_dsdt_vmmio1();
	test_dsdt_vmmio16();
	test_dsdt_errors();
	test_dsdt_iasl();
	return done_testing();
}
