/*
 * Unit tests of lib/opt.c: options from one table parse as getopt_long
 * would, errors come back with the words the tools print, and the help
 * lists every option that has help, aligned.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "avm/opt.h"
#include "tap.h"

enum { O_LONG = 256, O_HIDDEN };

static const struct opt opts[] = {
	{ "kernel", 'k', "FILE", "the kernel" },
	{ "verbose", 'v', NULL, "more" },
	{ "long-only", O_LONG, "N", "first line\nsecond line" },
	{ "hidden", O_HIDDEN, "X", NULL },
	{ "a-very-long-option-name", 'L', "ARGUMENT", "wraps" },
};

/* Parses argv (NULL-terminated); returns the keys as a string, '?'
 * with the error in err. */
static void
parse(char **argv, char *keys, char *err)
{
	struct opt_parser p;
	int argc = 0, c;

	while (argv[argc])
		argc++;
	optind = 0;
	opt_parser_init(&p, opts, sizeof(opts) / sizeof(opts[0]));
	*err = '\0';
	while ((c = opt_parser_next(&p, argc, argv)) != -1) {
		*keys++ = c > 255 ? (char)('0' + c - 256) : (char)c;
		if (c == '?')
			strcpy(err, p.error);
	}
	*keys = '\0';
}

#define ARGV(...) ((char *[]){ "prog", __VA_ARGS__, NULL })

int
main(void)
{
	char keys[32], err[200], *buf = NULL;
	size_t len = 0;
	FILE *f;

	parse(ARGV("-k", "x", "--verbose", "--long-only=3", "--hidden", "y"),
	      keys, err);
	is_str(keys, "kv01", "short, long, long-only and hidden options");
	parse(ARGV("--frob"), keys, err);
	is_str(err, "unknown option '--frob'", "unknown long option");
	parse(ARGV("-Z"), keys, err);
	is_str(err, "unknown option '-Z'", "unknown short option");
	parse(ARGV("--kernel"), keys, err);
	is_str(err, "option '--kernel' needs an argument", "missing long arg");
	parse(ARGV("-k"), keys, err);
	is_str(err, "option '-k' needs an argument", "missing short arg");
	parse(ARGV("--verbose=2"), keys, err);
	is_str(err, "option '--verbose' takes no argument", "unexpected arg");

	f = open_memstream(&buf, &len);
	ok(opt_help(f, opts, sizeof(opts) / sizeof(opts[0])) == 0, "help");
	fclose(f);
	is_str(buf,
	       "  -k, --kernel FILE    the kernel\n"
	       "  -v, --verbose        more\n"
	       "      --long-only N    first line\n"
	       "                       second line\n"
	       "  -L, --a-very-long-option-name ARGUMENT\n"
	       "                       wraps\n",
	       "help: aligned, internal options left out");
	free(buf);
	{
		/* A tool's verb table: struct opt_verb first, then its own. */
		static const struct {
			struct opt_verb v;
			int tag;
		} verbs[] = {
			{ { "check", "FILE", "look\nand see" }, 1 },
			{ { "launch", "FILE [-- ARGS]", "start it" }, 2 },
		};
		char names[64];

		f = open_memstream(&buf, &len);
		ok(opt_verb_help(f, verbs, 2, sizeof(verbs[0])) == 0,
		   "verb help");
		fclose(f);
		is_str(buf,
		       "  check FILE         look\n"
		       "                     and see\n"
		       "  launch FILE [-- ARGS]\n"
		       "                     start it\n",
		       "verb help: aligned, a long usage on its own line");
		free(buf);
		ok(opt_verb_find(verbs, 2, sizeof(verbs[0]), "launch") == 1 &&
			   verbs[1].tag == 2,
		   "verb found by name, past the tool's own fields");
		ok(opt_verb_find(verbs, 2, sizeof(verbs[0]), "laun") == -1,
		   "verb names match exactly");
		is_str(opt_verb_names(verbs, 2, sizeof(verbs[0]), names,
				      sizeof(names)),
		       "check, launch", "verb names for a message");
		is_str(opt_verb_names(verbs, 2, sizeof(verbs[0]), names, 8),
		       "check, ", "verb names cut to the buffer");
	}
	{
		struct opt many[OPT_MAX + 1];
		struct opt_parser p;

		memset(many, 0, sizeof(many));
		ok(opt_parser_init(&p, many, OPT_MAX + 1) == -1,
		   "more than OPT_MAX options is refused");
	}
	return done_testing();
}
