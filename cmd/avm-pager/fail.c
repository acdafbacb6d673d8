/* Ending avm-pager; see fail.h. */
#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>

#include "avm/log.h"
#include "avm/wire.h"
#include "fail.h"

static void (*fail_hook)(void *ctx, const char *msg);
static void *fail_ctx;

void
fail_set_hook(void (*hook)(void *ctx, const char *msg), void *ctx)
{
	fail_hook = hook;
	fail_ctx = ctx;
}

void
pager_exit(int status)
{
	if (fail_hook)
		fail_hook(fail_ctx, NULL);
	/*
	 * _exit, not exit: a set-up thread may be inside libcrypto, and
	 * exit's clean-up under it crashes.
	 */
	fflush(NULL);
	_exit(status);
}

void
pager_fail(int status, const char *fmt, ...)
{
	char msg[WIRE_ERROR_MSG_MAX + 1];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_err("%s", msg);
	if (fail_hook)
		fail_hook(fail_ctx, msg);
	fflush(NULL);
	_exit(status);
}
