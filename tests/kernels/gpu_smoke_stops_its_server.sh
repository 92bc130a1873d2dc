#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# gpu_smoke --fail-after-serve starts `onecopy serve` and then throws: its guard must stop and
# reap the server (no process left, socket removed by the server's clean exit), and the run
# must fail with the error in its JSON line. Needs no GPU.
# usage: gpu_smoke_stops_its_server.sh GPU_SMOKE
set -u
smoke=$1
dir=$(mktemp -d /dev/shm/onecopy-smoke-guard.XXXXXX)
trap 'rm -rf "$dir"' EXIT
out=$(ONECOPY_DIR=$dir "$smoke" --fail-after-serve 2>"$dir/err")
rc=$?
fail() { echo "FAIL: $*"; echo "stdout: $out"; echo "stderr: $(cat "$dir/err")"; exit 1; }
[ "$rc" = 1 ] || fail "exit $rc, expected 1"
grep -q '"error":"forced failure after starting onecopy serve' <<<"$out" || fail "no error JSON line"
pid=$(sed -n 's/^gpu_smoke: onecopy serve pid \([0-9]*\)$/\1/p' "$dir/err")
[ -n "$pid" ] || fail "gpu_smoke did not say which server it started"
if kill -0 "$pid" 2>/dev/null; then
  kill -KILL "$pid"
  fail "onecopy serve (pid $pid) is still running after gpu_smoke failed"
fi
[ ! -e "$dir/.locks/serve.sock" ] || fail "the server's socket is still there (it was killed, not stopped)"
echo "ok: gpu_smoke stopped onecopy serve (pid $pid) on its way out"
