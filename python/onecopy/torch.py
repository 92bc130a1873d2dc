# SPDX-License-Identifier: Apache-2.0
"""torch tensors over a onecopy bundle: N workers on a host, one copy of the weights.

    import onecopy.torch as oct
    oct.put_state_dict("bert", model)                    # once per host
    model = build_model_on("meta")                        # in every worker
    oct.load_state_dict(model, "bert")                    # zero-copy, read-only weights

state_dict(name) gives tensors whose memory IS the shared segment (data_ptr inside its mapping):
no copy, no warning. The pages are mapped PROT_READ, so a write through one of them (an
optimizer step, an in-place op) faults instead of corrupting the copy every other process uses
(the process dies of SIGSEGV after the package's write-fault report names the segment, offset
and tensor). There is no Python-level error before the write: torch's "inference tensors" only raise *after*
the kernel has written (the version-counter bump comes last; checked with torch 2.15), so they
would not protect anything, and they cannot join autograd (frozen base weights under LoRA).
Loaded parameters are therefore ordinary tensors with requires_grad=False.

Importing this module imports torch; `import onecopy` never does.
"""
from __future__ import annotations

import json
import warnings
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, NamedTuple

import numpy as np
import torch

from . import _api, _core, _dtypes
from ._handle import Handle

#: Engine dtype -> torch dtype name (getattr(torch, ...)); the F8 "fnuz" kinds and e8m0 only
#: where this torch has them.
_TORCH_NAMES = {
    "u8": "uint8", "i8": "int8", "u16": "uint16", "i16": "int16", "u32": "uint32",
    "i32": "int32", "u64": "uint64", "i64": "int64", "f16": "float16", "bf16": "bfloat16",
    "f32": "float32", "f64": "float64", "bool": "bool", "c64": "complex64",
    "c128": "complex128", "f8_e4m3": "float8_e4m3fn", "f8_e5m2": "float8_e5m2",
    "f8_e8m0": "float8_e8m0fnu", "f8_e4m3fnuz": "float8_e4m3fnuz",
    "f8_e5m2fnuz": "float8_e5m2fnuz",
}
TORCH_DTYPES = {k: getattr(torch, v) for k, v in _TORCH_NAMES.items() if hasattr(torch, v)}
_ENGINE_OF = {v: k for k, v in TORCH_DTYPES.items()}

# Metadata key under which put_state_dict records tied names ({"alias": "stored name"}).
_META_KEY = "onecopy.torch"


def _handle(name_or_handle) -> Handle:
    if isinstance(name_or_handle, Handle):
        return name_or_handle
    if not isinstance(name_or_handle, str):
        raise TypeError(f"a bundle name or onecopy.Handle, got {type(name_or_handle).__name__}")
    return _api.open(name_or_handle)


def _aliases(handle: Handle) -> dict[str, str]:
    text = handle.info().get("metadata") or ""
    if not text.startswith("{"):
        return {}
    try:
        return dict(json.loads(text).get(_META_KEY, {}).get("aliases", {}))
    except (ValueError, AttributeError):
        return {}


def tensor(name_or_handle, name: str) -> torch.Tensor:
    """The torch tensor over bundle tensor `name` (no copy; see state_dict)."""
    return state_dict(name_or_handle, names=[name])[name]


