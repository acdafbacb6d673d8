/*
 * One VM as avm-run holds it: KVM handles, guest RAM, the vCPUs of this
 * node, the device buses, the interrupt controllers and the life cycle
 * (running, paused, stopping) that the control socket drives.
 */
#ifndef AVM_RUN_VM_H
#define AVM_RUN_VM_H

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#include "bus.h"
#include "runstats.h"

struct vcpu;
struct apicbus;
struct ioapic;
struct pic;
struct uart;
struct ctl;
struct kvm_cpuid2;
struct placement_node;
struct route;
struct runmsg_clock;

/* Disks node 0 offers the guest (disks.c): at most this many. */
#define VM_DISKS_MAX 8

/* One --disk or cluster-file disk. */
struct vm_disk {
	const char *path;
	int readonly;
};

/* Network cards node 0 offers the guest (nets.c): at most this many. */
#define VM_NETS_MAX 8

/* One --net or cluster-file net. */
struct vm_net {
	const char *tap;
	int has_mac; /* 0: nets.c derives one from the VM's name */
	uint8_t mac[6];
};

/* What the command line asks for. */
struct vm_opts {
	const char *name;
	unsigned vcpus;
	uint64_t mem_bytes;
	const char *kernel;
	const char *initrd;
	const char *cmdline;
	int boot_format;     /* enum boot_format of arch/x86/boot.h */
	const char *console; /* NULL: stdio; else a file to append to */
	int verbose;
	/* Several nodes (DESIGN.md): nodes 1 is a plain one-node VM.  The
	 * launcher (node 0 without peers) fills the rest in vm_launch(). */
	unsigned node, nodes;
	const char *peers;	 /* run links: ADDR:PORT of every node */
	const char *pager_peers; /* pager links: ADDR:PORT of every node */
	const char *secret;	 /* the VM's secret file */
	/* [nodes] each node's share (a cluster file's); NULL: equal
	 * blocks.  vm_placement() checks them. */
	const uint32_t *node_vcpus;
	const uint64_t *node_mem_bytes;
	const struct vm_disk *disks; /* [ndisks], in the guest's order */
	unsigned ndisks;
	const struct vm_net *nets; /* [nnets], in the guest's order */
	unsigned nnets;
	int listen_fd; /* run-link listener to use, -1: bind */
	int dead_ms;   /* every link's failure deadline; 0: LINK_DEAD_MS */
};

enum vm_state {
	VM_STARTING, /* run.sock answers, the vCPUs do not run yet */
	VM_RUNNING,
	VM_PAUSED,
	VM_STOPPING,
};

/* Why the VM ended; avm-run's exit status follows from it. */
enum vm_end {
	VM_END_NONE,
	VM_END_POWEROFF,   /* ACPI S5: status 0 */
	VM_END_RESET,	   /* guest reset: status 0, reported */
	VM_END_DEBUG_EXIT, /* the value the guest wrote to port 0xf4 */
	VM_END_STOP,	   /* stopped over run.sock or by a signal */
	VM_END_ERROR,	   /* a vCPU or device failed: status 70 */
};

struct vm {
	struct vm_opts opts;
	int kvm_fd;
	int vm_fd;
	int mem_fd;	   /* memfd of guest RAM (DESIGN.md: pager's later) */
	uint8_t *ram;	   /* MAP_SHARED mapping of mem_fd */
	uint64_t ram_size; /* bytes of RAM, without the MMIO hole */
	size_t run_size;   /* KVM_GET_VCPU_MMAP_SIZE */
	uint32_t tsc_khz;
	int64_t tsc_offset;	  /* guest TSC - host TSC */
	struct kvm_cpuid2 *cpuid; /* what KVM supports; vcpu edits it */

	struct vcpu **vcpus; /* [nvcpus], NULL for other nodes' vCPUs */
	unsigned nvcpus;     /* in the whole VM */
	unsigned node, nnodes;
	unsigned vcpu_first, vcpu_count; /* this node's block of vCPUs */
	uint32_t *vcpu_node;		 /* [nvcpus]: the node that runs it */
	struct placement_node *place;	 /* [nnodes]: vCPUs and home pages */
	uint8_t *distance;		 /* [nnodes^2] SLIT; NULL: 10, 20 */
	struct links *links;		 /* run-to-run links, NULL: one node */
	const struct route *route;	 /* where I/O and EOIs go (route.h) */
	pid_t *node_pids;		 /* launcher: avm-run of node i */
	char secret_path[300];		 /* launcher: the file it created */
	char *peers_buf, *pager_peers_buf;
	int end_remote; /* the end came from another node */

