/*
 * KVM: whether /dev/kvm opens, its API version, whether it has what
 * avm-run needs (lib/kvmcap.c's list), the limits and capabilities, and
 * the TSC rate a guest would get.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "avm/kvmcap.h"

#include "probe.h"

#define KVM_DEV "/dev/kvm"

/* The vendor modules that can sit below kvm.ko, most specific first. */
static const char *const kvm_modules[] = {
	"kvm_intel",
	"kvm_amd",
	"kvm_pvm",
	"kvm",
};

static const char *
kvm_module(void)
{
	char path[64];
	struct stat st;
	size_t i;

	for (i = 0; i < sizeof(kvm_modules) / sizeof(kvm_modules[0]); i++) {
		snprintf(path, sizeof(path), "/sys/module/%s", kvm_modules[i]);
		if (stat(path, &st) == 0)
			return kvm_modules[i];
	}
	return NULL;
}

/* KVM_CHECK_EXTENSION; an error (none expected) counts as "no". */
static int
check_cap(int fd, long cap)
{
	int r = ioctl(fd, KVM_CHECK_EXTENSION, cap);

	return r < 0 ? 0 : r;
}

/*
 * A throwaway VM with one vCPU, for what only a VM can say: the TSC rate
 * a vCPU gets and whether kvmclock is stable.
 */
static void
probe_vm(struct kvm_info *k, int kvm)
{
	struct kvm_clock_data clock;
	int vm, vcpu, r;

	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0) {
		snprintf(k->vm_error, sizeof(k->vm_error), "KVM_CREATE_VM: %s",
			 strerror(errno));
		probe_debug("kvm: %s", k->vm_error);
		return;
	}
	memset(&clock, 0, sizeof(clock));
	if (ioctl(vm, KVM_GET_CLOCK, &clock) == 0)
		k->clock_stable = !!(clock.flags & KVM_CLOCK_TSC_STABLE);
	else
		probe_debug("kvm: KVM_GET_CLOCK: %s", strerror(errno));
	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0) {
		snprintf(k->vm_error, sizeof(k->vm_error),
			 "KVM_CREATE_VCPU: %s", strerror(errno));
		probe_debug("kvm: %s", k->vm_error);
		close(vm);
		return;
	}
	if (check_cap(kvm, KVM_CAP_GET_TSC_KHZ)) {
		r = ioctl(vcpu, KVM_GET_TSC_KHZ, 0);
		if (r > 0)
			k->tsc_khz = r;
		else
			probe_debug("kvm: KVM_GET_TSC_KHZ: %s",
				    r < 0 ? strerror(errno) : "zero");
	}
	close(vcpu);
	close(vm);
}

void
kvm_probe(struct kvm_info *k)
{
	int fd, v;

	memset(k, 0, sizeof(*k));
	k->clock_stable = -1;
	k->tsc_khz = -1;
	k->module = kvm_module();
	fd = open(KVM_DEV, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		snprintf(k->reason, sizeof(k->reason), "open '%s': %s%s",
			 KVM_DEV, strerror(errno),
			 k->module ? "" : " (no kvm module loaded)");
		probe_debug("kvm: %s", k->reason);
		return;
	}
	k->api_version = ioctl(fd, KVM_GET_API_VERSION, 0);
	if (kvmcap_check(fd, k->reason, sizeof(k->reason)) < 0 &&
	    errno == EPROTONOSUPPORT) {
		probe_debug("kvm: %s", k->reason);
		close(fd);
		return;
	}
	k->present = 1;
	k->usable = !k->reason[0];
	if (!k->usable)
		probe_debug("kvm: %s", k->reason);
	k->vcpus_recommended = check_cap(fd, KVM_CAP_NR_VCPUS);
	k->vcpus_max = check_cap(fd, KVM_CAP_MAX_VCPUS);
	/* Without KVM_CAP_MAX_VCPUS the recommended number is the limit. */
	if (k->vcpus_max == 0)
		k->vcpus_max = k->vcpus_recommended;
	k->memslots = check_cap(fd, KVM_CAP_NR_MEMSLOTS);
	k->user_memory = !!check_cap(fd, KVM_CAP_USER_MEMORY);
	k->irqchip = !!check_cap(fd, KVM_CAP_IRQCHIP);
	k->user_space_msr = !!check_cap(fd, KVM_CAP_X86_USER_SPACE_MSR);
	k->msr_filter = !!check_cap(fd, KVM_CAP_X86_MSR_FILTER);
	k->immediate_exit = !!check_cap(fd, KVM_CAP_IMMEDIATE_EXIT);
	k->readonly_mem = !!check_cap(fd, KVM_CAP_READONLY_MEM);
	k->x2apic_api = !!check_cap(fd, KVM_CAP_X2APIC_API);
	k->sync_regs = !!check_cap(fd, KVM_CAP_SYNC_REGS);
	k->tsc_control = !!check_cap(fd, KVM_CAP_TSC_CONTROL);
	v = check_cap(fd, KVM_CAP_ADJUST_CLOCK);
	k->adjust_clock = !!v;
	k->clock_flags = (unsigned)v;
	probe_debug("kvm: api %d, module %s, %d memslots, %d/%d vcpus",
		    k->api_version, k->module ? k->module : "unknown",
		    k->memslots, k->vcpus_recommended, k->vcpus_max);
	probe_vm(k, fd);
	close(fd);
}

void
kvm_emit(struct emit *e, const struct kvm_info *k)
{
	emit_map_begin(e);
	emit_kv_bool(e, "present", k->present);
	emit_kv_bool(e, "usable", k->usable);
	if (!k->usable)
		emit_kv_str(e, "reason", k->reason);
	emit_kv_str(e, "device", KVM_DEV);
	emit_kv_str(e, "module", k->module);
	if (!k->present) {
		emit_map_end(e);
		return;
	}
	emit_kv_int(e, "api_version", k->api_version);
	emit_kv_int(e, "vcpus_recommended", k->vcpus_recommended);
	emit_kv_int(e, "vcpus_max", k->vcpus_max);
	emit_kv_int(e, "memslots", k->memslots);
	emit_kv_bool(e, "user_memory", k->user_memory);
	emit_kv_bool(e, "irqchip", k->irqchip);
	emit_kv_bool(e, "user_space_msr", k->user_space_msr);
	emit_kv_bool(e, "msr_filter", k->msr_filter);
	emit_kv_bool(e, "immediate_exit", k->immediate_exit);
	emit_kv_bool(e, "readonly_mem", k->readonly_mem);
	emit_kv_bool(e, "x2apic_api", k->x2apic_api);
	emit_kv_bool(e, "sync_regs", k->sync_regs);
	emit_kv_bool(e, "tsc_control", k->tsc_control);
	emit_kv_bool(e, "adjust_clock", k->adjust_clock);
	emit_kv_map_begin(e, "clock_flags");
	emit_kv_bool(e, "realtime", k->clock_flags & KVM_CLOCK_REALTIME);
	emit_kv_bool(e, "host_tsc", k->clock_flags & KVM_CLOCK_HOST_TSC);
	emit_kv_bool(e, "tsc_stable", k->clock_flags & KVM_CLOCK_TSC_STABLE);
	emit_map_end(e);
	emit_key(e, "clock_stable");
	if (k->clock_stable < 0)
		emit_null(e);
	else
		emit_bool(e, k->clock_stable);
	if (k->vm_error[0])
		emit_kv_str(e, "vm_error", k->vm_error);
	emit_map_end(e);
}
