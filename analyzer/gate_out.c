/* SPDX-License-Identifier: MIT */
/* What hotalloc check and diff print: for people (text), for scripts (json),
 * for a pull-request comment or job summary (markdown) and for CI test views
 * (junit).  All carry the same verdicts. */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "gate.h"
#include "json.h"
#include "util.h"

static const char *fmt_val(char *buf, size_t size, enum ha_metric m, double v)
{
	if (m == HA_M_BYTES || m == HA_M_PEAK || m == HA_M_LEAKED) {
		static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
		int u = 0;

		while (fabs(v) >= 1024 && u < 4) {
			v /= 1024;
			u++;
		}
		snprintf(buf, size, u ? "%.1f %s" : (v == floor(v) ? "%.0f %s" : "%.2f %s"), v, units[u]);
	} else if (v == floor(v) && fabs(v) < 1e15) {
		char tmp[32];
		int n = snprintf(tmp, sizeof(tmp), "%.0f", fabs(v)), o = 0;

		if (v < 0)
			buf[o++] = '-';
		for (int i = 0; i < n && (size_t)o + 2 < size; i++) {
			if (i && (n - i) % 3 == 0)
				buf[o++] = ',';
			buf[o++] = tmp[i];
		}
		buf[o] = 0;
	} else {
		snprintf(buf, size, "%.2f", v);
	}
	return buf;
}

static const char *fmt_change(char *buf, size_t size, enum ha_metric m, double before, double after)
{
	char d[48];
	double delta = after - before;

	fmt_val(d, sizeof(d), m, fabs(delta));
	if (before > 0)
		snprintf(buf, size, "%s%s, %+.1f%%", delta < 0 ? "-" : "+", d, 100.0 * delta / before);
	else
		snprintf(buf, size, "%s%s", delta < 0 ? "-" : "+", d);
	return buf;
}

static const char *caller_line(char *buf, size_t size, const struct ha_snap_site *s)
{
	const struct ha_snap_frame *f;

	if (!s || !s->nframes)
		return "(no stack)";
	f = &s->frames[s->caller < s->nframes ? s->caller : 0];
	if (f->file)
		snprintf(buf, size, "%s  %s:%u", f->function, f->file, f->line);
	else
		snprintf(buf, size, "%s", f->function);
	return buf;
}

static void stack_lines(FILE *f, const struct ha_snap_site *s, const char *indent, unsigned max)
{
	for (unsigned i = s->caller; i < s->nframes && i < s->caller + max; i++) {
		const struct ha_snap_frame *fr = &s->frames[i];

		fprintf(f, "%s%s%s", indent, i > s->caller ? "<- " : "", fr->function);
		if (fr->file)
			fprintf(f, "  %s:%u", fr->file, fr->line);
		fputc('\n', f);
	}
}

static const char *scope_word(const struct ha_limit *l)
{
	return l->scope == HA_SCOPE_SITE ? "site" : l->scope == HA_SCOPE_NEW_SITE ? "new site" :
	       l->scope == HA_SCOPE_PER_OP ? "per operation" : "total";
}

/* The sites that changed a metric the most (matched and new), for a total's failure. */
static void responsible(FILE *f, const struct ha_check *c, const struct ha_snapshot *base,
			const struct ha_snapshot *cur, enum ha_metric m, const char *indent)
{
	double best[3] = { 0, 0, 0 };
	long who[3] = { -1, -1, -1 };
	bool *seen = xcalloc(cur->nsites + 1, sizeof(bool));
	char a[48], b[48], d[64], l[512];

	for (size_t i = 0; i < base->nsites; i++)
		if (c->match[i] >= 0)
			seen[c->match[i]] = true;
	for (size_t i = 0; i < cur->nsites; i++) {
		double before = 0, delta;

		if (cur->sites[i].ignored)
			continue;
		for (size_t k = 0; k < base->nsites; k++)
			if (c->match[k] == (long)i)
				before = (double)base->sites[k].v[m];
		delta = (double)cur->sites[i].v[m] - before;
		for (int r = 0; r < 3; r++) {
			if (delta > best[r]) {
				for (int q = 2; q > r; q--) {
					best[q] = best[q - 1];
					who[q] = who[q - 1];
				}
				best[r] = delta;
				who[r] = (long)i;
				break;
			}
		}
	}
	for (int r = 0; r < 3 && who[r] >= 0; r++) {
		const struct ha_snap_site *s = &cur->sites[who[r]];
		double after = (double)s->v[m], before = after - best[r];

		fprintf(f, "%s%s  %s -> %s%s  %s\n", indent, fmt_change(d, sizeof(d), m, before, after),
			fmt_val(a, sizeof(a), m, before), fmt_val(b, sizeof(b), m, after),
			seen[who[r]] ? "" : " (new site)", caller_line(l, sizeof(l), s));
	}
	free(seen);
}

