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
