#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Writes tensor files with the real writers — numpy (np.save, np.lib.format.write_array) and
the safetensors package (serialize_file, safetensors.numpy.save_file) — plus what the C++
tests compare against: manifest.json (per tensor: name, onecopy dtype name, shape, numpy's
C-order strides, and where its expected bytes are in expected.bin). The expected bytes are
numpy's own C-order little-endian tobytes(), computed apart from the file.

usage: make_tensor_files.py KIND OUTDIR   (KIND: dtypes, npy, sharded, large-header,
       big-offset, rejects, fuzz-seeds)
"""
import json
import os
import sys

import numpy as np
import safetensors
from safetensors import TensorSpec, serialize_file
from safetensors.numpy import save_file

RNG = np.random.default_rng(20240607)

# safetensors dtype (as TensorSpec names it) → (onecopy name, element bytes)
ST_TYPES = {
    "bool": ("bool", 1), "uint8": ("u8", 1), "int8": ("i8", 1), "uint16": ("u16", 2),
    "int16": ("i16", 2), "uint32": ("u32", 4), "int32": ("i32", 4), "uint64": ("u64", 8),
    "int64": ("i64", 8), "float16": ("f16", 2), "bfloat16": ("bf16", 2), "float32": ("f32", 4),
    "float64": ("f64", 8), "complex64": ("c64", 8), "float8_e4m3fn": ("f8_e4m3", 1),
    "float8_e5m2": ("f8_e5m2", 1), "float8_e8m0fnu": ("f8_e8m0", 1),
    "float8_e4m3fnuz": ("f8_e4m3fnuz", 1), "float8_e5m2fnuz": ("f8_e5m2fnuz", 1),
}
NP_NAMES = {"bool": "bool", "uint8": "u8", "int8": "i8", "uint16": "u16", "int16": "i16",
            "uint32": "u32", "int32": "i32", "uint64": "u64", "int64": "i64",
            "float16": "f16", "float32": "f32", "float64": "f64", "complex64": "c64",
            "complex128": "c128"}


class Manifest:
    """Collects expected tensors; write() saves manifest.json and expected.bin."""

    def __init__(self, outdir):
        self.outdir = outdir
        self.tensors = []
        self.blob = bytearray()
        self.extra = {}

    def add(self, name, dtype, shape, data, itemsize):
        shape = tuple(int(d) for d in shape)
        # C-order strides; numpy's own for non-empty arrays (it reports 0 for empty ones).
        strides = [itemsize * int(np.prod(shape[i + 1:], dtype=np.int64)) for i in range(len(shape))]
        if 0 not in shape:
            assert tuple(strides) == np.empty(shape, dtype=np.dtype(f"V{itemsize}")).strides
        self.tensors.append({"name": name, "dtype": dtype, "shape": list(shape),
                             "strides": list(strides), "offset": len(self.blob),
                             "size": len(data)})
        self.blob += data

    def write(self):
        with open(os.path.join(self.outdir, "expected.bin"), "wb") as f:
            f.write(self.blob)
        with open(os.path.join(self.outdir, "manifest.json"), "w") as f:
            json.dump({"tensors": self.tensors, **self.extra}, f)


def raw(n):
    return RNG.integers(0, 256, size=n, dtype=np.uint8)


def array_for(st_type, shape):
    """A C-contiguous numpy array holding random bytes of the right size for st_type."""
    size = ST_TYPES[st_type][1]
    count = int(np.prod(shape, dtype=np.int64))
    if st_type == "bool":
        return RNG.integers(0, 2, size=shape).astype(np.bool_)
    return raw(count * size)


def save_specs(path, arrays, metadata=None):
    """serialize_file from raw buffers: the path safetensors.numpy.save_file takes, but able to
    say bfloat16 and float8, which numpy has no dtype for."""
    specs = {name: TensorSpec(dtype=st, shape=shape, data_ptr=a.ctypes.data, data_len=a.nbytes)
             for name, (st, shape, a) in arrays.items()}
    serialize_file(specs, path, metadata=metadata)


def dtypes(out):
    """all.safetensors: every dtype, several shapes, a 0-d and an empty tensor, metadata."""
    m = Manifest(out)
    arrays = {}
    shapes = [(3, 5), (7,), (2, 3, 4), (1,), (4, 1, 2)]
    for i, st in enumerate(ST_TYPES):
        shape = shapes[i % len(shapes)]
        arrays[f"t.{st}"] = (st, shape, array_for(st, shape))
    arrays["scalar.f32"] = ("float32", (), raw(4))
    arrays["scalar.bool"] = ("bool", (), np.array(True))
    arrays["empty.f16"] = ("float16", (0, 3), raw(0))
    arrays["empty.bf16"] = ("bfloat16", (5, 0, 2), raw(0))
    for name, (st, shape, a) in arrays.items():
        m.add(name, ST_TYPES[st][0], shape, a.tobytes(), ST_TYPES[st][1])
    meta = {"format": "pt", "source": "make_tensor_files.py", "unicode": "größe ✓"}
    save_specs(os.path.join(out, "all.safetensors"), arrays, meta)
    m.extra["metadata"] = meta
    m.write()


def npy(out):
    """npy/: every numpy dtype, 0-d, empty, Fortran order, big-endian, format versions 1-3."""
    m = Manifest(out)
    d = os.path.join(out, "npy")
    os.makedirs(d)

    def put(name, a, version=None):
        path = os.path.join(d, name + ".npy")
        if version is None:
            np.save(path, a)
        else:
            with open(path, "wb") as f:
                np.lib.format.write_array(f, a, version=version)
        c = np.ascontiguousarray(a).astype(a.dtype.newbyteorder("<"))
        m.add(name, NP_NAMES[a.dtype.name], a.shape, c.tobytes(), a.dtype.itemsize)

    for i, t in enumerate(["bool", "int8", "int16", "int32", "int64", "uint8", "uint16",
                           "uint32", "uint64", "float16", "float32", "float64", "complex64",
                           "complex128"]):
        shape = [(6,), (2, 3), (3, 2, 2)][i % 3]
        a = (RNG.standard_normal(shape) * 100).astype(t) if t != "bool" else RNG.integers(0, 2, shape).astype(bool)
        if t.startswith("complex"):
            a = a + 1j * (RNG.standard_normal(shape) * 10).astype(t)
        put(f"c.{t}", a)
    put("scalar", np.array(2.5, dtype=np.float64))
    put("empty", np.zeros((0, 4), dtype=np.int32))
    put("fortran", np.asfortranarray(np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)))
    put("fortran2d", np.asfortranarray(RNG.standard_normal((5, 7))))
    put("big.f64", RNG.standard_normal((3, 4)).astype(">f8"))
    put("big.i16", np.arange(10, dtype=">i2"))
    put("big.c128", (RNG.standard_normal(4) + 1j * RNG.standard_normal(4)).astype(">c16"))
    put("big.fortran", np.asfortranarray(np.arange(12, dtype=">u4").reshape(3, 4)))
    put("v2", RNG.standard_normal((4, 4)).astype(np.float32), version=(2, 0))
    put("v3", np.arange(9, dtype=np.int64).reshape(3, 3), version=(3, 0))
    m.write()


def sharded(out):
    """model/ with three shards and model.safetensors.index.json (as transformers writes it),
    and flat/ with the same shards and no index."""
    m = Manifest(out)
    shards = {}
    layers = []
    for i in range(3):
        layers += [(f"model.layers.{i}.self_attn.q_proj.weight", (8, 16)),
                   (f"model.layers.{i}.mlp.up_proj.weight", (16, 8)),
                   (f"model.layers.{i}.input_layernorm.weight", (8,))]
    layers.append(("lm_head.weight", (10, 8)))
    for k, (name, shape) in enumerate(layers):
        a = RNG.standard_normal(shape).astype(np.float32)
        shards.setdefault(min(k // 4, 2), {})[name] = a
        m.add(name, "f32", shape, a.tobytes(), 4)
    weight_map = {}
    for sub in ("model", "flat"):
        os.makedirs(os.path.join(out, sub))
    for s, tensors in shards.items():
        fname = f"model-{s + 1:05d}-of-{len(shards):05d}.safetensors"
        for sub in ("model", "flat"):
            save_file(tensors, os.path.join(out, sub, fname), metadata={"format": "pt"})
        weight_map.update({name: fname for name in tensors})
    total = sum(t["size"] for t in m.tensors)
    with open(os.path.join(out, "model", "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)
    with open(os.path.join(out, "model", "config.json"), "w") as f:
        json.dump({"architectures": ["Test"]}, f)
    m.write()


def large_header(out):
    """large.safetensors: 20000 small tensors and a 4 MB metadata value: a ~6 MB header."""
    m = Manifest(out)
    tensors = {}
    for i in range(20000):
        a = np.full((2,), i, dtype=np.int32)
        tensors[f"block.{i // 100}.param.{i % 100}"] = a
    meta = {"format": "pt", "long": "x" * (4 << 20)}
    save_file(tensors, os.path.join(out, "large.safetensors"), metadata=meta)
    for name, a in tensors.items():
        m.add(name, "i32", a.shape, a.tobytes(), 4)
    m.extra["metadata_bytes"] = len(json.dumps(meta))
    m.write()


def big_offset(out):
    """big.safetensors, a sparse file: a 4.5 GiB U8 tensor that is a hole, then two small
    tensors whose data offsets are beyond 4 GiB. safetensors' serializer would write the 4.5
    GiB for real, so the header is written with json.dumps in the serializer's layout (8-byte
    LE length, header padded with spaces to 8 bytes) and the file is then checked by the
    safetensors package's own reader (safe_open), which must read the small tensors back."""
    m = Manifest(out)
    hole = (9 << 29) + 7  # 4.5 GiB + 7: not a multiple of anything
    a = RNG.standard_normal((4, 4)).astype(np.float32)
    b = np.arange(3, dtype=np.int64) - 5
    header = {
        "__metadata__": {"format": "pt"},
        "hole": {"dtype": "U8", "shape": [hole], "data_offsets": [0, hole]},
        "after.a": {"dtype": "F32", "shape": [4, 4], "data_offsets": [hole, hole + 64]},
        "after.b": {"dtype": "I64", "shape": [3], "data_offsets": [hole + 64, hole + 88]},
    }
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    path = os.path.join(out, "big.safetensors")
    with open(path, "wb") as f:
        f.write(len(text).to_bytes(8, "little"))
        f.write(text)
        f.seek(8 + len(text) + hole)
        f.write(a.tobytes())
        f.write(b.tobytes())
    with safetensors.safe_open(path, framework="numpy") as f:
        assert np.array_equal(f.get_tensor("after.a"), a)
        assert np.array_equal(f.get_tensor("after.b"), b)
    m.add("after.a", "f32", a.shape, a.tobytes(), 4)
    m.add("after.b", "i64", b.shape, b.tobytes(), 8)
    m.extra["header_bytes"] = 8 + len(text)
    m.extra["hole"] = hole
    m.write()


