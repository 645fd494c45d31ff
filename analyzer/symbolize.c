/* SPDX-License-Identifier: MIT */
/* Symbolization with elfutils' libdwfl: one Dwfl session per recorded
 * module (a library unloaded and another mapped at its address must not
 * collide), the build-id checked against the file found on disk, separate
 * debug files found by build-id and .gnu_debuglink, inlined frames read from
 * the DWARF scopes, names demangled with libiberty. */
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <inttypes.h>
#include <libiberty/demangle.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <uthash.h>
#include "symbolize.h"
#include "util.h"

#define MAX_INLINE 32
#define OPENER_NICE 19		/* the opener's nice value */
#define TODO_MAX 65536		/* frames waiting for the opener, at most */

struct sym_module {
	uint32_t id;
	uint64_t bias, load_ts, unload_ts;
	char *path;
	uint8_t build_id[64];
	unsigned build_id_len;
	uint64_t segs[3 * 16];
	unsigned nseg;
	Dwfl *dwfl;
	Dwfl_Module *mod;
	char *warning;		/* why it is broken, not yet told */
	bool opened, broken;
	bool claimed;		/* taken by the opener (under lock) */
	/* Function names by address: libdwfl looks an address up through
	 * the whole symbol table, every time (a quarter of a report's time on
	 * a python3 trace of 6,640 stacks).  Its answer depends on the address
	 * only through which symbols and sections begin or end below it, and
	 * whether it is one of those edges itself: so between two edges it
	 * is the same, asked once (module_fn). */
	uint64_t *edges;	/* sorted, distinct */
	size_t nedges;
	bool edges_built;
	struct fn_ent *fns;	/* the names asked so far, by span */
};

/* The function name libdwfl gave for a span between two edges. */
struct fn_ent {
	UT_hash_handle hh;
	uint64_t span;		/* 2k: strictly between edges k-1 and k; 2k+1: on edge k */
	const char *name;	/* libdwfl's, valid while the module's Dwfl lives */
};

struct addr_ent {
	UT_hash_handle hh;
	uint64_t addr;
	unsigned n;
	struct ha_frame *frames;
};

struct ha_symbolizer {
	char *sysroot;
	char *debuginfo_path;
	Dwfl_Callbacks cb;
	struct sym_module *mods;
	size_t nmods;
	struct addr_ent *cache;
	/* interned strings */
	struct str_ent { UT_hash_handle hh; char *s; } *strings;
	/* The opener: while the trace is read, a thread that opens the modules
	 * the stacks seen so far point into, and loads their DWARF and symbol
	 * tables (decompressing a libc's debug file took 0.1 s, after the
	 * replay, alone on one core).  It runs at nice 19, mostly when a
	 * core is idle, and never resolves an address: that waits for the
	 * whole module list, so the report is what it was without it.  lock
	 * guards mods, nmods, the modules' claimed flags and todo; until the
	 * opener is joined, only it touches libdw. */
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_t opener;
	bool opener_on, opener_tried, stopping;
	uint64_t *todo;
	size_t ntodo, captodo;
};

static const char *intern(struct ha_symbolizer *s, const char *str)
{
	struct str_ent *e;

	if (!str)
		return NULL;
	HASH_FIND_STR(s->strings, str, e);
	if (e)
		return e->s;
	e = xcalloc(1, sizeof(*e));
	e->s = xstrdup(str);
	HASH_ADD_KEYPTR(hh, s->strings, e->s, strlen(e->s), e);
	return e->s;
}

char *ha_demangle(const char *name)
{
	char *d = NULL;

	if (!strncmp(name, "_R", 2) || (!strncmp(name, "_ZN", 3) && strstr(name, "17h")))
		d = rust_demangle(name, DMGL_PARAMS | DMGL_ANSI);
	if (!d && !strncmp(name, "_Z", 2))
		d = cplus_demangle(name, DMGL_PARAMS | DMGL_ANSI | DMGL_GNU_V3);
	return d ? d : xstrdup(name);
}

struct ha_symbolizer *ha_sym_new(const char *sysroot, const char *debug_dir)
{
	struct ha_symbolizer *s = xcalloc(1, sizeof(*s));
	size_t len;

