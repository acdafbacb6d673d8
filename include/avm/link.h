/*
 * The link layer: every connection between two AVM processes (pager to
 * pager, run to run, a tool to a control socket) is a struct link made
 * here, and nowhere else.  It owns the socket, the HELLO/WELCOME
 * handshake, the secret's HMAC proof (auth.h), framed sends and receives
 * with buffers, heartbeats with one failure deadline, orderly close, and
 * the reason a link died.  Tools only say what a message means.
 *
 * Set-up blocks (dial with retries, handshake, proof, each under one
 * deadline), so event loops run it in a thread; afterwards a link works
 * two ways:
 *   - blocking (the default): link_send() writes the whole frame before
 *     it returns, within the link's dead_ms; link_recv() waits for one
 *     frame.  Any number of threads may send; one thread receives.
 *   - non-blocking (link_set_nonblock()): link_send() queues the frame
 *     and writes what the socket takes; the owner's loop calls
 *     link_flush() when the fd is writable (link_want_write()), and
 *     link_fill() + link_next() when it is readable.  link_backlog()
 *     is the back-pressure signal: a loop stops reading requests from a
 *     peer whose replies pile up past LINK_BACKLOG_HIGH.
 * Either way PING is answered and PONG timed inside the layer; BYE and
 * ERROR reach the caller (link_next/link_recv), which decides what an
 * orderly or a refused close means.
 *
 * Transports are a table (link_transport()): "tcp" (TCP_NODELAY) and
 * "unix" (local control sockets, SCM_RIGHTS), both on sockets.  An RDMA
 * verbs transport (rsockets-like) is one more row: resolve, tune, and
 * the socket calls behind connect/accept/sendmsg/recvmsg/poll.
 *
 * Errors: functions return 0 (or a count) or a negative errno; those
 * that take why/whylen also fill it with a message that names the peer.
 * Nothing here prints or exits.
 */
#ifndef AVM_LINK_H
#define AVM_LINK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "avm/auth.h"
#include "avm/wire.h"

/* One failure deadline for every link of every tool (overridable per
 * link through link_self): a peer silent this long is dead. */
#define LINK_HEARTBEAT_MS 500
#define LINK_DEAD_MS 3000
/* A non-blocking link's queue over this: stop reading requests. */
#define LINK_BACKLOG_HIGH (8u << 20)
#define LINK_ANY_NODE UINT32_MAX
#define LINK_MAX_FDS 4

struct link;

struct link_transport {
	const char *name;
	/* addr (len bytes, not NUL-terminated) to a socket address;
	 * 0 or -EINVAL */
	int (*resolve)(const char *addr, size_t len,
		       struct sockaddr_storage *sa, socklen_t *salen);
	/* options for a connected socket of this transport */
	void (*tune)(int fd);
};

/* The transport named name ("tcp", "unix"), or NULL. */
const struct link_transport *link_transport(const char *name);

/* Who we are on every link we open or accept. */
struct link_self {
	const char *vm;
	uint32_t node, nodes; /* nodes 0: not a node (a tool) */
	uint16_t role;	      /* enum wire_role of our HELLO */
	const uint8_t *key;   /* AUTH_KEY_LEN bytes; NULL: no proof */
	int heartbeat_ms;     /* 0: LINK_HEARTBEAT_MS, or dead_ms/3 if less */
	int dead_ms;	      /* 0: LINK_DEAD_MS */
};

/* Whom we take: a peer outside this is refused with an ERROR notice. */
struct link_want {
	uint32_t roles; /* bit 1 << role for each role taken */
	uint32_t node;	/* the node we dialed, or LINK_ANY_NODE */
	int above;	/* 1: only nodes above ours (the dialers) */
};

/*
 * Listens on addr ("HOST:PORT" for tcp, a path for unix; the path's
 * stale socket is removed when nobody answers on it, and the socket is
 * made 0600).  Returns the listening fd, or a negative errno with why.
 */
int link_listen(const struct link_transport *t, const char *addr, char *why,
		size_t whylen);

/*
 * Connects to addr, retrying while nobody listens yet, then greets (see
 * link_greet) - all within timeout_ms.  Returns 0 with *out, or
 * -ETIMEDOUT (nobody answered in time), -EACCES (the proof failed),
 * -ECONNREFUSED (the peer refused us), -EPROTO (not the peer we want),
 * or another negative errno; why says which, naming addr.
 */
int link_dial(const struct link_self *self, const struct link_transport *t,
	      const char *addr, const struct link_want *want, int timeout_ms,
	      struct link **out, char *why, size_t whylen);

/*
 * Accepts one connection on lfd (waits at most timeout_ms for it) and
 * greets it.  Returns as link_dial().
 */
int link_accept(int lfd, const struct link_self *self,
		const struct link_want *want, int timeout_ms, struct link **out,
		char *why, size_t whylen);

/*
 * Accepts on lfd until n links are kept, greeting every connection at
 * once: each has greet_ms for its handshake, so a connection that says
 * nothing, or slowly, holds only itself (at most 32 handshakes run; a
 * newcomer beyond that cuts off the oldest).  Each link set up goes to
 * take(opaque, l, NULL): 0 keeps it (take owns it), anything else frees
 * it (take says why itself); each refused connection goes to
 * take(opaque, NULL, reason).  Returns 0 once n were kept, -ETIMEDOUT
 * when timeout_ms passed first (why: "K of N connected within MS ms"),
 * or another negative errno with why.  Handshakes still under way at the
 * end are cut off.
 */
