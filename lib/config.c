/*
 * The cluster file parser; see include/avm/config.h and avm.yaml(5).
 *
 * A walk over libyaml's events (avm/yreader.h, which refuses anchors,
 * aliases and tags and bounds nesting and lengths), driven by tables:
 * every mapping the file may hold is a struct schema that lists its keys,
 * their types and where the values go, and one walker handles them all.
 * A node's probe facts are skipped without being stored.  A first pass
 * over the same events checks only the form of the stream
 * (yreader_check_form()).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <yaml.h>

#include "avm/config.h"
#include "avm/placement.h"
#include "avm/util.h"
#include "avm/yreader.h"

#define MEM_ALIGN (2ULL << 20) /* guest memory is backed by 2 MiB pages */
#define HOME_ALIGN PLACEMENT_PAGE_SIZE /* homes are whole 4 KiB pages */
#define MEM_MAX (64ULL << 40)	       /* beyond any x86 guest we can build */
#define VM_MEM_MIN (16ULL << 20)
#define HOST_MAX 253 /* a DNS name */
#define USER_MAX 32
#define CTX_LEN 64 /* "nodes[1023].ssh.port" and the like */
#define FIELDS_MAX 16

enum ftype {
	F_STR,	     /* any non-empty string without control characters */
	F_NAME,	     /* a VM name */
	F_HOST,	     /* a host name or address */
	F_USER,	     /* a user name */
	F_UINT,	     /* unsigned in [min, max], stored as unsigned */
	F_SIZE,	     /* size in [min, max], a multiple of 2M, as uint64_t */
	F_HOME,	     /* the same, a multiple of 4K: a node's home pages */
	F_BOOL,	     /* true false yes no */
	F_TRANSPORT, /* tcp rdma */
	F_MAP,	     /* a mapping whose keys land in the same object */
	F_SEQ,	     /* a sequence of mappings, stored as an array */
	F_OPAQUE,    /* any mapping, checked for form and dropped */
};

struct cparser;
struct schema;

struct field {
	const char *key;
	enum ftype type;
	bool required;
	size_t off;		  /* the value; F_SEQ: the array pointer */
	size_t count_off;	  /* F_SEQ: its size_t entry count */
	uint64_t min, max;	  /* F_UINT, F_SIZE, F_HOME; F_SEQ: entries */
	const struct schema *sub; /* F_MAP, F_SEQ */
};

/* What the walker saw in one mapping, for the checks that follow it. */
struct mapstate {
	uint32_t seen;			/* bit i: fields[i] was given */
	yaml_mark_t key_at[FIELDS_MAX]; /* where fields[i]'s key is */
	yaml_mark_t val_at[FIELDS_MAX]; /* where its value is */
	yaml_mark_t at;			/* the mapping (or its key) */
};

struct schema {
	const struct field *fields;
	size_t nfields;
	size_t size; /* of one entry, for F_SEQ */
	bool has_pos;
	size_t line_off, col_off; /* where to note the mapping's place */
	void (*init)(void *obj);
	/* Checks across keys, once the mapping has ended. */
	int (*done)(struct cparser *p, void *obj, const struct mapstate *ms,
		    const char *path);
};

struct cparser {
	struct yreader y; /* avm/yreader.h: events and their checks */
	struct avm_config *cfg;
};

/* --- diagnostics ----------------------------------------------------- */

int
avm_diag_format(const struct avm_diag *d, char *buf, size_t len)
{
	if (d->line > 0)
		return snprintf(buf, len, "%s:%d:%d: %s", d->file, d->line,
				d->col, d->msg);
	return snprintf(buf, len, "%s: %s", d->file, d->msg);
}

/*
 * Names a key or entry for messages: "vm.disks[3]".  The schema bounds
 * how deep names go, so CTX_LEN always holds them.
 */
static void __attribute__((format(printf, 3, 4)))
ctx_name(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, size, fmt, ap);
	va_end(ap);
}

/* "in 'vm'", or "at top level" for the document's mapping. */
static const char *
where(const char *path, char *buf, size_t size)
{
	if (*path == '\0')
		return "at top level";
	snprintf(buf, size, "in '%s'", path);
	return buf;
}

/* --- values ------------------------------------------------------------ */

