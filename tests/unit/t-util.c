/* Unit tests of lib/util.c: sizes, integers, run directory, file reads. */
#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "avm/log.h"
#include "avm/util.h"
#include "tap.h"

static void
test_size_parse(void)
{
	static const struct {
		const char *in;
		uint64_t want;
	} good[] = {
		{ "0", 0 },	      { "4096", 4096 },
		{ "1K", 1024 },	      { "1k", 1024 },
		{ "2KiB", 2048 },     { "256M", 256ull << 20 },
		{ "1G", 1ull << 30 }, { "3gib", 3ull << 30 },
		{ "1T", 1ull << 40 }, { "16777215T", 16777215ull << 40 },
	};
	static const char *const bad[] = { "",	   "G",	   "1X",  "1 G", "-1",
					   "1.5G", "0x10", "1GG", " 1" };
	uint64_t v;
	size_t i;

	for (i = 0; i < AVM_ARRAY_SIZE(good); i++) {
		v = 1;
		is_int(size_parse(good[i].in, &v), 0, "size '%s' parses",
		       good[i].in);
		is_int(v, good[i].want, "size '%s' value", good[i].in);
	}
	for (i = 0; i < AVM_ARRAY_SIZE(bad); i++) {
		errno = 0;
		ok(size_parse(bad[i], &v) == -1 && errno == EINVAL,
		   "size '%s' is refused with EINVAL", bad[i]);
	}
	ok(size_parse("1P", &v) == 0 && v == 1ull << 50, "1P");
	ok(size_parse("15E", &v) == 0 && v == 15ull << 60, "15E");
	errno = 0;
	ok(size_parse("16E", &v) == -1 && errno == ERANGE,
	   "size that overflows 64 bits is refused with ERANGE");
	errno = 0;
	ok(size_parse("99999999999999999999", &v) == -1 && errno == ERANGE,
	   "20-digit size is refused with ERANGE");
}

static void
test_size_format(void)
{
	char buf[32];

	is_str(size_format(0, buf, sizeof(buf)), "0", "format 0");
	is_str(size_format(4097, buf, sizeof(buf)), "4097", "format 4097");
	is_str(size_format(1536ull << 20, buf, sizeof(buf)), "1536M",
	       "format 1536 MiB");
	is_str(size_format(1ull << 30, buf, sizeof(buf)), "1G", "format 1G");
	is_str(size_format(5ull << 40, buf, sizeof(buf)), "5T", "format 5T");
}

static void
test_uint_parse(void)
{
	uint64_t v;

	ok(uint_parse("42", 1, 100, &v) == 0 && v == 42, "42 in 1..100");
	errno = 0;
	ok(uint_parse("0", 1, 100, &v) == -1 && errno == ERANGE,
	   "0 below 1..100");
	errno = 0;
	ok(uint_parse("4x", 1, 100, &v) == -1 && errno == EINVAL, "4x");
	errno = 0;
	ok(uint_parse("", 0, 100, &v) == -1 && errno == EINVAL, "empty");
}

static void
test_rundir(void)
{
	char buf[64];

	setenv("AVM_RUNDIR", "/tmp/avm-t", 1);
	ok(avm_rundir(buf, sizeof(buf)) == 0, "rundir from AVM_RUNDIR");
	is_str(buf, "/tmp/avm-t", "rundir value");
	setenv("AVM_RUNDIR", "/a/very/long/path/that/does/not/fit/in/16", 1);
	errno = 0;
	ok(avm_rundir(buf, 16) == -1 && errno == ENAMETOOLONG,
	   "rundir too long for the buffer");
	unsetenv("AVM_RUNDIR");
	if (geteuid() == 0) {
		ok(avm_rundir(buf, sizeof(buf)) == 0, "rundir as root");
		is_str(buf, "/run/avm", "root's rundir is /run/avm");
	}
}