	s->sysroot = sysroot ? xstrdup(sysroot) : NULL;
	len = 96 + (debug_dir ? strlen(debug_dir) : 0) + (sysroot ? strlen(sysroot) : 0);
	s->debuginfo_path = xmalloc(len);
	/* Where separate debug files are looked for: beside the object, in
	 * .debug/, in /usr/lib/debug (by build-id and by path), then --debug-dir. */
	if (sysroot)
		snprintf(s->debuginfo_path, len, "-:.debug:%s/usr/lib/debug:/usr/lib/debug%s%s", sysroot,
			 debug_dir ? ":" : "", debug_dir ? debug_dir : "");
	else
		snprintf(s->debuginfo_path, len, "-:.debug:/usr/lib/debug%s%s", debug_dir ? ":" : "",
			 debug_dir ? debug_dir : "");
	s->cb.find_elf = dwfl_build_id_find_elf;
	s->cb.find_debuginfo = dwfl_standard_find_debuginfo;
	s->cb.section_address = dwfl_offline_section_address;
	s->cb.debuginfo_path = &s->debuginfo_path;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->wake, NULL);
	return s;
}


void ha_sym_free(struct ha_symbolizer *s)
{
	struct addr_ent *a, *ta;
	struct str_ent *e, *te;

	if (!s)
		return;
	ha_sym_settle(s);
	HASH_ITER(hh, s->cache, a, ta) {
		HASH_DEL(s->cache, a);
		free(a->frames);
		free(a);
	}
	HASH_ITER(hh, s->strings, e, te) {
		HASH_DEL(s->strings, e);
		free(e->s);
		free(e);
	}
	for (size_t i = 0; i < s->nmods; i++) {
		struct fn_ent *f, *tf;

		HASH_ITER(hh, s->mods[i].fns, f, tf) {
			HASH_DEL(s->mods[i].fns, f);
			free(f);
		}
		free(s->mods[i].edges);
		if (s->mods[i].dwfl)
			dwfl_end(s->mods[i].dwfl);
		free(s->mods[i].path);
		free(s->mods[i].warning);
	}
	free(s->mods);
	free(s->todo);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->wake);
	free(s->sysroot);
	free(s->debuginfo_path);
	free(s);
}

void ha_sym_add_module(struct ha_symbolizer *s, uint32_t id, uint64_t ts, uint64_t bias,
		       const char *path, const uint8_t *build_id, unsigned build_id_len,
		       const uint64_t *segs, unsigned nseg)
{
	struct sym_module *m;

	pthread_mutex_lock(&s->lock);
	s->mods = xrealloc(s->mods, (s->nmods + 1) * sizeof(*s->mods));
	m = &s->mods[s->nmods++];
	memset(m, 0, sizeof(*m));
	m->id = id;
	m->bias = bias;
	m->load_ts = ts;
	m->unload_ts = UINT64_MAX;
	m->path = xstrdup(path);
	m->build_id_len = build_id_len > 64 ? 64 : build_id_len;
	memcpy(m->build_id, build_id, m->build_id_len);
	m->nseg = nseg > 16 ? 16 : nseg;
	memcpy(m->segs, segs, 3 * m->nseg * sizeof(uint64_t));
	pthread_mutex_unlock(&s->lock);
}

void ha_sym_unload(struct ha_symbolizer *s, uint32_t id, uint64_t ts)
{
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < s->nmods; i++)
		if (s->mods[i].id == id && s->mods[i].unload_ts == UINT64_MAX)
			s->mods[i].unload_ts = ts;
	pthread_mutex_unlock(&s->lock);
}

/* The module whose segments hold addr; among several (an address reused
 * after dlclose), the one loaded last. */
static struct sym_module *find_module(struct ha_symbolizer *s, uint64_t addr)
{
	struct sym_module *best = NULL;

	for (size_t i = 0; i < s->nmods; i++) {
		struct sym_module *m = &s->mods[i];

		for (unsigned k = 0; k < m->nseg; k++) {
			uint64_t lo = m->bias + m->segs[3 * k];

			if (addr >= lo && addr < lo + m->segs[3 * k + 1] && (!best || m->load_ts >= best->load_ts))
				best = m;
		}
	}
	return best;
}

/* Opens m, a copy of a module that no other thread writes to; why it
 * cannot be used goes to m->warning, told at its first use. */
