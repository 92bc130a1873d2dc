#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Side-by-side anchors: the ways Python users share a big read-only numpy array with a
Pool(4) of workers, measured in the same run as onecopy, medians of --runs runs, ratios to
onecopy (> 1: onecopy is faster / smaller). Rows per way and array (80 MB = np.arange(10_000_000),
1 GiB float64):

- publish: the parent's time from an array in memory to something workers can reach (pickle:
  pickle.dumps; fork COW: nothing to do, 0; shared_memory/RawArray: create + copy; joblib:
  dump to a /dev/shm memmap file; np.load: np.save to /dev/shm or to disk (+ fsync); safetensors:
  save_file to /dev/shm; torch: share_memory_(); Ray: ray.put; Plasma: put; onecopy: put);
- per task: median round trip of a task that attaches/receives the array and reads one element;
- fresh attach: in a worker that never saw the array, the time from its reference (name, handle,
  path…) to an ndarray; first full read: then summing all of it (page faults included);
- memory: PSS + Shared_Hugetlb of parent + 4 workers (+ Ray's daemons and workers, + Plasma's
  store), each worker having read the whole array, minus the same processes idle before the
  array existed, plus tmpfs files nobody maps. The parent's own array counts in every row (so
  fork COW's figure is one array; onecopy's is the parent's array plus the published copy).

Each way runs in its own fresh Pool (fork start method). Timings on a busy machine vary run
to run: compare ratios. Ray is started once (small object store) and shut down by the bench;
Arrow Plasma runs in its own venv (pyarrow 11, numpy<2) via bench/python/plasma_anchor.py, or
is skipped with a one-line reason.

    python3 bench/python/anchors.py [--sizes 80MB,1GiB] [--runs 5] [--md out.md] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import pickle
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

import onecopy

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from seed_pool import _close as release  # noqa: E402  (drop the array, close what keeps it)
from seed_pool import fmt_bytes, fmt_time, make_array, parse_size  # noqa: E402

WORKERS = 4
ALL_WAYS = ["onecopy", "pickle", "fork COW", "shared_memory", "RawArray", "joblib memmap",
            "np.load mmap /dev/shm", "np.load mmap disk", "safetensors safe_open",
            "torch share_memory_", "Ray put/get", "Arrow Plasma"]

# ---- worker side --------------------------------------------------------------------------
_cow = None  # the fork COW array (and RawArray), set before the pool forks


def materialize(ref):
    """(ndarray, keepalive) from what a task received."""
    kind, v = ref
    if kind in ("pickle", "torch", "onecopy"):
        if kind == "torch":
            return v.numpy(), None
        return np.asarray(v), None
    if kind == "cow":
        return _cow, None
    if kind == "shm":
        from multiprocessing import shared_memory
        name, shape, dt = v
        shm = shared_memory.SharedMemory(name=name)
        return np.ndarray(shape, dt, buffer=shm.buf), shm
    if kind == "joblib":
        import joblib
        return joblib.load(v, mmap_mode="r"), None
    if kind == "npy":
        return np.load(v, mmap_mode="r"), None
    if kind == "safetensors":
        from safetensors import safe_open
        with safe_open(v, framework="np") as f:
            return f.get_tensor("a"), None
    raise ValueError(kind)


def peek(ref, i):
    a, keep = materialize(ref)
    v = float(a[i % len(a)])
    release(a, keep)
    return v


def fresh(ref):
    """In a worker that never saw the array: attach time, first full read time."""
    t0 = time.perf_counter()
    a, keep = materialize(ref)
    t1 = time.perf_counter()
    a.sum()
    t2 = time.perf_counter()
    release(a, keep)
    return t1 - t0, t2 - t1


_barrier = None


def _init(barrier):
    global _barrier
    _barrier = barrier


def hold(ref):
    """Read all of the array and keep it while the parent counts memory."""
    a, keep = materialize(ref) if ref is not None else (None, None)
    if a is not None:
        a.sum()
    _barrier.wait()  # all hold
    _barrier.wait()  # parent counted (it joins both waits through the pool's barrier size)
    if a is not None:
        release(a, keep)
    return os.getpid()


# ---- memory -------------------------------------------------------------------------------
def descendants(pid):
    kids = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                kids.setdefault(ppid, []).append(int(d))
            except (OSError, IndexError, ValueError):
                pass
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for k in kids.get(p, []):
            out.append(k)
            todo.append(k)
    return out


