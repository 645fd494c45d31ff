/* SPDX-License-Identifier: MIT */
/* Snapshots of a run for the gate, from a trace or from a JSON report, and
 * the matching of sites across builds: a site is known by the chain of its
 * functions and source files, innermost first, never by addresses or line
 * numbers, which move whenever the code does.  Limits and verdicts too. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>
#include "gate.h"
#include "hotalloc/format.h"
#include "model.h"
#include "util.h"

const char *ha_metric_name(enum ha_metric m)
{
	static const char *const names[] = { "allocations", "bytes", "peak_bytes", "leaked_bytes",
					     "leaked_blocks" };
	return names[m];
}

static const char *base_name(const char *path)
{
	const char *s = path ? strrchr(path, '/') : NULL;

	return s ? s + 1 : path ? path : "";
}

/* A module as a key knows it: a shared object by its name up to ".so" (its
 * version may change), the executable as "<exe>" (it may be renamed). */
static void module_key(char *out, size_t size, const char *module)
{
	const char *b = base_name(module), *so = strstr(b, ".so");

	if (so)
		snprintf(out, size, "%.*s", (int)(so - b + 3), b);
	else
		snprintf(out, size, "<exe>");
}

/* "function@file;..." with the file's base name.  A frame without a file is
 * known by its module; an unresolved one ("module+0xoffset") by its module
 * alone, since its offset moves with every build. */
static char *match_key(const struct ha_snap_frame *fr, unsigned n, const char *const *modules)
{
	size_t cap = 256, len = 0;
	char *k = xmalloc(cap);
	char mod[256];

	k[0] = 0;
	for (unsigned i = 0; i < n; i++) {
		const char *fn = fr[i].function ? fr[i].function : "?";
		const char *where = fr[i].file ? base_name(fr[i].file) : "";
		const char *m = modules ? modules[i] : NULL;
		size_t need;

		if (!fr[i].file) {
			module_key(mod, sizeof(mod), m ? m : "");
			where = mod;
			if (m && strchr(fn, '+') && !strncmp(fn, base_name(m), strlen(base_name(m))))
				fn = "?";
		}
		need = strlen(fn) + strlen(where) + 3;
		if (len + need >= cap) {
			cap = 2 * (len + need);
			k = xrealloc(k, cap);
		}
		len += (size_t)snprintf(k + len, cap - len, "%s@%s;", fn, where);
	}
	return k;
}

struct key_ent {
	UT_hash_handle hh;
	const char *key;
	size_t idx;
};

/* Adds a site, merging it into an earlier one with the same key. */
static void add_site(struct ha_snapshot *s, struct key_ent **index, struct ha_snap_site *site)
{
	struct key_ent *e;

	HASH_FIND_STR(*index, site->key, e);
	if (e) {
		struct ha_snap_site *into = &s->sites[e->idx];

		for (int m = 0; m < HA_M_COUNT; m++)
			into->v[m] += site->v[m];
		for (unsigned i = 0; i < site->nframes; i++) {
			free(site->frames[i].function);
			free(site->frames[i].file);
		}
		free(site->frames);
		free(site->key);
		return;
	}
	s->sites = xrealloc(s->sites, (s->nsites + 1) * sizeof(*s->sites));
	s->sites[s->nsites] = *site;
	e = xcalloc(1, sizeof(*e));
	e->key = s->sites[s->nsites].key;
	e->idx = s->nsites++;
	HASH_ADD_KEYPTR(hh, *index, e->key, strlen(e->key), e);
}

static void free_index(struct key_ent **index)
{
	struct key_ent *e, *t;

	HASH_ITER(hh, *index, e, t) {
		HASH_DEL(*index, e);
		free(e);
	}
}

