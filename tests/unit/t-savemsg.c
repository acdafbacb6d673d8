/*
 * Unit tests of lib/savemsg.c, the payloads of saving a snapshot
 * (PG_SAVE, PG_SAVE_PART, PG_SAVE_PART_DONE, PG_SAVE_DONE).  The test
 * writes the layouts of man/avm-wire.7 itself, at literal offsets, so
 * the encoders' bytes are checked against the page and not against the
 * codec; every message round-trips value for value; every length outside
 * a type's range is -EMSGSIZE; every rule the decoders check is broken
 * once, in the bytes (-EBADMSG) and in the struct the encoder gets
 * (-EINVAL).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "avm/savemsg.h"
#include "tap.h"

#define PATH "/var/lib/avm/vm1.snap"
#define NODES 3

static uint8_t buf[WIRE_PG_SAVE_DONE_MAX + WIRE_PG_SAVE_MAX + 256];
static uint8_t raw[WIRE_PG_SAVE_DONE_MAX + WIRE_PG_SAVE_MAX + 256];

/* --- the layouts of avm-wire(7), written here at literal offsets ----- */

static void
put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> 8 * i);
}

static void
put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

/* PG_SAVE and PG_SAVE_PART: 32 bytes, then n bytes of path. */
static size_t
put_req(uint8_t *p, const struct savemsg_req *m, const char *path, size_t n)
{
	memcpy(p, m->snap_id, 16);
	put32(p + 16, (uint32_t)m->level);
	put32(p + 20, m->chunk_pages);
	put32(p + 24, m->nodes);
	put32(p + 28, 0);
	memcpy(p + 32, path, n);
	return 32 + n;
}

/* One part, 128 bytes; the name as its 48 bytes are, NUL or not. */
static void
put_part(uint8_t *p, const struct savemsg_part *m)
{
	const struct snap_part_info *i = &m->info;

	put32(p + 0, i->node);
	put32(p + 4, i->chunks);
	memcpy(p + 8, i->name, 48);
	put64(p + 56, i->file_bytes);
	put64(p + 64, i->ram_off);
	put64(p + 72, i->ram_bytes);
	put64(p + 80, i->offset);
	put64(p + 88, i->stored_bytes);
	put64(p + 96, i->index_off);
	put32(p + 104, i->file_crc);
	put32(p + 108, i->index_crc);
	put64(p + 112, m->write_ns);
	put64(p + 120, m->fetched);
}

/* PG_SAVE_DONE: a 16-byte head with nodes_field, then count parts. */
static size_t
put_done(uint8_t *p, uint32_t nodes_field, uint64_t save_ns,
	 const struct savemsg_part *parts, uint32_t count)
{
	put32(p, nodes_field);
	put32(p + 4, 0);
	put64(p + 8, save_ns);
	for (uint32_t i = 0; i < count; i++)
		put_part(p + 16 + 128 * i, &parts[i]);
	return 16 + 128 * (size_t)count;
}

/* --- good messages ------------------------------------------------------ */

static void
good_req(struct savemsg_req *m)
{
	memset(m, 0, sizeof(*m));
	for (int i = 0; i < 16; i++)
		m->snap_id[i] = (uint8_t)(0xa0 + i);
	m->level = -1;
	m->chunk_pages = 256;
	m->nodes = NODES;
	strcpy(m->path, PATH);
}

/*
 * Makes the file of a part exactly hold its memory: a 64-byte header,
 * the chunks (half the memory, say), the index of 64 bytes a chunk and
 * a 32-byte trailer.
 */
static void
fit(struct snap_part_info *i)
{
	uint64_t pages = i->ram_bytes / 4096;

	i->chunks = (uint32_t)((pages + 255) / 256);
	i->offset = 64;
	i->stored_bytes = i->ram_bytes / 2 + (uint64_t)i->chunks * 64;
	i->index_off = i->offset + i->stored_bytes - (uint64_t)i->chunks * 64;
	i->file_bytes = i->offset + i->stored_bytes + 32;
}

/* Node n's part, its memory at ram_off. */
static void
good_part(struct savemsg_part *m, uint32_t n, uint64_t ram_off,
	  uint64_t ram_bytes)
{
	struct snap_part_info *i = &m->info;

	memset(m, 0, sizeof(*m));
	i->node = n;
	snprintf(i->name, sizeof(i->name), "vm1.snap.a0a1a2a3.node%u", n);
	i->ram_off = ram_off;
	i->ram_bytes = ram_bytes;
	fit(i);
	i->file_crc = 0xc0ffee00u + n;
	i->index_crc = 0x1dc0de00u + n;
	m->write_ns = 0x0102030405060708ull + n;
	m->fetched = 0x1112131415161718ull + n;
}

