/*
 * NICs: every entry of /sys/class/net (also those without an address),
 * with the addresses getifaddrs(3) gives, and the address a cluster file
 * should name for this host.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "avm/util.h"
#include "probe.h"

#define NET_SYS "/sys/class/net"

static int
prefix_len(const struct sockaddr *mask)
{
	const unsigned char *b;
	size_t n, i;
	int bits = 0;

	if (!mask)
		return -1;
	if (mask->sa_family == AF_INET) {
		b = (const unsigned char *)&((const struct sockaddr_in *)mask)
			    ->sin_addr;
		n = 4;
	} else if (mask->sa_family == AF_INET6) {
		b = (const unsigned char *)&((const struct sockaddr_in6 *)mask)
			    ->sin6_addr;
		n = 16;
	} else {
		return -1;
	}
	for (i = 0; i < n; i++)
		bits += __builtin_popcount(b[i]);
	return bits;
}

/* "addr/prefix" of an AF_INET or AF_INET6 entry; -1 for other families. */
static int
format_addr(const struct ifaddrs *ifa, char *buf, size_t len)
{
	const struct sockaddr *sa = ifa->ifa_addr;
	char text[INET6_ADDRSTRLEN];
	const void *a;
	int plen;

	if (!sa)
		return -1;
	if (sa->sa_family == AF_INET)
		a = &((const struct sockaddr_in *)sa)->sin_addr;
	else if (sa->sa_family == AF_INET6)
		a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	else
		return -1;
	if (!inet_ntop(sa->sa_family, a, text, sizeof(text)))
		return -1;
	plen = prefix_len(ifa->ifa_netmask);
	if (plen < 0)
		snprintf(buf, len, "%s", text);
	else
		snprintf(buf, len, "%s/%d", text, plen);
	return 0;
}

/* Whether a getifaddrs name ("eth0", or the label "eth0:1") is nic's. */
static int
name_matches(const char *ifa_name, const char *nic)
{
	size_t n = strlen(nic);

	return strncmp(ifa_name, nic, n) == 0 &&
	       (ifa_name[n] == '\0' || ifa_name[n] == ':');
}

static int
nic_add_address(struct nic *c, const char *text)
{
	char **v, *s;

	s = strdup(text);
	if (!s)
		return -1;
	v = realloc(c->addresses, (c->naddresses + 1) * sizeof(*v));
	if (!v) {
		free(s);
		return -1;
	}
	c->addresses = v;
	c->addresses[c->naddresses++] = s;
	return 0;
}

static void
probe_nic(struct nic *c)
{
	char path[128];
	int64_t v;

	c->mtu = c->speed_mbps = -1;
	snprintf(path, sizeof(path), NET_SYS "/%s/ifindex", c->name);
	if (read_file_i64(path, &v) == 0)
		c->ifindex = (int)v;
	snprintf(path, sizeof(path), NET_SYS "/%s/operstate", c->name);
	if (read_file_str(path, c->state, sizeof(c->state)) < 0)
		c->state[0] = '\0';
	snprintf(path, sizeof(path), NET_SYS "/%s/mtu", c->name);
	if (read_file_i64(path, &v) == 0)
		c->mtu = (long)v;
	/*
	 * speed is EINVAL for links that are down or have no speed, -1 or
	 * (unsigned)-1 for "unknown" on some drivers.
	 */
	snprintf(path, sizeof(path), NET_SYS "/%s/speed", c->name);
	if (read_file_i64(path, &v) == 0 && v > 0 && v < UINT32_MAX)
		c->speed_mbps = (long)v;
	snprintf(path, sizeof(path), NET_SYS "/%s/address", c->name);
	if (read_file_str(path, c->mac, sizeof(c->mac)) < 0)
		c->mac[0] = '\0';
}

static int
nic_cmp(const void *a, const void *b)
{
	const struct nic *x = a, *y = b;

	if (x->ifindex != y->ifindex)
		return (x->ifindex > y->ifindex) - (x->ifindex < y->ifindex);
	return strcmp(x->name, y->name);
}

