/*
 * The run links' messages (links.h): what a node sends (interrupts, APIC
 * addressing, EOIs, forwarded I/O and its wait for the answer, pause and
 * resume) and what its receive threads do with each frame.  The payloads
 * and their codecs are in include/avm/runmsg.h, the specification is
 * man/avm-wire.7; opening and closing the links is links.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "avm/link.h"
#include "avm/log.h"
#include "avm/runmsg.h"
#include "avm/util.h"
#include "avm/wire.h"

#include "arch/x86/apicbus.h"
#include "arch/x86/ioapic.h"
#include "links.h"
#include "rlink.h"
#include "route.h"
#include "runstats.h"
#include "vcpu.h"
#include "vm.h"

#define LINK_IO_TIMEOUT_MS 10000
#define LINK_CONTROL_MS 5000 /* RUN_CONTROL answered within */

/* --- sending ------------------------------------------------------------*/

int
rlink_send(struct rlink *l, uint16_t type, uint16_t flags, uint64_t id,
	   const void *p, uint32_t len)
{
	int r;

	r = !l->l ? -ENOTCONN
		  : link_send(l->l, type, flags, id, p, len, NULL, 0);
	return r;
}

int
links_forward_irq(void *opaque, uint32_t apic_id, const struct apic_msg *m)
{
	struct vm *vm = opaque;
	struct runmsg_irq q = { .apic_id = apic_id,
				.dest = m->dest,
				.src = m->src,
				.vector = m->vector,
				.delivery = m->delivery,
				.dest_logical = m->dest_logical,
				.dest_x2apic = m->dest_x2apic,
				.shorthand = m->shorthand,
				.level_trig = m->level_trig,
				.assert = m->assert };
	uint8_t p[WIRE_RUN_IRQ_SIZE];
	int r;

	if (!vm->links || apic_id >= vm->nvcpus ||
	    vm->vcpu_node[apic_id] == vm->node ||
	    runmsg_irq_encode(&q, p, sizeof(p)) < 0) {
		errno = EINVAL;
		return -1;
	}
	r = rlink_send(&vm->links->link[vm->vcpu_node[apic_id]], WIRE_T_RUN_IRQ,
		       0, 0, p, sizeof(p));
	if (r < 0) {
		errno = -r;
		return -1;
	}
	return 0;
}

void
links_publish(void *opaque, const struct apic_addr *a)
{
	struct vm *vm = opaque;
	struct runmsg_apic_addr q = { a->id, a->ldr, a->model, a->flags };
	uint8_t p[WIRE_RUN_ADDR_SIZE];
	unsigned i;

	if (!vm->links || runmsg_apic_addr_encode(&q, p, sizeof(p)) < 0)
		return;
	for (i = 0; i < vm->nnodes; i++)
		if (i != vm->node)
			rlink_send(&vm->links->link[i], WIRE_T_RUN_APIC_ADDR, 0,
				   0, p, sizeof(p));
}

void
links_eoi(struct vm *vm, uint8_t vector)
{
	struct runmsg_eoi q = { vector };
	uint8_t p[WIRE_RUN_EOI_SIZE];

	runmsg_eoi_encode(&q, p, sizeof(p));
	if (vm->links)
		rlink_send(&vm->links->link[0], WIRE_T_RUN_EOI, 0, 0, p,
			   sizeof(p));
}

