/*
 * The memory side of avm-pager: faults read from the client's uffd,
 * the node's own copies (installed with UFFDIO_COPY, write-protected with
 * UFFDIO_WRITEPROTECT, dropped by punching the memfd), and the glue
 * between the network and the home directory (dir.c).
 *
 * Every copy this node holds lives in the memfd, so the bytes are read
 * with pread(2) (a hole reads as zeros without filling it) and dropped
 * with fallocate(PUNCH_HOLE): unlike MADV_DONTNEED on a MAP_SHARED
 * mapping, that frees the page cache page and unmaps it from every
 * mapping (KVM's too, through its MMU notifier), so the next access
 * faults again.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/falloc.h>
#include <linux/userfaultfd.h>

#include "avm/log.h"
#include "avm/util.h"
#include "daemon.h"

static uint8_t zero_page[PAGER_PAGE_SIZE] __attribute__((aligned(4096)));

/* Faults read while waiting out an EAGAIN, handled after it. */
static struct uffd_msg *backlog;
static size_t backlog_len, backlog_cap;

uint32_t
home_of(uint64_t page)
{
	uint32_t i;

	for (i = 0; i < P.nodes; i++)
		if (page >= P.home_first[i] &&
		    page - P.home_first[i] < P.home_pages[i])
			return i;
	return 0;
}

/* The client's address of page, or 0 when it has no mapping of it. */
static uint64_t
page_addr(uint64_t page, uint64_t *gpa)
{
	unsigned i;

	for (i = 0; i < P.nslots; i++) {
		struct slotmap *s = &P.slot[i];

		if (page >= s->first && page - s->first < s->npages) {
			if (gpa)
				*gpa = s->gpa +
				       ((page - s->first) << PAGER_PAGE_SHIFT);
			if (!s->mapped || P.detached)
				return 0;
			return s->addr +
			       ((page - s->first) << PAGER_PAGE_SHIFT);
		}
	}
	return 0;
}

static int
addr_page(uint64_t addr, uint64_t *page, uint64_t *gpa)
{
	unsigned i;

	for (i = 0; i < P.nslots; i++) {
		struct slotmap *s = &P.slot[i];
		uint64_t len = s->npages << PAGER_PAGE_SHIFT;

		if (addr >= s->addr && addr - s->addr < len) {
			*page = s->first +
				((addr - s->addr) >> PAGER_PAGE_SHIFT);
			*gpa = s->gpa + (addr - s->addr);
			return 0;
		}
	}
	return -1;
}

/* --- pending requests (one per page at most) ------------------------------ */

static struct pend *
pend_slot(uint64_t page, int create)
{
	uint32_t i =
		(uint32_t)(page * 0x9e3779b97f4a7c15ull >> 32) & P.pend_mask;
	uint32_t n;

	for (n = 0; n <= P.pend_mask; n++, i = (i + 1) & P.pend_mask) {
		if (P.pend[i].page == page)
			return &P.pend[i];
		if (P.pend[i].page == UINT64_MAX)
			return create ? &P.pend[i] : NULL;
	}
	return NULL;
}

/* Removal in a linear-probing table: re-insert the rest of the run. */
static void
pend_del(struct pend *e)
{
	uint32_t i = (uint32_t)(e - P.pend), j;
	struct pend tmp;

	P.pend[i].page = UINT64_MAX;
	for (j = (i + 1) & P.pend_mask; P.pend[j].page != UINT64_MAX;
	     j = (j + 1) & P.pend_mask) {
		tmp = P.pend[j];
		P.pend[j].page = UINT64_MAX;
		*pend_slot(tmp.page, 1) = tmp;
	}
}

/* --- uffd operations -------------------------------------------------------- */

static void process_msg(const struct uffd_msg *m);

/* Reads what the uffd has into the backlog (to end an EAGAIN). */
static void
drain_to_backlog(void)
{
	struct uffd_msg m[16];
	ssize_t n;
	size_t k;

	for (;;) {
		n = read(P.uffd, m, sizeof(m));
		if (n <= 0)
			return;
		for (k = 0; k < (size_t)n / sizeof(m[0]); k++) {
			if (m[k].event != UFFD_EVENT_PAGEFAULT) {
				process_msg(&m[k]);
				continue;
			}
			if (backlog_len == backlog_cap) {
				size_t cap = backlog_cap ? 2 * backlog_cap : 64;
				void *b = realloc(backlog, cap * sizeof(m[0]));

				if (!b)
					pager_fail(AVM_EX_OSERR,
						   "out of memory");
				backlog = b;
				backlog_cap = cap;
			}
			backlog[backlog_len++] = m[k];
		}
	}
}

