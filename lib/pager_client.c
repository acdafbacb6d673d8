/*
 * Pager payload codecs and the client side of pager.sock; see
 * include/avm/pager.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <linux/userfaultfd.h>

#include "avm/config.h"
#include "avm/link.h"
#include "avm/pager.h"
#include "avm/savemsg.h"
#include "avm/runstats.h"
#include "avm/stats.h"
#include "avm/util.h"

#define OFF(s, f) offsetof(struct s, f)

/* --- codecs -------------------------------------------------------------- */

int
pager_link_encode(const struct pager_link *m, void *buf, size_t cap)
{
	uint8_t *p = buf;

	if (m->mem_bytes == 0 || m->mem_bytes % PAGER_PAGE_SIZE ||
	    m->home_first + m->home_pages < m->home_first ||
	    m->home_first + m->home_pages > m->mem_bytes / PAGER_PAGE_SIZE)
		return -EINVAL;
	if (cap < WIRE_PG_LINK_SIZE)
		return -ENOSPC;
	wire_put64(p + OFF(pager_link_le, mem_bytes), m->mem_bytes);
	wire_put64(p + OFF(pager_link_le, home_first), m->home_first);
	wire_put64(p + OFF(pager_link_le, home_pages), m->home_pages);
	return WIRE_PG_LINK_SIZE;
}

int
pager_link_decode(const void *buf, size_t len, struct pager_link *m)
{
	const uint8_t *p = buf;
	struct pager_link v;

	if (len != WIRE_PG_LINK_SIZE)
		return -EMSGSIZE;
	v.mem_bytes = wire_get64(p + OFF(pager_link_le, mem_bytes));
	v.home_first = wire_get64(p + OFF(pager_link_le, home_first));
	v.home_pages = wire_get64(p + OFF(pager_link_le, home_pages));
	if (v.mem_bytes == 0 || v.mem_bytes % PAGER_PAGE_SIZE ||
	    v.home_first + v.home_pages < v.home_first ||
	    v.home_first + v.home_pages > v.mem_bytes / PAGER_PAGE_SIZE)
		return -EBADMSG;
	*m = v;
	return 0;
}

/* The rules of the fixed part, per type; len is the whole payload. */
static int
msg_ok(uint16_t type, const struct pager_msg *m, size_t len)
{
	switch (type) {
	case WIRE_T_PG_REQ:
		return len == WIRE_PG_MSG_SIZE &&
		       (m->a == PAGER_ACC_READ || m->a == PAGER_ACC_WRITE) &&
		       m->b <= PAGER_HOLD_EXCLUSIVE &&
		       m->off < PAGER_PAGE_SIZE; /* ver: any thread id */
	case WIRE_T_PG_GRANT:
		if (m->a != PAGER_HOLD_SHARED && m->a != PAGER_HOLD_EXCLUSIVE)
			return 0;
		if (m->b > PAGER_DATA_PAGE || m->off != 0)
			return 0;
		return len == (m->b == PAGER_DATA_PAGE ? WIRE_PG_DATA_SIZE
						       : WIRE_PG_MSG_SIZE);
	case WIRE_T_PG_INVAL:
		return len == WIRE_PG_MSG_SIZE && m->a >= PAGER_INV_DROP &&
		       m->a <= PAGER_INV_FETCH && m->b <= 1 && m->off == 0 &&
		       m->ver == 0;
	case WIRE_T_PG_INVAL_ACK:
		if (m->a > 1 || m->off != 0 || m->ver != 0)
			return 0;
		if (m->b != PAGER_DATA_KEEP && m->b != PAGER_DATA_PAGE)
			return 0;
		if (m->b == PAGER_DATA_PAGE && !m->a)
			return 0;
		return len == (m->b == PAGER_DATA_PAGE ? WIRE_PG_DATA_SIZE
						       : WIRE_PG_MSG_SIZE);
	}
	return 0;
}

