/*
 * The stats files' one reader (lib/stats.c): a good file of each kind is
 * read whole; a file being created (no magic yet, or empty) is "not yet"
 * (-EAGAIN), never an error; truncated, padded, another version, a bad
 * magic or out-of-range fields are -EPROTO with a reason; a writer that
 * holds seq odd is waited out, and a copy is never torn.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "avm/stats.h"
#include "avm/util.h"
#include "tap.h"

static char dir[64], path[128];

static void __attribute__((noreturn)) bail(const char *what)
{
	printf("Bail out! %s\n", what);
	exit(1);
}

static void
put(const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd < 0 || write(fd, buf, len) != (ssize_t)len)
		bail("write");
	close(fd);
}

static void
good_pager(struct pager_stats *ps)
{
	memset(ps, 0, sizeof(*ps));
	ps->magic = PAGER_STATS_MAGIC;
	ps->version = PAGER_STATS_VERSION;
	ps->size = sizeof(*ps);
	ps->node = 1;
	ps->nodes = 2;
	ps->faults[PAGER_F_READ] = 42;
	ps->hot[0].transfers = 7;
	ps->peer[0].rtt_ns = 30000;
}

static struct run_stats *
good_run(uint32_t vcpus)
{
	struct run_stats *rs = calloc(1, run_stats_size(vcpus));

	rs->magic = RUN_STATS_MAGIC;
	rs->version = RUN_STATS_VERSION;
	rs->size = (uint32_t)run_stats_size(vcpus);
	rs->node = 0;
	rs->nodes = 2;
	rs->vcpus = vcpus;
	rs->vcpus_total = 4;
	rs->state = RUN_VM_RUNNING;
	for (uint32_t i = 0; i < vcpus; i++) {
		rs->vcpu[i].index = i;
		rs->vcpu[i].exits[RUN_EXIT_IO] = 100 + i;
	}
	return rs;
}

static int
read_pager(char *why, size_t len)
{
	struct pager_stats out;

	return stats_read_pager(path, &out, why, len);
}

static int
read_run(char *why, size_t len)
{
	struct run_stats *out = NULL;
	int rc = stats_read_run(path, &out, why, len);

	free(out);
	return rc;
}

static void
test_pager(void)
{
	struct pager_stats ps, out;
	char why[200] = "";

	good_pager(&ps);
	put(&ps, sizeof(ps));
	is_int(stats_read_pager(path, &out, why, sizeof(why)), 0, "good: read");
	ok(out.faults[PAGER_F_READ] == 42 && out.hot[0].transfers == 7 &&
		   out.peer[0].rtt_ns == 30000,
	   "good: counters, hot table and peers come through");

	put(&ps, 0);
	is_int(read_pager(why, sizeof(why)), -EAGAIN, "empty: being created");
	ps.magic = 0;
	put(&ps, sizeof(ps));
	is_int(read_pager(why, sizeof(why)), -EAGAIN,
	       "no magic: being created");

	good_pager(&ps);
	put(&ps, sizeof(ps) / 2);
	is_int(read_pager(why, sizeof(why)), -EPROTO, "truncated: -EPROTO");
	ok(strstr(why, "bytes") != NULL, "... saying its size: %s", why);

	ps.version = 1;
	put(&ps, sizeof(ps));
	is_int(read_pager(why, sizeof(why)), -EPROTO, "version 1: -EPROTO");
	ok(strstr(why, "version 1") != NULL, "... naming it: %s", why);

	good_pager(&ps);
	ps.magic ^= 1;
	put(&ps, sizeof(ps));
	is_int(read_pager(why, sizeof(why)), -EPROTO, "bad magic: -EPROTO");
	ok(strstr(why, "magic") != NULL, "... saying so: %s", why);

	good_pager(&ps);
	ps.node = 2;
	put(&ps, sizeof(ps));
	is_int(read_pager(why, sizeof(why)), -EPROTO, "node 2 of 2: -EPROTO");

	unlink(path);
	is_int(read_pager(why, sizeof(why)), -ENOENT, "absent: -ENOENT");
}

static void
test_run(void)
{
	struct run_stats *rs = good_run(3), *out = NULL;
	size_t len = run_stats_size(3);
	char why[200] = "";
	char *big;

	put(rs, len);
	is_int(stats_read_run(path, &out, why, sizeof(why)), 0, "run: read");
	ok(out && out->vcpus == 3 && out->vcpu[2].exits[RUN_EXIT_IO] == 102,
	   "run: the vCPU entries come through");
	free(out);

	put(rs, len - 8);
	is_int(read_run(why, sizeof(why)), -EPROTO, "run truncated: -EPROTO");
	big = calloc(1, len + 64);
	memcpy(big, rs, len);
	put(big, len + 64);
	is_int(read_run(why, sizeof(why)), -EPROTO, "run padded: -EPROTO");
	free(big);

	rs->version = 9;
	put(rs, len);
	is_int(read_run(why, sizeof(why)), -EPROTO, "run version 9: -EPROTO");
	ok(strstr(why, "version 9") != NULL, "... naming it: %s", why);
	rs->version = RUN_STATS_VERSION;

	rs->vcpus = 1000000;
	put(rs, len);
	is_int(read_run(why, sizeof(why)), -EPROTO, "run vcpus huge: -EPROTO");
	rs->vcpus = 3;

	rs->vcpu[1].state = RUN_VCPU_STATES;
	put(rs, len);
	is_int(read_run(why, sizeof(why)), -EPROTO, "run bad vCPU state");
	rs->vcpu[1].state = 0;
	rs->vcpu[1].index = 4;
	put(rs, len);
	is_int(read_run(why, sizeof(why)), -EPROTO, "run vCPU index >= total");
	rs->vcpu[1].index = 1;

	rs->magic = 0;
	put(rs, len);
	is_int(read_run(why, sizeof(why)), -EAGAIN, "run no magic: not yet");
	put(rs, 0);
	is_int(read_run(why, sizeof(why)), -EAGAIN, "run empty: not yet");
	free(rs);
}

/* A writer that keeps two counters equal under seq, as fast as it can. */
static volatile int stop;

