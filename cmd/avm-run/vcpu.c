/*
 * The vCPU loop: KVM_RUN, then the exit's handler, with interrupts
 * injected from the user-space local APIC in between.
 *
 * Kicks: another thread that makes something pending for this vCPU (an
 * IPI, a timer, pause, stop) calls vcpu_kick(): it bumps wake_fd (for a
 * vCPU halted or waiting for SIPI) and, when the vCPU is inside or about
 * to enter KVM_RUN, sends SIGUSR1, whose handler sets immediate_exit in
 * the run area.  in_run is set before the last checks, so a kick that
 * comes after them always finds it set, and a signal that lands before
 * KVM_RUN makes KVM_RUN return at once: no kick is lost.
 *
 * What KVM keeps of the APIC without an in-kernel one, and we keep in
 * step with the model: CR8 (kvm_run.cr8 in before each KVM_RUN, out
 * after: TPR[7:4]), IA32_APIC_BASE (KVM_SET_MSRS after each change:
 * KVM derives CPUID.1:EDX.APIC from its EN bit) and the NMIs it queues
 * (KVM_GET_VCPU_EVENTS says how many more it can hold).
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/timerfd.h>
#include <unistd.h>
#include <x86intrin.h>

#include "avm/log.h"
#include "avm/util.h"

#include "arch/x86/boot.h"
#include "arch/x86/cpuid.h"
#include "arch/x86/pic.h"
#include "route.h"
#include "runstats.h"
#include "vcpu.h"
#include "vm.h"

#define KICK_SIGNAL SIGUSR1

static __thread struct kvm_run *tls_run;

static void
kick_handler(int sig)
{
	(void)sig;
	if (tls_run)
		tls_run->immediate_exit = 1;
}

int
vcpu_signals_init(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = kick_handler;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: KVM_RUN must return EINTR. */
	return sigaction(KICK_SIGNAL, &sa, NULL);
}

const char *
vcpu_mp_name(int mp)
{
	switch (mp) {
	case VCPU_RUNNABLE:
		return "running";
	case VCPU_HALTED:
		return "halted";
	case VCPU_WAIT_SIPI:
		return "wait-for-sipi";
	}
	return "unknown";
}

