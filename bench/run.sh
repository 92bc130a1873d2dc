#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The benchmark suite behind `make bench`: runs the micro benches and the many-readers driver
# once per backing, then writes bench/results/latest.md and the SVG plots (bench/report.py).
#
#   bench/run.sh [BUILD_DIR] [--only-anchors [ANCHOR OPTIONS]]
#                                   (default build/release; `make bench` builds it first)
#
# Each phase also measures issue 16's publish goals (bench/publish_goals.py: put vs cp, memcpy
# into a new hugetlbfs file and fallocate, 1 and 2 GiB, with reference rows beside them: memcpy
# into populated hugetlbfs pages, fallocate + touch on THP); then the Python anchors (bench/python/anchors.py: pickling,
# shared_memory, Ray, … side by side with onecopy) write results/anchors.md. --only-anchors
# runs just those (`make bench-anchors`), passing the options after it to anchors.py.
#
# Backings, one phase each: 4 KiB pages on /dev/shm; as root also THP on a huge=within_size
# tmpfs, hugetlbfs with 2 MiB pages and hugetlbfs with 1 GiB pages. For those the script
# mounts its own filesystems on fresh mktemp -d directories and grows the huge-page pools by
# exactly what the phase needs, for that phase only; on exit (or Ctrl-C) it unmounts what it
# mounted and takes back exactly the pages it added — other people test on this machine too.
# A phase that cannot get its memory is skipped with the reason, in the report.
#
# Memory: a phase holds at most a 2 GiB segment and 4 GiB of private memory of the same page
# size (baseline and A/A control of sequential reads), or for gathers on huge pages a 2 GiB
# segment, 2 GiB private and a 2 GiB POSIX shm baseline (6.3 GiB); the copying
# alternatives of the many-readers runs use 256 MiB per reader (4 GiB for 16 readers). 8 GiB
# attaches use sparse files. Never more than ~6.5 GiB at once.
set -euo pipefail

build=${1:-build/release}
here=$(cd "$(dirname "$0")" && pwd)
results="$here/results"
raw="$results/raw"
bin="$build/bench"

run_anchors() {  # options for anchors.py
  echo "== Python anchors" >&2
  mkdir -p "$raw"
  PYTHONPATH="$build/python${PYTHONPATH:+:$PYTHONPATH}" ONECOPY_CONF=/nonexistent/onecopy.conf \
    timeout 1800 python3 "$here/python/anchors.py" --md "$results/anchors.md" --json "$raw/anchors.json" "$@" ||
    echo "run.sh: the Python anchors exited with status $?" >&2
}
if [ "${2:-}" = "--only-anchors" ]; then
  shift 2
  run_anchors "$@"
  exit 0