def state_dict(name_or_handle, *, names=None) -> "OrderedDict[str, torch.Tensor]":
    """{tensor name: torch.Tensor} over the bundle, in table order: zero-copy and read-only.

    Every dtype a segment holds comes back as its torch dtype (bf16, float8_e4m3fn/e5m2, and
    the fnuz/e8m0 ones where this torch has them); names and shapes are the bundle's. Each
    tensor's data_ptr lies inside this process's mapping of the segment, which stays mapped as
    long as any of the tensors lives. Names put_state_dict recorded as tied to another come back
    as that same tensor object.

    names: only these tensors (KeyError naming the bundle and a missing one). A write through
    any of them faults on the read-only pages (see the module's docstring).

    Raises FileNotFoundError naming the bundle when there is none, TypeError for an array
    segment (use torch.from_dlpack(handle)), ValueError for a dtype this torch lacks."""
    handle = _handle(name_or_handle)
    if not handle.is_bundle:
        raise TypeError(f"segment {handle.name!r} is one array, not a bundle of named tensors: "
                        "use torch.from_dlpack(onecopy.open(name))")
    wanted = handle.keys() if names is None else list(names)
    out: "OrderedDict[str, torch.Tensor]" = OrderedDict()
    for key in wanted:
        t = handle.tensor(key)  # KeyError naming the bundle and the tensor
        out[key] = _from_export(handle.name, key, t.dtype_name, handle._segment.export)
    if names is None:
        _add_aliases(out, handle)
    return out


def _from_export(bundle: str, key: str, dtype_name: str, export) -> torch.Tensor:
    """The torch tensor over export(key, storage) (a DLPack producer: the host segment's, or
    a device copy's), as the tensor's real dtype."""
    dtype = TORCH_DTYPES.get(dtype_name)
    if dtype is None:
        raise ValueError(f"bundle {bundle!r} tensor {key!r}: dtype {dtype_name} "
                         f"has no torch {_TORCH_NAMES.get(dtype_name)} in torch "
                         f"{torch.__version__}")
    # storage=True: bf16/F8 as same-width unsigned ints, then a bit view to the real type
    # (DLPack consumers disagree on F8 codes; a view is exact and costs nothing).
    raw = torch.from_dlpack(export(key, dtype_name not in _dtypes.NATIVE))
    return raw if raw.dtype == dtype else raw.view(dtype)


def _add_aliases(out: "OrderedDict[str, torch.Tensor]", handle: Handle) -> None:
    """Names put_state_dict recorded as tied to a stored tensor: the same tensor object."""
    for alias, stored in _aliases(handle).items():
        if stored in out and alias not in out:
            out[alias] = out[stored]


def mapping_range(name_or_handle) -> tuple[int, int]:
    """[start, end) addresses of the segment's data in this process (to check data_ptr)."""
    handle = _handle(name_or_handle)
    start = handle._segment.data_address
    return start, start + handle.nbytes


# -- loading into a model -------------------------------------------------------------------

class LoadResult(NamedTuple):
    """Like torch.nn.modules.module._IncompatibleKeys: what load_state_dict(strict=False) did
    not match."""
    missing_keys: list[str]
    unexpected_keys: list[str]


def _tied_groups(model: torch.nn.Module) -> list[list[str]]:
    """Names that refer to one Parameter/buffer object (tied weights), groups of 2+."""
    by_id: dict[int, list[str]] = {}
    for n, p in model.named_parameters(remove_duplicate=False):
        by_id.setdefault(id(p), []).append(n)
    for n, b in model.named_buffers(remove_duplicate=False):
        by_id.setdefault(id(b), []).append(n)
    return [g for g in by_id.values() if len(g) > 1]


def _owner(model: torch.nn.Module, dotted: str) -> tuple[torch.nn.Module, str]:
    path, _, leaf = dotted.rpartition(".")
    return (model.get_submodule(path) if path else model), leaf


