# SPDX-License-Identifier: Apache-2.0
# Thin wrappers. `make run` and `make test` work on a fresh Debian machine: they install what
# they need first (scripts/install-deps.sh does nothing when it is all there).
JOBS ?= $(shell nproc)
RELEASE := build/release
TESTBUILD := build/test
CMAKE_COMMON := -DCMAKE_CUDA_ARCHITECTURES=90

.PHONY: all deps build run test bench clean

all: build

deps:
	@./scripts/install-deps.sh

build: deps
	@cmake -S . -B $(RELEASE) -DCMAKE_BUILD_TYPE=Release -DONECOPY_BUILD_TESTS=OFF $(CMAKE_COMMON) >/dev/null
	@cmake --build $(RELEASE) -j$(JOBS)

# Build, show this machine's topology, then N workers sharing one copy.
run: build
	@./$(RELEASE)/onecopy topo --summary
	@echo
	@./$(RELEASE)/onecopy demo

# ASan+UBSan build of everything, then every test (real processes, real shared memory).
test:
	@./scripts/install-deps.sh --python --numa-vm
	@cmake -S . -B $(TESTBUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DONECOPY_SANITIZE=ON \
	  -DONECOPY_WERROR=ON $(CMAKE_COMMON) >/dev/null
	@cmake --build $(TESTBUILD) -j$(JOBS)
	@cd $(TESTBUILD) && ctest --output-on-failure --timeout 900

# Release build, then the benchmark suite (≤ 10 min on 2 cores): bench/results/latest.md and
# SVG plots. As root it also mounts hugetlbfs/THP tmpfs and grows the huge-page pools by
# increments for the huge-page cases, and undoes both (see bench/run.sh).
bench: build
	@./scripts/install-deps.sh --bench
	@./bench/run.sh $(RELEASE)

clean:
	rm -rf build
