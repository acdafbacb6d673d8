/*
 * avm-top: live counters of an aggregated VM, every node, vCPU, link and
 * hot page, from the stats files of avm-run and avm-pager (node 0 sees
 * the other nodes through the copies its pager gathers).  A screen like
 * top(1) on a terminal; -b text frames, -j NDJSON for scripts.  It only
 * reads files: the VM runs the same whether it is watched or not.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "avm/config.h"
#include "avm/exit.h"
#include "avm/log.h"
#include "avm/opt.h"
#include "avm/util.h"
#include "top.h"

static const char usage_line[] =
	"usage: " PROG " [-1bhjV] [-d SECS] [-n FRAMES] [--node N] "
	"[--hot ROWS] [VM]\n";

enum {
	OPT_HELP = 'h',
	OPT_VERSION = 'V',
	OPT_BATCH = 'b',
	OPT_JSON = 'j',
	OPT_ONCE = '1',
	OPT_DELAY = 'd',
	OPT_FRAMES = 'n',
	OPT_NODE = 256,
	OPT_HOT,
	OPT_NO_VCPUS,
};

static const struct opt opts[] = {
	{ "help", OPT_HELP, NULL, "print this help and exit" },
	{ "version", OPT_VERSION, NULL, "print the version and exit" },
	{ "batch", OPT_BATCH, NULL,
	  "plain text, one frame per interval (the\n"
	  "default when standard output is not a\n"
	  "terminal)" },
	{ "json", OPT_JSON, NULL,
	  "one JSON document per frame (NDJSON);\n"
	  "implies --batch" },
	{ "once", OPT_ONCE, NULL, "one frame, then exit (-n 1)" },
	{ "delay", OPT_DELAY, "SECS",
	  "seconds between frames, 0.05 to 3600\n"
	  "(default 1); the first frame comes after\n"
	  "one delay, its rates over that delay" },
	{ "frames", OPT_FRAMES, "N", "exit after N frames (default: never)" },
	{ "node", OPT_NODE, "N", "show node N only (text and screen)" },
	{ "hot", OPT_HOT, "ROWS",
	  "rows of the hot-page table (default 10;\n"
	  "JSON has every page the pagers list)" },
	{ "no-vcpus", OPT_NO_VCPUS, NULL,
	  "start without the per-vCPU rows (key 1)" },
};

static void
help(void)
{
	fputs(usage_line, stdout);
	fputs("\nWith VM: that VM's nodes, vCPUs, links and hot pages.\n"
	      "Without: one line per VM that runs on this host.\n"
	      "\noptions:\n",
	      stdout);
	opt_help(stdout, opts, AVM_ARRAY_SIZE(opts));
	exit_usage(stdout, PROG);
}

static void __attribute__((noreturn)) usage_error(void)
{
	fputs(usage_line, stderr);
	exit(AVM_EX_USAGE);
}

static void
put_stdout(void *ctx, const char *line)
{
	(void)ctx;
	puts(line);
}

static void
sleep_s(double s)
{
	struct timespec ts = { .tv_sec = (time_t)s,
			       .tv_nsec =
				       (long)((s - (double)(time_t)s) * 1e9) };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int
out_ok(void)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		log_err("write output: %s", strerror(errno));
		return 0;
	}
	return 1;
}

static int
no_vm(const char *vm)
{
	char dir[PATH_MAX] = "?";

	avm_rundir(dir, sizeof(dir));
	log_err("no VM '%s' runs on this host (no stats file of a live "
		"process in %s/%s)",
		vm, dir, vm);
	return AVM_EX_NOINPUT;
}

/* -b and -j with a VM named. */
static int
batch_vm(const struct top_opts *o, int json)
{
	struct sample *a = calloc(1, sizeof(*a)), *b = calloc(1, sizeof(*b)),
		      *t;
	char why[400];
	int rc, status = AVM_EX_OK;

	if (!a || !b)
		log_die(AVM_EX_SOFTWARE, "out of memory");
	rc = sample_read(o->vm, a, why, sizeof(why));
	if (rc == -EPROTO)
		log_die(AVM_EX_DATAERR, "%s", why);
	if (rc < 0)
		return no_vm(o->vm);
	for (long k = 0; !o->frames || k < o->frames; k++) {
		struct frame f;

		sleep_s(o->delay);
		rc = sample_read(o->vm, b, why, sizeof(why));
		if (rc == -EPROTO) {
			log_err("%s", why);
			status = AVM_EX_DATAERR;
			break;
		}
		if (rc < 0) {
			/* Watching something that ends is not an error. */
			log_info("VM '%s' ended", o->vm);
			fprintf(stderr, "%s: VM '%s' ended\n", PROG, o->vm);
			break;
		}
		if (sample_carry(b, a) < 0 ||
		    frame_build(&f, o->vm, b, &o->view) < 0)
			log_die(AVM_EX_SOFTWARE, "out of memory");
		if (json) {
			if (json_frame(stdout, &f) < 0)
				status = AVM_EX_FAIL;
		} else {
			if (k)
				putchar('\n');
			text_frame(&f, &o->view, 0, put_stdout, NULL);
		}
		frame_free(&f);
		if (status || !out_ok()) {
			status = status ? status : AVM_EX_FAIL;
			break;
		}
		sample_free(a);
		t = a;
		a = b;
		b = t;
	}
	sample_free(a);
	sample_free(b);
	free(a);
	free(b);
	return status;
}

