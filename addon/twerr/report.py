"""A session's errors at a glance, from the metadata twerr wrote on its flows: pure.

`Report.add` takes one flow's `metadata["twerr"]` (with its method, path and time); the report
counts errors by kind, endpoint and category, when each was first and last seen, injected
against real, the audit's findings, and an error-path coverage matrix (endpoint x error kind:
injected, seen for real, handled well or not). It renders as text, JSON-ready dicts, or one
self-contained HTML page (tables and an SVG chart; no script, nothing fetched).
Memory grows with the number of distinct endpoints and error kinds (both capped) and with the
minutes the session lasts, not with the number of flows.
"""

from __future__ import annotations

import html
import json
from collections import Counter
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any

from twerr import explain
from twerr.behaviour import verdict_of
from twerr.catalog import Catalog
from twerr.catalog import load_catalog
from twerr.ratelimit import endpoint_key

NOT_AUDITED = "not audited"
MAX_ENDPOINTS = 2_000  # rarer endpoints beyond this are counted as "other"
MAX_KINDS = 1_000
LAST_DATE = 253_402_300_800  # 10000-01-01: datetime goes no further
CHART_BARS = 60  # the chart groups minutes into at most this many bars
# the terminal table cuts longer cells (error messages); the HTML page keeps them
TEXT_CELL_LIMIT = 60
CATEGORY_COLOURS = {
    "rate_limit": "#e6a700",
    "authentication": "#8e44ad",
    "account_state": "#6c3483",
    "permission": "#a569bd",
    "server": "#c0392b",
    "network": "#7b241c",
    "not_found": "#2e86c1",
    "duplicate": "#17a589",
    "invalid_request": "#d35400",
    "media": "#1abc9c",
    "direct_message": "#5d6d7e",
    "retired": "#839192",
    "success": "#27ae60",
}


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
        self.audited = True  # False: the audit was off, so no verdict can be given

    def add(self, meta: dict[str, Any], *, method: str, path: str, when: float) -> None:
        """One classified flow: its twerr metadata, request method and path, and start time."""
        self.responses += 1
        dated = when if _datable(when) else None  # a broken clock counts, but is not charted
        if dated is not None:
            self.first = dated if self.first is None else min(self.first, dated)
            self.last = dated if self.last is None else max(self.last, dated)
        self.categories[meta["category"]] += 1
        endpoint, row = self._endpoint(method, path)
        row.requests += 1
        finding = meta.get("audit")
        if finding:
            kind, tally = self._kind(finding["error"], finding["error"], "", "")
            tally.findings[finding["finding"]] += 1
            self._cell(endpoint, kind).findings[finding["finding"]] += 1
        if not explain.is_error(meta):
            return
        kind, tally = self._kind(*explain.error_kind(meta, self.catalog), meta["category"],
                                 meta["retry"])  # fmt: skip
        injected = bool(meta.get("injected")) and (meta["injected"].get("fault") != "pass")
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
                    "verdict": self._verdict(row.findings),
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
                    "client": self._verdict(cell.findings),
                }
                for (endpoint, kind), cell in sorted(self.cells.items())
            ],
            "timeline": [
                {"minute": _utc(minute), **dict(sorted(counts.items()))}
                for minute, counts in sorted(self.minutes.items())
            ],
        }

    def _verdict(self, findings: Counter[str]) -> str:
        return verdict_of(findings) if self.audited or findings else NOT_AUDITED

    def _by_category(self) -> list[dict[str, Any]]:
        ranked = sorted(self.error_categories.items(), key=lambda item: (-item[1][0], item[0]))
        return [
            {"category": category, "count": count, "injected": injected, "real": count - injected}
            for category, (count, injected) in ranked
        ]

    def _endpoint(self, method: str, path: str) -> tuple[str, EndpointRow]:
        endpoint = endpoint_key(method, path)  # cached there, for the audit too
        if not endpoint.isascii():
            # undecodable bytes in a path (kept as lone surrogates) must not break the files
            endpoint = endpoint.encode("utf-8", "backslashreplace").decode()
        if endpoint not in self.endpoints and len(self.endpoints) >= MAX_ENDPOINTS:
            endpoint = "other endpoints"
        row = self.endpoints.get(endpoint)
        if row is None:
            row = self.endpoints[endpoint] = EndpointRow()
        return endpoint, row

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
    if epoch is None or not _datable(epoch):
        return None
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _datable(epoch: Any) -> bool:
    """A time a date can be made of: a finite number from 1970 to 9999."""
    return isinstance(epoch, (int, float)) and 0 <= epoch < LAST_DATE