/* Three nodes: 2 MiB (2 chunks), 2 MiB, 8 KiB (1 chunk). */
static void
good_parts(struct savemsg_part *p)
{
	good_part(&p[0], 0, 0, 2 << 20);
	good_part(&p[1], 1, 2 << 20, 2 << 20);
	good_part(&p[2], 2, 4 << 20, 8192);
}

static int
req_same(const struct savemsg_req *a, const struct savemsg_req *b)
{
	return memcmp(a->snap_id, b->snap_id, 16) == 0 &&
	       a->level == b->level && a->chunk_pages == b->chunk_pages &&
	       a->nodes == b->nodes && strcmp(a->path, b->path) == 0;
}

static int
part_same(const struct savemsg_part *a, const struct savemsg_part *b)
{
	const struct snap_part_info *x = &a->info, *y = &b->info;

	return x->node == y->node && x->chunks == y->chunks &&
	       strcmp(x->name, y->name) == 0 &&
	       x->file_bytes == y->file_bytes && x->ram_off == y->ram_off &&
	       x->ram_bytes == y->ram_bytes && x->offset == y->offset &&
	       x->stored_bytes == y->stored_bytes &&
	       x->index_off == y->index_off && x->file_crc == y->file_crc &&
	       x->index_crc == y->index_crc && a->write_ns == b->write_ns &&
	       a->fetched == b->fetched;
}

/* --- PG_SAVE, PG_SAVE_PART ------------------------------------------------ */

static void
test_req_round_trip(void)
{
	static const uint8_t level[3] = { 0, 9, 5 };
	static char longest[WIRE_PG_SAVE_PATH_MAX + 1];
	struct savemsg_req m, d;
	size_t n;
	int rc;

	good_req(&m);
	n = put_req(raw, &m, PATH, strlen(PATH));
	rc = savemsg_req_encode(&m, buf, sizeof(buf));
	is_int(rc, 32 + strlen(PATH), "SAVE: 32 bytes and the path's");
	ok(rc > 0 && memcmp(buf, raw, n) == 0,
	   "SAVE: snap_id at 0, level at 16, chunk_pages at 20, nodes at "
	   "24, reserved zero at 28, the path from 32 without a NUL");
	ok(buf[16] == 0xff && buf[17] == 0xff && buf[18] == 0xff &&
		   buf[19] == 0xff,
	   "SAVE: level -1 (zlib's default) is 0xffffffff");
	ok(savemsg_req_decode(buf, n, &d) == 0 && req_same(&m, &d),
	   "SAVE round-trips");
	is_int(d.level, -1, "SAVE: 0xffffffff decodes as level -1");

	for (int k = 0; k < 3; k++) {
		m.level = level[k];
		m.chunk_pages = 1u + k;
		m.nodes = k == 2 ? PAGER_MAX_NODES : 1;
		rc = savemsg_req_encode(&m, buf, sizeof(buf));
		ok(rc == (int)n && buf[16] == level[k] && buf[17] == 0 &&
			   savemsg_req_decode(buf, n, &d) == 0 &&
			   req_same(&m, &d),
		   "SAVE round-trips with level %d, chunk_pages %u, nodes %u",
		   m.level, m.chunk_pages, m.nodes);
	}

	strcpy(m.path, "/a");
	ok(savemsg_req_encode(&m, buf, sizeof(buf)) == WIRE_PG_SAVE_MIN &&
		   savemsg_req_decode(buf, WIRE_PG_SAVE_MIN, &d) == 0 &&
		   strcmp(d.path, "/a") == 0,
	   "SAVE: the shortest path, \"/a\", is 34 bytes and round-trips");
	strcpy(m.path, "/tmp/a b~!.snap");
	ok(savemsg_req_encode(&m, buf, sizeof(buf)) > 0 &&
		   savemsg_req_decode(buf, 32 + strlen(m.path), &d) == 0 &&
		   strcmp(d.path, m.path) == 0,
	   "SAVE: a path with a space and punctuation round-trips");

	memset(longest, 'x', WIRE_PG_SAVE_PATH_MAX);
	longest[0] = '/';
	strcpy(m.path, longest);
	rc = savemsg_req_encode(&m, buf, sizeof(buf));
	is_int(rc, WIRE_PG_SAVE_MAX, "SAVE: a 4095-byte path is the maximum");
	ok(savemsg_req_decode(buf, WIRE_PG_SAVE_MAX, &d) == 0 &&
		   strcmp(d.path, longest) == 0,
	   "SAVE: a 4095-byte path round-trips");
	is_int(savemsg_req_encode(&m, buf, WIRE_PG_SAVE_MAX - 1), -ENOSPC,
	       "SAVE: the encoder needs cap for the whole path (-ENOSPC)");
	memset(m.path, 'x', sizeof(m.path));
	m.path[0] = '/';
	is_int(savemsg_req_encode(&m, buf, sizeof(buf)), -EINVAL,
	       "SAVE: the encoder refuses a path field without a NUL");

	good_req(&m);
	is_int(savemsg_req_encode(&m, buf, 32 + strlen(PATH) - 1), -ENOSPC,
	       "SAVE: the encoder needs room for the path's last byte");
	is_int(savemsg_req_encode(&m, buf, 0), -ENOSPC,
	       "SAVE: the encoder with cap 0");
}

