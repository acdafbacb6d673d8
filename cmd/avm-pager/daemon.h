/*
 * avm-pager's insides: one event loop thread owns every piece of state
 * below (links, directory, local page states, the uffd); only the link
 * set-up threads (net.c) run beside it, and they hand finished links over
 * through a locked queue and an eventfd.
 */
#ifndef AVM_PAGER_DAEMON_H
#define AVM_PAGER_DAEMON_H

#include <stdint.h>
#include <sys/socket.h>

#include "avm/auth.h"
#include "avm/link.h"
#include "avm/pager.h"
#include "avm/wire.h"
#include "dir.h"

enum conn_kind {
	CONN_FAULT,  /* pager link for coherence traffic */
	CONN_BULK,   /* pager link for bulk page streams */
	CONN_CLIENT, /* pager.sock: the attached client */
	CONN_TOOL,   /* pager.sock: a tool (PG_STREAM) */
};

/* One connection of the loop: a link (lib/link.c) and what it is to us. */
struct conn {
	struct link *l;
	enum conn_kind kind;
	uint32_t node;		      /* the peer's node (links) */
	char addr[80];		      /* for messages */
	int pollout;		      /* EPOLLOUT is on */
	uint64_t bytes_in, bytes_out; /* counted into the stats so far */
	int bye;		      /* the peer said BYE, or we are done */
};

struct peer {
	char addr[80]; /* host:port from --peers */
	struct sockaddr_storage sa;
	socklen_t salen;
	struct conn *fault, *bulk;
	int done; /* its client detached (PG_DONE) */
};

struct slotmap {
	uint64_t first, npages; /* pages of the memfd */
	uint64_t gpa, addr;
	int mapped;
};

/* Local state of a page: bits 0-1 enum pager_hold, bit 7 a request out. */
#define LS_HOLD 0x03
#define LS_PENDING 0x80

struct pend {
	uint64_t page; /* UINT64_MAX: free */
	uint64_t t0;
	uint64_t gpa;
	uint8_t access, wp;
};

/* A PG_STREAM a tool asked for. */
struct stream {
	struct conn *tool;
	uint64_t tool_id;
	uint32_t node;
	uint64_t next, end, outstanding, bytes;
	uint64_t t0;
};

struct pager {
	/* configuration */
	char vm[WIRE_VM_NAME_LEN];
	uint32_t node, nodes;
	uint64_t mem_bytes, npages;
	uint64_t home_first[PAGER_MAX_NODES], home_pages[PAGER_MAX_NODES];
	struct peer peer[PAGER_MAX_NODES];
	char listen_addr[80];
	uint8_t key[AUTH_KEY_LEN];
	int have_key;
	int heartbeat_ms, dead_ms, connect_ms, attach_ms;
	int json;
	char rundir[4096], sock_path[4200], stats_path[4200];

	/* event loop */
	int epfd, listen_fd, ctl_fd, timer_fd, setup_fd;
	uint64_t t_start;
	int fabric_up;
	unsigned links_up;

	/* the client and its guest RAM */
	struct conn *client;
	uint64_t attach_id;
	int memfd, uffd;
	struct slotmap slot[WIRE_PG_SLOTS_MAX];
	unsigned nslots;
	int ready_sent, detached;
	uint8_t *local;
	struct pend *pend;
	uint32_t pend_mask;
	uint64_t sync_page; /* a fault being resolved inside on_fault */
	int sync_hit;

	struct dir dir;
	struct pager_stats *st;
	struct stream stream;
};

extern struct pager P;

/* main.c */
void pager_fail(int status, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));
void stats_lat(uint64_t ns);
void stats_seq_begin(void);
void stats_seq_end(void);
void check_all_done(void);
/* Says on stdout that this node is ready (text, or one JSON line). */
void pager_print_ready(const struct pager_ready *r);

/* net.c: links, frames, set-up threads */
int net_listen(void);
int net_ctl_listen(void);
void net_start_dials(void);
void net_accept(void);
void net_ctl_accept(void);
void net_setup_ready(void);
void conn_io(struct conn *c, uint32_t events);
int conn_send(struct conn *c, uint16_t type, uint16_t flags, uint64_t id,
	      const void *a, size_t alen, const void *b, size_t blen);
void conn_close(struct conn *c);
void net_tick(uint64_t now);
void net_notify_all(const char *msg);
struct conn *fault_link(uint32_t node);

/* fault.c: uffd, local page states, the directory's callbacks */
int fault_attach(const struct pager_layout *l, int memfd, int uffd, char *why,
		 size_t len);
void fault_uffd_ready(void);
int fault_dir_init(void);
uint32_t home_of(uint64_t page);
void fault_on_frame(struct conn *c, const struct wire_hdr *h, const uint8_t *p);
void bulk_on_frame(struct conn *c, const struct wire_hdr *h, const uint8_t *p);
int stream_start(struct conn *tool, uint64_t id, const struct pager_stream *s);
void fault_detach(void);

#endif