void
vcpu_kick(struct vcpu *v)
{
	uint64_t one = 1;

	if (write(v->wake_fd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is full, a wake is pending anyway */
	}
	if (v->started && atomic_load(&v->in_run))
		pthread_kill(v->thread, KICK_SIGNAL);
}

/* --- LAPIC environment --------------------------------------------------*/

static uint64_t
env_now(void *opaque)
{
	(void)opaque;
	return now_ns();
}

static int64_t
vcpu_tsc_offset(struct vcpu *v)
{
	return v->vm->tsc_offset;
}

static uint64_t
env_guest_tsc(void *opaque)
{
	struct vcpu *v = opaque;

	return __rdtsc() + (uint64_t)vcpu_tsc_offset(v);
}

static void
env_timer_changed(void *opaque)
{
	struct vcpu *v = opaque;
	uint64_t d = lapic_timer_deadline(&v->lapic);
	struct itimerspec its;

	memset(&its, 0, sizeof(its));
	if (d) {
		its.it_value.tv_sec = (time_t)(d / 1000000000ull);
		its.it_value.tv_nsec = (long)(d % 1000000000ull);
		if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
			its.it_value.tv_nsec = 1;
	}
	if (timerfd_settime(v->timerfd, TFD_TIMER_ABSTIME, &its, NULL) < 0)
		log_err("vCPU %u: timerfd_settime: %s", v->id, strerror(errno));
}

static void
env_eoi(void *opaque, uint8_t vector)
{
	struct vcpu *v = opaque;

	route_eoi(v->vm, vector);
}

static void
env_kick(void *opaque)
{
	vcpu_kick(opaque);
}

/* --- creation -----------------------------------------------------------*/

/*
 * KVM's statistics of the vCPU, when the kernel has a stats fd: none
 * (ENOTTY, EINVAL: older than 5.14) is no failure, and neither is one
 * that cannot be read, only worth a warning: the counters of avm-run
 * itself are there either way.
 */
static void
vcpu_kvmstats_open(struct vcpu *v)
{
	char why[200] = "";
	int r = kvmstats_open(&v->kstats, v->fd, why, sizeof(why));

	if (r == -ENOTTY || r == -EINVAL)
		log_debug("vCPU %u: no KVM_GET_STATS_FD: %s", v->id,
			  strerror(-r));
	else if (r < 0) /* said once a node: every vCPU's is alike */
		log_msg(v->id == v->vm->vcpu_first ? LOG_LVL_WARN
						   : LOG_LVL_DEBUG,
			"vCPU %u: KVM's statistics left out: %s", v->id,
			r == -EPROTO ? why : strerror(-r));
	else
		log_debug("vCPU %u: KVM's statistics: have %#llx", v->id,
			  (unsigned long long)v->kstats.map.have);
	vcpu_stats_sample(v);
}

struct vcpu *
vcpu_create(struct vm *vm, unsigned id)
{
	struct vcpu *v = calloc(1, sizeof(*v));
	struct lapic_env env;
	int e;

	if (!v)
		return NULL;
	v->vm = vm;
	v->id = id;
	v->fd = v->timerfd = v->wake_fd = v->kstats.fd = -1;
	v->run_state = RUN_VCPU_STOPPED;
	/* The stats file's entry (made before the vCPUs, vm.c). */
	v->st = id >= vm->vcpu_first
			? runstats_vcpu(&vm->stats, id - vm->vcpu_first)
			: NULL;
	if (!v->st) {
		errno = EINVAL;
		goto fail;
	}
	v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)id);
	if (v->fd < 0)
		goto fail;
	v->run = mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      v->fd, 0);
	if (v->run == MAP_FAILED) {
		v->run = NULL;
		goto fail;
	}
	vcpu_kvmstats_open(v);
	if (ioctl(v->fd, KVM_GET_SREGS, &v->reset_sregs) < 0)
		goto fail;
	if (id == vm->vcpu_first) {
		int khz = ioctl(v->fd, KVM_GET_TSC_KHZ, 0);

		vm->tsc_khz = khz > 0 ? (uint32_t)khz : 0;
		vm->tsc_offset = vm_tsc_sync(v->fd);
		log_debug("TSC %u kHz, guest - host %lld cycles", vm->tsc_khz,
			  (long long)vm->tsc_offset);
	} else
		vm_tsc_sync(v->fd);
	v->timerfd =
		timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	v->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (v->timerfd < 0 || v->wake_fd < 0)
		goto fail;
	memset(&env, 0, sizeof(env));
	env.opaque = v;
	env.now_ns = env_now;
	env.guest_tsc = env_guest_tsc;
	env.tsc_khz = vm->tsc_khz;
	env.kick = env_kick;
	env.timer_changed = env_timer_changed;
	env.eoi = env_eoi;
	env.bus = vm->apicbus;
	env.ipis_local = &v->st->ipis_local;
	env.ipis_remote = &v->st->ipis_remote;
	env.maxphyaddr = (uint8_t)cpuid_maxphyaddr(vm->cpuid);
	if (lapic_init(&v->lapic, id, id == 0, &env) < 0)
		goto fail;
	v->lapic_ready = 1;
	atomic_store(&v->mp, id == 0 ? VCPU_RUNNABLE : VCPU_WAIT_SIPI);
	return v;
fail:
	e = errno;
	vcpu_free(v);
	errno = e;
	return NULL;
}

/*
 * KVM's copy of IA32_APIC_BASE := the model's.  Guest accesses to the
 * MSR exit to us (MSR filter), but KVM still keeps a copy, 0 without an
 * in-kernel APIC unless told, and sets CPUID.1:EDX.APIC from its EN bit
 * whenever it changes or CPUID is set (kvm_update_cpuid_runtime).
 * KVM_SET_CPUID2 cannot do it instead: after the first KVM_RUN, KVM
 * refuses a table that differs.  Host-initiated KVM_SET_MSRS is not
 * filtered and takes any valid transition.  Returns 0, or -1 with errno.
 */
static int
vcpu_sync_apic_base(struct vcpu *v)
{
	struct {
		struct kvm_msrs h;
		struct kvm_msr_entry e;
	} m;

	memset(&m, 0, sizeof(m));
	m.h.nmsrs = 1;
	m.e.index = MSR_IA32_APIC_BASE;
	m.e.data = lapic_apic_base(&v->lapic);
	if (ioctl(v->fd, KVM_SET_MSRS, &m) != 1) {
		if (errno == 0)
			errno = EINVAL; /* 0 MSRs set: KVM refused the value */
		return -1;
	}
	return 0;
}

