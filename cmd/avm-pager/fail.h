/*
 * Ending avm-pager: one message, one exit status, and a hook that tells
 * the peers and the client why before the process goes.
 */
#ifndef AVM_PAGER_FAIL_H
#define AVM_PAGER_FAIL_H

/* Logs the message, runs the hook with it, exits with status. */
void pager_fail(int status, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));

/* Runs the hook with NULL (an orderly end), exits with status. */
void pager_exit(int status) __attribute__((noreturn));

/* What to do on the way out: msg is the failure, or NULL. */
void fail_set_hook(void (*hook)(void *ctx, const char *msg), void *ctx);

#endif
