"""Decode a Twitter/X API response into what it means. Pure: no mitmproxy, no I/O, never raises.

`decode(status, headers, body, path=...)` reads the wire bytes (any content-encoding) and returns
a `Decoded`: the response's shape, each error it carries with the catalog's meaning and
advice, and the rate-limit state from its headers. Success bodies are only searched for the few
bytes that would announce an error, never JSON-parsed to find nothing.
"""

from __future__ import annotations

import codecs
import functools
import html
import json
import re
import time
import zlib
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import replace
from email.utils import parsedate_to_datetime
from typing import Any
from typing import Literal

from twerr.catalog import Catalog
from twerr.catalog import Category
from twerr.catalog import Resets
from twerr.catalog import Retry
from twerr.catalog import load_catalog

try:
    import brotli
except ImportError:  # pragma: no cover - mitmproxy depends on it
    brotli = None
try:
    from compression import zstd
except ImportError:
    try:
        from backports import zstd
    except ImportError:  # pragma: no cover - mitmproxy depends on it
        zstd = None

Shape = Literal[
    "success",  # a 1xx-3xx response with nothing wrong in it
    "v1.1-errors",  # {"errors":[{"code":..,"message":..}]}
    "v1.1-error",  # {"error":"...","request":"..."} (legacy endpoints, media upload)
    "v2-problem",  # a problem-details object {"type","title","detail",...} (+ errors[] for 400s)
    "v2-partial",  # a 2xx with "data" and problem objects in "errors"
    "v2-errors",  # problem objects in "errors" and no "data" ("not found" in a 200, in-stream)
    "oauth2",  # RFC 6749 {"error":"invalid_request","error_description":"..."}
    "oauth-xml",  # <errors><error code="415">...</error></errors> from /oauth/*
    "media-processing",  # a 2xx whose processing_info says the upload failed
    "html",  # an HTML page from the edge (over capacity, Jetty 401, ...)
    "text",  # a plain-text error ("Rate limit exceeded", OAuth endpoints)
    "empty",  # an error status with no body (420, 429, 503, 413)
    "unexpected-json",  # valid JSON in none of the API's shapes (an array, "errors":"text")
    "undecodable",  # bytes that cannot be read: truncated JSON, bad compression, binary
    "streamed",  # the body was streamed to the client and is not available
    "transport-error",  # no complete response: connection reset, timeout, killed
]
Api = Literal["v1.1", "v2"] | None
Headers = Mapping[str, str] | Iterable[tuple[str, str]] | Iterable[tuple[bytes, bytes]]

ERROR_BODY_LIMIT = 1 << 20  # error bodies are small; a bigger one is not an API error body
SCAN_LIMIT = 8 << 20  # a success body is parsed for its errors only up to this size
SCAN_WINDOW = 256 << 10  # a larger success body is searched at its head and tail only
MARKUP_LIMIT = 64 << 10  # how much of an XML or HTML body is looked into
MAX_ERRORS = 50  # errors kept per response; the note says how many more there were
TEXT_LIMIT = 500  # longest string copied from a body
PARTIAL_SHAPES = ("v2-partial", "v2-errors", "media-processing")  # errors beside a success

# Pages the edge serves instead of JSON, by <title>, with the status whose advice applies.
# Sources: hayesdavis/grackle#22 (over capacity, also seen with a 200), python-twitter's
# _ParseAndCheckTwitter ("Twitter / Error").
EDGE_PAGE_TITLES = (("over capacity", 503), ("twitter / error", 500))

