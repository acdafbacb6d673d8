/*
 * Unit tests of lib/snapfile.c: write then read back every page and
 * state (one file and part files); zero pages cost no bytes; a page is
 * read with one read of one chunk; every single flipped byte of a file
 * is caught by snap_open or snap_verify; each kind of damage gives its
 * own message (a chunk, the index, the manifest, the header, the
 * trailer, truncation, a newer version, an unknown device, offsets past
 * the end); a writer that fails leaves no file; disk records round trip,
 * hostile ones are refused, version 1 files are read as version 1, and
 * snap_disk_check sees an image that changed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "avm/placement.h"
#include "avm/snapfile.h"
#include "avm/wire.h"
#include "tap.h"

#define PG SNAP_PAGE_SIZE
#define OFF(s, f) offsetof(struct s, f)

static char dir[] = "/tmp/t-snapfile.XXXXXX";
static char why[512];

static const char *const all_devs[] = { "uart",	  "rtc", "pm",
					"ioapic", "pic", "debugexit" };

/* --- a VM to save ------------------------------------------------------ */

struct vm {
	struct placement_node place[8];
	struct snap_vm v;
	uint8_t *ram;
	uint8_t state[4][700];
};

static uint64_t
mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/*
 * vcpus vCPUs over nodes nodes, pages of RAM: page p is zero when p % 5
 * is 0 or 4, random when 1, a counter otherwise; and every page of
 * chunk 1 (pages 16..31 with 16-page chunks) is zero, so one chunk
 * stores nothing.
 */
static void
vm_make(struct vm *m, const char *name, uint32_t vcpus, uint32_t nodes,
	uint64_t pages, const char *const *devs, uint32_t ndevs)
{
	struct placement_in in = { nodes, vcpus, pages * PG, NULL, NULL };
	uint64_t p, i, w;

	memset(m, 0, sizeof(*m));
	placement_compute(&in, m->place, why, sizeof(why));
	m->ram = calloc(pages, PG);
	for (p = 0; p < pages; p++) {
		if (p % 5 == 0 || p % 5 == 4 || (p >= 16 && p < 32))
			continue;
		for (i = 0; i < PG / 8; i++) {
			w = p % 5 == 1 ? mix64(p * 512 + i) : p * PG + i * 8;
			memcpy(m->ram + p * PG + i * 8, &w, 8);
		}
	}
	for (i = 0; i < 4; i++)
		for (p = 0; p < sizeof(m->state[i]); p++)
			m->state[i][p] = (uint8_t)(i * 7 + p / 10);
	m->v = (struct snap_vm){ name, vcpus, pages * PG, nodes, m->place,
				 devs, ndevs, NULL,	  0 };
}

static void
vm_free(struct vm *m)
{
	free(m->ram);
}

/* Device d's state: its name, repeated, 20 + d bytes. */
static void
dev_state(uint32_t d, const char *name, uint8_t *buf, size_t *len)
{
	size_t i;

	*len = 20 + d;
	for (i = 0; i < *len; i++)
		buf[i] = (uint8_t)name[i % strlen(name)];
}

static const struct snap_write_opts opts16 = { -1, 16, 1700000000, NULL, 0 };

/* Writes m to path with opts (single file).  Returns 0 or -1. */
static int
vm_save(struct vm *m, const char *path, const struct snap_write_opts *o)
{
	struct snap_writer *w;
	uint8_t buf[64];
	size_t len;
	uint32_t i;

	w = snap_writer_open(path, &m->v, o, why, sizeof(why));
	if (!w)
		return -1;
	for (i = 0; i < m->v.vcpus; i++)
		if (snap_write_vcpu(w, i, m->state[i % 4], 100 + 150 * i, why,
				    sizeof(why)) < 0)
			goto fail;
	for (i = 0; i < m->v.ndevices; i++) {
		dev_state(i, m->v.devices[i], buf, &len);
		if (snap_write_device(w, m->v.devices[i], buf, len, why,
				      sizeof(why)) < 0)
			goto fail;
	}
	for (i = 0; i < m->v.nodes; i++)
		if (snap_write_memory(w, i, snap_mem_buffer, m->ram, why,
				      sizeof(why)) < 0)
			goto fail;
	return snap_writer_finish(w, why, sizeof(why));
fail:
	snap_writer_abort(w);
	return -1;
}

/* 1 when every page and state of path is m's. */
static int
vm_same(struct vm *m, const char *path)
{
	const struct snap_info *in;
	uint8_t page[PG], buf[2048], want[64];
	struct snap *s;
	uint64_t p;
	uint32_t i;
	size_t len;
	int same = 1;

	s = snap_open(path, why, sizeof(why));
	if (!s)
		return 0;
	in = snap_info(s);
	for (p = 0; same && p < m->v.mem_bytes / PG; p++)
		if (snap_read_page(s, p * PG, page, why, sizeof(why)) < 0 ||
		    memcmp(page, m->ram + p * PG, PG) != 0) {
			printf("# page %" PRIu64 " differs\n", p);
			same = 0;
		}
	for (i = 0; same && i < in->nsec; i++) {
		const struct snap_section *sec = &in->sec[i];

		if (sec->type == SNAP_SEC_MEMORY || sec->type == SNAP_SEC_DISK)
			continue;
		if (snap_read_state(s, i, buf, sizeof(buf), why, sizeof(why)) <
		    0) {
			same = 0;
			break;
		}
		if (sec->type == SNAP_SEC_VCPU)
			same = sec->raw_bytes == 100 + 150 * sec->id &&
			       memcmp(buf, m->state[sec->id % 4],
				      sec->raw_bytes) == 0;
		else {
			dev_state(i - m->v.vcpus, sec->name, want, &len);
			same = sec->raw_bytes == len &&
			       memcmp(buf, want, len) == 0;
		}
		if (!same)
			printf("# section %" PRIu32 " differs\n", i);
	}
	snap_close(s);
	return same;
}

/* --- files ------------------------------------------------------------- */

static char *
path_of(const char *name)
{
	static char p[8][256];
	static int k;

	k = (k + 1) % 8;
	snprintf(p[k], sizeof(p[k]), "%s/%s", dir, name);
	return p[k];
}

/* The bytes of path; an empty buffer (and a note) when it cannot. */
static uint8_t *
slurp(const char *path, size_t *len)
{
	struct stat st;
	uint8_t *b;
	int fd = open(path, O_RDONLY);

	*len = 0;
	if (fd < 0 || fstat(fd, &st) < 0) {
		printf("# cannot read '%s': %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return calloc(1, 1);
	}
	b = calloc(1, (size_t)st.st_size + 1);
	if (read(fd, b, (size_t)st.st_size) == st.st_size)
		*len = (size_t)st.st_size;
	close(fd);
	return b;
}

static void
spit(const char *path, const uint8_t *b, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd < 0 || write(fd, b, len) != (ssize_t)len)
		abort();
	close(fd);
}

