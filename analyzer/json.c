/* SPDX-License-Identifier: MIT */
/* Streaming JSON output with correct string escaping. */
#include <math.h>
#include <string.h>
#include "json.h"

void ha_json_init(struct ha_json *j, FILE *f, bool pretty)
{
	memset(j, 0, sizeof(*j));
	j->f = f;
	j->pretty = pretty;
	j->first[0] = true;
}

static void escape(FILE *f, const char *s, size_t len)
{
	fputc('"', f);
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c == '\t')
			fputs("\\t", f);
		else if (c < 0x20 || c == 0x7f)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void member(struct ha_json *j, const char *key)
{
	if (!j->first[j->depth])
		fputc(',', j->f);
	j->first[j->depth] = false;
	if (j->pretty && j->depth) {
		fputc('\n', j->f);
		for (int i = 0; i < j->depth; i++)
			fputs("  ", j->f);
	}
	if (key) {
		escape(j->f, key, strlen(key));
		fputs(j->pretty ? ": " : ":", j->f);
	}
}

void ha_json_begin(struct ha_json *j, const char *key, char bracket)
{
	member(j, key);
	fputc(bracket, j->f);
	if (j->depth < 63)
		j->depth++;
	j->first[j->depth] = true;
}

void ha_json_end(struct ha_json *j, char bracket)
{
	bool empty = j->first[j->depth];

	if (j->depth)
		j->depth--;
	if (j->pretty && !empty) {
		fputc('\n', j->f);
		for (int i = 0; i < j->depth; i++)
			fputs("  ", j->f);
	}
	fputc(bracket, j->f);
	if (!j->depth)
		fputc('\n', j->f);
}

void ha_json_u64(struct ha_json *j, const char *key, uint64_t v)
{
	member(j, key);
	fprintf(j->f, "%llu", (unsigned long long)v);
}

void ha_json_i64(struct ha_json *j, const char *key, int64_t v)
{
	member(j, key);
	fprintf(j->f, "%lld", (long long)v);
}

void ha_json_f64(struct ha_json *j, const char *key, double v)
{
	member(j, key);
	if (isfinite(v))
		fprintf(j->f, "%.6g", v);
	else
		fputs("null", j->f);
}

void ha_json_bool(struct ha_json *j, const char *key, bool v)
{
	member(j, key);
	fputs(v ? "true" : "false", j->f);
}

void ha_json_null(struct ha_json *j, const char *key)
{
	member(j, key);
	fputs("null", j->f);
}

void ha_json_strn(struct ha_json *j, const char *key, const char *s, size_t len)
{
	member(j, key);
	escape(j->f, s, len);
}

void ha_json_str(struct ha_json *j, const char *key, const char *s)
{
	ha_json_strn(j, key, s, strlen(s));
}
