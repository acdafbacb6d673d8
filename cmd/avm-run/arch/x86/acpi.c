/*
 * ACPI table builder (ACPI 6.x layouts): RSDP rev 2, RSDT, XSDT, FACS,
 * FADT rev 6 (full hardware model with the PM block of acpi.h), a DSDT
 * of hand-assembled AML (\_S5, COM1, virtio-mmio devices), MADT, SRAT,
 * SLIT.  Each table is written in place into the area below 1 MiB, then
 * its length and checksum are filled in.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "avm/placement.h"

#include "acpi.h"
#include "boot.h"

#define HDR_LEN 36 /* the common table header */
#define CREATOR_ID "AVM "

#define MADT_REV 5
#define FADT_REV 6
#define FADT_MINOR 0
#define FADT_LEN 276
#define DSDT_REV 2 /* 64-bit AML integers */
#define SRAT_REV 3
#define SLIT_REV 1
#define XSDT_REV 1
#define RSDT_REV 1
#define FACS_LEN 64

/* MADT structure types and flags. */
#define MADT_PCAT_COMPAT 1
#define MADT_LAPIC 0
#define MADT_IOAPIC 1
#define MADT_ISO 2
#define MADT_LAPIC_NMI 4
#define MADT_X2APIC 9
#define MADT_X2APIC_NMI 10
#define MADT_ENABLED 1
#define MPS_ACTIVE_HIGH 0x1
#define MPS_EDGE 0x4
#define MPS_LEVEL 0xC

/* FADT flags and IA-PC boot architecture flags. */
#define FADT_WBINVD (1u << 0)
#define FADT_PROC_C1 (1u << 2)
#define FADT_PWR_BUTTON (1u << 4) /* no fixed-feature power button */
#define FADT_SLP_BUTTON (1u << 5) /* no fixed-feature sleep button */
#define FADT_FIX_RTC (1u << 6)	  /* no RTC wake status in PM1 */
#define FADT_RESET_REG_SUP (1u << 10)
#define BOOT_ARCH_LEGACY_DEVICES (1u << 0)
#define BOOT_ARCH_VGA_NOT_PRESENT (1u << 2)
/* Bit 1 (8042) stays clear: there is no keyboard controller. */

#define GAS_SYSTEM_IO 1

/* An x2APIC-only id: the 8-bit APIC id fields cannot hold it (0xFF is
 * the broadcast id). */
#define XAPIC_MAX_ID 254

struct area {
	struct guest_mem *gm;
	uint8_t *base; /* host address of ACPI_RSDP_ADDR */
	uint64_t used; /* bytes from ACPI_RSDP_ADDR */
	uint64_t size;
	char *err;
	size_t errlen;
	uint32_t vcpus;
};

static int __attribute__((format(printf, 3, 4)))
fail(struct area *a, int errnum, const char *fmt, ...)
{
	va_list ap;

	if (a->errlen) {
		va_start(ap, fmt);
		vsnprintf(a->err, a->errlen, fmt, ap);
		va_end(ap);
	}
	errno = errnum;
	return -1;
}

uint8_t
acpi_sum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint8_t s = 0;

	while (len--)
		s = (uint8_t)(s + *b++);
	return s;
}

/* Opens a table: aligns the cursor, returns its offset or -1. */
static int64_t
begin(struct area *a, uint64_t align)
{
	a->used = (a->used + align - 1) & ~(align - 1);
	if (a->used > a->size)
		return -1;
	return (int64_t)a->used;
}

/* Appends len zeroed bytes; returns their host address, NULL when the
 * area is full. */
static uint8_t *
put(struct area *a, uint64_t len)
{
	uint8_t *p;

	if (len > a->size - a->used)
		return NULL;
	p = a->base + a->used;
	memset(p, 0, len);
	a->used += len;
	return p;
}

static uint64_t
gpa_of(int64_t off)
{
	return ACPI_RSDP_ADDR + (uint64_t)off;
}