/* Without a VM: the VMs of this host, a list per frame. */
static int
batch_list(const struct top_opts *o, int json)
{
	char why[400];
	struct vm_list *prev = list_read(NULL, why, sizeof(why)), *cur;

	if (!prev)
		log_die(AVM_EX_SOFTWARE, "out of memory");
	for (long k = 0; !o->frames || k < o->frames; k++) {
		sleep_s(o->delay);
		cur = list_read(prev, why, sizeof(why));
		if (!cur)
			log_die(AVM_EX_SOFTWARE, "out of memory");
		if (json) {
			list_json(stdout, cur);
		} else {
			if (k)
				putchar('\n');
			list_text(cur, put_stdout, NULL);
		}
		list_free(prev);
		prev = cur;
		if (!out_ok()) {
			list_free(prev);
			return AVM_EX_FAIL;
		}
	}
	list_free(prev);
	return AVM_EX_OK;
}

int
main(int argc, char **argv)
{
	struct top_opts o = {
		.delay = 1,
		.view = { .show_vcpus = 1,
			  .node_filter = -1,
			  .sort_asc = 1,
			  .hot_max = 10 },
	};
	struct opt_parser p;
	int k, batch = 0, json = 0;
	uint64_t v;
	char *end;

	log_init(PROG, -1, 1);
	if (opt_parser_init(&p, opts, AVM_ARRAY_SIZE(opts)) < 0)
		log_die(AVM_EX_SOFTWARE, "option table: %s", strerror(errno));
	while ((k = opt_parser_next(&p, argc, argv)) != -1) {
		switch (k) {
		case OPT_HELP:
			help();
			return out_ok() ? AVM_EX_OK : AVM_EX_FAIL;
		case OPT_VERSION:
			printf("%s %s\n", PROG, AVM_VERSION);
			return out_ok() ? AVM_EX_OK : AVM_EX_FAIL;
		case OPT_BATCH:
			batch = 1;
			break;
		case OPT_JSON:
			json = batch = 1;
			break;
		case OPT_ONCE:
			o.frames = 1;
			break;
		case OPT_DELAY:
			errno = 0;
			o.delay = strtod(optarg, &end);
			if (errno || end == optarg || *end ||
			    !(o.delay >= 0.05 && o.delay <= 3600)) {
				log_err("--delay '%s': a number of seconds, "
					"0.05 to 3600",
					optarg);
				usage_error();
			}
			break;
		case OPT_FRAMES:
			if (uint_parse(optarg, 1, 1000000000, &v) < 0) {
				log_err("--frames '%s': a number, 1 or more",
					optarg);
				usage_error();
			}
			o.frames = (long)v;
			break;
		case OPT_NODE:
			if (uint_parse(optarg, 0, TOP_NODES_MAX - 1, &v) < 0) {
				log_err("--node '%s': a node number, 0 to %d",
					optarg, TOP_NODES_MAX - 1);
				usage_error();
			}
			o.view.node_filter = (int)v;
			break;
		case OPT_HOT:
			if (uint_parse(optarg, 0, 1024, &v) < 0) {
				log_err("--hot '%s': a number of rows, 0 to "
					"1024",
					optarg);
				usage_error();
			}
			o.view.hot_max = (int)v;
			break;
		case OPT_NO_VCPUS:
			o.view.show_vcpus = 0;
			break;
		default:
			log_err("%s", p.error);
			usage_error();
		}
	}
	if (argc - optind > 1) {
		log_err("one VM at most, not '%s' and '%s'", argv[optind],
			argv[optind + 1]);
		usage_error();
	}
	if (optind < argc) {
		o.vm = argv[optind];
		if (!config_vm_name_ok(o.vm)) {
			log_err("'%s' is not a VM name (letters, digits, "
				"'-', '_' and '.', up to 63)",
				o.vm);
			return AVM_EX_NOINPUT;
		}
	}
	if (!batch && !isatty(STDOUT_FILENO))
		batch = 1;
	if (!batch && o.vm)
		return tui_run(&o);
	if (!batch)
		batch = 1; /* the list on a terminal is text frames too */
	return o.vm ? batch_vm(&o, json) : batch_list(&o, json);
}
