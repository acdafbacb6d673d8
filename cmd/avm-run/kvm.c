/*
 * KVM set-up: /dev/kvm, its version and the capabilities avm-run needs
 * (one list in lib/kvmcap.c, also avm-probe's), the VM itself, and the
 * MSR filter that sends the user-space APIC's MSRs to us.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "avm/kvmcap.h"
#include "avm/log.h"

#include "arch/x86/lapic.h"
#include "vm.h"

#define TSS_ADDR 0xfffbd000ul

int
kvm_open(struct vm *vm)
{
	char why[160];
	int max;

	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0) {
		int e = errno;

		log_err("open '/dev/kvm': %s%s", strerror(e),
			e == ENOENT ? " (is KVM enabled on this host?)" : "");
		return e == EACCES || e == EPERM ? AVM_EX_NOPERM
						 : AVM_EX_UNAVAILABLE;
	}
	/* The version and capabilities: one list, also avm-probe's. */
	if (kvmcap_check(vm->kvm_fd, why, sizeof(why)) < 0) {
		log_err("'/dev/kvm': %s", why);
		return AVM_EX_UNAVAILABLE;
	}
	max = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	if (max <= 0)
		max = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
	if (max <= 0)
		max = 4;
	if (vm->opts.vcpus > (unsigned)max) {
		log_err("--vcpus %u: KVM on this host allows at most %d",
			vm->opts.vcpus, max);
		return AVM_EX_UNAVAILABLE;
	}
	vm->run_size = (size_t)ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, 0);
	if (vm->vm_fd < 0) {
		log_err("KVM_CREATE_VM: %s", strerror(errno));
		return AVM_EX_UNAVAILABLE;
	}
	/* Intel VMX wants a TSS area in the hole; others ignore it. */
	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, TSS_ADDR) < 0)
		log_debug("KVM_SET_TSS_ADDR: %s (ignored)", strerror(errno));
	return AVM_EX_OK;
}

void
kvm_release(struct vm *vm)
{
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	vm->vm_fd = vm->kvm_fd = -1;
}

/* MSRs the user-space APIC owns exit to us: IA32_APIC_BASE,
 * IA32_TSC_DEADLINE and the x2APIC range; unknown MSRs too. */
int
kvm_msr_setup(struct vm *vm)
{
	static uint8_t deny[256 / 8];
	struct kvm_enable_cap cap;
	struct kvm_msr_filter f;

	memset(&cap, 0, sizeof(cap));
	cap.cap = KVM_CAP_X86_USER_SPACE_MSR;
	cap.args[0] = KVM_MSR_EXIT_REASON_INVAL | KVM_MSR_EXIT_REASON_UNKNOWN |
		      KVM_MSR_EXIT_REASON_FILTER;
	if (ioctl(vm->vm_fd, KVM_ENABLE_CAP, &cap) < 0) {
		log_err("enable KVM_CAP_X86_USER_SPACE_MSR: %s",
			strerror(errno));
		return AVM_EX_UNAVAILABLE;
	}
	memset(&f, 0, sizeof(f));
	f.flags = KVM_MSR_FILTER_DEFAULT_ALLOW;
	f.ranges[0] =
		(struct kvm_msr_filter_range){ KVM_MSR_FILTER_READ |
						       KVM_MSR_FILTER_WRITE,
					       1, MSR_IA32_APIC_BASE, deny };
	f.ranges[1] =
		(struct kvm_msr_filter_range){ KVM_MSR_FILTER_READ |
						       KVM_MSR_FILTER_WRITE,
					       1, MSR_IA32_TSC_DEADLINE, deny };
	f.ranges[2] =
		(struct kvm_msr_filter_range){ KVM_MSR_FILTER_READ |
						       KVM_MSR_FILTER_WRITE,
					       256, MSR_X2APIC_FIRST, deny };
	if (ioctl(vm->vm_fd, KVM_X86_SET_MSR_FILTER, &f) < 0) {
		log_err("KVM_X86_SET_MSR_FILTER: %s", strerror(errno));
		return AVM_EX_UNAVAILABLE;
	}
	return AVM_EX_OK;
}
