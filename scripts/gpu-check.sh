#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# gpu-check.sh (`make gpu-check`): the first run of onecopy's GPU path on a host with an NVIDIA
# GPU, in one command, offline, within 8 minutes on a 16-core host. Run from the tree's root:
#     OUT=/some/dir scripts/gpu-check.sh
# It reports driver/GPU/toolkit and missing packages (never installs: such hosts are often
# offline), builds for the GPUs present (ONECOPY_CUDA_ARCHS=native), probes cudaHostRegister of
# tmpfs/memfd/hugetlbfs mappings read-only with each flag and the VMM steps, runs gpu_smoke with
# every share method (it fails when a reader fell back from the one asked for), the > 2^31-element
# test, `ctest -L gpu` and the serve tests, and writes $OUT/summary.txt: one line per step,
# "<step> PASS|FAIL|TIMEOUT|SKIP: <note>", then the figures (GB/s for registered and pageable H2D,
# device read, zero-copy read; registration s/GiB). Logs: $OUT/logs/<step>.log. Exit 0 unless a
# step failed or timed out.
#
# Without a usable GPU every GPU step is "SKIP: no usable GPU" and nothing is changed on the host
# (no mounts, no huge-page pools): a dry run, tested in CI with an existing build:
#     GPU_CHECK_BUILD_DIR=build/test GPU_CHECK_SKIP_BUILD=1 OUT=$(mktemp -d) scripts/gpu-check.sh
#
# Knobs (environment):
#   GPU_CHECK_SIZE=4GiB        gpu_smoke segment size (shrunk to fit the store's free space)
#   GPU_CHECK_BUDGET=450       total seconds for every step (a step is not started with < 20 s left)
#   GPU_CHECK_JOBS=$(nproc)    build parallelism
#   GPU_CHECK_BUILD_DIR=build/gpu-check   build directory (relative to the tree or absolute)
#   GPU_CHECK_SKIP_BUILD=1     use GPU_CHECK_BUILD_DIR as it is (no configure, no build)
#   GPU_CHECK_HUGETLB=0        no hugetlbfs run (it mounts one and, as root, grows vm.nr_hugepages,
#                              restored on exit)
#   CUDA_HOME=/usr/local/cuda
set -u

OUT=${OUT:-}
if [ -z "$OUT" ]; then
  OUT=$(mktemp -d -t onecopy-gpu-check.XXXXXX)
  echo "gpu-check: OUT was not set; writing to $OUT" >&2
fi
mkdir -p "$OUT/logs"
OUT=$(cd "$OUT" && pwd)
LOGS=$OUT/logs
SUMMARY=$OUT/summary.txt
: >"$SUMMARY"