static void print_text(FILE *f, const struct ha_check *c, const struct ha_snapshot *base,
		       const struct ha_snapshot *cur)
{
	char a[48], b[48], d[64], al[48];
	size_t site_ok = 0;

	fprintf(f, "hotalloc check: %s, %zu of %zu checks broken (baseline '%s', new '%s')\n",
		c->broken ? "FAIL" : "pass", c->broken, c->n, base->name, cur->name);
	for (size_t i = 0; i < c->n; i++) {
		const struct ha_verdict *v = &c->v[i];
		enum ha_metric m = v->limit->metric;

		if (ha_limit_per_site(v->limit)) {
			if (!v->broken) {
				site_ok++;
				continue;
			}
			if (v->limit->scope == HA_SCOPE_NEW_SITE)
				fprintf(f, "FAIL new site: %s %s; limit %s allows %s\n",
					fmt_val(b, sizeof(b), m, v->after), ha_metric_name(m), v->limit->text,
					fmt_val(al, sizeof(al), m, v->allowed));
			else
				fprintf(f, "FAIL site %s: %s -> %s (%s); limit %s allows %s\n", ha_metric_name(m),
					fmt_val(a, sizeof(a), m, v->before), fmt_val(b, sizeof(b), m, v->after),
					fmt_change(d, sizeof(d), m, v->before, v->after), v->limit->text,
					fmt_val(al, sizeof(al), m, v->allowed));
			stack_lines(f, v->new_site, "     ", 6);
			continue;
		}
		fprintf(f, "%s %s%s: %s -> %s (%s); limit %s allows %s\n", v->broken ? "FAIL" : "ok  ",
			ha_metric_name(m), v->limit->scope == HA_SCOPE_PER_OP ? " per operation" : "",
			fmt_val(a, sizeof(a), m, v->before), fmt_val(b, sizeof(b), m, v->after),
			fmt_change(d, sizeof(d), m, v->before, v->after), v->limit->text,
			fmt_val(al, sizeof(al), m, v->allowed));
		if (v->broken)
			responsible(f, c, base, cur, m, "     ");
	}
	if (site_ok)
		fprintf(f, "ok   %zu site checks within their limits\n", site_ok);
}

static void site_json(struct ha_json *j, const char *key, const struct ha_snap_site *s)
{
	if (!s) {
		ha_json_null(j, key);
		return;
	}
	ha_json_begin(j, key, '{');
	ha_json_str(j, "key", s->key);
	ha_json_begin(j, "stack", '[');
	for (unsigned i = 0; i < s->nframes; i++) {
		ha_json_begin(j, NULL, '{');
		ha_json_str(j, "function", s->frames[i].function);
		if (s->frames[i].file)
			ha_json_str(j, "file", s->frames[i].file);
		else
			ha_json_null(j, "file");
		ha_json_u64(j, "line", s->frames[i].line);
		ha_json_end(j, '}');
	}
	ha_json_end(j, ']');
	ha_json_u64(j, "caller_frame", s->caller);
	ha_json_end(j, '}');
}

