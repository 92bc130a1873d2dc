# SPDX-License-Identifier: Apache-2.0
# put / open / open_or_create / ls / rm / topology, dtypes and bundles, errors.
import errno
import os
import pickle

import numpy as np
import pytest

import onecopy
from onecopy import _dtypes



def test_put_then_open_gives_the_same_values():
    data = np.arange(1000, dtype=np.int64).reshape(10, 100)
    h = onecopy.put("table", data)
    assert h.name == "table" and h.shape == (10, 100) and h.dtype == np.int64
    assert h.nbytes == data.nbytes and not h.is_bundle
    assert np.array_equal(np.asarray(onecopy.open("table")), data)
    assert h.verify()


def test_put_copies_non_contiguous_and_big_endian_inputs():
    base = np.arange(100, dtype=">f8").reshape(10, 10)
    h = onecopy.put("t", base[:, ::2])
    assert h.dtype == np.float64
    assert np.array_equal(np.asarray(h), base[:, ::2].astype(np.float64))


@pytest.mark.parametrize("np_type,name", list((t, n) for n, t in _dtypes.NATIVE.items()))
def test_every_numpy_dtype_round_trips(np_type, name):
    data = (np.arange(24) % 7).astype(np_type).reshape(2, 3, 4)
    h = onecopy.put("x", data)
    assert h.dtype_name == name
    a = np.asarray(h)
    assert a.dtype == np.dtype(np_type) and a.shape == (2, 3, 4)
    assert np.array_equal(a, data)


def test_zero_dimensional_array():
    h = onecopy.put("s", np.float32(2.5))
    assert h.shape == () and np.asarray(h)[()] == np.float32(2.5)


@pytest.mark.skipif(_dtypes.ml_dtypes is None, reason="ml_dtypes is not installed")
@pytest.mark.parametrize("name,attr", [("bf16", "bfloat16"), ("f8_e4m3", "float8_e4m3fn"),
                                       ("f8_e5m2", "float8_e5m2"), ("f8_e8m0", "float8_e8m0fnu")])
def test_bf16_and_f8_come_back_as_ml_dtypes(name, attr, monkeypatch):
    t = np.dtype(getattr(_dtypes.ml_dtypes, attr))
    data = np.array([0.5, 1.0, 2.0, 4.0], dtype=t)
    h = onecopy.put("w", {"t": data})
    assert h.tensor("t").dtype_name == name
    got = h["t"]
    assert got.dtype == t and np.array_equal(got.astype(np.float32), data.astype(np.float32))
    # Without ml_dtypes: the raw bits in an unsigned integer of the same width.
    monkeypatch.setattr(_dtypes, "ml_dtypes", None)
    raw = h["t"]
    assert raw.dtype == (np.uint16 if name == "bf16" else np.uint8)
    assert np.array_equal(raw, data.view(raw.dtype))
    assert not raw.flags.writeable


def test_bundle_keys_and_tensors():
    weights = {"model.embed.weight": np.ones((4, 8), np.float16),
               "model.norm.bias": np.arange(8, dtype=np.float32),
               "mask": np.array([True, False, True])}
    h = onecopy.put("model", weights)
    assert h.is_bundle and h.keys() == list(weights)
    assert "mask" in h and "nope" not in h
    for k, v in weights.items():
        assert h[k].dtype == v.dtype and np.array_equal(h[k], v)
        assert h[k].ctypes.data % 64 == 0  # tensors start at 64-byte boundaries
    with pytest.raises(KeyError, match="no tensor 'nope'"):
        h["nope"]
    with pytest.raises(TypeError, match="bundle"):
        np.asarray(h)
    assert np.array_equal(np.asarray(onecopy.open("model").tensor("mask")), weights["mask"])