int
vcpu_setup_cpuid(struct vcpu *v)
{
	if (cpuid_apply(v->fd, v->vm->cpuid, v->id, v->vm->nvcpus,
			v->vm->tsc_khz, (uint32_t)(LAPIC_BUS_HZ / 1000)) < 0)
		return -1;
	return vcpu_sync_apic_base(v);
}

static void
seg_to_kvm(struct kvm_segment *k, const struct boot_seg *s)
{
	memset(k, 0, sizeof(*k));
	k->base = s->base;
	k->limit = s->limit;
	k->selector = s->selector;
	k->type = s->type;
	k->present = s->present;
	k->dpl = s->dpl;
	k->db = s->db;
	k->s = s->s;
	k->l = s->l;
	k->g = s->g;
	k->avl = s->avl;
	k->unusable = s->unusable;
}

int
vcpu_set_entry(struct vcpu *v, const struct entry_state *st)
{
	struct kvm_sregs sr;
	struct kvm_regs regs;

	if (ioctl(v->fd, KVM_GET_SREGS, &sr) < 0)
		return -1;
	seg_to_kvm(&sr.cs, &st->cs);
	seg_to_kvm(&sr.ds, &st->ds);
	seg_to_kvm(&sr.es, &st->es);
	seg_to_kvm(&sr.fs, &st->fs);
	seg_to_kvm(&sr.gs, &st->gs);
	seg_to_kvm(&sr.ss, &st->ss);
	seg_to_kvm(&sr.tr, &st->tr);
	seg_to_kvm(&sr.ldt, &st->ldt);
	sr.gdt.base = st->gdt.base;
	sr.gdt.limit = st->gdt.limit;
	sr.idt.base = st->idt.base;
	sr.idt.limit = st->idt.limit;
	sr.cr0 = st->cr0;
	sr.cr3 = st->cr3;
	sr.cr4 = st->cr4;
	sr.efer = st->efer;
	if (ioctl(v->fd, KVM_SET_SREGS, &sr) < 0)
		return -1;
	memset(&regs, 0, sizeof(regs));
	regs.rip = st->rip;
	regs.rsp = st->rsp;
	regs.rflags = st->rflags ? st->rflags : 0x2;
	regs.rax = st->rax;
	regs.rbx = st->rbx;
	regs.rsi = st->rsi;
	regs.rdi = st->rdi;
	return ioctl(v->fd, KVM_SET_REGS, &regs) < 0 ? -1 : 0;
}

/* SIPI: real mode at vector << 12, from the power-on state. */
static int
vcpu_sipi(struct vcpu *v, uint8_t vector)
{
	struct kvm_sregs sr = v->reset_sregs;
	struct kvm_regs regs;

	sr.cs.selector = (uint16_t)(vector << 8);
	sr.cs.base = (uint64_t)vector << 12;
	/* INIT keeps IA32_APIC_BASE: not the power-on copy's 0, which would
	 * clear CPUID's APIC bit (vcpu_sync_apic_base). */
	sr.apic_base = lapic_apic_base(&v->lapic);
	if (ioctl(v->fd, KVM_SET_SREGS, &sr) < 0)
		return -1;
	memset(&regs, 0, sizeof(regs));
	regs.rflags = 0x2;
	return ioctl(v->fd, KVM_SET_REGS, &regs) < 0 ? -1 : 0;
}

/* --- exits --------------------------------------------------------------*/

static void
vcpu_fail(struct vcpu *v, int status, const char *what)
{
	struct kvm_regs regs;

	if (ioctl(v->fd, KVM_GET_REGS, &regs) == 0)
		vm_end(v->vm, VM_END_ERROR, status, "vCPU %u: %s at rip %#llx",
		       v->id, what, (unsigned long long)regs.rip);
	else
		vm_end(v->vm, VM_END_ERROR, status, "vCPU %u: %s", v->id, what);
}

static void
vcpu_io(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint8_t *p = (uint8_t *)run + run->io.data_offset;

	route_io(v, BUS_PIO, run->io.port, p, run->io.size, run->io.count,
		 run->io.direction == KVM_EXIT_IO_OUT);
}

