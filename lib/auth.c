/* Secret files and the HMAC proof of pager links; see include/avm/auth.h. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "avm/auth.h"
#include "avm/exit.h"
#include "avm/util.h"

/* Bumped when the proof's input changes; a new label never verifies. */
static const char auth_label[] = "AVM pager link proof v1";

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
auth_secret_load(const char *path, uint8_t key[AUTH_KEY_LEN])
{
	uint8_t buf[2 * AUTH_KEY_LEN + 2];
	struct stat st;
	ssize_t n;
	size_t len = 0, i;
	int fd, rc = 0;

	/* O_NONBLOCK: a FIFO planted as the secret must not hang us. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		rc = -errno;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		rc = -EINVAL;
		goto out;
	}
	if (st.st_mode & 077) {
		rc = -EPERM;
		goto out;
	}
	/* A secret another user could have written is not ours. */
	if (st.st_uid != geteuid() && st.st_uid != 0) {
		rc = -EKEYREJECTED;
		goto out;
	}
	while (len < sizeof(buf)) {
		n = read(fd, buf + len, sizeof(buf) - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = -errno;
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len == AUTH_KEY_LEN) {
		memcpy(key, buf, AUTH_KEY_LEN);
		goto out;
	}
	if (len == 2 * AUTH_KEY_LEN + 1 && buf[len - 1] == '\n')
		len--;
	if (len != 2 * AUTH_KEY_LEN) {
		rc = -EINVAL;
		goto out;
	}
	for (i = 0; i < AUTH_KEY_LEN; i++) {
		int hi = hexval(buf[2 * i]), lo = hexval(buf[2 * i + 1]);

		if (hi < 0 || lo < 0) {
			rc = -EINVAL;
			goto out;
		}
		key[i] = (uint8_t)(hi << 4 | lo);
	}
out:
	explicit_bzero(buf, sizeof(buf));
	close(fd);
	return rc;
}

const char *
auth_secret_strerror(int rc)
{
	switch (rc) {
	case -EPERM:
		return "group or others may read it (chmod 600)";
	case -EKEYREJECTED:
		return "owned by another user: only a secret of this user's "
		       "or root's is trusted (chown it, or make a new one)";
	case -EINVAL:
		return "not a regular file of 32 bytes or 64 hex digits";
	case -ENOENT:
		return "No such file or directory (every node needs the VM's "
		       "secret, mode 0600)";
	}
	return strerror(-rc);
}

int
auth_secret_exit(int rc)
{
	switch (rc) {
	case -ENOENT:
	case -ENOTDIR:
		return AVM_EX_NOINPUT;
	case -EPERM:
	case -EACCES:
	case -EKEYREJECTED:
		return AVM_EX_NOPERM;
	}
	return AVM_EX_CONFIG;
}

int
auth_secret_create(const char *path)
{
	uint8_t key[AUTH_KEY_LEN];
	size_t got = 0;
	ssize_t n;
	int fd, rc = 0;

	while (got < sizeof(key)) {
		n = getrandom(key + got, sizeof(key) - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		got += (size_t)n;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	if (write_full(fd, key, sizeof(key)) < 0)
		rc = -errno;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	if (rc < 0)
		unlink(path);
out:
	explicit_bzero(key, sizeof(key));
	return rc;
}

/* label, from (role, node, nonce), to (role, node, nonce), vm name. */
static size_t
proof_input(const struct wire_hello *from, const struct wire_hello *to,
	    uint8_t *p)
{
	uint8_t *q = p;

	memcpy(q, auth_label, sizeof(auth_label));
	q += sizeof(auth_label);
	wire_put16(q, from->role);
	wire_put32(q + 2, from->node);
	memcpy(q + 6, from->nonce, WIRE_NONCE_LEN);
	q += 6 + WIRE_NONCE_LEN;
	wire_put16(q, to->role);
	wire_put32(q + 2, to->node);
	memcpy(q + 6, to->nonce, WIRE_NONCE_LEN);
	q += 6 + WIRE_NONCE_LEN;
	memset(q, 0, WIRE_VM_NAME_LEN);
	memcpy(q, from->vm, strnlen(from->vm, WIRE_VM_NAME_LEN - 1));
	q += WIRE_VM_NAME_LEN;
	return (size_t)(q - p);
}

int
auth_proof(const uint8_t key[AUTH_KEY_LEN], const struct wire_hello *from,
	   const struct wire_hello *to, uint8_t mac[AUTH_MAC_LEN])
{
	uint8_t in[sizeof(auth_label) + 2 * (6 + WIRE_NONCE_LEN) +
		   WIRE_VM_NAME_LEN];
	unsigned int maclen = 0;
	size_t n;

	n = proof_input(from, to, in);
	if (!HMAC(EVP_sha256(), key, AUTH_KEY_LEN, in, n, mac, &maclen) ||
	    maclen != AUTH_MAC_LEN)
		return -EIO;
	return 0;
}

int
auth_verify(const uint8_t key[AUTH_KEY_LEN], const struct wire_hello *from,
	    const struct wire_hello *to, const uint8_t mac[AUTH_MAC_LEN])
{
	uint8_t want[AUTH_MAC_LEN];
	int rc;

	rc = auth_proof(key, from, to, want);
	if (rc < 0)
		return rc;
	rc = CRYPTO_memcmp(want, mac, AUTH_MAC_LEN) ? -EACCES : 0;
	explicit_bzero(want, sizeof(want));
	return rc;
}

/* An ERROR notice before the caller closes; failures do not matter. */
static void
send_notice(int fd, const struct wire_error *why, uint64_t deadline)
{
	uint8_t buf[WIRE_ERROR_MAX];
	int n;

	n = wire_error_encode(why, buf, sizeof(buf));
	if (n > 0)
		(void)wire_send_timeout(fd, WIRE_T_ERROR, 0, 0, buf,
					(uint32_t)n, deadline_ms(deadline));
}

int
auth_exchange(int fd, const uint8_t key[AUTH_KEY_LEN],
	      const struct wire_hello *mine, const struct wire_hello *peer,
	      int timeout_ms, struct wire_error *why)
{
	uint8_t mac[AUTH_MAC_LEN], buf[WIRE_ERROR_MAX];
	struct wire_error local;
	struct wire_hdr h;
	uint64_t deadline;
	int rc;

	if (!why)
		why = &local;
	why->code = WIRE_E_NONE;
	why->msg[0] = '\0';
	if (timeout_ms < 0)
		return -EINVAL;
	deadline = now_ns() + (uint64_t)timeout_ms * 1000000u;
	rc = auth_proof(key, mine, peer, mac);
	if (rc < 0)
		return rc;
	rc = wire_send_timeout(fd, WIRE_T_PG_AUTH, 0, 0, mac, sizeof(mac),
			       deadline_ms(deadline));
	if (rc < 0)
		return rc;
	rc = wire_recv(fd, &h, buf, sizeof(buf), deadline_ms(deadline));
	if (rc < 0)
		return rc;
	if (h.type == WIRE_T_ERROR) {
		if (wire_error_decode(buf, h.len, why) < 0)
			return -EBADMSG;
		return -ECONNREFUSED;
	}
	if (h.type != WIRE_T_PG_AUTH) {
		wire_error_set(why, WIRE_E_PROTO, "expected PG_AUTH, got %s",
			       wire_type_name(h.type));
		send_notice(fd, why, deadline);
		return -EPROTO;
	}
	rc = auth_verify(key, peer, mine, buf);
	if (rc == -EACCES) {
		wire_error_set(why, WIRE_E_AUTH,
			       "authentication failed: node %u does not "
			       "prove the secret of VM '%s'",
			       peer->node, mine->vm);
		send_notice(fd, why, deadline);
	}
	return rc;
}
