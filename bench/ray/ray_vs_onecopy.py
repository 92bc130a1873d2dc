# SPDX-License-Identifier: Apache-2.0
"""ray.put + tasks vs onecopy.ray for one array across simulated Ray nodes, in the same run.

    PYTHONPATH=build/release/python python3 bench/ray/ray_vs_onecopy.py [--size 1GiB]
        [--nodes 3] [--workers 4] [--repeat 9]

For each way in turn, a fresh simulated_cluster (each node its own store directory):
- publish: from the driver's array to every worker of every node holding it (ray.put, or
  onecopy.ray.share; then each node's workers get it at once: the transfer / first publish);
  onecopy.ray then drops the source (Shared.drop_source), so Ray frees the array's copies;
- per task: a task that gets the array and reads 8 values from it, median over --repeat rounds
  of one task per worker (the array already on the node);
- memory per node while every worker holds it, and added since before the put: the workers' and the raylet's PSS plus their
  share of hugetlb pages (onecopy.memory_of: shared pages split between the processes that map
  them, so their sum is the node's memory: the raylet maps the node's whole object store), and
  the bytes in the node's onecopy store directory.
Prints one JSON record per way and the ratios. Never asserts.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np
import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

import onecopy
import onecopy.ray as ocr


def size_arg(text: str) -> int:
    units = {"k": 2**10, "m": 2**20, "g": 2**30}
    t = text.lower().rstrip("ib")
    return int(float(t[:-1]) * units[t[-1]]) if t[-1] in units else int(t)


@ray.remote(num_cpus=1)
class Worker:
    """One worker process of a node; holds what it got, so memory is measured while held."""

    def __init__(self):
        import onecopy.ray  # noqa: F401 - imported before timing (~2 s here, mostly ml_dtypes)
        self.held = None

    def pid(self) -> int:
        return os.getpid()

    def get(self, how: str, box) -> float:
        t = time.perf_counter()
        if how == "ray.put":
            a = ray.get(box[0])          # zero-copy view of the node's object store
        else:
            a = np.asarray(box.open())   # onecopy.ray: the node's segment
        step = max(1, a.size // 8)
        float(a[::step][:8].sum())       # read 8 values
        self.held = a
        return time.perf_counter() - t

    def drop(self) -> None:
        self.held = None


def store_bytes(d: str) -> int:
    return sum(os.stat(os.path.join(d, f)).st_blocks * 512 for f in os.listdir(d)
               if os.path.isfile(os.path.join(d, f)))


def node_memory(cluster, workers):
    """Per node: PSS + hugetlb share of its workers and its raylet (the object store's pages)."""
    out = []
    for node in cluster.nodes:
        pids = ray.get([w.pid.remote() for w in workers[node.node_id]]) + [node.raylet_pid]
        out.append(sum(onecopy.memory_of(p)["total"] for p in pids))
    return out


def run_way(how, source, cluster, workers, repeat):
    idle = node_memory(cluster, workers)
    t = time.perf_counter()
    box = [ray.put(source)] if how == "ray.put" else ocr.share("bench-ray", source)
    put_s = time.perf_counter() - t
    t = time.perf_counter()
    first = ray.get([w.get.remote(how, box) for ws in workers.values() for w in ws])
    publish_s = put_s + (time.perf_counter() - t)
    if how == "onecopy.ray":
        box.drop_source()  # every node has its copy: Ray may free the array's object copies
    per_task = []
    for _ in range(repeat):
        t = time.perf_counter()
        ray.get([w.get.remote(how, box) for ws in workers.values() for w in ws])
        per_task.append((time.perf_counter() - t) / sum(len(ws) for ws in workers.values()))
    inside = [statistics.median(ray.get([w.get.remote(how, box) for ws in workers.values()
                                         for w in ws])) for _ in range(3)]
    nodes = [{"node": node.node_id[:8], "pss_plus_hugetlb": held, "added": held - before,
              "store_dir": store_bytes(node.store_dir)}
             for node, held, before in zip(cluster.nodes, node_memory(cluster, workers), idle)]
    ray.get([w.drop.remote() for ws in workers.values() for w in ws])
    if how == "ray.put":
        del box
    else:
        box.release()
    return {"way": how, "publish_s": publish_s, "driver_put_s": put_s,
            "first_get_median_s": statistics.median(first), "first_get_max_s": max(first),
            "per_task_s": statistics.median(per_task),
            "in_task_get_s": statistics.median(inside), "nodes": nodes}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", default="1GiB", type=size_arg)
    p.add_argument("--nodes", default=3, type=int)
    p.add_argument("--workers", default=4, type=int)
    p.add_argument("--repeat", default=9, type=int)
    args = p.parse_args()
    source = np.arange(args.size // 4, dtype=np.float32)
    records = []
    for how in ("ray.put", "onecopy.ray"):  # a fresh cluster each: no pages left by the other
        with ocr.simulated_cluster(args.nodes, num_cpus=args.workers,
                                   object_store_memory=args.size + 512 * 2**20) as cluster:
            workers = {n.node_id: [Worker.options(scheduling_strategy=NodeAffinitySchedulingStrategy(
                           n.node_id, soft=False)).remote() for _ in range(args.workers)]
                       for n in cluster.nodes}
            ray.get([w.pid.remote() for ws in workers.values() for w in ws])  # all started
            records.append(run_way(how, source, cluster, workers, args.repeat))
    for r in records:
        r.update(size=args.size, nodes_n=args.nodes, workers_per_node=args.workers)
        print(json.dumps(r))
    base, oc = records
    mem = lambda r: statistics.median(n["added"] for n in r["nodes"])  # noqa: E731
    print(f"# {args.size / 2**30:.2f} GiB, {args.nodes} nodes x {args.workers} workers "
          f"(medians; onecopy.ray / ray.put)")
    print(f"publish to all workers: {oc['publish_s']:.2f} s vs {base['publish_s']:.2f} s "
          f"= {oc['publish_s'] / base['publish_s']:.2f}x")
    print(f"per task (get + read 8 values, round of {args.nodes * args.workers}): "
          f"{oc['per_task_s'] * 1e3:.2f} ms vs {base['per_task_s'] * 1e3:.2f} ms "
          f"= {oc['per_task_s'] / base['per_task_s']:.2f}x")
    print(f"get inside the task: {oc['in_task_get_s'] * 1e6:.0f} us vs "
          f"{base['in_task_get_s'] * 1e6:.0f} us")
    print(f"memory added per node (PSS+hugetlb of workers and raylet, held - idle): "
          f"{mem(oc) / 2**30:.2f} GiB vs {mem(base) / 2**30:.2f} GiB = {mem(oc) / mem(base):.2f}x")
    for r in records:
        print(f"  {r['way']:12s} per node, added / total PSS+hugetlb / store dir (GiB): " +
              ", ".join(f"{n['added'] / 2**30:.2f} / {n['pss_plus_hugetlb'] / 2**30:.2f} / "
                        f"{n['store_dir'] / 2**30:.2f}" for n in r["nodes"]))


if __name__ == "__main__":
    main()
