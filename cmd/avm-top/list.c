/*
 * With no VM named: one line per VM that runs on this host, that is a
 * folder of the run directory with a stats file of a live process.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "avm/config.h"
#include "avm/emit.h"
#include "avm/util.h"
#include "top.h"

struct vm_entry {
	char name[64];
	struct sample *s;
};

struct vm_list {
	struct vm_entry *vm;
	size_t n;
};

static int
by_name(const void *a, const void *b)
{
	return strcmp(((const struct vm_entry *)a)->name,
		      ((const struct vm_entry *)b)->name);
}

static const struct sample *
find_prev(const struct vm_list *prev, const char *name)
{
	for (size_t i = 0; prev && i < prev->n; i++)
		if (!strcmp(prev->vm[i].name, name))
			return prev->vm[i].s;
	return NULL;
}

struct vm_list *
list_read(const struct vm_list *prev, char *why, size_t whylen)
{
	char rundir[PATH_MAX];
	struct vm_list *l = calloc(1, sizeof(*l));
	struct dirent *de;
	DIR *d;

	if (!l)
		return NULL;
	if (avm_rundir(rundir, sizeof(rundir)) < 0 || !(d = opendir(rundir)))
		return l; /* no run directory: no VM */
	while ((de = readdir(d))) {
		struct sample *s;
		struct vm_entry *grown;
		int rc;

		if (de->d_name[0] == '.' || !config_vm_name_ok(de->d_name) ||
		    strlen(de->d_name) >= sizeof(l->vm[0].name))
			continue;
		s = malloc(sizeof(*s));
		if (!s)
			break;
		rc = sample_read(de->d_name, s, why, whylen);
		if (rc == 0 && find_prev(prev, de->d_name) &&
		    sample_carry(s, find_prev(prev, de->d_name)) < 0) {
			sample_free(s);
			rc = -ENOMEM;
		}
		if (rc < 0) {
			/* A bad file of one VM does not hide the others. */
			free(s);
			continue;
		}
		grown = realloc(l->vm, (l->n + 1) * sizeof(*l->vm));
		if (!grown) {
			sample_free(s);
			free(s);
			break;
		}
		l->vm = grown;
		snprintf(l->vm[l->n].name, sizeof(l->vm[l->n].name), "%s",
			 de->d_name);
		l->vm[l->n++].s = s;
	}
	closedir(d);
	qsort(l->vm, l->n, sizeof(*l->vm), by_name);
	return l;
}

void
list_free(struct vm_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++) {
		sample_free(l->vm[i].s);
		free(l->vm[i].s);
	}
	free(l->vm);
	free(l);
}

/* The whole-VM numbers of entry i, as a frame without its tables. */
static int
summary(const struct vm_list *cur, size_t i, struct frame *f)
{
	static const struct view v = { .hot_max = 0 };

	return frame_build(f, cur->vm[i].name, cur->vm[i].s, &v);
}

void
list_text(const struct vm_list *cur, put_fn put, void *ctx)
{
	char line[256];

	snprintf(line, sizeof(line), "%-20s %-9s %7s %6s %9s %11s %9s %9s",
		 "VM", "STATE", "NODES", "VCPUS", "MEMORY", "UPTIME", "EXITS/S",
		 "FAULTS/S");
	put(ctx, line);
	for (size_t i = 0; i < cur->n; i++) {
		struct frame f;
		char mem[32], up[32], nodes[24], ex[16], fa[16];

		if (summary(cur, i, &f) < 0)
			continue;
		size_format(f.mem_bytes, mem, sizeof(mem));
		fmt_uptime(f.uptime, up, sizeof(up));
		snprintf(nodes, sizeof(nodes), "%u/%u", f.nodes_seen, f.nodes);
		snprintf(ex, sizeof(ex), "%.0f", f.exits_s);
		snprintf(fa, sizeof(fa), "%.0f", f.faults_s);
		snprintf(line, sizeof(line),
			 "%-20s %-9s %7s %6u %9s %11s %9s %9s", f.vm, f.state,
			 nodes, f.vcpus_total, mem, up, ex, fa);
		put(ctx, line);
		frame_free(&f);
	}
	if (!cur->n)
		put(ctx, "(no VM runs on this host)");
}

int
list_json(FILE *out, const struct vm_list *cur)
{
	struct emit e;

	emit_init(&e, out, EMIT_JSON, 0);
	emit_map_begin(&e);
	emit_key(&e, "vms");
	emit_list_begin(&e);
	for (size_t i = 0; i < cur->n; i++) {
		struct frame f;

		if (summary(cur, i, &f) < 0)
			continue;
		emit_map_begin(&e);
		emit_key(&e, "vm");
		emit_str(&e, f.vm);
		emit_key(&e, "state");
		emit_str(&e, f.state);
		emit_key(&e, "nodes_total");
		emit_uint(&e, f.nodes);
		emit_key(&e, "nodes_seen");
		emit_uint(&e, f.nodes_seen);
		emit_key(&e, "vcpus_total");
		emit_uint(&e, f.vcpus_total);
		emit_key(&e, "memory_bytes");
		emit_uint(&e, f.mem_bytes);
		emit_key(&e, "uptime_s");
		if (f.uptime >= 0)
			emit_double(&e, f.uptime);
		else
			emit_str(&e, NULL);
		emit_key(&e, "exits_per_s");
		emit_double(&e, f.exits_s);
		emit_key(&e, "faults_per_s");
		emit_double(&e, f.faults_s);
		emit_map_end(&e);
		frame_free(&f);
	}
	emit_list_end(&e);
	emit_map_end(&e);
	return emit_finish(&e); /* the newline and the flush too */
}
