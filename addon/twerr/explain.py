"""Human text from a flow's record: comment lines, marker, log line, content view.

Everything here reads the record as it is stored in `flow.metadata["twerr"]`, so a flow read
back from a file is explained exactly as it was when it passed.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping

from twerr.catalog import Catalog
from twerr.decode import PARTIAL_SHAPES
from twerr.inject.faults import breaks
from twerr.record import RateLimitRecord
from twerr.record import Record
from twerr.record import WindowRecord

PARTIAL_MARKER = ":information_source:"  # errors beside a success: part of the request failed
UNDECODABLE_MARKER = ":question:"  # a body twerr could not read, with nothing else to show
INJECTED_MARKER = ":syringe:"  # twerr itself made this response (or fault): not the API
LOG_LABEL_LIMIT = 100  # the log line stays one line; the comment and the view have the rest

RETRY_WORDS = {
    "never": "a retry cannot help",
    "after_reset": "retry after the rate-limit reset",
    "backoff": "retry with exponential backoff",
}


def is_error(meta: Record) -> bool:
    return bool(meta["errors"]) or meta["shape"] == "undecodable"


def worth_a_view(meta: Record) -> bool:
    """The content view has something to say: an error, or an audit finding on the request."""
    return is_error(meta) or bool(meta.get("audit"))


def retry_advice(meta: Record) -> str:
    if quota := meta.get("quota"):  # which limit binds says more than the error's advice
        return quota["summary"]
    if meta["retry"] == "after_reset" and meta.get("retry_at_utc"):
        return f"retry after {meta['retry_at_utc']}"
    return RETRY_WORDS[meta["retry"]]


def comment_lines(meta: Record) -> list[str]:
    """One line per error: `187 Status is a duplicate — The status text has already been...`"""
    lines = [f"{error['label']} — {error['meaning']}" for error in meta["errors"]]
    if (quota := meta.get("quota")) and lines:
        lines.append(f"quota: {quota['summary']}")
    elif meta["retry"] == "after_reset" and meta.get("retry_at_utc") and lines:
        lines[0] += f" Retry after {meta['retry_at_utc']}."
    if meta["shape"] in ("undecodable", "unexpected-json") and meta["note"]:
        note = f"{meta['shape']} body: {meta['note']}"
        if lines:
            lines[0] += f" [{note}]"
        else:
            lines.append(f"HTTP {meta['status']} {meta['status_text']} — {note}")
    if injected := meta["injected"]:
        lines.append(injected_line(injected))
    return lines


def injected_line(record: Mapping[str, object]) -> str:
    """`injected by twerr: 187 at request phase, rule twerr_inject[0] (...), match 3, draw 0.12`"""
    # the record may come from a flow file, which anyone can edit: no field is trusted
    window, draw = record.get("window"), record.get("draw")
    if record.get("fault") == "pass" and isinstance(window, dict) and window:
        what = f"rate-limit window, {window.get('remaining')}/{window.get('limit')} left"
    else:
        what = f"{record.get('fault')} at {record.get('phase')} phase"
    text = f"injected by twerr: {what}; rule {record.get('rule')}: {record.get('spec')}"
    text += f"; match {record.get('match')}"
    if isinstance(draw, int | float):
        text += f", draw {draw:.4f} (seed {record.get('seed')})"
    return text


def error_kind(meta: Record, catalog: Catalog) -> tuple[str, str]:
    """What verdicts are tallied by, and its name: ("88", "88 Rate limit exceeded"). Names do
    not carry what varies between responses of a kind (a v2 problem's detail, say)."""
    if meta["shape"] == "transport-error":
        injected = meta["injected"]
        fault = injected.get("fault") if injected else None
        name = str(fault) if breaks(fault) else "no-response"  # a real failure: "no-response"
        return name, f"no response ({name})"
    errors = meta["errors"]
    headline = next((e for e in errors if e["category"] == meta["category"]), None)
    status = f"HTTP {meta['status']}"
    if headline is None:
        return status, f"{status} {meta['status_text']}"
    if headline["code"] is not None:
        return str(headline["code"]), headline["label"]
    if meta["shape"] == "html" and headline["http_status"] != meta["status"]:
        # an edge error page served with another status (over capacity inside a 200)
        page = f"HTTP {headline['http_status']} page"
        return page, f"{headline['label']} (error page served with HTTP {meta['status']})"
    if meta["shape"] == "media-processing":  # "media InvalidMedia failed": named by the API
        return headline["label"], headline["label"]
    problem = headline["type"] or ""
    if problem and problem != "about:blank":
        slug = problem.rstrip("/").rsplit("/", 1)[-1].rsplit("#", 1)[-1]
        entry = catalog.problem_by_slug(slug)
        return slug, f"{slug} ({entry.title})" if entry and entry.title else slug
    return status, f"{status} {meta['status_text']}"


def marker(meta: Record, catalog: Catalog) -> str | None:
    """An emoji short code by severity; None for a plain success."""
    if meta.get("injected"):
        return INJECTED_MARKER
    if not meta["errors"]:
        return UNDECODABLE_MARKER if meta["shape"] == "undecodable" else None
    if meta["shape"] in PARTIAL_SHAPES:
        return PARTIAL_MARKER
    return catalog.categories[meta["category"]].marker


def log_line(meta: Record) -> str:
    """The one line mitmdump prints for an error flow."""
    labels = "; ".join(_shorten(error["label"]) for error in meta["errors"]) or meta["note"]
    where = meta.get("endpoint", "")
    injected = " (injected)" if meta.get("injected") else ""
    return (
        f"{where} → {meta['status']} {labels}{injected} [{meta['category']}; {retry_advice(meta)}]"
    )


def tally_line(tally: Counter[str]) -> str:
    """The closing summary: `twerr: 44 Twitter API responses: 9 permission, 7 rate_limit, ...`"""
    total = sum(tally.values())
    parts = ", ".join(f"{count} {category}" for category, count in tally.most_common())
    return f"twerr: {total} Twitter API responses: {parts}"


def _shorten(text: str, limit: int = LOG_LABEL_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def render(meta: Record, body: bytes) -> str:
    """The "Twitter Error" content view: what each error means, what to do, the rate limit."""
    api = meta["api"] or "no API version"
    out = [f"HTTP {meta['status']} {meta['status_text']} · {api} · shape {meta['shape']}"]
    if injected := meta["injected"]:
        out.append(injected_line(injected).replace("injected by", "Injected by", 1))
    if finding := meta["audit"]:
        out.append(f"Audit: {finding['verdict']} — {finding['text']}")
    if meta["note"]:
        out.append(f"Note: {meta['note']}")
    for error in meta["errors"]:
        out += ["", error["label"]]
        if error["message"] and error["message"] not in error["label"]:
            out.append(f"  message:  {error['message']}")
        out.append(f"  meaning:  {error['meaning']}")
        if not error["known"]:
            out.append("  (not in twerr's catalog: explained by its HTTP status)")
        out.append(f"  category: {error['category']} · catalog status {error['http_status']}")
        out.append(f"  retry:    {RETRY_WORDS[error['retry']]}")
        if error["action"]:
            out.append(f"  action:   {error['action']}")
        for key, value in error["details"].items():
            out.append(f"  {key}: {value}")
    if is_error(meta):
        out += ["", f"Advice: {retry_advice(meta)}."]
    out += _rate_limit_lines(meta.get("rate_limit"))
    out += ["", "Body:", _pretty(body)]
    return "\n".join(out)


def _rate_limit_lines(rate: RateLimitRecord | None) -> list[str]:
    if not rate:
        return []
    lines = ["", "Rate limit:"]
    windows: list[tuple[str, WindowRecord | None]] = [
        ("15-minute window", rate),
        ("24-hour app cap", rate["app_24h"]),
        ("24-hour user cap", rate["user_24h"]),
    ]
    for name, window in windows:
        if window is None:
            continue
        if window["limit"] is None and window["remaining"] is None and window["reset"] is None:
            continue
        resets = window["reset_utc"] or window["reset"] or "unknown"
        used = f"{window['remaining']}/{window['limit']} remaining"
        lines.append(f"  {name}: {used}, resets {resets}")
    if rate["exhausted"]:
        lines.append(f"  exhausted: {', '.join(rate['exhausted'])}")
    if rate["retry_after"] is not None:
        lines.append(f"  Retry-After: {rate['retry_after']} s")
    return lines


def _pretty(body: bytes) -> str:
    if not body:
        return "(empty)"
    try:
        return json.dumps(json.loads(body), indent=2, ensure_ascii=False)
    except (ValueError, RecursionError):
        return body.decode("utf-8", "replace")
