/* SPDX-License-Identifier: MIT */
/* Report writers: each prints one or more loaded profiles. */
#ifndef HOTALLOC_REPORT_H
#define HOTALLOC_REPORT_H

#include <stdio.h>
#include "profile.h"

void ha_report_json(FILE *f, struct ha_profile *profiles, size_t n);
void ha_report_text(FILE *f, struct ha_profile *profiles, size_t n);
/* "1.5 KiB", "12 B": into buf, which it returns. */
const char *ha_fmt_bytes(char *buf, size_t size, uint64_t bytes);

#endif
