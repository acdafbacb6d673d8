/* Unit tests of lib/emit.c: exact YAML and JSON output, misuse. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "avm/emit.h"
#include "avm/util.h"
#include "tap.h"

typedef void (*build_fn)(struct emit *e);

/* Runs build on a fresh emitter; returns the text (caller frees). */
static char *
render(enum emit_format format, unsigned flags, build_fn build, int *rc,
       int *err)
{
	struct emit e;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	emit_init(&e, f, format, flags);
	build(&e);
	errno = 0;
	*rc = emit_finish(&e);
	*err = *rc < 0 ? errno : 0;
	fclose(f);
	return buf;
}

static void
check(build_fn build, const char *yaml, const char *json, const char *pretty,
      const char *name)
{
	char *out;
	int rc, err;

	out = render(EMIT_YAML, 0, build, &rc, &err);
	is_int(rc, 0, "%s: yaml finish", name);
	is_str(out, yaml, "%s: yaml", name);
	free(out);
	out = render(EMIT_JSON, 0, build, &rc, &err);
	is_int(rc, 0, "%s: json finish", name);
	is_str(out, json, "%s: json", name);
	free(out);
	if (pretty) {
		out = render(EMIT_JSON, EMIT_PRETTY, build, &rc, &err);
		is_int(rc, 0, "%s: pretty json finish", name);
		is_str(out, pretty, "%s: pretty json", name);
		free(out);
	}
}

static void
check_fail(build_fn build, int want_errno, const char *name)
{
	char *out;
	int rc, err;

	out = render(EMIT_YAML, 0, build, &rc, &err);
	is_int(rc, -1, "%s: yaml finish fails", name);
	is_int(err, want_errno, "%s: yaml errno", name);
	free(out);
	out = render(EMIT_JSON, 0, build, &rc, &err);
	is_int(rc, -1, "%s: json finish fails", name);
	is_int(err, want_errno, "%s: json errno", name);
	free(out);
}

static void
b_nested(struct emit *e)
{
	emit_map_begin(e);
	emit_kv_str(e, "name", "node-a");
	emit_kv_int(e, "vcpus", 2);
	emit_kv_map_begin(e, "cpu");
	emit_kv_bool(e, "vmx", 0);
	emit_kv_null(e, "tsc_khz");
	emit_map_end(e);
	emit_kv_list_begin(e, "ids");
	emit_uint(e, 18446744073709551615ull);
	emit_int(e, -5);
	emit_list_end(e);
	emit_map_end(e);
}

static void
b_lists(struct emit *e)
{
	emit_list_begin(e);
	emit_map_begin(e);
	emit_kv_str(e, "a", "x");
	emit_kv_list_begin(e, "l");
	emit_list_begin(e);
	emit_int(e, 1);
	emit_int(e, 2);
	emit_list_end(e);
	emit_list_begin(e);
	emit_list_end(e);
	emit_map_begin(e);
	emit_map_end(e);
	emit_list_end(e);
	emit_map_end(e);
	emit_str(e, "z");
	emit_list_end(e);
}

static void
b_empty_map(struct emit *e)
{
	emit_map_begin(e);
	emit_map_end(e);
}

static void
b_empty_values(struct emit *e)
{
	emit_map_begin(e);
	emit_kv_map_begin(e, "m");
	emit_map_end(e);
	emit_kv_list_begin(e, "l");
	emit_list_end(e);
	emit_kv_str(e, "s", "");
	emit_map_end(e);
}

static void
b_scalar(struct emit *e)
{
	emit_str(e, "hello");
}

static void
b_comments(struct emit *e)
{
	emit_comment(e, "head\nsecond line");
	emit_list_begin(e);
	emit_map_begin(e);
	emit_kv_int(e, "vcpus", 2);
	emit_comment(e, "online CPUs");
	emit_key(e, "probe");
	emit_comment(e, "what this host has");
	emit_map_begin(e);
	emit_comment(e, "own line");
	emit_comment(e, "another");
	emit_kv_str(e, "k", "v");
	emit_map_end(e);
	emit_key(e, "after");
	emit_comment(e, "before the value");
	emit_int(e, 7);
	emit_map_end(e);
	emit_list_end(e);
}

