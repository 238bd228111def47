"""Which limit blocks a request, and when a retry can first succeed. Pure.

A 429, a 402 or a usage cap can have several causes at once: the 15-minute window, the app's
or the user's 24-hour cap, a monthly (or daily) usage cap, the account's credits. A retry
succeeds only once every spent one is free again, so the limit that binds is the one freed
last, and a client that sleeps until another one's reset wakes to the same error. The most
common quota bug of X clients is exactly that: waiting for the 15-minute reset while a 24-hour
or monthly cap blocks them, or retrying a 402 for days.
"""

from __future__ import annotations

import calendar
import functools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from twerr.decode.advice import ApiError
from twerr.decode.decoded import Decoded
from twerr.decode.ratelimit import Window

LimitName = Literal[
    "credits", "spend_cap", "usage_cap", "window", "app_24h", "user_24h", "connections", "unseen"
]
RetryWhen = Literal["at", "next-period", "credits-added", "backoff"]

CREDIT_PROBLEMS = frozenset({"credits", "credits-depleted"})  # X's two 402 forms
SPEND_CAP_PROBLEM = "spend-cap-reached"  # 403; before it, a 403 of the credits type
USAGE_CAP_PROBLEM = "usage-capped"
CONNECTIONS_PROBLEM = "streaming-connection"  # TooManyConnections: no header counts those
DAY = 86_400
HEADER_LIMITS: tuple[LimitName, ...] = ("window", "app_24h", "user_24h")  # as headers send them
_Clock = Callable[[int], str]  # epoch seconds as the line writes them
NAMES: dict[LimitName, str] = {
    "credits": "the account's credits",
    "spend_cap": "the account's spending limit",
    "usage_cap": "the usage cap",
    "window": "the 15-minute window",
    "app_24h": "the app 24-hour cap",
    "user_24h": "the user 24-hour cap",
    "connections": "the stream's connection limit",
    "unseen": "a limit no header shows",
}


@dataclass(slots=True)
class Quota:
    spent: tuple[LimitName, ...]  # the limits that refuse the request, the binding one first
    retry_at: int | None  # epoch seconds: the earliest a retry can succeed, when known
    retry_when: RetryWhen  # what a retry waits for
    summary: str  # one line: what binds, until when, and which reset will not help

    @property
    def binding(self) -> LimitName | None:
        return self.spent[0] if self.spent else None


