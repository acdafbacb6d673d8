/* YAML and JSON output from one walk of a tree; see include/avm/emit.h. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "avm/emit.h"

enum {
	PEND_NONE,
	PEND_KEY,  /* "key:" written */
	PEND_DASH, /* "-" of a sequence item written */
};

#define REPLACEMENT 0xfffdu

void
emit_init(struct emit *e, FILE *f, enum emit_format format, unsigned flags)
{
	memset(e, 0, sizeof(*e));
	e->f = f;
	e->format = format;
	e->flags = flags;
}

static int
fail(struct emit *e, int err)
{
	if (!e->err)
		e->err = err;
	errno = e->err;
	return -1;
}

static struct emit_frame *
top(struct emit *e)
{
	return e->depth ? &e->stack[e->depth - 1] : NULL;
}

static void
put_indent(struct emit *e, unsigned n)
{
	while (n--)
		fputc(' ', e->f);
}

/*
 * Decodes one UTF-8 character of s (len > 0) into *cp and returns the
 * bytes it took.  Anything that is not well-formed UTF-8 (stray
 * continuation bytes, truncated or overlong sequences, surrogates, beyond
 * U+10FFFF) takes one byte and decodes to U+FFFD.
 */
static size_t
utf8_next(const unsigned char *s, size_t len, uint32_t *cp)
{
	uint32_t c = s[0], min;
	size_t n, i;

	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if ((c & 0xe0) == 0xc0) {
		n = 2;
		c &= 0x1f;
		min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		n = 3;
		c &= 0x0f;
		min = 0x800;
	} else if ((c & 0xf8) == 0xf0) {
		n = 4;
		c &= 0x07;
		min = 0x10000;
	} else {
		goto bad;
	}
	if (len < n)
		goto bad;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			goto bad;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		goto bad;
	*cp = c;
	return n;
bad:
	*cp = REPLACEMENT;
	return 1;
}

static void
put_utf8(struct emit *e, uint32_t c)
{
	if (c < 0x80) {
		fputc((int)c, e->f);
	} else if (c < 0x800) {
		fputc((int)(0xc0 | (c >> 6)), e->f);
		fputc((int)(0x80 | (c & 0x3f)), e->f);
	} else if (c < 0x10000) {
		fputc((int)(0xe0 | (c >> 12)), e->f);
		fputc((int)(0x80 | ((c >> 6) & 0x3f)), e->f);
		fputc((int)(0x80 | (c & 0x3f)), e->f);
	} else {
		fputc((int)(0xf0 | (c >> 18)), e->f);
		fputc((int)(0x80 | ((c >> 12) & 0x3f)), e->f);
		fputc((int)(0x80 | ((c >> 6) & 0x3f)), e->f);
		fputc((int)(0x80 | (c & 0x3f)), e->f);
	}
}

/*
 * Characters neither format should carry raw: C0 and C1 controls, DEL,
 * the characters YAML 1.1 takes for line breaks (NEL, LS, PS), the byte
 * order mark and the non-characters YAML readers refuse.
 */
static int
needs_escape(uint32_t c)
{
	return c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == 0x2028 ||
	       c == 0x2029 || c == 0xfeff || c == 0xfffe || c == 0xffff;
}

/* A double-quoted string in the document's format. */
static void
put_quoted(struct emit *e, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	int json = e->format == EMIT_JSON;
	size_t i = 0, n;
	uint32_t c;

	fputc('"', e->f);
	while (i < len) {
		n = utf8_next(p + i, len - i, &c);
		i += n;
		switch (c) {
		case '"':
			fputs("\\\"", e->f);
			continue;
		case '\\':
			fputs("\\\\", e->f);
			continue;
		case '\b':
			fputs("\\b", e->f);
			continue;
		case '\f':
			fputs("\\f", e->f);
			continue;
		case '\n':
			fputs("\\n", e->f);
			continue;
		case '\r':
			fputs("\\r", e->f);
			continue;
		case '\t':
			fputs("\\t", e->f);
			continue;
		}
		if (!needs_escape(c)) {
			if (n > 1 || c < 0x80)
				fwrite(p + i - n, 1, n, e->f);
			else
				put_utf8(e, c); /* U+FFFD for a bad byte */
		} else if (json || c > 0xff) {
			fprintf(e->f, "\\u%04x", (unsigned)c);
		} else {
			/* YAML's \xXX is the code point U+00XX, not a byte. */
			fprintf(e->f, "\\x%02x", (unsigned)c);
		}
	}
	fputc('"', e->f);
}