# Credentials must never leave the flow: text copied from a body is scrubbed of anything that
# looks like one (a bearer value, or a value assigned to a credential-like name).
_BEARER = re.compile(r"(?i)\b((?:bearer|basic)\s+)[\w%.~+/=-]{16,}")
_ASSIGNMENT = re.compile(r"([\w-]{2,64})([\"']?\s*[=:]\s*[\"']?)([^\s&\"',;<>]{4,})")
_SECRET_NAME = re.compile(
    r"(?i)token|secret|signature|verifier|nonce|consumer_key|password|passwd|^ct0$|cookie"
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_TITLE = re.compile(rb"<title[^>]{0,200}>([^<]{0,2000})</title>", re.IGNORECASE)
_XML_ERROR = re.compile(rb"<error\b[^>]{0,200}?\bcode\s*=\s*[\"'](\d{1,9})[\"'][^>]{0,200}>")
_TAGS = re.compile(r"<[^>]*>")
_DIGITS = re.compile(r"[ \t]*-?[0-9]{1,18}[ \t]*")


# The values made for every flow are slotted dataclasses, not frozen ones (a frozen one costs
# three times as much to make); nothing changes them once made.
@dataclass(slots=True)
class Window:
    """One rate-limit window from the response headers; reset is epoch seconds."""

    limit: int | None
    remaining: int | None
    reset: int | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "limit": self.limit,
            "remaining": self.remaining,
            "reset": self.reset,
            "reset_utc": utc(self.reset),
        }


@dataclass(slots=True)
class RateLimit:
    """The endpoint window (x-rate-limit-*), the 24-hour caps, and Retry-After if sent."""

    window: Window | None
    app_24h: Window | None
    user_24h: Window | None
    retry_after: int | None  # seconds
    retry_after_at: int | None  # epoch seconds: the response's Date plus Retry-After

    @property
    def exhausted(self) -> tuple[str, ...]:
        if not self._spent(self.window) and not self.app_24h and not self.user_24h:
            return ()  # the usual case: the window has requests left, no daily cap was sent
        named = (("window", self.window), ("app_24h", self.app_24h), ("user_24h", self.user_24h))
        return tuple(name for name, w in named if self._spent(w))

    @staticmethod
    def _spent(window: Window | None) -> bool:
        return window is not None and window.remaining == 0

    @property
    def reset_at(self) -> int | None:
        """When a request can succeed again: the latest reset of the spent windows (or of one
        whose remaining count was not sent), else Retry-After. None when nothing says."""
        return _latest_reset((self.window, self.app_24h, self.user_24h)) or self.retry_after_at

    @property
    def day_reset_at(self) -> int | None:
        """The same, for the 24-hour caps alone."""
        return _latest_reset((self.app_24h, self.user_24h))

    def to_dict(self) -> dict[str, Any]:
        reset_at = self.reset_at
        return {
            **(self.window.to_dict() if self.window else _NO_WINDOW),
            "app_24h": self.app_24h.to_dict() if self.app_24h else None,
            "user_24h": self.user_24h.to_dict() if self.user_24h else None,
            "retry_after": self.retry_after,
            "exhausted": list(self.exhausted),
            "reset_at": reset_at,
            "reset_at_utc": utc(reset_at),
        }


@dataclass(slots=True)
class ApiError:
    """One error of a response, with the catalog's meaning and advice."""

    code: int | None  # the v1.1 numeric code, when the body gave one
    type: str | None  # the v2 problem type URI (or the OAuth 2 error), as sent
    message: str  # what the response said (scrubbed, shortened)
    label: str  # how people name it: "187 Status is a duplicate", "HTTP 503 Service Unavailable"
    meaning: str
    category: Category
    http_status: int  # the status the catalog gives for this error (the response's if unknown)
    retry: Retry
    action: str
    known: bool  # False: the code, problem type or status is not in the catalog
    details: tuple[tuple[str, str], ...] = ()  # v2 extra fields: parameter, resource_id, ...
    resets: Resets = "window"

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "type": self.type,
            "message": self.message,
            "label": self.label,
            "meaning": self.meaning,
            "category": self.category,
            "http_status": self.http_status,
            "retry": self.retry,
            "action": self.action,
            "known": self.known,
            "details": dict(self.details),
        }


