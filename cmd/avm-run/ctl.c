/*
 * The control socket run.sock; see ctl.h.
 *
 * Clients are served at once, each on a thread of its own: one that
 * greets slowly (at most CTL_TIMEOUT_MS) or sits idle between commands
 * (at most CTL_IDLE_MS) holds only itself.  The verbs themselves run one
 * at a time (verb_lock), as they did on the single thread before.  At
 * most CTL_CLIENTS_MAX clients are connected; a newcomer beyond that
 * takes the place of the one idle longest (not in a command), which is
 * cut off, so `stop` always gets in; only when every client is in a
 * command is the newcomer closed at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "avm/emit.h"
#include "avm/link.h"
#include "avm/log.h"
#include "avm/runmsg.h"
#include "avm/util.h"
#include "avm/wire.h"

#include "ctl.h"
#include "vm.h"

#define CTL_TIMEOUT_MS 2000
#define CTL_PAUSE_TIMEOUT_MS 5000
#define CTL_VERB_MAX WIRE_CTL_VERB_MAX
#define CTL_IDLE_MS 60000
#define CTL_CLIENTS_MAX 16

struct ctl;

/* A connected client.  cut is our own dup of its socket: a shutdown on
 * it ends the client's reads however far its thread got (its own fd may
 * be closed and its number reused by then; cut's is ours until reaped). */
struct ctl_client {
	struct ctl *c;
	int fd, cut;
	pthread_t thread;
	bool used, busy, done;
	uint64_t last_ns; /* its last command, or its arrival */
};

struct ctl {
	struct vm *vm;
	int fd;
	int stop_pipe[2];
	pthread_t thread;
	char path[108];
	pthread_mutex_t lock;	   /* the client table */
	pthread_mutex_t verb_lock; /* one verb at a time */
	struct ctl_client cl[CTL_CLIENTS_MAX];
};

static int
ctl_peer_ok(int fd)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);

	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return 0;
	return cred.uid == 0 || cred.uid == geteuid();
}

static uint32_t
ctl_status(struct vm *vm, int json, FILE *out, struct wire_error *err)
{
	struct emit e;

	emit_init(&e, out, json ? EMIT_JSON : EMIT_YAML, 0);
	vm_status(vm, &e);
	emit_finish(&e);
	if (json)
		fputc('\n', out);
	return WIRE_E_NONE;
}

static uint32_t
ctl_pause(struct vm *vm, int json, FILE *out, struct wire_error *err)
{
	uint32_t code;

	if (vm_pause(vm, CTL_PAUSE_TIMEOUT_MS) == 0)
		return WIRE_E_NONE;
	code = wire_errcode_from_errno(errno);
	wire_error_set(err, code, "pause: %s", strerror(errno));
	return code;
}

static uint32_t
ctl_resume(struct vm *vm, int json, FILE *out, struct wire_error *err)
{
	uint32_t code;

	if (vm_resume(vm) == 0)
		return WIRE_E_NONE;
	code = wire_errcode_from_errno(errno);
	wire_error_set(err, code, "resume: %s", strerror(errno));
	return code;
}

static uint32_t
ctl_stop_vm(struct vm *vm, int json, FILE *out, struct wire_error *err)
{
	vm_end(vm, VM_END_STOP, 0, "stopped over run.sock");
	return WIRE_E_NONE;
}

static const struct ctl_verb verbs[] = {
	{ "status", "print the state of a running VM (YAML, or -j JSON)", 1,
	  ctl_status },
	{ "pause", "stop every vCPU of a running VM", 0, ctl_pause },
	{ "resume", "let a paused VM go on", 0, ctl_resume },
	{ "stop", "end a running VM (avm-run then exits 0)", 0, ctl_stop_vm },
};

const struct ctl_verb *
ctl_verbs(size_t *n)
{
	*n = AVM_ARRAY_SIZE(verbs);
	return verbs;
}

const struct ctl_verb *
ctl_verb_find(const char *name)
{
	size_t i;

	for (i = 0; i < AVM_ARRAY_SIZE(verbs); i++)
		if (strcmp(verbs[i].name, name) == 0)
			return &verbs[i];
	return NULL;
}