int
pager_msg_encode(uint16_t type, const struct pager_msg *m, void *buf,
		 size_t cap)
{
	uint8_t *p = buf;
	size_t len = WIRE_PG_MSG_SIZE;

	if ((type == WIRE_T_PG_GRANT || type == WIRE_T_PG_INVAL_ACK) &&
	    m->b == PAGER_DATA_PAGE)
		len = WIRE_PG_DATA_SIZE;
	if (!msg_ok(type, m, len))
		return -EINVAL;
	if (cap < WIRE_PG_MSG_SIZE)
		return -ENOSPC;
	wire_put64(p + OFF(pager_msg_le, page), m->page);
	p[OFF(pager_msg_le, a)] = m->a;
	p[OFF(pager_msg_le, b)] = m->b;
	wire_put16(p + OFF(pager_msg_le, off), m->off);
	wire_put32(p + OFF(pager_msg_le, ver), m->ver);
	return WIRE_PG_MSG_SIZE;
}

int
pager_msg_decode(uint16_t type, const void *buf, size_t len,
		 struct pager_msg *m)
{
	const struct wire_type_info *t = wire_type_info(type);
	const uint8_t *p = buf;
	struct pager_msg v;

	if (!t || type < WIRE_T_PG_REQ || type > WIRE_T_PG_INVAL_ACK)
		return -EBADMSG;
	if (len < t->min_len || len > t->max_len)
		return -EMSGSIZE;
	v.page = wire_get64(p + OFF(pager_msg_le, page));
	v.a = p[OFF(pager_msg_le, a)];
	v.b = p[OFF(pager_msg_le, b)];
	v.off = wire_get16(p + OFF(pager_msg_le, off));
	v.ver = wire_get32(p + OFF(pager_msg_le, ver));
	if (!msg_ok(type, &v, len))
		return -EBADMSG;
	*m = v;
	return 0;
}

int
pager_bulk_encode(const struct pager_bulk *m, void *buf, size_t cap)
{
	uint8_t *p = buf;

	if (m->count == 0 || m->count > WIRE_PG_BULK_PAGES ||
	    m->first + m->count < m->first)
		return -EINVAL;
	if (cap < WIRE_PG_MSG_SIZE)
		return -ENOSPC;
	wire_put64(p + OFF(pager_bulk_le, first), m->first);
	wire_put32(p + OFF(pager_bulk_le, count), m->count);
	wire_put32(p + OFF(pager_bulk_le, reserved), 0);
	return WIRE_PG_MSG_SIZE;
}

int
pager_bulk_decode(uint16_t type, const void *buf, size_t len,
		  struct pager_bulk *m)
{
	const uint8_t *p = buf;
	struct pager_bulk v;

	if (type == WIRE_T_PG_BULK_REQ) {
		if (len != WIRE_PG_MSG_SIZE)
			return -EMSGSIZE;
	} else if (type == WIRE_T_PG_BULK_DATA || type == WIRE_T_PG_PREFETCH) {
		if (len < WIRE_PG_MSG_SIZE + PAGER_PAGE_SIZE ||
		    len > WIRE_PG_BULK_MAX)
			return -EMSGSIZE;
	} else {
		return -EBADMSG;
	}
	v.first = wire_get64(p + OFF(pager_bulk_le, first));
	v.count = wire_get32(p + OFF(pager_bulk_le, count));
	if (wire_get32(p + OFF(pager_bulk_le, reserved)) != 0 || v.count == 0 ||
	    v.count > WIRE_PG_BULK_PAGES || v.first + v.count < v.first)
		return -EBADMSG;
	if (type != WIRE_T_PG_BULK_REQ &&
	    len != WIRE_PG_MSG_SIZE + (size_t)v.count * PAGER_PAGE_SIZE)
		return -EBADMSG;
	*m = v;
	return 0;
}