/*
 * Whether s can be a plain YAML scalar that every reader, YAML 1.1
 * (PyYAML) or 1.2, takes for the string itself: printable ASCII only, a
 * letter, '_' or '/' first (or digits then letters only, as in "512M"),
 * none of the indicators, no ": " or trailing ':', and not a word that
 * resolves to a bool or null.
 */
static int
yaml_plain_ok(const char *s, size_t len)
{
	static const char *const words[] = {
		"true", "false", "yes", "no", "on", "off", "y", "n", "null",
	};
	size_t i;

	if (len == 0 || s[len - 1] == ' ' || s[len - 1] == ':')
		return 0;
	if ((s[0] >= '0' && s[0] <= '9')) {
		for (i = 0; i < len && s[i] >= '0' && s[i] <= '9'; i++)
			;
		if (i == len)
			return 0;
		for (; i < len; i++) {
			char c = s[i];

			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')))
				return 0;
		}
		return 1;
	}
	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') ||
	      s[0] == '_' || s[0] == '/'))
		return 0;
	for (i = 0; i < len; i++) {
		char c = s[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9'))
			continue;
		if (!strchr(" _-./:@%+=,()", c) || c == '\0')
			return 0;
		if (c == ':' && i + 1 < len && s[i + 1] == ' ')
			return 0;
	}
	for (i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		if (strlen(words[i]) == len &&
		    strncasecmp(s, words[i], len) == 0)
			return 0;
	}
	return 1;
}

static void
put_string(struct emit *e, const char *s, size_t len)
{
	if (e->format == EMIT_YAML && yaml_plain_ok(s, len))
		fwrite(s, 1, len, e->f);
	else
		put_quoted(e, s, len);
}

static void
yaml_close_line(struct emit *e)
{
	if (e->line_open) {
		fputc('\n', e->f);
		e->line_open = 0;
	}
	e->line_comment = 0;
}

/* Moves to where the next entry of a container at column col begins. */
static void
yaml_entry_start(struct emit *e, unsigned col)
{
	if (e->pending == PEND_KEY && !e->pending_nl) {
		fputc('\n', e->f);
		put_indent(e, col);
	} else if (e->pending == PEND_DASH && !e->pending_nl) {
		fputc(' ', e->f);
	} else {
		yaml_close_line(e);
		put_indent(e, col);
	}
	e->line_open = 1;
	e->pending = PEND_NONE;
	e->pending_nl = 0;
}

/* Moves to where a scalar value goes. */
static void
yaml_scalar_start(struct emit *e, struct emit_frame *t)
{
	if (!t) {
		yaml_close_line(e);
	} else if (!t->is_map) {
		yaml_entry_start(e, t->col);
		fputs("- ", e->f);
	} else if (e->pending_nl) {
		yaml_close_line(e);
		put_indent(e, t->col + 2);
	} else {
		fputc(' ', e->f);
	}
	e->line_open = 1;
	e->pending = PEND_NONE;
	e->pending_nl = 0;
}

/* Before an entry of a JSON container: the comma and the line break. */
static void
json_entry_start(struct emit *e, struct emit_frame *t)
{
	if (t->count)
		fputc(',', e->f);
	if (e->flags & EMIT_PRETTY) {
		fputc('\n', e->f);
		put_indent(e, 2 * e->depth);
	}
}

/* Checks that a value may come now; writes what goes before a scalar. */
static int
value_begin(struct emit *e, int scalar)
{
	struct emit_frame *t = top(e);

	if (e->err) {
		errno = e->err;
		return -1;
	}
	if (!t && e->done)
		return fail(e, EINVAL);
	if (t && t->is_map && !t->has_key)
		return fail(e, EINVAL);
	if (!scalar && e->depth == EMIT_DEPTH_MAX)
		return fail(e, ERANGE);
	if (e->format == EMIT_JSON) {
		if (t && !t->is_map)
			json_entry_start(e, t);
	} else if (scalar) {
		yaml_scalar_start(e, t);
	}
	if (t && !t->is_map)
		t->count++;
	return 0;
}

static void
value_end(struct emit *e)
{
	struct emit_frame *t = top(e);

	if (t)
		t->has_key = 0;
	else
		e->done = 1;
}

