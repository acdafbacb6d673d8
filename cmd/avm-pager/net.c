/*
 * Links of avm-pager: the TCP links to the other pagers (one for faults,
 * one for bulk transfers per pair; the higher node dials the lower) and
 * the connections on pager.sock.
 *
 * Setting a link up blocks (handshake, PG_AUTH, PG_LINK, each within a
 * deadline), so it runs in a thread of its own; the event loop never
 * waits on a peer that is slow to talk, and only takes finished links
 * from the set-up queue.  After that, every link is non-blocking with an
 * input buffer cut by wire_frame_next() and an output buffer flushed on
 * EPOLLOUT.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
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
#include "daemon.h"

#define SETUP_MS 5000

/* A finished (or failed) set-up, from a thread to the loop. */
struct setup {
	struct setup *next;
	int fd; /* accepted, until the set-up thread greets it */
	struct link *l;
	enum conn_kind kind;
	uint32_t node;
	char addr[80];
	int fatal; /* exit status when the whole pager must stop */
	char msg[400];
	/* pager.sock: its first frame, with the fds it carried */
	struct wire_hdr first;
	uint8_t *payload;
	int memfd, uffd;
	pid_t pid;
};

static pthread_mutex_t setup_lock = PTHREAD_MUTEX_INITIALIZER;
static struct setup *setup_head, **setup_tail = &setup_head;

static void
setup_post(struct setup *s)
{
	uint64_t one = 1;

	pthread_mutex_lock(&setup_lock);
	s->next = NULL;
	*setup_tail = s;
	setup_tail = &s->next;
	pthread_mutex_unlock(&setup_lock);
	if (write(P.setup_fd, &one, sizeof(one)) < 0)
		log_warn("eventfd: %s", strerror(errno));
}

static struct link_self
pager_self(uint16_t role)
{
	return (struct link_self){ .vm = P.vm,
				   .node = P.node,
				   .nodes = P.nodes,
				   .role = role,
				   .key = P.have_key ? P.key : NULL,
				   .heartbeat_ms = P.heartbeat_ms,
				   .dead_ms = P.dead_ms };
}

/* --- pager links: after the link layer's set-up ------------------------ */

/*
 * PG_LINK both ways on a new link: the peer must agree on the memory
 * map.  role: the dialer's, which names the link.  Fills s (kind, node,
 * or fatal and msg).  Returns 0 when the link
 * is ours to use.
 */
static int
pager_link_check(struct link *l, uint16_t role, struct setup *s)
{
	const struct wire_hello *peer = link_peer(l);
	struct pager_link lk, plk;
	struct wire_hdr h;
	const void *p;
	uint8_t buf[WIRE_PG_LINK_SIZE];
	int rc;

	s->node = peer->node;
	lk = (struct pager_link){ P.mem_bytes, P.home_first[P.node],
				  P.home_pages[P.node] };
	pager_link_encode(&lk, buf, sizeof(buf));
	rc = link_send(l, WIRE_T_PG_LINK, 0, 0, buf, sizeof(buf), NULL, 0);
	if (rc == 0)
		rc = link_recv(l, &h, &p, SETUP_MS);
	if (rc == 0 &&
	    (h.type != WIRE_T_PG_LINK || pager_link_decode(p, h.len, &plk) < 0))
		rc = -EPROTO;
	if (rc < 0) {
		snprintf(s->msg, sizeof(s->msg), "node %u: link set-up: %s",
			 peer->node,
			 link_why(l)[0] ? link_why(l) : strerror(-rc));
		return -1;
	}
	if (plk.mem_bytes != P.mem_bytes ||
	    plk.home_first != P.home_first[peer->node] ||
	    plk.home_pages != P.home_pages[peer->node]) {
		snprintf(s->msg, sizeof(s->msg),
			 "node %u disagrees on the memory map: %llu bytes, "
			 "home pages %llu+%llu; here %llu bytes, %llu+%llu",
			 peer->node, (unsigned long long)plk.mem_bytes,
			 (unsigned long long)plk.home_first,
			 (unsigned long long)plk.home_pages,
			 (unsigned long long)P.mem_bytes,
			 (unsigned long long)P.home_first[peer->node],
			 (unsigned long long)P.home_pages[peer->node]);
		s->fatal = AVM_EX_CONFIG;
		return -1;
	}
	s->kind = role == WIRE_ROLE_PAGER_FAULT ? CONN_FAULT : CONN_BULK;
	return 0;
}

