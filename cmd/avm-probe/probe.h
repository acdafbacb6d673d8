/*
 * avm-probe: what this host offers to an aggregated VM.  One file per
 * area; each gathers into its struct (X_probe), which never fails as a
 * whole but records why a part is missing, and writes it through emit
 * (X_emit), so YAML and JSON come from the same code.  X_free releases
 * what X_probe allocated.
 */
#ifndef AVM_PROBE_H
#define AVM_PROBE_H

#include <stddef.h>
#include <stdint.h>

#include "avm/emit.h"

#define PROBE_REASON_MAX 256

/* -v: say on stderr what each probe did and what it tolerated. */
extern int probe_verbose;
void probe_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Parses a comma list of cpu numbers ("0-3,8"); returns the count or -1. */
long cpulist_count(const char *list);

/* --- kvm.c ------------------------------------------------------------- */

struct kvm_info {
	int present; /* /dev/kvm opened and speaks API 12 */
	int usable;  /* ... and has every capability avm-run needs */
	char reason[PROBE_REASON_MAX]; /* why not present, or not usable */
	const char *module; /* kvm_intel, kvm_amd, kvm_pvm, kvm; or NULL */
	int api_version;
	int vcpus_recommended;
	int vcpus_max;
	int memslots;
	int user_memory;
	int irqchip;
	int user_space_msr;
	int msr_filter;
	int immediate_exit;
	int readonly_mem;
	int x2apic_api;
	int sync_regs;
	int tsc_control;
	int adjust_clock;
	unsigned clock_flags; /* KVM_CLOCK_* that KVM_CAP_ADJUST_CLOCK gives */
	int clock_stable;     /* KVM_GET_CLOCK on a new VM: TSC_STABLE; -1 */
	long tsc_khz;	      /* KVM_GET_TSC_KHZ on a throwaway vCPU; -1 */
	char vm_error[PROBE_REASON_MAX]; /* why no throwaway VM, or "" */
};

void kvm_probe(struct kvm_info *k);
void kvm_emit(struct emit *e, const struct kvm_info *k);

/* --- cpu.c ------------------------------------------------------------- */

struct cpu_info {
	long online; /* sysconf(_SC_NPROCESSORS_ONLN) */
	long usable; /* in this process's affinity mask, as nproc(1) */
	char online_list[256];
	char vendor[64];
	char model_name[128];
	int family, model, stepping; /* -1 when unknown */
	int sockets, cores, threads; /* 0 when sysfs says nothing */
	int vmx, svm, hypervisor, x2apic, constant_tsc, nonstop_tsc,
		tsc_deadline_timer, cx16;
	long tsc_khz;		/* -1 when unknown */
	const char *tsc_source; /* "kvm", "cpuinfo" or NULL */
};

void cpu_probe(struct cpu_info *c, const struct kvm_info *k);
void cpu_emit(struct emit *e, const struct cpu_info *c);

/* --- mem.c ------------------------------------------------------------- */

struct numa_node {
	int id;
	char cpulist[256];
	uint64_t total_bytes, free_bytes; /* UINT64_MAX when unknown */
	int *distance;
	size_t ndistance;
};

struct hugepage_pool {
	uint64_t page_bytes;
	int64_t total, free; /* -1 when unreadable */
};

struct mem_info {
	int have_meminfo;
	char reason[PROBE_REASON_MAX];
	uint64_t total_bytes, free_bytes, available_bytes;
	struct numa_node *nodes;
	size_t nnodes;
	struct hugepage_pool *hugepages;
	size_t nhugepages;
};

void mem_probe(struct mem_info *m);
void mem_emit(struct emit *e, const struct mem_info *m);
void mem_free(struct mem_info *m);

/* --- uffd.c ------------------------------------------------------------ */

struct uffd_info {
	int available;
	char reason[PROBE_REASON_MAX];
	const char *via;	/* "userfaultfd(2)" or "/dev/userfaultfd" */
	int unprivileged;	/* vm.unprivileged_userfaultfd; -1 */
	uint64_t api, features; /* from UFFDIO_API */
	int wp_shmem_register;	/* memfd MAP_SHARED, MISSING|WP registered */
	uint64_t register_ioctls;
	int wp_shmem_ops; /* UFFDIO_COPY(MODE_WP) and WRITEPROTECT work */
	char wp_error[PROBE_REASON_MAX];
};

void uffd_probe(struct uffd_info *u);
void uffd_emit(struct emit *e, const struct uffd_info *u);

/* --- rdma.c ------------------------------------------------------------ */

struct rdma_port {
	int num;
	char state[32];
	char link_layer[32];
	int active_mtu; /* bytes; 0 when unknown */
	double speed_gbps;
	char gid0[64];
};

struct rdma_device {
	char name[64];
	char node_guid[32];
	char error[PROBE_REASON_MAX];
	struct rdma_port *ports;
	size_t nports;
};

struct rdma_info {
	char reason[PROBE_REASON_MAX]; /* why no device, or "" */
	char ibv_error[128];	       /* errno text of libibverbs, or "" */
	struct rdma_device *devices;
	size_t ndevices;
	int active_ports;
};

void rdma_probe(struct rdma_info *r);
void rdma_emit(struct emit *e, const struct rdma_info *r);
void rdma_free(struct rdma_info *r);

/* --- net.c ------------------------------------------------------------- */

struct nic {
	char name[64];
	int ifindex;
	char state[32];
	long mtu;	  /* -1 when unknown */
	long speed_mbps;  /* -1 when unknown */
	char mac[64];	  /* "" when none */
	char **addresses; /* "addr/prefix" */
	size_t naddresses;
};

struct net_info {
	char reason[PROBE_REASON_MAX];
	struct nic *nics;
	size_t nnics;
	char address[64]; /* first non-loopback IPv4 of an up NIC */
};

void net_probe(struct net_info *n);
void net_emit(struct emit *e, const struct net_info *n);
void net_free(struct net_info *n);

#endif
