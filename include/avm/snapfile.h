/*
 * The snapshot file of a whole aggregated VM (DESIGN.md, "Snapshots"):
 * its on-disk layout, a writer and a reader.  man/avm-snap.5 gives the
 * layout byte by byte; this header is the code's half of it.
 *
 *   header   64 bytes at 0: magic, format version, flags, the snapshot's
 *            id, the file's length, where the manifest is, header CRC32
 *   manifest at 64: the VM (name, vCPUs, memory, nodes), each node's
 *            placement, the part files, then one entry per section
 *            (type, name, where, stored and raw sizes, CRC32s)
 *   sections vCPU states (one per vCPU), device states (one per device,
 *            by name), memory (one section per node: the RAM that node
 *            is home of, in chunks of up to 256 pages, each zlib
 *            compressed with its CRC32, then the chunk index), disk
 *            records (one per disk image: its path, size, modification
 *            time and read-only flag; version 2)
 *   trailer  32 bytes at the end: where the manifest is again, the
 *            CRC32 of every byte before the trailer, trailer CRC32
 *
 * A chunk index entry says where a chunk's bytes are, their CRC32s, and
 * which of its pages are zero (those store no bytes), so one page is
 * read with one pread of one chunk, never by scanning the file.  The
 * memory of node N may live in a part file of its own (written by that
 * node, in parallel with the others), named in the manifest; the main
 * file is renamed into place last, so a snapshot whose main file exists
 * is whole.
 *
 * The version rule: the reader checks the magic, then the version, and
 * only then anything else, so a file of another version is refused as
 * that ("format version 3: this build reads versions 1 to 2"), never for
 * a field it misreads.  Reserved bytes must be zero and unknown flags,
 * section types and device names are refused; a new field, flag,
 * section type or device name takes a new version, so that an older
 * reader says the file is from a newer avm instead of naming the first
 * thing it does not know.  Version 2 added the disk section and the
 * instance names of devices that come more than once (virtio-blk0,
 * virtio-net3); it is version 1 with those, so this build reads both,
 * and holds a version 1 file to version 1's types and names.
 *
 * Why disks are sections and not manifest entries: a record holds a path
 * of up to 4095 bytes, and the manifest is fixed-size entries that the
 * reader sizes from counts; a section already has an offset, a length
 * and CRC32s checked at open, the no-overlap and truncation rules, and
 * is read back by snap_read_state and snap_verify like any state.  A
 * disk section's entry says which disk (id: its index, 0..7, the N of
 * the device "virtio-blkN"); its bytes are struct snap_disk_le and the
 * path.  The disk's contents stay in its image: the record is what a
 * restore checks the image against (snap_disk_check).
 *
 * Errors: functions return 0 or -1 with errno and fill why (whylen
 * bytes, lowercase, no trailing newline) with what is wrong and where
 * (the main file is not named: the caller says which file it opened):
 * "chunk 17 (guest RAM 0x1100000-0x11fffff, node 0): bad CRC32
 * 0x1c291ca3, expected 0x5e1f0e1b".  Nothing here prints or exits.
 * errno EBADMSG means the file is not a valid snapshot (a tool says 65);
 * ENOENT, EACCES, EISDIR and other open/read errors that it cannot be
 * read (66); ENOMEM; EINVAL a caller's mistake.
 *
 * Addresses are RAM offsets: byte offsets into guest RAM as the pagers
 * and the placement count them (the memfd's offsets), which are guest
 * physical addresses below the MMIO hole (man/avm-snap.5).
 */
#ifndef AVM_SNAPFILE_H
#define AVM_SNAPFILE_H

#include <stddef.h>
#include <stdint.h>

#include "avm/placement.h"

/* The version rule: this build writes SNAP_VERSION and reads these. */
#define SNAP_VERSION 2
#define SNAP_VERSION_MIN 1
#define SNAP_VERSION_MAX 2

