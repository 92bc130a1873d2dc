# SPDX-License-Identifier: Apache-2.0
# Thin wrappers. `make run` and `make test` work on a fresh Debian machine: they install what
# they need first (scripts/install-deps.sh does nothing when it is all there).
JOBS ?= $(shell nproc)
RELEASE := build/release
RELEASE_GPU := build/release-gpu
TESTBUILD := build/test
FUZZBUILD := build/fuzz
FUZZ_SECONDS ?= 300
# CUDA architectures (docs/gpu.md). `make build`/`make run`: this host's GPUs as nvidia-smi lists
# them, or sm_90 alone on a host without one (nothing here runs the others, and every extra
# architecture is another nvcc pass over the .cu file); `make release-gpu`: real code for every
# GPU generation CUDA 13 supports plus PTX of the newest, for binaries that go to other hosts;
# `make test`: one architecture (CI time). Override with ONECOPY_CUDA_ARCHS=release|native|ci|LIST.
ONECOPY_CUDA_ARCHS ?= native
CUDA_ARCHS = -UCMAKE_CUDA_ARCHITECTURES -DONECOPY_CUDA_ARCHS=$(1)
# ccache, when the machine has it, makes a rebuild of an unchanged tree (another clone included:
# paths are taken relative to the clone) take seconds; without it nothing changes.
ifneq ($(shell command -v ccache 2>/dev/null),)
  LAUNCHERS := $(foreach lang,C CXX CUDA,-DCMAKE_$(lang)_COMPILER_LAUNCHER=ccache)
  export CCACHE_BASEDIR := $(CURDIR)
  export CCACHE_NOHASHDIR := 1
endif
CMAKE_COMMON := $(call CUDA_ARCHS,ci) $(LAUNCHERS)
OUT ?= build/gpu-check-report

.PHONY: all deps build run test campaign fuzz bench bench-anchors clean release-gpu gpu-check

all: build

deps:
	@./scripts/install-deps.sh

build: deps
	@cmake -S . -B $(RELEASE) -DCMAKE_BUILD_TYPE=Release -DONECOPY_BUILD_TESTS=OFF \
	  $(call CUDA_ARCHS,$(ONECOPY_CUDA_ARCHS)) $(LAUNCHERS) >/dev/null
	@cmake --build $(RELEASE) -j$(JOBS)

# A release build for other hosts' GPUs: SASS for sm_75 … sm_120 and compute_120 PTX.
release-gpu: deps
	@cmake -S . -B $(RELEASE_GPU) -DCMAKE_BUILD_TYPE=Release -DONECOPY_BUILD_TESTS=OFF \
	  -DONECOPY_BUILD_BENCH=OFF $(call CUDA_ARCHS,release) >/dev/null
	@cmake --build $(RELEASE_GPU) -j$(JOBS)

# The first run on a GPU host, offline, ≤ 8 min on 16 cores: build for the GPU here, probe
# registration and VMM, gpu_smoke with every share method, the > 2^31 test, ctest -L gpu and the
# serve tests; PASS/FAIL/SKIP per step and the figures in $(OUT)/summary.txt.
gpu-check:
	@OUT=$(OUT) ./scripts/gpu-check.sh

# Build, show this machine's topology, then N workers sharing one copy.
run: build
	@./$(RELEASE)/onecopy topo --summary
	@echo
	@./$(RELEASE)/onecopy demo

# ASan+UBSan build of everything, then every test (real processes, real shared memory).
test:
	@./scripts/install-deps.sh --python --numa-vm --mpi --torch --ray --vllm
	@cmake -S . -B $(TESTBUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DONECOPY_SANITIZE=ON \
	  -DONECOPY_WERROR=ON -DONECOPY_PYTHON=ON $(CMAKE_COMMON) >/dev/null
	@cmake --build $(TESTBUILD) -j$(JOBS)
	@cd $(TESTBUILD) && ctest --output-on-failure --timeout 900
	@$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=30

# The crash and abuse campaign (tests/campaign, ctest label `campaign`) at its full counts, in
# the ASan+UBSan build: 1000 SIGKILLed creators, 16-way races, rm vs attach, attach storms,
# header mutations and truncations, mutated tensor files. CI (`make test`) runs a tenth of it.
campaign:
	@./scripts/install-deps.sh --python
	@cmake -S . -B $(TESTBUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DONECOPY_SANITIZE=ON \
	  -DONECOPY_WERROR=ON -DONECOPY_PYTHON=ON $(CMAKE_COMMON) >/dev/null
	@cmake --build $(TESTBUILD) -j$(JOBS) --target campaign_test
	@cd $(TESTBUILD) && ONECOPY_CAMPAIGN_SCALE=1 ctest -L campaign --output-on-failure --verbose --timeout 3600

# libFuzzer targets (clang, ASan+UBSan, own build dir): the safetensors and .npy parsers and
# segment-header validation and the serve protocol's messages, each for FUZZ_SECONDS from seeds
# written by numpy/safetensors and the corpus in tests/fuzz/corpus/.
fuzz:
	@./scripts/install-deps.sh --python --fuzz
	@cmake -S . -B $(FUZZBUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang-14 \
	  -DCMAKE_CXX_COMPILER=clang++-14 -DONECOPY_FUZZ=ON -DONECOPY_BUILD_TESTS=OFF \
	  -DONECOPY_BUILD_BENCH=OFF -DONECOPY_CUDA=OFF -DONECOPY_FUZZ_SECONDS=$(FUZZ_SECONDS) $(CMAKE_COMMON) >/dev/null
	@cmake --build $(FUZZBUILD) -j$(JOBS) --target fuzz_safetensors fuzz_npy fuzz_segment_header fuzz_serve_protocol fuzz_seeds
	@cd $(FUZZBUILD) && ctest -L fuzz --output-on-failure

# Release build, then the benchmark suite: bench/results/latest.md and SVG plots. On 2 cores the
# micro benchmarks take ~4 min; the publish goals and the Python anchors add ~20 min more. As
# root it also mounts hugetlbfs/THP tmpfs and grows the huge-page pools by increments for the
# huge-page cases, and undoes both (see bench/run.sh).
bench: build
	@./scripts/install-deps.sh --bench --python --anchors
	@cmake -S . -B $(RELEASE) -DONECOPY_PYTHON=ON >/dev/null && cmake --build $(RELEASE) -j$(JOBS) --target onecopy_python
	@./bench/run.sh $(RELEASE)

# Only the Python anchors (pickling, shared_memory, Ray, … side by side with onecopy):
# bench/results/anchors.md. ANCHOR_ARGS passes options (e.g. --sizes 80MB --runs 5).
bench-anchors: build
	@./scripts/install-deps.sh --python --anchors
	@cmake -S . -B $(RELEASE) -DONECOPY_PYTHON=ON >/dev/null && cmake --build $(RELEASE) -j$(JOBS) --target onecopy_python
	@./bench/run.sh $(RELEASE) --only-anchors $(ANCHOR_ARGS)

clean:
	rm -rf build
