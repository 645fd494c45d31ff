/* SPDX-License-Identifier: MIT */
/* The loaded objects (path, load bias, build-id, PT_LOAD segments) as the
 * dynamic loader lists them, for offline symbolization.  Writer only. */
#define _GNU_SOURCE
#include <elf.h>
#include <link.h>
#include <string.h>
#include <unistd.h>
#include "internal.h"

struct scan_ctx {
	const struct ha_module_cb *cb;
	char exe[1024];
};

static unsigned find_build_id(const struct dl_phdr_info *info, const uint8_t **out)
{
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		const uint8_t *p, *end;

		if (ph->p_type != PT_NOTE)
			continue;
		p = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr);
		end = p + ph->p_memsz;
		while (p + sizeof(ElfW(Nhdr)) <= end) {
			const ElfW(Nhdr) *nh = (const ElfW(Nhdr) *)p;
			size_t namesz = (nh->n_namesz + 3) & ~3u, descsz = (nh->n_descsz + 3) & ~3u;
			const uint8_t *name = p + sizeof(*nh), *desc = name + namesz;

			if (desc + descsz > end)
				break;
			if (nh->n_type == NT_GNU_BUILD_ID && nh->n_namesz == 4 && !memcmp(name, "GNU", 4)) {
				*out = desc;
				return nh->n_descsz > 64 ? 64 : nh->n_descsz;
			}
			p = desc + descsz;
		}
	}
	return 0;
}

static int scan_one(struct dl_phdr_info *info, size_t size, void *data)
{
	struct scan_ctx *ctx = data;
	uint64_t segs[3 * 16];
	unsigned nseg = 0, idlen;
	const uint8_t *id = NULL;
	const char *path = info->dlpi_name;

	(void)size;
	if (!path || !*path)
		path = ctx->exe;
	for (int i = 0; i < info->dlpi_phnum && nseg < 16; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];

		if (ph->p_type != PT_LOAD)
			continue;
		segs[3 * nseg] = ph->p_vaddr;
		segs[3 * nseg + 1] = ph->p_memsz;
		segs[3 * nseg + 2] = ph->p_flags;
		nseg++;
	}
	idlen = find_build_id(info, &id);
	ctx->cb->emit(ctx->cb->ctx, path, info->dlpi_addr, id, idlen, segs, nseg);
	return 0;
}

void ha__modules_scan(const struct ha_module_cb *cb)
{
	struct scan_ctx ctx;
	ssize_t n;

	ctx.cb = cb;
	n = readlink("/proc/self/exe", ctx.exe, sizeof(ctx.exe) - 1);
	ctx.exe[n > 0 ? n : 0] = 0;
	dl_iterate_phdr(scan_one, &ctx);
}

static int read_gen(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	*(uint64_t *)data = (uint64_t)info->dlpi_adds * 1000003u + info->dlpi_subs;
	return 1;
}

uint64_t ha__modules_generation(void)
{
	uint64_t gen = 0;

	dl_iterate_phdr(read_gen, &gen);
	return gen;
}