static bool
has_ctrl(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

/* [A-Za-z0-9._-] and what else extra allows; not starting with '-'. */
static bool
word_ok(const char *s, size_t max, const char *extra)
{
	size_t n = strlen(s);
	const char *c;

	if (n == 0 || n > max || s[0] == '-')
		return false;
	for (c = s; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
		      (*c >= '0' && *c <= '9') || strchr("._-", *c) ||
		      strchr(extra, *c)))
			return false;
	return true;
}

int
config_vm_name_ok(const char *name)
{
	return word_ok(name, AVM_VM_NAME_MAX, "") && name[0] != '.';
}

static int
parse_string(struct cparser *p, const struct field *f, void *dst, const char *s,
	     const char *path, yaml_mark_t at)
{
	char q[64];
	char *copy;

	if (has_ctrl(s))
		return yreader_err(&p->y, at, "control character in '%s'",
				   path);
	switch (f->type) {
	case F_NAME:
		if (!config_vm_name_ok(s))
			return yreader_err(
				&p->y, at,
				"bad name '%s' for '%s' (1 to %d of "
				"A-Z a-z 0-9 . _ -, not starting with "
				". or -)",
				yreader_quote(s, q, sizeof(q)), path,
				AVM_VM_NAME_MAX);
		break;
	case F_HOST:
		if (!word_ok(s, HOST_MAX, ":%"))
			return yreader_err(&p->y, at,
					   "bad host '%s' for '%s' (a name or "
					   "address, not starting with -)",
					   yreader_quote(s, q, sizeof(q)),
					   path);
		break;
	case F_USER:
		if (!word_ok(s, USER_MAX, ""))
			return yreader_err(
				&p->y, at,
				"bad user '%s' for '%s' (1 to %d of "
				"A-Z a-z 0-9 . _ -, not starting with -)",
				yreader_quote(s, q, sizeof(q)), path, USER_MAX);
		break;
	default:
		break;
	}
	copy = strdup(s);
	if (!copy)
		return yreader_nomem(&p->y);
	memcpy(dst, &copy, sizeof(copy));
	return 0;
}

static int
parse_uint(struct cparser *p, const struct field *f, void *dst, const char *s,
	   bool plain, const char *path, yaml_mark_t at)
{
	char q[64];
	uint64_t v = 0;
	unsigned u;

	errno = 0;
	if (!plain)
		return yreader_err(
			&p->y, at,
			"expected an integer for '%s', found a quoted "
			"string",
			path);
	/* No leading zeros: YAML 1.1 would read 010 as octal. */
	if ((s[0] == '0' && s[1] != '\0') ||
	    (uint_parse(s, 0, UINT64_MAX, &v) < 0 && errno == EINVAL))
		return yreader_err(&p->y, at, "bad integer '%s' for '%s'",
				   yreader_quote(s, q, sizeof(q)), path);
	if (errno == ERANGE || v < f->min || v > f->max)
		return yreader_err(
			&p->y, at,
			"'%s' is %s, out of range %" PRIu64 "..%" PRIu64, path,
			yreader_quote(s, q, sizeof(q)), f->min, f->max);
	u = (unsigned)v;
	memcpy(dst, &u, sizeof(u));
	return 0;
}

static int
parse_size(struct cparser *p, const struct field *f, void *dst, const char *s,
	   const char *path, yaml_mark_t at)
{
	uint64_t align = f->type == F_HOME ? HOME_ALIGN : MEM_ALIGN;
	char q[64], lim[32];
	uint64_t v = 0;

	errno = 0;
	if (size_parse(s, &v) < 0 && errno == EINVAL)
		return yreader_err(&p->y, at,
				   "bad size '%s' for '%s' (digits and a unit "
				   "K, M, G or T)",
				   yreader_quote(s, q, sizeof(q)), path);
	if (errno == ERANGE || v > f->max)
		return yreader_err(&p->y, at, "'%s' is %s, more than %s", path,
				   yreader_quote(s, q, sizeof(q)),
				   size_format(f->max, lim, sizeof(lim)));
	if (v < f->min)
		return yreader_err(&p->y, at, "'%s' is %s, less than %s", path,
				   yreader_quote(s, q, sizeof(q)),
				   size_format(f->min, lim, sizeof(lim)));
	if (v % align)
		return yreader_err(&p->y, at,
				   "'%s' is %s, not a multiple of %s", path,
				   yreader_quote(s, q, sizeof(q)),
				   size_format(align, lim, sizeof(lim)));
	memcpy(dst, &v, sizeof(v));
	return 0;
}