/* Entries of dir other than . and .. */
static int
dir_count(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static void
dir_clear(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			unlink(path_of(e->d_name));
	closedir(d);
}

static int
all_zero_page(const uint8_t *p)
{
	size_t i;

	for (i = 0; i < PG; i++)
		if (p[i])
			return 0;
	return 1;
}

static uint32_t
crc(const uint8_t *p, size_t len)
{
	return (uint32_t)crc32(0, p, (uInt)len);
}

/*
 * Makes the CRC32s of b (a main file) agree again after an edit: each
 * memory section's index CRC and each disk record's in the manifest,
 * the manifest's in the
 * header and trailer, the header's, the trailer's, and with whole the
 * whole-file CRC32 too.  What is left to catch is the edit itself.
 */
static void
reseal(uint8_t *b, size_t len, int whole)
{
	uint32_t mlen = wire_get32(b + OFF(snap_hdr_le, manifest_bytes));
	uint8_t *m = b + SNAP_HDR_SIZE, *t = b + len - SNAP_TRAILER_SIZE, *e;
	uint32_t nodes = wire_get32(m + OFF(snap_manifest_le, nodes));
	uint32_t parts = wire_get32(m + OFF(snap_manifest_le, parts));
	uint32_t nsec = wire_get32(m + OFF(snap_manifest_le, sections));
	uint32_t i, mc;
	uint64_t at = SNAP_MANIFEST_SIZE + (uint64_t)nodes * SNAP_NODE_SIZE +
		      (uint64_t)parts * SNAP_PART_SIZE;

	for (i = 0; i < nsec; i++) {
		e = m + at + (uint64_t)i * SNAP_SECTION_SIZE;
		if (wire_get16(e + OFF(snap_section_le, type)) ==
		    SNAP_SEC_DISK) {
			uint64_t o =
				wire_get64(e + OFF(snap_section_le, offset));
			uint64_t n = wire_get64(
				e + OFF(snap_section_le, stored_bytes));

			if (o <= len && n <= len - o) {
				wire_put32(e + OFF(snap_section_le, crc),
					   crc(b + o, (size_t)n));
				wire_put32(e + OFF(snap_section_le, raw_crc),
					   crc(b + o, (size_t)n));
			}
			continue;
		}
		if (wire_get16(e + OFF(snap_section_le, type)) !=
			    SNAP_SEC_MEMORY ||
		    wire_get32(e + OFF(snap_section_le, part)) != 0)
			continue;
		uint64_t io = wire_get64(e + OFF(snap_section_le, index_off));
		uint32_t n = wire_get32(e + OFF(snap_section_le, chunks));
		if (io + (uint64_t)n * SNAP_CHUNK_SIZE <= len)
			wire_put32(e + OFF(snap_section_le, crc),
				   crc(b + io, (size_t)n * SNAP_CHUNK_SIZE));
	}
	mc = crc(m, mlen);
	wire_put32(b + OFF(snap_hdr_le, manifest_crc), mc);
	wire_put32(b + OFF(snap_hdr_le, hdr_crc),
		   crc(b, OFF(snap_hdr_le, hdr_crc)));
	wire_put32(t + OFF(snap_trailer_le, manifest_crc), mc);
	if (whole)
		wire_put32(t + OFF(snap_trailer_le, file_crc),
			   crc(b, len - SNAP_TRAILER_SIZE));
	wire_put32(t + OFF(snap_trailer_le, trailer_crc),
		   crc(t, OFF(snap_trailer_le, trailer_crc)));
}

/* The manifest entry of section i of b. */
static uint8_t *
sec_entry(uint8_t *b, uint32_t i)
{
	uint8_t *m = b + SNAP_HDR_SIZE;
	uint32_t nodes = wire_get32(m + OFF(snap_manifest_le, nodes));
	uint32_t parts = wire_get32(m + OFF(snap_manifest_le, parts));

	return m + SNAP_MANIFEST_SIZE + nodes * SNAP_NODE_SIZE +
	       parts * SNAP_PART_SIZE + i * SNAP_SECTION_SIZE;
}

/*
 * Opens path (and verifies it when verify): 1 when that fails with
 * EBADMSG and a message holding want.
 */
static int
refused(const char *path, int verify, const char *want)
{
	struct snap_verified v;
	struct snap *s;
	int r;

	why[0] = '\0';
	s = snap_open(path, why, sizeof(why));
	if (s && verify) {
		r = snap_verify(s, &v, NULL, NULL, why, sizeof(why));
		snap_close(s);
		if (r == 0)
			s = NULL, errno = 0;
		else
			s = NULL;
	} else if (s) {
		snap_close(s);
		printf("# opened, want '%s'\n", want);
		return 0;
	}
	if (errno == EBADMSG && strstr(why, want))
		return 1;
	printf("# errno %d, '%s', want '%s'\n", errno, why, want);
	return 0;
}

/*
 * A copy of b (len bytes) edited by stmt (on x), its CRC32s made to
 * agree, must be refused at open with a message holding want.
 */
#define EDIT(what, stmt, want)                                       \
	do {                                                         \
		uint8_t *c_ = malloc(len);                           \
		memcpy(c_, b, len);                                  \
		{                                                    \
			uint8_t *x = c_;                             \
			stmt;                                        \
		}                                                    \
		reseal(c_, len, 1);                                  \
		spit(path_of("x.snap"), c_, len);                    \
		ok(refused(path_of("x.snap"), 0, want), "%s", what); \
		free(c_);                                            \
	} while (0)

/* --- tests ------------------------------------------------------------- */

static void
test_round_trip(void)
{
	const struct snap_info *in;
	struct snap_verified v;
	struct snap *s;
	struct vm m;
	uint64_t zero = 0, data0 = 0, p;
	uint32_t i;

	/* 2 nodes, 3 vCPUs; 70 pages: chunks of 16, 18 a node, the last
	 * ones partial. */
	vm_make(&m, "rt", 3, 2, 70, all_devs, 6);
	ok(vm_save(&m, path_of("rt.snap"), &opts16) == 0, "write: %s", why);
	ok(vm_same(&m, path_of("rt.snap")), "every page and state reads back");
	s = snap_open(path_of("rt.snap"), why, sizeof(why));
	ok(s != NULL, "open: %s", s ? "" : why);
	if (!s)
		return;
	in = snap_info(s);
	is_int(in->version, SNAP_VERSION, "format version %d", SNAP_VERSION);
	is_int(in->ndisks, 0, "no disks");
	is_str(in->vm, "rt", "VM name");
	is_int(in->vcpus, 3, "vCPUs");
	is_int(in->nodes, 2, "nodes");
	is_int(in->mem_bytes, 70 * PG, "memory");
	is_int(in->chunk_pages, 16, "16 pages a chunk");
	is_int(in->created_unix_s, 1700000000, "creation time kept");
	ok(strncmp(in->writer, "avm ", 4) == 0, "writer '%s'", in->writer);
	is_int(in->node[1].vcpu_first, 1, "node 1 runs vCPUs 1 and 2");
	is_int(in->node[1].page_first, 35, "node 1 homes from page 35");
	is_int(in->nsec, 3 + 6 + 2, "a section per vCPU, device and node");
	is_int(in->chunks, 6, "3 chunks a node (16 + 16 + 3 pages)");
	for (p = 0; p < 70; p++) {
		i = p % 5 == 0 || p % 5 == 4 || (p >= 16 && p < 32);
		zero += i;
		data0 += !i && p < 35;
	}
	is_int(in->zero_pages, zero, "zero pages counted");
	is_int(in->sec[9].type, SNAP_SEC_MEMORY, "memory after the states");
	is_int(in->sec[9].data_bytes, data0 * PG,
	       "node 0's data: its pages that are not zero");
	ok(snap_verify(s, &v, NULL, NULL, why, sizeof(why)) == 0, "verify: %s",
	   why);
	is_int(v.chunks, 6 - 1, "every chunk but the zero one checked");
	is_int(v.sections, 11, "every section checked");
	ok(v.ram_crc == (uint32_t)crc32(0, m.ram, (uInt)m.v.mem_bytes),
	   "the memory's CRC32: all of RAM's, zero pages and the zero "
	   "chunk included");
	snap_close(s);

	/* Level 0: chunks stored as they are. */
	ok(vm_save(&m, path_of("raw.snap"),
		   &(struct snap_write_opts){ 0, 16, 0, NULL, 0 }) == 0,
	   "write at level 0");
	ok(vm_same(&m, path_of("raw.snap")), "level 0 reads back");
	s = snap_open(path_of("raw.snap"), why, sizeof(why));
	in = s ? snap_info(s) : NULL;
	ok(in && in->sec[9].chunk_bytes == in->sec[9].data_bytes,
	   "level 0: stored bytes are the data");
	snap_close(s);

	/* Chunks of 1 page and of 256: the bounds. */
	for (i = 0; i < 2; i++) {
		struct snap_write_opts o = { 6, i ? 256 : 1, 0, NULL, 0 };

		ok(vm_save(&m, path_of("c.snap"), &o) == 0 &&
			   vm_same(&m, path_of("c.snap")),
		   "%u pages a chunk: round trip", o.chunk_pages);
	}
	vm_free(&m);
}

static void
test_zero_pages(void)
{
	const struct snap_info *in;
	struct vm m;
	struct snap *s;
	struct stat st;

	/* 16 MiB never written: the manifest and 16 index entries. */
	vm_make(&m, "empty", 1, 1, 4096, NULL, 0);
	memset(m.ram, 0, 4096 * PG);
	ok(vm_save(&m, path_of("z.snap"), NULL) == 0, "write 16M of zeros");
	stat(path_of("z.snap"), &st);
	ok(st.st_size < 2048, "16M of zero pages take %lld bytes",
	   (long long)st.st_size);
	s = snap_open(path_of("z.snap"), why, sizeof(why));
	in = s ? snap_info(s) : NULL;
	ok(in && in->zero_pages == 4096 && in->sec[1].chunk_bytes == 0,
	   "every page zero, no chunk bytes stored");
	ok(in && in->sec[1].stored_bytes == 16 * SNAP_CHUNK_SIZE,
	   "the section is its index alone");
	snap_close(s);
	ok(vm_same(&m, path_of("z.snap")), "zero pages read back as zeros");
	vm_free(&m);
}

static void
test_random_access(void)
{
	const struct snap_info *in;
	const struct snap_io *io;
	uint8_t page[PG];
	struct snap *s;
	struct vm m;
	uint64_t r0, b0, stored7;

	vm_make(&m, "ra", 1, 1, 256, NULL, 0);
	vm_save(&m, path_of("ra.snap"), &opts16);
	s = snap_open(path_of("ra.snap"), why, sizeof(why));
	if (!ok(s != NULL, "open: %s", s ? "" : why))
		return;
	in = snap_info(s);
	io = snap_io(s);
	r0 = io->reads;
	b0 = io->read_bytes;
	ok(r0 <= 4, "open reads header, manifest, trailer, index: %" PRIu64,
	   r0);
	ok(snap_read_page(s, 113 * PG, page, why, sizeof(why)) == 0 &&
		   memcmp(page, m.ram + 113 * PG, PG) == 0,
	   "page 113 (chunk 7) reads right");
	is_int(io->reads - r0, 1, "one read for it");
	/* The stored size of chunk 7: the bytes of that one read. */
	stored7 = io->read_bytes - b0;
	ok(stored7 > 0 && stored7 < 16 * PG && stored7 < in->sec[1].chunk_bytes,
	   "it read chunk 7's %" PRIu64 " bytes, not more", stored7);
	ok(snap_read_page(s, 116 * PG, page, why, sizeof(why)) == 0 &&
		   memcmp(page, m.ram + 116 * PG, PG) == 0,
	   "page 116 (chunk 7) reads right");
	is_int(io->reads - r0, 1, "from the chunk kept: no read");
	ok(snap_read_page(s, 20 * PG, page, why, sizeof(why)) == 0 &&
		   all_zero_page(page),
	   "page 20 (zero) reads as zeros");
	is_int(io->reads - r0, 1, "a zero page: no read");
	ok(snap_read_page(s, 253 * PG, page, why, sizeof(why)) == 0 &&
		   memcmp(page, m.ram + 253 * PG, PG) == 0,
	   "page 253 (chunk 15) reads right");
	is_int(io->reads - r0, 2, "another chunk: one read more");
	errno = 0;
	ok(snap_read_page(s, 256 * PG, page, why, sizeof(why)) < 0 &&
		   errno == EINVAL,
	   "a page past the end: EINVAL");
	ok(snap_read_page(s, 5, page, why, sizeof(why)) < 0 && errno == EINVAL,
	   "an address inside a page: EINVAL");
	snap_close(s);
	vm_free(&m);
}

static void
test_parts(void)
{
	struct snap_write_opts o = { -1, 16, 0, NULL, 1 };
	struct snap_part_info pi[3];
	const struct snap_info *in;
	struct snap_verified v;
	struct snap_writer *w, *w2;
	struct snap *s;
	struct vm m;
	char p[256], pn[3][256], pq[256];
	uint8_t *b, id[16] = { 0 };
	size_t len;
	uint32_t i;
	int good = 1;

	dir_clear();
	vm_make(&m, "pt", 3, 3, 90, NULL, 0);
	w = snap_writer_open(path_of("p.snap"), &m.v, &o, why, sizeof(why));
	ok(w != NULL, "writer with parts");
	for (i = 0; i < 3; i++)
		good &= snap_write_vcpu(w, i, m.state[i], 100 + 150 * i, why,
					sizeof(why)) == 0;
	ok(snap_write_memory(w, 0, snap_mem_buffer, m.ram, why, sizeof(why)) <
		   0,
	   "memory into the main file refused: %s", why);
	why[0] = '\0';
	for (i = 0; i < 3; i++) {
		snap_part_path(path_of("p.snap"), snap_writer_id(w), i, pn[i],
			       sizeof(pn[i]));
		good &= snap_part_write(pn[i], snap_writer_id(w), i,
					m.place[i].page_first * PG,
					m.place[i].page_count * PG, &o,
					snap_mem_buffer, m.ram, &pi[i], why,
					sizeof(why)) == 0;
		good &= snap_writer_add_part(w, &pi[i], why, sizeof(why)) == 0;
	}
	good &= snap_writer_finish(w, why, sizeof(why)) == 0;
	ok(good, "three parts and the main file written: %s", why);
	is_int(dir_count(), 4, "four files, no temporary one");
	ok(vm_same(&m, path_of("p.snap")), "every page reads back from parts");
	s = snap_open(path_of("p.snap"), why, sizeof(why));
	in = s ? snap_info(s) : NULL;
	ok(in && in->nparts == 3 &&
		   strcmp(in->parts[2].name, strrchr(pn[2], '/') + 1) == 0,
	   "the manifest names the parts");
	ok(s && snap_verify(s, &v, NULL, NULL, why, sizeof(why)) == 0,
	   "verify with parts: %s", why);
	ok(v.ram_crc == (uint32_t)crc32(0, m.ram, (uInt)m.v.mem_bytes),
	   "the memory's CRC32 across parts and short chunks");
	if (in)
		memcpy(id, in->snap_id, 16);
	snap_close(s);

	/* A damaged part. */
	b = slurp(pn[1], &len);
	b = realloc(b, len > 201 ? len : 201); /* never short but a test */
	b[200] ^= 0x10;
	spit(pn[1], b, len);
	ok(refused(path_of("p.snap"), 1, "(guest RAM 0x1e000-0x2dfff, node 1)"),
	   "a flipped byte in node 1's part names its chunk");
	spit(pn[1], b, len - 1);
	snprintf(p, sizeof(p), "part '%s': truncated", strrchr(pn[1], '/') + 1);
	ok(refused(path_of("p.snap"), 0, p), "a truncated part is named");
	b[200] ^= 0x10;
	spit(pn[1], b, len);
	free(b);
	unlink(pn[2]);
	s = snap_open(path_of("p.snap"), why, sizeof(why));
	snprintf(p, sizeof(p), "part '%s'", strrchr(pn[2], '/') + 1);
	ok(!s && errno == ENOENT && strstr(why, p),
	   "a missing part: ENOENT, named: %s", why);
	snap_close(s);

	/* A part of another snapshot of the same VM. */
	w2 = snap_writer_open(path_of("q.snap"), &m.v, &o, why, sizeof(why));
	ok(w2 && memcmp(snap_writer_id(w2), id, 16) != 0,
	   "each snapshot has its own id");
	snap_part_path(path_of("q.snap"), snap_writer_id(w2), 2, pq,
		       sizeof(pq));
	snap_part_write(pq, snap_writer_id(w2), 2, m.place[2].page_first * PG,
			m.place[2].page_count * PG, &o, snap_mem_buffer, m.ram,
			&pi[2], why, sizeof(why));
	rename(pq, pn[2]);
	ok(refused(path_of("p.snap"), 0, "of another snapshot"),
	   "a part of another snapshot is refused");
	snap_writer_abort(w2);
	ok(refused(pn[0], 0, "a part file"),
	   "a part given as the snapshot is refused");

	/* A writer that gives up removes the parts it was given. */
	w = snap_writer_open(path_of("r.snap"), &m.v, &o, why, sizeof(why));
	snap_part_path(path_of("r.snap"), snap_writer_id(w), 0, p, sizeof(p));
	snap_part_write(p, snap_writer_id(w), 0, 0, m.place[0].page_count * PG,
			&o, snap_mem_buffer, m.ram, &pi[0], why, sizeof(why));
	ok(snap_writer_add_part(w, &pi[0], why, sizeof(why)) == 0, "add part");
	ok(snap_writer_finish(w, why, sizeof(why)) < 0 && errno == EINVAL,
	   "finish without the rest fails: %s", why);
	ok(access(p, F_OK) < 0 && access(path_of("r.snap"), F_OK) < 0,
	   "and leaves neither the part nor the file");
	dir_clear();
	vm_free(&m);
}

/* Node i's part of m into the writer w, named into pn[i]. */
static int
give_parts(struct snap_writer *w, struct vm *m, const char *main,
	   const struct snap_write_opts *o, char pn[][256])
{
	struct snap_part_info pi;
	int good = 1;

	for (uint32_t i = 0; i < m->v.nodes; i++) {
		snap_part_path(main, snap_writer_id(w), i, pn[i], 256);
		good &= snap_part_write(pn[i], snap_writer_id(w), i,
					m->place[i].page_first * PG,
					m->place[i].page_count * PG, o,
					snap_mem_buffer, m->ram, &pi, why,
					sizeof(why)) == 0;
		good &= snap_writer_add_part(w, &pi, why, sizeof(why)) == 0;
	}
	for (uint32_t i = 0; i < m->v.vcpus; i++)
		good &= snap_write_vcpu(w, i, m->state[i], 100 + 150 * i, why,
					sizeof(why)) == 0;
	return good;
}

/* A snapshot saved over one with parts: the old parts go, not before. */
static void
test_replace_parts(void)
{
	struct snap_write_opts o = { -1, 16, 0, NULL, 1 };
	char old[3][256], nw[3][256];
	struct snap_writer *w;
	struct vm m;
	int good;

	dir_clear();
	vm_make(&m, "rp", 3, 3, 90, NULL, 0);
	w = snap_writer_open(path_of("p.snap"), &m.v, &o, why, sizeof(why));
	good = w && give_parts(w, &m, path_of("p.snap"), &o, old) &&
	       snap_writer_finish(w, why, sizeof(why)) == 0;
	ok(good, "a snapshot with three parts: %s", why);
	m.ram[5 * PG] ^= 0xff;
	w = snap_writer_open(path_of("p.snap"), &m.v, &o, why, sizeof(why));
	good = w && give_parts(w, &m, path_of("p.snap"), &o, nw);
	ok(good && strcmp(old[1], nw[1]) != 0 && access(old[1], F_OK) == 0,
	   "a second one's parts have other names; the old ones stay "
	   "while it is written");
	snap_writer_abort(w);
	m.ram[5 * PG] ^= 0xff;
	ok(vm_same(&m, path_of("p.snap")) && access(old[0], F_OK) == 0 &&
		   access(nw[0], F_OK) < 0,
	   "a save given up leaves the old snapshot whole");
	m.ram[5 * PG] ^= 0xff;
	w = snap_writer_open(path_of("p.snap"), &m.v, &o, why, sizeof(why));
	good = w && give_parts(w, &m, path_of("p.snap"), &o, nw) &&
	       snap_writer_finish(w, why, sizeof(why)) == 0;
	ok(good && vm_same(&m, path_of("p.snap")), "the new one replaces it");
	ok(access(old[0], F_OK) < 0 && access(old[2], F_OK) < 0 &&
		   access(nw[2], F_OK) == 0 && dir_count() == 4,
	   "and its parts replace the old parts");
	dir_clear();
	vm_free(&m);
}

/* Every single flipped byte is caught by open or verify. */
static void
test_every_byte(void)
{
	const char *const devs[] = { "uart" };
	size_t len, i, missed = 0;
	struct vm m;
	uint8_t *b;

	struct snap_disk d;

	vm_make(&m, "tiny", 1, 1, 20, devs, 1);
	snprintf(d.path, sizeof(d.path), "%s", path_of("tiny.img"));
	spit(d.path, (const uint8_t *)"disk", 4);
	ok(snap_disk_init(&d, 5, d.path, -1, 1, why, sizeof(why)) == 0,
	   "a disk record: %s", why);
	m.v.disks = &d;
	m.v.ndisks = 1;
	memset(m.ram, 0, 20 * PG);
	memset(m.ram + 2 * PG, 0x33, PG); /* a small file: each byte a try */
	memset(m.ram + 17 * PG, 0x44, 100);
	vm_save(&m, path_of("t.snap"), &opts16);
	b = slurp(path_of("t.snap"), &len);
	for (i = 0; i < len; i++) {
		b[i] ^= 0x04;
		spit(path_of("x.snap"), b, len);
		if (!refused(path_of("x.snap"), 1, "")) {
			printf("# byte %zu not caught\n", i);
			missed++;
		}
		b[i] ^= 0x04;
	}
	is_int(missed, 0, "each of the %zu bytes flipped is caught", len);
	free(b);
	vm_free(&m);
}

static void
test_damage(void)
{
	const struct snap_info *in;
	char want[256];
	struct snap_verified v;
	uint8_t *b, *e, page[PG];
	struct snap *s;
	struct vm m;
	size_t len;
	uint64_t off, at;
	int r;

	vm_make(&m, "dmg", 2, 2, 70, all_devs, 6);
	vm_save(&m, path_of("d.snap"), &opts16);
	b = slurp(path_of("d.snap"), &len);
	s = snap_open(path_of("d.snap"), why, sizeof(why));
	if (!s)
		return;
	in = snap_info(s);

	/* A chunk: open is fine, verify and the page's read name it. */
	{
		const struct snap_section *sec = &in->sec[8 + 1]; /* node 1 */
		uint32_t c = 2; /* chunk 2 of node 1: 5 */
		uint8_t *ix = b + sec->index_off + c * SNAP_CHUNK_SIZE;

		off = wire_get64(ix + OFF(snap_chunk_le, offset));
		b[off + 5] ^= 0x80;
		spit(path_of("x.snap"), b, len);
		b[off + 5] ^= 0x80;
		snap_close(s);
		s = snap_open(path_of("x.snap"), why, sizeof(why));
		ok(s != NULL, "a flipped chunk byte: open still works");
		r = s ? snap_verify(s, &v, NULL, NULL, why, sizeof(why)) : 0;
		snprintf(want, sizeof(want),
			 "chunk 5 (guest RAM 0x43000-0x45fff, node 1): bad "
			 "CRC32 0x");
		ok(r < 0 && errno == EBADMSG && strstr(why, want),
		   "verify names chunk 5: %s", why);
		is_int(v.bad_chunk, 5, "bad_chunk 5");
		ok(strstr(why, ", expected 0x") != NULL,
		   "with the CRC expected");
		ok(s &&
			   snap_read_page(s, 0x44000, page, why, sizeof(why)) <
				   0 &&
			   errno == EBADMSG && strstr(why, "chunk 5 "),
		   "reading a page of it fails the same way");
		ok(s && snap_read_page(s, 0x1000, page, why, sizeof(why)) == 0,
		   "a page of another chunk still reads");
		snap_close(s);
		s = snap_open(path_of("d.snap"), why, sizeof(why));
		in = snap_info(s);
	}

	/* The chunk index of node 0. */
	b[in->sec[8].index_off + 70] ^= 1;
	spit(path_of("x.snap"), b, len);
	b[in->sec[8].index_off + 70] ^= 1;
	ok(refused(path_of("x.snap"), 0,
		   "memory of node 0: chunk index: bad CRC32 0x"),
	   "a flipped index byte");

	/* A state: verify names the section. */
	b[in->sec[1].offset] ^= 1;
	spit(path_of("x.snap"), b, len);
	b[in->sec[1].offset] ^= 1;
	ok(refused(path_of("x.snap"), 1, "vcpu 1: bad CRC32 0x"),
	   "a flipped state byte: vcpu 1");

	b[SNAP_HDR_SIZE + 40] ^= 1;
	spit(path_of("x.snap"), b, len);
	b[SNAP_HDR_SIZE + 40] ^= 1;
	ok(refused(path_of("x.snap"), 0, "manifest: bad CRC32 0x"),
	   "a flipped manifest byte");

	b[33] ^= 1;
	spit(path_of("x.snap"), b, len);
	b[33] ^= 1;
	ok(refused(path_of("x.snap"), 0, "header: bad CRC32 0x"),
	   "a flipped header byte");

	b[2] ^= 1;
	spit(path_of("x.snap"), b, len);
	b[2] ^= 1;
	ok(refused(path_of("x.snap"), 0,
		   "bad magic: not an AVM snapshot (it starts with 41 56 4c"),
	   "a flipped magic byte");

	b[len - 3] ^= 1;
	spit(path_of("x.snap"), b, len);
	b[len - 3] ^= 1;
	ok(refused(path_of("x.snap"), 0, "trailer: bad CRC32"),
	   "a flipped trailer byte");

	/* Versions: named before the header's CRC32 is looked at. */
	wire_put32(b + 8, 3);
	spit(path_of("x.snap"), b, len);
	ok(refused(path_of("x.snap"), 0,
		   "format version 3: this build reads versions 1 to 2 (the "
		   "file is from a newer avm)"),
	   "a future version");
	wire_put32(b + 8, 0);
	spit(path_of("x.snap"), b, len);
	ok(refused(path_of("x.snap"), 0,
		   "format version 0: this build reads versions 1 to 2"),
	   "version 0");
	wire_put32(b + 8, SNAP_VERSION);

	/* Truncated, at several points. */
	{
		static const struct {
			size_t at;
			const char *want;
		} cuts[] = {
			{ 0, "empty file" },
			{ 7,
			  "truncated: 7 bytes, less than the 64-byte header" },
			{ 64, "the manifest is cut" },
			{ 300, "the manifest is cut" },
		};
		size_t i;

		for (i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
			spit(path_of("x.snap"), b, cuts[i].at);
			ok(refused(path_of("x.snap"), 0, cuts[i].want),
			   "cut at %zu: %s", cuts[i].at, cuts[i].want);
		}
		at = in->sec[1].offset + 3;
		spit(path_of("x.snap"), b, at);
		snprintf(want, sizeof(want),
			 "truncated: %" PRIu64 " bytes, written as %zu; vcpu 1 "
			 "(bytes %" PRIu64 "-",
			 at, len, in->sec[1].offset);
		ok(refused(path_of("x.snap"), 0, want),
		   "cut in vcpu 1's state");
		at = in->sec[9].offset + 100;
		spit(path_of("x.snap"), b, at);
		ok(refused(path_of("x.snap"), 0, "memory of node 1 (bytes"),
		   "cut in node 1's memory");
		spit(path_of("x.snap"), b, len - 1);
		ok(refused(path_of("x.snap"), 0, "the trailer is cut"),
		   "cut in the trailer");
		b = realloc(b, len + 1);
		b[len] = '\n';
		spit(path_of("x.snap"), b, len + 1);
		ok(refused(path_of("x.snap"), 0,
			   "something was added at the end"),
		   "a byte added");
	}

	/* Fields edited and the CRC32s made to agree: the rules. */
	EDIT("an unknown device",
	     memset(sec_entry(x, 2 + 3) + OFF(snap_section_le, name), 0, 16);
	     memcpy(sec_entry(x, 2 + 3) + OFF(snap_section_le, name), "vga", 3),
	     "unknown device 'vga' (section 5): this build restores uart, "
	     "rtc, pm, ioapic, pic, debugexit");
	EDIT("an unknown section type",
	     wire_put16(sec_entry(x, 0) + OFF(snap_section_le, type), 9),
	     "manifest: section 0: unknown type 9");
	EDIT("a section past the end",
	     wire_put64(sec_entry(x, 1) + OFF(snap_section_le, offset),
			len + 100),
	     "manifest: vcpu 1: bytes");
	EDIT("a length past the end",
	     wire_put64(sec_entry(x, 9) + OFF(snap_section_le, stored_bytes),
			UINT64_MAX - 5),
	     "manifest: memory of node 1:");
	EDIT("an offset that wraps around",
	     wire_put64(sec_entry(x, 3) + OFF(snap_section_le, offset),
			UINT64_MAX - 2),
	     "lie outside the data");
	e = b + in->sec[9].index_off;
	EDIT("a chunk past its section",
	     wire_put64(x + (e - b) + OFF(snap_chunk_le, offset), len * 2),
	     "chunk 3 (guest RAM 0x23000-0x32fff, node 1): bytes");
	EDIT("a zero-page bit past a partial chunk",
	     x[(e - b) + 2 * SNAP_CHUNK_SIZE + OFF(snap_chunk_le, zero_map) +
	       2] |= 0x10,
	     "chunk 5 (guest RAM 0x43000-0x45fff, node 1): the zero-page map "
	     "marks page 20 of 3");
	EDIT("a page marked zero that has bytes",
	     x[(e - b) + OFF(snap_chunk_le, zero_map)] ^= 0x02,
	     "raw bytes for");
	EDIT("two sections on the same bytes",
	     wire_put64(sec_entry(x, 3) + OFF(snap_section_le, offset),
			in->sec[2].offset),
	     "overlap");
	EDIT("a vCPU past the VM's",
	     wire_put32(sec_entry(x, 1) + OFF(snap_section_le, id), 5000),
	     "manifest: section 1: vcpu 5000 of a VM of 2");
	EDIT("a vCPU twice",
	     wire_put32(sec_entry(x, 1) + OFF(snap_section_le, id), 0),
	     "manifest: section 1: vcpu 0 twice");
	EDIT("a placement with a gap",
	     wire_put64(x + SNAP_HDR_SIZE + SNAP_MANIFEST_SIZE +
				SNAP_NODE_SIZE + OFF(snap_node_le, page_first),
			36),
	     "manifest: placement: node 1: pages 36+35, expected from 35");
	EDIT("chunks of 257 pages",
	     wire_put32(x + SNAP_HDR_SIZE + OFF(snap_manifest_le, chunk_pages),
			257),
	     "manifest: 257 pages a chunk, not 1..256");
	EDIT("reserved bytes set",
	     x[SNAP_HDR_SIZE + OFF(snap_manifest_le, reserved) + 3] = 1,
	     "manifest: reserved bytes not zero");
	EDIT("memory sections that overlap",
	     wire_put64(sec_entry(x, 9) + OFF(snap_section_le, ram_off),
			0x22000),
	     "manifest: guest RAM 0x22000 is in two memory sections");
	EDIT("unknown header flags", wire_put32(x + OFF(snap_hdr_le, flags), 6),
	     "header: unknown flags 0x6");
	EDIT("more vCPUs than there are states",
	     wire_put32(x + SNAP_HDR_SIZE + OFF(snap_manifest_le, vcpus), 3);
	     wire_put32(x + SNAP_HDR_SIZE + SNAP_MANIFEST_SIZE +
				SNAP_NODE_SIZE + OFF(snap_node_le, vcpu_count),
			2),
	     "manifest: no state for vcpu 2");

	/* A chunk forged whole (both its CRC32s made to agree): only the
	 * whole-file CRC32 is left to catch it.  At level 0 a chunk is
	 * stored as it is. */
	snap_close(s);
	free(b);
	vm_save(&m, path_of("l0.snap"),
		&(struct snap_write_opts){ 0, 16, 0, NULL, 0 });
	b = slurp(path_of("l0.snap"), &len);
	s = snap_open(path_of("l0.snap"), why, sizeof(why));
	in = s ? snap_info(s) : NULL;
	if (in) {
		uint8_t *ix = b + in->sec[8].index_off; /* chunk 0 */
		uint32_t st = wire_get32(ix + OFF(snap_chunk_le, stored));

		off = wire_get64(ix + OFF(snap_chunk_le, offset));
		b[off + 10] ^= 0xff; /* page 1, the first not zero */
		wire_put32(ix + OFF(snap_chunk_le, crc), crc(b + off, st));
		wire_put32(ix + OFF(snap_chunk_le, raw_crc), crc(b + off, st));
		reseal(b, len, 0);
		spit(path_of("x.snap"), b, len);
		snap_close(s);
		s = snap_open(path_of("x.snap"), why, sizeof(why));
		ok(s && snap_read_page(s, PG, page, why, sizeof(why)) == 0 &&
			   (page[10] ^ m.ram[PG + 10]) == 0xff,
		   "a forged chunk reads (its CRC32s agree)");
		ok(refused(path_of("x.snap"), 1, "file: bad CRC32 0x"),
		   "verify catches it with the whole-file CRC32");
	}
	snap_close(s);
	free(b);
	vm_free(&m);
}

static void
test_unknown_device_written(void)
{
	const char *const devs[] = { "uart", "virtio-gpu" };
	struct vm m;

	/* The writer takes any well-formed name; the reader judges. */
	vm_make(&m, "dev", 1, 1, 4, devs, 2);
	ok(vm_save(&m, path_of("u.snap"), NULL) == 0, "write with virtio-gpu");
	ok(refused(path_of("u.snap"), 0,
		   "unknown device 'virtio-gpu' (section 2): this build "
		   "restores"),
	   "a device this build does not know");
	vm_free(&m);
}

static int
failing_mem(void *arg, uint64_t off, void *buf, size_t len)
{
	(void)arg;
	if (off >= 32 * PG)
		return -EIO;
	memset(buf, 0x5a, len);
	return 0;
}

static void
test_writer_failures(void)
{
	struct snap_writer *w;
	struct rlimit old, small;
	struct vm m;
	uint8_t *before, *after;
	size_t blen, alen;
	char tmp[300];
	int fd;

	dir_clear();
	vm_make(&m, "wf", 2, 1, 64, NULL, 0);

	/* The memory source fails: nothing is left. */
	w = snap_writer_open(path_of("f.snap"), &m.v, &opts16, why,
			     sizeof(why));
	snap_write_vcpu(w, 0, "a", 1, why, sizeof(why));
	snap_write_vcpu(w, 1, "b", 1, why, sizeof(why));
	ok(snap_write_memory(w, 0, failing_mem, NULL, why, sizeof(why)) < 0 &&
		   errno == EIO &&
		   strstr(why, "guest RAM 0x20000-0x2ffff: Input/output error"),
	   "a failing memory source: EIO, named: %s", why);
	ok(snap_write_vcpu(w, 1, "b", 1, why, sizeof(why)) < 0 &&
		   strstr(why, "an earlier step failed: guest RAM"),
	   "the writer stays failed: %s", why);
	ok(snap_writer_finish(w, why, sizeof(why)) < 0, "finish fails");
	is_int(dir_count(), 0, "no file and no temporary file left");

	/* A section missing at finish. */
	w = snap_writer_open(path_of("f.snap"), &m.v, &opts16, why,
			     sizeof(why));
	snap_write_vcpu(w, 0, "a", 1, why, sizeof(why));
	snap_write_memory(w, 0, snap_mem_buffer, m.ram, why, sizeof(why));
	ok(snap_writer_finish(w, why, sizeof(why)) < 0 && errno == EINVAL &&
		   strcmp(why, "the state of vCPU 1 was not given") == 0,
	   "finish without vCPU 1: %s", why);
	is_int(dir_count(), 0, "no file left");

	/* The disk fills up (a file size limit): an older file stays. */
	ok(vm_save(&m, path_of("f.snap"), &opts16) == 0, "an older snapshot");
	before = slurp(path_of("f.snap"), &blen);
	getrlimit(RLIMIT_FSIZE, &old);
	small = old;
	small.rlim_cur = 100000;
	signal(SIGXFSZ, SIG_IGN);
	setrlimit(RLIMIT_FSIZE, &small);
	m.v.mem_bytes = 64 * PG;
	memset(m.ram, 0, 64 * PG);
	{
		uint64_t i;

		for (i = 0; i < 64 * PG / 8; i++) /* incompressible */
			((uint64_t *)(void *)m.ram)[i] = mix64(i);
	}
	ok(vm_save(&m, path_of("f.snap"), &opts16) < 0 && errno == EFBIG,
	   "a write past the limit fails: %s", why);
	setrlimit(RLIMIT_FSIZE, &old);
	signal(SIGXFSZ, SIG_DFL);
	after = slurp(path_of("f.snap"), &alen);
	ok(alen == blen && memcmp(before, after, blen) == 0,
	   "the older file is untouched");
	is_int(dir_count(), 1, "and no temporary file is left");
	free(before);
	free(after);

	/* Someone else's temporary name: O_EXCL refuses it. */
	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path_of("g.snap"),
		 (int)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT, 0600);
	close(fd);
	w = snap_writer_open(path_of("g.snap"), &m.v, NULL, why, sizeof(why));
	ok(!w && errno == EEXIST, "a temporary name that exists: %s", why);
	unlink(tmp);

	/* Bad descriptions are refused before any file is made. */
	m.v.nodes = 2; /* the placement is for one */
	w = snap_writer_open(path_of("h.snap"), &m.v, NULL, why, sizeof(why));
	ok(!w && errno == EINVAL, "a placement that does not add up: %s", why);
	m.v.nodes = 1;
	m.v.name = "-bad";
	w = snap_writer_open(path_of("h.snap"), &m.v, NULL, why, sizeof(why));
	ok(!w && errno == EINVAL, "a bad VM name: %s", why);
	m.v.name = "wf";
	ok(snap_writer_open(path_of("h.snap"), &m.v,
			    &(struct snap_write_opts){ -1, 300, 0, NULL, 0 },
			    why, sizeof(why)) == NULL &&
		   errno == EINVAL,
	   "300 pages a chunk: %s", why);
	ok(access(path_of("h.snap"), F_OK) < 0, "and no file made");
	dir_clear();
	vm_free(&m);
}