static void open_module(const struct ha_symbolizer *s, struct sym_module *m)
{
	char path[4096], msg[4600];
	const unsigned char *bits;
	GElf_Addr vaddr;
	int len;

	m->opened = true;
	if (!strncmp(m->path, "linux-vdso", 10) || !strncmp(m->path, "linux-gate", 10)) {
		m->broken = true;
		return;
	}
	snprintf(path, sizeof(path), "%s%s", s->sysroot ? s->sysroot : "", m->path);
	m->dwfl = dwfl_begin(&s->cb);
	if (!m->dwfl) {
		m->broken = true;
		return;
	}
	/* An object the sysroot lacks is read from this machine's path: the
	 * build-id check below still keeps a different file's names out. */
	if (s->sysroot && access(path, R_OK) != 0)
		snprintf(path, sizeof(path), "%s", m->path);
	dwfl_report_begin(m->dwfl);
	m->mod = dwfl_report_elf(m->dwfl, m->path, path, -1, m->bias, false);
	dwfl_report_end(m->dwfl, NULL, NULL);
	if (!m->mod) {
		snprintf(msg, sizeof(msg), "cannot read '%s': %s; its frames are shown as module+offset",
			 path, dwfl_errmsg(-1));
		m->warning = xstrdup(msg);
		m->broken = true;
		return;
	}
	len = dwfl_module_build_id(m->mod, &bits, &vaddr);
	if (m->build_id_len && (len != (int)m->build_id_len || memcmp(bits, m->build_id, (size_t)len))) {
		snprintf(msg, sizeof(msg), "'%s' is not the file that was traced (its build-id differs); "
			 "its frames are shown as module+offset", path);
		m->warning = xstrdup(msg);
		m->broken = true;
	}
}

/* The opener's loop: each frame's module, if not yet opened, is opened from
 * a copy, outside the lock (the reader adding modules must not wait for
 * it), and its DWARF and symbol table loaded; the copy then goes back. */
static void *opener(void *arg)
{
	struct ha_symbolizer *s = arg;
	uint64_t *batch = NULL;
	size_t n = 0;

	/* Behind the replay's threads, not starved: the report waits for the
	 * module in hand, and SCHED_IDLE, which an unprivileged process cannot
	 * leave, could keep it waiting on a machine busy with other work. */
	setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), OPENER_NICE);
	pthread_mutex_lock(&s->lock);
	for (;;) {
		while (!s->ntodo && !s->stopping)
			pthread_cond_wait(&s->wake, &s->lock);
		if (s->stopping)
			break;
		free(batch);
		batch = s->todo;
		n = s->ntodo;
		s->todo = NULL;
		s->ntodo = s->captodo = 0;
		pthread_mutex_unlock(&s->lock);
		for (size_t i = 0; i < n; i++) {
			struct sym_module *m, copy;
			size_t k;
			Dwarf_Addr bias;

			/* The lock for one frame at a time: the reader adding a
			 * module or a hint waits for no more. */
			pthread_mutex_lock(&s->lock);
			m = s->stopping ? NULL : find_module(s, batch[i]);
			if (!m || m->opened || m->claimed) {
				pthread_mutex_unlock(&s->lock);
				continue;
			}
			m->claimed = true;
			k = (size_t)(m - s->mods);
			copy = *m;
			copy.path = xstrdup(m->path);
			pthread_mutex_unlock(&s->lock);
			open_module(s, &copy);
			if (!copy.broken) {
				dwfl_module_getdwarf(copy.mod, &bias);
				dwfl_module_getsymtab(copy.mod);
			}
			free(copy.path);
			pthread_mutex_lock(&s->lock);
			/* What opening made, no more: the reader may have moved
			 * the array or marked the module unloaded meanwhile. */
			m = &s->mods[k];
			m->dwfl = copy.dwfl;
			m->mod = copy.mod;
			m->warning = copy.warning;
			m->broken = copy.broken;
			m->opened = true;
			pthread_mutex_unlock(&s->lock);
		}
		pthread_mutex_lock(&s->lock);
	}
	pthread_mutex_unlock(&s->lock);
	free(batch);
	return NULL;
}

void ha_sym_hint(struct ha_symbolizer *s, const uint64_t *frames, unsigned n)
{
	if (!s->opener_tried) {
		s->opener_tried = true;
		if (ha_threads_allowed() && !pthread_create(&s->opener, NULL, opener, s))
			s->opener_on = true;
	}
	if (!s->opener_on || !n)
		return;
	pthread_mutex_lock(&s->lock);
	/* Hints beyond what the opener has yet to look at are dropped: they
	 * only give it a head start, and most frames' modules are open. */
	if (s->ntodo + n > TODO_MAX) {
		pthread_mutex_unlock(&s->lock);
		return;
	}
	if (s->ntodo + n > s->captodo) {
		s->captodo = 2 * (s->ntodo + n) + 64;
		s->todo = xrealloc(s->todo, s->captodo * sizeof(*s->todo));
	}
	memcpy(s->todo + s->ntodo, frames, n * sizeof(*frames));
	s->ntodo += n;
	pthread_cond_signal(&s->wake);
	pthread_mutex_unlock(&s->lock);
}

