/*
 * The fabric map: its distance rule, its writer and its strict reader;
 * see include/avm/fabricmap.h and avm.7 (FABRIC MAP).
 *
 * The reader makes three passes over libyaml's events (avm/yreader.h):
 * the form of the stream, then the version alone (the version rule: a
 * file of another version is refused as that, before its keys are
 * judged), then the document.  Matrices are read whatever 'nodes' says
 * and their shape is checked against it once the mapping has ended, so
 * keys may come in any order; the rules of each entry (the diagonal, the
 * range) depend only on where it is and are checked as it is read, by
 * the same function fabric_map_check() uses.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "avm/fabricmap.h"
#include "avm/util.h"
#include "avm/yreader.h"

#define STR_MAX 255 /* bytes in a key or value: names and integers */
#define DEPTH_MAX 8 /* deep enough to say "expected an integer" */
#define PATH_LEN 64 /* "bandwidth_bytes_per_s[255][255]" */

/* --- the matrices and their entries -------------------------------------*/

enum mat {
	MAT_RTT,
	MAT_BW,
	MAT_DIST,
	MAT_COUNT,
};

static const char *const mat_key[MAT_COUNT] = {
	"rtt_median_ns",
	"bandwidth_bytes_per_s",
	"distance",
};

/* The comment the writer puts after each matrix's key. */
static const char *const mat_note[MAT_COUNT] = {
	"row i: measured from node i to node j (0 on the diagonal)",
	"the same shape, 0 on the diagonal",
	"the ACPI SLIT: 10 on the diagonal, 11..254 elsewhere",
};

/*
 * Whether v may stand at row i, column j of matrix k.  Returns NULL, or
 * what the entry must be, for a message.
 */
static const char *
entry_rule(enum mat k, uint32_t i, uint32_t j, uint64_t v)
{
	if (k == MAT_DIST) {
		if (i == j)
			return v == FABRIC_MAP_DIST_LOCAL
				       ? NULL
				       : "must be 10 on the diagonal";
		return v >= FABRIC_MAP_DIST_MIN && v <= FABRIC_MAP_DIST_MAX
			       ? NULL
			       : "out of range 11..254";
	}
	return i != j || v == 0 ? NULL : "must be 0 on the diagonal";
}

static uint64_t
mat_get(const struct fabric_map *m, enum mat k, size_t at)
{
	switch (k) {
	case MAT_RTT:
		return m->rtt_ns[at];
	case MAT_BW:
		return m->bw[at];
	default:
		return m->distance[at];
	}
}

static bool
mat_given(const struct fabric_map *m, enum mat k)
{
	switch (k) {
	case MAT_RTT:
		return m->rtt_ns != NULL;
	case MAT_BW:
		return m->bw != NULL;
	default:
		return m->distance != NULL;
	}
}

/* --- the map ------------------------------------------------------------*/

