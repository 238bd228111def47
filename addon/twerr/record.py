"""The record of what twerr knows about a flow, as it is stored in `flow.metadata["twerr"]`.

The metadata is a public contract (saved flows, users' scripts and `~meta` filters rely on it):
keys are added, never renamed or removed. The record is a family of TypedDicts, not classes:
it must be written onto every flow as JSON-like values anyway, so components pass the very
dicts that are stored (no second copy per flow), and mypy checks every key they read or write.

This module alone builds the record: from a decoding (`of_decoded`), from what a flow file
holds (`stored`, which keeps only values of the types twerr writes), and the injection and
audit parts that components add to it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING
from typing import Any
from typing import Literal
from typing import NotRequired
from typing import TypedDict
from typing import cast

from twerr.audit.behaviour import Finding
from twerr.catalog import Category
from twerr.catalog import Retry
from twerr.decode import ApiError
from twerr.decode import Decoded
from twerr.decode import RateLimit
from twerr.decode import Window
from twerr.decode import utc
from twerr.decode.quota import Quota
from twerr.decode.quota import quota_of

if TYPE_CHECKING:  # flows are only read here: the record stays a pure module
    from mitmproxy import http

KEY = "twerr"  # flow.metadata[KEY]


class ErrorRecord(TypedDict):
    code: int | None  # the v1.1 numeric code, when the body gave one
    type: str | None  # the v2 problem type URI (or the OAuth 2 error), as sent
    message: str
    label: str
    meaning: str
    category: Category
    http_status: int
    retry: Retry
    action: str
    known: bool
    details: dict[str, str]


class WindowRecord(TypedDict):
    limit: int | None
    remaining: int | None
    reset: int | None
    reset_utc: str | None


class RateLimitRecord(WindowRecord):
    """The 15-minute window's keys at the top level, the 24-hour caps beside them."""

    app_24h: WindowRecord | None
    user_24h: WindowRecord | None
    retry_after: int | None
    exhausted: list[str]
    reset_at: int | None
    reset_at_utc: str | None


class EmulatedWindow(TypedDict):
    limit: int
    remaining: int
    reset: int


class InjectedRecord(TypedDict):
    rule: str  # where the rule came from: "twerr_inject[0]", "rules.yaml line 4", ...
    spec: str  # the rule in short form
    fault: str
    phase: str
    seed: int
    match: int  # the rule's counter: requests it had matched, this one included
    injection: int | None  # how many times it has injected, this one included
    draw: float | None  # the random draw compared with p (None when p is 1)
    window: NotRequired[EmulatedWindow]  # an emulated rate-limit window's state
    limits: NotRequired[dict[str, EmulatedWindow]]  # ratelimit=x: each of X's limits counted
    original: NotRequired[dict[str, Any]]  # the API's own response, when a fault replaced it


class AuditRecord(TypedDict):
    finding: str
    verdict: str
    error: str  # the error kind it reacts to
    text: str
    seconds: float | None


class HandledRecord(TypedDict):
    """An earlier error of the same client that this request showed it handled well."""

    error: str  # its kind: "88", "usage-capped", "HTTP 503"
    endpoint: str  # the endpoint that gave it: "GET /2/tweets/:id"


class QuotaRecord(TypedDict):
    """Which limit refuses a 429, a 402 or a usage cap, and when a retry can first succeed."""

    spent: list[str]  # credits, usage_cap, window, app_24h, user_24h, connections, unseen
    binding: str | None  # the one freed last: spent[0]
    retry_at: int | None  # epoch seconds, when a time is known
    retry_at_utc: str | None
    retry_when: str  # "at", "next-period", "credits-added", "backoff"
    summary: str  # the line shown in the comment, the log line, the view and the report


class CostRecord(TypedDict):
    """What the emulated wallet (twerr_credits) charged for this request."""

    usd: float
    per: str  # "resource" (each new resource returned) or "request"
    resources: int  # resources billed (0 for a request-priced one)
    balance: float  # the wallet after this charge
    repeat: bool  # the client had paid for this very request before


class Record(TypedDict):
    status: int
    status_text: str
    api: Literal["v1.1", "v2"] | None
    shape: str
    errors: list[ErrorRecord]
    category: Category
    retry: Retry
    retryable: bool
    retry_at: int | None
    retry_at_utc: str | None
    action: str
    rate_limit: RateLimitRecord | None
    note: str
    injected: InjectedRecord | None
    endpoint: str  # method, host and path: never the query (it can carry oauth_* values)
    audit: AuditRecord | None
    comment: str  # the lines twerr added to flow.comment
    marker: str | None  # the marker twerr set (None: it left the flow's own marker)
    handled: list[HandledRecord]  # the audit's: earlier errors this request handled well
    quota: NotRequired[QuotaRecord | None]  # added in 0.2: absent from older flow files
    cost: NotRequired[CostRecord | None]  # the wallet's charge, when twerr_credits is set


def of_decoded(decoded: Decoded, endpoint: str = "", now: float | None = None) -> Record:
    """The record of a decoding, before any component added to it. `now`: when the response
    came (the quota line writes times on that UTC day without their date)."""
    headline, retry_at = decoded.headline, decoded.retry_at
    quota = quota_of(decoded, now) if headline is not None else None
    return {
        "status": decoded.status,
        "status_text": decoded.status_text,
        "api": decoded.api,
        "shape": decoded.shape,
        "errors": [of_error(error) for error in decoded.errors],
        "category": decoded.category,
        "retry": decoded.retry,
        "retryable": decoded.retry != "never",
        "retry_at": retry_at,
        "retry_at_utc": utc(retry_at),
        "action": headline.action if headline else "",
        "rate_limit": of_rate_limit(decoded.rate_limit) if decoded.rate_limit else None,
        "note": decoded.note,
        "injected": None,
        "endpoint": endpoint,
        "audit": None,
        "comment": "",
        "marker": None,
        "handled": [],
        "quota": of_quota(quota) if quota else None,
    }


