/*
 * avm-run's stats file (cmd/avm-run/runstats.c) without KVM: made in a
 * temporary folder, read back by the one reader (lib/stats.c), written
 * under seq by several threads at once while a reader copies it, ENDED
 * and removed at the end; the exit reasons' counters.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "avm/stats.h"

#include "../../cmd/avm-run/runstats.h"
#include "tap.h"

static char dir[64], path[128];

static const struct runstats_id ID = {
	.node = 1,
	.nodes = 3,
	.vcpus = 3,
	.vcpus_total = 8,
	.vcpu_first = 3,
	.mem_bytes = 512ull << 20,
};

static void
test_open(void)
{
	struct runstats s;
	struct run_stats *rs = NULL;
	struct stat sb;
	uint64_t before, after;
	char why[200] = "";
	int r;

	before = (uint64_t)time(NULL) * 1000000000ull;
	is_int(runstats_open(&s, path, &ID), AVM_EX_OK, "open");
	after = (uint64_t)time(NULL) * 1000000000ull + 1000000000ull;
	ok(stat(path, &sb) == 0 && S_ISREG(sb.st_mode) &&
		   (size_t)sb.st_size == run_stats_size(3),
	   "a regular file of run_stats_size(3) bytes");
	r = stats_read_run(path, &rs, why, sizeof(why));
	is_int(r, 0, "the reader takes it (%s)", r ? why : "ok");
	if (!rs)
		return;
	is_int(rs->version, RUN_STATS_VERSION, "version");
	ok(rs->node == 1 && rs->nodes == 3, "node 1 of 3");
	ok(rs->vcpus == 3 && rs->vcpus_total == 8, "3 of 8 vCPUs");
	is_int(rs->pid, getpid(), "pid");
	is_int(rs->mem_bytes, 512ull << 20, "mem_bytes");
	ok(rs->started_ns >= before && rs->started_ns <= after,
	   "started_ns is the wall clock");
	is_int(rs->state, RUN_VM_STARTING, "state starting");
	is_int(rs->seq, 0, "seq 0");
	ok(rs->gathered_ns == 0, "not a gathered copy");
	for (unsigned i = 0; i < 3; i++)
		ok(rs->vcpu[i].index == 3 + i && rs->vcpu[i].apic_id == 3 + i &&
			   rs->vcpu[i].state == RUN_VCPU_STOPPED &&
			   rs->vcpu[i].tid == 0 && rs->vcpu[i].kvm_have == 0,
		   "entry %u: vCPU %u, stopped", i, 3 + i);
	free(rs);
	ok(runstats_vcpu(&s, 2) == &s.rs->vcpu[2], "entry 2");
	ok(runstats_vcpu(&s, 3) == NULL, "no entry 3");

	/* Counters and state words land where the reader looks. */
	{
		struct run_vcpu_stats *e = runstats_vcpu(&s, 1);
		uint64_t val[RUN_KVM_STATS];

		for (int k = 0; k < 5; k++)
			runstats_inc(&e->exits[RUN_EXIT_MMIO]);
		runstats_add(&s.rs->io_served, 40);
		runstats_add(&s.rs->io_served, 2);
		runstats_vcpu_state(&s, e, RUN_VCPU_HALTED);
		runstats_vm_state(&s, RUN_VM_PAUSED);
		for (int k = 0; k < RUN_KVM_STATS; k++)
			val[k] = 100 + k;
		runstats_kvm(&s, e, 0x5, val);
	}
	r = stats_read_run(path, &rs, why, sizeof(why));
	is_int(r, 0, "read again");
	if (!rs)
		return;
	is_int(rs->vcpu[1].exits[RUN_EXIT_MMIO], 5, "5 MMIO exits");
	is_int(runstats_get(&s.rs->vcpu[1].exits[RUN_EXIT_MMIO]), 5,
	       "runstats_get sees them");
	is_int(rs->io_served, 42, "io_served added");
	is_int(rs->vcpu[1].state, RUN_VCPU_HALTED, "vCPU 4 halted");
	is_int(rs->state, RUN_VM_PAUSED, "VM paused");
	ok(rs->vcpu[1].kvm_have == 0x5 && rs->vcpu[1].kvm[0] == 100 &&
		   rs->vcpu[1].kvm[RUN_KVM_STATS - 1] ==
			   100 + RUN_KVM_STATS - 1,
	   "KVM's values");
	is_int(rs->seq, 2, "one write under seq (KVM's values): 2, even");
	free(rs);

	/* The end: ENDED for whoever still has it open, then gone. */
	{
		int fd = open(path, O_RDONLY);
		uint32_t st = 0;

		runstats_close(&s);
		ok(access(path, F_OK) < 0 && errno == ENOENT, "removed");
		ok(pread(fd, &st, 4, offsetof(struct run_stats, state)) == 4 &&
			   st == RUN_VM_ENDED,
		   "state ENDED written before");
		close(fd);
	}
	runstats_close(&s);
	ok(s.rs == NULL, "closed twice, harmlessly");
	/* Not open: the writers do nothing. */
	runstats_vm_state(&s, RUN_VM_RUNNING);
	runstats_vcpu_state(&s, NULL, RUN_VCPU_RUNNING);
	ok(runstats_vcpu(&s, 0) == NULL, "not open: no entries");
}