static void
b_comment_dash(struct emit *e)
{
	emit_list_begin(e);
	emit_map_begin(e);
	emit_comment(e, "c");
	emit_kv_int(e, "a", 1);
	emit_map_end(e);
	emit_map_begin(e);
	emit_comment(e, "empty");
	emit_map_end(e);
	emit_list_end(e);
}

static void
b_doubles(struct emit *e)
{
	emit_list_begin(e);
	emit_double(e, 0.5);
	emit_double(e, 3);
	emit_double(e, 1e20);
	emit_double(e, -2.5e-7);
	emit_double(e, 0.1);
	emit_double(e, NAN);
	emit_double(e, INFINITY);
	emit_list_end(e);
}

static void
b_escapes(struct emit *e)
{
	emit_list_begin(e);
	emit_str(e, "tab\there \"q\" \\ nl\n");
	emit_strn(e, "nul\0\x01\x1b\x7f", 7);
	emit_str(e, "bad \xff \xc0\xaf \xed\xa0\x80 end");
	emit_str(e, "\xc2\x85 nel \xe2\x80\xa8 ls \xc2\x80");
	emit_str(e, "caf\xc3\xa9 \xf0\x9f\x98\x80");
	emit_list_end(e);
}

/* The first string of each pair is emitted, the second is the YAML. */
static const char *const quoting[][2] = {
	{ "plain", "plain" },
	{ "", "\"\"" },
	{ " lead", "\" lead\"" },
	{ "trail ", "\"trail \"" },
	{ "a: b", "\"a: b\"" },
	{ "a:b", "a:b" },
	{ "end:", "\"end:\"" },
	{ "x #y", "\"x #y\"" },
	{ "#c", "\"#c\"" },
	{ "true", "\"true\"" },
	{ "False", "\"False\"" },
	{ "yes", "\"yes\"" },
	{ "NO", "\"NO\"" },
	{ "on", "\"on\"" },
	{ "off", "\"off\"" },
	{ "y", "\"y\"" },
	{ "null", "\"null\"" },
	{ "Null", "\"Null\"" },
	{ "~", "\"~\"" },
	{ "12", "\"12\"" },
	{ "-1", "\"-1\"" },
	{ "1.5", "\"1.5\"" },
	{ ".inf", "\".inf\"" },
	{ "0x1f", "\"0x1f\"" },
	{ "1e3", "\"1e3\"" },
	{ "12:30:00", "\"12:30:00\"" },
	{ "2024-01-02", "\"2024-01-02\"" },
	{ "23712M", "23712M" },
	{ "1G", "1G" },
	{ "- x", "\"- x\"" },
	{ "[a]", "\"[a]\"" },
	{ "{a}", "\"{a}\"" },
	{ "*ref", "\"*ref\"" },
	{ "&anc", "\"&anc\"" },
	{ "!tag", "\"!tag\"" },
	{ "|", "\"|\"" },
	{ ">", "\">\"" },
	{ "@x", "\"@x\"" },
	{ "'s'", "\"'s'\"" },
	{ "%x", "\"%x\"" },
	{ "<<", "\"<<\"" },
	{ "=", "\"=\"" },
	{ "/dev/kvm", "/dev/kvm" },
	{ "AMD EPYC 7B13", "AMD EPYC 7B13" },
	{ "Intel(R) Xeon(R) CPU @ 2.40GHz", "Intel(R) Xeon(R) CPU @ 2.40GHz" },
	{ "fe80::1/64", "fe80::1/64" },
	{ "192.0.2.2/24", "\"192.0.2.2/24\"" },
	{ "02:fc:00:00:00:01", "\"02:fc:00:00:00:01\"" },
	{ "caf\xc3\xa9", "\"caf\xc3\xa9\"" },
	{ "---", "\"---\"" },
	{ "a\tb", "\"a\\tb\"" },
};

static void
b_quoting(struct emit *e)
{
	size_t i;

	emit_list_begin(e);
	for (i = 0; i < sizeof(quoting) / sizeof(quoting[0]); i++)
		emit_str(e, quoting[i][0]);
	emit_list_end(e);
}

static void
b_keys(struct emit *e)
{
	emit_map_begin(e);
	emit_kv_int(e, "true", 1);
	emit_kv_int(e, "2M", 2);
	emit_kv_int(e, "a b", 3);
	emit_kv_int(e, "", 4);
	emit_kv_strf(e, "f", "%s-%d", "x", 5);
	emit_map_end(e);
}

