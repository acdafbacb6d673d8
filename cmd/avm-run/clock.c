/*
 * The guest's clocks: its TSC, set per vCPU, and kvmclock, as KVM keeps
 * it per VM and as every node must agree on it (DESIGN.md, "Clocks").  The run links carry node 0's
 * clock to the others (links.c); reading and setting it is here.
 */
#include <errno.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <x86intrin.h>

#include "avm/log.h"
#include "avm/runmsg.h"

#include "vm.h"

#define MSR_IA32_TSC 0x10

/* The guest's kvmclock and the host's real time read together: their
 * difference agrees on every node.  Where KVM does not give the real time
 * with the clock, it is read around the ioctl, retried when that took
 * long. */
int
vm_clock_read(struct vm *vm, uint64_t *clock_ns, uint64_t *realtime_ns)
{
	struct kvm_clock_data c;
	struct timespec t0, t1;
	uint64_t a, b;
	int tries, ok = 0;

	for (tries = 0; tries < 5 && !ok && vm->vm_fd >= 0; tries++) {
		memset(&c, 0, sizeof(c));
		clock_gettime(CLOCK_REALTIME, &t0);
		if (ioctl(vm->vm_fd, KVM_GET_CLOCK, &c) < 0)
			break;
		clock_gettime(CLOCK_REALTIME, &t1);
		a = (uint64_t)t0.tv_sec * 1000000000ull + (uint64_t)t0.tv_nsec;
		b = (uint64_t)t1.tv_sec * 1000000000ull + (uint64_t)t1.tv_nsec;
		if (!(c.flags & KVM_CLOCK_REALTIME))
			c.realtime = a + (b - a) / 2;
		ok = (c.flags & KVM_CLOCK_REALTIME) || b - a < 100000;
	}
	if (!ok)
		return -1;
	*clock_ns = c.clock;
	*realtime_ns = c.realtime;
	return 0;
}

/*
 * kvmclock over nodes (DESIGN.md, "Clocks"): node 0 sends the clock of
 * its KVM VM on every run link before any other frame; each other node
 * sets its own with KVM_SET_CLOCK before its vCPUs run.  With
 * KVM_CLOCK_REALTIME KVM adds the real time that passed since node 0
 * read it, which is how separate hosts agree; without it we add it.
 */
int
vm_clock_get(struct vm *vm, struct runmsg_clock *q)
{
	struct kvm_clock_data c;
	struct timespec ts;

	memset(&c, 0, sizeof(c));
	if (ioctl(vm->vm_fd, KVM_GET_CLOCK, &c) < 0) {
		log_err("KVM_GET_CLOCK: %s", strerror(errno));
		return AVM_EX_UNAVAILABLE;
	}
	if (!(c.flags & KVM_CLOCK_REALTIME)) {
		clock_gettime(CLOCK_REALTIME, &ts);
		c.realtime = (uint64_t)ts.tv_sec * 1000000000ull +
			     (uint64_t)ts.tv_nsec;
	}
	*q = (struct runmsg_clock){ c.clock, c.flags, c.realtime, c.host_tsc };
	return AVM_EX_OK;
}

int
vm_clock_set(struct vm *vm, const struct runmsg_clock *q)
{
	struct kvm_clock_data c, now;
	struct timespec ts;
	int have_rt;

	memset(&c, 0, sizeof(c));
	c.clock = q->clock;
	c.realtime = q->realtime;
	have_rt =
		(ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_ADJUST_CLOCK) &
		 KVM_CLOCK_REALTIME) != 0;
	if (have_rt) {
		c.flags = KVM_CLOCK_REALTIME;
	} else {
		clock_gettime(CLOCK_REALTIME, &ts);
		c.clock += (uint64_t)ts.tv_sec * 1000000000ull +
			   (uint64_t)ts.tv_nsec - c.realtime;
	}
	if (ioctl(vm->vm_fd, KVM_SET_CLOCK, &c) < 0) {
		log_err("KVM_SET_CLOCK: %s", strerror(errno));
		return AVM_EX_UNAVAILABLE;
	}
	memset(&now, 0, sizeof(now));
	if (ioctl(vm->vm_fd, KVM_GET_CLOCK, &now) == 0)
		log_debug("kvmclock set from node 0's (%s): %llu ns",
			  have_rt ? "KVM_CLOCK_REALTIME" : "adjusted by us",
			  (unsigned long long)now.clock);
	return AVM_EX_OK;
}

/*
 * The guest's TSC starts equal to the host's: every vCPU's IA32_TSC is
 * set to the host TSC at creation, so TSC-deadline arithmetic works the
 * same where KVM offsets the TSC (VMX, SVM) and where guest user code
 * reads the raw host TSC (kvm_pvm).  What remains is measured.
 * Returns guest TSC - host TSC.
 */
int64_t
vm_tsc_sync(int fd)
{
	struct {
		struct kvm_msrs hdr;
		struct kvm_msr_entry e;
	} m;
	uint64_t host;

	memset(&m, 0, sizeof(m));
	m.hdr.nmsrs = 1;
	m.e.index = MSR_IA32_TSC;
	m.e.data = __rdtsc();
	if (ioctl(fd, KVM_SET_MSRS, &m) != 1)
		log_debug("KVM_SET_MSRS IA32_TSC: %s", strerror(errno));
	host = __rdtsc();
	if (ioctl(fd, KVM_GET_MSRS, &m) != 1)
		return 0;
	return (int64_t)(m.e.data - host);
}