static int
full(struct area *a)
{
	return fail(a, E2BIG,
		    "the ACPI tables for %u vCPUs do not fit in 0x%llx-0x%llx",
		    a->vcpus, (unsigned long long)ACPI_RSDP_ADDR,
		    (unsigned long long)ACPI_AREA_END - 1);
}

/* Writes the common header of the table at off (length is set later). */
static uint8_t *
header(struct area *a, const char *sig, uint8_t rev)
{
	uint8_t *h = put(a, HDR_LEN);

	if (!h)
		return NULL;
	memcpy(h, sig, 4);
	h[8] = rev;
	memcpy(h + 10, ACPI_OEM_ID, 6);
	memcpy(h + 16, ACPI_OEM_TABLE_ID, 8);
	boot_put32(h + 24, 1); /* OEM revision */
	memcpy(h + 28, CREATOR_ID, 4);
	boot_put32(h + 32, 1); /* creator revision */
	return h;
}

/* Closes the table that starts at off: length and checksum. */
static void
finish(struct area *a, int64_t off)
{
	uint8_t *h = a->base + off;
	uint32_t len = (uint32_t)(a->used - (uint64_t)off);

	boot_put32(h + 4, len);
	h[9] = 0;
	h[9] = (uint8_t)(0x100 - acpi_sum(h, len));
}

/* --- AML ---------------------------------------------------------------- */

/*
 * A tiny AML assembler: bytes go straight into the area; a package
 * (Scope, Device, Package, Buffer) records where its body starts, and
 * pkg_end() inserts the PkgLength encoding in front of the body once
 * its size is known.
 */
static int
aml(struct area *a, const void *bytes, size_t len)
{
	uint8_t *p = put(a, len);

	if (!p)
		return -1;
	memcpy(p, bytes, len);
	return 0;
}

static int
aml_byte(struct area *a, uint8_t b)
{
	return aml(a, &b, 1);
}

static uint64_t
pkg_begin(struct area *a)
{
	return a->used;
}

static int
pkg_end(struct area *a, uint64_t start)
{
	uint64_t body = a->used - start, total;
	uint8_t enc[4];
	int k;

	/* PkgLength counts itself: 1 byte up to 63, else 2-4 bytes with
	 * the low nibble first. */
	for (k = 1; k <= 4; k++) {
		total = body + (uint64_t)k;
		if (k == 1 ? total < 0x40 : total < (1ULL << (4 + 8 * (k - 1))))
			break;
	}
	if (k > 4 || !put(a, (uint64_t)k))
		return -1;
	if (k == 1) {
		enc[0] = (uint8_t)total;
	} else {
		enc[0] = (uint8_t)((k - 1) << 6 | (total & 0xF));
		for (int i = 1; i < k; i++)
			enc[i] = (uint8_t)(total >> (4 + 8 * (i - 1)));
	}
	memmove(a->base + start + (uint64_t)k, a->base + start, body);
	memcpy(a->base + start, enc, (size_t)k);
	return 0;
}

#define AML_NAME 0x08
#define AML_BYTE 0x0A
#define AML_WORD 0x0B
#define AML_DWORD 0x0C
#define AML_STRING 0x0D
#define AML_QWORD 0x0E
#define AML_ZERO 0x00
#define AML_ONE 0x01
#define AML_SCOPE 0x10
#define AML_BUFFER 0x11
#define AML_PACKAGE 0x12
#define AML_EXT 0x5B
#define AML_DEVICE 0x82

/* EisaId("PNP0501"): three 5-bit letters and four hex digits, stored
 * big-endian in a DWord. */
static uint32_t
eisa_id(const char *id)
{
	uint32_t v = (uint32_t)((id[0] - 0x40) << 10 | (id[1] - 0x40) << 5 |
				(id[2] - 0x40));
	uint32_t prod = 0;

	for (int i = 3; i < 7; i++) {
		char ch = id[i];

		prod = prod << 4 |
		       (uint32_t)(ch <= '9' ? ch - '0'
					    : (ch | 0x20) - 'a' + 10);
	}
	return (v >> 8 & 0xFF) | (v & 0xFF) << 8 | (prod >> 8 & 0xFF) << 16 |
	       (prod & 0xFF) << 24;
}

