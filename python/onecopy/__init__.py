# SPDX-License-Identifier: Apache-2.0
"""onecopy: one physical copy of a large read-only array per host, shared by every process.

    import numpy as np, onecopy
    h = onecopy.put("table", np.arange(10_000_000))   # copy once into shared memory
    a = np.asarray(h)                                 # zero-copy, read-only
    pool.apply_async(work, [h, 3])                    # pickles the name, not the data

Errors: OSError subclasses with errno (FileNotFoundError, FileExistsError, PermissionError,
NoSpaceError, HugePagePoolError, OutOfMemoryError, TimeoutError), ValueError for bad arguments,
FormatError (a ValueError) for a malformed segment file, FallbackError when strict=True.
"""
from ._core import (FallbackError, FormatError, HugePagePoolError, NoSpaceError,  # noqa: F401
                    OutOfMemoryError)
from ._core import memory_of
from ._api import ls, open, open_or_create, open_or_put, put, rm
from ._attach import forget
from ._faults import fault_handler, install_unless_opted_out as _install_fault_handler
from ._handle import Handle, Tensor
from ._topology import topology

__all__ = [
    "put", "open", "open_or_create", "open_or_put", "fault_handler", "ls", "rm", "topology", "forget", "memory_of",
    "Handle", "Tensor",
    "FormatError", "FallbackError", "NoSpaceError", "HugePagePoolError", "OutOfMemoryError",
]
__version__ = "0.1.0"

_install_fault_handler()  # opt out: ONECOPY_FAULT_HANDLER=0 or onecopy.fault_handler(False)