def test_open_or_create_fills_once_and_then_attaches():
    calls = []

    def fill(a):
        calls.append(a.shape)
        a[...] = np.arange(12, dtype=np.float32).reshape(3, 4)

    h = onecopy.open_or_create("lut", (3, 4), np.float32, fill)
    assert calls == [(3, 4)]
    h2 = onecopy.open_or_create("lut", (3, 4), "f32", fill)
    assert calls == [(3, 4)]
    assert np.array_equal(np.asarray(h2), np.arange(12, dtype=np.float32).reshape(3, 4))
    assert np.asarray(h).ctypes.data == np.asarray(h2).ctypes.data  # one mapping per process
    assert np.all(np.asarray(onecopy.open_or_create("z", 5, "u8")) == 0)
    assert np.all(np.asarray(onecopy.open_or_create("sev", [2, 2], "i16", 7)) == 7)


def test_open_or_create_refuses_another_shape_or_dtype():
    onecopy.open_or_create("lut", (3, 4), "f32")
    with pytest.raises(ValueError, match=r"exists as f32\[3, 4\], asked for f64\[3, 4\]"):
        onecopy.open_or_create("lut", (3, 4), "f64")


def test_a_fill_that_raises_leaves_nothing_behind(store_dir):
    def boom(a):
        raise RuntimeError("no data today")

    with pytest.raises(RuntimeError, match="no data today"):
        onecopy.open_or_create("lut", (3,), "f32", boom)
    with pytest.raises(FileNotFoundError):
        onecopy.open("lut")
    assert [f for f in os.listdir(store_dir) if not f.startswith(".")] == []
    assert np.all(np.asarray(onecopy.open_or_create("lut", (3,), "f32", 1.5)) == 1.5)


def test_ls_and_rm():
    b = onecopy.put("b", np.zeros(3, np.uint8))
    onecopy.put("a", {"x": np.zeros(2)})  # dropped: nobody maps it
    rows = onecopy.ls()
    assert [r["name"] for r in rows] == ["a", "b"]
    assert rows[0]["bundle"] and rows[0]["tensors"] == ["x"]
    assert rows[1]["dtype"] == "u8" and rows[1]["shape"] == (3,) and rows[1]["nbytes"] == 3
    assert rows[1]["mapped_by"] == [os.getpid()] and rows[0]["mapped_by"] == []
    del b
    onecopy.rm("b")
    assert [r["name"] for r in onecopy.ls()] == ["a"]


def test_replace_publishes_a_new_version_and_readers_keep_the_old():
    old = np.asarray(onecopy.put("v", np.full(4, 1.0)))
    onecopy.put("v", np.full(4, 2.0), replace=True)
    assert np.all(np.asarray(onecopy.open("v")) == 2.0)
    assert np.all(old == 1.0)


def test_topology_lists_nodes_and_pools():
    t = onecopy.topology()
    assert t["source"] == "sysfs" and t["nodes"]
    node = t["nodes"][0]
    assert {"id", "cpus", "memory_total", "memory_free", "hugepages"} <= set(node)
    assert t["base_page_size"] >= 4096
    assert all({"page_size", "total", "free"} <= set(p) for p in t["hugepages"])


def test_numa_and_pages_arguments():
    h = onecopy.put("n", np.zeros(10), numa="none", pages="4k")
    assert h.info()["placement"] == "local"  # "none" is the old spelling of local
    assert h.info()["placement_asked"] == "local"
    assert h.report["page_size"] == 4096
    onecopy.put("n2", np.zeros(10), numa="interleave")
    onecopy.put("n3", np.zeros(10), numa="bind:0")
    assert onecopy.open("n3").info()["placement"] == "bind:0"
    assert onecopy.open("n3").info()["placement_asked"] == "bind"


# ---- errors --------------------------------------------------------------------------------

def test_missing_segment_is_file_not_found():
    with pytest.raises(FileNotFoundError, match="attach segment 'nope': not found") as e:
        onecopy.open("nope")
    assert e.value.errno == errno.ENOENT
    with pytest.raises(FileNotFoundError):
        onecopy.rm("nope")


def test_existing_name_is_file_exists():
    onecopy.put("t", np.zeros(3))
    with pytest.raises(FileExistsError, match="create segment 't'") as e:
        onecopy.put("t", np.zeros(3))
    assert e.value.errno == errno.EEXIST
    # Python's own spelling, never the CLI's.
    assert "pass replace=True, or onecopy.rm('t') first" in str(e.value)
    assert "--replace" not in str(e.value)