REPO=$(pwd)
SIZE=${GPU_CHECK_SIZE:-4GiB}
BUDGET=${GPU_CHECK_BUDGET:-450}
JOBS=${GPU_CHECK_JOBS:-$(nproc)}
BUILD_REL=${GPU_CHECK_BUILD_DIR:-build/gpu-check}
case "$BUILD_REL" in /*) BUILD=$BUILD_REL ;; *) BUILD=$REPO/$BUILD_REL ;; esac
SKIP_BUILD=${GPU_CHECK_SKIP_BUILD:-0}
WANT_HUGETLB=${GPU_CHECK_HUGETLB:-1}
CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
DEADLINE=$((SECONDS + BUDGET))
MIN_STEP=20

have() { command -v "$1" >/dev/null 2>&1; }
say() { printf '%s\n' "$*" | tee -a "$SUMMARY"; }
left() { echo $((DEADLINE - SECONDS)); }

# ---- cleanup of what this script set up (and only that) ---------------------------------------
TMPROOT=$(mktemp -d -t onecopy-gpu-check-work.XXXXXX)
MOUNTS=()
ORIG_NR_HUGEPAGES=""
cleanup() {
  local m
  for m in "${MOUNTS[@]}"; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null; done
  if [ -n "$ORIG_NR_HUGEPAGES" ]; then
    echo "$ORIG_NR_HUGEPAGES" >/proc/sys/vm/nr_hugepages 2>/dev/null &&
      echo "gpu-check: vm.nr_hugepages restored to $ORIG_NR_HUGEPAGES" >>"$LOGS/cleanup.log"
  fi
  rm -rf "$TMPROOT" 2>/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- steps ------------------------------------------------------------------------------------
declare -A RESULT
STEP_NOTE=""
record() {  # STATUS NAME SECONDS NOTE
  RESULT[$2]=$1
  local note=$4
  note=${note#"${note%%[! ]*}"}  # no leading blanks
  [ "$1" != SKIP ] && note="${3}s${note:+, $note}"
  printf '%-22s %s: %s\n' "$2" "$1" "$note" | tee -a "$SUMMARY"
}
# run_step NAME LIMIT CMD...: runs CMD under timeout in its own process group (whatever of it is
# left afterwards, e.g. a server a failed run left behind, is ended), logs to $LOGS/NAME.log.
# Returns CMD's status (99 when skipped for lack of time). Exit 77 is a skip.
run_step() {
  local name=$1 limit=$2
  shift 2
  local log=$LOGS/$name.log remaining
  remaining=$(left)
  if [ "$remaining" -lt "$MIN_STEP" ]; then
    record SKIP "$name" 0 "time budget spent (${remaining}s left)${STEP_NOTE:+ $STEP_NOTE}"
    STEP_NOTE=""
    return 99
  fi
  [ "$limit" -gt "$remaining" ] && limit=$remaining
  {
    printf '$'
    printf ' %q' "$@"
    printf '\n# limit %ss, started %s\n' "$limit" "$(date -u +%FT%TZ)"
  } >"$log"
  local t0=$SECONDS
  timeout --kill-after=10 "$limit" "$@" >>"$log" 2>&1 </dev/null &
  local pid=$!
  wait "$pid"
  local rc=$?
  kill -TERM -- "-$pid" 2>/dev/null && sleep 1 && kill -KILL -- "-$pid" 2>/dev/null
  local dt=$((SECONDS - t0)) status note=""
  case $rc in
    0) status=PASS ;;
    77) status=SKIP; note="exit 77 (skipped)" ;;
    124 | 137) status=TIMEOUT; note="killed after ${limit}s" ;;
    *) status=FAIL; note="exit $rc" ;;
  esac
  echo "# exit $rc after ${dt}s" >>"$log"
  record "$status" "$name" "$dt" "$note${STEP_NOTE:+ $STEP_NOTE} (logs/$name.log)"
  STEP_NOTE=""
  return "$rc"
}
# A step that needs a GPU: run it, or say why not.
GPU_USABLE=0
gpu_step() {  # NAME LIMIT CMD...
  if [ "$GPU_USABLE" != 1 ]; then
    record SKIP "$1" 0 "no usable GPU"
    STEP_NOTE=""
    return 77
  fi
  run_step "$@"
}

say "onecopy gpu-check, $(date -u +%FT%TZ), tree $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '(no git)')"
say "budget ${BUDGET}s, segment size $SIZE, build dir $BUILD_REL"
say ""
say "== steps"

# ---- 1. host, driver, toolkit -------------------------------------------------------------------
NVCC=$(command -v nvcc 2>/dev/null || echo "$CUDA_HOME/bin/nvcc")
host_info() {
  echo "## uname"; uname -a
  echo "## os"; head -4 /etc/os-release 2>/dev/null
  echo "## cpus"; nproc; (lscpu 2>/dev/null | grep -E 'Model name|Socket|NUMA node' || true)
  echo "## memory"; grep -E 'MemTotal|MemAvailable|HugePages_|Hugepagesize' /proc/meminfo
  echo "## /dev/shm"; df -h /dev/shm 2>&1
  echo "## mounts (tmpfs, hugetlbfs)"; grep -E ' (tmpfs|hugetlbfs) ' /proc/mounts
  echo "## ulimit -l"; ulimit -l
  echo "## id"; id
  echo "## THP"; cat /sys/kernel/mm/transparent_hugepage/enabled 2>&1
  echo "## NUMA nodes"; ls -d /sys/devices/system/node/node* 2>&1
  echo "## nvidia driver"; cat /proc/driver/nvidia/version 2>&1
  (modinfo nvidia 2>/dev/null | grep -E '^(version|license):') || true
  echo "## /dev/nvidia*"; ls -l /dev/nvidia* 2>&1
  echo "## CUDA_VISIBLE_DEVICES=${CUDA_VISIBLE_DEVICES-<unset>}"
  echo "## nvcc"; ("$NVCC" --version 2>&1 || echo "nvcc not found at $NVCC")
  echo "## nvidia-smi"
  if have nvidia-smi; then
    nvidia-smi 2>&1
    nvidia-smi --query-gpu=index,name,uuid,pci.bus_id,driver_version,compute_cap,memory.total,pcie.link.gen.current,pcie.link.width.current,compute_mode,persistence_mode,mig.mode.current --format=csv 2>&1
    nvidia-smi topo -m 2>&1
  else
    echo "nvidia-smi: not found"
  fi
}
export NVCC CUDA_HOME
export -f have host_info
run_step host-info 30 bash -c host_info
cp "$LOGS/host-info.log" "$OUT/env.txt" 2>/dev/null

GPU_WHY="nvidia-smi: not installed"
if have nvidia-smi; then
  if nvidia-smi -L >"$LOGS/nvidia-smi-L.log" 2>&1 && grep -q '^GPU ' "$LOGS/nvidia-smi-L.log"; then
    GPU_USABLE=1
    say "        GPUs: $(grep -c '^GPU ' "$LOGS/nvidia-smi-L.log"), $(head -1 "$LOGS/nvidia-smi-L.log")"
    say "        driver $(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -1)," \
        "$(nvidia-smi 2>/dev/null | grep -o 'CUDA Version: [0-9.]*' | head -1),"\
        "compute capability $(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | sort -u | tr '\n' ' ')"
  else
    GPU_WHY="nvidia-smi -L: $(head -1 "$LOGS/nvidia-smi-L.log" 2>/dev/null)"
  fi
fi
[ -x "$NVCC" ] && say "        toolkit: $("$NVCC" --version | grep -o 'release [0-9.]*, V[0-9.]*')"

# ---- 2. what building needs (reported, never installed) ----------------------------------------
MISSING=()
deps_check() {
  local pkgs=() p
  if [ -f scripts/install-deps.sh ]; then
    eval "$(sed -n '/^debian_packages=(/,/^)/p' scripts/install-deps.sh)"
    pkgs=("${debian_packages[@]}")
  fi
  echo "## Debian packages of scripts/install-deps.sh"
  if have dpkg-query; then
    for p in "${pkgs[@]}"; do
      if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        echo "ok      $p"
      else
        echo "MISSING $p"
      fi
    done
  else
    echo "dpkg-query not available: package check skipped"
  fi
  echo "## commands"
  for p in cmake ninja g++ pkg-config python3 git readelf; do
    if have "$p"; then echo "ok      $p ($(command -v "$p"))"; else echo "MISSING $p"; fi
  done
  if [ -x "$NVCC" ]; then echo "ok      nvcc ($NVCC)"; else echo "MISSING nvcc (looked at PATH and $CUDA_HOME/bin)"; fi
  echo "## headers"
  for h in numa.h hwloc.h xxhash.h nlohmann/json.hpp CLI/CLI.hpp fmt/format.h gtest/gtest.h benchmark/benchmark.h; do
    if echo "#include <$h>" | g++ -std=c++20 -fsyntax-only -x c++ - >/dev/null 2>&1; then echo "ok      <$h>"
    else echo "MISSING <$h>"; fi
  done
  if [ -f "$CUDA_HOME/include/cccl/thrust/version.h" ]; then echo "ok      CCCL ($CUDA_HOME/include/cccl)"
  else echo "MISSING CCCL headers under $CUDA_HOME/include/cccl"; fi
}
export -f deps_check
run_step deps 60 bash -c deps_check
mapfile -t MISSING < <(grep '^MISSING' "$LOGS/deps.log" | sed 's/^MISSING *//')
if [ ${#MISSING[@]} -gt 0 ]; then
  say "        missing: ${MISSING[*]}"
  say "        (scripts/install-deps.sh would apt-get these; not installed here)"
fi
missing_has() { printf '%s\n' "${MISSING[@]}" | grep -q -- "$1"; }

# ---- 3. configure and build for the GPUs present -------------------------------------------------
TESTS=ON
BENCH=ON
WRAP=0
missing_has 'gtest' && TESTS=OFF && say "        GoogleTest missing: tests off (no ctest steps)"
if missing_has 'benchmark'; then
  # bench/ needs Google Benchmark; gpu_smoke does not: build it through a wrapper project.
  BENCH=OFF
  WRAP=1
  say "        Google Benchmark missing: building gpu_smoke through a wrapper project"
fi
configure() {
  local src=$REPO gen=()
  if [ "$WRAP" = 1 ]; then
    src=$TMPROOT/wrapper
    mkdir -p "$src"
    cat >"$src/CMakeLists.txt" <<EOF
cmake_minimum_required(VERSION 3.25)
project(onecopy_gpu_check LANGUAGES C CXX)
add_subdirectory("$REPO" onecopy)
enable_testing()
add_executable(gpu_smoke "$REPO/bench/gpu/gpu_smoke.cpp")
target_link_libraries(gpu_smoke PRIVATE onecopy_serve fmt::fmt nlohmann_json::nlohmann_json)
target_compile_definitions(gpu_smoke PRIVATE ONECOPY_CLI="\$<TARGET_FILE:onecopy>")
add_dependencies(gpu_smoke onecopy)
set_target_properties(gpu_smoke PROPERTIES RUNTIME_OUTPUT_DIRECTORY \${PROJECT_BINARY_DIR}/bench)
add_test(NAME gpu_smoke COMMAND gpu_smoke --size 64MiB)
set_tests_properties(gpu_smoke PROPERTIES LABELS gpu SKIP_RETURN_CODE 77 TIMEOUT 600)
EOF
  fi
  have ninja && gen=(-G Ninja)
  cmake -S "$src" -B "$BUILD" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DONECOPY_CUDA=ON \
    -DCMAKE_CUDA_COMPILER="$NVCC" -UCMAKE_CUDA_ARCHITECTURES -DONECOPY_CUDA_ARCHS=native \
    -DONECOPY_BUILD_TESTS=$TESTS -DONECOPY_BUILD_BENCH=$BENCH -DONECOPY_PYTHON=OFF -DONECOPY_MPI=OFF
}
if [ "$SKIP_BUILD" = 1 ]; then
  record SKIP configure 0 "GPU_CHECK_SKIP_BUILD=1 (using $BUILD_REL as it is)"
  record SKIP build 0 "GPU_CHECK_SKIP_BUILD=1"
else
  export REPO BUILD TMPROOT WRAP TESTS BENCH
  export -f configure have
  STEP_NOTE="(ONECOPY_CUDA_ARCHS=native)"
  if run_step configure 120 bash -c configure; then
    grep -E 'onecopy: (CUDA|GPUs here)' "$LOGS/configure.log" | sed 's/^--/       /' | tee -a "$SUMMARY"
    TARGETS=(onecopy gpu_smoke)
    [ "$TESTS" = ON ] && TARGETS+=(kernels_gpu_test kernels_test serve_test serve_helper)
    STEP_NOTE="(targets ${TARGETS[*]}, -j$JOBS)"
    run_step build 360 cmake --build "$BUILD" -j "$JOBS" --target "${TARGETS[@]}"
  else
    record SKIP build 0 "configure failed (logs/configure.log)"
  fi
fi

SMOKE=$(find "$BUILD" -name gpu_smoke -type f -perm -u+x 2>/dev/null | head -1)
CLI=$(find "$BUILD" \( -path '*/cli/onecopy' -o -path "$BUILD/onecopy" \) -type f -perm -u+x 2>/dev/null | head -1)

# Binaries must start without a driver: neither libcuda nor libcudart among their NEEDED entries.
if [ -n "$SMOKE$CLI" ] && have readelf; then
  if readelf -d ${SMOKE:+"$SMOKE"} ${CLI:+"$CLI"} >"$LOGS/needed.log" 2>&1 &&
     ! grep -Eq 'NEEDED.*lib(cuda|cudart)\.so' "$LOGS/needed.log"; then
    record PASS no-libcuda-link 0 "gpu_smoke/onecopy need neither libcuda nor libcudart (logs/needed.log)"
  else
    record FAIL no-libcuda-link 0 "a binary needs libcuda/libcudart (logs/needed.log)"
  fi
else
  record SKIP no-libcuda-link 0 "no binaries in $BUILD_REL"
fi

# The binary's own view: does its probe see a GPU, and has it kernels for each one?
if [ -n "$CLI" ]; then
  "$CLI" topo --json >"$LOGS/topo.json" 2>"$LOGS/topo.err"
  probe_line=$(python3 - "$LOGS/topo.json" <<'PY' 2>/dev/null
import json, sys
c = json.load(open(sys.argv[1])).get("cuda", {})
print("available" if c.get("available") else "unavailable", "|", c.get("reason", ""), "|", c.get("cuda_architectures", ""))
PY
)
  say "        onecopy's probe: ${probe_line:-(topo --json failed: $(head -1 "$LOGS/topo.err"))}"
  case "$probe_line" in
    available*) GPU_USABLE=1 ;;
    unavailable*) [ "$GPU_USABLE" = 1 ] && say "        (nvidia-smi sees a GPU but the binary's probe does not: GPU steps will say why)" ;;
  esac
  [ "$GPU_USABLE" != 1 ] && GPU_WHY="$GPU_WHY; onecopy: $(cut -d'|' -f2 <<<"$probe_line" | sed 's/^ *//;s/ *$//')"