/* A file of len bytes at path, its mtime set to sec.ns. */
static void
image_make(const char *path, off_t len, time_t sec, long ns)
{
	struct timespec t[2] = { { sec, ns }, { sec, ns } };
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd < 0 || ftruncate(fd, len) < 0 || futimens(fd, t) < 0)
		abort();
	close(fd);
}

/* The first section of type disk of info in, or -1. */
static int
first_disk_section(const struct snap_info *in)
{
	uint32_t i;

	for (i = 0; i < in->nsec; i++)
		if (in->sec[i].type == SNAP_SEC_DISK)
			return (int)i;
	return -1;
}

static void
test_disks(void)
{
	const char *const devs[] = { "uart", "virtio-blk0", "virtio-blk3",
				     "virtio-net0" };
	struct snap_disk d[SNAP_DISKS_MAX + 1], *r;
	const struct snap_info *in;
	struct snap_verified v;
	struct snap *s;
	struct vm m;
	uint8_t *b, *e;
	size_t len;
	uint64_t at;
	char long_path[SNAP_DISK_PATH_MAX + 2];
	int k, fd;
	uint32_t i;

	dir_clear();
	image_make(path_of("a.img"), 1 << 20, 1796607540, 0);
	image_make(path_of("b.img"), 4096, -86400, 999999999);
	/* Declared out of order: the reader gives them by index. */
	fd = open(path_of("b.img"), O_RDONLY);
	ok(snap_disk_init(&d[0], 3, path_of("b.img"), fd, 1, why,
			  sizeof(why)) == 0,
	   "disk 3 from its descriptor: %s", why);
	close(fd);
	ok(snap_disk_init(&d[1], 0, path_of("a.img"), -1, 0, why,
			  sizeof(why)) == 0,
	   "disk 0 from its path: %s", why);
	is_int(d[1].size_bytes, 1 << 20, "its size");
	is_int(d[1].mtime_s, 1796607540, "its mtime");
	is_int(d[0].mtime_s, -86400, "an mtime before 1970");
	is_int(d[0].mtime_ns, 999999999, "and its nanoseconds");

	vm_make(&m, "dsk", 2, 1, 40, devs, 4);
	m.v.disks = d;
	m.v.ndisks = 2;
	ok(vm_save(&m, path_of("d.snap"), &opts16) == 0, "write: %s", why);
	ok(vm_same(&m, path_of("d.snap")), "every page and state reads back");
	s = snap_open(path_of("d.snap"), why, sizeof(why));
	ok(s != NULL, "open: %s", s ? "" : why);
	if (!s)
		return;
	in = snap_info(s);
	is_int(in->version, 2, "a file with disks is version 2");
	is_int(in->ndisks, 2, "two disks");
	if (in->ndisks != 2) {
		snap_close(s);
		vm_free(&m);
		return;
	}
	r = &in->disks[0];
	ok(r->index == 0 && strcmp(r->path, path_of("a.img")) == 0 &&
		   r->size_bytes == 1 << 20 && r->mtime_s == 1796607540 &&
		   r->mtime_ns == 0 && !r->readonly,
	   "disk 0 reads back: %s, %" PRIu64 " bytes", r->path, r->size_bytes);
	r = &in->disks[1];
	ok(r->index == 3 && strcmp(r->path, path_of("b.img")) == 0 &&
		   r->size_bytes == 4096 && r->mtime_s == -86400 &&
		   r->mtime_ns == 999999999 && r->readonly,
	   "disk 3 reads back, read-only, from before 1970");
	{
		char t[64];

		is_str(snap_disk_mtime(r, t, sizeof(t)),
		       "1969-12-31 00:00:00.999999999 UTC",
		       "its mtime in words");
	}
	is_int(in->nsec, 2 + 4 + 1 + 2, "a section per disk");
	k = first_disk_section(in);
	ok(k == 7 && in->sec[k].id == 3 &&
		   in->sec[k].raw_bytes ==
			   SNAP_DISK_SIZE + strlen(path_of("b.img")) &&
		   in->sec[k].stored_bytes == in->sec[k].raw_bytes &&
		   in->sec[k].flags == 0,
	   "the disk sections come last, as declared, stored as is");
	ok(snap_verify(s, &v, NULL, NULL, why, sizeof(why)) == 0 &&
		   v.sections == 9,
	   "verify reads the disk records too: %s", why);
	for (i = 0; i < in->ndisks; i++)
		ok(snap_disk_check(&in->disks[i], why, sizeof(why)) == 0,
		   "disk %" PRIu32 " unchanged", in->disks[i].index);
	snap_close(s);

	/* The writer refuses what the reader would. */
	memcpy(&d[2], &d[1], sizeof(d[1]));
	m.v.ndisks = 3;
	ok(!snap_writer_open(path_of("w.snap"), &m.v, NULL, why, sizeof(why)) &&
		   errno == EINVAL && strcmp(why, "disk 0 twice") == 0,
	   "a disk twice: %s", why);
	d[2].index = 8;
	ok(!snap_writer_open(path_of("w.snap"), &m.v, NULL, why, sizeof(why)) &&
		   errno == EINVAL && strcmp(why, "disk 8: not in 0..7") == 0,
	   "disk 8: %s", why);
	d[2].index = 1;
	snprintf(d[2].path, sizeof(d[2].path), "rel.img");
	ok(!snap_writer_open(path_of("w.snap"), &m.v, NULL, why, sizeof(why)) &&
		   errno == EINVAL &&
		   strcmp(why, "disk 1: the path is not absolute") == 0,
	   "a relative path: %s", why);
	snprintf(d[2].path, sizeof(d[2].path), "/a\nb.img");
	ok(!snap_writer_open(path_of("w.snap"), &m.v, NULL, why, sizeof(why)) &&
		   errno == EINVAL &&
		   strcmp(why, "disk 1: the path holds a control character") ==
			   0,
	   "a newline in a path: %s", why);
	m.v.ndisks = SNAP_DISKS_MAX + 1;
	ok(!snap_writer_open(path_of("w.snap"), &m.v, NULL, why, sizeof(why)) &&
		   errno == EINVAL && strcmp(why, "9 disks: at most 8") == 0,
	   "9 disks: %s", why);
	m.v.ndisks = 2;
	is_int(dir_count(), 3, "and no file made");

	/* snap_disk_init's refusals. */
	memset(long_path, 'a', sizeof(long_path) - 1);
	long_path[0] = '/';
	long_path[sizeof(long_path) - 1] = '\0';
	ok(snap_disk_init(&d[2], 0, long_path, -1, 0, why, sizeof(why)) < 0 &&
		   errno == ENAMETOOLONG &&
		   strcmp(why, "disk 0: a path of 4096 bytes, at most 4095") ==
			   0,
	   "a path of 4096 bytes: %s", why);
	ok(snap_disk_init(&d[2], 0, dir, -1, 0, why, sizeof(why)) < 0 &&
		   errno == EINVAL && strstr(why, "': not a regular file"),
	   "a folder: %s", why);
	ok(snap_disk_init(&d[2], 0, path_of("none.img"), -1, 0, why,
			  sizeof(why)) < 0 &&
		   errno == ENOENT,
	   "a missing image: %s", why);
	ok(snap_disk_init(&d[2], 8, path_of("a.img"), -1, 0, why, sizeof(why)) <
			   0 &&
		   errno == EINVAL,
	   "index 8: %s", why);

	/* Hostile records, their CRC32s made to agree. */
	b = slurp(path_of("d.snap"), &len);
	s = snap_open(path_of("d.snap"), why, sizeof(why));
	in = snap_info(s);
	k = first_disk_section(in); /* disk 3, b.img */
	at = in->sec[k].offset;
	e = b + at;
	EDIT("a NUL in a path", x[at + SNAP_DISK_SIZE + 3] = 0,
	     "disk 3: the path holds a NUL byte");
	EDIT("a control character in a path", x[at + SNAP_DISK_SIZE + 3] = 27,
	     "disk 3: the path holds a control character");
	EDIT("a relative path", x[at + SNAP_DISK_SIZE] = 't',
	     "disk 3: the path is not absolute");
	EDIT("reserved bytes of a disk",
	     x[at + OFF(snap_disk_le, reserved) + 7] = 1,
	     "disk 3: reserved bytes not zero");
	EDIT("unknown disk flags", x[at + OFF(snap_disk_le, flags)] |= 4,
	     "disk 3: unknown flags 0x4");
	EDIT("a second of 10^9 ns",
	     wire_put32(x + at + OFF(snap_disk_le, mtime_ns), 1000000000),
	     "disk 3: a modification time with 1000000000 ns, at most "
	     "999999999");
	EDIT("a size past off_t's",
	     wire_put64(x + at + OFF(snap_disk_le, size_bytes), 1ull << 63),
	     "disk 3: 9223372036854775808 bytes, more than a file can "
	     "hold");
	EDIT("a record longer than a path can be",
	     wire_put64(sec_entry(x, k) + OFF(snap_section_le, raw_bytes),
			SNAP_DISK_SIZE + SNAP_DISK_PATH_MAX + 1);
	     wire_put64(sec_entry(x, k) + OFF(snap_section_le, stored_bytes),
			SNAP_DISK_SIZE + SNAP_DISK_PATH_MAX + 1),
	     "manifest: disk 3: a record of 4128 bytes: a path of 1 to 4095 "
	     "bytes takes 33 to 4127");
	EDIT("a record without a path",
	     wire_put64(sec_entry(x, k) + OFF(snap_section_le, raw_bytes),
			SNAP_DISK_SIZE);
	     wire_put64(sec_entry(x, k) + OFF(snap_section_le, stored_bytes),
			SNAP_DISK_SIZE),
	     "manifest: disk 3: a record of 32 bytes");
	EDIT("disk 8",
	     wire_put32(sec_entry(x, k) + OFF(snap_section_le, id), 8),
	     "manifest: section 7: disk 8, not in 0..7");
	EDIT("a disk twice",
	     wire_put32(sec_entry(x, k) + OFF(snap_section_le, id), 0),
	     "manifest: disk 0 twice");
	EDIT("a disk with a name",
	     memcpy(sec_entry(x, k) + OFF(snap_section_le, name), "sda", 3),
	     "manifest: section 7: a disk with a name");
	EDIT("a deflated disk record",
	     wire_put16(sec_entry(x, k) + OFF(snap_section_le, flags), 1),
	     "manifest: disk 3: flags 0x1 (a disk record is stored as is)");
	EDIT("a disk in a part",
	     wire_put32(sec_entry(x, k) + OFF(snap_section_le, part), 1),
	     "manifest: disk 3: memory fields set");
	(void)e;
	/* A flipped record byte, not resealed: caught at open. */
	b[at + SNAP_DISK_SIZE + 2] ^= 1;
	spit(path_of("x.snap"), b, len);
	b[at + SNAP_DISK_SIZE + 2] ^= 1;
	ok(refused(path_of("x.snap"), 0, "disk 3: bad CRC32 0x"),
	   "a flipped path byte: bad CRC32 at open");
	snap_close(s);
	free(b);

	/* Nine disks: eight written, and vCPU 0's state made a ninth. */
	for (i = 0; i < SNAP_DISKS_MAX; i++) {
		char name[32];

		snprintf(name, sizeof(name), "%" PRIu32 ".img", i);
		image_make(path_of(name), 512, 1796607540, 0);
		snap_disk_init(&d[i], i, path_of(name), -1, 0, why,
			       sizeof(why));
	}
	m.v.ndisks = SNAP_DISKS_MAX;
	why[0] = '\0';
	ok(vm_save(&m, path_of("n.snap"),
		   &(struct snap_write_opts){ 0, 16, 0, NULL, 0 }) == 0,
	   "eight disks: %s", why);
	b = slurp(path_of("n.snap"), &len);
	EDIT("nine disks",
	     wire_put16(sec_entry(x, 0) + OFF(snap_section_le, type),
			SNAP_SEC_DISK);
	     wire_put32(sec_entry(x, 0) + OFF(snap_section_le, id), 7),
	     "manifest: more than 8 disks");
	free(b);
	vm_free(&m);
	dir_clear();
}

