/*
 * The ssh client of avm-fabric on libssh2, non-blocking throughout: the
 * socket is non-blocking from connect(2) on, every libssh2 call that
 * would block returns EAGAIN, and ssh_wait() polls the socket in the
 * direction libssh2 asks for until the connection's deadline.
 */
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

void
ssh_fail(struct ssh_conn *c, enum ssh_fail why, const char *fmt, ...)
{
	va_list ap;

	c->fail = why;
	va_start(ap, fmt);
	vsnprintf(c->error, sizeof(c->error), fmt, ap);
	va_end(ap);
}

/* libssh2's own words for its last error, or "unknown error". */
const char *
ssh_last(struct ssh_conn *c)
{
	char *msg = NULL;

	if (c->s && libssh2_session_last_error(c->s, &msg, NULL, 0) != 0 &&
	    msg && *msg)
		return msg;
	return "unknown error";
}

/*
 * Waits until the socket is ready in the direction libssh2 last blocked
 * on (connect(2) before there is a session).  Returns 0 to try again, or -1 after setting the error when the
 * deadline passed while doing what.
 */
int
ssh_wait(struct ssh_conn *c, const char *what)
{
	struct pollfd p = { .fd = c->fd, .events = 0 };
	int dir, ms, r;

	/* Before the session, only connect(2) waits: for writability. */
	dir = c->s ? libssh2_session_block_directions(c->s)
		   : LIBSSH2_SESSION_BLOCK_OUTBOUND;

	if (dir & LIBSSH2_SESSION_BLOCK_INBOUND)
		p.events |= POLLIN;
	if (dir & LIBSSH2_SESSION_BLOCK_OUTBOUND)
		p.events |= POLLOUT;
	if (!p.events)
		p.events = POLLIN;
	for (;;) {
		ms = deadline_ms(c->deadline);
		if (ms == 0)
			break;
		r = poll(&p, 1, ms);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR) {
			ssh_fail(c, SSH_UNREACHABLE, "ssh: poll: %s",
				 strerror(errno));
			return -1;
		}
	}
	ssh_fail(c, SSH_UNREACHABLE, "ssh: timed out during %s", what);
	return -1;
}

int
ssh_global_init(void)
{
	return libssh2_init(0) == 0 ? 0 : -1;
}

void
ssh_global_release(void)
{
	libssh2_exit();
}

int
ssh_quote(const char *s, char *buf, size_t len)
{
	size_t o = 0;

#define PUT(ch)                       \
	do {                          \
		if (o + 1 >= len)     \
			goto toolong; \
		buf[o++] = (ch);      \
	} while (0)
	PUT('\'');
	for (; *s; s++) {
		if (*s == '\'') {
			PUT('\'');
			PUT('\\');
			PUT('\'');
		}
		PUT(*s);
	}
	PUT('\'');
#undef PUT
	buf[o] = '\0';
	return 0;
toolong:
	if (len > 0)
		buf[0] = '\0';
	errno = ENAMETOOLONG;
	return -1;
}

/*
 * t's addresses, looked up under c's deadline: a resolver that does not
 * answer must not hold the host past it.  Returns 0 with *res, or -1
 * with the error set.  A lookup still running at the deadline is left
 * to the resolver's thread, its request with it (not freed).
 */
static int
ssh_resolve(struct ssh_conn *c, const struct ssh_target *t, const char *port,
	    struct addrinfo **res)
{
	struct gaicb *g = calloc(1, sizeof(*g));
	struct addrinfo *hints = calloc(1, sizeof(*hints));
	char *name = strdup(t->address), *serv = strdup(port);
	struct timespec ts;
	const struct gaicb *list[1];
	int r, ms;