def rejects(out):
    """numpy writing what onecopy refuses: each file is named for the reason."""
    np.save(os.path.join(out, "structured.npy"), np.zeros(3, dtype=[("a", "<i4"), ("b", "<f8")]))
    np.save(os.path.join(out, "object.npy"), np.array([1, "two", None], dtype=object), allow_pickle=True)
    np.save(os.path.join(out, "unicode.npy"), np.array(["ab", "cd"]))
    np.save(os.path.join(out, "bytes.npy"), np.array([b"ab", b"cd"]))
    np.save(os.path.join(out, "datetime.npy"), np.array(["2024-01-01"], dtype="datetime64[D]"))
    np.save(os.path.join(out, "longdouble.npy"), np.zeros(2, dtype=np.longdouble))
    np.save(os.path.join(out, "void.npy"), np.zeros(2, dtype="V2"))
    # A real file cut short, and one with bytes appended.
    np.save(os.path.join(out, "truncated.npy"), np.arange(100, dtype=np.float32))
    with open(os.path.join(out, "truncated.npy"), "r+b") as f:
        f.truncate(os.path.getsize(os.path.join(out, "truncated.npy")) - 4)
    save_file({"w": np.ones((4, 4), np.float32)}, os.path.join(out, "truncated.safetensors"))
    with open(os.path.join(out, "truncated.safetensors"), "r+b") as f:
        f.truncate(os.path.getsize(os.path.join(out, "truncated.safetensors")) - 1)
    serialize_file({}, os.path.join(out, "no_tensors.safetensors"), metadata={"format": "pt"})


