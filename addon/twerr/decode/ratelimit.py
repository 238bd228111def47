"""Rate-limit headers: the 15-minute window, the 24-hour caps and Retry-After. Pure.

One `Window` is what a set of x-rate-limit-style headers says (or what an emulated window will
say); `RateLimit` holds all of a response's windows and works out when a request can succeed
again. Parsing never raises: what does not read as a number is left out, as urllib3's
`parse_retry_after` does.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

_DIGITS = re.compile(r"[ \t]*-?[0-9]{1,18}[ \t]*")


# The values made for every flow are slotted dataclasses, not frozen ones (a frozen one costs
# three times as much to make); nothing changes them once made.
@dataclass(slots=True)
class Window:
    """One rate-limit window: what a response's headers say, or what an emulated window will
    say (then every field is set). reset is epoch seconds."""

    limit: int | None
    remaining: int | None
    reset: int | None


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


def parse_rate_limit(headers: Mapping[str, str]) -> RateLimit | None:
    """Rate-limit headers (lower-case names) into a RateLimit; None when there are none."""
    get = headers.get
    main, app, user = [_window(get(a), get(b), get(c)) for a, b, c in WINDOW_HEADERS]
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
def utc(epoch: float | None) -> str | None:
    """Epoch seconds as an ISO 8601 UTC string; None when absent or out of range."""
    if epoch is None or epoch != epoch:  # NaN
        return None
    try:
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
    except (OverflowError, OSError, ValueError):
        return None


def rate_limit_headers(window: Window) -> list[tuple[str, str]]:
    """The x-rate-limit-* headers that say what `window` holds, as the API writes them."""
    names = WINDOW_HEADERS[0]
    values = (window.limit, window.remaining, window.reset)
    return [(name, str(value)) for name, value in zip(names, values, strict=True)]


WINDOW_HEADERS = tuple(
    (f"{prefix}-limit", f"{prefix}-remaining", f"{prefix}-reset")
    for prefix in ("x-rate-limit", "x-app-limit-24hour", "x-user-limit-24hour")
)


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