/* Runs the verb of one wire word; the result text goes to out.  Returns
 * 0, or a wire error code with its message in err. */
static uint32_t
ctl_do(struct ctl *c, char *word, char **out, size_t *outlen,
       struct wire_error *err)
{
	const struct ctl_verb *v;
	size_t len = strlen(word);
	uint32_t code;
	int json = 0;
	FILE *f;

	if (len > 5 && strcmp(word + len - 5, "-json") == 0) {
		word[len - 5] = '\0';
		json = 1;
	}
	v = ctl_verb_find(word);
	if (!v || (json && !v->json)) {
		wire_error_set(err, WIRE_E_INVAL, "unknown command '%s%s'",
			       word, json ? "-json" : "");
		return WIRE_E_INVAL;
	}
	f = open_memstream(out, outlen);
	if (!f) {
		wire_error_set(err, WIRE_E_NOMEM, "out of memory");
		return WIRE_E_NOMEM;
	}
	pthread_mutex_lock(&c->verb_lock);
	code = v->serve(c->vm, json, f, err);
	pthread_mutex_unlock(&c->verb_lock);
	fclose(f);
	return code;
}

static void
client_mark(struct ctl_client *k, bool busy)
{
	pthread_mutex_lock(&k->c->lock);
	k->busy = busy;
	k->last_ns = now_ns();
	pthread_mutex_unlock(&k->c->lock);
}

/* One tool on run.sock: its commands, one reply each.  Takes fd. */
static void
ctl_serve(struct ctl_client *k)
{
	struct ctl *c = k->c;
	int fd = k->fd;
	struct link_self self = { .vm = c->vm->opts.name,
				  .node = 0,
				  .nodes = 1,
				  .role = WIRE_ROLE_RUN };
	struct link_want want = { 1u << WIRE_ROLE_CONTROL |
					  1u << WIRE_ROLE_CLIENT,
				  LINK_ANY_NODE, 0 };
	struct runmsg_command cmd;
	struct wire_error why;
	struct wire_hdr h;
	struct link *l;
	const void *p;
	char *out = NULL, text[300];
	size_t outlen = 0;
	int r;

	if (!ctl_peer_ok(fd)) {
		close(fd);
		return;
	}
	r = link_greet(fd, &self, &want, "run.sock", CTL_TIMEOUT_MS, &l, text,
		       sizeof(text));
	if (r < 0) {
		log_debug("%s", text);
		return;
	}
	for (;;) {
		r = link_recv(l, &h, &p, CTL_IDLE_MS);
		if (r < 0)
			break;
		if (h.type == WIRE_T_BYE)
			break;
		if (h.type != WIRE_T_CTL_COMMAND ||
		    runmsg_command_decode(p, h.len, &cmd) < 0) {
			wire_error_set(&why, WIRE_E_PROTO,
				       "expected CTL_COMMAND, got %s",
				       wire_type_name(h.type));
			link_send_error(l, WIRE_T_ERROR, 0, &why);
			break;
		}
		memset(&why, 0, sizeof(why));
		/* In a command until its reply is out: never the one cut
		 * off for a newcomer meanwhile. */
		client_mark(k, true);
		r = ctl_do(c, cmd.verb, &out, &outlen, &why) != WIRE_E_NONE;
		if (r)
			r = link_send_error(l, WIRE_T_CTL_RESULT, h.id, &why);
		else
			r = link_send(
				l, WIRE_T_CTL_RESULT, WIRE_F_REPLY, h.id, out,
				outlen > WIRE_MAX_PAYLOAD ? WIRE_MAX_PAYLOAD
							  : outlen,
				NULL, 0);
		free(out);
		out = NULL;
		client_mark(k, false);
		if (r < 0)
			break;
	}
	link_free(l);
}

static void *
client_thread(void *arg)
{
	struct ctl_client *k = arg;

	ctl_serve(k);
	/* Its fd is closed; cut (open until the reap) would keep the
	 * connection up, and the client waiting for an answer. */
	shutdown(k->cut, SHUT_RDWR);
	pthread_mutex_lock(&k->c->lock);
	k->done = true;
	pthread_mutex_unlock(&k->c->lock);
	return NULL;
}

