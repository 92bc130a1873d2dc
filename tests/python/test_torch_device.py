# SPDX-License-Identifier: Apache-2.0
# onecopy.torch.to_device on a GPU through `onecopy serve` (one device copy per GPU for every
# process), and its binding onecopy._core.serve_device_array, against a real server started on
# the test's private store. Without a GPU: the refusal carries the server's own reason, a missing
# server is named by its socket path, and the fallback to a per-process copy says why. The GPU
# test at the end runs only where CUDA works (never here).
import gc
import json
import os
import signal
import subprocess
import sys
import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (onecopy[torch])")

import onecopy  # noqa: E402
import onecopy.torch as oct  # noqa: E402
from onecopy import _core  # noqa: E402
from serve_process import Server  # noqa: E402


@pytest.fixture
def server(onecopy_cli):
    """A server on the test's private store (its socket: <store>/.locks/serve.sock)."""
    s = Server(onecopy_cli)
    yield s
    assert s.stop() == 0, "the server did not stop cleanly"


def weights():
    rng = np.random.default_rng(3)
    return {"embed.weight": torch.from_numpy(rng.standard_normal((8, 4)).astype(np.float32)),
            "mix.weight": torch.arange(12, dtype=torch.bfloat16).reshape(3, 4),
            "scale": torch.tensor([0.5, 2.0], dtype=torch.float16)}


def test_binding_imports_and_names_its_socket_without_cuda(store_dir, monkeypatch):
    assert {"DeviceArray", "serve_device_array", "serve_socket_path"} <= set(dir(_core))
    assert _core.serve_socket_path() == os.path.join(store_dir, ".locks", "serve.sock")
    monkeypatch.setenv("ONECOPY_SOCKET", "/run/elsewhere/serve.sock")
    assert _core.serve_socket_path() == "/run/elsewhere/serve.sock"


def test_no_server_is_an_oserror_naming_the_socket(store_dir):
    onecopy.put("w", np.arange(10, dtype=np.float32))
    sock = os.path.join(store_dir, ".locks", "serve.sock")
    with pytest.raises(OSError, match=rf"connect\({sock}\).*is 'onecopy serve' running\?"):
        _core.serve_device_array("w", 0)


def test_server_without_gpu_refuses_with_its_own_reason(server, onecopy_cli):
    if not server.gpu_reason:
        pytest.skip(f"the server has a GPU ({server.gpu_line}): the GPU test covers it")
    oct.put_state_dict("tiny", weights())
    with pytest.raises(RuntimeError) as e:
        _core.serve_device_array("tiny", 0)
    message = str(e.value)
    assert f"device copy of 'tiny' on cuda:0 from onecopy serve at {server.socket}" in message
    assert f"the server has no usable GPU: {server.gpu_reason}" in message
    # A refusal is not a crash: the server still runs, and our connection (and lease) is gone.
    assert server.proc.poll() is None
    status = server.status(onecopy_cli)
    assert all(c["pid"] != os.getpid() for c in status["connections"]), status
    assert status["gpu"]["reason"] == server.gpu_reason


def test_a_socket_given_by_onecopy_socket_is_the_one_asked(onecopy_cli, store_dir, monkeypatch):
    sock = os.path.join(store_dir, "private.sock")
    s = Server(onecopy_cli, "--socket", sock)
    try:
        assert s.socket == sock
        if not s.gpu_reason:
            pytest.skip(f"the server has a GPU ({s.gpu_line})")
        oct.put_state_dict("tiny", weights())
        monkeypatch.setenv("ONECOPY_SOCKET", sock)
        with pytest.raises(RuntimeError, match=rf"onecopy serve at {sock} .*no usable GPU"):
            _core.serve_device_array("tiny", 0)
        monkeypatch.delenv("ONECOPY_SOCKET")
        with pytest.raises(RuntimeError, match=rf"through onecopy serve: .*{sock}.*state_dict"):
            oct.to_device("tiny", "cuda:0", via="serve", socket=sock)
    finally:
        assert s.stop() == 0