static int
links_io_wait(struct vcpu *v, int mmio, uint64_t addr, void *data,
	      unsigned size, unsigned count, int is_write)
{
	struct vm *vm = v->vm;
	struct links *L = vm->links;
	struct io_wait *w = &L->wait[v->id];
	uint8_t p[WIRE_RUN_IO_SIZE + WIRE_RUN_IO_DATA_MAX];
	struct runmsg_io q = { .addr = addr,
			       .vcpu = v->id,
			       .size = (uint16_t)size,
			       .count = (uint16_t)count,
			       .flags = (is_write ? RUNMSG_IO_WRITE : 0) |
					(mmio ? RUNMSG_IO_MMIO : 0),
			       .data = is_write ? data : NULL };
	uint32_t n = size * count, seq;
	uint64_t deadline;
	int r, len;

	len = size > 8 || count > UINT16_MAX
		      ? -EINVAL
		      : runmsg_io_encode(&q, p, sizeof(p));
	if (len < 0) {
		vm_end(vm, VM_END_ERROR, AVM_EX_SOFTWARE,
		       "vCPU %u: I/O of %u bytes cannot be forwarded", v->id,
		       n);
		return -1;
	}
	pthread_mutex_lock(&L->lock);
	seq = ++w->seq;
	w->done = 0;
	pthread_mutex_unlock(&L->lock);
	r = rlink_send(&L->link[0], WIRE_T_RUN_IO, 0,
		       (uint64_t)seq << 32 | v->id, p, (uint32_t)len);
	if (r < 0) {
		if (vm_state(vm) != VM_STOPPING)
			vm_end(vm, VM_END_ERROR, AVM_EX_UNAVAILABLE,
			       "node 0 failed: forwarding I/O: %s",
			       strerror(-r));
		return -1;
	}
	runstats_inc(&v->st->io_forwarded);
	deadline = now_ns() + LINK_IO_TIMEOUT_MS * 1000000ull;
	pthread_mutex_lock(&L->lock);
	while (!w->done) {
		struct timespec ts;

		if (vm_state(vm) == VM_STOPPING) {
			pthread_mutex_unlock(&L->lock);
			return -1;
		}
		if (now_ns() > deadline) {
			pthread_mutex_unlock(&L->lock);
			vm_end(vm, VM_END_ERROR, AVM_EX_UNAVAILABLE,
			       "node 0 failed: no answer to forwarded I/O "
			       "within %d ms",
			       LINK_IO_TIMEOUT_MS);
			return -1;
		}
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += 100000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&L->cond, &L->lock, &ts);
	}
	r = w->err;
	if (!r && !is_write) {
		if (w->len == n)
			memcpy(data, w->data, n);
		else
			r = EBADMSG;
	}
	pthread_mutex_unlock(&L->lock);
	if (r) {
		vm_end(vm, VM_END_ERROR, AVM_EX_SOFTWARE,
		       "vCPU %u: forwarded I/O at %#" PRIx64 " failed: %s",
		       v->id, addr, strerror(r));
		return -1;
	}
	return 0;
}

/* The vCPU shows as waiting for I/O in the stats file meanwhile. */
int
links_io(struct vcpu *v, int mmio, uint64_t addr, void *data, unsigned size,
	 unsigned count, int is_write)
{
	int r;

	vcpu_set_run_state(v, RUN_VCPU_IO);
	r = links_io_wait(v, mmio, addr, data, size, count, is_write);
	vcpu_set_run_state(v, RUN_VCPU_RUNNING);
	return r;
}

int
links_control(struct vm *vm, int pause)
{
	struct links *L = vm->links;
	struct runmsg_control q = { pause ? RUNMSG_CONTROL_PAUSE
					  : RUNMSG_CONTROL_RESUME };
	uint8_t p[WIRE_RUN_CONTROL_SIZE];
	uint64_t deadline, id;
	unsigned i;
	int err = 0;

	if (!L || vm->node != 0)
		return 0;
	runmsg_control_encode(&q, p, sizeof(p));
	pthread_mutex_lock(&L->lock);
	id = ++L->control_id;
	/* Counted before sending: an answer may come before we look. */
	L->control_pending = vm->nnodes - 1;
	L->control_err = 0;
	pthread_mutex_unlock(&L->lock);
	for (i = 1; i < vm->nnodes; i++) {
		if (rlink_send(&L->link[i], WIRE_T_RUN_CONTROL, 0, id, p,
			       sizeof(p)) < 0) {
			err = EHOSTUNREACH;
			pthread_mutex_lock(&L->lock);
			L->control_pending--;
			pthread_mutex_unlock(&L->lock);
		}
	}
	deadline = now_ns() + LINK_CONTROL_MS * 1000000ull;
	pthread_mutex_lock(&L->lock);
	while (L->control_pending > 0 && now_ns() < deadline) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += 100000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&L->cond, &L->lock, &ts);
	}
	if (L->control_pending > 0)
		err = ETIMEDOUT;
	else if (L->control_err)
		err = L->control_err;
	L->control_id++; /* late answers no longer count */
	pthread_mutex_unlock(&L->lock);
	if (err) {
		errno = err;
		return -1;
	}
	return 0;
}

/* --- receiving ----------------------------------------------------------*/

/* A frame whose payload breaks its layout: the peer is broken. */
static void
link_malformed(struct rlink *l, const struct wire_hdr *h)
{
	vm_end(l->vm, VM_END_ERROR, AVM_EX_UNAVAILABLE,
	       "node %u failed: malformed %s (%u bytes) on the run link",
	       l->node, wire_type_name(h->type), h->len);
}