static int
parse_scalar(struct cparser *p, const struct field *f, void *obj,
	     const char *path, yaml_mark_t at)
{
	const char *s = (const char *)p->y.ev.data.scalar.value;
	bool plain = p->y.ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
	void *dst = (char *)obj + f->off;
	char q[64];
	bool b;
	enum config_transport t;

	switch (f->type) {
	case F_UINT:
		return parse_uint(p, f, dst, s, plain, path, at);
	case F_SIZE:
	case F_HOME:
		return parse_size(p, f, dst, s, path, at);
	case F_BOOL:
		if (plain && (!strcasecmp(s, "true") || !strcasecmp(s, "yes")))
			b = true;
		else if (plain &&
			 (!strcasecmp(s, "false") || !strcasecmp(s, "no")))
			b = false;
		else
			return yreader_err(
				&p->y, at,
				"bad boolean '%s' for '%s' (true, false, "
				"yes or no)",
				yreader_quote(s, q, sizeof(q)), path);
		memcpy(dst, &b, sizeof(b));
		return 0;
	case F_TRANSPORT:
		if (strcmp(s, "tcp") == 0)
			t = CONFIG_TRANSPORT_TCP;
		else if (strcmp(s, "rdma") == 0)
			t = CONFIG_TRANSPORT_RDMA;
		else
			return yreader_err(
				&p->y, at,
				"bad transport '%s' for '%s' (tcp or rdma)",
				yreader_quote(s, q, sizeof(q)), path);
		memcpy(dst, &t, sizeof(t));
		return 0;
	default:
		return parse_string(p, f, dst, s, path, at);
	}
}

/* --- the walk ---------------------------------------------------------- */

static int parse_map(struct cparser *p, const struct schema *s, void *obj,
		     const char *path, yaml_mark_t at);

static int
parse_seq(struct cparser *p, const struct field *f, void *obj, const char *path,
	  yaml_mark_t key_at)
{
	const struct schema *s = f->sub;
	void *slot = (char *)obj + f->off;
	size_t *n = (size_t *)((char *)obj + f->count_off);
	size_t cap = 0, ncap;
	char sub[CTX_LEN];
	char *arr, *grown, *elem;

	memcpy(&arr, slot, sizeof(arr));
	for (;;) {
		if (yreader_next(&p->y) < 0)
			return -1;
		if (p->y.ev.type == YAML_SEQUENCE_END_EVENT)
			break;
		ctx_name(sub, sizeof(sub), "%s[%zu]", path, *n);
		if (p->y.ev.type != YAML_MAPPING_START_EVENT)
			return yreader_wrong_kind(
				&p->y,
				yreader_value_mark(&p->y, p->y.ev.start_mark),
				"a mapping", sub);
		if (*n >= f->max)
			return yreader_err(
				&p->y, p->y.ev.start_mark,
				"too many entries in '%s' (at most %" PRIu64
				")",
				path, f->max);
		if (*n == cap) {
			ncap = cap ? cap * 2 : 4;
			if (ncap > f->max)
				ncap = (size_t)f->max;
			grown = realloc(arr, ncap * s->size);
			if (!grown)
				return yreader_nomem(&p->y);
			arr = grown;
			cap = ncap;
			memcpy(slot, &arr, sizeof(arr));
		}
		elem = arr + *n * s->size;
		memset(elem, 0, s->size);
		if (s->init)
			s->init(elem);
		(*n)++;
		if (parse_map(p, s, elem, sub, p->y.ev.start_mark) < 0)
			return -1;
	}
	if (*n < f->min)
		return yreader_err(&p->y, key_at, "no entries in '%s'", path);
	return 0;
}

static int
parse_value(struct cparser *p, const struct field *f, void *obj,
	    const char *path, yaml_mark_t key_at)
{
	const yaml_event_t *e = &p->y.ev;
	yaml_mark_t at = yreader_value_mark(&p->y, key_at);

	switch (f->type) {
	case F_MAP:
		if (e->type != YAML_MAPPING_START_EVENT)
			return yreader_wrong_kind(&p->y, at, "a mapping", path);
		return parse_map(p, f->sub, obj, path, key_at);
	case F_SEQ:
		if (e->type != YAML_SEQUENCE_START_EVENT)
			return yreader_wrong_kind(&p->y, at, "a sequence",
						  path);
		return parse_seq(p, f, obj, path, key_at);
	case F_OPAQUE:
		if (e->type != YAML_MAPPING_START_EVENT)
			return yreader_wrong_kind(&p->y, at, "a mapping", path);
		return yreader_skip(&p->y);
	default:
		if (e->type != YAML_SCALAR_EVENT)
			return yreader_wrong_kind(&p->y, at, "a scalar", path);
		if (yreader_is_null(e) || e->data.scalar.length == 0)
			return yreader_err(&p->y, key_at,
					   "empty value for '%s'", path);
		return parse_scalar(p, f, obj, path, at);
	}
}

