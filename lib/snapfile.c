/*
 * The snapshot file: layout rules, writer and reader; see
 * include/avm/snapfile.h and man/avm-snap.5.
 *
 * One rule, two users: the checks of a VM's shape (placement, names)
 * are the same functions for the writer, which refuses to write what the
 * reader would refuse, and for the reader.  The reader trusts nothing
 * it reads: every count is bounded before it sizes an allocation and
 * every offset and length is checked against the file's length before
 * it is read.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "avm/config.h"
#include "avm/snapfile.h"
#include "avm/util.h"
#include "avm/wire.h"

#define OFF(s, f) offsetof(struct s, f)
#define PG SNAP_PAGE_SIZE

/* The most sections a file may have. */
#define SECTIONS_MAX \
	(SNAP_VCPUS_MAX + SNAP_DEVICES_MAX + SNAP_NODES_MAX + SNAP_DISKS_MAX)

/* The largest manifest a file may have. */
#define MANIFEST_MAX                                            \
	(SNAP_MANIFEST_SIZE + SNAP_NODES_MAX * SNAP_NODE_SIZE + \
	 SNAP_NODES_MAX * SNAP_PART_SIZE + SECTIONS_MAX * SNAP_SECTION_SIZE)

/* Bytes read at a time for whole-file CRC32s. */
#define CRC_BUF (1u << 20)

/*
 * The devices this build can restore: node 0's device models.  A device
 * that comes more than once is saved under its ops name and index
 * ("virtio-blk3"), one name per instance, so that no two share a
 * section.  since: the format version that added the name; a file of
 * an older version may not use it.
 */
static const struct {
	const char *name;
	uint32_t instances; /* 0: one, named as is; n: name0 .. name<n-1> */
	uint32_t since;
} devices[] = {
	{ "uart", 0, 1 },
	{ "rtc", 0, 1 },
	{ "pm", 0, 1 },
	{ "ioapic", 0, 1 },
	{ "pic", 0, 1 },
	{ "debugexit", 0, 1 },
	{ "virtio-blk", SNAP_DISKS_MAX, 2 },
	{ "virtio-net", SNAP_NETS_MAX, 2 },
};

#define NDEVICES (sizeof(devices) / sizeof(devices[0]))

static void __attribute__((format(printf, 3, 4)))
why_set(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (!why || !whylen)
		return;
	va_start(ap, fmt);
	vsnprintf(why, whylen, fmt, ap);
	va_end(ap);
}

/* Sets why and errno e; returns -1. */
static int __attribute__((format(printf, 4, 5)))
fail_with(char *why, size_t whylen, int e, const char *fmt, ...)
{
	va_list ap;

	if (why && whylen) {
		va_start(ap, fmt);
		vsnprintf(why, whylen, fmt, ap);
		va_end(ap);
	}
	errno = e;
	return -1;
}

#define FAIL(e, ...) fail_with(why, whylen, (e), __VA_ARGS__)
/* The file is not a valid snapshot. */
#define BAD(...) fail_with(why, whylen, EBADMSG, __VA_ARGS__)

/* s is an index below max: decimal digits, no leading zero. */
static bool
instance_ok(const char *s, uint32_t max)
{
	uint32_t v = 0;
	size_t i;

	if (!s[0] || (s[0] == '0' && s[1]) || strlen(s) > 9)
		return false;
	for (i = 0; s[i]; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (uint32_t)(s[i] - '0');
	}
	return v < max;
}

/* 1 when a file of that version may name the device. */
static int
device_known_in(const char *name, uint32_t version)
{
	size_t i, n;

	for (i = 0; i < NDEVICES; i++) {
		if (devices[i].since > version)
			continue;
		n = strlen(devices[i].name);
		if (!devices[i].instances && strcmp(name, devices[i].name) == 0)
			return 1;
		if (devices[i].instances &&
		    strncmp(name, devices[i].name, n) == 0 &&
		    instance_ok(name + n, devices[i].instances))
			return 1;
	}
	return 0;
}

int
snap_device_known(const char *name)
{
	return device_known_in(name, SNAP_VERSION);
}

int
snap_device_instance(const char *base, uint32_t i, char *buf, size_t len)
{
	size_t k;
	int n;

	for (k = 0; k < NDEVICES; k++)
		if (devices[k].instances && strcmp(base, devices[k].name) == 0)
			break;
	if (k == NDEVICES || i >= devices[k].instances) {
		errno = EINVAL;
		return -1;
	}
	n = snprintf(buf, len, "%s%" PRIu32, base, i);
	if (n < 0 || (size_t)n >= len) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

/* The names a file of that version may use, for messages. */
static const char *
device_names_in(uint32_t version, char *buf, size_t len)
{
	size_t i, n = 0;

	buf[0] = '\0';
	for (i = 0; i < NDEVICES && n < len; i++) {
		if (devices[i].since > version)
			continue;
		if (devices[i].instances)
			n += (size_t)snprintf(
				buf + n, len - n, "%s%s0 to %s%" PRIu32,
				n ? ", " : "", devices[i].name, devices[i].name,
				devices[i].instances - 1);
		else
			n += (size_t)snprintf(buf + n, len - n, "%s%s",
					      n ? ", " : "", devices[i].name);
	}
	return buf;
}

const char *
snap_device_names(char *buf, size_t len)
{
	return device_names_in(SNAP_VERSION, buf, len);
}

const char *
snap_type_name(unsigned type)
{
	switch (type) {
	case SNAP_SEC_VCPU:
		return "vcpu";
	case SNAP_SEC_DEVICE:
		return "device";
	case SNAP_SEC_MEMORY:
		return "memory";
	case SNAP_SEC_DISK:
		return "disk";
	default:
		return "unknown";
	}
}

/* [a-z][a-z0-9_-]*, 1..SNAP_DEV_NAME_MAX bytes. */
static bool
dev_name_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > SNAP_DEV_NAME_MAX || s[0] < 'a' || s[0] > 'z')
		return false;
	for (i = 1; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
		      s[i] == '-'))
			return false;
	return true;
}

/* A part's file name: printable, no '/', not "." or "..". */
static bool
part_name_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > SNAP_PART_NAME_MAX || strcmp(s, ".") == 0 ||
	    strcmp(s, "..") == 0)
		return false;
	for (i = 0; i < n; i++)
		if (s[i] <= ' ' || s[i] > '~' || s[i] == '/')
			return false;
	return true;
}

/* "<name>.<id>.node": what every part of that snapshot's name starts
 * with; the length, or -1 when it does not fit in len. */
static int
part_prefix(const char *name, const uint8_t snap_id[16], char *buf, size_t len)
{
	int n = snprintf(buf, len, "%s.%02x%02x%02x%02x.node", name, snap_id[0],
			 snap_id[1], snap_id[2], snap_id[3]);

	return n < 0 || (size_t)n >= len ? -1 : n;
}

