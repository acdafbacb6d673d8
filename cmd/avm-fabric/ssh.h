/*
 * avm-fabric's ssh client on libssh2: one connection to one host, every
 * step (connect, handshake, host key, authentication, each command) under
 * one deadline, so that a host that hangs cannot hold the tool.  One
 * struct ssh_conn belongs to one thread; hosts are reached in parallel by
 * giving each its own thread and connection.
 */
#ifndef AVM_FABRIC_SSH_H
#define AVM_FABRIC_SSH_H

#include <stddef.h>
#include <stdint.h>

#include <libssh2.h>
#include <libssh2_sftp.h>

/* Why a step failed, in the classes the tool's exit status follows. */
enum ssh_fail {
	SSH_OK,
	SSH_UNREACHABLE, /* resolve, connect, handshake, deadline, channel */
	SSH_REFUSED,	 /* host key unknown or changed, authentication */
	SSH_CANTWRITE,	 /* an SFTP write, rename or removal the host refused */
};

/* Who to reach and how; the strings must outlive the connection. */
struct ssh_target {
	const char *host;    /* the name in messages, also looked up in
			      * known_hosts when the address is not there */
	const char *address; /* what to connect to */
	unsigned port;
	const char *user;
	const char *key; /* a private key file; NULL: agent, default keys */
};

/* What every connection shares. */
struct ssh_opts {
	const char *known_hosts; /* file of accepted host keys */
	int accept_new;		 /* take an unknown host key, with a warning */
	uint64_t deadline;	 /* now_ns() time every step must end by */
	const char *tag;	 /* the host's name in warnings */
};

struct ssh_conn {
	int fd;
	LIBSSH2_SESSION *s;
	LIBSSH2_SFTP *sftp; /* started by the first SFTP call */
	uint64_t deadline;
	enum ssh_fail fail;
	char error[512]; /* why the last step failed, lowercase */
};

/* One command's outcome. */
struct ssh_result {
	int exit_status; /* -1 when it ended by a signal */
	char signal[32]; /* its name without "SIG", when it did */
	char *out, *err; /* NUL-terminated, at most SSH_OUTPUT_MAX bytes */
	size_t out_len, err_len;
	int truncated; /* more output came and was dropped */
};

#define SSH_OUTPUT_MAX (1u << 20)

/*
 * Once before any thread uses libssh2.  Returns 0, or -1 when libssh2
 * cannot start.
 */
int ssh_global_init(void);
void ssh_global_release(void);

/*
 * Connects to t, checks its host key against o->known_hosts and
 * authenticates.  Returns 0, or -1 with c->fail and c->error set (c must
 * still be closed with ssh_close()).
 */
int ssh_open(struct ssh_conn *c, const struct ssh_target *t,
	     const struct ssh_opts *o);

/*
 * Runs cmd (a line for the remote user's shell) and collects its stdout,
 * stderr and exit status into *r.  Returns 0 when the command ran to its
 * end (whatever its status), or -1 with c->fail and c->error set.  *r is
 * to be released with ssh_result_release() either way.
 */
int ssh_run(struct ssh_conn *c, const char *cmd, struct ssh_result *r);

void ssh_result_release(struct ssh_result *r);

/*
 * A command that runs while we do other things (a server on the host):
 * started, read a line at a time, then finished.  The connection's
 * deadline (c->deadline, which the caller may move) bounds every step.
 */
struct ssh_cmd {
	struct ssh_conn *c;
	LIBSSH2_CHANNEL *ch;
	struct ssh_result r; /* what came so far; the status once finished */
	size_t out_seen;     /* bytes of r.out handed out as lines */
	int ended;	     /* its output ended */
};

/* Starts cmd.  Returns 0, or -1 with c->fail and c->error set (x must
 * still be dropped, and x->r released). */
int ssh_cmd_start(struct ssh_conn *c, const char *cmd, struct ssh_cmd *x);
/* The next line of its stdout, without the newline (cut to len - 1).
 * Returns 0, or -1: x->ended when its output ended first, else with
 * c->fail and c->error set. */
int ssh_cmd_line(struct ssh_cmd *x, char *buf, size_t len);
/*
 * Reads what the command has for us now, without waiting, onto x->r.out
 * and x->r.err (a caller that streams them may consume from the front
 * and shorten them).  Returns 1 when something came, 0 when nothing did,
 * 2 at the end of its output, or -1 with c->fail and c->error set.
 */
int ssh_cmd_pump(struct ssh_cmd *x);
/* Closes its stdin, reads the rest of its output and its exit status
 * into x->r, closes the channel.  Returns 0, or -1 with the error set. */
int ssh_cmd_finish(struct ssh_cmd *x);
/* Lets go of the channel without waiting (after a failure). */
void ssh_cmd_drop(struct ssh_cmd *x);

/*
 * SFTP on an open connection.  Paths are the server's: a relative one
 * starts in the remote user's home directory.  Each returns 0, or -1 with
 * c->fail and c->error set (SSH_CANTWRITE naming the path when the host
 * refused the operation itself, SSH_UNREACHABLE when the connection or
 * the deadline failed).
 */

/* Creates dir and its missing parents with mode (an existing one is
 * left as it is). */
int ssh_sftp_mkdirs(struct ssh_conn *c, const char *dir, long mode);

/*
 * Writes len bytes of data to path: first to a new file of the given
 * mode with a temporary name in path's directory, then renamed over path,
 * so that the host never sees part of the file.  Without an atomic
 * rename on the server, an old path is removed just before the rename.
 */
int ssh_sftp_put(struct ssh_conn *c, const char *path, const void *data,
		 size_t len, long mode);

/* Removes a file (rmdir: an empty directory); *gone is 1 when it was
 * there, 0 when it was not (not an error).  A directory that is not
 * empty is left, with *gone 0. */
int ssh_sftp_unlink(struct ssh_conn *c, const char *path, int *gone);
int ssh_sftp_rmdir(struct ssh_conn *c, const char *path, int *gone);

/* Says goodbye (without waiting past the deadline) and frees c. */
void ssh_close(struct ssh_conn *c);

/*
 * Writes s into buf as one word for a POSIX shell (single quotes).
 * Returns 0, or -1 with errno ENAMETOOLONG when it does not fit.
 */
int ssh_quote(const char *s, char *buf, size_t len);

#endif
