/*
 * Logging for daemons and tools, and the exit statuses of every tool.
 *
 * Tools print errors with err(3)/warnx(3); daemons use log_* so that every
 * line is tagged with role and node.  In the foreground lines go to
 * stderr, otherwise to syslog.
 */
#ifndef AVM_LOG_H
#define AVM_LOG_H

#include <stdarg.h>

/* Exit statuses (sysexits classes); man pages list them per tool. */
enum avm_exit {
	AVM_EX_OK = 0,
	AVM_EX_FAIL = 1,	 /* other failure */
	AVM_EX_USAGE = 64,	 /* bad command line */
	AVM_EX_DATAERR = 65,	 /* bad input data */
	AVM_EX_NOINPUT = 66,	 /* input file missing or unreadable */
	AVM_EX_UNAVAILABLE = 69, /* no KVM, peer unreachable, missing need */
	AVM_EX_SOFTWARE = 70,	 /* internal error */
	AVM_EX_OSERR = 71,	 /* system call failed */
	AVM_EX_CANTCREAT = 73,	 /* cannot create an output file/socket */
	AVM_EX_TEMPFAIL = 75,	 /* try again later */
	AVM_EX_NOPERM = 77,	 /* permission denied */
	AVM_EX_CONFIG = 78,	 /* bad configuration */
};

enum log_level {
	LOG_LVL_ERR,
	LOG_LVL_WARN,
	LOG_LVL_INFO,
	LOG_LVL_DEBUG,
};

/*
 * Sets the tag of every line ("avm-pager[node 1]") and where lines go.
 * node < 0 leaves the node out.  Safe to call again.
 */
void log_init(const char *role, int node, int foreground);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);

void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void log_vmsg(enum log_level level, const char *fmt, va_list ap);

#define log_err(...) log_msg(LOG_LVL_ERR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) log_msg(LOG_LVL_DEBUG, __VA_ARGS__)

/* The exit status's name ("usage", "config"), or "unknown". */
const char *avm_exit_name(int status);

#endif