static void
vcpu_mmio(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint64_t a = run->mmio.phys_addr;
	uint64_t base = lapic_mmio_base(&v->lapic);
	unsigned len = run->mmio.len > 8 ? 8 : run->mmio.len;

	/* The APIC's page is the APIC's even when it does not decode it
	 * (all ones, writes dropped: lapic.h). */
	if (a >= base && a - base < 0x1000) {
		if (run->mmio.is_write)
			lapic_mmio_write(&v->lapic, (uint32_t)(a - base),
					 run->mmio.data, len);
		else
			lapic_mmio_read(&v->lapic, (uint32_t)(a - base),
					run->mmio.data, len);
		return;
	}
	route_io(v, BUS_MMIO, a, run->mmio.data, len, 1, run->mmio.is_write);
}

static void
vcpu_msr(struct vcpu *v, int is_write)
{
	struct kvm_run *run = v->run;
	uint32_t idx = run->msr.index;
	int r = -1;

	if (lapic_msr_owns(idx)) {
		if (is_write) {
			uint64_t old = lapic_apic_base(&v->lapic);

			r = lapic_msr_write(&v->lapic, idx, run->msr.data);
			if (r == 0 && idx == MSR_IA32_APIC_BASE &&
			    lapic_apic_base(&v->lapic) != old &&
			    vcpu_sync_apic_base(v) < 0)
				vcpu_fail(v, AVM_EX_SOFTWARE,
					  "KVM_SET_MSRS IA32_APIC_BASE failed");
		} else {
			uint64_t val = 0;

			r = lapic_msr_read(&v->lapic, idx, &val);
			run->msr.data = val;
		}
	} else {
		/* An MSR KVM does not know: #GP, as KVM itself would. */
		log_debug("vCPU %u: %s unknown MSR %#x: #GP", v->id,
			  is_write ? "wrmsr" : "rdmsr", idx);
	}
	/* error: KVM injects #GP (reserved bits, illegal transitions). */
	run->msr.error = r < 0 ? 1 : 0;
}

static void
vcpu_inject(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	struct kvm_interrupt irq;
	int vec = lapic_next_irq(&v->lapic);

	if (vec < 0) {
		run->request_interrupt_window = 0;
		return;
	}
	if (!run->ready_for_interrupt_injection || !run->if_flag) {
		run->request_interrupt_window = 1;
		return;
	}
	if (vec == LAPIC_IRQ_EXTINT) {
		lapic_ack_irq(&v->lapic, vec);
		vec = v->vm->pic ? pic_intack(v->vm->pic) : -1;
		if (vec < 0)
			return;
	} else {
		lapic_ack_irq(&v->lapic, vec);
	}
	irq.irq = (uint32_t)vec;
	if (ioctl(v->fd, KVM_INTERRUPT, &irq) < 0) {
		vcpu_fail(v, AVM_EX_SOFTWARE, "KVM_INTERRUPT failed");
		return;
	}
	runstats_inc(&v->st->irqs_injected);
	/* One injection per entry; ask to come back for the next. */
	run->request_interrupt_window = lapic_next_irq(&v->lapic) >= 0;
}

static void
vcpu_events(struct vcpu *v)
{
	struct lapic_events ev;

	if (!lapic_take_events(&v->lapic, &ev))
		return;
	if (ev.init) {
		lapic_reset(&v->lapic);
		atomic_store(&v->mp, VCPU_WAIT_SIPI);
	}
	if (ev.sipi && atomic_load(&v->mp) == VCPU_WAIT_SIPI) {
		if (vcpu_sipi(v, ev.sipi_vector) < 0) {
			vcpu_fail(v, AVM_EX_SOFTWARE, "start-up IPI failed");
			return;
		}
		log_debug("vCPU %u: SIPI to %#x", v->id,
			  (unsigned)ev.sipi_vector << 12);
		atomic_store(&v->mp, VCPU_RUNNABLE);
	}
}

