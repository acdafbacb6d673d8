/*
 * avm-pager-client: the test client of avm-pager.  It does what avm-run
 * does with guest RAM, without KVM: a memfd mapped MAP_SHARED, registered
 * with a userfaultfd (MISSING|WP), both handed to the local pager over
 * pager.sock (include/avm/pager.h).  Then plain threads run coherence
 * litmus tests over that memory, with every node's client running the
 * same program; the nodes meet at barriers in the shared memory itself.
 *
 *   mp     message passing: data then flag; a reader that sees the flag
 *          must see the data (violations must be 0)
 *   sb     store buffering: x=1;r0=y || y=1;r1=x.  Without a fence every
 *          outcome is TSO; with mfence (0,0) is forbidden
 *   xadd   lock xadd from every thread of every node: the counter and
 *          the sum of the returned values add up exactly
 *   lock   a spinlock around a plain counter: adds up exactly
 *   false  false sharing: every thread writes its own word of one page;
 *          every word reads back right, before and after
 *   soak   a lock and a counter, --soak-ms long (for killing nodes)
 *   pingpong  thread 0 of node 0 and thread 0 of node 1 (threads 0 and
 *          1 of a lone node) take turns writing one word of one page
 *          (the middle of guest RAM, or --page-offset), --rounds rounds
 *          and, with --soak-ms, until that much time has passed too;
 *          node 0 first prints "pingpong page gpa=0x..." (the page's
 *          guest physical address as the pager sees it), each of the
 *          two "pingpong: tid N" (the thread the pager's stats name)
 *   verify-pattern  for a restored memory (avm-pager --restore of a
 *          snapshot avm-snapgen wrote with --pattern P --seed S, given
 *          here too): every thread of every node reads its share of
 *          every page and checks each word against the pattern; then
 *          each thread writes one word of its own pages, and every page
 *          is read and checked again, the written words included.  The
 *          barrier's own two words are checked against what the
 *          barrier can have made of them.  Run it alone: the other
 *          tests expect memory that starts zero
 *   write-pattern  the other way round, for saving: every page gets the
 *          pattern (--pattern, --seed), written by a thread of the node
 *          after its home (so that with several nodes a home must fetch
 *          it back to save it), but for a page that is zero in the
 *          pattern: that one is never touched, as a guest leaves most
 *          of its memory; the barrier's two words last, by thread
 *          0 of node 0 once everyone is past the last barrier, so that
 *          all of memory is exactly the pattern, as avm-snapgen writes
 *          it (and --check compares it); then node 0 prints
 *          "write-pattern: written".  Run it alone, with --linger-ms to
 *          keep the memory there while it is saved
 *
 *   readahead  rounds of one node writing 2048 pages of node 0's home
 *          and the others reading them in order, each word checked: the
 *          home's read-ahead copies must never show an older round
 *   idle   no access at all, not even a barrier: attach (saying "ready
 *          in T ms": from its start to READY, when it could run), linger
 *          (--linger-ms), detach; the memory stays as it was (a restored
 *          snapshot's pages stay unread, for a save of them)
 *
 * --linger-ms MS: stay attached that long after the tests (so that a
 * test can read the pager's stats while the VM is still up).
 * --linger-until FILE: stay attached until FILE exists (within the
 * --timeout-ms deadline, else 70): the test says when it is done with
 * the memory.
 *
 * Bench modes (--bench) print key=value lines for bench/pager.sh.
 *
 * Exit: 0 pass, 1 a litmus test failed, 64 usage, 69 the pager or a node
 * failed (the message says which), 70 a wait ran past its deadline.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "avm/log.h"
#include "avm/link.h"
#include "avm/pager.h"
#include "avm/placement.h"
#include "avm/util.h"
#include "pattern.h"

#define PG 4096u

static const char *vm = "avm";
static uint32_t node, nodes = 1, threads = 2;
static uint64_t mem_bytes = 16u << 20, npages;
static const char *home_sizes; /* --home-sizes, as the pagers got it */
static struct placement_node home[PAGER_MAX_NODES];
static unsigned rounds = 2000, iters = 2000;
static int timeout_ms = 120000;
static const char *tests = "mp,sb,xadd,lock,false";
static const char *bench;
static unsigned bench_n = 200;
static uint64_t pp_offset = UINT64_MAX; /* --page-offset; else the middle */
static struct pager_slot slots[2];
static int pattern = -1; /* --pattern: the memory is a restored snapshot */
static uint64_t pattern_seed = 1;
static unsigned linger_ms;
static const char *linger_file; /* --linger-until */

static uint8_t *ram;
static struct link *ctl;
static volatile int workers_done;
static int failed;
static pthread_mutex_t out_lock = PTHREAD_MUTEX_INITIALIZER;

static void __attribute__((format(printf, 1, 2))) say(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&out_lock);
	printf("node %u: ", node);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
	pthread_mutex_unlock(&out_lock);
}

static void __attribute__((format(printf, 2, 3), noreturn))
die(int status, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "avm-pager-client[node %u]: ", node);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	_exit(status);
}

/*
 * Page k of node i's home range (the placement's, as the pagers have it).  Every
 * variable below has its own k, so that no two share a page whatever the
 * number of nodes: 0..16 single pages, 40..135 the store-buffering cells,
 * 200..399 the bench pages.
 */
static volatile uint64_t *
at(uint32_t h, unsigned k)
{
	uint64_t first = home[h % nodes].page_first;

	return (volatile uint64_t *)(ram + (first + 16 + k) * PG);
}

