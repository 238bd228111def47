"""Decode a Twitter/X API response into what it means. Pure: no mitmproxy, no I/O, never raises.

`decode(status, headers, body, path=...)` reads the wire bytes (any content-encoding) and returns
a `Decoded`: the response's shape, each error it carries with the catalog's meaning and
advice, and the rate-limit state from its headers. Success bodies are only searched for the few
bytes that would announce an error, never JSON-parsed to find nothing.
"""

from __future__ import annotations

import html
import re
from typing import Any

from twerr.catalog import Catalog
from twerr.catalog import load_catalog
from twerr.decode.advice import ApiError
from twerr.decode.body import MAX_ERRORS
from twerr.decode.body import BodyReader
from twerr.decode.decoded import Api
from twerr.decode.decoded import Decoded
from twerr.decode.ratelimit import parse_rate_limit
from twerr.decode.redact import clean
from twerr.decode.wire import Headers
from twerr.decode.wire import as_text
from twerr.decode.wire import decompress
from twerr.decode.wire import read_headers

ERROR_BODY_LIMIT = 1 << 20  # error bodies are small; a bigger one is not an API error body
SCAN_LIMIT = 8 << 20  # a success body is parsed for its errors only up to this size
SCAN_WINDOW = 256 << 10  # a larger success body is searched at its head and tail only
MARKUP_LIMIT = 64 << 10  # how much of an XML or HTML body is looked into

# Pages the edge serves instead of JSON, by <title>, with the status whose advice applies.
# Sources: hayesdavis/grackle#22 (over capacity, also seen with a 200), python-twitter's
# _ParseAndCheckTwitter ("Twitter / Error").
EDGE_PAGE_TITLES = (("over capacity", 503), ("twitter / error", 500))

_TITLE = re.compile(rb"<title[^>]{0,200}>([^<]{0,2000})</title>", re.IGNORECASE)
_XML_ERROR = re.compile(rb"<error\b[^>]{0,200}?\bcode\s*=\s*[\"'](\d{1,9})[\"'][^>]{0,200}>")
_TAGS = re.compile(r"<[^>]*>")


CACHED_BODY_LIMIT = 4 << 10  # error bodies up to this size are decoded once, then remembered
CACHED_BODIES = 256  # the most recent distinct error bodies remembered


def decode(
    status: int,
    headers: Headers,
    body: bytes | None,
    *,
    path: str = "",
    catalog: Catalog | None = None,
) -> Decoded:
    """Decode one response. `body` is the raw wire body (None when it was streamed)."""
    catalog = catalog or load_catalog()
    status = status if type(status) is int and 0 <= status <= 999 else 0
    path = path if isinstance(path, str) else ""
    try:
        read = read_headers(headers)
        if status < 400 and body is not None and (not body or _skipped(path, read)):
            return _success(catalog, status, read, path)
        small = body is not None and len(body) <= CACHED_BODY_LIMIT
        if status >= 400 and small and catalog is load_catalog():
            return _decode_small_error(catalog, status, read, path, body or b"")
        return _Decoder(catalog, status, read, path).decode(body)
    except Exception as e:  # a bug must never take the proxy down; tests keep this unreachable
        fallback = _Decoder(catalog, status, {}, path)
        note = f"decoder error: {type(e).__name__}"
        return fallback.result("undecodable", fallback.status_errors(), note=note)


def _skipped(path: str, headers: dict[str, str]) -> bool:
    """v1.1 successes never carry errors (media uploads aside): their bodies are not read."""
    if not path.startswith("/1.1/") or "html" in headers.get("content-type", "").lower():
        return False
    return "/media/" not in path.partition("?")[0]


def _success(catalog: Catalog, status: int, headers: dict[str, str], path: str) -> Decoded:
    """A success whose body need not be read: what `_Decoder` would say, made directly (most
    flows are these)."""
    status_text = catalog.status(status).text if status else "No response"
    api: Api = "v1.1" if path.startswith("/1.1/") else "v2" if path.startswith("/2/") else None
    return Decoded(status, status_text, api, "success", (), parse_rate_limit(headers))


def _decode_small_error(
    catalog: Catalog, status: int, headers: dict[str, str], path: str, body: bytes
) -> Decoded:
    """An error body as decoded the last time the same bytes came with the same status, type
    and encoding to the same API (a client retrying into a spent window gets the same 429
    again and again); only the rate-limit headers are read afresh."""
    decoder = _Decoder(catalog, status, headers, path)
    key = (
        status,
        decoder.content_type,
        headers.get("content-encoding", ""),
        decoder.api("success") if decoder.path else "no path",  # else the shape decides
        body,
    )
    known = _SMALL_ERRORS.get(key)
    if known is None:
        known = decoder.decode(body)
        _SMALL_ERRORS[key] = known
        if len(_SMALL_ERRORS) > CACHED_BODIES:
            del _SMALL_ERRORS[next(iter(_SMALL_ERRORS))]
    rate_limit = parse_rate_limit(headers)
    if rate_limit is known.rate_limit is None:
        return known  # nothing differs: the same (never changed) value serves again
    return Decoded(
        known.status,
        known.status_text,
        known.api,
        known.shape,
        known.errors,
        rate_limit,
        known.note,
        known.headline,
    )