static void print_json(FILE *f, const struct ha_check *c, const struct ha_snapshot *base,
		       const struct ha_snapshot *cur)
{
	struct ha_json j;

	ha_json_init(&j, f, true);
	ha_json_begin(&j, NULL, '{');
	ha_json_str(&j, "result", c->broken ? "fail" : "pass");
	ha_json_u64(&j, "checks", c->n);
	ha_json_u64(&j, "broken", c->broken);
	ha_json_str(&j, "baseline", base->name);
	ha_json_str(&j, "new", cur->name);
	ha_json_begin(&j, "verdicts", '[');
	for (size_t i = 0; i < c->n; i++) {
		const struct ha_verdict *v = &c->v[i];
		bool site = ha_limit_per_site(v->limit);

		if (site && !v->broken)
			continue;
		ha_json_begin(&j, NULL, '{');
		ha_json_str(&j, "limit", v->limit->text);
		ha_json_str(&j, "scope", scope_word(v->limit));
		ha_json_str(&j, "metric", ha_metric_name(v->limit->metric));
		ha_json_f64(&j, "before", v->before);
		ha_json_f64(&j, "after", v->after);
		ha_json_f64(&j, "allowed", v->allowed);
		ha_json_bool(&j, "broken", v->broken);
		if (site)
			site_json(&j, "site", v->new_site);
		ha_json_end(&j, '}');
	}
	ha_json_end(&j, ']');
	ha_json_end(&j, '}');
}

static void md_escape(FILE *f, const char *s)
{
	for (; *s; s++) {
		if (*s == '|' || *s == '`' || *s == '*' || *s == '_' || *s == '<' || *s == '>')
			fputc('\\', f);
		fputc(*s, f);
	}
}

static void print_markdown(FILE *f, const struct ha_check *c, const struct ha_snapshot *base,
			   const struct ha_snapshot *cur)
{
	char a[48], b[48], d[64], al[48], l[512];

	fprintf(f, "### hotalloc check: %s\n\n%zu of %zu checks broken; baseline `%s`, new `%s`.\n\n",
		c->broken ? "**FAIL**" : "pass", c->broken, c->n, base->name, cur->name);
	fprintf(f, "| result | limit | before | after | change | site |\n|---|---|---|---|---|---|\n");
	for (size_t i = 0; i < c->n; i++) {
		const struct ha_verdict *v = &c->v[i];
		enum ha_metric m = v->limit->metric;
		bool site = ha_limit_per_site(v->limit);

		if (site && !v->broken)
			continue;
		fprintf(f, "| %s | ", v->broken ? "**FAIL**" : "ok");
		md_escape(f, v->limit->text);
		fprintf(f, " (allows %s) | %s | %s | %s | ", fmt_val(al, sizeof(al), m, v->allowed),
			v->limit->scope == HA_SCOPE_NEW_SITE ? "new" : fmt_val(a, sizeof(a), m, v->before),
			fmt_val(b, sizeof(b), m, v->after), fmt_change(d, sizeof(d), m, v->before, v->after));
		if (site)
			md_escape(f, caller_line(l, sizeof(l), v->new_site));
		fprintf(f, " |\n");
	}
}

static void xml_escape(FILE *f, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '&': fputs("&amp;", f); break;
		case '"': fputs("&quot;", f); break;
		default: fputc(*s, f);
		}
	}
}