def quota_of(decoded: Decoded, now: float | None = None) -> Quota | None:
    """The quota reading of a refused request (a 429 or 402, or an error of the rate-limit or
    billing kind); None for any other response. `now` is when the response came, to write
    times on the same UTC day without their date."""
    if decoded.status not in (402, 429) and decoded.category not in ("rate_limit", "billing"):
        return None
    rate = decoded.rate_limit
    windows = (rate.window, rate.app_24h, rate.user_24h) if rate else (None, None, None)
    return _read(  # a client hammering a spent limit gets the same reading flow after flow
        decoded.status,
        decoded.category,
        tuple((_slug(error), error.details) for error in decoded.errors),
        tuple(None if w is None else (w.limit, w.remaining, w.reset) for w in windows),
        rate.retry_after_at if rate else None,
        None if now is None or now != now else int(now // DAY),
    )


Problems = tuple[tuple[str, tuple[tuple[str, str], ...]], ...]  # (slug, details) per error
WindowState = tuple[int | None, int | None, int | None] | None  # limit, remaining, reset


@functools.lru_cache(maxsize=256)
def _read(
    status: int,
    category: str,
    problems: Problems,
    states: tuple[WindowState, ...],
    retry_after_at: int | None,
    today: int | None,
) -> Quota:
    windows: dict[LimitName, Window | None] = {
        name: None if state is None else Window(*state)
        for name, state in zip(HEADER_LIMITS, states, strict=True)
    }
    slugs = {slug for slug, _ in problems}
    cap = next((dict(details) for slug, details in problems if slug == USAGE_CAP_PROBLEM), None)
    spent: list[LimitName] = []
    spend_cap = SPEND_CAP_PROBLEM in slugs or (status == 403 and bool(slugs & CREDIT_PROBLEMS))
    if spend_cap:
        spent.append("spend_cap")
    elif slugs & CREDIT_PROBLEMS or status == 402 or category == "billing":
        spent.append("credits")
    if cap is not None:
        spent.append("usage_cap")
    # the spent windows, the one freed last first; one that names no reset frees at no known time
    emptied = [n for n, w in windows.items() if w is not None and w.remaining == 0]
    emptied.sort(key=lambda n: _reset_or_never(windows[n]), reverse=True)
    spent += emptied

    retry_at: int | None = None
    when: RetryWhen
    if "credits" in spent:
        when = "credits-added"
    elif spend_cap and (retry_at := _cycle_start(problems)) is not None:
        when = "at"  # the 403 names the day the next billing cycle begins
    elif spend_cap or cap is not None:
        when = "next-period"
    elif emptied:
        retry_at = windows[emptied[0]].reset  # type: ignore[union-attr]
        when = "at" if retry_at is not None else "backoff"
    else:
        spent.append("connections" if CONNECTIONS_PROBLEM in slugs else "unseen")
        retry_at = retry_after_at
        when = "at" if retry_at is not None else "backoff"

    def at(epoch: int) -> str:
        return clock(epoch, today)

    parts = [_describe(name, windows, cap, at) for name in spent]
    line = "blocked by " + " and ".join(parts)
    line += _wait(when, spent, retry_at, windows, cap, at)
    line += _futile_resets(spent, retry_at, when, windows, at)
    return Quota(tuple(spent), retry_at, when, line)


def _cycle_start(problems: Problems) -> int | None:
    """The day a spending limit's next billing cycle begins (reset_date), at 00:00Z."""
    for _, details in problems:
        day = dict(details).get("reset_date", "")
        try:
            return calendar.timegm(time.strptime(day[:10], "%Y-%m-%d"))
        except ValueError:
            continue
    return None


def _slug(error: ApiError) -> str:
    return (error.type or "").rstrip("/").rsplit("/", 1)[-1].rsplit("#", 1)[-1]


def _reset_or_never(window: Window | None) -> float:
    return float("inf") if window is None or window.reset is None else window.reset


def _describe(
    name: LimitName,
    windows: dict[LimitName, Window | None],
    cap: dict[str, str] | None,
    clock: _Clock,
) -> str:
    if name == "usage_cap" and cap is not None:
        details = cap
        period = details.get("period", "").lower()
        scope = ", ".join(v for v in (details.get("scope"), details.get("product_name")) if v)
        text = f"the {period} usage cap" if period else NAMES[name]
        return f"{text} ({scope})" if scope else text
    window = windows.get(name)
    if window is None:
        return NAMES[name]
    used = f"{window.remaining}/{window.limit}" if window.limit is not None else "0 left"
    resets = f", resets {clock(window.reset)}" if window.reset is not None else ""
    return f"{NAMES[name]} ({used}{resets})"


def _wait(
    when: RetryWhen,
    spent: list[LimitName],
    retry_at: int | None,
    windows: dict[LimitName, Window | None],
    cap: dict[str, str] | None,
    clock: _Clock,
) -> str:
    if when == "credits-added":
        return ": no retry succeeds until credits are added (or the spending limit is raised)"
    if when == "next-period" and spent[0] == "spend_cap":
        return ": no retry succeeds before the next billing cycle (or the limit is raised)"
    if when == "next-period":
        period = cap.get("period", "").lower() if cap else ""
        return f": no retry succeeds before the next {period or 'cap'} period".replace("  ", " ")
    if when == "backoff":
        return ": no header says when; back off"
    assert retry_at is not None
    binding = windows.get(spent[0])
    if len(spent) == 1 and binding is not None and binding.reset == retry_at:
        return ""  # the one spent limit already says when it resets
    return f": retry at {clock(retry_at)}"


def _futile_resets(
    spent: list[LimitName],
    retry_at: int | None,
    when: RetryWhen,
    windows: dict[LimitName, Window | None],
    clock: _Clock,
) -> str:
    """The resets a client may wait for that free it too early: the windows other than the
    binding limit, whose reset comes before the request can succeed. Said only when what binds
    is known: a limit no header shows may well be free by then."""
    if when == "backoff" and spent and spent[0] in ("unseen", "connections"):
        return ""
    out = []
    for name, window in windows.items():
        if window is None or window.reset is None or (spent and spent[0] == name):
            continue
        if when == "at" and retry_at is not None and window.reset >= retry_at:
            continue
        if when == "backoff" and name in spent:
            continue
        if window.remaining == 0:
            out.append(f"retrying at {NAMES[name]}'s reset ({clock(window.reset)}) will fail")
        elif window.remaining is not None and name == "window":
            out.append(
                f"{NAMES[name]} has {window.remaining} left: retrying at its reset will fail"
            )
    return "".join(f"; {text}" for text in out)


def clock(epoch: float, today: int | None) -> str:
    """09:00Z, 09:00:07Z, or 2026-12-07 09:00Z when it is another UTC day than `today` (days
    since the epoch; None: never dated)."""
    try:
        moment = time.gmtime(epoch)
    except (OverflowError, OSError, ValueError):
        return str(epoch)
    text = time.strftime("%H:%M" if moment.tm_sec == 0 else "%H:%M:%S", moment) + "Z"
    if today is not None and int(epoch // DAY) != today:
        text = time.strftime("%Y-%m-%d ", moment) + text
    return text
