/*
 * The VM of avm-run: KVM set-up, guest RAM, devices, vCPUs, and the life
 * cycle.  Start-up order is the table in vm_create(), nothing else.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/kvm.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "avm/emit.h"
#include "avm/kvmcap.h"
#include "avm/link.h"
#include "avm/log.h"
#include "avm/placement.h"
#include "avm/util.h"

#include "arch/x86/acpi.h"
#include "arch/x86/apicbus.h"
#include "arch/x86/boot.h"
#include "arch/x86/cpuid.h"
#include "arch/x86/ioapic.h"
#include "arch/x86/pic.h"
#include "ctl.h"
#include "dev/devices.h"
#include "links.h"
#include "route.h"
#include "vcpu.h"
#include "vm.h"

#define TSS_ADDR 0xfffbd000ul
#define IOAPIC_MMIO_LEN 0x1000
/* Node 0 loads the kernel (through the pager) before it links. */
#define LINKS_OPEN_TIMEOUT_MS 60000

/* --- life cycle ---------------------------------------------------------*/

static void
vm_kick_all(struct vm *vm)
{
	unsigned i;

	for (i = 0; vm->vcpus && i < vm->nvcpus; i++)
		if (vm->vcpus[i])
			vcpu_kick(vm->vcpus[i]);
}

static void
vm_endv(struct vm *vm, int remote, enum vm_end end, int status, const char *fmt,
	va_list ap)
{
	uint64_t one = 1;

	pthread_mutex_lock(&vm->lock);
	if (vm->end != VM_END_NONE) {
		pthread_mutex_unlock(&vm->lock);
		return;
	}
	vm->end = end;
	vm->end_status = status;
	vm->end_remote = remote;
	vsnprintf(vm->end_why, sizeof(vm->end_why), fmt, ap);
	atomic_store(&vm->state, VM_STOPPING);
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	vm_kick_all(vm);
	if (vm->end_fd >= 0 && write(vm->end_fd, &one, sizeof(one)) < 0) {
		/* EAGAIN only: vm_run is woken anyway */
	}
}

void
vm_end(struct vm *vm, enum vm_end end, int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vm_endv(vm, 0, end, status, fmt, ap);
	va_end(ap);
}

void
vm_end_remote(struct vm *vm, enum vm_end end, int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vm_endv(vm, 1, end, status, fmt, ap);
	va_end(ap);
}

int
vm_park(struct vm *vm, struct vcpu *v)
{
	int stopping;

	(void)v;
	pthread_mutex_lock(&vm->lock);
	if (vm_state(vm) == VM_STOPPING) {
		pthread_mutex_unlock(&vm->lock);
		return 1;
	}
	vm->nparked++;
	pthread_cond_broadcast(&vm->cond);
	while (vm_state(vm) == VM_PAUSED)
		pthread_cond_wait(&vm->cond, &vm->lock);
	vm->nparked--;
	stopping = vm_state(vm) == VM_STOPPING;
	pthread_mutex_unlock(&vm->lock);
	return stopping;
}

int
vm_pause_local(struct vm *vm, int timeout_ms)
{
	struct timespec ts;
	int r = 0;

	pthread_mutex_lock(&vm->lock);
	if (vm_state(vm) == VM_STOPPING || vm_state(vm) == VM_STARTING) {
		errno = vm_state(vm) == VM_STARTING ? EBUSY : ESHUTDOWN;
		pthread_mutex_unlock(&vm->lock);
		return -1;
	}
	atomic_store(&vm->state, VM_PAUSED);
	pthread_mutex_unlock(&vm->lock);
	vm_kick_all(vm);

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += timeout_ms / 1000;
	ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&vm->lock);
	while (vm_state(vm) == VM_PAUSED && vm->nparked < vm->vcpu_count &&
	       r == 0)
		r = pthread_cond_timedwait(&vm->cond, &vm->lock, &ts);
	if (vm_state(vm) == VM_STOPPING)
		r = ESHUTDOWN;
	pthread_mutex_unlock(&vm->lock);
	if (r) {
		errno = r;
		return -1;
	}
	return 0;
}