static void
b_value_without_key(struct emit *e)
{
	emit_map_begin(e);
	emit_int(e, 1);
	emit_map_end(e);
}

static void
b_key_in_list(struct emit *e)
{
	emit_list_begin(e);
	emit_key(e, "k");
	emit_list_end(e);
}

static void
b_mismatch(struct emit *e)
{
	emit_map_begin(e);
	emit_list_end(e);
}

static void
b_two_tops(struct emit *e)
{
	emit_int(e, 1);
	emit_int(e, 2);
}

static void
b_unclosed(struct emit *e)
{
	emit_map_begin(e);
	emit_kv_int(e, "a", 1);
}

static void
b_key_no_value(struct emit *e)
{
	emit_map_begin(e);
	emit_key(e, "a");
	emit_map_end(e);
}

static void
b_nothing(struct emit *e)
{
	(void)e;
}

static void
b_too_deep(struct emit *e)
{
	int i;

	for (i = 0; i < EMIT_DEPTH_MAX + 5; i++)
		emit_list_begin(e);
	for (i = 0; i < EMIT_DEPTH_MAX + 5; i++)
		emit_list_end(e);
}

static void
b_max_depth(struct emit *e)
{
	int i;

	for (i = 0; i < EMIT_DEPTH_MAX; i++)
		emit_list_begin(e);
	emit_int(e, 1);
	for (i = 0; i < EMIT_DEPTH_MAX; i++)
		emit_list_end(e);
}

static void
test_misuse(void)
{
	char *out;
	int rc, err;
	struct emit e;
	FILE *f;

	check_fail(b_value_without_key, EINVAL, "value without key");
	check_fail(b_key_in_list, EINVAL, "key in a list");
	check_fail(b_mismatch, EINVAL, "mismatched end");
	check_fail(b_two_tops, EINVAL, "two top-level values");
	check_fail(b_unclosed, EINVAL, "unclosed map");
	check_fail(b_key_no_value, EINVAL, "key without value");
	check_fail(b_nothing, EINVAL, "empty document");
	check_fail(b_too_deep, ERANGE, "too deep");

	out = render(EMIT_JSON, 0, b_max_depth, &rc, &err);
	is_int(rc, 0, "EMIT_DEPTH_MAX levels are fine");
	free(out);

	/* Calls after an error fail at once and write nothing more. */
	f = fopen("/dev/null", "w");
	emit_init(&e, f, EMIT_YAML, 0);
	emit_map_begin(&e);
	is_int(emit_int(&e, 1), -1, "value without key fails at once");
	is_int(errno, EINVAL, "... with EINVAL");
	is_int(emit_key(&e, "k"), -1, "later calls fail too");
	is_int(emit_map_end(&e), -1, "... also the end");
	is_int(emit_finish(&e), -1, "finish reports it");
	fclose(f);

	/* A write error shows in emit_finish. */
	f = fopen("/dev/full", "w");
	if (f) {
		emit_init(&e, f, EMIT_JSON, 0);
		emit_str(&e, "x");
		is_int(emit_finish(&e), -1, "write error is reported");
		is_int(errno, ENOSPC, "... as ENOSPC");
		fclose(f);
	}
}

/*
 * Loads the YAML with yaml.safe_load and the JSON with json.loads and
 * compares, the way a user of --json and of the text output would.
 */
static const char pycheck[] = "import json, math, sys, yaml\n"
			      "y = yaml.safe_load(open(sys.argv[1], 'rb'))\n"
			      "j = json.load(open(sys.argv[2], 'rb'))\n"
			      "sys.exit(0 if y == j else 1)\n";

/*
 * Strings made of the characters YAML cares most about, from a fixed
 * seed, so the cross-check sees combinations nobody listed by hand.
 */