/* A version 1 file: read as version 1 was, with its types and names. */
static void
test_version1(void)
{
	const char *const v1devs[] = { "uart", "pic" };
	const char *const v2devs[] = { "uart", "virtio-net0" };
	struct snap_disk d;
	struct snap *s;
	struct vm m;
	uint8_t *b;
	size_t len;

	vm_make(&m, "old", 1, 1, 20, v1devs, 2);
	vm_save(&m, path_of("v.snap"), &opts16);
	b = slurp(path_of("v.snap"), &len);
	wire_put32(b + OFF(snap_hdr_le, version), 1);
	reseal(b, len, 1);
	spit(path_of("v1.snap"), b, len);
	s = snap_open(path_of("v1.snap"), why, sizeof(why));
	ok(s && snap_info(s)->version == 1 && snap_info(s)->ndisks == 0,
	   "a version 1 file reads: %s", s ? "" : why);
	snap_close(s);
	free(b);
	ok(vm_same(&m, path_of("v1.snap")), "every page and state of it");
	vm_free(&m);

	vm_make(&m, "old", 1, 1, 20, v2devs, 2);
	vm_save(&m, path_of("v.snap"), &opts16);
	b = slurp(path_of("v.snap"), &len);
	EDIT("an instance name in a version 1 file",
	     wire_put32(x + OFF(snap_hdr_le, version), 1),
	     "unknown device 'virtio-net0' (section 2): a version 1 file "
	     "names uart, rtc, pm, ioapic, pic, debugexit");
	free(b);
	vm_free(&m);

	vm_make(&m, "old", 1, 1, 20, v1devs, 2);
	image_make(path_of("v.img"), 512, 1796607540, 0);
	snap_disk_init(&d, 2, path_of("v.img"), -1, 0, why, sizeof(why));
	m.v.disks = &d;
	m.v.ndisks = 1;
	vm_save(&m, path_of("v.snap"), &opts16);
	b = slurp(path_of("v.snap"), &len);
	EDIT("a disk in a version 1 file",
	     wire_put32(x + OFF(snap_hdr_le, version), 1),
	     "manifest: section 4: a disk in a version 1 file");
	free(b);
	vm_free(&m);
	dir_clear();
}