/* --- waits with deadlines ----------------------------------------------- */

static uint64_t deadline;

static void
spin_check(unsigned *n, const char *what)
{
	if ((++*n & 255) == 0) {
		sched_yield();
		if (now_ns() > deadline)
			die(70, "waited past the deadline in %s", what);
	} else {
		__builtin_ia32_pause();
	}
}

static uint64_t
ld(volatile uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

static void
st(volatile uint64_t *p, uint64_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELEASE);
}

/*
 * What the barrier's count word holds at rest: 0, or what the restored
 * snapshot's pattern put there (every node knows it, as it knows the
 * pattern).
 */
static uint64_t bar_base;

/* All threads of all nodes. */
static void
barrier(const char *what)
{
	volatile uint64_t *count = at(0, 0), *gen = at(1, 1);
	uint64_t g = ld(gen);
	unsigned n = 0;

	if (__atomic_fetch_add(count, 1, __ATOMIC_SEQ_CST) ==
	    bar_base + (uint64_t)nodes * threads - 1) {
		st(count, bar_base);
		__atomic_fetch_add(gen, 1, __ATOMIC_SEQ_CST);
		return;
	}
	while (ld(gen) == g)
		spin_check(&n, what);
}

/* --- litmus tests ---------------------------------------------------------- */

struct worker {
	pthread_t t;
	uint32_t tid, g; /* thread on this node, global index */
};

static void
test_mp(struct worker *w)
{
	volatile uint64_t *data = at(1, 2), *flag = at(2, 3);
	uint64_t i, f, d, reads = 0, bad = 0;
	unsigned n = 0;

	if (w->g == 0) {
		for (i = 1; i <= rounds; i++) {
			*data = i;
			st(flag, i);
			for (int k = 0; k < 50; k++)
				__builtin_ia32_pause();
		}
	} else if (node != 0 || nodes == 1) {
		do {
			f = ld(flag);
			d = ld(data);
			reads++;
			if (d < f)
				bad++;
			spin_check(&n, "mp");
		} while (f < rounds);
		if (bad)
			failed = 1;
		say("mp: thread %u: %" PRIu64 " reads, %" PRIu64
		    " violations%s",
		    w->tid, reads, bad, bad ? " FAIL" : "");
	}
	barrier("mp end");
}

/* Each side stores k, then waits for the other side's k. */
static void
pair_sync(volatile uint64_t *mine, volatile uint64_t *other, uint64_t k)
{
	unsigned n = 0;

	st(mine, k);
	while (ld(other) < k)
		spin_check(&n, "sb");
}

#define SB_MAX 8192 /* fresh cells every round: 16 pages an array */

/* Two threads on two nodes (or two threads of one node). */
static void
test_sb(struct worker *w, int fenced)
{
	uint32_t ga = 0, gb = nodes > 1 ? (nodes - 1) * threads : 1;
	unsigned i, n = rounds < SB_MAX ? rounds : SB_MAX;
	volatile uint64_t *sa = at(0, 4 + fenced),
			  *sb = at(nodes - 1, 6 + fenced);
	volatile uint64_t *x = at(0, 40 + fenced * 16);
	volatile uint64_t *y = at(nodes - 1, 72 + fenced * 16);
	volatile uint64_t *ra = at(1, 104 + fenced * 16);
	uint64_t cnt[4] = { 0 }, r;
	int a = w->g == ga;

	if (w->g == ga || w->g == gb) {
		for (i = 0; i < n; i++) {
			pair_sync(a ? sa : sb, a ? sb : sa, 2 * i + 1);
			if (a) {
				x[i] = 1;
				if (fenced)
					__atomic_thread_fence(__ATOMIC_SEQ_CST);
				r = y[i];
				ra[i] = r + 1;
			} else {
				y[i] = 1;
				if (fenced)
					__atomic_thread_fence(__ATOMIC_SEQ_CST);
				r = x[i];
			}
			pair_sync(a ? sa : sb, a ? sb : sa, 2 * i + 2);
			if (!a && ra[i] >= 1 && ra[i] <= 2 && r <= 1)
				cnt[(ra[i] - 1) * 2 + r]++;
		}
		if (!a) {
			uint64_t sum = cnt[0] + cnt[1] + cnt[2] + cnt[3];
			int bad = (fenced && cnt[0]) || sum != n;

			if (bad)
				failed = 1;
			say("sb%s: %u rounds: (0,0) %" PRIu64 " (0,1) %" PRIu64
			    " (1,0) %" PRIu64 " (1,1) %" PRIu64 "%s",
			    fenced ? "+mfence" : "", n, cnt[0], cnt[1], cnt[2],
			    cnt[3], bad ? " FAIL" : "");
		}
	}
	barrier("sb end");
}

static void
test_xadd(struct worker *w)
{
	volatile uint64_t *ctr = at(1, 8), *sum = at(2, 9);
	uint64_t s = 0, total = (uint64_t)nodes * threads * iters, t0;
	unsigned i;

	barrier("xadd start");
	t0 = now_ns();
	for (i = 0; i < iters; i++)
		s += __atomic_fetch_add(ctr, 1, __ATOMIC_SEQ_CST);
	__atomic_fetch_add(sum, s, __ATOMIC_SEQ_CST);
	barrier("xadd end");
	if (w->tid == 0) {
		uint64_t c = ld(ctr), su = ld(sum), ns = now_ns() - t0;
		int bad = c != total || su != total * (total - 1) / 2;

		if (bad)
			failed = 1;
		say("xadd: counter %" PRIu64 " (want %" PRIu64
		    "), sum %s%s; %.0f adds/s",
		    c, total, su == total * (total - 1) / 2 ? "exact" : "WRONG",
		    bad ? " FAIL" : "", (double)total * 1e9 / (double)ns);
	}
	barrier("xadd check");
}