/*
 * An ioctl on the client's range.  EAGAIN: the client's address space is
 * changing (an event is unread): read the events, then again.  Returns
 * 0, or the errno the caller must judge (EEXIST, ENOENT, ESRCH, ...).
 */
static int
uffd_ioctl(unsigned long req, void *arg)
{
	int tries;

	for (tries = 0; tries < 1000; tries++) {
		if (ioctl(P.uffd, req, arg) == 0)
			return 0;
		if (errno != EAGAIN && errno != EINTR)
			return errno;
		if (req == UFFDIO_COPY && ((struct uffdio_copy *)arg)->copy > 0)
			return 0;
		drain_to_backlog();
	}
	return EAGAIN;
}

/* The client went away under us: tolerated only once it detached. */
static void
client_gone(const char *what, int e)
{
	if (P.detached)
		return;
	pager_fail(AVM_EX_UNAVAILABLE,
		   "node %u failed: %s on the client's guest RAM: %s", P.node,
		   what, strerror(e));
}

static void
wp_range(uint64_t addr, int on)
{
	struct uffdio_writeprotect wp = {
		.range = { .start = addr, .len = PAGER_PAGE_SIZE },
		.mode = on ? UFFDIO_WRITEPROTECT_MODE_WP : 0,
	};
	int e;

	if (!addr)
		return;
	e = uffd_ioctl(UFFDIO_WRITEPROTECT, &wp);
	if (e && e != ENOENT)
		client_gone("UFFDIO_WRITEPROTECT", e);
}

static void
wake(uint64_t addr)
{
	struct uffdio_range r = { .start = addr, .len = PAGER_PAGE_SIZE };
	int e;

	if (!addr)
		return;
	e = uffd_ioctl(UFFDIO_WAKE, &r);
	if (e && e != ENOENT)
		client_gone("UFFDIO_WAKE", e);
}

static void
punch(uint64_t page)
{
	if (fallocate(P.memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
		      (off_t)(page << PAGER_PAGE_SHIFT), PAGER_PAGE_SIZE) < 0)
		pager_fail(AVM_EX_OSERR, "punch page %llu out of the memfd: %s",
			   (unsigned long long)page, strerror(errno));
}

static void
read_page(uint64_t page, uint8_t *buf)
{
	ssize_t n;

	n = pread(P.memfd, buf, PAGER_PAGE_SIZE,
		  (off_t)(page << PAGER_PAGE_SHIFT));
	if (n != PAGER_PAGE_SIZE)
		pager_fail(AVM_EX_OSERR, "read page %llu of the memfd: %s",
			   (unsigned long long)page,
			   n < 0 ? strerror(errno) : "short read");
}

/* Places bytes at page, shared (write-protected) or exclusive. */
static void
install(uint64_t page, const uint8_t *bytes, int exclusive)
{
	uint64_t addr = page_addr(page, NULL);
	struct uffdio_copy c;
	int e;

	if (addr) {
		memset(&c, 0, sizeof(c));
		c.dst = addr;
		c.src = (uintptr_t)bytes;
		c.len = PAGER_PAGE_SIZE;
		c.mode = exclusive ? 0 : UFFDIO_COPY_MODE_WP;
		e = uffd_ioctl(UFFDIO_COPY, &c);
		if (e == 0)
			return;
		if (e != EEXIST && e != ENOENT)
			client_gone("UFFDIO_COPY", e);
	}
	/*
	 * No mapping, or a page there already (the client wrote the memfd
	 * some other way): the memfd is the truth, write it there.
	 */
	if (pwrite(P.memfd, bytes, PAGER_PAGE_SIZE,
		   (off_t)(page << PAGER_PAGE_SHIFT)) != PAGER_PAGE_SIZE)
		pager_fail(AVM_EX_OSERR, "write page %llu of the memfd: %s",
			   (unsigned long long)page, strerror(errno));
	if (addr) {
		wp_range(addr, !exclusive);
		wake(addr);
	}
}