int
vm_resume_local(struct vm *vm)
{
	pthread_mutex_lock(&vm->lock);
	if (vm_state(vm) == VM_STOPPING || vm_state(vm) == VM_STARTING) {
		errno = vm_state(vm) == VM_STARTING ? EBUSY : ESHUTDOWN;
		pthread_mutex_unlock(&vm->lock);
		return -1;
	}
	atomic_store(&vm->state, VM_RUNNING);
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	vm_kick_all(vm);
	return 0;
}

/* Pause and resume are VM-wide: node 0 (where run.sock answers for the
 * VM) tells the other nodes. */
int
vm_pause(struct vm *vm, int timeout_ms)
{
	if (vm_pause_local(vm, timeout_ms) < 0)
		return -1;
	return links_control(vm, 1);
}

int
vm_resume(struct vm *vm)
{
	if (vm_resume_local(vm) < 0)
		return -1;
	return links_control(vm, 0);
}

static const char *
vm_state_name(enum vm_state s)
{
	switch (s) {
	case VM_STARTING:
		return "starting";
	case VM_RUNNING:
		return "running";
	case VM_PAUSED:
		return "paused";
	case VM_STOPPING:
		return "stopping";
	}
	return "unknown";
}

void
vm_status(struct vm *vm, struct emit *e)
{
	uint64_t tot[5] = { 0 };
	unsigned i, parked;

	pthread_mutex_lock(&vm->lock);
	parked = vm->nparked;
	pthread_mutex_unlock(&vm->lock);
	emit_map_begin(e);
	emit_kv_str(e, "name", vm->opts.name);
	emit_kv_str(e, "state", vm_state_name(vm_state(vm)));
	emit_kv_int(e, "pid", getpid());
	emit_kv_uint(e, "uptime_ns", now_ns() - vm->start_ns);
	emit_kv_uint(e, "node", vm->node);
	emit_kv_uint(e, "nodes", vm->nnodes);
	emit_kv_uint(e, "vcpus", vm->nvcpus);
	emit_kv_uint(e, "vcpus_parked", parked);
	emit_kv_uint(e, "memory_bytes", vm->ram_size);
	emit_kv_str(e, "kernel", vm->opts.kernel);
	emit_kv_uint(e, "tsc_khz", vm->tsc_khz);
	{
		/* The guest's kvmclock and the host's real time read
		 * together: their difference agrees on every node.  Where
		 * KVM does not give the real time with the clock, it is read
		 * around the ioctl, retried when that took long. */
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
			a = (uint64_t)t0.tv_sec * 1000000000ull +
			    (uint64_t)t0.tv_nsec;
			b = (uint64_t)t1.tv_sec * 1000000000ull +
			    (uint64_t)t1.tv_nsec;
			if (!(c.flags & KVM_CLOCK_REALTIME))
				c.realtime = a + (b - a) / 2;
			ok = (c.flags & KVM_CLOCK_REALTIME) || b - a < 100000;
		}
		if (ok) {
			emit_kv_uint(e, "kvmclock_ns", c.clock);
			emit_kv_uint(e, "kvmclock_realtime_ns", c.realtime);
		}
	}
	emit_kv_int(e, "pager_pid", vm->pager_pid);
	if (vm->nnodes > 1) {
		/* Where each vCPU runs: the placement of the whole VM. */
		emit_kv_list_begin(e, "node_list");
		for (i = 0; i < vm->nnodes; i++) {
			unsigned first = vm->place[i].vcpu_first;
			unsigned last = first + vm->place[i].vcpu_count - 1;

			emit_map_begin(e);
			emit_kv_uint(e, "node", i);
			emit_kv_int(e, "pid",
				    i == vm->node   ? getpid()
				    : vm->node_pids ? vm->node_pids[i]
						    : 0);
			emit_kv_uint(e, "vcpu_first", first);
			emit_kv_uint(e, "vcpu_last", last);
			emit_map_end(e);
		}
		emit_list_end(e);
	}
	emit_kv_list_begin(e, "vcpu");
	for (i = 0; vm->vcpus && i < vm->nvcpus; i++) {
		struct vcpu *v = vm->vcpus[i];
		uint64_t x[5];
		int k;

		if (!v)
			continue; /* still being created */
		x[0] = atomic_load(&v->st.exits);
		x[1] = atomic_load(&v->st.io);
		x[2] = atomic_load(&v->st.mmio);
		x[3] = atomic_load(&v->st.msr);
		x[4] = atomic_load(&v->st.irqs);
		for (k = 0; k < 5; k++)
			tot[k] += x[k];
		emit_map_begin(e);
		emit_kv_uint(e, "id", v->id);
		emit_kv_uint(e, "node", vm->node);
		emit_kv_str(e, "state", vcpu_mp_name(atomic_load(&v->mp)));
		emit_kv_uint(e, "exits", x[0]);
		emit_kv_uint(e, "io_exits", x[1]);
		emit_kv_uint(e, "mmio_exits", x[2]);
		emit_kv_uint(e, "msr_exits", x[3]);
		emit_kv_uint(e, "hlt_exits", atomic_load(&v->st.hlt));
		emit_kv_uint(e, "irqs_injected", x[4]);
		emit_map_end(e);
	}
	emit_list_end(e);
	emit_kv_map_begin(e, "totals");
	emit_kv_uint(e, "exits", tot[0]);
	emit_kv_uint(e, "io_exits", tot[1]);
	emit_kv_uint(e, "mmio_exits", tot[2]);
	emit_kv_uint(e, "msr_exits", tot[3]);
	emit_kv_uint(e, "irqs_injected", tot[4]);
	emit_map_end(e);
	emit_map_end(e);
}

