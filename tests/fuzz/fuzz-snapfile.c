/*
 * libFuzzer target for the snapshot reader: any bytes, as a file (a
 * memfd), must be opened or refused with a message, never crash, leak or
 * read out of bounds; a file that opens must verify or name what is bad,
 * and every page and state of it must read or fail with a message.
 *
 * Every byte of a snapshot is under a CRC32, so a mutated file would
 * almost never get past the header.  For half of the inputs (by the low
 * bit of the header's CRC32 byte, which is rewritten anyway) the target
 * first makes the CRC32s agree again, as an attacker could: the header's
 * length, the chunk indexes', the disk records', the manifest's, the
 * header's, the trailer's and the whole file's.  The rules behind the
 * CRC32s (bounds, counts, placement, names) are then what stands between
 * the bytes and the reader's memory.  Part files are not reached (no
 * folder).
 *
 * Seeds: tests/fuzz/seed/fuzz-snapfile/, written by avm-snapgen (disks.snap
 * with --disk, so that disk records are there to mutate).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>

#include "avm/snapfile.h"
#include "avm/wire.h"

#define OFF(s, f) offsetof(struct s, f)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t
crc(const uint8_t *p, size_t len)
{
	return (uint32_t)crc32(0, p, (uInt)len);
}

/* The CRC32s of b made to agree, wherever the fields let them be found. */
static void
reseal(uint8_t *b, size_t len)
{
	uint8_t *t = b + len - SNAP_TRAILER_SIZE, *m = b + SNAP_HDR_SIZE, *e;
	uint64_t mlen, at, io, n;
	uint32_t nodes, parts, nsec, i;

	if (len < SNAP_HDR_SIZE + SNAP_TRAILER_SIZE)
		return;
	wire_put64(b + OFF(snap_hdr_le, file_bytes), len);
	mlen = wire_get32(b + OFF(snap_hdr_le, manifest_bytes));
	if (mlen >= SNAP_MANIFEST_SIZE &&
	    SNAP_HDR_SIZE + mlen + SNAP_TRAILER_SIZE <= len) {
		nodes = wire_get32(m + OFF(snap_manifest_le, nodes));
		parts = wire_get32(m + OFF(snap_manifest_le, parts));
		nsec = wire_get32(m + OFF(snap_manifest_le, sections));
		at = SNAP_MANIFEST_SIZE + (uint64_t)nodes * SNAP_NODE_SIZE +
		     (uint64_t)parts * SNAP_PART_SIZE;
		for (i = 0; i < nsec &&
			    at + (uint64_t)(i + 1) * SNAP_SECTION_SIZE <= mlen;
		     i++) {
			e = m + at + (uint64_t)i * SNAP_SECTION_SIZE;
			if (wire_get16(e + OFF(snap_section_le, type)) ==
			    SNAP_SEC_DISK) {
				io = wire_get64(e +
						OFF(snap_section_le, offset));
				n = wire_get64(
					e + OFF(snap_section_le, stored_bytes));
				if (io <= len && n <= len - io) {
					wire_put32(
						e + OFF(snap_section_le, crc),
						crc(b + io, (size_t)n));
					wire_put32(e + OFF(snap_section_le,
							   raw_crc),
						   crc(b + io, (size_t)n));
				}
				continue;
			}
			if (wire_get16(e + OFF(snap_section_le, type)) !=
			    SNAP_SEC_MEMORY)
				continue;
			io = wire_get64(e + OFF(snap_section_le, index_off));
			n = (uint64_t)wire_get32(e +
						 OFF(snap_section_le, chunks)) *
			    SNAP_CHUNK_SIZE;
			if (io <= len && n <= len - io)
				wire_put32(e + OFF(snap_section_le, crc),
					   crc(b + io, (size_t)n));
		}
		wire_put32(b + OFF(snap_hdr_le, manifest_crc),
			   crc(m, (size_t)mlen));
	}
	wire_put32(b + OFF(snap_hdr_le, hdr_crc),
		   crc(b, OFF(snap_hdr_le, hdr_crc)));
	memcpy(t + OFF(snap_trailer_le, manifest_off),
	       b + OFF(snap_hdr_le, manifest_off), 8);
	memcpy(t + OFF(snap_trailer_le, manifest_bytes),
	       b + OFF(snap_hdr_le, manifest_bytes), 8); /* and its CRC */
	wire_put32(t + OFF(snap_trailer_le, file_crc),
		   crc(b, len - SNAP_TRAILER_SIZE));
	wire_put32(t + OFF(snap_trailer_le, trailer_crc),
		   crc(t, OFF(snap_trailer_le, trailer_crc)));
}