/*
 * Walks the mapping that starts at the current event, storing what its
 * keys say into obj as schema s lays out.  at is where errors about the
 * mapping as a whole point: its key, or where it starts.
 */
static int
parse_map(struct cparser *p, const struct schema *s, void *obj,
	  const char *path, yaml_mark_t at)
{
	struct mapstate ms;
	char sub[CTX_LEN], in[CTX_LEN + 8], q[64];
	const struct field *f;
	const char *key;
	yaml_mark_t key_at;
	size_t i;
	int line = yreader_pos(at.line), col = yreader_pos(at.column);

	memset(&ms, 0, sizeof(ms));
	ms.at = at;
	if (s->has_pos) {
		memcpy((char *)obj + s->line_off, &line, sizeof(line));
		memcpy((char *)obj + s->col_off, &col, sizeof(col));
	}
	for (;;) {
		if (yreader_next(&p->y) < 0)
			return -1;
		if (p->y.ev.type == YAML_MAPPING_END_EVENT)
			break;
		key_at = p->y.ev.start_mark;
		if (p->y.ev.type != YAML_SCALAR_EVENT)
			return yreader_err(&p->y, key_at,
					   "expected a scalar key %s, found %s",
					   where(path, in, sizeof(in)),
					   yreader_kind(&p->y.ev));
		key = (const char *)p->y.ev.data.scalar.value;
		for (i = 0; i < s->nfields; i++)
			if (strcmp(s->fields[i].key, key) == 0)
				break;
		if (i == s->nfields)
			return yreader_err(&p->y, key_at, "unknown key '%s' %s",
					   yreader_quote(key, q, sizeof(q)),
					   where(path, in, sizeof(in)));
		f = &s->fields[i];
		if (ms.seen & (1u << i))
			return yreader_err(
				&p->y, key_at,
				"duplicate key '%s' %s (first at %d:%d)",
				f->key, where(path, in, sizeof(in)),
				yreader_pos(ms.key_at[i].line),
				yreader_pos(ms.key_at[i].column));
		ms.seen |= 1u << i;
		ms.key_at[i] = key_at;
		ctx_name(sub, sizeof(sub), "%s%s%s", path, *path ? "." : "",
			 f->key);
		if (yreader_next(&p->y) < 0)
			return -1;
		ms.val_at[i] = yreader_value_mark(&p->y, key_at);
		if (parse_value(p, f, obj, sub, key_at) < 0)
			return -1;
	}
	for (i = 0; i < s->nfields; i++)
		if (s->fields[i].required && !(ms.seen & (1u << i)))
			return yreader_err(&p->y, at, "missing key '%s' %s",
					   s->fields[i].key,
					   where(path, in, sizeof(in)));
	return s->done ? s->done(p, obj, &ms, path) : 0;
}

/* --- the schema -------------------------------------------------------- */

static int node_done(struct cparser *p, void *obj, const struct mapstate *ms,
		     const char *path);
static int top_done(struct cparser *p, void *obj, const struct mapstate *ms,
		    const char *path);
static void node_init(void *obj);

#define CFG(m) offsetof(struct avm_config, m)
#define NODE(m) offsetof(struct avm_node_cfg, m)
#define DISK(m) offsetof(struct avm_disk, m)

static const struct field disk_fields[] = {
	{ "path", F_STR, true, DISK(path), 0, 0, 0, NULL },
	{ "readonly", F_BOOL, false, DISK(readonly), 0, 0, 0, NULL },
};

static const struct schema disk_schema = {
	disk_fields,
	AVM_ARRAY_SIZE(disk_fields),
	sizeof(struct avm_disk),
	true,
	DISK(line),
	DISK(col),
	NULL,
	NULL,
};

#define NET(m) offsetof(struct avm_net, m)

static const struct field net_fields[] = {
	{ "tap", F_STR, true, NET(tap), 0, 0, 0, NULL },
	{ "mac", F_STR, false, NET(mac), 0, 0, 0, NULL },
};

