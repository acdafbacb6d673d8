/* The run stats file; see runstats.h. */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "avm/log.h"

#include "runstats.h"

int
runstats_open(struct runstats *s, const char *path,
	      const struct runstats_id *id)
{
	struct run_stats *rs;
	struct timespec ts;
	size_t size;
	int fd, e, n;

	memset(s, 0, sizeof(*s));
	if (id->vcpus > RUN_STATS_VCPUS_MAX) {
		log_err("'%s': %u vCPUs on one node, the stats file holds "
			"%u",
			path, id->vcpus, RUN_STATS_VCPUS_MAX);
		return AVM_EX_USAGE;
	}
	n = snprintf(s->path, sizeof(s->path), "%s", path);
	if (n < 0 || (size_t)n >= sizeof(s->path)) {
		log_err("'%s': %s", path, strerror(ENAMETOOLONG));
		return AVM_EX_CANTCREAT;
	}
	size = run_stats_size(id->vcpus);
	/* Never through a link someone planted.  The VM folder is ours and
	 * so is its run.lock, so a file already here is a stale one of
	 * ours: truncated. */
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
		  0644);
	if (fd < 0) {
		log_err("create '%s': %s", path, strerror(errno));
		return AVM_EX_CANTCREAT;
	}
	/* Blocks for real: a full disk is 73 now, not SIGBUS later. */
	e = posix_fallocate(fd, 0, (off_t)size);
	if (e) {
		close(fd);
		unlink(path);
		log_err("size '%s': %s", path, strerror(e));
		return AVM_EX_CANTCREAT;
	}
	rs = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	e = errno;
	close(fd);
	if (rs == MAP_FAILED) {
		unlink(path);
		log_err("map '%s': %s", path, strerror(e));
		return AVM_EX_OSERR;
	}
	e = pthread_mutex_init(&s->lock, NULL);
	if (e) {
		munmap(rs, size);
		unlink(path);
		log_err("'%s': %s", path, strerror(e));
		return AVM_EX_OSERR;
	}
	clock_gettime(CLOCK_REALTIME, &ts);
	rs->version = RUN_STATS_VERSION;
	rs->size = (uint32_t)size;
	rs->node = id->node;
	rs->nodes = id->nodes;
	rs->vcpus = id->vcpus;
	rs->vcpus_total = id->vcpus_total;
	rs->pid = (uint32_t)getpid();
	rs->state = RUN_VM_STARTING;
	rs->mem_bytes = id->mem_bytes;
	rs->started_ns =
		(uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
	for (uint32_t i = 0; i < id->vcpus; i++) {
		rs->vcpu[i].index = id->vcpu_first + i;
		rs->vcpu[i].apic_id = id->vcpu_first + i; /* DESIGN.md */
		rs->vcpu[i].state = RUN_VCPU_STOPPED;
	}
	/* The magic last: a reader that sees it sees the rest. */
	__atomic_store_n(&rs->magic, RUN_STATS_MAGIC, __ATOMIC_RELEASE);
	s->size = size;
	s->rs = rs;
	return AVM_EX_OK;
}

void
runstats_close(struct runstats *s)
{
	if (!s->rs)
		return;
	runstats_vm_state(s, RUN_VM_ENDED);
	munmap(s->rs, s->size);
	s->rs = NULL;
	if (unlink(s->path) < 0 && errno != ENOENT)
		log_warn("remove '%s': %s", s->path, strerror(errno));
	pthread_mutex_destroy(&s->lock);
}

struct run_vcpu_stats *
runstats_vcpu(struct runstats *s, unsigned i)
{
	return s->rs && i < s->rs->vcpus ? &s->rs->vcpu[i] : NULL;
}

/*
 * A seqlock's writer side: seq odd, then a release fence, so no write
 * of the group is seen before seq turned odd; the writes; seq even with
 * release, so none is seen after it turned even.  The mutex makes the
 * writers take turns (two at once would leave seq even mid-write).
 */
void
runstats_begin(struct runstats *s)
{
	if (!s->rs)
		return;
	pthread_mutex_lock(&s->lock);
	__atomic_store_n(&s->rs->seq, s->rs->seq + 1, __ATOMIC_RELAXED);
	__atomic_thread_fence(__ATOMIC_RELEASE);
}

void
runstats_end(struct runstats *s)
{
	if (!s->rs)
		return;
	__atomic_store_n(&s->rs->seq, s->rs->seq + 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&s->lock);
}

void
runstats_vm_state(struct runstats *s, enum run_vm_state st)
{
	if (!s->rs)
		return;
	__atomic_store_n(&s->rs->state, (uint32_t)st, __ATOMIC_RELEASE);
}

void
runstats_vcpu_state(struct runstats *s, struct run_vcpu_stats *e,
		    enum run_vcpu_state st)
{
	if (!s->rs || !e)
		return;
	__atomic_store_n(&e->state, (uint32_t)st, __ATOMIC_RELEASE);
}

void
runstats_kvm(struct runstats *s, struct run_vcpu_stats *e, uint64_t have,
	     const uint64_t val[RUN_KVM_STATS])
{
	if (!s->rs || !e)
		return;
	runstats_begin(s);
	__atomic_store_n(&e->kvm_have, have, __ATOMIC_RELAXED);
	for (int i = 0; i < RUN_KVM_STATS; i++)
		__atomic_store_n(&e->kvm[i], val[i], __ATOMIC_RELAXED);
	runstats_end(s);
}

enum run_exit
runstats_exit_of(uint32_t reason)
{
	switch (reason) {
	case KVM_EXIT_IO:
		return RUN_EXIT_IO;
	case KVM_EXIT_MMIO:
		return RUN_EXIT_MMIO;
	case KVM_EXIT_X86_RDMSR:
	case KVM_EXIT_X86_WRMSR:
		return RUN_EXIT_MSR;
	case KVM_EXIT_HLT:
		return RUN_EXIT_HLT;
	case KVM_EXIT_IRQ_WINDOW_OPEN:
		return RUN_EXIT_IRQ_WINDOW;
	case KVM_EXIT_INTR:
		return RUN_EXIT_INTR;
	case KVM_EXIT_SHUTDOWN:
		return RUN_EXIT_SHUTDOWN;
	}
	return RUN_EXIT_OTHER;
}
