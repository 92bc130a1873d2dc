# SPDX-License-Identifier: Apache-2.0
# onecopy.ray on a real 3-node Ray cluster started on this machine (ray.cluster_utils), each
# node with its own store directory, so copies are counted per node: files and bytes in each
# node's store, who fetched the driver's array, what the tasks read. Ray is started and stopped
# here (one cluster for the module: starting one costs ~30 s on 2 cores). Under the ASan
# preload of sanitizer builds (LD_PRELOAD=libasan:libstdc++, see CMakeLists.txt), Ray's GCS and
# raylets start and run with it like every other child (checked): the workers need it to load
# the instrumented onecopy._core, and they inherit it from their raylet.
import os
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np
import pytest

ray = pytest.importorskip("ray", reason="ray is not installed (scripts/install-deps.sh --ray)")
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy  # noqa: E402

import onecopy  # noqa: E402
import onecopy.ray as ocr  # noqa: E402

NODES = 3
TASKS_PER_NODE = 4


@pytest.fixture(scope="module")
def cluster():
    # Two CPUs per node: two tasks of a node run at once, so one publishes while one waits.
    with ocr.simulated_cluster(NODES, num_cpus=2, object_store_memory=80 * 2**20) as c:
        yield c


def on(node):
    return NodeAffinitySchedulingStrategy(node.node_id, soft=False)


def segments(store_dir):
    """Published segment files of a store directory (not locks, not temp files)."""
    return sorted(f for f in os.listdir(store_dir)
                  if not f.startswith(".") and not f.endswith(".lock"))


def temp_files(store_dir):
    return [f for f in os.listdir(store_dir) if f.endswith(".tmp")]


@ray.remote(num_cpus=1)
def read(shared, probe):
    h = shared.open()
    a = np.asarray(h)
    try:
        a[0] = 1
        writable = True
    except ValueError:
        writable = False
    return {"node": ray.get_runtime_context().get_node_id(), "pid": os.getpid(),
            "store": ocr.node_store(), "path": h.path, "values": a[probe].tolist(),
            "sum": float(a.sum(dtype=np.float64)), "writable": writable or a.flags.writeable,
            "fetches": ocr.fetches}