static const struct schema net_schema = {
	net_fields,
	AVM_ARRAY_SIZE(net_fields),
	sizeof(struct avm_net),
	true,
	NET(line),
	NET(col),
	NULL,
	NULL,
};

static const struct field vm_fields[] = {
	{ "name", F_NAME, true, CFG(name), 0, 0, 0, NULL },
	{ "vcpus", F_UINT, true, CFG(vcpus), 0, 1, AVM_CONFIG_VCPUS_MAX, NULL },
	{ "memory", F_SIZE, true, CFG(memory_bytes), 0, VM_MEM_MIN, MEM_MAX,
	  NULL },
	{ "kernel", F_STR, false, CFG(kernel), 0, 0, 0, NULL },
	{ "initrd", F_STR, false, CFG(initrd), 0, 0, 0, NULL },
	{ "cmdline", F_STR, false, CFG(cmdline), 0, 0, 0, NULL },
	{ "disks", F_SEQ, false, CFG(disks), CFG(ndisks), 0,
	  AVM_CONFIG_DISKS_MAX, &disk_schema },
	{ "nets", F_SEQ, false, CFG(nets), CFG(nnets), 0, AVM_CONFIG_NETS_MAX,
	  &net_schema },
};

static const struct schema vm_schema = {
	vm_fields,
	AVM_ARRAY_SIZE(vm_fields),
	0,
	true,
	CFG(vm_line),
	CFG(vm_col),
	NULL,
	NULL,
};

static const struct field ssh_fields[] = {
	{ "user", F_USER, false, NODE(ssh_user), 0, 0, 0, NULL },
	{ "port", F_UINT, false, NODE(ssh_port), 0, 1, 65535, NULL },
	{ "key", F_STR, false, NODE(ssh_key), 0, 0, 0, NULL },
};

static const struct schema ssh_schema = {
	ssh_fields, AVM_ARRAY_SIZE(ssh_fields), 0, false, 0, 0, NULL, NULL,
};

static const struct field node_fields[] = {
	{ "host", F_HOST, true, NODE(host), 0, 0, 0, NULL },
	{ "address", F_HOST, false, NODE(address), 0, 0, 0, NULL },
	{ "ssh", F_MAP, false, 0, 0, 0, 0, &ssh_schema },
	{ "vcpus", F_UINT, false, NODE(vcpus), 0, 1, AVM_CONFIG_VCPUS_MAX,
	  NULL },
	{ "memory", F_HOME, false, NODE(memory_bytes), 0, HOME_ALIGN, MEM_MAX,
	  NULL },
	{ "probe", F_OPAQUE, false, 0, 0, 0, 0, NULL },
};

static const struct schema node_schema = {
	node_fields,
	AVM_ARRAY_SIZE(node_fields),
	sizeof(struct avm_node_cfg),
	true,
	NODE(line),
	NODE(col),
	node_init,
	node_done,
};

static const struct field fabric_fields[] = {
	{ "transport", F_TRANSPORT, false, CFG(fabric_transport), 0, 0, 0,
	  NULL },
	{ "port", F_UINT, false, CFG(fabric_port), 0, 1, 65535, NULL },
	{ "listen", F_HOST, false, CFG(fabric_listen), 0, 0, 0, NULL },
	{ "secret", F_STR, false, CFG(fabric_secret), 0, 0, 0, NULL },
	{ "known_hosts", F_STR, false, CFG(fabric_known_hosts), 0, 0, 0, NULL },
	{ "dead_ms", F_UINT, false, CFG(fabric_dead_ms), 0, 100, 3600000,
	  NULL },
};

static const struct schema fabric_schema = {
	fabric_fields, AVM_ARRAY_SIZE(fabric_fields), 0, false, 0, 0, NULL,
	NULL,
};

static const struct field top_fields[] = {
	{ "vm", F_MAP, true, 0, 0, 0, 0, &vm_schema },
	{ "nodes", F_SEQ, false, CFG(nodes), CFG(nnodes), 1,
	  AVM_CONFIG_NODES_MAX, &node_schema },
	{ "fabric", F_MAP, false, 0, 0, 0, 0, &fabric_schema },
};

static const struct schema top_schema = {
	top_fields, AVM_ARRAY_SIZE(top_fields), 0, false, 0, 0, NULL, top_done,
};

