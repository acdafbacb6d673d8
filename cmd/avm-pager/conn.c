/*
 * The connections of the loop: non-blocking links after their set-up,
 * their frames handed to the owner's net_ops; see net.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "avm/link.h"
#include "avm/log.h"
#include "avm/util.h"
#include "fail.h"
#include "net.h"
#include "net-int.h"

/* --- connections in the loop ---------------------------------------------- */

void
conn_epoll(struct conn *c, int op)
{
	struct epoll_event ev = { .data.ptr = c };

	c->pollout = link_want_write(c->l);
	/* Back-pressure: a peer that does not read our answers gets no
	 * more of its requests read until they drain. */
	c->stalled = link_backlog(c->l) > LINK_BACKLOG_HIGH;
	ev.events = (c->stalled ? 0 : EPOLLIN) | (c->pollout ? EPOLLOUT : 0);
	if (epoll_ctl(c->net->epfd, op, link_fd(c->l), &ev) < 0)
		pager_fail(AVM_EX_OSERR, "epoll_ctl: %s", strerror(errno));
}

/* EPOLLIN and EPOLLOUT as the link's queue wants them now. */
void
conn_sync(struct conn *c)
{
	if (c->pollout != link_want_write(c->l) ||
	    c->stalled != (link_backlog(c->l) > LINK_BACKLOG_HIGH))
		conn_epoll(c, EPOLL_CTL_MOD);
}

/*
 * Counts the link's traffic since we last looked into the stats file:
 * all links together, and a pager link's into its peer's entry too.
 */
void
conn_account(struct conn *c)
{
	struct pager_stats *ps = c->net->st;
	struct link_stats st;
	uint64_t out, in;

	link_stats(c->l, &st);
	out = st.bytes_out - c->bytes_out;
	in = st.bytes_in - c->bytes_in;
	ps->bytes_sent += out;
	ps->bytes_received += in;
	if (c->kind == CONN_FAULT || c->kind == CONN_BULK) {
		struct pager_peer *p = &ps->peer[c->node];

		p->bytes_sent += out;
		p->bytes_received += in;
		p->frames_sent += st.frames_out - c->frames_out;
		p->frames_received += st.frames_in - c->frames_in;
	}
	c->bytes_out = st.bytes_out;
	c->bytes_in = st.bytes_in;
	c->frames_out = st.frames_out;
	c->frames_in = st.frames_in;
}

struct conn *
conn_new(struct net *n, struct link *l, enum conn_kind kind, uint32_t node,
	 const char *addr)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (!c)
		pager_fail(AVM_EX_OSERR, "out of memory");
	c->net = n;
	c->l = l;
	c->kind = kind;
	c->node = node;
	snprintf(c->addr, sizeof(c->addr), "%s", addr);
	link_set_nonblock(l);
	conn_epoll(c, EPOLL_CTL_ADD);
	conn_account(c);
	return c;
}

static void
conn_close(struct conn *c)
{
	epoll_ctl(c->net->epfd, EPOLL_CTL_DEL, link_fd(c->l), NULL);
	link_free(c->l);
	free(c);
}

int
conn_send(struct conn *c, uint16_t type, uint16_t flags, uint64_t id,
	  const void *a, size_t alen, const void *b, size_t blen)
{
	int rc = link_send(c->l, type, flags, id, a, alen, b, blen);

	if (rc == -EINVAL || rc == -EMSGSIZE || rc == -EBADMSG || rc == -ENOMSG)
		pager_fail(AVM_EX_SOFTWARE, "encode %s: %s",
			   wire_type_name(type), strerror(-rc));
	if (rc == -ENOMEM)
		pager_fail(AVM_EX_OSERR, "out of memory");
	/* A write error shows again as the peer's end of file. */
	conn_account(c);
	conn_sync(c);
	return 0;
}

int
conn_send_error(struct conn *c, uint16_t type, uint64_t id,
		const struct wire_error *e)
{
	int rc = link_send_error(c->l, type, id, e);

	conn_account(c);
	conn_sync(c);
	return rc;
}

struct conn *
net_fault_link(struct net *n, uint32_t node)
{
	return node < n->cfg->nodes ? n->peer[node].fault : NULL;
}

struct conn *
net_bulk_link(struct net *n, uint32_t node)
{
	return node < n->cfg->nodes ? n->peer[node].bulk : NULL;
}

int
net_peer_done(const struct net *n, uint32_t node)
{
	return n->peer[node].done;
}

void
net_detached(struct net *n)
{
	uint32_t i;

	n->detached = 1;
	for (i = 0; i < n->cfg->nodes; i++)
		if (n->peer[i].fault)
			conn_send(n->peer[i].fault, WIRE_T_PG_DONE, 0, 0, NULL,
				  0, NULL, 0);
}

const char *
kind_name(enum conn_kind k)
{
	static const char *const n[] = { "fault link", "bulk link", "client",
					 "tool" };

	return n[k];
}

/* A link closed or broke: what it means depends on who it was. */
static void
conn_lost(struct conn *c, const char *why)
{
	struct net *n = c->net;

	if (c->kind == CONN_TOOL) {
		n->ops->tool_gone(n->ctx, c);
		conn_close(c);
		return;
	}
	if (c->kind == CONN_CLIENT) {
		if (n->detached) {
			n->client = NULL;
			conn_close(c);
			return;
		}
		pager_fail(AVM_EX_UNAVAILABLE,
			   "node %u failed: its client (%s) %s without "
			   "detaching",
			   n->cfg->node, c->addr, why);
	}
	if (c->bye)
		return; /* orderly; we are on our way out too */
	pager_fail(AVM_EX_UNAVAILABLE, "node %u failed: %s %s (%s)", c->node,
		   kind_name(c->kind), why, c->addr);
}

