"""Reading a response body: one response's context, the JSON shapes of its body, and the
`Decoded` that results. Pure; `shapes._Decoder` adds the wire-level dispatch on top."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from twerr.catalog import Catalog
from twerr.decode.advice import Advisor
from twerr.decode.advice import ApiError
from twerr.decode.advice import message_of
from twerr.decode.advice import short_repr
from twerr.decode.decoded import Api
from twerr.decode.decoded import Decoded
from twerr.decode.decoded import Shape
from twerr.decode.ratelimit import parse_rate_limit
from twerr.decode.redact import clean
from twerr.decode.wire import as_text
from twerr.decode.wire import charset

MAX_ERRORS = 50  # errors kept per response; the note says how many more there were


class BodyReader(Advisor):
    """One response being read: its status, headers and path; the JSON shapes its body can
    take; and the `Decoded` that results. The advisor it extends gives each error its meaning."""

    def __init__(self, catalog: Catalog, status: int, headers: dict[str, str], path: str):
        super().__init__(catalog, status)
        self.headers = headers
        self.path = path.split("?", 1)[0]
        self.content_type = headers.get("content-type", "").lower()
        self.notes: list[str] = []  # remarks on how the body was read, for the result

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

    def parse_json(self, content: bytes) -> tuple[Any, str]:
        try:
            # what json.loads does with bytes, with one decoder made once, not one per call
            text = content.decode(json.detect_encoding(content), "surrogatepass")
            return _JSON.decode(text), ""
        except UnicodeDecodeError:
            text = as_text(content, self.content_type)
            if charset(self.content_type) == "utf-8":
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
            return self.result("v1.1-error", [self.status_error(message=clean(data["error"]))])
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
                text = item if isinstance(item, str) else short_repr(item)
                errors.append(self.status_error(message=clean(text)))
            elif (code := _as_int(item.get("code"))) is not None:
                errors.append(self.code_error(code, message_of(item)))
            elif isinstance(item.get("type"), str) or isinstance(item.get("title"), str):
                errors.append(self.problem_error(item))
            else:
                errors.append(self.named_error(item))
        self.note_dropped(len(items))
        return errors, odd

    def decode_oauth2(self, data: dict[str, Any]) -> Decoded:
        error = clean(data["error"])
        message = f"{error}: {clean(data['error_description'])}"
        return self.result("oauth2", [replace(self.status_error(message=message), type=error)])

    def decode_media_failure(self, processing: dict[str, Any]) -> Decoded:
        raw = processing.get("error")
        failure = raw if isinstance(raw, dict) else {}
        name = clean(failure.get("name")) if isinstance(failure.get("name"), str) else ""
        message = message_of(failure) or "media processing failed"
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
        message = clean(found if isinstance(found, str) else short_repr(found))
        errors = self.status_errors(message=message) if self.status >= 400 else []
        return self.result("unexpected-json", errors)

    def note_dropped(self, count: int) -> None:
        if count > MAX_ERRORS:
            self.notes.append(f"{count - MAX_ERRORS} more errors not shown")

    # -- errors from the catalog ------------------------------------------------------------

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


def _json_problem(error: Exception, size: int) -> str:
    if isinstance(error, RecursionError):
        return "JSON nested too deeply"
    if isinstance(error, json.JSONDecodeError):
        cut = error.pos >= size - 1 or error.msg.startswith("Unterminated string")
        kind = "truncated JSON" if cut else "invalid JSON"
        return f"{kind}: {error.msg} (byte {error.pos})"
    return f"invalid JSON: {clean(str(error))}"


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