int link_accept_n(int lfd, const struct link_self *self,
		  const struct link_want *want, unsigned n, int timeout_ms,
		  int greet_ms,
		  int (*take)(void *opaque, struct link *l,
			      const char *refused),
		  void *opaque, char *why, size_t whylen);

/*
 * The set-up of a connected fd, either side: handshake, the check
 * against want, the proof when self->key is set, within timeout_ms.
 * Takes fd (closed on failure).  addr names the peer in messages.
 */
int link_greet(int fd, const struct link_self *self,
	       const struct link_want *want, const char *addr, int timeout_ms,
	       struct link **out, char *why, size_t whylen);

/* After set-up. */
int link_fd(const struct link *);
const struct wire_hello *link_peer(const struct link *);
const char *link_addr(const struct link *);
/* Why the link died ("closed", "silent for 3000 ms", the peer's ERROR
 * message), or "" while it is up. */
const char *link_why(const struct link *);
/* 1 once the peer said BYE. */
int link_bye_seen(const struct link *);

struct link_stats {
	uint64_t bytes_in, bytes_out, frames_in, frames_out;
	uint64_t rtt_ns; /* last heartbeat round trip; 0 none yet */
};
void link_stats(const struct link *, struct link_stats *);

/*
 * Sends one frame: header, a and b (either may be empty) as one payload.
 * Blocking: written whole within dead_ms (-ETIMEDOUT after it, the link
 * is then broken).  Non-blocking: queued.  Frames of concurrent senders
 * never interleave.  Returns 0, the encoder's error for a bad header,
 * or the write's negative errno (why is set).
 */
int link_send(struct link *, uint16_t type, uint16_t flags, uint64_t id,
	      const void *a, size_t alen, const void *b, size_t blen);
/* Sends e as an ERROR notice (type WIRE_T_ERROR) or as the error reply
 * of request id of that type. */
int link_send_error(struct link *, uint16_t type, uint64_t id,
		    const struct wire_error *e);
/* Blocking unix links: a frame with fds passed along (SCM_RIGHTS). */
int link_send_fds(struct link *, uint16_t type, uint64_t id, const void *p,
		  size_t len, const int *fds, int nfds);

/* Non-blocking mode: see the top of this file. */
void link_set_nonblock(struct link *);
int link_flush(struct link *);
int link_want_write(const struct link *);
size_t link_backlog(const struct link *);

/*
 * Reads what the socket has (non-blocking mode; never waits).  Returns
 * the bytes read (> 0), 0 when there were none, -EPIPE at end of file,
 * or the read's negative errno; why is set on errors.
 */
int link_fill(struct link *);

/*
 * The next whole frame read so far: returns 1 with h and *payload (valid
 * until the next call on the link), 0 when more bytes are needed, or
 *   -EBADMSG, -ENOMSG, -EMSGSIZE  a malformed frame (why says what),
 *   -ECONNABORTED  the peer sent an ERROR notice (why holds its text).
 * PING and PONG are handled here and not returned; BYE is returned
 * (and link_bye_seen() turns 1).
 */
int link_next(struct link *, struct wire_hdr *h, const void **payload);

/*
 * Blocking mode: waits at most timeout_ms for the next frame.  Returns
 * 0 with h and *payload, -ETIMEDOUT when none came, or what link_fill()
 * and link_next() return.
 */
int link_recv(struct link *, struct wire_hdr *h, const void **payload,
	      int timeout_ms);

/*
 * fds that came with the frames read so far (unix links), in order; up
 * to max into fds.  Returns how many; the caller owns them.
 */
int link_take_fds(struct link *, int *fds, int max);

/*
 * Heartbeat, every heartbeat_ms or more often: sends a PING when nothing
 * was sent for heartbeat_ms.  Returns 0, or -ETIMEDOUT when nothing came
 * from the peer for dead_ms (why says so).
 */
int link_tick(struct link *, uint64_t now_ns);

/*
 * Sends a PING now, idle or not: a round trip measurement (link_stats()
 * rtt_ns once the PONG is in) for a link that is never idle, which
 * link_tick() does not ping.  The PING waits behind what is queued, so
 * the round trip includes the queue.  Returns as link_send().
 */
int link_ping(struct link *, uint64_t now_ns);

/* Heartbeats count from now (after a long set-up, before the first
 * link_tick()). */
void link_touch(struct link *);

/*
 * Orderly close: flushes what is queued (at most timeout_ms), sends BYE
 * and shuts the write side.  The peer's last frames may still be read.
 */
void link_bye(struct link *, int timeout_ms);
/* Best effort on the way out: flush, then an ERROR notice with code and
 * msg, at most timeout_ms. */
void link_notify(struct link *, uint32_t code, const char *msg, int timeout_ms);
/* Closes the socket and frees the link (and fds not taken). */
void link_free(struct link *);

/*
 * On the wire: PING (heartbeat request, every link, either side) and
 * PONG (its reply, the same token): the sender's clock in ns.
 */
struct link_ping_le {
	uint8_t token[8];
};
_Static_assert(sizeof(struct link_ping_le) == WIRE_PING_SIZE, "PING size");

int link_ping_encode(uint64_t token, void *buf, size_t cap);
int link_ping_decode(const void *buf, size_t len, uint64_t *token);

#endif