static void print_junit(FILE *f, const struct ha_check *c, const struct ha_snapshot *base,
			const struct ha_snapshot *cur)
{
	char a[48], b[48], d[64], al[48], l[512];
	size_t n = 0, site_ok = 0;

	for (size_t i = 0; i < c->n; i++) {
		bool site = ha_limit_per_site(c->v[i].limit);
		if (!site || c->v[i].broken)
			n++;
		else
			site_ok++;
	}
	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
	fprintf(f, "<testsuite name=\"hotalloc check\" tests=\"%zu\" failures=\"%zu\">\n",
		n + (site_ok ? 1 : 0), c->broken);
	fprintf(f, "  <properties><property name=\"baseline\" value=\"");
	xml_escape(f, base->name);
	fprintf(f, "\"/><property name=\"new\" value=\"");
	xml_escape(f, cur->name);
	fprintf(f, "\"/></properties>\n");
	for (size_t i = 0; i < c->n; i++) {
		const struct ha_verdict *v = &c->v[i];
		enum ha_metric m = v->limit->metric;
		bool site = ha_limit_per_site(v->limit);

		if (site && !v->broken)
			continue;
		fprintf(f, "  <testcase classname=\"hotalloc.%s\" name=\"", site ? "sites" : "totals");
		xml_escape(f, v->limit->text);
		if (site) {
			fputs(" at ", f);
			xml_escape(f, caller_line(l, sizeof(l), v->new_site));
		}
		fputs("\"", f);
		if (!v->broken) {
			fputs("/>\n", f);
			continue;
		}
		fprintf(f, ">\n    <failure message=\"%s: %s -> %s (", ha_metric_name(m),
			v->limit->scope == HA_SCOPE_NEW_SITE ? "new" : fmt_val(a, sizeof(a), m, v->before),
			fmt_val(b, sizeof(b), m, v->after));
		xml_escape(f, fmt_change(d, sizeof(d), m, v->before, v->after));
		fprintf(f, "), allowed %s\">", fmt_val(al, sizeof(al), m, v->allowed));
		if (site)
			for (unsigned k = v->new_site->caller; k < v->new_site->nframes; k++) {
				xml_escape(f, v->new_site->frames[k].function);
				if (v->new_site->frames[k].file) {
					fputc(' ', f);
					xml_escape(f, v->new_site->frames[k].file);
					fprintf(f, ":%u", v->new_site->frames[k].line);
				}
				fputc('\n', f);
			}
		fprintf(f, "</failure>\n  </testcase>\n");
	}
	if (site_ok)
		fprintf(f, "  <testcase classname=\"hotalloc.sites\" name=\"%zu site checks within their limits\"/>\n",
			site_ok);
	fprintf(f, "</testsuite>\n");
}

void ha_check_print(FILE *f, const char *fmt, const struct ha_check *c, const struct ha_snapshot *base,
		    const struct ha_snapshot *cur)
{
	if (!strcmp(fmt, "json"))
		print_json(f, c, base, cur);
	else if (!strcmp(fmt, "markdown"))
		print_markdown(f, c, base, cur);
	else if (!strcmp(fmt, "junit"))
		print_junit(f, c, base, cur);
	else
		print_text(f, c, base, cur);
}

/* ---- diff ---- */

struct diff_row {
	const struct ha_snap_site *b, *n;
	double delta;
};

static enum ha_metric diff_sort;

static int cmp_diff(const void *x, const void *y)
{
	const struct diff_row *a = x, *b = y;
	double da = fabs(a->delta), db = fabs(b->delta);

	if (da != db)
		return da > db ? -1 : 1;
	return strcmp((a->n ? a->n : a->b)->key, (b->n ? b->n : b->b)->key);
}

void ha_diff_print(FILE *f, const char *fmt, const struct ha_snapshot *base, const struct ha_snapshot *cur,
		   enum ha_metric sort, size_t top)
{
	struct ha_check c;
	struct diff_row *rows = xcalloc(base->nsites + cur->nsites + 1, sizeof(*rows));
	bool *seen = xcalloc(cur->nsites + 1, sizeof(bool));
	size_t n = 0, shown;
	char a[48], b[48], d[64], l[512];
	struct ha_json j;

