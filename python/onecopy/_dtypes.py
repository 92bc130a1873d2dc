# SPDX-License-Identifier: Apache-2.0
"""Engine dtypes <-> numpy dtypes, in one place.

numpy has no bf16 or 8-bit float types. When ml_dtypes is installed, bf16 and the F8 types come
back as ml_dtypes' numpy dtypes (bfloat16, float8_e4m3fn, float8_e5m2, float8_e8m0fnu); without
it they come back as unsigned integers of the same width (uint16 for bf16, uint8 for F8) holding
the raw bits. DLPack always carries the real type (kDLBfloat, kDLFloat8_*).
"""
from __future__ import annotations

import numpy as np

try:  # optional: real numpy dtypes for bf16 and F8
    import ml_dtypes
except ImportError:  # pragma: no cover - depends on the environment
    ml_dtypes = None

#: Engine name -> numpy type, for the types numpy has.
NATIVE = {
    "u8": np.uint8, "i8": np.int8, "u16": np.uint16, "i16": np.int16,
    "u32": np.uint32, "i32": np.int32, "u64": np.uint64, "i64": np.int64,
    "f16": np.float16, "f32": np.float32, "f64": np.float64, "bool": np.bool_,
    "c64": np.complex64, "c128": np.complex128,
}
#: Engine name -> (ml_dtypes attribute, unsigned type of the same width), for the others.
EXTENDED = {
    "bf16": ("bfloat16", np.uint16),
    "f8_e4m3": ("float8_e4m3fn", np.uint8),
    "f8_e5m2": ("float8_e5m2", np.uint8),
    "f8_e8m0": ("float8_e8m0fnu", np.uint8),
    "f8_e4m3fnuz": ("float8_e4m3fnuz", np.uint8),
    "f8_e5m2fnuz": ("float8_e5m2fnuz", np.uint8),
}
_ALIASES = {  # the engine's spellings (dtype.cpp) that numpy does not know
    "f16": "f16", "half": "f16", "float16": "f16", "float": "f32", "double": "f64",
    "bfloat16": "bf16", "b1": "bool", "float8_e4m3fn": "f8_e4m3", "f8_e4m3fn": "f8_e4m3",
    "float8_e5m2": "f8_e5m2", "float8_e8m0fnu": "f8_e8m0", "f8_e8m0fnu": "f8_e8m0",
    "float8_e4m3fnuz": "f8_e4m3fnuz", "float8_e5m2fnuz": "f8_e5m2fnuz",
    "complex64": "c64", "complex128": "c128",
}


def numpy_dtype(name: str) -> tuple[np.dtype, bool]:
    """The numpy dtype arrays of engine dtype `name` get, and whether it is the real type
    (False: raw bits in an unsigned integer because ml_dtypes is not installed)."""
    if name in NATIVE:
        return np.dtype(NATIVE[name]), True
    attr, storage = EXTENDED[name]
    if ml_dtypes is not None:
        return np.dtype(getattr(ml_dtypes, attr)), True
    return np.dtype(storage), False


def engine_name(dtype) -> str:
    """The engine's name for a numpy dtype, a type, or a name ("f32", "float32", "bf16", ...).
    Names are the engine's first ("u8" is uint8, "i8" int8, "f16" float16), then numpy's.

    Raises ValueError for types a segment cannot hold (objects, strings, datetimes, ...)."""
    if isinstance(dtype, str):
        # Engine names first: "u8" is uint8 here (numpy's "u8" would be uint64), "f16" float16.
        text = dtype.strip().lower()
        if text in NATIVE or text in EXTENDED:
            return text
        if text in _ALIASES:
            return _ALIASES[text]
    try:
        dt = np.dtype(dtype)
    except TypeError as e:
        raise ValueError(f"unknown dtype {dtype!r}: {e}") from None
    for name, t in NATIVE.items():
        if dt == np.dtype(t):
            return name
    if ml_dtypes is not None:
        for name, (attr, _) in EXTENDED.items():
            if dt == np.dtype(getattr(ml_dtypes, attr)):
                return name
    raise ValueError(
        f"dtype {dt} cannot be stored: a segment holds u8..u64, i8..i64, f16, bf16, f32, f64, "
        "bool, f8_e4m3, f8_e5m2, f8_e8m0, f8_e4m3fnuz, f8_e5m2fnuz, c64, c128 (bf16/F8 arrays need ml_dtypes)")