	if (!g || !hints || !name || !serv) {
		ssh_fail(c, SSH_UNREACHABLE, "ssh: out of memory");
		goto free;
	}
	hints->ai_socktype = SOCK_STREAM;
	*g = (struct gaicb){ .ar_name = name,
			     .ar_service = serv,
			     .ar_request = hints };
	list[0] = g;
	r = getaddrinfo_a(GAI_NOWAIT, (struct gaicb **)list, 1, NULL);
	if (r != 0) {
		ssh_fail(c, SSH_UNREACHABLE, "ssh: resolve '%s': %s",
			 t->address, gai_strerror(r));
		goto free;
	}
	while ((r = gai_error(g)) == EAI_INPROGRESS) {
		ms = deadline_ms(c->deadline);
		if (ms == 0) {
			if (gai_cancel(g) != EAI_CANCELED)
				/* still in the resolver's hands: leave it */
				g = NULL, hints = NULL, name = serv = NULL;
			ssh_fail(c, SSH_UNREACHABLE,
				 "ssh: resolve '%s': no answer in time",
				 t->address);
			goto free;
		}
		ts.tv_sec = ms / 1000;
		ts.tv_nsec = (long)(ms % 1000) * 1000000;
		gai_suspend(list, 1, &ts);
	}
	if (r != 0) {
		ssh_fail(c, SSH_UNREACHABLE, "ssh: resolve '%s': %s",
			 t->address, gai_strerror(r));
		goto free;
	}
	*res = g->ar_result;
	free(g);
	free(hints);
	free(name);
	free(serv);
	return 0;
free:
	free(g);
	free(hints);
	free(name);
	free(serv);
	return -1;
}

/* A TCP connection to t under c's deadline; c->fd on success. */
static int
ssh_connect(struct ssh_conn *c, const struct ssh_target *t)
{
	struct addrinfo *res, *ai;
	char port[16], last[256] = "no address";
	socklen_t sl;
	int fd = -1, soerr;

	snprintf(port, sizeof(port), "%u", t->port);
	if (ssh_resolve(c, t, port, &res) < 0)
		return -1;
	for (ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family,
			    ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
			    ai->ai_protocol);
		if (fd < 0) {
			snprintf(last, sizeof(last), "socket: %s",
				 strerror(errno));
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (errno == EINPROGRESS) {
			c->fd = fd;
			if (ssh_wait(c, "connect") < 0) {
				c->fd = -1;
				close(fd);
				fd = -1;
				freeaddrinfo(res);
				ssh_fail(c, SSH_UNREACHABLE,
					 "ssh: connect '%s' port %u: timed out",
					 t->address, t->port);
				return -1;
			}
			c->fd = -1;
			sl = sizeof(soerr);
			if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) <
			    0)
				soerr = errno;
			if (soerr == 0)
				break;
			errno = soerr;
		}
		snprintf(last, sizeof(last), "%s", strerror(errno));
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		ssh_fail(c, SSH_UNREACHABLE, "ssh: connect '%s' port %u: %s",
			 t->address, t->port, last);
		return -1;
	}
	c->fd = fd;
	return 0;
}

/* The known_hosts key type of a session's host key type. */
static int
ssh_knownhost_type(int hostkey_type)
{
	switch (hostkey_type) {
	case LIBSSH2_HOSTKEY_TYPE_RSA:
		return LIBSSH2_KNOWNHOST_KEY_SSHRSA;
	case LIBSSH2_HOSTKEY_TYPE_DSS:
		return LIBSSH2_KNOWNHOST_KEY_SSHDSS;
#ifdef LIBSSH2_HOSTKEY_TYPE_ECDSA_256
	case LIBSSH2_HOSTKEY_TYPE_ECDSA_256:
		return LIBSSH2_KNOWNHOST_KEY_ECDSA_256;
	case LIBSSH2_HOSTKEY_TYPE_ECDSA_384:
		return LIBSSH2_KNOWNHOST_KEY_ECDSA_384;
	case LIBSSH2_HOSTKEY_TYPE_ECDSA_521:
		return LIBSSH2_KNOWNHOST_KEY_ECDSA_521;
#endif
#ifdef LIBSSH2_HOSTKEY_TYPE_ED25519
	case LIBSSH2_HOSTKEY_TYPE_ED25519:
		return LIBSSH2_KNOWNHOST_KEY_ED25519;
#endif
	}
	return -1;
}

static const char *
ssh_key_name(int hostkey_type)
{
	switch (hostkey_type) {
	case LIBSSH2_HOSTKEY_TYPE_RSA:
		return "ssh-rsa";
	case LIBSSH2_HOSTKEY_TYPE_DSS:
		return "ssh-dss";
#ifdef LIBSSH2_HOSTKEY_TYPE_ECDSA_256
	case LIBSSH2_HOSTKEY_TYPE_ECDSA_256:
		return "ecdsa-sha2-nistp256";
	case LIBSSH2_HOSTKEY_TYPE_ECDSA_384:
		return "ecdsa-sha2-nistp384";
	case LIBSSH2_HOSTKEY_TYPE_ECDSA_521:
		return "ecdsa-sha2-nistp521";
#endif
#ifdef LIBSSH2_HOSTKEY_TYPE_ED25519
	case LIBSSH2_HOSTKEY_TYPE_ED25519:
		return "ssh-ed25519";
#endif
	}
	return "unknown";
}

