/*
 * Run-to-run links; see links.h.  This file opens them (addresses, dial
 * and accept on lib/link.c, node 0's clock first), starts their receive
 * threads, keeps their heartbeats and closes them; linkmsg.c says what
 * each message means.  The payloads and their codecs are in
 * include/avm/runmsg.h, the specification is man/avm-wire.7.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "avm/auth.h"
#include "avm/link.h"
#include "avm/log.h"
#include "avm/runmsg.h"
#include "avm/util.h"
#include "avm/wire.h"

#include "links.h"
#include "rlink.h"
#include "vm.h"

#define LINK_CLOSE_MS 2000 /* wait for the peer's end after ours */
#define LINK_GREET_MS 5000 /* one connection's handshake */

void
links_tick(struct vm *vm)
{
	struct links *L = vm->links;
	uint64_t now = now_ns();
	unsigned i;

	if (!L)
		return;
	for (i = 0; i < vm->nnodes; i++) {
		struct rlink *l = &L->link[i];

		if (i == vm->node || !l->l || link_bye_seen(l->l))
			continue;
		if (link_tick(l->l, now) < 0)
			vm_end(vm, VM_END_ERROR, AVM_EX_UNAVAILABLE,
			       "node %u failed: %s", i, link_why(l->l));
	}
}

/* --- opening and closing ------------------------------------------------*/

/* ADDR:PORT number i of the comma-separated list into sa. */
static int
peer_addr(const char *list, unsigned i, struct sockaddr_storage *sa,
	  socklen_t *salen, char *text, size_t textlen)
{
	const char *s = list, *e;
	unsigned n;
	size_t len;

	for (; i > 0 && s; i--) {
		s = strchr(s, ',');
		if (s)
			s++;
	}
	if (!s)
		return -1;
	e = strchr(s, ',');
	len = e ? (size_t)(e - s) : strlen(s);
	snprintf(text, textlen, "%.*s", (int)len, s);
	if (len == 0 || addr_parse(s, len, sa, &n) < 0)
		return -1;
	*salen = n;
	return 0;
}

static struct link_self
run_self(struct vm *vm)
{
	return (struct link_self){ .vm = vm->opts.name,
				   .node = vm->node,
				   .nodes = vm->nnodes,
				   .role = WIRE_ROLE_RUN,
				   .key = vm->links->key,
				   .dead_ms = vm->opts.dead_ms };
}

static int
link_dial_node(struct vm *vm, unsigned j, uint64_t deadline)
{
	struct link_self self = run_self(vm);
	struct link_want want = { 1u << WIRE_ROLE_RUN, j, 0 };
	struct sockaddr_storage sa;
	socklen_t salen;
	char text[128], why[400];
	int r;

	if (peer_addr(vm->opts.peers, j, &sa, &salen, text, sizeof(text)) < 0) {
		log_err("run links: bad address of node %u", j);
		return AVM_EX_USAGE;
	}
	r = link_dial(&self, link_transport("tcp"), text, &want,
		      deadline_ms(deadline), &vm->links->link[j].l, why,
		      sizeof(why));
	if (r < 0) {
		log_err("run link to node %u: %s", j, why);
		return r == -EACCES ? AVM_EX_NOPERM : AVM_EX_UNAVAILABLE;
	}
	return AVM_EX_OK;
}

/* Where link_accept_n puts what node 0 (or any node) accepts. */
static int
take_node(void *opaque, struct link *l, const char *refused)
{
	struct vm *vm = opaque;
	uint32_t node;

	if (!l) {
		log_warn("run links: refused a connection: %s", refused);
		return 0;
	}
	node = link_peer(l)->node;
	if (vm->links->link[node].l) {
		log_warn("run links: refused %s: node %u already linked",
			 link_addr(l), node);
		return -1;
	}
	vm->links->link[node].l = l;
	return 0;
}

/* Every node above ours dials us: each connection is greeted at once
 * with its own LINK_GREET_MS, so one that says nothing (a port scan, a
 * stray client) holds only itself (issue 9 item 3). */
static int
link_accept_nodes(struct vm *vm, int lfd, uint64_t deadline)
{
	struct link_self self = run_self(vm);
	struct link_want want = { 1u << WIRE_ROLE_RUN, LINK_ANY_NODE, 1 };
	unsigned n = vm->nnodes - vm->node - 1;
	char why[400];
	int r;

	if (!n)
		return AVM_EX_OK;
	r = link_accept_n(lfd, &self, &want, n, deadline_ms(deadline),
			  LINK_GREET_MS, take_node, vm, why, sizeof(why));
	if (r == -ETIMEDOUT) {
		log_err("run links: the other nodes did not all connect in "
			"time: %s",
			why);
		return AVM_EX_UNAVAILABLE;
	}
	if (r < 0) {
		log_err("run links: %s", why);
		return AVM_EX_OSERR;
	}
	return AVM_EX_OK;
}

static int
links_listen(struct vm *vm)
{
	struct sockaddr_storage sa;
	socklen_t salen;
	char text[128], why[300];
	int fd;

	if (vm->opts.listen_fd >= 0)
		return vm->opts.listen_fd;
	if (peer_addr(vm->opts.peers, vm->node, &sa, &salen, text,
		      sizeof(text)) < 0)
		return -1;
	fd = link_listen(link_transport("tcp"), text, why, sizeof(why));
	if (fd < 0) {
		log_err("run links: %s", why);
		return -1;
	}
	return fd;
}

/* Node 0's kvmclock goes first on every run link, before any other
 * frame (clock.c says how the others set theirs from it). */
