/* Sizes, run directory and I/O helpers; see include/avm/util.h. */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <netdb.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "avm/util.h"

int
uint_parse(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	const char *p = s;

	if (*p == '\0') {
		errno = EINVAL;
		return -1;
	}
	for (; *p; p++) {
		if (*p < '0' || *p > '9') {
			errno = EINVAL;
			return -1;
		}
		if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10) {
			errno = ERANGE;
			return -1;
		}
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (v < min || v > max) {
		errno = ERANGE;
		return -1;
	}
	*out = v;
	return 0;
}

int
size_parse(const char *s, uint64_t *out)
{
	static const struct {
		const char *name;
		unsigned shift;
	} units[] = {
		{ "", 0 },     { "b", 0 },    { "k", 10 },   { "kib", 10 },
		{ "kb", 10 },  { "m", 20 },   { "mib", 20 }, { "mb", 20 },
		{ "g", 30 },   { "gib", 30 }, { "gb", 30 },  { "t", 40 },
		{ "tib", 40 }, { "tb", 40 },  { "p", 50 },   { "pib", 50 },
		{ "pb", 50 },  { "e", 60 },   { "eib", 60 }, { "eb", 60 },
	};
	char digits[32];
	size_t n = 0;
	uint64_t v;
	size_t i;

	while (s[n] >= '0' && s[n] <= '9')
		n++;
	if (n == 0 || n >= sizeof(digits)) {
		errno = n ? ERANGE : EINVAL;
		return -1;
	}
	memcpy(digits, s, n);
	digits[n] = '\0';
	if (uint_parse(digits, 0, UINT64_MAX, &v) < 0)
		return -1;
	for (i = 0; i < AVM_ARRAY_SIZE(units); i++) {
		if (strcasecmp(s + n, units[i].name) != 0)
			continue;
		if (units[i].shift && v > (UINT64_MAX >> units[i].shift)) {
			errno = ERANGE;
			return -1;
		}
		*out = v << units[i].shift;
		return 0;
	}
	errno = EINVAL;
	return -1;
}

char *
size_format(uint64_t n, char *buf, size_t len)
{
	static const char unit[] = "KMGT";
	int i;

	for (i = 3; i >= 0; i--) {
		unsigned shift = 10 * (unsigned)(i + 1);

		if (n != 0 && (n & ((1ULL << shift) - 1)) == 0) {
			snprintf(buf, len, "%" PRIu64 "%c", n >> shift,
				 unit[i]);
			return buf;
		}
	}
	snprintf(buf, len, "%" PRIu64, n);
	return buf;
}

