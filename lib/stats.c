/* Reading the stats files; see include/avm/stats.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "avm/stats.h"
#include "avm/util.h"

static const char *const vm_states[RUN_VM_STATES] = {
	"starting", "running", "paused", "stopping", "ended",
};

static const char *const vcpu_states[RUN_VCPU_STATES] = {
	"running", "halted", "paused", "fault", "io", "stopped",
};

static const char *const exits[RUN_EXITS] = {
	"io", "mmio", "msr", "hlt", "irq_window", "intr", "shutdown", "other",
};

static const char *const kvm_stats[RUN_KVM_STATS] = {
	"exits",	"io_exits",	  "mmio_exits",	    "halt_exits",
	"halt_wait_ns", "irq_injections", "nmi_injections", "signal_exits",
	"irq_exits",	"pf_taken",
};

static const char *const fault_kinds[PAGER_F_KINDS] = {
	"zero", "local", "read", "write", "upgrade", "spurious",
};

const char *
run_vm_state_name(uint32_t s)
{
	return s < RUN_VM_STATES ? vm_states[s] : "?";
}

const char *
run_vcpu_state_name(uint32_t s)
{
	return s < RUN_VCPU_STATES ? vcpu_states[s] : "?";
}

const char *
run_exit_name(uint32_t k)
{
	return k < RUN_EXITS ? exits[k] : "?";
}

const char *
run_kvm_stat_name(uint32_t k)
{
	return k < RUN_KVM_STATS ? kvm_stats[k] : "?";
}

const char *
pager_fault_kind_name(uint32_t k)
{
	return k < PAGER_F_KINDS ? fault_kinds[k] : "?";
}

/* A writer holds seq odd for a few instructions; 1000 tries is plenty. */
#define SEQ_TRIES 1000

int
stats_check_pager(const struct pager_stats *ps, size_t len, char *why,
		  size_t whylen)
{
	if (len < offsetof(struct pager_stats, seq))
		return avm_why(why, whylen, -EPROTO,
			       "%zu bytes: too short for a header", len);
	if (ps->magic != PAGER_STATS_MAGIC)
		return avm_why(why, whylen, -EPROTO,
			       "not a pager stats file (bad magic)");
	if (ps->version != PAGER_STATS_VERSION)
		return avm_why(why, whylen, -EPROTO,
			       "pager stats version %u, this build reads %u",
			       ps->version, PAGER_STATS_VERSION);
	if (ps->size != sizeof(*ps) || len != sizeof(*ps))
		return avm_why(why, whylen, -EPROTO,
			       "%zu bytes (header says %u), expected %zu", len,
			       ps->size, sizeof(*ps));
	if (!ps->nodes || ps->nodes > PAGER_MAX_NODES || ps->node >= ps->nodes)
		return avm_why(why, whylen, -EPROTO,
			       "node %u of %u is out of range", ps->node,
			       ps->nodes);
	return 0;
}

int
stats_check_run(const struct run_stats *rs, size_t len, char *why,
		size_t whylen)
{
	if (len < sizeof(*rs))
		return avm_why(why, whylen, -EPROTO,
			       "%zu bytes: too short for a header", len);
	if (rs->magic != RUN_STATS_MAGIC)
		return avm_why(why, whylen, -EPROTO,
			       "not a run stats file (bad magic)");
	if (rs->version != RUN_STATS_VERSION)
		return avm_why(why, whylen, -EPROTO,
			       "run stats version %u, this build reads %u",
			       rs->version, RUN_STATS_VERSION);
	if (rs->vcpus > RUN_STATS_VCPUS_MAX ||
	    rs->size != run_stats_size(rs->vcpus) || len != rs->size)
		return avm_why(
			why, whylen, -EPROTO,
			"%zu bytes (header says %u for %u vCPUs), expected "
			"%zu",
			len, rs->size, rs->vcpus,
			rs->vcpus <= RUN_STATS_VCPUS_MAX
				? run_stats_size(rs->vcpus)
				: 0);
	if (!rs->nodes || rs->node >= rs->nodes ||
	    rs->vcpus > rs->vcpus_total || rs->state >= RUN_VM_STATES)
		return avm_why(
			why, whylen, -EPROTO,
			"node %u of %u, %u of %u vCPUs, state %u: out of "
			"range",
			rs->node, rs->nodes, rs->vcpus, rs->vcpus_total,
			rs->state);
	for (uint32_t i = 0; i < rs->vcpus; i++)
		if (rs->vcpu[i].state >= RUN_VCPU_STATES ||
		    rs->vcpu[i].index >= rs->vcpus_total)
			return avm_why(
				why, whylen, -EPROTO,
				"vCPU entry %u: index %u, state %u out of "
				"range",
				i, rs->vcpu[i].index, rs->vcpu[i].state);
	return 0;
}