static int load_trace(struct ha_snapshot *s, const char *path, const struct ha_gate_opts *o)
{
	struct ha_profile p;
	struct ha_report_opts ro = { HA_GROUP_STACK, HA_SORT_COUNT, 0, o->load.short_ns, false };
	struct ha_model m;
	struct key_ent *index = NULL;

	if (ha_profile_load(&p, path, &o->load) < 0) {
		ha_profile_free(&p);
		return -1;
	}
	/* A gate must not pass on a run it did not see whole. */
	if (p.truncated || (p.ended && p.end_reason == HA_END_EXEC)) {
		if (p.truncated)
			ha_error("trace '%s' is truncated (the program was killed); a check needs a complete run",
				 path);
		else
			ha_error("trace '%s' ends with an exec: the program it ran was traced into another "
				 "file (NAME-1.trace); check that one", path);
		ha_profile_free(&p);
		return -1;
	}
	if (p.hdr.sample_bytes && !o->accept_estimates) {
		ha_error("trace '%s' is sampled (HOTALLOC_SAMPLE): its figures are estimates; a check needs "
			 "an exact trace, or --accept-estimates", path);
		ha_profile_free(&p);
		return -1;
	}
	ha_model_build(&m, &p, 1, &ro);
	s->v[HA_M_ALLOCATIONS] = m.tot.allocations;
	s->v[HA_M_BYTES] = m.tot.bytes_allocated;
	s->v[HA_M_PEAK] = m.tot.peak_bytes;
	s->v[HA_M_LEAKED] = m.tot.live_bytes;
	s->v[HA_M_LEAKED_BLOCKS] = m.tot.live_blocks;
	s->per_count = m.per_count;
	for (size_t i = 0; i < m.nrows; i++) {
		const struct ha_row *r = &m.rows[i];
		struct ha_snap_site site;
		const char **mods = xcalloc(r->nframes + 1, sizeof(char *));

		memset(&site, 0, sizeof(site));
		site.frames = xcalloc(r->nframes + 1, sizeof(*site.frames));
		site.nframes = r->nframes;
		site.caller = r->key_frame;
		for (unsigned k = 0; k < r->nframes; k++) {
			site.frames[k].function = xstrdup(r->frames[k]->function);
			site.frames[k].file = r->frames[k]->file ? xstrdup(r->frames[k]->file) : NULL;
			site.frames[k].line = r->frames[k]->line;
			mods[k] = r->frames[k]->module;
		}
		site.key = match_key(site.frames, site.nframes, mods);
		free(mods);
		site.v[HA_M_ALLOCATIONS] = r->site.allocations;
		site.v[HA_M_BYTES] = r->site.bytes;
		site.v[HA_M_PEAK] = r->peak_bytes;
		site.v[HA_M_LEAKED] = r->site.leaked_bytes;
		site.v[HA_M_LEAKED_BLOCKS] = r->site.leaked_blocks;
		add_site(s, &index, &site);
	}
	free_index(&index);
	ha_model_free(&m);
	ha_profile_free(&p);
	return 0;
}

static uint64_t jnum(json_t *obj, const char *key, bool *ok)
{
	json_t *v = json_object_get(obj, key);

	if (json_is_integer(v))
		return (uint64_t)json_integer_value(v);
	if (json_is_real(v))
		return (uint64_t)json_real_value(v);
	*ok = false;
	return 0;
}

