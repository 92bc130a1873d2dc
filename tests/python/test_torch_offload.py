# SPDX-License-Identifier: Apache-2.0
# Shared CPU offload (docs/torch.md): several processes run a model whose host-resident
# weights are one onecopy bundle. Together they hold one host copy; none holds a private one.
import multiprocessing
import os

import pytest

torch = pytest.importorskip("torch", reason="torch is not installed (onecopy[torch])")

import onecopy  # noqa: E402
import onecopy.torch as oct  # noqa: E402
from workers import mapping_memory, private_bytes  # noqa: E402

PROCESSES = 3
LAYERS, WIDTH = 8, 1024  # 32 MiB of f32 weights


def mlp():
    return torch.nn.Sequential(*[torch.nn.Linear(WIDTH, WIDTH) for _ in range(LAYERS)])


def worker(published, results, done):
    try:
        torch.set_num_threads(1)
        published.wait(60)
        before = private_bytes()
        with torch.device("meta"):
            model = mlp()
        device = "cuda:0" if torch.cuda.is_available() else "cpu"
        oct.offload(model, "mlp", device)
        x = torch.ones(4, WIDTH, device=device)
        with torch.no_grad():
            y = model(x).cpu()
        path = onecopy.open("mlp").path
        results.put({"pid": os.getpid(), "y": y, "grown": private_bytes() - before,
                     "path": path, "segment": mapping_memory(path)})
    except BaseException as e:
        results.put({"pid": os.getpid(), "error": repr(e)})
    done.wait(60)


def test_processes_running_an_offloaded_model_share_one_host_copy():
    # Fork first, so nothing the parent allocates later is in the workers' memory.
    ctx = multiprocessing.get_context("fork")
    published, results, done = ctx.Event(), ctx.Queue(), ctx.Event()
    procs = [ctx.Process(target=worker, args=(published, results, done))
             for _ in range(PROCESSES)]
    for p in procs:
        p.start()
    try:
        torch.manual_seed(0)
        ref = mlp().eval()
        weights = oct.put_state_dict("mlp", ref).nbytes
        with torch.no_grad():
            expected = ref(torch.ones(4, WIDTH))
        published.set()
        got = [results.get(timeout=120) for _ in procs]
        assert not [g["error"] for g in got if "error" in g]
        pss = sum(mapping_memory(got[0]["path"], g["pid"])["Pss"] for g in got)
    finally:
        done.set()
        for p in procs:
            p.join(30)
    for g in got:
        assert torch.equal(g["y"], expected)
        assert g["segment"]["Rss"] >= weights * 0.9  # it ran from the shared pages
        assert g["grown"] < weights // 2, (g["grown"], weights)  # no private copy
    assert pss <= weights * 1.1, (pss, weights)


def test_offload_to_a_missing_gpu_says_why_and_loads_nothing():
    if torch.cuda.is_available():
        pytest.skip("a CUDA device exists: the no-GPU path does not apply")
    torch.manual_seed(0)
    oct.put_state_dict("mlp", mlp())
    with torch.device("meta"):
        model = mlp()
    with pytest.raises(RuntimeError, match=r"cannot offload to cuda:0: .*device='cpu'"):
        oct.offload(model, "mlp", "cuda:0")
    assert all(p.is_meta for p in model.parameters())