/* "SHA256:..." of the session's host key, as ssh-keygen -l prints it. */
static void
ssh_fingerprint(struct ssh_conn *c, char *buf, size_t len)
{
	const char *h = libssh2_hostkey_hash(c->s, LIBSSH2_HOSTKEY_HASH_SHA256);
	unsigned char b64[64];
	int n;

	if (!h) {
		snprintf(buf, len, "(no fingerprint)");
		return;
	}
	n = EVP_EncodeBlock(b64, (const unsigned char *)h, 32);
	while (n > 0 && b64[n - 1] == '=')
		n--;
	snprintf(buf, len, "SHA256:%.*s", n, (const char *)b64);
}

/*
 * One name's entry of the key's type: "name", or "[name]:port" when the
 * port is not 22, as ssh(1) writes them.  libssh2_knownhost_checkp() would
 * fall back from "[name]:port" to the bare name, taking the key of
 * another port's server for this one; the name is built here instead.
 */
static int
ssh_known(LIBSSH2_KNOWNHOSTS *kh, const char *name, unsigned port,
	  const char *key, size_t keylen, int ktype)
{
	char buf[1100];

	if (port == 22)
		snprintf(buf, sizeof(buf), "%s", name);
	else
		snprintf(buf, sizeof(buf), "[%s]:%u", name, port);
	return libssh2_knownhost_checkp(kh, buf, -1, key, keylen,
					LIBSSH2_KNOWNHOST_TYPE_PLAIN |
						LIBSSH2_KNOWNHOST_KEYENC_RAW |
						ktype,
					NULL);
}

/*
 * The host key against the known_hosts file: a key of the same type for
 * the address (or, when the address has none, for the host name) must be
 * the one offered.  An unknown key is taken only with o->accept_new, and
 * said so; a changed key never.
 */
static int
ssh_check_hostkey(struct ssh_conn *c, const struct ssh_target *t,
		  const struct ssh_opts *o)
{
	LIBSSH2_KNOWNHOSTS *kh;
	const char *key;
	size_t keylen;
	int type, ktype, r;
	char fp[128], shown[1100];

	key = libssh2_session_hostkey(c->s, &keylen, &type);
	if (!key) {
		ssh_fail(c, SSH_UNREACHABLE, "ssh: no host key: %s",
			 ssh_last(c));
		return -1;
	}
	ssh_fingerprint(c, fp, sizeof(fp));
	if (t->port == 22)
		snprintf(shown, sizeof(shown), "%s", t->address);
	else
		snprintf(shown, sizeof(shown), "[%s]:%u", t->address, t->port);
	ktype = ssh_knownhost_type(type);
	if (ktype < 0) {
		ssh_fail(c, SSH_REFUSED, "ssh: host key of unknown type %d",
			 type);
		return -1;
	}
	kh = libssh2_knownhost_init(c->s);
	if (!kh) {
		ssh_fail(c, SSH_UNREACHABLE, "ssh: known hosts: %s",
			 ssh_last(c));
		return -1;
	}
	/* A missing file knows no host: every key is then unknown. */
	if (access(o->known_hosts, F_OK) == 0 &&
	    libssh2_knownhost_readfile(kh, o->known_hosts,
				       LIBSSH2_KNOWNHOST_FILE_OPENSSH) < 0) {
		ssh_fail(c, SSH_REFUSED, "ssh: read '%s': %s", o->known_hosts,
			 ssh_last(c));
		libssh2_knownhost_free(kh);
		return -1;
	}
	r = ssh_known(kh, t->address, t->port, key, keylen, ktype);
	if (r == LIBSSH2_KNOWNHOST_CHECK_NOTFOUND &&
	    strcmp(t->host, t->address) != 0)
		r = ssh_known(kh, t->host, t->port, key, keylen, ktype);
	libssh2_knownhost_free(kh);
	switch (r) {
	case LIBSSH2_KNOWNHOST_CHECK_MATCH:
		return 0;
	case LIBSSH2_KNOWNHOST_CHECK_MISMATCH:
		ssh_fail(c, SSH_REFUSED,
			 "ssh: host key changed: the %s key %s of '%s' is not "
			 "the one in '%s'",
			 ssh_key_name(type), fp, shown, o->known_hosts);
		return -1;
	case LIBSSH2_KNOWNHOST_CHECK_NOTFOUND:
		if (o->accept_new) {
			log_warn("%s: accepting the unknown %s host key %s of "
				 "'%s' (--insecure-accept-new-host-keys); it "
				 "is not recorded",
				 o->tag, ssh_key_name(type), fp, shown);
			return 0;
		}
		ssh_fail(c, SSH_REFUSED,
			 "ssh: host key not in known_hosts: no %s key for '%s' "
			 "in '%s' (offered %s)",
			 ssh_key_name(type), shown, o->known_hosts, fp);
		return -1;
	default:
		ssh_fail(c, SSH_REFUSED, "ssh: host key check failed: %s",
			 ssh_last(c));
		return -1;
	}
}

