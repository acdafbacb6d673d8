/* The client's guest RAM: uffd and memfd operations; see mem.h. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/falloc.h>

#include "avm/log.h"
#include "fail.h"
#include "mem.h"

void
mem_init(struct mem *m, const struct pager_cfg *cfg, struct pager_stats *st,
	 const struct mem_ops *ops, void *ctx)
{
	memset(m, 0, sizeof(*m));
	m->cfg = cfg;
	m->st = st;
	m->ops = ops;
	m->ctx = ctx;
	m->memfd = m->uffd = -1;
}

int
mem_attached(const struct mem *m)
{
	return m->memfd >= 0;
}

void
mem_detach(struct mem *m)
{
	m->detached = 1;
}

uint64_t
mem_page_addr(const struct mem *m, uint64_t page, uint64_t *gpa)
{
	unsigned i;

	for (i = 0; i < m->nslots; i++) {
		const struct slotmap *s = &m->slot[i];

		if (page >= s->first && page - s->first < s->npages) {
			if (gpa)
				*gpa = s->gpa +
				       ((page - s->first) << PAGER_PAGE_SHIFT);
			if (!s->mapped || m->detached)
				return 0;
			return s->addr +
			       ((page - s->first) << PAGER_PAGE_SHIFT);
		}
	}
	return 0;
}

uint64_t
mem_slot_end(const struct mem *m, uint64_t page)
{
	uint64_t end = UINT64_MAX;
	unsigned i;

	for (i = 0; i < m->nslots; i++) {
		const struct slotmap *s = &m->slot[i];

		if (page >= s->first && page - s->first < s->npages)
			return s->first + s->npages;
		if (s->first > page && s->first < end)
			end = s->first;
	}
	return end;
}

int
mem_addr_page(const struct mem *m, uint64_t addr, uint64_t *page, uint64_t *gpa)
{
	unsigned i;

	for (i = 0; i < m->nslots; i++) {
		const struct slotmap *s = &m->slot[i];
		uint64_t len = s->npages << PAGER_PAGE_SHIFT;

		if (addr >= s->addr && addr - s->addr < len) {
			*page = s->first +
				((addr - s->addr) >> PAGER_PAGE_SHIFT);
			if (gpa)
				*gpa = s->gpa + (addr - s->addr);
			return 0;
		}
	}
	return -1;
}

/* --- events -------------------------------------------------------------- */

/* The client dropped [start, end) itself (MADV_REMOVE): the bytes are
 * gone; the home learns it from our next request's "have". */
static void
on_remove(struct mem *m, uint64_t start, uint64_t end)
{
	uint64_t a, page;

	m->st->events_remove++;
	for (a = start & ~(uint64_t)(PAGER_PAGE_SIZE - 1); a < end;
	     a += PAGER_PAGE_SIZE)
		if (mem_addr_page(m, a, &page, NULL) == 0)
			m->ops->removed(m->ctx, page);
}

static void
on_unmap(struct mem *m, uint64_t start, uint64_t end)
{
	unsigned i;

	m->st->events_unmap++;
	for (i = 0; i < m->nslots; i++) {
		struct slotmap *s = &m->slot[i];
		uint64_t e = s->addr + (s->npages << PAGER_PAGE_SHIFT);

		if (s->mapped && start < e && s->addr < end) {
			s->mapped = 0;
			log_info("client unmapped guest RAM at gpa 0x%llx",
				 (unsigned long long)s->gpa);
		}
	}
}

static void
process_msg(struct mem *m, const struct uffd_msg *u)
{
	switch (u->event) {
	case UFFD_EVENT_PAGEFAULT:
		m->ops->fault(m->ctx, u->arg.pagefault.address,
			      u->arg.pagefault.flags,
			      u->arg.pagefault.feat.ptid);
		break;
	case UFFD_EVENT_REMOVE:
		on_remove(m, u->arg.remove.start, u->arg.remove.end);
		break;
	case UFFD_EVENT_UNMAP:
		on_unmap(m, u->arg.remove.start, u->arg.remove.end);
		break;
	default:
		log_warn("uffd event 0x%x ignored", u->event);
		break;
	}
}

/* The client went away under us: tolerated only once it detached. */
static void
client_gone(struct mem *m, const char *what, int e)
{
	if (m->detached)
		return;
	pager_fail(AVM_EX_UNAVAILABLE,
		   "node %u failed: %s on the client's guest RAM: %s",
		   m->cfg->node, what, strerror(e));
}

void
mem_uffd_ready(struct mem *m)
{
	struct uffd_msg u[32];
	ssize_t n;
	size_t k;

	for (;;) {
		while (m->backlog_len) {
			struct uffd_msg one = m->backlog[0];

			memmove(m->backlog, m->backlog + 1,
				--m->backlog_len * sizeof(*m->backlog));
			process_msg(m, &one);
		}
		n = read(m->uffd, u, sizeof(u));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0)
			client_gone(m, "read uffd", n < 0 ? errno : EPIPE);
		for (k = 0; k < (size_t)n / sizeof(u[0]); k++)
			process_msg(m, &u[k]);
		if ((size_t)n < sizeof(u) && !m->backlog_len)
			return;
	}
}

