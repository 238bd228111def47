"""What an error means and what to do about it: the catalog's advice for one error. Pure.

`Advisor` knows the response's status and the catalog, and makes an `ApiError` from what a
body names: a v1.1 code, a v2 problem type, an OAuth or Ads API name, or nothing but the status.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from dataclasses import replace
from typing import Any

from twerr.catalog import Catalog
from twerr.catalog import Category
from twerr.catalog import Resets
from twerr.catalog import Retry
from twerr.decode.redact import TEXT_LIMIT
from twerr.decode.redact import clean
from twerr.decode.redact import scrub


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


class Advisor:
    """Makes the errors of one response, with the catalog's advice for its status."""

    def __init__(self, catalog: Catalog, status: int) -> None:
        self.catalog = catalog
        self.status = status
        self.status_entry = catalog.status(status)

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
        type_uri = clean(item.get("type")) if isinstance(item.get("type"), str) else None
        entry = self.catalog.problem(type_uri) if type_uri else None
        title = clean(item.get("title")) if isinstance(item.get("title"), str) else ""
        message = message_of(item) or title
        details = details_of(item)
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

    def named_error(self, item: dict[str, Any]) -> ApiError:
        """An item with a message and maybe a code that is a name (the Ads API's
        "INVALID_PARAMETER"), or no code at all."""
        error = self.status_error(message=message_of(item))
        name = item.get("code")
        if isinstance(name, str) and name.strip():
            name = clean(name)
            label = f"{name}: {error.message}" if error.message else name
            return replace(error, label=label, details=(("code", name), *details_of(item)))
        return replace(error, details=details_of(item))


def message_of(item: Any) -> str:
    if isinstance(item, str):
        return clean(item)
    if not isinstance(item, dict):
        return ""
    for key in ("message", "detail", "title"):
        value = item.get(key)
        if isinstance(value, str) and value.strip():
            return clean(value)
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
    "reset_date",
    "label",
    "details",
    "id",
)


def details_of(item: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """The v2 problem fields worth showing, as strings, with echoed credentials blanked."""
    out = []
    for key in _DETAIL_KEYS:
        if key in item and item[key] is not None:
            value = scrub(item[key])
            out.append((key, clean(value if isinstance(value, str) else short_repr(value))))
    return tuple(out)


def short_repr(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)[: 4 * TEXT_LIMIT]
    except (TypeError, ValueError, RecursionError):
        return type(value).__name__
