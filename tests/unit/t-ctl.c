/*
 * run.sock's server (cmd/avm-run/ctl.c) without KVM: the VM's calls are
 * stubs here, the socket, the link layer and the client (ctl_call, what
 * `avm-run status` runs) are real.  Issue 9 item 4: one idle client held
 * run.sock for 60 s and `status` and `stop` failed with 75 meanwhile.
 * Now: idle greeted clients, silent connections that never greet, and a
 * client that sends a command now and then all leave `status` and
 * `stop` answering at once; more clients than the server keeps cut off
 * the one idle longest; every client is gone when the server stops.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "avm/emit.h"
#include "avm/link.h"
#include "avm/runmsg.h"
#include "avm/util.h"
#include "avm/wire.h"

#include "../../cmd/avm-run/ctl.h"
#include "../../cmd/avm-run/vm.h"
#include "tap.h"

/* --- the VM's side, stubbed ------------------------------------------------*/

static _Atomic int ended, paused;

void
vm_status(struct vm *vm, struct emit *e)
{
	(void)vm;
	emit_map_begin(e);
	emit_key(e, "state");
	emit_str(e, paused ? "paused" : "running");
	emit_map_end(e);
}

int
vm_pause(struct vm *vm, int timeout_ms)
{
	(void)vm;
	(void)timeout_ms;
	paused = 1;
	return 0;
}

int
vm_resume(struct vm *vm)
{
	(void)vm;
	paused = 0;
	return 0;
}

/* With stop_server set, vm_end does what avm-run's main thread does
 * when the VM ends (ctl_stop, on its own thread) and returns only once
 * that had time to cut the clients off: the reply to `stop` comes after
 * the server began to stop, as it may in avm-run. */
static struct ctl *stop_server;
static pthread_t stopper;

static void *
stopper_thread(void *arg)
{
	ctl_stop(arg);
	return NULL;
}

void
vm_end(struct vm *vm, enum vm_end why, int status, const char *fmt, ...)
{
	struct timespec ms100 = { 0, 100000000 };

	(void)vm;
	(void)why;
	(void)status;
	(void)fmt;
	ended = 1;
	if (stop_server) {
		pthread_create(&stopper, NULL, stopper_thread, stop_server);
		nanosleep(&ms100, NULL);
	}
}

/* --- clients ---------------------------------------------------------------*/

static char path[108];
static struct vm vm;

static int
raw_connect(void)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	uint64_t deadline = now_ns() + 2000000000ull;
	struct timespec ms1 = { 0, 1000000 };
	int fd, r;

	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	/* Non-blocking: a server that does not accept makes connect fail
	 * (EAGAIN, a full backlog); tried again for 2 s, never a hang. */
	do {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
			    0);
		if (fd < 0)
			return -1;
		r = connect(fd, (struct sockaddr *)&a, sizeof(a));
		if (r == 0)
			return fd;
		close(fd);
		nanosleep(&ms1, NULL);
	} while (errno == EAGAIN && now_ns() < deadline);
	return -1;
}

/* A greeted control client that then says nothing. */
static struct link *
idle_client(void)
{
	struct link_self self = { .vm = "tctl", .role = WIRE_ROLE_CONTROL };
	struct link_want want = { 1u << WIRE_ROLE_RUN, LINK_ANY_NODE, 0 };
	struct link *l = NULL;
	char why[300];

	if (link_dial(&self, link_transport("unix"), path, &want, 5000, &l, why,
		      sizeof(why)) < 0) {
		printf("# dial: %s\n", why);
		return NULL;
	}
	return l;
}

/* `avm-run VERB`: its exit status, and how long it took (ms). */
static int
call(const char *verb, char *out, size_t outlen, double *ms)
{
	char err[400];
	uint64_t t = now_ns();
	FILE *f = fmemopen(out, outlen, "w");
	int r = ctl_call(path, "tctl", ctl_verb_find(verb), 0, f, err,
			 sizeof(err));

	fclose(f);
	*ms = (double)(now_ns() - t) / 1e6;
	if (r)
		printf("# %s: %s\n", verb, err);
	return r;
}

/* 1 when the link's peer closed it (within 3 s). */
static int
closed_by_server(struct link *l)
{
	struct pollfd p = { link_fd(l), POLLIN, 0 };
	char b[64];

	if (poll(&p, 1, 3000) != 1)
		return 0;
	return recv(link_fd(l), b, sizeof(b), MSG_DONTWAIT) == 0 ||
	       (p.revents & (POLLHUP | POLLERR));
}

/* 1 when the server closed fd within 3 s (what it sent first is read
 * and dropped). */
