/*
 * Strict YAML events; see include/avm/yreader.h.  Moved here from the
 * cluster file parser (lib/config.c) when the fabric map (lib/fabricmap.c)
 * became the second file read under the same rules.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "avm/yreader.h"

static void
diag_vset(struct avm_diag *d, int line, int col, const char *fmt, va_list ap)
{
	d->line = line;
	d->col = col;
	vsnprintf(d->msg, sizeof(d->msg), fmt, ap);
}

void
yreader_diag(struct avm_diag *d, int line, int col, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_vset(d, line, col, fmt, ap);
	va_end(ap);
}

int
yreader_pos(size_t v)
{
	return v >= INT_MAX ? INT_MAX : (int)v + 1;
}

int
yreader_err(struct yreader *r, yaml_mark_t m, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_vset(r->d, yreader_pos(m.line), yreader_pos(m.column), fmt, ap);
	va_end(ap);
	errno = EINVAL;
	return -1;
}

int
yreader_nomem(struct yreader *r)
{
	yreader_diag(r->d, 0, 0, "out of memory");
	errno = ENOMEM;
	return -1;
}

const char *
yreader_quote(const char *s, char *buf, size_t size)
{
	size_t i, n = strlen(s), max = size - 4;

	if (n > 40)
		n = 40;
	if (n > max)
		n = max;
	for (i = 0; i < n; i++)
		buf[i] = ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?'
								      : s[i];
	if (s[i] != '\0')
		buf[i++] = '.', buf[i++] = '.', buf[i++] = '.';
	buf[i] = '\0';
	return buf;
}

/* Line and column of a byte offset; libyaml's reader errors give only it. */
static yaml_mark_t
offset_mark(const struct yreader *r, size_t off)
{
	yaml_mark_t m = { 0, 0, 0 };
	size_t i;

	for (i = 0; i < off && i < r->len; i++) {
		unsigned char c = (unsigned char)r->buf[i];

		if (c == '\n' ||
		    (c == '\r' && (i + 1 == r->len || r->buf[i + 1] != '\n'))) {
			m.line++;
			m.column = 0;
		} else if (c != '\r' && (c & 0xc0) != 0x80)
			m.column++;
	}
	m.index = off;
	return m;
}

static int
syntax_error(struct yreader *r)
{
	yaml_parser_t *y = &r->yp;
	const char *problem = y->problem ? y->problem : "unknown problem";
	yaml_mark_t m = y->problem_mark;

	if (y->error == YAML_MEMORY_ERROR)
		return yreader_nomem(r);
	if (y->error == YAML_READER_ERROR) {
		m = offset_mark(r, y->problem_offset);
		if (y->problem_value >= 0)
			return yreader_err(r, m, "syntax error: %s (#x%X)",
					   problem, (unsigned)y->problem_value);
		return yreader_err(r, m, "syntax error: %s", problem);
	}
	if (y->context)
		return yreader_err(r, m, "syntax error: %s (%s at %d:%d)",
				   problem, y->context,
				   yreader_pos(y->context_mark.line),
				   yreader_pos(y->context_mark.column));
	return yreader_err(r, m, "syntax error: %s", problem);
}