# Decodings are never changed once made, so one can serve many flows.
_SMALL_ERRORS: dict[tuple[Any, ...], Decoded] = {}


def decode_failure(
    message: str, *, status: int | None = None, path: str = "", catalog: Catalog | None = None
) -> Decoded:
    """A flow that ended without a complete response (mitmproxy's `error` hook)."""
    decoder = _Decoder(catalog or load_catalog(), status or 0, {}, path)
    reason = clean(message) or "connection failed"
    error = ApiError(
        code=None,
        type=None,
        message=reason,
        label=f"Transport error: {reason}",
        meaning="No complete response arrived; the request may or may not have reached the API.",
        category="network",
        http_status=status or 0,
        retry="backoff",
        action="Retry with backoff if the request is idempotent; check before repeating a write.",
        known=True,
    )
    return decoder.result("transport-error", [error])


class _Decoder(BodyReader):
    """One decoding: the wire-level dispatch (a success searched cheaply, an error body by
    its first byte, markup, text) onto the shape readers it extends."""

    def decode(self, body: bytes | None) -> Decoded:
        if body is None:
            return self.result("streamed", self.status_errors(), note="body not buffered")
        encoding = self.headers.get("content-encoding", "")
        if self.status < 400:
            return self.decode_success(body, encoding)
        content, problem = decompress(body, encoding, ERROR_BODY_LIMIT)
        if problem or len(content) > ERROR_BODY_LIMIT:
            note = problem or f"body larger than {ERROR_BODY_LIMIT} bytes: not an API error body"
            return self.result("undecodable", self.status_errors(), note=note)
        return self.decode_error(content)

    # -- success statuses -----------------------------------------------------------------

    def decode_success(self, body: bytes, encoding: str) -> Decoded:
        if not body or not self.worth_a_look():  # decode() makes these without a _Decoder
            return self.result("success")
        content, problem = decompress(body, encoding, SCAN_LIMIT)
        if problem:
            return self.result("success", note=f"body not inspected: {problem}")
        if "html" in self.content_type:
            return self.decode_edge_page(content) or self.result("success")
        if not _mentions_error(content):
            cut = len(content) > SCAN_LIMIT and encoding
            return self.result(
                "success", note="only the start of a huge body was read" if cut else ""
            )
        if len(content) > SCAN_LIMIT:
            return self.result("success", note=f"body over {SCAN_LIMIT} bytes: errors not read")
        data, problem = self.parse_json(content)
        if problem.startswith("invalid JSON: Extra data"):
            return self.decode_json_lines(content)  # a buffered stream: one object per line
        if problem:
            return self.result("undecodable", note=problem)
        if not isinstance(data, dict):
            return self.result("success")
        return self.decode_object(data, success=True)

    def worth_a_look(self) -> bool:
        return not _skipped(self.path, self.headers)

    def decode_edge_page(self, content: bytes) -> Decoded | None:
        title = _html_title(content)
        for needle, status in EDGE_PAGE_TITLES:
            if needle in title.lower():
                entry = self.catalog.status(status)
                error = self.status_error(message=title, entry=entry, http_status=status)
                served = f"edge error page served with HTTP {self.status}"
                return self.result("html", [error], note="" if status == self.status else served)
        return None

    # -- error statuses -------------------------------------------------------------------

    def decode_error(self, content: bytes) -> Decoded:
        stripped = content.strip()
        if not stripped:
            return self.result("empty", self.status_errors())
        first = stripped[:1]
        if first in b'{["' or "json" in self.content_type:
            data, problem = self.parse_json(stripped)
            if problem:
                return self.result("undecodable", self.status_errors(), note=problem)
            if isinstance(data, dict):
                return self.decode_object(data, success=False)
            return self.unexpected_json(data)
        if first == b"<":
            return self.decode_markup(stripped[:MARKUP_LIMIT])
        lines = as_text(stripped[:MARKUP_LIMIT], self.content_type).splitlines()
        text = clean(next((line for line in lines if line.strip()), ""))
        return self.result("text", self.status_errors(message=text))

    def decode_markup(self, content: bytes) -> Decoded:
        errors: list[ApiError] = []
        for match in _XML_ERROR.finditer(content):
            if len(errors) == MAX_ERRORS:
                self.notes.append("more errors not shown")
                break
            end = content.find(b"</error>", match.end())
            text = content[match.end() : end] if end >= 0 else b""
            message = clean(html.unescape(_TAGS.sub("", as_text(text, ""))))
            errors.append(self.code_error(int(match.group(1)), message))
        if errors:
            return self.result("oauth-xml", errors)
        page = self.decode_edge_page(content)
        if page:
            return page
        return self.result("html", self.status_errors(message=_html_title(content)))

    # -- JSON bodies ----------------------------------------------------------------------


def _mentions_error(content: bytes) -> bool:
    """Cheap test for a body that could carry errors; big bodies are searched at both ends."""
    if len(content) > 2 * SCAN_WINDOW:
        head, tail = content[:SCAN_WINDOW], content[-SCAN_WINDOW:]
        return _mentions_error(head) or _mentions_error(tail)
    return b'"errors"' in content or b'"processing_info"' in content


def _html_title(content: bytes) -> str:
    match = _TITLE.search(content[:MARKUP_LIMIT])
    return clean(html.unescape(as_text(match.group(1), ""))) if match else ""