/* An Integer in its shortest encoding, as iasl writes it. */
static int
aml_int(struct area *a, uint64_t v)
{
	static const uint8_t prefix[4] = { AML_BYTE, AML_WORD, AML_DWORD,
					   AML_QWORD };
	uint8_t b[9];
	int k = 0;

	if (v <= AML_ONE)
		return aml_byte(a, (uint8_t)v);
	while (k < 3 && v >> (8 << k))
		k++;
	b[0] = prefix[k];
	for (int i = 0; i < 1 << k; i++)
		b[1 + i] = (uint8_t)(v >> (8 * i));
	return aml(a, b, 1 + ((size_t)1 << k));
}

/* Name (seg, Buffer () { res }): a _CRS resource template, whose bytes
 * end with the end tag. */
static int
aml_name_buffer(struct area *a, const char *seg, const uint8_t *res, size_t len)
{
	uint64_t buf;

	if (aml_byte(a, AML_NAME) || aml(a, seg, 4) || aml_byte(a, AML_BUFFER))
		return -1;
	buf = pkg_begin(a);
	if (aml_int(a, len) || aml(a, res, len) || pkg_end(a, buf))
		return -1;
	return 0;
}

/* Device (COM1) { _HID EisaId ("PNP0501"), _UID 1, _CRS } */
static int
dsdt_com1(struct area *a)
{
	/* IO (Decode16, 0x3F8, 0x3F8, 1, 8), IRQNoFlags () {4}, EndTag:
	 * small resource descriptors. */
	static const uint8_t res[] = {
		0x47,
		0x01,
		ACPI_COM1_PORT & 0xFF,
		ACPI_COM1_PORT >> 8,
		ACPI_COM1_PORT & 0xFF,
		ACPI_COM1_PORT >> 8,
		0x01,
		0x08,
		0x22,
		1 << ACPI_COM1_IRQ,
		0x00,
		0x79,
		0x00,
	};
	uint64_t dev;
	uint8_t d[4];

	if (aml_byte(a, AML_EXT) || aml_byte(a, AML_DEVICE))
		return -1;
	dev = pkg_begin(a);
	boot_put32(d, eisa_id("PNP0501"));
	if (aml(a, "COM1", 4) || aml_byte(a, AML_NAME) || aml(a, "_HID", 4) ||
	    aml_byte(a, AML_DWORD) || aml(a, d, 4) || aml_byte(a, AML_NAME) ||
	    aml(a, "_UID", 4) || aml_int(a, 1) ||
	    aml_name_buffer(a, "_CRS", res, sizeof(res)) || pkg_end(a, dev))
		return -1;
	return 0;
}

/* Extended Interrupt descriptor flags (ACPI 6.5, 6.4.3.6). */
#define RES_IRQ_CONSUMER (1u << 0)
#define RES_IRQ_EDGE (1u << 1)
#define RES_IRQ_ACTIVE_LOW (1u << 2)
#define RES_IRQ_SHARED (1u << 3)

/* Device (VRnn) { _HID "LNRO0005", _UID i, _CRS }: virtio-mmio device i,
 * the one Linux's virtio_mmio driver finds through ACPI. */
static int
dsdt_vmmio(struct area *a, uint32_t i, const struct acpi_vmmio *v)
{
	/* Memory32Fixed (ReadWrite, base, size), Interrupt (ResourceConsumer,
	 * Level, ActiveHigh, Exclusive) { gsi }, EndTag. */
	uint8_t res[12 + 9 + 2] = {
		0x86, 9, 0, 1, /* Memory32Fixed, 9 bytes, read-write */
	};
	static const char hex[] = "0123456789ABCDEF";
	const char seg[4] = { 'V', 'R', hex[i >> 4 & 0xF], hex[i & 0xF] };
	uint64_t dev;

	boot_put32(res + 4, (uint32_t)v->base);
	boot_put32(res + 8, v->size);
	res[12] = 0x89; /* Extended Interrupt, 6 bytes */
	res[13] = 6;
	res[14] = 0;
	res[15] = RES_IRQ_CONSUMER; /* level, active high, exclusive */
	res[16] = 1;		    /* one interrupt */
	boot_put32(res + 17, v->gsi);
	res[21] = 0x79; /* EndTag, checksum 0: "no checksum" */
	res[22] = 0;

	if (aml_byte(a, AML_EXT) || aml_byte(a, AML_DEVICE))
		return -1;
	dev = pkg_begin(a);
	if (aml(a, seg, 4) || aml_byte(a, AML_NAME) || aml(a, "_HID", 4) ||
	    aml_byte(a, AML_STRING) || aml(a, "LNRO0005", 9) ||
	    aml_byte(a, AML_NAME) || aml(a, "_UID", 4) || aml_int(a, i) ||
	    aml_name_buffer(a, "_CRS", res, sizeof(res)) || pkg_end(a, dev))
		return -1;
	return 0;
}