	struct bus pio;
	struct bus mmio;
	struct device **devs;
	unsigned ndevs;

	struct apicbus *apicbus;
	struct ioapic *ioapic;
	struct pic *pic;
	struct uart *uart;
	struct ctl *ctl;
	int irqchips_ready;
	pid_t pager_pid;    /* our avm-pager child, 0: none */
	struct link *pager; /* pager.sock after the attach, NULL: none */
	int pager_fd;	    /* its fd, to poll; -1: none */
	int console_fd;	    /* --console FILE, -1 for stdio */
	/* Node 0's images, opened and locked by vm_disks; -1 once a
	 * device owns the fd. */
	int disk_fd[VM_DISKS_MAX];
	uint64_t disk_size[VM_DISKS_MAX];
	unsigned ndisks;
	struct vm_irq_line {
		struct vm *vm;
		unsigned gsi;
	} disk_line[VM_DISKS_MAX]; /* what a disk's interrupt drives */
	/* Node 0's taps, opened by vm_nets; -1 once a card owns the fd. */
	int net_fd[VM_NETS_MAX];
	int net_created[VM_NETS_MAX]; /* avm-run made it (goes with us) */
	unsigned nnets;
	struct vm_irq_line net_line[VM_NETS_MAX];

	int timer_epfd; /* vCPU timerfds: the timer thread kicks vCPUs */
	pthread_t timer_thread;
	int timer_started;

	pthread_mutex_t lock; /* state, nparked, end */
	pthread_cond_t cond;
	_Atomic int state; /* enum vm_state; written under lock */
	int end_fd;	   /* eventfd: the VM ended, for vm_run */
	unsigned nparked;  /* vCPUs parked while paused or stopping */
	enum vm_end end;
	int end_status;
	char end_why[256];

	char dir[256];	       /* <rundir>/<name> */
	int lock_fd;	       /* <dir>/run.lock, held for our life; -1: none */
	struct runstats stats; /* <dir>/run-<node>.stats (runstats.h) */
	uint64_t start_ns;
	unsigned steps_started; /* rows of vm_create's table begun */
};

/* Sets up the VM, loads the kernel, creates the vCPUs.  Prints what
 * failed (log_err) and returns an exit status of the table in lib/exit.c. */
int vm_create(struct vm *, const struct vm_opts *);
/* Runs the vCPUs until the VM ends.  Returns avm-run's exit status. */
int vm_run(struct vm *);
/* Undoes what vm_create and vm_run made: the releases of vm_create's
 * table, last step first. */
void vm_release(struct vm *);

static inline enum vm_state
vm_state(struct vm *vm)
{
	return (enum vm_state)atomic_load(&vm->state);
}

/* state.c: the state's name, as status says it. */
const char *vm_state_name(enum vm_state);
/* Sets the state and writes it to the stats file; with vm->lock held. */
void vm_set_state(struct vm *, enum vm_state);

/* Called by a vCPU thread that saw state != RUNNING: waits while paused.
 * Returns 1 when the VM is stopping (the thread ends), else 0. */
int vm_park(struct vm *, struct vcpu *);

/* Ends the VM (first call wins) and kicks every vCPU out of KVM_RUN.
 * Safe from any thread. */
