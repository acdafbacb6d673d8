/*
 * libFuzzer target for the cluster file parser: any bytes must give
 * either a config or a diagnostic with a place inside the input, never a
 * crash, a leak or a read out of bounds.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "avm/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct avm_config cfg;
	struct avm_diag d;
	char line[1024];
	char *buf;

	/* A copy of exactly size bytes, so ASan sees any read past them. */
	buf = malloc(size ? size : 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	if (config_load_string("fuzz", buf, size, &cfg, &d) == 0) {
		if (cfg.name == NULL || cfg.nnodes == 0 || cfg.nodes == NULL)
			abort();
		config_release(&cfg);
	} else {
		if (d.msg[0] == '\0' || d.line < 0 || d.col < 0)
			abort();
		if (cfg.name != NULL || cfg.nodes != NULL)
			abort();
		avm_diag_format(&d, line, sizeof(line));
	}
	free(buf);
	return 0;
}