@dataclass(slots=True)
class Decoded:
    status: int
    status_text: str  # "No response" with status 0: the connection failed, as browsers say
    api: Api
    shape: Shape
    errors: tuple[ApiError, ...] = ()
    rate_limit: RateLimit | None = None
    note: str = ""  # how the body was read, when that is worth saying
    headline: ApiError | None = None  # the most severe error

    @property
    def category(self) -> Category:
        return self.headline.category if self.headline else "success"

    @property
    def retry(self) -> Retry:
        return self.headline.retry if self.headline else "never"

    @property
    def retry_at(self) -> int | None:
        """Epoch seconds after which a retry can help, when the headers say."""
        rate, error = self.rate_limit, self.headline
        if rate is None or error is None or error.retry == "never":
            return None
        if error.retry == "backoff" or error.resets == "unknown":
            return rate.retry_after_at
        if error.resets == "day":
            return rate.day_reset_at or rate.retry_after_at
        return rate.reset_at

    def to_metadata(self) -> dict[str, Any]:
        """JSON-like values only, safe to store in flow.metadata and flow files."""
        return {
            "status": self.status,
            "status_text": self.status_text,
            "api": self.api,
            "shape": self.shape,
            "errors": [error.to_dict() for error in self.errors],
            "category": self.category,
            "retry": self.retry,
            "retryable": self.retry != "never",
            "retry_at": self.retry_at,
            "retry_at_utc": utc(self.retry_at),
            "action": self.headline.action if self.headline else "",
            "rate_limit": self.rate_limit.to_dict() if self.rate_limit else None,
            "note": self.note,
            "injected": None,
        }


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
        return _Decoder(catalog, status, _lower(headers), path).decode(body)
    except Exception as e:  # a bug must never take the proxy down; tests keep this unreachable
        fallback = _Decoder(catalog, status, {}, path)
        note = f"decoder error: {type(e).__name__}"
        return fallback.result("undecodable", fallback.status_errors(), note=note)


def decode_failure(
    message: str, *, status: int | None = None, path: str = "", catalog: Catalog | None = None
) -> Decoded:
    """A flow that ended without a complete response (mitmproxy's `error` hook)."""
    decoder = _Decoder(catalog or load_catalog(), status or 0, {}, path)
    reason = _clean(message) or "connection failed"
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


def parse_rate_limit(headers: Mapping[str, str]) -> RateLimit | None:
    """Rate-limit headers (lower-case names) into a RateLimit; None when there are none."""
    get = headers.get
    main, app, user = [_window(get(a), get(b), get(c)) for a, b, c in _WINDOW_HEADERS]
    retry_after = get("retry-after")
    seconds, at = (None, None) if retry_after is None else _retry_after(retry_after, get("date"))
    if main is None and app is None and user is None and seconds is None and at is None:
        return None
    return RateLimit(main, app, user, seconds, at)


def _window(limit: str | None, remaining: str | None, reset: str | None) -> Window | None:
    if limit is None and remaining is None and reset is None:  # the usual case: not sent
        return None
    window = Window(_header_int(limit), _header_int(remaining), _header_int(reset))
    if window.limit is window.remaining is window.reset is None:
        return None
    return window


@functools.lru_cache(maxsize=256)  # the same few resets, on flow after flow
def utc(epoch: int | None) -> str | None:
    """Epoch seconds as an ISO 8601 UTC string; None when absent or out of range."""
    if epoch is None:
        return None
    try:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
    except (OverflowError, OSError, ValueError):
        return None


_NO_WINDOW = Window(None, None, None).to_dict()  # the main window's keys when not sent
_WINDOW_HEADERS = tuple(
    (f"{prefix}-limit", f"{prefix}-remaining", f"{prefix}-reset")
    for prefix in ("x-rate-limit", "x-app-limit-24hour", "x-user-limit-24hour")
)
_READ_HEADERS = frozenset(
    ["content-type", "content-encoding", "retry-after", "date"]
    + [name for names in _WINDOW_HEADERS for name in names]
)
_READ_HEADER_KEYS: dict[str | bytes, str] = {
    **{name: name for name in _READ_HEADERS},
    **{name.encode(): name for name in _READ_HEADERS},
}


