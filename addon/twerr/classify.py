"""The classifier: decode every in-scope response and write its record onto the flow.

It writes `flow.metadata["twerr"]`, adds its lines to `flow.comment`, sets `flow.marked` by
severity and logs one line per error flow (flowlog.py counts repeats). It never touches the
request or response, and it also runs on flows read from files (`mitmdump -nr`), not live.
Then it hands each classified flow, with its record, to its followers (the audit, then the
report), in that order.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from typing import Protocol

from mitmproxy import http

from twerr import explain
from twerr import guard
from twerr import mitm
from twerr import record
from twerr import streams
from twerr.catalog import load_catalog
from twerr.decode import Decoded
from twerr.decode import decode
from twerr.decode import decode_failure
from twerr.flowlog import FlowLog
from twerr.record import Record
from twerr.scope import Scope


class Follower(Protocol):
    def classified(self, flow: http.HTTPFlow, meta: Record) -> None: ...


class Classifier:
    def __init__(
        self, scope: Scope, followers: Sequence[Follower] = (), log: FlowLog | None = None
    ) -> None:
        self.scope = scope
        self.followers = tuple(followers)
        self.log = log or FlowLog()
        self.tally: Counter[str] = Counter()  # responses classified, by category

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

    def _classified(self, flow: http.HTTPFlow, meta: Record) -> None:
        self.tally[meta["category"]] += 1
        if explain.is_error(meta):
            line = explain.log_line(meta)
            self.log.say(logging.INFO, line, line)
        for follower in self.followers:
            try:
                follower.classified(flow, meta)
            except Exception as e:  # the follower's bug: it loses its own work on this flow
                guard.log_failure(flow, f"{type(follower).__name__}.classified", e)

    def summary(self) -> str | None:
        return explain.tally_line(self.tally) if self.tally else None


def annotate(flow: http.HTTPFlow, decoded: Decoded) -> Record:
    """Write the decoding onto the flow, replacing what twerr wrote there before (if anything)."""
    previous = record.stored(flow)
    answered = flow.response.timestamp_start if flow.response else flow.timestamp_created
    meta = record.of_decoded(decoded, mitm.endpoint(flow), answered)
    meta["injected"] = previous["injected"]
    meta["cost"] = previous["cost"]

    ours = "\n".join(explain.comment_lines(meta))
    theirs = _without_block(flow.comment, previous["comment"])
    flow.comment = f"{theirs}\n{ours}" if theirs and ours else theirs or ours
    meta["comment"] = ours

    mark = explain.marker(meta, load_catalog())
    if not flow.marked or flow.marked == previous["marker"]:
        flow.marked = mark or ""
        meta["marker"] = mark
    flow.metadata[record.KEY] = meta
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
