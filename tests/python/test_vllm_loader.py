# SPDX-License-Identifier: Apache-2.0
"""onecopy.vllm without vLLM: the loader's options, bundle names, checkpoint discovery,
publish-on-first-use from real safetensors files by racing processes, and loading into a torch
module through the load_weights(Iterable[(name, tensor)]) protocol vLLM's models implement.
The parts that need vLLM itself run in tests/vllm (label vllm)."""
import multiprocessing as mp
import os
import subprocess
import sys

import numpy as np
import pytest

import onecopy

torch = pytest.importorskip("torch", reason="torch is not installed (scripts/install-deps.sh --torch)")
safetensors_torch = pytest.importorskip("safetensors.torch")
import onecopy.vllm as ov  # noqa: E402  (after the torch check: onecopy.vllm needs onecopy.torch)


def test_import_onecopy_does_not_import_vllm_or_torch():
    code = "import onecopy, sys; print('vllm' in sys.modules, 'torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_loader_options_defaults_and_checks():
    assert ov.loader_options(None) == {"bundle": None, "publish": True,
                                       "share_host_params": True, "wait_seconds": 600.0}
    assert ov.loader_options({"bundle": "m", "publish": False})["bundle"] == "m"
    with pytest.raises(ov.LoaderConfigError, match="unknown model_loader_extra_config key.*'bundel'"):
        ov.loader_options({"bundel": "m"})
    with pytest.raises(ov.LoaderConfigError, match=r"\['bundle'\] must be a segment name"):
        ov.loader_options({"bundle": 3})
    with pytest.raises(ov.LoaderConfigError, match=r"\['publish'\] must be true or false"):
        ov.loader_options({"publish": "yes"})
    with pytest.raises(ov.LoaderConfigError, match="wait_seconds"):
        ov.loader_options({"wait_seconds": -1})


def test_bundle_name_is_stable_valid_and_distinct(tmp_path):
    a, b = tmp_path / "Llama 3.1 (8B)", tmp_path / "other" / "Llama 3.1 (8B)"
    a.mkdir()
    b.mkdir(parents=True)
    name = ov.bundle_name_for(str(a))
    assert name == ov.bundle_name_for(str(a) + "/")
    assert name.startswith("vllm.Llama_3.1__8B_.")
    assert name != ov.bundle_name_for(str(b)) != ov.bundle_name_for(str(a), revision="v2")
    onecopy.put(name, np.zeros(4))  # the engine accepts it as a segment name


def _write_model(folder, sharded):
    torch.manual_seed(0)
    tensors = {"embed.weight": torch.randn(64, 16, dtype=torch.bfloat16),
               "layer.0.weight": torch.randn(16, 16), "layer.0.bias": torch.randn(16),
               "head.weight": torch.randn(8, 16, dtype=torch.float16)}
    folder.mkdir(exist_ok=True)
    if sharded:
        names = list(tensors)
        shards = {"model-00001-of-00002.safetensors": names[:2],
                  "model-00002-of-00002.safetensors": names[2:]}
        for file, keys in shards.items():
            safetensors_torch.save_file({k: tensors[k] for k in keys}, folder / file)
        weight_map = {k: f for f, keys in shards.items() for k in keys}
        (folder / "model.safetensors.index.json").write_text(
            __import__("json").dumps({"metadata": {}, "weight_map": weight_map}))
    else:
        safetensors_torch.save_file(tensors, folder / "model.safetensors")
    return tensors