def load_state_dict(model: torch.nn.Module, name_or_handle, strict: bool = True, *,
                    freeze: bool = True,
                    rename=None) -> LoadResult:
    """Makes the model's parameters and buffers the bundle's tensors (assign, no copy).

    The model may live on the meta device (build it under `with torch.device("meta"):`): then
    N workers cost one copy of the weights plus their own activations. Tied weights (one
    Parameter under two names, e.g. lm_head and the embeddings) stay one object; the bundle may
    hold either name or both.

    Everything is checked before anything is assigned, so a failure leaves the model as it was:
    missing/unexpected keys (strict=True) raise RuntimeError worded like torch's
    load_state_dict; a shape or dtype that differs raises RuntimeError naming the tensor,
    whatever strict says. strict=False returns the (missing_keys, unexpected_keys) it skipped.

    freeze=True (default) sets requires_grad=False on the loaded parameters: they are read-only
    memory, an optimizer step on them would fault. rename: a
    function bundle name -> model name (None drops the tensor), for checkpoints whose names
    differ from the model's (prefixes such as 'bert.').

    Raises FileNotFoundError when the bundle does not exist."""
    handle = _handle(name_or_handle)
    tensors = state_dict(handle)
    if rename is not None:
        renamed: "OrderedDict[str, torch.Tensor]" = OrderedDict()
        for k, v in tensors.items():
            k2 = rename(k)
            if k2 is not None:
                renamed[k2] = v
        tensors = renamed
    expected = model.state_dict(keep_vars=True)
    groups = _tied_groups(model)
    # A tied group is satisfied by any one of its names.
    for group in groups:
        present = [n for n in group if n in tensors]
        if present:
            for n in group:
                tensors.setdefault(n, tensors[present[0]])
    missing = [k for k in expected if k not in tensors]
    unexpected = [k for k in tensors if k not in expected]
    errors = []
    if strict and (missing or unexpected):
        if missing:  # torch's order and wording
            errors.append("Missing key(s) in state_dict: "
                          + ", ".join(f'"{k}"' for k in missing) + ". ")
        if unexpected:
            errors.append("Unexpected key(s) in state_dict: "
                          + ", ".join(f'"{k}"' for k in unexpected) + ". ")
    for k, current in expected.items():
        new = tensors.get(k)
        if new is None:
            continue
        if new.shape != current.shape:
            errors.append(f"size mismatch for {k}: copying a param with shape {new.shape} from "
                          f"bundle {handle.name!r}, the shape in current model is "
                          f"{current.shape}.")
        elif new.dtype != current.dtype:
            errors.append(f"dtype mismatch for {k}: bundle {handle.name!r} holds {new.dtype}, "
                          f"the model has {current.dtype} (cast the model with .to(dtype) "
                          f"before loading, or publish the weights in {current.dtype}).")
    if errors:
        raise RuntimeError(f"Error(s) in loading state_dict for {model.__class__.__name__} "
                           f"from onecopy bundle {handle.name!r}:\n\t" + "\n\t".join(errors))
    # Everything matched: assign. One Parameter per distinct tensor, so ties stay ties.
    made: dict[int, torch.Tensor] = {}
    for k, current in expected.items():
        new = tensors.get(k)
        if new is None:
            continue
        module, leaf = _owner(model, k)
        if isinstance(current, torch.nn.Parameter):
            value = made.get(id(current))
            if value is None:
                value = torch.nn.Parameter(new, requires_grad=False if freeze
                                           else current.requires_grad)
                made[id(current)] = value
            module._parameters[leaf] = value
        else:
            module._buffers[leaf] = made.setdefault(id(current), new)
    # Tied names not in state_dict() (it lists a tied object once) follow their group.
    for group in groups:
        first = _owner(model, group[0])
        source = first[0]._parameters.get(first[1]) if first[1] in first[0]._parameters \
            else first[0]._buffers.get(first[1])
        for n in group[1:]:
            module, leaf = _owner(model, n)
            if leaf in module._parameters:
                module._parameters[leaf] = source
            elif leaf in module._buffers:
                module._buffers[leaf] = source
    return LoadResult(missing, unexpected)


# -- publishing ------------------------------------------------------------------------------

