/*
 * Unit tests of lib/auth.c: secret files (raw, hex, modes, bad content),
 * the proof and its direction, and the exchange over a socketpair with
 * the same and with different secrets.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "avm/auth.h"
#include "tap.h"

static char dir[] = "/tmp/t-auth.XXXXXX";

static const char *
file_with(const char *name, const void *data, size_t len, mode_t mode)
{
	static char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, data, len) != (ssize_t)len) {
		perror(path);
		exit(1);
	}
	close(fd);
	chmod(path, mode);
	return path;
}

struct side {
	int fd;
	uint8_t key[AUTH_KEY_LEN];
	struct wire_hello mine, peer;
	int rc;
	struct wire_error why;
};

static void *
run_side(void *arg)
{
	struct side *s = arg;
	uint16_t v;

	s->rc = wire_handshake(s->fd, &s->mine, &s->peer, &v, 5000, NULL);
	if (s->rc == 0)
		s->rc = auth_exchange(s->fd, s->key, &s->mine, &s->peer, 5000,
				      &s->why);
	return NULL;
}

static void
exchange(const uint8_t *ka, const uint8_t *kb, int *ra, int *rb)
{
	struct side a = { 0 }, b = { 0 };
	pthread_t t;
	int sv[2];

	socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv);
	a.fd = sv[0];
	b.fd = sv[1];
	memcpy(a.key, ka, AUTH_KEY_LEN);
	memcpy(b.key, kb, AUTH_KEY_LEN);
	wire_hello_init(&a.mine, WIRE_ROLE_PAGER_FAULT, 0, 2, "vm");
	wire_hello_init(&b.mine, WIRE_ROLE_PAGER_FAULT, 1, 2, "vm");
	pthread_create(&t, NULL, run_side, &a);
	run_side(&b);
	pthread_join(t, NULL);
	close(sv[0]);
	close(sv[1]);
	*ra = a.rc;
	*rb = b.rc;
}

int
main(void)
{
	uint8_t k[AUTH_KEY_LEN], k2[AUTH_KEY_LEN], raw[AUTH_KEY_LEN];
	uint8_t mac[AUTH_MAC_LEN];
	char hex[2 * AUTH_KEY_LEN + 2];
	struct wire_hello a, b;
	const char *p;
	char path[256];
	int ra, rb, i;

	if (!mkdtemp(dir))
		return 1;
	for (i = 0; i < AUTH_KEY_LEN; i++) {
		raw[i] = (uint8_t)(i * 7 + 1);
		sprintf(hex + 2 * i, "%02x", raw[i]);
	}
	p = file_with("raw", raw, sizeof(raw), 0600);
	ok(auth_secret_load(p, k) == 0 && !memcmp(k, raw, sizeof(k)),
	   "32 raw bytes load");
	strcat(hex, "\n");
	p = file_with("hex", hex, strlen(hex), 0400);
	ok(auth_secret_load(p, k) == 0 && !memcmp(k, raw, sizeof(k)),
	   "64 hex digits and a newline load");
	p = file_with("open", raw, sizeof(raw), 0640);
	is_int(auth_secret_load(p, k), -EPERM, "mode 0640 refused");
	p = file_with("short", raw, 31, 0600);
	is_int(auth_secret_load(p, k), -EINVAL, "31 bytes refused");
	p = file_with("long", hex, 33, 0600);
	is_int(auth_secret_load(p, k), -EINVAL, "33 bytes refused");
	hex[5] = 'g';
	p = file_with("badhex", hex, strlen(hex), 0600);
	is_int(auth_secret_load(p, k), -EINVAL, "a non-hex digit refused");
	is_int(auth_secret_load("/nonexistent/secret", k), -ENOENT,
	       "missing file");
	is_int(auth_secret_load(dir, k), -EINVAL, "a directory refused");
	{
		char fifo[600];

		/* A FIFO once hung the tools forever: a hang here is ended
		 * by the alarm, which fails the test. */
		snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
		alarm(10);
		ok(mkfifo(fifo, 0600) == 0 &&
			   auth_secret_load(fifo, k) == -EINVAL,
		   "a FIFO is refused at once, not waited on");
		alarm(0);
		unlink(fifo);
	}
	p = file_with("theirs", raw, sizeof(raw), 0600);
	if (geteuid() == 0) {
		ok(chown(p, 65534, 65534) == 0 &&
			   auth_secret_load(p, k) == -EKEYREJECTED,
		   "a secret owned by another user is refused");
		is_int(auth_secret_exit(-EKEYREJECTED), 77, "... with 77");
	} else {
		ok(1, "# SKIP another user's secret: needs root to chown");
		ok(1, "# SKIP ... with 77");
	}

	snprintf(path, sizeof(path), "%s/new", dir);
	is_int(auth_secret_create(path), 0, "create a secret");
	{
		struct stat st;

		ok(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600 &&
			   st.st_size == AUTH_KEY_LEN,
		   "created 0600, 32 bytes");
	}
	is_int(auth_secret_create(path), -EEXIST, "create does not overwrite");
	ok(auth_secret_load(path, k2) == 0 && memcmp(k2, raw, sizeof(k2)),
	   "created secret loads and is not the fixed one");

	memcpy(k, raw, sizeof(k));
	wire_hello_init(&a, WIRE_ROLE_PAGER_FAULT, 0, 2, "vm");
	wire_hello_init(&b, WIRE_ROLE_PAGER_FAULT, 1, 2, "vm");
	is_int(auth_proof(k, &a, &b, mac), 0, "proof");
	is_int(auth_verify(k, &a, &b, mac), 0, "proof verifies");
	is_int(auth_verify(k, &b, &a, mac), -EACCES,
	       "proof does not verify the other way round");
	is_int(auth_verify(k2, &a, &b, mac), -EACCES,
	       "proof does not verify with another key");
	b.nonce[0] ^= 1;
	is_int(auth_verify(k, &a, &b, mac), -EACCES,
	       "proof is bound to the peer's nonce");

	exchange(k, k, &ra, &rb);
	ok(ra == 0 && rb == 0, "exchange, same secret: both accept (%d %d)", ra,
	   rb);
	exchange(k, k2, &ra, &rb);
	ok(ra == -EACCES && rb == -EACCES,
	   "exchange, different secrets: both refuse (%d %d)", ra, rb);

	snprintf(path, sizeof(path), "rm -rf %s", dir);
	if (system(path) != 0)
		return 1;
	return done_testing();
}