static const uint32_t pager_roles =
	1u << WIRE_ROLE_PAGER_FAULT | 1u << WIRE_ROLE_PAGER_BULK;

static void *
accept_thread(void *arg)
{
	struct setup *s = arg;
	/* Our HELLO says pager-fault; the dialer's role names the link. */
	struct link_self self = pager_self(WIRE_ROLE_PAGER_FAULT);
	struct link_want want = { pager_roles, LINK_ANY_NODE, 1 };
	int rc;

	rc = link_greet(s->fd, &self, &want, s->addr, SETUP_MS, &s->l, s->msg,
			sizeof(s->msg));
	/* The dialer's role names the link. */
	if (rc == 0 && pager_link_check(s->l, link_peer(s->l)->role, s) < 0)
		rc = -1;
	if (rc < 0) {
		log_warn("refused %s%s%s", rc == -1 ? s->addr : "",
			 rc == -1 ? ": " : "", s->msg);
		link_free(s->l);
		s->l = NULL;
		if (!s->fatal) {
			free(s);
			return NULL;
		}
	}
	setup_post(s);
	return NULL;
}

struct dial {
	uint32_t node;
	uint16_t role;
};

static void *
dial_thread(void *arg)
{
	struct dial *d = arg;
	struct peer *pr = &P.peer[d->node];
	uint64_t deadline = P.t_start + (uint64_t)P.connect_ms * 1000000u;
	struct link_self self = pager_self(d->role);
	struct link_want want = { pager_roles, d->node, 0 };
	struct setup *s = calloc(1, sizeof(*s));
	char why[sizeof(s->msg) - 100];
	int rc;

	if (!s)
		pager_fail(AVM_EX_OSERR, "out of memory");
	snprintf(s->addr, sizeof(s->addr), "%s", pr->addr);
	rc = link_dial(&self, link_transport("tcp"), pr->addr, &want,
		       deadline_ms(deadline), &s->l, why, sizeof(why));
	if (rc == -ETIMEDOUT) {
		s->fatal = AVM_EX_UNAVAILABLE;
		snprintf(s->msg, sizeof(s->msg), "node %u failed: %s", d->node,
			 why);
	} else if (rc < 0) {
		s->fatal = rc == -EACCES ? AVM_EX_NOPERM : AVM_EX_UNAVAILABLE;
		snprintf(s->msg, sizeof(s->msg),
			 "link to node %u at %s refused: %s", d->node, pr->addr,
			 why);
	} else if (pager_link_check(s->l, d->role, s) < 0) {
		link_free(s->l);
		s->l = NULL;
		if (!s->fatal)
			s->fatal = AVM_EX_UNAVAILABLE;
		snprintf(why, sizeof(why), "%.250s", s->msg);
		snprintf(s->msg, sizeof(s->msg),
			 "link to node %u at %s refused: %s", d->node, pr->addr,
			 why);
	}
	setup_post(s);
	free(d);
	return NULL;
}

static void
spawn(void *(*fn)(void *), void *arg)
{
	pthread_attr_t a;
	pthread_t t;
	int rc;

	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	rc = pthread_create(&t, &a, fn, arg);
	pthread_attr_destroy(&a);
	if (rc)
		pager_fail(AVM_EX_OSERR, "pthread_create: %s", strerror(rc));
}

void
net_start_dials(void)
{
	uint32_t n;
	int r;

	for (n = 0; n < P.node; n++) {
		for (r = 0; r < 2; r++) {
			struct dial *d = malloc(sizeof(*d));

			if (!d)
				pager_fail(AVM_EX_OSERR, "out of memory");
			d->node = n;
			d->role = r ? WIRE_ROLE_PAGER_BULK
				    : WIRE_ROLE_PAGER_FAULT;
			spawn(dial_thread, d);
		}
	}
}

int
net_listen(void)
{
	char why[300];

	return link_listen(link_transport("tcp"), P.listen_addr, why,
			   sizeof(why));
}