/* --- devices and interrupts ---------------------------------------------*/

int
vm_add_device(struct vm *vm, struct device *dev, enum bus_space space,
	      uint64_t base, uint64_t len)
{
	struct device **n;
	unsigned i;

	dev->vm = vm;
	for (i = 0; i < vm->ndevs && vm->devs[i] != dev; i++)
		;
	if (i == vm->ndevs) {
		n = realloc(vm->devs, (vm->ndevs + 1) * sizeof(*n));
		if (!n) {
			dev->ops->free(dev);
			return -1;
		}
		vm->devs = n;
		vm->devs[vm->ndevs++] = dev;
	}
	return bus_add(space == BUS_PIO ? &vm->pio : &vm->mmio, base, len, dev);
}

void
vm_set_irq(struct vm *vm, unsigned gsi, int level)
{
	if (vm->ioapic)
		ioapic_set_irq(vm->ioapic, gsi, level);
	if (vm->pic && gsi < 16)
		pic_set_irq(vm->pic, gsi, level);
}

static void
ioapic_dev_read(struct device *dev, struct vcpu *vcpu, uint64_t off, void *data,
		unsigned len)
{
	(void)vcpu;
	ioapic_mmio_read(dev->vm->ioapic, off, data, len);
}

static void
ioapic_dev_write(struct device *dev, struct vcpu *vcpu, uint64_t off,
		 const void *data, unsigned len)
{
	(void)vcpu;
	ioapic_mmio_write(dev->vm->ioapic, off, data, len);
}

static void
pic_dev_read(struct device *dev, struct vcpu *vcpu, uint64_t off, void *data,
	     unsigned len)
{
	(void)vcpu;
	(void)len;
	pic_pio(dev->vm->pic, (uint16_t)((uintptr_t)dev->priv + off), 0, data);
}

static void
pic_dev_write(struct device *dev, struct vcpu *vcpu, uint64_t off,
	      const void *data, unsigned len)
{
	uint8_t v = *(const uint8_t *)data;

	(void)vcpu;
	(void)len;
	pic_pio(dev->vm->pic, (uint16_t)((uintptr_t)dev->priv + off), 1, &v);
}

static void
plain_dev_free(struct device *dev)
{
	free(dev);
}

static const struct dev_ops ioapic_dev_ops = {
	.name = "ioapic",
	.mmio_read = ioapic_dev_read,
	.mmio_write = ioapic_dev_write,
	.free = plain_dev_free,
};

static const struct dev_ops pic_dev_ops = {
	.name = "pic",
	.pio_read = pic_dev_read,
	.pio_write = pic_dev_write,
	.free = plain_dev_free,
};

/* The ports of the PIC pair and ELCR; priv holds the range's base. */
static int
vm_add_pic(struct vm *vm)
{
	static const uint16_t base[] = { 0x20, 0xa0, 0x4d0 };
	size_t i;

	for (i = 0; i < AVM_ARRAY_SIZE(base); i++) {
		struct device *d = calloc(1, sizeof(*d));

		if (!d)
			return -1;
		d->ops = &pic_dev_ops;
		d->priv = (void *)(uintptr_t)base[i];
		if (vm_add_device(vm, d, BUS_PIO, base[i], 2) < 0)
			return -1;
	}
	return 0;
}