static void
set_hold(uint64_t page, int hold)
{
	int old = P.local[page] & LS_HOLD;

	if (old == hold)
		return;
	stats_seq_begin();
	if (old == PAGER_HOLD_SHARED)
		P.st->pages_shared--;
	if (old == PAGER_HOLD_EXCLUSIVE)
		P.st->pages_owned--;
	if (hold == PAGER_HOLD_SHARED)
		P.st->pages_shared++;
	if (hold == PAGER_HOLD_EXCLUSIVE)
		P.st->pages_owned++;
	stats_seq_end();
	P.local[page] = (uint8_t)((P.local[page] & ~LS_HOLD) | hold);
}

/* --- grants, invalidations: the two ends of the protocol ----------------- */

/* A grant for one of our requests arrived (or was made here). */
static void
on_grant(uint64_t page, int mode, int data, const uint8_t *bytes)
{
	uint64_t addr = page_addr(page, NULL);
	int hold = P.local[page] & LS_HOLD, kind;
	struct pend *pd;

	switch (data) {
	case PAGER_DATA_PAGE:
	case PAGER_DATA_ZERO:
		if (hold != PAGER_HOLD_NONE) {
			/* We thought we had it: the grant wins. */
			log_debug("page %llu: grant with data while holding",
				  (unsigned long long)page);
		}
		install(page, data == PAGER_DATA_PAGE ? bytes : zero_page,
			mode == PAGER_HOLD_EXCLUSIVE);
		break;
	default:
		if (mode == PAGER_HOLD_EXCLUSIVE)
			wp_range(addr, 0); /* also wakes */
		else
			wake(addr);
		break;
	}
	set_hold(page, mode);
	P.local[page] &= (uint8_t)~LS_PENDING;
	pd = pend_slot(page, 0);
	if (P.sync_page == page)
		P.sync_hit = 1;
	if (!pd)
		return;
	if (data == PAGER_DATA_ZERO)
		kind = PAGER_F_ZERO;
	else if (P.sync_page == page)
		kind = PAGER_F_LOCAL;
	else if (data == PAGER_DATA_KEEP && mode == PAGER_HOLD_EXCLUSIVE)
		kind = PAGER_F_UPGRADE;
	else if (mode == PAGER_HOLD_EXCLUSIVE)
		kind = PAGER_F_WRITE;
	else
		kind = PAGER_F_READ;
	P.st->faults[kind]++;
	stats_lat(now_ns() - pd->t0);
	stats_seq_begin();
	P.st->faults_in_flight--;
	stats_seq_end();
	pend_del(pd);
}

/* The home asks us to act on our copy of page. */
static void
on_inval(uint64_t page, int action, int want, int *had, uint8_t *data)
{
	int hold = P.local[page] & LS_HOLD;
	uint64_t addr = page_addr(page, NULL);

	P.st->invals_received++;
	*had = 0;
	if (hold == PAGER_HOLD_NONE)
		return;
	*had = 1;
	/* Stop writers before the bytes are read, so they are final. */
	if (action != PAGER_INV_FETCH && hold == PAGER_HOLD_EXCLUSIVE)
		wp_range(addr, 1);
	if (want)
		read_page(page, data);
	if (action == PAGER_INV_DROP) {
		punch(page);
		set_hold(page, PAGER_HOLD_NONE);
	} else if (action == PAGER_INV_DOWNGRADE) {
		set_hold(page, PAGER_HOLD_SHARED);
	}
}

static int
dir_inval_cb(void *ctx, uint32_t node, uint64_t page, int action, int want,
	     int *had, uint8_t *data)
{
	struct pager_msg m = { .page = page,
			       .a = (uint8_t)action,
			       .b = (uint8_t) !!want };
	uint8_t buf[WIRE_PG_MSG_SIZE];
	struct conn *c;

	(void)ctx;
	if (node == P.node) {
		on_inval(page, action, want, had, data);
		return 1;
	}
	c = fault_link(node);
	if (!c)
		pager_fail(AVM_EX_UNAVAILABLE, "node %u failed: no link", node);
	pager_msg_encode(WIRE_T_PG_INVAL, &m, buf, sizeof(buf));
	P.st->invals_sent++;
	return conn_send(c, WIRE_T_PG_INVAL, 0, page, buf, sizeof(buf), NULL,
			 0);
}

