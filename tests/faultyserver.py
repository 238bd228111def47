"""The API as a failing network shows it to a client with no proxy in between.

A TLS server on 127.0.0.1 (its certificate signed by mitmproxy's CA, which the clients trust)
that reads a request, then fails as the x-sample header says: `net-reset` (a TCP reset),
`net-empty` (closed with no response), `net-truncate` (half the body under the full length),
`net-timeout` (no answer until the client gives up). The fidelity matrix compares what clients
make of these with what they make of twerr's injected faults.
"""

from __future__ import annotations

import ipaddress
import socket
import socketserver
import ssl
import struct
import threading
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from mitmproxy.certs import CertStore

from fakeapi import SAMPLE_HEADER
from fakeapi import success_body

FAULTS = ("net-reset", "net-empty", "net-truncate", "net-timeout")


class FaultyServer:
    def __init__(self, confdir: Path, workdir: Path) -> None:
        store = CertStore.from_store(confdir, "mitmproxy", 2048)
        entry = store.get_cert("127.0.0.1", [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))])
        cert, key = workdir / "faulty-cert.pem", workdir / "faulty-key.pem"
        cert.write_bytes(entry.cert.to_pem())
        key.write_bytes(
            entry.privatekey.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.stopping = threading.Event()
        server = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                try:
                    tls = context.wrap_socket(self.request, server_side=True)
                except (OSError, ssl.SSLError):
                    return
                try:
                    server.fail(tls, _read_head(tls))
                except (OSError, ssl.SSLError):
                    pass
                finally:
                    tls.close()

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def fail(self, tls: ssl.SSLSocket, head: str) -> None:
        lines = head.split("\r\n")
        path = lines[0].split(" ")[1]
        fields = dict(line.split(":", 1) for line in lines[1:] if ":" in line)
        fault = {k.strip().lower(): v.strip() for k, v in fields.items()}.get(SAMPLE_HEADER)
        if fault == "net-reset":
            tls.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            tls.close()
        elif fault == "net-truncate":
            body = success_body(path)
            tls.sendall(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json; charset=utf-8\r\n"
                + f"content-length: {len(body)}\r\nconnection: close\r\n\r\n".encode()
                + body[: len(body) // 2]
            )
            tls.unwrap()
        elif fault == "net-timeout":
            tls.settimeout(30)
            while not self.stopping.is_set() and tls.recv(1024):
                pass
        else:  # net-empty
            tls.unwrap()

    def __enter__(self) -> FaultyServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()


def _read_head(tls: ssl.SSLSocket) -> str:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = tls.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