def file_pss(pids, path):
    """Sum of the Pss of every mapping of path in pids: the file's pages that are mapped."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps") as f:
                mine = False
                for line in f:
                    if not line[0].isupper() or line.startswith("VmFlags"):
                        mine = line.rstrip("\n").endswith(" " + path)
                    elif mine and line.startswith("Pss:"):
                        total += int(line.split()[1]) * 1024
        except OSError:
            pass
    return total


def memory_total(pids):
    total = 0
    for p in pids:
        try:
            total += onecopy.memory_of(p)["total"]
        except Exception:  # a process that just exited
            pass
    return total


# ---- the ways -----------------------------------------------------------------------------
class Way:
    def __init__(self, name, tmp):
        self.name, self.tmp, self.cleanup, self.files = name, tmp, [], []

    def publish(self, a):
        """(ref, seconds). pre: for fork COW and RawArray, called before the pool forks."""
        global _cow
        n = self.name
        t0 = time.perf_counter()
        if n == "onecopy":
            name = f"anchors-{os.getpid()}"
            ref = ("onecopy", onecopy.put(name, a))
            self.cleanup.append(lambda: onecopy.rm(name))
        elif n == "pickle":
            pickle.dumps(a, protocol=5)  # what apply_async pays again for every task
            ref = ("pickle", a)
        elif n == "fork COW":
            _cow = a
            ref = ("cow", None)
        elif n == "RawArray":
            raw = mp.RawArray("b", a.nbytes)
            _cow = np.frombuffer(raw, dtype=a.dtype).reshape(a.shape)
            _cow[...] = a
            ref = ("cow", None)
        elif n == "shared_memory":
            from multiprocessing import shared_memory
            shm = shared_memory.SharedMemory(create=True, size=a.nbytes)
            np.ndarray(a.shape, a.dtype, buffer=shm.buf)[...] = a
            self.cleanup.append(lambda: (shm.close(), shm.unlink()))
            ref = ("shm", (shm.name, a.shape, a.dtype.str))
        elif n == "joblib memmap":
            import joblib
            path = os.path.join(self.tmp, "a.joblib")
            joblib.dump(a, path)
            self.files.append(path)
            ref = ("joblib", path)
        elif n.startswith("np.load"):
            path = os.path.join(self.tmp if "shm" in n else self.disk, "a.npy")
            with open(path, "wb") as f:
                np.save(f, a)
                if "disk" in n:
                    f.flush()
                    os.fsync(f.fileno())
            self.files.append(path)
            ref = ("npy", path)
        elif n == "safetensors safe_open":
            from safetensors.numpy import save_file
            path = os.path.join(self.tmp, "a.safetensors")
            save_file({"a": a}, path)
            self.files.append(path)
            ref = ("safetensors", path)
        elif n == "torch share_memory_":
            import torch
            import torch.multiprocessing  # noqa: F401 - registers the shared-memory reductions
            ref = ("torch", torch.from_numpy(a.copy()).share_memory_())
        else:
            raise ValueError(n)
        return ref, time.perf_counter() - t0

    def unmapped_tmpfs_bytes(self, pids):
        """Bytes of this way's /dev/shm files that no process maps (PSS misses them)."""
        return sum(max(0, os.path.getsize(p) - file_pss(pids, p)) for p in self.files if p.startswith("/dev/shm"))

    def done(self):
        global _cow
        _cow = None
        for f in reversed(self.cleanup):
            f()
        for p in self.files:
            os.unlink(p)
        self.cleanup, self.files = [], []


def measure(way_name, label, tasks, tmp, disk):
    ctx = mp.get_context("fork")
    way = Way(way_name, tmp)
    way.disk = disk
    barrier = ctx.Barrier(WORKERS + 1)
    before_fork = way_name in ("fork COW", "RawArray")
    me = os.getpid()
    a = None
    make_pool = lambda: ctx.Pool(WORKERS, initializer=_init, initargs=(barrier,))
    # Baseline: parent + idle workers before the array exists (for the ways that need the array
    # before the fork, from a throwaway pool). The parent's own array counts in every row.
    if before_fork:
        pool = make_pool()
        idle = memory_total([me] + [p.pid for p in pool._pool])
        pool.close()
        pool.join()
        a = make_array(label)
        ref, publish_s = way.publish(a)
    pool = make_pool()
    try:
        if not before_fork:
            idle = memory_total([me] + [p.pid for p in pool._pool])
            a = make_array(label)
            ref, publish_s = way.publish(a)
        attach_s, read_s = pool.apply_async(fresh, [ref]).get()
        times = []
        for i in range(tasks):
            t0 = time.perf_counter()
            pool.apply_async(peek, [ref, i]).get()
            times.append(time.perf_counter() - t0)
        held = [pool.apply_async(hold, [ref]) for _ in range(WORKERS)]
        barrier.wait()
        pids = [me] + [p.pid for p in pool._pool]
        mem = memory_total(pids) - idle + way.unmapped_tmpfs_bytes(pids)
        barrier.wait()
        for r in held:
            r.get()
    finally:
        pool.close()  # workers exit on their own (SIGTERM would wake Ray's inherited handlers)
        pool.join()
        del a
        way.done()
    return {"publish_s": publish_s, "per_task_s": statistics.median(times), "attach_s": attach_s,
            "read_s": read_s, "memory": mem}


