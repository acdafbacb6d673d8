/*
 * CPUs: how many, which model, the topology sysfs gives, the flags that
 * matter to a VMM spread over hosts, and the TSC rate.
 */
#include <ctype.h>
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "avm/util.h"
#include "probe.h"

#define CPU_SYS "/sys/devices/system/cpu"

/*
 * Calls fn for each cpu of a list like "0-3,8,10-11".  Returns the number
 * of cpus, or -1 when the list does not parse.
 */
static long
cpulist_walk(const char *list, void (*fn)(long cpu, void *arg), void *arg)
{
	const char *p = list;
	long count = 0, a, b, i;
	char *end;

	while (*p) {
		if (!isdigit((unsigned char)*p))
			return -1;
		a = strtol(p, &end, 10);
		b = a;
		p = end;
		if (*p == '-') {
			if (!isdigit((unsigned char)p[1]))
				return -1;
			b = strtol(p + 1, &end, 10);
			p = end;
		}
		if (b < a)
			return -1;
		for (i = a; i <= b && fn; i++)
			fn(i, arg);
		count += b - a + 1;
		if (*p == ',')
			p++;
		else if (*p && !isspace((unsigned char)*p))
			return -1;
		else if (*p)
			break;
	}
	return count;
}

long
cpulist_count(const char *list)
{
	return cpulist_walk(list, NULL, NULL);
}

struct topo {
	long *pkgs, *cores; /* cores: pkg << 32 | die << 16 | core */
	size_t npkgs, ncores, cap;
	int threads;
	int failed;
};

static int
topo_add(long **set, size_t *n, long v)
{
	size_t i;

	for (i = 0; i < *n; i++) {
		if ((*set)[i] == v)
			return 0;
	}
	(*set)[(*n)++] = v;
	return 0;
}

static void
topo_cpu(long cpu, void *arg)
{
	struct topo *t = arg;
	int64_t pkg, die = 0, core;
	char path[128];

	if (t->failed || (size_t)t->threads >= t->cap)
		return;
	snprintf(path, sizeof(path), CPU_SYS "/cpu%ld/topology/%s", cpu,
		 "physical_package_id");
	if (read_file_i64(path, &pkg) < 0) {
		probe_debug("cpu: read '%s': %s", path, strerror(errno));
		t->failed = 1;
		return;
	}
	snprintf(path, sizeof(path), CPU_SYS "/cpu%ld/topology/%s", cpu,
		 "core_id");
	if (read_file_i64(path, &core) < 0) {
		probe_debug("cpu: read '%s': %s", path, strerror(errno));
		t->failed = 1;
		return;
	}
	/* die_id is absent before Linux 5.3: one die a package then. */
	snprintf(path, sizeof(path), CPU_SYS "/cpu%ld/topology/%s", cpu,
		 "die_id");
	if (read_file_i64(path, &die) < 0)
		die = 0;
	topo_add(&t->pkgs, &t->npkgs, (long)pkg);
	topo_add(&t->cores, &t->ncores,
		 (long)(((uint64_t)pkg << 32) |
			((uint64_t)(die & 0xffff) << 16) |
			(uint64_t)(core & 0xffff)));
	t->threads++;
}

static void
probe_topology(struct cpu_info *c)
{
	struct topo t;
	long n;

	memset(&t, 0, sizeof(t));
	n = cpulist_count(c->online_list);
	if (n <= 0)
		return;
	t.cap = (size_t)n;
	t.pkgs = calloc(t.cap, sizeof(*t.pkgs));
	t.cores = calloc(t.cap, sizeof(*t.cores));
	if (t.pkgs && t.cores) {
		cpulist_walk(c->online_list, topo_cpu, &t);
		if (!t.failed) {
			c->sockets = (int)t.npkgs;
			c->cores = (int)t.ncores;
			c->threads = t.threads;
		}
	}
	free(t.pkgs);
	free(t.cores);
}

static void
set_flags(struct cpu_info *c, char *list)
{
	static const struct {
		const char *name;
		size_t off;
	} flags[] = {
		{ "vmx", offsetof(struct cpu_info, vmx) },
		{ "svm", offsetof(struct cpu_info, svm) },
		{ "hypervisor", offsetof(struct cpu_info, hypervisor) },
		{ "x2apic", offsetof(struct cpu_info, x2apic) },
		{ "constant_tsc", offsetof(struct cpu_info, constant_tsc) },
		{ "nonstop_tsc", offsetof(struct cpu_info, nonstop_tsc) },
		{ "tsc_deadline_timer",
		  offsetof(struct cpu_info, tsc_deadline_timer) },
		{ "cx16", offsetof(struct cpu_info, cx16) },
	};
	char *save = NULL, *tok;
	size_t i;

	for (tok = strtok_r(list, " \t", &save); tok;
	     tok = strtok_r(NULL, " \t", &save)) {
		for (i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
			if (strcmp(tok, flags[i].name) == 0)
				*(int *)((char *)c + flags[i].off) = 1;
		}
	}
}

static void
copy_value(char *dst, size_t len, const char *v)
{
	snprintf(dst, len, "%s", v);
}

