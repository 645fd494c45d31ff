/* SPDX-License-Identifier: MIT */
/* A minimal streaming JSON writer: keys and commas are tracked for the caller. */
#ifndef HOTALLOC_JSON_H
#define HOTALLOC_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct ha_json {
	FILE *f;
	int depth;
	bool first[64];		/* no member written yet at this depth */
	bool pretty;
};

void ha_json_init(struct ha_json *j, FILE *f, bool pretty);
/* key may be NULL inside arrays. */
void ha_json_begin(struct ha_json *j, const char *key, char bracket);
void ha_json_end(struct ha_json *j, char bracket);
void ha_json_u64(struct ha_json *j, const char *key, uint64_t v);
void ha_json_i64(struct ha_json *j, const char *key, int64_t v);
void ha_json_f64(struct ha_json *j, const char *key, double v);
void ha_json_bool(struct ha_json *j, const char *key, bool v);
void ha_json_null(struct ha_json *j, const char *key);
void ha_json_strn(struct ha_json *j, const char *key, const char *s, size_t len);
void ha_json_str(struct ha_json *j, const char *key, const char *s);

#endif