/*
 * NMIs, one KVM_NMI each, as many as the vCPU has room for: KVM queues
 * what KVM_NMI gives it but keeps at most one beyond one being injected
 * or handled (process_nmi) and drops the rest without a word.  Asking
 * first (its NMI state in KVM_GET_VCPU_EVENTS) makes that decision ours,
 * lapic_nmi_room(): two NMIs that came at once are both injected (one
 * delivered, one pending until the handler's IRET, KVM watching the NMI
 * window), a second one during a handler waits for its IRET, and one
 * more beyond that merges, as on hardware.  In wait-for-SIPI NMIs are
 * dropped.
 */
static void
vcpu_nmi(struct vcpu *v)
{
	struct kvm_vcpu_events ev;
	unsigned n;

	if (!lapic_nmi_pending(&v->lapic))
		return;
	if (atomic_load(&v->mp) == VCPU_WAIT_SIPI) {
		lapic_take_nmis(&v->lapic, 0);
		return;
	}
	memset(&ev, 0, sizeof(ev));
	if (ioctl(v->fd, KVM_GET_VCPU_EVENTS, &ev) < 0) {
		vcpu_fail(v, AVM_EX_SOFTWARE, "KVM_GET_VCPU_EVENTS failed");
		return;
	}
	n = lapic_take_nmis(
		&v->lapic,
		lapic_nmi_room(ev.nmi.masked, ev.nmi.injected, ev.nmi.pending));
	for (; n > 0; n--) {
		if (ioctl(v->fd, KVM_NMI) < 0) {
			vcpu_fail(v, AVM_EX_SOFTWARE, "KVM_NMI failed");
			return;
		}
		if (atomic_load(&v->mp) == VCPU_HALTED)
			atomic_store(&v->mp, VCPU_RUNNABLE);
	}
}

/* A halted vCPU wakes for an interrupt it can take (IF set) or an NMI
 * (handled in vcpu_events). */
static int
vcpu_halt_done(struct vcpu *v)
{
	return v->run->if_flag && lapic_next_irq(&v->lapic) >= 0;
}

static void
vcpu_wait(struct vcpu *v)
{
	struct pollfd p = { v->wake_fd, POLLIN, 0 };
	uint64_t n;

	if (poll(&p, 1, -1) > 0 && read(v->wake_fd, &n, sizeof(n)) < 0) {
		/* EAGAIN: another reader took it; nothing lost */
	}
}

static int
vcpu_exit(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	char what[96];

	runstats_inc(&v->st->exits[runstats_exit_of(run->exit_reason)]);
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		vcpu_io(v);
		break;
	case KVM_EXIT_MMIO:
		vcpu_mmio(v);
		break;
	case KVM_EXIT_X86_RDMSR:
		vcpu_msr(v, 0);
		break;
	case KVM_EXIT_X86_WRMSR:
		vcpu_msr(v, 1);
		break;
	case KVM_EXIT_HLT:
		atomic_store(&v->mp, VCPU_HALTED);
		break;
	case KVM_EXIT_IRQ_WINDOW_OPEN:
	case KVM_EXIT_INTR:
		break; /* counted; the loop injects or looks at the kick */
	case KVM_EXIT_SET_TPR:
		/* The guest lowered CR8: taken into TPR after KVM_RUN; the
		 * loop injects what it unmasked. */
		break;
	case KVM_EXIT_SHUTDOWN:
		/* The guest's doing, not ours: avm-run(1) says 1. */
		vcpu_fail(v, AVM_EX_FAIL, "triple fault (shutdown)");
		return -1;
	case KVM_EXIT_FAIL_ENTRY:
		snprintf(what, sizeof(what), "entry failed, reason %#llx",
			 (unsigned long long)
				 run->fail_entry.hardware_entry_failure_reason);
		vcpu_fail(v, AVM_EX_SOFTWARE, what);
		return -1;
	case KVM_EXIT_INTERNAL_ERROR:
		snprintf(what, sizeof(what), "KVM internal error %u",
			 run->internal.suberror);
		vcpu_fail(v, AVM_EX_SOFTWARE, what);
		return -1;
	case KVM_EXIT_SYSTEM_EVENT:
		vm_end(v->vm, VM_END_POWEROFF, 0, "guest system event %u",
		       run->system_event.type);
		return -1;
	default:
		snprintf(what, sizeof(what), "unexpected exit reason %u",
			 run->exit_reason);
		vcpu_fail(v, AVM_EX_SOFTWARE, what);
		return -1;
	}
	return 0;
}

