# SPDX-License-Identifier: Apache-2.0
"""The fenced code blocks of a Markdown file, as the docs test runs them.

Convention (COMMON.md, docs/testing.md): ```python, ```sh and ```cpp blocks run; ```text,
```console and ```json are output or data and do not run; a runnable block preceded by the line
`<!-- docs-test: skip (reason) -->` is skipped with that reason. Anything else (a fence with no
language, an unknown language, a skip line without a reason or not followed by a block) is an
error, so that a block nobody runs cannot hide in the docs.
"""
from __future__ import annotations

import dataclasses
import re
import textwrap

RUN = {"python": "python", "py": "python",
       "sh": "sh", "bash": "sh", "shell": "sh",
       "cpp": "cpp", "c++": "cpp"}
NOT_RUN = {"text", "console", "json"}

_fence = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_skip = re.compile(r"^\s*<!--\s*docs-test:\s*skip\b(?P<rest>.*?)-->\s*$")
_reason = re.compile(r"^\s*\((?P<reason>[^)]*\S[^)]*)\)\s*$")


@dataclasses.dataclass
class Block:
    language: str   # "python", "sh" or "cpp" (normalised), or the not-run label
    line: int       # 1-based line of the first code line (the one after the opening fence)
    code: str       # dedented to the fence's indentation; line count preserved
    skip: str | None = None  # the reason given by a docs-test: skip line

    @property
    def runs(self):
        return self.language in RUN.values() and self.skip is None


class DocError(ValueError):
    """A Markdown file that breaks the convention: names the file and the line."""


def parse(path, text):
    """Every fenced block of `text` (the contents of `path`), in document order."""
    lines = text.split("\n")
    blocks = []
    pending_skip = None  # (line, reason) of a skip marker waiting for its block
    i = 0
    while i < len(lines):
        m = _fence.match(lines[i])
        s = _skip.match(lines[i])
        if s:
            r = _reason.match(s.group("rest"))
            if not r:
                raise DocError(f"{path}:{i + 1}: 'docs-test: skip' needs a reason in parentheses: "
                               f"<!-- docs-test: skip (why this block cannot run here) -->")
            pending_skip = (i + 1, r.group("reason").strip())
            i += 1
            continue
        if not m:
            if lines[i].strip() and pending_skip:
                raise DocError(f"{path}:{pending_skip[0]}: a 'docs-test: skip' line must come "
                               f"right before the fenced block it skips")
            i += 1
            continue
        indent, fence, info = m.group("indent"), m.group("fence"), m.group("info").strip()
        label = info.split()[0].lower() if info else ""
        start = i + 1
        j = start
        closing = re.compile(r"^[ \t]*" + re.escape(fence[0]) + "{" + str(len(fence)) + r",}\s*$")
        while j < len(lines) and not closing.match(lines[j]):
            j += 1
        if j == len(lines):
            raise DocError(f"{path}:{i + 1}: the fenced block opened here is never closed")
        if not label:
            raise DocError(f"{path}:{i + 1}: a fenced block without a language: label it "
                           f"python, sh or cpp (run by the docs test), or text, console or json "
                           f"(not run)")
        if label not in RUN and label not in NOT_RUN:
            raise DocError(f"{path}:{i + 1}: unknown block language '{label}': the docs test "
                           f"runs python, sh and cpp, and leaves text, console and json alone")
        body = "\n".join(l[len(indent):] if l.startswith(indent) else l.lstrip()
                         for l in lines[start:j])
        block = Block(RUN.get(label, label), start + 1, textwrap.dedent(body) + "\n")
        if pending_skip:
            if label in NOT_RUN:
                raise DocError(f"{path}:{pending_skip[0]}: a 'docs-test: skip' line before a "
                               f"```{label} block, which never runs anyway")
            block.skip = pending_skip[1]
            pending_skip = None
        blocks.append(block)
        i = j + 1
    if pending_skip:
        raise DocError(f"{path}:{pending_skip[0]}: a 'docs-test: skip' line with no block after it")
    return blocks