/* mapstate keeps one bit and two marks a key. */
_Static_assert(AVM_ARRAY_SIZE(vm_fields) <= FIELDS_MAX &&
		       AVM_ARRAY_SIZE(node_fields) <= FIELDS_MAX &&
		       AVM_ARRAY_SIZE(top_fields) <= FIELDS_MAX &&
		       AVM_ARRAY_SIZE(fabric_fields) <= FIELDS_MAX &&
		       AVM_ARRAY_SIZE(ssh_fields) <= FIELDS_MAX &&
		       AVM_ARRAY_SIZE(disk_fields) <= FIELDS_MAX &&
		       AVM_ARRAY_SIZE(net_fields) <= FIELDS_MAX,
	       "a schema has more keys than struct mapstate holds");

/*
 * Where key (its value, or the key itself) is in a mapping just walked,
 * or NULL when the mapping did not give it.
 */
static const yaml_mark_t *
given(const struct schema *s, const struct mapstate *ms, const char *key,
      bool value)
{
	size_t i;

	for (i = 0; i < s->nfields; i++) {
		if (strcmp(s->fields[i].key, key) != 0)
			continue;
		if (!(ms->seen & (1u << i)))
			return NULL;
		return value ? &ms->val_at[i] : &ms->key_at[i];
	}
	return NULL;
}

static void
node_init(void *obj)
{
	struct avm_node_cfg *n = obj;

	n->ssh_port = AVM_SSH_PORT_DEFAULT;
}

/* Address defaults to the host; hosts and addresses are each unique. */
static int
node_done(struct cparser *p, void *obj, const struct mapstate *ms,
	  const char *path)
{
	struct avm_config *cfg = p->cfg;
	struct avm_node_cfg *n = obj, *o;
	const yaml_mark_t *addr_at = given(&node_schema, ms, "address", true);
	const yaml_mark_t *host_at = given(&node_schema, ms, "host", true);
	size_t i, me = (size_t)(n - cfg->nodes);
	char q[64];

	if (!n->address) {
		n->address = strdup(n->host);
		if (!n->address)
			return yreader_nomem(&p->y);
		addr_at = host_at;
	}
	for (i = 0; i < me; i++) {
		o = &cfg->nodes[i];
		if (strcasecmp(o->host, n->host) == 0)
			return yreader_err(&p->y, *host_at,
					   "duplicate host '%s' in '%s' (also "
					   "'nodes[%zu]' at line %d)",
					   yreader_quote(n->host, q, sizeof(q)),
					   path, i, o->line);
		if (strcasecmp(o->address, n->address) == 0)
			return yreader_err(
				&p->y, *addr_at,
				"duplicate address '%s' in '%s' (also "
				"'nodes[%zu]' at line %d)",
				yreader_quote(n->address, q, sizeof(q)), path,
				i, o->line);
	}
	return 0;
}

_Static_assert(AVM_CONFIG_NODES_MAX <= PLACEMENT_NODES_MAX,
	       "every node list the parser takes can be placed");

/*
 * Fills in what the nodes left out: vcpus and memory given on no node
 * are the placement's equal blocks.  With all of them given, the
 * placement checks what the sums above do not.
 */
static int
place_nodes(struct cparser *p, struct avm_config *cfg, bool has_vcpus,
	    bool has_mem, const yaml_mark_t *at)
{
	struct placement_in in = { (uint32_t)cfg->nnodes, cfg->vcpus,
				   cfg->memory_bytes, NULL, NULL };
	struct placement_node *pl = calloc(cfg->nnodes, sizeof(*pl));
	uint32_t *v = calloc(cfg->nnodes, sizeof(*v));
	uint64_t *m = calloc(cfg->nnodes, sizeof(*m));
	char why[256];
	size_t i;
	int r = -1;

	if (!pl || !v || !m) {
		r = yreader_nomem(&p->y);
		goto out;
	}
	for (i = 0; i < cfg->nnodes; i++) {
		v[i] = cfg->nodes[i].vcpus;
		m[i] = cfg->nodes[i].memory_bytes;
	}
	in.node_vcpus = has_vcpus ? v : NULL;
	in.node_mem_bytes = has_mem ? m : NULL;
	if (placement_compute(&in, pl, why, sizeof(why)) < 0) {
		/* Without nodes in the file one node takes all: this
		 * cannot fail, but say so if it does. */
		yreader_diag(p->y.d, at ? yreader_pos(at->line) : 0,
			     at ? yreader_pos(at->column) : 0, "%s", why);
		errno = EINVAL;
		goto out;
	}
	for (i = 0; i < cfg->nnodes; i++) {
		cfg->nodes[i].vcpus = pl[i].vcpu_count;
		cfg->nodes[i].memory_bytes =
			pl[i].page_count * PLACEMENT_PAGE_SIZE;
	}
	r = 0;
out:
	free(pl);
	free(v);
	free(m);
	return r;
}

