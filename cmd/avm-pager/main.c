/*
 * avm-pager: one per node per VM; keeps guest RAM coherent across the
 * nodes (distributed shared memory over userfaultfd).  man/avm-pager.8
 * says what it does from the outside; daemon.h how it is cut up.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <pthread.h>
#include <unistd.h>

#include "avm/config.h"
#include "avm/emit.h"
#include "avm/log.h"
#include "avm/opt.h"
#include "avm/placement.h"
#include "avm/util.h"
#include "fail.h"
#include "fault.h"
#include "gather.h"
#include "mem.h"
#include "net.h"
#include "restore.h"
#include "save.h"
#include "stats.h"
#include "stream.h"

/* The whole pager: each module's state, wired together here. */
struct pager {
	struct pager_cfg cfg;
	struct pager_stats *st;
	struct mem mem;
	struct net net;
	struct fault fault;
	struct stream stream;
	struct gather gather;
	struct save save;
	struct restore restore;
	int restoring;	  /* --restore */
	int restore_said; /* its end was logged */
	int epfd, timer_fd;
};

static struct pager P;
static const struct pager_cfg *const C = &P.cfg;

static int sig_fd = -1;
static char lock_path[4200];
static int lock_fd = -1;

/* fail.h's hook: tell the peers and the client why, or say BYE. */
static void
on_exit_hook(void *ctx, const char *msg)
{
	struct pager *p = ctx;

	/* Only what we made: a loser of the lock made nothing. */
	if (lock_fd < 0)
		return;
	if (p->st)
		unlink(C->stats_path);
	gather_remove(&p->gather);
	if (p->save.cfg)
		save_abandon(&p->save, msg);
	if (p->net.cfg) {
		net_notify_all(&p->net, msg);
		if (p->net.ctl_fd >= 0)
			unlink(C->sock_path);
	}
	unlink(lock_path);
}

/* Everyone's client detached: say BYE and go. */
static void
on_done(void *ctx)
{
	struct pager *p = ctx;
	uint32_t i;

	if (!p->net.detached)
		return;
	for (i = 0; i < C->nodes; i++)
		if (i != C->node && !net_peer_done(&p->net, i))
			return;
	for (i = 0; i < C->nodes; i++) {
		struct conn *c[2] = { net_fault_link(&p->net, i),
				      net_bulk_link(&p->net, i) };

		for (int k = 0; k < 2; k++)
			if (c[k])
				c[k]->bye = 1;
	}
	log_info("every node is done: faults zero %llu, local %llu, read "
		 "%llu, write %llu, upgrade %llu, spurious %llu; pages sent "
		 "%llu, received %llu",
		 (unsigned long long)p->st->faults[PAGER_F_ZERO],
		 (unsigned long long)p->st->faults[PAGER_F_LOCAL],
		 (unsigned long long)p->st->faults[PAGER_F_READ],
		 (unsigned long long)p->st->faults[PAGER_F_WRITE],
		 (unsigned long long)p->st->faults[PAGER_F_UPGRADE],
		 (unsigned long long)p->st->faults[PAGER_F_SPURIOUS],
		 (unsigned long long)p->st->pages_sent,
		 (unsigned long long)p->st->pages_received);
	if (p->st->save_parts)
		log_info("saved %llu parts: %llu pages fetched back first, "
			 "%llu requests held back meanwhile",
			 (unsigned long long)p->st->save_parts,
			 (unsigned long long)p->st->save_fetched,
			 (unsigned long long)p->st->save_held);
	if (p->st->prefetch_sent || p->st->prefetch_installed ||
	    p->st->prefetch_dropped)
		log_info("read-ahead: %llu copies sent as home; %llu received "
			 "and installed, %llu dropped (held already)",
			 (unsigned long long)p->st->prefetch_sent,
			 (unsigned long long)p->st->prefetch_installed,
			 (unsigned long long)p->st->prefetch_dropped);
	if (p->restoring)
		log_info("restored from the snapshot: %llu of %llu home pages, "
			 "%llu on fault, %llu in the background",
			 (unsigned long long)(p->st->restored_fault +
					      p->st->restored_background),
			 (unsigned long long)p->st->restore_pages,
			 (unsigned long long)p->st->restored_fault,
			 (unsigned long long)p->st->restored_background);
	/* BYE on every link (short deadline), then leave. */
	pager_exit(AVM_EX_OK);
}

