# SPDX-License-Identifier: Apache-2.0
"""onecopy: one physical copy of a large read-only array per host, shared by every process.

    import numpy as np, onecopy
    h = onecopy.put("table", np.arange(10_000_000))   # copy once into shared memory
    a = np.asarray(h)                                 # zero-copy, read-only
    pool.apply_async(work, [h, 3])                    # pickles the name, not the data
    m = onecopy.open_or_put("bert", "path/to/model")  # a model folder, once per host; m is a
                                                      # read-only Mapping, m.files its config

Errors: OSError subclasses with errno (FileNotFoundError, FileExistsError, PermissionError,
NoSpaceError, HugePagePoolError, OutOfMemoryError, TimeoutError), ValueError for bad arguments,
FormatError (a ValueError) for a malformed segment file, FallbackError when strict=True.
A write through a shared tensor dies of SIGSEGV after naming the segment and tensor (see
onecopy.fault_handler). Guide: docs/python.md.
"""
from ._core import (FallbackError, FormatError, HugePagePoolError, NoSpaceError,  # noqa: F401
                    OutOfMemoryError)
from ._core import memory_of
from ._api import ls, open, open_or_create, open_or_put, put, rm, seal, unseal
from ._attach import forget
from ._faults import fault_handler, install_unless_opted_out as _install_fault_handler
from ._handle import Handle, Tensor
from ._topology import topology

__all__ = [
    "put", "open", "open_or_create", "open_or_put", "fault_handler", "ls", "rm", "seal", "unseal", "topology",
    "forget", "memory_of",
    "Handle", "Tensor",
    "FormatError", "FallbackError", "NoSpaceError", "HugePagePoolError", "OutOfMemoryError",
]
__version__ = "0.1.0"

_install_fault_handler()  # opt out: ONECOPY_FAULT_HANDLER=0 or onecopy.fault_handler(False)