#define SNAP_MAGIC "AVMSNAP" /* and a NUL: 8 bytes at offset 0 */
#define SNAP_TRAILER_MAGIC "AVMSEND"

#define SNAP_PAGE_SIZE 4096u
#define SNAP_CHUNK_PAGES_MAX 256u /* the zero-page bitmap's bits */
#define SNAP_CHUNK_PAGES_DEFAULT 256u

/* Limits that keep hostile files small (the reader refuses more). */
#define SNAP_VCPUS_MAX 1024u
#define SNAP_NODES_MAX 1024u
#define SNAP_DEVICES_MAX 64u
#define SNAP_STATE_MAX (16u << 20) /* raw bytes of one state */
#define SNAP_MEM_MAX (1ull << 46)  /* 64 TiB of guest RAM */
#define SNAP_VM_NAME_MAX 31	   /* = AVM_VM_NAME_MAX */
#define SNAP_DEV_NAME_MAX 15	   /* [a-z][a-z0-9_-]* */
#define SNAP_PART_NAME_MAX 47	   /* a file name, no '/' */
#define SNAP_WRITER_MAX 31	   /* "avm 0.1.0" */
#define SNAP_DISKS_MAX 8	   /* = avm-run's VM_DISKS_MAX */
#define SNAP_NETS_MAX 8		   /* = avm-run's VM_NETS_MAX */
#define SNAP_DISK_PATH_MAX 4095	   /* bytes of a disk's path, no NUL */

/* --- on disk: fixed little-endian structs ------------------------------- */

#define SNAP_HDR_SIZE 64
#define SNAP_MANIFEST_SIZE 128
#define SNAP_NODE_SIZE 32
#define SNAP_PART_SIZE 64
#define SNAP_SECTION_SIZE 96
#define SNAP_CHUNK_SIZE 64
#define SNAP_TRAILER_SIZE 32
#define SNAP_DISK_SIZE 32 /* then the path */

/* Header flags. */
#define SNAP_F_PART 0x1u /* a part file: memory of one node, no manifest */
#define SNAP_F_KNOWN SNAP_F_PART

/*
 * The header, at offset 0 of the main file and of each part file.  The
 * writer (snap_writer_finish, snap_part_write) fills it in last, once
 * the file's length and the manifest's CRC are known.
 */
struct snap_hdr_le {
	uint8_t magic[8];	   /* "AVMSNAP\0" */
	uint8_t version[4];	   /* SNAP_VERSION */
	uint8_t flags[4];	   /* SNAP_F_* */
	uint8_t snap_id[16];	   /* random; the same in every part */
	uint8_t file_bytes[8];	   /* the whole file, trailer included */
	uint8_t manifest_off[8];   /* 64; 0 in a part file */
	uint8_t manifest_bytes[4]; /* 0 in a part file */
	uint8_t manifest_crc[4];   /* CRC32 of the manifest */
	uint8_t part[4];    /* 0 in the main file; node + 1 in its part */
	uint8_t hdr_crc[4]; /* CRC32 of bytes 0..59 */
};
_Static_assert(sizeof(struct snap_hdr_le) == SNAP_HDR_SIZE, "snap header");

/*
 * The manifest's fixed part, at the header's manifest_off; then `nodes`
 * node entries, `parts` part entries and `sections` section entries.
 * Written by snap_writer_finish from what the VM declared at open.
 */
struct snap_manifest_le {
	uint8_t vm[32]; /* name, NUL-padded */
	uint8_t mem_bytes[8];
	uint8_t vcpus[4];
	uint8_t nodes[4];
	uint8_t sections[4];
	uint8_t parts[4];
	uint8_t page_bytes[4];	   /* 4096 */
	uint8_t chunk_pages[4];	   /* 1..256 */
	uint8_t created_unix_s[8]; /* when it was written; 0: not said */
	uint8_t writer[32];	   /* "avm 0.1.0", printable, NUL-padded */
	uint8_t reserved[24];
};
_Static_assert(sizeof(struct snap_manifest_le) == SNAP_MANIFEST_SIZE,
	       "snap manifest");

