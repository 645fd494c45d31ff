/* SPDX-License-Identifier: MIT */
/* The symbolizer asks libdwfl for a function name once per span between two
 * edges of a module's symbols and sections (module_fn, analyzer/symbolize.c).
 * This checks that the name it gives is libdwfl's own for every address it
 * tries: the executable segments of every object this program has loaded (libc
 * and its debug file when libc6-dbg is installed, libdw, libelf, ld.so, this
 * program), every STEP bytes from an odd offset, and the first byte, the
 * second, the last and the one after of every EVERY-th symbol.  Under ASan +
 * UBSan, by `make test`, with a step of 499 and every third symbol (5 s; the
 * whole, 97 and 1, takes 18 s).
 * Usage: symspan_check [step=97] [every=1]; exit 0 when every name matched. */
#include <link.h>
#include "../../analyzer/symbolize.c"

struct obj {
	uint64_t bias;
	char path[4096];
	uint64_t segs[3 * 16];
	unsigned nseg;
};

static struct obj objs[64];
static unsigned nobjs;
static unsigned long long checked, mismatched;

static int add_obj(struct dl_phdr_info *info, size_t size, void *arg)
{
	struct obj *o = &objs[nobjs];
	const char *name = info->dlpi_name;

	(void)size;
	(void)arg;
	if (nobjs == 64)
		return 1;
	if (!name[0])
		name = "/proc/self/exe";
	if (name[0] != '/')
		return 0;		/* linux-vdso.so.1 */
	if (!realpath(name, o->path))
		return 0;
	o->bias = info->dlpi_addr;
	o->nseg = 0;
	for (unsigned i = 0; i < info->dlpi_phnum && o->nseg < 16; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type != PT_LOAD)
			continue;
		o->segs[3 * o->nseg] = ph->p_vaddr;
		o->segs[3 * o->nseg + 1] = ph->p_memsz;
		o->segs[3 * o->nseg + 2] = ph->p_flags;
		o->nseg++;
	}
	nobjs++;
	return 0;
}

static void check(struct sym_module *m, uint64_t pc)
{
	GElf_Off off;
	GElf_Sym sym;
	const char *want = dwfl_module_addrinfo(m->mod, pc, &off, &sym, NULL, NULL, NULL);
	const char *got = module_fn(m, pc);

	checked++;
	if ((want == NULL) != (got == NULL) || (want && strcmp(want, got))) {
		if (mismatched++ < 20)
			fprintf(stderr, "symspan_check: %s at %#" PRIx64 ": libdwfl says %s, the span %s\n",
				m->path, pc, want ? want : "(none)", got ? got : "(none)");
	}
}

int main(int argc, char **argv)
{
	uint64_t step = argc > 1 ? strtoull(argv[1], NULL, 0) : 97;
	int every = argc > 2 ? atoi(argv[2]) : 1;
	struct ha_symbolizer *s = ha_sym_new(NULL, NULL);
	unsigned long long spans = 0, symbols = 0;
	const uint8_t no_id[1] = { 0 };	/* no build-id to compare */

	if (!step)
		step = 97;
	if (every < 1)
		every = 1;
	dl_iterate_phdr(add_obj, NULL);
	for (unsigned i = 0; i < nobjs; i++)
		ha_sym_add_module(s, i + 1, 0, objs[i].bias, objs[i].path, no_id, 0, objs[i].segs,
				  objs[i].nseg);
	for (size_t i = 0; i < s->nmods; i++) {
		struct sym_module *m = &s->mods[i];
		int n;

		open_module(s, m);
		if (m->broken || !m->mod)
			continue;
		for (unsigned k = 0; k < m->nseg; k++) {
			uint64_t lo = m->bias + m->segs[3 * k], hi = lo + m->segs[3 * k + 1];

			if (!(m->segs[3 * k + 2] & PF_X))
				continue;
			for (uint64_t pc = lo + 1; pc < hi; pc += step)
				check(m, pc);
		}
		n = dwfl_module_getsymtab(m->mod);
		for (int k = 1; k < n; k += every) {
			GElf_Sym sym;
			GElf_Addr addr;

			if (!dwfl_module_getsym_info(m->mod, k, &sym, &addr, NULL, NULL, NULL))
				continue;
			symbols++;
			check(m, addr);
			check(m, addr + 1);
			if (sym.st_size) {
				check(m, addr + sym.st_size - 1);
				check(m, addr + sym.st_size);
			}
		}
		spans += HASH_COUNT(m->fns);
	}
	ha_sym_free(s);
	if (mismatched) {
		fprintf(stderr, "symspan_check: %llu of %llu names differ\n", mismatched, checked);
		return 1;
	}
	if (checked < 10000 || symbols < 300) {
		fprintf(stderr, "symspan_check: only %llu addresses and %llu symbols checked\n", checked,
			symbols);
		return 1;
	}
	printf("symspan_check: %llu addresses of %u objects (%llu symbols) named as libdwfl names "
	       "them, %llu spans asked\n", checked, nobjs, symbols, spans);
	return 0;
}
