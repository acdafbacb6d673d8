/*
 * Strict YAML input for the files AVM reads (the cluster file,
 * avm/config.h; the fabric map, avm/fabricmap.h): libyaml's events, with
 * the rules every such file follows checked once, here.  Anchors,
 * aliases and tags are refused before anything expands, nesting and
 * string lengths are bounded while they grow, a NUL inside a string is
 * an error, and every error fills a struct avm_diag with the line and
 * column it is about.
 *
 * Events rather than libyaml's document API, so that a parser walks the
 * input once with its own schema and never stores what it skips.
 */
#ifndef AVM_YREADER_H
#define AVM_YREADER_H

#include <stdbool.h>
#include <stddef.h>

#include <yaml.h>

#include "avm/config.h"

/* One reader over one input; the parser's walk owns it. */
struct yreader {
	yaml_parser_t yp;
	yaml_event_t ev; /* the event being looked at, when have_ev */
	bool have_ev;
	int depth;
	const char *buf; /* the input, to place reader errors */
	size_t len;
	size_t str_max; /* bytes in any scalar */
	int depth_max;	/* nested mappings and sequences */
	struct avm_diag *d;
};

/* Sets up r to read len bytes at buf into diagnostic d. */
void yreader_init(struct yreader *r, const char *buf, size_t len,
		  size_t str_max, int depth_max, struct avm_diag *d);

/*
 * Runs one pass over the whole input: a fresh libyaml parser, pass(r,
 * arg), then the parser and the last event freed.  Returns what pass
 * returns (0, or -1 with errno and r->d filled), or -1 with errno ENOMEM
 * when libyaml cannot start.
 */
int yreader_run(struct yreader *r, int (*pass)(struct yreader *, void *),
		void *arg);

/*
 * A pass that checks only the form of the stream: syntax, anchors,
 * aliases, tags, nesting, lengths, and exactly one document.  Run it
 * first, so that a syntax error anywhere is reported before a complaint
 * about content it may have caused.  Returns 0, or -1 with errno EINVAL.
 */
int yreader_check_form(struct yreader *r, void *arg);

/*
 * Moves to the next event (r->ev) and applies the checks that hold
 * everywhere.  Returns 0, or -1 with errno EINVAL (ENOMEM) and the
 * diagnostic filled.
 */
int yreader_next(struct yreader *r);

/* Consumes the mapping or sequence that starts at r->ev.  Returns 0, or
 * -1 as yreader_next. */
int yreader_skip(struct yreader *r);

/* Fills the diagnostic at mark m.  Returns -1 with errno EINVAL. */
int yreader_err(struct yreader *r, yaml_mark_t m, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Fills the diagnostic with "out of memory".  Returns -1, errno ENOMEM. */
int yreader_nomem(struct yreader *r);

/*
 * "expected WANT for 'PATH', found a sequence" (PATH "" is the top
 * level), at mark at.  Returns -1 with errno EINVAL.
 */
int yreader_wrong_kind(struct yreader *r, yaml_mark_t at, const char *want,
		       const char *path);

/* Whether a scalar event is YAML's null (empty, ~, null: plain only). */
bool yreader_is_null(const yaml_event_t *e);

/* "a mapping", "a sequence", "a scalar", "an empty value", "nothing". */
const char *yreader_kind(const yaml_event_t *e);

/*
 * The start of a pass over the one document: reads up to the start of
 * its top-level mapping (r->ev is MAPPING_START then) and sets *at to
 * where it is.  Returns 0, or -1 with the error set ("expected a
 * mapping" for a document that is something else).
 */
int yreader_top_mapping(struct yreader *r, yaml_mark_t *at);

/*
 * Where the value at r->ev is.  An empty plain scalar has no place of
 * its own (libyaml puts it at the next token, often on the next line),
 * so it borrows its key's, key_at.
 */
yaml_mark_t yreader_value_mark(const struct yreader *r, yaml_mark_t key_at);

/* A mark's 0-based line or column as the 1-based number messages use. */
int yreader_pos(size_t v);

/*
 * A string from the file, fit to quote in a message: cut at 40 bytes,
 * control bytes shown as '?', so a diagnostic stays one short line.
 * size must be at least 8.  Returns buf.
 */
const char *yreader_quote(const char *s, char *buf, size_t size);

/* Fills d: line and col (0: no place) and the message. */
void yreader_diag(struct avm_diag *d, int line, int col, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif
