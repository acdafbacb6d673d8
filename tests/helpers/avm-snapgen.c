/*
 * avm-snapgen: writes snapshot files with the library's writer
 * (include/avm/snapfile.h), for the tests of avm-snap inspect, the unit
 * tests and the fuzzer's seeds.  It is a fixture generator, not a fake
 * of saving: `avm-snap save` (from a running VM, not built yet) will
 * feed the same writer, with vCPU and device state from avm-run and
 * guest RAM from the pagers, where this tool makes them up from a
 * description on the command line.
 *
 *   avm-snapgen [options] FILE
 *     --vm NAME            VM name (default snap)
 *     --vcpus N            vCPUs (default 2)
 *     --memory SIZE        guest RAM (default 16M)
 *     --nodes N            nodes, equal blocks (default 1)
 *     --devices LIST       device states, comma-separated (default
 *                          uart,rtc,pm,ioapic,pic,debugexit; "" none);
 *                          any well-formed name, known or not
 *     --disk PATH[,ro]     a disk record (repeatable; the Nth is disk N):
 *                          the image at PATH (made absolute from the
 *                          current folder) as it is now, its size and
 *                          modification time (snap_disk_init); ",ro"
 *                          marks it read-only.  No device state goes
 *                          with it unless --devices names virtio-blkN
 *     --pattern P          guest RAM: zero, random (every page, from
 *                          --seed), counter (each 8-byte word holds
 *                          its RAM offset), mixed (page p: zero when
 *                          p % 4 is 0 or 3, counter when 1, random 2);
 *                          pattern.h, which avm-pager-client checks
 *                          a restored memory against
 *     --seed N             for random (default 1)
 *     --level N            zlib level 0..9 (default zlib's)
 *     --chunk-pages N      1..256 (default 256)
 *     --state-bytes N      bytes of each vCPU's state (default 512)
 *     --created S          the manifest's time (default now)
 *     --parts              each node's memory in a part file of its
 *                          own, the nodes writing at once (threads)
 *     --check              write nothing: read FILE back and compare
 *                          every page and state with what these
 *                          options write
 *     --from-pagers        guest RAM from the running pagers of the VM
 *                          named --vm (avm-pager-client's memory,
 *                          which the test keeps still): PG_SAVE to node
 *                          0's pager, every node writing its part file
 *                          (include/avm/savemsg.h pager_save), as
 *                          avm-run will while the VM is paused; the
 *                          states are made up as always.  On failure
 *                          nothing is left (snap_parts_remove)
 *     --timeout-ms MS      --from-pagers: the pagers answer within
 *                          (default 120000)
 *
 * Exit: 0 done (or the same), 1 --check found a difference, 64 usage,
 * 65 --check: not a valid snapshot, 66 --check: cannot read FILE (or
 * --disk: no such image),
 * 69 --from-pagers: the pagers refused or failed (the message says
 * why), 73 the file cannot be written.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "avm/exit.h"
#include "avm/log.h"
#include "avm/placement.h"
#include "avm/savemsg.h"
#include "avm/snapfile.h"
#include "avm/util.h"
#include "pattern.h"

#define PG SNAP_PAGE_SIZE

static const char *vm = "snap";
static uint32_t vcpus = 2, nodes = 1;
static uint64_t mem_bytes = 16u << 20;
static const char *device_list = "uart,rtc,pm,ioapic,pic,debugexit";
static enum pattern pattern = PAT_MIXED;
static uint64_t seed = 1;
static int level = -1;
static uint32_t chunk_pages;
static size_t state_bytes = 512;
static uint64_t created;
static int parts, check, from_pagers, timeout_ms = 120000;

static const char *devs[SNAP_DEVICES_MAX];
static char dev_buf[SNAP_DEVICES_MAX * (SNAP_DEV_NAME_MAX + 2)];
static uint32_t ndevs;
static struct placement_node place[SNAP_NODES_MAX];
static struct snap_disk disks[SNAP_DISKS_MAX];
static uint32_t ndisks;

/* Page p of the pattern into buf. */
static void
page_fill(uint64_t p, uint8_t *buf)
{
	pattern_page(pattern, seed, p, buf);
}