class _Decoder:
    """One decoding: holds the response's context so the shape readers stay small."""

    def __init__(self, catalog: Catalog, status: int, headers: dict[str, str], path: str):
        self.catalog = catalog
        self.status = status
        self.headers = headers
        self.path = path.split("?", 1)[0]
        self.content_type = headers.get("content-type", "").lower()
        self.status_entry = catalog.status(status)
        self.notes: list[str] = []  # remarks on how the body was read, for the result

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
        if not body or not self.worth_a_look():
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
        """v1.1 successes never carry errors (media uploads aside): skip their bodies."""
        if "html" in self.content_type:
            return True
        return not self.path.startswith("/1.1/") or "/media/" in self.path

    def decode_json_lines(self, content: bytes) -> Decoded:
        """Errors sent inside a stream (v2 operational-disconnect) among its other lines."""
        errors: list[ApiError] = []
        for line in content.splitlines():
            if b'"errors"' not in line:
                continue
            data, problem = self.parse_json(line)
            if not problem and isinstance(data, dict) and isinstance(data.get("errors"), list):
                errors += self.error_list(data["errors"])[0]
        return self.result("v2-errors" if errors else "success", errors)

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
        lines = _as_text(stripped[:MARKUP_LIMIT], self.content_type).splitlines()
        text = _clean(next((line for line in lines if line.strip()), ""))
        return self.result("text", self.status_errors(message=text))

    def decode_markup(self, content: bytes) -> Decoded:
        errors: list[ApiError] = []
        for match in _XML_ERROR.finditer(content):
            if len(errors) == MAX_ERRORS:
                self.notes.append("more errors not shown")
                break
            end = content.find(b"</error>", match.end())
            text = content[match.end() : end] if end >= 0 else b""
            message = _clean(html.unescape(_TAGS.sub("", _as_text(text, ""))))
            errors.append(self.code_error(int(match.group(1)), message))
        if errors:
            return self.result("oauth-xml", errors)
        page = self.decode_edge_page(content)
        if page:
            return page
        return self.result("html", self.status_errors(message=_html_title(content)))

    # -- JSON bodies ----------------------------------------------------------------------

    def parse_json(self, content: bytes) -> tuple[Any, str]:
        try:
            # what json.loads does with bytes, with one decoder made once, not one per call
            text = content.decode(json.detect_encoding(content), "surrogatepass")
            return _JSON.decode(text), ""
        except UnicodeDecodeError:
            text = _as_text(content, self.content_type)
            if _charset(self.content_type) == "utf-8":
                self.notes.append("body is not valid UTF-8")
            try:
                return _JSON.decode(text), ""
            except (ValueError, RecursionError) as e:
                return None, _json_problem(e, len(content))
        except (ValueError, RecursionError) as e:
            return None, _json_problem(e, len(content))

    def decode_object(self, data: dict[str, Any], *, success: bool) -> Decoded:
        errors = data.get("errors")
        if not success and _is_problem(data):
            return self.decode_problem(data)
        if isinstance(data.get("error"), str) and isinstance(data.get("error_description"), str):
            return self.decode_oauth2(data)
        if isinstance(errors, list) and errors:
            found, odd = self.error_list(errors)
            return self.result(_list_shape(found, odd, has_data="data" in data), found)
        nested = data.get("data")
        for holder in (data, nested if isinstance(nested, dict) else {}):
            processing = holder.get("processing_info")
            if isinstance(processing, dict) and processing.get("state") == "failed":
                return self.decode_media_failure(processing)
        if success:
            return self.result("success")
        if isinstance(data.get("error"), str):
            return self.result("v1.1-error", [self.status_error(message=_clean(data["error"]))])
        if errors is not None or data.get("error") is not None:
            return self.unexpected_json(data)
        return self.result("unexpected-json", self.status_errors(), note="no error in the body")

    def decode_problem(self, data: dict[str, Any]) -> Decoded:
        """A top-level v2 problem; a 400 invalid-request lists the bad parameters in errors[]."""
        items = data.get("errors")
        if not isinstance(items, list) or not items:
            return self.result("v2-problem", [self.problem_error(data)])
        top = {key: value for key, value in data.items() if key != "errors"}
        errors = []
        for item in items[:MAX_ERRORS]:
            merged = {**top, **item} if isinstance(item, dict) else {**top, "message": item}
            errors.append(self.problem_error(merged))
        self.note_dropped(len(items))
        return self.result("v2-problem", errors)

    def error_list(self, items: list[Any]) -> tuple[list[ApiError], bool]:
        """The errors of an `errors` array, and whether any item was not an object."""
        errors: list[ApiError] = []
        odd = False
        for item in items[:MAX_ERRORS]:
            if not isinstance(item, dict):
                odd = True
                text = item if isinstance(item, str) else _short_repr(item)
                errors.append(self.status_error(message=_clean(text)))
            elif (code := _as_int(item.get("code"))) is not None:
                errors.append(self.code_error(code, _message(item)))
            elif isinstance(item.get("type"), str) or isinstance(item.get("title"), str):
                errors.append(self.problem_error(item))
            else:
                errors.append(self.named_error(item))
        self.note_dropped(len(items))
        return errors, odd

    def named_error(self, item: dict[str, Any]) -> ApiError:
        """An item with a message and maybe a code that is a name (the Ads API's
        "INVALID_PARAMETER"), or no code at all."""
        error = self.status_error(message=_message(item))
        name = item.get("code")
        if isinstance(name, str) and name.strip():
            name = _clean(name)
            label = f"{name}: {error.message}" if error.message else name
            return replace(error, label=label, details=(("code", name), *_details(item)))
        return replace(error, details=_details(item))

    def decode_oauth2(self, data: dict[str, Any]) -> Decoded:
        error = _clean(data["error"])
        message = f"{error}: {_clean(data['error_description'])}"
        return self.result("oauth2", [replace(self.status_error(message=message), type=error)])

    def decode_media_failure(self, processing: dict[str, Any]) -> Decoded:
        raw = processing.get("error")
        failure = raw if isinstance(raw, dict) else {}
        name = _clean(failure.get("name")) if isinstance(failure.get("name"), str) else ""
        message = _message(failure) or "media processing failed"
        entry = self.catalog.media_error(name)
        error = ApiError(
            code=None,
            type=None,
            message=message,
            label=f"media {name or 'processing'} failed",
            meaning=entry.meaning if entry else "The media could not be processed.",
            category=entry.category if entry else "media",
            http_status=self.status,
            retry=entry.retry if entry else "never",
            action=entry.action if entry else "Upload a supported file.",
            known=entry is not None,
            details=(("name", name),) if name else (),
        )
        return self.result("media-processing", [error])

    def unexpected_json(self, data: Any) -> Decoded:
        found = data.get("errors", data.get("error")) if isinstance(data, dict) else data
        message = _clean(found if isinstance(found, str) else _short_repr(found))
        errors = self.status_errors(message=message) if self.status >= 400 else []
        return self.result("unexpected-json", errors)

    def note_dropped(self, count: int) -> None:
        if count > MAX_ERRORS:
            self.notes.append(f"{count - MAX_ERRORS} more errors not shown")

    # -- errors from the catalog ------------------------------------------------------------

    def code_error(self, code: int, message: str) -> ApiError:
        entry = self.catalog.code(code)
        if entry is None:
            error = self.status_error(message=message)
            meaning = f"Code {code} is not in the catalog. {error.meaning}"
            return replace(
                error, code=code, label=f"{code} {message}", meaning=meaning, known=False
            )
        return ApiError(
            code=code,
            type=None,
            message=message or entry.message,
            label=f"{code} {entry.message}",
            meaning=entry.meaning,
            category=entry.category,
            http_status=entry.http_status,
            retry=entry.retry,
            action=entry.action,
            known=True,
            resets=entry.resets,
        )

    def problem_error(self, item: dict[str, Any]) -> ApiError:
        type_uri = _clean(item.get("type")) if isinstance(item.get("type"), str) else None
        entry = self.catalog.problem(type_uri) if type_uri else None
        title = _clean(item.get("title")) if isinstance(item.get("title"), str) else ""
        message = _message(item) or title
        details = _details(item)
        if entry is not None and entry.slug == "about:blank":
            return self.generic_problem(message, type_uri, details)
        if entry is None:
            error = self.status_error(message=message)
            name = (type_uri or "problem").rstrip("/").rsplit("/", 1)[-1].rsplit("#", 1)[-1]
            meaning = f"Problem type not in the catalog. {error.meaning}"
            label = f"{name}: {message}"
            return replace(
                error, type=type_uri, label=label, meaning=meaning, known=False, details=details
            )
        advice = entry.for_status(self.status)
        return ApiError(
            code=None,
            type=type_uri,
            message=message,
            label=entry.slug if message == entry.title else f"{entry.slug}: {message}",
            meaning=advice.meaning,
            category=advice.category,
            http_status=advice.http_status or self.status,
            retry=advice.retry,
            action=advice.action,
            known=True,
            details=details,
            resets=advice.resets,
        )

    def generic_problem(
        self, message: str, type_uri: str | None, details: tuple[tuple[str, str], ...]
    ) -> ApiError:
        """An about:blank problem: the status explains it, unless the detail names an error."""
        error = replace(self.status_error(message=message), type=type_uri, details=details)
        like = self.catalog.detail_hint(message)
        if like is None:
            return error
        return replace(
            error,
            meaning=f'{like.meaning} (v1.1 code {like.code}, "{like.message}")',
            category=like.category,
            retry=like.retry,
            action=like.action,
            resets=like.resets,
            details=(*details, ("v1.1_code", str(like.code))),
        )

    def status_errors(self, message: str = "") -> list[ApiError]:
        return [self.status_error(message=message)] if self.status >= 400 else []

    def status_error(
        self, *, message: str, entry: Any = None, http_status: int | None = None
    ) -> ApiError:
        """An error known only by its HTTP status (no code, no problem type)."""
        entry = entry or self.status_entry
        status = http_status or self.status
        if entry.category == "success":
            return self.partial_error(message)
        label = f"HTTP {status} {entry.text}"
        if message and message.rstrip(".").lower() != entry.text.lower():
            label = f"{label}: {message}"
        return ApiError(
            code=None,
            type=None,
            message=message or entry.text,
            label=label,
            meaning=entry.description,
            category=entry.category,
            http_status=status,
            retry=entry.retry,
            action=entry.action,
            known=hasattr(entry, "status"),
            resets=entry.resets,
        )

    def partial_error(self, message: str) -> ApiError:
        """An error the body reports although the status says success: part of it failed."""
        return ApiError(
            code=None,
            type=None,
            message=message,
            label=message or "error inside a successful response",
            meaning=f"Reported inside an HTTP {self.status} response: part of the request failed.",
            category="invalid_request",
            http_status=self.status,
            retry="never",
            action="Look at the failed items; the rest of the response is usable.",
            known=False,
        )

    def result(self, shape: Shape, errors: Iterable[ApiError] = (), note: str = "") -> Decoded:
        errors = tuple(errors)
        headline = None
        for error in errors:
            if headline is None or self.catalog.rank(error.category) > self.catalog.rank(
                headline.category
            ):
                headline = error
        if self.notes:
            note = "; ".join(part for part in (*self.notes, note) if part)
        return Decoded(
            status=self.status,
            status_text=self.status_entry.text if self.status else "No response",
            api=self.api(shape),
            shape=shape,
            errors=errors,
            rate_limit=parse_rate_limit(self.headers),
            note=note,
            headline=headline,
        )

    def api(self, shape: Shape) -> Api:
        if self.path.startswith("/1.1/"):
            return "v1.1"
        if self.path.startswith("/2/"):
            return "v2"
        if self.path:
            return None  # /oauth/*, /oauth2/*, retired /1/ URLs
        if shape.startswith("v1.1"):
            return "v1.1"
        if shape.startswith("v2"):
            return "v2"
        return None


