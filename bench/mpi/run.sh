#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Distributing one table to 8 ranks on 2 simulated hosts (tests/mpi/simhosts.sh), every method
# in the same run (distribute_bench.cpp). Prints the JSON records and a Markdown table.
#
#   bench/mpi/run.sh BUILD_DIR [--size SIZE] [--ranks 8] [--nodes 2]
#
# SIZE defaults to 4 GiB scaled down until the method that needs the most memory fits in half
# of MemAvailable: private-read holds one copy per rank (8 × SIZE) plus the file's page cache.
# The file lives on disk (/var/tmp) and is read once before the methods run, so every method
# reads it from the page cache (as from a warm parallel-file-system client cache).
set -euo pipefail
build=${1:?usage: run.sh BUILD_DIR [--size SIZE] [--ranks N] [--nodes N]}
shift
build=$(cd "$build" && pwd)
size=""
ranks=8
nodes=2
while [ $# -gt 0 ]; do
  case "$1" in
    --size) size=$2; shift 2 ;;
    --ranks) ranks=$2; shift 2 ;;
    --nodes) nodes=$2; shift 2 ;;
    *) echo "run.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
here=$(cd "$(dirname "$0")" && pwd)
bench="$build/bench/mpi/mpi_distribute_bench"
[ -x "$bench" ] || { echo "run.sh: build $bench first (cmake --build $build --target mpi_distribute_bench)" >&2; exit 2; }

to_bytes() { numfmt --from=iec "${1%iB}"; }
available=$(($(awk '/MemAvailable/ { print $2 }' /proc/meminfo) * 1024))
if [ -z "$size" ]; then
  for candidate in 4G 2G 1G 512M 256M; do
    bytes=$(to_bytes $candidate)
    if [ $(((ranks + 1) * bytes)) -le $((available / 2)) ]; then size=$candidate; break; fi
  done
  size=${size:-128M}
  note="size $size: the largest of 4G/2G/1G/512M/256M whose $((ranks + 1)) copies (private-read + page cache) fit in half of MemAvailable ($(numfmt --to=iec $available))"
else
  note="size $size (given)"
fi
bytes=$(to_bytes "$size")
echo "# $note" >&2

work=$(mktemp -d /var/tmp/onecopy-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
head -c "$bytes" /dev/urandom >"$work/table.bin"
cat "$work/table.bin" >/dev/null  # warm the page cache

# Each host's /dev/shm holds one segment and one MPI window at a time.
shm="$(((2 * bytes) / 1048576 + 512))m"
"$here/../../tests/mpi/simhosts.sh" --nodes "$nodes" --slots $((ranks / nodes)) --shm-size "$shm" -- \
  -np "$ranks" --mca mpi_yield_when_idle 1 -x ONECOPY_DIR=/dev/shm/onecopy-bench -x ONECOPY_CONF=/nonexistent \
  "$bench" "$work/table.bin" | tee "$work/results.jsonl"
python3 "$here/report.py" "$work/results.jsonl" --note "$note"