/* A connection on the pager port: set it up in a thread. */
void
net_accept(void)
{
	struct sockaddr_storage sa;
	socklen_t len = sizeof(sa);
	struct setup *s;
	int fd;

	fd = accept4(P.listen_fd, (struct sockaddr *)&sa, &len, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	s = calloc(1, sizeof(*s));
	if (!s)
		pager_fail(AVM_EX_OSERR, "out of memory");
	s->fd = fd;
	sockaddr_text((struct sockaddr *)&sa, len, s->addr, sizeof(s->addr));
	spawn(accept_thread, s);
}

/* --- pager.sock ------------------------------------------------------------ */

int
net_ctl_listen(void)
{
	char why[300];

	return link_listen(link_transport("unix"), P.sock_path, why,
			   sizeof(why));
}

static void *
ctl_thread(void *arg)
{
	struct setup *s = arg;
	struct link_self self = pager_self(WIRE_ROLE_CONTROL);
	struct link_want want = { 1u << WIRE_ROLE_CONTROL |
					  1u << WIRE_ROLE_CLIENT,
				  LINK_ANY_NODE, 0 };
	const struct wire_hello *peer;
	struct wire_error why;
	const void *p;
	int fds[LINK_MAX_FDS], n, i, rc;

	self.key = NULL; /* a local socket: the peer's uid was checked */
	s->memfd = s->uffd = -1;
	rc = link_greet(s->fd, &self, &want, s->addr, SETUP_MS, &s->l, s->msg,
			sizeof(s->msg));
	if (rc < 0) {
		log_warn("pager.sock: refused %s", s->msg);
		goto drop;
	}
	peer = link_peer(s->l);
	rc = link_recv(s->l, &s->first, &p, SETUP_MS);
	n = link_take_fds(s->l, fds, LINK_MAX_FDS);
	if (rc == 0 && s->first.type == WIRE_T_PG_ATTACH && n != 2)
		rc = -EBADMSG;
	if (rc == 0 && s->first.type == WIRE_T_PG_ATTACH) {
		s->memfd = fds[0];
		s->uffd = fds[1];
		n = 0;
	}
	for (i = 0; i < n; i++)
		close(fds[i]);
	if (rc < 0) {
		log_warn("pager.sock: %s: first frame: %s", s->addr,
			 link_why(s->l)[0] ? link_why(s->l) : strerror(-rc));
		goto drop;
	}
	s->payload = malloc(s->first.len + 1);
	if (!s->payload)
		goto drop;
	memcpy(s->payload, p, s->first.len);
	if (s->first.type == WIRE_T_PG_ATTACH &&
	    (peer->node != P.node || peer->nodes != P.nodes)) {
		wire_error_set(&why, WIRE_E_INVAL,
			       "this pager is node %u of %u, not %u of %u",
			       P.node, P.nodes, peer->node, peer->nodes);
		(void)link_send_error(s->l, WIRE_T_PG_READY, s->first.id, &why);
		log_warn("pager.sock: refused %s: %s", s->addr, why.msg);
		goto drop;
	}
	s->kind = s->first.type == WIRE_T_PG_ATTACH ? CONN_CLIENT : CONN_TOOL;
	setup_post(s);
	return NULL;
drop:
	if (s->memfd >= 0)
		close(s->memfd);
	if (s->uffd >= 0)
		close(s->uffd);
	link_free(s->l);
	free(s->payload);
	free(s);
	return NULL;
}

void
net_ctl_accept(void)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);
	struct setup *s;
	int fd;

	fd = accept4(P.ctl_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cr, &len) < 0 ||
	    (cr.uid != 0 && cr.uid != geteuid())) {
		log_warn("pager.sock: refused pid %d uid %d: not our user",
			 (int)cr.pid, (int)cr.uid);
		close(fd);
		return;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		pager_fail(AVM_EX_OSERR, "out of memory");
	s->fd = fd;
	s->pid = cr.pid;
	snprintf(s->addr, sizeof(s->addr), "pid %d", (int)cr.pid);
	spawn(ctl_thread, s);
}

/* --- connections in the loop ---------------------------------------------- */

