# SPDX-License-Identifier: MIT
# Builds the capture-test workloads (tests/workloads/) into $(BUILD)/tests/.  The main
# Makefile includes this with BUILD set; alone: make -f tests/workloads.mk BUILD=build workloads

# Keep the includer's default goal: this fragment must not become "make"'s target.
WL_SAVED_DEFAULT_GOAL := $(.DEFAULT_GOAL)

BUILD ?= build
WL_SRC := tests/workloads
WL_OUT := $(BUILD)/tests
# The workloads get their own flags: the includer's CFLAGS may carry sanitizers or
# -fvisibility=hidden, which would change what the workloads allocate.
WL_CFLAGS := -O1 -g -std=c11 -Wall -Wextra -Wshadow -Wstrict-prototypes \
	-Wmissing-prototypes -Werror -pthread
WL_CXXFLAGS := -O1 -g -std=c++17 -Wall -Wextra -Wshadow -Werror -pthread

WL_C_PROGS := $(addprefix $(WL_OUT)/,churn threads families leakpeak forkexec dlopen \
	manythreads sigkill)
WORKLOAD_BINS := $(WL_C_PROGS) $(WL_OUT)/exceptions $(WL_OUT)/libdlalloc.so

.PHONY: workloads
workloads: $(WORKLOAD_BINS)

$(WL_C_PROGS): $(WL_OUT)/%: $(WL_SRC)/%.c $(WL_SRC)/workload.h $(WL_SRC)/handoff.h
	@mkdir -p $(@D)
	$(CC) $(WL_CFLAGS) -o $@ $<

$(WL_OUT)/exceptions: $(WL_SRC)/exceptions.cc $(WL_SRC)/workload.h
	@mkdir -p $(@D)
	$(CXX) $(WL_CXXFLAGS) -o $@ $<

$(WL_OUT)/libdlalloc.so: $(WL_SRC)/libdlalloc.c
	@mkdir -p $(@D)
	$(CC) $(WL_CFLAGS) -fPIC -shared -o $@ $<

# Read on its own (make -f tests/workloads.mk), build the workloads by default.
ifeq ($(notdir $(firstword $(MAKEFILE_LIST))),workloads.mk)
.DEFAULT_GOAL := workloads
else
.DEFAULT_GOAL := $(WL_SAVED_DEFAULT_GOAL)
endif

# The analyzer tests' workloads (tests/analyzer.sh), with the same flags; inlined is
# built at -O2 (the later -O wins), where its always_inline function is inlined and
# the DWARF records it as an inlined subroutine.
AN_C_PROGS := $(addprefix $(WL_OUT)/,leaksites deepstack temporary regrow grouping)
ANALYZER_WORKLOAD_BINS := $(AN_C_PROGS) $(WL_OUT)/inlined $(WL_OUT)/widgets
WORKLOAD_BINS += $(ANALYZER_WORKLOAD_BINS)

.PHONY: analyzer-workloads
analyzer-workloads: $(ANALYZER_WORKLOAD_BINS)
workloads: $(ANALYZER_WORKLOAD_BINS)

$(AN_C_PROGS): $(WL_OUT)/%: $(WL_SRC)/%.c $(WL_SRC)/workload.h
	@mkdir -p $(@D)
	$(CC) $(WL_CFLAGS) -o $@ $<

$(WL_OUT)/inlined: $(WL_SRC)/inlined.c $(WL_SRC)/workload.h
	@mkdir -p $(@D)
	$(CC) $(WL_CFLAGS) -O2 -o $@ $<

$(WL_OUT)/widgets: $(WL_SRC)/widgets.cc $(WL_SRC)/workload.h
	@mkdir -p $(@D)
	$(CXX) $(WL_CXXFLAGS) -o $@ $<

# The gate tests' workload (tests/gate.sh), with the same flags and the public header:
# gatework; moved/gatework, the same program rebuilt from a copy with 40 lines and two
# unrelated functions (-DEXTRA_CODE) above its sites, so that every address and line
# number of the sites moves (same base names, as a rebuild in another checkout); and
# gatework_more, with its --more switch baked in.
GATE_WORKLOAD_BINS := $(addprefix $(WL_OUT)/,gatework moved/gatework gatework_more)
WORKLOAD_BINS += $(GATE_WORKLOAD_BINS)

.PHONY: gate-workloads
gate-workloads: $(GATE_WORKLOAD_BINS)
workloads: $(GATE_WORKLOAD_BINS)

$(WL_OUT)/gatework: $(WL_SRC)/gatework.c $(WL_SRC)/workload.h include/hotalloc.h
	@mkdir -p $(@D)
	$(CC) $(WL_CFLAGS) -I include -o $@ $<

$(WL_OUT)/gatework_more: $(WL_SRC)/gatework.c $(WL_SRC)/workload.h include/hotalloc.h
	@mkdir -p $(@D)
	$(CC) $(WL_CFLAGS) -I include -DGATEWORK_MORE -o $@ $<

$(WL_OUT)/moved/gatework.c: $(WL_SRC)/gatework.c
	@mkdir -p $(@D)
	awk '/^#ifdef EXTRA_CODE/ && !done { for (i = 1; i <= 40; i++) print "/* moved " i " */"; done = 1 } { print }' $< >$@

$(WL_OUT)/moved/gatework: $(WL_OUT)/moved/gatework.c $(WL_SRC)/workload.h include/hotalloc.h
	$(CC) $(WL_CFLAGS) -I include -I $(WL_SRC) -DEXTRA_CODE -o $@ $<
