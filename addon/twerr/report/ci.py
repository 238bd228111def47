"""The report for CI systems: a JUnit XML file and a Markdown job summary. Pure: they read the
dict `Report.to_dict` makes.

JUnit: one test case per error path, a cell of the coverage matrix (endpoint x error kind),
named `GET /2/tweets [88]` in the class `twerr.audit`, so a dashboard tracks the same path from
run to run. It fails when the audit found the client mishandling that error there (the failure
says what it did: the findings, with the first text of each), passes when a later request
showed the client handling it well, and is skipped when there is no evidence either way ("no
retry seen") or the audit was off. The file validates against the Jenkins xUnit plugin's
`junit-10.xsd`, the dialect GitLab, Jenkins and the JUnit report actions on GitHub read.

Markdown: a GitHub job summary (the totals, the findings, the coverage matrix, the quota and
spend tables), cut with a note before GitHub's 1 MiB limit.

Everything from the wire is cleaned first (no credentials, no control characters, one line,
bounded), then escaped for XML or Markdown.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from typing import Any

from twerr.audit.model import HANDLED_WELL
from twerr.audit.model import VERDICT_ORDER
from twerr.audit.model import VERDICTS
from twerr.decode.redact import clean
from twerr.report.tables import NOT_AUDITED

CLASSNAME = "twerr.audit"
SUITE = "twerr: error paths (endpoint x error)"
MARKDOWN_LIMIT = 1_000_000  # bytes; GitHub takes at most 1 MiB (1,048,576) per job summary
# what XML 1.0 cannot hold, and C1 controls (taken out before `clean` joins the words)
_NOT_XML = re.compile("[^\t\n\r\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_MARKDOWN_ESCAPED = re.compile(r"[\\`*_\[\]|~!]")  # what Markdown reads inside a table cell
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_SYMBOLS = {"failed": "❌", "passed": "✅", "skipped": "⚪"}
# looked up by any name: the report is JSON data, perhaps from another twerr version
_VERDICTS: dict[str, str] = {name: verdict for name, verdict in VERDICTS.items()}


def case_name(endpoint: str, kind: str) -> str:
    """A test case's name: stable from run to run (no counts, times or messages in it)."""
    return f"{plain(endpoint)} [{plain(kind)}]"


def outcome(cell: dict[str, Any]) -> str:
    """What a coverage cell is as a test case: "failed", "passed" or "skipped"."""
    if cell["findings"]:
        return "failed"
    return "passed" if cell["client"] == HANDLED_WELL else "skipped"


# ---- JUnit -----------------------------------------------------------------------------------


def render_junit(data: dict[str, Any]) -> str:
    cells = data["coverage"]
    kinds = {row["error"]: row for row in data["errors_by_kind"]}
    outcomes = [outcome(cell) for cell in cells]
    counts = {
        "tests": str(len(cells)),
        "failures": str(outcomes.count("failed")),
        "errors": "0",
    }
    root = ET.Element("testsuites", {"name": "twerr", **counts, "time": "0"})
    suite = ET.SubElement(
        root, "testsuite", {"name": SUITE, **counts, "skipped": str(outcomes.count("skipped"))}
    )
    suite.set("time", "0")
    if data["first_seen"]:
        suite.set("timestamp", data["first_seen"])
    properties = ET.SubElement(suite, "properties")
    for name in ("responses", "errors", "real", "injected", "findings", "first_seen", "last_seen"):
        if data.get(name) is not None:
            ET.SubElement(properties, "property", name=name, value=plain(data[name]))
    if (data.get("spend") or {}).get("usd"):
        ET.SubElement(properties, "property", name="spend_usd", value=str(data["spend"]["usd"]))
    for cell, result in zip(cells, outcomes, strict=True):
        case = ET.SubElement(
            suite,
            "testcase",
            classname=CLASSNAME,
            name=case_name(cell["endpoint"], cell["error"]),
            time="0",
        )
        kind = kinds.get(cell["error"], {})
        if result == "failed":
            worst = _worst(cell["findings"])
            failure = ET.SubElement(case, "failure", type=plain(worst))
            failure.set(
                "message", plain(f"{cell['client']}: {_counts(cell)} after {_label(cell, kind)}")
            )
            failure.text = _failure_text(cell, kind)
        elif result == "skipped":
            ET.SubElement(case, "skipped", message=_skip_reason(cell))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _failure_text(cell: dict[str, Any], kind: dict[str, Any]) -> str:
    advice = f" (the error says: {kind['advice']})" if kind.get("advice") else ""
    lines = [f"The client's requests to {cell['endpoint']} after {_label(cell, kind)}{advice}:"]
    examples = cell.get("examples") or {}
    for name, count in cell["findings"].items():
        verdict = _VERDICTS.get(name, "")
        example = f": {examples[name]}" if name in examples else ""
        lines.append(f"- {name} x{count} ({verdict}){example}")
    if cell["injected"] or cell["real"]:
        lines.append(f"This error here: {_seen(cell)}; handled well after it: {cell['handled']}.")
    else:  # a credential or a ban: the error came from elsewhere, the finding is here
        lines.append("The error itself came from other endpoints.")
    return "\n".join(plain(line) for line in lines)


