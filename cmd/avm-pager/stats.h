/*
 * The stats file <rundir>/<vm>/pager-<node>.stats (layout in
 * include/avm/pager.h): created and mapped here; the modules bump its
 * counters directly and wrap the gauges and the hot table in
 * stats_seq_begin()/stats_seq_end().
 */
#ifndef AVM_PAGER_STATS_H
#define AVM_PAGER_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "cfg.h"

/* Creates and maps the file; ends the pager when it cannot. */
struct pager_stats *stats_open(const struct pager_cfg *cfg,
			       size_t dir_entry_bytes);
void stats_seq_begin(struct pager_stats *st);
void stats_seq_end(struct pager_stats *st);
/* One resolved fault's latency into the log2 histogram. */
void stats_lat(struct pager_stats *st, uint64_t ns);

#endif
