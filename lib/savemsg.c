/* The payloads of saving a VM's memory; see include/avm/savemsg.h. */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "avm/savemsg.h"
#include "avm/wire.h"

#define OFF(s, f) offsetof(struct s, f)
#define PG 4096u

/* --- PG_SAVE, PG_SAVE_PART ------------------------------------------------ */

/* Absolute, printable ASCII, not "/" alone: what a main file's path is. */
static int
path_ok(const char *s, size_t n)
{
	size_t i;

	if (n < 2 || n > WIRE_PG_SAVE_PATH_MAX || s[0] != '/' ||
	    s[n - 1] == '/')
		return 0;
	for (i = 0; i < n; i++)
		if (s[i] < ' ' || s[i] > '~')
			return 0;
	return 1;
}

static int
req_ok(const struct savemsg_req *m, size_t n)
{
	return m->level >= -1 && m->level <= 9 && m->chunk_pages >= 1 &&
	       m->chunk_pages <= SNAP_CHUNK_PAGES_MAX && m->nodes >= 1 &&
	       m->nodes <= PAGER_MAX_NODES && path_ok(m->path, n);
}

int
savemsg_req_encode(const struct savemsg_req *m, void *buf, size_t cap)
{
	size_t n = strnlen(m->path, sizeof(m->path));
	uint8_t *p = buf;

	if (n == sizeof(m->path) || !req_ok(m, n))
		return -EINVAL;
	if (cap < WIRE_PG_SAVE_HDR + n)
		return -ENOSPC;
	memcpy(p + OFF(savemsg_req_le, snap_id), m->snap_id, 16);
	wire_put32(p + OFF(savemsg_req_le, level), (uint32_t)m->level);
	wire_put32(p + OFF(savemsg_req_le, chunk_pages), m->chunk_pages);
	wire_put32(p + OFF(savemsg_req_le, nodes), m->nodes);
	wire_put32(p + OFF(savemsg_req_le, reserved), 0);
	memcpy(p + WIRE_PG_SAVE_HDR, m->path, n);
	return (int)(WIRE_PG_SAVE_HDR + n);
}

int
savemsg_req_decode(const void *buf, size_t len, struct savemsg_req *m)
{
	const uint8_t *p = buf;
	struct savemsg_req t;
	size_t n;

	if (len < WIRE_PG_SAVE_MIN || len > WIRE_PG_SAVE_MAX)
		return -EMSGSIZE;
	n = len - WIRE_PG_SAVE_HDR;
	memcpy(t.snap_id, p + OFF(savemsg_req_le, snap_id), 16);
	t.level = (int)wire_get32(p + OFF(savemsg_req_le, level));
	t.chunk_pages = wire_get32(p + OFF(savemsg_req_le, chunk_pages));
	t.nodes = wire_get32(p + OFF(savemsg_req_le, nodes));
	memcpy(t.path, p + WIRE_PG_SAVE_HDR, n);
	t.path[n] = '\0';
	if (wire_get32(p + OFF(savemsg_req_le, reserved)) != 0 ||
	    memchr(t.path, '\0', n) || !req_ok(&t, n))
		return -EBADMSG;
	*m = t;
	return 0;
}

/* --- one part --------------------------------------------------------------- */

/* A part's file name: printable, no '/', not "." or "..", NUL-padded. */
static int
name_ok(const char *s, size_t cap)
{
	size_t i, n = strnlen(s, cap);

	if (n == 0 || n >= cap || !strcmp(s, ".") || !strcmp(s, ".."))
		return 0;
	for (i = 0; i < n; i++)
		if (s[i] <= ' ' || s[i] > '~' || s[i] == '/')
			return 0;
	for (i = n; i < cap; i++)
		if (s[i])
			return 0;
	return 1;
}

/*
 * The rules a part keeps: its memory whole pages, in chunks of at most
 * 256 pages; the chunks and the index inside the file, after its 64-byte
 * header and before its 32-byte trailer.
 */