def _skip_reason(cell: dict[str, Any]) -> str:
    if cell["client"] == NOT_AUDITED:
        return plain(f"{NOT_AUDITED}: the audit was off (twerr_audit=false); {_seen(cell)}")
    return plain(
        f"{cell['client']}: no later request of the client followed this error, no evidence "
        f"either way; {_seen(cell)}"
    )


def _worst(findings: dict[str, int]) -> str:
    """The finding with the most serious verdict (then the most frequent)."""

    def rank(name: str) -> tuple[int, int]:
        verdict = _VERDICTS.get(name)
        order = VERDICT_ORDER.index(verdict) if verdict in VERDICT_ORDER else len(VERDICT_ORDER)
        return order, -findings[name]

    return min(findings, key=rank)


def _example(cell: dict[str, Any]) -> str:
    """The text of the most serious finding the report kept one for."""
    examples = cell.get("examples") or {}
    kept = {name: count for name, count in cell["findings"].items() if name in examples}
    return examples[_worst(kept)] if kept else ""


def _counts(cell: dict[str, Any]) -> str:
    return ", ".join(f"{name} x{count}" for name, count in cell["findings"].items())


def _seen(cell: dict[str, Any]) -> str:
    return f"{cell['injected']} injected, {cell['real']} real"


def _label(cell: dict[str, Any], kind: dict[str, Any]) -> str:
    return plain(kind.get("label") or "") or plain(cell["error"])


def plain(value: Any) -> str:
    """What any text becomes in these files, before escaping: one line, no credentials, no
    control characters, bounded (`clean`), and nothing XML 1.0 cannot hold."""
    return clean(_NOT_XML.sub("", str(value)))


# ---- Markdown --------------------------------------------------------------------------------