static int
dsdt_body(struct area *a, const struct acpi_desc *d)
{
	uint64_t pkg, scope;

	/* Name (\_S5, Package (4) { SLP_TYPa, SLP_TYPb, 0, 0 }) */
	if (aml(a, "\x08\\_S5_", 6) || aml_byte(a, AML_PACKAGE))
		return -1;
	pkg = pkg_begin(a);
	if (aml_byte(a, 4) || aml_byte(a, AML_BYTE) ||
	    aml_byte(a, ACPI_SLP_TYP_S5) || aml_byte(a, AML_BYTE) ||
	    aml_byte(a, ACPI_SLP_TYP_S5) || aml_byte(a, AML_ZERO) ||
	    aml_byte(a, AML_ZERO) || pkg_end(a, pkg))
		return -1;
	if (!(d->flags & ACPI_F_COM1) && d->nvmmio == 0)
		return 0;

	/* Scope (\_SB) { COM1, VR00, VR01, ... } */
	if (aml_byte(a, AML_SCOPE))
		return -1;
	scope = pkg_begin(a);
	if (aml(a, "\\_SB_", 5))
		return -1;
	if ((d->flags & ACPI_F_COM1) && dsdt_com1(a))
		return -1;
	for (uint32_t i = 0; i < d->nvmmio; i++)
		if (dsdt_vmmio(a, i, &d->vmmio[i]))
			return -1;
	return pkg_end(a, scope);
}

/* --- the tables --------------------------------------------------------- */

static void
put_gas(uint8_t *g, uint8_t width, uint8_t access, uint64_t port)
{
	g[0] = GAS_SYSTEM_IO;
	g[1] = width;
	g[2] = 0;
	g[3] = access;
	boot_put64(g + 4, port);
}

static int64_t
build_facs(struct area *a)
{
	int64_t off = begin(a, 64);
	uint8_t *f;

	if (off < 0 || !(f = put(a, FACS_LEN)))
		return -1;
	memcpy(f, "FACS", 4);
	boot_put32(f + 4, FACS_LEN);
	f[32] = 2; /* version */
	return off;
}

static int64_t
build_dsdt(struct area *a, const struct acpi_desc *d)
{
	int64_t off = begin(a, 16);

	if (off < 0 || !header(a, "DSDT", DSDT_REV) || dsdt_body(a, d))
		return -1;
	finish(a, off);
	return off;
}

