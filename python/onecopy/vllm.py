# SPDX-License-Identifier: Apache-2.0
"""onecopy.vllm: vLLM takes a model's weights from a onecopy bundle (load_format="onecopy").

    import vllm, onecopy.vllm
    onecopy.vllm.register()     # in-tree; an installed onecopy registers through the
                                # vllm.general_plugins entry point in every vLLM process
    llm = vllm.LLM(model="/models/my-model", load_format="onecopy",
                   model_loader_extra_config={"bundle": "my-model"})

Every vLLM process of the host (each tensor-parallel rank, pipeline stage and data-parallel
replica) attaches the same bundle, one copy in shared memory, instead of reading the checkpoint
files on its own. The first process that finds no bundle publishes it from the model folder's
safetensors files; the others wait for it and attach (the engine's create-once protocol).

What stays one copy and what does not (docs/vllm.md): the source of the weights is always the
shared copy, read in place (no file reads, no private staging copy). vLLM's weight loaders then
copy each tensor, or this rank's shard of it, into the parameters the model allocated: on a
GPU that copy is the device memory the model runs from (one per GPU, inevitably). Parameters
that live in host memory after loading (vLLM's CPU backend, or weights offloaded with
cpu_offload_gb) and that equal a bundle tensor exactly (same name, shape, dtype and bytes: an
unsharded, unfused, untransformed weight) are then pointed at the shared copy, and the private
copy is freed: N processes hold one copy of those.

This module is never imported by `import onecopy`; it needs torch (onecopy.torch) and, for the
loader class, vLLM.
"""
from __future__ import annotations

import glob
import hashlib
import json
import os
import re
from collections.abc import Iterable, Iterator

LOAD_FORMAT = "onecopy"
_OPTIONS = {"bundle", "publish", "share_host_params", "wait_seconds"}


class LoaderConfigError(ValueError):
    """model_loader_extra_config that the onecopy loader cannot use; names the key."""


def loader_options(extra: dict | None) -> dict:
    """The onecopy loader's options from vLLM's model_loader_extra_config, checked.

    bundle: the bundle's name (default: derived from the model folder, see bundle_name_for);
    publish: publish the bundle from the model folder when it does not exist (default True);
    share_host_params: point host-memory parameters that equal a bundle tensor at the shared
    copy after loading (default True); wait_seconds: how long to wait for another process that
    is publishing the same bundle (default 600).
    """
    extra = dict(extra or {})
    unknown = sorted(set(extra) - _OPTIONS)
    if unknown:
        raise LoaderConfigError(f"onecopy.vllm: unknown model_loader_extra_config key(s) "
                                f"{', '.join(map(repr, unknown))}; the onecopy loader takes "
                                f"{', '.join(sorted(_OPTIONS))}")
    options = {"bundle": None, "publish": True, "share_host_params": True, "wait_seconds": 600.0}
    options.update(extra)
    if options["bundle"] is not None and not isinstance(options["bundle"], str):
        raise LoaderConfigError(f"onecopy.vllm: model_loader_extra_config['bundle'] must be a "
                                f"segment name (str), got {options['bundle']!r}")
    for key in ("publish", "share_host_params"):
        if not isinstance(options[key], bool):
            raise LoaderConfigError(f"onecopy.vllm: model_loader_extra_config[{key!r}] must be "
                                    f"true or false, got {options[key]!r}")
    if not isinstance(options["wait_seconds"], (int, float)) or options["wait_seconds"] < 0:
        raise LoaderConfigError(f"onecopy.vllm: model_loader_extra_config['wait_seconds'] must "
                                f"be a number of seconds >= 0, got {options['wait_seconds']!r}")
    return options


def bundle_name_for(model_dir: str, revision: str | None = None) -> str:
    """The default bundle name of a model folder: the same in every process of the host.

    "vllm.<folder name>.<12 hex digits of the folder's real path and revision>": readable in
    `onecopy ls`, and two folders with the same name (two revisions) do not collide.
    """
    real = os.path.realpath(model_dir)
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", os.path.basename(real.rstrip("/")))[:120] or "model"
    digest = hashlib.sha256(f"{real}\0{revision or ''}".encode()).hexdigest()[:12]
    return f"vllm.{stem.lstrip('.')}.{digest}"


def checkpoint_files(model_dir: str) -> list[str]:
    """The safetensors files of a model folder: the index's shards, or every *.safetensors.

    Raises FileNotFoundError naming the folder when it has none (vLLM's other formats, .bin
    and .pt, are pickles: publish them with onecopy.torch.put_state_dict instead).
    """
    if not os.path.isdir(model_dir):
        raise FileNotFoundError(f"onecopy.vllm: model folder {model_dir!r} does not exist or is "
                                f"not a directory (the onecopy loader publishes from local files; "
                                f"download the model first, or give an existing bundle)")
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(index):
        with open(index) as f:
            shards = sorted(set(json.load(f)["weight_map"].values()))
        return [os.path.join(model_dir, s) for s in shards]
    files = sorted(glob.glob(os.path.join(model_dir, "*.safetensors")))
    if not files:
        raise FileNotFoundError(f"onecopy.vllm: no *.safetensors file in {model_dir!r} to "
                                f"publish the bundle from")
    return files