fi
[ "$GPU_USABLE" != 1 ] && say "        no usable GPU ($GPU_WHY): every GPU step is skipped, the host is left alone"

kernel_images() {
  python3 - "$1" <<'PY'
import json, sys
c = json.load(open(sys.argv[1])).get("cuda", {})
print("compiled for", c.get("cuda_architectures"))
bad = 0
for d in c.get("devices", []):
    k = d.get("kernel_image", {})
    print(f"cuda:{d.get('ordinal')} {d.get('name')} cc {d.get('compute_capability')}: {k.get('how')}")
    bad += 0 if k.get("runs") else 1
sys.exit(1 if bad else 0)
PY
}
export -f kernel_images
if [ -n "$CLI" ]; then
  gpu_step kernel-image 30 bash -c 'kernel_images "$0"' "$LOGS/topo.json"
else
  record SKIP kernel-image 0 "no onecopy binary"
fi

# ---- 4. stores: /dev/shm (or a tmpfs of ours) and a hugetlbfs mount (GPU hosts only) ------------
bytes_of() {  # 4GiB, 512MiB, 123 → bytes
  local v=$1 n u
  n=${v%%[!0-9]*}; u=${v#"$n"}
  case "$u" in
    GiB | G | g) echo $((n << 30)) ;; MiB | M | m) echo $((n << 20)) ;; KiB | K | k) echo $((n << 10)) ;; *) echo "$n" ;;
  esac
}
SIZE_BYTES=$(bytes_of "$SIZE")
SMOKE_DIR=""
HUGE_DIR=""
HUGE_SIZE=$((1 << 30))
setup_hugetlbfs() {
  [ "$WANT_HUGETLB" = 1 ] || { echo "GPU_CHECK_HUGETLB=0"; return 1; }
  [ "$(id -u)" = 0 ] || { echo "not root: cannot mount hugetlbfs"; return 1; }
  local hp free total want
  hp=$(awk '/^Hugepagesize:/{print $2}' /proc/meminfo)
  [ "$hp" = 2048 ] || { echo "default huge page size is ${hp:-?} kB, not 2048"; return 1; }
  free=$(awk '/^HugePages_Free:/{print $2}' /proc/meminfo)
  total=$(cat /proc/sys/vm/nr_hugepages)
  want=$(((HUGE_SIZE >> 21) + 16 + 160))  # the smoke segment + header + the probe's 256 MiB memfd
  if [ "$free" -lt "$want" ]; then
    ORIG_NR_HUGEPAGES=$total
    echo $((total + want - free)) >/proc/sys/vm/nr_hugepages 2>/dev/null ||
      { echo "cannot raise vm.nr_hugepages"; ORIG_NR_HUGEPAGES=""; return 1; }
    free=$(awk '/^HugePages_Free:/{print $2}' /proc/meminfo)
    echo "vm.nr_hugepages $total -> $(cat /proc/sys/vm/nr_hugepages) (restored on exit); free now $free"
    [ "$free" -ge "$want" ] || { echo "only $free free 2 MiB pages after raising the pool (want $want)"; return 1; }
  fi
  mkdir -p "$TMPROOT/huge" && mount -t hugetlbfs -o pagesize=2M,mode=0700 onecopy-gpu-check "$TMPROOT/huge" ||
    { echo "mount -t hugetlbfs failed"; return 1; }
  MOUNTS+=("$TMPROOT/huge")
  HUGE_DIR=$TMPROOT/huge
  echo "hugetlbfs (2 MiB) at $HUGE_DIR"
}
if [ "$GPU_USABLE" = 1 ]; then
  shm_free=$(df -B1 --output=avail /dev/shm 2>/dev/null | tail -1 | tr -d ' ')
  need=$((SIZE_BYTES + (512 << 20)))
  if [ -z "$shm_free" ] || [ "$shm_free" -lt "$need" ]; then
    if [ "$(id -u)" = 0 ] && mkdir -p "$TMPROOT/shm" &&
       mount -t tmpfs -o size=$((need + (1 << 30))),mode=0700 onecopy-gpu-check "$TMPROOT/shm" 2>"$LOGS/tmpfs-mount.log"; then
      MOUNTS+=("$TMPROOT/shm")
      SMOKE_DIR=$TMPROOT/shm
      say "        /dev/shm has ${shm_free:-?} bytes free (< $need): gpu_smoke uses a tmpfs of its own"
    else
      SIZE_BYTES=$(( (${shm_free:-0} - (512 << 20)) / 2 ))
      [ "$SIZE_BYTES" -lt $((64 << 20)) ] && SIZE_BYTES=$((64 << 20))
      SIZE_BYTES=$((SIZE_BYTES >> 20 << 20))
      say "        /dev/shm has ${shm_free:-?} bytes free and no tmpfs could be mounted: size cut to $SIZE_BYTES bytes"
    fi
  fi
  setup_hugetlbfs >"$LOGS/hugetlbfs-setup.log" 2>&1
  say "        hugetlbfs: $(tail -1 "$LOGS/hugetlbfs-setup.log")"
