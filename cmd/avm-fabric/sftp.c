/* avm-fabric's SFTP on the ssh connection of ssh.c; see ssh.h. */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "avm/log.h"
#include "avm/util.h"
#include "ssh.h"
#include "ssh-int.h"

/* ---- SFTP ------------------------------------------------------------ */

/* The words for an SFTP status, as strerror(3) would say them. */
static const char *
sftp_strerror(unsigned long fx)
{
	switch (fx) {
	case LIBSSH2_FX_NO_SUCH_FILE:
	case LIBSSH2_FX_NO_SUCH_PATH:
		return "No such file or directory";
	case LIBSSH2_FX_PERMISSION_DENIED:
	case LIBSSH2_FX_WRITE_PROTECT:
		return "Permission denied";
	case LIBSSH2_FX_FILE_ALREADY_EXISTS:
		return "File exists";
	case LIBSSH2_FX_NO_SPACE_ON_FILESYSTEM:
	case LIBSSH2_FX_QUOTA_EXCEEDED:
		return "No space left on device";
	case LIBSSH2_FX_DIR_NOT_EMPTY:
		return "Directory not empty";
	case LIBSSH2_FX_NOT_A_DIRECTORY:
		return "Not a directory";
	case LIBSSH2_FX_OP_UNSUPPORTED:
		return "Operation not supported";
	default:
		return "Failure";
	}
}

/*
 * After an SFTP call answered rc (not EAGAIN): the server's refusal,
 * its status in *fx, is the host's (SSH_CANTWRITE, naming what and
 * path); anything else is the connection's.  Returns -1, or 0 when
 * rc was 0.
 */
static int
sftp_check(struct ssh_conn *c, int rc, const char *what, const char *path,
	   unsigned long *fx)
{
	if (fx)
		*fx = LIBSSH2_FX_OK;
	if (rc == 0)
		return 0;
	if (c->fail != SSH_OK)
		return -1;
	if (rc == LIBSSH2_ERROR_SFTP_PROTOCOL) {
		if (fx)
			*fx = libssh2_sftp_last_error(c->sftp);
		ssh_fail(c, SSH_CANTWRITE, "sftp: %s '%s': %s", what, path,
			 sftp_strerror(libssh2_sftp_last_error(c->sftp)));
	} else {
		ssh_fail(c, SSH_UNREACHABLE, "sftp: %s '%s': %s", what, path,
			 ssh_last(c));
	}
	return -1;
}

static int
sftp_start(struct ssh_conn *c)
{
	if (c->sftp)
		return 0;
	while (!(c->sftp = libssh2_sftp_init(c->s))) {
		if (libssh2_session_last_errno(c->s) != LIBSSH2_ERROR_EAGAIN) {
			ssh_fail(c, SSH_UNREACHABLE, "sftp: start: %s",
				 ssh_last(c));
			return -1;
		}
		if (ssh_wait(c, "sftp start") < 0)
			return -1;
	}
	return 0;
}

/* 1 when path is a directory, 0 when nothing is there, -1 otherwise. */
static int
sftp_isdir(struct ssh_conn *c, const char *path)
{
	LIBSSH2_SFTP_ATTRIBUTES a;
	unsigned long fx;
	int rc;

	SSH_RETRY(c, rc, "sftp stat",
		  libssh2_sftp_stat_ex(c->sftp, path, (unsigned)strlen(path),
				       LIBSSH2_SFTP_STAT, &a));
	if (sftp_check(c, rc, "stat", path, &fx) < 0) {
		if (fx == LIBSSH2_FX_NO_SUCH_FILE ||
		    fx == LIBSSH2_FX_NO_SUCH_PATH) {
			c->fail = SSH_OK;
			c->error[0] = '\0';
			return 0;
		}
		return -1;
	}
	if ((a.flags & LIBSSH2_SFTP_ATTR_PERMISSIONS) &&
	    !LIBSSH2_SFTP_S_ISDIR(a.permissions)) {
		ssh_fail(c, SSH_CANTWRITE, "sftp: '%s': Not a directory", path);
		return -1;
	}
	return 1;
}

int
ssh_sftp_mkdirs(struct ssh_conn *c, const char *dir, long mode)
{
	char path[4096];
	size_t i, n = strlen(dir);
	int rc;

	if (sftp_start(c) < 0)
		return -1;
	if (n == 0 || n >= sizeof(path)) {
		ssh_fail(c, SSH_CANTWRITE, "sftp: mkdir '%s': bad path", dir);
		return -1;
	}
	memcpy(path, dir, n + 1);
	/* Each prefix that ends before a '/' (and the whole), in order. */
	for (i = 1; i <= n; i++) {
		if (i < n && path[i] != '/')
			continue;
		if (path[i - 1] == '/')
			continue;
		path[i] = '\0';
		rc = sftp_isdir(c, path);
		if (rc < 0)
			return -1;
		if (rc == 0) {
			SSH_RETRY(c, rc, "sftp mkdir",
				  libssh2_sftp_mkdir_ex(c->sftp, path,
							(unsigned)strlen(path),
							mode));
			if (sftp_check(c, rc, "mkdir", path, NULL) < 0)
				return -1;
		}
		if (i < n)
			path[i] = '/';
	}
	return 0;
}