def test_import_onecopy_does_not_import_ray():
    out = subprocess.run([sys.executable, "-c", "import sys, onecopy; print('ray' in sys.modules)"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_three_nodes_four_tasks_each_make_three_copies(cluster):
    array = np.arange(3 * 2**20, dtype=np.float32)  # 12 MiB
    probe = [0, 1, 12345, array.size - 1]
    shared = ocr.share("ray-table", array)
    results = ray.get([read.options(scheduling_strategy=on(n)).remote(shared, probe)
                       for n in cluster.nodes for _ in range(TASKS_PER_NODE)])

    for node in cluster.nodes:
        mine = [r for r in results if r["node"] == node.node_id]
        assert len(mine) == TASKS_PER_NODE
        assert {r["store"] for r in mine} == {node.store_dir}  # each node its own store
        assert {os.path.dirname(r["path"]) for r in mine} == {node.store_dir}
        assert segments(node.store_dir) == ["ray-table"]      # exactly one copy on the node
        assert temp_files(node.store_dir) == []
        size = os.stat(os.path.join(node.store_dir, "ray-table")).st_size
        assert array.nbytes <= size < array.nbytes + 2**20
        # The node's first user fetched the driver's array; the other tasks did not.
        fetched = {r["pid"]: r["fetches"] for r in mine}
        assert sum(fetched.values()) == 1, fetched
    # In memory: each node's store holds its one copy, all pages present (tmpfs blocks).
    used = [os.stat(os.path.join(n.store_dir, "ray-table")).st_blocks * 512 for n in cluster.nodes]
    assert all(array.nbytes <= u < array.nbytes + 2**20 for u in used), used

    for r in results:  # values right, read-only
        assert r["values"] == array[probe].tolist()
        assert r["sum"] == float(array.sum(dtype=np.float64))
        assert r["writable"] is False

    assert shared.release() == NODES
    for node in cluster.nodes:
        assert segments(node.store_dir) == []


def test_preload_publishes_on_every_node_and_release_removes_all(cluster):
    shared = ocr.share("ray-preloaded", np.full(1000, 7, dtype=np.int64))
    assert sorted(shared.preload()) == sorted(n.node_id for n in cluster.nodes)
    for node in cluster.nodes:
        assert segments(node.store_dir) == ["ray-preloaded"]
        info = onecopy._attach.store(node.store_dir).attach("ray-preloaded").info()
        assert info["remove_when_unused"]  # `onecopy gc` collects it if the driver dies first
    with shared:
        pass  # leaving the block releases it
    for node in cluster.nodes:
        assert segments(node.store_dir) == []


def test_same_name_other_content_is_a_clear_error(cluster):
    first = ocr.share("ray-clash", np.zeros(100, dtype=np.float32))
    with pytest.raises(ValueError, match="already shared in this job with other content"):
        ocr.share("ray-clash", np.ones(100, dtype=np.float32))
    first.release()

    # A node whose store already holds the name with other bytes (same dtype and shape).
    node = cluster.nodes[1]
    stale = onecopy._attach.store(node.store_dir).put(
        "ray-clash", [("", "f32", [100], np.ones(100, dtype=np.float32).view(np.uint8))],
        False, onecopy._core.choose_placement("local", "auto", False, 400), False, False, "")
    del stale
    shared = ocr.share("ray-clash", np.zeros(100, dtype=np.float32))
    with pytest.raises(ValueError) as err:
        ray.get(read.options(scheduling_strategy=on(node)).remote(shared, [0]))
    text = str(err.value)
    assert "already holds other content" in text and node.node_id[:8] in text
    assert node.store_dir in text
    shared.release()
    onecopy._attach.store(node.store_dir).remove("ray-clash")


@ray.remote(num_cpus=0)
def released_by(flag, array):
    """The driver's array, available only once flag exists (holds the publisher mid-publish)."""
    while not os.path.exists(flag):
        time.sleep(0.05)
    return array


def test_publisher_killed_mid_publish_another_task_takes_over(cluster, tmp_path):
    node = cluster.nodes[2]
    array = np.arange(2**20, dtype=np.float64)
    flag = str(tmp_path / "go")
    gate = released_by.remote(flag, array)
    shared = ocr.Shared("ray-takeover", "array", [gate], dtype="f64", shape=array.shape,
                        fingerprint=ocr._fingerprint(array), job=ray.get_runtime_context().get_job_id())
    tasks = [read.options(scheduling_strategy=on(node)).remote(shared, [0, 5, array.size - 1])
             for _ in range(2)]

    # The first task on the node creates the draft and waits for the array inside it.
    deadline = time.monotonic() + 120
    while not temp_files(node.store_dir):
        assert time.monotonic() < deadline, "no publisher started on the node"
        time.sleep(0.05)
    (tmp,) = temp_files(node.store_dir)
    publisher = int(tmp.rsplit(".", 2)[1])  # .<name>.<pid>.tmp
    os.kill(publisher, signal.SIGKILL)
    with open(flag, "w"):
        pass

    results = ray.get(tasks, timeout=300)  # Ray reruns the killed task; the job finishes
    assert all(r["values"] == [0.0, 5.0, array.size - 1.0] for r in results)
    assert all(r["pid"] != publisher for r in results)
    assert segments(node.store_dir) == ["ray-takeover"]
    assert temp_files(node.store_dir) == []
    assert shared.release() == 1
    assert segments(node.store_dir) == []


@ray.remote(num_cpus=1)
def read_bundle(shared):
    h = shared.open()
    return {"node": ray.get_runtime_context().get_node_id(), "path": h.path,
            "tensors": {k: np.asarray(h[k]).tolist() for k in h.keys()}}


def test_a_safetensors_file_readable_on_every_node_makes_one_copy_per_node(cluster, tmp_path):
    st = pytest.importorskip("safetensors.numpy", reason="safetensors is not installed")
    weights = {"a.weight": np.arange(12, dtype=np.float32).reshape(3, 4),
               "b.bias": np.array([1, -2, 3], dtype=np.int64)}
    path = tmp_path / "model.safetensors"
    st.save_file(weights, str(path))
    shared = ocr.share("ray-file", path)
    results = ray.get([read_bundle.options(scheduling_strategy=on(n)).remote(shared)
                       for n in cluster.nodes for _ in range(2)])
    for r in results:
        assert r["tensors"] == {k: v.tolist() for k, v in weights.items()}
    for node in cluster.nodes:
        assert segments(node.store_dir) == ["ray-file"]
        info = onecopy._attach.store(node.store_dir).attach("ray-file").info()
        assert info["remove_when_unused"]  # collected by `onecopy gc` if the driver dies first
    assert shared.release() == NODES
    for node in cluster.nodes:
        assert segments(node.store_dir) == []


@pytest.fixture
def tiny_tmpfs():
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    d = tempfile.mkdtemp(prefix="onecopy-ray-full.")
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", d], check=True)
    try:
        yield d
    finally:
        subprocess.run(["umount", d], check=True)
        os.rmdir(d)


def test_full_store_on_one_node_is_a_clear_error_naming_the_node(cluster, tiny_tmpfs):
    node = cluster.add_node(tiny_tmpfs, num_cpus=1, object_store_memory=80 * 2**20)
    try:
        shared = ocr.share("ray-too-big", np.ones(2**21, dtype=np.float32))  # 8 MiB > 4 MiB
        with pytest.raises(ocr.PublishError) as err:
            ray.get(read.options(scheduling_strategy=on(node)).remote(shared, [0]))
        text = str(err.value)
        assert node.node_id[:8] in text and tiny_tmpfs in text
        assert "space" in text.lower()
        assert segments(tiny_tmpfs) == [] and temp_files(tiny_tmpfs) == []  # nothing half-published
        # The other nodes are fine with the same share.
        r = ray.get(read.options(scheduling_strategy=on(cluster.nodes[0])).remote(shared, [7]))
        assert r["values"] == [1.0]
        shared.release()
    finally:
        cluster.remove_node(node)
