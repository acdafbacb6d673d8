/*
 * ACPI tables (cmd/avm-run/arch/x86/acpi.c): checksums, headers, the MADT
 * entries per vCPU, SRAT/SLIT for one and several NUMA domains, the RSDP
 * scan a guest does, and the errors of a bad description.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

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
	return done_testing();
}