static void
test_files(void)
{
	char path[] = "/tmp/t-util.XXXXXX";
	char buf[16];
	int64_t v;
	int fd = mkstemp(path);

	ok(fd >= 0, "temp file");
	ok(write_full(fd, "1234\n", 5) == 0, "write_full");
	close(fd);
	is_int(read_file_str(path, buf, sizeof(buf)), 4, "read_file_str len");
	is_str(buf, "1234", "newline stripped");
	ok(read_file_i64(path, &v) == 0 && v == 1234, "read_file_i64");
	unlink(path);
	errno = 0;
	ok(read_file_str(path, buf, sizeof(buf)) == -1 && errno == ENOENT,
	   "missing file gives ENOENT");
}

static void
test_addr_parse(void)
{
	struct sockaddr_storage sa;
	struct sockaddr_in *in = (struct sockaddr_in *)&sa;
	unsigned len;

	ok(addr_parse("127.0.0.1:7400", 0, &sa, &len) == 0 &&
		   ntohs(in->sin_port) == 7400,
	   "127.0.0.1:7400");
	ok(addr_parse("127.0.0.1:65535", 0, &sa, &len) == 0 &&
		   ntohs(in->sin_port) == 65535,
	   "port 65535 is the last");
	errno = 0;
	ok(addr_parse("127.0.0.1:65536", 0, &sa, &len) < 0 && errno == EINVAL,
	   "port 65536 is refused, not wrapped to 0");
	ok(addr_parse("127.0.0.1:99999", 0, &sa, &len) < 0,
	   "port 99999 is refused, not wrapped to 34463");
	ok(addr_parse("127.0.0.1:-1", 0, &sa, &len) < 0, "port -1");
	ok(addr_parse("[::1]:80", 0, &sa, &len) == 0 &&
		   sa.ss_family == AF_INET6,
	   "[::1]:80");
	ok(addr_parse("127.0.0.1:7400,x", 14, &sa, &len) == 0,
	   "the first len bytes of a list");
}

static int
starts_a(const char *name, void *arg)
{
	(void)arg;
	return name[0] == 'a';
}

/* avm_remove_if: the names that match go, links not followed. */
static void
test_remove_if(void)
{
	char dir[] = "/tmp/t-util.XXXXXX", p[64], keep[64];
	FILE *f;

	if (!mkdtemp(dir)) {
		ok(0, "mkdtemp");
		return;
	}
	snprintf(keep, sizeof(keep), "%s/b", dir);
	for (const char *n = "a1\0a2\0b\0"; *n; n += strlen(n) + 1) {
		snprintf(p, sizeof(p), "%s/%s", dir, n);
		f = fopen(p, "w");
		if (f)
			fclose(f);
	}
	snprintf(p, sizeof(p), "%s/a3", dir);
	ok(symlink(keep, p) == 0, "a link to b named a3");
	is_int(avm_remove_if(dir, starts_a, NULL), 3, "a1, a2, a3 removed");
	ok(access(keep, F_OK) == 0, "b stays: the link was not followed");
	is_int(avm_remove_if("/nonexistent/x", starts_a, NULL), 0,
	       "a folder that is not there: none");
	unlink(keep);
	ok(rmdir(dir) == 0, "and the folder is empty");
}

int
main(void)
{
	test_addr_parse();
	test_remove_if();
	test_size_parse();
	test_size_format();
	test_uint_parse();
	test_rundir();
	test_files();
	is_str(avm_exit_name(AVM_EX_CONFIG), "config", "exit name 78");
	is_str(avm_exit_name(12345), "unknown", "exit name unknown");
	{
		char d[16];

		avm_dirname("/run/avm/x/secret", d, sizeof(d));
		is_str(d, "/run/avm/x", "dirname: a path's folder");
		avm_dirname("secret", d, sizeof(d));
		is_str(d, ".", "dirname: a bare name is in .");
		avm_dirname("/secret", d, sizeof(d));
		is_str(d, "/", "dirname: at the root");
		avm_dirname("/a/very/long/folder/f", d, sizeof(d));
		is_str(d, "/a/very/long/fo", "dirname: cut to the buffer");
	}
	return done_testing();
}
