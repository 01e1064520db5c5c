# The two commands of the README: `make run` and `make test`. Both install the Debian
# packages that are missing first. CMake does the building; this file only drives it.

BUILD      ?= build
TEST_BUILD ?= build-test
DATA       ?= var
LISTEN     ?= 127.0.0.1:8080
JOBS       ?= $(shell nproc)

.PHONY: all deps build run test lint format clean

all: build

deps:
	@sh scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCOHORTD_TESTS=OFF >/dev/null
	@cmake --build $(BUILD) -j $(JOBS) --target cohortd

run: build
	@sh scripts/run.sh $(BUILD)/cohortd $(DATA) $(LISTEN)

test: deps
	@cmake -S . -B $(TEST_BUILD) -DCMAKE_BUILD_TYPE=Debug -DCOHORTD_SANITIZE=ON >/dev/null
	@cmake --build $(TEST_BUILD) -j $(JOBS)
	@sh scripts/lint.sh $(TEST_BUILD)
	@cd $(TEST_BUILD) && ctest --output-on-failure -j $(JOBS)

lint: deps
	@cmake -S . -B $(TEST_BUILD) -DCMAKE_BUILD_TYPE=Debug -DCOHORTD_SANITIZE=ON >/dev/null
	@sh scripts/lint.sh $(TEST_BUILD)

format:
	@clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(TEST_BUILD)
