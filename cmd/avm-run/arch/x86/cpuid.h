/* The CPUID a vCPU sees: what KVM supports, edited so that it tells the
 * truth about AVM's topology and its user-space interrupt controllers. */
#ifndef AVM_RUN_CPUID_H
#define AVM_RUN_CPUID_H

#include <stdint.h>

struct kvm_cpuid2;

/* KVM_GET_SUPPORTED_CPUID into a malloc'd table.  Returns it, or NULL
 * with errno. */
struct kvm_cpuid2 *cpuid_supported(int kvm_fd);

/*
 * MAXPHYADDR from table c (leaf 0x80000008 EAX[7:0]), or 36 when the
 * leaf is absent or says 0, as the SDM and KVM read it.
 */
unsigned cpuid_maxphyaddr(const struct kvm_cpuid2 *c);

/*
 * Sets vcpu_fd's CPUID from base: APIC id apic_id of nvcpus (one package,
 * nvcpus cores, no SMT), x2APIC and TSC-deadline present, hypervisor bit
 * and KVM signature with only the paravirtual features that do not need
 * an in-kernel LAPIC, leaf 0x40000010 = TSC and APIC bus kHz, and no
 * XSAVE or CMPXCHG16B (this platform does not emulate them at CPL0).
 * CPUID.1:EDX[9] (APIC) is set here but KVM rewrites it at run time from
 * its copy of IA32_APIC_BASE.EN (kvm_update_cpuid_runtime), so the VMM
 * keeps that copy equal to the model's (vcpu.c, vcpu_sync_apic_base).
 * Returns 0, or -1 with errno.
 */
int cpuid_apply(int vcpu_fd, const struct kvm_cpuid2 *base, uint32_t apic_id,
		uint32_t nvcpus, uint32_t tsc_khz, uint32_t bus_khz);

#endif
