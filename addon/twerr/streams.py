"""Streaming endpoints are streamed: their responses never end, so they must not be buffered.

mitmproxy buffers every response body unless told otherwise (`stream_large_bodies` only streams
a chunked body once that much of it has piled up). A client of `stream.twitter.com` or of a v2
stream endpoint (`/2/tweets/search/stream`, `/2/tweets/sample/stream`, ...) would then see
nothing at all. For in-scope successful responses of those endpoints, `flow.response.stream` is
set in `responseheaders`, so each chunk goes to the client as it comes. On the way, a watcher
keeps the lines that carry `"errors"` (in-stream disconnects, bounded), and the classifier
decodes those; a stream without any is the `streamed` shape. Error answers (a 429 for too
many connections, say) are short and stay buffered, so they are decoded as any other.
"""

from __future__ import annotations

import re

from mitmproxy import http

from twerr import guard
from twerr.mitm import requested_host
from twerr.scope import Scope

# stream.twitter.com and the retired user/site streams
_STREAM_HOST = re.compile(r"^(stream|userstream|sitestream)[.]")
_SEGMENT = re.compile(r"[\w-]+")
KEEP_LIMIT = 64 << 10  # bytes of error lines kept per stream, and of a line not yet ended


def is_stream_endpoint(host: str, path: str) -> bool:
    route = path.split("?", 1)[0]
    return bool(_STREAM_HOST.match(host)) or ("stream" in route and _is_stream_route(route))


def _is_stream_route(route: str) -> bool:
    """/2/.../stream and what follows it (firehose partitions, /lang/en), but not the rules of
    a filtered stream. Read segment by segment: a regular expression for it backtracked
    quadratically, and a long path of "stream/" segments held the proxy for minutes."""
    if not route.startswith("/2/"):
        return False
    segments = route[3:].removesuffix("/").split("/")
    if not all(_SEGMENT.fullmatch(segment) for segment in segments):
        return False
    last = len(segments) - 1 - segments[::-1].index("stream") if "stream" in segments else 0
    return last >= 1 and "rules" not in segments[last + 1 :]


class Watch:
    """A `flow.response.stream` callable: passes every chunk on unchanged, keeps error lines."""

    def __init__(self) -> None:
        self.tail = b""
        self.kept = bytearray()

    def __call__(self, data: bytes) -> bytes:
        if b"\n" not in data:
            self.tail = (self.tail + data)[-KEEP_LIMIT:]
            return data
        lines = (self.tail + data).split(b"\n")
        self.tail = lines.pop()[-KEEP_LIMIT:]
        for line in lines:
            if b'"errors"' in line and len(self.kept) + len(line) < KEEP_LIMIT:
                self.kept += line + b"\n"
        return data


def seen(response: http.Response) -> bytes | None:
    """The error lines a watched stream carried, for the decoder; None when not watched or
    when it carried none (then the body counts as not buffered)."""
    watch = response.stream
    return bytes(watch.kept) if isinstance(watch, Watch) and watch.kept else None


class Streams:
    def __init__(self, scope: Scope) -> None:
        self.scope = scope

    def responseheaders(self, flow: http.HTTPFlow) -> None:
        response = flow.response
        if response is None or response.stream or not 200 <= response.status_code < 300:
            return
        if is_stream_endpoint(requested_host(flow.request).lower(), flow.request.path):
            self._stream(flow)

    @guard.hook
    def _stream(self, flow: http.HTTPFlow) -> None:
        response = flow.response
        assert response is not None
        if self.scope(flow):
            encoded = response.headers.get("content-encoding", "identity").strip().lower()
            response.stream = Watch() if encoded == "identity" else True
