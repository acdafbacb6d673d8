/*
 * avm-snap: snapshots of a whole aggregated VM (DESIGN.md, "Snapshots").
 * Verbs come from one table that is also the usage.  Today there is
 * one, inspect: what a snapshot file holds, and with --verify whether
 * every byte of it is sound and its disk images are as they were saved.
 * Saving and restoring need the VM side (avm-run and the pagers) and are
 * not built yet; the file format they will write and read is
 * lib/snapfile.c, man/avm-snap.5.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "avm/exit.h"
#include "avm/log.h"
#include "avm/opt.h"
#include "avm/util.h"
#include "snap.h"

static const char usage_line[] =
	"usage: " PROG " [-hjVv] [--verify [--ignore-disks]] verb FILE\n";

enum {
	OPT_HELP = 'h',
	OPT_VERSION = 'V',
	OPT_VERBOSE = 'v',
	OPT_JSON = 'j',
	OPT_VERIFY = 256,
	OPT_IGNORE_DISKS,
};

static const struct opt opts[] = {
	{ "help", OPT_HELP, NULL, "print this help and exit" },
	{ "version", OPT_VERSION, NULL, "print the version and exit" },
	{ "verbose", OPT_VERBOSE, NULL,
	  "say on stderr how much of the file was\n"
	  "read" },
	{ "json", OPT_JSON, NULL, "print one JSON document" },
	{ "verify", OPT_VERIFY, NULL,
	  "inspect: read every byte and check every\n"
	  "CRC32; the first bad chunk is named; then\n"
	  "that each disk image is as saved (its size\n"
	  "and modification time)" },
	{ "ignore-disks", OPT_IGNORE_DISKS, NULL,
	  "inspect --verify: do not look at the disk\n"
	  "images, only at the snapshot's bytes" },
};

struct verb {
	struct opt_verb v;
	int (*run)(struct snapcmd *c, int argc, char **argv);
};

static const struct verb verbs[] = {
	{ { "inspect", "FILE",
	    "print what a snapshot holds: format version, VM,\n"
	    "vCPUs, nodes, disks, memory, each section's\n"
	    "sizes" },
	  verb_inspect },
};

static void
help(void)
{
	fputs(usage_line, stdout);
	fputs("\nverbs:\n", stdout);
	opt_verb_help(stdout, verbs, AVM_ARRAY_SIZE(verbs), sizeof(verbs[0]));
	fputs("\noptions:\n", stdout);
	opt_help(stdout, opts, AVM_ARRAY_SIZE(opts));
	exit_usage(stdout, PROG);
}

/* The verbs' names, for messages. */
static const char *
verb_names(char *buf, size_t len)
{
	return opt_verb_names(verbs, AVM_ARRAY_SIZE(verbs), sizeof(verbs[0]),
			      buf, len);
}

void
usage_error(void)
{
	fputs(usage_line, stderr);
	exit(AVM_EX_USAGE);
}

int
main(int argc, char **argv)
{
	struct snapcmd c = { 0 };
	struct opt_parser p;
	char names[256];
	int k;

	log_init(PROG, -1, 1);
	if (opt_parser_init(&p, opts, AVM_ARRAY_SIZE(opts)) < 0)
		log_die(AVM_EX_SOFTWARE, "option table: %s", strerror(errno));
	while ((k = opt_parser_next(&p, argc, argv)) != -1) {
		switch (k) {
		case OPT_HELP:
			help();
			if (fflush(stdout) != 0 || ferror(stdout))
				log_die(AVM_EX_FAIL, "write output: %s",
					strerror(errno));
			return AVM_EX_OK;
		case OPT_VERSION:
			printf("%s %s\n", PROG, AVM_VERSION);
			return AVM_EX_OK;
		case OPT_VERBOSE:
			c.verbose = 1;
			break;
		case OPT_JSON:
			c.json = 1;
			break;
		case OPT_VERIFY:
			c.verify = 1;
			break;
		case OPT_IGNORE_DISKS:
			c.ignore_disks = 1;
			break;
		default:
			log_err("%s", p.error);
			usage_error();
		}
	}
	if (c.ignore_disks && !c.verify) {
		log_err("--ignore-disks goes with --verify (it skips the "
			"check of the disk images)");
		usage_error();
	}
	if (optind >= argc) {
		log_err("no verb (%s)", verb_names(names, sizeof(names)));
		usage_error();
	}
	k = opt_verb_find(verbs, AVM_ARRAY_SIZE(verbs), sizeof(verbs[0]),
			  argv[optind]);
	if (k < 0) {
		log_err("unknown verb '%s' (%s)", argv[optind],
			verb_names(names, sizeof(names)));
		usage_error();
	}
	return verbs[k].run(&c, argc - optind - 1, argv + optind + 1);
}
