# SPDX-License-Identifier: Apache-2.0
"""The numa= and pages= arguments -> the engine's placement and page-size texts.

This is the one place that decides what numa="auto" means. Until the topology planner lands it
means the engine's default placement ("none": pages go where the populating threads run); the
planner will replace placement() with a call that looks at the segment's size and the host.
"""
from __future__ import annotations

_PAGES = ("auto", "1g", "2m", "thp", "4k")


def placement(numa: str, nbytes: int) -> str:
    """Engine placement text for numa= ("auto", "none", "bind:N[,M]", "interleave[:N,M]").

    nbytes is the segment's size, for the planner. Bad forms raise ValueError (from the engine's
    parser, which names the allowed forms)."""
    del nbytes  # the planner will use it
    if not isinstance(numa, str):
        raise ValueError(f"numa must be a string like 'auto', 'none', 'bind:0', 'interleave', "
                         f"'interleave:0,1'; got {numa!r}")
    text = numa.strip()
    if text == "auto":
        return "none"
    return text


def pages(value: str) -> str:
    """Engine page-size text for pages= ("auto", "1g", "2m", "thp", "4k")."""
    if not isinstance(value, str):
        raise ValueError(f"pages must be one of {', '.join(_PAGES)}; got {value!r}")
    return value.strip()
