/*
 * Peer authentication on pager links: every VM has a random 32-byte
 * secret in a file of mode 0600 (avm-fabric hands it out over ssh).
 * After the wire handshake each side sends PG_AUTH, an HMAC-SHA256 with
 * that key over a fixed label, both HELLOs' nonces, nodes and roles, and
 * the VM name; the proof of one direction never verifies in the other.
 * The MAC is OpenSSL's libcrypto; nothing here is hand-written crypto.
 *
 * Errors: functions return 0 or a negative errno; errno is not set.
 * Nothing here prints or exits.
 */
#ifndef AVM_AUTH_H
#define AVM_AUTH_H

#include <stdint.h>

#include "avm/wire.h"

#define AUTH_KEY_LEN 32
#define AUTH_MAC_LEN WIRE_PG_AUTH_SIZE

/*
 * Reads the secret at path: exactly 32 raw bytes, or 64 hexadecimal
 * digits with an optional trailing newline.  The file must be a regular
 * file that neither group nor others may read or write.  Returns 0, or
 *   -ENOENT, -EACCES, ...  open(2)'s error,
 *   -EPERM   the mode lets group or others in (fix: chmod 600),
 *   -EKEYREJECTED  owned by a user other than us and root,
 *   -EINVAL  not a regular file, or the content is neither form.
 */
int auth_secret_load(const char *path, uint8_t key[AUTH_KEY_LEN]);

/*
 * For rc, a failure of auth_secret_load(): the words every tool says
 * after "secret 'PATH': " ("group or others may read it (chmod 600)"),
 * and the exit status it exits with (66 missing, 77 mode or access, 78
 * content).  Both tools refuse a bad secret before anything else, with
 * these words.
 */
const char *auth_secret_strerror(int rc);
int auth_secret_exit(int rc);

/*
 * Creates a new secret file at path (mode 0600, O_EXCL) with 32 random
 * bytes from getrandom(2).  Returns 0 or open/write's negative errno
 * (-EEXIST when the file is there).
 */
int auth_secret_create(const char *path);

/*
 * The proof that the sender of HELLO from, talking to the sender of
 * HELLO to, knows key.  Writes AUTH_MAC_LEN bytes to mac.  Returns 0, or
 * -EIO when libcrypto fails.
 */
int auth_proof(const uint8_t key[AUTH_KEY_LEN], const struct wire_hello *from,
	       const struct wire_hello *to, uint8_t mac[AUTH_MAC_LEN]);

/*
 * Checks the peer's proof in constant time.  Returns 0, -EACCES when it
 * is wrong, -EIO when libcrypto fails.
 */
int auth_verify(const uint8_t key[AUTH_KEY_LEN], const struct wire_hello *from,
		const struct wire_hello *to, const uint8_t mac[AUTH_MAC_LEN]);

/*
 * The authentication step of a pager link, after wire_handshake(): sends
 * our PG_AUTH, reads the peer's and checks it, all within timeout_ms.
 * A wrong proof is answered with an ERROR notice (code AUTH) before the
 * caller closes.  Returns 0, or
 *   -EACCES        the peer's proof is wrong (why says so),
 *   -ECONNREFUSED  the peer refused us with an ERROR (why holds it),
 *   -EPROTO        the peer sent something else than PG_AUTH,
 *   -ETIMEDOUT, -EPIPE, -EBADMSG, ...  from wire_send()/wire_recv().
 * why (may be NULL) is filled as in wire_handshake().
 */
int auth_exchange(int fd, const uint8_t key[AUTH_KEY_LEN],
		  const struct wire_hello *mine, const struct wire_hello *peer,
		  int timeout_ms, struct wire_error *why);

#endif
