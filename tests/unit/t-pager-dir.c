/*
 * Unit tests of avm-pager's home directory (cmd/avm-pager/dir.c, built
 * in here): fixed scenarios, then a random simulation of N nodes whose
 * copies follow the directory's grants and invalidations, checking after
 * every step: one writer or many readers, every reader sees the last
 * value written, the directory's view matches the copies.  The same
 * for a restore: pages start from a snapshot's bytes (dir_ops.fill), and
 * the home takes some of them itself as its background loader does
 * (dir_home_copy).
 */
#include <stdlib.h>
#include <string.h>

#include "../../cmd/avm-pager/dir.c"
#include "tap.h"

#define NODES 4
#define PAGES 3
#define HOME 1

struct copy {
	int hold;     /* enum pager_hold */
	uint64_t val; /* the page's first 8 bytes here */
	int pending;  /* a request is out */
	int want;     /* its access */
};

static struct copy cp[NODES][PAGES];
static uint64_t last[PAGES]; /* the value of the last write */
static int errors, grants, invals;

/*
 * Invalidations to remote nodes wait in one FIFO per node, and so do
 * read-ahead copies (dir_prefetch): a link carries both, in order.
 */
struct inv {
	uint64_t page;
	int action, want;
	int prefetch; /* a read-ahead copy of val, not an invalidation */
	uint64_t val;
};
static struct inv q[NODES][64];
static int qn[NODES];

static void
apply_inval(uint32_t node, uint64_t page, int action, int want, int *had,
	    uint8_t *data)
{
	struct copy *c = &cp[node][page];

	*had = c->hold != PAGER_HOLD_NONE;
	if (!*had)
		return;
	if (want)
		memcpy(data, &c->val, sizeof(c->val));
	if (action == PAGER_INV_DROP)
		c->hold = PAGER_HOLD_NONE;
	else if (action == PAGER_INV_DOWNGRADE)
		c->hold = PAGER_HOLD_SHARED;
}

static int
cb_inval(void *ctx, uint32_t node, uint64_t page, int action, int want,
	 int *had, uint8_t *data)
{
	(void)ctx;
	invals++;
	if (node == HOME) {
		apply_inval(node, page, action, want, had, data);
		return 1;
	}
	q[node][qn[node]++] =
		(struct inv){ .page = page, .action = action, .want = want };
	return 0;
}

static void
cb_grant(void *ctx, const struct dir_req *r, int mode, int data,
	 uint32_t version, const uint8_t *bytes)
{
	struct copy *c = &cp[r->node][r->page];

	(void)ctx;
	(void)version;
	grants++;
	if (data == PAGER_DATA_PAGE)
		memcpy(&c->val, bytes, sizeof(c->val));
	else if (data == PAGER_DATA_ZERO)
		c->val = 0;
	else if (c->hold == PAGER_HOLD_NONE)
		errors++; /* "keep" what it does not have */
	c->hold = mode;
	c->pending = 0;
	if (c->val != last[r->page])
		errors++; /* stale data granted */
	if (c->want == PAGER_ACC_WRITE) {
		if (mode != PAGER_HOLD_EXCLUSIVE)
			errors++;
		c->val = last[r->page] = last[r->page] + 1;
	}
}

/* A restore: the snapshot's first word of page p is SNAP_VAL(p). */
#define SNAP_VAL(p) (1000 + (p))
static int restoring, fills;
static int taken[PAGES]; /* the snapshot's bytes went out (fill) or home */

static int
cb_fill(void *ctx, uint64_t page, uint8_t *data)
{
	uint64_t v = SNAP_VAL(page);

	(void)ctx;
	if (!restoring || taken[page])
		return 0;
	taken[page] = 1;
	fills++;
	memset(data, 0, PAGER_PAGE_SIZE);
	memcpy(data, &v, sizeof(v));
	return 1;
}

/* The home's background loader: its own copy of an untaken page. */
static int
home_take(struct dir *d, uint64_t page)
{
	int rc;

	if (taken[page])
		return 0;
	rc = dir_home_copy(d, page);
	if (rc == 0) {
		taken[page] = 1;
		cp[HOME][page].hold = PAGER_HOLD_SHARED;
		cp[HOME][page].val = SNAP_VAL(page);
	}
	return rc;
}

static const struct dir_ops ops = { .inval = cb_inval,
				    .grant = cb_grant,
				    .fill = cb_fill };