void vm_end(struct vm *, enum vm_end, int status, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* The same for an end another node announced: not told to the others
 * again. */
void vm_end_remote(struct vm *, enum vm_end, int status, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Pauses/resumes every vCPU; pause returns once all are parked or after
 * timeout_ms (-1 with errno ETIMEDOUT). */
int vm_pause(struct vm *, int timeout_ms);
int vm_resume(struct vm *);
/* The same on this node only (what a RUN_CONTROL asks for). */
int vm_pause_local(struct vm *, int timeout_ms);
int vm_resume_local(struct vm *);

/*
 * Start-up steps of vm_create's table, each in the file of its job; each
 * returns an exit status (after a message); its release undoes it, even
 * half-way, and does nothing where it did nothing.  kvm.c: open /dev/kvm, check
 * its capabilities, create the VM; the MSR filter.  memory.c: guest RAM
 * and KVM's slots.  devices.c: the interrupt controllers, node 0's
 * devices.
 */
int kvm_open(struct vm *);
void kvm_release(struct vm *);
int kvm_msr_setup(struct vm *);
int vm_memory(struct vm *);
void vm_memory_release(struct vm *);
int vm_irqchips(struct vm *);
void vm_irqchips_release(struct vm *);
int vm_devices(struct vm *);
void vm_devices_release(struct vm *);

/* distance.c: node 0 reads the fabric map in the VM's folder, if any,
 * into vm->distance (an exit status, after a message); the release frees
 * it. */
int vm_distances(struct vm *);
void vm_distances_release(struct vm *);

/*
 * disks.c: node 0 opens, checks and locks every disk image before KVM
 * (an exit status, after a message); the release closes what no device
 * took.  vm_disks_attach puts a virtio-blk device per disk on the MMIO
 * bus (from vm_devices); disk i decodes VMMIO_SIZE bytes at
 * vm_disk_base(i) and drives IOAPIC pin vm_disk_irq(i).
 * vm_disks_cmdline writes the virtio_mmio.device= words Linux needs
 * into buf (empty without disks); returns 0, or -1 when len is short.
 */
int vm_disks(struct vm *);
void vm_disks_release(struct vm *);
int vm_disks_attach(struct vm *);
uint64_t vm_disk_base(unsigned i);
unsigned vm_disk_irq(unsigned i);
int vm_disks_cmdline(const struct vm *, char *buf, size_t len);

/*
 * The guest RAM (a vq_mem over this node's mapping; opaque is the vm),
 * interrupt line (opaque is a struct vm_irq_line) and warnings of node
 * 0's virtio devices (devices.c).
 */
void *vm_virtio_ram(void *opaque, uint64_t gpa, uint64_t len);
void vm_virtio_irq(void *opaque, int level);
void vm_virtio_log(void *opaque, const char *msg);

/*
 * nets.c: node 0 opens (or creates) every tap before KVM (an exit status,
 * after a message); the release closes what no card took.  vm_nets_attach
 * puts a virtio-net card per tap on the MMIO bus (from vm_devices): card
 * i decodes VMMIO_SIZE bytes at vm_net_base(i) and drives IOAPIC pin
 * vm_net_gsi(i), level-triggered, which the DSDT announces (the kernel
 * command line can only name ISA lines).  vm_net_parse reads --net's
 * value (0, or -1 with why); vm_net_mac_parse a MAC address.
 */
int vm_nets(struct vm *);
void vm_nets_release(struct vm *);
int vm_nets_attach(struct vm *);
uint64_t vm_net_base(unsigned i);
unsigned vm_net_gsi(unsigned i);
int vm_net_parse(struct vm_net *, char *arg, char *why, size_t whylen);
int vm_net_mac_parse(const char *s, uint8_t mac[6]);
/* The DSDT's entries of the cards into out[VM_NETS_MAX]; returns how
 * many. */
struct acpi_vmmio;
unsigned vm_nets_acpi(const struct vm *, struct acpi_vmmio *out);

/* launch.c: the launcher of an N-node VM on this host makes the secret,
 * the run-link listeners and the ports, and starts the avm-run of nodes
 * 1..N-1 (an exit status, after a message); vm_reap_nodes waits for them
 * (a deadline, then SIGKILL). */
int vm_launch(struct vm *);
void vm_reap_nodes(struct vm *);

/* memory.c: start this node's avm-pager and hand it guest RAM (returns
 * an exit status, after a message); a pager event ends the VM when it is
 * a failure; detach and reap the pager. */
int vm_pager_start(struct vm *);
void vm_pager_event(struct vm *);
void vm_pager_stop(struct vm *);

/* clock.c: the guest's kvmclock and the host's real time read together.
 * Returns 0, or -1 when they could not be. */
int vm_clock_read(struct vm *, uint64_t *clock_ns, uint64_t *realtime_ns);
/* Node 0's clock as RUN_CLOCK carries it; another node's KVM clock set
 * from it.  Each returns an exit status (after a message). */
int vm_clock_get(struct vm *, struct runmsg_clock *);
int vm_clock_set(struct vm *, const struct runmsg_clock *);
/* Sets a new vCPU's IA32_TSC (fd: its KVM fd) to the host's.  Returns
 * guest TSC - host TSC as measured after. */
int64_t vm_tsc_sync(int fd);

/* status.c: writes the VM's status (state, vCPUs, memory, exits) as one
 * mapping. */
struct emit;
void vm_status(struct vm *, struct emit *);

/* Drives an interrupt line (ISA IRQ = GSI for 0..15) of the IOAPIC and
 * the PIC. */
void vm_set_irq(struct vm *, unsigned gsi, int level);

/* A device's claim on a PIO or MMIO range.  From this call on the VM owns
 * the device and frees it (ops->free) with itself, even when the call
 * fails.  Returns 0, or -1 with errno (EEXIST: range taken). */
int vm_add_device(struct vm *, struct device *, enum bus_space, uint64_t base,
		  uint64_t len);

#endif