/* The opener finishes the module it has in hand and stops; the rest are
 * opened when first asked for. */
void ha_sym_settle(struct ha_symbolizer *s)
{
	if (!s->opener_on)
		return;
	pthread_mutex_lock(&s->lock);
	s->stopping = true;
	pthread_cond_signal(&s->wake);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->opener, NULL);
	s->opener_on = false;
}

static const char *die_name(Dwarf_Die *die)
{
	Dwarf_Attribute attr;
	const char *name = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_linkage_name, &attr));

	if (!name)
		name = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &attr));
	if (!name)
		name = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_name, &attr));
	return name;
}

static const char *demangled(struct ha_symbolizer *s, const char *name)
{
	char *d;
	const char *r;

	if (!name)
		return NULL;
	d = ha_demangle(name);
	r = intern(s, d);
	free(d);
	return r;
}

static int by_value(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;

	return (a > b) - (a < b);
}

static void add_edge(struct sym_module *m, size_t *cap, uint64_t e)
{
	if (m->nedges == *cap) {
		*cap = *cap ? 2 * *cap : 1024;
		m->edges = xrealloc(m->edges, *cap * sizeof(*m->edges));
	}
	m->edges[m->nedges++] = e;
}

/* The edges of m's symbols (start and end, named or not, of every kind)
 * and of the sections of the files they come from, as libdwfl gives
 * addresses (with the module's bias). */
static void build_edges(struct sym_module *m)
{
	int n = dwfl_module_getsymtab(m->mod);
	Elf *seen[4] = { NULL };
	size_t cap = 0, k = 0;

	m->edges_built = true;
	for (int i = 1; i < n; i++) {
		GElf_Sym sym;
		GElf_Addr addr;
		GElf_Word shndx;
		Elf *elf = NULL;
		Dwarf_Addr bias = 0;
		unsigned e;

		if (!dwfl_module_getsym_info(m->mod, i, &sym, &addr, &shndx, &elf, &bias))
			continue;
		add_edge(m, &cap, addr);
		add_edge(m, &cap, addr + sym.st_size);
		for (e = 0; e < 4 && seen[e] && seen[e] != elf; e++)
			;
		if (e < 4 && !seen[e] && elf) {
			Elf_Scn *scn = NULL;

			seen[e] = elf;
			while ((scn = elf_nextscn(elf, scn))) {
				GElf_Shdr shdr;

				if (gelf_getshdr(scn, &shdr)) {
					add_edge(m, &cap, shdr.sh_addr + bias);
					add_edge(m, &cap, shdr.sh_addr + shdr.sh_size + bias);
				}
			}
		} else if (e == 4) {
			/* More symbol files than expected: no sharing. */
			m->nedges = 0;
			return;
		}
	}
	if (!m->nedges)
		return;
	qsort(m->edges, m->nedges, sizeof(*m->edges), by_value);
	for (size_t i = 1; i < m->nedges; i++)
		if (m->edges[i] != m->edges[k])
			m->edges[++k] = m->edges[i];
	m->nedges = k + 1;
}

/* libdwfl's function name for pc, asked once per span between two edges. */
static const char *module_fn(struct sym_module *m, uint64_t pc)
{
	GElf_Off off;
	GElf_Sym sym;
	size_t lo = 0, hi;
	uint64_t span;
	struct fn_ent *f;

	if (!m->edges_built)
		build_edges(m);
	if (!m->nedges)
		return dwfl_module_addrinfo(m->mod, pc, &off, &sym, NULL, NULL, NULL);
	/* lo: the edges at or below pc. */
	hi = m->nedges;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->edges[mid] <= pc)
			lo = mid + 1;
		else
			hi = mid;
	}
	span = lo && m->edges[lo - 1] == pc ? 2 * (uint64_t)(lo - 1) + 1 : 2 * (uint64_t)lo;
	HASH_FIND(hh, m->fns, &span, sizeof(span), f);
	if (!f) {
		f = xcalloc(1, sizeof(*f));
		f->span = span;
		f->name = dwfl_module_addrinfo(m->mod, pc, &off, &sym, NULL, NULL, NULL);
		HASH_ADD(hh, m->fns, span, sizeof(f->span), f);
	}
	return f->name;
}

