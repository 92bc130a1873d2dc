# SPDX-License-Identifier: Apache-2.0
# The arrays are the shared mapping itself: same address, read-only for good, alive as long as
# an array or DLPack capsule is, and gone when nothing uses them.
import gc
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

import onecopy
from onecopy import _dtypes
from workers import mapping_ranges


def inside_mapping(address, path):
    return any(s <= address < e for s, e in mapping_ranges(path))


def test_array_is_the_mapping_by_address():
    h = onecopy.put("t", np.arange(100_000, dtype=np.float64))
    a = np.asarray(h)
    assert a.ctypes.data == h.tensor().address
    assert inside_mapping(a.ctypes.data, h.path)
    assert np.asarray(h).ctypes.data == a.ctypes.data  # no copy on the second call either
    assert np.asarray(onecopy.open("t")).ctypes.data == a.ctypes.data  # one mapping per process


def test_bundle_tensors_are_the_mapping_by_address():
    h = onecopy.put("m", {"a": np.ones(1000, np.float32), "b": np.zeros((3, 5), np.int8)})
    for k in h.keys():
        assert h[k].ctypes.data == h.tensor(k).address
        assert inside_mapping(h[k].ctypes.data, h.path)


def test_numpy_refuses_to_make_the_array_writeable():
    a = np.asarray(onecopy.put("t", np.arange(10)))
    assert not a.flags.writeable
    with pytest.raises(ValueError, match="read-only"):
        a[0] = 1
    with pytest.raises(ValueError, match="WRITEABLE"):
        a.flags.writeable = True
    with pytest.raises(ValueError, match="WRITEABLE"):
        a.setflags(write=True)
    view = a[2:5].view(np.uint8)
    with pytest.raises(ValueError):
        view.flags.writeable = True
    b = np.array(onecopy.open("t"))  # an explicit copy is the caller's own, writable memory
    b[0] = 7
    assert b.flags.writeable and a[0] == 0


def test_a_write_through_the_raw_pointer_faults():
    """The pages are PROT_READ: even ctypes cannot write them (the process dies of SIGSEGV)."""
    h = onecopy.put("t", np.arange(10))
    code = ("import ctypes, numpy as np, onecopy;"
            "a = np.asarray(onecopy.open('t'));"
            "ctypes.memset(a.ctypes.data, 0, 1)")
    env = dict(os.environ, ASAN_OPTIONS=os.environ.get("ASAN_OPTIONS", "") + ":handle_segv=0")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True)
    assert r.returncode == -signal.SIGSEGV, r.stderr.decode()[-2000:]
    assert np.array_equal(np.asarray(h), np.arange(10))


def test_array_keeps_the_mapping_alive_after_handle_and_name_are_gone():
    path = onecopy.put("t", np.arange(1000)).path
    a = np.asarray(onecopy.open("t"))
    gc.collect()
    onecopy.rm("t")
    gc.collect()
    assert inside_mapping(a.ctypes.data, path + " (deleted)") or inside_mapping(a.ctypes.data, path)
    assert a.sum() == sum(range(1000))
    with pytest.raises(FileNotFoundError):
        onecopy.open("t")


def test_mapping_goes_away_when_nothing_uses_it():
    path = onecopy.put("t", np.arange(1000)).path
    gc.collect()
    assert mapping_ranges(path) == []
    a = np.asarray(onecopy.open("t"))
    assert len(mapping_ranges(path)) == 1
    del a
    gc.collect()
    assert mapping_ranges(path) == []


def test_dlpack_shares_memory_and_marks_it_read_only():
    h = onecopy.put("t", np.arange(12, dtype=np.int32).reshape(3, 4))
    assert h.__dlpack_device__() == (1, 0)
    d = np.from_dlpack(h)
    assert d.ctypes.data == h.tensor().address and d.shape == (3, 4) and d.dtype == np.int32
    assert not d.flags.writeable
    with pytest.raises(ValueError):
        d.flags.writeable = True
    del h
    onecopy.forget()
    gc.collect()
    assert d.sum() == 66  # the capsule's owner keeps the mapping


def test_dlpack_copy_request_gives_a_private_copy():
    h = onecopy.put("t", np.arange(4.0))
    c = np.from_dlpack(h, copy=True)
    assert c.ctypes.data != h.tensor().address and np.array_equal(c, np.arange(4.0))


def test_dlpack_of_bundle_tensors_and_legacy_consumers():
    h = onecopy.put("m", {"w": np.ones((2, 2), np.float16)})
    d = np.from_dlpack(h.tensor("w"))
    assert d.ctypes.data == h.tensor("w").address and d.dtype == np.float16
    # A pre-1.0 consumer (no max_version) gets an unversioned capsule, which has no read-only
    # flag: the pages are still PROT_READ.
    assert type(h.tensor("w").__dlpack__()).__name__ == "PyCapsule"


@pytest.mark.skipif(_dtypes.ml_dtypes is None, reason="ml_dtypes is not installed")
def test_dlpack_carries_bf16_as_bf16():
    h = onecopy.put("m", {"w": np.ones(4, _dtypes.ml_dtypes.bfloat16)})
    with pytest.raises((BufferError, TypeError, RuntimeError)):
        np.from_dlpack(h.tensor("w"))  # numpy has no bf16: it says so instead of misreading
    torch = pytest.importorskip("torch", reason="torch is not installed (PyPI's wheels pull CUDA)")
    t = torch.from_dlpack(h.tensor("w"))
    assert t.dtype == torch.bfloat16 and t.data_ptr() == h.tensor("w").address


SHARING_CHILD = """
import json, numpy as np, onecopy
h = onecopy.open("big")
before = h.sharing()
total = float(np.asarray(h).sum())          # reads every page: mapped, not copied
read = h.sharing()
copy = np.array(np.asarray(h))              # a private copy: shows as private
copied = h.sharing()
print(json.dumps([before, read, copied, total, float(copy[-1])]))
"""


def test_sharing_says_mapped_from_the_segment_versus_private():
    import json
    import subprocess
    import sys
    n = 4 << 20  # 32 MiB of f64
    onecopy.put("big", np.arange(n, dtype=np.float64), pages="4k")
    out = subprocess.run([sys.executable, "-c", SHARING_CHILD], capture_output=True, text=True,
                         check=True).stdout
    before, read, copied, total, last = json.loads(out)
    nbytes = 8 * n
    assert before["name"] == "big" and before["nbytes"] == nbytes and before["page_size"] == 4096
    assert before["mapped"] < nbytes // 4                 # attach maps, touches almost nothing
    assert read["mapped"] >= nbytes                       # every page, shared
    assert read["process_private"] - before["process_private"] < nbytes // 4
    assert copied["process_private"] - read["process_private"] >= nbytes * 0.9
    assert total == (n - 1) * n / 2 and last == n - 1
