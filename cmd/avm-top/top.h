/*
 * avm-top: what the modules share.
 *
 * sample.c reads one VM's stats files (every node: its own files when it
 * runs on this host, else the copies node 0's pager gathered) into a
 * struct sample; frame.c turns two samples into a struct frame (counters
 * and the rates between them, sorted tables); text.c writes a frame as
 * lines (batch mode, and the screen), json.c as one NDJSON document;
 * tui.c is the screen with its keys; list.c the VMs of this host.
 */
#ifndef AVM_TOP_H
#define AVM_TOP_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "avm/pager.h"
#include "avm/runstats.h"

#define PROG "avm-top"
#define TOP_NODES_MAX PAGER_MAX_NODES

/* Where a node's numbers came from. */
enum src {
	SRC_NONE,     /* no file yet (or it went away) */
	SRC_LOCAL,    /* its own file on this host */
	SRC_GATHERED, /* node 0's copy */
};

struct node_sample {
	enum src pager_src, run_src;
	int alive;     /* local: its process lives; gathered: copy fresh */
	double age;    /* gathered: seconds since the copy came */
	uint64_t t_ns; /* when the numbers were taken (wall clock): read
			  here, or the gathered copy's arrival at node 0 */
	struct pager_stats ps;
	struct run_stats *rs; /* NULL: no run stats for this node */
	/* The older numbers rates are taken against (sample_carry): the
	 * previous sample's, or for a gathered copy that has not changed
	 * since, the copy before it. */
	int has_base;
	uint64_t base_t_ns;
	enum src base_src;
	struct pager_stats base_ps;
	struct run_stats *base_rs;
};

struct sample {
	uint64_t wall_ns;
	double proc_uptime; /* seconds a local process of the VM has run */
	uint32_t nodes;
	struct node_sample node[TOP_NODES_MAX];
};

/*
 * Reads VM vm's files into s (freed with sample_free).  Returns 0;
 * -ENOENT when the VM has no folder or no stats file of a live process
 * on this host (it does not run here, or it ended); -EPROTO when a file
 * is bad (why names it: status 65).
 */
int sample_read(const char *vm, struct sample *s, char *why, size_t whylen);
/*
 * Gives cur its rate bases from prev, the sample before it of the same
 * VM.  Returns 0 or -ENOMEM.
 */
int sample_carry(struct sample *cur, const struct sample *prev);
void sample_free(struct sample *s);

/* One vCPU row. */
struct vcpu_row {
	uint32_t index, node, tid, apic_id;
	uint32_t state;
	uint64_t exits, exits_by[RUN_EXITS], irqs, ipis_local, ipis_remote,
		io_forwarded;
	double exits_s, irqs_s;
	uint64_t kvm_have, kvm[RUN_KVM_STATS];
};

struct node_row {
	uint32_t node;
	enum src src;
	int alive;
	double age;
	uint64_t t_ns;	 /* when its numbers were taken */
	double interval; /* seconds its rates are over; 0: no rates yet */
	uint32_t pid, vcpus;
	uint64_t exits, faults[PAGER_F_KINDS], faults_total;
	double exits_s, faults_s, lat_avg_ns; /* over the interval */
	uint64_t lat_hist[PAGER_STATS_HIST], lat_count, lat_sum_ns;
	uint64_t home_pages, pages_owned, pages_shared, faults_in_flight;
	uint64_t invals_sent, invals_received, requests_served;
	uint64_t bytes_sent, bytes_received, pages_sent, pages_received;
	uint64_t restore_pages, restored_fault, restored_background;
	uint64_t zero_block_pages, prefetch_sent, prefetch_installed;
	uint64_t prefetch_dropped, save_parts, save_fetched, save_held;
	double invals_s, tx_s, rx_s;
};

struct link_row {
	uint32_t from, to;
	uint64_t bytes_sent, bytes_received, frames_sent, frames_received;
	uint64_t rtt_ns;
	double tx_s, rx_s;
};

struct hot_row {
	uint64_t gpa, page, transfers, nodes;
	uint32_t home, last_node, last_tid;
	int last_vcpu; /* -1: not known */
	double transfers_s;
};

struct frame {
	const char *vm;
	const char *state; /* starting, running, paused, stopping, ended */
	double interval;   /* seconds between the two samples */
	uint64_t wall_ns;
	double uptime; /* seconds, < 0 unknown */
	uint32_t nodes, nodes_seen, vcpus_total;
	uint64_t mem_bytes;
	double exits_s, faults_s, fabric_s;
	uint64_t exits, faults;
	struct node_row *node;
	size_t nnode;
	struct vcpu_row *vcpu;
	size_t nvcpu;
	struct link_row *link;
	size_t nlink;
	struct hot_row *hot;
	size_t nhot;
};

/* The view's choices, from the options and the keys. */
struct view {
	int show_vcpus;	 /* the per-vCPU rows (key 1) */
	int node_filter; /* -1: every node */
	int sort_col;	 /* of the vCPU table when shown, else the nodes' */
	int sort_asc;
	int hot_max; /* rows of the hot table */
};

/*
 * Builds f from the sample cur, its rates against each node's base
 * (sample_carry; none: rates 0).  Returns 0 or -ENOMEM.  f owns its
 * arrays (frame_free).
 */
int frame_build(struct frame *f, const char *vm, const struct sample *cur,
		const struct view *v);
void frame_free(struct frame *f);

/* The sortable columns of the vCPU and the node table. */
struct col {
	const char *name;
	int width;
};
extern const struct col vcpu_cols[];
extern const size_t vcpu_ncols;
extern const struct col node_cols[];
extern const size_t node_ncols;

/* Writes the frame as text lines, each through put(ctx, line). */
typedef void (*put_fn)(void *ctx, const char *line);
void text_frame(const struct frame *f, const struct view *v, int paused,
		put_fn put, void *ctx);
/* One NDJSON document; returns 0 or -1 with errno. */
int json_frame(FILE *out, const struct frame *f);

/* The VMs of this host: list mode.  list_read reads every VM, each
 * one's rates against its sample in prev (NULL: none). */
struct vm_list;
struct vm_list *list_read(const struct vm_list *prev, char *why, size_t whylen);
void list_free(struct vm_list *l);
void list_text(const struct vm_list *cur, put_fn put, void *ctx);
int list_json(FILE *out, const struct vm_list *cur);

/* The screen (tui.c).  Returns the exit status. */
struct top_opts {
	const char *vm;
	double delay;
	long frames; /* 0: until q */
	struct view view;
};
int tui_run(struct top_opts *o);

/* Seconds as "1:02:03" or "3d 04:05". */
void fmt_uptime(double s, char *buf, size_t len);

#endif
