/* Tagged logging to stderr or syslog; see include/avm/log.h. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

#include "avm/log.h"

static char log_tag[64] = "avm";
static int log_foreground = 1;
static enum log_level log_level = LOG_LVL_INFO;

void
log_init(const char *role, int node, int foreground)
{
	if (node >= 0)
		snprintf(log_tag, sizeof(log_tag), "%s[node %d]", role, node);
	else
		snprintf(log_tag, sizeof(log_tag), "%s", role);
	log_foreground = foreground;
	if (!foreground)
		openlog(role, LOG_PID, LOG_DAEMON);
}

void
log_set_level(enum log_level level)
{
	log_level = level;
}

enum log_level
log_get_level(void)
{
	return log_level;
}

void
log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	static const int prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
	static const char *const word[] = { "error: ", "warning: ", "", "" };
	char line[1024];
	int saved = errno;

	if (level > log_level)
		return;
	vsnprintf(line, sizeof(line), fmt, ap);
	if (log_foreground)
		fprintf(stderr, "%s: %s%s\n", log_tag, word[level], line);
	else
		syslog(prio[level], "%s: %s", log_tag, line);
	errno = saved;
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

const char *
avm_exit_name(int status)
{
	switch (status) {
	case AVM_EX_OK:
		return "ok";
	case AVM_EX_FAIL:
		return "failure";
	case AVM_EX_USAGE:
		return "usage";
	case AVM_EX_DATAERR:
		return "data";
	case AVM_EX_NOINPUT:
		return "noinput";
	case AVM_EX_UNAVAILABLE:
		return "unavailable";
	case AVM_EX_SOFTWARE:
		return "software";
	case AVM_EX_OSERR:
		return "oserr";
	case AVM_EX_CANTCREAT:
		return "cantcreat";
	case AVM_EX_TEMPFAIL:
		return "tempfail";
	case AVM_EX_NOPERM:
		return "noperm";
	case AVM_EX_CONFIG:
		return "config";
	}
	return "unknown";
}