# ---- Ray ----------------------------------------------------------------------------------
def measure_ray(label, tasks):
    import ray

    @ray.remote
    def r_peek(a, i):
        return float(a[i % len(a)])

    @ray.remote
    def r_fresh(box):
        t0 = time.perf_counter()
        a = ray.get(box[0])
        t1 = time.perf_counter()
        a.sum()
        return t1 - t0, time.perf_counter() - t1

    @ray.remote
    class Holder:
        def hold(self, box):
            self.a = ray.get(box[0])
            self.a.sum()
            return os.getpid()

    me = os.getpid()
    ray.get(r_peek.remote(np.zeros(4), 0))  # workers started
    idle = memory_total([me] + descendants(me))
    a = make_array(label)
    t0 = time.perf_counter()
    ref = ray.put(a)
    publish_s = time.perf_counter() - t0
    attach_s, read_s = ray.get(r_fresh.remote([ref]))
    times = []
    for i in range(tasks):
        t0 = time.perf_counter()
        ray.get(r_peek.remote(ref, i))
        times.append(time.perf_counter() - t0)
    holders = [Holder.remote() for _ in range(WORKERS)]
    ray.get([h.hold.remote([ref]) for h in holders])
    mem = memory_total([me] + descendants(me)) - idle
    for h in holders:
        ray.kill(h)
    del ref, a
    return {"publish_s": publish_s, "per_task_s": statistics.median(times), "attach_s": attach_s,
            "read_s": read_s, "memory": mem}


def ray_session(max_bytes):
    import ray
    ray.init(num_cpus=WORKERS, object_store_memory=max(int(max_bytes * 1.5), 200 << 20),
             include_dashboard=False, log_to_driver=False, configure_logging=False)
    return ray


# ---- Plasma (own venv) --------------------------------------------------------------------
PLASMA_VENV = os.environ.get("ONECOPY_PLASMA_VENV", "/tmp/onecopy-plasma-venv")


def plasma_available():
    """'' when pyarrow 11's plasma imports in PLASMA_VENV, else why not (one line)."""
    py = os.path.join(PLASMA_VENV, "bin", "python")
    if not os.path.exists(py):
        return (f"no venv at {PLASMA_VENV} (scripts/install-deps.sh --anchors makes it: pyarrow 11 "
                "with numpy<2; Plasma was removed in pyarrow 12)")
    r = subprocess.run([py, "-c", "import pyarrow.plasma"], capture_output=True, text=True)
    return "" if r.returncode == 0 else f"pyarrow.plasma does not import: {r.stderr.strip().splitlines()[-1]}"


def measure_plasma(label, tasks):
    py = os.path.join(PLASMA_VENV, "bin", "python")
    out = subprocess.run([py, os.path.join(HERE, "plasma_anchor.py"), label, str(tasks), str(WORKERS)],
                         capture_output=True, text=True, timeout=600)
    if out.returncode != 0:
        raise RuntimeError(out.stderr.strip().splitlines()[-1] if out.stderr.strip() else "failed")
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---- report -------------------------------------------------------------------------------
ROWS = [("publish_s", "publish", fmt_time), ("per_task_s", "per task", fmt_time),
        ("attach_s", "fresh attach", fmt_time), ("read_s", "first full read", fmt_time),
        ("memory", "memory (4 workers + parent + daemons)", fmt_bytes)]


def ratio(x, base):
    if base <= 0:
        return "—"
    r = x / base
    return f"{r:,.0f}×" if r >= 100 else f"{r:.2f}×"


