/* The link layer; see include/avm/link.h. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "avm/link.h"
#include "avm/util.h"

/* A greeting always gets at least this long, however late it starts. */
#define GREET_MIN_MS 1000
#define GREETERS_MAX 32 /* link_accept_n: handshakes under way at once */
#define DIAL_RETRY_MS 50
#define IN_CAP_MIN 65536u

struct link {
	int fd;
	int is_unix;
	int nonblock;
	int heartbeat_ms, dead_ms;
	struct wire_hello peer;
	uint16_t version;
	char addr[96];
	char why[300];

	pthread_mutex_t tx; /* out, and every write to fd */
	uint8_t *out;
	size_t out_off, out_len, out_cap;

	uint8_t *in; /* the receiving thread's alone */
	size_t in_off, in_len, in_cap;
	int fds[LINK_MAX_FDS];
	int nfds;

	_Atomic uint64_t last_rx, last_tx;
	_Atomic int bye;
	_Atomic uint64_t bytes_in, bytes_out, frames_in, frames_out, rtt;
};

/* --- transports -------------------------------------------------------- */

static int
tcp_resolve(const char *addr, size_t len, struct sockaddr_storage *sa,
	    socklen_t *salen)
{
	unsigned n;

	if (len == 0 || addr_parse(addr, len, sa, &n) < 0)
		return -EINVAL;
	*salen = (socklen_t)n;
	return 0;
}

static void
tcp_tune(int fd)
{
	int one = 1;

	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static int
unix_resolve(const char *addr, size_t len, struct sockaddr_storage *sa,
	     socklen_t *salen)
{
	struct sockaddr_un *u = (struct sockaddr_un *)sa;

	if (len == 0 || memchr(addr, '\0', len))
		return -EINVAL;
	if (len >= sizeof(u->sun_path))
		return -ENAMETOOLONG;
	memset(u, 0, sizeof(*u));
	u->sun_family = AF_UNIX;
	memcpy(u->sun_path, addr, len);
	*salen = sizeof(*u);
	return 0;
}

static void
unix_tune(int fd)
{
	(void)fd;
}

static const struct link_transport transports[] = {
	{ "tcp", tcp_resolve, tcp_tune },
	{ "unix", unix_resolve, unix_tune },
};

const struct link_transport *
link_transport(const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(transports) / sizeof(transports[0]); i++)
		if (strcmp(transports[i].name, name) == 0)
			return &transports[i];
	return NULL;
}

/* --- set-up -------------------------------------------------------------- */

int
link_listen(const struct link_transport *t, const char *addr, char *why,
	    size_t whylen)
{
	struct sockaddr_storage sa;
	socklen_t salen;
	int fd, probe, one = 1, r;

	r = t->resolve(addr, strlen(addr), &sa, &salen);
	if (r < 0)
		return avm_why(why, whylen, r, "bad %s address '%s'", t->name,
			       addr);
	if (sa.ss_family == AF_UNIX) {
		/* A socket file nobody answers on is left from a crash. */
		probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (probe >= 0 &&
		    connect(probe, (struct sockaddr *)&sa, salen) == 0) {
			close(probe);
			return avm_why(why, whylen, -EADDRINUSE,
				       "'%s': in use by a running process",
				       addr);
		}
		if (probe >= 0)
			close(probe);
		unlink(addr);
	}
	fd = socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return avm_why(why, whylen, -errno, "socket: %s",
			       strerror(errno));
	if (sa.ss_family != AF_UNIX)
		(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one,
				 sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, salen) < 0 ||
	    (sa.ss_family == AF_UNIX && chmod(addr, 0600) < 0) ||
	    listen(fd, 64) < 0) {
		r = -errno;
		close(fd);
		return avm_why(why, whylen, r, "listen on '%s': %s", addr,
			       strerror(-r));
	}
	return fd;
}

static int
node_role(uint16_t role)
{
	return role == WIRE_ROLE_PAGER_FAULT || role == WIRE_ROLE_PAGER_BULK ||
	       role == WIRE_ROLE_RUN || role == WIRE_ROLE_FABRIC;
}

