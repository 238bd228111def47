"""The test proxy's side of `twerr.testing`: an addon, loaded after twerr in the `twerr dump`
that a `TwerrProxy` starts, that lets the test process drive it.

- **Control**: a local TCP port (127.0.0.1, a random port and a random token, written to the
  `twerr_control` file once the proxy listens) takes one JSON line per connection and answers
  one: run a command (`twerr.inject`, `twerr.next`, `twerr.clear`, ...), set options, give the
  flows so far (as a mitmproxy flow file), the audit's findings, the report.
- **Upstream**: with `twerr_upstream`, requests to the X API's hosts go to that test double
  instead, their Host header kept, so twerr sees (and reports) the API's host.
- **No leak**: when the test process goes away (its end of our stdin closes), the proxy stops.

Its hooks come after twerr's (mitmdump loads the scripts in order), so a flow it keeps carries
twerr's metadata.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import logging
import os
import secrets
import sys
from pathlib import Path
from typing import Any

from mitmproxy import addonmanager
from mitmproxy import ctx
from mitmproxy import exceptions
from mitmproxy import http
from mitmproxy import io as mitmio

from twerr import mitm
from twerr.testing.launch import X_API_HOSTS
from twerr.testing.launch import upstream_parts

logger = logging.getLogger("twerr.testing")

SETTLE_SECONDS = 2.0  # how long `flows` waits for requests still under way to end
MAX_REQUEST = 1 << 20  # bytes of one control request
REQUEST_SECONDS = 10.0  # how long a control connection may take to send its request


class Control:
    def __init__(self) -> None:
        self.finished: list[http.HTTPFlow] = []  # in the order they ended
        self.ended: set[str] = set()
        self.open: set[str] = set()  # requests under way
        self.settled = asyncio.Event()
        self.upstream: tuple[str, str, int] | None = None
        self.rerouted: dict[str, tuple[str, str, int]] = {}  # flow id: where the client sent it
        self.token = secrets.token_hex(16)
        self.server: asyncio.Server | None = None
        self.serving: asyncio.Task[None] | None = None

    def load(self, loader: addonmanager.Loader) -> None:
        loader.add_option(
            "twerr_control", str, "", "twerr.testing: the file to write the control address to."
        )
        loader.add_option(
            "twerr_upstream",
            str,
            "",
            "twerr.testing: send requests to the X API's hosts to this http(s)://HOST:PORT "
            "instead, their Host header kept.",
        )

    def configure(self, updated: set[str]) -> None:
        if "twerr_upstream" in updated:
            value = ctx.options.twerr_upstream
            self.upstream = upstream_parts(value) if value else None

    def running(self) -> None:
        if ctx.options.twerr_control and self.serving is None:
            loop = asyncio.get_running_loop()
            self.serving = loop.create_task(self._serve(Path(ctx.options.twerr_control)))
            _stop_when_parent_goes(loop)

    async def _serve(self, address_file: Path) -> None:
        self.server = await asyncio.start_server(self._answer, "127.0.0.1", 0, limit=MAX_REQUEST)
        port = self.server.sockets[0].getsockname()[1]
        address = {"pid": os.getpid(), "control": port, "token": self.token}
        address["proxy"] = mitm.listen_port()  # --listen-port 0: the port the system gave
        partial = address_file.with_suffix(".tmp")
        partial.touch(mode=0o600)
        partial.write_text(json.dumps(address))
        partial.replace(address_file)  # whole, or not there at all

    def done(self) -> None:
        if self.server is not None:
            self.server.close()

    # ---- flows ------------------------------------------------------------------------------

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        self.open.add(flow.id)
        self.settled.clear()

    def request(self, flow: http.HTTPFlow) -> None:
        if self.upstream is None or flow.response or flow.error or not flow.live:
            return
        request = flow.request
        if X_API_HOSTS.match(request.pretty_host):
            self.rerouted[flow.id] = (request.scheme, request.host, request.port)
            _route(request, self.upstream)

    def response(self, flow: http.HTTPFlow) -> None:
        if flow.websocket is None:
            self._finish(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        self._finish(flow)

    def _finish(self, flow: http.HTTPFlow) -> None:
        if (destination := self.rerouted.pop(flow.id, None)) is not None:
            # the flow as the client sent it: recorded, it replays as X's own traffic
            _route(flow.request, destination)
        self.open.discard(flow.id)
        if flow.id not in self.ended:  # an error can follow a response
            self.ended.add(flow.id)
            self.finished.append(flow)
        if not self.open:
            self.settled.set()

    # ---- the control port -------------------------------------------------------------------

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            # a connection that says nothing is not held: the proxy serves one test at a time
            line = await asyncio.wait_for(reader.readline(), REQUEST_SECONDS)
            try:
                asked = json.loads(line[:MAX_REQUEST])
                if not secrets.compare_digest(str(asked.get("token")), self.token):
                    raise PermissionError("wrong token")
                answer = {"ok": True, "result": await self._do(asked)}
            except (exceptions.CommandError, exceptions.OptionsError, ValueError) as e:
                answer = {"ok": False, "error": str(e)}
            except PermissionError as e:
                answer = {"ok": False, "error": str(e)}
            writer.write(json.dumps(answer).encode() + b"\n")
            await writer.drain()
        except TimeoutError:
            logger.info("twerr.testing: closed a control connection that sent no request")
        except Exception:  # a broken control request must not stop the proxy
            logger.exception("twerr.testing: a control request failed")
        finally:
            writer.close()

    async def _do(self, asked: dict[str, Any]) -> Any:
        op = asked.get("op")
        if op == "command":
            result = ctx.master.commands.call_strings(str(asked["name"]), list(asked["args"]))
            return result if isinstance(result, str | list | int | bool | None) else str(result)
        if op == "set":
            ctx.options.set(*asked["specs"])
            return None
        if op == "flows":
            await self._settle()
            buffer = io.BytesIO()
            writer = mitmio.FlowWriter(buffer)
            for flow in self.finished:
                writer.add(flow)
            return base64.b64encode(buffer.getvalue()).decode()
        if op == "findings":
            await self._settle()
            return [finding for flow in self.finished if (finding := _finding(flow))]
        if op == "report":
            await self._settle()
            return ctx.master.addons.get("twerr").parts.reporter.report.to_dict()
        raise ValueError(f"unknown control request {op!r}")

    async def _settle(self) -> None:
        """Until requests under way have ended (a client that saw a reset may ask before the
        proxy's error hook ran), or SETTLE_SECONDS (a request held by a `timeout` fault)."""
        if self.open:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.settled.wait(), SETTLE_SECONDS)


def _route(request: http.Request, destination: tuple[str, str, int]) -> None:
    """Send a request elsewhere, its Host header (HTTP/2's :authority) kept."""
    host_header = request.host_header
    request.scheme, request.host, request.port = destination
    request.host_header = host_header  # setting the host rewrote it


def _finding(flow: http.HTTPFlow) -> dict[str, Any] | None:
    meta = flow.metadata.get("twerr") or {}
    audit = meta.get("audit")
    if not audit:
        return None
    return {"endpoint": meta.get("endpoint", ""), **audit}


def _stop_when_parent_goes(loop: asyncio.AbstractEventLoop) -> None:
    """The test process holds our stdin open; when it ends, however it ends, the pipe closes,
    and the proxy stops."""
    stdin = sys.stdin.fileno()

    def read() -> None:
        try:
            if os.read(stdin, 1 << 16):
                return
        except OSError:
            pass
        loop.remove_reader(stdin)
        ctx.master.shutdown()

    try:
        loop.add_reader(stdin, read)
    except (NotImplementedError, ValueError, OSError):  # no pipes in this event loop (Windows)
        logger.debug("twerr.testing: the proxy will not notice its test process ending")