static void
test_lock(struct worker *w)
{
	volatile uint64_t *lock = at(0, 10), *ctr = at(nodes - 1, 11);
	uint64_t total = (uint64_t)nodes * threads * iters, t0;
	unsigned i, n = 0;

	barrier("lock start");
	t0 = now_ns();
	for (i = 0; i < iters; i++) {
		while (__atomic_exchange_n(lock, 1, __ATOMIC_ACQUIRE))
			while (ld(lock))
				spin_check(&n, "lock");
		*ctr = *ctr + 1;
		st(lock, 0);
	}
	barrier("lock end");
	if (w->tid == 0) {
		uint64_t c = ld(ctr), ns = now_ns() - t0;

		if (c != total)
			failed = 1;
		say("lock: counter %" PRIu64 " (want %" PRIu64 ")%s; %.0f "
		    "sections/s",
		    c, total, c != total ? " FAIL" : "",
		    (double)total * 1e9 / (double)ns);
	}
	barrier("lock check");
}

static void
test_false(struct worker *w)
{
	volatile uint64_t *slot = at(2, 12);
	uint32_t G = nodes * threads, o;
	uint64_t bad = 0, v;
	unsigned i;

	for (i = 1; i <= iters; i++) {
		slot[w->g] = (uint64_t)w->g << 32 | i;
		if (slot[w->g] != ((uint64_t)w->g << 32 | i))
			bad++;
		o = (w->g + i) % G;
		v = slot[o];
		if (v && (v >> 32) != o)
			bad++;
	}
	barrier("false end");
	for (o = 0; o < G; o++)
		if (slot[o] != ((uint64_t)o << 32 | iters))
			bad++;
	if (bad)
		failed = 1;
	if (w->tid == 0 || bad)
		say("false: thread %u: %" PRIu64 " bad words%s", w->tid, bad,
		    bad ? " FAIL" : "");
	barrier("false check");
}

/* Lock, count and read each other's pages until soak_ms have passed. */
static unsigned soak_ms = 10000;
static int soak_given; /* --soak-ms was on the command line */

static void
test_soak(struct worker *w)
{
	volatile uint64_t *lock = at(0, 14), *ctr = at(nodes - 1, 15);
	uint64_t end = now_ns() + (uint64_t)soak_ms * 1000000u, k = 0;
	unsigned n = 0;

	while (now_ns() < end) {
		while (__atomic_exchange_n(lock, 1, __ATOMIC_ACQUIRE))
			while (ld(lock))
				spin_check(&n, "soak");
		*ctr = *ctr + 1;
		st(lock, 0);
		k++;
		if (k % 64 == 0)
			(void)*at((uint32_t)(k / 64) % nodes, 16);
	}
	if (w->tid == 0)
		say("soak: %" PRIu64 " rounds", k);
	barrier("soak end");
}

/* The guest physical address of a memfd offset: the slot's mapping. */
static uint64_t
offset_gpa(uint64_t off)
{
	unsigned i;

	for (i = 0; i < AVM_ARRAY_SIZE(slots); i++)
		if (off >= slots[i].memfd_off &&
		    off - slots[i].memfd_off < slots[i].size)
			return slots[i].gpa + (off - slots[i].memfd_off);
	return UINT64_MAX;
}

/*
 * Waits until the turn word reaches want; past it means the two sides
 * did not alternate.  Returns 0, or -1 with failed set.
 */
static int
pp_wait(volatile uint64_t *turn, uint64_t want)
{
	unsigned n = 0;
	uint64_t v;

	while ((v = ld(turn)) < want)
		spin_check(&n, "pingpong");
	if (v == want)
		return 0;
	say("pingpong: turn %" PRIu64 " where %" PRIu64 " was due FAIL", v,
	    want);
	failed = 1;
	return -1;
}

/*
 * Strict alternation on one page: word 0 counts the turns (side a
 * writes odd values, side b even ones), word 1 is side a's stop.  Side a
 * alone decides when to end, at its turn: stop first, then the turn, so
 * that b sees the stop when it wakes.
 */
static void
test_pingpong(struct worker *w)
{
	uint32_t ga = 0, gb = nodes > 1 ? threads : 1;
	uint64_t off = pp_offset != UINT64_MAX ? pp_offset
					       : (npages / 2) * (uint64_t)PG;
	volatile uint64_t *turn = (volatile uint64_t *)(ram + off);
	volatile uint64_t *stop = turn + 1;
	uint64_t end = now_ns() + (uint64_t)soak_ms * 1000000u, i;
	int a = w->g == ga;

	if (nodes == 1 && threads == 1) {
		say("pingpong: needs two nodes or two threads FAIL");
		failed = 1;
	} else if (w->g == ga || w->g == gb) {
		if (a) {
			pthread_mutex_lock(&out_lock);
			printf("pingpong page gpa=0x%llx\n",
			       (unsigned long long)offset_gpa(off));
			fflush(stdout);
			pthread_mutex_unlock(&out_lock);
		}
		say("pingpong: tid %d", (int)gettid());
		for (i = 0;; i++) {
			if (pp_wait(turn, a ? 2 * i : 2 * i + 1) < 0)
				break;
			if (a && i >= rounds &&
			    (!soak_given || now_ns() >= end))
				st(stop, 1);
			else if (!a && ld(stop))
				break;
			st(turn, a ? 2 * i + 1 : 2 * i + 2);
			if (a && ld(stop))
				break;
		}
		say("pingpong: %" PRIu64 " rounds, turn %" PRIu64 "%s", i,
		    ld(turn), failed ? " FAIL" : "");
	}
	barrier("pingpong end");
}