static int load_json(struct ha_snapshot *s, const char *path, const struct ha_gate_opts *o)
{
	json_error_t err;
	json_t *root = json_load_file(path, 0, &err), *tot, *sites, *v;
	struct key_ent *index = NULL;
	bool ok = true;
	size_t i;

	if (!root) {
		ha_error("'%s' is not a hotalloc report: %s (line %d)", path, err.text, err.line);
		return -1;
	}
	if (json_is_array(root)) {
		if (json_array_size(root) && json_is_object(json_object_get(json_array_get(root, 0), "trace")))
			ha_error("'%s' holds several processes; make the baseline from one trace, or with --merge",
				 path);
		else
			ha_error("'%s' is not a hotalloc JSON report (an array, with no \"trace\")", path);
		goto out_bad;
	}
	v = json_object_get(json_object_get(root, "trace"), "truncated");
	if (json_is_true(v)) {
		ha_error("'%s' reports a truncated trace (the program was killed); a check needs a complete run",
			 path);
		goto out_bad;
	}
	v = json_object_get(json_object_get(root, "trace"), "estimated");
	if (json_is_true(v) && !o->accept_estimates) {
		ha_error("'%s' reports a sampled trace: its figures are estimates; a check needs an exact "
			 "trace, or --accept-estimates", path);
		goto out_bad;
	}
	tot = json_object_get(root, "totals");
	sites = json_object_get(root, "sites");
	if (!json_is_object(tot) || !json_is_array(sites)) {
		ha_error("'%s' is not a hotalloc JSON report (no \"totals\" or \"sites\")", path);
		goto out_bad;
	}
	v = json_object_get(root, "group_by");
	if (json_is_string(v) && strcmp(json_string_value(v), "stack")) {
		ha_error("'%s' was made with --group-by %s; a baseline needs the default (stack)", path,
			 json_string_value(v));
		goto out_bad;
	}
	v = json_object_get(root, "sites_total");
	if (json_is_integer(v) && (size_t)json_integer_value(v) != json_array_size(sites)) {
		ha_error("'%s' holds %zu of its %lld sites (made with --top); a baseline needs them all",
			 path, json_array_size(sites), (long long)json_integer_value(v));
		goto out_bad;
	}
	s->v[HA_M_ALLOCATIONS] = jnum(tot, "allocations", &ok);
	s->v[HA_M_BYTES] = jnum(tot, "bytes_allocated", &ok);
	s->v[HA_M_PEAK] = jnum(tot, "peak_bytes", &ok);
	s->v[HA_M_LEAKED] = jnum(tot, "leaked_bytes", &ok);
	s->v[HA_M_LEAKED_BLOCKS] = jnum(tot, "leaked_blocks", &ok);
	v = json_object_get(root, "per");
	if (o->load.per) {
		if (!json_is_object(v) || !json_is_string(json_object_get(v, "mark")) ||
		    strcmp(json_string_value(json_object_get(v, "mark")), o->load.per)) {
			ha_error("'%s' was not made with --per %s", path, o->load.per);
			goto out_bad;
		}
		s->per_count = jnum(v, "count", &ok);
	}
	for (i = 0; i < json_array_size(sites) && ok; i++) {
		json_t *js = json_array_get(sites, i), *stack = json_object_get(js, "stack");
		struct ha_snap_site site;
		const char **mods;
		size_t nf = json_array_size(stack);

		if (!json_is_object(js) || !json_is_array(stack)) {
			ok = false;
			break;
		}
		memset(&site, 0, sizeof(site));
		site.frames = xcalloc(nf + 1, sizeof(*site.frames));
		mods = xcalloc(nf + 1, sizeof(char *));
		site.nframes = (unsigned)nf;
		for (size_t k = 0; k < nf; k++) {
			json_t *f = json_array_get(stack, k);
			json_t *fn = json_object_get(f, "function"), *file = json_object_get(f, "file");

			site.frames[k].function = xstrdup(json_is_string(fn) ? json_string_value(fn) : "?");
			site.frames[k].file = json_is_string(file) ? xstrdup(json_string_value(file)) : NULL;
			site.frames[k].line = (unsigned)json_integer_value(json_object_get(f, "line"));
			mods[k] = json_string_value(json_object_get(f, "module"));
		}
		site.caller = (unsigned)json_integer_value(json_object_get(js, "caller_frame"));
		if (site.caller >= site.nframes)
			site.caller = 0;
		site.key = match_key(site.frames, site.nframes, mods);
		free(mods);
		site.v[HA_M_ALLOCATIONS] = jnum(js, "allocations", &ok);
		site.v[HA_M_BYTES] = jnum(js, "bytes", &ok);
		site.v[HA_M_PEAK] = jnum(js, "peak_bytes", &ok);
		site.v[HA_M_LEAKED] = jnum(js, "leaked_bytes", &ok);
		site.v[HA_M_LEAKED_BLOCKS] = jnum(js, "leaked_blocks", &ok);
		add_site(s, &index, &site);
	}
	free_index(&index);
	if (!ok) {
		ha_error("'%s' is not a hotalloc JSON report (site %zu lacks a field)", path, i);
		goto out_bad;
	}
	json_decref(root);
	return 0;
out_bad:
	json_decref(root);
	return -1;
}

