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

#include "avm/log.h"
#include "avm/util.h"
#include "daemon.h"

#define SETUP_MS 5000

/* A finished (or failed) set-up, from a thread to the loop. */
struct setup {
	struct setup *next;
	int fd;
	enum conn_kind kind;
	uint32_t node;
	char addr[80];
	int fatal; /* exit status when the whole pager must stop */
	char msg[300];
	/* pager.sock */
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

static void
sockaddr_str(const struct sockaddr *sa, char *buf, size_t len)
{
	char host[64], port[16];

	if (getnameinfo(sa,
			sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
						  : sizeof(struct sockaddr_in),
			host, sizeof(host), port, sizeof(port),
			NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		snprintf(buf, len, "?");
	else if (sa->sa_family == AF_INET6)
		snprintf(buf, len, "[%.46s]:%.6s", host, port);
	else
		snprintf(buf, len, "%.46s:%.6s", host, port);
}

/* --- pager links: the set-up both sides run ------------------------------- */

/*
 * Handshake, PG_AUTH, PG_LINK on fd.  want_node: the node we dialed, or
 * UINT32_MAX when we accepted.  Fills s (node, kind, or fatal and msg).
 * Returns 0 when the link is up.
 */
static int
link_setup(int fd, uint16_t role, uint32_t want_node, struct setup *s)
{
	struct wire_hello mine, peer;
	struct wire_error why;
	struct pager_link lk, plk;
	struct wire_hdr h;
	uint8_t buf[WIRE_ERROR_MAX];
	uint64_t deadline = now_ns() + (uint64_t)SETUP_MS * 1000000u;
	uint16_t version;
	int rc, one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	rc = wire_hello_init(&mine, role, P.node, P.nodes, P.vm);
	if (rc < 0)
		goto bad;
	rc = wire_handshake(fd, &mine, &peer, &version, SETUP_MS, &why);
	if (rc < 0) {
		snprintf(s->msg, sizeof(s->msg), "handshake: %s%s%s",
			 strerror(-rc), why.code ? ": " : "", why.msg);
		return -1;
	}
	if (want_node == UINT32_MAX)
		role = peer.role; /* the dialer says which link this is */
	if ((peer.role != WIRE_ROLE_PAGER_FAULT &&
	     peer.role != WIRE_ROLE_PAGER_BULK) ||
	    peer.nodes != P.nodes || peer.node == P.node ||
	    (want_node != UINT32_MAX && peer.node != want_node) ||
	    (want_node == UINT32_MAX && peer.node < P.node)) {
		wire_error_set(&why, WIRE_E_INVAL,
			       "node %u of %u as %s is not expected here "
			       "(node %u of %u)",
			       peer.node, peer.nodes, wire_role_name(peer.role),
			       P.node, P.nodes);
		(void)wire_send_error(fd, WIRE_T_ERROR, 0, &why);
		snprintf(s->msg, sizeof(s->msg), "%s", why.msg);
		return -1;
	}
	s->node = peer.node;
	rc = auth_exchange(fd, P.key, &mine, &peer, deadline_ms(deadline),
			   &why);
	if (rc < 0) {
		snprintf(s->msg, sizeof(s->msg), "node %u: %s%s%s", peer.node,
			 rc == -EACCES ? "wrong secret" : strerror(-rc),
			 why.code ? ": " : "", why.msg);
		if (rc == -EACCES ||
		    (rc == -ECONNREFUSED && why.code == WIRE_E_AUTH))
			s->fatal = want_node != UINT32_MAX ? AVM_EX_NOPERM : 0;
		return -1;
	}
	lk = (struct pager_link){ P.mem_bytes, P.home_first[P.node],
				  P.home_pages[P.node] };
	pager_link_encode(&lk, buf, sizeof(buf));
	rc = wire_send_timeout(fd, WIRE_T_PG_LINK, 0, 0, buf, WIRE_PG_LINK_SIZE,
			       deadline_ms(deadline));
	if (rc == 0)
		rc = wire_recv(fd, &h, buf, sizeof(buf), deadline_ms(deadline));
	if (rc == 0 && (h.type != WIRE_T_PG_LINK ||
			pager_link_decode(buf, h.len, &plk) < 0))
		rc = -EPROTO;
	if (rc < 0) {
		snprintf(s->msg, sizeof(s->msg), "node %u: link set-up: %s",
			 peer.node, strerror(-rc));
		return -1;
	}
	if (plk.mem_bytes != P.mem_bytes ||
	    plk.home_first != P.home_first[peer.node] ||
	    plk.home_pages != P.home_pages[peer.node]) {
		snprintf(s->msg, sizeof(s->msg),
			 "node %u disagrees on the memory map: %llu bytes, "
			 "home pages %llu+%llu; here %llu bytes, %llu+%llu",
			 peer.node, (unsigned long long)plk.mem_bytes,
			 (unsigned long long)plk.home_first,
			 (unsigned long long)plk.home_pages,
			 (unsigned long long)P.mem_bytes,
			 (unsigned long long)P.home_first[peer.node],
			 (unsigned long long)P.home_pages[peer.node]);
		s->fatal = AVM_EX_CONFIG;
		return -1;
	}
	s->kind = role == WIRE_ROLE_PAGER_FAULT ? CONN_FAULT : CONN_BULK;
	return 0;
bad:
	snprintf(s->msg, sizeof(s->msg), "%s", strerror(-rc));
	return -1;
}

static void *
accept_thread(void *arg)
{
	struct setup *s = arg;

	/* Our HELLO says pager-fault; the dialer's role names the link. */
	if (link_setup(s->fd, WIRE_ROLE_PAGER_FAULT, UINT32_MAX, s) < 0) {
		log_warn("refused %s: %s", s->addr, s->msg);
		close(s->fd);
		s->fd = -1;
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
	struct timespec ts = { 0, 50 * 1000 * 1000 };
	struct setup *s = calloc(1, sizeof(*s));
	int fd = -1, e = 0;

	if (!s)
		pager_fail(AVM_EX_OSERR, "out of memory");
	snprintf(s->addr, sizeof(s->addr), "%s", pr->addr);
	for (;;) {
		fd = socket(pr->sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			pager_fail(AVM_EX_OSERR, "socket: %s", strerror(errno));
		if (connect(fd, (struct sockaddr *)&pr->sa, pr->salen) == 0)
			break;
		e = errno;
		close(fd);
		fd = -1;
		if (now_ns() >= deadline)
			break;
		nanosleep(&ts, NULL);
	}
	if (fd < 0) {
		s->fd = -1;
		s->fatal = AVM_EX_UNAVAILABLE;
		snprintf(s->msg, sizeof(s->msg),
			 "node %u failed: cannot reach %s within %d ms: %s",
			 d->node, pr->addr, P.connect_ms, strerror(e));
		setup_post(s);
		free(d);
		return NULL;
	}
	s->fd = fd;
	if (link_setup(fd, d->role, d->node, s) < 0) {
		close(fd);
		s->fd = -1;
		if (!s->fatal)
			s->fatal = AVM_EX_UNAVAILABLE;
		{
			char m[sizeof(s->msg)];

			snprintf(m, sizeof(m), "%s", s->msg);
			snprintf(s->msg, sizeof(s->msg),
				 "link to node %u at %s refused: %.200s",
				 d->node, pr->addr, m);
		}
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
	struct peer *me = &P.peer[P.node];
	int fd, one = 1;

	fd = socket(me->sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&me->sa, me->salen) < 0 ||
	    listen(fd, 64) < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	return fd;
}

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
	sockaddr_str((struct sockaddr *)&sa, s->addr, sizeof(s->addr));
	spawn(accept_thread, s);
}

/* --- pager.sock ------------------------------------------------------------ */

int
net_ctl_listen(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, probe;

	if (strlen(P.sock_path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, P.sock_path);
	/* A socket file nobody answers on is left from a crash. */
	probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (probe >= 0 &&
	    connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		close(probe);
		return -EADDRINUSE;
	}
	if (probe >= 0)
		close(probe);
	unlink(P.sock_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod(P.sock_path, 0600) < 0 || listen(fd, 8) < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	return fd;
}

/* Reads the frame after the handshake, with the fds it carries. */
static int
recv_first(struct setup *s, uint64_t deadline)
{
	union {
		struct cmsghdr c;
		char buf[CMSG_SPACE(4 * sizeof(int))];
	} u;
	uint8_t hb[WIRE_HDR_SIZE];
	struct iovec iov = { hb, sizeof(hb) };
	struct msghdr msg = { .msg_iov = &iov,
			      .msg_iovlen = 1,
			      .msg_control = u.buf,
			      .msg_controllen = sizeof(u.buf) };
	struct pollfd pfd = { .fd = s->fd, .events = POLLIN };
	struct cmsghdr *c;
	int fds[4], nfds = 0, i, rc;
	ssize_t n;

	if (poll(&pfd, 1, deadline_ms(deadline)) <= 0)
		return -ETIMEDOUT;
	n = recvmsg(s->fd, &msg, MSG_CMSG_CLOEXEC | MSG_WAITALL);
	if (n < 0)
		return -errno;
	for (c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			int k = (int)((c->cmsg_len - CMSG_LEN(0)) /
				      sizeof(int));

			for (i = 0; i < k && nfds < 4; i++)
				memcpy(&fds[nfds++],
				       CMSG_DATA(c) + i * sizeof(int),
				       sizeof(int));
		}
	}
	if (nfds == 2) {
		s->memfd = fds[0];
		s->uffd = fds[1];
	} else {
		for (i = 0; i < nfds; i++)
			close(fds[i]);
	}
	if (n != WIRE_HDR_SIZE)
		return -EPIPE;
	rc = wire_hdr_decode(hb, sizeof(hb), &s->first);
	if (rc < 0)
		return rc;
	s->payload = malloc(s->first.len + 1);
	if (!s->payload)
		return -ENOMEM;
	while (s->first.len) {
		size_t got = 0;

		while (got < s->first.len) {
			if (poll(&pfd, 1, deadline_ms(deadline)) <= 0)
				return -ETIMEDOUT;
			n = read(s->fd, s->payload + got, s->first.len - got);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return n < 0 ? -errno : -EPIPE;
			got += (size_t)n;
		}
		break;
	}
	if (s->first.type == WIRE_T_PG_ATTACH && nfds != 2)
		return -EBADMSG;
	return 0;
}

static void *
ctl_thread(void *arg)
{
	struct setup *s = arg;
	struct wire_hello mine, peer;
	struct wire_error why;
	uint64_t deadline = now_ns() + (uint64_t)SETUP_MS * 1000000u;
	uint16_t version;
	int rc;

	s->memfd = s->uffd = -1;
	wire_hello_init(&mine, WIRE_ROLE_CONTROL, P.node, P.nodes, P.vm);
	rc = wire_handshake(s->fd, &mine, &peer, &version, SETUP_MS, &why);
	if (rc < 0) {
		log_warn("pager.sock: refused pid %d: handshake: %s%s%s",
			 (int)s->pid, strerror(-rc), why.code ? ": " : "",
			 why.msg);
		goto drop;
	}
	if (peer.role != WIRE_ROLE_CONTROL && peer.role != WIRE_ROLE_CLIENT) {
		log_warn("pager.sock: refused pid %d: role %s", (int)s->pid,
			 wire_role_name(peer.role));
		goto drop;
	}
	rc = recv_first(s, deadline);
	if (rc < 0) {
		log_warn("pager.sock: pid %d: first frame: %s", (int)s->pid,
			 strerror(-rc));
		goto drop;
	}
	if (s->first.type == WIRE_T_PG_ATTACH &&
	    (peer.node != P.node || peer.nodes != P.nodes)) {
		wire_error_set(&why, WIRE_E_INVAL,
			       "this pager is node %u of %u, not %u of %u",
			       P.node, P.nodes, peer.node, peer.nodes);
		(void)wire_send_error(s->fd, WIRE_T_PG_READY, s->first.id,
				      &why);
		log_warn("pager.sock: refused pid %d: %s", (int)s->pid,
			 why.msg);
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
	close(s->fd);
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

static struct conn *
conn_new(int fd, enum conn_kind kind, uint32_t node, const char *addr)
{
	struct conn *c = calloc(1, sizeof(*c));
	struct epoll_event ev = { .events = EPOLLIN };
	int fl;

	if (!c)
		pager_fail(AVM_EX_OSERR, "out of memory");
	c->fd = fd;
	c->kind = kind;
	c->node = node;
	snprintf(c->addr, sizeof(c->addr), "%s", addr);
	c->last_rx = c->last_tx = now_ns();
	fl = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	ev.data.ptr = c;
	if (epoll_ctl(P.epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		pager_fail(AVM_EX_OSERR, "epoll_ctl: %s", strerror(errno));
	return c;
}

void
conn_close(struct conn *c)
{
	epoll_ctl(P.epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c->in);
	free(c->out);
	free(c);
}

static void
conn_flush(struct conn *c)
{
	struct epoll_event ev = { .data.ptr = c };
	ssize_t n;

	while (c->out_off < c->out_len) {
		n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
			 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		c->out_off += (size_t)n;
		P.st->bytes_sent += (uint64_t)n;
	}
	if (c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	if (!!c->pollout != (c->out_len > 0)) {
		c->pollout = c->out_len > 0;
		ev.events = EPOLLIN | (c->pollout ? EPOLLOUT : 0);
		epoll_ctl(P.epfd, EPOLL_CTL_MOD, c->fd, &ev);
	}
}

int
conn_send(struct conn *c, uint16_t type, uint16_t flags, uint64_t id,
	  const void *a, size_t alen, const void *b, size_t blen)
{
	struct wire_hdr h = { .type = type,
			      .flags = flags,
			      .len = (uint32_t)(alen + blen),
			      .id = id };
	size_t need = WIRE_HDR_SIZE + alen + blen;
	int rc;

	if (c->out_off && c->out_len + need > c->out_cap) {
		memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
		c->out_len -= c->out_off;
		c->out_off = 0;
	}
	if (c->out_len + need > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 65536;
		void *p;

		while (cap < c->out_len + need)
			cap *= 2;
		p = realloc(c->out, cap);
		if (!p)
			pager_fail(AVM_EX_OSERR, "out of memory");
		c->out = p;
		c->out_cap = cap;
	}
	rc = wire_hdr_encode(&h, c->out + c->out_len);
	if (rc < 0)
		pager_fail(AVM_EX_SOFTWARE, "encode %s: %s",
			   wire_type_name(type), strerror(-rc));
	if (alen)
		memcpy(c->out + c->out_len + WIRE_HDR_SIZE, a, alen);
	if (blen)
		memcpy(c->out + c->out_len + WIRE_HDR_SIZE + alen, b, blen);
	c->out_len += need;
	c->last_tx = now_ns();
	if (!c->pollout)
		conn_flush(c);
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

static void
client_frame(struct conn *c, const struct wire_hdr *h, const uint8_t *p)
{
	struct pager_stream s;
	struct wire_error e;
	uint8_t eb[WIRE_ERROR_MAX];
	int rc, n;

	if (h->type == WIRE_T_BYE && c->kind == CONN_CLIENT) {
		log_info("client detached");
		fault_detach();
		for (uint32_t i = 0; i < P.nodes; i++)
			if (P.peer[i].fault)
				conn_send(P.peer[i].fault, WIRE_T_PG_DONE, 0, 0,
					  NULL, 0, NULL, 0);
		check_all_done();
		return;
	}
	if (h->type == WIRE_T_BYE) {
		c->bye = 1;
		return;
	}
	if (h->type == WIRE_T_PING) {
		conn_send(c, WIRE_T_PONG, WIRE_F_REPLY, h->id, p, h->len, NULL,
			  0);
		return;
	}
	if (h->type == WIRE_T_PG_STREAM) {
		rc = pager_stream_decode(p, h->len, &s);
		if (rc == 0)
			rc = stream_start(c, h->id, &s);
		if (rc == 0)
			return;
		wire_error_set(&e, wire_errcode_from_errno(-rc), "stream: %s",
			       strerror(-rc));
		n = wire_error_encode(&e, eb, sizeof(eb));
		conn_send(c, WIRE_T_PG_STREAM_DONE, WIRE_F_REPLY | WIRE_F_ERROR,
			  h->id, eb, (size_t)n, NULL, 0);
		return;
	}
	if (c->kind == CONN_CLIENT)
		pager_fail(AVM_EX_UNAVAILABLE,
			   "node %u failed: its client sent %s", P.node,
			   wire_type_name(h->type));
	conn_lost(c, "sent an unexpected frame");
}

static void
peer_frame(struct conn *c, const struct wire_hdr *h, const uint8_t *p)
{
	struct wire_error e;

	switch (h->type) {
	case WIRE_T_PING:
		conn_send(c, WIRE_T_PONG, WIRE_F_REPLY, h->id, p, h->len, NULL,
			  0);
		return;
	case WIRE_T_PONG:
		return;
	case WIRE_T_BYE:
		c->bye = 1;
		return;
	case WIRE_T_ERROR:
		if (wire_error_decode(p, h->len, &e) < 0)
			snprintf(e.msg, sizeof(e.msg), "(malformed ERROR)");
		pager_fail(AVM_EX_UNAVAILABLE, "%s (reported by node %u)",
			   e.msg, c->node);
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
	ssize_t n;
	size_t off;

	if (events & EPOLLOUT)
		conn_flush(c);
	if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;
	if (c->in_cap - c->in_len < 65536) {
		size_t cap = c->in_cap ? c->in_cap * 2 : 131072;
		void *p;

		if (cap > 2 * WIRE_MAX_FRAME)
			cap = 2 * WIRE_MAX_FRAME;
		if (cap > c->in_cap) {
			p = realloc(c->in, cap);
			if (!p)
				pager_fail(AVM_EX_OSERR, "out of memory");
			c->in = p;
			c->in_cap = cap;
		}
	}
	n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		conn_lost(c, n == 0 ? "closed" : strerror(errno));
		return;
	}
	c->in_len += (size_t)n;
	c->last_rx = now_ns();
	P.st->bytes_received += (uint64_t)n;
	off = 0;
	for (;;) {
		n = wire_frame_next(c->in + off, c->in_len - off, &h, &payload);
		if (n == 0)
			break;
		if (n < 0) {
			if (c->kind == CONN_TOOL) {
				conn_lost(c, "sent a malformed frame");
				return;
			}
			pager_fail(AVM_EX_UNAVAILABLE,
				   "node %u failed: malformed frame on the "
				   "%s: %s",
				   c->kind == CONN_CLIENT ? P.node : c->node,
				   kind_name(c->kind), strerror((int)-n));
		}
		off += (size_t)n;
		if (c->kind == CONN_CLIENT || c->kind == CONN_TOOL)
			client_frame(c, &h, payload);
		else
			peer_frame(c, &h, payload);
		if (P.client == NULL && c->kind == CONN_CLIENT)
			return; /* closed under us */
	}
	if (off) {
		memmove(c->in, c->in + off, c->in_len - off);
		c->in_len -= off;
	}
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
			close(s->fd);
			return;
		}
		struct conn *c = conn_new(s->fd, s->kind, s->node, s->addr);

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
		struct conn *c = conn_new(s->fd, CONN_TOOL, P.node, s->addr);

		client_frame(c, &s->first, s->payload);
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
	P.client = conn_new(s->fd, CONN_CLIENT, P.node, s->addr);
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
	(void)wire_send_error(s->fd, WIRE_T_PG_READY, s->first.id, &e);
	if (s->memfd >= 0)
		close(s->memfd);
	if (s->uffd >= 0)
		close(s->uffd);
	close(s->fd);
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
	uint64_t hb = (uint64_t)P.heartbeat_ms * 1000000u;
	uint64_t dead = (uint64_t)P.dead_ms * 1000000u;
	uint8_t tok[8];
	uint32_t i;
	int k;

	for (i = 0; i < P.nodes; i++) {
		for (k = 0; k < 2; k++) {
			struct conn *c = k ? P.peer[i].bulk : P.peer[i].fault;

			if (!c || c->bye)
				continue;
			if (now - c->last_rx > dead)
				pager_fail(AVM_EX_UNAVAILABLE,
					   "node %u failed: no heartbeat on "
					   "the %s for %d ms (%s)",
					   i, kind_name(c->kind), P.dead_ms,
					   c->addr);
			if (now - c->last_tx >= hb) {
				wire_put64(tok, now);
				conn_send(c, WIRE_T_PING, 0, now, tok,
					  sizeof(tok), NULL, 0);
			}
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
	struct wire_error e;
	uint8_t eb[WIRE_ERROR_MAX];
	uint32_t i;
	int n;

	wire_error_set(&e, WIRE_E_SHUTDOWN, "%s", msg ? msg : "done");
	n = wire_error_encode(&e, eb, sizeof(eb));
	for (i = 0; i <= 2 * P.nodes; i++) {
		struct conn *c = i < P.nodes	   ? P.peer[i].fault
				 : i < 2 * P.nodes ? P.peer[i - P.nodes].bulk
						   : P.client;
		uint64_t dl = now_ns() + 300000000u;

		if (!c)
			continue;
		while (c->out_off < c->out_len && now_ns() < dl) {
			struct pollfd pfd = { .fd = c->fd, .events = POLLOUT };

			conn_flush(c);
			if (c->out_off < c->out_len)
				poll(&pfd, 1, 50);
		}
		if (c->out_off < c->out_len || !msg || (c->kind == CONN_BULK))
			continue; /* mid-frame: an ERROR would be garbage */
		(void)wire_send_timeout(c->fd, WIRE_T_ERROR, 0, 0, eb,
					(uint32_t)n, 300);
	}
}
