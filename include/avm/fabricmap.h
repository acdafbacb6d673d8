/*
 * The fabric map: what `avm-fabric up` measured on every link of one VM
 * (round-trip latency and bandwidth from each node to each other node)
 * and the ACPI SLIT distances it computed from them.  avm-fabric writes
 * it to <rundir>/<vm>/fabric.map on every host; avm-run's node 0 reads
 * it and gives the guest its distances.  The format is YAML, described
 * in avm.7 (FABRIC MAP):
 *
 *   # written by avm-fabric up: the measured links of VM 'fab'
 *   version: 1
 *   vm: fab
 *   nodes: 3
 *   rtt_median_ns:
 *     - [0, 51234, 60321]
 *     - [50000, 0, 48000]
 *     - [61000, 47000, 0]
 *   bandwidth_bytes_per_s:
 *     - [0, 1600000000, 1500000000]
 *     - ...
 *   distance:
 *     - [10, 20, 23]
 *     - [20, 10, 20]
 *     - [23, 20, 10]
 *
 * The reader is as strict as the cluster file's (avm/config.h): unknown
 * and duplicate keys, wrong types, values out of range, anchors, aliases,
 * tags and extra documents are errors naming the line and column.
 *
 * The version rule: "version" is read before any other key, so a file of
 * another version is refused as that ("version 2, this avm reads version
 * 1"), not for a key this reader does not know.  A change a version 1
 * reader would misread takes a new version.
 */
#ifndef AVM_FABRICMAP_H
#define AVM_FABRICMAP_H

#include <stddef.h>
#include <stdint.h>

#include "avm/config.h"

#define FABRIC_MAP_VERSION 1
#define FABRIC_MAP_NODES_MAX 256 /* ACPI's proximity domains */
#define FABRIC_MAP_FILE "fabric.map"
#define FABRIC_MAP_FILE_MAX (8u << 20) /* bytes; 256 nodes fit in 5M */

/* SLIT distances (ACPI 6.5, 5.2.17). */
#define FABRIC_MAP_DIST_LOCAL 10  /* the diagonal */
#define FABRIC_MAP_DIST_REMOTE 20 /* the nearest pair; also: no map */
/* Pairs within 5/4 of the nearest's latency are as near as it. */
#define FABRIC_MAP_NEAR_NUM 5
#define FABRIC_MAP_NEAR_DEN 4
#define FABRIC_MAP_DIST_MIN 11	/* off the diagonal */
#define FABRIC_MAP_DIST_MAX 254 /* 255 would say "unreachable" */

/*
 * One map.  Matrices are nodes x nodes, row-major: entry [i * nodes + j]
 * is about the link from node i to node j.
 */
struct fabric_map {
	uint32_t version; /* FABRIC_MAP_VERSION */
	char vm[AVM_VM_NAME_MAX + 1];
	uint32_t nodes; /* 1..FABRIC_MAP_NODES_MAX */
	/* median round trip in ns, 0 on the diagonal and where not
	 * measured; NULL: not in the file */
	uint64_t *rtt_ns;
	/* bytes per second, 0 on the diagonal and where not measured;
	 * NULL: not in the file */
	uint64_t *bw;
	/* the SLIT: FABRIC_MAP_DIST_LOCAL on the diagonal, MIN..MAX
	 * elsewhere; never NULL in a map that loaded or formats */
	uint8_t *distance;
};

/*
 * An empty map of VM vm with nodes nodes: every matrix allocated and
 * zeroed (fill rtt_ns and bw, free and NULL those not measured, then
 * fabric_map_distances).  Returns 0, or -1 with errno EINVAL (a bad VM
 * name, nodes not in 1..FABRIC_MAP_NODES_MAX) or ENOMEM; *m is left
 * empty then, and fabric_map_release() on it is harmless.
 */
int fabric_map_init(struct fabric_map *m, const char *vm, uint32_t nodes);

/* Frees the matrices and zeroes *m.  Safe to call twice. */
void fabric_map_release(struct fabric_map *m);

/*
 * Fills m->distance from m->rtt_ns, symmetric, by one rule:
 *
 *   - a pair's latency is the mean of rtt[i][j] and rtt[j][i], or the
 *     one of them that is not 0; both 0 means not measured;
 *   - the pair with the smallest latency gets FABRIC_MAP_DIST_REMOTE
 *     (20), and so does every pair less than 5/4 of it (noise, on
 *     links alike); every other measured pair round(20 * rtt /
 *     smallest), so 25 and up, at most FABRIC_MAP_DIST_MAX (a link
 *     12.7 times slower or more);
 *   - a pair not measured gets 20, what the guest sees without a map;
 *   - the diagonal is FABRIC_MAP_DIST_LOCAL (10); one node is just 10.
 *
 * A nearer pair never gets a larger distance than a farther one.  The
 * diagonal of rtt_ns is not read.  Returns 0, or -1 with errno EINVAL
 * (no rtt_ns or distance, nodes out of range).
 */
int fabric_map_distances(struct fabric_map *m);

/*
 * Whether m is a map the loader would give back: version, VM name, node
 * count, diagonals and ranges.  Returns 0, or -1 with errno EINVAL and
 * why (whylen bytes) saying which entry is wrong.
 */
int fabric_map_check(const struct fabric_map *m, char *why, size_t whylen);

/*
 * The map as the file's text (the format above, with comments) in *buf,
 * NUL-terminated, *len bytes without the NUL; the caller frees it.
 * Returns 0, or -1 with errno EINVAL (fabric_map_check fails) or
 * ENOMEM.
 */
int fabric_map_format(const struct fabric_map *m, char **buf, size_t *len);

/*
 * Parses len bytes at buf (no NUL needed) into *m; name stands for the
 * file in diagnostics.  Returns 0, or -1 with errno EINVAL (bad content)
 * or ENOMEM and *d filled (d may be NULL); *m is left empty then.
 */
int fabric_map_load_string(const char *name, const char *buf, size_t len,
			   struct fabric_map *m, struct avm_diag *d);

/*
 * Reads and parses the map at path.  Returns 0, or -1 with errno and *d
 * filled (line 0 when the file cannot be read): ENOENT, EACCES, EISDIR or
 * another read error, EINVAL for bad content or a file larger than
 * FABRIC_MAP_FILE_MAX, ENOMEM.
 */
int fabric_map_load_file(const char *path, struct fabric_map *m,
			 struct avm_diag *d);

/*
 * The same from fd, read to its end (the caller checked it with fstat(2)
 * and closes it); name stands for the file in diagnostics.  Errors as
 * fabric_map_load_file.
 */
int fabric_map_load_fd(int fd, const char *name, struct fabric_map *m,
		       struct avm_diag *d);

#endif
