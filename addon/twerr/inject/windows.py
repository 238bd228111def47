"""Who calls what: the endpoint a request belongs to, the credential (hashed, never in clear)
and the exact request; and the emulated rate-limit windows kept per endpoint and credential.

Pure: no mitmproxy import. A window opens at the first request, lets `limit` requests through
and resets `seconds` later, as the API's 15-minute windows do.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass

from twerr.decode import Window
from twerr.decode.redact import OAUTH_IDENTITY
from twerr.decode.redact import OAUTH_PARAMETER

MAX_WINDOWS = 10_000  # least recently used windows are dropped beyond this
# An id: all digits (tweet and user ids), or ten characters or more with a digit (space ids
# such as 1DXxyRYNejbKM) but not the version in /2/ nor a word such as oauth2; and what
# follows by/username/.
_ID_SEGMENT = re.compile(r"(?<=.)/(\d+|(?=[^/]*\d)[A-Za-z0-9_-]{10,})(?=/|\.json$|$)")
_BY_NAME = re.compile(r"/by/(username|usernames)/[^/]+")


@dataclass
class _State:
    ends: float  # when the window is over (the reset it tells is this, rounded up)
    used: int


Want = tuple[tuple[str, ...], int, float]  # a window's key, its limit, its length in seconds


class Windows:
    def __init__(self, max_windows: int = MAX_WINDOWS) -> None:
        self.max_windows = max_windows
        self._windows: OrderedDict[tuple[str, ...], _State] = OrderedDict()

    def take(self, key: tuple[str, ...], limit: int, seconds: float, now: float) -> Window:
        """Count one request; remaining < 0 in the answer means it is over the limit."""
        state = self._state(key, seconds, now)
        state.used += 1
        return Window(limit=limit, remaining=limit - state.used, reset=math.ceil(state.ends))

    def take_all(self, wanted: Iterable[Want], now: float) -> tuple[bool, list[Window]]:
        """A request that several windows count: it is counted in every one only if every one
        has room (a refused request uses up nothing), as the API counts. Each window as it is
        after the request (remaining 0 in a full one)."""
        states = [(self._state(key, seconds, now), limit) for key, limit, seconds in wanted]
        room = all(state.used < limit for state, limit in states)
        windows = []
        for state, limit in states:
            state.used += room
            left = max(limit - state.used, 0)
            windows.append(Window(limit=limit, remaining=left, reset=math.ceil(state.ends)))
        return room, windows

    def _state(self, key: tuple[str, ...], seconds: float, now: float) -> _State:
        state = self._windows.get(key)
        if state is None or now >= state.ends:
            state = _State(ends=now + seconds, used=0)
            self._windows[key] = state
            while len(self._windows) > self.max_windows:
                self._windows.popitem(last=False)
        else:
            self._windows.move_to_end(key)
        return state

    def __len__(self) -> int:
        return len(self._windows)


def endpoint_key(method: str, path: str) -> str:
    """The endpoint a window belongs to: ids and names in the path do not make new endpoints,
    and api.twitter.com and api.x.com are one API."""
    return _route_key(method, path.split("?", 1)[0])


@functools.lru_cache(maxsize=4096)  # the audit and the report ask for it on every flow
def _route_key(method: str, route: str) -> str:
    route = _BY_NAME.sub(r"/by/\1/:name", route)
    return f"{method.upper()} {_ID_SEGMENT.sub('/:id', route)}"


def credential(authorization: str | None, query_pairs: Iterable[tuple[str, str]] = ()) -> str:
    """A short hash naming who is calling: the bearer token, or the OAuth consumer key and
    token (not the nonce, timestamp or signature, which change with every request)."""
    if authorization:
        scheme, _, rest = authorization.strip().partition(" ")
        if scheme.lower() == "oauth":  # new nonce and signature each time: nothing to cache
            fields = sorted(OAUTH_IDENTITY.findall(rest))
            return hashed("oauth " + " ".join(f"{k}={v}" for k, v in fields))
        return _token_credential(scheme.lower(), rest.strip())
    pairs = sorted((k, v) for k, v in query_pairs if k in ("oauth_consumer_key", "oauth_token"))
    return hashed("oauth " + " ".join(f"{k}={v}" for k, v in pairs)) if pairs else "anonymous"


# A client sends the same bearer token with every request: hashed once, not on every flow.
@functools.lru_cache(maxsize=1024)
def _token_credential(scheme: str, token: str) -> str:
    return hashed(f"{scheme} {token}")


def hashed(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:16]


def fingerprint(method: str, path: str, body: bytes | None) -> str:
    """The exact request, so a repeat can be told from a different request to the endpoint.
    OAuth 1 values (nonce, timestamp, signature) in the query or form body are left out."""
    route, _, query = path.partition("?")
    digest = hashlib.blake2b(digest_size=12)
    request = f"{method.upper()} {route}?{OAUTH_PARAMETER.sub('', query)}\n"
    digest.update(request.encode("utf-8", "surrogateescape"))
    if body:
        if body[:6] == b"oauth_" or b"&oauth_" in body:
            body = OAUTH_PARAMETER.sub("", body.decode("latin-1")).encode("latin-1")
        digest.update(body)
    return digest.hexdigest()