fi
[ -x "$bin/first_attach" ] || { echo "run.sh: $bin/first_attach is missing: build first (make bench)" >&2; exit 2; }
[ -x "$bin/attach_bench" ] || { echo "run.sh: $bin/attach_bench is missing: build first (make bench)" >&2; exit 2; }
mkdir -p "$raw"
rm -f "$raw"/*.json "$raw"/*.jsonl "$raw"/*.txt "$raw"/first_attach.md
started=$(date +%s)

# ---- cleanup: undo exactly what this script did, in reverse order ------------------------
undo=()
cleanup() {
  local i
  for ((i = ${#undo[@]} - 1; i >= 0; i--)); do eval "${undo[i]}" || true; done
  undo=()
}
trap cleanup EXIT
trap 'exit 130' INT TERM

note() { echo "$*" | tee -a "$raw/notes.txt" >&2; }
mem_available_mib() { awk '/MemAvailable/ {print int($2 / 1024)}' /proc/meminfo; }
is_root() { [ "$(id -u)" -eq 0 ]; }

# Grows the pool of page size KB (kB) by N pages; echoes how many it really added.
grow_pool() {
  local f=/sys/kernel/mm/hugepages/hugepages-${1}kB/nr_hugepages before after
  before=$(cat "$f")
  echo $((before + $2)) > "$f" 2>/dev/null || true
  after=$(cat "$f")
  echo $((after - before))
}
# Takes back N pages of page size KB (kB), from whatever the pool holds now.
shrink_pool() {
  local f=/sys/kernel/mm/hugepages/hugepages-${1}kB/nr_hugepages
  echo $(($(cat "$f") - $2)) > "$f"
}

# ---- facts recorded with the results ----------------------------------------------------
{
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "commit: $(git -C "$here/.." rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$here/.." diff --quiet 2>/dev/null || echo ' (with local changes)')"
  echo "uptime at start: $(uptime)"
  echo "nproc: $(nproc)"
} > "$raw/machine.txt"
"$build/onecopy" topo --summary > "$raw/topo.txt" 2>&1 || true

run_micro() {  # label dir bench
  local label=$1 dir=$2 bench=$3
  echo "== $bench on $label" >&2
  ONECOPY_BENCH_DIRS="$dir" timeout 600 "$bin/${bench}_bench" \
    --benchmark_out="$raw/${bench}_${label}.json" --benchmark_out_format=json \
    --benchmark_counters_tabular=false >/dev/null ||
    note "$bench on $label: exited with status $? (see its JSON for skipped cases)"
}

run_readers() {  # label dir size modes
  echo "== many readers on $1: $4, $3" >&2
  ONECOPY_DIR="$2" timeout 600 "$bin/many_readers" --onecopy "$build/onecopy" --mode "$4" --size "$3" \
    --readers 1,2,4,8,16 --repeat 3 --budget 4GiB >> "$raw/many_readers.jsonl" ||
    note "many_readers on $1 ($4, $3): exited with status $?"
}

phase() {  # label dir
  local label=$1 dir=$2
  # Publish first: on a fresh pool its first iteration is the cold case.
  for bench in publish attach attach_populated sequential_read gather; do run_micro "$label" "$dir" "$bench"; done
  run_readers "$label" "$dir" 1GiB onecopy
  echo "== first attach in a new process on $label" >&2
  ONECOPY_BENCH_DIRS="$dir" timeout 300 "$bin/first_attach" --label "$label" --runs 21 \
    >> "$raw/first_attach.md" || note "first_attach on $label: exited with status $?"
  echo "== publish goals on $label" >&2
  timeout 900 python3 "$here/publish_goals.py" --onecopy "$build/onecopy" --dir "$dir/goals" --label "$label" \
    >> "$raw/publish_goals.jsonl" || note "publish goals on $label: exited with status $?"
  rm -rf "$dir/goals"
}

# ---- phase 1: 4 KiB pages on /dev/shm (always) ------------------------------------------
shm=$(mktemp -d /dev/shm/onecopy-bench.XXXXXX)
undo+=("rm -rf '$shm'")
phase shm_4k "$shm/store"
# The alternatives, all at 256 MiB so 16 private copies fit (4 GiB), and POSIX shm at 1 GiB.
run_readers shm_4k "$shm/store" 256MiB onecopy,posix_shm,file,pipe
run_readers shm_4k "$shm/store" 1GiB posix_shm
rm -rf "$shm/store"

# ---- inference: 4 torch workers loading one 1.5 GiB model four ways (4 KiB pages) ---------
# Needs torch and safetensors (install-deps.sh --torch) and room for 4 private copies plus the
# files: ~10 GiB.
if ! PYTHONPATH="$build/python${PYTHONPATH:+:$PYTHONPATH}" python3 -c "import onecopy.torch, safetensors" 2>/dev/null; then
  note "inference case skipped: needs torch and safetensors (scripts/install-deps.sh --torch) and the onecopy package (a build with -DONECOPY_PYTHON=ON, or pip install .)"
elif [ "$(mem_available_mib)" -lt 11000 ]; then
  note "inference case skipped: $(mem_available_mib) MiB available, want 11000"
else
  echo "== inference load (4 workers, 1.5 GiB)" >&2
  PYTHONPATH="$build/python${PYTHONPATH:+:$PYTHONPATH}" timeout 900 python3 \
    "$here/python/inference_load.py" --onecopy "$build/onecopy" --size 1.5GiB --workers 4 \
    --json "$raw/inference_load.jsonl" > "$raw/inference_load.txt" ||
    note "inference case: exited with status $?"
fi

if ! is_root; then
  note "THP tmpfs and hugetlbfs phases skipped: mounting and reserving huge pages needs root"
else
  # ---- phase 2: THP on a huge=within_size tmpfs ------------------------------------------
  if [ "$(mem_available_mib)" -lt 9000 ]; then
    note "thp_2m phase skipped: $(mem_available_mib) MiB available, want 9000"
  else
    mnt=$(mktemp -d /tmp/onecopy-bench-thp.XXXXXX)
    undo+=("rmdir '$mnt'")
    mount -t tmpfs -o huge=within_size,size=7g,mode=0700 onecopy-bench "$mnt"
    undo+=("umount '$mnt'")
    phase thp_2m "$mnt/store"
    cleanup
  fi

  # ---- phases 3 and 4: hugetlbfs, 2 MiB then 1 GiB pages ---------------------------------
  for spec in "2048 3072 2M hugetlb_2m" "1048576 6 1G hugetlb_1g"; do
    read -r kb pages size label <<<"$spec"
    if [ ! -d /sys/kernel/mm/hugepages/hugepages-${kb}kB ]; then
      note "$label phase skipped: this kernel has no ${size} huge pages"; continue
    fi
    if [ "$(mem_available_mib)" -lt $((pages * kb / 1024 + 5000)) ]; then
      note "$label phase skipped: $(mem_available_mib) MiB available, want $((pages * kb / 1024 + 5000))"; continue
    fi
    added=$(grow_pool "$kb" "$pages")
    undo+=("shrink_pool $kb $added")
    if [ "$added" -eq 0 ]; then
      note "$label phase skipped: the pool could not grow by one page (memory too fragmented?)"; continue
    fi
    if [ "$added" -lt "$pages" ]; then
      note "$label: the pool grew by $added of $pages pages (memory too fragmented?); cases that need more are skipped"
    fi
    mnt=$(mktemp -d /tmp/onecopy-bench-huge.XXXXXX)
    undo+=("rmdir '$mnt'")
    mount -t hugetlbfs -o pagesize=$size,mode=0700 onecopy-bench "$mnt"
    undo+=("umount '$mnt'")
    phase "$label" "$mnt/store"
    cleanup
  done
fi

echo "uptime at end: $(uptime)" >> "$raw/machine.txt"
echo "suite seconds: $(($(date +%s) - started))" >> "$raw/machine.txt"
run_anchors
python3 "$here/report.py" "$raw" "$results"
if [ -s "$raw/first_attach.md" ]; then
  {
    printf '## First attach in a new process (issue 16)\n\n'
    printf 'Each run forks and execs a child whose first act is either a lazy attach (store made before the clock starts; its cost is the last column) or open + fstat + mmap of the same file; the two alternate, medians of 21 each (bench/micro/first_attach.cpp). Goal: ≤ 1.3×. Each child then does the same once more (a new descriptor and mapping; the store has checked the header by then): what being first in a process costs, for either.\n\n'
    printf '| backing | size | first attach | open+fstat+mmap | ratio | goal ≤ 1.3× | second: attach / open+fstat+mmap | store construction |\n|---|---|---|---|---|---|---|---|\n'
    cat "$raw/first_attach.md"
    echo
  } >> "$results/latest.md"
fi
[ -s "$raw/publish_goals.jsonl" ] && python3 "$here/publish_goals.py" --report "$raw/publish_goals.jsonl" >> "$results/latest.md"
[ -s "$results/anchors.md" ] && sed 's/^# /## /' "$results/anchors.md" >> "$results/latest.md"
echo "bench: wrote $results/latest.md and its plots in $(($(date +%s) - started)) s" >&2
