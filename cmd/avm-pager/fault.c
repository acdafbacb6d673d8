/* The coherence protocol of one node; see fault.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "avm/log.h"
#include "avm/util.h"
#include "fail.h"
#include "fault.h"

static uint8_t zero_page[PAGER_PAGE_SIZE] __attribute__((aligned(4096)));

static void request(struct fault *f, const struct dir_req *r);

/* --- pending requests (one per page at most) ------------------------------ */

static struct pend *
pend_slot(struct fault *f, uint64_t page, int create)
{
	uint32_t i =
		(uint32_t)(page * 0x9e3779b97f4a7c15ull >> 32) & f->pend_mask;
	uint32_t n;

	for (n = 0; n <= f->pend_mask; n++, i = (i + 1) & f->pend_mask) {
		if (f->pend[i].page == page)
			return &f->pend[i];
		if (f->pend[i].page == UINT64_MAX)
			return create ? &f->pend[i] : NULL;
	}
	return NULL;
}

/* Removal in a linear-probing table: re-insert the rest of the run. */
static void
pend_del(struct fault *f, struct pend *e)
{
	uint32_t i = (uint32_t)(e - f->pend), j;
	struct pend tmp;

	f->pend[i].page = UINT64_MAX;
	for (j = (i + 1) & f->pend_mask; f->pend[j].page != UINT64_MAX;
	     j = (j + 1) & f->pend_mask) {
		tmp = f->pend[j];
		f->pend[j].page = UINT64_MAX;
		*pend_slot(f, tmp.page, 1) = tmp;
	}
}

/* --- local page states -------------------------------------------------- */

static void
set_hold(struct fault *f, uint64_t page, int hold)
{
	int old = f->local[page] & LS_HOLD;

	if (old == hold)
		return;
	stats_seq_begin(f->st);
	if (old == PAGER_HOLD_SHARED)
		f->st->pages_shared--;
	if (old == PAGER_HOLD_EXCLUSIVE)
		f->st->pages_owned--;
	if (hold == PAGER_HOLD_SHARED)
		f->st->pages_shared++;
	if (hold == PAGER_HOLD_EXCLUSIVE)
		f->st->pages_owned++;
	stats_seq_end(f->st);
	f->local[page] = (uint8_t)((f->local[page] & ~LS_HOLD) | hold);
}

/* --- grants, invalidations: the two ends of the protocol ----------------- */

/* A grant for one of our requests arrived (or was made here). */
static void
on_grant(struct fault *f, uint64_t page, int mode, int data,
	 const uint8_t *bytes)
{
	uint64_t addr = mem_page_addr(f->mem, page, NULL);
	int hold = f->local[page] & LS_HOLD, kind;
	struct pend *pd;

	switch (data) {
	case PAGER_DATA_PAGE:
	case PAGER_DATA_ZERO:
		if (hold != PAGER_HOLD_NONE) {
			/* We thought we had it: the grant wins. */
			log_debug("page %llu: grant with data while holding",
				  (unsigned long long)page);
		}
		mem_install(f->mem, page,
			    data == PAGER_DATA_PAGE ? bytes : zero_page,
			    mode == PAGER_HOLD_EXCLUSIVE);
		break;
	default:
		if (mode == PAGER_HOLD_EXCLUSIVE)
			mem_wp(f->mem, addr, 0); /* also wakes */
		else
			mem_wake(f->mem, addr);
		break;
	}
	set_hold(f, page, mode);
	f->local[page] &= (uint8_t)~LS_PENDING;
	if (f->local[page] & LS_SAVE) {
		f->local[page] &= (uint8_t)~LS_SAVE;
		f->save_left--;
	}
	pd = pend_slot(f, page, 0);
	if (f->sync_page == page)
		f->sync_hit = 1;
	if (!pd)
		return;
	if (data == PAGER_DATA_ZERO)
		kind = PAGER_F_ZERO;
	else if (f->sync_page == page)
		kind = PAGER_F_LOCAL;
	else if (data == PAGER_DATA_KEEP && mode == PAGER_HOLD_EXCLUSIVE)
		kind = PAGER_F_UPGRADE;
	else if (mode == PAGER_HOLD_EXCLUSIVE)
		kind = PAGER_F_WRITE;
	else
		kind = PAGER_F_READ;
	f->st->faults[kind]++;
	stats_lat(f->st, now_ns() - pd->t0);
	stats_seq_begin(f->st);
	f->st->faults_in_flight--;
	stats_seq_end(f->st);
	pend_del(f, pd);
}