/* NULL when the peer is one we take, else why not. */
static const char *
peer_unwanted(const struct link_self *self, const struct link_want *want,
	      const struct wire_hello *p)
{
	if (p->role >= 32 || !(want->roles & (1u << p->role)))
		return "its role is not taken here";
	if (!node_role(p->role) || self->nodes == 0)
		return NULL;
	if (p->nodes != self->nodes)
		return "its VM has another number of nodes";
	if (p->node >= self->nodes || p->node == self->node)
		return "its node number is not a peer's";
	if (want->node != LINK_ANY_NODE && p->node != want->node)
		return "it is not the node dialed";
	if (want->above && p->node < self->node)
		return "a lower node must not dial a higher one";
	return NULL;
}

int
link_greet(int fd, const struct link_self *self, const struct link_want *want,
	   const char *addr, int timeout_ms, struct link **out, char *why,
	   size_t whylen)
{
	uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000u;
	struct wire_hello mine, peer;
	struct wire_error e;
	struct sockaddr_storage sa;
	socklen_t salen = sizeof(sa);
	const char *bad;
	uint16_t version;
	struct link *l;
	int r;

	*out = NULL;
	memset(&peer, 0, sizeof(peer));
	memset(&sa, 0, sizeof(sa)); /* AF_UNSPEC unless getsockname says */
	if (getsockname(fd, (struct sockaddr *)&sa, &salen) == 0 &&
	    sa.ss_family != AF_UNIX)
		tcp_tune(fd);
	r = wire_hello_init(&mine, self->role, self->node, self->nodes,
			    self->vm);
	if (r < 0) {
		close(fd);
		return avm_why(why, whylen, r, "%s: our HELLO: %s", addr,
			       strerror(-r));
	}
	r = wire_handshake(fd, &mine, &peer, &version, deadline_ms(deadline),
			   &e);
	if (r < 0) {
		close(fd);
		return avm_why(why, whylen, r, "%s: handshake: %s%s%s", addr,
			       strerror(-r), e.code ? ": " : "",
			       e.code ? e.msg : "");
	}
	bad = peer_unwanted(self, want, &peer);
	if (bad) {
		wire_error_set(&e, WIRE_E_INVAL,
			       "%s node %u of %u is not expected here (node "
			       "%u of %u): %s",
			       wire_role_name(peer.role), peer.node, peer.nodes,
			       self->node, self->nodes, bad);
		(void)wire_send_error(fd, WIRE_T_ERROR, 0, &e);
		close(fd);
		return avm_why(why, whylen, -EPROTO, "%s: %s", addr, e.msg);
	}
	if (self->key) {
		r = auth_exchange(fd, self->key, &mine, &peer,
				  deadline_ms(deadline), &e);
		if (r < 0) {
			close(fd);
			if (r == -ECONNREFUSED && e.code == WIRE_E_AUTH)
				r = -EACCES;
			return avm_why(why, whylen, r, "%s: node %u: %s%s%s",
				       addr, peer.node,
				       r == -EACCES ? "wrong secret"
						    : strerror(-r),
				       e.code ? ": " : "", e.code ? e.msg : "");
		}
	}
	l = calloc(1, sizeof(*l));
	if (!l) {
		close(fd);
		return avm_why(why, whylen, -ENOMEM, "%s: out of memory", addr);
	}
	l->fd = fd;
	l->is_unix = sa.ss_family == AF_UNIX;
	l->peer = peer;
	l->version = version;
	l->dead_ms = self->dead_ms > 0 ? self->dead_ms : LINK_DEAD_MS;
	l->heartbeat_ms = self->heartbeat_ms > 0 ? self->heartbeat_ms
			  : l->dead_ms / 3 < LINK_HEARTBEAT_MS
				  ? l->dead_ms / 3 + 1
				  : LINK_HEARTBEAT_MS;
	snprintf(l->addr, sizeof(l->addr), "%s", addr);
	pthread_mutex_init(&l->tx, NULL);
	atomic_store(&l->last_rx, now_ns());
	atomic_store(&l->last_tx, now_ns());
	*out = l;
	return 0;
}

/* connect() that gives up at the deadline. */
static int
connect_by(int fd, const struct sockaddr_storage *sa, socklen_t salen,
	   uint64_t deadline)
{
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	socklen_t len = sizeof(int);
	int fl = fcntl(fd, F_GETFL), err = 0, r;

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	r = connect(fd, (const struct sockaddr *)sa, salen);
	if (r < 0 && errno != EINPROGRESS)
		return -errno;
	if (r < 0) {
		do
			r = poll(&p, 1, deadline_ms(deadline));
		while (r < 0 && errno == EINTR);
		if (r == 0)
			return -ETIMEDOUT;
		if (r < 0)
			return -errno;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			return -errno;
		if (err)
			return -err;
	}
	return fcntl(fd, F_SETFL, fl) < 0 ? -errno : 0;
}