static void
test_req_lengths(void)
{
	struct savemsg_req m, d;
	int wrong = 0;
	size_t len;

	good_req(&m);
	savemsg_req_encode(&m, buf, sizeof(buf));
	for (len = 0; len < WIRE_PG_SAVE_MIN; len++)
		if (savemsg_req_decode(buf, len, &d) != -EMSGSIZE)
			wrong++;
	ok(wrong == 0, "SAVE: each length 0..33 is -EMSGSIZE (%d wrong)",
	   wrong);
	memset(buf + 32, 'x', sizeof(buf) - 32);
	is_int(savemsg_req_decode(buf, WIRE_PG_SAVE_MAX + 1, &d), -EMSGSIZE,
	       "SAVE: 4128 bytes (a 4096-byte path) is -EMSGSIZE");
	is_int(savemsg_req_decode(buf, WIRE_PG_SAVE_MAX + 4096, &d), -EMSGSIZE,
	       "SAVE: 8223 bytes is -EMSGSIZE");
	/* "/" alone: the encoder refuses it, the decoder has 33 bytes */
	strcpy(m.path, "/");
	is_int(savemsg_req_encode(&m, buf, sizeof(buf)), -EINVAL,
	       "SAVE: the encoder refuses the path \"/\"");
	m.path[0] = '\0';
	is_int(savemsg_req_encode(&m, buf, sizeof(buf)), -EINVAL,
	       "SAVE: the encoder refuses an empty path");
}

/*
 * Breaks rule k of PG_SAVE in m; returns what was broken, or NULL past
 * the last rule.
 */
static const char *
spoil_req(struct savemsg_req *m, int k)
{
	switch (k) {
	case 0:
		m->level = 10;
		return "level 10";
	case 1:
		m->level = -2;
		return "level -2";
	case 2:
		m->level = INT_MIN;
		return "level 0x80000000";
	case 3:
		m->chunk_pages = 0;
		return "chunk_pages 0";
	case 4:
		m->chunk_pages = 257;
		return "chunk_pages 257";
	case 5:
		m->nodes = 0;
		return "nodes 0";
	case 6:
		m->nodes = PAGER_MAX_NODES + 1;
		return "nodes 65";
	case 7:
		strcpy(m->path, "var/lib/avm/vm1.snap");
		return "a relative path";
	case 8:
		strcpy(m->path, "/var/lib/avm/");
		return "a path ending in '/'";
	case 9:
		strcpy(m->path, "//");
		return "the path \"//\"";
	case 10:
		strcpy(m->path, "/tmp/a\nb");
		return "a path with a newline";
	case 11:
		strcpy(m->path, "/tmp/a\tb");
		return "a path with a tab";
	case 12:
		strcpy(m->path, "/tmp/\x1f");
		return "a path with byte 0x1f";
	case 13:
		strcpy(m->path, "/tmp/a\x7f");
		return "a path with DEL";
	case 14:
		strcpy(m->path, "/tmp/caf\xc3\xa9");
		return "a path with UTF-8 (bytes over 0x7e)";
	}
	return NULL;
}

static void
test_req_rules(void)
{
	struct savemsg_req m, d;
	const char *what;
	size_t n;

	for (int k = 0;; k++) {
		good_req(&m);
		if (!(what = spoil_req(&m, k)))
			break;
		n = put_req(raw, &m, m.path, strlen(m.path));
		is_int(savemsg_req_decode(raw, n, &d), -EBADMSG,
		       "SAVE: the decoder refuses %s", what);
		is_int(savemsg_req_encode(&m, buf, sizeof(buf)), -EINVAL,
		       "SAVE: the encoder refuses %s", what);
	}

	good_req(&m);
	for (int i = 28; i < 32; i++) {
		n = put_req(raw, &m, PATH, strlen(PATH));
		raw[i] = 0x01;
		is_int(savemsg_req_decode(raw, n, &d), -EBADMSG,
		       "SAVE: reserved byte %d not zero is refused", i);
	}
	n = put_req(raw, &m, "/tmp/a\0b", 8);
	is_int(savemsg_req_decode(raw, n, &d), -EBADMSG,
	       "SAVE: a path with a NUL inside is refused");
	n = put_req(raw, &m, "/tmp/ab\0", 8);
	is_int(savemsg_req_decode(raw, n, &d), -EBADMSG,
	       "SAVE: a path with a NUL at its end is refused");

	/* a refused message leaves the output alone */
	memset(&d, 0x5a, sizeof(d));
	raw[28] = 1;
	savemsg_req_decode(raw, n, &d);
	ok(d.level == 0x5a5a5a5a && d.path[0] == 0x5a,
	   "SAVE: a refused message leaves the decoder's output alone");
}

