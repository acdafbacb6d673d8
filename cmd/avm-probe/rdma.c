/*
 * RDMA through libibverbs: each device with its node GUID and ports.
 * No device at all is the common case (both machines here lack one):
 * then the list is empty and reason says what libibverbs said.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <infiniband/verbs.h>

#include "probe.h"

/* Lanes of an active_width code, per IBTA; 0 when unknown. */
static int
width_lanes(uint8_t w)
{
	switch (w) {
	case 1:
		return 1;
	case 2:
		return 4;
	case 4:
		return 8;
	case 8:
		return 12;
	case 16:
		return 2;
	}
	return 0;
}

/* Data rate of one lane, Gb/s, of an active_speed code; 0 when unknown. */
static double
speed_lane_gbps(uint8_t s)
{
	switch (s) {
	case 1:
		return 2.5; /* SDR */
	case 2:
		return 5; /* DDR */
	case 4:
	case 8:
		return 10; /* QDR, FDR10 */
	case 16:
		return 14; /* FDR */
	case 32:
		return 25; /* EDR */
	case 64:
		return 50; /* HDR */
	case 128:
		return 100; /* NDR */
	}
	return 0;
}

static const char *
link_layer_name(uint8_t l)
{
	switch (l) {
	case IBV_LINK_LAYER_INFINIBAND:
		return "infiniband";
	case IBV_LINK_LAYER_ETHERNET:
		return "ethernet";
	}
	return "unspecified";
}

static void
probe_port(struct ibv_context *ctx, struct rdma_device *d, int num)
{
	struct rdma_port *p = &d->ports[d->nports++];
	struct ibv_port_attr attr;
	union ibv_gid gid;
	const uint8_t *g;
	int r;

	memset(p, 0, sizeof(*p));
	p->num = num;
	memset(&attr, 0, sizeof(attr));
	r = ibv_query_port(ctx, (uint8_t)num, &attr);
	if (r) {
		snprintf(p->state, sizeof(p->state), "unknown");
		probe_debug("rdma: %s port %d: ibv_query_port: %s", d->name,
			    num, strerror(r));
		return;
	}
	snprintf(p->state, sizeof(p->state), "%s",
		 ibv_port_state_str(attr.state));
	snprintf(p->link_layer, sizeof(p->link_layer), "%s",
		 link_layer_name(attr.link_layer));
	/* enum ibv_mtu: 1 is 256 bytes, each step doubles. */
	if (attr.active_mtu >= IBV_MTU_256 && attr.active_mtu <= IBV_MTU_4096)
		p->active_mtu = 128 << attr.active_mtu;
	p->speed_gbps = width_lanes(attr.active_width) *
			speed_lane_gbps(attr.active_speed);
	if (ibv_query_gid(ctx, (uint8_t)num, 0, &gid) == 0) {
		g = gid.raw;
		snprintf(p->gid0, sizeof(p->gid0),
			 "%02x%02x:%02x%02x:%02x%02x:%02x%02x:"
			 "%02x%02x:%02x%02x:%02x%02x:%02x%02x",
			 g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7], g[8],
			 g[9], g[10], g[11], g[12], g[13], g[14], g[15]);
	}
}

static void
probe_device(struct ibv_device *dev, struct rdma_device *d)
{
	struct ibv_device_attr attr;
	struct ibv_context *ctx;
	uint64_t guid;
	int r, i;

	snprintf(d->name, sizeof(d->name), "%s", ibv_get_device_name(dev));
	guid = be64toh(ibv_get_device_guid(dev));
	snprintf(d->node_guid, sizeof(d->node_guid), "%04x:%04x:%04x:%04x",
		 (unsigned)(guid >> 48) & 0xffff,
		 (unsigned)(guid >> 32) & 0xffff,
		 (unsigned)(guid >> 16) & 0xffff, (unsigned)guid & 0xffff);
	ctx = ibv_open_device(dev);
	if (!ctx) {
		snprintf(d->error, sizeof(d->error), "ibv_open_device: %s",
			 strerror(errno));
		return;
	}
	r = ibv_query_device(ctx, &attr);
	if (r) {
		snprintf(d->error, sizeof(d->error), "ibv_query_device: %s",
			 strerror(r));
		ibv_close_device(ctx);
		return;
	}
	d->ports = calloc(attr.phys_port_cnt ? attr.phys_port_cnt : 1,
			  sizeof(*d->ports));
	if (!d->ports) {
		snprintf(d->error, sizeof(d->error), "%s", strerror(ENOMEM));
		ibv_close_device(ctx);
		return;
	}
	for (i = 1; i <= attr.phys_port_cnt; i++)
		probe_port(ctx, d, i);
	ibv_close_device(ctx);
}