static void
dir_grant_cb(void *ctx, const struct dir_req *r, int mode, int data,
	     uint32_t version, const uint8_t *bytes)
{
	struct pager_msg m = { .page = r->page,
			       .a = (uint8_t)mode,
			       .b = (uint8_t)data,
			       .ver = version };
	uint8_t buf[WIRE_PG_MSG_SIZE];
	struct conn *c;

	(void)ctx;
	P.st->requests_served++;
	if (r->node == P.node) {
		on_grant(r->page, mode, data, bytes);
		return;
	}
	c = fault_link(r->node);
	if (!c)
		pager_fail(AVM_EX_UNAVAILABLE, "node %u failed: no link",
			   r->node);
	pager_msg_encode(WIRE_T_PG_GRANT, &m, buf, sizeof(buf));
	if (data == PAGER_DATA_PAGE)
		P.st->pages_sent++;
	conn_send(c, WIRE_T_PG_GRANT, WIRE_F_REPLY, r->id, buf, sizeof(buf),
		  bytes, data == PAGER_DATA_PAGE ? PAGER_PAGE_SIZE : 0);
}

/* The hot table: kept sorted by transfers, smallest last. */
static void
dir_transfer_cb(void *ctx, const struct dir_req *r, uint64_t count)
{
	struct pager_hot *h = P.st->hot, tmp;
	uint64_t gpa = 0;
	int i;

	(void)ctx;
	page_addr(r->page, &gpa);
	stats_seq_begin();
	for (i = 0; i < PAGER_STATS_HOT; i++)
		if (h[i].transfers && h[i].page == r->page)
			break;
	if (i == PAGER_STATS_HOT) {
		i = PAGER_STATS_HOT - 1;
		if (h[i].transfers > count) {
			stats_seq_end();
			return;
		}
		h[i].page = r->page;
	}
	h[i].transfers = count;
	h[i].gpa = gpa + r->off;
	h[i].last_node = r->node;
	for (; i > 0 && h[i].transfers > h[i - 1].transfers; i--) {
		tmp = h[i];
		h[i] = h[i - 1];
		h[i - 1] = tmp;
	}
	stats_seq_end();
}

int
fault_dir_init(void)
{
	static const struct dir_ops ops = {
		.inval = dir_inval_cb,
		.grant = dir_grant_cb,
		.transfer = dir_transfer_cb,
	};

	P.local = calloc(P.npages, 1);
	P.pend_mask = 8191;
	P.pend = malloc((P.pend_mask + 1) * sizeof(*P.pend));
	if (!P.local || !P.pend)
		return -ENOMEM;
	memset(P.pend, 0xff, (P.pend_mask + 1) * sizeof(*P.pend));
	return dir_init(&P.dir, P.home_first[P.node], P.home_pages[P.node],
			P.node, P.nodes, &ops);
}

/* --- faults and events ---------------------------------------------------- */