def _as_numpy(key: str, t: torch.Tensor) -> np.ndarray:
    """The tensor's bytes as a numpy array of its real dtype, bit-exact (bf16/F8 as ml_dtypes
    types when available, else raw bits under an explicit engine dtype)."""
    t = t.detach()
    if t.device.type == "meta":
        raise ValueError(f"tensor {key!r} is on the meta device: it has no data to publish")
    t = t.to("cpu").contiguous()
    if t.dtype not in _ENGINE_OF:
        raise ValueError(f"tensor {key!r}: dtype {t.dtype} cannot be stored in a segment")
    engine = _ENGINE_OF[t.dtype]
    if engine in _dtypes.NATIVE:
        return t.numpy()
    np_dtype, real = _dtypes.numpy_dtype(engine)
    if not real:
        raise ValueError(f"tensor {key!r}: publishing {t.dtype} needs ml_dtypes "
                         "(pip install ml_dtypes, part of onecopy[torch])")
    width = {1: torch.uint8, 2: torch.int16}[t.element_size()]
    return t.view(width).numpy().view(np_dtype)


def put_state_dict(name: str, module_or_dict, numa: str = "auto", pages: str = "auto", *,
                   strict: bool = False, replace: bool = False,
                   remove_when_unused: bool = False) -> Handle:
    """Publishes a module's state_dict (or a {name: tensor} mapping) as bundle `name`.

    Bytes are kept bit-exactly in their dtype (bf16, F8, ...). Tensors that are one object (or
    one view of the same memory: tied weights) are stored once; the other names are recorded
    and state_dict() returns them as the same tensor. numa, pages, strict, replace,
    remove_when_unused: as onecopy.put. Raises ValueError for meta tensors or unsupported
    dtypes (naming the tensor), FileExistsError when name exists."""
    if isinstance(module_or_dict, torch.nn.Module):
        items = module_or_dict.state_dict(keep_vars=True)
    elif isinstance(module_or_dict, Mapping):
        items = module_or_dict
    else:
        raise TypeError(f"put_state_dict {name!r}: a torch.nn.Module or a mapping of tensors, "
                        f"got {type(module_or_dict).__name__}")
    meta = [k for k, t in items.items() if isinstance(t, torch.Tensor) and t.is_meta]
    if meta:
        raise ValueError(f"put_state_dict {name!r}: {len(meta)} tensors are on the meta device "
                         f"and have no data to publish: {', '.join(meta[:8])}"
                         f"{', ...' if len(meta) > 8 else ''}")
    arrays: dict[str, Any] = {}
    aliases: dict[str, str] = {}
    seen: dict[tuple, str] = {}
    for key, t in items.items():
        if not isinstance(t, torch.Tensor):
            raise ValueError(f"put_state_dict {name!r}: {key!r} is a {type(t).__name__}, "
                             "not a tensor")
        identity = (t.device.type, t.data_ptr(), t.dtype, tuple(t.shape), t.stride()) \
            if t.device.type != "meta" and t.numel() else None
        if identity is not None and identity in seen:
            aliases[key] = seen[identity]
            continue
        if identity is not None:
            seen[identity] = key
        arrays[key] = _as_numpy(key, t)
    metadata = json.dumps({_META_KEY: {"aliases": aliases}}) if aliases else ""
    return _api.put(name, arrays, numa, pages, strict=strict, replace=replace,
                    remove_when_unused=remove_when_unused, metadata=metadata)


# -- devices ---------------------------------------------------------------------------------

#: to_device's ways to a GPU.
VIA = ("auto", "serve", "process")


