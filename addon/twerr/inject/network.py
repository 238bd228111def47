"""Network faults, as a failing network or server would cause them: a reset, a close without
an answer, a hold until the client gives up, a body cut short, and the detour that sends a
`slow` request through the relay (relay.py), which trickles the API's answer out."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mitmproxy import http
from mitmproxy.connection import ConnectionState

from twerr import guard
from twerr import mitm
from twerr.inject.relay import TOKEN_HEADER
from twerr.inject.relay import Relay
from twerr.inject.relay import Target

if TYPE_CHECKING:
    from twerr.inject.injector import Injector

HOLD_POLL_SECONDS = 0.05


def close(flow: http.HTTPFlow) -> None:
    """End the flow without an answer (an orderly close)."""
    if flow.killable:
        flow.kill()


def reset(flow: http.HTTPFlow) -> None:
    """Drop the client connection with a TCP reset (RST), as a failing network does. HTTP/1
    only: on HTTP/2, killing the flow resets just its stream. Falls back to killing the flow."""
    if flow.request.http_version.startswith("HTTP/1"):
        mitm.reset_client(flow)
    close(flow)


async def hold(flow: http.HTTPFlow, seconds: float) -> None:
    """Keep the client waiting until it gives up (closes) or `seconds` pass."""
    deadline = time.monotonic() + seconds
    while (
        time.monotonic() < deadline
        and flow.error is None
        and flow.client_conn.state & ConnectionState.CAN_READ
    ):
        await asyncio.sleep(HOLD_POLL_SECONDS)


def truncate(flow: http.HTTPFlow) -> bool:
    """Send half the body under the full length, then close: the client reads a short body.
    False when there is no body to cut (an empty one, a HEAD request, 204, 304)."""
    response = flow.response
    assert response is not None
    body = response.raw_content or b""
    if not body or flow.request.method.upper() == "HEAD":
        return False
    response.headers.pop("transfer-encoding", None)
    response.headers["content-length"] = str(len(body))
    response.headers["connection"] = "close"
    response.raw_content = body[: len(body) // 2]
    return True


@dataclass
class Detour:
    """Where a slow request really goes, and the body as it passes (it is streamed)."""

    token: str
    scheme: str
    host: str
    port: int
    host_header: str | None
    body: bytearray

    def collect(self, data: bytes) -> bytes:
        self.body += data
        return data

    def restore(self, flow: http.HTTPFlow) -> None:
        """Put the request's real destination back, so the flow shows (and replays) it."""
        request = flow.request
        request.scheme, request.host, request.port = self.scheme, self.host, self.port
        request.host_header = self.host_header
        request.headers.pop(TOKEN_HEADER, None)


async def send_through(relay: Relay, flow: http.HTTPFlow, rate: int, verify: bool) -> Detour:
    """Send the request through the relay, which fetches the API's answer and trickles it."""
    await relay.start()
    request = flow.request
    target = Target(request.scheme, request.host, request.port, rate, verify)
    detour = Detour(
        relay.expect(target),
        request.scheme,
        request.host,
        request.port,
        request.host_header,
        bytearray(),
    )
    request.scheme, request.host, request.port = "http", "127.0.0.1", relay.port
    request.host_header = detour.host_header  # setting host rewrote it
    request.headers[TOKEN_HEADER] = detour.token
    return detour


class SlowDetour:
    """Sends `slow` requests through the relay. It is an addon of its own because it must run
    last in mitmproxy's chain (the injector puts it there while `slow` can be asked for), after
    map-remote and the like, so the relay asks the API where mitmproxy itself would have."""

    def __init__(self, injector: Injector) -> None:
        self.injector = injector
        self.added = False

    def forget(self, flow: http.HTTPFlow) -> None:
        self.injector.forget(flow)

    @guard.hook
    async def request(self, flow: http.HTTPFlow) -> None:
        pending = self.injector.pending.get(flow.id)
        if pending is None or pending.active.rule.fault != "slow" or pending.detour is not None:
            return
        if flow.response is None and flow.error is None:
            pending.detour = await self.injector.detour(flow, pending.active.rule)