static int
layout_ok(const struct pager_layout *m)
{
	uint32_t i, j;

	if (m->mem_bytes == 0 || m->mem_bytes % PAGER_PAGE_SIZE)
		return 0;
	if (m->nslots == 0 || m->nslots > WIRE_PG_SLOTS_MAX)
		return 0;
	for (i = 0; i < m->nslots; i++) {
		const struct pager_slot *s = &m->slot[i];

		if (s->size == 0 ||
		    (s->size | s->memfd_off | s->gpa | s->addr) %
			    PAGER_PAGE_SIZE)
			return 0;
		if (s->memfd_off > m->mem_bytes ||
		    s->size > m->mem_bytes - s->memfd_off)
			return 0;
		if (s->gpa + s->size < s->gpa || s->addr + s->size < s->addr)
			return 0;
		for (j = 0; j < i; j++) {
			const struct pager_slot *t = &m->slot[j];

			if (s->memfd_off < t->memfd_off + t->size &&
			    t->memfd_off < s->memfd_off + s->size)
				return 0;
			if (s->addr < t->addr + t->size &&
			    t->addr < s->addr + s->size)
				return 0;
			if (s->gpa < t->gpa + t->size &&
			    t->gpa < s->gpa + s->size)
				return 0;
		}
	}
	return 1;
}

int
pager_attach_encode(const struct pager_layout *m, void *buf, size_t cap)
{
	uint8_t *p = buf, *q;
	size_t len;
	uint32_t i;

	if (!layout_ok(m))
		return -EINVAL;
	len = sizeof(struct pager_attach_le) + m->nslots * WIRE_PG_SLOT_SIZE;
	if (cap < len)
		return -ENOSPC;
	memset(p, 0, sizeof(struct pager_attach_le));
	wire_put64(p + OFF(pager_attach_le, mem_bytes), m->mem_bytes);
	wire_put32(p + OFF(pager_attach_le, nslots), m->nslots);
	for (i = 0; i < m->nslots; i++) {
		q = p + sizeof(struct pager_attach_le) + i * WIRE_PG_SLOT_SIZE;
		wire_put64(q, m->slot[i].gpa);
		wire_put64(q + 8, m->slot[i].size);
		wire_put64(q + 16, m->slot[i].memfd_off);
		wire_put64(q + 24, m->slot[i].addr);
	}
	return (int)len;
}

int
pager_attach_decode(const void *buf, size_t len, struct pager_layout *m)
{
	const uint8_t *p = buf, *q;
	struct pager_layout v;
	uint32_t i;

	if (len < WIRE_PG_ATTACH_MIN || len > WIRE_PG_ATTACH_MAX)
		return -EMSGSIZE;
	memset(&v, 0, sizeof(v));
	v.mem_bytes = wire_get64(p + OFF(pager_attach_le, mem_bytes));
	v.nslots = wire_get32(p + OFF(pager_attach_le, nslots));
	if (wire_get32(p + OFF(pager_attach_le, flags)) != 0 ||
	    wire_get64(p + OFF(pager_attach_le, reserved)) != 0)
		return -EBADMSG;
	if (v.nslots == 0 || v.nslots > WIRE_PG_SLOTS_MAX ||
	    len != sizeof(struct pager_attach_le) +
			    (size_t)v.nslots * WIRE_PG_SLOT_SIZE)
		return -EBADMSG;
	for (i = 0; i < v.nslots; i++) {
		q = p + sizeof(struct pager_attach_le) + i * WIRE_PG_SLOT_SIZE;
		v.slot[i].gpa = wire_get64(q);
		v.slot[i].size = wire_get64(q + 8);
		v.slot[i].memfd_off = wire_get64(q + 16);
		v.slot[i].addr = wire_get64(q + 24);
	}
	if (!layout_ok(&v))
		return -EBADMSG;
	*m = v;
	return 0;
}