/* Sets path's mtime to sec.ns. */
static void
touch(const char *path, time_t sec, long ns)
{
	struct timespec t[2] = { { sec, ns }, { sec, ns } };

	if (utimensat(AT_FDCWD, path, t, 0) < 0)
		abort();
}

static void
test_disk_check(void)
{
	struct snap_disk d;
	char want[600];
	const char *p = path_of("c.img");

	image_make(p, 1 << 20, 1796607540, 0);
	snap_disk_init(&d, 0, p, -1, 0, why, sizeof(why));
	ok(snap_disk_check(&d, why, sizeof(why)) == 0, "unchanged: 0");

	touch(p, 1796607602, 123456789);
	snprintf(want, sizeof(want),
		 "disk 0 '%s': modified since the snapshot: 2026-12-07 "
		 "01:40:02.123456789 UTC now, 2026-12-07 01:39:00.000000000 "
		 "UTC when saved",
		 p);
	ok(snap_disk_check(&d, why, sizeof(why)) == 1 && strcmp(why, want) == 0,
	   "a new mtime: %s", why);
	touch(p, 1796607540, 1);
	ok(snap_disk_check(&d, why, sizeof(why)) == 1 &&
		   strstr(why, "01:39:00.000000001 UTC now"),
	   "one nanosecond later is a change");
	touch(p, 1796607540, 0);
	ok(snap_disk_check(&d, why, sizeof(why)) == 0,
	   "the mtime put back: unchanged");

	if (truncate(p, 2 << 20) < 0)
		abort();
	touch(p, 1796607540, 0);
	snprintf(want, sizeof(want),
		 "disk 0 '%s': 2097152 bytes now, 1048576 when saved", p);
	ok(snap_disk_check(&d, why, sizeof(why)) == 1 && strcmp(why, want) == 0,
	   "another size, the same mtime: %s", why);

	unlink(p);
	snprintf(want, sizeof(want), "disk 0 '%s': No such file or directory",
		 p);
	ok(snap_disk_check(&d, why, sizeof(why)) == -1 && errno == ENOENT &&
		   strcmp(why, want) == 0,
	   "removed: -1, ENOENT: %s", why);

	if (mkdir(p, 0700) < 0)
		abort();
	snprintf(want, sizeof(want), "disk 0 '%s': not a regular file now", p);
	ok(snap_disk_check(&d, why, sizeof(why)) == 1 && strcmp(why, want) == 0,
	   "replaced by a folder: %s", why);
	rmdir(p);

	/* A link to the image is followed, as opening the path would. */
	image_make(path_of("t.img"), 1 << 20, 1796607540, 0);
	if (symlink(path_of("t.img"), p) < 0)
		abort();
	ok(snap_disk_check(&d, why, sizeof(why)) == 0,
	   "a link to an image like it: unchanged");
	dir_clear();
}

