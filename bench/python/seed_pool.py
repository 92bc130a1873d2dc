#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The question onecopy started from: a multiprocessing Pool copies a big numpy array into every
worker. Pass np.arange(10_000_000) (80 MB) and a 1 GiB array to Pool(6).apply_async five ways
and measure, for each:

- per task: the median round trip of apply_async(peek, [payload, i]).get(), where peek reads one
  element: what moving the array to a worker costs (pickling it, attaching it, ...);
- workers' PSS: the Pss (plus hugetlb share) of the 6 workers while each holds the array and has
  read all of it, minus idle workers of a pool forked before the array existed: what the array
  costs the pool in memory (shared pages count 1/7 in each of the 6 workers and the parent).
  The parent's whole PSS is printed apart.

Ways: pickle (the array itself as the argument), multiprocessing.shared_memory (name + shape,
attached and closed in each task), fork copy-on-write (a module global set before the pool
forks), torch share_memory_() (when torch is installed), onecopy (a Handle: pickled by name,
attached once per worker). Every pool uses the fork start method (copy-on-write needs it).

Medians of --runs runs; ratios are against pickling in the same run set. Timings on a shared,
noisy machine vary run to run: compare ratios, not absolute times.

    python3 bench/python/seed_pool.py [--sizes 80MB,1GiB] [--runs 5] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import statistics
import sys
import tempfile
import time

import numpy as np

import onecopy

WORKERS = 6

# ---- worker side --------------------------------------------------------------------------
_barrier = None
_fork_global = None  # the copy-on-write array, set in the parent before the pool forks


def _init(barrier):
    global _barrier
    _barrier = barrier


def _materialize(payload):
    """(array, close) for what a task received."""
    kind, value = payload
    if kind == "pickle":
        return value, None
    if kind == "fork":
        return _fork_global, None
    if kind == "shm":
        from multiprocessing import shared_memory
        name, shape, dtype = value
        shm = shared_memory.SharedMemory(name=name)
        return np.ndarray(shape, dtype, buffer=shm.buf), shm
    if kind == "torch":
        return value.numpy(), None
    if kind == "onecopy":
        return np.asarray(value), None
    if kind == "none":
        return None, None
    raise ValueError(kind)


def _close(array, closer):
    del array
    if closer is not None:
        closer.close()


def peek(payload, i):
    a, closer = _materialize(payload)
    v = float(a[i % len(a)])
    _close(a, closer)
    return v


def hold(payload):
    """Read all of the array, wait for the other workers, report memory, wait again."""
    a, closer = _materialize(payload)
    if a is not None:
        a.sum()  # every page mapped in this worker
    index = _barrier.wait()
    mine = onecopy.memory_of(os.getpid())["total"]
    parent = onecopy.memory_of(os.getppid())["total"] if index == 0 else None
    _barrier.wait()
    _close(a, closer)
    return os.getpid(), mine, parent


# ---- parent side --------------------------------------------------------------------------
class Way:
    """How the array reaches the workers."""

    def __init__(self, name):
        self.name = name
        self._cleanup = []

    def payload(self, array):
        global _fork_global
        if self.name == "pickle":
            return ("pickle", array)
        if self.name == "fork COW global":
            _fork_global = array
            return ("fork", None)
        if self.name == "shared_memory":
            from multiprocessing import shared_memory
            shm = shared_memory.SharedMemory(create=True, size=array.nbytes)
            np.ndarray(array.shape, array.dtype, buffer=shm.buf)[...] = array
            self._cleanup.append(lambda: (shm.close(), shm.unlink()))
            return ("shm", (shm.name, array.shape, array.dtype.str))
        if self.name == "torch share_memory_":
            import torch
            import torch.multiprocessing  # noqa: F401 - registers the shared-memory reductions
            return ("torch", torch.from_numpy(array).share_memory_())
        if self.name == "onecopy":
            name = f"seed-pool-{os.getpid()}"
            h = onecopy.put(name, array)
            self._cleanup.append(lambda: onecopy.rm(name))
            return ("onecopy", h)
        raise ValueError(self.name)

    def cleanup(self):
        for f in reversed(self._cleanup):
            f()
        self._cleanup.clear()


def _idle_pool_pss(pool):
    """{pid: memory} of every worker of a pool, idle."""
    got = [pool.apply_async(hold, [("none", None)]) for _ in range(WORKERS)]
    return {pid: m for pid, m, _ in (r.get() for r in got)}


def measure(way_name, label, tasks):
    """One run of one way. The array is made after the pool forks (so workers do not inherit
    it), except for the copy-on-write way, which needs it before; its idle baseline comes from
    a pool forked before the array existed."""
    global _fork_global
    ctx = mp.get_context("fork")
    make_pool = lambda: ctx.Pool(WORKERS, initializer=_init, initargs=(ctx.Barrier(WORKERS),))
    way = Way(way_name)
    cow = way_name == "fork COW global"
    if cow:
        with make_pool() as pool:
            idle_total = sum(_idle_pool_pss(pool).values())
        payload = way.payload(make_array(label))
    try:
        with make_pool() as pool:
            if not cow:
                idle_total = sum(_idle_pool_pss(pool).values())
                payload = way.payload(make_array(label))
            held = [pool.apply_async(hold, [payload]) for _ in range(WORKERS)]
            held = [r.get() for r in held]
            workers_pss = sum(m for _, m, _ in held) - idle_total
            parent_pss = next(p for _, _, p in held if p is not None)
            times = []
            for i in range(tasks):
                t0 = time.perf_counter()
                pool.apply_async(peek, [payload, i]).get()
                times.append(time.perf_counter() - t0)
            del payload
    finally:
        way.cleanup()
        _fork_global = None
    return {"per_task_s": statistics.median(times), "workers_pss": workers_pss,
            "parent_pss": parent_pss}


