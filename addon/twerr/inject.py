"""The injection addon: answer chosen requests with faithful Twitter/X errors or network faults.

Rules come from the `twerr_inject` option, a `twerr_rules` file (reloaded when it changes), the
`twerr.inject`/`twerr.next` commands and, when `twerr_inject_header` is on, an `X-Twerr-Inject`
request header. Only live flows within `twerr_scope` are touched; with no rules, nothing is.
The forged responses pass on through the classifier, so they are annotated as real ones are,
plus `metadata["twerr"]["injected"]`.
"""

from __future__ import annotations

import asyncio
import base64
import inspect
import logging
import math
import random
import re
import socket
import struct
import time
from collections.abc import Awaitable
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from typing import Optional

from mitmproxy import addonmanager
from mitmproxy import command
from mitmproxy import ctx
from mitmproxy import exceptions
from mitmproxy import http
from mitmproxy.connection import ConnectionState

from twerr import guard
from twerr.decode import decompress
from twerr.forge import DAY_SECONDS
from twerr.forge import WINDOW_SECONDS
from twerr.forge import Window
from twerr.forge import forge
from twerr.forge import rate_limit_headers
from twerr.matcher import Facts
from twerr.ratelimit import Windows
from twerr.ratelimit import credential
from twerr.ratelimit import endpoint_key
from twerr.relay import TOKEN_HEADER
from twerr.relay import Relay
from twerr.relay import Target
from twerr.rules import ActiveRule
from twerr.rules import Decision
from twerr.rules import Rule
from twerr.rules import load_rules_file
from twerr.rules import parse_header
from twerr.rules import parse_spec
from twerr.scope import Scope
from twerr.scope import request_query

logger = logging.getLogger(__name__)

HEADER = "X-Twerr-Inject"
RULES_POLL_SECONDS = 1.0
HOLD_POLL_SECONDS = 0.05
SECRET_RESPONSE_HEADERS = ("set-cookie",)  # kept out of the saved original response
# A response body that names one of these holds a credential: it is not kept in metadata.
CREDENTIAL_SCAN_LIMIT = 64 << 10  # bytes of an answer searched for credential fields
CREDENTIAL_FIELD = re.compile(
    rb"(access_token|refresh_token|oauth_token|guest_token|token_secret|client_secret|password)",
    re.I,
)


@dataclass
class Pending:
    """What the response hook must do for a flow whose fault acts on the API's response."""

    active: ActiveRule
    record: dict[str, Any]
    window: Window | None = None  # a request let through an emulated rate-limit window
    detour: Detour | None = None  # a request sent through the slow relay


@dataclass
class Detour:
    """Where a slow request really goes, and the body as it passes (it is streamed)."""

    token: str
    scheme: str
    host: str
    port: int
    host_header: str | None
    body: bytearray

    def collect(self, data: bytes) -> bytes:
        self.body += data
        return data

    def restore(self, flow: http.HTTPFlow) -> None:
        """Put the request's real destination back, so the flow shows (and replays) it."""
        request = flow.request
        request.scheme, request.host, request.port = self.scheme, self.host, self.port
        request.host_header = self.host_header
        request.headers.pop(TOKEN_HEADER, None)