/* Returns -1 when c was closed and freed, else 0. */
int
client_frame(struct conn *c, const struct wire_hdr *h, const uint8_t *p)
{
	struct net *n = c->net;
	struct pager_stream s;
	struct wire_error e;
	int rc;

	if (h->type == WIRE_T_BYE && c->kind == CONN_CLIENT) {
		log_info("client detached");
		n->ops->detach(n->ctx);
		net_detached(n);
		n->ops->done(n->ctx);
		return 0;
	}
	if (h->type == WIRE_T_BYE) {
		c->bye = 1;
		return 0;
	}
	if (h->type == WIRE_T_PG_STREAM) {
		rc = pager_stream_decode(p, h->len, &s);
		if (rc == 0)
			rc = n->ops->stream(n->ctx, c, h->id, &s);
		if (rc == 0)
			return 0;
		wire_error_set(&e, wire_errcode_from_errno(-rc), "stream: %s",
			       strerror(-rc));
		conn_send_error(c, WIRE_T_PG_STREAM_DONE, h->id, &e);
		return 0;
	}
	if (h->type == WIRE_T_PG_SAVE && c->kind == CONN_TOOL) {
		struct savemsg_req q;

		if (savemsg_req_decode(p, h->len, &q) < 0)
			wire_error_set(&e, WIRE_E_INVAL, "malformed PG_SAVE");
		else if (n->ops->save(n->ctx, c, h->id, &q, &e) == 0)
			return 0;
		conn_send_error(c, WIRE_T_PG_SAVE_DONE, h->id, &e);
		return 0;
	}
	if (c->kind == CONN_CLIENT)
		pager_fail(AVM_EX_UNAVAILABLE,
			   "node %u failed: its client sent %s", n->cfg->node,
			   wire_type_name(h->type));
	conn_lost(c, "sent an unexpected frame");
	return -1;
}

static void
peer_frame(struct conn *c, const struct wire_hdr *h, const uint8_t *p)
{
	struct net *n = c->net;

	switch (h->type) {
	case WIRE_T_BYE:
		c->bye = 1;
		return;
	case WIRE_T_PG_DONE:
		n->peer[c->node].done = 1;
		n->ops->done(n->ctx);
		return;
	case WIRE_T_PG_REQ:
	case WIRE_T_PG_GRANT:
	case WIRE_T_PG_INVAL:
	case WIRE_T_PG_INVAL_ACK:
	case WIRE_T_PG_PREFETCH:
		if (c->kind == CONN_FAULT) {
			n->ops->fault_frame(n->ctx, c, h, p);
			return;
		}
		break;
	case WIRE_T_PG_BULK_REQ:
	case WIRE_T_PG_BULK_DATA:
	case WIRE_T_PG_STATS_REQ:
	case WIRE_T_PG_STATS:
	case WIRE_T_PG_SAVE_PART:
	case WIRE_T_PG_SAVE_PART_DONE:
		if (c->kind == CONN_BULK) {
			n->ops->bulk_frame(n->ctx, c, h, p);
			return;
		}
		break;
	}
	pager_fail(AVM_EX_UNAVAILABLE,
		   "node %u failed: unexpected %s on the %s", c->node,
		   wire_type_name(h->type), kind_name(c->kind));
}

void
conn_io(struct conn *c, uint32_t events)
{
	struct net *n = c->net;
	const void *payload;
	struct wire_hdr h;
	int fr, r;

	if (events & EPOLLOUT) {
		link_flush(c->l);
		conn_account(c);
		if (c->pollout != link_want_write(c->l))
			conn_epoll(c, EPOLL_CTL_MOD);
	}
	if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;
	fr = link_fill(c->l);
	conn_account(c);
	if (fr == 0)
		return;
	/* Frames that came before an end of file still count. */
	while ((r = link_next(c->l, &h, &payload)) != 0) {
		if (r < 0 && c->kind == CONN_TOOL) {
			conn_lost(c, "sent a malformed frame");
			return;
		}
		if (r == -ECONNABORTED && c->kind != CONN_CLIENT)
			pager_fail(AVM_EX_UNAVAILABLE,
				   "%s (reported by node %u)", link_why(c->l),
				   c->node);
		if (r < 0)
			pager_fail(AVM_EX_UNAVAILABLE,
				   "node %u failed: %s on the %s",
				   c->kind == CONN_CLIENT ? n->cfg->node
							  : c->node,
				   link_why(c->l), kind_name(c->kind));
		if (c->kind == CONN_CLIENT || c->kind == CONN_TOOL) {
			if (client_frame(c, &h, payload) < 0)
				return;
		} else {
			peer_frame(c, &h, payload);
		}
		if (n->client == NULL && c->kind == CONN_CLIENT)
			return; /* closed under us */
	}
	/* PONGs go out from link_next(): keep EPOLLOUT in step. */
	conn_account(c);
	conn_sync(c);
	if (fr < 0)
		conn_lost(c, link_why(c->l));
}
