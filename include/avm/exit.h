/*
 * The exit statuses of every tool, in one table: each tool's --help
 * prints its rows (exit_usage), its man page lists the same statuses
 * under EXIT STATUS, and `make check-exits` (scripts/check-exits.sh)
 * fails when the table, the --help text, the man pages or the AVM_EX_*
 * names a tool's code uses drift apart.
 */
#ifndef AVM_EXIT_H
#define AVM_EXIT_H

#include <stdio.h>

/* Exit statuses (sysexits classes). */
enum avm_exit {
	AVM_EX_OK = 0,
	AVM_EX_FAIL = 1,	 /* other failure */
	AVM_EX_USAGE = 64,	 /* bad command line */
	AVM_EX_DATAERR = 65,	 /* bad input data */
	AVM_EX_NOINPUT = 66,	 /* input file missing or unreadable */
	AVM_EX_UNAVAILABLE = 69, /* no KVM, peer unreachable, missing need */
	AVM_EX_SOFTWARE = 70,	 /* internal error */
	AVM_EX_OSERR = 71,	 /* system call failed */
	AVM_EX_CANTCREAT = 73,	 /* cannot create an output file/socket */
	AVM_EX_TEMPFAIL = 75,	 /* try again later */
	AVM_EX_NOPERM = 77,	 /* permission denied */
	AVM_EX_CONFIG = 78,	 /* bad configuration */
};

/* A row's status for "whatever value the guest wrote" (avm-run). */
#define AVM_EX_GUEST (-1)
/* Stopped by signal N: 128 + N. */
#define AVM_EX_SIGNAL(n) (128 + (n))

/* One row: tool may exit with status, for the reason text. */
struct exit_row {
	const char *tool;
	int status;
	const char *text;
};

/*
 * Prints "exit status:" and tool's rows, one a line ("  64   bad command
 * line"), on f.  Returns 0, or -1 with errno EINVAL (tool has no rows) or
 * the write's error.
 */
int exit_usage(FILE *f, const char *tool);

/* 1 when the table lets tool exit with status, else 0. */
int exit_listed(const char *tool, int status);

/* The rows of every tool, and how many; for tests. */
const struct exit_row *exit_rows(size_t *n);

/* The status's class name ("usage", "config"), or "unknown". */
const char *avm_exit_name(int status);

#endif
