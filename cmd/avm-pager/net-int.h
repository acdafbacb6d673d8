/*
 * Inside the net module (net.c: set-up, ticks; conn.c: connections in
 * the loop): what the two files share and nobody else uses.
 */
#ifndef AVM_PAGER_NET_INT_H
#define AVM_PAGER_NET_INT_H

#include "net.h"

struct conn *conn_new(struct net *n, struct link *l, enum conn_kind kind,
		      uint32_t node, const char *addr);
void conn_epoll(struct conn *c, int op);
/* EPOLLIN and EPOLLOUT as the link's queue wants them now. */
void conn_sync(struct conn *c);
/* Counts the link's traffic since we last looked into the stats file. */
void conn_account(struct conn *c);
const char *kind_name(enum conn_kind k);
/* A frame from the client or a tool; -1 when c was closed and freed. */
int client_frame(struct conn *c, const struct wire_hdr *h, const uint8_t *p);

#endif
