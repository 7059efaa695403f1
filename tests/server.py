"""Start ``python app.py`` as a real server on a free 127.0.0.1 port, and stop it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Optional

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class AppServer:
    """``with AppServer(env=...) as url:``: the app answers HTTP 200 at ``url`` inside the block."""

    def __init__(self, *args: str, env: Optional[dict] = None, port: Optional[int] = None, timeout: float = 60, log: Optional[Path] = None):
        self.port = port or free_port()
        self.args = list(args) if "--port" in args or (env or {}).get("GRADIO_SERVER_PORT") else ["--port", str(self.port), *args]
        self.env = {**os.environ, **(env or {})}
        self.timeout = timeout
        self.url = f"http://127.0.0.1:{self.port}"
        self.startup_seconds: Optional[float] = None
        self.log_path = log  # the server's output; None: .pytest_cache when it exists, else nowhere

    def __enter__(self) -> str:
        if self.log_path is None and (ROOT / ".pytest_cache").is_dir():  # pytest makes it only at a run's end: absent on a fresh clone
            self.log_path = ROOT / ".pytest_cache" / f"app-{self.port}.log"
        self.log = open(self.log_path, "w") if self.log_path else subprocess.DEVNULL
        start = time.monotonic()
        self.proc = subprocess.Popen([sys.executable, "app.py", *self.args], cwd=ROOT, env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        while time.monotonic() - start < self.timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"app.py exited with {self.proc.returncode} before answering")
            try:
                with urllib.request.urlopen(self.url, timeout=2) as response:
                    if response.status == 200:
                        self.startup_seconds = time.monotonic() - start
                        return self.url
            except OSError:
                time.sleep(0.2)
        self.__exit__()
        raise TimeoutError(f"app.py did not answer at {self.url} within {self.timeout} s")

    def __exit__(self, *exc) -> None:
        self.proc.terminate()  # SIGTERM: a background process ignores SIGINT
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if hasattr(self.log, "close"):
            self.log.close()


def memory_mb(pid: int, field: str = "VmHWM") -> float:
    """A process's memory from /proc (Linux): ``VmHWM`` its peak resident set, ``VmRSS`` the current one."""
    with open(f"/proc/{pid}/status", encoding="utf-8") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field)) / 1024
