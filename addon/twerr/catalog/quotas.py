"""X's documented rate limits and pay-per-use prices per endpoint (`limits.toml`,
`prices.toml`): pydantic models that validate them, loaded once, and a lookup by method and
request path.

Pure: no mitmproxy import. Routes are compiled when a table is validated; a lookup splits the
path and compares segments with the routes of its method and length, most specific first (a
literal segment beats a :param, the leftmost segment deciding), and is memoised.
"""

from __future__ import annotations

import datetime
import functools
import re
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated
from typing import Literal
from typing import Protocol
from urllib.parse import urlsplit

from pydantic import AfterValidator
from pydantic import Field
from pydantic import model_validator

from twerr.catalog.models import _Model

LIMITS_PATH = Path(__file__).with_name("limits.toml")
PRICES_PATH = Path(__file__).with_name("prices.toml")
MAX_LOOKUPS = 4096  # memoised (method, path) answers per table, least recently used dropped

_ROUTE = re.compile(r"/2(/(:[a-z_]+|[a-z0-9_]+))+")


def _route(route: str) -> str:
    if not _ROUTE.fullmatch(route):
        raise ValueError("a route starts with /2/ and is made of /segment and /:param parts")
    return route


Method = Literal["GET", "POST", "PUT", "DELETE", "PATCH"]
Route = Annotated[str, AfterValidator(_route)]
Count = Annotated[int, Field(gt=0)]
Usd = Annotated[float, Field(gt=0, allow_inf_nan=False)]
Text = Annotated[str, Field(min_length=1)]


class Limits(_Model):
    """How many requests one credential may make: in 15 minutes, in 24 hours, in a second.
    All that are given apply."""

    per_15min: Count | None = None
    per_24h: Count | None = None
    per_second: Count | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> Limits:
        if self.per_15min is None and self.per_24h is None and self.per_second is None:
            raise ValueError("a limit needs per_15min, per_24h or per_second")
        return self


class EndpointLimits(_Model):
    """One row of X's rate-limit table. app: with an app-only bearer token; user: with a user
    token. None where the endpoint does not take that kind of token."""

    method: Method
    route: Route
    app: Limits | None = None
    user: Limits | None = None
    notes: str | None = None

    @model_validator(mode="after")
    def _callable(self) -> EndpointLimits:
        if self.app is None and self.user is None:
            raise ValueError(f"{self.method} {self.route} has neither an app nor a user limit")
        return self


class PriceVariant(_Model):
    """A different price for a request that qualifies (see prices.toml)."""

    when: Literal["owned_read", "with_url", "summoned_reply"]
    usd: Usd
    resource: Text


class Price(_Model):
    """What X charges for an endpoint: usd per resource returned (deduplicated per UTC day by
    resource id) or per request. resource: the pricing page's row; basis: how the endpoint was
    tied to it."""

    method: Method
    route: Route
    usd: Usd
    per: Literal["resource", "request"]
    resource: Text
    basis: Text
    variants: tuple[PriceVariant, ...] = ()  # in the order to test them

    @model_validator(mode="after")
    def _distinct_variants(self) -> Price:
        whens = [variant.when for variant in self.variants]
        if len(set(whens)) != len(whens):
            raise ValueError(f"{self.method} {self.route}: variants repeat a 'when': {whens}")
        return self


class _Routed(Protocol):
    @property
    def method(self) -> str: ...

    @property
    def route(self) -> str: ...


class _Router[T: _Routed]:
    """Routes compiled to segment tuples (None for a :param), grouped by method and length."""

    def __init__(self, entries: Iterable[T]) -> None:
        self._by_shape: dict[tuple[str, int], list[tuple[tuple[str | None, ...], T]]] = {}
        seen: dict[tuple[str, tuple[str | None, ...]], T] = {}
        for entry in entries:
            parts = tuple(None if s.startswith(":") else s for s in entry.route.split("/")[1:])
            other = seen.setdefault((entry.method, parts), entry)
            if other is not entry:
                raise ValueError(f"{entry.method} {entry.route} repeats {other.route}")
            self._by_shape.setdefault((entry.method, len(parts)), []).append((parts, entry))
        for candidates in self._by_shape.values():
            candidates.sort(key=lambda candidate: [part is None for part in candidate[0]])
        self.match = functools.lru_cache(maxsize=MAX_LOOKUPS)(self._match)

    def _match(self, method: str, path: str) -> T | None:
        segments = path.split("/")[1:]
        for parts, entry in self._by_shape.get((method, len(segments)), ()):
            if all(s if p is None else p == s for p, s in zip(parts, segments, strict=True)):
                return entry
        return None

    def find(self, method: str, path: str) -> T | None:
        if not path.startswith("/"):  # a whole URL: the host does not matter
            path = urlsplit(path).path
        path = path.split("?", 1)[0].rstrip("/")
        return self.match(method.upper(), path)


class LimitTable(_Model):
    source: Text
    as_of: datetime.date
    endpoints: tuple[EndpointLimits, ...]

    @functools.cached_property
    def _router(self) -> _Router[EndpointLimits]:
        return _Router(self.endpoints)

    @model_validator(mode="after")
    def _compile(self) -> LimitTable:
        if not self.endpoints:
            raise ValueError("the table lists no endpoints")
        _ = self._router  # compiled now: a repeated route fails validation, no request compiles
        return self

    def find(self, method: str, path: str) -> EndpointLimits | None:
        """The row for a request: path as sent (query ignored, any host), ids in place."""
        return self._router.find(method, path)


class PriceTable(_Model):
    source: Text
    as_of: datetime.date
    prices: tuple[Price, ...]

    @functools.cached_property
    def _router(self) -> _Router[Price]:
        return _Router(self.prices)

    @model_validator(mode="after")
    def _compile(self) -> PriceTable:
        if not self.prices:
            raise ValueError("the table lists no prices")
        _ = self._router
        return self

    def find(self, method: str, path: str) -> Price | None:
        """The price of a request, matched as LimitTable.find matches; None if X prices none."""
        return self._router.find(method, path)


def parse_limits(text: str) -> LimitTable:
    """Validate limits TOML text; raises ValueError (pydantic's ValidationError included)."""
    return LimitTable.model_validate(tomllib.loads(text))


def parse_prices(text: str) -> PriceTable:
    """Validate prices TOML text; raises ValueError (pydantic's ValidationError included)."""
    return PriceTable.model_validate(tomllib.loads(text))


@functools.cache
def load_limits(path: Path = LIMITS_PATH) -> LimitTable:
    return parse_limits(path.read_text(encoding="utf-8"))


@functools.cache
def load_prices(path: Path = PRICES_PATH) -> PriceTable:
    return parse_prices(path.read_text(encoding="utf-8"))