/* A node: its vCPU block and home range (avm/placement.h) at save. */
struct snap_node_le {
	uint8_t vcpu_first[4];
	uint8_t vcpu_count[4];
	uint8_t page_first[8];
	uint8_t page_count[8];
	uint8_t reserved[8];
};
_Static_assert(sizeof(struct snap_node_le) == SNAP_NODE_SIZE, "snap node");

/* A part file: its name beside the main file, length and file CRC32. */
struct snap_part_le {
	uint8_t name[48]; /* NUL-padded file name, no '/' */
	uint8_t file_bytes[8];
	uint8_t file_crc[4]; /* = the part's trailer file_crc */
	uint8_t node[4];     /* whose memory it holds */
};
_Static_assert(sizeof(struct snap_part_le) == SNAP_PART_SIZE, "snap part");

enum snap_type {
	SNAP_SEC_VCPU = 1,   /* id: the vCPU; opaque state bytes */
	SNAP_SEC_DEVICE = 2, /* name: the device; opaque state bytes */
	SNAP_SEC_MEMORY = 3, /* id: the node; chunks and their index */
	SNAP_SEC_DISK = 4,   /* id: the disk; a snap_disk_le and the path
				(version 2) */
};

/* Section flags. */
#define SNAP_SEC_DEFLATE 0x1u /* state: stored zlib-compressed */

/* A section; offsets are in the section's file (part 0: the main). */
struct snap_section_le {
	uint8_t type[2];
	uint8_t flags[2];
	uint8_t id[4];
	uint8_t name[16];	 /* device: NUL-padded; else zero */
	uint8_t offset[8];	 /* first byte */
	uint8_t stored_bytes[8]; /* bytes there (memory: chunks, index) */
	uint8_t raw_bytes[8];	 /* state: inflated; memory: RAM bytes */
	uint8_t ram_off[8];	 /* memory: first RAM byte; else 0 */
	uint8_t index_off[8];	 /* memory: the chunk index; else 0 */
	uint8_t chunks[4];	 /* memory: entries in the index */
	uint8_t crc[4];		 /* state: stored bytes; memory: index */
	uint8_t raw_crc[4];	 /* state: raw bytes; memory: 0 */
	uint8_t part[4];	 /* 0: main file; k: part k */
	uint8_t reserved[16];
};
_Static_assert(sizeof(struct snap_section_le) == SNAP_SECTION_SIZE,
	       "snap section");

/* Chunk flags. */
#define SNAP_CHUNK_DEFLATE 0x1u /* stored zlib-compressed, else as is */

/*
 * A chunk index entry: chunk i of a memory section covers RAM from
 * ram_off + i * chunk_pages * 4096.  The stored bytes are the chunk's
 * pages that are not zero, in order, compressed when that is smaller.
 * Written by the writer after the section's last chunk.
 */
struct snap_chunk_le {
	uint8_t offset[8];    /* in the section's file; 0 when stored is 0 */
	uint8_t stored[4];    /* bytes stored; 0: every page zero */
	uint8_t raw[4];	      /* 4096 x pages that are not zero */
	uint8_t crc[4];	      /* CRC32 of the stored bytes */
	uint8_t raw_crc[4];   /* CRC32 of the raw bytes */
	uint8_t flags[4];     /* SNAP_CHUNK_* */
	uint8_t reserved[4];  /* zero */
	uint8_t zero_map[32]; /* bit p (byte p / 8, 1 << p % 8): page p zero */
};
_Static_assert(sizeof(struct snap_chunk_le) == SNAP_CHUNK_SIZE, "snap chunk");

/* Disk flags. */
#define SNAP_DISK_RO 0x1u /* the guest could only read it */
#define SNAP_DISK_KNOWN SNAP_DISK_RO