void
rdma_probe(struct rdma_info *r)
{
	struct ibv_device **list;
	int n = 0, i;
	size_t j;

	memset(r, 0, sizeof(*r));
	errno = 0;
	list = ibv_get_device_list(&n);
	if (!list) {
		snprintf(r->ibv_error, sizeof(r->ibv_error), "%s",
			 strerror(errno ? errno : ENODEV));
		snprintf(r->reason, sizeof(r->reason),
			 "libibverbs: no RDMA devices (%s)", r->ibv_error);
		probe_debug("rdma: %s", r->reason);
		return;
	}
	if (n > 0)
		r->devices = calloc((size_t)n, sizeof(*r->devices));
	if (n > 0 && !r->devices) {
		snprintf(r->ibv_error, sizeof(r->ibv_error), "%s",
			 strerror(ENOMEM));
		snprintf(r->reason, sizeof(r->reason), "%s", r->ibv_error);
		ibv_free_device_list(list);
		return;
	}
	for (i = 0; i < n; i++)
		probe_device(list[i], &r->devices[r->ndevices++]);
	ibv_free_device_list(list);
	if (n == 0)
		snprintf(r->reason, sizeof(r->reason),
			 "libibverbs: no RDMA devices");
	for (j = 0; j < r->ndevices; j++) {
		for (i = 0; i < (int)r->devices[j].nports; i++) {
			if (strcmp(r->devices[j].ports[i].state,
				   ibv_port_state_str(IBV_PORT_ACTIVE)) == 0)
				r->active_ports++;
		}
	}
	probe_debug("rdma: %zu devices, %d active ports", r->ndevices,
		    r->active_ports);
}

void
rdma_free(struct rdma_info *r)
{
	size_t i;

	for (i = 0; i < r->ndevices; i++)
		free(r->devices[i].ports);
	free(r->devices);
	r->devices = NULL;
	r->ndevices = 0;
}

void
rdma_emit(struct emit *e, const struct rdma_info *r)
{
	size_t i, j;

	emit_map_begin(e);
	emit_kv_list_begin(e, "devices");
	for (i = 0; i < r->ndevices; i++) {
		const struct rdma_device *d = &r->devices[i];

		emit_map_begin(e);
		emit_kv_str(e, "name", d->name);
		emit_kv_str(e, "node_guid", d->node_guid);
		if (d->error[0])
			emit_kv_str(e, "error", d->error);
		emit_kv_list_begin(e, "ports");
		for (j = 0; j < d->nports; j++) {
			const struct rdma_port *p = &d->ports[j];

			emit_map_begin(e);
			emit_kv_int(e, "port", p->num);
			emit_kv_str(e, "state", p->state);
			emit_kv_str(e, "link_layer",
				    p->link_layer[0] ? p->link_layer : NULL);
			if (p->active_mtu)
				emit_kv_int(e, "active_mtu", p->active_mtu);
			else
				emit_kv_null(e, "active_mtu");
			if (p->speed_gbps > 0)
				emit_kv_double(e, "speed_gbps", p->speed_gbps);
			else
				emit_kv_null(e, "speed_gbps");
			emit_kv_str(e, "gid0", p->gid0[0] ? p->gid0 : NULL);
			emit_map_end(e);
		}
		emit_list_end(e);
		emit_map_end(e);
	}
	emit_list_end(e);
	emit_kv_int(e, "active_ports", r->active_ports);
	if (r->reason[0])
		emit_kv_str(e, "reason", r->reason);
	emit_map_end(e);
}