def write_report(data: dict[str, Any], path: str, kind: str | None = None) -> Path:
    """Write the report as "html" or "json" (by default, by the file's suffix)."""
    target = Path(path).expanduser()
    if (kind or target.suffix.lower().lstrip(".")) == "html":
        target.write_text(render_html(data), encoding="utf-8")
    else:
        target.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return target


# ---- text ------------------------------------------------------------------------------------


def tables(data: dict[str, Any]) -> list[tuple[str, list[str], list[list[Any]]]]:
    """The report's tables, (title, header, rows), for the text and the HTML renderings."""
    kinds = [row for row in data["errors_by_kind"] if row["count"]]
    return [
        (
            "Errors by kind",
            list(KIND_HEADER),
            [[r[key] for key in KIND_COLUMNS] for r in kinds],
        ),
        (
            "Errors by category",
            ["count", "real", "injected", "category"],
            [
                [r["count"], r["real"], r["injected"], r["category"]]
                for r in data["errors_by_category"]
            ],
        ),
        (
            "Errors by endpoint",
            ["requests", "errors", "injected", "endpoint", "errors seen"],
            [
                [r["requests"], r["errors"], r["injected"], r["endpoint"], _counts(r["kinds"])]
                for r in data["endpoints"]
                if r["errors"]
            ],
        ),
        (
            "Coverage: endpoint x error",
            ["endpoint", "error", "injected", "real", "client", "findings"],
            [[*(r[key] for key in CELL_COLUMNS), _counts(r["findings"])] for r in data["coverage"]],
        ),
    ]


KIND_HEADER: tuple[str, ...] = ("count", "real", "injected", "error", "category")
KIND_HEADER += ("first seen", "last seen", "retry", "client")
KIND_COLUMNS: tuple[str, ...] = ("count", "real", "injected", "label", "category")
KIND_COLUMNS += ("first_seen", "last_seen", "advice", "verdict")
CELL_COLUMNS = ("endpoint", "error", "injected", "real", "client")


def render_text(data: dict[str, Any]) -> str:
    """The report as terminal tables."""
    out = [_headline(data)]
    for title, header, rows in tables(data):
        if rows:
            out += ["", title, *_table(header, rows)]
    return "\n".join(out)


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} x{count}" for name, count in counts.items())


