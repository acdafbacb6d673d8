/* Small helpers every tool uses: sizes, run directory, safe I/O. */
#ifndef AVM_UTIL_H
#define AVM_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#define AVM_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/*
 * Parses a size: digits with an optional unit K, M, G, T, P, E (also KiB,
 * MiB, ..., and lower case), binary multiples, no unit = bytes.
 * Returns 0, or -1 with errno EINVAL (not a size) or ERANGE (overflow).
 */
int size_parse(const char *s, uint64_t *out);

/*
 * Writes the shortest exact form of n ("1G", "1536M", "4097") into buf.
 * Returns buf.
 */
char *size_format(uint64_t n, char *buf, size_t len);

/*
 * Parses a decimal unsigned integer in [min, max], whole string.
 * Returns 0, or -1 with errno EINVAL or ERANGE.
 */
int uint_parse(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/*
 * The run directory: $AVM_RUNDIR, else /run/avm as root, else
 * $XDG_RUNTIME_DIR/avm.  Returns 0, or -1 with errno ENOENT when none can
 * be named, ENAMETOOLONG when it does not fit.
 */
int avm_rundir(char *buf, size_t len);

/*
 * Reads a whole small file (sysfs, procfs) into buf, NUL-terminated, the
 * trailing newline removed.  Returns the length, or -1 with errno.
 */
ssize_t read_file_str(const char *path, char *buf, size_t len);

/* Reads a file holding one integer.  Returns 0, or -1 with errno. */
int read_file_i64(const char *path, int64_t *out);

/* write(2)/read(2) of exactly len bytes, retrying on EINTR and short
 * counts.  Return 0, or -1 with errno (read: EPIPE at end of file). */
int write_full(int fd, const void *buf, size_t len);
int read_full(int fd, void *buf, size_t len);

struct sockaddr_storage;

/*
 * Resolves "ADDR:PORT" (a name, an IPv4 address, or an IPv6 one in
 * brackets; a numeric port) for a TCP socket.  len bytes of s are read
 * (the whole string when len is 0).  Returns 0, or -1 with errno EINVAL
 * (no port, too long) or ENOENT (the name does not resolve).
 */
int addr_parse(const char *s, size_t len, struct sockaddr_storage *sa,
	       unsigned *salen);

/*
 * A directory AVM may keep sockets, secrets and stats in: made (mode
 * 0700, parents too) when missing; then it must be a directory, not a
 * symbolic link, owned by this user, and not writable by group or
 * others, or another user could plant or swap files in it.  Returns 0,
 * or -1 with errno EPERM (not ours, or others may write), ENOTDIR, or
 * mkdir/lstat's errno, and why (whylen bytes) saying what and the fix.
 */
int avm_trusted_dir(const char *path, char *why, size_t whylen);

/* The folder of path into buf: "." for a bare name, "/" for one at the
 * root (cut to len - 1). */
void avm_dirname(const char *path, char *buf, size_t len);

/*
 * Removes the entries of folder dir whose names match (match(name, arg)
 * returns 1), not following links.  Returns how many went; a folder that
 * cannot be read removes nothing.
 */
int avm_remove_if(const char *dir, int (*match)(const char *name, void *arg),
		  void *arg);

/*
 * Writes len bytes of data to path as a whole or not at all: a new file
 * of the given mode beside it (O_EXCL, not following links), synced when
 * sync (a file that must outlive a crash; a stats copy need not, and an
 * event loop must not wait on a disk), then renamed over path.  Returns
 * 0, or -1 with errno (the temporary file is gone then).
 */
int avm_write_file(const char *path, const void *data, size_t len, mode_t mode,
		   int sync);

/*
 * Reads the whole file at path, at most max bytes, into *out (malloc'd,
 * *outlen bytes); oflags are added to O_RDONLY|O_CLOEXEC (O_NOFOLLOW,
 * O_NONBLOCK...).  Returns 0, or -1 with errno (EFBIG past max, or
 * open/read's); nothing is left allocated then.
 */
int avm_read_file(const char *path, size_t max, int oflags, char **out,
		  size_t *outlen);

/*
 * The same from an open fd, read to its end (the caller closes it): for
 * a file whose fstat(2) the caller checked first.  Returns 0, or -1 with
 * errno (EFBIG past max, or read's).
 */
int avm_read_fd(int fd, size_t max, char **out, size_t *outlen);

/*
 * Takes an exclusive flock(2) on path (created 0600, never through a
 * symbolic link), held until the returned fd is closed: one process of
 * a kind per folder.  Returns the fd, or -1 with errno EWOULDBLOCK
 * (another holds it) or open/flock's errno.
 */
int avm_lock_file(const char *path);

/*
 * A socket address as text for messages: "1.2.3.4:5", "[::1]:5", or
 * "local" for a unix socket; "?" when it cannot be printed.
 */
void sockaddr_text(const struct sockaddr *sa, socklen_t len, char *buf,
		   size_t buflen);

/* Monotonic clock in nanoseconds. */
uint64_t now_ns(void);
/* CLOCK_REALTIME in ns: the wall clock, comparable between processes. */
uint64_t wall_ns(void);

/*
 * Writes a reason into why (when why and whylen) and returns err: the
 * "return avm_why(why, len, -EPROTO, ...)" of checkers that say why.
 */
int avm_why(char *why, size_t whylen, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* Milliseconds from now to deadline (now_ns() time), rounded up, for
 * poll(2); 0 once it has passed, INT_MAX at most. */
int deadline_ms(uint64_t deadline);

#endif
