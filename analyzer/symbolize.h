/* SPDX-License-Identifier: MIT */
/* Offline symbolization: return addresses to function, file:line and inlined
 * frames, with the module list a trace recorded.  Each distinct address is
 * resolved once per run. */
#ifndef HOTALLOC_SYMBOLIZE_H
#define HOTALLOC_SYMBOLIZE_H

#include <stdbool.h>
#include <stdint.h>

struct ha_frame {
	const char *function;	/* demangled; "module+0xoffset" when unknown */
	const char *file;	/* NULL when unknown */
	unsigned line;		/* 0 when unknown */
	const char *module;	/* the object's path as recorded */
	bool inlined;		/* inlined into the frame that follows */
	uint64_t addr;		/* the return address this frame came from */
};

struct ha_symbolizer;

/* sysroot: prefix for module paths (may be NULL); debug_dir: an extra place
 * for separate debug files (may be NULL). */
struct ha_symbolizer *ha_sym_new(const char *sysroot, const char *debug_dir);
void ha_sym_free(struct ha_symbolizer *s);
void ha_sym_add_module(struct ha_symbolizer *s, uint32_t id, uint64_t ts, uint64_t bias,
		       const char *path, const uint8_t *build_id, unsigned build_id_len,
		       const uint64_t *segs, unsigned nseg);
void ha_sym_unload(struct ha_symbolizer *s, uint32_t id, uint64_t ts);
/* Frames that will be resolved later: their modules may be opened now, on a
 * core the replay leaves idle.  Copies them; thread-safe with the above. */
void ha_sym_hint(struct ha_symbolizer *s, const uint64_t *frames, unsigned n);
/* No more hints: waits for the module being opened, if any, and leaves the
 * rest to ha_sym_resolve.  After it, one thread at a time uses libdw. */
void ha_sym_settle(struct ha_symbolizer *s);
/* Resolves a return address into frames, innermost (inlined) first.  Returns
 * their count (at least 1); *out stays valid until ha_sym_free. */
unsigned ha_sym_resolve(struct ha_symbolizer *s, uint64_t addr, const struct ha_frame **out);
/* The demangled form of a symbol (C++, Rust legacy and v0), or a copy of it. */
char *ha_demangle(const char *name);

#endif
