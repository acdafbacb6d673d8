/* The control socket run.sock; see ctl.h. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "avm/emit.h"
#include "avm/log.h"
#include "avm/util.h"
#include "avm/wire.h"

#include "ctl.h"
#include "vm.h"

#define CTL_TIMEOUT_MS 2000
#define CTL_PAUSE_TIMEOUT_MS 5000
#define CTL_VERB_MAX WIRE_CTL_VERB_MAX

struct ctl {
	struct vm *vm;
	int fd;
	int stop_pipe[2];
	pthread_t thread;
	char path[108];
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
	code = v->serve(c->vm, json, f, err);
	fclose(f);
	return code;
}

static void
ctl_serve(struct ctl *c, int fd)
{
	struct wire_hello mine, peer;
	struct wire_error why;
	struct wire_hdr h;
	char verb[CTL_VERB_MAX + 1];
	uint16_t version;
	char *out = NULL;
	size_t outlen = 0;
	int r;

	if (!ctl_peer_ok(fd))
		return;
	if (wire_hello_init(&mine, WIRE_ROLE_RUN, 0, 1, c->vm->opts.name) < 0)
		return;
	r = wire_handshake(fd, &mine, &peer, &version, CTL_TIMEOUT_MS, &why);
	if (r < 0) {
		log_debug("run.sock: handshake: %s", strerror(-r));
		return;
	}
	for (;;) {
		r = wire_recv(fd, &h, verb, CTL_VERB_MAX, 60000);
		if (r < 0)
			break;
		if (h.type != WIRE_T_CTL_COMMAND) {
			wire_error_set(&why, WIRE_E_PROTO,
				       "expected CTL_COMMAND, got %s",
				       wire_type_name(h.type));
			wire_send_error(fd, WIRE_T_ERROR, 0, &why);
			break;
		}
		verb[h.len] = '\0';
		memset(&why, 0, sizeof(why));
		if (ctl_do(c, verb, &out, &outlen, &why) != WIRE_E_NONE)
			r = wire_send_error(fd, WIRE_T_CTL_RESULT, h.id, &why);
		else
			r = wire_send(
				fd, WIRE_T_CTL_RESULT, WIRE_F_REPLY, h.id, out,
				outlen > WIRE_MAX_PAYLOAD ? WIRE_MAX_PAYLOAD
							  : (uint32_t)outlen);
		free(out);
		out = NULL;
		if (r < 0)
			break;
	}
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
		ctl_serve(c, fd);
		close(fd);
	}
	return NULL;
}

static int
ctl_addr(const char *path, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sa->sun_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(sa->sun_path, path);
	return 0;
}

struct ctl *
ctl_start(struct vm *vm, const char *path)
{
	struct ctl *c = calloc(1, sizeof(*c));
	struct sockaddr_un sa;
	int probe, e;

	if (!c)
		return NULL;
	c->vm = vm;
	c->fd = -1;
	c->stop_pipe[0] = c->stop_pipe[1] = -1;
	if (ctl_addr(path, &sa) < 0)
		goto fail;
	snprintf(c->path, sizeof(c->path), "%s", path);
	/* A socket file nobody answers on is left from a crash: reuse it.
	 * One that answers belongs to a running avm-run. */
	probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (probe >= 0) {
		if (connect(probe, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
			close(probe);
			errno = EADDRINUSE;
			goto fail;
		}
		close(probe);
	}
	unlink(path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		goto fail;
	if (fchmod(c->fd, 0600) < 0 && errno != EINVAL)
		goto fail;
	if (bind(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		goto fail;
	if (chmod(path, 0600) < 0 || listen(c->fd, 8) < 0)
		goto fail;
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
	char verb[CTL_VERB_MAX + 1];
	static char buf[WIRE_MAX_PAYLOAD];
	struct wire_hello mine, peer;
	struct wire_error why;
	struct sockaddr_un sa;
	struct wire_hdr h;
	uint16_t version;
	int fd, r;

	snprintf(verb, sizeof(verb), "%s%s", v->name,
		 json && v->json ? "-json" : "");
	if (ctl_addr(path, &sa) < 0) {
		snprintf(err, errlen, "'%s': path too long", path);
		return AVM_EX_USAGE;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return AVM_EX_OSERR;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = errno;
		close(fd);
		snprintf(err, errlen, "no VM '%s' answers on '%s': %s", vm,
			 path, strerror(r));
		return r == EACCES ? AVM_EX_NOPERM : AVM_EX_UNAVAILABLE;
	}
	r = wire_hello_init(&mine, WIRE_ROLE_CONTROL, 0, 0, vm);
	if (r == 0)
		r = wire_handshake(fd, &mine, &peer, &version, CTL_TIMEOUT_MS,
				   &why);
	if (r == 0)
		r = wire_send(fd, WIRE_T_CTL_COMMAND, 0, 1, verb,
			      (uint32_t)strlen(verb));
	if (r == 0)
		r = wire_recv(fd, &h, buf, sizeof(buf),
			      CTL_PAUSE_TIMEOUT_MS + CTL_TIMEOUT_MS);
	close(fd);
	if (r < 0) {
		snprintf(err, errlen, "'%s': %s", path, strerror(-r));
		return r == -ETIMEDOUT ? AVM_EX_TEMPFAIL : AVM_EX_UNAVAILABLE;
	}
	if (h.type != WIRE_T_CTL_RESULT || h.id != 1) {
		snprintf(err, errlen, "'%s': unexpected %s reply", path,
			 wire_type_name(h.type));
		return AVM_EX_SOFTWARE;
	}
	if (h.flags & WIRE_F_ERROR) {
		if (wire_error_decode(buf, h.len, &why) < 0)
			snprintf(err, errlen, "'%s': malformed error reply",
				 path);
		else
			snprintf(err, errlen, "%s", why.msg);
		return why.code == WIRE_E_INVAL ? AVM_EX_USAGE
						: AVM_EX_UNAVAILABLE;
	}
	fwrite(buf, 1, h.len, out);
	return AVM_EX_OK;
}
