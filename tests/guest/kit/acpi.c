/*
 * ACPI, read at CPL3 (all memory below 4 GiB is mapped user-accessible):
 * the RSDP in the EBDA or 0xe0000-0xfffff, then RSDT/XSDT, MADT (CPUs,
 * IOAPICs, ISA overrides), SRAT (NUMA node of each CPU and memory range),
 * SLIT (distances between the nodes, for the banner) and FADT (PM timer
 * port, for TSC calibration).
 */
#include "kit.h"

struct kit_ioapic kit_ioapics[KIT_MAX_IOAPICS];
unsigned kit_nioapics;
uint32_t kit_isa_gsi[16];
uint16_t kit_isa_flags[16];
unsigned kit_numa_nodes;
struct kit_range kit_numa_mem[KIT_MAX_RANGES];
unsigned kit_numa_nmem;
const uint8_t *kit_slit;
uint64_t kit_slit_nodes;
uint16_t kit_pm_timer_port;
bool kit_pm_timer_32;
char kit_acpi_notes[512];

/* Kept for the banner: the first line of the output is the program's. */
__attribute__((format(printf, 1, 2))) static void
note(const char *fmt, ...)
{
	size_t n = strlen(kit_acpi_notes);
	va_list ap;

	va_start(ap, fmt);
	kit_vsnprintf(kit_acpi_notes + n, sizeof(kit_acpi_notes) - n, fmt, ap);
	va_end(ap);
}

static uint32_t
rd32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static uint64_t
rd64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

static bool
checksum_ok(const uint8_t *p, uint32_t len)
{
	uint8_t sum = 0;

	for (uint32_t i = 0; i < len; i++)
		sum += p[i];
	return sum == 0;
}

static const uint8_t *
scan_rsdp(uint64_t start, uint64_t len)
{
	for (uint64_t a = start; a + 20 <= start + len; a += 16) {
		const uint8_t *p = kit_phys(a);

		if (memcmp(p, "RSD PTR ", 8) == 0 && checksum_ok(p, 20))
			return p;
	}
	return NULL;
}

static const uint8_t *
find_rsdp(void)
{
	uint64_t ebda = (uint64_t) * (volatile uint16_t *)kit_phys(0x40e) << 4;
	const uint8_t *p = NULL;

	if (ebda >= 0x80000 && ebda < 0xa0000)
		p = scan_rsdp(ebda, 1024);
	if (!p)
		p = scan_rsdp(0xe0000, 0x20000);
	return p;
}

/* The table at physical address a, if its signature and checksum hold. */
static const uint8_t *
table_at(uint64_t a, const char *sig)
{
	const uint8_t *t;

	if (a == 0 || a >= 0x100000000ull)
		return NULL;
	t = kit_phys(a);
	if (memcmp(t, sig, 4) != 0)
		return NULL;
	if (!checksum_ok(t, rd32(t + 4))) {
		note("kit: acpi: bad checksum in %s, ignored\n", sig);
		return NULL;
	}
	return t;
}

static const uint8_t *
find_table(const uint8_t *rsdp, const char *sig)
{
	const uint8_t *sdt = NULL;
	unsigned esize = 4;

	if (rsdp[15] >= 2 && rd64(rsdp + 24) != 0) {
		sdt = table_at(rd64(rsdp + 24), "XSDT");
		esize = 8;
	}
	if (!sdt) {
		sdt = table_at(rd32(rsdp + 16), "RSDT");
		esize = 4;
	}
	if (!sdt)
		return NULL;
	for (uint32_t off = 36; off + esize <= rd32(sdt + 4); off += esize) {
		uint64_t a = esize == 8 ? rd64(sdt + off) : rd32(sdt + off);
		const uint8_t *t = table_at(a, sig);

		if (t)
			return t;
	}
	return NULL;
}

static void
add_cpu(uint32_t apic_id)
{
	if (apic_id == kit_cpus[0].apic_id)
		return;
	if (kit_ncpus == KIT_MAX_CPUS) {
		note("kit: more than %u cpus, apic %u left out\n", KIT_MAX_CPUS,
		     apic_id);
		return;
	}
	kit_cpus[kit_ncpus++].apic_id = apic_id;
}