/* Writes all of data to the open handle h. */
static int
sftp_write_all(struct ssh_conn *c, LIBSSH2_SFTP_HANDLE *h, const char *path,
	       const void *data, size_t len)
{
	const char *p = data;
	ssize_t n;

	while (len > 0) {
		n = libssh2_sftp_write(h, p, len);
		if (n == LIBSSH2_ERROR_EAGAIN) {
			if (ssh_wait(c, "sftp write") < 0)
				return -1;
			continue;
		}
		if (n < 0)
			return sftp_check(c, (int)n, "write", path, NULL);
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
ssh_sftp_put(struct ssh_conn *c, const char *path, const void *data, size_t len,
	     long mode)
{
	LIBSSH2_SFTP_HANDLE *h;
	const char *base = strrchr(path, '/');
	unsigned char rnd[6];
	char tmp[4200];
	unsigned long fx;
	int rc, wrc;

	if (sftp_start(c) < 0)
		return -1;
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		ssh_fail(c, SSH_UNREACHABLE, "getrandom: %s", strerror(errno));
		return -1;
	}
	/* ".NAME.XXXXXXXXXXXX" beside path: hidden, and on its file system */
	snprintf(tmp, sizeof(tmp), "%.*s.%s.%02x%02x%02x%02x%02x%02x",
		 base ? (int)(base - path + 1) : 0, path,
		 base ? base + 1 : path, rnd[0], rnd[1], rnd[2], rnd[3], rnd[4],
		 rnd[5]);
	while (!(h = libssh2_sftp_open_ex(c->sftp, tmp, (unsigned)strlen(tmp),
					  LIBSSH2_FXF_WRITE |
						  LIBSSH2_FXF_CREAT |
						  LIBSSH2_FXF_EXCL,
					  mode, LIBSSH2_SFTP_OPENFILE))) {
		rc = libssh2_session_last_errno(c->s);
		if (rc != LIBSSH2_ERROR_EAGAIN)
			return sftp_check(c, rc, "create", tmp, NULL);
		if (ssh_wait(c, "sftp open") < 0)
			return -1;
	}
	wrc = sftp_write_all(c, h, tmp, data, len);
	SSH_RETRY(c, rc, "sftp close", libssh2_sftp_close_handle(h));
	if (wrc == 0 && sftp_check(c, rc, "close", tmp, NULL) < 0)
		wrc = -1;
	if (wrc == 0) {
		SSH_RETRY(c, rc, "sftp rename",
			  libssh2_sftp_rename_ex(
				  c->sftp, tmp, (unsigned)strlen(tmp), path,
				  (unsigned)strlen(path),
				  LIBSSH2_SFTP_RENAME_OVERWRITE |
					  LIBSSH2_SFTP_RENAME_ATOMIC |
					  LIBSSH2_SFTP_RENAME_NATIVE));
		/* SFTP version 3 (OpenSSH) renames onto nothing only. */
		if (rc == LIBSSH2_ERROR_SFTP_PROTOCOL) {
			fx = libssh2_sftp_last_error(c->sftp);
			if (fx == LIBSSH2_FX_FAILURE ||
			    fx == LIBSSH2_FX_FILE_ALREADY_EXISTS) {
				SSH_RETRY(c, rc, "sftp unlink",
					  libssh2_sftp_unlink_ex(
						  c->sftp, path,
						  (unsigned)strlen(path)));
				if (rc == 0)
					SSH_RETRY(
						c, rc, "sftp rename",
						libssh2_sftp_rename_ex(
							c->sftp, tmp,
							(unsigned)strlen(tmp),
							path,
							(unsigned)strlen(path),
							0));
			}
		}
		if (sftp_check(c, rc, "rename to", path, NULL) < 0)
			wrc = -1;
	}
	if (wrc < 0 && c->fail == SSH_CANTWRITE) {
		/* Not left behind when the connection still serves. */
		SSH_RETRY(c, rc, "sftp unlink",
			  libssh2_sftp_unlink_ex(c->sftp, tmp,
						 (unsigned)strlen(tmp)));
	}
	return wrc;
}

/* unlink (dir 0) or rmdir (dir 1) of path; see ssh_sftp_unlink(). */
static int
sftp_remove(struct ssh_conn *c, const char *path, int dir, int *gone)
{
	unsigned long fx;
	int rc;

	*gone = 0;
	if (sftp_start(c) < 0)
		return -1;
	if (dir)
		SSH_RETRY(c, rc, "sftp rmdir",
			  libssh2_sftp_rmdir_ex(c->sftp, path,
						(unsigned)strlen(path)));
	else
		SSH_RETRY(c, rc, "sftp unlink",
			  libssh2_sftp_unlink_ex(c->sftp, path,
						 (unsigned)strlen(path)));
	if (sftp_check(c, rc, dir ? "rmdir" : "remove", path, &fx) == 0) {
		*gone = 1;
		return 0;
	}
	if (c->fail != SSH_CANTWRITE)
		return -1;
	/* Nothing there; for rmdir, OpenSSH says only "failure" when
	 * the directory still holds something: both are no error. */
	if (fx == LIBSSH2_FX_NO_SUCH_FILE || fx == LIBSSH2_FX_NO_SUCH_PATH ||
	    (dir && (fx == LIBSSH2_FX_DIR_NOT_EMPTY ||
		     (fx == LIBSSH2_FX_FAILURE && sftp_isdir(c, path) == 1)))) {
		c->fail = SSH_OK;
		c->error[0] = '\0';
		return 0;
	}
	return -1;
}

int
ssh_sftp_unlink(struct ssh_conn *c, const char *path, int *gone)
{
	return sftp_remove(c, path, 0, gone);
}

int
ssh_sftp_rmdir(struct ssh_conn *c, const char *path, int *gone)
{
	return sftp_remove(c, path, 1, gone);
}