# -- small pure helpers ---------------------------------------------------------------------


def _list_shape(errors: list[ApiError], odd: bool, *, has_data: bool) -> Shape:
    if odd:
        return "unexpected-json"
    if any(error.code is not None for error in errors):
        return "v1.1-errors"
    if all(error.type is not None for error in errors):
        return "v2-partial" if has_data else "v2-errors"
    return "v1.1-errors"  # message-only items ({"message": ...}): the v1.1 shape, no code


def _lower(headers: Headers) -> dict[str, str]:
    """The headers the decoder reads, by lower-case name (the first of repeated ones)."""
    items = headers if type(headers) is tuple else _items(headers)
    out: dict[str, str] = {}
    for name, value in items:
        # one dict lookup per header when the name is lower-case (HTTP/2 requires it; the
        # API sends them so), as mitmproxy's bytes or as text
        try:
            key = _READ_HEADER_KEYS.get(name)
        except TypeError:  # unhashable: not a name
            continue
        if key is None:
            if (type(name) is bytes and name.islower()) or not isinstance(name, (str, bytes)):
                continue
            key = _READ_HEADER_KEYS.get(name.lower())
            if key is None:
                continue
        if key in out:
            continue
        if isinstance(value, bytes):
            out[key] = value.decode("latin-1")
        elif isinstance(value, str):
            out[key] = value
    return out


