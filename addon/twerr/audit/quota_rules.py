"""The audit's rules for X's quotas and billing, pure: mistakes no ordinary wait mends.

- `wrong-reset`: after a 429 it retried at the reset of a limit that did not bind (the
  15-minute window's, while a 24-hour cap did), before the binding one frees: it wakes to the
  same 429. A retry before any reset stays `early-retry`.
- `quota-retry`: after spent credits (402) or a usage cap it called again and was refused
  again. No wait helps; something must change first (credits added, the cap's period over).
  Credits and a usage cap hold every endpoint of the client, so any of its requests counts.
- `paid-failures`: the emulated wallet billed the same request again and again while the
  client saw it fail each time (its answer lost after the API billed it, or a partial answer
  whose failed items it asked for again).

`QuotaRules` keeps the last two's state, bounded as the Tracker's: at most `max_entries` per
table, entries forgotten when the Tracker's memory passes. The Tracker asks them only about a
flow that was billed or refused by a spent quota (or, while they keep something, a success):
a flow with neither costs a look at two attributes.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from dataclasses import field

from twerr.audit.model import Call
from twerr.audit.model import Finding
from twerr.audit.model import Outcome
from twerr.audit.model import before
from twerr.audit.model import put
from twerr.decode.quota import DAY
from twerr.decode.quota import NAMES
from twerr.decode.quota import clock as quota_clock

AT_RESET = 60.0  # a retry this long after a reset was made at it; later, after it
MAX_ENDPOINTS = 64  # endpoints kept per refused client, to tell a cap's own successes
_NAMES: dict[str, str] = {name: text for name, text in NAMES.items()}  # "the user 24-hour cap"
# the header that says when each limit frees, for the finding's advice
RESET_HEADERS = {
    "window": "x-rate-limit-reset",
    "app_24h": "x-app-limit-24hour-reset",
    "user_24h": "x-user-limit-24hour-reset",
    "unseen": "Retry-After",
}


def wrong_reset(call: Call, limited: Outcome, retry_at: float, grace: float) -> Finding | None:
    """A retry before `retry_at` (when `limited` can first succeed) that came at or after the
    reset of a limit that does not bind; None when it came before every such reset."""
    spent = limited.quota
    if spent is None or spent.until is None or not spent.resets:
        return None  # no limit named binds until a known time (a 420's calm, say)
    passed = [(at, name) for name, at in spent.resets if at - grace <= call.start and at < retry_at]
    if not passed:
        return None
    at, name = max(passed)
    how = "at" if call.start - at <= AT_RESET else "after"
    wait = RESET_HEADERS.get(spent.binding, "the latest reset of the spent limits")
    text = (
        f"retried {how} {_name(name)}'s reset ({clock(at, call.start)}) but "
        f"{_name(spent.binding)} binds until {clock(retry_at, call.start)}: wait for {wait}"
    )
    return Finding("wrong-reset", limited.kind, text, retry_at - call.start)


@dataclass(slots=True)
class _Refused:
    """A client's latest refusal by spent credits or a usage cap, and where it was refused."""

    last: Outcome
    waits: str  # "credits-added" or "next-period"
    endpoint: str  # where the latest one came from
    endpoints: set[str] = field(default_factory=set)  # every endpoint refused so (a few)


@dataclass(slots=True)
class _Paid:
    """A request the client paid for and saw fail, and how often."""

    first: float  # when the first paid failure's answer came
    end: float  # and the latest's
    count: int
    usd: float