def fuzz_seeds(out):
    """Small files from the real writers, as fuzzing seeds: safetensors/ and npy/."""
    st, nd = os.path.join(out, "safetensors"), os.path.join(out, "npy")
    os.makedirs(st, exist_ok=True)
    os.makedirs(nd, exist_ok=True)
    save_specs(os.path.join(st, "dtypes.safetensors"),
               {f"t.{s}": (s, (2, 1), array_for(s, (2, 1))) for s in ST_TYPES}, {"format": "pt"})
    save_file({"w": np.zeros((2, 3), np.float32), "s": np.array(1.0)}, os.path.join(st, "small.safetensors"))
    save_file({"e": np.zeros((0,), np.int8)}, os.path.join(st, "empty.safetensors"))
    serialize_file({}, os.path.join(st, "meta_only.safetensors"), metadata={"a": "b", "c": "d"})
    arrays = {"f4": np.arange(6, dtype="<f4").reshape(2, 3), "scalar": np.array(7, np.int16),
              "bool": np.array([True, False]), "big": np.arange(4, dtype=">f8"),
              "fortran": np.asfortranarray(np.arange(6, dtype=np.uint8).reshape(2, 3)),
              "c16": np.zeros(2, np.complex128), "empty": np.zeros((0, 2), np.float16)}
    for name, a in arrays.items():
        np.save(os.path.join(nd, name + ".npy"), a)
    for v in ((2, 0), (3, 0)):
        with open(os.path.join(nd, f"v{v[0]}.npy"), "wb") as f:
            np.lib.format.write_array(f, np.arange(3, dtype=np.int32), version=v)
    np.save(os.path.join(nd, "structured.npy"), np.zeros(1, dtype=[("a", "<i4")]))


KINDS = {"dtypes": dtypes, "npy": npy, "sharded": sharded, "large-header": large_header,
         "big-offset": big_offset, "rejects": rejects, "fuzz-seeds": fuzz_seeds}

if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in KINDS:
        sys.exit(f"usage: {sys.argv[0]} {{{','.join(KINDS)}}} OUTDIR")
    os.makedirs(sys.argv[2], exist_ok=True)
    KINDS[sys.argv[1]](sys.argv[2])
