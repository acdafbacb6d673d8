/* The exit statuses of every tool; see include/avm/exit.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "avm/exit.h"
#include "avm/util.h"

/*
 * Rows in the order --help prints them.  The man pages say the same at
 * length; scripts/check-exits.sh keeps the three in step.
 */
static const struct exit_row rows[] = {
	{ "avm-probe", AVM_EX_OK, "success; with -r, every item holds" },
	{ "avm-probe", AVM_EX_FAIL, "the output could not be written" },
	{ "avm-probe", AVM_EX_USAGE, "bad command line or -r item" },
	{ "avm-probe", AVM_EX_UNAVAILABLE, "with -r: an item is missing" },
	{ "avm-probe", AVM_EX_SOFTWARE, "internal error" },

	{ "avm-run", AVM_EX_OK,
	  "the guest powered off or reset, or was stopped; a control verb "
	  "succeeded" },
	{ "avm-run", AVM_EX_GUEST,
	  "a test guest wrote v to the debug-exit port 0xf4" },
	{ "avm-run", AVM_EX_FAIL, "the guest triple-faulted (shutdown)" },
	{ "avm-run", AVM_EX_USAGE,
	  "bad command line, a size or count out of "
	  "range" },
	{ "avm-run", AVM_EX_DATAERR,
	  "the kernel or initrd is not a valid image; a disk image is not "
	  "a regular file or smaller than a sector; a --net tap that is "
	  "another kind of interface; the fabric map is malformed, of "
	  "another VM or node count" },
	{ "avm-run", AVM_EX_NOINPUT,
	  "a kernel, initrd, disk image, cluster or secret "
	  "file is missing or unreadable" },
	{ "avm-run", AVM_EX_UNAVAILABLE,
	  "no usable KVM, not enough of it, no tun driver, a node failed "
	  "or cannot be reached, no VM answers a control verb" },
	{ "avm-run", AVM_EX_SOFTWARE,
	  "a vCPU failed (KVM internal error, "
	  "failed entry, unexpected exit)" },
	{ "avm-run", AVM_EX_OSERR, "a system call failed during set-up" },
	{ "avm-run", AVM_EX_CANTCREAT,
	  "the run directory, a socket, the secret or the console file "
	  "cannot be created" },
	{ "avm-run", AVM_EX_TEMPFAIL,
	  "a control verb timed out; a disk image another VM holds; a tap "
	  "another process has open" },
	{ "avm-run", AVM_EX_NOPERM,
	  "permission denied: /dev/kvm, the control socket, creating a "
	  "tap, a secret file group or others may read, a fabric map that is "
	  "not our own "
	  "regular file, a --console link of another user" },
	{ "avm-run", AVM_EX_CONFIG,
	  "bad configuration: the cluster file, no run directory, a secret "
	  "that is not 32 bytes" },
	{ "avm-run", AVM_EX_SIGNAL(1), "stopped by SIGHUP" },
	{ "avm-run", AVM_EX_SIGNAL(2), "stopped by SIGINT" },
	{ "avm-run", AVM_EX_SIGNAL(15), "stopped by SIGTERM" },

	{ "avm-fabric", AVM_EX_OK,
	  "check: every host holds what its node needs; up, down: done on "
	  "every host (up: every link measured)" },
	{ "avm-fabric", AVM_EX_GUEST,
	  "launch: the guest's status, node 0's (avm-run(1))" },
	{ "avm-fabric", AVM_EX_FAIL, "the output could not be written" },
	{ "avm-fabric", AVM_EX_USAGE, "bad command line" },
	{ "avm-fabric", AVM_EX_DATAERR, "the hosts' avm-run versions differ" },
	{ "avm-fabric", AVM_EX_NOINPUT, "the cluster file is missing" },
	{ "avm-fabric", AVM_EX_UNAVAILABLE,
	  "a host misses a prerequisite, cannot be reached or cannot run "
	  "avm-probe or avm-run; up: a link cannot be measured; each is "
	  "named" },
	{ "avm-fabric", AVM_EX_SOFTWARE, "internal error" },
	{ "avm-fabric", AVM_EX_CANTCREAT,
	  "up, down: a file or folder cannot be written or removed, here or "
	  "on a host (named with the path); up: the secret exists" },
	{ "avm-fabric", AVM_EX_TEMPFAIL,
	  "link-serve: the address is in use, or nobody measured in time" },
	{ "avm-fabric", AVM_EX_NOPERM,
	  "a host's key is unknown or changed, or it refused our key; up "
	  "then pushes to no host; link-test: the proof was refused" },
	{ "avm-fabric", AVM_EX_CONFIG,
	  "bad configuration: the cluster file, no $HOME for known_hosts" },
	{ "avm-fabric", AVM_EX_SIGNAL(1),
	  "launch: stopped by SIGHUP on every node" },
	{ "avm-fabric", AVM_EX_SIGNAL(2),
	  "launch: stopped by SIGINT on every node" },
	{ "avm-fabric", AVM_EX_SIGNAL(15),
	  "launch: stopped by SIGTERM on every node" },

	{ "avm-snap", AVM_EX_OK,
	  "inspect: the file is a snapshot this build reads; with --verify, "
	  "every CRC32 matches and every disk image is as saved" },
	{ "avm-snap", AVM_EX_FAIL, "the output could not be written" },
	{ "avm-snap", AVM_EX_USAGE, "bad command line" },
	{ "avm-snap", AVM_EX_DATAERR,
	  "not a valid snapshot, and the message says why: bad magic, a "
	  "format version this build does not read, truncated (what is "
	  "cut), a bad CRC32 (which chunk, section or part), a device this "
	  "build does not know, an offset or count out of range; or "
	  "(--verify) a disk image changed since the snapshot: another size "
	  "or modification time, not a regular file (the message names it)" },
	{ "avm-snap", AVM_EX_NOINPUT,
	  "the file or one of its part files is missing or unreadable; or "
	  "(--verify) a disk image is" },
	{ "avm-snap", AVM_EX_SOFTWARE, "internal error, out of memory" },

	{ "avm-top", AVM_EX_OK,
	  "the frames asked for were shown, q was pressed, or (batch) the "
	  "VM ended while watched" },
	{ "avm-top", AVM_EX_FAIL, "the output could not be written" },
	{ "avm-top", AVM_EX_USAGE, "bad command line" },
	{ "avm-top", AVM_EX_DATAERR,
	  "a stats file is not one this build reads: truncated, another "
	  "format version, not a stats file; the message names it" },
	{ "avm-top", AVM_EX_NOINPUT,
	  "no such VM runs on this host (the message names it)" },
	{ "avm-top", AVM_EX_SOFTWARE, "internal error, out of memory" },
	{ "avm-top", AVM_EX_OSERR, "the terminal could not be set up" },

	{ "avm-pager", AVM_EX_OK, "every node's client detached" },
	{ "avm-pager", AVM_EX_USAGE, "bad command line" },
	{ "avm-pager", AVM_EX_DATAERR,
	  "the --restore snapshot is not a snapshot, is of another memory "
	  "size, or a chunk of it is bad (the message names it; a bad chunk "
	  "met while the VM runs stops it)" },
	{ "avm-pager", AVM_EX_NOINPUT,
	  "the secret file or the --restore snapshot (or a part of it) is "
	  "missing" },
	{ "avm-pager", AVM_EX_UNAVAILABLE,
	  "a node failed, or the snapshot could not be read while the VM "
	  "ran; the message names it" },
	{ "avm-pager", AVM_EX_SOFTWARE, "internal error" },
	{ "avm-pager", AVM_EX_OSERR, "a system call on guest RAM failed" },
	{ "avm-pager", AVM_EX_CANTCREAT,
	  "the run directory, socket or stats file cannot be created" },
	{ "avm-pager", AVM_EX_TEMPFAIL, "another pager answers on pager.sock" },
	{ "avm-pager", AVM_EX_NOPERM,
	  "a peer refused our secret, or group or others may read it" },
	{ "avm-pager", AVM_EX_CONFIG,
	  "bad configuration: no run directory, a bad secret, peers that "
	  "disagree on the memory map" },
};

