/* The home directory of avm-pager; see dir.h. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "dir.h"

#define NO_NODE UINT32_MAX

/* A page with a request running; its queue's head is the one running. */
struct dir_txn {
	struct dir_txn *hnext;
	uint64_t page;
	struct dir_req *head, *tail;
	uint64_t waiting; /* nodes whose PG_INVAL_ACK is due */
	uint32_t src;	  /* node asked for the bytes, or NO_NODE */
	int have_data;
	uint8_t data[PAGER_PAGE_SIZE];
};

int
dir_init(struct dir *d, uint64_t first, uint64_t npages, uint32_t self,
	 uint32_t nodes, const struct dir_ops *ops)
{
	memset(d, 0, sizeof(*d));
	if (nodes == 0 || nodes > PAGER_MAX_NODES || self >= nodes)
		return -EINVAL;
	d->first = first;
	d->npages = npages;
	d->self = self;
	d->nodes = nodes;
	d->ops = *ops;
	d->hash_mask = 1023;
	d->hash = calloc(d->hash_mask + 1, sizeof(*d->hash));
	d->e = npages ? calloc(npages, sizeof(*d->e)) : NULL;
	if (!d->hash || (npages && !d->e)) {
		dir_release(d);
		return -ENOMEM;
	}
	return 0;
}

void
dir_release(struct dir *d)
{
	struct dir_txn *t;
	struct dir_req *r;
	uint32_t i;

	for (i = 0; d->hash && i <= d->hash_mask; i++) {
		while ((t = d->hash[i])) {
			d->hash[i] = t->hnext;
			while ((r = t->head)) {
				t->head = r->next;
				free(r);
			}
			free(t);
		}
	}
	free(d->hash);
	free(d->e);
	d->hash = NULL;
	d->e = NULL;
}

const struct dir_entry *
dir_entry_get(const struct dir *d, uint64_t page)
{
	return dir_homes(d, page) ? &d->e[page - d->first] : NULL;
}

static uint32_t
hash_of(const struct dir *d, uint64_t page)
{
	return (uint32_t)(page * 0x9e3779b97f4a7c15ull >> 40) & d->hash_mask;
}

static struct dir_txn *
txn_find(struct dir *d, uint64_t page)
{
	struct dir_txn *t;

	for (t = d->hash[hash_of(d, page)]; t; t = t->hnext)
		if (t->page == page)
			return t;
	return NULL;
}

static void
txn_free(struct dir *d, struct dir_txn *t)
{
	struct dir_txn **pp = &d->hash[hash_of(d, t->page)];

	while (*pp != t)
		pp = &(*pp)->hnext;
	*pp = t->hnext;
	d->e[t->page - d->first].state &= (uint8_t)~DIR_BUSY;
	d->busy--;
	free(t);
}

static int
lowest(uint64_t set)
{
	return __builtin_ctzll(set);
}

static void
grant(struct dir *d, struct dir_txn *t, int mode, int data)
{
	struct dir_entry *e = &d->e[t->page - d->first];

	d->ops.grant(d->ops.ctx, t->head, mode, data, e->version,
		     data == PAGER_DATA_PAGE ? t->data : NULL);
}

/*
 * What a grant of a page that no holder gives bytes for carries:
 * PAGER_DATA_ZERO, or PAGER_DATA_PAGE with t->data filled by the owner
 * (dir_ops.fill); < 0 the owner's error.
 */
static int
fill(struct dir *d, struct dir_txn *t)
{
	int rc;

	if (!d->ops.fill)
		return PAGER_DATA_ZERO;
	rc = d->ops.fill(d->ops.ctx, t->page, t->data);
	if (rc < 0)
		return rc;
	return rc ? PAGER_DATA_PAGE : PAGER_DATA_ZERO;
}

/* The requester said it holds nothing: forget what we thought. */
static void
fix_view(struct dir_entry *e, const struct dir_req *r)
{
	uint64_t bit = 1ull << r->node;

	if (r->have != PAGER_HOLD_NONE || !(e->copyset & bit))
		return;
	e->copyset &= ~bit;
	if ((e->state & ~DIR_BUSY) == DIR_EXCL || e->copyset == 0)
		e->state = (uint8_t)((e->state & DIR_BUSY) |
				     (e->copyset ? DIR_SHARED : DIR_INVALID));
}

static void
set_state(struct dir_entry *e, int s)
{
	e->state = (uint8_t)((e->state & DIR_BUSY) | s);
}