static void
on_ready(void *ctx, const struct pager_ready *r)
{
	struct emit e;

	(void)ctx;
	if (!C->json) {
		printf("avm-pager: vm '%s' node %u of %u ready: home of "
		       "pages %llu..%llu, stats in %s\n",
		       C->vm, r->node, r->nodes,
		       (unsigned long long)r->home_first,
		       (unsigned long long)(r->home_first + r->home_pages),
		       C->stats_path);
		fflush(stdout);
		return;
	}
	emit_init(&e, stdout, EMIT_JSON, 0);
	emit_map_begin(&e);
	emit_kv_str(&e, "vm", C->vm);
	emit_kv_uint(&e, "node", r->node);
	emit_kv_uint(&e, "nodes", r->nodes);
	emit_kv_uint(&e, "home_first_page", r->home_first);
	emit_kv_uint(&e, "home_pages", r->home_pages);
	emit_kv_str(&e, "stats", C->stats_path);
	emit_map_end(&e);
	if (emit_finish(&e) < 0)
		log_warn("ready line: %s", strerror(errno));
}

static void
on_fault_frame(void *ctx, struct conn *c, const struct wire_hdr *h,
	       const uint8_t *p)
{
	fault_on_frame(&((struct pager *)ctx)->fault, c, h, p);
}

static void
on_bulk_frame(void *ctx, struct conn *c, const struct wire_hdr *h,
	      const uint8_t *p)
{
	struct pager *pg = ctx;

	if (h->type == WIRE_T_PG_STATS_REQ || h->type == WIRE_T_PG_STATS)
		gather_on_frame(&pg->gather, c, h, p);
	else if (h->type == WIRE_T_PG_SAVE_PART ||
		 h->type == WIRE_T_PG_SAVE_PART_DONE)
		save_on_frame(&pg->save, c, h, p);
	else
		stream_on_frame(&pg->stream, c, h, p);
}

static int
on_attach(void *ctx, const struct pager_layout *l, int memfd, int uffd,
	  char *why, size_t len)
{
	struct pager *p = ctx;
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };
	int rc;

	if (mem_attached(&p->mem)) {
		snprintf(why, len, "a client is attached already");
		return -EBUSY;
	}
	rc = mem_attach(&p->mem, l, memfd, uffd, why, len);
	if (rc < 0)
		return rc;
	/* The uffd's tag is NULL: see loop(). */
	if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, uffd, &ev) < 0)
		pager_fail(AVM_EX_OSERR, "epoll uffd: %s", strerror(errno));
	return 0;
}

static void
on_detach(void *ctx)
{
	mem_detach(&((struct pager *)ctx)->mem);
}

static int
on_stream(void *ctx, struct conn *tool, uint64_t id,
	  const struct pager_stream *s)
{
	return stream_start(&((struct pager *)ctx)->stream, tool, id, s);
}

static int
on_save(void *ctx, struct conn *tool, uint64_t id,
	const struct savemsg_req *req, struct wire_error *e)
{
	return save_start(&((struct pager *)ctx)->save, tool, id, req, e);
}

static void
on_tool_gone(void *ctx, struct conn *tool)
{
	stream_tool_gone(&((struct pager *)ctx)->stream, tool);
	save_tool_gone(&((struct pager *)ctx)->save, tool);
}

static const struct net_ops net_ops = {
	.fault_frame = on_fault_frame,
	.bulk_frame = on_bulk_frame,
	.attach = on_attach,
	.detach = on_detach,
	.stream = on_stream,
	.save = on_save,
	.tool_gone = on_tool_gone,
	.ready = on_ready,
	.done = on_done,
};