static void *
writer(void *arg)
{
	struct pager_stats *m = arg;

	while (!stop) {
		__atomic_store_n(&m->seq, m->seq + 1, __ATOMIC_RELEASE);
		m->pages_owned++;
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		m->pages_shared++;
		__atomic_store_n(&m->seq, m->seq + 1, __ATOMIC_RELEASE);
	}
	return NULL;
}

static void
test_seq(void)
{
	struct pager_stats ps, out, *m;
	pthread_t t;
	char why[200];
	int fd, torn = 0, reads = 0, rc;
	uint64_t end;

	good_pager(&ps);
	put(&ps, sizeof(ps));
	fd = open(path, O_RDWR);
	m = mmap(NULL, sizeof(ps), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (m == MAP_FAILED)
		bail("mmap");
	/* seq held odd: the reader gives up with -EAGAIN, not a torn copy */
	m->seq = 1;
	is_int(stats_read_pager(path, &out, why, sizeof(why)), -EAGAIN,
	       "a writer stuck mid-update: -EAGAIN");
	m->seq = 2;
	pthread_create(&t, NULL, writer, m);
	/* 2000 reads or half a second, whichever comes first: under
	 * valgrind, which runs one thread at a time, a spinning writer
	 * leaves the reader few turns, and each busy read waits. */
	end = now_ns() + 500000000ull;
	for (int i = 0; i < 2000 && now_ns() < end; i++) {
		rc = stats_read_pager(path, &out, why, sizeof(why));
		if (rc == 0) {
			reads++;
			torn += out.pages_owned != out.pages_shared;
		}
	}
	stop = 1;
	pthread_join(t, NULL);
	ok(reads > 0, "reads beside a busy writer succeed (%d)", reads);
	is_int(torn, 0, "and none is torn");
	munmap(m, sizeof(ps));
}

int
main(void)
{
	char tmpl[] = "/tmp/t-stats.XXXXXX";

	if (!mkdtemp(tmpl))
		bail("mkdtemp");
	snprintf(dir, sizeof(dir), "%s", tmpl);
	snprintf(path, sizeof(path), "%s/x.stats", dir);
	test_pager();
	test_run();
	test_seq();
	unlink(path);
	rmdir(dir);
	return done_testing();
}