class QuotaRules:
    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self.refused: OrderedDict[str, _Refused] = OrderedDict()  # who
        self.paid: OrderedDict[tuple[str, str], _Paid] = OrderedDict()  # (who, request)

    def __len__(self) -> int:
        return len(self.refused) + len(self.paid)

    def judge(self, call: Call, outcome: Outcome) -> Finding | None:
        """The finding about a call that was billed and failed, or refused by a spent quota."""
        if outcome.paid and outcome.is_error and self.paid:
            paid = self.paid.get((call.who, call.fingerprint))
            if paid is not None and paid.end <= call.start:
                return _paid_failures(call, outcome, paid)
        spent = outcome.quota
        if spent is not None and spent.stops and self.refused:
            refused = self.refused.get(call.who)
            # the same refusal again, to a request sent after the last one: nothing changed
            if refused and refused.waits == spent.waits and before(refused.last, call):
                return _quota_retry(call, refused.last, refused.waits, refused.endpoint)
        return None

    def remember(self, call: Call, outcome: Outcome) -> bool:
        """Keep what the rules need of the outcome; True when it made or changed an entry (the
        Tracker then stamps its expiry clock and knows the client)."""
        request = (call.who, call.fingerprint)
        if outcome.settled:
            if not outcome.is_error:
                self.paid.pop(request, None)  # it worked: not a request that always fails
            refused = self.refused.get(call.who)
            # it worked: credits were added, or the cap's period is over (a usage cap may not
            # hold every endpoint, so only a success where it refused forgives it)
            if refused is not None and (
                refused.waits == "credits-added" or call.endpoint in refused.endpoints
            ):
                del self.refused[call.who]
        stamped = False
        if outcome.paid and outcome.is_error:
            paid = self.paid.get(request)
            if paid is None:
                paid = _Paid(outcome.end, outcome.end, 0, 0.0)
            paid.end, paid.count, paid.usd = outcome.end, paid.count + 1, paid.usd + outcome.paid
            put(self.paid, request, paid, self.max_entries)
            stamped = True
        spent = outcome.quota
        if spent is not None and spent.stops and not call.anonymous:
            refused = self.refused.get(call.who)
            if refused is None or refused.waits != spent.waits:
                refused = _Refused(outcome, spent.waits, call.endpoint)
            refused.last, refused.endpoint = outcome, call.endpoint
            if len(refused.endpoints) < MAX_ENDPOINTS:
                refused.endpoints.add(call.endpoint)
            put(self.refused, call.who, refused, self.max_entries)
            stamped = True
        return stamped

    def expire(self, horizon: float) -> None:
        """Forget what was last told before `horizon` (the tables are kept in time order)."""
        while self.refused and next(iter(self.refused.values())).last.end < horizon:
            self.refused.popitem(last=False)
        while self.paid and next(iter(self.paid.values())).end < horizon:
            self.paid.popitem(last=False)


def _quota_retry(call: Call, last: Outcome, waits: str, endpoint: str) -> Finding:
    ago = call.start - last.end
    if call.endpoint == endpoint:
        what = f"called again {ago:.1f} s after {last.label}"
    else:
        what = f"called {call.endpoint} {ago:.1f} s after {last.label} on {endpoint}"
    period = last.quota.period if last.quota is not None else ""
    if waits == "credits-added":
        holds = (
            "no request succeeds until credits are added (or the spending limit is raised): "
            "stop calling until then"
        )
    else:
        cap = f"the {period} usage cap" if period else "the usage cap"
        until = f"the next {period} period" if period else "its period ends"
        holds = (
            f"{cap} holds every request it covers until {until}: stop calling until then, "
            "or move to a larger plan"
        )
    return Finding("quota-retry", last.kind, f"{what} and was refused again: {holds}", ago)


def _paid_failures(call: Call, outcome: Outcome, paid: _Paid) -> Finding:
    count, usd = paid.count + 1, paid.usd + outcome.paid
    if outcome.lost is not None:
        why = "the answer was lost after the API billed it"
        advice = "cap the retries of a billed request"
    elif outcome.settled:
        why = f"{outcome.label} beside the data"
        advice = "take the errors beside the data as final instead of buying the data again"
    else:
        why, advice = outcome.label, "stop repeating it"
    text = (
        f"paid {count} times for the same request, {dollars(usd)} so far, and it failed each "
        f"time ({why}): {advice}"
    )
    return Finding("paid-failures", outcome.kind, text, call.start - paid.first)


def _name(limit: str) -> str:
    return _NAMES.get(limit, limit)


def dollars(usd: float) -> str:
    """$0.015, $0.01, $0.40, $1,234.50: cents, and a tenth of a cent when there is one."""
    text = f"{usd:,.3f}"
    return "$" + (text[:-1] if text.endswith("0") else text)


def clock(epoch: float, now: float) -> str:
    """A time as the quota lines write it: dated when it is another UTC day than `now`."""
    return quota_clock(epoch, int(now // DAY))