/* Asks node; 1 when it answered at once (acked), 0 when the ack is due. */
static int
ask(struct dir *d, struct dir_txn *t, uint32_t node, int action, int want)
{
	int had = 0, rc;

	rc = d->ops.inval(d->ops.ctx, node, t->page, action, want, &had,
			  t->data);
	if (rc < 0)
		return rc;
	if (rc == 0)
		return 0;
	t->waiting &= ~(1ull << node);
	if (node == t->src && had && want)
		t->have_data = 1;
	if (!had) {
		/* It lost its copy (the client discarded the page). */
		struct dir_entry *e = &d->e[t->page - d->first];

		if (action == PAGER_INV_FETCH ||
		    action == PAGER_INV_DOWNGRADE) {
			e->copyset &= ~(1ull << node);
			if ((e->state & ~DIR_BUSY) == DIR_EXCL || !e->copyset)
				set_state(e, e->copyset ? DIR_SHARED
							: DIR_INVALID);
		}
	}
	return 1;
}

/*
 * The end of a read whose source answered: 1 done (granted), 0 asked
 * someone else and waits, < 0 error.
 */
static int start(struct dir *d, struct dir_txn *t);

static int
finish(struct dir *d, struct dir_txn *t)
{
	struct dir_entry *e = &d->e[t->page - d->first];
	const struct dir_req *r = t->head;
	uint64_t bit = 1ull << r->node;
	int data;

	if (r->access == PAGER_ACC_READ) {
		if (!t->have_data)
			return start(d, t); /* the source lost it: again */
		if ((e->state & ~DIR_BUSY) == DIR_EXCL)
			set_state(e, DIR_SHARED);
		e->copyset |= bit;
		grant(d, t, PAGER_HOLD_SHARED, PAGER_DATA_PAGE);
		return 1;
	}
	if (e->copyset & bit)
		data = PAGER_DATA_KEEP;
	else if (t->have_data)
		data = PAGER_DATA_PAGE;
	else if ((data = fill(d, t)) < 0)
		return data;
	if (e->version && e->owner != r->node) {
		if (e->transfers < UINT16_MAX)
			e->transfers++;
		if (d->ops.transfer)
			d->ops.transfer(d->ops.ctx, r, e->transfers);
	}
	e->version++;
	e->owner = (uint8_t)r->node;
	e->copyset = bit;
	set_state(e, DIR_EXCL);
	grant(d, t, PAGER_HOLD_EXCLUSIVE, data);
	return 1;
}

/* Runs the head request: 1 done, 0 waits for acks, < 0 error. */
static int
start(struct dir *d, struct dir_txn *t)
{
	struct dir_entry *e = &d->e[t->page - d->first];
	const struct dir_req *r = t->head;
	uint64_t bit = 1ull << r->node, others, left;
	uint32_t x;
	int rc, st;

	fix_view(e, r);
	st = e->state & ~DIR_BUSY;
	t->have_data = 0;
	t->src = NO_NODE;
	if (r->access == PAGER_ACC_READ) {
		if (e->copyset & bit) {
			grant(d, t,
			      st == DIR_EXCL ? PAGER_HOLD_EXCLUSIVE
					     : PAGER_HOLD_SHARED,
			      PAGER_DATA_KEEP);
			return 1;
		}
		if (st == DIR_INVALID) {
			rc = fill(d, t);
			if (rc < 0)
				return rc;
			e->copyset = bit;
			set_state(e, DIR_SHARED);
			grant(d, t, PAGER_HOLD_SHARED, rc);
			return 1;
		}
		if (st == DIR_EXCL)
			x = e->owner;
		else if (e->copyset & (1ull << d->self))
			x = d->self;
		else
			x = (uint32_t)lowest(e->copyset);
		t->src = x;
		t->waiting = 1ull << x;
		rc = ask(d, t, x,
			 st == DIR_EXCL ? PAGER_INV_DOWNGRADE : PAGER_INV_FETCH,
			 1);
		if (rc <= 0)
			return rc;
		return finish(d, t);
	}

	if (st == DIR_EXCL && e->owner == r->node) {
		grant(d, t, PAGER_HOLD_EXCLUSIVE, PAGER_DATA_KEEP);
		return 1;
	}
	others = e->copyset & ~bit;
	if (!(e->copyset & bit) && st != DIR_INVALID && others) {
		if (st == DIR_EXCL)
			t->src = e->owner;
		else if (others & (1ull << d->self))
			t->src = d->self;
		else
			t->src = (uint32_t)lowest(others);
	}
	t->waiting = others;
	for (left = others; left; left &= left - 1) {
		x = (uint32_t)lowest(left);
		rc = ask(d, t, x, PAGER_INV_DROP, x == t->src);
		if (rc < 0)
			return rc;
	}
	/* Every holder but the requester is (being) dropped. */
	e->copyset &= bit | t->waiting;
	if (t->waiting)
		return 0;
	return finish(d, t);
}