static int
ready_ok(const struct pager_ready *m)
{
	return m->page_size == PAGER_PAGE_SIZE && m->nodes >= 1 &&
	       m->nodes <= PAGER_MAX_NODES && m->node < m->nodes &&
	       m->home_first + m->home_pages >= m->home_first;
}

int
pager_ready_encode(const struct pager_ready *m, void *buf, size_t cap)
{
	uint8_t *p = buf;

	if (!ready_ok(m))
		return -EINVAL;
	if (cap < WIRE_PG_READY_SIZE)
		return -ENOSPC;
	memset(p, 0, WIRE_PG_READY_SIZE);
	wire_put32(p + OFF(pager_ready_le, page_size), m->page_size);
	wire_put32(p + OFF(pager_ready_le, node), m->node);
	wire_put32(p + OFF(pager_ready_le, nodes), m->nodes);
	wire_put64(p + OFF(pager_ready_le, home_first), m->home_first);
	wire_put64(p + OFF(pager_ready_le, home_pages), m->home_pages);
	return WIRE_PG_READY_SIZE;
}

int
pager_ready_decode(const void *buf, size_t len, struct pager_ready *m)
{
	const uint8_t *p = buf;
	struct pager_ready v;

	if (len != WIRE_PG_READY_SIZE)
		return -EMSGSIZE;
	v.page_size = wire_get32(p + OFF(pager_ready_le, page_size));
	v.node = wire_get32(p + OFF(pager_ready_le, node));
	v.nodes = wire_get32(p + OFF(pager_ready_le, nodes));
	v.home_first = wire_get64(p + OFF(pager_ready_le, home_first));
	v.home_pages = wire_get64(p + OFF(pager_ready_le, home_pages));
	if (wire_get32(p + OFF(pager_ready_le, reserved)) != 0 || !ready_ok(&v))
		return -EBADMSG;
	*m = v;
	return 0;
}

int
pager_stream_encode(const struct pager_stream *m, void *buf, size_t cap)
{
	uint8_t *p = buf;

	if (m->node >= PAGER_MAX_NODES || m->count == 0 ||
	    m->first + m->count < m->first)
		return -EINVAL;
	if (cap < WIRE_PG_STREAM_SIZE)
		return -ENOSPC;
	wire_put32(p + OFF(pager_stream_le, node), m->node);
	wire_put32(p + OFF(pager_stream_le, reserved), 0);
	wire_put64(p + OFF(pager_stream_le, first), m->first);
	wire_put64(p + OFF(pager_stream_le, count), m->count);
	return WIRE_PG_STREAM_SIZE;
}

int
pager_stream_decode(const void *buf, size_t len, struct pager_stream *m)
{
	const uint8_t *p = buf;
	struct pager_stream v;

	if (len != WIRE_PG_STREAM_SIZE)
		return -EMSGSIZE;
	v.node = wire_get32(p + OFF(pager_stream_le, node));
	v.first = wire_get64(p + OFF(pager_stream_le, first));
	v.count = wire_get64(p + OFF(pager_stream_le, count));
	if (wire_get32(p + OFF(pager_stream_le, reserved)) != 0 ||
	    v.node >= PAGER_MAX_NODES || v.count == 0 ||
	    v.first + v.count < v.first)
		return -EBADMSG;
	*m = v;
	return 0;
}

/* --- paths --------------------------------------------------------------- */

static int
vm_path(const char *vm, const char *leaf, char *buf, size_t len)
{
	char dir[PATH_MAX];
	int n;

	if (!config_vm_name_ok(vm))
		return -EINVAL;
	if (avm_rundir(dir, sizeof(dir)) < 0)
		return -errno;
	n = snprintf(buf, len, "%s/%s/%s", dir, vm, leaf);
	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	return 0;
}

int
pager_sock_path(const char *vm, char *buf, size_t len)
{
	return vm_path(vm, "pager.sock", buf, len);
}

