# SPDX-License-Identifier: Apache-2.0
"""Every code block in README.md and docs/*.md runs, as written (docs/testing.md).

One test per Markdown file. Its blocks run in document order in a fresh directory with a fresh
private store (ONECOPY_DIR) and no host configuration: the ```python blocks in one python3
process (python_driver.py), each ```sh block in `bash -euo pipefail` with the build's `onecopy`
first on PATH, each ```cpp block built with CMake against the build tree (find_package(onecopy),
as a user would) and run. A failure names the file, the block's line and what it printed.

Environment (set by tests/docs/CMakeLists.txt): ONECOPY_DOCS_ROOT (the source tree),
ONECOPY_DOCS_BUILD (the build tree: onecopy, python/, onecopyConfig.cmake),
ONECOPY_DOCS_CXX_FLAGS (extra compile and link flags: the sanitizers in a sanitizer build),
ONECOPY_DOCS_PRELOAD (LD_PRELOAD for the processes that load onecopy._core in a sanitizer build).
"""
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

import pytest

import doc_blocks

ROOT = pathlib.Path(os.environ.get("ONECOPY_DOCS_ROOT", pathlib.Path(__file__).parents[2]))
BUILD = pathlib.Path(os.environ.get("ONECOPY_DOCS_BUILD", ROOT / "build" / "dev"))
BLOCK_TIMEOUT = 300  # seconds; a block that takes longer is a docs bug (keep examples small)
FILES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])


def _rel(path):
    return str(path.relative_to(ROOT))


class Run:
    """One Markdown file's blocks in one fresh directory and store."""

    def __init__(self, path):
        self.path = _rel(path)
        self.dir = pathlib.Path(tempfile.mkdtemp(prefix="onecopy-docs."))
        self.store = tempfile.mkdtemp(prefix="onecopy-docs-store.", dir="/dev/shm")
        env = dict(os.environ)
        env.pop("LD_PRELOAD", None)
        env.update(ONECOPY_DIR=self.store, ONECOPY_CONF="/nonexistent/onecopy.conf",
                   PATH=f"{BUILD}{os.pathsep}{env.get('PATH', '')}",
                   PYTHONPATH=os.pathsep.join(
                       p for p in [str(BUILD / "python"), env.get("PYTHONPATH")] if p),
                   PYTHONDONTWRITEBYTECODE="1")
        self.build_env = dict(env)  # the C++ compiler and cmake run without the preload
        if os.environ.get("ONECOPY_DOCS_PRELOAD"):
            env["LD_PRELOAD"] = os.environ["ONECOPY_DOCS_PRELOAD"]
            env.setdefault("ASAN_OPTIONS", "detect_leaks=0")
        self.env = env
        self.python = None
        self.output = self.dir / "python-output.txt"

    def close(self):
        if self.python:
            self.python.stdin.close()
            try:
                self.python.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.python.kill()
                self.python.wait()
            self.status.close()
        shutil.rmtree(self.dir, ignore_errors=True)
        shutil.rmtree(self.store, ignore_errors=True)

    def fail(self, block, what, output=""):
        tail = "\n".join(output.strip().splitlines()[-60:])
        pytest.fail(f"{self.path}:{block.line}: {block.language} block {what}"
                    + (f"\n--- its output (last 60 lines) ---\n{tail}" if tail else ""),
                    pytrace=False)

    def run(self, block):
        getattr(self, "run_" + block.language)(block)

    def run_python(self, block):
        if not self.python:
            read, write = os.pipe()
            out = open(self.output, "w")
            self.python = subprocess.Popen(
                [sys.executable, str(pathlib.Path(__file__).with_name("python_driver.py"))],
                stdin=subprocess.PIPE, stdout=out, stderr=subprocess.STDOUT, text=True,
                cwd=self.dir, env={**self.env, "DOCS_STATUS_FD": str(write)}, pass_fds=[write])
            out.close()
            os.close(write)
            self.status = os.fdopen(read)
        request = {"path": self.path, "line": block.line, "code": block.code}
        try:
            self.python.stdin.write(json.dumps(request) + "\n")
            self.python.stdin.flush()
        except BrokenPipeError:
            pass  # it died: the status read below says so
        reply = self.status.readline()
        if not reply:
            code = self.python.wait()
            self.python = None
            self.fail(block, f"ended the python process (exit code {code})",
                      self.output.read_text(errors="replace"))
        result = json.loads(reply)
        if not result["ok"]:
            self.fail(block, "raised", self.output.read_text(errors="replace")
                      + "\n" + result["error"])

    def _process(self, block, argv, env, what, cwd=None):
        try:
            p = subprocess.run(argv, cwd=cwd or self.dir, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               timeout=BLOCK_TIMEOUT)
        except subprocess.TimeoutExpired as e:
            self.fail(block, f"{what}: still running after {BLOCK_TIMEOUT} s",
                      (e.stdout or b"").decode(errors="replace")
                      if isinstance(e.stdout, bytes) else e.stdout or "")
        if p.returncode != 0:
            self.fail(block, f"{what}: exit code {p.returncode}", p.stdout)
        return p.stdout

    def run_sh(self, block):
        self._process(block, ["bash", "-euo", "pipefail", "-c", block.code], self.env, "failed")

    def run_cpp(self, block):
        src = self.dir / f"cpp-line-{block.line}"
        src.mkdir()
        # #line makes the compiler's messages point into the Markdown file.
        (src / "main.cpp").write_text(f'#line {block.line} "{ROOT / self.path}"\n{block.code}')
        (src / "CMakeLists.txt").write_text(
            "cmake_minimum_required(VERSION 3.25)\n"
            "project(docs_block LANGUAGES C CXX)\n"
            "set(CMAKE_CXX_STANDARD 20)\n"
            "find_package(onecopy REQUIRED)\n"
            "add_executable(block main.cpp)\n"
            "target_link_libraries(block PRIVATE onecopy::engine onecopy::topology "
            "onecopy::kernels onecopy::serve)\n")
        flags = os.environ.get("ONECOPY_DOCS_CXX_FLAGS", "")
        self._process(block, ["cmake", "-S", str(src), "-B", str(src / "build"),
                              f"-Donecopy_DIR={BUILD}", "-DCMAKE_BUILD_TYPE=RelWithDebInfo",
                              f"-DCMAKE_CXX_FLAGS={flags}", f"-DCMAKE_EXE_LINKER_FLAGS={flags}"],
                      self.build_env, "did not configure (cmake, find_package(onecopy))")
        self._process(block, ["cmake", "--build", str(src / "build")], self.build_env,
                      "did not compile")
        self._process(block, [str(src / "build" / "block")], self.env, "ran and failed")