def _cell_text(value: Any, limit: int = TEXT_CELL_LIMIT) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _headline(data: dict[str, Any]) -> str:
    span = ""
    if data["first_seen"]:
        span = f", {data['first_seen']} to {data['last_seen']}"
    return (
        f"twerr report: {data['responses']} Twitter API responses, {data['errors']} errors "
        f"({data['real']} real, {data['injected']} injected), {data['findings']} audit "
        f"findings{span}"
    )


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    cells = [header] + [[_cell_text(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    numeric = [all(row[i].isdigit() for row in cells[1:] if row[i]) for i in range(len(header))]
    lines = []
    for row in cells:
        parts = [
            value.rjust(width) if is_number else value.ljust(width)
            for value, width, is_number in zip(row, widths, numeric, strict=True)
        ]
        lines.append("  " + "  ".join(parts).rstrip())
    return lines


# ---- HTML ------------------------------------------------------------------------------------


def render_html(data: dict[str, Any]) -> str:
    """One page, no scripts, nothing fetched: open it anywhere, attach it to a bug report."""
    sections = [
        f"<h1>twerr report</h1><p>{_e(_headline(data))}</p>",
        "<h2>Errors over time</h2>" + chart_svg(data["timeline"]),
        *(_html_table(title, header, rows) for title, header, rows in tables(data)),
    ]
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        "<title>twerr report</title><style>"
        "body{font-family:system-ui,sans-serif;margin:2em;color:#222}"
        "table{border-collapse:collapse;margin:0.5em 0 2em}"
        "th,td{border:1px solid #ccc;padding:0.25em 0.6em;text-align:left;vertical-align:top}"
        "th{background:#f2f2f2}td.n{text-align:right}"
        ".legend span{display:inline-block;margin-right:1em}"
        ".legend i{display:inline-block;width:0.8em;height:0.8em;margin-right:0.3em}"
        "</style></head><body>\n" + "\n".join(sections) + "\n</body></html>\n"
    )


def chart_svg(timeline: list[dict[str, Any]]) -> str:
    """Stacked bars of errors per time slice, coloured by category, with a legend."""
    if not timeline:
        return "<p>No errors.</p>"
    minutes = [_epoch(row["minute"]) for row in timeline]
    start, end = min(minutes), max(minutes) + 60
    width = max(60, -(-(end - start) // CHART_BARS // 60) * 60)  # whole minutes per bar
    bars: dict[int, Counter[str]] = {}
    for minute, row in zip(minutes, timeline, strict=True):
        counts = {k: v for k, v in row.items() if k != "minute"}
        bars.setdefault((minute - start) // width, Counter()).update(counts)
    slots = (end - start + width - 1) // width
    tallest = max(sum(c.values()) for c in bars.values())
    plot_w, plot_h = 720, 200
    bar_w = plot_w / slots
    shapes = []
    for slot, counts in sorted(bars.items()):
        y = float(plot_h)
        for category, count in sorted(counts.items()):
            h = plot_h * count / tallest
            y -= h
            colour = CATEGORY_COLOURS.get(category, "#999")
            title = f"{_utc(start + slot * width)}: {count} {category}"
            shapes.append(
                f"<rect x='{40 + slot * bar_w:.1f}' y='{y:.1f}' width='{max(bar_w - 1, 1):.1f}' "
                f"height='{h:.1f}' fill='{colour}'><title>{_e(title)}</title></rect>"
            )
    axis = (
        f"<text x='36' y='12' text-anchor='end' font-size='11'>{tallest}</text>"
        f"<text x='36' y='{plot_h}' text-anchor='end' font-size='11'>0</text>"
        f"<text x='40' y='{plot_h + 16}' font-size='11'>{_e(_utc(start) or '')}</text>"
        f"<text x='{40 + plot_w}' y='{plot_h + 16}' text-anchor='end' font-size='11'>"
        f"{_e(_utc(end) or '')}</text>"
        f"<line x1='40' y1='{plot_h}' x2='{40 + plot_w}' y2='{plot_h}' stroke='#444'/>"
    )
    used = sorted({k for row in timeline for k in row if k != "minute"})
    legend = "".join(
        f"<span><i style='background:{CATEGORY_COLOURS.get(c, '#999')}'></i>{_e(c)}</span>"
        for c in used
    )
    per = f"{width // 60} minute{'s' if width > 60 else ''}"
    return (
        f"<svg xmlns='http://www.w3.org/2000/svg' width='{plot_w + 50}' height='{plot_h + 24}' "
        f"role='img' aria-label='errors per {per}'>{axis}{''.join(shapes)}</svg>"
        f"<p class='legend'>Errors per {per}: {legend}</p>"
    )


def _html_table(title: str, header: list[str], rows: list[list[Any]]) -> str:
    if not rows:
        return f"<h2>{_e(title)}</h2><p>None.</p>"
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(
            f"<td class='n'>{v}</td>" if isinstance(v, int) else f"<td>{_e(v or '')}</td>"
            for v in row
        )
        + "</tr>"
        for row in rows
    )
    return f"<h2>{_e(title)}</h2><table><tr>{head}</tr>{body}</table>"


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _epoch(utc_text: str) -> int:
    return int(datetime.strptime(utc_text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp())