/* --- one part ---------------------------------------------------------- */

static void
test_part_round_trip(void)
{
	struct savemsg_part m, d;
	int rc;

	good_part(&m, 5, 1 << 20, 2 << 20);
	put_part(raw, &m);
	rc = savemsg_part_encode(&m, buf, sizeof(buf));
	is_int(rc, 128, "SAVE_PART_DONE: 128 bytes");
	ok(rc > 0 && memcmp(buf, raw, 128) == 0,
	   "SAVE_PART_DONE: node at 0, chunks at 4, name at 8, file_bytes "
	   "at 56, ram_off 64, ram_bytes 72, offset 80, stored_bytes 88, "
	   "index_off 96, file_crc 104, index_crc 108, write_ns 112, "
	   "fetched 120");
	ok(memcmp(buf + 8, m.info.name, strlen(m.info.name)) == 0 &&
		   buf[8 + strlen(m.info.name)] == 0 && buf[55] == 0,
	   "SAVE_PART_DONE: the name at 8, NUL-padded to 56");
	ok(savemsg_part_decode(buf, 128, &d) == 0 && part_same(&m, &d),
	   "SAVE_PART_DONE round-trips");

	/* the name may hold anything after its NUL: sent padded */
	strcpy(m.info.name + strlen(m.info.name) + 1, "junk");
	rc = savemsg_part_encode(&m, buf, sizeof(buf));
	ok(rc == 128 && memcmp(buf, raw, 128) == 0,
	   "SAVE_PART_DONE: bytes after the name's NUL are sent as zeros");

	good_part(&m, 0, 0, 4096);
	strcpy(m.info.name, "x");
	ok(savemsg_part_encode(&m, buf, sizeof(buf)) == 128 &&
		   savemsg_part_decode(buf, 128, &d) == 0 && part_same(&m, &d),
	   "SAVE_PART_DONE: one page, one chunk, a 1-byte name");
	memset(m.info.name, 'n', 47);
	m.info.name[47] = '\0';
	ok(savemsg_part_encode(&m, buf, sizeof(buf)) == 128 && buf[54] == 'n' &&
		   buf[55] == 0 && savemsg_part_decode(buf, 128, &d) == 0 &&
		   part_same(&m, &d),
	   "SAVE_PART_DONE: a 47-byte name round-trips");
	good_part(&m, PAGER_MAX_NODES - 1, SNAP_MEM_MAX - (1 << 20), 1 << 20);
	ok(savemsg_part_encode(&m, buf, sizeof(buf)) == 128 &&
		   savemsg_part_decode(buf, 128, &d) == 0 && part_same(&m, &d),
	   "SAVE_PART_DONE: node 63, memory ending at 64 TiB");
	m.info.chunks = 256;
	m.info.index_off = m.info.offset;
	m.info.stored_bytes = 256 * 64;
	m.info.file_bytes = 64 + 256 * 64 + 32;
	ok(savemsg_part_encode(&m, buf, sizeof(buf)) == 128 &&
		   savemsg_part_decode(buf, 128, &d) == 0 && part_same(&m, &d),
	   "SAVE_PART_DONE: one chunk a page");
	is_int(savemsg_part_encode(&m, buf, 127), -ENOSPC,
	       "SAVE_PART_DONE: the encoder needs 128 bytes (-ENOSPC)");
}

static void
test_part_lengths(void)
{
	struct savemsg_part m, d;
	int wrong = 0;

	good_part(&m, 1, 0, 1 << 20);
	savemsg_part_encode(&m, buf, sizeof(buf));
	for (size_t len = 0; len <= 1024; len++)
		if (len != 128 &&
		    savemsg_part_decode(buf, len, &d) != -EMSGSIZE)
			wrong++;
	ok(wrong == 0,
	   "SAVE_PART_DONE: each length 0..1024 but 128 is -EMSGSIZE "
	   "(%d wrong)",
	   wrong);
}

/* A name as the encoder would send it: zeros after the NUL. */
static void
set_name(struct snap_part_info *i, const char *name)
{
	memset(i->name, 0, sizeof(i->name));
	strcpy(i->name, name);
}

/*
 * Breaks rule k of a part in m (a good part of 2 MiB, 2 chunks); returns
 * what was broken, or NULL past the last rule.
 */