static void
check_invariants(struct dir *d)
{
	for (uint64_t p = 0; p < PAGES; p++) {
		int excl = 0, holders = 0;

		for (int n = 0; n < NODES; n++) {
			if (cp[n][p].hold == PAGER_HOLD_EXCLUSIVE)
				excl++;
			if (cp[n][p].hold != PAGER_HOLD_NONE) {
				holders++;
				if (cp[n][p].val != last[p])
					errors++;
			}
		}
		if (excl > 1 || (excl && holders > 1))
			errors++;
		(void)d;
	}
}

static int
deliver(struct dir *d, int node)
{
	struct inv v;
	uint8_t data[PAGER_PAGE_SIZE];
	int had;

	if (!qn[node])
		return 0;
	v = q[node][0];
	memmove(q[node], q[node] + 1, --qn[node] * sizeof(q[0][0]));
	if (v.prefetch) {
		/* as fault.c: installed where the node holds nothing */
		if (cp[node][v.page].hold == PAGER_HOLD_NONE) {
			cp[node][v.page].hold = PAGER_HOLD_SHARED;
			cp[node][v.page].val = v.val;
		}
		return 0;
	}
	apply_inval((uint32_t)node, v.page, v.action, v.want, &had, data);
	return dir_ack(d, (uint32_t)node, v.page, had,
		       had && v.want ? data : NULL);
}

/* The home sends node a read-ahead copy of page when the directory
 * lets it, as fault.c does: only from a copy it holds. */
static int
prefetch(struct dir *d, int node, uint64_t page)
{
	int rc;

	if (cp[HOME][page].hold == PAGER_HOLD_NONE)
		return 0;
	rc = dir_prefetch(d, page, (uint32_t)node);
	if (rc <= 0)
		return rc;
	if (rc == 2)
		cp[HOME][page].hold = PAGER_HOLD_SHARED;
	q[node][qn[node]++] = (struct inv){ .page = page,
					    .prefetch = 1,
					    .val = cp[HOME][page].val };
	return rc;
}

static int
want_page(struct dir *d, int node, uint64_t page, int access)
{
	struct copy *c = &cp[node][page];
	struct dir_req r = { .page = page,
			     .id = page,
			     .node = (uint32_t)node,
			     .access = (uint8_t)access,
			     .have = (uint8_t)c->hold };

	c->pending = 1;
	c->want = access;
	return dir_request(d, &r);
}

/* A fault of node on page, read or write at random, unless its copy
 * would not fault (present for a read, exclusive for a write) or a
 * request of its is out.  Returns want_page's, or 0. */
static int
random_request(struct dir *d, int node, uint64_t page)
{
	int acc = rand() % 2 ? PAGER_ACC_WRITE : PAGER_ACC_READ;
	const struct copy *c = &cp[node][page];

	if (c->pending || (acc == PAGER_ACC_READ && c->hold) ||
	    (acc == PAGER_ACC_WRITE && c->hold == PAGER_HOLD_EXCLUSIVE))
		return 0;
	return want_page(d, node, page, acc);
}

/* Every queued invalidation and copy delivered; < 0 on a refused ack. */
static int
drain(struct dir *d)
{
	int rc = 0;

	for (int more = 1; more;) {
		more = 0;
		for (int n = 0; n < NODES; n++)
			while (qn[n]) {
				rc |= deliver(d, n);
				more = 1;
			}
	}
	return rc;
}

