# SPDX-License-Identifier: MIT
# Builds the benchmark workloads (bench/*.c) into $(BUILD)/bench/ for `make bench`.
# The main Makefile includes this with BUILD and CC set; alone:
#   make -f bench/bench.mk BUILD=build bench-bins

# Keep the includer's default goal: this fragment must not become "make"'s target.
BENCH_SAVED_DEFAULT_GOAL := $(.DEFAULT_GOAL)

BUILD ?= build
# Fixed flags, not the includer's CFLAGS: a sanitizer or -O0 there would change what is
# being measured.
BENCH_CFLAGS := -O2 -g -pthread -std=c11 -Wall -Wextra -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes
BENCH_BINS := $(addprefix $(BUILD)/bench/,churn xthreads families recurse)

.PHONY: bench-bins
bench-bins: $(BENCH_BINS)

$(BENCH_BINS): $(BUILD)/bench/%: bench/%.c bench/bench.h
	@mkdir -p $(@D)
	$(CC) $(BENCH_CFLAGS) -o $@ $<

ifeq ($(notdir $(firstword $(MAKEFILE_LIST))),bench.mk)
.DEFAULT_GOAL := bench-bins
else
.DEFAULT_GOAL := $(BENCH_SAVED_DEFAULT_GOAL)
endif