def to_device(name_or_handle, device="cpu", *, via: str = "auto", socket: str = "",
              pin: bool = True, chunk_bytes: int = 1 << 30) -> "OrderedDict[str, torch.Tensor]":
    """The bundle's tensors on `device`.

    "cpu": the shared host view itself (state_dict, no copy). "cuda[:N]", by `via`:

    - "serve": the device copy `onecopy serve` keeps of the bundle on that GPU, one per GPU for
      every process on the host: imported read-only (a VMM fd import, mapped PROT_READ) or, on
      GPUs without VMM, through legacy CUDA IPC (a read-write mapping of the server's memory:
      do not write to it). The tensors hold the import and the connection to the server (the
      lease) while they live. socket: the server's ('' = ONECOPY_SOCKET, else the store's
      serve.sock). Raises RuntimeError with the server's (or this process's) reason when it
      cannot: no server on the socket, no GPU, a refusal.
    - "process": a device copy of this process's own, made from the shared host copy, which is
      first registered (pinned) in chunks of chunk_bytes for fast H2D; a registration that
      fails falls back to pageable copies with its reason in a warning (never a crash).
    - "auto" (default): "serve", and when the server cannot, a RuntimeWarning giving its reason,
      then "process".

    Without CUDA raises RuntimeError that says why (no CUDA build of torch, no driver, no device
    N) and that the host view is state_dict(name)."""
    if via not in VIA:
        raise ValueError(f"to_device: via={via!r}; one of {', '.join(map(repr, VIA))}")
    handle = _handle(name_or_handle)
    dev = torch.device(device)
    host = state_dict(handle)
    if dev.type == "cpu":
        return host
    if dev.type != "cuda":
        raise ValueError(f"to_device {handle.name!r}: device {dev} is not supported (cpu, cuda:N)")
    host_view = f"the host view is onecopy.torch.state_dict({handle.name!r}) (zero-copy)"
    not_served = ""
    if via != "process":
        try:
            return _served(handle, dev, socket)
        except _NotServed as e:
            if via == "serve":
                raise RuntimeError(f"cannot place bundle {handle.name!r} on {dev} through onecopy "
                                   f"serve: {e}; {host_view}") from e.__cause__
            not_served = str(e)
        warnings.warn(f"onecopy: no shared device copy of bundle {handle.name!r} on {dev} from "
                      f"onecopy serve ({not_served}); making this process's own copy",
                      RuntimeWarning, stacklevel=2)
    reason = _cuda_unavailable(dev)
    if reason:
        served = f" (and onecopy serve gave none: {not_served})" if not_served else ""
        raise RuntimeError(f"cannot place bundle {handle.name!r} on {dev}: {reason}{served}; "
                           f"{host_view}")
    registered = _register_host(handle, chunk_bytes) if pin else []
    try:
        return OrderedDict((k, v.to(dev, non_blocking=bool(registered)))
                           for k, v in host.items())
    finally:
        torch.cuda.synchronize(dev)
        _unregister_host(registered)


class _NotServed(Exception):
    """Why `onecopy serve` gave no device copy (the message is the reason)."""


def _served(handle: Handle, dev: torch.device, socket: str) -> "OrderedDict[str, torch.Tensor]":
    """The bundle's tensors over the server's device copy on dev. Raises _NotServed(reason)."""
    if torch.version.cuda is None:  # a CUDA tensor cannot be had: ask the server for nothing
        raise _NotServed(f"this torch ({torch.__version__}) is built without CUDA")
    index = dev.index
    if index is None:
        index = torch.cuda.current_device() if torch.cuda.is_available() else 0
    try:
        copy = _core.serve_device_array(handle.name, index, socket)
    except (OSError, RuntimeError, ValueError) as e:
        raise _NotServed(str(e)) from e
    ours = int(handle.info()["checksum"], 16)
    if copy.checksum != ours:  # the server's store holds another publication under this name
        raise _NotServed(f"the server's {handle.name!r} has checksum {copy.checksum:#018x}, this "
                         f"process's {ours:#018x}: another publication (put --replace, or "
                         "another store)")
    out: "OrderedDict[str, torch.Tensor]" = OrderedDict()
    try:
        # Each tensor's DLPack capsule owns a reference to `copy`: the mapping and the lease
        # last as long as any tensor does.
        for t in copy.tensors():
            out[t["name"]] = _from_export(handle.name, t["name"], t["dtype"], copy.export)
    except (RuntimeError, TypeError, BufferError) as e:  # e.g. torch cannot import kDLCUDA here
        raise _NotServed(f"torch cannot take the imported copy ({copy.method}): {e}") from e
    _add_aliases(out, handle)
    return out