int
link_dial(const struct link_self *self, const struct link_transport *t,
	  const char *addr, const struct link_want *want, int timeout_ms,
	  struct link **out, char *why, size_t whylen)
{
	uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000u;
	struct timespec pause = { 0, DIAL_RETRY_MS * 1000000L };
	struct sockaddr_storage sa;
	socklen_t salen;
	int fd, r, left;

	*out = NULL;
	r = t->resolve(addr, strlen(addr), &sa, &salen);
	if (r < 0)
		return avm_why(why, whylen, r, "bad %s address '%s'", t->name,
			       addr);
	for (;;) {
		fd = socket(sa.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return avm_why(why, whylen, -errno, "socket: %s",
				       strerror(errno));
		r = connect_by(fd, &sa, salen, deadline);
		if (r == 0)
			break;
		close(fd);
		/* Nobody listens yet: the peer may still be starting. */
		if (deadline_ms(deadline) == 0)
			return avm_why(why, whylen,
				       r == -ECONNREFUSED || r == -ENOENT
					       ? -ETIMEDOUT
					       : r,
				       "cannot reach %s within %d ms: %s", addr,
				       timeout_ms, strerror(-r));
		/* Not worth another try (a firewall's "prohibited" is
		 * EACCES, which must not read as a failed proof). */
		if (r != -ECONNREFUSED && r != -ENOENT && r != -EINTR &&
		    r != -ECONNRESET && r != -EAGAIN)
			return avm_why(
				why, whylen,
				r == -EACCES || r == -EPERM ? -EHOSTUNREACH : r,
				"cannot reach %s: %s", addr, strerror(-r));
		nanosleep(&pause, NULL);
	}
	t->tune(fd);
	left = deadline_ms(deadline);
	return link_greet(fd, self, want, addr,
			  left > GREET_MIN_MS ? left : GREET_MIN_MS, out, why,
			  whylen);
}

int
link_accept(int lfd, const struct link_self *self, const struct link_want *want,
	    int timeout_ms, struct link **out, char *why, size_t whylen)
{
	uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000u;
	struct pollfd p = { .fd = lfd, .events = POLLIN };
	struct sockaddr_storage sa;
	socklen_t len = sizeof(sa);
	char addr[96];
	int fd, r, left;

	*out = NULL;
	do
		r = poll(&p, 1, deadline_ms(deadline));
	while (r < 0 && errno == EINTR);
	if (r == 0)
		return avm_why(why, whylen, -ETIMEDOUT,
			       "nobody connected within %d ms", timeout_ms);
	if (r < 0)
		return avm_why(why, whylen, -errno, "poll: %s",
			       strerror(errno));
	fd = accept4(lfd, (struct sockaddr *)&sa, &len, SOCK_CLOEXEC);
	if (fd < 0)
		return avm_why(why, whylen, -errno, "accept: %s",
			       strerror(errno));
	sockaddr_text((struct sockaddr *)&sa, len, addr, sizeof(addr));
	left = deadline_ms(deadline);
	return link_greet(fd, self, want, addr,
			  left > GREET_MIN_MS ? left : GREET_MIN_MS, out, why,
			  whylen);
}

/* --- accessors ----------------------------------------------------------- */

int
link_fd(const struct link *l)
{
	return l->fd;
}

const struct wire_hello *
link_peer(const struct link *l)
{
	return &l->peer;
}

const char *
link_addr(const struct link *l)
{
	return l->addr;
}

const char *
link_why(const struct link *l)
{
	return l->why;
}

int
link_bye_seen(const struct link *l)
{
	return atomic_load(&l->bye);
}

void
link_stats(const struct link *l, struct link_stats *s)
{
	s->bytes_in = atomic_load(&l->bytes_in);
	s->bytes_out = atomic_load(&l->bytes_out);
	s->frames_in = atomic_load(&l->frames_in);
	s->frames_out = atomic_load(&l->frames_out);
	s->rtt_ns = atomic_load(&l->rtt);
}

/* --- sending ------------------------------------------------------------- */

/* Writes iov whole, fds with its first byte; tx held.  Waits for the
 * peer to read until the deadline. */
static int
write_all(struct link *l, struct iovec *iov, int n, const int *fds, int nfds,
	  uint64_t deadline)
{
	union {
		struct cmsghdr c;
		char buf[CMSG_SPACE(LINK_MAX_FDS * sizeof(int))];
	} u;
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = (size_t)n };
	struct pollfd p = { .fd = l->fd, .events = POLLOUT };
	ssize_t w;
	int r;