/*
 * The bytes of a disk section: the image as it was when the snapshot
 * was taken, then its path (the section's other bytes: 1 to 4095, an
 * absolute path as avm-run opened it, no NUL and no control character,
 * not NUL-terminated).  Written by snap_writer_finish from what the VM
 * declared at open; stored as is, never deflated.  mtime_s is the one
 * signed field of the format: st_mtim may be before 1970.
 */
struct snap_disk_le {
	uint8_t size_bytes[8]; /* st_size */
	uint8_t mtime_s[8];    /* st_mtim.tv_sec, two's complement */
	uint8_t mtime_ns[4];   /* st_mtim.tv_nsec, 0..999999999 */
	uint8_t flags[4];      /* SNAP_DISK_* */
	uint8_t reserved[8];
};
_Static_assert(sizeof(struct snap_disk_le) == SNAP_DISK_SIZE, "snap disk");

/* The trailer, the file's last 32 bytes, written last. */
struct snap_trailer_le {
	uint8_t magic[8]; /* "AVMSEND\0" */
	uint8_t manifest_off[8];
	uint8_t manifest_bytes[4];
	uint8_t manifest_crc[4];
	uint8_t file_crc[4];	/* CRC32 of every byte before the trailer */
	uint8_t trailer_crc[4]; /* CRC32 of bytes 0..27 of the trailer */
};
_Static_assert(sizeof(struct snap_trailer_le) == SNAP_TRAILER_SIZE,
	       "snap trailer");

/* --- shared by writer and reader ---------------------------------------- */

/*
 * 1 when this build can restore a device of that name: one of node 0's
 * (uart, rtc, pm, ioapic, pic, debugexit), or an instance of a device
 * that comes more than once, its ops name and index ("virtio-blk0" to
 * "virtio-blk7", "virtio-net0" to "virtio-net7": avm-run's disks and
 * cards, the index without leading zeros).  The bare ops name is not a
 * device of a snapshot.  0 otherwise.
 */
int snap_device_known(const char *name);

/*
 * The name instance i of the device whose ops name is base is saved
 * under ("virtio-blk", 2: "virtio-blk2"), into buf.  Returns 0, or -1
 * with errno EINVAL (base does not come more than once, or i is past
 * its last instance) or ENAMETOOLONG (buf).
 */
int snap_device_instance(const char *base, uint32_t i, char *buf, size_t len);

/* The known device names, ", "-separated, into buf; returns buf. */
const char *snap_device_names(char *buf, size_t len);

/* "vcpu", "device", "memory", "disk"; "unknown" otherwise. */
const char *snap_type_name(unsigned type);

/* A disk image as a snapshot records it. */
struct snap_disk {
	uint32_t index; /* 0..SNAP_DISKS_MAX - 1: device virtio-blk<index> */
	char path[SNAP_DISK_PATH_MAX + 1]; /* absolute */
	uint64_t size_bytes;
	int64_t mtime_s; /* st_mtim */
	uint32_t mtime_ns;
	int readonly;
};

/*
 * Fills d with disk index's image at path as it is now: its size and
 * modification time from fstat of fd (the descriptor the VM reads it
 * through), or from stat of path when fd is -1.  path must be absolute
 * (a restore may run in another folder).  Returns 0, or -1 with errno
 * (EINVAL: index out of range, a relative path or one with a control
 * character, not a regular file; ENAMETOOLONG: over SNAP_DISK_PATH_MAX;
 * stat's) and why.
 */
int snap_disk_init(struct snap_disk *d, uint32_t index, const char *path,
		   int fd, int readonly, char *why, size_t whylen);

/*
 * Whether d's image is still the one saved: stats d->path now (following
 * links, as opening it would) and compares.  Returns 0 when it is a
 * regular file of the size and modification time recorded; 1 when it
 * changed, why saying how ("disk 0 '/x.img': 2097152 bytes now, 1048576
 * when saved", "disk 0 '/x.img': modified since the snapshot:
 * 2026-12-07 01:40:02.123456789 UTC now, 2026-12-07 01:39:00.000000000
 * UTC when saved", "... not a regular file now"); -1 with stat's errno
 * when it cannot be looked at (ENOENT: gone; EACCES; ...) and why
 * ("disk 0 '/x.img': No such file or directory").
 */
