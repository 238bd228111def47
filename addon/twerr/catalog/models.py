"""The catalog's pydantic models over `catalog.toml`, loaded once.

Every entry carries advice (category, when a retry can help, what to do) and its provenance:
`source = "seed"` for the Twitter "Response Codes" page, otherwise where it comes from.
"""

from __future__ import annotations

import functools
import re
import tomllib
from pathlib import Path
from typing import Annotated
from typing import Any
from typing import Literal
from typing import get_args

from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field
from pydantic import model_validator

CATALOG_PATH = Path(__file__).with_name("catalog.toml")

Category = Literal[
    "success",
    "rate_limit",
    "billing",
    "authentication",
    "account_state",
    "permission",
    "server",
    "network",
    "not_found",
    "duplicate",
    "invalid_request",
    "media",
    "direct_message",
    "retired",
]
Retry = Literal["never", "after_reset", "backoff"]
# When an after_reset error ends: with the rate-limit window (x-rate-limit-*, or Retry-After),
# with a 24-hour cap (x-app-/x-user-limit-24hour-*), or at a time no header gives.
Resets = Literal["window", "day", "unknown"]
HttpStatus = Annotated[int, Field(ge=100, le=599)]
Text = Annotated[str, Field(min_length=1)]

# The seed writes statuses into descriptions ("Corresponds with HTTP 403. ..."); the meaning
# shown to people drops that prefix because the status is shown beside it anyway.
_STATUS_PREFIX = re.compile(r"^Correspon\w* with HTTP \d{3}(?: Conflict)?\.?\s+")
_PROBLEM_SLUG = re.compile(r"(?:/2/problems/|error-troubleshooting#)([A-Za-z0-9-]+)/?$")


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Advice(_Model):
    category: Category
    retry: Retry
    action: str
    resets: Resets = "window"


class CategoryInfo(_Model):
    label: Text
    marker: str | None = None  # an emoji short code for flow.marked; None leaves it unmarked
    rank: int  # the highest-ranked error of a response is its headline


class StatusEntry(Advice):
    status: HttpStatus
    text: Text
    description: Text
    source: Text = "seed"
    v1_code: int | None = None  # the code API v1.1 sends with this status when none is chosen
    text_body: str | None = None  # the plain text the API sends with this status, if it does


class StatusClass(Advice):
    """Fallback advice for a status the catalog does not list, by its first digit."""

    first_digit: Annotated[int, Field(ge=1, le=5)]
    text: Text
    description: Text


class CodeEntry(Advice):
    code: Annotated[int, Field(ge=0)]
    message: Text
    description: Text
    http_status: HttpStatus
    source: Text = "seed"
    # Set when the seed names no status for the code: where the recorded status comes from.
    status_source: str | None = None
    # The text real responses carry, where it differs from the documented message.
    wire_message: str | None = None
    wire_source: str | None = None
    fills: dict[str, str] = {}  # placeholder -> text, for forging the message
    extra: dict[str, str] = {}  # members real responses add beside code and message
    # The OAuth 1.0a token endpoints send this code as <errors><error code=..> XML, not JSON.
    oauth_xml: bool = False
    # What a client must stop doing after this error (the audit flags it if it goes on):
    # "writes" with this credential, or any use of the credential until it is replaced.
    blocks: Literal["writes", "credential"] | None = None

    @property
    def forged_message(self) -> str:
        """The message as the API sends it, placeholders filled."""
        message = self.wire_message or self.message
        for placeholder, text in self.fills.items():
            message = message.replace(placeholder, text)
        return message

    @property
    def meaning(self) -> str:
        return _STATUS_PREFIX.sub("", self.description)

    @property
    def status_from_seed(self) -> bool:
        return self.source == "seed" and self.status_source is None


class ProblemVariant(Advice):
    """What a problem type means when it comes with a particular HTTP status."""

    http_status: HttpStatus
    meaning: Text


class ProblemEntry(Advice):
    """An API v2 problem type, `https://api.x.com/2/problems/<slug>` (api.twitter.com before
    mid-2026)."""

    slug: Annotated[str, Field(pattern=r"^(about:blank|[a-z0-9-]+)$")]
    title: str | None = None  # as seen on the wire; None when no capture shows one
    # None: it arrives inside a 2xx response or an open stream, or no capture shows a status
    http_status: HttpStatus | None = None
    meaning: Text
    fields: tuple[str, ...] = ()
    # The detail text seen on the wire ({name} filled in from the request, or from example,
    # when forged), and example values of the extra fields, for forging (a number where the
    # wire carries a JSON number).
    detail: str | None = None
    example: dict[str, str | int] = {}
    # the header set it comes with: the tsa-era API's, or the Cloudflare-fronted api.x.com's
    # of 2026 (the billing errors)
    headers: Literal["tsa", "cloudflare"] = "tsa"
    status_in_body: bool = True  # captures of some types carry no "status" member
    detail_in_body: bool = True  # nor a "detail" (duplicate-rules)
    # Reported for an id of a lookup beside the items found: forged from the API's own
    # answer, the item moved from data to errors (inject/partial.py).
    partial: bool = False
    variants: tuple[ProblemVariant, ...] = ()
    source: Text

    def for_status(self, status: int) -> ProblemEntry | ProblemVariant:
        return next((v for v in self.variants if v.http_status == status), self)