static int
mem_fn(void *arg, uint64_t off, void *buf, size_t len)
{
	size_t i;

	(void)arg;
	for (i = 0; i < len; i += PG)
		page_fill((off + i) / PG, (uint8_t *)buf + i);
	return 0;
}

/* The state of vCPU v (dev NULL) or of device dev, len bytes. */
static void
state_fill(uint32_t v, const char *dev, uint8_t *buf, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = dev ? (uint8_t)dev[i % strlen(dev)]
			     : (uint8_t)(v * 31 + i / 16);
}

static size_t
dev_state_len(const char *dev)
{
	return 16 + strlen(dev) * 8;
}

static void
usage(int status)
{
	fprintf(status ? stderr : stdout,
		"usage: avm-snapgen [--vm NAME] [--vcpus N] [--memory SIZE] "
		"[--nodes N]\n"
		"                   [--devices LIST] [--pattern "
		"zero|random|counter|mixed]\n"
		"                   [--seed N] [--level N] [--chunk-pages N] "
		"[--state-bytes N]\n"
		"                   [--created S] [--disk PATH[,ro]]... "
		"[--parts] "
		"[--check]\n"
		"                   [--from-pagers [--timeout-ms MS]] FILE\n");
	exit(status);
}

struct part_job {
	const char *path;
	const uint8_t *id;
	uint32_t node;
	struct snap_write_opts *o;
	struct snap_part_info info;
	int rc;
	char why[512];
};

static void *
part_thread(void *arg)
{
	struct part_job *j = arg;
	char p[4096];

	if (snap_part_path(j->path, j->id, j->node, p, sizeof(p)) < 0) {
		snprintf(j->why, sizeof(j->why), "part path: %s",
			 strerror(errno));
		j->rc = -1;
		return NULL;
	}
	j->rc = snap_part_write(p, j->id, j->node,
				place[j->node].page_first * PG,
				place[j->node].page_count * PG, j->o, mem_fn,
				NULL, &j->info, j->why, sizeof(j->why));
	return NULL;
}

/*
 * Every node's part from the pagers, added to w.  path must be absolute.
 * On failure what the pagers wrote is removed.
 */
static int
save_from_pagers(struct snap_writer *w, const char *path, int lvl,
		 uint32_t cpages, char *why, size_t whylen)
{
	static struct savemsg_req q;
	struct savemsg_part pt[PAGER_MAX_NODES];
	uint64_t ns, bytes = 0, fetched = 0;
	uint32_t i;
	int rc;

	memcpy(q.snap_id, snap_writer_id(w), 16);
	q.level = lvl;
	q.chunk_pages = cpages ? cpages : SNAP_CHUNK_PAGES_DEFAULT;
	q.nodes = nodes;
	snprintf(q.path, sizeof(q.path), "%s", path);
	rc = pager_save(vm, &q, timeout_ms, pt, &ns, why, whylen);
	for (i = 0; rc == 0 && i < nodes; i++) {
		rc = snap_writer_add_part(w, &pt[i].info, why, whylen);
		bytes += pt[i].info.file_bytes;
		fetched += pt[i].fetched;
	}
	if (rc < 0) {
		snap_parts_remove(path, q.snap_id);
		return -1;
	}
	printf("saved from the pagers: %" PRIu32 " parts, %" PRIu64
	       " bytes, %" PRIu64 " pages fetched first, %.3f s\n",
	       nodes, bytes, fetched, (double)ns / 1e9);
	for (i = 0; i < nodes; i++)
		printf("node %" PRIu32 ": %s, %" PRIu64 " bytes, %.3f s\n", i,
		       pt[i].info.name, pt[i].info.file_bytes,
		       (double)pt[i].write_ns / 1e9);
	fflush(stdout);
	return 0;
}