/* Reads what the uffd has into the backlog (to end an EAGAIN); events
 * that change the address space are handled at once. */
static void
drain_to_backlog(struct mem *m)
{
	struct uffd_msg u[16];
	ssize_t n;
	size_t k;

	for (;;) {
		n = read(m->uffd, u, sizeof(u));
		if (n <= 0)
			return;
		for (k = 0; k < (size_t)n / sizeof(u[0]); k++) {
			if (u[k].event != UFFD_EVENT_PAGEFAULT) {
				process_msg(m, &u[k]);
				continue;
			}
			if (m->backlog_len == m->backlog_cap) {
				size_t cap = m->backlog_cap ? 2 * m->backlog_cap
							    : 64;
				void *b =
					realloc(m->backlog, cap * sizeof(u[0]));

				if (!b)
					pager_fail(AVM_EX_OSERR,
						   "out of memory");
				m->backlog = b;
				m->backlog_cap = cap;
			}
			m->backlog[m->backlog_len++] = u[k];
		}
	}
}

/*
 * An ioctl on the client's range.  EAGAIN: the client's address space is
 * changing (an event is unread): read the events, then again.  Returns
 * 0, or the errno the caller must judge (EEXIST, ENOENT, ESRCH, ...).
 */
static int
uffd_ioctl(struct mem *m, unsigned long req, void *arg)
{
	int tries;

	for (tries = 0; tries < 1000; tries++) {
		if (ioctl(m->uffd, req, arg) == 0)
			return 0;
		if (errno != EAGAIN && errno != EINTR)
			return errno;
		if (req == UFFDIO_COPY && ((struct uffdio_copy *)arg)->copy > 0)
			return 0;
		drain_to_backlog(m);
	}
	return EAGAIN;
}

/* --- page operations ------------------------------------------------------ */

void
mem_wp(struct mem *m, uint64_t addr, int on)
{
	mem_wp_range(m, addr, 1, on);
}

void
mem_wp_range(struct mem *m, uint64_t addr, uint64_t n, int on)
{
	struct uffdio_writeprotect wp = {
		.range = { .start = addr, .len = n << PAGER_PAGE_SHIFT },
		.mode = on ? UFFDIO_WRITEPROTECT_MODE_WP : 0,
	};
	int e;

	if (!addr)
		return;
	e = uffd_ioctl(m, UFFDIO_WRITEPROTECT, &wp);
	if (e && e != ENOENT)
		client_gone(m, "UFFDIO_WRITEPROTECT", e);
}

void
mem_wake(struct mem *m, uint64_t addr)
{
	struct uffdio_range r = { .start = addr, .len = PAGER_PAGE_SIZE };
	int e;

	if (!addr)
		return;
	e = uffd_ioctl(m, UFFDIO_WAKE, &r);
	if (e && e != ENOENT)
		client_gone(m, "UFFDIO_WAKE", e);
}

void
mem_punch(struct mem *m, uint64_t page)
{
	if (fallocate(m->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      (off_t)(page << PAGER_PAGE_SHIFT), PAGER_PAGE_SIZE) < 0)
		pager_fail(AVM_EX_OSERR, "punch page %llu out of the memfd: %s",
			   (unsigned long long)page, strerror(errno));
}

void
mem_read(struct mem *m, uint64_t page, uint8_t *buf)
{
	ssize_t n;

	n = pread(m->memfd, buf, PAGER_PAGE_SIZE,
		  (off_t)(page << PAGER_PAGE_SHIFT));
	if (n != PAGER_PAGE_SIZE)
		pager_fail(AVM_EX_OSERR, "read page %llu of the memfd: %s",
			   (unsigned long long)page,
			   n < 0 ? strerror(errno) : "short read");
}

ssize_t
mem_read_pages(struct mem *m, uint64_t first, uint32_t count, uint8_t *buf)
{
	ssize_t n;

	n = pread(m->memfd, buf, (size_t)count * PAGER_PAGE_SIZE,
		  (off_t)(first << PAGER_PAGE_SHIFT));
	if (n != (ssize_t)count * PAGER_PAGE_SIZE)
		pager_fail(AVM_EX_OSERR, "read the memfd: %s",
			   n < 0 ? strerror(errno) : "short read");
	return n;
}

void
mem_install(struct mem *m, uint64_t page, const uint8_t *bytes, int exclusive)
{
	uint64_t addr = mem_page_addr(m, page, NULL);
	struct uffdio_copy c;
	int e;

	if (addr) {
		memset(&c, 0, sizeof(c));
		c.dst = addr;
		c.src = (uintptr_t)bytes;
		c.len = PAGER_PAGE_SIZE;
		c.mode = exclusive ? 0 : UFFDIO_COPY_MODE_WP;
		e = uffd_ioctl(m, UFFDIO_COPY, &c);
		if (e == 0)
			return;
		if (e != EEXIST && e != ENOENT)
			client_gone(m, "UFFDIO_COPY", e);
	}
	/*
	 * No mapping, or a page there already (the client wrote the memfd
	 * some other way): the memfd is the truth, write it there.
	 */
	if (pwrite(m->memfd, bytes, PAGER_PAGE_SIZE,
		   (off_t)(page << PAGER_PAGE_SHIFT)) != PAGER_PAGE_SIZE)
		pager_fail(AVM_EX_OSERR, "write page %llu of the memfd: %s",
			   (unsigned long long)page, strerror(errno));
	if (addr) {
		mem_wp(m, addr, !exclusive);
		mem_wake(m, addr);
	}
}

