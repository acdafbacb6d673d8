/*
 * Linux tap interfaces for virtio-net: a name judged as the kernel would,
 * and the tap opened (created when missing) for frames without a packet
 * information header.
 */
#ifndef AVM_RUN_TAPDEV_H
#define AVM_RUN_TAPDEV_H

#include <stdbool.h>
#include <stddef.h>

/* IFNAMSIZ less its NUL. */
#define TAPDEV_NAME_MAX 15

/*
 * 0 when name can be an interface's (1 to 15 bytes, not "." or "..", no
 * '/', ':' or white space) and is not a pattern (no '%': TUNSETIFF would
 * make "t%d" into t0), else -1 with the reason in why.
 */
int tapdev_name_ok(const char *name, char *why, size_t whylen);

/*
 * Opens the tap called name, non-blocking and close-on-exec.  When no
 * interface has that name, creates it (not persistent: the kernel
 * removes it when the last descriptor closes, however the process ends)
 * and brings it up; *created says which.  Returns the descriptor, or -1
 * with errno and the reason in why:
 *
 *   EBUSY   another process has the tap open
 *   EINVAL  an interface of that name that is not a tap
 *   EPERM   creating or attaching needs CAP_NET_ADMIN (or the tap's
 *           owner)
 *   ENOENT  no /dev/net/tun (no tun module)
 */
int tapdev_open(const char *name, bool *created, char *why, size_t whylen);

/* 1 when the interface is up, 0 when down, -1 with errno. */
int tapdev_is_up(const char *name);

#endif