def parse_size(text):
    units = {"": 1, "B": 1, "KB": 1000, "MB": 1000**2, "GB": 1000**3,
             "KIB": 1024, "MIB": 1024**2, "GIB": 1024**3}
    t = text.strip().upper()
    digits = t.rstrip("KMGIB")
    return int(float(digits) * units[t[len(digits):]])


def make_array(label):
    if label == "80MB":
        return np.arange(10_000_000)  # the question's array: int64, 80 MB
    return np.arange(parse_size(label) // 8, dtype=np.float64)


def fmt_bytes(n):
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if abs(n) >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def fmt_time(s):
    return f"{s * 1e3:.2f} ms" if s < 1 else f"{s:.2f} s"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="80MB,1GiB", help="arrays: 80MB (np.arange(10_000_000)) or a size")
    p.add_argument("--runs", type=int, default=5, help="runs per size (medians); 1 GiB+ uses at most 3")
    p.add_argument("--tasks", type=int, default=12, help="sequential round trips per run")
    p.add_argument("--ways", default="pickle,shared_memory,fork COW global,torch share_memory_,onecopy")
    p.add_argument("--json", help="also write the raw results here")
    p.add_argument("--table-from", metavar="JSON", help="print the table of a saved --json run")
    args = p.parse_args()
    if args.table_from:
        with open(args.table_from) as f:
            print_table(json.load(f))
        return

    store = None
    if "ONECOPY_DIR" not in os.environ:  # a private store, removed at the end
        store = tempfile.mkdtemp(prefix="onecopy-seed-pool.", dir="/dev/shm")
        os.environ["ONECOPY_DIR"] = store
    ways = [w.strip() for w in args.ways.split(",")]
    try:
        import torch  # noqa: F401
    except ImportError:
        ways = [w for w in ways if not w.startswith("torch")]
        print("torch is not installed: its row is left out", file=sys.stderr)

    # Start the resource tracker before any pool forks, so workers share it. A worker forked
    # without one starts its own when it attaches a SharedMemory, and that tracker unlinks the
    # segment when the worker exits, while the parent and other workers still use it
    # (CPython 3.11; the reason onecopy never uses multiprocessing.shared_memory).
    from multiprocessing import resource_tracker
    resource_tracker.ensure_running()

    results = {}
    try:
        for label in args.sizes.split(","):
            nbytes = 80_000_000 if label == "80MB" else parse_size(label)
            runs = args.runs if nbytes < (1 << 30) else min(args.runs, 3)
            for r in range(runs):
                for way in ways:
                    m = measure(way, label, args.tasks)
                    results.setdefault((label, way), []).append(m)
                    print(f"{label} run {r + 1}/{runs} {way}: {fmt_time(m['per_task_s'])}/task, "
                          f"workers +{fmt_bytes(m['workers_pss'])}", file=sys.stderr)
    finally:
        if store:
            shutil.rmtree(store, ignore_errors=True)

    raw = []
    for label in args.sizes.split(","):
        for way in ways:
            ms = results[(label, way)]
            raw.append({"array": label, "way": way,
                        "per_task_s": statistics.median(m["per_task_s"] for m in ms),
                        "workers_pss": statistics.median(m["workers_pss"] for m in ms),
                        "parent_pss": statistics.median(m["parent_pss"] for m in ms),
                        "runs": ms})
    record = {"workers": WORKERS, "start_method": "fork", "tasks": args.tasks, "results": raw}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(record, f, indent=1)
    print_table(record)


def fmt_ratio(r):
    return f"1/{1 / r:,.0f}" if 0 < r < 0.1 else f"{r:.2f}"


def print_table(record):
    """The markdown table: medians per array and way, ratios against pickling."""
    print(f"\nPool({record['workers']}), {record['start_method']} start method, medians of runs; "
          f"workers' PSS = what the {record['workers']} workers holding the array add.\n")
    print("| array | way | per task | × pickling | workers' PSS | × pickling | parent's PSS |")
    print("|---|---|---:|---:|---:|---:|---:|")
    base = {}
    for row in record["results"]:
        b = base.setdefault(row["array"], row)  # the first way of each array is the baseline
        print(f"| {row['array']} | {row['way']} | {fmt_time(row['per_task_s'])} | "
              f"{fmt_ratio(row['per_task_s'] / b['per_task_s'])} | {fmt_bytes(row['workers_pss'])} | "
              f"{fmt_ratio(row['workers_pss'] / b['workers_pss'])} | {fmt_bytes(row['parent_pss'])} |")


if __name__ == "__main__":
    main()