int ha_snapshot_load(struct ha_snapshot *s, const char *path, const struct ha_gate_opts *o)
{
	FILE *f;
	int c;

	memset(s, 0, sizeof(*s));
	s->name = xstrdup(path);
	if (ha_trace_sniff(path))
		return load_trace(s, path, o);
	f = fopen(path, "rb");
	if (!f) {
		ha_error("cannot open '%s': %s", path, strerror(errno));
		return -1;
	}
	while ((c = fgetc(f)) == ' ' || c == '\n' || c == '\t' || c == '\r')
		;
	fclose(f);
	if (c != '{' && c != '[') {
		ha_error("'%s' is neither a hotalloc trace nor a JSON report", path);
		return -1;
	}
	return load_json(s, path, o);
}

void ha_snapshot_free(struct ha_snapshot *s)
{
	for (size_t i = 0; i < s->nsites; i++) {
		for (unsigned k = 0; k < s->sites[i].nframes; k++) {
			free(s->sites[i].frames[k].function);
			free(s->sites[i].frames[k].file);
		}
		free(s->sites[i].frames);
		free(s->sites[i].key);
	}
	free(s->sites);
	free(s->name);
	memset(s, 0, sizeof(*s));
}

int ha_snapshot_ignore(struct ha_snapshot *s, const char *regex)
{
	regex_t re;
	int rc = regcomp(&re, regex, REG_EXTENDED | REG_NOSUB);

	if (rc) {
		char msg[256];

		regerror(rc, &re, msg, sizeof(msg));
		ha_error("bad --ignore regex '%s': %s", regex, msg);
		return -1;
	}
	for (size_t i = 0; i < s->nsites; i++) {
		struct ha_snap_site *site = &s->sites[i];
		bool hit = false;

		for (unsigned k = 0; k < site->nframes && !hit; k++)
			hit = !regexec(&re, site->frames[k].function, 0, NULL, 0) ||
			      (site->frames[k].file && !regexec(&re, site->frames[k].file, 0, NULL, 0));
		if (!hit)
			continue;
		site->ignored = true;
		/* Counts and bytes leave the totals exactly; the peak loses the
		 * share the site held at the peak. */
		for (int m = 0; m < HA_M_COUNT; m++)
			s->v[m] -= site->v[m] < s->v[m] ? site->v[m] : s->v[m];
	}
	regfree(&re);
	return 0;
}

/* ---- limits ---- */

static int parse_amount(const char *v, uint64_t *out, bool bytes)
{
	char *end;
	double x = strtod(v, &end);
	double mult = 1;

	if (end == v || x < 0 || !isfinite(x))
		return -1;
	if (!*end || !strcmp(end, "B"))
		mult = 1;
	else if (!strcmp(end, "KiB") || (!bytes && !strcmp(end, "k")))
		mult = 1024.0 * (bytes ? 1 : 1000.0 / 1024.0);
	else if (!strcmp(end, "MiB"))
		mult = 1024.0 * 1024;
	else if (!strcmp(end, "GiB"))
		mult = 1024.0 * 1024 * 1024;
	else if (!strcmp(end, "KB") || !strcmp(end, "kB"))
		mult = 1e3;
	else if (!strcmp(end, "MB") || (!bytes && !strcmp(end, "M")))
		mult = 1e6;
	else if (!strcmp(end, "GB"))
		mult = 1e9;
	else
		return -1;
	*out = (uint64_t)llround(x * mult);
	return 0;
}

