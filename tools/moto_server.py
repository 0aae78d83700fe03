"""A fresh ``moto_server`` process on a free loopback port: one place for every test and tool that needs one.

Started as a child process (a real HTTP server in another process, as the
deployed services are), stopped on exit even after a failure. moto is told not
to run Lambda code in Docker (absent here): invocations are answered, not run.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

MOTO_SERVER = Path(sys.executable).parent / "moto_server"


class MotoServerError(RuntimeError):
    """moto_server is missing, exited or did not answer."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MotoServer:
    """A fresh moto_server on a free 127.0.0.1 port, for one run."""

    def __init__(self, executable: Path = MOTO_SERVER, start_timeout: float = 30,
                 env: dict[str, str] | None = None) -> None:
        self.executable = executable
        self.start_timeout = start_timeout
        # e.g. MOTO_ACCOUNT_ID: the account the emulated STS answers with.
        self.env = {**os.environ, **(env or {})}
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> "MotoServer":
        if not self.executable.exists():
            raise MotoServerError(f"moto_server not found at {self.executable} (pip install 'moto[server]')")
        self.process = subprocess.Popen([str(self.executable), "-H", "127.0.0.1", "-p", str(self.port)],
                                        env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            self._wait_until_ready()
            # moto would try to run Lambda code in Docker (absent here); without it, invocations are answered, not run.
            self.post("/moto-api/config", {"lambda": {"use_docker": False}})
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while True:
            try:
                urllib.request.urlopen(self.url + "/moto-api/", timeout=1).close()
                return
            except OSError:
                if self.process.poll() is not None:
                    raise MotoServerError(f"moto_server exited with {self.process.returncode} before answering")
                if time.monotonic() > deadline:
                    raise MotoServerError(f"moto_server did not answer on {self.url} within {self.start_timeout:.0f} s")
                time.sleep(0.1)

    def post(self, path: str, body: dict) -> None:
        request = urllib.request.Request(self.url + path, data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        urllib.request.urlopen(request, timeout=10).close()

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