/* Tries one private key file; 0 when the server took it. */
static int
ssh_auth_file(struct ssh_conn *c, const char *user, const char *key)
{
	char pub[4096];
	int rc;

	snprintf(pub, sizeof(pub), "%s.pub", key);
	SSH_RETRY(c, rc, "authentication",
		  libssh2_userauth_publickey_fromfile_ex(
			  c->s, user, (unsigned)strlen(user),
			  access(pub, R_OK) == 0 ? pub : NULL, key, NULL));
	return rc;
}

/* Tries each identity of the ssh agent; 0 when one was taken. */
static int
ssh_auth_agent(struct ssh_conn *c, const char *user)
{
	struct libssh2_agent_publickey *id = NULL, *prev = NULL;
	LIBSSH2_AGENT *agent;
	int rc = -1;

	if (!getenv("SSH_AUTH_SOCK"))
		return -1;
	agent = libssh2_agent_init(c->s);
	if (!agent)
		return -1;
	if (libssh2_agent_connect(agent) != 0 ||
	    libssh2_agent_list_identities(agent) != 0)
		goto out;
	while (libssh2_agent_get_identity(agent, &id, prev) == 0) {
		SSH_RETRY(c, rc, "authentication",
			  libssh2_agent_userauth(agent, user, id));
		if (rc == 0 || c->fail != SSH_OK)
			break;
		prev = id;
	}
out:
	libssh2_agent_disconnect(agent);
	libssh2_agent_free(agent);
	return rc;
}

/*
 * The node's key when the cluster file names one (that key alone), else
 * the agent, else ~/.ssh/id_ed25519, id_ecdsa and id_rsa.
 */
static int
ssh_auth(struct ssh_conn *c, const struct ssh_target *t)
{
	static const char *const defaults[] = { "id_ed25519", "id_ecdsa",
						"id_rsa" };
	const char *home = getenv("HOME");
	char path[4096], tried[3 * 4096 + 64] = "";
	size_t i;
	int rc;

	if (t->key) {
		if (access(t->key, R_OK) < 0) {
			ssh_fail(c, SSH_REFUSED, "ssh: key '%s': %s", t->key,
				 strerror(errno));
			return -1;
		}
		rc = ssh_auth_file(c, t->user, t->key);
		if (rc == 0)
			return 0;
		if (c->fail == SSH_OK)
			ssh_fail(c, SSH_REFUSED,
				 "ssh: key '%s' refused for user '%s': %s",
				 t->key, t->user, ssh_last(c));
		return -1;
	}
	if (ssh_auth_agent(c, t->user) == 0)
		return 0;
	if (c->fail != SSH_OK)
		return -1;
	snprintf(tried, sizeof(tried), "%s",
		 getenv("SSH_AUTH_SOCK") ? "the agent's keys" : "");
	for (i = 0; home && i < AVM_ARRAY_SIZE(defaults); i++) {
		snprintf(path, sizeof(path), "%s/.ssh/%s", home, defaults[i]);
		if (access(path, R_OK) < 0)
			continue;
		if (ssh_auth_file(c, t->user, path) == 0)
			return 0;
		if (c->fail != SSH_OK)
			return -1;
		snprintf(tried + strlen(tried), sizeof(tried) - strlen(tried),
			 "%s'%s'", tried[0] ? ", " : "", path);
	}
	ssh_fail(c, SSH_REFUSED,
		 "ssh: no key accepted for user '%s' (tried %s)", t->user,
		 tried[0] ? tried : "no agent and no default key");
	return -1;
}