	ha_check_run(&c, base, cur, NULL, 0);
	for (size_t i = 0; i < base->nsites; i++) {
		if (base->sites[i].ignored)
			continue;
		rows[n].b = &base->sites[i];
		if (c.match[i] >= 0) {
			rows[n].n = &cur->sites[c.match[i]];
			seen[c.match[i]] = true;
		}
		rows[n].delta = (rows[n].n ? (double)rows[n].n->v[sort] : 0) - (double)rows[n].b->v[sort];
		n++;
	}
	for (size_t i = 0; i < cur->nsites; i++) {
		if (seen[i] || cur->sites[i].ignored)
			continue;
		rows[n].n = &cur->sites[i];
		rows[n].delta = (double)cur->sites[i].v[sort];
		n++;
	}
	diff_sort = sort;
	qsort(rows, n, sizeof(*rows), cmp_diff);
	shown = top && top < n ? top : n;
	if (!strcmp(fmt, "json")) {
		ha_json_init(&j, f, true);
		ha_json_begin(&j, NULL, '{');
		ha_json_str(&j, "baseline", base->name);
		ha_json_str(&j, "new", cur->name);
		ha_json_begin(&j, "totals", '{');
		for (int m = 0; m < HA_M_COUNT; m++) {
			ha_json_begin(&j, ha_metric_name((enum ha_metric)m), '{');
			ha_json_u64(&j, "before", base->v[m]);
			ha_json_u64(&j, "after", cur->v[m]);
			ha_json_i64(&j, "delta", (int64_t)(cur->v[m] - base->v[m]));
			ha_json_end(&j, '}');
		}
		ha_json_end(&j, '}');
		ha_json_begin(&j, "sites", '[');
		for (size_t i = 0; i < shown; i++) {
			ha_json_begin(&j, NULL, '{');
			ha_json_str(&j, "status", !rows[i].b ? "new" : !rows[i].n ? "gone" : "matched");
			for (int m = 0; m < HA_M_COUNT; m++) {
				ha_json_begin(&j, ha_metric_name((enum ha_metric)m), '{');
				ha_json_u64(&j, "before", rows[i].b ? rows[i].b->v[m] : 0);
				ha_json_u64(&j, "after", rows[i].n ? rows[i].n->v[m] : 0);
				ha_json_end(&j, '}');
			}
			site_json(&j, "site", rows[i].n ? rows[i].n : rows[i].b);
			ha_json_end(&j, '}');
		}
		ha_json_end(&j, ']');
		ha_json_end(&j, '}');
	} else {
		bool md = !strcmp(fmt, "markdown");

		fprintf(f, md ? "### hotalloc diff: `%s` -> `%s`\n\n| | before | after | change |\n|---|---|---|---|\n"
			      : "hotalloc diff: '%s' -> '%s'\n\n  %-14s %14s %14s   %s\n",
			base->name, cur->name, "", "before", "after", "change");
		for (int m = 0; m < HA_M_COUNT; m++)
			fprintf(f, md ? "| %s | %s | %s | %s |\n" : "  %-14s %14s %14s   %s\n",
				ha_metric_name((enum ha_metric)m), fmt_val(a, sizeof(a), (enum ha_metric)m, (double)base->v[m]),
				fmt_val(b, sizeof(b), (enum ha_metric)m, (double)cur->v[m]),
				fmt_change(d, sizeof(d), (enum ha_metric)m, (double)base->v[m], (double)cur->v[m]));
		fprintf(f, md ? "\nSites by change in %s (%zu of %zu):\n\n| status | before | after | change | site |\n|---|---|---|---|---|\n"
			      : "\nSites by change in %s (%zu of %zu)\n", ha_metric_name(sort), shown, n);
		for (size_t i = 0; i < shown; i++) {
			const struct diff_row *r = &rows[i];
			const char *st = !r->b ? "NEW" : !r->n ? "GONE" : r->delta ? "changed" : "same";
			double bv = r->b ? (double)r->b->v[sort] : 0, nv = r->n ? (double)r->n->v[sort] : 0;

			caller_line(l, sizeof(l), r->n ? r->n : r->b);
			if (md) {
				fprintf(f, "| %s | %s | %s | %s | ", st, fmt_val(a, sizeof(a), sort, bv),
					fmt_val(b, sizeof(b), sort, nv), fmt_change(d, sizeof(d), sort, bv, nv));
				md_escape(f, l);
				fprintf(f, " |\n");
			} else {
				fprintf(f, "  %-7s %12s -> %-12s %-18s %s\n", st, fmt_val(a, sizeof(a), sort, bv),
					fmt_val(b, sizeof(b), sort, nv), fmt_change(d, sizeof(d), sort, bv, nv), l);
			}
		}
	}
	ha_check_free(&c);
	free(rows);
	free(seen);
}
