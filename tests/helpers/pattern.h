/*
 * The guest RAM patterns of the test snapshots: avm-snapgen writes them,
 * avm-pager-client checks a restored memory against them, so both take
 * them from here.  Page p (RAM offset p * 4096) of each pattern:
 *
 *   zero     every byte 0
 *   random   every 8-byte word from a hash of the seed, p and the word
 *   counter  each 8-byte word holds its own RAM offset
 *   mixed    p % 4 == 1: counter, p % 4 == 2: random, else zero
 */
#ifndef AVM_TEST_PATTERN_H
#define AVM_TEST_PATTERN_H

#include <stdint.h>
#include <string.h>

enum pattern { PAT_ZERO, PAT_RANDOM, PAT_COUNTER, PAT_MIXED };

/* The pattern called name; -1 when there is none. */
static inline int
pattern_parse(const char *name)
{
	static const char *const n[] = { "zero", "random", "counter", "mixed" };

	for (int i = 0; i < 4; i++)
		if (strcmp(name, n[i]) == 0)
			return i;
	return -1;
}

static inline uint64_t
pattern_mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

/* Word i (0..511) of page p. */
static inline uint64_t
pattern_word(enum pattern k, uint64_t seed, uint64_t p, uint64_t i)
{
	if (k == PAT_MIXED)
		k = p % 4 == 1	 ? PAT_COUNTER
		    : p % 4 == 2 ? PAT_RANDOM
				 : PAT_ZERO;
	switch (k) {
	case PAT_RANDOM:
		return pattern_mix64(seed * 0x9e3779b97f4a7c15ull + p * 512 +
				     i);
	case PAT_COUNTER:
		return p * 4096 + i * 8;
	default:
		return 0;
	}
}

/* 1 when page p of the pattern is all zero bytes. */
static inline int
pattern_page_zero(enum pattern k, uint64_t p)
{
	return k == PAT_ZERO || (k == PAT_MIXED && (p % 4 == 0 || p % 4 == 3));
}

/* Page p into buf (4096 bytes). */
static inline void
pattern_page(enum pattern k, uint64_t seed, uint64_t p, uint8_t *buf)
{
	for (uint64_t i = 0; i < 4096 / 8; i++) {
		uint64_t w = pattern_word(k, seed, p, i);

		memcpy(buf + i * 8, &w, 8);
	}
}

#endif