int
ssh_open(struct ssh_conn *c, const struct ssh_target *t,
	 const struct ssh_opts *o)
{
	int rc;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	c->deadline = o->deadline;
	if (ssh_connect(c, t) < 0)
		return -1;
	c->s = libssh2_session_init();
	if (!c->s) {
		ssh_fail(c, SSH_UNREACHABLE, "ssh: cannot start a session");
		return -1;
	}
	libssh2_session_set_blocking(c->s, 0);
	SSH_RETRY(c, rc, "handshake", libssh2_session_handshake(c->s, c->fd));
	if (rc != 0) {
		if (c->fail == SSH_OK)
			ssh_fail(c, SSH_UNREACHABLE, "ssh: handshake: %s",
				 ssh_last(c));
		return -1;
	}
	if (ssh_check_hostkey(c, t, o) < 0)
		return -1;
	return ssh_auth(c, t);
}

/* Appends what one read gave to *buf, dropping what is over the cap. */
static void
ssh_keep(struct ssh_result *r, char **buf, size_t *len, const char *data,
	 size_t n)
{
	char *nb;
	size_t take = n;

	if (*len + take > SSH_OUTPUT_MAX) {
		take = SSH_OUTPUT_MAX - *len;
		r->truncated = 1;
	}
	if (take == 0)
		return;
	nb = realloc(*buf, *len + take + 1);
	if (!nb) {
		r->truncated = 1;
		return;
	}
	memcpy(nb + *len, data, take);
	*len += take;
	nb[*len] = '\0';
	*buf = nb;
}

int
ssh_cmd_start(struct ssh_conn *c, const char *cmd, struct ssh_cmd *x)
{
	struct ssh_result *r = &x->r;
	int rc;

	memset(x, 0, sizeof(*x));
	x->c = c;
	r->exit_status = -1;
	r->out = calloc(1, 1);
	r->err = calloc(1, 1);
	if (!r->out || !r->err) {
		ssh_fail(c, SSH_UNREACHABLE, "ssh: out of memory");
		return -1;
	}
	while (!(x->ch = libssh2_channel_open_session(c->s))) {
		if (libssh2_session_last_errno(c->s) != LIBSSH2_ERROR_EAGAIN) {
			ssh_fail(c, SSH_UNREACHABLE, "ssh: open a channel: %s",
				 ssh_last(c));
			return -1;
		}
		if (ssh_wait(c, "channel open") < 0)
			return -1;
	}
	SSH_RETRY(c, rc, "exec", libssh2_channel_exec(x->ch, cmd));
	if (rc != 0) {
		if (c->fail == SSH_OK)
			ssh_fail(c, SSH_UNREACHABLE, "ssh: exec: %s",
				 ssh_last(c));
		return -1;
	}
	return 0;
}

int
ssh_cmd_pump(struct ssh_cmd *x)
{
	struct ssh_result *r = &x->r;
	char buf[16384];
	ssize_t n, m;

	n = libssh2_channel_read(x->ch, buf, sizeof(buf));
	if (n > 0)
		ssh_keep(r, &r->out, &r->out_len, buf, (size_t)n);
	m = libssh2_channel_read_stderr(x->ch, buf, sizeof(buf));
	if (m > 0)
		ssh_keep(r, &r->err, &r->err_len, buf, (size_t)m);
	if ((n < 0 && n != LIBSSH2_ERROR_EAGAIN) ||
	    (m < 0 && m != LIBSSH2_ERROR_EAGAIN)) {
		ssh_fail(x->c, SSH_UNREACHABLE, "ssh: read: %s",
			 ssh_last(x->c));
		return -1;
	}
	if (n > 0 || m > 0)
		return 1;
	return libssh2_channel_eof(x->ch) ? 2 : 0;
}

