/*
 * Memory: the totals of /proc/meminfo, each NUMA node with its cpus, its
 * memory and its row of the distance table, and the huge page pools.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "avm/util.h"
#include "probe.h"

#define NODE_SYS "/sys/devices/system/node"
#define HUGE_SYS "/sys/kernel/mm/hugepages"

/*
 * Finds "<key>: <n> kB" in a meminfo-style file (keys may carry a prefix
 * like "Node 0 ").  Returns bytes, or UINT64_MAX when absent.
 */
static uint64_t
meminfo_get(const char *text, const char *key)
{
	size_t klen = strlen(key);
	const char *p = text, *line;
	unsigned long long kb;

	while ((line = p) && *line) {
		const char *nl = strchr(line, '\n');
		const char *k = line;

		p = nl ? nl + 1 : line + strlen(line);
		if (strncmp(k, "Node ", 5) == 0) {
			k += 5;
			while (isdigit((unsigned char)*k))
				k++;
			while (*k == ' ')
				k++;
		}
		if (strncmp(k, key, klen) != 0 || k[klen] != ':')
			continue;
		if (sscanf(k + klen + 1, "%llu", &kb) != 1)
			return UINT64_MAX;
		return (uint64_t)kb * 1024;
	}
	return UINT64_MAX;
}

static void
probe_meminfo(struct mem_info *m)
{
	static char text[16384];

	if (read_file_str("/proc/meminfo", text, sizeof(text)) < 0) {
		snprintf(m->reason, sizeof(m->reason),
			 "read '/proc/meminfo': %s", strerror(errno));
		probe_debug("memory: %s", m->reason);
		return;
	}
	m->total_bytes = meminfo_get(text, "MemTotal");
	m->free_bytes = meminfo_get(text, "MemFree");
	m->available_bytes = meminfo_get(text, "MemAvailable");
	if (m->total_bytes == UINT64_MAX || m->free_bytes == UINT64_MAX) {
		snprintf(m->reason, sizeof(m->reason),
			 "'/proc/meminfo' lacks MemTotal or MemFree");
		probe_debug("memory: %s", m->reason);
		return;
	}
	/* MemAvailable came with Linux 3.14; before, free is the bound. */
	if (m->available_bytes == UINT64_MAX)
		m->available_bytes = m->free_bytes;
	m->have_meminfo = 1;
}

static int
parse_ints(const char *s, int **out, size_t *n)
{
	size_t cap = 0;
	int *v = NULL, *nv;
	char *end;
	long x;

	*n = 0;
	for (;;) {
		while (isspace((unsigned char)*s))
			s++;
		if (!*s)
			break;
		x = strtol(s, &end, 10);
		if (end == s)
			break;
		s = end;
		if (*n == cap) {
			cap = cap ? 2 * cap : 8;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				free(v);
				return -1;
			}
			v = nv;
		}
		v[(*n)++] = (int)x;
	}
	*out = v;
	return 0;
}

static int
node_cmp(const void *a, const void *b)
{
	const struct numa_node *x = a, *y = b;

	return (x->id > y->id) - (x->id < y->id);
}

static void
probe_node(struct numa_node *nd)
{
	static char text[8192];
	char path[128], row[4096];

	snprintf(path, sizeof(path), NODE_SYS "/node%d/cpulist", nd->id);
	if (read_file_str(path, nd->cpulist, sizeof(nd->cpulist)) < 0) {
		probe_debug("memory: read '%s': %s", path, strerror(errno));
		nd->cpulist[0] = '\0';
	}
	nd->total_bytes = nd->free_bytes = UINT64_MAX;
	snprintf(path, sizeof(path), NODE_SYS "/node%d/meminfo", nd->id);
	if (read_file_str(path, text, sizeof(text)) >= 0) {
		nd->total_bytes = meminfo_get(text, "MemTotal");
		nd->free_bytes = meminfo_get(text, "MemFree");
	} else {
		probe_debug("memory: read '%s': %s", path, strerror(errno));
	}
	snprintf(path, sizeof(path), NODE_SYS "/node%d/distance", nd->id);
	if (read_file_str(path, row, sizeof(row)) < 0 ||
	    parse_ints(row, &nd->distance, &nd->ndistance) < 0) {
		probe_debug("memory: read '%s': %s", path, strerror(errno));
		nd->distance = NULL;
		nd->ndistance = 0;
	}
}

static void
probe_nodes(struct mem_info *m)
{
	struct numa_node *v;
	struct dirent *d;
	size_t cap = 0;
	char *end;
	DIR *dir;
	long id;

	dir = opendir(NODE_SYS);
	if (!dir) {
		/* A kernel without CONFIG_NUMA: one node, all memory. */
		probe_debug("memory: open '" NODE_SYS "': %s", strerror(errno));
		return;
	}
	while ((d = readdir(dir))) {
		if (strncmp(d->d_name, "node", 4) != 0 ||
		    !isdigit((unsigned char)d->d_name[4]))
			continue;
		id = strtol(d->d_name + 4, &end, 10);
		if (*end || id < 0 || id > 1 << 20)
			continue;
		if (m->nnodes == cap) {
			cap = cap ? 2 * cap : 4;
			v = realloc(m->nodes, cap * sizeof(*v));
			if (!v)
				break;
			m->nodes = v;
		}
		memset(&m->nodes[m->nnodes], 0, sizeof(m->nodes[0]));
		m->nodes[m->nnodes++].id = (int)id;
	}
	closedir(dir);
	if (m->nnodes)
		qsort(m->nodes, m->nnodes, sizeof(m->nodes[0]), node_cmp);
	for (size_t i = 0; i < m->nnodes; i++)
		probe_node(&m->nodes[i]);
}

