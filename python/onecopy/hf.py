# SPDX-License-Identifier: Apache-2.0
"""Hugging Face models whose weights are a onecopy bundle: every worker on a host maps one copy.

    import onecopy.hf
    model = onecopy.hf.from_pretrained(transformers.AutoModel, "/models/bert", bundle="bert")
    st = onecopy.hf.sentence_transformer("/models/minilm", bundle="minilm")

The model directory gives the config (and tokenizer); the weights come from the bundle, which
the first worker on the host publishes from the directory's safetensors files (model.safetensors
or a sharded model.safetensors.index.json) while the others wait and attach. The model is built
with its parameters on the meta device and then assigned the bundle's tensors
(onecopy.torch.load_state_dict): no weight is read from disk or copied per worker.

Importing this module imports torch and transformers; `import onecopy` never does.
"""
from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import threading
import time
from pathlib import Path

import torch
import transformers

from . import _api
from . import torch as oct
from ._handle import Handle

_SINGLE = "model.safetensors"
_INDEX = "model.safetensors.index.json"


def weight_files(path) -> list[Path]:
    """The safetensors files of a model directory: the shards an index json names (in order),
    else model.safetensors. Raises FileNotFoundError naming the directory when it has neither."""
    d = Path(path)
    index = d / _INDEX
    if index.is_file():
        with open(index) as f:
            weight_map = json.load(f).get("weight_map")
        if not isinstance(weight_map, dict) or not weight_map:
            raise ValueError(f"{index}: no weight_map")
        return [d / s for s in dict.fromkeys(weight_map.values())]
    if (d / _SINGLE).is_file():
        return [d / _SINGLE]
    raise FileNotFoundError(errno.ENOENT, f"no {_SINGLE} or {_INDEX} in model directory", str(d))


def _publish(bundle: str, path, numa: str, pages: str) -> Handle:
    """Reads the directory's safetensors files once and publishes them as one bundle."""
    from safetensors.torch import load_file

    tensors: dict[str, torch.Tensor] = {}
    for f in weight_files(path):
        for k, v in load_file(str(f)).items():
            if k in tensors:
                raise ValueError(f"{path}: tensor {k!r} is in more than one shard (again in {f})")
            tensors[k] = v
    return oct.put_state_dict(bundle, tensors, numa, pages)


def open_or_publish(bundle: str, path=None, *, numa: str = "auto", pages: str = "auto",
                    timeout: float = 600.0) -> Handle:
    """The bundle, published from model directory `path` by the first caller on the host; the
    others wait (up to timeout seconds) and attach. path=None only attaches.

    Uses onecopy.open_or_put when the package has it (it also keeps the folder's small files);
    else publishes with put and waits on the engine's create lock (EBUSY) the same way."""
    if path is None:
        return _api.open(bundle)
    import onecopy

    if hasattr(onecopy, "open_or_put"):
        return onecopy.open_or_put(bundle, str(path), numa=numa, pages=pages, timeout=timeout)
    deadline = time.monotonic() + timeout
    while True:
        try:
            return _api.open(bundle)
        except FileNotFoundError:
            pass
        try:
            return _publish(bundle, path, numa, pages)
        except FileExistsError:
            continue  # another worker published first: attach it
        except OSError as e:
            if e.errno != errno.EBUSY:
                raise
        if time.monotonic() > deadline:  # another worker is still publishing
            raise TimeoutError(errno.ETIMEDOUT, f"waited {timeout:g} s for another process to "
                               f"publish bundle {bundle!r}")
        time.sleep(0.05)


def _ignored(patterns, key: str) -> bool:
    return any(re.search(p, key) for p in (patterns or []))


def _renamer(model: torch.nn.Module, keys: list[str]):
    """bundle name -> model name: adds or strips the base model prefix ('bert.') as the
    checkpoint needs, applies the legacy LayerNorm names (gamma/beta), and drops what the model
    says to ignore or computes itself (non-persistent buffers such as position_ids)."""
    expected = set(model.state_dict().keys())
    computed = {n for n, _ in model.named_buffers()} - expected
    prefix = getattr(model, "base_model_prefix", "") or ""
    p = prefix + "."
    add = bool(prefix) and any(k.startswith(p) for k in expected) and \
        not any(k.startswith(p) for k in keys)
    strip = bool(prefix) and not any(k.startswith(p) for k in expected) and \
        any(k.startswith(p) for k in keys)
    ignore = getattr(model, "_keys_to_ignore_on_load_unexpected", None)
    ignore = ignore if isinstance(ignore, (list, tuple)) else []

    def rename(key: str):
        new = key
        if add and p + key in expected:
            new = p + key
        elif strip and key.startswith(p):
            new = key[len(p):]
        if new not in expected:
            for old, repl in ((".gamma", ".weight"), (".beta", ".bias")):
                if new.endswith(old) and new[: -len(old)] + repl in expected:
                    new = new[: -len(old)] + repl
        if new not in expected and (new in computed or _ignored(ignore, new)
                                    or _ignored(ignore, key)):
            return None
        return new

    return rename


_meta_lock = threading.Lock()


