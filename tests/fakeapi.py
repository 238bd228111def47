"""A local stand-in for the Twitter API: answers each reference response at its own path."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer

import corpus

SAMPLE_HEADER = "x-sample"  # names the sample to answer with (several share a URL)


class FakeApi:
    """Serves the corpus on 127.0.0.1: the sample named by the x-sample request header, or
    a small success for requests that name none. Every request is recorded."""

    def __init__(self) -> None:
        self.samples = {s.id: s for s in corpus.load().responses}
        self.presets = corpus.load().presets
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                self.rfile.read(length)
                api.requests.append((self.command, self.path, dict(self.headers)))
                if SAMPLE_HEADER not in self.headers:
                    self.succeed()
                    return
                sample = api.samples.get(self.headers.get(SAMPLE_HEADER, ""))
                route = self.path.split("?", 1)[0]
                if sample is None or (sample.method, sample.route) != (self.command, route):
                    self.send_error(599, "no such sample")
                    return
                self.send_response_only(sample.status)
                for name, value in sample.response_headers(api.presets):
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(sample.raw_body)

            def succeed(self) -> None:
                """Any other request: a small success, as the API's own."""
                route = self.path.split("?", 1)[0]
                if route.startswith("/2/"):
                    body = (
                        b'{"data":{"edit_history_tweet_ids":["1445880548472328192"],'
                        b'"id":"1445880548472328192","text":"hello"}}'
                    )
                else:
                    body = (
                        b'{"id":1445880548472328192,"id_str":"1445880548472328192","text":"hello"}'
                    )
                self.send_response_only(200)
                self.send_header("content-type", "application/json; charset=utf-8")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_DELETE = answer

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeApi:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
