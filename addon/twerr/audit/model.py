"""The audit's vocabulary, pure: a `Call` (who asked what, and when), its `Outcome` (what came
back, and when the client had it) and a `Finding` with its verdict. The rules share it: the
Tracker's own (`behaviour`) and those for X's quotas and billing (`quota_rules`).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Container
from dataclasses import dataclass
from typing import Literal

Lost = Literal["answered", "unknown"]
FindingName = Literal[
    "duplicate-write",
    "paid-failures",
    "dead-credential",
    "write-while-blocked",
    "permanent-retry",
    "missing-ids",
    "quota-retry",
    "retry-storm",
    "early-retry",
    "wrong-reset",
]
VERDICTS: dict[FindingName, str] = {  # most serious first: a flow gets its first finding only
    "duplicate-write": "repeated a write",
    "paid-failures": "paid for failures",
    "dead-credential": "retried a permanent error",
    "write-while-blocked": "retried a permanent error",
    "permanent-retry": "retried a permanent error",
    "missing-ids": "retried a permanent error",
    "quota-retry": "retried a spent quota",
    "retry-storm": "retry storm",
    "early-retry": "retry too early",
    "wrong-reset": "waited for the wrong reset",
}
HANDLED_WELL = "handled well"  # a later request showed the client waiting, or going on
NO_RETRY_SEEN = "no retry seen"  # no later request of the client: no evidence either way
VERDICT_ORDER = (*dict.fromkeys(VERDICTS.values()), HANDLED_WELL, NO_RETRY_SEEN)  # worst first
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Repeating a PUT or DELETE leaves the same state; repeating a POST makes a second Tweet or DM.
UNSAFE_METHODS = frozenset({"POST"})
# What a spent quota waits for when no wait helps: something must change first.
STOPS = frozenset({"credits-added", "next-period"})


# Call and Outcome, made for every judged flow, are slotted dataclasses, not frozen ones (a
# frozen one costs three times as much to make); nothing changes them once made.
@dataclass(slots=True)
class Call:
    start: float  # when the request began
    who: str  # the credential's hash, or the client's address when it sent none
    method: str
    endpoint: str  # "GET /2/tweets/:id": the rate-limit bucket
    fingerprint: str  # the exact request: method, path, query and body, no oauth_* values
    target: str  # path and query, to look for ids in
    anonymous: bool = False  # no credential: `who` is the client's address

    @property
    def writes(self) -> bool:
        return self.method in WRITE_METHODS


@dataclass(slots=True)
class Spent:
    """The quota reading of a refused request (the record's `quota`): the limit that binds,
    what a retry waits for, and the resets of the other limits, which free a client too early.
    Limits are named as decode/quota.py names them: window, app_24h, user_24h, credits, ..."""

    binding: str
    waits: str  # "at", "next-period", "credits-added", "backoff"
    until: float | None = None  # when the binding limit frees, if a header says
    resets: tuple[tuple[str, float], ...] = ()  # (limit, epoch seconds) of the other windows
    period: str = ""  # a usage cap's period, as the API names it: "monthly", "daily"

    @property
    def stops(self) -> bool:
        """No wait frees it: credits must be added, or the cap's period end."""
        return self.waits in STOPS


@dataclass(slots=True)
class Outcome:
    end: float  # when the client had the answer (or the failure)
    kind: str  # "88", "usage-capped", "HTTP 503", "timeout": what verdicts are tallied by
    label: str  # "88 Rate limit exceeded"
    status: int  # 0: no response
    category: str
    retry: str  # the catalog's advice: never, after_reset, backoff (never for a success)
    retry_at: float | None = None  # when a retry can succeed, if a header said
    blocks: str | None = None  # "writes" or "credential": what the client must stop using
    lost: Lost | None = None  # the client never had the API's answer: done, or maybe done
    missing: frozenset[str] = frozenset()  # ids a partial answer reported missing
    quota: Spent | None = None  # a 429, a 402 or a usage cap: which limit refused it
    paid: float = 0.0  # dollars the emulated wallet (twerr_credits) billed for it

    @property
    def settled(self) -> bool:
        """The endpoint answered (a success, or a success with partial errors)."""
        return 200 <= self.status < 400 and self.lost is None

    @property
    def is_error(self) -> bool:
        return self.category != "success" or self.lost is not None


@dataclass(frozen=True, slots=True)
class Finding:
    name: FindingName
    kind: str  # the error kind it reacts to
    text: str
    seconds: float | None = None  # how early, or how quickly, as the text says

    @property
    def verdict(self) -> str:
        return VERDICTS[self.name]


def verdict_of(findings: Container[str], *, handled: bool) -> str:
    """The most serious verdict among the findings (by name). Without any: "handled well" if
    a later request showed the client handling an error well, else "no retry seen"."""
    found = {verdict for name, verdict in VERDICTS.items() if name in findings}
    if not found:
        return HANDLED_WELL if handled else NO_RETRY_SEEN
    return next(v for v in VERDICT_ORDER if v in found)


def before(outcome: Outcome | None, call: Call) -> Outcome | None:
    """The outcome, if the client had it before it made the call (not a concurrent request)."""
    return outcome if outcome is not None and outcome.end <= call.start else None


def put[K, V](table: OrderedDict[K, V], key: K, value: V, limit: int) -> None:
    """Remember the latest last: the least recently touched entries go first."""
    table[key] = value
    table.move_to_end(key)
    while len(table) > limit:
        table.popitem(last=False)