def table(record):
    lines = [f"Pool({WORKERS}) (fork), medians of {record['runs']} runs per way and size, same run; "
             f"×: the way's figure / onecopy's (above 1: onecopy is faster or smaller). "
             f"Machine: {record['machine']}.", ""]
    for note in record["skipped"]:
        lines.append(f"- skipped: {note}")
    if record["skipped"]:
        lines.append("")
    for label in record["sizes"]:
        rows = [r for r in record["results"] if r["array"] == label]
        base = next((r for r in rows if r["way"] == "onecopy"), None)
        lines += [f"### {label}", "",
                  "| way | " + " | ".join(f"{t} | ×" for _, t, _ in ROWS) + " |",
                  "|---|" + "---:|---:|" * len(ROWS)]
        for r in rows:
            cells = []
            for key, _, f in ROWS:
                cells += [f(r[key]), ratio(r[key], base[key]) if base else "—"]
            lines.append(f"| {r['way']} | " + " | ".join(cells) + " |")
        if base:
            behind = sorted({t for key, t, _ in ROWS for r in rows
                             if r["way"] != "onecopy" and r[key] < base[key] * 0.95 and
                             not (key == "publish_s" and r["way"] == "fork COW")})
            lines.append("")
            lines.append("onecopy is not first on: " + (", ".join(behind) if behind else "nothing") +
                         " (fork COW's publish of 0 left aside: it only works for children forked later).")
        lines.append("")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="80MB,1GiB")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--tasks", type=int, default=9, help="round trips per run (median)")
    p.add_argument("--ways", default=",".join(ALL_WAYS))
    p.add_argument("--md", help="write the markdown table here")
    p.add_argument("--json", help="write the raw results here")
    args = p.parse_args()
    ways = [w.strip() for w in args.ways.split(",")]
    sizes = args.sizes.split(",")
    skipped = []

    own_store = "ONECOPY_DIR" not in os.environ
    if own_store:
        os.environ["ONECOPY_DIR"] = tempfile.mkdtemp(prefix="onecopy-anchors.", dir="/dev/shm")
    tmp = tempfile.mkdtemp(prefix="onecopy-anchors-files.", dir="/dev/shm")
    disk = tempfile.mkdtemp(prefix="onecopy-anchors-disk.", dir=os.environ.get("TMPDIR", "/var/tmp"))
    from multiprocessing import resource_tracker
    resource_tracker.ensure_running()  # before any fork: see seed_pool.py
    if "Arrow Plasma" in ways and (why := plasma_available()):
        skipped.append(f"Arrow Plasma: {why}")
        ways.remove("Arrow Plasma")
    for w in ("torch share_memory_", "Ray put/get", "joblib memmap", "safetensors safe_open"):
        mod = {"torch share_memory_": "torch", "Ray put/get": "ray", "joblib memmap": "joblib",
               "safetensors safe_open": "safetensors"}[w]
        if w in ways:
            try:
                __import__(mod)
            except ImportError:
                skipped.append(f"{w}: {mod} is not installed")
                ways.remove(w)

    results = {}

    def write(done_sizes):
        """Writes the table of the sizes measured so far (a cut-off run keeps what it has)."""
        rows = []
        for label in done_sizes:
            for way in ways:
                ms = results.get((label, way), [])
                if ms:
                    rows.append({"array": label, "way": way, "runs": ms,
                                 **{k: statistics.median(m[k] for m in ms) for k, _, _ in ROWS}})
        load = open("/proc/loadavg").read().split()[:3]
        record = {"runs": args.runs, "sizes": done_sizes, "skipped": skipped, "results": rows,
                  "machine": f"{os.cpu_count()} CPUs, load average {' '.join(load)} when written, "
                             f"shared with other jobs"}
        if args.json:
            with open(args.json, "w") as f:
                json.dump(record, f, indent=1)
        text = table(record)
        if args.md:
            with open(args.md, "w") as f:
                f.write("# Python anchors (bench/python/anchors.py)\n\n" + text + "\n")
        return text

    text = ""
    try:
        if "Ray put/get" in ways:
            ray_session(max(parse_size(s) if s != "80MB" else 80_000_000 for s in sizes))
        for n, label in enumerate(sizes):
            for r in range(args.runs):
                for way in ways:
                    if way == "Ray put/get":
                        m = measure_ray(label, args.tasks)
                    elif way == "Arrow Plasma":
                        m = measure_plasma(label, args.tasks)
                    else:
                        m = measure(way, label, args.tasks, tmp, disk)
                    results.setdefault((label, way), []).append(m)
                    print(f"{label} run {r + 1}/{args.runs} {way}: publish {fmt_time(m['publish_s'])}, "
                          f"task {fmt_time(m['per_task_s'])}, attach {fmt_time(m['attach_s'])}, "
                          f"read {fmt_time(m['read_s'])}, memory {fmt_bytes(m['memory'])}", file=sys.stderr)
            text = write(sizes[:n + 1])
    finally:
        if "Ray put/get" in ways:
            import ray as _ray
            _ray.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(disk, ignore_errors=True)
        if own_store:
            shutil.rmtree(os.environ["ONECOPY_DIR"], ignore_errors=True)
    print(text)


if __name__ == "__main__":
    main()