static int
huge_cmp(const void *a, const void *b)
{
	const struct hugepage_pool *x = a, *y = b;

	return (x->page_bytes > y->page_bytes) -
	       (x->page_bytes < y->page_bytes);
}

static void
probe_hugepages(struct mem_info *m)
{
	struct hugepage_pool *v, *h;
	unsigned long long kb;
	struct dirent *d;
	char path[320], tail[8];
	size_t cap = 0;
	DIR *dir;

	dir = opendir(HUGE_SYS);
	if (!dir) {
		probe_debug("memory: open '" HUGE_SYS "': %s", strerror(errno));
		return;
	}
	while ((d = readdir(dir))) {
		if (sscanf(d->d_name, "hugepages-%llu%7s", &kb, tail) != 2 ||
		    strcmp(tail, "kB") != 0)
			continue;
		if (m->nhugepages == cap) {
			cap = cap ? 2 * cap : 4;
			v = realloc(m->hugepages, cap * sizeof(*v));
			if (!v)
				break;
			m->hugepages = v;
		}
		h = &m->hugepages[m->nhugepages++];
		h->page_bytes = (uint64_t)kb * 1024;
		snprintf(path, sizeof(path), HUGE_SYS "/%s/nr_hugepages",
			 d->d_name);
		if (read_file_i64(path, &h->total) < 0)
			h->total = -1;
		snprintf(path, sizeof(path), HUGE_SYS "/%s/free_hugepages",
			 d->d_name);
		if (read_file_i64(path, &h->free) < 0)
			h->free = -1;
	}
	closedir(dir);
	if (m->nhugepages)
		qsort(m->hugepages, m->nhugepages, sizeof(m->hugepages[0]),
		      huge_cmp);
}

void
mem_probe(struct mem_info *m)
{
	memset(m, 0, sizeof(*m));
	probe_meminfo(m);
	probe_nodes(m);
	probe_hugepages(m);
	probe_debug("memory: %zu NUMA nodes, %zu huge page sizes", m->nnodes,
		    m->nhugepages);
}

void
mem_free(struct mem_info *m)
{
	size_t i;

	for (i = 0; i < m->nnodes; i++)
		free(m->nodes[i].distance);
	free(m->nodes);
	free(m->hugepages);
	m->nodes = NULL;
	m->hugepages = NULL;
	m->nnodes = m->nhugepages = 0;
}

static void
emit_bytes(struct emit *e, const char *key, uint64_t v)
{
	if (v == UINT64_MAX)
		emit_kv_null(e, key);
	else
		emit_kv_uint(e, key, v);
}

static void
emit_count(struct emit *e, const char *key, int64_t v)
{
	if (v < 0)
		emit_kv_null(e, key);
	else
		emit_kv_int(e, key, v);
}

void
mem_emit(struct emit *e, const struct mem_info *m)
{
	size_t i, j;

	emit_map_begin(e);
	if (m->have_meminfo) {
		emit_kv_uint(e, "total_bytes", m->total_bytes);
		emit_kv_uint(e, "free_bytes", m->free_bytes);
		emit_kv_uint(e, "available_bytes", m->available_bytes);
	} else {
		emit_kv_null(e, "total_bytes");
		emit_kv_null(e, "free_bytes");
		emit_kv_null(e, "available_bytes");
		emit_kv_str(e, "reason", m->reason);
	}
	emit_kv_list_begin(e, "numa_nodes");
	for (i = 0; i < m->nnodes; i++) {
		const struct numa_node *nd = &m->nodes[i];

		emit_map_begin(e);
		emit_kv_int(e, "node", nd->id);
		emit_kv_str(e, "cpulist", nd->cpulist);
		emit_bytes(e, "total_bytes", nd->total_bytes);
		emit_bytes(e, "free_bytes", nd->free_bytes);
		emit_kv_list_begin(e, "distance");
		for (j = 0; j < nd->ndistance; j++)
			emit_int(e, nd->distance[j]);
		emit_list_end(e);
		emit_map_end(e);
	}
	emit_list_end(e);
	emit_kv_list_begin(e, "hugepages");
	for (i = 0; i < m->nhugepages; i++) {
		const struct hugepage_pool *h = &m->hugepages[i];
		char size[32];

		emit_map_begin(e);
		emit_kv_str(e, "size",
			    size_format(h->page_bytes, size, sizeof(size)));
		emit_kv_uint(e, "page_bytes", h->page_bytes);
		emit_count(e, "total", h->total);
		emit_count(e, "free", h->free);
		emit_map_end(e);
	}
	emit_list_end(e);
	emit_map_end(e);
}
