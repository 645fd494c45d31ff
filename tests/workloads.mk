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

$(WL_C_PROGS): $(WL_OUT)/%: $(WL_SRC)/%.c $(WL_SRC)/workload.h
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