def of_quota(quota: Quota) -> QuotaRecord:
    return {
        "spent": list(quota.spent),
        "binding": quota.binding,
        "retry_at": quota.retry_at,
        "retry_at_utc": utc(quota.retry_at),
        "retry_when": quota.retry_when,
        "summary": quota.summary,
    }


def of_error(error: ApiError) -> ErrorRecord:
    return {
        "code": error.code,
        "type": error.type,
        "message": error.message,
        "label": error.label,
        "meaning": error.meaning,
        "category": error.category,
        "http_status": error.http_status,
        "retry": error.retry,
        "action": error.action,
        "known": error.known,
        "details": dict(error.details),
    }


def of_window(window: Window) -> WindowRecord:
    return {
        "limit": window.limit,
        "remaining": window.remaining,
        "reset": window.reset,
        "reset_utc": utc(window.reset),
    }


_NO_WINDOW = of_window(Window(None, None, None))  # the main window's keys when not sent


def of_rate_limit(rate: RateLimit) -> RateLimitRecord:
    reset_at = rate.reset_at
    return {
        **(of_window(rate.window) if rate.window else _NO_WINDOW),
        "app_24h": of_window(rate.app_24h) if rate.app_24h else None,
        "user_24h": of_window(rate.user_24h) if rate.user_24h else None,
        "retry_after": rate.retry_after,
        "exhausted": list(rate.exhausted),
        "reset_at": reset_at,
        "reset_at_utc": utc(reset_at),
    }


def of_finding(finding: Finding) -> AuditRecord:
    return {
        "finding": finding.name,
        "verdict": finding.verdict,
        "error": finding.kind,
        "text": finding.text,
        "seconds": None if finding.seconds is None else round(finding.seconds, 3),
    }


def storable(text: str) -> str:
    """Text a flow file can hold: mitmproxy keeps undecodable bytes of a request as lone
    surrogates, which would make the flow unsaveable (and `-w` would drop it)."""
    return text if text.isascii() else text.encode("utf-8", "backslashreplace").decode("utf-8")


class Stored(TypedDict):
    """What an earlier pass left on a flow, as far as it has the types twerr writes (a flow
    file can hold anything here)."""

    injected: InjectedRecord | None
    comment: str
    marker: str | None
    cost: CostRecord | None


def stored(flow: http.HTTPFlow) -> Stored:
    previous = flow.metadata.get(KEY)
    if not isinstance(previous, dict):
        return {"injected": None, "comment": "", "marker": None, "cost": None}
    injected, comment, marker = (previous.get(k) for k in ("injected", "comment", "marker"))
    cost = previous.get("cost")
    return {
        "injected": cast(InjectedRecord, injected) if isinstance(injected, dict) else None,
        "comment": comment if isinstance(comment, str) else "",
        "marker": marker if isinstance(marker, str) else None,
        "cost": cast(CostRecord, cost) if _is_cost(cost) else None,
    }


def _is_cost(value: object) -> bool:
    """A charge as the wallet writes it (a flow file can hold anything, NaN included)."""
    if not isinstance(value, dict):
        return False
    usd, balance = value.get("usd"), value.get("balance")
    numbers = all(
        isinstance(n, int | float) and not isinstance(n, bool) and math.isfinite(n)
        for n in (usd, balance)
    )
    return (
        numbers
        and isinstance(value.get("resources"), int)
        and isinstance(value.get("repeat"), bool)
    )


def record_of(flow: http.HTTPFlow) -> Record | None:
    """The record on a flow, if it looks like one twerr wrote (a flow file's metadata can hold
    anything: readers that go on to render it guard against the rest)."""
    meta = flow.metadata.get(KEY)
    return meta if isinstance(meta, dict) and "errors" in meta else None  # type: ignore[return-value]


def set_injected(flow: http.HTTPFlow, injected: InjectedRecord) -> None:
    """The injector's part, written as the fault is carried out (the classifier, which runs
    next, keeps it in the record it writes)."""
    meta = flow.metadata.get(KEY)
    if not isinstance(meta, dict):
        meta = flow.metadata[KEY] = {}
    meta["injected"] = injected


def set_cost(flow: http.HTTPFlow, cost: CostRecord) -> None:
    """The wallet's charge, written before the classifier, which keeps it."""
    meta = flow.metadata.get(KEY)
    if not isinstance(meta, dict):
        meta = flow.metadata[KEY] = {}
    meta["cost"] = cost


def forget_last_pass(flow: http.HTTPFlow) -> None:
    """A replayed flow: what its last pass through the injector and the wallet recorded (the
    fault, the charge) does not hold."""
    meta = flow.metadata.get(KEY)
    if isinstance(meta, dict):
        for key in ("injected", "cost"):
            if meta.get(key) is not None:
                meta[key] = None


def from_last_pass(flow: http.HTTPFlow) -> bool:
    """Whether the flow carries a fault or a charge from an earlier pass (a replay)."""
    meta = flow.metadata.get(KEY)
    return isinstance(meta, dict) and (
        meta.get("injected") is not None or meta.get("cost") is not None
    )


def was_injected(flow: http.HTTPFlow) -> bool:
    meta = flow.metadata.get(KEY)
    return isinstance(meta, dict) and meta.get("injected") is not None