static int
vm_add_ioapic(struct vm *vm)
{
	struct device *d = calloc(1, sizeof(*d));

	if (!d)
		return -1;
	d->ops = &ioapic_dev_ops;
	return vm_add_device(vm, d, BUS_MMIO, ACPI_IOAPIC_ADDR,
			     IOAPIC_MMIO_LEN);
}

/* --- KVM and memory -----------------------------------------------------*/

static int
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

/* MSRs the user-space APIC owns exit to us: IA32_APIC_BASE,
 * IA32_TSC_DEADLINE and the x2APIC range; unknown MSRs too. */
static int
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

static uint64_t
host_mem_total(void)
{
	char buf[4096], *p;
	uint64_t kb = 0;

	if (read_file_str("/proc/meminfo", buf, sizeof(buf)) < 0)
		return 0;
	p = strstr(buf, "MemTotal:");
	if (p && sscanf(p, "MemTotal: %" SCNu64, &kb) != 1)
		kb = 0;
	return kb * 1024;
}

static int
vm_memory(struct vm *vm)
{
	struct kvm_userspace_memory_region r;
	uint64_t host = host_mem_total(), low;
	char a[32], b[32];

	vm->ram_size = vm->opts.mem_bytes;
	if (host && vm->ram_size > host) {
		log_err("--memory %s: more than this host's RAM (%s)",
			size_format(vm->ram_size, a, sizeof(a)),
			size_format(host & ~((1ull << 20) - 1), b, sizeof(b)));
		return AVM_EX_UNAVAILABLE;
	}
	vm->mem_fd = memfd_create("avm-ram", MFD_CLOEXEC);
	if (vm->mem_fd < 0 || ftruncate(vm->mem_fd, (off_t)vm->ram_size) < 0) {
		log_err("guest RAM memfd of %s: %s",
			size_format(vm->ram_size, a, sizeof(a)),
			strerror(errno));
		return AVM_EX_OSERR;
	}
	vm->ram = mmap(NULL, vm->ram_size, PROT_READ | PROT_WRITE,
		       MAP_SHARED | MAP_NORESERVE, vm->mem_fd, 0);
	if (vm->ram == MAP_FAILED) {
		vm->ram = NULL;
		log_err("mmap guest RAM: %s", strerror(errno));
		return AVM_EX_OSERR;
	}
	low = vm->ram_size < BOOT_MMIO_HOLE_START ? vm->ram_size
						  : BOOT_MMIO_HOLE_START;
	memset(&r, 0, sizeof(r));
	r.slot = 0;
	r.guest_phys_addr = 0;
	r.memory_size = low;
	r.userspace_addr = (uintptr_t)vm->ram;
	if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
		goto fail;
	if (vm->ram_size > low) {
		r.slot = 1;
		r.guest_phys_addr = BOOT_MMIO_HOLE_END;
		r.memory_size = vm->ram_size - low;
		r.userspace_addr = (uintptr_t)(vm->ram + low);
		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0)
			goto fail;
	}
	return AVM_EX_OK;
fail:
	log_err("KVM_SET_USER_MEMORY_REGION: %s", strerror(errno));
	return AVM_EX_UNAVAILABLE;
}