static void
test_names(void)
{
	static const uint8_t pid[16] = { 0x0a, 0xff, 0x12, 0x00, 0x77 };
	char p[256];

	static const char *const yes[] = {
		"virtio-blk0",
		"virtio-blk7",
		"virtio-net0",
		"virtio-net7",
	};
	static const char *const no[] = {
		"virtio-blk",	"virtio-blk8",	"virtio-blkx",
		"virtio-blk00", "virtio-blk01", "virtio-blk-1",
		"virtio-net8",	"virtio-net10", "virtio-gpu0",
		"uart0",	"virtio-blk0x", "virtio-blk4294967296",
	};
	size_t i;

	ok(snap_device_known("uart") && snap_device_known("debugexit") &&
		   !snap_device_known("virtio-gpu") && !snap_device_known(""),
	   "the known devices");
	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
		ok(snap_device_known(yes[i]), "instance name '%s'", yes[i]);
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++)
		ok(!snap_device_known(no[i]), "not a device: '%s'", no[i]);
	ok(snap_device_instance("virtio-blk", 3, p, sizeof(p)) == 0 &&
		   strcmp(p, "virtio-blk3") == 0,
	   "instance 3 of virtio-blk: %s", p);
	ok(snap_device_instance("virtio-net", 7, p, sizeof(p)) == 0 &&
		   strcmp(p, "virtio-net7") == 0,
	   "instance 7 of virtio-net: %s", p);
	ok(snap_device_instance("virtio-net", 8, p, sizeof(p)) < 0 &&
		   errno == EINVAL,
	   "no instance 8");
	ok(snap_device_instance("uart", 0, p, sizeof(p)) < 0 && errno == EINVAL,
	   "the uart comes once");
	ok(snap_device_instance("virtio-blk", 1, p, 11) < 0 &&
		   errno == ENAMETOOLONG,
	   "a buffer too small");
	is_str(snap_device_names(p, sizeof(p)),
	       "uart, rtc, pm, ioapic, pic, debugexit, virtio-blk0 to "
	       "virtio-blk7, virtio-net0 to virtio-net7",
	       "named in messages");
	is_str(snap_type_name(SNAP_SEC_MEMORY), "memory", "type names");
	is_str(snap_type_name(SNAP_SEC_DISK), "disk", "type names: disk");
	ok(snap_part_path("/a/b/vm.snap", pid, 3, p, sizeof(p)) == 0 &&
		   strcmp(p, "/a/b/vm.snap.0aff1200.node3") == 0,
	   "part path: %s", p);
	ok(snap_part_path("/a/01234567890123456789012345678901.snap", pid, 3, p,
			  sizeof(p)) < 0 &&
		   errno == ENAMETOOLONG,
	   "a part name over 47 bytes");
	ok(SNAP_VERSION >= SNAP_VERSION_MIN && SNAP_VERSION <= SNAP_VERSION_MAX,
	   "this build reads what it writes");
}

int
main(void)
{
	if (!mkdtemp(dir)) {
		printf("Bail out! mkdtemp: %s\n", strerror(errno));
		return 1;
	}
	test_names();
	test_round_trip();
	test_zero_pages();
	test_random_access();
	test_parts();
	test_replace_parts();
	test_every_byte();
	test_damage();
	test_unknown_device_written();
	test_writer_failures();
	test_disks();
	test_version1();
	test_disk_check();
	dir_clear();
	rmdir(dir);
	return done_testing();
}
