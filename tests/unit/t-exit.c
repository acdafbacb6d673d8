/*
 * Unit tests of lib/exit.c: every row of the exit table is a status a
 * process can return with a known class, no tool lists one twice, and
 * exit_usage() prints what exit_listed() answers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "avm/exit.h"
#include "tap.h"

static const char *const tools[] = { "avm-probe", "avm-run", "avm-pager",
				     "avm-fabric", "avm-snap" };

static void
test_rows(void)
{
	const struct exit_row *r;
	size_t n, i, k;
	int bad = 0, dup = 0;

	r = exit_rows(&n);
	ok(n > 0, "the table has rows");
	for (i = 0; i < n; i++) {
		int st = r[i].status;

		if (st == AVM_EX_GUEST || (st > 128 && st < 128 + 65))
			continue;
		if (st < 0 || st > 255 ||
		    strcmp(avm_exit_name(st), "unknown") == 0) {
			printf("# %s: status %d has no class\n", r[i].tool, st);
			bad++;
		}
		for (k = 0; k < i; k++)
			if (strcmp(r[k].tool, r[i].tool) == 0 &&
			    r[k].status == st) {
				printf("# %s: status %d twice\n", r[i].tool,
				       st);
				dup++;
			}
	}
	is_int(bad, 0,
	       "every listed status is a sysexits class, a signal "
	       "or the guest's");
	is_int(dup, 0, "no tool lists a status twice");
	for (i = 0; i < sizeof(tools) / sizeof(tools[0]); i++) {
		ok(exit_listed(tools[i], AVM_EX_OK), "%s lists 0", tools[i]);
		ok(exit_listed(tools[i], AVM_EX_USAGE), "%s lists 64",
		   tools[i]);
	}
}

static void
test_run(void)
{
	/* The defects of issue 8: code and page disagreed on these. */
	ok(exit_listed("avm-run", AVM_EX_FAIL), "avm-run: 1, triple fault");
	ok(exit_listed("avm-run", AVM_EX_CONFIG), "avm-run: 78, config");
	ok(exit_listed("avm-run", AVM_EX_NOPERM), "avm-run: 77, secret");
	ok(exit_listed("avm-run", AVM_EX_SIGNAL(1)), "avm-run: SIGHUP");
	ok(exit_listed("avm-run", 42), "avm-run: any guest value");
	ok(!exit_listed("avm-probe", 42), "avm-probe: not 42");
	ok(!exit_listed("avm-pager", AVM_EX_FAIL), "avm-pager: not 1");
	ok(!exit_listed("avm-nope", AVM_EX_OK), "an unknown tool lists none");
}

static void
test_usage(void)
{
	char *buf = NULL, *p;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	ok(exit_usage(f, "avm-probe") == 0, "exit_usage avm-probe");
	fclose(f);
	ok(strstr(buf, "\nexit status:\n") != NULL, "a heading");
	ok(strstr(buf, "\n  69   with -r: an item is missing\n") != NULL,
	   "a row");
	for (p = strtok(buf, "\n"); p; p = strtok(NULL, "\n"))
		if (strlen(p) > 79)
			break;
	ok(p == NULL, "no line over 79 columns");
	free(buf);
	buf = NULL;
	f = open_memstream(&buf, &len);
	ok(exit_usage(f, "avm-run") == 0, "exit_usage avm-run");
	fclose(f);
	ok(strstr(buf, "\n  v    a test guest wrote v") != NULL,
	   "the guest's value as v");
	for (p = strtok(buf, "\n"); p; p = strtok(NULL, "\n"))
		if (strlen(p) > 79)
			break;
	ok(p == NULL, "avm-run: no line over 79 columns (wrapped)");
	free(buf);
	f = fopen("/dev/null", "w");
	ok(exit_usage(f, "avm-nope") == -1, "exit_usage: unknown tool");
	fclose(f);
}

int
main(void)
{
	test_rows();
	test_run();
	test_usage();
	return done_testing();
}
