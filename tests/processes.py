"""Real mitmdump processes, started the way users start them."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "addon" / "twerr_addon.py"
BUNDLED_FLOWS = ROOT / "flows" / "twitter-api.mitm"


def mitmdump_command() -> list[str]:
    found = Path(sys.executable).with_name("mitmdump")
    if found.exists():
        return [str(found)]
    path = shutil.which("mitmdump")
    assert path, "mitmdump is not installed beside this Python"
    return [path]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_mitmdump(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """Run mitmdump to completion (offline mode) and return its output."""
    return subprocess.run(
        [*mitmdump_command(), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env=proxy_free_env(),
    )


def reverse_proxy_args(upstream_port: int, flows: Path, *args: str) -> list[str]:
    """mitmdump's arguments for twerr as a reverse proxy in front of a local upstream: the Host
    header kept (so twerr_scope sees the API's host), the flows saved to `flows`."""
    mode = f"reverse:http://127.0.0.1:{upstream_port}"
    return ["--mode", mode, "--set", "keep_host_header=true", "-s", str(SCRIPT), *args,
            "-w", str(flows)]  # fmt: skip


def proxy_free_env() -> dict[str, str]:
    env = dict(os.environ)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        env.pop(name, None)
    return env


class Mitmdump:
    """A live mitmdump on a free port; stop() ends it and returns its output."""

    def __init__(
        self,
        tmp_path: Path,
        *args: str,
        program: list[str] | None = None,
        prefix: Sequence[str] = (),
        timeout: float = 30,
    ) -> None:
        """program: what to run instead of mitmdump (scripts/web); prefix: a command that runs
        the mitmdump (valgrind ...), which then gets timeout seconds to listen."""
        self.port = free_port()
        self.log = tmp_path / f"mitmdump-{self.port}.log"
        self.confdir = tmp_path / "confdir"
        command = [
            *prefix,
            *([sys.executable] if prefix else []),
            *(program or mitmdump_command()),
            "--listen-host",
            "127.0.0.1",
            "--listen-port",
            str(self.port),
            "--set",
            f"confdir={self.confdir}",
            *args,
        ]
        self.output = self.log.open("w")
        self.process = subprocess.Popen(
            command, stdout=self.output, stderr=subprocess.STDOUT, cwd=ROOT, env=proxy_free_env()
        )
        self.wait_until_listening(timeout=timeout)

    def wait_until_listening(self, port: int | None = None, timeout: float = 30) -> None:
        """Until the proxy's port (or another port of the process) takes connections."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"mitmdump exited early:\n{self.log.read_text()}")
            try:
                socket.create_connection(("127.0.0.1", port or self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError(f"mitmdump did not listen within {timeout}s:\n{self.log.read_text()}")

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.output.close()
        return self.log.read_text()


WEB_PASSWORD = "twerr-test"


class Mitmweb(Mitmdump):
    """`scripts/web` (mitmweb with twerr and its columns) on free ports, without a browser."""

    def __init__(self, tmp_path: Path, *args: str) -> None:
        self.web_port = free_port()
        super().__init__(
            tmp_path,
            "--web-host",
            "127.0.0.1",
            "--web-port",
            str(self.web_port),
            "--no-web-open-browser",
            "--set",
            f"web_password={WEB_PASSWORD}",
            *args,
            program=[str(ROOT / "scripts" / "web")],
        )
        self.wait_until_listening(self.web_port)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"


def still_running(pid: int, port: int, seconds: float = 5) -> bool:
    """Whether a process still runs, or something still listens on its port, after waiting
    up to `seconds` for both to end."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            os.kill(pid, 0)
            alive = True
        except ProcessLookupError:
            alive = False
        if not alive:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                alive = True
            except OSError:
                return False
        if time.monotonic() > deadline:
            return alive
        time.sleep(0.05)
