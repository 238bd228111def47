"""What a client did after an error, judged from the traffic alone: the audit's rules, pure.

Each flow is a `Call` (who asked what, and when) and an `Outcome` (what came back, and when the
client had it). `Tracker.observe` judges the call against what the same client was told before,
then remembers the outcome. Times are the flows' own timestamps, so a recorded session is judged
exactly as it was live. State is bounded: entries expire `memory` seconds after the error they
remember, and at most `max_entries` of each kind are kept. The vocabulary is in `model`; the
rules for X's quotas and billing (`wrong-reset`, `quota-retry`, `paid-failures`) are in
`quota_rules`, which the Tracker asks in their turn.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections import OrderedDict
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import NamedTuple

from twerr.audit.model import UNSAFE_METHODS
from twerr.audit.model import Call
from twerr.audit.model import Finding
from twerr.audit.model import FindingName
from twerr.audit.model import Outcome
from twerr.audit.model import before as _before
from twerr.audit.model import put as _put
from twerr.audit.model import verdict_of
from twerr.audit.quota_rules import QuotaRules
from twerr.audit.quota_rules import wrong_reset

MAX_ENTRIES = 10_000  # per table; the least recently touched entries go first
MAX_KINDS = 1_000  # error kinds tallied; rarer ones beyond that count as "other"
GROWTH = 1.5  # a backoff: each wait at least this much longer than the one before
EXPIRY_PASS_SECONDS = 1.0  # errors are forgotten within this long after twerr_audit_memory
MAX_UNFOLLOWED = 64  # errors kept per client that no later request of its own has followed
_FORGIVEN_BY_SUCCESS = ("dead-credential", "write-while-blocked")


@dataclass(frozen=True, slots=True)
class Thresholds:
    grace: float = 1.0  # a retry this close before the reset is in time (clocks, rounding)
    storm_retries: int = 3  # this many retries ...
    storm_seconds: float = 10.0  # ... within this many seconds, waits not growing: a storm
    calm: float = 60.0  # after a 420, wait at least this long (Twitter: start at 60 s, double)
    memory: float = 900.0  # an error is forgotten this long after it was answered


@dataclass(slots=True)
class _Spell:
    """A transient error of one request, and the retries of it since (for storms)."""

    last: Outcome  # the latest failure the client saw
    starts: list[float] = field(default_factory=list)  # the latest retries' starts
    waits: list[float] = field(default_factory=list)  # and how long each waited after a failure


@dataclass(slots=True)
class KindTally:
    label: str
    errors: int = 0
    findings: Counter[FindingName] = field(default_factory=Counter)
    handled: int = 0  # errors of this kind that a later request showed were handled well

    @property
    def verdict(self) -> str:
        return verdict_of(self.findings, handled=self.handled > 0)


Followed = tuple[str, str]  # an earlier error's kind, and the endpoint that gave it


class Judged(NamedTuple):
    """What a call tells about its client: a finding, if it did what an error said not to,
    and the earlier errors it showed the client handled well (it waited, or went on)."""

    finding: Finding | None
    handled: tuple[Followed, ...] = ()


class Tracker:
    def __init__(
        self, thresholds: Thresholds | None = None, max_entries: int = MAX_ENTRIES
    ) -> None:
        self.thresholds = thresholds or Thresholds()
        self.max_entries = max_entries
        self.limited: OrderedDict[tuple[str, str], Outcome] = OrderedDict()  # (who, endpoint)
        self.spells: OrderedDict[tuple[str, str], _Spell] = OrderedDict()  # (who, request)
        self.refused: OrderedDict[tuple[str, str], Outcome] = OrderedDict()  # (who, request)
        self.blocked: OrderedDict[str, Outcome] = OrderedDict()  # who
        self.missing: OrderedDict[tuple[str, str], Outcome] = OrderedDict()  # (who, id)
        self.quota_rules = QuotaRules(max_entries)  # spent credits and caps, paid failures
        self.told: OrderedDict[str, float] = OrderedDict()  # who -> when it last got an error
        # who -> its errors that no later request of its own has followed yet, by (kind,
        # endpoint), with when it had each answer
        self.unfollowed: OrderedDict[str, dict[Followed, float]] = OrderedDict()
        # no remembered entry is older than this (a lower bound): _expire skips while it holds
        self.oldest = math.inf
        self.last_pass = -math.inf  # and it looks at most once a second of the flows' time
        self.kinds: dict[str, KindTally] = {}

    def knows(self, who: str) -> bool:
        """Whether this client got an error lately: only then can its success be judged."""
        return who in self.told

    @property
    def idle(self) -> bool:
        """Nothing remembered: a success cannot be judged, nor change anything."""
        tables = (self.limited, self.spells, self.refused, self.blocked, self.missing)
        quota = self.quota_rules
        return not (any(tables) or self.unfollowed or quota.refused or quota.paid)

    def __len__(self) -> int:
        tables = (self.limited, self.spells, self.refused, self.blocked, self.missing)
        return sum(len(table) for table in (*tables, self.unfollowed, self.quota_rules))

    def observe(self, call: Call, outcome: Outcome) -> Judged:
        if not math.isfinite(call.start) or not math.isfinite(outcome.end):
            return Judged(None)  # a flow with a broken clock cannot be placed among others
        self._expire(call.start)
        finding = self._judge(call, outcome)
        if finding and finding.name in _FORGIVEN_BY_SUCCESS and outcome.settled:
            finding = None  # it worked: the token was good after all, the writes allowed again
        handled = self._followed(call, finding) if self.unfollowed else ()
        self._remember(call, outcome)
        self._tally(outcome, finding)
        return Judged(finding, handled)

    def _followed(self, call: Call, finding: Finding | None) -> tuple[Followed, ...]:
        """The client's earlier errors that this call is the first to follow: without a
        finding about one, the client waited as it should, or went on to other work."""
        waiting = self.unfollowed.get(call.who)
        if not waiting:
            return ()
        memory = self.thresholds.memory  # an error older than that is forgotten, not followed
        followed = [key for key, at in waiting.items() if 0 <= call.start - at <= memory]
        for key in followed:
            del waiting[key]
        if not waiting:
            del self.unfollowed[call.who]
        handled = tuple(key for key in followed if finding is None or finding.kind != key[0])
        for kind, _ in handled:
            self._kind(kind, kind).handled += 1
        return handled

    def verdicts(self) -> list[dict[str, Any]]:
        """Per error kind, most errors first: counts, findings and the verdict."""
        ranked = sorted(self.kinds.items(), key=lambda item: (-item[1].errors, item[0]))
        return [
            {
                "error": kind,
                "label": tally.label,
                "errors": tally.errors,
                "findings": dict(tally.findings.most_common()),
                "handled": tally.handled,
                "verdict": tally.verdict,
            }
            for kind, tally in ranked
        ]

    def _judge(self, call: Call, outcome: Outcome) -> Finding | None:
        blocked = _before(self.blocked.get(call.who), call)
        if blocked and (blocked.blocks == "credential" or call.writes):
            if blocked.blocks == "credential":
                text = f"used the credential again after {blocked.label}; it needs a new token"
                return Finding("dead-credential", blocked.kind, text)
            text = f"sent a write after {blocked.label}; writes fail until that is fixed"
            return Finding("write-while-blocked", blocked.kind, text)
        refused = _before(self.refused.get((call.who, call.fingerprint)), call)
        if refused and refused.lost and call.method in UNSAFE_METHODS:
            how = "the API had done it" if refused.lost == "answered" else "it may have been done"
            text = (
                f"repeated a {call.method} whose answer was lost ({refused.label}; {how}): "
                "against the real API this makes a duplicate"
            )
            return Finding("duplicate-write", refused.kind, text, call.start - refused.end)
        spent = outcome.quota
        if outcome.paid or (spent is not None and spent.stops):  # billed, or no wait helps
            found = self.quota_rules.judge(call, outcome)  # paid-failures, quota-retry
            if found is not None:
                return found
        if refused and refused.retry == "never":
            ago = call.start - refused.end
            text = f"repeated a request that got {refused.label} {ago:.1f} s before: it fails again"
            return Finding("permanent-retry", refused.kind, text, ago)
        if self.missing:
            asked = {
                ident: told
                for ident in _ids_in(call.target)
                if (told := _before(self.missing.get((call.who, ident)), call))
                and call.start - told.end <= self.thresholds.storm_seconds
            }
            if asked:
                first = min(asked.values(), key=lambda told: told.end)
                ids = ", ".join(sorted(asked))
                text = f"asked again at once for {ids}, reported missing ({first.label})"
                return Finding("missing-ids", first.kind, text, call.start - first.end)
        limited = _before(self.limited.get((call.who, call.endpoint)), call)
        retry_at = self._retry_at(limited) if limited is not None else None
        if limited is not None and retry_at is not None:
            early = retry_at - call.start
            if early > self.thresholds.grace:
                if limited.quota is not None and limited.quota.resets:  # another's reset?
                    wrong = wrong_reset(call, limited, retry_at, self.thresholds.grace)
                    if wrong is not None:
                        return wrong
                text = f"retried {early:.1f} s before the rate limit resets, after {limited.label}"
                return Finding("early-retry", limited.kind, text, early)
        spell = self.spells.get((call.who, call.fingerprint))
        if spell is not None and spell.last.end <= call.start:
            return self._storm(call, spell)
        return None

    def _retry_at(self, outcome: Outcome) -> float | None:
        """When a retry can succeed: the reset the response named (the binding limit's, when
        the quota reading names a later one), or after a 420 the calm."""
        retry_at, quota = outcome.retry_at, outcome.quota
        if quota is not None and quota.until is not None:
            until = quota.until
            return until if retry_at is None or until > retry_at else retry_at
        if retry_at is None and outcome.status == 420:
            return outcome.end + self.thresholds.calm
        return retry_at

    def _storm(self, call: Call, spell: _Spell) -> Finding | None:
        """After a transient error (or a rate limit that names no reset) retries must back
        off: waits, each from the failure before, that grow across the window."""
        needed = self.thresholds.storm_retries
        spell.starts = [*spell.starts, call.start][-needed:]
        spell.waits = [*spell.waits, call.start - spell.last.end][-needed:]
        if len(spell.starts) < needed:
            return None
        span = call.start - spell.starts[0]
        if span > self.thresholds.storm_seconds:
            return None
        # the last wait against the first of the window, not step by step: jitter may shorten
        # one wait, a backoff still lengthens them overall
        if spell.waits[-1] >= GROWTH * spell.waits[0]:
            return None
        shown = ", ".join(f"{wait:.2f}" for wait in spell.waits)
        text = (
            f"{needed} retries in {span:.1f} s after {spell.last.label}, waits not growing "
            f"({shown} s): back off exponentially"
        )
        return Finding("retry-storm", spell.last.kind, text, span)

    def _remember(self, call: Call, outcome: Outcome) -> None:
        endpoint_key, request_key = (call.who, call.endpoint), (call.who, call.fingerprint)
        rules, quota = self.quota_rules, outcome.quota
        stops = quota is not None and quota.stops  # no wait helps: credits, a usage cap
        # billed, no wait helps, or a success that may clear what the quota rules keep
        if (
            outcome.paid or stops or (outcome.settled and (rules.refused or rules.paid))
        ) and rules.remember(call, outcome):
            self.oldest = min(self.oldest, outcome.end)  # a paid failure, a spent quota
            _put(self.told, call.who, outcome.end, self.max_entries)
        if outcome.settled:
            self.limited.pop(endpoint_key, None)
            self.spells.pop(request_key, None)
            self.refused.pop(request_key, None)
            blocked = self.blocked.get(call.who)
            if blocked and (blocked.blocks == "credential" or call.writes):
                del self.blocked[call.who]  # it works again (a clock fixed, a permission given)
            for ident in outcome.missing:
                _put(self.missing, (call.who, ident), outcome, self.max_entries)
            if outcome.missing:
                _put(self.told, call.who, outcome.end, self.max_entries)
                self.oldest = min(self.oldest, outcome.end)
            return
        if not outcome.is_error:
            return
        self.oldest = min(self.oldest, outcome.end)  # every entry made below is stamped so
        _put(self.told, call.who, outcome.end, self.max_entries)
        waiting = self.unfollowed.get(call.who) or {}
        waiting.pop((outcome.kind, call.endpoint), None)  # the latest goes last
        waiting[(outcome.kind, call.endpoint)] = outcome.end
        if len(waiting) > MAX_UNFOLLOWED:
            del waiting[next(iter(waiting))]
        _put(self.unfollowed, call.who, waiting, self.max_entries)
        if stops:
            return  # no wait helps, no retry either: the quota rules judge what follows
        if outcome.retry == "after_reset" and self._retry_at(outcome) is not None:
            _put(self.limited, endpoint_key, outcome, self.max_entries)
        elif outcome.retry != "never" or outcome.lost:
            spell = self.spells.get(request_key)
            if spell is None:
                spell = _Spell(outcome)
            spell.last = outcome
            _put(self.spells, request_key, spell, self.max_entries)
        if outcome.retry == "never" or (outcome.lost and call.method in UNSAFE_METHODS):
            _put(self.refused, request_key, outcome, self.max_entries)
        if outcome.blocks and not call.anonymous:
            _put(self.blocked, call.who, outcome, self.max_entries)

    def _tally(self, outcome: Outcome, finding: Finding | None) -> None:
        if outcome.is_error:
            self._kind(outcome.kind, outcome.label).errors += 1
        if finding is not None:
            self._kind(finding.kind, finding.kind).findings[finding.name] += 1

    def _kind(self, kind: str, label: str) -> KindTally:
        if kind not in self.kinds and len(self.kinds) >= MAX_KINDS:
            kind, label = "other", "other errors"
        tally = self.kinds.get(kind)
        if tally is None:
            tally = self.kinds[kind] = KindTally(label)
        return tally

    def _expire(self, now: float) -> None:
        horizon = now - self.thresholds.memory
        if self.oldest >= horizon or 0 <= now - self.last_pass < EXPIRY_PASS_SECONDS:
            return  # nothing is old enough to go, or a pass was made a moment before
        self.last_pass = now
        while self.spells and next(iter(self.spells.values())).last.end < horizon:
            self.spells.popitem(last=False)
        for table in (self.limited, self.refused, self.blocked, self.missing):
            while table and next(iter(table.values())).end < horizon:
                table.popitem(last=False)
        while self.told and next(iter(self.told.values())) < horizon:
            self.told.popitem(last=False)
        while self.unfollowed and max(next(iter(self.unfollowed.values())).values()) < horizon:
            self.unfollowed.popitem(last=False)
        self.quota_rules.expire(horizon)
        self.oldest = horizon  # what is left came after it (tables are kept in time order)


_ID_WORD = re.compile(r"[A-Za-z0-9_]+")


def _ids_in(target: str) -> set[str]:
    return set(_ID_WORD.findall(target))
