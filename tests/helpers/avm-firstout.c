/*
 * avm-firstout: runs a command and says how long it took to print its
 * first byte on stdout and to exit, for `make bench` (start-to-first-
 * output of a VMM).  The command's stdout is copied to ours.
 *
 *   avm-firstout [-t SECONDS] COMMAND [ARG...]
 *
 * Prints "first_output_ns=N exit_ns=N status=S" on stderr; exits 0, or
 * 64 on bad usage, 69 when the command cannot run, 75 when it ran past
 * the deadline (it is then killed).
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "avm/log.h"
#include "avm/util.h"

int
main(int argc, char **argv)
{
	uint64_t t0, first = 0, end, deadline_ns = 120ull * 1000000000ull;
	int p[2], st = 0, argi = 1, timed_out = 0;
	char buf[4096];
	pid_t pid;

	if (argc > 2 && strcmp(argv[1], "-t") == 0) {
		uint64_t s;

		if (uint_parse(argv[2], 1, 3600, &s) < 0) {
			fprintf(stderr, "avm-firstout: bad -t '%s'\n", argv[2]);
			return AVM_EX_USAGE;
		}
		deadline_ns = s * 1000000000ull;
		argi = 3;
	}
	if (argi >= argc) {
		fprintf(stderr, "usage: avm-firstout [-t SECONDS] COMMAND "
				"[ARG...]\n");
		return AVM_EX_USAGE;
	}
	if (pipe(p) < 0)
		return AVM_EX_OSERR;
	t0 = now_ns();
	pid = fork();
	if (pid < 0)
		return AVM_EX_OSERR;
	if (pid == 0) {
		dup2(p[1], STDOUT_FILENO);
		close(p[0]);
		close(p[1]);
		execvp(argv[argi], argv + argi);
		fprintf(stderr, "avm-firstout: exec '%s': %s\n", argv[argi],
			strerror(errno));
		_exit(AVM_EX_UNAVAILABLE);
	}
	close(p[1]);
	for (;;) {
		struct pollfd pf = { p[0], POLLIN, 0 };
		uint64_t now = now_ns();
		ssize_t n;

		if (now - t0 >= deadline_ns) {
			kill(pid, SIGKILL);
			timed_out = 1;
			break;
		}
		if (poll(&pf, 1,
			 (int)((deadline_ns - (now - t0)) / 1000000) + 1) <= 0)
			continue;
		n = read(p[0], buf, sizeof(buf));
		if (n <= 0)
			break;
		if (!first)
			first = now_ns();
		if (write_full(STDOUT_FILENO, buf, (size_t)n) < 0)
			break;
	}
	waitpid(pid, &st, 0);
	end = now_ns();
	fprintf(stderr, "first_output_ns=%llu exit_ns=%llu status=%d\n",
		(unsigned long long)(first ? first - t0 : 0),
		(unsigned long long)(end - t0),
		WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st));
	return timed_out ? AVM_EX_TEMPFAIL : 0;
}