/* --- a restored memory against its pattern -------------------------------- */

static uint64_t vp_bad, vp_pages; /* every thread of this node, together */
static unsigned vp_said;	  /* bad words printed */
static char sock_path[4096];	  /* the pager's pager.sock */
static __thread int vp_looked;	  /* this thread looked at it */

/* The page and word of a pointer into guest RAM. */
static void
page_word(volatile uint64_t *v, uint64_t *p, uint64_t *i)
{
	uint64_t off = (uint64_t)((volatile uint8_t *)v - ram);

	*p = off / PG;
	*i = off % PG / 8;
}

/* The word page p has written in phase 2 (never word 0: the barrier's). */
static uint64_t
vp_word(uint64_t p)
{
	return 1 + p % (PG / 8 - 1);
}

/*
 * Page p against the pattern: bars barriers passed since the memory was
 * restored, written: phase 2's word is in.  Returns the bad words.
 */
static uint64_t
vp_check(uint64_t p, unsigned bars, int written)
{
	const volatile uint64_t *w = (const volatile uint64_t *)(ram + p * PG);
	uint64_t cp, ci, gp, gi, i, got, want, bad = 0;
	uint64_t g = (uint64_t)nodes * threads;

	page_word(at(0, 0), &cp, &ci);
	page_word(at(1, 1), &gp, &gi);
	for (i = 0; i < PG / 8; i++) {
		got = w[i];
		want = pattern_word(pattern, pattern_seed, p, i);
		if (written && i == vp_word(p))
			want = ~want;
		if (p == gp && i == gi)
			want += bars; /* each barrier adds one */
		if (p == cp && i == ci && got >= want && got < want + g)
			continue; /* a barrier under way counts here */
		if (got == want)
			continue;
		bad++;
		/*
		 * A pager that died lets faults through to zero pages (its
		 * uffd is gone): not data it gave.  It removes pager.sock
		 * before it exits; the main thread is about to say why.
		 */
		if (!vp_looked && (vp_looked = 1) &&
		    access(sock_path, F_OK) < 0)
			for (;;)
				pause();
		if (__atomic_fetch_add(&vp_said, 1, __ATOMIC_SEQ_CST) < 5)
			say("verify-pattern: page %" PRIu64 " word %" PRIu64
			    ": 0x%" PRIx64 ", want 0x%" PRIx64,
			    p, i, got, want);
	}
	return bad;
}

/*
 * This thread's share of every page, downwards from a start that differs
 * by node: node 0 from the last page, node i from node (N - i)'s home.
 * A restoring pager's loader goes upwards from the start of its home, so
 * readers and loaders meet in the middle and both take pages.
 */
static void
vp_read_all(struct worker *w, unsigned bars, int written)
{
	uint64_t k, p, bad = 0, n = 0;

	for (k = w->tid; k < npages; k += threads) {
		p = npages - 1 - (k + node * (npages / nodes)) % npages;
		bad += vp_check(p, bars, written);
		n++;
	}
	__atomic_fetch_add(&vp_bad, bad, __ATOMIC_SEQ_CST);
	__atomic_fetch_add(&vp_pages, n, __ATOMIC_SEQ_CST);
}

static void
test_verify_pattern(struct worker *w)
{
	uint32_t G = nodes * threads;
	uint64_t p;

	if (pattern < 0) {
		say("verify-pattern: needs --pattern FAIL");
		failed = 1;
		barrier("verify-pattern");
		return;
	}
	/* "start" was the first barrier since the restore */
	vp_read_all(w, 1, 0);
	barrier("verify-pattern read");
	for (p = w->g; p < npages; p += G) {
		volatile uint64_t *v = (volatile uint64_t *)(ram + p * PG);

		v[vp_word(p)] =
			~pattern_word(pattern, pattern_seed, p, vp_word(p));
	}
	barrier("verify-pattern written");
	vp_read_all(w, 3, 1);
	barrier("verify-pattern read again");
	if (w->tid == 0) {
		if (vp_bad)
			failed = 1;
		say("verify-pattern: %" PRIu64 " pages read, %" PRIu64
		    " words written, %" PRIu64 " bad words%s",
		    vp_pages, npages, vp_bad, vp_bad ? " FAIL" : "");
	}
	barrier("verify-pattern end");
}