	if (nfds > 0) {
		memset(&u, 0, sizeof(u));
		msg.msg_control = u.buf;
		msg.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
		u.c.cmsg_level = SOL_SOCKET;
		u.c.cmsg_type = SCM_RIGHTS;
		u.c.cmsg_len = CMSG_LEN(nfds * sizeof(int));
		memcpy(CMSG_DATA(&u.c), fds, nfds * sizeof(int));
	}
	while (msg.msg_iovlen > 0) {
		w = sendmsg(l->fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			r = poll(&p, 1, deadline_ms(deadline));
			if (r == 0)
				return -ETIMEDOUT;
			if (r < 0 && errno != EINTR)
				return -errno;
			continue;
		}
		if (w < 0)
			return -errno;
		atomic_fetch_add(&l->bytes_out, (uint64_t)w);
		msg.msg_control = NULL;
		msg.msg_controllen = 0;
		while (msg.msg_iovlen > 0 &&
		       (size_t)w >= msg.msg_iov->iov_len) {
			w -= (ssize_t)msg.msg_iov->iov_len;
			msg.msg_iov++;
			msg.msg_iovlen--;
		}
		if (msg.msg_iovlen > 0) {
			msg.msg_iov->iov_base =
				(uint8_t *)msg.msg_iov->iov_base + w;
			msg.msg_iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

/* Non-blocking: writes what the socket takes of the queue; tx held. */
static int
flush_locked(struct link *l)
{
	ssize_t w;

	while (l->out_off < l->out_len) {
		w = send(l->fd, l->out + l->out_off, l->out_len - l->out_off,
			 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			break;
		if (w < 0) {
			avm_why(l->why, sizeof(l->why), 0, "send: %s",
				strerror(errno));
			return -errno;
		}
		l->out_off += (size_t)w;
		atomic_fetch_add(&l->bytes_out, (uint64_t)w);
	}
	if (l->out_off == l->out_len)
		l->out_off = l->out_len = 0;
	return 0;
}

static int
queue_locked(struct link *l, const uint8_t *hdr, const void *a, size_t alen,
	     const void *b, size_t blen)
{
	size_t need = WIRE_HDR_SIZE + alen + blen, cap;
	void *p;

	if (l->out_off && l->out_len + need > l->out_cap) {
		memmove(l->out, l->out + l->out_off, l->out_len - l->out_off);
		l->out_len -= l->out_off;
		l->out_off = 0;
	}
	if (l->out_len + need > l->out_cap) {
		cap = l->out_cap ? l->out_cap : 65536;
		while (cap < l->out_len + need)
			cap *= 2;
		p = realloc(l->out, cap);
		if (!p)
			return -ENOMEM;
		l->out = p;
		l->out_cap = cap;
	}
	memcpy(l->out + l->out_len, hdr, WIRE_HDR_SIZE);
	if (alen)
		memcpy(l->out + l->out_len + WIRE_HDR_SIZE, a, alen);
	if (blen)
		memcpy(l->out + l->out_len + WIRE_HDR_SIZE + alen, b, blen);
	l->out_len += need;
	return flush_locked(l);
}

static int
send_fds(struct link *l, uint16_t type, uint16_t flags, uint64_t id,
	 const void *a, size_t alen, const void *b, size_t blen, const int *fds,
	 int nfds)
{
	struct wire_hdr h = { .type = type,
			      .flags = flags,
			      .len = (uint32_t)(alen + blen),
			      .id = id };
	uint8_t hdr[WIRE_HDR_SIZE];
	struct iovec iov[3];
	int n = 0, r;

	if (alen + blen > WIRE_MAX_PAYLOAD || (alen && !a) || (blen && !b))
		return -EINVAL;
	r = wire_hdr_encode(&h, hdr);
	if (r < 0)
		return r;
	iov[n++] = (struct iovec){ hdr, sizeof(hdr) };
	if (alen)
		iov[n++] = (struct iovec){ (void *)a, alen };
	if (blen)
		iov[n++] = (struct iovec){ (void *)b, blen };
	pthread_mutex_lock(&l->tx);
	if (l->nonblock && nfds == 0)
		r = queue_locked(l, hdr, a, alen, b, blen);
	else
		r = write_all(l, iov, n, fds, nfds,
			      now_ns() + (uint64_t)l->dead_ms * 1000000u);
	pthread_mutex_unlock(&l->tx);
	if (r < 0 && !l->why[0])
		avm_why(l->why, sizeof(l->why), 0, "send %s: %s",
			wire_type_name(type),
			r == -ETIMEDOUT ? "the peer stopped reading"
					: strerror(-r));
	if (r == 0) {
		atomic_store(&l->last_tx, now_ns());
		atomic_fetch_add(&l->frames_out, 1);
	}
	return r;
}

int
link_send(struct link *l, uint16_t type, uint16_t flags, uint64_t id,
	  const void *a, size_t alen, const void *b, size_t blen)
{
	return send_fds(l, type, flags, id, a, alen, b, blen, NULL, 0);
}

int
link_send_fds(struct link *l, uint16_t type, uint64_t id, const void *p,
	      size_t len, const int *fds, int nfds)
{
	if (!l->is_unix || nfds < 1 || nfds > LINK_MAX_FDS || l->nonblock)
		return -EINVAL;
	return send_fds(l, type, 0, id, p, len, NULL, 0, fds, nfds);
}

int
link_send_error(struct link *l, uint16_t type, uint64_t id,
		const struct wire_error *e)
{
	uint8_t buf[WIRE_ERROR_MAX];
	int n = wire_error_encode(e, buf, sizeof(buf));

	if (n < 0)
		return -EINVAL;
	if (type == WIRE_T_ERROR)
		return link_send(l, WIRE_T_ERROR, 0, 0, buf, (size_t)n, NULL,
				 0);
	return link_send(l, type, WIRE_F_REPLY | WIRE_F_ERROR, id, buf,
			 (size_t)n, NULL, 0);
}

void
link_set_nonblock(struct link *l)
{
	int fl = fcntl(l->fd, F_GETFL);

	pthread_mutex_lock(&l->tx);
	l->nonblock = 1;
	if (fl >= 0)
		(void)fcntl(l->fd, F_SETFL, fl | O_NONBLOCK);
	pthread_mutex_unlock(&l->tx);
}

int
link_flush(struct link *l)
{
	int r;

	pthread_mutex_lock(&l->tx);
	r = flush_locked(l);
	pthread_mutex_unlock(&l->tx);
	return r;
}

int
link_want_write(const struct link *l)
{
	return l->out_len > l->out_off;
}

size_t
link_backlog(const struct link *l)
{
	return l->out_len - l->out_off;
}

/* --- receiving ----------------------------------------------------------- */

int
link_fill(struct link *l)
{
	union {
		struct cmsghdr c;
		char buf[CMSG_SPACE(LINK_MAX_FDS * sizeof(int))];
	} u;
	struct iovec iov;
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;
	size_t cap;
	ssize_t n;
	void *p;

	if (l->in_off) {
		memmove(l->in, l->in + l->in_off, l->in_len - l->in_off);
		l->in_len -= l->in_off;
		l->in_off = 0;
	}
	if (l->in_cap - l->in_len < IN_CAP_MIN &&
	    l->in_cap < 2 * WIRE_MAX_FRAME) {
		cap = l->in_cap ? l->in_cap * 2 : 2 * IN_CAP_MIN;
		if (cap > 2 * WIRE_MAX_FRAME)
			cap = 2 * WIRE_MAX_FRAME;
		p = realloc(l->in, cap);
		if (!p)
			return avm_why(l->why, sizeof(l->why), -ENOMEM,
				       "out of memory");
		l->in = p;
		l->in_cap = cap;
	}
	iov = (struct iovec){ l->in + l->in_len, l->in_cap - l->in_len };
	if (l->is_unix) {
		msg.msg_control = u.buf;
		msg.msg_controllen = sizeof(u.buf);
	}
	do
		n = recvmsg(l->fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN)
		return 0;
	if (n < 0)
		return avm_why(l->why, sizeof(l->why), -errno, "%s",
			       strerror(errno));
	for (c = l->is_unix ? CMSG_FIRSTHDR(&msg) : NULL; c;
	     c = CMSG_NXTHDR(&msg, c)) {
		int k, i, fd;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
		for (i = 0; i < k; i++) {
			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
			if (l->nfds < LINK_MAX_FDS)
				l->fds[l->nfds++] = fd;
			else
				close(fd);
		}
	}
	if (n == 0)
		return avm_why(l->why, sizeof(l->why), -EPIPE, "closed");
	l->in_len += (size_t)n;
	atomic_fetch_add(&l->bytes_in, (uint64_t)n);
	atomic_store(&l->last_rx, now_ns());
	return (int)n;
}

int
link_next(struct link *l, struct wire_hdr *h, const void **payload)
{
	struct wire_error e;
	uint64_t token, now;
	ssize_t n;

	for (;;) {
		n = wire_frame_next(l->in + l->in_off, l->in_len - l->in_off, h,
				    payload);
		if (n == 0)
			return 0;
		if (n < 0)
			return avm_why(
				l->why, sizeof(l->why), (int)n,
				"malformed frame (type %u, %u bytes): %s",
				h->type, h->len, strerror((int)-n));
		l->in_off += (size_t)n;
		atomic_fetch_add(&l->frames_in, 1);
		if (h->flags & WIRE_F_ERROR)
			return 1;
		switch (h->type) {
		case WIRE_T_PING:
			(void)link_send(l, WIRE_T_PONG, WIRE_F_REPLY, h->id,
					*payload, h->len, NULL, 0);
			continue;
		case WIRE_T_PONG:
			now = now_ns();
			if (link_ping_decode(*payload, h->len, &token) == 0 &&
			    token <= now)
				atomic_store(&l->rtt, now - token);
			continue;
		case WIRE_T_BYE:
			atomic_store(&l->bye, 1);
			return 1;
		case WIRE_T_ERROR:
			if (wire_error_decode(*payload, h->len, &e) < 0)
				snprintf(e.msg, sizeof(e.msg),
					 "(a malformed ERROR)");
			return avm_why(l->why, sizeof(l->why), -ECONNABORTED,
				       "%s", e.msg);
		}
		return 1;
	}
}

int
link_recv(struct link *l, struct wire_hdr *h, const void **payload,
	  int timeout_ms)
{
	uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000u;
	struct pollfd p = { .fd = l->fd, .events = POLLIN };
	int r;

	for (;;) {
		r = link_next(l, h, payload);
		if (r != 0)
			return r < 0 ? r : 0;
		r = poll(&p, 1, deadline_ms(deadline));
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return avm_why(l->why, sizeof(l->why), -errno,
				       "poll: %s", strerror(errno));
		if (r == 0)
			return -ETIMEDOUT;
		r = link_fill(l);
		if (r < 0)
			return r;
	}
}

int
link_take_fds(struct link *l, int *fds, int max)
{
	int n = l->nfds < max ? l->nfds : max, i;

	memcpy(fds, l->fds, (size_t)n * sizeof(int));
	for (i = n; i < l->nfds; i++)
		l->fds[i - n] = l->fds[i];
	l->nfds -= n;
	return n;
}

/* --- heartbeat and close --------------------------------------------------- */

int
link_tick(struct link *l, uint64_t now)
{
	uint64_t rx = atomic_load(&l->last_rx), tx = atomic_load(&l->last_tx);

	if (now > rx && now - rx > (uint64_t)l->dead_ms * 1000000u)
		return avm_why(l->why, sizeof(l->why), -ETIMEDOUT,
			       "silent for %llu ms (deadline %d ms)",
			       (unsigned long long)((now - rx) / 1000000),
			       l->dead_ms);
	if (now > tx && now - tx >= (uint64_t)l->heartbeat_ms * 1000000u)
		(void)link_ping(l, now);
	return 0;
}

int
link_ping(struct link *l, uint64_t now)
{
	uint8_t tok[WIRE_PING_SIZE];

	/* The token is our clock: the PONG's arrival gives the rtt. */
	link_ping_encode(now, tok, sizeof(tok));
	return link_send(l, WIRE_T_PING, 0, now, tok, sizeof(tok), NULL, 0);
}

void
link_touch(struct link *l)
{
	atomic_store(&l->last_rx, now_ns());
}

/* Flushes the queue within the deadline; 0 when it is empty. */
static int
drain_locked(struct link *l, uint64_t deadline)
{
	struct pollfd p = { .fd = l->fd, .events = POLLOUT };

	while (l->out_off < l->out_len) {
		if (flush_locked(l) < 0)
			return -EPIPE;
		if (l->out_off == l->out_len)
			break;
		if (poll(&p, 1, deadline_ms(deadline)) <= 0)
			return -ETIMEDOUT;
	}
	return 0;
}

/* After the queue: one frame written directly, with a deadline. */
static void
final_frame(struct link *l, uint16_t type, const void *p, uint32_t len,
	    int timeout_ms)
{
	uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000u;
	uint8_t hdr[WIRE_HDR_SIZE];
	struct wire_hdr h = { .type = type, .len = len };
	struct iovec iov[2] = { { hdr, sizeof(hdr) }, { (void *)p, len } };

	pthread_mutex_lock(&l->tx);
	if (drain_locked(l, deadline) == 0 && wire_hdr_encode(&h, hdr) == 0)
		(void)write_all(l, iov, len ? 2 : 1, NULL, 0, deadline);
	pthread_mutex_unlock(&l->tx);
}

void
link_bye(struct link *l, int timeout_ms)
{
	final_frame(l, WIRE_T_BYE, NULL, 0, timeout_ms);
	(void)shutdown(l->fd, SHUT_WR);
}

void
link_notify(struct link *l, uint32_t code, const char *msg, int timeout_ms)
{
	struct wire_error e;
	uint8_t buf[WIRE_ERROR_MAX];
	int n;

	wire_error_set(&e, code, "%s", msg);
	n = wire_error_encode(&e, buf, sizeof(buf));
	if (n > 0)
		final_frame(l, WIRE_T_ERROR, buf, (uint32_t)n, timeout_ms);
}

void
link_free(struct link *l)
{
	int i;

	if (!l)
		return;
	for (i = 0; i < l->nfds; i++)
		close(l->fds[i]);
	close(l->fd);
	pthread_mutex_destroy(&l->tx);
	free(l->in);
	free(l->out);
	free(l);
}

/* --- PING/PONG ------------------------------------------------------------ */

int
link_ping_encode(uint64_t token, void *buf, size_t cap)
{
	if (cap < WIRE_PING_SIZE)
		return -ENOSPC;
	wire_put64(buf, token);
	return WIRE_PING_SIZE;
}

int
link_ping_decode(const void *buf, size_t len, uint64_t *token)
{
	if (len != WIRE_PING_SIZE)
		return -EMSGSIZE;
	*token = wire_get64(buf);
	return 0;
}

/* --- link_accept_n: every handshake at once ------------------------------ */

struct greeter {
	struct accept_n *a;
	pthread_t thread;
	int fd, cut; /* cut: our dup, to end a handshake from outside */
	int used, done, rc;
	int cut_off; /* we ended it: even a link it set up is not kept */
	uint64_t since;
	struct link *l;
	char addr[96], why[300];
};

struct accept_n {
	const struct link_self *self;
	const struct link_want *want;
	int greet_ms;
	int wake[2]; /* a greeter that finished writes a byte */
	pthread_mutex_t lock;
	struct greeter g[GREETERS_MAX];
};

static void *
greeter_run(void *arg)
{
	struct greeter *g = arg;
	struct accept_n *a = g->a;

	g->rc = link_greet(g->fd, a->self, a->want, g->addr, a->greet_ms, &g->l,
			   g->why, sizeof(g->why));
	pthread_mutex_lock(&a->lock);
	g->done = 1;
	pthread_mutex_unlock(&a->lock);
	if (write(a->wake[1], "", 1) < 0) {
		/* the pipe holds more bytes than there are greeters */
	}
	return NULL;
}

/* Joins g and hands its result to take; returns 1 when a link was kept. */
static int
greeter_end(struct greeter *g,
	    int (*take)(void *opaque, struct link *l, const char *refused),
	    void *opaque)
{
	int kept = 0;

	pthread_join(g->thread, NULL);
	close(g->cut);
	if (g->rc == 0 && g->cut_off) {
		/* Set up just as we cut it: its socket is shut. */
		snprintf(g->why, sizeof(g->why),
			 "%s: cut off for a newer connection (%d handshakes "
			 "at once)",
			 g->addr, GREETERS_MAX);
		link_free(g->l);
		take(opaque, NULL, g->why);
	} else if (g->rc == 0 && take(opaque, g->l, NULL) == 0) {
		kept = 1;
	} else if (g->rc == 0) {
		link_free(g->l);
	} else {
		take(opaque, NULL, g->why);
	}
	memset(g, 0, sizeof(*g));
	return kept;
}

/* A place for a new handshake: a free one, else the oldest handshake is
 * cut off and ended (its result handed on as any other).  Adds to *kept
 * what that ending kept. */
static struct greeter *
greeter_place(struct accept_n *a,
	      int (*take)(void *opaque, struct link *l, const char *refused),
	      void *opaque, unsigned *kept)
{
	struct greeter *g, *old = NULL;

	pthread_mutex_lock(&a->lock);
	for (g = a->g; g < a->g + GREETERS_MAX; g++) {
		if (!g->used || g->done)
			break; /* free, or finished: ended as usual */
		if (!old || g->since < old->since)
			old = g;
	}
	if (g == a->g + GREETERS_MAX) {
		g = old;
		g->cut_off = 1;
		shutdown(g->cut, SHUT_RDWR);
	}
	pthread_mutex_unlock(&a->lock);
	if (g->used)
		*kept += (unsigned)greeter_end(g, take, opaque);
	return g;
}

int
link_accept_n(int lfd, const struct link_self *self,
	      const struct link_want *want, unsigned n, int timeout_ms,
	      int greet_ms,
	      int (*take)(void *opaque, struct link *l, const char *refused),
	      void *opaque, char *why, size_t whylen)
{
	uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000u;
	struct accept_n a = { .self = self,
			      .want = want,
			      .greet_ms = greet_ms };
	struct sockaddr_storage sa;
	unsigned kept = 0;
	int r = 0;

	if (pipe2(a.wake, O_CLOEXEC | O_NONBLOCK) < 0)
		return avm_why(why, whylen, -errno, "pipe: %s",
			       strerror(errno));
	pthread_mutex_init(&a.lock, NULL);
	while (kept < n) {
		struct pollfd p[2] = { { lfd, POLLIN, 0 },
				       { a.wake[0], POLLIN, 0 } };
		int left = deadline_ms(deadline), k;
		char b[64];

		if (left == 0) {
			r = avm_why(why, whylen, -ETIMEDOUT,
				    "%u of %u connected within %d ms", kept, n,
				    timeout_ms);
			break;
		}
		k = poll(p, 2, left);
		if (k < 0 && errno != EINTR) {
			r = avm_why(why, whylen, -errno, "poll: %s",
				    strerror(errno));
			break;
		}
		if (k <= 0)
			continue;
		if (p[1].revents) {
			while (read(a.wake[0], b, sizeof(b)) > 0) {
			}
			for (struct greeter *g = a.g; g < a.g + GREETERS_MAX;
			     g++) {
				int done;

				pthread_mutex_lock(&a.lock);
				done = g->used && g->done;
				pthread_mutex_unlock(&a.lock);
				if (done)
					kept += (unsigned)greeter_end(g, take,
								      opaque);
			}
		}
		if (p[0].revents && kept < n) {
			socklen_t len = sizeof(sa);
			int fd = accept4(lfd, (struct sockaddr *)&sa, &len,
					 SOCK_CLOEXEC);
			struct greeter *g;

			if (fd < 0)
				continue; /* the peer left meanwhile */
			g = greeter_place(&a, take, opaque, &kept);
			g->a = &a;
			g->fd = fd;
			g->since = now_ns();
			sockaddr_text((struct sockaddr *)&sa, len, g->addr,
				      sizeof(g->addr));
			g->cut = fcntl(fd, F_DUPFD_CLOEXEC, 0);
			if (g->cut < 0 ||
			    pthread_create(&g->thread, NULL, greeter_run, g)) {
				r = avm_why(why, whylen, -EAGAIN,
					    "no thread for a handshake");
				if (g->cut >= 0)
					close(g->cut);
				close(fd);
				memset(g, 0, sizeof(*g));
				break;
			}
			g->used = 1;
		}
	}
	/* Handshakes still under way end here: cut off, nothing kept. */
	for (struct greeter *g = a.g; g < a.g + GREETERS_MAX; g++) {
		if (!g->used)
			continue;
		shutdown(g->cut, SHUT_RDWR);
		pthread_join(g->thread, NULL);
		close(g->cut);
		if (g->rc == 0)
			link_free(g->l);
	}
	close(a.wake[0]);
	close(a.wake[1]);
	pthread_mutex_destroy(&a.lock);
	return r;
}