int snap_disk_check(const struct snap_disk *d, char *why, size_t whylen);

/* d's modification time as snap_disk_check says it, into buf ("2026-12-07
 * 01:39:00.000000000 UTC"); returns buf. */
const char *snap_disk_mtime(const struct snap_disk *d, char *buf, size_t len);

/*
 * The path of node's part file beside main, into buf:
 * "<main>.<id>.node<N>", id the first 4 bytes of the snapshot's id in
 * hex, so that a save over an older snapshot never touches its parts
 * (they go when the new main file is in place).  Returns 0, or -1 with
 * errno ENAMETOOLONG (the path, or a name over SNAP_PART_NAME_MAX).
 */
int snap_part_path(const char *main, const uint8_t snap_id[16], uint32_t node,
		   char *buf, size_t len);

/*
 * Removes what a save of the snapshot with that id left beside main: its
 * part files and their temporary files (names that start with what
 * snap_part_path gives before the node number), for a save that failed.
 * Returns how many it removed.
 */
int snap_parts_remove(const char *main, const uint8_t snap_id[16]);

/* --- writer ------------------------------------------------------------- */

/* The VM a snapshot is of; the writer copies what it needs. */
struct snap_vm {
	const char *name;
	uint32_t vcpus;
	uint64_t mem_bytes; /* a multiple of 4096 */
	uint32_t nodes;
	const struct placement_node *placement; /* [nodes], at save time */
	const char *const *devices;		/* [ndevices] names */
	uint32_t ndevices;
	const struct snap_disk *disks; /* [ndisks]: snap_disk_init's */
	uint32_t ndisks;	       /* 0..SNAP_DISKS_MAX */
};

struct snap_write_opts {
	int level;		 /* zlib level 0..9; -1: zlib's default */
	uint32_t chunk_pages;	 /* 1..256; 0: SNAP_CHUNK_PAGES_DEFAULT */
	uint64_t created_unix_s; /* 0: now */
	const char *writer;	 /* NULL: "avm " AVM_VERSION */
	/* 1: each node's memory in a part file of its own (snap_part_write
	 * and snap_writer_add_part); 0: in the main file */
	int parts;
};

/*
 * Where the writer gets memory from: fill len bytes of buf with guest RAM
 * from RAM offset off (len is whole pages, at most one chunk).  Return 0,
 * or a negative errno, which fails the snapshot.  The pagers will feed
 * this when saving a running VM; snap_mem_buffer reads a plain buffer.
 */
typedef int (*snap_mem_fn)(void *arg, uint64_t off, void *buf, size_t len);

/* snap_mem_fn over arg = the whole of guest RAM in one buffer. */
int snap_mem_buffer(void *arg, uint64_t off, void *buf, size_t len);

struct snap_writer;

/*
 * Starts a snapshot of vm at path: creates "<path>.tmp.<pid>" (0600,
 * O_EXCL, not through a link) and reserves the header and manifest.
 * Then each vCPU's and each declared device's state and each node's
 * memory must be given once, in any order, before snap_writer_finish,
 * which writes the disk records as vm declared them (copied here).
 * Returns the writer, or NULL with errno (EINVAL for a bad vm or opts,
 * with why; open's errno) and why.
 */
struct snap_writer *snap_writer_open(const char *path, const struct snap_vm *vm,
				     const struct snap_write_opts *opts,
				     char *why, size_t whylen);

/* The snapshot's id, for snap_part_write on other nodes. */
const uint8_t *snap_writer_id(const struct snap_writer *w);

/*
 * State sections: len opaque bytes (at most SNAP_STATE_MAX) of vCPU
 * vcpu, or of the declared device name.  Each returns 0, or -1 with
 * errno (EINVAL: not declared, given twice; write's errno) and why; a
 * writer that failed fails every later call, and finish removes the
 * temporary file.
 */