/*
 * The first processor's block of /proc/cpuinfo.  A TSC rate is taken
 * from a "tsc..." field given in MHz or kHz, which some kernels and
 * architectures print; x86 Linux does not, so there KVM is the source.
 */
static void
probe_cpuinfo(struct cpu_info *c)
{
	char *line = NULL, *colon, *key, *val, *end;
	size_t cap = 0, klen;
	int seen = 0;
	FILE *f;

	f = fopen("/proc/cpuinfo", "re");
	if (!f) {
		probe_debug("cpu: open '/proc/cpuinfo': %s", strerror(errno));
		return;
	}
	while (getline(&line, &cap, f) > 0) {
		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '\0') {
			if (seen)
				break;
			continue;
		}
		colon = strchr(line, ':');
		if (!colon)
			continue;
		seen = 1;
		key = line;
		klen = (size_t)(colon - line);
		while (klen && isspace((unsigned char)key[klen - 1]))
			klen--;
		key[klen] = '\0';
		val = colon + 1;
		while (isspace((unsigned char)*val))
			val++;
		if (strcmp(key, "vendor_id") == 0)
			copy_value(c->vendor, sizeof(c->vendor), val);
		else if (strcmp(key, "model name") == 0)
			copy_value(c->model_name, sizeof(c->model_name), val);
		else if (strcmp(key, "cpu family") == 0)
			c->family = atoi(val);
		else if (strcmp(key, "model") == 0)
			c->model = atoi(val);
		else if (strcmp(key, "stepping") == 0)
			c->stepping = atoi(val);
		else if (strcmp(key, "flags") == 0)
			set_flags(c, val);
		else if (strncasecmp(key, "tsc", 3) == 0 && c->tsc_khz < 0) {
			double v = strtod(val, &end);

			if (end == val || v <= 0)
				continue;
			if (strcasestr(key, "mhz") || strcasestr(end, "mhz"))
				c->tsc_khz = (long)(v * 1000 + 0.5);
			else if (strcasestr(key, "khz") ||
				 strcasestr(end, "khz"))
				c->tsc_khz = (long)(v + 0.5);
			if (c->tsc_khz > 0)
				c->tsc_source = "cpuinfo";
		}
	}
	free(line);
	fclose(f);
}

void
cpu_probe(struct cpu_info *c, const struct kvm_info *k)
{
	cpu_set_t set;

	memset(c, 0, sizeof(*c));
	c->family = c->model = c->stepping = -1;
	c->tsc_khz = -1;
	c->online = sysconf(_SC_NPROCESSORS_ONLN);
	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		c->usable = CPU_COUNT(&set);
	else
		c->usable = c->online;
	if (read_file_str(CPU_SYS "/online", c->online_list,
			  sizeof(c->online_list)) < 0) {
		probe_debug("cpu: read '" CPU_SYS "/online': %s",
			    strerror(errno));
		c->online_list[0] = '\0';
	}
	probe_topology(c);
	if (k && k->tsc_khz > 0) {
		c->tsc_khz = k->tsc_khz;
		c->tsc_source = "kvm";
	}
	probe_cpuinfo(c);
	probe_debug("cpu: %ld online, %ld usable, %d sockets, %d cores",
		    c->online, c->usable, c->sockets, c->cores);
}

static void
emit_opt_int(struct emit *e, const char *key, long v, long unknown)
{
	if (v == unknown)
		emit_kv_null(e, key);
	else
		emit_kv_int(e, key, v);
}

static void
emit_opt_str(struct emit *e, const char *key, const char *s)
{
	emit_kv_str(e, key, s && *s ? s : NULL);
}

void
cpu_emit(struct emit *e, const struct cpu_info *c)
{
	emit_map_begin(e);
	emit_kv_int(e, "online", c->online);
	emit_kv_int(e, "usable", c->usable);
	emit_opt_str(e, "online_list", c->online_list);
	emit_opt_str(e, "vendor", c->vendor);
	emit_opt_str(e, "model_name", c->model_name);
	emit_opt_int(e, "family", c->family, -1);
	emit_opt_int(e, "model", c->model, -1);
	emit_opt_int(e, "stepping", c->stepping, -1);
	emit_opt_int(e, "sockets", c->sockets, 0);
	emit_opt_int(e, "cores", c->cores, 0);
	emit_opt_int(e, "threads", c->threads, 0);
	emit_kv_map_begin(e, "flags");
	emit_kv_bool(e, "vmx", c->vmx);
	emit_kv_bool(e, "svm", c->svm);
	emit_kv_bool(e, "hypervisor", c->hypervisor);
	emit_kv_bool(e, "x2apic", c->x2apic);
	emit_kv_bool(e, "constant_tsc", c->constant_tsc);
	emit_kv_bool(e, "nonstop_tsc", c->nonstop_tsc);
	emit_kv_bool(e, "tsc_deadline_timer", c->tsc_deadline_timer);
	emit_kv_bool(e, "cx16", c->cx16);
	emit_map_end(e);
	emit_opt_int(e, "tsc_khz", c->tsc_khz, -1);
	emit_opt_str(e, "tsc_source", c->tsc_source);
	emit_map_end(e);
}
