/* KVM's binary statistics of a vCPU; see kvmstats.h. */
#include <errno.h>
#include <linux/kvm.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "avm/stats.h"
#include "avm/util.h"
#include "kvmstats.h"

/* Debian 12's headers have these; older ones may not. */
#ifndef KVM_GET_STATS_FD
#define KVM_GET_STATS_FD _IO(KVMIO, 0xce)
#endif
#ifndef KVM_STATS_TYPE_MASK
#define KVM_STATS_TYPE_MASK 0xf
#endif
#ifndef KVM_STATS_TYPE_CUMULATIVE
#define KVM_STATS_TYPE_CUMULATIVE 0x0
#endif
#ifndef KVM_STATS_TYPE_INSTANT
#define KVM_STATS_TYPE_INSTANT 0x1
#endif

_Static_assert(RUN_KVM_STATS <= 64, "kvm_have is one u64");

static uint32_t
get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint16_t
get16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

int
kvmstats_parse(const void *img, size_t len, struct kvmstats_map *map, char *why,
	       size_t whylen)
{
	const uint8_t *p = img;
	uint32_t name_size, num_desc, desc_offset, data_offset;
	uint64_t desc_size, desc_end, data_len, end = 0;

	memset(map, 0, sizeof(*map));
	if (len < KVMSTATS_HDR_SIZE)
		return avm_why(why, whylen, -EPROTO,
			       "%zu bytes: too short for a header", len);
	name_size = get32(p + 4);
	num_desc = get32(p + 8);
	desc_offset = get32(p + 16);
	data_offset = get32(p + 20);
	if (name_size == 0 || name_size > KVMSTATS_NAME_MAX)
		return avm_why(why, whylen, -EPROTO,
			       "name_size %u is not 1 to %u", name_size,
			       KVMSTATS_NAME_MAX);
	desc_size = KVMSTATS_DESC_SIZE + (uint64_t)name_size;
	desc_end = desc_offset + desc_size * num_desc; /* < 2^49 */
	if (desc_offset < KVMSTATS_HDR_SIZE || desc_end > len)
		return avm_why(
			why, whylen, -EPROTO,
			"%u descriptors of %llu bytes at %u: outside the "
			"%zu bytes",
			num_desc, (unsigned long long)desc_size, desc_offset,
			len);
	if (data_offset < desc_end || data_offset > len)
		return avm_why(why, whylen, -EPROTO,
			       "data at %u: before the descriptors' end (%llu) "
			       "or past the %zu bytes",
			       data_offset, (unsigned long long)desc_end, len);
	data_len = len - data_offset;
	for (uint32_t k = 0; k < num_desc; k++) {
		const uint8_t *d = p + desc_offset + k * desc_size;
		const char *name = (const char *)d + KVMSTATS_DESC_SIZE;
		uint32_t flags = get32(d), type = flags & KVM_STATS_TYPE_MASK;
		uint32_t off = get32(d + 8);
		uint16_t size = get16(d + 6);
		int i;

		/* A name that fills name_size without its NUL is nobody's. */
		if (!memchr(name, '\0', name_size))
			continue;
		for (i = 0; i < RUN_KVM_STATS; i++)
			if (strcmp(name, run_kvm_stat_name(i)) == 0)
				break;
		if (i == RUN_KVM_STATS || (map->have & (1ull << i)))
			continue;
		if ((type != KVM_STATS_TYPE_CUMULATIVE &&
		     type != KVM_STATS_TYPE_INSTANT) ||
		    size != 1)
			continue;
		if ((uint64_t)off + 8 > data_len)
			return avm_why(
				why, whylen, -EPROTO,
				"'%s': offset %u is outside the data (%llu "
				"bytes)",
				name, off, (unsigned long long)data_len);
		map->off[i] = off;
		map->have |= 1ull << i;
		if (off + 8ull > end)
			end = off + 8ull;
	}
	map->data_offset = data_offset;
	map->data_len = (uint32_t)end;
	return 0;
}

void
kvmstats_values(const struct kvmstats_map *map, const void *data, size_t len,
		uint64_t val[RUN_KVM_STATS])
{
	for (int i = 0; i < RUN_KVM_STATS; i++) {
		val[i] = 0;
		if ((map->have & (1ull << i)) && map->off[i] + 8ull <= len)
			memcpy(&val[i], (const uint8_t *)data + map->off[i],
			       sizeof(val[i]));
	}
}

/* Bytes of fd from off until its end (at most max), into *out. */
static int
read_all(int fd, uint8_t **out, size_t *outlen, size_t max)
{
	size_t cap = 4096, got = 0;
	uint8_t *buf = malloc(cap), *n;
	ssize_t r;

	for (;;) {
		if (!buf)
			return -ENOMEM;
		if (got == cap) {
			if (cap >= max) {
				free(buf);
				return -EFBIG;
			}
			cap *= 2;
			n = realloc(buf, cap);
			if (!n) {
				free(buf);
				return -ENOMEM;
			}
			buf = n;
		}
		r = pread(fd, buf + got, cap - got, (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;

			free(buf);
			return -e;
		}
		if (r == 0)
			break;
		got += (size_t)r;
	}
	*out = buf;
	*outlen = got;
	return 0;
}

int
kvmstats_load(struct kvmstats *ks, int fd, char *why, size_t whylen)
{
	uint8_t *img = NULL;
	size_t len = 0;
	int r;

	memset(ks, 0, sizeof(*ks));
	ks->fd = -1;
	r = read_all(fd, &img, &len, KVMSTATS_IMAGE_MAX);
	if (r == 0)
		r = kvmstats_parse(img, len, &ks->map, why, whylen);
	free(img);
	if (r == 0 && ks->map.data_len) {
		ks->buf = malloc(ks->map.data_len);
		if (!ks->buf)
			r = -ENOMEM;
	}
	if (r < 0) {
		memset(&ks->map, 0, sizeof(ks->map));
		close(fd);
		return r;
	}
	if (!ks->map.have) {
		close(fd); /* nothing of ours in it: nothing to read again */
		return 0;
	}
	ks->fd = fd;
	return 0;
}

int
kvmstats_open(struct kvmstats *ks, int vcpu_fd, char *why, size_t whylen)
{
	int fd;

	memset(ks, 0, sizeof(*ks));
	ks->fd = -1;
	fd = ioctl(vcpu_fd, KVM_GET_STATS_FD, NULL);
	if (fd < 0)
		return -errno;
	return kvmstats_load(ks, fd, why, whylen);
}

int
kvmstats_read(struct kvmstats *ks, uint64_t val[RUN_KVM_STATS])
{
	size_t got = 0;
	ssize_t r;

	if (ks->fd < 0)
		return -EBADF;
	while (got < ks->map.data_len) {
		r = pread(ks->fd, ks->buf + got, ks->map.data_len - got,
			  (off_t)ks->map.data_offset + (off_t)got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -ENODATA;
		got += (size_t)r;
	}
	kvmstats_values(&ks->map, ks->buf, got, val);
	return 0;
}

void
kvmstats_close(struct kvmstats *ks)
{
	if (ks->fd >= 0)
		close(ks->fd);
	ks->fd = -1;
	free(ks->buf);
	ks->buf = NULL;
}