int ha_limit_parse(struct ha_limit *l, const char *text)
{
	static const struct { const char *name; enum ha_metric m; } metrics[] = {
		{ "allocations", HA_M_ALLOCATIONS }, { "bytes", HA_M_BYTES },
		{ "bytes_allocated", HA_M_BYTES }, { "peak_bytes", HA_M_PEAK }, { "peak", HA_M_PEAK },
		{ "leaked_bytes", HA_M_LEAKED }, { "leaked_blocks", HA_M_LEAKED_BLOCKS },
	};
	const char *eq = strchr(text, '='), *name = text, *val;
	char metric[64];
	size_t k;

	memset(l, 0, sizeof(*l));
	if (!eq || (size_t)(eq - text) >= sizeof(metric)) {
		ha_error("bad limit '%s': write METRIC=VALUE, as allocations=+2%% or peak_bytes=64MiB", text);
		return -1;
	}
	memcpy(metric, text, (size_t)(eq - text));
	metric[eq - text] = 0;
	name = metric;
	l->scope = HA_SCOPE_TOTAL;
	if (!strncmp(name, "site.", 5)) {
		l->scope = HA_SCOPE_SITE;
		name += 5;
	} else if (!strncmp(name, "new_site.", 9)) {
		l->scope = HA_SCOPE_NEW_SITE;
		name += 9;
	} else if (!strcmp(name, "allocations_per_op") || !strcmp(name, "bytes_per_op")) {
		l->scope = HA_SCOPE_PER_OP;
		name = !strcmp(name, "bytes_per_op") ? "bytes" : "allocations";
	}
	for (k = 0; k < sizeof(metrics) / sizeof(metrics[0]) && strcmp(metrics[k].name, name); k++)
		;
	if (k == sizeof(metrics) / sizeof(metrics[0])) {
		ha_error("bad limit '%s': unknown metric '%s' (allocations, bytes, peak_bytes, "
			 "leaked_bytes, leaked_blocks, allocations_per_op, bytes_per_op; site. or new_site. before them)",
			 text, metric);
		return -1;
	}
	l->metric = metrics[k].m;
	val = eq + 1;
	if (val[0] == '+') {
		size_t len = strlen(val);

		l->relative = true;
		if (len > 1 && val[len - 1] == '%') {
			char num[64], *end;

			snprintf(num, sizeof(num), "%.*s", (int)(len - 2), val + 1);
			l->pct = strtod(num, &end);
			if (end == num || *end || l->pct < 0) {
				ha_error("bad limit '%s': '%s' is not a percentage", text, val);
				return -1;
			}
			l->abs = UINT64_MAX;	/* marks "percent" */
		} else if (parse_amount(val + 1, &l->abs, l->metric != HA_M_ALLOCATIONS &&
						       l->metric != HA_M_LEAKED_BLOCKS) < 0) {
			ha_error("bad limit '%s': '%s' is not an amount", text, val);
			return -1;
		}
	} else if (parse_amount(val, &l->abs, l->metric != HA_M_ALLOCATIONS &&
					       l->metric != HA_M_LEAKED_BLOCKS) < 0) {
		ha_error("bad limit '%s': '%s' is not an amount (a count, or bytes such as 64MiB)", text, val);
		return -1;
	}
	l->text = xstrdup(text);
	return 0;
}