class DetailHint(_Model):
    """A generic (about:blank) v2 problem whose detail text names a known v1.1 error."""

    contains: Text  # lower-case text of the detail
    code: int
    detail: Text  # the whole detail as seen, which v2 sends for this code
    source: Text


class MediaErrorEntry(Advice):
    """A `processing_info.error.name` of an asynchronous media upload that failed."""

    name: Text
    meaning: Text
    source: Text


class OddShape(_Model):
    """A response the real API sent (or clients mishandle) that breaks real clients."""

    name: Annotated[str, Field(pattern=r"^[a-z0-9-]+$")]
    like: int  # the catalog code this response stands for: its status, and its body by default
    body: str | None = None
    content_type: str = "api"
    rate_limit: Literal["window", "no-reset", "day-cap", "none"] = "window"
    breaks: Text
    source: Text


class Catalog(_Model):
    categories: dict[Category, CategoryInfo]
    statuses: tuple[StatusEntry, ...]
    status_classes: tuple[StatusClass, ...]
    codes: tuple[CodeEntry, ...]
    problems: tuple[ProblemEntry, ...]
    detail_hints: tuple[DetailHint, ...]
    media_errors: tuple[MediaErrorEntry, ...]
    shapes: tuple[OddShape, ...]

    # The indexes are plain cached properties, not pydantic private attributes: those are
    # read through pydantic's __getattr__, a microsecond or more on every lookup of every flow.
    @functools.cached_property
    def _statuses(self) -> dict[int, StatusEntry]:
        return _index(self.statuses, "status")

    @functools.cached_property
    def _classes(self) -> dict[int, StatusClass]:
        return _index(self.status_classes, "first_digit")

    @functools.cached_property
    def _codes(self) -> dict[int, CodeEntry]:
        return _index(self.codes, "code")

    @functools.cached_property
    def _problems(self) -> dict[str, ProblemEntry]:
        return _index(self.problems, "slug")

    @functools.cached_property
    def _media(self) -> dict[str, MediaErrorEntry]:
        return _index(self.media_errors, "name")

    @functools.cached_property
    def _shapes(self) -> dict[str, OddShape]:
        return _index(self.shapes, "name")

    @model_validator(mode="after")
    def _check_and_index(self) -> Catalog:
        missing = set(get_args(Category)) - set(self.categories)
        if missing:
            raise ValueError(f"categories without a definition: {sorted(missing)}")
        for index in ("_statuses", "_classes", "_codes", "_problems", "_media", "_shapes"):
            getattr(self, index)  # built now, so that a duplicate key fails validation
        if set(self._classes) != {1, 2, 3, 4, 5}:
            raise ValueError("status_classes must cover first digits 1 to 5")
        unknown = [hint.code for hint in self.detail_hints if hint.code not in self._codes]
        unknown += [shape.like for shape in self.shapes if shape.like not in self._codes]
        unknown += [s.v1_code for s in self.statuses if s.v1_code and s.v1_code not in self._codes]
        clash = set(self._shapes) & set(self._problems)
        if clash:
            raise ValueError(f"odd shapes named like problem types: {sorted(clash)}")
        if unknown:
            raise ValueError(f"codes not in the catalog: {unknown}")
        return self

    def code(self, code: int) -> CodeEntry | None:
        return self._codes.get(code)

    def status(self, status: int) -> StatusEntry | StatusClass:
        """The entry for an HTTP status, or the fallback for its class."""
        entry = self._statuses.get(status)
        if entry is not None:
            return entry
        return self._classes[min(max(status // 100, 1), 5)]

    def problem(self, type_uri: str) -> ProblemEntry | None:
        """The entry for a v2 problem `type`, in any of the spellings clients meet."""
        if type_uri == "about:blank":
            return self._problems.get(type_uri)
        match = _PROBLEM_SLUG.search(type_uri)
        return self._problems.get(match.group(1)) if match else None

    def detail_hint(self, detail: str) -> CodeEntry | None:
        """The v1.1 code a generic v2 problem's detail describes, if a hint knows it."""
        lowered = detail.lower()
        for hint in self.detail_hints:
            if hint.contains in lowered:
                return self._codes[hint.code]
        return None

    def media_error(self, name: str) -> MediaErrorEntry | None:
        return self._media.get(name)

    def shape(self, name: str) -> OddShape | None:
        return self._shapes.get(name)

    def problem_by_slug(self, slug: str) -> ProblemEntry | None:
        return self._problems.get(slug)

    def hint_for_code(self, code: int) -> DetailHint | None:
        return next((hint for hint in self.detail_hints if hint.code == code), None)

    def rank(self, category: Category) -> int:
        return self.categories[category].rank


def _index[T: BaseModel](entries: tuple[T, ...], key: str) -> dict[Any, T]:
    index: dict[Any, T] = {}
    for entry in entries:
        value = getattr(entry, key)
        if value in index:
            raise ValueError(f"duplicate {key} {value!r}")
        index[value] = entry
    return index


def parse_catalog(text: str) -> Catalog:
    """Validate catalog TOML text; raises ValueError (pydantic's ValidationError included)."""
    return Catalog.model_validate(tomllib.loads(text))


@functools.cache
def load_catalog(path: Path = CATALOG_PATH) -> Catalog:
    return parse_catalog(path.read_text(encoding="utf-8"))