static void
list_nics(struct net_info *n)
{
	struct nic *v;
	struct dirent *d;
	size_t cap = 0;
	DIR *dir;

	dir = opendir(NET_SYS);
	if (!dir) {
		snprintf(n->reason, sizeof(n->reason), "open '%s': %s", NET_SYS,
			 strerror(errno));
		probe_debug("nics: %s", n->reason);
		return;
	}
	while ((d = readdir(dir))) {
		if (d->d_name[0] == '.' || strlen(d->d_name) >= IF_NAMESIZE)
			continue;
		if (n->nnics == cap) {
			cap = cap ? 2 * cap : 8;
			v = realloc(n->nics, cap * sizeof(*v));
			if (!v)
				break;
			n->nics = v;
		}
		memset(&n->nics[n->nnics], 0, sizeof(n->nics[0]));
		snprintf(n->nics[n->nnics].name, sizeof(n->nics[0].name), "%s",
			 d->d_name);
		probe_nic(&n->nics[n->nnics++]);
	}
	closedir(dir);
	if (n->nnics)
		qsort(n->nics, n->nnics, sizeof(n->nics[0]), nic_cmp);
}

void
net_probe(struct net_info *n)
{
	struct ifaddrs *ifs, *ifa;
	char text[INET6_ADDRSTRLEN + 16];
	size_t i;

	memset(n, 0, sizeof(*n));
	list_nics(n);
	if (getifaddrs(&ifs) < 0) {
		snprintf(n->reason, sizeof(n->reason), "getifaddrs: %s",
			 strerror(errno));
		probe_debug("nics: %s", n->reason);
		ifs = NULL;
	}
	for (ifa = ifs; ifa; ifa = ifa->ifa_next) {
		if (format_addr(ifa, text, sizeof(text)) < 0)
			continue;
		for (i = 0; i < n->nnics; i++) {
			if (name_matches(ifa->ifa_name, n->nics[i].name))
				nic_add_address(&n->nics[i], text);
		}
		if (!n->address[0] && ifa->ifa_addr->sa_family == AF_INET &&
		    (ifa->ifa_flags & IFF_UP) &&
		    !(ifa->ifa_flags & IFF_LOOPBACK)) {
			inet_ntop(AF_INET,
				  &((struct sockaddr_in *)ifa->ifa_addr)
					   ->sin_addr,
				  n->address, sizeof(n->address));
		}
	}
	if (ifs)
		freeifaddrs(ifs);
	if (!n->address[0])
		snprintf(n->address, sizeof(n->address), "127.0.0.1");
	probe_debug("nics: %zu, address %s", n->nnics, n->address);
}

void
net_free(struct net_info *n)
{
	size_t i, j;

	for (i = 0; i < n->nnics; i++) {
		for (j = 0; j < n->nics[i].naddresses; j++)
			free(n->nics[i].addresses[j]);
		free(n->nics[i].addresses);
	}
	free(n->nics);
	n->nics = NULL;
	n->nnics = 0;
}

void
net_emit(struct emit *e, const struct net_info *n)
{
	size_t i, j;

	emit_list_begin(e);
	for (i = 0; i < n->nnics; i++) {
		const struct nic *c = &n->nics[i];

		emit_map_begin(e);
		emit_kv_str(e, "name", c->name);
		emit_kv_str(e, "state", c->state[0] ? c->state : NULL);
		if (c->mtu < 0)
			emit_kv_null(e, "mtu");
		else
			emit_kv_int(e, "mtu", c->mtu);
		if (c->speed_mbps < 0)
			emit_kv_null(e, "speed_mbps");
		else
			emit_kv_int(e, "speed_mbps", c->speed_mbps);
		emit_kv_str(e, "mac", c->mac[0] ? c->mac : NULL);
		emit_kv_list_begin(e, "addresses");
		for (j = 0; j < c->naddresses; j++)
			emit_str(e, c->addresses[j]);
		emit_list_end(e);
		emit_map_end(e);
	}
	emit_list_end(e);
}