int
pager_stats_path(const char *vm, uint32_t node, char *buf, size_t len)
{
	char leaf[32];

	snprintf(leaf, sizeof(leaf), "pager-%u.stats", node);
	return vm_path(vm, leaf, buf, len);
}

int
run_stats_path(const char *vm, uint32_t node, char *buf, size_t len)
{
	char leaf[32];

	snprintf(leaf, sizeof(leaf), "run-%u.stats", node);
	return vm_path(vm, leaf, buf, len);
}

int
stats_gathered_path(const char *vm, const char *leaf, char *buf, size_t len)
{
	char sub[64];
	int n = snprintf(sub, sizeof(sub), "gathered/%s", leaf);

	if (n < 0 || (size_t)n >= sizeof(sub))
		return -ENAMETOOLONG;
	return vm_path(vm, sub, buf, len);
}

/* --- userfaultfd --------------------------------------------------------- */

#define PAGER_UFFD_FEATURES                                            \
	(UFFD_FEATURE_PAGEFAULT_FLAG_WP | UFFD_FEATURE_MISSING_SHMEM | \
	 UFFD_FEATURE_WP_HUGETLBFS_SHMEM | UFFD_FEATURE_EVENT_REMOVE | \
	 UFFD_FEATURE_EVENT_UNMAP | UFFD_FEATURE_EXACT_ADDRESS)

/* Wanted, not needed: without it faults name no thread (tid 0). */
#define PAGER_UFFD_OPTIONAL UFFD_FEATURE_THREAD_ID

/* A new uffd with UFFDIO_API done for features; fd or negative errno. */
static int
uffd_api(uint64_t features, uint64_t *got)
{
	struct uffdio_api api;
	int fd, e;

	fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	memset(&api, 0, sizeof(api));
	api.api = UFFD_API;
	api.features = features;
	if (ioctl(fd, UFFDIO_API, &api) < 0) {
		e = errno;
		close(fd);
		return e == EINVAL ? -EOPNOTSUPP : -e;
	}
	*got = api.features;
	return fd;
}

int
pager_uffd_open(void)
{
	uint64_t got = 0;
	int fd;

	/* UFFDIO_API takes only features the kernel has (EINVAL for any
	 * other) and only once per fd: try with the optional ones, then
	 * on a new fd without. */
	fd = uffd_api(PAGER_UFFD_FEATURES | PAGER_UFFD_OPTIONAL, &got);
	if (fd == -EOPNOTSUPP)
		fd = uffd_api(PAGER_UFFD_FEATURES, &got);
	if (fd < 0)
		return fd;
	if ((got & PAGER_UFFD_FEATURES) != PAGER_UFFD_FEATURES) {
		close(fd);
		return -EOPNOTSUPP;
	}
	return fd;
}

int
pager_uffd_register(int uffd, void *addr, size_t len)
{
	struct uffdio_register reg;

	memset(&reg, 0, sizeof(reg));
	reg.range.start = (uintptr_t)addr;
	reg.range.len = len;
	reg.mode = UFFDIO_REGISTER_MODE_MISSING | UFFDIO_REGISTER_MODE_WP;
	if (ioctl(uffd, UFFDIO_REGISTER, &reg) < 0)
		return -errno;
	if (!(reg.ioctls & (1ull << _UFFDIO_WRITEPROTECT)) ||
	    !(reg.ioctls & (1ull << _UFFDIO_COPY)))
		return -EOPNOTSUPP;
	return 0;
}

/* --- pager.sock client --------------------------------------------------- */

static void __attribute__((format(printf, 3, 4)))
say(char *why, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!why || len == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(why, len, fmt, ap);
	va_end(ap);
}