def _items(headers: Headers) -> Iterable[tuple[Any, Any]]:
    return headers.items() if isinstance(headers, Mapping) else headers


def _header_int(value: str | None) -> int | None:
    if value is None:
        return None
    if value.isdigit() and value.isascii() and len(value) <= 18:  # the usual case, quickly
        return int(value)
    if not _DIGITS.fullmatch(value):
        return None
    return max(int(value), 0)


def _latest_reset(windows: Iterable[Window | None]) -> int | None:
    """The latest reset among the spent windows (or those whose remaining count was not sent)."""
    latest = None
    for window in windows:
        if window is None or window.reset is None or window.remaining not in (0, None):
            continue
        if latest is None or window.reset > latest:
            latest = window.reset
    return latest


def _retry_after(value: str | None, date: str | None) -> tuple[int | None, int | None]:
    """Retry-After as (seconds, epoch): delta-seconds or an HTTP date, measured from the
    response's Date header (not from now, so a flow read back later decodes the same)."""
    if value is None:
        return None, None
    sent = _http_date(date)
    seconds = _header_int(value)
    if seconds is not None:
        return seconds, sent + seconds if sent is not None else None
    until = _http_date(value)
    if until is None:
        return None, None
    if sent is None:
        return None, until
    return max(until - sent, 0), until


