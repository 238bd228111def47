"""A twerr proxy for tests: a `twerr dump` process on a free port, and the handle that drives
it. The pytest fixture `twerr_proxy` (plugin.py) and `twerr.testing.proxy()` both make one.

Imports nothing from mitmproxy until `flows` or `save()` is asked for: a test suite pays for
mitmproxy only in the process it runs in.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

import twerr
from twerr.script import CONTROL
from twerr.testing.launch import Launch
from twerr.testing.launch import options_text
from twerr.testing.launch import plan

if TYPE_CHECKING:
    from mitmproxy import http

# Runs `twerr dump` from the twerr this process imported (a checkout's, in a test of twerr).
BOOT = (
    "import sys; path = sys.argv.pop(1); "
    "path in sys.path or sys.path.insert(0, path); "
    "from twerr.cli import main; sys.exit(main(sys.argv[1:]))"
)
PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY")


class ProxyError(RuntimeError):
    """The proxy could not start, or is no longer running."""


class TwerrProxy:
    """A running twerr proxy. `url`, `ca_path` and `env` are for the client; `inject`, `next`,
    `clear`, `set` change the proxy as it runs; `flows`, `findings`, `verdicts` and `report()`
    say what happened."""

    port: int  # the proxy's port on 127.0.0.1, once it runs
    workdir: Path
    confdir: Path  # mitmproxy's confdir, where its CA is
    log_path: Path  # the proxy's output

    def __init__(self, workdir: str | os.PathLike[str], **given: Any) -> None:
        """workdir: a folder for the proxy's files (its log; its CA, without confdir=).
        given: see twerr.testing.launch."""
        self.launch: Launch = plan(**given)
        self.workdir = Path(workdir)
        self.confdir = Path(self.launch.confdir or self.workdir / "confdir")
        self.log_path = self.workdir / "twerr.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0
        self._control: tuple[int, str] = (0, "")

    # ---- start and stop ---------------------------------------------------------------------

    def start(self) -> TwerrProxy:
        self.workdir.mkdir(parents=True, exist_ok=True)
        address_file = self.workdir / "control.json"
        address_file.unlink(missing_ok=True)
        args = ["dump", "-s", str(CONTROL), "--set", f"twerr_control={address_file}"]
        args += ["--set", f"confdir={self.confdir}"]
        if self.launch.upstream:
            args += ["--set", f"twerr_upstream={self.launch.upstream}"]
        package_parent = str(Path(twerr.__file__).resolve().parents[1])
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-c", BOOT, package_parent, *args, *self.launch.args],
                stdin=subprocess.PIPE,  # closes when this process ends: the proxy then stops
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                env={k: v for k, v in os.environ.items() if k not in PROXY_VARIABLES},
            )
        try:
            address = self._wait_for(address_file)
        except BaseException:
            self.stop()
            raise
        self.port, self._control = address["proxy"], (address["control"], address["token"])
        return self

    def _wait_for(self, address_file: Path) -> dict[str, Any]:
        assert self.process is not None
        deadline = time.monotonic() + self.launch.timeout
        while time.monotonic() < deadline:
            if address_file.exists():
                return json.loads(address_file.read_text())
            if self.process.poll() is not None:
                raise ProxyError(f"twerr could not start:\n{self.log_tail()}")
            time.sleep(0.01)
        raise ProxyError(
            f"twerr did not start within {self.launch.timeout:g} s:\n{self.log_tail()}"
        )

    def stop(self) -> None:
        """Stop the proxy (at once if it does not stop within 10 s). Safe to call again."""
        process, self.process = self.process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdin:
            process.stdin.close()

    def __enter__(self) -> TwerrProxy:
        return self if self.process else self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None

    # ---- for the client ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The proxy's URL, for HTTPS_PROXY or a client's proxy setting."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def ca_path(self) -> str:
        """mitmproxy's CA certificate (PEM): the client must trust it."""
        return str(self.confdir / "mitmproxy-ca-cert.pem")

    @property
    def client_env(self) -> dict[str, str]:
        """The variables that route a client through the proxy and make it trust the CA."""
        ca = self.ca_path
        return {
            "HTTPS_PROXY": self.url,
            "https_proxy": self.url,
            "REQUESTS_CA_BUNDLE": ca,
            "SSL_CERT_FILE": ca,
            "CURL_CA_BUNDLE": ca,
            "NODE_EXTRA_CA_CERTS": ca,
        }

    @property
    def env(self) -> dict[str, str]:
        """This process's environment with client_env set: for a child process's `env=`."""
        return {**os.environ, **self.client_env}

    # ---- changing the proxy as it runs ------------------------------------------------------

    def inject(self, spec: str) -> None:
        """Add an injection rule, as in twerr_inject (`:~u /2/tweets:187`)."""
        self.command("twerr.inject", spec)

    def next(self, spec: str) -> None:
        """Inject into the next matching request only."""
        self.command("twerr.next", spec)

    def clear(self) -> None:
        """Remove every injection rule."""
        self.command("twerr.clear")

    def scenario(self, name: str) -> Any:
        """Start one of twerr's named scenarios (the `twerr.scenario` command)."""
        try:
            return self.command("twerr.scenario", name)
        except ValueError as e:
            if "Unknown command" in str(e):
                raise ValueError("this twerr has no scenarios (no twerr.scenario command)") from e
            raise

    def set(self, **options: Any) -> None:
        """Set options as the proxy runs: `set(time_scale=1800)`, `set(credits="5")`."""
        self._ask("set", specs=options_text(options))

    def command(self, name: str, *args: str) -> Any:
        """Run a mitmproxy command in the proxy (`twerr.rules`, `twerr.audit`, ...). ValueError
        carries mitmproxy's message when it refuses."""
        return self._ask("command", name=name, args=[str(a) for a in args])

    # ---- what happened ----------------------------------------------------------------------

    @property
    def flows(self) -> list[http.HTTPFlow]:
        """The flows that have ended so far, in that order, with twerr's metadata."""
        from mitmproxy import io as mitmio

        data = base64.b64decode(self._ask("flows"))
        return list(mitmio.FlowReader(io.BytesIO(data)).stream())  # type: ignore[arg-type]

    @property
    def findings(self) -> list[dict[str, Any]]:
        """The audit's findings so far: metadata["twerr"]["audit"] of each flagged flow, with
        its endpoint."""
        return list(self._ask("findings"))

    @property
    def verdicts(self) -> dict[str, str]:
        """The audit's verdict per error kind so far: {"88": "retry too early", ...}."""
        return {row["error"]: row["verdict"] for row in self.report()["errors_by_kind"]}

    def report(self) -> dict[str, Any]:
        """twerr's report so far, as `twerr report --format json` gives it."""
        return dict(self._ask("report"))

    def assert_no_findings(self) -> None:
        """Fail, listing them, when the audit flagged anything the client did."""
        findings = self.findings
        if findings:
            lines = [f"  {f['endpoint']}: {f['verdict']} ({f['finding']}): {f['text']}"
                     for f in findings]  # fmt: skip
            raise AssertionError(
                f"twerr's audit flagged {len(findings)} request(s):\n" + "\n".join(lines)
            )

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the flows so far to a mitmproxy flow file (to replay, or to open in mitmweb)."""
        target = Path(path)
        target.write_bytes(base64.b64decode(self._ask("flows")))
        return target

    def log_tail(self, lines: int = 40) -> str:
        """The end of the proxy's output (twerr's lines, mitmproxy's warnings and errors)."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _ask(self, op: str, **fields: Any) -> Any:
        port, token = self._control
        if not self.running:
            raise ProxyError(f"the twerr proxy is not running:\n{self.log_tail()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
                sock.sendall(json.dumps({"op": op, "token": token, **fields}).encode() + b"\n")
                answer = json.loads(_read_all(sock))
        except (OSError, ValueError) as e:
            raise ProxyError(f"the twerr proxy did not answer ({e}):\n{self.log_tail()}") from e
        if not answer["ok"]:
            raise ValueError(answer["error"])
        return answer["result"]

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<TwerrProxy {self.url} {state}>"


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    while chunk := sock.recv(1 << 16):
        chunks.append(chunk)
    return b"".join(chunks)


@contextlib.contextmanager
def proxy(**given: Any) -> Iterator[TwerrProxy]:
    """A twerr proxy for as long as the block runs, for scripts and other test runners:

        with twerr.testing.proxy(upstream="http://127.0.0.1:8000", seed=42) as p:
            subprocess.run(["node", "bot.test.mjs"], env=p.env, check=True)
            p.assert_no_findings()

    Arguments as for the pytest fixture `twerr_proxy`. Its files go to a temporary folder,
    removed at the end (`workdir=` keeps them)."""
    workdir = given.pop("workdir", None)
    scratch = None if workdir else tempfile.mkdtemp(prefix="twerr-proxy-")
    try:
        with TwerrProxy(workdir or scratch, **given).start() as handle:  # type: ignore[arg-type]
            yield handle
    finally:
        if scratch:
            shutil.rmtree(scratch, ignore_errors=True)
