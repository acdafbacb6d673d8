/*
 * run.sock, the control socket of a running avm-run: status, pause,
 * resume, stop.  Frames of man/avm-wire.7 (HELLO with role "control",
 * then CTL_COMMAND requests answered by CTL_RESULT); the socket is 0600
 * and a peer whose SO_PEERCRED uid is neither ours nor root is closed.
 */
#ifndef AVM_RUN_CTL_H
#define AVM_RUN_CTL_H

#include <stdio.h>

struct vm;
struct ctl;

/* Listens on path and serves it from a thread until ctl_stop.  Returns
 * the server, or NULL with errno (EADDRINUSE: another avm-run serves the
 * path). */
struct ctl *ctl_start(struct vm *, const char *path);
void ctl_stop(struct ctl *);

/*
 * The client side, for `avm-run status|pause|resume|stop`: connects to
 * path, sends verb, writes the result to out.  Returns an exit status
 * (sysexits), with a message in err on failure.
 */
int ctl_call(const char *path, const char *vm, const char *verb, FILE *out,
	     char *err, size_t errlen);

#endif