def _http_date(value: str | None) -> int | None:
    if not value:
        return None
    try:
        return int(parsedate_to_datetime(value).timestamp())
    except (TypeError, ValueError, IndexError, OverflowError, OSError):
        return None


def decompress(body: bytes, encoding: str, limit: int) -> tuple[bytes, str]:
    """Undo Content-Encoding, keeping at most `limit` + 1 decompressed bytes (so a caller can
    tell that there was more). Returns (bytes, problem)."""
    if not encoding:
        return body, ""
    for name in reversed([e.strip() for e in encoding.lower().split(",")]):
        if name in ("", "identity"):
            continue
        try:
            decoded = _decompress_one(body, name, limit)
        except Exception as e:  # zlib.error, brotli.error, zstd.ZstdError, EOFError...
            return b"", f"{_clean(name)} body could not be decompressed ({type(e).__name__})"
        if decoded is None:
            return b"", f"unsupported content-encoding {_clean(name)[:40]!r}"
        body, complete = decoded
        if not complete and len(body) <= limit:
            return body, f"{name} body is truncated"
    return body, ""


def _decompress_one(body: bytes, name: str, limit: int) -> tuple[bytes, bool] | None:
    """At most limit + 1 decompressed bytes, and whether the compressed stream was complete."""
    if name in ("gzip", "x-gzip", "deflate"):
        wbits = 16 + zlib.MAX_WBITS if "gzip" in name else zlib.MAX_WBITS
        inflater = zlib.decompressobj(wbits)
        try:
            out = inflater.decompress(body, limit + 1)
        except zlib.error:
            if name != "deflate":
                raise
            inflater = zlib.decompressobj(-zlib.MAX_WBITS)  # servers send raw deflate too
            out = inflater.decompress(body, limit + 1)
        return out, inflater.eof
    if name == "br" and brotli is not None:
        decompressor = brotli.Decompressor()
        out = decompressor.process(body, output_buffer_limit=limit + 1)
        return out, decompressor.is_finished()
    if name == "zstd" and zstd is not None:
        zstd_decompressor = zstd.ZstdDecompressor()
        out = zstd_decompressor.decompress(body, max_length=limit + 1)
        return out, zstd_decompressor.eof
    return None


def _mentions_error(content: bytes) -> bool:
    """Cheap test for a body that could carry errors; big bodies are searched at both ends."""
    if len(content) > 2 * SCAN_WINDOW:
        head, tail = content[:SCAN_WINDOW], content[-SCAN_WINDOW:]
        return _mentions_error(head) or _mentions_error(tail)
    return b'"errors"' in content or b'"processing_info"' in content


def _charset(content_type: str) -> str:
    """The declared charset's canonical name; utf-8 when none (or an unknown one) is declared."""
    match = re.search(r"charset=[\"']?([\w.:-]+)", content_type)
    if match:
        try:
            return codecs.lookup(match.group(1)).name
        except LookupError:
            pass
    return "utf-8"