int
ssh_cmd_line(struct ssh_cmd *x, char *buf, size_t len)
{
	struct ssh_result *r = &x->r;
	const char *nl;
	size_t n;
	int rc;

	for (;;) {
		nl = memchr(r->out + x->out_seen, '\n',
			    r->out_len - x->out_seen);
		if (nl) {
			n = (size_t)(nl - (r->out + x->out_seen));
			snprintf(buf, len, "%.*s", (int)n,
				 r->out + x->out_seen);
			x->out_seen += n + 1;
			return 0;
		}
		rc = ssh_cmd_pump(x);
		if (rc < 0)
			return -1;
		if (rc == 2) {
			x->ended = 1;
			return -1;
		}
		if (rc == 0 && ssh_wait(x->c, "the command") < 0)
			return -1;
	}
}

int
ssh_cmd_finish(struct ssh_cmd *x)
{
	struct ssh_conn *c = x->c;
	struct ssh_result *r = &x->r;
	char *sig = NULL;
	size_t siglen = 0;
	int rc;

	if (!x->ch)
		return -1;
	/* Our end of its stdin: a command that reads it sees the end. */
	SSH_RETRY(c, rc, "send eof", libssh2_channel_send_eof(x->ch));
	if (rc != 0 && c->fail != SSH_OK)
		goto fail; /* a command that closed first is no error */
	while ((rc = ssh_cmd_pump(x)) != 2) {
		if (rc < 0 || (rc == 0 && ssh_wait(c, "the command") < 0))
			goto fail;
	}
	x->ended = 1;
	SSH_RETRY(c, rc, "channel close", libssh2_channel_close(x->ch));
	if (rc == 0)
		SSH_RETRY(c, rc, "channel close",
			  libssh2_channel_wait_closed(x->ch));
	if (rc != 0)
		goto fail;
	libssh2_channel_get_exit_signal(x->ch, &sig, &siglen, NULL, NULL, NULL,
					NULL);
	if (sig) {
		snprintf(r->signal, sizeof(r->signal), "%.*s", (int)siglen,
			 sig);
		libssh2_free(c->s, sig);
	} else {
		r->exit_status = libssh2_channel_get_exit_status(x->ch);
	}
	SSH_RETRY(c, rc, "channel close", libssh2_channel_free(x->ch));
	x->ch = NULL;
	return 0;
fail:
	if (c->fail == SSH_OK)
		ssh_fail(c, SSH_UNREACHABLE, "ssh: the command: %s",
			 ssh_last(c));
	ssh_cmd_drop(x);
	return -1;
}

void
ssh_cmd_drop(struct ssh_cmd *x)
{
	int rc;

	if (!x->ch)
		return;
	SSH_RETRY(x->c, rc, "channel close", libssh2_channel_free(x->ch));
	(void)rc;
	x->ch = NULL;
}

int
ssh_run(struct ssh_conn *c, const char *cmd, struct ssh_result *r)
{
	struct ssh_cmd x;
	int rc;

	rc = ssh_cmd_start(c, cmd, &x);
	if (rc == 0)
		rc = ssh_cmd_finish(&x);
	else
		ssh_cmd_drop(&x);
	*r = x.r;
	return rc;
}

void
ssh_result_release(struct ssh_result *r)
{
	free(r->out);
	free(r->err);
	r->out = r->err = NULL;
}

void
ssh_close(struct ssh_conn *c)
{
	uint64_t bye = now_ns() + 1000000000ull;
	int rc;

	if (c->s && c->sftp) {
		if (c->deadline < now_ns() + 1000000000ull)
			c->deadline = now_ns() + 1000000000ull;
		SSH_RETRY(c, rc, "sftp shutdown",
			  libssh2_sftp_shutdown(c->sftp));
		c->sftp = NULL;
	}
	if (c->s) {
		/* A goodbye gets a second at most, even past the deadline. */
		if (c->fd >= 0 && c->fail == SSH_OK) {
			if (c->deadline > bye || c->deadline < now_ns())
				c->deadline = bye;
			SSH_RETRY(c, rc, "disconnect",
				  libssh2_session_disconnect(c->s, "bye"));
		}
		if (c->deadline < now_ns() + 1000000000ull)
			c->deadline = now_ns() + 1000000000ull;
		/* Past the deadline the session is left, not waited on. */
		SSH_RETRY(c, rc, "disconnect", libssh2_session_free(c->s));
		(void)rc;
		c->s = NULL;
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}
