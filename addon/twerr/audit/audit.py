"""The audit addon: did the client handle the errors it was given well?

It follows the classifier, which hands it each flow it classified with the metadata it wrote,
and passes the flow on to the pure `behaviour.Tracker`, which judges the request against what
the same credential was told before. A finding is written on the offending flow:
`metadata["twerr"]["audit"]`, a comment line, the 🛑 marker and a warning in the log. The
verdicts per error kind are returned by `twerr.audit`, and the report (`twerr.report`, and at
exit) shows them beside the errors.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from mitmproxy import http

from twerr import explain
from twerr import guard
from twerr import mitm
from twerr import record
from twerr.audit.behaviour import Thresholds
from twerr.audit.behaviour import Tracker
from twerr.audit.model import Call
from twerr.audit.model import Finding
from twerr.audit.model import Lost
from twerr.audit.model import Outcome
from twerr.audit.model import Spent
from twerr.catalog import Catalog
from twerr.catalog import load_catalog
from twerr.decode import PARTIAL_SHAPES
from twerr.flowlog import FlowLog
from twerr.inject.faults import keeps_answer
from twerr.inject.windows import credential
from twerr.inject.windows import endpoint_key
from twerr.inject.windows import fingerprint
from twerr.options import AUDIT_OPTIONS
from twerr.record import QuotaRecord
from twerr.record import Record

AUDIT_MARKER = ":stop_sign:"  # the client did something the error said not to
_STORM = re.compile(r"^\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)\s*$")


class Audit:
    def __init__(self, log: FlowLog | None = None) -> None:
        self.log = log or FlowLog()  # the finding lines share the per-flow lines' log
        self.tracker = Tracker()
        self.enabled = True

    def configure(self, options: Any, updated: set[str]) -> None:
        if not updated & AUDIT_OPTIONS:
            return
        thresholds = parse_thresholds(
            storm=options.twerr_audit_storm,
            grace_ms=options.twerr_audit_grace,
            calm=options.twerr_audit_calm,
            memory=options.twerr_audit_memory,
        )
        self.tracker.thresholds = thresholds
        self.enabled = options.twerr_audit

    def verdicts(self) -> str:
        """The audit's verdict per error kind so far: errors seen, findings, verdict."""
        return "\n".join(verdict_lines(self.tracker.verdicts())) or "no errors seen yet"

    def classified(self, flow: http.HTTPFlow, meta: Record) -> None:
        """Called by the classifier for each flow it classified (`meta`: what it wrote)."""
        if not self.enabled:
            return
        who = None
        # a success is judged only against what its own client was told before
        success = meta["category"] == "success" and flow.error is None
        if success and (self.tracker.idle or not self.tracker.knows(who := who_of(flow))):
            return
        self._judge(flow, meta, who)

    @guard.hook
    def _judge(self, flow: http.HTTPFlow, meta: Record, who: str | None) -> None:
        outcome = outcome_of(flow, meta, load_catalog())
        finding, handled = self.tracker.observe(call_of(flow, who), outcome)
        if handled:
            meta["handled"] = [
                {"error": kind, "endpoint": record.storable(where)} for kind, where in handled
            ]
        if finding is not None:
            write_finding(flow, meta, finding)
            where = meta["endpoint"]
            key = f"{where}: {finding.name} after {finding.kind}"  # the text varies by the second
            self.log.say(logging.WARNING, key, f"{where}: {finding.verdict}: {finding.text}")


def parse_thresholds(*, storm: str, grace_ms: int, calm: int, memory: int) -> Thresholds:
    match = _STORM.match(storm)
    if not match or int(match[1]) < 2 or float(match[2]) <= 0:
        raise ValueError(
            f"Cannot parse twerr_audit_storm option {storm!r}: expected RETRIES/SECONDS with "
            "at least 2 retries and a positive time, e.g. 3/10"
        )
    for name, value, least in (
        ("twerr_audit_grace", grace_ms, 0),
        ("twerr_audit_calm", calm, 0),
        ("twerr_audit_memory", memory, 1),
    ):
        if value < least:
            raise ValueError(f"{name} must be at least {least}, not {value}")
    return Thresholds(
        grace=grace_ms / 1000,
        storm_retries=int(match[1]),
        storm_seconds=float(match[2]),
        calm=float(calm),
        memory=float(memory),
    )


def who_of(flow: http.HTTPFlow) -> str:
    """The credential's hash; for a request without one, the client's address."""
    request = flow.request
    authorization = mitm.request_header(request, b"authorization")
    # the query holds OAuth values only when no header does, and only if it names them (or
    # hides their names in %-escapes, or in tabs and line breaks, which URL parsing drops)
    path = request.path
    in_query = not authorization and ("oauth" in path or "%" in path or not path.isprintable())
    who = credential(authorization, mitm.request_query(request) if in_query else ())
    if who == "anonymous" and flow.client_conn.peername:
        return f"client {flow.client_conn.peername[0]}"
    return who


