#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# scripts/gpu-check.sh on a host without a GPU, reusing a finished build (no configure, no
# build): it must pass, skip every GPU step with "SKIP: no usable GPU", change nothing on the
# host, and still check what needs no GPU (no libcuda/libcudart link, the deps report).
# usage: gpu_check_dry_run.sh SOURCE_DIR BUILD_DIR        (exit 77 on a host with a GPU)
set -u
src=$1
build=$2
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q '^GPU '; then
  echo "a GPU is present: this is a dry-run test (run make gpu-check instead)"
  exit 77
fi
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
hugepages_before=$(cat /proc/sys/vm/nr_hugepages)
mounts_before=$(grep -c onecopy-gpu-check /proc/mounts)
(cd "$src" && OUT=$out GPU_CHECK_BUILD_DIR=$build GPU_CHECK_SKIP_BUILD=1 GPU_CHECK_BUDGET=300 \
  ./scripts/gpu-check.sh >"$out/stdout" 2>&1)
rc=$?
s=$out/summary.txt
fail() { echo "FAIL: $*"; echo "---- summary.txt"; cat "$s"; echo "---- stdout"; cat "$out/stdout"; exit 1; }
[ "$rc" = 0 ] || fail "gpu-check.sh exited $rc"
for step in kernel-image probe-build probe smoke-vmm smoke-legacy-ipc large-2pow31 ctest-gpu ctest-serve \
            smoke-process-copy smoke-zero-copy smoke-hugetlbfs; do
  line=$(grep -E "^$step +" "$s") || fail "no line for step $step"
  [[ "$line" =~ \ SKIP:\ no\ usable\ GPU$ ]] || fail "step $step: '$line' (expected 'SKIP: no usable GPU')"
done
grep -Eq '^no-libcuda-link +PASS: ' "$s" || fail "no-libcuda-link did not pass"
grep -Eq '^deps +PASS: ' "$s" || fail "the deps report did not run"
grep -Eq '^host-info +PASS: ' "$s" || fail "host-info did not run"
grep -Eq '^configure +SKIP: GPU_CHECK_SKIP_BUILD=1' "$s" || fail "it configured although told not to"
grep -E ' (FAIL|TIMEOUT): ' "$s" && fail "a step failed"
grep -q '^== 0 step(s) failed or timed out; .* usable GPU: no (' "$s" || fail "no final line"
[ "$(cat /proc/sys/vm/nr_hugepages)" = "$hugepages_before" ] || fail "vm.nr_hugepages changed"
[ "$(grep -c onecopy-gpu-check /proc/mounts)" = "$mounts_before" ] || fail "a mount was left"
[ -s "$out/env.txt" ] || fail "no env.txt"
echo "ok: dry run passed, every GPU step skipped"
grep -E '^[a-z0-9-]+ +(PASS|SKIP|FAIL|TIMEOUT):' "$s"