/* Text column and line width of the --help list. */
#define EXIT_COL 7
#define EXIT_WIDTH 79

/* Writes text from EXIT_COL, wrapped at spaces to EXIT_WIDTH. */
static void
exit_wrap(FILE *f, const char *text)
{
	const char *p = text, *brk;
	size_t room = EXIT_WIDTH - EXIT_COL, len;

	while (*p) {
		len = strlen(p);
		if (len > room) {
			for (brk = p + room; brk > p && *brk != ' '; brk--)
				;
			len = brk > p ? (size_t)(brk - p) : room;
		}
		fprintf(f, "%.*s\n", (int)len, p);
		p += len;
		while (*p == ' ')
			p++;
		if (*p)
			fprintf(f, "%*s", EXIT_COL, "");
	}
}

int
exit_usage(FILE *f, const char *tool)
{
	char num[16];
	size_t i;
	int any = 0;

	for (i = 0; i < AVM_ARRAY_SIZE(rows); i++) {
		if (strcmp(rows[i].tool, tool) != 0)
			continue;
		if (!any)
			fputs("\nexit status:\n", f);
		any = 1;
		if (rows[i].status == AVM_EX_GUEST)
			snprintf(num, sizeof(num), "v");
		else
			snprintf(num, sizeof(num), "%d", rows[i].status);
		fprintf(f, "  %-4s ", num);
		exit_wrap(f, rows[i].text);
	}
	if (!any) {
		errno = EINVAL;
		return -1;
	}
	return ferror(f) ? -1 : 0;
}

int
exit_listed(const char *tool, int status)
{
	size_t i;

	for (i = 0; i < AVM_ARRAY_SIZE(rows); i++) {
		if (strcmp(rows[i].tool, tool) != 0)
			continue;
		if (rows[i].status == status ||
		    (rows[i].status == AVM_EX_GUEST && status >= 0 &&
		     status <= 255))
			return 1;
	}
	return 0;
}

const struct exit_row *
exit_rows(size_t *n)
{
	*n = AVM_ARRAY_SIZE(rows);
	return rows;
}

const char *
avm_exit_name(int status)
{
	static const struct {
		int status;
		const char *name;
	} names[] = {
		{ AVM_EX_OK, "ok" },
		{ AVM_EX_FAIL, "failure" },
		{ AVM_EX_USAGE, "usage" },
		{ AVM_EX_DATAERR, "data" },
		{ AVM_EX_NOINPUT, "noinput" },
		{ AVM_EX_UNAVAILABLE, "unavailable" },
		{ AVM_EX_SOFTWARE, "software" },
		{ AVM_EX_OSERR, "oserr" },
		{ AVM_EX_CANTCREAT, "cantcreat" },
		{ AVM_EX_TEMPFAIL, "tempfail" },
		{ AVM_EX_NOPERM, "noperm" },
		{ AVM_EX_CONFIG, "config" },
	};
	size_t i;

	for (i = 0; i < AVM_ARRAY_SIZE(names); i++)
		if (names[i].status == status)
			return names[i].name;
	return "unknown";
}