static int64_t
build_fadt(struct area *a, int64_t facs, int64_t dsdt)
{
	int64_t off = begin(a, 16);
	uint8_t *f;

	if (off < 0 || !header(a, "FACP", FADT_REV) ||
	    !put(a, FADT_LEN - HDR_LEN))
		return -1;
	f = a->base + off;
	/* FIRMWARE_CTRL and DSDT (32-bit) stay 0: the X_ fields hold the
	 * addresses, as ACPI 2.0+ wants when they are set. */
	boot_put16(f + 46, ACPI_SCI_IRQ);
	/* SMI_CMD (48) = 0: always in ACPI mode, no enable handshake. */
	boot_put32(f + 56, ACPI_PM1A_EVT);
	boot_put32(f + 64, ACPI_PM1A_CNT);
	boot_put32(f + 76, ACPI_PM_TMR);
	f[88] = ACPI_PM1A_EVT_LEN;
	f[89] = ACPI_PM1A_CNT_LEN;
	f[91] = ACPI_PM_TMR_LEN;
	/* No C2/C3: latencies above the limits (100, 1000 us). */
	boot_put16(f + 96, 101);
	boot_put16(f + 98, 1001);
	boot_put16(f + 109,
		   BOOT_ARCH_LEGACY_DEVICES | BOOT_ARCH_VGA_NOT_PRESENT);
	boot_put32(f + 112, FADT_WBINVD | FADT_PROC_C1 | FADT_PWR_BUTTON |
				    FADT_SLP_BUTTON | FADT_FIX_RTC |
				    FADT_RESET_REG_SUP);
	put_gas(f + 116, 8, 1, ACPI_RESET_PORT);
	f[128] = ACPI_RESET_VALUE;
	f[131] = FADT_MINOR;
	boot_put64(f + 132, gpa_of(facs));
	boot_put64(f + 140, gpa_of(dsdt));
	put_gas(f + 148, ACPI_PM1A_EVT_LEN * 8, 0, ACPI_PM1A_EVT);
	put_gas(f + 172, ACPI_PM1A_CNT_LEN * 8, 0, ACPI_PM1A_CNT);
	put_gas(f + 208, ACPI_PM_TMR_LEN * 8, 0, ACPI_PM_TMR);
	memcpy(f + 268, "AVM     ", 8); /* hypervisor vendor identity */
	finish(a, off);
	return off;
}

static int64_t
build_madt(struct area *a, const struct acpi_desc *d)
{
	int64_t off = begin(a, 16);
	int x2apic = 0;
	uint8_t *p;

	if (off < 0 || !header(a, "APIC", MADT_REV) || !(p = put(a, 8)))
		return -1;
	boot_put32(p, (uint32_t)ACPI_LAPIC_ADDR);
	boot_put32(p + 4, MADT_PCAT_COMPAT);
	for (uint32_t k = 0; k < d->vcpus; k++) {
		if (k <= XAPIC_MAX_ID) {
			if (!(p = put(a, 8)))
				return -1;
			p[0] = MADT_LAPIC;
			p[1] = 8;
			p[2] = (uint8_t)k; /* ACPI processor UID */
			p[3] = (uint8_t)k; /* APIC id */
			boot_put32(p + 4, MADT_ENABLED);
		} else {
			if (!(p = put(a, 16)))
				return -1;
			p[0] = MADT_X2APIC;
			p[1] = 16;
			boot_put32(p + 4, k); /* x2APIC id */
			boot_put32(p + 8, MADT_ENABLED);
			boot_put32(p + 12, k); /* UID */
			x2apic = 1;
		}
	}
	if (!(p = put(a, 12)))
		return -1;
	p[0] = MADT_IOAPIC;
	p[1] = 12;
	p[2] = d->ioapic_id;
	boot_put32(p + 4, (uint32_t)ACPI_IOAPIC_ADDR);
	boot_put32(p + 8, 0); /* GSI base */

	/* The PIT's IRQ 0 is wired to IOAPIC pin 2, as on every PC. */
	if (!(p = put(a, 10)))
		return -1;
	p[0] = MADT_ISO;
	p[1] = 10;
	p[3] = 0;
	boot_put32(p + 4, 2);
	boot_put16(p + 8, 0); /* conforms to the bus */

	/* The SCI: level-triggered, active high.
	 *
	 * Nothing here for the virtio-mmio devices of the DSDT: an override
	 * maps an ISA IRQ (bus 0) onto a GSI, and their GSIs 16-23 are no
	 * ISA IRQ, so the MADT has no way to say how they trigger.  Linux
	 * registers each GSI with the trigger and polarity of the Extended
	 * Interrupt in the device's _CRS (dsdt_vmmio): level, active high. */
	if (!(p = put(a, 10)))
		return -1;
	p[0] = MADT_ISO;
	p[1] = 10;
	p[3] = ACPI_SCI_IRQ;
	boot_put32(p + 4, ACPI_SCI_IRQ);
	boot_put16(p + 8, MPS_ACTIVE_HIGH | MPS_LEVEL);

	/* NMI on LINT1 of every processor. */
	if (!(p = put(a, 6)))
		return -1;
	p[0] = MADT_LAPIC_NMI;
	p[1] = 6;
	p[2] = 0xFF; /* all processors */
	boot_put16(p + 3, MPS_ACTIVE_HIGH | MPS_EDGE);
	p[5] = 1;
	if (x2apic) {
		if (!(p = put(a, 12)))
			return -1;
		p[0] = MADT_X2APIC_NMI;
		p[1] = 12;
		boot_put16(p + 2, MPS_ACTIVE_HIGH | MPS_EDGE);
		boot_put32(p + 4, 0xFFFFFFFF); /* all processors */
		p[8] = 1;
	}
	finish(a, off);
	return off;
}

