/*
 * One writer for the text (YAML) and --json output of every tool, so that
 * both come from one code path: the tool walks its tree once, calling
 * emit_map_begin/emit_key/emit_str/... and the emitter writes either
 * block-style YAML or one JSON document.
 *
 * YAML comes out in block style, two spaces an indentation level, a
 * mapping inside a sequence item starts on the item's line ("- key: v").
 * Strings are plain when no YAML 1.1 or 1.2 reader could take them for
 * anything else, otherwise double-quoted with escapes; empty containers
 * are "{}" and "[]".  The YAML loads (yaml.safe_load) to the same values
 * as the JSON (json.loads).
 *
 * Strings are bytes: invalid UTF-8 (bad sequences, overlong forms,
 * surrogates, code points above U+10FFFF) comes out as U+FFFD in both
 * formats, control characters and other unprintable ones as escapes.
 * A non-finite double is written as null, since JSON has no NaN.
 *
 * Misuse (a value in a mapping without its key, a key in a sequence, an
 * end that does not match its begin, a second top-level value, nesting
 * deeper than EMIT_DEPTH_MAX) never crashes: the emitter remembers the
 * first error, ignores every later call, and emit_finish() reports it.
 * Duplicate keys are not detected.
 */
#ifndef AVM_EMIT_H
#define AVM_EMIT_H

#include <stdint.h>
#include <stdio.h>

enum emit_format {
	EMIT_YAML,
	EMIT_JSON,
};

/* Flags of emit_init(). */
#define EMIT_PRETTY 0x1u /* JSON: one value a line, 2-space indents */

/* Deepest nesting of mappings and sequences. */
#define EMIT_DEPTH_MAX 32

struct emit_frame {
	unsigned char is_map;
	unsigned char has_key; /* mapping: key written, value awaited */
	unsigned col;	       /* YAML: column of this container's entries */
	unsigned long count;   /* entries begun so far */
};

struct emit {
	FILE *f;
	enum emit_format format;
	unsigned flags;
	int err;	  /* first errno of a misuse, 0 while all is well */
	int done;	  /* the top-level value is complete */
	unsigned depth;	  /* open containers */
	int line_open;	  /* YAML: the current line still lacks its '\n' */
	int line_comment; /* YAML: ... and ends in a comment */
	int pending;	  /* YAML: after "key:" or "-", value not yet written */
	int pending_nl;	  /* YAML: ... and a comment closed that line */
	struct emit_frame stack[EMIT_DEPTH_MAX];
};

/* Starts a document on f.  flags: EMIT_PRETTY or 0. */
void emit_init(struct emit *e, FILE *f, enum emit_format format,
	       unsigned flags);

/*
 * Containers.  Each *_begin is a value: in a mapping it needs a key first.
 * Each returns 0, or -1 with errno EINVAL (misuse) or ERANGE (nesting
 * deeper than EMIT_DEPTH_MAX), also when an earlier call failed.
 */
int emit_map_begin(struct emit *e);
int emit_map_end(struct emit *e);
int emit_list_begin(struct emit *e);
int emit_list_end(struct emit *e);

/* The key of the next value; only inside a mapping.  -1/EINVAL on misuse. */
int emit_key(struct emit *e, const char *key);

/*
 * Scalars.  emit_str(e, NULL) writes null; emit_strn takes len bytes,
 * NUL bytes included.  Each returns 0, or -1 with errno EINVAL on misuse.
 */
int emit_str(struct emit *e, const char *s);
int emit_strn(struct emit *e, const char *s, size_t len);
int emit_strf(struct emit *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int emit_int(struct emit *e, int64_t v);
int emit_uint(struct emit *e, uint64_t v);
int emit_bool(struct emit *e, int v);
int emit_null(struct emit *e);
int emit_double(struct emit *e, double v);

/*
 * A YAML comment, ignored in JSON.  After a scalar it goes on the same
 * line ("vcpus: 2  # online CPUs"), otherwise on lines of its own, one a
 * line of text.  Returns 0, or -1 when an earlier call failed.
 */
int emit_comment(struct emit *e, const char *text);

/* emit_key and then the value (or the begin of the container). */
int emit_kv_str(struct emit *e, const char *key, const char *s);
int emit_kv_strf(struct emit *e, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int emit_kv_int(struct emit *e, const char *key, int64_t v);
int emit_kv_uint(struct emit *e, const char *key, uint64_t v);
int emit_kv_bool(struct emit *e, const char *key, int v);
int emit_kv_null(struct emit *e, const char *key);
int emit_kv_double(struct emit *e, const char *key, double v);
int emit_kv_map_begin(struct emit *e, const char *key);
int emit_kv_list_begin(struct emit *e, const char *key);

/*
 * Ends the document: checks that every container was closed and one value
 * written, writes the final newline and flushes.  Returns 0, or -1 with
 * errno: the first misuse (EINVAL, ERANGE), EINVAL for unclosed
 * containers or an empty document, or the write error (EIO when stdio
 * does not say).
 */
int emit_finish(struct emit *e);

#endif
