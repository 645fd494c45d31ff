# SPDX-License-Identifier: MIT
# hotalloc: `make` builds build/libhotalloc.so and build/hotalloc.
# `make demo` and `make test` install what is missing first (scripts/install-deps).

PREFIX ?= /usr/local
BUILD ?= build
CC ?= cc
WERROR ?=
CFLAGS ?= -O2 -g
WARN = -std=c11 -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes $(if $(WERROR),-Werror)
CPPFLAGS += -Iinclude
UNWIND_INC := $(shell pkg-config --cflags libunwind 2>/dev/null)

PRELOAD_SRC = preload/shim.c preload/hook.c preload/ring.c preload/writer.c preload/boot.c \
	preload/unwind.c preload/env.c preload/log.c preload/arena.c preload/modules.c \
	preload/sample.c preload/clock.c
PRELOAD_OBJ = $(PRELOAD_SRC:%.c=$(BUILD)/%.o)
ANALYZER_SRC = $(wildcard analyzer/*.c)
ANALYZER_OBJ = $(ANALYZER_SRC:%.c=$(BUILD)/%.o)
HEADERS = $(wildcard include/*.h include/hotalloc/*.h preload/*.h analyzer/*.h)

LIB = $(BUILD)/libhotalloc.so
BIN = $(BUILD)/hotalloc

all: $(LIB) $(BIN)

$(BUILD)/preload/%.o: preload/%.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(UNWIND_INC) $(CFLAGS) $(WARN) -fPIC -fvisibility=hidden \
		-ftls-model=initial-exec -fno-omit-frame-pointer -c $< -o $@

$(LIB): $(PRELOAD_OBJ)
	$(CC) -shared -o $@ $^ -Wl,-z,defs -Wl,-z,now -lunwind -lzstd -ldl -lpthread -lm

$(BUILD)/analyzer/%.o: analyzer/%.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -D_GNU_SOURCE $(CFLAGS) $(WARN) -DHA_LIBDIR='"$(PREFIX)/lib/hotalloc"' -c $< -o $@

ANALYZER_LIBS = -ldw -lelf -liberty -ljansson -lzstd -lm -pthread
$(BIN): $(ANALYZER_OBJ)
	$(CC) -o $@ $^ $(ANALYZER_LIBS)

deps:
	@scripts/install-deps

# The trace-reader fuzzer (libFuzzer, ASan, UBSan): `make fuzz` runs it for
# FUZZ_SECONDS; scripts/fuzz.sh keeps crash inputs in $(BUILD)/fuzz-crashes/.
FUZZ_CC ?= clang
FUZZ_SECONDS ?= 60
FUZZ_SRC = tests/fuzz/fuzz_trace.c $(filter-out analyzer/main.c,$(ANALYZER_SRC))
$(BUILD)/fuzz/fuzz_trace: $(FUZZ_SRC) $(HEADERS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) -Ianalyzer -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer \
		-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all $(WARN) \
		-o $@ $(FUZZ_SRC) $(ANALYZER_LIBS)

fuzz:
	@scripts/install-deps --fuzz
	@scripts/fuzz.sh $(BUILD) $(FUZZ_SECONDS)

demo: deps
	@$(MAKE) --no-print-directory all tests/demo
	@echo "== tracing tests/demo.c (50000 allocations, one 4096-byte leak) =="
	@rm -f $(BUILD)/demo.trace
	$(BIN) record -o $(BUILD)/demo.trace -- $(BUILD)/tests/demo
	$(BIN) report $(BUILD)/demo.trace

-include tests/workloads.mk
-include bench/bench.mk

tests/demo: $(BUILD)/tests/demo
$(BUILD)/tests/demo: tests/demo.c
	@mkdir -p $(dir $@)
	$(CC) -O1 -g $(WARN) -Wno-missing-prototypes -o $@ $<

# The analyzer again, under AddressSanitizer and UndefinedBehaviorSanitizer,
# for the tests that feed it corrupt and torn traces.
SAN = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
ASAN_BUILD = $(BUILD)/asan
$(ASAN_BUILD)/hotalloc: $(ANALYZER_SRC) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -D_GNU_SOURCE -O1 -g $(SAN) $(WARN) -o $@ $(ANALYZER_SRC) $(ANALYZER_LIBS)
$(ASAN_BUILD)/libhotalloc.so: $(LIB)
	@mkdir -p $(dir $@)
	cp $< $@
$(ASAN_BUILD)/tests/demo: $(BUILD)/tests/demo
	@mkdir -p $(dir $@)
	cp $< $@

# The ring's stress test, under ThreadSanitizer and under ASan + UBSan.
$(BUILD)/unit/ring_stress_tsan: tests/unit/ring_stress.c preload/ring.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -O1 -g -fsanitize=thread $(WARN) -Wno-missing-prototypes -pthread -o $@ tests/unit/ring_stress.c preload/ring.c
$(BUILD)/unit/ring_stress_asan: tests/unit/ring_stress.c preload/ring.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -O1 -g $(SAN) $(WARN) -Wno-missing-prototypes -pthread -o $@ tests/unit/ring_stress.c preload/ring.c

# The analyzer's time ordering against random streams, under ASan + UBSan.
$(BUILD)/unit/order_check: tests/unit/order_check.c analyzer/order.c analyzer/util.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -D_GNU_SOURCE -Iinclude -O1 -g $(SAN) $(WARN) -o $@ tests/unit/order_check.c \
		analyzer/order.c analyzer/util.c

# The same with blocks of 3 operations, so that queues cross blocks all the time.
$(BUILD)/unit/order_check_small: tests/unit/order_check.c analyzer/order.c analyzer/util.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -D_GNU_SOURCE -DHA_ORDER_BLOCK=3 -Iinclude -O1 -g $(SAN) $(WARN) -o $@ \
		tests/unit/order_check.c analyzer/order.c analyzer/util.c

# The analyzer's unchecked varint against the format's reference decoder, under ASan + UBSan.
$(BUILD)/unit/varint_check: tests/unit/varint_check.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -D_GNU_SOURCE -Iinclude -O1 -g $(SAN) $(WARN) -o $@ tests/unit/varint_check.c

# Joins a trace's chunks into larger ones, for the tests of large chunks (tests/analyzer_tsan.sh).
$(BUILD)/unit/rechunk: tests/unit/rechunk.c tests/unit/tracefile.h $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -O1 -g $(WARN) -o $@ tests/unit/rechunk.c -lzstd

# Rewrites a trace's events in the other encoding, for the tests of both (tests/analyzer_tsan.sh).
$(BUILD)/unit/repack: tests/unit/repack.c tests/unit/tracefile.h analyzer/decode.h analyzer/trace.h $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -D_GNU_SOURCE -Iinclude -O1 -g $(SAN) $(WARN) -o $@ tests/unit/repack.c -lzstd

# The analyzer again, under ThreadSanitizer, for its two threads (tests/analyzer_tsan.sh).
$(BUILD)/tsan/hotalloc: $(ANALYZER_SRC) $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -D_GNU_SOURCE -O1 -g -fsanitize=thread $(WARN) -o $@ $(ANALYZER_SRC) $(ANALYZER_LIBS)

# The analyzer's channel between its two threads, under ThreadSanitizer and under ASan + UBSan.
$(BUILD)/unit/pipe_stress_tsan: tests/unit/pipe_stress.c analyzer/pipe.c analyzer/util.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -D_GNU_SOURCE -O1 -g -fsanitize=thread $(WARN) -pthread -o $@ \
		tests/unit/pipe_stress.c analyzer/pipe.c analyzer/util.c
$(BUILD)/unit/pipe_stress_asan: tests/unit/pipe_stress.c analyzer/pipe.c analyzer/util.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -D_GNU_SOURCE -O1 -g $(SAN) $(WARN) -pthread -o $@ \
		tests/unit/pipe_stress.c analyzer/pipe.c analyzer/util.c

# The symbolizer's function names by span against libdwfl's by address, under ASan + UBSan.
$(BUILD)/unit/symspan_check: tests/unit/symspan_check.c analyzer/symbolize.c analyzer/util.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -D_GNU_SOURCE -Iinclude -O1 -g $(SAN) $(WARN) -Wno-missing-prototypes -o $@ \
		tests/unit/symspan_check.c analyzer/util.c -ldw -lelf -liberty -pthread

test-build: all $(BUILD)/tests/demo $(WORKLOAD_BINS) $(ASAN_BUILD)/hotalloc $(ASAN_BUILD)/libhotalloc.so \
	$(ASAN_BUILD)/tests/demo $(BUILD)/unit/ring_stress_tsan $(BUILD)/unit/ring_stress_asan \
	$(BUILD)/unit/order_check $(BUILD)/unit/order_check_small $(BUILD)/unit/varint_check $(BUILD)/unit/rechunk $(BUILD)/unit/repack $(BUILD)/unit/pipe_stress_tsan $(BUILD)/unit/pipe_stress_asan \
	$(BUILD)/unit/symspan_check $(BUILD)/tsan/hotalloc

test:
	@scripts/install-deps --test
	@$(MAKE) --no-print-directory test-build
	@tests/run-all.sh $(BUILD)

# Speed against the untraced program and heaptrack; see scripts/bench.sh
# (BENCH_RUNS, BENCH_SCALE, BENCH_HEAPTRACK=none).
bench:
	@scripts/install-deps --bench
	@$(MAKE) --no-print-directory all $(BENCH_BINS)
	scripts/bench.sh $(BUILD)

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/hotalloc $(DESTDIR)$(PREFIX)/include/hotalloc
	install -m 755 $(BIN) $(DESTDIR)$(PREFIX)/bin/hotalloc
	install -m 644 $(LIB) $(DESTDIR)$(PREFIX)/lib/hotalloc/libhotalloc.so
	install -m 644 include/hotalloc.h $(DESTDIR)$(PREFIX)/include/hotalloc.h
	install -m 644 include/hotalloc/format.h $(DESTDIR)$(PREFIX)/include/hotalloc/format.h

clean:
	rm -rf $(BUILD)

.PHONY: all deps demo test test-build bench fuzz install clean tests/demo
