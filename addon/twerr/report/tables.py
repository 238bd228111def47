"""A session's errors at a glance, from the records twerr wrote on its flows: pure.

`Report.add` takes one flow's record (with its method, path and time); the report
counts errors by kind, endpoint and category, when each was first and last seen, injected
against real, the audit's findings, and an error-path coverage matrix (endpoint x error kind:
injected, seen for real, handled well or not), as one JSON-ready dict (render.py shows it).
Memory grows with the number of distinct endpoints and error kinds (both capped) and with the
minutes the session lasts, not with the number of flows.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from dataclasses import field
from typing import Any

from twerr import explain
from twerr.audit.behaviour import verdict_of
from twerr.catalog import Catalog
from twerr.catalog import load_catalog
from twerr.decode import utc
from twerr.inject.windows import endpoint_key
from twerr.record import Record
from twerr.record import storable
from twerr.report.quotas import QuotaTables

NOT_AUDITED = "not audited"
MAX_ENDPOINTS = 2_000  # rarer endpoints beyond this are counted as "other"
MAX_KINDS = 1_000
LAST_DATE = 253_402_300_800  # 10000-01-01: datetime goes no further


@dataclass(slots=True)
class KindRow:
    label: str
    category: str
    retry: str
    statuses: Counter[int] = field(default_factory=Counter)
    count: int = 0
    injected: int = 0
    first: float | None = None
    last: float | None = None
    findings: Counter[str] = field(default_factory=Counter)
    handled: int = 0  # errors a later request of the client showed it handled well

    def seen(self, when: float) -> None:
        self.first = when if self.first is None else min(self.first, when)
        self.last = when if self.last is None else max(self.last, when)


@dataclass(slots=True)
class EndpointRow:
    requests: int = 0
    errors: int = 0
    injected: int = 0
    kinds: Counter[str] = field(default_factory=Counter)


@dataclass(slots=True)
class Cell:
    injected: int = 0
    real: int = 0
    findings: Counter[str] = field(default_factory=Counter)
    handled: int = 0
    examples: dict[str, str] = field(default_factory=dict)  # a finding's first text, by name


class Report:
    def __init__(self, catalog: Catalog | None = None) -> None:
        self.catalog = catalog or load_catalog()
        self.responses = 0
        self.first: float | None = None
        self.last: float | None = None
        self.categories: Counter[str] = Counter()
        self.kinds: dict[str, KindRow] = {}
        self.endpoints: dict[str, EndpointRow] = {}
        self.cells: dict[tuple[str, str], Cell] = {}
        self.minutes: dict[int, Counter[str]] = {}  # errors per minute, by category
        self.error_categories: dict[str, list[int]] = {}  # category -> [errors, injected]
        self.quota_tables = QuotaTables()
        self.audited = True  # False: the audit was off, so no verdict can be given

    def add(self, meta: Record, *, method: str, path: str, when: float) -> None:
        """One classified flow: its twerr metadata, request method and path, and start time."""
        self.responses += 1
        dated = when if _datable(when) else None  # a broken clock counts, but is not charted
        if dated is not None:
            self.first = dated if self.first is None else min(self.first, dated)
            self.last = dated if self.last is None else max(self.last, dated)
        self.categories[meta["category"]] += 1
        endpoint, row = self._endpoint(method, path)
        row.requests += 1
        self.quota_tables.add(meta, endpoint)
        finding = meta.get("audit")
        if finding:
            kind, tally = self._kind(finding["error"], finding["error"], "", "")
            tally.findings[finding["finding"]] += 1
            cell = self._cell(endpoint, kind)
            cell.findings[finding["finding"]] += 1
            cell.examples.setdefault(finding["finding"], finding["text"])  # one per name
        for handled in meta.get("handled") or ():  # records of older twerr versions have none
            kind, tally = self._kind(handled["error"], handled["error"], "", "")
            tally.handled += 1
            self._cell(self._endpoint_name(handled["endpoint"]), kind).handled += 1
        if not explain.is_error(meta):
            return
        kind, tally = self._kind(*explain.error_kind(meta, self.catalog), meta["category"],
                                 meta["retry"])  # fmt: skip
        record = meta["injected"]
        injected = bool(record) and record is not None and record.get("fault") != "pass"
        tally.count += 1
        tally.injected += injected
        tally.statuses[meta["status"]] += 1
        row.errors += 1
        row.injected += injected
        row.kinds[kind] += 1
        by_category = self.error_categories.get(meta["category"])
        if by_category is None:
            by_category = self.error_categories[meta["category"]] = [0, 0]
        by_category[0] += 1
        by_category[1] += injected
        cell = self._cell(endpoint, kind)
        if injected:
            cell.injected += 1
        else:
            cell.real += 1
        if dated is not None:
            tally.seen(dated)
            minute = int(dated // 60) * 60
            per_minute = self.minutes.get(minute)
            if per_minute is None:
                per_minute = self.minutes[minute] = Counter()
            per_minute[meta["category"]] += 1

    # ---- reading it -------------------------------------------------------------------------

    @property
    def errors(self) -> int:
        return sum(row.count for row in self.kinds.values())

    @property
    def injected(self) -> int:
        return sum(row.injected for row in self.kinds.values())

    @property
    def findings(self) -> int:
        return sum(sum(row.findings.values()) for row in self.kinds.values())

    def to_dict(self) -> dict[str, Any]:
        kinds = sorted(self.kinds.items(), key=lambda item: (-item[1].count, item[0]))
        return {
            "responses": self.responses,
            "errors": self.errors,
            "injected": self.injected,
            "real": self.errors - self.injected,
            "findings": self.findings,
            "first_seen": _utc(self.first),
            "last_seen": _utc(self.last),
            "categories": dict(self.categories.most_common()),
            "errors_by_category": self._by_category(),
            "errors_by_kind": [
                {
                    "error": kind,
                    "label": row.label,
                    "category": row.category,
                    "statuses": sorted(row.statuses),
                    "count": row.count,
                    "injected": row.injected,
                    "real": row.count - row.injected,
                    "first_seen": _utc(row.first),
                    "last_seen": _utc(row.last),
                    "retry": row.retry,
                    "advice": explain.RETRY_WORDS.get(row.retry, ""),
                    "findings": dict(row.findings.most_common()),
                    "handled": row.handled,
                    "verdict": self._verdict(row.findings, row.handled),
                }
                for kind, row in kinds
            ],
            "endpoints": [
                {
                    "endpoint": endpoint,
                    "requests": row.requests,
                    "errors": row.errors,
                    "injected": row.injected,
                    "kinds": dict(row.kinds.most_common()),
                }
                for endpoint, row in sorted(
                    self.endpoints.items(), key=lambda item: (-item[1].errors, item[0])
                )
            ],
            "coverage": [
                {
                    "endpoint": endpoint,
                    "error": kind,
                    "injected": cell.injected,
                    "real": cell.real,
                    "findings": dict(cell.findings.most_common()),
                    "handled": cell.handled,
                    "client": self._verdict(cell.findings, cell.handled),
                    "examples": dict(cell.examples),
                }
                for (endpoint, kind), cell in sorted(self.cells.items())
            ],
            "timeline": [
                {"minute": _utc(minute), **dict(sorted(counts.items()))}
                for minute, counts in sorted(self.minutes.items())
            ],
            **self.quota_tables.to_dict(),
        }

    def _verdict(self, findings: Counter[str], handled: int) -> str:
        if not self.audited and not findings:
            return NOT_AUDITED
        return verdict_of(findings, handled=handled > 0)

    def _by_category(self) -> list[dict[str, Any]]:
        ranked = sorted(self.error_categories.items(), key=lambda item: (-item[1][0], item[0]))
        return [
            {"category": category, "count": count, "injected": injected, "real": count - injected}
            for category, (count, injected) in ranked
        ]

    def _endpoint(self, method: str, path: str) -> tuple[str, EndpointRow]:
        endpoint = self._endpoint_name(endpoint_key(method, path))  # cached there, for the audit
        row = self.endpoints.get(endpoint)
        if row is None:
            row = self.endpoints[endpoint] = EndpointRow()
        return endpoint, row

    def _endpoint_name(self, endpoint: str) -> str:
        endpoint = storable(endpoint)  # undecodable bytes in a path must not break the files
        if endpoint not in self.endpoints and len(self.endpoints) >= MAX_ENDPOINTS:
            return "other endpoints"
        return endpoint

    def _kind(self, kind: str, label: str, category: str, retry: str) -> tuple[str, KindRow]:
        """The kind's row, under "other" once MAX_KINDS are known; and the kind it counts as."""
        if kind not in self.kinds and len(self.kinds) >= MAX_KINDS:
            kind = label = "other"
        row = self.kinds.get(kind)
        if row is None:
            row = self.kinds[kind] = KindRow(label, category, retry)
        elif not row.category and category:  # first met through an audit finding
            row.label, row.category, row.retry = label, category, retry
        return kind, row

    def _cell(self, endpoint: str, kind: str) -> Cell:
        cell = self.cells.get((endpoint, kind))
        if cell is None:
            cell = self.cells[endpoint, kind] = Cell()
        return cell


def _utc(epoch: float | None) -> str | None:
    return utc(epoch) if _datable(epoch) else None


def _datable(epoch: Any) -> bool:
    """A time a date can be made of: a finite number from 1970 to 9999."""
    return isinstance(epoch, (int, float)) and 0 <= epoch < LAST_DATE