@contextlib.contextmanager
def _parameters_on_meta():
    """Parameters created inside go to the meta device (no memory); buffers stay real, so the
    ones the model computes itself (position_ids, rotary tables) need no checkpoint."""
    original = torch.nn.Module.register_parameter

    def register_parameter(module, name, param):
        original(module, name, param)
        if param is not None and param.device.type != "meta":
            p = module._parameters[name]
            module._parameters[name] = type(p)(p.to("meta"), requires_grad=p.requires_grad)

    with _meta_lock:
        torch.nn.Module.register_parameter = register_parameter
        try:
            yield
        finally:
            torch.nn.Module.register_parameter = original


def _bundle_dtype(handle: Handle):
    """The floating dtype most of the bundle's bytes are in (the model is built in it)."""
    sizes: dict = {}
    for k in handle.keys():
        t = handle.tensor(k)
        dt = oct.TORCH_DTYPES.get(t.dtype_name)
        if dt is not None and dt.is_floating_point and dt.itemsize >= 2:
            sizes[dt] = sizes.get(dt, 0) + t.nbytes
    return max(sizes, key=sizes.get) if sizes else None


@contextlib.contextmanager
def _default_dtype(dtype):
    if dtype is None:
        yield
        return
    before = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(before)


def from_pretrained(cls, path, *, bundle: str, config=None, publish: bool = True,
                    numa: str = "auto", pages: str = "auto", timeout: float = 600.0,
                    strict: bool = True, **config_kwargs):
    """A transformers model of class `cls` (AutoModel, AutoModelForCausalLM, BertModel, ...)
    with the config of model directory `path` and the weights of onecopy bundle `bundle`.

    publish=True: when the bundle does not exist yet, this process publishes it from `path`'s
    safetensors files (sharded index json included) while concurrent callers wait and attach.
    The model is built in the bundle's dtype with its parameters on the meta device, then
    assigned the shared tensors (frozen, read-only) and put in eval mode. strict=False allows
    tensors the bundle lacks (a new task head): they get private memory and the model's own
    initialization, and stay trainable.

    Raises FileNotFoundError naming the bundle (publish=False) or the directory, and
    RuntimeError naming the tensors that do not match the model (nothing is loaded then)."""
    handle = open_or_publish(bundle, path if publish else None, numa=numa, pages=pages,
                             timeout=timeout)
    if config is None:
        config = transformers.AutoConfig.from_pretrained(str(path), **config_kwargs)
    with _default_dtype(_bundle_dtype(handle)), _parameters_on_meta():
        if hasattr(cls, "from_config"):  # the Auto* classes
            model = cls.from_config(config)
        else:
            model = cls._from_config(config)
    oct.load_state_dict(model, handle, strict=strict, rename=_renamer(model, handle.keys()))
    _initialize_missing(model)
    return model.eval()


def _initialize_missing(model: torch.nn.Module) -> None:
    """What strict=False left on the meta device (a new head, say) gets private memory and the
    model's own initialization, as transformers does for weights a checkpoint lacks. A module
    is re-initialized only when none of its tensors came from the bundle: _init_weights writes
    every tensor of the module it is given, and the shared ones are read-only."""
    for module in model.modules():
        own = {**module._parameters, **module._buffers}
        missing = {n: t for n, t in own.items() if t is not None and t.is_meta}
        if not missing:
            continue
        for n, t in missing.items():
            fresh = torch.zeros_like(t, device="cpu")
            if n in module._parameters:
                module._parameters[n] = torch.nn.Parameter(fresh, requires_grad=t.requires_grad)
            else:
                module._buffers[n] = fresh
        if len(missing) == len([t for t in own.values() if t is not None]) and \
                hasattr(model, "_init_weights"):
            with torch.no_grad():
                model._init_weights(module)


@contextlib.contextmanager
def weights_from(bundle: str, path, **kwargs):
    """Inside, transformers' from_pretrained(path) (also when another library calls it, as
    sentence-transformers does) builds the model with onecopy.hf.from_pretrained and the
    bundle's weights; other paths load as usual. Process-wide while active."""
    target = os.path.realpath(path)
    pretrained = transformers.PreTrainedModel.from_pretrained.__func__

    def patched(cls, name_or_path, *args, **kw):
        if isinstance(name_or_path, (str, os.PathLike)) and \
                os.path.realpath(name_or_path) == target:
            return from_pretrained(cls, name_or_path, bundle=bundle, config=kw.get("config"),
                                   **kwargs)
        return pretrained(cls, name_or_path, *args, **kw)

    transformers.PreTrainedModel.from_pretrained = classmethod(patched)
    try:
        yield
    finally:
        transformers.PreTrainedModel.from_pretrained = classmethod(pretrained)


def sentence_transformer(path, *, bundle: str, device: str = "cpu", **kwargs):
    """A sentence_transformers.SentenceTransformer from local directory `path` (modules.json
    layout: Transformer, Pooling, Normalize, ...) whose transformer weights come from `bundle`
    (published from the directory by the first caller, as from_pretrained does).
    kwargs go to from_pretrained (publish, numa, pages, timeout, strict)."""
    from sentence_transformers import SentenceTransformer

    with weights_from(bundle, path, **kwargs):
        return SentenceTransformer(str(path), device=device, local_files_only=True)