def call_of(flow: http.HTTPFlow, who: str | None = None) -> Call:
    request = flow.request
    method, path = request.method, request.path  # mitmproxy decodes them on every read
    who = who or who_of(flow)
    anonymous = who == "anonymous" or who.startswith("client ")
    return Call(
        start=request.timestamp_start,
        who=who,
        method=method,
        endpoint=endpoint_key(method, path),
        fingerprint=fingerprint(method, path, request.raw_content),
        target=path,
        anonymous=anonymous,
    )


def outcome_of(flow: http.HTTPFlow, meta: Record, catalog: Catalog) -> Outcome:
    injected = meta["injected"]
    lost: Lost | None = None
    if injected and injected.get("phase") == "response" and not keeps_answer(injected.get("fault")):
        lost = "answered"  # the API did what was asked; the client was told otherwise
    elif flow.error is not None or meta["shape"] == "transport-error":
        lost = "unknown"
    elif meta["category"] == "success" and not meta["errors"]:
        # what most flows are, judged only for what they clear: no kind to tally, no ids
        return Outcome(_answered_at(flow), "", "", meta["status"], "success", "never")
    kind, label = explain.error_kind(meta, catalog)
    errors = meta["errors"]
    blocks = next(
        (
            entry.blocks
            for error in errors
            if error["code"] is not None
            and (entry := catalog.code(error["code"])) is not None
            and entry.blocks
        ),
        None,
    )
    missing: frozenset[str] = frozenset()
    if meta["shape"] in PARTIAL_SHAPES:
        missing = frozenset(
            str(error["details"][key])
            for error in errors
            for key in ("resource_id", "value")
            if key in error["details"]
        )
    quota, cost = meta.get("quota"), meta.get("cost")
    return Outcome(
        end=_answered_at(flow),
        kind=kind,
        label=label,
        status=meta["status"],
        category=meta["category"],
        retry=meta["retry"],
        retry_at=meta["retry_at"],
        blocks=blocks,
        lost=lost,
        missing=missing,
        quota=spent_of(quota, meta) if quota else None,
        paid=cost["usd"] if cost and cost.get("usd", 0) > 0 else 0.0,
    )


def spent_of(quota: QuotaRecord, meta: Record) -> Spent:
    """The audit's reading of the record's `quota`: the binding limit, what a retry waits
    for, and the resets of the other rate-limit windows (which free the client too early)."""
    binding, until, waits = quota["binding"] or "", quota["retry_at"], quota["retry_when"]
    rate, resets = meta["rate_limit"], []
    if rate is not None:  # spelt out, not a generator: this runs on every 429 of a hammering client
        if binding != "window" and rate["reset"] is not None:
            resets.append(("window", float(rate["reset"])))
        for name in ("app_24h", "user_24h"):
            window = rate[name]
            if window is not None and window["reset"] is not None and name != binding:
                resets.append((name, float(window["reset"])))
    period = ""
    if waits == "next-period":  # a usage cap: "Monthly", "Daily"
        details = (error["details"].get("period") for error in meta["errors"])
        period = next((str(p).lower() for p in details if p), "")
    return Spent(binding, waits, None if until is None else float(until), tuple(resets), period)


def write_finding(flow: http.HTTPFlow, meta: Record, finding: Finding) -> None:
    meta["audit"] = record.of_finding(finding)
    line = f"audit: {finding.verdict} — {finding.text}"
    meta["comment"] = "\n".join(part for part in (meta.get("comment") or "", line) if part)
    flow.comment = "\n".join(part for part in (flow.comment, line) if part)
    if not flow.marked or flow.marked == meta.get("marker"):
        flow.marked = AUDIT_MARKER
        meta["marker"] = AUDIT_MARKER


def verdict_lines(verdicts: list[dict[str, Any]]) -> list[str]:
    """`88 Rate limit exceeded: 4 errors; early-retry 3 -> retry too early`"""
    lines = []
    for row in verdicts:
        findings = ", ".join(f"{name} {count}" for name, count in row["findings"].items())
        counts = f"{row['errors']} error{'s' if row['errors'] != 1 else ''}"
        lines.append(
            f"{row['label']}: {counts}{'; ' + findings if findings else ''} -> {row['verdict']}"
        )
    return lines


def _answered_at(flow: http.HTTPFlow) -> float:
    if flow.response is not None and flow.error is None:
        return flow.response.timestamp_end or flow.response.timestamp_start
    if flow.error is not None:
        return flow.error.timestamp
    return flow.request.timestamp_end or flow.request.timestamp_start
