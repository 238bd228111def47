"""The `slow` fault's relay: fetch the API's response, then trickle its body out slowly.

mitmproxy sends a response body as fast as it has it, so pacing it needs an upstream that is
slow on purpose. The injector points a chosen request at this relay (127.0.0.1, in the proxy's
own process) and streams its answer; the relay asks the real API and writes the body back a
few bytes at a time. No mitmproxy import: it takes plain requests and targets.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import logging
import secrets
import socket
import ssl
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

logger = logging.getLogger(__name__)

TOKEN_HEADER = "x-twerr-relay"
TICKS_PER_SECOND = 10
MAX_UPSTREAMS = 16  # slow transfers at once; more wait for a thread
UPSTREAM_TIMEOUT = 60  # seconds without a byte from the API
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
        self._starting = asyncio.Lock()
        # Its own threads: a slow or endless upstream (a stream) must not hold the event
        # loop's default pool, which also resolves host names for the whole proxy.
        self._threads = ThreadPoolExecutor(max_workers=MAX_UPSTREAMS, thread_name_prefix="relay")
        self._upstreams: set[http.client.HTTPConnection] = set()

    async def start(self) -> None:
        async with self._starting:
            if self.server is None:
                self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
                self.port = self.server.sockets[0].getsockname()[1]

    def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        for connection in list(self._upstreams):  # wake threads blocked reading an endless body
            with contextlib.suppress(OSError, AttributeError):
                connection.sock.shutdown(socket.SHUT_RDWR)
        self._threads.shutdown(wait=False, cancel_futures=True)

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
        except asyncio.CancelledError:
            pass  # the proxy is shutting down: the connection goes with it
        finally:
            writer.close()

    async def _relay_one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        """Relay one request; False when the connection should close."""
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
        try:
            connection, upstream = await loop.run_in_executor(
                self._threads, _open, target, method, path, forward, body
            )
        except (OSError, http.client.HTTPException) as e:
            logger.info(f"twerr relay could not reach {target.host}: {e}")
            return False  # closing without an answer: mitmproxy reports the failure
        except ValueError as e:  # http.client refuses the request (a header, the method)
            # The path only: its query can carry oauth_* secrets.
            endpoint = f"{target.host}{_quote(path).split('?', 1)[0]}"
            logger.warning(f"twerr relay could not forward {method} {endpoint}: {e}")
            return False
        self._upstreams.add(connection)
        try:
            # The body keeps its length when the API gave one; otherwise it goes out chunked.
            # Answers that have no body (HEAD, 1xx, 204, 304) get neither.
            length = upstream.getheader("content-length")
            bodiless = method.upper() == "HEAD" or upstream.status in (204, 304)
            bodiless = bodiless or upstream.status < 200
            chunked = length is None and not bodiless
            out = [f"HTTP/1.1 {upstream.status} {upstream.reason}"]
            out += [f"{n}: {v}" for n, v in upstream.getheaders() if n.lower() not in HOP_BY_HOP]
            if chunked:
                out.append("transfer-encoding: chunked")
            elif length is not None:
                out.append(f"content-length: {length}")
            writer.write("\r\n".join([*out, "", ""]).encode("latin-1"))
            await writer.drain()
            pace = Pace(target.rate)
            while chunk := await loop.run_in_executor(self._threads, upstream.read1, 65536):
                for piece in pace.pieces(chunk):
                    await asyncio.sleep(pace.interval)
                    if piece:
                        writer.write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
                        await writer.drain()
            if chunked:
                writer.write(b"0\r\n\r\n")
                await writer.drain()
        finally:
            self._upstreams.discard(connection)
            connection.close()
        return True


class Pace:
    """Bytes at `rate` a second: pieces to send one `interval` apart. What a tick cannot send
    whole (19 bytes a second is 1.9 a tick) is carried to the next, so the rate holds."""

    def __init__(self, rate: int) -> None:
        self.ticks = min(rate, TICKS_PER_SECOND)  # a second's ticks
        self.interval = 1 / self.ticks
        self.rate = rate
        self.credit = 0  # in bytes x ticks, so the sums stay exact

    def pieces(self, data: bytes) -> list[bytes]:
        pieces = []
        while data:
            self.credit += self.rate
            size, self.credit = divmod(self.credit, self.ticks)
            pieces.append(data[:size])
            data = data[size:]
        return pieces


async def _read_body(reader: asyncio.StreamReader, fields: dict[str, str]) -> bytes:
    if "chunked" in fields.get("transfer-encoding", "").lower():
        body = b""
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            body += (await reader.readexactly(size + 2))[:-2]
        while await reader.readuntil(b"\r\n") != b"\r\n":
            pass  # trailers
        return body
    return await reader.readexactly(int(fields.get("content-length", "0") or 0))


def _open(
    target: Target, method: str, path: str, headers: list[tuple[str, str]], body: bytes
) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    """Ask the real destination; its response comes back with the body unread (blocking: run
    it in a thread)."""
    connection: http.client.HTTPConnection
    if target.scheme == "https":
        context = ssl.create_default_context()
        if not target.verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        connection = http.client.HTTPSConnection(
            target.host, target.port, context=context, timeout=UPSTREAM_TIMEOUT
        )
    else:
        connection = http.client.HTTPConnection(target.host, target.port, timeout=UPSTREAM_TIMEOUT)
    try:
        connection.putrequest(method, _quote(path), skip_host=True, skip_accept_encoding=True)
        for name, value in headers:
            try:
                connection.putheader(name, value)
            except ValueError:  # http.client's message quotes the value: maybe a credential
                raise ValueError(f"the {name!r} header cannot be sent as it is") from None
        if body or method.upper() in ("POST", "PUT", "PATCH"):
            connection.putheader("content-length", str(len(body)))
        connection.endheaders(body or None)
        return connection, connection.getresponse()
    except BaseException:
        connection.close()
        raise


def _quote(path: str) -> str:
    """The path's bytes as the client sent them (the request line was read as latin-1), with
    those http.client refuses (non-ASCII, controls, spaces) percent-encoded."""
    return "".join(
        chr(byte) if 0x21 <= byte <= 0x7E else f"%{byte:02X}" for byte in path.encode("latin-1")
    )
