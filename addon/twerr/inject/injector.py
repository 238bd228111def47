"""The injector: answer chosen requests with faithful Twitter/X errors or network faults.

It carries each fault out over the flow's hooks: a request-phase fault answers (or breaks)
the request before the API is asked; a response-phase fault waits for the API's answer and
replaces (or cuts, or slows) it; a request within an emulated rate-limit window passes and gets
its headers. Only live flows in scope are touched; with no rules, nothing is. What it forges
then passes through the classifier like the API's own answers, plus `record["injected"]`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

from mitmproxy import http

from twerr import guard
from twerr import mitm
from twerr import record
from twerr.decode import Window
from twerr.decode.ratelimit import rate_limit_headers
from twerr.inject import clock
from twerr.inject import network
from twerr.inject.answer import answer
from twerr.inject.answer import original
from twerr.inject.chooser import Choice
from twerr.inject.chooser import Chooser
from twerr.inject.network import Detour
from twerr.inject.network import SlowDetour
from twerr.inject.relay import Relay
from twerr.inject.rules import ActiveRule
from twerr.inject.rules import Decision
from twerr.inject.rules import Rule
from twerr.inject.ruleset import RuleSet
from twerr.inject.windows import Windows
from twerr.inject.windows import credential
from twerr.inject.windows import endpoint_key
from twerr.options import HEADER
from twerr.record import InjectedRecord
from twerr.scope import Scope

logger = logging.getLogger("twerr.inject")


@dataclass
class Pending:
    """What the later hooks must do for a flow whose fault acts on the API's response."""

    active: ActiveRule
    record: InjectedRecord
    window: Window | None = None  # a request let through an emulated rate-limit window
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
        for name, value in rate_limit_headers(pending.window):
            flow.response.headers[name] = value
        self.settle(flow, pending.record)

    async def window(
        self, flow: http.HTTPFlow, active: ActiveRule, injected: InjectedRecord, seed: int
    ) -> None:
        """An emulated rate-limit window: a request within it passes (its response gets the
        window's headers), one over it gets the rule's 429."""
        rule = active.rule
        assert rule.ratelimit is not None
        request = flow.request
        key = (
            rule.describe(),
            endpoint_key(request.method, request.path),
            credential(request.headers.get("authorization"), mitm.request_query(request)),
        )
        size = rule.ratelimit
        window = self.windows.take(key, size.limit, size.seconds, clock.now())
        left = window.remaining if window.remaining is not None else -1
        injected["window"] = {
            "limit": size.limit,
            "remaining": max(left, 0),
            "reset": window.reset or 0,
        }
        if left >= 0:
            self.undo(flow, active, "within the window")
            injected.update({"fault": "pass", "phase": "response", "injection": None})
            self.pending[flow.id] = Pending(active, injected, window=window)
            return
        await delay(rule, flow)
        if still_ours(flow):
            answer(flow, active, seed, Window(window.limit, 0, window.reset))
            self.settle(flow, injected)
        else:
            self.undo(flow, active, "nothing to do it to")

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