static void
exercise(struct snap *s)
{
	const struct snap_info *in = snap_info(s);
	struct snap_verified v;
	uint8_t page[SNAP_PAGE_SIZE], *st;
	uint64_t off, cb;
	uint32_t i, k;
	char why[512];

	if (!in->vm[0] || !in->vcpus || !in->nodes || !in->mem_bytes)
		abort();
	/* What the reader lets through of a disk record keeps its rules. */
	if (in->ndisks > SNAP_DISKS_MAX)
		abort();
	for (i = 0; i < in->ndisks; i++) {
		const struct snap_disk *d = &in->disks[i];

		if (d->index >= SNAP_DISKS_MAX || d->path[0] != '/' ||
		    strlen(d->path) > SNAP_DISK_PATH_MAX ||
		    d->mtime_ns > 999999999u ||
		    (i && d->index <= in->disks[i - 1].index))
			abort();
	}
	why[0] = '\0';
	if (snap_verify(s, &v, NULL, NULL, why, sizeof(why)) < 0 && !why[0])
		abort();
	cb = (uint64_t)in->chunk_pages * SNAP_PAGE_SIZE;
	/* The first and last page of each chunk of the first sections. */
	for (i = 0, k = 0; i < in->nsec && k < 64; i++) {
		const struct snap_section *sec = &in->sec[i];

		if (sec->type != SNAP_SEC_MEMORY) {
			st = malloc(sec->raw_bytes ? sec->raw_bytes : 1);
			if (!st)
				continue;
			why[0] = '\0';
			if (snap_read_state(s, i, st, sec->raw_bytes, why,
					    sizeof(why)) < 0 &&
			    !why[0])
				abort();
			free(st);
			continue;
		}
		for (off = 0; off < sec->raw_bytes && k < 64; off += cb, k++) {
			why[0] = '\0';
			if (snap_read_page(s, sec->ram_off + off, page, why,
					   sizeof(why)) < 0 &&
			    !why[0])
				abort();
			if (snap_read_page(s,
					   sec->ram_off +
						   (off + cb < sec->raw_bytes
							    ? off + cb
							    : sec->raw_bytes) -
						   SNAP_PAGE_SIZE,
					   page, why, sizeof(why)) < 0 &&
			    !why[0])
				abort();
		}
	}
	if (snap_read_page(s, in->mem_bytes, page, why, sizeof(why)) == 0 ||
	    errno != EINVAL)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct snap *s;
	char why[512];
	uint8_t *b;
	int fd;

	b = malloc(size ? size : 1);
	if (!b)
		return 0;
	memcpy(b, data, size);
	if (size > SNAP_HDR_SIZE && (b[OFF(snap_hdr_le, hdr_crc)] & 1))
		reseal(b, size);
	fd = memfd_create("fuzz-snapfile", MFD_CLOEXEC);
	if (fd < 0 || write(fd, b, size) != (ssize_t)size) {
		if (fd >= 0)
			close(fd);
		free(b);
		return 0;
	}
	free(b);
	why[0] = '\0';
	s = snap_open_fd(fd, -1, why, sizeof(why));
	if (!s) {
		if (!why[0])
			abort();
		return 0;
	}
	exercise(s);
	snap_close(s);
	return 0;
}