def _cuda_unavailable(dev: torch.device) -> str:
    """Why tensors cannot go to dev ("" when they can)."""
    if torch.version.cuda is None:
        return f"this torch ({torch.__version__}) is built without CUDA"
    if not torch.cuda.is_available():
        try:
            count = torch.cuda.device_count()
        except RuntimeError as e:  # pragma: no cover - driver dependent
            return f"CUDA is not available ({e})"
        return ("no CUDA device or driver on this host (torch.cuda.is_available() is False, "
                f"{count} devices)")
    index = dev.index if dev.index is not None else torch.cuda.current_device()
    if index >= torch.cuda.device_count():
        return f"there is no device {index} ({torch.cuda.device_count()} CUDA devices)"
    return ""


def register_chunks(start: int, end: int, chunk_bytes: int,
                    page: int = 4096) -> list[tuple[int, int]]:
    """(address, size) pieces covering [start, end) for cudaHostRegister: page-aligned, each at
    most chunk_bytes (rounded down to pages, at least one page); the first starts at start's
    page, the last ends at end's page boundary (registration works on whole pages)."""
    if end <= start:
        return []
    chunk = max(page, chunk_bytes - chunk_bytes % page)
    at, stop = start - start % page, end + (-end) % page
    pieces = []
    while at < stop:
        size = min(chunk, stop - at)
        pieces.append((at, size))
        at += size
    return pieces


def _register_host(handle: Handle, chunk_bytes: int) -> list[int]:
    """Registers the segment's data with CUDA in chunks: the addresses that succeeded. A
    failure warns with its reason and undoes the partial registration: copies then read
    pageable memory (never a crash)."""
    cudart = torch.cuda.cudart()
    start, end = mapping_range(handle)
    done: list[int] = []
    # cudaHostRegisterPortable | cudaHostRegisterReadOnly (0x1 | 0x8): the pages are PROT_READ.
    for at, size in register_chunks(start, end, chunk_bytes):
        err = cudart.cudaHostRegister(at, size, 0x1 | 0x8)
        if int(err) != 0:
            warnings.warn(f"onecopy: pinning bundle {handle.name!r} at offset {at - start} "
                          f"({size} bytes) failed: cudaHostRegister error {int(err)}; copying "
                          "from pageable memory instead (slower H2D)", RuntimeWarning,
                          stacklevel=3)
            _unregister_host(done)
            return []
        done.append(at)
    return done


def _unregister_host(addresses: list[int]) -> None:
    if addresses:
        cudart = torch.cuda.cudart()
        for a in addresses:
            cudart.cudaHostUnregister(a)


# -- shared CPU offload ----------------------------------------------------------------------

def offload(model: torch.nn.Module, name_or_handle, device, **load_kwargs) -> torch.nn.Module:
    """Loads model (built on the meta device) from the bundle and runs it on `device` with its
    weights offloaded to the one shared host copy: each leaf module's parameters are copied to
    the device just before its forward and dropped right after, so the device holds one layer
    at a time and every process on the host shares one host copy. device "cpu" runs in place
    from the shared copy (nothing to move). load_kwargs go to load_state_dict."""
    dev = torch.device(device)
    if dev.type == "cuda":  # before loading: a refusal leaves the model as it was
        reason = _cuda_unavailable(dev)
        if reason:
            raise RuntimeError(f"cannot offload to {dev}: {reason}; device='cpu' runs from the "
                               "shared host copy")
    load_state_dict(model, name_or_handle, **load_kwargs)
    if dev.type == "cpu":
        return model
    for module in model.modules():
        shared = dict(module.named_parameters(recurse=False))
        if not shared:
            continue

        def to_device(mod, args, shared=shared):
            for n, p in shared.items():
                mod._parameters[n] = torch.nn.Parameter(p.to(dev, non_blocking=True),
                                                        requires_grad=False)

        def back(mod, args, out, shared=shared):
            mod._parameters.update(shared)  # drop the device copy, keep the shared one

        module.register_forward_pre_hook(to_device)
        module.register_forward_hook(back)
    return model