int
snap_part_path(const char *main, const uint8_t snap_id[16], uint32_t node,
	       char *buf, size_t len)
{
	const char *base = strrchr(main, '/');
	int n = part_prefix(main, snap_id, buf, len);

	if (n >= 0)
		n += snprintf(buf + n, len - (size_t)n, "%" PRIu32, node);
	if (n < 0 || (size_t)n >= len ||
	    strlen(base ? base + 1 : main) + (size_t)n - strlen(main) >
		    SNAP_PART_NAME_MAX) {
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

static int
has_prefix(const char *name, void *prefix)
{
	return strncmp(name, prefix, strlen(prefix)) == 0;
}

int
snap_parts_remove(const char *main, const uint8_t snap_id[16])
{
	char dir[PATH_MAX], pre[PATH_MAX];
	const char *base = strrchr(main, '/');

	if (part_prefix(base ? base + 1 : main, snap_id, pre, sizeof(pre)) < 0)
		return 0;
	avm_dirname(main, dir, sizeof(dir));
	return avm_remove_if(dir, has_prefix, pre);
}

/*
 * The placement rule (avm/placement.h): node i's vCPUs and pages start
 * where node i - 1's end, each node has at least one of each, and they
 * add up to the VM's.  Returns 0, or -1 with why (not prefixed).
 */
static int
placement_ok(uint32_t vcpus, uint64_t pages, uint32_t nodes,
	     const struct placement_node *p, char *why, size_t whylen)
{
	uint64_t v = 0, pg = 0;
	uint32_t i;

	for (i = 0; i < nodes; i++) {
		if (p[i].vcpu_first != v || p[i].vcpu_count == 0)
			return FAIL(EINVAL,
				    "node %" PRIu32 ": vCPUs %" PRIu32
				    "+%" PRIu32 ", expected from %" PRIu64
				    ", at least one",
				    i, p[i].vcpu_first, p[i].vcpu_count, v);
		if (p[i].page_first != pg || p[i].page_count == 0)
			return FAIL(EINVAL,
				    "node %" PRIu32 ": pages %" PRIu64
				    "+%" PRIu64 ", expected from %" PRIu64
				    ", at least one",
				    i, p[i].page_first, p[i].page_count, pg);
		v += p[i].vcpu_count;
		pg += p[i].page_count;
		if (v > vcpus || pg > pages)
			break;
	}
	if (v != vcpus || pg != pages)
		return FAIL(EINVAL,
			    "the nodes hold %" PRIu64 " vCPUs and %" PRIu64
			    " pages, the VM %" PRIu32 " and %" PRIu64,
			    v, pg, vcpus, pages);
	return 0;
}

static uint32_t
crc_of(uint32_t crc, const void *p, uint64_t len)
{
	const uint8_t *b = p;
	uInt n;

	while (len) {
		n = len > (1u << 30) ? (1u << 30) : (uInt)len;
		crc = (uint32_t)crc32(crc, b, n);
		b += n;
		len -= n;
	}
	return crc;
}

static bool
all_zero(const void *p, size_t len)
{
	const uint8_t *b = p;
	size_t i;

	for (i = 0; i < len; i++)
		if (b[i])
			return false;
	return true;
}

/* A page of zeros, tested a word at a time. */
static bool
page_zero(const uint8_t *p)
{
	uint64_t w;
	size_t i;

	for (i = 0; i < PG; i += sizeof(w)) {
		memcpy(&w, p + i, sizeof(w));
		if (w)
			return false;
	}
	return true;
}

/* Copies a NUL-padded field of len bytes; false when not terminated or
 * not padded with NULs. */
static bool
field_str(const uint8_t *f, size_t len, char *out)
{
	size_t n = strnlen((const char *)f, len);

	if (n == len || !all_zero(f + n, len - n))
		return false;
	memcpy(out, f, n);
	out[n] = '\0';
	return true;
}

static bool
printable(const char *s)
{
	for (; *s; s++)
		if (*s < ' ' || *s > '~')
			return false;
	return true;
}

static int
pread_full(int fd, void *buf, size_t len, uint64_t off)
{
	uint8_t *p = buf;
	ssize_t n;

	while (len) {
		n = pread(fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0) {
			errno = EIO; /* the file shrank under us */
			return -1;
		}
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

static int
pwrite_full(int fd, const void *buf, size_t len, uint64_t off)
{
	const uint8_t *p = buf;
	ssize_t n;

	while (len) {
		n = pwrite(fd, p, len, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		p += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/* "0x1100000-0x11fffff": RAM [first, first + len), len > 0. */
static const char *
ram_range(uint64_t first, uint64_t len, char *buf, size_t buflen)
{
	snprintf(buf, buflen, "0x%" PRIx64 "-0x%" PRIx64, first,
		 first + len - 1);
	return buf;
}

/* ===== disks ============================================================= */

/*
 * A disk's path: absolute, 1 to SNAP_DISK_PATH_MAX bytes of n, no NUL
 * and no control character (it is printed in messages).  Returns NULL,
 * or what is wrong with it ("is not absolute").
 */
static const char *
disk_path_bad(const char *p, size_t n)
{
	size_t i;

	if (n == 0 || n > SNAP_DISK_PATH_MAX)
		return "is not 1 to 4095 bytes";
	for (i = 0; i < n; i++) {
		if (p[i] == '\0')
			return "holds a NUL byte";
		if ((unsigned char)p[i] < ' ' || p[i] == 0x7f)
			return "holds a control character";
	}
	if (p[0] != '/')
		return "is not absolute";
	return NULL;
}

/* "2026-12-07 01:40:02.123456789 UTC" */
static const char *
time_format(int64_t sec, uint32_t ns, char *buf, size_t len)
{
	time_t t = (time_t)sec;
	struct tm tm;
	char d[48];

	if (gmtime_r(&t, &tm) &&
	    strftime(d, sizeof(d), "%Y-%m-%d %H:%M:%S", &tm))
		snprintf(buf, len, "%s.%09" PRIu32 " UTC", d, ns);
	else
		snprintf(buf, len, "%" PRId64 ".%09" PRIu32 " s since 1970",
			 sec, ns);
	return buf;
}

int
snap_disk_init(struct snap_disk *d, uint32_t index, const char *path, int fd,
	       int readonly, char *why, size_t whylen)
{
	struct snap_disk t = { .index = index, .readonly = !!readonly };
	size_t n = strlen(path);
	const char *bad;
	struct stat st;

	if (index >= SNAP_DISKS_MAX)
		return FAIL(EINVAL, "disk %" PRIu32 ": not in 0..%u", index,
			    SNAP_DISKS_MAX - 1);
	if (n > SNAP_DISK_PATH_MAX)
		return FAIL(ENAMETOOLONG,
			    "disk %" PRIu32 ": a path of %zu bytes, at most "
			    "%u",
			    index, n, SNAP_DISK_PATH_MAX);
	bad = disk_path_bad(path, n);
	if (bad)
		return FAIL(EINVAL, "disk %" PRIu32 " '%s': the path %s", index,
			    path, bad);
	if ((fd >= 0 ? fstat(fd, &st) : stat(path, &st)) < 0)
		return FAIL(errno, "disk %" PRIu32 " '%s': %s", index, path,
			    strerror(errno));
	if (!S_ISREG(st.st_mode))
		return FAIL(EINVAL, "disk %" PRIu32 " '%s': not a regular file",
			    index, path);
	/* path may be d->path: copied before d is written. */
	memcpy(t.path, path, n + 1);
	t.size_bytes = (uint64_t)st.st_size;
	t.mtime_s = (int64_t)st.st_mtim.tv_sec;
	t.mtime_ns = (uint32_t)st.st_mtim.tv_nsec;
	*d = t;
	return 0;
}

const char *
snap_disk_mtime(const struct snap_disk *d, char *buf, size_t len)
{
	return time_format(d->mtime_s, d->mtime_ns, buf, len);
}

int
snap_disk_check(const struct snap_disk *d, char *why, size_t whylen)
{
	char now[64], then[64];
	struct stat st;

	if (stat(d->path, &st) < 0)
		return FAIL(errno, "disk %" PRIu32 " '%s': %s", d->index,
			    d->path, strerror(errno));
	if (!S_ISREG(st.st_mode)) {
		why_set(why, whylen,
			"disk %" PRIu32 " '%s': not a regular file now",
			d->index, d->path);
		return 1;
	}
	if ((uint64_t)st.st_size != d->size_bytes) {
		why_set(why, whylen,
			"disk %" PRIu32 " '%s': %" PRIu64 " bytes now, %" PRIu64
			" when saved",
			d->index, d->path, (uint64_t)st.st_size, d->size_bytes);
		return 1;
	}
	if ((int64_t)st.st_mtim.tv_sec != d->mtime_s ||
	    (uint32_t)st.st_mtim.tv_nsec != d->mtime_ns) {
		why_set(why, whylen,
			"disk %" PRIu32 " '%s': modified since the snapshot: "
			"%s now, %s when saved",
			d->index, d->path,
			time_format((int64_t)st.st_mtim.tv_sec,
				    (uint32_t)st.st_mtim.tv_nsec, now,
				    sizeof(now)),
			snap_disk_mtime(d, then, sizeof(then)));
		return 1;
	}
	return 0;
}

/* The rules of a record, for the writer's input and the reader's. */
static int
disk_ok(const struct snap_disk *d, char *why, size_t whylen)
{
	const char *bad =
		disk_path_bad(d->path, strnlen(d->path, sizeof(d->path)));

	if (d->index >= SNAP_DISKS_MAX)
		return FAIL(EINVAL, "disk %" PRIu32 ": not in 0..%u", d->index,
			    SNAP_DISKS_MAX - 1);
	if (bad)
		return FAIL(EINVAL, "disk %" PRIu32 ": the path %s", d->index,
			    bad);
	if (d->mtime_ns > 999999999u)
		return FAIL(EINVAL,
			    "disk %" PRIu32 ": a modification time with "
			    "%" PRIu32 " ns, at most 999999999",
			    d->index, d->mtime_ns);
	if (d->size_bytes > INT64_MAX)
		return FAIL(EINVAL,
			    "disk %" PRIu32 ": %" PRIu64 " bytes, more than a "
			    "file can hold",
			    d->index, d->size_bytes);
	return 0;
}

/* d's record into b (SNAP_DISK_SIZE + its path's bytes, zeroed). */
static size_t
disk_encode(const struct snap_disk *d, uint8_t *b)
{
	size_t n = strlen(d->path);

	wire_put64(b + OFF(snap_disk_le, size_bytes), d->size_bytes);
	wire_put64(b + OFF(snap_disk_le, mtime_s), (uint64_t)d->mtime_s);
	wire_put32(b + OFF(snap_disk_le, mtime_ns), d->mtime_ns);
	wire_put32(b + OFF(snap_disk_le, flags),
		   d->readonly ? SNAP_DISK_RO : 0);
	memcpy(b + SNAP_DISK_SIZE, d->path, n);
	return SNAP_DISK_SIZE + n;
}

/* The record b of len bytes (its length checked) of disk index into d;
 * EBADMSG when it breaks a rule. */
static int
disk_decode(const uint8_t *b, size_t len, uint32_t index, struct snap_disk *d,
	    char *why, size_t whylen)
{
	size_t n = len - SNAP_DISK_SIZE;
	uint32_t flags = wire_get32(b + OFF(snap_disk_le, flags));
	const char *bad;
	char tmp[128];

	memset(d, 0, sizeof(*d));
	d->index = index;
	d->size_bytes = wire_get64(b + OFF(snap_disk_le, size_bytes));
	d->mtime_s = (int64_t)wire_get64(b + OFF(snap_disk_le, mtime_s));
	d->mtime_ns = wire_get32(b + OFF(snap_disk_le, mtime_ns));
	d->readonly = !!(flags & SNAP_DISK_RO);
	if (!all_zero(b + OFF(snap_disk_le, reserved), 8))
		return BAD("disk %" PRIu32 ": reserved bytes not zero", index);
	if (flags & ~SNAP_DISK_KNOWN)
		return BAD("disk %" PRIu32 ": unknown flags 0x%" PRIx32, index,
			   flags & ~SNAP_DISK_KNOWN);
	/* All n bytes: a NUL inside would cut the path short. */
	bad = disk_path_bad((const char *)b + SNAP_DISK_SIZE, n);
	if (bad)
		return BAD("disk %" PRIu32 ": the path %s", index, bad);
	memcpy(d->path, b + SNAP_DISK_SIZE, n);
	d->path[n] = '\0';
	if (disk_ok(d, tmp, sizeof(tmp)) < 0)
		return BAD("%s", tmp);
	return 0;
}

/* ===== writer ============================================================ */

/*
 * A file being written: the header (and in the main file the manifest)
 * are left as a hole at the front and written last, once the file's
 * length and CRC32s are known; crc covers the bytes after the front.
 */
struct sfile {
	int fd;
	char path[PATH_MAX];
	char tmp[PATH_MAX];
	uint64_t front; /* header (+ manifest) bytes */
	uint64_t off;	/* where the next byte goes */
	uint32_t crc;	/* CRC32 of bytes [front, off) */
};

static int
sfile_create(struct sfile *f, const char *path, uint64_t front, char *why,
	     size_t whylen)
{
	memset(f, 0, sizeof(*f));
	f->fd = -1;
	if (snprintf(f->path, sizeof(f->path), "%s", path) >=
		    (int)sizeof(f->path) ||
	    snprintf(f->tmp, sizeof(f->tmp), "%s.tmp.%d", path,
		     (int)getpid()) >= (int)sizeof(f->tmp))
		return FAIL(ENAMETOOLONG, "'%s': path too long", path);
	f->fd = open(f->tmp,
		     O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
		     0600);
	if (f->fd < 0)
		return FAIL(errno, "create '%s': %s", f->tmp, strerror(errno));
	f->front = front;
	f->off = front;
	f->crc = (uint32_t)crc32(0, NULL, 0);
	return 0;
}

static int
sfile_append(struct sfile *f, const void *p, size_t len, char *why,
	     size_t whylen)
{
	if (pwrite_full(f->fd, p, len, f->off) < 0)
		return FAIL(errno, "write '%s': %s", f->tmp, strerror(errno));
	f->crc = crc_of(f->crc, p, len);
	f->off += len;
	return 0;
}

/* Removes what f made; keeps errno. */
static void
sfile_discard(struct sfile *f)
{
	int e = errno;

	if (f->fd >= 0) {
		close(f->fd);
		f->fd = -1;
	}
	if (f->tmp[0])
		unlink(f->tmp);
	f->tmp[0] = '\0';
	errno = e;
}

/* fsync of the folder of path, so the rename survives a power cut. */
static int
sync_dir(const char *path)
{
	char dir[PATH_MAX];
	int fd, rc;

	avm_dirname(path, dir, sizeof(dir));
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	rc = fsync(fd);
	/* EINVAL: a file system that cannot sync a folder. */
	if (rc < 0 && errno == EINVAL)
		rc = 0;
	close(fd);
	return rc;
}

/*
 * Finishes f: the header (flags, part, id, manifest of mlen bytes at 64
 * or none) at the front, the trailer at the end, fsync, rename, sync the
 * folder.  *file_crc gets the whole-file CRC32.  On failure nothing is
 * left under the temporary name or the path.
 */
static int
sfile_commit(struct sfile *f, uint32_t flags, uint32_t part,
	     const uint8_t id[16], const uint8_t *manifest, uint32_t mlen,
	     uint32_t *file_crc, char *why, size_t whylen)
{
	uint8_t hdr[SNAP_HDR_SIZE] = { 0 }, tr[SNAP_TRAILER_SIZE] = { 0 };
	uint64_t moff = mlen ? SNAP_HDR_SIZE : 0;
	uint32_t mcrc = mlen ? crc_of(0, manifest, mlen) : 0, crc;
	uint64_t file_bytes = f->off + SNAP_TRAILER_SIZE;

	memcpy(hdr + OFF(snap_hdr_le, magic), SNAP_MAGIC, 8);
	wire_put32(hdr + OFF(snap_hdr_le, version), SNAP_VERSION);
	wire_put32(hdr + OFF(snap_hdr_le, flags), flags);
	memcpy(hdr + OFF(snap_hdr_le, snap_id), id, 16);
	wire_put64(hdr + OFF(snap_hdr_le, file_bytes), file_bytes);
	wire_put64(hdr + OFF(snap_hdr_le, manifest_off), moff);
	wire_put32(hdr + OFF(snap_hdr_le, manifest_bytes), mlen);
	wire_put32(hdr + OFF(snap_hdr_le, manifest_crc), mcrc);
	wire_put32(hdr + OFF(snap_hdr_le, part), part);
	wire_put32(hdr + OFF(snap_hdr_le, hdr_crc),
		   crc_of(0, hdr, OFF(snap_hdr_le, hdr_crc)));

	crc = crc_of(0, hdr, sizeof(hdr));
	if (mlen)
		crc = crc_of(crc, manifest, mlen);
	crc = (uint32_t)crc32_combine(crc, f->crc,
				      (z_off_t)(f->off - f->front));
	*file_crc = crc;

	memcpy(tr + OFF(snap_trailer_le, magic), SNAP_TRAILER_MAGIC, 8);
	wire_put64(tr + OFF(snap_trailer_le, manifest_off), moff);
	wire_put32(tr + OFF(snap_trailer_le, manifest_bytes), mlen);
	wire_put32(tr + OFF(snap_trailer_le, manifest_crc), mcrc);
	wire_put32(tr + OFF(snap_trailer_le, file_crc), crc);
	wire_put32(tr + OFF(snap_trailer_le, trailer_crc),
		   crc_of(0, tr, OFF(snap_trailer_le, trailer_crc)));

	if (pwrite_full(f->fd, tr, sizeof(tr), f->off) < 0 ||
	    pwrite_full(f->fd, hdr, sizeof(hdr), 0) < 0 ||
	    (mlen && pwrite_full(f->fd, manifest, mlen, SNAP_HDR_SIZE) < 0)) {
		why_set(why, whylen, "write '%s': %s", f->tmp, strerror(errno));
		goto fail;
	}
	if (fsync(f->fd) < 0) {
		why_set(why, whylen, "fsync '%s': %s", f->tmp, strerror(errno));
		goto fail;
	}
	if (close(f->fd) < 0) {
		f->fd = -1;
		why_set(why, whylen, "close '%s': %s", f->tmp, strerror(errno));
		goto fail;
	}
	f->fd = -1;
	if (rename(f->tmp, f->path) < 0) {
		why_set(why, whylen, "rename '%s' to '%s': %s", f->tmp, f->path,
			strerror(errno));
		goto fail;
	}
	f->tmp[0] = '\0';
	if (sync_dir(f->path) < 0) {
		/* Whole but not known to last: not a snapshot we vouch for. */
		why_set(why, whylen, "fsync the folder of '%s': %s", f->path,
			strerror(errno));
		int e = errno;
		unlink(f->path);
		errno = e;
		return -1;
	}
	return 0;
fail:
	sfile_discard(f);
	return -1;
}

/* Where one memory range went in its file. */
struct mem_out {
	uint64_t offset, stored, index_off;
	uint32_t chunks, index_crc;
};

static int
resolve_opts(const struct snap_write_opts *o, int *level, uint32_t *cpages,
	     char *why, size_t whylen)
{
	*level = o ? o->level : Z_DEFAULT_COMPRESSION;
	*cpages =
		o && o->chunk_pages ? o->chunk_pages : SNAP_CHUNK_PAGES_DEFAULT;
	if (*level < -1 || *level > 9)
		return FAIL(EINVAL, "compression level %d: not in 0..9",
			    *level);
	if (*cpages > SNAP_CHUNK_PAGES_MAX)
		return FAIL(EINVAL, "%" PRIu32 " pages a chunk: not in 1..%u",
			    *cpages, SNAP_CHUNK_PAGES_MAX);
	return 0;
}

/*
 * Writes RAM [ram_off, ram_off + bytes) through fn into f as chunks and
 * then their index, and says where in *out.
 */
static int
write_mem(struct sfile *f, uint64_t ram_off, uint64_t bytes, uint32_t cpages,
	  int level, snap_mem_fn fn, void *arg, struct mem_out *out, char *why,
	  size_t whylen)
{
	uint64_t pages = bytes / PG, done = 0, nchunks;
	size_t cbytes = (size_t)cpages * PG;
	uLongf zlen;
	uint8_t *buf = NULL, *z = NULL, *index = NULL, *e;
	const uint8_t *stored;
	uint32_t n, p, k, slen, flags;
	uint64_t c;
	char r[48];
	int rc = -1, zr;

	nchunks = (pages + cpages - 1) / cpages;
	if (nchunks > UINT32_MAX || nchunks > SIZE_MAX / SNAP_CHUNK_SIZE)
		return FAIL(EINVAL, "%" PRIu64 " chunks: too many", nchunks);
	buf = malloc(cbytes);
	z = malloc(compressBound((uLong)cbytes));
	index = calloc((size_t)nchunks, SNAP_CHUNK_SIZE);
	if (!buf || !z || !index) {
		FAIL(ENOMEM, "out of memory");
		goto out;
	}
	out->offset = f->off;
	for (c = 0; c < nchunks; c++, done += n) {
		n = (uint32_t)(pages - done < cpages ? pages - done : cpages);
		e = index + c * SNAP_CHUNK_SIZE;
		zr = fn(arg, ram_off + done * PG, buf, (size_t)n * PG);
		if (zr < 0) {
			FAIL(-zr, "guest RAM %s: %s",
			     ram_range(ram_off + done * PG, (uint64_t)n * PG, r,
				       sizeof(r)),
			     strerror(-zr));
			goto out;
		}
		/* Pack the pages that are not zero to the front. */
		for (p = 0, k = 0; p < n; p++) {
			if (page_zero(buf + (size_t)p * PG)) {
				e[OFF(snap_chunk_le, zero_map) + p / 8] |=
					(uint8_t)(1u << (p % 8));
				continue;
			}
			if (k != p)
				memcpy(buf + (size_t)k * PG,
				       buf + (size_t)p * PG, PG);
			k++;
		}
		if (k == 0)
			continue; /* every page zero: nothing stored */
		stored = buf;
		slen = k * PG;
		flags = 0;
		zlen = compressBound((uLong)slen);
		if (level != 0 &&
		    compress2(z, &zlen, buf, slen, level) == Z_OK &&
		    zlen < slen) {
			stored = z;
			slen = (uint32_t)zlen;
			flags = SNAP_CHUNK_DEFLATE;
		}
		wire_put64(e + OFF(snap_chunk_le, offset), f->off);
		wire_put32(e + OFF(snap_chunk_le, stored), slen);
		wire_put32(e + OFF(snap_chunk_le, raw), k * PG);
		wire_put32(e + OFF(snap_chunk_le, crc),
			   crc_of(0, stored, slen));
		wire_put32(e + OFF(snap_chunk_le, raw_crc),
			   crc_of(0, buf, (uint64_t)k * PG));
		wire_put32(e + OFF(snap_chunk_le, flags), flags);
		if (sfile_append(f, stored, slen, why, whylen) < 0)
			goto out;
	}
	out->index_off = f->off;
	out->chunks = (uint32_t)nchunks;
	out->index_crc = crc_of(0, index, nchunks * SNAP_CHUNK_SIZE);
	if (sfile_append(f, index, (size_t)nchunks * SNAP_CHUNK_SIZE, why,
			 whylen) < 0)
		goto out;
	out->stored = f->off - out->offset;
	rc = 0;
out:
	free(buf);
	free(z);
	free(index);
	return rc;
}

int
snap_mem_buffer(void *arg, uint64_t off, void *buf, size_t len)
{
	memcpy(buf, (const uint8_t *)arg + off, len);
	return 0;
}

struct wsec {
	struct snap_section s;
	bool given;
	int part_node; /* memory in a part: the node, else -1 */
};

struct snap_writer {
	struct sfile f;
	uint8_t id[16];
	char vm[SNAP_VM_NAME_MAX + 1];
	char writer[SNAP_WRITER_MAX + 1];
	uint32_t vcpus, nodes, ndev, ndisk;
	uint64_t mem_bytes, created;
	bool parts; /* memory in part files */
	struct placement_node *node;
	int level;
	uint32_t cpages;
	struct wsec *sec; /* vCPUs, devices, memory of each node, disks */
	uint32_t nsec;
	struct snap_disk *disk;	     /* [ndisk], as declared */
	struct snap_part_info *part; /* [nodes]: by node, name "" if none */
	char dir[PATH_MAX];	     /* the main file's folder */
	bool failed;
	char failed_why[256];
};

/* Marks w failed with why (the first reason is kept) and returns -1. */
static int
w_fail(struct snap_writer *w, char *why, size_t whylen)
{
	int e = errno;

	if (!w->failed && why && whylen)
		snprintf(w->failed_why, sizeof(w->failed_why), "%s", why);
	w->failed = true;
	errno = e;
	return -1;
}

static int
w_usable(struct snap_writer *w, char *why, size_t whylen)
{
	if (w->failed)
		return FAIL(EINVAL, "an earlier step failed: %s",
			    w->failed_why);
	return 0;
}

/* Checks vm as the reader would check its manifest. */
static int
vm_ok(const struct snap_vm *vm, char *why, size_t whylen)
{
	uint32_t i, j;

	if (!vm->name || !config_vm_name_ok(vm->name))
		return FAIL(EINVAL,
			    "VM name '%s': 1 to %d of A-Z a-z 0-9 . _ -",
			    vm->name ? vm->name : "", SNAP_VM_NAME_MAX);
	if (vm->vcpus == 0 || vm->vcpus > SNAP_VCPUS_MAX)
		return FAIL(EINVAL, "%" PRIu32 " vCPUs: not in 1..%u",
			    vm->vcpus, SNAP_VCPUS_MAX);
	if (vm->mem_bytes == 0 || vm->mem_bytes % PG ||
	    vm->mem_bytes > SNAP_MEM_MAX)
		return FAIL(EINVAL,
			    "memory %" PRIu64 " bytes: not whole pages up "
			    "to 64T",
			    vm->mem_bytes);
	if (vm->nodes == 0 || vm->nodes > SNAP_NODES_MAX || !vm->placement)
		return FAIL(EINVAL, "%" PRIu32 " nodes: not in 1..%u",
			    vm->nodes, SNAP_NODES_MAX);
	if (placement_ok(vm->vcpus, vm->mem_bytes / PG, vm->nodes,
			 vm->placement, why, whylen) < 0)
		return -1;
	if (vm->ndevices > SNAP_DEVICES_MAX || (vm->ndevices && !vm->devices))
		return FAIL(EINVAL, "%" PRIu32 " devices: at most %u",
			    vm->ndevices, SNAP_DEVICES_MAX);
	for (i = 0; i < vm->ndevices; i++) {
		if (!vm->devices[i] || !dev_name_ok(vm->devices[i]))
			return FAIL(EINVAL,
				    "device name '%s': 1 to %d of a-z 0-9 _ "
				    "-, from a letter",
				    vm->devices[i] ? vm->devices[i] : "",
				    SNAP_DEV_NAME_MAX);
		for (j = 0; j < i; j++)
			if (strcmp(vm->devices[i], vm->devices[j]) == 0)
				return FAIL(EINVAL, "device '%s' twice",
					    vm->devices[i]);
	}
	if (vm->ndisks > SNAP_DISKS_MAX || (vm->ndisks && !vm->disks))
		return FAIL(EINVAL, "%" PRIu32 " disks: at most %u", vm->ndisks,
			    SNAP_DISKS_MAX);
	for (i = 0; i < vm->ndisks; i++) {
		if (disk_ok(&vm->disks[i], why, whylen) < 0)
			return -1;
		for (j = 0; j < i; j++)
			if (vm->disks[i].index == vm->disks[j].index)
				return FAIL(EINVAL, "disk %" PRIu32 " twice",
					    vm->disks[i].index);
	}
	return 0;
}

struct snap_writer *
snap_writer_open(const char *path, const struct snap_vm *vm,
		 const struct snap_write_opts *opts, char *why, size_t whylen)
{
	struct snap_writer *w;
	uint32_t i, k;
	uint64_t front;
	char *slash;
	int n;

	if (!path || !vm) {
		FAIL(EINVAL, "no path or VM");
		return NULL;
	}
	if (vm_ok(vm, why, whylen) < 0)
		return NULL;
	w = calloc(1, sizeof(*w));
	if (!w) {
		FAIL(ENOMEM, "out of memory");
		return NULL;
	}
	w->f.fd = -1;
	if (resolve_opts(opts, &w->level, &w->cpages, why, whylen) < 0)
		goto fail;
	n = snprintf(w->writer, sizeof(w->writer), "%s",
		     opts && opts->writer ? opts->writer : "avm " AVM_VERSION);
	if (n < 0 || n >= (int)sizeof(w->writer) || !printable(w->writer)) {
		FAIL(EINVAL, "writer '%s': printable, at most %d bytes",
		     opts->writer, SNAP_WRITER_MAX);
		goto fail;
	}
	w->created = opts && opts->created_unix_s ? opts->created_unix_s
						  : (uint64_t)time(NULL);
	snprintf(w->vm, sizeof(w->vm), "%s", vm->name);
	w->vcpus = vm->vcpus;
	w->nodes = vm->nodes;
	w->ndev = vm->ndevices;
	w->ndisk = vm->ndisks;
	w->mem_bytes = vm->mem_bytes;
	w->nsec = vm->vcpus + vm->ndevices + vm->nodes + vm->ndisks;
	w->node = calloc(vm->nodes, sizeof(*w->node));
	w->sec = calloc(w->nsec, sizeof(*w->sec));
	w->part = calloc(vm->nodes, sizeof(*w->part));
	w->disk = calloc(vm->ndisks ? vm->ndisks : 1, sizeof(*w->disk));
	if (!w->node || !w->sec || !w->part || !w->disk) {
		FAIL(ENOMEM, "out of memory");
		goto fail;
	}
	memcpy(w->node, vm->placement, vm->nodes * sizeof(*w->node));
	if (vm->ndisks)
		memcpy(w->disk, vm->disks, vm->ndisks * sizeof(*w->disk));
	for (i = 0; i < w->nsec; i++) {
		struct snap_section *s = &w->sec[i].s;

		w->sec[i].part_node = -1;
		if (i < vm->vcpus) {
			s->type = SNAP_SEC_VCPU;
			s->id = i;
		} else if ((k = i - vm->vcpus) < vm->ndevices) {
			s->type = SNAP_SEC_DEVICE;
			snprintf(s->name, sizeof(s->name), "%s",
				 vm->devices[k]);
		} else if ((k -= vm->ndevices) < vm->nodes) {
			s->type = SNAP_SEC_MEMORY;
			s->id = k;
			s->ram_off = w->node[s->id].page_first * PG;
			s->raw_bytes = w->node[s->id].page_count * PG;
		} else {
			s->type = SNAP_SEC_DISK;
			s->id = w->disk[k - vm->nodes].index;
		}
	}
	snprintf(w->dir, sizeof(w->dir), "%s", path);
	slash = strrchr(w->dir, '/');
	if (!slash)
		snprintf(w->dir, sizeof(w->dir), ".");
	else if (slash == w->dir)
		w->dir[1] = '\0';
	else
		*slash = '\0';
	if (getrandom(w->id, sizeof(w->id), 0) != sizeof(w->id)) {
		FAIL(errno, "getrandom: %s", strerror(errno));
		goto fail;
	}
	w->parts = opts && opts->parts;
	front = SNAP_HDR_SIZE + SNAP_MANIFEST_SIZE +
		(uint64_t)w->nodes * SNAP_NODE_SIZE +
		(w->parts ? (uint64_t)w->nodes * SNAP_PART_SIZE : 0) +
		(uint64_t)w->nsec * SNAP_SECTION_SIZE;
	if (sfile_create(&w->f, path, front, why, whylen) < 0)
		goto fail;
	return w;
fail:
	free(w->node);
	free(w->sec);
	free(w->part);
	free(w->disk);
	free(w);
	return NULL;
}

const uint8_t *
snap_writer_id(const struct snap_writer *w)
{
	return w->id;
}

static int
write_state(struct snap_writer *w, struct wsec *ws, const void *data,
	    size_t len, char *why, size_t whylen)
{
	struct snap_section *s = &ws->s;
	uLongf zlen = compressBound((uLong)len);
	const void *stored = data;
	uint8_t *z = NULL;
	int rc;

	if (len > SNAP_STATE_MAX)
		return FAIL(EINVAL, "%zu bytes of state: at most %u", len,
			    SNAP_STATE_MAX);
	if (len && !data)
		return FAIL(EINVAL, "no state bytes");
	s->offset = w->f.off;
	s->raw_bytes = len;
	s->stored_bytes = len;
	s->raw_crc = crc_of(0, data, len);
	if (len && w->level != 0) {
		z = malloc(zlen);
		if (!z)
			return FAIL(ENOMEM, "out of memory");
		if (compress2(z, &zlen, data, (uLong)len, w->level) == Z_OK &&
		    zlen < len) {
			stored = z;
			s->stored_bytes = zlen;
			s->flags = SNAP_SEC_DEFLATE;
		}
	}
	s->crc = crc_of(0, stored, s->stored_bytes);
	rc = sfile_append(&w->f, stored, (size_t)s->stored_bytes, why, whylen);
	free(z);
	if (rc == 0)
		ws->given = true;
	return rc;
}

int
snap_write_vcpu(struct snap_writer *w, uint32_t vcpu, const void *data,
		size_t len, char *why, size_t whylen)
{
	if (w_usable(w, why, whylen) < 0)
		return -1;
	if (vcpu >= w->vcpus)
		return FAIL(EINVAL, "vCPU %" PRIu32 ": the VM has %" PRIu32,
			    vcpu, w->vcpus);
	if (w->sec[vcpu].given)
		return FAIL(EINVAL, "vCPU %" PRIu32 " given twice", vcpu);
	if (write_state(w, &w->sec[vcpu], data, len, why, whylen) < 0)
		return w_fail(w, why, whylen);
	return 0;
}

int
snap_write_device(struct snap_writer *w, const char *name, const void *data,
		  size_t len, char *why, size_t whylen)
{
	uint32_t i;

	if (w_usable(w, why, whylen) < 0)
		return -1;
	for (i = w->vcpus; i < w->vcpus + w->ndev; i++)
		if (strcmp(w->sec[i].s.name, name) == 0)
			break;
	if (i == w->vcpus + w->ndev)
		return FAIL(EINVAL, "device '%s' was not declared", name);
	if (w->sec[i].given)
		return FAIL(EINVAL, "device '%s' given twice", name);
	if (write_state(w, &w->sec[i], data, len, why, whylen) < 0)
		return w_fail(w, why, whylen);
	return 0;
}

int
snap_write_memory(struct snap_writer *w, uint32_t node, snap_mem_fn fn,
		  void *arg, char *why, size_t whylen)
{
	struct wsec *ws;
	struct mem_out o;

	if (w_usable(w, why, whylen) < 0)
		return -1;
	if (node >= w->nodes || !fn)
		return FAIL(EINVAL, "node %" PRIu32 ": the VM has %" PRIu32,
			    node, w->nodes);
	if (w->parts)
		return FAIL(EINVAL, "memory goes in part files here");
	ws = &w->sec[w->vcpus + w->ndev + node];
	if (ws->given)
		return FAIL(EINVAL, "memory of node %" PRIu32 " given twice",
			    node);
	if (write_mem(&w->f, ws->s.ram_off, ws->s.raw_bytes, w->cpages,
		      w->level, fn, arg, &o, why, whylen) < 0)
		return w_fail(w, why, whylen);
	ws->s.offset = o.offset;
	ws->s.stored_bytes = o.stored;
	ws->s.index_off = o.index_off;
	ws->s.chunks = o.chunks;
	ws->s.crc = o.index_crc;
	ws->given = true;
	return 0;
}

int
snap_part_write(const char *path, const uint8_t snap_id[16], uint32_t node,
		uint64_t ram_off, uint64_t ram_bytes,
		const struct snap_write_opts *opts, snap_mem_fn fn, void *arg,
		struct snap_part_info *out, char *why, size_t whylen)
{
	const char *base = strrchr(path, '/');
	struct sfile f;
	struct mem_out o;
	uint32_t cpages;
	int level;

	base = base ? base + 1 : path;
	memset(out, 0, sizeof(*out));
	if (resolve_opts(opts, &level, &cpages, why, whylen) < 0)
		return -1;
	if (!part_name_ok(base))
		return FAIL(EINVAL,
			    "part name '%s': printable, no '/', at most %d "
			    "bytes",
			    base, SNAP_PART_NAME_MAX);
	if (node >= SNAP_NODES_MAX || !fn || ram_bytes == 0 || ram_bytes % PG ||
	    ram_off % PG || ram_bytes > SNAP_MEM_MAX ||
	    ram_off > SNAP_MEM_MAX - ram_bytes)
		return FAIL(EINVAL, "node %" PRIu32 ": bad memory range", node);
	if (sfile_create(&f, path, SNAP_HDR_SIZE, why, whylen) < 0)
		return -1;
	if (write_mem(&f, ram_off, ram_bytes, cpages, level, fn, arg, &o, why,
		      whylen) < 0) {
		sfile_discard(&f);
		return -1;
	}
	out->node = node;
	snprintf(out->name, sizeof(out->name), "%s", base);
	out->file_bytes = f.off + SNAP_TRAILER_SIZE;
	out->ram_off = ram_off;
	out->ram_bytes = ram_bytes;
	out->offset = o.offset;
	out->stored_bytes = o.stored;
	out->index_off = o.index_off;
	out->chunks = o.chunks;
	out->index_crc = o.index_crc;
	return sfile_commit(&f, SNAP_F_PART, node + 1, snap_id, NULL, 0,
			    &out->file_crc, why, whylen);
}

int
snap_writer_add_part(struct snap_writer *w, const struct snap_part_info *part,
		     char *why, size_t whylen)
{
	struct wsec *ws;
	struct stat st;
	char p[PATH_MAX];
	uint64_t cb = (uint64_t)w->cpages * PG;

	if (w_usable(w, why, whylen) < 0)
		return -1;
	if (!w->parts)
		return FAIL(EINVAL, "memory goes in the main file here");
	if (part->node >= w->nodes)
		return FAIL(EINVAL,
			    "part of node %" PRIu32 ": the VM has %" PRIu32
			    " nodes",
			    part->node, w->nodes);
	ws = &w->sec[w->vcpus + w->ndev + part->node];
	if (ws->given)
		return FAIL(EINVAL, "memory of node %" PRIu32 " given twice",
			    part->node);
	if (!part_name_ok(part->name))
		return FAIL(EINVAL, "part name '%s'", part->name);
	if (part->ram_off != ws->s.ram_off ||
	    part->ram_bytes != ws->s.raw_bytes ||
	    part->chunks != (ws->s.raw_bytes + cb - 1) / cb)
		return FAIL(EINVAL,
			    "part '%s' holds other memory than node %" PRIu32
			    "'s (or in other chunks)",
			    part->name, part->node);
	if (snprintf(p, sizeof(p), "%s/%s", w->dir, part->name) >=
	    (int)sizeof(p))
		return FAIL(ENAMETOOLONG, "part '%s': path too long",
			    part->name);
	if (lstat(p, &st) < 0)
		return FAIL(errno, "part '%s': %s", p, strerror(errno));
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != part->file_bytes)
		return FAIL(EINVAL,
			    "part '%s' is not the %" PRIu64 "-byte file "
			    "written",
			    p, part->file_bytes);
	w->part[part->node] = *part;
	ws->s.offset = part->offset;
	ws->s.stored_bytes = part->stored_bytes;
	ws->s.index_off = part->index_off;
	ws->s.chunks = part->chunks;
	ws->s.crc = part->index_crc;
	ws->part_node = (int)part->node;
	ws->given = true;
	return 0;
}

static void
w_free(struct snap_writer *w, bool remove_parts)
{
	char p[PATH_MAX];
	uint32_t i;

	if (remove_parts)
		for (i = 0; i < w->nodes; i++)
			if (w->part[i].name[0] &&
			    snprintf(p, sizeof(p), "%s/%s", w->dir,
				     w->part[i].name) < (int)sizeof(p))
				unlink(p);
	sfile_discard(&w->f);
	free(w->node);
	free(w->sec);
	free(w->part);
	free(w->disk);
	free(w);
}

void
snap_writer_abort(struct snap_writer *w)
{
	if (w)
		w_free(w, true);
}

/* The manifest of w, mlen bytes, into m (zeroed). */
static void
manifest_encode(const struct snap_writer *w, uint8_t *m, uint32_t nparts)
{
	uint8_t *p;
	uint32_t i;

	memcpy(m + OFF(snap_manifest_le, vm), w->vm, strlen(w->vm));
	wire_put64(m + OFF(snap_manifest_le, mem_bytes), w->mem_bytes);
	wire_put32(m + OFF(snap_manifest_le, vcpus), w->vcpus);
	wire_put32(m + OFF(snap_manifest_le, nodes), w->nodes);
	wire_put32(m + OFF(snap_manifest_le, sections), w->nsec);
	wire_put32(m + OFF(snap_manifest_le, parts), nparts);
	wire_put32(m + OFF(snap_manifest_le, page_bytes), PG);
	wire_put32(m + OFF(snap_manifest_le, chunk_pages), w->cpages);
	wire_put64(m + OFF(snap_manifest_le, created_unix_s), w->created);
	memcpy(m + OFF(snap_manifest_le, writer), w->writer, strlen(w->writer));
	p = m + SNAP_MANIFEST_SIZE;
	for (i = 0; i < w->nodes; i++, p += SNAP_NODE_SIZE) {
		wire_put32(p + OFF(snap_node_le, vcpu_first),
			   w->node[i].vcpu_first);
		wire_put32(p + OFF(snap_node_le, vcpu_count),
			   w->node[i].vcpu_count);
		wire_put64(p + OFF(snap_node_le, page_first),
			   w->node[i].page_first);
		wire_put64(p + OFF(snap_node_le, page_count),
			   w->node[i].page_count);
	}
	for (i = 0; i < w->nodes; i++) {
		const struct snap_part_info *pt = &w->part[i];

		if (!pt->name[0])
			continue;
		memcpy(p + OFF(snap_part_le, name), pt->name, strlen(pt->name));
		wire_put64(p + OFF(snap_part_le, file_bytes), pt->file_bytes);
		wire_put32(p + OFF(snap_part_le, file_crc), pt->file_crc);
		wire_put32(p + OFF(snap_part_le, node), pt->node);
		p += SNAP_PART_SIZE;
	}
	for (i = 0; i < w->nsec; i++, p += SNAP_SECTION_SIZE) {
		const struct snap_section *s = &w->sec[i].s;
		/* Every node has a part, listed in node order from 1. */
		uint32_t part = w->sec[i].part_node >= 0
					? (uint32_t)w->sec[i].part_node + 1
					: 0;
		wire_put16(p + OFF(snap_section_le, type), (uint16_t)s->type);
		wire_put16(p + OFF(snap_section_le, flags), (uint16_t)s->flags);
		wire_put32(p + OFF(snap_section_le, id), s->id);
		memcpy(p + OFF(snap_section_le, name), s->name,
		       strlen(s->name));
		wire_put64(p + OFF(snap_section_le, offset), s->offset);
		wire_put64(p + OFF(snap_section_le, stored_bytes),
			   s->stored_bytes);
		wire_put64(p + OFF(snap_section_le, raw_bytes), s->raw_bytes);
		wire_put64(p + OFF(snap_section_le, ram_off), s->ram_off);
		wire_put64(p + OFF(snap_section_le, index_off), s->index_off);
		wire_put32(p + OFF(snap_section_le, chunks), s->chunks);
		wire_put32(p + OFF(snap_section_le, crc), s->crc);
		wire_put32(p + OFF(snap_section_le, raw_crc), s->raw_crc);
		wire_put32(p + OFF(snap_section_le, part), part);
	}
}

/*
 * The part files of the snapshot at path now, if there is one that opens
 * (names, SNAP_PART_NAME_MAX + 1 bytes each), so that a new snapshot that
 * replaces it can remove them; NULL when there are none.
 */
static char *
old_parts(const char *path, uint32_t *n)
{
	struct snap *s = snap_open(path, NULL, 0);
	const struct snap_info *in = s ? snap_info(s) : NULL;
	char *names = NULL;
	uint32_t i;

	*n = 0;
	if (in && in->nparts)
		names = calloc(in->nparts, SNAP_PART_NAME_MAX + 1);
	for (i = 0; names && i < in->nparts; i++)
		memcpy(names + i * (SNAP_PART_NAME_MAX + 1), in->parts[i].name,
		       SNAP_PART_NAME_MAX + 1);
	if (names)
		*n = in->nparts;
	snap_close(s);
	return names;
}

/* The replaced snapshot's parts that are not ours: nothing reads them. */
static void
remove_old_parts(const struct snap_writer *w, const char *old, uint32_t n)
{
	char p[PATH_MAX];
	uint32_t i, k;

	for (i = 0; i < n; i++) {
		const char *name = old + i * (SNAP_PART_NAME_MAX + 1);

		for (k = 0; w->parts && k < w->nodes; k++)
			if (strcmp(w->part[k].name, name) == 0)
				break;
		if ((!w->parts || k == w->nodes) &&
		    snprintf(p, sizeof(p), "%s/%s", w->dir, name) <
			    (int)sizeof(p))
			(void)unlink(p);
	}
}

/* The disk records, each a section stored as is, before the manifest. */
static int
write_disks(struct snap_writer *w, char *why, size_t whylen)
{
	uint8_t b[SNAP_DISK_SIZE + SNAP_DISK_PATH_MAX];
	uint32_t i, first = w->nsec - w->ndisk;
	size_t n;

	for (i = 0; i < w->ndisk; i++) {
		struct wsec *ws = &w->sec[first + i];

		memset(b, 0, sizeof(b));
		n = disk_encode(&w->disk[i], b);
		ws->s.offset = w->f.off;
		ws->s.raw_bytes = ws->s.stored_bytes = n;
		ws->s.crc = ws->s.raw_crc = crc_of(0, b, n);
		if (sfile_append(&w->f, b, n, why, whylen) < 0)
			return w_fail(w, why, whylen);
		ws->given = true;
	}
	return 0;
}

int
snap_writer_finish(struct snap_writer *w, char *why, size_t whylen)
{
	uint32_t i, nparts = 0, mlen, crc, nold = 0;
	uint8_t *m = NULL;
	char *old = NULL;
	int rc = -1;

	if (w_usable(w, why, whylen) < 0 || write_disks(w, why, whylen) < 0)
		goto out;
	for (i = 0; i < w->nsec; i++) {
		const struct snap_section *s = &w->sec[i].s;

		if (w->sec[i].given)
			continue;
		if (s->type == SNAP_SEC_VCPU)
			FAIL(EINVAL,
			     "the state of vCPU %" PRIu32 " was not given",
			     s->id);
		else if (s->type == SNAP_SEC_DEVICE)
			FAIL(EINVAL, "the state of device '%s' was not given",
			     s->name);
		else
			FAIL(EINVAL,
			     "the memory of node %" PRIu32 " was not given",
			     s->id);
		goto out;
	}
	if (w->parts)
		nparts = w->nodes; /* every memory section was given */
	mlen = (uint32_t)(w->f.front - SNAP_HDR_SIZE);
	m = calloc(1, mlen);
	if (!m) {
		FAIL(ENOMEM, "out of memory");
		goto out;
	}
	manifest_encode(w, m, nparts);
	old = old_parts(w->f.path, &nold);
	rc = sfile_commit(&w->f, 0, 0, w->id, m, mlen, &crc, why, whylen);
	if (rc == 0)
		remove_old_parts(w, old, nold);
out:
	free(old);
	free(m);
	w_free(w, rc < 0);
	return rc;
}

/* ===== reader ============================================================ */

/* A decoded chunk index entry. */
struct chunk {
	uint64_t offset;
	uint32_t stored, raw, crc, raw_crc, flags;
	uint8_t zero[32];
};

/* One file of a snapshot: the main file (0) or a part. */
struct rfile {
	int fd;
	uint64_t bytes;			     /* its length */
	uint64_t data_first;		     /* where sections may start */
	uint32_t file_crc;		     /* the trailer's */
	char label[SNAP_PART_NAME_MAX + 16]; /* "" or "part 'x': " */
};

struct snap {
	struct snap_info info;
	struct snap_io io;
	struct rfile *file; /* [1 + nparts] */
	uint32_t nfiles;
	struct chunk **index; /* [nsec]: of each memory section */
	uint32_t *mem;	      /* memory sections by RAM offset */
	uint32_t nmem;
	uint8_t *zbuf;	/* one chunk's stored bytes */
	uint8_t *cache; /* one chunk's raw bytes */
	int64_t cached; /* its number, -1: none */
};

/* The header's fields, decoded. */
struct hdr {
	uint32_t version, flags, part, mbytes, mcrc;
	uint8_t id[16];
	uint64_t file_bytes, moff;
};

struct trailer {
	uint64_t moff;
	uint32_t mbytes, mcrc, file_crc;
};

static int
s_read(struct snap *s, int fd, void *buf, size_t len, uint64_t off, char *why,
       size_t whylen, const char *label)
{
	if (pread_full(fd, buf, len, off) < 0)
		return FAIL(errno, "%sread %zu bytes at %" PRIu64 ": %s", label,
			    len, off, strerror(errno));
	s->io.reads++;
	s->io.read_bytes += len;
	return 0;
}

/* "vcpu 3", "device 'uart'", "memory of node 1". */
static const char *
sec_label(const struct snap_section *sec, char *buf, size_t len)
{
	switch (sec->type) {
	case SNAP_SEC_VCPU:
		snprintf(buf, len, "vcpu %" PRIu32, sec->id);
		break;
	case SNAP_SEC_DEVICE:
		snprintf(buf, len, "device '%s'", sec->name);
		break;
	case SNAP_SEC_MEMORY:
		snprintf(buf, len, "memory of node %" PRIu32, sec->id);
		break;
	case SNAP_SEC_DISK:
		snprintf(buf, len, "disk %" PRIu32, sec->id);
		break;
	default:
		snprintf(buf, len, "section of type %u", (unsigned)sec->type);
	}
	return buf;
}

/* "chunk 17 (guest RAM 0x1100000-0x11fffff, node 0)" */
static const char *
chunk_label(const struct snap *s, const struct snap_section *sec, uint32_t c,
	    char *buf, size_t len)
{
	uint64_t cb = (uint64_t)s->info.chunk_pages * PG;
	uint64_t first = sec->ram_off + c * cb;
	uint64_t n =
		sec->raw_bytes - c * cb < cb ? sec->raw_bytes - c * cb : cb;
	char r[48];

	snprintf(buf, len, "chunk %" PRIu64 " (guest RAM %s, node %" PRIu32 ")",
		 sec->first_chunk + c, ram_range(first, n, r, sizeof(r)),
		 sec->id);
	return buf;
}

static const char *
versions_read(char *buf, size_t len)
{
	if (SNAP_VERSION_MIN == SNAP_VERSION_MAX)
		snprintf(buf, len, "version %d", SNAP_VERSION_MIN);
	else
		snprintf(buf, len, "versions %d to %d", SNAP_VERSION_MIN,
			 SNAP_VERSION_MAX);
	return buf;
}

/*
 * Reads and checks a header of a file of size bytes: magic, then the
 * version (before anything else: the version rule), then its CRC32 and
 * flags.  label prefixes messages ("" or "part 'x': ").
 */
static int
hdr_read(struct snap *s, int fd, uint64_t size, const char *label,
	 struct hdr *h, char *why, size_t whylen)
{
	uint8_t b[SNAP_HDR_SIZE];
	size_t n = size < sizeof(b) ? (size_t)size : sizeof(b), i;
	char hex[3 * 8 + 1] = "", v[32];
	uint32_t crc;

	if (size == 0)
		return BAD("%sempty file", label);
	if (s_read(s, fd, b, n, 0, why, whylen, label) < 0)
		return -1;
	if (memcmp(b, SNAP_MAGIC, n < 8 ? n : 8) != 0) {
		for (i = 0; i < 8 && i < n; i++)
			snprintf(hex + (i ? 3 * i - 1 : 0),
				 sizeof(hex) - (i ? 3 * i - 1 : 0), "%s%02x",
				 i ? " " : "", b[i]);
		return BAD("%sbad magic: not an AVM snapshot (it starts "
			   "with %s, not 41 56 4d 53 4e 41 50 00)",
			   label, hex);
	}
	if (n < sizeof(b))
		return BAD("%struncated: %" PRIu64 " bytes, less than the "
			   "%d-byte header",
			   label, size, SNAP_HDR_SIZE);
	h->version = wire_get32(b + OFF(snap_hdr_le, version));
	if (h->version < SNAP_VERSION_MIN || h->version > SNAP_VERSION_MAX)
		return BAD("%sformat version %" PRIu32
			   ": this build reads %s%s",
			   label, h->version, versions_read(v, sizeof(v)),
			   h->version > SNAP_VERSION_MAX
				   ? " (the file is from a newer avm)"
				   : "");
	crc = crc_of(0, b, OFF(snap_hdr_le, hdr_crc));
	if (crc != wire_get32(b + OFF(snap_hdr_le, hdr_crc)))
		return BAD("%sheader: bad CRC32 0x%08" PRIx32
			   ", expected 0x%08" PRIx32,
			   label, crc,
			   wire_get32(b + OFF(snap_hdr_le, hdr_crc)));
	h->flags = wire_get32(b + OFF(snap_hdr_le, flags));
	if (h->flags & ~SNAP_F_KNOWN)
		return BAD("%sheader: unknown flags 0x%" PRIx32, label,
			   h->flags & ~SNAP_F_KNOWN);
	memcpy(h->id, b + OFF(snap_hdr_le, snap_id), 16);
	h->file_bytes = wire_get64(b + OFF(snap_hdr_le, file_bytes));
	h->moff = wire_get64(b + OFF(snap_hdr_le, manifest_off));
	h->mbytes = wire_get32(b + OFF(snap_hdr_le, manifest_bytes));
	h->mcrc = wire_get32(b + OFF(snap_hdr_le, manifest_crc));
	h->part = wire_get32(b + OFF(snap_hdr_le, part));
	if (h->file_bytes < SNAP_HDR_SIZE + SNAP_TRAILER_SIZE)
		return BAD("%sheader: a file of %" PRIu64 " bytes cannot hold "
			   "a header and a trailer",
			   label, h->file_bytes);
	return 0;
}

/* Reads and checks the trailer of a file whose header is h. */
static int
trailer_read(struct snap *s, int fd, const struct hdr *h, const char *label,
	     struct trailer *t, char *why, size_t whylen)
{
	uint8_t b[SNAP_TRAILER_SIZE];
	uint32_t crc;

	if (s_read(s, fd, b, sizeof(b), h->file_bytes - sizeof(b), why, whylen,
		   label) < 0)
		return -1;
	if (memcmp(b, SNAP_TRAILER_MAGIC, 8) != 0)
		return BAD("%strailer: bad magic at byte %" PRIu64, label,
			   h->file_bytes - sizeof(b));
	crc = crc_of(0, b, OFF(snap_trailer_le, trailer_crc));
	if (crc != wire_get32(b + OFF(snap_trailer_le, trailer_crc)))
		return BAD("%strailer: bad CRC32 0x%08" PRIx32
			   ", expected 0x%08" PRIx32,
			   label, crc,
			   wire_get32(b + OFF(snap_trailer_le, trailer_crc)));
	t->moff = wire_get64(b + OFF(snap_trailer_le, manifest_off));
	t->mbytes = wire_get32(b + OFF(snap_trailer_le, manifest_bytes));
	t->mcrc = wire_get32(b + OFF(snap_trailer_le, manifest_crc));
	t->file_crc = wire_get32(b + OFF(snap_trailer_le, file_crc));
	if (t->moff != h->moff || t->mbytes != h->mbytes || t->mcrc != h->mcrc)
		return BAD("%strailer: manifest of %" PRIu32
			   " bytes at %" PRIu64 " (CRC32 0x%08" PRIx32
			   "), the header says %" PRIu32 " at %" PRIu64
			   " (0x%08" PRIx32 ")",
			   label, t->mbytes, t->moff, t->mcrc, h->mbytes,
			   h->moff, h->mcrc);
	return 0;
}

/* Where the section tables of a manifest start, from its counts. */
static uint64_t
manifest_sections_at(uint32_t nodes, uint32_t parts)
{
	return SNAP_MANIFEST_SIZE + (uint64_t)nodes * SNAP_NODE_SIZE +
	       (uint64_t)parts * SNAP_PART_SIZE;
}

/*
 * A main file of size bytes shorter than its header says: names what is
 * cut, from the manifest when it is there and whole.
 */
static int
truncated(struct snap *s, int fd, uint64_t size, const struct hdr *h, char *why,
	  size_t whylen)
{
	struct snap_section sec = { 0 }, cut = { 0 };
	char what[160] = "the trailer is cut", l[64];
	uint8_t *m = NULL, *p;
	uint64_t at, off, end, cut_off = UINT64_MAX;
	uint32_t i, n;

	if (h->moff + h->mbytes > size) {
		snprintf(what, sizeof(what), "the manifest is cut");
		goto out;
	}
	m = malloc(h->mbytes ? h->mbytes : 1);
	if (!m || s_read(s, fd, m, h->mbytes, h->moff, why, whylen, "") < 0 ||
	    crc_of(0, m, h->mbytes) != h->mcrc) {
		snprintf(what, sizeof(what), "the manifest does not say what");
		goto out;
	}
	at = manifest_sections_at(wire_get32(m + OFF(snap_manifest_le, nodes)),
				  wire_get32(m + OFF(snap_manifest_le, parts)));
	n = wire_get32(m + OFF(snap_manifest_le, sections));
	for (i = 0;
	     i < n && at + (i + 1) * (uint64_t)SNAP_SECTION_SIZE <= h->mbytes;
	     i++) {
		p = m + at + (uint64_t)i * SNAP_SECTION_SIZE;
		if (wire_get32(p + OFF(snap_section_le, part)) != 0)
			continue;
		off = wire_get64(p + OFF(snap_section_le, offset));
		end = off + wire_get64(p + OFF(snap_section_le, stored_bytes));
		if (end <= size || end < off || off >= cut_off)
			continue;
		sec.type = wire_get16(p + OFF(snap_section_le, type));
		sec.id = wire_get32(p + OFF(snap_section_le, id));
		if (!field_str(p + OFF(snap_section_le, name), 16, sec.name) ||
		    !printable(sec.name))
			sec.name[0] = '\0';
		cut = sec;
		cut_off = off;
		snprintf(what, sizeof(what),
			 "%s (bytes %" PRIu64 "-%" PRIu64 ") is %s",
			 sec_label(&cut, l, sizeof(l)), off, end - 1,
			 off >= size ? "missing" : "cut");
	}
out:
	free(m);
	return BAD("truncated: %" PRIu64 " bytes, written as %" PRIu64 "; %s",
		   size, h->file_bytes, what);
}

/* Sections (by index into arg) in file order: part, then offset. */
static int
cmp_place(const void *a, const void *b, void *arg)
{
	const struct snap_section *sec = arg;
	const struct snap_section *x = &sec[*(const uint32_t *)a];
	const struct snap_section *y = &sec[*(const uint32_t *)b];

	if (x->part != y->part)
		return x->part < y->part ? -1 : 1;
	return x->offset < y->offset ? -1 : x->offset > y->offset;
}

/* Checks the section entry at p as section i, into *sec. */
static int
section_decode(struct snap *s, const uint8_t *p, uint32_t i,
	       struct snap_section *sec, uint8_t *vcpu_seen, char *why,
	       size_t whylen)
{
	const struct snap_info *in = &s->info;
	uint64_t cb = (uint64_t)in->chunk_pages * PG, first, end;
	const struct rfile *f;
	char l[160];
	uint32_t j, n;

	sec->type = wire_get16(p + OFF(snap_section_le, type));
	sec->flags = wire_get16(p + OFF(snap_section_le, flags));
	sec->id = wire_get32(p + OFF(snap_section_le, id));
	sec->offset = wire_get64(p + OFF(snap_section_le, offset));
	sec->stored_bytes = wire_get64(p + OFF(snap_section_le, stored_bytes));
	sec->raw_bytes = wire_get64(p + OFF(snap_section_le, raw_bytes));
	sec->ram_off = wire_get64(p + OFF(snap_section_le, ram_off));
	sec->index_off = wire_get64(p + OFF(snap_section_le, index_off));
	sec->chunks = wire_get32(p + OFF(snap_section_le, chunks));
	sec->crc = wire_get32(p + OFF(snap_section_le, crc));
	sec->raw_crc = wire_get32(p + OFF(snap_section_le, raw_crc));
	sec->part = wire_get32(p + OFF(snap_section_le, part));
	if (!all_zero(p + OFF(snap_section_le, reserved), 16))
		return BAD("manifest: section %" PRIu32 ": reserved bytes "
			   "not zero",
			   i);
	if (!field_str(p + OFF(snap_section_le, name), 16, sec->name))
		return BAD("manifest: section %" PRIu32 ": name not "
			   "NUL-padded",
			   i);
	switch (sec->type) {
	case SNAP_SEC_VCPU:
		if (sec->id >= in->vcpus)
			return BAD("manifest: section %" PRIu32
				   ": vcpu %" PRIu32 " of a VM of %" PRIu32,
				   i, sec->id, in->vcpus);
		if (vcpu_seen[sec->id / 8] & (1u << sec->id % 8))
			return BAD("manifest: section %" PRIu32
				   ": vcpu %" PRIu32 " twice",
				   i, sec->id);
		vcpu_seen[sec->id / 8] |= (uint8_t)(1u << sec->id % 8);
		if (sec->name[0])
			return BAD("manifest: section %" PRIu32 ": a vcpu "
				   "with a name",
				   i);
		break;
	case SNAP_SEC_DEVICE:
		if (!dev_name_ok(sec->name))
			return BAD("manifest: section %" PRIu32 ": bad device "
				   "name",
				   i);
		if (!device_known_in(sec->name, in->version) &&
		    in->version == SNAP_VERSION)
			return BAD("unknown device '%s' (section %" PRIu32
				   "): this build restores %s",
				   sec->name, i,
				   device_names_in(in->version, l, sizeof(l)));
		if (!device_known_in(sec->name, in->version))
			return BAD("unknown device '%s' (section %" PRIu32
				   "): a version %" PRIu32 " file names %s",
				   sec->name, i, in->version,
				   device_names_in(in->version, l, sizeof(l)));
		for (j = 0; j < i; j++)
			if (in->sec[j].type == SNAP_SEC_DEVICE &&
			    strcmp(in->sec[j].name, sec->name) == 0)
				return BAD("manifest: device '%s' twice",
					   sec->name);
		if (sec->id)
			return BAD("manifest: section %" PRIu32 ": device "
				   "with id %" PRIu32,
				   i, sec->id);
		break;
	case SNAP_SEC_MEMORY:
		break;
	case SNAP_SEC_DISK:
		if (in->version < 2)
			return BAD("manifest: section %" PRIu32 ": a disk in a "
				   "version %" PRIu32 " file",
				   i, in->version);
		for (j = 0, n = 0; j < i; j++)
			n += in->sec[j].type == SNAP_SEC_DISK;
		if (n == SNAP_DISKS_MAX)
			return BAD("manifest: more than %u disks",
				   SNAP_DISKS_MAX);
		if (sec->id >= SNAP_DISKS_MAX)
			return BAD("manifest: section %" PRIu32
				   ": disk %" PRIu32 ", not in 0..%u",
				   i, sec->id, SNAP_DISKS_MAX - 1);
		for (j = 0; j < i; j++)
			if (in->sec[j].type == SNAP_SEC_DISK &&
			    in->sec[j].id == sec->id)
				return BAD("manifest: disk %" PRIu32 " twice",
					   sec->id);
		if (sec->name[0])
			return BAD("manifest: section %" PRIu32 ": a disk "
				   "with a name",
				   i);
		if (sec->flags)
			return BAD("manifest: disk %" PRIu32
				   ": flags 0x%" PRIx32
				   " (a disk record is stored as is)",
				   sec->id, sec->flags);
		if (sec->raw_bytes <= SNAP_DISK_SIZE ||
		    sec->raw_bytes > SNAP_DISK_SIZE + SNAP_DISK_PATH_MAX)
			return BAD("manifest: disk %" PRIu32
				   ": a record of %" PRIu64
				   " bytes: a path of 1 to %u bytes takes %u "
				   "to %u",
				   sec->id, sec->raw_bytes, SNAP_DISK_PATH_MAX,
				   SNAP_DISK_SIZE + 1,
				   SNAP_DISK_SIZE + SNAP_DISK_PATH_MAX);
		break;
	default:
		return BAD("manifest: section %" PRIu32 ": unknown type %u "
			   "(this build reads 1 vcpu, 2 device, 3 memory, "
			   "4 disk)",
			   i, (unsigned)sec->type);
	}
	sec_label(sec, l, sizeof(l));
	if (sec->type != SNAP_SEC_MEMORY) {
		if (sec->flags & ~SNAP_SEC_DEFLATE)
			return BAD("manifest: %s: unknown flags 0x%" PRIx32, l,
				   sec->flags);
		if (sec->ram_off || sec->index_off || sec->chunks || sec->part)
			return BAD("manifest: %s: memory fields set", l);
		if (sec->raw_bytes > SNAP_STATE_MAX)
			return BAD("manifest: %s: %" PRIu64 " bytes of state, "
				   "at most %u",
				   l, sec->raw_bytes, SNAP_STATE_MAX);
		if (sec->raw_bytes == 0 && (sec->stored_bytes || sec->flags ||
					    sec->crc || sec->raw_crc))
			return BAD("manifest: %s: empty but with bytes", l);
		if (!(sec->flags & SNAP_SEC_DEFLATE) &&
		    sec->stored_bytes != sec->raw_bytes)
			return BAD("manifest: %s: %" PRIu64 " bytes stored "
				   "as is for %" PRIu64,
				   l, sec->stored_bytes, sec->raw_bytes);
		if ((sec->flags & SNAP_SEC_DEFLATE) &&
		    (sec->stored_bytes == 0 ||
		     sec->stored_bytes >= sec->raw_bytes))
			return BAD("manifest: %s: %" PRIu64 " bytes deflated "
				   "for %" PRIu64,
				   l, sec->stored_bytes, sec->raw_bytes);
	} else {
		if (sec->id >= in->nodes)
			return BAD("manifest: %s: the VM has %" PRIu32 " nodes",
				   l, in->nodes);
		if (sec->flags || sec->raw_crc || sec->name[0])
			return BAD("manifest: %s: flags, name or raw CRC set",
				   l);
		if (sec->ram_off % PG || sec->raw_bytes % PG ||
		    sec->raw_bytes == 0 || sec->ram_off > in->mem_bytes ||
		    sec->raw_bytes > in->mem_bytes - sec->ram_off)
			return BAD("manifest: %s: RAM 0x%" PRIx64 "+0x%" PRIx64
				   " is not whole pages of the VM's",
				   l, sec->ram_off, sec->raw_bytes);
		if (sec->chunks != (sec->raw_bytes + cb - 1) / cb)
			return BAD("manifest: %s: %" PRIu32 " chunks, expected "
				   "%" PRIu64,
				   l, sec->chunks,
				   (sec->raw_bytes + cb - 1) / cb);
		if (sec->part > in->nparts ||
		    (sec->part && in->parts[sec->part - 1].node != sec->id))
			return BAD("manifest: %s: in part %" PRIu32
				   ", which is not node %" PRIu32 "'s",
				   l, sec->part, sec->id);
		if (sec->index_off < sec->offset ||
		    sec->stored_bytes < sec->index_off - sec->offset ||
		    sec->stored_bytes - (sec->index_off - sec->offset) !=
			    (uint64_t)sec->chunks * SNAP_CHUNK_SIZE)
			return BAD("manifest: %s: the chunk index (%" PRIu32
				   " entries at %" PRIu64
				   ") is not the section's end",
				   l, sec->chunks, sec->index_off);
	}
	f = &s->file[sec->part];
	first = f->data_first;
	end = f->bytes - SNAP_TRAILER_SIZE;
	if (sec->offset < first || sec->offset > end ||
	    sec->stored_bytes > end - sec->offset)
		return BAD("manifest: %s: bytes %" PRIu64 "+%" PRIu64
			   " lie outside %sthe data (%" PRIu64 "-%" PRIu64 ")",
			   l, sec->offset, sec->stored_bytes,
			   sec->part ? "its part's " : "", first, end);
	return 0;
}

static int
cmp_mem(const void *a, const void *b, void *arg)
{
	const struct snap_section *sec = arg;
	uint64_t x = sec[*(const uint32_t *)a].ram_off;
	uint64_t y = sec[*(const uint32_t *)b].ram_off;

	return x < y ? -1 : x > y;
}

/* Opens and checks part k (1-based) of the manifest. */
static int
part_open(struct snap *s, int dirfd, uint32_t k, const struct hdr *main,
	  char *why, size_t whylen)
{
	const struct snap_part *pt = &s->info.parts[k - 1];
	struct rfile *f = &s->file[k];
	struct trailer t;
	struct stat st;
	struct hdr h;

	snprintf(f->label, sizeof(f->label), "part '%s': ", pt->name);
	if (dirfd < 0)
		return FAIL(ENOENT,
			    "part '%s' (memory of node %" PRIu32
			    "): no folder to look in",
			    pt->name, pt->node);
	f->fd = openat(dirfd, pt->name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (f->fd < 0)
		return FAIL(errno, "part '%s' (memory of node %" PRIu32 "): %s",
			    pt->name, pt->node, strerror(errno));
	if (fstat(f->fd, &st) < 0)
		return FAIL(errno, "part '%s': %s", pt->name, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return FAIL(EINVAL, "part '%s': not a regular file", pt->name);
	f->bytes = (uint64_t)st.st_size;
	if (hdr_read(s, f->fd, f->bytes, f->label, &h, why, whylen) < 0)
		return -1;
	if (!(h.flags & SNAP_F_PART) || h.part != pt->node + 1 || h.moff ||
	    h.mbytes || h.mcrc)
		return BAD("%snot the part file of node %" PRIu32, f->label,
			   pt->node);
	if (memcmp(h.id, main->id, 16) != 0)
		return BAD("%sof another snapshot (its id differs)", f->label);
	if (f->bytes < pt->file_bytes || h.file_bytes != pt->file_bytes)
		return BAD("%struncated: %" PRIu64
			   " bytes, written as %" PRIu64,
			   f->label, f->bytes, pt->file_bytes);
	if (f->bytes > pt->file_bytes)
		return BAD("%s%" PRIu64 " bytes, written as %" PRIu64, f->label,
			   f->bytes, pt->file_bytes);
	if (trailer_read(s, f->fd, &h, f->label, &t, why, whylen) < 0)
		return -1;
	if (t.file_crc != pt->file_crc)
		return BAD("%sits trailer's file CRC32 0x%08" PRIx32
			   " is not the manifest's 0x%08" PRIx32,
			   f->label, t.file_crc, pt->file_crc);
	f->file_crc = t.file_crc;
	f->data_first = SNAP_HDR_SIZE;
	return 0;
}

/* Parses and checks the manifest m of mlen bytes (CRC checked). */
static int
manifest_decode(struct snap *s, const uint8_t *m, uint32_t mlen,
		const struct hdr *h, int dirfd, char *why, size_t whylen)
{
	struct snap_info *in = &s->info;
	uint8_t *vseen = NULL;
	uint64_t need, at;
	uint32_t *span = NULL;
	const uint8_t *p;
	uint32_t i, j, nsec, ndev = 0, nspan = 0;
	char tmp[200];
	int rc = -1;

	if (!field_str(m + OFF(snap_manifest_le, vm), 32, in->vm) ||
	    !config_vm_name_ok(in->vm))
		return BAD("manifest: bad VM name");
	in->mem_bytes = wire_get64(m + OFF(snap_manifest_le, mem_bytes));
	in->vcpus = wire_get32(m + OFF(snap_manifest_le, vcpus));
	in->nodes = wire_get32(m + OFF(snap_manifest_le, nodes));
	nsec = wire_get32(m + OFF(snap_manifest_le, sections));
	in->nparts = wire_get32(m + OFF(snap_manifest_le, parts));
	in->page_bytes = wire_get32(m + OFF(snap_manifest_le, page_bytes));
	in->chunk_pages = wire_get32(m + OFF(snap_manifest_le, chunk_pages));
	in->created_unix_s =
		wire_get64(m + OFF(snap_manifest_le, created_unix_s));
	if (!field_str(m + OFF(snap_manifest_le, writer), 32, in->writer) ||
	    !printable(in->writer))
		return BAD("manifest: writer not printable text");
	if (!all_zero(m + OFF(snap_manifest_le, reserved), 24))
		return BAD("manifest: reserved bytes not zero");
	if (in->mem_bytes == 0 || in->mem_bytes % PG ||
	    in->mem_bytes > SNAP_MEM_MAX)
		return BAD("manifest: memory of %" PRIu64 " bytes",
			   in->mem_bytes);
	if (in->vcpus == 0 || in->vcpus > SNAP_VCPUS_MAX)
		return BAD("manifest: %" PRIu32 " vCPUs, not 1..%u", in->vcpus,
			   SNAP_VCPUS_MAX);
	if (in->nodes == 0 || in->nodes > SNAP_NODES_MAX)
		return BAD("manifest: %" PRIu32 " nodes, not 1..%u", in->nodes,
			   SNAP_NODES_MAX);
	if (in->nparts > in->nodes)
		return BAD("manifest: %" PRIu32 " parts for %" PRIu32 " nodes",
			   in->nparts, in->nodes);
	if (nsec > SECTIONS_MAX)
		return BAD("manifest: %" PRIu32 " sections", nsec);
	if (in->page_bytes != PG)
		return BAD("manifest: pages of %" PRIu32 " bytes, not 4096",
			   in->page_bytes);
	if (in->chunk_pages == 0 || in->chunk_pages > SNAP_CHUNK_PAGES_MAX)
		return BAD("manifest: %" PRIu32 " pages a chunk, not 1..%u",
			   in->chunk_pages, SNAP_CHUNK_PAGES_MAX);
	need = manifest_sections_at(in->nodes, in->nparts) +
	       (uint64_t)nsec * SNAP_SECTION_SIZE;
	if (need != mlen)
		return BAD("manifest: %" PRIu32 " bytes, but %" PRIu32
			   " nodes, %" PRIu32 " parts and %" PRIu32
			   " sections take %" PRIu64,
			   mlen, in->nodes, in->nparts, nsec, need);

	in->node = calloc(in->nodes, sizeof(*in->node));
	in->parts = calloc(in->nparts ? in->nparts : 1, sizeof(*in->parts));
	in->sec = calloc(nsec ? nsec : 1, sizeof(*in->sec));
	s->index = calloc(nsec ? nsec : 1, sizeof(*s->index));
	s->mem = calloc(in->nodes, sizeof(*s->mem));
	vseen = calloc(1, SNAP_VCPUS_MAX / 8);
	span = calloc(nsec ? nsec : 1, sizeof(*span));
	if (!in->node || !in->parts || !in->sec || !s->index || !s->mem ||
	    !vseen || !span) {
		FAIL(ENOMEM, "out of memory");
		goto out;
	}
	if (in->nparts) {
		/* The main file's entry came with s; now one a part too. */
		struct rfile *f =
			realloc(s->file, (1 + in->nparts) * sizeof(*f));

		if (!f) {
			FAIL(ENOMEM, "out of memory");
			goto out;
		}
		s->file = f;
		memset(f + 1, 0, in->nparts * sizeof(*f));
		for (i = 1; i <= in->nparts; i++)
			f[i].fd = -1;
		s->nfiles = 1 + in->nparts;
	}
	s->file[0].data_first = SNAP_HDR_SIZE + (uint64_t)mlen;

	p = m + SNAP_MANIFEST_SIZE;
	for (i = 0; i < in->nodes; i++, p += SNAP_NODE_SIZE) {
		in->node[i].vcpu_first =
			wire_get32(p + OFF(snap_node_le, vcpu_first));
		in->node[i].vcpu_count =
			wire_get32(p + OFF(snap_node_le, vcpu_count));
		in->node[i].page_first =
			wire_get64(p + OFF(snap_node_le, page_first));
		in->node[i].page_count =
			wire_get64(p + OFF(snap_node_le, page_count));
		if (!all_zero(p + OFF(snap_node_le, reserved), 8)) {
			BAD("manifest: node %" PRIu32 ": reserved bytes not "
			    "zero",
			    i);
			goto out;
		}
	}
	if (placement_ok(in->vcpus, in->mem_bytes / PG, in->nodes, in->node,
			 tmp, sizeof(tmp)) < 0) {
		BAD("manifest: placement: %s", tmp);
		goto out;
	}
	for (i = 0; i < in->nparts; i++, p += SNAP_PART_SIZE) {
		struct snap_part *pt = &in->parts[i];

		if (!field_str(p + OFF(snap_part_le, name), 48, pt->name) ||
		    !part_name_ok(pt->name)) {
			BAD("manifest: part %" PRIu32 ": bad file name", i + 1);
			goto out;
		}
		pt->file_bytes = wire_get64(p + OFF(snap_part_le, file_bytes));
		pt->file_crc = wire_get32(p + OFF(snap_part_le, file_crc));
		pt->node = wire_get32(p + OFF(snap_part_le, node));
		if (pt->node >= in->nodes ||
		    pt->file_bytes < SNAP_HDR_SIZE + SNAP_TRAILER_SIZE) {
			BAD("manifest: part '%s': node %" PRIu32 ", %" PRIu64
			    " bytes",
			    pt->name, pt->node, pt->file_bytes);
			goto out;
		}
		for (j = 0; j < i; j++)
			if (in->parts[j].node == pt->node ||
			    strcmp(in->parts[j].name, pt->name) == 0) {
				BAD("manifest: parts %" PRIu32 " and %" PRIu32
				    " have one node or name",
				    j + 1, i + 1);
				goto out;
			}
	}
	/* The parts' lengths bound their sections: open them first. */
	for (i = 1; i <= in->nparts; i++)
		if (part_open(s, dirfd, i, h, why, whylen) < 0)
			goto out;

	for (i = 0; i < nsec; i++, p += SNAP_SECTION_SIZE) {
		struct snap_section *sec = &in->sec[i];

		if (section_decode(s, p, i, sec, vseen, why, whylen) < 0)
			goto out;
		in->nsec = i + 1;
		if (sec->type == SNAP_SEC_DEVICE && ++ndev > SNAP_DEVICES_MAX) {
			BAD("manifest: more than %u devices", SNAP_DEVICES_MAX);
			goto out;
		}
		if (sec->type == SNAP_SEC_MEMORY) {
			if (s->nmem == in->nodes) {
				BAD("manifest: more memory sections than "
				    "nodes");
				goto out;
			}
			s->mem[s->nmem++] = i;
		}
		if (sec->stored_bytes)
			span[nspan++] = i;
	}
	for (i = 0; i < in->vcpus; i++)
		if (!(vseen[i / 8] & (1u << i % 8))) {
			BAD("manifest: no state for vcpu %" PRIu32, i);
			goto out;
		}
	/* Memory sections tile guest RAM. */
	qsort_r(s->mem, s->nmem, sizeof(*s->mem), cmp_mem, in->sec);
	for (i = 0, at = 0; i < s->nmem; i++) {
		const struct snap_section *sec = &in->sec[s->mem[i]];

		if (sec->ram_off > at) {
			BAD("manifest: guest RAM 0x%" PRIx64
			    " is in no memory section",
			    at);
			goto out;
		}
		if (sec->ram_off < at) {
			BAD("manifest: guest RAM 0x%" PRIx64
			    " is in two memory sections",
			    sec->ram_off);
			goto out;
		}
		at += sec->raw_bytes;
	}
	if (at != in->mem_bytes) {
		BAD("manifest: guest RAM from 0x%" PRIx64
		    " is in no memory section",
		    at);
		goto out;
	}
	for (i = 0; i < in->nparts; i++) {
		for (j = 0; j < s->nmem; j++)
			if (in->sec[s->mem[j]].part == i + 1)
				break;
		if (j == s->nmem) {
			BAD("manifest: part '%s' holds no section",
			    in->parts[i].name);
			goto out;
		}
	}
	/* No two sections share a byte. */
	qsort_r(span, nspan, sizeof(*span), cmp_place, in->sec);
	for (i = 1; i < nspan; i++) {
		const struct snap_section *a = &in->sec[span[i - 1]];
		const struct snap_section *b = &in->sec[span[i]];
		char la[64], lb[64];

		if (a->part == b->part &&
		    a->offset + a->stored_bytes > b->offset) {
			BAD("manifest: %s and %s overlap",
			    sec_label(a, la, sizeof(la)),
			    sec_label(b, lb, sizeof(lb)));
			goto out;
		}
	}
	rc = 0;
out:
	free(vseen);
	free(span);
	return rc;
}

/* Reads and checks the chunk index of memory section si. */
static int
index_load(struct snap *s, uint32_t si, char *why, size_t whylen)
{
	struct snap_section *sec = &s->info.sec[si];
	const struct rfile *f = &s->file[sec->part];
	uint32_t cpages = s->info.chunk_pages, c, n, p, nz, crc;
	uint64_t left = sec->raw_bytes / PG, prev = sec->offset;
	uint8_t *b = NULL, *e;
	struct chunk *ch;
	char l[96];
	int rc = -1;

	/* The index lies inside the file: its size is bounded by it. */
	b = malloc((size_t)sec->chunks * SNAP_CHUNK_SIZE);
	ch = calloc(sec->chunks, sizeof(*ch));
	s->index[si] = ch;
	if (!b || !ch) {
		FAIL(ENOMEM, "out of memory");
		goto out;
	}
	if (s_read(s, f->fd, b, (size_t)sec->chunks * SNAP_CHUNK_SIZE,
		   sec->index_off, why, whylen, f->label) < 0)
		goto out;
	crc = crc_of(0, b, (uint64_t)sec->chunks * SNAP_CHUNK_SIZE);
	if (crc != sec->crc) {
		BAD("%s: chunk index: bad CRC32 0x%08" PRIx32
		    ", expected 0x%08" PRIx32,
		    sec_label(sec, l, sizeof(l)), crc, sec->crc);
		goto out;
	}
	for (c = 0; c < sec->chunks; c++, ch++, left -= n) {
		e = b + (size_t)c * SNAP_CHUNK_SIZE;
		n = left < cpages ? (uint32_t)left : cpages;
		ch->offset = wire_get64(e + OFF(snap_chunk_le, offset));
		ch->stored = wire_get32(e + OFF(snap_chunk_le, stored));
		ch->raw = wire_get32(e + OFF(snap_chunk_le, raw));
		ch->crc = wire_get32(e + OFF(snap_chunk_le, crc));
		ch->raw_crc = wire_get32(e + OFF(snap_chunk_le, raw_crc));
		ch->flags = wire_get32(e + OFF(snap_chunk_le, flags));
		memcpy(ch->zero, e + OFF(snap_chunk_le, zero_map), 32);
		chunk_label(s, sec, c, l, sizeof(l));
		for (p = n, nz = n; p < SNAP_CHUNK_PAGES_MAX; p++)
			if (ch->zero[p / 8] & (1u << p % 8)) {
				BAD("%s: the zero-page map marks page %" PRIu32
				    " of %" PRIu32,
				    l, p, n);
				goto out;
			}
		for (p = 0; p < n; p++)
			if (ch->zero[p / 8] & (1u << p % 8))
				nz--;
		if (ch->raw != nz * PG || (ch->flags & ~SNAP_CHUNK_DEFLATE) ||
		    !all_zero(e + OFF(snap_chunk_le, reserved), 4)) {
			BAD("%s: %" PRIu32 " raw bytes for %" PRIu32
			    " pages that are not zero, or bad flags",
			    l, ch->raw, nz);
			goto out;
		}
		if (nz == 0 && (ch->offset || ch->stored || ch->crc ||
				ch->raw_crc || ch->flags)) {
			BAD("%s: every page zero, but bytes stored", l);
			goto out;
		}
		if (nz && (ch->stored == 0 ||
			   (!(ch->flags & SNAP_CHUNK_DEFLATE) &&
			    ch->stored != ch->raw) ||
			   ((ch->flags & SNAP_CHUNK_DEFLATE) &&
			    ch->stored >= ch->raw))) {
			BAD("%s: %" PRIu32 " bytes stored for %" PRIu32, l,
			    ch->stored, ch->raw);
			goto out;
		}
		if (nz && (ch->offset < prev || ch->offset > sec->index_off ||
			   ch->stored > sec->index_off - ch->offset)) {
			BAD("%s: bytes %" PRIu64 "+%" PRIu32
			    " lie outside the section's chunks (%" PRIu64
			    "-%" PRIu64 ") or before the chunk ahead",
			    l, ch->offset, ch->stored, prev, sec->index_off);
			goto out;
		}
		if (nz)
			prev = ch->offset + ch->stored;
		sec->zero_pages += n - nz;
		sec->data_bytes += ch->raw;
		sec->chunk_bytes += ch->stored;
	}
	s->info.zero_pages += sec->zero_pages;
	rc = 0;
out:
	free(b);
	return rc;
}

static int
cmp_disk(const void *a, const void *b)
{
	uint32_t x = ((const struct snap_disk *)a)->index;
	uint32_t y = ((const struct snap_disk *)b)->index;

	return x < y ? -1 : x > y;
}

/* Reads and checks every disk record into info.disks, by index. */
static int
disks_load(struct snap *s, char *why, size_t whylen)
{
	struct snap_info *in = &s->info;
	uint8_t b[SNAP_DISK_SIZE + SNAP_DISK_PATH_MAX];
	uint32_t i, n = 0;

	for (i = 0; i < in->nsec; i++)
		n += in->sec[i].type == SNAP_SEC_DISK;
	in->disks = calloc(n ? n : 1, sizeof(*in->disks));
	if (!in->disks)
		return FAIL(ENOMEM, "out of memory");
	for (i = 0; i < in->nsec; i++) {
		const struct snap_section *sec = &in->sec[i];

		if (sec->type != SNAP_SEC_DISK)
			continue;
		/* Its length is checked: SNAP_DISK_SIZE + 1 to b's. */
		if (snap_read_state(s, i, b, sizeof(b), why, whylen) < 0 ||
		    disk_decode(b, (size_t)sec->raw_bytes, sec->id,
				&in->disks[in->ndisks], why, whylen) < 0)
			return -1;
		in->ndisks++;
	}
	qsort(in->disks, in->ndisks, sizeof(*in->disks), cmp_disk);
	return 0;
}

struct snap *
snap_open_fd(int fd, int dirfd, char *why, size_t whylen)
{
	struct snap *s;
	struct stat st;
	struct trailer t;
	struct hdr h;
	uint8_t *m = NULL;
	uint64_t size, cb;
	uint32_t i, crc;

	s = calloc(1, sizeof(*s));
	if (!s) {
		close(fd);
		FAIL(ENOMEM, "out of memory");
		return NULL;
	}
	s->cached = -1;
	s->file = calloc(1, sizeof(*s->file));
	if (!s->file) {
		close(fd);
		free(s);
		FAIL(ENOMEM, "out of memory");
		return NULL;
	}
	s->file[0].fd = fd;
	s->nfiles = 1;
	if (fstat(fd, &st) < 0) {
		FAIL(errno, "%s", strerror(errno));
		goto fail;
	}
	if (S_ISDIR(st.st_mode)) {
		FAIL(EISDIR, "%s", strerror(EISDIR));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		FAIL(EINVAL, "not a regular file");
		goto fail;
	}
	size = (uint64_t)st.st_size;
	if (hdr_read(s, fd, size, "", &h, why, whylen) < 0)
		goto fail;
	if (h.flags & SNAP_F_PART) {
		BAD("a part file (the memory of node %" PRIu32 "), not a "
		    "snapshot: give its main file",
		    h.part - 1);
		goto fail;
	}
	if (h.part || h.moff != SNAP_HDR_SIZE ||
	    h.mbytes < SNAP_MANIFEST_SIZE || h.mbytes > MANIFEST_MAX ||
	    h.file_bytes <
		    SNAP_HDR_SIZE + (uint64_t)h.mbytes + SNAP_TRAILER_SIZE) {
		BAD("header: manifest of %" PRIu32 " bytes at %" PRIu64
		    " in a file of %" PRIu64 " (expected at 64, %d to %d "
		    "bytes)",
		    h.mbytes, h.moff, h.file_bytes, SNAP_MANIFEST_SIZE,
		    MANIFEST_MAX);
		goto fail;
	}
	if (size < h.file_bytes) {
		truncated(s, fd, size, &h, why, whylen);
		goto fail;
	}
	if (size > h.file_bytes) {
		BAD("%" PRIu64 " bytes, written as %" PRIu64
		    ": something was added at the end",
		    size, h.file_bytes);
		goto fail;
	}
	s->file[0].bytes = size;
	m = malloc(h.mbytes);
	if (!m) {
		FAIL(ENOMEM, "out of memory");
		goto fail;
	}
	if (s_read(s, fd, m, h.mbytes, h.moff, why, whylen, "") < 0)
		goto fail;
	crc = crc_of(0, m, h.mbytes);
	if (crc != h.mcrc) {
		BAD("manifest: bad CRC32 0x%08" PRIx32
		    ", expected 0x%08" PRIx32,
		    crc, h.mcrc);
		goto fail;
	}
	if (trailer_read(s, fd, &h, "", &t, why, whylen) < 0)
		goto fail;
	s->file[0].file_crc = t.file_crc;
	s->info.version = h.version;
	s->info.flags = h.flags;
	memcpy(s->info.snap_id, h.id, 16);
	s->info.file_bytes = size;
	if (manifest_decode(s, m, h.mbytes, &h, dirfd, why, whylen) < 0)
		goto fail;
	for (i = 0; i < s->nmem; i++) {
		struct snap_section *sec = &s->info.sec[s->mem[i]];

		sec->first_chunk = s->info.chunks;
		s->info.chunks += sec->chunks;
		if (index_load(s, s->mem[i], why, whylen) < 0)
			goto fail;
	}
	if (disks_load(s, why, whylen) < 0)
		goto fail;
	cb = (uint64_t)s->info.chunk_pages * PG;
	s->zbuf = malloc(cb);
	s->cache = malloc(cb);
	if (!s->zbuf || !s->cache) {
		FAIL(ENOMEM, "out of memory");
		goto fail;
	}
	free(m);
	return s;
fail:
	free(m);
	{
		int e = errno;

		snap_close(s);
		errno = e;
	}
	return NULL;
}

struct snap *
snap_open(const char *path, char *why, size_t whylen)
{
	char dir[PATH_MAX];
	struct snap *s;
	int fd, dirfd, e;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		FAIL(errno, "%s", strerror(errno));
		return NULL;
	}
	avm_dirname(path, dir, sizeof(dir));
	/* Without the folder, only a snapshot with parts fails. */
	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	s = snap_open_fd(fd, dirfd, why, whylen);
	e = errno;
	if (dirfd >= 0)
		close(dirfd);
	errno = e;
	return s;
}

const struct snap_info *
snap_info(const struct snap *s)
{
	return &s->info;
}

const struct snap_io *
snap_io(const struct snap *s)
{
	return &s->io;
}

void
snap_close(struct snap *s)
{
	uint32_t i;

	if (!s)
		return;
	for (i = 0; i < s->nfiles; i++)
		if (s->file[i].fd >= 0)
			close(s->file[i].fd);
	if (s->index)
		for (i = 0; i < s->info.nsec; i++)
			free(s->index[i]);
	free(s->index);
	free(s->file);
	free(s->mem);
	free(s->zbuf);
	free(s->cache);
	free(s->info.node);
	free(s->info.parts);
	free(s->info.sec);
	free(s->info.disks);
	free(s);
}

/* Chunk c of memory section sec into out (its raw bytes), checked. */
static int
chunk_load(struct snap *s, const struct snap_section *sec, uint32_t c,
	   uint8_t *out, char *why, size_t whylen)
{
	const struct chunk *ch = &s->index[sec - s->info.sec][c];
	const struct rfile *f = &s->file[sec->part];
	uLongf len = ch->raw;
	uint32_t crc;
	char l[96];
	int zr;

	if (s_read(s, f->fd, s->zbuf, ch->stored, ch->offset, why, whylen,
		   f->label) < 0)
		return -1;
	crc = crc_of(0, s->zbuf, ch->stored);
	if (crc != ch->crc)
		return BAD("%s: bad CRC32 0x%08" PRIx32
			   ", expected 0x%08" PRIx32,
			   chunk_label(s, sec, c, l, sizeof(l)), crc, ch->crc);
	if (ch->flags & SNAP_CHUNK_DEFLATE) {
		s->io.inflates++;
		zr = uncompress(out, &len, s->zbuf, ch->stored);
		if (zr != Z_OK || len != ch->raw)
			return BAD("%s: does not inflate to its %" PRIu32
				   " bytes (zlib: %s)",
				   chunk_label(s, sec, c, l, sizeof(l)),
				   ch->raw, zr == Z_OK ? "short" : zError(zr));
	} else {
		memcpy(out, s->zbuf, ch->stored);
	}
	crc = crc_of(0, out, ch->raw);
	if (crc != ch->raw_crc)
		return BAD("%s: bad CRC32 of its pages 0x%08" PRIx32
			   ", expected 0x%08" PRIx32,
			   chunk_label(s, sec, c, l, sizeof(l)), crc,
			   ch->raw_crc);
	return 0;
}

int
snap_read_page(struct snap *s, uint64_t off, void *buf, char *why,
	       size_t whylen)
{
	const struct snap_section *sec = NULL;
	uint64_t cb = (uint64_t)s->info.chunk_pages * PG, rel;
	uint32_t lo = 0, hi = s->nmem, mid, c, p, k, rank;
	const struct chunk *ch;

	if (off % PG || off >= s->info.mem_bytes)
		return FAIL(EINVAL,
			    "0x%" PRIx64 ": not a page of the VM's "
			    "%" PRIu64 " bytes",
			    off, s->info.mem_bytes);
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		sec = &s->info.sec[s->mem[mid]];
		if (off < sec->ram_off)
			hi = mid;
		else if (off - sec->ram_off >= sec->raw_bytes)
			lo = mid + 1;
		else
			break;
	}
	rel = off - sec->ram_off;
	c = (uint32_t)(rel / cb);
	p = (uint32_t)(rel % cb / PG);
	ch = &s->index[sec - s->info.sec][c];
	if (ch->zero[p / 8] & (1u << p % 8)) {
		memset(buf, 0, PG);
		return 0;
	}
	if (s->cached != (int64_t)(sec->first_chunk + c)) {
		s->cached = -1;
		if (chunk_load(s, sec, c, s->cache, why, whylen) < 0)
			return -1;
		s->cached = (int64_t)(sec->first_chunk + c);
	}
	for (k = 0, rank = 0; k < p; k++)
		if (!(ch->zero[k / 8] & (1u << k % 8)))
			rank++;
	memcpy(buf, s->cache + (size_t)rank * PG, PG);
	return 0;
}

int
snap_read_state(struct snap *s, uint32_t i, void *buf, size_t len, char *why,
		size_t whylen)
{
	const struct snap_section *sec;
	const struct rfile *f;
	uLongf out;
	uint8_t *z;
	uint32_t crc;
	char l[64];
	int zr;

	if (i >= s->info.nsec || s->info.sec[i].type == SNAP_SEC_MEMORY ||
	    len < s->info.sec[i].raw_bytes)
		return FAIL(EINVAL,
			    "section %" PRIu32 ": not a state that "
			    "fits %zu bytes",
			    i, len);
	sec = &s->info.sec[i];
	f = &s->file[sec->part];
	sec_label(sec, l, sizeof(l));
	z = malloc(sec->stored_bytes ? sec->stored_bytes : 1);
	if (!z)
		return FAIL(ENOMEM, "out of memory");
	if (s_read(s, f->fd, z, sec->stored_bytes, sec->offset, why, whylen,
		   "") < 0)
		goto fail;
	crc = crc_of(0, z, sec->stored_bytes);
	if (crc != sec->crc) {
		BAD("%s: bad CRC32 0x%08" PRIx32 ", expected 0x%08" PRIx32, l,
		    crc, sec->crc);
		goto fail;
	}
	if (sec->flags & SNAP_SEC_DEFLATE) {
		s->io.inflates++;
		out = (uLongf)sec->raw_bytes;
		zr = uncompress(buf, &out, z, sec->stored_bytes);
		if (zr != Z_OK || out != sec->raw_bytes) {
			BAD("%s: does not inflate to its %" PRIu64
			    " bytes (zlib: %s)",
			    l, sec->raw_bytes,
			    zr == Z_OK ? "short" : zError(zr));
			goto fail;
		}
	} else {
		memcpy(buf, z, sec->stored_bytes);
	}
	crc = crc_of(0, buf, sec->raw_bytes);
	if (crc != sec->raw_crc) {
		BAD("%s: bad CRC32 of its bytes 0x%08" PRIx32
		    ", expected 0x%08" PRIx32,
		    l, crc, sec->raw_crc);
		goto fail;
	}
	free(z);
	return 0;
fail:
	free(z);
	return -1;
}

/* Pages in chunk c of sec (the last one may be short). */
static uint32_t
chunk_npages(const struct snap_section *sec, uint32_t cpages, uint32_t c)
{
	uint64_t left = sec->raw_bytes / PG - (uint64_t)c * cpages;

	return left < cpages ? (uint32_t)left : cpages;
}

/* CRC32 of a zero page, once. */
static uint32_t
zero_page_crc(void)
{
	static uint8_t zero[PG];
	static uint32_t crc;
	static int done;

	if (!done) {
		crc = (uint32_t)crc32(0, zero, PG);
		done = 1;
	}
	return crc;
}

/* A chunk that stores nothing: its pages are zero. */
static void
ram_crc_zero(uint32_t *crc, const struct snap_section *sec, uint32_t cpages,
	     uint32_t c)
{
	uint32_t k, n = chunk_npages(sec, cpages, c);

	for (k = 0; k < n; k++)
		*crc = (uint32_t)crc32_combine(*crc, zero_page_crc(), PG);
}

/* A chunk's pages into *crc: its zero pages and, in order, raw's. */
static void
ram_crc_chunk(uint32_t *crc, const struct snap_section *sec, uint32_t cpages,
	      const struct chunk *ch, uint32_t c, const uint8_t *raw)
{
	uint32_t k, n = chunk_npages(sec, cpages, c);

	for (k = 0; k < n; k++) {
		if (ch->zero[k / 8] & (1u << k % 8)) {
			*crc = (uint32_t)crc32_combine(*crc, zero_page_crc(),
						       PG);
			continue;
		}
		*crc = crc_of(*crc, raw, PG);
		raw += PG;
	}
}

int
snap_verify(struct snap *s, struct snap_verified *out,
	    void (*progress)(void *arg, uint64_t done, uint64_t total),
	    void *arg, char *why, size_t whylen)
{
	const struct snap_info *in = &s->info;
	uint64_t total = 0, done = 0, off, end, n;
	size_t bufsize = CRC_BUF; /* >= a chunk; grows to the largest state */
	uint8_t *buf = NULL;
	uint32_t i, c, crc, *sec_crc = NULL;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	out->bad_chunk = -1;
	out->bad_section = -1;
	for (i = 0; i < in->nsec; i++) {
		if (in->sec[i].type == SNAP_SEC_MEMORY) {
			total += in->sec[i].chunk_bytes;
			continue;
		}
		total += in->sec[i].stored_bytes;
		if (in->sec[i].raw_bytes > bufsize)
			bufsize = (size_t)in->sec[i].raw_bytes;
	}
	for (i = 0; i < s->nfiles; i++)
		total += s->file[i].bytes - SNAP_TRAILER_SIZE;
	buf = malloc(bufsize);
	sec_crc = calloc(in->nsec, sizeof(*sec_crc));
	if (!buf || !sec_crc) {
		free(buf);
		free(sec_crc);
		return FAIL(ENOMEM, "out of memory");
	}
	for (i = 0; i < in->nsec; i++) {
		const struct snap_section *sec = &in->sec[i];

		if (sec->type != SNAP_SEC_MEMORY) {
			if (snap_read_state(s, i, buf, bufsize, why, whylen) <
			    0) {
				out->bad_section = (int32_t)i;
				goto out;
			}
			done += sec->stored_bytes;
			out->sections++;
			continue;
		}
		sec_crc[i] = (uint32_t)crc32(0, NULL, 0);
		for (c = 0; c < sec->chunks; c++) {
			if (s->index[i][c].stored == 0) {
				ram_crc_zero(&sec_crc[i], sec, in->chunk_pages,
					     c);
				continue;
			}
			if (chunk_load(s, sec, c, buf, why, whylen) < 0) {
				if (errno == EBADMSG) {
					out->bad_section = (int32_t)i;
					out->bad_chunk =
						(int64_t)(sec->first_chunk + c);
				}
				goto out;
			}
			ram_crc_chunk(&sec_crc[i], sec, in->chunk_pages,
				      &s->index[i][c], c, buf);
			out->chunks++;
			done += s->index[i][c].stored;
			if (progress)
				progress(arg, done, total);
		}
		out->sections++;
	}
	/* The memory sections in RAM order: guest RAM's CRC32. */
	out->ram_crc = (uint32_t)crc32(0, NULL, 0);
	for (i = 0; i < s->nmem; i++)
		out->ram_crc = (uint32_t)crc32_combine(
			out->ram_crc, sec_crc[s->mem[i]],
			(z_off_t)in->sec[s->mem[i]].raw_bytes);
	for (i = 0; i < s->nfiles; i++) {
		const struct rfile *f = &s->file[i];

		crc = (uint32_t)crc32(0, NULL, 0);
		end = f->bytes - SNAP_TRAILER_SIZE;
		for (off = 0; off < end; off += n) {
			n = end - off < CRC_BUF ? end - off : CRC_BUF;
			if (s_read(s, f->fd, buf, (size_t)n, off, why, whylen,
				   f->label) < 0)
				goto out;
			crc = crc_of(crc, buf, n);
			out->bytes += n;
			done += n;
			if (progress)
				progress(arg, done, total);
		}
		if (crc != f->file_crc) {
			BAD("%sfile: bad CRC32 0x%08" PRIx32
			    ", expected 0x%08" PRIx32 " (the trailer's)",
			    f->label, crc, f->file_crc);
			goto out;
		}
		if (i == 0)
			out->file_crc = crc;
	}
	rc = 0;
out:
	free(sec_crc);
	free(buf);
	return rc;
}