static const char *
spoil_part(struct savemsg_part *m, int k)
{
	struct snap_part_info *i = &m->info;

	switch (k) {
	case 0:
		i->node = PAGER_MAX_NODES;
		return "node 64";
	case 1:
		i->node = UINT32_MAX;
		return "node 0xffffffff";
	case 2:
		memset(i->name, 0, sizeof(i->name));
		return "an empty name";
	case 3:
		set_name(i, "parts/vm1.node1");
		return "a name with '/'";
	case 4:
		set_name(i, "/");
		return "the name \"/\"";
	case 5:
		set_name(i, ".");
		return "the name \".\"";
	case 6:
		set_name(i, "..");
		return "the name \"..\"";
	case 7:
		set_name(i, "vm 1.node1");
		return "a name with a space";
	case 8:
		set_name(i, "vm1\n.node1");
		return "a name with a newline";
	case 9:
		set_name(i, "vm1.node1\x7f");
		return "a name with DEL";
	case 10:
		set_name(i, "vm\xc3\xa9.node1");
		return "a name with bytes over 0x7e";
	case 11:
		memset(i->name, 'n', sizeof(i->name));
		return "a 48-byte name without a NUL";
	case 12:
		i->ram_bytes = 0;
		return "ram_bytes 0";
	case 13:
		i->ram_bytes -= 512;
		return "ram_bytes not a page multiple";
	case 14:
		i->ram_bytes += 1;
		return "ram_bytes one past a page multiple";
	case 15:
		i->ram_off += 2048;
		return "ram_off not a page multiple";
	case 16:
		i->ram_bytes = SNAP_MEM_MAX + 4096;
		i->ram_off = 0;
		fit(i);
		return "ram_bytes over 64 TiB";
	case 17:
		i->ram_off = SNAP_MEM_MAX - i->ram_bytes + 4096;
		return "memory ending past 64 TiB";
	case 18:
		i->ram_off = UINT64_MAX - 4095;
		return "ram_off 2^64 - 4096";
	case 19:
		i->chunks = 0;
		return "chunks 0";
	case 20:
		i->chunks = 1;
		return "chunks 1 for 512 pages (over 256 pages a chunk)";
	case 21:
		i->ram_bytes = 4096;
		return "chunks 2 for 1 page (more chunks than pages)";
	case 22:
		i->file_bytes = 95;
		return "file_bytes 95 (less than header and trailer)";
	case 23:
		i->file_bytes -= 1;
		return "file_bytes one short of the index and trailer";
	case 24:
		i->offset = 63;
		return "offset 63 (inside the header)";
	case 25:
		i->offset = i->file_bytes - 31;
		return "offset inside the trailer";
	case 26:
		i->offset = i->file_bytes + 4096;
		return "offset past file_bytes";
	case 27:
		i->stored_bytes += 1;
		return "stored_bytes one past the trailer";
	case 28:
		i->stored_bytes = UINT64_MAX;
		return "stored_bytes 2^64 - 1";
	case 29:
		i->index_off = 0;
		return "index_off 0";
	case 30:
		i->index_off = 63;
		return "index_off 63 (inside the header)";
	case 31:
		i->index_off += 1;
		return "an index running into the trailer";
	case 32:
		i->index_off = i->file_bytes;
		return "index_off at file_bytes";
	case 33:
		i->index_off = UINT64_MAX;
		return "index_off 2^64 - 1";
	case 34:
		i->chunks = UINT32_MAX;
		return "chunks 0xffffffff";
	}
	return NULL;
}

static void
test_part_rules(void)
{
	struct savemsg_part m, d;
	const char *what;
	int k;

	for (k = 0;; k++) {
		good_part(&m, 1, 0, 2 << 20);
		if (!(what = spoil_part(&m, k)))
			break;
		put_part(raw, &m);
		is_int(savemsg_part_decode(raw, 128, &d), -EBADMSG,
		       "SAVE_PART_DONE: the decoder refuses %s", what);
		is_int(savemsg_part_encode(&m, buf, sizeof(buf)), -EINVAL,
		       "SAVE_PART_DONE: the encoder refuses %s", what);
	}

	/* bytes after the name's NUL: the encoder pads, the decoder refuses */
	good_part(&m, 1, 0, 2 << 20);
	for (size_t at = strlen(m.info.name) + 1; at < 48;
	     at += 48 - strlen(m.info.name) - 2) {
		put_part(raw, &m);
		raw[8 + at] = 'x';
		is_int(savemsg_part_decode(raw, 128, &d), -EBADMSG,
		       "SAVE_PART_DONE: a name with byte %zu after its NUL "
		       "not zero is refused",
		       at);
	}

	memset(&d, 0x5a, sizeof(d));
	good_part(&m, 1, 0, 2 << 20);
	m.info.chunks = 0;
	put_part(raw, &m);
	savemsg_part_decode(raw, 128, &d);
	ok(d.info.node == 0x5a5a5a5a && d.write_ns == 0x5a5a5a5a5a5a5a5aull,
	   "SAVE_PART_DONE: a refused part leaves the decoder's output alone");
}

/* --- PG_SAVE_DONE ------------------------------------------------------------ */