static void
b_random(struct emit *e)
{
	static const char *const bits[] = {
		" ",
		":",
		"#",
		"-",
		"?",
		",",
		"[",
		"]",
		"{",
		"}",
		"&",
		"*",
		"!",
		"|",
		">",
		"'",
		"\"",
		"%",
		"@",
		"`",
		"\t",
		"\n",
		"0",
		"1",
		"9",
		"a",
		"e",
		"x",
		".",
		"+",
		"~",
		"_",
		"/",
		"\\",
		"\xc2\x85",
		"\xc2\xa0",
		"\xff",
		"\xe2\x80\xa8",
		"\x7f",
		"yes",
		"No",
		"null",
		"inf",
		"nan",
		"0x",
		"0o",
		"1e",
		"E",
		"<<",
		"=",
		"---",
		"...",
		"\xef\xbb\xbf",
		"\xf0\x9f\x98\x80",
	};
	unsigned seed = 12345, n, k;
	char buf[128];
	size_t len, bl;
	int i;

	emit_list_begin(e);
	for (i = 0; i < 2000; i++) {
		seed = seed * 1103515245u + 12345u;
		n = (seed >> 16) % 6;
		len = 0;
		for (k = 0; k < n; k++) {
			seed = seed * 1103515245u + 12345u;
			bl = strlen(bits[(seed >> 16) % AVM_ARRAY_SIZE(bits)]);
			memcpy(buf + len,
			       bits[(seed >> 16) % AVM_ARRAY_SIZE(bits)], bl);
			len += bl;
		}
		emit_strn(e, buf, len);
	}
	emit_list_end(e);
}

static void
b_mixed(struct emit *e)
{
	size_t i;

	emit_map_begin(e);
	emit_kv_list_begin(e, "quoting");
	for (i = 0; i < sizeof(quoting) / sizeof(quoting[0]); i++)
		emit_str(e, quoting[i][0]);
	emit_list_end(e);
	emit_key(e, "escapes");
	b_escapes(e);
	emit_key(e, "doubles");
	emit_list_begin(e);
	emit_double(e, 0.5);
	emit_double(e, 1e20);
	emit_double(e, -2.5e-7);
	emit_double(e, 3);
	emit_list_end(e);
	emit_key(e, "nested");
	b_nested(e);
	emit_key(e, "lists");
	b_lists(e);
	emit_key(e, "empties");
	b_empty_values(e);
	emit_key(e, "comments");
	b_comments(e);
	emit_key(e, "comment dash");
	b_comment_dash(e);
	emit_key(e, "random");
	b_random(e);
	emit_key(e, "true");
	emit_bool(e, 1);
	emit_key(e, "12");
	emit_int(e, -12);
	emit_map_end(e);
}

static int
write_doc(const char *path, enum emit_format format, build_fn build)
{
	struct emit e;
	FILE *f = fopen(path, "w");
	int rc;

	if (!f)
		return -1;
	emit_init(&e, f, format, 0);
	build(&e);
	rc = emit_finish(&e);
	if (fclose(f) != 0)
		rc = -1;
	return rc;
}

static void
test_python(void)
{
	char ypath[] = "/tmp/t-emit-yaml.XXXXXX";
	char jpath[] = "/tmp/t-emit-json.XXXXXX";
	int yfd, jfd, status;
	pid_t pid;

	if (system("python3 -c 'import yaml' >/dev/null 2>&1") != 0) {
		ok(1, "yaml.safe_load equals json.loads # SKIP no python3 "
		      "yaml");
		return;
	}
	yfd = mkstemp(ypath);
	jfd = mkstemp(jpath);
	if (yfd < 0 || jfd < 0) {
		ok(0, "mkstemp: %s", strerror(errno));
		return;
	}
	close(yfd);
	close(jfd);
	ok(write_doc(ypath, EMIT_YAML, b_mixed) == 0, "mixed yaml written");
	ok(write_doc(jpath, EMIT_JSON, b_mixed) == 0, "mixed json written");
	pid = fork();
	if (pid == 0) {
		execlp("python3", "python3", "-c", pycheck, ypath, jpath,
		       (char *)NULL);
		_exit(127);
	}
	status = -1;
	if (pid > 0)
		waitpid(pid, &status, 0);
	if (!ok(pid > 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0,
		"yaml.safe_load equals json.loads"))
		printf("#   see %s and %s\n", ypath, jpath);
	else {
		unlink(ypath);
		unlink(jpath);
	}
}