static void
on_fault(const struct uffd_msg *m)
{
	uint64_t addr = m->arg.pagefault.address, page, gpa;
	uint64_t flags = m->arg.pagefault.flags;
	int wp = !!(flags & UFFD_PAGEFAULT_FLAG_WP);
	int write = wp || (flags & UFFD_PAGEFAULT_FLAG_WRITE);
	int hold, rc;
	struct dir_req r;
	struct pend *pd;

	if (addr_page(addr, &page, &gpa) < 0) {
		log_warn("fault at 0x%llx outside guest RAM",
			 (unsigned long long)addr);
		return;
	}
	hold = P.local[page] & LS_HOLD;
	if (wp && hold == PAGER_HOLD_EXCLUSIVE) {
		wp_range(page_addr(page, NULL), 0);
		P.st->faults[PAGER_F_SPURIOUS]++;
		return;
	}
	if (!wp && hold != PAGER_HOLD_NONE) {
		wake(page_addr(page, NULL));
		P.st->faults[PAGER_F_SPURIOUS]++;
		return;
	}
	if (P.local[page] & LS_PENDING)
		return; /* the grant on its way wakes this one too */
	pd = pend_slot(page, 1);
	if (!pd)
		pager_fail(AVM_EX_SOFTWARE, "more than %u faults in flight",
			   P.pend_mask + 1);
	pd->page = page;
	pd->t0 = now_ns();
	pd->gpa = gpa;
	pd->access = write ? PAGER_ACC_WRITE : PAGER_ACC_READ;
	pd->wp = (uint8_t)wp;
	P.local[page] |= LS_PENDING;
	stats_seq_begin();
	P.st->faults_in_flight++;
	stats_seq_end();

	r = (struct dir_req){ .page = page,
			      .id = page,
			      .node = P.node,
			      .access = pd->access,
			      .have = (uint8_t)hold,
			      .off = (uint16_t)(gpa & (PAGER_PAGE_SIZE - 1)) };
	if (dir_homes(&P.dir, page)) {
		P.sync_page = page;
		rc = dir_request(&P.dir, &r);
		P.sync_page = UINT64_MAX;
		if (rc < 0)
			pager_fail(AVM_EX_SOFTWARE, "directory: %s",
				   strerror(-rc));
		return;
	} else {
		struct pager_msg q = {
			.page = page, .a = r.access, .b = r.have, .off = r.off
		};
		uint8_t buf[WIRE_PG_MSG_SIZE];
		uint32_t home = home_of(page);
		struct conn *c = fault_link(home);

		if (!c)
			pager_fail(AVM_EX_UNAVAILABLE,
				   "node %u failed: no link", home);
		pager_msg_encode(WIRE_T_PG_REQ, &q, buf, sizeof(buf));
		conn_send(c, WIRE_T_PG_REQ, 0, page, buf, sizeof(buf), NULL, 0);
	}
}

/* The client dropped [start, end) itself (MADV_REMOVE): the bytes are
 * gone; the home learns it from our next request's "have". */
static void
on_remove(uint64_t start, uint64_t end)
{
	uint64_t a, page, gpa;

	P.st->events_remove++;
	for (a = start & ~(uint64_t)(PAGER_PAGE_SIZE - 1); a < end;
	     a += PAGER_PAGE_SIZE) {
		if (addr_page(a, &page, &gpa) == 0)
			set_hold(page, PAGER_HOLD_NONE);
	}
}

static void
on_unmap(uint64_t start, uint64_t end)
{
	unsigned i;

	P.st->events_unmap++;
	for (i = 0; i < P.nslots; i++) {
		struct slotmap *s = &P.slot[i];
		uint64_t e = s->addr + (s->npages << PAGER_PAGE_SHIFT);

		if (s->mapped && start < e && s->addr < end) {
			s->mapped = 0;
			log_info("client unmapped guest RAM at gpa 0x%llx",
				 (unsigned long long)s->gpa);
		}
	}
}

static void
process_msg(const struct uffd_msg *m)
{
	switch (m->event) {
	case UFFD_EVENT_PAGEFAULT:
		on_fault(m);
		break;
	case UFFD_EVENT_REMOVE:
		on_remove(m->arg.remove.start, m->arg.remove.end);
		break;
	case UFFD_EVENT_UNMAP:
		on_unmap(m->arg.remove.start, m->arg.remove.end);
		break;
	default:
		log_warn("uffd event 0x%x ignored", m->event);
		break;
	}
}

void
fault_uffd_ready(void)
{
	struct uffd_msg m[32];
	ssize_t n;
	size_t k;

	for (;;) {
		while (backlog_len) {
			struct uffd_msg one = backlog[0];

			memmove(backlog, backlog + 1,
				--backlog_len * sizeof(*backlog));
			process_msg(&one);
		}
		n = read(P.uffd, m, sizeof(m));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0)
			client_gone("read uffd", n < 0 ? errno : EPIPE);
		for (k = 0; k < (size_t)n / sizeof(m[0]); k++)
			process_msg(&m[k]);
		if ((size_t)n < sizeof(m) && !backlog_len)
			return;
	}
}

/* --- frames from the fault link ------------------------------------------- */