/* This thread's pages: those of the node after their home's. */
static void
test_write_pattern(struct worker *w)
{
	uint64_t p, i, cp, ci, gp, gi;
	uint32_t h;

	page_word(at(0, 0), &cp, &ci);
	page_word(at(1, 1), &gp, &gi);
	for (p = 0; p < npages; p++) {
		for (h = 0; h + 1 < nodes && p >= home[h + 1].page_first; h++)
			;
		if ((h + 1) % nodes != node || p % threads != w->tid ||
		    (pattern_page_zero(pattern, p) && p != cp && p != gp))
			continue; /* a zero page is one never written */
		for (i = 0; i < PG / 8; i++) {
			if ((p == cp && i == ci) || (p == gp && i == gi))
				continue; /* the barrier's, for now */
			((volatile uint64_t *)(ram + p * PG))[i] =
				pattern_word(pattern, pattern_seed, p, i);
		}
	}
}

/* After the last barrier: its two words become the pattern's. */
static void
write_pattern_end(void)
{
	uint64_t cp, ci, gp, gi;

	page_word(at(0, 0), &cp, &ci);
	page_word(at(1, 1), &gp, &gi);
	st(at(0, 0), pattern_word(pattern, pattern_seed, cp, ci));
	st(at(1, 1), pattern_word(pattern, pattern_seed, gp, gi));
	say("write-pattern: written");
}

/*
 * readahead: 4 rounds over up to 2048 pages of node 0's home past the test
 * variables: a writer node (round r: node r % N) writes every word of
 * every page with the round's value, then every other node reads them
 * all in order (a trend: the home sends copies ahead) and checks each
 * word.  A copy sent ahead that a later write did not invalidate shows
 * as the round before's value.
 */
static void
test_readahead(struct worker *w)
{
	uint64_t first = home[0].page_first + 1024, n, k, i, bad = 0;
	uint64_t v;
	unsigned r;

	n = home[0].page_count > 1024 + 2048 ? 2048 : home[0].page_count - 1024;
	if (home[0].page_count < 1024 + 256) {
		say("readahead: node 0's home is too small FAIL");
		failed = 1;
		return;
	}
	for (r = 1; r <= 4; r++) {
		if (node == r % nodes && w->tid == 0)
			for (k = first; k < first + n; k++)
				for (i = 0; i < PG / 8; i++)
					((volatile uint64_t *)(ram +
							       k * PG))[i] =
						(uint64_t)r << 40 | k << 9 | i;
		barrier("readahead written");
		if (node != r % nodes && w->tid == 0)
			for (k = first; k < first + n; k++)
				for (i = 0; i < PG / 8; i++) {
					v = ((volatile uint64_t *)(ram +
								   k * PG))[i];
					if (v != ((uint64_t)r << 40 | k << 9 |
						  i) &&
					    bad++ < 3)
						say("readahead: round %u page "
						    "%" PRIu64 " word %" PRIu64
						    ": 0x%" PRIx64,
						    r, k, i, v);
				}
		barrier("readahead read");
	}
	if (w->tid == 0) {
		if (bad)
			failed = 1;
		say("readahead: %" PRIu64 " stale or wrong words%s", bad,
		    bad ? " FAIL" : "");
	}
}