enum {
	OPT_VM = 256,
	OPT_MEMORY,
	OPT_NODE,
	OPT_NODES,
	OPT_PEERS,
	OPT_LISTEN,
	OPT_SECRET,
	OPT_HOME_SIZES,
	OPT_HEARTBEAT_MS,
	OPT_DEAD_MS,
	OPT_CONNECT_MS,
	OPT_ATTACH_MS,
	OPT_STATS_MS,
	OPT_RESTORE,
	OPT_EAGER,
	OPT_RESTORE_RATE,
	OPT_ZERO_BLOCK,
	OPT_POLL_US,
	OPT_PREFETCH,
};

/* The options, in help order. */
static const struct opt opts[] = {
	{ "vm", OPT_VM, "NAME", "the VM (names <rundir>/NAME/)" },
	{ "memory", OPT_MEMORY, "SIZE",
	  "guest RAM, the memfd's size (4K "
	  "multiple)" },
	{ "node", OPT_NODE, "I", "this node (0..N-1)" },
	{ "nodes", OPT_NODES, "N", "how many nodes (1..64)" },
	{ "peers", OPT_PEERS, "LIST",
	  "ADDR:PORT of every node, in node order" },
	{ "listen", OPT_LISTEN, "ADDR:PORT",
	  "where to listen\n(default: our entry in --peers)" },
	{ "secret", OPT_SECRET, "FILE",
	  "the VM's secret\n(default <rundir>/NAME/secret)" },
	{ "home-sizes", OPT_HOME_SIZES, "LIST",
	  "bytes each node is home of\n(default: equal)" },
	{ "heartbeat-ms", OPT_HEARTBEAT_MS, "MS",
	  "PING interval (500, or a third of --dead-ms)" },
	{ "dead-ms", OPT_DEAD_MS, "MS", "a silent peer is dead after (3000)" },
	{ "connect-timeout-ms", OPT_CONNECT_MS, "MS",
	  "links up within (30000)" },
	{ "attach-timeout-ms", OPT_ATTACH_MS, "MS",
	  "client attached within\n(60000; 0: none)" },
	{ "stats-ms", OPT_STATS_MS, "MS",
	  "node 0: gather every node's stats this often\n(1000; 0: never)" },
	{ "restore", OPT_RESTORE, "FILE",
	  "home pages start from snapshot FILE, each read\n"
	  "on its first touch, the rest in the background" },
	{ "eager", OPT_EAGER, NULL,
	  "with --restore: read every home page before\n"
	  "the client runs" },
	{ "restore-rate", OPT_RESTORE_RATE, "MIB",
	  "with --restore: the background loader's pace,\n"
	  "MiB/s of home memory (0: as fast as it can)" },
	{ "zero-block", OPT_ZERO_BLOCK, "PAGES",
	  "a first touch of never-touched home memory\n"
	  "maps this many pages around it at once, an\n"
	  "aligned block (1..512; 512: 2 MiB; 1: one)" },
	{ "prefetch", OPT_PREFETCH, "PAGES",
	  "read-ahead: a node whose read misses keep a\n"
	  "stride gets copies of up to this many pages\n"
	  "ahead (0..256; 64; 0: none)" },
	{ "poll-us", OPT_POLL_US, "US",
	  "after an event, poll this long before sleeping\n"
	  "(0..1000; 0: never)" },
	{ "quiet", 'q', NULL, "log only warnings and errors" },
	{ "json", 'j', NULL, "the ready line as JSON" },
	{ "verbose", 'v', NULL, "log debug lines" },
	{ "help", 'h', NULL, "this help" },
	{ "version", 'V', NULL, "print the version" },
};

static void
usage(FILE *f, int full)
{
	fputs("usage: avm-pager --vm NAME --memory SIZE [--node I --nodes N\n"
	      "                 --peers ADDR:PORT,...] [--restore FILE "
	      "[--eager]]\n"
	      "                 [options]\n",
	      f);
	if (!full)
		return;
	opt_help(f, opts, AVM_ARRAY_SIZE(opts));
	exit_usage(f, "avm-pager");
}