static void
handle_irq(struct rlink *l, const struct wire_hdr *h, const uint8_t *p)
{
	struct vm *vm = l->vm;
	struct runmsg_irq q;
	struct apic_msg m;
	uint32_t id;

	if (runmsg_irq_decode(p, h->len, &q) < 0) {
		link_malformed(l, h);
		return;
	}
	id = q.apic_id;
	memset(&m, 0, sizeof(m));
	m.dest = q.dest;
	m.src = q.src;
	m.vector = q.vector;
	m.delivery = q.delivery;
	m.dest_logical = q.dest_logical;
	m.dest_x2apic = q.dest_x2apic;
	m.shorthand = q.shorthand;
	m.level_trig = q.level_trig;
	m.assert = q.assert;
	if (id >= vm->nvcpus || vm->vcpu_node[id] != vm->node ||
	    apicbus_deliver(vm->apicbus, id, &m) < 0)
		log_warn("node %u sent an interrupt for APIC %u, not ours",
			 l->node, id);
}

static void
handle_addr(struct rlink *l, const struct wire_hdr *h, const uint8_t *p)
{
	struct vm *vm = l->vm;
	struct runmsg_apic_addr q;
	struct apic_addr a;

	if (runmsg_apic_addr_decode(p, h->len, &q) < 0) {
		link_malformed(l, h);
		return;
	}
	memset(&a, 0, sizeof(a));
	a.id = q.id;
	a.ldr = q.ldr;
	a.model = q.model;
	a.flags = q.flags;
	if (a.id >= vm->nvcpus || vm->vcpu_node[a.id] != l->node) {
		log_warn("node %u published APIC %u, not its own", l->node,
			 a.id);
		return;
	}
	apicbus_set_addr(vm->apicbus, &a);
}

/* Node 0: a vCPU of the sender does PIO or MMIO on our device bus. */
static void
handle_io(struct rlink *l, const struct wire_hdr *h, const uint8_t *p)
{
	struct vm *vm = l->vm;
	struct runmsg_io q = { 0 };
	uint8_t data[WIRE_RUN_IO_DATA_MAX];
	struct wire_error e;
	uint32_t n = 0, i;
	int wr = 0, mmio = 0;

	if (runmsg_io_decode(p, h->len, &q) == 0) {
		n = runmsg_io_bytes(q.size, q.count);
		wr = (q.flags & RUNMSG_IO_WRITE) != 0;
		mmio = (q.flags & RUNMSG_IO_MMIO) != 0;
	}
	if (!vm->route->devices_here || n == 0 || q.vcpu >= vm->nvcpus ||
	    vm->vcpu_node[q.vcpu] != l->node) {
		wire_error_set(&e, WIRE_E_INVAL, "bad RUN_IO");
		link_send_error(l->l, WIRE_T_RUN_IO_DONE, h->id, &e);
		return;
	}
	if (wr)
		memcpy(data, q.data, n);
	else
		memset(data, mmio ? 0 : 0xff, n);
	for (i = 0; i < q.count; i++)
		bus_access(mmio ? &vm->mmio : &vm->pio,
			   mmio ? BUS_MMIO : BUS_PIO, NULL, q.addr,
			   data + i * q.size, q.size, wr);
	/* Every link's thread serves: several writers. */
	if (vm->stats.rs)
		runstats_add(&vm->stats.rs->io_served, 1);
	rlink_send(l, WIRE_T_RUN_IO_DONE, WIRE_F_REPLY, h->id, data,
		   wr ? 0 : n);
}

static void
handle_io_done(struct rlink *l, const struct wire_hdr *h, const uint8_t *p)
{
	struct links *L = l->vm->links;
	uint32_t vcpu = (uint32_t)h->id, seq = (uint32_t)(h->id >> 32);
	struct io_wait *w;

	if (vcpu >= l->vm->nvcpus)
		return;
	w = &L->wait[vcpu];
	pthread_mutex_lock(&L->lock);
	if (w->seq == seq && !w->done) {
		w->err = 0;
		if (h->flags & WIRE_F_ERROR) {
			struct wire_error e;

			w->err = wire_error_decode(p, h->len, &e) < 0
					 ? EBADMSG
					 : wire_errcode_to_errno(e.code);
		} else {
			struct runmsg_bytes d;

			if (runmsg_bytes_decode(WIRE_T_RUN_IO_DONE, p, h->len,
						&d) < 0) {
				w->err = EBADMSG;
			} else {
				w->len = d.len;
				memcpy(w->data, d.data, d.len);
			}
		}
		w->done = 1;
		pthread_cond_broadcast(&L->cond);
	}
	pthread_mutex_unlock(&L->lock);
}