bool
yreader_is_null(const yaml_event_t *e)
{
	const char *s = (const char *)e->data.scalar.value;

	if (e->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	return *s == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
	       strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

const char *
yreader_kind(const yaml_event_t *e)
{
	switch (e->type) {
	case YAML_MAPPING_START_EVENT:
		return "a mapping";
	case YAML_SEQUENCE_START_EVENT:
		return "a sequence";
	case YAML_SCALAR_EVENT:
		return yreader_is_null(e) ? "an empty value" : "a scalar";
	default:
		return "nothing";
	}
}

yaml_mark_t
yreader_value_mark(const struct yreader *r, yaml_mark_t key_at)
{
	const yaml_event_t *e = &r->ev;

	if (e->type == YAML_SCALAR_EVENT && e->data.scalar.length == 0 &&
	    e->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
		return key_at;
	return e->start_mark;
}

/* Refuses what would make a node stand for another, or change its type. */
static int
check_props(struct yreader *r, const yaml_char_t *anchor,
	    const yaml_char_t *tag)
{
	char q[64];

	if (anchor)
		return yreader_err(
			r, r->ev.start_mark, "anchors are not allowed ('&%s')",
			yreader_quote((const char *)anchor, q, sizeof(q)));
	if (tag)
		return yreader_err(
			r, r->ev.start_mark, "tags are not allowed ('%s')",
			yreader_quote((const char *)tag, q, sizeof(q)));
	return 0;
}

int
yreader_next(struct yreader *r)
{
	yaml_event_t *e = &r->ev;
	char q[64];

	if (r->have_ev) {
		yaml_event_delete(e);
		r->have_ev = false;
	}
	if (!yaml_parser_parse(&r->yp, e))
		return syntax_error(r);
	r->have_ev = true;
	switch (e->type) {
	case YAML_ALIAS_EVENT:
		return yreader_err(
			r, e->start_mark, "aliases are not allowed ('*%s')",
			yreader_quote((const char *)e->data.alias.anchor, q,
				      sizeof(q)));
	case YAML_SCALAR_EVENT:
		if (check_props(r, e->data.scalar.anchor, e->data.scalar.tag))
			return -1;
		if (e->data.scalar.length > r->str_max)
			return yreader_err(r, e->start_mark,
					   "string too long (%zu bytes, at "
					   "most %zu)",
					   e->data.scalar.length, r->str_max);
		if (memchr(e->data.scalar.value, '\0', e->data.scalar.length))
			return yreader_err(r, e->start_mark,
					   "NUL character in a string");
		return 0;
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		if (e->type == YAML_SEQUENCE_START_EVENT
			    ? check_props(r, e->data.sequence_start.anchor,
					  e->data.sequence_start.tag)
			    : check_props(r, e->data.mapping_start.anchor,
					  e->data.mapping_start.tag))
			return -1;
		if (++r->depth > r->depth_max)
			return yreader_err(r, e->start_mark,
					   "nesting deeper than %d levels",
					   r->depth_max);
		return 0;
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		r->depth--;
		return 0;
	default:
		return 0;
	}
}

int
yreader_wrong_kind(struct yreader *r, yaml_mark_t at, const char *want,
		   const char *path)
{
	if (*path == '\0')
		return yreader_err(r, at, "expected %s at top level, found %s",
				   want, yreader_kind(&r->ev));
	return yreader_err(r, at, "expected %s for '%s', found %s", want, path,
			   yreader_kind(&r->ev));
}

int
yreader_skip(struct yreader *r)
{
	int level = 1;

	while (level > 0) {
		if (yreader_next(r) < 0)
			return -1;
		switch (r->ev.type) {
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			level++;
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			level--;
			break;
		default:
			break;
		}
	}
	return 0;
}

int
yreader_check_form(struct yreader *r, void *arg)
{
	bool doc = false;

	(void)arg;
	if (yreader_next(r) < 0) /* stream start */
		return -1;
	for (;;) {
		if (yreader_next(r) < 0)
			return -1;
		if (r->ev.type == YAML_STREAM_END_EVENT)
			break;
		if (r->ev.type != YAML_DOCUMENT_START_EVENT)
			continue;
		if (doc)
			return yreader_err(r, r->ev.start_mark,
					   "multiple documents are not "
					   "allowed");
		doc = true;
	}
	if (!doc) {
		yreader_diag(r->d, 0, 0, "empty file: no YAML document");
		errno = EINVAL;
		return -1;
	}
	return 0;
}

void
yreader_init(struct yreader *r, const char *buf, size_t len, size_t str_max,
	     int depth_max, struct avm_diag *d)
{
	memset(r, 0, sizeof(*r));
	r->buf = buf;
	r->len = len;
	r->str_max = str_max;
	r->depth_max = depth_max;
	r->d = d;
}

int
yreader_run(struct yreader *r, int (*pass)(struct yreader *, void *), void *arg)
{
	int rc, e;

	if (!yaml_parser_initialize(&r->yp))
		return yreader_nomem(r);
	yaml_parser_set_input_string(&r->yp, (const unsigned char *)r->buf,
				     r->len);
	r->depth = 0;
	rc = pass(r, arg);
	e = errno;
	if (r->have_ev)
		yaml_event_delete(&r->ev);
	r->have_ev = false;
	yaml_parser_delete(&r->yp);
	errno = e;
	return rc;
}

int
yreader_top_mapping(struct yreader *r, yaml_mark_t *at)
{
	if (yreader_next(r) < 0 || yreader_next(r) < 0) /* stream, document */
		return -1;
	*at = r->ev.start_mark;
	if (yreader_next(r) < 0)
		return -1;
	/* An empty document's null has no place; the document's has. */
	*at = yreader_value_mark(r, *at);
	if (r->ev.type != YAML_MAPPING_START_EVENT)
		return yreader_wrong_kind(r, *at, "a mapping", "");
	return 0;
}