static uint32_t
domain_of(const struct acpi_desc *d, uint32_t k)
{
	return d->vcpu_domain ? d->vcpu_domain[k] : 0;
}

static int
srat_mem(struct area *a, uint32_t dom, uint64_t gpa, uint64_t len)
{
	uint8_t *p = put(a, 40);

	if (!p)
		return -1;
	p[0] = 1; /* memory affinity */
	p[1] = 40;
	boot_put32(p + 2, dom);
	boot_put64(p + 8, gpa);
	boot_put64(p + 16, len);
	boot_put32(p + 28, 1); /* enabled, not hot-pluggable */
	return 0;
}

static int64_t
build_srat(struct area *a, const struct acpi_desc *d)
{
	int64_t off = begin(a, 16);
	uint8_t *p;

	if (off < 0 || !header(a, "SRAT", SRAT_REV) || !(p = put(a, 12)))
		return -1;
	boot_put32(p, 1); /* reserved, 1 for compatibility */
	for (uint32_t k = 0; k < d->vcpus; k++) {
		uint32_t dom = domain_of(d, k);

		if (k <= XAPIC_MAX_ID) {
			if (!(p = put(a, 16)))
				return -1;
			p[0] = 0; /* processor local APIC affinity */
			p[1] = 16;
			p[2] = (uint8_t)dom;
			p[3] = (uint8_t)k;
			boot_put32(p + 4, 1); /* enabled */
			p[9] = (uint8_t)(dom >> 8);
			p[10] = (uint8_t)(dom >> 16);
			p[11] = (uint8_t)(dom >> 24);
		} else {
			if (!(p = put(a, 24)))
				return -1;
			p[0] = 2; /* processor local x2APIC affinity */
			p[1] = 24;
			boot_put32(p + 4, dom);
			boot_put32(p + 8, k);
			boot_put32(p + 12, 1); /* enabled */
		}
	}
	for (uint32_t i = 0; i < d->ndomains; i++) {
		uint64_t s = d->mem[i].start, e = s + d->mem[i].size;

		/* RAM offsets to GPAs: a range crossing 3 GiB splits. */
		if (s < BOOT_MMIO_HOLE_START && e > s &&
		    srat_mem(a, i, s,
			     (e < BOOT_MMIO_HOLE_START ? e
						       : BOOT_MMIO_HOLE_START) -
				     s))
			return -1;
		if (e > BOOT_MMIO_HOLE_START) {
			uint64_t hs = s > BOOT_MMIO_HOLE_START
					      ? s
					      : BOOT_MMIO_HOLE_START;

			if (srat_mem(a, i, ram_off_to_gpa(hs), e - hs))
				return -1;
		}
	}
	finish(a, off);
	return off;
}

static uint8_t
distance(const struct acpi_desc *d, uint32_t i, uint32_t j)
{
	if (d->distance)
		return d->distance[(uint64_t)i * d->ndomains + j];
	return i == j ? 10 : 20;
}

static int64_t
build_slit(struct area *a, const struct acpi_desc *d)
{
	uint64_t n = d->ndomains;
	int64_t off = begin(a, 16);
	uint8_t *p;

	if (off < 0 || !header(a, "SLIT", SLIT_REV) || !(p = put(a, 8 + n * n)))
		return -1;
	boot_put64(p, n);
	for (uint32_t i = 0; i < n; i++)
		for (uint32_t j = 0; j < n; j++)
			p[8 + i * n + j] = distance(d, i, j);
	finish(a, off);
	return off;
}