static void
handle_end(struct rlink *l, const struct wire_hdr *h, const uint8_t *p)
{
	struct runmsg_end m;

	if (runmsg_end_decode(p, h->len, &m) < 0) {
		link_malformed(l, h);
		return;
	}
	vm_end_remote(l->vm, (enum vm_end)m.reason, m.status, "node %u: %s",
		      l->node, m.why);
}

static void
handle_control(struct rlink *l, const struct wire_hdr *h, const uint8_t *p)
{
	struct vm *vm = l->vm;
	struct runmsg_control q = { 0 };
	struct wire_error e;
	int r;

	if (runmsg_control_decode(p, h->len, &q) < 0)
		q.op = 0;
	if (q.op == RUNMSG_CONTROL_PAUSE) {
		/* No waiting here for our vCPUs to park: one of them may be
		 * waiting for an I/O answer that this thread reads. */
		r = vm_pause_local(vm, 0);
		if (r < 0 && errno == ETIMEDOUT)
			r = 0;
	} else if (q.op == RUNMSG_CONTROL_RESUME) {
		r = vm_resume_local(vm);
	} else {
		errno = EINVAL;
		r = -1;
	}
	if (r < 0) {
		wire_error_set(&e, wire_errcode_from_errno(errno), "%s",
			       strerror(errno));
		link_send_error(l->l, WIRE_T_RUN_CONTROL_DONE, h->id, &e);
		return;
	}
	rlink_send(l, WIRE_T_RUN_CONTROL_DONE, WIRE_F_REPLY, h->id, NULL, 0);
}

static void
handle_control_done(struct rlink *l, const struct wire_hdr *h, const uint8_t *p)
{
	struct links *L = l->vm->links;
	struct wire_error e;

	pthread_mutex_lock(&L->lock);
	if (h->id == L->control_id && L->control_pending > 0) {
		L->control_pending--;
		if ((h->flags & WIRE_F_ERROR) &&
		    wire_error_decode(p, h->len, &e) == 0)
			L->control_err = wire_errcode_to_errno(e.code);
		pthread_cond_broadcast(&L->cond);
	}
	pthread_mutex_unlock(&L->lock);
}

static void
link_handle(struct rlink *l, const struct wire_hdr *h, const uint8_t *p)
{
	switch (h->type) {
	case WIRE_T_BYE:
		break; /* link_bye_seen() says so from now on */
	case WIRE_T_RUN_IRQ:
		handle_irq(l, h, p);
		break;
	case WIRE_T_RUN_APIC_ADDR:
		handle_addr(l, h, p);
		break;
	case WIRE_T_RUN_EOI: {
		struct runmsg_eoi q;

		if (runmsg_eoi_decode(p, h->len, &q) < 0)
			link_malformed(l, h);
		else if (l->vm->ioapic)
			ioapic_eoi(l->vm->ioapic, q.vector);
		break;
	}
	case WIRE_T_RUN_IO:
		handle_io(l, h, p);
		break;
	case WIRE_T_RUN_IO_DONE:
		handle_io_done(l, h, p);
		break;
	case WIRE_T_RUN_END:
		handle_end(l, h, p);
		break;
	case WIRE_T_RUN_CONTROL:
		handle_control(l, h, p);
		break;
	case WIRE_T_RUN_CONTROL_DONE:
		handle_control_done(l, h, p);
		break;
	default:
		log_warn("node %u sent %s on the run link: ignored", l->node,
			 wire_type_name(h->type));
		break;
	}
}

void *
link_thread(void *arg)
{
	struct rlink *l = arg;
	struct vm *vm = l->vm;
	struct wire_hdr h;
	const void *p;
	int r;

	for (;;) {
		uint64_t c = atomic_load(&l->close_ns);

		if (c && now_ns() > c)
			break;
		r = link_recv(l->l, &h, &p, 200);
		if (r == -ETIMEDOUT)
			continue;
		if (r < 0) {
			if (r == -ECONNABORTED)
				vm_end(vm, VM_END_ERROR, AVM_EX_UNAVAILABLE,
				       "node %u failed: %s", l->node,
				       link_why(l->l));
			else if (!link_bye_seen(l->l) &&
				 vm_state(vm) != VM_STOPPING)
				vm_end(vm, VM_END_ERROR, AVM_EX_UNAVAILABLE,
				       "node %u failed: run link %s", l->node,
				       link_why(l->l));
			break;
		}
		/* The payload is the link's buffer until the next receive:
		 * every handler is done with it when it returns. */
		link_handle(l, &h, p);
	}
	return NULL;
}
