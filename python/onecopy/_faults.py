# SPDX-License-Identifier: Apache-2.0
"""The write-fault report: segments are mapped read-only, and a write through one (torch ignores
DLPack's read-only flag, so `t.add_(1)` or `SGD.step()` on a tensor over a segment writes) kills
the process with SIGSEGV. With the report on (the default since `import onecopy`), the process
still dies of SIGSEGV, core dump and all, but first prints

    onecopy: write to read-only onecopy segment 'NAME' (offset N, tensor 'T' byte B) at 0x...

The handler is C++ (async-signal-safe) and passes the signal on to the handler installed before
it (Python's faulthandler, say) or to the default action. Turn it off with
ONECOPY_FAULT_HANDLER=0 in the environment (before `import onecopy`) or
onecopy.fault_handler(False).
"""
from __future__ import annotations

import os

from . import _core


def fault_handler(enabled: bool | None = None) -> bool:
    """Turns the write-fault report on (True) or off (False); returns whether it is on."""
    if enabled is True:
        _core.install_write_fault_report()
    elif enabled is False:
        _core.uninstall_write_fault_report()
    return _core.write_fault_report_installed()


def install_unless_opted_out() -> None:
    """At import: on, unless ONECOPY_FAULT_HANDLER is 0, off, no or false."""
    if os.environ.get("ONECOPY_FAULT_HANDLER", "").strip().lower() not in ("0", "off", "no", "false"):
        fault_handler(True)