static void
conn_epoll(struct conn *c, int op)
{
	struct epoll_event ev = { .data.ptr = c };

	c->pollout = link_want_write(c->l);
	ev.events = EPOLLIN | (c->pollout ? EPOLLOUT : 0);
	if (epoll_ctl(P.epfd, op, link_fd(c->l), &ev) < 0)
		pager_fail(AVM_EX_OSERR, "epoll_ctl: %s", strerror(errno));
}

/* Counts the link's traffic since we last looked into the stats file. */
static void
conn_account(struct conn *c)
{
	struct link_stats st;

	link_stats(c->l, &st);
	P.st->bytes_sent += st.bytes_out - c->bytes_out;
	P.st->bytes_received += st.bytes_in - c->bytes_in;
	c->bytes_out = st.bytes_out;
	c->bytes_in = st.bytes_in;
}

static struct conn *
conn_new(struct link *l, enum conn_kind kind, uint32_t node, const char *addr)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (!c)
		pager_fail(AVM_EX_OSERR, "out of memory");
	c->l = l;
	c->kind = kind;
	c->node = node;
	snprintf(c->addr, sizeof(c->addr), "%s", addr);
	link_set_nonblock(l);
	conn_epoll(c, EPOLL_CTL_ADD);
	conn_account(c);
	return c;
}

void
conn_close(struct conn *c)
{
	epoll_ctl(P.epfd, EPOLL_CTL_DEL, link_fd(c->l), NULL);
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
	if (c->pollout != link_want_write(c->l))
		conn_epoll(c, EPOLL_CTL_MOD);
	return 0;
}

struct conn *
fault_link(uint32_t node)
{
	return node < P.nodes ? P.peer[node].fault : NULL;
}

static const char *
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
	if (c->kind == CONN_TOOL) {
		if (P.stream.tool == c)
			P.stream.tool = NULL;
		conn_close(c);
		return;
	}
	if (c->kind == CONN_CLIENT) {
		if (P.detached) {
			P.client = NULL;
			conn_close(c);
			return;
		}
		pager_fail(AVM_EX_UNAVAILABLE,
			   "node %u failed: its client (%s) %s without "
			   "detaching",
			   P.node, c->addr, why);
	}
	if (c->bye)
		return; /* orderly; we are on our way out too */
	pager_fail(AVM_EX_UNAVAILABLE, "node %u failed: %s %s (%s)", c->node,
		   kind_name(c->kind), why, c->addr);
}

/* Returns -1 when c was closed and freed, else 0. */
static int
client_frame(struct conn *c, const struct wire_hdr *h, const uint8_t *p)
{
	struct pager_stream s;
	struct wire_error e;
	int rc;

	if (h->type == WIRE_T_BYE && c->kind == CONN_CLIENT) {
		log_info("client detached");
		fault_detach();
		for (uint32_t i = 0; i < P.nodes; i++)
			if (P.peer[i].fault)
				conn_send(P.peer[i].fault, WIRE_T_PG_DONE, 0, 0,
					  NULL, 0, NULL, 0);
		check_all_done();
		return 0;
	}
	if (h->type == WIRE_T_BYE) {
		c->bye = 1;
		return 0;
	}
	if (h->type == WIRE_T_PG_STREAM) {
		rc = pager_stream_decode(p, h->len, &s);
		if (rc == 0)
			rc = stream_start(c, h->id, &s);
		if (rc == 0)
			return 0;
		wire_error_set(&e, wire_errcode_from_errno(-rc), "stream: %s",
			       strerror(-rc));
		link_send_error(c->l, WIRE_T_PG_STREAM_DONE, h->id, &e);
		conn_account(c);
		return 0;
	}
	if (c->kind == CONN_CLIENT)
		pager_fail(AVM_EX_UNAVAILABLE,
			   "node %u failed: its client sent %s", P.node,
			   wire_type_name(h->type));
	conn_lost(c, "sent an unexpected frame");
	return -1;
}