static int64_t
build_sdt(struct area *a, const char *sig, int wide, const int64_t *tab, int n)
{
	int64_t off = begin(a, 16);
	uint8_t *p;

	if (off < 0 || !header(a, sig, wide ? XSDT_REV : RSDT_REV) ||
	    !(p = put(a, (uint64_t)n * (wide ? 8 : 4))))
		return -1;
	for (int i = 0; i < n; i++) {
		if (wide)
			boot_put64(p + i * 8, gpa_of(tab[i]));
		else
			boot_put32(p + i * 4, (uint32_t)gpa_of(tab[i]));
	}
	finish(a, off);
	return off;
}

static int
check_vmmio(struct area *a, const struct acpi_desc *d)
{
	if (d->nvmmio > ACPI_VMMIO_MAX)
		return fail(a, EINVAL, "%u virtio-mmio devices (at most %d)",
			    d->nvmmio, ACPI_VMMIO_MAX);
	if (d->nvmmio && !d->vmmio)
		return fail(a, EINVAL, "%u virtio-mmio devices without vmmio",
			    d->nvmmio);
	for (uint32_t i = 0; i < d->nvmmio; i++) {
		const struct acpi_vmmio *v = &d->vmmio[i];

		if (v->size == 0)
			return fail(a, EINVAL, "virtio-mmio device %u size 0",
				    i);
		/* Memory32Fixed holds a 32-bit base and length. */
		if (v->base > (1ULL << 32) || v->size > (1ULL << 32) - v->base)
			return fail(a, EINVAL,
				    "virtio-mmio device %u base 0x%llx size "
				    "0x%x ends above 4 GiB",
				    i, (unsigned long long)v->base, v->size);
		if (v->gsi >= ACPI_IOAPIC_PINS)
			return fail(a, EINVAL,
				    "virtio-mmio device %u gsi %u (the "
				    "IOAPIC has pins 0-%d)",
				    i, v->gsi, ACPI_IOAPIC_PINS - 1);
	}
	return 0;
}

static int
check_desc(struct area *a, const struct acpi_desc *d)
{
	const uint64_t ram = a->gm->size;

	if (d->vcpus == 0)
		return fail(a, EINVAL, "no vCPUs");
	if (check_vmmio(a, d) < 0)
		return -1;
	if (d->ndomains > ACPI_MAX_DOMAINS)
		return fail(a, EINVAL, "%u NUMA domains (at most %d)",
			    d->ndomains, ACPI_MAX_DOMAINS);
	if (d->ndomains == 0)
		return 0;
	if (!d->mem)
		return fail(a, EINVAL, "NUMA domains without memory ranges");
	for (uint32_t k = 0; d->vcpu_domain && k < d->vcpus; k++)
		if (d->vcpu_domain[k] >= d->ndomains)
			return fail(a, EINVAL, "vCPU %u is in domain %u of %u",
				    k, d->vcpu_domain[k], d->ndomains);
	for (uint32_t i = 0; i < d->ndomains; i++) {
		const struct acpi_mem_range *m = &d->mem[i];

		if (m->start > ram || m->size > ram - m->start)
			return fail(a, EINVAL,
				    "domain %u memory [0x%llx, +0x%llx) is "
				    "beyond guest RAM (0x%llx bytes)",
				    i, (unsigned long long)m->start,
				    (unsigned long long)m->size,
				    (unsigned long long)ram);
		for (uint32_t j = 0; j < i; j++) {
			const struct acpi_mem_range *o = &d->mem[j];

			if (m->size && o->size &&
			    m->start < o->start + o->size &&
			    o->start < m->start + m->size)
				return fail(a, EINVAL,
					    "domains %u and %u overlap in "
					    "memory",
					    j, i);
		}
		for (uint32_t j = 0; j < d->ndomains; j++) {
			uint8_t v = distance(d, i, j);

			if (i == j ? v != 10 : v <= 10)
				return fail(a, EINVAL,
					    "distance %u -> %u is %u (10 on "
					    "the diagonal, 11-255 elsewhere)",
					    i, j, v);
		}
	}
	return 0;
}

