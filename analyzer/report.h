/* SPDX-License-Identifier: MIT */
/* Report writers: each prints one or more loaded profiles. */
#ifndef HOTALLOC_REPORT_H
#define HOTALLOC_REPORT_H

#include <stdio.h>
#include "model.h"
#include "profile.h"

/* One section per profile, or one merged section with o->merge. */
void ha_report_json(FILE *f, struct ha_profile *profiles, size_t n, const struct ha_report_opts *o);
void ha_report_text(FILE *f, struct ha_profile *profiles, size_t n, const struct ha_report_opts *o);
/* "1.5 KiB", "12 B": into buf, which it returns. */
const char *ha_fmt_bytes(char *buf, size_t size, uint64_t bytes);
/* "850 ns", "1.2 ms", "3.4 s". */
const char *ha_fmt_ns(char *buf, size_t size, uint64_t ns);
const char *ha_group_name(enum ha_group g);

#endif
