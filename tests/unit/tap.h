/*
 * A tiny TAP producer for the unit tests: ok(cond, fmt...) prints one
 * test line; done_testing() prints the plan and returns the exit status.
 */
#ifndef AVM_TAP_H
#define AVM_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_n, tap_failed;

/*
 * A check whose message holds "# SKIP" is a skip: under AVM_NO_SKIP=1
 * (CI) it is a failure, as in the bats tests.
 */
static inline int __attribute__((format(printf, 2, 3)))
ok(int cond, const char *fmt, ...)
{
	const char *ns = getenv("AVM_NO_SKIP");
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (strstr(msg, "# SKIP") && ns && strcmp(ns, "1") == 0)
		cond = 0;
	tap_n++;
	printf("%sok %d - %s%s\n", cond ? "" : "not ", tap_n, msg,
	       cond || !strstr(msg, "# SKIP")
		       ? ""
		       : " (cannot skip here: AVM_NO_SKIP=1)");
	if (!cond)
		tap_failed++;
	return cond;
}

#define is_int(got, want, ...)                                           \
	do {                                                             \
		long long g_ = (long long)(got), w_ = (long long)(want); \
		if (!ok(g_ == w_, __VA_ARGS__))                          \
			printf("#   got %lld, want %lld\n", g_, w_);     \
	} while (0)

#define is_str(got, want, ...)                                          \
	do {                                                            \
		const char *g_ = (got), *w_ = (want);                   \
		if (!ok(g_ && w_ && strcmp(g_, w_) == 0, __VA_ARGS__))  \
			printf("#   got '%s', want '%s'\n",             \
			       g_ ? g_ : "(null)", w_ ? w_ : "(null)"); \
	} while (0)

static inline int
done_testing(void)
{
	printf("1..%d\n", tap_n);
	if (tap_failed)
		printf("# %d of %d failed\n", tap_failed, tap_n);
	return tap_failed ? 1 : 0;
}

#endif