static int
clock_send_all(struct vm *vm)
{
	struct runmsg_clock q;
	uint8_t b[WIRE_RUN_CLOCK_SIZE];
	unsigned j;
	int r;

	r = vm_clock_get(vm, &q);
	if (r != AVM_EX_OK)
		return r;
	runmsg_clock_encode(&q, b, sizeof(b));
	for (j = 1; j < vm->nnodes; j++)
		if (rlink_send(&vm->links->link[j], WIRE_T_RUN_CLOCK, 0, 0, b,
			       sizeof(b)) < 0) {
			log_err("run link to node %u: send the clock", j);
			return AVM_EX_UNAVAILABLE;
		}
	return AVM_EX_OK;
}

static int
clock_recv(struct vm *vm, uint64_t deadline)
{
	struct runmsg_clock q;
	struct wire_hdr h;
	const void *b;
	int r;

	r = link_recv(vm->links->link[0].l, &h, &b, deadline_ms(deadline));
	if (r == 0 && h.type == WIRE_T_RUN_CLOCK &&
	    runmsg_clock_decode(b, h.len, &q) < 0)
		r = -EBADMSG;
	if (r < 0 || h.type != WIRE_T_RUN_CLOCK) {
		log_err("run link to node 0: no clock from node 0 (%s)",
			r < 0 ? strerror(-r) : wire_type_name(h.type));
		return AVM_EX_UNAVAILABLE;
	}
	return vm_clock_set(vm, &q);
}

int
links_open(struct vm *vm, int timeout_ms)
{
	uint64_t deadline = now_ns() + (uint64_t)timeout_ms * 1000000ull;
	struct links *L;
	unsigned i;
	int r, lfd = -1;

	L = calloc(1, sizeof(*L));
	if (!L)
		return AVM_EX_OSERR;
	vm->links = L;
	L->vm = vm;
	pthread_mutex_init(&L->lock, NULL);
	{
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&L->cond, &ca);
		pthread_condattr_destroy(&ca);
	}
	L->link = calloc(vm->nnodes, sizeof(*L->link));
	L->wait = calloc(vm->nvcpus, sizeof(*L->wait));
	if (!L->link || !L->wait)
		return AVM_EX_OSERR;
	for (i = 0; i < vm->nnodes; i++) {
		L->link[i].vm = vm;
		L->link[i].node = i;
	}
	r = auth_secret_load(vm->opts.secret, L->key);
	if (r < 0) {
		log_err("secret '%s': %s", vm->opts.secret, strerror(-r));
		return r == -ENOENT  ? AVM_EX_NOINPUT
		       : r == -EPERM ? AVM_EX_NOPERM
				     : AVM_EX_CONFIG;
	}
	lfd = links_listen(vm);
	if (lfd < 0)
		return AVM_EX_UNAVAILABLE;
	/* Lower nodes first: node 0 only accepts, so the chain ends. */
	for (i = 0; i < vm->node; i++) {
		r = link_dial_node(vm, i, deadline);
		if (r != AVM_EX_OK)
			goto out;
	}
	r = link_accept_nodes(vm, lfd, deadline);
	if (r != AVM_EX_OK)
		goto out;
	log_debug("node %u: run links up to %u nodes", vm->node,
		  vm->nnodes - 1);
	r = vm->node == 0 ? clock_send_all(vm) : clock_recv(vm, deadline);
out:
	close(lfd);
	vm->opts.listen_fd = -1;
	return r;
}

int
links_start(struct vm *vm)
{
	struct links *L = vm->links;
	unsigned i;
	int r;

	for (i = 0; L && i < vm->nnodes; i++) {
		if (i == vm->node)
			continue;
		/* Heartbeats count from here: set-up may take long. */
		link_touch(L->link[i].l);
		r = pthread_create(&L->link[i].thread, NULL, link_thread,
				   &L->link[i]);
		if (r) {
			errno = r;
			return -1;
		}
		pthread_setname_np(L->link[i].thread, "avm-link");
		L->link[i].started = 1;
	}
	return 0;
}

void
links_close(struct vm *vm)
{
	struct links *L = vm->links;
	uint8_t p[WIRE_RUN_END_MAX];
	uint64_t until = now_ns() + LINK_CLOSE_MS * 1000000ull;
	struct runmsg_end m;
	unsigned i;
	int n;

	if (!L)
		return;
	runmsg_end_set(&m, vm->end_status,
		       vm->end == VM_END_NONE ? VM_END_ERROR : vm->end, "%s",
		       vm->end_why);
	n = runmsg_end_encode(&m, p, sizeof(p));
	for (i = 0; i < vm->nnodes; i++) {
		struct rlink *l = &L->link[i];

		if (i == vm->node || !l->l)
			continue;
		if (!vm->end_remote && n > 0)
			rlink_send(l, WIRE_T_RUN_END, 0, 0, p, (uint32_t)n);
		link_bye(l->l, LINK_CLOSE_MS);
	}
	/* Read on until each peer closes too (it got our END), so that
	 * nothing it sent is lost in a reset, but not for long. */
	for (i = 0; i < vm->nnodes; i++) {
		struct rlink *l = &L->link[i];

		atomic_store(&l->close_ns, until);
		if (l->started) {
			pthread_join(l->thread, NULL);
			l->started = 0;
		}
	}
}

void
links_free(struct vm *vm)
{
	struct links *L = vm->links;
	unsigned i;

	if (!L)
		return;
	for (i = 0; L->link && i < vm->nnodes; i++) {
		struct rlink *l = &L->link[i];

		atomic_store(&l->close_ns, 1);
		if (l->started)
			pthread_join(l->thread, NULL);
		link_free(l->l);
	}
	free(L->link);
	free(L->wait);
	pthread_mutex_destroy(&L->lock);
	pthread_cond_destroy(&L->cond);
	free(L);
	vm->links = NULL;
}