static void
test_fail(void)
{
	struct runstats s;
	struct runstats_id big = ID;
	char link[160], bad[160], victim[160];
	int fd;

	snprintf(bad, sizeof(bad), "%s/nofolder/run-0.stats", dir);
	is_int(runstats_open(&s, bad, &ID), AVM_EX_CANTCREAT,
	       "a missing folder: 73");
	ok(s.rs == NULL, "and nothing open");

	/* A link planted in the file's place is never followed. */
	snprintf(victim, sizeof(victim), "%s/victim", dir);
	snprintf(link, sizeof(link), "%s/run-2.stats", dir);
	fd = open(victim, O_WRONLY | O_CREAT, 0600);
	ok(fd >= 0 && write(fd, "keep", 4) == 4, "a victim file");
	close(fd);
	ok(symlink(victim, link) == 0, "a link to it as run-2.stats");
	is_int(runstats_open(&s, link, &ID), AVM_EX_CANTCREAT,
	       "a link in its place: 73");
	{
		struct stat sb;

		ok(stat(victim, &sb) == 0 && sb.st_size == 4,
		   "the victim is untouched");
	}
	unlink(link);
	unlink(victim);

	big.vcpus = RUN_STATS_VCPUS_MAX + 1;
	is_int(runstats_open(&s, path, &big), AVM_EX_USAGE,
	       "more vCPUs than the format holds: 64");
	ok(access(path, F_OK) < 0, "and no file");

	/* A stale file of a crashed run is replaced. */
	fd = open(path, O_WRONLY | O_CREAT, 0644);
	ok(fd >= 0 && write(fd, "stale stale stale", 17) == 17, "a stale file");
	close(fd);
	is_int(runstats_open(&s, path, &ID), AVM_EX_OK, "open over it");
	{
		struct run_stats *rs;
		char why[200];

		is_int(stats_read_run(path, &rs, why, sizeof(why)), 0,
		       "the reader takes the new one");
		free(rs);
	}
	runstats_close(&s);
}

/*
 * Writers on several threads (as vCPU threads and the KVM copy are)
 * while a reader copies: every copy is whole (each entry's kvm[] values
 * all equal, as each write makes them) and seq even.
 */
#define WRITES 20000

struct writer {
	struct runstats *s;
	unsigned entry;
};