static void
test_done_round_trip(void)
{
	static struct savemsg_part p[PAGER_MAX_NODES], d[PAGER_MAX_NODES];
	uint64_t save_ns = 0x8877665544332211ull, ns = 0;
	uint32_t nodes = 0, i;
	size_t n;
	int rc, same;

	good_parts(p);
	n = put_done(raw, NODES, save_ns, p, NODES);
	rc = savemsg_done_encode(p, NODES, save_ns, buf, sizeof(buf));
	is_int(rc, 16 + 3 * 128, "SAVE_DONE of 3 nodes: 16 + 3 * 128 bytes");
	ok(rc > 0 && memcmp(buf, raw, n) == 0,
	   "SAVE_DONE: nodes at 0, reserved zero at 4, save_ns at 8, part i "
	   "at 16 + 128 i");
	for (i = 0, same = 1; i < NODES; i++) {
		uint8_t one[128];

		savemsg_part_encode(&p[i], one, sizeof(one));
		same &= memcmp(buf + 16 + 128 * i, one, 128) == 0;
	}
	ok(same, "SAVE_DONE: each part's bytes are its PG_SAVE_PART_DONE");
	rc = savemsg_done_decode(buf, n, d, PAGER_MAX_NODES, &nodes, &ns);
	for (i = 0, same = 1; i < NODES; i++)
		same &= part_same(&p[i], &d[i]);
	ok(rc == 0 && nodes == NODES && ns == save_ns && same,
	   "SAVE_DONE round-trips");
	rc = savemsg_done_decode(buf, n, d, NODES, &nodes, &ns);
	is_int(rc, 0, "SAVE_DONE: cap equal to the count is enough");
	strcpy(p[1].info.name + strlen(p[1].info.name) + 1, "junk");
	rc = savemsg_done_encode(p, NODES, save_ns, buf, sizeof(buf));
	ok(rc == (int)n && memcmp(buf, raw, n) == 0,
	   "SAVE_DONE: bytes after a name's NUL are sent as zeros, as in "
	   "SAVE_PART_DONE");

	good_part(&p[0], 0, 0, 4096);
	ok(savemsg_done_encode(p, 1, 0, buf, sizeof(buf)) ==
			   WIRE_PG_SAVE_DONE_MIN &&
		   savemsg_done_decode(buf, WIRE_PG_SAVE_DONE_MIN, d, 1, &nodes,
				       &ns) == 0 &&
		   nodes == 1 && ns == 0 && part_same(&p[0], &d[0]),
	   "SAVE_DONE of one node: 144 bytes, the minimum, round-trips");

	for (i = 0; i < PAGER_MAX_NODES; i++)
		good_part(&p[i], i, (uint64_t)i << 30, 1 << 30);
	rc = savemsg_done_encode(p, PAGER_MAX_NODES, save_ns, buf, sizeof(buf));
	is_int(rc, WIRE_PG_SAVE_DONE_MAX,
	       "SAVE_DONE of 64 nodes: 8208 bytes, the maximum");
	rc = savemsg_done_decode(buf, WIRE_PG_SAVE_DONE_MAX, d, PAGER_MAX_NODES,
				 &nodes, &ns);
	for (i = 0, same = 1; i < PAGER_MAX_NODES; i++)
		same &= part_same(&p[i], &d[i]);
	ok(rc == 0 && nodes == PAGER_MAX_NODES && same,
	   "SAVE_DONE of 64 nodes round-trips");
	ok(WIRE_PG_SAVE_DONE_MAX <= WIRE_MAX_PAYLOAD, "... which fits a frame");
	is_int(savemsg_done_decode(buf, WIRE_PG_SAVE_DONE_MAX, d,
				   PAGER_MAX_NODES - 1, &nodes, &ns),
	       -ENOSPC, "SAVE_DONE: 64 parts with cap 63 is -ENOSPC");

	good_parts(p);
	savemsg_done_encode(p, NODES, save_ns, buf, sizeof(buf));
	nodes = 99;
	ns = 99;
	is_int(savemsg_done_decode(buf, n, d, NODES - 1, &nodes, &ns), -ENOSPC,
	       "SAVE_DONE: 3 parts with cap 2 is -ENOSPC");
	ok(nodes == 99 && ns == 99,
	   "SAVE_DONE: -ENOSPC leaves nodes and save_ns alone");
	is_int(savemsg_done_decode(buf, n, d, 0, &nodes, &ns), -ENOSPC,
	       "SAVE_DONE: cap 0 is -ENOSPC");
	is_int(savemsg_done_encode(p, NODES, save_ns, buf, n - 1), -ENOSPC,
	       "SAVE_DONE: the encoder needs room for every part (-ENOSPC)");
	is_int(savemsg_done_encode(p, NODES, save_ns, buf, 16), -ENOSPC,
	       "SAVE_DONE: the encoder with room for the head only");
}

