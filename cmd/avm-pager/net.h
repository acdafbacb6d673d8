/*
 * The links of avm-pager: to every other pager (one for faults, one for
 * bulk transfers per pair; the higher node dials the lower) and the
 * connections on pager.sock (the attached client, tools).
 *
 * Setting a link up blocks (lib/link.c: handshake, proof; then PG_LINK),
 * so it runs in a thread of its own; the event loop never waits on a
 * peer that is slow to talk and only takes finished links from the
 * set-up queue (net_setup_ready()).  After that every link is a
 * non-blocking struct link of the loop.
 *
 * What a frame means is not this module's business: it hands frames
 * and events to the owner's net_ops.
 */
#ifndef AVM_PAGER_NET_H
#define AVM_PAGER_NET_H

#include <pthread.h>
#include <stdint.h>

#include "avm/link.h"
#include "avm/pager.h"
#include "avm/savemsg.h"
#include "cfg.h"
#include "stats.h"

enum conn_kind {
	CONN_FAULT,  /* pager link for coherence traffic */
	CONN_BULK,   /* pager link for bulk page streams */
	CONN_CLIENT, /* pager.sock: the attached client */
	CONN_TOOL,   /* pager.sock: a tool (PG_STREAM) */
};

/* One connection of the loop: a link and what it is to us. */
struct conn {
	struct net *net;
	struct link *l;
	enum conn_kind kind;
	uint32_t node; /* the peer's node (links) */
	char addr[80]; /* for messages */
	int pollout;   /* EPOLLOUT is on */
	int stalled;   /* EPOLLIN is off: our queue to it is too long */
	/* counted into the stats so far */
	uint64_t bytes_in, bytes_out, frames_in, frames_out;
	int bye;	    /* the peer said BYE, or we are done */
	uint64_t last_ping; /* our last round-trip PING (fault links) */
};

struct peer {
	struct conn *fault, *bulk;
	int done; /* its client detached (PG_DONE) */
};

struct net_ops {
	/* A coherence frame (PG_REQ .. PG_INVAL_ACK) on a fault link. */
	void (*fault_frame)(void *ctx, struct conn *c, const struct wire_hdr *h,
			    const uint8_t *p);
	/* PG_BULK_REQ, PG_BULK_DATA, PG_STATS_REQ, PG_STATS,
	 * PG_SAVE_PART or PG_SAVE_PART_DONE (the replies also as errors)
	 * on a bulk link. */
	void (*bulk_frame)(void *ctx, struct conn *c, const struct wire_hdr *h,
			   const uint8_t *p);
	/* A client wants to attach; 0, or a negative errno with why. */
	int (*attach)(void *ctx, const struct pager_layout *l, int memfd,
		      int uffd, char *why, size_t len);
	/* Our client detached (BYE). */
	void (*detach)(void *ctx);
	/* A tool asks for a stream; 0 or a negative errno. */
	int (*stream)(void *ctx, struct conn *tool, uint64_t id,
		      const struct pager_stream *s);
	/* A tool asks for a save (PG_SAVE); 0, or -1 with e filled. */
	int (*save)(void *ctx, struct conn *tool, uint64_t id,
		    const struct savemsg_req *req, struct wire_error *e);
	/* A tool's connection is going away. */
	void (*tool_gone)(void *ctx, struct conn *tool);
	/* READY went to the client. */
	void (*ready)(void *ctx, const struct pager_ready *r);
	/* Another node's client, or ours, detached: maybe all are done. */
	void (*done)(void *ctx);
};

struct net {
	const struct pager_cfg *cfg;
	struct pager_stats *st;
	const struct net_ops *ops;
	void *ctx;
	int epfd, listen_fd, ctl_fd, setup_fd;
	uint64_t t_start;
	int fabric_up;
	unsigned links_up;
	struct peer peer[PAGER_MAX_NODES];
	struct conn *client;
	uint64_t attach_id;
	int attached, ready_sent, detached;
	int ready_wait; /* READY waits for net_ready_release (--eager) */
	pthread_mutex_t setup_lock;
	struct setup *setup_head, **setup_tail;
};

/*
 * Listens on pager.sock and, with several nodes, on the pager port, and
 * starts dialing the lower nodes.  epfd: the loop's; the fds it must
 * watch are given tags through net_fds().  Ends the pager on failure.
 */
void net_init(struct net *n, const struct pager_cfg *cfg,
	      struct pager_stats *st, int epfd, const struct net_ops *ops,
	      void *ctx);

/* The loop's events: the tag's owner is called. */
void net_accept(struct net *n);
void net_ctl_accept(struct net *n);
void net_setup_ready(struct net *n);
void conn_io(struct conn *c, uint32_t events);
/* The owner is ready for the client: READY goes once the fabric is up
 * and the client attached (at once when they are). */
void net_ready_release(struct net *n);
/* Heartbeats and set-up deadlines, every 100 ms or so. */
void net_tick(struct net *n, uint64_t now);

/* Sends a frame (queued, never blocks); a broken link shows as its
 * end of file later. */
int conn_send(struct conn *c, uint16_t type, uint16_t flags, uint64_t id,
	      const void *a, size_t alen, const void *b, size_t blen);
int conn_send_error(struct conn *c, uint16_t type, uint64_t id,
		    const struct wire_error *e);
struct conn *net_fault_link(struct net *n, uint32_t node);
struct conn *net_bulk_link(struct net *n, uint32_t node);
/* A node's client detached (PG_DONE) / every node's did. */
int net_peer_done(const struct net *n, uint32_t node);
/* Our client detached: tell every peer (PG_DONE). */
void net_detached(struct net *n);

/*
 * On the way out: with msg, every peer's fault link and the client get
 * an ERROR notice saying why; without, every link says BYE.  Flushes
 * what is queued first; short deadlines.
 */
void net_notify_all(struct net *n, const char *msg);

#endif