def test_to_device_without_server_warns_naming_the_socket_then_says_why(store_dir):
    if torch.cuda.is_available():
        pytest.skip("a CUDA device exists: the no-GPU path does not apply")
    oct.put_state_dict("tiny", weights())
    sock = os.path.join(store_dir, ".locks", "serve.sock")
    with pytest.warns(RuntimeWarning, match=rf"no shared device copy of bundle 'tiny' on cuda:0 "
                                            rf"from onecopy serve \(.*connect\({sock}\)"):
        with pytest.raises(RuntimeError) as e:
            oct.to_device("tiny", "cuda:0")
    message = str(e.value)
    assert message.startswith("cannot place bundle 'tiny' on cuda:0: ")
    assert sock in message  # the server's part of the story
    assert message.endswith("the host view is onecopy.torch.state_dict('tiny') (zero-copy)")
    with pytest.raises(RuntimeError, match=rf"cannot place bundle 'tiny' on cuda:0 through "
                                           rf"onecopy serve: .*{sock}.*state_dict\('tiny'\)"):
        oct.to_device("tiny", "cuda:0", via="serve")


def test_to_device_with_a_server_without_gpu_gives_the_servers_reason(server):
    if not server.gpu_reason or torch.cuda.is_available():
        pytest.skip(f"a GPU is present ({server.gpu_line})")
    oct.put_state_dict("tiny", weights())
    with pytest.raises(RuntimeError) as e:
        oct.to_device("tiny", "cuda:0", via="serve")
    assert server.gpu_reason in str(e.value) and "state_dict('tiny')" in str(e.value)
    with pytest.warns(RuntimeWarning, match="no usable GPU"):
        with pytest.raises(RuntimeError, match=r"state_dict\('tiny'\)"):
            oct.to_device("tiny", "cuda:0")
    # via="process" does not ask the server: no warning, just this process's reason.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(RuntimeError, match=r"^cannot place bundle 'tiny' on cuda:0: [^(]"):
            oct.to_device("tiny", "cuda:0", via="process")
    assert server.proc.poll() is None


def test_to_device_rejects_an_unknown_way():
    oct.put_state_dict("tiny", weights())
    with pytest.raises(ValueError, match=r"via='mpi'; one of 'auto', 'serve', 'process'"):
        oct.to_device("tiny", "cuda:0", via="mpi")


# -- on a GPU host (not run here: no GPU) --------------------------------------------------

HOLDER = """
import sys, onecopy.torch as oct
sd = oct.to_device("tiny", "cuda:0", via="serve")
print(sum(t.numel() for t in sd.values()), flush=True)
sys.stdin.read()  # hold the tensors (and the lease) until the test closes stdin
"""


def test_served_tensors_are_one_copy_per_gpu_for_every_process(server, onecopy_cli):
    if server.gpu_reason or not torch.cuda.is_available():
        pytest.skip(f"needs a usable GPU: {server.gpu_reason or 'torch.cuda.is_available() is False'}")
    ref = weights()
    oct.put_state_dict("tiny", ref)
    sd = oct.to_device("tiny", "cuda:0", via="serve")
    assert list(sd) == list(ref)
    for k, t in sd.items():
        assert t.device == torch.device("cuda:0") and t.dtype == ref[k].dtype, k
        assert torch.equal(t.cpu(), ref[k]), k
    # A second process imports the same copy: the server holds one per GPU, leased twice.
    holder = subprocess.Popen([sys.executable, "-c", HOLDER], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert int(holder.stdout.readline()) == sum(t.numel() for t in ref.values())
        status = server.status(onecopy_cli)
        (seg,) = [s for s in status["segments"] if s["name"] == "tiny"]
        assert len(seg["device_copies"]) == 1, seg
        leased_by = {c["pid"] for c in status["connections"]
                     if any(lease["kind"] == "device" for lease in c["leases"])}
        assert {os.getpid(), holder.pid} <= leased_by, status
    finally:
        holder.stdin.close()
        assert holder.wait(timeout=60) == 0
    # The tensors hold the lease: it goes with the last of them.
    del sd, t
    gc.collect()
    status = server.status(onecopy_cli)
    assert all(c["pid"] != os.getpid() for c in status["connections"]), status
