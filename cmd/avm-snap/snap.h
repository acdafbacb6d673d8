/*
 * avm-snap's insides: the options every verb sees, and what the verb
 * files (inspect.c) share with main.c, which parses the command line and
 * runs the verb from its table.
 */
#ifndef AVM_SNAP_H
#define AVM_SNAP_H

#define PROG "avm-snap"

struct snapcmd {
	int json;
	int verbose;
	int verify;	  /* inspect --verify */
	int ignore_disks; /* inspect --ignore-disks */
};

/* Prints the usage line on stderr and exits 64. */
void usage_error(void) __attribute__((noreturn));

int verb_inspect(struct snapcmd *c, int argc, char **argv);

#endif