static int
part_ok(const struct savemsg_part *m)
{
	const struct snap_part_info *i = &m->info;
	uint64_t pages = i->ram_bytes / PG, end = i->file_bytes;

	if (i->node >= PAGER_MAX_NODES || !name_ok(i->name, sizeof(i->name)) ||
	    i->ram_bytes == 0 || i->ram_bytes % PG || i->ram_off % PG ||
	    i->ram_bytes > SNAP_MEM_MAX ||
	    i->ram_off > SNAP_MEM_MAX - i->ram_bytes)
		return 0;
	if (i->chunks == 0 || i->chunks > pages ||
	    (uint64_t)i->chunks * SNAP_CHUNK_PAGES_MAX < pages)
		return 0;
	if (end < SNAP_HDR_SIZE + SNAP_TRAILER_SIZE)
		return 0;
	end -= SNAP_TRAILER_SIZE;
	if (i->offset < SNAP_HDR_SIZE || i->offset > end ||
	    i->stored_bytes > end - i->offset || i->index_off < SNAP_HDR_SIZE ||
	    i->index_off > end ||
	    (uint64_t)i->chunks * SNAP_CHUNK_SIZE > end - i->index_off)
		return 0;
	return 1;
}

static void
part_put(uint8_t *p, const struct savemsg_part *m)
{
	const struct snap_part_info *i = &m->info;

	wire_put32(p + OFF(savemsg_part_le, node), i->node);
	wire_put32(p + OFF(savemsg_part_le, chunks), i->chunks);
	memset(p + OFF(savemsg_part_le, name), 0, sizeof(i->name));
	memcpy(p + OFF(savemsg_part_le, name), i->name, strlen(i->name));
	wire_put64(p + OFF(savemsg_part_le, file_bytes), i->file_bytes);
	wire_put64(p + OFF(savemsg_part_le, ram_off), i->ram_off);
	wire_put64(p + OFF(savemsg_part_le, ram_bytes), i->ram_bytes);
	wire_put64(p + OFF(savemsg_part_le, offset), i->offset);
	wire_put64(p + OFF(savemsg_part_le, stored_bytes), i->stored_bytes);
	wire_put64(p + OFF(savemsg_part_le, index_off), i->index_off);
	wire_put32(p + OFF(savemsg_part_le, file_crc), i->file_crc);
	wire_put32(p + OFF(savemsg_part_le, index_crc), i->index_crc);
	wire_put64(p + OFF(savemsg_part_le, write_ns), m->write_ns);
	wire_put64(p + OFF(savemsg_part_le, fetched), m->fetched);
}

static void
part_get(const uint8_t *p, struct savemsg_part *m)
{
	struct snap_part_info *i = &m->info;

	memset(m, 0, sizeof(*m));
	i->node = wire_get32(p + OFF(savemsg_part_le, node));
	i->chunks = wire_get32(p + OFF(savemsg_part_le, chunks));
	memcpy(i->name, p + OFF(savemsg_part_le, name), sizeof(i->name));
	i->file_bytes = wire_get64(p + OFF(savemsg_part_le, file_bytes));
	i->ram_off = wire_get64(p + OFF(savemsg_part_le, ram_off));
	i->ram_bytes = wire_get64(p + OFF(savemsg_part_le, ram_bytes));
	i->offset = wire_get64(p + OFF(savemsg_part_le, offset));
	i->stored_bytes = wire_get64(p + OFF(savemsg_part_le, stored_bytes));
	i->index_off = wire_get64(p + OFF(savemsg_part_le, index_off));
	i->file_crc = wire_get32(p + OFF(savemsg_part_le, file_crc));
	i->index_crc = wire_get32(p + OFF(savemsg_part_le, index_crc));
	m->write_ns = wire_get64(p + OFF(savemsg_part_le, write_ns));
	m->fetched = wire_get64(p + OFF(savemsg_part_le, fetched));
}

/* A struct's name may hold anything after its NUL: compare it padded. */
static int
part_normal(const struct savemsg_part *m, struct savemsg_part *t)
{
	size_t n = strnlen(m->info.name, sizeof(m->info.name));

	if (n == sizeof(m->info.name))
		return -1;
	*t = *m;
	memset(t->info.name + n, 0, sizeof(t->info.name) - n);
	return 0;
}