static int
vm_boot(struct vm *vm)
{
	struct guest_mem gm = { vm->ram, vm->ram_size };
	struct acpi_mem_range range[ACPI_MAX_DOMAINS];
	struct boot_params_in in;
	struct entry_state st;
	char err[512];
	uint32_t *dom;
	int r;

	/* Only node 0 loads the guest; the others get its pages from their
	 * pager when their vCPUs touch them. */
	if (vm->node != 0)
		return AVM_EX_OK;
	memset(&in, 0, sizeof(in));
	in.format = (enum boot_format)vm->opts.boot_format;
	in.kernel = vm->opts.kernel;
	in.initrd = vm->opts.initrd;
	in.cmdline = vm->opts.cmdline;
	in.acpi.vcpus = vm->nvcpus;
	in.acpi.ioapic_id = 0; /* as the IOAPIC's ID register says */
	in.acpi.flags = ACPI_F_COM1;
	/* One proximity domain per node: its vCPUs and the memory it is
	 * home of, from the placement the pagers have. */
	dom = calloc(vm->nvcpus, sizeof(*dom));
	if (!dom)
		return AVM_EX_OSERR;
	if (acpi_numa_place(&in.acpi, vm->place, vm->nnodes, dom, range) < 0) {
		free(dom);
		log_err("SRAT: %u nodes: %s", vm->nnodes, strerror(errno));
		return AVM_EX_SOFTWARE;
	}
	r = boot_load(&gm, &in, &st, err, sizeof(err));
	free(dom);
	if (r < 0) {
		int e = errno;

		log_err("%s", err);
		switch (e) {
		case ENOENT:
			return AVM_EX_NOINPUT;
		case EACCES:
		case EPERM:
			return AVM_EX_NOPERM;
		case EFBIG:
		case E2BIG:
		case EINVAL:
			return AVM_EX_USAGE;
		default:
			return AVM_EX_DATAERR;
		}
	}
	log_debug("booting '%s' as %s: kernel %#" PRIx64 "-%#" PRIx64
		  ", entry %#" PRIx64,
		  vm->opts.kernel, boot_format_name(st.format), st.kernel_start,
		  st.kernel_end, st.rip);
	if (vcpu_set_entry(vm->vcpus[0], &st) < 0) {
		log_err("vCPU 0: set entry state: %s", strerror(errno));
		return AVM_EX_SOFTWARE;
	}
	return AVM_EX_OK;
}

static int
vm_rundir(struct vm *vm)
{
	char base[200], path[300];

	if (avm_rundir(base, sizeof(base)) < 0) {
		log_err("no run directory: set AVM_RUNDIR");
		return AVM_EX_CONFIG;
	}
	if (mkdir(base, 0700) < 0 && errno != EEXIST) {
		log_err("mkdir '%s': %s", base, strerror(errno));
		return errno == EACCES ? AVM_EX_NOPERM : AVM_EX_CANTCREAT;
	}
	snprintf(vm->dir, sizeof(vm->dir), "%s/%s", base, vm->opts.name);
	if (mkdir(vm->dir, 0700) < 0 && errno != EEXIST) {
		log_err("mkdir '%s': %s", vm->dir, strerror(errno));
		return errno == EACCES ? AVM_EX_NOPERM : AVM_EX_CANTCREAT;
	}
	snprintf(path, sizeof(path), "%s/run.sock", vm->dir);
	vm->ctl = ctl_start(vm, path);
	if (!vm->ctl) {
		if (errno == EADDRINUSE) {
			log_err("a VM named '%s' is already running here ('%s' "
				"answers); choose another --name",
				vm->opts.name, path);
			return AVM_EX_UNAVAILABLE;
		}
		log_err("listen on '%s': %s", path, strerror(errno));
		return AVM_EX_CANTCREAT;
	}
	return AVM_EX_OK;
}

