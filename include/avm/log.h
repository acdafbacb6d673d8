/*
 * The one error module of every tool and daemon, in the spirit of git's
 * die/error/warning: every line is tagged with the tool and, for the
 * processes of one node of a VM, the node ("avm-run[node 1]: open
 * '/dev/kvm': No such file or directory").  Errors and information carry
 * no level word, warnings say "warning: ".  In the foreground lines go
 * to stderr, otherwise to syslog.  The exit statuses are in exit.h.
 */
#ifndef AVM_LOG_H
#define AVM_LOG_H

#include <stdarg.h>

#include "avm/exit.h"

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

/* Logs an error and exits with status (exit(3): stdio is flushed). */
void log_die(int status, const char *fmt, ...)
	__attribute__((format(printf, 2, 3), noreturn));

#endif