int
savemsg_part_encode(const struct savemsg_part *m, void *buf, size_t cap)
{
	struct savemsg_part t;

	if (part_normal(m, &t) < 0 || !part_ok(&t))
		return -EINVAL;
	if (cap < WIRE_PG_PART_SIZE)
		return -ENOSPC;
	part_put(buf, &t);
	return WIRE_PG_PART_SIZE;
}

int
savemsg_part_decode(const void *buf, size_t len, struct savemsg_part *m)
{
	struct savemsg_part t;

	if (len != WIRE_PG_PART_SIZE)
		return -EMSGSIZE;
	part_get(buf, &t);
	if (!part_ok(&t))
		return -EBADMSG;
	*m = t;
	return 0;
}

/* --- PG_SAVE_DONE ------------------------------------------------------------ */

/*
 * Part i is node i's, and the nodes' memory follows on from 0 without a
 * gap.  Each part passed part_ok, so its memory ends by SNAP_MEM_MAX and
 * the sum cannot wrap.
 */
static int
parts_follow(const struct savemsg_part *parts, uint32_t nodes)
{
	uint64_t off = 0;
	uint32_t i;

	for (i = 0; i < nodes; i++) {
		if (parts[i].info.node != i || parts[i].info.ram_off != off)
			return 0;
		off += parts[i].info.ram_bytes;
	}
	return 1;
}

int
savemsg_done_encode(const struct savemsg_part *parts, uint32_t nodes,
		    uint64_t save_ns, void *buf, size_t cap)
{
	struct savemsg_part t;
	uint8_t *p = buf;
	uint32_t i;

	if (nodes == 0 || nodes > PAGER_MAX_NODES)
		return -EINVAL;
	for (i = 0; i < nodes; i++)
		if (part_normal(&parts[i], &t) < 0 || !part_ok(&t))
			return -EINVAL;
	if (!parts_follow(parts, nodes))
		return -EINVAL;
	if (cap < WIRE_PG_SAVE_DONE_HDR + (size_t)nodes * WIRE_PG_PART_SIZE)
		return -ENOSPC;
	wire_put32(p + OFF(savemsg_done_le, nodes), nodes);
	wire_put32(p + OFF(savemsg_done_le, reserved), 0);
	wire_put64(p + OFF(savemsg_done_le, save_ns), save_ns);
	for (i = 0; i < nodes; i++) {
		part_normal(&parts[i], &t);
		part_put(p + WIRE_PG_SAVE_DONE_HDR + i * WIRE_PG_PART_SIZE, &t);
	}
	return (int)(WIRE_PG_SAVE_DONE_HDR + nodes * WIRE_PG_PART_SIZE);
}

int
savemsg_done_decode(const void *buf, size_t len, struct savemsg_part *parts,
		    uint32_t cap, uint32_t *nodes, uint64_t *save_ns)
{
	const uint8_t *p = buf;
	uint32_t n, i;

	if (len < WIRE_PG_SAVE_DONE_MIN || len > WIRE_PG_SAVE_DONE_MAX ||
	    (len - WIRE_PG_SAVE_DONE_HDR) % WIRE_PG_PART_SIZE)
		return -EMSGSIZE;
	n = wire_get32(p + OFF(savemsg_done_le, nodes));
	if (n != (len - WIRE_PG_SAVE_DONE_HDR) / WIRE_PG_PART_SIZE ||
	    wire_get32(p + OFF(savemsg_done_le, reserved)) != 0)
		return -EBADMSG;
	if (n > cap)
		return -ENOSPC;
	for (i = 0; i < n; i++) {
		part_get(p + WIRE_PG_SAVE_DONE_HDR + i * WIRE_PG_PART_SIZE,
			 &parts[i]);
		if (!part_ok(&parts[i]))
			return -EBADMSG;
	}
	if (!parts_follow(parts, n))
		return -EBADMSG;
	*nodes = n;
	*save_ns = wire_get64(p + OFF(savemsg_done_le, save_ns));
	return 0;
}
