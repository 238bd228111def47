"""The `slow` fault's relay: fetch the API's response, then trickle its body out slowly.

mitmproxy sends a response body as fast as it has it, so pacing it needs an upstream that is
slow on purpose. The injector points a chosen request at this relay (127.0.0.1, in the proxy's
own process) and streams its answer; the relay asks the real API and writes the body back a
few bytes at a time. No mitmproxy import: it takes plain requests and targets.
"""

from __future__ import annotations

import asyncio
import http.client
import logging
import secrets
import ssl
from dataclasses import dataclass

logger = logging.getLogger(__name__)

TOKEN_HEADER = "x-twerr-relay"
TICKS_PER_SECOND = 10
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
    TOKEN_HEADER,
}


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    rate: int  # bytes per second
    verify: bool = True


class Relay:
    def __init__(self) -> None:
        self.targets: dict[str, Target] = {}
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        if self.server is None:
            self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
            self.port = self.server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None

    def expect(self, target: Target) -> str:
        """Register where a coming request really goes; the token names it in TOKEN_HEADER."""
        token = secrets.token_hex(8)
        self.targets[token] = target
        return token

    def forget(self, token: str) -> None:
        self.targets.pop(token, None)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while await self._relay_one(reader, writer):
                pass
        except (OSError, asyncio.IncompleteReadError, ValueError) as e:
            logger.debug(f"twerr relay: {e!r}")
        finally:
            writer.close()

    async def _relay_one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        head = await reader.readuntil(b"\r\n\r\n")
        request_line, *lines = head.decode("latin-1").split("\r\n")
        method, path, _ = request_line.split(" ", 2)
        headers = [tuple(line.split(":", 1)) for line in lines if ":" in line]
        pairs = [(name.strip(), value.strip()) for name, value in headers]
        fields = {name.lower(): value for name, value in pairs}
        body = await _read_body(reader, fields)
        target = self.targets.pop(fields.get(TOKEN_HEADER, ""), None)
        if target is None:
            writer.write(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n")
            await writer.drain()
            return False
        forward = [(n, v) for n, v in pairs if n.lower() not in HOP_BY_HOP]
        loop = asyncio.get_running_loop()
        status, reason, answer, content = await loop.run_in_executor(
            None, _fetch, target, method, path, forward, body
        )
        out = [f"HTTP/1.1 {status} {reason}"]
        out += [f"{n}: {v}" for n, v in answer if n.lower() not in HOP_BY_HOP]
        out += [f"content-length: {len(content)}", "", ""]
        writer.write("\r\n".join(out).encode("latin-1"))
        await writer.drain()
        step = max(1, target.rate // TICKS_PER_SECOND)
        for start in range(0, len(content), step):
            await asyncio.sleep(1 / TICKS_PER_SECOND)
            writer.write(content[start : start + step])
            await writer.drain()
        return True


async def _read_body(reader: asyncio.StreamReader, fields: dict[str, str]) -> bytes:
    if "chunked" in fields.get("transfer-encoding", "").lower():
        body = b""
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            body += (await reader.readexactly(size + 2))[:-2]
        while await reader.readuntil(b"\r\n") != b"\r\n":
            pass  # trailers
        return body
    return await reader.readexactly(int(fields.get("content-length", "0") or 0))


def _fetch(
    target: Target, method: str, path: str, headers: list[tuple[str, str]], body: bytes
) -> tuple[int, str, list[tuple[str, str]], bytes]:
    """Ask the real destination (blocking: run in a thread)."""
    connection: http.client.HTTPConnection
    if target.scheme == "https":
        context = ssl.create_default_context()
        if not target.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        connection = http.client.HTTPSConnection(
            target.host, target.port, context=context, timeout=60
        )
    else:
        connection = http.client.HTTPConnection(target.host, target.port, timeout=60)
    try:
        connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for name, value in headers:
            connection.putheader(name, value)
        if body or method.upper() in ("POST", "PUT", "PATCH"):
            connection.putheader("content-length", str(len(body)))
        connection.endheaders(body or None)
        response = connection.getresponse()
        return response.status, response.reason, response.getheaders(), response.read()
    except (OSError, http.client.HTTPException) as e:
        message = f"twerr relay could not reach {target.host}: {e}".encode()
        return 502, "Bad Gateway", [("content-type", "text/plain")], message
    finally:
        connection.close()