static void
parse_madt(const uint8_t *t)
{
	uint32_t len = rd32(t + 4);
	bool bsp_seen = false;

	if (rd32(t + 36) != KIT_LAPIC_BASE)
		kit_fail_status(KIT_EXIT_SETUP, "madt: local apic at 0x%x",
				rd32(t + 36));
	for (uint32_t off = 44; off + 2 <= len && t[off + 1] >= 2;
	     off += t[off + 1]) {
		const uint8_t *e = t + off;

		switch (e[0]) {
		case 0: /* processor local APIC */
			if (!(rd32(e + 4) & 1))
				break;
			if (e[3] == kit_cpus[0].apic_id)
				bsp_seen = true;
			add_cpu(e[3]);
			break;
		case 1: /* IOAPIC */
			if (kit_nioapics == KIT_MAX_IOAPICS)
				break;
			kit_ioapics[kit_nioapics].id = e[2];
			kit_ioapics[kit_nioapics].addr = rd32(e + 4);
			kit_ioapics[kit_nioapics].gsi_base = rd32(e + 8);
			kit_nioapics++;
			break;
		case 2: /* interrupt source override */
			if (e[2] == 0 && e[3] < 16) {
				kit_isa_gsi[e[3]] = rd32(e + 4);
				kit_isa_flags[e[3]] =
					(uint16_t)(e[8] | e[9] << 8);
			}
			break;
		case 5: /* local APIC address override */
			if (rd64(e + 4) != KIT_LAPIC_BASE)
				kit_fail_status(KIT_EXIT_SETUP,
						"madt: local apic at 0x%lx",
						rd64(e + 4));
			break;
		case 9: /* x2APIC: ids above 254, which xAPIC cannot reach */
			if (rd32(e + 8) & 1)
				note("kit: x2apic id %u left out\n",
				     rd32(e + 4));
			break;
		}
	}
	if (!bsp_seen)
		note("kit: boot cpu apic %u not in the madt\n",
		     kit_cpus[0].apic_id);
}

static void
numa_cpu(uint32_t apic_id, uint32_t node)
{
	for (unsigned i = 0; i < kit_ncpus; i++)
		if (kit_cpus[i].apic_id == apic_id)
			kit_cpus[i].node = node;
	if (node + 1 > kit_numa_nodes)
		kit_numa_nodes = node + 1;
}

static void
parse_srat(const uint8_t *t)
{
	uint32_t len = rd32(t + 4);

	for (uint32_t off = 48; off + 2 <= len && t[off + 1] >= 2;
	     off += t[off + 1]) {
		const uint8_t *e = t + off;
		struct kit_range *r;

		switch (e[0]) {
		case 0: /* processor local APIC affinity */
			if (rd32(e + 4) & 1)
				numa_cpu(e[3], e[2] | (rd32(e + 8) & 0xffffff)
							       << 8);
			break;
		case 1: /* memory affinity */
			if (!(rd32(e + 28) & 1) ||
			    kit_numa_nmem == KIT_MAX_RANGES)
				break;
			r = &kit_numa_mem[kit_numa_nmem++];
			r->node = rd32(e + 2);
			r->base = rd64(e + 8);
			r->len = rd64(e + 16);
			if (r->node + 1 > kit_numa_nodes)
				kit_numa_nodes = r->node + 1;
			break;
		case 2: /* processor x2APIC affinity */
			if (rd32(e + 12) & 1)
				numa_cpu(rd32(e + 8), rd32(e + 4));
			break;
		}
	}
}

/* The SLIT as it is in memory: localities, then the n x n matrix. */
static void
parse_slit(const uint8_t *t)
{
	uint32_t len = rd32(t + 4);
	uint64_t n = len >= 44 ? rd64(t + 36) : 0;

	if (n == 0 || n > 256 || 44 + n * n > len) {
		note("kit: acpi: slit of %lu localities in %u bytes, ignored\n",
		     n, len);
		return;
	}
	kit_slit = t + 44;
	kit_slit_nodes = n;
}

static void
parse_fadt(const uint8_t *t)
{
	uint32_t len = rd32(t + 4);
	uint32_t port = len >= 80 ? rd32(t + 76) : 0;

	if (port == 0 && len >= 220 && t[208] == 1)
		port = (uint32_t)rd64(t + 212);
	if (port == 0 || port > 0xffff)
		return;
	kit_pm_timer_port = (uint16_t)port;
	kit_pm_timer_32 = len >= 116 && (rd32(t + 112) & (1u << 8));
}

int
kit_mem_node(uint64_t addr)
{
	for (unsigned i = 0; i < kit_numa_nmem; i++)
		if (addr >= kit_numa_mem[i].base &&
		    addr - kit_numa_mem[i].base < kit_numa_mem[i].len)
			return (int)kit_numa_mem[i].node;
	return -1;
}

/*
 * Fills kit_cpus[] (CPU 0 is the boot CPU, whose apic_id is set; the
 * others in MADT order), the IOAPICs, ISA overrides and NUMA nodes.
 * Without an MADT the kit runs on the boot CPU alone.
 */
void
kit_acpi_scan(void)
{
	const uint8_t *rsdp, *t;

	for (unsigned i = 0; i < 16; i++)
		kit_isa_gsi[i] = i;
	kit_ncpus = 1;
	rsdp = find_rsdp();
	if (!rsdp) {
		note("kit: no acpi rsdp: one cpu, no ioapic\n");
		return;
	}
	t = find_table(rsdp, "APIC");
	if (t)
		parse_madt(t);
	else
		note("kit: no acpi madt: one cpu, no ioapic\n");
	t = find_table(rsdp, "SRAT");
	if (t)
		parse_srat(t);
	t = find_table(rsdp, "SLIT");
	if (t)
		parse_slit(t);
	t = find_table(rsdp, "FACP");
	if (t)
		parse_fadt(t);
}
