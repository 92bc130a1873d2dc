# SPDX-License-Identifier: Apache-2.0
"""`onecopy serve` in a child process for the Python tests that talk to it."""
import json
import os
import signal
import subprocess


class Server:
    """`onecopy serve` in a child process: its socket, its one-line GPU state, its pid."""

    def __init__(self, cli, *args):
        self.proc = subprocess.Popen([cli, "serve", *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        try:
            ready = self.proc.stdout.readline()  # after the GPU line on stderr
            assert ready.startswith("onecopy serve: listening on "), (
                f"server said {ready!r}; stderr: {self.proc.stderr.read()!r}")
            self.socket = ready[len("onecopy serve: listening on "):].rsplit(" (pid", 1)[0]
            self.gpu_line = self.proc.stderr.readline().strip()
        except BaseException:
            self.proc.kill()
            self.proc.wait()
            raise

    @property
    def gpu_reason(self):
        """Why the server has no GPU, from its first stderr line ("" when it has one)."""
        prefix, suffix = "onecopy serve: ", "; serving host segments only"
        if self.gpu_line.endswith(suffix):
            return self.gpu_line[len(prefix):-len(suffix)]
        return ""

    def status(self, cli):
        r = subprocess.run([cli, "serve", "--status", "--json"], capture_output=True, text=True,
                           env={**os.environ, "ONECOPY_SOCKET": self.socket}, check=True)
        return json.loads(r.stdout)

    def stop(self):
        """SIGTERM and the exit code (0 for a clean stop)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=60)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.proc.stdout.close()
            self.proc.stderr.close()
