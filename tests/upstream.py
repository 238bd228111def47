"""A local upstream on 127.0.0.1 that answers each path with exact bytes: chosen headers,
chunking, compression, and streams that wait for the test before they go on."""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass
from dataclasses import field


@dataclass
class Canned:
    """A response: status line and headers as given, then the body parts. With a `gate`, the
    parts after the first wait until it is set (a stream the client must see as it comes)."""

    status: int
    headers: list[tuple[str, str]]
    parts: list[bytes]
    chunked: bool = False
    gate: threading.Event | None = None
    reason: str = "OK"

    @property
    def body(self) -> bytes:
        return b"".join(self.parts)

    def head(self) -> bytes:
        lines = [f"HTTP/1.1 {self.status} {self.reason}"]
        lines += [f"{name}: {value}" for name, value in self.headers]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def fixed(status: int, headers: list[tuple[str, str]], body: bytes, **kw: object) -> Canned:
    return Canned(status, [*headers, ("content-length", str(len(body)))], [body], **kw)  # type: ignore[arg-type]


def chunked(
    status: int, headers: list[tuple[str, str]], parts: list[bytes], **kw: object
) -> Canned:
    return Canned(status, [*headers, ("transfer-encoding", "chunked")], parts, chunked=True, **kw)  # type: ignore[arg-type]


@dataclass
class Upstream:
    """Serves `routes` (path without query -> Canned) over HTTP/1.1 keep-alive; 404 otherwise.
    Records every request's head (bytes) it was sent."""

    routes: dict[str, Canned]
    requests: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0), backlog=512)
        self.port = self.sock.getsockname()[1]
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self) -> Upstream:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        buffer = b""
        with conn:
            while True:
                while b"\r\n\r\n" not in buffer:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buffer += data
                head, buffer = buffer.split(b"\r\n\r\n", 1)
                length = 0
                for line in head.split(b"\r\n")[1:]:
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                while len(buffer) < length:
                    buffer += conn.recv(65536)
                buffer = buffer[length:]
                with self.lock:
                    self.requests.append(head)
                path = head.split(b" ")[1].decode("latin-1").split("?", 1)[0]
                method = head.split(b" ")[0]
                canned = self.routes.get(path) or fixed(404, [], b"no such route")
                try:
                    self._send(conn, canned, head_only=method == b"HEAD")
                except OSError:
                    return

    @staticmethod
    def _send(conn: socket.socket, canned: Canned, head_only: bool) -> None:
        conn.sendall(canned.head())
        if head_only:
            return
        for index, part in enumerate(canned.parts):
            if index == 1 and canned.gate is not None:
                canned.gate.wait(60)
            if canned.chunked:
                if part:
                    conn.sendall(b"%x\r\n%s\r\n" % (len(part), part))
            else:
                conn.sendall(part)
        if canned.chunked:
            conn.sendall(b"0\r\n\r\n")