@pytest.mark.parametrize("path", FILES, ids=_rel)
def test_every_block_runs(path):
    blocks = doc_blocks.parse(_rel(path), path.read_text())
    runnable = [b for b in blocks if b.runs]
    run = Run(path)
    try:
        for block in runnable:
            run.run(block)
    finally:
        run.close()
    skipped = [f"{_rel(path)}:{b.line} ({b.skip})" for b in blocks if b.skip]
    if skipped:
        print(f"{_rel(path)}: {len(runnable)} blocks ran; skipped: " + "; ".join(skipped))


def test_convention_is_enforced(tmp_path):
    """The parser refuses what would let a block go unrun without saying why."""
    bad = {
        "```\nonecopy ls\n```\n": "without a language",
        "```ruby\nputs 1\n```\n": "unknown block language 'ruby'",
        "<!-- docs-test: skip -->\n```sh\nfalse\n```\n": "needs a reason",
        "<!-- docs-test: skip (no GPU) -->\n\nsome text\n```sh\nfalse\n```\n": "right before",
        "```python\nprint(1)\n": "never closed",
        "<!-- docs-test: skip (why) -->\n": "no block after it",
    }
    for text, message in bad.items():
        with pytest.raises(doc_blocks.DocError, match=message):
            doc_blocks.parse("x.md", text)
    blocks = doc_blocks.parse("x.md", "a\n\n- item\n\n  ```python\n  x = 1\n  ```\n"
                                      "<!-- docs-test: skip (needs a GPU) -->\n```sh\nnvidia-smi\n```\n")
    assert [(b.language, b.line, b.code, b.skip) for b in blocks] == [
        ("python", 6, "x = 1\n", None), ("sh", 10, "nvidia-smi\n", "needs a GPU")]


def test_a_failing_block_fails_with_its_line(tmp_path, monkeypatch):
    """The harness really checks: a block that fails makes the test fail, naming file:line."""
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    md = tmp_path / "bad.md"
    for text, message in [
            ("# t\n\n```python\nx = 1\n```\n\n```python\nassert x == 2, 'x is 1'\n```\n",
             r"bad.md:8: python block raised[\s\S]*bad.md\", line 8[\s\S]*x is 1"),
            ("```python\nimport os\nos._exit(3)\n```\n", "bad.md:2: python block ended the python process \\(exit code 3\\)"),
            ("text\n\n```sh\necho before\nfalse\necho after\n```\n", r"bad.md:4: sh block failed: exit code 1\n[\s\S]*before"),
            ("```sh\nonecopy stat no-such-segment\n```\n", "bad.md:2: sh block failed"),
            ("```cpp\nint main() { return undefined_name; }\n```\n", "bad.md:2: cpp block did not compile"),
            ("```cpp\nint main() { return 4; }\n```\n", "bad.md:2: cpp block ran and failed: exit code 4")]:
        md.write_text(text)
        with pytest.raises(pytest.fail.Exception, match=message):
            test_every_block_runs(md)