int ha_limits_file(struct ha_limit **ls, size_t *n, const char *path)
{
	FILE *f = fopen(path, "r");
	char line[1024];
	unsigned lineno = 0;

	if (!f) {
		ha_error("cannot open limits file '%s': %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		char *p = line, *end;

		lineno++;
		while (*p == ' ' || *p == '\t')
			p++;
		end = p + strcspn(p, "#\r\n");
		while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		*end = 0;
		if (!*p)
			continue;
		*ls = xrealloc(*ls, (*n + 1) * sizeof(**ls));
		if (ha_limit_parse(&(*ls)[*n], p) < 0) {
			ha_error("in '%s', line %u", path, lineno);
			fclose(f);
			return -1;
		}
		(*n)++;
	}
	fclose(f);
	return 0;
}

/* ---- verdicts ---- */

static double allowed_for(const struct ha_limit *l, double before)
{
	if (!l->relative)
		return (double)l->abs;
	if (l->abs == UINT64_MAX)
		return before * (1.0 + l->pct / 100.0);
	return before + (double)l->abs;
}

static void add_verdict(struct ha_check *c, const struct ha_limit *l, const struct ha_snap_site *b,
			const struct ha_snap_site *n, double before, double after)
{
	struct ha_verdict *v;

	c->v = xrealloc(c->v, (c->n + 1) * sizeof(*c->v));
	v = &c->v[c->n++];
	v->limit = l;
	v->base_site = b;
	v->new_site = n;
	v->before = before;
	v->after = after;
	v->allowed = l->scope == HA_SCOPE_NEW_SITE ? (l->relative && l->abs == UINT64_MAX ? 0 : (double)l->abs)
						   : allowed_for(l, before);
	/* Totals and sites count whole blocks and bytes; per-operation figures do not. */
	if (l->scope != HA_SCOPE_PER_OP)
		v->allowed = floor(v->allowed + 1e-9);
	/* Counts are exact: a tolerance of a millionth keeps rounding of
	 * per-operation figures from failing a run that did not change. */
	v->broken = after > v->allowed * (1 + 1e-9) + 1e-9;
	if (v->broken)
		c->broken++;
}

void ha_check_run(struct ha_check *c, const struct ha_snapshot *base, const struct ha_snapshot *cur,
		  const struct ha_limit *limits, size_t nlimits)
{
	struct key_ent *index = NULL, *e;
	bool *matched = xcalloc(cur->nsites + 1, sizeof(bool));

	memset(c, 0, sizeof(*c));
	c->match = xcalloc(base->nsites + 1, sizeof(long));
	for (size_t i = 0; i < cur->nsites; i++) {
		if (cur->sites[i].ignored)
			continue;
		e = xcalloc(1, sizeof(*e));
		e->key = cur->sites[i].key;
		e->idx = i;
		HASH_ADD_KEYPTR(hh, index, e->key, strlen(e->key), e);
	}
	for (size_t i = 0; i < base->nsites; i++) {
		c->match[i] = -1;
		if (base->sites[i].ignored)
			continue;
		HASH_FIND_STR(index, base->sites[i].key, e);
		if (e) {
			c->match[i] = (long)e->idx;
			matched[e->idx] = true;
		}
	}
	free_index(&index);
	for (size_t k = 0; k < nlimits; k++) {
		const struct ha_limit *l = &limits[k];

		switch (l->scope) {
		case HA_SCOPE_TOTAL:
			add_verdict(c, l, NULL, NULL, (double)base->v[l->metric], (double)cur->v[l->metric]);
			break;
		case HA_SCOPE_PER_OP:
			add_verdict(c, l, NULL, NULL,
				    base->per_count ? (double)base->v[l->metric] / (double)base->per_count : 0,
				    cur->per_count ? (double)cur->v[l->metric] / (double)cur->per_count : 0);
			break;
		case HA_SCOPE_SITE:
			for (size_t i = 0; i < base->nsites; i++)
				if (c->match[i] >= 0)
					add_verdict(c, l, &base->sites[i], &cur->sites[c->match[i]],
						    (double)base->sites[i].v[l->metric],
						    (double)cur->sites[c->match[i]].v[l->metric]);
			break;
		case HA_SCOPE_NEW_SITE:
			for (size_t i = 0; i < cur->nsites; i++)
				if (!matched[i] && !cur->sites[i].ignored)
					add_verdict(c, l, NULL, &cur->sites[i], 0,
						    (double)cur->sites[i].v[l->metric]);
			break;
		}
	}
	free(matched);
}

void ha_check_free(struct ha_check *c)
{
	free(c->v);
	free(c->match);
	memset(c, 0, sizeof(*c));
}
