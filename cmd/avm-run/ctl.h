/*
 * run.sock, the control socket of a running avm-run: status, pause,
 * resume, stop.  Frames of man/avm-wire.7 (HELLO with role "control",
 * then CTL_COMMAND requests answered by CTL_RESULT); the socket is 0600
 * and a peer whose SO_PEERCRED uid is neither ours nor root is closed.
 */
#ifndef AVM_RUN_CTL_H
#define AVM_RUN_CTL_H

#include <stdint.h>
#include <stdio.h>

#include "avm/wire.h"

struct vm;
struct ctl;

/*
 * The control verbs: one table for the command line, its help and the
 * server.  On the wire a verb is its name, with "-json" appended when
 * the client asked for JSON (json verbs only).
 */
struct ctl_verb {
	const char *name;
	const char *help;
	int json; /* answers in JSON on request */
	/* Runs the verb in the VM; returns 0 or a wire error code (err). */
	uint32_t (*serve)(struct vm *, int json, FILE *out,
			  struct wire_error *err);
};

/* The verbs, in help order, and how many. */
const struct ctl_verb *ctl_verbs(size_t *n);
/* The verb of that exact name, or NULL. */
const struct ctl_verb *ctl_verb_find(const char *name);

/* Listens on path and serves it from a thread until ctl_stop.  Returns
 * the server, or NULL with errno (EADDRINUSE: another avm-run serves the
 * path). */
struct ctl *ctl_start(struct vm *, const char *path);
void ctl_stop(struct ctl *);

/*
 * The client side, for `avm-run VERB`: connects to path, sends verb (as
 * JSON when json and the verb can), writes the result to out.  Returns an
 * exit status (sysexits), with a message in err on failure.
 */
int ctl_call(const char *path, const char *vm, const struct ctl_verb *verb,
	     int json, FILE *out, char *err, size_t errlen);

#endif
