"""The faults under way, by flow: what the later hooks must still do for each, and the rule
whose count each holds until it is carried out or taken back; and the emulated rate-limit
windows (`ratelimit=N/S`, or X's documented limits with `ratelimit=x`), which decide at the
request whether it passes or gets the rule's 429."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from dataclasses import field

from mitmproxy import http

from twerr import mitm
from twerr import record
from twerr.catalog.quotas import load_limits
from twerr.decode import Window
from twerr.decode.ratelimit import WINDOW_HEADERS
from twerr.decode.ratelimit import rate_limit_headers
from twerr.inject import clock
from twerr.inject import network
from twerr.inject import xlimits
from twerr.inject.answer import answer
from twerr.inject.network import Detour
from twerr.inject.relay import Relay
from twerr.inject.rules import ActiveRule
from twerr.inject.rules import Rule
from twerr.inject.ruleset import RuleSet
from twerr.inject.windows import Windows
from twerr.inject.windows import credential
from twerr.inject.windows import endpoint_key
from twerr.record import InjectedRecord

logger = logging.getLogger("twerr.inject")
ALL_LIMIT_HEADERS = tuple(name for names in WINDOW_HEADERS for name in names)
MAX_UNDOCUMENTED = 1_000  # endpoints ratelimit=x warned about once each, at most


@dataclass
class Pending:
    """What the later hooks must do for a flow whose fault acts on the API's response."""

    active: ActiveRule
    record: InjectedRecord
    window: Window | None = None  # a request let through an emulated rate-limit window
    headers: list[tuple[str, str]] = field(default_factory=list)  # ... and what it is told
    detour: Detour | None = None  # a request sent through the slow relay


class InFlight:
    """The faults under way, by flow: what the later hooks must still do, and the rule whose
    count each fault holds until it is carried out, or taken back (twerr_max_faults counts
    them)."""

    def __init__(self, rules: RuleSet, relay: Relay, windows: Windows) -> None:
        self.rules = rules
        self.relay = relay
        self.windows = windows
        self.pending: dict[str, Pending] = {}
        self.active: dict[str, ActiveRule | None] = {}  # None: the count is settled
        self.undocumented: set[str] = set()  # endpoints ratelimit=x has warned about

    async def carry_out(
        self, flow: http.HTTPFlow, active: ActiveRule, injected: InjectedRecord, seed: int
    ) -> None:
        if still_ours(flow) and await active.rule.entry.act(flow, active, seed):
            self.settle(flow, injected)
        else:
            self.undo(flow, active, "nothing to do it to")

    async def stamp_window(self, flow: http.HTTPFlow, pending: Pending) -> None:
        """A request let through an emulated window: its response tells what is left."""
        assert flow.response is not None and pending.window is not None
        await delay(pending.active.rule, flow)
        for name, value in pending.headers:
            flow.response.headers[name] = value
        self.settle(flow, pending.record)

    async def window(
        self, flow: http.HTTPFlow, active: ActiveRule, injected: InjectedRecord, seed: int
    ) -> None:
        """An emulated rate-limit window (or X's documented limits, with ratelimit=x): a
        request within it passes (its response gets the window's headers), one over it gets
        the rule's 429."""
        rule = active.rule
        request = flow.request
        now = clock.now()
        if rule.ratelimit == "x":
            taken = self.x_limits(flow, rule, now)
            if taken is None:
                self.undo(flow, active, "X documents no limit for it")
                return
            allowed, headers = taken.allowed, taken.headers()
            counted = list(taken.limits.values())
            window = taken.limits.get("window") or counted[0]  # for the record
            refused_by: Window | None = taken.limits.get("window")
            injected["limits"] = {
                name: {"limit": w.limit or 0, "remaining": w.remaining or 0, "reset": w.reset or 0}
                for name, w in taken.limits.items()
            }
        else:
            assert rule.ratelimit is not None
            key = (
                rule.describe(),
                endpoint_key(request.method, request.path),
                credential(request.headers.get("authorization"), mitm.request_query(request)),
            )
            size = rule.ratelimit
            window = self.windows.take(key, size.limit, clock.real_seconds(size.seconds), now)
            allowed = window.remaining is not None and window.remaining >= 0
            window.remaining = max(window.remaining or 0, 0)
            headers = rate_limit_headers(window)
            refused_by = window
        injected["window"] = {
            "limit": window.limit or 0,
            "remaining": window.remaining or 0,
            "reset": window.reset or 0,
        }
        if allowed:
            self.undo(flow, active, "within the window")
            injected.update({"fault": "pass", "phase": "response", "injection": None})
            self.pending[flow.id] = Pending(active, injected, window=window, headers=headers)
            return
        await delay(rule, flow)
        if still_ours(flow):
            spent = refused_by and Window(refused_by.limit, 0, refused_by.reset)
            answer(flow, active, seed, spent)
            assert flow.response is not None
            if rule.ratelimit == "x":  # only the headers X sends for the limits it counted
                for name in ALL_LIMIT_HEADERS:
                    flow.response.headers.pop(name, None)
            for name, value in headers:  # every limit as it stands, the spent one at 0
                flow.response.headers[name] = value
            self.settle(flow, injected)
        else:
            self.undo(flow, active, "nothing to do it to")

    def x_limits(self, flow: http.HTTPFlow, rule: Rule, now: float) -> xlimits.Taken | None:
        """Count the request against what X documents for its endpoint and kind of token."""
        request = flow.request
        documented = load_limits().find(request.method, request.path)
        who = xlimits.caller(request.headers.get("authorization"), mitm.request_query(request))
        taken = None
        if documented is not None:
            taken = xlimits.take(self.windows, rule.describe(), documented, who, now, clock.scale())
        if taken is None:
            route = endpoint_key(request.method, request.path)
            if route not in self.undocumented and len(self.undocumented) < MAX_UNDOCUMENTED:
                self.undocumented.add(route)
                token = "a user token" if who.user_context else "an app-only token"
                why = "no limit" if documented is None else f"no limit for {token}"
                logger.warning(f"twerr: ratelimit=x: X documents {why} on {route}; passed as is")
        return taken

    def settle(self, flow: http.HTTPFlow, injected: InjectedRecord) -> None:
        """Carried out: the flow carries the fault's record, the rule keeps its count."""
        record.set_injected(flow, injected)
        if flow.id in self.active:
            self.active[flow.id] = None

    def undo(self, flow: http.HTTPFlow, active: ActiveRule, reason: str) -> None:
        """Not carried out: the rule gets its count back."""
        self.rules.undo(active, reason)
        if flow.id in self.active:
            self.active[flow.id] = None

    def forget(self, flow: http.HTTPFlow) -> None:
        """A hook failed on the flow (guard has put it back as it was): nothing more is done
        to it, and a fault it did not get gives its rule's count back."""
        active = self.active.pop(flow.id, None)
        if active is not None and not record.was_injected(flow):
            self.rules.undo(active, "twerr failed while injecting")
        pending = self.pending.pop(flow.id, None)
        if pending is not None:
            self.call_off_detour(flow, pending)

    def call_off_detour(self, flow: http.HTTPFlow, pending: Pending) -> None:
        if pending.detour is not None:
            self.relay.forget(pending.detour.token)
            pending.detour.restore(flow)


def still_ours(flow: http.HTTPFlow) -> bool:
    """False once someone killed the flow (or the client left) while twerr waited."""
    return flow.error is None and flow.live


async def delay(rule: Rule, flow: http.HTTPFlow) -> None:
    """The rule's delay, cut short if the flow is killed or its client leaves meanwhile."""
    if rule.delay:
        await network.hold(flow, rule.delay / 1000)