/* Fills out[] for one address of a readable module.  Returns the count. */
static unsigned resolve_dwarf(struct ha_symbolizer *s, struct sym_module *m, uint64_t pc,
			      struct ha_frame *out)
{
	Dwfl_Module *mod = m->mod;
	const char *fn = module_fn(m, pc);
	Dwfl_Line *line = dwfl_module_getsrc(mod, pc);
	const char *file = NULL;
	int lineno = 0;
	unsigned n = 0;
	Dwarf_Addr bias = 0;
	Dwarf_Die *cudie = dwfl_module_addrdie(mod, pc, &bias);
	Dwarf_Die *scopes = NULL;
	int nscopes = cudie ? dwarf_getscopes(cudie, pc - bias, &scopes) : 0;

	if (line)
		file = dwfl_lineinfo(line, NULL, &lineno, NULL, NULL, NULL);
	/* Inlined calls, innermost first: each scope's name is the frame, and
	 * the call site it records is the location in the frame that follows. */
	for (int i = 0; i < nscopes && n < MAX_INLINE - 1; i++) {
		int tag = dwarf_tag(&scopes[i]);
		Dwarf_Attribute attr;
		Dwarf_Word call_file = 0, call_line = 0;
		Dwarf_Files *files;
		size_t nfiles;

		if (tag != DW_TAG_inlined_subroutine)
			continue;
		out[n].function = demangled(s, die_name(&scopes[i]));
		out[n].file = intern(s, file);
		out[n].line = (unsigned)lineno;
		out[n].inlined = true;
		n++;
		dwarf_formudata(dwarf_attr(&scopes[i], DW_AT_call_file, &attr), &call_file);
		dwarf_formudata(dwarf_attr(&scopes[i], DW_AT_call_line, &attr), &call_line);
		file = NULL;
		if (dwarf_getsrcfiles(cudie, &files, &nfiles) == 0 && call_file < nfiles)
			file = dwarf_filesrc(files, call_file, NULL, NULL);
		lineno = (int)call_line;
	}
	free(scopes);
	out[n].function = fn ? demangled(s, fn) : NULL;
	out[n].file = intern(s, file);
	out[n].line = (unsigned)lineno;
	out[n].inlined = false;
	return n + 1;
}

unsigned ha_sym_resolve(struct ha_symbolizer *s, uint64_t addr, const struct ha_frame **out)
{
	struct ha_frame tmp[MAX_INLINE];
	struct sym_module *m;
	struct addr_ent *e;
	unsigned n = 0;
	char buf[4200];

	HASH_FIND(hh, s->cache, &addr, sizeof(addr), e);
	if (e) {
		*out = e->frames;
		return e->n;
	}
	memset(tmp, 0, sizeof(tmp));
	ha_sym_settle(s);
	/* A return address points after the call; the call is the byte before. */
	m = find_module(s, addr);
	if (m && !m->opened)
		open_module(s, m);
	if (m && m->warning) {
		ha_warn("%s", m->warning);
		free(m->warning);
		m->warning = NULL;
	}
	if (m && !m->broken)
		n = resolve_dwarf(s, m, addr - 1, tmp);
	if (!n)
		n = 1;
	for (unsigned i = 0; i < n; i++) {
		tmp[i].addr = addr;
		tmp[i].module = m ? intern(s, m->path) : NULL;
	}
	if (!tmp[n - 1].function) {
		if (m) {
			const char *base = strrchr(m->path, '/');
			snprintf(buf, sizeof(buf), "%s+0x%" PRIx64, base ? base + 1 : m->path, addr - m->bias);
		} else {
			snprintf(buf, sizeof(buf), "0x%" PRIx64, addr);
		}
		tmp[n - 1].function = intern(s, buf);
	}
	e = xcalloc(1, sizeof(*e));
	e->addr = addr;
	e->n = n;
	e->frames = xmalloc(n * sizeof(*e->frames));
	memcpy(e->frames, tmp, n * sizeof(*e->frames));
	HASH_ADD(hh, s->cache, addr, sizeof(e->addr), e);
	*out = e->frames;
	return n;
}