int
main(void)
{
	size_t i;
	char want[4096], *p;

	check(b_nested,
	      "name: node-a\n"
	      "vcpus: 2\n"
	      "cpu:\n"
	      "  vmx: false\n"
	      "  tsc_khz: null\n"
	      "ids:\n"
	      "  - 18446744073709551615\n"
	      "  - -5\n",
	      "{\"name\":\"node-a\",\"vcpus\":2,\"cpu\":{\"vmx\":false,"
	      "\"tsc_khz\":null},\"ids\":[18446744073709551615,-5]}\n",
	      "{\n"
	      "  \"name\": \"node-a\",\n"
	      "  \"vcpus\": 2,\n"
	      "  \"cpu\": {\n"
	      "    \"vmx\": false,\n"
	      "    \"tsc_khz\": null\n"
	      "  },\n"
	      "  \"ids\": [\n"
	      "    18446744073709551615,\n"
	      "    -5\n"
	      "  ]\n"
	      "}\n",
	      "nested");
	check(b_lists,
	      "- a: x\n"
	      "  l:\n"
	      "    - - 1\n"
	      "      - 2\n"
	      "    - []\n"
	      "    - {}\n"
	      "- z\n",
	      "[{\"a\":\"x\",\"l\":[[1,2],[],{}]},\"z\"]\n",
	      "[\n"
	      "  {\n"
	      "    \"a\": \"x\",\n"
	      "    \"l\": [\n"
	      "      [\n"
	      "        1,\n"
	      "        2\n"
	      "      ],\n"
	      "      [],\n"
	      "      {}\n"
	      "    ]\n"
	      "  },\n"
	      "  \"z\"\n"
	      "]\n",
	      "lists");
	check(b_empty_map, "{}\n", "{}\n", "{}\n", "empty map");
	check(b_empty_values, "m: {}\nl: []\ns: \"\"\n",
	      "{\"m\":{},\"l\":[],\"s\":\"\"}\n", NULL, "empty values");
	check(b_scalar, "hello\n", "\"hello\"\n", NULL, "scalar document");
	check(b_comments,
	      "# head\n"
	      "# second line\n"
	      "- vcpus: 2  # online CPUs\n"
	      "  probe:  # what this host has\n"
	      "    # own line\n"
	      "    # another\n"
	      "    k: v\n"
	      "  after:  # before the value\n"
	      "    7\n",
	      "[{\"vcpus\":2,\"probe\":{\"k\":\"v\"},\"after\":7}]\n", NULL,
	      "comments");
	check(b_comment_dash,
	      "-  # c\n"
	      "  a: 1\n"
	      "-  # empty\n"
	      "  {}\n",
	      "[{\"a\":1},{}]\n", NULL, "comment after a dash");
	check(b_doubles,
	      "- 0.5\n- 3.0\n- 1.0e+20\n- -2.5e-07\n- 0.1\n- null\n- null\n",
	      "[0.5,3.0,1.0e+20,-2.5e-07,0.1,null,null]\n", NULL, "doubles");
	check(b_escapes,
	      "- \"tab\\there \\\"q\\\" \\\\ nl\\n\"\n"
	      "- \"nul\\x00\\x01\\x1b\\x7f\"\n"
	      "- \"bad \xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd "
	      "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd end\"\n"
	      "- \"\\x85 nel \\u2028 ls \\x80\"\n"
	      "- \"caf\xc3\xa9 \xf0\x9f\x98\x80\"\n",
	      "[\"tab\\there \\\"q\\\" \\\\ nl\\n\","
	      "\"nul\\u0000\\u0001\\u001b\\u007f\","
	      "\"bad \xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd "
	      "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd end\","
	      "\"\\u0085 nel \\u2028 ls \\u0080\","
	      "\"caf\xc3\xa9 \xf0\x9f\x98\x80\"]\n",
	      NULL, "escapes and invalid UTF-8");
	check(b_keys,
	      "\"true\": 1\n"
	      "2M: 2\n"
	      "a b: 3\n"
	      "\"\": 4\n"
	      "f: x-5\n",
	      "{\"true\":1,\"2M\":2,\"a b\":3,\"\":4,\"f\":\"x-5\"}\n", NULL,
	      "keys");

	p = want;
	for (i = 0; i < sizeof(quoting) / sizeof(quoting[0]); i++)
		p += snprintf(p, sizeof(want) - (size_t)(p - want), "- %s\n",
			      quoting[i][1]);
	{
		char *out;
		int rc, err;

		out = render(EMIT_YAML, 0, b_quoting, &rc, &err);
		is_str(out, want, "yaml quoting of %zu strings", i);
		free(out);
	}

	test_misuse();
	test_python();
	return done_testing();
}