def test_checkpoint_files(tmp_path):
    _write_model(tmp_path / "one", sharded=False)
    _write_model(tmp_path / "two", sharded=True)
    assert ov.checkpoint_files(str(tmp_path / "one")) == [str(tmp_path / "one/model.safetensors")]
    assert [os.path.basename(f) for f in ov.checkpoint_files(str(tmp_path / "two"))] == [
        "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="no \\*.safetensors file in .*empty"):
        ov.checkpoint_files(str(tmp_path / "empty"))
    with pytest.raises(FileNotFoundError, match="model folder .*missing.* does not exist"):
        ov.checkpoint_files(str(tmp_path / "missing"))


def _attach_in_worker(name, folder, barrier, out):
    barrier.wait()  # every worker asks at the same moment: one publishes, the others wait
    h = ov.open_or_publish(name, folder)
    out.put(sorted(h.keys()))


@pytest.mark.parametrize("sharded", [False, True], ids=["one-file", "sharded"])
def test_publish_on_first_use_by_racing_processes(tmp_path, sharded):
    folder = tmp_path / "model"
    tensors = _write_model(folder, sharded)
    name = ov.bundle_name_for(str(folder))
    ctx = mp.get_context("fork")  # torch is imported already: no CUDA here, forking is safe
    barrier, out = ctx.Barrier(4), ctx.Queue()
    workers = [ctx.Process(target=_attach_in_worker, args=(name, str(folder), barrier, out))
               for _ in range(4)]
    for w in workers:
        w.start()
    results = [out.get(timeout=120) for _ in workers]
    for w in workers:
        w.join(timeout=60)
        assert w.exitcode == 0
    assert results == [sorted(tensors)] * 4
    assert [s["name"] for s in onecopy.ls()] == [name]  # one bundle, published once
    state = dict(ov.weights(name))
    for key, t in tensors.items():
        assert state[key].dtype == t.dtype and torch.equal(state[key], t)


def test_missing_bundle_without_publish_names_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="bundle 'nope' does not exist and publish is off"):
        ov.open_or_publish("nope", str(tmp_path), publish=False)


class _Model(torch.nn.Module):
    """A module with vLLM's loading protocol: load_weights(Iterable[(name, tensor)]) copies
    each tensor into the parameter it names with param.data.copy_ and returns the loaded names
    (vLLM's default_weight_loader does the same after checking the shapes)."""

    def __init__(self):
        super().__init__()
        self.embed = torch.nn.Embedding(64, 16, dtype=torch.bfloat16)
        self.layer = torch.nn.ModuleList([torch.nn.Linear(16, 16)])
        self.head = torch.nn.Linear(16, 8, bias=False, dtype=torch.float16)

    def load_weights(self, weights):
        params = dict(self.named_parameters())
        loaded = set()
        for name, w in weights:
            p = params[name]
            assert p.size() == w.size(), (f"Attempted to load weight ({w.size()}) into "
                                          f"parameter ({p.size()})")
            p.data.copy_(w)
            loaded.add(name)
        return loaded


def test_load_into_and_share_host_params(tmp_path):
    tensors = _write_model(tmp_path / "m", sharded=False)
    name = "m"
    ov.open_or_publish(name, str(tmp_path / "m"))
    model = _Model()
    assert ov.load_into(model, name) == set(tensors)
    for key, t in tensors.items():
        assert torch.equal(dict(model.named_parameters())[key], t)
    count, nbytes = ov.share_host_params(model, name)
    assert count == 4 and nbytes == sum(t.numel() * t.element_size() for t in tensors.values())
    segment = onecopy.open(name)
    base = np.asarray(segment["embed.weight"]).__array_interface__["data"][0]
    for _, p in model.named_parameters():  # every parameter now lives in the shared mapping
        assert abs(p.data_ptr() - base) < segment.nbytes
    x = torch.tensor([[1, 2]])
    assert model.embed(x).shape == (1, 2, 16)


def test_share_host_params_keeps_what_differs(tmp_path):
    _write_model(tmp_path / "m", sharded=False)
    ov.open_or_publish("m", str(tmp_path / "m"))
    model = _Model()
    ov.load_into(model, "m")
    with torch.no_grad():
        model.layer[0].weight.mul_(2)  # as a process_weights_after_loading rewrite would
    before = model.layer[0].weight.data_ptr()
    count, _ = ov.share_host_params(model, "m")
    assert count == 3 and model.layer[0].weight.data_ptr() == before


def test_load_errors_name_the_tensor_and_the_missing_parameters(tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    safetensors_torch.save_file({"embed.weight": torch.zeros(64, 16, dtype=torch.bfloat16),
                                 "layer.0.weight": torch.zeros(16, 15)}, folder / "model.safetensors")
    ov.open_or_publish("bad", str(folder))
    with pytest.raises(RuntimeError, match=r"loading bundle 'bad' into _Model failed at tensor "
                                           r"'layer.0.weight': AssertionError"):
        ov.load_into(_Model(), "bad", architecture="_Model")
    folder2 = tmp_path / "partial"
    folder2.mkdir()
    safetensors_torch.save_file({"embed.weight": torch.zeros(64, 16, dtype=torch.bfloat16)},
                                folder2 / "model.safetensors")
    ov.open_or_publish("partial", str(folder2))
    with pytest.raises(ValueError, match=r"left 3 parameter\(s\) of model without weights: "
                                         r"head.weight, layer.0.bias, layer.0.weight"):
        ov.load_into(_Model(), "partial")
