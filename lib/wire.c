/* Wire framing, codecs and blocking I/O; see include/avm/wire.h. */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "avm/util.h"
#include "avm/wire.h"

#define OFF(s, f) offsetof(struct s, f)

/* --- type table ---------------------------------------------------------- */

#define X(name, value, min, max, kind)                              \
	_Static_assert((value) > 0 && (value) < WIRE_RANGE_END,     \
		       #name ": type outside every range");         \
	_Static_assert((min) <= (max) && (max) <= WIRE_MAX_PAYLOAD, \
		       #name ": bad length range");
WIRE_TYPES(X)
#undef X

#define X(name, value, min, max, kind) { value, #name, min, max, kind },
static const struct wire_type_info types[] = { WIRE_TYPES(X) };
#undef X

/* Index into types[]; a duplicate value is a duplicate case label. */
#define X(name, value, min, max, kind) IDX_##name,
enum { WIRE_TYPES(X) IDX_COUNT };
#undef X

const struct wire_type_info *
wire_type_info(uint16_t type)
{
	switch (type) {
#define X(name, value, min, max, kind) \
	case value:                    \
		return &types[IDX_##name];
		WIRE_TYPES(X)
#undef X
	}
	return NULL;
}

const char *
wire_type_name(uint16_t type)
{
	const struct wire_type_info *t = wire_type_info(type);

	return t ? t->name : "unknown";
}

const char *
wire_role_name(uint16_t role)
{
	switch (role) {
	case WIRE_ROLE_PAGER_FAULT:
		return "pager-fault";
	case WIRE_ROLE_PAGER_BULK:
		return "pager-bulk";
	case WIRE_ROLE_RUN:
		return "run";
	case WIRE_ROLE_CONTROL:
		return "control";
	case WIRE_ROLE_CLIENT:
		return "client";
	case WIRE_ROLE_FABRIC:
		return "fabric";
	}
	return "unknown";
}

/* --- header -------------------------------------------------------------- */

static int
hdr_check(const struct wire_hdr *h)
{
	const struct wire_type_info *t;
	uint32_t min, max;

	if (h->type == WIRE_T_INVALID)
		return -EBADMSG;
	if (h->flags & ~WIRE_F_MASK)
		return -EBADMSG;
	if ((h->flags & WIRE_F_ERROR) && !(h->flags & WIRE_F_REPLY))
		return -EBADMSG;
	if (h->len > WIRE_MAX_PAYLOAD)
		return -EMSGSIZE;
	t = wire_type_info(h->type);
	if (!t)
		return -ENOMSG;
	if (!!(h->flags & WIRE_F_REPLY) != (t->kind == WIRE_K_REPLY))
		return -EBADMSG;
	min = t->min_len;
	max = t->max_len;
	if (h->flags & WIRE_F_ERROR) {
		min = WIRE_ERROR_MIN;
		max = WIRE_ERROR_MAX;
	}
	if (h->len < min || h->len > max)
		return -EMSGSIZE;
	return 0;
}

int
wire_hdr_decode(const void *buf, size_t len, struct wire_hdr *h)
{
	const uint8_t *p = buf;

	if (len < WIRE_HDR_SIZE)
		return -EAGAIN;
	h->type = wire_get16(p + OFF(wire_hdr_le, type));
	h->flags = wire_get16(p + OFF(wire_hdr_le, flags));
	h->len = wire_get32(p + OFF(wire_hdr_le, len));
	h->id = wire_get64(p + OFF(wire_hdr_le, id));
	return hdr_check(h);
}

int
wire_hdr_encode(const struct wire_hdr *h, void *buf)
{
	uint8_t *p = buf;
	int rc;

	rc = hdr_check(h);
	if (rc < 0)
		return rc;
	wire_put16(p + OFF(wire_hdr_le, type), h->type);
	wire_put16(p + OFF(wire_hdr_le, flags), h->flags);
	wire_put32(p + OFF(wire_hdr_le, len), h->len);
	wire_put64(p + OFF(wire_hdr_le, id), h->id);
	return 0;
}

ssize_t
wire_frame_next(const void *buf, size_t len, struct wire_hdr *h,
		const void **payload)
{
	int rc;

	rc = wire_hdr_decode(buf, len, h);
	if (rc == -EAGAIN)
		return 0;
	if (rc < 0)
		return rc;
	if (len - WIRE_HDR_SIZE < h->len)
		return 0;
	*payload = (const uint8_t *)buf + WIRE_HDR_SIZE;
	return (ssize_t)(WIRE_HDR_SIZE + h->len);
}

/* --- error codes ----------------------------------------------------------- */

const char *
wire_errcode_str(uint32_t code)
{
	switch (code) {
#define X(name, value, err, desc) \
	case value:               \
		return desc;
		WIRE_ERRCODES(X)
#undef X
	}
	return "unknown error";
}

int
wire_errcode_to_errno(uint32_t code)
{
	switch (code) {
#define X(name, value, err, desc) \
	case value:               \
		return err;
		WIRE_ERRCODES(X)
#undef X
	}
	return EPROTO;
}

uint32_t
wire_errcode_from_errno(int err)
{
	/* Several errno names share a number (EOPNOTSUPP, ENOTSUP). */
#define X(name, value, e, desc) \
	if (err == (e))         \
		return value;
	WIRE_ERRCODES(X)
#undef X
	if (err == ENOTSUP || err == ENOSYS)
		return WIRE_E_NOTSUP;
	if (err == EAGAIN)
		return WIRE_E_BUSY;
	return WIRE_E_IO;
}

static int
is_print(uint8_t c)
{
	return c >= 0x20 && c <= 0x7e;
}

void
wire_error_set(struct wire_error *e, uint32_t code, const char *fmt, ...)
{
	va_list ap;
	size_t i;
	int n;

	e->code = code;
	va_start(ap, fmt);
	n = vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	if (n < 0)
		e->msg[0] = '\0';
	for (i = 0; e->msg[i]; i++)
		if (!is_print((uint8_t)e->msg[i]))
			e->msg[i] = '?';
}

/* --- payloads ---------------------------------------------------------- */

/*
 * A VM name field: 1 to WIRE_VM_NAME_LEN - 1 printable bytes, then NULs
 * to the end, so that every name has exactly one encoding.
 */
static int
name_field_ok(const uint8_t *f)
{
	size_t i = 0;

	while (i < WIRE_VM_NAME_LEN && f[i] != 0) {
		if (!is_print(f[i]))
			return 0;
		i++;
	}
	if (i == 0 || i == WIRE_VM_NAME_LEN)
		return 0;
	for (; i < WIRE_VM_NAME_LEN; i++)
		if (f[i] != 0)
			return 0;
	return 1;
}

int
wire_vm_name_ok(const char *name)
{
	size_t i;

	for (i = 0; i < WIRE_VM_NAME_LEN && name[i]; i++)
		if (!is_print((uint8_t)name[i]))
			return 0;
	return i > 0 && i < WIRE_VM_NAME_LEN;
}

static int
hello_ok(const struct wire_hello *m)
{
	if (m->version_min == 0 || m->version_min > m->version_max)
		return 0;
	if (m->role < WIRE_ROLE_PAGER_FAULT || m->role > WIRE_ROLE_FABRIC)
		return 0;
	if (m->nodes > WIRE_MAX_NODES)
		return 0;
	if (m->nodes == 0 ? m->node != 0 : m->node >= m->nodes)
		return 0;
	return 1;
}

int
wire_hello_encode(const struct wire_hello *m, void *buf, size_t cap)
{
	uint8_t *p = buf;

	if (!hello_ok(m) || !wire_vm_name_ok(m->vm))
		return -EINVAL;
	if (cap < WIRE_HELLO_SIZE)
		return -ENOSPC;
	memset(p, 0, WIRE_HELLO_SIZE);
	wire_put32(p + OFF(wire_hello_le, magic), WIRE_MAGIC);
	wire_put16(p + OFF(wire_hello_le, version_min), m->version_min);
	wire_put16(p + OFF(wire_hello_le, version_max), m->version_max);
	wire_put16(p + OFF(wire_hello_le, role), m->role);
	wire_put32(p + OFF(wire_hello_le, node), m->node);
	wire_put32(p + OFF(wire_hello_le, nodes), m->nodes);
	memcpy(p + OFF(wire_hello_le, vm), m->vm, strlen(m->vm));
	memcpy(p + OFF(wire_hello_le, nonce), m->nonce, WIRE_NONCE_LEN);
	return WIRE_HELLO_SIZE;
}

int
wire_hello_decode(const void *buf, size_t len, struct wire_hello *m)
{
	const uint8_t *p = buf;
	struct wire_hello v;

	if (len < WIRE_HELLO_SIZE || len > WIRE_HELLO_MAX)
		return -EMSGSIZE;
	if (wire_get32(p + OFF(wire_hello_le, magic)) != WIRE_MAGIC)
		return -EBADMSG;
	if (wire_get16(p + OFF(wire_hello_le, reserved)) != 0)
		return -EBADMSG;
	if (!name_field_ok(p + OFF(wire_hello_le, vm)))
		return -EBADMSG;
	memset(&v, 0, sizeof(v));
	v.version_min = wire_get16(p + OFF(wire_hello_le, version_min));
	v.version_max = wire_get16(p + OFF(wire_hello_le, version_max));
	v.role = wire_get16(p + OFF(wire_hello_le, role));
	v.node = wire_get32(p + OFF(wire_hello_le, node));
	v.nodes = wire_get32(p + OFF(wire_hello_le, nodes));
	memcpy(v.vm, p + OFF(wire_hello_le, vm), WIRE_VM_NAME_LEN);
	memcpy(v.nonce, p + OFF(wire_hello_le, nonce), WIRE_NONCE_LEN);
	if (!hello_ok(&v))
		return -EBADMSG;
	*m = v;
	return 0;
}

int
wire_hello_init(struct wire_hello *m, uint16_t role, uint32_t node,
		uint32_t nodes, const char *vm)
{
	size_t got = 0;
	ssize_t n;

	memset(m, 0, sizeof(*m));
	m->version_min = WIRE_VERSION_MIN;
	m->version_max = WIRE_VERSION_MAX;
	m->role = role;
	m->node = node;
	m->nodes = nodes;
	if (!wire_vm_name_ok(vm) || !hello_ok(m))
		return -EINVAL;
	memcpy(m->vm, vm, strlen(vm));
	while (got < WIRE_NONCE_LEN) {
		n = getrandom(m->nonce + got, WIRE_NONCE_LEN - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		got += (size_t)n;
	}
	return 0;
}

int
wire_welcome_encode(const struct wire_welcome *m, void *buf, size_t cap)
{
	uint8_t *p = buf;

	if (m->version == 0)
		return -EINVAL;
	if (cap < WIRE_WELCOME_SIZE)
		return -ENOSPC;
	wire_put16(p + OFF(wire_welcome_le, version), m->version);
	wire_put16(p + OFF(wire_welcome_le, reserved), 0);
	memcpy(p + OFF(wire_welcome_le, nonce), m->nonce, WIRE_NONCE_LEN);
	return WIRE_WELCOME_SIZE;
}

int
wire_welcome_decode(const void *buf, size_t len, struct wire_welcome *m)
{
	const uint8_t *p = buf;
	uint16_t version;

	if (len != WIRE_WELCOME_SIZE)
		return -EMSGSIZE;
	version = wire_get16(p + OFF(wire_welcome_le, version));
	if (version == 0 || wire_get16(p + OFF(wire_welcome_le, reserved)))
		return -EBADMSG;
	m->version = version;
	memcpy(m->nonce, p + OFF(wire_welcome_le, nonce), WIRE_NONCE_LEN);
	return 0;
}

int
wire_error_encode(const struct wire_error *m, void *buf, size_t cap)
{
	uint8_t *p = buf;
	size_t n, i;

	n = strnlen(m->msg, sizeof(m->msg));
	if (m->code == WIRE_E_NONE || n > WIRE_ERROR_MSG_MAX)
		return -EINVAL;
	for (i = 0; i < n; i++)
		if (!is_print((uint8_t)m->msg[i]))
			return -EINVAL;
	if (cap < WIRE_ERROR_MIN + n)
		return -ENOSPC;
	wire_put32(p + OFF(wire_error_le, code), m->code);
	wire_put16(p + OFF(wire_error_le, msg_len), (uint16_t)n);
	memcpy(p + WIRE_ERROR_MIN, m->msg, n);
	return (int)(WIRE_ERROR_MIN + n);
}

int
wire_error_decode(const void *buf, size_t len, struct wire_error *m)
{
	const uint8_t *p = buf;
	uint32_t code;
	size_t n, i;

	if (len < WIRE_ERROR_MIN || len > WIRE_ERROR_MAX)
		return -EMSGSIZE;
	code = wire_get32(p + OFF(wire_error_le, code));
	n = wire_get16(p + OFF(wire_error_le, msg_len));
	if (code == WIRE_E_NONE || n != len - WIRE_ERROR_MIN)
		return -EBADMSG;
	for (i = 0; i < n; i++)
		if (!is_print(p[WIRE_ERROR_MIN + i]))
			return -EBADMSG;
	m->code = code;
	memcpy(m->msg, p + WIRE_ERROR_MIN, n);
	m->msg[n] = '\0';
	return 0;
}

int
wire_version_pick(uint16_t lmin, uint16_t lmax, uint16_t rmin, uint16_t rmax,
		  uint16_t *v)
{
	uint16_t lo, hi;

	if (lmin == 0 || rmin == 0 || lmin > lmax || rmin > rmax)
		return -1;
	lo = lmin > rmin ? lmin : rmin;
	hi = lmax < rmax ? lmax : rmax;
	if (lo > hi)
		return -1;
	*v = hi;
	return 0;
}

/* --- blocking I/O ---------------------------------------------------- */

static uint64_t
deadline_after(int timeout_ms)
{
	return now_ns() + (uint64_t)timeout_ms * 1000000u;
}

/*
 * Waits until fd is ready for events or the deadline passes.  A deadline
 * already past still polls once, so data that is there gets read.
 * Returns 0, -ETIMEDOUT, or poll's negative errno.
 */
static int
wait_fd(int fd, short events, uint64_t deadline)
{
	struct pollfd pfd = { .fd = fd, .events = events };
	uint64_t now, ms;
	int n;

	for (;;) {
		now = now_ns();
		ms = now >= deadline ? 0 : (deadline - now + 999999) / 1000000;
		if (ms > INT_MAX)
			ms = INT_MAX;
		n = poll(&pfd, 1, (int)ms);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n > 0)
			return pfd.revents & POLLNVAL ? -EBADF : 0;
		if (ms == 0)
			return -ETIMEDOUT;
	}
}

static int
read_deadline(int fd, void *buf, size_t len, uint64_t deadline)
{
	uint8_t *p = buf;
	ssize_t n;
	int rc;

	while (len) {
		rc = wait_fd(fd, POLLIN, deadline);
		if (rc < 0)
			return rc;
		n = read(fd, p, len);
		if (n < 0 &&
		    (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EPIPE;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
wire_send_timeout(int fd, uint16_t type, uint16_t flags, uint64_t id,
		  const void *payload, uint32_t len, int timeout_ms)
{
	struct wire_hdr h = {
		.type = type, .flags = flags, .len = len, .id = id
	};
	uint8_t hb[WIRE_HDR_SIZE];
	struct iovec iov[2];
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 2 };
	uint64_t deadline;
	int sock = 1;
	ssize_t n;
	size_t k;
	int rc;

	if (timeout_ms < 0 || (!payload && len > 0))
		return -EINVAL;
	rc = wire_hdr_encode(&h, hb);
	if (rc < 0)
		return rc;
	deadline = deadline_after(timeout_ms);
	iov[0] = (struct iovec){ hb, sizeof(hb) };
	iov[1] = (struct iovec){ (void *)payload, len };
	if (len == 0)
		msg.msg_iovlen = 1;
	while (msg.msg_iovlen) {
		if (sock) {
			n = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n < 0 && errno == ENOTSOCK) {
				sock = 0;
				continue;
			}
		} else {
			n = writev(fd, msg.msg_iov, (int)msg.msg_iovlen);
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			rc = wait_fd(fd, POLLOUT, deadline);
			if (rc < 0)
				return rc;
			continue;
		}
		if (n < 0)
			return -errno;
		k = (size_t)n;
		while (msg.msg_iovlen && k >= msg.msg_iov->iov_len) {
			k -= msg.msg_iov->iov_len;
			msg.msg_iov++;
			msg.msg_iovlen--;
		}
		if (msg.msg_iovlen) {
			msg.msg_iov->iov_base =
				(uint8_t *)msg.msg_iov->iov_base + k;
			msg.msg_iov->iov_len -= k;
		}
	}
	return 0;
}

int
wire_send(int fd, uint16_t type, uint16_t flags, uint64_t id,
	  const void *payload, uint32_t len)
{
	return wire_send_timeout(fd, type, flags, id, payload, len,
				 WIRE_SEND_TIMEOUT_MS);
}

static int
send_error_timeout(int fd, uint16_t type, uint64_t id,
		   const struct wire_error *e, int timeout_ms)
{
	uint8_t buf[WIRE_ERROR_MAX];
	uint16_t flags = WIRE_F_REPLY | WIRE_F_ERROR;
	int n;

	n = wire_error_encode(e, buf, sizeof(buf));
	if (n < 0)
		return n;
	if (type == WIRE_T_ERROR) {
		flags = 0;
		id = 0;
	}
	return wire_send_timeout(fd, type, flags, id, buf, (uint32_t)n,
				 timeout_ms);
}

int
wire_send_error(int fd, uint16_t type, uint64_t id, const struct wire_error *e)
{
	return send_error_timeout(fd, type, id, e, WIRE_SEND_TIMEOUT_MS);
}

static int
recv_deadline(int fd, struct wire_hdr *h, void *buf, size_t cap,
	      uint64_t deadline)
{
	uint8_t hb[WIRE_HDR_SIZE];
	int rc;

	rc = read_deadline(fd, hb, sizeof(hb), deadline);
	if (rc < 0)
		return rc;
	rc = wire_hdr_decode(hb, sizeof(hb), h);
	if (rc < 0)
		return rc;
	if (h->len > cap)
		return -EMSGSIZE;
	return read_deadline(fd, buf, h->len, deadline);
}

int
wire_recv(int fd, struct wire_hdr *h, void *buf, size_t cap, int timeout_ms)
{
	if (timeout_ms < 0)
		return -EINVAL;
	return recv_deadline(fd, h, buf, cap, deadline_after(timeout_ms));
}

/* --- handshake ------------------------------------------------------------ */

/*
 * Step 3 as a refusal: send the error as the WELCOME, and when the peer
 * is known to follow the sequence (drain), read its WELCOME and drop it.
 * Returns rc, the caller's error.
 */
static int
refuse(int fd, struct wire_error *why, uint64_t deadline, int drain, int rc)
{
	uint8_t buf[WIRE_ERROR_MAX];
	struct wire_hdr h;

	(void)send_error_timeout(fd, WIRE_T_WELCOME, 0, why,
				 deadline_ms(deadline));
	if (drain)
		(void)recv_deadline(fd, &h, buf, sizeof(buf), deadline);
	return rc;
}

/* The peer refused us with an ERROR payload: into why. */
static int
peer_error(const uint8_t *buf, uint32_t len, struct wire_error *why)
{
	int rc;

	rc = wire_error_decode(buf, len, why);
	if (rc < 0) {
		why->code = WIRE_E_NONE;
		why->msg[0] = '\0';
		return rc;
	}
	return -ECONNREFUSED;
}

int
wire_handshake(int fd, const struct wire_hello *mine, struct wire_hello *peer,
	       uint16_t *version, int timeout_ms, struct wire_error *why)
{
	uint8_t buf[WIRE_HELLO_MAX];
	struct wire_error local;
	struct wire_welcome w;
	struct wire_hdr h;
	uint64_t deadline;
	uint16_t v;
	int n, rc;

	if (!why)
		why = &local;
	why->code = WIRE_E_NONE;
	why->msg[0] = '\0';
	if (timeout_ms < 0)
		return -EINVAL;
	deadline = deadline_after(timeout_ms);

	/* 1. HELLO */
	n = wire_hello_encode(mine, buf, sizeof(buf));
	if (n < 0)
		return n;
	rc = wire_send_timeout(fd, WIRE_T_HELLO, 0, 0, buf, (uint32_t)n,
			       deadline_ms(deadline));
	if (rc < 0)
		return rc;

	/* 2. the peer's HELLO */
	rc = recv_deadline(fd, &h, buf, sizeof(buf), deadline);
	if (rc == -EBADMSG || rc == -ENOMSG || rc == -EMSGSIZE) {
		wire_error_set(why, WIRE_E_PROTO,
			       "bad frame: type %u (%s), "
			       "flags 0x%x, length %u",
			       h.type, wire_type_name(h.type), h.flags, h.len);
		return refuse(fd, why, deadline, 0, rc);
	}
	if (rc < 0)
		return rc;
	if (h.type == WIRE_T_ERROR)
		return peer_error(buf, h.len, why);
	if (h.type != WIRE_T_HELLO) {
		wire_error_set(why, WIRE_E_PROTO, "expected HELLO, got %s",
			       wire_type_name(h.type));
		return refuse(fd, why, deadline, 0, -EPROTO);
	}
	rc = wire_hello_decode(buf, h.len, peer);
	if (rc < 0) {
		wire_error_set(why, WIRE_E_PROTO, "malformed HELLO");
		return refuse(fd, why, deadline, 1, rc);
	}
	if (wire_version_pick(mine->version_min, mine->version_max,
			      peer->version_min, peer->version_max, &v) < 0) {
		wire_error_set(why, WIRE_E_VERSION,
			       "no common version: %u..%u and %u..%u",
			       mine->version_min, mine->version_max,
			       peer->version_min, peer->version_max);
		return refuse(fd, why, deadline, 1, -EPROTONOSUPPORT);
	}
	if (strcmp(mine->vm, peer->vm) != 0) {
		wire_error_set(why, WIRE_E_NOENT, "VM '%s' is not '%s'",
			       peer->vm, mine->vm);
		return refuse(fd, why, deadline, 1, -ENOENT);
	}

	/* 3. WELCOME */
	w.version = v;
	memcpy(w.nonce, mine->nonce, WIRE_NONCE_LEN);
	n = wire_welcome_encode(&w, buf, sizeof(buf));
	if (n < 0)
		return n;
	rc = wire_send_timeout(fd, WIRE_T_WELCOME, WIRE_F_REPLY, 0, buf,
			       (uint32_t)n, deadline_ms(deadline));
	if (rc < 0)
		return rc;

	/* 4. the peer's WELCOME */
	rc = recv_deadline(fd, &h, buf, sizeof(buf), deadline);
	if (rc < 0)
		return rc;
	if (h.type == WIRE_T_ERROR ||
	    (h.type == WIRE_T_WELCOME && (h.flags & WIRE_F_ERROR)))
		return peer_error(buf, h.len, why);
	if (h.type != WIRE_T_WELCOME)
		return -EPROTO;
	rc = wire_welcome_decode(buf, h.len, &w);
	if (rc < 0)
		return rc;
	if (w.version != v || memcmp(w.nonce, peer->nonce, WIRE_NONCE_LEN))
		return -EPROTO;
	*version = v;
	return 0;
}