/* The home asks us to act on our copy of page. */
static void
on_inval(struct fault *f, uint64_t page, int action, int want, int *had,
	 uint8_t *data)
{
	int hold = f->local[page] & LS_HOLD;
	uint64_t addr = mem_page_addr(f->mem, page, NULL);

	f->st->invals_received++;
	*had = 0;
	if (hold == PAGER_HOLD_NONE)
		return;
	*had = 1;
	/* Stop writers before the bytes are read, so they are final. */
	if (action != PAGER_INV_FETCH && hold == PAGER_HOLD_EXCLUSIVE)
		mem_wp(f->mem, addr, 1);
	if (want)
		mem_read(f->mem, page, data);
	if (action == PAGER_INV_DROP) {
		mem_punch(f->mem, page);
		set_hold(f, page, PAGER_HOLD_NONE);
	} else if (action == PAGER_INV_DOWNGRADE) {
		set_hold(f, page, PAGER_HOLD_SHARED);
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
	struct fault *f = ctx;
	struct conn *c;

	if (node == f->cfg->node) {
		on_inval(f, page, action, want, had, data);
		return 1;
	}
	c = net_fault_link(f->net, node);
	if (!c)
		pager_fail(AVM_EX_UNAVAILABLE, "node %u failed: no link", node);
	pager_msg_encode(WIRE_T_PG_INVAL, &m, buf, sizeof(buf));
	f->st->invals_sent++;
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
	struct fault *f = ctx;
	struct conn *c;

	f->st->requests_served++;
	if (r->node == f->cfg->node) {
		on_grant(f, r->page, mode, data, bytes);
		return;
	}
	c = net_fault_link(f->net, r->node);
	if (!c)
		pager_fail(AVM_EX_UNAVAILABLE, "node %u failed: no link",
			   r->node);
	pager_msg_encode(WIRE_T_PG_GRANT, &m, buf, sizeof(buf));
	if (data == PAGER_DATA_PAGE)
		f->st->pages_sent++;
	conn_send(c, WIRE_T_PG_GRANT, WIRE_F_REPLY, r->id, buf, sizeof(buf),
		  bytes, data == PAGER_DATA_PAGE ? PAGER_PAGE_SIZE : 0);
}

/* The hot table: kept sorted by transfers, smallest last. */
static void
dir_transfer_cb(void *ctx, const struct dir_req *r, uint64_t count)
{
	struct fault *f = ctx;
	struct pager_hot *h = f->st->hot, tmp;
	uint64_t gpa = 0;
	int i;

	mem_page_addr(f->mem, r->page, &gpa);
	stats_seq_begin(f->st);
	for (i = 0; i < PAGER_STATS_HOT; i++)
		if (h[i].transfers && h[i].page == r->page)
			break;
	if (i == PAGER_STATS_HOT) {
		i = PAGER_STATS_HOT - 1;
		if (h[i].transfers > count) {
			stats_seq_end(f->st);
			return;
		}
		h[i].page = r->page;
		h[i].nodes = 0;
	}
	h[i].transfers = count;
	h[i].gpa = gpa + r->off;
	h[i].nodes |= 1ull << r->node;
	h[i].last_node = r->node;
	h[i].last_tid = r->tid;
	for (; i > 0 && h[i].transfers > h[i - 1].transfers; i--) {
		tmp = h[i];
		h[i] = h[i - 1];
		h[i - 1] = tmp;
	}
	stats_seq_end(f->st);
}

/*
 * A page nobody holds is about to be granted: on a restore, the first
 * request for a home page (from any node, before or after our client
 * attached) gets the snapshot's bytes; a page taken before is zero (its
 * holders all dropped it since).
 */
static int
dir_fill_cb(void *ctx, uint64_t page, uint8_t *data)
{
	struct fault *f = ctx;

	if (!f->restore || !restore_untaken(f->restore, page))
		return 0;
	return restore_take(f->restore, page, data, RESTORE_FAULT);
}

int
fault_init(struct fault *f, const struct pager_cfg *cfg, struct pager_stats *st,
	   struct mem *mem, struct net *net, struct restore *restore)
{
	struct dir_ops ops = {
		.inval = dir_inval_cb,
		.grant = dir_grant_cb,
		.transfer = dir_transfer_cb,
		.fill = dir_fill_cb,
		.ctx = f,
	};

	memset(f, 0, sizeof(*f));
	f->cfg = cfg;
	f->st = st;
	f->mem = mem;
	f->net = net;
	f->restore = restore;
	f->sync_page = UINT64_MAX;
	f->local = calloc(cfg->npages, 1);
	f->defer_tail = &f->defer_head;
	f->pend_mask = 8191;
	f->pend = malloc((f->pend_mask + 1) * sizeof(*f->pend));
	if (!f->local || !f->pend)
		return -ENOMEM;
	memset(f->pend, 0xff, (f->pend_mask + 1) * sizeof(*f->pend));
	return dir_init(&f->dir, cfg->home_first[cfg->node],
			cfg->home_pages[cfg->node], cfg->node, cfg->nodes,
			&ops);
}

/* --- the restore's background loader ---------------------------------------- */

/*
 * Why this cannot race the protocol: it runs in the event loop's one
 * thread, between events, as does everything that reads or changes the
 * directory, the local states and the memfd.  It touches only untaken
 * pages, and a page is taken by the first request for it (dir_fill_cb,
 * inside dir_request, before any grant), so an untaken page has never
 * been granted: nobody holds it (no other node, not our client), no
 * request runs or waits on it, its directory entry is INVALID and the
 * memfd has a hole there.  The loader fills that hole with UFFDIO_COPY
 * (write-protected: a shared copy; it fails with EEXIST rather than
 * overwrite a page that is there) where the client maps the page, or
 * pwrite where it does not, and tells the directory that the home holds
 * it (dir_home_copy).  From then on the page is the protocol's, like any
 * page the home shares: a remote read fetches the home's copy, a write
 * anywhere invalidates it.  A fault of our client on the page that is
 * still unread in the uffd finds the page held shared and is a wake
 * (a write then faults again, write-protected, and upgrades).
 */
int
fault_restore_step(struct fault *f, unsigned max)
{
	static uint8_t buf[PAGER_PAGE_SIZE] __attribute__((aligned(4096)));
	const struct dir_entry *e;
	uint64_t page;
	unsigned i;

	for (i = 0; i < max; i++) {
		page = restore_next(f->restore);
		if (page == UINT64_MAX)
			return 0;
		e = dir_entry_get(&f->dir, page);
		if (!e || e->state != DIR_INVALID || e->copyset ||
		    f->local[page] != 0)
			pager_fail(AVM_EX_SOFTWARE,
				   "restore: page %llu is in use before its "
				   "snapshot bytes were taken",
				   (unsigned long long)page);
		if (restore_take(f->restore, page, buf, RESTORE_BACKGROUND) ==
		    0)
			continue; /* zero: the directory's INVALID says it */
		mem_install(f->mem, page, buf, 0);
		if (dir_home_copy(&f->dir, page) < 0)
			pager_fail(AVM_EX_SOFTWARE,
				   "restore: page %llu: the directory refused "
				   "the home's copy",
				   (unsigned long long)page);
		set_hold(f, page, PAGER_HOLD_SHARED);
	}
	return !restore_done(f->restore);
}

/* --- a save's fetch ------------------------------------------------------------ */

void
fault_save_start(struct fault *f)
{
	f->save_next = f->dir.first;
	f->save_fetched = 0;
	f->save_pass = 0;
	f->save_hold = 1;
}

void
fault_save_end(struct fault *f)
{
	struct defer *d;

	f->save_hold = 0;
	while ((d = f->defer_head)) {
		f->defer_head = d->next;
		request(f, &d->r);
		free(d);
	}
	f->defer_tail = &f->defer_head;
}

int
fault_save_more(struct fault *f, uint64_t window)
{
	uint64_t end = f->dir.first + f->dir.npages, page;
	const struct dir_entry *e;
	struct dir_req r;
	int rc;

	for (; f->save_next < end && f->save_left < window; f->save_next++) {
		page = f->save_next;
		if ((f->local[page] & LS_HOLD) != PAGER_HOLD_NONE)
			continue;
		e = dir_entry_get(&f->dir, page);
		/* INVALID and idle: zero, unless a snapshot's bytes wait. */
		if (e->state == DIR_INVALID &&
		    !(f->restore && restore_untaken(f->restore, page)))
			continue;
		/* (a fault of our client on it may be out, or held back:
		 * ours is asked for all the same) */
		f->local[page] |= LS_SAVE;
		f->save_left++;
		f->save_fetched++;
		f->save_pass++;
		r = (struct dir_req){ .page = page,
				      .id = page,
				      .node = f->cfg->node,
				      .access = PAGER_ACC_READ,
				      .have = PAGER_HOLD_NONE };
		rc = dir_request(&f->dir, &r);
		if (rc < 0)
			pager_fail(AVM_EX_SOFTWARE, "directory: %s",
				   strerror(-rc));
	}
	if (f->save_next < end || f->save_left || f->dir.busy)
		return 0;
	/* A pass that asked for nothing, every request done: the home
	 * holds the bytes of every page that is not zero, and nothing can
	 * change that while requests are held back.  Else look again: a
	 * request that ran when the pass went by may have taken a page. */
	if (!f->save_pass)
		return 1;
	f->save_next = f->dir.first;
	f->save_pass = 0;
	return 0;
}

/* --- requests, held back while a save runs ----------------------------------- */

/*
 * A request for a page this node is home of (from a peer, or our
 * client's fault) runs now, or, while a save of the home's memory runs
 * (fault_save_start to fault_save_end), waits in arrival order: nothing
 * may take a page from the home then (an exclusive grant elsewhere
 * would punch the home's copy out before it is written).  The save's
 * own requests go straight to the directory.
 */
static void
request(struct fault *f, const struct dir_req *r)
{
	struct defer *d;
	int rc;

	if (!f->save_hold) {
		rc = dir_request(&f->dir, r);
		if (rc < 0)
			pager_fail(AVM_EX_SOFTWARE, "directory: %s",
				   strerror(-rc));
		return;
	}
	d = malloc(sizeof(*d));
	if (!d)
		pager_fail(AVM_EX_OSERR, "out of memory");
	d->r = *r;
	d->next = NULL;
	*f->defer_tail = d;
	f->defer_tail = &d->next;
	f->st->save_held++;
}

/* --- first touches of never-touched home memory ------------------------------ */

/* A home page the home may take as its own, zero: see zero_block(). */
static int
claimable(struct fault *f, uint64_t page)
{
	const struct dir_entry *e = dir_entry_get(&f->dir, page);

	return e && e->state == DIR_INVALID && !e->copyset &&
	       f->local[page] == 0 &&
	       !(f->restore && restore_untaken(f->restore, page));
}

/*
 * A fault on a home page that nobody ever held (zero, no snapshot bytes
 * waiting) takes every such page of its aligned block of --zero-block
 * pages (2 MiB by default) at once: the directory says the home holds
 * them exclusive (dir_home_claim), and one UFFDIO_ZEROPAGE a run maps
 * them writable, so the next first touches there cost no fault at all.
 * Measured (bench/pager.sh, the client's "touch": every page of a 256
 * MiB home written once, 2 cores, nested): 42 us a page with one page a
 * fault, 7.8 us with 16, 6.7 with 64, 6.0 with 512, where a memfd that
 * no pager watches costs 11-13 us a page of the kernel's own faults.
 * Why a block on the fault and not MADV_POPULATE_WRITE of the whole home
 * ahead of the guest: populating ahead commits every home page whether
 * the guest ever touches it or not (and a restored VM's pages would race
 * its loader); the block commits at most 2 MiB around memory in use, and
 * its first touch already costs less than the kernel's.  page must be
 * claimable().
 */
static void
zero_block(struct fault *f, uint64_t page)
{
	uint64_t bs = f->cfg->zero_block, first, end, p, run, lim;
	uint64_t hf = f->dir.first, he = f->dir.first + f->dir.npages;

	first = page - page % bs;
	end = first + bs;
	if (first < hf)
		first = hf;
	if (end > he)
		end = he;
	for (p = first; p < end;) {
		if (!claimable(f, p)) {
			p++;
			continue;
		}
		/* A run: claimable pages, one slot (consecutive addresses). */
		run = p;
		lim = mem_slot_end(f->mem, p);
		do {
			if (dir_home_claim(&f->dir, p) < 0)
				pager_fail(AVM_EX_SOFTWARE,
					   "page %llu: the directory refused "
					   "the home's claim",
					   (unsigned long long)p);
			set_hold(f, p, PAGER_HOLD_EXCLUSIVE);
			f->st->zero_block_pages++;
			p++;
		} while (p < end && p < lim && claimable(f, p));
		mem_zero_run(f->mem, run, p - run);
	}
	mem_wake(f->mem, mem_page_addr(f->mem, page, NULL));
}

/* --- faults ---------------------------------------------------------------- */

static void
on_fault(void *ctx, uint64_t addr, uint64_t flags, uint32_t tid)
{
	struct fault *f = ctx;
	uint64_t page, gpa;
	int wp = !!(flags & UFFD_PAGEFAULT_FLAG_WP);
	int write = wp || (flags & UFFD_PAGEFAULT_FLAG_WRITE);
	int hold, homed;
	struct dir_req r;
	struct pend *pd;

	if (mem_addr_page(f->mem, addr, &page, &gpa) < 0) {
		log_warn("fault at 0x%llx outside guest RAM",
			 (unsigned long long)addr);
		return;
	}
	hold = f->local[page] & LS_HOLD;
	if (wp && hold == PAGER_HOLD_EXCLUSIVE) {
		mem_wp(f->mem, mem_page_addr(f->mem, page, NULL), 0);
		f->st->faults[PAGER_F_SPURIOUS]++;
		return;
	}
	if (!wp && hold != PAGER_HOLD_NONE) {
		mem_wake(f->mem, mem_page_addr(f->mem, page, NULL));
		f->st->faults[PAGER_F_SPURIOUS]++;
		return;
	}
	if (f->local[page] & LS_PENDING)
		return; /* the grant on its way wakes this one too */
	homed = dir_homes(&f->dir, page);
	if (homed && f->cfg->zero_block > 1 && claimable(f, page)) {
		uint64_t t0 = now_ns();

		zero_block(f, page);
		f->st->faults[PAGER_F_ZERO]++;
		stats_lat(f->st, now_ns() - t0);
		return;
	}
	pd = pend_slot(f, page, 1);
	if (!pd)
		pager_fail(AVM_EX_SOFTWARE, "more than %u faults in flight",
			   f->pend_mask + 1);
	pd->page = page;
	pd->t0 = now_ns();
	pd->gpa = gpa;
	pd->access = write ? PAGER_ACC_WRITE : PAGER_ACC_READ;
	pd->wp = (uint8_t)wp;
	f->local[page] |= LS_PENDING;
	stats_seq_begin(f->st);
	f->st->faults_in_flight++;
	stats_seq_end(f->st);

	r = (struct dir_req){ .page = page,
			      .id = page,
			      .node = f->cfg->node,
			      .access = pd->access,
			      .have = (uint8_t)hold,
			      .off = (uint16_t)(gpa & (PAGER_PAGE_SIZE - 1)),
			      .tid = tid };
	if (homed) {
		f->sync_page = page;
		request(f, &r);
		f->sync_page = UINT64_MAX;
		return;
	} else {
		struct pager_msg q = { .page = page,
				       .a = r.access,
				       .b = r.have,
				       .off = r.off,
				       .ver = tid };
		uint8_t buf[WIRE_PG_MSG_SIZE];
		uint32_t home = cfg_home_of(f->cfg, page);
		struct conn *c = net_fault_link(f->net, home);

		if (!c)
			pager_fail(AVM_EX_UNAVAILABLE,
				   "node %u failed: no link", home);
		pager_msg_encode(WIRE_T_PG_REQ, &q, buf, sizeof(buf));
		conn_send(c, WIRE_T_PG_REQ, 0, page, buf, sizeof(buf), NULL, 0);
	}
}

/* The client dropped a page itself: the bytes are gone. */
static void
on_removed(void *ctx, uint64_t page)
{
	set_hold(ctx, page, PAGER_HOLD_NONE);
}

const struct mem_ops *
fault_mem_ops(void)
{
	static const struct mem_ops ops = {
		.fault = on_fault,
		.removed = on_removed,
	};

	return &ops;
}

/* --- read-ahead ---------------------------------------------------------------- */

/* How far a stride may reach: farther, misses are not a trend. */
#define RA_STRIDE_MAX 16
/* Read-ahead waits while the link has this much queued already. */
#define RA_BACKLOG_MAX (1u << 20)
/* The first window, in pages; it doubles up to --prefetch. */
#define RA_WINDOW_FIRST 4

/*
 * The run of copies being gathered for one PG_PREFETCH: consecutive
 * pages in one slot, so that the home's exclusive copies among them are
 * write-protected with one ioctl and all are read with one pread.
 */
struct ra_run {
	struct conn *c;
	uint64_t first, lim; /* lim: mem_slot_end(first) */
	uint32_t count;
	int wp; /* some were exclusive here: write-protect the run */
	uint8_t data[WIRE_PG_BULK_PAGES * PAGER_PAGE_SIZE];
};

static void
ra_flush(struct fault *f, struct ra_run *run)
{
	struct pager_bulk b = { run->first, run->count };
	uint8_t buf[WIRE_PG_MSG_SIZE];

	if (!run->count)
		return;
	/* Writers stopped before the bytes are read, so they are final
	 * (the run's shared pages are write-protected already). */
	if (run->wp)
		mem_wp_range(f->mem, mem_page_addr(f->mem, run->first, NULL),
			     run->count, 1);
	mem_read_pages(f->mem, run->first, run->count, run->data);
	pager_bulk_encode(&b, buf, sizeof(buf));
	conn_send(run->c, WIRE_T_PG_PREFETCH, 0, 0, buf, sizeof(buf), run->data,
		  (size_t)run->count * PAGER_PAGE_SIZE);
	f->st->pages_sent += run->count;
	f->st->prefetch_sent += run->count;
	run->count = 0;
	run->wp = 0;
}

/* Page q into the run (sent first when q does not follow on). */
static void
ra_add(struct fault *f, struct ra_run *run, uint64_t q, int was_excl)
{
	if (run->count && (q != run->first + run->count ||
			   run->count == WIRE_PG_BULK_PAGES || q >= run->lim))
		ra_flush(f, run);
	if (!run->count) {
		run->first = q;
		run->lim = mem_slot_end(f->mem, q);
	}
	if (was_excl) { /* ours: shared from now on */
		set_hold(f, q, PAGER_HOLD_SHARED);
		run->wp = 1;
	}
	run->count++;
}

/*
 * Node n missed page (read, homed here, its request already running).
 * When its misses keep one stride (a sequential or strided reader, the
 * majority trend of Leap reduced to "the last three agree"), the home
 * sends it copies of the next pages along the stride that the home
 * holds and the directory lets go (dir_prefetch: never a page another
 * node holds exclusive, being written there), each one PG_PREFETCH on
 * the fault link, in order before any later grant or invalidation of
 * those pages.  A miss right past the copies sent (the reader used them
 * up) or on the stride doubles the window, up to --prefetch pages; any
 * other miss starts over, so a reader that stops following the trend
 * stops getting copies.  The copies a reader does not use are the cost:
 * 4 KiB each on the link, and invalidations of them later.
 */
static void
readahead(struct fault *f, uint32_t n, uint64_t page)
{
	static struct ra_run run;
	struct ra *r = &f->ra[n];
	int64_t d = (int64_t)(page - r->last);
	uint64_t max = f->cfg->prefetch, from, q, k, end;
	int rc;

	if (!max)
		return;
	if (r->d && (d == r->d || (int64_t)(page - r->ahead) == r->d)) {
		r->streak++;
	} else {
		r->streak = 0;
		r->window = 0;
		r->d = d >= -RA_STRIDE_MAX && d <= RA_STRIDE_MAX ? d : 0;
		r->ahead = page;
	}
	r->last = page;
	if (r->streak < 2 || !r->d)
		return;
	r->window = r->window ? r->window * 2 : RA_WINDOW_FIRST;
	if (r->window > max)
		r->window = max;
	from = page;
	if ((r->d > 0 && r->ahead > page) || (r->d < 0 && r->ahead < page))
		from = r->ahead;
	run.c = net_fault_link(f->net, n);
	run.count = 0;
	/* Copies go behind what waits for the link already: none while it
	 * is backed up (the reader's misses would wait behind them, and
	 * two nodes reading each other could both stop reading, fault.h). */
	if (run.c &&
	    (run.c->stalled || link_backlog(run.c->l) > RA_BACKLOG_MAX))
		return;
	end = f->dir.first + f->dir.npages;
	for (k = 1; run.c && k <= r->window; k++) {
		q = from + (uint64_t)((int64_t)k * r->d);
		if (q < f->dir.first || q >= end)
			break;
		r->ahead = q;
		if ((f->local[q] & LS_HOLD) == PAGER_HOLD_NONE)
			continue; /* the home's copy is not there */
		rc = dir_prefetch(&f->dir, q, n);
		if (rc > 0)
			ra_add(f, &run, q, rc == 2);
	}
	if (run.c)
		ra_flush(f, &run);
}

/* Read-ahead copies of count pages from first's home: each ours where
 * we hold nothing, runs of those installed with one ioctl. */
static void
on_prefetch(struct fault *f, uint64_t first, uint32_t count,
	    const uint8_t *bytes)
{
	uint64_t p = first, end = first + count, run, lim;

	f->st->pages_received += count;
	while (p < end) {
		if ((f->local[p] & LS_HOLD) != PAGER_HOLD_NONE) {
			f->st->prefetch_dropped++;
			p++;
			continue;
		}
		/* A fault of ours on one waits for its grant (LS_PENDING
		 * stays), which comes after this on the link; the copy
		 * wakes it now.  A run stays in one slot. */
		run = p;
		lim = mem_slot_end(f->mem, p);
		do {
			set_hold(f, p, PAGER_HOLD_SHARED);
			p++;
		} while (p < end && p < lim &&
			 (f->local[p] & LS_HOLD) == PAGER_HOLD_NONE);
		mem_install_run(f->mem, run, p - run,
				bytes + ((run - first) << PAGER_PAGE_SHIFT));
		f->st->prefetch_installed += p - run;
	}
}

/* --- frames from the fault link ------------------------------------------- */

void
fault_on_frame(struct fault *f, struct conn *c, const struct wire_hdr *h,
	       const uint8_t *p)
{
	uint8_t data[PAGER_PAGE_SIZE], buf[WIRE_PG_MSG_SIZE];
	struct pager_msg m;
	struct pager_bulk b;
	struct dir_req r;
	int rc, had;

	if (h->type == WIRE_T_PG_PREFETCH) {
		rc = pager_bulk_decode(h->type, p, h->len, &b);
		if (rc < 0 || b.first >= f->cfg->npages ||
		    b.count > f->cfg->npages - b.first ||
		    cfg_home_of(f->cfg, b.first) != c->node ||
		    cfg_home_of(f->cfg, b.first + b.count - 1) != c->node)
			pager_fail(AVM_EX_UNAVAILABLE,
				   "node %u failed: malformed PG_PREFETCH, or "
				   "copies of pages it is not home of",
				   c->node);
		on_prefetch(f, b.first, b.count, p + WIRE_PG_MSG_SIZE);
		return;
	}
	rc = pager_msg_decode(h->type, p, h->len, &m);
	if (rc < 0 || m.page >= f->cfg->npages)
		pager_fail(AVM_EX_UNAVAILABLE,
			   "node %u failed: malformed %s (page %llu)", c->node,
			   wire_type_name(h->type), (unsigned long long)m.page);
	switch (h->type) {
	case WIRE_T_PG_REQ:
		if (!dir_homes(&f->dir, m.page))
			pager_fail(AVM_EX_UNAVAILABLE,
				   "node %u failed: asks for page %llu, "
				   "which node %u is not home of",
				   c->node, (unsigned long long)m.page,
				   f->cfg->node);
		r = (struct dir_req){ .page = m.page,
				      .id = h->id,
				      .node = c->node,
				      .access = m.a,
				      .have = m.b,
				      .off = m.off,
				      .tid = m.ver };
		request(f, &r);
		if (m.a == PAGER_ACC_READ && !f->save_hold)
			readahead(f, c->node, m.page);
		break;
	case WIRE_T_PG_GRANT:
		if (!(f->local[m.page] & LS_PENDING) ||
		    cfg_home_of(f->cfg, m.page) != c->node)
			pager_fail(AVM_EX_UNAVAILABLE,
				   "node %u failed: grant of page %llu we "
				   "did not ask it for",
				   c->node, (unsigned long long)m.page);
		if (m.b == PAGER_DATA_PAGE)
			f->st->pages_received++;
		on_grant(f, m.page, m.a, m.b, p + WIRE_PG_MSG_SIZE);
		break;
	case WIRE_T_PG_INVAL:
		if (cfg_home_of(f->cfg, m.page) != c->node)
			pager_fail(AVM_EX_UNAVAILABLE,
				   "node %u failed: invalidates page %llu, "
				   "which it is not home of",
				   c->node, (unsigned long long)m.page);
		on_inval(f, m.page, m.a, m.b, &had, data);
		m = (struct pager_msg){
			.page = m.page,
			.a = (uint8_t)had,
			.b = (uint8_t)(had && m.b ? PAGER_DATA_PAGE
						  : PAGER_DATA_KEEP),
		};
		pager_msg_encode(WIRE_T_PG_INVAL_ACK, &m, buf, sizeof(buf));
		if (m.b == PAGER_DATA_PAGE)
			f->st->pages_sent++;
		conn_send(c, WIRE_T_PG_INVAL_ACK, WIRE_F_REPLY, h->id, buf,
			  sizeof(buf), data,
			  m.b == PAGER_DATA_PAGE ? PAGER_PAGE_SIZE : 0);
		break;
	case WIRE_T_PG_INVAL_ACK:
		if (m.b == PAGER_DATA_PAGE)
			f->st->pages_received++;
		rc = dir_ack(&f->dir, c->node, m.page, m.a,
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
