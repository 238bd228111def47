"""The classifier addon: decode every in-scope response and annotate its flow, read-only.

It writes `flow.metadata["twerr"]`, adds its lines to `flow.comment`, sets `flow.marked` by
severity and logs one line per error flow (logger `twerr.flows`). It never touches the request
or response, and it also runs on flows read from files (`mitmdump -nr`), which are not live.

Then it hands each classified flow, with what it wrote, to its followers (the audit, then the
report). They have no flow hooks of their own: mitmproxy spends a microsecond or two on every
hook method of every addon, every flow, and they would each test the scope again.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from typing import Any
from typing import Protocol

from mitmproxy import addonmanager
from mitmproxy import http
from mitmproxy import log

from twerr import explain
from twerr import guard
from twerr import streams
from twerr.catalog import load_catalog
from twerr.decode import Decoded
from twerr.decode import decode
from twerr.decode import decode_failure
from twerr.scope import Scope
from twerr.scope import requested_host

logger = logging.getLogger(__name__)
flow_logger = logging.getLogger("twerr.flows")  # the line per error flow


class Follower(Protocol):
    def classified(self, flow: http.HTTPFlow, meta: dict[str, Any]) -> None: ...


class Classifier:
    def __init__(self, scope: Scope, followers: Sequence[Follower] = ()) -> None:
        self.scope = scope
        self.followers = tuple(followers)
        self.tally: Counter[str] = Counter()  # responses classified, by category

    def load(self, loader: addonmanager.Loader) -> None:
        load_catalog()  # a broken catalog fails here, at start-up, not on the first flow
        # mitmproxy turns every log record into a deprecated `add_log` event, sent to every
        # addon on a later turn of the event loop: five times what the line itself costs.
        # The per-flow lines skip it; the terminal and the UIs' event logs still show them.
        for handler in _legacy_log_handlers():
            handler.addFilter(_not_a_flow_line)

    @guard.hook
    def response(self, flow: http.HTTPFlow) -> None:
        if flow.response is None or not self.scope(flow):
            return
        if flow.error is not None:  # killed in this hook (an injected network fault)
            self._error(flow)
            return
        body = flow.response.raw_content
        if body is None:  # streamed: what a watched stream's error lines said, if any
            body = streams.seen(flow.response)
        decoded = decode(
            flow.response.status_code,
            flow.response.headers.fields,  # raw pairs: Headers.items() costs O(n²)
            body,
            path=flow.request.path,
        )
        self._classified(flow, annotate(flow, decoded))

    @guard.hook  # the whole hook, as `response`: the scope's filter runs on the flow too
    def error(self, flow: http.HTTPFlow) -> None:
        if flow.error is not None and self.scope(flow):
            self._error(flow)

    def _error(self, flow: http.HTTPFlow) -> None:  # unguarded: both callers are guarded
        assert flow.error is not None
        status = flow.response.status_code if flow.response else None
        failure = decode_failure(flow.error.msg, status=status, path=flow.request.path)
        self._classified(flow, annotate(flow, failure))

    def _classified(self, flow: http.HTTPFlow, meta: dict[str, Any]) -> None:
        self.tally[meta["category"]] += 1
        for follower in self.followers:
            try:
                follower.classified(flow, meta)
            except Exception as e:  # the follower's bug: it loses its own work on this flow
                guard.log_failure(flow, f"{type(follower).__name__}.classified", e)

    def done(self) -> None:
        if self.tally:
            logger.info(explain.tally_line(self.tally))
        for handler in _legacy_log_handlers():
            handler.removeFilter(_not_a_flow_line)


def _legacy_log_handlers() -> list[logging.Handler]:
    return [h for h in logging.getLogger().handlers if isinstance(h, log.LegacyLogEvents)]


def _not_a_flow_line(record: logging.LogRecord) -> bool:
    return record.name != flow_logger.name


def endpoint(flow: http.HTTPFlow) -> str:
    """Method, host and path, without the query string (it can carry oauth_* values)."""
    request = flow.request
    path = request.path.split("?", 1)[0]
    text = f"{request.method} {requested_host(request)}{path}"
    # mitmproxy keeps undecodable bytes as lone surrogates, which flow files cannot store
    return text if text.isascii() else text.encode("utf-8", "backslashreplace").decode("utf-8")


def annotate(flow: http.HTTPFlow, decoded: Decoded) -> dict[str, Any]:
    """Write the decoding onto the flow, replacing what twerr wrote there before (if anything)."""
    previous = flow.metadata.get("twerr")
    if not isinstance(previous, dict):
        previous = {}
    meta = decoded.to_metadata()
    meta["endpoint"] = endpoint(flow)
    # a flow file can hold anything here: keep only what has the type twerr writes
    injected, comment = previous.get("injected"), previous.get("comment")
    meta["injected"] = injected if isinstance(injected, dict) else None
    meta["audit"] = None  # the audit, which runs next, writes its finding here

    ours = "\n".join(explain.comment_lines(meta))
    theirs = _without_block(flow.comment, comment if isinstance(comment, str) else "")
    flow.comment = f"{theirs}\n{ours}" if theirs and ours else theirs or ours
    meta["comment"] = ours

    mark = explain.marker(meta, load_catalog())
    if not flow.marked or flow.marked == previous.get("marker"):
        flow.marked = mark or ""
        meta["marker"] = mark
    else:
        meta["marker"] = None  # the flow carries someone else's marker: keep it
    flow.metadata["twerr"] = meta

    if explain.is_error(meta) and flow_logger.isEnabledFor(logging.INFO):
        flow_logger.info(explain.log_line(meta))
    return meta


def _without_block(comment: str, block: str) -> str:
    """The comment without the lines twerr added before, wherever they now stand."""
    if not block or not isinstance(comment, str):
        return comment
    lines, ours = comment.split("\n"), block.split("\n")
    for start in range(len(lines) - len(ours), -1, -1):
        if lines[start : start + len(ours)] == ours:
            return "\n".join(lines[:start] + lines[start + len(ours) :])
    return comment
