# SPDX-License-Identifier: Apache-2.0
"""Runs the ```python blocks of one Markdown file in this one process, in document order.

The docs test sends one JSON request per line on stdin ({"path", "line", "code"}); each block is
compiled under the Markdown file's name with its own line numbers (so a traceback points into the
.md file) and run in __main__'s namespace, so the blocks share their names as one script would and
functions they define pickle by reference into fork-started workers. After each block, one JSON
line goes to the status pipe (fd in DOCS_STATUS_FD): {"ok": true} or {"ok": false, "error": ...}.
"""
import json
import os
import sys
import traceback


def _serve():
    status = os.fdopen(int(os.environ.pop("DOCS_STATUS_FD")), "w", buffering=1)
    namespace = sys.modules["__main__"].__dict__
    for request in sys.stdin:
        block = json.loads(request)
        source = "\n" * (block["line"] - 1) + block["code"]
        try:
            exec(compile(source, block["path"], "exec"), namespace)
            result = {"ok": True}
        except BaseException:  # SystemExit included: a block must not end the file's process
            result = {"ok": False, "error": traceback.format_exc()}
        sys.stdout.flush()
        sys.stderr.flush()
        status.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    _serve()