static int
want(const char *t)
{
	size_t n = strlen(t);
	const char *p = tests;

	while ((p = strstr(p, t))) {
		if ((p == tests || p[-1] == ',') && (p[n] == ',' || !p[n]))
			return 1;
		p += n;
	}
	return 0;
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;

	if (want("idle")) {
		/* Not one access: the memory stays as the pagers have it. */
		__atomic_fetch_add(&workers_done, 1, __ATOMIC_SEQ_CST);
		return NULL;
	}
	barrier("start");
	if (want("verify-pattern"))
		test_verify_pattern(w);
	if (want("mp"))
		test_mp(w);
	if (want("sb")) {
		test_sb(w, 0);
		test_sb(w, 1);
	}
	if (want("xadd"))
		test_xadd(w);
	if (want("lock"))
		test_lock(w);
	if (want("false"))
		test_false(w);
	if (want("pingpong"))
		test_pingpong(w);
	if (want("soak"))
		test_soak(w);
	if (want("write-pattern"))
		test_write_pattern(w);
	if (want("readahead"))
		test_readahead(w);
	barrier("done");
	if (want("write-pattern") && node == 0 && w->tid == 0)
		write_pattern_end();
	__atomic_fetch_add(&workers_done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

/* --- bench modes: one thread per node, key=value lines ------------------- */

static void
report(const char *key, uint64_t total_ns, unsigned n)
{
	printf("%s_ns=%" PRIu64 "\n", key, n ? total_ns / n : 0);
	fflush(stdout);
}

static void *
bench_main(void *arg)
{
	unsigned i, n = 0;
	uint64_t t0, sum = 0;
	volatile uint64_t *p;

	(void)arg;
	barrier("bench start");
	if (!strcmp(bench, "zero")) {
		/* fresh pages of our own home: zero fill, no network */
		for (i = 0; i < bench_n; i++) {
			p = at(node, 200 + i);
			t0 = now_ns();
			*p = 1;
			sum += now_ns() - t0;
		}
		if (node == 0)
			report("zero_fill", sum, bench_n);
	} else if (!strcmp(bench, "read")) {
		/* node 0 writes pages it is home of; node 1 reads them */
		if (node == 0)
			for (i = 0; i < bench_n; i++)
				*at(0, 200 + i) = i + 1;
		barrier("bench written");
		if (node == 1) {
			for (i = 0; i < bench_n; i++) {
				p = at(0, 200 + i);
				t0 = now_ns();
				if (*p != i + 1)
					die(1, "read miss: wrong data");
				sum += now_ns() - t0;
			}
			report("remote_read_miss", sum, bench_n);
		}
	} else if (!strcmp(bench, "write")) {
		/* node 0 writes; nodes 2.. read (copies); node 1 writes */
		if (node == 0)
			for (i = 0; i < bench_n; i++)
				*at(0, 200 + i) = i + 1;
		barrier("bench written");
		if (node >= 2)
			for (i = 0; i < bench_n; i++)
				(void)*at(0, 200 + i);
		barrier("bench read");
		if (node == 1) {
			for (i = 0; i < bench_n; i++) {
				p = at(0, 200 + i);
				t0 = now_ns();
				*p = i + 2;
				sum += now_ns() - t0;
			}
			printf("copies=%u\n", nodes > 2 ? nodes - 1 : 1);
			report("remote_write_miss", sum, bench_n);
		}
	} else if (!strcmp(bench, "pingpong")) {
		p = at(0, 13);
		if (node < 2) {
			t0 = now_ns();
			for (i = 0; i < bench_n; i++) {
				while (ld(p) % 2 != node)
					spin_check(&n, "pingpong");
				st(p, ld(p) + 1);
			}
			if (node == 0) {
				sum = now_ns() - t0;
				printf("pingpong_transfers_per_s=%" PRIu64 "\n",
				       sum ? (uint64_t)2 * bench_n *
						       1000000000u / sum
					   : 0);
			}
		}
	} else if (!strcmp(bench, "seqread")) {
		/* node 0 writes every page of its home past the test
		 * variables; node 1 reads them all in order, every word */
		uint64_t first = home[0].page_first + 1024;
		uint64_t end = home[0].page_first + home[0].page_count, k, i2;
		uint64_t want = 0, got = 0;

		if (node == 0)
			for (k = first; k < end; k++)
				for (i2 = 0; i2 < PG / 8; i2++)
					((volatile uint64_t *)(ram +
							       k * PG))[i2] =
						k * 512 + i2;
		barrier("bench written");
		if (node == 1) {
			t0 = now_ns();
			for (k = first; k < end; k++)
				for (i2 = 0; i2 < PG / 8; i2++) {
					got += ((volatile uint64_t
							 *)(ram + k * PG))[i2];
					want += k * 512 + i2;
				}
			sum = now_ns() - t0;
			if (got != want)
				die(1, "seqread: wrong data");
			printf("seqread_bytes=%" PRIu64 "\nseqread_ns=%" PRIu64
			       "\n",
			       (end - first) * PG, sum);
		}
	} else if (!strcmp(bench, "touch")) {
		/* first touch of every page of our own home past the test
		 * variables, one write each; then the same over a memfd of
		 * ours that no pager watches, as a VM without one has it */
		uint64_t first = home[node].page_first + 1024;
		uint64_t end = home[node].page_first + home[node].page_count;
		uint64_t k, np = end > first ? end - first : 0;
		uint8_t *plain;
		int fd;

		t0 = now_ns();
		for (k = first; k < end; k++)
			*(volatile uint64_t *)(ram + k * PG) = k;
		sum = now_ns() - t0;
		if (node == 0) {
			printf("touch_pages=%" PRIu64 "\n", np);
			report("touch", sum, (unsigned)np);
		}
		fd = memfd_create("plain", MFD_CLOEXEC);
		if (fd < 0 || ftruncate(fd, (off_t)(np * PG)) < 0)
			die(71, "memfd: %s", strerror(errno));
		plain = mmap(NULL, np * PG, PROT_READ | PROT_WRITE, MAP_SHARED,
			     fd, 0);
		if (plain == MAP_FAILED)
			die(71, "mmap: %s", strerror(errno));
		t0 = now_ns();
		for (k = 0; k < np; k++)
			*(volatile uint64_t *)(plain + k * PG) = k;
		sum = now_ns() - t0;
		if (node == 0)
			report("plain_touch", sum, (unsigned)np);
		munmap(plain, np * PG);
		close(fd);
	} else if (!strcmp(bench, "bulk")) {
		/* after the threads: bench_bulk() */
	} else {
		die(64, "--bench: unknown mode '%s'", bench);
	}
	barrier("bench done");
	__atomic_fetch_add(&workers_done, 1, __ATOMIC_SEQ_CST);
	return NULL;
}

/* PG_STREAM over a second connection: pages from node 1 over bulk. */
static void
bench_bulk(void)
{
	struct wire_hello mine, peer;
	struct pager_stream s = { .node = 1, .first = 0, .count = npages };
	uint8_t buf[WIRE_ERROR_MAX];
	char path[4096];
	struct wire_hdr h;
	uint16_t version;
	int fd, rc;

	if (node != 0 || nodes < 2)
		return;
	pager_sock_path(vm, path, sizeof(path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	{
		struct sockaddr_un sa = { .sun_family = AF_UNIX };

		if (strlen(path) >= sizeof(sa.sun_path))
			die(64, "path too long");
		memcpy(sa.sun_path, path, strlen(path) + 1);
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			die(69, "connect '%s': %s", path, strerror(errno));
	}
	wire_hello_init(&mine, WIRE_ROLE_CLIENT, 0, 0, vm);
	rc = wire_handshake(fd, &mine, &peer, &version, 5000, NULL);
	if (rc < 0)
		die(69, "handshake: %s", strerror(-rc));
	pager_stream_encode(&s, buf, sizeof(buf));
	rc = wire_send(fd, WIRE_T_PG_STREAM, 0, 7, buf, WIRE_PG_STREAM_SIZE);
	if (rc == 0)
		rc = wire_recv(fd, &h, buf, sizeof(buf), timeout_ms);
	if (rc < 0 || (h.flags & WIRE_F_ERROR))
		die(69, "stream: %s", rc < 0 ? strerror(-rc) : "refused");
	printf("bulk_bytes=%" PRIu64 "\nbulk_ns=%" PRIu64 "\n", wire_get64(buf),
	       wire_get64(buf + 8));
	close(fd);
}

/* --- main ---------------------------------------------------------------- */

/* Every node's home: the placement of --home-sizes, or equal blocks. */
static int
place_homes(void)
{
	struct placement_in in = { nodes, 0, mem_bytes, NULL, NULL };
	uint64_t size[PAGER_MAX_NODES];
	char buf[1024], *tok, *save = NULL, why[256];
	uint32_t i = 0;

	if (home_sizes) {
		snprintf(buf, sizeof(buf), "%s", home_sizes);
		for (tok = strtok_r(buf, ",", &save); tok && i < nodes;
		     tok = strtok_r(NULL, ",", &save), i++)
			if (size_parse(tok, &size[i]) < 0)
				return -1;
		if (i != nodes || tok)
			return -1;
		in.node_mem_bytes = size;
	}
	if (placement_compute(&in, home, why, sizeof(why)) < 0) {
		fprintf(stderr, "avm-pager-client: %s\n", why);
		return -1;
	}
	for (i = 0; i < nodes; i++)
		if (home[i].page_count < 16 + 400)
			return -1;
	return 0;
}

static void
usage(FILE *f)
{
	fprintf(f, "usage: avm-pager-client --vm NAME --node I --nodes N "
		   "--memory SIZE\n"
		   "       [--home-sizes LIST] [--threads T] [--rounds R] "
		   "[--iters K] "
		   "[--tests mp,sb,xadd,lock,false,soak,pingpong,"
		   "verify-pattern,write-pattern,idle,readahead]\n"
		   "       [--pattern zero|random|counter|mixed [--seed N]] "
		   "[--linger-ms MS]\n"
		   "       [--linger-until FILE] [--soak-ms MS] [--page-offset "
		   "BYTES] [--timeout-ms "
		   "MS] [--bench "
		   "zero|read|write|"
		   "pingpong|bulk|touch|seqread [--count N]]\n");
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "vm", required_argument, NULL, 'n' },
		{ "node", required_argument, NULL, 'i' },
		{ "nodes", required_argument, NULL, 'N' },
		{ "memory", required_argument, NULL, 'm' },
		{ "home-sizes", required_argument, NULL, 'H' },
		{ "threads", required_argument, NULL, 't' },
		{ "rounds", required_argument, NULL, 'r' },
		{ "iters", required_argument, NULL, 'k' },
		{ "tests", required_argument, NULL, 'T' },
		{ "timeout-ms", required_argument, NULL, 'd' },
		{ "bench", required_argument, NULL, 'b' },
		{ "count", required_argument, NULL, 'c' },
		{ "soak-ms", required_argument, NULL, 's' },
		{ "page-offset", required_argument, NULL, 'P' },
		{ "pattern", required_argument, NULL, 'p' },
		{ "seed", required_argument, NULL, 'S' },
		{ "linger-ms", required_argument, NULL, 'L' },
		{ "linger-until", required_argument, NULL, 'U' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	uint64_t t_start = now_ns();
	struct pager_attach a;
	struct pager_ready ready;
	struct worker *w;
	char why[512];
	uint64_t v;
	int c, memfd, uffd;
	uint32_t i;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			vm = optarg;
			break;
		case 'i':
		case 'N':
		case 't':
		case 'r':
		case 'k':
		case 'd':
		case 'c':
		case 's':
			if (uint_parse(optarg, c == 'N' || c == 't' ? 1 : 0,
				       1u << 30, &v) < 0) {
				usage(stderr);
				return 64;
			}
			if (c == 's')
				soak_given = 1;
			if (c == 'i')
				node = (uint32_t)v;
			else if (c == 'N')
				nodes = (uint32_t)v;
			else if (c == 't')
				threads = (uint32_t)v;
			else if (c == 'r')
				rounds = (unsigned)v;
			else if (c == 'k')
				iters = (unsigned)v;
			else if (c == 'd')
				timeout_ms = (int)v;
			else if (c == 's')
				soak_ms = (unsigned)v;
			else
				bench_n = v > 200 ? 200 : (unsigned)v;
			break;
		case 'm':
			if (size_parse(optarg, &mem_bytes) < 0 ||
			    mem_bytes % (2 * PG)) {
				usage(stderr);
				return 64;
			}
			break;
		case 'P':
			if (size_parse(optarg, &pp_offset) < 0 ||
			    pp_offset % PG) {
				usage(stderr);
				return 64;
			}
			break;
		case 'T':
			tests = optarg;
			break;
		case 'p':
			pattern = pattern_parse(optarg);
			if (pattern < 0) {
				usage(stderr);
				return 64;
			}
			break;
		case 'S':
		case 'L':
			if (uint_parse(optarg, 0,
				       c == 'L' ? 3600000 : UINT64_MAX,
				       &v) < 0) {
				usage(stderr);
				return 64;
			}
			if (c == 'S')
				pattern_seed = v;
			else
				linger_ms = (unsigned)v;
			break;
		case 'H':
			home_sizes = optarg;
			break;
		case 'U':
			linger_file = optarg;
			break;
		case 'b':
			bench = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 64;
		}
	}
	npages = mem_bytes / PG;
	if (node >= nodes || nodes > PAGER_MAX_NODES || place_homes() < 0 ||
	    nodes * threads > 512) {
		fprintf(stderr,
			"avm-pager-client: node below nodes, at most "
			"%u nodes, at least 416 pages a node, at most "
			"512 threads\n",
			PAGER_MAX_NODES);
		return 64;
	}
	if (pp_offset != UINT64_MAX && pp_offset >= mem_bytes) {
		fprintf(stderr, "avm-pager-client: --page-offset is past "
				"--memory\n");
		return 64;
	}
	if (rounds == 0)
		rounds = 1;
	deadline = now_ns() + (uint64_t)timeout_ms * 1000000u;

	memfd = memfd_create("avm-pager-client", MFD_CLOEXEC);
	if (memfd < 0 || ftruncate(memfd, (off_t)mem_bytes) < 0)
		die(71, "memfd: %s", strerror(errno));
	ram = mmap(NULL, mem_bytes, PROT_READ | PROT_WRITE,
		   MAP_SHARED | MAP_NORESERVE, memfd, 0);
	if (ram == MAP_FAILED)
		die(71, "mmap guest RAM: %s", strerror(errno));
	madvise(ram, mem_bytes, MADV_DONTFORK);
	if (want("write-pattern") && pattern < 0)
		die(64, "write-pattern needs --pattern");
	if (want("verify-pattern") && want("write-pattern"))
		die(64, "verify-pattern and write-pattern: one at a time");
	if (pattern >= 0 && want("verify-pattern")) {
		uint64_t bp, bw;

		page_word(at(0, 0), &bp, &bw);
		bar_base = pattern_word(pattern, pattern_seed, bp, bw);
	}
	uffd = pager_uffd_open();
	if (uffd < 0)
		die(69, "userfaultfd: %s", strerror(-uffd));
	c = pager_uffd_register(uffd, ram, mem_bytes);
	if (c < 0)
		die(69, "register guest RAM: %s", strerror(-c));
	/* Two slots with a hole between, like RAM below and above 4G. */
	slots[0] = (struct pager_slot){ 0, mem_bytes / 2, 0, (uintptr_t)ram };
	slots[1] =
		(struct pager_slot){ 1ull << 32, mem_bytes / 2, mem_bytes / 2,
				     (uintptr_t)ram + mem_bytes / 2 };
	a = (struct pager_attach){ .vm = vm,
				   .node = node,
				   .nodes = nodes,
				   .memfd = memfd,
				   .uffd = uffd,
				   .mem_bytes = mem_bytes,
				   .slots = slots,
				   .nslots = 2,
				   .timeout_ms = 60000 };
	pager_sock_path(vm, sock_path, sizeof(sock_path));
	if (pager_attach(&a, &ready, &ctl, why, sizeof(why)) < 0)
		die(69, "attach to the pager: %s", why);
	if (want("idle"))
		say("ready in %.1f ms", (double)(now_ns() - t_start) / 1e6);
	/* The litmus variables sit in the homes we think the nodes have:
	 * the pager must agree. */
	if (ready.home_first != home[node].page_first ||
	    ready.home_pages != home[node].page_count)
		die(1,
		    "the pager is home of %" PRIu64 " pages from %" PRIu64
		    ", the placement says %" PRIu64 " from %" PRIu64,
		    ready.home_pages, ready.home_first, home[node].page_count,
		    home[node].page_first);
	close(uffd);

	w = calloc(threads, sizeof(*w));
	if (bench)
		threads = 1;
	for (i = 0; i < threads; i++) {
		w[i].tid = i;
		w[i].g = node * threads + i;
		if (pthread_create(&w[i].t, NULL,
				   bench ? bench_main : worker_main, &w[i]))
			die(71, "pthread_create");
	}
	while (__atomic_load_n(&workers_done, __ATOMIC_SEQ_CST) <
	       (int)threads) {
		struct pollfd pfd = { .fd = link_fd(ctl), .events = POLLIN };

		if (poll(&pfd, 1, 100) > 0) {
			c = pager_check(ctl, why, sizeof(why));
			if (c == -EPIPE)
				die(69, "stopping: node %u failed: %s", node,
				    why);
			if (c < 0)
				die(69, "stopping: %s", why);
		}
	}
	for (i = 0; i < threads; i++)
		pthread_join(w[i].t, NULL);
	for (uint64_t end = now_ns() + (uint64_t)linger_ms * 1000000u;
	     now_ns() < end ||
	     (linger_file && access(linger_file, F_OK) < 0);) {
		if (now_ns() > deadline)
			die(70, "waited past the deadline for '%s'",
			    linger_file);
		struct pollfd pfd = { .fd = link_fd(ctl), .events = POLLIN };

		if (poll(&pfd, 1, 100) > 0 &&
		    (c = pager_check(ctl, why, sizeof(why))) < 0)
			die(69, "stopping: %s", why);
	}
	if (bench && !strcmp(bench, "bulk"))
		bench_bulk();
	/* Everyone passed the last barrier: nobody needs our pages now
	 * except through the pagers, which stay until all detach. */
	pager_detach(ctl);
	free(w);
	if (!bench)
		say("%s", failed ? "FAIL" : "PASS");
	return failed ? 1 : 0;
}
