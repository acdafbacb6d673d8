/*
 * The client's guest RAM, as this pager sees it: the memfd every copy
 * this node holds lives in, the uffd its faults and events come from,
 * and the client's mappings (slots).  The operations here act on one
 * page; what a page's state is, and when to act, is fault.c's.
 *
 * Every copy lives in the memfd, so bytes are read with pread(2) (a hole
 * reads as zeros without filling it) and dropped with
 * fallocate(PUNCH_HOLE): unlike MADV_DONTNEED on a MAP_SHARED mapping,
 * that frees the page cache page and unmaps it from every mapping (KVM's
 * too, through its MMU notifier), so the next access faults again.
 *
 * A failure on the client's memory ends the pager (fail.h), except once
 * the client detached.
 */
#ifndef AVM_PAGER_MEM_H
#define AVM_PAGER_MEM_H

#include <stdint.h>
#include <sys/types.h>

#include <linux/userfaultfd.h>

#include "avm/pager.h"
#include "stats.h"

struct slotmap {
	uint64_t first, npages; /* pages of the memfd */
	uint64_t gpa, addr;
	int mapped;
};

struct mem_ops {
	/* A fault of the client at addr (UFFD_PAGEFAULT_FLAG_*) by its
	 * thread tid (0 when the uffd does not say: no
	 * UFFD_FEATURE_THREAD_ID). */
	void (*fault)(void *ctx, uint64_t addr, uint64_t flags, uint32_t tid);
	/* The client dropped page itself (MADV_REMOVE). */
	void (*removed)(void *ctx, uint64_t page);
};

struct mem {
	const struct pager_cfg *cfg;
	struct pager_stats *st;
	const struct mem_ops *ops;
	void *ctx;
	int memfd, uffd; /* -1 until a client attached */
	struct slotmap slot[WIRE_PG_SLOTS_MAX];
	unsigned nslots;
	int detached;
	/* faults read while waiting out an EAGAIN, handled after it */
	struct uffd_msg *backlog;
	size_t backlog_len, backlog_cap;
};

void mem_init(struct mem *m, const struct pager_cfg *cfg,
	      struct pager_stats *st, const struct mem_ops *ops, void *ctx);

/*
 * Takes the client's memfd and uffd for layout l.  Returns 0, or
 * -EINVAL with why (the layout does not fit this pager).
 */
int mem_attach(struct mem *m, const struct pager_layout *l, int memfd, int uffd,
	       char *why, size_t len);
/* The client detached: no more of its memory is touched. */
void mem_detach(struct mem *m);
int mem_attached(const struct mem *m);

/* The client's address of page, or 0 when it has no mapping of it;
 * its guest physical address into *gpa when gpa is not NULL. */
uint64_t mem_page_addr(const struct mem *m, uint64_t page, uint64_t *gpa);

/* The page and guest physical address of a client address; -1 when
 * it is outside every slot. */
int mem_addr_page(const struct mem *m, uint64_t addr, uint64_t *page,
		  uint64_t *gpa);
/*
 * The first page past page's slot (past the gap it is in, when no slot
 * has it): the pages up to there have consecutive addresses in the
 * client, so one ioctl may take them (the *_run functions below).
 */
uint64_t mem_slot_end(const struct mem *m, uint64_t page);

void mem_wp(struct mem *m, uint64_t addr, int on);
/* The same over n pages from addr, one slot's (one ioctl). */
void mem_wp_range(struct mem *m, uint64_t addr, uint64_t n, int on);
void mem_wake(struct mem *m, uint64_t addr);
void mem_punch(struct mem *m, uint64_t page);
/*
 * Pages [page, page + n), in one slot, zero and held by nobody: mapped
 * writable at once (UFFDIO_ZEROPAGE over the range, which wakes the
 * threads faulting there); a page there already stays as it is (its
 * faulting thread, if any, is the caller's to wake).
 */
void mem_zero_run(struct mem *m, uint64_t page, uint64_t n);
/*
 * Pages [page, page + n), in one slot, held by nobody here: n pages of
 * bytes installed read-only (write-protected) with one UFFDIO_COPY, the
 * threads faulting there woken; where that cannot go on (a page there
 * already, the mapping gone) the rest go as mem_install does.
 */
void mem_install_run(struct mem *m, uint64_t page, uint64_t n,
		     const uint8_t *bytes);
void mem_read(struct mem *m, uint64_t page, uint8_t *buf);
/* count pages from first into buf; returns the bytes read. */
ssize_t mem_read_pages(struct mem *m, uint64_t first, uint32_t count,
		       uint8_t *buf);
/* Places bytes at page, shared (write-protected) or exclusive. */
void mem_install(struct mem *m, uint64_t page, const uint8_t *bytes,
		 int exclusive);

/* The uffd is readable: every fault and event to ops, in order. */
void mem_uffd_ready(struct mem *m);

#endif