static int
eof_within_3s(int fd)
{
	struct pollfd p = { fd, POLLIN, 0 };
	uint64_t deadline = now_ns() + 3000000000ull;
	char b[256];
	ssize_t n;

	while (now_ns() < deadline &&
	       poll(&p, 1, (int)((deadline - now_ns()) / 1000000) + 1) == 1) {
		n = recv(fd, b, sizeof(b), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return 1;
		if (n < 0 && errno != EAGAIN)
			return 0;
	}
	return 0;
}

int
main(void)
{
	struct link *idle[40];
	int silent[200], n_silent = 0, fails = 0;
	char dir[] = "/tmp/t-ctl.XXXXXX", out[256];
	struct ctl *c;
	double ms = 0, worst = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!mkdtemp(dir))
		return 1;
	snprintf(path, sizeof(path), "%s/run.sock", dir);
	vm.opts.name = "tctl";
	c = ctl_start(&vm, path);
	if (!ok(c != NULL, "run.sock serves"))
		return done_testing();

	ok(call("status", out, sizeof(out), &ms) == 0 && strstr(out, "running"),
	   "status with nobody else: %.1f ms", ms);

	/* 200 connections that never greet (each would have held the old
	 * server for its 2 s greeting deadline). */
	for (int i = 0; i < 200; i++) {
		int fd = raw_connect();

		if (fd < 0)
			break; /* the server does not accept: said below */
		silent[n_silent++] = fd;
	}
	is_int(n_silent, 200, "200 silent connections made");
	ok(call("status", out, sizeof(out), &ms) == 0 && ms < 1000,
	   "status answers past 200 silent connections: %.1f ms", ms);

	/* 40 greeted clients sitting idle (each held the old server for
	 * 60 s): more than the server keeps, so the oldest are cut off. */
	for (int i = 0; i < 40; i++)
		idle[i] = idle_client();
	ok(idle[0] && idle[39], "40 idle control clients greeted");
	for (int i = 0; i < 5; i++) {
		if (call("status", out, sizeof(out), &ms) != 0)
			fails++;
		if (ms > worst)
			worst = ms;
	}
	ok(!fails && worst < 1000,
	   "status 5 times past 40 idle clients: worst %.1f ms", worst);
	ok(closed_by_server(idle[0]),
	   "the client idle longest was cut off for the newcomers");
	ok(call("pause", out, sizeof(out), &ms) == 0 && paused,
	   "pause still answers");
	ok(call("status", out, sizeof(out), &ms) == 0 && strstr(out, "paused"),
	   "and status says paused");
	ok(call("resume", out, sizeof(out), &ms) == 0 && !paused,
	   "resume still answers");

	/* A client that keeps its connection busy now and then cannot hold
	 * the others off either. */
	{
		struct link *busy = idle_client();
		int r = -1;

		for (int i = 0; busy && i < 3; i++) {
			struct wire_hdr h;
			const void *p;
			uint8_t b[64];
			struct runmsg_command cmd = { .verb = "status" };
			int len = runmsg_command_encode(&cmd, b, sizeof(b));

			r = link_send(busy, WIRE_T_CTL_COMMAND, 0,
				      (uint64_t)i + 1, b, (size_t)len, NULL, 0);
			if (r == 0)
				r = link_recv(busy, &h, &p, 3000);
			if (r == 0 && call("status", out, sizeof(out), &ms))
				r = -1;
		}
		ok(r == 0, "a client sending now and then, others in between");
		if (busy)
			link_free(busy);
	}

	/* A client the server is done with learns it at once, not when
	 * its place is taken: one that greets wrongly, one that says BYE
	 * and waits for the server's end. */
	{
		int fd = raw_connect();
		struct link *l = idle_client();
		uint8_t junk[64];

		memset(junk, 0xff, sizeof(junk));
		ok(fd >= 0 && write(fd, junk, sizeof(junk)) == sizeof(junk) &&
			   eof_within_3s(fd),
		   "a connection whose greeting is garbage is closed");
		if (l)
			link_bye(l, 1000);
		ok(l && eof_within_3s(link_fd(l)),
		   "a client that says BYE sees the server close");
		if (fd >= 0)
			close(fd);
		link_free(l);
	}

	ok(call("stop", out, sizeof(out), &ms) == 0 && ended,
	   "stop answers past them all: %.1f ms", ms);

	{
		uint64_t t = now_ns();

		ctl_stop(c);
		ms = (double)(now_ns() - t) / 1e6;
		ok(ms < 3000,
		   "the server stops with clients connected: "
		   "%.1f ms",
		   ms);
	}
	{
		int all = 1;

		for (int i = 1; i < 40; i++)
			if (idle[i] && !closed_by_server(idle[i]))
				all = 0;
		ok(all, "every client was closed when it stopped");
	}
	ok(access(path, F_OK) < 0, "run.sock is gone");

	/* `stop` ends the VM, whose end stops the server: the reply to
	 * `stop` still reaches its client. */
	ended = 0;
	c = ctl_start(&vm, path);
	stop_server = c;
	ok(c && call("stop", out, sizeof(out), &ms) == 0 && ended,
	   "stop answers while the VM's end stops the server");
	if (c)
		pthread_join(stopper, NULL);
	stop_server = NULL;
	ok(access(path, F_OK) < 0, "and run.sock is gone");
	for (int i = 0; i < 40; i++)
		if (idle[i])
			link_free(idle[i]);
	for (int i = 0; i < n_silent; i++)
		close(silent[i]);
	rmdir(dir);
	return done_testing();
}