static void *
writer(void *arg)
{
	struct writer *w = arg;
	struct run_vcpu_stats *e = runstats_vcpu(w->s, w->entry);
	uint64_t val[RUN_KVM_STATS];

	for (uint64_t n = 1; n <= WRITES; n++) {
		for (int k = 0; k < RUN_KVM_STATS; k++)
			val[k] = n;
		runstats_kvm(w->s, e, (1u << RUN_KVM_STATS) - 1, val);
		runstats_vcpu_state(w->s, e,
				    n & 1 ? RUN_VCPU_RUNNING : RUN_VCPU_HALTED);
		runstats_inc(&e->exits[RUN_EXIT_IO]);
	}
	return NULL;
}

static void
test_threads(void)
{
	struct runstats s;
	struct writer w[3];
	pthread_t t[3];
	struct run_stats *rs;
	unsigned copies = 0, torn = 0, errors = 0, i;
	char why[200];
	int done = 0;

	if (runstats_open(&s, path, &ID) != AVM_EX_OK) {
		ok(0, "open for the threads");
		return;
	}
	for (i = 0; i < 3; i++) {
		w[i] = (struct writer){ &s, i };
		pthread_create(&t[i], NULL, writer, &w[i]);
	}
	while (!done) {
		done = runstats_get(&s.rs->vcpu[0].exits[RUN_EXIT_IO]) ==
			       WRITES &&
		       runstats_get(&s.rs->vcpu[1].exits[RUN_EXIT_IO]) ==
			       WRITES &&
		       runstats_get(&s.rs->vcpu[2].exits[RUN_EXIT_IO]) ==
			       WRITES;
		if (stats_read_run(path, &rs, why, sizeof(why)) < 0) {
			errors++;
			continue;
		}
		copies++;
		if (rs->seq & 1)
			torn++;
		for (i = 0; i < 3; i++)
			for (int k = 1; k < RUN_KVM_STATS; k++)
				if (rs->vcpu[i].kvm[k] != rs->vcpu[i].kvm[0])
					torn++;
		free(rs);
	}
	for (i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	ok(copies > 0, "%u copies read while 3 threads wrote", copies);
	is_int(torn, 0, "no copy torn");
	is_int(errors, 0, "no read failed");
	is_int(s.rs->seq, 3 * WRITES * 2,
	       "seq: two steps a KVM copy (state words need none), even");
	for (i = 0; i < 3; i++)
		ok(s.rs->vcpu[i].kvm[RUN_KVM_PF_TAKEN] == WRITES &&
			   s.rs->vcpu[i].exits[RUN_EXIT_IO] == WRITES,
		   "entry %u: every write landed", i);
	runstats_close(&s);
}

static void
test_exits(void)
{
	static const struct {
		uint32_t kvm;
		enum run_exit run;
	} map[] = {
		{ KVM_EXIT_IO, RUN_EXIT_IO },
		{ KVM_EXIT_MMIO, RUN_EXIT_MMIO },
		{ KVM_EXIT_X86_RDMSR, RUN_EXIT_MSR },
		{ KVM_EXIT_X86_WRMSR, RUN_EXIT_MSR },
		{ KVM_EXIT_HLT, RUN_EXIT_HLT },
		{ KVM_EXIT_IRQ_WINDOW_OPEN, RUN_EXIT_IRQ_WINDOW },
		{ KVM_EXIT_INTR, RUN_EXIT_INTR },
		{ KVM_EXIT_SHUTDOWN, RUN_EXIT_SHUTDOWN },
		{ KVM_EXIT_FAIL_ENTRY, RUN_EXIT_OTHER },
		{ KVM_EXIT_INTERNAL_ERROR, RUN_EXIT_OTHER },
		{ KVM_EXIT_SYSTEM_EVENT, RUN_EXIT_OTHER },
		{ 9999, RUN_EXIT_OTHER },
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		is_int(runstats_exit_of(map[i].kvm), map[i].run,
		       "KVM exit %u counts as %d", map[i].kvm, map[i].run);
}

int
main(void)
{
	snprintf(dir, sizeof(dir), "/tmp/t-runstats.XXXXXX");
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/run-1.stats", dir);
	test_open();
	test_fail();
	test_threads();
	test_exits();
	unlink(path);
	rmdir(dir);
	return done_testing();
}
