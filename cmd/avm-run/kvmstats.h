/*
 * KVM's own statistics of a vCPU, from the binary stats fd that
 * KVM_GET_STATS_FD gives (Linux 5.14+, Documentation/virt/kvm/api.rst,
 * "KVM_GET_STATS_FD"): the values enum run_kvm_stat names, for the run
 * stats file.
 *
 * The fd reads as one image, in the host's byte order:
 *
 *	header       flags, name_size, num_desc, id_offset, desc_offset,
 *	             data_offset (u32 each, 24 bytes)
 *	id string    name_size bytes at id_offset
 *	descriptors  num_desc of them at desc_offset, each 16 bytes (flags
 *	             u32, exponent s16, size u16, offset u32, bucket_size
 *	             u32) and a NUL-terminated name of name_size bytes
 *	data         at data_offset: the values, u64 each; a descriptor's
 *	             offset is into this block, its size counts u64s
 *
 * The descriptors never change while the fd is open, so they are parsed
 * once (kvmstats_parse, a pure function over the bytes) and afterwards
 * only the data block is read again (kvmstats_read).
 */
#ifndef AVM_RUN_KVMSTATS_H
#define AVM_RUN_KVMSTATS_H

#include <stddef.h>
#include <stdint.h>

#include "avm/runstats.h"

#define KVMSTATS_HDR_SIZE 24
#define KVMSTATS_DESC_SIZE 16 /* without the name */
/* KVM's names are 48 bytes (KVM_STATS_NAME_SIZE); more is not a kernel's */
#define KVMSTATS_NAME_MAX 256
/* Far more than any kernel's image (a few KiB): refused beyond. */
#define KVMSTATS_IMAGE_MAX (1u << 20)

/* Where the chosen values are in the data block. */
struct kvmstats_map {
	uint32_t data_offset;	     /* of the data block in the fd */
	uint32_t data_len;	     /* bytes to read: through the last value */
	uint32_t off[RUN_KVM_STATS]; /* each value's offset in the block */
	uint64_t have;		     /* bit i: off[i] is valid */
};

/*
 * Parses an image of len bytes (the fd read from offset 0 to its end)
 * into *map.  Takes a name of enum run_kvm_stat when it is a cumulative
 * or instant value of one u64 (histograms and peaks are not counters and
 * are skipped); a name KVM does not have stays out of have.  Returns 0,
 * or -EPROTO with why (too short, name_size 0 or over
 * KVMSTATS_NAME_MAX, descriptors or data outside the image, a chosen
 * value outside the data).
 */
int kvmstats_parse(const void *img, size_t len, struct kvmstats_map *map,
		   char *why, size_t whylen);

/* The chosen values out of a data block of len bytes (the start of the
 * block); those not in have, or not within len, are 0. */
void kvmstats_values(const struct kvmstats_map *map, const void *data,
		     size_t len, uint64_t val[RUN_KVM_STATS]);

/* A vCPU's stats fd and what was found in it. */
struct kvmstats {
	int fd;	      /* -1: none */
	uint8_t *buf; /* map.data_len bytes, for kvmstats_read */
	struct kvmstats_map map;
};

/*
 * Asks vcpu_fd for its stats fd and parses it.  Returns 0; -ENOTTY or
 * -EINVAL when the kernel has no KVM_GET_STATS_FD (then ks->fd is -1 and
 * map.have 0, nothing else is wrong); -EPROTO with why when the image
 * does not parse; other negative errnos of ioctl, read and malloc.
 */
int kvmstats_open(struct kvmstats *ks, int vcpu_fd, char *why, size_t whylen);

/*
 * The same for a stats fd already open (kvmstats_open's second half; a
 * file holding an image does as well).  Takes fd: closes it on failure,
 * and also when none of the names is there (then ks->fd is -1, map.have
 * 0, and 0 is returned).
 */
int kvmstats_load(struct kvmstats *ks, int fd, char *why, size_t whylen);

/* Reads the data block again into val.  Returns 0, or a negative
 * errno (-ENODATA: it came short). */
int kvmstats_read(struct kvmstats *ks, uint64_t val[RUN_KVM_STATS]);

/* Closes the fd and frees the buffer; again is harmless. */
void kvmstats_close(struct kvmstats *ks);

#endif