int snap_write_vcpu(struct snap_writer *w, uint32_t vcpu, const void *data,
		    size_t len, char *why, size_t whylen);
int snap_write_device(struct snap_writer *w, const char *name, const void *data,
		      size_t len, char *why, size_t whylen);

/*
 * Node's home range of memory into the main file, read through fn in
 * chunks; zero pages store no bytes.  Returns 0, or -1 with errno (fn's,
 * write's, EINVAL: a writer with parts) and why.
 */
int snap_write_memory(struct snap_writer *w, uint32_t node, snap_mem_fn fn,
		      void *arg, char *why, size_t whylen);

/* What snap_part_write made, for the main file's manifest. */
struct snap_part_info {
	uint32_t node;
	char name[SNAP_PART_NAME_MAX + 1]; /* file name, beside the main */
	uint64_t file_bytes;
	uint32_t file_crc;
	uint64_t ram_off, ram_bytes;
	uint64_t offset, stored_bytes, index_off;
	uint32_t chunks, index_crc;
};

/*
 * Writes RAM [ram_off, ram_off + ram_bytes) of node to a part file at
 * path (snap_part_path), the way snap_writer_finish writes the main file
 * (temporary name, fsync, rename), and fills out.  Any node may call it
 * at once with the id snap_writer_id gave; it shares nothing with a
 * writer.  Returns 0, or -1 with errno and why; no file is left then.
 */
int snap_part_write(const char *path, const uint8_t snap_id[16], uint32_t node,
		    uint64_t ram_off, uint64_t ram_bytes,
		    const struct snap_write_opts *opts, snap_mem_fn fn,
		    void *arg, struct snap_part_info *out, char *why,
		    size_t whylen);

/*
 * Names a part snap_part_write made as node part->node's memory, in a
 * writer opened with parts.  The part must lie beside the main file with
 * the length said.  Returns 0, or -1 with errno and why.  A writer that
 * fails or is aborted removes the parts it was given.
 */
int snap_writer_add_part(struct snap_writer *w,
			 const struct snap_part_info *part, char *why,
			 size_t whylen);

/*
 * Writes the manifest, header and trailer, fsyncs, renames the file to
 * its path and fsyncs the folder; frees w either way.  Returns 0, or -1
 * with errno (EINVAL: a section not given; an earlier failure's; write,
 * fsync or rename's) and why; nothing is left under path or the
 * temporary name then (an older file at path stays as it was).
 */
int snap_writer_finish(struct snap_writer *w, char *why, size_t whylen);

/* Gives up: removes the temporary file and the parts, frees w. */
void snap_writer_abort(struct snap_writer *w);

/* --- reader ------------------------------------------------------------- */

struct snap_section {
	enum snap_type type;
	uint32_t flags;
	uint32_t id;			  /* vCPU, node (memory) or disk */
	char name[SNAP_DEV_NAME_MAX + 1]; /* device; "" otherwise */
	uint32_t part;			  /* 0: main file; k: parts[k - 1] */
	uint64_t offset, stored_bytes, raw_bytes;
	uint32_t crc, raw_crc;
	/* memory only */
	uint64_t ram_off, index_off;
	uint32_t chunks;
	uint64_t first_chunk; /* number of its chunk 0 in the whole file */
	uint64_t zero_pages;  /* pages that store no bytes */
	uint64_t data_bytes;  /* raw bytes of the pages that are not zero */
	uint64_t chunk_bytes; /* stored bytes of its chunks */
};

struct snap_part {
	char name[SNAP_PART_NAME_MAX + 1];
	uint64_t file_bytes;
	uint32_t file_crc;
	uint32_t node;
};

