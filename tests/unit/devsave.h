/*
 * Helpers for the save/restore tests of the device models: the checks
 * that a refused state leaves a reason and the device unchanged.
 */
#ifndef AVM_TEST_DEVSAVE_H
#define AVM_TEST_DEVSAVE_H

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#include "../../cmd/avm-run/devstate.h"
#include "tap.h"

/*
 * rc, errno and why come from a restore that must be refused with err
 * and a reason holding want; before/after are the device's saves around
 * it, which must be the same bytes.
 */
static inline void
refused(const char *what, int rc, int e, int err, const char *why,
	const char *want, const uint8_t *before, ssize_t blen,
	const uint8_t *after, ssize_t alen)
{
	ok(rc == -1 && e == err, "%s: refused with %s (%s)", what,
	   err == EPROTO ? "EPROTO" : "EINVAL", why);
	if (!ok(strstr(why, want) != NULL, "%s: reason names '%s'", what, want))
		printf("#   reason: '%s'\n", why);
	ok(blen > 0 && blen == alen && memcmp(before, after, (size_t)blen) == 0,
	   "%s: device unchanged", what);
}

#endif
