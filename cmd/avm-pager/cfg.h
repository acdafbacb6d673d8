/*
 * avm-pager's configuration: filled once by main.c from the command
 * line, then read (never written) by every module it hands it to.
 *
 * The modules of avm-pager form a tree; each header includes only those
 * below it:
 *
 *	main.c    options, wiring, the event loop
 *	  fault.c   the coherence protocol: faults, grants, invalidations,
 *	            and the restore's background loader
 *	  stream.c  bulk page streams (the bulk links)
 *	  gather.c  the other nodes' stats to node 0 (the bulk links)
 *	  save.c    a snapshot's memory, each node its part (the bulk
 *	            links; fault.c fetches the pages a home lacks)
 *	    net.c     the links to the other pagers and pager.sock
 *	              (conn.c: the connections in the loop)
 *	    mem.c     the client's guest RAM: uffd and memfd operations
 *	    dir.c     the home directory (pure)
 *	    restore.c the snapshot home pages start from (--restore)
 *	      stats.c   the stats file
 *	      fail.c    ending the process with a message
 *	      cfg.h     this
 *
 * A lower module tells a higher one about events through the callbacks
 * the higher one registers (net_ops, mem's on_fault), never by name.
 */
#ifndef AVM_PAGER_CFG_H
#define AVM_PAGER_CFG_H

#include <stdint.h>

#include "avm/auth.h"
#include "avm/pager.h"
#include "avm/wire.h"

struct pager_cfg {
	char vm[WIRE_VM_NAME_LEN];
	uint32_t node, nodes;
	uint64_t mem_bytes, npages;
	uint64_t home_first[PAGER_MAX_NODES], home_pages[PAGER_MAX_NODES];
	char peer_addr[PAGER_MAX_NODES][80]; /* ADDR:PORT from --peers */
	char listen_addr[80];
	uint8_t key[AUTH_KEY_LEN];
	int have_key;
	int heartbeat_ms, dead_ms, connect_ms, attach_ms;
	int stats_ms; /* node 0 gathers every stats_ms; 0: never */
	int json;
	char rundir[4096], sock_path[4200], stats_path[4200];
	char restore[4096];    /* --restore FILE; "" none */
	int eager;	       /* --eager: every home page before READY */
	uint64_t restore_rate; /* --restore-rate MiB/s; 0: no limit */
	uint64_t zero_block;   /* --zero-block: pages a first touch takes */
	unsigned poll_us;      /* --poll-us: busy-poll after an event */
	uint64_t prefetch;     /* --prefetch: read-ahead window, pages */
};

/* The node that is home of page (0 for a page past every home). */
static inline uint32_t
cfg_home_of(const struct pager_cfg *cfg, uint64_t page)
{
	uint32_t i;

	for (i = 0; i < cfg->nodes; i++)
		if (page >= cfg->home_first[i] &&
		    page - cfg->home_first[i] < cfg->home_pages[i])
			return i;
	return 0;
}

#endif