/* Joins a finished (or cut off) client and frees its place. */
static void
client_reap(struct ctl_client *k)
{
	pthread_join(k->thread, NULL);
	close(k->cut);
	memset(k, 0, sizeof(*k));
}

/* A free place for a newcomer: a finished client's, else the one idle
 * longest cut off; NULL when every client is in a command. */
static struct ctl_client *
client_place(struct ctl *c)
{
	struct ctl_client *k, *victim = NULL;

	pthread_mutex_lock(&c->lock);
	for (k = c->cl; k < c->cl + CTL_CLIENTS_MAX; k++) {
		if (!k->used)
			break;
		if (k->done) {
			pthread_mutex_unlock(&c->lock);
			client_reap(k);
			return k;
		}
		if (!k->busy && (!victim || k->last_ns < victim->last_ns))
			victim = k;
	}
	if (k < c->cl + CTL_CLIENTS_MAX) {
		pthread_mutex_unlock(&c->lock);
		return k;
	}
	if (victim) {
		log_debug("run.sock: %d clients: the one idle longest is cut "
			  "off for a newcomer",
			  CTL_CLIENTS_MAX);
		shutdown(victim->cut, SHUT_RDWR);
	}
	pthread_mutex_unlock(&c->lock);
	if (!victim)
		return NULL;
	client_reap(victim);
	return victim;
}

static void
client_start(struct ctl *c, int fd)
{
	struct ctl_client *k;

	if (!ctl_peer_ok(fd) || !(k = client_place(c))) {
		close(fd);
		return;
	}
	k->c = c;
	k->fd = fd;
	k->cut = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	k->last_ns = now_ns();
	if (k->cut < 0 ||
	    pthread_create(&k->thread, NULL, client_thread, k) != 0) {
		log_warn("run.sock: a client cannot be served: %s",
			 strerror(k->cut < 0 ? errno : EAGAIN));
		if (k->cut >= 0)
			close(k->cut);
		close(fd);
		memset(k, 0, sizeof(*k));
		return;
	}
	k->used = true;
}

static void *
ctl_thread(void *arg)
{
	struct ctl *c = arg;

	for (;;) {
		struct pollfd p[2] = { { c->fd, POLLIN, 0 },
				       { c->stop_pipe[0], POLLIN, 0 } };
		int fd;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents)
			break;
		fd = accept4(c->fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		client_start(c, fd);
	}
	/*
	 * Every client is cut off and joined before run.sock goes: its
	 * reading side only, so that one in a command still sends its
	 * reply (`stop` is one: its vm_end is what stops us) and then reads
	 * the end.  Its connection closes with the reap.
	 */
	for (struct ctl_client *k = c->cl; k < c->cl + CTL_CLIENTS_MAX; k++) {
		if (!k->used)
			continue;
		shutdown(k->cut, SHUT_RD);
		client_reap(k);
	}
	return NULL;
}

struct ctl *
ctl_start(struct vm *vm, const char *path)
{
	struct ctl *c = calloc(1, sizeof(*c));
	char text[300];
	int e;

	if (!c)
		return NULL;
	c->vm = vm;
	c->fd = -1;
	c->stop_pipe[0] = c->stop_pipe[1] = -1;
	pthread_mutex_init(&c->lock, NULL);
	pthread_mutex_init(&c->verb_lock, NULL);
	snprintf(c->path, sizeof(c->path), "%s", path);
	/* A socket file nobody answers on is left from a crash: reused.
	 * One that answers belongs to a running avm-run. */
	c->fd = link_listen(link_transport("unix"), path, text, sizeof(text));
	if (c->fd < 0) {
		errno = -c->fd;
		c->fd = -1;
		free(c);
		return NULL;
	}
	if (pipe2(c->stop_pipe, O_CLOEXEC) < 0)
		goto fail;
	if (pthread_create(&c->thread, NULL, ctl_thread, c) != 0) {
		errno = EAGAIN;
		goto fail;
	}
	return c;
fail:
	e = errno;
	if (c->fd >= 0) {
		close(c->fd);
		if (e != EADDRINUSE)
			unlink(path);
	}
	if (c->stop_pipe[0] >= 0) {
		close(c->stop_pipe[0]);
		close(c->stop_pipe[1]);
	}
	free(c);
	errno = e;
	return NULL;
}