/*
 * Node vcpus (or memory) on every node or on none: left out on some
 * nodes only is a mistake, named at the first node without it.
 */
static int
all_or_none(struct cparser *p, const struct avm_config *cfg, bool memory)
{
	const struct avm_node_cfg *miss = NULL;
	size_t i, n = 0;
	char q[64];

	for (i = 0; i < cfg->nnodes; i++) {
		const struct avm_node_cfg *nd = &cfg->nodes[i];

		if (memory ? nd->memory_bytes != 0 : nd->vcpus != 0)
			n++;
		else if (!miss)
			miss = nd;
	}
	if (n == 0 || !miss)
		return 0;
	yreader_diag(p->y.d, miss->line, miss->col,
		     "node '%s' has no '%s': give it on every node or on none",
		     yreader_quote(miss->host, q, sizeof(q)),
		     memory ? "memory" : "vcpus");
	errno = EINVAL;
	return -1;
}

/*
 * The nodes make up the VM exactly; without nodes, localhost is all.
 * Node vcpus and memory are given on every node or on none (equal
 * blocks, avm/placement.h).
 */
static int
top_done(struct cparser *p, void *obj, const struct mapstate *ms,
	 const char *path)
{
	struct avm_config *cfg = obj;
	/* The key, not the value: the sequence may start lines below. */
	const yaml_mark_t *nodes_at = given(&top_schema, ms, "nodes", false);
	uint64_t vcpus = 0, mem = 0;
	size_t nv = 0, nm = 0, i;
	char a[32], b[32];

	if (!nodes_at) {
		cfg->nodes = calloc(1, sizeof(*cfg->nodes));
		if (!cfg->nodes)
			return yreader_nomem(&p->y);
		cfg->nnodes = 1;
		cfg->nodes_default = true;
		node_init(cfg->nodes);
		cfg->nodes[0].host = strdup("localhost");
		cfg->nodes[0].address = strdup("localhost");
		if (!cfg->nodes[0].host || !cfg->nodes[0].address)
			return yreader_nomem(&p->y);
		return place_nodes(p, cfg, false, false, NULL);
	}
	for (i = 0; i < cfg->nnodes; i++) {
		vcpus += cfg->nodes[i].vcpus;
		mem += cfg->nodes[i].memory_bytes;
		nv += cfg->nodes[i].vcpus != 0;
		nm += cfg->nodes[i].memory_bytes != 0;
	}
	if (all_or_none(p, cfg, false) < 0 || all_or_none(p, cfg, true) < 0)
		return -1;
	if (nv && vcpus != cfg->vcpus)
		return yreader_err(&p->y, *nodes_at,
				   "nodes' vcpus sum to %" PRIu64
				   ", 'vm.vcpus' is %u",
				   vcpus, cfg->vcpus);
	if (nm && mem != cfg->memory_bytes)
		return yreader_err(&p->y, *nodes_at,
				   "nodes' memory sums to %s (%" PRIu64
				   " bytes), 'vm.memory' is %s (%" PRIu64
				   " bytes)",
				   size_format(mem, a, sizeof(a)), mem,
				   size_format(cfg->memory_bytes, b, sizeof(b)),
				   cfg->memory_bytes);
	return place_nodes(p, cfg, nv != 0, nm != 0, nodes_at);
}

/* --- loading ----------------------------------------------------------- */

/*
 * The second pass (the first is yreader_check_form): the one document,
 * walked by the schema.
 */
static int
walk(struct yreader *r, void *arg)
{
	struct cparser *p = arg; /* r is &p->y */
	yaml_mark_t at;

	if (yreader_top_mapping(r, &at) < 0)
		return -1;
	return parse_map(p, &top_schema, p->cfg, "", at);
}

static int
load(const char *name, const char *dir, const char *buf, size_t len,
     struct avm_config *cfg, struct avm_diag *d)
{
	struct cparser p;
	int e;