void
mem_install_run(struct mem *m, uint64_t page, uint64_t n, const uint8_t *bytes)
{
	uint64_t addr = mem_page_addr(m, page, NULL), done, k;
	struct uffdio_copy c;
	int tries = 0;

	for (k = 0; addr && k < n;) {
		memset(&c, 0, sizeof(c));
		c.dst = addr + (k << PAGER_PAGE_SHIFT);
		c.src = (uintptr_t)(bytes + (k << PAGER_PAGE_SHIFT));
		c.len = (n - k) << PAGER_PAGE_SHIFT;
		c.mode = UFFDIO_COPY_MODE_WP;
		if (ioctl(m->uffd, UFFDIO_COPY, &c) == 0)
			return;
		done = c.copy > 0 ? (uint64_t)c.copy >> PAGER_PAGE_SHIFT : 0;
		if (errno == EAGAIN || errno == EINTR) {
			if (done == 0 && ++tries > 1000)
				client_gone(m, "UFFDIO_COPY", EAGAIN);
			drain_to_backlog(m);
			k += done;
			continue;
		}
		if (errno != EEXIST && errno != ENOENT)
			client_gone(m, "UFFDIO_COPY", errno);
		k += done;
		break; /* the rest page by page, as mem_install knows */
	}
	for (; k < n; k++)
		mem_install(m, page + k, bytes + (k << PAGER_PAGE_SHIFT), 0);
}

void
mem_zero_run(struct mem *m, uint64_t page, uint64_t n)
{
	uint64_t addr = mem_page_addr(m, page, NULL), done;
	struct uffdio_zeropage z;
	int tries = 0;

	if (!addr)
		return; /* not mapped: the memfd's hole reads zero */
	while (n) {
		memset(&z, 0, sizeof(z));
		z.range.start = addr;
		z.range.len = n << PAGER_PAGE_SHIFT;
		if (ioctl(m->uffd, UFFDIO_ZEROPAGE, &z) == 0)
			return;
		done = z.zeropage > 0 ? (uint64_t)z.zeropage >> PAGER_PAGE_SHIFT
				      : 0;
		if (errno == EEXIST && done == 0)
			done = 1; /* a page is there already: it stays */
		else if (errno == EAGAIN || errno == EINTR) {
			if (done == 0 && ++tries > 1000)
				client_gone(m, "UFFDIO_ZEROPAGE", EAGAIN);
			drain_to_backlog(m);
		} else if (errno == ENOENT) {
			return; /* the mapping went: the client is leaving */
		} else if (errno != EEXIST) {
			client_gone(m, "UFFDIO_ZEROPAGE", errno);
		}
		addr += done << PAGER_PAGE_SHIFT;
		n -= done;
	}
}

/* --- attach ----------------------------------------------------------------- */

int
mem_attach(struct mem *m, const struct pager_layout *l, int memfd, int uffd,
	   char *why, size_t len)
{
	uint64_t bytes = m->cfg->mem_bytes;
	struct stat st;
	unsigned i;
	int fl;

	if (l->mem_bytes != bytes) {
		snprintf(why, len,
			 "guest RAM is %llu bytes, the pager "
			 "was started for %llu",
			 (unsigned long long)l->mem_bytes,
			 (unsigned long long)bytes);
		return -EINVAL;
	}
	if (fstat(memfd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size != bytes) {
		snprintf(why, len, "the memfd is not a file of %llu bytes",
			 (unsigned long long)bytes);
		return -EINVAL;
	}
	fl = fcntl(uffd, F_GETFL);
	if (fl < 0 || fcntl(uffd, F_SETFL, fl | O_NONBLOCK) < 0) {
		snprintf(why, len, "the uffd: %s", strerror(errno));
		return -EINVAL;
	}
	for (i = 0; i < l->nslots; i++) {
		m->slot[i] = (struct slotmap){
			.first = l->slot[i].memfd_off >> PAGER_PAGE_SHIFT,
			.npages = l->slot[i].size >> PAGER_PAGE_SHIFT,
			.gpa = l->slot[i].gpa,
			.addr = l->slot[i].addr,
			.mapped = 1,
		};
	}
	/*
	 * What the memfd holds already (a client that wrote before
	 * attaching) would be outside the protocol: start from holes.
	 */
	if (fallocate(memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0,
		      (off_t)bytes) < 0) {
		snprintf(why, len, "punch the memfd: %s", strerror(errno));
		return -EINVAL;
	}
	m->nslots = l->nslots;
	m->memfd = memfd;
	m->uffd = uffd;
	return 0;
}
