"""Twerr, the one object mitmproxy sees: twerr's options, commands and flow hooks.

mitmproxy dispatches every event to every addon object and every hook it finds on it, at about
14 k instructions a hook a flow (docs/performance.md): so one object, and the request hook
only while a fault can be asked for. Each hook hands the flow to the components
(components.py) in their order, as plain calls. A hook returns an awaitable only while the
injector has something to do to the flow, so most flows cost no coroutine at all.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable
from collections.abc import Sequence

from mitmproxy import addonmanager
from mitmproxy import command
from mitmproxy import ctx
from mitmproxy import exceptions
from mitmproxy import http
from mitmproxy import types

from twerr import mitm
from twerr.catalog import load_catalog
from twerr.components import build
from twerr.flowlog import logger as flow_logger
from twerr.options import OPTIONS

logger = logging.getLogger("twerr")


class Twerr:
    def __init__(self) -> None:
        self.parts = build()
        self.replaying = False  # mitmproxy's server replay is on (server_replay)
        self.parts.injector.rules.on_change = self._request_hooks_follow_rules

    def _request_hooks_follow_rules(self) -> None:
        """`request` is a hook only while the injector has rules (or the header is honoured):
        mitmproxy looks a hook up by name on every event."""
        wanted = self.parts.injector.has_rules
        if wanted and "request" not in vars(self):
            self.request = self._request
        elif not wanted and "request" in vars(self):
            del self.request

    # ---- lifecycle ----------------------------------------------------------------------------

    def load(self, loader: addonmanager.Loader) -> None:
        for option in OPTIONS:
            loader.add_option(option.name, option.typespec, option.default, option.help)
        load_catalog()  # a broken catalog fails here, at start-up, not on the first flow
        mitm.keep_out_of_event_log(flow_logger.name)

    def configure(self, updated: set[str]) -> None:
        for part in self.parts.configurable:
            try:
                part.configure(ctx.options, updated)
            except ValueError as e:
                raise exceptions.OptionsError(str(e)) from None
        self._request_hooks_follow_rules()  # the header option changes them too
        if "server_replay" in updated:
            self.replaying = bool(ctx.options.server_replay)

    def running(self) -> None:
        if mitm.is_loaded(self, "twerr"):  # not a copy script.run loaded to replay flows
            self.parts.injector.running()

    def done(self) -> None:
        parts = self.parts
        parts.injector.done()
        parts.classifier.log.flush()
        summary = parts.classifier.summary()
        if summary:
            logger.info(summary)
        parts.reporter.done()
        mitm.back_into_event_log(flow_logger.name)

    # ---- flow hooks: the components in order ---------------------------------------------------

    def requestheaders(self, flow: http.HTTPFlow) -> None:
        self.parts.injector.requestheaders(flow)

    @inspect.markcoroutinefunction  # for mitmproxy: never to be called from a sync context
    def _request(self, flow: http.HTTPFlow) -> Awaitable[None] | None:
        faulting = self.parts.injector.request(flow)
        return self._before_replay(faulting, flow) if self.replaying else faulting

    async def _before_replay(self, faulting: Awaitable[None] | None, flow: http.HTTPFlow) -> None:
        """mitmproxy's server replay (12.3.1) comes after scripts and answers a request even
        when a script already did: it would replace twerr's answer (or revive a killed flow)
        with the recording. A request twerr answered goes no further down the chain."""
        if faulting is not None:
            await faulting
        if flow.response or flow.error:
            raise exceptions.AddonHalt

    # responseheaders and response are not marked as coroutine functions: they return an
    # awaitable only for a flow whose (marked) request hook chose a fault, so `script.run`,
    # which calls hooks synchronously, can still classify recorded flows.
    def responseheaders(self, flow: http.HTTPFlow) -> Awaitable[None] | None:
        self.parts.streams.responseheaders(flow)
        return self.parts.injector.responseheaders(flow)

    def response(self, flow: http.HTTPFlow) -> Awaitable[None] | None:
        faulting = self.parts.injector.response(flow)
        if faulting is not None:
            return self._classify_after(faulting, flow)
        self.parts.classifier.response(flow)
        return None

    async def _classify_after(self, faulting: Awaitable[None], flow: http.HTTPFlow) -> None:
        await faulting
        self.parts.classifier.response(flow)

    def error(self, flow: http.HTTPFlow) -> None:
        self.parts.injector.error(flow)
        self.parts.classifier.error(flow)

    # ---- commands -----------------------------------------------------------------------------

    @command.command("twerr.inject")
    def inject(self, spec: str) -> None:
        """Add an injection rule, written as in twerr_inject (e.g. ':~u /2/tweets:88')."""
        self._command_rule(spec, "twerr.inject", once=False)

    @command.command("twerr.next")
    def next(self, spec: str) -> None:
        """Inject into the next matching request only (e.g. ':~u /2/tweets:503')."""
        self._command_rule(spec, "twerr.next", once=True)

    def _command_rule(self, spec: str, origin: str, *, once: bool) -> None:
        try:
            self.parts.injector.add_rule(spec, origin, once=once)
        except ValueError as e:
            raise exceptions.CommandError(str(e)) from None

    @command.command("twerr.rules")
    def list_rules(self) -> Sequence[str]:
        """The injection rules in force, in the order they are tried, with their counts."""
        lines = self.parts.injector.summary() or ["twerr: no injection rules"]
        for line in lines:
            logger.info(line)
        return lines

    @command.command("twerr.clear")
    def clear(self) -> None:
        """Remove every injection rule (twerr_inject and twerr_rules are emptied too)."""
        self.parts.injector.clear()
        ctx.options.update(twerr_inject=[], twerr_rules="")

    @command.command("twerr.audit")
    def audit(self) -> str:
        """The audit's verdict per error kind so far: errors seen, findings, verdict."""
        return self.parts.audit.verdicts()

    @command.command("twerr.report")
    def report(self) -> str:
        """The report so far: errors by kind and endpoint, injected and real, the audit's
        verdicts, and the endpoint x error coverage matrix."""
        return self.parts.reporter.text()

    @command.command("twerr.report.save")
    def save_report(self, path: types.Path) -> None:
        """Write the report so far to a .json, .html, .xml (JUnit) or .md (Markdown) file."""
        try:
            self.parts.reporter.save(path)
        except ValueError as e:
            raise exceptions.CommandError(str(e)) from None
