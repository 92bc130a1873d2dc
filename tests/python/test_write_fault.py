# SPDX-License-Identifier: Apache-2.0
# The write-fault report, in real child processes: a write through a shared array or tensor
# still kills the process with SIGSEGV, after one line naming the segment, offset and tensor.
import os
import resource
import signal
import subprocess
import sys

import numpy as np
import pytest

import onecopy

MESSAGE = "onecopy: write to read-only onecopy segment 'w' (offset "


def run_child(code: str, **env) -> subprocess.CompletedProcess:
    environment = dict(os.environ, **env)
    if "libasan" in environment.get("LD_PRELOAD", ""):
        # ASan's own SEGV handler would end the process with exit code 1, not the signal.
        environment["ASAN_OPTIONS"] = environment.get("ASAN_OPTIONS", "") + ":handle_segv=0"
    no_core = lambda: resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # noqa: E731
    return subprocess.run([sys.executable, "-c", code], env=environment, capture_output=True,
                          text=True, timeout=300, preexec_fn=no_core)


@pytest.fixture
def bundle():
    return onecopy.put("w", {"bias": np.zeros(16, np.float32),
                             "layer.weight": np.ones((4, 8), np.float32)})


NUMPY_WRITE = """
import ctypes, numpy as np, onecopy
a = onecopy.open("w")["layer.weight"]
# A writable view of the read-only pages (numpy refuses to make one: go through ctypes).
w = np.ctypeslib.as_array((ctypes.c_float * a.size).from_address(a.ctypes.data))
w[3] = 2.0
print("survived")
"""


def test_a_numpy_write_dies_of_sigsegv_naming_segment_and_tensor(bundle):
    r = run_child(NUMPY_WRITE)
    assert r.returncode == -signal.SIGSEGV, r.stderr
    offset = bundle.tensor("layer.weight").address - bundle._segment.data_address + 12
    assert f"{MESSAGE}{offset}, tensor 'layer.weight' byte 12)" in r.stderr
    assert r.stderr.count("onecopy: write to") == 1 and "survived" not in r.stdout


def test_opting_out_leaves_the_bare_signal(bundle):
    r = run_child(NUMPY_WRITE, ONECOPY_FAULT_HANDLER="0")
    assert r.returncode == -signal.SIGSEGV and "onecopy" not in r.stderr
    r = run_child("import onecopy; assert not onecopy.fault_handler(False); " + NUMPY_WRITE)
    assert r.returncode == -signal.SIGSEGV and "onecopy" not in r.stderr


def test_other_faults_pass_through_untouched():
    r = run_child("import ctypes, onecopy; assert onecopy.fault_handler(); ctypes.string_at(8)")
    assert r.returncode == -signal.SIGSEGV and "onecopy" not in r.stderr


def test_python_faulthandler_still_runs_after_the_report(bundle):
    r = run_child("import faulthandler; faulthandler.enable()\n" + NUMPY_WRITE)
    assert r.returncode == -signal.SIGSEGV
    assert MESSAGE in r.stderr and "Fatal Python error: Segmentation fault" in r.stderr


TORCH_ADD = """
import torch, onecopy
t = torch.from_dlpack(onecopy.open("w").tensor("layer.weight"))
t.add_(1)
print("survived")
"""

TORCH_SGD = """
import torch, onecopy
p = torch.nn.Parameter(torch.from_dlpack(onecopy.open("w").tensor("bias")))
p.grad = torch.ones_like(p)
torch.optim.SGD([p], lr=0.1).step()
print("survived")
"""


@pytest.mark.parametrize("code,tensor", [(TORCH_ADD, "layer.weight"), (TORCH_SGD, "bias")],
                         ids=["add_", "sgd_step"])
def test_a_torch_write_dies_of_sigsegv_naming_the_tensor(bundle, code, tensor):
    pytest.importorskip("torch")
    r = run_child(code)
    assert r.returncode == -signal.SIGSEGV, r.stderr
    assert MESSAGE in r.stderr and f"tensor '{tensor}' byte 0)" in r.stderr