static void *
vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	struct kvm_run *run = v->run;
	unsigned cr8;
	int mp, r, e;

	tls_run = run;
	__atomic_store_n(&v->st->tid, (uint32_t)gettid(), __ATOMIC_RELAXED);
	for (;;) {
		atomic_store(&v->in_run, 1);
		if (vm_state(v->vm) != VM_RUNNING) {
			atomic_store(&v->in_run, 0);
			if (vm_park(v->vm, v))
				break;
			continue;
		}
		vcpu_events(v);
		vcpu_nmi(v);
		mp = atomic_load(&v->mp);
		if (mp == VCPU_HALTED && vcpu_halt_done(v)) {
			mp = VCPU_RUNNABLE;
			atomic_store(&v->mp, mp);
		}
		if (mp != VCPU_RUNNABLE) {
			atomic_store(&v->in_run, 0);
			/* An AP waiting for its SIPI has not started. */
			vcpu_set_run_state(v, mp == VCPU_HALTED
						      ? RUN_VCPU_HALTED
						      : RUN_VCPU_STOPPED);
			if (!lapic_has_work(&v->lapic) ||
			    (mp == VCPU_HALTED && !vcpu_halt_done(v)))
				vcpu_wait(v);
			continue;
		}
		vcpu_set_run_state(v, RUN_VCPU_RUNNING);
		vcpu_inject(v);
		cr8 = lapic_cr8(&v->lapic);
		run->cr8 = cr8;
		r = ioctl(v->fd, KVM_RUN, 0);
		e = errno;
		/* The guest's CR8 comes back on every return, EINTR too;
		 * only a change goes to TPR: TPR[3:0] is not in CR8. */
		if (run->cr8 != cr8)
			lapic_set_cr8(&v->lapic, run->cr8);
		errno = e;
		if (r < 0) {
			atomic_store(&v->in_run, 0);
			run->immediate_exit = 0;
			if (errno == EINTR || errno == EAGAIN) {
				runstats_inc(&v->st->exits[RUN_EXIT_INTR]);
				continue;
			}
			vcpu_fail(v, AVM_EX_SOFTWARE, "KVM_RUN failed");
			break;
		}
		atomic_store(&v->in_run, 0);
		run->immediate_exit = 0;
		if (vcpu_exit(v) < 0)
			break;
	}
	vcpu_set_run_state(v, RUN_VCPU_STOPPED);
	tls_run = NULL;
	return NULL;
}

int
vcpu_start(struct vcpu *v)
{
	char name[16];
	int r;

	r = pthread_create(&v->thread, NULL, vcpu_thread, v);
	if (r != 0) {
		errno = r;
		return -1;
	}
	snprintf(name, sizeof(name), "avm-vcpu-%u", v->id);
	pthread_setname_np(v->thread, name);
	v->started = 1;
	return 0;
}

void
vcpu_set_run_state(struct vcpu *v, enum run_vcpu_state s)
{
	/* Only on a change: the loop asks before every KVM_RUN. */
	if (v->run_state == (int)s)
		return;
	v->run_state = (int)s;
	runstats_vcpu_state(&v->vm->stats, v->st, s);
}

void
vcpu_stats_sample(struct vcpu *v)
{
	uint64_t val[RUN_KVM_STATS];
	int r;

	if (v->kstats.fd < 0)
		return;
	r = kvmstats_read(&v->kstats, val);
	if (r < 0) {
		/* The last values stay, with their have bits. */
		log_warn("vCPU %u: read KVM's statistics: %s; no longer "
			 "copied",
			 v->id, strerror(-r));
		kvmstats_close(&v->kstats);
		return;
	}
	runstats_kvm(&v->vm->stats, v->st, v->kstats.map.have, val);
}

void
vcpu_join(struct vcpu *v)
{
	if (v->started) {
		pthread_join(v->thread, NULL);
		v->started = 0;
	}
}

void
vcpu_free(struct vcpu *v)
{
	if (!v)
		return;
	if (v->lapic_ready)
		lapic_release(&v->lapic);
	kvmstats_close(&v->kstats);
	if (v->run)
		munmap(v->run, v->vm->run_size);
	if (v->fd >= 0)
		close(v->fd);
	if (v->timerfd >= 0)
		close(v->timerfd);
	if (v->wake_fd >= 0)
		close(v->wake_fd);
	free(v);
}