static int
vm_devices(struct vm *vm)
{
	int out = STDOUT_FILENO, in = STDIN_FILENO;

	if (vm->node != 0)
		return AVM_EX_OK; /* devices live on node 0 */
	if (vm->opts.console) {
		out = open(vm->opts.console,
			   O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (out < 0) {
			log_err("open '%s': %s", vm->opts.console,
				strerror(errno));
			return AVM_EX_CANTCREAT;
		}
		vm->console_fd = out;
		in = -1;
	}
	vm->uart = uart_create(vm, out, in);
	if (!vm->uart || rtc_create(vm) < 0 || pm_create(vm) < 0 ||
	    debugexit_create(vm) < 0 || vm_add_ioapic(vm) < 0 ||
	    vm_add_pic(vm) < 0) {
		log_err("devices: %s", strerror(errno));
		return AVM_EX_SOFTWARE;
	}
	return AVM_EX_OK;
}

/* The 8259's INT output is wired to LINT0 of the boot vCPU. */
static void
vm_pic_output(void *opaque, int level)
{
	struct vm *vm = opaque;

	if (vm->vcpus && vm->vcpus[0])
		lapic_set_lint(&vm->vcpus[0]->lapic, 0, level);
}

/* Every node has the APIC bus, whose remote APICs are reached the way
 * route_init() chose; the IOAPIC and the PIC are devices of node 0. */
static int
vm_irqchips(struct vm *vm)
{
	vm->apicbus = calloc(1, sizeof(*vm->apicbus));
	if (!vm->apicbus ||
	    apicbus_init(vm->apicbus, vm->nvcpus, vm->route->apic, vm) < 0) {
		log_err("interrupt controllers: %s", strerror(errno));
		return AVM_EX_SOFTWARE;
	}
	vm->irqchips_ready = 1;
	if (vm->node != 0)
		return AVM_EX_OK;
	vm->ioapic = calloc(1, sizeof(*vm->ioapic));
	vm->pic = calloc(1, sizeof(*vm->pic));
	if (!vm->ioapic || !vm->pic ||
	    ioapic_init(vm->ioapic, vm->apicbus) < 0) {
		log_err("interrupt controllers: %s", strerror(errno));
		return AVM_EX_SOFTWARE;
	}
	vm->irqchips_ready = 2;
	if (pic_init(vm->pic, vm_pic_output, vm) < 0) {
		log_err("interrupt controllers: %s", strerror(errno));
		return AVM_EX_SOFTWARE;
	}
	vm->irqchips_ready = 3;
	return AVM_EX_OK;
}

static int
vm_vcpus(struct vm *vm)
{
	unsigned i;

	vm->cpuid = cpuid_supported(vm->kvm_fd);
	vm->vcpus = calloc(vm->nvcpus, sizeof(*vm->vcpus));
	if (!vm->cpuid || !vm->vcpus) {
		log_err("KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
		return AVM_EX_UNAVAILABLE;
	}
	for (i = vm->vcpu_first; i < vm->vcpu_first + vm->vcpu_count; i++) {
		vm->vcpus[i] = vcpu_create(vm, i);
		if (!vm->vcpus[i]) {
			log_err("vCPU %u: %s", i, strerror(errno));
			return AVM_EX_UNAVAILABLE;
		}
		if (vcpu_setup_cpuid(vm->vcpus[i]) < 0) {
			log_err("vCPU %u: KVM_SET_CPUID2: %s", i,
				strerror(errno));
			return AVM_EX_UNAVAILABLE;
		}
		if (apicbus_attach(vm->apicbus, i, &vm->vcpus[i]->lapic) < 0) {
			log_err("vCPU %u: APIC bus: %s", i, strerror(errno));
			return AVM_EX_SOFTWARE;
		}
	}
	return AVM_EX_OK;
}

/*
 * Where vCPUs and home memory go (avm/placement.h): the cluster file's
 * split, or equal blocks.  Every node computes the same from the same
 * options; the pager gets the homes (vm_pager_start), the guest the SRAT
 * (vm_boot).
 */
static int
vm_placement(struct vm *vm)
{
	struct placement_in in = { vm->nnodes, vm->nvcpus, vm->opts.mem_bytes,
				   vm->opts.node_vcpus,
				   vm->opts.node_mem_bytes };
	const struct placement_node *me;
	char why[256];
	unsigned i, k;

	vm->place = calloc(vm->nnodes, sizeof(*vm->place));
	vm->vcpu_node = calloc(vm->nvcpus, sizeof(*vm->vcpu_node));
	if (!vm->place || !vm->vcpu_node)
		return AVM_EX_OSERR;
	if (placement_compute(&in, vm->place, why, sizeof(why)) < 0) {
		log_err("placing %u vCPUs and %" PRIu64
			" bytes on %u nodes: %s",
			vm->nvcpus, vm->opts.mem_bytes, vm->nnodes, why);
		return AVM_EX_USAGE;
	}
	for (i = 0; i < vm->nnodes; i++)
		for (k = 0; k < vm->place[i].vcpu_count; k++)
			vm->vcpu_node[vm->place[i].vcpu_first + k] = i;
	me = &vm->place[vm->node];
	vm->vcpu_first = me->vcpu_first;
	vm->vcpu_count = me->vcpu_count;
	return AVM_EX_OK;
}

static int
vm_links(struct vm *vm)
{
	if (vm->nnodes < 2)
		return AVM_EX_OK;
	return links_open(vm, LINKS_OPEN_TIMEOUT_MS);
}

int
vm_create(struct vm *vm, const struct vm_opts *opts)
{
	/* Start-up order: each step may use what the steps above made. */
	static int (*const steps[])(struct vm *) = {
		vm_placement, kvm_open,	 kvm_msr_setup,	 vm_rundir,
		vm_launch,    vm_memory, vm_pager_start, vm_irqchips,
		vm_devices,   vm_vcpus,	 vm_boot,	 vm_links,
	};
	size_t i;
	int r;

	memset(vm, 0, sizeof(*vm));
	vm->opts = *opts;
	vm->nvcpus = opts->vcpus;
	vm->node = opts->node;
	vm->nnodes = opts->nodes ? opts->nodes : 1;
	route_init(vm);
	vm->kvm_fd = vm->vm_fd = vm->mem_fd = vm->timer_epfd = -1;
	vm->end_fd = vm->console_fd = vm->pager_fd = -1;
	pthread_mutex_init(&vm->lock, NULL);
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&vm->cond, &ca);
		pthread_condattr_destroy(&ca);
	}
	atomic_store(&vm->state, VM_STARTING);
	vm->start_ns = now_ns();
	for (i = 0; i < AVM_ARRAY_SIZE(steps); i++) {
		r = steps[i](vm);
		if (r != AVM_EX_OK) {
			vm_release(vm);
			return r;
		}
	}
	return AVM_EX_OK;
}

