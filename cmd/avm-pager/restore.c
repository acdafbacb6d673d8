/* The snapshot as the home's backing store; see restore.h. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "avm/log.h"
#include "avm/util.h"
#include "fail.h"
#include "restore.h"

void
restore_open(struct restore *r, const struct pager_cfg *cfg)
{
	const struct snap_info *in;
	char why[512];

	memset(r, 0, sizeof(*r));
	r->cfg = cfg;
	r->snap = snap_open(cfg->restore, why, sizeof(why));
	if (!r->snap)
		pager_fail(errno == EBADMSG ? AVM_EX_DATAERR : AVM_EX_NOINPUT,
			   "--restore '%s': %s", cfg->restore, why);
	in = snap_info(r->snap);
	if (in->mem_bytes != cfg->mem_bytes)
		pager_fail(AVM_EX_DATAERR,
			   "--restore '%s': a snapshot of %" PRIu64
			   " bytes of memory, this pager has --memory %" PRIu64,
			   cfg->restore, in->mem_bytes, cfg->mem_bytes);
	r->first = cfg->home_first[cfg->node];
	r->npages = cfg->home_pages[cfg->node];
	r->left = r->npages;
	r->taken = calloc(r->npages / 64 + 1, sizeof(*r->taken));
	if (!r->taken)
		pager_fail(AVM_EX_OSERR, "out of memory");
}

void
restore_start(struct restore *r, struct pager_stats *st)
{
	r->st = st;
	r->t0 = now_ns();
	st->restore_pages = r->npages;
	log_info("restoring home pages %" PRIu64 "..%" PRIu64
		 " from '%s' (%" PRIu32 " nodes, %" PRIu64 " bytes)%s",
		 r->first, r->first + r->npages, r->cfg->restore,
		 snap_info(r->snap)->nodes, snap_info(r->snap)->mem_bytes,
		 r->cfg->eager ? ", all of them before the client runs" : "");
}

int
restore_untaken(const struct restore *r, uint64_t page)
{
	uint64_t i = page - r->first;

	if (page < r->first || i >= r->npages)
		return 0;
	return !(r->taken[i / 64] & (1ull << (i % 64)));
}

static int
all_zero(const uint8_t *p)
{
	const uint64_t *w = (const uint64_t *)p;
	size_t i;

	for (i = 0; i < PAGER_PAGE_SIZE / 8; i++)
		if (w[i])
			return 0;
	return 1;
}

int
restore_take(struct restore *r, uint64_t page, uint8_t *buf,
	     enum restore_how how)
{
	uint64_t i = page - r->first;
	char why[400];

	if (!restore_untaken(r, page))
		pager_fail(AVM_EX_SOFTWARE,
			   "restore: page %" PRIu64 " taken twice", page);
	/*
	 * The chunk first: it is what a user looks for, and the message
	 * may be cut to the wire's 250 bytes.
	 */
	if (snap_read_page(r->snap, page * PAGER_PAGE_SIZE, buf, why,
			   sizeof(why)) < 0)
		pager_fail(errno == EBADMSG ? AVM_EX_DATAERR
					    : AVM_EX_UNAVAILABLE,
			   "restore: %s (page %" PRIu64 " of '%s', %s)", why,
			   page, r->cfg->restore,
			   how == RESTORE_FAULT ? "on its first touch"
						: "in the background");
	r->taken[i / 64] |= 1ull << (i % 64);
	r->left--;
	if (how == RESTORE_FAULT)
		r->st->restored_fault++;
	else
		r->st->restored_background++;
	if (all_zero(buf))
		return 0;
	r->bytes += PAGER_PAGE_SIZE;
	return 1;
}

uint64_t
restore_next(struct restore *r)
{
	uint64_t w;

	while (r->left && r->cursor < r->npages) {
		w = r->taken[r->cursor / 64] >> (r->cursor % 64);
		if (!(w & 1))
			return r->first + r->cursor;
		/* skip the taken run of this word */
		r->cursor += w == ~0ull >> (r->cursor % 64)
				     ? 64 - r->cursor % 64
				     : (uint64_t)__builtin_ctzll(~w);
	}
	return UINT64_MAX;
}

uint64_t
restore_budget(struct restore *r, uint64_t now)
{
	uint64_t pages;

	if (!r->cfg->restore_rate)
		return UINT64_MAX;
	if (!r->t_loader)
		r->t_loader = now;
	/* MiB/s is 256 pages every second, or one every 3.9 ms a MiB/s. */
	pages = (now - r->t_loader) /
			(1000000000ull / 256 / r->cfg->restore_rate) +
		1;
	return pages > r->st->restored_background
		       ? pages - r->st->restored_background
		       : 0;
}

int
restore_done(const struct restore *r)
{
	return r->left == 0;
}

void
restore_progress(struct restore *r)
{
	uint64_t now = now_ns(), done = r->npages - r->left;
	double s = (double)(now - r->t0) / 1e9, mib, total, rate;

	if (!isatty(STDERR_FILENO))
		return;
	if (r->left && now - r->t_shown < 200000000ull)
		return;
	if (!r->left && !r->shown)
		return; /* too quick to need one */
	r->t_shown = now;
	r->shown = 1;
	mib = (double)done * PAGER_PAGE_SIZE / (1 << 20);
	total = (double)r->npages * PAGER_PAGE_SIZE / (1 << 20);
	rate = s > 0 ? mib / s : 0;
	fprintf(stderr, "\ravm-pager[%u]: restore %.1f of %.1f MiB, %.1f MiB/s",
		r->cfg->node, mib, total, rate);
	if (r->left)
		fprintf(stderr, ", %.1f s left  ",
			rate > 0 ? (total - mib) / rate : 0.0);
	else
		fprintf(stderr, ", done in %.1f s\n", s);
}
