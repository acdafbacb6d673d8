/*
 * Device state bytes: what each device model's save writes and its
 * restore reads, for the snapshot file (avm-snap(5) "Device states"),
 * which stores them as opaque bytes keyed by the device's name.
 *
 * Every state is a 4-byte header, then the device's fields in a fixed
 * little-endian layout of its own:
 *
 *	0  2  version  the device's layout version
 *	2  2  length   payload bytes after the header
 *
 * A reader takes only the versions it knows and names the one it got;
 * length must be the one that version has.  Save writes into the
 * caller's buffer (DEVSTATE_MAX bytes is enough for every device) and
 * returns the length, or -1 with errno ENOSPC when cap is too small.
 * Restore checks every field before it changes anything: it returns 0,
 * or -1 with errno EINVAL (bad length or field) or EPROTO (unknown
 * version) and a lowercase reason in why, the device left as it was.
 */
#ifndef AVM_RUN_DEVSTATE_H
#define AVM_RUN_DEVSTATE_H

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define DEVSTATE_HDR_SIZE 4
#define DEVSTATE_MAX 512

static inline void
ds_put8(uint8_t **p, uint8_t v)
{
	*(*p)++ = v;
}

static inline void
ds_put16(uint8_t **p, uint16_t v)
{
	ds_put8(p, (uint8_t)v);
	ds_put8(p, (uint8_t)(v >> 8));
}

static inline void
ds_put32(uint8_t **p, uint32_t v)
{
	ds_put16(p, (uint16_t)v);
	ds_put16(p, (uint16_t)(v >> 16));
}

static inline void
ds_put64(uint8_t **p, uint64_t v)
{
	ds_put32(p, (uint32_t)v);
	ds_put32(p, (uint32_t)(v >> 32));
}

static inline uint8_t
ds_get8(const uint8_t **p)
{
	return *(*p)++;
}

static inline uint16_t
ds_get16(const uint8_t **p)
{
	uint16_t v = ds_get8(p);

	return (uint16_t)(v | (uint16_t)ds_get8(p) << 8);
}

static inline uint32_t
ds_get32(const uint8_t **p)
{
	uint32_t v = ds_get16(p);

	return v | (uint32_t)ds_get16(p) << 16;
}

static inline uint64_t
ds_get64(const uint8_t **p)
{
	uint64_t v = ds_get32(p);

	return v | (uint64_t)ds_get32(p) << 32;
}

/* Fills why (may be NULL) and errno; returns -1. */
static inline int __attribute__((format(printf, 4, 5)))
ds_fail(char *why, size_t whylen, int err, const char *fmt, ...)
{
	va_list ap;

	if (why && whylen) {
		va_start(ap, fmt);
		vsnprintf(why, whylen, fmt, ap);
		va_end(ap);
	}
	errno = err;
	return -1;
}

/*
 * Starts a save of version with payload bytes into buf: returns the
 * write pointer after the header, or NULL with errno ENOSPC.
 */
static inline uint8_t *
ds_begin(void *buf, size_t cap, uint16_t version, uint16_t payload)
{
	uint8_t *p = buf;

	if (cap < DEVSTATE_HDR_SIZE + (size_t)payload) {
		errno = ENOSPC;
		return NULL;
	}
	ds_put16(&p, version);
	ds_put16(&p, payload);
	return p;
}

/*
 * Checks the header of len bytes at buf for name's layout version and
 * payload size: returns the payload, or NULL with errno and why set.
 */
static inline const uint8_t *
ds_open(const void *buf, size_t len, const char *name, uint16_t version,
	uint16_t payload, char *why, size_t whylen)
{
	const uint8_t *p = buf;
	uint16_t v, n;

	if (len < DEVSTATE_HDR_SIZE) {
		ds_fail(why, whylen, EINVAL,
			"%s state: %zu bytes, shorter than its header", name,
			len);
		return NULL;
	}
	v = ds_get16(&p);
	n = ds_get16(&p);
	if (v != version) {
		ds_fail(why, whylen, EPROTO,
			"%s state: layout version %u, this build reads %u",
			name, v, version);
		return NULL;
	}
	if (n != payload || len != DEVSTATE_HDR_SIZE + (size_t)payload) {
		ds_fail(why, whylen, EINVAL,
			"%s state: %zu bytes with length field %u, version "
			"%u has %u",
			name, len - DEVSTATE_HDR_SIZE, n, version, payload);
		return NULL;
	}
	return p;
}

#endif