/* A scalar written as is: numbers, booleans, null. */
static int
put_raw(struct emit *e, const char *text)
{
	if (value_begin(e, 1) < 0)
		return -1;
	fputs(text, e->f);
	value_end(e);
	return 0;
}

static int
container_begin(struct emit *e, int is_map)
{
	struct emit_frame *t, *n;
	unsigned col = 0;

	if (value_begin(e, 0) < 0)
		return -1;
	t = top(e);
	if (e->format == EMIT_JSON) {
		fputc(is_map ? '{' : '[', e->f);
	} else if (t && t->is_map) {
		col = t->col + 2;
	} else if (t) {
		yaml_entry_start(e, t->col);
		fputc('-', e->f);
		e->pending = PEND_DASH;
		col = t->col + 2;
	}
	n = &e->stack[e->depth++];
	n->is_map = (unsigned char)is_map;
	n->has_key = 0;
	n->col = col;
	n->count = 0;
	return 0;
}

static int
container_end(struct emit *e, int is_map)
{
	struct emit_frame *t = top(e);

	if (e->err) {
		errno = e->err;
		return -1;
	}
	if (!t || t->is_map != is_map || t->has_key)
		return fail(e, EINVAL);
	if (e->format == EMIT_JSON) {
		if (t->count && (e->flags & EMIT_PRETTY)) {
			fputc('\n', e->f);
			put_indent(e, 2 * (e->depth - 1));
		}
		fputc(is_map ? '}' : ']', e->f);
	} else if (t->count == 0) {
		if (e->pending && !e->pending_nl) {
			fputc(' ', e->f);
		} else {
			yaml_close_line(e);
			put_indent(e, t->col);
		}
		fputs(is_map ? "{}" : "[]", e->f);
		e->line_open = 1;
		e->pending = PEND_NONE;
		e->pending_nl = 0;
	}
	e->depth--;
	value_end(e);
	return 0;
}

int
emit_map_begin(struct emit *e)
{
	return container_begin(e, 1);
}

int
emit_map_end(struct emit *e)
{
	return container_end(e, 1);
}

int
emit_list_begin(struct emit *e)
{
	return container_begin(e, 0);
}

int
emit_list_end(struct emit *e)
{
	return container_end(e, 0);
}

int
emit_key(struct emit *e, const char *key)
{
	struct emit_frame *t = top(e);

	if (e->err) {
		errno = e->err;
		return -1;
	}
	if (!key || !t || !t->is_map || t->has_key)
		return fail(e, EINVAL);
	if (e->format == EMIT_JSON) {
		json_entry_start(e, t);
		put_quoted(e, key, strlen(key));
		fputs(e->flags & EMIT_PRETTY ? ": " : ":", e->f);
	} else {
		yaml_entry_start(e, t->col);
		put_string(e, key, strlen(key));
		fputc(':', e->f);
		e->pending = PEND_KEY;
	}
	t->has_key = 1;
	t->count++;
	return 0;
}

int
emit_strn(struct emit *e, const char *s, size_t len)
{
	if (!s)
		return emit_null(e);
	if (value_begin(e, 1) < 0)
		return -1;
	put_string(e, s, len);
	value_end(e);
	return 0;
}

int
emit_str(struct emit *e, const char *s)
{
	return emit_strn(e, s, s ? strlen(s) : 0);
}

static int
emit_vstrf(struct emit *e, const char *fmt, va_list ap)
{
	char small[256], *buf = small;
	va_list aq;
	int n, r;

	va_copy(aq, ap);
	n = vsnprintf(small, sizeof(small), fmt, aq);
	va_end(aq);
	if (n < 0)
		return fail(e, EINVAL);
	if ((size_t)n >= sizeof(small)) {
		buf = malloc((size_t)n + 1);
		if (!buf)
			return fail(e, ENOMEM);
		vsnprintf(buf, (size_t)n + 1, fmt, ap);
	}
	r = emit_strn(e, buf, (size_t)n);
	if (buf != small)
		free(buf);
	return r;
}

int
emit_strf(struct emit *e, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = emit_vstrf(e, fmt, ap);
	va_end(ap);
	return r;
}

int
emit_int(struct emit *e, int64_t v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%lld", (long long)v);
	return put_raw(e, buf);
}

int
emit_uint(struct emit *e, uint64_t v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
	return put_raw(e, buf);
}