def open_or_publish(name: str, model_dir: str, *, publish: bool = True,
                    wait_seconds: float = 600.0):
    """The bundle `name`, published from model_dir's safetensors files if nobody has yet.

    One process on the host publishes (parsing and copying the files once); the others wait
    for it and attach. Raises FileNotFoundError naming the bundle when it does not exist and
    publish is False.
    """
    import onecopy

    try:
        return onecopy.open(name)
    except FileNotFoundError:
        if not publish:
            raise FileNotFoundError(
                f"onecopy.vllm: bundle {name!r} does not exist and publish is off; publish it "
                f"first (onecopy put {name} MODEL_DIR) or set "
                f"model_loader_extra_config={{'publish': True}}") from None
    files = checkpoint_files(model_dir)
    # Create-once: one process parses and copies the files, the others wait and attach; a
    # bundle published from other files under this name is an error naming the difference.
    return onecopy.open_or_put(name, model_dir if len(files) > 1 else files[0],
                               timeout=wait_seconds)


class _NamedWeights:
    """(name, tensor) pairs of a bundle, remembering the last one handed out: when vLLM's
    weight loader fails on a tensor, the error can name it."""

    def __init__(self, tensors: dict):
        self.tensors = tensors
        self.current: str | None = None

    def __iter__(self) -> Iterator:
        for name, tensor in self.tensors.items():
            self.current = name
            yield name, tensor
        self.current = None


def weights(bundle: str) -> Iterable:
    """(name, tensor) pairs of bundle `bundle`, zero-copy read-only torch tensors over the
    shared copy, in the bundle's order: what vLLM's model.load_weights takes."""
    import onecopy.torch

    return onecopy.torch.state_dict(bundle).items()


def load_into(model, bundle: str, *, architecture: str = "model") -> set:
    """model.load_weights(the bundle's tensors); raises naming the tensor when a weight loader
    fails, and naming the parameters left uninitialized. Returns the loaded parameter names."""
    import onecopy.torch

    state = _NamedWeights(onecopy.torch.state_dict(bundle))
    try:
        loaded = model.load_weights(iter(state))
    except Exception as e:
        where = f" at tensor {state.current!r}" if state.current else ""
        raise RuntimeError(f"onecopy.vllm: loading bundle {bundle!r} into {architecture} "
                           f"failed{where}: {type(e).__name__}: {e}") from e
    if loaded is not None:  # models that report what they loaded (all of vLLM's do)
        missing = sorted(n for n, _ in model.named_parameters() if n not in loaded)
        if missing:
            shown = ", ".join(missing[:8]) + (f" and {len(missing) - 8} more" if len(missing) > 8
                                              else "")
            raise ValueError(f"onecopy.vllm: bundle {bundle!r} left {len(missing)} parameter(s) "
                             f"of {architecture} without weights: {shown}")
    return set(loaded or ())


def share_host_params(model, bundle: str) -> tuple[int, int]:
    """Points each host-memory parameter that equals a bundle tensor exactly (same name, shape,
    dtype and bytes) at the shared copy, freeing its private copy. Returns (parameters shared,
    bytes no longer held privately). Device parameters, shards, fused and transformed weights
    stay as they are."""
    import onecopy.torch
    import torch

    state = onecopy.torch.state_dict(bundle)
    count = nbytes = 0
    with torch.no_grad():
        for name, param in model.named_parameters():
            shared = state.get(name)
            if (shared is None or param.device.type != "cpu" or param.shape != shared.shape
                    or param.dtype != shared.dtype or not torch.equal(param.data, shared)):
                continue
            param.data = shared
            count += 1
            nbytes += shared.numel() * shared.element_size()
    return count, nbytes


def _loader_class():
    """OnecopyModelLoader, defined against the installed vLLM (imported only here)."""
    from vllm.model_executor.model_loader.base_loader import BaseModelLoader

    class OnecopyModelLoader(BaseModelLoader):
        """load_format="onecopy": weights from a onecopy bundle, one copy per host."""

        def __init__(self, load_config):
            super().__init__(load_config)
            self.options = loader_options(load_config.model_loader_extra_config)

        def bundle_for(self, model_config) -> str:
            return self.options["bundle"] or bundle_name_for(model_config.model,
                                                            model_config.revision)

        def download_model(self, model_config) -> None:
            """Nothing to download: the weights come from the bundle (or the local folder)."""

        def load_weights(self, model, model_config) -> None:
            name = self.bundle_for(model_config)
            open_or_publish(name, model_config.model, publish=self.options["publish"],
                            wait_seconds=self.options["wait_seconds"])
            load_into(model, name, architecture=type(model).__name__)

        def load_model(self, vllm_config, model_config, prefix: str = ""):
            model = super().load_model(vllm_config, model_config, prefix=prefix)
            if self.options["share_host_params"]:
                # After process_weights_after_loading: what it rewrote no longer equals the
                # bundle and keeps its private copy.
                self.shared = share_host_params(model, self.bundle_for(model_config))
            return model

    return OnecopyModelLoader


_registered = None


def register():
    """Registers load_format "onecopy" with vLLM (idempotent); returns the loader class.

    This is the vllm.general_plugins entry point of an installed onecopy, so every vLLM process
    (workers included) has it; call it yourself when onecopy is used from a build tree.
    """
    global _registered
    if _registered is None:
        from vllm.model_executor.model_loader import register_model_loader

        _registered = register_model_loader(LOAD_FORMAT)(_loader_class())
    return _registered