static void __attribute__((format(printf, 1, 2), noreturn))
usage_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LVL_ERR, fmt, ap);
	va_end(ap);
	usage(stderr, 0);
	exit(AVM_EX_USAGE);
}

static int
parse_addr(const char *s, struct sockaddr_storage *sa, socklen_t *len)
{
	unsigned n;

	if (addr_parse(s, 0, sa, &n) < 0)
		return -1;
	*len = n;
	return 0;
}

/* A number of unit in min..max for opt, or 64 saying so. */
static uint64_t
parse_num(const char *opt, const char *s, const char *unit, uint64_t min,
	  uint64_t max)
{
	uint64_t v;

	if (uint_parse(s, min, max, &v) < 0)
		usage_fail("%s: '%s' is not a number of %s in %llu..%llu", opt,
			   s, unit, (unsigned long long)min,
			   (unsigned long long)max);
	return v;
}

static int
parse_ms(const char *opt, const char *s, int min)
{
	return (int)parse_num(opt, s, "ms", (uint64_t)min, 3600000);
}

/* Homes: the placement's (avm/placement.h), of --home-sizes or equal. */
static void
parse_homes(const char *list)
{
	char *dup = list ? strdup(list) : NULL, *tok, *save = NULL;
	uint64_t size[PAGER_MAX_NODES];
	struct placement_node pl[PAGER_MAX_NODES];
	struct placement_in in = { P.cfg.nodes, 0, P.cfg.mem_bytes, NULL,
				   NULL };
	char why[256];
	uint32_t i = 0;

	if (list && !dup)
		pager_fail(AVM_EX_OSERR, "out of memory");
	for (tok = list ? strtok_r(dup, ",", &save) : NULL; tok;
	     tok = strtok_r(NULL, ",", &save), i++) {
		if (i >= P.cfg.nodes)
			usage_fail("--home-sizes: more than %u sizes",
				   P.cfg.nodes);
		if (size_parse(tok, &size[i]) < 0)
			usage_fail("--home-sizes: '%s' is not a size", tok);
	}
	free(dup);
	if (list && i != P.cfg.nodes)
		usage_fail("--home-sizes: %u sizes for %u nodes", i,
			   P.cfg.nodes);
	in.node_mem_bytes = list ? size : NULL;
	if (placement_compute(&in, pl, why, sizeof(why)) < 0)
		usage_fail("%s: %s", list ? "--home-sizes" : "--memory", why);
	for (i = 0; i < P.cfg.nodes; i++) {
		P.cfg.home_first[i] = pl[i].page_first;
		P.cfg.home_pages[i] = pl[i].page_count;
	}
}

static void
parse_peers(const char *list)
{
	struct sockaddr_storage sa;
	socklen_t salen;
	char *dup = strdup(list), *tok, *save = NULL;
	uint32_t i = 0;

	for (tok = strtok_r(dup, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save), i++) {
		if (i >= P.cfg.nodes)
			usage_fail("--peers: more than --nodes (%u) entries",
				   P.cfg.nodes);
		snprintf(P.cfg.peer_addr[i], sizeof(P.cfg.peer_addr[i]), "%s",
			 tok);
		if (parse_addr(tok, &sa, &salen) < 0)
			usage_fail("--peers: '%s' is not ADDR:PORT", tok);
	}
	free(dup);
	if (i != P.cfg.nodes)
		usage_fail("--peers: %u entries for %u nodes", i, P.cfg.nodes);
}

/* A run or VM directory another user could plant files in: 77. */
static void
trusted_dir(const char *path)
{
	char why[600];

	if (avm_trusted_dir(path, why, sizeof(why)) < 0)
		pager_fail(errno == EPERM || errno == ENOTDIR
				   ? AVM_EX_NOPERM
				   : AVM_EX_CANTCREAT,
			   "%s", why);
}