@pytest.mark.parametrize("call,message", [
    (lambda: onecopy.put(".hidden", [1]), "invalid segment name"),
    (lambda: onecopy.put("a/b", [1]), "invalid segment name"),
    (lambda: onecopy.put("t", [1], numa="everywhere"), "bad NUMA placement"),
    (lambda: onecopy.put("t", [1], pages="3m"), "3m"),
    (lambda: onecopy.put("t", np.array(["text"])), "cannot be stored"),
    (lambda: onecopy.put("t", np.array([object()])), "cannot be stored"),
    (lambda: onecopy.put("t", {}), "empty mapping"),
    (lambda: onecopy.put("t", np.zeros(0)), "0 bytes"),
    (lambda: onecopy.open_or_create("t", (2,), "quaternion"), "unknown dtype"),
])
def test_bad_arguments_are_value_errors(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_malformed_file_is_format_error(store_dir):
    path = onecopy.put("bad", np.zeros(1000)).path
    onecopy.forget()
    os.chmod(path, 0o644)
    with open(path, "r+b") as f:
        f.seek(-4096, os.SEEK_END)  # format v2: the fixed header is the file's last 4 KiB
        f.write(b"NOTONECP")  # the magic
    with pytest.raises(onecopy.FormatError, match="magic") as e:
        onecopy._attach.store(store_dir).attach("bad")  # a fresh attach, not this process's mapping
    assert isinstance(e.value, ValueError)


def test_store_directory_not_private_is_permission_error(store_dir):
    os.chmod(store_dir, 0o755)
    try:
        with pytest.raises(PermissionError) as e:
            onecopy.put("t", np.zeros(3))
        assert e.value.errno in (errno.EACCES, errno.EPERM)
        assert store_dir in str(e.value)
    finally:
        os.chmod(store_dir, 0o700)


def test_error_classes_are_the_documented_ones():
    assert issubclass(onecopy.FormatError, ValueError)
    for cls in (onecopy.NoSpaceError, onecopy.HugePagePoolError, onecopy.OutOfMemoryError):
        assert issubclass(cls, OSError)
    e = onecopy.NoSpaceError(errno.ENOSPC, "no space left in /x")
    assert e.errno == errno.ENOSPC


def test_bf16_without_ml_dtypes_is_raw_bits(monkeypatch):
    monkeypatch.setattr(_dtypes, "ml_dtypes", None)
    h = onecopy.open_or_create("w", (2, 3), "bf16")
    assert h.dtype_name == "bf16" and h.dtype == np.uint16 and h.shape == (2, 3)
    assert np.all(np.asarray(h) == 0)
    with pytest.raises(ValueError, match="needs ml_dtypes"):
        onecopy.open_or_create("w2", (2,), "bf16", 1.0)
    bits = onecopy.open_or_create("w3", (2,), "bf16", lambda a: a.__setitem__(..., 0x3F80))
    assert np.all(np.asarray(bits) == 0x3F80)  # 1.0 in bf16


def test_numa_auto_asks_the_planner_and_says_why():
    h = onecopy.put("p", np.zeros(1000))
    plan = h.report["plan"]
    assert plan["policy"] in ("bind", "interleave", "replicate", "local")
    assert plan["reasons"] and plan["summary"]
    assert h.report["plan"] is not None and onecopy.put("q", [1], numa="none").report["plan"] is None
    with pytest.raises(ValueError, match="node 999"):
        onecopy.put("r", [1], numa="replicate:999")


def test_replicated_segment_keeps_its_name():
    h = onecopy.put("rep", np.arange(10), numa="replicate")
    assert h.name == "rep" and "@node" in h.path
    assert np.array_equal(np.asarray(onecopy.open("rep")), np.arange(10))
    assert np.array_equal(np.asarray(pickle.loads(pickle.dumps(h))), np.arange(10))
    onecopy.rm("rep")
    with pytest.raises(FileNotFoundError):
        onecopy.open("rep")