static int
generate(const char *path)
{
	struct snap_vm v = { vm,   vcpus, mem_bytes, nodes, place,
			     devs, ndevs, disks,     ndisks };
	struct snap_write_opts o = { level, chunk_pages, created, NULL, parts };
	struct part_job *jobs = NULL;
	pthread_t *th = NULL;
	struct snap_writer *w;
	uint8_t *buf;
	char why[1024];
	uint32_t i;
	size_t len = state_bytes > 4096 ? state_bytes : 4096;

	buf = malloc(len);
	if (!buf)
		log_die(AVM_EX_SOFTWARE, "out of memory");
	w = snap_writer_open(path, &v, &o, why, sizeof(why));
	if (!w)
		log_die(errno == EINVAL ? AVM_EX_USAGE : AVM_EX_CANTCREAT,
			"'%s': %s", path, why);
	for (i = 0; i < vcpus; i++) {
		state_fill(i, NULL, buf, state_bytes);
		if (snap_write_vcpu(w, i, buf, state_bytes, why, sizeof(why)) <
		    0)
			goto fail;
	}
	for (i = 0; i < ndevs; i++) {
		state_fill(0, devs[i], buf, dev_state_len(devs[i]));
		if (snap_write_device(w, devs[i], buf, dev_state_len(devs[i]),
				      why, sizeof(why)) < 0)
			goto fail;
	}
	if (from_pagers) {
		if (save_from_pagers(w, path, level, chunk_pages, why,
				     sizeof(why)) < 0) {
			snap_writer_abort(w);
			log_die(AVM_EX_UNAVAILABLE, "'%s': %s", path, why);
		}
	} else if (!parts) {
		for (i = 0; i < nodes; i++)
			if (snap_write_memory(w, i, mem_fn, NULL, why,
					      sizeof(why)) < 0)
				goto fail;
	} else {
		/* Every node writes its part at once, as save will. */
		jobs = calloc(nodes, sizeof(*jobs));
		th = calloc(nodes, sizeof(*th));
		if (!jobs || !th)
			log_die(AVM_EX_SOFTWARE, "out of memory");
		for (i = 0; i < nodes; i++) {
			jobs[i].path = path;
			jobs[i].id = snap_writer_id(w);
			jobs[i].node = i;
			jobs[i].o = &o;
			if (pthread_create(&th[i], NULL, part_thread,
					   &jobs[i]) != 0)
				log_die(AVM_EX_OSERR, "pthread_create");
		}
		for (i = 0; i < nodes; i++)
			pthread_join(th[i], NULL);
		for (i = 0; i < nodes; i++) {
			if (jobs[i].rc < 0) {
				snprintf(why, sizeof(why),
					 "node %" PRIu32 ": %s", i,
					 jobs[i].why);
				goto fail;
			}
			if (snap_writer_add_part(w, &jobs[i].info, why,
						 sizeof(why)) < 0)
				goto fail;
		}
	}
	if (snap_writer_finish(w, why, sizeof(why)) < 0) {
		w = NULL;
		goto fail;
	}
	free(jobs);
	free(th);
	free(buf);
	return AVM_EX_OK;
fail:
	snap_writer_abort(w);
	log_die(AVM_EX_CANTCREAT, "'%s': %s", path, why);
}

