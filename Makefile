# The two commands of the README: `make run` and `make test`. Both install the Debian
# packages that are missing first. CMake does the building; this file only drives it.
# `make install` (PREFIX, default /usr/local; DESTDIR for staging) installs the binary, the
# systemd unit, the sysusers.d entry, the man page and /etc/cohortd/cohortd.conf.

MAKEFLAGS  += --no-print-directory
BUILD      ?= build
TEST_BUILD ?= build-test
TSAN_BUILD ?= build-tsan
DATA       ?= var
LISTEN     ?= 127.0.0.1:8080
JOBS       ?= $(shell nproc)
PREFIX     ?= /usr/local
DESTDIR    ?=

.PHONY: all deps test-deps build run install test lint format clean bench bench-full soak screenshots

all: build

deps:
	@sh scripts/install-deps.sh

test-deps:
	@sh scripts/install-deps.sh test

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCOHORTD_TESTS=OFF >/dev/null
	@cmake --build $(BUILD) -j $(JOBS) --target cohortd man

run: build
	@sh scripts/run.sh $(BUILD)/cohortd $(DATA) $(LISTEN)

# The release build of `make build`, installed for PREFIX (chosen at install time, so the
# build is not redone: `make build && sudo make install` compiles nothing as root).
install: build
	@DESTDIR="$(DESTDIR)" cmake --install $(BUILD) --prefix $(PREFIX)

test: test-deps
	@cmake -S . -B $(TEST_BUILD) -DCMAKE_BUILD_TYPE=Debug -DCOHORTD_SANITIZE=ON >/dev/null
	@cmake --build $(TEST_BUILD) -j $(JOBS)
	@sh scripts/lint.sh $(TEST_BUILD)
	@cd $(TEST_BUILD) && ctest --output-on-failure -j $(JOBS)
	@# ThreadSanitizer cannot share a build with ASan: a second build, only the server and the
	@# suites labelled "concurrent" (docs/internals/testing.md); any TSan report fails.
	@cmake -S . -B $(TSAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DCOHORTD_TSAN=ON >/dev/null
	@cmake --build $(TSAN_BUILD) -j $(JOBS) --target concurrent_tests
	@cd $(TSAN_BUILD) && ctest -L concurrent --output-on-failure -j $(JOBS)
	@sh scripts/fuzz.sh build-fuzz $(JOBS)

# The README's screenshots (docs/screenshots/*.png), taken by the dashboard's browser tests
# against a fresh server (tests/browser/run.mjs), never drawn by hand.
screenshots: test-deps
	@cmake -S . -B $(TEST_BUILD) -DCMAKE_BUILD_TYPE=Debug -DCOHORTD_SANITIZE=ON >/dev/null
	@cmake --build $(TEST_BUILD) -j $(JOBS) --target cohortd
	@COHORTD_SCREENSHOTS=docs/screenshots sh tests/browser/run.sh $(TEST_BUILD)/cohortd $(TEST_BUILD)/browser

lint: test-deps
	@cmake -S . -B $(TEST_BUILD) -DCMAKE_BUILD_TYPE=Debug -DCOHORTD_SANITIZE=ON >/dev/null
	@sh scripts/lint.sh $(TEST_BUILD)

# Benchmarks (not tests): a release build, every scenario, bench/results/latest.json and
# report.md. `make bench` uses 1 M users (about 11 minutes here, with the build); `make bench-full` 10 M.
BENCH_USERS ?= 1000000
bench: deps
	@sh scripts/install-deps.sh bench
	@cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DCOHORTD_TESTS=OFF -DCOHORTD_BENCH=ON >/dev/null
	@cmake --build build-bench -j $(JOBS)
	@sh scripts/bench.sh build-bench $(BENCH_USERS)

bench-full:
	@$(MAKE) bench BENCH_USERS=10000000

# The soak (not a test): 200 connections for SOAK_SECONDS (default 120) on a mix of reads and
# writes against a release server with SOAK_USERS users, then 1000 idle connections while one
# request is timed; one JSON object in bench/results/soak.json (bench/bench_soak.c).
SOAK_USERS ?= 100000
soak: deps
	@cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DCOHORTD_TESTS=OFF -DCOHORTD_BENCH=ON >/dev/null
	@cmake --build build-bench -j $(JOBS) --target cohortd bench_soak
	@mkdir -p bench/results
	@build-bench/bench_soak build-bench/cohortd $(SOAK_USERS) >bench/results/soak.json.tmp 2>bench/results/soak.log && mv bench/results/soak.json.tmp bench/results/soak.json
	@cat bench/results/soak.json

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(TEST_BUILD) $(TSAN_BUILD) build-fuzz
