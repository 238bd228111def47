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
from typing import Any

from mitmproxy import http

from twerr import guard
from twerr import mitm
from twerr import record
from twerr.inject import clock
from twerr.inject import network
from twerr.inject.answer import original
from twerr.inject.billing import Billing
from twerr.inject.billing import parse_credits
from twerr.inject.chooser import Choice
from twerr.inject.chooser import Chooser
from twerr.inject.inflight import InFlight
from twerr.inject.inflight import Pending
from twerr.inject.inflight import delay
from twerr.inject.network import Detour
from twerr.inject.network import SlowDetour
from twerr.inject.relay import Relay
from twerr.inject.rules import ActiveRule
from twerr.inject.rules import Decision
from twerr.inject.rules import Rule
from twerr.inject.ruleset import RuleSet
from twerr.inject.windows import Windows
from twerr.options import HEADER
from twerr.record import InjectedRecord
from twerr.scope import Scope

logger = logging.getLogger("twerr.inject")
MAX_SCALE = 1_000_000  # a 24-hour cap lasts 0.09 s: anything faster is not a test
MAX_UNDOCUMENTED = 1_000  # endpoints warned about once each, at most


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
        self.billing = Billing()
        self.charging = False

    def configure(self, options: Any, updated: set[str]) -> None:
        if "twerr_max_faults" in updated and options.twerr_max_faults < 1:
            raise ValueError(f"twerr_max_faults must be 1 or more, not {options.twerr_max_faults}")
        if "twerr_time_scale" in updated and not 1 <= options.twerr_time_scale <= MAX_SCALE:
            raise ValueError(
                f"twerr_time_scale must be from 1 to {MAX_SCALE}, not {options.twerr_time_scale}"
            )
        if "twerr_credits" in updated:
            parse_credits(options.twerr_credits)  # refused before anything changes
        specs = options.twerr_inject if "twerr_inject" in updated else None
        file = options.twerr_rules if "twerr_rules" in updated else None
        if specs is not None or file is not None:
            self.rules.configure(specs, file)
        self.max_faults = options.twerr_max_faults
        if "twerr_time_scale" in updated:
            clock.set_scale(options.twerr_time_scale)
        if "twerr_credits" in updated:
            self.billing.configure(options.twerr_credits)
            self.charging = self.billing.wallet.on  # read on every response: a plain attribute
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
        """Any rule, the header, or a wallet: only then can a request get a fault."""
        return bool(self.rules.rules) or self.chooser.header_on or self.charging

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
        lines = self.rules.summary() + self.billing.summary()
        if self.chooser.header_injections:
            lines.append(f"twerr: {HEADER}: {self.chooser.header_injections} injected")
        return lines

    # ---- hooks: each returns at once, or an awaitable, when there is something to do -------

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        if not flow.live:
            return
        if record.from_last_pass(flow) or (flow.request.stream and self.has_rules):
            self._requestheaders(flow)

    @guard.hook
    def _requestheaders(self, flow: http.HTTPFlow) -> None:
        record.forget_last_pass(flow)  # a replay: what the last pass injected or charged
        # A streamed body (stream_large_bodies) would reach the API before the request hook
        # could decide: buffer it when a rule, or the header, may ask for a fault.
        streamed = flow.request.stream and self.has_rules and self.scope(flow)
        if streamed and self.chooser.wants_buffering(flow, self.rules.rules):
            flow.request.stream = False

    def request(self, flow: http.HTTPFlow) -> Awaitable[None] | None:
        if not self.has_rules or flow.response or flow.error or not flow.live:
            return None
        if self.billing.wallet.empty and self._refused(flow):
            return None
        chosen = self._choose(flow)  # at once: only a request that gets a fault costs a coroutine
        return self._request(flow, *chosen) if chosen is not None else None

    def responseheaders(self, flow: http.HTTPFlow) -> Awaitable[None] | None:
        pending = self.pending.get(flow.id)
        if pending is None or flow.response is None:
            return None
        return self._responseheaders(flow, pending)

    def response(self, flow: http.HTTPFlow) -> Awaitable[None] | None:
        if self.charging and flow.live and not record.was_injected(flow):
            self._bill(flow)  # the API's own answer, before a fault may replace it
        if flow.id in self.pending:
            return self._response(flow)
        self.active.pop(flow.id, None)
        return None

    def error(self, flow: http.HTTPFlow) -> None:
        if flow.id in self.pending or flow.id in self.active:
            self._error(flow)

    @guard.hook
    def _refused(self, flow: http.HTTPFlow) -> bool | None:
        return self.scope(flow) and self.billing.refuse(flow, self.seed)

    @guard.hook
    def _bill(self, flow: http.HTTPFlow) -> None:
        if self.scope(flow):
            self.billing.bill(flow)

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
