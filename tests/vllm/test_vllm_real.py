# SPDX-License-Identifier: Apache-2.0
"""onecopy.vllm against the real vLLM, on the CPU (ctest label vllm; runs in the venv that
scripts/install-deps.sh --vllm builds). vLLM's CPU platform (VLLM_TARGET_DEVICE=cpu) builds a
real LlamaForCausalLM with its own parallel layers, on a tiny Llama checkpoint written here by
transformers; the onecopy loader must give it exactly the weights vLLM's own safetensors loader
gives, from one shared copy. Not run here: a forward pass (this PyPI build of vLLM has no CPU
kernels, vllm._C) and GPUs."""
import os
import subprocess
import sys

os.environ.setdefault("VLLM_TARGET_DEVICE", "cpu")

import pytest  # noqa: E402

vllm = pytest.importorskip("vllm", reason="vLLM is not installed in this python")
import torch  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

import onecopy  # noqa: E402
import onecopy.torch  # noqa: E402
import onecopy.vllm as ov  # noqa: E402

_WORKER = r"""
import os, sys
os.environ.setdefault("VLLM_TARGET_DEVICE", "cpu")
import onecopy.vllm as ov, onecopy.torch
from test_vllm_real import load_with
model, loader = load_with(sys.argv[1], "onecopy", {"bundle": "tiny"}, port=int(sys.argv[2]))
start, end = onecopy.torch.mapping_range("tiny")
inside = sum(start <= p.data_ptr() < end for p in model.parameters())
print(inside, loader.shared[0], float(sum(p.double().sum() for p in model.parameters())))
"""


_TP_RANK = r"""
import os, sys
os.environ.setdefault("VLLM_TARGET_DEVICE", "cpu")
import torch, onecopy.torch
from test_vllm_real import load_with
rank, world, port = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
reference, _ = load_with(sys.argv[1], "safetensors", rank=rank, world=world, port=port)
model, loader = load_with(sys.argv[1], "onecopy", {"bundle": "tiny-tp"}, rank=rank, world=world)
ref = dict(reference.named_parameters())
same = all(torch.equal(p, ref[n]) for n, p in model.named_parameters())
start, end = onecopy.torch.mapping_range("tiny-tp")
inside = sorted(n for n, p in model.named_parameters() if start <= p.data_ptr() < end)
print(same, tuple(ref["model.embed_tokens.weight"].shape), ",".join(inside))
"""


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(vocab_size=256, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128,
                      tie_word_embeddings=False)
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("models") / "tiny-llama"
    LlamaForCausalLM(cfg).save_pretrained(folder, safe_serialization=True)
    return str(folder)


@pytest.fixture(scope="module", autouse=True)
def store(tmp_path_factory):
    d = tmp_path_factory.mktemp("store")
    os.environ["ONECOPY_DIR"] = str(d)
    os.environ["ONECOPY_CONF"] = "/nonexistent/onecopy.conf"
    return d


_distributed = []


def load_with(model_dir, load_format, extra=None, port=29533, rank=0, world=1):
    """vLLM's own path: VllmConfig → get_model_loader → load_model on the CPU, as tensor-parallel
    rank `rank` of `world` (gloo; the first call in a process sets up the process group)."""
    from vllm.config import (DeviceConfig, LoadConfig, ModelConfig, ParallelConfig, VllmConfig,
                             set_current_vllm_config)
    from vllm.distributed import init_distributed_environment, initialize_model_parallel
    from vllm.model_executor.model_loader import get_model_loader

    ov.register()
    mc = ModelConfig(model=model_dir, dtype="float32", max_model_len=128)
    lc = LoadConfig(load_format=load_format, model_loader_extra_config=extra or {})
    vc = VllmConfig(model_config=mc, load_config=lc, device_config=DeviceConfig("cpu"),
                    parallel_config=ParallelConfig(tensor_parallel_size=world))
    loader = get_model_loader(lc)
    with set_current_vllm_config(vc):
        if not _distributed:
            init_distributed_environment(world_size=world, rank=rank, local_rank=rank,
                                         backend="gloo",
                                         distributed_init_method=f"tcp://127.0.0.1:{port}")
            initialize_model_parallel(world, 1)
            _distributed.append(True)
        return loader.load_model(vllm_config=vc, model_config=mc), loader


def test_registered_as_a_load_format():
    from vllm.config import LoadConfig
    from vllm.model_executor.model_loader import get_model_loader

    cls = ov.register()
    assert ov.register() is cls  # idempotent
    loader = get_model_loader(LoadConfig(load_format="onecopy",
                                         model_loader_extra_config={"bundle": "x"}))
    assert type(loader) is cls and loader.options["bundle"] == "x"
    with pytest.raises(ov.LoaderConfigError, match="unknown model_loader_extra_config key"):
        get_model_loader(LoadConfig(load_format="onecopy", model_loader_extra_config={"x": 1}))