	memset(&p, 0, sizeof(p));
	yreader_init(&p.y, buf, len, AVM_CONFIG_STR_MAX, AVM_CONFIG_DEPTH_MAX,
		     d);
	p.cfg = cfg;
	cfg->fabric_transport = CONFIG_TRANSPORT_TCP;
	cfg->fabric_port = AVM_FABRIC_PORT_DEFAULT;
	cfg->file = strdup(name);
	cfg->dir = dir ? strdup(dir) : NULL;
	if (!cfg->file || (dir && !cfg->dir)) {
		config_release(cfg);
		return yreader_nomem(&p.y);
	}
	if (yreader_run(&p.y, yreader_check_form, NULL) < 0 ||
	    yreader_run(&p.y, walk, &p) < 0) {
		e = errno;
		config_release(cfg);
		errno = e;
		return -1;
	}
	return 0;
}

int
config_load_string(const char *name, const char *buf, size_t len,
		   struct avm_config *cfg, struct avm_diag *d)
{
	struct avm_diag spare;

	if (!d)
		d = &spare;
	if (!name)
		name = "<string>";
	memset(cfg, 0, sizeof(*cfg));
	memset(d, 0, sizeof(*d));
	snprintf(d->file, sizeof(d->file), "%s", name);
	return load(name, NULL, buf, len, cfg, d);
}

int
config_load_file(const char *path, struct avm_config *cfg, struct avm_diag *d)
{
	struct avm_diag spare;
	char *buf = NULL, *dir;
	const char *slash;
	size_t len = 0;
	int rc, e;

	if (!d)
		d = &spare;
	memset(cfg, 0, sizeof(*cfg));
	memset(d, 0, sizeof(*d));
	snprintf(d->file, sizeof(d->file), "%s", path);
	if (avm_read_file(path, AVM_CONFIG_FILE_MAX, 0, &buf, &len) < 0) {
		e = errno;
		if (e == EFBIG) {
			yreader_diag(d, 0, 0,
				     "file too large (more than %u bytes)",
				     AVM_CONFIG_FILE_MAX);
			e = EINVAL;
		} else
			yreader_diag(d, 0, 0, "%s", strerror(e));
		errno = e;
		return -1;
	}
	slash = strrchr(path, '/');
	if (!slash)
		dir = strdup(".");
	else if (slash == path)
		dir = strdup("/");
	else
		dir = strndup(path, (size_t)(slash - path));
	if (!dir) {
		free(buf);
		yreader_diag(d, 0, 0, "out of memory");
		errno = ENOMEM;
		return -1;
	}
	rc = load(path, dir, buf, len, cfg, d);
	e = errno;
	free(dir);
	free(buf);
	errno = e;
	return rc;
}

void
config_release(struct avm_config *cfg)
{
	size_t i;

	free(cfg->file);
	free(cfg->dir);
	free(cfg->name);
	free(cfg->kernel);
	free(cfg->initrd);
	free(cfg->cmdline);
	for (i = 0; i < cfg->ndisks; i++)
		free(cfg->disks[i].path);
	free(cfg->disks);
	for (i = 0; i < cfg->nnets; i++) {
		free(cfg->nets[i].tap);
		free(cfg->nets[i].mac);
	}
	free(cfg->nets);
	for (i = 0; i < cfg->nnodes; i++) {
		free(cfg->nodes[i].host);
		free(cfg->nodes[i].address);
		free(cfg->nodes[i].ssh_user);
		free(cfg->nodes[i].ssh_key);
	}
	free(cfg->nodes);
	free(cfg->fabric_listen);
	free(cfg->fabric_secret);
	free(cfg->fabric_known_hosts);
	memset(cfg, 0, sizeof(*cfg));
}

const char *
config_transport_name(enum config_transport t)
{
	switch (t) {
	case CONFIG_TRANSPORT_TCP:
		return "tcp";
	case CONFIG_TRANSPORT_RDMA:
		return "rdma";
	}
	return "unknown";
}

int
config_path(const struct avm_config *cfg, const char *path, char *buf,
	    size_t len)
{
	const char *home;
	int n;

	if (!path || !*path) {
		errno = EINVAL;
		return -1;
	}
	if (strncmp(path, "~/", 2) == 0) {
		home = getenv("HOME");
		if (!home || !*home) {
			errno = ENOENT;
			return -1;
		}
		n = snprintf(buf, len, "%s/%s", home, path + 2);
	} else if (path[0] != '/' && cfg->dir)
		n = snprintf(buf, len, "%s/%s", cfg->dir, path);
	else
		n = snprintf(buf, len, "%s", path);
	if (n < 0 || (size_t)n >= len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}
