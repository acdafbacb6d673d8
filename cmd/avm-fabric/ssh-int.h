/*
 * Inside avm-fabric's ssh client (ssh.c: sessions and commands; sftp.c:
 * files): what the two share and nobody else uses.
 */
#ifndef AVM_FABRIC_SSH_INT_H
#define AVM_FABRIC_SSH_INT_H

#include "ssh.h"

/* Records why the connection failed, for its caller's message. */
void ssh_fail(struct ssh_conn *c, enum ssh_fail why, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* libssh2's own words for its last error, or "unknown error". */
const char *ssh_last(struct ssh_conn *c);
/* Waits for the socket in the direction libssh2 asks for; 0 to try
 * again, -1 (the error set) once the deadline passed. */
int ssh_wait(struct ssh_conn *c, const char *what);

/* rc = call, again while libssh2 would block and the deadline allows. */
#define SSH_RETRY(c, rc, what, call)                              \
	do {                                                      \
		while (((rc) = (call)) == LIBSSH2_ERROR_EAGAIN) { \
			if (ssh_wait((c), (what)) < 0)            \
				break;                            \
		}                                                 \
	} while (0)

#endif