int
fabric_map_init(struct fabric_map *m, const char *vm, uint32_t nodes)
{
	size_t n = (size_t)nodes * nodes;

	memset(m, 0, sizeof(*m));
	if (!vm || !config_vm_name_ok(vm) || nodes == 0 ||
	    nodes > FABRIC_MAP_NODES_MAX) {
		errno = EINVAL;
		return -1;
	}
	m->version = FABRIC_MAP_VERSION;
	snprintf(m->vm, sizeof(m->vm), "%s", vm);
	m->nodes = nodes;
	m->rtt_ns = calloc(n, sizeof(*m->rtt_ns));
	m->bw = calloc(n, sizeof(*m->bw));
	m->distance = calloc(n, sizeof(*m->distance));
	if (!m->rtt_ns || !m->bw || !m->distance) {
		fabric_map_release(m);
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

void
fabric_map_release(struct fabric_map *m)
{
	free(m->rtt_ns);
	free(m->bw);
	free(m->distance);
	memset(m, 0, sizeof(*m));
}

/* A pair's latency: the mean of both directions, or the one measured. */
static uint64_t
pair_rtt(const uint64_t *rtt, uint32_t n, uint32_t i, uint32_t j)
{
	uint64_t a = rtt[(size_t)i * n + j], b = rtt[(size_t)j * n + i];

	if (a && b)
		return (uint64_t)(((unsigned __int128)a + b) / 2);
	return a ? a : b;
}

/* 20 within a quarter of min, else round(20 * rtt / min), at most 254;
 * rtt >= min > 0. */
static uint8_t
pair_distance(uint64_t rtt, uint64_t min)
{
	unsigned __int128 d =
		((unsigned __int128)rtt * FABRIC_MAP_DIST_REMOTE + min / 2) /
		min;

	/* Links that measure within noise of each other (on one network,
	 * from run to run) are one distance, so the SLIT does not change
	 * with every measurement. */
	if ((unsigned __int128)rtt * FABRIC_MAP_NEAR_DEN <
	    (unsigned __int128)min * FABRIC_MAP_NEAR_NUM)
		return FABRIC_MAP_DIST_REMOTE;

	if (d > FABRIC_MAP_DIST_MAX)
		return FABRIC_MAP_DIST_MAX;
	if (d < FABRIC_MAP_DIST_MIN)
		return FABRIC_MAP_DIST_MIN;
	return (uint8_t)d;
}

int
fabric_map_distances(struct fabric_map *m)
{
	uint32_t n = m->nodes, i, j;
	uint64_t min = 0, r;
	uint8_t d;

	if (!m->rtt_ns || !m->distance || n == 0 || n > FABRIC_MAP_NODES_MAX) {
		errno = EINVAL;
		return -1;
	}
	for (i = 0; i < n; i++)
		for (j = i + 1; j < n; j++) {
			r = pair_rtt(m->rtt_ns, n, i, j);
			if (r && (!min || r < min))
				min = r;
		}
	for (i = 0; i < n; i++) {
		m->distance[(size_t)i * n + i] = FABRIC_MAP_DIST_LOCAL;
		for (j = i + 1; j < n; j++) {
			r = pair_rtt(m->rtt_ns, n, i, j);
			d = r ? pair_distance(r, min) : FABRIC_MAP_DIST_REMOTE;
			m->distance[(size_t)i * n + j] = d;
			m->distance[(size_t)j * n + i] = d;
		}
	}
	return 0;
}

int
fabric_map_check(const struct fabric_map *m, char *why, size_t whylen)
{
	const char *rule;
	uint32_t n = m->nodes, i, j;
	uint64_t v;
	int k;

	errno = EINVAL;
	if (m->version != FABRIC_MAP_VERSION) {
		snprintf(why, whylen, "version %" PRIu32 ", not %d", m->version,
			 FABRIC_MAP_VERSION);
		return -1;
	}
	if (memchr(m->vm, '\0', sizeof(m->vm)) == NULL ||
	    !config_vm_name_ok(m->vm)) {
		snprintf(why, whylen, "bad VM name");
		return -1;
	}
	if (n == 0 || n > FABRIC_MAP_NODES_MAX) {
		snprintf(why, whylen, "%" PRIu32 " nodes, not 1..%d", n,
			 FABRIC_MAP_NODES_MAX);
		return -1;
	}
	if (!m->distance) {
		snprintf(why, whylen, "no distances");
		return -1;
	}
	for (k = 0; k < MAT_COUNT; k++) {
		if (!mat_given(m, (enum mat)k))
			continue;
		for (i = 0; i < n; i++)
			for (j = 0; j < n; j++) {
				v = mat_get(m, (enum mat)k, (size_t)i * n + j);
				rule = entry_rule((enum mat)k, i, j, v);
				if (!rule)
					continue;
				snprintf(why, whylen,
					 "'%s[%" PRIu32 "][%" PRIu32
					 "]' is %" PRIu64 ", %s",
					 mat_key[k], i, j, v, rule);
				return -1;
			}
	}
	errno = 0;
	return 0;
}

/* --- writing ------------------------------------------------------------*/

/*
 * Whether a VM name must be quoted to stay a string for a YAML 1.1
 * reader (ours reads it as one anyway): a null, a boolean, or something
 * that starts like a number.
 */
static bool
name_needs_quotes(const char *s)
{
	static const char *const words[] = { "null", "y",     "n",  "yes", "no",
					     "true", "false", "on", "off" };
	size_t i;

	if (*s >= '0' && *s <= '9')
		return true;
	for (i = 0; i < AVM_ARRAY_SIZE(words); i++)
		if (strcasecmp(s, words[i]) == 0)
			return true;
	return false;
}

int
fabric_map_format(const struct fabric_map *m, char **buf, size_t *len)
{
	char why[256];
	uint32_t n = m->nodes, i, j;
	FILE *f;
	int k, e;

	*buf = NULL;
	*len = 0;
	if (fabric_map_check(m, why, sizeof(why)) < 0)
		return -1;
	f = open_memstream(buf, len);
	if (!f)
		return -1;
	fprintf(f,
		"# written by avm-fabric up: the measured links of VM "
		"'%s'\n",
		m->vm);
	fprintf(f, "version: %d\n", FABRIC_MAP_VERSION);
	fprintf(f, name_needs_quotes(m->vm) ? "vm: '%s'\n" : "vm: %s\n", m->vm);
	fprintf(f, "nodes: %" PRIu32 "\n", n);
	for (k = 0; k < MAT_COUNT; k++) {
		if (!mat_given(m, (enum mat)k))
			continue;
		fprintf(f, "%s:  # %s\n", mat_key[k], mat_note[k]);
		for (i = 0; i < n; i++) {
			fputs("  - [", f);
			for (j = 0; j < n; j++)
				fprintf(f, "%s%" PRIu64, j ? ", " : "",
					mat_get(m, (enum mat)k,
						(size_t)i * n + j));
			fputs("]\n", f);
		}
	}
	if (ferror(f)) {
		e = errno ? errno : ENOMEM;
		fclose(f);
		free(*buf);
		*buf = NULL;
		*len = 0;
		errno = e;
		return -1;
	}
	if (fclose(f) != 0) {
		e = errno;
		free(*buf);
		*buf = NULL;
		*len = 0;
		errno = e;
		return -1;
	}
	return 0;
}

/* --- reading ------------------------------------------------------------*/

/* One matrix as read, before its shape is checked against 'nodes'. */
struct matrix {
	uint64_t *v; /* the entries, row after row */
	size_t nv, cap;
	uint32_t rows;
	uint32_t len[FABRIC_MAP_NODES_MAX];	  /* entries in each row */
	yaml_mark_t row_at[FABRIC_MAP_NODES_MAX]; /* where each row starts */
};

enum key {
	K_VERSION,
	K_VM,
	K_NODES,
	K_RTT,
	K_BW,
	K_DIST,
	K_COUNT,
};

static const char *const key_name[K_COUNT] = {
	"version",  "vm", "nodes", "rtt_median_ns", "bandwidth_bytes_per_s",
	"distance",
};

static const bool key_required[K_COUNT] = {
	true, true, true, false, false, true
};

struct mparser {
	struct yreader y;
	struct fabric_map *m;
	struct matrix mat[MAT_COUNT];
	bool seen[K_COUNT];
	yaml_mark_t key_at[K_COUNT];
};

/* A plain decimal integer in [min, max] at r->ev, for 'path'. */
static int
parse_int(struct yreader *r, yaml_mark_t at, const char *path, uint64_t min,
	  uint64_t max, uint64_t *out)
{
	const yaml_event_t *e = &r->ev;
	const char *s;
	char q[64];

	if (e->type != YAML_SCALAR_EVENT || yreader_is_null(e))
		return yreader_wrong_kind(r, at, "an integer", path);
	s = (const char *)e->data.scalar.value;
	if (e->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return yreader_err(r, at,
				   "expected an integer for '%s', found a "
				   "quoted string",
				   path);
	errno = 0;
	/* No leading zeros: YAML 1.1 would read 010 as octal. */
	if ((s[0] == '0' && s[1] != '\0') ||
	    (uint_parse(s, 0, UINT64_MAX, out) < 0 && errno == EINVAL))
		return yreader_err(r, at, "bad integer '%s' for '%s'",
				   yreader_quote(s, q, sizeof(q)), path);
	if (errno == ERANGE || *out < min || *out > max)
		return yreader_err(
			r, at, "'%s' is %s, out of range %" PRIu64 "..%" PRIu64,
			path, yreader_quote(s, q, sizeof(q)), min, max);
	return 0;
}

/* The version's value at r->ev; refuses any but FABRIC_MAP_VERSION. */
static int
parse_version(struct yreader *r, yaml_mark_t at, uint32_t *out)
{
	uint64_t v;

	if (parse_int(r, at, "version", 0, UINT32_MAX, &v) < 0)
		return -1;
	if (v != FABRIC_MAP_VERSION)
		return yreader_err(r, at,
				   "version %" PRIu64 " of the fabric map, "
				   "this avm reads version %d",
				   v, FABRIC_MAP_VERSION);
	*out = (uint32_t)v;
	return 0;
}

/*
 * The second pass: the top mapping's 'version' alone.  What is not a
 * mapping, or a version that is not an integer, is left to the walk.
 */
static int
find_version(struct yreader *r, void *arg)
{
	uint32_t v;

	(void)arg;
	if (yreader_next(r) < 0 || yreader_next(r) < 0 || yreader_next(r) < 0)
		return -1; /* stream, document, the top node */
	if (r->ev.type != YAML_MAPPING_START_EVENT)
		return 0;
	for (;;) {
		bool is_version;
		yaml_mark_t key_at;

		if (yreader_next(r) < 0)
			return -1;
		if (r->ev.type == YAML_MAPPING_END_EVENT)
			return 0;
		is_version = r->ev.type == YAML_SCALAR_EVENT &&
			     strcmp((const char *)r->ev.data.scalar.value,
				    "version") == 0;
		key_at = r->ev.start_mark;
		if (r->ev.type != YAML_SCALAR_EVENT && yreader_skip(r) < 0)
			return -1;
		if (yreader_next(r) < 0)
			return -1;
		if (is_version && r->ev.type == YAML_SCALAR_EVENT &&
		    r->ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE) {
			uint64_t x;

			if (uint_parse((const char *)r->ev.data.scalar.value, 0,
				       UINT64_MAX, &x) == 0 &&
			    parse_version(r, yreader_value_mark(r, key_at),
					  &v) < 0)
				return -1;
			return 0; /* the first; a second is the walk's */
		}
		if ((r->ev.type == YAML_MAPPING_START_EVENT ||
		     r->ev.type == YAML_SEQUENCE_START_EVENT) &&
		    yreader_skip(r) < 0)
			return -1;
	}
}

/* Reads matrix k's sequence of rows, which starts at r->ev. */
static int
parse_matrix(struct mparser *p, enum mat k, yaml_mark_t key_at)
{
	struct yreader *r = &p->y;
	struct matrix *x = &p->mat[k];
	const char *key = mat_key[k];
	const char *rule;
	char path[PATH_LEN];
	uint64_t v, *grown;
	size_t ncap;
	uint32_t j;

	if (r->ev.type != YAML_SEQUENCE_START_EVENT)
		return yreader_wrong_kind(r, yreader_value_mark(r, key_at),
					  "a sequence of rows", key);
	for (;;) {
		if (yreader_next(r) < 0)
			return -1;
		if (r->ev.type == YAML_SEQUENCE_END_EVENT)
			return 0;
		snprintf(path, sizeof(path), "%s[%" PRIu32 "]", key, x->rows);
		if (x->rows == FABRIC_MAP_NODES_MAX)
			return yreader_err(r, r->ev.start_mark,
					   "too many rows in '%s' (at most "
					   "%d)",
					   key, FABRIC_MAP_NODES_MAX);
		if (r->ev.type != YAML_SEQUENCE_START_EVENT)
			return yreader_wrong_kind(
				r, yreader_value_mark(r, r->ev.start_mark),
				"a sequence", path);
		x->row_at[x->rows] = r->ev.start_mark;
		for (j = 0;; j++) {
			if (yreader_next(r) < 0)
				return -1;
			if (r->ev.type == YAML_SEQUENCE_END_EVENT)
				break;
			snprintf(path, sizeof(path),
				 "%s[%" PRIu32 "][%" PRIu32 "]", key, x->rows,
				 j);
			if (j == FABRIC_MAP_NODES_MAX)
				return yreader_err(r, r->ev.start_mark,
						   "too many entries in "
						   "'%s[%" PRIu32 "]' (at "
						   "most %d)",
						   key, x->rows,
						   FABRIC_MAP_NODES_MAX);
			if (parse_int(r,
				      yreader_value_mark(r, r->ev.start_mark),
				      path, 0, UINT64_MAX, &v) < 0)
				return -1;
			rule = entry_rule(k, x->rows, j, v);
			if (rule)
				return yreader_err(r, r->ev.start_mark,
						   "'%s' is %" PRIu64 ", %s",
						   path, v, rule);
			if (x->nv == x->cap) {
				ncap = x->cap ? x->cap * 2 : 64;
				grown = realloc(x->v, ncap * sizeof(*x->v));
				if (!grown)
					return yreader_nomem(r);
				x->v = grown;
				x->cap = ncap;
			}
			x->v[x->nv++] = v;
		}
		x->len[x->rows++] = j;
	}
}

/* Matrix k against 'nodes', and into the map when it fits. */
static int
matrix_done(struct mparser *p, enum mat k, enum key key)
{
	struct fabric_map *m = p->m;
	struct matrix *x = &p->mat[k];
	uint32_t n = m->nodes, i;
	size_t cells = (size_t)n * n, c;

	if (!p->seen[key])
		return 0;
	if (x->rows != n)
		return yreader_err(&p->y, p->key_at[key],
				   "'%s' has %" PRIu32 " row%s, 'nodes' is "
				   "%" PRIu32,
				   mat_key[k], x->rows, x->rows == 1 ? "" : "s",
				   n);
	for (i = 0; i < n; i++)
		if (x->len[i] != n)
			return yreader_err(&p->y, x->row_at[i],
					   "'%s[%" PRIu32 "]' has %" PRIu32
					   " entr%s, 'nodes' is %" PRIu32,
					   mat_key[k], i, x->len[i],
					   x->len[i] == 1 ? "y" : "ies", n);
	switch (k) {
	case MAT_RTT:
		m->rtt_ns = x->v;
		x->v = NULL;
		break;
	case MAT_BW:
		m->bw = x->v;
		x->v = NULL;
		break;
	default:
		m->distance = malloc(cells);
		if (!m->distance)
			return yreader_nomem(&p->y);
		for (c = 0; c < cells; c++)
			m->distance[c] = (uint8_t)x->v[c];
		break;
	}
	return 0;
}

/* The value of key at r->ev. */
static int
parse_key(struct mparser *p, enum key key, yaml_mark_t key_at)
{
	struct yreader *r = &p->y;
	struct fabric_map *m = p->m;
	yaml_mark_t at = yreader_value_mark(r, key_at);
	const char *s;
	char q[64];
	uint64_t v;

	switch (key) {
	case K_VERSION:
		return parse_version(r, at, &m->version);
	case K_VM:
		if (r->ev.type != YAML_SCALAR_EVENT)
			return yreader_wrong_kind(r, at, "a VM name", "vm");
		if (yreader_is_null(&r->ev))
			return yreader_err(r, key_at, "empty value for 'vm'");
		s = (const char *)r->ev.data.scalar.value;
		if (!config_vm_name_ok(s))
			return yreader_err(r, at,
					   "bad name '%s' for 'vm' (1 to %d "
					   "of A-Z a-z 0-9 . _ -, not "
					   "starting with . or -)",
					   yreader_quote(s, q, sizeof(q)),
					   AVM_VM_NAME_MAX);
		snprintf(m->vm, sizeof(m->vm), "%s", s);
		return 0;
	case K_NODES:
		if (parse_int(r, at, "nodes", 1, FABRIC_MAP_NODES_MAX, &v) < 0)
			return -1;
		m->nodes = (uint32_t)v;
		return 0;
	case K_RTT:
		return parse_matrix(p, MAT_RTT, key_at);
	case K_BW:
		return parse_matrix(p, MAT_BW, key_at);
	default:
		return parse_matrix(p, MAT_DIST, key_at);
	}
}

/* The third pass: the document, one top-level mapping. */
static int
walk(struct yreader *r, void *arg)
{
	struct mparser *p = arg; /* r is &p->y */
	yaml_mark_t at, key_at;
	const char *key;
	char q[64];
	int k;

	if (yreader_top_mapping(r, &at) < 0)
		return -1;
	for (;;) {
		if (yreader_next(r) < 0)
			return -1;
		if (r->ev.type == YAML_MAPPING_END_EVENT)
			break;
		key_at = r->ev.start_mark;
		if (r->ev.type != YAML_SCALAR_EVENT)
			return yreader_err(r, key_at,
					   "expected a scalar key at top "
					   "level, found %s",
					   yreader_kind(&r->ev));
		key = (const char *)r->ev.data.scalar.value;
		for (k = 0; k < K_COUNT; k++)
			if (strcmp(key, key_name[k]) == 0)
				break;
		if (k == K_COUNT)
			return yreader_err(r, key_at,
					   "unknown key '%s' at top level",
					   yreader_quote(key, q, sizeof(q)));
		if (p->seen[k])
			return yreader_err(
				r, key_at,
				"duplicate key '%s' at top level (first at "
				"%d:%d)",
				key_name[k], yreader_pos(p->key_at[k].line),
				yreader_pos(p->key_at[k].column));
		p->seen[k] = true;
		p->key_at[k] = key_at;
		if (yreader_next(r) < 0 ||
		    parse_key(p, (enum key)k, key_at) < 0)
			return -1;
	}
	for (k = 0; k < K_COUNT; k++)
		if (key_required[k] && !p->seen[k])
			return yreader_err(r, at,
					   "missing key '%s' at top level",
					   key_name[k]);
	if (matrix_done(p, MAT_RTT, K_RTT) < 0 ||
	    matrix_done(p, MAT_BW, K_BW) < 0 ||
	    matrix_done(p, MAT_DIST, K_DIST) < 0)
		return -1;
	return 0;
}

int
fabric_map_load_string(const char *name, const char *buf, size_t len,
		       struct fabric_map *m, struct avm_diag *d)
{
	struct avm_diag spare;
	struct mparser *p;
	int rc, e, k;

	if (!d)
		d = &spare;
	memset(m, 0, sizeof(*m));
	memset(d, 0, sizeof(*d));
	snprintf(d->file, sizeof(d->file), "%s", name ? name : "<string>");
	p = calloc(1, sizeof(*p)); /* its row marks are 18 KiB */
	if (!p) {
		yreader_diag(d, 0, 0, "out of memory");
		errno = ENOMEM;
		return -1;
	}
	yreader_init(&p->y, buf, len, STR_MAX, DEPTH_MAX, d);
	p->m = m;
	rc = yreader_run(&p->y, yreader_check_form, NULL);
	if (rc == 0)
		rc = yreader_run(&p->y, find_version, p);
	if (rc == 0)
		rc = yreader_run(&p->y, walk, p);
	e = errno;
	for (k = 0; k < MAT_COUNT; k++)
		free(p->mat[k].v);
	free(p);
	if (rc < 0) {
		fabric_map_release(m);
		errno = e;
		return -1;
	}
	return 0;
}

/* Loads what avm_read_fd or avm_read_file returned (rc, buf, len). */
static int
load_read(int rc, char *buf, size_t len, const char *name, struct fabric_map *m,
	  struct avm_diag *d)
{
	struct avm_diag spare;
	int e;

	if (!d)
		d = &spare;
	memset(m, 0, sizeof(*m));
	if (rc < 0) {
		e = errno;
		memset(d, 0, sizeof(*d));
		snprintf(d->file, sizeof(d->file), "%s", name);
		if (e == EFBIG) {
			yreader_diag(d, 0, 0,
				     "file too large (more than %u bytes)",
				     FABRIC_MAP_FILE_MAX);
			e = EINVAL;
		} else
			yreader_diag(d, 0, 0, "%s", strerror(e));
		errno = e;
		return -1;
	}
	rc = fabric_map_load_string(name, buf, len, m, d);
	e = errno;
	free(buf);
	errno = e;
	return rc;
}

int
fabric_map_load_file(const char *path, struct fabric_map *m, struct avm_diag *d)
{
	char *buf = NULL;
	size_t len = 0;
	int rc;

	/* O_NONBLOCK: a FIFO in its place must not hang the reader. */
	rc = avm_read_file(path, FABRIC_MAP_FILE_MAX, O_NONBLOCK | O_NOCTTY,
			   &buf, &len);
	return load_read(rc, buf, len, path, m, d);
}

int
fabric_map_load_fd(int fd, const char *name, struct fabric_map *m,
		   struct avm_diag *d)
{
	char *buf = NULL;
	size_t len = 0;
	int rc;

	rc = avm_read_fd(fd, FABRIC_MAP_FILE_MAX, &buf, &len);
	return load_read(rc, buf, len, name, m, d);
}
