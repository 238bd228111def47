"""The reporter: the session's errors, by kind, endpoint and category, and the coverage matrix,
from the records the classifier and the audit wrote (it follows the classifier, after the
audit). Printed at exit, returned by `twerr.report`, written as JSON, HTML, JUnit XML or
Markdown by `twerr.report.save` and the `twerr_report` option."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from mitmproxy import http

from twerr.record import Record
from twerr.report.render import SUFFIXES
from twerr.report.render import render_text
from twerr.report.render import write_report
from twerr.report.tables import Report

logger = logging.getLogger("twerr.reporter")


class Reporter:
    def __init__(self) -> None:
        self.report = Report()
        self.path = ""  # twerr_report: where the report goes at exit

    def configure(self, options: Any, updated: set[str]) -> None:
        if "twerr_report" in updated:
            if options.twerr_report:
                check_report_path(options.twerr_report, "twerr_report option")
            self.path = options.twerr_report
        if "twerr_audit" in updated:  # the audit's option: without it, no client verdicts
            self.report.audited = options.twerr_audit

    def classified(self, flow: http.HTTPFlow, meta: Record) -> None:
        """Called by the classifier for each flow it classified. The report only reads the
        flow: a failure here has nothing on it to undo."""
        request = flow.request
        self.report.add(
            meta, method=request.method, path=request.path, when=request.timestamp_start
        )

    def done(self) -> None:
        if self.report.responses:
            logger.info(render_text(self.report.to_dict()))
        if self.path:
            logger.info(
                f"twerr: report written to {write_report(self.report.to_dict(), self.path)}"
            )

    def text(self) -> str:
        return render_text(self.report.to_dict())

    def save(self, path: str) -> None:
        """ValueError names a path the report cannot go to."""
        check_report_path(path, "twerr.report.save")
        logger.info(f"twerr: report written to {write_report(self.report.to_dict(), path)}")


def check_report_path(path: str, what: str) -> None:
    target = Path(path).expanduser()
    if target.suffix.lower() not in SUFFIXES:
        raise ValueError(
            f"Cannot use {what} {path!r}: the file must end in .json, .html, .xml (JUnit) "
            "or .md (Markdown)"
        )
    if not target.parent.is_dir():
        raise ValueError(
            f"Cannot use {what} {path!r}: the folder {str(target.parent)!r} does not exist"
        )
