/* The stats file; see stats.h. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "avm/log.h"
#include "fail.h"
#include "stats.h"

struct pager_stats *
stats_open(const struct pager_cfg *cfg, size_t dir_entry_bytes)
{
	struct pager_stats *st;
	int fd;

	/* Never through a link someone planted; the VM folder is ours
	 * (avm_trusted_dir) and so is its pager lock, so the file is. */
	fd = open(cfg->stats_path,
		  O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0)
		pager_fail(AVM_EX_CANTCREAT, "create '%s': %s", cfg->stats_path,
			   strerror(errno));
	/* Blocks for real: a full disk is 73 now, not SIGBUS later. */
	errno = posix_fallocate(fd, 0, sizeof(struct pager_stats));
	if (errno) {
		int e = errno;

		unlink(cfg->stats_path);
		pager_fail(AVM_EX_CANTCREAT, "size '%s': %s", cfg->stats_path,
			   strerror(e));
	}
	st = mmap(NULL, sizeof(struct pager_stats), PROT_READ | PROT_WRITE,
		  MAP_SHARED, fd, 0);
	close(fd);
	if (st == MAP_FAILED)
		pager_fail(AVM_EX_OSERR, "map '%s': %s", cfg->stats_path,
			   strerror(errno));
	st->version = PAGER_STATS_VERSION;
	st->size = sizeof(struct pager_stats);
	st->node = cfg->node;
	st->nodes = cfg->nodes;
	st->page_size = PAGER_PAGE_SIZE;
	st->dir_entry_bytes = (uint32_t)dir_entry_bytes;
	st->local_state_bytes = 1;
	st->pid = (uint32_t)getpid();
	st->mem_bytes = cfg->mem_bytes;
	st->home_first = cfg->home_first[cfg->node];
	st->home_pages = cfg->home_pages[cfg->node];
	/* The magic last: a reader that sees it sees the rest. */
	__atomic_store_n(&st->magic, PAGER_STATS_MAGIC, __ATOMIC_RELEASE);
	return st;
}

void
stats_seq_begin(struct pager_stats *st)
{
	__atomic_store_n(&st->seq, st->seq + 1, __ATOMIC_RELEASE);
}

void
stats_seq_end(struct pager_stats *st)
{
	__atomic_store_n(&st->seq, st->seq + 1, __ATOMIC_RELEASE);
}

void
stats_lat(struct pager_stats *st, uint64_t ns)
{
	int b = ns ? 63 - __builtin_clzll(ns) : 0;

	if (b >= PAGER_STATS_HIST)
		b = PAGER_STATS_HIST - 1;
	st->lat_hist[b]++;
	st->lat_sum_ns += ns;
	st->lat_count++;
}