class Injector:
    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.rules = RuleSet()
        self.chooser = Chooser()
        self.relay = Relay()
        self.windows = Windows()
        self.flights = InFlight(self.rules, self.relay, self.windows)
        self.pending = self.flights.pending  # the same dicts: read on every hook
        self.active = self.flights.active
        self.max_faults = 100
        self.verify_upstream = True
        self.slow_detour = SlowDetour(self)
        self.watcher: asyncio.Task[None] | None = None
        self.is_running = False

    def configure(self, options: Any, updated: set[str]) -> None:
        if "twerr_max_faults" in updated and options.twerr_max_faults < 1:
            raise ValueError(f"twerr_max_faults must be 1 or more, not {options.twerr_max_faults}")
        specs = options.twerr_inject if "twerr_inject" in updated else None
        file = options.twerr_rules if "twerr_rules" in updated else None
        if specs is not None or file is not None:
            self.rules.configure(specs, file)
        self.max_faults = options.twerr_max_faults
        self.verify_upstream = not options.ssl_insecure
        if "twerr_seed" in updated:
            self.chooser.reseed(options.twerr_seed)
        if "twerr_inject_header" in updated:
            self.chooser.header_on = options.twerr_inject_header
        self.rules_changed()
        if updated & {"twerr_inject", "twerr_rules", "twerr_seed"} and self.rules.rules:
            self.chooser.log_seed(len(self.rules.rules))

    @property
    def seed(self) -> int:
        return self.chooser.seed

    @property
    def has_rules(self) -> bool:
        """Any rule, or the header: only then can a request get a fault."""
        return bool(self.rules.rules) or self.chooser.header_on

    def check_rules_file(self) -> None:
        """Reload the rules file if it changed; a broken file keeps the rules in force."""
        if self.rules.reload():
            self.rules_changed()

    def rules_changed(self) -> None:
        """The slow detour sits last in mitmproxy's chain while `slow` can be asked for, and
        only then: every addon in the chain costs every flow a little."""
        wanted = self.chooser.header_on or any(a.rule.fault == "slow" for a in self.rules.rules)
        if self.is_running and wanted != self.slow_detour.added:
            (mitm.add_last if wanted else mitm.remove)(self.slow_detour)
            self.slow_detour.added = wanted

    def running(self) -> None:
        self.watcher = asyncio.get_running_loop().create_task(self.rules.watch(self.rules_changed))
        self.is_running = True
        self.rules_changed()

    def done(self) -> None:
        if self.watcher is not None:
            self.watcher.cancel()
        if self.slow_detour.added:
            mitm.remove(self.slow_detour)
            self.slow_detour.added = False
        self.is_running = False
        self.relay.stop()
        for line in self.summary():
            logger.info(line)

    def summary(self) -> list[str]:
        lines = self.rules.summary()
        if self.chooser.header_injections:
            lines.append(f"twerr: {HEADER}: {self.chooser.header_injections} injected")
        return lines

    # ---- hooks: each returns at once, or an awaitable, when there is something to do -------

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        if not flow.live:
            return
        if record.was_injected(flow) or (flow.request.stream and self.has_rules):
            self._requestheaders(flow)

    @guard.hook
    def _requestheaders(self, flow: http.HTTPFlow) -> None:
        record.forget_injected(flow)  # a replay: the record of the last pass does not hold
        # A streamed body (stream_large_bodies) would reach the API before the request hook
        # could decide: buffer it when a rule, or the header, may ask for a fault.
        streamed = flow.request.stream and self.has_rules and self.scope(flow)
        if streamed and self.chooser.wants_buffering(flow, self.rules.rules):
            flow.request.stream = False

    def request(self, flow: http.HTTPFlow) -> Awaitable[None] | None:
        if not self.has_rules or flow.response or flow.error or not flow.live:
            return None
        chosen = self._choose(flow)  # at once: only a request that gets a fault costs a coroutine
        return self._request(flow, *chosen) if chosen is not None else None

    def responseheaders(self, flow: http.HTTPFlow) -> Awaitable[None] | None:
        pending = self.pending.get(flow.id)
        if pending is None or flow.response is None:
            return None
        return self._responseheaders(flow, pending)

    def response(self, flow: http.HTTPFlow) -> Awaitable[None] | None:
        if flow.id in self.pending:
            return self._response(flow)
        self.active.pop(flow.id, None)
        return None

    def error(self, flow: http.HTTPFlow) -> None:
        if flow.id in self.pending or flow.id in self.active:
            self._error(flow)

    @guard.hook
    def _choose(self, flow: http.HTTPFlow) -> Choice | None:
        """The rule that fires for this request, if one does (counted and drawn now)."""
        if not self.scope(flow):
            return None
        chosen = self.chooser.choose(flow, self.rules.rules)
        if chosen is None:
            return None
        active, _ = chosen
        if len(self.active) >= self.max_faults:
            active.skip("twerr_max_faults reached")
            return None
        self.active[flow.id] = active  # the fault holds the rule's count until it is settled
        return chosen

    @guard.hook
    async def _request(self, flow: http.HTTPFlow, active: ActiveRule, decision: Decision) -> None:
        self.rules.retire(active)
        self.chooser.injecting(active)
        rule = active.rule
        injected: InjectedRecord = {
            "rule": record.storable(active.origin),
            "spec": record.storable(rule.describe()),
            "fault": rule.fault,
            "phase": rule.effective_phase,
            "seed": self.seed,
            "match": decision.match,
            "injection": decision.injection,
            "draw": decision.draw,
        }
        if rule.ratelimit is not None:
            await self.flights.window(flow, active, injected, self.seed)
        elif rule.effective_phase == "response":
            pending = self.pending[flow.id] = Pending(active, injected)
            if rule.fault == "slow" and not self.slow_detour.added:
                pending.detour = await self.detour(flow, rule)
        else:
            await delay(rule, flow)
            await self.flights.carry_out(flow, active, injected, self.seed)

    @guard.hook
    async def _responseheaders(self, flow: http.HTTPFlow, pending: Pending) -> None:
        assert flow.response is not None
        if pending.detour is None:
            if pending.window is None:
                flow.response.stream = False  # the fault replaces this response: buffer it
            elif flow.response.stream:  # streamed: its headers go out before the response hook
                del self.pending[flow.id]
                await self.flights.stamp_window(flow, pending)
            return
        await delay(pending.active.rule, flow)
        pending.detour.restore(flow)
        flow.response.stream = pending.detour.collect  # the relay paces it; mitmproxy passes it

    @guard.hook
    async def _response(self, flow: http.HTTPFlow) -> None:
        pending = self.pending.pop(flow.id, None)
        if pending is not None and flow.response is not None:
            await self._act_on_answer(flow, pending)
        # only now: had acting failed, guard would call forget(), which needs the rule
        self.active.pop(flow.id, None)

    async def _act_on_answer(self, flow: http.HTTPFlow, pending: Pending) -> None:
        assert flow.response is not None
        if pending.window is not None:
            await self.flights.stamp_window(flow, pending)
        elif pending.detour is not None:  # already sent, slowly: record what was sent
            if flow.response.raw_content is None:
                flow.response.raw_content = bytes(pending.detour.body)
            self.flights.settle(flow, pending.record)
        elif pending.active.rule.fault == "slow":  # answered before the relay was asked
            self.flights.undo(flow, pending.active, "nothing to do it to")
        else:
            kept = original(flow.response, flow.request.path)
            await delay(pending.active.rule, flow)
            if pending.active.rule.fault != "pass":
                pending.record["original"] = kept
            await self.flights.carry_out(flow, pending.active, pending.record, self.seed)

    @guard.hook
    def _error(self, flow: http.HTTPFlow) -> None:
        pending = self.pending.pop(flow.id, None)
        if pending is not None:
            if pending.window is None:  # the fault never met a response
                self.flights.undo(flow, pending.active, "no response to act on")
            self.flights.call_off_detour(flow, pending)
        self.active.pop(flow.id, None)

    def forget(self, flow: http.HTTPFlow) -> None:
        """After a hook failed on the flow (see guard): nothing more is done to it."""
        self.flights.forget(flow)

    async def detour(self, flow: http.HTTPFlow, rule: Rule) -> Detour:
        return await network.send_through(self.relay, flow, rule.rate, self.verify_upstream)

    # ---- commands (the addon turns ValueError into a CommandError) ---------------------------

    def add_rule(self, spec: str, origin: str, *, once: bool) -> None:
        self.rules.add(spec, origin, once=once)
        self.rules_changed()

    def clear(self) -> None:
        for line in self.summary():
            logger.info(line)
        self.rules.clear()
        self.rules_changed()
        logger.info("twerr: injection rules cleared")


def still_ours(flow: http.HTTPFlow) -> bool:
    """False once someone killed the flow (or the client left) while twerr waited."""
    return flow.error is None and flow.live


async def delay(rule: Rule, flow: http.HTTPFlow) -> None:
    """The rule's delay, cut short if the flow is killed or its client leaves meanwhile."""
    if rule.delay:
        await network.hold(flow, rule.delay / 1000)