fi

# ---- 5. the probe: registration of read-only mappings, VMM read-only access ---------------------
build_probe() {
  g++ -std=c++17 -O1 -I"$CUDA_HOME/include" "$REPO/bench/gpu/gpu_check_probe.cpp" -o "$TMPROOT/gpu-check-probe" \
    -L"$CUDA_HOME/lib64" -lcudart_static -ldl -lpthread -lrt
}
export -f build_probe
if gpu_step probe-build 90 bash -c build_probe; then
  gpu_step probe 90 "$TMPROOT/gpu-check-probe" 256 "${SMOKE_DIR:-/dev/shm}" "$HUGE_DIR"
else
  [ "$GPU_USABLE" = 1 ] && record SKIP probe 0 "the probe did not build"
  [ "$GPU_USABLE" != 1 ] && record SKIP probe 0 "no usable GPU"
fi

# ---- 6. gpu_smoke: every share method; it fails itself when a reader used another one ----------
smoke() {  # NAME SHARE DIR SIZE
  local name=$1 share=$2 dir=$3 size=$4
  if [ "$GPU_USABLE" = 1 ] && [ -z "$SMOKE" ]; then
    record FAIL "$name" 0 "gpu_smoke was not built"
    return
  fi
  local env=(env -u ONECOPY_GPU_SHARE -u ONECOPY_DIR)
  [ -n "$share" ] && env+=(ONECOPY_GPU_SHARE="$share")
  [ -n "$dir" ] && env+=(ONECOPY_DIR="$dir")
  STEP_NOTE="(ONECOPY_GPU_SHARE=${share:-<unset>: vmm expected}, --size $size${dir:+, store $dir})"
  gpu_step "$name" 150 "${env[@]}" "$SMOKE" --size "$size"
}
smoke smoke-vmm "" "$SMOKE_DIR" "$SIZE_BYTES"
smoke smoke-legacy-ipc legacy-ipc "$SMOKE_DIR" "$SIZE_BYTES"