class Injector:
    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.option_rules: list[ActiveRule] = []
        self.file_rules: list[ActiveRule] = []
        self.command_rules: list[ActiveRule] = []  # twerr.next rules first, then twerr.inject
        self.rules_stamp: tuple[int, int] | None = None
        self.seed = random.SystemRandom().randrange(2**32)
        self.seed_option: int | None = None  # the twerr_seed value self.seed comes from
        self.rng = random.Random(self.seed)
        self.windows = Windows()
        self.pending: dict[str, Pending] = {}
        self.active: set[str] = set()  # flows with a fault in progress, for twerr_max_faults
        self.header_injections = 0
        self.seed_logged = False
        self.finished: list[ActiveRule] = []  # twerr.next rules that fired, for the summary
        self.header_on = False
        self.watcher: asyncio.Task[None] | None = None
        self.relay = Relay()
        self.is_running = False
        self.last_in_chain = SlowDetour(self)
        self.flow_hooks = FlowHooks(self)
        # The injector's other flow hooks, as its child addon, only while there is something to
        # inject or to finish: every hook method costs every flow a microsecond or two, even
        # with nothing to do. mitmproxy reads this list on every event (a plain attribute: a
        # property would cost every event too); `_sync_flow_hooks` keeps it.
        self.addons: list[FlowHooks] = []

    def _sync_flow_hooks(self) -> None:
        wanted = self.has_rules or self.pending or self.active
        if wanted and not self.addons:
            self.addons = [self.flow_hooks]  # a new list: a traversal under way keeps its own
        elif not wanted and self.addons:
            self.addons = []

    def load(self, loader: addonmanager.Loader) -> None:
        loader.add_option(
            "twerr_inject",
            Sequence[str],
            [],
            "Inject Twitter/X errors or network faults, in mitmproxy's separator-first form "
            "'<sep><filter><sep><fault>[<sep><params>]', e.g. ':~u /1.1/statuses/update:187' "
            "or '|~u /2/tweets & ~m POST|88|p=0.25,times=3'. <fault>: a Twitter error code "
            "(187), an HTTP status (http503), a v2 problem type (usage-capped), an odd shape "
            "(429-no-reset), or reset, timeout, truncate, empty, slow, pass. <params>, "
            "comma-separated: p=0..1, times=N, after=N, every=N, ttl=SECONDS, delay=MS, "
            "phase=request|response, ratelimit=REQUESTS/SECONDS (with 88), reset=SECONDS "
            "(a 429's window), hold=SECONDS (timeout), rate=BYTES_PER_SECOND (slow).",
        )
        loader.add_option(
            "twerr_rules",
            str,
            "",
            "A YAML or JSON file of injection rules in long form (a list of mappings with "
            "match, fault and the parameters of twerr_inject); reloaded when it changes.",
        )
        loader.add_option(
            "twerr_seed",
            Optional[int],  # type: ignore[arg-type]  # noqa: UP045 (mitmproxy needs Optional)
            None,
            "Seed for probabilistic injection: the same seed and the same requests give the "
            "same faults. Unset: a random seed, logged so the session can be replayed.",
        )
        loader.add_option(
            "twerr_inject_header",
            bool,
            False,
            f"Honour a '{HEADER}: <fault>[;params]' request header, for that request only; "
            "the header is removed before the request goes upstream.",
        )
        loader.add_option(
            "twerr_max_faults",
            int,
            100,
            "At most this many injected faults in progress at once (delays, timeouts); "
            "further ones are skipped, to protect a shared proxy.",
        )

    def configure(self, updated: set[str]) -> None:
        # Everything is checked before anything changes: a refused update (mitmproxy then
        # re-applies the old values) finds the rules, and their counters, as they were.
        option_rules, file_rules = self.option_rules, (self.file_rules, self.rules_stamp)
        if "twerr_inject" in updated:
            option_rules = self._parse_option(ctx.options.twerr_inject)
        if "twerr_rules" in updated:
            file_rules = self._configure_rules_file()
        if "twerr_max_faults" in updated and ctx.options.twerr_max_faults < 1:
            raise exceptions.OptionsError(
                f"twerr_max_faults must be 1 or more, not {ctx.options.twerr_max_faults}"
            )
        self.option_rules = option_rules
        self.file_rules, self.rules_stamp = file_rules
        if "twerr_seed" in updated and ctx.options.twerr_seed != self.seed_option:
            # Only a new value reseeds: a refused update re-applies the old one, and that must
            # not restart the sequence (nor draw another random seed).
            seed = self.seed_option = ctx.options.twerr_seed
            self.seed = seed if seed is not None else random.SystemRandom().randrange(2**32)
            self.rng = random.Random(self.seed)
            self.seed_logged = False
        if "twerr_inject_header" in updated:
            self.header_on = ctx.options.twerr_inject_header
        self._rules_changed()
        if updated & {"twerr_inject", "twerr_rules", "twerr_seed"} and self.rules:
            self.seed_logged = True
            logger.info(
                f"twerr: {len(self.rules)} injection rule(s), seed {self.seed} "
                f"(replay with --set twerr_seed={self.seed})"
            )

    def _parse_option(self, specs: Sequence[str]) -> list[ActiveRule]:
        kept = {(a.origin, a.rule.describe()): a for a in self.option_rules}
        rules = []
        for index, spec in enumerate(specs):
            try:
                rule = parse_spec(spec)
            except ValueError as e:
                raise exceptions.OptionsError(
                    f"Cannot parse twerr_inject option {spec!r}: {e}"
                ) from None
            origin = f"twerr_inject[{index}]"
            # A rollback re-applies the same specs: keep their counters.
            rules.append(kept.get((origin, rule.describe())) or ActiveRule(rule, origin, now()))
        return rules

    def _configure_rules_file(self) -> tuple[list[ActiveRule], tuple[int, int] | None]:
        if not ctx.options.twerr_rules:
            return [], None
        path = Path(ctx.options.twerr_rules).expanduser()
        try:
            return self._read_rules_file(path)
        except (ValueError, RecursionError) as e:
            raise exceptions.OptionsError(f"Cannot load twerr_rules file: {e}") from None

    def _read_rules_file(self, path: Path) -> tuple[list[ActiveRule], tuple[int, int] | None]:
        stamp = _stamp(path)
        loaded = now()
        # A rule the file still holds keeps its counters (and its ttl's start): an edit of
        # one rule, or a refused change rolled back, does not re-arm the others.
        kept: dict[tuple[str, str | None], list[ActiveRule]] = {}
        for active in self.file_rules:
            kept.setdefault((active.rule.describe(), active.rule.name), []).append(active)
        rules = []
        for rule, where in load_rules_file(path):
            same = kept.get((rule.describe(), rule.name))
            active = same.pop(0) if same else ActiveRule(rule, where, loaded)
            active.origin = where
            rules.append(active)
        return rules, stamp

    def check_rules_file(self) -> None:
        """Reload the rules file if it changed; a broken file keeps the rules in force."""
        if not ctx.options.twerr_rules:
            return
        path = Path(ctx.options.twerr_rules).expanduser()
        stamp = _stamp(path)
        if stamp == self.rules_stamp:
            return
        try:
            self.file_rules, self.rules_stamp = self._read_rules_file(path)
        except (ValueError, RecursionError) as e:
            self.rules_stamp = stamp  # say it once per change, not once a second
            logger.error(f"twerr_rules: {e}; keeping the {len(self.file_rules)} rule(s) in force")
            return
        logger.info(f"twerr_rules: reloaded {len(self.file_rules)} rule(s) from {path.name}")
        self._rules_changed()

    def running(self) -> None:
        if ctx.master.addons.get("injector") is not self:
            return  # a copy script.run loaded to replay flows: it gets no task, no detour
        self.watcher = asyncio.get_running_loop().create_task(self._watch_rules_file())
        self.is_running = True
        self._place_detour()

    def _finished(self, flow: http.HTTPFlow) -> None:
        """The flow has no fault in progress any more (if it had one)."""
        self.active.discard(flow.id)
        self._sync_flow_hooks()

    def _rules_changed(self) -> None:
        """Wherever the rules change: the flow hooks and the detour follow them."""
        self._sync_flow_hooks()
        self._place_detour()

    def _place_detour(self) -> None:
        """SlowDetour sits last in mitmproxy's chain while `slow` can be asked for, and only
        then: every addon in the chain costs every flow a little."""
        wanted = self.header_on or any(a.rule.fault == "slow" for a in self.rules)
        if not self.is_running or wanted == self.last_in_chain.added:
            return
        if wanted:
            ctx.master.addons.add(self.last_in_chain)
        else:
            ctx.master.addons.remove(self.last_in_chain)
        self.last_in_chain.added = wanted

    async def _watch_rules_file(self) -> None:
        while True:
            await asyncio.sleep(RULES_POLL_SECONDS)
            try:
                self.check_rules_file()
            except Exception:  # never let one bad read end the watching
                logger.exception("twerr_rules: reloading failed; keeping the rules in force")

    def done(self) -> None:
        if self.watcher is not None:
            self.watcher.cancel()
        if self.last_in_chain.added:
            ctx.master.addons.remove(self.last_in_chain)
            self.last_in_chain.added = False
        self.is_running = False
        self.relay.stop()
        for line in self.summary():
            logger.info(line)

    @property
    def rules(self) -> list[ActiveRule]:
        """Every rule, in the order they are tried."""
        return [*self.command_rules, *self.option_rules, *self.file_rules]

    def summary(self) -> list[str]:
        stamp = now()
        lines = [f"twerr: {active.summary(stamp)}" for active in [*self.finished, *self.rules]]
        if self.header_injections:
            lines.append(f"twerr: {HEADER}: {self.header_injections} injected")
        return lines

    # ---- hooks -------------------------------------------------------------------------------

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        meta = flow.metadata.get("twerr")
        replayed = isinstance(meta, dict) and meta.get("injected") is not None and flow.live
        if replayed or (flow.request.stream and self.has_rules and flow.live):
            self._requestheaders(flow)

    @guard.hook
    def _requestheaders(self, flow: http.HTTPFlow) -> None:
        meta = flow.metadata.get("twerr")
        if isinstance(meta, dict) and meta.get("injected") is not None and flow.live:
            meta["injected"] = None  # a replay: the record of the last pass does not hold
        if flow.request.stream and self.has_rules and flow.live and self.scope(flow):
            # A streamed body (stream_large_bodies) would reach the API before the request
            # hook could decide: buffer it when a rule, or the header, may ask for a fault.
            facts = Facts(flow)
            asked = self.header_on and HEADER in flow.request.headers
            if asked or any(a.matches(flow, facts) for a in self.rules):
                flow.request.stream = False

    @property
    def has_rules(self) -> bool:
        return bool(self.command_rules or self.option_rules or self.file_rules or self.header_on)

    @guard.hook
    async def _request(self, flow: http.HTTPFlow) -> None:
        if flow.response or flow.error or not flow.live or not self.scope(flow):
            return
        chosen = self._choose(flow)
        if chosen is None:
            return
        active, decision = chosen
        if len(self.active) >= ctx.options.twerr_max_faults:
            active.skip("twerr_max_faults reached")
            return
        self._retire(active)
        if active.origin == HEADER:
            self.header_injections += 1
        if not self.seed_logged:
            self.seed_logged = True
            logger.info(f"twerr: injecting with seed {self.seed} (replay: twerr_seed={self.seed})")
        rule = active.rule
        record = {
            "rule": _storable(active.origin),
            "spec": _storable(rule.describe()),
            "fault": rule.fault,
            "phase": rule.effective_phase,
            "seed": self.seed,
            **decision.to_metadata(),
        }
        self.active.add(flow.id)
        self._sync_flow_hooks()  # the fault's later hooks, though _retire took its last rule
        if rule.ratelimit is not None:
            window = self._take_window(flow, rule)
            record["window"] = {
                "limit": window.limit,
                "remaining": max(window.remaining, 0),
                "reset": window.reset,
            }
            if window.remaining >= 0:  # within the window: let it pass, stamp its headers
                self._undo(active, "within the window")
                record.update(fault="pass", phase="response", injection=None)
                self.pending[flow.id] = Pending(active, record, window=window)
                return
            await self._sleep(rule, flow)
            if self._still_ours(flow):
                self._answer(flow, active, Window(window.limit, 0, window.reset))
                _set_record(flow, record)
            else:
                self._undo(active, "nothing to do it to")
            return
        if rule.effective_phase == "response":
            pending = self.pending[flow.id] = Pending(active, record)
            if rule.fault == "slow" and not self.last_in_chain.added:
                pending.detour = await self.detour(flow, rule)
            return
        await self._sleep(rule, flow)
        if self._still_ours(flow) and await self._apply(flow, active):
            _set_record(flow, record)
        else:
            self._undo(active, "nothing to do it to")

    @guard.hook
    async def _responseheaders(self, flow: http.HTTPFlow, pending: Pending) -> None:
        assert flow.response is not None
        if pending.detour is None:
            if pending.window is None:
                flow.response.stream = False  # the fault replaces this response: buffer it
            elif flow.response.stream:  # streamed: its headers go out before the response hook
                del self.pending[flow.id]
                await self._stamp_window(flow, pending)
            return
        await self._sleep(pending.active.rule, flow)
        pending.detour.restore(flow)
        flow.response.stream = pending.detour.collect  # the relay paces it; mitmproxy passes it on

    @guard.hook
    async def _response(self, flow: http.HTTPFlow) -> None:
        pending = self.pending.pop(flow.id, None)
        if pending is None or flow.response is None:
            self._finished(flow)
            return
        try:
            if pending.window is not None:
                await self._stamp_window(flow, pending)
                return
            if pending.detour is not None:  # already sent, slowly: record what was sent
                if flow.response.raw_content is None:
                    flow.response.raw_content = bytes(pending.detour.body)
                _set_record(flow, pending.record)
                return
            rule = pending.active.rule
            if rule.fault == "slow":  # answered before the relay was asked: nothing was slowed
                self._undo(pending.active, "nothing to do it to")
                return
            original = _original(flow.response, flow.request.path)
            await self._sleep(rule, flow)
            if self._still_ours(flow) and await self._apply(flow, pending.active):
                if rule.fault != "pass":
                    pending.record["original"] = original
                _set_record(flow, pending.record)
            else:
                self._undo(pending.active, "nothing to do it to")
        finally:
            self._finished(flow)

    async def _stamp_window(self, flow: http.HTTPFlow, pending: Pending) -> None:
        """A request let through an emulated window: its response tells what is left."""
        assert flow.response is not None and pending.window is not None
        await self._sleep(pending.active.rule, flow)
        for name, value in rate_limit_headers(pending.window):
            flow.response.headers[name] = value
        _set_record(flow, pending.record)

    @guard.hook
    def _error(self, flow: http.HTTPFlow) -> None:
        pending = self.pending.pop(flow.id, None)
        if pending is not None:
            if pending.window is None:  # the fault never met a response
                self._undo(pending.active, "no response to act on")
            if pending.detour is not None:
                self.relay.forget(pending.detour.token)
                pending.detour.restore(flow)
        self._finished(flow)

    def forget(self, flow: http.HTTPFlow) -> None:
        """After a hook failed on the flow (see guard): nothing more is done to it."""
        pending = self.pending.pop(flow.id, None)
        if pending is not None and pending.detour is not None:
            self.relay.forget(pending.detour.token)
            pending.detour.restore(flow)
        self._finished(flow)

    def _retire(self, active: ActiveRule) -> None:
        """A twerr.next rule leaves the rules once it has fired (the summary keeps it)."""
        if active.once and active.spent and active in self.command_rules:
            self.command_rules.remove(active)
            self.finished.append(active)
            self._sync_flow_hooks()

    def _undo(self, active: ActiveRule, reason: str) -> None:
        """Take back a decision to inject that was not carried out."""
        active.skip(reason)
        if active in self.finished:  # a twerr.next rule gets its chance back
            self.finished.remove(active)
            self.command_rules.insert(sum(1 for a in self.command_rules if a.once), active)
            self._sync_flow_hooks()

    @staticmethod
    def _still_ours(flow: http.HTTPFlow) -> bool:
        """False once someone killed the flow (or the client left) while twerr waited."""
        return flow.error is None and flow.live

    # ---- choosing and applying ---------------------------------------------------------------

    def _choose(self, flow: http.HTTPFlow) -> tuple[ActiveRule, Decision] | None:
        stamp = now()
        if self.header_on and HEADER in flow.request.headers:
            value = flow.request.headers.pop(HEADER)
            try:
                active = ActiveRule(parse_header(value), HEADER, stamp)
            except ValueError as e:
                logger.warning(f"twerr: ignored {HEADER}: {value!r}: {e}")
                return None
            decision = active.consider(stamp, self.rng)
            return (active, decision) if decision is not None else None
        facts = Facts(flow)
        for active in self.rules:
            if active.matches(flow, facts):
                decision = active.consider(stamp, self.rng)
                if decision is not None:
                    return active, decision
        return None

    def _take_window(self, flow: http.HTTPFlow, rule: Rule) -> Window:
        assert rule.ratelimit is not None
        request = flow.request
        key = (
            rule.describe(),
            endpoint_key(request.method, request.path),
            credential(request.headers.get("authorization"), request_query(request)),
        )
        return self.windows.take(key, rule.ratelimit.limit, rule.ratelimit.seconds, now())

    async def _sleep(self, rule: Rule, flow: http.HTTPFlow) -> None:
        """The rule's delay, cut short if the flow is killed or its client leaves meanwhile."""
        if rule.delay:
            await _hold(flow, rule.delay / 1000)

    async def _apply(self, flow: http.HTTPFlow, active: ActiveRule) -> bool:
        """Carry out the fault; False when there was nothing to do it to."""
        rule = active.rule
        if rule.fault == "pass":
            return True
        if rule.fault == "timeout":
            await _hold(flow, rule.hold)
            if flow.error is not None:  # killed meanwhile by someone else
                return False
        if rule.fault == "reset":
            _reset(flow)
        elif rule.fault in ("timeout", "empty") and flow.killable:
            flow.kill()
        elif rule.fault == "truncate":
            return _truncate(flow)
        elif rule.fault == "slow":
            return False
        else:
            self._answer(flow, active)
        return True

    async def detour(self, flow: http.HTTPFlow, rule: Rule) -> Detour:
        """Send the request through the relay, which fetches the API's answer and trickles it."""
        await self.relay.start()
        request = flow.request
        target = Target(
            request.scheme, request.host, request.port, rule.rate, not ctx.options.ssl_insecure
        )
        detour = Detour(
            self.relay.expect(target),
            request.scheme,
            request.host,
            request.port,
            request.host_header,
            bytearray(),
        )
        request.scheme, request.host, request.port = "http", "127.0.0.1", self.relay.port
        request.host_header = detour.host_header  # setting host rewrote it
        request.headers[TOKEN_HEADER] = detour.token
        return detour

    def _answer(
        self, flow: http.HTTPFlow, active: ActiveRule, window: Window | None = None
    ) -> None:
        stamp = now()
        # The windows a forged 429 names follow each other from the rule's start, so a client
        # that waits for the reset it was given is not given a later one in the meantime.
        period = active.rule.reset or (
            DAY_SECONDS if active.rule.fault == "429-day-cap" else WINDOW_SECONDS
        )
        reset_after = math.ceil(period - (stamp - active.loaded_at) % period)
        forged = forge(
            active.rule.fault,
            path=flow.request.path,
            now=stamp,
            window=window,
            reset_after=reset_after,
            token=f"{self.seed} {flow.id}",
        )
        response = http.Response.make(
            forged.status, forged.body, [(k.encode(), v.encode()) for k, v in forged.headers]
        )
        response.reason = forged.reason
        if forged.body and _accepts_gzip(flow.request.headers.get("accept-encoding", "")):
            response.encode("gzip")  # as the API does for clients that accept it
        if forged.status in (204, 304):
            response.headers.pop("content-length", None)
        elif flow.request.method.upper() == "HEAD":  # the length of the body it would send
            length = str(len(response.raw_content or b""))
            response.raw_content = b""
            response.headers["content-length"] = length
        flow.response = response

    # ---- commands ----------------------------------------------------------------------------

    @command.command("twerr.inject")
    def inject(self, spec: str) -> None:
        """Add an injection rule, written as in twerr_inject (e.g. ':~u /2/tweets:88')."""
        self.command_rules.append(self._command_rule(spec, "twerr.inject", once=False))
        self._rules_changed()

    @command.command("twerr.next")
    def next(self, spec: str) -> None:
        """Inject into the next matching request only (e.g. ':~u /2/tweets:503')."""
        rule = self._command_rule(spec, "twerr.next", once=True)
        # twerr.next rules come first, in the order given, before twerr.inject rules
        self.command_rules.insert(sum(1 for a in self.command_rules if a.once), rule)
        self._rules_changed()

    @command.command("twerr.rules")
    def list_rules(self) -> Sequence[str]:
        """The injection rules in force, in the order they are tried, with their counts."""
        lines = self.summary() or ["twerr: no injection rules"]
        for line in lines:
            logger.info(line)
        return lines

    @command.command("twerr.clear")
    def clear(self) -> None:
        """Remove every injection rule (twerr_inject and twerr_rules are emptied too)."""
        for line in self.summary():
            logger.info(line)
        self.command_rules = []
        ctx.options.update(twerr_inject=[], twerr_rules="")
        self._rules_changed()
        logger.info("twerr: injection rules cleared")

    def _command_rule(self, spec: str, origin: str, *, once: bool) -> ActiveRule:
        try:
            rule = parse_spec(spec)
        except ValueError as e:
            raise exceptions.CommandError(f"Cannot parse {origin} spec {spec!r}: {e}") from None
        logger.info(f"twerr: {origin} {rule.describe()}")
        return ActiveRule(rule, origin, now(), once=once)


