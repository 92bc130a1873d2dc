# SPDX-License-Identifier: Apache-2.0
"""simulated_cluster(): a Ray cluster of several nodes on this one machine, each node with its
own onecopy store directory, so "one copy per node" can be counted per node.

Each raylet is started with ONECOPY_DIR set to its node's directory; Ray starts workers from
their raylet's environment, so every task and actor on that node uses that store and no other.
On a real cluster nothing of this is needed: each machine's default store is the node's store.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import tempfile
from typing import Iterator, Optional, Sequence


@dataclasses.dataclass
class SimulatedNode:
    node_id: str
    store_dir: str
    raylet_pid: int


@dataclasses.dataclass
class SimulatedCluster:
    address: str
    nodes: list[SimulatedNode]
    cluster: object  # ray.cluster_utils.Cluster

    def add_node(self, store_dir: str, **node_args) -> SimulatedNode:
        """One more node whose store is store_dir (e.g. a small tmpfs)."""
        node = _add(self.cluster, store_dir, **node_args)
        self.nodes.append(node)
        return node

    def remove_node(self, node: SimulatedNode) -> None:
        for n in self.cluster.list_all_nodes():
            if n.node_id == node.node_id:
                self.cluster.remove_node(n)
        self.nodes.remove(node)


def _add(cluster, store_dir: str, **node_args) -> SimulatedNode:
    saved = os.environ.get("ONECOPY_DIR")
    os.environ["ONECOPY_DIR"] = store_dir  # the raylet (and so its workers) inherit it
    try:
        try:
            n = cluster.add_node(**node_args)
        except Exception as e:  # Ray raises a bare Exception for it
            # Ray gives a new raylet a fixed 30 s to register with its GCS (ray/_private/node.py);
            # several raylets starting on one loaded 2-CPU machine, under a sanitizer in CI, have
            # missed it. That is Ray's startup, not the store's: once more.
            if "timed out during startup" not in str(e):
                raise
            n = cluster.add_node(**node_args)
    finally:
        if saved is None:
            os.environ.pop("ONECOPY_DIR", None)
        else:
            os.environ["ONECOPY_DIR"] = saved
    raylet = n.all_processes["raylet"][0].process.pid
    return SimulatedNode(n.node_id, store_dir, raylet)


@contextlib.contextmanager
def simulated_cluster(nodes: int = 3, *, num_cpus: int = 1,
                      object_store_memory: int = 100 * 2**20,
                      store_dirs: Optional[Sequence[str]] = None,
                      root: str = "/dev/shm") -> Iterator[SimulatedCluster]:
    """Starts `nodes` Ray nodes (the first is the head) and connects this process (ray.init).

    Node i's store is store_dirs[i], or a fresh private directory under root (removed on exit
    with what it holds). Shuts Ray and the nodes down on exit."""
    import ray
    from ray.cluster_utils import Cluster

    made = tempfile.mkdtemp(prefix="onecopy-ray.", dir=root)
    dirs = list(store_dirs) if store_dirs else []
    for i in range(len(dirs), nodes):
        dirs.append(os.path.join(made, f"node{i}"))
        os.mkdir(dirs[-1], 0o700)
    cluster = Cluster()
    try:
        started = []
        for i in range(nodes):
            args = {"num_cpus": num_cpus, "object_store_memory": object_store_memory}
            if i == 0:
                args["include_dashboard"] = False
            started.append(_add(cluster, dirs[i], **args))
        ray.init(address=cluster.address, log_to_driver=False)
        yield SimulatedCluster(cluster.address, started, cluster)
    finally:
        ray.shutdown()
        cluster.shutdown()
        shutil.rmtree(made, ignore_errors=True)