/* --- running ------------------------------------------------------------*/

/* Fires the LAPIC timers: each vCPU's timerfd is armed at its LAPIC's
 * deadline; expiry raises the interrupt and kicks the vCPU. */
static void *
vm_timer_thread(void *arg)
{
	struct vm *vm = arg;
	struct epoll_event ev[16];
	int n, i;

	for (;;) {
		n = epoll_wait(vm->timer_epfd, ev, 16, -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		for (i = 0; i < n; i++) {
			struct vcpu *v = ev[i].data.ptr;
			uint64_t x;

			if (!v)
				return NULL;
			if (read(v->timerfd, &x, sizeof(x)) < 0) {
				/* EAGAIN: re-armed meanwhile */
			}
			lapic_timer_expire(&v->lapic, now_ns());
		}
	}
	return NULL;
}

static int
vm_timer_start(struct vm *vm)
{
	struct epoll_event ev;
	unsigned i;

	vm->timer_epfd = epoll_create1(EPOLL_CLOEXEC);
	if (vm->timer_epfd < 0)
		return -1;
	for (i = 0; i < vm->nvcpus; i++) {
		if (!vm->vcpus[i])
			continue; /* another node's */
		ev.events = EPOLLIN;
		ev.data.ptr = vm->vcpus[i];
		if (epoll_ctl(vm->timer_epfd, EPOLL_CTL_ADD,
			      vm->vcpus[i]->timerfd, &ev) < 0)
			return -1;
	}
	/* end_fd (data NULL) ends the thread with the VM. */
	ev.events = EPOLLIN;
	ev.data.ptr = NULL;
	if (epoll_ctl(vm->timer_epfd, EPOLL_CTL_ADD, vm->end_fd, &ev) < 0)
		return -1;
	if (pthread_create(&vm->timer_thread, NULL, vm_timer_thread, vm)) {
		errno = EAGAIN;
		return -1;
	}
	pthread_setname_np(vm->timer_thread, "avm-timers");
	vm->timer_started = 1;
	return 0;
}

int
vm_run(struct vm *vm)
{
	struct signalfd_siginfo si;
	uint64_t last_tick = now_ns();
	sigset_t set;
	int sfd;
	unsigned i;

	/* SIGINT/SIGTERM/SIGHUP end the VM; every thread inherits the
	 * mask, the main thread reads them from a signalfd. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	sfd = signalfd(-1, &set, SFD_CLOEXEC);
	vm->end_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (sfd < 0 || vm->end_fd < 0 || vcpu_signals_init() < 0 ||
	    vm_timer_start(vm) < 0 || (vm->uart && uart_start(vm->uart) < 0) ||
	    links_start(vm) < 0) {
		log_err("start: %s", strerror(errno));
		vm_end(vm, VM_END_ERROR, AVM_EX_OSERR, "start failed");
	}
	pthread_mutex_lock(&vm->lock);
	if (vm_state(vm) == VM_STARTING)
		atomic_store(&vm->state, VM_RUNNING);
	pthread_mutex_unlock(&vm->lock);
	for (i = 0; i < vm->nvcpus && vm_state(vm) != VM_STOPPING; i++) {
		if (vm->vcpus[i] && vcpu_start(vm->vcpus[i]) < 0) {
			log_err("vCPU %u: thread: %s", i, strerror(errno));
			vm_end(vm, VM_END_ERROR, AVM_EX_OSERR,
			       "vCPU thread failed");
		}
	}
	while (vm_state(vm) != VM_STOPPING) {
		struct pollfd p[3] = { { sfd, POLLIN, 0 },
				       { vm->end_fd, POLLIN, 0 },
				       { vm->pager_fd, POLLIN, 0 } };

		int n = poll(p, 3, vm->links ? LINK_HEARTBEAT_MS : -1);

		if (n < 0 && errno != EINTR)
			break;
		if (vm->links &&
		    now_ns() - last_tick >= LINK_HEARTBEAT_MS * 1000000ull) {
			last_tick = now_ns();
			links_tick(vm);
		}
		if (p[2].revents)
			vm_pager_event(vm);
		if (sfd >= 0 && (p[0].revents & POLLIN) &&
		    read(sfd, &si, sizeof(si)) == sizeof(si))
			vm_end(vm, VM_END_STOP, 128 + (int)si.ssi_signo,
			       "stopped by signal %s",
			       sigabbrev_np((int)si.ssi_signo));
	}
	/* The other nodes end with us. */
	links_close(vm);
	for (i = 0; i < vm->nvcpus; i++)
		if (vm->vcpus[i])
			vcpu_join(vm->vcpus[i]);
	if (sfd >= 0)
		close(sfd);
	switch (vm->end) {
	case VM_END_ERROR:
		log_err("%s", vm->end_why);
		break;
	case VM_END_RESET:
		log_err("%s; avm-run does not restart guests, exiting",
			vm->end_why);
		break;
	default:
		log_debug("%s", vm->end_why);
		break;
	}
	return vm->end_status;
}

void
vm_release(struct vm *vm)
{
	unsigned i;
	uint64_t one = 1;

	if (vm->ctl) {
		ctl_stop(vm->ctl);
		vm->ctl = NULL;
	}
	if (vm->timer_started) {
		if (write(vm->end_fd, &one, sizeof(one)) < 0) {
			/* the counter cannot be full here */
		}
		pthread_join(vm->timer_thread, NULL);
		vm->timer_started = 0;
	}
	vm->uart = NULL; /* freed with the devices */
	links_free(vm);
	for (i = 0; vm->vcpus && i < vm->nvcpus; i++)
		vcpu_free(vm->vcpus[i]);
	free(vm->vcpus);
	vm->vcpus = NULL;
	/* Last registered, first freed: a device that shares its state
	 * over several ranges frees it with the range it registered first. */
	for (i = vm->ndevs; i-- > 0;)
		vm->devs[i]->ops->free(vm->devs[i]);
	free(vm->devs);
	vm->devs = NULL;
	bus_release(&vm->pio);
	bus_release(&vm->mmio);
	if (vm->irqchips_ready >= 3)
		pic_release(vm->pic);
	if (vm->irqchips_ready >= 2)
		ioapic_release(vm->ioapic);
	if (vm->irqchips_ready >= 1)
		apicbus_release(vm->apicbus);
	free(vm->pic);
	free(vm->ioapic);
	free(vm->apicbus);
	free(vm->cpuid);
	vm_pager_stop(vm);
	vm_reap_nodes(vm);
	free(vm->vcpu_node);
	vm->vcpu_node = NULL;
	free(vm->place);
	vm->place = NULL;
	if (vm->ram)
		munmap(vm->ram, vm->ram_size);
	if (vm->dir[0])
		rmdir(vm->dir);
	if (vm->mem_fd >= 0)
		close(vm->mem_fd);
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	if (vm->timer_epfd >= 0)
		close(vm->timer_epfd);
	if (vm->end_fd >= 0)
		close(vm->end_fd);
	if (vm->console_fd >= 0)
		close(vm->console_fd);
	pthread_mutex_destroy(&vm->lock);
	pthread_cond_destroy(&vm->cond);
}
