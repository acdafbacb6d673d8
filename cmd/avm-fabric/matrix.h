/*
 * up's link matrix (matrix.c): what to measure with, what came out, and
 * how it is shown.
 */
#ifndef AVM_FABRIC_MATRIX_H
#define AVM_FABRIC_MATRIX_H

#include <stdint.h>
#include <stdio.h>

#include "avm/config.h"
#include "avm/emit.h"
#include "avm/fabricmap.h"
#include "fabric.h"
#include "ssh.h"

/* The hosts, already reached (conns[i]: node i's), and where up put the
 * cluster file and the secret on them. */
struct matrix_plan {
	const struct avm_config *cfg;
	struct ssh_conn **conns;
	const char *remote_cluster, *remote_secret;
};

/* One ordered pair's measurement, from node i to node j. */
struct matrix_link {
	int ok;
	uint64_t rtt_min_ns, rtt_median_ns, rtt_max_ns;
	uint64_t bw;		 /* bytes per second */
	int64_t clock_offset_ns; /* the peer's wall clock minus ours */
	uint64_t clock_error_ns; /* give or take */
	uint64_t mtu;		 /* path MTU; 0 unknown */
	char error[512];
};

struct matrix {
	size_t n;
	struct matrix_link *links;    /* n * n, [i * n + j] */
	char (*errors)[512];	      /* per node: why its end did not listen */
	const struct fabric_map *map; /* &own once made from it; NULL before */
	struct fabric_map own;
};

/*
 * Measures every ordered pair, one at a time.  Returns 0 when every link
 * was measured, else 69 (mx says which and why).  mx is to be released
 * either way.
 */
int matrix_measure(const struct fabric *f, const struct matrix_plan *p,
		   struct matrix *mx);
/* 0 when every link was measured, else 69. */
int matrix_status(const struct matrix *mx);
/* The failures, then the round trip and bandwidth tables. */
void matrix_print(FILE *out, const struct fabric *f,
		  const struct avm_config *cfg, const struct matrix *mx);
/* "links": a list of one map per ordered pair, and "distance" (the map's
 * rows) once there is a map, into a JSON document. */
void matrix_emit(struct emit *e, const struct avm_config *cfg,
		 const struct matrix *mx);
/*
 * The fabric map of a complete measurement: the median round trips,
 * the bandwidths and the distances they give (fabricmap.h).  Returns 0,
 * or -1 with errno (m to be released either way).
 */
int matrix_map(const struct avm_config *cfg, const struct matrix *mx,
	       struct fabric_map *m);
/* The map's distances as a table, saying where the map went. */
void matrix_print_map(FILE *out, const struct avm_config *cfg,
		      const struct matrix *mx, const char *path);
void matrix_release(struct matrix *mx);

#endif