int
avm_rundir(char *buf, size_t len)
{
	const char *env = getenv("AVM_RUNDIR");
	int n;

	if (env && *env)
		n = snprintf(buf, len, "%s", env);
	else if (geteuid() == 0)
		n = snprintf(buf, len, "/run/avm");
	else if ((env = getenv("XDG_RUNTIME_DIR")) && *env)
		n = snprintf(buf, len, "%s/avm", env);
	else {
		errno = ENOENT;
		return -1;
	}
	if (n < 0 || (size_t)n >= len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

ssize_t
read_file_str(const char *path, char *buf, size_t len)
{
	ssize_t n, total = 0;
	int fd;

	if (len == 0) {
		errno = EINVAL;
		return -1;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	while ((size_t)total < len - 1) {
		n = read(fd, buf + total, len - 1 - (size_t)total);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;

			close(fd);
			errno = e;
			return -1;
		}
		if (n == 0)
			break;
		total += n;
	}
	close(fd);
	buf[total] = '\0';
	while (total > 0 && buf[total - 1] == '\n')
		buf[--total] = '\0';
	return total;
}

int
read_file_i64(const char *path, int64_t *out)
{
	char buf[64], *end;
	long long v;

	if (read_file_str(path, buf, sizeof(buf)) < 0)
		return -1;
	errno = 0;
	v = strtoll(buf, &end, 10);
	if (errno || end == buf || (*end && *end != '\n' && *end != ' ')) {
		errno = EINVAL;
		return -1;
	}
	*out = v;
	return 0;
}

int
write_full(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t n;

	while (len) {
		n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
read_full(int fd, void *buf, size_t len)
{
	char *p = buf;
	ssize_t n;

	while (len) {
		n = read(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0) {
			errno = EPIPE;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t
wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int
avm_why(char *why, size_t whylen, int err, const char *fmt, ...)
{
	va_list ap;

	if (why && whylen) {
		va_start(ap, fmt);
		vsnprintf(why, whylen, fmt, ap);
		va_end(ap);
	}
	return err;
}

int
deadline_ms(uint64_t deadline)
{
	uint64_t now = now_ns(), ms;

	if (now >= deadline)
		return 0;
	ms = (deadline - now + 999999) / 1000000;
	return ms > INT_MAX ? INT_MAX : (int)ms;
}

int
addr_parse(const char *s, size_t len, struct sockaddr_storage *sa,
	   unsigned *salen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV };
	struct addrinfo *ai;
	char host[256], *port;
	size_t n = len ? len : strlen(s);
	uint64_t pv;

	if (n == 0 || n >= sizeof(host)) {
		errno = EINVAL;
		return -1;
	}
	memcpy(host, s, n);
	host[n] = '\0';
	port = strrchr(host, ':');
	if (!port || port == host || !port[1]) {
		errno = EINVAL;
		return -1;
	}
	*port++ = '\0';
	/* getaddrinfo() wraps ports past 65535 (99999 is 34463): refuse
	 * anything but 0..65535 in decimal. */
	if (uint_parse(port, 0, 65535, &pv) < 0) {
		errno = EINVAL;
		return -1;
	}
	n = strlen(host);
	if (n >= 2 && host[0] == '[' && host[n - 1] == ']') {
		memmove(host, host + 1, n - 2);
		host[n - 2] = '\0';
	}
	if (getaddrinfo(host, port, &hints, &ai) != 0) {
		errno = ENOENT;
		return -1;
	}
	if (ai->ai_addrlen > sizeof(*sa)) {
		freeaddrinfo(ai);
		errno = EINVAL;
		return -1;
	}
	memcpy(sa, ai->ai_addr, ai->ai_addrlen);
	*salen = (unsigned)ai->ai_addrlen;
	freeaddrinfo(ai);
	return 0;
}

void
sockaddr_text(const struct sockaddr *sa, socklen_t len, char *buf,
	      size_t buflen)
{
	char host[64], port[16];

	if (sa->sa_family == AF_UNIX) {
		snprintf(buf, buflen, "local");
		return;
	}
	if (getnameinfo(sa, len, host, sizeof(host), port, sizeof(port),
			NI_NUMERICHOST | NI_NUMERICSERV) != 0)
		snprintf(buf, buflen, "?");
	else if (sa->sa_family == AF_INET6)
		snprintf(buf, buflen, "[%.46s]:%.6s", host, port);
	else
		snprintf(buf, buflen, "%.46s:%.6s", host, port);
}

int
avm_trusted_dir(const char *path, char *why, size_t whylen)
{
	char buf[4096], *p;
	struct stat st;

	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf)) {
		snprintf(why, whylen, "'%.200s...': path too long", path);
		errno = ENAMETOOLONG;
		return -1;
	}
	for (p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		(void)mkdir(buf, 0700);
		*p = '/';
	}
	if (mkdir(buf, 0700) < 0 && errno != EEXIST) {
		snprintf(why, whylen, "create '%s': %s", path, strerror(errno));
		return -1;
	}
	if (lstat(path, &st) < 0) {
		snprintf(why, whylen, "'%s': %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(why, whylen,
			 "'%s' is not a directory (a symbolic link or a file "
			 "someone put there): remove it",
			 path);
		errno = ENOTDIR;
		return -1;
	}
	if (st.st_uid != geteuid()) {
		snprintf(why, whylen,
			 "'%s' belongs to uid %u, not to us (uid %u): another "
			 "user could swap files in it; remove it or choose "
			 "another AVM_RUNDIR",
			 path, (unsigned)st.st_uid, (unsigned)geteuid());
		errno = EPERM;
		return -1;
	}
	if (st.st_mode & 022) {
		snprintf(why, whylen,
			 "'%s' is writable by group or others (mode %04o): "
			 "chmod go-w it, or choose another AVM_RUNDIR",
			 path, (unsigned)(st.st_mode & 07777));
		errno = EPERM;
		return -1;
	}
	return 0;
}

int
avm_read_fd(int fd, size_t max, char **out, size_t *outlen)
{
	size_t len = 0, cap = 0;
	char *buf = NULL, *grown;
	ssize_t n;
	int e;

	for (;;) {
		if (len == cap) {
			if (cap > max) {
				errno = EFBIG;
				goto fail;
			}
			cap = cap ? cap * 2 : 8192;
			grown = realloc(buf, cap);
			if (!grown)
				goto fail;
			buf = grown;
		}
		n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto fail;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > max) {
		errno = EFBIG;
		goto fail;
	}
	*out = buf;
	*outlen = len;
	return 0;
fail:
	e = errno;
	if (buf)
		explicit_bzero(buf, cap); /* it may be a secret */
	free(buf);
	errno = e;
	return -1;
}

int
avm_read_file(const char *path, size_t max, int oflags, char **out,
	      size_t *outlen)
{
	int fd, r, e;

	fd = open(path, O_RDONLY | O_CLOEXEC | oflags);
	if (fd < 0)
		return -1;
	r = avm_read_fd(fd, max, out, outlen);
	e = errno;
	close(fd);
	errno = e;
	return r;
}

int
avm_lock_file(const char *path)
{
	int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	int e;

	if (fd < 0)
		return -1;
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int
avm_remove_if(const char *dir, int (*match)(const char *name, void *arg),
	      void *arg)
{
	struct dirent *d;
	int removed = 0;
	DIR *dh = opendir(dir);

	if (!dh)
		return 0;
	while ((d = readdir(dh)) != NULL)
		if (match(d->d_name, arg) &&
		    unlinkat(dirfd(dh), d->d_name, 0) == 0)
			removed++;
	closedir(dh);
	return removed;
}

void
avm_dirname(const char *path, char *buf, size_t len)
{
	const char *sl = strrchr(path, '/');

	if (!sl)
		snprintf(buf, len, ".");
	else if (sl == path)
		snprintf(buf, len, "/");
	else
		snprintf(buf, len, "%.*s", (int)(sl - path), path);
}

int
avm_write_file(const char *path, const void *data, size_t len, mode_t mode,
	       int sync)
{
	char tmp[PATH_MAX];
	int fd, e;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >=
	    (int)sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		  mode);
	if (fd < 0)
		return -1;
	if (write_full(fd, data, len) < 0 || fchmod(fd, mode) < 0 ||
	    (sync && fsync(fd) < 0))
		goto fail;
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) < 0)
		goto fail;
	return 0;
fail:
	e = errno;
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	errno = e;
	return -1;
}
