/* Tagged logging to stderr or syslog; see include/avm/log.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
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
	static const char *const word[] = { "", "warning: ", "", "" };
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

void
log_die(int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(LOG_LVL_ERR, fmt, ap);
	va_end(ap);
	exit(status);
}
