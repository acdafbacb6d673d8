/*
 * The guest's clocks: kvmclock, as KVM keeps it per VM and as every node
 * must agree on it (DESIGN.md, "Clocks").
 */
#include <linux/kvm.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>

#include "vm.h"

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