/* Reads path back and compares it with what generate() writes. */
static int
compare(const char *path)
{
	const struct snap_info *in;
	struct snap *s;
	uint8_t want[PG], got[PG], *a, *b;
	char why[512];
	uint64_t p;
	uint32_t i, d;
	size_t len;
	int bad = 0;

	s = snap_open(path, why, sizeof(why));
	if (!s)
		log_die(errno == EBADMSG ? AVM_EX_DATAERR : AVM_EX_NOINPUT,
			"'%s': %s", path, why);
	in = snap_info(s);
	if (strcmp(in->vm, vm) != 0 || in->vcpus != vcpus ||
	    in->nodes != nodes || in->mem_bytes != mem_bytes) {
		log_err("'%s': VM %s, %" PRIu32 " vCPUs, %" PRIu32
			" nodes, %" PRIu64 " bytes: not what was asked",
			path, in->vm, in->vcpus, in->nodes, in->mem_bytes);
		bad = 1;
	}
	for (p = 0; !bad && p < mem_bytes / PG; p++) {
		page_fill(p, want);
		if (snap_read_page(s, p * PG, got, why, sizeof(why)) < 0)
			log_die(errno == EBADMSG ? AVM_EX_DATAERR
						 : AVM_EX_NOINPUT,
				"'%s': %s", path, why);
		if (memcmp(want, got, PG) != 0) {
			log_err("'%s': page %" PRIu64 " differs", path, p);
			bad = 1;
		}
	}
	len = state_bytes > 4096 ? state_bytes : 4096;
	a = malloc(len);
	b = malloc(len);
	if (!a || !b)
		log_die(AVM_EX_SOFTWARE, "out of memory");
	for (i = 0, d = 0; !bad && i < in->nsec; i++) {
		const struct snap_section *sec = &in->sec[i];

		if (sec->type == SNAP_SEC_MEMORY || sec->type == SNAP_SEC_DISK)
			continue;
		if (sec->type == SNAP_SEC_VCPU) {
			len = state_bytes;
			state_fill(sec->id, NULL, a, len);
		} else {
			len = dev_state_len(sec->name);
			state_fill(0, sec->name, a, len);
			d++;
		}
		if (snap_read_state(s, i, b,
				    state_bytes > 4096 ? state_bytes : 4096,
				    why, sizeof(why)) < 0)
			log_die(errno == EBADMSG ? AVM_EX_DATAERR
						 : AVM_EX_NOINPUT,
				"'%s': %s", path, why);
		if (sec->raw_bytes != len || memcmp(a, b, len) != 0) {
			log_err("'%s': the state of section %" PRIu32
				" differs",
				path, i);
			bad = 1;
		}
	}
	for (i = 0; !bad && i < ndisks; i++)
		if (in->ndisks != ndisks ||
		    strcmp(in->disks[i].path, disks[i].path) != 0 ||
		    in->disks[i].readonly != disks[i].readonly ||
		    in->disks[i].index != i) {
			log_err("'%s': disk %" PRIu32 " is not what was asked",
				path, i);
			bad = 1;
		}
	if (!bad && in->ndisks != ndisks) {
		log_err("'%s': %" PRIu32 " disks, not %" PRIu32, path,
			in->ndisks, ndisks);
		bad = 1;
	}
	if (!bad && d != ndevs) {
		log_err("'%s': %" PRIu32 " devices, not %" PRIu32, path, d,
			ndevs);
		bad = 1;
	}
	free(a);
	free(b);
	snap_close(s);
	return bad ? AVM_EX_FAIL : AVM_EX_OK;
}

/* --disk PATH[,ro]: disk ndisks as it is now. */
static void
parse_disk(const char *arg)
{
	char p[PATH_MAX + 8], cwd[PATH_MAX], why[512];
	size_t n = strlen(arg);
	int ro = n > 3 && strcmp(arg + n - 3, ",ro") == 0;

	if (ndisks == SNAP_DISKS_MAX) {
		log_err("--disk: more than %u", SNAP_DISKS_MAX);
		usage(AVM_EX_USAGE);
	}
	if (ro)
		n -= 3;
	if (arg[0] == '/')
		snprintf(p, sizeof(p), "%.*s", (int)n, arg);
	else if (getcwd(cwd, sizeof(cwd)))
		snprintf(p, sizeof(p), "%s/%.*s", cwd, (int)n, arg);
	else
		log_die(AVM_EX_SOFTWARE, "getcwd: %s", strerror(errno));
	if (snap_disk_init(&disks[ndisks], ndisks, p, -1, ro, why,
			   sizeof(why)) < 0)
		log_die(errno == ENOENT || errno == EACCES ? AVM_EX_NOINPUT
							   : AVM_EX_USAGE,
			"--disk: %s", why);
	ndisks++;
}

static void
parse_devices(void)
{
	char *p, *save = NULL;

	if (strlen(device_list) >= sizeof(dev_buf)) {
		log_err("--devices: too long");
		usage(AVM_EX_USAGE);
	}
	snprintf(dev_buf, sizeof(dev_buf), "%s", device_list);
	for (p = strtok_r(dev_buf, ",", &save); p;
	     p = strtok_r(NULL, ",", &save)) {
		if (ndevs == SNAP_DEVICES_MAX) {
			log_err("--devices: more than %u", SNAP_DEVICES_MAX);
			usage(AVM_EX_USAGE);
		}
		devs[ndevs++] = p;
	}
}