/* What a snapshot holds: the header and manifest, checked. */
struct snap_info {
	uint32_t version, flags;
	uint8_t snap_id[16];
	uint64_t file_bytes; /* the main file */
	char vm[SNAP_VM_NAME_MAX + 1];
	char writer[SNAP_WRITER_MAX + 1];
	uint64_t created_unix_s;
	uint32_t vcpus, nodes;
	uint64_t mem_bytes;
	uint32_t page_bytes, chunk_pages;
	struct placement_node *node; /* [nodes] */
	struct snap_part *parts;     /* [nparts] */
	uint32_t nparts;
	struct snap_section *sec; /* [nsec], in manifest order */
	uint32_t nsec;
	uint64_t chunks, zero_pages; /* every memory section's */
	struct snap_disk *disks;     /* [ndisks], by index */
	uint32_t ndisks;
};

/* I/O an open snapshot did, for tests and --verbose. */
struct snap_io {
	uint64_t reads;	     /* preads */
	uint64_t read_bytes; /* bytes they returned */
	uint64_t inflates;   /* chunks and states inflated */
};

struct snap;

/*
 * Opens the snapshot at path (part files beside it): the header, the
 * trailer, the manifest, every chunk index and every disk record are
 * read and checked against each other and the files' lengths; chunk
 * bytes are not read (snap_verify), nor are the disk images looked at
 * (snap_disk_check).  Returns the snapshot, or NULL with errno (EBADMSG: not
 * a valid snapshot; open's or read's) and why.
 */
struct snap *snap_open(const char *path, char *why, size_t whylen);

/*
 * The same over fd, which is the snapshot's from then on (snap_close
 * closes it; so does a failure).  dirfd is where the part files are,
 * used only while opening (-1: a snapshot with parts is refused, errno
 * ENOENT).
 */
struct snap *snap_open_fd(int fd, int dirfd, char *why, size_t whylen);

const struct snap_info *snap_info(const struct snap *s);
const struct snap_io *snap_io(const struct snap *s);

/* Result of snap_verify. */
struct snap_verified {
	uint64_t sections, chunks; /* checked before it stopped */
	uint64_t bytes;		   /* read for the file CRC32s */
	uint32_t file_crc;	   /* the main file's */
	uint32_t ram_crc;    /* CRC32 of all guest RAM, in RAM order, zero pages
			     included: the same for the same memory whatever
			     the chunks, parts, level or nodes */
	int64_t bad_chunk;   /* the first bad chunk, or -1 */
	int32_t bad_section; /* the first bad section, or -1 */
};

/*
 * Reads everything: every state section's and every chunk's CRC32s (and
 * that each inflates to its length), in manifest order, then every
 * file's whole-file CRC32.  Stops at the first bad one: why names it
 * ("chunk 17 (guest RAM 0x1100000-0x11fffff, node 0): bad CRC32 ...")
 * and out says its number.  progress (may be NULL) is called now and
 * then with the bytes done of total.  Returns 0, or -1 with errno
 * (EBADMSG, read's) and why.
 */
int snap_verify(struct snap *s, struct snap_verified *out,
		void (*progress)(void *arg, uint64_t done, uint64_t total),
		void *arg, char *why, size_t whylen);

/*
 * The 4096 bytes of guest RAM at RAM offset off (page aligned) into buf:
 * one pread of the one chunk that holds it (none for a zero page; the
 * last chunk read is kept), its CRC32 checked.  Returns 0, or -1 with
 * errno (EINVAL: off not a page of the VM; EBADMSG; read's) and why.
 */
int snap_read_page(struct snap *s, uint64_t off, void *buf, char *why,
		   size_t whylen);

/*
 * Section i's raw bytes (a state section: raw_bytes of them) into buf of
 * len bytes, CRC32s checked.  Returns 0, or -1 with errno (EINVAL: not a
 * state section, len too small; EBADMSG; read's) and why.
 */
int snap_read_state(struct snap *s, uint32_t i, void *buf, size_t len,
		    char *why, size_t whylen);

/* Closes the files and frees s; NULL is harmless. */
void snap_close(struct snap *s);

#endif