class FlowHooks:
    """The injector's request, responseheaders, response and error hooks (see
    `Injector.addons`). Each is a plain function that returns the guarded coroutine only when
    there is work: no coroutine, nor guard, for the flows it lets be."""

    def __init__(self, injector: Injector) -> None:
        self.injector = injector

    @inspect.markcoroutinefunction  # for mitmproxy: never to be called from sync context
    def request(self, flow: http.HTTPFlow) -> Awaitable[None] | None:
        if not self.injector.has_rules:
            return None
        return self.injector._request(flow)

    @inspect.markcoroutinefunction
    def responseheaders(self, flow: http.HTTPFlow) -> Awaitable[None] | None:
        pending = self.injector.pending.get(flow.id)
        if pending is None or flow.response is None:
            return None
        return self.injector._responseheaders(flow, pending)

    @inspect.markcoroutinefunction
    def response(self, flow: http.HTTPFlow) -> Awaitable[None] | None:
        if flow.id not in self.injector.pending:
            self.injector._finished(flow)
            return None
        return self.injector._response(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        if flow.id in self.injector.pending or flow.id in self.injector.active:
            self.injector._error(flow)


class SlowDetour:
    """Sends `slow` requests through the relay. It runs last in mitmproxy's addon chain (the
    injector adds it there), after map-remote and the like, so the relay asks the API where
    mitmproxy itself would have."""

    def __init__(self, injector: Injector) -> None:
        self.injector = injector
        self.added = False

    def forget(self, flow: http.HTTPFlow) -> None:
        self.injector.forget(flow)

    @guard.hook
    async def request(self, flow: http.HTTPFlow) -> None:
        pending = self.injector.pending.get(flow.id)
        if pending is None or pending.active.rule.fault != "slow" or pending.detour is not None:
            return
        if flow.response is None and flow.error is None:
            pending.detour = await self.injector.detour(flow, pending.active.rule)


def now() -> float:
    return time.time()


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size


def _accepts_gzip(accept_encoding: str) -> bool:
    """Whether gzip is acceptable: named with q above 0, or not named while * is."""
    weights = {}
    for item in accept_encoding.lower().split(","):
        name, _, params = item.partition(";")
        quality = params.replace(" ", "").removeprefix("q=")
        try:
            weights[name.strip()] = float(quality) if params.strip() else 1.0
        except ValueError:
            weights[name.strip()] = 1.0
    return weights.get("gzip", weights.get("*", 0.0)) > 0


def _storable(text: str) -> str:
    """Text a flow file can hold: a rule given with undecodable bytes (mitmproxy keeps them
    as lone surrogates) would otherwise make the flow unsaveable, and `-w` would drop it."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _set_record(flow: http.HTTPFlow, record: dict[str, Any]) -> None:
    meta = flow.metadata.get("twerr")
    if not isinstance(meta, dict):
        meta = flow.metadata["twerr"] = {}
    meta["injected"] = record


def _original(response: http.Response, path: str) -> dict[str, Any]:
    """The API's own response, kept in metadata so nothing is lost, but for its credentials:
    cookies are left out, and so is the body of an endpoint that hands out tokens."""
    headers = [
        [name.decode("latin-1"), value.decode("latin-1")]
        for name, value in response.headers.fields
        if name.decode("latin-1").lower() not in SECRET_RESPONSE_HEADERS
    ]
    body = response.raw_content or b""
    kept: dict[str, Any] = {
        "status": response.status_code,
        "reason": response.reason,
        "headers": headers,
    }
    if _hands_out_credentials(path, response):
        kept["body_withheld"] = f"{len(body)} bytes: this endpoint's answers hold credentials"
        kept["headers"] = [h for h in headers if h[0].lower() != "location"]  # callback tokens
    else:
        kept["body_base64"] = base64.b64encode(body).decode("ascii")
    return kept


def _hands_out_credentials(path: str, response: http.Response) -> bool:
    route = path.split("?", 1)[0].lower()
    if "oauth" in route or "token" in route:
        return True
    # decompressed only as far as is read (mitmproxy's get_content would inflate all of a
    # bomb); a body that will not decompress is read as sent
    body = response.raw_content or b""
    encoding = response.headers.get("content-encoding", "")
    content, problem = decompress(body, encoding, CREDENTIAL_SCAN_LIMIT)
    return bool(
        CREDENTIAL_FIELD.search(content[:CREDENTIAL_SCAN_LIMIT])
        or (problem and CREDENTIAL_FIELD.search(body[:CREDENTIAL_SCAN_LIMIT]))
    )


def _truncate(flow: http.HTTPFlow) -> bool:
    """Send half the body under the full length, then close: the client reads a short body.
    False when there is no body to cut (an empty one, a HEAD request, 204, 304)."""
    response = flow.response
    assert response is not None
    body = response.raw_content or b""
    if not body or flow.request.method.upper() == "HEAD":
        return False
    response.headers.pop("transfer-encoding", None)
    response.headers["content-length"] = str(len(body))
    response.headers["connection"] = "close"
    response.raw_content = body[: len(body) // 2]
    return True


async def _hold(flow: http.HTTPFlow, seconds: float) -> None:
    """Keep the client waiting until it gives up (closes) or `seconds` pass."""
    deadline = time.monotonic() + seconds
    while (
        time.monotonic() < deadline
        and flow.error is None
        and flow.client_conn.state & ConnectionState.CAN_READ
    ):
        await asyncio.sleep(HOLD_POLL_SECONDS)


def _reset(flow: http.HTTPFlow) -> None:
    """Drop the client connection with a TCP reset (RST), as a failing network does, instead
    of the orderly close (and TLS close_notify) that killing the flow sends. HTTP/1 only: on
    HTTP/2, killing the flow resets just its stream. Falls back to killing the flow alone."""
    if flow.request.http_version.startswith("HTTP/1"):
        try:
            handler = ctx.master.addons.get("proxyserver").connections[flow.client_conn.id]
            transport = handler.transports[flow.client_conn].writer.transport
            sock = transport.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
        except (AttributeError, KeyError, OSError) as e:
            logger.debug(f"twerr: reset falls back to a plain close: {e!r}")
    if flow.killable:
        flow.kill()