def test_same_weights_as_vllms_safetensors_loader_from_one_shared_copy(model_dir):
    reference, _ = load_with(model_dir, "safetensors")
    model, loader = load_with(model_dir, "onecopy", {"bundle": "tiny"})  # publishes on first use
    ref = dict(reference.named_parameters())
    got = dict(model.named_parameters())
    assert sorted(got) == sorted(ref)
    for name, p in got.items():
        assert p.dtype == ref[name].dtype and torch.equal(p, ref[name]), name
    # Unfused, unsharded weights point into the segment; fused ones (qkv_proj, gate_up_proj:
    # vLLM concatenates q, k, v and gate, up) are vLLM's own copies.
    start, end = onecopy.torch.mapping_range("tiny")
    inside = {n for n, p in got.items() if start <= p.data_ptr() < end}
    assert inside and all("qkv_proj" not in n and "gate_up_proj" not in n for n in inside)
    assert {n for n in got if "o_proj" in n or "down_proj" in n or "norm" in n} <= inside
    assert loader.shared[0] == len(inside)
    assert "model.layers.0.self_attn.qkv_proj.weight" not in inside


def test_replicas_in_other_processes_attach_the_same_copy(model_dir):
    load_with(model_dir, "onecopy", {"bundle": "tiny"})  # make sure it is published
    here = os.path.dirname(__file__)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([here, os.environ.get("PYTHONPATH", "")])}
    procs = [subprocess.Popen([sys.executable, "-c", _WORKER, model_dir, str(29540 + i)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=400)
        assert p.returncode == 0, err[-3000:]
        results.append(out.strip().splitlines()[-1].split())
    assert results[0] == results[1]  # same parameters, same number mapped from the segment
    assert int(results[0][0]) == int(results[0][1]) > 0
    assert [s["name"] for s in onecopy.ls()] == ["tiny"]  # still one bundle on the host


def test_tensor_parallel_ranks_take_their_shards_from_one_copy(model_dir):
    """TP=2 over gloo: each rank's parameters equal vLLM's own loader's for that rank (vocab and
    column shards), both ranks read one bundle (published by whichever came first), and the
    weights every rank holds whole (the norms) are the shared copy in both."""
    here = os.path.dirname(__file__)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([here, os.environ.get("PYTHONPATH", "")])}
    procs = [subprocess.Popen([sys.executable, "-c", _TP_RANK, model_dir, str(rank), "2", "29561"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for rank in range(2)]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=400)
        assert p.returncode == 0, err[-3000:]
        results.append(out.strip().splitlines()[-1].split())
    norms = ",".join(sorted(f"model.layers.{i}.{n}.weight" for i in range(2)
                            for n in ("input_layernorm", "post_attention_layernorm"))
                     + ["model.norm.weight"])
    assert results == [["True", "(128,", "64)", norms]] * 2  # half of the 256-row vocabulary each
    assert "tiny-tp" in [s["name"] for s in onecopy.ls()]


def test_missing_bundle_and_mismatched_tensors_are_named(model_dir, tmp_path):
    with pytest.raises(FileNotFoundError, match="bundle 'absent' does not exist and publish is off"):
        load_with(model_dir, "onecopy", {"bundle": "absent", "publish": False})
    state = dict(onecopy.torch.state_dict("tiny"))
    bad = {k: v.clone() for k, v in state.items()}
    bad["model.layers.1.mlp.down_proj.weight"] = torch.zeros(64, 127)
    onecopy.torch.put_state_dict("tiny-bad", bad)
    with pytest.raises(RuntimeError, match="loading bundle 'tiny-bad' into LlamaForCausalLM failed "
                                           "at tensor 'model.layers.1.mlp.down_proj.weight'"):
        load_with(model_dir, "onecopy", {"bundle": "tiny-bad", "publish": False})
    del bad["model.norm.weight"]
    onecopy.torch.put_state_dict("tiny-partial", bad | {"model.layers.1.mlp.down_proj.weight":
                                                        state["model.layers.1.mlp.down_proj.weight"]})
    with pytest.raises(ValueError, match=r"'tiny-partial' left 1 parameter\(s\) of "
                                         r"LlamaForCausalLM without weights: model.norm.weight"):
        load_with(model_dir, "onecopy", {"bundle": "tiny-partial", "publish": False})
