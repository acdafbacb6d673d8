/*
 * Command-line options from one table that is also the help: each tool
 * declares its options once (name, short letter, argument, help text),
 * parses with opt_parser_next() (getopt_long underneath) and prints its
 * option list with opt_help().  Nothing here prints an error: a bad
 * option comes back as '?' with the message in the parser, for the tool
 * to say in its own tagged words.
 */
#ifndef AVM_OPT_H
#define AVM_OPT_H

#include <getopt.h>
#include <stddef.h>
#include <stdio.h>

/* Most options one table may hold. */
#define OPT_MAX 40

struct opt {
	const char *name; /* the long name, without "--" */
	int key;	  /* a short letter, or 256 and up: long only */
	const char *arg;  /* the argument's name in the help; NULL: none */
	const char *help; /* lines of help, '\n' between; NULL: internal */
};

struct opt_parser {
	const struct opt *opts;
	size_t n;
	struct option longopts[OPT_MAX + 1];
	char shortopts[3 * OPT_MAX + 2];
	char error[160]; /* why the last '?' */
};

/*
 * Readies p for the n options of opts (which must outlive p).  Returns 0,
 * or -1 with errno EINVAL when n is over OPT_MAX.
 */
int opt_parser_init(struct opt_parser *p, const struct opt *opts, size_t n);

/*
 * The next option's key (optarg holds its argument), -1 after the last
 * one (optind is then the first operand), or '?' for an unknown option,
 * a missing or unexpected argument, with the reason in p->error
 * ("unknown option '--frob'").
 */
int opt_parser_next(struct opt_parser *p, int argc, char **argv);

/*
 * Writes one entry per option that has help, in table order:
 * "  -k, --kernel FILE    text", text lines aligned.  Returns 0, or -1
 * with the write's errno.
 */
int opt_help(FILE *f, const struct opt *opts, size_t n);

/*
 * A tool with verbs ("avm-fabric up FILE") declares them in one table
 * that is also its usage.  Each entry of the tool's table starts with a
 * struct opt_verb (the tool adds what runs the verb after it); the
 * functions below walk such a table of n entries, stride bytes apart.
 */
struct opt_verb {
	const char *name; /* matched exactly */
	const char *args; /* "FILE" */
	const char *help; /* lines of help, '\n' between */
};

/* "  NAME ARGS          text", text lines aligned, for each verb.
 * Returns 0, or -1 with the write's errno. */
int opt_verb_help(FILE *f, const void *table, size_t n, size_t stride);

/* The index of the verb called name, or -1. */
long opt_verb_find(const void *table, size_t n, size_t stride,
		   const char *name);

/* "check, up, down": the verbs' names for a message, into buf (cut to
 * len - 1); returns buf. */
const char *opt_verb_names(const void *table, size_t n, size_t stride,
			   char *buf, size_t len);

#endif