void
ctl_stop(struct ctl *c)
{
	if (!c)
		return;
	if (write(c->stop_pipe[1], "", 1) < 0) {
		/* the pipe is ours and empty: cannot fail */
	}
	pthread_join(c->thread, NULL);
	close(c->fd);
	unlink(c->path);
	close(c->stop_pipe[0]);
	close(c->stop_pipe[1]);
	free(c);
}

int
ctl_call(const char *path, const char *vm, const struct ctl_verb *v, int json,
	 FILE *out, char *err, size_t errlen)
{
	struct link_self self = { .vm = vm, .role = WIRE_ROLE_CONTROL };
	struct link_want want = { 1u << WIRE_ROLE_RUN, LINK_ANY_NODE, 0 };
	uint8_t verb[CTL_VERB_MAX];
	struct runmsg_command cmd;
	struct runmsg_bytes res;
	struct wire_error why;
	char why_text[300];
	struct wire_hdr h;
	struct link *l;
	const void *p;
	int cmd_len, r;

	snprintf(cmd.verb, sizeof(cmd.verb), "%s%s", v->name,
		 json && v->json ? "-json" : "");
	cmd_len = runmsg_command_encode(&cmd, verb, sizeof(verb));
	if (cmd_len < 0) {
		snprintf(err, errlen, "'%s': not a verb", cmd.verb);
		return AVM_EX_SOFTWARE;
	}
	r = link_dial(&self, link_transport("unix"), path, &want,
		      CTL_TIMEOUT_MS, &l, why_text, sizeof(why_text));
	if (r < 0) {
		snprintf(err, errlen, "no VM '%s' answers on '%s': %s", vm,
			 path, why_text);
		return r == -EACCES || r == -EPERM ? AVM_EX_NOPERM
		       : r == -ENAMETOOLONG	   ? AVM_EX_USAGE
						   : AVM_EX_UNAVAILABLE;
	}
	r = link_send(l, WIRE_T_CTL_COMMAND, 0, 1, verb, (size_t)cmd_len, NULL,
		      0);
	if (r == 0)
		r = link_recv(l, &h, &p, CTL_PAUSE_TIMEOUT_MS + CTL_TIMEOUT_MS);
	if (r < 0) {
		snprintf(err, errlen, "'%s': %s", path,
			 r == -ETIMEDOUT ? strerror(ETIMEDOUT) : link_why(l));
		link_free(l);
		return r == -ETIMEDOUT ? AVM_EX_TEMPFAIL : AVM_EX_UNAVAILABLE;
	}
	if (h.type != WIRE_T_CTL_RESULT || h.id != 1) {
		snprintf(err, errlen, "'%s': unexpected %s reply", path,
			 wire_type_name(h.type));
		link_free(l);
		return AVM_EX_SOFTWARE;
	}
	if (h.flags & WIRE_F_ERROR) {
		if (wire_error_decode(p, h.len, &why) < 0)
			snprintf(err, errlen, "'%s': malformed error reply",
				 path);
		else
			snprintf(err, errlen, "%s", why.msg);
		link_free(l);
		return why.code == WIRE_E_INVAL ? AVM_EX_USAGE
						: AVM_EX_UNAVAILABLE;
	}
	if (runmsg_bytes_decode(WIRE_T_CTL_RESULT, p, h.len, &res) < 0) {
		snprintf(err, errlen, "'%s': a reply that is not text", path);
		link_free(l);
		return AVM_EX_SOFTWARE;
	}
	fwrite(res.data, 1, res.len, out);
	link_bye(l, CTL_TIMEOUT_MS);
	link_free(l);
	return AVM_EX_OK;
}
