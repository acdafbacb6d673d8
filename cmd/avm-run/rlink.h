/*
 * The run links' insides, shared by links.c (opening, heartbeats,
 * closing) and linkmsg.c (what each message means, sent and received);
 * nothing else reaches them.
 */
#ifndef AVM_RUN_RLINK_H
#define AVM_RUN_RLINK_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "avm/auth.h"
#include "avm/wire.h"

struct vm;
struct link;

/* One peer's link. */
struct rlink {
	struct vm *vm;
	uint32_t node;	/* the peer's */
	struct link *l; /* NULL until linked (lib/link.c) */
	pthread_t thread;
	int started;
	_Atomic uint64_t close_ns; /* 0, or give up reading after this */
};

/* A vCPU of ours waiting for RUN_IO_DONE. */
struct io_wait {
	uint32_t seq;
	int done, err;
	uint32_t len;
	uint8_t data[WIRE_RUN_IO_DATA_MAX];
};

struct links {
	struct vm *vm;
	struct rlink *link; /* [nnodes]; link[node] is unused */
	uint8_t key[AUTH_KEY_LEN];
	pthread_mutex_t lock; /* wait[], control */
	pthread_cond_t cond;
	struct io_wait *wait; /* [nvcpus] */
	uint64_t control_id;
	unsigned control_pending;
	int control_err;
	_Atomic uint64_t ping;
};

/* Sends one frame on l.  Returns 0, or a negative errno (-ENOTCONN: not
 * linked). */
int rlink_send(struct rlink *l, uint16_t type, uint16_t flags, uint64_t id,
	       const void *p, uint32_t len);

/* The receive thread of one link (arg: its struct rlink); handles every
 * frame until the link closes or its close_ns passes. */
void *link_thread(void *arg);

#endif