static void
peer_frame(struct conn *c, const struct wire_hdr *h, const uint8_t *p)
{
	switch (h->type) {
	case WIRE_T_BYE:
		c->bye = 1;
		return;
	case WIRE_T_PG_DONE:
		P.peer[c->node].done = 1;
		check_all_done();
		return;
	case WIRE_T_PG_REQ:
	case WIRE_T_PG_GRANT:
	case WIRE_T_PG_INVAL:
	case WIRE_T_PG_INVAL_ACK:
		if (c->kind == CONN_FAULT) {
			fault_on_frame(c, h, p);
			return;
		}
		break;
	case WIRE_T_PG_BULK_REQ:
	case WIRE_T_PG_BULK_DATA:
		if (c->kind == CONN_BULK) {
			bulk_on_frame(c, h, p);
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
	const void *payload;
	struct wire_hdr h;
	int fr, n;

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
	while ((n = link_next(c->l, &h, &payload)) != 0) {
		if (n < 0 && c->kind == CONN_TOOL) {
			conn_lost(c, "sent a malformed frame");
			return;
		}
		if (n == -ECONNABORTED && c->kind != CONN_CLIENT)
			pager_fail(AVM_EX_UNAVAILABLE,
				   "%s (reported by node %u)", link_why(c->l),
				   c->node);
		if (n < 0)
			pager_fail(AVM_EX_UNAVAILABLE,
				   "node %u failed: %s on the %s",
				   c->kind == CONN_CLIENT ? P.node : c->node,
				   link_why(c->l), kind_name(c->kind));
		if (c->kind == CONN_CLIENT || c->kind == CONN_TOOL) {
			if (client_frame(c, &h, payload) < 0)
				return;
		} else {
			peer_frame(c, &h, payload);
		}
		if (P.client == NULL && c->kind == CONN_CLIENT)
			return; /* closed under us */
	}
	/* PONGs go out from link_next(): keep EPOLLOUT in step. */
	conn_account(c);
	if (c->pollout != link_want_write(c->l))
		conn_epoll(c, EPOLL_CTL_MOD);
	if (fr < 0)
		conn_lost(c, link_why(c->l));
}

/* --- set-up results --------------------------------------------------------- */

static void send_ready(void);

static void
take_setup(struct setup *s)
{
	char why[256];
	struct pager_layout l;
	struct wire_error e;
	struct peer *pr;
	int rc;

	if (s->fatal)
		pager_fail(s->fatal, "%s", s->msg);
	if (s->kind == CONN_FAULT || s->kind == CONN_BULK) {
		pr = &P.peer[s->node];
		if ((s->kind == CONN_FAULT ? pr->fault : pr->bulk) != NULL) {
			log_warn("refused %s: a second %s from node %u",
				 s->addr, kind_name(s->kind), s->node);
			link_free(s->l);
			return;
		}
		struct conn *c = conn_new(s->l, s->kind, s->node, s->addr);

		if (s->kind == CONN_FAULT)
			pr->fault = c;
		else
			pr->bulk = c;
		log_info("%s to node %u up (%s)", kind_name(s->kind), s->node,
			 s->addr);
		if (++P.links_up == 2 * (P.nodes - 1)) {
			P.fabric_up = 1;
			log_info("fabric up: %u nodes", P.nodes);
			send_ready();
		}
		return;
	}
	if (s->kind == CONN_TOOL) {
		struct conn *c = conn_new(s->l, CONN_TOOL, P.node, s->addr);

		(void)client_frame(c, &s->first, s->payload);
		return;
	}
	/* CONN_CLIENT: PG_ATTACH with memfd and uffd */
	if (P.client || P.memfd >= 0) {
		wire_error_set(&e, WIRE_E_BUSY, "a client is attached already");
		goto refuse;
	}
	rc = pager_attach_decode(s->payload, s->first.len, &l);
	if (rc < 0) {
		wire_error_set(&e, WIRE_E_PROTO, "malformed PG_ATTACH");
		goto refuse;
	}
	rc = fault_attach(&l, s->memfd, s->uffd, why, sizeof(why));
	if (rc < 0) {
		wire_error_set(&e, WIRE_E_INVAL, "%s", why);
		goto refuse;
	}
	P.client = conn_new(s->l, CONN_CLIENT, P.node, s->addr);
	P.attach_id = s->first.id;
	{
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = NULL };

		if (epoll_ctl(P.epfd, EPOLL_CTL_ADD, P.uffd, &ev) < 0)
			pager_fail(AVM_EX_OSERR, "epoll uffd: %s",
				   strerror(errno));
	}
	log_info("client %s attached: %u slot(s), %llu bytes", s->addr,
		 l.nslots, (unsigned long long)l.mem_bytes);
	send_ready();
	return;
refuse:
	log_warn("pager.sock: refused %s: %s", s->addr, e.msg);
	(void)link_send_error(s->l, WIRE_T_PG_READY, s->first.id, &e);
	if (s->memfd >= 0)
		close(s->memfd);
	if (s->uffd >= 0)
		close(s->uffd);
	link_free(s->l);
}

static void
send_ready(void)
{
	struct pager_ready r = { .page_size = PAGER_PAGE_SIZE,
				 .node = P.node,
				 .nodes = P.nodes,
				 .home_first = P.home_first[P.node],
				 .home_pages = P.home_pages[P.node] };
	uint8_t buf[WIRE_PG_READY_SIZE];

	if (!P.fabric_up || !P.client || P.ready_sent)
		return;
	pager_ready_encode(&r, buf, sizeof(buf));
	conn_send(P.client, WIRE_T_PG_READY, WIRE_F_REPLY, P.attach_id, buf,
		  sizeof(buf), NULL, 0);
	P.ready_sent = 1;
	pager_print_ready(&r);
}

void
net_setup_ready(void)
{
	struct setup *s, *next;
	uint64_t v;

	if (read(P.setup_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_warn("eventfd: %s", strerror(errno));
	pthread_mutex_lock(&setup_lock);
	s = setup_head;
	setup_head = NULL;
	setup_tail = &setup_head;
	pthread_mutex_unlock(&setup_lock);
	for (; s; s = next) {
		next = s->next;
		take_setup(s);
		free(s->payload);
		free(s);
	}
}

/* --- heartbeats and deadlines ------------------------------------------- */

void
net_tick(uint64_t now)
{
	uint32_t i;
	int k;

	for (i = 0; i < P.nodes; i++) {
		for (k = 0; k < 2; k++) {
			struct conn *c = k ? P.peer[i].bulk : P.peer[i].fault;

			if (!c || c->bye)
				continue;
			if (link_tick(c->l, now) < 0)
				pager_fail(AVM_EX_UNAVAILABLE,
					   "node %u failed: %s on the %s (%s)",
					   i, link_why(c->l),
					   kind_name(c->kind), c->addr);
			conn_account(c);
			if (c->pollout != link_want_write(c->l))
				conn_epoll(c, EPOLL_CTL_MOD);
		}
	}
	if (!P.fabric_up &&
	    now - P.t_start > (uint64_t)P.connect_ms * 1000000u) {
		for (i = 0; i < P.nodes; i++)
			if (i != P.node &&
			    (!P.peer[i].fault || !P.peer[i].bulk))
				pager_fail(AVM_EX_UNAVAILABLE,
					   "node %u failed: no link from it "
					   "within %d ms (%s)",
					   i, P.connect_ms, P.peer[i].addr);
	}
	if (!P.client && !P.detached && P.attach_ms > 0 &&
	    now - P.t_start > (uint64_t)P.attach_ms * 1000000u)
		pager_fail(AVM_EX_UNAVAILABLE,
			   "node %u failed: no client attached within %d ms",
			   P.node, P.attach_ms);
}

/*
 * We are exiting: flush what is queued and, when msg is not NULL, tell
 * the peers' fault links and the client why.  Best effort, with short
 * deadlines.
 */
void
net_notify_all(const char *msg)
{
	uint32_t i;

	for (i = 0; i <= 2 * P.nodes; i++) {
		struct conn *c = i < P.nodes	   ? P.peer[i].fault
				 : i < 2 * P.nodes ? P.peer[i - P.nodes].bulk
						   : P.client;

		if (!c)
			continue;
		/* An orderly end says BYE; a failure says why. */
		if (!msg)
			link_bye(c->l, 300);
		else if (c->kind != CONN_BULK)
			link_notify(c->l, WIRE_E_SHUTDOWN, msg, 300);
	}
}
