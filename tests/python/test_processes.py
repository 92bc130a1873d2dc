# SPDX-License-Identifier: Apache-2.0
# Handles cross process boundaries by name: pickles are tiny, every start method and executor
# attaches the same pages, N workers cost one copy (PSS), and open_or_create fills once.
import concurrent.futures
import multiprocessing as mp
import os
import pickle

import numpy as np
import pytest

import onecopy
import workers

START_METHODS = ["fork", "spawn", "forkserver"]


def test_pickle_is_a_few_dozen_bytes_whatever_the_size():
    small = onecopy.put("small", np.zeros(10))
    big = onecopy.put("big", np.zeros(32 << 20, np.uint8))
    sizes = {len(pickle.dumps(h)) for h in (small, big)}
    assert max(sizes) < 128 and max(sizes) - min(sizes) <= 3  # only the name differs
    assert pickle.loads(pickle.dumps(big)).tensor().address == big.tensor().address
    t = onecopy.put("m", {"w": np.ones(3)}).tensor("w")
    assert len(pickle.dumps(t)) < 128
    assert np.array_equal(np.asarray(pickle.loads(pickle.dumps(t))), np.ones(3))


@pytest.mark.parametrize("method", START_METHODS)
def test_pool_apply_async_attaches_in_the_worker(method):
    data = np.arange(1_000_000, dtype=np.float64)
    h = onecopy.put("table", data)
    with mp.get_context(method).Pool(2) as pool:
        results = [pool.apply_async(workers.describe, [h, i]) for i in range(6)]
        got = [r.get(timeout=120) for r in results]
    assert {g["pid"] for g in got}.isdisjoint({os.getpid()})
    assert all(g["in_mapping"] and not g["writeable"] for g in got)
    assert all(g["sum"] == float(data.sum()) and g["item"] == g["i"] for g in got)


def test_process_pool_executor():
    h = onecopy.put("m", {"x": np.arange(100, dtype=np.int16), "y": np.ones(5)})
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=mp.get_context("spawn")) as ex:
        got = list(ex.map(workers.describe_tensor, [h.tensor("x"), h.tensor("y")], [0, 1]))
    assert all(g["in_mapping"] and g["pid"] != os.getpid() for g in got)
    assert [g["sum"] for g in got] == [4950.0, 5.0]


def test_joblib():
    joblib = pytest.importorskip("joblib")
    from joblib.externals.loky import get_reusable_executor
    h = onecopy.put("table", np.arange(1000, dtype=np.float32))
    try:
        got = joblib.Parallel(n_jobs=2)(joblib.delayed(workers.describe)(h, i) for i in range(4))
    finally:
        get_reusable_executor().shutdown(wait=True)  # its workers would outlive this store
    assert all(g["in_mapping"] and g["sum"] == 499500.0 for g in got)
    assert all(g["pid"] != os.getpid() for g in got)


def test_n_workers_hold_one_copy_by_pss():
    """4 workers each touch all 64 MiB: each maps all of it (Rss), together they pay one copy
    (the Pss of the mapping sums to its size), and their total Pss grows by about one copy."""
    n, size = 4, 64 << 20
    h = onecopy.put("big", np.arange(size // 8, dtype=np.float64))
    ctx = mp.get_context("spawn")
    with ctx.Pool(n, initializer=workers.set_barrier, initargs=(ctx.Barrier(n),)) as pool:
        got = [r.get(timeout=300) for r in [pool.apply_async(workers.hold_and_measure, [h])
                                             for _ in range(n)]]
        parent = workers.mapping_memory(h.path)  # the creator maps it too
    assert len({g["pid"] for g in got}) == n
    assert all(g["rss"] >= 0.99 * size for g in got)
    total_pss = sum(g["pss"] for g in got) + parent["Pss"]
    assert 0.95 * size <= total_pss <= 1.05 * size
    # N private copies would add n × size; sharing adds about n/(n+1) of one copy in all.
    assert sum(g["pss_delta"] for g in got) < 1.5 * size


def test_open_or_create_from_many_processes_fills_once(tmp_path):
    log = tmp_path / "fills"
    ctx = mp.get_context("spawn")
    with ctx.Pool(3) as pool:
        results = [pool.apply_async(workers.create_slowly, ["lut", str(log), None, None, (256,)])
                   for _ in range(3)]
        sums = [r.get(timeout=300) for r in results]
    assert sums == [42.0 * 256] * 3
    assert len(log.read_text().split()) == 1


def test_a_waiting_creator_times_out_and_a_second_put_is_busy(tmp_path):
    log = tmp_path / "fills"
    ctx = mp.get_context("spawn")
    m = ctx.Manager()
    started, release = m.Event(), m.Event()
    with ctx.Pool(1) as pool:
        creator = pool.apply_async(workers.create_slowly, ["lut", str(log), started, release, (8,)])
        assert started.wait(120)
        with pytest.raises(TimeoutError, match="another process has been creating it"):
            onecopy.open_or_create("lut", (8,), "f32", timeout=0.2)
        with pytest.raises(OSError, match="another process is creating it") as e:
            onecopy.put("lut", np.zeros(8, np.float32))
        assert e.value.errno == __import__("errno").EBUSY
        release.set()
        assert creator.get(timeout=120) == 42.0 * 8
    assert np.all(np.asarray(onecopy.open_or_create("lut", (8,), "f32", 0)) == 42)
    m.shutdown()