static void
test_done_lengths(void)
{
	struct savemsg_part p[NODES], d[PAGER_MAX_NODES];
	int wrong_size = 0, wrong_other = 0;
	uint32_t nodes;
	uint64_t ns;
	size_t len;

	good_parts(p);
	memset(buf, 0, sizeof(buf));
	savemsg_done_encode(p, NODES, 1, buf, sizeof(buf));
	for (len = 0; len <= WIRE_PG_SAVE_DONE_MAX + 256; len++) {
		int rc = savemsg_done_decode(buf, len, d, PAGER_MAX_NODES,
					     &nodes, &ns);
		int in = len >= 16 + 128 && len <= WIRE_PG_SAVE_DONE_MAX &&
			 (len - 16) % 128 == 0;

		if (!in && rc != -EMSGSIZE)
			wrong_size++;
		if (in && rc != (len == 16 + 3 * 128 ? 0 : -EBADMSG))
			wrong_other++;
	}
	ok(wrong_size == 0,
	   "SAVE_DONE: each length 0..8464 but 16 + 128 k (k 1..64) is "
	   "-EMSGSIZE (%d wrong)",
	   wrong_size);
	ok(wrong_other == 0,
	   "SAVE_DONE: each length 16 + 128 k but the message's is -EBADMSG "
	   "(nodes 3 does not match; %d wrong)",
	   wrong_other);
	is_int(savemsg_done_decode(buf, 16, d, PAGER_MAX_NODES, &nodes, &ns),
	       -EMSGSIZE, "SAVE_DONE: the head alone (no part) is -EMSGSIZE");
	is_int(savemsg_done_decode(buf, WIRE_PG_SAVE_DONE_MAX + 128, d,
				   PAGER_MAX_NODES, &nodes, &ns),
	       -EMSGSIZE, "SAVE_DONE: 65 parts is -EMSGSIZE");
}

static int
done_decode(size_t n)
{
	static struct savemsg_part d[PAGER_MAX_NODES];
	uint32_t nodes;
	uint64_t ns;

	return savemsg_done_decode(raw, n, d, PAGER_MAX_NODES, &nodes, &ns);
}

