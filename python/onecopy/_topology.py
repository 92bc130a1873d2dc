# SPDX-License-Identifier: Apache-2.0
"""onecopy.topology(): what this host offers for placing segments.

Today this is what /sys says (onecopy/topology/sysfs.hpp): NUMA nodes with their CPUs, memory
and huge-page pools, the host's pools, the THP mode for shared memory. The keys below are kept
when the richer hwloc topology (GPUs, distances, memory kinds) is added; new keys will appear
beside them.
"""
from __future__ import annotations

from . import _core


def topology() -> dict:
    """This host's NUMA nodes and huge pages, read now (pools and free counts change).

    Returns {"source": "sysfs", "nodes": [{"id", "cpus", "memory_total", "memory_free",
    "has_memory", "hugepages": [{"page_size", "total", "free"}]}], "hugepages": [...host-wide...],
    "thp_shmem": "advise", "base_page_size": 4096, "current_node": 0}. Sizes in bytes.
    """
    t = _core.sysfs_topology()
    t["source"] = "sysfs"
    return t