int
acpi_numa_place(struct acpi_desc *d, const struct placement_node *p,
		uint32_t nnodes, uint32_t *vcpu_domain,
		struct acpi_mem_range *mem)
{
	if (nnodes == 0 || nnodes > ACPI_MAX_DOMAINS) {
		errno = EINVAL;
		return -1;
	}
	for (uint32_t i = 0; i < nnodes; i++) {
		if (p[i].vcpu_first > d->vcpus ||
		    p[i].vcpu_count > d->vcpus - p[i].vcpu_first) {
			errno = EINVAL;
			return -1;
		}
		for (uint32_t k = 0; k < p[i].vcpu_count; k++)
			vcpu_domain[p[i].vcpu_first + k] = i;
		mem[i] = (struct acpi_mem_range){
			p[i].page_first * PLACEMENT_PAGE_SIZE,
			p[i].page_count * PLACEMENT_PAGE_SIZE
		};
	}
	d->ndomains = nnodes;
	d->vcpu_domain = vcpu_domain;
	d->mem = mem;
	return 0;
}

int
acpi_build(struct guest_mem *gm, const struct acpi_desc *d, uint64_t *rsdp_gpa,
	   char *err, size_t errlen)
{
	struct area a = {
		.gm = gm,
		.size = ACPI_AREA_END - ACPI_RSDP_ADDR,
		.err = err,
		.errlen = errlen,
		.vcpus = d->vcpus,
	};
	int64_t facs, dsdt, tab[4], xsdt, rsdt;
	uint8_t *r;
	int n = 0;

	if (errlen)
		err[0] = '\0';
	a.base = gpa_ptr(gm, ACPI_RSDP_ADDR, a.size);
	if (!a.base)
		return fail(&a, ENOMEM, "guest RAM ends below 1 MiB");
	if (check_desc(&a, d) < 0)
		return -1;
	memset(a.base, 0, a.size);

	/* The RSDP first, at the start of the scanned area. */
	if (!put(&a, 36))
		return full(&a);
	if ((facs = build_facs(&a)) < 0 || (dsdt = build_dsdt(&a, d)) < 0 ||
	    (tab[n++] = build_fadt(&a, facs, dsdt)) < 0 ||
	    (tab[n++] = build_madt(&a, d)) < 0)
		return full(&a);
	if (d->ndomains) {
		if ((tab[n++] = build_srat(&a, d)) < 0 ||
		    (tab[n++] = build_slit(&a, d)) < 0)
			return full(&a);
	}
	if ((xsdt = build_sdt(&a, "XSDT", 1, tab, n)) < 0 ||
	    (rsdt = build_sdt(&a, "RSDT", 0, tab, n)) < 0)
		return full(&a);

	r = a.base;
	memcpy(r, "RSD PTR ", 8);
	memcpy(r + 9, ACPI_OEM_ID, 6);
	r[15] = 2; /* revision: ACPI 2.0+ (XSDT) */
	boot_put32(r + 16, (uint32_t)gpa_of(rsdt));
	boot_put32(r + 20, 36);
	boot_put64(r + 24, gpa_of(xsdt));
	r[8] = (uint8_t)(0x100 - acpi_sum(r, 20));
	r[32] = (uint8_t)(0x100 - acpi_sum(r, 36));
	*rsdp_gpa = ACPI_RSDP_ADDR;
	return 0;
}

uint64_t
acpi_find_rsdp(const struct guest_mem *gm)
{
	const uint8_t *p;

	for (uint64_t gpa = 0xE0000; gpa < 0x100000; gpa += 16) {
		p = gpa_ptr(gm, gpa, 36);
		if (!p || memcmp(p, "RSD PTR ", 8) != 0 || acpi_sum(p, 20))
			continue;
		if (p[15] >= 2 && acpi_sum(p, 36))
			continue;
		return gpa;
	}
	return 0;
}