static void
test_done_rules(void)
{
	struct savemsg_part p[NODES], t;
	int wrong_dec = 0, wrong_enc = 0, k;
	const char *what;
	size_t n;

	good_parts(p);
	n = put_done(raw, 2, 0, p, NODES);
	is_int(done_decode(n), -EBADMSG,
	       "SAVE_DONE: nodes 2 with 3 parts is refused");
	n = put_done(raw, 4, 0, p, NODES);
	is_int(done_decode(n), -EBADMSG,
	       "SAVE_DONE: nodes 4 with 3 parts is refused");
	n = put_done(raw, 0, 0, p, NODES);
	is_int(done_decode(n), -EBADMSG,
	       "SAVE_DONE: nodes 0 with 3 parts is refused");
	n = put_done(raw, 0x100 + NODES, 0, p, NODES);
	is_int(done_decode(n), -EBADMSG,
	       "SAVE_DONE: nodes 259 with 3 parts is refused");
	for (int i = 4; i < 8; i++) {
		n = put_done(raw, NODES, 0, p, NODES);
		raw[i] = 0x80;
		is_int(done_decode(n), -EBADMSG,
		       "SAVE_DONE: reserved byte %d not zero is refused", i);
	}

	/* parts out of node order */
	t = p[1];
	p[1] = p[2];
	p[2] = t;
	n = put_done(raw, NODES, 0, p, NODES);
	is_int(done_decode(n), -EBADMSG,
	       "SAVE_DONE: parts of nodes 0, 2, 1 are refused");
	is_int(savemsg_done_encode(p, NODES, 0, buf, sizeof(buf)), -EINVAL,
	       "SAVE_DONE: the encoder refuses parts of nodes 0, 2, 1");
	good_parts(p);
	p[2].info.node = 1;
	n = put_done(raw, NODES, 0, p, NODES);
	is_int(done_decode(n), -EBADMSG,
	       "SAVE_DONE: two parts of node 1 are refused");
	is_int(savemsg_done_encode(p, NODES, 0, buf, sizeof(buf)), -EINVAL,
	       "SAVE_DONE: the encoder refuses two parts of node 1");
	good_parts(p);
	for (int i = 0; i < NODES; i++)
		p[i].info.node = (uint32_t)i + 1;
	n = put_done(raw, NODES, 0, p, NODES);
	is_int(done_decode(n), -EBADMSG,
	       "SAVE_DONE: parts of nodes 1, 2, 3 (none of node 0) are "
	       "refused");
	is_int(savemsg_done_encode(p, NODES, 0, buf, sizeof(buf)), -EINVAL,
	       "SAVE_DONE: the encoder refuses parts of nodes 1, 2, 3");

	/* memory that does not follow on from 0 */
	good_parts(p);
	p[0].info.ram_off = 4096;
	p[1].info.ram_off += 4096;
	p[2].info.ram_off += 4096;
	n = put_done(raw, NODES, 0, p, NODES);
	is_int(done_decode(n), -EBADMSG,
	       "SAVE_DONE: node 0's memory not starting at 0 is refused");
	is_int(savemsg_done_encode(p, NODES, 0, buf, sizeof(buf)), -EINVAL,
	       "SAVE_DONE: the encoder refuses node 0's memory not at 0");
	good_parts(p);
	p[2].info.ram_off += 4096;
	n = put_done(raw, NODES, 0, p, NODES);
	is_int(done_decode(n), -EBADMSG,
	       "SAVE_DONE: a page's gap before node 2's memory is refused");
	is_int(savemsg_done_encode(p, NODES, 0, buf, sizeof(buf)), -EINVAL,
	       "SAVE_DONE: the encoder refuses a gap before node 2");
	good_parts(p);
	p[1].info.ram_off -= 4096;
	n = put_done(raw, NODES, 0, p, NODES);
	is_int(done_decode(n), -EBADMSG,
	       "SAVE_DONE: node 1's memory overlapping node 0's is refused");
	is_int(savemsg_done_encode(p, NODES, 0, buf, sizeof(buf)), -EINVAL,
	       "SAVE_DONE: the encoder refuses overlapping memory");
	good_parts(p);
	p[1].info.ram_off = 2 << 20 | 8192;
	p[2].info.ram_off = 2 << 20;
	n = put_done(raw, NODES, 0, p, NODES);
	is_int(done_decode(n), -EBADMSG,
	       "SAVE_DONE: node 2's memory before node 1's is refused");

	/* every broken part, as node 1's, breaks the whole message */
	for (k = 0;; k++) {
		good_parts(p);
		if (!(what = spoil_part(&p[1], k)))
			break;
		n = put_done(raw, NODES, 0, p, NODES);
		if (done_decode(n) != -EBADMSG) {
			printf("# decoder took node 1 with %s\n", what);
			wrong_dec++;
		}
		if (savemsg_done_encode(p, NODES, 0, buf, sizeof(buf)) !=
		    -EINVAL) {
			printf("# encoder took node 1 with %s\n", what);
			wrong_enc++;
		}
	}
	ok(wrong_dec == 0,
	   "SAVE_DONE: the decoder refuses each of %d broken parts as node 1",
	   k);
	ok(wrong_enc == 0,
	   "SAVE_DONE: the encoder refuses each of %d broken parts as node 1",
	   k);
	good_parts(p);
	n = put_done(raw, NODES, 0, p, NODES);
	raw[16 + 2 * 128 + 55] = 1;
	is_int(done_decode(n), -EBADMSG,
	       "SAVE_DONE: node 2's name with its last byte not zero is "
	       "refused");

	good_parts(p);
	is_int(savemsg_done_encode(p, 0, 0, buf, sizeof(buf)), -EINVAL,
	       "SAVE_DONE: the encoder refuses 0 nodes");
	is_int(savemsg_done_encode(p, PAGER_MAX_NODES + 1, 0, buf, sizeof(buf)),
	       -EINVAL, "SAVE_DONE: the encoder refuses 65 nodes");
}

static void
test_type_table(void)
{
	const struct wire_type_info *t;

	t = wire_type_info(WIRE_T_PG_SAVE_PART);
	ok(t && t->type == 27 && t->min_len == 34 && t->max_len == 4127 &&
		   t->kind == WIRE_K_REQUEST,
	   "type table: PG_SAVE_PART is 27, 34..4127 bytes, a request");
	t = wire_type_info(WIRE_T_PG_SAVE_PART_DONE);
	ok(t && t->type == 28 && t->min_len == 128 && t->max_len == 128 &&
		   t->kind == WIRE_K_REPLY,
	   "type table: PG_SAVE_PART_DONE is 28, 128 bytes, a reply");
	t = wire_type_info(WIRE_T_PG_SAVE);
	ok(t && t->type == 36 && t->min_len == 34 && t->max_len == 4127 &&
		   t->kind == WIRE_K_REQUEST,
	   "type table: PG_SAVE is 36, 34..4127 bytes, a request");
	t = wire_type_info(WIRE_T_PG_SAVE_DONE);
	ok(t && t->type == 37 && t->min_len == 144 && t->max_len == 8208 &&
		   t->kind == WIRE_K_REPLY,
	   "type table: PG_SAVE_DONE is 37, 144..8208 bytes, a reply");
	is_str(wire_type_name(WIRE_T_PG_SAVE_PART_DONE), "PG_SAVE_PART_DONE",
	       "type table: the name of 28");
}

int
main(void)
{
	test_req_round_trip();
	test_req_lengths();
	test_req_rules();
	test_part_round_trip();
	test_part_lengths();
	test_part_rules();
	test_done_round_trip();
	test_done_lengths();
	test_done_rules();
	test_type_table();
	return done_testing();
}