/*
 * One pager per node of a VM: the lock is held for the pager's life,
 * taken before anything in the VM's folder is touched, so a second
 * pager of the same name changes nothing and exits 75.
 */
static void
take_lock(void)
{
	lock_fd = avm_lock_file(lock_path);
	if (lock_fd < 0 && errno == EWOULDBLOCK)
		pager_fail(AVM_EX_TEMPFAIL,
			   "vm '%s' node %u: another avm-pager holds '%s'",
			   P.cfg.vm, P.cfg.node, lock_path);
	if (lock_fd < 0)
		pager_fail(AVM_EX_CANTCREAT, "lock '%s': %s", lock_path,
			   strerror(errno));
}

static void
epoll_add(int fd, void *tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = tag };

	if (epoll_ctl(P.epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		pager_fail(AVM_EX_OSERR, "epoll_ctl: %s", strerror(errno));
}

/*
 * The restore's background loader runs here, RESTORE_STEP_PAGES pages
 * between two rounds of events, not in a thread of its own: the loop's
 * thread is the only one that reads or changes the directory, the local
 * page states and the memfd, so the loader needs no lock and sees each
 * page exactly as the fault path does (fault.c says why it cannot race
 * it).  The price: a fault that comes during a step waits for it, at
 * most one chunk's pread and inflate (256 pages) and 64 page copies.
 */
#define RESTORE_STEP_PAGES 64

/* 1 while the loader has pages to load into a client's memory. */
static int
loader_runs(void)
{
	return P.restoring && !restore_done(&P.restore) &&
	       mem_attached(&P.mem) && !P.mem.detached && !save_busy(&P.save);
}

/* The loop's wait: none while the loader may go on, 10 ms while it
 * waits for --restore-rate, else up to the next tick. */
static int
loop_wait_ms(void)
{
	if (!loader_runs())
		return 1000;
	return restore_budget(&P.restore, now_ns()) ? 0 : 10;
}

static void
restore_tick(void)
{
	const struct pager_stats *st = P.st;
	uint64_t n;

	if (loader_runs()) {
		n = restore_budget(&P.restore, now_ns());
		if (n)
			fault_restore_step(&P.fault,
					   n < RESTORE_STEP_PAGES
						   ? (unsigned)n
						   : RESTORE_STEP_PAGES);
		if (C->eager)
			restore_progress(&P.restore);
	}
	if (!restore_done(&P.restore) || P.restore_said)
		return;
	/* Every home page taken: by faults, by the loader, or both. */
	P.restore_said = 1;
	log_info("restore done in %.1f s: %llu home pages, %llu MiB not "
		 "zero; %llu on fault, %llu in the background",
		 (double)(now_ns() - P.restore.t0) / 1e9,
		 (unsigned long long)st->restore_pages,
		 (unsigned long long)(P.restore.bytes >> 20),
		 (unsigned long long)st->restored_fault,
		 (unsigned long long)st->restored_background);
	if (P.net.ready_wait)
		net_ready_release(&P.net);
}

/* Tags for the loop's own fds (conns carry their struct conn *). */
static char tag_listen, tag_ctl, tag_timer, tag_setup, tag_sig, tag_save;

static void
loop(void)
{
	struct epoll_event ev[64];
	uint64_t last = 0, spin = (uint64_t)C->poll_us * 1000;
	int n, i;

	for (;;) {
		/* Busy-poll a while after an event: faults come in bursts,
		 * and a sleep and wake-up cost more than the next one
		 * takes to come (--poll-us; 0: never). */
		n = epoll_wait(P.epfd, ev, 64,
			       spin && now_ns() - last < spin ? 0
							      : loop_wait_ms());
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			pager_fail(AVM_EX_OSERR, "epoll_wait: %s",
				   strerror(errno));
		if (n > 0 && spin)
			last = now_ns();
		for (i = 0; i < n; i++) {
			void *t = ev[i].data.ptr;

			if (t == NULL) {
				mem_uffd_ready(&P.mem);
			} else if (t == &tag_listen) {
				net_accept(&P.net);
			} else if (t == &tag_ctl) {
				net_ctl_accept(&P.net);
			} else if (t == &tag_setup) {
				net_setup_ready(&P.net);
			} else if (t == &tag_save) {
				save_thread_done(&P.save);
			} else if (t == &tag_timer) {
				uint64_t x;

				if (read(P.timer_fd, &x, sizeof(x)) < 0 &&
				    errno != EAGAIN)
					pager_fail(AVM_EX_OSERR, "timerfd: %s",
						   strerror(errno));
				net_tick(&P.net, now_ns());
				gather_tick(&P.gather, now_ns());
			} else if (t == &tag_sig) {
				struct signalfd_siginfo si;

				if (read(sig_fd, &si, sizeof(si)) > 0)
					pager_fail(AVM_EX_UNAVAILABLE,
						   "node %u failed: its pager "
						   "got signal %u",
						   P.cfg.node, si.ssi_signo);
			} else {
				conn_io(t, ev[i].events);
			}
		}
		save_tick(&P.save);
		if (P.restoring)
			restore_tick();
	}
}

int
main(int argc, char **argv)
{
	const char *vm = NULL, *mem = NULL, *peers = NULL, *listen_at = NULL;
	const char *secret = NULL, *homes = NULL, *restore = NULL;
	struct itimerspec its = { { 0, 100000000 }, { 0, 100000000 } };
	char dir[4000];
	uint64_t v;
	sigset_t ss;
	int c, rc, verbose = 0, quiet = 0;
	struct opt_parser op;

	memset(&P, 0, sizeof(P));
	P.cfg.node = 0;
	P.cfg.nodes = 1;
	P.cfg.heartbeat_ms = 0; /* the link layer's, from the deadline */
	P.cfg.dead_ms = LINK_DEAD_MS;
	P.cfg.connect_ms = 30000;
	P.cfg.attach_ms = 60000;
	P.cfg.stats_ms = 1000;
	P.cfg.zero_block = 512;
	P.cfg.prefetch = 64;
	log_init("avm-pager", -1, 1);
	if (opt_parser_init(&op, opts, AVM_ARRAY_SIZE(opts)) < 0)
		pager_fail(AVM_EX_SOFTWARE, "option table: %s",
			   strerror(errno));
	while ((c = opt_parser_next(&op, argc, argv)) != -1) {
		switch (c) {
		case OPT_VM:
			vm = optarg;
			break;
		case OPT_MEMORY:
			mem = optarg;
			break;
		case OPT_NODE:
			if (uint_parse(optarg, 0, PAGER_MAX_NODES - 1, &v) < 0)
				usage_fail("--node: '%s' is not 0..%d", optarg,
					   PAGER_MAX_NODES - 1);
			P.cfg.node = (uint32_t)v;
			break;
		case OPT_NODES:
			if (uint_parse(optarg, 1, PAGER_MAX_NODES, &v) < 0)
				usage_fail("--nodes: '%s' is not 1..%d", optarg,
					   PAGER_MAX_NODES);
			P.cfg.nodes = (uint32_t)v;
			break;
		case OPT_PEERS:
			peers = optarg;
			break;
		case OPT_LISTEN:
			listen_at = optarg;
			break;
		case OPT_SECRET:
			secret = optarg;
			break;
		case OPT_HOME_SIZES:
			homes = optarg;
			break;
		case OPT_HEARTBEAT_MS:
			P.cfg.heartbeat_ms =
				parse_ms("--heartbeat-ms", optarg, 10);
			break;
		case OPT_DEAD_MS:
			P.cfg.dead_ms = parse_ms("--dead-ms", optarg, 100);
			break;
		case OPT_CONNECT_MS:
			P.cfg.connect_ms =
				parse_ms("--connect-timeout-ms", optarg, 100);
			break;
		case OPT_ATTACH_MS:
			P.cfg.attach_ms =
				parse_ms("--attach-timeout-ms", optarg, 0);
			break;
		case OPT_STATS_MS:
			/* The loop ticks every 100 ms: no finer. */
			P.cfg.stats_ms = parse_ms("--stats-ms", optarg, 0);
			if (P.cfg.stats_ms && P.cfg.stats_ms < 100)
				usage_fail("--stats-ms: %d is below 100 (and "
					   "not 0)",
					   P.cfg.stats_ms);
			break;
		case OPT_RESTORE:
			restore = optarg;
			break;
		case OPT_EAGER:
			P.cfg.eager = 1;
			break;
		case OPT_RESTORE_RATE:
			P.cfg.restore_rate = parse_num("--restore-rate", optarg,
						       "MiB/s", 0, 1000000);
			break;
		case OPT_ZERO_BLOCK:
			P.cfg.zero_block = parse_num("--zero-block", optarg,
						     "pages", 1, 512);
			break;
		case OPT_PREFETCH:
			P.cfg.prefetch = parse_num("--prefetch", optarg,
						   "pages", 0, 256);
			break;
		case OPT_POLL_US:
			P.cfg.poll_us = (unsigned)parse_num(
				"--poll-us", optarg, "microseconds", 0, 1000);
			break;
		case 'j':
			P.cfg.json = 1;
			break;
		case 'q':
			quiet = 1;
			break;
		case 'v':
			verbose = 1;
			break;
		case 'h':
			usage(stdout, 1);
			return AVM_EX_OK;
		case 'V':
			printf("avm-pager %s\n", AVM_VERSION);
			return AVM_EX_OK;
		default:
			usage_fail("%s", op.error);
		}
	}
	if (optind < argc)
		usage_fail("unexpected argument '%s'", argv[optind]);
	if (!vm || !config_vm_name_ok(vm))
		usage_fail("--vm: a name of 1..31 printable characters, no "
			   "'/', is required");
	if (!mem)
		usage_fail("--memory is required");
	if (size_parse(mem, &P.cfg.mem_bytes) < 0 || P.cfg.mem_bytes == 0 ||
	    P.cfg.mem_bytes % PAGER_PAGE_SIZE)
		usage_fail("--memory: '%s' is not a size in 4K multiples", mem);
	if (P.cfg.node >= P.cfg.nodes)
		usage_fail("--node %u is not below --nodes %u", P.cfg.node,
			   P.cfg.nodes);
	if (P.cfg.heartbeat_ms && P.cfg.dead_ms <= P.cfg.heartbeat_ms)
		usage_fail("--dead-ms must be longer than --heartbeat-ms");
	if ((P.cfg.eager || P.cfg.restore_rate) && !restore)
		usage_fail("--eager and --restore-rate are for --restore");
	if (restore && (!*restore || strlen(restore) >= sizeof(P.cfg.restore)))
		usage_fail("--restore: a file name of 1..%zu bytes",
			   sizeof(P.cfg.restore) - 1);
	snprintf(P.cfg.vm, sizeof(P.cfg.vm), "%s", vm);
	P.cfg.npages = P.cfg.mem_bytes / PAGER_PAGE_SIZE;
	if (P.cfg.nodes > 1 && !peers)
		usage_fail("--peers is required with more than one node");
	if (peers)
		parse_peers(peers);
	if (listen_at) {
		struct sockaddr_storage sa;
		socklen_t salen;

		if (parse_addr(listen_at, &sa, &salen) < 0)
			usage_fail("--listen: '%s' is not ADDR:PORT",
				   listen_at);
	}
	parse_homes(homes);
	snprintf(P.cfg.listen_addr, sizeof(P.cfg.listen_addr), "%s",
		 listen_at ? listen_at : P.cfg.peer_addr[P.cfg.node]);

	log_init("avm-pager", (int)P.cfg.node, 1);
	log_set_level(verbose ? LOG_LVL_DEBUG
		      : quiet ? LOG_LVL_WARN
			      : LOG_LVL_INFO);
	/* Before anything is made or linked: a bad snapshot ends here. */
	if (restore) {
		snprintf(P.cfg.restore, sizeof(P.cfg.restore), "%s", restore);
		restore_open(&P.restore, C);
		P.restoring = 1;
	}
	if (avm_rundir(dir, sizeof(dir)) < 0)
		pager_fail(AVM_EX_CONFIG, "no run directory: set AVM_RUNDIR or "
					  "XDG_RUNTIME_DIR");
	snprintf(P.cfg.rundir, sizeof(P.cfg.rundir), "%s/%s", dir, P.cfg.vm);
	trusted_dir(dir);
	trusted_dir(P.cfg.rundir);
	snprintf(P.cfg.sock_path, sizeof(P.cfg.sock_path), "%s/pager.sock",
		 P.cfg.rundir);
	snprintf(P.cfg.stats_path, sizeof(P.cfg.stats_path),
		 "%s/pager-%u.stats", P.cfg.rundir, P.cfg.node);
	snprintf(lock_path, sizeof(lock_path), "%s/pager-%u.lock", P.cfg.rundir,
		 P.cfg.node);
	fail_set_hook(on_exit_hook, &P);
	take_lock();
	if (P.cfg.nodes > 1) {
		char def[4300];

		if (!secret) {
			snprintf(def, sizeof(def), "%s/secret", P.cfg.rundir);
			secret = def;
		}
		rc = auth_secret_load(secret, P.cfg.key);
		if (rc < 0)
			pager_fail(auth_secret_exit(rc), "secret '%s': %s",
				   secret, auth_secret_strerror(rc));
		P.cfg.have_key = 1;
	}

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&ss);
	sigaddset(&ss, SIGTERM);
	sigaddset(&ss, SIGINT);
	sigaddset(&ss, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &ss, NULL);
	sig_fd = signalfd(-1, &ss, SFD_CLOEXEC | SFD_NONBLOCK);

	P.epfd = epoll_create1(EPOLL_CLOEXEC);
	P.timer_fd =
		timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (P.epfd < 0 || P.timer_fd < 0 || sig_fd < 0)
		pager_fail(AVM_EX_OSERR, "event loop: %s", strerror(errno));
	timerfd_settime(P.timer_fd, 0, &its, NULL);
	/* The tree of modules, bottom up (cfg.h). */
	P.st = stats_open(C, sizeof(struct dir_entry));
	if (P.restoring)
		restore_start(&P.restore, P.st);
	mem_init(&P.mem, C, P.st, fault_mem_ops(), &P.fault);
	net_init(&P.net, C, P.st, P.epfd, &net_ops, &P);
	P.net.ready_wait = P.cfg.eager;
	rc = fault_init(&P.fault, C, P.st, &P.mem, &P.net,
			P.restoring ? &P.restore : NULL);
	if (rc < 0)
		pager_fail(AVM_EX_OSERR, "directory: %s", strerror(-rc));
	stream_init(&P.stream, C, &P.mem, &P.net);
	gather_init(&P.gather, C, P.st, &P.net);
	rc = save_init(&P.save, C, P.st, &P.fault, &P.mem, &P.net);
	if (rc < 0)
		pager_fail(AVM_EX_OSERR, "save: %s", strerror(-rc));
	epoll_add(P.save.efd, &tag_save);
	epoll_add(P.net.ctl_fd, &tag_ctl);
	epoll_add(P.timer_fd, &tag_timer);
	epoll_add(P.net.setup_fd, &tag_setup);
	epoll_add(sig_fd, &tag_sig);
	if (P.net.listen_fd >= 0)
		epoll_add(P.net.listen_fd, &tag_listen);
	log_info("vm '%s', %llu bytes, home of pages %llu..%llu, "
		 "directory %zu bytes a page",
		 P.cfg.vm, (unsigned long long)P.cfg.mem_bytes,
		 (unsigned long long)P.cfg.home_first[P.cfg.node],
		 (unsigned long long)(P.cfg.home_first[P.cfg.node] +
				      P.cfg.home_pages[P.cfg.node]),
		 sizeof(struct dir_entry));
	loop();
	return AVM_EX_SOFTWARE;
}
