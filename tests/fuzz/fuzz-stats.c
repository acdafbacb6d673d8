/*
 * libFuzzer target for the stats files' reader (lib/stats.c), the way
 * avm-top meets a file: any bytes, written to a file and read as a pager
 * and as a run stats file, give 0 or an error with a reason, never a
 * crash, a hang, a leak or a read out of bounds; what reads must pass
 * its own check again, and the in-memory checks agree with the reader.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "avm/stats.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char path[64];

static void
put(const uint8_t *data, size_t size)
{
	int fd;

	if (!path[0])
		snprintf(path, sizeof(path), "/tmp/fuzz-stats.%d",
			 (int)getpid());
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		abort();
	if (size && write(fd, data, size) != (ssize_t)size)
		abort();
	close(fd);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct pager_stats ps;
	struct run_stats *rs = NULL;
	char why[256];
	int rc;

	put(data, size);
	why[0] = 0;
	rc = stats_read_pager(path, &ps, why, sizeof(why));
	if (rc == 0 && stats_check_pager(&ps, sizeof(ps), NULL, 0) != 0)
		abort();
	if (rc == -EPROTO && !why[0])
		abort();
	if (rc != 0 && rc != -EPROTO && rc != -EAGAIN)
		abort();
	why[0] = 0;
	rc = stats_read_run(path, &rs, why, sizeof(why));
	if (rc == 0 && (!rs || stats_check_run(rs, rs->size, NULL, 0) != 0 ||
			rs->size != size))
		abort();
	if (rc == -EPROTO && !why[0])
		abort();
	if (rc != 0 && rc != -EPROTO && rc != -EAGAIN)
		abort();
	free(rs);
	/* The checks alone, on the bytes in memory (aligned copy). */
	if (size >= sizeof(struct run_stats)) {
		void *copy = malloc(size);

		memcpy(copy, data, size);
		(void)stats_check_run(copy, size, why, sizeof(why));
		free(copy);
	}
	if (size == sizeof(struct pager_stats)) {
		memcpy(&ps, data, size);
		(void)stats_check_pager(&ps, size, why, sizeof(why));
	}
	return 0;
}
