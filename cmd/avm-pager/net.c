/* The links of avm-pager; see net.h. */
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

#define SETUP_MS 5000

/* A finished (or failed) set-up, from a thread to the loop. */
struct setup {
	struct setup *next;
	struct net *net;
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

static void
setup_post(struct setup *s)
{
	struct net *n = s->net;
	uint64_t one = 1;

	pthread_mutex_lock(&n->setup_lock);
	s->next = NULL;
	*n->setup_tail = s;
	n->setup_tail = &s->next;
	pthread_mutex_unlock(&n->setup_lock);
	if (write(n->setup_fd, &one, sizeof(one)) < 0)
		log_warn("eventfd: %s", strerror(errno));
}

static struct link_self
pager_self(const struct pager_cfg *cfg, uint16_t role)
{
	return (struct link_self){ .vm = cfg->vm,
				   .node = cfg->node,
				   .nodes = cfg->nodes,
				   .role = role,
				   .key = cfg->have_key ? cfg->key : NULL,
				   .heartbeat_ms = cfg->heartbeat_ms,
				   .dead_ms = cfg->dead_ms };
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
	const struct pager_cfg *cfg = s->net->cfg;
	const struct wire_hello *peer = link_peer(l);
	struct pager_link lk, plk;
	struct wire_hdr h;
	const void *p;
	uint8_t buf[WIRE_PG_LINK_SIZE];
	int rc;

	s->node = peer->node;
	lk = (struct pager_link){ cfg->mem_bytes, cfg->home_first[cfg->node],
				  cfg->home_pages[cfg->node] };
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
	if (plk.mem_bytes != cfg->mem_bytes ||
	    plk.home_first != cfg->home_first[peer->node] ||
	    plk.home_pages != cfg->home_pages[peer->node]) {
		snprintf(s->msg, sizeof(s->msg),
			 "node %u disagrees on the memory map: %llu bytes, "
			 "home pages %llu+%llu; here %llu bytes, %llu+%llu",
			 peer->node, (unsigned long long)plk.mem_bytes,
			 (unsigned long long)plk.home_first,
			 (unsigned long long)plk.home_pages,
			 (unsigned long long)cfg->mem_bytes,
			 (unsigned long long)cfg->home_first[peer->node],
			 (unsigned long long)cfg->home_pages[peer->node]);
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
	struct link_self self = pager_self(s->net->cfg, WIRE_ROLE_PAGER_FAULT);
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
	struct net *net;
	uint32_t node;
	uint16_t role;
};

static void *
dial_thread(void *arg)
{
	struct dial *d = arg;
	const struct pager_cfg *cfg = d->net->cfg;
	const char *addr = cfg->peer_addr[d->node];
	uint64_t deadline =
		d->net->t_start + (uint64_t)cfg->connect_ms * 1000000u;
	struct link_self self = pager_self(cfg, d->role);
	struct link_want want = { pager_roles, d->node, 0 };
	struct setup *s = calloc(1, sizeof(*s));
	char why[sizeof(s->msg) - 100];
	int rc;

	if (!s)
		pager_fail(AVM_EX_OSERR, "out of memory");
	s->net = d->net;
	snprintf(s->addr, sizeof(s->addr), "%s", addr);
	rc = link_dial(&self, link_transport("tcp"), addr, &want,
		       deadline_ms(deadline), &s->l, why, sizeof(why));
	if (rc == -ETIMEDOUT) {
		s->fatal = AVM_EX_UNAVAILABLE;
		snprintf(s->msg, sizeof(s->msg), "node %u failed: %s", d->node,
			 why);
	} else if (rc < 0) {
		s->fatal = rc == -EACCES ? AVM_EX_NOPERM : AVM_EX_UNAVAILABLE;
		snprintf(s->msg, sizeof(s->msg),
			 "link to node %u at %s refused: %s", d->node, addr,
			 why);
	} else if (pager_link_check(s->l, d->role, s) < 0) {
		link_free(s->l);
		s->l = NULL;
		if (!s->fatal)
			s->fatal = AVM_EX_UNAVAILABLE;
		snprintf(why, sizeof(why), "%.250s", s->msg);
		snprintf(s->msg, sizeof(s->msg),
			 "link to node %u at %s refused: %s", d->node, addr,
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

static void
net_start_dials(struct net *n)
{
	uint32_t i;
	int r;

	for (i = 0; i < n->cfg->node; i++) {
		for (r = 0; r < 2; r++) {
			struct dial *d = malloc(sizeof(*d));

			if (!d)
				pager_fail(AVM_EX_OSERR, "out of memory");
			d->net = n;
			d->node = i;
			d->role = r ? WIRE_ROLE_PAGER_BULK
				    : WIRE_ROLE_PAGER_FAULT;
			spawn(dial_thread, d);
		}
	}
}

/* A connection on the pager port: set it up in a thread. */
void
net_accept(struct net *n)
{
	struct sockaddr_storage sa;
	socklen_t len = sizeof(sa);
	struct setup *s;
	int fd;

	fd = accept4(n->listen_fd, (struct sockaddr *)&sa, &len, SOCK_CLOEXEC);
	if (fd < 0)
		return;
	s = calloc(1, sizeof(*s));
	if (!s)
		pager_fail(AVM_EX_OSERR, "out of memory");
	s->net = n;
	s->fd = fd;
	sockaddr_text((struct sockaddr *)&sa, len, s->addr, sizeof(s->addr));
	spawn(accept_thread, s);
}

/* --- pager.sock ------------------------------------------------------------ */

static void *
ctl_thread(void *arg)
{
	struct setup *s = arg;
	const struct pager_cfg *cfg = s->net->cfg;
	struct link_self self = pager_self(cfg, WIRE_ROLE_CONTROL);
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
	    (peer->node != cfg->node || peer->nodes != cfg->nodes)) {
		wire_error_set(&why, WIRE_E_INVAL,
			       "this pager is node %u of %u, not %u of %u",
			       cfg->node, cfg->nodes, peer->node, peer->nodes);
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
net_ctl_accept(struct net *n)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);
	struct setup *s;
	int fd;

	fd = accept4(n->ctl_fd, NULL, NULL, SOCK_CLOEXEC);
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
	s->net = n;
	s->fd = fd;
	s->pid = cr.pid;
	snprintf(s->addr, sizeof(s->addr), "pid %d", (int)cr.pid);
	spawn(ctl_thread, s);
}

/* --- set-up results --------------------------------------------------------- */

static void send_ready(struct net *n);

static void
take_setup(struct net *n, struct setup *s)
{
	const struct pager_cfg *cfg = n->cfg;
	char why[256];
	struct pager_layout l;
	struct wire_error e;
	struct peer *pr;
	struct conn *c;
	int rc;

	if (s->fatal)
		pager_fail(s->fatal, "%s", s->msg);
	if (s->kind == CONN_FAULT || s->kind == CONN_BULK) {
		pr = &n->peer[s->node];
		if ((s->kind == CONN_FAULT ? pr->fault : pr->bulk) != NULL) {
			log_warn("refused %s: a second %s from node %u",
				 s->addr, kind_name(s->kind), s->node);
			link_free(s->l);
			return;
		}
		c = conn_new(n, s->l, s->kind, s->node, s->addr);
		if (s->kind == CONN_FAULT)
			pr->fault = c;
		else
			pr->bulk = c;
		log_info("%s to node %u up (%s)", kind_name(s->kind), s->node,
			 s->addr);
		if (++n->links_up == 2 * (cfg->nodes - 1)) {
			n->fabric_up = 1;
			log_info("fabric up: %u nodes", cfg->nodes);
			send_ready(n);
		}
		return;
	}
	if (s->kind == CONN_TOOL) {
		c = conn_new(n, s->l, CONN_TOOL, cfg->node, s->addr);
		(void)client_frame(c, &s->first, s->payload);
		return;
	}
	/* CONN_CLIENT: PG_ATTACH with memfd and uffd */
	if (n->client || n->attached) {
		wire_error_set(&e, WIRE_E_BUSY, "a client is attached already");
		goto refuse;
	}
	rc = pager_attach_decode(s->payload, s->first.len, &l);
	if (rc < 0) {
		wire_error_set(&e, WIRE_E_PROTO, "malformed PG_ATTACH");
		goto refuse;
	}
	rc = n->ops->attach(n->ctx, &l, s->memfd, s->uffd, why, sizeof(why));
	if (rc < 0) {
		wire_error_set(&e, WIRE_E_INVAL, "%s", why);
		goto refuse;
	}
	n->client = conn_new(n, s->l, CONN_CLIENT, cfg->node, s->addr);
	n->attached = 1;
	n->attach_id = s->first.id;
	log_info("client %s attached: %u slot(s), %llu bytes", s->addr,
		 l.nslots, (unsigned long long)l.mem_bytes);
	send_ready(n);
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
send_ready(struct net *n)
{
	const struct pager_cfg *cfg = n->cfg;
	struct pager_ready r = { .page_size = PAGER_PAGE_SIZE,
				 .node = cfg->node,
				 .nodes = cfg->nodes,
				 .home_first = cfg->home_first[cfg->node],
				 .home_pages = cfg->home_pages[cfg->node] };
	uint8_t buf[WIRE_PG_READY_SIZE];

	if (!n->fabric_up || !n->client || n->ready_sent || n->ready_wait)
		return;
	pager_ready_encode(&r, buf, sizeof(buf));
	conn_send(n->client, WIRE_T_PG_READY, WIRE_F_REPLY, n->attach_id, buf,
		  sizeof(buf), NULL, 0);
	n->ready_sent = 1;
	n->ops->ready(n->ctx, &r);
}

void
net_ready_release(struct net *n)
{
	n->ready_wait = 0;
	send_ready(n);
}

void
net_setup_ready(struct net *n)
{
	struct setup *s, *next;
	uint64_t v;

	if (read(n->setup_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		log_warn("eventfd: %s", strerror(errno));
	pthread_mutex_lock(&n->setup_lock);
	s = n->setup_head;
	n->setup_head = NULL;
	n->setup_tail = &n->setup_head;
	pthread_mutex_unlock(&n->setup_lock);
	for (; s; s = next) {
		next = s->next;
		take_setup(n, s);
		free(s->payload);
		free(s);
	}
}

/* --- heartbeats and deadlines ------------------------------------------- */

/* A busy fault link never idles into a heartbeat: ping it this often. */
#define RTT_PING_NS 1000000000ull

/*
 * The peer's round trip into the stats: the fault link's, measured by a
 * PING of ours at least every RTT_PING_NS, busy or not (the link layer
 * pings only links idle for a heartbeat interval), so that it includes
 * the queue of page traffic in front of it.
 */
static void
peer_rtt(struct net *n, uint32_t node, uint64_t now)
{
	struct conn *c = n->peer[node].fault;
	struct link_stats ls;

	if (!c || c->bye)
		return;
	if (now - c->last_ping >= RTT_PING_NS) {
		c->last_ping = now;
		(void)link_ping(c->l, now);
	}
	link_stats(c->l, &ls);
	n->st->peer[node].rtt_ns = ls.rtt_ns;
}

void
net_tick(struct net *n, uint64_t now)
{
	const struct pager_cfg *cfg = n->cfg;
	uint32_t i;
	int k;

	for (i = 0; i < cfg->nodes; i++) {
		if (i != cfg->node)
			peer_rtt(n, i, now);
		for (k = 0; k < 2; k++) {
			struct conn *c = k ? n->peer[i].bulk : n->peer[i].fault;

			if (!c || c->bye)
				continue;
			if (link_tick(c->l, now) < 0)
				pager_fail(AVM_EX_UNAVAILABLE,
					   "node %u failed: %s on the %s (%s)",
					   i, link_why(c->l),
					   kind_name(c->kind), c->addr);
			conn_account(c);
			conn_sync(c);
		}
	}
	if (!n->fabric_up &&
	    now - n->t_start > (uint64_t)cfg->connect_ms * 1000000u) {
		for (i = 0; i < cfg->nodes; i++)
			if (i != cfg->node &&
			    (!n->peer[i].fault || !n->peer[i].bulk))
				pager_fail(AVM_EX_UNAVAILABLE,
					   "node %u failed: no link from it "
					   "within %d ms (%s)",
					   i, cfg->connect_ms,
					   cfg->peer_addr[i]);
	}
	if (!n->client && !n->detached && cfg->attach_ms > 0 &&
	    now - n->t_start > (uint64_t)cfg->attach_ms * 1000000u)
		pager_fail(AVM_EX_UNAVAILABLE,
			   "node %u failed: no client attached within %d ms",
			   cfg->node, cfg->attach_ms);
}

void
net_notify_all(struct net *n, const char *msg)
{
	uint32_t i, nodes = n->cfg->nodes;

	for (i = 0; i <= 2 * nodes; i++) {
		struct conn *c = i < nodes	 ? n->peer[i].fault
				 : i < 2 * nodes ? n->peer[i - nodes].bulk
						 : n->client;

		if (!c)
			continue;
		/* An orderly end says BYE; a failure says why. */
		if (!msg)
			link_bye(c->l, 300);
		else if (c->kind != CONN_BULK)
			link_notify(c->l, WIRE_E_SHUTDOWN, msg, 300);
	}
}

/* --- start ----------------------------------------------------------------- */

void
net_init(struct net *n, const struct pager_cfg *cfg, struct pager_stats *st,
	 int epfd, const struct net_ops *ops, void *ctx)
{
	char why[300];

	memset(n, 0, sizeof(*n));
	n->cfg = cfg;
	n->st = st;
	n->epfd = epfd;
	n->ops = ops;
	n->ctx = ctx;
	n->listen_fd = -1;
	n->t_start = now_ns();
	pthread_mutex_init(&n->setup_lock, NULL);
	n->setup_tail = &n->setup_head;
	n->setup_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (n->setup_fd < 0)
		pager_fail(AVM_EX_OSERR, "eventfd: %s", strerror(errno));
	n->ctl_fd = link_listen(link_transport("unix"), cfg->sock_path, why,
				sizeof(why));
	if (n->ctl_fd < 0)
		pager_fail(n->ctl_fd == -EADDRINUSE ? AVM_EX_TEMPFAIL
						    : AVM_EX_CANTCREAT,
			   "listen on '%s': %s", cfg->sock_path,
			   n->ctl_fd == -EADDRINUSE ? "a pager answers there "
						      "already"
						    : strerror(-n->ctl_fd));
	if (cfg->nodes == 1) {
		n->fabric_up = 1;
		return;
	}
	n->listen_fd = link_listen(link_transport("tcp"), cfg->listen_addr, why,
				   sizeof(why));
	if (n->listen_fd < 0)
		pager_fail(AVM_EX_CANTCREAT, "listen on %s: %s",
			   cfg->listen_addr, strerror(-n->listen_fd));
	net_start_dials(n);
}