def render_markdown(data: dict[str, Any], limit: int = MARKDOWN_LIMIT) -> str:
    """A GitHub job summary, at most `limit` bytes of UTF-8."""
    out = _Budget(limit)
    kinds = {row["error"]: row for row in data["errors_by_kind"]}
    cells = data["coverage"]
    outcomes = [outcome(cell) for cell in cells]
    span = f"; {data['first_seen']} to {data['last_seen']}" if data["first_seen"] else ""
    headline = [
        "## twerr report",
        "",
        f"**{data['responses']}** Twitter API responses, **{data['errors']}** errors "
        f"({data['real']} real, {data['injected']} injected), **{data['findings']}** audit "
        f"findings{_escape(span)}.",
        "",
        f"**{len(cells)}** error paths (endpoint x error): {outcomes.count('failed')} mishandled "
        f"(failed), {outcomes.count('passed')} handled well (passed), "
        f"{outcomes.count('skipped')} without evidence (skipped).",
    ]
    spend = data.get("spend") or {}
    if spend.get("usd"):
        headline += [
            "",
            f"${spend['usd']:.3f} of credits spent, {spend['failed_or_repeated_share']:.0%} on "
            "failed or repeated requests.",
        ]
    out.lines(headline)
    failed = [cell for cell, result in zip(cells, outcomes, strict=True) if result == "failed"]
    out.table(
        "Findings",
        ["endpoint", "error", "client", "findings", "what the client did"],
        [
            [
                _code(cell["endpoint"]),
                _escape(_label(cell, kinds.get(cell["error"], {}))),
                _verdict(cell, "failed"),
                _escape(_counts(cell)),
                _escape(_example(cell)),
            ]
            for cell in failed
        ],
        empty="No audit findings.",
    )
    out.table(
        "Coverage: endpoint x error",
        ["endpoint", "error", "injected", "real", "client", "findings"],
        [
            [
                _code(cell["endpoint"]),
                _code(cell["error"]),
                str(cell["injected"]),
                str(cell["real"]),
                _verdict(cell, result),
                _escape(_counts(cell)),
            ]
            for cell, result in zip(cells, outcomes, strict=True)
        ],
        empty="No errors.",
    )
    if data.get("quotas"):
        out.table(
            "Quotas: which limit refused the requests",
            ["count", "endpoint", "binding", "retry", "last said"],
            [
                [
                    str(r["count"]),
                    _code(r["endpoint"]),
                    _escape(r["binding"]),
                    _escape(r["retry_when"]),
                    _escape(r["last"]),
                ]
                for r in data["quotas"]
            ],
        )
    if spend.get("endpoints"):
        out.table(
            "Spend by endpoint (twerr_credits)",
            ["requests", "usd", "failed usd", "repeated usd", "endpoint"],
            [
                [
                    str(r["requests"]),
                    f"${r['usd']:.3f}",
                    f"${r['failed_usd']:.3f}",
                    f"${r['repeated_usd']:.3f}",
                    _code(r["endpoint"]),
                ]
                for r in spend["endpoints"]
            ],
        )
    return out.text()


class _Budget:
    """Lines of Markdown within a byte limit: past it, the rest is left out with a note."""

    NOTE = (
        "\n_Cut here: a job summary holds at most {limit} bytes; {rows} more table rows are "
        "left out. The whole report: `twerr report --html` or `--json`._\n"
    )

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.room = limit - len(self.NOTE.encode()) - 40  # the note and its numbers fit
        self.out: list[str] = []
        self.size = 0
        self.left_out = 0
        self.full = False

    def lines(self, lines: list[str]) -> bool:
        size = sum(len(line.encode()) + 1 for line in lines)
        if self.full or self.size + size > self.room:
            self.full = True
            return False
        self.out += lines
        self.size += size
        return True

    def table(
        self, title: str, header: list[str], rows: list[list[str]], empty: str = "None."
    ) -> None:
        if not self.lines(["", f"### {title}", ""]):
            self.left_out += len(rows)
            return
        if not rows:
            self.lines([empty])
            return
        if not self.lines([_row(header), "|" + "---|" * len(header)]):
            self.left_out += len(rows)
            return
        for index, row in enumerate(rows):
            if not self.lines([_row(row)]):
                self.left_out += len(rows) - index
                return

    def text(self) -> str:
        text = "\n".join(self.out) + "\n"
        if self.full:
            text += self.NOTE.format(limit=self.limit, rows=self.left_out)
        return text


def _verdict(cell: dict[str, Any], result: str) -> str:
    return f"{_SYMBOLS[result]} {_escape(cell['client'])}"


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _escape(value: Any) -> str:
    """Text shown as it is in a Markdown table cell: no HTML, links, images, emphasis; pipes
    escaped so they stay inside the cell."""
    text = plain(value)
    text = _MARKDOWN_ESCAPED.sub(lambda m: "\\" + m.group(0), text)
    return "".join(_ENTITIES.get(ch, ch) for ch in text)


def _code(value: Any) -> str:
    """A code span (endpoints, error kinds): literal text; only pipes need escaping."""
    text = plain(value)
    if not text:
        return ""
    longest = max((len(run) for run in re.findall("`+", text)), default=0)
    fence = "`" * (longest + 1)
    padded = f" {text} " if text[0] in "` " or text[-1] in "` " else text
    return fence + padded.replace("|", "\\|") + fence