void
fault_on_frame(struct conn *c, const struct wire_hdr *h, const uint8_t *p)
{
	uint8_t data[PAGER_PAGE_SIZE], buf[WIRE_PG_MSG_SIZE];
	struct pager_msg m;
	struct dir_req r;
	int rc, had;

	rc = pager_msg_decode(h->type, p, h->len, &m);
	if (rc < 0 || m.page >= P.npages)
		pager_fail(AVM_EX_UNAVAILABLE,
			   "node %u failed: malformed %s (page %llu)", c->node,
			   wire_type_name(h->type), (unsigned long long)m.page);
	switch (h->type) {
	case WIRE_T_PG_REQ:
		if (!dir_homes(&P.dir, m.page))
			pager_fail(AVM_EX_UNAVAILABLE,
				   "node %u failed: asks for page %llu, "
				   "which node %u is not home of",
				   c->node, (unsigned long long)m.page, P.node);
		r = (struct dir_req){ .page = m.page,
				      .id = h->id,
				      .node = c->node,
				      .access = m.a,
				      .have = m.b,
				      .off = m.off };
		rc = dir_request(&P.dir, &r);
		if (rc < 0)
			pager_fail(AVM_EX_SOFTWARE, "directory: %s",
				   strerror(-rc));
		break;
	case WIRE_T_PG_GRANT:
		if (!(P.local[m.page] & LS_PENDING) ||
		    home_of(m.page) != c->node)
			pager_fail(AVM_EX_UNAVAILABLE,
				   "node %u failed: grant of page %llu we "
				   "did not ask it for",
				   c->node, (unsigned long long)m.page);
		if (m.b == PAGER_DATA_PAGE)
			P.st->pages_received++;
		on_grant(m.page, m.a, m.b, p + WIRE_PG_MSG_SIZE);
		break;
	case WIRE_T_PG_INVAL:
		if (home_of(m.page) != c->node)
			pager_fail(AVM_EX_UNAVAILABLE,
				   "node %u failed: invalidates page %llu, "
				   "which it is not home of",
				   c->node, (unsigned long long)m.page);
		on_inval(m.page, m.a, m.b, &had, data);
		m = (struct pager_msg){
			.page = m.page,
			.a = (uint8_t)had,
			.b = (uint8_t)(had && m.b ? PAGER_DATA_PAGE
						  : PAGER_DATA_KEEP),
		};
		pager_msg_encode(WIRE_T_PG_INVAL_ACK, &m, buf, sizeof(buf));
		if (m.b == PAGER_DATA_PAGE)
			P.st->pages_sent++;
		conn_send(c, WIRE_T_PG_INVAL_ACK, WIRE_F_REPLY, h->id, buf,
			  sizeof(buf), data,
			  m.b == PAGER_DATA_PAGE ? PAGER_PAGE_SIZE : 0);
		break;
	case WIRE_T_PG_INVAL_ACK:
		if (m.b == PAGER_DATA_PAGE)
			P.st->pages_received++;
		rc = dir_ack(&P.dir, c->node, m.page, m.a,
			     m.b == PAGER_DATA_PAGE ? p + WIRE_PG_MSG_SIZE
						    : NULL);
		if (rc < 0)
			pager_fail(AVM_EX_UNAVAILABLE,
				   "node %u failed: unexpected answer for "
				   "page %llu: %s",
				   c->node, (unsigned long long)m.page,
				   strerror(-rc));
		break;
	}
}

/* --- bulk link ------------------------------------------------------------- */

#define STREAM_WINDOW 4

static void
stream_more(void)
{
	struct stream *s = &P.stream;
	struct pager_bulk b;
	uint8_t buf[WIRE_PG_MSG_SIZE];
	struct conn *c = P.peer[s->node].bulk;

	while (s->outstanding < STREAM_WINDOW && s->next < s->end) {
		b.first = s->next;
		b.count = (uint32_t)(s->end - s->next > WIRE_PG_BULK_PAGES
					     ? WIRE_PG_BULK_PAGES
					     : s->end - s->next);
		pager_bulk_encode(&b, buf, sizeof(buf));
		conn_send(c, WIRE_T_PG_BULK_REQ, 0, b.first, buf, sizeof(buf),
			  NULL, 0);
		s->next += b.count;
		s->outstanding++;
	}
}

static void
stream_end(int err)
{
	struct stream *s = &P.stream;
	uint8_t buf[WIRE_PG_MSG_SIZE];
	struct wire_error e;

	if (!s->tool)
		return;
	if (err) {
		wire_error_set(&e, wire_errcode_from_errno(err), "stream: %s",
			       strerror(err));
		uint8_t eb[WIRE_ERROR_MAX];
		int n = wire_error_encode(&e, eb, sizeof(eb));

		conn_send(s->tool, WIRE_T_PG_STREAM_DONE,
			  WIRE_F_REPLY | WIRE_F_ERROR, s->tool_id, eb,
			  (size_t)n, NULL, 0);
	} else {
		wire_put64(buf, s->bytes);
		wire_put64(buf + 8, now_ns() - s->t0);
		conn_send(s->tool, WIRE_T_PG_STREAM_DONE, WIRE_F_REPLY,
			  s->tool_id, buf, sizeof(buf), NULL, 0);
	}
	s->tool = NULL;
}