def _as_text(content: bytes, content_type: str) -> str:
    try:
        return content.decode(_charset(content_type), "replace")
    except Exception:  # a codec that fails on bytes anyway (e.g. a text-only transform)
        return content.decode("utf-8", "replace")


def _html_title(content: bytes) -> str:
    match = _TITLE.search(content[:MARKUP_LIMIT])
    return _clean(html.unescape(_as_text(match.group(1), ""))) if match else ""


def _json_problem(error: Exception, size: int) -> str:
    if isinstance(error, RecursionError):
        return "JSON nested too deeply"
    if isinstance(error, json.JSONDecodeError):
        cut = error.pos >= size - 1 or error.msg.startswith("Unterminated string")
        kind = "truncated JSON" if cut else "invalid JSON"
        return f"{kind}: {error.msg} (byte {error.pos})"
    return f"invalid JSON: {_clean(str(error))}"


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


_JSON = json.JSONDecoder(parse_constant=_reject_constant)


def _is_problem(data: dict[str, Any]) -> bool:
    """RFC 7807 as v2 sends it: a type, or a title with a detail."""
    if isinstance(data.get("type"), str):
        return True
    return isinstance(data.get("title"), str) and isinstance(data.get("detail"), str)


def _as_int(value: Any) -> int | None:
    """A code as an int, from the types real and broken bodies use; None otherwise."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value < 2**31 else None
    if isinstance(value, float) and value.is_integer():
        return _as_int(int(value))
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return _as_int(int(value)) if len(value.strip()) <= 9 else None
    return None


def _message(item: Any) -> str:
    if isinstance(item, str):
        return _clean(item)
    if not isinstance(item, dict):
        return ""
    for key in ("message", "detail", "title"):
        value = item.get(key)
        if isinstance(value, str) and value.strip():
            return _clean(value)
    return ""


_DETAIL_KEYS = (
    "parameter",
    "parameters",
    "value",
    "resource_type",
    "resource_id",
    "section",
    "field",
    "reason",
    "disconnect_type",
    "connection_issue",
    "period",
    "scope",
    "product_name",
    "required_enrollment",
    "label",
    "details",
    "id",
)


def _details(item: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """The v2 problem fields worth showing, as strings, with echoed credentials blanked."""
    out = []
    for key in _DETAIL_KEYS:
        if key in item and item[key] is not None:
            value = _scrub(item[key])
            out.append((key, _clean(value if isinstance(value, str) else _short_repr(value))))
    return tuple(out)


def _scrub(value: Any, depth: int = 0) -> Any:
    """A copy of a JSON value whose credential-named keys have their values redacted."""
    if depth > 20:
        return "…"
    if isinstance(value, dict):
        return {
            key: "<redacted>"
            if isinstance(key, str) and _SECRET_NAME.search(key)
            else _scrub(item, depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_scrub(item, depth + 1) for item in value]
    return value


def _short_repr(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)[: 4 * TEXT_LIMIT]
    except (TypeError, ValueError, RecursionError):
        return type(value).__name__


def _clean(value: Any) -> str:
    """Text fit for comments, logs and flow files: no credentials, no control characters or
    lone surrogates, one line, bounded."""
    text = value if isinstance(value, str) else str(value)
    text = " ".join(text[: 4 * TEXT_LIMIT].split())  # room to see a whole credential
    text = text.encode("utf-8", "replace").decode("utf-8")
    if not text.isprintable():  # the regular expressions only where they can match
        text = _CONTROL.sub("", text)
    folded = text.casefold()  # "bas": (?i)basic also matches a dotless or a dotted capital I
    if "bearer" in folded or "bas" in folded:
        text = _BEARER.sub(r"\1<redacted>", text)
    if "=" in text or ":" in text:
        text = _ASSIGNMENT.sub(_redact_assignment, text)
    return text if len(text) <= TEXT_LIMIT else text[:TEXT_LIMIT] + "…"


def _redact_assignment(match: re.Match[str]) -> str:
    name, separator, _ = match.groups()
    return f"{name}{separator}<redacted>" if _SECRET_NAME.search(name) else match.group(0)