int
emit_bool(struct emit *e, int v)
{
	return put_raw(e, v ? "true" : "false");
}

int
emit_null(struct emit *e)
{
	return put_raw(e, "null");
}

/*
 * The shortest of %.15g/%.17g that reads back the same, with a '.' in
 * it: PyYAML takes "1e+20" for a string and "3" for an int.
 */
int
emit_double(struct emit *e, double v)
{
	char buf[48], *x;

	if (!isfinite(v))
		return emit_null(e);
	snprintf(buf, sizeof(buf), "%.15g", v);
	if (strtod(buf, NULL) != v)
		snprintf(buf, sizeof(buf), "%.17g", v);
	if (!strchr(buf, '.')) {
		x = strchr(buf, 'e');
		if (x) {
			memmove(x + 2, x, strlen(x) + 1);
			x[0] = '.';
			x[1] = '0';
		} else {
			strcat(buf, ".0");
		}
	}
	return put_raw(e, buf);
}

/* One line of comment text: printable characters only. */
static void
put_comment_line(struct emit *e, const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, n;
	uint32_t c;

	fputs("# ", e->f);
	while (i < len) {
		n = utf8_next(p + i, len - i, &c);
		if (c == '\t')
			fputc(' ', e->f);
		else if (needs_escape(c) || c == REPLACEMENT)
			fputc('?', e->f);
		else
			fwrite(p + i, 1, n, e->f);
		i += n;
	}
}

int
emit_comment(struct emit *e, const char *text)
{
	struct emit_frame *t = top(e);
	unsigned col = t ? t->col : 0;
	const char *nl;
	size_t len;

	if (e->err) {
		errno = e->err;
		return -1;
	}
	if (e->format != EMIT_YAML || !text)
		return 0;
	for (;;) {
		nl = strchr(text, '\n');
		len = nl ? (size_t)(nl - text) : strlen(text);
		if (e->line_comment)
			yaml_close_line(e);
		if (e->line_open) {
			fputs("  ", e->f);
		} else {
			put_indent(e, col);
		}
		put_comment_line(e, text, len);
		e->line_open = 1;
		e->line_comment = 1;
		if (e->pending)
			e->pending_nl = 1;
		if (!nl)
			break;
		yaml_close_line(e);
		text = nl + 1;
	}
	return 0;
}

int
emit_kv_str(struct emit *e, const char *key, const char *s)
{
	if (emit_key(e, key) < 0)
		return -1;
	return emit_str(e, s);
}

int
emit_kv_strf(struct emit *e, const char *key, const char *fmt, ...)
{
	va_list ap;
	int r;

	if (emit_key(e, key) < 0)
		return -1;
	va_start(ap, fmt);
	r = emit_vstrf(e, fmt, ap);
	va_end(ap);
	return r;
}

int
emit_kv_int(struct emit *e, const char *key, int64_t v)
{
	if (emit_key(e, key) < 0)
		return -1;
	return emit_int(e, v);
}

int
emit_kv_uint(struct emit *e, const char *key, uint64_t v)
{
	if (emit_key(e, key) < 0)
		return -1;
	return emit_uint(e, v);
}

int
emit_kv_bool(struct emit *e, const char *key, int v)
{
	if (emit_key(e, key) < 0)
		return -1;
	return emit_bool(e, v);
}

int
emit_kv_null(struct emit *e, const char *key)
{
	if (emit_key(e, key) < 0)
		return -1;
	return emit_null(e);
}

int
emit_kv_double(struct emit *e, const char *key, double v)
{
	if (emit_key(e, key) < 0)
		return -1;
	return emit_double(e, v);
}

int
emit_kv_map_begin(struct emit *e, const char *key)
{
	if (emit_key(e, key) < 0)
		return -1;
	return emit_map_begin(e);
}

int
emit_kv_list_begin(struct emit *e, const char *key)
{
	if (emit_key(e, key) < 0)
		return -1;
	return emit_list_begin(e);
}

int
emit_finish(struct emit *e)
{
	if (!e->err && (e->depth || !e->done))
		fail(e, EINVAL);
	if (e->format == EMIT_YAML)
		yaml_close_line(e);
	else if (e->done)
		fputc('\n', e->f);
	errno = 0;
	if ((fflush(e->f) != 0 || ferror(e->f)) && !e->err)
		e->err = errno ? errno : EIO;
	if (e->err) {
		errno = e->err;
		return -1;
	}
	return 0;
}