# ---- 7. > 2^31 elements, ctest -L gpu, the serve tests ------------------------------------------
if [ "$TESTS" = ON ] && [ -f "$BUILD/CTestTestfile.cmake" ]; then
  gpu_step large-2pow31 120 ctest --test-dir "$BUILD" -R 'GpuLargeTest' --no-tests=error --output-on-failure --timeout 110
  gpu_step ctest-gpu 240 ctest --test-dir "$BUILD" -L gpu --no-tests=error --output-on-failure --timeout 200
  gpu_step ctest-serve 180 ctest --test-dir "$BUILD" -R '^(Serve|AttachFd)' --no-tests=error --output-on-failure --timeout 120
else
  for s in large-2pow31 ctest-gpu ctest-serve; do record SKIP "$s" 0 "no test build in $BUILD_REL"; done
fi
smoke smoke-process-copy process-copy "$SMOKE_DIR" "$SIZE_BYTES"
smoke smoke-zero-copy zero-copy "$SMOKE_DIR" "$SIZE_BYTES"
if [ -n "$HUGE_DIR" ]; then
  smoke smoke-hugetlbfs "" "$HUGE_DIR" "$HUGE_SIZE"
elif [ "$GPU_USABLE" = 1 ]; then
  record SKIP smoke-hugetlbfs 0 "no hugetlbfs ($(tail -1 "$LOGS/hugetlbfs-setup.log" 2>/dev/null))"
