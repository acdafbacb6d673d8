/* CPUID set-up of a vCPU; see cpuid.h. */
#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "cpuid.h"

#define CPUID_MAX_ENTRIES 256

/* Leaf 1 */
#define L1_ECX_MONITOR (1u << 3)
#define L1_ECX_VMX (1u << 5)
#define L1_ECX_CX16 (1u << 13)
#define L1_ECX_X2APIC (1u << 21)
#define L1_ECX_TSC_DEADLINE (1u << 24)
#define L1_ECX_XSAVE (1u << 26)
#define L1_ECX_OSXSAVE (1u << 27)
#define L1_ECX_AVX (1u << 28)
#define L1_ECX_HYPERVISOR (1u << 31)
#define L1_EDX_APIC (1u << 9)
#define L1_EDX_HTT (1u << 28)
/* Leaf 0x80000001 */
#define LX1_ECX_SVM (1u << 2)
#define LX1_ECX_TOPOEXT (1u << 22)
/* KVM paravirtual features (leaf 0x40000001 EAX) that work without an
 * in-kernel LAPIC: kvmclock (old and new MSRs), no-op I/O delay, and the
 * stable-clock hint.  PV EOI, PV IPIs, PV unhalt and async page faults
 * all go through the in-kernel LAPIC and would bypass ours. */
#define KVM_PV_OK ((1u << 0) | (1u << 1) | (1u << 3) | (1u << 24))

struct kvm_cpuid2 *
cpuid_supported(int kvm_fd)
{
	struct kvm_cpuid2 *c;
	size_t size = sizeof(*c) +
		      CPUID_MAX_ENTRIES * sizeof(struct kvm_cpuid_entry2);

	c = calloc(1, size);
	if (!c)
		return NULL;
	c->nent = CPUID_MAX_ENTRIES;
	if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) < 0) {
		int e = errno;

		free(c);
		errno = e;
		return NULL;
	}
	return c;
}

unsigned
cpuid_maxphyaddr(const struct kvm_cpuid2 *c)
{
	for (uint32_t i = 0; c && i < c->nent; i++)
		if (c->entries[i].function == 0x80000008 &&
		    (c->entries[i].eax & 0xff) != 0)
			return c->entries[i].eax & 0xff;
	return 36;
}

static unsigned
bits_for(uint32_t n)
{
	unsigned b = 0;

	while ((1u << b) < n)
		b++;
	return b;
}

static void
edit_entry(struct kvm_cpuid_entry2 *e, uint32_t apic_id, uint32_t nvcpus,
	   uint32_t tsc_khz, uint32_t bus_khz)
{
	switch (e->function) {
	case 1:
		e->ebx = (apic_id << 24) |
			 ((nvcpus > 255 ? 255 : nvcpus) << 16) |
			 (e->ebx & 0xffff);
		e->ecx |=
			L1_ECX_X2APIC | L1_ECX_TSC_DEADLINE | L1_ECX_HYPERVISOR;
		e->ecx &= ~(L1_ECX_MONITOR | L1_ECX_VMX | L1_ECX_CX16 |
			    L1_ECX_XSAVE | L1_ECX_OSXSAVE | L1_ECX_AVX);
		e->edx |= L1_EDX_APIC;
		if (nvcpus > 1)
			e->edx |= L1_EDX_HTT;
		break;
	case 4:
		/* Cores per package in bits 31:26. */
		if ((e->eax & 0x1f) != 0)
			e->eax = (e->eax & 0x03ffffff) |
				 ((nvcpus > 64 ? 63 : nvcpus - 1) << 26);
		break;
	case 0xb:
		e->edx = apic_id;
		if (e->index == 0) { /* SMT level: one thread a core */
			e->eax = 0;
			e->ebx = 1;
			e->ecx = (1u << 8) | 0;
		} else if (e->index == 1) { /* core level */
			e->eax = bits_for(nvcpus);
			e->ebx = nvcpus;
			e->ecx = (2u << 8) | 1;
		} else {
			e->eax = e->ebx = 0;
			e->ecx = e->index;
		}
		break;
	case 0x40000000:
		e->eax = 0x40000010;
		memcpy(&e->ebx, "KVMK", 4);
		memcpy(&e->ecx, "VMKV", 4);
		memcpy(&e->edx, "M\0\0\0", 4);
		break;
	case 0x40000001:
		e->eax &= KVM_PV_OK;
		e->edx = 0;
		break;
	case 0x80000001:
		e->ecx &= ~(LX1_ECX_SVM | LX1_ECX_TOPOEXT);
		break;
	case 0x80000008:
		e->ecx = (bits_for(nvcpus) << 12) |
			 (nvcpus > 256 ? 255 : nvcpus - 1);
		break;
	case 0x40000010:
		e->eax = tsc_khz;
		e->ebx = bus_khz;
		e->ecx = e->edx = 0;
		break;
	}
}

int
cpuid_apply(int vcpu_fd, const struct kvm_cpuid2 *base, uint32_t apic_id,
	    uint32_t nvcpus, uint32_t tsc_khz, uint32_t bus_khz)
{
	struct kvm_cpuid2 *c;
	struct kvm_cpuid_entry2 *e;
	uint32_t i, n = 0;
	int r, e_no;

	c = calloc(1, sizeof(*c) + (base->nent + 4) * sizeof(*e));
	if (!c)
		return -1;
	for (i = 0; i < base->nent; i++) {
		const struct kvm_cpuid_entry2 *b = &base->entries[i];

		/* Our own topology leaves replace KVM's; extended topology
		 * (0x1f) and AMD's node leaf go: they would contradict. */
		if (b->function == 0xb || b->function == 0x1f ||
		    b->function == 0x8000001e || b->function == 0x40000010)
			continue;
		c->entries[n++] = *b;
	}
	for (i = 0; i < 3; i++) {
		e = &c->entries[n++];
		memset(e, 0, sizeof(*e));
		e->function = 0xb;
		e->index = i;
		e->flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
	}
	e = &c->entries[n++];
	memset(e, 0, sizeof(*e));
	e->function = 0x40000010;
	c->nent = n;
	for (i = 0; i < n; i++)
		edit_entry(&c->entries[i], apic_id, nvcpus, tsc_khz, bus_khz);
	r = ioctl(vcpu_fd, KVM_SET_CPUID2, c);
	e_no = errno;
	free(c);
	errno = e_no;
	return r < 0 ? -1 : 0;
}