int
main(void)
{
	struct dir d;
	const struct dir_entry *e;
	int rc = 0, i, bad = 0, claims;

	ok(sizeof(struct dir_entry) == 16, "directory entry is 16 bytes");
	is_int(dir_init(&d, 0, PAGES, HOME, 0, &ops), -EINVAL, "0 nodes");
	is_int(dir_init(&d, 0, PAGES, 65, 66, &ops), -EINVAL, "66 nodes");
	is_int(dir_init(&d, 0, PAGES, HOME, NODES, &ops), 0, "init");

	/* a read of a fresh page is a zero grant, no invalidation */
	is_int(want_page(&d, 0, 0, PAGER_ACC_READ), 0, "read fresh page");
	ok(cp[0][0].hold == PAGER_HOLD_SHARED && invals == 0,
	   "zero page granted shared without asking anyone");
	/* a write by node 2: node 0's copy is invalidated first */
	is_int(want_page(&d, 2, 0, PAGER_ACC_WRITE), 0, "write request");
	ok(cp[2][0].pending && qn[0] == 1, "waits for node 0's ack");
	is_int(deliver(&d, 0), 0, "node 0 acks");
	ok(cp[2][0].hold == PAGER_HOLD_EXCLUSIVE && !cp[2][0].pending &&
		   cp[0][0].hold == PAGER_HOLD_NONE,
	   "granted exclusive after the ack");
	/* a second request for a busy page waits its turn */
	is_int(want_page(&d, 3, 0, PAGER_ACC_READ), 0, "read by node 3");
	is_int(want_page(&d, 0, 0, PAGER_ACC_WRITE), 0,
	       "write by node 0 queued");
	ok(qn[2] == 1 && cp[0][0].pending, "node 2 asked to downgrade");
	is_int(deliver(&d, 2), 0, "node 2 downgrades");
	ok(cp[3][0].hold == PAGER_HOLD_SHARED && cp[3][0].val == 1,
	   "node 3 reads node 2's value");
	while (qn[2] || qn[3])
		rc |= deliver(&d, qn[2] ? 2 : 3);
	is_int(rc, 0, "acks of the queued write");
	ok(cp[0][0].hold == PAGER_HOLD_EXCLUSIVE && cp[0][0].val == 2,
	   "queued write ran after the read");
	e = dir_entry_get(&d, 0);
	ok(e && e->owner == 0 && e->copyset == 1 && e->version == 2 &&
		   e->transfers == 1,
	   "entry: owner, copyset, version, transfers");
	is_int(dir_ack(&d, 3, 0, 1, NULL), -EPROTO, "unexpected ack refused");
	is_int(dir_request(&d, &(struct dir_req){ .page = PAGES, .access = 1 }),
	       -ERANGE, "page outside the home range");
	/* a requester that lost its copy (REMOVE) says so */
	cp[0][0].hold = PAGER_HOLD_NONE;
	last[0] = 0;
	is_int(want_page(&d, 0, 0, PAGER_ACC_READ), 0, "read after a discard");
	ok(cp[0][0].hold == PAGER_HOLD_SHARED, "zero again, no hang");
	check_invariants(&d);
	is_int(errors, 0, "no coherence errors in the scenarios");
	dir_release(&d);

	/* the home claims a never-touched page: exclusive, zero */
	dir_init(&d, 0, PAGES, HOME, NODES, &ops);
	memset(cp, 0, sizeof(cp));
	memset(last, 0, sizeof(last));
	is_int(dir_home_claim(&d, 2), 0, "the home claims page 2");
	cp[HOME][2].hold = PAGER_HOLD_EXCLUSIVE;
	e = dir_entry_get(&d, 2);
	ok(e && e->state == DIR_EXCL && e->owner == HOME &&
		   e->copyset == 1u << HOME && e->version == 1,
	   "page 2: the home's, exclusive");
	is_int(dir_home_claim(&d, 2), -EBUSY, "claimed twice: busy");
	is_int(dir_home_claim(&d, PAGES), -ERANGE, "outside: range");
	is_int(want_page(&d, 3, 2, PAGER_ACC_READ), 0, "node 3 reads page 2");
	ok(cp[3][2].hold == PAGER_HOLD_SHARED && cp[3][2].val == 0 &&
		   cp[HOME][2].hold == PAGER_HOLD_SHARED,
	   "it gets the home's zero bytes, the home keeps a shared copy");
	is_int(dir_home_claim(&d, 2), -EBUSY, "a shared page: busy");
	is_int(want_page(&d, 0, 1, PAGER_ACC_WRITE), 0, "node 0 writes 1");
	is_int(dir_home_claim(&d, 1), -EBUSY, "a page held elsewhere: busy");
	check_invariants(&d);
	dir_release(&d);

	/* read-ahead: the home sends copies it holds, and only those */
	dir_init(&d, 0, PAGES, HOME, NODES, &ops);
	memset(cp, 0, sizeof(cp));
	memset(last, 0, sizeof(last));
	memset(qn, 0, sizeof(qn));
	is_int(want_page(&d, HOME, 0, PAGER_ACC_WRITE), 0, "home writes 0");
	is_int(dir_prefetch(&d, 0, HOME), -EINVAL, "not to the home itself");
	is_int(dir_prefetch(&d, 0, NODES), -EINVAL, "not to a node past N");
	is_int(dir_prefetch(&d, PAGES, 2), -EINVAL, "not a page not homed");
	is_int(dir_prefetch(&d, 1, 2), 0, "not a page nobody holds");
	is_int(prefetch(&d, 2, 0), 2, "an exclusive home copy: downgraded");
	e = dir_entry_get(&d, 0);
	ok(e && e->state == DIR_SHARED && e->copyset == (1u << HOME | 1u << 2),
	   "node 2 counts as a holder at once");
	is_int(dir_prefetch(&d, 0, 2), 0, "not twice");
	is_int(prefetch(&d, 3, 0), 1, "a shared home copy to node 3");
	is_int(deliver(&d, 2), 0, "node 2 gets it");
	ok(cp[2][0].hold == PAGER_HOLD_SHARED && cp[2][0].val == last[0],
	   "node 2 holds the last value");
	is_int(want_page(&d, 0, 0, PAGER_ACC_WRITE), 0, "node 0 writes 0");
	ok(cp[0][0].pending && qn[3] == 2,
	   "node 3's invalidation waits behind its copy");
	while (qn[2] || qn[3])
		rc |= deliver(&d, qn[2] ? 2 : 3);
	ok(rc == 0 && cp[0][0].hold == PAGER_HOLD_EXCLUSIVE &&
		   cp[2][0].hold == PAGER_HOLD_NONE &&
		   cp[3][0].hold == PAGER_HOLD_NONE,
	   "the write invalidated both read-ahead copies");
	is_int(want_page(&d, 0, 2, PAGER_ACC_WRITE), 0, "node 0 writes 2");
	is_int(dir_prefetch(&d, 2, 3), 0,
	       "not a page another node holds exclusive");
	check_invariants(&d);
	is_int(errors, 0, "read-ahead: no coherence errors");
	dir_release(&d);

	/* random runs with read-ahead copies now and then */
	srand(5);
	memset(cp, 0, sizeof(cp));
	memset(last, 0, sizeof(last));
	memset(qn, 0, sizeof(qn));
	dir_init(&d, 0, PAGES, HOME, NODES, &ops);
	for (i = 0, claims = 0; i < 200000 && !bad; i++) {
		int n = rand() % NODES, p = rand() % PAGES, r = rand() % 8;

		if (r == 0 && n != HOME) {
			rc = prefetch(&d, n, (uint64_t)p);
			if (rc < 0)
				bad = 1;
			claims += rc > 0;
		} else if (r < 4) {
			if (deliver(&d, n) < 0)
				bad = 1;
		} else if (random_request(&d, n, (uint64_t)p) < 0) {
			bad = 1;
		}
		check_invariants(&d);
	}
	bad |= drain(&d) < 0;
	check_invariants(&d);
	ok(!bad && claims > 200,
	   "read-ahead run: %d copies sent, every request and ack accepted",
	   claims);
	is_int(errors, 0,
	       "read-ahead run: single writer, reads see last write");
	dir_release(&d);

	/* random runs */
	srand(7);
	memset(cp, 0, sizeof(cp));
	memset(last, 0, sizeof(last));
	memset(qn, 0, sizeof(qn));
	dir_init(&d, 0, PAGES, HOME, NODES, &ops);
	for (i = 0; i < 200000 && !bad; i++) {
		int n = rand() % NODES, p = rand() % PAGES;

		if (rand() % 3 == 0) {
			if (deliver(&d, n) < 0)
				bad = 1;
		} else if (random_request(&d, n, (uint64_t)p) < 0) {
			bad = 1;
		}
		check_invariants(&d);
	}
	bad |= drain(&d) < 0;
	ok(!bad, "random run: every request and ack accepted");
	bad |= drain(&d) < 0;
	dir_release(&d);

	/* random runs where the home claims fresh pages now and then */
	memset(cp, 0, sizeof(cp));
	memset(last, 0, sizeof(last));
	dir_init(&d, 0, PAGES, HOME, NODES, &ops);
	for (i = 0, claims = 0; i < 100000 && !bad; i++) {
		int n = rand() % NODES, p = rand() % PAGES, r = rand() % 16;

		if (r == 0) {
			if (dir_home_claim(&d, (uint64_t)p) == 0) {
				if (cp[HOME][p].hold || cp[HOME][p].pending)
					bad = 1; /* it thought it had it */
				cp[HOME][p].hold = PAGER_HOLD_EXCLUSIVE;
				cp[HOME][p].val = 0;
				claims++;
			}
		} else if (r < 6) {
			if (deliver(&d, n) < 0)
				bad = 1;
		} else if (random_request(&d, n, (uint64_t)p) < 0) {
			bad = 1;
		}
		check_invariants(&d);
		if (i % 100 == 99) { /* fresh pages again */
			bad |= drain(&d) < 0;
			dir_release(&d);
			dir_init(&d, 0, PAGES, HOME, NODES, &ops);
			memset(cp, 0, sizeof(cp));
			memset(last, 0, sizeof(last));
		}
	}
	ok(!bad && claims > 100,
	   "claim run: %d claims, every request and ack accepted", claims);
	is_int(errors, 0, "claim run: single writer, reads see last write");
	is_int(errors, 0, "random run: single writer, reads see last write");
	ok(grants > 10000, "random run: %d grants, %d invalidations", grants,
	   invals);
	is_int(d.busy, 0, "random run: nothing left busy");
	dir_release(&d);

	/* restore: fixed scenarios */
	restoring = 1;
	memset(cp, 0, sizeof(cp));
	memset(qn, 0, sizeof(qn));
	for (i = 0; i < PAGES; i++)
		last[i] = SNAP_VAL(i);
	errors = 0;
	dir_init(&d, 0, PAGES, HOME, NODES, &ops);
	is_int(want_page(&d, 0, 0, PAGER_ACC_READ), 0, "restore: read page 0");
	ok(cp[0][0].hold == PAGER_HOLD_SHARED && cp[0][0].val == SNAP_VAL(0) &&
		   fills == 1,
	   "the first read gets the snapshot's bytes");
	is_int(want_page(&d, 2, 0, PAGER_ACC_WRITE), 0, "write by node 2");
	rc = deliver(&d, 0);
	is_int(rc, 0, "node 0 acks");
	ok(cp[2][0].hold == PAGER_HOLD_EXCLUSIVE && cp[2][0].val == last[0] &&
		   fills == 1,
	   "the writer builds on the snapshot's bytes, no second fill");
	is_int(want_page(&d, 3, 1, PAGER_ACC_WRITE), 0, "write miss, page 1");
	ok(cp[3][1].hold == PAGER_HOLD_EXCLUSIVE &&
		   cp[3][1].val == SNAP_VAL(1) + 1 && fills == 2,
	   "a first write gets the snapshot's bytes too");
	is_int(dir_home_copy(&d, 1), -EBUSY, "home copy of a held page: busy");
	is_int(dir_home_copy(&d, PAGES), -ERANGE, "home copy outside: range");
	is_int(home_take(&d, 2), 0, "the home takes page 2 itself");
	e = dir_entry_get(&d, 2);
	ok(e && e->state == DIR_SHARED && e->copyset == 1u << HOME,
	   "page 2: shared by the home alone");
	is_int(want_page(&d, 0, 2, PAGER_ACC_READ), 0, "node 0 reads page 2");
	ok(cp[0][2].val == SNAP_VAL(2) && fills == 2 && qn[HOME] == 0,
	   "from the home's copy, not a fill");
	/* everyone drops page 1: it is zero from then on, not the snapshot */
	cp[3][1].hold = PAGER_HOLD_NONE;
	last[1] = 0;
	is_int(want_page(&d, 3, 1, PAGER_ACC_READ), 0, "read after a discard");
	ok(cp[3][1].hold == PAGER_HOLD_SHARED && cp[3][1].val == 0 &&
		   fills == 2,
	   "a page everyone dropped is zero, the snapshot is not read again");
	check_invariants(&d);
	is_int(errors, 0, "restore: no coherence errors in the scenarios");
	dir_release(&d);

	/* restore: random runs, the home taking pages now and then */
	srand(11);
	memset(cp, 0, sizeof(cp));
	memset(qn, 0, sizeof(qn));
	memset(taken, 0, sizeof(taken));
	for (i = 0; i < PAGES; i++)
		last[i] = SNAP_VAL(i);
	fills = grants = 0;
	dir_init(&d, 0, PAGES, HOME, NODES, &ops);
	for (i = 0; i < 100000 && !bad; i++) {
		int n = rand() % NODES, p = rand() % PAGES, r = rand() % 16;

		if (r == 0) {
			if (home_take(&d, (uint64_t)p) < 0)
				bad = 1;
		} else if (r < 6) {
			if (deliver(&d, n) < 0)
				bad = 1;
		} else if (random_request(&d, n, (uint64_t)p) < 0) {
			bad = 1;
		}
		check_invariants(&d);
		/* a fresh run of pages now and then: new snapshot bytes */
		if (i % 5000 == 4999) {
			bad |= drain(&d) < 0;
			for (n = 0; n < NODES; n++)
				for (p = 0; p < PAGES; p++)
					if (cp[n][p].pending)
						bad = 1;
			dir_release(&d);
			dir_init(&d, 0, PAGES, HOME, NODES, &ops);
			memset(cp, 0, sizeof(cp));
			memset(taken, 0, sizeof(taken));
			for (p = 0; p < PAGES; p++)
				last[p] = SNAP_VAL(p);
		}
	}
	ok(!bad, "restore run: every request, ack and home copy accepted");
	is_int(errors, 0, "restore run: reads see the snapshot, then writes");
	ok(fills > 20 && grants > 10000, "restore run: %d fills, %d grants",
	   fills, grants);
	dir_release(&d);
	return done_testing();
}