else
  record SKIP smoke-hugetlbfs 0 "no usable GPU"
fi

# ---- 8. the figures -------------------------------------------------------------------------------
STEPS_END=$(wc -l <"$SUMMARY")
{
  echo ""
  echo "== probe (logs/probe.log)"
  if [ -f "$LOGS/probe.log" ]; then
    grep -E '^(cuda runtime|probe:|device |  |register |vmm )' "$LOGS/probe.log" | sed 's/^/  /'
  else
    echo "  (not run)"
  fi
  echo ""
  echo "== gpu_smoke results"
} >>"$SUMMARY"
smoke_report() {
  python3 - "$@" <<'PY'
import json, sys
for path in sys.argv[1:]:
    name = path.rsplit("/", 1)[-1][:-4]
    res = None
    for line in open(path, errors="replace"):
        line = line.strip()
        if line.startswith("{") and '"gpu_smoke"' in line:
            try:
                res = json.loads(line)
            except ValueError:
                pass
    print(f"-- {name}")
    if res is None:
        print("  no result line (crashed or killed: see the log)")
        continue
    if res.get("skipped"):
        print(f"  skipped: {res.get('reason')}")
        continue
    if "error" in res:
        print(f"  error: {res['error']}")
    f = lambda v: "-" if v is None else (f"{v:.1f}" if isinstance(v, float) else str(v))
    for d in res.get("gpu", {}).get("devices", []) if name == "smoke-vmm" else []:
        print(f"  device {d.get('ordinal')}: {d.get('name')} cc {d.get('compute_capability')} "
              f"kernel image: {d.get('kernel_image', {}).get('how')}; host_register_read_only="
              f"{d.get('host_register_read_only')} vmm={d.get('vmm')} posix_fd={d.get('vmm_posix_fd')} "
              f"host_ptr={d.get('can_use_host_pointer_for_registered_mem')} "
              f"numa={d.get('host_numa_node')}({d.get('host_numa_source')}) notes={d.get('notes')}")
    print(f"  ok={res.get('ok')} size={res.get('size')} backing={res.get('backing')} page_size={res.get('page_size')}")
    r = res.get("register") or {}
    print(f"  register: mode={r.get('mode')} {f(r.get('seconds'))} s ({r.get('seconds_per_gib')} s/GiB), "
          f"chunks={r.get('chunks')}, zero-copy pointer={r.get('zero_copy_pointer')}; {r.get('reason')}")
    h = res.get("h2d") or {}
    print(f"  GB/s: h2d registered {f(h.get('registered_gbps'))}, h2d pageable {f(h.get('pageable_gbps'))}, "
          f"device read {f(res.get('device_read_gbps'))}, zero-copy read {f(res.get('zero_copy_read_gbps'))}")
    m = res.get("method_check") or {}
    print(f"  method: expected {m.get('expected')}, readers used {m.get('used')}: {'OK' if m.get('ok') else 'MISMATCH'}")
    for i, imp in enumerate(res.get("imports") or []):
        if not isinstance(imp, dict):
            print(f"  reader {i}: {imp}")
            continue
        print(f"  reader {i}: method={imp.get('method')} read_only={imp.get('read_only')} "
              f"checksum_ok={imp.get('checksum_ok')} import {f(imp.get('import_seconds'))} s"
              + (f" error={imp['error']}" if "error" in imp else ""))
        for why in (imp.get("reasons") or [])[:4]:
            print(f"    reason: {why}")
    w = res.get("writer") or {}
    wr = w.get("result") if isinstance(w.get("result"), dict) else {}
    print(f"  writer: exit={w.get('exit')} faulted={w.get('faulted')} method={wr.get('method')} "
          f"read_only={wr.get('read_only')} write_error={wr.get('write_error')!r} skipped={wr.get('write_skipped')}")
    print(f"  rechecks after the write: {res.get('rechecks_after_write')}")
    for seg in res.get("server_status") or []:
        reg = seg.get("registration") or {}
        print(f"  server: registration {reg.get('mode')} {f(reg.get('seconds'))} s, waited "
              f"{f(reg.get('lock_wait_seconds'))} s; {reg.get('reason')}")
        for c in seg.get("device_copies") or []:
            print(f"  server: copy method={c.get('method')} copy {f(c.get('copy_seconds'))} s "
                  f"verify {f(c.get('verify_seconds'))} s notes={c.get('notes')}")
    if res.get("failures"):
        print(f"  FAILURES: {res['failures']}")
PY
}
logs=()
for s in smoke-vmm smoke-legacy-ipc smoke-process-copy smoke-zero-copy smoke-hugetlbfs; do
  [ -f "$LOGS/$s.log" ] && logs+=("$LOGS/$s.log")
done
if [ ${#logs[@]} -gt 0 ] && have python3; then
  smoke_report "${logs[@]}" >>"$SUMMARY" 2>&1
else
  echo "  (no gpu_smoke run)" >>"$SUMMARY"
fi

fails=0
for k in "${!RESULT[@]}"; do
  if [ "${RESULT[$k]}" = FAIL ] || [ "${RESULT[$k]}" = TIMEOUT ]; then fails=$((fails + 1)); fi
done
{
  echo ""
  echo "== ctest"
  for t in large-2pow31 ctest-gpu ctest-serve; do
    [ -f "$LOGS/$t.log" ] && grep -E '(\*\*\*Failed|\*\*\*Timeout|Not Run|tests passed|Skipped)' "$LOGS/$t.log" | sed "s/^/  $t: /"
  done
  echo ""
  echo "== $fails step(s) failed or timed out; ${SECONDS}s in all; usable GPU: $([ "$GPU_USABLE" = 1 ] && echo yes || echo "no ($GPU_WHY)")"
} >>"$SUMMARY"
tail -n +$((STEPS_END + 1)) "$SUMMARY"
[ "$fails" = 0 ]
