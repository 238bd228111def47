"""X's documented rate limits, emulated (`ratelimit=x`). Pure: no mitmproxy import.

X counts each endpoint's limits by the kind of token (its rate-limit page): an app-only bearer
token spends the app's limits (15 minutes, 24 hours, per second); a user token (OAuth 1.0a, or
an OAuth 2.0 user token) spends that user's, and the app's 24-hour cap, which all its users
share. Each spent limit shows in the headers X sends for it: `x-rate-limit-*` for the
15-minute window of the kind of token used, `x-app-limit-24hour-*` and `x-user-limit-24hour-*`
for the caps. A request refused by any limit uses up none (it never reached the endpoint).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from twerr.catalog.quotas import EndpointLimits
from twerr.catalog.quotas import Limits
from twerr.decode import Window
from twerr.decode.ratelimit import WINDOW_HEADERS
from twerr.decode.redact import OAUTH_IDENTITY
from twerr.inject.forge import DAY_SECONDS
from twerr.inject.forge import WINDOW_SECONDS
from twerr.inject.windows import Want
from twerr.inject.windows import Windows
from twerr.inject.windows import hashed

LimitName = Literal["window", "app_24h", "user_24h", "second"]
SECONDS: dict[LimitName, float] = {
    "window": WINDOW_SECONDS,
    "app_24h": DAY_SECONDS,
    "user_24h": DAY_SECONDS,
    "second": 1,
}
# App-only bearer tokens are URL-encoded base64 of a binary id that starts with 15 zero bytes:
# "AAAAAAAAAAAAAAAAAAAAA..." (X's docs and every captured example). OAuth 2.0 user tokens are
# not. This is how X tells them apart too: by what the token is, not by how it is sent.
APP_ONLY_PREFIX = "AAAAAAAAAAAAAAAAAAAA"


@dataclass(frozen=True, slots=True)
class Caller:
    user_context: bool  # a user token: the user's limits (and the app's 24-hour cap) apply
    app: str  # a hash naming the app (never the credential in clear)
    user: str  # a hash naming the user; "" for an app-only token


def caller(authorization: str | None, query_pairs: Iterable[tuple[str, str]] = ()) -> Caller:
    """Who spends the limits: the app, and the user when the token is a user's."""
    scheme, _, rest = (authorization or "").strip().partition(" ")
    fields: dict[str, str]
    if scheme.lower() == "oauth":
        fields = dict(OAUTH_IDENTITY.findall(rest))
    elif scheme.lower() == "bearer":
        token = rest.strip()
        if token.startswith(APP_ONLY_PREFIX):
            return Caller(False, hashed(f"bearer {token}"), "")
        # an OAuth 2.0 user token does not say which app it belongs to: one app per proxy
        return Caller(True, "oauth2-app", hashed(f"bearer {token}"))
    else:
        fields = {k: v for k, v in query_pairs if k in ("oauth_consumer_key", "oauth_token")}
    if not fields:
        return Caller(False, "anonymous", "")
    app = hashed(f"app {fields.get('oauth_consumer_key', '')}")
    token = fields.get("oauth_token", "")
    return Caller(bool(token), app, hashed(f"user {app} {token}") if token else "")


@dataclass(slots=True)
class Taken:
    allowed: bool
    limits: dict[LimitName, Window]  # every limit that counted the request, as it now stands
    refused_by: LimitName | None  # the first full one, when refused

    def headers(self) -> list[tuple[str, str]]:
        """The rate-limit headers X sends for these limits (none for the per-second one)."""
        out = []
        for name, names in zip(("window", "app_24h", "user_24h"), WINDOW_HEADERS, strict=True):
            window = self.limits.get(name)  # type: ignore[call-overload]
            if window is not None:
                values = (window.limit, window.remaining, window.reset)
                out += [(header, str(value)) for header, value in zip(names, values, strict=True)]
        return out


def applicable(endpoint: EndpointLimits, who: Caller) -> list[tuple[LimitName, str, int]]:
    """The limits this caller spends on the endpoint: (name, whose, limit). Empty when the
    endpoint does not take this kind of token."""
    own: Limits | None = endpoint.user if who.user_context else endpoint.app
    if own is None:
        return []
    whose = who.user if who.user_context else who.app
    out: list[tuple[LimitName, str, int]] = []
    if own.per_15min:
        out.append(("window", whose, own.per_15min))
    if own.per_24h:
        out.append(("user_24h" if who.user_context else "app_24h", whose, own.per_24h))
    if who.user_context and endpoint.app and endpoint.app.per_24h:
        out.append(("app_24h", who.app, endpoint.app.per_24h))  # shared by all the app's users
    if own.per_second:
        out.append(("second", whose, own.per_second))
    return out


def take(
    windows: Windows,
    rule: str,
    endpoint: EndpointLimits,
    who: Caller,
    now: float,
    scale: float = 1.0,
) -> Taken | None:
    """Count one request against X's limits for it; None when the endpoint does not take
    this kind of token. `scale`: how many times faster than real time the limits run."""
    limits = applicable(endpoint, who)
    if not limits:
        return None
    route = f"{endpoint.method} {endpoint.route}"
    wanted: list[Want] = [
        ((rule, route, name, whose), limit, SECONDS[name] / scale) for name, whose, limit in limits
    ]
    allowed, states = windows.take_all(wanted, now)
    taken = {name: state for (name, _, _), state in zip(limits, states, strict=True)}
    refused_by = None
    if not allowed:
        refused_by = next(name for name, state in taken.items() if state.remaining == 0)
    return Taken(allowed, taken, refused_by)
