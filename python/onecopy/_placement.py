# SPDX-License-Identifier: Apache-2.0
"""The numa= and pages= arguments -> the engine's options, in one place.

numa="auto", "replicate[:N,M]" and "local" ask the topology planner (topology/plan.hpp, the
same as `onecopy put --numa`): it looks at this host's nodes, free memory and huge-page pools
and the segment's size, and decides bind, interleave, one replica per node, or the kernel's
default. "none", "bind:N[,M]" and "interleave[:N,M]" go to the engine as given.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from . import _core

_PAGES = ("auto", "1g", "2m", "thp", "4k")
_PLANNED = ("auto", "replicate", "local")


@dataclass
class Placement:
    """What the engine gets: a placement text ("none", "bind:1", "interleave:0-3") and the nodes
    to replicate on (empty: one copy), plus the planner's decision when it ran."""
    where: str
    replicate_on: list[int] = field(default_factory=list)
    plan: dict | None = None


def placement(numa: str, nbytes: int, pages: str = "auto", strict: bool = False) -> Placement:
    """The placement for numa= on this host, for a segment of nbytes.

    Bad forms raise ValueError naming the allowed ones (from the engine's and the planner's
    parsers); the planner raises OutOfMemoryError when the copies cannot fit and FallbackError
    when strict and the asked pages or policy are not possible."""
    if not isinstance(numa, str):
        raise ValueError(f"numa must be a string like 'auto', 'none', 'bind:0', 'interleave', "
                         f"'interleave:0,1', 'replicate', 'local'; got {numa!r}")
    text = numa.strip()
    if text.split(":", 1)[0] not in _PLANNED:
        return Placement(text)
    plan = _core.plan_placement(text, pages, strict, nbytes)
    return Placement(plan["where"], list(plan["replicate_on"]), plan)


def pages(value: str) -> str:
    """Engine page-size text for pages= ("auto", "1g", "2m", "thp", "4k")."""
    if not isinstance(value, str):
        raise ValueError(f"pages must be one of {', '.join(_PAGES)}; got {value!r}")
    return value.strip()