int
stream_start(struct conn *tool, uint64_t id, const struct pager_stream *s)
{
	if (P.stream.tool)
		return -EBUSY;
	if (s->node >= P.nodes || s->node == P.node || !P.peer[s->node].bulk)
		return -EINVAL;
	if (s->first >= P.npages || s->count > P.npages - s->first)
		return -ERANGE;
	P.stream = (struct stream){ .tool = tool,
				    .tool_id = id,
				    .node = s->node,
				    .next = s->first,
				    .end = s->first + s->count,
				    .t0 = now_ns() };
	stream_more();
	return 0;
}

void
bulk_on_frame(struct conn *c, const struct wire_hdr *h, const uint8_t *p)
{
	static uint8_t out[WIRE_PG_BULK_PAGES * PAGER_PAGE_SIZE];
	struct pager_bulk b;
	uint8_t buf[WIRE_PG_MSG_SIZE];
	ssize_t n;

	if (pager_bulk_decode(h->type, p, h->len, &b) < 0 ||
	    b.first >= P.npages || b.count > P.npages - b.first)
		pager_fail(AVM_EX_UNAVAILABLE,
			   "node %u failed: malformed %s on the bulk link",
			   c->node, wire_type_name(h->type));
	if (h->type == WIRE_T_PG_BULK_REQ) {
		n = pread(P.memfd, out, (size_t)b.count * PAGER_PAGE_SIZE,
			  (off_t)(b.first << PAGER_PAGE_SHIFT));
		if (n != (ssize_t)b.count * PAGER_PAGE_SIZE)
			pager_fail(AVM_EX_OSERR, "read the memfd: %s",
				   n < 0 ? strerror(errno) : "short read");
		pager_bulk_encode(&b, buf, sizeof(buf));
		conn_send(c, WIRE_T_PG_BULK_DATA, WIRE_F_REPLY, h->id, buf,
			  sizeof(buf), out, (size_t)n);
		return;
	}
	if (!P.stream.tool || c->node != P.stream.node || !P.stream.outstanding)
		return; /* the tool went away: drop it */
	P.stream.outstanding--;
	P.stream.bytes += (uint64_t)b.count * PAGER_PAGE_SIZE;
	if (P.stream.next >= P.stream.end && !P.stream.outstanding)
		stream_end(0);
	else
		stream_more();
}

/* --- attach and detach ------------------------------------------------------ */

int
fault_attach(const struct pager_layout *l, int memfd, int uffd, char *why,
	     size_t len)
{
	struct stat st;
	unsigned i;
	int fl;

	if (l->mem_bytes != P.mem_bytes) {
		snprintf(why, len,
			 "guest RAM is %llu bytes, the pager "
			 "was started for %llu",
			 (unsigned long long)l->mem_bytes,
			 (unsigned long long)P.mem_bytes);
		return -EINVAL;
	}
	if (fstat(memfd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    (uint64_t)st.st_size != P.mem_bytes) {
		snprintf(why, len, "the memfd is not a file of %llu bytes",
			 (unsigned long long)P.mem_bytes);
		return -EINVAL;
	}
	fl = fcntl(uffd, F_GETFL);
	if (fl < 0 || fcntl(uffd, F_SETFL, fl | O_NONBLOCK) < 0) {
		snprintf(why, len, "the uffd: %s", strerror(errno));
		return -EINVAL;
	}
	for (i = 0; i < l->nslots; i++) {
		P.slot[i] = (struct slotmap){
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
		      (off_t)P.mem_bytes) < 0) {
		snprintf(why, len, "punch the memfd: %s", strerror(errno));
		return -EINVAL;
	}
	P.nslots = l->nslots;
	P.memfd = memfd;
	P.uffd = uffd;
	return 0;
}

void
fault_detach(void)
{
	P.detached = 1;
}