static int
read_at(int fd, void *buf, size_t len, off_t off)
{
	size_t got = 0;

	while (got < len) {
		ssize_t n = pread(fd, (char *)buf + got, len - got,
				  off + (off_t)got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (int)(got == len ? 0 : -ENODATA);
}

/*
 * Copies len bytes of fd into buf consistently under the u64 seq at
 * seq_off: seq even and unchanged around the copy.
 */
static int
copy_under_seq(int fd, void *buf, size_t len, size_t seq_off)
{
	uint64_t s0, s1;
	int rc;

	for (int i = 0; i < SEQ_TRIES; i++) {
		rc = read_at(fd, buf, len, 0);
		if (rc < 0)
			return rc;
		memcpy(&s0, (char *)buf + seq_off, sizeof(s0));
		rc = read_at(fd, &s1, sizeof(s1), (off_t)seq_off);
		if (rc < 0)
			return rc;
		if (!(s0 & 1) && s0 == s1)
			return 0;
		if (i > 10)
			usleep(100);
	}
	return -EAGAIN;
}

static int
open_stats(const char *path, off_t *size)
{
	struct stat sb;
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		int e = S_ISREG(sb.st_mode) ? errno : EINVAL;

		close(fd);
		return -e;
	}
	*size = sb.st_size;
	return fd;
}

int
stats_read_pager(const char *path, struct pager_stats *out, char *why,
		 size_t whylen)
{
	off_t size;
	int fd = open_stats(path, &size), rc;

	if (fd < 0)
		return fd;
	memset(out, 0, sizeof(*out));
	if (size != (off_t)sizeof(*out)) {
		size_t n = (size_t)size < sizeof(*out) ? (size_t)size
						       : sizeof(*out);

		/* Say what the header claims when there is one. */
		rc = read_at(fd, out, n, 0);
		close(fd);
		if (rc < 0)
			return rc;
		if (!out->magic)
			return -EAGAIN;
		rc = stats_check_pager(out, (size_t)size, why, whylen);
		return rc < 0 ? rc
			      : avm_why(why, whylen, -EPROTO,
					"%lld bytes, expected %zu",
					(long long)size, sizeof(*out));
	}
	rc = copy_under_seq(fd, out, sizeof(*out),
			    offsetof(struct pager_stats, seq));
	close(fd);
	if (rc == -ENODATA)
		return avm_why(why, whylen, -EPROTO, "truncated while read");
	if (rc < 0)
		return rc;
	if (!out->magic)
		return -EAGAIN;
	return stats_check_pager(out, sizeof(*out), why, whylen);
}

int
stats_read_run(const char *path, struct run_stats **out, char *why,
	       size_t whylen)
{
	struct run_stats hdr, *rs;
	off_t size;
	int fd = open_stats(path, &size), rc;

	*out = NULL;
	if (fd < 0)
		return fd;
	memset(&hdr, 0, sizeof(hdr));
	rc = read_at(fd, &hdr,
		     size < (off_t)sizeof(hdr) ? (size_t)size : sizeof(hdr), 0);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	if (!hdr.magic) {
		close(fd);
		return -EAGAIN;
	}
	/* Only the header is here yet: size and vcpus decide the rest. */
	if (hdr.magic != RUN_STATS_MAGIC || hdr.version != RUN_STATS_VERSION ||
	    size < (off_t)sizeof(hdr) || hdr.vcpus > RUN_STATS_VCPUS_MAX ||
	    (off_t)hdr.size != size) {
		close(fd);
		return stats_check_run(&hdr, (size_t)size, why, whylen) < 0
			       ? -EPROTO
			       : avm_why(why, whylen, -EPROTO,
					 "%lld bytes, header says %u",
					 (long long)size, hdr.size);
	}
	rs = malloc((size_t)size);
	if (!rs) {
		close(fd);
		return -ENOMEM;
	}
	rc = copy_under_seq(fd, rs, (size_t)size,
			    offsetof(struct run_stats, seq));
	close(fd);
	if (rc == -ENODATA)
		rc = avm_why(why, whylen, -EPROTO, "truncated while read");
	else if (rc == 0)
		rc = stats_check_run(rs, (size_t)size, why, whylen);
	if (rc < 0) {
		free(rs);
		return rc;
	}
	*out = rs;
	return 0;
}
