"""The report's renderings: terminal tables, JSON, and one self-contained HTML page (tables and
an SVG chart; no script, nothing fetched); ci.py adds JUnit XML and Markdown. Pure: they read
the dict `Report.to_dict` makes."""

from __future__ import annotations

import html
import json
from collections import Counter
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any

from twerr.decode import utc
from twerr.report.ci import render_junit
from twerr.report.ci import render_markdown

SUFFIXES = {".json": "json", ".html": "html", ".xml": "junit", ".md": "markdown"}
CHART_BARS = 60  # the chart groups minutes into at most this many bars
# the terminal table cuts longer cells (error messages); the HTML page keeps them
TEXT_CELL_LIMIT = 60
CATEGORY_COLOURS = {
    "rate_limit": "#e6a700",
    "billing": "#b9770e",
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


def write_report(data: dict[str, Any], path: str, kind: str | None = None) -> Path:
    """Write the report as "html", "json", "junit" or "markdown" (by default, by the file's
    suffix: .html, .json, .xml, .md)."""
    target = Path(path).expanduser()
    kind = kind or SUFFIXES.get(target.suffix.lower(), "json")
    if kind == "html":
        text = render_html(data)
    elif kind == "junit":
        text = render_junit(data)
    elif kind == "markdown":
        text = render_markdown(data)
    else:
        text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    target.write_text(text, encoding="utf-8")
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
            "Quotas: which limit refused the requests",
            ["count", "endpoint", "binding", "retry", "last said"],
            [
                [r["count"], r["endpoint"], r["binding"], r["retry_when"], r["last"]]
                for r in data.get("quotas", ())
            ],
        ),
        (
            "Spend by endpoint (twerr_credits)",
            ["requests", "usd", "failed usd", "repeated usd", "endpoint"],
            [
                [
                    r["requests"],
                    _usd(r["usd"]),
                    _usd(r["failed_usd"]),
                    _usd(r["repeated_usd"]),
                    r["endpoint"],
                ]
                for r in data.get("spend", {}).get("endpoints", ())
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


def _usd(value: float) -> str:
    return f"${value:.3f}"


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} x{count}" for name, count in counts.items())


def _cell_text(value: Any, limit: int = TEXT_CELL_LIMIT) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _headline(data: dict[str, Any]) -> str:
    span = ""
    if data["first_seen"]:
        span = f", {data['first_seen']} to {data['last_seen']}"
    spend = data.get("spend") or {}
    if spend.get("usd"):
        share = f"{spend['failed_or_repeated_share']:.0%}"
        span += f"; {_usd(spend['usd'])} of credits spent, {share} on failed or repeated requests"
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
            title = f"{utc(start + slot * width)}: {count} {category}"
            shapes.append(
                f"<rect x='{40 + slot * bar_w:.1f}' y='{y:.1f}' width='{max(bar_w - 1, 1):.1f}' "
                f"height='{h:.1f}' fill='{colour}'><title>{_e(title)}</title></rect>"
            )
    axis = (
        f"<text x='36' y='12' text-anchor='end' font-size='11'>{tallest}</text>"
        f"<text x='36' y='{plot_h}' text-anchor='end' font-size='11'>0</text>"
        f"<text x='40' y='{plot_h + 16}' font-size='11'>{_e(utc(start) or '')}</text>"
        f"<text x='{40 + plot_w}' y='{plot_h + 16}' text-anchor='end' font-size='11'>"
        f"{_e(utc(end) or '')}</text>"
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
