"""The report addon: the session's errors, by kind, endpoint and category, and the coverage
matrix, from the metadata the classifier and the audit wrote (it follows the classifier, after
the audit). Printed at exit, returned by `twerr.report`, written as JSON or HTML by
`twerr.report.save` and the `twerr_report` option."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from mitmproxy import addonmanager
from mitmproxy import command
from mitmproxy import ctx
from mitmproxy import exceptions
from mitmproxy import http
from mitmproxy import types

from twerr.report import Report
from twerr.report import render_text
from twerr.report import write_report

logger = logging.getLogger(__name__)

FORMATS = (".json", ".html")


class Reporter:
    def __init__(self) -> None:
        self.report = Report()

    def load(self, loader: addonmanager.Loader) -> None:
        loader.add_option(
            "twerr_report",
            str,
            "",
            "Write the session's report to this file when mitmproxy stops: a .json file, or "
            "a .html page (tables and a chart of errors over time, readable offline).",
        )

    def configure(self, updated: set[str]) -> None:
        if "twerr_report" in updated and ctx.options.twerr_report:
            check_report_path(ctx.options.twerr_report, "twerr_report option")
        if "twerr_audit" in updated:  # the audit's option: without it, no client verdicts
            self.report.audited = ctx.options.twerr_audit

    def classified(self, flow: http.HTTPFlow, meta: dict[str, Any]) -> None:
        """Called by the classifier for each flow it classified (`meta`: what it wrote). The
        report only reads the flow: a failure here has nothing on it to undo."""
        request = flow.request
        when = request.timestamp_start
        self.report.add(meta, method=request.method, path=request.path, when=when)

    def done(self) -> None:
        if self.report.responses:
            logger.info(render_text(self.report.to_dict()))
        if ctx.options.twerr_report:
            path = write_report(self.report.to_dict(), ctx.options.twerr_report)
            logger.info(f"twerr: report written to {path}")

    @command.command("twerr.report")
    def show(self) -> str:
        """The report so far: errors by kind and endpoint, injected and real, the audit's
        verdicts, and the endpoint x error coverage matrix."""
        return render_text(self.report.to_dict())

    @command.command("twerr.report.save")
    def save(self, path: types.Path) -> None:
        """Write the report so far to a .json or .html file."""
        try:
            check_report_path(path, "twerr.report.save")
        except exceptions.OptionsError as e:
            raise exceptions.CommandError(str(e)) from e
        logger.info(f"twerr: report written to {write_report(self.report.to_dict(), path)}")


def check_report_path(path: str, what: str) -> None:
    target = Path(path).expanduser()
    if target.suffix.lower() not in FORMATS:
        raise exceptions.OptionsError(
            f"Cannot use {what} {path!r}: the file must end in .json or .html"
        )
    if not target.parent.is_dir():
        raise exceptions.OptionsError(
            f"Cannot use {what} {path!r}: the folder {str(target.parent)!r} does not exist"
        )