/* Runs queued requests of t until one waits; frees t when none is left. */
static int
run(struct dir *d, struct dir_txn *t)
{
	struct dir_req *r;
	int rc;

	while ((r = t->head)) {
		rc = start(d, t);
		if (rc <= 0)
			return rc;
		t->head = r->next;
		if (!t->head)
			t->tail = NULL;
		free(r);
	}
	txn_free(d, t);
	return 0;
}

int
dir_request(struct dir *d, const struct dir_req *r)
{
	struct dir_txn *t;
	struct dir_req *c;
	uint32_t h;

	if (!dir_homes(d, r->page))
		return -ERANGE;
	if (r->node >= d->nodes ||
	    (r->access != PAGER_ACC_READ && r->access != PAGER_ACC_WRITE))
		return -EINVAL;
	c = malloc(sizeof(*c));
	if (!c)
		return -ENOMEM;
	*c = *r;
	c->next = NULL;
	t = txn_find(d, r->page);
	if (t) {
		t->tail->next = c;
		t->tail = c;
		return 0;
	}
	t = malloc(sizeof(*t));
	if (!t) {
		free(c);
		return -ENOMEM;
	}
	memset(t, 0, offsetof(struct dir_txn, data));
	t->page = r->page;
	t->head = t->tail = c;
	h = hash_of(d, r->page);
	t->hnext = d->hash[h];
	d->hash[h] = t;
	d->e[r->page - d->first].state |= DIR_BUSY;
	d->busy++;
	return run(d, t);
}

/* The entry of a homed page nobody holds and no request runs on, for
 * the home to take: 0 with *e, -ERANGE, -EBUSY. */
static int
home_free(struct dir *d, uint64_t page, struct dir_entry **e)
{
	if (!dir_homes(d, page))
		return -ERANGE;
	*e = &d->e[page - d->first];
	/* The state byte holds DIR_BUSY too: a running request is busy. */
	if ((*e)->state != DIR_INVALID || (*e)->copyset)
		return -EBUSY;
	return 0;
}

int
dir_home_copy(struct dir *d, uint64_t page)
{
	struct dir_entry *e;
	int rc = home_free(d, page, &e);

	if (rc < 0)
		return rc;
	e->copyset = 1ull << d->self;
	e->state = DIR_SHARED;
	return 0;
}

int
dir_prefetch(struct dir *d, uint64_t page, uint32_t node)
{
	uint64_t self = 1ull << d->self, bit;
	struct dir_entry *e;
	int was_excl;

	if (!dir_homes(d, page) || node >= d->nodes || node == d->self)
		return -EINVAL;
	e = &d->e[page - d->first];
	bit = 1ull << node;
	/* Busy, nobody's bytes, already there, or another node's: no. */
	if ((e->state & DIR_BUSY) || !(e->copyset & self) || (e->copyset & bit))
		return 0;
	was_excl = e->state == DIR_EXCL;
	if (was_excl && e->owner != d->self)
		return 0;
	e->copyset |= bit;
	e->state = DIR_SHARED;
	return was_excl ? 2 : 1;
}

int
dir_home_claim(struct dir *d, uint64_t page)
{
	struct dir_entry *e;
	int rc = home_free(d, page, &e);

	if (rc < 0)
		return rc;
	/* As an exclusive grant to ourselves would: no transfer. */
	e->version++;
	e->owner = (uint8_t)d->self;
	e->copyset = 1ull << d->self;
	e->state = DIR_EXCL;
	return 0;
}

int
dir_ack(struct dir *d, uint32_t node, uint64_t page, int had,
	const uint8_t *data)
{
	struct dir_entry *e;
	struct dir_txn *t;
	int rc;

	if (!dir_homes(d, page) || node >= d->nodes)
		return -EPROTO;
	t = txn_find(d, page);
	if (!t || !(t->waiting & (1ull << node)))
		return -EPROTO;
	e = &d->e[page - d->first];
	if (node == t->src && had) {
		if (!data)
			return -EINVAL;
		memcpy(t->data, data, PAGER_PAGE_SIZE);
		t->have_data = 1;
	}
	if (!had && t->head->access == PAGER_ACC_READ) {
		e->copyset &= ~(1ull << node);
		if ((e->state & ~DIR_BUSY) == DIR_EXCL || !e->copyset)
			set_state(e, e->copyset ? DIR_SHARED : DIR_INVALID);
	}
	t->waiting &= ~(1ull << node);
	if (t->waiting)
		return 0;
	rc = finish(d, t);
	if (rc <= 0)
		return rc;
	{
		struct dir_req *r = t->head;

		t->head = r->next;
		if (!t->head)
			t->tail = NULL;
		free(r);
	}
	return run(d, t);
}