/* The PG_ATTACH frame, with the memfd and the uffd on it. */
static int
send_attach(struct link *l, const struct pager_attach *a)
{
	static uint8_t payload[WIRE_PG_ATTACH_MAX];
	struct pager_layout *pl;
	int fds[2] = { a->memfd, a->uffd };
	int len;

	if (a->nslots > WIRE_PG_SLOTS_MAX)
		return -EINVAL;
	pl = calloc(1, sizeof(*pl));
	if (!pl)
		return -ENOMEM;
	pl->mem_bytes = a->mem_bytes;
	pl->nslots = a->nslots;
	memcpy(pl->slot, a->slots, a->nslots * sizeof(*a->slots));
	len = pager_attach_encode(pl, payload, sizeof(payload));
	free(pl);
	if (len < 0)
		return len;
	return link_send_fds(l, WIRE_T_PG_ATTACH, 1, payload, (size_t)len, fds,
			     2);
}

int
pager_attach(const struct pager_attach *a, struct pager_ready *ready,
	     struct link **out, char *why, size_t whylen)
{
	struct link_self self = { .vm = a->vm,
				  .node = a->node,
				  .nodes = a->nodes,
				  .role = WIRE_ROLE_CONTROL };
	struct link_want want = { 1u << WIRE_ROLE_CONTROL, LINK_ANY_NODE, 0 };
	char path[PATH_MAX], text[300];
	struct wire_error err;
	struct pager_ready r;
	struct wire_hdr h;
	struct link *l;
	const void *p;
	uint64_t deadline;
	int rc;

	*out = NULL;
	say(why, whylen, "invalid arguments");
	if (a->timeout_ms < 0 || a->nodes == 0 || a->nodes > PAGER_MAX_NODES ||
	    a->node >= a->nodes)
		return -EINVAL;
	rc = pager_sock_path(a->vm, path, sizeof(path));
	if (rc < 0) {
		say(why, whylen, "pager.sock of VM '%s': %s", a->vm,
		    strerror(-rc));
		return rc;
	}
	deadline = now_ns() + (uint64_t)a->timeout_ms * 1000000u;
	rc = link_dial(&self, link_transport("unix"), path, &want,
		       a->timeout_ms, &l, text, sizeof(text));
	if (rc < 0) {
		say(why, whylen, "%s", text);
		return rc;
	}
	rc = send_attach(l, a);
	if (rc < 0) {
		say(why, whylen, "send layout to '%s': %s", path,
		    strerror(-rc));
		goto fail;
	}
	rc = link_recv(l, &h, &p, deadline_ms(deadline));
	if (rc == -ECONNABORTED) {
		say(why, whylen, "pager refused: %s", link_why(l));
		rc = -ECONNREFUSED;
		goto fail;
	}
	if (rc < 0) {
		say(why, whylen, "wait for the pager's answer: %s",
		    rc == -ETIMEDOUT ? "timed out (are all nodes up?)"
				     : link_why(l));
		goto fail;
	}
	if (h.type == WIRE_T_PG_READY && (h.flags & WIRE_F_ERROR)) {
		if (wire_error_decode(p, h.len, &err) < 0) {
			rc = -EBADMSG;
			say(why, whylen, "malformed error from the pager");
			goto fail;
		}
		say(why, whylen, "pager refused: %s", err.msg);
		rc = -ECONNREFUSED;
		goto fail;
	}
	if (h.type != WIRE_T_PG_READY || h.id != 1 ||
	    pager_ready_decode(p, h.len, &r) < 0) {
		say(why, whylen, "unexpected %s from the pager",
		    wire_type_name(h.type));
		rc = -EPROTO;
		goto fail;
	}
	if (ready)
		*ready = r;
	say(why, whylen, "ok");
	*out = l;
	return 0;
fail:
	link_free(l);
	return rc;
}