int
main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "vm", required_argument, NULL, 'n' },
		{ "vcpus", required_argument, NULL, 'c' },
		{ "memory", required_argument, NULL, 'm' },
		{ "nodes", required_argument, NULL, 'N' },
		{ "devices", required_argument, NULL, 'd' },
		{ "disk", required_argument, NULL, 'D' },
		{ "pattern", required_argument, NULL, 'p' },
		{ "seed", required_argument, NULL, 's' },
		{ "level", required_argument, NULL, 'l' },
		{ "chunk-pages", required_argument, NULL, 'k' },
		{ "state-bytes", required_argument, NULL, 'b' },
		{ "created", required_argument, NULL, 't' },
		{ "parts", no_argument, NULL, 'P' },
		{ "check", no_argument, NULL, 'C' },
		{ "from-pagers", no_argument, NULL, 'F' },
		{ "timeout-ms", required_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct placement_in pin;
	char why[256];
	uint64_t v;
	int c;

	log_init("avm-snapgen", -1, 1);
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'n':
			vm = optarg;
			break;
		case 'c':
		case 'N':
		case 's':
		case 'l':
		case 'k':
		case 'b':
		case 't':
			if (uint_parse(optarg, 0, UINT64_MAX, &v) < 0) {
				log_err("'%s': not a number", optarg);
				usage(AVM_EX_USAGE);
			}
			if (c == 'c')
				vcpus = (uint32_t)v;
			else if (c == 'N')
				nodes = (uint32_t)v;
			else if (c == 's')
				seed = v;
			else if (c == 'l')
				level = (int)v;
			else if (c == 'k')
				chunk_pages = (uint32_t)v;
			else if (c == 'b')
				state_bytes = (size_t)v;
			else
				created = v;
			break;
		case 'm':
			if (size_parse(optarg, &mem_bytes) < 0) {
				log_err("--memory '%s': not a size", optarg);
				usage(AVM_EX_USAGE);
			}
			break;
		case 'd':
			device_list = optarg;
			break;
		case 'D':
			parse_disk(optarg);
			break;
		case 'p':
			if (pattern_parse(optarg) >= 0)
				pattern = (enum pattern)pattern_parse(optarg);
			else {
				log_err("--pattern '%s': zero, random, "
					"counter or mixed",
					optarg);
				usage(AVM_EX_USAGE);
			}
			break;
		case 'P':
			parts = 1;
			break;
		case 'C':
			check = 1;
			break;
		case 'F':
			from_pagers = parts = 1;
			break;
		case 'T':
			if (uint_parse(optarg, 1, 3600000, &v) < 0) {
				log_err("--timeout-ms '%s': 1..3600000",
					optarg);
				usage(AVM_EX_USAGE);
			}
			timeout_ms = (int)v;
			break;
		case 'h':
			usage(AVM_EX_OK);
			break;
		default:
			usage(AVM_EX_USAGE);
		}
	}
	if (optind != argc - 1)
		usage(AVM_EX_USAGE);
	if (state_bytes > SNAP_STATE_MAX) {
		log_err("--state-bytes: at most %u", SNAP_STATE_MAX);
		usage(AVM_EX_USAGE);
	}
	parse_devices();
	if (nodes == 0 || nodes > SNAP_NODES_MAX || mem_bytes % PG) {
		log_err("--nodes 1..%u, --memory whole pages", SNAP_NODES_MAX);
		usage(AVM_EX_USAGE);
	}
	pin = (struct placement_in){ nodes, vcpus, mem_bytes, NULL, NULL };
	if (placement_compute(&pin, place, why, sizeof(why)) < 0) {
		log_err("placement: %s", why);
		usage(AVM_EX_USAGE);
	}
	if (from_pagers && argv[optind][0] != '/') {
		log_err("--from-pagers: FILE must be an absolute path");
		usage(AVM_EX_USAGE);
	}
	return check ? compare(argv[optind]) : generate(argv[optind]);
}
