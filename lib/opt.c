/* Options from one table; see include/avm/opt.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "avm/opt.h"

/* Column where the help text starts. */
#define OPT_HELP_COL 23

static int
opt_has_short(const struct opt *o)
{
	return o->key > ' ' && o->key < 127;
}

int
opt_parser_init(struct opt_parser *p, const struct opt *opts, size_t n)
{
	char *s;
	size_t i;

	if (n > OPT_MAX) {
		errno = EINVAL;
		return -1;
	}
	memset(p, 0, sizeof(*p));
	p->opts = opts;
	p->n = n;
	/* ':' first: a missing argument is ':', not '?'. */
	s = p->shortopts;
	*s++ = ':';
	for (i = 0; i < n; i++) {
		p->longopts[i].name = opts[i].name;
		p->longopts[i].has_arg =
			opts[i].arg ? required_argument : no_argument;
		p->longopts[i].val = opts[i].key;
		if (!opt_has_short(&opts[i]))
			continue;
		*s++ = (char)opts[i].key;
		if (opts[i].arg)
			*s++ = ':';
	}
	*s = '\0';
	return 0;
}

int
opt_parser_next(struct opt_parser *p, int argc, char **argv)
{
	/* The word getopt looks at, to name it in an error (optind 0:
	 * getopt starts over, at 1). */
	int at = optind ? optind : 1;
	const char *word = at < argc ? argv[at] : "";
	int len = (int)strcspn(word, "=");
	int c;

	opterr = 0;
	c = getopt_long(argc, argv, p->shortopts, p->longopts, NULL);
	if (c == ':') {
		if (strncmp(word, "--", 2) == 0)
			snprintf(p->error, sizeof(p->error),
				 "option '%.*s' needs an argument", len, word);
		else
			snprintf(p->error, sizeof(p->error),
				 "option '-%c' needs an argument", optopt);
		return '?';
	}
	if (c == '?') {
		if (strncmp(word, "--", 2) != 0)
			snprintf(p->error, sizeof(p->error),
				 "unknown option '-%c'", optopt);
		else if (optopt)
			snprintf(p->error, sizeof(p->error),
				 "option '%.*s' takes no argument", len, word);
		else
			snprintf(p->error, sizeof(p->error),
				 "unknown option '%.*s'", len, word);
		return '?';
	}
	return c;
}

int
opt_help(FILE *f, const struct opt *opts, size_t n)
{
	const char *line, *nl;
	size_t i;
	int col;

	for (i = 0; i < n; i++) {
		if (!opts[i].help)
			continue;
		if (opt_has_short(&opts[i]))
			col = fprintf(f, "  -%c, --%s", opts[i].key,
				      opts[i].name);
		else
			col = fprintf(f, "      --%s", opts[i].name);
		if (opts[i].arg)
			col += fprintf(f, " %s", opts[i].arg);
		for (line = opts[i].help; line; line = nl ? nl + 1 : NULL) {
			nl = strchr(line, '\n');
			if (col >= OPT_HELP_COL - 1) {
				fputc('\n', f);
				col = 0;
			}
			fprintf(f, "%*s%.*s\n", OPT_HELP_COL - col, "",
				nl ? (int)(nl - line) : (int)strlen(line),
				line);
			col = 0;
		}
	}
	return ferror(f) ? -1 : 0;
}

static const struct opt_verb *
verb_at(const void *table, size_t i, size_t stride)
{
	return (const struct opt_verb *)((const char *)table + i * stride);
}

int
opt_verb_help(FILE *f, const void *table, size_t n, size_t stride)
{
	const struct opt_verb *v;
	const char *h, *nl;
	char word[64];
	size_t i;

	for (i = 0; i < n; i++) {
		v = verb_at(table, i, stride);
		snprintf(word, sizeof(word), "%s %s", v->name, v->args);
		/* A long name and arguments get a line of their own. */
		if (strlen(word) > 18 && fprintf(f, "  %s\n", word) < 0)
			return -1;
		if (strlen(word) > 18)
			word[0] = '\0';
		for (h = v->help; h; h = nl ? nl + 1 : NULL) {
			nl = strchr(h, '\n');
			if (fprintf(f, "  %-19s%.*s\n",
				    h == v->help ? word : "",
				    nl ? (int)(nl - h) : (int)strlen(h), h) < 0)
				return -1;
		}
	}
	return 0;
}

long
opt_verb_find(const void *table, size_t n, size_t stride, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(verb_at(table, i, stride)->name, name) == 0)
			return (long)i;
	return -1;
}

const char *
opt_verb_names(const void *table, size_t n, size_t stride, char *buf,
	       size_t len)
{
	size_t i, k = 0;
	int w;

	if (len)
		buf[0] = '\0';
	for (i = 0; i < n && k < len; i++) {
		w = snprintf(buf + k, len - k, "%s%s", i ? ", " : "",
			     verb_at(table, i, stride)->name);
		if (w < 0)
			break;
		k += (size_t)w;
	}
	return buf;
}