int
pager_check(struct link *l, char *why, size_t whylen)
{
	const void *p;
	struct wire_hdr h;
	int rc;

	rc = link_fill(l);
	if (rc == -EPIPE || rc == -ECONNRESET) {
		say(why, whylen, "the pager closed its socket (it died)");
		return -EPIPE;
	}
	if (rc < 0) {
		say(why, whylen, "reading from the pager: %s", link_why(l));
		return -EPROTO;
	}
	rc = link_next(l, &h, &p);
	if (rc == 0)
		return 0;
	if (rc == -ECONNABORTED) {
		say(why, whylen, "%s", link_why(l));
		return -ESHUTDOWN;
	}
	say(why, whylen, "unexpected %s from the pager",
	    rc < 0 ? link_why(l) : wire_type_name(h.type));
	return -EPROTO;
}

int
pager_detach(struct link *l)
{
	link_bye(l, 1000);
	link_free(l);
	return 0;
}

/* --- saving memory into a snapshot ------------------------------------------- */

int
pager_save(const char *vm, const struct savemsg_req *req, int timeout_ms,
	   struct savemsg_part *parts, uint64_t *save_ns, char *why,
	   size_t whylen)
{
	struct link_self self = { .vm = vm,
				  .node = 0,
				  .nodes = req->nodes,
				  .role = WIRE_ROLE_CONTROL };
	struct link_want want = { 1u << WIRE_ROLE_CONTROL, LINK_ANY_NODE, 0 };
	static uint8_t buf[WIRE_PG_SAVE_MAX];
	char path[PATH_MAX], text[300];
	struct wire_error err;
	struct wire_hdr h;
	struct link *l;
	const void *p;
	uint32_t n;
	int rc, len;

	len = savemsg_req_encode(req, buf, sizeof(buf));
	if (len < 0 || timeout_ms <= 0) {
		say(why, whylen, "invalid arguments");
		return -EINVAL;
	}
	rc = pager_sock_path(vm, path, sizeof(path));
	if (rc < 0) {
		say(why, whylen, "pager.sock of VM '%s': %s", vm,
		    strerror(-rc));
		return rc;
	}
	rc = link_dial(&self, link_transport("unix"), path, &want, 5000, &l,
		       text, sizeof(text));
	if (rc < 0) {
		say(why, whylen, "%s", text);
		return rc;
	}
	rc = link_send(l, WIRE_T_PG_SAVE, 0, 1, buf, (size_t)len, NULL, 0);
	if (rc == 0)
		rc = link_recv(l, &h, &p, timeout_ms);
	if (rc == -ETIMEDOUT) {
		say(why, whylen, "no answer from the pagers in %d ms",
		    timeout_ms);
		goto out;
	}
	if (rc == -EPIPE || rc == -ECONNRESET || rc == -ECONNABORTED) {
		say(why, whylen, "node 0's pager ended during the save%s%s",
		    rc == -ECONNABORTED ? ": " : " (a node failed?)",
		    rc == -ECONNABORTED ? link_why(l) : "");
		rc = -EPIPE;
		goto out;
	}
	if (rc < 0) {
		say(why, whylen, "%s", link_why(l));
		goto out;
	}
	if (h.type != WIRE_T_PG_SAVE_DONE || h.id != 1) {
		say(why, whylen, "unexpected %s from the pager",
		    wire_type_name(h.type));
		rc = -EPROTO;
		goto out;
	}
	if (h.flags & WIRE_F_ERROR) {
		rc = wire_error_decode(p, h.len, &err);
		say(why, whylen, "%s",
		    rc < 0 ? "malformed error from the pager" : err.msg);
		rc = rc < 0 ? -EPROTO : -ECONNREFUSED;
		goto out;
	}
	rc = savemsg_done_decode(p, h.len, parts, PAGER_MAX_NODES, &n, save_ns);
	if (rc == 0 && n != req->nodes)
		rc = -EBADMSG;
	if (rc < 0) {
		say(why, whylen, "malformed PG_SAVE_DONE from the pager");
		rc = -EPROTO;
		goto out;
	}
	say(why, whylen, "ok");
out:
	link_bye(l, 1000);
	link_free(l);
	return rc;
}
