/*
 * The VM of avm-run, wired: the start-up table of vm_create() (each step
 * lives in the file of its job: kvm.c, memory.c, devices.c, launch.c,
 * links.c, here), vm_run() and vm_release().  Start-up order is that
 * table, nothing else.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "avm/link.h"
#include "avm/log.h"
#include "avm/placement.h"
#include "avm/util.h"

#include "arch/x86/acpi.h"
#include "arch/x86/apicbus.h"
#include "arch/x86/boot.h"
#include "arch/x86/cpuid.h"
#include "ctl.h"
#include "dev/devices.h"
#include "links.h"
#include "route.h"
#include "vcpu.h"
#include "vm.h"

/* Node 0 loads the kernel (through the pager) before it links. */
#define LINKS_OPEN_TIMEOUT_MS 60000
/* How often KVM's statistics are copied into the stats file. */
#define STATS_TICK_MS 1000
_Static_assert(LINK_HEARTBEAT_MS <= STATS_TICK_MS, "links tick often enough");

/* --- start-up steps -----------------------------------------------------*/

static int
vm_boot(struct vm *vm)
{
	struct guest_mem gm = { vm->ram, vm->ram_size };
	struct acpi_mem_range range[ACPI_MAX_DOMAINS];
	struct acpi_vmmio cards[VM_NETS_MAX];
	struct boot_params_in in;
	struct entry_state st;
	char err[512], extra[VM_DISKS_MAX * 64];
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
	if (vm_disks_cmdline(vm, extra, sizeof(extra)) < 0)
		return AVM_EX_SOFTWARE;
	in.linux_extra = extra;
	in.acpi.vcpus = vm->nvcpus;
	in.acpi.ioapic_id = 0; /* as the IOAPIC's ID register says */
	in.acpi.flags = ACPI_F_COM1;
	/* The network cards: only the DSDT can give their pins (nets.c). */
	in.acpi.nvmmio = vm_nets_acpi(vm, cards);
	in.acpi.vmmio = cards;
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
	in.acpi.distance = vm->distance; /* the SLIT: vm_distances() */
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

static void
vm_rundir_release(struct vm *vm)
{
	char path[sizeof(vm->dir) + 16];

	if (vm->lock_fd >= 0) {
		snprintf(path, sizeof(path), "%s/run.lock", vm->dir);
		unlink(path);
		close(vm->lock_fd);
		vm->lock_fd = -1;
	}
	if (vm->dir[0])
		rmdir(vm->dir);
	/* Closed with the devices, unless start-up ended before them. */
	if (vm->console_fd >= 0)
		close(vm->console_fd);
	vm->console_fd = -1;
}

/* run.sock in the run directory, served by ctl.c's thread. */
static int
vm_ctl_start(struct vm *vm)
{
	char path[300];

	snprintf(path, sizeof(path), "%s/run.sock", vm->dir);
	vm->ctl = ctl_start(vm, path);
	if (!vm->ctl) {
		if (errno == EADDRINUSE) {
			log_err("a VM named '%s' is already running here ('%s' "
				"answers); choose another --name",
				vm->opts.name, path);
			return AVM_EX_TEMPFAIL;
		}
		log_err("listen on '%s': %s", path, strerror(errno));
		return AVM_EX_CANTCREAT;
	}
	return AVM_EX_OK;
}

static void
vm_ctl_stop(struct vm *vm)
{
	if (vm->ctl) {
		ctl_stop(vm->ctl);
		vm->ctl = NULL;
	}
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

static void
vm_vcpus_release(struct vm *vm)
{
	unsigned i;

	for (i = 0; vm->vcpus && i < vm->nvcpus; i++)
		vcpu_free(vm->vcpus[i]);
	free(vm->vcpus);
	vm->vcpus = NULL;
	free(vm->cpuid);
	vm->cpuid = NULL;
}

/*
 * The run directory and the VM's folder in it, made and checked before
 * anything starts: ours, not writable by group or others, no link (77),
 * and every socket path this run will use within sun_path (64): run.sock
 * and pager.sock here and, for the launcher, in the last node's folder.
 */
static int
vm_paths(struct vm *vm)
{
	struct sockaddr_un un;
	char base[200], path[1024], why[600];
	const char *name = vm->opts.name;
	int n;

	if (avm_rundir(base, sizeof(base)) < 0) {
		log_err("no run directory: set AVM_RUNDIR");
		return AVM_EX_CONFIG;
	}
	n = snprintf(path, sizeof(path), "%s/%s/pager.sock", base, name);
	if (vm->nnodes > 1 && !vm->opts.peers)
		n = snprintf(path, sizeof(path), "%s/%s/node-%u/%s/pager.sock",
			     base, name, vm->nnodes - 1, name);
	if (n < 0 || (size_t)n >= sizeof(un.sun_path)) {
		log_err("socket path '%s' is %d bytes, more than a unix "
			"socket takes (%zu): choose a shorter AVM_RUNDIR or "
			"VM name",
			path, n, sizeof(un.sun_path) - 1);
		return AVM_EX_USAGE;
	}
	snprintf(vm->dir, sizeof(vm->dir), "%s/%s", base, name);
	if (avm_trusted_dir(base, why, sizeof(why)) < 0 ||
	    avm_trusted_dir(vm->dir, why, sizeof(why)) < 0) {
		vm->dir[0] = '\0'; /* not ours to remove */
		log_err("%s", why);
		return errno == EPERM || errno == ENOTDIR ? AVM_EX_NOPERM
							  : AVM_EX_CANTCREAT;
	}
	/* One avm-run per VM folder, held for its life and taken before
	 * anything in it is touched: a loser changes nothing. */
	snprintf(path, sizeof(path), "%s/run.lock", vm->dir);
	vm->lock_fd = avm_lock_file(path);
	if (vm->lock_fd < 0 && errno == EWOULDBLOCK) {
		log_err("a VM named '%s' is already running here (another "
			"avm-run holds '%s'); choose another --name",
			name, path);
		return AVM_EX_TEMPFAIL;
	}
	if (vm->lock_fd < 0) {
		log_err("lock '%s': %s", path, strerror(errno));
		return AVM_EX_CANTCREAT;
	}
	return AVM_EX_OK;
}

/*
 * --console FILE, opened before anything starts.  A symbolic link is
 * followed only when it is ours or root's (/dev/stdout, a link the
 * operator made): one that another user owns is what they would plant
 * in a shared folder to make us append to a file of their choosing, so
 * it is refused (77).  Returns AVM_EX_OK with vm->console_fd, or an exit
 * status after a message.
 */
static int
vm_console_open(struct vm *vm)
{
	const char *path = vm->opts.console;
	const int flags = O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOCTTY |
			  O_NONBLOCK;
	struct stat st;
	int fd;

	fd = open(path, flags | O_NOFOLLOW, 0644);
	if (fd < 0 && errno == ELOOP) {
		if (lstat(path, &st) == 0 && st.st_uid != geteuid() &&
		    st.st_uid != 0) {
			log_err("console '%s': a symbolic link of another "
				"user (uid %u): give the file itself",
				path, (unsigned)st.st_uid);
			return AVM_EX_NOPERM;
		}
		fd = open(path, flags, 0644);
	}
	if (fd < 0) {
		log_err("console '%s': %s", path, strerror(errno));
		return errno == EACCES || errno == EPERM ? AVM_EX_NOPERM
							 : AVM_EX_CANTCREAT;
	}
	if (fstat(fd, &st) < 0 ||
	    (!S_ISREG(st.st_mode) && !S_ISCHR(st.st_mode) &&
	     !S_ISFIFO(st.st_mode) && !S_ISSOCK(st.st_mode))) {
		log_err("console '%s': not a file, device, pipe or socket",
			path);
		close(fd);
		return AVM_EX_CANTCREAT;
	}
	/* Writes wait for the reader of a pipe or terminal as before. */
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	vm->console_fd = fd;
	return AVM_EX_OK;
}

/*
 * Every file the guest needs, before anything starts (no other node,
 * pager, socket or KVM yet): missing or unreadable 66, not a regular
 * file (a directory, a FIFO, a device) 65, at once; then the console
 * file.  Only node 0 loads the guest and has the console.
 */
static int
vm_inputs(struct vm *vm)
{
	const char *file[] = { vm->opts.kernel, vm->opts.initrd };
	const char *what[] = { "kernel", "initrd" };
	struct stat st;
	unsigned i;
	int fd, e;

	for (i = 0; vm->node == 0 && i < AVM_ARRAY_SIZE(file); i++) {
		if (!file[i])
			continue;
		fd = open(file[i],
			  O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
		if (fd < 0) {
			log_err("%s '%s': %s", what[i], file[i],
				strerror(errno));
			return AVM_EX_NOINPUT;
		}
		e = fstat(fd, &st) < 0 ? errno : 0;
		close(fd);
		if (e || !S_ISREG(st.st_mode)) {
			log_err("%s '%s': %s", what[i], file[i],
				e ? strerror(e) : "not a regular file");
			return e ? AVM_EX_NOINPUT : AVM_EX_DATAERR;
		}
	}
	if (vm->node == 0 && vm->opts.console) {
		e = vm_console_open(vm);
		if (e != AVM_EX_OK)
			return e;
	}
	return vm_paths(vm);
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

static void
vm_placement_release(struct vm *vm)
{
	free(vm->vcpu_node);
	vm->vcpu_node = NULL;
	free(vm->place);
	vm->place = NULL;
}

/*
 * <dir>/run-<node>.stats (runstats.h), every node's: made once the
 * folder is ours (run.lock held) and the placement says how many vCPUs
 * run here, before anything that counts into it; ENDED and removed once
 * all of that is gone (its row comes before theirs).
 */
static int
vm_stats_open(struct vm *vm)
{
	const struct runstats_id id = {
		.node = vm->node,
		.nodes = vm->nnodes,
		.vcpus = vm->vcpu_count,
		.vcpus_total = vm->nvcpus,
		.vcpu_first = vm->vcpu_first,
		.mem_bytes = vm->opts.mem_bytes,
	};
	char path[sizeof(vm->dir) + 32];

	snprintf(path, sizeof(path), "%s/run-%u.stats", vm->dir, vm->node);
	return runstats_open(&vm->stats, path, &id);
}

static void
vm_stats_close(struct vm *vm)
{
	runstats_close(&vm->stats);
}

/* KVM's statistics of every vCPU here into the stats file. */
static void
vm_stats_tick(struct vm *vm)
{
	unsigned i;

	for (i = 0; vm->vcpus && i < vm->nvcpus; i++)
		if (vm->vcpus[i])
			vcpu_stats_sample(vm->vcpus[i]);
}

static int
vm_links(struct vm *vm)
{
	if (vm->nnodes < 2)
		return AVM_EX_OK;
	return links_open(vm, LINKS_OPEN_TIMEOUT_MS);
}

/*
 * Start-up, in this order: each step may use what the steps above made.
 * A row's release undoes its step, also one that failed half-way or did
 * nothing (one node's links, another node's devices).  vm_release runs
 * the release of every row that started, from the last up, after two
 * things that come first whatever their row: run.sock's thread and the
 * LAPIC timer thread (vm_run's) stop before anything they reach goes.
 *
 * Teardown before this table freed the same things in nearly this order;
 * where it differed, nothing can tell: guest RAM is unmapped and its
 * memfd closed before the node processes are reaped rather than after
 * (they never shared it), the console file closes with the devices, the
 * CPUID table goes with the vCPUs, the placement last.
 */
struct vm_step {
	const char *name;
	int (*init)(struct vm *);
	void (*release)(struct vm *);
};

static const struct vm_step vm_steps[] = {
	{ "inputs and run directory", vm_inputs, vm_rundir_release },
	{ "fabric map", vm_distances, vm_distances_release },
	{ "disks", vm_disks, vm_disks_release }, /* node 0's images */
	{ "nets", vm_nets, vm_nets_release },	 /* node 0's taps */
	{ "placement", vm_placement, vm_placement_release },
	{ "stats file", vm_stats_open, vm_stats_close },
	{ "kvm", kvm_open, kvm_release },
	{ "msr filter", kvm_msr_setup, NULL },	   /* goes with the VM fd */
	{ "run.sock", vm_ctl_start, vm_ctl_stop }, /* stopped first */
	{ "nodes", vm_launch, vm_reap_nodes },
	{ "guest RAM", vm_memory, vm_memory_release },
	{ "pager", vm_pager_start, vm_pager_stop },
	{ "interrupt controllers", vm_irqchips, vm_irqchips_release },
	{ "devices", vm_devices, vm_devices_release },
	{ "vcpus", vm_vcpus, vm_vcpus_release },
	{ "boot", vm_boot, NULL }, /* writes guest RAM and vCPU 0 only */
	{ "run links", vm_links, links_free },
};

int
vm_create(struct vm *vm, const struct vm_opts *opts)
{
	size_t i;
	int r;

	memset(vm, 0, sizeof(*vm));
	vm->opts = *opts;
	vm->nvcpus = opts->vcpus;
	vm->node = opts->node;
	vm->nnodes = opts->nodes ? opts->nodes : 1;
	route_init(vm);
	vm->kvm_fd = vm->vm_fd = vm->mem_fd = vm->timer_epfd = -1;
	vm->end_fd = vm->console_fd = vm->pager_fd = vm->lock_fd = -1;
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
	for (i = 0; i < AVM_ARRAY_SIZE(vm_steps); i++) {
		vm->steps_started = i + 1;
		r = vm_steps[i].init(vm);
		if (r != AVM_EX_OK) {
			log_debug("start-up: %s failed", vm_steps[i].name);
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

static void
vm_timer_stop(struct vm *vm)
{
	uint64_t one = 1;

	if (vm->timer_started) {
		if (write(vm->end_fd, &one, sizeof(one)) < 0) {
			/* the counter cannot be full here */
		}
		pthread_join(vm->timer_thread, NULL);
		vm->timer_started = 0;
	}
}

int
vm_run(struct vm *vm)
{
	struct signalfd_siginfo si;
	uint64_t last_tick = now_ns(), last_stats = last_tick;
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
		vm_set_state(vm, VM_RUNNING);
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

		int n = poll(p, 3,
			     vm->links ? LINK_HEARTBEAT_MS : STATS_TICK_MS);

		if (n < 0 && errno != EINTR)
			break;
		if (vm->links &&
		    now_ns() - last_tick >= LINK_HEARTBEAT_MS * 1000000ull) {
			last_tick = now_ns();
			links_tick(vm);
		}
		/* This thread, never a vCPU's, reads KVM's statistics. */
		if (now_ns() - last_stats >= STATS_TICK_MS * 1000000ull) {
			last_stats = now_ns();
			vm_stats_tick(vm);
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
	vm_stats_tick(vm); /* KVM's last values, the vCPUs done */
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
	size_t i;

	vm_ctl_stop(vm);
	vm_timer_stop(vm);
	/* Device threads next: a frame or a disk completion after this
	 * would raise an interrupt through the vCPUs and run links that
	 * the rows below free before the devices. */
	for (i = 0; i < vm->ndevs; i++)
		if (vm->devs[i]->ops->stop)
			vm->devs[i]->ops->stop(vm->devs[i]);
	for (i = vm->steps_started; i-- > 0;)
		if (vm_steps[i].release)
			vm_steps[i].release(vm);
	vm->steps_started = 0;
	/* vm_run's */
	if (vm->timer_epfd >= 0)
		close(vm->timer_epfd);
	if (vm->end_fd >= 0)
		close(vm->end_fd);
	pthread_mutex_destroy(&vm->lock);
	pthread_cond_destroy(&vm->cond);
}
